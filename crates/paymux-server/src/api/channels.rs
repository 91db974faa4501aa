//! `/v1/apps/{app}/channels`: an app's provider configurations, in the mode of the key used.
//! Secrets go in and are never shown again; answers list which are set.

use super::auth::ApiCall;
use super::ok;
use super::params::BodyParams;
use crate::channels::config;
use crate::channels::manage;
use crate::domain::list::list as list_object;
use crate::domain::wire::{ChannelConfigDeleted, ChannelConfigTag, to_value};
use crate::error::{GatewayError, GatewayResult};
use crate::state::AppState;
use crate::store;
use axum::extract::{Path, State};
use axum::response::Response;
use std::collections::BTreeMap;

/// Longest value accepted (certificates and keys in PEM are a few KiB).
const VALUE_MAX: usize = 16 * 1024;

pub async fn set(
    State(state): State<AppState>,
    Path((app, name)): Path<(String, String)>,
    call: ApiCall,
) -> GatewayResult<Response> {
    let provider = manage::provider_named(&name)?;
    config::require_key(state.settings.secrets_key.as_ref())?;
    let mut params = BodyParams::parse(&call.body)?;
    let mut given = BTreeMap::new();
    for name in params.keys() {
        if let Some(value) = params.optional_str(&name, VALUE_MAX)? {
            given.insert(name, value);
        }
    }
    params.finish()?;
    let livemode = call.caller.livemode;
    let (settings, updated) =
        manage::configure(&state, call.caller, app.clone(), provider, given, false).await?;
    ok(&settings.to_wire(&app, livemode, updated))
}

pub async fn retrieve(
    State(state): State<AppState>,
    Path((app, name)): Path<(String, String)>,
    call: ApiCall,
) -> GatewayResult<Response> {
    let provider = manage::provider_named(&name)?;
    let key = config::require_key(state.settings.secrets_key.as_ref())?;
    let mut conn = state.db.reader().acquire().await?;
    manage::own_app(&mut conn, &call.caller, &app).await?;
    let (settings, updated) = config::load(&mut conn, key, &app, call.caller.livemode, provider)
        .await?
        .ok_or_else(|| GatewayError::not_found("channel_config", provider.as_str()))?;
    ok(&settings.to_wire(&app, call.caller.livemode, updated))
}

pub async fn list(
    State(state): State<AppState>,
    Path(app): Path<String>,
    call: ApiCall,
) -> GatewayResult<Response> {
    let mut conn = state.db.reader().acquire().await?;
    manage::own_app(&mut conn, &call.caller, &app).await?;
    let stored = store::channel_configs::list(&mut conn, &app, call.caller.livemode).await?;
    // Without a key nothing can have been configured: an empty list, not an error.
    let data = if stored.is_empty() {
        Vec::new()
    } else {
        let key = config::require_key(state.settings.secrets_key.as_ref())?;
        stored
            .iter()
            .map(|s| Ok(config::open(key, s)?.to_wire(&app, s.livemode, s.updated)))
            .collect::<GatewayResult<Vec<_>>>()?
    };
    ok(&list_object(
        &format!("/v1/apps/{app}/channels"),
        false,
        data,
    ))
}

pub async fn remove(
    State(state): State<AppState>,
    Path((app, name)): Path<(String, String)>,
    call: ApiCall,
) -> GatewayResult<Response> {
    let provider = manage::provider_named(&name)?;
    manage::remove(&state, call.caller, app.clone(), provider).await?;
    ok(&to_value(ChannelConfigDeleted {
        object: ChannelConfigTag::Tag,
        app,
        provider,
        deleted: true,
    }))
}
