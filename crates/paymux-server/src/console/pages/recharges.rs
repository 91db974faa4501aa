//! Recharges and users' balances (finance): the recharge history, a user's balance, and
//! refunding a recharge (its balance is debited first).

use super::super::format::{money, time};
use super::super::forms::FormFields;
use super::super::layout;
use super::super::session::{Console, csrf_field};
use super::super::{Failure, PageResult, require};
use super::{PAGE_SIZE, badge};
use crate::domain::recharge::Recharge;
use crate::operators::Role;
use crate::payments;
use crate::payments::refunds::NewRefund;
use crate::state::AppState;
use crate::store;
use crate::store::recharges::ListFilter;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use maud::{Markup, html};
use serde_json::Map;
use std::collections::HashMap;

fn table(console: &Console, recharges: &[Recharge]) -> Markup {
    html! {
        @if recharges.is_empty() { p.empty { (console.t("没有充值。", "No recharges.")) } } @else {
            div.scroll { table {
                thead { tr { th { "ID" } th { (console.t("用户", "User")) } th.num { (console.t("到账金额", "Credited")) } th { (console.t("状态", "Status")) } th { (console.t("交易", "Charge")) } th { (console.t("创建时间", "Created")) } th {} } }
                tbody { @for r in recharges { tr {
                    td { code { (r.id) } }
                    td { a href={"/dashboard/users/" (r.user_id)} { (r.user_id) } }
                    td.num { (money(r.amount)) }
                    td { (badge(console, if r.refunded { "refunded" } else if r.succeeded { "succeeded" } else { "pending" })) }
                    td { a href={"/dashboard/charges/" (r.charge_id)} { (r.charge_id) } }
                    td { (time(r.created)) }
                    td { @if r.succeeded && !r.refunded {
                        form.inline method="post" action={"/dashboard/recharges/" (r.id) "/refund"}
                            data-confirm=(console.t("退款将从用户余额中扣回充值金额，确定？", "The refund debits the credited amount from the user's balance. Continue?")) {
                            (csrf_field(console))
                            button.danger { (console.t("退款", "Refund")) }
                        }
                    } }
                } } }
            } }
        }
    }
}

pub async fn list(
    State(state): State<AppState>,
    console: Console,
    Query(query): Query<HashMap<String, String>>,
) -> PageResult {
    require(&console, Role::Finance)?;
    let number: i64 = query
        .get("page")
        .and_then(|p| p.parse().ok())
        .filter(|p| *p >= 1)
        .unwrap_or(1);
    let (recharges, more) = {
        let mut conn = state.db.reader().acquire().await?;
        store::recharges::list(
            &mut conn,
            &console.app_id,
            console.livemode,
            &ListFilter::default(),
            (number - 1) * PAGE_SIZE,
            PAGE_SIZE,
        )
        .await?
    };
    let content = html! {
        form.filters method="get" action="/dashboard/users" data-user-search {
            label { (console.t("查询用户余额", "Look up a user's balance")) input name="user" required; }
            button { (console.t("查询", "Look up")) }
        }
        (table(&console, &recharges))
        nav.pager {
            @if number > 1 { a rel="prev" href={"/dashboard/recharges?page=" (number - 1)} { "← " (console.t("较新", "Newer")) } }
            @if more { a rel="next" href={"/dashboard/recharges?page=" (number + 1)} { (console.t("较早", "Older")) " →" } }
        }
    };
    Ok(layout::page(
        &console,
        "/dashboard/recharges",
        console.t("充值", "Recharges"),
        content,
    )
    .into_response())
}

/// The balance look-up form: to the user's page.
pub async fn find_user(Query(query): Query<HashMap<String, String>>) -> Redirect {
    let user = query.get("user").map(|u| u.trim()).unwrap_or_default();
    let user: String = url::form_urlencoded::byte_serialize(user.as_bytes()).collect();
    Redirect::to(&format!("/dashboard/users/{user}"))
}

pub async fn user(
    State(state): State<AppState>,
    console: Console,
    Path(user): Path<String>,
) -> PageResult {
    require(&console, Role::Finance)?;
    let mut conn = state.db.reader().acquire().await?;
    let found = store::recharges::get_user(&mut conn, &console.app_id, console.livemode, &user)
        .await?
        .ok_or(Failure::NotFound)?;
    let own = store::recharges::of_user(
        &mut conn,
        &console.app_id,
        console.livemode,
        &found.user_id,
        100,
    )
    .await?;
    drop(conn);
    let content = html! {
        p.summary { (console.t("余额", "Balance")) " " strong.amount { (money(found.balance)) } " · " (console.t("创建于", "since")) " " (time(found.created)) }
        section { h2 { (console.t("充值记录", "Recharges")) } (table(&console, &own)) }
    };
    Ok(layout::page(
        &console,
        "/dashboard/recharges",
        &format!("{} {}", console.t("用户", "User"), found.user_id),
        content,
    )
    .into_response())
}

pub async fn refund(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<String>,
    form: FormFields,
) -> PageResult {
    require(&console, Role::Finance)?;
    let new = NewRefund {
        amount: None,
        description: form.get("description").unwrap_or("console").to_owned(),
        metadata: Map::new(),
        funding_source: None,
    };
    payments::recharges::refund(&state, console.caller(), console.app_id.clone(), id, new).await?;
    Ok(Redirect::to("/dashboard/recharges").into_response())
}
