//! Secrets at rest: channel keys and certificates are sealed with AES-256-GCM under a key the
//! operator provides (`PAYMUX_SECRETS_KEY`, 32 random bytes in base64), so a copy of the database
//! alone reveals none of them. The additional data binds each sealed value to the row it belongs
//! to, so a value cannot be moved to another app or channel.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use paymux_crypto::cipher::{GCM_NONCE_LEN, aes_gcm_decrypt, aes_gcm_encrypt};
use std::fmt;

const VERSION: &str = "v1:";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretsError {
    #[error("the secrets key must be 32 bytes in base64 (e.g. `openssl rand -base64 32`)")]
    BadKey,
    #[error("a sealed secret could not be opened (another secrets key, or the data was altered)")]
    CannotOpen,
    #[error("the system has no randomness")]
    NoRandomness,
    #[error(
        "a sealed secret needs the secrets key (--secrets-key-file or PAYMUX_SECRETS_KEY) it was sealed with"
    )]
    KeyNeeded,
}

/// Whether a stored value is sealed (else it is clear: written before a key was configured).
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(VERSION)
}

/// What to store for `value`: sealed when a secrets key is configured, else as it is.
pub fn seal_stored(
    key: Option<&SecretsKey>,
    value: &str,
    context: &str,
) -> Result<String, SecretsError> {
    match key {
        Some(key) => key.seal(value.as_bytes(), context),
        None => Ok(value.to_owned()),
    }
}

/// Reads a stored value that may be sealed (the platform private key, webhook secrets).
pub fn open_stored(
    key: Option<&SecretsKey>,
    stored: &str,
    context: &str,
) -> Result<String, SecretsError> {
    if !is_sealed(stored) {
        return Ok(stored.to_owned());
    }
    let opened = key.ok_or(SecretsError::KeyNeeded)?.open(stored, context)?;
    String::from_utf8(opened).map_err(|_| SecretsError::CannotOpen)
}

/// The additional data that binds a sealed webhook secret to its endpoint.
pub fn endpoint_context(endpoint_id: &str) -> String {
    format!("webhook_endpoints/{endpoint_id}")
}

pub const PLATFORM_KEY_CONTEXT: &str = "platform_keys/1";

#[derive(Clone)]
pub struct SecretsKey([u8; 32]);

impl fmt::Debug for SecretsKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretsKey(…)")
    }
}

impl SecretsKey {
    pub fn from_base64(text: &str) -> Result<Self, SecretsError> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| SecretsError::BadKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| SecretsError::BadKey)?;
        Ok(Self(key))
    }

    /// Seals `plaintext` for the row `context` names; returns `v1:` + base64(nonce ‖ ciphertext ‖ tag).
    pub fn seal(&self, plaintext: &[u8], context: &str) -> Result<String, SecretsError> {
        let mut nonce = [0u8; GCM_NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| SecretsError::NoRandomness)?;
        let sealed = aes_gcm_encrypt(&self.0, &nonce, context.as_bytes(), plaintext)
            .map_err(|_| SecretsError::CannotOpen)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(format!("{VERSION}{}", STANDARD.encode(out)))
    }

    pub fn open(&self, sealed: &str, context: &str) -> Result<Vec<u8>, SecretsError> {
        let bytes = sealed
            .strip_prefix(VERSION)
            .and_then(|b64| STANDARD.decode(b64).ok())
            .filter(|b| b.len() > GCM_NONCE_LEN)
            .ok_or(SecretsError::CannotOpen)?;
        let (nonce, ciphertext) = bytes.split_at(GCM_NONCE_LEN);
        aes_gcm_decrypt(&self.0, nonce, context.as_bytes(), ciphertext)
            .map_err(|_| SecretsError::CannotOpen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SecretsKey {
        SecretsKey::from_base64(&STANDARD.encode([7u8; 32])).expect("key")
    }

    #[test]
    fn sealed_values_open_only_with_their_key_and_context() {
        let sealed = key()
            .seal(b"api-key-123", "app_1/live/wechat")
            .expect("seal");
        assert!(!sealed.contains("api-key-123"));
        assert_eq!(
            key().open(&sealed, "app_1/live/wechat").expect("open"),
            b"api-key-123"
        );
        assert_eq!(
            key().open(&sealed, "app_2/live/wechat"),
            Err(SecretsError::CannotOpen),
            "bound to its row"
        );
        let other = SecretsKey::from_base64(&STANDARD.encode([8u8; 32])).expect("key");
        assert_eq!(
            other.open(&sealed, "app_1/live/wechat"),
            Err(SecretsError::CannotOpen)
        );
        assert_ne!(
            key().seal(b"x", "c").expect("seal"),
            key().seal(b"x", "c").expect("seal")
        );
        assert_eq!(
            SecretsKey::from_base64("c2hvcnQ=").err(),
            Some(SecretsError::BadKey)
        );
        assert!(!format!("{:?}", key()).contains('7'));
    }
}
