//! `/openapi.json`, built from the same list the router is built from.

use axum::http::Method;
use serde_json::{Map, Value, json};

pub struct Operation {
    pub method: Method,
    pub path: &'static str,
    pub summary: &'static str,
}

fn response_schema(op: &Operation) -> &'static str {
    let p = op.path;
    let is_list = (op.method == Method::GET && !p.ends_with('}')) || p.ends_with("/resend");
    if is_list {
        "List"
    } else if p.ends_with("/test") {
        "Event"
    } else if p.starts_with("/v1/webhook_endpoints") {
        "WebhookEndpoint"
    } else if p.contains("/channels") {
        "ChannelConfig"
    } else if p.contains("/users/") {
        "User"
    } else if p.contains("/refunds") {
        "Refund"
    } else if p.contains("/recharges") {
        "Recharge"
    } else if p.starts_with("/v1/events") {
        "Event"
    } else {
        "Charge"
    }
}

pub fn document(operations: &[Operation]) -> Value {
    let mut paths = Map::new();
    for op in operations {
        let parameters: Vec<Value> = op
            .path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        let schema = response_schema(op);
        let mut operation = json!({
            "summary": op.summary,
            "parameters": parameters,
            "security": [{"bearer": []}, {"basic": []}],
            "responses": {
                "200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}},
                "400": {"$ref": "#/components/responses/Error"},
                "401": {"$ref": "#/components/responses/Error"},
                "404": {"$ref": "#/components/responses/Error"},
            }
        });
        if op.method == Method::POST {
            operation["requestBody"] = json!({"required": false, "content": {"application/json": {"schema": {"type": "object"}}}});
            if let Some(parameters) = operation["parameters"].as_array_mut() {
                parameters.extend(signature_headers());
            }
        }
        let entry = paths.entry(op.path.to_owned()).or_insert_with(|| json!({}));
        entry[op.method.as_str().to_ascii_lowercase()] = operation;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "paymux",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "A self-hosted, Ping++-compatible payment gateway. Amounts are integer fen; times are Unix seconds. Every response carries X-Pingplusplus-Signature (RSA-SHA256 of the body with the platform key)."
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer sk_test_… or sk_live_…"},
                "basic": {"type": "http", "scheme": "basic", "description": "The secret key as user name, empty password"}
            },
            "responses": {
                "Error": {"description": "Ping++ error body", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            },
            "schemas": schemas(),
        }
    })
}

fn signature_headers() -> Vec<Value> {
    vec![
        json!({"name": "Pingplusplus-Signature", "in": "header", "required": false, "description": "base64 RSA-SHA256 over body + request target + timestamp, with the merchant private key", "schema": {"type": "string"}}),
        json!({"name": "Pingplusplus-Request-Timestamp", "in": "header", "required": false, "schema": {"type": "string"}}),
    ]
}

fn object(properties: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": properties, "required": required})
}

fn schemas() -> Value {
    let int = json!({"type": "integer"});
    let int_or_null = json!({"type": ["integer", "null"]});
    let str_or_null = json!({"type": ["string", "null"]});
    json!({
        "Error": object(json!({"error": object(json!({
            "type": {"type": "string", "enum": ["invalid_request_error", "api_error", "channel_error"]},
            "message": {"type": "string"}, "code": {"type": "string"}, "param": {"type": "string"}
        }), &["type", "message"])}), &["error"]),
        "List": object(json!({
            "object": {"const": "list"}, "url": {"type": "string"}, "has_more": {"type": "boolean"},
            "data": {"type": "array", "items": {}}
        }), &["object", "url", "has_more", "data"]),
        "Charge": object(json!({
            "id": {"type": "string"}, "object": {"const": "charge"}, "created": int, "livemode": {"type": "boolean"},
            "paid": {"type": "boolean"}, "refunded": {"type": "boolean"}, "reversed": {"type": "boolean"},
            "app": {"type": "string"}, "channel": {"type": "string"}, "order_no": {"type": "string"},
            "client_ip": {"type": "string"}, "amount": int, "amount_settle": int, "currency": {"type": "string"},
            "subject": {"type": "string"}, "body": {"type": "string"}, "extra": {"type": "object"},
            "time_paid": int_or_null, "time_expire": int, "time_settle": int_or_null, "transaction_no": str_or_null,
            "refunds": {"$ref": "#/components/schemas/List"}, "amount_refunded": int,
            "failure_code": str_or_null, "failure_msg": str_or_null, "metadata": {"type": "object"},
            "credential": {"type": "object"}, "description": str_or_null
        }), &["id", "object", "amount", "channel", "order_no"]),
        "Refund": object(json!({
            "id": {"type": "string"}, "object": {"const": "refund"}, "order_no": {"type": "string"}, "amount": int,
            "created": int, "succeed": {"type": "boolean"}, "status": {"type": "string", "enum": ["pending", "succeeded", "failed"]},
            "time_succeed": int_or_null, "description": {"type": "string"}, "failure_code": str_or_null,
            "failure_msg": str_or_null, "metadata": {"type": "object"}, "charge": {"type": "string"},
            "charge_order_no": {"type": "string"}, "transaction_no": str_or_null, "extra": {"type": "object"},
            "funding_source": {"type": "string"}
        }), &["id", "object", "amount", "status", "charge"]),
        "Recharge": object(json!({
            "id": {"type": "string"}, "object": {"const": "recharge"}, "app": {"type": "string"}, "created": int,
            "livemode": {"type": "boolean"}, "amount": int, "succeeded": {"type": "boolean"},
            "time_succeeded": int_or_null, "refunded": {"type": "boolean"}, "user": {"type": "string"},
            "from_user": {"type": "string"}, "user_fee": int, "charge": {"$ref": "#/components/schemas/Charge"},
            "balance_bonus": {"type": ["object", "null"]}, "description": str_or_null, "metadata": {"type": "object"}
        }), &["id", "object", "user", "charge"]),
        "Event": object(json!({
            "id": {"type": "string"}, "object": {"const": "event"}, "created": int, "livemode": {"type": "boolean"},
            "type": {"type": "string"}, "data": object(json!({"object": {"type": "object"}}), &["object"]),
            "pending_webhooks": int, "request": str_or_null
        }), &["id", "object", "type", "data"]),
        "WebhookEndpoint": object(json!({
            "id": {"type": "string"}, "object": {"const": "webhook_endpoint"}, "created": int,
            "livemode": {"type": "boolean"}, "url": {"type": "string"},
            "events": {"type": "array", "items": {"type": "string"}}, "enabled": {"type": "boolean"},
            "description": str_or_null, "deleted": {"type": "boolean"},
            "secret": {"type": "string", "description": "whsec_…: only in the answer to the create call"}
        }), &["id", "object"]),
        "ChannelConfig": object(json!({
            "object": {"const": "channel_config"}, "app": {"type": "string"},
            "provider": {"type": "string", "enum": ["wechat", "alipay", "unionpay"]},
            "livemode": {"type": "boolean"}, "settings": {"type": "object"},
            "secrets_set": {"type": "array", "items": {"type": "string"}}, "updated": int,
            "deleted": {"type": "boolean"}
        }), &["object", "app", "provider"]),
        "User": object(json!({
            "id": {"type": "string"}, "object": {"const": "user"}, "app": {"type": "string"},
            "available_balance": int, "created": int
        }), &["id", "object", "available_balance"]),
    })
}
