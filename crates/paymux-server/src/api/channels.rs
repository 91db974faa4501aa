//! `/v1/apps/{app}/channels`: an app's provider configurations, in the mode of the key used.
//! Secrets go in and are never shown again; answers list which are set.

use super::auth::ApiCall;
use super::ok;
use super::params::BodyParams;
use crate::channels::Provider;
use crate::channels::config::{self, ProviderSettings};
use crate::domain::Caller;
use crate::domain::list::list as list_object;
use crate::domain::wire::{ChannelConfigDeleted, ChannelConfigTag, to_value};
use crate::error::{GatewayError, GatewayResult};
use crate::state::AppState;
use crate::store;
use axum::extract::{Path, State};
use axum::response::Response;
use sqlx::AnyConnection;
use std::collections::BTreeMap;

/// Longest value accepted (certificates and keys in PEM are a few KiB).
const VALUE_MAX: usize = 16 * 1024;

fn provider(name: &str) -> GatewayResult<Provider> {
    Provider::parse(name).ok_or_else(|| {
        GatewayError::invalid(format!(
            "Unknown provider {name}; configure wechat, alipay or unionpay."
        ))
        .with_reason(crate::error::Reason::NotFound)
    })
}

async fn own_app(conn: &mut AnyConnection, caller: &Caller, app: &str) -> GatewayResult<()> {
    if store::accounts::app_belongs_to(conn, app, &caller.account_id).await? {
        Ok(())
    } else {
        Err(GatewayError::not_found("app", app))
    }
}

pub async fn set(
    State(state): State<AppState>,
    Path((app, name)): Path<(String, String)>,
    call: ApiCall,
) -> GatewayResult<Response> {
    let provider = provider(&name)?;
    let key = config::require_key(state.settings.secrets_key.as_ref())?.clone();
    let mut params = BodyParams::parse(&call.body)?;
    let mut given = BTreeMap::new();
    for name in params.keys() {
        if let Some(value) = params.optional_str(&name, VALUE_MAX)? {
            given.insert(name, value);
        }
    }
    params.finish()?;
    let settings = ProviderSettings::check(provider, &given)?;
    if let Some(gateway) = settings.public.get("gateway_url") {
        super::check_reachable(&state, gateway, "gateway_url").await?;
    }
    let now = state.clock.now_secs();
    let caller = call.caller;
    let value = state
        .db
        .write(move |conn| {
            Box::pin(async move {
                own_app(conn, &caller, &app).await?;
                config::save(conn, &key, &app, caller.livemode, &settings, now).await?;
                Ok::<_, GatewayError>(settings.to_wire(&app, caller.livemode, now))
            })
        })
        .await?;
    ok(&value)
}

pub async fn retrieve(
    State(state): State<AppState>,
    Path((app, name)): Path<(String, String)>,
    call: ApiCall,
) -> GatewayResult<Response> {
    let provider = provider(&name)?;
    let key = config::require_key(state.settings.secrets_key.as_ref())?;
    let mut conn = state.db.reader().acquire().await?;
    own_app(&mut conn, &call.caller, &app).await?;
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
    own_app(&mut conn, &call.caller, &app).await?;
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
    let provider = provider(&name)?;
    let caller = call.caller;
    let value = state
        .db
        .write(move |conn| {
            Box::pin(async move {
                own_app(conn, &caller, &app).await?;
                if !store::channel_configs::delete(conn, &app, caller.livemode, provider.as_str())
                    .await?
                {
                    return Err(GatewayError::not_found("channel_config", provider.as_str()));
                }
                Ok(to_value(ChannelConfigDeleted {
                    object: ChannelConfigTag::Tag,
                    app,
                    provider,
                    deleted: true,
                }))
            })
        })
        .await?;
    ok(&value)
}
