//! Creating, paying and reversing charges. Every charge takes the same path whatever carries
//! it: routed to its provider (`providers::Route`), written, started at the provider, settled by
//! what the provider reports.

use super::providers::{self, Route};
use super::{Cause, record_event, render_charge};
use crate::domain::Caller;
use crate::domain::channel::Channel;
use crate::domain::charge::{Carrier, Charge, NotPayable};
use crate::domain::event::EventType;
use crate::error::{GatewayError, GatewayResult};
use crate::state::AppState;
use crate::store;
use crate::{ids, payments};
use futures_util::future::BoxFuture;
use serde_json::{Map, Value};
use sqlx::AnyConnection;

/// A validated create-charge request.
#[derive(Debug, Clone)]
pub struct NewCharge {
    pub app_id: String,
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
    pub time_expire: Option<i64>,
}

impl NewCharge {
    pub(crate) fn into_charge(
        self,
        caller: &Caller,
        carrier: Carrier,
        now: i64,
    ) -> GatewayResult<Charge> {
        let (default_ttl, max_ttl) = self.channel.expiry_secs();
        let min_ttl = self.channel.min_expiry_secs();
        let time_expire = match self.time_expire {
            None => now + default_ttl,
            Some(t) if t >= now + min_ttl && t <= now + max_ttl => t,
            Some(t) if t > now && min_ttl > 1 && t < now + min_ttl => {
                return Err(GatewayError::invalid_param(
                    "time_expire",
                    format!(
                        "Parameter time_expire must be at least {min_ttl} seconds ahead for channel {}: the channel refuses orders that expire sooner.",
                        self.channel.as_str()
                    ),
                ));
            }
            Some(_) => {
                return Err(GatewayError::invalid_param(
                    "time_expire",
                    format!(
                        "Parameter time_expire must be a Unix timestamp after now and at most {} seconds ahead for channel {}.",
                        max_ttl,
                        self.channel.as_str()
                    ),
                ));
            }
        };
        // A QR the channel closes sooner ends the charge then (the answer's `time_expire` says so).
        let time_expire = match self.channel.qr_life_secs() {
            Some(life) => time_expire.min(now + life),
            None => time_expire,
        };
        Ok(Charge {
            id: ids::charge(),
            account_id: caller.account_id.clone(),
            app_id: self.app_id,
            livemode: caller.livemode,
            created: now,
            channel: self.channel,
            order_no: self.order_no,
            client_ip: self.client_ip,
            amount: self.amount,
            currency: self.currency,
            subject: self.subject,
            body: self.body,
            description: self.description,
            extra: self.extra,
            metadata: self.metadata,
            // Filled in by the provider's answer.
            credential: Map::new(),
            time_expire,
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
            carrier: Some(carrier),
        })
    }
}

pub async fn create(
    state: &AppState,
    caller: Caller,
    new: NewCharge,
    base_url: String,
) -> GatewayResult<Value> {
    let route = Route::for_new(state, &caller, &new, &base_url).await?;
    let (channel, livemode) = (new.channel, caller.livemode);
    let now = state.clock.now_secs();
    let charge = new.into_charge(&caller, route.carrier, now)?;
    let request_id = caller.request_id.clone();
    let created = route
        .open(state, &request_id, charge, Insert::Charge { caller, now })
        .await?;
    crate::metrics::charge_created(channel.as_str(), livemode);
    Ok(created)
}

/// What inserting a new charge came to.
pub enum Inserted {
    New(Box<Charge>),
    /// The same create repeated within the channel's window: the first charge, rendered.
    Existing(Value),
}

/// How a new charge is written.
pub enum Insert {
    /// A charge alone: [`insert`], or in a write of its own [`insert_shared`].
    Charge { caller: Caller, now: i64 },
    /// The charge and more (a recharge with its charge).
    With(InsertWork),
}

/// Writes a new charge and what goes with it, in the caller's write.
pub type InsertWork = Box<
    dyn for<'c> FnOnce(&'c mut AnyConnection, Charge) -> BoxFuture<'c, GatewayResult<Inserted>>
        + Send,
>;

impl Insert {
    /// Writes the charge in a write of its own.
    pub async fn alone(self, state: &AppState, charge: Charge) -> GatewayResult<Inserted> {
        match self {
            Insert::Charge { caller, now } => insert_shared(state, &caller, charge, now).await,
            Insert::With(work) => state.db.write(move |conn| work(conn, charge)).await,
        }
    }

    /// Writes the charge within a write that records more.
    pub async fn within(self, conn: &mut AnyConnection, charge: Charge) -> GatewayResult<Inserted> {
        match self {
            Insert::Charge { caller, now } => insert(conn, &caller, charge, now).await,
            Insert::With(work) => work(conn, charge).await,
        }
    }
}

/// Inserts a new charge, unless its order_no is taken: then the first charge comes back for a
/// repeated create, and anything else is refused (unknown app, order_no used).
pub async fn insert(
    conn: &mut AnyConnection,
    caller: &Caller,
    charge: Charge,
    now: i64,
) -> GatewayResult<Inserted> {
    if store::charges::insert_new(conn, &charge).await? {
        return Ok(Inserted::New(Box::new(charge)));
    }
    not_inserted(conn, caller, &charge, now)
        .await
        .map(Inserted::Existing)
}

/// [`insert`] in a statement shared with the other new charges written at the same time, the
/// busiest write there is (see `store::new_charges`). What a charge that did not go in found
/// in its way is read once that statement is durable.
pub async fn insert_shared(
    state: &AppState,
    caller: &Caller,
    charge: Charge,
    now: i64,
) -> GatewayResult<Inserted> {
    let (charge, inserted) = state.db.insert_charge(Box::new(charge)).await?;
    if inserted {
        return Ok(Inserted::New(charge));
    }
    let mut conn = state.db.reader().acquire().await?;
    not_inserted(&mut conn, caller, &charge, now)
        .await
        .map(Inserted::Existing)
}

/// A new charge did not go in: its app is not the caller's (refused, 404), or its order_no is
/// taken (the first charge for a repeated create, refused otherwise).
async fn not_inserted(
    conn: &mut AnyConnection,
    caller: &Caller,
    charge: &Charge,
    now: i64,
) -> GatewayResult<Value> {
    check_app_ownership(conn, caller, &charge.app_id).await?;
    let existing =
        store::charges::find_by_order_no(conn, &charge.app_id, charge.livemode, &charge.order_no)
            .await?
            .ok_or_else(GatewayError::internal)?;
    duplicate(conn, charge, &existing, now).await
}

/// A create whose order_no this app already used: Ping++ returns the first charge when the
/// 6-tuple (app, order_no, channel, amount, subject, body) repeats within the channel's window.
async fn duplicate(
    conn: &mut AnyConnection,
    new: &Charge,
    existing: &Charge,
    now: i64,
) -> GatewayResult<Value> {
    let same = existing.channel == new.channel
        && existing.amount == new.amount
        && existing.subject == new.subject
        && existing.body == new.body;
    let window = new.channel.dedup_window_secs();
    if same && existing.recharge_id.is_none() && now - existing.created <= window {
        return render_charge(conn, existing).await;
    }
    Err(order_no_used(existing))
}

/// The order_no of `existing` is taken: the answer names what took it, so the merchant can
/// look that up instead of guessing.
pub fn order_no_used(existing: &Charge) -> GatewayError {
    let order_no = &existing.order_no;
    let by = match &existing.recharge_id {
        Some(recharge) => format!("recharge {recharge}"),
        None => format!("charge {}", existing.id),
    };
    GatewayError::invalid_param(
        "order_no",
        format!(
            "订单号 {order_no} 已被使用 (order_no {order_no} has already been used by this app, by {by})."
        ),
    )
    .with_code("charge_order_no_used")
}

/// Refuses (404) an app that is not the caller's.
pub async fn check_app_ownership(
    conn: &mut AnyConnection,
    caller: &Caller,
    app_id: &str,
) -> GatewayResult<()> {
    if store::accounts::app_belongs_to(conn, app_id, &caller.account_id).await? {
        Ok(())
    } else {
        Err(GatewayError::not_found("app", app_id).with_param("app"))
    }
}

/// What a channel reports of a payment it took.
#[derive(Debug, Clone)]
pub struct ChannelPayment {
    pub transaction_no: String,
    pub time_paid: i64,
}

/// Marks a charge paid and records what follows from it: `charge.succeeded`, and for a
/// recharge's charge the balance credit and `recharge.succeeded`. The charge must still be
/// unpaid, not reversed and not failed: the money arrived, whatever its expiry said. A payment
/// already recorded is not recorded again: a provider's answer and its notification race each
/// other, and on PostgreSQL the loser may read the charge unpaid and then find it paid when it
/// writes.
pub async fn record_payment(
    conn: &mut AnyConnection,
    request_id: Option<&str>,
    charge: Charge,
    paid: &ChannelPayment,
    now: i64,
) -> GatewayResult<Charge> {
    let marked =
        store::charges::mark_paid(conn, &charge.id, paid.time_paid, &paid.transaction_no).await?;
    let Some(charge) = marked else {
        let current = reload(conn, &charge.id).await?;
        if current.paid {
            return Ok(current);
        }
        return Err(GatewayError::invalid(format!(
            "Charge {} can no longer be paid.",
            charge.id
        )));
    };
    let cause = Cause {
        account_id: &charge.account_id,
        app_id: &charge.app_id,
        livemode: charge.livemode,
        request_id,
    };
    let object = render_charge(conn, &charge).await?;
    record_event(conn, &cause, EventType::ChargeSucceeded, object, now).await?;
    if let Some(recharge_id) = &charge.recharge_id {
        payments::recharges::credit(conn, &cause, recharge_id, now).await?;
    }
    Ok(charge)
}

pub async fn reload(conn: &mut AnyConnection, id: &str) -> GatewayResult<Charge> {
    store::charges::get_any(conn, id)
        .await?
        .ok_or_else(GatewayError::internal)
}

fn not_payable(charge: &Charge, reason: NotPayable) -> GatewayError {
    let id = &charge.id;
    let message = match reason {
        NotPayable::AlreadyPaid => format!("Charge {id} is already paid."),
        NotPayable::Reversed => {
            format!("Charge {id} has been reversed (closed) and cannot be paid.")
        }
        NotPayable::Failed => format!("Charge {id} has failed and cannot be paid."),
        NotPayable::Expired => format!(
            "Charge {id} expired at {} and cannot be paid.",
            charge.time_expire
        ),
    };
    GatewayError::invalid(message)
}

/// What the test-mode payment helper asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayResult {
    Success,
    Fail,
}

/// What the simulated provider's payer did (on the payment page, or through the test helper),
/// applied as a channel's notification would be. A charge a channel (or its simulator) carries
/// is paid there, not here.
pub async fn test_pay(
    state: &AppState,
    caller: Caller,
    charge_id: String,
    result: PayResult,
) -> GatewayResult<Value> {
    if caller.livemode {
        return Err(GatewayError::invalid(
            "Test helpers only work with a test-mode key (sk_test_…); live charges are paid by their channel.",
        ));
    }
    let now = state.clock.now_secs();
    let value = state
        .db
        .write(move |conn| {
            Box::pin(async move {
                let charge = store::charges::get(conn, &caller.account_id, false, &charge_id)
                    .await?
                    .ok_or_else(|| GatewayError::not_found("charge", &charge_id))?;
                if let Some(Carrier::Provider(provider)) = charge.carrier {
                    return Err(GatewayError::invalid(format!(
                        "Charge {} is carried by {}, as this app configured for test mode; it is \
                         paid at that channel (or its simulator), not by this helper.",
                        charge.id,
                        provider.as_str()
                    )));
                }
                if let Err(reason) = charge.payable_at(now) {
                    return Err(not_payable(&charge, reason));
                }
                let charge = match result {
                    PayResult::Success => {
                        let paid = ChannelPayment {
                            transaction_no: ids::transaction_no(),
                            time_paid: now,
                        };
                        record_payment(conn, Some(&caller.request_id), charge, &paid, now).await?
                    }
                    PayResult::Fail => fail_payment(conn, charge).await?,
                };
                let outcome = match result {
                    PayResult::Success => "paid",
                    PayResult::Fail => "failed",
                };
                let detail = serde_json::json!({ "result": outcome });
                crate::operators::attribute(
                    conn,
                    &caller,
                    now * 1000,
                    "charge.test_pay",
                    &charge.id,
                    crate::operators::detail(detail),
                )
                .await?;
                render_charge(conn, &charge).await
            })
        })
        .await?;
    state.webhooks_wake.notify_one();
    Ok(value)
}

async fn fail_payment(conn: &mut AnyConnection, charge: Charge) -> GatewayResult<Charge> {
    store::charges::mark_failed(
        conn,
        &charge.id,
        "payment_failed",
        "支付失败 (the payer's payment failed at the channel).",
    )
    .await?;
    reload(conn, &charge.id).await
}

/// 撤销: closes an unpaid charge, or reverses a paid one with a full refund. An unpaid charge
/// is undone at its provider first, and changes here only once the provider confirmed; the
/// refund goes through the provider like any other.
pub async fn reverse(state: &AppState, caller: Caller, charge_id: String) -> GatewayResult<Value> {
    let charge = {
        let mut conn = state.db.reader().acquire().await?;
        store::charges::get(&mut conn, &caller.account_id, caller.livemode, &charge_id)
            .await?
            .ok_or_else(|| GatewayError::not_found("charge", &charge_id))?
    };
    check_reversible(&charge)?;
    if !charge.paid && !charge.reversed {
        providers::undo_at_channel(state, &charge).await?;
    }
    let refund_due_ms = providers::refund_due_ms(state, &charge).await?;
    let now = state.clock.now_secs();
    let value = state
        .db
        .write(move |conn| {
            Box::pin(async move {
                let charge =
                    store::charges::get(conn, &caller.account_id, caller.livemode, &charge_id)
                        .await?
                        .ok_or_else(|| GatewayError::not_found("charge", &charge_id))?;
                if charge.reversed {
                    return render_charge(conn, &charge).await;
                }
                let refundable = charge.refundable();
                if refundable > 0 {
                    let refund = payments::refunds::NewRefund {
                        amount: Some(refundable),
                        description: "撤销 (reverse)".into(),
                        metadata: Map::new(),
                        funding_source: None,
                    };
                    let request = Some(caller.request_id.as_str());
                    payments::refunds::open(
                        conn,
                        request,
                        &charge,
                        refund,
                        None,
                        now,
                        refund_due_ms,
                    )
                    .await?;
                }
                crate::operators::attribute(
                    conn,
                    &caller,
                    now * 1000,
                    "charge.reverse",
                    &charge.id,
                    Map::new(),
                )
                .await?;
                let cause = Cause::of(&caller, &charge.app_id);
                record_reversal(conn, &cause, &charge.id, now).await
            })
        })
        .await?;
    state.wake_workers();
    Ok(value)
}

/// Seed 004's rule, and recharges keep their balance in step through their own refunds.
fn check_reversible(charge: &Charge) -> GatewayResult<()> {
    if !charge.channel.reversible() {
        return Err(GatewayError::invalid(format!(
            "Charge {} is on channel {}, which cannot be reversed; reverse takes the scan \
             channels and isv_qr/isv_wap. Use a refund for a paid charge.",
            charge.id,
            charge.channel.as_str()
        )));
    }
    if charge.recharge_id.is_some() {
        return Err(GatewayError::invalid(format!(
            "Charge {} pays a recharge; refund it through the recharge refunds API.",
            charge.id
        )));
    }
    Ok(())
}

/// Marks a charge reversed and records `charge.reversed`; returns the charge's wire object.
pub async fn record_reversal(
    conn: &mut AnyConnection,
    cause: &Cause<'_>,
    charge_id: &str,
    now: i64,
) -> GatewayResult<Value> {
    store::charges::mark_reversed(conn, charge_id).await?;
    let charge = reload(conn, charge_id).await?;
    let object = render_charge(conn, &charge).await?;
    record_event(conn, cause, EventType::ChargeReversed, object.clone(), now).await?;
    Ok(object)
}
