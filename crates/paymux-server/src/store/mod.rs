//! Storage: the database handle and one module of SQL per table group. Every function takes a
//! connection (the writer's transaction, or a pooled reader), so callers compose them.

pub mod accounts;
pub mod audit;
pub mod backup;
pub mod channel_configs;
pub mod channel_notifications;
pub mod charges;
pub mod console_sessions;
pub mod copy;
pub mod data_dir;
pub mod db;
mod error;
pub mod events;
pub mod jobs;
pub mod new_charges;
pub mod operators;
pub mod recharges;
pub mod refunds;
pub mod reports;
pub mod request_outcomes;
pub mod scratch;
pub mod settings_watch;
pub mod webhooks;

pub use db::{Db, Prelude};
pub use error::{StoreError, StoreResult};

use serde_json::{Map, Value};
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::{Any, AnyConnection, Row};

pub(crate) type Query<'q> = sqlx::query::Query<'q, Any, AnyArguments>;

/// SHA-256 of `data` in lowercase hex: how hashed keys, request fingerprints and notification
/// digests are stored.
pub(crate) fn sha256_hex(data: &[u8]) -> String {
    use paymux_crypto::digest;
    digest::hex_lower(&digest::sha256(data))
}

/// Whether `conn` talks to PostgreSQL (where a statement differs by engine).
pub(crate) fn is_postgres(conn: &sqlx::AnyConnection) -> bool {
    conn.backend_name() == "PostgreSQL"
}

/// A query built at run time: column lists are constants spliced in, values are bound, except
/// a row limit, which is written in as a number. SQLite plans around the value bound to a
/// `LIMIT` and so prepares such a statement again each time it is bound, i.e. on every run; a
/// number in the text keeps the cached statement (a few texts, one per limit used).
pub(crate) fn sql<'q>(text: String) -> Query<'q> {
    sqlx::query(sqlx::AssertSqlSafe(text))
}

/// `$first, $first+1, …` for `count` values: an `IN (…)` list, bound with [`bind_all`].
pub(crate) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Binds each of `values` in turn.
pub(crate) fn bind_all<'q>(mut query: Query<'q>, values: &[&str]) -> Query<'q> {
    for value in values {
        query = query.bind((*value).to_owned());
    }
    query
}

/// Runs a query that matches at most one row, mapping it.
pub(crate) async fn optional<T>(
    conn: &mut AnyConnection,
    query: Query<'_>,
    map: fn(&AnyRow) -> StoreResult<T>,
) -> StoreResult<Option<T>> {
    query
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(map)
        .transpose()
}

/// Runs a query, mapping every row.
pub(crate) async fn all<T>(
    conn: &mut AnyConnection,
    query: Query<'_>,
    map: fn(&AnyRow) -> StoreResult<T>,
) -> StoreResult<Vec<T>> {
    query.fetch_all(conn).await?.iter().map(map).collect()
}

pub(crate) fn flag(row: &AnyRow, column: &str) -> StoreResult<bool> {
    Ok(row.try_get::<i64, _>(column)? != 0)
}

pub(crate) fn json_map(row: &AnyRow, column: &str) -> StoreResult<Map<String, Value>> {
    let text: String = row.try_get(column)?;
    Ok(serde_json::from_str(&text)?)
}

pub(crate) fn to_text(map: &Map<String, Value>) -> String {
    Value::Object(map.clone()).to_string()
}

/// Cuts a page fetched with `LIMIT limit + 1` down to `limit` rows and says whether more
/// exist. `ascending` pages (fetched oldest-first to find what lies just before a cursor)
/// drop their extra row at the far end, then turn newest-first.
pub(crate) fn finish_page<T>(mut rows: Vec<T>, limit: i64, ascending: bool) -> (Vec<T>, bool) {
    let limit = usize::try_from(limit).unwrap_or(0);
    let more = rows.len() > limit;
    rows.truncate(limit);
    if ascending {
        rows.reverse();
    }
    (rows, more)
}

/// Newest-first cursor pagination over `(created, id)`, the order every Ping++ list uses.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub limit: i64,
    /// Items older than this one (the next page).
    pub starting_after: Option<(i64, String)>,
    /// Items newer than this one (the previous page).
    pub ending_before: Option<(i64, String)>,
}

impl Page {
    /// The cursor condition and ordering of this page, for a query whose last placeholder so
    /// far is `$n`: `" AND (…) ORDER BY … LIMIT …"`. Bind with [`Page::bind`] after the
    /// other parameters. A page before a cursor is fetched oldest first (so `LIMIT` keeps the
    /// rows nearest to it); `ascending` says so, for [`finish_page`].
    pub(crate) fn clause(&self, n: usize) -> (String, bool) {
        let (condition, ascending) = match (&self.starting_after, &self.ending_before) {
            (Some(_), _) => (
                format!(
                    " AND (created < ${} OR (created = ${} AND id < ${}))",
                    n + 1,
                    n + 2,
                    n + 3
                ),
                false,
            ),
            (None, Some(_)) => (
                format!(
                    " AND (created > ${} OR (created = ${} AND id > ${}))",
                    n + 1,
                    n + 2,
                    n + 3
                ),
                true,
            ),
            (None, None) => (String::new(), false),
        };
        let order = if ascending { "ASC" } else { "DESC" };
        // One extra row, to learn whether more exist.
        let limit = self.limit + 1;
        (
            format!("{condition} ORDER BY created {order}, id {order} LIMIT {limit}"),
            ascending,
        )
    }

    /// Binds what [`Page::clause`] placed: the cursor.
    pub(crate) fn bind<'q>(&self, query: Query<'q>) -> Query<'q> {
        match self.starting_after.as_ref().or(self.ending_before.as_ref()) {
            Some((created, id)) => query.bind(*created).bind(*created).bind(id.clone()),
            None => query,
        }
    }
}
