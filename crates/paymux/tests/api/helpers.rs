use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub const BIN: &str = env!("CARGO_BIN_EXE_paymux");

#[derive(Debug, Clone, serde::Deserialize)]
pub struct Credentials {
    pub account: String,
    pub app_id: String,
    pub test_secret_key: String,
    pub live_secret_key: String,
    pub platform_public_key_pem: String,
}

pub struct TestServer {
    child: Child,
    pub base: String,
    pub creds: Credentials,
    pub dir: TempDir,
    pub http: reqwest::Client,
}

/// Runs a paymux subcommand to completion; returns (success, stdout, stderr).
pub fn cli(args: &[&str]) -> (bool, String, String) {
    let output = std::process::Command::new(BIN)
        .args(args)
        .output()
        .expect("run paymux");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

pub fn init(dir: &Path) -> Credentials {
    let (ok, stdout, stderr) = cli(&["init", "--data-dir", dir.to_str().expect("utf8"), "--json"]);
    assert!(ok, "init failed: {stderr}");
    let creds: Credentials = serde_json::from_str(&stdout).expect("init prints JSON");
    assert!(creds.account.starts_with("acct_") && creds.app_id.starts_with("app_"));
    creds
}

/// Starts `paymux serve` and waits for its "listening" line. Its logs (stderr) go to
/// `DIR/serve.log` at the level `PAYMUX_TEST_LOG` names (default `warn`).
pub async fn spawn_serve(dir: &Path, extra: &[&str]) -> (Child, String) {
    spawn_serve_logging(dir, extra, None).await
}

/// As `spawn_serve`, with the log level given.
pub async fn spawn_serve_logging(
    dir: &Path,
    extra: &[&str],
    level: Option<&str>,
) -> (Child, String) {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("serve.log"))
        .expect("log file");
    let level = level
        .map(str::to_owned)
        .or_else(|| std::env::var("PAYMUX_TEST_LOG").ok())
        .unwrap_or_else(|| "warn".into());
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--data-dir",
            dir.to_str().expect("utf8"),
            "--listen",
            "127.0.0.1:0",
        ])
        .args(["--test-refund-delay-ms", "50"])
        .args(extra)
        .env("RUST_LOG", level)
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .kill_on_drop(true)
        .spawn()
        .expect("spawn paymux serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let base = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.expect("read stdout") {
            if let Some(url) = line.strip_prefix("paymux listening on ") {
                return url.to_owned();
            }
        }
        panic!("paymux serve exited before listening");
    })
    .await
    .expect("server did not start within 30 s");
    // Keep draining stdout so the server never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, base)
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    pub async fn start_with(extra: &[&str]) -> Self {
        Self::start_full(extra, None).await
    }

    pub async fn start_full(extra: &[&str], log_level: Option<&str>) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let creds = init(dir.path());
        let (child, base) = spawn_serve_logging(dir.path(), extra, log_level).await;
        Self {
            child,
            base,
            creds,
            dir,
            http: reqwest::Client::new(),
        }
    }

    /// What the server has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("serve.log")).unwrap_or_default()
    }

    pub fn data_dir(&self) -> &str {
        self.dir.path().to_str().expect("utf8")
    }

    /// Kills the server without warning (SIGKILL) and starts it again on the same data.
    pub async fn crash_and_restart(&mut self) {
        self.child.kill().await.expect("kill -9");
        let (child, base) = spawn_serve(self.dir.path(), &[]).await;
        self.child = child;
        self.base = base;
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.creds.test_secret_key)
    }

    pub async fn send(builder: RequestBuilder) -> (StatusCode, Value) {
        let response = builder.send().await.expect("request");
        let status = response.status();
        let text = response.text().await.expect("body");
        let value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("response is not JSON: {status} {text}"));
        (status, value)
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        Self::send(self.request(Method::POST, path).json(&body)).await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        Self::send(self.request(Method::GET, path)).await
    }

    pub fn charge_body(&self, channel: &str, extra: Value) -> Value {
        json!({
            "order_no": order_no(),
            "app": {"id": self.creds.app_id},
            "channel": channel,
            "amount": 1000,
            "client_ip": "127.0.0.1",
            "currency": "cny",
            "subject": "Your Subject",
            "body": "Your Body",
            "extra": extra,
        })
    }

    /// A created, unpaid alipay_qr charge of `amount` fen.
    pub async fn qr_charge(&self, amount: i64) -> Value {
        let mut body = self.charge_body("alipay_qr", json!({}));
        body["amount"] = json!(amount);
        let (status, charge) = self.post("/v1/charges", body).await;
        assert_eq!(status, StatusCode::OK, "{charge}");
        charge
    }

    pub async fn paid_charge(&self, amount: i64) -> Value {
        let charge = self.qr_charge(amount).await;
        self.pay(charge["id"].as_str().expect("id")).await
    }

    pub async fn pay(&self, charge_id: &str) -> Value {
        let (status, charge) = self
            .post(
                &format!("/v1/test_helpers/charges/{charge_id}/pay"),
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{charge}");
        charge
    }

    /// Polls until `path` returns an object whose `field` equals `value` (refunds complete
    /// after the server's 50 ms test delay).
    pub async fn wait_for(&self, path: &str, field: &str, value: Value) -> Value {
        for _ in 0..100 {
            let (status, object) = self.get(path).await;
            assert_eq!(status, StatusCode::OK, "{object}");
            if object[field] == value {
                return object;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{path}: {field} never became {value}");
    }

    /// The newest events, optionally of one type.
    pub async fn events(&self, kind: Option<&str>) -> Vec<Value> {
        let path = match kind {
            Some(kind) => format!("/v1/events?limit=100&type={kind}"),
            None => "/v1/events?limit=100".to_owned(),
        };
        let (status, list) = self.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        list["data"].as_array().expect("data").clone()
    }

    pub async fn charge_count(&self) -> usize {
        let path = format!("/v1/charges?app[id]={}&limit=100", self.creds.app_id);
        let (_, list) = self.get(&path).await;
        list["data"].as_array().expect("data").len()
    }
}

pub fn order_no() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{}{:06}", std::process::id(), n)
}

/// Asserts a Ping++ error body: `{"error":{"type","message",…}}` with no null fields.
pub fn assert_error(body: &Value, kind: &str) -> String {
    let error = body["error"]
        .as_object()
        .unwrap_or_else(|| panic!("no error object: {body}"));
    assert_eq!(error["type"], kind, "{body}");
    for field in ["code", "param"] {
        if let Some(value) = error.get(field) {
            assert!(
                value.is_string(),
                "{field} must be a string or absent: {body}"
            );
        }
    }
    error["message"].as_str().expect("message").to_owned()
}
