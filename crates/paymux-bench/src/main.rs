//! `paymux-bench`: durable charge creates over HTTP with many concurrent clients, reported next
//! to the same machine's ceilings (bare SQLite and PostgreSQL inserts, RSA-2048 signatures).
//!
//! `paymux-bench charges` starts a fresh `paymux serve` on a temporary data directory (SQLite),
//! or with `--database-url` on a fresh PostgreSQL database `paymux_bench_<pid>` that it drops
//! afterwards. It makes the account require RSA-signed requests (`--signed true`), and runs N
//! tokio tasks that each POST `/v1/charges` in a loop over one shared keep-alive connection
//! pool. Every response must be `200` with an unpaid charge; any other answer counts as an error
//! and fails the run.
//!
//! The client shares the machine's cores with the server, and an RSA-2048 signature costs
//! ~0.45 ms of CPU, so signing on the fly would cap the benchmark at the client's signing rate.
//! The signed requests are therefore all signed before the clock starts, with one timestamp
//! (the server accepts ±300 s): `--presign` of them, by default 8,000 per second of warm-up plus
//! run. If they run out early, the run ends there and says so.
//!
//! `paymux-bench webhooks` (module [`webhooks`]) measures webhook delivery: a backlog's
//! deliveries per second and the first-attempt delay at a fixed event rate. `paymux-bench
//! growth` (module [`growth`]) measures creates and lists as the store grows.

mod ceilings;
mod growth;
mod server;
mod webhooks;

use anyhow::{Context, bail};
use clap::{ArgAction, Args, Parser, Subcommand};
use paymux_crypto::SigningKey;
use paymux_server::store::scratch::ScratchDatabase;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::Notify;

#[derive(Parser)]
#[command(name = "paymux-bench", about = "Load benchmark for the paymux gateway")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create charges over HTTP against a fresh `paymux serve`, then print the ceilings.
    Charges(ChargesArgs),
    /// Deliver a backlog of webhooks to a local receiver, then measure the first-attempt delay
    /// of events created at a fixed rate; next to the RSA-2048 signing ceiling.
    Webhooks(webhooks::WebhooksArgs),
    /// Creates and lists with 10k, 100k and 1M charges already stored.
    Growth(growth::GrowthArgs),
    /// Only measure the ceilings (bare durable inserts, RSA-2048 sign/s).
    Ceilings {
        /// Seconds per insert and RSA measurement
        #[arg(long, default_value = "3s", value_parser = parse_duration)]
        each: Duration,
        /// Directory for the SQLite files (use the disk the gateway stores on) [default: temp dir]
        #[arg(long)]
        data_root: Option<PathBuf>,
        /// Also measure PostgreSQL, in a fresh database next to the one this URL names
        #[arg(long)]
        database_url: Option<String>,
    },
}

#[derive(Args)]
struct ChargesArgs {
    /// The `paymux` binary to benchmark
    #[arg(long, default_value = "target/release/paymux")]
    server_bin: PathBuf,
    /// Concurrent clients (tokio tasks), each with one request in flight
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Measured run time (e.g. 10s, 500ms)
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Unmeasured warm-up before it (connections, caches)
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    warmup: Duration,
    /// Require and send RSA-signed requests (Pingplusplus-Signature)
    #[arg(long, default_value_t = true, action = ArgAction::Set)]
    signed: bool,
    /// Have the server sign every response body (its `--sign-responses`)
    #[arg(long, default_value_t = true, action = ArgAction::Set)]
    sign_responses: bool,
    /// Signed requests to prepare before the run [default: 8,000 per second of warm-up + run]
    #[arg(long)]
    presign: Option<usize>,
    /// Parent of the temporary data directory (use the disk you care about) [default: temp dir]
    #[arg(long)]
    data_root: Option<PathBuf>,
    /// Run on PostgreSQL: a fresh database `paymux_bench_<pid>` next to the one this URL names
    /// (postgres://user@host:port/db), dropped afterwards [default: SQLite in the data directory]
    #[arg(long)]
    database_url: Option<String>,
    /// The server's PostgreSQL pool (its `--database-pool-size`) [default: the server's, 16]
    #[arg(long, requires = "database_url")]
    pool_size: Option<u32>,
    /// Seconds per ceiling measurement (each insert configuration, RSA)
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    ceiling_time: Duration,
    /// Skip the ceilings
    #[arg(long)]
    no_ceilings: bool,
    /// Quick check that everything works (2 clients, 1 s, short ceilings, no openssl)
    #[arg(long)]
    smoke: bool,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, scale) = if let Some(ms) = text.strip_suffix("ms") {
        (ms, 0.001)
    } else if let Some(s) = text.strip_suffix('s') {
        (s, 1.0)
    } else {
        (text, 1.0)
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 10s or 500ms"))?;
    Duration::try_from_secs_f64(value * scale).map_err(|e| format!("{text:?}: {e}"))
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Charges(args) => {
            let database_url = args.database_url.clone();
            with_database(database_url.as_deref(), |db| charges(args, db)).await
        }
        Command::Webhooks(args) => {
            let database_url = args.database_url.clone();
            with_database(database_url.as_deref(), |db| webhooks::run(args, db)).await
        }
        Command::Growth(args) => {
            let database_url = args.database_url.clone();
            with_database(database_url.as_deref(), |db| growth::run(args, db)).await
        }
        Command::Ceilings {
            each,
            data_root,
            database_url,
        } => {
            with_database(database_url.as_deref(), |db| {
                only_ceilings(each, data_root, db)
            })
            .await
        }
    };
    if let Err(error) = result {
        eprintln!("paymux-bench: {error:#}");
        std::process::exit(1);
    }
}

fn temp_dir(root: Option<&Path>) -> anyhow::Result<tempfile::TempDir> {
    let builder = tempfile::Builder::new()
        .prefix("paymux-bench-")
        .tempdir_in(root.map(Path::to_owned).unwrap_or_else(std::env::temp_dir));
    builder.context("cannot create a temporary directory")
}

/// Runs `work` with a fresh PostgreSQL database next to `admin_url` (or with none), and drops
/// the database afterwards: after success, an error, a panic (e.g. printing to a closed pipe),
/// Ctrl-C or SIGTERM.
async fn with_database<F, Fut>(admin_url: Option<&str>, work: F) -> anyhow::Result<()>
where
    F: FnOnce(Option<Database>) -> Fut,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let Some(admin_url) = admin_url else {
        return work(None).await;
    };
    let db = ScratchDatabase::create(admin_url, "paymux_bench").await?;
    let mut run = tokio::spawn(work(Some(Database {
        url: db.url.clone(),
    })));
    let result = tokio::select! {
        joined = &mut run => joined.unwrap_or_else(|e| Err(anyhow::anyhow!("the run failed: {e}"))),
        stop = stop_signal() => {
            // Aborting drops the server process handle, which kills the server.
            run.abort();
            let _ = run.await;
            stop.and(Err(anyhow::anyhow!("interrupted")))
        }
    };
    // The server may still be connected; dropping the database disconnects it.
    drop(db);
    result
}

/// Waits for Ctrl-C or SIGTERM.
async fn stop_signal() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        ctrl_c = tokio::signal::ctrl_c() => ctrl_c?,
        _ = term.recv() => {}
    }
    Ok(())
}

/// The PostgreSQL database a run uses.
struct Database {
    url: String,
}

/// Connection counts of the PostgreSQL insert ceilings: one, 16, 64, and the server's pool.
fn postgres_ceiling_connections(pool_size: Option<u32>) -> Vec<usize> {
    let mut counts = vec![1, 16, 64];
    counts.extend(pool_size.and_then(|n| usize::try_from(n).ok()));
    counts.sort_unstable();
    counts.dedup();
    counts
}

async fn only_ceilings(
    each: Duration,
    data_root: Option<PathBuf>,
    db: Option<Database>,
) -> anyhow::Result<()> {
    let dir = temp_dir(data_root.as_deref())?;
    let connections = postgres_ceiling_connections(None);
    let postgres = db.as_ref().map(|db| (db.url.as_str(), &connections[..]));
    let c = ceilings::measure(dir.path(), postgres, each, true).await?;
    print_ceilings(&c);
    Ok(())
}

/// One prepared request: the exact body bytes and, when signed, its headers.
struct Prepared {
    body: String,
    signature: Option<String>,
}

fn charge_body(app_id: &str, n: usize) -> String {
    serde_json::json!({
        "order_no": format!("bench{n:012}"),
        "app": {"id": app_id},
        "channel": "alipay_qr",
        "amount": 100,
        "client_ip": "127.0.0.1",
        "currency": "cny",
        "subject": "bench",
        "body": "bench",
    })
    .to_string()
}

/// Signs `count` requests on all cores: RSA-SHA256 over body ++ "/v1/charges" ++ timestamp.
fn presign(key: &SigningKey, app_id: &str, timestamp: &str, count: usize) -> Vec<Prepared> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunk = count.div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..count)
            .step_by(chunk)
            .map(|first| {
                scope.spawn(move || {
                    (first..(first + chunk).min(count))
                        .map(|n| {
                            let body = charge_body(app_id, n);
                            let message = format!("{body}{CHARGES_PATH}{timestamp}");
                            let signature = key.sign_base64(message.as_bytes());
                            Prepared {
                                body,
                                signature: Some(signature),
                            }
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

const CHARGES_PATH: &str = "/v1/charges";

/// What the workers share.
struct Shared {
    client: reqwest::Client,
    url: String,
    authorization: String,
    app_id: String,
    timestamp: String,
    /// Pre-signed requests, or `None` for unsigned runs (bodies are made on the fly).
    pool: Option<Vec<Prepared>>,
    next: AtomicUsize,
    measure_from: Instant,
    deadline: Instant,
    stop: AtomicBool,
    stopped: Notify,
    /// When the pre-signed requests ran out, if they did.
    exhausted_at: Mutex<Option<Instant>>,
}

#[derive(Default)]
struct WorkerResult {
    /// (start, latency) of successful requests started in the measured window.
    measured: Vec<(Instant, Duration)>,
    /// Successful requests in any phase.
    ok: u64,
    errors: u64,
    first_errors: Vec<String>,
}

/// The fields of the response that must be right.
#[derive(Deserialize)]
struct ChargeReply {
    object: String,
    paid: bool,
}

async fn create_charge(
    shared: &Shared,
    body: String,
    signature: Option<&str>,
) -> anyhow::Result<()> {
    let mut request = shared
        .client
        .post(&shared.url)
        .header("Authorization", &shared.authorization)
        .header("Content-Type", "application/json")
        .body(body);
    if let Some(signature) = signature {
        request = request
            .header("Pingplusplus-Request-Timestamp", &shared.timestamp)
            .header("Pingplusplus-Signature", signature);
    }
    let response = request.send().await.context("request failed")?;
    let status = response.status();
    let bytes = response.bytes().await.context("reading the response")?;
    if status != reqwest::StatusCode::OK {
        bail!("HTTP {status}: {}", String::from_utf8_lossy(&bytes));
    }
    let reply: ChargeReply = serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "response is not a charge: {}",
            String::from_utf8_lossy(&bytes)
        )
    })?;
    if reply.object != "charge" || reply.paid {
        bail!(
            "expected an unpaid charge, got: {}",
            String::from_utf8_lossy(&bytes)
        );
    }
    Ok(())
}

async fn worker(shared: Arc<Shared>) -> WorkerResult {
    let mut result = WorkerResult::default();
    loop {
        let now = Instant::now();
        if now >= shared.deadline || shared.stop.load(Ordering::Relaxed) {
            break;
        }
        let n = shared.next.fetch_add(1, Ordering::Relaxed);
        let (body, signature) = match &shared.pool {
            None => (charge_body(&shared.app_id, n), None),
            Some(pool) => match pool.get(n) {
                Some(p) => (p.body.clone(), p.signature.as_deref()),
                None => {
                    let mut exhausted = shared
                        .exhausted_at
                        .lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner());
                    exhausted.get_or_insert(now);
                    shared.stop.store(true, Ordering::Relaxed);
                    shared.stopped.notify_one();
                    break;
                }
            },
        };
        let started = Instant::now();
        match create_charge(&shared, body, signature).await {
            Ok(()) => {
                result.ok += 1;
                if started >= shared.measure_from {
                    result.measured.push((started, started.elapsed()));
                }
            }
            Err(error) => {
                result.errors += 1;
                if result.first_errors.len() < 3 {
                    result.first_errors.push(format!("{error:#}"));
                }
            }
        }
    }
    result
}

/// The `q`-quantile (0..=1) of sorted latencies, in milliseconds.
fn quantile_ms(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1000.0
}

/// CPU time used so far, in seconds: by the server (in all and by thread name), by this
/// benchmark process (by thread name too), by the whole machine, and by PostgreSQL.
struct CpuSample {
    at: Instant,
    server: Option<f64>,
    client: Option<f64>,
    machine: Option<f64>,
    threads: BTreeMap<String, f64>,
    client_threads: BTreeMap<String, f64>,
    /// Every `postgres` process by pid (backends, WAL writer, …), on PostgreSQL runs.
    database: Option<BTreeMap<u32, f64>>,
}

fn cpu_sample(pid: u32, on_postgres: bool) -> CpuSample {
    CpuSample {
        at: Instant::now(),
        server: server::process_cpu(&pid.to_string()),
        client: server::process_cpu("self"),
        machine: server::machine_cpu(),
        threads: server::thread_cpu(pid),
        client_threads: server::thread_cpu(std::process::id()),
        database: on_postgres.then(|| server::processes_cpu("postgres")),
    }
}

/// CPU seconds used between two samples.
struct CpuUse {
    server: Option<f64>,
    /// This benchmark process, all of it.
    client: Option<f64>,
    machine: Option<f64>,
    /// Every `postgres` process, on PostgreSQL runs.
    database: Option<f64>,
    /// The server's threads by name, busiest first.
    server_threads: Vec<(String, f64)>,
    /// This process's threads by name.
    client_threads: Vec<(String, f64)>,
}

impl CpuUse {
    fn between(before: &CpuSample, after: &CpuSample) -> Self {
        let used = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| b - a);
        let database = before
            .database
            .as_ref()
            .zip(after.database.as_ref())
            .map(|(before, after)| server::processes_cpu_since(before, after));
        Self {
            server: used(before.server, after.server),
            client: used(before.client, after.client),
            machine: used(before.machine, after.machine),
            database,
            server_threads: threads_since(&before.threads, &after.threads),
            client_threads: threads_since(&before.client_threads, &after.client_threads),
        }
    }

    /// CPU of this process's threads called `name` (e.g. the webhook receiver's runtime).
    fn client_threads_named(&self, name: &str) -> f64 {
        self.client_threads
            .iter()
            .filter(|(thread, _)| thread == name)
            .fold(0.0, |sum, (_, secs)| sum + secs)
    }

    /// Everything else the machine ran: neither the server, this process nor PostgreSQL.
    fn other(&self) -> Option<f64> {
        let (all, server, client) = (self.machine?, self.server?, self.client?);
        Some(all - server - client - self.database.unwrap_or(0.0))
    }
}

/// CPU seconds per thread name between two samples, busiest first, idle threads left out.
fn threads_since(
    before: &BTreeMap<String, f64>,
    after: &BTreeMap<String, f64>,
) -> Vec<(String, f64)> {
    let mut threads: Vec<(String, f64)> = after
        .iter()
        .map(|(name, secs)| {
            (
                name.clone(),
                secs - before.get(name).copied().unwrap_or(0.0),
            )
        })
        .filter(|(_, secs)| *secs > 0.0)
        .collect();
    threads.sort_by(|a, b| b.1.total_cmp(&a.1));
    threads
}

/// Prints where the CPU went during a window of `wall` seconds in which `units` of work
/// (requests, deliveries…) were done. With `receiver`, the threads of this process with that
/// name are shown apart from the rest of it.
fn print_cpu(cpu: &CpuUse, wall: f64, units: usize, unit: &str, receiver: Option<&str>) {
    let wall = wall.max(f64::EPSILON);
    let per_unit = |secs: f64| secs / units.max(1) as f64 * 1e6;
    if let Some(secs) = cpu.server {
        println!(
            "  server CPU {secs:.2} s = {:.2} cores, {:.0} µs per {unit}",
            secs / wall,
            per_unit(secs)
        );
        let listed: Vec<String> = cpu
            .server_threads
            .iter()
            .map(|(name, secs)| format!("{name} {secs:.2} s"))
            .collect();
        println!("    by thread: {}", listed.join(", "));
    }
    if let Some(secs) = cpu.client {
        match receiver {
            None => println!(
                "  client CPU {secs:.2} s = {:.2} cores (this benchmark process, same machine)",
                secs / wall
            ),
            Some(name) => {
                let received = cpu.client_threads_named(name);
                println!(
                    "  receiver CPU {received:.2} s = {:.2} cores, {:.0} µs per {unit} \
                     (the in-process HTTP receiver's `{name}` threads)",
                    received / wall,
                    per_unit(received)
                );
                let rest = secs - received;
                println!(
                    "  bench CPU  {rest:.2} s = {:.2} cores (the rest of this benchmark process)",
                    rest / wall
                );
            }
        }
    }
    if let Some(secs) = cpu.database {
        println!(
            "  PostgreSQL CPU {secs:.2} s = {:.2} cores, {:.0} µs per {unit} (all `postgres` processes)",
            secs / wall,
            per_unit(secs)
        );
    }
    if let Some(secs) = cpu.other() {
        println!(
            "  other CPU  {:.2} cores (everything else on the machine; should be near 0)",
            (secs / wall).max(0.0)
        );
    }
}

async fn charges(mut args: ChargesArgs, db: Option<Database>) -> anyhow::Result<()> {
    let mut with_openssl = true;
    if args.smoke {
        args.clients = 2;
        args.duration = Duration::from_secs(1);
        args.warmup = Duration::from_millis(200);
        args.ceiling_time = Duration::from_millis(300);
        args.presign = Some(args.presign.unwrap_or(2_000));
        with_openssl = false;
    }
    if args.clients == 0 {
        bail!("--clients must be at least 1");
    }
    let dir = temp_dir(args.data_root.as_deref())?;
    let data_dir = dir.path().join("data");
    let paymux = server::Paymux::new(
        &args.server_bin,
        &data_dir,
        db.as_ref().map(|db| (db.url.as_str(), args.pool_size)),
    )?;
    let credentials = paymux.init().await?;

    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("the clock is before 1970")?
        .as_secs()
        .to_string();
    let pool = if args.signed {
        let key = SigningKey::generate().context("cannot generate the merchant RSA key")?;
        let pem_file = dir.path().join("merchant_public.pem");
        std::fs::write(&pem_file, key.public_key_pem()?)
            .with_context(|| format!("cannot write {}", pem_file.display()))?;
        paymux.set_merchant_key(&pem_file, "test").await?;
        let count = args.presign.unwrap_or_else(|| {
            ((args.warmup + args.duration).as_secs_f64() * 8_000.0).ceil() as usize
        });
        eprintln!("pre-signing {count} requests on all cores…");
        let started = Instant::now();
        let app_id = credentials.app_id.clone();
        let ts = timestamp.clone();
        let pool = tokio::task::spawn_blocking(move || presign(&key, &app_id, &ts, count))
            .await
            .context("pre-signing failed")?;
        eprintln!(
            "  {} signed in {:.1} s",
            pool.len(),
            started.elapsed().as_secs_f64()
        );
        Some(pool)
    } else {
        None
    };

    let log = dir.path().join("server.log");
    let mut server = paymux.serve(&log, args.sign_responses, &[]).await?;
    let idle_memory = server::resident_memory(server.pid);
    eprintln!(
        "server pid {} at {} on {}; {} clients, {}, warm-up {:?}, run {:?}",
        server.pid,
        server.base_url,
        if db.is_some() { "PostgreSQL" } else { "SQLite" },
        args.clients,
        if args.signed { "signed" } else { "unsigned" },
        args.warmup,
        args.duration
    );

    let client = reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(args.clients)
        .timeout(Duration::from_secs(30))
        .build()
        .context("cannot build the HTTP client")?;
    let begin = Instant::now();
    let shared = Arc::new(Shared {
        client,
        url: format!("{}{CHARGES_PATH}", server.base_url),
        authorization: format!("Bearer {}", credentials.test_secret_key),
        app_id: credentials.app_id.clone(),
        timestamp,
        pool,
        next: AtomicUsize::new(0),
        measure_from: begin + args.warmup,
        deadline: begin + args.warmup + args.duration,
        stop: AtomicBool::new(false),
        stopped: Notify::new(),
        exhausted_at: Mutex::new(None),
    });
    let workers: Vec<_> = (0..args.clients)
        .map(|_| tokio::spawn(worker(shared.clone())))
        .collect();

    tokio::time::sleep_until(shared.measure_from.into()).await;
    let before = cpu_sample(server.pid, db.is_some());
    tokio::select! {
        () = tokio::time::sleep_until(shared.deadline.into()) => {}
        () = shared.stopped.notified() => {}
    }
    let after = cpu_sample(server.pid, db.is_some());
    let loaded_memory = server::resident_memory(server.pid);
    let connections = match &db {
        Some(db) => server::postgres_connections(&db.url)
            .await
            .inspect_err(|e| eprintln!("cannot count the server's PostgreSQL connections: {e:#}"))
            .ok(),
        None => None,
    };
    let window_end = shared
        .exhausted_at
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .map_or(shared.deadline, |at| at.min(shared.deadline));

    let mut latencies = Vec::new();
    let (mut ok, mut errors, mut first_errors) = (0u64, 0u64, Vec::new());
    for handle in workers {
        let result = handle.await.context("a client task panicked")?;
        ok += result.ok;
        errors += result.errors;
        first_errors.extend(result.first_errors);
        latencies.extend(
            result
                .measured
                .into_iter()
                .filter(|(start, _)| *start < window_end)
                .map(|(_, latency)| latency),
        );
    }
    server.check_alive()?;
    server.stop().await?;

    latencies.sort_unstable();
    let window = window_end
        .saturating_duration_since(shared.measure_from)
        .as_secs_f64();
    let throughput = if window > 0.0 {
        latencies.len() as f64 / window
    } else {
        0.0
    };
    let (p50, p90, p99, max) = (
        quantile_ms(&latencies, 0.50),
        quantile_ms(&latencies, 0.90),
        quantile_ms(&latencies, 0.99),
        quantile_ms(&latencies, 1.0),
    );
    let measured = latencies.len();
    // CPU seconds spent in the window, over the window's wall time (2.0 = two cores busy).
    let cpu_window = window_end
        .min(Instant::now())
        .saturating_duration_since(shared.measure_from)
        .as_secs_f64()
        .max(f64::EPSILON);
    let cpu = CpuUse::between(&before, &after);
    let per_request = |cpu: f64| cpu / measured.max(1) as f64 * 1e6;

    println!();
    let storage = match (&db, args.pool_size) {
        (None, _) => "SQLite".to_owned(),
        (Some(_), Some(size)) => format!("PostgreSQL, pool {size}"),
        (Some(_), None) => "PostgreSQL, server's default pool".to_owned(),
    };
    println!(
        "charges on {storage}: {} clients, signed requests: {}, signed responses: {}, warm-up {:.1} s, measured {:.2} s",
        args.clients,
        args.signed,
        args.sign_responses,
        args.warmup.as_secs_f64(),
        window
    );
    if let Some(at) = *shared
        .exhausted_at
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
    {
        println!(
            "  NOTE: the pre-signed requests ran out {:.2} s into the measured run; it ended \
             there (raise --presign)",
            at.saturating_duration_since(shared.measure_from)
                .as_secs_f64()
        );
    }
    println!("  requests   {measured} measured ({ok} ok in all, {errors} errors)");
    println!("  throughput {} req/s", thousands(throughput));
    println!("  latency    p50 {p50:.2} ms  p90 {p90:.2} ms  p99 {p99:.2} ms  max {max:.2} ms");
    print_cpu(&cpu, cpu_window, measured, "request", None);
    if let (Some((idle, _)), Some((loaded, peak))) = (idle_memory, loaded_memory) {
        let mib = |kib: u64| kib as f64 / 1024.0;
        println!(
            "  server memory (resident) {:.1} MiB idle after start, {:.1} MiB at the end of the run, peak {:.1} MiB",
            mib(idle),
            mib(loaded),
            mib(peak)
        );
    }
    if let Some((all, tls)) = connections {
        println!(
            "  PostgreSQL connections of the server: {all}, {tls} of them with TLS \
             (`?sslmode=disable` in the URL turns it off)"
        );
    }
    let yes_no = |flag: bool| if flag { "yes" } else { "no" }.to_owned();
    let mut row = vec![("clients", "---:", args.clients.to_string())];
    if db.is_some() {
        let pool = args.pool_size.map_or("16".to_owned(), |n| n.to_string());
        row.push(("pool", "---:", pool));
    }
    row.extend([
        ("signed requests", ":---:", yes_no(args.signed)),
        ("signed responses", ":---:", yes_no(args.sign_responses)),
        ("req/s", "---:", thousands(throughput)),
        ("p50 ms", "---:", format!("{p50:.2}")),
        ("p90 ms", "---:", format!("{p90:.2}")),
        ("p99 ms", "---:", format!("{p99:.2}")),
        ("max ms", "---:", format!("{max:.2}")),
        ("errors", "---:", errors.to_string()),
        (
            "server CPU µs/req",
            "---:",
            micros(cpu.server.map(per_request)),
        ),
    ]);
    if db.is_some() {
        row.push((
            "PostgreSQL CPU µs/req",
            "---:",
            micros(cpu.database.map(per_request)),
        ));
    }
    println!();
    print_table(&[row]);

    if !args.no_ceilings {
        eprintln!("\nmeasuring ceilings…");
        let connections = postgres_ceiling_connections(args.pool_size);
        let postgres = db.as_ref().map(|db| (db.url.as_str(), &connections[..]));
        let c = ceilings::measure(dir.path(), postgres, args.ceiling_time, with_openssl).await?;
        print_ceilings(&c);
    }

    if errors > 0 {
        bail!(
            "{errors} of {} requests failed; first: {}",
            ok + errors,
            first_errors.join(" | ")
        );
    }
    if measured == 0 {
        bail!("no request completed in the measured window");
    }
    Ok(())
}

/// A cell of a markdown table: its column's header and alignment, and its value.
type Cell<'a> = (&'a str, &'a str, String);

/// A markdown table; the first row's cells name the columns.
fn print_table(rows: &[Vec<Cell>]) {
    let Some(first) = rows.first() else { return };
    let line = |cells: Vec<&str>| println!("| {} |", cells.join(" | "));
    line(first.iter().map(|c| c.0).collect());
    println!(
        "|{}|",
        first.iter().map(|c| c.1).collect::<Vec<_>>().join("|")
    );
    for row in rows {
        line(row.iter().map(|c| c.2.as_str()).collect());
    }
}

/// Whole microseconds, or "–" when unknown.
fn micros(us: Option<f64>) -> String {
    us.map_or("–".to_owned(), |us| format!("{us:.0}"))
}

fn print_ceilings(c: &ceilings::Ceilings) {
    println!();
    println!("ceilings on this machine:");
    println!();
    let inserts: Vec<Vec<Cell>> = c
        .inserts
        .iter()
        .map(|i| {
            vec![
                ("bare durable insert", ":---", i.engine.clone()),
                ("connections", "---:", i.connections.to_string()),
                ("rows per commit", "---:", i.rows_per_commit.to_string()),
                ("rows/s", "---:", thousands(i.rows_per_sec)),
                (
                    "p99 ms per commit",
                    "---:",
                    format!("{:.2}", i.p99_commit_ms),
                ),
                ("client CPU µs/row", "---:", micros(i.client_cpu_us)),
                ("PostgreSQL CPU µs/row", "---:", micros(i.postgres_cpu_us)),
            ]
        })
        .collect();
    print_table(&inserts);
    println!();
    print_rsa_ceilings(c.rsa_sign, c.openssl_sign);
}

fn print_rsa_ceilings(rsa_sign: f64, openssl_sign: Option<f64>) {
    print_table(&[vec![
        (
            "RSA-2048 sign/s 1 core (paymux_crypto)",
            "---:",
            thousands(rsa_sign),
        ),
        (
            "openssl speed sign/s",
            "---:",
            openssl_sign.map_or_else(|| "–".to_owned(), thousands),
        ),
    ]]);
}

/// 12345.6 → "12,346".
fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_numbers() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert!(parse_duration("soon").is_err());
        assert_eq!(thousands(4321.4), "4,321");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1_234_567.0), "1,234,567");
    }

    #[test]
    fn quantiles_are_nearest_rank() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert!((quantile_ms(&v, 0.5) - 50.0).abs() < 1e-9);
        assert!((quantile_ms(&v, 0.99) - 99.0).abs() < 1e-9);
        assert!((quantile_ms(&v, 1.0) - 100.0).abs() < 1e-9);
    }

    #[test]
    fn body_order_no_is_8_to_20_alphanumerics() {
        let body = charge_body("app_x", 42);
        let value: serde_json::Value = serde_json::from_str(&body).expect("json");
        let order_no = value["order_no"].as_str().expect("order_no");
        assert!((8..=20).contains(&order_no.len()));
        assert!(order_no.chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
