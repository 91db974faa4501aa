//! What each route takes, declared as types for the OpenAPI document: request bodies and query
//! parameters. The handlers read their input field by field (`params.rs`), which is how they
//! answer in Ping++'s words ("unknown parameter named …", the offending `param`); these
//! declarations describe the same fields, and the API test suite checks every body it sends
//! successfully against them, so a field added to a handler and not here fails a test.
//!
//! Bodies may also be sent form-encoded (`a[b]=c` for nested fields), as Ping++ accepts.

// Read by nothing but the schema generator (see above).
#![allow(dead_code)]

use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppRef {
    /// `app_…`
    pub id: String,
}

/// Create a charge.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCharge {
    pub app: AppRef,
    /// e.g. `alipay_qr`, `wx_pub_qr`, `upacp_qr`, `alipay_scan`, `isv_qr`.
    pub channel: String,
    /// The merchant's order number: letters and digits, length per channel.
    pub order_no: String,
    /// Fen, at least 1.
    pub amount: i64,
    pub client_ip: String,
    /// `cny`
    pub currency: String,
    pub subject: String,
    pub body: String,
    pub description: Option<String>,
    /// Unix seconds; per-channel minimum and maximum.
    pub time_expire: Option<i64>,
    /// Channel-specific fields (`product_id`, `scan_code`, `terminal_id`, `pay_channel`, …).
    #[schema(value_type = Option<Object>)]
    pub extra: Option<Map<String, Value>>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
}

/// The charge inside a recharge: the app comes from the path, and `client_ip` and `currency`
/// default to `127.0.0.1` and `cny`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RechargeCharge {
    pub channel: String,
    pub order_no: String,
    pub amount: i64,
    pub client_ip: Option<String>,
    pub currency: Option<String>,
    pub subject: String,
    pub body: String,
    pub description: Option<String>,
    pub time_expire: Option<i64>,
    #[schema(value_type = Option<Object>)]
    pub extra: Option<Map<String, Value>>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
}

/// Refund a charge (without an amount: everything still refundable).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRefund {
    pub amount: Option<i64>,
    pub description: String,
    /// `unsettled_funds` or `recharge_funds`.
    pub funding_source: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
}

/// Refund a recharge: always the whole recharge.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRechargeRefund {
    pub description: String,
    pub funding_source: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BalanceBonusParams {
    pub amount: Option<i64>,
}

/// Top up a user's balance.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRecharge {
    pub user: String,
    pub from_user: Option<String>,
    pub charge: RechargeCharge,
    /// Kept from what the payer pays; not with `balance_bonus`.
    pub user_fee: Option<i64>,
    /// `{"amount": fen}` credited on top; `{}` for none.
    pub balance_bonus: Option<BalanceBonusParams>,
    pub description: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
}

/// Test mode: what the payer did.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestPay {
    /// `success` (the default) or `fail`.
    pub result: Option<String>,
}

/// Create or update a webhook endpoint (every field optional on update).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookEndpointParams {
    pub url: Option<String>,
    pub events: Option<EventTypes>,
    pub enabled: Option<bool>,
    pub description: Option<String>,
}

/// Event types (`*` for all): a list, or one comma-separated string.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
pub enum EventTypes {
    List(Vec<String>),
    Joined(String),
}

/// Send an event again (to one endpoint, or to all that take it).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Resend {
    pub endpoint: Option<String>,
}

/// A provider's settings, names and string values (WeChat `appid`, `mch_id`, `api_key`, …;
/// Alipay `app_id`, `alipay_public_key`, `app_private_key`, …; UnionPay `mer_id`, `cert_id`,
/// `unionpay_root_cert` and `unionpay_middle_cert` or `unionpay_public_key`, `private_key`, …:
/// the README lists them all). Secrets are sealed and never shown again.
#[derive(Deserialize, ToSchema)]
pub struct ChannelSettingsParams(pub std::collections::BTreeMap<String, String>);

/// A newest-first page over a cursor.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CursorParams {
    /// 1–100, default 10.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// An object id: the page after it.
    pub starting_after: Option<String>,
    /// An object id: the page before it.
    pub ending_before: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChargeListParams {
    #[serde(rename = "app[id]")]
    #[param(min_length = 1)]
    pub app_id: String,
    pub channel: Option<String>,
    pub paid: Option<bool>,
    pub refunded: Option<bool>,
    pub reversed: Option<bool>,
    #[serde(rename = "created[gte]")]
    pub created_gte: Option<i64>,
    #[serde(rename = "created[gt]")]
    pub created_gt: Option<i64>,
    #[serde(rename = "created[lte]")]
    pub created_lte: Option<i64>,
    #[serde(rename = "created[lt]")]
    pub created_lt: Option<i64>,
    /// Created at exactly this second.
    pub created: Option<i64>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventListParams {
    /// Only events of this type, e.g. `charge.succeeded`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

/// A numbered page (recharges).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// From 1.
    #[param(minimum = 1, maximum = 1_000_000_000)]
    pub page: Option<i64>,
    /// 1–100, default 20.
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<i64>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RechargeListParams {
    pub succeeded: Option<bool>,
    pub refunded: Option<bool>,
}

/// Create or rename an app.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppParams {
    /// 1 to 64 characters, no control characters.
    #[schema(min_length = 1, max_length = 64)]
    pub name: String,
}
