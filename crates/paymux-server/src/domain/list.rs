//! Ping++ list objects: `{"object":"list","url":<path>,"has_more":…,"data":[…]}`.
//! `url` is a bare path: Python and Java build follow-up requests as `api_base + url`.

use serde_json::{Value, json};

pub fn list(url: &str, has_more: bool, data: Vec<Value>) -> Value {
    json!({ "object": "list", "url": url, "has_more": has_more, "data": data })
}
