//! The Alipay open API simulator: `POST /gateway.do` as the SDKs call it, with RSA2 request
//! verification, signed responses, the face-to-face trade APIs and their quirks, and signed
//! `trade_status_sync` notifications redelivered on Alipay's schedule (docs/channels/alipay.md).
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use paymux_simulators::alipay::{AlipayApp, AlipayConfig, AlipaySimulator};
//! let app_key = paymux_crypto::SigningKey::generate()?;
//! let config = AlipayConfig::new().with_app(AlipayApp::from_pem("2014072300007148", &app_key.public_key_pem()?)?);
//! let sim = AlipaySimulator::new(config);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! // Configure the gateway with `sim.public_key_pem()` as "the Alipay public key" and
//! // `http://<addr>/gateway.do` as the gateway URL.
//! axum::serve(listener, sim.router()).await?;
//! # Ok(()) }
//! ```
//!
//! # What it does like Alipay
//!
//! * Parameters come from the query string and/or the `application/x-www-form-urlencoded` body
//!   (decoded once), in UTF-8 or, with `charset=GBK`, in GBK: then the signature covers the
//!   GBK bytes of the sign content and the answer comes back in GBK, signed over its GBK
//!   bytes, as Alipay does (its notifications too, see below). The gateway checks answer in
//!   `error_response`: `40001 isv.missing-*` for a missing `app_id`, `method`, `sign_type`,
//!   `sign`, `timestamp` or `version`; `40002` with `isv.invalid-method`,
//!   `isv.invalid-app-id`, `isv.invalid-charset` (neither UTF-8 nor GBK), `isv.invalid-format`,
//!   `isv.invalid-signature-type` (anything but `RSA2`), `isv.invalid-timestamp` (not
//!   `yyyy-MM-dd HH:mm:ss`, or further than [`AlipayConfig::timestamp_tolerance_secs`] from the
//!   clock), `isv.invalid-version`, `isv.invalid-encrypt-type` (AES content encryption is not
//!   simulated), `isv.invalid-signature`; `20001 aop.invalid-app-auth-token` for
//!   `app_auth_token` (ISV mode is not simulated). `error_response` is signed when the app is
//!   known and unsigned otherwise (the "no sign: outcome unknown" case of docs/channels/alipay.md, "Answers and their verification").
//! * Everything after the gateway checks answers in `<method>_response`, signed over the exact
//!   bytes sent. Business failures are `40004 Business Failed` with an `ACQ.*` `sub_code`;
//!   unusable business parameters (missing, malformed `biz_content`, bad amounts) are
//!   `40004 ACQ.INVALID_PARAMETER`.
//! * `alipay.trade.precreate` creates **no trade**: `query`/`close`/`refund` answer
//!   `40004 ACQ.TRADE_NOT_EXIST` until [`AlipaySimulator::scan`] (the buyer scans the QR, which
//!   is valid [`AlipayConfig::qr_validity_secs`]); [`AlipaySimulator::pay`] then pays it.
//! * `alipay.trade.pay` follows a script chosen by the `auth_code`, see [`auth_codes`].
//! * `alipay.trade.cancel`: unpaid → `action=close`; paid → full refund, `action=refund`
//!   (within [`AlipayConfig::cancel_window_secs`], else `ACQ.TRADE_CANCEL_TIME_OUT`; after a
//!   partial refund `ACQ.REASON_TRADE_REFUND_FEE_ERR`); already cancelled → the same answer
//!   again. Cancelling an order that has no trade yet (unknown `out_trade_no`, or a QR not yet
//!   scanned) answers `action=close` and voids the number, so a late `trade.pay` gets
//!   `ACQ.TRADE_HAS_CLOSE` and the QR cannot be scanned (an assumption: Alipay documents no
//!   `TRADE_NOT_EXIST` for cancel). [`Knobs::cancel_retry_next`] makes cancels answer
//!   `ACQ.SYSTEM_ERROR` with `retry_flag=Y`.
//! * `alipay.trade.close`: only `WAIT_BUYER_PAY` closes; otherwise `ACQ.TRADE_STATUS_ERROR`.
//! * `alipay.trade.refund` is synchronous and idempotent per `out_request_no` (the
//!   `out_trade_no` stands in when it is absent): a repeat answers `fund_change=N` with the
//!   unchanged cumulative `refund_fee`; the same number with another amount is
//!   `ACQ.DISCORDANT_REPEAT_REQUEST`; a partial refund without `out_request_no` and any refund
//!   beyond what is left are `ACQ.REFUND_AMT_NOT_EQUAL_TOTAL` (Alipay's "退款金额超限"); an
//!   unpaid or closed trade is `ACQ.TRADE_STATUS_ERROR`; a finished one
//!   `ACQ.TRADE_HAS_FINISHED`. A full refund closes the trade (`TRADE_CLOSED`).
//! * `alipay.trade.fastpay.refund.query` answers `10000` with no `refund_amount` (just `code`
//!   and `msg`) for an `out_request_no` it does not know; `ACQ.TRADE_NOT_EXIST` when the trade
//!   itself is unknown.
//! * Unpaid trades close at `time_expire` / `timeout_express` (default
//!   [`AlipayConfig::default_timeout_secs`] from the request), paid ones become
//!   `TRADE_FINISHED` after [`AlipayConfig::refund_window_secs`]; both are evaluated against the
//!   injected clock whenever the simulator is called.
//! * Amounts are yuan strings (`"88.88"`) converted on the digits, never through floats.
//!
//! # Notifications
//!
//! When the request carried `notify_url`, every change of a trade (paid, closed, refunded,
//! finished) is POSTed there as a signed form (`trade_status_sync`, docs/channels/alipay.md, "Notifications"; refunds carry
//! `refund_fee`, `gmt_refund` and `out_biz_no`) from a background tokio task with `reqwest`,
//! in the character set of the request that named `notify_url` (`charset=utf-8` or `GBK`: the
//! form is that set's bytes percent-encoded, the signature covers them), as Alipay does.
//! The attempt counts as acknowledged only for HTTP 200 with the body exactly `success`;
//! otherwise it is retried after each delay of [`AlipayConfig::notify_schedule`] (4m, 10m, 10m,
//! 1h, 2h, 6h, 15h: 8 attempts), multiplied by [`Knobs::notify_time_scale`], reusing the same
//! `notify_id` and signed parameters. [`AlipaySimulator::notifications`] lists them with every
//! attempt and answer.
//!
//! # Control endpoints (test hooks over HTTP)
//!
//! | Endpoint | Effect |
//! |---|---|
//! | `GET /_sim/knobs` | the current [`Knobs`] as JSON |
//! | `POST /_sim/knobs` | merges a JSON object of [`Knobs`] fields, answers the new knobs |
//! | `POST /_sim/orders/{out_trade_no}/scan` | the buyer scans a precreated QR ([`AlipaySimulator::scan`]) |
//! | `POST /_sim/orders/{out_trade_no}/pay` | the buyer pays ([`AlipaySimulator::pay`]) |
//! | `GET /_sim/orders/{out_trade_no}` | the order's [`TradeSnapshot`] |
//! | `GET /_sim/notifications[?out_trade_no=…]` | [`NotificationSnapshot`]s, oldest first |
//! | `GET /_sim/public_key` | the simulator's Alipay public key (PEM) |
//!
//! The order endpoints take `app_id` in the query string or as `{"app_id": "…"}` in a JSON
//! body; it may be left out when only one app is configured. Errors are
//! `{"error": "…"}` with 400, 404 or 409.

mod control;
mod gateway;
mod notify;
mod trade;

pub use crate::delivery::{DeliveryAttempt, DeliveryState};
pub use notify::NotificationSnapshot;
pub use trade::{OrderStage, RefundSnapshot, TradeSnapshot, TradeStatus};

use paymux_crypto::{KeyError, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// The `auth_code` (payment code) scripts of `alipay.trade.pay`. A code must look like a real
/// one (16–24 digits starting with 25–30), else `ACQ.PAYMENT_AUTH_CODE_INVALID`. The first six
/// digits choose the script; any well-formed code that matches no script below pays at once.
///
/// | `auth_code` starts with | Answer of `trade.pay` | The trade afterwards |
/// |---|---|---|
/// | anything else, e.g. [`SUCCESS`](auth_codes::SUCCESS) | `10000`, paid | `TRADE_SUCCESS`, notified |
/// | `289901` ([`WAIT_THEN_SUCCESS`](auth_codes::WAIT_THEN_SUCCESS)) | `10003` (buyer entering the password) | `WAIT_BUYER_PAY`; the [`AlipayConfig::pay_wait_queries`]-th `trade.query` finds it `TRADE_SUCCESS` (notified) |
/// | `289902` ([`WAIT_FOREVER`](auth_codes::WAIT_FOREVER)) | `10003` | stays `WAIT_BUYER_PAY` until cancelled, closed or timed out (or [`AlipaySimulator::pay`]) |
/// | `289903` ([`UNKNOWN_ERROR_PAID`](auth_codes::UNKNOWN_ERROR_PAID)) | `20000 isp.unknow-error` | actually `TRADE_SUCCESS` (notified) |
/// | `289904` ([`SYSTEM_ERROR_PAID`](auth_codes::SYSTEM_ERROR_PAID)) | `40004 ACQ.SYSTEM_ERROR` | actually `TRADE_SUCCESS` (notified) |
/// | `289905` ([`AUTH_CODE_INVALID`](auth_codes::AUTH_CODE_INVALID)) | `40004 ACQ.PAYMENT_AUTH_CODE_INVALID` | no trade |
/// | `289906` ([`BALANCE_NOT_ENOUGH`](auth_codes::BALANCE_NOT_ENOUGH)) | `40004 ACQ.BUYER_BALANCE_NOT_ENOUGH` | no trade |
pub mod auth_codes {
    /// Pays at once (as does any well-formed code without a script prefix).
    pub const SUCCESS: &str = "289900000000000001";
    /// `10003`, then `TRADE_SUCCESS` after [`super::AlipayConfig::pay_wait_queries`] queries.
    pub const WAIT_THEN_SUCCESS: &str = "289901000000000001";
    /// `10003`, and the buyer never confirms: the gateway has to cancel.
    pub const WAIT_FOREVER: &str = "289902000000000001";
    /// `20000 isp.unknow-error` although the payment went through.
    pub const UNKNOWN_ERROR_PAID: &str = "289903000000000001";
    /// `40004 ACQ.SYSTEM_ERROR` although the payment went through.
    pub const SYSTEM_ERROR_PAID: &str = "289904000000000001";
    /// `40004 ACQ.PAYMENT_AUTH_CODE_INVALID`.
    pub const AUTH_CODE_INVALID: &str = "289905000000000001";
    /// `40004 ACQ.BUYER_BALANCE_NOT_ENOUGH`.
    pub const BALANCE_NOT_ENOUGH: &str = "289906000000000001";
}

/// Milliseconds since the Unix epoch. Injected so tests can move time (timeouts, timestamp
/// checks); notification retries sleep on tokio's timer instead (see
/// [`Knobs::notify_time_scale`]).
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The wall clock.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    })
}

/// Alipay's redelivery intervals after the first attempt: 4m, 10m, 10m, 1h, 2h, 6h, 15h.
pub fn default_notify_schedule() -> Vec<Duration> {
    [
        4 * 60,
        10 * 60,
        10 * 60,
        3600,
        2 * 3600,
        6 * 3600,
        15 * 3600,
    ]
    .into_iter()
    .map(Duration::from_secs)
    .collect()
}

/// A merchant app: its `app_id` and the public key of the app key pair, which verifies the
/// requests it signs.
#[derive(Clone, Debug)]
pub struct AlipayApp {
    pub app_id: String,
    pub public_key: Arc<VerifyingKey>,
}

impl AlipayApp {
    pub fn new(app_id: impl Into<String>, public_key: VerifyingKey) -> Self {
        Self {
            app_id: app_id.into(),
            public_key: Arc::new(public_key),
        }
    }

    /// The public key as PEM (any line width) or as the bare base64 Alipay's console shows.
    pub fn from_pem(
        app_id: impl Into<String>,
        public_key: &str,
    ) -> Result<Self, paymux_channels::Error> {
        Ok(Self::new(
            app_id,
            paymux_channels::keys::verifying_key(public_key)?,
        ))
    }
}

/// Runtime switches, settable at any time through [`AlipaySimulator::set_knobs`] or
/// `POST /_sim/knobs`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Knobs {
    /// The next N calls to `gateway.do` that pass the gateway checks answer
    /// `20000 isp.unknow-error` (signed, in `<method>_response`).
    pub fail_next: u32,
    /// When set, only calls to this method count towards and are failed by `fail_next`.
    pub fail_method: Option<String>,
    /// A failed call is still carried out before the `20000` is returned (the answer is lost,
    /// not the request). By default it has no effect.
    pub fail_after_effect: bool,
    /// Every `gateway.do` answer is delayed this long.
    pub latency_ms: u64,
    /// The next N notifications are never sent (recorded as [`DeliveryState::Dropped`]).
    pub drop_notifications: u32,
    /// The next N notifications are POSTed twice on their first attempt.
    pub duplicate_notifications: u32,
    /// Multiplies the redelivery delays: `0.00001` turns 4 minutes into 2.4 ms.
    pub notify_time_scale: f64,
    /// The next N `alipay.trade.cancel` calls answer `40004 ACQ.SYSTEM_ERROR` with
    /// `retry_flag=Y` and have no effect.
    pub cancel_retry_next: u32,
    /// The next N new refunds answer `10000` with `fund_change=N` and are not made: accepted,
    /// no money moved. The same `out_request_no` sent again is then a new refund.
    pub refund_unmoved_next: u32,
}

impl Knobs {
    fn check(&self) -> Result<(), String> {
        crate::control::check_time_scale(self.notify_time_scale)
    }
}

impl Default for Knobs {
    fn default() -> Self {
        Self {
            fail_next: 0,
            fail_method: None,
            fail_after_effect: false,
            latency_ms: 0,
            drop_notifications: 0,
            duplicate_notifications: 0,
            notify_time_scale: 1.0,
            cancel_retry_next: 0,
            refund_unmoved_next: 0,
        }
    }
}

/// How the simulator is set up. Start from [`AlipayConfig::new`] and override fields.
#[derive(Clone)]
pub struct AlipayConfig {
    /// The apps allowed to call (more can be added with [`AlipaySimulator::add_app`]).
    pub apps: Vec<AlipayApp>,
    /// "Alipay's" private key, which signs responses and notifications; generated when `None`.
    pub alipay_private_key: Option<Arc<SigningKey>>,
    /// `seller_id` in notifications (the merchant's 2088… partner id).
    pub seller_id: String,
    /// `seller_email` in notifications.
    pub seller_email: String,
    pub now_ms: Clock,
    /// How far a request `timestamp` may be from the clock.
    pub timestamp_tolerance_secs: i64,
    /// For [`auth_codes::WAIT_THEN_SUCCESS`]: the query that finds the trade paid.
    pub pay_wait_queries: u32,
    /// How long a precreated QR code can be scanned (2 h).
    pub qr_validity_secs: i64,
    /// When an unpaid trade closes without `time_expire`/`timeout_express` (2 h).
    pub default_timeout_secs: i64,
    /// How long after payment `trade.cancel` may still refund (24 h; Alipay does not
    /// document it).
    pub cancel_window_secs: i64,
    /// How long after payment refunds are possible before `TRADE_FINISHED` (365 days).
    pub refund_window_secs: i64,
    /// Delays between notification attempts, see [`default_notify_schedule`].
    pub notify_schedule: Vec<Duration>,
    /// Per-attempt timeout of a notification POST.
    pub notify_timeout: Duration,
    /// Write `/` as `\/` in response JSON, as Alipay's serialiser sometimes does, to catch
    /// verifiers that re-serialise instead of using the exact bytes.
    pub escape_slashes: bool,
    /// The initial knobs.
    pub knobs: Knobs,
}

impl Default for AlipayConfig {
    fn default() -> Self {
        Self {
            apps: Vec::new(),
            alipay_private_key: None,
            seller_id: "2088101106499364".to_owned(),
            seller_email: "merchant@example.com".to_owned(),
            now_ms: system_clock(),
            timestamp_tolerance_secs: 15 * 60,
            pay_wait_queries: 2,
            qr_validity_secs: 2 * 3600,
            default_timeout_secs: 2 * 3600,
            cancel_window_secs: 24 * 3600,
            refund_window_secs: 365 * 24 * 3600,
            notify_schedule: default_notify_schedule(),
            notify_timeout: Duration::from_secs(10),
            escape_slashes: false,
            knobs: Knobs::default(),
        }
    }
}

impl fmt::Debug for AlipayConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlipayConfig")
            .field("apps", &self.apps)
            .field("seller_id", &self.seller_id)
            .field("pay_wait_queries", &self.pay_wait_queries)
            .field("knobs", &self.knobs)
            .finish_non_exhaustive()
    }
}

impl AlipayConfig {
    pub fn new() -> Self {
        Self::default()
    }

    #[must_use]
    pub fn with_app(mut self, app: AlipayApp) -> Self {
        self.apps.push(app);
        self
    }

    #[must_use]
    pub fn with_alipay_key(mut self, key: SigningKey) -> Self {
        self.alipay_private_key = Some(Arc::new(key));
        self
    }

    /// The Alipay private key as PEM or bare base64 (PKCS#8 or PKCS#1).
    pub fn with_alipay_key_pem(self, pem: &str) -> Result<Self, paymux_channels::Error> {
        Ok(self.with_alipay_key(paymux_channels::keys::signing_key(pem)?))
    }

    #[must_use]
    pub fn with_clock(mut self, now_ms: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        self.now_ms = Arc::new(now_ms);
        self
    }

    #[must_use]
    pub fn with_knobs(mut self, knobs: Knobs) -> Self {
        self.knobs = knobs;
        self
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SimulatorError {
    #[error("Alipay key: {0}")]
    Key(#[from] KeyError),
    #[error("HTTP client for notifications: {0}")]
    Http(String),
}

/// Why a test hook refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HookError {
    #[error("unknown app_id `{0}`")]
    UnknownApp(String),
    #[error("no order `{0}`")]
    NotFound(String),
    #[error("the QR code of `{0}` has expired")]
    QrExpired(String),
    #[error("order `{0}` was cancelled before it was paid")]
    Voided(String),
    #[error("trade `{out_trade_no}` is {status}")]
    InvalidState {
        out_trade_no: String,
        status: String,
    },
}

/// The simulator. Cheap to clone: clones share one state.
#[derive(Clone)]
pub struct AlipaySimulator {
    inner: Arc<Inner>,
}

impl fmt::Debug for AlipaySimulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlipaySimulator").finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    key: Arc<SigningKey>,
    public_key_pem: String,
    settings: Settings,
    clock: Clock,
    http: reqwest::Client,
    state: Mutex<trade::State>,
}

/// The fixed part of the configuration.
struct Settings {
    seller_id: String,
    seller_email: String,
    timestamp_tolerance_secs: i64,
    pay_wait_queries: u32,
    qr_validity_ms: i64,
    default_timeout_ms: i64,
    cancel_window_ms: i64,
    refund_window_ms: i64,
    notify_schedule: Vec<Duration>,
    escape_slashes: bool,
}

impl AlipaySimulator {
    /// Builds the simulator, generating the Alipay key when none is configured.
    ///
    /// # Panics
    ///
    /// Only when key generation or the HTTP client fails (no system randomness or TLS
    /// roots); use [`AlipaySimulator::try_new`] to handle that.
    #[allow(clippy::expect_used)]
    pub fn new(config: AlipayConfig) -> Self {
        Self::try_new(config).expect("Alipay simulator setup")
    }

    pub fn try_new(config: AlipayConfig) -> Result<Self, SimulatorError> {
        let key = match config.alipay_private_key {
            Some(key) => key,
            None => Arc::new(SigningKey::generate()?),
        };
        let public_key_pem = key.public_key_pem()?;
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.notify_timeout)
            .connect_timeout(config.notify_timeout)
            .user_agent("Mozilla/4.0")
            .build()
            .map_err(|e| SimulatorError::Http(e.to_string()))?;
        let ms = |secs: i64| secs.saturating_mul(1000);
        let settings = Settings {
            seller_id: config.seller_id,
            seller_email: config.seller_email,
            timestamp_tolerance_secs: config.timestamp_tolerance_secs,
            pay_wait_queries: config.pay_wait_queries.max(1),
            qr_validity_ms: ms(config.qr_validity_secs),
            default_timeout_ms: ms(config.default_timeout_secs),
            cancel_window_ms: ms(config.cancel_window_secs),
            refund_window_ms: ms(config.refund_window_secs),
            notify_schedule: config.notify_schedule,
            escape_slashes: config.escape_slashes,
        };
        let apps = config
            .apps
            .into_iter()
            .map(|app| (app.app_id, app.public_key))
            .collect::<HashMap<_, _>>();
        let state = trade::State::new(apps, config.knobs);
        Ok(Self {
            inner: Arc::new(Inner {
                key,
                public_key_pem,
                settings,
                clock: config.now_ms,
                http,
                state: Mutex::new(state),
            }),
        })
    }

    /// The Alipay public key (SPKI PEM) to configure in the gateway.
    pub fn public_key_pem(&self) -> &str {
        &self.inner.public_key_pem
    }

    /// The same key as the bare base64 Alipay's console shows.
    pub fn public_key_base64(&self) -> String {
        self.inner
            .public_key_pem
            .lines()
            .filter(|line| !line.starts_with("-----"))
            .collect()
    }

    /// `POST /gateway.do` (GET is accepted too) and the `/_sim/…` control endpoints.
    pub fn router(&self) -> axum::Router {
        axum::Router::new()
            .route(
                "/gateway.do",
                axum::routing::post(gateway::handle).get(gateway::handle),
            )
            .merge(control::routes())
            .with_state(self.clone())
    }

    /// Allows one more app to call.
    pub fn add_app(&self, app: AlipayApp) {
        self.lock().apps.insert(app.app_id, app.public_key);
    }

    pub fn knobs(&self) -> Knobs {
        self.lock().knobs.clone()
    }

    pub fn set_knobs(&self, knobs: Knobs) {
        self.lock().knobs = knobs;
    }

    /// Changes some knobs in place: `sim.update_knobs(|k| k.fail_next = 1)`.
    pub fn update_knobs(&self, change: impl FnOnce(&mut Knobs)) {
        change(&mut self.lock().knobs);
    }

    /// The buyer scans the QR code of a precreated order: the trade now exists in
    /// `WAIT_BUYER_PAY`. Scanning a trade that is already waiting changes nothing.
    pub fn scan(&self, app_id: &str, out_trade_no: &str) -> Result<TradeSnapshot, HookError> {
        self.hook(app_id, out_trade_no, false)
    }

    /// The buyer pays: a precreated order is scanned first if need be, and a trade waiting
    /// for payment (from a scan or a `trade.pay` that answered `10003`) becomes
    /// `TRADE_SUCCESS`, and the notification goes out.
    pub fn pay(&self, app_id: &str, out_trade_no: &str) -> Result<TradeSnapshot, HookError> {
        self.hook(app_id, out_trade_no, true)
    }

    /// The order as the simulator sees it, precreated or not.
    pub fn trade(&self, app_id: &str, out_trade_no: &str) -> Option<TradeSnapshot> {
        let now = self.now_ms();
        let (snapshot, deliveries) = {
            let mut state = self.lock();
            let deliveries = state.sweep(&self.inner, now);
            let key = (app_id.to_owned(), out_trade_no.to_owned());
            (state.snapshot(&key), deliveries)
        };
        self.spawn_deliveries(deliveries);
        snapshot
    }

    /// Every notification so far, oldest first, with its attempts.
    pub fn notifications(&self) -> Vec<NotificationSnapshot> {
        self.lock()
            .notifications
            .iter()
            .map(|n| n.snapshot())
            .collect()
    }

    fn hook(
        &self,
        app_id: &str,
        out_trade_no: &str,
        pay: bool,
    ) -> Result<TradeSnapshot, HookError> {
        let now = self.now_ms();
        let (result, deliveries) = {
            let mut state = self.lock();
            let mut deliveries = state.sweep(&self.inner, now);
            let result = state.buyer_hook(app_id, out_trade_no, pay, now);
            deliveries.extend(state.flush(&self.inner, now));
            (result, deliveries)
        };
        self.spawn_deliveries(deliveries);
        result
    }

    fn now_ms(&self) -> i64 {
        (self.inner.clock)()
    }

    fn lock(&self) -> MutexGuard<'_, trade::State> {
        self.inner.lock()
    }

    fn spawn_deliveries(&self, ids: Vec<usize>) {
        notify::spawn(&self.inner, ids);
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, trade::State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
