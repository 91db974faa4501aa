//! The Refund: pending until the channel confirms, then succeeded (or failed).

use serde_json::{Map, Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundStatus {
    Pending,
    Succeeded,
    Failed,
}

impl RefundStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundStatus::Pending => "pending",
            RefundStatus::Succeeded => "succeeded",
            RefundStatus::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Pending, Self::Succeeded, Self::Failed]
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
        let mut wire = json!({
            "id": self.id,
            "object": "refund",
            "order_no": self.order_no(),
            "amount": self.amount,
            "created": self.created,
            "succeed": self.status == RefundStatus::Succeeded,
            "status": self.status.as_str(),
            "time_succeed": self.time_succeed,
            "description": self.description,
            "failure_code": self.failure_code,
            "failure_msg": self.failure_msg,
            "metadata": self.metadata,
            "charge": self.charge_id,
            "charge_order_no": self.charge_order_no,
            "transaction_no": self.transaction_no,
            "extra": {},
            "currency": self.currency,
        });
        // Ping++ echoes funding_source only when the request carried it.
        if let (Some(source), Value::Object(map)) = (&self.funding_source, &mut wire) {
            map.insert("funding_source".into(), Value::String(source.clone()));
        }
        wire
    }
}
