//! Events with their webhook deliveries and attempts, sending one again, and the deliveries
//! that are failing across all events.

use super::super::format::{time, time_ms};
use super::super::forms::FormFields;
use super::super::layout;
use super::super::session::{Console, csrf_field};
use super::super::{Failure, PageResult, require};
use super::{badge, cursor, neighbours, pager};
use crate::domain::webhook::EVENT_TYPES;
use crate::operators::Role;
use crate::state::AppState;
use crate::store;
use crate::webhooks::{self, manage};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use maud::{Markup, html};
use serde_json::Value;
use std::collections::HashMap;

/// Deliveries (wire objects with their attempts), each with the type of its event.
pub fn deliveries_table(console: &Console, deliveries: &[(String, Value)]) -> Markup {
    let text = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let int = |v: &Value, k: &str| v.get(k).and_then(Value::as_i64);
    html! {
        @if deliveries.is_empty() {
            p.empty { (console.t("没有推送（没有配置接收该事件的 Webhook 地址）。", "No deliveries (no webhook endpoint takes these events).")) }
        } @else {
            @for (kind, delivery) in deliveries {
                @let attempts = delivery.get("attempts").and_then(Value::as_array).cloned().unwrap_or_default();
                article.delivery {
                    p {
                        code { (kind) } " → " (attempts.first().map(|a| text(a, "url")).unwrap_or_else(|| text(delivery, "endpoint")))
                        " " (badge(console, &text(delivery, "status")))
                        @if let Some(next) = int(delivery, "next_attempt_at_ms") {
                            " " small { (console.t("下次尝试", "next attempt")) " " (time_ms(next)) }
                        }
                    }
                    @if attempts.is_empty() {
                        p.empty { (console.t("尚未尝试。", "Not attempted yet.")) }
                    } @else {
                        div.scroll { table {
                            thead { tr { th { "#" } th { (console.t("时间", "Time")) } th { "URL" } th { "HTTP" } th { (console.t("耗时", "Latency")) } th { (console.t("结果", "Result")) } } }
                            tbody { @for attempt in &attempts { tr {
                                td.num { (int(attempt, "number").unwrap_or_default()) }
                                td { (time_ms(int(attempt, "started_ms").unwrap_or_default())) }
                                td { (text(attempt, "url")) }
                                td.num data-http-status=(int(attempt, "status_code").map(|c| c.to_string()).unwrap_or_default()) {
                                    (int(attempt, "status_code").map(|c| c.to_string()).unwrap_or_else(|| "—".into())) }
                                td.num { (int(attempt, "latency_ms").unwrap_or_default()) " ms" }
                                td {
                                    @if attempt.get("succeeded").and_then(Value::as_bool) == Some(true) { (badge(console, "succeeded")) }
                                    @else { (badge(console, "failed")) " " small { (text(attempt, "error")) (text(attempt, "response")) } }
                                }
                            } } }
                        } }
                    }
                }
            }
        }
    }
}

pub async fn list(
    State(state): State<AppState>,
    console: Console,
    Query(query): Query<HashMap<String, String>>,
) -> crate::console::PageResult {
    let mut conn = state.db.reader().acquire().await?;
    let param = |k: &str| query.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let kind = param("type").filter(|t| EVENT_TYPES.contains(t) || *t == "webhook.test");
    let mut positions = [None, None];
    for (slot, key) in positions.iter_mut().zip(["after", "before"]) {
        if let Some(id) = param(key) {
            *slot = store::events::get(
                &mut conn,
                &console.operator.account_id,
                console.livemode,
                id,
            )
            .await?
            .map(|e| (e.created, e.id));
        }
    }
    let [after, before] = positions;
    let at = cursor(after, before);
    let (events, more) = store::events::list(
        &mut conn,
        &console.operator.account_id,
        console.livemode,
        kind,
        &at,
    )
    .await?;
    let (newer, older) = neighbours(&at, more);
    let kept = kind.map(|k| format!("type={k}")).unwrap_or_default();
    let content = html! {
        form.filters method="get" action="/dashboard/events" {
            label { (console.t("类型", "Type"))
                select name="type" {
                    option value="" { (console.t("全部", "All")) }
                    @for t in EVENT_TYPES.iter().copied().chain(["webhook.test"]) {
                        option value=(t) selected[kind == Some(t)] { (t) }
                    }
                }
            }
            button { (console.t("筛选", "Filter")) }
        }
        @if events.is_empty() { p.empty { (console.t("没有事件。", "No events.")) } } @else {
            div.scroll { table {
                thead { tr { th { "ID" } th { (console.t("类型", "Type")) } th { (console.t("对象", "Object")) } th { (console.t("时间", "Time")) } th { (console.t("待推送", "Pending webhooks")) } } }
                tbody { @for event in &events { tr {
                    td { a href={"/dashboard/events/" (event.id)} { (event.id) } }
                    td { code { (event.kind) } }
                    td { (event.object.get("id").and_then(Value::as_str).unwrap_or_default()) }
                    td { (time(event.created)) }
                    td.num { (event.pending_webhooks) }
                } } }
            } }
            (pager(&console, "/dashboard/events", &kept, events.first().map(|e| e.id.as_str()), events.last().map(|e| e.id.as_str()), newer, older))
        }
    };
    Ok(layout::page(
        &console,
        "/dashboard/events",
        console.t("事件", "Events"),
        content,
    )
    .into_response())
}

pub async fn detail(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<String>,
) -> PageResult {
    let mut conn = state.db.reader().acquire().await?;
    let event = manage::event_of(&mut conn, &console.caller(), &id)
        .await
        .map_err(|_| Failure::NotFound)?;
    let deliveries: Vec<(String, Value)> = webhooks::deliveries_with_attempts(&mut conn, &event.id)
        .await?
        .into_iter()
        .map(|d| (event.kind.clone(), d))
        .collect();
    let charge = event
        .object
        .get("object")
        .and_then(Value::as_str)
        .filter(|o| *o == "charge")
        .and(event.object.get("id"))
        .or_else(|| event.object.get("charge"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    drop(conn);
    let content = html! {
        p.summary { code { (event.kind) } " · " (time(event.created))
            @if let Some(charge) = &charge { " · " a href={"/dashboard/charges/" (charge)} { (charge) } }
            @if let Some(request) = &event.request_id { " · " small { (request) } } }
        @if console.operator.role >= Role::Support {
            form.action method="post" action={"/dashboard/events/" (event.id) "/resend"} {
                (csrf_field(&console))
                button { (console.t("重新推送", "Resend")) }
            }
        }
        section {
            h2 { (console.t("Webhook 推送", "Webhook deliveries")) }
            (deliveries_table(&console, &deliveries))
        }
        section {
            h2 { (console.t("事件内容", "Payload")) }
            pre { (serde_json::to_string_pretty(&event.to_wire()).unwrap_or_default()) }
        }
    };
    Ok(layout::page(
        &console,
        "/dashboard/events",
        &format!("{} {}", console.t("事件", "Event"), event.id),
        content,
    )
    .into_response())
}

pub async fn resend(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<String>,
    form: FormFields,
) -> PageResult {
    require(&console, Role::Support)?;
    let endpoint = form.get("endpoint").map(str::to_owned);
    manage::resend(&state, console.caller(), id.clone(), endpoint).await?;
    Ok(Redirect::to(&format!("/dashboard/events/{id}")).into_response())
}

pub async fn failing(State(state): State<AppState>, console: Console) -> PageResult {
    let mut conn = state.db.reader().acquire().await?;
    let failing = store::reports::failing_deliveries(
        &mut conn,
        &console.operator.account_id,
        console.livemode,
        100,
    )
    .await?;
    drop(conn);
    let content = html! {
        p.hint { (console.t(
            "失败或正在重试的推送（最近 100 条）。接收方恢复后可在事件页重新推送。",
            "Deliveries that failed or are retrying after a failure (latest 100). Once the receiver is back, resend from the event's page."
        )) }
        @if failing.is_empty() { p.empty { (console.t("没有失败的推送。", "No failing deliveries.")) } } @else {
            div.scroll { table {
                thead { tr { th { (console.t("事件", "Event")) } th { "URL" } th { (console.t("状态", "Status")) } th { (console.t("尝试次数", "Attempts")) } th { (console.t("下次尝试", "Next attempt")) } th { (console.t("创建时间", "Created")) } } }
                tbody { @for f in &failing { tr {
                    td { a href={"/dashboard/events/" (f.delivery.event_id)} { (f.delivery.event_id) } }
                    td { (f.url) }
                    td { (badge(&console, &f.delivery.status)) }
                    td.num { (f.delivery.attempts) }
                    td { @if f.delivery.status == "pending" { (time_ms(f.delivery.next_attempt_ms)) } }
                    td { (time_ms(f.delivery.created_ms)) }
                } } }
            } }
        }
    };
    Ok(layout::page(
        &console,
        "/dashboard/deliveries",
        console.t("推送失败", "Deliveries"),
        content,
    )
    .into_response())
}
