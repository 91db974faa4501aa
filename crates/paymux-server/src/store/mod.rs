//! Storage: the database handle and one module of SQL per table group. Every function takes a
//! connection (the writer's transaction, or a pooled reader), so callers compose them.

pub mod accounts;
pub mod charges;
pub mod db;
pub mod events;
pub mod jobs;
pub mod recharges;
pub mod refunds;

pub use db::Db;

use crate::error::ApiResult;
use serde_json::{Map, Value};
use sqlx::Row;
use sqlx::any::AnyRow;

pub(crate) fn flag(row: &AnyRow, column: &str) -> ApiResult<bool> {
    Ok(row.try_get::<i64, _>(column)? != 0)
}

pub(crate) fn json_map(row: &AnyRow, column: &str) -> ApiResult<Map<String, Value>> {
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
