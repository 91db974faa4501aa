//! WeChat Pay API v3: JSON over HTTPS, authenticated with RSA-SHA256 signatures in headers and
//! with notification payloads sealed by AES-GCM under the merchant's APIv3 key
//! (docs/channels/wechat-v3.md).
//!
//! * [`Authorization`]: the request `Authorization` header (docs/channels/wechat-v3.md, "Request signing"): building it for adapters,
//!   parsing and checking it for simulators.
//! * [`SignatureHeaders`]: the `Wechatpay-*` headers on responses and notifications (docs/channels/wechat-v3.md, "Verifying responses and notifications"):
//!   verifying them for adapters, producing them for simulators.
//! * [`Notification`], [`EncryptedResource`]: the notification envelope and its
//!   `AEAD_AES_256_GCM` resource (docs/channels/wechat-v3.md, "Notification resources").
//!
//! Nothing here reads a clock: the current time is a parameter wherever the replay window is
//! checked, and timestamps and nonces are parameters wherever something is signed.

mod auth;
mod resource;
mod verify;

pub use auth::{AUTH_SCHEME, Authorization, SignedRequest, request_message};
pub use resource::{ALGORITHM, EncryptedResource, Notification, decrypt, encrypt};
pub use verify::{
    HEADER_NONCE, HEADER_SERIAL, HEADER_SIGNATURE, HEADER_SIGNATURE_TYPE, HEADER_TIMESTAMP,
    MAX_CLOCK_SKEW_SECS, SignatureHeaders, check_clock, response_message,
};
