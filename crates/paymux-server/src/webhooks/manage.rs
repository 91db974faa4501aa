//! What a merchant does with webhooks, through the API or in the console: the same checks and
//! the same writes, a console operator's change recorded in the audit log in its transaction.

use super::endpoints::{self, EndpointChange};
use crate::domain::Caller;
use crate::domain::event::Event;
use crate::domain::webhook::{Delivery, Endpoint};
use crate::error::{GatewayError, GatewayResult};
use crate::operators::{attribute, detail};
use crate::state::AppState;
use crate::store;
use paymux_webhook::EndpointSecret;
use serde_json::{Map, Value, json};
use sqlx::AnyConnection;

pub async fn endpoint_of(
    conn: &mut AnyConnection,
    caller: &Caller,
    id: &str,
) -> GatewayResult<Endpoint> {
    store::webhooks::get_endpoint(conn, &caller.account_id, id)
        .await?
        .filter(|e| e.livemode == caller.livemode)
        .ok_or_else(|| GatewayError::not_found("webhook_endpoint", id))
}

pub async fn event_of(conn: &mut AnyConnection, caller: &Caller, id: &str) -> GatewayResult<Event> {
    store::events::get(conn, &caller.account_id, caller.livemode, id)
        .await?
        .ok_or_else(|| GatewayError::not_found("event", id))
}

async fn check_reachable(state: &AppState, change: &EndpointChange) -> GatewayResult<()> {
    match &change.url {
        Some(url) => {
            crate::outbound::refuse_denied(url, "url", &state.settings.webhook_deny_networks).await
        }
        None => Ok(()),
    }
}

fn described(endpoint: &Endpoint) -> Map<String, Value> {
    detail(json!({
        "url": endpoint.url,
        "events": endpoint.events,
        "enabled": endpoint.enabled,
    }))
}

/// A new endpoint of the caller's mode, with its secret (shown this once).
pub async fn create(
    state: &AppState,
    caller: Caller,
    change: EndpointChange,
) -> GatewayResult<(Endpoint, EndpointSecret)> {
    check_reachable(state, &change).await?;
    let now_ms = state.clock.now_ms();
    let secrets = state.settings.secrets_key.clone();
    state
        .db
        .write(move |conn| {
            Box::pin(async move {
                let (endpoint, secret) = endpoints::create(
                    conn,
                    &caller.account_id,
                    caller.livemode,
                    change,
                    now_ms / 1000,
                    secrets.as_ref(),
                )
                .await?;
                let detail = described(&endpoint);
                attribute(
                    conn,
                    &caller,
                    now_ms,
                    "webhook.create",
                    &endpoint.id,
                    detail,
                )
                .await?;
                Ok((endpoint, secret))
            })
        })
        .await
}

pub async fn update(
    state: &AppState,
    caller: Caller,
    id: String,
    change: EndpointChange,
) -> GatewayResult<Endpoint> {
    check_reachable(state, &change).await?;
    let now_ms = state.clock.now_ms();
    state
        .db
        .write(move |conn| {
            Box::pin(async move {
                let endpoint = endpoint_of(conn, &caller, &id).await?;
                let endpoint = endpoints::update(conn, endpoint, change).await?;
                let detail = described(&endpoint);
                attribute(
                    conn,
                    &caller,
                    now_ms,
                    "webhook.update",
                    &endpoint.id,
                    detail,
                )
                .await?;
                Ok(endpoint)
            })
        })
        .await
}

/// Removes an endpoint, cancelling its pending deliveries.
pub async fn remove(state: &AppState, caller: Caller, id: String) -> GatewayResult<Endpoint> {
    let now_ms = state.clock.now_ms();
    state
        .db
        .write(move |conn| {
            Box::pin(async move {
                let endpoint = endpoint_of(conn, &caller, &id).await?;
                store::webhooks::remove_endpoint(conn, &endpoint.id, now_ms).await?;
                let detail = described(&endpoint);
                attribute(
                    conn,
                    &caller,
                    now_ms,
                    "webhook.remove",
                    &endpoint.id,
                    detail,
                )
                .await?;
                Ok(endpoint)
            })
        })
        .await
}

/// Delivers a `webhook.test` event to one endpoint.
pub async fn send_test(state: &AppState, caller: Caller, id: String) -> GatewayResult<Event> {
    let now_ms = state.clock.now_ms();
    let event = state
        .db
        .write(move |conn| {
            Box::pin(async move {
                let endpoint = endpoint_of(conn, &caller, &id).await?;
                let event = endpoints::send_test(conn, &endpoint, now_ms).await?;
                let detail = detail(json!({"event": event.id}));
                attribute(conn, &caller, now_ms, "webhook.test", &endpoint.id, detail).await?;
                Ok::<_, GatewayError>(event)
            })
        })
        .await?;
    state.webhooks_wake.notify_one();
    Ok(event)
}

/// Sends an event again now, to one endpoint or to every enabled one that takes it.
pub async fn resend(
    state: &AppState,
    caller: Caller,
    event_id: String,
    endpoint: Option<String>,
) -> GatewayResult<(Event, Vec<Delivery>)> {
    let now_ms = state.clock.now_ms();
    let done = state
        .db
        .write(move |conn| {
            Box::pin(async move {
                let event = event_of(conn, &caller, &event_id).await?;
                let created = super::resend(conn, &event, endpoint.as_deref(), now_ms).await?;
                let detail = detail(json!({
                    "endpoint": endpoint,
                    "deliveries": created.len(),
                }));
                attribute(conn, &caller, now_ms, "event.resend", &event.id, detail).await?;
                Ok::<_, GatewayError>((event, created))
            })
        })
        .await?;
    state.webhooks_wake.notify_one();
    Ok(done)
}
