//! The UnionPay online adapter (upacp 5.1.0, `signMethod=01`; docs/channels/unionpay.md): turns gateway
//! operations into signed form calls (`paymux_channels::unionpay`) and the verified `k=v&…`
//! answers into the normalized [`PaymentState`] and [`RefundState`].
//!
//! Every answer and notification is verified ([`Trust`]) and must name our `merId`; anything
//! else is [`CallError::Unverified`] (fail closed). Result codes
//! as docs/channels/unionpay.md, "Result codes", says: `respCode=00` success; `03`/`04`/`05` unknown, so query; a query answers
//! `respCode=00` and the transaction's own result in `origRespCode` (`00` success, `03/04/05`
//! processing, anything else failed), or `34` when UnionPay has no such transaction (not yet).
//! `A6` (有缺陷的成功, success with a defect) is read as UnionPay's own demos read it: as `00`
//! where a query says what a transaction came to, and as "accepted, confirm by a query" where
//! an answer or a notification would otherwise settle money on its own.
//!
//! UnionPay finds a transaction by `orderId` **and** `txnTime`, so `txnTime` is never "now":
//! it is derived from the object's `created` (Beijing time, `yyyyMMddHHmmss`), and every retry
//! and query sends the same value.

use super::config::ProviderSettings;
use super::{CallError, PaymentState, RefundState, call_failed, http_client, setting};
use crate::clock::SharedClock;
use ipnet::IpNet;
use paymux_channels::unionpay::CertificateChain;
use paymux_channels::{Params, beijing_time, form, keys, unionpay};
use paymux_crypto::{SigningKey, VerifyingKey};
use std::sync::Arc;

const BACK_TRANS: &str = "/gateway/api/backTransReq.do";
/// 有缺陷的成功: done, with a defect; see the module's notes.
const PARTIAL: &str = "A6";
const QUERY_TRANS: &str = "/gateway/api/queryTrans.do";

/// A charge as UnionPay needs it.
#[derive(Debug, Clone)]
pub struct Order<'a> {
    /// `orderId`: the charge's `order_no` (8–40 letters or digits, checked at create).
    pub order_id: &'a str,
    /// Unix seconds of the charge's `created`: its `txnTime`.
    pub created: i64,
    pub amount_fen: i64,
    /// Unix seconds; sent as `payTimeout` so an unpaid QR dies at UnionPay with the charge.
    pub time_expire: i64,
    pub notify_url: &'a str,
}

/// A verified notification: what it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A payment (`txnType=01`) of `orderId`, for `amount_fen`.
    Payment {
        order_id: String,
        amount_fen: i64,
        state: PaymentState,
    },
    /// A refund (`txnType=04`) we sent as `orderId`.
    Refund {
        order_id: String,
        state: RefundState,
    },
    /// Anything else (a cancel, …): acknowledged, nothing to apply.
    Other,
}

/// What proves an answer is UnionPay's.
enum Trust {
    /// The signing certificate the answer carries (`signPubKeyCert`), vouched for by the
    /// configured root and intermediate at the time of the answer, as the acp SDK checks it.
    Chain(CertificateChain, SharedClock),
    /// One configured key (`unionpay_public_key`); answers under any other key are refused.
    Key(VerifyingKey),
}

impl Trust {
    fn verify(&self, params: &Params) -> Result<(), CallError> {
        match self {
            Trust::Chain(chain, clock) => chain.verify(params, clock.now_secs()),
            Trust::Key(key) => unionpay::verify(params, key),
        }
        .map_err(|e| CallError::Unverified(e.to_string()))
    }
}

pub struct UnionpayAdapter {
    http: reqwest::Client,
    gateway: String,
    mer_id: String,
    cert_id: String,
    key: SigningKey,
    trust: Trust,
}

impl std::fmt::Debug for UnionpayAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnionpayAdapter")
            .field("gateway", &self.gateway)
            .field("mer_id", &self.mer_id)
            .finish_non_exhaustive()
    }
}

/// `yyyyMMddHHmmss` in Beijing time.
pub fn txn_time(unix: i64) -> Result<String, CallError> {
    beijing_time::format_compact(unix)
        .map_err(|_| CallError::NotConfigured("a time is out of range for UnionPay"))
}

/// A verified answer.
struct Reply(Params);

impl Reply {
    fn get(&self, name: &str) -> &str {
        self.0.get(name).unwrap_or_default()
    }

    fn code(&self) -> &str {
        self.get("respCode")
    }

    fn describe(&self) -> String {
        format!("respCode {}: {}", self.code(), self.get("respMsg"))
    }

    fn failure(&self) -> PaymentState {
        PaymentState::Failed {
            code: self.code().to_owned(),
            message: self.get("respMsg").to_owned(),
        }
    }
}

/// `03` timeout, `04` status unknown, `05` accepted: ask again. `06` (busy) is no answer either.
fn unknown_code(code: &str) -> bool {
    matches!(code, "03" | "04" | "05" | "06")
}

impl UnionpayAdapter {
    /// `livemode`: only a test-mode configuration accepts the signing certificates of UnionPay's
    /// test environment.
    pub fn new(
        settings: &ProviderSettings,
        clock: SharedClock,
        livemode: bool,
        deny: &Arc<Vec<IpNet>>,
    ) -> Result<Self, CallError> {
        let trust = match settings.public.get("unionpay_public_key") {
            Some(pem) => Trust::Key(
                keys::verifying_key(pem)
                    .map_err(|_| CallError::NotConfigured("the UnionPay public key is invalid"))?,
            ),
            None => Trust::Chain(
                CertificateChain::new(
                    setting(settings, "unionpay_root_cert")?,
                    setting(settings, "unionpay_middle_cert")?,
                    !livemode,
                )
                .map_err(|_| {
                    CallError::NotConfigured(
                        "the UnionPay root and intermediate certificates are invalid",
                    )
                })?,
                clock,
            ),
        };
        let http = http_client(deny)
            .build()
            .map_err(|_| CallError::NotConfigured("cannot build the HTTP client for UnionPay"))?;
        Ok(Self {
            http,
            gateway: setting(settings, "gateway_url")?
                .trim_end_matches('/')
                .to_owned(),
            mer_id: setting(settings, "mer_id")?.to_owned(),
            cert_id: setting(settings, "cert_id")?.to_owned(),
            key: keys::signing_key(setting(settings, "private_key")?)
                .map_err(|_| CallError::NotConfigured("the UnionPay private key is invalid"))?,
            trust,
        })
    }

    /// Signs and POSTs one transaction, then verifies the answer and that it is for us.
    async fn call(&self, path: &str, fields: Params) -> Result<Reply, CallError> {
        let mut params = Params::new()
            .with("version", unionpay::VERSION)
            .with("encoding", "UTF-8")
            .with("signMethod", unionpay::SIGN_METHOD_RSA)
            .with("bizType", "000000")
            .with("accessType", "0")
            .with("channelType", "08")
            .with("merId", self.mer_id.as_str());
        for (name, value) in fields.iter() {
            params.insert(name, value);
        }
        let signed = unionpay::sign(&params, &self.cert_id, &self.key)
            .map_err(|_| CallError::NotConfigured("cannot sign the UnionPay request"))?;
        let request = self
            .http
            .post(format!("{}{path}", self.gateway))
            .header(
                "content-type",
                "application/x-www-form-urlencoded;charset=UTF-8",
            )
            .body(form::encode(&signed));
        let operation = format!(
            "{}/{}",
            signed.get("txnType").unwrap_or_default(),
            signed.get("txnSubType").unwrap_or_default()
        );
        let response = super::send(super::Provider::Unionpay, &operation, request).await?;
        if !response.status().is_success() {
            return Err(CallError::Transport(format!("HTTP {}", response.status())));
        }
        let text = response
            .text()
            .await
            .map_err(|e| CallError::Transport(e.to_string()))?;
        let answer =
            unionpay::parse_response(&text).map_err(|e| CallError::Unverified(e.to_string()))?;
        self.trust.verify(&answer)?;
        if answer
            .get("merId")
            .is_some_and(|mer_id| mer_id != self.mer_id)
        {
            return Err(CallError::Unverified("for another merId".into()));
        }
        if let Some(order_id) = signed.get("orderId")
            && answer
                .get("orderId")
                .is_some_and(|echoed| echoed != order_id)
        {
            return Err(CallError::Unverified("for another orderId".into()));
        }
        Ok(Reply(answer))
    }

    fn order_fields(order: &Order<'_>, txn_sub_type: &str) -> Result<Params, CallError> {
        Ok(Params::new()
            .with("txnType", "01")
            .with("txnSubType", txn_sub_type)
            .with("orderId", order.order_id)
            .with("txnTime", txn_time(order.created)?)
            .with("txnAmt", order.amount_fen.to_string())
            .with("currencyCode", "156")
            .with("backUrl", order.notify_url))
    }

    /// `01/07` (upacp_qr): the `qrCode` to show. `payTimeout` ends it at UnionPay when the
    /// charge expires.
    pub async fn apply_qr(&self, order: &Order<'_>) -> Result<String, PaymentState> {
        let mut fields = Self::order_fields(order, "07").map_err(call_failed)?;
        fields.insert(
            "payTimeout",
            txn_time(order.time_expire).map_err(call_failed)?,
        );
        let reply = self.call(BACK_TRANS, fields).await.map_err(call_failed)?;
        match reply.code() {
            "00" | PARTIAL => match reply.get("qrCode") {
                "" => Err(PaymentState::Unknown(format!(
                    "respCode {} without a qrCode",
                    reply.code()
                ))),
                qr_code => Ok(qr_code.to_owned()),
            },
            // A repeat of an order UnionPay already has: its state is for the query to say.
            code if unknown_code(code) || code == "12" => {
                Err(PaymentState::Unknown(reply.describe()))
            }
            _ => Err(reply.failure()),
        }
    }

    /// `01/06` (upacp_scan) with the payer's code: paid (`00`), pending (`05`: the payer
    /// confirms), unknown (`03`/`04`, a repeat `12`: query), or failed.
    pub async fn consume(&self, order: &Order<'_>, qr_no: &str) -> PaymentState {
        let mut fields = match Self::order_fields(order, "06") {
            Ok(fields) => fields,
            Err(error) => return call_failed(error),
        };
        fields.insert("qrNo", qr_no);
        let reply = match self.call(BACK_TRANS, fields).await {
            Ok(reply) => reply,
            Err(error) => return call_failed(error),
        };
        match reply.code() {
            "00" => paid(&reply),
            "05" => PaymentState::Pending,
            code if unknown_code(code) || code == "12" || code == PARTIAL => {
                PaymentState::Unknown(reply.describe())
            }
            _ => reply.failure(),
        }
    }

    /// `00/00` by `orderId` and `txnTime` (the payment's or the refund's).
    async fn query_trans(&self, order_id: &str, created: i64) -> Result<Reply, CallError> {
        let fields = Params::new()
            .with("txnType", "00")
            .with("txnSubType", "00")
            .with("orderId", order_id)
            .with("txnTime", txn_time(created)?);
        self.call(QUERY_TRANS, fields).await
    }

    /// The payment of `order_id` created at `created`. `34` (no such transaction) is "not paid
    /// yet": an unpaid QR is no transaction at UnionPay. Errors are never read as failure.
    pub async fn query(&self, order_id: &str, created: i64) -> PaymentState {
        let reply = match self.query_trans(order_id, created).await {
            Ok(reply) => reply,
            Err(error) => return PaymentState::Unknown(error.to_string()),
        };
        match reply.code() {
            "00" => match reply.get("origRespCode") {
                "00" | PARTIAL => paid(&reply),
                code if unknown_code(code) => PaymentState::Pending,
                "" => PaymentState::Unknown("a query answer without origRespCode".into()),
                code => PaymentState::Failed {
                    code: code.to_owned(),
                    message: reply.get("origRespMsg").to_owned(),
                },
            },
            "34" => PaymentState::Pending,
            _ => PaymentState::Unknown(reply.describe()),
        }
    }

    /// Reverses (`99/01`, 冲正) a consumer-code payment whose outcome stayed open: it names the
    /// payment by its own `orderId` and `txnTime`, which we can always reproduce, works
    /// whether or not the payment went through, and a repeat answers `00` again. The `31/00`
    /// cancel is not used: it needs the payment's `queryId` (which an open payment may not
    /// have given us) and an `orderId` and `txnTime` of its own. Both work only on the day of
    /// the payment; the poll job reverses after 60 s. `Ok(false)`: call again.
    pub async fn reverse(&self, order_id: &str, created: i64) -> Result<bool, PaymentState> {
        let fields = Params::new()
            .with("txnType", "99")
            .with("txnSubType", "01")
            .with("orderId", order_id)
            .with("txnTime", txn_time(created).map_err(call_failed)?);
        let reply = match self.call(BACK_TRANS, fields).await {
            Ok(reply) => reply,
            Err(CallError::Transport(_)) => return Ok(false),
            Err(error) => return Err(call_failed(error)),
        };
        match reply.code() {
            "00" => Ok(true),
            // A repeat answers 00 once the reversal is whole.
            code if unknown_code(code) || code == PARTIAL => Ok(false),
            _ => Err(reply.failure()),
        }
    }

    /// `04/00` refund of `amount_fen` of the payment UnionPay numbered `orig_qry_id`, as
    /// `order_id` (created at `created`). `00` is "accepted": pending until the notification or
    /// a query says more. `03/04/05` and a repeat (`12`) are unknown (the caller queries);
    /// any other code is a refusal.
    pub async fn refund(
        &self,
        order_id: &str,
        created: i64,
        orig_qry_id: &str,
        amount_fen: i64,
        notify_url: Option<&str>,
    ) -> RefundState {
        let time = match txn_time(created) {
            Ok(time) => time,
            Err(error) => return RefundState::Unknown(error.to_string()),
        };
        let mut fields = Params::new()
            .with("txnType", "04")
            .with("txnSubType", "00")
            .with("orderId", order_id)
            .with("txnTime", time)
            .with("txnAmt", amount_fen.to_string())
            .with("currencyCode", "156")
            .with("origQryId", orig_qry_id);
        if let Some(url) = notify_url {
            fields.insert("backUrl", url);
        }
        let reply = match self.call(BACK_TRANS, fields).await {
            Ok(reply) => reply,
            Err(CallError::Refused(message)) => {
                return RefundState::Failed {
                    code: "channel_refused".into(),
                    message,
                };
            }
            Err(error) => return RefundState::Unknown(error.to_string()),
        };
        match reply.code() {
            "00" | PARTIAL => RefundState::Pending,
            code if unknown_code(code) || code == "12" => RefundState::Unknown(reply.describe()),
            code => RefundState::Failed {
                code: code.to_owned(),
                message: reply.get("respMsg").to_owned(),
            },
        }
    }

    /// The refund `order_id` created at `created`: succeeded (with UnionPay's `queryId` for
    /// it), pending (`origRespCode` `03/04/05`: a card refund takes days), failed, or unknown
    /// (`34`: UnionPay has not got it).
    pub async fn refund_query(&self, order_id: &str, created: i64) -> RefundState {
        let reply = match self.query_trans(order_id, created).await {
            Ok(reply) => reply,
            Err(error) => return RefundState::Unknown(error.to_string()),
        };
        match (reply.code(), reply.get("origRespCode")) {
            ("00", "00" | PARTIAL) => refunded(&reply),
            ("00", code) if unknown_code(code) => RefundState::Pending,
            ("00", "") => RefundState::Unknown("a query answer without origRespCode".into()),
            ("00", code) => RefundState::Failed {
                code: code.to_owned(),
                message: reply.get("origRespMsg").to_owned(),
            },
            _ => RefundState::Unknown(reply.describe()),
        }
    }

    /// A backUrl notification (URL-encoded form): verified fail-closed as UnionPay's and for
    /// our `merId`, then what it is about.
    pub fn notification(&self, body: &[u8]) -> Result<Notice, CallError> {
        let params = form::parse(body).map_err(|e| CallError::Unverified(e.to_string()))?;
        self.trust.verify(&params)?;
        if params.get("merId") != Some(self.mer_id.as_str()) {
            return Err(CallError::Unverified("for another merId".into()));
        }
        let reply = Reply(params);
        let order_id = match reply.get("orderId") {
            "" => return Err(CallError::Unverified("no orderId".into())),
            order_id => order_id.to_owned(),
        };
        Ok(match reply.get("txnType") {
            "01" => {
                let amount_fen = reply
                    .get("txnAmt")
                    .parse::<i64>()
                    .map_err(|_| CallError::Unverified("no txnAmt".into()))?;
                let state = match reply.code() {
                    "00" => paid(&reply),
                    code if unknown_code(code) || code == PARTIAL => PaymentState::Pending,
                    _ => reply.failure(),
                };
                Notice::Payment {
                    order_id,
                    amount_fen,
                    state,
                }
            }
            "04" => {
                let state = match reply.code() {
                    "00" => refunded(&reply),
                    code if unknown_code(code) || code == PARTIAL => RefundState::Pending,
                    code => RefundState::Failed {
                        code: code.to_owned(),
                        message: reply.get("respMsg").to_owned(),
                    },
                };
                Notice::Refund { order_id, state }
            }
            _ => Notice::Other,
        })
    }
}

/// A successful payment: UnionPay's `queryId` is its transaction number. The answers give the
/// time only without a year (`traceTime`, `MMddHHmmss`), so the time of the answer stands in.
fn paid(reply: &Reply) -> PaymentState {
    match reply.get("queryId") {
        "" => PaymentState::Unknown("paid without a queryId".into()),
        query_id => PaymentState::Paid {
            transaction_no: query_id.to_owned(),
            time_paid: None,
        },
    }
}

fn refunded(reply: &Reply) -> RefundState {
    RefundState::Succeeded {
        time: None,
        refund_no: Some(reply.get("queryId"))
            .filter(|no| !no.is_empty())
            .map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn txn_time_is_beijing_compact() {
        // 2019-07-22 02:12:56 UTC is 10:12:56 in Beijing.
        assert_eq!(
            txn_time(1_563_761_576).ok().as_deref(),
            Some("20190722101256")
        );
    }
}
