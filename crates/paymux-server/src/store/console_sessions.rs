//! The management console's sign-in sessions and per-operator login throttling. A session is
//! found by the SHA-256 of its cookie's token; the token itself is never stored.

use super::StoreResult;
use crate::operators::Operator;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

/// A live session with its operator as they are now (a role change applies at once).
#[derive(Debug, Clone)]
pub struct Session {
    pub token_hash: String,
    pub operator: Operator,
    pub csrf_token: String,
    pub created_ms: i64,
    pub seen_ms: i64,
    /// The app and mode the operator is looking at.
    pub app_id: String,
    pub livemode: bool,
}

pub async fn insert(conn: &mut AnyConnection, session: &Session) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO console_sessions (token_hash, operator_id, csrf_token, created_ms, seen_ms, \
         app_id, livemode) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&session.token_hash)
    .bind(&session.operator.id)
    .bind(&session.csrf_token)
    .bind(session.created_ms)
    .bind(session.seen_ms)
    .bind(&session.app_id)
    .bind(i64::from(session.livemode))
    .execute(conn)
    .await?;
    Ok(())
}

fn from_row(row: &AnyRow) -> StoreResult<Session> {
    Ok(Session {
        token_hash: row.try_get("token_hash")?,
        operator: super::operators::from_row(row)?,
        csrf_token: row.try_get("csrf_token")?,
        created_ms: row.try_get("created_ms")?,
        seen_ms: row.try_get("seen_ms")?,
        app_id: row.try_get("app_id")?,
        livemode: super::flag(row, "livemode")?,
    })
}

pub async fn get(conn: &mut AnyConnection, token_hash: &str) -> StoreResult<Option<Session>> {
    let sql = format!(
        "SELECT s.token_hash, s.csrf_token, s.created_ms, s.seen_ms, s.app_id, s.livemode, {} \
         FROM console_sessions s JOIN operators o ON o.id = s.operator_id \
         WHERE s.token_hash = $1",
        super::operators::COLUMNS_OF_O
    );
    super::optional(conn, super::sql(sql).bind(token_hash), from_row).await
}

pub async fn touch(conn: &mut AnyConnection, token_hash: &str, now_ms: i64) -> StoreResult<()> {
    sqlx::query("UPDATE console_sessions SET seen_ms = $1 WHERE token_hash = $2")
        .bind(now_ms)
        .bind(token_hash)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn set_context(
    conn: &mut AnyConnection,
    token_hash: &str,
    app_id: &str,
    livemode: bool,
) -> StoreResult<()> {
    sqlx::query("UPDATE console_sessions SET app_id = $1, livemode = $2 WHERE token_hash = $3")
        .bind(app_id)
        .bind(i64::from(livemode))
        .bind(token_hash)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn delete(conn: &mut AnyConnection, token_hash: &str) -> StoreResult<()> {
    sqlx::query("DELETE FROM console_sessions WHERE token_hash = $1")
        .bind(token_hash)
        .execute(conn)
        .await?;
    Ok(())
}

/// Ends every session of an operator (removed, or given a new password).
pub async fn delete_for_operator(conn: &mut AnyConnection, operator_id: &str) -> StoreResult<()> {
    sqlx::query("DELETE FROM console_sessions WHERE operator_id = $1")
        .bind(operator_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Sessions idle since before `idle_before_ms` or begun before `begun_before_ms`.
pub async fn delete_expired(
    conn: &mut AnyConnection,
    idle_before_ms: i64,
    begun_before_ms: i64,
) -> StoreResult<u64> {
    let done = sqlx::query("DELETE FROM console_sessions WHERE seen_ms < $1 OR created_ms < $2")
        .bind(idle_before_ms)
        .bind(begun_before_ms)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

/// An operator's failed sign-ins since the last success, and until when sign-in is refused.
pub async fn login_state(conn: &mut AnyConnection, operator_id: &str) -> StoreResult<(i64, i64)> {
    let row = sqlx::query("SELECT failed_logins, locked_until_ms FROM operators WHERE id = $1")
        .bind(operator_id)
        .fetch_optional(conn)
        .await?;
    match row {
        Some(row) => Ok((
            row.try_get("failed_logins")?,
            row.try_get("locked_until_ms")?,
        )),
        None => Ok((0, 0)),
    }
}

pub async fn set_login_state(
    conn: &mut AnyConnection,
    operator_id: &str,
    failed: i64,
    locked_until_ms: i64,
) -> StoreResult<()> {
    sqlx::query("UPDATE operators SET failed_logins = $1, locked_until_ms = $2 WHERE id = $3")
        .bind(failed)
        .bind(locked_until_ms)
        .bind(operator_id)
        .execute(conn)
        .await?;
    Ok(())
}
