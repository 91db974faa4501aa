//! `refund.submit`: hands a new refund to its provider under the refund's own number, again
//! with the same number until the provider answers; once accepted, `refund.query` follows.

use super::{JobOutcome, refund_query, schedule, settle_refund};
use crate::domain::charge::Charge;
use crate::domain::refund::Refund;
use crate::error::GatewayResult;
use crate::payments::providers::adapter::Adapter;
use crate::payments::providers::notify_url;
use crate::state::AppState;
use crate::store::jobs::{Job, JobKind};

pub(super) async fn run(
    state: &AppState,
    job: &Job,
    charge: &Charge,
    refund: &Refund,
    adapter: &Adapter,
) -> GatewayResult<JobOutcome> {
    // A job has no request to learn this gateway's address from: only --public-url says where
    // the provider can reach it; without it the query schedule settles the refund.
    let carrier = adapter.carrier();
    let notify = state
        .settings
        .public_url
        .as_deref()
        .map(|base| notify_url(state, base, carrier, &charge.app_id, charge.livemode));
    let answer = adapter.refund(charge, refund, notify.as_deref()).await;
    if let Some(outcome) = settle_refund(state, job, refund, answer).await? {
        return Ok(outcome);
    }
    // Accepted: from now on ask about it (a job of its own, due after the first delay).
    let first_query = state.clock.now_ms() + refund_query::SCHEDULE.delay_ms(0);
    let request = job.request_id.clone();
    schedule(
        state,
        JobKind::RefundQuery,
        &refund.id,
        first_query,
        request,
    )
    .await?;
    Ok(JobOutcome::Done)
}
