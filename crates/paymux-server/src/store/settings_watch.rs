//! How every server on a store learns that settings it keeps in memory changed (secret keys
//! and where signatures are required), whoever changed them: the console of any node, or the
//! command line while the servers run.
//!
//! - **SQLite**: the servers share the data directory. A change appends a byte to
//!   `settings.changes` there, and the file's length is the version: one `stat` per look, no
//!   round trip to SQLite's thread, and no clock resolution to miss two changes in a row.
//! - **PostgreSQL**: a change is a `NOTIFY` on a channel every node `LISTEN`s to, and the
//!   version counts notifications. While a node's listener is down its version is unknown, and
//!   it keeps nothing in memory until the listener is back.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// The file whose length counts the changes, in the data directory.
pub const CHANGES_FILE: &str = "settings.changes";
/// The PostgreSQL notification channel, and the statement that notifies it.
const CHANNEL: &str = "paymux_settings";
pub(super) const NOTIFY: &str = "NOTIFY paymux_settings";

#[derive(Clone)]
pub struct SettingsWatch(Arc<Source>);

enum Source {
    File(PathBuf),
    /// The listener starts at the first look, so commands that never look open no connection.
    Notifications {
        url: String,
        listener: OnceLock<Listener>,
    },
}

struct Listener {
    version: Arc<AtomicU64>,
    listening: Arc<AtomicBool>,
    task: tokio::task::AbortHandle,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SettingsWatch {
    pub fn file(data_dir: &Path) -> Self {
        Self(Arc::new(Source::File(data_dir.join(CHANGES_FILE))))
    }

    pub fn notifications(url: String) -> Self {
        Self(Arc::new(Source::Notifications {
            url,
            listener: OnceLock::new(),
        }))
    }

    /// The current version, or `None` when it cannot be known now (keep nothing then).
    pub fn version(&self) -> Option<u64> {
        match &*self.0 {
            Source::File(path) => match std::fs::metadata(path) {
                Ok(metadata) => Some(metadata.len()),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => Some(0),
                Err(_) => None,
            },
            Source::Notifications { url, listener } => {
                let listener = listener.get_or_init(|| Listener::start(url.clone()));
                // Listening is checked first: the version bump that follows a reconnection
                // covers whatever was missed while it was down.
                let listening = listener.listening.load(Ordering::Acquire);
                listening.then(|| listener.version.load(Ordering::Acquire))
            }
        }
    }

    /// Records a change on SQLite (PostgreSQL's is a statement: [`super::Db::announce_settings_changed`]).
    pub(super) fn append_change(&self) -> std::io::Result<()> {
        use std::io::Write;
        if let Source::File(path) = &*self.0 {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?
                .write_all(b".")?;
        }
        Ok(())
    }
}

impl Listener {
    fn start(url: String) -> Self {
        let version = Arc::new(AtomicU64::new(0));
        let listening = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn(listen(url, version.clone(), listening.clone())).abort_handle();
        Self {
            version,
            listening,
            task,
        }
    }
}

/// Counts notifications for as long as the watch lives, reconnecting after a failure.
async fn listen(url: String, version: Arc<AtomicU64>, listening: Arc<AtomicBool>) {
    loop {
        if let Ok(mut listener) = sqlx::postgres::PgListener::connect(&url).await
            && listener.listen(CHANNEL).await.is_ok()
        {
            // Anything may have changed while nobody listened.
            version.fetch_add(1, Ordering::AcqRel);
            listening.store(true, Ordering::Release);
            // `None` is a lost connection: start over rather than let it reconnect
            // silently, so the gap counts as a change.
            while let Ok(Some(_)) = listener.try_recv().await {
                version.fetch_add(1, Ordering::AcqRel);
            }
        }
        listening.store(false, Ordering::Release);
        version.fetch_add(1, Ordering::AcqRel);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
