//! Webhook endpoints of the current mode: add (the signing secret shown once), edit, enable or
//! disable, delete, and send a test event.

use super::super::format::time;
use super::super::forms::FormFields;
use super::super::layout;
use super::super::session::{
    Console, csrf_field, forget_secret, redirect_with_secret, take_secret,
};
use super::super::{Failure, PageResult, require};
use super::badge;
use crate::domain::webhook::{ALL_EVENTS, EVENT_TYPES};
use crate::operators::Role;
use crate::state::AppState;
use crate::store;
use crate::webhooks::endpoints::EndpointChange;
use crate::webhooks::manage;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect};
use maud::{Markup, html};
use std::collections::HashMap;

fn events_picker(console: &Console, chosen: &[String]) -> Markup {
    html! {
        fieldset.events {
            legend { (console.t("事件（不选即全部）", "Events (none checked: all)")) }
            @for event in EVENT_TYPES {
                label.check { input type="checkbox" name="events" value=(event) checked[chosen.iter().any(|e| e == event)]; " " code { (event) } }
            }
        }
    }
}

/// The form's change: checked events, or every event when none is checked.
fn change_of(form: &FormFields, enabled: Option<bool>) -> EndpointChange {
    let events = form.all("events");
    EndpointChange {
        url: form.get("url").map(str::to_owned),
        events: Some(if events.is_empty() {
            vec![ALL_EVENTS.to_owned()]
        } else {
            events
        }),
        enabled,
        description: form.get("description").map(str::to_owned),
    }
}

async fn render(
    state: &AppState,
    console: &Console,
    created: Option<(String, String)>,
    tested: Option<&str>,
) -> PageResult {
    let endpoints = {
        let mut conn = state.db.reader().acquire().await?;
        store::webhooks::list_endpoints(
            &mut conn,
            &console.operator.account_id,
            Some(console.livemode),
        )
        .await?
    };
    let admin = console.operator.role >= Role::Admin;
    let content = html! {
        @if let Some(event) = tested {
            p.notice role="status" { (console.t("已发送测试事件", "Test event sent:")) " "
                a href={"/dashboard/events/" (event)} { (event) } }
        }
        @if let Some((url, secret)) = &created {
            div.notice role="status" {
                p { (console.t("已添加", "Added")) " " code { (url) } ". "
                    (console.t("签名密钥只显示这一次，请立即保存：", "Its signing secret is shown this once; keep it now:")) }
                pre #new-secret { (secret) }
            }
        }
        @if endpoints.is_empty() { p.empty { (console.t("还没有 Webhook 地址。", "No webhook endpoints yet.")) } } @else {
            div.scroll { table {
                thead { tr { th { "URL" } th { (console.t("事件", "Events")) } th { (console.t("状态", "Status")) } th { (console.t("创建时间", "Created")) } @if admin { th { (console.t("操作", "Actions")) } } } }
                tbody { @for e in &endpoints { tr {
                    td { (e.url) @if let Some(d) = &e.description { br; small { (d) } } }
                    td { @for ev in &e.events { code { (if ev == ALL_EVENTS { console.t("全部", "all") } else { ev.as_str() }) } " " } }
                    td { (badge(console, if e.enabled { "enabled" } else { "disabled" })) }
                    td { (time(e.created)) }
                    @if admin { td.actions {
                        form.inline method="post" action={"/dashboard/webhooks/" (e.id) "/test"} { (csrf_field(console)) button { (console.t("发送测试事件", "Send test event")) } }
                        form.inline method="post" action={"/dashboard/webhooks/" (e.id) "/toggle"} { (csrf_field(console))
                            button { @if e.enabled { (console.t("停用", "Disable")) } @else { (console.t("启用", "Enable")) } } }
                        a href={"/dashboard/webhooks/" (e.id)} { (console.t("编辑", "Edit")) }
                        form.inline method="post" action={"/dashboard/webhooks/" (e.id) "/delete"} data-confirm=(console.t("删除这个地址？待推送的事件将取消。", "Delete this endpoint? Its pending deliveries are cancelled.")) {
                            (csrf_field(console)) button.danger { (console.t("删除", "Delete")) } }
                    } }
                } } }
            } }
        }
        @if admin {
            section {
                h2 { (console.t("添加地址", "Add an endpoint")) }
                form.action method="post" action="/dashboard/webhooks" {
                    (csrf_field(console))
                    label { "URL" input name="url" type="url" required placeholder="https://merchant.example/pingpp/webhooks"; }
                    (events_picker(console, &[]))
                    label { (console.t("备注", "Description")) input name="description" maxlength="255"; }
                    button.primary { (console.t("添加地址", "Add endpoint")) }
                }
            }
        }
    };
    Ok(layout::page(console, "/dashboard/webhooks", "Webhooks", content).into_response())
}

pub async fn list(
    State(state): State<AppState>,
    console: Console,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> PageResult {
    let tested = query.get("tested").map(String::as_str).filter(|e| {
        e.starts_with("evt_")
            && e.len() < 64
            && e.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    });
    let response = render(&state, &console, take_secret(&headers), tested).await?;
    Ok(forget_secret(&state, &headers, response))
}

pub async fn create(
    State(state): State<AppState>,
    console: Console,
    headers: HeaderMap,
    form: FormFields,
) -> PageResult {
    require(&console, Role::Admin)?;
    let change = change_of(&form, Some(true));
    let (endpoint, secret) = manage::create(&state, console.caller(), change).await?;
    Ok(redirect_with_secret(
        &state,
        &headers,
        "/dashboard/webhooks",
        &endpoint.url,
        secret.expose(),
    ))
}

pub async fn edit(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<String>,
) -> PageResult {
    require(&console, Role::Admin)?;
    let endpoint = {
        let mut conn = state.db.reader().acquire().await?;
        manage::endpoint_of(&mut conn, &console.caller(), &id)
            .await
            .map_err(|_| Failure::NotFound)?
    };
    let content = html! {
        form.action method="post" action={"/dashboard/webhooks/" (endpoint.id)} {
            (csrf_field(&console))
            label { "URL" input name="url" type="url" required value=(endpoint.url); }
            (events_picker(&console, &endpoint.events))
            label { (console.t("备注", "Description")) input name="description" maxlength="255" value=(endpoint.description.clone().unwrap_or_default()); }
            button.primary { (console.t("保存", "Save")) }
            " " a href="/dashboard/webhooks" { (console.t("取消", "Cancel")) }
        }
    };
    Ok(layout::page(
        &console,
        "/dashboard/webhooks",
        &format!("Webhook {}", endpoint.url),
        content,
    )
    .into_response())
}

pub async fn update(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<String>,
    form: FormFields,
) -> PageResult {
    require(&console, Role::Admin)?;
    manage::update(&state, console.caller(), id, change_of(&form, None)).await?;
    Ok(Redirect::to("/dashboard/webhooks").into_response())
}

pub async fn toggle(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<String>,
) -> PageResult {
    require(&console, Role::Admin)?;
    let enabled = {
        let mut conn = state.db.reader().acquire().await?;
        manage::endpoint_of(&mut conn, &console.caller(), &id)
            .await
            .map_err(|_| Failure::NotFound)?
            .enabled
    };
    let change = EndpointChange {
        enabled: Some(!enabled),
        ..EndpointChange::default()
    };
    manage::update(&state, console.caller(), id, change).await?;
    Ok(Redirect::to("/dashboard/webhooks").into_response())
}

pub async fn remove(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<String>,
) -> PageResult {
    require(&console, Role::Admin)?;
    manage::remove(&state, console.caller(), id).await?;
    Ok(Redirect::to("/dashboard/webhooks").into_response())
}

pub async fn send_test(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<String>,
) -> PageResult {
    require(&console, Role::Admin)?;
    let event = manage::send_test(&state, console.caller(), id).await?;
    Ok(Redirect::to(&format!("/dashboard/webhooks?tested={}", event.id)).into_response())
}
