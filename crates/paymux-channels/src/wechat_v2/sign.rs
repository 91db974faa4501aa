//! The v2 `sign` field (docs/channels/wechat-v2.md, as WxJava `SignUtils.createSign` implements WeChat's
//! "安全规范" page): every parameter except `sign`, empty values dropped, sorted by name, joined as
//! `k=v&…`, then `&key=<API key>`; MD5 or HMAC-SHA256 (keyed with the API key as well), as
//! upper-case hex.

use super::Params;
use crate::encoding::hex_upper;
use crate::error::{Error, Result};
use paymux_crypto::digest::{constant_time_eq, hmac_sha256, md5};
use std::fmt;
use std::str::FromStr;

/// The two v2 signature algorithms. `MD5` is the default when a message has no `sign_type`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SignType {
    #[default]
    Md5,
    HmacSha256,
}

impl SignType {
    /// The wire spelling, as in `sign_type=HMAC-SHA256`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Md5 => "MD5",
            Self::HmacSha256 => "HMAC-SHA256",
        }
    }

    /// The algorithm a received message (a pay notification above all) is signed with: its own
    /// `sign_type` when it carries one, otherwise `configured`, the merchant's setting. This is
    /// WxJava's `parseOrderNotifyResult` rule.
    pub fn of_message(params: &Params, configured: SignType) -> Result<Self> {
        match params.get("sign_type") {
            Some(text) if !text.is_empty() => text.parse(),
            _ => Ok(configured),
        }
    }
}

impl FromStr for SignType {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        // WxJava compares case-insensitively; so do we.
        if text.eq_ignore_ascii_case("MD5") {
            Ok(Self::Md5)
        } else if text.eq_ignore_ascii_case("HMAC-SHA256") {
            Ok(Self::HmacSha256)
        } else {
            Err(Error::UnsupportedSignType(text.to_owned()))
        }
    }
}

impl fmt::Display for SignType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A value as WeChat's own SDK signs it: without leading or trailing spaces or control
/// characters (Java's `String.trim`). A value that is nothing else takes no part.
pub fn signed_value(value: &str) -> &str {
    value.trim_matches(|c: char| c <= ' ')
}

/// `stringSignTemp`: `k1=v1&k2=v2&…&key=<API key>` over every parameter except `sign`
/// (`sign_type` included) whose [`signed_value`] is not empty, in byte order of the names, with
/// raw values (no URL-encoding). Exposed for logs and for debugging a signature mismatch; it
/// contains the API key, so never log it as is.
pub fn string_to_sign(params: &Params, api_key: &str) -> String {
    let mut out = String::new();
    for (name, value) in params.iter() {
        let value = signed_value(value);
        if name == "sign" || value.is_empty() {
            continue;
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
        out.push('&');
    }
    out.push_str("key=");
    out.push_str(api_key);
    out
}

/// The `sign` value of `params` (upper-case hex).
pub fn sign(params: &Params, sign_type: SignType, api_key: &str) -> String {
    let message = string_to_sign(params, api_key);
    match sign_type {
        SignType::Md5 => hex_upper(&md5(message.as_bytes())),
        SignType::HmacSha256 => hex_upper(&hmac_sha256(api_key.as_bytes(), message.as_bytes())),
    }
}

/// Computes and sets `sign`, as a response or notification is signed (the simulator's job):
/// `sign_type` is left as the caller set it.
pub fn add_sign(params: &mut Params, sign_type: SignType, api_key: &str) {
    let value = sign(params, sign_type, api_key);
    params.insert("sign", value);
}

/// Signs a request: sets `sign_type` (which takes part in the signature, and which WeChat needs
/// to pick the algorithm) and then `sign`. Values are sent as they are signed (trimmed, empty
/// ones left out): WeChat's SDK signs trimmed values, other libraries the values as sent, and
/// only a request without surrounding spaces reads the same to both.
pub fn sign_request(params: &mut Params, sign_type: SignType, api_key: &str) {
    *params = params
        .iter()
        .map(|(name, value)| (name, signed_value(value)))
        .filter(|(_, value)| !value.is_empty())
        .collect();
    params.insert("sign_type", sign_type.as_str());
    add_sign(params, sign_type, api_key);
}

/// Checks `sign` against all the other fields, including ones this code knows nothing about.
/// A missing or empty `sign` fails with [`Error::MissingSignature`].
pub fn verify(params: &Params, sign_type: SignType, api_key: &str) -> Result<()> {
    let received = match params.get("sign") {
        Some(value) if !value.is_empty() => value,
        _ => return Err(Error::MissingSignature),
    };
    let expected = sign(params, sign_type, api_key);
    // WeChat always sends upper-case hex and WxJava compares exactly; so do we.
    if constant_time_eq(expected.as_bytes(), received.as_bytes()) {
        Ok(())
    } else {
        Err(Error::SignatureMismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_to_sign_skips_sign_and_empty_values_but_keeps_sign_type() {
        let params = Params::new()
            .with("b", "2")
            .with("a", "1")
            .with("empty", "")
            .with("sign", "XYZ")
            .with("sign_type", "MD5");
        assert_eq!(string_to_sign(&params, "K"), "a=1&b=2&sign_type=MD5&key=K");
        assert_eq!(string_to_sign(&Params::new(), "K"), "key=K");
    }

    #[test]
    fn values_are_signed_trimmed_as_wechats_sdk_signs_them() {
        let spaced = Params::new()
            .with("body", " 咖啡 \t")
            .with("blank", "  ")
            .with("a", "1");
        assert_eq!(string_to_sign(&spaced, "K"), "a=1&body=咖啡&key=K");
        let trimmed = Params::new().with("body", "咖啡").with("a", "1");
        assert_eq!(
            sign(&spaced, SignType::Md5, "K"),
            sign(&trimmed, SignType::Md5, "K")
        );

        // A request goes out as it was signed: trimmed, blank values left out.
        let mut request = spaced.clone();
        sign_request(&mut request, SignType::HmacSha256, "K");
        assert_eq!(request.get("body"), Some("咖啡"));
        assert_eq!(request.get("blank"), None);
        assert_eq!(verify(&request, SignType::HmacSha256, "K"), Ok(()));
    }

    #[test]
    fn sign_type_parsing() {
        assert_eq!("MD5".parse(), Ok(SignType::Md5));
        assert_eq!("hmac-sha256".parse(), Ok(SignType::HmacSha256));
        assert_eq!(
            "SHA1".parse::<SignType>(),
            Err(Error::UnsupportedSignType("SHA1".into()))
        );
        let with = Params::new().with("sign_type", "HMAC-SHA256");
        assert_eq!(
            SignType::of_message(&with, SignType::Md5),
            Ok(SignType::HmacSha256)
        );
        assert_eq!(
            SignType::of_message(&Params::new(), SignType::HmacSha256),
            Ok(SignType::HmacSha256)
        );
    }

    #[test]
    fn verify_round_trip_and_failures() {
        for sign_type in [SignType::Md5, SignType::HmacSha256] {
            let mut params = Params::new().with("appid", "wx1").with("total_fee", "1");
            sign_request(&mut params, sign_type, "key");
            assert_eq!(verify(&params, sign_type, "key"), Ok(()));
            assert_eq!(
                verify(&params, sign_type, "other"),
                Err(Error::SignatureMismatch)
            );

            let mut tampered = params.clone();
            tampered.insert("total_fee", "2");
            assert_eq!(
                verify(&tampered, sign_type, "key"),
                Err(Error::SignatureMismatch)
            );

            // A field the verifier has never heard of still counts.
            let mut extra = params.clone();
            extra.insert("coupon_fee_0", "1");
            assert_eq!(
                verify(&extra, sign_type, "key"),
                Err(Error::SignatureMismatch)
            );

            let mut unsigned = params.clone();
            unsigned.remove("sign");
            assert_eq!(
                verify(&unsigned, sign_type, "key"),
                Err(Error::MissingSignature)
            );
            unsigned.insert("sign", "");
            assert_eq!(
                verify(&unsigned, sign_type, "key"),
                Err(Error::MissingSignature)
            );
        }
    }

    #[test]
    fn lower_case_signature_is_rejected() {
        let mut params = Params::new().with("a", "1");
        add_sign(&mut params, SignType::Md5, "k");
        let lower = params.get("sign").unwrap_or_default().to_ascii_lowercase();
        params.insert("sign", lower);
        assert_eq!(
            verify(&params, SignType::Md5, "k"),
            Err(Error::SignatureMismatch)
        );
    }
}
