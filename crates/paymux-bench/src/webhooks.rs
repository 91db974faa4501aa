//! `paymux-bench webhooks`: how fast the gateway delivers webhooks, and how soon after an event
//! is committed its first attempt reaches the merchant; next to the RSA-2048 signing ceiling,
//! since every event's delivery is signed once with the platform key.
//!
//! 1. **Delivery throughput.** `paymux init`, then, with no server running, the benchmark opens
//!    the store in-process through the `paymux_server` library and makes the backlog the
//!    gateway's own way: an endpoint (`webhooks::endpoints::create`) pointing at a local
//!    receiver, then N test-mode scan charges (`payments::charges::create`), each paid at once
//!    and so recording `charge.succeeded` with its delivery in the same transaction. It closes
//!    the store, starts the receiver and `paymux serve`, and times the deliveries from the first
//!    to the last arriving at the receiver.
//! 2. **First-attempt delay.** With the same server, receiver and endpoint, it creates scan
//!    charges over HTTP open-loop at a fixed rate, and measures per event the time from the
//!    create response having been read (the event is committed by then) to the receiver getting
//!    the event's first attempt, matched by the charge id in `data.object.id`.
//! 3. **Ceilings** in the same run: RSA-2048 sign/s on one core, paymux_crypto's and
//!    `openssl speed`'s.
//!
//! The receiver is an axum server on 127.0.0.1 in this process, on a tokio runtime of its own
//! whose threads are named `receiver`, so its CPU is reported apart from the rest of the
//! benchmark. It answers every POST `200` at once and only records when it arrived; it checks
//! both signatures of one request in [`CHECK_EVERY`], to show the bytes are signed.

use crate::ceilings;
use crate::server::{self, Paymux, Server};
use crate::{
    CpuUse, Database, cpu_sample, parse_duration, print_cpu, print_rsa_ceilings, print_table,
    quantile_ms, temp_dir, thousands,
};
use anyhow::{Context, bail};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use clap::{ArgAction, Args};
use paymux_crypto::VerifyingKey;
use paymux_server::api::params::BodyParams;
use paymux_server::domain::Caller;
use paymux_server::domain::channel::Channel;
use paymux_server::payments::charges::{self, NewCharge};
use paymux_server::store::Db;
use paymux_server::webhooks::endpoints::{self, EndpointChange};
use paymux_server::{AppState, Settings, SharedClock, SystemClock, bootstrap};
use paymux_webhook::{
    EndpointSecret, ID_HEADER, PINGPP_SIGNATURE_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER,
    verify_pingpp,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Args)]
pub struct WebhooksArgs {
    /// The `paymux` binary to benchmark
    #[arg(long, default_value = "target/release/paymux")]
    server_bin: PathBuf,
    /// Part 1: events in the backlog (one `charge.succeeded` each)
    #[arg(long, default_value_t = 20_000)]
    events: usize,
    /// Part 2: charges created per second, open loop
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    /// Part 2: how long to create them (e.g. 10s, 500ms)
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Have the server sign every API response (its `--sign-responses`); webhooks are signed
    /// either way
    #[arg(long, default_value_t = false, action = ArgAction::Set)]
    sign_responses: bool,
    /// The server's `--webhook-concurrency`, attempts in flight per endpoint [default: the
    /// server's, 8]
    #[arg(long)]
    webhook_concurrency: Option<i64>,
    /// Give up on missing deliveries once none has arrived for this long
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    wait: Duration,
    /// Parent of the temporary data directory (use the disk you care about) [default: temp dir]
    #[arg(long)]
    data_root: Option<PathBuf>,
    /// Run on PostgreSQL: a fresh database `paymux_bench_<pid>` next to the one this URL names
    /// (postgres://user@host:port/db), dropped afterwards [default: SQLite in the data directory]
    #[arg(long)]
    pub database_url: Option<String>,
    /// The server's PostgreSQL pool (its `--database-pool-size`) [default: the server's, 16]
    #[arg(long, requires = "database_url")]
    pool_size: Option<u32>,
    /// Seconds of paymux_crypto's RSA sign/s measurement
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    ceiling_time: Duration,
    /// Skip the ceilings
    #[arg(long)]
    no_ceilings: bool,
    /// Quick check that everything works (100 events, 100/s for 1 s, short RSA ceiling, no openssl)
    #[arg(long)]
    smoke: bool,
}

/// The receiver's runtime threads: its CPU is theirs.
const RECEIVER_THREAD: &str = "receiver";
/// The receiver checks both signatures of one request in this many.
const CHECK_EVERY: usize = 1000;
/// Tasks creating the backlog side by side (so the SQLite writer commits them in batches).
const BACKLOG_TASKS: usize = 64;
/// The PostgreSQL statement timeout of the in-process store (the server's default).
const STATEMENT_TIMEOUT_MS: u64 = 10_000;
/// How often the benchmark looks at the receiver's count while waiting.
const POLL: Duration = Duration::from_millis(2);
/// A payment code and terminal that the test-mode `alipay_scan` channel accepts.
const SCAN_CODE: &str = "286648048691290423";
const TERMINAL_ID: &str = "T1";

pub async fn run(mut args: WebhooksArgs, db: Option<Database>) -> anyhow::Result<()> {
    let mut with_openssl = true;
    if args.smoke {
        args.events = 100;
        args.rate = 100.0;
        args.duration = Duration::from_secs(1);
        args.ceiling_time = Duration::from_millis(300);
        with_openssl = false;
    }
    if args.events < 2 {
        bail!("--events must be at least 2");
    }
    if !(args.rate.is_finite() && args.rate > 0.0) {
        bail!("--rate must be a positive number of events per second");
    }
    let planned = (args.rate * args.duration.as_secs_f64()).round();
    if planned < 1.0 {
        bail!("--rate × --duration must come to at least one event");
    }
    let planned = planned as usize;
    let on_postgres = db.is_some();
    let storage = match (&db, args.pool_size) {
        (None, _) => "SQLite".to_owned(),
        (Some(_), Some(size)) => format!("PostgreSQL, pool {size}"),
        (Some(_), None) => "PostgreSQL, server's default pool (16)".to_owned(),
    };

    let dir = temp_dir(args.data_root.as_deref())?;
    let data_dir = dir.path().join("data");
    let paymux = Paymux::new(
        &args.server_bin,
        &data_dir,
        db.as_ref().map(|db| (db.url.as_str(), args.pool_size)),
    )?;
    let credentials = paymux.init().await?;

    // The receiver's port is reserved now, so the endpoint can name it; it starts serving only
    // once the backlog is made.
    let mut receiver = Receiver::bind()?;
    eprintln!(
        "making a backlog of {} events in-process (no server running)…",
        args.events
    );
    let backlog = {
        // The server library's write closures make futures that rustc cannot prove `Send`
        // (higher-ranked lifetimes), so this one runs on a blocking thread of the runtime.
        let runtime = tokio::runtime::Handle::current();
        let (dir, url) = (data_dir.clone(), receiver.url.clone());
        let database_url = db.as_ref().map(|db| db.url.clone());
        let (pool_size, events) = (args.pool_size, args.events);
        tokio::task::spawn_blocking(move || {
            runtime.block_on(make_backlog(
                &dir,
                database_url.as_deref(),
                pool_size,
                &url,
                events,
            ))
        })
        .await
        .context("making the backlog panicked")??
    };
    eprintln!(
        "  {} charges and their charge.succeeded deliveries made in {:.1} s",
        backlog.charge_ids.len(),
        backlog.took.as_secs_f64()
    );
    receiver.start(backlog.checker)?;

    let mut extra = Vec::new();
    if let Some(concurrency) = args.webhook_concurrency {
        extra.extend(["--webhook-concurrency".to_owned(), concurrency.to_string()]);
    }
    let log = dir.path().join("server.log");
    let started = Instant::now();
    let mut server = paymux.serve(&log, args.sign_responses, &extra).await?;
    eprintln!(
        "server pid {} at {} on {storage}; receiver at {}",
        server.pid, server.base_url, receiver.url
    );

    // Part 1: the backlog.
    let throughput = deliver_backlog(
        &receiver,
        &mut server,
        &backlog.charge_ids,
        started,
        on_postgres,
        args.wait,
    )
    .await?;
    let concurrency = args
        .webhook_concurrency
        .map_or_else(|| "8 (server default)".to_owned(), |n| n.to_string());
    println!();
    println!(
        "webhooks on {storage}: server --sign-responses {}, --webhook-concurrency {concurrency}",
        args.sign_responses
    );
    println!();
    println!(
        "part 1: delivery throughput, a backlog of {} charge.succeeded events \
         (made through paymux_server in {:.1} s before the server started)",
        args.events,
        backlog.took.as_secs_f64()
    );
    throughput.print();

    // Part 2: events at a fixed rate.
    eprintln!(
        "\ncreating {planned} scan charges at {}/s for {:.1} s…",
        args.rate,
        args.duration.as_secs_f64()
    );
    let delay = first_attempt_delay(
        &receiver,
        &mut server,
        &credentials,
        args.rate,
        args.duration,
        planned,
        on_postgres,
        args.wait,
    )
    .await?;
    println!();
    println!(
        "part 2: first-attempt delay, scan charges created over HTTP at {}/s (open loop) for {:.1} s",
        args.rate,
        args.duration.as_secs_f64()
    );
    delay.print();
    let checked = receiver.checked()?;
    println!();
    println!(
        "signatures: the receiver checked {checked} requests (1 in {CHECK_EVERY}): \
         X-Pingplusplus-Signature and webhook-signature, all valid"
    );
    server.check_alive()?;
    server.stop().await?;
    drop(receiver);

    let rsa = if args.no_ceilings {
        None
    } else {
        eprintln!("\nmeasuring the RSA ceilings…");
        Some(ceilings::rsa(args.ceiling_time, with_openssl).await?)
    };
    if let Some(rsa) = &rsa {
        println!();
        println!("ceilings on this machine:");
        println!();
        print_rsa_ceilings(rsa.rsa_sign, rsa.openssl_sign);
    }

    let openssl = rsa.as_ref().and_then(|r| r.openssl_sign);
    let percent = openssl.map(|o| throughput.per_sec / o * 100.0);
    let mut row = vec![("events", "---:", thousands(args.events as f64))];
    if on_postgres {
        let pool = args.pool_size.map_or("16".to_owned(), |n| n.to_string());
        row.push(("pool", "---:", pool));
    }
    row.extend([
        ("deliveries/s", "---:", thousands(throughput.per_sec)),
        (
            "% of openssl rsa2048 sign/s",
            "---:",
            percent.map_or("–".to_owned(), |p| format!("{p:.0}%")),
        ),
        (
            "server CPU µs/delivery",
            "---:",
            throughput.per_unit(throughput.cpu.server),
        ),
        (
            "receiver CPU µs/delivery",
            "---:",
            throughput.per_unit(Some(throughput.cpu.client_threads_named(RECEIVER_THREAD))),
        ),
    ]);
    if on_postgres {
        row.push((
            "PostgreSQL CPU µs/delivery",
            "---:",
            throughput.per_unit(throughput.cpu.database),
        ));
    }
    row.push((
        "other cores",
        "---:",
        throughput.cpu.other().map_or("–".to_owned(), |o| {
            format!("{:.2}", (o / throughput.cpu_wall).max(0.0))
        }),
    ));
    println!();
    print_table(&[row]);

    let mut row = vec![
        ("rate/s", "---:", thousands(args.rate)),
        ("events", "---:", delay.sent.to_string()),
        ("arrived", "---:", delay.delays.len().to_string()),
        ("p50 ms", "---:", format!("{:.2}", delay.quantile(0.50))),
        ("p90 ms", "---:", format!("{:.2}", delay.quantile(0.90))),
        ("p99 ms", "---:", format!("{:.2}", delay.quantile(0.99))),
        ("max ms", "---:", format!("{:.2}", delay.quantile(1.0))),
        (
            "server CPU µs/event",
            "---:",
            delay.per_unit(delay.cpu.server),
        ),
    ];
    if on_postgres {
        row.push((
            "PostgreSQL CPU µs/event",
            "---:",
            delay.per_unit(delay.cpu.database),
        ));
    }
    println!();
    print_table(&[row]);

    println!();
    // The targets: all of one core's signing rate on SQLite (the work can use both cores),
    // 70% of it on PostgreSQL, which shares the machine with the server.
    let goal = if on_postgres { 70.0 } else { 100.0 };
    match (percent, openssl) {
        (Some(percent), Some(openssl)) => println!(
            "target: deliveries/s ≥ {goal:.0}% of openssl's single-core rsa2048 sign/s: {}/s = \
             {percent:.0}% of {}/s: {}",
            thousands(throughput.per_sec),
            thousands(openssl),
            if percent >= goal { "met" } else { "NOT met" }
        ),
        _ => println!(
            "target: deliveries/s ≥ {goal:.0}% of openssl's single-core rsa2048 sign/s: {}/s \
             (openssl not measured)",
            thousands(throughput.per_sec)
        ),
    }
    let p99 = delay.quantile(0.99);
    println!(
        "target: p99 first-attempt delay ≤ 50 ms at 1,000 events/s: {p99:.2} ms at {}/s: {}",
        args.rate,
        if args.rate < 1000.0 {
            "not measured at 1,000/s"
        } else if p99 <= 50.0 {
            "met"
        } else {
            "NOT met"
        }
    );
    Ok(())
}

/// The backlog as made before the server started.
struct Backlog {
    charge_ids: HashSet<String>,
    checker: Checker,
    took: Duration,
}

/// Opens the store in-process, makes the endpoint and `events` paid scan charges the
/// gateway's own way, checks that each left one pending delivery, and closes the store.
async fn make_backlog(
    data_dir: &Path,
    database_url: Option<&str>,
    pool_size: Option<u32>,
    url: &str,
    events: usize,
) -> anyhow::Result<Backlog> {
    let store = match database_url {
        None => Db::open_sqlite(data_dir)
            .await
            .with_context(|| format!("cannot open the SQLite store in {}", data_dir.display()))?,
        Some(url) => Db::open_postgres(url, pool_size.unwrap_or(16), STATEMENT_TIMEOUT_MS)
            .await
            .context("cannot open the PostgreSQL store")?,
    };
    let made = fill_backlog(&store, data_dir, url, events).await;
    // With every clone of the handle gone, the SQLite writer task ends and closes its connection.
    store.reader().close().await;
    drop(store);
    made
}

async fn fill_backlog(
    store: &Db,
    data_dir: &Path,
    url: &str,
    events: usize,
) -> anyhow::Result<Backlog> {
    let clock: SharedClock = Arc::new(SystemClock);
    let now = clock.now_secs();
    let credentials = bootstrap::credentials(store, data_dir, now).await?;
    let platform_key = bootstrap::ensure_platform_key(store, now, None).await?;
    let platform = VerifyingKey::from_pem(&platform_key.public_key_pem()?)
        .context("the platform public key does not parse")?;
    let state = AppState::new(store.clone(), clock, Settings::default(), platform_key);

    let account = credentials.account.clone();
    let change = EndpointChange {
        url: Some(url.to_owned()),
        ..EndpointChange::default()
    };
    let (_, secret) = state
        .db
        .write(move |conn| {
            Box::pin(
                async move { endpoints::create(conn, &account, false, change, now, None).await },
            )
        })
        .await
        .context("cannot create the webhook endpoint")?;

    let extra = Channel::AlipayScan
        .validate_extra(BodyParams::from_map(scan_extra(), "extra"))
        .context("the scan charge's extra is refused")?;
    let next = Arc::new(AtomicUsize::new(0));
    let began = Instant::now();
    let tasks: Vec<_> = (0..BACKLOG_TASKS.min(events))
        .map(|_| {
            let (state, next, extra) = (state.clone(), next.clone(), extra.clone());
            let (account, app_id) = (credentials.account.clone(), credentials.app_id.clone());
            tokio::spawn(async move {
                let mut ids = Vec::new();
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= events {
                        return anyhow::Ok(ids);
                    }
                    let caller = Caller {
                        account_id: account.clone(),
                        livemode: false,
                        request_id: paymux_server::ids::api_request(),
                        operator: None,
                    };
                    let new = NewCharge {
                        app_id: app_id.clone(),
                        channel: Channel::AlipayScan,
                        order_no: format!("wb{n:012}"),
                        client_ip: "127.0.0.1".to_owned(),
                        amount: 100,
                        currency: "cny".to_owned(),
                        subject: "bench".to_owned(),
                        body: "bench".to_owned(),
                        description: None,
                        extra: extra.clone(),
                        metadata: Map::new(),
                        time_expire: None,
                    };
                    let charge = charges::create(&state, caller, new, "http://127.0.0.1".into())
                        .await
                        .with_context(|| format!("creating backlog charge {n} failed"))?;
                    ids.push(paid_charge_id(&charge)?);
                }
            })
        })
        .collect();
    let mut charge_ids = HashSet::with_capacity(events);
    for task in tasks {
        charge_ids.extend(task.await.context("a backlog task panicked")??);
    }
    let took = began.elapsed();
    drop(state);
    if charge_ids.len() != events {
        bail!(
            "the backlog has {} distinct charges, not {events}",
            charge_ids.len()
        );
    }
    let pending: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending'")
            .fetch_one(store.reader())
            .await
            .context("cannot count the pending deliveries")?;
    if usize::try_from(pending).ok() != Some(events) {
        bail!("the backlog has {pending} pending deliveries, not {events}");
    }
    Ok(Backlog {
        charge_ids,
        checker: Checker { platform, secret },
        took,
    })
}

fn scan_extra() -> Map<String, Value> {
    let mut extra = Map::new();
    extra.insert("scan_code".into(), json!(SCAN_CODE));
    extra.insert("terminal_id".into(), json!(TERMINAL_ID));
    extra
}

/// The id of a charge object that must be paid (scan charges settle at creation).
fn paid_charge_id(charge: &Value) -> anyhow::Result<String> {
    let id = charge.get("id").and_then(Value::as_str);
    match (id, charge.get("paid")) {
        (Some(id), Some(Value::Bool(true))) => Ok(id.to_owned()),
        _ => bail!("expected a paid charge, got: {charge}"),
    }
}

/// Part 1's results.
struct Throughput {
    events: usize,
    /// From starting `paymux serve` to the first delivery arriving.
    first_after: Duration,
    /// From the first delivery arriving to the last.
    span: Duration,
    per_sec: f64,
    /// Deliveries/s over each quarter of the backlog, in arrival order.
    quarters: Vec<f64>,
    duplicates: usize,
    others: usize,
    /// CPU between the first delivery arriving and the last (as sampled).
    cpu: CpuUse,
    cpu_wall: f64,
    /// Requests the receiver got between the two CPU samples.
    cpu_units: usize,
}

impl Throughput {
    fn per_unit(&self, secs: Option<f64>) -> String {
        crate::micros(secs.map(|s| s / self.cpu_units.max(1) as f64 * 1e6))
    }

    fn print(&self) {
        println!(
            "  first delivery {:.2} s after `paymux serve` was started",
            self.first_after.as_secs_f64()
        );
        println!(
            "  delivered  {} events in {:.2} s (first to last arrival), {} duplicates, {} other requests",
            self.events,
            self.span.as_secs_f64(),
            self.duplicates,
            self.others
        );
        println!(
            "  throughput {} deliveries/s (events − 1 over that span)",
            thousands(self.per_sec)
        );
        let quarters: Vec<String> = self.quarters.iter().map(|q| thousands(*q)).collect();
        println!(
            "    by quarter of the backlog, in arrival order: {} deliveries/s",
            quarters.join(", ")
        );
        println!(
            "  CPU over {:.2} s, {} deliveries (between the samples at the first and the last arrival):",
            self.cpu_wall, self.cpu_units
        );
        print_cpu(
            &self.cpu,
            self.cpu_wall,
            self.cpu_units,
            "delivery",
            Some(RECEIVER_THREAD),
        );
    }
}

/// Part 1: waits for the first delivery, then for every event of the backlog; CPU is sampled
/// at both moments.
async fn deliver_backlog(
    receiver: &Receiver,
    server: &mut Server,
    ids: &HashSet<String>,
    started: Instant,
    on_postgres: bool,
    wait: Duration,
) -> anyhow::Result<Throughput> {
    let waiting = Instant::now();
    while receiver.count() == 0 {
        if waiting.elapsed() > wait {
            server.check_alive()?;
            bail!(
                "no delivery reached the receiver within {:.0} s of starting the server; its log ends:\n{}",
                wait.as_secs_f64(),
                server.log_tail()
            );
        }
        tokio::time::sleep(POLL).await;
    }
    let pid = server.pid;
    let before = cpu_sample(pid, on_postgres);
    let count_before = receiver.count();
    let mut after = None;
    let arrivals = wait_for_ids(receiver, ids, server, wait, |count| {
        after = Some((cpu_sample(pid, on_postgres), count));
    })
    .await?;
    let (after, count_after) = after.context("the receiver's count was never reached")?;
    let mut times: Vec<Instant> = arrivals.first.values().copied().collect();
    times.sort_unstable();
    let (Some(&first), Some(&last)) = (times.first(), times.last()) else {
        bail!("no delivery arrived");
    };
    let span = last.saturating_duration_since(first);
    Ok(Throughput {
        events: ids.len(),
        first_after: first.saturating_duration_since(started),
        span,
        per_sec: (ids.len() - 1) as f64 / span.as_secs_f64().max(f64::EPSILON),
        quarters: quarter_rates(&times),
        duplicates: arrivals.duplicates,
        others: arrivals.others,
        cpu: CpuUse::between(&before, &after),
        cpu_wall: after.at.saturating_duration_since(before.at).as_secs_f64(),
        cpu_units: count_after.saturating_sub(count_before),
    })
}

/// Arrivals per second within each quarter of sorted arrival times (from each quarter's first
/// arrival to the next quarter's first, or to the last arrival).
fn quarter_rates(sorted: &[Instant]) -> Vec<f64> {
    let n = sorted.len();
    if n < 8 {
        return Vec::new();
    }
    (0..4)
        .map(|q| {
            let (from, to) = (q * n / 4, ((q + 1) * n / 4).min(n - 1));
            let secs = sorted[to]
                .saturating_duration_since(sorted[from])
                .as_secs_f64();
            (to - from) as f64 / secs.max(f64::EPSILON)
        })
        .collect()
}

/// Part 2's results.
struct Delay {
    sent: usize,
    /// The rate the creates were actually started at.
    sent_per_sec: f64,
    /// Client-side create latency (send to the response read), sorted.
    creates: Vec<Duration>,
    /// Create response read → first attempt at the receiver, sorted; 0 when the attempt came
    /// first.
    delays: Vec<Duration>,
    /// Attempts that reached the receiver before the client had read the create response.
    early: usize,
    duplicates: usize,
    others: usize,
    /// CPU over the sending window.
    cpu: CpuUse,
    cpu_wall: f64,
}

impl Delay {
    fn quantile(&self, q: f64) -> f64 {
        quantile_ms(&self.delays, q)
    }

    fn per_unit(&self, secs: Option<f64>) -> String {
        crate::micros(secs.map(|s| s / self.sent.max(1) as f64 * 1e6))
    }

    fn print(&self) {
        let created = |q| quantile_ms(&self.creates, q);
        println!(
            "  creates    {} ok, 0 errors, started at {:.1}/s; create latency p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
            self.sent,
            self.sent_per_sec,
            created(0.5),
            created(0.99),
            created(1.0)
        );
        println!(
            "  arrived    {} of {} first attempts ({} before the client had read the create \
             response, counted as 0 ms), {} duplicates, {} other requests",
            self.delays.len(),
            self.sent,
            self.early,
            self.duplicates,
            self.others
        );
        println!(
            "  delay      p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms \
             (create response read → first attempt at the receiver)",
            self.quantile(0.5),
            self.quantile(0.9),
            self.quantile(0.99),
            self.quantile(1.0)
        );
        println!(
            "  CPU over the {:.2} s of sending, per event (create + delivery):",
            self.cpu_wall
        );
        print_cpu(
            &self.cpu,
            self.cpu_wall,
            self.sent,
            "event",
            Some(RECEIVER_THREAD),
        );
    }
}

/// What the create client shares with its request tasks.
struct Creator {
    client: reqwest::Client,
    url: String,
    authorization: String,
    app_id: String,
}

/// Part 2: creates `planned` scan charges over HTTP, one started every 1/`rate` s whatever
/// the earlier ones are doing, then waits for every event's first attempt.
#[allow(clippy::too_many_arguments)]
async fn first_attempt_delay(
    receiver: &Receiver,
    server: &mut Server,
    credentials: &server::Credentials,
    rate: f64,
    duration: Duration,
    planned: usize,
    on_postgres: bool,
    wait: Duration,
) -> anyhow::Result<Delay> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()
        .context("cannot build the HTTP client")?;
    let creator = Arc::new(Creator {
        client,
        url: format!("{}/v1/charges", server.base_url),
        authorization: format!("Bearer {}", credentials.test_secret_key),
        app_id: credentials.app_id.clone(),
    });
    receiver.reset();
    let before = cpu_sample(server.pid, on_postgres);
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(planned);
    let mut last_start = start;
    for n in 0..planned {
        let due = start + Duration::from_secs_f64(n as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
        last_start = Instant::now();
        let creator = creator.clone();
        tasks.push(tokio::spawn(async move {
            let sent = Instant::now();
            let created = create_scan_charge(&creator, n).await;
            created.map(|(id, read)| (id, sent, read))
        }));
    }
    tokio::time::sleep_until((start + duration).into()).await;
    let after = cpu_sample(server.pid, on_postgres);

    let mut created = Vec::with_capacity(planned);
    let mut errors = Vec::new();
    for task in tasks {
        match task.await.context("a create task panicked")? {
            Ok(charge) => created.push(charge),
            Err(error) => errors.push(format!("{error:#}")),
        }
    }
    if !errors.is_empty() {
        errors.truncate(3);
        bail!(
            "{} of {planned} charge creates failed; first: {}",
            planned - created.len(),
            errors.join(" | ")
        );
    }
    let ids: HashSet<String> = created.iter().map(|(id, _, _)| id.clone()).collect();
    if ids.len() != created.len() {
        bail!("the server returned the same charge id for two creates");
    }
    let arrivals = wait_for_ids(receiver, &ids, server, wait, |_| {}).await?;

    let mut creates = Vec::with_capacity(created.len());
    let mut delays = Vec::with_capacity(created.len());
    let mut early = 0;
    for (id, sent, read) in &created {
        creates.push(read.saturating_duration_since(*sent));
        let arrived = arrivals
            .first
            .get(id)
            .with_context(|| format!("no arrival recorded for {id}"))?;
        if arrived < read {
            early += 1;
        }
        delays.push(arrived.saturating_duration_since(*read));
    }
    creates.sort_unstable();
    delays.sort_unstable();
    let send_span = last_start.saturating_duration_since(start).as_secs_f64();
    Ok(Delay {
        sent: created.len(),
        sent_per_sec: if send_span > 0.0 {
            (created.len() - 1) as f64 / send_span
        } else {
            0.0
        },
        creates,
        delays,
        early,
        duplicates: arrivals.duplicates,
        others: arrivals.others,
        cpu: CpuUse::between(&before, &after),
        cpu_wall: after.at.saturating_duration_since(before.at).as_secs_f64(),
    })
}

/// POSTs one scan charge; returns its id and when the whole response had been read. Anything
/// but a `200` with a paid charge is an error.
async fn create_scan_charge(creator: &Creator, n: usize) -> anyhow::Result<(String, Instant)> {
    let body = json!({
        "order_no": format!("wr{n:012}"),
        "app": {"id": creator.app_id},
        "channel": "alipay_scan",
        "amount": 100,
        "client_ip": "127.0.0.1",
        "currency": "cny",
        "subject": "bench",
        "body": "bench",
        "extra": scan_extra(),
    })
    .to_string();
    let response = creator
        .client
        .post(&creator.url)
        .header("Authorization", &creator.authorization)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .context("request failed")?;
    let status = response.status();
    let bytes = response.bytes().await.context("reading the response")?;
    let read = Instant::now();
    if status != reqwest::StatusCode::OK {
        bail!("HTTP {status}: {}", String::from_utf8_lossy(&bytes));
    }
    let charge: Value = serde_json::from_slice(&bytes)
        .with_context(|| format!("response is not JSON: {}", String::from_utf8_lossy(&bytes)))?;
    Ok((paid_charge_id(&charge)?, read))
}

/// Waits until the receiver has had an attempt for every charge in `ids`. Each time its
/// request count reaches what would be enough, calls `reached(count)` (before parsing the
/// bodies, so a CPU sample there is not charged with the parsing). Fails, quoting the server's
/// log, once no request has arrived for `wait` while some are missing.
async fn wait_for_ids(
    receiver: &Receiver,
    ids: &HashSet<String>,
    server: &mut Server,
    wait: Duration,
    mut reached: impl FnMut(usize),
) -> anyhow::Result<Arrivals> {
    let mut needed = ids.len();
    let mut last_count = receiver.count();
    let mut last_progress = Instant::now();
    loop {
        let count = receiver.count();
        if count != last_count {
            last_count = count;
            last_progress = Instant::now();
        }
        if count >= needed {
            reached(count);
            let arrivals = receiver.first_arrivals(ids)?;
            let missing = ids.len() - arrivals.first.len();
            if missing == 0 {
                return Ok(arrivals);
            }
            // Duplicates or stray requests made up the count: wait for the rest.
            needed = count + missing;
        }
        if last_progress.elapsed() > wait {
            server.check_alive()?;
            let arrivals = receiver.first_arrivals(ids)?;
            bail!(
                "{} of {} events never reached the receiver: nothing arrived for {:.0} s \
                 (it got {count} requests); the server's log ends:\n{}",
                ids.len() - arrivals.first.len(),
                ids.len(),
                wait.as_secs_f64(),
                server.log_tail()
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// What the receiver got, by charge.
struct Arrivals {
    /// Each expected charge's first attempt.
    first: HashMap<String, Instant>,
    /// Further attempts for an expected charge.
    duplicates: usize,
    /// Requests for anything else.
    others: usize,
}

/// The fields of an event the benchmark reads.
#[derive(Deserialize)]
struct EventIn {
    #[serde(rename = "type")]
    kind: String,
    data: EventData,
}

#[derive(Deserialize)]
struct EventData {
    object: ObjectId,
}

#[derive(Deserialize)]
struct ObjectId {
    id: String,
}

/// What the receiver checks the signatures with.
struct Checker {
    platform: VerifyingKey,
    secret: EndpointSecret,
}

/// A merchant's webhook receiver on 127.0.0.1, on a tokio runtime of its own.
struct Receiver {
    url: String,
    inbox: Arc<Inbox>,
    listener: Option<std::net::TcpListener>,
    runtime: Option<tokio::runtime::Runtime>,
}

#[derive(Default)]
struct Inbox {
    /// Every request: when it arrived, and its body.
    arrivals: Mutex<Vec<(Instant, Bytes)>>,
    /// `arrivals.len()`, readable without the lock.
    count: AtomicUsize,
    checker: OnceLock<Checker>,
    checked: AtomicUsize,
    failures: Mutex<Vec<String>>,
}

impl Receiver {
    /// Reserves a port on 127.0.0.1; nothing is served until [`Receiver::start`].
    fn bind() -> anyhow::Result<Self> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .context("cannot bind the receiver to 127.0.0.1")?;
        listener.set_nonblocking(true)?;
        let url = format!("http://{}/hook", listener.local_addr()?);
        Ok(Self {
            url,
            inbox: Arc::default(),
            listener: Some(listener),
            runtime: None,
        })
    }

    fn start(&mut self, checker: Checker) -> anyhow::Result<()> {
        if self.inbox.checker.set(checker).is_err() {
            bail!("the receiver was started twice");
        }
        let listener = self
            .listener
            .take()
            .context("the receiver was started twice")?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(RECEIVER_THREAD)
            .enable_all()
            .build()
            .context("cannot start the receiver's runtime")?;
        let listener = {
            let _entered = runtime.enter();
            tokio::net::TcpListener::from_std(listener)?
        };
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(self.inbox.clone());
        runtime.spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                eprintln!("the webhook receiver stopped: {error}");
            }
        });
        self.runtime = Some(runtime);
        Ok(())
    }

    fn count(&self) -> usize {
        self.inbox.count.load(Ordering::Acquire)
    }

    /// Forgets every request so far.
    fn reset(&self) {
        let mut arrivals = self.inbox.lock_arrivals();
        arrivals.clear();
        self.inbox.count.store(0, Ordering::Release);
    }

    /// Each expected charge's first attempt; fails on a body that is not an event.
    fn first_arrivals(&self, ids: &HashSet<String>) -> anyhow::Result<Arrivals> {
        let arrivals = self.inbox.lock_arrivals();
        let mut found = Arrivals {
            first: HashMap::with_capacity(ids.len()),
            duplicates: 0,
            others: 0,
        };
        for (at, body) in arrivals.iter() {
            let event: EventIn = serde_json::from_slice(body).with_context(|| {
                format!(
                    "the receiver got a body that is not an event: {}",
                    String::from_utf8_lossy(body)
                )
            })?;
            let id = event.data.object.id;
            if event.kind != "charge.succeeded" || !ids.contains(&id) {
                found.others += 1;
                continue;
            }
            match found.first.get_mut(&id) {
                Some(first) => {
                    found.duplicates += 1;
                    *first = (*first).min(*at);
                }
                None => {
                    found.first.insert(id, *at);
                }
            }
        }
        Ok(found)
    }

    /// How many requests had both signatures checked; fails if any check failed.
    fn checked(&self) -> anyhow::Result<usize> {
        let failures = self
            .inbox
            .failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(first) = failures.first() {
            bail!(
                "{} of the receiver's signature checks failed; first: {first}",
                failures.len()
            );
        }
        Ok(self.inbox.checked.load(Ordering::Relaxed))
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Inbox {
    fn lock_arrivals(&self) -> std::sync::MutexGuard<'_, Vec<(Instant, Bytes)>> {
        self.arrivals.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Checks both signatures the way a merchant would.
    fn check(&self, headers: &HeaderMap, body: &[u8]) {
        let Some(checker) = self.checker.get() else {
            return;
        };
        let header = |name: &str| {
            headers
                .get(name.to_ascii_lowercase())
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let checked = verify_pingpp(&checker.platform, body, header(PINGPP_SIGNATURE_HEADER))
            .map_err(|e| format!("{PINGPP_SIGNATURE_HEADER}: {e}"))
            .and_then(|()| {
                checker
                    .secret
                    .verify(
                        header(ID_HEADER),
                        header(TIMESTAMP_HEADER),
                        header(SIGNATURE_HEADER),
                        body,
                        now,
                        300,
                    )
                    .map_err(|e| format!("{SIGNATURE_HEADER}: {e}"))
            });
        match checked {
            Ok(()) => {
                self.checked.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => self
                .failures
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(error),
        }
    }
}

/// Records the arrival and answers 200 at once; checks the signatures of one in
/// [`CHECK_EVERY`] requests.
async fn receive(State(inbox): State<Arc<Inbox>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let at = Instant::now();
    let n = {
        let mut arrivals = inbox.lock_arrivals();
        arrivals.push((at, body.clone()));
        inbox.count.fetch_add(1, Ordering::Release)
    };
    if n % CHECK_EVERY == 0 {
        inbox.check(&headers, &body);
    }
    StatusCode::OK
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarters_of_a_steady_stream_have_its_rate() {
        let t0 = Instant::now();
        let times: Vec<Instant> = (0..=100)
            .map(|i| t0 + Duration::from_millis(10 * i))
            .collect();
        let rates = quarter_rates(&times);
        assert_eq!(rates.len(), 4);
        for rate in rates {
            assert!((rate - 100.0).abs() < 1.0, "{rate}");
        }
        assert!(quarter_rates(&times[..5]).is_empty());
    }

    #[test]
    fn scan_charges_are_paid() {
        let paid = json!({"id": "ch_1", "paid": true});
        assert_eq!(paid_charge_id(&paid).expect("paid"), "ch_1");
        assert!(paid_charge_id(&json!({"id": "ch_1", "paid": false})).is_err());
        assert!(paid_charge_id(&json!({"error": {}})).is_err());
    }

    #[test]
    fn the_scan_extra_is_valid_for_alipay_scan() {
        let extra = Channel::AlipayScan
            .validate_extra(BodyParams::from_map(scan_extra(), "extra"))
            .expect("valid");
        assert_eq!(extra["scan_code"], SCAN_CODE);
    }

    #[test]
    fn arrivals_keep_the_first_attempt_per_charge() {
        let receiver = Receiver::bind().expect("bind");
        let event = |id: &str, kind: &str| {
            Bytes::from(json!({"type": kind, "data": {"object": {"id": id}}}).to_string())
        };
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_millis(5);
        receiver.inbox.lock_arrivals().extend([
            (t1, event("ch_a", "charge.succeeded")),
            (t0, event("ch_a", "charge.succeeded")),
            (t1, event("ch_b", "charge.succeeded")),
            (t1, event("ch_c", "charge.succeeded")),
            (t1, event("ch_a", "refund.succeeded")),
        ]);
        let ids: HashSet<String> = ["ch_a".to_owned(), "ch_b".to_owned()].into();
        let found = receiver.first_arrivals(&ids).expect("events");
        assert_eq!(found.first.len(), 2);
        assert_eq!(found.first["ch_a"], t0);
        assert_eq!(found.duplicates, 1);
        assert_eq!(found.others, 2);
    }
}
