//! Reading a v2 response (docs/channels/wechat-v2.md): `return_code` is the communication result,
//! `result_code` the business result, and `err_code` says why a business call failed. Which
//! failures leave the outcome *unknown* (query before concluding anything) is the part that
//! matters most to an adapter, so every `err_code` is mapped to an [`ErrorClass`] (docs/channels/wechat-v2.md, "Error codes").

use super::{Params, SignType, verify};
use crate::error::{Error, Result};

/// What a v2 response says happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// `return_code=FAIL`: the call itself failed (bad signature, malformed XML, wrong
    /// parameters at the protocol level…). Such responses carry no `sign` and no business data.
    CommunicationFailure { return_msg: String },
    /// `return_code=SUCCESS` and `result_code=SUCCESS`. For refunds this means *accepted*.
    Success,
    /// `result_code=FAIL`.
    BusinessFailure {
        err_code: Option<String>,
        err_code_des: Option<String>,
        class: ErrorClass,
    },
}

/// How an adapter must react to an `err_code` (docs/channels/wechat-v2.md, "Error codes").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// The outcome is unknown: query (and for micropay, maybe reverse); retry a refund with the
    /// same `out_refund_no`. `SYSTEMERROR`, `BANKERROR`, `USERPAYING`, `BIZERR_NEED_RETRY`,
    /// `FREQUENCY_LIMITED`.
    Unknown,
    /// A definite failure the customer can fix: another payment code, more balance…
    CustomerAction,
    /// The order is not in a state that allows the call (paid, closed, missing, too old…).
    OrderState,
    /// Our request or merchant configuration is wrong; retrying will not help.
    MerchantConfig,
    /// A code not in the catalogue (or none at all). Treat it as [`ErrorClass::Unknown`] until
    /// someone has looked at it: concluding "failed" from a code we do not know is how money
    /// gets lost.
    Unrecognised,
}

/// Classifies an `err_code` per docs/channels/wechat-v2.md
///
/// `NOTENOUGH` means "the payer's balance is insufficient" on payments but "the merchant's
/// balance is insufficient" on refunds; both are definite failures, and it is classified as
/// [`ErrorClass::CustomerAction`] here. `ORDERPAID` is an [`ErrorClass::OrderState`]: after a
/// query confirms it, treat the charge as paid.
pub fn classify_err_code(code: &str) -> ErrorClass {
    match code {
        // FREQUENCY_LIMITED: too many calls; the same call (refunds: the same `out_refund_no`)
        // is to be made again later, so it says nothing about the outcome.
        "SYSTEMERROR" | "BANKERROR" | "USERPAYING" | "BIZERR_NEED_RETRY" | "FREQUENCY_LIMITED" => {
            ErrorClass::Unknown
        }
        "AUTHCODEEXPIRE" | "AUTH_CODE_ERROR" | "AUTH_CODE_INVALID" | "NOTENOUGH"
        | "NOTSUPORTCARD" | "BUYER_MISMATCH" | "TRADE_ERROR" => ErrorClass::CustomerAction,
        "ORDERPAID"
        | "ORDERCLOSED"
        | "ORDERREVERSED"
        | "ORDERNOTEXIST"
        | "OUT_TRADE_NO_USED"
        | "TRADE_STATE_ERROR"
        | "REFUNDNOTEXIST"
        | "TRADE_OVERDUE"
        | "USER_ACCOUNT_ABNORMAL" => ErrorClass::OrderState,
        "NOAUTH"
        | "PARAM_ERROR"
        | "INVALID_REQUEST"
        | "LACK_PARAMS"
        | "SIGNERROR"
        | "XML_FORMAT_ERROR"
        | "REQUIRE_POST_METHOD"
        | "POST_DATA_EMPTY"
        | "NOT_UTF8"
        | "APPID_NOT_EXIST"
        | "MCHID_NOT_EXIST"
        | "APPID_MCHID_NOT_MATCH"
        | "INVALID_TRANSACTIONID"
        | "INVALID_REQ_TOO_MUCH" => ErrorClass::MerchantConfig,
        _ => ErrorClass::Unrecognised,
    }
}

fn non_empty(params: &Params, name: &str) -> Option<String> {
    params
        .get(name)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// Reads the envelope of a response whose signature has already been dealt with (or that a
/// simulator built itself). Use [`verify_response`] on anything received from the network.
pub fn read_outcome(params: &Params) -> Result<Outcome> {
    match params.require("return_code")? {
        "FAIL" => Ok(Outcome::CommunicationFailure {
            return_msg: params.get("return_msg").unwrap_or_default().to_owned(),
        }),
        "SUCCESS" => match params.require("result_code")? {
            "SUCCESS" => Ok(Outcome::Success),
            "FAIL" => {
                let err_code = non_empty(params, "err_code");
                let class = err_code
                    .as_deref()
                    .map_or(ErrorClass::Unrecognised, classify_err_code);
                Ok(Outcome::BusinessFailure {
                    err_code,
                    err_code_des: non_empty(params, "err_code_des"),
                    class,
                })
            }
            other => Err(Error::UnexpectedValue {
                field: "result_code".to_owned(),
                value: other.to_owned(),
            }),
        },
        other => Err(Error::UnexpectedValue {
            field: "return_code".to_owned(),
            value: other.to_owned(),
        }),
    }
}

/// Verifies and reads a decoded v2 response. `sign_type` must be the algorithm the request
/// was signed with (WeChat answers in kind).
///
/// The rule of docs/channels/wechat-v2.md, "Reading an answer": verify `sign` whenever it is present; it may only be absent on
/// `return_code=FAIL`, which carries no business data. Any `return_code=SUCCESS` response
/// without a valid `sign` is rejected.
pub fn verify_response(params: &Params, sign_type: SignType, api_key: &str) -> Result<Outcome> {
    let unsigned_failure =
        params.get("return_code") == Some("FAIL") && params.get("sign").is_none_or(str::is_empty);
    if !unsigned_failure {
        verify(params, sign_type, api_key)?;
    }
    read_outcome(params)
}

#[cfg(test)]
mod tests {
    use super::super::add_sign;
    use super::*;

    #[test]
    fn classifies_the_catalogue() {
        assert_eq!(classify_err_code("USERPAYING"), ErrorClass::Unknown);
        assert_eq!(classify_err_code("SYSTEMERROR"), ErrorClass::Unknown);
        assert_eq!(
            classify_err_code("AUTHCODEEXPIRE"),
            ErrorClass::CustomerAction
        );
        assert_eq!(classify_err_code("ORDERPAID"), ErrorClass::OrderState);
        assert_eq!(classify_err_code("FREQUENCY_LIMITED"), ErrorClass::Unknown);
        assert_eq!(classify_err_code("SIGNERROR"), ErrorClass::MerchantConfig);
        assert_eq!(classify_err_code("SOMETHING_NEW"), ErrorClass::Unrecognised);
    }

    #[test]
    fn unsigned_communication_failure_is_accepted() {
        let params = Params::new()
            .with("return_code", "FAIL")
            .with("return_msg", "签名错误");
        assert_eq!(
            verify_response(&params, SignType::Md5, "k"),
            Ok(Outcome::CommunicationFailure {
                return_msg: "签名错误".into()
            })
        );
    }

    #[test]
    fn signed_failure_must_verify() {
        let mut params = Params::new()
            .with("return_code", "FAIL")
            .with("return_msg", "x")
            .with("sign", "0000");
        assert_eq!(
            verify_response(&params, SignType::Md5, "k"),
            Err(Error::SignatureMismatch)
        );
        add_sign(&mut params, SignType::Md5, "k");
        assert!(verify_response(&params, SignType::Md5, "k").is_ok());
    }

    #[test]
    fn success_needs_a_signature() {
        let mut params = Params::new()
            .with("return_code", "SUCCESS")
            .with("result_code", "FAIL")
            .with("err_code", "USERPAYING")
            .with("err_code_des", "需要用户输入支付密码");
        assert_eq!(
            verify_response(&params, SignType::Md5, "k"),
            Err(Error::MissingSignature)
        );
        add_sign(&mut params, SignType::Md5, "k");
        assert_eq!(
            verify_response(&params, SignType::Md5, "k"),
            Ok(Outcome::BusinessFailure {
                err_code: Some("USERPAYING".into()),
                err_code_des: Some("需要用户输入支付密码".into()),
                class: ErrorClass::Unknown,
            })
        );
    }

    #[test]
    fn malformed_envelopes() {
        assert_eq!(
            read_outcome(&Params::new()),
            Err(Error::MissingField("return_code".into()))
        );
        assert_eq!(
            read_outcome(&Params::new().with("return_code", "SUCCESS")),
            Err(Error::MissingField("result_code".into()))
        );
        assert!(matches!(
            read_outcome(&Params::new().with("return_code", "MAYBE")),
            Err(Error::UnexpectedValue { .. })
        ));
        assert_eq!(
            read_outcome(
                &Params::new()
                    .with("return_code", "SUCCESS")
                    .with("result_code", "FAIL")
            ),
            Ok(Outcome::BusinessFailure {
                err_code: None,
                err_code_des: None,
                class: ErrorClass::Unrecognised
            })
        );
    }
}
