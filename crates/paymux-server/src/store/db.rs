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
//!
//! New charges, the busiest write, take a path of their own: concurrent ones share one
//! statement, and that statement needs no savepoint or transaction of its own (see
//! [`new_charges`]).

use super::charges::{Along, Failed};
use super::new_charges;
use super::settings_watch::SettingsWatch;
use super::{StoreError, StoreResult};
use crate::domain::charge::Charge;
use crate::store::data_dir;
use anyhow::Context;
use futures_util::future::BoxFuture;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyConnection, AnyPool, ConnectOptions, Connection, Executor};
use std::collections::VecDeque;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Most writes committed together; bounds one batch's latency.
const MAX_BATCH: usize = 512;
/// A pooled PostgreSQL connection idle longer than this is pinged before use.
const IDLE_BEFORE_PING: std::time::Duration = std::time::Duration::from_secs(1);

/// What the SQLite writer is sent.
enum Job {
    Work(WriteJob),
    /// A new charge, which shares an `INSERT` with the batch's other new charges.
    NewCharge(new_charges::Pending),
}

/// A unit of work for the writer, given the statements that open its savepoint. It returns
/// whether to keep its changes, and a callback that answers the caller once the commit's fate is
/// known.
type WriteJob =
    Box<dyn for<'c> FnOnce(&'c mut AnyConnection, Prelude) -> BoxFuture<'c, Outcome> + Send>;

/// What must run before a write's own statements: on SQLite, opening its savepoint in the
/// writer's transaction (and beginning that transaction, or releasing the previous write's
/// savepoint); nothing on PostgreSQL. A write made with [`Db::write_in_one_trip`] sends it in
/// the same trip as its own statements, which saves SQLite's thread a round trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prelude(&'static str);

impl Prelude {
    /// Nothing to run first: PostgreSQL, or a write already inside its savepoint.
    pub const NONE: Prelude = Prelude("");

    /// `statements` preceded by the prelude, as one text to send in one trip.
    pub fn and(self, statements: String) -> String {
        if self.0.is_empty() {
            statements
        } else {
            format!("{}; {statements}", self.0)
        }
    }
}

/// Rolling back to the two savepoints, `write_a` and `write_b`, that a batch's works take in
/// turn. A work's savepoint is opened with the previous one's release, so when the work fails,
/// rolling back to its savepoint also tells the writer whether that step ran: the name is open
/// only if it did.
const ROLLBACK_TO: [&str; 2] = ["ROLLBACK TO write_a", "ROLLBACK TO write_b"];

struct Outcome {
    keep: bool,
    answer: Answer,
}

/// Tells a caller how its write ended, once the batch's commit is known (`true`: committed).
pub(super) type Answer = Box<dyn FnOnce(bool) + Send>;

#[derive(Clone)]
pub struct Db {
    reader: AnyPool,
    writer: Writer,
    settings: SettingsWatch,
}

/// Why the store cannot take writes now, for the readiness route.
#[derive(Debug)]
pub struct NotReady(pub String);

#[derive(Clone)]
enum Writer {
    /// The group-committing writer task of an SQLite database.
    Sqlite {
        jobs: mpsc::Sender<Job>,
        data_dir: Arc<Path>,
    },
    /// A PostgreSQL pool: one transaction per write; new charges go to their own task.
    Postgres {
        pool: AnyPool,
        new_charges: mpsc::Sender<new_charges::Pending>,
    },
}

/// Which engine a database URL names.
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// `host:port/database` of a PostgreSQL URL: what an error may say about it (never the password).
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(parsed) => format!(
            "{}:{}{}",
            parsed.host_str().unwrap_or("localhost"),
            parsed.port().unwrap_or(5432),
            parsed.path()
        ),
        Err(_) => "(unparsable URL)".into(),
    }
}

/// TLS protects nothing on a loopback connection and costs every round trip (a handshake per
/// new connection, encryption of every statement): a URL naming a loopback host gets
/// `sslmode=disable` unless it asks for a mode of its own.
fn without_tls_on_loopback(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return url.to_owned();
    };
    // `postgres:` is no special scheme to the URL parser: its host is text, addresses too.
    let loopback = parsed.host_str().is_some_and(|host| {
        host.eq_ignore_ascii_case("localhost")
            || host
                .trim_matches(['[', ']'])
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    });
    let asked = parsed
        .query_pairs()
        .any(|(name, _)| name == "sslmode" || name == "ssl-mode");
    if !loopback || asked {
        return url.to_owned();
    }
    parsed.query_pairs_mut().append_pair("sslmode", "disable");
    parsed.into()
}

const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
     PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;";

/// Statements are logged at trace level (`RUST_LOG=sqlx::query=trace`: each with the request
/// or job it ran for), and a statement slower than a second at warning level. Values are bound,
/// so no logged statement carries one.
fn connect_options(url: &str) -> anyhow::Result<AnyConnectOptions> {
    Ok(AnyConnectOptions::from_str(url)?
        .log_statements(log::LevelFilter::Trace)
        .log_slow_statements(log::LevelFilter::Warn, std::time::Duration::from_secs(1)))
}

impl Db {
    /// Opens (creating if needed) the SQLite database under `data_dir` and migrates it.
    pub async fn open_sqlite(data_dir: &Path) -> anyhow::Result<Db> {
        sqlx::any::install_default_drivers();
        let path = data_dir::prepare(data_dir)?;
        let url = format!("sqlite://{}?mode=rwc", path.display());

        let mut writer = connect_options(&url)?.connect().await?;
        writer
            .execute(SQLITE_PRAGMAS)
            .await
            .with_context(|| format!("cannot open {}", path.display()))?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&mut writer)
            .await
            .with_context(|| format!("cannot migrate {}", path.display()))?;

        let reader = AnyPoolOptions::new()
            .max_connections(8)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("PRAGMA busy_timeout = 5000; PRAGMA query_only = ON;")
                        .await?;
                    Ok(())
                })
            })
            .connect_with(connect_options(&url)?)
            .await?;

        let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run_writer(writer, rx));
        Ok(Db {
            reader,
            writer: Writer::Sqlite {
                jobs: tx,
                data_dir: data_dir.into(),
            },
            settings: SettingsWatch::file(data_dir),
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
        let url = without_tls_on_loopback(url);
        let options = connect_options(&url)?;
        // One plain connection first: its error says why (refused, no such database, bad
        // password), where the pool would only say that it timed out.
        options
            .connect()
            .await
            .map_err(|e| {
                anyhow::anyhow!("cannot connect to PostgreSQL at {}: {e}", redact_url(&url))
            })?
            .close()
            .await?;
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
            .connect_with(options)
            .await
            .map_err(|e| {
                anyhow::anyhow!("cannot connect to PostgreSQL at {}: {e}", redact_url(&url))
            })?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| {
                anyhow::anyhow!("cannot migrate PostgreSQL at {}: {e}", redact_url(&url))
            })?;
        Ok(Db {
            reader: pool.clone(),
            writer: Writer::Postgres {
                new_charges: new_charges::postgres_inserter(pool.clone()),
                pool,
            },
            settings: SettingsWatch::notifications(url),
        })
    }

    /// Tells when the settings kept in memory changed (see [`SettingsWatch`]).
    pub fn settings_watch(&self) -> &SettingsWatch {
        &self.settings
    }

    /// Tells every server on this store that secret keys or signature settings changed (see
    /// [`SettingsWatch::announce`]). A failure is logged: servers then see the change when what
    /// they keep in memory lapses.
    async fn announce_settings_changed(&self) {
        if let Err(error) = self.settings.announce().await {
            tracing::warn!(%error, "could not announce a change of keys or signature settings");
        }
    }

    pub fn reader(&self) -> &AnyPool {
        &self.reader
    }

    /// The database server's clock in Unix milliseconds (PostgreSQL), or `None` (SQLite, which
    /// has one node and so nothing to agree with).
    pub async fn database_time_ms(&self) -> StoreResult<Option<i64>> {
        let Writer::Postgres { pool, .. } = &self.writer else {
            return Ok(None);
        };
        let row = sqlx::query(
            "SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT) AS now_ms",
        )
        .fetch_one(pool)
        .await?;
        Ok(Some(sqlx::Row::try_get(&row, "now_ms")?))
    }

    pub fn is_sqlite(&self) -> bool {
        matches!(self.writer, Writer::Sqlite { .. })
    }

    /// Whether a write would succeed now: on SQLite a real (no-op) write through the writer and
    /// room on the disk; on PostgreSQL a round trip.
    pub async fn readiness(&self) -> Result<(), NotReady> {
        match &self.writer {
            Writer::Sqlite { data_dir, .. } => {
                if let Some(problem) = data_dir::space_problem(data_dir) {
                    return Err(NotReady(problem));
                }
                self.write(|conn| {
                    Box::pin(async move {
                        // Rewrites the one installation row: a page through the WAL and fsync.
                        conn.execute("UPDATE installation SET created = created")
                            .await?;
                        Ok::<_, StoreError>(())
                    })
                })
                .await
                .map_err(|_| NotReady(format!("{} cannot be written", data_dir.display())))
            }
            Writer::Postgres { pool, .. } => match pool.acquire().await {
                Ok(mut conn) => conn
                    .execute("SELECT 1")
                    .await
                    .map(drop)
                    .map_err(|e| NotReady(format!("PostgreSQL: {e}"))),
                Err(e) => Err(NotReady(format!("PostgreSQL: {e}"))),
            },
        }
    }

    /// Runs `work` in the writer's transaction. `Ok` is returned only after the commit is
    /// durable; on `Err` the closure's changes are rolled back and nothing else is affected.
    /// The closure's own errors (a refused request, say) come back as they are.
    pub async fn write<T, E, F>(&self, work: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, Result<T, E>> + Send + 'static,
    {
        self.write_in_one_trip(move |conn, prelude| {
            Box::pin(async move {
                if prelude != Prelude::NONE {
                    conn.execute(prelude.0).await.map_err(StoreError::from)?;
                }
                work(conn).await
            })
        })
        .await
    }

    /// [`write`](Self::write) for a work that sends `prelude` in the same trip as its first
    /// statements ([`Prelude::and`]), before anything else, so that on SQLite it costs one
    /// round trip less. A work that fails without having sent it fails its whole batch: every
    /// caller in it hears "not committed", which is safe but needless.
    pub async fn write_in_one_trip<T, E, F>(&self, work: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: for<'c> FnOnce(&'c mut AnyConnection, Prelude) -> BoxFuture<'c, Result<T, E>>
            + Send
            + 'static,
    {
        let sender = match &self.writer {
            Writer::Sqlite { jobs, .. } => jobs,
            Writer::Postgres { pool, .. } => {
                let mut tx = pool.begin().await.map_err(StoreError::from)?;
                let result = work(&mut tx, Prelude::NONE).await;
                return match result {
                    Ok(value) => match tx.commit().await {
                        Ok(()) => Ok(value),
                        // The connection failed during COMMIT: whether it took effect is
                        // unknown, so do not claim "nothing changed" (a retry is safe: creates
                        // deduplicate on order_no and money moves are conditional).
                        Err(error) => Err(StoreError::CommitUnknown(Arc::new(error)).into()),
                    },
                    Err(error) => {
                        // Dropping the transaction would roll back too; say so explicitly.
                        let _ = tx.rollback().await;
                        Err(error)
                    }
                };
            }
        };
        let (tx, rx) = oneshot::channel::<Result<T, E>>();
        let job: WriteJob = Box::new(move |conn, prelude| {
            Box::pin(async move {
                let result = work(conn, prelude).await;
                Outcome {
                    keep: result.is_ok(),
                    answer: Box::new(move |committed| {
                        let reply = if committed {
                            result
                        } else {
                            Err(StoreError::NotCommitted.into())
                        };
                        let _ = tx.send(reply);
                    }),
                }
            })
        });
        sender
            .send(Job::Work(job))
            .await
            .map_err(|_| StoreError::NotCommitted)?;
        // A dropped job (writer gone, or its batch could not start) means nothing was written.
        rx.await
            .unwrap_or_else(|_| Err(StoreError::NotCommitted.into()))
    }

    /// [`write`](Self::write) for a change of secret keys or signature settings: every server
    /// on this store is told afterwards, so none goes on using what it remembered. Told after a
    /// failed write too, whose outcome may be unknown: a needless announcement only costs each
    /// server one read.
    pub async fn write_settings<T, E, F>(&self, work: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, Result<T, E>> + Send + 'static,
    {
        let written = self.write(work).await;
        self.announce_settings_changed().await;
        written
    }

    /// Inserts a new charge, sharing the statement with other new charges written at the same
    /// time (see [`new_charges`]); answers once it is durable, with the charge handed back and
    /// whether it went in (false: its order_no was taken, or its app is not its account's).
    pub async fn insert_charge(&self, charge: Box<Charge>) -> new_charges::Inserted {
        let (pending, answer) = new_charges::Pending::new(charge);
        let sent = match &self.writer {
            Writer::Sqlite { jobs, .. } => jobs.send(Job::NewCharge(pending)).await.is_ok(),
            Writer::Postgres { new_charges, .. } => new_charges.send(pending).await.is_ok(),
        };
        if !sent {
            return Err(StoreError::NotCommitted);
        }
        answer.await.unwrap_or(Err(StoreError::NotCommitted))
    }
}

async fn run_writer(mut conn: AnyConnection, mut rx: mpsc::Receiver<Job>) {
    let mut queued = Vec::with_capacity(MAX_BATCH);
    let mut failures = FailureLog::default();
    loop {
        if queued.is_empty() {
            if rx.recv_many(&mut queued, MAX_BATCH).await == 0 {
                return;
            }
        } else {
            // Jobs left over from the last batch go first; top up without waiting.
            while queued.len() < MAX_BATCH
                && let Ok(job) = rx.try_recv()
            {
                queued.push(job);
            }
        }
        run_batch(&mut conn, &mut queued, &mut failures).await;
    }
}

/// Runs the queued jobs in one transaction and answers them once its fate is known; jobs it
/// did not get to stay in `queued` for the next batch. New charges go first, a few statements
/// for all of them; then each work in a savepoint of its own, so that a failed one undoes just
/// its own changes. Every statement is a round trip to SQLite's thread, so the transaction and
/// savepoint bookkeeping travels with a statement next to it: `BEGIN` with the first, `COMMIT`
/// with the last charges' statement when no work follows, and each work's savepoint (the
/// [`Prelude`]) with that work. A failed new-charge statement ends the batch: it may have
/// rolled back the whole transaction (a full disk, say), and the jobs after it must not run
/// outside one, so they wait for the next batch.
async fn run_batch(conn: &mut AnyConnection, queued: &mut Vec<Job>, failures: &mut FailureLog) {
    let mut charges = Vec::new();
    let mut works = VecDeque::new();
    for job in queued.drain(..) {
        match job {
            Job::NewCharge(pending) => charges.push(pending),
            Job::Work(work) => works.push_back(work),
        }
    }
    let mut answers: Vec<Answer> = Vec::with_capacity(charges.len() + works.len());
    let mut statements = new_charges::statements(charges).into_iter().peekable();
    let mut healthy = true;
    let mut ended = false;
    // Set when the transaction's end went with the last charges' statement.
    let mut commit_along = None;
    // The transaction begins with the first charges' statement, or without charges with the
    // first work's savepoint.
    let mut first = true;
    // Where the commit started: with the last charges' statement, or on its own.
    let mut commit_started = std::time::Instant::now();
    while let Some(statement) = statements.next() {
        let along = Along {
            begin: std::mem::take(&mut first),
            commit: works.is_empty() && statements.peek().is_none(),
        };
        if along.commit {
            commit_started = std::time::Instant::now();
        }
        match new_charges::insert(conn, statement, along).await {
            Ok(inserted) => {
                answers.extend(inserted);
                if along.commit {
                    commit_along = Some(true);
                }
            }
            Err((_, Failed::Begin, error)) => {
                failures.failed("could not begin a write transaction", &error);
                let _ = conn.execute("ROLLBACK").await;
                // Dropped jobs answer "not committed".
                return;
            }
            Err((_, Failed::Commit, error)) => {
                failures.failed("commit failed; the batch was rolled back", &error);
                commit_along = Some(false);
            }
            Err((failed, Failed::Insert, error)) => {
                if failed.len() > 1 {
                    queued.extend(failed.into_iter().map(Job::NewCharge));
                } else {
                    answers.push(Box::new(move |_| new_charges::fail(failed, error.into())));
                }
                ended = true;
                break;
            }
        }
    }
    queued.extend(statements.flatten().map(Job::NewCharge));
    // Which of the two savepoints the last work opened.
    let mut open: Option<usize> = None;
    while !ended && let Some(job) = works.pop_front() {
        let (prelude, at) = match open {
            None if !first => ("SAVEPOINT write_a", 0),
            None => ("BEGIN IMMEDIATE; SAVEPOINT write_a", 0),
            Some(0) => ("RELEASE write_a; SAVEPOINT write_b", 1),
            Some(_) => ("RELEASE write_b; SAVEPOINT write_a", 0),
        };
        let outcome = job(conn, Prelude(prelude)).await;
        answers.push(outcome.answer);
        if !outcome.keep
            && let Err(error) = conn.execute(ROLLBACK_TO[at]).await
        {
            // The prelude did not run to its end (the savepoint is not open), or the rollback
            // failed: what the batch holds is unknown, so none of it is kept.
            failures.failed("a write's savepoint failed", &error);
            healthy = false;
            break;
        }
        open = Some(at);
    }
    queued.extend(works.into_iter().map(Job::Work));
    let committed = match commit_along {
        Some(committed) => committed,
        None => {
            commit_started = std::time::Instant::now();
            // `COMMIT` releases the open savepoint with the transaction.
            healthy
                && match conn.execute("COMMIT").await {
                    Ok(_) => true,
                    Err(error) => {
                        failures.failed("commit failed; the batch was rolled back", &error);
                        false
                    }
                }
        }
    };
    if committed {
        failures.succeeded();
        crate::metrics::write_batch(answers.len(), commit_started.elapsed());
    } else {
        let _ = conn.execute("ROLLBACK").await;
    }
    for answer in answers {
        answer(committed);
    }
}

/// The writer's failures, logged with their cause once per kind rather than once per batch:
/// a full disk would otherwise write the same line for every request that arrives.
#[derive(Default)]
struct FailureLog {
    current: Option<String>,
    repeats: u64,
}

impl FailureLog {
    fn failed(&mut self, what: &str, error: &sqlx::Error) {
        let text = format!("{what}: {error}");
        if self.current.as_deref() == Some(text.as_str()) {
            self.repeats += 1;
            return;
        }
        tracing::error!(%error, "{what} (repeats are logged once)");
        self.current = Some(text);
        self.repeats = 0;
    }

    fn succeeded(&mut self) {
        if self.current.take().is_some() {
            tracing::warn!(
                repeats = self.repeats,
                "the database takes writes again after the failure above"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::without_tls_on_loopback as url;

    #[test]
    fn loopback_connections_go_without_tls_unless_asked() {
        assert_eq!(
            url("postgres://postgres@127.0.0.1:5432/test"),
            "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
        );
        assert_eq!(
            url("postgresql://u:p@localhost/db?application_name=x"),
            "postgresql://u:p@localhost/db?application_name=x&sslmode=disable"
        );
        assert_eq!(
            url("postgres://u@[::1]/db"),
            "postgres://u@[::1]/db?sslmode=disable"
        );
        for unchanged in [
            "postgres://u@127.0.0.1/db?sslmode=require",
            "postgres://u@db.internal:5432/db",
            "postgres://u@10.0.0.5/db",
        ] {
            assert_eq!(url(unchanged), unchanged);
        }
    }
}
