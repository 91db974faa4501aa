//! Ping++ list objects: `{"object":"list","url":<path>,"has_more":…,"data":[…]}`.
//! `url` is a bare path: Python and Java build follow-up requests as `api_base + url`.

use super::wire::{List, to_value};
use serde_json::Value;

pub fn list(url: &str, has_more: bool, data: Vec<Value>) -> Value {
    to_value(List::new(url, has_more, data))
}
