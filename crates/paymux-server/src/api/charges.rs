//! `/v1/charges`: create, retrieve, list, reverse, and the test-mode payment helper.

use super::auth::ApiCall;
use super::params::{BodyParams, MAX_AMOUNT, QueryParams};
use super::{CursorQuery, ok};
use crate::domain::channel::Channel;
use crate::domain::list::list as list_object;
use crate::error::{GatewayError, GatewayResult};
use crate::payments::charges::{self, NewCharge, PayResult};
use crate::payments::{render_charge, render_charges};
use crate::state::AppState;
use crate::store::{self, Page};
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use serde_json::Value;
use std::net::IpAddr;

pub async fn create(State(state): State<AppState>, call: ApiCall) -> GatewayResult<Response> {
    let mut params = BodyParams::parse(&call.body)?;
    let new = parse_new_charge(&mut params, true)?;
    params.finish()?;
    ok(&charges::create(&state, call.caller, new, call.base_url).await?)
}

/// Reads a charge's fields; `with_app` is false inside a recharge, whose path names the app.
pub fn parse_new_charge(params: &mut BodyParams, with_app: bool) -> GatewayResult<NewCharge> {
    let app_id = if with_app {
        app_id(params)?
    } else {
        String::new()
    };
    let channel_name = params.required_str("channel", 1, 32)?;
    let channel = Channel::parse(&channel_name).ok_or_else(|| {
        let supported: Vec<_> = Channel::ALL.iter().map(|c| c.as_str()).collect();
        GatewayError::invalid_param(
            params.name("channel"),
            format!(
                "Channel {channel_name} is not supported; use one of: {}.",
                supported.join(", ")
            ),
        )
    })?;
    let (min, max) = channel.order_no_len();
    let order_no = params.required_str("order_no", 1, 64)?;
    let order_len = order_no.chars().count();
    if order_len < min || order_len > max || !order_no.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(GatewayError::invalid_param(
            params.name("order_no"),
            format!(
                "Parameter order_no must be {min} to {max} letters or digits for channel {}.",
                channel.as_str()
            ),
        ));
    }
    let amount = params.required_int("amount", 1, MAX_AMOUNT)?;
    // Recharges default the client IP (docs/pingpp-wire.md); charges require it.
    let client_ip = match params.optional_str("client_ip", 64)? {
        Some(ip) => ip,
        None if !with_app => "127.0.0.1".to_owned(),
        None => {
            return Err(GatewayError::invalid_param(
                "client_ip",
                "Missing required parameter: client_ip.",
            ));
        }
    };
    if client_ip.parse::<IpAddr>().is_err() {
        return Err(GatewayError::invalid_param(
            params.name("client_ip"),
            format!("Parameter client_ip ({client_ip}) is not an IPv4 or IPv6 address."),
        ));
    }
    let currency = match params.optional_str("currency", 3)? {
        Some(c) if c.eq_ignore_ascii_case("cny") => "cny".to_owned(),
        None if !with_app => "cny".to_owned(),
        Some(c) => {
            return Err(GatewayError::invalid_param(
                params.name("currency"),
                format!("Currency {c} is not supported; use cny."),
            ));
        }
        None => {
            return Err(GatewayError::invalid_param(
                "currency",
                "Missing required parameter: currency.",
            ));
        }
    };
    let subject = params.required_str("subject", 1, 32)?;
    let body = params.required_str("body", 1, 128)?;
    let description = params.optional_str("description", 255)?;
    let time_expire = params.optional_int("time_expire", 0, i64::MAX)?;
    let extra = params
        .optional_object("extra")?
        .unwrap_or_else(|| BodyParams::from_map(Default::default(), &params.name("extra")));
    let extra = channel.validate_extra(extra)?;
    let metadata = params.metadata()?;
    Ok(NewCharge {
        app_id,
        channel,
        order_no,
        client_ip,
        amount,
        currency,
        subject,
        body,
        description,
        extra,
        metadata,
        time_expire,
    })
}

/// `app` is `{"id": "app_…"}` in every SDK; a bare string is accepted too.
fn app_id(params: &mut BodyParams) -> GatewayResult<String> {
    let missing = || GatewayError::invalid_param("app[id]", "Missing required parameter: app[id].");
    match params.optional_value("app") {
        Some(Value::String(id)) if !id.is_empty() => Ok(id),
        Some(Value::Object(map)) => {
            let mut app = BodyParams::from_map(map, "app");
            let id = app.optional_str("id", 64)?.ok_or_else(missing)?;
            app.finish()?;
            Ok(id)
        }
        Some(_) => Err(GatewayError::invalid_param(
            "app",
            "Parameter app must be an object like {\"id\": \"app_…\"}.",
        )),
        None => Err(missing()),
    }
}

pub async fn retrieve(
    State(state): State<AppState>,
    Path(id): Path<String>,
    call: ApiCall,
) -> GatewayResult<Response> {
    let mut conn = state.db.reader().acquire().await?;
    let caller = &call.caller;
    let charge = store::charges::get(&mut conn, &caller.account_id, caller.livemode, &id)
        .await?
        .ok_or_else(|| GatewayError::not_found("charge", &id))?;
    ok(&render_charge(&mut conn, &charge).await?)
}

pub async fn list(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    call: ApiCall,
) -> GatewayResult<Response> {
    let query = QueryParams::parse(raw.as_deref())?;
    let caller = &call.caller;
    let app_id = query.string("app[id]").ok_or_else(|| {
        GatewayError::invalid_param("app[id]", "Missing required parameter: app[id].")
    })?;
    let cursor = CursorQuery::parse(&query)?;
    let mut conn = state.db.reader().acquire().await?;
    charges::check_app_ownership(&mut conn, caller, &app_id).await?;

    let mut filter = store::charges::ListFilter {
        app_id,
        livemode: caller.livemode,
        channel: query.string("channel"),
        paid: query.bool("paid")?,
        refunded: query.bool("refunded")?,
        reversed: query.bool("reversed")?,
        ..Default::default()
    };
    let bound = |key: &str| query.int(key, 0, i64::MAX);
    filter.created_gte = [
        bound("created[gte]")?,
        bound("created[gt]")?.map(|t| t.saturating_add(1)),
        bound("created")?,
    ]
    .into_iter()
    .flatten()
    .max();
    filter.created_lte = [
        bound("created[lte]")?,
        bound("created[lt]")?.map(|t| t.saturating_sub(1)),
        bound("created")?,
    ]
    .into_iter()
    .flatten()
    .min();
    if filter.created_gte.is_none() && filter.created_lte.is_none() {
        // Ping++ lists only the last month unless told otherwise.
        filter.created_gte = Some(state.clock.now_secs() - 30 * 86400);
    }
    let mut resolve = async |id: Option<String>,
                             param: &str|
           -> GatewayResult<Option<(i64, String)>> {
        let Some(id) = id else { return Ok(None) };
        let charge = store::charges::get(&mut conn, &caller.account_id, caller.livemode, &id)
            .await?
            .ok_or_else(|| {
                GatewayError::invalid_param(param, format!("No such charge: {id} (in {param})."))
            })?;
        Ok(Some((charge.created, charge.id)))
    };
    let page = Page {
        limit: cursor.limit,
        starting_after: resolve(cursor.starting_after, "starting_after").await?,
        ending_before: resolve(cursor.ending_before, "ending_before").await?,
    };
    let (rows, has_more) = store::charges::list(&mut conn, &filter, &page).await?;
    let data = render_charges(&mut conn, &rows).await?;
    ok(&list_object("/v1/charges", has_more, data))
}

pub async fn reverse(
    State(state): State<AppState>,
    Path(id): Path<String>,
    call: ApiCall,
) -> GatewayResult<Response> {
    // Python/Node/Java/Ruby send `{}`, PHP `[]`, Go and C# an empty body: all mean nothing.
    BodyParams::parse(&call.body)?.finish()?;
    ok(&charges::reverse(&state, call.caller, id).await?)
}

pub async fn test_pay(
    State(state): State<AppState>,
    Path(id): Path<String>,
    call: ApiCall,
) -> GatewayResult<Response> {
    let mut params = BodyParams::parse(&call.body)?;
    let result = match params.optional_str("result", 16)?.as_deref() {
        None | Some("success") => PayResult::Success,
        Some("fail") => PayResult::Fail,
        Some(other) => {
            return Err(GatewayError::invalid_param(
                "result",
                format!("Parameter result must be success or fail, not {other}."),
            ));
        }
    };
    params.finish()?;
    ok(&charges::test_pay(&state, call.caller, id, result).await?)
}
