//! The audit log: who did what, when, on whose request; written in the transaction of the
//! change it records.

use super::StoreResult;
use serde_json::{Map, Value};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub id: String,
    pub account_id: String,
    pub created_ms: i64,
    /// The operator's name, or `cli` for the local command line.
    pub actor: String,
    /// What was done, e.g. `operator.add`, `refund.create`.
    pub action: String,
    /// What it was done to (an operator's name, a charge id, …).
    pub target: Option<String>,
    pub detail: Map<String, Value>,
    pub request_id: Option<String>,
}

const COLUMNS: &str = "id, account_id, created_ms, actor, action, target, detail, request_id";

fn from_row(row: &AnyRow) -> StoreResult<AuditEntry> {
    Ok(AuditEntry {
        id: row.try_get("id")?,
        account_id: row.try_get("account_id")?,
        created_ms: row.try_get("created_ms")?,
        actor: row.try_get("actor")?,
        action: row.try_get("action")?,
        target: row.try_get("target")?,
        detail: super::json_map(row, "detail")?,
        request_id: row.try_get("request_id")?,
    })
}

pub async fn record(conn: &mut AnyConnection, entry: &AuditEntry) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO audit_log (id, account_id, created_ms, actor, action, target, detail, \
         request_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&entry.id)
    .bind(&entry.account_id)
    .bind(entry.created_ms)
    .bind(&entry.actor)
    .bind(&entry.action)
    .bind(entry.target.as_deref())
    .bind(super::to_text(&entry.detail))
    .bind(entry.request_id.as_deref())
    .execute(conn)
    .await?;
    Ok(())
}

/// The account's newest entries, newest first.
pub async fn newest(
    conn: &mut AnyConnection,
    account_id: &str,
    limit: i64,
) -> StoreResult<Vec<AuditEntry>> {
    page(conn, account_id, None, None, None, limit).await
}

pub async fn exists(conn: &mut AnyConnection, id: &str) -> StoreResult<bool> {
    let row = sqlx::query("SELECT 1 AS one FROM audit_log WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(row.is_some())
}

/// A page of the account's entries, newest first, older than `before` (created_ms, id) when
/// given; optionally of one actor or one action.
pub async fn page(
    conn: &mut AnyConnection,
    account_id: &str,
    actor: Option<&str>,
    action: Option<&str>,
    before: Option<(i64, String)>,
    limit: i64,
) -> StoreResult<Vec<AuditEntry>> {
    let mut sql = format!("SELECT {COLUMNS} FROM audit_log WHERE account_id = $1");
    let mut n = 1;
    let mut clause = |text: &str, sql: &mut String| {
        n += 1;
        sql.push_str(&text.replace('?', &format!("${n}")));
    };
    if actor.is_some() {
        clause(" AND actor = ?", &mut sql);
    }
    if action.is_some() {
        clause(" AND action = ?", &mut sql);
    }
    if before.is_some() {
        clause(" AND (created_ms < ?", &mut sql);
        clause(" OR (created_ms = ?", &mut sql);
        clause(" AND id < ?))", &mut sql);
    }
    sql.push_str(&format!(" ORDER BY created_ms DESC, id DESC LIMIT {limit}"));
    let mut query = super::sql(sql).bind(account_id.to_owned());
    for value in [actor, action].into_iter().flatten() {
        query = query.bind(value.to_owned());
    }
    if let Some((created_ms, id)) = before {
        query = query.bind(created_ms).bind(created_ms).bind(id);
    }
    super::all(conn, query, from_row).await
}
