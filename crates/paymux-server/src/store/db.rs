//! The database handle: a read pool, and a writer.
//!
//! On PostgreSQL every write is a transaction from the pool; the server group-commits
//! concurrent transactions itself, and conditional updates keep money safe across nodes.
//!
//! SQLite has a single writer, and a durable commit costs an fsync. Instead of each request
//! waiting for its own fsync, every write is a closure sent to one writer task. The writer takes
//! whatever has queued up, runs each closure inside its own SAVEPOINT of one transaction (so one
//! request's failure rolls back only its own changes), commits once, and only then answers every
//! caller. Under load many requests share one fsync; an idle system commits each at once.
//! A caller hears "ok" only after its change is durable (WAL, `synchronous=FULL`).

use crate::error::{ApiError, ApiResult};
use futures_util::future::BoxFuture;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyConnection, AnyPool, ConnectOptions, Connection, Executor};
use std::path::Path;
use std::str::FromStr;
use tokio::sync::{mpsc, oneshot};

/// Most writes committed together; bounds one batch's latency.
const MAX_BATCH: usize = 512;
/// A pooled PostgreSQL connection idle longer than this is pinged before use.
const IDLE_BEFORE_PING: std::time::Duration = std::time::Duration::from_secs(1);

/// A unit of work for the writer. It returns whether to keep its changes, and a callback that
/// answers the caller once the commit's fate is known.
type WriteJob = Box<dyn for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, Outcome> + Send>;

struct Outcome {
    keep: bool,
    answer: Box<dyn FnOnce(bool) + Send>,
}

#[derive(Clone)]
pub struct Db {
    reader: AnyPool,
    writer: Writer,
}

#[derive(Clone)]
enum Writer {
    /// The group-committing writer task of an SQLite database.
    Sqlite(mpsc::Sender<WriteJob>),
    /// A PostgreSQL pool: one transaction per write.
    Postgres(AnyPool),
}

/// Which engine a database URL names.
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
     PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;";

impl Db {
    /// Opens (creating if needed) the SQLite database under `data_dir` and migrates it.
    pub async fn open_sqlite(data_dir: &Path) -> anyhow::Result<Db> {
        sqlx::any::install_default_drivers();
        std::fs::create_dir_all(data_dir)?;
        let path = data_dir.join("paymux.db");
        let url = format!("sqlite://{}?mode=rwc", path.display());

        let mut writer = AnyConnectOptions::from_str(&url)?
            .disable_statement_logging()
            .connect()
            .await?;
        writer.execute(SQLITE_PRAGMAS).await?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&mut writer)
            .await?;

        let reader = AnyPoolOptions::new()
            .max_connections(8)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("PRAGMA busy_timeout = 5000; PRAGMA query_only = ON;")
                        .await?;
                    Ok(())
                })
            })
            .connect_with(AnyConnectOptions::from_str(&url)?.disable_statement_logging())
            .await?;

        let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run_writer(writer, rx));
        Ok(Db {
            reader,
            writer: Writer::Sqlite(tx),
        })
    }

    /// Connects to PostgreSQL with a pool of `max_connections` and migrates the schema.
    /// Every statement is cut off after `statement_timeout_ms`, so a stuck query cannot hold
    /// a connection (and the rows it locked) indefinitely.
    pub async fn open_postgres(
        url: &str,
        max_connections: u32,
        statement_timeout_ms: u64,
    ) -> anyhow::Result<Db> {
        sqlx::any::install_default_drivers();
        let set_timeout = format!("SET statement_timeout = {statement_timeout_ms}");
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .after_connect(move |conn, _| {
                let set_timeout = set_timeout.clone();
                Box::pin(async move {
                    conn.execute(sqlx::AssertSqlSafe(set_timeout)).await?;
                    Ok(())
                })
            })
            // sqlx pings every connection before handing it out: one extra round trip per
            // query under load. Ping only connections that sat idle, where a restarted or
            // failed-over server is likely; a busy connection that breaks fails its query,
            // which answers 503, and sqlx's release check then discards it.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for > IDLE_BEFORE_PING {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .acquire_timeout(std::time::Duration::from_secs(5))
            .connect_with(AnyConnectOptions::from_str(url)?.disable_statement_logging())
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Db {
            reader: pool.clone(),
            writer: Writer::Postgres(pool),
        })
    }

    pub fn reader(&self) -> &AnyPool {
        &self.reader
    }

    /// Runs `work` in the writer's transaction. `Ok` is returned only after the commit is
    /// durable; on `Err` the closure's changes are rolled back and nothing else is affected.
    pub async fn write<T, F>(&self, work: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, ApiResult<T>> + Send + 'static,
    {
        let sender = match &self.writer {
            Writer::Sqlite(sender) => sender,
            Writer::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let result = work(&mut tx).await;
                return match result {
                    Ok(value) => match tx.commit().await {
                        Ok(()) => Ok(value),
                        // The connection failed during COMMIT: whether it took effect is
                        // unknown, so do not claim "nothing changed" (a retry is safe: creates
                        // deduplicate on order_no and money moves are conditional).
                        Err(error) => {
                            tracing::error!(%error, "commit outcome unknown");
                            Err(ApiError::internal())
                        }
                    },
                    Err(error) => {
                        // Dropping the transaction would roll back too; say so explicitly.
                        let _ = tx.rollback().await;
                        Err(error)
                    }
                };
            }
        };
        let (tx, rx) = oneshot::channel::<ApiResult<T>>();
        let job: WriteJob = Box::new(move |conn| {
            Box::pin(async move {
                let result = work(conn).await;
                Outcome {
                    keep: result.is_ok(),
                    answer: Box::new(move |committed| {
                        let reply = if committed {
                            result
                        } else {
                            Err(ApiError::unavailable())
                        };
                        let _ = tx.send(reply);
                    }),
                }
            })
        });
        sender
            .send(job)
            .await
            .map_err(|_| ApiError::unavailable())?;
        // A dropped job (writer gone, or its batch could not start) means nothing was written.
        rx.await.unwrap_or_else(|_| Err(ApiError::unavailable()))
    }
}

async fn run_writer(mut conn: AnyConnection, mut rx: mpsc::Receiver<WriteJob>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        // Every statement is a round trip to SQLite's thread, so the savepoint bookkeeping
        // between two requests travels as one: `RELEASE request; SAVEPOINT request`.
        // (After `ROLLBACK TO`, the savepoint is still open, so the same step follows.)
        if let Err(error) = conn.execute("BEGIN IMMEDIATE; SAVEPOINT request").await {
            tracing::error!(%error, "could not begin a write transaction");
            let _ = conn.execute("ROLLBACK").await;
            batch.clear();
            continue;
        }
        let mut answers = Vec::with_capacity(batch.len());
        let mut healthy = true;
        let jobs = batch.len();
        for (i, job) in batch.drain(..).enumerate() {
            if !healthy {
                continue;
            }
            let outcome = job(&mut conn).await;
            if !outcome.keep
                && let Err(error) = conn.execute("ROLLBACK TO request").await
            {
                tracing::error!(%error, "rollback to savepoint failed");
                healthy = false;
            }
            answers.push(outcome.answer);
            if healthy
                && i + 1 < jobs
                && let Err(error) = conn.execute("RELEASE request; SAVEPOINT request").await
            {
                tracing::error!(%error, "savepoint failed");
                healthy = false;
            }
        }
        let committed = healthy && conn.execute("RELEASE request; COMMIT").await.is_ok();
        if !committed {
            tracing::error!("write batch rolled back");
            let _ = conn.execute("ROLLBACK").await;
        }
        for answer in answers {
            answer(committed);
        }
    }
}
