//! The test-mode payment page behind a QR credential: what a customer's wallet would do,
//! as two buttons in a browser. Only test-mode charges; the charge id is the capability,
//! as with Ping++'s own mock page.

use super::RequestId;
use super::params::QueryParams;
use crate::domain::Caller;
use crate::error::{GatewayError, GatewayResult};
use crate::payments::charges::{self, PayResult};
use crate::state::AppState;
use crate::store;
use axum::Extension;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::response::{Html, IntoResponse, Response};

async fn test_charge(state: &AppState, id: &str) -> GatewayResult<crate::domain::charge::Charge> {
    let mut conn = state.db.reader().acquire().await?;
    store::charges::get_any(&mut conn, id)
        .await?
        .filter(|c| !c.livemode)
        .ok_or_else(|| GatewayError::not_found("charge", id))
}

pub async fn page(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Response {
    let query = match QueryParams::parse(raw.as_deref()) {
        Ok(query) => query,
        Err(error) => return error.into_response(),
    };
    let id = query.string("ch_id").unwrap_or_default();
    match test_charge(&state, &id).await {
        Ok(charge) => Html(render(&charge, None)).into_response(),
        Err(error) => error.into_response(),
    }
}

pub async fn submit(
    State(state): State<AppState>,
    Extension(request): Extension<RequestId>,
    body: Bytes,
) -> Response {
    let form = match QueryParams::parse(std::str::from_utf8(&body).ok()) {
        Ok(form) => form,
        Err(error) => return error.into_response(),
    };
    let id = form.string("ch_id").unwrap_or_default();
    let result = match form.get("result") {
        Some("fail") => PayResult::Fail,
        _ => PayResult::Success,
    };
    let outcome = async {
        let charge = test_charge(&state, &id).await?;
        let caller = Caller {
            account_id: charge.account_id,
            livemode: false,
            request_id: request.0,
            operator: None,
        };
        charges::test_pay(&state, caller, id.clone(), result).await?;
        test_charge(&state, &id).await
    }
    .await;
    match outcome {
        Ok(charge) => Html(render(&charge, None)).into_response(),
        Err(error) if error.reason == crate::error::Reason::Invalid => {
            match test_charge(&state, &id).await {
                Ok(charge) => Html(render(&charge, Some(&error.message))).into_response(),
                Err(e) => e.into_response(),
            }
        }
        Err(error) => error.into_response(),
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn render(charge: &crate::domain::charge::Charge, notice: Option<&str>) -> String {
    let status = if charge.paid {
        "已支付 Paid".to_owned()
    } else if charge.reversed {
        "已撤销 Reversed".to_owned()
    } else if charge.failure_code.is_some() {
        "支付失败 Failed".to_owned()
    } else {
        "待支付 Awaiting payment".to_owned()
    };
    let buttons = if charge.payable_at(i64::MIN).is_ok() {
        format!(
            r#"<form method="post" action="/mock/pay"><input type="hidden" name="ch_id" value="{id}">
<button name="result" value="success">支付成功 Pay</button>
<button name="result" value="fail">支付失败 Fail</button></form>"#,
            id = escape(&charge.id)
        )
    } else {
        String::new()
    };
    let notice = notice
        .map(|n| format!("<p class=notice>{}</p>", escape(n)))
        .unwrap_or_default();
    format!(
        r#"<!doctype html><html lang="zh"><head><meta charset="utf-8"><title>paymux test payment</title>
<style>body{{font-family:sans-serif;max-width:28em;margin:3em auto}}button{{font-size:1.1em;margin:.3em}}.notice{{color:#a00}}</style></head>
<body><h1>paymux 测试支付 (test mode)</h1>
<p>{subject}</p><p><b>¥{yuan}.{fen:02}</b> · {channel} · {id}</p><p>{status}</p>{notice}{buttons}</body></html>"#,
        subject = escape(&charge.subject),
        yuan = charge.amount / 100,
        fen = charge.amount % 100,
        channel = charge.channel.as_str(),
        id = escape(&charge.id),
    )
}
