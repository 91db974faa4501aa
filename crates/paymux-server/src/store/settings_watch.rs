//! How every server on a store learns that settings it keeps in memory changed (secret keys
//! and where signatures are required), whoever changed them: the console of any node, or the
//! command line while the servers run.
//!
//! - **SQLite**: the servers share the data directory. A change appends a byte to
//!   `settings.changes` there, and the file's length is the version: one `stat` per look, no
//!   round trip to SQLite's thread, and no clock resolution to miss two changes in a row.
//! - **PostgreSQL**: a change is a `NOTIFY` on a channel every node `LISTEN`s to, and the
//!   version counts notifications. While a node's listener is down its version is unknown, and
//!   it keeps nothing in memory until the listener is back. A notification reaches the nodes
//!   some time after the change commits, so the announcer waits until every node listening has
//!   confirmed it counted the change: when the command (or the console's request) returns, no
//!   node answers from what it kept before.

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// The file whose length counts the changes, in the data directory.
pub const CHANGES_FILE: &str = "settings.changes";
/// The PostgreSQL channel that announces a change; its payload names the announcement.
const CHANNEL: &str = "paymux_settings";
/// The channel on which each node's listener confirms an announcement, with its payload.
const HEARD: &str = "paymux_settings_heard";
/// Every node's listener connects under this name, which tells an announcer whom to wait for.
const LISTENER_NAME: &str = "paymux settings listener";
const ANNOUNCER_NAME: &str = "paymux settings announcer";
/// How long an announcer waits for the nodes' confirmations. A node that has not confirmed by
/// then (hung, or cut off from the database) still forgets what it kept within
/// [`KEEP_AT_MOST`], or when its listener reconnects.
const CONFIRM_WITHIN: Duration = Duration::from_secs(5);
/// The longest a node uses what it kept from the settings (`api::key_owners`) before reading
/// it again, whether or not it heard of a change.
pub const KEEP_AT_MOST: Duration = Duration::from_secs(10);

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

    /// Tells every server on the store that the settings changed; on PostgreSQL, returns once
    /// every node listening has confirmed it (or with an error naming how many did not).
    pub(super) async fn announce(&self) -> Result<(), String> {
        match &*self.0 {
            Source::File(path) => {
                use std::io::Write;
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .and_then(|mut file| file.write_all(b"."))
                    .map_err(|e| e.to_string())
            }
            Source::Notifications { url, .. } => announce_and_confirm(url).await,
        }
    }
}

/// A listening connection of its own (not one of the pool's), named for `pg_stat_activity`.
async fn connect_listener(url: &str, application_name: &str) -> sqlx::Result<PgListener> {
    let options: PgConnectOptions = url.parse()?;
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .max_lifetime(None)
        .idle_timeout(None)
        .connect_with(options.application_name(application_name))
        .await?;
    PgListener::connect_with(&pool).await
}

/// Notifies the nodes' listeners and waits for each to confirm. The listeners are counted
/// before the notification: one that starts listening after it counts the change on its own
/// (see [`listen`]), and one counted that goes away before confirming is waited for until
/// [`CONFIRM_WITHIN`].
async fn announce_and_confirm(url: &str) -> Result<(), String> {
    let mut heard = connect_listener(url, ANNOUNCER_NAME)
        .await
        .map_err(|e| e.to_string())?;
    if heard.listen(HEARD).await.is_err() {
        // No LISTEN here (a pooler in transaction mode): nor for the nodes, which then keep
        // nothing in memory. The notification is all there is to send.
        return notify(&mut heard, CHANNEL, "")
            .await
            .map_err(|e| e.to_string());
    }
    let found = async {
        // The announcer's own connection names the announcement: no two live ones share it.
        let token: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(&mut heard)
            .await?;
        let token = token.to_string();
        let mut waiting: HashSet<u32> = sqlx::query_scalar::<_, i32>(
            "SELECT pid FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name = $1",
        )
        .bind(LISTENER_NAME)
        .fetch_all(&mut heard)
        .await?
        .into_iter()
        .filter_map(|pid| u32::try_from(pid).ok())
        .collect();
        notify(&mut heard, CHANNEL, &token).await?;
        let confirmed = tokio::time::timeout(CONFIRM_WITHIN, async {
            while !waiting.is_empty() {
                let Some(confirmation) = heard.try_recv().await? else {
                    break;
                };
                if confirmation.payload() == token {
                    waiting.remove(&confirmation.process_id());
                }
            }
            Ok::<(), sqlx::Error>(())
        })
        .await;
        // Past the deadline the nodes still waited for are the answer.
        confirmed.unwrap_or(Ok(())).map(|()| waiting.len())
    };
    match found.await {
        Ok(0) => Ok(()),
        Ok(unconfirmed) => Err(format!(
            "{unconfirmed} node(s) did not confirm the change within {} s; each forgets \
             what it kept within {} s of running again",
            CONFIRM_WITHIN.as_secs(),
            KEEP_AT_MOST.as_secs()
        )),
        Err(error) => Err(error.to_string()),
    }
}

/// Sends `payload` on `channel` from a listening connection (an announcement or a confirmation).
async fn notify(listener: &mut PgListener, channel: &str, payload: &str) -> sqlx::Result<()> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(channel)
        .bind(payload)
        .execute(listener)
        .await
        .map(drop)
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

/// Counts notifications for as long as the watch lives, reconnecting after a failure, and
/// confirms each announcement once counted.
async fn listen(url: String, version: Arc<AtomicU64>, listening: Arc<AtomicBool>) {
    loop {
        if let Ok(mut listener) = connect_listener(&url, LISTENER_NAME).await
            && listener.listen(CHANNEL).await.is_ok()
        {
            // Anything may have changed while nobody listened.
            version.fetch_add(1, Ordering::AcqRel);
            listening.store(true, Ordering::Release);
            // `None` is a lost connection: start over rather than let it reconnect
            // silently, so the gap counts as a change.
            while let Ok(Some(announcement)) = listener.try_recv().await {
                version.fetch_add(1, Ordering::AcqRel);
                if notify(&mut listener, HEARD, announcement.payload())
                    .await
                    .is_err()
                {
                    break;
                }
            }
        }
        listening.store(false, Ordering::Release);
        version.fetch_add(1, Ordering::AcqRel);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
