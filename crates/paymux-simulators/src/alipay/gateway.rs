//! `gateway.do`: the common parameters and gateway-level checks (docs/channels/alipay.md), the
//! knobs that act on every call, and the signed answer.

use super::trade::{self, METHODS, Reply, unknown_error};
use super::{AlipaySimulator, Inner, notify};
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use paymux_channels::alipay::{ERROR_NODE, SIGN_TYPE, request_sign_content, response_node};
use paymux_channels::{Params, beijing_time, form};
use std::time::Duration;

const MISSING: (&str, &str) = ("40001", "Missing Required Arguments");
const INVALID: (&str, &str) = ("40002", "Invalid Arguments");
const NO_PERMISSION: (&str, &str) = ("20001", "Insufficient Token Permissions");

/// What to send back, before rendering.
struct Answer {
    node: String,
    content: Reply,
    signed: bool,
    deliveries: Vec<usize>,
}

impl Answer {
    fn gateway_error(
        (code, msg): (&str, &str),
        sub_code: &str,
        sub_msg: &str,
        signed: bool,
    ) -> Self {
        Self {
            node: ERROR_NODE.to_owned(),
            content: trade::reply(code, msg, Some((sub_code, sub_msg)), Default::default()),
            signed,
            deliveries: Vec::new(),
        }
    }
}

pub(super) async fn handle(
    State(simulator): State<AlipaySimulator>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let latency = simulator.knobs().latency_ms;
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    let inner = &simulator.inner;
    let query = query.as_deref().unwrap_or("");
    let charset = Charset::declared(query, &body);
    let answer = answer(inner, query, &body, charset);
    notify::spawn(inner, answer.deliveries);
    let mut content = serde_json::to_string(&answer.content).unwrap_or_else(|_| "{}".to_owned());
    if inner.settings.escape_slashes {
        content = content.replace('/', "\\/");
    }
    // Alipay answers in the request's character set, and signs the bytes it sends.
    let charset = charset.unwrap_or(Charset::Utf8);
    let text = if answer.signed {
        let sent = charset.encode(&content);
        paymux_channels::alipay::sign_response_as(&answer.node, &content, &sent, &inner.key)
    } else {
        format!("{{\"{}\":{content}}}", answer.node)
    };
    let content_type = format!("text/html;charset={}", charset.name());
    (
        [(header::CONTENT_TYPE, content_type)],
        charset.encode(&text),
    )
        .into_response()
}

/// The character sets Alipay takes a request in (`charset`): its answer comes in the same one,
/// and so do the notifications about the order the request names as their `notify_url`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Charset {
    Utf8,
    Gbk,
}

impl Charset {
    /// The `charset` a request names, read from its raw pairs (the name and the values that
    /// matter are ASCII, so it can be read before anything is decoded). `None`: none named, or
    /// one Alipay does not take.
    fn declared(query: &str, body: &[u8]) -> Option<Charset> {
        let pairs = query
            .as_bytes()
            .split(|&b| b == b'&')
            .chain(body.split(|&b| b == b'&'));
        let named = pairs
            .filter(|pair| pair.starts_with(b"charset="))
            .find_map(|pair| form::parse(pair).ok()?.get("charset").map(str::to_owned))
            .unwrap_or_else(|| "utf-8".to_owned());
        match named.to_ascii_lowercase().as_str() {
            "utf-8" | "utf8" => Some(Charset::Utf8),
            "gbk" => Some(Charset::Gbk),
            _ => None,
        }
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Charset::Utf8 => "utf-8",
            Charset::Gbk => "GBK",
        }
    }

    pub(super) fn encode(self, text: &str) -> Vec<u8> {
        match self {
            Charset::Utf8 => text.as_bytes().to_vec(),
            Charset::Gbk => encoding_rs::GBK.encode(text).0.into_owned(),
        }
    }

    fn decode(self) -> fn(Vec<u8>) -> Option<String> {
        match self {
            Charset::Utf8 => |bytes| String::from_utf8(bytes).ok(),
            Charset::Gbk => |bytes| {
                encoding_rs::GBK
                    .decode_without_bom_handling_and_without_replacement(&bytes)
                    .map(|text| text.into_owned())
            },
        }
    }
}

fn answer(inner: &Inner, query: &str, body: &[u8], charset: Option<Charset>) -> Answer {
    let params = match merge(query, body, charset.unwrap_or(Charset::Utf8)) {
        Ok(params) => params,
        Err(reason) => {
            return Answer::gateway_error(INVALID, "isv.invalid-parameter", &reason, false);
        }
    };
    let now = (inner.clock)();
    let mut state = inner.lock();

    let Some(app_id) = present(&params, "app_id") else {
        return Answer::gateway_error(MISSING, "isv.missing-app-id", "缺少AppID参数", false);
    };
    let Some(method) = present(&params, "method") else {
        return Answer::gateway_error(MISSING, "isv.missing-method", "缺少方法名参数", false);
    };
    if !METHODS.contains(&method) {
        return Answer::gateway_error(INVALID, "isv.invalid-method", "不存在的方法名", false);
    }
    let Some(app_key) = state.apps.get(app_id).cloned() else {
        return Answer::gateway_error(INVALID, "isv.invalid-app-id", "无效的AppID参数", false);
    };
    // From here on Alipay knows whose call this is and signs even its refusals.
    let refuse =
        |error, sub_code, sub_msg: &str| Answer::gateway_error(error, sub_code, sub_msg, true);
    let Some(charset) = charset else {
        return refuse(INVALID, "isv.invalid-charset", "字符集错误");
    };
    if let Some(format) = present(&params, "format")
        && !format.eq_ignore_ascii_case("json")
    {
        return refuse(INVALID, "isv.invalid-format", "无效的数据格式");
    }
    match present(&params, "sign_type") {
        None => return refuse(MISSING, "isv.missing-signature-type", "缺少签名类型"),
        Some(SIGN_TYPE) => {}
        Some(_) => return refuse(INVALID, "isv.invalid-signature-type", "无效的签名类型"),
    }
    let Some(sign) = present(&params, "sign") else {
        return refuse(MISSING, "isv.missing-signature", "缺少签名参数");
    };
    let Some(timestamp) = present(&params, "timestamp") else {
        return refuse(MISSING, "isv.missing-timestamp", "缺少时间戳参数");
    };
    let tolerance = u64::try_from(inner.settings.timestamp_tolerance_secs).unwrap_or(0);
    let in_tolerance = beijing_time::parse_dashed(timestamp)
        .is_ok_and(|secs| secs.abs_diff(now.div_euclid(1000)) <= tolerance);
    if !in_tolerance {
        return refuse(INVALID, "isv.invalid-timestamp", "非法的时间戳参数");
    }
    match present(&params, "version") {
        None => return refuse(MISSING, "isv.missing-version", "缺少版本参数"),
        Some("1.0") => {}
        Some(_) => return refuse(INVALID, "isv.invalid-version", "版本号错误"),
    }
    if present(&params, "encrypt_type").is_some() {
        return refuse(INVALID, "isv.invalid-encrypt-type", "无效的加密类型");
    }
    if present(&params, "app_auth_token").is_some() {
        return refuse(
            NO_PERMISSION,
            "aop.invalid-app-auth-token",
            "无效的应用授权令牌",
        );
    }
    let content = request_sign_content(&params);
    if !app_key.verify_base64(&charset.encode(&content), sign) {
        let sub_msg = format!(
            "验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配，网关生成的验签字符串为：{content}"
        );
        return refuse(INVALID, "isv.invalid-signature", &sub_msg);
    }

    let node = response_node(method);
    let mut deliveries = state.sweep(inner, now);
    let knobs = &mut state.knobs;
    let fail = knobs.fail_next > 0
        && knobs
            .fail_method
            .as_deref()
            .is_none_or(|only| only == method);
    let mut content = if fail {
        knobs.fail_next -= 1;
        unknown_error()
    } else {
        Reply::new()
    };
    if !fail || knobs.fail_after_effect {
        let reply = state.call(inner, app_id, method, &params, charset, now);
        deliveries.extend(state.flush(inner, now));
        if !fail {
            content = reply;
        }
    }
    Answer {
        node,
        content,
        signed: true,
        deliveries,
    }
}

/// A parameter that is present and not empty.
fn present<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params.get(name).filter(|value| !value.is_empty())
}

/// The query-string and form-body parameters together, each decoded once. A name in both must
/// carry the same value.
fn merge(query: &str, body: &[u8], charset: Charset) -> Result<Params, String> {
    let parse = |bytes: &[u8]| form::parse_with(bytes, charset.decode()).map_err(|e| e.to_string());
    let mut params = parse(query.as_bytes())?;
    for (name, value) in parse(body)? {
        match params.get(&name) {
            Some(existing) if existing != value => {
                return Err(format!("参数{name}在URL和表单中的取值不一致"));
            }
            Some(_) => {}
            None => {
                params.insert(name, value);
            }
        }
    }
    Ok(params)
}
