//! Events, written in the same transaction as the change they describe.

use super::StoreResult;
use super::{Page, flag};
use crate::domain::event::Event;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

const COLUMNS: &str =
    "id, account_id, app_id, livemode, created, type, object, pending_webhooks, request_id";

fn from_row(row: &AnyRow) -> StoreResult<Event> {
    let object: String = row.try_get("object")?;
    Ok(Event {
        id: row.try_get("id")?,
        account_id: row.try_get("account_id")?,
        app_id: row.try_get("app_id")?,
        livemode: flag(row, "livemode")?,
        created: row.try_get("created")?,
        kind: row.try_get("type")?,
        object: serde_json::from_str(&object)?,
        pending_webhooks: row.try_get("pending_webhooks")?,
        request_id: row.try_get("request_id")?,
    })
}

/// Inserts an event; `webhook_body` is its rendered body when webhooks will carry it.
pub async fn insert(
    conn: &mut AnyConnection,
    e: &Event,
    webhook_body: Option<&str>,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO events (id, account_id, app_id, livemode, created, type, object, \
         pending_webhooks, request_id, webhook_body, charge_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&e.id)
    .bind(&e.account_id)
    .bind(&e.app_id)
    .bind(i64::from(e.livemode))
    .bind(e.created)
    .bind(&e.kind)
    .bind(e.object.to_string())
    .bind(e.pending_webhooks)
    .bind(e.request_id.as_deref())
    .bind(webhook_body)
    .bind(charge_of(&e.object))
    .execute(conn)
    .await?;
    Ok(())
}

/// The charge an event's object is or belongs to.
fn charge_of(object: &serde_json::Value) -> Option<String> {
    if object.get("object").and_then(|o| o.as_str()) == Some("charge") {
        return object.get("id").and_then(|v| v.as_str()).map(str::to_owned);
    }
    match object.get("charge")? {
        serde_json::Value::String(id) => Some(id.clone()),
        serde_json::Value::Object(charge) => charge.get("id")?.as_str().map(str::to_owned),
        _ => None,
    }
}

/// The events about a charge (and its refunds), oldest first.
pub async fn of_charge(conn: &mut AnyConnection, charge_id: &str) -> StoreResult<Vec<Event>> {
    let sql = format!("SELECT {COLUMNS} FROM events WHERE charge_id = $1 ORDER BY created, id");
    super::all(conn, super::sql(sql).bind(charge_id.to_owned()), from_row).await
}

pub async fn get(
    conn: &mut AnyConnection,
    account_id: &str,
    livemode: bool,
    id: &str,
) -> StoreResult<Option<Event>> {
    let sql =
        format!("SELECT {COLUMNS} FROM events WHERE id = $1 AND account_id = $2 AND livemode = $3");
    super::optional(
        conn,
        super::sql(sql)
            .bind(id)
            .bind(account_id)
            .bind(i64::from(livemode)),
        from_row,
    )
    .await
}

/// A page, newest first, and whether more exist. `kind` filters by event type.
pub async fn list(
    conn: &mut AnyConnection,
    account_id: &str,
    livemode: bool,
    kind: Option<&str>,
    page: &Page,
) -> StoreResult<(Vec<Event>, bool)> {
    let mut sql = format!("SELECT {COLUMNS} FROM events WHERE account_id = $1 AND livemode = $2");
    let mut n = 2;
    if kind.is_some() {
        n += 1;
        sql.push_str(&format!(" AND type = ${n}"));
    }
    let (clause, ascending) = page.clause(n);
    sql.push_str(&clause);
    let mut query = super::sql(sql)
        .bind(account_id.to_owned())
        .bind(i64::from(livemode));
    if let Some(kind) = kind {
        query = query.bind(kind.to_owned());
    }
    let events = super::all(conn, page.bind(query), from_row).await?;
    Ok(super::finish_page(events, page.limit, ascending))
}
