//! WeChat Pay API v3: JSON over HTTPS, authenticated with RSA-SHA256 signatures in headers and
//! with notification payloads sealed by AES-GCM under the merchant's APIv3 key
//! (`channels.md` §3).
//!
//! * [`Authorization`]: the request `Authorization` header (§3.1): building it for adapters,
//!   parsing and checking it for simulators.
//! * [`SignatureHeaders`]: the `Wechatpay-*` headers on responses and notifications (§3.2):
//!   verifying them for adapters, producing them for simulators.
//! * [`Notification`], [`EncryptedResource`]: the notification envelope and its
//!   `AEAD_AES_256_GCM` resource (§3.3, §3.5).
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
