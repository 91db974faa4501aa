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

pub use paymux_server::bootstrap::Credentials;
use paymux_server::store::scratch::ScratchDatabase;

pub struct TestServer {
    child: Child,
    pub base: String,
    pub creds: Credentials,
    pub dir: TempDir,
    pub http: reqwest::Client,
    /// `--data-dir DIR`, plus `--database-url URL` when the tests run on PostgreSQL.
    storage: Vec<String>,
    database: Option<ScratchDatabase>,
    /// The extra `serve` flags it was started with (kept across restarts).
    extra: Vec<String>,
}

/// When set (e.g. `postgres://postgres@127.0.0.1:5432/test`), every test server gets a fresh
/// PostgreSQL database of its own instead of SQLite.
pub const DATABASE_ENV: &str = "PAYMUX_TEST_DATABASE_URL";

/// A fresh database next to the one `admin_url` names, dropped with the returned guard.
pub async fn create_database(admin_url: &str) -> ScratchDatabase {
    ScratchDatabase::create(admin_url, "paymux_t")
        .await
        .unwrap_or_else(|e| panic!("{DATABASE_ENV}={admin_url}: {e:#}"))
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
    init_with(&["--data-dir", dir.to_str().expect("utf8")])
}

pub fn init_with(storage: &[&str]) -> Credentials {
    let args: Vec<&str> = ["init", "--json"]
        .into_iter()
        .chain(storage.iter().copied())
        .collect();
    let (ok, stdout, stderr) = cli(&args);
    assert!(ok, "init failed: {stderr}");
    let creds: Credentials = serde_json::from_str(&stdout).expect("init prints JSON");
    assert!(creds.account.starts_with("acct_") && creds.app_id.starts_with("app_"));
    creds
}

/// Starts `paymux serve` on `storage` and waits for its "listening" line.
/// (Used directly by tests that move a data directory between engines.) Its logs (stderr) go
/// to `DIR/serve.log` at `level`, else the level `PAYMUX_TEST_LOG` names (default `warn`).
pub async fn spawn_serve(
    dir: &Path,
    storage: &[String],
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
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(storage)
        .args(if extra.contains(&"--test-refund-delay-ms") {
            &[][..]
        } else {
            &["--test-refund-delay-ms", "50"][..]
        })
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
        Self::start_on(std::env::var(DATABASE_ENV).is_ok(), extra, log_level).await
    }

    /// A server on SQLite whatever the environment says.
    pub async fn start_sqlite(extra: &[&str]) -> Self {
        Self::start_on(false, extra, None).await
    }

    async fn start_on(postgres: bool, extra: &[&str], log_level: Option<&str>) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut storage = vec![
            "--data-dir".to_owned(),
            dir.path().to_str().expect("utf8").to_owned(),
        ];
        let mut database = None;
        if let (true, Ok(admin_url)) = (postgres, std::env::var(DATABASE_ENV)) {
            let scratch = create_database(&admin_url).await;
            storage.extend(["--database-url".to_owned(), scratch.url.clone()]);
            database = Some(scratch);
        }
        let args: Vec<&str> = storage.iter().map(String::as_str).collect();
        let creds = init_with(&args);
        let (child, base) = spawn_serve(dir.path(), &storage, extra, log_level).await;
        Self {
            child,
            base,
            creds,
            dir,
            http: reqwest::Client::new(),
            storage,
            database,
            extra: extra.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    /// This server's PostgreSQL URL, if it runs on PostgreSQL.
    pub fn database_url(&self) -> Option<&str> {
        let i = self.storage.iter().position(|a| a == "--database-url")?;
        Some(&self.storage[i + 1])
    }

    /// Whether this server runs on PostgreSQL (`PAYMUX_TEST_DATABASE_URL`).
    pub fn on_postgres(&self) -> bool {
        self.database.is_some()
    }

    /// Starts another `paymux serve` process on this server's database: a second node, with a
    /// data directory of its own (as on another machine: no `credentials.json`).
    pub async fn spawn_node(&self, extra: &[&str]) -> Node {
        self.spawn_node_at(self.database_url().expect("PostgreSQL"), extra)
            .await
    }

    /// As `spawn_node`, reaching the database at `database_url` (e.g. through a proxy).
    pub async fn spawn_node_at(&self, database_url: &str, extra: &[&str]) -> Node {
        let log_dir = tempfile::tempdir().expect("tempdir");
        let storage = vec![
            "--data-dir".to_owned(),
            log_dir.path().to_str().expect("utf8").to_owned(),
            "--database-url".to_owned(),
            database_url.to_owned(),
        ];
        let (child, base) = spawn_serve(log_dir.path(), &storage, extra, None).await;
        Node {
            child,
            base,
            _log_dir: log_dir,
        }
    }

    /// A request to `base` (this server or another node) with this server's test key.
    pub fn request_to(&self, base: &str, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{base}{path}"))
            .bearer_auth(&self.creds.test_secret_key)
    }

    /// The storage flags of this server, for running other subcommands against its data.
    pub fn storage_args(&self) -> Vec<&str> {
        self.storage.iter().map(String::as_str).collect()
    }

    /// This server's database, opened in-process (to set up what the API cannot).
    pub async fn open_db(&self) -> paymux_server::store::Db {
        use paymux_server::store::Db;
        match self.storage.iter().position(|a| a == "--database-url") {
            Some(i) => Db::open_postgres(&self.storage[i + 1], 2, 10_000)
                .await
                .expect("open"),
            None => Db::open_sqlite(self.dir.path()).await.expect("open"),
        }
    }

    /// The server process's id.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    /// Sends SIGTERM and waits up to `within` for the process to exit; whether it did.
    pub async fn terminate(&mut self, within: Duration) -> bool {
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("kill");
        assert!(sent.success());
        tokio::time::timeout(within, self.child.wait())
            .await
            .is_ok()
    }

    /// What the server has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("serve.log")).unwrap_or_default()
    }

    /// Stops the server and starts it again on the same data with other `serve` flags.
    pub async fn restart_with(&mut self, extra: &[&str]) {
        self.extra = extra.iter().map(|s| (*s).to_owned()).collect();
        self.crash_and_restart().await;
    }

    /// Kills the server without warning (SIGKILL) and starts it again on the same data.
    pub async fn crash_and_restart(&mut self) {
        self.child.kill().await.expect("kill -9");
        let extra: Vec<&str> = self.extra.iter().map(String::as_str).collect();
        let (child, base) = spawn_serve(self.dir.path(), &self.storage, &extra, None).await;
        self.child = child;
        self.base = base;
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.creds.test_secret_key)
    }

    /// Sends a request and reads its JSON answer, which is checked against the server's OpenAPI
    /// document (`conformance.rs`).
    pub async fn send(builder: RequestBuilder) -> (StatusCode, Value) {
        let (client, request) = builder.build_split();
        let request = request.expect("request");
        let (method, url) = (request.method().clone(), request.url().clone());
        let sent: Option<Value> = request
            .body()
            .and_then(|b| b.as_bytes())
            .and_then(|b| serde_json::from_slice(b).ok());
        let response = client.execute(request).await.expect("request");
        let status = response.status();
        let text = response.text().await.expect("body");
        let value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("response is not JSON: {status} {text}"));
        crate::conformance::check(crate::conformance::Exchange {
            client: &client,
            base: url[..url::Position::BeforePath].to_owned(),
            method,
            path: url.path().to_owned(),
            request: sent,
            status,
            response: &value,
        })
        .await;
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

/// Another server process on the same database.
pub struct Node {
    pub child: Child,
    pub base: String,
    _log_dir: TempDir,
}

impl Node {
    /// What this node has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self._log_dir.path().join("serve.log")).unwrap_or_default()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // Before the database guard (a field) drops the database.
        let _ = self.child.start_kill();
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
