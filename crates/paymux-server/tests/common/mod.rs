//! What the in-process tests share: a gateway state on a manual clock, on SQLite or (when
//! `PAYMUX_TEST_DATABASE_URL` is set) on a fresh PostgreSQL database.

#![allow(dead_code)] // each test binary uses its own part of this

use paymux_server::domain::Caller;
use paymux_server::store::Db;
use paymux_server::{AppState, ManualClock, Settings, bootstrap};
use std::sync::Arc;

pub const START_MS: i64 = 1_800_000_000_000;

/// A new, empty database beside the one `admin_url` names (PostgreSQL runs of these tests).
pub async fn fresh_database(admin_url: &str) -> String {
    use sqlx::{Connection, Executor};
    sqlx::any::install_default_drivers();
    let name = format!("paymux_t_{}_{}", std::process::id(), rand_suffix());
    let mut conn = sqlx::AnyConnection::connect(admin_url)
        .await
        .expect("connect");
    conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .await
        .expect("create database");
    let base = admin_url.split('?').next().unwrap_or(admin_url);
    format!("{}/{name}", base.rsplit_once('/').map_or(base, |(p, _)| p))
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

pub async fn setup(
    settings: Settings,
) -> (
    AppState,
    Arc<ManualClock>,
    Caller,
    String,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().expect("dir");
    let db = match std::env::var("PAYMUX_TEST_DATABASE_URL") {
        Ok(admin_url) => Db::open_postgres(&fresh_database(&admin_url).await, 4, 10_000)
            .await
            .expect("db"),
        Err(_) => Db::open_sqlite(dir.path()).await.expect("db"),
    };
    let clock = Arc::new(ManualClock::new(START_MS));
    let creds = bootstrap::credentials(&db, dir.path(), START_MS / 1000)
        .await
        .expect("bootstrap");
    let key = bootstrap::ensure_platform_key(&db, START_MS / 1000)
        .await
        .expect("key");
    let state = AppState::new(db, clock.clone(), settings, key);
    let caller = Caller {
        account_id: creds.account,
        livemode: false,
        request_id: "iar_test".into(),
    };
    (state, clock, caller, creds.app_id, dir)
}

pub mod live;
