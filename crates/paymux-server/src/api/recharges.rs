//! `/v1/apps/{app}/recharges` and app users' balances.

use super::auth::ApiCall;
use super::charges::parse_new_charge;
use super::ok;
use super::params::{BodyParams, QueryParams};
use super::refunds::parse_new_refund;
use crate::domain::list::list as list_object;
use crate::error::{GatewayError, GatewayResult};
use crate::payments::charges::check_app_ownership;
use crate::payments::recharges::{self, NewRecharge};
use crate::payments::{render_recharge, render_recharges};
use crate::state::AppState;
use crate::store;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;

/// Largest recharge, per Ping++'s recharge docs (0–1e9 fen).
const MAX_RECHARGE: i64 = 1_000_000_000;

pub async fn create(
    State(state): State<AppState>,
    Path(app): Path<String>,
    call: ApiCall,
) -> GatewayResult<Response> {
    let mut params = BodyParams::parse(&call.body)?;
    let user = params.required_str("user", 1, 64)?;
    let mut charge_params = params.required_object("charge")?;
    let mut charge = parse_new_charge(&mut charge_params, false)?;
    charge_params.finish()?;
    if charge.amount > MAX_RECHARGE {
        return Err(GatewayError::invalid_param(
            "charge[amount]",
            format!("Parameter charge[amount] must be at most {MAX_RECHARGE}."),
        ));
    }
    charge.app_id = app;
    let user_fee = params.optional_int("user_fee", 0, MAX_RECHARGE)?;
    let balance_bonus = match params.optional_object("balance_bonus")? {
        None => None,
        // The Go SDK sends `"balance_bonus":{}` on every recharge without a bonus.
        Some(bonus) if bonus.keys().is_empty() => None,
        Some(mut bonus) => {
            let amount = bonus.required_int("amount", 0, MAX_RECHARGE)?;
            bonus.finish()?;
            Some(amount)
        }
    };
    if user_fee.is_some() && balance_bonus.is_some() {
        return Err(GatewayError::invalid_param(
            "balance_bonus",
            "user_fee and balance_bonus cannot be used together.",
        ));
    }
    let new = NewRecharge {
        user,
        from_user: params.optional_str("from_user", 64)?,
        charge,
        user_fee: user_fee.unwrap_or(0),
        balance_bonus: balance_bonus.unwrap_or(0),
        description: params.optional_str("description", 255)?,
        metadata: params.metadata()?,
    };
    params.finish()?;
    ok(&recharges::create(&state, call.caller, new, call.base_url).await?)
}

pub async fn retrieve(
    State(state): State<AppState>,
    Path((app, id)): Path<(String, String)>,
    call: ApiCall,
) -> GatewayResult<Response> {
    let mut conn = state.db.reader().acquire().await?;
    check_app_ownership(&mut conn, &call.caller, &app).await?;
    let recharge = store::recharges::get(&mut conn, &app, call.caller.livemode, &id)
        .await?
        .ok_or_else(|| GatewayError::not_found("recharge", &id))?;
    ok(&render_recharge(&mut conn, &recharge).await?)
}

pub async fn list(
    State(state): State<AppState>,
    Path(app): Path<String>,
    RawQuery(raw): RawQuery,
    call: ApiCall,
) -> GatewayResult<Response> {
    let query = QueryParams::parse(raw.as_deref())?;
    let page = query.int("page", 1, 1_000_000_000)?.unwrap_or(1);
    let per_page = query.int("per_page", 1, 100)?.unwrap_or(20);
    let filter = store::recharges::ListFilter {
        succeeded: query.bool("succeeded")?,
        refunded: query.bool("refunded")?,
    };
    let mut conn = state.db.reader().acquire().await?;
    check_app_ownership(&mut conn, &call.caller, &app).await?;
    let (rows, more) = store::recharges::list(
        &mut conn,
        &app,
        call.caller.livemode,
        &filter,
        (page - 1) * per_page,
        per_page,
    )
    .await?;
    let data = render_recharges(&mut conn, &rows).await?;
    ok(&list_object(
        &format!("/v1/apps/{app}/recharges"),
        more,
        data,
    ))
}

pub async fn create_refund(
    State(state): State<AppState>,
    Path((app, id)): Path<(String, String)>,
    call: ApiCall,
) -> GatewayResult<Response> {
    let mut params = BodyParams::parse(&call.body)?;
    let new = parse_new_refund(&mut params, false)?;
    params.finish()?;
    ok(&recharges::refund(&state, call.caller, app, id, new).await?)
}

pub async fn list_refunds(
    State(state): State<AppState>,
    Path((app, id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    call: ApiCall,
) -> GatewayResult<Response> {
    let query = QueryParams::parse(raw.as_deref())?;
    let page = query.int("page", 1, 1_000_000_000)?.unwrap_or(1);
    let per_page = query.int("per_page", 1, 100)?.unwrap_or(20);
    let mut conn = state.db.reader().acquire().await?;
    check_app_ownership(&mut conn, &call.caller, &app).await?;
    store::recharges::get(&mut conn, &app, call.caller.livemode, &id)
        .await?
        .ok_or_else(|| GatewayError::not_found("recharge", &id))?;
    // A recharge has at most a handful of refunds; page over them in memory.
    let refunds = store::refunds::for_recharges(&mut conn, &[id.as_str()])
        .await?
        .remove(&id)
        .unwrap_or_default();
    let skip = usize::try_from((page - 1) * per_page).unwrap_or(usize::MAX);
    let take = usize::try_from(per_page).unwrap_or(0);
    let data: Vec<_> = refunds
        .iter()
        .skip(skip)
        .take(take)
        .map(|r| r.to_wire())
        .collect();
    let more = refunds.len() > skip.saturating_add(take);
    ok(&list_object(
        &format!("/v1/apps/{app}/recharges/{id}/refunds"),
        more,
        data,
    ))
}

pub async fn retrieve_refund(
    State(state): State<AppState>,
    Path((app, id, refund)): Path<(String, String, String)>,
    call: ApiCall,
) -> GatewayResult<Response> {
    ok(&recharges::retrieve_refund(&state, &call.caller, &app, &id, &refund).await?)
}

pub async fn user(
    State(state): State<AppState>,
    Path((app, user)): Path<(String, String)>,
    call: ApiCall,
) -> GatewayResult<Response> {
    let mut conn = state.db.reader().acquire().await?;
    check_app_ownership(&mut conn, &call.caller, &app).await?;
    let found = store::recharges::get_user(&mut conn, &app, call.caller.livemode, &user)
        .await?
        .ok_or_else(|| GatewayError::not_found("user", &user))?;
    ok(&found.to_wire())
}
