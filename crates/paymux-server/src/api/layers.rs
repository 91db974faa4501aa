//! What every request goes through around its handler: an id, a span and an access-log line;
//! its body read whole within limits; its route's path parameters checked.

use super::params;
use crate::error::{GatewayError, GatewayResult, Reason};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

/// The id of the request being served (`iar_…`): handed to handlers (events and jobs record
/// it), returned in `X-Request-Id`, and carried by every log line written while serving it.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// The route template a request matched (`/v1/charges/{id}`), passed out to the access log.
#[derive(Clone)]
struct RouteName(String);

/// Gives every request an id and a span, and writes one access-log line for it: method, route
/// template (never the raw path or query, which may hold ids or keys), status, latency.
pub(super) async fn request_context(mut request: Request, next: Next) -> Response {
    let id = crate::ids::api_request();
    request.extensions_mut().insert(RequestId(id.clone()));
    let method = request.method().clone();
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        %method,
        route = tracing::field::Empty
    );
    let started = std::time::Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    let route = response
        .extensions_mut()
        .remove::<RouteName>()
        .map_or_else(|| "(no route)".to_owned(), |r| r.0);
    let elapsed = started.elapsed();
    span.in_scope(|| {
        tracing::info!(
            %route,
            status = response.status().as_u16(),
            latency_ms = elapsed.as_secs_f64() * 1000.0,
            "request"
        );
    });
    crate::metrics::request(&route, method.as_str(), response.status().as_u16(), elapsed);
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

/// Reads the whole request body before anything else looks at it, within the body limit and
/// the body-read deadline: a client sending its body slowly (or not at all) gets a 408 instead
/// of holding the request open.
pub(super) async fn read_body(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let limit = state.settings.body_limit_bytes;
    let deadline = std::time::Duration::from_millis(state.settings.body_read_timeout_ms);
    let (parts, body) = request.into_parts();
    let bytes = match tokio::time::timeout(deadline, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(_)) => {
            return GatewayError::invalid(format!(
                "The request body is larger than {limit} bytes (or was cut off); send a smaller body."
            ))
            .into_response();
        }
        Err(_) => {
            let mut response = GatewayError::invalid(format!(
                "The request body did not arrive within {} ms.",
                deadline.as_millis()
            ))
            .with_reason(Reason::Timeout)
            .into_response();
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            return response;
        }
    };
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// Runs once a route has matched, before its handler (and so before authentication): names
/// the route for the logs, and checks its path parameters. Percent-encoded bytes that are not
/// UTF-8, or a NUL character, get a Ping++ 400 naming the parameter instead of the extractor's
/// plain-text answer or a database error.
pub(crate) async fn on_matched_route(request: Request, next: Next) -> Response {
    let Some(template) = request.extensions().get::<MatchedPath>().cloned() else {
        return next.run(request).await;
    };
    tracing::Span::current().record("route", template.as_str());
    let mut response = match check_path_params(template.as_str(), request.uri().path()) {
        Ok(()) => next.run(request).await,
        Err(error) => error.into_response(),
    };
    response
        .extensions_mut()
        .insert(RouteName(template.as_str().to_owned()));
    response
}

fn check_path_params(template: &str, path: &str) -> GatewayResult<()> {
    for (pattern, raw) in template.split('/').zip(path.split('/')) {
        let Some(name) = pattern.strip_prefix('{').and_then(|p| p.strip_suffix('}')) else {
            continue;
        };
        match percent_encoding::percent_decode_str(raw).decode_utf8() {
            Err(_) => {
                return Err(GatewayError::invalid_param(
                    name,
                    format!("Parameter {name} in the URL path is not valid UTF-8."),
                ));
            }
            Ok(value) if value.contains('\0') => return Err(params::nul_error(name)),
            Ok(_) => {}
        }
    }
    Ok(())
}
