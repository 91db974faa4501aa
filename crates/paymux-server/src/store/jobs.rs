//! Work that must happen later, stored with the change that caused it so a crash cannot lose it.

use crate::error::ApiResult;
use sqlx::{AnyConnection, Row};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: String,
    pub kind: String,
    pub target_id: String,
    pub attempts: i64,
    pub request_id: Option<String>,
}

pub const REFUND_COMPLETE: &str = "refund.complete";

pub async fn schedule(
    conn: &mut AnyConnection,
    kind: &str,
    target_id: &str,
    due_at_ms: i64,
    request_id: Option<&str>,
    now: i64,
) -> ApiResult<()> {
    sqlx::query(
        "INSERT INTO jobs (id, kind, target_id, due_at_ms, request_id, created) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(format!("{kind}:{target_id}"))
    .bind(kind)
    .bind(target_id)
    .bind(due_at_ms)
    .bind(request_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Due jobs whose lease has lapsed, oldest first.
pub async fn due(conn: &mut AnyConnection, now_ms: i64, limit: i64) -> ApiResult<Vec<Job>> {
    let rows = sqlx::query(
        "SELECT id, kind, target_id, attempts, request_id FROM jobs \
         WHERE due_at_ms <= $1 AND lease_until_ms <= $1 ORDER BY due_at_ms LIMIT $2",
    )
    .bind(now_ms)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(Job {
                id: row.try_get("id")?,
                kind: row.try_get("kind")?,
                target_id: row.try_get("target_id")?,
                attempts: row.try_get("attempts")?,
                request_id: row.try_get("request_id")?,
            })
        })
        .collect()
}

/// When the earliest job falls due, if any.
pub async fn next_due_ms(conn: &mut AnyConnection) -> ApiResult<Option<i64>> {
    let row = sqlx::query("SELECT MIN(due_at_ms) AS due FROM jobs")
        .fetch_one(conn)
        .await?;
    Ok(row.try_get::<Option<i64>, _>("due")?)
}

pub async fn finish(conn: &mut AnyConnection, id: &str) -> ApiResult<()> {
    sqlx::query("DELETE FROM jobs WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Tries again later after a failure.
pub async fn retry_at(conn: &mut AnyConnection, id: &str, due_at_ms: i64) -> ApiResult<()> {
    sqlx::query("UPDATE jobs SET due_at_ms = $1, attempts = attempts + 1 WHERE id = $2")
        .bind(due_at_ms)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}
