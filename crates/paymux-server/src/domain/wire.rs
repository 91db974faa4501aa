//! The objects the API answers with, declared once as serde types. Each domain object renders
//! itself through these (`to_wire`), and the OpenAPI document (`api/openapi.rs`) derives its
//! schemas from the same declarations, so the two cannot drift apart.
//!
//! Fields Ping++ always sends are always sent, `null` when empty (`required`, nullable);
//! fields it sends only sometimes are omitted when absent, never `null`: several SDKs read a
//! present `null` differently from an absent field.

use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// The `object` field: one constant string per kind of object (its schema a one-value enum).
macro_rules! object_tag {
    ($($name:ident = $text:literal),* $(,)?) => {$(
        #[derive(Debug, Clone, Copy, Default)]
        pub enum $name {
            #[default]
            Tag,
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str($text)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::Type::String)
                    .enum_values(Some([$text]))
                    .into()
            }
        }

        impl ToSchema for $name {}
    )*};
}

object_tag! {
    ListTag = "list",
    ChargeTag = "charge",
    RefundTag = "refund",
    RechargeTag = "recharge",
    BalanceBonusTag = "balance_bonus",
    UserTag = "user",
    EventTag = "event",
    CredentialTag = "credential",
    WebhookEndpointTag = "webhook_endpoint",
    WebhookDeliveryTag = "webhook_delivery",
    WebhookAttemptTag = "webhook_attempt",
    ChannelConfigTag = "channel_config",
    ChannelNotificationTag = "channel_notification",
    AppTag = "app",
}

/// An app of the account (charges, recharges and channel settings belong to one).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AppObject {
    /// `app_…`
    pub id: String,
    #[schema(inline)]
    pub object: AppTag,
    pub name: String,
    pub created: i64,
}

/// A Ping++ list. `url` is a bare path: the SDKs build the next request as base + url.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct List<T> {
    #[schema(inline)]
    pub object: ListTag,
    pub url: String,
    pub has_more: bool,
    pub data: Vec<T>,
}

impl<T> List<T> {
    pub fn new(url: impl Into<String>, has_more: bool, data: Vec<T>) -> Self {
        List {
            object: ListTag::Tag,
            url: url.into(),
            has_more,
            data,
        }
    }
}

/// A charge (支付对象).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChargeObject<'a> {
    pub id: &'a str,
    #[schema(inline)]
    pub object: ChargeTag,
    pub created: i64,
    pub livemode: bool,
    pub paid: bool,
    pub refunded: bool,
    pub reversed: bool,
    pub app: &'a str,
    pub channel: &'a str,
    pub order_no: &'a str,
    pub client_ip: &'a str,
    /// Fen.
    pub amount: i64,
    pub amount_settle: i64,
    pub currency: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
    #[schema(value_type = Object)]
    pub extra: &'a Map<String, Value>,
    #[schema(required = true)]
    pub time_paid: Option<i64>,
    pub time_expire: i64,
    #[schema(required = true)]
    pub time_settle: Option<i64>,
    #[schema(required = true)]
    pub transaction_no: Option<&'a str>,
    /// The newest refunds (up to ten).
    #[schema(value_type = List<RefundObject>)]
    pub refunds: List<Value>,
    pub amount_refunded: i64,
    #[schema(required = true)]
    pub failure_code: Option<&'a str>,
    #[schema(required = true)]
    pub failure_msg: Option<&'a str>,
    #[schema(value_type = Object)]
    pub metadata: &'a Map<String, Value>,
    /// What the payer needs: for QR channels `{"object":"credential","<channel>":"<link>"}`;
    /// `{}` once the charge is paid, closed or failed.
    #[schema(value_type = Object)]
    pub credential: &'a Map<String, Value>,
    #[schema(required = true)]
    pub description: Option<&'a str>,
}

/// A refund (退款对象), of a charge or of a recharge.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RefundObject<'a> {
    pub id: &'a str,
    #[schema(inline)]
    pub object: RefundTag,
    pub order_no: &'a str,
    pub amount: i64,
    pub created: i64,
    pub succeed: bool,
    #[schema(inline)]
    #[schema(inline)]
    pub status: RefundStatusName,
    #[schema(required = true)]
    pub time_succeed: Option<i64>,
    pub description: &'a str,
    #[schema(required = true)]
    pub failure_code: Option<&'a str>,
    #[schema(required = true)]
    pub failure_msg: Option<&'a str>,
    #[schema(value_type = Object)]
    pub metadata: &'a Map<String, Value>,
    pub charge: &'a str,
    pub charge_order_no: &'a str,
    #[schema(required = true)]
    pub transaction_no: Option<&'a str>,
    #[schema(value_type = Object)]
    pub extra: &'a Map<String, Value>,
    pub currency: &'a str,
    /// Echoed only when the request carried it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub funding_source: Option<&'a str>,
}

/// A refund's status on the Ping++ wire.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefundStatusName {
    Pending,
    Succeeded,
    Failed,
}

/// A balance top-up (充值对象), with the charge that pays it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RechargeObject {
    pub id: String,
    #[schema(inline)]
    pub object: RechargeTag,
    pub app: String,
    pub created: i64,
    pub livemode: bool,
    /// What the balance is credited: the charge's amount plus bonus, minus the user's fee.
    pub amount: i64,
    pub succeeded: bool,
    #[schema(required = true)]
    pub time_succeeded: Option<i64>,
    pub refunded: bool,
    pub user: String,
    pub from_user: String,
    pub user_fee: i64,
    #[schema(value_type = ChargeObject)]
    pub charge: Value,
    #[schema(required = true)]
    pub balance_bonus: Option<BalanceBonus>,
    #[schema(value_type = List<RefundObject>)]
    pub refunds: List<Value>,
    /// Not kept by this gateway: always `null`.
    #[schema(required = true, value_type = Option<Object>)]
    pub balance_transaction: Option<Value>,
    #[schema(required = true)]
    pub description: Option<String>,
    #[schema(value_type = Object)]
    pub metadata: Map<String, Value>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BalanceBonus {
    #[schema(inline)]
    pub object: BalanceBonusTag,
    pub amount: i64,
}

/// An app user and their balance in fen.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserObject {
    pub id: String,
    #[schema(inline)]
    pub object: UserTag,
    pub app: String,
    pub livemode: bool,
    pub available_balance: i64,
    pub withdrawable_balance: i64,
    pub disabled: bool,
    pub created: i64,
    #[schema(value_type = Object)]
    pub metadata: Map<String, Value>,
}

/// An event (事件): what happened, with the object as it was then.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventObject {
    pub id: String,
    #[schema(inline)]
    pub object: EventTag,
    pub created: i64,
    pub livemode: bool,
    #[serde(rename = "type")]
    pub kind: String,
    pub data: EventData,
    pub pending_webhooks: i64,
    /// The `iar_…` id of the request that caused it; `null` for the gateway's own doing.
    #[schema(required = true)]
    pub request: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventData {
    /// A charge, refund or recharge, as the event's type says.
    #[schema(value_type = Object)]
    pub object: Value,
}

/// Ping++'s error body: `{"error":{"type","message","code"?,"param"?}}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorDetail {
    #[serde(rename = "type")]
    pub kind: crate::error::ErrorType,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub param: Option<String>,
}

/// Where an account's events are delivered.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookEndpointObject {
    pub id: String,
    #[schema(inline)]
    pub object: WebhookEndpointTag,
    pub created: i64,
    pub livemode: bool,
    pub url: String,
    pub events: Vec<String>,
    pub enabled: bool,
    #[schema(required = true)]
    pub description: Option<String>,
    /// `whsec_…`: only in the answer to the create call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// The answer to deleting an object by id.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Deleted<T> {
    pub id: String,
    #[schema(inline)]
    pub object: T,
    pub deleted: bool,
}

/// One event's delivery to one endpoint, with its attempts.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookDeliveryObject {
    pub id: String,
    #[schema(inline)]
    pub object: WebhookDeliveryTag,
    pub event: String,
    pub endpoint: String,
    #[schema(inline)]
    pub status: super::webhook::DeliveryStatus,
    pub attempt_count: i64,
    /// While pending: when the next attempt is due (ms).
    #[schema(required = true)]
    pub next_attempt_at_ms: Option<i64>,
    pub created_ms: i64,
    #[schema(required = true)]
    pub finished_ms: Option<i64>,
    pub attempts: Vec<WebhookAttemptObject>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookAttemptObject {
    pub id: String,
    #[schema(inline)]
    pub object: WebhookAttemptTag,
    pub delivery: String,
    pub event: String,
    pub endpoint: String,
    pub number: i64,
    pub due_ms: i64,
    pub started_ms: i64,
    pub url: String,
    #[schema(required = true)]
    pub status_code: Option<i64>,
    pub latency_ms: i64,
    /// The start of the endpoint's answer.
    #[schema(required = true)]
    pub response: Option<String>,
    #[schema(required = true)]
    pub error: Option<String>,
    pub succeeded: bool,
}

/// An app's configuration of a provider: public settings and the names of the secrets set.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChannelConfigObject {
    #[schema(inline)]
    pub object: ChannelConfigTag,
    pub app: String,
    pub provider: crate::channels::Provider,
    pub livemode: bool,
    pub settings: std::collections::BTreeMap<String, String>,
    pub secrets_set: Vec<String>,
    pub updated: i64,
}

/// The answer to removing a channel configuration.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChannelConfigDeleted {
    #[schema(inline)]
    pub object: ChannelConfigTag,
    pub app: String,
    pub provider: crate::channels::Provider,
    pub deleted: bool,
}

/// A verified channel notification, as received.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChannelNotificationObject {
    pub id: String,
    #[schema(inline)]
    pub object: ChannelNotificationTag,
    pub app: String,
    pub livemode: bool,
    pub provider: String,
    pub received: i64,
    /// The order or refund number it is about.
    pub reference: String,
    pub body: String,
}

/// The wire form of a typed object, where the rest of the code passes JSON values (events keep
/// the object they describe as JSON).
pub fn to_value(object: impl Serialize) -> Value {
    serde_json::to_value(object).unwrap_or(Value::Null)
}
