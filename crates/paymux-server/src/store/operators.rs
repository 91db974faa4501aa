//! Operators of the management console.

use super::{StoreError, StoreResult};
use crate::operators::{Operator, Role};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

const COLUMNS: &str = "id, account_id, name, role, password_hash, created, password_changed";
/// The same columns of a query that names the operators table `o`.
pub(crate) const COLUMNS_OF_O: &str =
    "o.id, o.account_id, o.name, o.role, o.password_hash, o.created, o.password_changed";

pub(crate) fn from_row(row: &AnyRow) -> StoreResult<Operator> {
    let role: String = row.try_get("role")?;
    Ok(Operator {
        id: row.try_get("id")?,
        account_id: row.try_get("account_id")?,
        name: row.try_get("name")?,
        role: Role::parse(&role).ok_or_else(|| {
            StoreError::Inconsistent(format!("an operator has an unknown role {role}"))
        })?,
        password_hash: row.try_get("password_hash")?,
        created: row.try_get("created")?,
        password_changed: row.try_get("password_changed")?,
    })
}

/// Adds an operator; false if the account already has one of that name.
pub async fn insert(conn: &mut AnyConnection, operator: &Operator) -> StoreResult<bool> {
    let done = sqlx::query(
        "INSERT INTO operators (id, account_id, name, role, password_hash, created, \
         password_changed) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (account_id, name) DO NOTHING",
    )
    .bind(&operator.id)
    .bind(&operator.account_id)
    .bind(&operator.name)
    .bind(operator.role.as_str())
    .bind(&operator.password_hash)
    .bind(operator.created)
    .bind(operator.password_changed)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn get(
    conn: &mut AnyConnection,
    account_id: &str,
    name: &str,
) -> StoreResult<Option<Operator>> {
    let sql = format!("SELECT {COLUMNS} FROM operators WHERE account_id = $1 AND name = $2");
    super::optional(conn, super::sql(sql).bind(account_id).bind(name), from_row).await
}

/// The account's operators by name.
pub async fn list(conn: &mut AnyConnection, account_id: &str) -> StoreResult<Vec<Operator>> {
    let sql = format!("SELECT {COLUMNS} FROM operators WHERE account_id = $1 ORDER BY name");
    super::all(conn, super::sql(sql).bind(account_id), from_row).await
}

pub async fn set_password(
    conn: &mut AnyConnection,
    id: &str,
    password_hash: &str,
    now: i64,
) -> StoreResult<()> {
    // A new password ends the sessions the old one opened.
    super::console_sessions::delete_for_operator(conn, id).await?;
    sqlx::query("UPDATE operators SET password_hash = $1, password_changed = $2 WHERE id = $3")
        .bind(password_hash)
        .bind(now)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn set_role(conn: &mut AnyConnection, id: &str, role: Role) -> StoreResult<()> {
    sqlx::query("UPDATE operators SET role = $1 WHERE id = $2")
        .bind(role.as_str())
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Removes an operator and their sessions.
pub async fn delete(conn: &mut AnyConnection, id: &str) -> StoreResult<()> {
    super::console_sessions::delete_for_operator(conn, id).await?;
    sqlx::query("DELETE FROM operators WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// How many operators with `role` the account has.
pub async fn count_with_role(
    conn: &mut AnyConnection,
    account_id: &str,
    role: Role,
) -> StoreResult<i64> {
    let row =
        sqlx::query("SELECT COUNT(*) AS n FROM operators WHERE account_id = $1 AND role = $2")
            .bind(account_id)
            .bind(role.as_str())
            .fetch_one(conn)
            .await?;
    Ok(row.try_get("n")?)
}
