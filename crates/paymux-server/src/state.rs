//! What every request handler and background worker shares.

use crate::clock::SharedClock;
use crate::store::Db;
use paymux_crypto::{SigningKey, VerifyingKey};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::sync::Notify;

/// Tunables with their defaults; the binary fills them from flags, environment and config file.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Largest request body accepted, in bytes.
    pub body_limit_bytes: usize,
    /// How long a client may take to send a request body, in milliseconds.
    pub body_read_timeout_ms: u64,
    /// How far `Pingplusplus-Request-Timestamp` may be from now, in seconds (replay window).
    pub signature_tolerance_secs: i64,
    /// How long a test-mode refund stays pending before it succeeds, in milliseconds.
    pub test_refund_delay_ms: i64,
    /// The base URL merchants' browsers reach this gateway at (for mock-pay links);
    /// by default taken from the request's Host header.
    pub public_url: Option<String>,
    /// Sign every response body (`X-Pingplusplus-Signature`), as Ping++ does. One RSA-2048
    /// signature per response is the gateway's largest CPU cost; only the Java SDK checks it,
    /// and only when configured to.
    pub sign_responses: bool,
    /// How long a worker holds a job it claimed before another node may take it over, in ms.
    pub job_lease_ms: i64,
    /// How long one webhook attempt may take (connect, send, answer), in milliseconds.
    pub webhook_timeout_ms: u64,
    /// Attempts in flight per webhook endpoint, across all nodes.
    pub webhook_concurrency: i64,
    /// Networks webhooks must not be sent to (empty: none denied, for local development).
    pub webhook_deny_networks: Vec<ipnet::IpNet>,
    /// Seals channel secrets at rest (`PAYMUX_SECRETS_KEY`); without it channels cannot be
    /// configured.
    pub secrets_key: Option<crate::secrets::SecretsKey>,
    /// Serve the management console on the API's listener (it may have its own, or none).
    pub dashboard_on_api: bool,
    /// Serve `/metrics` on the API's listener (it may have its own).
    pub metrics_on_api: bool,
}

/// Checks `--public-url`: an absolute http(s) URL of a host, optionally with a path prefix, and
/// nothing a link could not be built on (credentials, query, fragment). Returns it without a
/// trailing slash, as links are built by appending `/path`.
pub fn parse_public_url(text: &str) -> Result<String, String> {
    let url = url::Url::parse(text).map_err(|e| format!("{text:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{text:?} must start with http:// or https://"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{text:?} names no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{text:?} must not carry credentials"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{text:?} must not have a query or fragment"));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            body_limit_bytes: 64 * 1024,
            body_read_timeout_ms: 30_000,
            signature_tolerance_secs: 300,
            test_refund_delay_ms: 1000,
            public_url: None,
            sign_responses: true,
            job_lease_ms: 30_000,
            webhook_timeout_ms: 5_000,
            webhook_concurrency: 8,
            webhook_deny_networks: Vec::new(),
            secrets_key: None,
            dashboard_on_api: true,
            metrics_on_api: true,
        }
    }
}

/// What tasks share behind one lock (caches, a request's notes to itself). A task that
/// panicked while holding it does not make it unusable: every change to what it guards is
/// complete once made, so the next holder finds it whole.
pub struct Shared<T>(Arc<Mutex<T>>);

impl<T> Shared<T> {
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T: Default> Default for Shared<T> {
    fn default() -> Self {
        Self(Arc::default())
    }
}

/// What every request and background worker shares. It is one allocation, so handing it on
/// (axum clones the state for every middleware and extractor of every request) costs one
/// counter update rather than one per part.
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

/// The parts of [`AppState`].
pub struct Services {
    pub db: Db,
    pub clock: SharedClock,
    pub settings: Arc<Settings>,
    /// Signs every API response and every webhook.
    pub platform_key: Arc<SigningKey>,
    /// Wakes the job worker when new work is written.
    pub jobs_wake: Arc<Notify>,
    /// Wakes the webhook dispatcher when events are written.
    pub webhooks_wake: Arc<Notify>,
    merchant_keys: Shared<HashMap<String, Arc<VerifyingKey>>>,
    /// Channel adapters built from the apps' configurations, reused until those change.
    pub(crate) adapters: crate::payments::providers::AdapterCache,
    /// Who each secret key belongs to, kept until the keys or their settings change.
    pub(crate) key_owners: crate::api::KeyOwners,
}

impl AppState {
    pub fn new(db: Db, clock: SharedClock, settings: Settings, platform_key: SigningKey) -> Self {
        Self(Arc::new(Services {
            db,
            clock,
            settings: Arc::new(settings),
            platform_key: Arc::new(platform_key),
            jobs_wake: Arc::new(Notify::new()),
            webhooks_wake: Arc::new(Notify::new()),
            merchant_keys: Shared::default(),
            adapters: Default::default(),
            key_owners: Default::default(),
        }))
    }

    /// Tells the background workers that a write may have left work for them (a job, a
    /// webhook delivery); each looks at once instead of at its next poll.
    pub fn wake_workers(&self) {
        self.jobs_wake.notify_one();
        self.webhooks_wake.notify_one();
    }

    /// Parses a merchant public key once per distinct PEM (verification happens per request).
    pub fn merchant_key(&self, pem: &str) -> Option<Arc<VerifyingKey>> {
        let mut cache = self.merchant_keys.lock();
        if let Some(key) = cache.get(pem) {
            return Some(key.clone());
        }
        let key = Arc::new(VerifyingKey::from_pem(pem).ok()?);
        if cache.len() > 1024 {
            cache.clear();
        }
        cache.insert(pem.to_owned(), key.clone());
        Some(key)
    }
}

#[cfg(test)]
mod tests {
    use super::parse_public_url;

    #[test]
    fn public_urls_are_absolute_http_urls_of_a_host() {
        assert_eq!(
            parse_public_url("https://pay.example.com/").as_deref(),
            Ok("https://pay.example.com")
        );
        assert_eq!(
            parse_public_url("http://10.0.0.5:8080/paymux").as_deref(),
            Ok("http://10.0.0.5:8080/paymux")
        );
        for bad in [
            "pay.example.com",
            "ftp://pay.example.com",
            "http://",
            "https://user:pw@pay.example.com",
            "https://pay.example.com/?a=1",
            "https://pay.example.com/#x",
        ] {
            assert!(parse_public_url(bad).is_err(), "{bad}");
        }
    }
}
