//! Requests that must not act twice.
//!
//! - A **signed request** is remembered for as long as its timestamp is acceptable. An
//!   identical repeat (same method, target and body: the Python and Ruby SDKs resend identical
//!   headers when they retry) gets the first answer again; any other use of the signature is a
//!   401 that changes nothing, so a captured signature cannot be replayed or turned to another
//!   purpose.
//! - A **POST with an `Idempotency-Key`** (Stripe's convention; the Ping++ SDKs never send
//!   one, so it is purely additive) gets the first answer for the same key and body, for a day;
//!   the same key with another request is refused.
//!
//! Entries live in `request_outcomes`, shared by every node. The [`Repeats`] handle travels
//! with the request: authentication claims its tokens once the caller is known, and
//! [`remember`] stores the answer (or replays the stored one) around the handler.

use super::json_response;
use crate::error::{GatewayError, GatewayResult};
use crate::state::{AppState, Shared};
use crate::store::request_outcomes::{self, Seen, Token};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
const IDEMPOTENCY_TTL_MS: i64 = 24 * 3600 * 1000;
/// A first request still unanswered after this long died with its node; a repeat may run.
const ABANDONED_AFTER_MS: i64 = 60_000;

/// What one request has claimed, and the stored answer to send instead of running it.
#[derive(Clone, Default)]
pub struct Repeats(Shared<Claims>);

#[derive(Default)]
struct Claims {
    /// Tokens whose answer this request is to store once it has one.
    to_record: Vec<Token>,
    replay: Option<(u16, String)>,
}

/// What authentication knows about a request, for [`claim`].
pub struct Incoming<'a> {
    /// Whose request: the account and the key's mode.
    pub scope: String,
    pub method: &'a Method,
    pub target: &'a str,
    pub body: &'a [u8],
    /// A signature that verified.
    pub signature: Option<&'a str>,
    pub idempotency_key: Option<&'a str>,
}

/// Claims the request's signature and idempotency key. `Ok` means run it; an error is the
/// answer (a stored one is replayed by [`remember`], whatever the error says).
pub async fn claim(
    state: &AppState,
    repeats: &Repeats,
    request: Incoming<'_>,
) -> GatewayResult<()> {
    if request.signature.is_none() && request.idempotency_key.is_none() {
        return Ok(());
    }
    let fingerprint = fingerprint(request.method, request.target, request.body);
    let now_ms = state.clock.now_ms();
    // Reads repeat harmlessly: a signed GET is remembered only so that its signature cannot be
    // used for anything else; its answer is not stored.
    let read = request.method == Method::GET;
    let mut tokens = Vec::new();
    if let Some(signature) = request.signature {
        let window_ms = state.settings.signature_tolerance_secs.saturating_mul(2000);
        tokens.push((
            Token {
                scope: request.scope.clone(),
                kind: "signature",
                key: hash(signature.as_bytes()),
            },
            now_ms + window_ms,
            !read,
        ));
    }
    if let Some(key) = request.idempotency_key
        && request.method == Method::POST
    {
        if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(GatewayError::invalid_param(
                "Idempotency-Key",
                "The Idempotency-Key header must be 1 to 255 printable ASCII characters.",
            ));
        }
        tokens.push((
            Token {
                scope: request.scope.clone(),
                kind: "idempotency_key",
                key: key.to_owned(),
            },
            now_ms + IDEMPOTENCY_TTL_MS,
            true,
        ));
    }
    for (token, expires_ms, record) in tokens {
        let claimed = {
            let token = token.clone();
            let fingerprint = fingerprint.clone();
            state
                .db
                .write(move |conn| {
                    Box::pin(async move {
                        if request_outcomes::claim(conn, &token, &fingerprint, now_ms, expires_ms)
                            .await?
                        {
                            return Ok::<_, GatewayError>(None);
                        }
                        let seen = request_outcomes::get(conn, &token).await?;
                        if let Some(seen) = &seen
                            && seen.outcome.is_none()
                            && seen.fingerprint == fingerprint
                            && now_ms - seen.started_ms > ABANDONED_AFTER_MS
                            && request_outcomes::take_over(conn, &token, seen.started_ms, now_ms)
                                .await?
                        {
                            return Ok(None);
                        }
                        Ok(seen)
                    })
                })
                .await?
        };
        match claimed {
            None => {
                if record {
                    repeats.0.lock().to_record.push(token);
                }
            }
            Some(seen) => repeated(repeats, &token, seen, &fingerprint, read)?,
        }
    }
    Ok(())
}

/// A token already taken: the same request again, or another one.
fn repeated(
    repeats: &Repeats,
    token: &Token,
    seen: Seen,
    fingerprint: &str,
    read: bool,
) -> GatewayResult<()> {
    if seen.fingerprint != fingerprint {
        return Err(if token.kind == "signature" {
            GatewayError::unauthorized(
                "This Pingplusplus-Signature was already used for another request; sign every \
                 request afresh. Nothing was changed.",
            )
        } else {
            GatewayError::invalid_param(
                "Idempotency-Key",
                "This Idempotency-Key was already used for another request (method, path or \
                 body differ); use a new key for a new request. Nothing was changed.",
            )
        });
    }
    if read {
        return Ok(());
    }
    match seen.outcome {
        Some(outcome) => {
            repeats.0.lock().replay = Some(outcome);
            // Replaced by the stored answer in `remember`.
            Err(GatewayError::conflict("replayed"))
        }
        None => Err(GatewayError::conflict(
            "The same request is still being processed; retry it in a moment to get its answer.",
        )),
    }
}

/// Around the handler: answers a repeat with the stored answer, and stores the answer of a
/// first request. Answers that changed nothing (401, 5xx) are forgotten, so a retry runs again.
pub async fn remember(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let repeats = Repeats::default();
    request.extensions_mut().insert(repeats.clone());
    let response = next.run(request).await;
    let (to_record, replay) = {
        let mut claims = repeats.0.lock();
        (std::mem::take(&mut claims.to_record), claims.replay.take())
    };
    if let Some((status, body)) = replay {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
        let value = serde_json::from_str(&body).unwrap_or_default();
        let mut response = json_response(status, &value);
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
        return response;
    }
    if to_record.is_empty() {
        return response;
    }
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return GatewayError::internal().into_response();
    };
    let status = parts.status;
    let keep = !(status == StatusCode::UNAUTHORIZED || status.is_server_error());
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let stored = state
        .db
        .write(move |conn| {
            Box::pin(async move {
                for token in &to_record {
                    if keep {
                        request_outcomes::record(conn, token, status.as_u16(), Some(&text)).await?;
                    } else {
                        request_outcomes::release(conn, token).await?;
                    }
                }
                Ok::<_, crate::store::StoreError>(())
            })
        })
        .await;
    if let Err(error) = stored {
        // The change itself is made; only its replay is lost (the entry expires as running).
        tracing::error!(%error, "could not store a request's answer for its repeats");
    }
    Response::from_parts(parts, Body::from(bytes))
}

fn fingerprint(method: &Method, target: &str, body: &[u8]) -> String {
    let mut text = Vec::with_capacity(method.as_str().len() + target.len() + body.len() + 2);
    text.extend_from_slice(method.as_str().as_bytes());
    text.push(b'\n');
    text.extend_from_slice(target.as_bytes());
    text.push(b'\n');
    text.extend_from_slice(body);
    hash(&text)
}

fn hash(bytes: &[u8]) -> String {
    crate::store::sha256_hex(bytes)
}
