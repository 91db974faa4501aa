//! `trade_status_sync` notifications (docs/channels/alipay.md): built and signed once, then POSTed by
//! a background task until the receiver answers HTTP 200 with the body exactly `success`, on
//! Alipay's redelivery schedule. Like Alipay's answers they come in the character set of the
//! merchant's request (the one that named `notify_url`): `charset` says which, the form is
//! that set's bytes percent-encoded, and the signature covers those bytes.

use super::Inner;
use super::gateway::Charset;
use super::trade::{Event, Order, Trade, TradeStatus, dashed, dashed_millis};
use crate::delivery::{DeliveryAttempt, DeliveryState, after_attempt, post_form};
use paymux_channels::Params;
use paymux_channels::alipay::{NotifySignScope, SIGN_TYPE, format_yuan, notify_sign_content};
use paymux_channels::form;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Weak};

/// A notification as sent (`GET /_sim/notifications`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationSnapshot {
    pub notify_id: String,
    pub app_id: String,
    pub out_trade_no: String,
    pub trade_status: TradeStatus,
    pub notify_url: String,
    /// The decoded form fields, `sign` and `sign_type` included.
    pub params: BTreeMap<String, String>,
    /// The exact form body POSTed.
    pub body: String,
    /// Sent twice on its first attempt ([`super::Knobs::duplicate_notifications`]).
    pub duplicated: bool,
    pub state: DeliveryState,
    pub attempts: Vec<DeliveryAttempt>,
}

pub(crate) struct Notification {
    notify_id: String,
    app_id: String,
    out_trade_no: String,
    trade_status: TradeStatus,
    url: String,
    params: Params,
    body: String,
    content_type: String,
    duplicated: bool,
    state: DeliveryState,
    attempts: Vec<DeliveryAttempt>,
}

impl Notification {
    pub(super) fn new(
        notify_id: String,
        order: &Order,
        trade_status: TradeStatus,
        url: String,
        params: Params,
        dropped: bool,
        duplicated: bool,
    ) -> Self {
        Self {
            notify_id,
            app_id: order.app_id.clone(),
            out_trade_no: order.out_trade_no.clone(),
            trade_status,
            url,
            body: encode_form(&params, order.notify_charset),
            content_type: format!(
                "application/x-www-form-urlencoded; charset={}",
                order.notify_charset.name()
            ),
            params,
            duplicated,
            state: if dropped {
                DeliveryState::Dropped
            } else {
                DeliveryState::Pending
            },
            attempts: Vec::new(),
        }
    }

    pub(super) fn snapshot(&self) -> NotificationSnapshot {
        NotificationSnapshot {
            notify_id: self.notify_id.clone(),
            app_id: self.app_id.clone(),
            out_trade_no: self.out_trade_no.clone(),
            trade_status: self.trade_status,
            notify_url: self.url.clone(),
            params: self.params.as_map().clone(),
            body: self.body.clone(),
            duplicated: self.duplicated,
            state: self.state,
            attempts: self.attempts.clone(),
        }
    }
}

/// The signed fields of a trade notification, as of now.
pub(super) fn trade_params(
    inner: &Inner,
    order: &Order,
    trade: &Trade,
    event: &Event,
    notify_id: &str,
    now: i64,
) -> Params {
    let settings = &inner.settings;
    let total = format_yuan(order.total);
    let mut params = Params::new()
        .with("notify_time", dashed(now))
        .with("notify_type", "trade_status_sync")
        .with("notify_id", notify_id)
        .with("app_id", &order.app_id)
        .with("auth_app_id", &order.app_id)
        .with("charset", order.notify_charset.name())
        .with("version", "1.0")
        .with("trade_no", &trade.trade_no)
        .with("out_trade_no", &order.out_trade_no)
        .with("buyer_id", &trade.buyer_user_id)
        .with("buyer_logon_id", &trade.buyer_logon_id)
        .with("seller_id", &settings.seller_id)
        .with("seller_email", &settings.seller_email)
        .with("trade_status", trade.status.as_str())
        .with("total_amount", &total)
        .with("subject", &order.subject)
        .with("gmt_create", dashed(trade.created_ms));
    if let Some(body) = &order.body {
        params.insert("body", body);
    }
    if let Some(paid_ms) = trade.paid_ms {
        params.insert("receipt_amount", &total);
        params.insert("invoice_amount", &total);
        params.insert("buyer_pay_amount", &total);
        params.insert("point_amount", format_yuan(0));
        params.insert("gmt_payment", dashed(paid_ms));
        // A JSON string on the wire, with Alipay's camelCase key (unlike the API responses).
        params.insert(
            "fund_bill_list",
            serde_json::json!([{ "amount": total, "fundChannel": "ALIPAYACCOUNT" }]).to_string(),
        );
    }
    let refunded = trade.refunded();
    if refunded > 0 {
        params.insert("refund_fee", format_yuan(refunded));
    }
    if let Event::Refunded { out_biz_no } = event {
        params.insert("out_biz_no", out_biz_no);
        if let Some(refund) = trade
            .refunds
            .iter()
            .find(|r| &r.out_request_no == out_biz_no)
        {
            params.insert("gmt_refund", dashed_millis(refund.at_ms));
        }
    }
    if let Some(closed_ms) = trade.closed_ms {
        params.insert("gmt_close", dashed(closed_ms));
    }
    // Signed over the bytes of the content in the notification's character set.
    params.insert("sign_type", SIGN_TYPE);
    let content = notify_sign_content(&params, NotifySignScope::ExcludeSignType);
    let sign = inner
        .key
        .sign_base64(&order.notify_charset.encode(&content));
    params.insert("sign", sign);
    params
}

/// The form body in `charset`: each name and value as its bytes in that set, percent-encoded
/// except the unreserved characters (as [`form::encode`], which is used for UTF-8).
fn encode_form(params: &Params, charset: Charset) -> String {
    if charset == Charset::Utf8 {
        return form::encode(params);
    }
    let escape = |text: &str| -> String {
        charset
            .encode(text)
            .into_iter()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    };
    params
        .iter()
        .map(|(name, value)| format!("{}={}", escape(name), escape(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Starts one delivery task per notification. Without a tokio runtime (a hook called from
/// plain synchronous code) the notifications are marked exhausted instead.
pub(super) fn spawn(inner: &Arc<Inner>, ids: Vec<usize>) {
    if ids.is_empty() {
        return;
    }
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => {
            for id in ids {
                handle.spawn(deliver(Arc::downgrade(inner), id));
            }
        }
        Err(_) => {
            let now = (inner.clock)();
            let mut state = inner.lock();
            for id in ids {
                if let Some(notification) = state.notifications.get_mut(id) {
                    notification
                        .attempts
                        .push(DeliveryAttempt::without_runtime(now));
                    notification.state = DeliveryState::Exhausted;
                }
            }
        }
    }
}

/// Delivers notification `id` until acknowledged or out of attempts. Holds the simulator only
/// weakly while sleeping, so dropping it ends the retries.
async fn deliver(simulator: Weak<Inner>, id: usize) {
    let mut attempt = 0usize;
    loop {
        let Some(inner) = simulator.upgrade() else {
            return;
        };
        let job = inner.lock().notifications.get(id).map(|n| {
            let copies = if attempt == 0 && n.duplicated { 2 } else { 1 };
            (
                n.url.clone(),
                n.body.clone(),
                n.content_type.clone(),
                copies,
            )
        });
        let Some((url, body, content_type, copies)) = job else {
            return;
        };
        let mut acknowledged = false;
        for _ in 0..copies {
            let record = post_form(
                &inner.http,
                (inner.clock)(),
                &url,
                &body,
                &content_type,
                |status, body| status == 200 && body == "success",
            )
            .await;
            acknowledged |= record.acknowledged;
            if let Some(notification) = inner.lock().notifications.get_mut(id) {
                notification.attempts.push(record);
            }
        }
        let delay = {
            let mut state = inner.lock();
            let scale = state.knobs.notify_time_scale;
            let next = inner.settings.notify_schedule.get(attempt).copied();
            let Some(notification) = state.notifications.get_mut(id) else {
                return;
            };
            match after_attempt(acknowledged, next, scale) {
                Ok(delay) => delay,
                Err(end) => {
                    notification.state = end;
                    return;
                }
            }
        };
        drop(inner);
        tokio::time::sleep(delay).await;
        attempt += 1;
    }
}
