//! The payment channels behind the Ping++ channels: which provider serves each, each app's
//! configuration of it (`config`), and the adapters that speak each provider's protocol
//! (`wechat`, `alipay`, `unionpay`), all answering in the normalized [`PaymentState`] / [`RefundState`].

pub mod alipay;
pub mod config;
pub mod manage;
pub mod unionpay;
pub mod wechat;

use crate::domain::channel::Channel;

/// A company whose protocol serves one or more Ping++ channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    Wechat,
    Alipay,
    Unionpay,
}

impl Provider {
    pub const ALL: [Provider; 3] = [Provider::Wechat, Provider::Alipay, Provider::Unionpay];

    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Wechat => "wechat",
            Provider::Alipay => "alipay",
            Provider::Unionpay => "unionpay",
        }
    }

    pub fn parse(text: &str) -> Option<Provider> {
        Provider::ALL.into_iter().find(|p| p.as_str() == text)
    }

    /// The provider of a channel, where the channel alone says (ISV channels name theirs in
    /// `extra.pay_channel`; `ccb_qr` has no public protocol).
    pub fn of(channel: Channel) -> Option<Provider> {
        match channel {
            Channel::WxPubQr | Channel::WxPubScan | Channel::CbWxPubQr | Channel::CbWxPubScan => {
                Some(Provider::Wechat)
            }
            Channel::AlipayQr
            | Channel::AlipayScan
            | Channel::CbAlipayQr
            | Channel::CbAlipayScan => Some(Provider::Alipay),
            Channel::UpacpQr | Channel::UpacpScan => Some(Provider::Unionpay),
            Channel::IsvQr | Channel::IsvScan | Channel::IsvWap | Channel::CcbQr => None,
        }
    }
}

/// Sends a request to a provider's API, timed and counted for the metrics by `operation` (a
/// WeChat path, an Alipay method, a UnionPay `txnType/txnSubType`).
pub(crate) async fn send(
    provider: Provider,
    operation: &str,
    request: reqwest::RequestBuilder,
) -> Result<reqwest::Response, CallError> {
    let started = std::time::Instant::now();
    let result = request.send().await;
    let answered = result.as_ref().is_ok_and(|r| r.status().is_success());
    crate::metrics::channel_call(provider.as_str(), operation, answered, started.elapsed());
    result.map_err(|e| CallError::Transport(e.to_string()))
}

/// The provider whose app shows a payer's payment code (付款码), by the code's published
/// ranges: WeChat 18 digits from 10–15, Alipay 16–24 digits from 25–30, UnionPay 19 digits
/// from 62. How `isv_scan`, which names no provider, finds its own.
pub fn provider_of_payment_code(code: &str) -> Option<Provider> {
    if !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let prefix: u8 = code.get(..2)?.parse().ok()?;
    match (prefix, code.len()) {
        (10..=15, 18) => Some(Provider::Wechat),
        (25..=30, 16..=24) => Some(Provider::Alipay),
        (62, 19) => Some(Provider::Unionpay),
        _ => None,
    }
}

/// What a channel says of a payment. `Unknown` means exactly that: query again later; never
/// conclude failure from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentState {
    Paid {
        transaction_no: String,
        time_paid: Option<i64>,
    },
    /// Not paid (yet): waiting for the payer.
    Pending,
    /// Closed or reversed unpaid.
    Closed,
    Failed {
        code: String,
        message: String,
    },
    Unknown(String),
}

/// What a channel says of a refund.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundState {
    /// Done; `refund_no` is the channel's own number for the refund, where it gives one.
    Succeeded {
        time: Option<i64>,
        refund_no: Option<String>,
    },
    Pending,
    Failed {
        code: String,
        message: String,
    },
    /// The money left the merchant but did not reach the payer (WeChat's 退款异常, `CHANGE`: a
    /// closed or frozen card). Final at the channel; someone must pay it out by hand.
    Abnormal {
        code: String,
        message: String,
    },
    Unknown(String),
}

/// What went wrong with a call to a channel that brought no business answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The answer (or notification) failed verification or could not be read: treat it as
    /// forged or broken.
    #[error("the channel's answer failed verification: {0}")]
    Unverified(String),
    /// No answer (timeout, connection): whatever was asked may or may not have happened.
    #[error("no answer from the channel: {0}")]
    Transport(String),
    /// The channel refused the call itself (our signature, parameters, app…).
    #[error("the channel refused the call: {0}")]
    Refused(String),
    /// The configuration lacks what the call needs (e.g. a client certificate).
    #[error("{0}")]
    NotConfigured(&'static str),
}

/// A call that brought no business answer, as a payment state: refused or misconfigured calls
/// fail the payment; anything else leaves it unknown (query later).
pub(crate) fn call_failed(error: CallError) -> PaymentState {
    match error {
        CallError::Refused(message) => PaymentState::Failed {
            code: "channel_refused".into(),
            message,
        },
        CallError::NotConfigured(message) => PaymentState::Failed {
            code: "channel_not_configured".into(),
            message: message.to_owned(),
        },
        other => PaymentState::Unknown(other.to_string()),
    }
}

use ipnet::IpNet;
use std::sync::Arc;

/// How long one call to a channel may take before its outcome counts as unknown.
const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The HTTP client every adapter calls its channel with: bounded in time, no redirects (a
/// channel answers where it was asked), no proxy from the environment, and names resolved
/// through the deny-list (`outbound`), as for webhooks.
pub(crate) fn http_client(deny: &Arc<Vec<IpNet>>) -> reqwest::ClientBuilder {
    let builder = reqwest::Client::builder()
        .timeout(CALL_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy();
    crate::outbound::guarded(builder, deny.clone())
}

/// A configured value, public or secret, that [`config::ProviderSettings::check`] required.
pub(crate) fn setting<'a>(
    settings: &'a config::ProviderSettings,
    name: &str,
) -> Result<&'a str, CallError> {
    settings
        .public
        .get(name)
        .or_else(|| settings.secrets.get(name))
        .map(String::as_str)
        .ok_or(CallError::NotConfigured(
            "the channel configuration is incomplete",
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payment_codes_name_their_provider() {
        assert_eq!(
            provider_of_payment_code("134628839776154108"),
            Some(Provider::Wechat)
        );
        assert_eq!(
            provider_of_payment_code("286801346868493272"),
            Some(Provider::Alipay)
        );
        assert_eq!(
            provider_of_payment_code("6223194990234588123"),
            Some(Provider::Unionpay)
        );
        assert_eq!(
            provider_of_payment_code("1346288397761541"),
            None,
            "too short"
        );
        assert_eq!(provider_of_payment_code("99000000000000000"), None);
        assert_eq!(provider_of_payment_code("13462883977615410x"), None);
        assert_eq!(provider_of_payment_code(""), None);
    }
}
