//! `/v1/events`.

use super::auth::ApiCall;
use super::params::QueryParams;
use super::{CursorQuery, ok};
use crate::domain::list::list as list_object;
use crate::error::{GatewayError, GatewayResult};
use crate::state::AppState;
use crate::store::{self, Page};
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;

pub async fn retrieve(
    State(state): State<AppState>,
    Path(id): Path<String>,
    call: ApiCall,
) -> GatewayResult<Response> {
    let mut conn = state.db.reader().acquire().await?;
    let caller = &call.caller;
    let event = store::events::get(&mut conn, &caller.account_id, caller.livemode, &id)
        .await?
        .ok_or_else(|| GatewayError::not_found("event", &id))?;
    ok(&event.to_wire())
}

pub async fn list(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    call: ApiCall,
) -> GatewayResult<Response> {
    let query = QueryParams::parse(raw.as_deref())?;
    let cursor = CursorQuery::parse(&query)?;
    let caller = &call.caller;
    let mut conn = state.db.reader().acquire().await?;
    let mut resolve =
        async |id: Option<String>, param: &str| -> GatewayResult<Option<(i64, String)>> {
            let Some(id) = id else { return Ok(None) };
            let event = store::events::get(&mut conn, &caller.account_id, caller.livemode, &id)
                .await?
                .ok_or_else(|| {
                    GatewayError::invalid_param(param, format!("No such event: {id} (in {param})."))
                })?;
            Ok(Some((event.created, event.id)))
        };
    let page = Page {
        limit: cursor.limit,
        starting_after: resolve(cursor.starting_after, "starting_after").await?,
        ending_before: resolve(cursor.ending_before, "ending_before").await?,
    };
    let kind = query.string("type");
    let (events, more) = store::events::list(
        &mut conn,
        &caller.account_id,
        caller.livemode,
        kind.as_deref(),
        &page,
    )
    .await?;
    let data = events.iter().map(|e| e.to_wire()).collect();
    ok(&list_object("/v1/events", more, data))
}
