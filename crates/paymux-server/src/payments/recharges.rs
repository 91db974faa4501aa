//! Balance top-ups: the recharge's charge, once paid, credits the user's balance;
//! a recharge refund debits the balance and refunds the charge, in one transaction.

use super::charges::{NewCharge, ensure_app, order_no_used, reload, settle_payment};
use super::{Cause, record_event, render_recharge};
use crate::domain::Caller;
use crate::domain::channel::Flow;
use crate::domain::charge::Carrier;
use crate::domain::event::EventType;
use crate::domain::recharge::Recharge;
use crate::error::{ApiError, ApiResult};
use crate::payments::refunds::{self, NewRefund};
use crate::state::AppState;
use crate::store;
use crate::{ids, payments};
use serde_json::{Map, Value};
use sqlx::AnyConnection;

#[derive(Debug, Clone)]
pub struct NewRecharge {
    pub user: String,
    pub from_user: Option<String>,
    pub charge: NewCharge,
    pub user_fee: i64,
    pub balance_bonus: i64,
    pub description: Option<String>,
    pub metadata: Map<String, Value>,
}

pub async fn create(
    state: &AppState,
    caller: Caller,
    new: NewRecharge,
    base_url: String,
) -> ApiResult<Value> {
    if new.user_fee > new.charge.amount {
        return Err(ApiError::invalid_param(
            "user_fee",
            format!(
                "Parameter user_fee ({}) cannot exceed charge[amount] ({}).",
                new.user_fee, new.charge.amount
            ),
        ));
    }
    // Live (or test mode routed to a channel): the channel is settled before anything is
    // written, and called once the recharge and its charge are.
    let route =
        if caller.livemode || payments::live::routed_in_test_mode(state, &new.charge).await? {
            Some(
                payments::live::Route::to(state, &caller, &new.charge, &base_url)
                    .await
                    .map_err(|e| e.nested_in("charge"))?,
            )
        } else {
            None
        };
    let carrier = route
        .as_ref()
        .map_or(Carrier::Simulated, |r| Carrier::Provider(r.provider));
    let now = state.clock.now_secs();
    let simulated_scan = route.is_none() && new.charge.channel.flow() == Flow::Scan;
    let writer = caller.clone();
    let (recharge_id, charge) = state
        .db
        .write(move |conn| {
            Box::pin(async move {
                let caller = writer;
                let app_id = new.charge.app_id.clone();
                let recharge_id = ids::recharge();
                let mut charge = new
                    .charge
                    .into_charge(&caller, carrier, now, &base_url)
                    .map_err(|e| e.nested_in("charge"))?;
                charge.recharge_id = Some(recharge_id.clone());
                if !store::charges::insert_new(conn, &charge).await? {
                    ensure_app(conn, &caller, &app_id).await?;
                    let existing = store::charges::find_by_order_no(
                        conn,
                        &charge.app_id,
                        charge.livemode,
                        &charge.order_no,
                    )
                    .await?
                    .ok_or_else(ApiError::internal)?;
                    return Err(order_no_used(&existing).nested_in("charge"));
                }
                store::recharges::ensure_user(conn, &app_id, caller.livemode, &new.user, now)
                    .await?;
                let recharge = Recharge {
                    id: recharge_id.clone(),
                    app_id: app_id.clone(),
                    livemode: caller.livemode,
                    created: now,
                    user_id: new.user,
                    from_user: new.from_user,
                    amount: charge.amount + new.balance_bonus - new.user_fee,
                    user_fee: new.user_fee,
                    balance_bonus: new.balance_bonus,
                    charge_id: charge.id.clone(),
                    succeeded: false,
                    time_succeeded: None,
                    refunded: false,
                    description: new.description,
                    metadata: new.metadata,
                };
                store::recharges::insert(conn, &recharge).await?;
                let charge = if simulated_scan {
                    settle_payment(conn, &caller, charge, now).await?
                } else {
                    charge
                };
                Ok((recharge_id, charge))
            })
        })
        .await?;
    match route {
        // The channel's refusal is the answer; the recharge stays, unpaid, as its charge.
        Some(route) => {
            route.start(state, &caller, charge).await?;
        }
        // The payment recorded events (and no job): only the dispatcher has work.
        None if simulated_scan => state.webhooks_wake.notify_one(),
        None => {}
    }
    let mut conn = state.db.reader().acquire().await?;
    let recharge = store::recharges::get_by_id(&mut conn, &recharge_id)
        .await?
        .ok_or_else(ApiError::internal)?;
    render_recharge(&mut conn, &recharge).await
}

/// The recharge's charge was paid: credit the balance and record `recharge.succeeded`.
pub async fn credit(
    conn: &mut AnyConnection,
    cause: &Cause<'_>,
    recharge_id: &str,
    now: i64,
) -> ApiResult<()> {
    let recharge = store::recharges::get_by_id(conn, recharge_id)
        .await?
        .ok_or_else(ApiError::internal)?;
    if !store::recharges::mark_succeeded(conn, recharge_id, now).await? {
        return Ok(());
    }
    store::recharges::ensure_user(
        conn,
        &recharge.app_id,
        recharge.livemode,
        &recharge.user_id,
        now,
    )
    .await?;
    if !store::recharges::adjust_balance(
        conn,
        &recharge.app_id,
        recharge.livemode,
        &recharge.user_id,
        recharge.amount,
    )
    .await?
    {
        return Err(ApiError::internal());
    }
    let recharge = store::recharges::get_by_id(conn, recharge_id)
        .await?
        .ok_or_else(ApiError::internal)?;
    let object = render_recharge(conn, &recharge).await?;
    record_event(conn, cause, EventType::RechargeSucceeded, object, now).await?;
    Ok(())
}

pub async fn refund(
    state: &AppState,
    caller: Caller,
    app_id: String,
    recharge_id: String,
    new: NewRefund,
) -> ApiResult<Value> {
    let now = state.clock.now_secs();
    let follow_up = {
        let mut conn = state.db.reader().acquire().await?;
        ensure_app(&mut conn, &caller, &app_id).await?;
        let recharge = store::recharges::get(&mut conn, &app_id, caller.livemode, &recharge_id)
            .await?
            .ok_or_else(|| ApiError::not_found("recharge", &recharge_id))?;
        let charge = reload(&mut conn, &recharge.charge_id).await?;
        drop(conn);
        if payments::live::uses_channel(state, &charge).await? {
            refunds::FollowUp::Channel
        } else {
            refunds::FollowUp::SucceedAt(state.clock.now_ms() + state.settings.test_refund_delay_ms)
        }
    };
    let value = state
        .db
        .write(move |conn| {
            Box::pin(async move {
                ensure_app(conn, &caller, &app_id).await?;
                let recharge = store::recharges::get(conn, &app_id, caller.livemode, &recharge_id)
                    .await?
                    .ok_or_else(|| ApiError::not_found("recharge", &recharge_id))?;
                if !recharge.succeeded {
                    return Err(ApiError::invalid(format!(
                        "Recharge {} is not paid yet; there is nothing to refund.",
                        recharge.id
                    )));
                }
                // Claimed before the balance is touched: of concurrent refunds (several nodes
                // on PostgreSQL) exactly one wins, and the others hear why they lost.
                if recharge.refunded || !store::recharges::mark_refunded(conn, &recharge.id).await?
                {
                    return Err(ApiError::invalid(format!(
                        "Recharge {} is already refunded. 可退金额为 0 (refundable amount is 0).",
                        recharge.id
                    )));
                }
                let debited = store::recharges::adjust_balance(
                    conn,
                    &app_id,
                    caller.livemode,
                    &recharge.user_id,
                    -recharge.amount,
                )
                .await?;
                if !debited {
                    let balance = store::recharges::get_user(
                        conn,
                        &app_id,
                        caller.livemode,
                        &recharge.user_id,
                    )
                    .await?
                    .map_or(0, |u| u.balance);
                    return Err(ApiError::invalid(format!(
                        "User {}'s balance {balance} is less than the {} this recharge credited; \
                         the recharge cannot be refunded.",
                        recharge.user_id, recharge.amount
                    ))
                    .with_code("balance_insufficient"));
                }
                let charge = reload(conn, &recharge.charge_id).await?;
                let refund = refunds::open(
                    conn,
                    Some(&caller.request_id),
                    &charge,
                    NewRefund {
                        amount: None,
                        ..new
                    },
                    Some(&recharge.id),
                    now,
                    follow_up,
                )
                .await?;
                Ok(refund.to_wire())
            })
        })
        .await?;
    state.wake_workers();
    Ok(value)
}

/// The channel failed a recharge's refund: the balance it debited comes back, and the
/// recharge may be refunded again.
pub async fn restore_after_failed_refund(
    conn: &mut AnyConnection,
    recharge_id: &str,
) -> ApiResult<()> {
    let recharge = store::recharges::get_by_id(conn, recharge_id)
        .await?
        .ok_or_else(ApiError::internal)?;
    if store::recharges::unmark_refunded(conn, recharge_id).await? {
        store::recharges::adjust_balance(
            conn,
            &recharge.app_id,
            recharge.livemode,
            &recharge.user_id,
            recharge.amount,
        )
        .await?;
    }
    Ok(())
}

/// Reads a recharge's refund, checking it belongs to that recharge.
pub async fn retrieve_refund(
    state: &AppState,
    caller: &Caller,
    app_id: &str,
    recharge_id: &str,
    refund_id: &str,
) -> ApiResult<Value> {
    let mut conn = state.db.reader().acquire().await?;
    ensure_app(&mut conn, caller, app_id).await?;
    store::recharges::get(&mut conn, app_id, caller.livemode, recharge_id)
        .await?
        .ok_or_else(|| ApiError::not_found("recharge", recharge_id))?;
    let refund = store::refunds::get_by_id(&mut conn, refund_id)
        .await?
        .filter(|r| r.recharge_id.as_deref() == Some(recharge_id))
        .ok_or_else(|| ApiError::not_found("refund", refund_id))?;
    Ok(refund.to_wire())
}
