//! Reading request parameters the way Ping++ reports problems with them: every missing, mistyped
//! or unknown parameter is a 400 `invalid_request_error` that names it in `param`.
//!
//! Bodies are parsed from the exact bytes received (already signature-checked) into a JSON map and
//! taken apart field by field; whatever is left at `finish` is an unknown parameter.

use crate::error::{GatewayError, GatewayResult};
use serde_json::{Map, Value};

/// Upper bound for `amount`: Java SDK models it as `Integer`.
pub const MAX_AMOUNT: i64 = i32::MAX as i64;

pub struct BodyParams {
    map: Map<String, Value>,
    prefix: String,
}

impl BodyParams {
    /// An empty body, `{}` and `[]` (PHP's empty array) all mean "no parameters".
    pub fn parse(bytes: &[u8]) -> GatewayResult<Self> {
        let text = std::str::from_utf8(bytes).map_err(|_| {
            GatewayError::invalid("请求体解析失败: the request body is not valid UTF-8.")
        })?;
        if text.trim().is_empty() {
            return Ok(Self::from_map(Map::new(), ""));
        }
        let value: Value = serde_json::from_str(text).map_err(|e| {
            GatewayError::invalid(format!(
                "请求体解析失败: 不是一个合法的 json 格式字符串 (the request body is not valid JSON: {e})."
            ))
        })?;
        if let Some(name) = nul_in(&value, "") {
            return Err(nul_error(&name));
        }
        match value {
            Value::Object(map) => Ok(Self::from_map(map, "")),
            Value::Array(items) if items.is_empty() => Ok(Self::from_map(Map::new(), "")),
            _ => Err(GatewayError::invalid(
                "请求体解析失败: 不是一个合法的 json 对象 (the request body must be a JSON object).",
            )),
        }
    }

    pub fn from_map(map: Map<String, Value>, prefix: &str) -> Self {
        Self {
            map,
            prefix: prefix.to_owned(),
        }
    }

    /// The name of a field as the API reports it, e.g. `charge[amount]`.
    pub fn name(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}[{key}]", self.prefix)
        }
    }

    /// The names of the parameters not taken yet (for bodies whose names are data).
    pub fn keys(&self) -> Vec<String> {
        self.map.keys().cloned().collect()
    }

    fn take(&mut self, key: &str) -> Option<Value> {
        match self.map.remove(key) {
            Some(Value::Null) | None => None,
            Some(value) => Some(value),
        }
    }

    fn missing(&self, key: &str) -> GatewayError {
        let name = self.name(key);
        GatewayError::invalid_param(&name, format!("Missing required parameter: {name}."))
    }

    pub fn required_str(&mut self, key: &str, min: usize, max: usize) -> GatewayResult<String> {
        let value = self
            .optional_str(key, max)?
            .ok_or_else(|| self.missing(key))?;
        let len = value.chars().count();
        if len < min {
            let name = self.name(key);
            return Err(GatewayError::invalid_param(
                &name,
                format!("Parameter {name} must be {min} to {max} characters long."),
            ));
        }
        Ok(value)
    }

    pub fn optional_str(&mut self, key: &str, max: usize) -> GatewayResult<Option<String>> {
        let Some(value) = self.take(key) else {
            return Ok(None);
        };
        let name = self.name(key);
        let text = match value {
            Value::String(s) => s,
            // SDK examples mix numbers and strings for codes and ids; accept plain numbers.
            Value::Number(n) => n.to_string(),
            _ => {
                return Err(GatewayError::invalid_param(
                    &name,
                    format!("Parameter {name} must be a string."),
                ));
            }
        };
        if text.chars().count() > max {
            return Err(GatewayError::invalid_param(
                &name,
                format!("Parameter {name} must be at most {max} characters long."),
            ));
        }
        Ok(Some(text))
    }

    /// An integer amount in fen within `min..=max`. Digit strings are accepted because some
    /// merchant code builds parameters from form fields; fractions never are.
    pub fn optional_int(&mut self, key: &str, min: i64, max: i64) -> GatewayResult<Option<i64>> {
        let Some(value) = self.take(key) else {
            return Ok(None);
        };
        let name = self.name(key);
        let number = match &value {
            Value::Number(n) => n.as_i64(),
            Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                s.parse::<i64>().ok()
            }
            _ => None,
        };
        match number {
            Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(GatewayError::invalid_param(
                &name,
                format!("Parameter {name} must be an integer between {min} and {max}."),
            )),
        }
    }

    pub fn optional_bool(&mut self, key: &str) -> GatewayResult<Option<bool>> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(_) => {
                let name = self.name(key);
                Err(GatewayError::invalid_param(
                    &name,
                    format!("Parameter {name} must be true or false."),
                ))
            }
        }
    }

    /// A list of strings: a JSON array, or one comma-separated string.
    pub fn optional_str_list(&mut self, key: &str) -> GatewayResult<Option<Vec<String>>> {
        let name = self.name(key);
        let invalid = || {
            GatewayError::invalid_param(
                &name,
                format!("Parameter {name} must be a list of strings."),
            )
        };
        match self.take(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(
                s.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
            )),
            Some(Value::Array(items)) => items
                .into_iter()
                .map(|item| match item {
                    Value::String(s) => Ok(s),
                    _ => Err(invalid()),
                })
                .collect::<GatewayResult<Vec<_>>>()
                .map(Some),
            Some(_) => Err(invalid()),
        }
    }

    pub fn required_int(&mut self, key: &str, min: i64, max: i64) -> GatewayResult<i64> {
        self.optional_int(key, min, max)?
            .ok_or_else(|| self.missing(key))
    }

    pub fn optional_object(&mut self, key: &str) -> GatewayResult<Option<BodyParams>> {
        let Some(value) = self.take(key) else {
            return Ok(None);
        };
        let name = self.name(key);
        match value {
            Value::Object(map) => Ok(Some(BodyParams::from_map(map, &name))),
            // PHP encodes an empty associative array as `[]`.
            Value::Array(items) if items.is_empty() => {
                Ok(Some(BodyParams::from_map(Map::new(), &name)))
            }
            _ => Err(GatewayError::invalid_param(
                &name,
                format!("Parameter {name} must be an object."),
            )),
        }
    }

    pub fn required_object(&mut self, key: &str) -> GatewayResult<BodyParams> {
        self.optional_object(key)?.ok_or_else(|| self.missing(key))
    }

    /// A raw JSON value for fields whose shape the caller checks (e.g. lists of goods).
    pub fn optional_value(&mut self, key: &str) -> Option<Value> {
        self.take(key)
    }

    /// `metadata`: flat key/value pairs, as Ping++ and Stripe allow.
    pub fn metadata(&mut self) -> GatewayResult<Map<String, Value>> {
        let Some(mut object) = self.optional_object("metadata")? else {
            return Ok(Map::new());
        };
        let name = object.prefix.clone();
        if object.map.len() > 50 {
            return Err(GatewayError::invalid_param(
                &name,
                format!("Parameter {name} can have at most 50 keys."),
            ));
        }
        for (key, value) in &object.map {
            let ok_key = !key.is_empty() && key.chars().count() <= 64;
            let ok_value = match value {
                Value::String(s) => s.chars().count() <= 500,
                Value::Number(_) | Value::Bool(_) | Value::Null => true,
                _ => false,
            };
            if !ok_key || !ok_value {
                return Err(GatewayError::invalid_param(
                    format!("{name}[{key}]"),
                    format!(
                        "Parameter {name} takes keys of 1 to 64 characters and values that are strings of at most 500 characters, numbers or booleans."
                    ),
                ));
            }
        }
        Ok(std::mem::take(&mut object.map))
    }

    /// Fails on the first parameter nobody asked for.
    pub fn finish(self) -> GatewayResult<()> {
        match self.map.keys().next() {
            None => Ok(()),
            Some(key) => {
                let name = self.name(key);
                Err(GatewayError::invalid_param(
                    &name,
                    format!("Received unknown parameter: {name}."),
                ))
            }
        }
    }
}

/// Query-string parameters as the SDKs send them: brackets percent-encoded or literal,
/// booleans as `true` or Python's `True`, a bare trailing `?`, unknown parameters ignored.
#[derive(Debug, Default)]
pub struct QueryParams {
    pairs: Vec<(String, String)>,
}

impl QueryParams {
    /// Fails on a NUL character, which no parameter may hold (PostgreSQL cannot store it).
    pub fn parse(query: Option<&str>) -> GatewayResult<Self> {
        let pairs: Vec<(String, String)> = query
            .unwrap_or("")
            .split('&')
            .filter(|part| !part.is_empty())
            .map(|part| {
                let (key, value) = part.split_once('=').unwrap_or((part, ""));
                (decode(key), decode(value))
            })
            .collect();
        if let Some((key, _)) = pairs
            .iter()
            .find(|(k, v)| k.contains('\0') || v.contains('\0'))
        {
            return Err(nul_error(key));
        }
        Ok(Self { pairs })
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn string(&self, key: &str) -> Option<String> {
        self.get(key).filter(|v| !v.is_empty()).map(str::to_owned)
    }

    pub fn int(&self, key: &str, min: i64, max: i64) -> GatewayResult<Option<i64>> {
        match self.get(key).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(text) => match text.parse::<i64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
                _ => Err(GatewayError::invalid_param(
                    key,
                    format!("Parameter {key} must be an integer between {min} and {max}."),
                )),
            },
        }
    }

    pub fn bool(&self, key: &str) -> GatewayResult<Option<bool>> {
        match self.get(key).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(text) if text.eq_ignore_ascii_case("true") || text == "1" => Ok(Some(true)),
            Some(text) if text.eq_ignore_ascii_case("false") || text == "0" => Ok(Some(false)),
            Some(_) => Err(GatewayError::invalid_param(
                key,
                format!("Parameter {key} must be true or false."),
            )),
        }
    }
}

/// The bracketed name of the first string (or key) in `value` that holds a NUL character.
fn nul_in(value: &Value, name: &str) -> Option<String> {
    let child = |key: &str| {
        if name.is_empty() {
            key.to_owned()
        } else {
            format!("{name}[{key}]")
        }
    };
    match value {
        Value::String(s) if s.contains('\0') => Some(name.to_owned()),
        Value::Object(map) => map.iter().find_map(|(key, value)| {
            if key.contains('\0') {
                Some(child(key))
            } else {
                nul_in(value, &child(key))
            }
        }),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| nul_in(item, &child(&i.to_string()))),
        _ => None,
    }
}

/// A NUL character in a parameter: refused, naming it (printable, whatever it holds).
pub fn nul_error(name: &str) -> GatewayError {
    let name = name.replace('\0', "\\u0000");
    GatewayError::invalid_param(
        &name,
        format!("Parameter {name} must not contain the NUL character (\\u0000)."),
    )
}

fn decode(text: &str) -> String {
    let spaced = text.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_body_forms_mean_no_parameters() {
        for body in [&b""[..], b"{}", b"[]", b"  \n"] {
            assert!(BodyParams::parse(body).expect("parses").finish().is_ok());
        }
        assert!(BodyParams::parse(b"[1]").is_err());
        assert!(BodyParams::parse(b"{").is_err());
    }

    #[test]
    fn unknown_parameters_are_named() {
        let mut params = BodyParams::parse(br#"{"amount":1,"livemode":true}"#).expect("parses");
        assert_eq!(
            params
                .required_int("amount", 1, MAX_AMOUNT)
                .expect("amount"),
            1
        );
        let error = params.finish().expect_err("unknown");
        assert_eq!(error.param.as_deref(), Some("livemode"));
        assert!(error.message.contains("livemode"));
    }

    #[test]
    fn nested_names_use_brackets() {
        let mut params = BodyParams::parse(br#"{"charge":{"amount":"abc"}}"#).expect("parses");
        let mut charge = params.required_object("charge").expect("object");
        let error = charge
            .required_int("amount", 1, MAX_AMOUNT)
            .expect_err("not a number");
        assert_eq!(error.param.as_deref(), Some("charge[amount]"));
    }

    #[test]
    fn amounts_must_be_whole_and_in_range() {
        for bad in ["1.5", "0", "-3", "2147483648", "\"1e3\"", "true"] {
            let body = format!(r#"{{"amount":{bad}}}"#);
            let mut params = BodyParams::parse(body.as_bytes()).expect("parses");
            assert!(
                params.required_int("amount", 1, MAX_AMOUNT).is_err(),
                "{bad}"
            );
        }
        let mut params = BodyParams::parse(br#"{"amount":"100"}"#).expect("parses");
        assert_eq!(
            params.required_int("amount", 1, MAX_AMOUNT).expect("ok"),
            100
        );
    }

    #[test]
    fn query_accepts_every_sdk_encoding() {
        let q = QueryParams::parse(Some("app%5Bid%5D=app_1&paid=True&created[gt]=5&x=a+b"))
            .expect("parses");
        assert_eq!(q.get("app[id]"), Some("app_1"));
        assert_eq!(q.bool("paid").expect("bool"), Some(true));
        assert_eq!(q.int("created[gt]", 0, i64::MAX).expect("int"), Some(5));
        assert_eq!(q.get("x"), Some("a b"));
        let parse = |q| QueryParams::parse(Some(q)).expect("parses");
        assert!(parse("").get("a").is_none());
        assert!(parse("paid=yes").bool("paid").is_err());
    }

    #[test]
    fn nul_characters_are_refused_by_name() {
        let error = QueryParams::parse(Some("limit=1&order_no=a%00b")).expect_err("NUL");
        assert_eq!(error.param.as_deref(), Some("order_no"));
        let error = BodyParams::parse(br#"{"extra":{"goods":[{"name":"a\u0000"}]}}"#)
            .err()
            .expect("NUL");
        assert_eq!(error.param.as_deref(), Some("extra[goods][0][name]"));
        let error = BodyParams::parse(br#"{"a\u0000":1}"#).err().expect("NUL");
        assert_eq!(error.param.as_deref(), Some("a\\u0000"));
    }
}
