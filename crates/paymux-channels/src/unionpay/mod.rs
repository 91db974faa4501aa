//! UnionPay online payments (upacp, 全渠道), version 5.1.0 with `signMethod=01`
//! (docs/channels/unionpay.md, as the acp SDK's `SDKUtil.signByCertInfo` and `validate` do it).
//!
//! The signature is a double hash: RSA-SHA256 over the *lower-case hex* of SHA-256 of the sorted
//! `k=v&…` content, not over the content itself.
//!
//! Answers and notifications are verified under the key of the signing certificate they carry
//! (`signPubKeyCert`) once [`CertificateChain`] has shown it to be UnionPay's, or under a
//! fixed key the caller trusts ([`verify`]).

mod certificates;

pub use certificates::{CertificateChain, OWNER, TEST_OWNER};

use crate::Params;
use crate::encoding::{hex_lower, join_pairs};
use crate::error::{Error, Result};
use paymux_crypto::digest::sha256;
use paymux_crypto::{SigningKey, VerifyingKey};

pub const VERSION: &str = "5.1.0";
/// RSA with the merchant's signing certificate.
pub const SIGN_METHOD_RSA: &str = "01";

/// The SDK's `filterBlank`: values trimmed, blank ones dropped. Applied to a request before it
/// is signed and sent. Trimmed as Java's `String.trim` trims (spaces and control characters, not
/// other Unicode spaces such as U+3000), so a value keeps what UnionPay's side would keep.
pub fn filter_blank(params: &Params) -> Params {
    params
        .iter()
        .map(|(name, value)| (name, value.trim_matches(|c: char| c <= ' ')))
        .filter(|(_, value)| !value.is_empty())
        .collect()
}

/// `k=v&…` over every parameter but `signature`, sorted by name, raw values.
pub fn sign_content(params: &Params) -> String {
    join_pairs(params.iter().filter(|(name, _)| *name != "signature"))
}

/// `lowercase_hex(SHA-256(content))`: the 64 ASCII characters the RSA signature covers.
pub fn sign_digest_hex(params: &Params) -> String {
    hex_lower(&sha256(sign_content(params).as_bytes()))
}

fn require_5_1_0_rsa(params: &Params, sign_method_required: bool) -> Result<()> {
    match params.get("version") {
        Some(VERSION) => {}
        Some(other) => {
            return Err(Error::UnexpectedValue {
                field: "version".to_owned(),
                value: other.to_owned(),
            });
        }
        None => return Err(Error::MissingField("version".to_owned())),
    }
    match params.get("signMethod") {
        Some(SIGN_METHOD_RSA) => Ok(()),
        Some(other) => Err(Error::UnsupportedSignType(other.to_owned())),
        None if sign_method_required => Err(Error::MissingField("signMethod".to_owned())),
        None => Ok(()),
    }
}

/// Signs a request the way the acp SDK does: blanks filtered ([`filter_blank`]), `certId` set to
/// the merchant signing certificate's serial number (decimal), then `signature`. Returns the
/// parameters to send. `version=5.1.0` and `signMethod=01` must already be set: they decide the
/// algorithm and are part of the signed content.
pub fn sign(params: &Params, cert_id: &str, key: &SigningKey) -> Result<Params> {
    let mut signed = filter_blank(params);
    require_5_1_0_rsa(&signed, true)?;
    signed.insert("certId", cert_id);
    signed.remove("signature");
    let signature = key.sign_base64(sign_digest_hex(&signed).as_bytes());
    signed.insert("signature", signature);
    Ok(signed)
}

/// Verifies a response or notification under UnionPay's signing key (see the module docs on
/// where that key must come from). The content is recomputed over all received fields except
/// `signature`, values as received. Requires `version=5.1.0`; `signMethod`, when present, must
/// be `01`.
pub fn verify(params: &Params, key: &VerifyingKey) -> Result<()> {
    require_5_1_0_rsa(params, false)?;
    let signature = match params.get("signature") {
        Some(signature) if !signature.is_empty() => signature,
        _ => return Err(Error::MissingSignature),
    };
    if key.verify_base64(sign_digest_hex(params).as_bytes(), signature) {
        Ok(())
    } else {
        Err(Error::SignatureMismatch)
    }
}

/// Parses a synchronous response body (`k=v&…`, *not* URL-encoded; notifications are, and go
/// through [`crate::form::parse`]). As in the acp SDK's `parseQString`, an `&` inside `{…}` or
/// `[…]` belongs to the value (e.g. `reserved={a=1&b=2}`); nesting is counted here, where the SDK
/// only tracks one level. The first `=` separates name and value. A repeated name is an error.
pub fn parse_response(body: &str) -> Result<Params> {
    let mut params = Params::new();
    let mut depth = 0usize;
    let mut start = 0usize;
    let mut in_value = false;
    let body = body.trim_end_matches(['\r', '\n']);
    for (at, c) in body
        .char_indices()
        .chain(std::iter::once((body.len(), '&')))
    {
        match c {
            '=' => in_value = true,
            '{' | '[' if in_value => depth += 1,
            '}' | ']' if in_value => depth = depth.saturating_sub(1),
            '&' if depth == 0 => {
                let pair = body.get(start..at).unwrap_or_default();
                start = at + 1;
                in_value = false;
                if pair.is_empty() {
                    continue;
                }
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                if name.is_empty() {
                    return Err(Error::Form("a pair has no name".to_owned()));
                }
                if params.contains(name) {
                    return Err(Error::DuplicateField(name.to_owned()));
                }
                params.insert(name, value);
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(Error::Form("an unclosed `{` or `[`".to_owned()));
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Params {
        Params::new()
            .with("version", VERSION)
            .with("signMethod", SIGN_METHOD_RSA)
            .with("txnAmt", " 100 ")
            .with("reqReserved", "  ")
            .with("merId", "777290058110048")
    }

    #[test]
    fn filter_blank_trims_and_drops() {
        let filtered = filter_blank(&base());
        assert_eq!(filtered.get("txnAmt"), Some("100"));
        assert!(!filtered.contains("reqReserved"));
        // As Java's String.trim: spaces and control characters, not an ideographic space.
        let filtered = filter_blank(
            &Params::new()
                .with("a", " \t x \r\n")
                .with("b", "\u{3000}note\u{3000}")
                .with("c", "\u{1}"),
        );
        assert_eq!(filtered.get("a"), Some("x"));
        assert_eq!(filtered.get("b"), Some("\u{3000}note\u{3000}"));
        assert!(!filtered.contains("c"));
    }

    #[test]
    fn sign_then_verify_and_tamper() {
        let key = SigningKey::generate().expect("keygen");
        let verifier =
            VerifyingKey::from_pem(&key.public_key_pem().expect("pem")).expect("public key");
        let signed = sign(&base(), "68759663125", &key).expect("sign");
        assert_eq!(signed.get("certId"), Some("68759663125"));
        assert_eq!(verify(&signed, &verifier), Ok(()));

        let mut tampered = signed.clone();
        tampered.insert("txnAmt", "1000");
        assert_eq!(verify(&tampered, &verifier), Err(Error::SignatureMismatch));

        let mut unsigned = signed.clone();
        unsigned.remove("signature");
        assert_eq!(verify(&unsigned, &verifier), Err(Error::MissingSignature));

        let mut sm3 = signed;
        sm3.insert("signMethod", "12");
        assert_eq!(
            verify(&sm3, &verifier),
            Err(Error::UnsupportedSignType("12".into()))
        );
    }

    #[test]
    fn sign_requires_version_and_method() {
        let key = SigningKey::generate().expect("keygen");
        let mut old = base();
        old.insert("version", "5.0.0");
        assert!(matches!(
            sign(&old, "1", &key),
            Err(Error::UnexpectedValue { .. })
        ));
        let mut no_method = base();
        no_method.remove("signMethod");
        assert_eq!(
            sign(&no_method, "1", &key),
            Err(Error::MissingField("signMethod".into()))
        );
    }

    #[test]
    fn parse_response_keeps_nested_ampersands() {
        let params = parse_response(
            "respCode=00&reserved={a=1&b={c=2&d=3}}&list=[x&y]&signature=ab+/c==&empty=\r\n",
        )
        .expect("parse");
        assert_eq!(params.get("respCode"), Some("00"));
        assert_eq!(params.get("reserved"), Some("{a=1&b={c=2&d=3}}"));
        assert_eq!(params.get("list"), Some("[x&y]"));
        assert_eq!(params.get("signature"), Some("ab+/c=="));
        assert_eq!(params.get("empty"), Some(""));
        assert_eq!(params.len(), 5);

        assert_eq!(
            parse_response("a=1&a=2"),
            Err(Error::DuplicateField("a".into()))
        );
        assert!(parse_response("a={1&b=2").is_err());
        assert!(parse_response("=1").is_err());
    }
}
