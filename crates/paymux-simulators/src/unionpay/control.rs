//! `/_sim/…`: the test hooks and knobs over HTTP (see the table in the module docs).

use super::{HookError, Knobs, TxnSnapshot, UnionpaySimulator};
use crate::control::{self, error};
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use paymux_channels::form;
use serde_json::{Value, json};

pub(super) fn routes() -> Router<UnionpaySimulator> {
    Router::new()
        .route("/_sim/knobs", get(get_knobs).post(set_knobs))
        .route("/_sim/orders/{order_id}", get(order))
        .route("/_sim/orders/{order_id}/pay", post(pay))
        .route("/_sim/notifications", get(notifications))
        .route("/_sim/public_key", get(public_key))
        .route("/_sim/certificates", get(certificates))
        .route("/_sim/certificates/rotate", post(rotate))
}

async fn get_knobs(State(simulator): State<UnionpaySimulator>) -> Json<Knobs> {
    Json(simulator.knobs())
}

/// Merges the posted fields onto the current knobs.
async fn set_knobs(State(simulator): State<UnionpaySimulator>, body: Bytes) -> Response {
    match control::patch_knobs(&simulator.knobs(), &body, Knobs::check) {
        Ok(knobs) => {
            simulator.set_knobs(knobs.clone());
            Json(knobs).into_response()
        }
        Err((status, message)) => error(status, message),
    }
}

/// `merId` from the query string, else from a JSON body, else the only registered merchant.
fn mer_id(simulator: &UnionpaySimulator, query: Option<&str>, body: &[u8]) -> Option<String> {
    control::merchant("merId", query, body, || {
        simulator.lock().merchants.keys().cloned().collect()
    })
}

fn hook_response(result: Result<TxnSnapshot, HookError>) -> Response {
    match result {
        Ok(snapshot) => Json(snapshot).into_response(),
        Err(e @ (HookError::UnknownMerchant(_) | HookError::NotFound(_))) => {
            error(StatusCode::NOT_FOUND, e.to_string())
        }
        Err(e) => error(StatusCode::CONFLICT, e.to_string()),
    }
}

/// `{"card": true}` pays with a bank card.
async fn pay(
    State(simulator): State<UnionpaySimulator>,
    Path(order_id): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let card = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("card")?.as_bool())
        .unwrap_or(false);
    match mer_id(&simulator, query.as_deref(), &body) {
        Some(mer_id) => hook_response(simulator.pay(&mer_id, &order_id, card)),
        None => error(StatusCode::BAD_REQUEST, "merId is required"),
    }
}

async fn order(
    State(simulator): State<UnionpaySimulator>,
    Path(order_id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(mer_id) = mer_id(&simulator, query.as_deref(), b"") else {
        return error(StatusCode::BAD_REQUEST, "merId is required");
    };
    match simulator.txn(&mer_id, &order_id) {
        Some(snapshot) => Json(snapshot).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("no order `{order_id}`")),
    }
}

async fn notifications(
    State(simulator): State<UnionpaySimulator>,
    RawQuery(query): RawQuery,
) -> Response {
    let filter = query
        .and_then(|q| form::parse(q.as_bytes()).ok())
        .and_then(|params| params.get("orderId").map(str::to_owned));
    let list: Vec<_> = simulator
        .notifications()
        .into_iter()
        .filter(|n| filter.as_ref().is_none_or(|only| &n.order_id == only))
        .collect();
    Json(list).into_response()
}

async fn public_key(State(simulator): State<UnionpaySimulator>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/x-pem-file")],
        simulator.public_key_pem(),
    )
        .into_response()
}

async fn certificates(State(simulator): State<UnionpaySimulator>) -> Json<Value> {
    Json(json!({
        "root": simulator.root_certificate_pem(),
        "middle": simulator.middle_certificate_pem(),
        "signing": simulator.signing_certificate_pem(),
        "cert_id": simulator.cert_id(),
    }))
}

async fn rotate(State(simulator): State<UnionpaySimulator>) -> Response {
    match simulator.rotate_signing_certificate() {
        Ok(()) => certificates(State(simulator)).await.into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}
