//! What the console's overview and cross-object lists read: volumes by channel, refunds
//! waiting, and webhook deliveries that are failing.

use super::StoreResult;
use crate::domain::webhook::Delivery;
use sqlx::{AnyConnection, Row};

/// One channel's charges created since a moment.
#[derive(Debug, Clone)]
pub struct ChannelVolume {
    pub channel: String,
    pub created: i64,
    pub paid: i64,
    /// Fen paid.
    pub amount_paid: i64,
}

pub async fn volume_by_channel(
    conn: &mut AnyConnection,
    app_id: &str,
    livemode: bool,
    since: i64,
) -> StoreResult<Vec<ChannelVolume>> {
    let rows = sqlx::query(
        "SELECT channel, COUNT(*) AS created, CAST(SUM(paid) AS BIGINT) AS paid, \
         CAST(SUM(CASE WHEN paid = 1 THEN amount ELSE 0 END) AS BIGINT) AS amount_paid \
         FROM charges WHERE app_id = $1 AND livemode = $2 AND created >= $3 \
         GROUP BY channel ORDER BY channel",
    )
    .bind(app_id)
    .bind(i64::from(livemode))
    .bind(since)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(ChannelVolume {
                channel: row.try_get("channel")?,
                created: row.try_get("created")?,
                paid: row.try_get("paid")?,
                amount_paid: row.try_get("amount_paid")?,
            })
        })
        .collect()
}

/// How many of the app's refunds are in each unfinished state: (pending, abnormal).
pub async fn open_refunds(
    conn: &mut AnyConnection,
    app_id: &str,
    livemode: bool,
) -> StoreResult<(i64, i64)> {
    let row = sqlx::query(
        "SELECT CAST(COALESCE(SUM(CASE WHEN status = 'pending' THEN 1 ELSE 0 END), 0) AS BIGINT) AS pending, \
         CAST(COALESCE(SUM(CASE WHEN status = 'abnormal' THEN 1 ELSE 0 END), 0) AS BIGINT) AS abnormal \
         FROM refunds WHERE app_id = $1 AND livemode = $2 AND status IN ('pending', 'abnormal')",
    )
    .bind(app_id)
    .bind(i64::from(livemode))
    .fetch_one(conn)
    .await?;
    Ok((row.try_get("pending")?, row.try_get("abnormal")?))
}

/// A delivery that failed or is retrying after a failed attempt, with its endpoint's URL.
#[derive(Debug, Clone)]
pub struct FailingDelivery {
    pub delivery: Delivery,
    pub url: String,
}

const FAILING: &str = "d.account_id = $1 AND e.livemode = $2 \
     AND (d.status = 'failed' OR (d.status = 'pending' AND d.attempts > 0))";

pub async fn failing_deliveries(
    conn: &mut AnyConnection,
    account_id: &str,
    livemode: bool,
    limit: i64,
) -> StoreResult<Vec<FailingDelivery>> {
    let sql = format!(
        "SELECT d.id, d.event_id, d.endpoint_id, d.status, d.attempts, d.next_attempt_ms, \
         d.created_ms, d.finished_ms, e.url FROM webhook_deliveries d \
         JOIN webhook_endpoints e ON e.id = d.endpoint_id WHERE {FAILING} \
         ORDER BY d.created_ms DESC, d.id DESC LIMIT {limit}"
    );
    let rows = super::sql(sql)
        .bind(account_id.to_owned())
        .bind(i64::from(livemode))
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|row| {
            Ok(FailingDelivery {
                delivery: super::webhooks::delivery_from_row(row)?,
                url: row.try_get("url")?,
            })
        })
        .collect()
}

pub async fn count_failing_deliveries(
    conn: &mut AnyConnection,
    account_id: &str,
    livemode: bool,
) -> StoreResult<i64> {
    let sql = format!(
        "SELECT COUNT(*) AS n FROM webhook_deliveries d \
         JOIN webhook_endpoints e ON e.id = d.endpoint_id WHERE {FAILING}"
    );
    let row = super::sql(sql)
        .bind(account_id.to_owned())
        .bind(i64::from(livemode))
        .fetch_one(conn)
        .await?;
    Ok(row.try_get("n")?)
}
