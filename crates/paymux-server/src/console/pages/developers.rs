//! Developer settings (开发参数): secret keys (shown by prefix; rolled with a grace period, the
//! new key shown once), the merchant RSA public key and where signatures are required, and the
//! platform public key that signs responses and webhooks.

use super::super::format::time_ms;
use super::super::forms::FormFields;
use super::super::layout;
use super::super::session::{
    Console, csrf_field, forget_secret, redirect_with_secret, take_secret,
};
use super::super::{PageResult, require};
use crate::account;
use crate::operators::Role;
use crate::state::AppState;
use crate::store;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect};
use maud::html;

fn mode_name(console: &Console, livemode: bool) -> &'static str {
    if livemode {
        console.t("生产", "Live")
    } else {
        console.t("测试", "Test")
    }
}

async fn render(
    state: &AppState,
    console: &Console,
    new_key: Option<(String, String)>,
) -> PageResult {
    let (keys, (merchant_key, require_test, require_live), platform) = {
        let mut conn = state.db.reader().acquire().await?;
        let account = &console.operator.account_id;
        (
            store::accounts::keys(&mut conn, account, console.now_ms).await?,
            store::accounts::signature_settings(&mut conn, account).await?,
            store::accounts::platform_key(&mut conn)
                .await?
                .map(|(_, public)| public)
                .unwrap_or_default(),
        )
    };
    let content = html! {
        @if let Some((mode, key)) = &new_key {
            div.notice role="status" {
                p { (mode_name(console, mode == "live")) " " (console.t("新密钥只显示这一次，请立即保存：", "secret key — shown this once; keep it now:")) }
                pre #new-secret { (key) }
            }
        }
        section {
            h2 { (console.t("Secret Key", "Secret keys")) }
            div.scroll { table {
                thead { tr { th { (console.t("模式", "Mode")) } th { (console.t("密钥", "Key")) } th { (console.t("状态", "Status")) } } }
                tbody { @for key in &keys { tr {
                    td { (mode_name(console, key.livemode)) }
                    td { code { (key.hint.clone().unwrap_or_else(|| if key.livemode { "sk_live_…".into() } else { "sk_test_…".into() })) } }
                    td { @match key.expires_ms {
                        Some(at) => { (console.t("将于", "stops working at")) " " (time_ms(at)) " " (console.t("失效", "")) }
                        None => { (console.t("有效", "active")) }
                    } }
                } } }
            } }
            @for livemode in [false, true] {
                form.action method="post" action="/dashboard/developers/keys/roll" {
                    (csrf_field(console))
                    input type="hidden" name="mode" value=(if livemode { "live" } else { "test" });
                    label { (console.t("旧密钥继续有效（分钟）", "Old keys keep working for (minutes)"))
                        input name="grace_minutes" type="number" min="0" max=(account::MAX_GRACE_MINUTES) value="60"; }
                    button { (console.t("轮换密钥", "Roll key")) " (" (mode_name(console, livemode)) ")" }
                }
            }
        }
        section {
            h2 { (console.t("商户 RSA 公钥", "Merchant RSA public key")) }
            p.hint { (console.t(
                "用于验证请求签名（Pingplusplus-Signature）。粘贴或上传 PEM 格式公钥。",
                "Checks request signatures (Pingplusplus-Signature). Paste or upload the PEM public key."
            )) }
            form.action method="post" action="/dashboard/developers/merchant-key" {
                (csrf_field(console))
                textarea name="merchant_public_key" rows="8" spellcheck="false" placeholder="-----BEGIN PUBLIC KEY-----" { (merchant_key.clone().unwrap_or_default()) }
                label { (console.t("或上传文件", "or upload a file")) input type="file" accept=".pem,.pub,.txt" data-fill="merchant_public_key"; }
                button.primary { (console.t("保存公钥", "Save public key")) }
            }
            @if merchant_key.is_some() {
                form.inline method="post" action="/dashboard/developers/merchant-key" data-confirm=(console.t("删除公钥将同时停止要求签名。", "Removing the key also stops requiring signatures.")) {
                    (csrf_field(console)) input type="hidden" name="clear" value="1";
                    button.danger { (console.t("删除公钥", "Remove public key")) }
                }
            }
            h3 { (console.t("请求签名验证", "Signature enforcement")) }
            p.hint { (console.t(
                "先启用测试模式进行测试，测试通过后再启用生产模式。生产模式启用后立即生效，未签名的请求将被拒绝。",
                "Enable Test first and try it; once it passes, enable Live. Live enforcement applies at once: unsigned requests are refused."
            )) }
            @for (livemode, on) in [(false, require_test), (true, require_live)] {
                form.action method="post" action="/dashboard/developers/enforcement" {
                    (csrf_field(console))
                    input type="hidden" name="mode" value=(if livemode { "live" } else { "test" });
                    input type="hidden" name="required" value=(if on { "0" } else { "1" });
                    p { (mode_name(console, livemode)) ": " strong { @if on { (console.t("已要求签名", "signatures required")) } @else { (console.t("未要求签名", "signatures not required")) } } }
                    @if on {
                        button { (console.t("停止要求签名", "Stop requiring signatures")) " (" (mode_name(console, livemode)) ")" }
                    } @else {
                        button disabled[merchant_key.is_none()] { (console.t("要求签名", "Require signatures")) " (" (mode_name(console, livemode)) ")" }
                    }
                }
            }
        }
        section {
            h2 { (console.t("Ping++ 公钥（平台公钥）", "Platform public key")) }
            p.hint { (console.t("用它验证 Webhook 和响应的签名。", "Verify webhook and response signatures with it.")) }
            pre #platform-public-key { (platform) }
            a href="/dashboard/developers/platform-public-key.pem" download="paymux-platform-public-key.pem" { (console.t("下载", "Download")) }
        }
    };
    Ok(layout::page(
        console,
        "/dashboard/developers",
        console.t("开发参数", "Developers"),
        content,
    )
    .into_response())
}

pub async fn page(
    State(state): State<AppState>,
    console: Console,
    headers: HeaderMap,
) -> PageResult {
    require(&console, Role::Admin)?;
    let response = render(&state, &console, take_secret(&headers)).await?;
    Ok(forget_secret(&state, &headers, response))
}

pub async fn set_merchant_key(
    State(state): State<AppState>,
    console: Console,
    form: FormFields,
) -> PageResult {
    require(&console, Role::Admin)?;
    let pem = if form.get("clear").is_some() {
        None
    } else {
        form.raw("merchant_public_key").map(str::to_owned)
    };
    if pem.as_deref().is_none_or(|p| p.trim().is_empty()) && form.get("clear").is_none() {
        return Err(crate::error::GatewayError::invalid_param(
            "merchant_public_key",
            console.t("请粘贴或上传公钥。", "Paste or upload the public key."),
        )
        .into());
    }
    account::set_merchant_key(&state.db, console.audit(), pem).await?;
    Ok(Redirect::to("/dashboard/developers").into_response())
}

pub async fn enforcement(
    State(state): State<AppState>,
    console: Console,
    form: FormFields,
) -> PageResult {
    require(&console, Role::Admin)?;
    let livemode = form.get("mode") == Some("live");
    let required = form.get("required") == Some("1");
    if livemode && required && form.get("confirm").is_none() {
        let content = html! {
            p.warning { (console.t(
                "生产模式的签名验证将立即生效：从下一个请求起，未签名或签名错误的生产请求都会被拒绝。请确认已在测试模式验证通过。",
                "Live enforcement applies at once: from the next request, every live request without a valid signature is refused. Make sure it passed in Test mode first."
            )) }
            form.action method="post" action="/dashboard/developers/enforcement" {
                (csrf_field(&console))
                input type="hidden" name="mode" value="live";
                input type="hidden" name="required" value="1";
                input type="hidden" name="confirm" value="1";
                button.danger { (console.t("确认", "Confirm")) }
                " " a href="/dashboard/developers" { (console.t("取消", "Cancel")) }
            }
        };
        return Ok(layout::page(
            &console,
            "/dashboard/developers",
            console.t("生产模式要求签名", "Require signatures in Live mode"),
            content,
        )
        .into_response());
    }
    account::require_signatures(&state.db, console.audit(), livemode, required).await?;
    Ok(Redirect::to("/dashboard/developers").into_response())
}

pub async fn roll_key(
    State(state): State<AppState>,
    console: Console,
    headers: HeaderMap,
    form: FormFields,
) -> PageResult {
    require(&console, Role::Admin)?;
    let livemode = form.get("mode") == Some("live");
    let grace = form
        .get("grace_minutes")
        .map(|g| {
            g.parse::<i64>().map_err(|_| {
                crate::error::GatewayError::invalid_param(
                    "grace_minutes",
                    "The grace period is a whole number of minutes.",
                )
            })
        })
        .transpose()?
        .unwrap_or(60);
    let key = account::roll_key(&state.db, console.audit(), livemode, grace).await?;
    let mode = if livemode { "live" } else { "test" };
    Ok(redirect_with_secret(
        &state,
        &headers,
        "/dashboard/developers",
        mode,
        &key,
    ))
}

pub async fn platform_key(State(state): State<AppState>, _console: Console) -> PageResult {
    let public = {
        let mut conn = state.db.reader().acquire().await?;
        store::accounts::platform_key(&mut conn)
            .await?
            .map(|(_, public)| public)
            .unwrap_or_default()
    };
    Ok(([(header::CONTENT_TYPE, "application/x-pem-file")], public).into_response())
}
