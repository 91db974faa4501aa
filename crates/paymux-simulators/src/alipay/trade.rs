//! The simulator's state and the face-to-face trade APIs (docs/channels/alipay.md).
//!
//! Every API returns `Ok(reply)` or `Err(reply)`, both already in Alipay's answer shape; the
//! error side lets `?` carry business failures out. State changes that Alipay notifies about are
//! queued as events and turned into signed notifications by [`State::flush`].

use super::gateway::Charset;
use super::notify::{self, Notification};
use super::{HookError, Inner, Knobs};
use paymux_channels::Params;
use paymux_channels::alipay::{format_yuan, parse_yuan};
use paymux_channels::beijing_time;
use paymux_crypto::VerifyingKey;
use paymux_crypto::digest::sha256;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub(super) type OrderKey = (String, String);
/// A `<method>_response` object: `code`, `msg`, maybe `sub_code`/`sub_msg`, then the fields.
pub(super) type Reply = Map<String, Value>;
type Fields = BTreeMap<&'static str, Value>;
type BizResult<T> = Result<T, Reply>;

pub(super) const PRECREATE: &str = "alipay.trade.precreate";
pub(super) const PAY: &str = "alipay.trade.pay";
pub(super) const QUERY: &str = "alipay.trade.query";
pub(super) const CANCEL: &str = "alipay.trade.cancel";
pub(super) const CLOSE: &str = "alipay.trade.close";
pub(super) const REFUND: &str = "alipay.trade.refund";
pub(super) const REFUND_QUERY: &str = "alipay.trade.fastpay.refund.query";
pub(super) const METHODS: [&str; 7] = [PRECREATE, PAY, QUERY, CANCEL, CLOSE, REFUND, REFUND_QUERY];

/// 100,000,000.00 yuan, Alipay's per-order ceiling.
const MAX_TOTAL_FEN: i64 = 10_000_000_000;

/// `trade_status` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TradeStatus {
    WaitBuyerPay,
    TradeSuccess,
    TradeClosed,
    TradeFinished,
}

impl TradeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WaitBuyerPay => "WAIT_BUYER_PAY",
            Self::TradeSuccess => "TRADE_SUCCESS",
            Self::TradeClosed => "TRADE_CLOSED",
            Self::TradeFinished => "TRADE_FINISHED",
        }
    }
}

/// Where an order stands from Alipay's side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStage {
    /// Precreated, QR not scanned: no trade exists yet (`ACQ.TRADE_NOT_EXIST`).
    Precreated,
    /// A trade exists; see `trade_status`.
    Trade,
    /// Cancelled before any trade existed: the number can no longer be paid.
    Voided,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundSnapshot {
    pub out_request_no: String,
    pub refund_amount: String,
    pub refund_reason: Option<String>,
    pub gmt_refund_pay: String,
}

/// An order as the simulator holds it (`GET /_sim/orders/{out_trade_no}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradeSnapshot {
    pub app_id: String,
    pub out_trade_no: String,
    pub stage: OrderStage,
    pub trade_status: Option<TradeStatus>,
    pub trade_no: Option<String>,
    pub qr_code: Option<String>,
    pub subject: String,
    pub total_amount: String,
    /// Cumulative refunded amount.
    pub refund_fee: String,
    pub refunds: Vec<RefundSnapshot>,
    pub notify_url: Option<String>,
    pub buyer_user_id: Option<String>,
    pub buyer_logon_id: Option<String>,
    pub gmt_create: Option<String>,
    pub gmt_payment: Option<String>,
    pub gmt_close: Option<String>,
    /// `close` or `refund` when `alipay.trade.cancel` ended the trade.
    pub cancel_action: Option<String>,
    /// Where the order was taken, as the merchant sent it.
    pub terminal_id: Option<String>,
    pub operator_id: Option<String>,
    pub store_id: Option<String>,
    /// `goods_detail` as sent: what was sold, line by line.
    pub goods_detail: Vec<Value>,
}

/// Where an order was taken (the merchant's terminal, cashier and store) and what was sold
/// there, as sent.
#[derive(Default)]
pub(super) struct Place {
    terminal_id: Option<String>,
    operator_id: Option<String>,
    store_id: Option<String>,
    goods_detail: Vec<Value>,
}

pub(super) struct Order {
    pub(super) app_id: String,
    pub(super) out_trade_no: String,
    pub(super) subject: String,
    pub(super) body: Option<String>,
    pub(super) total: i64,
    pub(super) notify_url: Option<String>,
    /// The character set of the request that named `notify_url`: Alipay notifies in it.
    pub(super) notify_charset: Charset,
    pub(super) qr_code: Option<String>,
    /// Until when the QR code can be scanned.
    qr_expires_ms: i64,
    /// When an unpaid trade closes.
    expires_ms: i64,
    /// Cancelled before a trade existed.
    voided_ms: Option<i64>,
    /// For `WAIT_THEN_SUCCESS`: queries left until the buyer has paid.
    pending_queries: Option<u32>,
    place: Place,
    pub(super) trade: Option<Trade>,
}

pub(super) struct Trade {
    pub(super) trade_no: String,
    pub(super) status: TradeStatus,
    pub(super) buyer_user_id: String,
    pub(super) buyer_logon_id: String,
    pub(super) created_ms: i64,
    pub(super) paid_ms: Option<i64>,
    pub(super) closed_ms: Option<i64>,
    pub(super) refunds: Vec<Refund>,
    cancel_action: Option<&'static str>,
}

pub(super) struct Refund {
    pub(super) out_request_no: String,
    pub(super) amount: i64,
    reason: Option<String>,
    pub(super) at_ms: i64,
}

impl Trade {
    pub(super) fn refunded(&self) -> i64 {
        self.refunds.iter().map(|r| r.amount).sum()
    }

    fn settle(&mut self, now: i64) {
        self.status = TradeStatus::TradeSuccess;
        self.paid_ms = Some(now);
    }

    fn close(&mut self, at: i64) {
        self.status = TradeStatus::TradeClosed;
        self.closed_ms = Some(at);
    }
}

/// What Alipay notifies about.
pub(super) enum Event {
    Paid,
    Closed,
    Finished,
    Refunded { out_biz_no: String },
}

pub(crate) struct State {
    pub(super) apps: HashMap<String, Arc<VerifyingKey>>,
    pub(super) knobs: Knobs,
    orders: HashMap<OrderKey, Order>,
    trade_nos: HashMap<String, OrderKey>,
    pub(super) notifications: Vec<Notification>,
    events: Vec<(OrderKey, Event)>,
    ids: Ids,
}

/// One gateway call after the gateway checks.
struct Call<'a> {
    inner: &'a Inner,
    app_id: &'a str,
    params: &'a Params,
    charset: Charset,
    biz: Biz<'a>,
    now: i64,
}

impl State {
    pub(super) fn new(apps: HashMap<String, Arc<VerifyingKey>>, knobs: Knobs) -> Self {
        Self {
            apps,
            knobs,
            orders: HashMap::new(),
            trade_nos: HashMap::new(),
            notifications: Vec::new(),
            events: Vec::new(),
            ids: Ids::new(),
        }
    }

    /// Runs one API call whose gateway checks passed. Notifications it causes are queued; call
    /// [`State::flush`] afterwards.
    pub(super) fn call(
        &mut self,
        inner: &Inner,
        app_id: &str,
        method: &str,
        params: &Params,
        charset: Charset,
        now: i64,
    ) -> Reply {
        let biz = match serde_json::from_str::<Value>(params.get("biz_content").unwrap_or("")) {
            Ok(Value::Object(biz)) => biz,
            _ => return invalid_parameter("biz_content"),
        };
        let call = Call {
            inner,
            app_id,
            params,
            charset,
            biz: Biz(&biz),
            now,
        };
        let result = match method {
            PRECREATE => self.precreate(&call),
            PAY => self.pay(&call),
            QUERY => self.query(&call),
            CANCEL => self.cancel(&call),
            CLOSE => self.close(&call),
            REFUND => self.refund(&call),
            REFUND_QUERY => self.refund_query(&call),
            _ => Err(invalid_parameter("method")),
        };
        result.unwrap_or_else(|reply| reply)
    }

    fn precreate(&mut self, c: &Call<'_>) -> BizResult<Reply> {
        let out_trade_no = c.out_trade_no()?;
        let total = total_amount(&c.biz)?;
        let subject = c.subject()?;
        let body = c.biz.text("body")?;
        let expires_ms = c.deadline()?;
        let echo = echo(&out_trade_no);
        let key = (c.app_id.to_owned(), out_trade_no.clone());
        if let Some(order) = self.orders.get_mut(&key) {
            refuse_repeat(order, &echo)?;
            let same = order.qr_code.is_some() && order.total == total && order.subject == subject;
            if !same {
                return Err(fail("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改", echo));
            }
            if let Some(url) = c.notify_url() {
                order.notify_url = Some(url);
                order.notify_charset = c.charset;
            }
            let mut fields = echo;
            fields.insert("qr_code", text(order.qr_code.clone().unwrap_or_default()));
            return Ok(success(fields));
        }
        let qr_code = self.ids.qr_code();
        let settings = &c.inner.settings;
        let place = Place::of(c)?;
        self.orders.insert(
            key,
            Order {
                app_id: c.app_id.to_owned(),
                out_trade_no,
                subject,
                body,
                total,
                notify_url: c.notify_url(),
                notify_charset: c.charset,
                qr_code: Some(qr_code.clone()),
                qr_expires_ms: expires_ms.min(c.now.saturating_add(settings.qr_validity_ms)),
                expires_ms,
                voided_ms: None,
                pending_queries: None,
                place,
                trade: None,
            },
        );
        let mut fields = echo;
        fields.insert("qr_code", text(qr_code));
        Ok(success(fields))
    }

    fn pay(&mut self, c: &Call<'_>) -> BizResult<Reply> {
        let out_trade_no = c.out_trade_no()?;
        let scene = c.biz.required("scene")?;
        if scene != "bar_code" && scene != "wave_code" {
            return Err(invalid_parameter("scene"));
        }
        let auth_code = c.biz.required("auth_code")?;
        let subject = c.subject()?;
        let total = total_amount(&c.biz)?;
        let body = c.biz.text("body")?;
        let expires_ms = c.deadline()?;
        let echo = echo(&out_trade_no);
        let key = (c.app_id.to_owned(), out_trade_no.clone());
        if let Some(order) = self.orders.get(&key) {
            refuse_repeat(order, &echo)?;
            if order.total != total {
                return Err(fail("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改", echo));
            }
        }
        let script = Script::of(&auth_code);
        match script {
            Script::AuthCodeInvalid => {
                return Err(fail(
                    "ACQ.PAYMENT_AUTH_CODE_INVALID",
                    "支付失败，获取顾客账户信息失败，请顾客刷新付款码后重新收款，如再次收款失败，请联系管理员处理。",
                    echo,
                ));
            }
            Script::BalanceNotEnough => {
                return Err(fail("ACQ.BUYER_BALANCE_NOT_ENOUGH", "买家余额不足", echo));
            }
            _ => {}
        }
        let place = Place::of(c)?;
        let order = self.orders.entry(key.clone()).or_insert_with(|| Order {
            app_id: c.app_id.to_owned(),
            out_trade_no,
            subject,
            body,
            total,
            notify_url: None,
            notify_charset: c.charset,
            qr_code: None,
            qr_expires_ms: c.now,
            expires_ms,
            voided_ms: None,
            pending_queries: None,
            place,
            trade: None,
        });
        if let Some(url) = c.notify_url() {
            order.notify_url = Some(url);
            order.notify_charset = c.charset;
        }
        if order.trade.is_none() {
            let trade = self.ids.trade(c.now);
            self.trade_nos.insert(trade.trade_no.clone(), key.clone());
            order.trade = Some(trade);
        }
        let Some(trade) = order.trade.as_mut() else {
            return Err(unknown_error());
        };
        match script {
            Script::WaitThenSuccess | Script::WaitForever => {
                order.pending_queries = match script {
                    Script::WaitThenSuccess => Some(c.inner.settings.pay_wait_queries),
                    _ => None,
                };
                let fields = trade_fields(order, false);
                return Ok(reply("10003", " order success pay inprocess", None, fields));
            }
            _ => {}
        }
        trade.settle(c.now);
        order.pending_queries = None;
        self.events.push((key, Event::Paid));
        match script {
            Script::UnknownErrorPaid => Err(unknown_error()),
            Script::SystemErrorPaid => Err(fail("ACQ.SYSTEM_ERROR", "系统错误", echo)),
            _ => Ok(success(trade_fields(order, false))),
        }
    }

    fn query(&mut self, c: &Call<'_>) -> BizResult<Reply> {
        let key = self.locate(c)?;
        let Some(order) = self.orders.get_mut(&key) else {
            return Err(not_exist(echo(&key.1)));
        };
        let Some(trade) = order.trade.as_mut() else {
            return Err(not_exist(echo(&key.1)));
        };
        if trade.status == TradeStatus::WaitBuyerPay
            && let Some(left) = order.pending_queries
        {
            if left <= 1 {
                trade.settle(c.now);
                order.pending_queries = None;
                self.events.push((key.clone(), Event::Paid));
            } else {
                order.pending_queries = Some(left - 1);
            }
        }
        Ok(success(trade_fields(order, true)))
    }

    fn cancel(&mut self, c: &Call<'_>) -> BizResult<Reply> {
        let key = self.locate(c)?;
        let mut fields = echo(&key.1);
        if take_one(&mut self.knobs.cancel_retry_next) {
            fields.insert("retry_flag", text("Y"));
            return Err(fail("ACQ.SYSTEM_ERROR", "系统错误", fields));
        }
        let now = c.now;
        let settings = &c.inner.settings;
        let order = self.orders.entry(key.clone()).or_insert_with(|| Order {
            app_id: key.0.clone(),
            out_trade_no: key.1.clone(),
            subject: String::new(),
            body: None,
            total: 0,
            notify_url: None,
            notify_charset: Charset::Utf8,
            qr_code: None,
            qr_expires_ms: now,
            expires_ms: now,
            voided_ms: Some(now),
            pending_queries: None,
            place: Place::default(),
            trade: None,
        });
        fields.insert("retry_flag", text("N"));
        let Some(trade) = order.trade.as_mut() else {
            order.voided_ms.get_or_insert(now);
            fields.insert("action", text("close"));
            return Ok(success(fields));
        };
        fields.insert("trade_no", text(&trade.trade_no));
        match trade.status {
            TradeStatus::WaitBuyerPay => {
                trade.close(now);
                trade.cancel_action = Some("close");
                order.pending_queries = None;
                self.events.push((key, Event::Closed));
                fields.insert("action", text("close"));
            }
            TradeStatus::TradeSuccess => {
                if trade.refunded() > 0 {
                    return Err(fail(
                        "ACQ.REASON_TRADE_REFUND_FEE_ERR",
                        "交易已发生退款，不能撤销",
                        fields,
                    ));
                }
                let paid = trade.paid_ms.unwrap_or(now);
                if now.saturating_sub(paid) > settings.cancel_window_ms {
                    return Err(fail(
                        "ACQ.TRADE_CANCEL_TIME_OUT",
                        "超过撤销时间范围",
                        fields,
                    ));
                }
                trade.refunds.push(Refund {
                    out_request_no: key.1.clone(),
                    amount: order.total,
                    reason: None,
                    at_ms: now,
                });
                trade.close(now);
                trade.cancel_action = Some("refund");
                fields.insert("action", text("refund"));
                fields.insert("gmt_refund_pay", text(dashed(now)));
                let out_biz_no = key.1.clone();
                self.events.push((key, Event::Refunded { out_biz_no }));
            }
            TradeStatus::TradeFinished => {
                return Err(fail("ACQ.TRADE_HAS_FINISHED", "交易已完结", fields));
            }
            TradeStatus::TradeClosed => {
                let refunded = trade.refunds.last();
                let action = trade.cancel_action.unwrap_or(if refunded.is_some() {
                    "refund"
                } else {
                    "close"
                });
                fields.insert("action", text(action));
                if action == "refund"
                    && let Some(refund) = refunded
                {
                    fields.insert("gmt_refund_pay", text(dashed(refund.at_ms)));
                }
            }
        }
        Ok(success(fields))
    }

    fn close(&mut self, c: &Call<'_>) -> BizResult<Reply> {
        let key = self.locate(c)?;
        let mut fields = echo(&key.1);
        let Some(Order {
            trade: Some(trade),
            pending_queries,
            ..
        }) = self.orders.get_mut(&key)
        else {
            return Err(not_exist(fields));
        };
        fields.insert("trade_no", text(&trade.trade_no));
        if trade.status != TradeStatus::WaitBuyerPay {
            return Err(fail("ACQ.TRADE_STATUS_ERROR", "交易状态不合法", fields));
        }
        trade.close(c.now);
        *pending_queries = None;
        self.events.push((key, Event::Closed));
        Ok(success(fields))
    }

    fn refund(&mut self, c: &Call<'_>) -> BizResult<Reply> {
        let key = self.locate(c)?;
        let echo = echo(&key.1);
        let amount_text = c.biz.required("refund_amount")?;
        let amount = parse_yuan(&amount_text).map_err(|_| invalid_parameter("refund_amount"))?;
        if amount <= 0 {
            return Err(fail(
                "ACQ.REASON_TRADE_REFUND_FEE_ERR",
                "退款金额无效",
                echo,
            ));
        }
        let out_request_no = c.biz.text("out_request_no")?;
        if out_request_no
            .as_ref()
            .is_some_and(|no| no.chars().count() > 64)
        {
            return Err(invalid_parameter("out_request_no"));
        }
        let reason = c.biz.text("refund_reason")?;
        let Some(order) = self.orders.get_mut(&key) else {
            return Err(not_exist(echo));
        };
        let total = order.total;
        let Some(trade) = order.trade.as_mut() else {
            return Err(not_exist(echo));
        };
        let mut fields = echo;
        fields.insert("trade_no", text(&trade.trade_no));
        fields.insert("buyer_logon_id", text(&trade.buyer_logon_id));
        fields.insert("buyer_user_id", text(&trade.buyer_user_id));
        let request_no = out_request_no.clone().unwrap_or_else(|| key.1.clone());
        if let Some(done) = trade
            .refunds
            .iter()
            .find(|r| r.out_request_no == request_no)
        {
            if done.amount != amount {
                return Err(fail(
                    "ACQ.DISCORDANT_REPEAT_REQUEST",
                    "请求信息不一致，同一退款请求号的退款金额不同",
                    fields,
                ));
            }
            fields.insert("fund_change", text("N"));
            fields.insert("refund_fee", text(format_yuan(trade.refunded())));
            fields.insert("gmt_refund_pay", text(dashed(done.at_ms)));
            return Ok(success(fields));
        }
        match trade.status {
            TradeStatus::TradeSuccess => {}
            TradeStatus::TradeFinished => {
                return Err(fail("ACQ.TRADE_HAS_FINISHED", "交易已完结", fields));
            }
            TradeStatus::WaitBuyerPay | TradeStatus::TradeClosed => {
                return Err(fail("ACQ.TRADE_STATUS_ERROR", "交易状态不合法", fields));
            }
        }
        let refunded = trade.refunded();
        if (out_request_no.is_none() && amount != total) || refunded.saturating_add(amount) > total
        {
            return Err(fail(
                "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL",
                "退款金额超限",
                fields,
            ));
        }
        if take_one(&mut self.knobs.refund_unmoved_next) {
            fields.insert("fund_change", text("N"));
            fields.insert("refund_fee", text(format_yuan(refunded)));
            return Ok(success(fields));
        }
        trade.refunds.push(Refund {
            out_request_no: request_no.clone(),
            amount,
            reason,
            at_ms: c.now,
        });
        if refunded + amount == total {
            trade.close(c.now);
        }
        fields.insert("fund_change", text("Y"));
        fields.insert("refund_fee", text(format_yuan(refunded + amount)));
        fields.insert("send_back_fee", text(format_yuan(amount)));
        fields.insert("gmt_refund_pay", text(dashed(c.now)));
        self.events.push((
            key,
            Event::Refunded {
                out_biz_no: request_no,
            },
        ));
        Ok(success(fields))
    }

    fn refund_query(&mut self, c: &Call<'_>) -> BizResult<Reply> {
        let key = self.locate(c)?;
        let out_request_no = c.biz.required("out_request_no")?;
        let Some(order) = self.orders.get(&key) else {
            return Err(not_exist(echo(&key.1)));
        };
        let Some(trade) = &order.trade else {
            return Err(not_exist(echo(&key.1)));
        };
        let Some(refund) = trade
            .refunds
            .iter()
            .find(|r| r.out_request_no == out_request_no)
        else {
            // The quirk: an unknown request number is a success with nothing in it.
            return Ok(success(Fields::new()));
        };
        let mut fields = echo(&key.1);
        fields.insert("trade_no", text(&trade.trade_no));
        fields.insert("out_request_no", text(&refund.out_request_no));
        fields.insert("total_amount", text(format_yuan(order.total)));
        fields.insert("refund_amount", text(format_yuan(refund.amount)));
        fields.insert("refund_status", text("REFUND_SUCCESS"));
        fields.insert("gmt_refund_pay", text(dashed(refund.at_ms)));
        if let Some(reason) = &refund.reason {
            fields.insert("refund_reason", text(reason));
        }
        Ok(success(fields))
    }

    /// The order a call is about: `trade_no` wins over `out_trade_no`. An unknown `trade_no`
    /// is `ACQ.TRADE_NOT_EXIST`; an unknown `out_trade_no` is returned as is, callers decide.
    fn locate(&self, c: &Call<'_>) -> BizResult<OrderKey> {
        let out_trade_no = c.biz.text("out_trade_no")?;
        if let Some(trade_no) = c.biz.text("trade_no")? {
            return match self.trade_nos.get(&trade_no) {
                Some(key) if key.0 == c.app_id => Ok(key.clone()),
                _ => Err(not_exist(
                    out_trade_no.as_deref().map(echo).unwrap_or_default(),
                )),
            };
        }
        match out_trade_no {
            Some(out_trade_no) => Ok((c.app_id.to_owned(), out_trade_no)),
            None => Err(invalid_parameter("out_trade_no")),
        }
    }

    /// Closes unpaid trades past their deadline and finishes paid ones past the refund
    /// window, then flushes the notifications that causes.
    pub(super) fn sweep(&mut self, inner: &Inner, now: i64) -> Vec<usize> {
        for (key, order) in &mut self.orders {
            let Some(trade) = order.trade.as_mut() else {
                continue;
            };
            match trade.status {
                TradeStatus::WaitBuyerPay if now >= order.expires_ms => {
                    trade.close(order.expires_ms);
                    order.pending_queries = None;
                    self.events.push((key.clone(), Event::Closed));
                }
                TradeStatus::TradeSuccess
                    if trade.paid_ms.is_some_and(|paid| {
                        now >= paid.saturating_add(inner.settings.refund_window_ms)
                    }) =>
                {
                    trade.status = TradeStatus::TradeFinished;
                    self.events.push((key.clone(), Event::Finished));
                }
                _ => {}
            }
        }
        self.flush(inner, now)
    }

    /// Turns queued events into signed notifications (for orders with a `notify_url`) and
    /// returns the ones to deliver.
    pub(super) fn flush(&mut self, inner: &Inner, now: i64) -> Vec<usize> {
        let mut deliver = Vec::new();
        for (key, event) in std::mem::take(&mut self.events) {
            let Some(order) = self.orders.get(&key) else {
                continue;
            };
            let (Some(url), Some(trade)) = (&order.notify_url, &order.trade) else {
                continue;
            };
            let notify_id = self.ids.notify_id(now);
            let params = notify::trade_params(inner, order, trade, &event, &notify_id, now);
            let dropped = take_one(&mut self.knobs.drop_notifications);
            let duplicated = !dropped && take_one(&mut self.knobs.duplicate_notifications);
            self.notifications.push(Notification::new(
                notify_id,
                order,
                trade.status,
                url.clone(),
                params,
                dropped,
                duplicated,
            ));
            if !dropped {
                deliver.push(self.notifications.len() - 1);
            }
        }
        deliver
    }

    /// The buyer's side: scanning the QR code, and paying.
    pub(super) fn buyer_hook(
        &mut self,
        app_id: &str,
        out_trade_no: &str,
        pay: bool,
        now: i64,
    ) -> Result<TradeSnapshot, HookError> {
        if !self.apps.contains_key(app_id) {
            return Err(HookError::UnknownApp(app_id.to_owned()));
        }
        let key = (app_id.to_owned(), out_trade_no.to_owned());
        let Some(order) = self.orders.get_mut(&key) else {
            return Err(HookError::NotFound(out_trade_no.to_owned()));
        };
        if order.voided_ms.is_some() {
            return Err(HookError::Voided(out_trade_no.to_owned()));
        }
        if order.trade.is_none() {
            if order.qr_code.is_none() {
                return Err(HookError::NotFound(out_trade_no.to_owned()));
            }
            if now >= order.qr_expires_ms {
                return Err(HookError::QrExpired(out_trade_no.to_owned()));
            }
            let trade = self.ids.trade(now);
            self.trade_nos.insert(trade.trade_no.clone(), key.clone());
            order.trade = Some(trade);
        }
        if let Some(trade) = order.trade.as_mut() {
            if trade.status != TradeStatus::WaitBuyerPay {
                return Err(HookError::InvalidState {
                    out_trade_no: out_trade_no.to_owned(),
                    status: trade.status.as_str().to_owned(),
                });
            }
            if pay {
                trade.settle(now);
                order.pending_queries = None;
                self.events.push((key.clone(), Event::Paid));
            }
        }
        self.snapshot(&key)
            .ok_or_else(|| HookError::NotFound(out_trade_no.to_owned()))
    }

    pub(super) fn snapshot(&self, key: &OrderKey) -> Option<TradeSnapshot> {
        let order = self.orders.get(key)?;
        let trade = order.trade.as_ref();
        let stage = match (trade, order.voided_ms) {
            (Some(_), _) => OrderStage::Trade,
            (None, Some(_)) => OrderStage::Voided,
            (None, None) => OrderStage::Precreated,
        };
        Some(TradeSnapshot {
            app_id: order.app_id.clone(),
            out_trade_no: order.out_trade_no.clone(),
            stage,
            trade_status: trade.map(|t| t.status),
            trade_no: trade.map(|t| t.trade_no.clone()),
            qr_code: order.qr_code.clone(),
            subject: order.subject.clone(),
            total_amount: format_yuan(order.total),
            refund_fee: format_yuan(trade.map_or(0, Trade::refunded)),
            refunds: trade
                .map(|t| {
                    t.refunds
                        .iter()
                        .map(|r| RefundSnapshot {
                            out_request_no: r.out_request_no.clone(),
                            refund_amount: format_yuan(r.amount),
                            refund_reason: r.reason.clone(),
                            gmt_refund_pay: dashed(r.at_ms),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            notify_url: order.notify_url.clone(),
            buyer_user_id: trade.map(|t| t.buyer_user_id.clone()),
            buyer_logon_id: trade.map(|t| t.buyer_logon_id.clone()),
            terminal_id: order.place.terminal_id.clone(),
            operator_id: order.place.operator_id.clone(),
            store_id: order.place.store_id.clone(),
            goods_detail: order.place.goods_detail.clone(),
            gmt_create: trade.map(|t| dashed(t.created_ms)),
            gmt_payment: trade.and_then(|t| t.paid_ms).map(dashed),
            gmt_close: trade.and_then(|t| t.closed_ms).map(dashed),
            cancel_action: trade.and_then(|t| t.cancel_action).map(str::to_owned),
        })
    }
}

/// A precreate or pay for an `out_trade_no` that already has a trade.
fn refuse_repeat(order: &Order, echo: &Fields) -> BizResult<()> {
    if order.voided_ms.is_some() {
        return Err(fail("ACQ.TRADE_HAS_CLOSE", "交易已经关闭", echo.clone()));
    }
    match order.trade.as_ref().map(|t| t.status) {
        Some(TradeStatus::TradeSuccess | TradeStatus::TradeFinished) => {
            Err(fail("ACQ.TRADE_HAS_SUCCESS", "交易已被支付", echo.clone()))
        }
        Some(TradeStatus::TradeClosed) => {
            Err(fail("ACQ.TRADE_HAS_CLOSE", "交易已经关闭", echo.clone()))
        }
        Some(TradeStatus::WaitBuyerPay) | None => Ok(()),
    }
}

/// The trade fields of `trade.pay` (`gmt_payment`) and `trade.query` (`send_pay_date`,
/// `trade_status`).
fn trade_fields(order: &Order, for_query: bool) -> Fields {
    let mut fields = echo(&order.out_trade_no);
    let Some(trade) = &order.trade else {
        return fields;
    };
    let total = format_yuan(order.total);
    let paid = if trade.paid_ms.is_some() {
        total.clone()
    } else {
        format_yuan(0)
    };
    fields.insert("trade_no", text(&trade.trade_no));
    fields.insert("buyer_logon_id", text(&trade.buyer_logon_id));
    fields.insert("buyer_user_id", text(&trade.buyer_user_id));
    fields.insert("total_amount", text(&total));
    fields.insert("buyer_pay_amount", text(&paid));
    fields.insert("invoice_amount", text(&paid));
    fields.insert("receipt_amount", text(&paid));
    fields.insert("point_amount", text(format_yuan(0)));
    if for_query {
        fields.insert("trade_status", text(trade.status.as_str()));
    }
    if let Some(paid_ms) = trade.paid_ms {
        let name = if for_query {
            "send_pay_date"
        } else {
            "gmt_payment"
        };
        fields.insert(name, text(dashed(paid_ms)));
        fields.insert(
            "fund_bill_list",
            serde_json::json!([{ "amount": total, "fund_channel": "ALIPAYACCOUNT" }]),
        );
    }
    fields
}

impl Place {
    fn of(c: &Call<'_>) -> BizResult<Place> {
        Ok(Place {
            terminal_id: c.biz.text("terminal_id")?,
            operator_id: c.biz.text("operator_id")?,
            store_id: c.biz.text("store_id")?,
            goods_detail: goods_detail(&c.biz)?,
        })
    }
}

/// `goods_detail`: an array of goods, each with `goods_id`, `goods_name`, `quantity` (a whole
/// number) and `price` (yuan, at most two decimals), as Alipay requires of every line.
fn goods_detail(biz: &Biz<'_>) -> BizResult<Vec<Value>> {
    let Some(value) = biz.0.get("goods_detail") else {
        return Ok(Vec::new());
    };
    let bad = || invalid_parameter("goods_detail");
    let lines = value.as_array().ok_or_else(bad)?;
    for line in lines {
        let line = Biz(line.as_object().ok_or_else(bad)?);
        line.required("goods_id").map_err(|_| bad())?;
        line.required("goods_name").map_err(|_| bad())?;
        let quantity = line.required("quantity").map_err(|_| bad())?;
        if quantity.parse::<u64>().is_err() {
            return Err(bad());
        }
        let price = line.required("price").map_err(|_| bad())?;
        let (whole, cents) = price.split_once('.').unwrap_or((&price, ""));
        let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !digits(whole) || cents.len() > 2 || !digits(cents) {
            return Err(bad());
        }
    }
    Ok(lines.clone())
}

/// Which script an `auth_code` selects (see [`super::auth_codes`]).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Script {
    Success,
    WaitThenSuccess,
    WaitForever,
    UnknownErrorPaid,
    SystemErrorPaid,
    AuthCodeInvalid,
    BalanceNotEnough,
}

impl Script {
    fn of(auth_code: &str) -> Self {
        let well_formed = (16..=24).contains(&auth_code.len())
            && auth_code.bytes().all(|b| b.is_ascii_digit())
            && auth_code
                .get(..2)
                .and_then(|p| p.parse::<u8>().ok())
                .is_some_and(|p| (25..=30).contains(&p));
        if !well_formed {
            return Self::AuthCodeInvalid;
        }
        match auth_code.get(..6) {
            Some("289901") => Self::WaitThenSuccess,
            Some("289902") => Self::WaitForever,
            Some("289903") => Self::UnknownErrorPaid,
            Some("289904") => Self::SystemErrorPaid,
            Some("289905") => Self::AuthCodeInvalid,
            Some("289906") => Self::BalanceNotEnough,
            _ => Self::Success,
        }
    }
}

/// Typed access to `biz_content`. Strings are taken as they are; numbers as their JSON text
/// (Alipay's parser is as lenient); empty strings count as absent.
struct Biz<'a>(&'a Map<String, Value>);

impl Biz<'_> {
    fn text(&self, name: &str) -> BizResult<Option<String>> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(invalid_parameter(name)),
        }
    }

    fn required(&self, name: &str) -> BizResult<String> {
        self.text(name)?.ok_or_else(|| invalid_parameter(name))
    }
}

impl Call<'_> {
    fn out_trade_no(&self) -> BizResult<String> {
        let out_trade_no = self.biz.required("out_trade_no")?;
        if out_trade_no.chars().count() > 64 {
            return Err(invalid_parameter("out_trade_no"));
        }
        Ok(out_trade_no)
    }

    fn subject(&self) -> BizResult<String> {
        let subject = self.biz.required("subject")?;
        if subject.chars().count() > 256 {
            return Err(invalid_parameter("subject"));
        }
        Ok(subject)
    }

    fn notify_url(&self) -> Option<String> {
        self.params
            .get("notify_url")
            .filter(|url| !url.is_empty())
            .map(str::to_owned)
    }

    /// When an unpaid trade closes: `time_expire` (Beijing `yyyy-MM-dd HH:mm:ss`), else
    /// `timeout_express` (`Nm`, `Nh`, `Nd` within 1m–15d, or `1c` for the end of the day),
    /// else the default, all counted from the request.
    fn deadline(&self) -> BizResult<i64> {
        if let Some(time_expire) = self.biz.text("time_expire")? {
            let secs = beijing_time::parse_dashed(&time_expire)
                .map_err(|_| invalid_parameter("time_expire"))?;
            return Ok(secs.saturating_mul(1000));
        }
        let Some(express) = self.biz.text("timeout_express")? else {
            return Ok(self
                .now
                .saturating_add(self.inner.settings.default_timeout_ms));
        };
        let bad = || invalid_parameter("timeout_express");
        if express == "1c" {
            const DAY: i64 = 86_400_000;
            const OFFSET: i64 = 8 * 3_600_000;
            let local = self.now.saturating_add(OFFSET);
            return Ok(local
                .div_euclid(DAY)
                .saturating_add(1)
                .saturating_mul(DAY)
                .saturating_sub(OFFSET));
        }
        let split = express.len().saturating_sub(1);
        let (number, unit) = (express.get(..split), express.get(split..));
        let number: i64 = number
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse().ok())
            .ok_or_else(bad)?;
        let minutes = match unit {
            Some("m") => number,
            Some("h") => number.saturating_mul(60),
            Some("d") => number.saturating_mul(1440),
            _ => return Err(bad()),
        };
        if !(1..=15 * 1440).contains(&minutes) {
            return Err(bad());
        }
        Ok(self.now.saturating_add(minutes * 60_000))
    }
}

fn total_amount(biz: &Biz<'_>) -> BizResult<i64> {
    let total = parse_yuan(&biz.required("total_amount")?)
        .map_err(|_| invalid_parameter("total_amount"))?;
    if total <= 0 {
        return Err(invalid_parameter("total_amount"));
    }
    if total > MAX_TOTAL_FEN {
        return Err(fail(
            "ACQ.TOTAL_FEE_EXCEED",
            "订单金额超过限额",
            Fields::new(),
        ));
    }
    Ok(total)
}

fn take_one(counter: &mut u32) -> bool {
    if *counter > 0 {
        *counter -= 1;
        true
    } else {
        false
    }
}

fn text(value: impl Into<String>) -> Value {
    Value::String(value.into())
}

fn echo(out_trade_no: &str) -> Fields {
    Fields::from([("out_trade_no", text(out_trade_no))])
}

/// `code`, `msg`, then `sub_code`/`sub_msg`, then the fields in name order (as Alipay emits).
pub(super) fn reply(code: &str, msg: &str, sub: Option<(&str, &str)>, fields: Fields) -> Reply {
    let mut reply = Map::new();
    reply.insert("code".to_owned(), text(code));
    reply.insert("msg".to_owned(), text(msg));
    if let Some((sub_code, sub_msg)) = sub {
        reply.insert("sub_code".to_owned(), text(sub_code));
        reply.insert("sub_msg".to_owned(), text(sub_msg));
    }
    for (name, value) in fields {
        reply.insert(name.to_owned(), value);
    }
    reply
}

fn success(fields: Fields) -> Reply {
    reply("10000", "Success", None, fields)
}

fn fail(sub_code: &str, sub_msg: &str, fields: Fields) -> Reply {
    reply(
        "40004",
        "Business Failed",
        Some((sub_code, sub_msg)),
        fields,
    )
}

fn not_exist(fields: Fields) -> Reply {
    fail("ACQ.TRADE_NOT_EXIST", "交易不存在", fields)
}

fn invalid_parameter(name: &str) -> Reply {
    fail(
        "ACQ.INVALID_PARAMETER",
        &format!("参数无效: {name}"),
        Fields::new(),
    )
}

/// `20000 isp.unknow-error` (sic), Alipay's "unknown, query or retry".
pub(super) fn unknown_error() -> Reply {
    reply(
        "20000",
        "Service Currently Unavailable",
        Some(("isp.unknow-error", "系统繁忙")),
        Fields::new(),
    )
}

/// `yyyy-MM-dd HH:mm:ss` in Beijing time.
pub(super) fn dashed(ms: i64) -> String {
    beijing_time::format_dashed(ms.div_euclid(1000))
        .unwrap_or_else(|_| "1970-01-01 08:00:00".to_owned())
}

/// `yyyy-MM-dd HH:mm:ss.SSS`, the `gmt_refund` form.
pub(super) fn dashed_millis(ms: i64) -> String {
    format!("{}.{:03}", dashed(ms), ms.rem_euclid(1000))
}

/// Identifiers that look like Alipay's: unique per simulator (a counter), different between
/// simulators (a random seed), no randomness API needed.
struct Ids {
    seed: [u8; 32],
    counter: u64,
}

impl Ids {
    fn new() -> Self {
        static INSTANCES: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let mut material = nanos.to_be_bytes().to_vec();
        material.extend(INSTANCES.fetch_add(1, Ordering::Relaxed).to_be_bytes());
        material.extend(std::process::id().to_be_bytes());
        Self {
            seed: sha256(&material),
            counter: 0,
        }
    }

    fn digest(&mut self, label: &str) -> [u8; 32] {
        self.counter += 1;
        let mut material = self.seed.to_vec();
        material.extend(label.as_bytes());
        material.extend(self.counter.to_be_bytes());
        sha256(&material)
    }

    fn digits(&mut self, label: &str, count: usize) -> String {
        self.digest(label)
            .iter()
            .take(count)
            .map(|b| char::from(b'0' + b % 10))
            .collect()
    }

    fn date(now: i64) -> String {
        beijing_time::format_compact(now.div_euclid(1000))
            .ok()
            .and_then(|t| t.get(..8).map(str::to_owned))
            .unwrap_or_else(|| "19700101".to_owned())
    }

    /// 28 digits: date, `22001`, 4 digits of seed, 11 of counter.
    fn trade(&mut self, now: i64) -> Trade {
        let seed = self.digits("trade", 4);
        let trade_no = format!("{}22001{seed}{:011}", Self::date(now), self.counter);
        let buyer_user_id = format!("2088{}", self.digits("buyer", 12));
        let masked = self.digits("logon", 6);
        let buyer_logon_id = format!(
            "1{}****{}",
            masked.get(..2).unwrap_or("38"),
            masked.get(2..).unwrap_or("0000")
        );
        Trade {
            trade_no,
            status: TradeStatus::WaitBuyerPay,
            buyer_user_id,
            buyer_logon_id,
            created_ms: now,
            paid_ms: None,
            closed_ms: None,
            refunds: Vec::new(),
            cancel_action: None,
        }
    }

    fn qr_code(&mut self) -> String {
        const ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
        let tail: String = self
            .digest("qr")
            .iter()
            .take(20)
            .map(|b| char::from(ALPHABET[usize::from(b % 36)]))
            .collect();
        format!("https://qr.alipay.com/bax0{tail}")
    }

    /// 34 digits, like `2019081500222155624068450559358070`.
    fn notify_id(&mut self, now: i64) -> String {
        format!("{}00222{}", Self::date(now), self.digits("notify", 21))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_code_scripts() {
        use super::super::auth_codes;
        assert!(Script::of(auth_codes::SUCCESS) == Script::Success);
        assert!(Script::of("281234567890123456") == Script::Success);
        assert!(Script::of(auth_codes::WAIT_THEN_SUCCESS) == Script::WaitThenSuccess);
        assert!(Script::of(auth_codes::WAIT_FOREVER) == Script::WaitForever);
        assert!(Script::of(auth_codes::UNKNOWN_ERROR_PAID) == Script::UnknownErrorPaid);
        assert!(Script::of(auth_codes::SYSTEM_ERROR_PAID) == Script::SystemErrorPaid);
        assert!(Script::of(auth_codes::AUTH_CODE_INVALID) == Script::AuthCodeInvalid);
        assert!(Script::of(auth_codes::BALANCE_NOT_ENOUGH) == Script::BalanceNotEnough);
        for bad in [
            "",
            "13456789012345678",
            "2812345",
            "31123456789012345678",
            "28abc4567890123456",
            "中文",
        ] {
            assert!(Script::of(bad) == Script::AuthCodeInvalid, "{bad}");
        }
    }

    #[test]
    fn ids_look_like_alipay() {
        let mut ids = Ids::new();
        let now = 1_528_425_296_000;
        let trade = ids.trade(now);
        assert_eq!(trade.trade_no.len(), 28);
        assert!(trade.trade_no.starts_with("2018060822001"));
        assert_eq!(trade.buyer_user_id.len(), 16);
        assert_ne!(ids.trade(now).trade_no, trade.trade_no);
        assert_eq!(ids.notify_id(now).len(), 34);
        assert!(ids.qr_code().starts_with("https://qr.alipay.com/bax0"));
        assert_eq!(dashed_millis(now + 320), "2018-06-08 10:34:56.320");
    }
}
