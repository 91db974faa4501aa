//! Recharges and the app users whose balances they fill.

use super::StoreResult;
use super::{flag, json_map, to_text};
use crate::domain::recharge::{AppUser, Recharge};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

const COLUMNS: &str = "id, app_id, livemode, created, user_id, from_user, amount, user_fee, \
    balance_bonus, charge_id, succeeded, time_succeeded, refunded, description, metadata";

fn from_row(row: &AnyRow) -> StoreResult<Recharge> {
    Ok(Recharge {
        id: row.try_get("id")?,
        app_id: row.try_get("app_id")?,
        livemode: flag(row, "livemode")?,
        created: row.try_get("created")?,
        user_id: row.try_get("user_id")?,
        from_user: row.try_get("from_user")?,
        amount: row.try_get("amount")?,
        user_fee: row.try_get("user_fee")?,
        balance_bonus: row.try_get("balance_bonus")?,
        charge_id: row.try_get("charge_id")?,
        succeeded: flag(row, "succeeded")?,
        time_succeeded: row.try_get("time_succeeded")?,
        refunded: flag(row, "refunded")?,
        description: row.try_get("description")?,
        metadata: json_map(row, "metadata")?,
    })
}

pub async fn insert(conn: &mut AnyConnection, r: &Recharge) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO recharges (id, app_id, livemode, created, user_id, from_user, amount, \
         user_fee, balance_bonus, charge_id, description, metadata) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&r.id)
    .bind(&r.app_id)
    .bind(i64::from(r.livemode))
    .bind(r.created)
    .bind(&r.user_id)
    .bind(r.from_user.as_deref())
    .bind(r.amount)
    .bind(r.user_fee)
    .bind(r.balance_bonus)
    .bind(&r.charge_id)
    .bind(r.description.as_deref())
    .bind(to_text(&r.metadata))
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get(
    conn: &mut AnyConnection,
    app_id: &str,
    livemode: bool,
    id: &str,
) -> StoreResult<Option<Recharge>> {
    let sql =
        format!("SELECT {COLUMNS} FROM recharges WHERE id = $1 AND app_id = $2 AND livemode = $3");
    super::optional(
        conn,
        super::sql(sql)
            .bind(id)
            .bind(app_id)
            .bind(i64::from(livemode)),
        from_row,
    )
    .await
}

pub async fn get_by_id(conn: &mut AnyConnection, id: &str) -> StoreResult<Option<Recharge>> {
    let sql = format!("SELECT {COLUMNS} FROM recharges WHERE id = $1");
    super::optional(conn, super::sql(sql).bind(id), from_row).await
}

#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub succeeded: Option<bool>,
    pub refunded: Option<bool>,
}

/// A user's newest recharges, newest first.
pub async fn of_user(
    conn: &mut AnyConnection,
    app_id: &str,
    livemode: bool,
    user_id: &str,
    limit: i64,
) -> StoreResult<Vec<Recharge>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM recharges WHERE app_id = $1 AND livemode = $2 AND user_id = $3 \
         ORDER BY created DESC, id DESC LIMIT {limit}"
    );
    let query = super::sql(sql)
        .bind(app_id.to_owned())
        .bind(i64::from(livemode))
        .bind(user_id.to_owned());
    super::all(conn, query, from_row).await
}

/// Page-numbered listing (recharges use `page`/`per_page`), and whether more pages exist.
pub async fn list(
    conn: &mut AnyConnection,
    app_id: &str,
    livemode: bool,
    filter: &ListFilter,
    offset: i64,
    per_page: i64,
) -> StoreResult<(Vec<Recharge>, bool)> {
    let mut sql = format!("SELECT {COLUMNS} FROM recharges WHERE app_id = $1 AND livemode = $2");
    let mut n = 2;
    for (value, column) in [
        (filter.succeeded, "succeeded"),
        (filter.refunded, "refunded"),
    ] {
        if value.is_some() {
            n += 1;
            sql.push_str(&format!(" AND {column} = ${n}"));
        }
    }
    sql.push_str(&format!(
        " ORDER BY created DESC, id DESC LIMIT {} OFFSET ${}",
        per_page + 1,
        n + 1
    ));
    let mut query = super::sql(sql)
        .bind(app_id.to_owned())
        .bind(i64::from(livemode));
    for value in [filter.succeeded, filter.refunded].into_iter().flatten() {
        query = query.bind(i64::from(value));
    }
    let query = query.bind(offset);
    let recharges = super::all(conn, query, from_row).await?;
    Ok(super::finish_page(recharges, per_page, false))
}

pub async fn mark_succeeded(conn: &mut AnyConnection, id: &str, now: i64) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE recharges SET succeeded = 1, time_succeeded = $1 WHERE id = $2 AND succeeded = 0",
    )
    .bind(now)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn mark_refunded(conn: &mut AnyConnection, id: &str) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE recharges SET refunded = 1 WHERE id = $1 AND succeeded = 1 AND refunded = 0",
    )
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Undoes [`mark_refunded`] when the refund failed at the channel.
pub async fn unmark_refunded(conn: &mut AnyConnection, id: &str) -> StoreResult<bool> {
    let done = sqlx::query("UPDATE recharges SET refunded = 0 WHERE id = $1 AND refunded = 1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn get_user(
    conn: &mut AnyConnection,
    app_id: &str,
    livemode: bool,
    user_id: &str,
) -> StoreResult<Option<AppUser>> {
    let row = sqlx::query(
        "SELECT app_id, user_id, livemode, created, balance FROM app_users \
         WHERE app_id = $1 AND livemode = $2 AND user_id = $3",
    )
    .bind(app_id)
    .bind(i64::from(livemode))
    .bind(user_id)
    .fetch_optional(conn)
    .await?;
    row.map(|row| {
        Ok(AppUser {
            app_id: row.try_get("app_id")?,
            user_id: row.try_get("user_id")?,
            livemode: flag(&row, "livemode")?,
            created: row.try_get("created")?,
            balance: row.try_get("balance")?,
        })
    })
    .transpose()
}

/// Creates the user with a zero balance unless it exists.
pub async fn ensure_user(
    conn: &mut AnyConnection,
    app_id: &str,
    livemode: bool,
    user_id: &str,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO app_users (app_id, livemode, user_id, created, balance) \
         VALUES ($1, $2, $3, $4, 0) ON CONFLICT (app_id, livemode, user_id) DO NOTHING",
    )
    .bind(app_id)
    .bind(i64::from(livemode))
    .bind(user_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Adds `delta` (negative to debit) unless that would take the balance below zero.
pub async fn adjust_balance(
    conn: &mut AnyConnection,
    app_id: &str,
    livemode: bool,
    user_id: &str,
    delta: i64,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE app_users SET balance = balance + $1 \
         WHERE app_id = $2 AND livemode = $3 AND user_id = $4 AND balance + $1 >= 0",
    )
    .bind(delta)
    .bind(app_id)
    .bind(i64::from(livemode))
    .bind(user_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
