//! Configuring an app's providers, through the API or in the console: the same checks and
//! writes, a console operator's change recorded in the audit log (setting names, never values).

use super::Provider;
use super::config::{self, ProviderSettings};
use crate::domain::Caller;
use crate::error::{GatewayError, GatewayResult};
use crate::operators::{attribute, detail};
use crate::state::AppState;
use crate::store;
use serde_json::json;
use sqlx::AnyConnection;
use std::collections::BTreeMap;

/// The provider a path names, or 404.
pub fn provider_named(name: &str) -> GatewayResult<Provider> {
    Provider::parse(name).ok_or_else(|| {
        GatewayError::invalid(format!(
            "Unknown provider {name}; configure wechat, alipay or unionpay."
        ))
        .with_reason(crate::error::Reason::NotFound)
    })
}

pub async fn own_app(conn: &mut AnyConnection, caller: &Caller, app: &str) -> GatewayResult<()> {
    if store::accounts::app_belongs_to(conn, app, &caller.account_id).await? {
        Ok(())
    } else {
        Err(GatewayError::not_found("app", app))
    }
}

/// Stores the app's configuration of `provider` in the caller's mode from `given`; with
/// `keep_secrets`, secrets not given keep their stored values (a form never shows them).
pub async fn configure(
    state: &AppState,
    caller: Caller,
    app: String,
    provider: Provider,
    mut given: BTreeMap<String, String>,
    keep_secrets: bool,
) -> GatewayResult<(ProviderSettings, i64)> {
    let key = config::require_key(state.settings.secrets_key.as_ref())?.clone();
    if keep_secrets {
        let mut conn = state.db.reader().acquire().await?;
        own_app(&mut conn, &caller, &app).await?;
        if let Some((stored, _)) =
            config::load(&mut conn, &key, &app, caller.livemode, provider).await?
        {
            for (name, value) in stored.secrets {
                given.entry(name).or_insert(value);
            }
        }
    }
    let settings = ProviderSettings::check(provider, &given)?;
    if let Some(gateway) = settings.public.get("gateway_url") {
        crate::outbound::refuse_denied(
            gateway,
            "gateway_url",
            &state.settings.webhook_deny_networks,
        )
        .await?;
    }
    let now_ms = state.clock.now_ms();
    let now = now_ms / 1000;
    state
        .db
        .write(move |conn| {
            Box::pin(async move {
                own_app(conn, &caller, &app).await?;
                config::save(conn, &key, &app, caller.livemode, &settings, now).await?;
                let names: Vec<&String> = settings
                    .public
                    .keys()
                    .chain(settings.secrets.keys())
                    .collect();
                let change = detail(json!({ "app": app, "settings": names }));
                attribute(
                    conn,
                    &caller,
                    now_ms,
                    "channel.set",
                    provider.as_str(),
                    change,
                )
                .await?;
                Ok((settings, now))
            })
        })
        .await
}

pub async fn remove(
    state: &AppState,
    caller: Caller,
    app: String,
    provider: Provider,
) -> GatewayResult<()> {
    let now_ms = state.clock.now_ms();
    state
        .db
        .write(move |conn| {
            Box::pin(async move {
                own_app(conn, &caller, &app).await?;
                if !store::channel_configs::delete(conn, &app, caller.livemode, provider.as_str())
                    .await?
                {
                    return Err(GatewayError::not_found("channel_config", provider.as_str()));
                }
                let change = detail(json!({ "app": app }));
                attribute(
                    conn,
                    &caller,
                    now_ms,
                    "channel.remove",
                    provider.as_str(),
                    change,
                )
                .await
            })
        })
        .await
}
