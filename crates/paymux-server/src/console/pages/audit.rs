//! The audit log (admin): who did what, when, on which request; newest first.

use super::super::format::time_ms;
use super::super::layout;
use super::super::session::Console;
use super::super::{PageResult, require};
use crate::operators::Role;
use crate::state::AppState;
use crate::store;
use axum::extract::{Query, State};
use axum::response::IntoResponse;
use maud::html;
use std::collections::HashMap;

const PER_PAGE: i64 = 50;

pub async fn page(
    State(state): State<AppState>,
    console: Console,
    Query(query): Query<HashMap<String, String>>,
) -> PageResult {
    require(&console, Role::Admin)?;
    let param = |k: &str| query.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let before = param("before")
        .and_then(|b| b.split_once(':'))
        .and_then(|(ms, id)| Some((ms.parse::<i64>().ok()?, id.to_owned())));
    let entries = {
        let mut conn = state.db.reader().acquire().await?;
        store::audit::page(
            &mut conn,
            &console.operator.account_id,
            param("actor"),
            param("action"),
            before,
            PER_PAGE,
        )
        .await?
    };
    let keep: String = ["actor", "action"]
        .iter()
        .filter_map(|k| {
            param(k).map(|v| {
                format!(
                    "{k}={}&",
                    url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
                )
            })
        })
        .collect();
    let content = html! {
        form.filters method="get" action="/dashboard/audit" {
            label { (console.t("操作人", "Actor")) input name="actor" value=(param("actor").unwrap_or_default()); }
            label { (console.t("操作", "Action")) input name="action" value=(param("action").unwrap_or_default()) placeholder="refund.create"; }
            button { (console.t("筛选", "Filter")) }
        }
        @if entries.is_empty() { p.empty { (console.t("没有记录。", "No entries.")) } } @else {
            div.scroll { table {
                thead { tr { th { (console.t("时间", "Time")) } th { (console.t("操作人", "Actor")) } th { (console.t("操作", "Action")) } th { (console.t("对象", "Target")) } th { (console.t("详情", "Detail")) } th { (console.t("请求 ID", "Request id")) } } }
                tbody { @for e in &entries { tr {
                    td { (time_ms(e.created_ms)) }
                    td { (e.actor) }
                    td { code { (e.action) } }
                    td { (e.target.clone().unwrap_or_default()) }
                    td { small { (serde_json::Value::Object(e.detail.clone()).to_string()) } }
                    td { small { (e.request_id.clone().unwrap_or_default()) } }
                } } }
            } }
            @if entries.len() as i64 == PER_PAGE {
                @if let Some(last) = entries.last() {
                    nav.pager { a rel="next" href={"/dashboard/audit?" (keep) "before=" (last.created_ms) ":" (last.id)} { (console.t("较早", "Older")) " →" } }
                }
            }
        }
    };
    Ok(layout::page(
        &console,
        "/dashboard/audit",
        console.t("操作日志", "Audit log"),
        content,
    )
    .into_response())
}
