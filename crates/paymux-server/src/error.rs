//! What the gateway's operations refuse or fail with, in Ping++'s terms (`type`, `message`,
//! `code`, `param`) and for a reason, with the cause behind an internal failure kept for the log.
//! It knows nothing of HTTP: the API turns the reason into a status and the error into Ping++'s
//! body (`api/error_response.rs`). Storage has its own error (`store::StoreError`), which
//! becomes an internal or unavailable one here.

use crate::store::StoreError;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorType {
    InvalidRequestError,
    #[serde(rename = "api_error")]
    Api,
    ChannelError,
}

/// Why an operation did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The request cannot be done as asked.
    Invalid,
    /// No valid key, or a required signature is missing or wrong.
    Unauthorized,
    NotFound,
    /// It lost a race with concurrent requests, or conflicts with an earlier one; a retry may
    /// succeed. Nothing changed.
    Conflict,
    /// The payment channel refused it or is not available.
    Channel,
    /// The store is away; nothing changed.
    Unavailable,
    Internal,
    /// The request itself did not arrive in time.
    Timeout,
    /// The path exists, the method does not.
    MethodNotAllowed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayError {
    pub reason: Reason,
    pub kind: ErrorType,
    pub message: String,
    pub code: Option<String>,
    pub param: Option<String>,
    /// What really went wrong behind a 5xx, for logs only: never rendered in a response.
    pub cause: Option<String>,
}

pub type GatewayResult<T> = Result<T, GatewayError>;

impl GatewayError {
    pub fn new(reason: Reason, kind: ErrorType, message: impl Into<String>) -> Self {
        Self {
            reason,
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
        Self::new(Reason::Invalid, ErrorType::InvalidRequestError, message)
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
            Reason::Unauthorized,
            ErrorType::InvalidRequestError,
            message,
        )
    }

    /// 404 in Ping++'s wording: `No such charge: ch_…`, with `param: "id"`.
    pub fn not_found(object: &str, id: &str) -> Self {
        Self::new(
            Reason::NotFound,
            ErrorType::InvalidRequestError,
            format!("No such {object}: {id}"),
        )
        .with_param("id")
    }

    /// 402: the payment channel refused or is not available.
    pub fn channel(message: impl Into<String>) -> Self {
        Self::new(Reason::Channel, ErrorType::ChannelError, message)
    }

    /// 500 without detail (a cause, if known, is added for the log).
    pub fn internal() -> Self {
        Self::new(
            Reason::Internal,
            ErrorType::Api,
            "An internal error occurred; the request may be retried.",
        )
    }

    /// 503: storage is unreachable; nothing was changed.
    /// 409: the request lost a race with concurrent ones and changed nothing; a retry is safe.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(Reason::Conflict, ErrorType::Api, message)
    }

    pub fn unavailable() -> Self {
        Self::new(
            Reason::Unavailable,
            ErrorType::Api,
            "The service is temporarily unavailable; nothing was changed. Retry later.",
        )
    }

    pub fn with_reason(mut self, reason: Reason) -> Self {
        self.reason = reason;
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
}

/// For logs: the cause when there is one (a job's database failure is logged as that, not as
/// the answer a request would have got), else the message.
impl std::fmt::Display for GatewayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.cause {
            Some(cause) => f.write_str(cause),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for GatewayError {}

impl From<StoreError> for GatewayError {
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
impl From<sqlx::Error> for GatewayError {
    fn from(error: sqlx::Error) -> Self {
        StoreError::from(error).into()
    }
}

impl From<serde_json::Error> for GatewayError {
    fn from(error: serde_json::Error) -> Self {
        StoreError::from(error).into()
    }
}
