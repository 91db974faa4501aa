//! What this machine can do at most, measured next to the HTTP benchmark: durable inserts with
//! nothing else around them (SQLite, and PostgreSQL when the run uses it), and RSA-2048
//! signatures on one core.

use anyhow::Context;
use paymux_crypto::SigningKey;
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyConnection, AnyPool, Connection, Executor};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub struct Ceilings {
    /// Bare durable inserts: SQLite first, then PostgreSQL.
    pub inserts: Vec<InsertCeiling>,
    /// RSA-2048 PKCS#1 v1.5 SHA-256 signatures per second on one core via paymux_crypto.
    pub rsa_sign: f64,
    /// `openssl speed rsa2048` sign/s, when the `openssl` binary exists.
    pub openssl_sign: Option<f64>,
}

/// Where the bare inserts go.
#[derive(Clone, Copy)]
pub enum Engine<'a> {
    /// A fresh SQLite file in this directory (WAL, synchronous=FULL), one connection.
    Sqlite(&'a Path),
    /// A table in the PostgreSQL database at this URL (synchronous_commit as the server has
    /// it: `on` by default).
    Postgres(&'a str),
}

/// One bare insert measurement.
pub struct InsertCeiling {
    /// The engine and its durability setting, e.g. "PostgreSQL, synchronous_commit=on".
    pub engine: String,
    /// Concurrent connections, one tokio task each.
    pub connections: usize,
    pub rows_per_commit: usize,
    pub rows_per_sec: f64,
    /// Latency of one commit (its whole transaction), nearest-rank p99.
    pub p99_commit_ms: f64,
    /// CPU per row of this process (the client; for SQLite also the database engine).
    pub client_cpu_us: Option<f64>,
    /// CPU per row of every `postgres` process, on PostgreSQL.
    pub postgres_cpu_us: Option<f64>,
}

/// Measures every ceiling for `each` (openssl always runs for 2 s when `with_openssl`).
/// SQLite: 1 row per commit and 100 per commit, one connection, in `dir` (put it on the disk the
/// server uses). PostgreSQL, with `postgres` = (URL, connection counts): 1 row per commit on
/// each number of connections, then 100 per commit on one.
pub async fn measure(
    dir: &Path,
    postgres: Option<(&str, &[usize])>,
    each: Duration,
    with_openssl: bool,
) -> anyhow::Result<Ceilings> {
    let mut runs = vec![(Engine::Sqlite(dir), 1, 1), (Engine::Sqlite(dir), 1, 100)];
    if let Some((url, connections)) = postgres {
        runs.extend(connections.iter().map(|&n| (Engine::Postgres(url), n, 1)));
        runs.push((Engine::Postgres(url), 1, 100));
    }
    let mut inserts = Vec::with_capacity(runs.len());
    for (engine, connections, rows_per_commit) in runs {
        inserts.push(insert_rate(engine, connections, rows_per_commit, each).await?);
    }
    let Rsa {
        rsa_sign,
        openssl_sign,
    } = rsa(each, with_openssl).await?;
    Ok(Ceilings {
        inserts,
        rsa_sign,
        openssl_sign,
    })
}

/// The RSA-2048 signing ceilings on one core.
pub struct Rsa {
    /// paymux_crypto, signing a 1,000-byte message for `each`.
    pub rsa_sign: f64,
    /// `openssl speed -seconds 2 rsa2048`, when asked for and installed.
    pub openssl_sign: Option<f64>,
}

/// Measures RSA-2048 sign/s on one core: paymux_crypto for `each`, then (when `with_openssl`)
/// `openssl speed -seconds 2 rsa2048`.
pub async fn rsa(each: Duration, with_openssl: bool) -> anyhow::Result<Rsa> {
    let rsa_sign = tokio::task::spawn_blocking(move || rsa_sign_rate(each))
        .await
        .context("RSA ceiling thread failed")??;
    let openssl_sign = if with_openssl {
        tokio::task::spawn_blocking(openssl_speed)
            .await
            .context("openssl thread failed")?
    } else {
        None
    };
    Ok(Rsa {
        rsa_sign,
        openssl_sign,
    })
}

/// A charge-like row, as the gateway stores it: text id, app, amount, a 170-byte metadata.
const SCHEMA: &str = "CREATE TABLE ceiling_charges (id TEXT PRIMARY KEY, app TEXT NOT NULL, \
     amount BIGINT NOT NULL, currency TEXT NOT NULL, channel TEXT NOT NULL, \
     status TEXT NOT NULL, metadata TEXT NOT NULL, created BIGINT NOT NULL)";
const INSERT: &str = "INSERT INTO ceiling_charges (id, app, amount, currency, channel, status, \
     metadata, created) VALUES ($1, $2, $3, 'cny', 'alipay_qr', 'pending', $4, $5)";

/// Opens a pool of up to `connections` to an empty `ceiling_charges` table; returns it and the
/// engine's label.
async fn open(engine: Engine<'_>, connections: usize) -> anyhow::Result<(AnyPool, String)> {
    sqlx::any::install_default_drivers();
    let options = AnyPoolOptions::new().max_connections(u32::try_from(connections)?);
    let pool = match engine {
        Engine::Sqlite(dir) => {
            let path = dir.join("ceiling.db");
            remove_sqlite(&path);
            options
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        conn.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL")
                            .await?;
                        Ok(())
                    })
                })
                .connect(&format!("sqlite://{}?mode=rwc", path.display()))
                .await
                .with_context(|| format!("cannot open {}", path.display()))?
        }
        Engine::Postgres(url) => options
            .connect(url)
            .await
            .with_context(|| format!("cannot connect to {url}"))?,
    };
    pool.execute("DROP TABLE IF EXISTS ceiling_charges").await?;
    pool.execute(SCHEMA).await?;
    let label = match engine {
        Engine::Sqlite(_) => "SQLite WAL, synchronous=FULL".to_owned(),
        Engine::Postgres(_) => {
            let setting: String = sqlx::query_scalar("SHOW synchronous_commit")
                .fetch_one(&pool)
                .await?;
            format!("PostgreSQL, synchronous_commit={setting}")
        }
    };
    Ok((pool, label))
}

fn remove_sqlite(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

/// Inserts for `each` from `connections` tokio tasks, each on a connection of its own, committing
/// every `rows_per_commit` rows (1 = autocommit).
async fn insert_rate(
    engine: Engine<'_>,
    connections: usize,
    rows_per_commit: usize,
    each: Duration,
) -> anyhow::Result<InsertCeiling> {
    let (pool, label) = open(engine, connections).await?;
    // Every connection is open before the clock starts (opened side by side: one PostgreSQL
    // connection takes up to ~0.1 s).
    let opening: Vec<_> = (0..connections)
        .map(|_| tokio::spawn(pool.acquire()))
        .collect();
    let mut conns = Vec::with_capacity(connections);
    for conn in opening {
        conns.push(conn.await.context("a connect task panicked")??);
    }
    let metadata: Arc<str> = format!("{{\"note\":\"{}\"}}", "m".repeat(170 - 11)).into();
    let next = Arc::new(AtomicU64::new(0));
    let on_postgres = matches!(engine, Engine::Postgres(_));
    let cpu_before = (
        crate::server::process_cpu("self"),
        on_postgres.then(|| crate::server::processes_cpu("postgres")),
    );
    let start = Instant::now();
    let deadline = start + each;
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|mut conn| {
            let (metadata, next) = (metadata.clone(), next.clone());
            tokio::spawn(async move {
                let mut commits = Vec::new();
                while Instant::now() < deadline {
                    let began = Instant::now();
                    commit_rows(&mut conn, rows_per_commit, &next, &metadata).await?;
                    commits.push(began.elapsed());
                }
                anyhow::Ok(commits)
            })
        })
        .collect();
    let mut commits = Vec::new();
    for task in tasks {
        commits.extend(task.await.context("an insert task panicked")??);
    }
    let elapsed = start.elapsed().as_secs_f64();
    let client_cpu = crate::server::process_cpu("self")
        .zip(cpu_before.0)
        .map(|(after, before)| after - before);
    let postgres_cpu = cpu_before.1.map(|before| {
        crate::server::processes_cpu_since(&before, &crate::server::processes_cpu("postgres"))
    });
    let rows = (commits.len() * rows_per_commit) as f64;
    let per_row = |cpu: Option<f64>| cpu.map(|cpu| cpu / rows.max(1.0) * 1e6);
    commits.sort_unstable();
    pool.execute("DROP TABLE ceiling_charges").await?;
    pool.close().await;
    if let Engine::Sqlite(dir) = engine {
        remove_sqlite(&dir.join("ceiling.db"));
    }
    Ok(InsertCeiling {
        engine: label,
        connections,
        rows_per_commit,
        rows_per_sec: rows / elapsed,
        p99_commit_ms: crate::quantile_ms(&commits, 0.99),
        client_cpu_us: per_row(client_cpu),
        postgres_cpu_us: per_row(postgres_cpu),
    })
}

/// One commit of `rows` rows: an autocommit INSERT, or a transaction of them.
async fn commit_rows(
    conn: &mut AnyConnection,
    rows: usize,
    next: &AtomicU64,
    metadata: &str,
) -> anyhow::Result<()> {
    if rows == 1 {
        return insert_row(conn, next.fetch_add(1, Ordering::Relaxed), metadata).await;
    }
    let mut tx = conn.begin().await?;
    for _ in 0..rows {
        insert_row(&mut tx, next.fetch_add(1, Ordering::Relaxed), metadata).await?;
    }
    tx.commit().await?;
    Ok(())
}

async fn insert_row(conn: &mut AnyConnection, n: u64, metadata: &str) -> anyhow::Result<()> {
    sqlx::query(INSERT)
        .bind(format!("ch_{n:021}"))
        .bind("app_benchmark0000000000")
        .bind(100_i64)
        .bind(metadata)
        .bind(1_700_000_000_i64)
        .execute(conn)
        .await
        .context("ceiling INSERT failed")?;
    Ok(())
}

/// Signs a 1,000-byte message (about a charge response body) in a loop on this thread.
fn rsa_sign_rate(each: Duration) -> anyhow::Result<f64> {
    let key = SigningKey::generate().context("cannot generate an RSA key")?;
    let message = vec![b'x'; 1000];
    let mut signs = 0u64;
    let start = Instant::now();
    while start.elapsed() < each {
        std::hint::black_box(key.sign(&message));
        signs += 1;
    }
    Ok(signs as f64 / start.elapsed().as_secs_f64())
}

/// `openssl speed -seconds 2 rsa2048`, sign/s; `None` when openssl is missing or says nothing
/// recognisable.
fn openssl_speed() -> Option<f64> {
    let output = std::process::Command::new("openssl")
        .args(["speed", "-seconds", "2", "rsa2048"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    parse_openssl_speed(&String::from_utf8_lossy(&output.stdout))
}

/// Finds `rsa 2048 bits 0.000409s 0.000012s 2444.9 83061.6` and returns the sign/s column.
fn parse_openssl_speed(text: &str) -> Option<f64> {
    let line = text.lines().find(|l| {
        let words: Vec<&str> = l.split_whitespace().collect();
        words.len() >= 6 && words[0] == "rsa" && words[1] == "2048" && words[2] == "bits"
    })?;
    let words: Vec<&str> = line.split_whitespace().collect();
    words.get(5)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::parse_openssl_speed;

    #[test]
    fn reads_openssl_speed_sign_rate() {
        let text = "                  sign    verify    sign/s verify/s\n\
                    rsa 2048 bits 0.000409s 0.000012s   2444.9  83061.6\n";
        assert_eq!(parse_openssl_speed(text), Some(2444.9));
        assert_eq!(parse_openssl_speed("nothing"), None);
    }
}
