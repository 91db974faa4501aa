//! The UnionPay online (upacp, 全渠道) simulator, version 5.1.0 with `signMethod=01`
//! (docs/channels/unionpay.md): `POST /gateway/api/backTransReq.do` and
//! `POST /gateway/api/queryTrans.do` as the acp SDK calls them, requests verified under each
//! merchant's RSA key, answers and notifications signed with the simulator's key, and backUrl
//! notifications redelivered until the merchant answers HTTP 200.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use paymux_simulators::unionpay::{UnionpayConfig, UnionpayMerchant, UnionpaySimulator};
//! let merchant_key = paymux_crypto::SigningKey::generate()?;
//! let merchant = UnionpayMerchant::from_pem("777290058110048", &merchant_key.public_key_pem()?)?
//!     .with_cert_id("68759663125");
//! let sim = UnionpaySimulator::new(UnionpayConfig::new().with_merchant(merchant));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! // Configure the gateway with `sim.root_certificate_pem()` as `unionpay_root_cert`,
//! // `sim.middle_certificate_pem()` as `unionpay_middle_cert` and `http://<addr>` as
//! // `gateway_url`.
//! axum::serve(listener, sim.router()).await?;
//! # Ok(()) }
//! ```
//!
//! # What it does like UnionPay
//!
//! Requests are `application/x-www-form-urlencoded`; answers are `k=v&…` strings, **not**
//! URL-encoded (read them with `paymux_channels::unionpay::parse_response`), always carrying
//! `version=5.1.0`, `encoding=UTF-8`, `signMethod=01`, the simulator's `certId` and a
//! `signature` (the double hash of docs/channels/unionpay.md, "Signing"), and, as UnionPay does,
//! the signing certificate as `signPubKeyCert`. The simulator is its own certificate authority:
//! a root and an intermediate certificate ([`UnionpaySimulator::root_certificate_pem`],
//! [`UnionpaySimulator::middle_certificate_pem`]) vouch for the signing certificate, whose
//! serial number is the answers' `certId`. [`UnionpaySimulator::rotate_signing_certificate`]
//! replaces the signing key and certificate as UnionPay routinely does; a client that trusts the
//! chain (as the acp SDK does) is not affected, one that pinned the public key is.
//!
//! Refusals (`respCode`, with a Chinese `respMsg`). The checks run in this order: the common
//! fields present (`13`), their format (`10`), the merchant (`31`), the signature (`11`), the
//! permission (`32`), the transaction's own fields (`13`), then the business rules.
//!
//! | `respCode` | When |
//! |---|---|
//! | `10` 报文格式错误 | the body is not a form; `version` is not `5.1.0`; `signMethod` not `01`; `encoding` not `UTF-8`; `txnTime` not `yyyyMMddHHmmss`; `orderId` not 8–40 letters or digits; `accessType` not `0`; `channelType` not `07`/`08`; `txnAmt` not a positive integer (fen); `currencyCode` not `156`; a malformed `qrNo` or `payTimeout` |
//! | `13` 报文交易要素缺失 | a required field is missing or blank (common ones, then those of the `txnType`) |
//! | `31` 商户状态不正确 | unknown `merId` |
//! | `11` 验证签名失败 | `signature` missing or wrong under the merchant's key, or `certId` not the one registered for the merchant |
//! | `32` 无此交易权限 | `bizType` not `000000` (QR payments); a `txnType/txnSubType` this simulator does not offer, or sent to the wrong endpoint (only `00/00` goes to `queryTrans.do`) |
//! | `12` 重复交易 | an `orderId` this merchant already used for a transaction |
//! | `34` 查无此交易 | query: no transaction with this `orderId` **and** `txnTime` (an unpaid merchant-presented QR is not a transaction yet) |
//! | `35` 原交易不存在或状态不正确 | refund/cancel: unknown `origQryId`, or the payment is not successful (or was cancelled or reversed); cancel after the day of the payment; reversal after the day of the payment or of a non-`01/06` transaction |
//! | `36` 与原交易信息不符 | cancel: `txnAmt` is not the payment's amount, or it has been refunded |
//! | `33` 交易金额超限 | refund: `txnAmt` exceeds what is left to refund (refunds accepted so far count, pending ones too) |
//! | `64` 卡上的余额不足 | consumer code [`qr_nos::DECLINED`] |
//!
//! Transactions (`txnType/txnSubType`):
//!
//! * `01/07` apply for a merchant-presented QR: answers `respCode=00` with `qrCode` (a
//!   `https://qr.95516.com/…` URL) but no `queryId`: there is no transaction until the payer
//!   pays it ([`UnionpaySimulator::pay`], `POST /_sim/orders/{orderId}/pay`), which gives it a
//!   `queryId`, makes it successful and notifies `backUrl`. `payTimeout` (`yyyyMMddHHmmss`,
//!   default [`UnionpayConfig::qr_validity_secs`] after the request) ends the QR: paying it
//!   afterwards is refused, and it never becomes a transaction (query keeps answering `34`).
//! * `01/06` consumer-presented code: scripted by `qrNo`, see [`qr_nos`].
//! * `00/00` query by `orderId` + `txnTime` (both must match what was sent): `respCode=00` with
//!   `origRespCode` `00` (success), `05` (processing), or the failure code; `queryId` of the
//!   queried transaction. Works for payments, refunds and cancels alike.
//! * `04/00` refund (`backUrl` optional: no notification without it): a new `orderId` of its own, `origQryId` = the payment's `queryId`, any
//!   amount up to what is left. Answers `respCode=00` (accepted) with the refund's `queryId`;
//!   the result is final by notification or query. A refund of a payment made with a balance
//!   settles at once (`origRespCode=00`, notified); one made with a bank card (QR paid with
//!   `{"card": true}`, or [`qr_nos::CARD`]) stays `origRespCode=05` for
//!   [`UnionpayConfig::card_refund_delay_secs`] of simulated time (a day by default), then
//!   succeeds (notified when a call or hook notices it).
//! * `31/00` cancel (消费撤销): a new `orderId`, `origQryId` of the payment, `txnAmt` equal to
//!   it; only on the payment's own day (Beijing time) and before any refund. Synchronous.
//! * `99/01` reversal (冲正) of a consumer-code payment, by the **original** `orderId` and
//!   `txnTime`: a processing payment never completes; a successful one is undone (money
//!   back). A query of a reversed payment answers `origRespCode=01`. Reversing an `orderId`
//!   never seen answers `00` and voids it: a late `01/06` with it gets `12` (an assumption,
//!   like the Alipay simulator's cancel of an unknown order).
//!
//! Result codes `03`/`04`/`05` mean "unknown, query". The `respCode` catalogue here follows
//! the acp 5.1.0 documentation as far as we know it; `33`, `35`, `36` and `64` are
//! the best matches from that catalogue, not confirmed against the test environment.
//!
//! # Notifications
//!
//! Every payment that succeeds (QR paid, consumer code paid, a scripted wait that completes)
//! and every refund or cancel that settles is POSTed to its `backUrl` as a signed form
//! (URL-encoded, unlike the synchronous answers): the transaction's `txnType`/`txnSubType`,
//! `orderId`, `txnTime`, `txnAmt`, `queryId`, `respCode`/`respMsg`, `traceNo`, `traceTime`,
//! `settleDate`, `settleAmt`, the request's `reqReserved` when it had one, and for refunds and
//! cancels `origQryId`. Any HTTP 200
//! acknowledges it; otherwise it is redelivered after each delay of
//! [`UnionpayConfig::notify_schedule`] (1, 2, 4, 8, 16 minutes: 6 attempts; the real schedule
//! is unverified), multiplied by [`Knobs::notify_time_scale`].
//!
//! # Control endpoints (test hooks over HTTP)
//!
//! | Endpoint | Effect |
//! |---|---|
//! | `GET /_sim/knobs` | the current [`Knobs`] as JSON |
//! | `POST /_sim/knobs` | merges a JSON object of [`Knobs`] fields, answers the new knobs |
//! | `POST /_sim/orders/{orderId}/pay` | the payer pays a QR order (`{"merId": …, "card": true}` optional) |
//! | `GET /_sim/orders/{orderId}` | the transaction's [`TxnSnapshot`] |
//! | `GET /_sim/notifications[?orderId=…]` | [`NotificationSnapshot`]s, oldest first |
//! | `GET /_sim/public_key` | the current signing key's public key (PEM) |
//! | `GET /_sim/certificates` | `{"root", "middle", "signing", "cert_id"}`: the chain (PEM) and the signing certificate's `certId` |
//! | `POST /_sim/certificates/rotate` | a new signing key and certificate; answers as `GET /_sim/certificates` |
//!
//! `merId` may be left out (query string or JSON body) when only one merchant is registered.

mod certificates;
mod control;
mod gateway;
mod notify;
mod txn;

pub use crate::alipay::{Clock, system_clock};
pub use crate::delivery::{DeliveryAttempt, DeliveryState};
pub use notify::NotificationSnapshot;
pub use txn::{TxnSnapshot, TxnStatus};

use paymux_crypto::{KeyError, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// The consumer codes (`qrNo`) of `01/06`. A code must be 19 digits starting with `62`, else
/// `respCode=10`. The first six digits choose the script; any well-formed code that matches no
/// script pays at once.
///
/// | `qrNo` starts with | Answer of `01/06` | The payment afterwards |
/// |---|---|---|
/// | anything else, e.g. [`SUCCESS`](qr_nos::SUCCESS) | `00` with `queryId` | successful, notified |
/// | `629901` ([`WAIT_THEN_SUCCESS`](qr_nos::WAIT_THEN_SUCCESS)) | `05` (the payer confirms on the phone) | successful [`UnionpayConfig::scan_wait_secs`] of simulated time later (notified) |
/// | `629902` ([`WAIT_FOREVER`](qr_nos::WAIT_FOREVER)) | `05` | processing until reversed (or [`UnionpaySimulator::pay`]) |
/// | `629903` ([`DECLINED`](qr_nos::DECLINED)) | `64` 卡上的余额不足 | failed (query: `origRespCode=64`) |
/// | `629904` ([`UNKNOWN_PAID`](qr_nos::UNKNOWN_PAID)) | `03` (communication timeout) | actually successful (notified) |
/// | `629905` ([`CARD`](qr_nos::CARD)) | `00` | successful, paid with a bank card: its refunds take [`UnionpayConfig::card_refund_delay_secs`] |
pub mod qr_nos {
    /// Pays at once (as does any well-formed code without a script prefix).
    pub const SUCCESS: &str = "6299000000000000001";
    /// `05`, then successful after [`super::UnionpayConfig::scan_wait_secs`].
    pub const WAIT_THEN_SUCCESS: &str = "6299010000000000001";
    /// `05`, and the payer never confirms: the merchant has to reverse.
    pub const WAIT_FOREVER: &str = "6299020000000000001";
    /// `64` 卡上的余额不足.
    pub const DECLINED: &str = "6299030000000000001";
    /// `03` although the payment went through.
    pub const UNKNOWN_PAID: &str = "6299040000000000001";
    /// Pays at once with a bank card: refunds take a day.
    pub const CARD: &str = "6299050000000000001";
}

/// UnionPay's redelivery intervals after the first attempt: 1, 2, 4, 8, 16 minutes
/// (unverified: UnionPay only says it retries "a few times").
pub fn default_notify_schedule() -> Vec<Duration> {
    [60, 120, 240, 480, 960]
        .into_iter()
        .map(Duration::from_secs)
        .collect()
}

/// A merchant: its `merId`, the public key of its signing certificate, and that certificate's
/// `certId` (any `certId` is accepted when none is registered).
#[derive(Clone, Debug)]
pub struct UnionpayMerchant {
    pub mer_id: String,
    pub cert_id: Option<String>,
    pub public_key: Arc<VerifyingKey>,
}

impl UnionpayMerchant {
    pub fn new(mer_id: impl Into<String>, public_key: VerifyingKey) -> Self {
        Self {
            mer_id: mer_id.into(),
            cert_id: None,
            public_key: Arc::new(public_key),
        }
    }

    /// The public key as PEM or bare base64.
    pub fn from_pem(
        mer_id: impl Into<String>,
        public_key: &str,
    ) -> Result<Self, paymux_channels::Error> {
        Ok(Self::new(
            mer_id,
            paymux_channels::keys::verifying_key(public_key)?,
        ))
    }

    #[must_use]
    pub fn with_cert_id(mut self, cert_id: impl Into<String>) -> Self {
        self.cert_id = Some(cert_id.into());
        self
    }
}

/// How a failed call fails ([`Knobs::fail_next`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailMode {
    /// A signed answer with `respCode=03` (交易通讯超时，请发起查询交易).
    Unknown,
    /// HTTP 500 with no UnionPay answer at all.
    Http500,
    /// The call is carried out and answers `A6` (有缺陷的成功, success with a defect) where it
    /// would answer `00`; a query answers `origRespCode=A6` for a transaction that succeeded.
    /// The acp SDK's demos read `A6` as `00`, confirmed by a query or the notification.
    PartialSuccess,
}

/// Runtime switches, settable at any time through [`UnionpaySimulator::set_knobs`] or
/// `POST /_sim/knobs`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Knobs {
    /// The next N calls that pass the checks fail as [`Knobs::fail_mode`] says.
    pub fail_next: u32,
    pub fail_mode: FailMode,
    /// When set (`"04"`, `"00"`, …), only calls of this `txnType` count towards `fail_next`.
    pub fail_txn_type: Option<String>,
    /// A failed call is still carried out (the answer is lost, not the request).
    pub fail_after_effect: bool,
    /// Every answer is delayed this long.
    pub latency_ms: u64,
    /// The next N notifications are never sent (recorded as [`DeliveryState::Dropped`]).
    pub drop_notifications: u32,
    /// The next N notifications are POSTed twice on their first attempt.
    pub duplicate_notifications: u32,
    /// The first attempt of every notification waits this long (real time).
    pub notify_delay_ms: u64,
    /// Multiplies the redelivery delays: `0.0001` turns a minute into 6 ms.
    pub notify_time_scale: f64,
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
            fail_mode: FailMode::Unknown,
            fail_txn_type: None,
            fail_after_effect: false,
            latency_ms: 0,
            drop_notifications: 0,
            duplicate_notifications: 0,
            notify_delay_ms: 0,
            notify_time_scale: 1.0,
        }
    }
}

/// How the simulator is set up. Start from [`UnionpayConfig::new`] and override fields.
#[derive(Clone)]
pub struct UnionpayConfig {
    pub merchants: Vec<UnionpayMerchant>,
    /// "UnionPay's" private key, signing answers and notifications; generated when `None`.
    pub unionpay_private_key: Option<Arc<SigningKey>>,
    /// The serial number of the first signing certificate, its `certId` in answers (each
    /// rotation adds one).
    pub cert_id: u64,
    pub now_ms: Clock,
    /// [`qr_nos::WAIT_THEN_SUCCESS`]: how long the payer takes to confirm (10 s).
    pub scan_wait_secs: i64,
    /// How long a QR code lives without `payTimeout` (1 h).
    pub qr_validity_secs: i64,
    /// How long a refund to a bank card takes (1 day).
    pub card_refund_delay_secs: i64,
    /// Delays between notification attempts, see [`default_notify_schedule`].
    pub notify_schedule: Vec<Duration>,
    /// Per-attempt timeout of a notification POST.
    pub notify_timeout: Duration,
    pub knobs: Knobs,
}

impl Default for UnionpayConfig {
    fn default() -> Self {
        Self {
            merchants: Vec::new(),
            unionpay_private_key: None,
            cert_id: 69_629_715_588,
            now_ms: system_clock(),
            scan_wait_secs: 10,
            qr_validity_secs: 3600,
            card_refund_delay_secs: 24 * 3600,
            notify_schedule: default_notify_schedule(),
            notify_timeout: Duration::from_secs(10),
            knobs: Knobs::default(),
        }
    }
}

impl fmt::Debug for UnionpayConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnionpayConfig")
            .field("merchants", &self.merchants)
            .field("cert_id", &self.cert_id)
            .field("knobs", &self.knobs)
            .finish_non_exhaustive()
    }
}

impl UnionpayConfig {
    pub fn new() -> Self {
        Self::default()
    }

    #[must_use]
    pub fn with_merchant(mut self, merchant: UnionpayMerchant) -> Self {
        self.merchants.push(merchant);
        self
    }

    #[must_use]
    pub fn with_unionpay_key(mut self, key: SigningKey) -> Self {
        self.unionpay_private_key = Some(Arc::new(key));
        self
    }

    /// The simulator's private key as PEM or bare base64 (PKCS#8 or PKCS#1).
    pub fn with_unionpay_key_pem(self, pem: &str) -> Result<Self, paymux_channels::Error> {
        Ok(self.with_unionpay_key(paymux_channels::keys::signing_key(pem)?))
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
    #[error("UnionPay key: {0}")]
    Key(#[from] KeyError),
    #[error("HTTP client for notifications: {0}")]
    Http(String),
    #[error("certificates: {0}")]
    Certificate(String),
}

/// Why a test hook refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HookError {
    #[error("unknown merId `{0}`")]
    UnknownMerchant(String),
    #[error("no order `{0}`")]
    NotFound(String),
    #[error("the QR code of `{0}` has expired")]
    QrExpired(String),
    #[error("order `{order_id}` is {status}")]
    InvalidState { order_id: String, status: String },
}

/// The simulator. Cheap to clone: clones share one state.
#[derive(Clone)]
pub struct UnionpaySimulator {
    inner: Arc<Inner>,
}

impl fmt::Debug for UnionpaySimulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnionpaySimulator").finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    authority: certificates::Authority,
    /// Replaced whole on rotation; answers take the current one.
    signer: Mutex<Arc<certificates::Signer>>,
    settings: Settings,
    clock: Clock,
    http: reqwest::Client,
    state: Mutex<txn::State>,
}

struct Settings {
    scan_wait_ms: i64,
    qr_validity_ms: i64,
    card_refund_delay_ms: i64,
    notify_schedule: Vec<Duration>,
}

impl UnionpaySimulator {
    /// Builds the simulator, generating its key when none is configured.
    ///
    /// # Panics
    ///
    /// Only when key generation or the HTTP client fails; see [`UnionpaySimulator::try_new`].
    #[allow(clippy::expect_used)]
    pub fn new(config: UnionpayConfig) -> Self {
        Self::try_new(config).expect("UnionPay simulator setup")
    }

    pub fn try_new(config: UnionpayConfig) -> Result<Self, SimulatorError> {
        let key = match config.unionpay_private_key {
            Some(key) => key,
            None => Arc::new(SigningKey::generate()?),
        };
        let now_secs = (config.now_ms)().div_euclid(1000);
        let authority = certificates::Authority::new(now_secs)?;
        let signer = authority.issue(key, config.cert_id, now_secs)?;
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.notify_timeout)
            .connect_timeout(config.notify_timeout)
            .build()
            .map_err(|e| SimulatorError::Http(e.to_string()))?;
        let ms = |secs: i64| secs.saturating_mul(1000);
        let settings = Settings {
            scan_wait_ms: ms(config.scan_wait_secs),
            qr_validity_ms: ms(config.qr_validity_secs),
            card_refund_delay_ms: ms(config.card_refund_delay_secs),
            notify_schedule: config.notify_schedule,
        };
        let merchants = config
            .merchants
            .into_iter()
            .map(|m| (m.mer_id.clone(), m))
            .collect::<HashMap<_, _>>();
        Ok(Self {
            inner: Arc::new(Inner {
                authority,
                signer: Mutex::new(Arc::new(signer)),
                settings,
                clock: config.now_ms,
                http,
                state: Mutex::new(txn::State::new(merchants, config.knobs)),
            }),
        })
    }

    /// The current signing key's public key (SPKI PEM), for a gateway that pins it as
    /// `unionpay_public_key` (it stops verifying at the next rotation).
    pub fn public_key_pem(&self) -> String {
        self.inner.signer().public_key_pem.clone()
    }

    /// The `certId` the simulator's answers carry now.
    pub fn cert_id(&self) -> String {
        self.inner.signer().cert_id.clone()
    }

    /// The root certificate (PEM), to configure as `unionpay_root_cert`.
    pub fn root_certificate_pem(&self) -> &str {
        &self.inner.authority.root_pem
    }

    /// The intermediate certificate (PEM), to configure as `unionpay_middle_cert`.
    pub fn middle_certificate_pem(&self) -> &str {
        &self.inner.authority.middle_pem
    }

    /// The signing certificate (PEM) answers carry now as `signPubKeyCert`.
    pub fn signing_certificate_pem(&self) -> String {
        self.inner.signer().cert_pem.clone()
    }

    /// Replaces the signing key and certificate (the next serial number), as UnionPay does
    /// before its certificate expires. Notifications already built keep the old signature.
    pub fn rotate_signing_certificate(&self) -> Result<(), SimulatorError> {
        let next = self.inner.signer().cert_id.parse::<u64>().unwrap_or(0) + 1;
        let key = Arc::new(SigningKey::generate()?);
        let signer = self
            .inner
            .authority
            .issue(key, next, self.now_ms().div_euclid(1000))?;
        *self
            .inner
            .signer
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(signer);
        Ok(())
    }

    /// The two gateway endpoints and the `/_sim/…` control endpoints.
    pub fn router(&self) -> axum::Router {
        axum::Router::new()
            .route(
                "/gateway/api/backTransReq.do",
                axum::routing::post(gateway::back_trans),
            )
            .route(
                "/gateway/api/queryTrans.do",
                axum::routing::post(gateway::query_trans),
            )
            .merge(control::routes())
            .with_state(self.clone())
    }

    pub fn add_merchant(&self, merchant: UnionpayMerchant) {
        self.lock()
            .merchants
            .insert(merchant.mer_id.clone(), merchant);
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

    /// The payer pays a QR order (or confirms a processing consumer-code payment), with a
    /// balance or, when `card`, a bank card: the payment succeeds and is notified.
    pub fn pay(&self, mer_id: &str, order_id: &str, card: bool) -> Result<TxnSnapshot, HookError> {
        let now = self.now_ms();
        let (result, deliveries) = {
            let mut state = self.lock();
            let mut deliveries = state.sweep(&self.inner, now);
            let result = state.payer_pays(mer_id, order_id, card, now);
            deliveries.extend(state.flush(&self.inner, now));
            (result, deliveries)
        };
        notify::spawn(&self.inner, deliveries);
        result
    }

    /// A transaction (payment, QR order, refund, cancel) by its merchant and `orderId`.
    pub fn txn(&self, mer_id: &str, order_id: &str) -> Option<TxnSnapshot> {
        let now = self.now_ms();
        let (snapshot, deliveries) = {
            let mut state = self.lock();
            let mut deliveries = state.sweep(&self.inner, now);
            deliveries.extend(state.flush(&self.inner, now));
            (state.snapshot(mer_id, order_id), deliveries)
        };
        notify::spawn(&self.inner, deliveries);
        snapshot
    }

    /// Every notification so far, oldest first, with its attempts.
    pub fn notifications(&self) -> Vec<NotificationSnapshot> {
        self.lock()
            .notifications
            .iter()
            .map(notify::Notification::snapshot)
            .collect()
    }

    fn now_ms(&self) -> i64 {
        (self.inner.clock)()
    }

    fn lock(&self) -> MutexGuard<'_, txn::State> {
        self.inner.lock()
    }
}

impl Inner {
    fn signer(&self) -> Arc<certificates::Signer> {
        self.signer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn lock(&self) -> MutexGuard<'_, txn::State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
