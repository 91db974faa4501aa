//! Who is calling, and whether they really sent this request.
//!
//! The secret key arrives as `Bearer sk_…` (Python, Java, Ruby, PHP, C#) or as
//! `Basic base64(sk_…:)` (Node, Go). When the account has switched request signatures on for the
//! key's mode, `Pingplusplus-Signature` must verify over the exact bytes received: raw body +
//! raw request target (trailing `?` kept) + `Pingplusplus-Request-Timestamp` (docs/pingpp-wire.md),
//! and the timestamp must be within the replay window.

use super::repeats::{self, IDEMPOTENCY_KEY, Incoming, Repeats};
use crate::domain::Caller;
use crate::error::{GatewayError, GatewayResult};
use crate::ids;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, MatchedPath, OriginalUri, Request};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, Method};
use base64::Engine;

/// An authenticated API call: who is calling and the exact body bytes they sent.
pub struct ApiCall {
    pub caller: Caller,
    pub body: Bytes,
    /// Scheme and host the caller used, for links handed back (mock-pay pages).
    pub base_url: String,
}

impl FromRequest<AppState> for ApiCall {
    type Rejection = GatewayError;

    async fn from_request(request: Request, state: &AppState) -> GatewayResult<Self> {
        let (parts, body) = request.into_parts();
        let target = parts
            .extensions
            .get::<OriginalUri>()
            .map_or(&parts.uri, |o| &o.0)
            .path_and_query()
            .map(|pq| pq.as_str().to_owned())
            .unwrap_or_else(|| "/".to_owned());
        let key = secret_key(&parts.headers)?;
        let owner = state
            .key_owners
            .find(&state.db, &key, state.clock.now_ms())
            .await?
            .ok_or_else(|| invalid_key(&key))?;

        // Already read whole (and de-chunked) by the router's body reader, within its limits.
        let body = axum::body::to_bytes(body, usize::MAX)
            .await
            .map_err(|e| GatewayError::internal().caused_by(e))?;
        if owner.require_signature {
            let pem = owner.merchant_public_key_pem.as_deref().ok_or_else(|| {
                GatewayError::unauthorized(
                    "Request signatures are required but no merchant RSA public key is configured.",
                )
            })?;
            let verifier = state.merchant_key(pem).ok_or_else(|| {
                GatewayError::unauthorized(
                    "The configured merchant RSA public key cannot be parsed.",
                )
            })?;
            let route = parts
                .extensions
                .get::<MatchedPath>()
                .map(MatchedPath::as_str);
            let signed = SignedRequest {
                method: binds_method(route).then_some(&parts.method),
                body: &body,
                target: &target,
            };
            check_signature(
                &parts.headers,
                &signed,
                state.clock.now_secs(),
                state.settings.signature_tolerance_secs,
                |message, signature| verifier.verify_base64(message, signature),
            )?;
        }
        if let Some(repeats) = parts.extensions.get::<Repeats>() {
            let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
            let incoming = Incoming {
                scope: format!("{}:{}", owner.account_id, owner.livemode),
                method: &parts.method,
                target: &target,
                body: &body,
                // Remembered only once verified: an unverified value proves nothing.
                signature: header(SIGNATURE).filter(|_| owner.require_signature),
                idempotency_key: header(IDEMPOTENCY_KEY),
            };
            repeats::claim(state, repeats, incoming).await?;
        }
        let base_url = match &state.settings.public_url {
            Some(url) => url.clone(),
            None => {
                let host = parts
                    .headers
                    .get(axum::http::header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or("127.0.0.1");
                format!("http://{host}")
            }
        };
        Ok(ApiCall {
            caller: Caller {
                account_id: owner.account_id,
                livemode: owner.livemode,
                request_id: request_id(&parts.extensions),
                operator: None,
            },
            body,
            base_url,
        })
    }
}

/// The id the request was given on arrival (a fresh one when a handler runs outside the
/// router, as in unit tests).
pub fn request_id(extensions: &axum::http::Extensions) -> String {
    extensions
        .get::<super::RequestId>()
        .map_or_else(ids::api_request, |id| id.0.clone())
}

fn secret_key(headers: &HeaderMap) -> GatewayResult<String> {
    let value = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .ok_or_else(|| {
            GatewayError::unauthorized(
                "No API key provided. Set `Authorization: Bearer sk_…` (or HTTP Basic with the key as the user name).",
            )
        })?;
    let (scheme, credentials) = value.split_once(' ').unwrap_or((value, ""));
    let credentials = credentials.trim();
    let key = if scheme.eq_ignore_ascii_case("bearer") {
        credentials.to_owned()
    } else if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(credentials)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| {
                GatewayError::unauthorized("The Basic credentials are not valid base64.")
            })?;
        decoded
            .split_once(':')
            .map_or(decoded.clone(), |(user, _)| user.to_owned())
    } else {
        return Err(GatewayError::unauthorized(
            "Unsupported Authorization scheme; use Bearer or Basic.",
        ));
    };
    if key.is_empty() {
        return Err(GatewayError::unauthorized("No API key provided."));
    }
    Ok(key)
}

/// Ping++'s wording, with the key masked so a leaked log line leaks nothing.
fn invalid_key(key: &str) -> GatewayError {
    let visible: String = key.chars().take(8).collect();
    GatewayError::unauthorized(format!(
        "提供了无效的 API KEY: {visible}***。 (invalid API key)"
    ))
}

const SIGNATURE: &str = "pingplusplus-signature";
const TIMESTAMP: &str = "pingplusplus-request-timestamp";

/// The routes Ping++ has, whose signed text the official SDKs make: body + target +
/// timestamp, without the method. Every other route is paymux's own, and its signature also
/// covers the method, so a signed GET cannot be replayed as a DELETE of the same path.
const PINGPP_ROUTES: &[&str] = &[
    "/v1/charges",
    "/v1/charges/{id}",
    "/v1/charges/{id}/reverse",
    "/v1/charges/{id}/refunds",
    "/v1/charges/{id}/refunds/{refund}",
    "/v1/apps/{app}/recharges",
    "/v1/apps/{app}/recharges/{id}",
    "/v1/apps/{app}/recharges/{id}/refunds",
    "/v1/apps/{app}/recharges/{id}/refunds/{refund}",
    "/v1/apps/{app}/users/{user}",
    "/v1/events",
    "/v1/events/{id}",
];

fn binds_method(route: Option<&str>) -> bool {
    route.is_none_or(|route| !PINGPP_ROUTES.contains(&route))
}

/// What a request signature covers.
pub struct SignedRequest<'a> {
    /// On paymux's own routes the method, signed first: `METHOD ` + body + target + timestamp.
    pub method: Option<&'a Method>,
    pub body: &'a [u8],
    /// The request target as sent (a trailing `?` kept).
    pub target: &'a str,
}

/// Checks the request signature; `verify(message, base64_signature)` does the cryptography.
pub fn check_signature(
    headers: &HeaderMap,
    signed: &SignedRequest<'_>,
    now: i64,
    tolerance: i64,
    verify: impl Fn(&[u8], &str) -> bool,
) -> GatewayResult<()> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let signature = header(SIGNATURE).filter(|s| !s.is_empty()).ok_or_else(|| {
        GatewayError::unauthorized(
            "This account requires signed requests: the Pingplusplus-Signature header is missing. \
             Configure your SDK with your RSA private key.",
        )
    })?;
    let timestamp = header(TIMESTAMP).filter(|s| !s.is_empty()).ok_or_else(|| {
        GatewayError::unauthorized("The Pingplusplus-Request-Timestamp header is missing.")
    })?;
    let ts: i64 = timestamp.parse().map_err(|_| {
        GatewayError::unauthorized("Pingplusplus-Request-Timestamp must be Unix seconds.")
    })?;
    if (now - ts).abs() > tolerance {
        return Err(GatewayError::unauthorized(format!(
            "The request timestamp {ts} is more than {tolerance} seconds away from the server time \
             {now}; check the clock and do not replay requests."
        )));
    }
    // The signed text: body + request target as sent + timestamp. PHP signs the bare path for
    // requests it sends without a query; that is the same text when there is no query.
    let mut message = Vec::with_capacity(signed.body.len() + signed.target.len() + 32);
    if let Some(method) = signed.method {
        message.extend_from_slice(method.as_str().as_bytes());
        message.push(b' ');
    }
    message.extend_from_slice(signed.body);
    message.extend_from_slice(signed.target.as_bytes());
    message.extend_from_slice(timestamp.as_bytes());
    if verify(&message, signature) {
        Ok(())
    } else {
        Err(GatewayError::unauthorized(
            "The Pingplusplus-Signature does not verify with the merchant RSA public key configured \
             for this account.",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_str(v).expect("header"));
        }
        map
    }

    #[test]
    fn bearer_and_basic_both_yield_the_key() {
        let bearer = headers(&[("authorization", "Bearer sk_test_abc")]);
        assert_eq!(secret_key(&bearer).expect("bearer"), "sk_test_abc");
        // base64("sk_test_abc:")
        let basic = headers(&[("authorization", "Basic c2tfdGVzdF9hYmM6")]);
        assert_eq!(secret_key(&basic).expect("basic"), "sk_test_abc");
        assert!(secret_key(&HeaderMap::new()).is_err());
        assert!(secret_key(&headers(&[("authorization", "Digest x")])).is_err());
    }

    #[test]
    fn invalid_key_message_masks_the_key() {
        let error = invalid_key("sk_test_secretsecretsecret");
        assert!(!error.message.contains("secretsecret"));
    }

    #[test]
    fn signature_covers_body_target_and_timestamp() {
        let h = headers(&[(SIGNATURE, "sig"), (TIMESTAMP, "1000")]);
        let charges = SignedRequest {
            method: None,
            body: b"{}",
            target: "/v1/charges?",
        };
        let expect = b"{}/v1/charges?1000".to_vec();
        let ok = check_signature(&h, &charges, 1000, 300, |m, s| {
            m == expect.as_slice() && s == "sig"
        });
        assert!(ok.is_ok());
        let stale = check_signature(&h, &charges, 1301, 300, |_, _| true);
        assert_eq!(
            stale.expect_err("stale").reason,
            crate::error::Reason::Unauthorized
        );
        let unsigned = check_signature(&HeaderMap::new(), &charges, 1000, 300, |_, _| true);
        assert!(unsigned.is_err());
    }

    #[test]
    fn paymux_routes_sign_the_method_first() {
        assert!(!binds_method(Some("/v1/charges/{id}")));
        assert!(binds_method(Some("/v1/webhook_endpoints/{id}")));
        let h = headers(&[(SIGNATURE, "sig"), (TIMESTAMP, "1000")]);
        let delete = SignedRequest {
            method: Some(&Method::DELETE),
            body: b"",
            target: "/v1/webhook_endpoints/we_1",
        };
        let expect = b"DELETE /v1/webhook_endpoints/we_11000".to_vec();
        assert!(check_signature(&h, &delete, 1000, 300, |m, _| m == expect.as_slice()).is_ok());
    }
}
