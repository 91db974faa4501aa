//! The overview: today's and this week's charges by channel, the success rate, refunds
//! waiting, and webhook deliveries failing.

use super::super::PageResult;
use super::super::format::{day_start, money};
use super::super::layout;
use super::super::session::Console;
use crate::state::AppState;
use crate::store;
use crate::store::reports::ChannelVolume;
use axum::extract::State;
use axum::response::IntoResponse;
use maud::{Markup, html};

fn volume(console: &Console, title: &str, rows: &[ChannelVolume]) -> Markup {
    let created: i64 = rows.iter().map(|r| r.created).sum();
    let paid: i64 = rows.iter().map(|r| r.paid).sum();
    let amount: i64 = rows.iter().map(|r| r.amount_paid).sum();
    let rate = if created > 0 {
        format!("{:.1}%", paid as f64 * 100.0 / created as f64)
    } else {
        "—".to_owned()
    };
    html! {
        section.card {
            h2 { (title) }
            p.figures {
                span { strong { (money(amount)) } br; small { (console.t("成交金额", "Paid volume")) } }
                span { strong { (paid) " / " (created) } br; small { (console.t("成功 / 创建笔数", "Paid / created")) } }
                span { strong { (rate) } br; small { (console.t("成功率", "Success rate")) } }
            }
            @if !rows.is_empty() {
                div.scroll { table {
                    thead { tr { th { (console.t("渠道", "Channel")) } th.num { (console.t("创建", "Created")) } th.num { (console.t("成功", "Paid")) } th.num { (console.t("金额", "Amount")) } } }
                    tbody { @for r in rows { tr {
                        td { a href={"/dashboard/charges?channel=" (r.channel)} { (r.channel) } }
                        td.num { (r.created) } td.num { (r.paid) } td.num { (money(r.amount_paid)) }
                    } } }
                } }
            }
        }
    }
}

pub async fn page(State(state): State<AppState>, console: Console) -> PageResult {
    let now = console.now_ms / 1000;
    let today = day_start(now);
    let week = today - 6 * 86_400;
    let (today_rows, week_rows, (pending, abnormal), failing) = {
        let mut conn = state.db.reader().acquire().await?;
        (
            store::reports::volume_by_channel(&mut conn, &console.app_id, console.livemode, today)
                .await?,
            store::reports::volume_by_channel(&mut conn, &console.app_id, console.livemode, week)
                .await?,
            store::reports::open_refunds(&mut conn, &console.app_id, console.livemode).await?,
            store::reports::count_failing_deliveries(
                &mut conn,
                &console.operator.account_id,
                console.livemode,
            )
            .await?,
        )
    };
    let content = html! {
        div.cards {
            (volume(&console, console.t("今日", "Today"), &today_rows))
            (volume(&console, console.t("最近 7 天", "Last 7 days"), &week_rows))
            section.card {
                h2 { (console.t("待处理", "Needs attention")) }
                ul.plain {
                    li { a href="/dashboard/refunds?status=pending" { strong { (pending) } " " (console.t("笔退款处理中", "refunds pending")) } }
                    li class=[(abnormal > 0).then_some("alert")] { a href="/dashboard/refunds?status=abnormal" { strong { (abnormal) } " " (console.t("笔退款异常（需人工处理）", "refunds abnormal (resolve at the channel)")) } }
                    li class=[(failing > 0).then_some("alert")] { a href="/dashboard/deliveries" { strong { (failing) } " " (console.t("个 Webhook 推送失败", "webhook deliveries failing")) } }
                }
            }
        }
    };
    Ok(layout::page(
        &console,
        "/dashboard/",
        console.t("概览", "Overview"),
        content,
    )
    .into_response())
}
