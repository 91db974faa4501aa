//! Webhook endpoints, deliveries (the obligation to deliver one event to one endpoint) and the
//! log of attempts.
//!
//! A delivery is claimed the way jobs are: a worker leases it until `lease_until_ms`, and a
//! worker that dies lets the lease lapse, so another (on any node) attempts it again. Leases also
//! bound each endpoint's concurrency across all nodes: an endpoint is given at most
//! `concurrency` leased deliveries at a time.

use super::flag;
use super::{Prelude, StoreError, StoreResult};
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

/// Each endpoint with pending deliveries and when its earliest one falls due (it may be leased
/// right now): one probe of the due index per endpoint, which stops at the endpoint's first
/// pending delivery, so a pass costs the same with a backlog of any size. A removed endpoint
/// has none (its removal cancelled them).
pub async fn earliest_due(conn: &mut AnyConnection) -> StoreResult<Vec<(String, i64)>> {
    let rows = sqlx::query(
        "SELECT id, due FROM (SELECT w.id, (SELECT d.next_attempt_ms \
           FROM webhook_deliveries d WHERE d.endpoint_id = w.id AND d.status = 'pending' \
           ORDER BY d.next_attempt_ms LIMIT 1) AS due \
         FROM webhook_endpoints w WHERE w.removed = 0) e WHERE due IS NOT NULL",
    )
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|row| Ok((row.try_get("id")?, row.try_get("due")?)))
        .collect()
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
    let sql = claim_statement(super::is_postgres(conn), "$1", "$2", "$3", None, limit);
    let rows = super::sql(sql)
        .bind(lease_until_ms)
        .bind(endpoint_id.to_owned())
        .bind(now_ms)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|row| claimed_from_row(row, lease_until_ms))
        .collect()
}

/// The claim as one statement: it leases the endpoint's oldest due deliveries and returns with
/// each what its attempt needs, the endpoint's and the event's columns through subqueries
/// (both engines take them in `RETURNING`). Its arguments are placeholders, so that the claim
/// can follow other statements that use the same numbering; `limit` is written in (see
/// [`super::sql`]). On PostgreSQL the candidates are locked with SKIP LOCKED, and the outer
/// lease condition is checked again on a row another claimer changed meanwhile, so two nodes
/// never lease the same delivery. `from`, if given, is the earliest due time to look at.
fn claim_statement(
    postgres: bool,
    lease: &str,
    endpoint: &str,
    now: &str,
    from: Option<&str>,
    limit: i64,
) -> String {
    let skip_locked = if postgres {
        " FOR UPDATE SKIP LOCKED"
    } else {
        ""
    };
    let from = from.map_or_else(String::new, |from| {
        format!(" AND next_attempt_ms >= {from}")
    });
    format!(
        "UPDATE webhook_deliveries SET lease_until_ms = {lease} WHERE id IN \
         (SELECT id FROM webhook_deliveries WHERE endpoint_id = {endpoint} \
          AND status = 'pending' AND next_attempt_ms <= {now}{from} AND lease_until_ms <= {now} \
          ORDER BY next_attempt_ms, id LIMIT {limit}{skip_locked}) \
         AND lease_until_ms <= {now} \
         RETURNING id, event_id, endpoint_id, attempts, next_attempt_ms, \
         (SELECT w.url FROM webhook_endpoints w \
          WHERE w.id = webhook_deliveries.endpoint_id) AS url, \
         (SELECT w.secret FROM webhook_endpoints w \
          WHERE w.id = webhook_deliveries.endpoint_id) AS secret, \
         (SELECT e.webhook_body FROM events e \
          WHERE e.id = webhook_deliveries.event_id) AS webhook_body, \
         (SELECT e.webhook_signature FROM events e \
          WHERE e.id = webhook_deliveries.event_id) AS webhook_signature"
    )
}

fn claimed_from_row(row: &AnyRow, lease_until_ms: i64) -> StoreResult<Claimed> {
    let body: Option<String> = row.try_get("webhook_body")?;
    Ok(Claimed {
        delivery_id: row.try_get("id")?,
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
    })
}

/// What follows an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterAttempt {
    Succeeded,
    RetryAt(i64),
    Failed,
}

/// An attempt that ended, to be recorded with what follows from it for its delivery.
pub struct EndedAttempt {
    pub attempt: Attempt,
    /// The lease it was made under: the delivery changes only if this worker still holds it.
    pub lease_until_ms: i64,
    pub after: AfterAttempt,
    /// The event's Ping++ signature, when the claim found none stored yet.
    pub new_signature: Option<String>,
}

/// Records an attempt and its consequence for the delivery, and claims the endpoint's next due
/// delivery (leased until `next_lease_ms`, among those due at `look_from_ms` or later), all in
/// one round trip to the database, `prelude` included: this runs once per delivery.
///
/// The delivery is changed only if this worker still holds its lease and it is still pending
/// (an endpoint removed meanwhile cancelled it), so an event's `pending_webhooks` drops exactly
/// once per delivery. PostgreSQL runs it as one statement whose parts pass that on
/// (`done` → `event`); SQLite, which has no writing `WITH`, as four statements sent together,
/// the event first, reading the delivery before it changes (its one writer makes that exact).
pub async fn record_attempt_and_claim_next(
    conn: &mut AnyConnection,
    prelude: Prelude,
    ended: &EndedAttempt,
    now_ms: i64,
    next_lease_ms: i64,
    look_from_ms: i64,
) -> StoreResult<Option<Claimed>> {
    const FINISH_DELIVERY: &str = "UPDATE webhook_deliveries SET status = $5, attempts = $6, \
         next_attempt_ms = $7, finished_ms = $8, lease_until_ms = 0 \
         WHERE id = $1 AND status = 'pending' AND lease_until_ms = $4";
    const EVENT_CHANGES: &str = "UPDATE events SET \
         webhook_signature = COALESCE(webhook_signature, $9), pending_webhooks = pending_webhooks - ";
    const EVENT_WHERE: &str = "WHERE id = $2 AND ($9 IS NOT NULL OR $10 = 1)";
    const INSERT_ATTEMPT: &str = "INSERT INTO webhook_attempts (id, delivery_id, event_id, \
         endpoint_id, number, due_ms, started_ms, url, status_code, latency_ms, response_excerpt, \
         error, succeeded) VALUES ($11, $1, $2, $3, $6, $12, $13, $14, $15, $16, $17, $18, $19)";
    let postgres = super::is_postgres(conn);
    let claim = claim_statement(postgres, "$21", "$3", "$20", Some("$22"), 1);
    let statements = if postgres {
        format!(
            "WITH done AS ({FINISH_DELIVERY} RETURNING id), \
             event AS ({EVENT_CHANGES}(SELECT COUNT(*) FROM done WHERE $10 = 1) {EVENT_WHERE}), \
             attempt AS ({INSERT_ATTEMPT}), \
             next AS ({claim}) \
             SELECT * FROM next"
        )
    } else {
        format!(
            "{EVENT_CHANGES}(SELECT COUNT(*) FROM webhook_deliveries \
               WHERE id = $1 AND status = 'pending' AND lease_until_ms = $4 AND $10 = 1) \
             {EVENT_WHERE}; {FINISH_DELIVERY}; {INSERT_ATTEMPT}; {claim}"
        )
    };
    let sql = prelude.and(statements);
    let attempt = &ended.attempt;
    let (status, next_ms, finished_ms) = match ended.after {
        AfterAttempt::Succeeded => (DeliveryStatus::Succeeded, 0, Some(attempt.started_ms)),
        AfterAttempt::RetryAt(due) => (DeliveryStatus::Pending, due, None),
        AfterAttempt::Failed => (DeliveryStatus::Failed, 0, Some(attempt.started_ms)),
    };
    // $1–$3 the delivery, its event and endpoint; $4 the lease held; $5–$8 the delivery's new
    // state; $9 the new signature; $10 1 if the delivery ends; $11–$19 the attempt's own
    // columns; $20 now; $21 the next delivery's lease; $22 the earliest due time to look at.
    let rows = super::sql(sql)
        .bind(&attempt.delivery_id)
        .bind(&attempt.event_id)
        .bind(&attempt.endpoint_id)
        .bind(ended.lease_until_ms)
        .bind(status.as_str())
        .bind(attempt.number)
        .bind(next_ms)
        .bind(finished_ms)
        .bind(ended.new_signature.as_deref())
        .bind(i64::from(finished_ms.is_some()))
        .bind(&attempt.id)
        .bind(attempt.due_ms)
        .bind(attempt.started_ms)
        .bind(&attempt.url)
        .bind(attempt.status_code)
        .bind(attempt.latency_ms)
        .bind(attempt.response_excerpt.as_deref())
        .bind(attempt.error.as_deref())
        .bind(i64::from(attempt.succeeded))
        .bind(now_ms)
        .bind(next_lease_ms)
        .bind(look_from_ms)
        .fetch_all(&mut *conn)
        .await?;
    rows.first()
        .map(|row| claimed_from_row(row, next_lease_ms))
        .transpose()
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
