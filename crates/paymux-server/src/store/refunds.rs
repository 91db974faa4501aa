//! Refunds of charges (and of recharges, which refund their charge).

use super::{Page, finish_page, flag, json_map, to_text};
use super::{StoreError, StoreResult};
use crate::domain::refund::{Refund, RefundStatus};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

const COLUMNS: &str = "id, charge_id, app_id, livemode, created, amount, status, time_succeed, \
    description, failure_code, failure_msg, metadata, funding_source, charge_order_no, \
    transaction_no, currency, recharge_id";

fn from_row(row: &AnyRow) -> StoreResult<Refund> {
    let status: String = row.try_get("status")?;
    Ok(Refund {
        id: row.try_get("id")?,
        charge_id: row.try_get("charge_id")?,
        app_id: row.try_get("app_id")?,
        livemode: flag(row, "livemode")?,
        created: row.try_get("created")?,
        amount: row.try_get("amount")?,
        status: RefundStatus::parse(&status).ok_or_else(|| {
            StoreError::Inconsistent(format!("a stored refund has an unknown status {status}"))
        })?,
        time_succeed: row.try_get("time_succeed")?,
        description: row.try_get("description")?,
        failure_code: row.try_get("failure_code")?,
        failure_msg: row.try_get("failure_msg")?,
        metadata: json_map(row, "metadata")?,
        funding_source: row.try_get("funding_source")?,
        charge_order_no: row.try_get("charge_order_no")?,
        transaction_no: row.try_get("transaction_no")?,
        currency: row.try_get("currency")?,
        recharge_id: row.try_get("recharge_id")?,
    })
}

pub async fn insert(conn: &mut AnyConnection, r: &Refund) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO refunds (id, charge_id, app_id, livemode, created, amount, status, \
         time_succeed, description, metadata, funding_source, charge_order_no, transaction_no, \
         currency, recharge_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    )
    .bind(&r.id)
    .bind(&r.charge_id)
    .bind(&r.app_id)
    .bind(i64::from(r.livemode))
    .bind(r.created)
    .bind(r.amount)
    .bind(r.status.as_str())
    .bind(r.time_succeed)
    .bind(&r.description)
    .bind(to_text(&r.metadata))
    .bind(r.funding_source.as_deref())
    .bind(&r.charge_order_no)
    .bind(r.transaction_no.as_deref())
    .bind(&r.currency)
    .bind(r.recharge_id.as_deref())
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get(
    conn: &mut AnyConnection,
    charge_id: &str,
    id: &str,
) -> StoreResult<Option<Refund>> {
    let sql = format!("SELECT {COLUMNS} FROM refunds WHERE id = $1 AND charge_id = $2");
    super::optional(conn, super::sql(sql).bind(id).bind(charge_id), from_row).await
}

pub async fn get_by_id(conn: &mut AnyConnection, id: &str) -> StoreResult<Option<Refund>> {
    let sql = format!("SELECT {COLUMNS} FROM refunds WHERE id = $1");
    super::optional(conn, super::sql(sql).bind(id), from_row).await
}

/// A page of a charge's refunds, newest first, and whether more exist beyond it.
pub async fn list_for_charge(
    conn: &mut AnyConnection,
    charge_id: &str,
    page: &Page,
) -> StoreResult<(Vec<Refund>, bool)> {
    let (clause, ascending) = page.clause(1);
    let sql = format!("SELECT {COLUMNS} FROM refunds WHERE charge_id = $1{clause}");
    let query = page.bind(super::sql(sql).bind(charge_id.to_owned()));
    let refunds = super::all(conn, query, from_row).await?;
    Ok(finish_page(refunds, page.limit, ascending))
}

/// A page of an app's refunds in one mode, newest first, optionally in one status.
pub async fn list_for_app(
    conn: &mut AnyConnection,
    app_id: &str,
    livemode: bool,
    status: Option<&str>,
    page: &Page,
) -> StoreResult<(Vec<Refund>, bool)> {
    let mut sql = format!("SELECT {COLUMNS} FROM refunds WHERE app_id = $1 AND livemode = $2");
    let n = if status.is_some() {
        sql.push_str(" AND status = $3");
        3
    } else {
        2
    };
    let (clause, ascending) = page.clause(n);
    sql.push_str(&clause);
    let mut query = super::sql(sql)
        .bind(app_id.to_owned())
        .bind(i64::from(livemode));
    if let Some(status) = status {
        query = query.bind(status.to_owned());
    }
    let refunds = super::all(conn, page.bind(query), from_row).await?;
    Ok(finish_page(refunds, page.limit, ascending))
}

/// The newest `per_charge` refunds of each of `charge_ids`, newest first, and whether each has
/// more: one statement for a whole page of charges.
pub async fn newest_for_charges(
    conn: &mut AnyConnection,
    charge_ids: &[&str],
    per_charge: i64,
) -> StoreResult<std::collections::HashMap<String, (Vec<Refund>, bool)>> {
    let mut found: std::collections::HashMap<String, (Vec<Refund>, bool)> =
        std::collections::HashMap::new();
    if charge_ids.is_empty() {
        return Ok(found);
    }
    let sql = format!(
        "SELECT {COLUMNS} FROM (SELECT *, ROW_NUMBER() OVER \
         (PARTITION BY charge_id ORDER BY created DESC, id DESC) AS nth \
         FROM refunds WHERE charge_id IN ({})) AS r WHERE nth <= $1 \
         ORDER BY charge_id, created DESC, id DESC",
        super::placeholders(2, charge_ids.len())
    );
    let query = super::bind_all(super::sql(sql).bind(per_charge + 1), charge_ids);
    for refund in super::all(conn, query, from_row).await? {
        let (refunds, more) = found.entry(refund.charge_id.clone()).or_default();
        if (refunds.len() as i64) < per_charge {
            refunds.push(refund);
        } else {
            *more = true;
        }
    }
    Ok(found)
}

/// The refunds of each of these recharges, newest first, in one statement.
pub async fn for_recharges(
    conn: &mut AnyConnection,
    recharge_ids: &[&str],
) -> StoreResult<std::collections::HashMap<String, Vec<Refund>>> {
    let mut found: std::collections::HashMap<String, Vec<Refund>> = Default::default();
    if recharge_ids.is_empty() {
        return Ok(found);
    }
    let sql = format!(
        "SELECT {COLUMNS} FROM refunds WHERE recharge_id IN ({}) ORDER BY created DESC, id DESC",
        super::placeholders(1, recharge_ids.len())
    );
    let query = super::bind_all(super::sql(sql), recharge_ids);
    for refund in super::all(conn, query, from_row).await? {
        if let Some(recharge) = refund.recharge_id.clone() {
            found.entry(recharge).or_default().push(refund);
        }
    }
    Ok(found)
}

/// `from` (pending, or abnormal once an operator paid it by hand) → succeeded. False if the
/// refund was not in `from`.
pub async fn mark_succeeded(
    conn: &mut AnyConnection,
    id: &str,
    from: RefundStatus,
    time_succeed: i64,
    transaction_no: &str,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE refunds SET status = 'succeeded', time_succeed = $1, transaction_no = $2 \
         WHERE id = $3 AND status = $4",
    )
    .bind(time_succeed)
    .bind(transaction_no)
    .bind(id)
    .bind(from.as_str())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Pending → failed or abnormal, keeping the channel's code and message. False if the refund
/// was not pending.
pub async fn mark_unpaid(
    conn: &mut AnyConnection,
    id: &str,
    status: RefundStatus,
    code: &str,
    message: &str,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE refunds SET status = $1, failure_code = $2, failure_msg = $3 \
         WHERE id = $4 AND status = 'pending'",
    )
    .bind(status.as_str())
    .bind(code)
    .bind(message)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
