//! The channel jobs: queries of open charges, the scan-payment poll and its reverse, and the
//! submission and queries of refunds. Each asks the channel, then writes what it said.

use super::adapter;
use super::{charges, notify_url, settle_from_channel, settle_refund_from_channel};
use crate::channels::{PaymentState, RefundState};
use crate::domain::channel::Flow;
use crate::error::ApiResult;
use crate::payments::Cause;
use crate::state::AppState;
use crate::store::{self, jobs::Job, jobs::JobKind};

/// When to ask again about a refund the channel accepted (seconds after the previous look); the
/// last repeats: a refund to a bank card can take days, and stays pending until the channel
/// says otherwise.
const REFUND_QUERY_DELAYS_SECS: [i64; 6] = [60, 300, 1800, 7200, 21600, 86400];
/// A submission whose answer was unknown is repeated (the same `out_refund_no`) after this.
const RESUBMIT_AFTER_MS: i64 = 30_000;

/// When to ask again about an open QR charge, after the previous look (seconds); the last
/// delay repeats until the charge expires, and then the order is closed at the channel.
pub(super) const QUERY_DELAYS_SECS: [i64; 6] = [30, 60, 120, 300, 600, 1800];
/// An expired order the channel would not close is asked again this often, for this long.
const CLOSE_RETRY_MS: i64 = 60_000;
const CLOSE_FOR_SECS: i64 = 86_400;
/// Scan payments: every 5 s for up to 60 s, then reverse (what the channels advise for a payer who never confirms).
pub(super) const POLL_EVERY_MS: i64 = 5_000;
const POLL_FOR_SECS: i64 = 60;
/// How long a reverse the channel refuses or leaves unanswered is tried again (every
/// `POLL_EVERY_MS`) before the charge is left to the query schedule and an operator.
const REVERSE_FOR_SECS: i64 = 600;

/// What a channel job decided.
pub enum JobOutcome {
    Done,
    RetryAt(i64),
}

/// Runs a channel job: asks the channel, then writes what it said.
pub async fn run_job(state: &AppState, job: &Job) -> ApiResult<JobOutcome> {
    match job.kind {
        Ok(JobKind::RefundSubmit | JobKind::RefundQuery) => run_refund_job(state, job).await,
        _ => run_charge_job(state, job).await,
    }
}

async fn run_refund_job(state: &AppState, job: &Job) -> ApiResult<JobOutcome> {
    let (refund, charge) = {
        let mut conn = state.db.reader().acquire().await?;
        let Some(refund) = store::refunds::get_by_id(&mut conn, &job.target_id).await? else {
            return Ok(JobOutcome::Done);
        };
        let charge = charges::reload(&mut conn, &refund.charge_id).await?;
        (refund, charge)
    };
    if refund.status != crate::domain::refund::RefundStatus::Pending {
        return Ok(JobOutcome::Done);
    }
    let Some(adapter) = adapter::of_charge(state, &charge).await? else {
        tracing::warn!(refund = %refund.id, "its channel is no longer configured; will retry");
        return Ok(JobOutcome::RetryAt(state.clock.now_ms() + 3_600_000));
    };
    let now_ms = state.clock.now_ms();
    let answer = if job.kind == Ok(JobKind::RefundSubmit) {
        // A job has no request to learn this gateway's address from: only --public-url says
        // where the channel can reach it; without it the query schedule settles the refund.
        let carrier = adapter.carrier();
        let notify = state
            .settings
            .public_url
            .as_deref()
            .map(|base| notify_url(state, base, carrier, &charge.app_id, charge.livemode));
        adapter.refund(&charge, &refund, notify.as_deref()).await
    } else {
        adapter.refund_query(&charge, &refund).await
    };
    let first_query = now_ms + REFUND_QUERY_DELAYS_SECS[0] * 1000;
    match answer {
        RefundState::Succeeded { .. } | RefundState::Failed { .. } => {
            settle_refund_from_channel(state, &refund.id, answer).await?;
            Ok(JobOutcome::Done)
        }
        RefundState::Pending if job.kind == Ok(JobKind::RefundSubmit) => {
            // Accepted: from now on ask about it (a separate job, due after the first delay).
            let (id, request) = (refund.id.clone(), job.request_id.clone());
            let now = state.clock.now_secs();
            state
                .db
                .write(move |conn| {
                    Box::pin(async move {
                        store::jobs::schedule(
                            conn,
                            JobKind::RefundQuery,
                            &id,
                            first_query,
                            request.as_deref(),
                            now,
                        )
                        .await
                    })
                })
                .await?;
            Ok(JobOutcome::Done)
        }
        RefundState::Pending => {
            let step = usize::try_from(job.attempts).unwrap_or(0);
            let delay = REFUND_QUERY_DELAYS_SECS
                .get(step)
                .or(REFUND_QUERY_DELAYS_SECS.last())
                .copied()
                .unwrap_or(86_400);
            Ok(JobOutcome::RetryAt(now_ms + delay * 1000))
        }
        RefundState::Unknown(reason) => {
            tracing::info!(refund = %refund.id, %reason, "refund outcome unknown; asking again");
            Ok(JobOutcome::RetryAt(now_ms + RESUBMIT_AFTER_MS))
        }
    }
}

async fn run_charge_job(state: &AppState, job: &Job) -> ApiResult<JobOutcome> {
    let charge = {
        let mut conn = state.db.reader().acquire().await?;
        store::charges::get_any(&mut conn, &job.target_id).await?
    };
    let Some(charge) = charge else {
        return Ok(JobOutcome::Done);
    };
    if charge.paid || charge.reversed || charge.failure_code.is_some() {
        return Ok(JobOutcome::Done);
    }
    let Some(adapter) = adapter::of_charge(state, &charge).await? else {
        tracing::warn!(charge = %charge.id, "its channel is no longer configured; job dropped");
        return Ok(JobOutcome::Done);
    };
    let now_ms = state.clock.now_ms();
    let answer = adapter.query(&charge).await;
    if let PaymentState::Paid { .. } = answer {
        settle_from_channel(state, &charge.id, answer).await?;
        return Ok(JobOutcome::Done);
    }
    if let PaymentState::Failed { code, message } = &answer {
        let (id, code, message) = (charge.id.clone(), code.clone(), message.clone());
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
        return Ok(JobOutcome::Done);
    }
    if answer == PaymentState::Closed {
        return Ok(JobOutcome::Done);
    }
    match job.kind {
        Ok(JobKind::ChargePoll) => {
            let poll_end_ms = (charge.created + POLL_FOR_SECS) * 1000;
            if now_ms < poll_end_ms {
                return Ok(JobOutcome::RetryAt(now_ms + POLL_EVERY_MS));
            }
            // Still open after the polling window: reverse (WeChat) or cancel (Alipay) it. Either
            // may ask to call again; WeChat refuses while the payer is still confirming.
            let reversed = adapter.reverse(&charge).await;
            if reversed == Ok(true) {
                let (id, now) = (charge.id.clone(), state.clock.now_secs());
                state
                    .db
                    .write(move |conn| {
                        Box::pin(async move {
                            let charge = charges::reload(conn, &id).await?;
                            let cause = Cause {
                                account_id: &charge.account_id,
                                app_id: &charge.app_id,
                                livemode: charge.livemode,
                                request_id: None,
                            };
                            charges::record_reversal(conn, &cause, &id, now)
                                .await
                                .map(|_| ())
                        })
                    })
                    .await?;
                state.wake_workers();
                return Ok(JobOutcome::Done);
            }
            if now_ms < poll_end_ms + REVERSE_FOR_SECS * 1000 {
                return Ok(JobOutcome::RetryAt(now_ms + POLL_EVERY_MS));
            }
            // Refused for ten minutes: stop hammering the channel. The query schedule still
            // settles a payment that shows up; the rest needs a person.
            tracing::error!(charge = %charge.id, answer = ?reversed,
                "the channel keeps refusing to reverse this scan payment; querying it from now on");
            let (id, now) = (charge.id.clone(), state.clock.now_secs());
            let first_query = now_ms + QUERY_DELAYS_SECS[0] * 1000;
            state
                .db
                .write(move |conn| {
                    Box::pin(async move {
                        store::jobs::schedule(
                            conn,
                            JobKind::ChargeQuery,
                            &id,
                            first_query,
                            None,
                            now,
                        )
                        .await
                    })
                })
                .await?;
            Ok(JobOutcome::Done)
        }
        _ => {
            let now = state.clock.now_secs();
            if now > charge.time_expire {
                // Expired unpaid: close it so a late scan cannot pay it (a scan payment that
                // reached this schedule is reversed instead: WeChat closes only QR orders).
                let closed = match charge.channel.flow() {
                    Flow::Qr => adapter.close(&charge.order_no).await.map(|()| true),
                    Flow::Scan => adapter.reverse(&charge).await,
                };
                if closed == Ok(true) {
                    return Ok(JobOutcome::Done);
                }
                if now > charge.time_expire + CLOSE_FOR_SECS {
                    tracing::error!(charge = %charge.id, answer = ?closed,
                        "the channel would not close this expired order; giving up");
                    return Ok(JobOutcome::Done);
                }
                return Ok(JobOutcome::RetryAt(now_ms + CLOSE_RETRY_MS));
            }
            let step = usize::try_from(job.attempts.saturating_sub(1)).unwrap_or(0);
            let delay = QUERY_DELAYS_SECS
                .get(step + 1)
                .or(QUERY_DELAYS_SECS.last())
                .copied()
                .unwrap_or(60);
            let next = (now_ms + delay * 1000).min(charge.time_expire * 1000 + 1000);
            Ok(JobOutcome::RetryAt(next.max(now_ms + 1000)))
        }
    }
}
