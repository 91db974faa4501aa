//! Where channels send their asynchronous notifications: `/notify/{provider}/{app}/{mode}`.
//! No API key (the channel signs, or encrypts, what it sends); answered in the channel's form.

use crate::payments::providers;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

fn livemode(mode: &str) -> Option<bool> {
    match mode {
        "live" => Some(true),
        "test" => Some(false),
        _ => None,
    }
}

pub async fn wechat(
    State(state): State<AppState>,
    Path((app, mode)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let Some(livemode) = livemode(&mode) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let text = String::from_utf8_lossy(&body);
    let (_, reply) = providers::wechat_notification(&state, &app, livemode, &text).await;
    ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], reply).into_response()
}

/// Alipay POSTs a form and wants exactly `success` back; anything else is redelivered.
pub async fn alipay(
    State(state): State<AppState>,
    Path((app, mode)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let Some(livemode) = livemode(&mode) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let (_, reply) = providers::alipay_notification(&state, &app, livemode, &body).await;
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], reply).into_response()
}

/// UnionPay POSTs a form and redelivers until it gets HTTP 200: 200 `ok` when the notification
/// was verified and applied, 400 otherwise (forged, unknown, or not applied yet).
pub async fn unionpay(
    State(state): State<AppState>,
    Path((app, mode)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let Some(livemode) = livemode(&mode) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if providers::unionpay_notification(&state, &app, livemode, &body).await {
        (StatusCode::OK, "ok").into_response()
    } else {
        (StatusCode::BAD_REQUEST, "fail").into_response()
    }
}
