//! `paymux db copy`: moves a whole SQLite database into an empty PostgreSQL one.
//!
//! The source is read in one transaction (one consistent snapshot, even if a server is still
//! writing), the target is written in one transaction (all or nothing), and afterwards row
//! counts and money sums are compared table by table.

use super::Db;
use anyhow::{Context, bail, ensure};
use futures_util::TryStreamExt;
use sqlx::{AnyConnection, Connection, Executor, Row};

/// Every table, parents before children (a test checks that none is missing).
pub const TABLES: &[&str] = &[
    "accounts",
    "installation",
    "apps",
    "api_keys",
    "platform_keys",
    "charges",
    "refunds",
    "app_users",
    "recharges",
    "events",
    "jobs",
    "webhook_endpoints",
    "webhook_deliveries",
    "webhook_attempts",
    "channel_configs",
    "channel_notifications",
    "request_outcomes",
    "operators",
    "console_sessions",
    "audit_log",
];

/// Columns whose sums must match after the copy: the money.
const SUMS: &[(&str, &str)] = &[
    ("charges", "amount"),
    ("charges", "amount_refunded"),
    ("charges", "amount_refund_reserved"),
    ("refunds", "amount"),
    ("app_users", "balance"),
    ("recharges", "amount"),
];

const ROWS_PER_INSERT: usize = 200;

/// What was copied: rows per table, in copy order.
#[derive(Debug)]
pub struct CopyReport {
    pub tables: Vec<(&'static str, i64)>,
}

pub async fn copy(from: &Db, to: &Db) -> anyhow::Result<CopyReport> {
    let mut source = from.reader().acquire().await?;
    let mut target = to.reader().acquire().await?;
    for table in TABLES {
        let rows = count(&mut target, table).await?;
        ensure!(
            rows == 0,
            "the target database is not empty (table {table} has {rows} rows); copy only into a new database"
        );
    }

    source.execute("BEGIN").await?;
    let mut tx = target.begin().await?;
    for table in TABLES {
        copy_table(&mut source, &mut tx, table)
            .await
            .with_context(|| format!("copying table {table}"))?;
    }
    tx.commit().await?;
    source.execute("COMMIT").await?;

    let mut report = CopyReport { tables: Vec::new() };
    for table in TABLES {
        let (a, b) = (
            count(&mut source, table).await?,
            count(&mut target, table).await?,
        );
        ensure!(
            a == b,
            "table {table}: {a} rows in the source but {b} in the target"
        );
        report.tables.push((table, b));
    }
    for (table, column) in SUMS {
        let (a, b) = (
            sum(&mut source, table, column).await?,
            sum(&mut target, table, column).await?,
        );
        ensure!(
            a == b,
            "{table}.{column}: sums to {a} in the source but {b} in the target"
        );
    }
    Ok(report)
}

async fn count(conn: &mut AnyConnection, table: &str) -> anyhow::Result<i64> {
    let row = super::sql(format!("SELECT COUNT(*) AS n FROM {table}"))
        .fetch_one(conn)
        .await?;
    Ok(row.try_get("n")?)
}

async fn sum(conn: &mut AnyConnection, table: &str, column: &str) -> anyhow::Result<i64> {
    // CAST: PostgreSQL sums BIGINT as NUMERIC, which the Any driver cannot read.
    let row = super::sql(format!(
        "SELECT CAST(COALESCE(SUM({column}), 0) AS BIGINT) AS total FROM {table}"
    ))
    .fetch_one(conn)
    .await?;
    Ok(row.try_get("total")?)
}

/// A column and whether it holds integers (else text), as the SQLite schema declares it.
async fn columns(source: &mut AnyConnection, table: &str) -> anyhow::Result<Vec<(String, bool)>> {
    let rows = sqlx::query("SELECT name, type FROM pragma_table_info($1) ORDER BY cid")
        .bind(table)
        .fetch_all(source)
        .await?;
    let columns = rows
        .iter()
        .map(|row| {
            let name: String = row.try_get("name")?;
            let kind: String = row.try_get("type")?;
            Ok((name, kind.eq_ignore_ascii_case("INTEGER")))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    if columns.is_empty() {
        bail!("the source has no table {table}");
    }
    Ok(columns)
}

enum Value {
    Int(Option<i64>),
    Text(Option<String>),
}

async fn copy_table(
    source: &mut AnyConnection,
    target: &mut AnyConnection,
    table: &str,
) -> anyhow::Result<()> {
    let columns = columns(source, table).await?;
    let names: Vec<&str> = columns.iter().map(|(name, _)| name.as_str()).collect();
    let select = format!("SELECT {} FROM {table}", names.join(", "));
    let mut pending: Vec<Vec<Value>> = Vec::with_capacity(ROWS_PER_INSERT);
    let mut rows = super::sql(select).fetch(&mut *source);
    while let Some(row) = rows.try_next().await? {
        let values = columns
            .iter()
            .map(|(name, integer)| {
                Ok(if *integer {
                    Value::Int(row.try_get(name.as_str())?)
                } else {
                    Value::Text(row.try_get(name.as_str())?)
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        pending.push(values);
        if pending.len() == ROWS_PER_INSERT {
            insert(target, table, &names, std::mem::take(&mut pending)).await?;
        }
    }
    if !pending.is_empty() {
        insert(target, table, &names, pending).await?;
    }
    Ok(())
}

async fn insert(
    target: &mut AnyConnection,
    table: &str,
    names: &[&str],
    rows: Vec<Vec<Value>>,
) -> anyhow::Result<()> {
    let width = names.len();
    let tuples: Vec<String> = (0..rows.len())
        .map(|r| {
            let slots: Vec<String> = (1..=width).map(|c| format!("${}", r * width + c)).collect();
            format!("({})", slots.join(", "))
        })
        .collect();
    let sql = format!(
        "INSERT INTO {table} ({}) VALUES {}",
        names.join(", "),
        tuples.join(", ")
    );
    let mut query = super::sql(sql);
    for value in rows.into_iter().flatten() {
        query = match value {
            Value::Int(v) => query.bind(v),
            Value::Text(v) => query.bind(v),
        };
    }
    query.execute(target).await?;
    Ok(())
}
