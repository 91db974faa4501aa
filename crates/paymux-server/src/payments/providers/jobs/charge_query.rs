//! `charge.query`: asks the provider about an open QR charge (its notification may be lost)
//! until it is paid, failed or expired; an expired one is closed at the provider, so a late
//! scan cannot pay it.

use super::{JobOutcome, Schedule};
use crate::domain::channel::Flow;
use crate::domain::charge::Charge;
use crate::error::GatewayResult;
use crate::payments::providers::adapter::Adapter;
use crate::state::AppState;
use crate::store::jobs::Job;

/// Seconds between looks; the last repeats until the charge expires.
pub(in crate::payments::providers) const SCHEDULE: Schedule =
    Schedule(&[30, 60, 120, 300, 600, 1800]);
/// An expired order the provider would not close is asked again this often, for this long.
const CLOSE_RETRY_MS: i64 = 60_000;
const CLOSE_FOR_SECS: i64 = 86_400;

/// Runs after the query found the charge still open.
pub(super) async fn run(
    state: &AppState,
    job: &Job,
    charge: &Charge,
    adapter: &Adapter,
) -> GatewayResult<JobOutcome> {
    let now_ms = state.clock.now_ms();
    let now = state.clock.now_secs();
    if now > charge.time_expire {
        // Expired unpaid: close it (a scan payment that reached this schedule is reversed
        // instead: WeChat closes only QR orders).
        let closed = match charge.channel.flow() {
            Flow::Qr => adapter.close(&charge.order_no).await.map(|()| true),
            Flow::Scan => adapter.reverse(charge).await,
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
    // The first look was scheduled with the first delay; this one is look `attempts`.
    let look = usize::try_from(job.attempts).unwrap_or(1);
    let next = (now_ms + SCHEDULE.delay_ms(look)).min(charge.time_expire * 1000 + 1000);
    Ok(JobOutcome::RetryAt(next.max(now_ms + 1000)))
}
