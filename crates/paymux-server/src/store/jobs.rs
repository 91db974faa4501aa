//! Work that must happen later, stored with the change that caused it so a crash cannot lose it.

use super::StoreResult;
use sqlx::{AnyConnection, Row};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: String,
    /// `Err(name)`: a kind this version does not know (written by a newer one); left alone.
    pub kind: Result<JobKind, String>,
    pub target_id: String,
    pub attempts: i64,
    pub request_id: Option<String>,
}

/// What a job does, stored by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    /// Asks the channel about an open QR charge.
    ChargeQuery,
    /// Polls a scan charge whose outcome is open, then reverses it.
    ChargePoll,
    /// Submits a new refund to its provider (again, with the same number, until it answers).
    RefundSubmit,
    /// Asks the channel about a submitted refund until it succeeds or fails.
    RefundQuery,
}

impl JobKind {
    const ALL: [JobKind; 4] = [
        JobKind::ChargeQuery,
        JobKind::ChargePoll,
        JobKind::RefundSubmit,
        JobKind::RefundQuery,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::ChargeQuery => "charge.query",
            JobKind::ChargePoll => "charge.poll",
            JobKind::RefundSubmit => "refund.submit",
            JobKind::RefundQuery => "refund.query",
        }
    }

    pub fn parse(name: &str) -> Option<JobKind> {
        match name {
            // Earlier versions completed simulated refunds by a job of their own; submitting
            // one to the simulated provider completes it.
            "refund.complete" => Some(JobKind::RefundSubmit),
            _ => JobKind::ALL.into_iter().find(|k| k.as_str() == name),
        }
    }
}

pub async fn schedule(
    conn: &mut AnyConnection,
    kind: JobKind,
    target_id: &str,
    due_at_ms: i64,
    request_id: Option<&str>,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO jobs (id, kind, target_id, due_at_ms, request_id, created) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(format!("{}:{target_id}", kind.as_str()))
    .bind(kind.as_str())
    .bind(target_id)
    .bind(due_at_ms)
    .bind(request_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Claims up to `limit` due jobs whose lease has lapsed, leasing them until `lease_until_ms`:
/// until then no other worker (on any node) takes them. A worker that dies mid-job simply lets
/// the lease run out, and the job is claimed again.
pub async fn claim(
    conn: &mut AnyConnection,
    now_ms: i64,
    lease_until_ms: i64,
    limit: i64,
) -> StoreResult<Vec<Job>> {
    // PostgreSQL: concurrent claimers skip each other's rows instead of waiting on them.
    // SQLite has one writer, so its claims never overlap.
    let skip_locked = if super::is_postgres(conn) {
        " FOR UPDATE SKIP LOCKED"
    } else {
        ""
    };
    let sql = format!(
        "UPDATE jobs SET lease_until_ms = $2, attempts = attempts + 1 WHERE id IN \
         (SELECT id FROM jobs WHERE due_at_ms <= $1 AND lease_until_ms <= $1 \
          ORDER BY due_at_ms LIMIT {limit}{skip_locked}) \
         RETURNING id, kind, target_id, attempts, request_id"
    );
    let rows = super::sql(sql)
        .bind(now_ms)
        .bind(lease_until_ms)
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|row| {
            Ok(Job {
                id: row.try_get("id")?,
                kind: {
                    let name: String = row.try_get("kind")?;
                    JobKind::parse(&name).ok_or(name)
                },
                target_id: row.try_get("target_id")?,
                attempts: row.try_get("attempts")?,
                request_id: row.try_get("request_id")?,
            })
        })
        .collect()
}

/// Gives up every job lease. Only for the sole owner of a store (SQLite's one `serve`): the
/// leases it finds belong to a process that is gone, and their jobs can run at once.
pub async fn release_all_leases(conn: &mut AnyConnection) -> StoreResult<u64> {
    let done = sqlx::query("UPDATE jobs SET lease_until_ms = 0 WHERE lease_until_ms > 0")
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

/// When the earliest job can next be claimed (due, and any lease lapsed), if any.
pub async fn next_due_ms(conn: &mut AnyConnection) -> StoreResult<Option<i64>> {
    let row = sqlx::query(
        "SELECT MIN(CASE WHEN lease_until_ms > due_at_ms THEN lease_until_ms ELSE due_at_ms END) \
         AS due FROM jobs",
    )
    .fetch_one(conn)
    .await?;
    Ok(row.try_get::<Option<i64>, _>("due")?)
}

pub async fn finish(conn: &mut AnyConnection, id: &str) -> StoreResult<()> {
    sqlx::query("DELETE FROM jobs WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Tries again later after a failure (the lease is given up).
pub async fn retry_at(conn: &mut AnyConnection, id: &str, due_at_ms: i64) -> StoreResult<()> {
    sqlx::query("UPDATE jobs SET due_at_ms = $1, lease_until_ms = 0 WHERE id = $2")
        .bind(due_at_ms)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}
