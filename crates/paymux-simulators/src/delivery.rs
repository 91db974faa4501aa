//! What the form-notifying simulators (Alipay, UnionPay) share about delivering a notification:
//! its states, the record of one POST, the POST itself and the retry arithmetic. Each channel
//! keeps its own schedule and its own idea of an acknowledgement.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What became of a notification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Being delivered, or waiting for the next attempt.
    Pending,
    /// The receiver acknowledged it the way the channel requires.
    Delivered,
    /// Every attempt of the schedule failed (or there was no tokio runtime to send it).
    Exhausted,
    /// Never sent (the simulator's `drop_notifications` knob).
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
    /// The answer counts as an acknowledgement (Alipay: HTTP 200 and exactly `success`;
    /// UnionPay: HTTP 200).
    pub acknowledged: bool,
}

impl DeliveryAttempt {
    /// The attempt recorded when a hook ran outside a tokio runtime and nothing could be sent.
    pub(crate) fn without_runtime(at_ms: i64) -> Self {
        Self {
            at_ms,
            status: None,
            response_body: None,
            error: Some("no tokio runtime to send the notification".to_owned()),
            acknowledged: false,
        }
    }
}

/// POSTs a form-encoded notification and records the answer; `acknowledges` says whether a
/// status and body acknowledge it.
pub(crate) async fn post_form(
    http: &reqwest::Client,
    at_ms: i64,
    url: &str,
    body: &str,
    content_type: &str,
    acknowledges: fn(u16, &str) -> bool,
) -> DeliveryAttempt {
    let mut record = DeliveryAttempt {
        at_ms,
        status: None,
        response_body: None,
        error: None,
        acknowledged: false,
    };
    let sent = http
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, content_type)
        .body(body.to_owned())
        .send()
        .await;
    match sent {
        Ok(response) => {
            let status = response.status().as_u16();
            record.status = Some(status);
            match response.text().await {
                Ok(text) => {
                    record.acknowledged = acknowledges(status, &text);
                    record.response_body = Some(text.chars().take(1024).collect());
                }
                Err(error) => record.error = Some(error.to_string()),
            }
        }
        Err(error) => record.error = Some(error.to_string()),
    }
    record
}

/// After an attempt: how long to wait before the next one (the schedule's `next` delay, scaled
/// by the `notify_time_scale` knob), or the state the notification ends in.
pub(crate) fn after_attempt(
    acknowledged: bool,
    next: Option<Duration>,
    scale: f64,
) -> Result<Duration, DeliveryState> {
    match (acknowledged, next) {
        (true, _) => Err(DeliveryState::Delivered),
        (false, None) => Err(DeliveryState::Exhausted),
        (false, Some(delay)) => Ok(scaled(delay, scale)),
    }
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

    #[test]
    fn after_an_attempt() {
        let second = Some(Duration::from_secs(1));
        assert_eq!(
            after_attempt(true, second, 1.0),
            Err(DeliveryState::Delivered)
        );
        assert_eq!(
            after_attempt(false, None, 1.0),
            Err(DeliveryState::Exhausted)
        );
        assert_eq!(
            after_attempt(false, second, 0.5),
            Ok(Duration::from_millis(500))
        );
    }
}
