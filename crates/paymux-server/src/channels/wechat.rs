//! The WeChat Pay API v2 adapter: turns gateway operations into signed XML calls
//! (`paymux_channels::wechat_v2`) and the answers into the normalized [`PaymentState`] and
//! [`RefundState`]. Anything it cannot be sure of is `Unknown`: the caller queries later.

use super::config::ProviderSettings;
use super::{CallError, PaymentState, RefundState, call_failed, http_client, setting};
use ipnet::IpNet;
use paymux_channels::Params;
use paymux_channels::wechat_v2::{self, ErrorClass, Outcome, SignType};
use rand::RngExt;
use rand::distr::Alphanumeric;
use serde_json::{Value, json};
use std::sync::Arc;

/// A charge as WeChat needs it.
#[derive(Debug, Clone)]
pub struct Order<'a> {
    pub out_trade_no: &'a str,
    pub total_fee: i64,
    pub body: &'a str,
    pub client_ip: &'a str,
    pub time_expire: i64,
    pub notify_url: &'a str,
    /// `product_id` for NATIVE orders.
    pub product_id: Option<&'a str>,
    /// `limit_pay` (`no_credit`) and `goods_tag`, as the merchant asked.
    pub limit_pay: Option<&'a str>,
    pub goods_tag: Option<&'a str>,
    /// What was sold (the cross-border channels' `extra.goods_list`), sent as `detail` when
    /// WeChat can take it (see [`detail`]).
    pub goods: Option<&'a Vec<Value>>,
}

/// WeChat's `detail` from a goods list: every line must name what WeChat requires of one, a
/// `goods_id` (at most 32 characters) and a `price` (yuan, as every price of the API) besides
/// `goods_name` and `goods_num`. A list whose lines lack them is not sent (the field is
/// optional at WeChat) and stays on the charge.
pub fn detail(goods: &[Value]) -> Option<String> {
    let text = |line: &Value, key: &str| match line.get(key)? {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    };
    let lines = goods
        .iter()
        .map(|line| {
            let goods_id =
                text(line, "goods_id").filter(|id| (1..=32).contains(&id.chars().count()))?;
            // Checked at create: a whole number, or a price with at most two decimals (zeros
            // beyond those allowed).
            let quantity: i64 = text(line, "goods_num")?.split('.').next()?.parse().ok()?;
            let price = text(line, "price")?;
            let price = match price.split_once('.') {
                Some((whole, fraction)) => format!("{whole}.{}", fraction.trim_end_matches('0')),
                None => price,
            };
            let price = paymux_channels::alipay::parse_yuan(price.trim_end_matches('.')).ok()?;
            Some(json!({
                "goods_id": goods_id,
                "goods_name": text(line, "goods_name")?,
                "quantity": quantity,
                "price": price,
            }))
        })
        .collect::<Option<Vec<_>>>()?;
    (!lines.is_empty()).then(|| json!({ "goods_detail": lines }).to_string())
}

pub struct WechatV2 {
    http: reqwest::Client,
    /// For `/secapi` calls (refund, reverse): the same, with the merchant's client certificate.
    secapi: Option<reqwest::Client>,
    gateway: String,
    appid: String,
    mch_id: String,
    api_key: String,
    sign_type: SignType,
}

impl std::fmt::Debug for WechatV2 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WechatV2")
            .field("gateway", &self.gateway)
            .field("mch_id", &self.mch_id)
            .finish_non_exhaustive()
    }
}

impl WechatV2 {
    pub fn new(settings: &ProviderSettings, deny: &Arc<Vec<IpNet>>) -> Result<Self, CallError> {
        let client = |identity: Option<reqwest::Identity>| {
            let mut builder = http_client(deny);
            if let Some(identity) = identity {
                builder = builder.identity(identity);
            }
            builder
                .build()
                .map_err(|_| CallError::NotConfigured("cannot build the HTTP client for WeChat"))
        };
        let secapi = match (
            settings.secrets.get("client_cert_pem"),
            settings.secrets.get("client_key_pem"),
        ) {
            (Some(cert), Some(key)) => {
                let pem = format!("{cert}\n{key}");
                let identity = reqwest::Identity::from_pem(pem.as_bytes()).map_err(|_| {
                    CallError::NotConfigured("the WeChat client certificate cannot be loaded")
                })?;
                Some(client(Some(identity))?)
            }
            _ => None,
        };
        Ok(Self {
            http: client(None)?,
            secapi,
            gateway: setting(settings, "gateway_url")?
                .trim_end_matches('/')
                .to_owned(),
            appid: setting(settings, "appid")?.to_owned(),
            mch_id: setting(settings, "mch_id")?.to_owned(),
            api_key: setting(settings, "api_key")?.to_owned(),
            sign_type: setting(settings, "sign_type")?
                .parse()
                .map_err(|_| CallError::NotConfigured("unknown WeChat sign_type"))?,
        })
    }

    /// Signs `params` (with appid, mch_id, nonce_str), POSTs them to `path`, verifies the answer.
    async fn call(
        &self,
        path: &str,
        mut params: Params,
        secure: bool,
    ) -> Result<Params, CallError> {
        params.insert("appid", self.appid.as_str());
        params.insert("mch_id", self.mch_id.as_str());
        params.insert("nonce_str", nonce());
        wechat_v2::sign_request(&mut params, self.sign_type, &self.api_key);
        let body = wechat_v2::to_xml(&params).map_err(|e| CallError::Refused(e.to_string()))?;
        let client = if secure {
            self.secapi.as_ref().ok_or(CallError::NotConfigured(
                "WeChat refunds and reverses need the merchant's client certificate \
                 (client_cert_pem and client_key_pem)",
            ))?
        } else {
            &self.http
        };
        let request = client
            .post(format!("{}{path}", self.gateway))
            .header("content-type", "text/xml; charset=utf-8")
            .body(body);
        let response = super::send(super::Provider::Wechat, path, request).await?;
        let text = response
            .text()
            .await
            .map_err(|e| CallError::Transport(e.to_string()))?;
        let answer =
            wechat_v2::from_xml(&text).map_err(|e| CallError::Unverified(e.to_string()))?;
        match wechat_v2::verify_response(&answer, self.sign_type, &self.api_key) {
            Ok(Outcome::CommunicationFailure { return_msg }) => Err(CallError::Refused(return_msg)),
            Ok(_) => Ok(answer),
            Err(e) => Err(CallError::Unverified(e.to_string())),
        }
    }

    fn order_params(&self, order: &Order<'_>) -> Params {
        let mut params = Params::new()
            .with("body", order.body)
            .with("out_trade_no", order.out_trade_no)
            .with("total_fee", order.total_fee.to_string())
            .with("spbill_create_ip", order.client_ip);
        if let Ok(expire) = paymux_channels::beijing_time::format_compact(order.time_expire) {
            params.insert("time_expire", expire);
        }
        for (name, value) in [
            ("limit_pay", order.limit_pay),
            ("goods_tag", order.goods_tag),
        ] {
            if let Some(value) = value {
                params.insert(name, value);
            }
        }
        if let Some(detail) = order.goods.and_then(|goods| detail(goods)) {
            params.insert("detail", detail);
        }
        params
    }

    /// `unifiedorder` NATIVE (wx_pub_qr): the `code_url` to show as a QR code.
    pub async fn native_order(&self, order: &Order<'_>) -> Result<String, PaymentState> {
        let mut params = self
            .order_params(order)
            .with("trade_type", "NATIVE")
            .with("notify_url", order.notify_url);
        params.insert("product_id", order.product_id.unwrap_or(order.out_trade_no));
        match self.call("/pay/unifiedorder", params, false).await {
            Ok(answer) => match business(&answer) {
                Ok(()) => answer
                    .get("code_url")
                    .map(str::to_owned)
                    .ok_or_else(|| unknown("unifiedorder succeeded without a code_url")),
                Err(state) => Err(state),
            },
            Err(error) => Err(call_failed(error)),
        }
    }

    /// `micropay` (wx_pub_scan): paid, failed, or pending (the payer is entering a password,
    /// or the outcome is unknown: query).
    pub async fn micropay(&self, order: &Order<'_>, auth_code: &str) -> PaymentState {
        let params = self.order_params(order).with("auth_code", auth_code);
        match self.call("/pay/micropay", params, false).await {
            Ok(answer) => match business(&answer) {
                Ok(()) => paid(&answer),
                // The order is paid: perhaps by this very payment (an earlier attempt whose
                // answer was lost). Only a query says; never conclude "failed" from it.
                Err(_) if answer.get("err_code") == Some("ORDERPAID") => {
                    self.query(order.out_trade_no).await
                }
                Err(state) => state,
            },
            Err(error) => call_failed(error),
        }
    }

    /// `orderquery`: the order's state at WeChat.
    pub async fn query(&self, out_trade_no: &str) -> PaymentState {
        let params = Params::new().with("out_trade_no", out_trade_no);
        let answer = match self.call("/pay/orderquery", params, false).await {
            Ok(answer) => answer,
            Err(error) => return call_failed(error),
        };
        if let Err(state) = business(&answer) {
            // ORDERNOTEXIST: a micropay that never reached WeChat, or nothing yet.
            return match answer.get("err_code") {
                Some("ORDERNOTEXIST") => PaymentState::Pending,
                _ => state,
            };
        }
        match answer.get("trade_state").unwrap_or_default() {
            "SUCCESS" | "REFUND" => paid(&answer),
            "NOTPAY" | "USERPAYING" => PaymentState::Pending,
            "CLOSED" | "REVOKED" => PaymentState::Closed,
            "PAYERROR" => PaymentState::Failed {
                code: "PAYERROR".into(),
                message: answer
                    .get("trade_state_desc")
                    .unwrap_or("支付失败")
                    .to_owned(),
            },
            other => unknown(&format!("unexpected trade_state {other:?}")),
        }
    }

    /// `closeorder` for an unpaid NATIVE order. `Ok(())` once it is closed (or already was).
    pub async fn close(&self, out_trade_no: &str) -> Result<(), PaymentState> {
        let params = Params::new().with("out_trade_no", out_trade_no);
        let answer = self
            .call("/pay/closeorder", params, false)
            .await
            .map_err(call_failed)?;
        match business(&answer) {
            Ok(()) => Ok(()),
            Err(_) if answer.get("err_code") == Some("ORDERCLOSED") => Ok(()),
            Err(state) => Err(state),
        }
    }

    /// `reverse` (撤销) a micropay order: `Ok(true)` when done (or when WeChat never received
    /// the order: nothing to undo), `Ok(false)` when WeChat asks to call again (`recall=Y`).
    pub async fn reverse(&self, out_trade_no: &str) -> Result<bool, PaymentState> {
        let params = Params::new().with("out_trade_no", out_trade_no);
        let answer = self
            .call("/secapi/pay/reverse", params, true)
            .await
            .map_err(call_failed)?;
        match business(&answer) {
            Ok(()) => Ok(answer.get("recall") != Some("Y")),
            Err(_) if answer.get("err_code") == Some("ORDERNOTEXIST") => Ok(true),
            Err(state) => Err(state),
        }
    }

    /// `refund`: accepted (pending; the notification or a query says when it succeeds) or
    /// refused. Repeating an `out_refund_no` refunds once (WeChat's rule), so an unknown outcome
    /// is retried with the same number.
    pub async fn refund(
        &self,
        out_trade_no: &str,
        out_refund_no: &str,
        total_fee: i64,
        refund_fee: i64,
        reason: Option<&str>,
        notify_url: Option<&str>,
    ) -> RefundState {
        let mut params = Params::new()
            .with("out_trade_no", out_trade_no)
            .with("out_refund_no", out_refund_no)
            .with("total_fee", total_fee.to_string())
            .with("refund_fee", refund_fee.to_string());
        // Shown to the payer; WeChat takes at most 80 characters.
        if let Some(reason) = reason.filter(|r| !r.is_empty()) {
            params.insert("refund_desc", reason.chars().take(80).collect::<String>());
        }
        // Without one, WeChat uses the merchant platform's refund notify setting.
        if let Some(url) = notify_url {
            params.insert("notify_url", url);
        }
        match self.call("/secapi/pay/refund", params, true).await {
            Ok(answer) => match business(&answer) {
                Ok(()) => RefundState::Pending,
                Err(state) => refund_failure(state),
            },
            Err(error) => refund_failure(call_failed(error)),
        }
    }

    /// `refundquery` by `out_refund_no`.
    pub async fn refund_query(&self, out_refund_no: &str) -> RefundState {
        let params = Params::new().with("out_refund_no", out_refund_no);
        let answer = match self.call("/pay/refundquery", params, false).await {
            Ok(answer) => answer,
            Err(error) => return refund_failure(call_failed(error)),
        };
        if let Err(state) = business(&answer) {
            return refund_failure(state);
        }
        // The queried refund is the one whose out_refund_no_$n matches.
        let count: usize = answer
            .get("refund_count")
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let index =
            (0..count).find(|n| answer.get(&format!("out_refund_no_{n}")) == Some(out_refund_no));
        let Some(n) = index else {
            return RefundState::Unknown("refundquery did not list the refund".into());
        };
        refund_status(
            answer
                .get(&format!("refund_status_{n}"))
                .unwrap_or_default(),
            answer.get(&format!("refund_success_time_{n}")),
            answer.get(&format!("refund_id_{n}")),
        )
    }

    /// A pay notification: verified (fail closed), then the order it is about and its state.
    pub fn pay_notification(&self, body: &str) -> Result<(String, i64, PaymentState), CallError> {
        let params = wechat_v2::from_xml(body).map_err(|e| CallError::Unverified(e.to_string()))?;
        let sign_type = SignType::of_message(&params, self.sign_type)
            .map_err(|e| CallError::Unverified(e.to_string()))?;
        wechat_v2::verify(&params, sign_type, &self.api_key)
            .map_err(|e| CallError::Unverified(e.to_string()))?;
        if params.get("appid") != Some(self.appid.as_str())
            || params.get("mch_id") != Some(self.mch_id.as_str())
        {
            return Err(CallError::Unverified("for another merchant".into()));
        }
        let out_trade_no = params
            .get("out_trade_no")
            .ok_or_else(|| CallError::Unverified("no out_trade_no".into()))?
            .to_owned();
        let total_fee = params
            .get("total_fee")
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| CallError::Unverified("no total_fee".into()))?;
        let state = match business(&params) {
            Ok(()) => paid(&params),
            Err(state) => state,
        };
        Ok((out_trade_no, total_fee, state))
    }

    /// A refund notification: `req_info` decrypts only with our API key, which is what
    /// authenticates it (it carries no `sign`).
    pub fn refund_notification(&self, body: &str) -> Result<(String, RefundState), CallError> {
        let outer = wechat_v2::from_xml(body).map_err(|e| CallError::Unverified(e.to_string()))?;
        if outer.get("appid") != Some(self.appid.as_str())
            || outer.get("mch_id") != Some(self.mch_id.as_str())
        {
            return Err(CallError::Unverified("for another merchant".into()));
        }
        let req_info = outer
            .get("req_info")
            .ok_or_else(|| CallError::Unverified("no req_info".into()))?;
        let info = wechat_v2::decrypt_req_info(req_info, &self.api_key)
            .map_err(|e| CallError::Unverified(e.to_string()))?;
        let out_refund_no = info
            .get("out_refund_no")
            .ok_or_else(|| CallError::Unverified("no out_refund_no".into()))?
            .to_owned();
        let state = refund_status(
            info.get("refund_status").unwrap_or_default(),
            info.get("success_time"),
            info.get("refund_id"),
        );
        Ok((out_refund_no, state))
    }
}

fn nonce() -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}

fn unknown(reason: &str) -> PaymentState {
    PaymentState::Unknown(reason.to_owned())
}

/// `Ok` on `result_code=SUCCESS`; otherwise the state the `err_code` implies.
fn business(answer: &Params) -> Result<(), PaymentState> {
    match wechat_v2::read_outcome(answer) {
        Ok(Outcome::Success) => Ok(()),
        Ok(Outcome::BusinessFailure {
            err_code,
            err_code_des,
            class,
        }) => {
            let code = err_code.unwrap_or_default();
            let message = err_code_des.unwrap_or_default();
            Err(match class {
                // USERPAYING: the payer is entering a password. The others: query.
                ErrorClass::Unknown | ErrorClass::Unrecognised if code == "USERPAYING" => {
                    PaymentState::Pending
                }
                ErrorClass::Unknown | ErrorClass::Unrecognised => {
                    unknown(&format!("{code}: {message}"))
                }
                ErrorClass::CustomerAction
                | ErrorClass::OrderState
                | ErrorClass::MerchantConfig => PaymentState::Failed { code, message },
            })
        }
        Ok(Outcome::CommunicationFailure { return_msg }) => Err(unknown(&return_msg)),
        Err(e) => Err(unknown(&e.to_string())),
    }
}

fn paid(answer: &Params) -> PaymentState {
    match answer.get("transaction_id") {
        Some(transaction) => PaymentState::Paid {
            transaction_no: transaction.to_owned(),
            time_paid: answer
                .get("time_end")
                .and_then(|t| paymux_channels::beijing_time::parse_compact(t).ok()),
        },
        None => unknown("paid without a transaction_id"),
    }
}

fn refund_failure(state: PaymentState) -> RefundState {
    match state {
        PaymentState::Failed { code, message } => RefundState::Failed { code, message },
        PaymentState::Unknown(reason) => RefundState::Unknown(reason),
        other => RefundState::Unknown(format!("unexpected {other:?}")),
    }
}

fn refund_status(status: &str, success_time: Option<&str>, refund_id: Option<&str>) -> RefundState {
    match status {
        "SUCCESS" => RefundState::Succeeded {
            time: success_time.and_then(|t| paymux_channels::beijing_time::parse_dashed(t).ok()),
            refund_no: refund_id.map(str::to_owned),
        },
        "PROCESSING" => RefundState::Pending,
        "REFUNDCLOSE" => RefundState::Failed {
            code: "REFUNDCLOSE".into(),
            message: "退款关闭 (the refund was closed)".into(),
        },
        // CHANGE: the money left the merchant and could not reach the payer (e.g. a closed
        // card); WeChat keeps it until the merchant transfers it by hand.
        "CHANGE" => RefundState::Abnormal {
            code: "CHANGE".into(),
            message: "退款异常: the payer's account could not receive the refund; transfer it \
                      by hand in WeChat Pay's merchant platform"
                .into(),
        },
        other => RefundState::Unknown(format!("refund_status {other:?}")),
    }
}
