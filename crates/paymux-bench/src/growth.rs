//! `paymux-bench growth`: whether creates and lists stay flat as the store grows.
//!
//! One server runs throughout. Before each measured step the store is filled up to the step's
//! size (10k, 100k, 1M charges by default) with charges written straight into the database in
//! large statements: seeding a million charges through the API would take minutes of the
//! very work being measured. Seeded charges are older than every measured one, half paid, on
//! two channels, in the same app, so they sit in the same indexes the API reads. Each step then
//! measures durable creates over HTTP, and `GET /v1/charges?limit=100` (the newest page) with
//! its own clients, unsigned and with unsigned responses, so that storage is what varies.

use crate::server::{self, Paymux};
use crate::{Cell, Database, charge_body, parse_duration, print_table, quantile_ms, thousands};
use anyhow::{Context, bail};
use clap::Args;
use sqlx::{AnyConnection, ConnectOptions, Connection, Executor};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Args)]
pub struct GrowthArgs {
    /// The `paymux` binary to benchmark
    #[arg(long, default_value = "target/release/paymux")]
    server_bin: PathBuf,
    /// Charges stored before each step, ascending (e.g. 10000,100000,1000000)
    #[arg(long, value_delimiter = ',', default_value = "10000,100000,1000000")]
    sizes: Vec<usize>,
    /// Concurrent clients creating charges in each step
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Concurrent clients listing charges in each step
    #[arg(long, default_value_t = 4)]
    list_clients: usize,
    /// Measured time of each create and each list phase
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    duration: Duration,
    /// Parent of the temporary data directory [default: temp dir]
    #[arg(long)]
    data_root: Option<PathBuf>,
    /// Run on PostgreSQL: a fresh database next to the one this URL names, dropped afterwards
    #[arg(long)]
    pub database_url: Option<String>,
    /// Quick check that everything works (sizes 1000 and 3000, 2 clients, 0.5 s phases)
    #[arg(long)]
    smoke: bool,
}

/// Seeded rows per statement: large enough to be quick, small enough not to hold the
/// SQLite writer's lock for long.
const SEED_CHUNK: usize = 50_000;

struct Load {
    client: reqwest::Client,
    base_url: String,
    authorization: String,
    app_id: String,
    /// Next order number; creates never repeat one across steps.
    next: AtomicUsize,
}

/// One phase's answers: latencies of the successful ones, in order of completion.
struct Phase {
    latencies: Vec<Duration>,
    errors: usize,
    first_error: Option<String>,
    seconds: f64,
}

impl Phase {
    fn per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.seconds.max(f64::EPSILON)
    }
}

pub async fn run(mut args: GrowthArgs, db: Option<Database>) -> anyhow::Result<()> {
    if args.smoke {
        args.sizes = vec![1_000, 3_000];
        args.clients = 2;
        args.list_clients = 1;
        args.duration = Duration::from_millis(500);
    }
    if args.sizes.is_empty() || !args.sizes.is_sorted() {
        bail!("--sizes must be ascending, e.g. 10000,100000,1000000");
    }
    if args.clients == 0 || args.list_clients == 0 {
        bail!("--clients and --list-clients must be at least 1");
    }
    let dir = crate::temp_dir(args.data_root.as_deref())?;
    let data_dir = dir.path().join("data");
    let paymux = Paymux::new(
        &args.server_bin,
        &data_dir,
        db.as_ref().map(|db| (db.url.as_str(), None)),
    )?;
    let credentials = paymux.init().await?;
    let mut server = paymux
        .serve(&dir.path().join("server.log"), false, &[])
        .await?;
    let store_url = match &db {
        Some(db) => db.url.clone(),
        None => format!(
            "sqlite://{}",
            data_dir
                .join(paymux_server::store::data_dir::DATABASE_FILE)
                .display()
        ),
    };
    sqlx::any::install_default_drivers();
    let mut store = sqlx::any::AnyConnectOptions::from_str(&store_url)?
        .disable_statement_logging()
        .connect()
        .await
        .context("cannot open the store to seed it")?;
    if db.is_none() {
        store.execute("PRAGMA busy_timeout = 30000").await?;
    }
    eprintln!(
        "server pid {} at {} on {}; sizes {:?}; {} create clients, {} list clients, {:?} per phase",
        server.pid,
        server.base_url,
        if db.is_some() { "PostgreSQL" } else { "SQLite" },
        args.sizes,
        args.clients,
        args.list_clients,
        args.duration
    );

    let load = Arc::new(Load {
        client: reqwest::Client::builder()
            .no_proxy()
            .http1_only()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(args.clients)
            .timeout(Duration::from_secs(30))
            .build()?,
        base_url: server.base_url.clone(),
        authorization: format!("Bearer {}", credentials.test_secret_key),
        app_id: credentials.app_id.clone(),
        next: AtomicUsize::new(0),
    });
    let oldest = unix_now()? - 100_000_000;
    let mut seeded = 0;
    let mut rows: Vec<Vec<Cell>> = Vec::new();
    let mut first: Option<(f64, f64)> = None;
    for &size in &args.sizes {
        let stored = stored_charges(&mut store).await?;
        if stored < size {
            let started = Instant::now();
            seed(&mut store, &load.app_id, oldest, seeded, size - stored).await?;
            seeded += size - stored;
            eprintln!(
                "seeded {} charges in {:.1} s",
                size - stored,
                started.elapsed().as_secs_f64()
            );
        }
        let before = stored_charges(&mut store).await?;
        let creates = phase(&load, args.clients, args.duration, Request::Create).await;
        let lists = phase(&load, args.list_clients, args.duration, Request::List).await;
        server.check_alive()?;
        for (what, phase) in [("create", &creates), ("list", &lists)] {
            if phase.errors > 0 {
                bail!(
                    "{} {what} requests failed at {before} stored charges; the first: {}",
                    phase.errors,
                    phase.first_error.as_deref().unwrap_or("?")
                );
            }
        }
        let (creates_per_s, list_p99) = (creates.per_second(), quantile_ms(&lists.latencies, 0.99));
        let (base_creates, base_p99) = *first.get_or_insert((creates_per_s, list_p99));
        let percent = |now: f64, base: f64| format!("{:+.0}%", (now / base - 1.0) * 100.0);
        rows.push(vec![
            ("stored charges", "---:", thousands(before as f64)),
            ("creates/s", "---:", thousands(creates_per_s)),
            (
                "create p99 ms",
                "---:",
                format!("{:.2}", quantile_ms(&creates.latencies, 0.99)),
            ),
            ("vs first", "---:", percent(creates_per_s, base_creates)),
            ("lists/s", "---:", thousands(lists.per_second())),
            (
                "list p50 ms",
                "---:",
                format!("{:.2}", quantile_ms(&lists.latencies, 0.5)),
            ),
            ("list p99 ms", "---:", format!("{list_p99:.2}")),
            ("vs first ", "---:", percent(list_p99, base_p99)),
        ]);
        eprintln!(
            "{before} stored: {} creates/s, list p99 {list_p99:.2} ms",
            thousands(creates_per_s)
        );
    }
    if let Some((idle, peak)) = server::resident_memory(server.pid) {
        println!(
            "server memory (resident) {:.1} MiB at the end, peak {:.1} MiB",
            idle as f64 / 1024.0,
            peak as f64 / 1024.0
        );
    }
    server.stop().await?;
    store.close().await?;
    println!();
    println!(
        "growth on {}: {} create clients, {} list clients (limit=100, newest page), {:.1} s per phase, \
         unsigned requests and responses",
        if db.is_some() { "PostgreSQL" } else { "SQLite" },
        args.clients,
        args.list_clients,
        args.duration.as_secs_f64()
    );
    println!();
    print_table(&rows);
    Ok(())
}

fn unix_now() -> anyhow::Result<i64> {
    Ok(SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("the clock is before 1970")?
        .as_secs()
        .try_into()?)
}

async fn stored_charges(store: &mut AnyConnection) -> anyhow::Result<usize> {
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM charges")
        .fetch_one(&mut *store)
        .await?;
    Ok(usize::try_from(count)?)
}

/// Inserts `count` charges numbered from `from`, `SEED_CHUNK` per statement: unpaid and paid
/// in turn, on two channels, created a second apart from `oldest`.
async fn seed(
    store: &mut AnyConnection,
    app_id: &str,
    oldest: i64,
    from: usize,
    count: usize,
) -> anyhow::Result<()> {
    let mut done = 0;
    while done < count {
        let first = i64::try_from(from + done)?;
        let last = first + i64::try_from(SEED_CHUNK.min(count - done))? - 1;
        sqlx::query(
            "WITH RECURSIVE n(i) AS (SELECT $1 UNION ALL SELECT i + 1 FROM n WHERE i < $2) \
             INSERT INTO charges (id, account_id, app_id, livemode, created, channel, order_no, \
             client_ip, amount, currency, subject, body, extra, metadata, credential, time_expire, \
             paid, time_paid) \
             SELECT 'ch_seed' || i, (SELECT account_id FROM apps WHERE id = $3), $3, 0, $4 + i, \
             CASE WHEN i % 2 = 0 THEN 'alipay_qr' ELSE 'wx_pub_qr' END, 'seed' || i, '127.0.0.1', \
             100 + i % 900, 'cny', 'seeded', 'seeded charge', '{}', '{}', '{}', $4 + i + 7200, \
             i % 2, CASE WHEN i % 2 = 1 THEN $4 + i + 60 END FROM n",
        )
        .bind(first)
        .bind(last)
        .bind(app_id)
        .bind(oldest)
        .execute(&mut *store)
        .await
        .context("seeding charges")?;
        done += SEED_CHUNK.min(count - done);
    }
    // A store that grew over months has been vacuumed and analyzed by PostgreSQL's autovacuum,
    // and SQLite has long copied its write-ahead log into the database file; one filled in
    // seconds has not yet, and the measurement would time that catching up.
    let settle = if store.backend_name() == "PostgreSQL" {
        "VACUUM ANALYZE charges"
    } else {
        "PRAGMA wal_checkpoint(TRUNCATE)"
    };
    sqlx::query(settle)
        .execute(&mut *store)
        .await
        .with_context(|| format!("after seeding: {settle}"))?;
    Ok(())
}

async fn create(load: &Load) -> anyhow::Result<()> {
    let n = load.next.fetch_add(1, Ordering::Relaxed);
    let response = load
        .client
        .post(format!("{}/v1/charges", load.base_url))
        .header("Authorization", &load.authorization)
        .header("Content-Type", "application/json")
        .body(charge_body(&load.app_id, n))
        .send()
        .await?;
    expect_ok(response, "\"object\":\"charge\"").await
}

async fn list(load: &Load) -> anyhow::Result<()> {
    let response = load
        .client
        .get(format!(
            "{}/v1/charges?limit=100&app[id]={}",
            load.base_url, load.app_id
        ))
        .header("Authorization", &load.authorization)
        .send()
        .await?;
    expect_ok(response, "\"object\":\"list\"").await
}

async fn expect_ok(response: reqwest::Response, marker: &str) -> anyhow::Result<()> {
    let status = response.status();
    let body = response.text().await?;
    if status != reqwest::StatusCode::OK || !body.contains(marker) {
        bail!(
            "HTTP {status}: {}",
            body.chars().take(300).collect::<String>()
        );
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum Request {
    Create,
    List,
}

/// Runs `request` from `clients` tasks in a closed loop for `duration`.
async fn phase(load: &Arc<Load>, clients: usize, duration: Duration, request: Request) -> Phase {
    let deadline = Instant::now() + duration;
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let load = load.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let (mut errors, mut first_error) = (0, None);
                while Instant::now() < deadline {
                    let started = Instant::now();
                    let answer = match request {
                        Request::Create => create(&load).await,
                        Request::List => list(&load).await,
                    };
                    match answer {
                        Ok(()) => latencies.push(started.elapsed()),
                        Err(error) => {
                            errors += 1;
                            first_error.get_or_insert(format!("{error:#}"));
                        }
                    }
                }
                (latencies, errors, first_error)
            })
        })
        .collect();
    let started = Instant::now();
    let mut result = Phase {
        latencies: Vec::new(),
        errors: 0,
        first_error: None,
        seconds: 0.0,
    };
    for task in tasks {
        let (latencies, errors, first_error) = task
            .await
            .unwrap_or_else(|e| (Vec::new(), 1, Some(format!("a client task panicked: {e}"))));
        result.latencies.extend(latencies);
        result.errors += errors;
        if result.first_error.is_none() {
            result.first_error = first_error;
        }
    }
    result.seconds = started.elapsed().as_secs_f64();
    result.latencies.sort_unstable();
    result
}
