//! What an operator watches, in Prometheus's text format at `/metrics`: requests by route and
//! status with their latency, charges created, events written (paid charges, refunds by final
//! state), webhook attempts and their lag, calls to the channels, and, read from the store at
//! each scrape, readiness, jobs due, deliveries pending or failed per endpoint, and the
//! connection pool.
//! Labels are bounded: routes are templates, never paths; no ids but webhook endpoints'.

use crate::state::AppState;
use crate::store::StoreResult;
use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sqlx::Row;
use std::sync::OnceLock;
use std::time::Duration;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Latency buckets, in seconds: from a cached answer to a channel that takes its time.
const SECONDS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// How often histograms fold their observations into buckets between scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Writes committed together by the SQLite writer.
const BATCH: [f64; 10] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

/// Installs the process's recorder once (the first caller wins; later ones share it).
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS)
                .ok()?
                .set_buckets_for_metric(Matcher::Full("paymux_db_write_batch_size".into()), &BATCH)
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            // Histograms keep every observation until they are folded into their buckets,
            // which a scrape does; unscraped, memory would grow with every request.
            let upkeep = handle.clone();
            std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(UPKEEP_EVERY);
                        upkeep.run_upkeep();
                    }
                })
                .ok()?;
            Some(handle)
        })
        .as_ref()
}

/// `paymux_build_info{version,commit} 1`, from the binary that knows its commit.
pub fn build_info(version: &'static str, commit: &'static str) {
    install();
    gauge!("paymux_build_info", "version" => version, "commit" => commit).set(1.0);
}

fn mode(livemode: bool) -> &'static str {
    if livemode { "live" } else { "test" }
}

/// One HTTP request answered.
pub fn request(route: &str, method: &str, status: u16, elapsed: Duration) {
    let labels = [("route", route.to_owned()), ("method", method.to_owned())];
    counter!(
        "paymux_http_requests_total",
        &[
            ("route", route.to_owned()),
            ("method", method.to_owned()),
            ("status", status.to_string()),
        ]
    )
    .increment(1);
    histogram!("paymux_http_request_duration_seconds", &labels).record(elapsed.as_secs_f64());
}

pub fn charge_created(channel: &str, livemode: bool) {
    counter!("paymux_charges_created_total", "channel" => channel.to_owned(), "mode" => mode(livemode))
        .increment(1);
}

/// A charge paid (its `charge.succeeded` written).
pub fn charge_paid(channel: &str, livemode: bool) {
    counter!("paymux_charges_paid_total", "channel" => channel.to_owned(), "mode" => mode(livemode))
        .increment(1);
}

/// An event written with the change it describes: `charge.succeeded` counts paid charges,
/// `refund.succeeded` and `refund.failed` refunds by their final state. (Counted as the change
/// is written; a write whose commit then fails, which only a failing disk causes, is counted
/// all the same.)
pub fn event(kind: &str, livemode: bool) {
    counter!("paymux_events_total", "type" => kind.to_owned(), "mode" => mode(livemode))
        .increment(1);
}

/// One webhook attempt: `delivered`, `retrying` or `failed` (its last), and how late it
/// started after it was due.
pub fn webhook_attempt(outcome: &'static str, lag_ms: i64, elapsed_ms: i64) {
    counter!("paymux_webhook_attempts_total", "outcome" => outcome).increment(1);
    histogram!("paymux_webhook_delivery_lag_seconds").record(lag_ms.max(0) as f64 / 1000.0);
    histogram!("paymux_webhook_attempt_duration_seconds").record(elapsed_ms.max(0) as f64 / 1000.0);
}

/// One call to a channel's API: `answered` (whatever the answer said) or `unreachable`.
pub fn channel_call(provider: &'static str, operation: &str, answered: bool, elapsed: Duration) {
    let outcome = if answered { "answered" } else { "unreachable" };
    let labels = [
        ("provider", provider.to_owned()),
        ("operation", operation.to_owned()),
    ];
    counter!(
        "paymux_channel_calls_total",
        &[
            ("provider", provider.to_owned()),
            ("operation", operation.to_owned()),
            ("outcome", outcome.to_owned()),
        ]
    )
    .increment(1);
    histogram!("paymux_channel_call_duration_seconds", &labels).record(elapsed.as_secs_f64());
}

/// The SQLite writer committed a batch of `size` writes in `elapsed`.
pub fn write_batch(size: usize, elapsed: Duration) {
    histogram!("paymux_db_write_batch_size").record(size as f64);
    histogram!("paymux_db_commit_duration_seconds").record(elapsed.as_secs_f64());
}

/// The text of `/metrics`: the recorded metrics, with the store's gauges read now.
pub async fn render(state: &AppState) -> StoreResult<String> {
    let Some(handle) = install() else {
        return Ok(String::new());
    };
    let now_ms = state.clock.now_ms();
    let ready = state.db.readiness().await.is_ok();
    gauge!("paymux_ready").set(if ready { 1.0 } else { 0.0 });
    let pool = state.db.reader();
    gauge!("paymux_db_pool_connections").set(f64::from(pool.size()));
    gauge!("paymux_db_pool_idle_connections").set(pool.num_idle() as f64);
    let mut conn = pool.acquire().await?;
    let row = sqlx::query(
        "SELECT COUNT(*) AS due, MIN(due_at_ms) AS oldest FROM jobs WHERE due_at_ms <= $1",
    )
    .bind(now_ms)
    .fetch_one(&mut *conn)
    .await?;
    let due: i64 = row.try_get("due")?;
    let oldest: Option<i64> = row.try_get("oldest")?;
    gauge!("paymux_jobs_due").set(due as f64);
    gauge!("paymux_jobs_oldest_due_age_seconds")
        .set(oldest.map_or(0.0, |at| (now_ms - at).max(0) as f64 / 1000.0));
    let rows = sqlx::query(
        "SELECT e.id, e.livemode, \
         CAST(COALESCE(SUM(CASE WHEN d.status = 'pending' THEN 1 ELSE 0 END), 0) AS BIGINT) AS pending, \
         CAST(COALESCE(SUM(CASE WHEN d.status = 'failed' THEN 1 ELSE 0 END), 0) AS BIGINT) AS failed \
         FROM webhook_endpoints e LEFT JOIN webhook_deliveries d \
         ON d.endpoint_id = e.id AND d.status IN ('pending', 'failed') \
         WHERE e.removed = 0 GROUP BY e.id, e.livemode",
    )
    .fetch_all(&mut *conn)
    .await?;
    for row in &rows {
        let endpoint: String = row.try_get("id")?;
        let livemode = crate::store::flag(row, "livemode")?;
        for status in ["pending", "failed"] {
            let count: i64 = row.try_get(status)?;
            gauge!("paymux_webhook_deliveries", "endpoint" => endpoint.clone(), "mode" => mode(livemode), "status" => status)
                .set(count as f64);
        }
    }
    Ok(handle.render())
}
