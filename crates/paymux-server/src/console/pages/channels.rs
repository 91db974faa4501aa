//! The current app's providers in the current mode, each as a form. Secrets are write-only:
//! the page says whether each is set; a secret field left empty keeps its stored value.

use super::super::format::time;
use super::super::forms::FormFields;
use super::super::layout;
use super::super::session::{Console, csrf_field};
use super::super::{PageResult, require};
use crate::channels::config::{self, field_list};
use crate::channels::{Provider, manage};
use crate::operators::Role;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect};
use maud::html;
use std::collections::BTreeMap;

pub async fn page(State(state): State<AppState>, console: Console) -> PageResult {
    require(&console, Role::Admin)?;
    let key = state.settings.secrets_key.as_ref();
    let mut configured = Vec::new();
    if let Some(key) = key {
        let mut conn = state.db.reader().acquire().await?;
        for provider in Provider::ALL {
            configured.push(
                config::load(&mut conn, key, &console.app_id, console.livemode, provider)
                    .await
                    .ok()
                    .flatten(),
            );
        }
    }
    let content = html! {
        @if key.is_none() {
            p.warning { (console.t(
                "渠道密钥需要加密保存：启动 paymux serve 时设置 PAYMUX_SECRETS_KEY（openssl rand -base64 32）后才能配置渠道。",
                "Channel secrets are sealed at rest: start paymux serve with PAYMUX_SECRETS_KEY (openssl rand -base64 32) to configure channels."
            )) }
        }
        p.hint { (console.t("应用", "App")) " " code { (console.app_id) } " · " (console.mode()) }
        @for (i, provider) in Provider::ALL.into_iter().enumerate() {
            @let current = configured.get(i).cloned().flatten();
            section {
                h2 { (provider.as_str()) " "
                    @if let Some((_, updated)) = &current { small { (console.t("已配置", "configured")) " · " (time(*updated)) } }
                    @else { small { (console.t("未配置", "not configured")) } } }
                form.action method="post" action={"/dashboard/channels/" (provider.as_str())} {
                    (csrf_field(&console))
                    @for (name, required, secret) in field_list(provider) {
                        label {
                            code { (name) } @if required { " *" }
                            @if secret {
                                @let set = current.as_ref().is_some_and(|(s, _)| s.secrets.contains_key(name));
                                " " small { @if set { (console.t("已设置（留空则不变）", "set (leave empty to keep)")) } @else { (console.t("未设置", "not set")) } }
                                @if name.ends_with("_pem") || name.contains("key") {
                                    textarea name=(name) rows="3" spellcheck="false" autocomplete="off" {}
                                } @else {
                                    input name=(name) type="password" autocomplete="off";
                                }
                            } @else {
                                @let value = current.as_ref().and_then(|(s, _)| s.public.get(name).cloned()).unwrap_or_default();
                                @if name.contains("public_key") || name.ends_with("_cert") {
                                    textarea name=(name) rows="3" spellcheck="false" { (value) }
                                } @else {
                                    input name=(name) value=(value);
                                }
                            }
                        }
                    }
                    button.primary disabled[key.is_none()] { (console.t("保存", "Save")) " " (provider.as_str()) }
                }
                @if current.is_some() {
                    form.inline method="post" action={"/dashboard/channels/" (provider.as_str()) "/delete"} data-confirm=(console.t("删除这个渠道配置？", "Remove this provider configuration?")) {
                        (csrf_field(&console)) button.danger { (console.t("删除配置", "Remove")) }
                    }
                }
            }
        }
    };
    Ok(layout::page(
        &console,
        "/dashboard/channels",
        console.t("渠道", "Channels"),
        content,
    )
    .into_response())
}

pub async fn save(
    State(state): State<AppState>,
    console: Console,
    Path(name): Path<String>,
    form: FormFields,
) -> PageResult {
    require(&console, Role::Admin)?;
    let provider = manage::provider_named(&name)?;
    let known: Vec<&str> = field_list(provider).iter().map(|(n, _, _)| *n).collect();
    let given: BTreeMap<String, String> = form
        .fields()
        .iter()
        .filter(|(k, v)| known.contains(&k.as_str()) && !v.trim().is_empty())
        .map(|(k, v)| (k.clone(), v.trim().to_owned()))
        .collect();
    manage::configure(
        &state,
        console.caller(),
        console.app_id.clone(),
        provider,
        given,
        true,
    )
    .await?;
    Ok(Redirect::to("/dashboard/channels").into_response())
}

pub async fn remove(
    State(state): State<AppState>,
    console: Console,
    Path(name): Path<String>,
) -> PageResult {
    require(&console, Role::Admin)?;
    let provider = manage::provider_named(&name)?;
    manage::remove(&state, console.caller(), console.app_id.clone(), provider).await?;
    Ok(Redirect::to("/dashboard/channels").into_response())
}
