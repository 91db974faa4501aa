//! The Refund: pending until the channel confirms, then succeeded (or failed), or abnormal
//! when the money left the merchant but could not reach the payer.

use super::wire::{RefundObject, RefundStatusName, RefundTag, to_value};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundStatus {
    Pending,
    Succeeded,
    Failed,
    /// The channel paid the refund out but the payer's account refused it (WeChat's 退款异常):
    /// the amount stays taken from the charge, and an operator must transfer it by hand. Ping++
    /// has no such state: the wire shows `pending` with the channel's failure code and message.
    Abnormal,
}

impl RefundStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundStatus::Pending => "pending",
            RefundStatus::Succeeded => "succeeded",
            RefundStatus::Failed => "failed",
            RefundStatus::Abnormal => "abnormal",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Pending, Self::Succeeded, Self::Failed, Self::Abnormal]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Refund {
    pub id: String,
    pub charge_id: String,
    pub app_id: String,
    pub livemode: bool,
    pub created: i64,
    pub amount: i64,
    pub status: RefundStatus,
    pub time_succeed: Option<i64>,
    pub description: String,
    pub failure_code: Option<String>,
    pub failure_msg: Option<String>,
    pub metadata: Map<String, Value>,
    pub funding_source: Option<String>,
    pub charge_order_no: String,
    pub transaction_no: Option<String>,
    pub currency: String,
    pub recharge_id: Option<String>,
}

impl Refund {
    /// The refund's own order number; in Ping++ captures it is the id without `re_`.
    pub fn order_no(&self) -> &str {
        self.id.strip_prefix("re_").unwrap_or(&self.id)
    }

    pub fn to_wire(&self) -> Value {
        to_value(RefundObject {
            id: &self.id,
            object: RefundTag::Tag,
            order_no: self.order_no(),
            amount: self.amount,
            created: self.created,
            succeed: self.status == RefundStatus::Succeeded,
            status: match self.status {
                RefundStatus::Pending | RefundStatus::Abnormal => RefundStatusName::Pending,
                RefundStatus::Succeeded => RefundStatusName::Succeeded,
                RefundStatus::Failed => RefundStatusName::Failed,
            },
            time_succeed: self.time_succeed,
            description: &self.description,
            failure_code: self.failure_code.as_deref(),
            failure_msg: self.failure_msg.as_deref(),
            metadata: &self.metadata,
            charge: &self.charge_id,
            charge_order_no: &self.charge_order_no,
            transaction_no: self.transaction_no.as_deref(),
            extra: &Map::new(),
            currency: &self.currency,
            funding_source: self.funding_source.as_deref(),
        })
    }
}
