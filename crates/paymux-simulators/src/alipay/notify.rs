//! `trade_status_sync` notifications (`channels.md` §4.5): built and signed once, then POSTed by
//! a background task until the receiver answers HTTP 200 with the body exactly `success`, on
//! Alipay's redelivery schedule.

use super::Inner;
use super::trade::{Event, Order, Trade, TradeStatus, dashed, dashed_millis};
use paymux_channels::Params;
use paymux_channels::alipay::{format_yuan, sign_notify};
use paymux_channels::form;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// What became of a notification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Being delivered, or waiting for the next attempt.
    Pending,
    /// The receiver answered `success`.
    Delivered,
    /// Every attempt of the schedule failed (or there was no tokio runtime to send it).
    Exhausted,
    /// Never sent ([`super::Knobs::drop_notifications`]).
    Dropped,
}

/// One POST of a notification and the receiver's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryAttempt {
    /// The simulator's clock when the POST started.
    pub at_ms: i64,
    /// The HTTP status, when there was an answer.
    pub status: Option<u16>,
    /// The answer body (its first 1024 characters).
    pub response_body: Option<String>,
    /// Why no answer arrived (connection refused, timeout, …).
    pub error: Option<String>,
    /// HTTP 200 with the body exactly `success`.
    pub acknowledged: bool,
}

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
            body: form::encode(&params),
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
        .with("charset", "utf-8")
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
    sign_notify(&mut params, &inner.key);
    params
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
                    notification.attempts.push(DeliveryAttempt {
                        at_ms: now,
                        status: None,
                        response_body: None,
                        error: Some("no tokio runtime to send the notification".to_owned()),
                        acknowledged: false,
                    });
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
            (n.url.clone(), n.body.clone(), copies)
        });
        let Some((url, body, copies)) = job else {
            return;
        };
        let mut acknowledged = false;
        for _ in 0..copies {
            let record = post(&inner, &url, &body).await;
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
            match (acknowledged, next) {
                (true, _) => {
                    notification.state = DeliveryState::Delivered;
                    return;
                }
                (false, None) => {
                    notification.state = DeliveryState::Exhausted;
                    return;
                }
                (false, Some(delay)) => scaled(delay, scale),
            }
        };
        drop(inner);
        tokio::time::sleep(delay).await;
        attempt += 1;
    }
}

async fn post(inner: &Inner, url: &str, body: &str) -> DeliveryAttempt {
    let mut record = DeliveryAttempt {
        at_ms: (inner.clock)(),
        status: None,
        response_body: None,
        error: None,
        acknowledged: false,
    };
    let sent = inner
        .http
        .post(url)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded; charset=utf-8",
        )
        .body(body.to_owned())
        .send()
        .await;
    match sent {
        Ok(response) => {
            let status = response.status().as_u16();
            record.status = Some(status);
            match response.text().await {
                Ok(text) => {
                    record.acknowledged = status == 200 && text == "success";
                    record.response_body = Some(text.chars().take(1024).collect());
                }
                Err(error) => record.error = Some(error.to_string()),
            }
        }
        Err(error) => record.error = Some(error.to_string()),
    }
    record
}

/// `delay × scale`; a scale that is negative, zero or not a number means no delay.
fn scaled(delay: Duration, scale: f64) -> Duration {
    let secs = delay.as_secs_f64() * scale;
    if secs.is_finite() && secs > 0.0 {
        Duration::try_from_secs_f64(secs).unwrap_or(Duration::from_secs(u64::from(u32::MAX)))
    } else if secs.is_infinite() && secs > 0.0 {
        Duration::from_secs(u64::from(u32::MAX))
    } else {
        Duration::ZERO
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling() {
        let four_minutes = Duration::from_secs(240);
        assert_eq!(scaled(four_minutes, 1.0), four_minutes);
        assert_eq!(
            scaled(four_minutes, 0.00001),
            Duration::from_secs_f64(0.0024)
        );
        assert_eq!(scaled(four_minutes, 0.0), Duration::ZERO);
        assert_eq!(scaled(four_minutes, -1.0), Duration::ZERO);
        assert_eq!(scaled(four_minutes, f64::NAN), Duration::ZERO);
        assert_eq!(
            scaled(four_minutes, f64::INFINITY),
            Duration::from_secs(u64::from(u32::MAX))
        );
    }
}
