//! Every answer these tests receive through `TestServer::send` is checked against the server's
//! own OpenAPI document (`/openapi.json`): the route and the status must be documented, a
//! success must match the route's answer schema and an error Ping++'s error body, and a request
//! body that succeeded must match the route's request schema. So the document cannot drift from
//! what the server does.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;

static DOCUMENT: OnceCell<Value> = OnceCell::const_new();
static VALIDATORS: Mutex<Option<HashMap<String, Arc<jsonschema::Validator>>>> = Mutex::new(None);

/// One exchange with the API, as sent and received.
pub struct Exchange<'a> {
    pub client: &'a reqwest::Client,
    pub base: String,
    pub method: Method,
    pub path: String,
    pub request: Option<Value>,
    pub status: StatusCode,
    pub response: &'a Value,
}

pub async fn check(exchange: Exchange<'_>) {
    let document = DOCUMENT
        .get_or_init(|| async {
            exchange
                .client
                .get(format!("{}/openapi.json", exchange.base))
                .send()
                .await
                .expect("openapi.json")
                .json()
                .await
                .expect("openapi.json is JSON")
        })
        .await;
    let Some((template, operation)) = find(document, &exchange.method, &exchange.path) else {
        let undocumented_is_fine = !exchange.path.starts_with("/v1/")
            || matches!(
                exchange.status,
                StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED
            );
        assert!(
            undocumented_is_fine,
            "{} {} answered {} but is not in the OpenAPI document",
            exchange.method, exchange.path, exchange.status
        );
        return;
    };
    let where_ = format!("{} {template}", exchange.method);
    let status = exchange.status.as_u16().to_string();
    let answer = &operation["responses"][&status];
    assert!(
        answer.is_object(),
        "{where_} answered {status}, which its OpenAPI entry does not list"
    );
    let schema = &answer["content"]["application/json"]["schema"];
    validate(
        document,
        schema,
        exchange.response,
        &format!("{where_} → {status}"),
    );
    if exchange.status.is_success()
        && let Some(body) = &exchange.request
    {
        let schema = &operation["requestBody"]["content"]["application/json"]["schema"];
        assert!(
            schema.is_object(),
            "{where_} took a body its OpenAPI entry does not describe"
        );
        validate(document, schema, body, &format!("{where_} request body"));
    }
}

/// The operation documented for `method` on the template `path` matches.
fn find<'d>(document: &'d Value, method: &Method, path: &str) -> Option<(&'d str, &'d Value)> {
    let path = path.split('?').next().unwrap_or(path);
    let segments: Vec<&str> = path.split('/').collect();
    document["paths"]
        .as_object()?
        .iter()
        .find_map(|(template, item)| {
            let pattern: Vec<&str> = template.split('/').collect();
            let matches = pattern.len() == segments.len()
                && pattern
                    .iter()
                    .zip(&segments)
                    .all(|(p, s)| p == s || (p.starts_with('{') && !s.is_empty()));
            let operation = item.get(method.as_str().to_ascii_lowercase())?;
            matches.then_some((template.as_str(), operation))
        })
}

fn validate(document: &Value, schema: &Value, instance: &Value, what: &str) {
    let key = schema.to_string();
    let validator = {
        let mut cache = VALIDATORS.lock().unwrap_or_else(|e| e.into_inner());
        let cache = cache.get_or_insert_with(HashMap::new);
        cache
            .entry(key)
            .or_insert_with(|| {
                // Refs point into the document's components: give the schema those as its root.
                let mut root = schema.clone();
                root["components"] = document["components"].clone();
                root["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
                Arc::new(jsonschema::validator_for(&root).expect("a valid schema"))
            })
            .clone()
    };
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} does not match the OpenAPI document:\n{}\n{instance}",
        errors.join("\n")
    );
}
