//! Events: one per state change, carrying the full object as it was after the change.

use super::wire::{EventData, EventObject, EventTag, to_value};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    ChargeSucceeded,
    ChargeReversed,
    RefundSucceeded,
    RefundFailed,
    RechargeSucceeded,
    /// A test delivery a merchant asked for; goes to one endpoint only.
    WebhookTest,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::ChargeSucceeded => "charge.succeeded",
            EventType::ChargeReversed => "charge.reversed",
            EventType::RefundSucceeded => "refund.succeeded",
            EventType::RefundFailed => "refund.failed",
            EventType::RechargeSucceeded => "recharge.succeeded",
            EventType::WebhookTest => super::webhook::TEST_EVENT_TYPE,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: String,
    pub account_id: String,
    pub app_id: String,
    pub livemode: bool,
    pub created: i64,
    pub kind: String,
    pub object: Value,
    pub pending_webhooks: i64,
    pub request_id: Option<String>,
}

impl Event {
    pub fn to_wire(&self) -> Value {
        to_value(EventObject {
            id: self.id.clone(),
            object: EventTag::Tag,
            created: self.created,
            livemode: self.livemode,
            kind: self.kind.clone(),
            data: EventData {
                object: self.object.clone(),
            },
            pending_webhooks: self.pending_webhooks,
            request: self.request_id.clone(),
        })
    }
}
