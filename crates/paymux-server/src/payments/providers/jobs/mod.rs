//! The provider jobs, one module per kind: the queries of an open QR charge
//! (`charge_query`), the poll and reverse of a scan payment (`charge_poll`), and a refund's
//! submission (`refund_submit`) and queries (`refund_query`). Each asks the provider outside
//! any database write, then writes what it said; its schedule is a constant of its module.

mod charge_poll;
mod charge_query;
mod refund_query;
mod refund_submit;

pub(super) use charge_poll::POLL_EVERY_MS;
pub(super) use charge_query::SCHEDULE as QUERY_SCHEDULE;

use super::adapter::{self, Adapter};
use super::{charges, settle_from_channel, settle_refund_from_channel};
use crate::channels::{PaymentState, RefundState};
use crate::domain::charge::Charge;
use crate::domain::refund::{Refund, RefundStatus};
use crate::error::GatewayResult;
use crate::state::AppState;
use crate::store::{self, jobs::Job, jobs::JobKind};
use std::sync::Arc;

/// What a job decided.
pub enum JobOutcome {
    Done,
    RetryAt(i64),
}

/// When a job asks again: after each delay in turn (seconds after the previous look), the last
/// one repeating.
pub struct Schedule(pub &'static [i64]);

impl Schedule {
    /// The delay before look number `look` (0: the first), in ms.
    pub fn delay_ms(&self, look: usize) -> i64 {
        let secs = self.0.get(look).or(self.0.last()).copied().unwrap_or(60);
        secs * 1000
    }
}

/// Runs a due job of one of these kinds.
pub async fn run_job(state: &AppState, job: &Job) -> GatewayResult<JobOutcome> {
    let Ok(kind) = job.kind else {
        return Ok(JobOutcome::Done);
    };
    match kind {
        JobKind::ChargeQuery | JobKind::ChargePoll => {
            let Some((charge, adapter)) = open_charge(state, job).await? else {
                return Ok(JobOutcome::Done);
            };
            if settled_by_query(state, &charge, &adapter).await? {
                return Ok(JobOutcome::Done);
            }
            if kind == JobKind::ChargePoll {
                charge_poll::run(state, &charge, &adapter).await
            } else {
                charge_query::run(state, job, &charge, &adapter).await
            }
        }
        JobKind::RefundSubmit | JobKind::RefundQuery => {
            let (refund, charge) = match pending_refund(state, job).await? {
                Some(found) => found,
                None => return Ok(JobOutcome::Done),
            };
            let Some(adapter) = adapter::of_charge(state, &charge).await? else {
                tracing::warn!(refund = %refund.id, "its channel is no longer configured; will retry");
                return Ok(JobOutcome::RetryAt(state.clock.now_ms() + 3_600_000));
            };
            if kind == JobKind::RefundSubmit {
                refund_submit::run(state, job, &charge, &refund, &adapter).await
            } else {
                refund_query::run(state, job, &charge, &refund, &adapter).await
            }
        }
    }
}

/// The job's charge while it is still open, with its provider's adapter.
async fn open_charge(state: &AppState, job: &Job) -> GatewayResult<Option<(Charge, Arc<Adapter>)>> {
    let charge = {
        let mut conn = state.db.reader().acquire().await?;
        store::charges::get_any(&mut conn, &job.target_id).await?
    };
    let Some(charge) = charge else {
        return Ok(None);
    };
    if charge.paid || charge.reversed || charge.failure_code.is_some() {
        return Ok(None);
    }
    let Some(adapter) = adapter::of_charge(state, &charge).await? else {
        tracing::warn!(charge = %charge.id, "its channel is no longer configured; job dropped");
        return Ok(None);
    };
    Ok(Some((charge, adapter)))
}

/// Asks the provider about an open charge and writes a final answer (paid, failed, closed);
/// `true` when there was one.
async fn settled_by_query(
    state: &AppState,
    charge: &Charge,
    adapter: &Adapter,
) -> GatewayResult<bool> {
    match adapter.query(charge).await {
        paid @ PaymentState::Paid { .. } => {
            settle_from_channel(state, &charge.id, paid).await?;
            Ok(true)
        }
        PaymentState::Failed { code, message } => {
            let id = charge.id.clone();
            state
                .db
                .write(move |conn| {
                    Box::pin(async move {
                        store::charges::mark_failed(conn, &id, &code, &message)
                            .await
                            .map(|_| ())
                    })
                })
                .await?;
            Ok(true)
        }
        PaymentState::Closed => Ok(true),
        _ => Ok(false),
    }
}

/// The job's refund while it is still pending, with its charge.
async fn pending_refund(state: &AppState, job: &Job) -> GatewayResult<Option<(Refund, Charge)>> {
    let mut conn = state.db.reader().acquire().await?;
    let Some(refund) = store::refunds::get_by_id(&mut conn, &job.target_id).await? else {
        return Ok(None);
    };
    if refund.status != RefundStatus::Pending {
        return Ok(None);
    }
    let charge = charges::reload(&mut conn, &refund.charge_id).await?;
    Ok(Some((refund, charge)))
}

/// When a refund job whose answer was unknown runs again, by its run so far (1: the first):
/// soon at first, then backing off to every half hour, so a provider that cannot answer for a
/// while is not asked twice a minute all along.
const UNKNOWN_AGAIN: Schedule = Schedule(&[30, 60, 120, 300, 600, 1800]);

/// What a refund job does with the provider's answer, but for `Pending`, which each kind
/// handles its own way.
async fn settle_refund(
    state: &AppState,
    job: &Job,
    refund: &Refund,
    answer: RefundState,
) -> GatewayResult<Option<JobOutcome>> {
    match answer {
        RefundState::Succeeded { .. }
        | RefundState::Failed { .. }
        | RefundState::Abnormal { .. } => {
            settle_refund_from_channel(state, &refund.id, answer).await?;
            Ok(Some(JobOutcome::Done))
        }
        RefundState::Unknown(reason) => {
            let run = usize::try_from(job.attempts.saturating_sub(1)).unwrap_or(0);
            let delay_ms = UNKNOWN_AGAIN.delay_ms(run);
            tracing::info!(refund = %refund.id, %reason, delay_ms, "refund outcome unknown; asking again");
            Ok(Some(JobOutcome::RetryAt(state.clock.now_ms() + delay_ms)))
        }
        RefundState::Pending => Ok(None),
    }
}

/// Writes a new job of `kind` for `target`, due at `due_ms`.
async fn schedule(
    state: &AppState,
    kind: JobKind,
    target: &str,
    due_ms: i64,
    request_id: Option<String>,
) -> GatewayResult<()> {
    let (target, now) = (target.to_owned(), state.clock.now_secs());
    state
        .db
        .write(move |conn| {
            Box::pin(async move {
                store::jobs::schedule(conn, kind, &target, due_ms, request_id.as_deref(), now).await
            })
        })
        .await?;
    Ok(())
}
