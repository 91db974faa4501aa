//! One module per section of the console.

pub mod apps;
pub mod audit;
pub mod channels;
pub mod charges;
pub mod developers;
pub mod events;
pub mod operators;
pub mod overview;
pub mod recharges;
pub mod webhooks;

use super::session::Console;
use crate::domain::charge::Charge;
use crate::store::Page;
use maud::{Markup, html};

/// Rows per page of a list.
pub const PAGE_SIZE: i64 = 20;

/// What a charge is now, as an operator reads it: the key and its label.
pub fn charge_status(console: &Console, charge: &Charge) -> (&'static str, &'static str) {
    let key = if charge.reversed {
        "reversed"
    } else if charge.failure_code.is_some() {
        "failed"
    } else if charge.paid && charge.amount_refunded >= charge.amount {
        "refunded"
    } else if charge.paid && charge.refunded {
        "partially_refunded"
    } else if charge.paid {
        "paid"
    } else if charge.time_expire <= console.now_ms / 1000 {
        "expired"
    } else {
        "unpaid"
    };
    (key, status_label(console, key))
}

pub fn status_label(console: &Console, key: &str) -> &'static str {
    match key {
        "reversed" => console.t("已撤销", "reversed"),
        "failed" => console.t("支付失败", "failed"),
        "refunded" => console.t("已退款", "refunded"),
        "partially_refunded" => console.t("部分退款", "partially refunded"),
        "paid" => console.t("已支付", "paid"),
        "expired" => console.t("已过期", "expired"),
        "unpaid" => console.t("未支付", "unpaid"),
        "pending" => console.t("处理中", "pending"),
        "succeeded" => console.t("成功", "succeeded"),
        "abnormal" => console.t("退款异常", "abnormal"),
        "cancelled" => console.t("已取消", "cancelled"),
        _ => console.t("未知", "unknown"),
    }
}

/// A status as a coloured tag; the raw key stays readable for scripts and tests.
pub fn badge(console: &Console, key: &str) -> Markup {
    html! { span class={"badge " (key)} data-status=(key) { (status_label(console, key)) } }
}

/// The page of a list that starts after (older) or before (newer) a row.
pub fn cursor(after: Option<(i64, String)>, before: Option<(i64, String)>) -> Page {
    let newer = if after.is_none() { before } else { None };
    Page {
        limit: PAGE_SIZE,
        starting_after: after,
        ending_before: newer,
    }
}

/// Whether a list page has newer and older neighbours, from the page asked for and whether the
/// store found rows beyond it (going back, "beyond" is newer).
pub fn neighbours(page: &Page, more: bool) -> (bool, bool) {
    if page.ending_before.is_some() {
        (more, true)
    } else {
        (page.starting_after.is_some(), more)
    }
}

/// Links to the previous and next pages of a newest-first list whose rows are `ids` (first
/// and last shown), keeping the other query parameters.
pub fn pager(
    console: &Console,
    base: &str,
    query: &str,
    first: Option<&str>,
    last: Option<&str>,
    newer: bool,
    older: bool,
) -> Markup {
    let join = |key: &str, id: &str| {
        if query.is_empty() {
            format!("{base}?{key}={id}")
        } else {
            format!("{base}?{query}&{key}={id}")
        }
    };
    html! {
        nav.pager {
            @if let (true, Some(first)) = (newer, first) {
                a rel="prev" href=(join("before", first)) { "← " (console.t("较新", "Newer")) }
            }
            @if let (true, Some(last)) = (older, last) {
                a rel="next" href=(join("after", last)) { (console.t("较早", "Older")) " →" }
            }
        }
    }
}
