//! Request signatures (docs/channels/alipay.md, as easysdk's `Signer` and the Java SDK's
//! `AlipaySignature.getSignContent` build them).

use super::Params;
use crate::encoding::join_pairs;
use crate::error::{Error, Result};
use paymux_crypto::{SigningKey, VerifyingKey};

/// RSA-SHA256. (`RSA` means SHA-1 and is not supported.)
pub const SIGN_TYPE: &str = "RSA2";

/// `k=v&…` over every non-empty parameter except `sign` (`sign_type` included), sorted by name,
/// raw values (no URL-encoding). `biz_content` is signed as the exact JSON text that is sent.
pub fn request_sign_content(params: &Params) -> String {
    join_pairs(
        params
            .iter()
            .filter(|(name, value)| *name != "sign" && !value.is_empty()),
    )
}

/// Sets `sign_type=RSA2` and `sign`. All other parameters, `timestamp` and `biz_content`
/// included, must be final: the signature covers them as they are now.
pub fn sign_request(params: &mut Params, key: &SigningKey) {
    params.insert("sign_type", SIGN_TYPE);
    let sign = key.sign_base64(request_sign_content(params).as_bytes());
    params.insert("sign", sign);
}

/// The simulator's check of a request, under the app's public key (the gateway answers
/// `40002 isv.invalid-signature` when this fails).
pub fn verify_request(params: &Params, key: &VerifyingKey) -> Result<()> {
    match params.get("sign_type") {
        Some(SIGN_TYPE) => {}
        Some(other) => return Err(Error::UnsupportedSignType(other.to_owned())),
        None => return Err(Error::MissingField("sign_type".to_owned())),
    }
    let sign = match params.get("sign") {
        Some(sign) if !sign.is_empty() => sign,
        _ => return Err(Error::MissingSignature),
    };
    if key.verify_base64(request_sign_content(params).as_bytes(), sign) {
        Ok(())
    } else {
        Err(Error::SignatureMismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_drops_sign_and_empty_values_only() {
        let params = Params::new()
            .with("sign", "x")
            .with("sign_type", "RSA2")
            .with("notify_url", "")
            .with("app_id", "1")
            .with("biz_content", r#"{"a":"b c"}"#);
        assert_eq!(
            request_sign_content(&params),
            r#"app_id=1&biz_content={"a":"b c"}&sign_type=RSA2"#
        );
    }

    #[test]
    fn sign_and_verify() {
        let key = SigningKey::generate().expect("keygen");
        let verifier =
            VerifyingKey::from_pem(&key.public_key_pem().expect("pem")).expect("public key");
        let mut params = Params::new()
            .with("app_id", "1")
            .with("method", "alipay.trade.query");
        sign_request(&mut params, &key);
        assert_eq!(verify_request(&params, &verifier), Ok(()));

        let mut tampered = params.clone();
        tampered.insert("method", "alipay.trade.refund");
        assert_eq!(
            verify_request(&tampered, &verifier),
            Err(Error::SignatureMismatch)
        );

        let mut sha1 = params.clone();
        sha1.insert("sign_type", "RSA");
        assert_eq!(
            verify_request(&sha1, &verifier),
            Err(Error::UnsupportedSignType("RSA".into()))
        );

        let mut unsigned = params;
        unsigned.remove("sign");
        assert_eq!(
            verify_request(&unsigned, &verifier),
            Err(Error::MissingSignature)
        );
    }
}
