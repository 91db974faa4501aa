//! `/v1/apps`: the account's apps, listed, created and renamed (not part of Ping++'s API, which
//! manages apps in its dashboard; the console and `paymux apps` do the same). Changes are
//! recorded in the audit log as made by `api`.

use super::auth::ApiCall;
use super::ok;
use super::params::BodyParams;
use crate::account;
use crate::domain::list::list as list_object;
use crate::error::{GatewayError, GatewayResult};
use crate::operators::{Actor, Audit};
use crate::state::AppState;
use crate::store;
use axum::extract::{Path, State};
use axum::response::Response;

fn audit(state: &AppState, call: &ApiCall) -> Audit {
    Audit {
        account_id: call.caller.account_id.clone(),
        actor: Actor {
            name: "api".into(),
            request_id: Some(call.caller.request_id.clone()),
        },
        now_ms: state.clock.now_ms(),
    }
}

fn name(call: &ApiCall) -> GatewayResult<String> {
    let mut params = BodyParams::parse(&call.body)?;
    let name = params
        .optional_str("name", 64)?
        .ok_or_else(|| GatewayError::invalid_param("name", "Parameter name is required."))?;
    params.finish()?;
    Ok(name)
}

async fn app_answer(state: &AppState, call: &ApiCall, id: &str) -> GatewayResult<Response> {
    let mut conn = state.db.reader().acquire().await?;
    let app = store::accounts::apps(&mut conn, &call.caller.account_id)
        .await?
        .into_iter()
        .find(|a| a.id == id)
        .ok_or_else(|| GatewayError::not_found("app", id))?;
    ok(&app.to_wire())
}

pub async fn list(State(state): State<AppState>, call: ApiCall) -> GatewayResult<Response> {
    let mut conn = state.db.reader().acquire().await?;
    let apps = store::accounts::apps(&mut conn, &call.caller.account_id).await?;
    let data = apps.iter().map(store::accounts::App::to_wire).collect();
    ok(&list_object("/v1/apps", false, data))
}

pub async fn create(State(state): State<AppState>, call: ApiCall) -> GatewayResult<Response> {
    let name = name(&call)?;
    let id = account::create_app(&state.db, audit(&state, &call), &name).await?;
    app_answer(&state, &call, &id).await
}

pub async fn rename(
    State(state): State<AppState>,
    Path(app): Path<String>,
    call: ApiCall,
) -> GatewayResult<Response> {
    let name = name(&call)?;
    account::rename_app(&state.db, audit(&state, &call), &app, &name).await?;
    app_answer(&state, &call, &app).await
}
