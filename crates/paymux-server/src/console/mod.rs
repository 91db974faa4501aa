//! The management console (管理平台): server-rendered pages under `/dashboard/` where the
//! merchant's operators refund, look up orders and configure webhooks, keys, apps and
//! channels. Everything it needs is in the binary (pages, a style sheet, one small script).
//!
//! It works only with an operator's session (a cookie no API route accepts) and never with an
//! API key. Every change goes through the same operations as the API, attributed to the
//! operator in the audit log within the change's transaction. Pages forbid framing and inline
//! scripts, and every POST must carry the session's CSRF token and come from this origin.

mod format;
mod forms;
mod lang;
mod layout;
mod pages;
mod session;

use crate::error::{GatewayError, Reason};
use crate::operators::Role;
use crate::state::AppState;
use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
pub use lang::Lang;
pub use session::Console;

/// The console's routes, to be served on the API's listener or on one of their own.
pub fn router(state: AppState) -> Router<AppState> {
    use pages::*;
    Router::new()
        .route("/dashboard", get(|| async { Redirect::to("/dashboard/") }))
        .route("/dashboard/", get(overview::page))
        .route(
            "/dashboard/login",
            get(session::login_page).post(session::login),
        )
        .route("/dashboard/logout", post(session::logout))
        .route("/dashboard/context", post(session::switch_context))
        .route("/dashboard/lang", post(session::switch_lang))
        .route("/dashboard/assets/console.css", get(assets_css))
        .route("/dashboard/assets/console.js", get(assets_js))
        .route("/dashboard/charges", get(charges::list))
        .route("/dashboard/charges/{id}", get(charges::detail))
        .route("/dashboard/charges/{id}/refund", post(charges::refund))
        .route("/dashboard/charges/{id}/reverse", post(charges::reverse))
        .route("/dashboard/charges/{id}/test-pay", post(charges::test_pay))
        .route("/dashboard/charges/{id}/qr.svg", get(charges::qr))
        .route("/dashboard/refunds", get(charges::refunds))
        .route("/dashboard/refunds/{id}/resolve", post(charges::resolve))
        .route("/dashboard/events", get(events::list))
        .route("/dashboard/events/{id}", get(events::detail))
        .route("/dashboard/events/{id}/resend", post(events::resend))
        .route("/dashboard/deliveries", get(events::failing))
        .route(
            "/dashboard/webhooks",
            get(webhooks::list).post(webhooks::create),
        )
        .route(
            "/dashboard/webhooks/{id}",
            get(webhooks::edit).post(webhooks::update),
        )
        .route("/dashboard/webhooks/{id}/toggle", post(webhooks::toggle))
        .route("/dashboard/webhooks/{id}/delete", post(webhooks::remove))
        .route("/dashboard/webhooks/{id}/test", post(webhooks::send_test))
        .route("/dashboard/developers", get(developers::page))
        .route(
            "/dashboard/developers/merchant-key",
            post(developers::set_merchant_key),
        )
        .route(
            "/dashboard/developers/enforcement",
            post(developers::enforcement),
        )
        .route(
            "/dashboard/developers/keys/roll",
            post(developers::roll_key),
        )
        .route(
            "/dashboard/developers/platform-public-key.pem",
            get(developers::platform_key),
        )
        .route("/dashboard/channels", get(channels::page))
        .route("/dashboard/channels/{provider}", post(channels::save))
        .route(
            "/dashboard/channels/{provider}/delete",
            post(channels::remove),
        )
        .route("/dashboard/apps", get(apps::page).post(apps::create))
        .route("/dashboard/apps/{id}", post(apps::rename))
        .route("/dashboard/recharges", get(recharges::list))
        .route("/dashboard/recharges/{id}/refund", post(recharges::refund))
        .route("/dashboard/users", get(recharges::find_user))
        .route("/dashboard/users/{user}", get(recharges::user))
        .route(
            "/dashboard/operators",
            get(operators::page).post(operators::add),
        )
        .route(
            "/dashboard/operators/{name}/role",
            post(operators::set_role),
        )
        .route(
            "/dashboard/operators/{name}/remove",
            post(operators::remove),
        )
        .route("/dashboard/audit", get(audit::page))
        .route("/dashboard/{*rest}", get(|| async { Failure::NotFound }))
        // The route template in the access log, and path parameters checked (UTF-8, no NUL).
        .route_layer(middleware::from_fn(crate::api::on_matched_route))
        .layer(middleware::from_fn_with_state(state, session::guard))
        .layer(middleware::map_response(security_headers))
}

/// No framing, no inline or foreign scripts or styles, no caching of pages that show money.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

async fn assets_css() -> Response {
    asset(
        "text/css; charset=utf-8",
        include_str!("assets/console.css"),
    )
}

async fn assets_js() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("assets/console.js"),
    )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// Why a console request did not get its page.
#[derive(Debug)]
pub enum Failure {
    /// No valid session: sign in first.
    SignIn,
    /// The operator's role does not allow it, or the request is forged.
    Forbidden(&'static str),
    NotFound,
    /// The operation refused (what the API would answer with an error), or failed.
    Refused(GatewayError),
}

impl From<GatewayError> for Failure {
    fn from(error: GatewayError) -> Self {
        Failure::Refused(error)
    }
}

impl From<crate::store::StoreError> for Failure {
    fn from(error: crate::store::StoreError) -> Self {
        Failure::Refused(error.into())
    }
}

impl From<sqlx::Error> for Failure {
    fn from(error: sqlx::Error) -> Self {
        Failure::Refused(crate::store::StoreError::from(error).into())
    }
}

pub type PageResult = Result<Response, Failure>;

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            Failure::SignIn => return Redirect::to("/dashboard/login").into_response(),
            Failure::Forbidden(why) => (StatusCode::FORBIDDEN, why.to_owned()),
            Failure::NotFound => (StatusCode::NOT_FOUND, "Not found".to_owned()),
            Failure::Refused(error) => {
                let status = crate::api::error_status(error.reason);
                if status.is_server_error() {
                    tracing::error!(status = status.as_u16(), cause = %error, "console request failed");
                }
                let message = if error.reason == Reason::Internal {
                    "Something went wrong; the gateway's log has the details.".to_owned()
                } else {
                    error.message
                };
                (status, message)
            }
        };
        (status, layout::problem(status, &message)).into_response()
    }
}

/// Refuses unless the operator's role is at least `role`.
pub fn require(console: &Console, role: Role) -> Result<(), Failure> {
    if console.operator.role >= role {
        Ok(())
    } else {
        Err(Failure::Forbidden(
            "Your role does not allow this. 您的角色无权执行此操作。",
        ))
    }
}
