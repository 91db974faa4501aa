//! Where channels send their asynchronous notifications: `/notify/{provider}/{app}/{mode}`.
//! No API key (the channel signs, or encrypts, what it sends); answered in the channel's form.

use crate::payments::live;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

pub async fn wechat(
    State(state): State<AppState>,
    Path((app, mode)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let livemode = match mode.as_str() {
        "live" => true,
        "test" => false,
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    let text = String::from_utf8_lossy(&body);
    let (_, reply) = live::wechat_notification(&state, &app, livemode, &text).await;
    let mut response = (StatusCode::OK, reply).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml; charset=utf-8"),
    );
    response
}
