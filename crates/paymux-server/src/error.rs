//! One error type for the whole API, rendered as Ping++'s `{"error":{type,message,code?,param?}}`.
//!
//! Absent `code`/`param` are omitted, never null: the Go SDK panics on a null there
//! (docs/pingpp-wire.md). Internal failures are logged with their cause and shown as a generic
//! `api_error`, so nothing about storage or keys leaks into a response.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorType {
    InvalidRequestError,
    ApiError,
    ChannelError,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub kind: ErrorType,
    pub message: String,
    pub code: Option<String>,
    pub param: Option<String>,
    /// What really went wrong behind a 5xx, for logs only: never rendered in a response.
    pub cause: Option<String>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    fn new(status: StatusCode, kind: ErrorType, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
            code: None,
            param: None,
            cause: None,
        }
    }

    fn caused_by(mut self, cause: impl std::fmt::Display) -> Self {
        self.cause = Some(cause.to_string());
        self
    }

    /// 400: the request cannot be done as asked.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            ErrorType::InvalidRequestError,
            message,
        )
    }

    /// 400 naming the offending parameter.
    pub fn invalid_param(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self::invalid(message).with_param(param)
    }

    /// The same error about a parameter of an object sent under `prefix`, named as the
    /// client sent it (`time_expire` → `charge[time_expire]`).
    pub fn nested_in(mut self, prefix: &str) -> Self {
        if let Some(param) = self.param.take() {
            let nested = match param.split_once('[') {
                Some((head, rest)) => format!("{prefix}[{head}][{rest}"),
                None => format!("{prefix}[{param}]"),
            };
            for lead in ["Parameter ", "parameter: "] {
                self.message = self
                    .message
                    .replace(&format!("{lead}{param}"), &format!("{lead}{nested}"));
            }
            self.param = Some(nested);
        }
        self
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorType::InvalidRequestError,
            message,
        )
    }

    /// 404 in Ping++'s wording: `No such charge: ch_…`, with `param: "id"`.
    pub fn not_found(object: &str, id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ErrorType::InvalidRequestError,
            format!("No such {object}: {id}"),
        )
        .with_param("id")
    }

    /// 402: the payment channel refused or is not available.
    pub fn channel(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::PAYMENT_REQUIRED,
            ErrorType::ChannelError,
            message,
        )
    }

    /// 500 without detail; the cause is logged by the caller's `From` impl.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorType::ApiError,
            "An internal error occurred; the request may be retried.",
        )
    }

    /// 503: storage is unreachable; nothing was changed.
    /// 409: the request lost a race with concurrent ones and changed nothing; a retry is safe.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, ErrorType::ApiError, message)
    }

    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorType::ApiError,
            "The service is temporarily unavailable; nothing was changed. Retry later.",
        )
    }

    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    pub fn body(&self) -> serde_json::Value {
        #[derive(Serialize)]
        struct Inner<'a> {
            #[serde(rename = "type")]
            kind: ErrorType,
            message: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            code: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            param: Option<&'a str>,
        }
        serde_json::json!({ "error": Inner {
            kind: self.kind,
            message: &self.message,
            code: self.code.as_deref(),
            param: self.param.as_deref(),
        }})
    }
}

/// For logs: the cause when there is one (a job's database failure is logged as that, not as
/// the HTTP answer a request would have got), else status and message.
impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.cause {
            Some(cause) => f.write_str(cause),
            None => write!(f, "{} {}", self.status.as_u16(), self.message),
        }
    }
}

impl std::error::Error for ApiError {}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        // Unreachable or dropped connections, failed reconnect handshakes, and PostgreSQL's
        // connection-exception (08…) and shutdown (57P0…) states: the database is away, the
        // request changed nothing, and a retry may succeed.
        let unavailable = match &error {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed => true,
            sqlx::Error::Database(db) => db
                .code()
                .is_some_and(|code| code.starts_with("08") || code.starts_with("57P0")),
            _ => false,
        };
        match &error {
            _ if unavailable => {
                tracing::error!(error = %error, "database unavailable");
                Self::unavailable().caused_by(format_args!("database unavailable: {error}"))
            }
            _ => {
                tracing::error!(error = %error, "database error");
                Self::internal().caused_by(format_args!("database error: {error}"))
            }
        }
    }
}

impl From<serde_json::Error> for ApiError {
    fn from(error: serde_json::Error) -> Self {
        tracing::error!(error = %error, "stored JSON could not be read");
        Self::internal().caused_by(format_args!("stored JSON could not be read: {error}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        crate::api::json_response(self.status, &self.body())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_code_and_param_are_omitted_not_null() {
        let body = ApiError::invalid("bad").body().to_string();
        assert_eq!(
            body,
            r#"{"error":{"type":"invalid_request_error","message":"bad"}}"#
        );
        let body = ApiError::not_found("charge", "ch_1").body().to_string();
        assert_eq!(
            body,
            r#"{"error":{"type":"invalid_request_error","message":"No such charge: ch_1","param":"id"}}"#
        );
    }
}
