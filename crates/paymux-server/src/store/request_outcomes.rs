//! `request_outcomes`: the first answer to a request that may be repeated (see
//! `api::repeats`).

use super::StoreResult;
use sqlx::{AnyConnection, Row};

/// Identifies one remembered request: whose, which kind of token, and the token.
#[derive(Debug, Clone)]
pub struct Token {
    pub scope: String,
    pub kind: &'static str,
    pub key: String,
}

/// What is stored under a token that was already taken.
#[derive(Debug)]
pub struct Seen {
    pub fingerprint: String,
    pub started_ms: i64,
    /// `None` while the first request is still running.
    pub outcome: Option<(u16, String)>,
}

/// Takes `token` for a request with `fingerprint`, unless a live entry holds it already (an
/// expired one is replaced). True when taken.
pub async fn claim(
    conn: &mut AnyConnection,
    token: &Token,
    fingerprint: &str,
    now_ms: i64,
    expires_ms: i64,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "INSERT INTO request_outcomes (scope, kind, key, fingerprint, started_ms, expires_ms) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (scope, kind, key) DO UPDATE SET fingerprint = excluded.fingerprint, \
         started_ms = excluded.started_ms, expires_ms = excluded.expires_ms, status = NULL, \
         body = NULL WHERE request_outcomes.expires_ms < $5",
    )
    .bind(&token.scope)
    .bind(token.kind)
    .bind(&token.key)
    .bind(fingerprint)
    .bind(now_ms)
    .bind(expires_ms)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn get(conn: &mut AnyConnection, token: &Token) -> StoreResult<Option<Seen>> {
    let row = sqlx::query(
        "SELECT fingerprint, started_ms, status, body FROM request_outcomes \
         WHERE scope = $1 AND kind = $2 AND key = $3",
    )
    .bind(&token.scope)
    .bind(token.kind)
    .bind(&token.key)
    .fetch_optional(conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let status: Option<i64> = row.try_get("status")?;
    let body: Option<String> = row.try_get("body")?;
    Ok(Some(Seen {
        fingerprint: row.try_get("fingerprint")?,
        started_ms: row.try_get("started_ms")?,
        outcome: status
            .zip(body)
            .map(|(status, body)| (u16::try_from(status).unwrap_or(500), body)),
    }))
}

/// Takes over an entry whose first request has been running since `started_ms` (its process
/// died); false if someone else took it over first.
pub async fn take_over(
    conn: &mut AnyConnection,
    token: &Token,
    started_ms: i64,
    now_ms: i64,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE request_outcomes SET started_ms = $1 WHERE scope = $2 AND kind = $3 \
         AND key = $4 AND started_ms = $5 AND status IS NULL",
    )
    .bind(now_ms)
    .bind(&token.scope)
    .bind(token.kind)
    .bind(&token.key)
    .bind(started_ms)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn record(
    conn: &mut AnyConnection,
    token: &Token,
    status: u16,
    body: Option<&str>,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE request_outcomes SET status = $1, body = $2 \
         WHERE scope = $3 AND kind = $4 AND key = $5",
    )
    .bind(i64::from(status))
    .bind(body.unwrap_or(""))
    .bind(&token.scope)
    .bind(token.kind)
    .bind(&token.key)
    .execute(conn)
    .await?;
    Ok(())
}

/// Forgets a token whose request changed nothing (refused, or the store was unavailable), so
/// that a retry runs afresh.
pub async fn release(conn: &mut AnyConnection, token: &Token) -> StoreResult<()> {
    sqlx::query("DELETE FROM request_outcomes WHERE scope = $1 AND kind = $2 AND key = $3")
        .bind(&token.scope)
        .bind(token.kind)
        .bind(&token.key)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn delete_expired(conn: &mut AnyConnection, now_ms: i64) -> StoreResult<u64> {
    let done = sqlx::query("DELETE FROM request_outcomes WHERE expires_ms < $1")
        .bind(now_ms)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}
