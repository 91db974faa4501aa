//! The operations behind the API. Each runs as one closure on the database writer, so a state
//! change, the event describing it and any follow-up job are committed together or not at all.

pub mod charges;
pub mod providers;
pub mod recharges;
pub mod refunds;

use crate::domain::Caller;
use crate::domain::charge::Charge;
use crate::domain::event::{Event, EventType};
use crate::domain::recharge::Recharge;
use crate::domain::refund::Refund;
use crate::error::{GatewayError, GatewayResult};
use crate::ids;
use crate::store::{self, Page};
use crate::webhooks;
use serde_json::Value;
use sqlx::AnyConnection;
use std::collections::HashMap;

/// How many refunds a charge embeds in its `refunds` sub-list.
const EMBEDDED_REFUNDS: i64 = 10;

/// The charge's wire object, with its newest refunds embedded.
pub async fn render_charge(conn: &mut AnyConnection, charge: &Charge) -> GatewayResult<Value> {
    if !charge.refunded {
        return Ok(charge.to_wire(Vec::new(), false));
    }
    let page = Page {
        limit: EMBEDDED_REFUNDS,
        ..Page::default()
    };
    let (refunds, more) = store::refunds::list_for_charge(conn, &charge.id, &page).await?;
    Ok(charge.to_wire(refunds.iter().map(|r| r.to_wire()).collect(), more))
}

/// A page of charges' wire objects, their embedded refunds read in one statement for the page.
pub async fn render_charges(
    conn: &mut AnyConnection,
    charges: &[Charge],
) -> GatewayResult<Vec<Value>> {
    let refunded: Vec<&str> = charges
        .iter()
        .filter(|c| c.refunded)
        .map(|c| c.id.as_str())
        .collect();
    let mut refunds = store::refunds::newest_for_charges(conn, &refunded, EMBEDDED_REFUNDS).await?;
    Ok(charges
        .iter()
        .map(|charge| {
            let (embedded, more) = refunds.remove(&charge.id).unwrap_or_default();
            charge.to_wire(embedded.iter().map(|r| r.to_wire()).collect(), more)
        })
        .collect())
}

pub async fn render_recharge(
    conn: &mut AnyConnection,
    recharge: &Recharge,
) -> GatewayResult<Value> {
    let mut rendered = render_recharges(conn, std::slice::from_ref(recharge)).await?;
    rendered.pop().ok_or_else(GatewayError::internal)
}

/// A page of recharges' wire objects: their charges (with embedded refunds) and their own
/// refunds read in one statement each for the whole page.
pub async fn render_recharges(
    conn: &mut AnyConnection,
    recharges: &[Recharge],
) -> GatewayResult<Vec<Value>> {
    let charge_ids: Vec<&str> = recharges.iter().map(|r| r.charge_id.as_str()).collect();
    let charges = store::charges::get_many(conn, &charge_ids).await?;
    let rendered = render_charges(conn, &charges).await?;
    let mut charges: HashMap<String, Value> =
        charges.into_iter().map(|c| c.id).zip(rendered).collect();
    let recharge_ids: Vec<&str> = recharges.iter().map(|r| r.id.as_str()).collect();
    let mut refunds = store::refunds::for_recharges(conn, &recharge_ids).await?;
    recharges
        .iter()
        .map(|recharge| {
            let charge = charges
                .remove(&recharge.charge_id)
                .ok_or_else(GatewayError::internal)?;
            let refunds = refunds.remove(&recharge.id).unwrap_or_default();
            Ok(recharge.to_wire(charge, refunds.iter().map(Refund::to_wire).collect()))
        })
        .collect()
}

/// Who caused a change, for the event it records.
pub struct Cause<'a> {
    pub account_id: &'a str,
    pub app_id: &'a str,
    pub livemode: bool,
    pub request_id: Option<&'a str>,
}

impl<'a> Cause<'a> {
    pub fn of(caller: &'a Caller, app_id: &'a str) -> Self {
        Self {
            account_id: &caller.account_id,
            app_id,
            livemode: caller.livemode,
            request_id: Some(&caller.request_id),
        }
    }
}

/// Records an event and, in the same transaction, the webhook deliveries it needs.
pub async fn record_event(
    conn: &mut AnyConnection,
    cause: &Cause<'_>,
    kind: EventType,
    object: Value,
    now: i64,
) -> GatewayResult<Event> {
    let mut event = Event {
        id: ids::event(),
        account_id: cause.account_id.to_owned(),
        app_id: cause.app_id.to_owned(),
        livemode: cause.livemode,
        created: now,
        kind: kind.as_str().to_owned(),
        object,
        pending_webhooks: 0,
        request_id: cause.request_id.map(str::to_owned),
    };
    crate::metrics::event(kind.as_str(), cause.livemode);
    if kind == EventType::ChargeSucceeded
        && let Some(channel) = event.object.get("channel").and_then(Value::as_str)
    {
        crate::metrics::charge_paid(channel, cause.livemode);
    }
    let deliveries = webhooks::plan(conn, &event, now * 1000).await?;
    event.pending_webhooks = deliveries.len() as i64;
    let body = if deliveries.is_empty() {
        None
    } else {
        Some(webhooks::render_body(&event)?)
    };
    store::events::insert(conn, &event, body.as_deref()).await?;
    webhooks::insert_planned(conn, &event, &deliveries).await?;
    Ok(event)
}
