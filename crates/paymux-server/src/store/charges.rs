//! Charges. Money-moving updates are conditional on the state they change, so no interleaving
//! of requests (or nodes) can pay twice or refund more than was paid.

use super::{Page, finish_page, flag, json_map, to_text};
use super::{StoreError, StoreResult};
use crate::domain::channel::Channel;
use crate::domain::charge::{Carrier, Charge};
use futures_util::StreamExt;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Either, Executor, Row};

const COLUMNS: &str = "id, account_id, app_id, livemode, created, channel, order_no, client_ip, \
    amount, currency, subject, body, description, extra, metadata, credential, time_expire, paid, \
    time_paid, transaction_no, reversed, failure_code, failure_msg, amount_refunded, \
    amount_refund_reserved, refunded, recharge_id, provider";

fn from_row(row: &AnyRow) -> StoreResult<Charge> {
    let channel: String = row.try_get("channel")?;
    Ok(Charge {
        id: row.try_get("id")?,
        account_id: row.try_get("account_id")?,
        app_id: row.try_get("app_id")?,
        livemode: flag(row, "livemode")?,
        created: row.try_get("created")?,
        channel: Channel::parse(&channel).ok_or_else(|| {
            StoreError::Inconsistent(format!("a stored charge has an unknown channel {channel}"))
        })?,
        order_no: row.try_get("order_no")?,
        client_ip: row.try_get("client_ip")?,
        amount: row.try_get("amount")?,
        currency: row.try_get("currency")?,
        subject: row.try_get("subject")?,
        body: row.try_get("body")?,
        description: row.try_get("description")?,
        extra: json_map(row, "extra")?,
        metadata: json_map(row, "metadata")?,
        credential: json_map(row, "credential")?,
        time_expire: row.try_get("time_expire")?,
        paid: flag(row, "paid")?,
        time_paid: row.try_get("time_paid")?,
        transaction_no: row.try_get("transaction_no")?,
        reversed: flag(row, "reversed")?,
        failure_code: row.try_get("failure_code")?,
        failure_msg: row.try_get("failure_msg")?,
        amount_refunded: row.try_get("amount_refunded")?,
        amount_refund_reserved: row.try_get("amount_refund_reserved")?,
        refunded: flag(row, "refunded")?,
        recharge_id: row.try_get("recharge_id")?,
        carrier: row
            .try_get::<Option<String>, _>("provider")?
            .map(|text| {
                Carrier::parse(&text).ok_or_else(|| {
                    StoreError::Inconsistent(format!(
                        "a stored charge has an unknown provider {text}"
                    ))
                })
            })
            .transpose()?,
    })
}

/// Inserts the charge only if its app belongs to its account and its order_no is unused in
/// that app and mode; false otherwise.
pub async fn insert_new(conn: &mut AnyConnection, c: &Charge) -> StoreResult<bool> {
    Ok(!insert_new_many(conn, &[c]).await?.is_empty())
}

/// Columns of a new charge, in the order [`insert_new_many`] binds them.
const NEW_COLUMNS: usize = 22;

/// Transaction statements sent to SQLite with an insert, in the same trip: each statement sent
/// on its own is a hand-over to the connection's thread, which waits for a core every time.
#[derive(Clone, Copy, Debug, Default)]
pub struct Along {
    /// `BEGIN IMMEDIATE` goes before the insert.
    pub begin: bool,
    /// `COMMIT` goes after it.
    pub commit: bool,
}

/// Which statement of an insert's trip failed; those after it did not run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failed {
    Begin,
    Insert,
    Commit,
}

/// Inserts new charges in one statement, each only if its app belongs to its account and its
/// order_no is unused in that app and mode (by a stored charge or one earlier in `charges`).
/// Returns the ids of those inserted. A failed statement inserts none of them.
///
/// The statement has a power-of-two number of rows, so that a few texts serve every count;
/// the rows past the charges repeat the first with no app, which the insert leaves out. (Two
/// statements would cost another trip to the database; a row that goes nowhere costs its
/// values.)
pub async fn insert_new_many(
    conn: &mut AnyConnection,
    charges: &[&Charge],
) -> StoreResult<Vec<String>> {
    insert_new_many_along(conn, charges, Along::default())
        .await
        .map_err(|(_, error)| error.into())
}

/// [`insert_new_many`] with the transaction statements `along` in the same trip (SQLite only).
pub async fn insert_new_many_along(
    conn: &mut AnyConnection,
    charges: &[&Charge],
    along: Along,
) -> Result<Vec<String>, (Failed, sqlx::Error)> {
    // SQLite finds a numbered placeholder's number by a scan of all of them for every value
    // it binds: with hundreds of values that was a quarter of its writer's time. Values bound
    // in order need no numbers there; PostgreSQL has numbered placeholders only.
    let anonymous = conn.backend_name() == <sqlx::Sqlite as sqlx::Database>::NAME;
    let Some(first) = charges.first() else {
        return Ok(Vec::new());
    };
    let padded = charges.len().next_power_of_two();
    let rows = (0..padded)
        .map(|row| match anonymous {
            true => format!("({})", ["?"; NEW_COLUMNS].join(", ")),
            false => format!(
                "({})",
                super::placeholders(row * NEW_COLUMNS + 1, NEW_COLUMNS)
            ),
        })
        .collect::<Vec<_>>()
        .join(", ");
    let begin = if along.begin { "BEGIN IMMEDIATE; " } else { "" };
    let commit = if along.commit { "; COMMIT" } else { "" };
    // VALUES names its columns column1, column2, … on both engines: column2 is the account,
    // column3 the app. The WHERE also keeps SQLite from reading ON CONFLICT as a join's ON.
    let sql = format!(
        "{begin}INSERT INTO charges (id, account_id, app_id, livemode, created, channel, \
         order_no, client_ip, amount, currency, subject, body, description, extra, metadata, \
         credential, time_expire, paid, time_paid, transaction_no, recharge_id, provider) \
         SELECT v.* FROM (VALUES {rows}) AS v \
         WHERE EXISTS (SELECT 1 FROM apps WHERE id = v.column3 AND account_id = v.column2) \
         ON CONFLICT (app_id, livemode, order_no) DO NOTHING RETURNING id{commit}"
    );
    let mut query = super::sql(sql);
    let padding = std::iter::repeat_n((*first, None), padded - charges.len());
    for (c, app_id) in charges.iter().map(|c| (*c, Some(&c.app_id))).chain(padding) {
        query = query
            .bind(&c.id)
            .bind(&c.account_id)
            .bind(app_id)
            .bind(i64::from(c.livemode))
            .bind(c.created)
            .bind(c.channel.as_str())
            .bind(&c.order_no)
            .bind(&c.client_ip)
            .bind(c.amount)
            .bind(&c.currency)
            .bind(&c.subject)
            .bind(&c.body)
            .bind(c.description.as_deref())
            .bind(to_text(&c.extra))
            .bind(to_text(&c.metadata))
            .bind(to_text(&c.credential))
            .bind(c.time_expire)
            .bind(i64::from(c.paid))
            .bind(c.time_paid)
            .bind(c.transaction_no.as_deref())
            .bind(c.recharge_id.as_deref())
            .bind(c.carrier.map(Carrier::as_str));
    }
    // Each statement of the trip reports its end, so the count of ends says which one failed.
    let insert_at = usize::from(along.begin);
    let failed_at = |ended: usize| match ended.cmp(&insert_at) {
        std::cmp::Ordering::Less => Failed::Begin,
        std::cmp::Ordering::Equal => Failed::Insert,
        std::cmp::Ordering::Greater => Failed::Commit,
    };
    let mut ids = Vec::with_capacity(charges.len());
    let mut ended = 0;
    let mut results = conn.fetch_many(query);
    while let Some(result) = results.next().await {
        match result {
            Ok(Either::Left(_)) => ended += 1,
            Ok(Either::Right(row)) => {
                ids.push(row.try_get("id").map_err(|error| (Failed::Insert, error))?)
            }
            Err(error) => return Err((failed_at(ended), error)),
        }
    }
    Ok(ids)
}

/// A charge as its account sees it: another account's charge does not exist.
pub async fn get(
    conn: &mut AnyConnection,
    account_id: &str,
    livemode: bool,
    id: &str,
) -> StoreResult<Option<Charge>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM charges WHERE id = $1 AND account_id = $2 AND livemode = $3"
    );
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

/// A charge by id alone, for the test-mode mock-pay page (the id is the capability).
pub async fn get_any(conn: &mut AnyConnection, id: &str) -> StoreResult<Option<Charge>> {
    let sql = format!("SELECT {COLUMNS} FROM charges WHERE id = $1");
    super::optional(conn, super::sql(sql).bind(id), from_row).await
}

/// The charges with these ids, in one statement (in no particular order).
pub async fn get_many(conn: &mut AnyConnection, ids: &[&str]) -> StoreResult<Vec<Charge>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT {COLUMNS} FROM charges WHERE id IN ({})",
        super::placeholders(1, ids.len())
    );
    super::all(conn, super::bind_all(super::sql(sql), ids), from_row).await
}

pub async fn find_by_order_no(
    conn: &mut AnyConnection,
    app_id: &str,
    livemode: bool,
    order_no: &str,
) -> StoreResult<Option<Charge>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM charges WHERE app_id = $1 AND livemode = $2 AND order_no = $3"
    );
    super::optional(
        conn,
        super::sql(sql)
            .bind(app_id)
            .bind(i64::from(livemode))
            .bind(order_no),
        from_row,
    )
    .await
}

#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub app_id: String,
    pub livemode: bool,
    pub channel: Option<String>,
    pub paid: Option<bool>,
    pub refunded: Option<bool>,
    pub reversed: Option<bool>,
    /// Whether the payment failed (`failure_code` set).
    pub failed: Option<bool>,
    pub created_gte: Option<i64>,
    pub created_lte: Option<i64>,
}

/// One page, newest first, and whether more exist beyond it.
pub async fn list(
    conn: &mut AnyConnection,
    filter: &ListFilter,
    page: &Page,
) -> StoreResult<(Vec<Charge>, bool)> {
    let mut sql = format!("SELECT {COLUMNS} FROM charges WHERE app_id = $1 AND livemode = $2");
    let mut n = 2;
    let mut next = |clause: &str, sql: &mut String| {
        n += 1;
        sql.push_str(&clause.replace('?', &format!("${n}")));
    };
    if filter.channel.is_some() {
        next(" AND channel = ?", &mut sql);
    }
    for (value, column) in [
        (filter.paid, "paid"),
        (filter.refunded, "refunded"),
        (filter.reversed, "reversed"),
    ] {
        if value.is_some() {
            next(&format!(" AND {column} = ?"), &mut sql);
        }
    }
    match filter.failed {
        Some(true) => sql.push_str(" AND failure_code IS NOT NULL"),
        Some(false) => sql.push_str(" AND failure_code IS NULL"),
        None => {}
    }
    if filter.created_gte.is_some() {
        next(" AND created >= ?", &mut sql);
    }
    if filter.created_lte.is_some() {
        next(" AND created <= ?", &mut sql);
    }
    let (clause, ascending) = page.clause(n);
    sql.push_str(&clause);

    let mut query = super::sql(sql)
        .bind(filter.app_id.clone())
        .bind(i64::from(filter.livemode));
    if let Some(channel) = &filter.channel {
        query = query.bind(channel.clone());
    }
    for value in [filter.paid, filter.refunded, filter.reversed]
        .into_iter()
        .flatten()
    {
        query = query.bind(i64::from(value));
    }
    for value in [filter.created_gte, filter.created_lte]
        .into_iter()
        .flatten()
    {
        query = query.bind(value);
    }
    let charges = super::all(conn, page.bind(query), from_row).await?;
    Ok(finish_page(charges, page.limit, ascending))
}

/// Marks an unpaid, open charge paid and returns it as it is now; `None` if it was not
/// payable any more.
pub async fn mark_paid(
    conn: &mut AnyConnection,
    id: &str,
    time_paid: i64,
    transaction_no: &str,
) -> StoreResult<Option<Charge>> {
    let sql = format!(
        "UPDATE charges SET paid = 1, time_paid = $1, transaction_no = $2 \
         WHERE id = $3 AND paid = 0 AND reversed = 0 AND failure_code IS NULL \
         RETURNING {COLUMNS}"
    );
    let query = super::sql(sql)
        .bind(time_paid)
        .bind(transaction_no)
        .bind(id);
    super::optional(conn, query, from_row).await
}

/// Records a payment the channel took for a charge that is closed here (reversed or failed),
/// so that it can be refunded. False if it was already recorded.
pub async fn mark_paid_late(
    conn: &mut AnyConnection,
    id: &str,
    time_paid: i64,
    transaction_no: &str,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE charges SET paid = 1, time_paid = $1, transaction_no = $2 WHERE id = $3 AND paid = 0",
    )
    .bind(time_paid)
    .bind(transaction_no)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// What a client needs to pay: set once the channel answered a new QR charge.
pub async fn set_credential(
    conn: &mut AnyConnection,
    id: &str,
    credential: &serde_json::Map<String, serde_json::Value>,
) -> StoreResult<()> {
    sqlx::query("UPDATE charges SET credential = $1 WHERE id = $2")
        .bind(to_text(credential))
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn mark_failed(
    conn: &mut AnyConnection,
    id: &str,
    code: &str,
    message: &str,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE charges SET failure_code = $1, failure_msg = $2 \
         WHERE id = $3 AND paid = 0 AND reversed = 0 AND failure_code IS NULL",
    )
    .bind(code)
    .bind(message)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn mark_reversed(conn: &mut AnyConnection, id: &str) -> StoreResult<bool> {
    let done = sqlx::query("UPDATE charges SET reversed = 1 WHERE id = $1 AND reversed = 0")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Sets aside `amount` of a paid charge for a new refund, only if that much is still
/// refundable. This single conditional update is what makes over-refund impossible.
pub async fn reserve_refund(conn: &mut AnyConnection, id: &str, amount: i64) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE charges SET amount_refund_reserved = amount_refund_reserved + $1, refunded = 1 \
         WHERE id = $2 AND paid = 1 AND amount_refund_reserved + $1 <= amount",
    )
    .bind(amount)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A failed refund gives its reserved amount back to what is refundable.
pub async fn release_refund(conn: &mut AnyConnection, id: &str, amount: i64) -> StoreResult<()> {
    let done = sqlx::query(
        "UPDATE charges SET amount_refund_reserved = amount_refund_reserved - $1 \
         WHERE id = $2 AND amount_refund_reserved - $1 >= amount_refunded",
    )
    .bind(amount)
    .bind(id)
    .execute(conn)
    .await?;
    if done.rows_affected() != 1 {
        return Err(StoreError::Inconsistent(format!(
            "a failed refund of {amount} would release more than charge {id} has reserved"
        )));
    }
    Ok(())
}

/// A reserved refund amount has reached the customer.
pub async fn settle_refund(conn: &mut AnyConnection, id: &str, amount: i64) -> StoreResult<()> {
    let done = sqlx::query(
        "UPDATE charges SET amount_refunded = amount_refunded + $1 \
         WHERE id = $2 AND amount_refunded + $1 <= amount_refund_reserved",
    )
    .bind(amount)
    .bind(id)
    .execute(conn)
    .await?;
    if done.rows_affected() != 1 {
        return Err(StoreError::Inconsistent(format!(
            "a refund of {amount} would settle more than charge {id} has reserved"
        )));
    }
    Ok(())
}
