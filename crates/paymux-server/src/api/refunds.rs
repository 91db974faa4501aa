//! `/v1/charges/{id}/refunds`.

use super::auth::ApiCall;
use super::params::{BodyParams, MAX_AMOUNT, QueryParams};
use super::{CursorQuery, ok};
use crate::domain::list::list as list_object;
use crate::error::{GatewayError, GatewayResult};
use crate::payments::refunds::{self, NewRefund};
use crate::state::AppState;
use crate::store::{self, Page};
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;

/// Refund parameters shared by charge refunds and recharge refunds (which take no amount).
pub fn parse_new_refund(params: &mut BodyParams, with_amount: bool) -> GatewayResult<NewRefund> {
    let amount = if with_amount {
        params.optional_int("amount", 1, MAX_AMOUNT)?
    } else {
        None
    };
    let description = params.required_str("description", 1, 255)?;
    let metadata = params.metadata()?;
    let funding_source = match params.optional_str("funding_source", 32)? {
        Some(s) if s == "unsettled_funds" || s == "recharge_funds" => Some(s),
        Some(other) => {
            return Err(GatewayError::invalid_param(
                "funding_source",
                format!(
                    "Parameter funding_source must be unsettled_funds or recharge_funds, not {other}."
                ),
            ));
        }
        None => None,
    };
    Ok(NewRefund {
        amount,
        description,
        metadata,
        funding_source,
    })
}

pub async fn create(
    State(state): State<AppState>,
    Path(id): Path<String>,
    call: ApiCall,
) -> GatewayResult<Response> {
    let mut params = BodyParams::parse(&call.body)?;
    let new = parse_new_refund(&mut params, true)?;
    params.finish()?;
    ok(&refunds::create(&state, call.caller, id, new).await?)
}

pub async fn list(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    call: ApiCall,
) -> GatewayResult<Response> {
    let query = QueryParams::parse(raw.as_deref())?;
    let cursor = CursorQuery::parse(&query)?;
    let mut page = Page {
        limit: cursor.limit,
        ..Page::default()
    };
    {
        let mut conn = state.db.reader().acquire().await?;
        // The charge's owner first: a cursor must not tell another account which ids exist.
        let caller = &call.caller;
        store::charges::get(&mut conn, &caller.account_id, caller.livemode, &id)
            .await?
            .ok_or_else(|| GatewayError::not_found("charge", &id))?;
        for (id_param, slot, name) in [
            (
                cursor.starting_after,
                &mut page.starting_after,
                "starting_after",
            ),
            (
                cursor.ending_before,
                &mut page.ending_before,
                "ending_before",
            ),
        ] {
            if let Some(refund_id) = id_param {
                let refund = store::refunds::get(&mut conn, &id, &refund_id)
                    .await?
                    .ok_or_else(|| {
                        GatewayError::invalid_param(name, format!("No such refund: {refund_id}."))
                    })?;
                *slot = Some((refund.created, refund.id));
            }
        }
    }
    let (data, more) = refunds::list(&state, &call.caller, &id, &page).await?;
    ok(&list_object(
        &format!("/v1/charges/{id}/refunds"),
        more,
        data,
    ))
}

pub async fn retrieve(
    State(state): State<AppState>,
    Path((id, refund)): Path<(String, String)>,
    call: ApiCall,
) -> GatewayResult<Response> {
    ok(&refunds::retrieve(&state, &call.caller, &id, &refund).await?)
}
