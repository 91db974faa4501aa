//! Balance top-ups: the recharge's charge, once paid, credits the user's balance;
//! a recharge refund debits the balance and refunds the charge, in one transaction.

use super::charges::{Insert, Inserted, NewCharge, check_app_ownership, order_no_used, reload};
use super::providers::{self, Route};
use super::{Cause, record_event, render_recharge};
use crate::domain::Caller;
use crate::domain::event::EventType;
use crate::domain::recharge::Recharge;
use crate::error::{GatewayError, GatewayResult};
use crate::ids;
use crate::payments::refunds::{self, NewRefund};
use crate::state::AppState;
use crate::store;
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
) -> GatewayResult<Value> {
    if new.user_fee > new.charge.amount {
        return Err(GatewayError::invalid_param(
            "user_fee",
            format!(
                "Parameter user_fee ({}) cannot exceed charge[amount] ({}).",
                new.user_fee, new.charge.amount
            ),
        ));
    }
    let route = Route::for_new(state, &caller, &new.charge, &base_url)
        .await
        .map_err(|e| e.nested_in("charge"))?;
    let now = state.clock.now_secs();
    let recharge_id = ids::recharge();
    let mut charge = new
        .charge
        .into_charge(&caller, route.carrier, now)
        .map_err(|e| e.nested_in("charge"))?;
    charge.recharge_id = Some(recharge_id.clone());
    let request_id = caller.request_id.clone();
    let (writer, id) = (caller.clone(), recharge_id.clone());
    // The provider's refusal is the answer; the recharge stays, unpaid, as its charge.
    route
        .open(
            state,
            &request_id,
            charge,
            Insert::With(Box::new(move |conn, charge| {
                Box::pin(async move {
                    let caller = writer;
                    if !store::charges::insert_new(conn, &charge).await? {
                        check_app_ownership(conn, &caller, &charge.app_id).await?;
                        let existing = store::charges::find_by_order_no(
                            conn,
                            &charge.app_id,
                            charge.livemode,
                            &charge.order_no,
                        )
                        .await?
                        .ok_or_else(GatewayError::internal)?;
                        return Err(order_no_used(&existing).nested_in("charge"));
                    }
                    store::recharges::ensure_user(
                        conn,
                        &charge.app_id,
                        caller.livemode,
                        &new.user,
                        now,
                    )
                    .await?;
                    let recharge = Recharge {
                        id,
                        app_id: charge.app_id.clone(),
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
                    Ok(Inserted::New(Box::new(charge)))
                })
            })),
        )
        .await?;
    let mut conn = state.db.reader().acquire().await?;
    let recharge = store::recharges::get_by_id(&mut conn, &recharge_id)
        .await?
        .ok_or_else(GatewayError::internal)?;
    render_recharge(&mut conn, &recharge).await
}

/// The recharge's charge was paid: credit the balance and record `recharge.succeeded`.
pub async fn credit(
    conn: &mut AnyConnection,
    cause: &Cause<'_>,
    recharge_id: &str,
    now: i64,
) -> GatewayResult<()> {
    let recharge = store::recharges::get_by_id(conn, recharge_id)
        .await?
        .ok_or_else(GatewayError::internal)?;
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
        return Err(GatewayError::internal().caused_by(format_args!(
            "recharge {recharge_id}'s credit could not be applied to user {}",
            recharge.user_id
        )));
    }
    let recharge = store::recharges::get_by_id(conn, recharge_id)
        .await?
        .ok_or_else(GatewayError::internal)?;
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
) -> GatewayResult<Value> {
    let now = state.clock.now_secs();
    let due_ms = {
        let mut conn = state.db.reader().acquire().await?;
        check_app_ownership(&mut conn, &caller, &app_id).await?;
        let recharge = store::recharges::get(&mut conn, &app_id, caller.livemode, &recharge_id)
            .await?
            .ok_or_else(|| GatewayError::not_found("recharge", &recharge_id))?;
        let charge = reload(&mut conn, &recharge.charge_id).await?;
        drop(conn);
        providers::refund_due_ms(state, &charge).await?
    };
    let value = state
        .db
        .write(move |conn| {
            Box::pin(async move {
                check_app_ownership(conn, &caller, &app_id).await?;
                let recharge = store::recharges::get(conn, &app_id, caller.livemode, &recharge_id)
                    .await?
                    .ok_or_else(|| GatewayError::not_found("recharge", &recharge_id))?;
                if !recharge.succeeded {
                    return Err(GatewayError::invalid(format!(
                        "Recharge {} is not paid yet; there is nothing to refund.",
                        recharge.id
                    )));
                }
                // Claimed before the balance is touched: of concurrent refunds (several nodes
                // on PostgreSQL) exactly one wins, and the others hear why they lost.
                if recharge.refunded || !store::recharges::mark_refunded(conn, &recharge.id).await?
                {
                    return Err(GatewayError::invalid(format!(
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
                    return Err(GatewayError::invalid(format!(
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
                    due_ms,
                )
                .await?;
                let detail = serde_json::json!({"refund": refund.id, "amount": refund.amount});
                crate::operators::attribute(
                    conn,
                    &caller,
                    now * 1000,
                    "recharge.refund",
                    &recharge.id,
                    crate::operators::detail(detail),
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
) -> GatewayResult<()> {
    let recharge = store::recharges::get_by_id(conn, recharge_id)
        .await?
        .ok_or_else(GatewayError::internal)?;
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
) -> GatewayResult<Value> {
    let mut conn = state.db.reader().acquire().await?;
    check_app_ownership(&mut conn, caller, app_id).await?;
    store::recharges::get(&mut conn, app_id, caller.livemode, recharge_id)
        .await?
        .ok_or_else(|| GatewayError::not_found("recharge", recharge_id))?;
    let refund = store::refunds::get_by_id(&mut conn, refund_id)
        .await?
        .filter(|r| r.recharge_id.as_deref() == Some(recharge_id))
        .ok_or_else(|| GatewayError::not_found("refund", refund_id))?;
    Ok(refund.to_wire())
}
