//! Live mode: charges a real channel carries out, through its adapter.
//!
//! A channel call never runs inside a database write. The charge is written first (its order
//! number taken, nothing to lose), the channel is called, and its answer is written after.
//! Whatever stays open (a QR charge waiting for its payer, a scan payment whose payer is typing
//! a password, an answer that never came) has a job that asks the channel again on a schedule,
//! so nothing waits forever on a notification that was lost.

use super::charges::{self, ChannelPayment, Inserted, NewCharge, live_channel_unavailable};
use super::refunds::{FollowUp, NewRefund};
use super::{Cause, render_charge};
use crate::channels::alipay::{self, AlipayAdapter};
use crate::channels::unionpay::{self, Notice, UnionpayAdapter};
use crate::channels::wechat::{Order, WechatV2};
use crate::channels::{PaymentState, Provider, RefundState, config, provider_of_payment_code};
use crate::domain::Caller;
use crate::domain::channel::{Channel, Flow};
use crate::domain::charge::Charge;
use crate::domain::refund::Refund;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::{self, jobs::Job};
use serde_json::{Map, Value, json};

/// Asks the channel about an open QR charge.
pub const CHARGE_QUERY: &str = "charge.query";
/// Polls a scan charge whose outcome is open, then reverses it.
pub const CHARGE_POLL: &str = "charge.poll";
/// Submits a new refund to the channel (again, with the same number, until it answers).
pub const REFUND_SUBMIT: &str = "refund.submit";
/// Asks the channel about a submitted refund until it succeeds or fails.
pub const REFUND_QUERY: &str = "refund.query";

/// When to ask again about a refund the channel accepted (seconds after the previous look); the
/// last repeats: a refund to a bank card can take days, and stays pending until the channel
/// says otherwise.
const REFUND_QUERY_DELAYS_SECS: [i64; 6] = [60, 300, 1800, 7200, 21600, 86400];
/// A submission whose answer was unknown is repeated (the same `out_refund_no`) after this.
const RESUBMIT_AFTER_MS: i64 = 30_000;

/// When to ask again about an open QR charge, after the previous look (seconds); the last
/// delay repeats until the charge expires, and then the order is closed at the channel.
const QUERY_DELAYS_SECS: [i64; 6] = [30, 60, 120, 300, 600, 1800];
/// An expired order the channel would not close is asked again this often, for this long.
const CLOSE_RETRY_MS: i64 = 60_000;
const CLOSE_FOR_SECS: i64 = 86_400;
/// Scan payments: every 5 s for up to 60 s, then reverse (seed 002's guidance).
const POLL_EVERY_MS: i64 = 5_000;
const POLL_FOR_SECS: i64 = 60;
/// How long a reverse the channel refuses or leaves unanswered is tried again (every
/// `POLL_EVERY_MS`) before the charge is left to the query schedule and an operator.
const REVERSE_FOR_SECS: i64 = 600;
/// A reverse through the API: how often to call again at once when the channel asks to.
const REVERSE_RECALLS: usize = 3;

/// Which provider serves a charge: its channel's, for ISV channels the one `extra.pay_channel`
/// names, and for `isv_scan` (which has none) the one whose payment code the payer showed.
fn provider_of(channel: Channel, extra: &Map<String, Value>) -> Option<Provider> {
    Provider::of(channel)
        .or_else(|| match extra.get("pay_channel")?.as_str()? {
            "wx" => Some(Provider::Wechat),
            "alipay" => Some(Provider::Alipay),
            _ => None,
        })
        .or_else(|| match channel {
            Channel::IsvScan => provider_of_payment_code(extra.get("scan_code")?.as_str()?),
            _ => None,
        })
}

/// A provider's adapter, behind the few operations live mode needs.
enum Adapter {
    Wechat(WechatV2),
    Alipay(AlipayAdapter),
    Unionpay(UnionpayAdapter),
}

impl Adapter {
    /// Starts a QR charge: what to show the payer.
    async fn start_qr(&self, charge: &Charge, notify_url: &str) -> Result<String, PaymentState> {
        match self {
            Adapter::Wechat(wechat) => wechat.native_order(&order(charge, notify_url)).await,
            Adapter::Alipay(alipay) => alipay.precreate(&alipay_order(charge, notify_url)).await,
            Adapter::Unionpay(up) => up.apply_qr(&unionpay_order(charge, notify_url)).await,
        }
    }

    /// Charges the payer's payment code (scan flow).
    async fn start_scan(&self, charge: &Charge, notify_url: &str, code: &str) -> PaymentState {
        match self {
            Adapter::Wechat(wechat) => wechat.micropay(&order(charge, notify_url), code).await,
            Adapter::Alipay(alipay) => alipay.pay(&alipay_order(charge, notify_url), code).await,
            Adapter::Unionpay(up) => up.consume(&unionpay_order(charge, notify_url), code).await,
        }
    }

    async fn query(&self, charge: &Charge) -> PaymentState {
        let out_trade_no = &charge.order_no;
        match self {
            Adapter::Wechat(wechat) => wechat.query(out_trade_no).await,
            Adapter::Alipay(alipay) => alipay.query(out_trade_no).await,
            // UnionPay finds a transaction by orderId and the txnTime derived from `created`.
            Adapter::Unionpay(up) => up.query(out_trade_no, charge.created).await,
        }
    }

    async fn close(&self, out_trade_no: &str) -> Result<(), PaymentState> {
        match self {
            Adapter::Wechat(wechat) => wechat.close(out_trade_no).await,
            Adapter::Alipay(alipay) => alipay.close(out_trade_no).await,
            // upacp has no close for a QR order: the `payTimeout` sent with it (the charge's
            // time_expire) already ended it at UnionPay, so nothing is left to close.
            Adapter::Unionpay(_) => Ok(()),
        }
    }

    /// Undoes an open payment: WeChat reverses a scan payment and closes a QR order; Alipay
    /// cancels either (a cancelled number can no longer be paid, even when nobody had scanned
    /// its QR yet); UnionPay reverses a scan payment (`99/01`). `Ok(false)`: call again.
    async fn reverse(&self, charge: &Charge) -> Result<bool, PaymentState> {
        let out_trade_no = charge.order_no.as_str();
        match self {
            Adapter::Wechat(wechat) if charge.channel.flow() == Flow::Qr => {
                wechat.close(out_trade_no).await.map(|()| true)
            }
            Adapter::Wechat(wechat) => wechat.reverse(out_trade_no).await,
            Adapter::Alipay(alipay) => alipay.cancel(out_trade_no).await,
            // upacp cannot void a QR order before its `payTimeout` (the charge's time_expire)
            // ends it; a payment that still arrives is a late payment, recorded and refunded.
            Adapter::Unionpay(_) if charge.channel.flow() == Flow::Qr => Ok(true),
            // A consumer-code payment: reversal (冲正) by orderId + txnTime, see the adapter.
            Adapter::Unionpay(up) => up.reverse(out_trade_no, charge.created).await,
        }
    }

    /// Submits a refund under the refund's id. WeChat accepts it (pending); Alipay refunds at
    /// once, and when its answer is unknown asks whether the refund went through before the
    /// job submits it again.
    async fn refund(&self, charge: &Charge, refund: &Refund, notify: Option<&str>) -> RefundState {
        match self {
            Adapter::Wechat(wechat) => {
                wechat
                    .refund(
                        &charge.order_no,
                        &refund.id,
                        charge.amount,
                        refund.amount,
                        notify,
                    )
                    .await
            }
            Adapter::Alipay(alipay) => {
                match alipay
                    .refund(&charge.order_no, &refund.id, refund.amount)
                    .await
                {
                    RefundState::Unknown(reason) => {
                        match alipay
                            .refund_query(&charge.order_no, &refund.id, refund.amount)
                            .await
                        {
                            succeeded @ RefundState::Succeeded { .. } => succeeded,
                            _ => RefundState::Unknown(reason),
                        }
                    }
                    answer => answer,
                }
            }
            Adapter::Unionpay(up) => {
                // The refund's own orderId (its id without `re_`: 24 letters and digits) and
                // txnTime (from its `created`), so a resubmission or query names the same one.
                let Some(payment) = charge.transaction_no.as_deref() else {
                    return RefundState::Failed {
                        code: "channel_no_transaction".into(),
                        message: "the charge has no UnionPay queryId to refund".into(),
                    };
                };
                let order_id = refund.order_no();
                match up
                    .refund(order_id, refund.created, payment, refund.amount, notify)
                    .await
                {
                    // Unknown (or a repeat, `12`): whether UnionPay has it, and how it went, is
                    // for the query to say (its origRespCode is final); not found (`34`, still
                    // unknown) makes the job submit it again.
                    RefundState::Unknown(reason) => {
                        match up.refund_query(order_id, refund.created).await {
                            RefundState::Unknown(_) => RefundState::Unknown(reason),
                            known => known,
                        }
                    }
                    answer => answer,
                }
            }
        }
    }

    async fn refund_query(&self, charge: &Charge, refund: &Refund) -> RefundState {
        match self {
            Adapter::Wechat(wechat) => wechat.refund_query(&refund.id).await,
            Adapter::Alipay(alipay) => {
                alipay
                    .refund_query(&charge.order_no, &refund.id, refund.amount)
                    .await
            }
            Adapter::Unionpay(up) => up.refund_query(refund.order_no(), refund.created).await,
        }
    }
}

/// Why a live charge on `channel` has nowhere to go, when the channel alone cannot say.
fn no_provider(channel: Channel) -> ApiError {
    let why = match channel {
        Channel::CcbQr => {
            "China Construction Bank publishes no protocol for ccb_qr, so this gateway has no \
             adapter for it; it works in test mode only"
        }
        Channel::IsvScan => {
            "the payer's payment code (extra.scan_code) is neither WeChat's, Alipay's nor \
             UnionPay's"
        }
        _ => "extra.pay_channel names no provider this gateway speaks (wx or alipay)",
    };
    ApiError::channel(format!(
        "Channel {} cannot go live: {why}.",
        channel.as_str()
    ))
    .with_code("channel_not_configured")
    .with_param("channel")
}

/// The app's adapter for `provider` in this mode, if the app configured it.
async fn adapter(
    state: &AppState,
    app_id: &str,
    livemode: bool,
    provider: Provider,
) -> ApiResult<Option<Adapter>> {
    let Some(key) = state.settings.secrets_key.as_ref() else {
        return Ok(None);
    };
    let mut conn = state.db.reader().acquire().await?;
    let Some((settings, _)) = config::load(&mut conn, key, app_id, livemode, provider).await?
    else {
        return Ok(None);
    };
    let not_configured =
        |error: String| ApiError::channel(error).with_code("channel_not_configured");
    match provider {
        Provider::Wechat => WechatV2::new(&settings)
            .map(|a| Some(Adapter::Wechat(a)))
            .map_err(|e| not_configured(e.to_string())),
        Provider::Alipay => AlipayAdapter::new(&settings, state.clock.clone())
            .map(|a| Some(Adapter::Alipay(a)))
            .map_err(|e| not_configured(e.to_string())),
        Provider::Unionpay => UnionpayAdapter::new(&settings)
            .map(|a| Some(Adapter::Unionpay(a)))
            .map_err(|e| not_configured(e.to_string())),
    }
}

/// Whether a test-mode charge goes to a channel: only when its app configured the channel's
/// provider in test mode (pointing it at a simulator, say). Otherwise test mode is simulated
/// by the gateway itself.
pub async fn routed_in_test_mode(state: &AppState, new: &NewCharge) -> ApiResult<bool> {
    if state.settings.secrets_key.is_none() {
        return Ok(false);
    }
    let Some(provider) = provider_of(new.channel, &new.extra) else {
        return Ok(false);
    };
    let mut conn = state.db.reader().acquire().await?;
    Ok(
        store::channel_configs::get(&mut conn, &new.app_id, false, provider.as_str())
            .await?
            .is_some(),
    )
}

/// Whether an existing charge went through a channel (every live charge; a test charge only
/// when its app routes test mode to a channel).
pub async fn uses_channel(state: &AppState, charge: &Charge) -> ApiResult<bool> {
    if charge.livemode {
        return Ok(true);
    }
    if state.settings.secrets_key.is_none() {
        return Ok(false);
    }
    let Some(provider) = provider_of(charge.channel, &charge.extra) else {
        return Ok(false);
    };
    let mut conn = state.db.reader().acquire().await?;
    Ok(
        store::channel_configs::get(&mut conn, &charge.app_id, false, provider.as_str())
            .await?
            .is_some(),
    )
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

fn order<'a>(charge: &'a Charge, notify_url: &'a str) -> Order<'a> {
    Order {
        out_trade_no: &charge.order_no,
        total_fee: charge.amount,
        body: &charge.subject,
        client_ip: &charge.client_ip,
        time_expire: charge.time_expire,
        notify_url,
        product_id: charge.extra.get("product_id").and_then(Value::as_str),
    }
}

fn alipay_order<'a>(charge: &'a Charge, notify_url: &'a str) -> alipay::Order<'a> {
    alipay::Order {
        out_trade_no: &charge.order_no,
        total_fen: charge.amount,
        subject: &charge.subject,
        body: &charge.body,
        time_expire: charge.time_expire,
        notify_url,
    }
}

fn unionpay_order<'a>(charge: &'a Charge, notify_url: &'a str) -> unionpay::Order<'a> {
    unionpay::Order {
        order_id: &charge.order_no,
        created: charge.created,
        amount_fen: charge.amount,
        time_expire: charge.time_expire,
        notify_url,
    }
}

pub async fn create_charge(
    state: &AppState,
    caller: Caller,
    new: NewCharge,
    base_url: String,
) -> ApiResult<Value> {
    let route = Route::to(state, &caller, &new, &base_url).await?;
    let now = state.clock.now_secs();
    let writer = caller.clone();
    let inserted = state
        .db
        .write(move |conn| {
            Box::pin(async move {
                let charge = new.into_charge(&writer, now, &base_url)?;
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
    adapter: Adapter,
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
                        store::jobs::schedule(conn, CHARGE_QUERY, &charge.id, first_query, None, now)
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
                        store::jobs::schedule(conn, CHARGE_QUERY, &charge.id, first_query, None, now)
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
                        let charge =
                            charges::record_payment(conn, Some(&request_id), charge, &paid, now)
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
                        store::jobs::schedule(conn, CHARGE_POLL, &charge.id, poll_at, None, now)
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
    let provider =
        provider_of(charge.channel, &charge.extra).ok_or_else(|| no_provider(charge.channel))?;
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

/// What a channel job decided.
pub enum JobOutcome {
    Done,
    RetryAt(i64),
}

/// Runs a channel job: asks the channel, then writes what it said.
pub async fn run_job(state: &AppState, job: &Job) -> ApiResult<JobOutcome> {
    match job.kind.as_str() {
        REFUND_SUBMIT | REFUND_QUERY => run_refund_job(state, job).await,
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
    let provider = provider_of(charge.channel, &charge.extra);
    let adapter = match provider {
        Some(provider) => adapter(state, &charge.app_id, charge.livemode, provider).await?,
        None => None,
    };
    let (Some(adapter), Some(provider)) = (adapter, provider) else {
        tracing::warn!(refund = %refund.id, "its channel is no longer configured; will retry");
        return Ok(JobOutcome::RetryAt(state.clock.now_ms() + 3_600_000));
    };
    let now_ms = state.clock.now_ms();
    let answer = if job.kind == REFUND_SUBMIT {
        // A job has no request to learn this gateway's address from: only --public-url says
        // where the channel can reach it; without it the query schedule settles the refund.
        let notify = state
            .settings
            .public_url
            .as_deref()
            .map(|base| notify_url(state, base, provider, &charge.app_id, charge.livemode));
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
        RefundState::Pending if job.kind == REFUND_SUBMIT => {
            // Accepted: from now on ask about it (a separate job, due after the first delay).
            let (id, request) = (refund.id.clone(), job.request_id.clone());
            let now = state.clock.now_secs();
            state
                .db
                .write(move |conn| {
                    Box::pin(async move {
                        store::jobs::schedule(
                            conn,
                            REFUND_QUERY,
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
    let provider = provider_of(charge.channel, &charge.extra);
    let adapter = match provider {
        Some(provider) => adapter(state, &charge.app_id, charge.livemode, provider).await?,
        None => None,
    };
    let Some(adapter) = adapter else {
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
    match job.kind.as_str() {
        CHARGE_POLL => {
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
                        store::jobs::schedule(conn, CHARGE_QUERY, &id, first_query, None, now).await
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

/// A WeChat notification for an app: verified (a forged one changes nothing and is logged),
/// applied once, and answered as WeChat expects. Returns the reply body and whether it is the
/// SUCCESS reply.
pub async fn wechat_notification(
    state: &AppState,
    app_id: &str,
    livemode: bool,
    body: &str,
) -> (bool, String) {
    use paymux_channels::wechat_v2::{notify_fail_reply, notify_success_reply};
    let adapter = match adapter(state, app_id, livemode, Provider::Wechat).await {
        Ok(Some(Adapter::Wechat(adapter))) => adapter,
        _ => {
            tracing::warn!(app = %app_id, "WeChat notification for an app without WeChat configured");
            return (false, notify_fail_reply("not configured"));
        }
    };
    if body.contains("<req_info>") {
        return match adapter.refund_notification(body) {
            Ok((out_refund_no, answer)) => {
                let received = Received::new(Provider::Wechat, app_id, livemode, body);
                let applied = match received.record(state, &out_refund_no).await {
                    Ok(()) => settle_refund_from_channel(state, &out_refund_no, answer).await,
                    Err(error) => Err(error),
                };
                match applied {
                    Ok(()) => (true, notify_success_reply()),
                    Err(_) => (false, notify_fail_reply("try again")),
                }
            }
            Err(error) => {
                tracing::warn!(app = %app_id, %error, "rejected a WeChat refund notification");
                (false, notify_fail_reply("verification failed"))
            }
        };
    }
    let (out_trade_no, total_fee, answer) = match adapter.pay_notification(body) {
        Ok(parsed) => parsed,
        Err(error) => {
            tracing::warn!(app = %app_id, %error, "rejected a WeChat notification that failed verification");
            return (false, notify_fail_reply("verification failed"));
        }
    };
    let received = Received::new(Provider::Wechat, app_id, livemode, body);
    match received
        .apply(state, &out_trade_no, total_fee, answer)
        .await
    {
        Ok(()) => (true, notify_success_reply()),
        Err(reason) => (false, notify_fail_reply(reason)),
    }
}

/// A notification that passed verification, about to be kept and applied.
struct Received<'a> {
    provider: Provider,
    app_id: &'a str,
    livemode: bool,
    body: &'a str,
}

impl<'a> Received<'a> {
    fn new(provider: Provider, app_id: &'a str, livemode: bool, body: &'a str) -> Self {
        Self {
            provider,
            app_id,
            livemode,
            body,
        }
    }

    /// Keeps the notification as received, about `reference` (an order or refund number).
    async fn record(&self, state: &AppState, reference: &str) -> ApiResult<()> {
        let row = store::channel_notifications::ChannelNotification {
            id: crate::ids::channel_notification(),
            app_id: self.app_id.to_owned(),
            livemode: self.livemode,
            provider: self.provider.as_str().to_owned(),
            received: state.clock.now_secs(),
            reference: reference.to_owned(),
            body: self.body.to_owned(),
        };
        state
            .db
            .write(move |conn| {
                Box::pin(async move { store::channel_notifications::insert(conn, &row).await })
            })
            .await
    }

    /// Keeps a payment notification, then applies it: the order must be ours and the amount
    /// the charge's; a payment settles the charge once, anything else is acknowledged (the
    /// query job settles it). `Err` says why not, for the channel's failure reply.
    async fn apply(
        &self,
        state: &AppState,
        out_trade_no: &str,
        total_fen: i64,
        answer: PaymentState,
    ) -> Result<(), &'static str> {
        self.record(state, out_trade_no)
            .await
            .map_err(|_| "try again")?;
        apply_pay_notification(
            state,
            self.app_id,
            self.livemode,
            out_trade_no,
            total_fen,
            answer,
        )
        .await
    }
}

/// Applies a verified payment notification (see [`Received::apply`]).
async fn apply_pay_notification(
    state: &AppState,
    app_id: &str,
    livemode: bool,
    out_trade_no: &str,
    total_fen: i64,
    answer: PaymentState,
) -> Result<(), &'static str> {
    let charge = match state.db.reader().acquire().await {
        Ok(mut conn) => {
            store::charges::find_by_order_no(&mut conn, app_id, livemode, out_trade_no).await
        }
        Err(error) => Err(error.into()),
    };
    let charge = match charge {
        Ok(Some(charge)) => charge,
        Ok(None) => {
            tracing::warn!(app = %app_id, %out_trade_no, "notification for an unknown order");
            return Err("unknown order");
        }
        Err(_) => return Err("try again"),
    };
    if charge.amount != total_fen {
        tracing::warn!(charge = %charge.id, total_fen, "notification amount differs; ignored");
        return Err("amount mismatch");
    }
    match answer {
        PaymentState::Paid { .. } => settle_from_channel(state, &charge.id, answer)
            .await
            .map_err(|_| "try again"),
        // A failure or refund notice: the query job settles it; acknowledge so it stops.
        _ => Ok(()),
    }
}

/// An Alipay `trade_status_sync` notification for an app: verified (fail closed), applied
/// once, answered `success` (anything else makes Alipay redeliver). Returns whether it was
/// acknowledged, and the reply body.
pub async fn alipay_notification(
    state: &AppState,
    app_id: &str,
    livemode: bool,
    body: &[u8],
) -> (bool, &'static str) {
    let adapter = match adapter(state, app_id, livemode, Provider::Alipay).await {
        Ok(Some(Adapter::Alipay(adapter))) => adapter,
        _ => {
            tracing::warn!(app = %app_id, "Alipay notification for an app without Alipay configured");
            return (false, "fail");
        }
    };
    let (out_trade_no, total, answer) = match adapter.notification(body) {
        Ok(parsed) => parsed,
        Err(error) => {
            tracing::warn!(app = %app_id, %error, "rejected an Alipay notification that failed verification");
            return (false, "fail");
        }
    };
    let text = String::from_utf8_lossy(body);
    let received = Received::new(Provider::Alipay, app_id, livemode, &text);
    match received.apply(state, &out_trade_no, total, answer).await {
        Ok(()) => (true, "success"),
        Err(_) => (false, "fail"),
    }
}

/// A UnionPay backUrl notification for an app: verified (fail closed: a forged one changes
/// nothing and is logged), applied once. A payment (`txnType=01`) settles its charge; a refund
/// (`04`) settles the refund we sent as its `orderId`. Returns whether it was accepted: UnionPay
/// redelivers until it gets HTTP 200, so only an accepted one is answered 200.
pub async fn unionpay_notification(
    state: &AppState,
    app_id: &str,
    livemode: bool,
    body: &[u8],
) -> bool {
    let adapter = match adapter(state, app_id, livemode, Provider::Unionpay).await {
        Ok(Some(Adapter::Unionpay(adapter))) => adapter,
        _ => {
            tracing::warn!(app = %app_id, "UnionPay notification for an app without UnionPay configured");
            return false;
        }
    };
    let text = String::from_utf8_lossy(body);
    let received = Received::new(Provider::Unionpay, app_id, livemode, &text);
    match adapter.notification(body) {
        Ok(Notice::Payment {
            order_id,
            amount_fen,
            state: answer,
        }) => received
            .apply(state, &order_id, amount_fen, answer)
            .await
            .is_ok(),
        Ok(Notice::Refund {
            order_id,
            state: answer,
        }) => {
            let refund_id = format!("re_{order_id}");
            let known = match state.db.reader().acquire().await {
                Ok(mut conn) => store::refunds::get_by_id(&mut conn, &refund_id)
                    .await
                    .map(|r| r.filter(|r| r.app_id == app_id && r.livemode == livemode)),
                Err(error) => Err(error.into()),
            };
            match known {
                Ok(Some(_)) => match received.record(state, &refund_id).await {
                    Ok(()) => settle_refund_from_channel(state, &refund_id, answer)
                        .await
                        .is_ok(),
                    Err(_) => false,
                },
                Ok(None) => {
                    tracing::warn!(app = %app_id, %order_id, "UnionPay refund notification for an unknown refund");
                    false
                }
                Err(_) => false,
            }
        }
        Ok(Notice::Other) => true,
        Err(error) => {
            tracing::warn!(app = %app_id, %error, "rejected a UnionPay notification that failed verification");
            false
        }
    }
}
