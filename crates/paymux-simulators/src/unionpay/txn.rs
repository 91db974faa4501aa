//! The transactions and their life (docs/channels/unionpay.md): QR orders, consumer-code payments,
//! refunds, cancels, reversals, all keyed by `(merId, orderId)`, with the `queryId` UnionPay
//! gives each; plus the time-driven changes (a scripted wait that completes, a card refund that
//! arrives, a QR that expires), applied whenever the simulator is called.

use super::notify::{self, Notification};
use super::{HookError, Inner, Knobs, UnionpayMerchant, qr_nos};
use paymux_channels::{Params, beijing_time};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Where a transaction stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxnStatus {
    /// A QR order nobody has paid: not a transaction yet (query: `34`).
    AwaitingPayer,
    /// A QR order whose `payTimeout` passed unpaid.
    Expired,
    /// `origRespCode=05`.
    Processing,
    Succeeded,
    Failed,
    /// A consumer-code payment undone by `99/01`.
    Reversed,
    /// A payment undone by a `31/00` cancel.
    Cancelled,
    /// An `orderId` reversed before UnionPay saw it: it can no longer be used.
    Voided,
}

/// A transaction as the simulator sees it (`GET /_sim/orders/{orderId}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnSnapshot {
    pub mer_id: String,
    pub order_id: String,
    pub txn_time: String,
    pub txn_type: String,
    pub txn_sub_type: String,
    /// Fen.
    pub txn_amt: i64,
    pub status: TxnStatus,
    pub query_id: Option<String>,
    pub qr_code: Option<String>,
    /// Refunds and cancels: the payment's `queryId`.
    pub orig_qry_id: Option<String>,
    /// Payments: the refunds accepted so far (pending ones too), fen.
    pub refunded: i64,
    /// Paid with a bank card (its refunds take a day).
    pub card: bool,
    /// What a query says in `origRespCode` (when it finds the transaction).
    pub orig_resp_code: Option<String>,
}

pub(super) struct Txn {
    pub(super) mer_id: String,
    pub(super) order_id: String,
    pub(super) txn_time: String,
    pub(super) txn_type: String,
    pub(super) txn_sub_type: String,
    pub(super) amount: i64,
    pub(super) back_url: Option<String>,
    pub(super) query_id: Option<String>,
    pub(super) status: TxnStatus,
    /// Why it failed: `(respCode, respMsg)`.
    failure: Option<(String, String)>,
    qr_code: Option<String>,
    expires_ms: Option<i64>,
    /// Processing until then (none: until someone acts).
    completes_ms: Option<i64>,
    /// Refunds and cancels: the payment.
    orig: Option<usize>,
    pub(super) orig_qry_id: Option<String>,
    card: bool,
    refunded: i64,
    pub(super) trace_no: String,
    pub(super) settled_ms: Option<i64>,
    /// The merchant's `reqReserved`, handed back in the transaction's notification.
    pub(super) req_reserved: Option<String>,
}

impl Txn {
    fn is_payment(&self) -> bool {
        self.txn_type == "01"
    }

    pub(super) fn orig_resp(&self) -> Option<(String, String)> {
        match self.status {
            TxnStatus::AwaitingPayer | TxnStatus::Expired | TxnStatus::Voided => None,
            TxnStatus::Processing => Some(("05".into(), "交易已受理，请稍后查询交易结果".into())),
            TxnStatus::Succeeded | TxnStatus::Cancelled => {
                Some(("00".into(), "成功[0000000]".into()))
            }
            TxnStatus::Reversed => Some(("01".into(), "交易失败[原交易已冲正]".into())),
            TxnStatus::Failed => Some(
                self.failure
                    .clone()
                    .unwrap_or_else(|| ("01".into(), "交易失败".into())),
            ),
        }
    }

    fn snapshot(&self) -> TxnSnapshot {
        TxnSnapshot {
            mer_id: self.mer_id.clone(),
            order_id: self.order_id.clone(),
            txn_time: self.txn_time.clone(),
            txn_type: self.txn_type.clone(),
            txn_sub_type: self.txn_sub_type.clone(),
            txn_amt: self.amount,
            status: self.status,
            query_id: self.query_id.clone(),
            qr_code: self.qr_code.clone(),
            orig_qry_id: self.orig_qry_id.clone(),
            refunded: self.refunded,
            card: self.card,
            orig_resp_code: self.orig_resp().map(|(code, _)| code),
        }
    }
}

/// A `respCode` with its `respMsg`: a refusal or a business answer.
pub(super) type Refusal = (&'static str, &'static str);

pub(super) const FORMAT: Refusal = ("10", "报文格式错误");
pub(super) const BAD_SIGNATURE: Refusal = ("11", "验证签名失败");
pub(super) const DUPLICATE: Refusal = ("12", "重复交易");
pub(super) const MISSING: Refusal = ("13", "报文交易要素缺失");
pub(super) const BAD_MERCHANT: Refusal = ("31", "商户状态不正确");
pub(super) const NOT_PERMITTED: Refusal = ("32", "无此交易权限");
pub(super) const OVER_AMOUNT: Refusal = ("33", "交易金额超限");
pub(super) const NOT_FOUND: Refusal = ("34", "查无此交易");
pub(super) const ORIG_STATE: Refusal = ("35", "原交易不存在或状态不正确");
pub(super) const ORIG_MISMATCH: Refusal = ("36", "与原交易信息不符");
pub(super) const DECLINED: Refusal = ("64", "卡上的余额不足");
pub(super) const TIMEOUT: Refusal = ("03", "交易通讯超时，请发起查询交易");
pub(super) const ACCEPTED: Refusal = ("05", "交易已受理，请稍后查询交易结果");
pub(super) const SUCCESS: Refusal = ("00", "成功[0000000]");
pub(super) const PARTIAL: Refusal = ("A6", "有缺陷的成功");

/// The required fields of each transaction, after the common ones.
pub(super) fn required_fields(
    txn_type: &str,
    txn_sub_type: &str,
) -> Option<&'static [&'static str]> {
    Some(match (txn_type, txn_sub_type) {
        ("01", "07") => &["txnAmt", "currencyCode", "backUrl", "channelType"],
        ("01", "06") => &["txnAmt", "currencyCode", "backUrl", "channelType", "qrNo"],
        ("00", "00") => &[],
        ("04", "00") => &["txnAmt", "origQryId", "channelType"],
        ("31", "00") => &["txnAmt", "origQryId", "channelType"],
        ("99", "01") => &[],
        _ => return None,
    })
}

pub(crate) struct State {
    pub(super) merchants: HashMap<String, UnionpayMerchant>,
    pub(super) knobs: Knobs,
    txns: Vec<Txn>,
    by_order: HashMap<(String, String), usize>,
    by_query_id: HashMap<String, usize>,
    pub(super) notifications: Vec<Notification>,
    /// Transactions with news for their `backUrl`, not yet turned into notifications.
    outbox: Vec<usize>,
    seq: u64,
}

/// What a call answers: the fields beyond the echoed ones.
pub(super) struct Answer {
    pub(super) code: Refusal,
    pub(super) fields: Params,
}

impl Answer {
    pub(super) fn new(code: Refusal) -> Self {
        Self {
            code,
            fields: Params::new(),
        }
    }

    fn with(mut self, name: &str, value: impl Into<String>) -> Self {
        self.fields.insert(name, value);
        self
    }

    /// The same answer as a success with a defect (`A6`): a query's `origRespCode`, or the
    /// call's own `respCode`, where it was `00`.
    pub(super) fn with_defect(mut self) -> Self {
        if self.fields.get("origRespCode") == Some("00") {
            self.fields.insert("origRespCode", PARTIAL.0);
            self.fields.insert("origRespMsg", PARTIAL.1);
        } else if self.code == SUCCESS {
            self.code = PARTIAL;
        }
        self
    }
}

fn compact(now_ms: i64) -> String {
    beijing_time::format_compact(now_ms.div_euclid(1000))
        .unwrap_or_else(|_| "20000101000000".into())
}

/// `txnAmt`: fen, a positive integer without sign or leading zero.
pub(super) fn parse_amount(text: &str) -> Option<i64> {
    if text.is_empty() || text.starts_with('0') || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// 19 digits starting with `62`, as UnionPay payment codes are.
pub(super) fn qr_no_ok(text: &str) -> bool {
    text.len() == 19 && text.starts_with("62") && text.bytes().all(|b| b.is_ascii_digit())
}

impl State {
    pub(super) fn new(merchants: HashMap<String, UnionpayMerchant>, knobs: Knobs) -> Self {
        Self {
            merchants,
            knobs,
            txns: Vec::new(),
            by_order: HashMap::new(),
            by_query_id: HashMap::new(),
            notifications: Vec::new(),
            outbox: Vec::new(),
            seq: 0,
        }
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// A 21-digit `queryId`: the time, then a sequence number.
    fn new_query_id(&mut self, id: usize, now: i64) -> String {
        let seq = self.next_seq();
        let query_id = format!("{}{:07}", compact(now), seq % 10_000_000);
        self.by_query_id.insert(query_id.clone(), id);
        query_id
    }

    fn insert(&mut self, txn: Txn) -> usize {
        let id = self.txns.len();
        self.by_order
            .insert((txn.mer_id.clone(), txn.order_id.clone()), id);
        self.txns.push(txn);
        id
    }

    fn new_txn(&mut self, p: &Params, amount: i64) -> Txn {
        let seq = self.next_seq();
        let field = |name: &str| p.get(name).unwrap_or_default().to_owned();
        Txn {
            mer_id: field("merId"),
            order_id: field("orderId"),
            txn_time: field("txnTime"),
            txn_type: field("txnType"),
            txn_sub_type: field("txnSubType"),
            amount,
            back_url: p.get("backUrl").map(str::to_owned),
            query_id: None,
            status: TxnStatus::Processing,
            failure: None,
            qr_code: None,
            expires_ms: None,
            completes_ms: None,
            orig: None,
            orig_qry_id: None,
            card: false,
            refunded: 0,
            trace_no: format!("{:06}", seq % 1_000_000),
            settled_ms: None,
            req_reserved: p
                .get("reqReserved")
                .filter(|v| !v.is_empty())
                .map(str::to_owned),
        }
    }

    fn succeed(&mut self, id: usize, now: i64) {
        if let Some(txn) = self.txns.get_mut(id) {
            txn.status = TxnStatus::Succeeded;
            txn.completes_ms = None;
            txn.settled_ms = Some(now);
            self.outbox.push(id);
        }
    }

    fn find(&self, mer_id: &str, order_id: &str) -> Option<usize> {
        self.by_order
            .get(&(mer_id.to_owned(), order_id.to_owned()))
            .copied()
    }

    /// A call that passed the gateway checks (format, merchant, signature).
    pub(super) fn call(&mut self, inner: &Inner, p: &Params, now: i64) -> Answer {
        let mer_id = p.get("merId").unwrap_or_default();
        let order_id = p.get("orderId").unwrap_or_default();
        let amount = match p.get("txnAmt") {
            None => 0,
            Some(text) => match parse_amount(text) {
                Some(amount) => amount,
                None => return Answer::new(FORMAT),
            },
        };
        if p.get("currencyCode").is_some_and(|c| c != "156") {
            return Answer::new(FORMAT);
        }
        match (
            p.get("txnType").unwrap_or_default(),
            p.get("txnSubType").unwrap_or_default(),
        ) {
            ("00", _) => self.query(mer_id, order_id, p.get("txnTime").unwrap_or_default()),
            ("99", _) => self.reverse(mer_id, order_id, p, now),
            (kind, _) => {
                if self.find(mer_id, order_id).is_some() {
                    return Answer::new(DUPLICATE);
                }
                match kind {
                    "01" => self.pay(inner, p, amount, now),
                    "04" => self.refund(inner, p, amount, now),
                    _ => self.cancel(p, amount, now),
                }
            }
        }
    }

    fn pay(&mut self, inner: &Inner, p: &Params, amount: i64, now: i64) -> Answer {
        let mut txn = self.new_txn(p, amount);
        if p.get("txnSubType") == Some("07") {
            let expires_ms = match p.get("payTimeout") {
                Some(text) => match beijing_time::parse_compact(text) {
                    Ok(secs) => secs.saturating_mul(1000),
                    Err(_) => return Answer::new(FORMAT),
                },
                None => now.saturating_add(inner.settings.qr_validity_ms),
            };
            let qr_code = format!("https://qr.95516.com/00010000/62{:017}", self.next_seq());
            txn.status = TxnStatus::AwaitingPayer;
            txn.expires_ms = Some(expires_ms);
            txn.qr_code = Some(qr_code.clone());
            self.insert(txn);
            return Answer::new(SUCCESS).with("qrCode", qr_code);
        }
        let qr_no = p.get("qrNo").unwrap_or_default();
        if !qr_no_ok(qr_no) {
            return Answer::new(FORMAT);
        }
        let id = self.insert(txn);
        let query_id = self.new_query_id(id, now);
        if let Some(txn) = self.txns.get_mut(id) {
            txn.query_id = Some(query_id.clone());
        }
        let script = qr_no.get(..6).unwrap_or_default();
        let code = match script {
            "629901" => {
                if let Some(txn) = self.txns.get_mut(id) {
                    txn.completes_ms = Some(now.saturating_add(inner.settings.scan_wait_ms));
                }
                ACCEPTED
            }
            "629902" => ACCEPTED,
            "629903" => {
                if let Some(txn) = self.txns.get_mut(id) {
                    txn.status = TxnStatus::Failed;
                    txn.failure = Some((DECLINED.0.into(), DECLINED.1.into()));
                }
                DECLINED
            }
            "629904" => {
                self.succeed(id, now);
                TIMEOUT
            }
            other => {
                if let Some(txn) = self.txns.get_mut(id) {
                    txn.card = other == &qr_nos::CARD[..6];
                }
                self.succeed(id, now);
                SUCCESS
            }
        };
        let answer = Answer::new(code);
        if code == TIMEOUT {
            answer
        } else {
            answer.with("queryId", query_id)
        }
    }

    fn query(&mut self, mer_id: &str, order_id: &str, txn_time: &str) -> Answer {
        let Some(txn) = self.find(mer_id, order_id).and_then(|id| self.txns.get(id)) else {
            return Answer::new(NOT_FOUND);
        };
        let Some((code, message)) = txn.orig_resp() else {
            return Answer::new(NOT_FOUND);
        };
        if txn.txn_time != txn_time {
            return Answer::new(NOT_FOUND);
        }
        let mut answer = Answer::new(SUCCESS)
            .with("origRespCode", code)
            .with("origRespMsg", message)
            .with("txnAmt", txn.amount.to_string())
            .with("traceNo", &txn.trace_no)
            .with("queryTxnType", &txn.txn_type)
            .with("queryTxnSubType", &txn.txn_sub_type);
        if let Some(query_id) = &txn.query_id {
            answer = answer.with("queryId", query_id);
        }
        if let Some(orig) = &txn.orig_qry_id {
            answer = answer.with("origQryId", orig);
        }
        if let Some(settled) = txn.settled_ms {
            answer = answer
                .with("traceTime", compact(settled).get(4..).unwrap_or_default())
                .with("settleDate", compact(settled).get(4..8).unwrap_or_default());
        }
        answer
    }

    /// The payment a refund or cancel names by `origQryId`, if it can still be undone.
    fn original(&self, p: &Params) -> Result<usize, Answer> {
        let orig = p.get("origQryId").unwrap_or_default();
        match self.by_query_id.get(orig).copied() {
            Some(id)
                if self.txns.get(id).is_some_and(|t| {
                    t.is_payment()
                        && t.status == TxnStatus::Succeeded
                        && Some(t.mer_id.as_str()) == p.get("merId")
                }) =>
            {
                Ok(id)
            }
            _ => Err(Answer::new(ORIG_STATE)),
        }
    }

    fn refund(&mut self, inner: &Inner, p: &Params, amount: i64, now: i64) -> Answer {
        let orig = match self.original(p) {
            Ok(orig) => orig,
            Err(answer) => return answer,
        };
        let (left, card) = match self.txns.get(orig) {
            Some(payment) => (payment.amount - payment.refunded, payment.card),
            None => return Answer::new(ORIG_STATE),
        };
        if amount > left {
            return Answer::new(OVER_AMOUNT);
        }
        let mut txn = self.new_txn(p, amount);
        txn.orig = Some(orig);
        txn.orig_qry_id = p.get("origQryId").map(str::to_owned);
        let id = self.insert(txn);
        let query_id = self.new_query_id(id, now);
        if let Some(payment) = self.txns.get_mut(orig) {
            payment.refunded += amount;
        }
        if let Some(txn) = self.txns.get_mut(id) {
            txn.query_id = Some(query_id.clone());
        }
        if card {
            if let Some(txn) = self.txns.get_mut(id) {
                txn.completes_ms = Some(now.saturating_add(inner.settings.card_refund_delay_ms));
            }
        } else {
            self.succeed(id, now);
        }
        Answer::new(SUCCESS)
            .with("queryId", query_id)
            .with("origQryId", p.get("origQryId").unwrap_or_default())
    }

    fn cancel(&mut self, p: &Params, amount: i64, now: i64) -> Answer {
        let orig = match self.original(p) {
            Ok(orig) => orig,
            Err(answer) => return answer,
        };
        let Some(payment) = self.txns.get(orig) else {
            return Answer::new(ORIG_STATE);
        };
        let today = compact(now);
        let paid_day = payment.settled_ms.map(compact).unwrap_or_default();
        if today.get(..8) != paid_day.get(..8) {
            return Answer::new(ORIG_STATE);
        }
        if payment.amount != amount || payment.refunded > 0 {
            return Answer::new(ORIG_MISMATCH);
        }
        let mut txn = self.new_txn(p, amount);
        txn.orig = Some(orig);
        txn.orig_qry_id = p.get("origQryId").map(str::to_owned);
        let id = self.insert(txn);
        let query_id = self.new_query_id(id, now);
        if let Some(payment) = self.txns.get_mut(orig) {
            payment.status = TxnStatus::Cancelled;
        }
        if let Some(txn) = self.txns.get_mut(id) {
            txn.query_id = Some(query_id.clone());
        }
        self.succeed(id, now);
        Answer::new(SUCCESS)
            .with("queryId", query_id)
            .with("origQryId", p.get("origQryId").unwrap_or_default())
    }

    /// `99/01`: names the original by its own `orderId` and `txnTime`.
    fn reverse(&mut self, mer_id: &str, order_id: &str, p: &Params, now: i64) -> Answer {
        let txn_time = p.get("txnTime").unwrap_or_default();
        let Some(id) = self.find(mer_id, order_id) else {
            let mut void = self.new_txn(p, 0);
            void.txn_type = "01".into();
            void.txn_sub_type = "06".into();
            void.status = TxnStatus::Voided;
            self.insert(void);
            return Answer::new(SUCCESS);
        };
        let Some(txn) = self.txns.get_mut(id) else {
            return Answer::new(ORIG_STATE);
        };
        let same_day = compact(now).get(..8) == txn.txn_time.get(..8);
        if txn.txn_sub_type != "06" || txn.txn_time != txn_time || !same_day {
            return Answer::new(ORIG_STATE);
        }
        match txn.status {
            TxnStatus::Processing | TxnStatus::Succeeded if txn.refunded == 0 => {
                txn.status = TxnStatus::Reversed;
                txn.completes_ms = None;
                Answer::new(SUCCESS)
            }
            TxnStatus::Failed | TxnStatus::Reversed | TxnStatus::Voided => Answer::new(SUCCESS),
            _ => Answer::new(ORIG_STATE),
        }
    }

    /// Applies what time has done: waits that complete, card refunds that arrive, QR codes
    /// that expire. Returns the notifications to send.
    pub(super) fn sweep(&mut self, inner: &Inner, now: i64) -> Vec<usize> {
        let mut done = Vec::new();
        for (id, txn) in self.txns.iter_mut().enumerate() {
            match txn.status {
                TxnStatus::Processing if txn.completes_ms.is_some_and(|at| at <= now) => {
                    done.push((id, txn.completes_ms.unwrap_or(now)));
                }
                TxnStatus::AwaitingPayer if txn.expires_ms.is_some_and(|at| at <= now) => {
                    txn.status = TxnStatus::Expired;
                }
                _ => {}
            }
        }
        for (id, at) in done {
            self.succeed(id, at);
        }
        self.flush(inner, now)
    }

    /// Turns the outbox into signed notifications (knobs permitting).
    pub(super) fn flush(&mut self, inner: &Inner, now: i64) -> Vec<usize> {
        let mut ids = Vec::new();
        for txn_id in std::mem::take(&mut self.outbox) {
            let Some(txn) = self.txns.get(txn_id) else {
                continue;
            };
            let Some(url) = txn.back_url.clone() else {
                continue;
            };
            let params = notify::params(inner, txn);
            let dropped = take_one(&mut self.knobs.drop_notifications);
            let duplicated = !dropped && take_one(&mut self.knobs.duplicate_notifications);
            let notification = Notification::new(txn, url, params, dropped, duplicated, now);
            self.notifications.push(notification);
            if !dropped {
                ids.push(self.notifications.len() - 1);
            }
        }
        ids
    }

    /// The payer pays a QR order, or confirms a processing consumer-code payment.
    pub(super) fn payer_pays(
        &mut self,
        mer_id: &str,
        order_id: &str,
        card: bool,
        now: i64,
    ) -> Result<TxnSnapshot, HookError> {
        if !self.merchants.contains_key(mer_id) {
            return Err(HookError::UnknownMerchant(mer_id.to_owned()));
        }
        let id = self
            .find(mer_id, order_id)
            .ok_or_else(|| HookError::NotFound(order_id.to_owned()))?;
        let status = self.txns.get(id).map(|t| (t.status, t.is_payment()));
        match status {
            Some((TxnStatus::AwaitingPayer, true)) => {
                let query_id = self.new_query_id(id, now);
                if let Some(txn) = self.txns.get_mut(id) {
                    txn.query_id = Some(query_id);
                    txn.card = card;
                }
            }
            Some((TxnStatus::Processing, true)) => {
                if let Some(txn) = self.txns.get_mut(id) {
                    txn.card = card;
                }
            }
            Some((TxnStatus::Expired, _)) => return Err(HookError::QrExpired(order_id.to_owned())),
            Some((status, _)) => {
                return Err(HookError::InvalidState {
                    order_id: order_id.to_owned(),
                    status: format!("{status:?}"),
                });
            }
            None => return Err(HookError::NotFound(order_id.to_owned())),
        }
        self.succeed(id, now);
        self.txns
            .get(id)
            .map(Txn::snapshot)
            .ok_or_else(|| HookError::NotFound(order_id.to_owned()))
    }

    pub(super) fn snapshot(&self, mer_id: &str, order_id: &str) -> Option<TxnSnapshot> {
        self.find(mer_id, order_id)
            .and_then(|id| self.txns.get(id))
            .map(Txn::snapshot)
    }
}

fn take_one(counter: &mut u32) -> bool {
    if *counter > 0 {
        *counter -= 1;
        true
    } else {
        false
    }
}
