//! Live mode: charges a real channel carries out, through its adapter.
//!
//! A channel call never runs inside a database write. The charge is written first (its order
//! number taken, nothing to lose), the channel is called, and its answer is written after.
//! Whatever stays open (a QR charge waiting for its payer, a scan payment whose payer is typing
//! a password, an answer that never came) has a job that asks the channel again on a schedule,
//! so nothing waits forever on a notification that was lost.

mod adapter;
pub use adapter::AdapterCache;
mod jobs;
mod notify;

pub use jobs::{JobOutcome, run_job};
pub use notify::{alipay_notification, unionpay_notification, wechat_notification};

use super::charges::{self, ChannelPayment, Inserted, NewCharge, live_channel_unavailable};
use super::refunds::{FollowUp, NewRefund};
use super::render_charge;
use crate::channels::{PaymentState, Provider, RefundState};
use crate::domain::Caller;
use crate::domain::channel::{Channel, Flow};
use crate::domain::charge::{Carrier, Charge};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store;
use crate::store::jobs::JobKind;
use adapter::{Adapter, adapter, no_provider, provider_of, provider_of_charge};
use jobs::{POLL_EVERY_MS, QUERY_DELAYS_SECS};
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// A reverse through the API: how often to call again at once when the channel asks to.
const REVERSE_RECALLS: usize = 3;

/// Whether a test-mode charge goes to a channel: only when its app configured the channel's
/// provider in test mode (pointing it at a simulator, say). Otherwise test mode is simulated
/// by the gateway itself.
pub async fn routed_in_test_mode(state: &AppState, new: &NewCharge) -> ApiResult<bool> {
    test_mode_channel(state, &new.app_id, new.channel, &new.extra).await
}

/// Whether an existing charge went through a channel: as recorded when it was created. (For a
/// charge older than that record: every live charge, and a test charge when its app routes
/// test mode to a channel now.)
pub async fn uses_channel(state: &AppState, charge: &Charge) -> ApiResult<bool> {
    match charge.carrier {
        Some(carrier) => Ok(carrier != Carrier::Simulated),
        None if charge.livemode => Ok(true),
        None => test_mode_channel(state, &charge.app_id, charge.channel, &charge.extra).await,
    }
}

async fn test_mode_channel(
    state: &AppState,
    app_id: &str,
    channel: Channel,
    extra: &Map<String, Value>,
) -> ApiResult<bool> {
    if state.settings.secrets_key.is_none() {
        return Ok(false);
    }
    let Some(provider) = provider_of(channel, extra) else {
        return Ok(false);
    };
    let mut conn = state.db.reader().acquire().await?;
    let config = store::channel_configs::get(&mut conn, app_id, false, provider.as_str()).await?;
    Ok(config.is_some())
}

/// Where the provider sends its notifications for this app and mode.
fn notify_url(
    state: &AppState,
    base_url: &str,
    provider: Provider,
    app_id: &str,
    livemode: bool,
) -> String {
    let base = state.settings.public_url.as_deref().unwrap_or(base_url);
    let mode = if livemode { "live" } else { "test" };
    format!(
        "{}/notify/{}/{app_id}/{mode}",
        base.trim_end_matches('/'),
        provider.as_str()
    )
}

pub async fn create_charge(
    state: &AppState,
    caller: Caller,
    new: NewCharge,
    base_url: String,
) -> ApiResult<Value> {
    let route = Route::to(state, &caller, &new, &base_url).await?;
    let carrier = Carrier::Provider(route.provider);
    let now = state.clock.now_secs();
    let writer = caller.clone();
    let inserted = state
        .db
        .write(move |conn| {
            Box::pin(async move {
                let charge = new.into_charge(&writer, carrier, now, &base_url)?;
                charges::insert(conn, &writer, charge, now).await
            })
        })
        .await?;
    match inserted {
        Inserted::New(charge) => route.start(state, &caller, *charge).await,
        Inserted::Existing(value) => Ok(value),
    }
}

/// Where a new live charge goes: its provider's adapter for the app, and the address the
/// provider notifies. Settled before anything is written, so a channel the app did not
/// configure stores nothing.
pub struct Route {
    pub provider: Provider,
    adapter: Arc<Adapter>,
    notify_url: String,
}

impl Route {
    pub async fn to(
        state: &AppState,
        caller: &Caller,
        new: &NewCharge,
        base_url: &str,
    ) -> ApiResult<Route> {
        {
            let mut conn = state.db.reader().acquire().await?;
            charges::ensure_app(&mut conn, caller, &new.app_id).await?;
        }
        let channel = new.channel;
        let provider = provider_of(channel, &new.extra).ok_or_else(|| no_provider(channel))?;
        let adapter = adapter(state, &new.app_id, caller.livemode, provider)
            .await?
            .ok_or_else(|| live_channel_unavailable(channel))?;
        let notify_url = notify_url(state, base_url, provider, &new.app_id, caller.livemode);
        Ok(Route {
            provider,
            adapter,
            notify_url,
        })
    }

    /// Sends a charge just written to its channel and writes what the channel answered;
    /// returns the charge's wire object, or the channel's refusal.
    pub async fn start(
        self,
        state: &AppState,
        caller: &Caller,
        charge: Charge,
    ) -> ApiResult<Value> {
        match charge.channel.flow() {
            Flow::Qr => {
                let started = self.adapter.start_qr(&charge, &self.notify_url).await;
                start_qr(state, charge, started).await
            }
            Flow::Scan => {
                let code = charge
                    .extra
                    .get("scan_code")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                let answer = self
                    .adapter
                    .start_scan(&charge, &self.notify_url, &code)
                    .await;
                start_scan(state, caller, charge, answer).await
            }
        }
    }
}

/// Writes what the channel answered to a new QR charge.
async fn start_qr(
    state: &AppState,
    charge: Charge,
    started: Result<String, PaymentState>,
) -> ApiResult<Value> {
    let now = state.clock.now_secs();
    let first_query = state.clock.now_ms() + QUERY_DELAYS_SECS[0] * 1000;
    let result = state
        .db
        .write(move |conn| {
            Box::pin(async move {
                match started {
                    Ok(code_url) => {
                        let mut credential = Map::new();
                        credential.insert("object".into(), json!("credential"));
                        credential.insert(charge.channel.as_str().into(), json!(code_url));
                        store::charges::set_credential(conn, &charge.id, &credential).await?;
                        store::jobs::schedule(conn, JobKind::ChargeQuery, &charge.id, first_query, None, now)
                            .await?;
                        let charge = charges::reload(conn, &charge.id).await?;
                        Ok(Ok(render_charge(conn, &charge).await?))
                    }
                    Err(PaymentState::Failed { code, message }) => {
                        store::charges::mark_failed(conn, &charge.id, &code, &message).await?;
                        Ok(Err(ApiError::channel(format!(
                            "The channel refused charge {}: {message}",
                            charge.id
                        ))
                        .with_code(code)))
                    }
                    Err(other) => {
                        tracing::warn!(charge = %charge.id, state = ?other, "channel outcome unknown");
                        store::jobs::schedule(conn, JobKind::ChargeQuery, &charge.id, first_query, None, now)
                            .await?;
                        Ok(Err(ApiError::channel(format!(
                            "The channel did not confirm charge {}; it will be queried. Create it again \
                             with the same order_no to see its state.",
                            charge.id
                        ))
                        .with_code("channel_unknown")))
                    }
                }
            })
        })
        .await?;
    state.wake_workers();
    result
}

/// Writes what the channel answered to a new scan charge.
async fn start_scan(
    state: &AppState,
    caller: &Caller,
    charge: Charge,
    answer: PaymentState,
) -> ApiResult<Value> {
    let now = state.clock.now_secs();
    let poll_at = state.clock.now_ms() + POLL_EVERY_MS;
    let request_id = caller.request_id.clone();
    let result = state
        .db
        .write(move |conn| {
            Box::pin(async move {
                match answer {
                    PaymentState::Paid {
                        transaction_no,
                        time_paid,
                    } => {
                        // The channel's notification may have been quicker than its answer.
                        let charge = charges::reload(conn, &charge.id).await?;
                        if charge.paid {
                            return Ok(Ok(render_charge(conn, &charge).await?));
                        }
                        let paid = ChannelPayment {
                            transaction_no,
                            time_paid: time_paid.unwrap_or(now),
                        };
                        let charge = charges::record_channel_payment(
                            conn,
                            Some(&request_id),
                            charge,
                            &paid,
                            now,
                        )
                        .await?;
                        Ok(Ok(render_charge(conn, &charge).await?))
                    }
                    PaymentState::Failed { code, message } => {
                        store::charges::mark_failed(conn, &charge.id, &code, &message).await?;
                        Ok(Err(ApiError::channel(format!(
                            "The payment of charge {} failed: {message}",
                            charge.id
                        ))
                        .with_code(code)))
                    }
                    // The payer is confirming, or the answer is unknown: poll, then reverse.
                    _ => {
                        store::jobs::schedule(
                            conn,
                            JobKind::ChargePoll,
                            &charge.id,
                            poll_at,
                            None,
                            now,
                        )
                        .await?;
                        Ok(Ok(render_charge(conn, &charge).await?))
                    }
                }
            })
        })
        .await?;
    state.wake_workers();
    result
}

/// Undoes an unpaid charge at its channel before the API marks it reversed. `Ok` once the
/// channel confirmed it closed (calling again a few times when it asks to), or once the
/// channel reported it paid after all: that payment is recorded, and the reverse then refunds
/// it. Anything else is a channel error, and nothing changed.
pub async fn undo_at_channel(state: &AppState, charge: &Charge) -> ApiResult<()> {
    let provider = provider_of_charge(charge).ok_or_else(|| no_provider(charge.channel))?;
    let adapter = adapter(state, &charge.app_id, charge.livemode, provider)
        .await?
        .ok_or_else(|| live_channel_unavailable(charge.channel))?;
    let mut answer = Ok(false);
    for _ in 0..REVERSE_RECALLS {
        answer = adapter.reverse(charge).await;
        if answer != Ok(false) {
            break;
        }
    }
    let reason = match answer {
        Ok(true) => return Ok(()),
        Ok(false) => "the channel still asks to call again".to_owned(),
        Err(PaymentState::Failed { code, message }) => format!("{code}: {message}"),
        Err(PaymentState::Pending) => "the payer is still confirming the payment".to_owned(),
        Err(PaymentState::Unknown(reason)) => reason,
        Err(other) => format!("{other:?}"),
    };
    // Refused or unanswered: the order may have been paid meanwhile (WeChat's closeorder
    // answers ORDERPAID). Ask, and settle what the channel says.
    match adapter.query(charge).await {
        paid @ PaymentState::Paid { .. } => settle_from_channel(state, &charge.id, paid).await,
        PaymentState::Closed => Ok(()),
        _ => Err(ApiError::channel(format!(
            "The channel did not reverse charge {} ({reason}); nothing changed, try again.",
            charge.id
        ))
        .with_code("channel_reverse_failed")),
    }
}

/// Applies what the channel said of a refund (by query or notification); idempotent.
async fn settle_refund_from_channel(
    state: &AppState,
    refund_id: &str,
    answer: RefundState,
) -> ApiResult<()> {
    let now = state.clock.now_secs();
    let id = refund_id.to_owned();
    state
        .db
        .write(move |conn| {
            Box::pin(async move {
                match answer {
                    RefundState::Succeeded { time, refund_no } => {
                        // The refund is known at the channel by its own number, or else by ours.
                        let transaction_no = refund_no.unwrap_or_else(|| id.clone());
                        super::refunds::complete_with(
                            conn,
                            &id,
                            None,
                            &transaction_no,
                            time.unwrap_or(now),
                        )
                        .await
                    }
                    RefundState::Failed { code, message } => {
                        super::refunds::fail(conn, &id, &code, &message, now).await
                    }
                    RefundState::Pending | RefundState::Unknown(_) => Ok(()),
                }
            })
        })
        .await?;
    state.wake_workers();
    Ok(())
}

/// Records a payment the channel reported (by query or notification). Paying a charge twice
/// changes nothing the second time.
async fn settle_from_channel(
    state: &AppState,
    charge_id: &str,
    answer: PaymentState,
) -> ApiResult<()> {
    let PaymentState::Paid {
        transaction_no,
        time_paid,
    } = answer
    else {
        return Ok(());
    };
    let now = state.clock.now_secs();
    let id = charge_id.to_owned();
    state
        .db
        .write(move |conn| {
            Box::pin(async move {
                let Some(charge) = store::charges::get_any(conn, &id).await? else {
                    return Ok(());
                };
                if charge.paid {
                    return Ok(());
                }
                let paid = ChannelPayment {
                    transaction_no,
                    time_paid: time_paid.unwrap_or(now),
                };
                if charge.reversed || charge.failure_code.is_some() {
                    return refund_late_payment(conn, charge, &paid, now).await;
                }
                charges::record_channel_payment(conn, None, charge, &paid, now).await?;
                Ok(())
            })
        })
        .await?;
    state.wake_workers();
    Ok(())
}

/// The channel took money for a charge that is over here (reversed, or failed on the channel's
/// own earlier word). The money is the payer's: the payment is recorded (without
/// `charge.succeeded`, since the merchant was told the charge is over) and refunded in full
/// through the channel, so nothing stays at the channel unaccounted for.
async fn refund_late_payment(
    conn: &mut sqlx::AnyConnection,
    charge: Charge,
    paid: &ChannelPayment,
    now: i64,
) -> ApiResult<()> {
    tracing::warn!(charge = %charge.id, transaction_no = %paid.transaction_no,
        "the channel reports a payment for a closed charge; refunding it");
    store::charges::mark_paid_late(conn, &charge.id, paid.time_paid, &paid.transaction_no).await?;
    let charge = charges::reload(conn, &charge.id).await?;
    let refund = NewRefund {
        amount: None,
        description: "退还: paid after the charge was closed".into(),
        metadata: Map::new(),
        funding_source: None,
    };
    super::refunds::open(conn, None, &charge, refund, None, now, FollowUp::Channel).await?;
    Ok(())
}
