//! The two endpoints: the common checks every request goes through (format, merchant,
//! signature, permission; see the table in the module docs), the knobs that act on every call,
//! and the signed `k=v&…` answer.

use super::txn::{
    self, Answer, BAD_MERCHANT, BAD_SIGNATURE, FORMAT, MISSING, NOT_PERMITTED, Refusal,
};
use super::{FailMode, Inner, UnionpaySimulator, notify};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use paymux_channels::{Params, beijing_time, form, unionpay};
use std::time::Duration;

/// Present in every request.
const COMMON: [&str; 12] = [
    "version",
    "encoding",
    "signMethod",
    "certId",
    "signature",
    "txnType",
    "txnSubType",
    "bizType",
    "accessType",
    "merId",
    "orderId",
    "txnTime",
];

/// Request fields an answer repeats.
const ECHOED: [&str; 10] = [
    "txnType",
    "txnSubType",
    "bizType",
    "accessType",
    "merId",
    "orderId",
    "txnTime",
    "txnAmt",
    "currencyCode",
    "reqReserved",
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    BackTrans,
    Query,
}

pub(super) async fn back_trans(
    State(simulator): State<UnionpaySimulator>,
    body: Bytes,
) -> Response {
    handle(&simulator, Endpoint::BackTrans, &body).await
}

pub(super) async fn query_trans(
    State(simulator): State<UnionpaySimulator>,
    body: Bytes,
) -> Response {
    handle(&simulator, Endpoint::Query, &body).await
}

async fn handle(simulator: &UnionpaySimulator, endpoint: Endpoint, body: &[u8]) -> Response {
    let latency = simulator.knobs().latency_ms;
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    let inner = &simulator.inner;
    let (answer, deliveries) = match form::parse(body) {
        Ok(params) => answer(inner, endpoint, &params),
        Err(_) => (
            Some(render(inner, &Params::new(), Answer::new(FORMAT))),
            Vec::new(),
        ),
    };
    notify::spawn(inner, deliveries);
    match answer {
        Some(text) => ([(header::CONTENT_TYPE, "text/plain;charset=UTF-8")], text).into_response(),
        None => (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error").into_response(),
    }
}

/// The answer text (`None`: an HTTP 500) and the notifications to send.
fn answer(inner: &Inner, endpoint: Endpoint, p: &Params) -> (Option<String>, Vec<usize>) {
    let refuse = |code: Refusal| (Some(render(inner, p, Answer::new(code))), Vec::new());
    let present = |name: &str| p.get(name).is_some_and(|v| !v.trim().is_empty());
    if !COMMON.iter().all(|name| present(name)) {
        return refuse(MISSING);
    }
    let field = |name: &str| p.get(name).unwrap_or_default();
    if field("version") != unionpay::VERSION
        || field("signMethod") != unionpay::SIGN_METHOD_RSA
        || !field("encoding").eq_ignore_ascii_case("UTF-8")
        || beijing_time::parse_compact(field("txnTime")).is_err()
        || !(8..=40).contains(&field("orderId").len())
        || !field("orderId").bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return refuse(FORMAT);
    }
    let now = (inner.clock)();
    let mut state = inner.lock();
    let Some(merchant) = state.merchants.get(field("merId")) else {
        return refuse(BAD_MERCHANT);
    };
    let cert_ok = merchant
        .cert_id
        .as_deref()
        .is_none_or(|cert_id| cert_id == field("certId"));
    if !cert_ok || unionpay::verify(p, &merchant.public_key).is_err() {
        return refuse(BAD_SIGNATURE);
    }
    let (txn_type, txn_sub_type) = (field("txnType"), field("txnSubType"));
    let Some(required) = txn::required_fields(txn_type, txn_sub_type) else {
        return refuse(NOT_PERMITTED);
    };
    if (txn_type == "00") != (endpoint == Endpoint::Query) {
        return refuse(NOT_PERMITTED);
    }
    if !required.iter().all(|name| present(name)) {
        return refuse(MISSING);
    }
    // A merchant connected directly (accessType 0) for QR payments (bizType 000000), from a
    // PC or a phone (channelType 07 or 08), as UnionPay opens these transactions to.
    if field("accessType") != "0"
        || (required.contains(&"channelType") && !matches!(field("channelType"), "07" | "08"))
    {
        return refuse(FORMAT);
    }
    if field("bizType") != "000000" {
        return refuse(NOT_PERMITTED);
    }

    let mut deliveries = state.sweep(inner, now);
    let knobs = &mut state.knobs;
    let fail = knobs.fail_next > 0
        && knobs
            .fail_txn_type
            .as_deref()
            .is_none_or(|only| only == txn_type);
    let mode = knobs.fail_mode;
    if fail {
        knobs.fail_next -= 1;
    }
    if fail && !knobs.fail_after_effect && mode != FailMode::PartialSuccess {
        drop(state);
        return match mode {
            FailMode::Http500 => (None, deliveries),
            _ => (
                Some(render(inner, p, Answer::new(txn::TIMEOUT))),
                deliveries,
            ),
        };
    }
    let reply = state.call(inner, p, now);
    deliveries.extend(state.flush(inner, now));
    drop(state);
    let text = match (fail, mode) {
        (false, _) => Some(render(inner, p, reply)),
        (true, FailMode::Unknown) => Some(render(inner, p, Answer::new(txn::TIMEOUT))),
        (true, FailMode::Http500) => None,
        (true, FailMode::PartialSuccess) => Some(render(inner, p, reply.with_defect())),
    };
    (text, deliveries)
}

/// The signed answer: the echoed request fields, `respCode`/`respMsg`, the call's own fields.
fn render(inner: &Inner, request: &Params, answer: Answer) -> String {
    let mut params = Params::new()
        .with("version", unionpay::VERSION)
        .with("encoding", "UTF-8")
        .with("signMethod", unionpay::SIGN_METHOD_RSA)
        .with("respCode", answer.code.0)
        .with("respMsg", answer.code.1);
    for name in ECHOED {
        if let Some(value) = request.get(name).filter(|v| !v.is_empty()) {
            params.insert(name, value);
        }
    }
    for (name, value) in answer.fields.iter() {
        params.insert(name, value);
    }
    inner
        .signer()
        .sign(params)
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("&")
}
