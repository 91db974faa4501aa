//! `/_sim/…`: the test hooks and knobs over HTTP (see the table in the module docs).

use super::{AlipaySimulator, HookError, Knobs};
use crate::control::{self, error};
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use paymux_channels::form;

pub(super) fn routes() -> Router<AlipaySimulator> {
    Router::new()
        .route("/_sim/knobs", get(get_knobs).post(set_knobs))
        .route("/_sim/orders/{out_trade_no}", get(order))
        .route("/_sim/orders/{out_trade_no}/scan", post(scan))
        .route("/_sim/orders/{out_trade_no}/pay", post(pay))
        .route("/_sim/notifications", get(notifications))
        .route("/_sim/public_key", get(public_key))
}

async fn get_knobs(State(simulator): State<AlipaySimulator>) -> Json<Knobs> {
    Json(simulator.knobs())
}

/// Merges the posted fields onto the current knobs.
async fn set_knobs(State(simulator): State<AlipaySimulator>, body: Bytes) -> Response {
    match control::patch_knobs(&simulator.knobs(), &body, Knobs::check) {
        Ok(knobs) => {
            simulator.set_knobs(knobs.clone());
            Json(knobs).into_response()
        }
        Err((status, message)) => error(status, message),
    }
}

/// `app_id` from the query string, else from a JSON body, else the only configured app.
fn app_id(simulator: &AlipaySimulator, query: Option<&str>, body: &[u8]) -> Option<String> {
    control::merchant("app_id", query, body, || {
        simulator.lock().apps.keys().cloned().collect()
    })
}

fn hook_response(result: Result<super::TradeSnapshot, HookError>) -> Response {
    match result {
        Ok(snapshot) => Json(snapshot).into_response(),
        Err(e @ (HookError::UnknownApp(_) | HookError::NotFound(_))) => {
            error(StatusCode::NOT_FOUND, e.to_string())
        }
        Err(e) => error(StatusCode::CONFLICT, e.to_string()),
    }
}

async fn scan(
    State(simulator): State<AlipaySimulator>,
    Path(out_trade_no): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    match app_id(&simulator, query.as_deref(), &body) {
        Some(app_id) => hook_response(simulator.scan(&app_id, &out_trade_no)),
        None => error(StatusCode::BAD_REQUEST, "app_id is required"),
    }
}

async fn pay(
    State(simulator): State<AlipaySimulator>,
    Path(out_trade_no): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    match app_id(&simulator, query.as_deref(), &body) {
        Some(app_id) => hook_response(simulator.pay(&app_id, &out_trade_no)),
        None => error(StatusCode::BAD_REQUEST, "app_id is required"),
    }
}

async fn order(
    State(simulator): State<AlipaySimulator>,
    Path(out_trade_no): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(app_id) = app_id(&simulator, query.as_deref(), b"") else {
        return error(StatusCode::BAD_REQUEST, "app_id is required");
    };
    match simulator.trade(&app_id, &out_trade_no) {
        Some(snapshot) => Json(snapshot).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("no order `{out_trade_no}`")),
    }
}

async fn notifications(
    State(simulator): State<AlipaySimulator>,
    RawQuery(query): RawQuery,
) -> Response {
    let filter = query
        .and_then(|q| form::parse(q.as_bytes()).ok())
        .and_then(|params| params.get("out_trade_no").map(str::to_owned));
    let list: Vec<_> = simulator
        .notifications()
        .into_iter()
        .filter(|n| filter.as_ref().is_none_or(|only| &n.out_trade_no == only))
        .collect();
    Json(list).into_response()
}

async fn public_key(State(simulator): State<AlipaySimulator>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/x-pem-file")],
        simulator.public_key_pem().to_owned(),
    )
        .into_response()
}
