//! What this machine can do at most, measured next to the HTTP benchmark: durable SQLite
//! inserts with nothing else around them, and RSA-2048 signatures on one core.

use anyhow::Context;
use paymux_crypto::SigningKey;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, Executor, SqliteConnection};
use std::path::Path;
use std::time::{Duration, Instant};

pub struct Ceilings {
    /// Autocommit single-row INSERTs per second (WAL, synchronous=FULL): one fsync per row.
    pub insert_single: f64,
    /// Rows per second inserted 100 per transaction (WAL, synchronous=FULL): group commit.
    pub insert_batch100: f64,
    /// RSA-2048 PKCS#1 v1.5 SHA-256 signatures per second on one core via paymux_crypto.
    pub rsa_sign: f64,
    /// `openssl speed rsa2048` sign/s, when the `openssl` binary exists.
    pub openssl_sign: Option<f64>,
}

/// Measures every ceiling for `each` (openssl always runs for 2 s when `with_openssl`).
/// The SQLite files go in `dir`, which should be on the disk the server uses.
pub async fn measure(dir: &Path, each: Duration, with_openssl: bool) -> anyhow::Result<Ceilings> {
    let insert_single = insert_rate(&dir.join("ceiling-single.db"), 1, each).await?;
    let insert_batch100 = insert_rate(&dir.join("ceiling-batch.db"), 100, each).await?;
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
    Ok(Ceilings {
        insert_single,
        insert_batch100,
        rsa_sign,
        openssl_sign,
    })
}

/// A charge-like row, as the gateway stores it: text id, app, amount, a 170-byte metadata.
const SCHEMA: &str = "CREATE TABLE charges (id TEXT PRIMARY KEY, app TEXT NOT NULL, \
     amount INTEGER NOT NULL, currency TEXT NOT NULL, channel TEXT NOT NULL, \
     status TEXT NOT NULL, metadata TEXT NOT NULL, created INTEGER NOT NULL)";
const INSERT: &str = "INSERT INTO charges (id, app, amount, currency, channel, status, metadata, \
     created) VALUES (?, ?, ?, 'cny', 'alipay_qr', 'pending', ?, ?)";

/// Inserts rows `per_txn` to a transaction (1 = autocommit) for `each`; returns rows/s.
async fn insert_rate(path: &Path, per_txn: usize, each: Duration) -> anyhow::Result<f64> {
    let _ = std::fs::remove_file(path);
    let mut conn: SqliteConnection = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .disable_statement_logging()
        .connect()
        .await
        .with_context(|| format!("cannot open {}", path.display()))?;
    conn.execute(SCHEMA).await?;
    let metadata = format!("{{\"note\":\"{}\"}}", "m".repeat(170 - 11));
    let mut rows = 0u64;
    let start = Instant::now();
    while start.elapsed() < each {
        if per_txn == 1 {
            insert_row(&mut conn, rows, &metadata).await?;
            rows += 1;
        } else {
            let mut tx = conn.begin().await?;
            for _ in 0..per_txn {
                insert_row(&mut tx, rows, &metadata).await?;
                rows += 1;
            }
            tx.commit().await?;
        }
    }
    let rate = rows as f64 / start.elapsed().as_secs_f64();
    conn.close().await?;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    Ok(rate)
}

async fn insert_row(conn: &mut SqliteConnection, n: u64, metadata: &str) -> anyhow::Result<()> {
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
