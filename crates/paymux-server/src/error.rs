//! One error type for the whole API, rendered as Ping++'s `{"error":{type,message,code?,param?}}`.
//!
//! Absent `code`/`param` are omitted, never null: the Go SDK panics on a null there
//! (docs/pingpp-wire.md). Internal failures are logged with their cause and shown as a generic
//! `api_error`, so nothing about storage or keys leaks into a response.

use crate::domain::wire::{ErrorBody, ErrorDetail, to_value};
use crate::store::StoreError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
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

    /// Adds what really went wrong, for the log line this error will be written to.
    pub fn caused_by(mut self, cause: impl std::fmt::Display) -> Self {
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

    /// 500 without detail (a cause, if known, is added for the log).
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
        to_value(ErrorBody {
            error: ErrorDetail {
                kind: self.kind,
                message: self.message.clone(),
                code: self.code.clone(),
                param: self.param.clone(),
            },
        })
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

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(_) | StoreError::NotCommitted => {
                Self::unavailable().caused_by(error)
            }
            _ => Self::internal().caused_by(error),
        }
    }
}

/// A database call made outside the store (a connection taken from the pool).
impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        StoreError::from(error).into()
    }
}

impl From<serde_json::Error> for ApiError {
    fn from(error: serde_json::Error) -> Self {
        StoreError::from(error).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // The one place a request's failure is logged, inside its span (request id, route).
        if self.status.is_server_error() {
            tracing::error!(status = self.status.as_u16(), cause = %self, "request failed");
        }
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
