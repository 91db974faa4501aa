//! Managing webhook endpoints, shared by the API and the CLI.

use crate::domain::event::{Event, EventType};
use crate::domain::webhook::{ALL_EVENTS, EVENT_TYPES, Endpoint};
use crate::error::{GatewayError, GatewayResult};
use crate::ids;
use crate::secrets::{SecretsKey, endpoint_context, seal_stored};
use crate::store;
use paymux_webhook::EndpointSecret;
use sqlx::AnyConnection;

/// What a merchant asks for; `None` fields keep their current (or default) value.
#[derive(Debug, Clone, Default)]
pub struct EndpointChange {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub enabled: Option<bool>,
    pub description: Option<String>,
}

fn check_events(events: &[String]) -> GatewayResult<()> {
    if events.is_empty() {
        return Err(GatewayError::invalid_param(
            "events",
            "Parameter events must name at least one event type, or \"*\" for all.",
        ));
    }
    for event in events {
        if event != ALL_EVENTS && !EVENT_TYPES.contains(&event.as_str()) {
            return Err(GatewayError::invalid_param(
                "events",
                format!(
                    "Unknown event type {event:?}; the gateway emits {} (or \"*\" for all).",
                    EVENT_TYPES.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// Seals the webhook secrets stored in clear (written before a secrets key was configured).
pub async fn seal_clear_secrets(
    conn: &mut AnyConnection,
    key: &SecretsKey,
) -> GatewayResult<usize> {
    let clear = store::webhooks::clear_secrets(conn).await?;
    for (id, secret) in &clear {
        let sealed = key
            .seal(secret.as_bytes(), &endpoint_context(id))
            .map_err(|e| GatewayError::internal().caused_by(e))?;
        store::webhooks::set_secret(conn, id, &sealed).await?;
    }
    Ok(clear.len())
}

fn check_url(url: &str) -> GatewayResult<()> {
    super::sender::check_url(url)
        .map(|_| ())
        .map_err(|message| GatewayError::invalid_param("url", message))
}

/// Creates an endpoint; returns it with its new secret, which is shown this once.
pub async fn create(
    conn: &mut AnyConnection,
    account_id: &str,
    livemode: bool,
    change: EndpointChange,
    now: i64,
    secrets: Option<&SecretsKey>,
) -> GatewayResult<(Endpoint, EndpointSecret)> {
    let url = change
        .url
        .ok_or_else(|| GatewayError::invalid_param("url", "Parameter url is required."))?;
    check_url(&url)?;
    let events = change.events.unwrap_or_else(|| vec![ALL_EVENTS.to_owned()]);
    check_events(&events)?;
    let endpoint = Endpoint {
        id: ids::webhook_endpoint(),
        account_id: account_id.to_owned(),
        livemode,
        url,
        events,
        enabled: change.enabled.unwrap_or(true),
        description: change.description,
        created: now,
    };
    let secret = EndpointSecret::generate();
    let stored = seal_stored(secrets, secret.expose(), &endpoint_context(&endpoint.id))
        .map_err(|e| GatewayError::internal().caused_by(e))?;
    store::webhooks::insert_endpoint(conn, &endpoint, &stored).await?;
    Ok((endpoint, secret))
}

pub async fn update(
    conn: &mut AnyConnection,
    mut endpoint: Endpoint,
    change: EndpointChange,
) -> GatewayResult<Endpoint> {
    if let Some(url) = change.url {
        check_url(&url)?;
        endpoint.url = url;
    }
    if let Some(events) = change.events {
        check_events(&events)?;
        endpoint.events = events;
    }
    if let Some(enabled) = change.enabled {
        endpoint.enabled = enabled;
    }
    if let Some(description) = change.description {
        endpoint.description = Some(description);
    }
    store::webhooks::update_endpoint(conn, &endpoint).await?;
    Ok(endpoint)
}

/// Records a `webhook.test` event and delivers it to this endpoint alone (enabled or not), so
/// a merchant can check their receiver and its signature checks.
pub async fn send_test(
    conn: &mut AnyConnection,
    endpoint: &Endpoint,
    now_ms: i64,
) -> GatewayResult<Event> {
    let app_id = store::accounts::first_app_of(conn, &endpoint.account_id)
        .await?
        .ok_or_else(GatewayError::internal)?;
    let cause = crate::payments::Cause {
        account_id: &endpoint.account_id,
        app_id: &app_id,
        livemode: endpoint.livemode,
        request_id: None,
    };
    let object = endpoint.to_wire(None);
    let event =
        crate::payments::record_event(conn, &cause, EventType::WebhookTest, object, now_ms / 1000)
            .await?;
    super::resend(conn, &event, Some(&endpoint.id), now_ms).await?;
    Ok(event)
}
