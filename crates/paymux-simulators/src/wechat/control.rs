//! The `/_sim/…` control endpoints: knobs, test hooks, inspection. JSON in and out.

use super::{Knobs, PayOptions, PayResult, SimError, WechatSimulator};
use crate::control::{self, error};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

pub(super) fn routes() -> Router<WechatSimulator> {
    Router::new()
        .route("/_sim/knobs", get(get_knobs).post(set_knobs))
        .route("/_sim/orders", get(list_orders))
        .route("/_sim/orders/{out_trade_no}", get(get_order))
        .route("/_sim/orders/{out_trade_no}/pay", post(pay_order))
        .route("/_sim/notifications", get(list_notifications))
}

fn sim_error(err: &SimError) -> Response {
    let status = match err {
        SimError::OrderNotFound => StatusCode::NOT_FOUND,
        SimError::AmbiguousOrder => StatusCode::BAD_REQUEST,
        SimError::Conflict(_) => StatusCode::CONFLICT,
    };
    error(status, err.to_string())
}

async fn get_knobs(State(sim): State<WechatSimulator>) -> Response {
    axum::Json(sim.knobs()).into_response()
}

/// Merges the posted object over the current knobs.
async fn set_knobs(State(sim): State<WechatSimulator>, body: Bytes) -> Response {
    match control::patch_knobs(&sim.knobs(), &body, Knobs::check) {
        Ok(knobs) => {
            sim.set_knobs(knobs.clone());
            axum::Json(knobs).into_response()
        }
        Err((status, message)) => error(status, message),
    }
}

#[derive(Deserialize)]
struct Filter {
    mch_id: Option<String>,
    out_trade_no: Option<String>,
}

async fn list_orders(State(sim): State<WechatSimulator>) -> Response {
    axum::Json(sim.orders()).into_response()
}

async fn get_order(
    State(sim): State<WechatSimulator>,
    Path(out_trade_no): Path<String>,
    Query(filter): Query<Filter>,
) -> Response {
    match sim.inner.order(filter.mch_id.as_deref(), &out_trade_no) {
        Ok(view) => axum::Json(view).into_response(),
        Err(e) => sim_error(&e),
    }
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct PayRequest {
    mch_id: Option<String>,
    result: PayResult,
    openid: Option<String>,
    bank_type: Option<String>,
}

async fn pay_order(
    State(sim): State<WechatSimulator>,
    Path(out_trade_no): Path<String>,
    body: Bytes,
) -> Response {
    let request = if body.iter().all(u8::is_ascii_whitespace) {
        PayRequest::default()
    } else {
        match serde_json::from_slice::<PayRequest>(&body) {
            Ok(request) => request,
            Err(e) => return error(StatusCode::BAD_REQUEST, format!("malformed JSON: {e}")),
        }
    };
    let options = PayOptions {
        result: request.result,
        openid: request.openid,
        bank_type: request.bank_type,
    };
    match sim.pay_with(request.mch_id.as_deref(), &out_trade_no, &options) {
        Ok(view) => axum::Json(view).into_response(),
        Err(e) => sim_error(&e),
    }
}

async fn list_notifications(
    State(sim): State<WechatSimulator>,
    Query(filter): Query<Filter>,
) -> Response {
    let records: Vec<_> = sim
        .notifications()
        .into_iter()
        .filter(|n| filter.mch_id.as_ref().is_none_or(|m| *m == n.mch_id))
        .filter(|n| {
            filter
                .out_trade_no
                .as_ref()
                .is_none_or(|o| *o == n.out_trade_no)
        })
        .collect();
    axum::Json(records).into_response()
}
