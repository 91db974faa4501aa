//! What the in-process tests share: a gateway state on a manual clock, on SQLite or (when
//! `PAYMUX_TEST_DATABASE_URL` is set) on a fresh PostgreSQL database.

#![allow(dead_code)] // each test binary uses its own part of this

use paymux_server::domain::Caller;
use paymux_server::store::Db;
use paymux_server::store::scratch::ScratchDatabase;
use paymux_server::{AppState, ManualClock, Settings, bootstrap};
use std::sync::Arc;

pub const START_MS: i64 = 1_800_000_000_000;

/// What a test's gateway keeps on disk: its data directory and, on PostgreSQL, the database of
/// its own (dropped with this).
pub struct Scratch {
    pub dir: tempfile::TempDir,
    pub database: Option<ScratchDatabase>,
}

/// A test's database: SQLite under `dir`, or a fresh PostgreSQL database (dropped with the
/// returned [`ScratchDatabase`]) when `PAYMUX_TEST_DATABASE_URL` is set.
pub async fn open_db(dir: &std::path::Path) -> (Db, Option<ScratchDatabase>) {
    match std::env::var("PAYMUX_TEST_DATABASE_URL") {
        Ok(admin_url) => {
            let scratch = ScratchDatabase::create(&admin_url, "paymux_t")
                .await
                .expect("scratch database");
            let db = Db::open_postgres(&scratch.url, 4, 10_000)
                .await
                .expect("db");
            (db, Some(scratch))
        }
        Err(_) => (Db::open_sqlite(dir).await.expect("db"), None),
    }
}

pub async fn setup(settings: Settings) -> (AppState, Arc<ManualClock>, Caller, String, Scratch) {
    let dir = tempfile::tempdir().expect("dir");
    let (db, database) = open_db(dir.path()).await;
    let clock = Arc::new(ManualClock::new(START_MS));
    let creds = bootstrap::credentials(&db, dir.path(), START_MS / 1000)
        .await
        .expect("bootstrap");
    let key = bootstrap::ensure_platform_key(&db, START_MS / 1000, None)
        .await
        .expect("key");
    let state = AppState::new(db, clock.clone(), settings, key);
    let caller = Caller {
        account_id: creds.account,
        livemode: false,
        request_id: "iar_test".into(),
        operator: None,
    };
    (
        state,
        clock,
        caller,
        creds.app_id,
        Scratch { dir, database },
    )
}

pub mod live;
