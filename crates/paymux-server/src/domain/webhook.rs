//! Webhook endpoints, deliveries and attempts: the rules (which events an endpoint takes, when
//! the next attempt is due) and their wire shapes. No I/O.

use super::wire::{
    WebhookAttemptObject, WebhookAttemptTag, WebhookDeliveryObject, WebhookDeliveryTag,
    WebhookEndpointObject, WebhookEndpointTag, to_value,
};
use serde_json::Value;

/// Delay before each retry of a failed delivery, after the attempt that failed: Ping++'s
/// schedule (seeds 001/002), 10 retries within about 25 hours. The first attempt is immediate.
pub const RETRY_DELAYS_SECS: [i64; 10] = [
    5,
    10,
    2 * 60,
    5 * 60,
    10 * 60,
    30 * 60,
    60 * 60,
    2 * 60 * 60,
    6 * 60 * 60,
    15 * 60 * 60,
];

/// The event types the gateway emits; an endpoint may subscribe to these or to `*` (all).
pub const EVENT_TYPES: [&str; 6] = [
    "charge.succeeded",
    "charge.reversed",
    "refund.succeeded",
    "refund.failed",
    "recharge.succeeded",
    TEST_EVENT_TYPE,
];

/// Sent by `paymux webhooks test` and `POST /v1/webhook_endpoints/{id}/test`, to that
/// endpoint alone.
pub const TEST_EVENT_TYPE: &str = "webhook.test";

pub const ALL_EVENTS: &str = "*";

/// When attempt number `attempt` (1-based) started at `started_ms` and failed, when the next
/// one is due; `None` once the schedule is used up (the delivery has failed).
pub fn next_attempt_ms(attempt: i64, started_ms: i64) -> Option<i64> {
    let index = usize::try_from(attempt.checked_sub(1)?).ok()?;
    RETRY_DELAYS_SECS
        .get(index)
        .map(|delay| started_ms + delay * 1000)
}

/// Test-mode fault injection chosen by a charge's `metadata[pingpp_tc]`, as Ping++ offers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestCase {
    /// `001`: every event is delivered twice (two deliveries per endpoint).
    Duplicate,
    /// `002`: first attempts are delayed by five minutes.
    Delay,
}

pub const TEST_CASE_DELAY_MS: i64 = 5 * 60 * 1000;

impl TestCase {
    pub fn from_metadata(metadata: Option<&Value>) -> Option<Self> {
        match metadata?.get("pingpp_tc")?.as_str()? {
            "001" => Some(TestCase::Duplicate),
            "002" => Some(TestCase::Delay),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    pub id: String,
    pub account_id: String,
    pub livemode: bool,
    pub url: String,
    /// Subscribed event types; `["*"]` for all.
    pub events: Vec<String>,
    pub enabled: bool,
    pub description: Option<String>,
    pub created: i64,
}

impl Endpoint {
    pub fn takes(&self, event_type: &str) -> bool {
        self.events
            .iter()
            .any(|e| e == ALL_EVENTS || e == event_type)
    }

    /// The wire object. The secret is shown only when the endpoint is created.
    pub fn to_wire(&self, secret: Option<&str>) -> Value {
        to_value(WebhookEndpointObject {
            id: self.id.clone(),
            object: WebhookEndpointTag::Tag,
            created: self.created,
            livemode: self.livemode,
            url: self.url.clone(),
            events: self.events.clone(),
            enabled: self.enabled,
            description: self.description.clone(),
            secret: secret.map(str::to_owned),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Pending,
    Succeeded,
    Failed,
    /// The endpoint was removed before the delivery finished.
    Cancelled,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Succeeded => "succeeded",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<DeliveryStatus> {
        [
            DeliveryStatus::Pending,
            DeliveryStatus::Succeeded,
            DeliveryStatus::Failed,
            DeliveryStatus::Cancelled,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub id: String,
    pub event_id: String,
    pub endpoint_id: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_ms: i64,
    pub created_ms: i64,
    pub finished_ms: Option<i64>,
}

impl Delivery {
    pub fn to_wire(&self, attempts: Vec<WebhookAttemptObject>) -> Value {
        let status = DeliveryStatus::parse(&self.status).unwrap_or(DeliveryStatus::Pending);
        let pending = status == DeliveryStatus::Pending;
        to_value(WebhookDeliveryObject {
            id: self.id.clone(),
            object: WebhookDeliveryTag::Tag,
            event: self.event_id.clone(),
            endpoint: self.endpoint_id.clone(),
            status,
            attempt_count: self.attempts,
            next_attempt_at_ms: pending.then_some(self.next_attempt_ms),
            created_ms: self.created_ms,
            finished_ms: self.finished_ms,
            attempts,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    pub id: String,
    pub delivery_id: String,
    pub event_id: String,
    pub endpoint_id: String,
    pub number: i64,
    pub due_ms: i64,
    pub started_ms: i64,
    pub url: String,
    pub status_code: Option<i64>,
    pub latency_ms: i64,
    pub response_excerpt: Option<String>,
    pub error: Option<String>,
    pub succeeded: bool,
}

impl Attempt {
    pub fn to_wire(&self) -> WebhookAttemptObject {
        WebhookAttemptObject {
            id: self.id.clone(),
            object: WebhookAttemptTag::Tag,
            delivery: self.delivery_id.clone(),
            event: self.event_id.clone(),
            endpoint: self.endpoint_id.clone(),
            number: self.number,
            due_ms: self.due_ms,
            started_ms: self.started_ms,
            url: self.url.clone(),
            status_code: self.status_code,
            latency_ms: self.latency_ms,
            response: self.response_excerpt.clone(),
            error: self.error.clone(),
            succeeded: self.succeeded,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn schedule_is_ping_plus_plus_and_ends_after_ten_retries() {
        assert_eq!(next_attempt_ms(1, 1_000), Some(6_000));
        assert_eq!(next_attempt_ms(2, 0), Some(10_000));
        assert_eq!(next_attempt_ms(10, 0), Some(15 * 3600 * 1000));
        assert_eq!(next_attempt_ms(11, 0), None);
        assert_eq!(next_attempt_ms(0, 0), None);
        let total: i64 = RETRY_DELAYS_SECS.iter().sum();
        assert!(total < 25 * 3600, "within 25 hours");
    }

    #[test]
    fn test_cases_come_from_metadata() {
        let meta = json!({"pingpp_tc": "001"});
        assert_eq!(
            TestCase::from_metadata(Some(&meta)),
            Some(TestCase::Duplicate)
        );
        let meta = json!({"pingpp_tc": "002"});
        assert_eq!(TestCase::from_metadata(Some(&meta)), Some(TestCase::Delay));
        assert_eq!(
            TestCase::from_metadata(Some(&json!({"pingpp_tc": "003"}))),
            None
        );
        assert_eq!(TestCase::from_metadata(None), None);
    }
}
