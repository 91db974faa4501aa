//! `/v1/webhook_endpoints` and the webhook log of events. Not part of Ping++'s API (Ping++
//! configures webhooks in its dashboard); shaped like the rest of it. An endpoint belongs to
//! the mode of the key that created it.

use super::auth::ApiCall;
use super::ok;
use super::params::BodyParams;
use crate::domain::Caller;
use crate::domain::event::Event;
use crate::domain::list::list as list_object;
use crate::domain::webhook::Endpoint;
use crate::domain::wire::{Deleted, WebhookEndpointTag, to_value};
use crate::error::{GatewayError, GatewayResult};
use crate::state::AppState;
use crate::store;
use crate::webhooks::{self, endpoints::EndpointChange};
use axum::extract::{Path, State};
use axum::response::Response;
use sqlx::AnyConnection;

const URL_MAX: usize = 2048;

fn parse_change(params: &mut BodyParams) -> GatewayResult<EndpointChange> {
    Ok(EndpointChange {
        url: params.optional_str("url", URL_MAX)?,
        events: params.optional_str_list("events")?,
        enabled: params.optional_bool("enabled")?,
        description: params.optional_str("description", 255)?,
    })
}

async fn endpoint_of(
    conn: &mut AnyConnection,
    caller: &Caller,
    id: &str,
) -> GatewayResult<Endpoint> {
    store::webhooks::get_endpoint(conn, &caller.account_id, id)
        .await?
        .filter(|e| e.livemode == caller.livemode)
        .ok_or_else(|| GatewayError::not_found("webhook_endpoint", id))
}

async fn event_of(conn: &mut AnyConnection, caller: &Caller, id: &str) -> GatewayResult<Event> {
    store::events::get(conn, &caller.account_id, caller.livemode, id)
        .await?
        .ok_or_else(|| GatewayError::not_found("event", id))
}

pub async fn create(State(state): State<AppState>, call: ApiCall) -> GatewayResult<Response> {
    let mut params = BodyParams::parse(&call.body)?;
    let change = parse_change(&mut params)?;
    params.finish()?;
    if let Some(url) = &change.url {
        super::check_reachable(&state, url, "url").await?;
    }
    let now = state.clock.now_secs();
    let caller = call.caller;
    let secrets = state.settings.secrets_key.clone();
    let value = state
        .db
        .write(move |conn| {
            Box::pin(async move {
                let (endpoint, secret) = webhooks::endpoints::create(
                    conn,
                    &caller.account_id,
                    caller.livemode,
                    change,
                    now,
                    secrets.as_ref(),
                )
                .await?;
                Ok::<_, GatewayError>(endpoint.to_wire(Some(secret.expose())))
            })
        })
        .await?;
    ok(&value)
}

pub async fn list(State(state): State<AppState>, call: ApiCall) -> GatewayResult<Response> {
    let mut conn = state.db.reader().acquire().await?;
    let caller = &call.caller;
    let endpoints =
        store::webhooks::list_endpoints(&mut conn, &caller.account_id, Some(caller.livemode))
            .await?;
    let data = endpoints.iter().map(|e| e.to_wire(None)).collect();
    ok(&list_object("/v1/webhook_endpoints", false, data))
}

pub async fn retrieve(
    State(state): State<AppState>,
    Path(id): Path<String>,
    call: ApiCall,
) -> GatewayResult<Response> {
    let mut conn = state.db.reader().acquire().await?;
    ok(&endpoint_of(&mut conn, &call.caller, &id)
        .await?
        .to_wire(None))
}

pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    call: ApiCall,
) -> GatewayResult<Response> {
    let mut params = BodyParams::parse(&call.body)?;
    let change = parse_change(&mut params)?;
    params.finish()?;
    if let Some(url) = &change.url {
        super::check_reachable(&state, url, "url").await?;
    }
    let caller = call.caller;
    let value = state
        .db
        .write(move |conn| {
            Box::pin(async move {
                let endpoint = endpoint_of(conn, &caller, &id).await?;
                let endpoint = webhooks::endpoints::update(conn, endpoint, change).await?;
                Ok::<_, GatewayError>(endpoint.to_wire(None))
            })
        })
        .await?;
    ok(&value)
}

pub async fn remove(
    State(state): State<AppState>,
    Path(id): Path<String>,
    call: ApiCall,
) -> GatewayResult<Response> {
    let now_ms = state.clock.now_ms();
    let caller = call.caller;
    let value = state
        .db
        .write(move |conn| {
            Box::pin(async move {
                let endpoint = endpoint_of(conn, &caller, &id).await?;
                store::webhooks::remove_endpoint(conn, &endpoint.id, now_ms).await?;
                Ok::<_, GatewayError>(to_value(Deleted {
                    id: endpoint.id,
                    object: WebhookEndpointTag::Tag,
                    deleted: true,
                }))
            })
        })
        .await?;
    ok(&value)
}

pub async fn send_test(
    State(state): State<AppState>,
    Path(id): Path<String>,
    call: ApiCall,
) -> GatewayResult<Response> {
    BodyParams::parse(&call.body)?.finish()?;
    let now_ms = state.clock.now_ms();
    let caller = call.caller;
    let event = state
        .db
        .write(move |conn| {
            Box::pin(async move {
                let endpoint = endpoint_of(conn, &caller, &id).await?;
                webhooks::endpoints::send_test(conn, &endpoint, now_ms).await
            })
        })
        .await?;
    state.webhooks_wake.notify_one();
    ok(&event.to_wire())
}

/// The deliveries of an event, each with its attempts.
pub async fn deliveries(
    State(state): State<AppState>,
    Path(id): Path<String>,
    call: ApiCall,
) -> GatewayResult<Response> {
    let mut conn = state.db.reader().acquire().await?;
    let event = event_of(&mut conn, &call.caller, &id).await?;
    let data = webhooks::deliveries_with_attempts(&mut conn, &event.id).await?;
    ok(&list_object(
        &format!("/v1/events/{}/webhook_deliveries", event.id),
        false,
        data,
    ))
}

pub async fn resend(
    State(state): State<AppState>,
    Path(id): Path<String>,
    call: ApiCall,
) -> GatewayResult<Response> {
    let mut params = BodyParams::parse(&call.body)?;
    let endpoint = params.optional_str("endpoint", 64)?;
    params.finish()?;
    let now_ms = state.clock.now_ms();
    let caller = call.caller;
    let value = state
        .db
        .write(move |conn| {
            Box::pin(async move {
                let event = event_of(conn, &caller, &id).await?;
                let created = webhooks::resend(conn, &event, endpoint.as_deref(), now_ms).await?;
                let data = created.iter().map(|d| d.to_wire(Vec::new())).collect();
                Ok::<_, GatewayError>(list_object(
                    &format!("/v1/events/{}/webhook_deliveries", event.id),
                    false,
                    data,
                ))
            })
        })
        .await?;
    state.webhooks_wake.notify_one();
    ok(&value)
}
