//! Signatures on what WeChat sends: responses and notifications (docs/channels/wechat-v3.md, as
//! wechatpay-go's `WechatPayResponseValidator`/`WechatPayNotifyValidator` check them).

use super::auth::AUTH_SCHEME;
use crate::error::{Error, Result};
use paymux_crypto::{SigningKey, VerifyingKey};

pub const HEADER_TIMESTAMP: &str = "Wechatpay-Timestamp";
pub const HEADER_NONCE: &str = "Wechatpay-Nonce";
pub const HEADER_SIGNATURE: &str = "Wechatpay-Signature";
pub const HEADER_SERIAL: &str = "Wechatpay-Serial";
pub const HEADER_SIGNATURE_TYPE: &str = "Wechatpay-Signature-Type";

/// The replay window: a signed timestamp this many seconds or more from now is rejected
/// (wechatpay-go's `FiveMinute`).
pub const MAX_CLOCK_SKEW_SECS: i64 = 300;

/// Rejects `timestamp` when `|now - timestamp| >= MAX_CLOCK_SKEW_SECS`.
pub fn check_clock(timestamp: i64, now: i64) -> Result<()> {
    let skew = i64::try_from(now.abs_diff(timestamp)).unwrap_or(i64::MAX);
    if skew >= MAX_CLOCK_SKEW_SECS {
        return Err(Error::StaleTimestamp {
            timestamp,
            skew,
            limit: MAX_CLOCK_SKEW_SECS,
        });
    }
    Ok(())
}

/// `TIMESTAMP\nNONCE\nBODY\n` over the raw body bytes (empty for 204), the signed message.
pub fn response_message(timestamp: &str, nonce: &str, body: &[u8]) -> Vec<u8> {
    let mut message = format!("{timestamp}\n{nonce}\n").into_bytes();
    message.extend_from_slice(body);
    message.push(b'\n');
    message
}

/// The `Wechatpay-*` signature headers of a response or notification, as received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureHeaders {
    /// Kept as text: the signature covers the header exactly as sent.
    pub timestamp: String,
    pub nonce: String,
    /// Base64 RSA-SHA256 signature of [`response_message`].
    pub signature: String,
    /// Which key signed: a platform certificate serial (hex) or a public key id
    /// (`PUB_KEY_ID_…`). Look the key up by this before calling [`Self::verify`]; an unknown
    /// serial means reject (after refreshing certificates), never "skip verification".
    pub serial: String,
    /// `Wechatpay-Signature-Type`, when sent.
    pub signature_type: Option<String>,
}

impl SignatureHeaders {
    /// Reads the headers through `get`, which maps a header name to its value (an HTTP header
    /// map lookup, case-insensitive). A missing or empty header is an error: per WeChat's docs
    /// an unsigned 2xx response must be treated as forged.
    pub fn from_lookup<'a>(get: impl Fn(&'static str) -> Option<&'a str>) -> Result<Self> {
        let required = |name: &'static str| match get(name) {
            Some(value) if !value.trim().is_empty() => Ok(value.trim().to_owned()),
            _ => Err(Error::MissingHeader(name)),
        };
        Ok(Self {
            timestamp: required(HEADER_TIMESTAMP)?,
            nonce: required(HEADER_NONCE)?,
            signature: required(HEADER_SIGNATURE)?,
            serial: required(HEADER_SERIAL)?,
            signature_type: get(HEADER_SIGNATURE_TYPE)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned),
        })
    }

    /// Checks the signature type, the replay window against `now` (unix seconds), and the
    /// signature over `body` (the raw bytes, never re-serialised JSON) under `key`, the
    /// platform key named by [`Self::serial`].
    pub fn verify(&self, key: &VerifyingKey, body: &[u8], now: i64) -> Result<()> {
        if let Some(kind) = &self.signature_type
            && kind != AUTH_SCHEME
        {
            return Err(Error::UnsupportedAlgorithm(kind.clone()));
        }
        // The message uses the header text itself, so any digits-only form is fine here.
        let timestamp = Some(self.timestamp.as_str())
            .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|t| t.parse::<i64>().ok())
            .ok_or(Error::MalformedHeader(HEADER_TIMESTAMP))?;
        check_clock(timestamp, now)?;
        let message = response_message(&self.timestamp, &self.nonce, body);
        if key.verify_base64(&message, &self.signature) {
            Ok(())
        } else {
            Err(Error::SignatureMismatch)
        }
    }

    /// Signs `body` as WeChat signs a response or notification (what a simulator sends).
    pub fn sign(key: &SigningKey, serial: &str, timestamp: i64, nonce: &str, body: &[u8]) -> Self {
        let timestamp = timestamp.to_string();
        let signature = key.sign_base64(&response_message(&timestamp, nonce, body));
        Self {
            timestamp,
            nonce: nonce.to_owned(),
            signature,
            serial: serial.to_owned(),
            signature_type: Some(AUTH_SCHEME.to_owned()),
        }
    }

    /// `(name, value)` pairs to put on an HTTP response.
    pub fn to_pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = vec![
            (HEADER_TIMESTAMP, self.timestamp.clone()),
            (HEADER_NONCE, self.nonce.clone()),
            (HEADER_SIGNATURE, self.signature.clone()),
            (HEADER_SERIAL, self.serial.clone()),
        ];
        if let Some(kind) = &self.signature_type {
            pairs.push((HEADER_SIGNATURE_TYPE, kind.clone()));
        }
        pairs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_window_is_exclusive_at_five_minutes() {
        assert_eq!(check_clock(1000, 1299), Ok(()));
        assert_eq!(check_clock(1299, 1000), Ok(()));
        assert!(matches!(
            check_clock(1000, 1300),
            Err(Error::StaleTimestamp { skew: 300, .. })
        ));
        assert!(check_clock(i64::MIN, i64::MAX).is_err());
    }

    #[test]
    fn from_lookup_requires_the_four_headers() {
        let all = [
            (HEADER_TIMESTAMP, "1"),
            (HEADER_NONCE, "n"),
            (HEADER_SIGNATURE, "s"),
            (HEADER_SERIAL, "S"),
        ];
        let lookup = |pairs: &[(&'static str, &'static str)]| {
            let pairs = pairs.to_vec();
            SignatureHeaders::from_lookup(move |name| {
                pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
            })
        };
        let headers = lookup(&all).expect("headers");
        assert_eq!(headers.signature_type, None);
        for missing in [
            HEADER_TIMESTAMP,
            HEADER_NONCE,
            HEADER_SIGNATURE,
            HEADER_SERIAL,
        ] {
            let partial: Vec<_> = all.iter().copied().filter(|(k, _)| *k != missing).collect();
            assert_eq!(lookup(&partial), Err(Error::MissingHeader(missing)));
        }
    }

    #[test]
    fn sign_then_verify_and_tamper() {
        let key = SigningKey::generate().expect("keygen");
        let verifier =
            VerifyingKey::from_pem(&key.public_key_pem().expect("pem")).expect("public key");
        let headers = SignatureHeaders::sign(&key, "PUB_KEY_ID_1", 1000, "nonce", b"{}");
        assert_eq!(headers.verify(&verifier, b"{}", 1000), Ok(()));
        assert_eq!(
            headers.verify(&verifier, b"{ }", 1000),
            Err(Error::SignatureMismatch)
        );
        assert!(matches!(
            headers.verify(&verifier, b"{}", 2000),
            Err(Error::StaleTimestamp { .. })
        ));

        let mut other_type = headers.clone();
        other_type.signature_type = Some("WECHATPAY2-SM2-WITH-SM3".into());
        assert!(matches!(
            other_type.verify(&verifier, b"{}", 1000),
            Err(Error::UnsupportedAlgorithm(_))
        ));

        // The signature covers the header text, so a re-spelt timestamp no longer matches.
        let mut padded = headers.clone();
        padded.timestamp = "01000".into();
        assert_eq!(
            padded.verify(&verifier, b"{}", 1000),
            Err(Error::SignatureMismatch)
        );
        padded.timestamp = "+1000".into();
        assert_eq!(
            padded.verify(&verifier, b"{}", 1000),
            Err(Error::MalformedHeader(HEADER_TIMESTAMP))
        );
        assert_eq!(headers.to_pairs().len(), 5);
    }
}
