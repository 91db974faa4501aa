//! The payment channels behind the Ping++ channels: which provider serves each, each app's
//! configuration of it (`config`), and the adapters that speak each provider's protocol
//! (`wechat`, `alipay`), all answering in the normalized [`PaymentState`] / [`RefundState`].

pub mod alipay;
pub mod config;
pub mod wechat;

use crate::domain::channel::Channel;

/// A company whose protocol serves one or more Ping++ channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
    Succeeded { time: Option<i64> },
    Pending,
    Failed { code: String, message: String },
    Unknown(String),
}
