//! Webhook endpoints, deliveries (the obligation to deliver one event to one endpoint) and the
//! log of attempts.
//!
//! A delivery is claimed the way jobs are: a worker leases it until `lease_until_ms`, and a
//! worker that dies lets the lease lapse, so another (on any node) attempts it again. Leases also
//! bound each endpoint's concurrency across all nodes: an endpoint is given at most
//! `concurrency` leased deliveries at a time.

use super::flag;
use super::{StoreError, StoreResult};
use crate::domain::webhook::{Attempt, Delivery, DeliveryStatus, Endpoint};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

const ENDPOINT_COLUMNS: &str =
    "id, account_id, livemode, url, events, enabled, description, created";

fn endpoint_from_row(row: &AnyRow) -> StoreResult<Endpoint> {
    let events: String = row.try_get("events")?;
    Ok(Endpoint {
        id: row.try_get("id")?,
        account_id: row.try_get("account_id")?,
        livemode: flag(row, "livemode")?,
        url: row.try_get("url")?,
        events: serde_json::from_str(&events)?,
        enabled: flag(row, "enabled")?,
        description: row.try_get("description")?,
        created: row.try_get("created")?,
    })
}

pub async fn insert_endpoint(
    conn: &mut AnyConnection,
    endpoint: &Endpoint,
    secret: &str,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO webhook_endpoints (id, account_id, livemode, url, events, enabled, secret, \
         description, created) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&endpoint.id)
    .bind(&endpoint.account_id)
    .bind(i64::from(endpoint.livemode))
    .bind(&endpoint.url)
    .bind(serde_json::to_string(&endpoint.events)?)
    .bind(i64::from(endpoint.enabled))
    .bind(secret)
    .bind(endpoint.description.as_deref())
    .bind(endpoint.created)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn update_endpoint(conn: &mut AnyConnection, endpoint: &Endpoint) -> StoreResult<()> {
    sqlx::query(
        "UPDATE webhook_endpoints SET url = $1, events = $2, enabled = $3, description = $4 \
         WHERE id = $5 AND removed = 0",
    )
    .bind(&endpoint.url)
    .bind(serde_json::to_string(&endpoint.events)?)
    .bind(i64::from(endpoint.enabled))
    .bind(endpoint.description.as_deref())
    .bind(&endpoint.id)
    .execute(conn)
    .await?;
    Ok(())
}

/// A live (not removed) endpoint of the account, in either mode.
pub async fn get_endpoint(
    conn: &mut AnyConnection,
    account_id: &str,
    id: &str,
) -> StoreResult<Option<Endpoint>> {
    let sql = format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints \
         WHERE id = $1 AND account_id = $2 AND removed = 0"
    );
    super::optional(
        conn,
        super::sql(sql)
            .bind(id.to_owned())
            .bind(account_id.to_owned()),
        endpoint_from_row,
    )
    .await
}

/// The account's endpoints, oldest first; `livemode` `None` lists both modes.
pub async fn list_endpoints(
    conn: &mut AnyConnection,
    account_id: &str,
    livemode: Option<bool>,
) -> StoreResult<Vec<Endpoint>> {
    let mode = if livemode.is_some() {
        " AND livemode = $2"
    } else {
        ""
    };
    let sql = format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints \
         WHERE account_id = $1 AND removed = 0{mode} ORDER BY created, id"
    );
    let mut query = super::sql(sql).bind(account_id.to_owned());
    if let Some(livemode) = livemode {
        query = query.bind(i64::from(livemode));
    }
    super::all(conn, query, endpoint_from_row).await
}

/// Removes an endpoint: it takes no more events, and its unfinished deliveries are cancelled
/// (they no longer count in their events' `pending_webhooks`). The row stays for the log.
pub async fn remove_endpoint(conn: &mut AnyConnection, id: &str, now_ms: i64) -> StoreResult<()> {
    sqlx::query(
        "UPDATE events SET pending_webhooks = pending_webhooks - \
           (SELECT COUNT(*) FROM webhook_deliveries d \
            WHERE d.event_id = events.id AND d.endpoint_id = $1 AND d.status = 'pending') \
         WHERE id IN (SELECT event_id FROM webhook_deliveries \
                      WHERE endpoint_id = $1 AND status = 'pending')",
    )
    .bind(id)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE webhook_deliveries SET status = $1, finished_ms = $2, lease_until_ms = 0 \
         WHERE endpoint_id = $3 AND status = 'pending'",
    )
    .bind(DeliveryStatus::Cancelled.as_str())
    .bind(now_ms)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE webhook_endpoints SET removed = 1, enabled = 0 WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn insert_delivery(
    conn: &mut AnyConnection,
    delivery: &Delivery,
    account_id: &str,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO webhook_deliveries (id, event_id, endpoint_id, account_id, status, \
         next_attempt_ms, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&delivery.id)
    .bind(&delivery.event_id)
    .bind(&delivery.endpoint_id)
    .bind(account_id)
    .bind(&delivery.status)
    .bind(delivery.next_attempt_ms)
    .bind(delivery.created_ms)
    .execute(conn)
    .await?;
    Ok(())
}

/// Endpoints whose secret is stored in clear: (id, secret).
pub async fn clear_secrets(conn: &mut AnyConnection) -> StoreResult<Vec<(String, String)>> {
    let rows = sqlx::query("SELECT id, secret FROM webhook_endpoints WHERE secret NOT LIKE 'v1:%'")
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|row| Ok((row.try_get("id")?, row.try_get("secret")?)))
        .collect()
}

pub async fn set_secret(conn: &mut AnyConnection, id: &str, secret: &str) -> StoreResult<()> {
    sqlx::query("UPDATE webhook_endpoints SET secret = $1 WHERE id = $2")
        .bind(secret)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Makes a pending delivery due now (a resend while it waits for its next retry).
pub async fn bring_forward(conn: &mut AnyConnection, id: &str, now_ms: i64) -> StoreResult<()> {
    sqlx::query(
        "UPDATE webhook_deliveries SET next_attempt_ms = $1 \
         WHERE id = $2 AND status = 'pending' AND next_attempt_ms > $1",
    )
    .bind(now_ms)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// The webhook body of an event, if one was rendered, and its Ping++ signature, if made yet.
pub async fn event_body(
    conn: &mut AnyConnection,
    event_id: &str,
) -> StoreResult<Option<(Option<String>, Option<String>)>> {
    let row = sqlx::query("SELECT webhook_body, webhook_signature FROM events WHERE id = $1")
        .bind(event_id)
        .fetch_optional(conn)
        .await?;
    row.map(|row| {
        Ok((
            row.try_get("webhook_body")?,
            row.try_get("webhook_signature")?,
        ))
    })
    .transpose()
}

pub async fn set_event_body(
    conn: &mut AnyConnection,
    event_id: &str,
    body: &str,
) -> StoreResult<()> {
    sqlx::query("UPDATE events SET webhook_body = $1 WHERE id = $2 AND webhook_body IS NULL")
        .bind(body)
        .bind(event_id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn add_pending(conn: &mut AnyConnection, event_id: &str, count: i64) -> StoreResult<()> {
    sqlx::query("UPDATE events SET pending_webhooks = pending_webhooks + $1 WHERE id = $2")
        .bind(count)
        .bind(event_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Endpoints with deliveries due now: one probe of the due index per endpoint, which stops at
/// the endpoint's first due delivery, so a pass costs the same with a backlog of any size.
pub async fn due_endpoints(conn: &mut AnyConnection, now_ms: i64) -> StoreResult<Vec<String>> {
    let rows = sqlx::query(
        "SELECT w.id FROM webhook_endpoints w WHERE w.removed = 0 AND EXISTS (SELECT 1 \
         FROM webhook_deliveries d \
         WHERE d.endpoint_id = w.id AND d.status = 'pending' AND d.next_attempt_ms <= $1)",
    )
    .bind(now_ms)
    .fetch_all(conn)
    .await?;
    rows.iter().map(|row| Ok(row.try_get("id")?)).collect()
}

/// Gives up every delivery lease; see `jobs::release_all_leases`.
pub async fn release_all_leases(conn: &mut AnyConnection) -> StoreResult<u64> {
    let done = sqlx::query(
        "UPDATE webhook_deliveries SET lease_until_ms = 0 \
         WHERE status = 'pending' AND lease_until_ms > 0",
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// How many of an endpoint's deliveries are leased now: its attempts in flight, on any node.
/// (`lease_until_ms > 0` is implied by the other condition but spelled out: it is what lets
/// both engines read the leased-deliveries index, whose own condition it is.)
pub async fn busy(conn: &mut AnyConnection, endpoint_id: &str, now_ms: i64) -> StoreResult<i64> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM webhook_deliveries \
         WHERE endpoint_id = $1 AND status = 'pending' AND lease_until_ms > 0 \
         AND lease_until_ms > $2",
    )
    .bind(endpoint_id)
    .bind(now_ms)
    .fetch_one(conn)
    .await?;
    Ok(row.try_get("n")?)
}

/// A delivery leased to this worker, with what its attempt needs.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub delivery_id: String,
    pub event_id: String,
    pub endpoint_id: String,
    /// Attempts recorded so far (this one is number `attempts + 1`).
    pub attempts: i64,
    pub due_ms: i64,
    pub lease_until_ms: i64,
    pub url: String,
    pub secret: String,
    pub body: String,
    pub signature: Option<String>,
}

/// Leases up to `limit` due deliveries of one endpoint until `lease_until_ms`, oldest due first.
pub async fn claim(
    conn: &mut AnyConnection,
    endpoint_id: &str,
    now_ms: i64,
    lease_until_ms: i64,
    limit: i64,
) -> StoreResult<Vec<Claimed>> {
    let skip_locked = if conn.backend_name() == "PostgreSQL" {
        " FOR UPDATE SKIP LOCKED"
    } else {
        ""
    };
    // The outer lease condition is re-checked by PostgreSQL on a row another claimer updated
    // meanwhile, so two nodes never lease the same delivery.
    let sql = format!(
        "UPDATE webhook_deliveries SET lease_until_ms = $1 WHERE id IN \
         (SELECT id FROM webhook_deliveries WHERE endpoint_id = $2 AND status = 'pending' \
          AND next_attempt_ms <= $3 AND lease_until_ms <= $3 \
          ORDER BY next_attempt_ms, id LIMIT $4{skip_locked}) \
         AND lease_until_ms <= $3 RETURNING id"
    );
    let rows = super::sql(sql)
        .bind(lease_until_ms)
        .bind(endpoint_id.to_owned())
        .bind(now_ms)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?;
    let mut claimed = Vec::with_capacity(rows.len());
    for row in &rows {
        let id: String = row.try_get("id")?;
        let row = sqlx::query(
            "SELECT d.id, d.event_id, d.endpoint_id, d.attempts, d.next_attempt_ms, \
                    w.url, w.secret, e.webhook_body, e.webhook_signature \
             FROM webhook_deliveries d \
             JOIN webhook_endpoints w ON w.id = d.endpoint_id \
             JOIN events e ON e.id = d.event_id WHERE d.id = $1",
        )
        .bind(&id)
        .fetch_one(&mut *conn)
        .await?;
        let body: Option<String> = row.try_get("webhook_body")?;
        claimed.push(Claimed {
            delivery_id: id,
            event_id: row.try_get("event_id")?,
            endpoint_id: row.try_get("endpoint_id")?,
            attempts: row.try_get("attempts")?,
            due_ms: row.try_get("next_attempt_ms")?,
            lease_until_ms,
            url: row.try_get("url")?,
            secret: row.try_get("secret")?,
            body: body.ok_or_else(|| {
                StoreError::Inconsistent("a webhook delivery's event has no rendered body".into())
            })?,
            signature: row.try_get("webhook_signature")?,
        });
    }
    Ok(claimed)
}

/// What follows an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterAttempt {
    Succeeded,
    RetryAt(i64),
    Failed,
}

/// Records an attempt and its consequence for the delivery. The delivery is changed only if
/// this worker still holds its lease and it is still pending (an endpoint removed meanwhile
/// cancelled it), so an event's `pending_webhooks` drops exactly once per delivery.
/// `new_signature` is the event's Ping++ signature when the claim found none stored yet.
pub async fn record_attempt(
    conn: &mut AnyConnection,
    attempt: &Attempt,
    lease_until_ms: i64,
    after: AfterAttempt,
    new_signature: Option<&str>,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO webhook_attempts (id, delivery_id, event_id, endpoint_id, number, due_ms, \
         started_ms, url, status_code, latency_ms, response_excerpt, error, succeeded) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(&attempt.id)
    .bind(&attempt.delivery_id)
    .bind(&attempt.event_id)
    .bind(&attempt.endpoint_id)
    .bind(attempt.number)
    .bind(attempt.due_ms)
    .bind(attempt.started_ms)
    .bind(&attempt.url)
    .bind(attempt.status_code)
    .bind(attempt.latency_ms)
    .bind(attempt.response_excerpt.as_deref())
    .bind(attempt.error.as_deref())
    .bind(i64::from(attempt.succeeded))
    .execute(&mut *conn)
    .await?;
    let (status, next_ms, finished_ms) = match after {
        AfterAttempt::Succeeded => (DeliveryStatus::Succeeded, 0, Some(attempt.started_ms)),
        AfterAttempt::RetryAt(due) => (DeliveryStatus::Pending, due, None),
        AfterAttempt::Failed => (DeliveryStatus::Failed, 0, Some(attempt.started_ms)),
    };
    let changed = sqlx::query(
        "UPDATE webhook_deliveries SET status = $1, attempts = $2, next_attempt_ms = $3, \
         finished_ms = $4, lease_until_ms = 0 \
         WHERE id = $5 AND status = 'pending' AND lease_until_ms = $6",
    )
    .bind(status.as_str())
    .bind(attempt.number)
    .bind(next_ms)
    .bind(finished_ms)
    .bind(&attempt.delivery_id)
    .bind(lease_until_ms)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let no_longer_pending = i64::from(changed == 1 && finished_ms.is_some());
    if no_longer_pending == 1 || new_signature.is_some() {
        // One statement for both changes to the event: this runs once per delivery.
        sqlx::query(
            "UPDATE events SET webhook_signature = COALESCE(webhook_signature, $1), \
             pending_webhooks = pending_webhooks - $2 WHERE id = $3",
        )
        .bind(new_signature)
        .bind(no_longer_pending)
        .bind(&attempt.event_id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// When the earliest pending delivery falls due (it may be leased right now; a worker that
/// finds nothing to claim waits for an attempt to end or its next poll).
pub async fn next_due_ms(conn: &mut AnyConnection) -> StoreResult<Option<i64>> {
    let row = sqlx::query(
        "SELECT MIN(next_attempt_ms) AS due FROM webhook_deliveries WHERE status = 'pending'",
    )
    .fetch_one(conn)
    .await?;
    Ok(row.try_get::<Option<i64>, _>("due")?)
}

const DELIVERY_COLUMNS: &str =
    "id, event_id, endpoint_id, status, attempts, next_attempt_ms, created_ms, finished_ms";

pub(crate) fn delivery_from_row(row: &AnyRow) -> StoreResult<Delivery> {
    Ok(Delivery {
        id: row.try_get("id")?,
        event_id: row.try_get("event_id")?,
        endpoint_id: row.try_get("endpoint_id")?,
        status: row.try_get("status")?,
        attempts: row.try_get("attempts")?,
        next_attempt_ms: row.try_get("next_attempt_ms")?,
        created_ms: row.try_get("created_ms")?,
        finished_ms: row.try_get("finished_ms")?,
    })
}

pub async fn deliveries_of_event(
    conn: &mut AnyConnection,
    event_id: &str,
) -> StoreResult<Vec<Delivery>> {
    let sql = format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE event_id = $1 \
         ORDER BY created_ms, id"
    );
    super::all(
        conn,
        super::sql(sql).bind(event_id.to_owned()),
        delivery_from_row,
    )
    .await
}

fn attempt_from_row(row: &AnyRow) -> StoreResult<Attempt> {
    Ok(Attempt {
        id: row.try_get("id")?,
        delivery_id: row.try_get("delivery_id")?,
        event_id: row.try_get("event_id")?,
        endpoint_id: row.try_get("endpoint_id")?,
        number: row.try_get("number")?,
        due_ms: row.try_get("due_ms")?,
        started_ms: row.try_get("started_ms")?,
        url: row.try_get("url")?,
        status_code: row.try_get("status_code")?,
        latency_ms: row.try_get("latency_ms")?,
        response_excerpt: row.try_get("response_excerpt")?,
        error: row.try_get("error")?,
        succeeded: flag(row, "succeeded")?,
    })
}

/// Every attempt at delivering the event, in the order they were made.
pub async fn attempts_of_event(
    conn: &mut AnyConnection,
    event_id: &str,
) -> StoreResult<Vec<Attempt>> {
    super::all(
        conn,
        sqlx::query(
            "SELECT id, delivery_id, event_id, endpoint_id, number, due_ms, started_ms, url, \
             status_code, latency_ms, response_excerpt, error, succeeded \
             FROM webhook_attempts WHERE event_id = $1 ORDER BY started_ms, id",
        )
        .bind(event_id.to_owned()),
        attempt_from_row,
    )
    .await
}
