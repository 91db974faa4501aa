//! HTTP: routes, the Ping++ wire conventions, and response signing.

mod apps;
pub mod auth;
mod channels;
mod charges;
mod error_response;
mod key_owners;
pub use error_response::status as error_status;
pub(crate) use key_owners::KeyOwners;
mod events;
mod layers;
mod mock_pay;
mod notify;
mod openapi;
pub mod params;
mod recharges;
mod refunds;
pub mod repeats;
mod requests;
mod webhooks;

use crate::domain::wire::{
    AppObject, ChannelConfigDeleted, ChannelConfigObject, ChargeObject, Deleted, EventObject,
    RechargeObject, RefundObject, UserObject, WebhookDeliveryObject, WebhookEndpointObject,
    WebhookEndpointTag,
};
use crate::error::{GatewayError, GatewayResult, Reason};
use crate::state::AppState;
use crate::store::db::NotReady;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, post};
pub use layers::RequestId;
pub(crate) use layers::on_matched_route;
use openapi::Operation;
use params::QueryParams;
use requests::{
    AppParams, ChannelSettingsParams, ChargeListParams, CreateCharge, CreateRecharge,
    CreateRechargeRefund, CreateRefund, CursorParams, EventListParams, PageParams,
    RechargeListParams, Resend, TestPay, WebhookEndpointParams,
};
use serde_json::Value;

/// The router of the whole gateway.
pub fn router(state: AppState) -> Router {
    let routes = Routes::default()
        .add(
            Operation::new(Method::POST, "/v1/charges", "Create a charge").body::<CreateCharge>().answers::<ChargeObject>().reaches_channel(),
            post(charges::create),
        )
        .add(
            Operation::new(Method::GET, "/v1/charges", "List charges of an app (app[id] required)").query::<ChargeListParams>().query::<CursorParams>().answers_list::<ChargeObject>(),
            get(charges::list),
        )
        .add(
            Operation::new(Method::GET, "/v1/charges/{id}", "Retrieve a charge").answers::<ChargeObject>(),
            get(charges::retrieve),
        )
        .add(
            Operation::new(Method::POST, "/v1/charges/{id}/reverse", "Reverse (撤销) a scan or ISV charge").answers::<ChargeObject>().reaches_channel(),
            post(charges::reverse),
        )
        .add(
            Operation::new(Method::POST, "/v1/charges/{id}/refunds", "Refund a charge").body::<CreateRefund>().answers::<RefundObject>(),
            post(refunds::create),
        )
        .add(
            Operation::new(Method::GET, "/v1/charges/{id}/refunds", "List a charge's refunds").query::<CursorParams>().answers_list::<RefundObject>(),
            get(refunds::list),
        )
        .add(
            Operation::new(Method::GET, "/v1/charges/{id}/refunds/{refund}", "Retrieve a refund").answers::<RefundObject>(),
            get(refunds::retrieve),
        )
        .add(
            Operation::new(Method::POST, "/v1/test_helpers/charges/{id}/pay", "Test mode: pay or fail a pending charge").body::<TestPay>().answers::<ChargeObject>(),
            post(charges::test_pay),
        )
        .add(
            Operation::new(Method::POST, "/v1/apps/{app}/recharges", "Create a balance recharge").body::<CreateRecharge>().answers::<RechargeObject>().reaches_channel(),
            post(recharges::create),
        )
        .add(
            Operation::new(Method::GET, "/v1/apps/{app}/recharges", "List recharges (page/per_page)").query::<PageParams>().query::<RechargeListParams>().answers_list::<RechargeObject>(),
            get(recharges::list),
        )
        .add(
            Operation::new(Method::GET, "/v1/apps/{app}/recharges/{id}", "Retrieve a recharge").answers::<RechargeObject>(),
            get(recharges::retrieve),
        )
        .add(
            Operation::new(Method::POST, "/v1/apps/{app}/recharges/{id}/refunds", "Refund a recharge").body::<CreateRechargeRefund>().answers::<RefundObject>(),
            post(recharges::create_refund),
        )
        .add(
            Operation::new(Method::GET, "/v1/apps/{app}/recharges/{id}/refunds", "List a recharge's refunds").query::<PageParams>().answers_list::<RefundObject>(),
            get(recharges::list_refunds),
        )
        .add(
            Operation::new(Method::GET, "/v1/apps/{app}/recharges/{id}/refunds/{refund}", "Retrieve a recharge refund").answers::<RefundObject>(),
            get(recharges::retrieve_refund),
        )
        .add(
            Operation::new(Method::GET, "/v1/apps/{app}/users/{user}", "Retrieve an app user and balance").answers::<UserObject>(),
            get(recharges::user),
        )
        .add(
            Operation::new(Method::GET, "/v1/apps", "List the account's apps").answers_list::<AppObject>(),
            get(apps::list),
        )
        .add(
            Operation::new(Method::POST, "/v1/apps", "Create an app").body::<AppParams>().answers::<AppObject>(),
            post(apps::create),
        )
        .add(
            Operation::new(Method::POST, "/v1/apps/{app}", "Rename an app").body::<AppParams>().answers::<AppObject>(),
            post(apps::rename),
        )
        .add(
            Operation::new(Method::GET, "/v1/apps/{app}/channels", "List the app's provider configurations (this key's mode)").answers_list::<ChannelConfigObject>(),
            get(channels::list),
        )
        .add(
            Operation::new(Method::POST, "/v1/apps/{app}/channels/{provider}", "Configure a provider (wechat, alipay, unionpay) for the app; secrets are sealed and never shown").body::<ChannelSettingsParams>().answers::<ChannelConfigObject>(),
            post(channels::set),
        )
        .add(
            Operation::new(Method::GET, "/v1/apps/{app}/channels/{provider}", "Retrieve a provider configuration (settings, and which secrets are set)").answers::<ChannelConfigObject>(),
            get(channels::retrieve),
        )
        .add(
            Operation::new(Method::DELETE, "/v1/apps/{app}/channels/{provider}", "Remove a provider configuration").answers::<ChannelConfigDeleted>(),
            delete(channels::remove),
        )
        .add(
            Operation::new(Method::GET, "/v1/events", "List events (newest first)").query::<EventListParams>().query::<CursorParams>().answers_list::<EventObject>(),
            get(events::list),
        )
        .add(
            Operation::new(Method::GET, "/v1/events/{id}", "Retrieve an event").answers::<EventObject>(),
            get(events::retrieve),
        )
        .add(
            Operation::new(Method::GET, "/v1/events/{id}/webhook_deliveries", "List an event's webhook deliveries, each with its attempts").answers_list::<WebhookDeliveryObject>(),
            get(webhooks::deliveries),
        )
        .add(
            Operation::new(Method::POST, "/v1/events/{id}/resend", "Send an event's webhook again now (optionally to one endpoint)").body::<Resend>().answers_list::<WebhookDeliveryObject>(),
            post(webhooks::resend),
        )
        .add(
            Operation::new(Method::POST, "/v1/webhook_endpoints", "Create a webhook endpoint (its secret is returned once)").body::<WebhookEndpointParams>().answers::<WebhookEndpointObject>(),
            post(webhooks::create),
        )
        .add(
            Operation::new(Method::GET, "/v1/webhook_endpoints", "List webhook endpoints").answers_list::<WebhookEndpointObject>(),
            get(webhooks::list),
        )
        .add(
            Operation::new(Method::GET, "/v1/webhook_endpoints/{id}", "Retrieve a webhook endpoint").answers::<WebhookEndpointObject>(),
            get(webhooks::retrieve),
        )
        .add(
            Operation::new(Method::POST, "/v1/webhook_endpoints/{id}", "Update a webhook endpoint (url, events, enabled, description)").body::<WebhookEndpointParams>().answers::<WebhookEndpointObject>(),
            post(webhooks::update),
        )
        .add(
            Operation::new(Method::DELETE, "/v1/webhook_endpoints/{id}", "Remove a webhook endpoint, cancelling its pending deliveries").answers::<Deleted<WebhookEndpointTag>>(),
            delete(webhooks::remove),
        )
        .add(
            Operation::new(Method::POST, "/v1/webhook_endpoints/{id}/test", "Deliver a webhook.test event to this endpoint").answers::<EventObject>(),
            post(webhooks::send_test),
        );
    let spec = openapi::document(&routes.documented);
    let router = routes
        .router
        .route(
            "/openapi.json",
            get(move || async move { json_response(StatusCode::OK, &spec) }),
        )
        // Liveness: the process answers. Readiness: it can also take writes.
        .route(
            "/healthz",
            get(|| async { json_response(StatusCode::OK, &serde_json::json!({"ok": true})) }),
        )
        .route("/readyz", get(readiness))
        .route("/metrics", get(metrics_page))
        .route("/mock/pay", get(mock_pay::page).post(mock_pay::submit))
        .route("/notify/wechat/{app}/{mode}", post(notify::wechat))
        .route("/notify/alipay/{app}/{mode}", post(notify::alipay))
        .route("/notify/unionpay/{app}/{mode}", post(notify::unionpay))
        .route_layer(middleware::from_fn(layers::on_matched_route))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            repeats::remember,
        ));
    let router = if state.settings.dashboard_on_api {
        router.merge(crate::console::router(state.clone()))
    } else {
        router
    };
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            wire_conventions,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            layers::read_body,
        ))
        .layer(middleware::from_fn(layers::request_context))
        .with_state(state)
}

/// `/metrics` in Prometheus's text format (when not on a listen address of its own).
async fn metrics_page(State(state): State<AppState>) -> Response {
    if !state.settings.metrics_on_api {
        return not_found_response("/metrics");
    }
    metrics_answer(&state).await
}

async fn metrics_answer(state: &AppState) -> Response {
    match crate::metrics::render(state).await {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(error) => GatewayError::from(error).into_response(),
    }
}

fn not_found_response(path: &str) -> Response {
    GatewayError::invalid(format!("Unrecognized request URL (GET {path})."))
        .with_reason(Reason::NotFound)
        .into_response()
}

/// `/metrics` alone, for a listen address of its own (a scraper on an internal network).
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|State(state): State<AppState>| async move { metrics_answer(&state).await }),
        )
        .with_state(state)
}

/// The management console alone, for a listen address of its own.
pub fn console_router(state: AppState) -> Router {
    crate::console::router(state.clone())
        .layer(middleware::from_fn_with_state(
            state.clone(),
            layers::read_body,
        ))
        .layer(middleware::from_fn(layers::request_context))
        .with_state(state)
}

/// 200 when the store takes writes now; 503 with the reason otherwise, so a load balancer stops
/// sending payments to a node that could only refuse them.
async fn readiness(State(state): State<AppState>) -> Response {
    match state.db.readiness().await {
        Ok(()) => json_response(StatusCode::OK, &serde_json::json!({"status": "ready"})),
        Err(NotReady(reason)) => {
            tracing::warn!(%reason, "not ready");
            json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                &serde_json::json!({"status": "not_ready", "reason": reason}),
            )
        }
    }
}

/// A route and what it does, recorded as it is registered so the OpenAPI document lists
/// exactly the routes that exist.
#[derive(Default)]
struct Routes {
    router: Router<AppState>,
    documented: Vec<openapi::Operation>,
}

impl Routes {
    fn add(mut self, operation: Operation, handler: MethodRouter<AppState>) -> Self {
        self.router = self.router.route(operation.path, handler);
        self.documented.push(operation);
        self
    }
}

/// A JSON body with Ping++'s content type.
pub fn json_response(status: StatusCode, value: &Value) -> Response {
    let mut response = (status, value.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=utf-8"),
    );
    response
}

pub fn ok(value: &Value) -> GatewayResult<Response> {
    Ok(json_response(StatusCode::OK, value))
}

async fn not_found(request: Request) -> GatewayError {
    GatewayError::invalid(format!(
        "Unrecognized request URL ({} {}).",
        request.method(),
        request.uri().path()
    ))
    .with_reason(Reason::NotFound)
}

async fn method_not_allowed(request: Request) -> GatewayError {
    GatewayError::invalid(format!(
        "{} is not allowed on {}.",
        request.method(),
        request.uri().path()
    ))
    .with_reason(Reason::MethodNotAllowed)
}

/// Signs every `/v1` response body with the platform key (`X-Pingplusplus-Signature`, which
/// the Java SDK verifies when configured) and closes connections for the Node SDK, which hangs
/// on a reused keep-alive socket on Node ≥ 19 (docs/pingpp-wire.md).
async fn wire_conventions(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let node_client = request
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ua| ua.contains("NodeBindings"));
    let sign = state.settings.sign_responses && request.uri().path().starts_with("/v1");
    let response = next.run(request).await;
    let (mut parts, body) = response.into_parts();
    let body = if sign {
        match axum::body::to_bytes(body, usize::MAX).await {
            Ok(bytes) => {
                let signature = state.platform_key.sign_base64(&bytes);
                if let Ok(value) = HeaderValue::from_str(&signature) {
                    parts.headers.insert("x-pingplusplus-signature", value);
                }
                Body::from(bytes)
            }
            Err(_) => return GatewayError::internal().into_response(),
        }
    } else {
        body
    };
    if node_client {
        parts
            .headers
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    Response::from_parts(parts, body)
}

/// `limit`, `starting_after` and `ending_before` of a cursor list.
pub struct CursorQuery {
    pub limit: i64,
    pub starting_after: Option<String>,
    pub ending_before: Option<String>,
}

impl CursorQuery {
    pub fn parse(query: &QueryParams) -> GatewayResult<Self> {
        Ok(Self {
            limit: query.int("limit", 1, 100)?.unwrap_or(10),
            starting_after: query.string("starting_after"),
            ending_before: query.string("ending_before"),
        })
    }
}
