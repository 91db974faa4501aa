//! Asynchronous notifications (docs/channels/alipay.md, as easysdk's `verifyParams` and the Node SDK's
//! `checkNotifySign` check them). Alipay POSTs a form; decode it once ([`crate::form::parse`])
//! and verify the decoded values.

use super::Params;
use super::request::SIGN_TYPE;
use crate::encoding::join_pairs;
use crate::error::{Error, Result};
use paymux_crypto::{SigningKey, VerifyingKey};

/// Whether `sign_type` takes part in the signed content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotifySignScope {
    /// Trade notifications (`trade_status_sync`): `sign` and `sign_type` are both left out.
    ExcludeSignType,
    /// Gateway/app notifications carrying a `method` (e.g.
    /// `alipay.open.servicemarket.order.notify`): only `sign` is left out (`rsaCheckV2`).
    IncludeSignType,
}

/// `k=v&…` over the decoded parameters, sorted by name, leaving out `sign` (and `sign_type`
/// per `scope`). Unlike requests, empty values are kept as they came.
pub fn notify_sign_content(params: &Params, scope: NotifySignScope) -> String {
    join_pairs(params.iter().filter(|(name, _)| {
        *name != "sign" && (scope == NotifySignScope::IncludeSignType || *name != "sign_type")
    }))
}

/// Verifies a decoded notification under Alipay's public key. Like the Node SDK it tries the
/// trade-notification rule first and the gateway-notification rule second, and returns the one
/// that matched; both are Alipay's own signatures, so accepting either is safe.
pub fn verify_notify(params: &Params, key: &VerifyingKey) -> Result<NotifySignScope> {
    if let Some(sign_type) = params.get("sign_type")
        && sign_type != SIGN_TYPE
    {
        return Err(Error::UnsupportedSignType(sign_type.to_owned()));
    }
    let sign = match params.get("sign") {
        Some(sign) if !sign.is_empty() => sign,
        _ => return Err(Error::MissingSignature),
    };
    for scope in [
        NotifySignScope::ExcludeSignType,
        NotifySignScope::IncludeSignType,
    ] {
        if key.verify_base64(notify_sign_content(params, scope).as_bytes(), sign) {
            return Ok(scope);
        }
    }
    Err(Error::SignatureMismatch)
}

/// Signs a trade notification as Alipay does (for simulators): sets `sign_type=RSA2` and a
/// `sign` over everything but the two. Encode the result with [`crate::form::encode`].
pub fn sign_notify(params: &mut Params, key: &SigningKey) {
    params.insert("sign_type", SIGN_TYPE);
    let content = notify_sign_content(params, NotifySignScope::ExcludeSignType);
    params.insert("sign", key.sign_base64(content.as_bytes()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_keeps_empty_values() {
        let params = Params::new()
            .with("sign", "s")
            .with("sign_type", "RSA2")
            .with("body", "")
            .with("app_id", "1");
        assert_eq!(
            notify_sign_content(&params, NotifySignScope::ExcludeSignType),
            "app_id=1&body="
        );
        assert_eq!(
            notify_sign_content(&params, NotifySignScope::IncludeSignType),
            "app_id=1&body=&sign_type=RSA2"
        );
    }

    #[test]
    fn sign_then_verify_and_tamper() {
        let key = SigningKey::generate().expect("keygen");
        let verifier =
            VerifyingKey::from_pem(&key.public_key_pem().expect("pem")).expect("public key");
        let mut params = Params::new()
            .with("out_trade_no", "1")
            .with("total_amount", "0.01")
            .with("passback_params", "100%");
        sign_notify(&mut params, &key);
        assert_eq!(
            verify_notify(&params, &verifier),
            Ok(NotifySignScope::ExcludeSignType)
        );

        let mut tampered = params.clone();
        tampered.insert("total_amount", "100.00");
        assert_eq!(
            verify_notify(&tampered, &verifier),
            Err(Error::SignatureMismatch)
        );

        let mut sha1 = params.clone();
        sha1.insert("sign_type", "RSA");
        assert_eq!(
            verify_notify(&sha1, &verifier),
            Err(Error::UnsupportedSignType("RSA".into()))
        );

        let mut unsigned = params;
        unsigned.remove("sign");
        assert_eq!(
            verify_notify(&unsigned, &verifier),
            Err(Error::MissingSignature)
        );
    }
}
