//! What the simulators' `/_sim/…` control routes share: JSON errors, knob patches, and picking
//! the merchant a hook is about.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use paymux_channels::form;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

pub(crate) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

/// Merges a posted JSON object over the `current` knobs. Unknown fields, wrong types and
/// values `check` refuses are refused, with the status and message to answer.
pub(crate) fn patch_knobs<K: Serialize + DeserializeOwned>(
    current: &K,
    body: &[u8],
    check: fn(&K) -> Result<(), String>,
) -> Result<K, (StatusCode, String)> {
    let bad = |message: String| (StatusCode::BAD_REQUEST, message);
    let patch = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(patch)) => patch,
        Ok(_) => return Err(bad("expected a JSON object of knobs".into())),
        Err(e) => return Err(bad(format!("malformed JSON: {e}"))),
    };
    let Ok(Value::Object(mut merged)) = serde_json::to_value(current) else {
        return Err((
            StatusCode::INTERNAL_SERVER_ERROR,
            "knobs are not an object".into(),
        ));
    };
    merged.extend(patch);
    let knobs =
        serde_json::from_value::<K>(Value::Object(merged)).map_err(|e| bad(e.to_string()))?;
    check(&knobs).map_err(bad)?;
    Ok(knobs)
}

/// The check every simulator makes of its `notify_time_scale` knob.
pub(crate) fn check_time_scale(scale: f64) -> Result<(), String> {
    if scale.is_finite() && scale >= 0.0 {
        Ok(())
    } else {
        Err("notify_time_scale must be a finite number ≥ 0".into())
    }
}

/// The merchant a hook is about: `field` from the query string, else from a JSON body, else
/// the one registered merchant when there is exactly one (`registered`).
pub(crate) fn merchant(
    field: &str,
    query: Option<&str>,
    body: &[u8],
    registered: impl FnOnce() -> Vec<String>,
) -> Option<String> {
    let from_query = query
        .and_then(|q| form::parse(q.as_bytes()).ok())
        .and_then(|params| params.get(field).map(str::to_owned));
    let from_body = || {
        serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v.get(field)?.as_str().map(str::to_owned))
    };
    let only = || match registered().as_slice() {
        [only] => Some(only.clone()),
        _ => None,
    };
    from_query.or_else(from_body).or_else(only)
}
