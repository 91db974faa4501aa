//! The simulator's state: orders with their refunds, the timers that move them on (expiry,
//! refund settlement), the notifications and their outbox, and the background task that
//! drives timers and deliveries off the injected clock.

use super::WechatMerchant;
use super::notify::{self, NotificationKind, NotificationRecord};
use super::scripts::Script;
use super::{Clock, Knobs, PayOptions, PayResult, RefundOutcome, SimError, WechatConfig};
use paymux_channels::Params;
use paymux_channels::beijing_time;
use paymux_channels::wechat_v2::SignType;
use rand::RngExt;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// `(mch_id, out_trade_no)`.
pub(super) type OrderKey = (String, String);

/// The openid of the test payer unless a payment names another.
pub(super) const TEST_OPENID: &str = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o";

/// `trade_state` of `orderquery`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum TradeState {
    Success,
    /// Paid, and a refund has been started.
    Refund,
    NotPay,
    Closed,
    /// A micropay order reversed (and refunded if it had been paid).
    Revoked,
    UserPaying,
    PayError,
}

impl TradeState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "SUCCESS",
            Self::Refund => "REFUND",
            Self::NotPay => "NOTPAY",
            Self::Closed => "CLOSED",
            Self::Revoked => "REVOKED",
            Self::UserPaying => "USERPAYING",
            Self::PayError => "PAYERROR",
        }
    }

    /// `trade_state_desc` as WeChat words it.
    pub(super) fn desc(self) -> &'static str {
        match self {
            Self::Success => "支付成功",
            Self::Refund => "转入退款",
            Self::NotPay => "订单未支付",
            Self::Closed => "订单已关闭",
            Self::Revoked => "已撤销（付款码支付）",
            Self::UserPaying => "需要用户输入支付密码",
            Self::PayError => "支付失败，请撤销订单",
        }
    }

    pub(super) fn is_paid(self) -> bool {
        matches!(self, Self::Success | Self::Refund)
    }
}

/// `refund_status` of a refund.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RefundStatus {
    Processing,
    Success,
    Change,
    RefundClose,
}

impl RefundStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Processing => "PROCESSING",
            Self::Success => "SUCCESS",
            Self::Change => "CHANGE",
            Self::RefundClose => "REFUNDCLOSE",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TradeType {
    Native,
    Jsapi,
    App,
    Micropay,
}

impl TradeType {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Native => "NATIVE",
            Self::Jsapi => "JSAPI",
            Self::App => "APP",
            Self::Micropay => "MICROPAY",
        }
    }
}

pub(super) struct Payment {
    pub transaction_id: String,
    pub time_end_ms: i64,
    pub openid: String,
    pub bank_type: String,
}

pub(super) struct Order {
    pub appid: String,
    pub mch_id: String,
    pub out_trade_no: String,
    pub trade_type: TradeType,
    pub state: TradeState,
    /// The creating request without `nonce_str`, `sign`, `sign_type` and empty values: what a
    /// re-entry must repeat.
    pub fingerprint: Params,
    /// The algorithm of the creating request, used for the pay notify.
    pub sign_type: SignType,
    pub body: String,
    pub total_fee: i64,
    pub attach: String,
    pub device_info: String,
    pub notify_url: String,
    /// JSAPI: the payer named in the order.
    pub openid: Option<String>,
    pub prepay_id: Option<String>,
    pub code_url: Option<String>,
    pub created_ms: i64,
    pub expire_ms: Option<i64>,
    pub payment: Option<Payment>,
    pub auth_code: Option<String>,
    pub script: Option<Script>,
    /// `orderquery` calls seen while `USERPAYING`.
    pub queries: u32,
    pub refunds: Vec<Refund>,
    pub refunded_by_reverse: bool,
}

impl Order {
    /// The refunds still holding money: all but the closed ones.
    pub(super) fn refunded(&self) -> i64 {
        self.refunds
            .iter()
            .filter(|r| r.status != RefundStatus::RefundClose)
            .map(|r| r.refund_fee)
            .sum()
    }
}

pub(super) struct Refund {
    pub out_refund_no: String,
    pub refund_id: String,
    pub refund_fee: i64,
    pub status: RefundStatus,
    pub outcome: RefundOutcome,
    pub created_ms: i64,
    pub settle_ms: i64,
    pub success_ms: Option<i64>,
    pub notify_url: Option<String>,
    /// `refund_desc` as sent (shown to the payer).
    pub refund_desc: Option<String>,
    pub refund_account: String,
    pub recv_account: String,
}

pub(super) enum Timer {
    Expire(OrderKey),
    Settle(OrderKey, usize),
}

pub(super) struct State {
    pub knobs: Knobs,
    pub orders: HashMap<OrderKey, Order>,
    pub by_transaction: HashMap<String, OrderKey>,
    pub refund_ids: HashMap<String, (OrderKey, usize)>,
    /// `(mch_id, out_refund_no)`.
    pub refund_nos: HashMap<(String, String), (OrderKey, usize)>,
    pub used_auth_codes: HashSet<String>,
    pub notifications: Vec<NotificationRecord>,
    timers: BTreeMap<(i64, u64), Timer>,
    /// Notification attempts due, by notification id.
    outbox: BTreeMap<(i64, u64), usize>,
    seq: u64,
}

impl State {
    fn new(knobs: Knobs) -> Self {
        Self {
            knobs,
            orders: HashMap::new(),
            by_transaction: HashMap::new(),
            refund_ids: HashMap::new(),
            refund_nos: HashMap::new(),
            used_auth_codes: HashSet::new(),
            notifications: Vec::new(),
            timers: BTreeMap::new(),
            outbox: BTreeMap::new(),
            seq: 0,
        }
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    pub(super) fn add_timer(&mut self, due_ms: i64, timer: Timer) {
        let seq = self.next_seq();
        self.timers.insert((due_ms, seq), timer);
    }

    pub(super) fn schedule_attempt(&mut self, due_ms: i64, id: usize) {
        let seq = self.next_seq();
        self.outbox.insert((due_ms, seq), id);
    }

    /// Records a notification and schedules its first attempt.
    pub(super) fn push_notification(&mut self, mut record: NotificationRecord, due_ms: i64) {
        let id = self.notifications.len();
        record.id = id;
        self.notifications.push(record);
        self.schedule_attempt(due_ms, id);
    }

    /// A fresh `transaction_id` (28 digits: `4200`, branch, date, serial).
    pub(super) fn new_transaction_id(&self, now_ms: i64) -> String {
        loop {
            let id = format!("42000{}{}{}", digits(5), date(now_ms), digits(10));
            if !self.by_transaction.contains_key(&id) {
                return id;
            }
        }
    }

    /// A fresh `refund_id` (29 digits).
    pub(super) fn new_refund_id(&self, now_ms: i64) -> String {
        loop {
            let id = format!("50300{}{}{}", digits(4), date(now_ms), digits(12));
            if !self.refund_ids.contains_key(&id) {
                return id;
            }
        }
    }

    /// Marks `key` paid now.
    pub(super) fn complete_payment(
        &mut self,
        key: &OrderKey,
        now_ms: i64,
        openid: Option<String>,
        bank_type: Option<String>,
    ) {
        let transaction_id = self.new_transaction_id(now_ms);
        let Some(order) = self.orders.get_mut(key) else {
            return;
        };
        let openid = openid
            .or_else(|| order.openid.clone())
            .unwrap_or_else(|| TEST_OPENID.to_owned());
        order.state = TradeState::Success;
        order.payment = Some(Payment {
            transaction_id: transaction_id.clone(),
            time_end_ms: now_ms,
            openid,
            bank_type: bank_type.unwrap_or_else(|| "OTHERS".to_owned()),
        });
        self.by_transaction.insert(transaction_id, key.clone());
    }
}

pub(super) struct Inner {
    pub merchants: HashMap<String, WechatMerchant>,
    pub clock: Clock,
    pub wake: Arc<tokio::sync::Notify>,
    pub http: reqwest::Client,
    tick: Duration,
    state: Mutex<State>,
    driver_started: AtomicBool,
}

impl Inner {
    pub(super) fn new(config: WechatConfig) -> Self {
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("Mozilla/4.0")
            .build()
            .unwrap_or_default();
        Self {
            merchants: config
                .merchants
                .into_iter()
                .map(|m| (m.mch_id.clone(), m))
                .collect(),
            clock: config.now_ms,
            wake: Arc::new(tokio::sync::Notify::new()),
            http,
            tick: Duration::from_millis(config.tick_ms.max(1)),
            state: Mutex::new(State::new(config.knobs)),
            driver_started: AtomicBool::new(false),
        }
    }

    pub(super) fn now(&self) -> i64 {
        (self.clock)()
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts the background task, once, if there is a runtime to run it on.
    pub(super) fn ensure_driver(self: &Arc<Self>) {
        if self.driver_started.load(Ordering::Acquire) {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.driver_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let weak = Arc::downgrade(self);
        let wake = self.wake.clone();
        let tick = self.tick;
        handle.spawn(async move {
            loop {
                let Some(inner) = weak.upgrade() else {
                    break;
                };
                let pause = inner.pump().map_or(tick, |ms| {
                    tick.min(Duration::from_millis(u64::try_from(ms).unwrap_or(0)))
                });
                drop(inner);
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    () = wake.notified() => {}
                }
            }
        });
    }

    /// Runs the timers that are due, starts the notification attempts that are due, and says
    /// in how many (simulated) milliseconds the next thing is due. Runs inside the runtime.
    fn pump(self: &Arc<Self>) -> Option<i64> {
        let now = self.now();
        let (due, next) = {
            let mut st = self.lock();
            self.advance(&mut st, now);
            let mut due = Vec::new();
            while let Some(entry) = st.outbox.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                due.push(entry.remove());
            }
            let next = [st.outbox.keys().next(), st.timers.keys().next()]
                .into_iter()
                .flatten()
                .map(|(at, _)| at - now)
                .min();
            (due, next)
        };
        for id in due {
            tokio::spawn(notify::deliver(self.clone(), id));
        }
        next
    }

    /// Applies the timers due at `now`: expiries and refund settlements (which queue refund
    /// notifications).
    pub(super) fn advance(&self, st: &mut State, now: i64) {
        while let Some(entry) = st.timers.first_entry() {
            let due = entry.key().0;
            if due > now {
                break;
            }
            match entry.remove() {
                Timer::Expire(key) => {
                    if let Some(order) = st.orders.get_mut(&key)
                        && order.state == TradeState::NotPay
                    {
                        order.state = TradeState::Closed;
                    }
                }
                Timer::Settle(key, index) => self.settle(st, &key, index, due),
            }
        }
    }

    fn settle(&self, st: &mut State, key: &OrderKey, index: usize, at: i64) {
        let Some(order) = st.orders.get_mut(key) else {
            return;
        };
        let Some(refund) = order.refunds.get_mut(index) else {
            return;
        };
        if refund.status != RefundStatus::Processing {
            return;
        }
        refund.status = refund.outcome.status();
        if refund.status == RefundStatus::Success {
            refund.success_ms = Some(at);
        }
        let Some(url) = refund.notify_url.clone() else {
            return;
        };
        let Some(merchant) = self.merchants.get(&order.mch_id) else {
            return;
        };
        if let Some(body) = notify::refund_body(merchant, order, index) {
            let record = NotificationRecord::new(
                NotificationKind::Refund,
                order,
                order.refunds.get(index).map(|r| r.out_refund_no.clone()),
                url,
                body,
            );
            st.push_notification(record, at);
        }
    }

    /// Finds an order by number, with or without the merchant.
    fn find(
        &self,
        st: &State,
        mch_id: Option<&str>,
        out_trade_no: &str,
    ) -> Result<OrderKey, SimError> {
        if let Some(mch_id) = mch_id {
            let key = (mch_id.to_owned(), out_trade_no.to_owned());
            return if st.orders.contains_key(&key) {
                Ok(key)
            } else {
                Err(SimError::OrderNotFound)
            };
        }
        let mut found = st.orders.keys().filter(|(_, no)| no == out_trade_no);
        match (found.next(), found.next()) {
            (Some(key), None) => Ok(key.clone()),
            (None, _) => Err(SimError::OrderNotFound),
            (Some(_), Some(_)) => Err(SimError::AmbiguousOrder),
        }
    }

    pub(super) fn order(
        &self,
        mch_id: Option<&str>,
        out_trade_no: &str,
    ) -> Result<OrderView, SimError> {
        let now = self.now();
        let mut st = self.lock();
        self.advance(&mut st, now);
        let key = self.find(&st, mch_id, out_trade_no)?;
        st.orders
            .get(&key)
            .map(OrderView::of)
            .ok_or(SimError::OrderNotFound)
    }

    pub(super) fn orders(&self) -> Vec<OrderView> {
        let now = self.now();
        let mut st = self.lock();
        self.advance(&mut st, now);
        let mut views: Vec<OrderView> = st.orders.values().map(OrderView::of).collect();
        views.sort_by(|a, b| (&a.mch_id, &a.out_trade_no).cmp(&(&b.mch_id, &b.out_trade_no)));
        views
    }

    /// The test hook: the user pays (or fails to pay) an order.
    pub(super) fn pay(
        &self,
        mch_id: Option<&str>,
        out_trade_no: &str,
        options: &PayOptions,
    ) -> Result<OrderView, SimError> {
        let now = self.now();
        let mut st = self.lock();
        self.advance(&mut st, now);
        let key = self.find(&st, mch_id, out_trade_no)?;
        let Some(order) = st.orders.get_mut(&key) else {
            return Err(SimError::OrderNotFound);
        };
        match (order.trade_type, order.state, options.result) {
            (TradeType::Micropay, TradeState::UserPaying, PayResult::Success) => {
                st.complete_payment(&key, now, options.openid.clone(), options.bank_type.clone());
            }
            (TradeType::Micropay, TradeState::UserPaying, PayResult::Fail) => {
                order.state = TradeState::PayError;
            }
            (TradeType::Micropay, state, _) => {
                return Err(SimError::Conflict(format!(
                    "micropay order is {}; only USERPAYING orders wait for the user",
                    state.as_str()
                )));
            }
            (_, TradeState::NotPay, PayResult::Success) => {
                st.complete_payment(&key, now, options.openid.clone(), options.bank_type.clone());
                if let Some(order) = st.orders.get(&key)
                    && !order.notify_url.is_empty()
                    && let Some(merchant) = self.merchants.get(&order.mch_id)
                    && let Some(body) = notify::pay_body(merchant, order)
                {
                    let record = NotificationRecord::new(
                        NotificationKind::Pay,
                        order,
                        None,
                        order.notify_url.clone(),
                        body,
                    );
                    st.push_notification(record, now);
                }
            }
            (_, TradeState::NotPay, PayResult::Fail) => {
                return Err(SimError::Conflict(
                    "a failed scan leaves a NATIVE order unpaid; close it instead".into(),
                ));
            }
            (_, state, _) => {
                return Err(SimError::Conflict(format!(
                    "order is {}, not NOTPAY",
                    state.as_str()
                )));
            }
        }
        st.orders
            .get(&key)
            .map(OrderView::of)
            .ok_or(SimError::OrderNotFound)
    }
}

/// An order as the test hooks show it. Times are milliseconds on the simulator's clock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderView {
    pub mch_id: String,
    pub appid: String,
    pub out_trade_no: String,
    pub trade_type: String,
    pub trade_state: TradeState,
    pub total_fee: i64,
    pub body: String,
    pub attach: String,
    pub notify_url: String,
    pub prepay_id: Option<String>,
    pub code_url: Option<String>,
    pub transaction_id: Option<String>,
    pub openid: Option<String>,
    pub auth_code: Option<String>,
    pub created_ms: i64,
    pub expire_ms: Option<i64>,
    pub paid_ms: Option<i64>,
    /// `orderquery` calls answered `USERPAYING` so far.
    pub queries: u32,
    /// Reversed after payment: the whole amount went back.
    pub refunded_by_reverse: bool,
    pub refunds: Vec<RefundView>,
    /// `limit_pay`, `goods_tag` and `detail` as the creating request sent them.
    pub limit_pay: Option<String>,
    pub goods_tag: Option<String>,
    pub detail: Option<String>,
}

/// A refund as the test hooks show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundView {
    pub out_refund_no: String,
    pub refund_id: String,
    pub refund_fee: i64,
    pub refund_status: RefundStatus,
    pub created_ms: i64,
    /// When it settles (or settled).
    pub settle_ms: i64,
    pub success_ms: Option<i64>,
    pub notify_url: Option<String>,
    pub refund_desc: Option<String>,
}

impl OrderView {
    fn of(order: &Order) -> Self {
        Self {
            mch_id: order.mch_id.clone(),
            appid: order.appid.clone(),
            out_trade_no: order.out_trade_no.clone(),
            trade_type: order.trade_type.as_str().to_owned(),
            trade_state: order.state,
            total_fee: order.total_fee,
            body: order.body.clone(),
            attach: order.attach.clone(),
            notify_url: order.notify_url.clone(),
            prepay_id: order.prepay_id.clone(),
            code_url: order.code_url.clone(),
            transaction_id: order.payment.as_ref().map(|p| p.transaction_id.clone()),
            openid: order.payment.as_ref().map(|p| p.openid.clone()),
            auth_code: order.auth_code.clone(),
            created_ms: order.created_ms,
            expire_ms: order.expire_ms,
            paid_ms: order.payment.as_ref().map(|p| p.time_end_ms),
            queries: order.queries,
            refunded_by_reverse: order.refunded_by_reverse,
            refunds: order
                .refunds
                .iter()
                .map(|r| RefundView {
                    out_refund_no: r.out_refund_no.clone(),
                    refund_id: r.refund_id.clone(),
                    refund_fee: r.refund_fee,
                    refund_status: r.status,
                    created_ms: r.created_ms,
                    settle_ms: r.settle_ms,
                    success_ms: r.success_ms,
                    notify_url: r.notify_url.clone(),
                    refund_desc: r.refund_desc.clone(),
                })
                .collect(),
            limit_pay: order.fingerprint.get("limit_pay").map(str::to_owned),
            goods_tag: order.fingerprint.get("goods_tag").map(str::to_owned),
            detail: order.fingerprint.get("detail").map(str::to_owned),
        }
    }
}

const ALNUM: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn random_from(alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| {
            let i = rng.random_range(0..alphabet.len());
            char::from(alphabet.get(i).copied().unwrap_or(b'0'))
        })
        .collect()
}

pub(super) fn digits(len: usize) -> String {
    random_from(b"0123456789", len)
}

pub(super) fn hex(len: usize) -> String {
    random_from(b"0123456789abcdef", len)
}

pub(super) fn alnum(len: usize) -> String {
    random_from(ALNUM, len)
}

/// A 16-character `nonce_str`, as WeChat's.
pub(super) fn nonce() -> String {
    alnum(16)
}

/// `yyyyMMddHHmmss` (Beijing time) of a clock reading; empty if the clock is out of range.
pub(super) fn compact(ms: i64) -> String {
    beijing_time::format_compact(ms.div_euclid(1000)).unwrap_or_default()
}

/// `yyyy-MM-dd HH:mm:ss` (Beijing time).
pub(super) fn dashed(ms: i64) -> String {
    beijing_time::format_dashed(ms.div_euclid(1000)).unwrap_or_default()
}

fn date(ms: i64) -> String {
    let mut text = compact(ms);
    text.truncate(8);
    if text.len() < 8 {
        text = "20000101".to_owned();
    }
    text
}
