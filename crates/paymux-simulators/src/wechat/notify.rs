//! Notifications (docs/channels/wechat-v2.md): the signed pay notify, the encrypted refund notify, and
//! their delivery with WeChat's retry schedule.

use super::WechatMerchant;
use super::model::{Inner, Order, compact, dashed, nonce};
use paymux_channels::Params;
use paymux_channels::wechat_v2::{SignType, add_sign, encrypt_req_info, from_xml, to_xml};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// Seconds between attempts: after the first attempt, 15 more (docs/channels/wechat-v2.md, "Notifications").
pub(super) const RETRY_SCHEDULE_SECS: [i64; 15] = [
    15, 15, 30, 180, 600, 1_200, 1_800, 1_800, 1_800, 3_600, 10_800, 10_800, 10_800, 21_600, 21_600,
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotificationKind {
    /// The signed pay result notify.
    Pay,
    /// The refund notify with `req_info`.
    Refund,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationStatus {
    /// Not acknowledged yet; more attempts will come.
    Pending,
    /// An attempt was answered with the XML SUCCESS reply.
    Acknowledged,
    /// All 16 attempts failed.
    GaveUp,
}

/// One notification and what became of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationRecord {
    /// Its index in [`super::WechatSimulator::notifications`].
    pub id: usize,
    pub kind: NotificationKind,
    pub mch_id: String,
    pub out_trade_no: String,
    pub out_refund_no: Option<String>,
    pub url: String,
    /// The exact XML sent (the same bytes on every attempt).
    pub body: String,
    pub status: NotificationStatus,
    pub deliveries: Vec<Delivery>,
}

/// One attempt (or its duplicate copy).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// 0 for the first attempt, up to 15.
    pub attempt: u32,
    /// The second copy sent by the `duplicate_notifications` knob.
    pub duplicate: bool,
    /// Not sent, because of the `drop_notifications` knob.
    pub dropped: bool,
    /// When it was sent (simulator clock, ms).
    pub at_ms: i64,
    pub http_status: Option<u16>,
    /// The body of the answer.
    pub answer: Option<String>,
    /// Why there was no answer (connection refused, timeout…).
    pub error: Option<String>,
    pub acknowledged: bool,
}

impl NotificationRecord {
    pub(super) fn new(
        kind: NotificationKind,
        order: &Order,
        out_refund_no: Option<String>,
        url: String,
        body: String,
    ) -> Self {
        Self {
            id: 0,
            kind,
            mch_id: order.mch_id.clone(),
            out_trade_no: order.out_trade_no.clone(),
            out_refund_no,
            url,
            body,
            status: NotificationStatus::Pending,
            deliveries: Vec::new(),
        }
    }

    /// Attempts made so far (duplicates are part of their attempt).
    fn attempts(&self) -> u32 {
        u32::try_from(self.deliveries.iter().filter(|d| !d.duplicate).count()).unwrap_or(u32::MAX)
    }
}

/// The pay notify of a paid order, signed as the order was created.
pub(super) fn pay_body(merchant: &WechatMerchant, order: &Order) -> Option<String> {
    let payment = order.payment.as_ref()?;
    let total_fee = order.total_fee.to_string();
    let mut params = Params::new()
        .with("return_code", "SUCCESS")
        .with("return_msg", "OK")
        .with("appid", order.appid.as_str())
        .with("mch_id", order.mch_id.as_str())
        .with("nonce_str", nonce())
        .with("result_code", "SUCCESS")
        .with("openid", payment.openid.as_str())
        .with("is_subscribe", "N")
        .with("trade_type", order.trade_type.as_str())
        .with("bank_type", payment.bank_type.as_str())
        .with("total_fee", total_fee.as_str())
        .with("fee_type", "CNY")
        .with("cash_fee", total_fee.as_str())
        .with("transaction_id", payment.transaction_id.as_str())
        .with("out_trade_no", order.out_trade_no.as_str())
        .with("time_end", compact(payment.time_end_ms));
    if !order.attach.is_empty() {
        params.insert("attach", order.attach.as_str());
    }
    if !order.device_info.is_empty() {
        params.insert("device_info", order.device_info.as_str());
    }
    if order.sign_type == SignType::HmacSha256 {
        params.insert("sign_type", SignType::HmacSha256.as_str());
    }
    add_sign(&mut params, order.sign_type, &merchant.api_key);
    to_xml(&params).ok()
}

/// The refund notify of `order.refunds[index]`: no `sign`, the details encrypted in `req_info`.
pub(super) fn refund_body(
    merchant: &WechatMerchant,
    order: &Order,
    index: usize,
) -> Option<String> {
    let refund = order.refunds.get(index)?;
    let payment = order.payment.as_ref()?;
    let total_fee = order.total_fee.to_string();
    let refund_fee = refund.refund_fee.to_string();
    let mut info = Params::new()
        .with("transaction_id", payment.transaction_id.as_str())
        .with("out_trade_no", order.out_trade_no.as_str())
        .with("refund_id", refund.refund_id.as_str())
        .with("out_refund_no", refund.out_refund_no.as_str())
        .with("total_fee", total_fee.as_str())
        .with("settlement_total_fee", total_fee.as_str())
        .with("refund_fee", refund_fee.as_str())
        .with("settlement_refund_fee", refund_fee.as_str())
        .with("refund_status", refund.status.as_str())
        .with("refund_recv_accout", refund.recv_account.as_str())
        .with("refund_account", refund.refund_account.as_str())
        .with("refund_request_source", "API");
    if let Some(at) = refund.success_ms {
        info.insert("success_time", dashed(at));
    }
    let req_info = encrypt_req_info(&info, &merchant.api_key).ok()?;
    let params = Params::new()
        .with("return_code", "SUCCESS")
        .with("return_msg", "OK")
        .with("appid", order.appid.as_str())
        .with("mch_id", order.mch_id.as_str())
        .with("nonce_str", nonce())
        .with("req_info", req_info);
    to_xml(&params).ok()
}

/// Whether an answer is WeChat's idea of "handled": HTTP 200 and `return_code=SUCCESS`.
fn is_success_reply(status: u16, body: &str) -> bool {
    status == 200 && from_xml(body.trim()).is_ok_and(|p| p.get("return_code") == Some("SUCCESS"))
}

async fn post(
    inner: &Inner,
    url: &str,
    body: &str,
    timeout_ms: u64,
) -> (Option<u16>, Option<String>, Option<String>) {
    let sent = inner
        .http
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "text/xml")
        .timeout(Duration::from_millis(timeout_ms.max(1)))
        .body(body.to_owned())
        .send()
        .await;
    match sent {
        Ok(response) => {
            let status = response.status().as_u16();
            match response.text().await {
                Ok(text) => (Some(status), Some(text), None),
                Err(e) => (Some(status), None, Some(e.to_string())),
            }
        }
        Err(e) => (None, None, Some(e.to_string())),
    }
}

/// Makes the attempt of notification `id` that is due, then schedules the next one or ends it.
pub(super) async fn deliver(inner: Arc<Inner>, id: usize) {
    let (url, body, attempt, knobs) = {
        let st = inner.lock();
        let Some(record) = st.notifications.get(id) else {
            return;
        };
        if record.status != NotificationStatus::Pending {
            return;
        }
        (
            record.url.clone(),
            record.body.clone(),
            record.attempts(),
            st.knobs.clone(),
        )
    };
    let copies = if knobs.drop_notifications {
        0
    } else if knobs.duplicate_notifications {
        2
    } else {
        1
    };
    let mut deliveries = Vec::new();
    if copies == 0 {
        deliveries.push(Delivery {
            attempt,
            duplicate: false,
            dropped: true,
            at_ms: inner.now(),
            http_status: None,
            answer: None,
            error: None,
            acknowledged: false,
        });
    }
    for copy in 0..copies {
        let at_ms = inner.now();
        let (http_status, answer, error) = post(&inner, &url, &body, knobs.notify_timeout_ms).await;
        let acknowledged = match (http_status, &answer) {
            (Some(status), Some(text)) => is_success_reply(status, text),
            _ => false,
        };
        deliveries.push(Delivery {
            attempt,
            duplicate: copy > 0,
            dropped: false,
            at_ms,
            http_status,
            answer,
            error,
            acknowledged,
        });
    }
    let acknowledged = deliveries.iter().any(|d| d.acknowledged);
    let now = inner.now();
    let mut st = inner.lock();
    let scale = st.knobs.notify_time_scale;
    let Some(record) = st.notifications.get_mut(id) else {
        return;
    };
    record.deliveries.extend(deliveries);
    let retry_at = if acknowledged {
        record.status = NotificationStatus::Acknowledged;
        None
    } else if let Some(secs) = usize::try_from(attempt)
        .ok()
        .and_then(|i| RETRY_SCHEDULE_SECS.get(i))
    {
        Some(now.saturating_add(scaled_ms(*secs, scale)))
    } else {
        record.status = NotificationStatus::GaveUp;
        None
    };
    if let Some(at) = retry_at {
        st.schedule_attempt(at, id);
    }
    drop(st);
    inner.wake.notify_one();
}

/// `secs` seconds times the time scale, in milliseconds.
fn scaled_ms(secs: i64, scale: f64) -> i64 {
    let scale = if scale.is_finite() && scale >= 0.0 {
        scale
    } else {
        1.0
    };
    // Float to int `as` saturates; the schedule's values are far from the limits anyway.
    ((secs as f64) * 1000.0 * scale).round() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_is_about_a_day() {
        let total: i64 = RETRY_SCHEDULE_SECS.iter().sum();
        assert_eq!(total, 24 * 3600 + 4 * 60);
        assert_eq!(scaled_ms(15, 0.001), 15);
        assert_eq!(scaled_ms(15, 1.0), 15_000);
        assert_eq!(scaled_ms(15, f64::NAN), 15_000);
    }

    #[test]
    fn success_reply_detection() {
        let ok = paymux_channels::wechat_v2::notify_success_reply();
        assert!(is_success_reply(200, &ok));
        assert!(is_success_reply(200, &format!("\n{ok}\n")));
        assert!(!is_success_reply(500, &ok));
        assert!(!is_success_reply(200, "SUCCESS"));
        assert!(!is_success_reply(
            200,
            &paymux_channels::wechat_v2::notify_fail_reply("no")
        ));
    }
}
