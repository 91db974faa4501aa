//! What can go wrong in storage, with its cause. The layers above decide what it means to a
//! caller (an HTTP answer, a job retried later) and log it once, where they know the request or
//! job it happened in.

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database is away (unreachable, connection lost, shutting down): the work changed
    /// nothing, and a retry may succeed.
    #[error("database unavailable: {0}")]
    Unavailable(sqlx::Error),
    #[error("database error: {0}")]
    Query(sqlx::Error),
    /// A write did not commit (the SQLite writer is gone, or its batch could not start):
    /// nothing changed.
    #[error("the write was not committed")]
    NotCommitted,
    /// The connection failed during COMMIT: whether it took effect is unknown. (A retry is
    /// safe: creates deduplicate on order_no and money moves are conditional.)
    #[error("commit outcome unknown: {0}")]
    CommitUnknown(std::sync::Arc<sqlx::Error>),
    /// Stored data this version cannot read, or that breaks a rule it must keep.
    #[error("stored data is inconsistent: {0}")]
    Inconsistent(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        // Unreachable or dropped connections, failed reconnect handshakes, and PostgreSQL's
        // connection-exception (08…) and shutdown (57P0…) states.
        let unavailable = match &error {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed => true,
            sqlx::Error::Database(db) => db
                .code()
                .is_some_and(|code| code.starts_with("08") || code.starts_with("57P0")),
            _ => false,
        };
        if unavailable {
            StoreError::Unavailable(error)
        } else {
            StoreError::Query(error)
        }
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(error: serde_json::Error) -> Self {
        StoreError::Inconsistent(format!("stored JSON could not be read: {error}"))
    }
}
