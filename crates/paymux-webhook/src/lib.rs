//! Webhook signatures, for the gateway that sends webhooks and for the merchants who receive them.
//!
//! Every delivery carries two signatures:
//!
//! * **Ping++'s**, unchanged so existing receivers keep working: header `X-Pingplusplus-Signature`
//!   = base64 RSA-SHA256 of the exact body bytes with the platform private key. It covers only
//!   the body, so a recorded delivery can be replayed; check it with [`verify_pingpp`].
//! * **A replay-protected one**, in the format of [Standard Webhooks](https://www.standardwebhooks.com)
//!   (so its libraries verify it too): headers `webhook-id` (the delivery id, the same on every
//!   retry of one delivery), `webhook-timestamp` (Unix seconds of this attempt) and
//!   `webhook-signature` = `v1,` + base64 HMAC-SHA256 over `{id}.{timestamp}.{body}`, keyed with
//!   the endpoint's secret (`whsec_` + base64 of 32 random bytes; the key is the decoded bytes).
//!   Check it with [`EndpointSecret::verify`], which also rejects timestamps outside a tolerance.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use paymux_crypto::VerifyingKey;
use paymux_crypto::digest::{constant_time_eq, hmac_sha256};
use std::fmt;

pub const PINGPP_SIGNATURE_HEADER: &str = "X-Pingplusplus-Signature";
pub const ID_HEADER: &str = "webhook-id";
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
pub const SIGNATURE_HEADER: &str = "webhook-signature";

const SECRET_PREFIX: &str = "whsec_";
const SECRET_BYTES: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the signature header is missing or empty")]
    MissingSignature,
    #[error("the signature does not match the body")]
    BadSignature,
    #[error("the timestamp is not a Unix time in seconds")]
    BadTimestamp,
    #[error("the timestamp is {0} seconds away from now, beyond the tolerance")]
    OutsideTolerance(i64),
    #[error("the endpoint secret is not `whsec_` followed by base64")]
    BadSecret,
}

/// Checks Ping++'s `X-Pingplusplus-Signature` over the raw body with the platform public key.
pub fn verify_pingpp(
    platform_key: &VerifyingKey,
    body: &[u8],
    signature_header: &str,
) -> Result<(), VerifyError> {
    if signature_header.trim().is_empty() {
        return Err(VerifyError::MissingSignature);
    }
    if platform_key.verify_base64(body, signature_header) {
        Ok(())
    } else {
        Err(VerifyError::BadSignature)
    }
}

/// An endpoint's HMAC key. Its `Debug` hides the key; [`EndpointSecret::expose`] is the one
/// way to read it, for showing it to the merchant once.
#[derive(Clone)]
pub struct EndpointSecret {
    text: String,
    key: Vec<u8>,
}

impl fmt::Debug for EndpointSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EndpointSecret(whsec_…)")
    }
}

impl EndpointSecret {
    pub fn generate() -> Self {
        let mut bytes = [0u8; SECRET_BYTES];
        // The system generator fails only if the OS has no randomness at all.
        SystemRandom::new()
            .fill(&mut bytes)
            .unwrap_or_else(|_| panic!("the operating system gave no random bytes"));
        Self::from_bytes(&bytes)
    }

    pub fn parse(text: &str) -> Result<Self, VerifyError> {
        let encoded = text
            .strip_prefix(SECRET_PREFIX)
            .ok_or(VerifyError::BadSecret)?;
        let bytes = STANDARD
            .decode(encoded)
            .map_err(|_| VerifyError::BadSecret)?;
        if bytes.is_empty() {
            return Err(VerifyError::BadSecret);
        }
        Ok(Self::from_bytes(&bytes))
    }

    fn from_bytes(bytes: &[u8]) -> Self {
        Self {
            text: format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes)),
            key: bytes.to_vec(),
        }
    }

    pub fn expose(&self) -> &str {
        &self.text
    }

    /// The `webhook-signature` header value for one attempt.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let tag = hmac_sha256(&self.key, &signed_content(id, &timestamp.to_string(), body));
        format!("v1,{}", STANDARD.encode(tag))
    }

    /// Checks the three replay-protection headers: the signature (any of the space-separated
    /// `v1,…` entries may match, as the standard allows during secret rotation) and that the
    /// timestamp lies within `tolerance_secs` of `now_secs`. Receivers should also remember the
    /// ids they have processed: a replay inside the tolerance carries a known id.
    pub fn verify(
        &self,
        id: &str,
        timestamp: &str,
        signature_header: &str,
        body: &[u8],
        now_secs: i64,
        tolerance_secs: i64,
    ) -> Result<(), VerifyError> {
        let sent: i64 = timestamp
            .trim()
            .parse()
            .map_err(|_| VerifyError::BadTimestamp)?;
        let skew = now_secs.saturating_sub(sent);
        if skew.abs() > tolerance_secs {
            return Err(VerifyError::OutsideTolerance(skew));
        }
        if signature_header.trim().is_empty() {
            return Err(VerifyError::MissingSignature);
        }
        let expected = hmac_sha256(&self.key, &signed_content(id, timestamp.trim(), body));
        let matches = signature_header
            .split_whitespace()
            .filter_map(|entry| entry.strip_prefix("v1,"))
            .filter_map(|tag| STANDARD.decode(tag).ok())
            .any(|tag| constant_time_eq(&tag, &expected));
        if matches {
            Ok(())
        } else {
            Err(VerifyError::BadSignature)
        }
    }
}

fn signed_content(id: &str, timestamp: &str, body: &[u8]) -> Vec<u8> {
    let mut content = Vec::with_capacity(id.len() + timestamp.len() + body.len() + 2);
    content.extend_from_slice(id.as_bytes());
    content.push(b'.');
    content.extend_from_slice(timestamp.as_bytes());
    content.push(b'.');
    content.extend_from_slice(body);
    content
}
