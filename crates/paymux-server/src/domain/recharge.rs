//! Balance top-ups: a charge whose payment credits an app user's balance.

use serde_json::{Map, Value, json};

#[derive(Debug, Clone, PartialEq)]
pub struct Recharge {
    pub id: String,
    pub app_id: String,
    pub livemode: bool,
    pub created: i64,
    pub user_id: String,
    pub from_user: Option<String>,
    /// What the user's balance gains: charge amount + bonus − fee.
    pub amount: i64,
    pub user_fee: i64,
    pub balance_bonus: i64,
    pub charge_id: String,
    pub succeeded: bool,
    pub time_succeeded: Option<i64>,
    pub refunded: bool,
    pub description: Option<String>,
    pub metadata: Map<String, Value>,
}

impl Recharge {
    /// `charge` is the embedded charge's wire object, `refunds` the recharge's refunds.
    pub fn to_wire(&self, charge: Value, refunds: Vec<Value>) -> Value {
        let bonus = if self.balance_bonus > 0 {
            json!({ "object": "balance_bonus", "amount": self.balance_bonus })
        } else {
            Value::Null
        };
        json!({
            "id": self.id,
            "object": "recharge",
            "app": self.app_id,
            "created": self.created,
            "livemode": self.livemode,
            "amount": self.amount,
            "succeeded": self.succeeded,
            "time_succeeded": self.time_succeeded,
            "refunded": self.refunded,
            "user": self.user_id,
            "from_user": self.from_user.as_deref().unwrap_or(&self.user_id),
            "user_fee": self.user_fee,
            "charge": charge,
            "balance_bonus": bonus,
            "refunds": super::list::list(
                &format!("/v1/apps/{}/recharges/{}/refunds", self.app_id, self.id),
                false,
                refunds,
            ),
            "balance_transaction": null,
            "description": self.description,
            "metadata": self.metadata,
        })
    }
}

/// An app user and their balance in fen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppUser {
    pub app_id: String,
    pub user_id: String,
    pub livemode: bool,
    pub created: i64,
    pub balance: i64,
}

impl AppUser {
    pub fn to_wire(&self) -> Value {
        json!({
            "id": self.user_id,
            "object": "user",
            "app": self.app_id,
            "livemode": self.livemode,
            "available_balance": self.balance,
            "withdrawable_balance": self.balance,
            "disabled": false,
            "created": self.created,
            "metadata": {},
        })
    }
}
