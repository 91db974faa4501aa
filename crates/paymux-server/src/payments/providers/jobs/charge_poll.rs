//! `charge.poll`: a scan payment whose payer is still confirming (or whose answer was lost) is
//! polled, then reversed, as the channels advise for a payer who never confirms.

use super::{JobOutcome, charge_query, schedule};
use crate::domain::charge::Charge;
use crate::error::GatewayResult;
use crate::payments::Cause;
use crate::payments::charges;
use crate::payments::providers::adapter::Adapter;
use crate::state::AppState;
use crate::store::jobs::JobKind;

/// Every 5 s for up to 60 s after the charge was created, then reverse.
pub(in crate::payments::providers) const POLL_EVERY_MS: i64 = 5_000;
const POLL_FOR_SECS: i64 = 60;
/// How long a reverse the provider refuses or leaves unanswered is tried again (every
/// `POLL_EVERY_MS`) before the charge is left to the query schedule and an operator.
const REVERSE_FOR_SECS: i64 = 600;

/// Runs after the poll's query found the payment still open.
pub(super) async fn run(
    state: &AppState,
    charge: &Charge,
    adapter: &Adapter,
) -> GatewayResult<JobOutcome> {
    let now_ms = state.clock.now_ms();
    let poll_end_ms = (charge.created + POLL_FOR_SECS) * 1000;
    if now_ms < poll_end_ms {
        return Ok(JobOutcome::RetryAt(now_ms + POLL_EVERY_MS));
    }
    // Still open after the polling window: reverse (WeChat) or cancel (Alipay) it. Either may
    // ask to call again; WeChat refuses while the payer is still confirming.
    let reversed = adapter.reverse(charge).await;
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
    // Refused for ten minutes: stop hammering the provider. The query schedule still settles a
    // payment that shows up; the rest needs a person.
    tracing::error!(charge = %charge.id, answer = ?reversed,
        "the channel keeps refusing to reverse this scan payment; querying it from now on");
    let first_query = now_ms + charge_query::SCHEDULE.delay_ms(0);
    schedule(state, JobKind::ChargeQuery, &charge.id, first_query, None).await?;
    Ok(JobOutcome::Done)
}
