//! Balance top-ups: a charge whose payment credits an app user's balance.

use super::wire::{
    BalanceBonus, BalanceBonusTag, List, RechargeObject, RechargeTag, UserObject, UserTag, to_value,
};
use serde_json::{Map, Value};

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
        let refunds_url = format!("/v1/apps/{}/recharges/{}/refunds", self.app_id, self.id);
        to_value(RechargeObject {
            id: self.id.clone(),
            object: RechargeTag::Tag,
            app: self.app_id.clone(),
            created: self.created,
            livemode: self.livemode,
            amount: self.amount,
            succeeded: self.succeeded,
            time_succeeded: self.time_succeeded,
            refunded: self.refunded,
            user: self.user_id.clone(),
            from_user: self
                .from_user
                .clone()
                .unwrap_or_else(|| self.user_id.clone()),
            user_fee: self.user_fee,
            charge,
            balance_bonus: (self.balance_bonus > 0).then_some(BalanceBonus {
                object: BalanceBonusTag::Tag,
                amount: self.balance_bonus,
            }),
            refunds: List::new(refunds_url, false, refunds),
            balance_transaction: None,
            description: self.description.clone(),
            metadata: self.metadata.clone(),
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
        to_value(UserObject {
            id: self.user_id.clone(),
            object: UserTag::Tag,
            app: self.app_id.clone(),
            livemode: self.livemode,
            available_balance: self.balance,
            withdrawable_balance: self.balance,
            disabled: false,
            created: self.created,
            metadata: Map::new(),
        })
    }
}
