//! The outbound HTTP side of webhooks: one attempt = one POST, judged only by its status code.
//!
//! Safety for a gateway that calls URLs its tenants chose: http(s) only, no redirects followed,
//! no proxy from the environment, a timeout on the whole exchange, at most
//! [`RESPONSE_READ_LIMIT`] bytes of the answer read, and an optional deny-list of networks
//! (see `outbound`) checked on every address a name resolves to and on literal IPs.

use crate::outbound::{self, denied, literal_address};
use ipnet::IpNet;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue, USER_AGENT};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How much of a receiver's answer is read; the rest is dropped with the connection.
pub const RESPONSE_READ_LIMIT: usize = 4096;
/// How much of it the attempt log keeps.
const EXCERPT_CHARS: usize = 256;

/// Checks what the merchant may register as an endpoint URL.
pub fn check_url(url: &str) -> Result<reqwest::Url, String> {
    let parsed =
        reqwest::Url::parse(url).map_err(|e| format!("`{url}` is not a valid URL ({e})."))?;
    if parsed.scheme() != "http" && parsed.scheme() != "https" {
        return Err(format!(
            "Webhook URLs must be http or https, not {}.",
            parsed.scheme()
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err("Webhook URLs need a host.".into());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("Webhook URLs must not carry credentials (user:password@).".into());
    }
    if parsed.fragment().is_some() {
        return Err("Webhook URLs must not have a #fragment.".into());
    }
    Ok(parsed)
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub status_code: Option<u16>,
    pub latency_ms: i64,
    pub response_excerpt: Option<String>,
    pub error: Option<String>,
}

impl Outcome {
    /// Any 2xx within the timeout counts as delivered (Ping++: "只根据你返回的服务器状态码来判断").
    pub fn delivered(&self) -> bool {
        self.status_code
            .is_some_and(|code| (200..300).contains(&code))
    }
}

pub struct Sender {
    client: reqwest::Client,
    deny: Arc<Vec<IpNet>>,
}

impl Sender {
    pub fn new(timeout: Duration, deny: Vec<IpNet>) -> anyhow::Result<Self> {
        let deny = Arc::new(deny);
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(timeout)
            .tcp_nodelay(true)
            .user_agent(concat!("paymux/", env!("CARGO_PKG_VERSION"), " (webhooks)"));
        let client = outbound::guarded(client, deny.clone()).build()?;
        Ok(Self { client, deny })
    }

    /// POSTs `body` with `headers` (the signatures) to `url`.
    pub async fn post(&self, url: &str, headers: HeaderMap, body: String) -> Outcome {
        let started = Instant::now();
        let failed = |error: String| Outcome {
            status_code: None,
            latency_ms: elapsed_ms(started),
            response_excerpt: None,
            error: Some(error),
        };
        let parsed = match check_url(url) {
            Ok(parsed) => parsed,
            Err(error) => return failed(error),
        };
        // Literal addresses never reach the resolver, so check them here.
        if let Some(ip) = literal_address(&parsed)
            && denied(&self.deny, ip)
        {
            return failed(format!("address {ip} is in a denied network"));
        }
        let mut headers = headers;
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.remove(USER_AGENT);
        let sent = self
            .client
            .post(parsed)
            .headers(headers)
            .body(body)
            .send()
            .await;
        let mut response = match sent {
            Ok(response) => response,
            Err(error) => return failed(describe(&error)),
        };
        let status = response.status().as_u16();
        let mut read = Vec::new();
        let mut error = None;
        while read.len() < RESPONSE_READ_LIMIT {
            match response.chunk().await {
                Ok(Some(chunk)) => read.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(e) => {
                    error = Some(describe(&e));
                    break;
                }
            }
        }
        let text = String::from_utf8_lossy(&read);
        let excerpt: String = text.chars().take(EXCERPT_CHARS).collect();
        let outcome = Outcome {
            status_code: Some(status),
            latency_ms: elapsed_ms(started),
            response_excerpt: (!excerpt.is_empty()).then_some(excerpt),
            error,
        };
        // A 2xx whose body then timed out was not answered within the timeout.
        if outcome.error.is_some() {
            return Outcome {
                status_code: None,
                ..outcome
            };
        }
        outcome
    }
}

fn elapsed_ms(started: Instant) -> i64 {
    i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX)
}

/// One line for the attempt log: the kind of failure and reqwest's own words, which name no
/// secrets (headers are not part of its errors).
fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connection failed"
    } else if error.is_redirect() {
        "redirect"
    } else {
        "request failed"
    };
    let mut text = format!("{kind}: {error}");
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_plain_http_or_https() {
        assert!(check_url("https://merchant.example/hooks").is_ok());
        assert!(check_url("http://127.0.0.1:9000/x").is_ok());
        assert!(check_url("ftp://merchant.example/").is_err());
        assert!(check_url("https://user:pw@merchant.example/").is_err());
        assert!(check_url("not a url").is_err());
        assert!(check_url("https://merchant.example/#x").is_err());
    }
}
