//! `refund.query`: asks the provider about a refund it accepted, until it succeeds or fails.

use super::{JobOutcome, Schedule, settle_refund};
use crate::domain::charge::Charge;
use crate::domain::refund::Refund;
use crate::error::GatewayResult;
use crate::payments::providers::adapter::Adapter;
use crate::state::AppState;
use crate::store::jobs::Job;

/// A refund to a bank card can take days: it stays pending, asked about daily at the end,
/// until the provider says otherwise.
pub(super) const SCHEDULE: Schedule = Schedule(&[60, 300, 1800, 7200, 21600, 86400]);

pub(super) async fn run(
    state: &AppState,
    job: &Job,
    charge: &Charge,
    refund: &Refund,
    adapter: &Adapter,
) -> GatewayResult<JobOutcome> {
    let answer = adapter.refund_query(charge, refund).await;
    if let Some(outcome) = settle_refund(state, job, refund, answer).await? {
        return Ok(outcome);
    }
    let look = usize::try_from(job.attempts).unwrap_or(0);
    Ok(JobOutcome::RetryAt(
        state.clock.now_ms() + SCHEDULE.delay_ms(look),
    ))
}
