//! Notification envelopes and their encrypted `resource` (docs/channels/wechat-v3.md):
//! `AEAD_AES_256_GCM` under the APIv3 key, with `resource.nonce` as the 12-byte nonce and
//! `resource.associated_data` as the AAD; the base64 ciphertext ends with the 16-byte tag.

use crate::encoding::{b64_decode, b64_encode};
use crate::error::{Error, Result};
use paymux_crypto::cipher::{aes_gcm_decrypt, aes_gcm_encrypt};
use serde::{Deserialize, Serialize};

/// The only `resource.algorithm` WeChat uses.
pub const ALGORITHM: &str = "AEAD_AES_256_GCM";

/// Decrypts a base64 `ciphertext` into text (the plaintext is always JSON, or PEM for
/// certificates).
///
/// `api_v3_key` is the key's bytes: 32 ASCII characters in production (AES-256). Like the
/// official SDKs, 16- and 24-byte keys are accepted too (AES-128/192), which two of WeChat's own
/// test vectors rely on.
pub fn decrypt(
    api_v3_key: &[u8],
    nonce: &str,
    associated_data: &str,
    ciphertext: &str,
) -> Result<String> {
    let sealed = b64_decode(ciphertext, "ciphertext")?;
    let plaintext = aes_gcm_decrypt(
        api_v3_key,
        nonce.as_bytes(),
        associated_data.as_bytes(),
        &sealed,
    )?;
    String::from_utf8(plaintext).map_err(|_| Error::Utf8("ciphertext"))
}

/// Encrypts `plaintext` into base64 ciphertext-and-tag. For simulators; the nonce must be fresh
/// for every message (WeChat uses 12 random alphanumerics).
pub fn encrypt(
    api_v3_key: &[u8],
    nonce: &str,
    associated_data: &str,
    plaintext: &[u8],
) -> Result<String> {
    let sealed = aes_gcm_encrypt(
        api_v3_key,
        nonce.as_bytes(),
        associated_data.as_bytes(),
        plaintext,
    )?;
    Ok(b64_encode(&sealed))
}

/// `resource` of a notification (and, without `original_type`, `encrypt_certificate` of
/// `GET /v3/certificates`). Fields are declared in WeChat's order, so serialising one gives
/// WeChat's layout.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptedResource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_type: Option<String>,
    pub algorithm: String,
    pub ciphertext: String,
    /// May be empty (and absent); it is still the AAD.
    #[serde(default)]
    pub associated_data: String,
    pub nonce: String,
}

impl EncryptedResource {
    /// Checks the algorithm and decrypts (see [`decrypt`] for the key).
    pub fn decrypt(&self, api_v3_key: &[u8]) -> Result<String> {
        if self.algorithm != ALGORITHM {
            return Err(Error::UnsupportedAlgorithm(self.algorithm.clone()));
        }
        decrypt(
            api_v3_key,
            &self.nonce,
            &self.associated_data,
            &self.ciphertext,
        )
    }

    /// Seals `plaintext` as WeChat would. For simulators.
    pub fn encrypt(
        api_v3_key: &[u8],
        nonce: &str,
        associated_data: &str,
        original_type: Option<&str>,
        plaintext: &[u8],
    ) -> Result<Self> {
        Ok(Self {
            original_type: original_type.map(str::to_owned),
            algorithm: ALGORITHM.to_owned(),
            ciphertext: encrypt(api_v3_key, nonce, associated_data, plaintext)?,
            associated_data: associated_data.to_owned(),
            nonce: nonce.to_owned(),
        })
    }
}

/// A v3 notification: `TRANSACTION.SUCCESS`, `REFUND.SUCCESS`/`ABNORMAL`/`CLOSED`…
///
/// Verify the `Wechatpay-*` headers over the raw body first
/// ([`super::SignatureHeaders::verify`]), then parse with [`Self::from_json`] and decrypt
/// [`Self::resource`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    pub id: String,
    pub create_time: String,
    pub resource_type: String,
    pub event_type: String,
    #[serde(default)]
    pub summary: String,
    pub resource: EncryptedResource,
}

impl Notification {
    pub fn from_json(body: &[u8]) -> Result<Self> {
        serde_json::from_slice(body).map_err(|e| Error::Json(e.to_string()))
    }

    /// Compact JSON in WeChat's field order: the exact bytes a simulator signs and sends.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| Error::Json(e.to_string()))
    }

    /// Decrypts the resource (see [`decrypt`] for the key).
    pub fn decrypt(&self, api_v3_key: &[u8]) -> Result<String> {
        self.resource.decrypt(api_v3_key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn resource_round_trip_and_tampering() {
        let resource = EncryptedResource::encrypt(
            KEY,
            "abcdefghijkl",
            "transaction",
            Some("transaction"),
            b"{\"a\":1}",
        )
        .expect("encrypt");
        assert_eq!(resource.decrypt(KEY).as_deref(), Ok("{\"a\":1}"));

        let mut wrong_aad = resource.clone();
        wrong_aad.associated_data = "refund".into();
        assert!(matches!(wrong_aad.decrypt(KEY), Err(Error::Cipher(_))));

        let mut wrong_algorithm = resource.clone();
        wrong_algorithm.algorithm = "AEAD_SM4_GCM".into();
        assert_eq!(
            wrong_algorithm.decrypt(KEY),
            Err(Error::UnsupportedAlgorithm("AEAD_SM4_GCM".into()))
        );

        let mut bad_base64 = resource;
        bad_base64.ciphertext = "***".into();
        assert_eq!(bad_base64.decrypt(KEY), Err(Error::Base64("ciphertext")));
    }

    #[test]
    fn notification_json_round_trip_tolerates_unknown_fields() {
        let body = br#"{"id":"EV-1","create_time":"2015-05-20T13:29:35+08:00","resource_type":"encrypt-resource","event_type":"REFUND.SUCCESS","summary":"ok","resource":{"original_type":"refund","algorithm":"AEAD_AES_256_GCM","ciphertext":"x","associated_data":"refund","nonce":"n"},"new_field":1}"#;
        let notification = Notification::from_json(body).expect("parse");
        assert_eq!(notification.event_type, "REFUND.SUCCESS");
        let again = Notification::from_json(notification.to_json().expect("json").as_bytes());
        assert_eq!(again, Ok(notification));
        assert!(matches!(
            Notification::from_json(b"{\"id\":1}"),
            Err(Error::Json(_))
        ));
    }
}
