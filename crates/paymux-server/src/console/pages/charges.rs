//! Charges: the list with its filters and search, a charge's whole history, and what can be
//! done to it (refund, reverse, and in test mode mark paid or failed); the refunds list.

use super::super::format::{money, parse_day, parse_yuan, time, yuan};
use super::super::forms::FormFields;
use super::super::layout;
use super::super::session::{Console, csrf_field};
use super::super::{Failure, PageResult, require};
use super::{PAGE_SIZE, badge, charge_status, cursor, neighbours, pager};
use crate::domain::channel::Channel;
use crate::domain::charge::Charge;
use crate::domain::refund::{Refund, RefundStatus};
use crate::error::GatewayError;
use crate::operators::Role;
use crate::payments;
use crate::payments::charges::PayResult;
use crate::payments::refunds::NewRefund;
use crate::state::AppState;
use crate::store;
use crate::store::charges::ListFilter;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect};
use maud::{Markup, html};
use serde_json::Map;
use sqlx::AnyConnection;
use std::collections::HashMap;

type Params = Query<HashMap<String, String>>;

fn param<'a>(query: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    query.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
}

/// The charge of the console's account and mode, or 404.
async fn charge_of(
    conn: &mut AnyConnection,
    console: &Console,
    id: &str,
) -> Result<Charge, Failure> {
    store::charges::get(conn, &console.operator.account_id, console.livemode, id)
        .await?
        .ok_or(Failure::NotFound)
}

/// Where a list page starts: the charge named by `after` or `before`, if it is one here.
async fn charge_cursor(
    conn: &mut AnyConnection,
    console: &Console,
    query: &HashMap<String, String>,
) -> Result<store::Page, Failure> {
    let mut positions = [None, None];
    for (slot, key) in positions.iter_mut().zip(["after", "before"]) {
        if let Some(id) = param(query, key) {
            *slot = store::charges::get(conn, &console.operator.account_id, console.livemode, id)
                .await?
                .map(|c| (c.created, c.id));
        }
    }
    let [after, before] = positions;
    Ok(cursor(after, before))
}

pub async fn list(
    State(state): State<AppState>,
    console: Console,
    Query(query): Params,
) -> PageResult {
    let mut conn = state.db.reader().acquire().await?;
    let search = param(&query, "q").map(str::to_owned);
    let (charges, newer, older) = if let Some(q) = &search {
        // An id or an order number finds one charge.
        let account = &console.operator.account_id;
        let by_id = store::charges::get(&mut conn, account, console.livemode, q).await?;
        let found = match by_id {
            Some(c) => Some(c),
            None => {
                store::charges::find_by_order_no(&mut conn, &console.app_id, console.livemode, q)
                    .await?
            }
        };
        (found.into_iter().collect::<Vec<_>>(), false, false)
    } else {
        let mut filter = ListFilter {
            app_id: console.app_id.clone(),
            livemode: console.livemode,
            channel: param(&query, "channel").map(str::to_owned),
            created_gte: param(&query, "from").and_then(parse_day),
            created_lte: param(&query, "to").and_then(parse_day).map(|d| d + 86_399),
            ..ListFilter::default()
        };
        match param(&query, "status") {
            Some("paid") => filter.paid = Some(true),
            Some("unpaid") => {
                filter.paid = Some(false);
                filter.reversed = Some(false);
                filter.failed = Some(false);
            }
            Some("refunded") => filter.refunded = Some(true),
            Some("reversed") => filter.reversed = Some(true),
            Some("failed") => filter.failed = Some(true),
            _ => {}
        }
        let page = charge_cursor(&mut conn, &console, &query).await?;
        let (charges, more) = store::charges::list(&mut conn, &filter, &page).await?;
        let (newer, older) = neighbours(&page, more);
        (charges, newer, older)
    };
    let kept: Vec<String> = ["channel", "status", "from", "to"]
        .iter()
        .filter_map(|k| param(&query, k).map(|v| format!("{k}={}", urlencode(v))))
        .collect();
    let chosen = |k: &str| param(&query, k).unwrap_or_default().to_owned();
    let statuses = [
        ("", console.t("全部", "All")),
        ("paid", console.t("已支付", "Paid")),
        ("unpaid", console.t("未支付", "Unpaid")),
        ("refunded", console.t("有退款", "Refunded")),
        ("reversed", console.t("已撤销", "Reversed")),
        ("failed", console.t("失败", "Failed")),
    ];
    let content = html! {
        form.filters method="get" action="/dashboard/charges" role="search" {
            label { (console.t("订单号或 ID", "Order no. or ID"))
                input name="q" type="search" value=(chosen("q")) placeholder=(console.t("订单号 / ch_…", "order_no / ch_…")); }
            button { (console.t("搜索", "Search")) }
        }
        form.filters method="get" action="/dashboard/charges" {
            label { (console.t("渠道", "Channel"))
                select name="channel" {
                    option value="" { (console.t("全部", "All")) }
                    @for channel in Channel::ALL {
                        option value=(channel.as_str()) selected[chosen("channel") == channel.as_str()] { (channel.as_str()) }
                    }
                }
            }
            label { (console.t("状态", "Status"))
                select name="status" {
                    @for (value, label) in statuses {
                        option value=(value) selected[chosen("status") == value] { (label) }
                    }
                }
            }
            label { (console.t("从", "From")) input name="from" type="date" value=(chosen("from")); }
            label { (console.t("到", "To")) input name="to" type="date" value=(chosen("to")); }
            button { (console.t("筛选", "Filter")) }
        }
        @if charges.is_empty() {
            p.empty { (console.t("没有符合条件的交易。", "No charges match.")) }
        } @else {
            (charges_table(&console, &charges))
            (pager(&console, "/dashboard/charges", &kept.join("&"),
                charges.first().map(|c| c.id.as_str()), charges.last().map(|c| c.id.as_str()), newer, older))
        }
    };
    Ok(layout::page(
        &console,
        "/dashboard/charges",
        console.t("交易", "Charges"),
        content,
    )
    .into_response())
}

fn urlencode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

fn charges_table(console: &Console, charges: &[Charge]) -> Markup {
    html! {
        div.scroll { table {
            thead { tr {
                th { "ID" } th { (console.t("订单号", "Order no.")) } th.num { (console.t("金额", "Amount")) }
                th { (console.t("渠道", "Channel")) } th { (console.t("状态", "Status")) } th { (console.t("创建时间", "Created")) }
            } }
            tbody {
                @for charge in charges {
                    tr {
                        td { a href={"/dashboard/charges/" (charge.id)} { (charge.id) } }
                        td { (charge.order_no) }
                        td.num { (money(charge.amount)) }
                        td { (charge.channel.as_str()) }
                        td { (badge(console, charge_status(console, charge).0)) }
                        td { (time(charge.created)) }
                    }
                }
            }
        } }
    }
}

/// The QR link a charge's payer scans, while it can still be paid.
fn qr_link(charge: &Charge) -> Option<&str> {
    charge
        .credential
        .get(charge.channel.as_str())
        .and_then(|v| v.as_str())
        .filter(|link| link.starts_with("http") || link.starts_with("weixin:"))
}

pub async fn detail(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<String>,
) -> PageResult {
    let mut conn = state.db.reader().acquire().await?;
    let charge = charge_of(&mut conn, &console, &id).await?;
    let refunds = store::refunds::list_for_charge(
        &mut conn,
        &charge.id,
        &store::Page {
            limit: 100,
            ..Default::default()
        },
    )
    .await?
    .0;
    let events = store::events::of_charge(&mut conn, &charge.id).await?;
    let mut deliveries = Vec::new();
    for event in &events {
        for delivery in crate::webhooks::deliveries_with_attempts(&mut conn, &event.id).await? {
            deliveries.push((event.kind.clone(), delivery));
        }
    }
    let mut notifications = Vec::new();
    for reference in std::iter::once(&charge.id).chain(refunds.iter().map(|r| &r.id)) {
        notifications.extend(
            store::channel_notifications::list(
                &mut conn,
                &charge.app_id,
                charge.livemode,
                Some(reference),
                20,
            )
            .await?,
        );
    }
    drop(conn);
    let now = console.now_ms / 1000;
    let (status, _) = charge_status(&console, &charge);
    let refundable = charge.refundable();
    let can_act = console.operator.role >= Role::Support;
    let json = |map: &Map<String, serde_json::Value>| {
        serde_json::to_string_pretty(map).unwrap_or_default()
    };
    let field = |label: &str, value: String| html! { dt { (label) } dd { (value) } };
    let mut timeline: Vec<(i64, String)> =
        vec![(charge.created, console.t("创建", "Created").to_owned())];
    if let Some(paid) = charge.time_paid {
        timeline.push((paid, console.t("支付成功", "Paid").to_owned()));
    }
    for refund in &refunds {
        timeline.push((
            refund.created,
            format!(
                "{} {} ({})",
                console.t("发起退款", "Refund requested"),
                money(refund.amount),
                refund.id
            ),
        ));
        if let Some(done) = refund.time_succeed {
            timeline.push((
                done,
                format!(
                    "{} {}",
                    console.t("退款成功", "Refund succeeded"),
                    refund.id
                ),
            ));
        }
    }
    for event in &events {
        timeline.push((
            event.created,
            format!("{} {}", console.t("事件", "Event"), event.kind),
        ));
    }
    for n in &notifications {
        timeline.push((
            n.received,
            format!(
                "{} {}",
                console.t("收到渠道通知", "Channel notification from"),
                n.provider
            ),
        ));
    }
    timeline.sort_by_key(|(at, _)| *at);

    let content = html! {
        p.summary {
            strong.amount { (money(charge.amount)) } " " (badge(&console, status)) " "
            span { (charge.channel.as_str()) } " · " span { (charge.order_no) }
        }
        div.columns {
            section {
                h2 { (console.t("详情", "Details")) }
                dl.fields {
                    (field("ID", charge.id.clone()))
                    (field(console.t("订单号", "Order no."), charge.order_no.clone()))
                    (field(console.t("金额", "Amount"), money(charge.amount)))
                    (field(console.t("已退款", "Refunded"), money(charge.amount_refunded)))
                    (field(console.t("可退金额", "Refundable"), money(refundable)))
                    (field(console.t("渠道", "Channel"), charge.channel.as_str().to_owned()))
                    (field(console.t("商品标题", "Subject"), charge.subject.clone()))
                    (field(console.t("商品描述", "Body"), charge.body.clone()))
                    (field(console.t("备注", "Description"), charge.description.clone().unwrap_or_default()))
                    (field(console.t("币种", "Currency"), charge.currency.clone()))
                    (field(console.t("客户端 IP", "Client IP"), charge.client_ip.clone()))
                    (field(console.t("创建时间", "Created"), time(charge.created)))
                    (field(console.t("支付时间", "Paid at"), charge.time_paid.map(time).unwrap_or_default()))
                    (field(console.t("过期时间", "Expires"), time(charge.time_expire)))
                    (field(console.t("渠道流水号", "Transaction no."), charge.transaction_no.clone().unwrap_or_default()))
                    (field(console.t("失败原因", "Failure"), charge.failure_msg.clone().map(|m| format!("{} {m}", charge.failure_code.clone().unwrap_or_default())).unwrap_or_default()))
                    (field(console.t("应用", "App"), charge.app_id.clone()))
                    (field(console.t("模式", "Mode"), console.mode().to_owned()))
                    @if let Some(recharge) = &charge.recharge_id { (field(console.t("充值", "Recharge"), recharge.clone())) }
                }
                h3 { "metadata" } pre { (json(&charge.metadata)) }
                h3 { "extra" } pre { (json(&charge.extra)) }
            }
            section {
                h2 { (console.t("操作", "Actions")) }
                @if let (Some(link), false) = (qr_link(&charge), charge.paid || charge.reversed || charge.time_expire <= now) {
                    figure.qr {
                        img src={"/dashboard/charges/" (charge.id) "/qr.svg"} alt=(console.t("付款二维码", "Payment QR code")) width="200" height="200";
                        figcaption { code { (link) } }
                    }
                }
                @if can_act && charge.paid && refundable > 0 && charge.recharge_id.is_none() {
                    form.action method="post" action={"/dashboard/charges/" (charge.id) "/refund"} {
                        (csrf_field(&console))
                        p { (console.t("可退金额", "Refundable")) " " strong { (money(refundable)) } }
                        label { (console.t("退款金额（元）", "Amount (yuan)"))
                            input name="amount" inputmode="decimal" value=(yuan(refundable)) required; }
                        label { (console.t("退款原因", "Reason")) input name="description" maxlength="255"; }
                        button.danger { (console.t("退款", "Refund")) }
                    }
                }
                @if can_act && charge.channel.reversible() && !charge.reversed && charge.recharge_id.is_none() {
                    form.action method="post" action={"/dashboard/charges/" (charge.id) "/reverse"} data-confirm=(console.t("确定撤销这笔交易？已支付的金额将全额退回。", "Reverse this charge? Anything paid is refunded in full.")) {
                        (csrf_field(&console))
                        button.danger { (console.t("撤销", "Reverse")) }
                    }
                }
                @if can_act && !console.livemode && charge.payable_at(now).is_ok() {
                    form.action method="post" action={"/dashboard/charges/" (charge.id) "/test-pay"} {
                        (csrf_field(&console))
                        button name="result" value="paid" { (console.t("标记为已支付", "Mark paid")) }
                        " "
                        button name="result" value="failed" { (console.t("标记为失败", "Mark failed")) }
                    }
                }
                h2 { (console.t("时间线", "Timeline")) }
                ol.timeline {
                    @for (at, what) in &timeline { li { time { (time(*at)) } " " (what) } }
                }
            }
        }
        section {
            h2 { (console.t("退款", "Refunds")) }
            (refunds_table(&console, &refunds, false))
        }
        section {
            h2 { (console.t("事件", "Events")) }
            @if events.is_empty() { p.empty { (console.t("没有事件。", "No events.")) } } @else {
                div.scroll { table {
                    thead { tr { th { "ID" } th { (console.t("类型", "Type")) } th { (console.t("时间", "Time")) } th { (console.t("待推送", "Pending webhooks")) } } }
                    tbody { @for event in &events { tr {
                        td { a href={"/dashboard/events/" (event.id)} { (event.id) } }
                        td { code { (event.kind) } }
                        td { (time(event.created)) }
                        td.num { (event.pending_webhooks) }
                    } } }
                } }
            }
        }
        section {
            h2 { (console.t("Webhook 推送", "Webhook deliveries")) }
            (super::events::deliveries_table(&console, &deliveries))
        }
        section {
            h2 { (console.t("渠道通知", "Channel notifications")) }
            @if notifications.is_empty() { p.empty { (console.t("没有收到渠道通知。", "No channel notifications received.")) } } @else {
                @for n in &notifications {
                    details { summary { (time(n.received)) " · " (n.provider) " · " (n.reference) } pre { (n.body) } }
                }
            }
        }
    };
    Ok(layout::page(
        &console,
        "/dashboard/charges",
        &format!("{} {}", console.t("交易", "Charge"), charge.id),
        content,
    )
    .into_response())
}

pub fn refunds_table(console: &Console, refunds: &[Refund], with_charge: bool) -> Markup {
    html! {
        @if refunds.is_empty() { p.empty { (console.t("没有退款。", "No refunds.")) } } @else {
            div.scroll { table {
                thead { tr {
                    th { "ID" }
                    @if with_charge { th { (console.t("交易", "Charge")) } th { (console.t("订单号", "Order no.")) } }
                    th.num { (console.t("金额", "Amount")) } th { (console.t("状态", "Status")) }
                    th { (console.t("原因", "Reason")) } th { (console.t("创建时间", "Created")) } th { (console.t("成功时间", "Succeeded")) }
                } }
                tbody { @for refund in refunds { tr {
                    td { (refund.id) }
                    @if with_charge {
                        td { a href={"/dashboard/charges/" (refund.charge_id)} { (refund.charge_id) } }
                        td { (refund.charge_order_no) }
                    }
                    td.num { (money(refund.amount)) }
                    td { (badge(console, refund.status.as_str()))
                        @if let Some(msg) = &refund.failure_msg { br; small { (msg) } }
                        @if refund.status == RefundStatus::Abnormal && console.operator.role >= Role::Finance {
                            form.inline method="post" action={"/dashboard/refunds/" (refund.id) "/resolve"}
                                data-confirm=(console.t("确认已通过其他方式把这笔钱转给付款人？", "Confirm the money reached the payer by a manual transfer?")) {
                                (csrf_field(console))
                                input name="reference" required maxlength="64" placeholder=(console.t("转账流水号", "transfer reference")) aria-label=(console.t("转账流水号", "Transfer reference"));
                                button { (console.t("已人工转账", "Mark transferred")) }
                            }
                        } }
                    td { (refund.description) }
                    td { (time(refund.created)) }
                    td { (refund.time_succeed.map(time).unwrap_or_default()) }
                } } }
            } }
        }
    }
}

/// A form's one-time id: letters and digits, so it can be part of an audit entry's id.
fn form_id(form: &FormFields) -> Option<String> {
    form.get("form_id")
        .filter(|id| (16..=40).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric()))
        .map(str::to_owned)
}

/// Refund: the first POST shows what will happen and asks to confirm; the confirmation (with
/// the form's one-time id) refunds, once however often it is sent.
pub async fn refund(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<String>,
    form: FormFields,
) -> PageResult {
    require(&console, Role::Support)?;
    let charge = {
        let mut conn = state.db.reader().acquire().await?;
        charge_of(&mut conn, &console, &id).await?
    };
    let amount = match form.get("amount") {
        Some(text) => parse_yuan(text, "amount")?,
        None => charge.refundable(),
    };
    if amount <= 0 {
        return Err(GatewayError::invalid_param(
            "amount",
            console.t("退款金额必须大于 0。", "The amount must be more than 0."),
        )
        .into());
    }
    let description = form.get("description").unwrap_or_default().to_owned();
    if description.chars().count() > 255 {
        return Err(GatewayError::invalid_param(
            "description",
            "The reason is at most 255 characters.",
        )
        .into());
    }
    let Some(form_id) = form.get("confirm").and_then(|_| form_id(&form)) else {
        let content = html! {
            p { (console.t("确认从交易", "Refund")) " " strong { (money(amount)) } " "
                (console.t("退款？", "of charge")) " " code { (charge.id) } " (" (charge.order_no) ")" }
            p { (console.t("可退金额", "Refundable")) " " (money(charge.refundable())) }
            @if !description.is_empty() { p { (console.t("原因：", "Reason: ")) (description) } }
            form.action method="post" action={"/dashboard/charges/" (charge.id) "/refund"} {
                (csrf_field(&console))
                input type="hidden" name="amount" value=(yuan(amount));
                input type="hidden" name="description" value=(description);
                input type="hidden" name="form_id" value=(crate::ids::form_token());
                input type="hidden" name="confirm" value="1";
                button.danger { (console.t("确认退款", "Confirm refund")) }
                " " a href={"/dashboard/charges/" (charge.id)} { (console.t("取消", "Cancel")) }
            }
        };
        return Ok(layout::page(
            &console,
            "/dashboard/charges",
            console.t("确认退款", "Confirm refund"),
            content,
        )
        .into_response());
    };
    let entry_id = format!("aud_form_{form_id}");
    let new = NewRefund {
        amount: Some(amount),
        description,
        metadata: Map::new(),
        funding_source: None,
    };
    let caller = console.caller_with_entry(Some(entry_id.clone()));
    if let Err(error) = payments::refunds::create(&state, caller, charge.id.clone(), new).await {
        // The same confirmation sent again collides on its audit entry: the refund it asked
        // for was made by the first one.
        let mut conn = state.db.reader().acquire().await?;
        if !store::audit::exists(&mut conn, &entry_id).await? {
            return Err(error.into());
        }
    }
    Ok(Redirect::to(&format!("/dashboard/charges/{}", charge.id)).into_response())
}

pub async fn reverse(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<String>,
) -> PageResult {
    require(&console, Role::Support)?;
    payments::charges::reverse(&state, console.caller(), id.clone()).await?;
    Ok(Redirect::to(&format!("/dashboard/charges/{id}")).into_response())
}

pub async fn test_pay(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<String>,
    form: FormFields,
) -> PageResult {
    require(&console, Role::Support)?;
    let result = match form.get("result") {
        Some("failed") => PayResult::Fail,
        _ => PayResult::Success,
    };
    payments::charges::test_pay(&state, console.caller(), id.clone(), result).await?;
    Ok(Redirect::to(&format!("/dashboard/charges/{id}")).into_response())
}

/// The charge's QR link as an SVG image, drawn here (the page loads nothing from elsewhere).
pub async fn qr(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<String>,
) -> PageResult {
    let charge = {
        let mut conn = state.db.reader().acquire().await?;
        charge_of(&mut conn, &console, &id).await?
    };
    let link = qr_link(&charge).ok_or(Failure::NotFound)?;
    let code = qrcode::QrCode::new(link.as_bytes()).map_err(|_| Failure::NotFound)?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build();
    Ok(([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
}

pub async fn refunds(
    State(state): State<AppState>,
    console: Console,
    Query(query): Params,
) -> PageResult {
    let mut conn = state.db.reader().acquire().await?;
    let status = param(&query, "status")
        .filter(|s| ["pending", "succeeded", "failed", "abnormal"].contains(s));
    let mut positions = [None, None];
    for (slot, key) in positions.iter_mut().zip(["after", "before"]) {
        if let Some(id) = param(&query, key) {
            *slot = store::refunds::get_by_id(&mut conn, id)
                .await?
                .filter(|r| r.app_id == console.app_id && r.livemode == console.livemode)
                .map(|r| (r.created, r.id));
        }
    }
    let [after, before] = positions;
    let page_at = cursor(after, before);
    let (refunds, more) = store::refunds::list_for_app(
        &mut conn,
        &console.app_id,
        console.livemode,
        status,
        &page_at,
    )
    .await?;
    let (newer, older) = neighbours(&page_at, more);
    let kept = status.map(|s| format!("status={s}")).unwrap_or_default();
    let content = html! {
        form.filters method="get" action="/dashboard/refunds" {
            label { (console.t("状态", "Status"))
                select name="status" {
                    option value="" { (console.t("全部", "All")) }
                    @for s in ["pending", "succeeded", "failed", "abnormal"] {
                        option value=(s) selected[status == Some(s)] { (super::status_label(&console, s)) }
                    }
                }
            }
            button { (console.t("筛选", "Filter")) }
        }
        (refunds_table(&console, &refunds, true))
        (pager(&console, "/dashboard/refunds", &kept, refunds.first().map(|r| r.id.as_str()), refunds.last().map(|r| r.id.as_str()), newer, older))
        @if refunds.len() as i64 == PAGE_SIZE || status == Some("abnormal") {
            p.hint { (console.t(
                "退款异常（abnormal）：渠道已扣款但未到账（如银行卡已注销），需要在渠道后台人工处理；该金额不会再次退款。",
                "Abnormal: the channel took the money but could not pay it out (e.g. a closed card); resolve it in the channel's back office. The amount is not refundable again."
            )) }
        }
    };
    Ok(layout::page(
        &console,
        "/dashboard/refunds",
        console.t("退款", "Refunds"),
        content,
    )
    .into_response())
}

/// An abnormal refund paid by hand (finance): it succeeds with the transfer's reference.
pub async fn resolve(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<String>,
    form: FormFields,
) -> PageResult {
    require(&console, Role::Finance)?;
    let reference = form.get("reference").unwrap_or_default().to_owned();
    payments::refunds::resolve_abnormal(&state, console.caller(), id, reference).await?;
    Ok(Redirect::to("/dashboard/refunds?status=abnormal").into_response())
}
