//! How a `GatewayError` reaches the client: its reason as the HTTP status, the error as Ping++'s
//! `{"error":{type,message,code?,param?}}`. Absent `code`/`param` are omitted, never null: the Go
//! SDK panics on a null there (docs/pingpp-wire.md). An internal failure shows a generic message
//! (its cause stays in the log), so nothing about storage or keys leaks into a response.

use crate::domain::wire::{ErrorBody, ErrorDetail, to_value};
use crate::error::{GatewayError, Reason};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

pub fn status(reason: Reason) -> StatusCode {
    match reason {
        Reason::Invalid => StatusCode::BAD_REQUEST,
        Reason::Unauthorized => StatusCode::UNAUTHORIZED,
        Reason::NotFound => StatusCode::NOT_FOUND,
        Reason::Conflict => StatusCode::CONFLICT,
        Reason::Channel => StatusCode::PAYMENT_REQUIRED,
        Reason::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Reason::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        Reason::Timeout => StatusCode::REQUEST_TIMEOUT,
        Reason::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
    }
}

pub fn body(error: &GatewayError) -> serde_json::Value {
    to_value(ErrorBody {
        error: ErrorDetail {
            kind: error.kind,
            message: error.message.clone(),
            code: error.code.clone(),
            param: error.param.clone(),
        },
    })
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        let status = status(self.reason);
        // The one place a request's failure is logged, inside its span (request id, route).
        if status.is_server_error() {
            tracing::error!(status = status.as_u16(), cause = %self, "request failed");
        }
        super::json_response(status, &body(&self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_code_and_param_are_omitted_not_null() {
        let text = body(&GatewayError::invalid("bad")).to_string();
        assert_eq!(
            text,
            r#"{"error":{"type":"invalid_request_error","message":"bad"}}"#
        );
        let text = body(&GatewayError::not_found("charge", "ch_1")).to_string();
        assert_eq!(
            text,
            r#"{"error":{"type":"invalid_request_error","message":"No such charge: ch_1","param":"id"}}"#
        );
    }
}
