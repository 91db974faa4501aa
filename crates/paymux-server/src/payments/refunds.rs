//! Refunds: opened against a paid charge (never beyond what is still refundable, whatever the
//! concurrency), then carried out by the charge's provider: submitted by a job, confirmed by
//! the provider's answer, its notification or a query.

use super::{Cause, record_event};
use crate::domain::Caller;
use crate::domain::charge::Charge;
use crate::domain::event::EventType;
use crate::domain::refund::{Refund, RefundStatus};
use crate::error::{GatewayError, GatewayResult};
use crate::ids;
use crate::state::AppState;
use crate::store;
use crate::store::jobs::JobKind;
use serde_json::{Map, Value, json};
use sqlx::AnyConnection;

#[derive(Debug, Clone)]
pub struct NewRefund {
    /// `None`: everything still refundable.
    pub amount: Option<i64>,
    pub description: String,
    pub metadata: Map<String, Value>,
    pub funding_source: Option<String>,
}

pub async fn create(
    state: &AppState,
    caller: Caller,
    charge_id: String,
    new: NewRefund,
) -> GatewayResult<Value> {
    let now = state.clock.now_secs();
    let charge = {
        let mut conn = state.db.reader().acquire().await?;
        store::charges::get(&mut conn, &caller.account_id, caller.livemode, &charge_id)
            .await?
            .ok_or_else(|| GatewayError::not_found("charge", &charge_id))?
    };
    let due_ms = super::providers::refund_due_ms(state, &charge).await?;
    let value = state
        .db
        .write(move |conn| {
            Box::pin(async move {
                let charge =
                    store::charges::get(conn, &caller.account_id, caller.livemode, &charge_id)
                        .await?
                        .ok_or_else(|| GatewayError::not_found("charge", &charge_id))?;
                if let Some(recharge) = &charge.recharge_id {
                    return Err(GatewayError::invalid(format!(
                        "Charge {} pays recharge {recharge}; refund it through \
                         /v1/apps/{}/recharges/{recharge}/refunds so the balance follows.",
                        charge.id, charge.app_id
                    )));
                }
                let refund = open(
                    conn,
                    Some(&caller.request_id),
                    &charge,
                    new,
                    None,
                    now,
                    due_ms,
                )
                .await?;
                let detail = json!({"refund": refund.id, "amount": refund.amount});
                crate::operators::attribute(
                    conn,
                    &caller,
                    now * 1000,
                    "refund.create",
                    &charge.id,
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

/// Opens a pending refund inside the caller's transaction and schedules its submission to the
/// provider at `due_ms`; `request_id` is the request that asked for it, if one did.
pub async fn open(
    conn: &mut AnyConnection,
    request_id: Option<&str>,
    charge: &Charge,
    new: NewRefund,
    recharge_id: Option<&str>,
    now: i64,
    due_ms: i64,
) -> GatewayResult<Refund> {
    if !charge.paid {
        return Err(GatewayError::invalid(format!(
            "Charge {} is not paid; there is nothing to refund.",
            charge.id
        )));
    }
    // Reserve only while still refundable: the guard that holds under any concurrency. A
    // refund without an amount takes what remains, so losing a race to another refund (on
    // PostgreSQL another node's may commit first) means taking what remains after it.
    let mut charge = charge.clone();
    let mut attempts = 0;
    let amount = loop {
        let refundable = charge.refundable();
        if refundable == 0 {
            return Err(fully_refunded(&charge));
        }
        let amount = new.amount.unwrap_or(refundable);
        if amount > refundable {
            return Err(exceeds(&charge, amount, refundable));
        }
        if store::charges::reserve_refund(conn, &charge.id, amount).await? {
            break amount;
        }
        charge = super::charges::reload(conn, &charge.id).await?;
        attempts += 1;
        if new.amount.is_some() || attempts == 3 {
            if charge.refundable() == 0 {
                return Err(fully_refunded(&charge));
            }
            if new.amount.is_some() {
                return Err(exceeds(&charge, amount, charge.refundable()));
            }
            return Err(GatewayError::conflict(format!(
                "Other refunds of charge {} are being made at the same time; nothing was \
                 refunded by this request. Retry it.",
                charge.id
            )));
        }
    };
    let refund = Refund {
        id: ids::refund(),
        charge_id: charge.id.clone(),
        app_id: charge.app_id.clone(),
        livemode: charge.livemode,
        created: now,
        amount,
        status: RefundStatus::Pending,
        time_succeed: None,
        description: new.description,
        failure_code: None,
        failure_msg: None,
        metadata: new.metadata,
        funding_source: new.funding_source,
        charge_order_no: charge.order_no.clone(),
        transaction_no: None,
        currency: charge.currency.clone(),
        recharge_id: recharge_id.map(str::to_owned),
    };
    store::refunds::insert(conn, &refund).await?;
    store::jobs::schedule(
        conn,
        JobKind::RefundSubmit,
        &refund.id,
        due_ms,
        request_id,
        now,
    )
    .await?;
    Ok(refund)
}

fn fully_refunded(charge: &Charge) -> GatewayError {
    GatewayError::invalid(format!(
        "不能对订单号 {} 发起退款，因为已经全额退款了。可退金额为 0 (charge {} is already fully \
         refunded; refundable amount is 0).",
        charge.order_no, charge.id
    ))
}

fn exceeds(charge: &Charge, amount: i64, refundable: i64) -> GatewayError {
    GatewayError::invalid_param(
        "amount",
        format!(
            "退款金额 {amount} 超过可退金额 {refundable}。可退金额为 {refundable} (refund amount \
             {amount} exceeds the refundable amount {refundable} of charge {}).",
            charge.id
        ),
    )
}

/// Pending → succeeded with the channel's refund number, settling the money and recording
/// `refund.succeeded`; a refund already settled is left alone (notifications repeat).
pub async fn complete_with(
    conn: &mut AnyConnection,
    refund_id: &str,
    request_id: Option<&str>,
    transaction_no: &str,
    now: i64,
) -> GatewayResult<()> {
    let Some(refund) = store::refunds::get_by_id(conn, refund_id).await? else {
        return Ok(());
    };
    if refund.status != RefundStatus::Pending {
        return Ok(());
    }
    settle(
        conn,
        &refund,
        RefundStatus::Pending,
        request_id,
        transaction_no,
        now,
    )
    .await
}

/// `from` → succeeded: settles the money and records `refund.succeeded`, only if this call is
/// the one that changed the refund's status.
async fn settle(
    conn: &mut AnyConnection,
    refund: &Refund,
    from: RefundStatus,
    request_id: Option<&str>,
    transaction_no: &str,
    now: i64,
) -> GatewayResult<()> {
    if !store::refunds::mark_succeeded(conn, &refund.id, from, now, transaction_no).await? {
        return Ok(());
    }
    store::charges::settle_refund(conn, &refund.charge_id, refund.amount).await?;
    record_refund_event(conn, refund, request_id, EventType::RefundSucceeded, now).await
}

/// An operator transferred an abnormal refund's money to the payer by hand (the channel could
/// not): the refund succeeds with the transfer's reference as its transaction number, and
/// `refund.succeeded` is sent as for any other.
pub async fn resolve_abnormal(
    state: &AppState,
    caller: Caller,
    refund_id: String,
    reference: String,
) -> GatewayResult<()> {
    if reference.trim().is_empty() || reference.chars().count() > 64 {
        return Err(GatewayError::invalid_param(
            "reference",
            "Give the manual transfer's reference (1 to 64 characters).",
        ));
    }
    let now = state.clock.now_secs();
    state
        .db
        .write(move |conn| {
            Box::pin(async move {
                let refund = store::refunds::get_by_id(conn, &refund_id)
                    .await?
                    .filter(|r| r.livemode == caller.livemode)
                    .ok_or_else(|| GatewayError::not_found("refund", &refund_id))?;
                let account = &caller.account_id;
                let charge = store::charges::get(conn, account, caller.livemode, &refund.charge_id)
                    .await?
                    .ok_or_else(|| GatewayError::not_found("refund", &refund_id))?;
                if refund.status != RefundStatus::Abnormal {
                    return Err(GatewayError::invalid(format!(
                        "Refund {} is {}, not abnormal; only an abnormal refund is resolved \
                         by hand.",
                        refund.id,
                        refund.status.as_str()
                    )));
                }
                let reference = reference.trim();
                let request = Some(caller.request_id.as_str());
                settle(
                    conn,
                    &refund,
                    RefundStatus::Abnormal,
                    request,
                    reference,
                    now,
                )
                .await?;
                let detail = json!({
                    "charge": charge.id,
                    "amount": refund.amount,
                    "reference": reference,
                });
                let detail = crate::operators::detail(detail);
                crate::operators::attribute(
                    conn,
                    &caller,
                    now * 1000,
                    "refund.resolve",
                    &refund.id,
                    detail,
                )
                .await
            })
        })
        .await?;
    state.wake_workers();
    Ok(())
}

/// Records the event of a refund's final state, with the refund as it now is.
async fn record_refund_event(
    conn: &mut AnyConnection,
    refund: &Refund,
    request_id: Option<&str>,
    kind: EventType,
    now: i64,
) -> GatewayResult<()> {
    let charge = super::charges::reload(conn, &refund.charge_id).await?;
    let refund = store::refunds::get_by_id(conn, &refund.id)
        .await?
        .ok_or_else(GatewayError::internal)?;
    let cause = Cause {
        account_id: &charge.account_id,
        app_id: &charge.app_id,
        livemode: charge.livemode,
        request_id,
    };
    record_event(conn, &cause, kind, refund.to_wire(), now).await?;
    Ok(())
}

/// Pending → failed: the channel refused or closed the refund. Its amount becomes refundable
/// again (for a recharge's refund, the balance it debited is credited back and the recharge
/// can be refunded again), and `refund.failed` is recorded.
pub async fn fail(
    conn: &mut AnyConnection,
    refund_id: &str,
    code: &str,
    message: &str,
    now: i64,
) -> GatewayResult<()> {
    let Some(refund) = store::refunds::get_by_id(conn, refund_id).await? else {
        return Ok(());
    };
    if !store::refunds::mark_unpaid(conn, &refund.id, RefundStatus::Failed, code, message).await? {
        return Ok(());
    }
    store::charges::release_refund(conn, &refund.charge_id, refund.amount).await?;
    if let Some(recharge_id) = &refund.recharge_id {
        super::recharges::restore_after_failed_refund(conn, recharge_id).await?;
    }
    record_refund_event(conn, &refund, None, EventType::RefundFailed, now).await
}

/// Pending → abnormal: the channel paid the refund out and the payer's account refused it.
/// The money is neither back with the merchant nor with the payer, so the amount stays taken
/// from the charge (refunding it again would pay twice) and no final event is sent; an
/// operator transfers it by hand.
pub async fn mark_abnormal(
    conn: &mut AnyConnection,
    refund_id: &str,
    code: &str,
    message: &str,
) -> GatewayResult<()> {
    if store::refunds::mark_unpaid(conn, refund_id, RefundStatus::Abnormal, code, message).await? {
        tracing::warn!(refund = %refund_id, %code, %message,
            "the channel could not pay this refund out; it needs a manual transfer");
    }
    Ok(())
}

pub async fn list(
    state: &AppState,
    caller: &Caller,
    charge_id: &str,
    page: &store::Page,
) -> GatewayResult<(Vec<Value>, bool)> {
    let mut conn = state.db.reader().acquire().await?;
    store::charges::get(&mut conn, &caller.account_id, caller.livemode, charge_id)
        .await?
        .ok_or_else(|| GatewayError::not_found("charge", charge_id))?;
    let (refunds, more) = store::refunds::list_for_charge(&mut conn, charge_id, page).await?;
    Ok((refunds.iter().map(Refund::to_wire).collect(), more))
}

pub async fn retrieve(
    state: &AppState,
    caller: &Caller,
    charge_id: &str,
    refund_id: &str,
) -> GatewayResult<Value> {
    let mut conn = state.db.reader().acquire().await?;
    store::charges::get(&mut conn, &caller.account_id, caller.livemode, charge_id)
        .await?
        .ok_or_else(|| GatewayError::not_found("charge", charge_id))?;
    let refund = store::refunds::get(&mut conn, charge_id, refund_id)
        .await?
        .ok_or_else(|| GatewayError::not_found("refund", refund_id))?;
    Ok(refund.to_wire())
}
