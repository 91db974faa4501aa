//! The Charge: its stored form, the state rules that money depends on, and its wire shape.

use super::channel::Channel;
use super::wire::{ChargeObject, ChargeTag, List, to_value};
use crate::channels::Provider;
use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq)]
pub struct Charge {
    pub id: String,
    pub account_id: String,
    pub app_id: String,
    pub livemode: bool,
    pub created: i64,
    pub channel: Channel,
    pub order_no: String,
    pub client_ip: String,
    pub amount: i64,
    pub currency: String,
    pub subject: String,
    pub body: String,
    pub description: Option<String>,
    pub extra: Map<String, Value>,
    pub metadata: Map<String, Value>,
    /// The credential as issued; shown only while the charge can still be paid.
    pub credential: Map<String, Value>,
    pub time_expire: i64,
    pub paid: bool,
    pub time_paid: Option<i64>,
    pub transaction_no: Option<String>,
    pub reversed: bool,
    pub failure_code: Option<String>,
    pub failure_msg: Option<String>,
    /// Sum of succeeded refunds.
    pub amount_refunded: i64,
    /// Sum of refunds not failed (pending + succeeded): what is no longer refundable.
    pub amount_refund_reserved: i64,
    /// Whether any refund was ever created (Ping++'s `refunded`).
    pub refunded: bool,
    pub recharge_id: Option<String>,
    /// Who carries it, recorded when it was created; `None` for charges created before that
    /// was recorded.
    pub carrier: Option<Carrier>,
}

/// Who carries a charge: the gateway's own simulation of a channel (test mode without a
/// configured provider), or a payment provider. Decided once, when the charge is created, and
/// kept with it: its refunds, reverse, queries and notifications follow it, never whatever the
/// app has configured since.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carrier {
    Simulated,
    Provider(Provider),
}

impl Carrier {
    pub fn as_str(self) -> &'static str {
        match self {
            Carrier::Simulated => "simulated",
            Carrier::Provider(provider) => provider.as_str(),
        }
    }

    pub fn parse(text: &str) -> Option<Carrier> {
        match text {
            "simulated" => Some(Carrier::Simulated),
            other => Provider::parse(other).map(Carrier::Provider),
        }
    }
}

/// Why a charge cannot be paid now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotPayable {
    AlreadyPaid,
    Reversed,
    Failed,
    Expired,
}

impl Charge {
    pub fn payable_at(&self, now: i64) -> Result<(), NotPayable> {
        if self.paid {
            Err(NotPayable::AlreadyPaid)
        } else if self.reversed {
            Err(NotPayable::Reversed)
        } else if self.failure_code.is_some() {
            Err(NotPayable::Failed)
        } else if now > self.time_expire {
            Err(NotPayable::Expired)
        } else {
            Ok(())
        }
    }

    /// What a new refund may still take.
    pub fn refundable(&self) -> i64 {
        if self.paid {
            self.amount - self.amount_refund_reserved
        } else {
            0
        }
    }

    pub fn amount_settle(&self) -> i64 {
        if self.paid { self.amount } else { 0 }
    }

    pub fn refunds_url(&self) -> String {
        format!("/v1/charges/{}/refunds", self.id)
    }

    /// The wire object. `refunds` are the newest refunds (at most one page), `more` whether older
    /// ones exist beyond them.
    pub fn to_wire(&self, refunds: Vec<Value>, more: bool) -> Value {
        // Once paid, closed or failed, the credential is spent: Ping++ shows `{}` then.
        let spent = Map::new();
        let credential = if self.payable_at(i64::MIN).is_ok() {
            &self.credential
        } else {
            &spent
        };
        to_value(ChargeObject {
            id: &self.id,
            object: ChargeTag::Tag,
            created: self.created,
            livemode: self.livemode,
            paid: self.paid,
            refunded: self.refunded,
            reversed: self.reversed,
            app: &self.app_id,
            channel: self.channel.as_str(),
            order_no: &self.order_no,
            client_ip: &self.client_ip,
            amount: self.amount,
            amount_settle: self.amount_settle(),
            currency: &self.currency,
            subject: &self.subject,
            body: &self.body,
            extra: &self.extra,
            time_paid: self.time_paid,
            time_expire: self.time_expire,
            time_settle: None,
            transaction_no: self.transaction_no.as_deref(),
            refunds: List::new(self.refunds_url(), more, refunds),
            amount_refunded: self.amount_refunded,
            failure_code: self.failure_code.as_deref(),
            failure_msg: self.failure_msg.as_deref(),
            metadata: &self.metadata,
            credential,
            description: self.description.as_deref(),
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    pub fn sample() -> Charge {
        Charge {
            id: "ch_a".into(),
            account_id: "acct_a".into(),
            app_id: "app_a".into(),
            livemode: false,
            created: 100,
            channel: Channel::AlipayQr,
            order_no: "12345678".into(),
            client_ip: "127.0.0.1".into(),
            amount: 1000,
            currency: "cny".into(),
            subject: "s".into(),
            body: "b".into(),
            description: None,
            extra: Map::new(),
            metadata: Map::new(),
            credential: Map::new(),
            time_expire: 200,
            paid: false,
            time_paid: None,
            transaction_no: None,
            reversed: false,
            failure_code: None,
            failure_msg: None,
            amount_refunded: 0,
            amount_refund_reserved: 0,
            refunded: false,
            recharge_id: None,
            carrier: None,
        }
    }

    #[test]
    fn payability_rules() {
        let mut charge = sample();
        assert_eq!(charge.payable_at(150), Ok(()));
        assert_eq!(charge.payable_at(201), Err(NotPayable::Expired));
        charge.reversed = true;
        assert_eq!(charge.payable_at(150), Err(NotPayable::Reversed));
        charge.reversed = false;
        charge.paid = true;
        assert_eq!(charge.payable_at(150), Err(NotPayable::AlreadyPaid));
    }

    #[test]
    fn refundable_counts_pending_refunds() {
        let mut charge = sample();
        assert_eq!(charge.refundable(), 0, "unpaid charges refund nothing");
        charge.paid = true;
        charge.amount_refund_reserved = 300;
        charge.amount_refunded = 100;
        assert_eq!(charge.refundable(), 700);
    }

    #[test]
    fn wire_shape_uses_empty_objects_and_integer_fields() {
        let wire = sample().to_wire(vec![], false);
        assert_eq!(wire["metadata"], json!({}));
        assert_eq!(wire["refunds"]["url"], "/v1/charges/ch_a/refunds");
        assert_eq!(wire["amount"], 1000);
        assert!(wire["time_paid"].is_null());
    }
}
