//! The providers that carry charges (WeChat Pay, Alipay, UnionPay, and in test mode without a
//! configured provider this gateway's own simulation) behind one adapter, and the one flow
//! every charge follows through them: route, write, ask, write the answer; then notifications
//! and jobs settle what stayed open.
//!
//! A channel call never runs inside a database write. The charge is written first (its order
//! number taken, nothing to lose), the channel is called, and its answer is written after.
//! Whatever stays open (a QR charge waiting for its payer, a scan payment whose payer is typing
//! a password, an answer that never came) has a job that asks the channel again on a schedule,
//! so nothing waits forever on a notification that was lost. The simulated provider answers
//! without a network: it is asked first and its answer written with the charge.

mod adapter;
pub use adapter::AdapterCache;
mod jobs;
mod notify;
mod simulated;

pub use jobs::{JobOutcome, run_job};
pub use notify::{alipay_notification, unionpay_notification, wechat_notification};

use super::charges::{self, ChannelPayment, Insert, Inserted, NewCharge, check_app_ownership};
use super::refunds::NewRefund;
use super::render_charge;
use crate::channels::{PaymentState, RefundState};
use crate::domain::Caller;
use crate::domain::channel::{Channel, Flow};
use crate::domain::charge::{Carrier, Charge};
use crate::error::{GatewayError, GatewayResult};
use crate::state::AppState;
use crate::store;
use crate::store::jobs::JobKind;
use adapter::Adapter;
use jobs::{POLL_EVERY_MS, QUERY_SCHEDULE};
use serde_json::{Map, Value, json};
use sqlx::AnyConnection;
use std::sync::Arc;

/// A reverse through the API: how often to call again at once when the channel asks to.
const REVERSE_RECALLS: usize = 3;

/// Where the provider sends what its payer did, for this app and mode: a channel's
/// notification URL, or the simulated provider's payment page.
fn notify_url(
    state: &AppState,
    base_url: &str,
    carrier: Carrier,
    app_id: &str,
    livemode: bool,
) -> String {
    let base = state.settings.public_url.as_deref().unwrap_or(base_url);
    let base = base.trim_end_matches('/');
    let mode = if livemode { "live" } else { "test" };
    match carrier {
        Carrier::Simulated => format!("{base}/mock/pay"),
        Carrier::Provider(provider) => {
            format!("{base}/notify/{}/{app_id}/{mode}", provider.as_str())
        }
    }
}

/// When a new refund of `charge` goes to its provider (ms): at once, except that the
/// simulated provider takes the configured test refund delay, as a channel takes a while.
pub async fn refund_due_ms(state: &AppState, charge: &Charge) -> GatewayResult<i64> {
    let now_ms = state.clock.now_ms();
    let carrier = match charge.carrier {
        Some(carrier) => Some(carrier),
        None => adapter::of_charge(state, charge)
            .await?
            .map(|a| a.carrier()),
    };
    let simulated = carrier == Some(Carrier::Simulated);
    Ok(if simulated {
        now_ms + state.settings.test_refund_delay_ms
    } else {
        now_ms
    })
}

/// Where a new charge goes: its carrier, that carrier's adapter for the app, and the address
/// its answer comes back to. Settled before anything is written, so a charge on a channel the
/// app did not configure stores nothing.
pub struct Route {
    pub carrier: Carrier,
    adapter: Arc<Adapter>,
    notify_url: String,
}

impl Route {
    pub async fn for_new(
        state: &AppState,
        caller: &Caller,
        new: &NewCharge,
        base_url: &str,
    ) -> GatewayResult<Route> {
        let (app_id, livemode) = (&new.app_id, caller.livemode);
        let found = adapter::for_new_charge(state, app_id, livemode, new.channel, &new.extra).await;
        // An app that is not the caller's is the answer before anything about its channels;
        // for the simulated provider the insert checks it without a read of its own.
        if found
            .as_ref()
            .map_or(true, |(_, adapter)| adapter.is_remote())
        {
            let mut conn = state.db.reader().acquire().await?;
            check_app_ownership(&mut conn, caller, app_id).await?;
        }
        let (carrier, adapter) = found?;
        let notify_url = notify_url(state, base_url, carrier, app_id, livemode);
        Ok(Route {
            carrier,
            adapter,
            notify_url,
        })
    }

    /// Writes a new charge with `insert` and has its provider start collecting it; returns the
    /// charge's wire object (for a repeated create, the first charge's), or the provider's
    /// refusal, which is written too.
    pub async fn open(
        self,
        state: &AppState,
        request_id: &str,
        charge: Charge,
        insert: Insert,
    ) -> GatewayResult<Value> {
        let request_id = request_id.to_owned();
        if !self.adapter.is_remote() {
            let started = self.ask(&charge).await;
            let records_payment = matches!(started, Started::Scan(PaymentState::Paid { .. }));
            // The credential is known before the write: it goes in with the charge.
            let mut charge = charge;
            if let Started::Qr(Ok(code_url)) = &started {
                charge.credential = credential(charge.channel, code_url);
                // A shown QR code writes nothing beyond the charge, and a new charge has no
                // refunds to show.
                return match insert.alone(state, charge).await? {
                    Inserted::New(charge) => Ok(charge.to_wire(Vec::new(), false)),
                    Inserted::Existing(value) => Ok(value),
                };
            }
            let (now, now_ms) = (state.clock.now_secs(), state.clock.now_ms());
            let answer = state
                .db
                .write(move |conn| {
                    Box::pin(async move {
                        match insert.within(conn, charge).await? {
                            Inserted::Existing(value) => Ok(Ok(value)),
                            Inserted::New(charge) => {
                                let at = (now, now_ms);
                                record_start(conn, &request_id, *charge, started, at, false).await
                            }
                        }
                    })
                })
                .await?;
            if records_payment {
                // Only events were written (no job): only the dispatcher has work.
                state.webhooks_wake.notify_one();
            }
            return answer;
        }
        let charge = match insert.alone(state, charge).await? {
            Inserted::New(charge) => *charge,
            Inserted::Existing(value) => return Ok(value),
        };
        let started = self.ask(&charge).await;
        let at = (state.clock.now_secs(), state.clock.now_ms());
        let answer = state
            .db
            .write(move |conn| {
                Box::pin(
                    async move { record_start(conn, &request_id, charge, started, at, true).await },
                )
            })
            .await?;
        state.wake_workers();
        answer
    }

    /// Asks the provider to start collecting a charge.
    async fn ask(&self, charge: &Charge) -> Started {
        let adapter = &self.adapter;
        match charge.channel.flow() {
            Flow::Qr => Started::Qr(adapter.start_qr(charge, &self.notify_url).await),
            Flow::Scan => {
                let code = charge.extra.get("scan_code").and_then(Value::as_str);
                let code = code.unwrap_or_default();
                Started::Scan(adapter.start_scan(charge, &self.notify_url, code).await)
            }
        }
    }
}

/// What the payer of a QR charge is shown: `{"object":"credential","<channel>":"<link>"}`.
fn credential(channel: Channel, code_url: &str) -> Map<String, Value> {
    let mut credential = Map::new();
    credential.insert("object".into(), json!("credential"));
    credential.insert(channel.as_str().into(), json!(code_url));
    credential
}

/// What a provider answered to a new charge: for a QR charge what to show the payer, for a
/// scan charge how the payment went.
enum Started {
    Qr(Result<String, PaymentState>),
    Scan(PaymentState),
}

/// Writes what the provider answered to a new charge; with `watch`, whatever stays open is
/// asked about on a schedule. `at`: now in seconds and ms. The inner result is the answer to
/// the merchant, written either way.
async fn record_start(
    conn: &mut AnyConnection,
    request_id: &str,
    charge: Charge,
    started: Started,
    (now, now_ms): (i64, i64),
    watch: bool,
) -> GatewayResult<Result<Value, GatewayError>> {
    let query_at = now_ms + QUERY_SCHEDULE.delay_ms(0);
    match started {
        Started::Qr(Ok(code_url)) => {
            let credential = credential(charge.channel, &code_url);
            if charge.credential != credential {
                store::charges::set_credential(conn, &charge.id, &credential).await?;
            }
            if watch {
                store::jobs::schedule(conn, JobKind::ChargeQuery, &charge.id, query_at, None, now)
                    .await?;
            }
            let charge = Charge {
                credential,
                ..charge
            };
            Ok(Ok(render_charge(conn, &charge).await?))
        }
        Started::Qr(Err(PaymentState::Failed { code, message })) => {
            store::charges::mark_failed(conn, &charge.id, &code, &message).await?;
            let refused = format!("The channel refused charge {}: {message}", charge.id);
            Ok(Err(GatewayError::channel(refused).with_code(code)))
        }
        Started::Qr(Err(other)) => {
            tracing::warn!(charge = %charge.id, state = ?other, "channel outcome unknown");
            store::jobs::schedule(conn, JobKind::ChargeQuery, &charge.id, query_at, None, now)
                .await?;
            Ok(Err(GatewayError::channel(format!(
                "The channel did not confirm charge {}; it will be queried. Create it again \
                 with the same order_no to see its state.",
                charge.id
            ))
            .with_code("channel_unknown")))
        }
        Started::Scan(PaymentState::Paid {
            transaction_no,
            time_paid,
        }) => {
            let paid = ChannelPayment {
                transaction_no,
                time_paid: time_paid.unwrap_or(now),
            };
            let charge =
                charges::record_payment(conn, Some(request_id), charge, &paid, now).await?;
            Ok(Ok(render_charge(conn, &charge).await?))
        }
        Started::Scan(PaymentState::Failed { code, message }) => {
            store::charges::mark_failed(conn, &charge.id, &code, &message).await?;
            let failed = format!("The payment of charge {} failed: {message}", charge.id);
            Ok(Err(GatewayError::channel(failed).with_code(code)))
        }
        // The payer is confirming, or the answer is unknown: poll, then reverse.
        Started::Scan(_) => {
            let poll_at = now_ms + POLL_EVERY_MS;
            store::jobs::schedule(conn, JobKind::ChargePoll, &charge.id, poll_at, None, now)
                .await?;
            Ok(Ok(render_charge(conn, &charge).await?))
        }
    }
}

/// Undoes an unpaid charge at its provider before the API marks it reversed. `Ok` once the
/// provider confirmed it closed (calling again a few times when it asks to), or once it
/// reported the charge paid after all: that payment is recorded, and the reverse then refunds
/// it. Anything else is a channel error, and nothing changed.
pub async fn undo_at_channel(state: &AppState, charge: &Charge) -> GatewayResult<()> {
    let adapter = adapter::of_charge(state, charge)
        .await?
        .ok_or_else(|| adapter::live_channel_unavailable(charge.channel))?;
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
        _ => Err(GatewayError::channel(format!(
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
) -> GatewayResult<()> {
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
                    RefundState::Abnormal { code, message } => {
                        super::refunds::mark_abnormal(conn, &id, &code, &message).await
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
) -> GatewayResult<()> {
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
                charges::record_payment(conn, None, charge, &paid, now).await?;
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
) -> GatewayResult<()> {
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
    super::refunds::open(conn, None, &charge, refund, None, now, now * 1000).await?;
    Ok(())
}
