//! The Alipay open API adapter (`gateway.do`, RSA2, face-to-face trades): turns gateway
//! operations into signed form calls (`paymux_channels::alipay`) and the verified answers into
//! the normalized [`PaymentState`] and [`RefundState`]. Anything it cannot be sure of is
//! `Unknown`: the caller queries later.

use super::config::ProviderSettings;
use super::{CallError, PaymentState, RefundState, call_failed, http_client, setting};
use crate::clock::SharedClock;
use ipnet::IpNet;
use paymux_channels::alipay::{self, ResponseNode, format_yuan, parse_yuan};
use paymux_channels::{Params, beijing_time, form, keys};
use paymux_crypto::{SigningKey, VerifyingKey};
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// A charge as Alipay needs it.
#[derive(Debug, Clone)]
pub struct Order<'a> {
    pub out_trade_no: &'a str,
    pub total_fen: i64,
    pub subject: &'a str,
    pub body: &'a str,
    /// Unix seconds; sent as `time_expire` so an unscanned QR dies with the charge.
    pub time_expire: i64,
    pub notify_url: &'a str,
    /// Where the order is taken (the merchant's terminal, cashier, store), as the charge's
    /// `extra` names them; Alipay shows them in its records and reports.
    pub terminal_id: Option<&'a str>,
    pub operator_id: Option<&'a str>,
    pub store_id: Option<&'a str>,
    /// An ISV's partner id, for its commission (`extend_params.sys_service_provider_id`).
    pub sys_service_provider_id: Option<&'a str>,
    /// What was sold (the charge's `extra.goods_list`), sent as `goods_detail`.
    pub goods: Option<&'a Vec<Value>>,
}

/// The keys of a `goods_detail` line Alipay takes; a charge's `goods_list` uses the same.
const GOODS_KEYS: [&str; 7] = [
    "goods_id",
    "goods_name",
    "quantity",
    "price",
    "goods_category",
    "body",
    "show_url",
];

pub struct AlipayAdapter {
    http: reqwest::Client,
    gateway: String,
    app_id: String,
    /// When configured, the partner id notifications must name.
    seller_id: Option<String>,
    app_key: SigningKey,
    alipay_key: VerifyingKey,
    /// The caller's clock: `timestamp` must be near Alipay's time, and tests move it.
    clock: SharedClock,
}

impl std::fmt::Debug for AlipayAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlipayAdapter")
            .field("gateway", &self.gateway)
            .field("app_id", &self.app_id)
            .finish_non_exhaustive()
    }
}

/// A verified `<method>_response` (or a `20000` `error_response`).
struct Reply(Map<String, Value>);

impl Reply {
    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(Value::as_str)
    }

    fn code(&self) -> &str {
        self.get("code").unwrap_or_default()
    }

    fn sub_code(&self) -> &str {
        self.get("sub_code").unwrap_or_default()
    }

    fn failure(&self) -> PaymentState {
        PaymentState::Failed {
            code: self.sub_code().to_owned(),
            message: self.get("sub_msg").unwrap_or_default().to_owned(),
        }
    }

    fn unknown(&self) -> PaymentState {
        PaymentState::Unknown(format!(
            "{} {}: {}",
            self.code(),
            self.sub_code(),
            self.get("sub_msg").or(self.get("msg")).unwrap_or_default()
        ))
    }
}

impl AlipayAdapter {
    pub fn new(
        settings: &ProviderSettings,
        clock: SharedClock,
        deny: &Arc<Vec<IpNet>>,
    ) -> Result<Self, CallError> {
        let http = http_client(deny)
            .build()
            .map_err(|_| CallError::NotConfigured("cannot build the HTTP client for Alipay"))?;
        Ok(Self {
            http,
            gateway: setting(settings, "gateway_url")?.to_owned(),
            app_id: setting(settings, "app_id")?.to_owned(),
            seller_id: settings.public.get("seller_id").cloned(),
            app_key: keys::signing_key(setting(settings, "app_private_key")?)
                .map_err(|_| CallError::NotConfigured("the Alipay app private key is invalid"))?,
            alipay_key: keys::verifying_key(setting(settings, "alipay_public_key")?)
                .map_err(|_| CallError::NotConfigured("the Alipay public key is invalid"))?,
            clock,
        })
    }

    /// Signs and POSTs one call, then verifies the answer over its exact bytes.
    async fn call(
        &self,
        method: &str,
        biz: Value,
        notify_url: Option<&str>,
    ) -> Result<Reply, CallError> {
        let timestamp = beijing_time::format_dashed(self.clock.now_secs())
            .map_err(|_| CallError::NotConfigured("the clock is out of range"))?;
        let mut params = Params::new()
            .with("app_id", self.app_id.as_str())
            .with("method", method)
            .with("format", "JSON")
            .with("charset", "utf-8")
            .with("timestamp", timestamp)
            .with("version", "1.0")
            .with("biz_content", biz.to_string());
        if let Some(url) = notify_url {
            params.insert("notify_url", url);
        }
        alipay::sign_request(&mut params, &self.app_key);
        let request = self
            .http
            .post(&self.gateway)
            .header(
                "content-type",
                "application/x-www-form-urlencoded;charset=utf-8",
            )
            .body(form::encode(&params));
        let response = super::send(super::Provider::Alipay, method, request).await?;
        let bytes = response
            .bytes()
            .await
            .map_err(|e| CallError::Transport(e.to_string()))?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| CallError::Unverified("the answer is not UTF-8".into()))?;
        let signed = alipay::verify_response(text, method, &self.alipay_key)
            .map_err(|e| CallError::Unverified(e.to_string()))?;
        let reply = match serde_json::from_str::<Value>(signed.content) {
            Ok(Value::Object(fields)) => Reply(fields),
            _ => return Err(CallError::Unverified("the answer is not an object".into())),
        };
        // A gateway error is a refusal (nothing happened), except 20000: unknown.
        if signed.node == ResponseNode::Error && reply.code() != "20000" {
            return Err(CallError::Refused(format!(
                "{} {}: {}",
                reply.code(),
                reply.sub_code(),
                reply.get("sub_msg").unwrap_or_default()
            )));
        }
        Ok(reply)
    }

    fn order_biz(order: &Order<'_>) -> Map<String, Value> {
        let mut biz = Map::new();
        biz.insert("out_trade_no".into(), json!(order.out_trade_no));
        biz.insert("total_amount".into(), json!(format_yuan(order.total_fen)));
        biz.insert("subject".into(), json!(order.subject));
        if !order.body.is_empty() {
            biz.insert("body".into(), json!(order.body));
        }
        if let Ok(expire) = beijing_time::format_dashed(order.time_expire) {
            biz.insert("time_expire".into(), json!(expire));
        }
        for (name, value) in [
            ("terminal_id", order.terminal_id),
            ("operator_id", order.operator_id),
            ("store_id", order.store_id),
        ] {
            if let Some(value) = value {
                biz.insert(name.into(), json!(value));
            }
        }
        if let Some(goods) = order.goods {
            let lines: Vec<Value> = goods
                .iter()
                .filter_map(Value::as_object)
                .map(|line| {
                    let kept = line
                        .iter()
                        .filter(|(k, _)| GOODS_KEYS.contains(&k.as_str()));
                    Value::Object(kept.map(|(k, v)| (k.clone(), v.clone())).collect())
                })
                .collect();
            biz.insert("goods_detail".into(), Value::Array(lines));
        }
        if let Some(id) = order.sys_service_provider_id {
            biz.insert(
                "extend_params".into(),
                json!({ "sys_service_provider_id": id }),
            );
        }
        biz
    }

    /// `alipay.trade.precreate` (alipay_qr): the `qr_code` to show. No trade exists until the
    /// buyer scans it.
    pub async fn precreate(&self, order: &Order<'_>) -> Result<String, PaymentState> {
        let biz = Value::Object(Self::order_biz(order));
        let reply = self
            .call("alipay.trade.precreate", biz, Some(order.notify_url))
            .await
            .map_err(call_failed)?;
        match reply.code() {
            "10000" => reply
                .get("qr_code")
                .map(str::to_owned)
                .ok_or_else(|| PaymentState::Unknown("precreate without a qr_code".into())),
            "40004" if reply.sub_code() != "ACQ.SYSTEM_ERROR" => Err(reply.failure()),
            _ => Err(reply.unknown()),
        }
    }

    /// `alipay.trade.pay` (alipay_scan): paid (10000), pending (10003: the payer is entering a
    /// password), failed, or unknown (20000, `ACQ.SYSTEM_ERROR`: query).
    pub async fn pay(&self, order: &Order<'_>, auth_code: &str) -> PaymentState {
        let mut biz = Self::order_biz(order);
        biz.insert("scene".into(), json!("bar_code"));
        biz.insert("auth_code".into(), json!(auth_code));
        biz.insert("product_code".into(), json!("FACE_TO_FACE_PAYMENT"));
        let reply = match self
            .call(
                "alipay.trade.pay",
                Value::Object(biz),
                Some(order.notify_url),
            )
            .await
        {
            Ok(reply) => reply,
            Err(error) => return call_failed(error),
        };
        match (reply.code(), reply.sub_code()) {
            ("10000", _) => paid(&reply, "gmt_payment"),
            ("10003", _) => PaymentState::Pending,
            // Already paid (a repeat): the query says by whom and when.
            ("40004", "ACQ.SYSTEM_ERROR" | "ACQ.TRADE_HAS_SUCCESS") => reply.unknown(),
            ("40004", _) => reply.failure(),
            _ => reply.unknown(),
        }
    }

    /// `alipay.trade.query`. `ACQ.TRADE_NOT_EXIST` is "not paid yet": a precreated QR nobody
    /// scanned, or a pay that never arrived. Errors are never read as failure here.
    pub async fn query(&self, out_trade_no: &str) -> PaymentState {
        let biz = json!({ "out_trade_no": out_trade_no });
        let reply = match self.call("alipay.trade.query", biz, None).await {
            Ok(reply) => reply,
            Err(error) => return PaymentState::Unknown(error.to_string()),
        };
        match (reply.code(), reply.sub_code()) {
            ("10000", _) => match reply.get("trade_status").unwrap_or_default() {
                "TRADE_SUCCESS" | "TRADE_FINISHED" => paid(&reply, "send_pay_date"),
                "WAIT_BUYER_PAY" => PaymentState::Pending,
                "TRADE_CLOSED" => PaymentState::Closed,
                other => PaymentState::Unknown(format!("unexpected trade_status {other:?}")),
            },
            ("40004", "ACQ.TRADE_NOT_EXIST") => PaymentState::Pending,
            _ => reply.unknown(),
        }
    }

    /// `alipay.trade.close` for an unpaid QR order. `Ok(())` once closed, or when no trade
    /// exists (never scanned: `time_expire` already ends the QR at Alipay).
    pub async fn close(&self, out_trade_no: &str) -> Result<(), PaymentState> {
        let biz = json!({ "out_trade_no": out_trade_no });
        let reply = self
            .call("alipay.trade.close", biz, None)
            .await
            .map_err(call_failed)?;
        match (reply.code(), reply.sub_code()) {
            ("10000", _) | ("40004", "ACQ.TRADE_NOT_EXIST") => Ok(()),
            _ => Err(reply.unknown()),
        }
    }

    /// `alipay.trade.cancel` (撤销) a scan payment: `Ok(true)` when done (closed, or refunded if
    /// it was paid), `Ok(false)` when Alipay asks to call again (`retry_flag=Y`).
    pub async fn cancel(&self, out_trade_no: &str) -> Result<bool, PaymentState> {
        let biz = json!({ "out_trade_no": out_trade_no });
        let reply = self
            .call("alipay.trade.cancel", biz, None)
            .await
            .map_err(call_failed)?;
        if reply.get("retry_flag") == Some("Y") {
            return Ok(false);
        }
        match reply.code() {
            "10000" => Ok(true),
            "40004" => Err(reply.failure()),
            _ => Err(reply.unknown()),
        }
    }

    /// `alipay.trade.refund`, synchronous: `10000` with `fund_change=Y` means refunded now.
    /// `fund_change=N` means no money moved in this call: for a repeated `out_request_no`
    /// because it was refunded before, but on a first answer nothing may have been refunded at
    /// all, so it is unknown and the refund query decides. Definite business errors fail;
    /// anything else is unknown and is retried with the same number.
    pub async fn refund(
        &self,
        out_trade_no: &str,
        out_request_no: &str,
        amount_fen: i64,
        reason: Option<&str>,
    ) -> RefundState {
        let mut biz = json!({
            "out_trade_no": out_trade_no,
            "out_request_no": out_request_no,
            "refund_amount": format_yuan(amount_fen),
        });
        if let Some(reason) = reason.filter(|r| !r.is_empty()) {
            biz["refund_reason"] = json!(reason.chars().take(256).collect::<String>());
        }
        let reply = match self.call("alipay.trade.refund", biz, None).await {
            Ok(reply) => reply,
            Err(CallError::Refused(message)) => {
                return RefundState::Failed {
                    code: "channel_refused".into(),
                    message,
                };
            }
            Err(error) => return RefundState::Unknown(error.to_string()),
        };
        match (reply.code(), reply.sub_code()) {
            ("10000", _) if reply.get("fund_change") == Some("Y") => RefundState::Succeeded {
                time: refund_time(&reply),
                refund_no: refund_no(&reply),
            },
            ("10000", _) => RefundState::Unknown(
                "Alipay accepted the refund without moving money (fund_change=N)".into(),
            ),
            (
                "40004",
                "ACQ.INVALID_PARAMETER"
                | "ACQ.SELLER_BALANCE_NOT_ENOUGH"
                | "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL"
                | "ACQ.REASON_TRADE_REFUND_FEE_ERR"
                | "ACQ.REFUND_FEE_ERROR"
                | "ACQ.REASON_TRADE_BEEN_FREEZEN"
                | "ACQ.TRADE_NOT_EXIST"
                | "ACQ.TRADE_HAS_FINISHED"
                | "ACQ.TRADE_STATUS_ERROR"
                | "ACQ.TRADE_NOT_ALLOW_REFUND"
                | "ACQ.DISCORDANT_REPEAT_REQUEST",
            ) => RefundState::Failed {
                code: reply.sub_code().to_owned(),
                message: reply.get("sub_msg").unwrap_or_default().to_owned(),
            },
            _ => RefundState::Unknown(format!("{:?}", reply.unknown())),
        }
    }

    /// `alipay.trade.fastpay.refund.query`. It answers `10000` even for a request number it
    /// does not know, so only `REFUND_SUCCESS` or a `refund_amount` equal to ours is success;
    /// anything else is unknown (never failure: the refund may simply not have arrived).
    pub async fn refund_query(
        &self,
        out_trade_no: &str,
        out_request_no: &str,
        amount_fen: i64,
    ) -> RefundState {
        let biz = json!({ "out_trade_no": out_trade_no, "out_request_no": out_request_no });
        let reply = match self
            .call("alipay.trade.fastpay.refund.query", biz, None)
            .await
        {
            Ok(reply) => reply,
            Err(error) => return RefundState::Unknown(error.to_string()),
        };
        if reply.code() != "10000" {
            return RefundState::Unknown(format!("{:?}", reply.unknown()));
        }
        // Ours only: the echoed number (when there is one) and amount (likewise) must match.
        let ours = reply
            .get("out_request_no")
            .is_none_or(|no| no == out_request_no);
        let amount = reply.get("refund_amount").map(parse_yuan);
        let amount_ok = amount
            .as_ref()
            .is_none_or(|amount| amount.as_ref().ok() == Some(&amount_fen));
        let done = match reply.get("refund_status") {
            Some(status) => status == "REFUND_SUCCESS",
            None => amount.is_some(),
        };
        if ours && amount_ok && done {
            RefundState::Succeeded {
                time: refund_time(&reply),
                refund_no: refund_no(&reply),
            }
        } else {
            RefundState::Unknown("Alipay does not report this refund as done".into())
        }
    }

    /// A `trade_status_sync` notification (form body): verified fail-closed under Alipay's key
    /// and for our `app_id`, then the order it is about, its total and its state.
    pub fn notification(&self, body: &[u8]) -> Result<(String, i64, PaymentState), CallError> {
        let params = form::parse(body).map_err(|e| CallError::Unverified(e.to_string()))?;
        alipay::verify_notify(&params, &self.alipay_key)
            .map_err(|e| CallError::Unverified(e.to_string()))?;
        if params.get("app_id") != Some(self.app_id.as_str()) {
            return Err(CallError::Unverified("for another app".into()));
        }
        if let Some(seller_id) = &self.seller_id
            && params.get("seller_id") != Some(seller_id.as_str())
        {
            return Err(CallError::Unverified("for another seller".into()));
        }
        let out_trade_no = params
            .get("out_trade_no")
            .filter(|no| !no.is_empty())
            .ok_or_else(|| CallError::Unverified("no out_trade_no".into()))?
            .to_owned();
        let total = params
            .get("total_amount")
            .and_then(|t| parse_yuan(t).ok())
            .ok_or_else(|| CallError::Unverified("no total_amount".into()))?;
        let state = match params.get("trade_status").unwrap_or_default() {
            "TRADE_SUCCESS" | "TRADE_FINISHED" => match params.get("trade_no") {
                Some(trade_no) if !trade_no.is_empty() => PaymentState::Paid {
                    transaction_no: trade_no.to_owned(),
                    time_paid: params
                        .get("gmt_payment")
                        .and_then(|t| beijing_time::parse_dashed(t).ok()),
                },
                _ => PaymentState::Unknown("paid without a trade_no".into()),
            },
            "WAIT_BUYER_PAY" => PaymentState::Pending,
            "TRADE_CLOSED" => PaymentState::Closed,
            other => PaymentState::Unknown(format!("trade_status {other:?}")),
        };
        Ok((out_trade_no, total, state))
    }
}

fn paid(reply: &Reply, time_field: &str) -> PaymentState {
    match reply.get("trade_no") {
        Some(trade_no) if !trade_no.is_empty() => PaymentState::Paid {
            transaction_no: trade_no.to_owned(),
            time_paid: reply
                .get(time_field)
                .and_then(|t| beijing_time::parse_dashed(t).ok()),
        },
        _ => PaymentState::Unknown("paid without a trade_no".into()),
    }
}

/// Alipay numbers no refund of its own: a refund is known by its trade's `trade_no`.
fn refund_no(reply: &Reply) -> Option<String> {
    reply
        .get("trade_no")
        .filter(|no| !no.is_empty())
        .map(str::to_owned)
}

fn refund_time(reply: &Reply) -> Option<i64> {
    reply
        .get("gmt_refund_pay")
        .and_then(|t| beijing_time::parse_dashed(t).ok())
}
