//! The WeChat Pay API v2 simulator (docs/channels/wechat-v2.md; refunds per docs/channels/refunds.md).
//!
//! [`WechatSimulator::router`] serves the channel's own paths, byte for byte in WeChat's XML
//! dialect, signed with the merchant's API key in the algorithm of each request:
//!
//! | Path | What it does |
//! |---|---|
//! | `POST /pay/unifiedorder` | `NATIVE` (also `JSAPI`, `APP`): creates an order, answers `prepay_id`/`code_url` |
//! | `POST /pay/micropay` | scripted by `auth_code` (table below); never notifies |
//! | `POST /pay/orderquery` | `trade_state` and the payment fields |
//! | `POST /pay/closeorder` | `NOTPAY` → `CLOSED` |
//! | `POST /secapi/pay/reverse` | unpaid → `REVOKED`; paid → `REVOKED` and refunded in full |
//! | `POST /secapi/pay/refund` | accepted as `PROCESSING`, settles later, then a refund notify |
//! | `POST /pay/refundquery` | the indexed `_$n` fields with `refund_status_$n` |
//!
//! The gateway talks plain HTTP to the simulator: there is no mutual TLS on `/secapi/…` (the
//! paths are the real ones, so an adapter still has to route them to its certificate-bearing
//! client, but the simulator cannot tell).
//!
//! # Requests
//!
//! Checked in WeChat's order, each failure answered as WeChat does:
//!
//! * body not UTF-8, empty, or not a flat `<xml>` document: `return_code=FAIL` (unsigned,
//!   `return_msg` 编码格式错误 / post数据为空 / XML格式错误); a `GET`: `FAIL` 请使用post方法;
//! * `mch_id` missing or not configured: `FAIL` (unsigned: there is no key to sign with);
//! * `sign_type` not `MD5`/`HMAC-SHA256`: `FAIL` sign_type参数错误; a sign type the merchant is
//!   not configured for, a missing or wrong `sign`: `FAIL` **签名错误**;
//! * from here on every answer is `return_code=SUCCESS`, signed with the request's algorithm:
//!   `appid` of no merchant → `APPID_NOT_EXIST`, of another merchant → `APPID_MCHID_NOT_MATCH`;
//!   missing parameters → `LACK_PARAMS` (`err_code_des` = 缺少参数`name`); malformed ones →
//!   `PARAM_ERROR`; then the endpoint's own business codes.
//!
//! Orders are keyed by `(mch_id, out_trade_no)`. A unifiedorder re-entry whose parameters
//! (all of them but `nonce_str`, `sign`, `sign_type`; empty ones count as absent) equal the
//! first call's returns the same `prepay_id`/`code_url`; otherwise `INVALID_REQUEST`. A paid
//! order answers `ORDERPAID`, a closed or revoked one `ORDERCLOSED`, a number used by a trade of
//! another type or app `OUT_TRADE_NO_USED`. An order whose `time_expire` (Beijing time,
//! `yyyyMMddHHmmss`, at least 5 minutes ahead) passes unpaid becomes `CLOSED`. Without
//! `time_expire` an unpaid NATIVE order waits forever.
//!
//! NATIVE (and JSAPI/APP) orders are paid by the test hook ([`WechatSimulator::pay`],
//! `POST /_sim/orders/{out_trade_no}/pay`): `NOTPAY` → `SUCCESS`, then a signed pay notify is
//! POSTed to the order's `notify_url`. It carries `sign_type` only when the order was created
//! with `HMAC-SHA256`.
//!
//! # Micropay scripts (`auth_code`)
//!
//! A WeChat payment code is 18 digits starting with `10`–`15`; anything else is
//! `AUTH_CODE_INVALID`. Codes starting with `1300` pick a script with the next two digits `SS`;
//! the two after those, `NN`, are its parameter, and the last ten are free, so that tests can
//! make as many distinct codes of one script as they need (`1300 SS NN xxxxxxxxxx`):
//!
//! | `auth_code` | Micropay answer | Afterwards |
//! |---|---|---|
//! | any other valid code, `total_fee` ≤ 100000 | `SUCCESS` with the payment fields | `SUCCESS` |
//! | any other valid code, `total_fee` > 100000 (over ¥1000 a password is needed) | `USERPAYING` | `SUCCESS` from the 2nd `orderquery` on |
//! | `130001NN…` | `USERPAYING` | `orderquery` answers `USERPAYING` `NN` times, then `SUCCESS` |
//! | `130002NN…` | `USERPAYING` | `orderquery` answers `USERPAYING` `NN` times, then `PAYERROR` |
//! | `130003…` | `USERPAYING` | `USERPAYING` until the test hook pays (`SUCCESS`) or fails (`PAYERROR`) it |
//! | `130004…` | `SYSTEMERROR` | the payment did go through: `SUCCESS` |
//! | `130005…` | `SYSTEMERROR` | it never happened: `orderquery` gives `ORDERNOTEXIST` |
//! | `130010…` | `AUTHCODEEXPIRE` | no order (retry with a new code and the same `out_trade_no`) |
//! | `130011…` | `AUTH_CODE_INVALID` | no order |
//! | `130012…` | `NOTENOUGH` | no order |
//! | `130013…` | `NOTSUPORTCARD` | no order |
//!
//! A code that created an order cannot pay another one (`AUTH_CODE_ERROR`). A micropay re-entry
//! with the same `out_trade_no` answers from the order: `ORDERPAID`, `ORDERREVERSED`,
//! `ORDERCLOSED`, `USERPAYING` again (same parameters; otherwise `INVALID_REQUEST`), or
//! `TRADE_STATE_ERROR` after `PAYERROR` (revoke it). Micropay never sends a notification.
//!
//! # Reverse and refunds
//!
//! Reverse: `USERPAYING` → `USERPAYING` error with `recall=Y`; unpaid or `PAYERROR` →
//! `REVOKED`, `recall=N`; paid → `REVOKED` and the whole amount goes back (no refund object, no
//! notify); already revoked or closed → `SUCCESS` again; with refunds → `TRADE_STATE_ERROR`;
//! older than 7 days → `REVERSE_EXPIRE`; unknown → `ORDERNOTEXIST`.
//!
//! Refund: the order must be paid (`ORDERNOTEXIST` otherwise, `INVALID_TRANSACTIONID` for a
//! malformed `transaction_id`, `TRADE_OVERDUE` after a year), `total_fee` must equal the order's
//! (`INVALID_REQUEST`), the refunds not closed may not exceed it, and there are at most 50
//! (`ERROR`). The same `out_refund_no` with the same order and `refund_fee` answers the existing
//! refund (same `refund_id`) and creates nothing; with anything else, `INVALID_REQUEST`. A new
//! refund answers `SUCCESS` (accepted), is `PROCESSING`, and settles after
//! [`Knobs::refund_settle_ms`] of simulated time (or [`Knobs::bank_card_settle_ms`] in bank-card
//! mode) to [`Knobs::refund_outcome`]; then a refund notify (`req_info` AES-256-ECB encrypted,
//! no `sign`) goes to the request's `notify_url` or the merchant's
//! [`WechatMerchant::refund_notify_url`]. Once refunded, `orderquery` says `REFUND`.
//! `refundquery` takes `refund_id` > `out_refund_no` > `transaction_id` > `out_trade_no` and
//! pages by 10 with `offset`.
//!
//! Not simulated: coupons, the one-minute gap between partial refunds, rate limits, the 2-hour
//! validity of `code_url`, sandbox paths, service-provider (`sub_mch_id`) mode.
//!
//! # Notifications
//!
//! Sent by background tasks: the first attempt at once, then retries after 15s, 15s, 30s, 3m,
//! 10m, 20m, 30m, 30m, 30m, 60m, 3h, 3h, 3h, 6h, 6h (16 attempts, about 24 h), each interval
//! multiplied by [`Knobs::notify_time_scale`] and measured on the simulator's clock. An attempt
//! counts as acknowledged only on HTTP 200 with the XML `SUCCESS` reply; retries stop there.
//! Every attempt and its answer is recorded ([`WechatSimulator::notifications`],
//! `GET /_sim/notifications`).
//!
//! # Time
//!
//! All simulated time (order and payment times, expiry, refund settlement, the retry schedule)
//! comes from [`WechatConfig::now_ms`], the system clock unless a test injects its own. A
//! background task started with the first request (or [`WechatSimulator::router`]) looks at the
//! clock every [`WechatConfig::tick_ms`] of real time and whenever something changes; requests
//! also bring the state up to date before they are answered.
//!
//! # Control endpoints
//!
//! | Route | |
//! |---|---|
//! | `GET /_sim/knobs` | the [`Knobs`] as JSON |
//! | `POST /_sim/knobs` | JSON object with some knobs; the others keep their value; answers all |
//! | `GET /_sim/orders` | every order ([`OrderView`]) |
//! | `GET /_sim/orders/{out_trade_no}?mch_id=` | one order (`mch_id` may be left out when only one merchant has that number) |
//! | `POST /_sim/orders/{out_trade_no}/pay` | the user pays: JSON `{"mch_id"?, "result"?: "success"\|"fail", "openid"?, "bank_type"?}` (all optional) |
//! | `GET /_sim/notifications?out_trade_no=&mch_id=` | notifications sent ([`NotificationRecord`]) and their answers |
//!
//! Errors are `{"error": "…"}` with 400, 404 or 409.

mod api;
mod control;
mod model;
mod notify;
mod scripts;

pub use model::{OrderView, RefundStatus, RefundView, TradeState};
pub use notify::{Delivery, NotificationKind, NotificationRecord, NotificationStatus};
pub use paymux_channels::wechat_v2::SignType;

use axum::Router;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch: the simulator's idea of now.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    })
}

/// One merchant account the simulator knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WechatMerchant {
    pub appid: String,
    pub mch_id: String,
    /// The 32-character API v2 key.
    pub api_key: String,
    /// The only algorithm accepted from this merchant; `None` accepts both.
    pub sign_type: Option<SignType>,
    /// Where refund notifications go when the refund request names no `notify_url` (the
    /// merchant-platform setting). `None`: no notification for such refunds.
    pub refund_notify_url: Option<String>,
}

impl WechatMerchant {
    /// A merchant accepting both sign types, with no platform refund notify URL.
    pub fn new(
        appid: impl Into<String>,
        mch_id: impl Into<String>,
        api_key: impl Into<String>,
    ) -> Self {
        Self {
            appid: appid.into(),
            mch_id: mch_id.into(),
            api_key: api_key.into(),
            sign_type: None,
            refund_notify_url: None,
        }
    }
}

/// What a refund settles to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RefundOutcome {
    #[default]
    Success,
    /// Refund exception (e.g. the card was cancelled): the money is stuck.
    Change,
    /// Refund closed, i.e. failed; the amount becomes refundable again.
    RefundClose,
}

impl RefundOutcome {
    fn status(self) -> RefundStatus {
        match self {
            Self::Success => RefundStatus::Success,
            Self::Change => RefundStatus::Change,
            Self::RefundClose => RefundStatus::RefundClose,
        }
    }
}

/// Ways to make the simulator misbehave, settable at any time (also as JSON through
/// `POST /_sim/knobs`, with these field names).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Knobs {
    /// The next N API calls (that pass the signature check) answer
    /// `result_code=FAIL err_code=SYSTEMERROR` (reverse adds `recall=Y`). Counts down.
    pub fail_next: u32,
    /// Only calls to this path (e.g. `/secapi/pay/refund`) count against [`Knobs::fail_next`].
    pub fail_path: Option<String>,
    /// The failing calls take effect before answering `SYSTEMERROR` (the payment or refund
    /// happened, the answer says it did not know), instead of changing nothing.
    pub fail_after_effect: bool,
    /// The `err_code` the failing calls answer instead of `SYSTEMERROR` (e.g. `ORDERPAID`,
    /// `FREQUENCY_LIMITED`).
    pub fail_code: Option<String>,
    /// Real milliseconds to wait before answering an API call (after it took effect).
    pub latency_ms: u64,
    /// Notification attempts are not delivered (recorded as dropped) and are retried on the
    /// schedule as failed ones.
    pub drop_notifications: bool,
    /// Every delivered attempt is sent twice in a row, even when the first was acknowledged.
    pub duplicate_notifications: bool,
    /// Multiplies the retry intervals: 0.001 turns 15 s into 15 ms. Must be finite and ≥ 0.
    pub notify_time_scale: f64,
    /// Real milliseconds to wait for the answer to a notification.
    pub notify_timeout_ms: u64,
    /// Simulated milliseconds from refund acceptance to settlement.
    pub refund_settle_ms: i64,
    /// Refunds created while set go back to a bank card: they take
    /// [`Knobs::bank_card_settle_ms`] and are received by "招商银行信用卡0403".
    pub refund_bank_card: bool,
    /// Simulated milliseconds a bank-card refund takes (default 3 days).
    pub bank_card_settle_ms: i64,
    /// What refunds created while set settle to.
    pub refund_outcome: RefundOutcome,
}

impl Default for Knobs {
    fn default() -> Self {
        Self {
            fail_next: 0,
            fail_path: None,
            fail_after_effect: false,
            fail_code: None,
            latency_ms: 0,
            drop_notifications: false,
            duplicate_notifications: false,
            notify_time_scale: 1.0,
            notify_timeout_ms: 5_000,
            refund_settle_ms: 5_000,
            refund_bank_card: false,
            bank_card_settle_ms: 3 * 24 * 3_600_000,
            refund_outcome: RefundOutcome::Success,
        }
    }
}

impl Knobs {
    fn check(&self) -> Result<(), String> {
        crate::control::check_time_scale(self.notify_time_scale)?;
        if self.refund_settle_ms < 0 || self.bank_card_settle_ms < 0 {
            return Err("settle delays must be ≥ 0".into());
        }
        Ok(())
    }
}

/// The simulator's configuration.
#[derive(Clone)]
pub struct WechatConfig {
    pub merchants: Vec<WechatMerchant>,
    /// The knobs to start with.
    pub knobs: Knobs,
    /// The clock; [`system_clock`] by default.
    pub now_ms: Clock,
    /// How often (real milliseconds) the background task looks at the clock for due work:
    /// expiries, refund settlements, notification attempts. Default 10.
    pub tick_ms: u64,
}

impl WechatConfig {
    /// These merchants, default knobs, the system clock.
    pub fn new(merchants: Vec<WechatMerchant>) -> Self {
        Self {
            merchants,
            ..Self::default()
        }
    }

    /// The same configuration with another clock.
    #[must_use]
    pub fn with_clock(mut self, now_ms: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        self.now_ms = Arc::new(now_ms);
        self
    }

    /// The same configuration with other knobs.
    #[must_use]
    pub fn with_knobs(mut self, knobs: Knobs) -> Self {
        self.knobs = knobs;
        self
    }
}

impl Default for WechatConfig {
    fn default() -> Self {
        Self {
            merchants: Vec::new(),
            knobs: Knobs::default(),
            now_ms: system_clock(),
            tick_ms: 10,
        }
    }
}

impl fmt::Debug for WechatConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WechatConfig")
            .field("merchants", &self.merchants)
            .field("knobs", &self.knobs)
            .field("tick_ms", &self.tick_ms)
            .finish_non_exhaustive()
    }
}

/// How the user's payment ends, for [`WechatSimulator::pay_with`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PayResult {
    #[default]
    Success,
    /// The user gives up or the bank declines: only for a micropay order waiting in
    /// `USERPAYING`, which becomes `PAYERROR`.
    Fail,
}

/// Details of a test payment.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PayOptions {
    pub result: PayResult,
    /// The payer; a fixed test openid by default (for JSAPI, the order's).
    pub openid: Option<String>,
    /// `bank_type`, `OTHERS` by default (e.g. `CMB_CREDIT`).
    pub bank_type: Option<String>,
}

/// Why a test hook could not do what it was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    #[error("no such order")]
    OrderNotFound,
    #[error("several merchants have an order with this number; name the mch_id")]
    AmbiguousOrder,
    /// The order is not in a state the hook applies to.
    #[error("{0}")]
    Conflict(String),
}

/// The simulator. Cheap to clone; clones share the state.
#[derive(Clone)]
pub struct WechatSimulator {
    inner: Arc<model::Inner>,
}

impl fmt::Debug for WechatSimulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WechatSimulator").finish_non_exhaustive()
    }
}

impl WechatSimulator {
    /// A simulator with no orders. Nothing runs until it is used inside a Tokio runtime.
    pub fn new(config: WechatConfig) -> Self {
        Self {
            inner: Arc::new(model::Inner::new(config)),
        }
    }

    /// The channel's paths and the `/_sim/…` control endpoints. Starts the background task
    /// when called inside a Tokio runtime.
    pub fn router(&self) -> Router {
        self.inner.ensure_driver();
        api::routes()
            .merge(control::routes())
            .with_state(self.clone())
    }

    pub fn knobs(&self) -> Knobs {
        self.inner.lock().knobs.clone()
    }

    pub fn set_knobs(&self, knobs: Knobs) {
        self.inner.lock().knobs = knobs;
        self.inner.wake.notify_one();
    }

    /// Changes some knobs, e.g. `sim.update_knobs(|k| k.fail_next = 2)`.
    pub fn update_knobs(&self, change: impl FnOnce(&mut Knobs)) {
        change(&mut self.inner.lock().knobs);
        self.inner.wake.notify_one();
    }

    /// The user scans and pays order `out_trade_no` of merchant `mch_id` (a NATIVE, JSAPI or
    /// APP order in `NOTPAY`, or a micropay order waiting in `USERPAYING`).
    pub fn pay(&self, mch_id: &str, out_trade_no: &str) -> Result<OrderView, SimError> {
        self.pay_with(Some(mch_id), out_trade_no, &PayOptions::default())
    }

    /// [`WechatSimulator::pay`] with details; `mch_id` may be left out when only one merchant
    /// has an order with that number.
    pub fn pay_with(
        &self,
        mch_id: Option<&str>,
        out_trade_no: &str,
        options: &PayOptions,
    ) -> Result<OrderView, SimError> {
        self.inner.ensure_driver();
        let view = self.inner.pay(mch_id, out_trade_no, options);
        self.inner.wake.notify_one();
        view
    }

    /// An order as it stands now.
    pub fn order(&self, mch_id: &str, out_trade_no: &str) -> Option<OrderView> {
        self.inner.order(Some(mch_id), out_trade_no).ok()
    }

    /// Every order, by merchant and number.
    pub fn orders(&self) -> Vec<OrderView> {
        self.inner.orders()
    }

    /// Every notification created so far, oldest first, with its delivery attempts.
    pub fn notifications(&self) -> Vec<NotificationRecord> {
        self.inner.lock().notifications.clone()
    }
}
