//! Webhooks: telling merchants' servers about events, durably.
//!
//! The obligation to deliver is written with the event, in the same transaction as the change
//! that caused it ([`enqueue`]); the [`dispatcher`] claims due deliveries under a lease, POSTs
//! the event body signed twice (see the `paymux-webhook` crate) through the [`sender`], records
//! every attempt and schedules the next one on Ping++'s retry schedule.

pub mod dispatcher;
pub mod endpoints;
pub mod manage;
pub mod sender;

use crate::domain::event::Event;
use crate::domain::webhook::{
    Delivery, DeliveryStatus, Endpoint, TEST_CASE_DELAY_MS, TEST_EVENT_TYPE, TestCase,
};
use crate::error::{GatewayError, GatewayResult};
use crate::ids;
use crate::store;
use serde_json::Value;
use sqlx::AnyConnection;

/// The deliveries a new event needs: one per enabled endpoint of its account and mode that
/// takes its type (two under test case `001`), due now (or in five minutes under `002`).
pub async fn plan(
    conn: &mut AnyConnection,
    event: &Event,
    now_ms: i64,
) -> GatewayResult<Vec<Delivery>> {
    let endpoints =
        store::webhooks::list_endpoints(conn, &event.account_id, Some(event.livemode)).await?;
    let targets: Vec<&Endpoint> = endpoints
        .iter()
        .filter(|e| e.enabled && e.takes(&event.kind) && event.kind != TEST_EVENT_TYPE)
        .collect();
    if targets.is_empty() {
        return Ok(Vec::new());
    }
    let test_case = if event.livemode {
        None
    } else {
        test_case_of(conn, &event.object).await?
    };
    let (copies, due_ms) = match test_case {
        Some(TestCase::Duplicate) => (2, now_ms),
        Some(TestCase::Delay) => (1, now_ms + TEST_CASE_DELAY_MS),
        None => (1, now_ms),
    };
    Ok(targets
        .iter()
        .flat_map(|endpoint| (0..copies).map(|_| new_delivery(event, &endpoint.id, due_ms, now_ms)))
        .collect())
}

/// Writes the planned deliveries of a just-inserted event.
pub async fn insert_planned(
    conn: &mut AnyConnection,
    event: &Event,
    deliveries: &[Delivery],
) -> GatewayResult<()> {
    for delivery in deliveries {
        store::webhooks::insert_delivery(conn, delivery, &event.account_id).await?;
    }
    Ok(())
}

/// The body every attempt of every delivery of this event sends, byte for byte.
pub fn render_body(event: &Event) -> GatewayResult<String> {
    Ok(serde_json::to_string(&event.to_wire())?)
}

fn new_delivery(event: &Event, endpoint_id: &str, due_ms: i64, now_ms: i64) -> Delivery {
    Delivery {
        id: ids::webhook_delivery(),
        event_id: event.id.clone(),
        endpoint_id: endpoint_id.to_owned(),
        status: DeliveryStatus::Pending.as_str().to_owned(),
        attempts: 0,
        next_attempt_ms: due_ms,
        created_ms: now_ms,
        finished_ms: None,
    }
}

/// `metadata[pingpp_tc]` of the charge behind an event: on the charge itself, on a recharge
/// (or its charge), or on the charge a refund belongs to.
async fn test_case_of(conn: &mut AnyConnection, object: &Value) -> GatewayResult<Option<TestCase>> {
    let own = TestCase::from_metadata(object.get("metadata"));
    if own.is_some() {
        return Ok(own);
    }
    match object.get("charge") {
        Some(Value::Object(charge)) => Ok(TestCase::from_metadata(charge.get("metadata"))),
        Some(Value::String(charge_id)) => {
            let charge = store::charges::get_any(conn, charge_id).await?;
            Ok(charge.and_then(|c| TestCase::from_metadata(Some(&Value::Object(c.metadata)))))
        }
        _ => Ok(None),
    }
}

/// Sends an event again now, whatever became of its earlier deliveries: to one endpoint, or to
/// every enabled endpoint of its mode that takes its type. Returns the new deliveries.
pub async fn resend(
    conn: &mut AnyConnection,
    event: &Event,
    endpoint_id: Option<&str>,
    now_ms: i64,
) -> GatewayResult<Vec<Delivery>> {
    let endpoints: Vec<Endpoint> = match endpoint_id {
        Some(id) => {
            let endpoint = store::webhooks::get_endpoint(conn, &event.account_id, id)
                .await?
                .filter(|e| e.livemode == event.livemode)
                .ok_or_else(|| {
                    GatewayError::not_found("webhook_endpoint", id).with_param("endpoint")
                })?;
            vec![endpoint]
        }
        None => store::webhooks::list_endpoints(conn, &event.account_id, Some(event.livemode))
            .await?
            .into_iter()
            .filter(|e| e.enabled && e.takes(&event.kind))
            .collect(),
    };
    if endpoints.is_empty() {
        return Err(GatewayError::invalid(format!(
            "No enabled webhook endpoint in {} mode takes {} events; add one first.",
            if event.livemode { "live" } else { "test" },
            event.kind
        )));
    }
    ensure_body(conn, event).await?;
    // A delivery to the endpoint still retrying is brought forward rather than doubled: the
    // merchant asked for the event to arrive now, not twice.
    let existing = store::webhooks::deliveries_of_event(conn, &event.id).await?;
    let mut deliveries = Vec::with_capacity(endpoints.len());
    let mut fresh = Vec::new();
    for endpoint in &endpoints {
        let retrying = existing
            .iter()
            .find(|d| d.endpoint_id == endpoint.id && d.status == DeliveryStatus::Pending.as_str());
        match retrying {
            Some(delivery) => {
                store::webhooks::bring_forward(conn, &delivery.id, now_ms).await?;
                deliveries.push(Delivery {
                    next_attempt_ms: delivery.next_attempt_ms.min(now_ms),
                    ..delivery.clone()
                });
            }
            None => {
                let delivery = new_delivery(event, &endpoint.id, now_ms, now_ms);
                fresh.push(delivery.clone());
                deliveries.push(delivery);
            }
        }
    }
    insert_planned(conn, event, &fresh).await?;
    store::webhooks::add_pending(conn, &event.id, fresh.len() as i64).await?;
    Ok(deliveries)
}

/// Events recorded while no endpoint took them have no body yet; render it on first need.
async fn ensure_body(conn: &mut AnyConnection, event: &Event) -> GatewayResult<()> {
    let stored = store::webhooks::event_body(conn, &event.id).await?;
    if stored.is_some_and(|(body, _)| body.is_some()) {
        return Ok(());
    }
    Ok(store::webhooks::set_event_body(conn, &event.id, &render_body(event)?).await?)
}

/// An event's deliveries as wire objects, each with its attempts, oldest first.
pub async fn deliveries_with_attempts(
    conn: &mut AnyConnection,
    event_id: &str,
) -> GatewayResult<Vec<Value>> {
    let deliveries = store::webhooks::deliveries_of_event(conn, event_id).await?;
    let attempts = store::webhooks::attempts_of_event(conn, event_id).await?;
    Ok(deliveries
        .iter()
        .map(|delivery| {
            let own = attempts
                .iter()
                .filter(|a| a.delivery_id == delivery.id)
                .map(|a| a.to_wire())
                .collect();
            delivery.to_wire(own)
        })
        .collect())
}
