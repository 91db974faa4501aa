//! `/v1/webhook_endpoints` and the webhook log of events. Not part of Ping++'s API (Ping++
//! configures webhooks in its dashboard); shaped like the rest of it. An endpoint belongs to
//! the mode of the key that created it.

use super::auth::ApiCall;
use super::ok;
use super::params::BodyParams;
use crate::domain::list::list as list_object;
use crate::domain::wire::{Deleted, WebhookEndpointTag, to_value};
use crate::error::GatewayResult;
use crate::state::AppState;
use crate::store;
use crate::webhooks::{self, endpoints::EndpointChange, manage};
use axum::extract::{Path, State};
use axum::response::Response;

const URL_MAX: usize = 2048;

fn parse_change(params: &mut BodyParams) -> GatewayResult<EndpointChange> {
    Ok(EndpointChange {
        url: params.optional_str("url", URL_MAX)?,
        events: params.optional_str_list("events")?,
        enabled: params.optional_bool("enabled")?,
        description: params.optional_str("description", 255)?,
    })
}

pub async fn create(State(state): State<AppState>, call: ApiCall) -> GatewayResult<Response> {
    let mut params = BodyParams::parse(&call.body)?;
    let change = parse_change(&mut params)?;
    params.finish()?;
    let (endpoint, secret) = manage::create(&state, call.caller, change).await?;
    ok(&endpoint.to_wire(Some(secret.expose())))
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
    ok(&manage::endpoint_of(&mut conn, &call.caller, &id)
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
    let endpoint = manage::update(&state, call.caller, id, change).await?;
    ok(&endpoint.to_wire(None))
}

pub async fn remove(
    State(state): State<AppState>,
    Path(id): Path<String>,
    call: ApiCall,
) -> GatewayResult<Response> {
    let endpoint = manage::remove(&state, call.caller, id).await?;
    ok(&to_value(Deleted {
        id: endpoint.id,
        object: WebhookEndpointTag::Tag,
        deleted: true,
    }))
}

pub async fn send_test(
    State(state): State<AppState>,
    Path(id): Path<String>,
    call: ApiCall,
) -> GatewayResult<Response> {
    BodyParams::parse(&call.body)?.finish()?;
    let event = manage::send_test(&state, call.caller, id).await?;
    ok(&event.to_wire())
}

/// The deliveries of an event, each with its attempts.
pub async fn deliveries(
    State(state): State<AppState>,
    Path(id): Path<String>,
    call: ApiCall,
) -> GatewayResult<Response> {
    let mut conn = state.db.reader().acquire().await?;
    let event = manage::event_of(&mut conn, &call.caller, &id).await?;
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
    let (event, created) = manage::resend(&state, call.caller, id, endpoint).await?;
    let data = created.iter().map(|d| d.to_wire(Vec::new())).collect();
    ok(&list_object(
        &format!("/v1/events/{}/webhook_deliveries", event.id),
        false,
        data,
    ))
}
