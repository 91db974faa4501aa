//! Starting the gateway as an operator does: errors that name what they are about, nothing
//! created by a start that fails, a private data directory, one server per SQLite directory,
//! and liveness and readiness routes that tell the truth.

use crate::helpers::{BIN, DATABASE_ENV, TestServer, cli};
use reqwest::StatusCode;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

/// `paymux serve ARGS` expected to fail at start: its stdout and stderr.
fn failed_serve(args: &[&str]) -> (String, String) {
    let output = Command::new(BIN)
        .arg("serve")
        .args(args)
        .output()
        .expect("run paymux serve");
    assert!(
        !output.status.success(),
        "serve {args:?} started: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test]
async fn a_taken_port_is_named_and_nothing_is_created() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = taken.local_addr().expect("addr").to_string();
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let (stdout, stderr) = failed_serve(&[
        "--listen",
        &address,
        "--data-dir",
        data.to_str().expect("utf8"),
    ]);
    assert!(
        stderr.contains(&format!("cannot listen on {address}")),
        "{stderr}"
    );
    assert!(!stdout.contains("secret key"), "printed keys: {stdout}");
    assert!(!data.exists(), "the data directory was created");
}

#[tokio::test]
async fn a_public_url_that_is_not_an_http_url_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    for bad in [
        "pay.example.com",
        "ftp://pay.example.com",
        "https://pay.example.com/?x=1",
    ] {
        let (_, stderr) = failed_serve(&[
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            dir.path().to_str().expect("utf8"),
            "--public-url",
            bad,
        ]);
        assert!(stderr.contains("--public-url"), "{bad}: {stderr}");
    }
    assert!(!dir.path().join("paymux.db").exists());
}

#[tokio::test]
async fn an_unreachable_postgresql_is_named_once_without_its_password() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("postgres://paymux:hunter2@127.0.0.1:{port}/paymux");
    let (_, stderr) = failed_serve(&[
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        dir.path().to_str().expect("utf8"),
        "--database-url",
        &url,
    ]);
    assert!(
        stderr.contains(&format!(
            "cannot connect to PostgreSQL at 127.0.0.1:{port}/paymux"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("refused"), "the cause: {stderr}");
    assert!(!stderr.contains("hunter2"), "the password leaked: {stderr}");
    assert_eq!(stderr.matches("refused").count(), 1, "said once: {stderr}");
    assert!(!stderr.contains(".rs:"), "driver source lines: {stderr}");
}

#[tokio::test]
async fn a_second_server_on_one_sqlite_directory_is_refused() {
    let server = TestServer::start_sqlite(&[]).await;
    let (_, stderr) = failed_serve(&[
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        server.dir.path().to_str().expect("utf8"),
    ]);
    assert!(stderr.contains("another paymux serve"), "{stderr}");
    // The first server is untouched, and the other commands still work beside it.
    assert_eq!(server.qr_charge(100).await["paid"], false);
    let mut args = vec!["init", "--json"];
    args.extend(server.storage_args());
    let (ok, _, stderr) = cli(&args);
    assert!(ok, "{stderr}");
}

#[tokio::test]
async fn the_data_directory_and_database_are_private_whatever_the_umask() {
    let server = TestServer::start_sqlite(&[]).await;
    server.qr_charge(100).await;
    let dir = server.dir.path();
    // The test harness made the directory; `init` and `serve` made the database files.
    for file in [
        "paymux.db",
        "paymux.db-wal",
        "paymux.db-shm",
        "credentials.json",
    ] {
        assert_eq!(mode(&dir.join(file)), 0o600, "{file}");
    }
    let parent = tempfile::tempdir().expect("dir");
    let fresh = parent.path().join("fresh");
    let (ok, _, stderr) = cli(&["init", "--data-dir", fresh.to_str().expect("utf8")]);
    assert!(ok, "{stderr}");
    assert_eq!(mode(&fresh), 0o700);
}

#[tokio::test]
async fn a_data_directory_readable_by_others_is_warned_about() {
    let server = TestServer::start_sqlite(&[]).await;
    std::fs::set_permissions(server.dir.path(), std::fs::Permissions::from_mode(0o755))
        .expect("chmod");
    let mut args = vec!["init", "--json"];
    args.extend(server.storage_args());
    let (ok, _, stderr) = cli(&args);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("chmod 700"), "{stderr}");
}

/// Runs `paymux ARGS` as the unprivileged user `nobody` (the suite runs as root, to whom every
/// file is writable); None where that is not possible.
fn as_nobody(args: &[&str]) -> Option<(bool, String)> {
    let is_root = Command::new("id").arg("-u").output().ok()?.stdout == b"0\n";
    if !is_root {
        return None;
    }
    let output = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN])
        .args(args)
        .output()
        .ok()?;
    Some((
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    ))
}

#[tokio::test]
async fn a_data_directory_or_database_the_process_cannot_write_is_refused_by_path() {
    let parent = tempfile::tempdir().expect("dir");
    std::fs::set_permissions(parent.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let dir = parent.path().join("data");
    let (ok, _, stderr) = cli(&["init", "--data-dir", dir.to_str().expect("utf8")]);
    assert!(ok, "{stderr}");
    let serve = |dir: &str| -> Option<(bool, String)> {
        as_nobody(&["serve", "--listen", "127.0.0.1:0", "--data-dir", dir])
    };
    // Owned by root, mode 0700: nobody can neither write nor enter it.
    let Some((ok, stderr)) = serve(dir.to_str().expect("utf8")) else {
        eprintln!("skipped: needs root and setpriv");
        return;
    };
    assert!(!ok);
    assert!(stderr.contains(dir.to_str().expect("utf8")), "{stderr}");

    // A directory nobody may write into, holding a database nobody may only read.
    let chown = |path: &Path| {
        let status = Command::new("chown")
            .args(["-R", "65534:65534", path.to_str().expect("utf8")])
            .status()
            .expect("chown");
        assert!(status.success());
    };
    chown(&dir);
    std::fs::set_permissions(
        dir.join("paymux.db"),
        std::fs::Permissions::from_mode(0o400),
    )
    .expect("chmod");
    let (ok, stderr) = serve(dir.to_str().expect("utf8")).expect("ran before");
    assert!(!ok);
    assert!(
        stderr.contains(&format!("{}", dir.join("paymux.db").display())),
        "{stderr}"
    );
}

#[tokio::test]
async fn readiness_fails_with_the_reason_when_the_store_cannot_be_written() {
    let server = TestServer::start().await;
    let ready = |server: &TestServer| {
        let url = format!("{}/readyz", server.base);
        async move {
            let response = reqwest::get(url).await.expect("readyz");
            let status = response.status();
            (
                status,
                response.json::<serde_json::Value>().await.expect("JSON"),
            )
        }
    };
    let (status, body) = ready(&server).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "ready");

    if let (Some(url), Ok(admin)) = (server.database_url(), std::env::var(DATABASE_ENV)) {
        let name = url.rsplit('/').next().expect("name").to_owned();
        let status = Command::new("psql")
            .args([
                &admin,
                "-qc",
                &format!("DROP DATABASE \"{name}\" WITH (FORCE)"),
            ])
            .status()
            .expect("psql");
        assert!(status.success());
        let (status, body) = ready(&server).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(
            body["reason"]
                .as_str()
                .expect("reason")
                .contains("PostgreSQL"),
            "{body}"
        );
    } else {
        // SQLite: the disk fills up under it (a small tmpfs, where mounting one is allowed).
        drop(server);
        sqlite_readiness_on_a_full_disk().await;
        return;
    }
    let health = reqwest::get(format!("{}/healthz", server.base))
        .await
        .expect("healthz");
    assert_eq!(health.status(), StatusCode::OK, "liveness stays up");
}

async fn sqlite_readiness_on_a_full_disk() {
    let mount = tempfile::tempdir().expect("dir");
    let point = mount.path().to_str().expect("utf8").to_owned();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=24m", "tmpfs", &point])
        .output()
        .is_ok_and(|o| o.status.success());
    if !mounted {
        eprintln!("skipped the full-disk part: cannot mount a tmpfs here");
        return;
    }
    struct Unmount(String);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").args(["-l", &self.0]).status();
        }
    }
    let _unmount = Unmount(point.clone());
    let data = mount.path().join("data");
    let creds = crate::helpers::init(&data);
    let storage = [
        "--data-dir".to_owned(),
        data.to_str().expect("utf8").to_owned(),
    ];
    let logs = tempfile::tempdir().expect("dir");
    let (mut child, base) = crate::helpers::spawn_serve(logs.path(), &storage, &[], None).await;
    let ready = || async {
        let response = reqwest::get(format!("{base}/readyz"))
            .await
            .expect("readyz");
        let status = response.status();
        (
            status,
            response.json::<serde_json::Value>().await.expect("JSON"),
        )
    };
    assert_eq!(ready().await.0, StatusCode::OK);
    // Fill the disk.
    let filler = mount.path().join("filler");
    let _ = Command::new("dd")
        .args(["if=/dev/zero", &format!("of={}", filler.display()), "bs=1M"])
        .output();
    let (status, body) = ready().await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        body["reason"].as_str().expect("reason").contains("full"),
        "{body}"
    );
    // Writes fail as retryable 503s, and the log says why, once.
    let http = reqwest::Client::new();
    let create = |order_no: String, amount: i64| {
        let request = http
            .post(format!("{base}/v1/charges"))
            .bearer_auth(&creds.test_secret_key)
            .json(&serde_json::json!({
                "order_no": order_no, "app": {"id": creds.app_id},
                "channel": "alipay_qr", "amount": amount, "client_ip": "127.0.0.1",
                "currency": "cny", "subject": "s", "body": "b", "extra": {},
            }));
        async move {
            let response = request.send().await.expect("send");
            let status = response.status();
            (
                status,
                response.json::<serde_json::Value>().await.expect("JSON"),
            )
        }
    };
    for n in 0..5 {
        let (status, body) = create(format!("full{n}"), 100).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    }
    let log = std::fs::read_to_string(logs.path().join("serve.log")).expect("log");
    assert_eq!(
        log.matches("database or disk is full").count(),
        1,
        "the cause, logged once: {log}"
    );
    // Creates arriving together share the failed commit: each hears it.
    let together = (0..40).map(|n| create(format!("together{n}"), 100));
    for (status, body) in futures_util::future::join_all(together).await {
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    }
    std::fs::remove_file(&filler).expect("rm");
    assert_eq!(ready().await.0, StatusCode::OK, "ready again");
    // Nothing of theirs was kept: the same order numbers take a different amount now.
    let again = (0..5)
        .map(|n| format!("full{n}"))
        .chain((0..40).map(|n| format!("together{n}")))
        .map(|order_no| create(order_no, 101));
    for (status, body) in futures_util::future::join_all(again).await {
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["amount"], 101);
    }
    let _ = child.kill().await;
}

#[tokio::test]
async fn settings_come_from_the_config_file_and_a_flag_beats_it() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("paymux.toml");
    std::fs::write(&file, "body_limit_bytes = 1000\nsign_responses = false\n").expect("write");
    let config = file.to_str().expect("utf8");

    // The file's settings apply.
    let server = TestServer::start_with(&["--config", config]).await;
    let mut body = server.charge_body("alipay_qr", serde_json::json!({}));
    body["description"] = serde_json::json!("x".repeat(1500));
    let (status, error) = server.post("/v1/charges", body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error.to_string().contains("1000"), "{error}");
    let list = format!("/v1/charges?app[id]={}", server.creds.app_id);
    let response = server
        .request(reqwest::Method::GET, &list)
        .send()
        .await
        .expect("healthz");
    assert!(
        response.headers().get("x-pingplusplus-signature").is_none(),
        "sign_responses = false from the file"
    );

    // A flag beats the file.
    let server = TestServer::start_with(&["--config", config, "--body-limit-bytes", "4000"]).await;
    let mut body = server.charge_body("alipay_qr", serde_json::json!({}));
    body["description"] = serde_json::json!("x".repeat(200));
    let (status, charge) = server.post("/v1/charges", body).await;
    assert_eq!(status, StatusCode::OK, "{charge}");

    // A misspelled key is refused, naming it; nothing is created.
    std::fs::write(&file, "body_limit_byte = 1000\n").expect("write");
    let data = dir.path().join("data");
    let (_, stderr) = failed_serve(&[
        "--config",
        config,
        "--data-dir",
        data.to_str().expect("utf8"),
        "--listen",
        "127.0.0.1:0",
    ]);
    assert!(stderr.contains("body_limit_byte"), "{stderr}");
    assert!(!data.exists());
}

type Stdout = tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>;

/// `paymux serve` on a fresh data directory with `extra`: the lines it printed up to and
/// including the first that starts with `last` (after indentation), the process, and the rest
/// of its output.
async fn spawn_until(
    dir: &Path,
    extra: &[&str],
    last: &str,
) -> (Vec<String>, tokio::process::Child, Stdout) {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let mut printed = Vec::new();
    let reading = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.expect("line") {
            let done = line.trim_start().starts_with(last);
            printed.push(line);
            if done {
                return;
            }
        }
        panic!("serve exited before printing {last:?}: {printed:?}");
    });
    reading.await.expect("serve prints it");
    (printed, child, lines)
}

/// `paymux serve` on a fresh data directory with `extra`: the lines it printed up to where it
/// listens and at once after that, and the process.
async fn serve_printing(dir: &Path, extra: &[&str]) -> (Vec<String>, tokio::process::Child) {
    let (mut printed, child, mut lines) = spawn_until(dir, extra, "paymux listening on ").await;
    let pause = std::time::Duration::from_millis(500);
    while let Ok(Ok(Some(line))) = tokio::time::timeout(pause, lines.next_line()).await {
        printed.push(line);
    }
    (printed, child)
}

fn address_after(lines: &[String], prefix: &str) -> Option<String> {
    lines.iter().find_map(|l| {
        l.trim_start()
            .strip_prefix(prefix)
            .map(|rest| rest.trim_end_matches("/dashboard/").to_owned())
    })
}

#[tokio::test]
async fn the_console_is_served_with_the_api_on_its_own_address_or_not_at_all() {
    let http = reqwest::Client::new();
    // By default, on the API's address; the first start says how to create an operator.
    let dir = tempfile::tempdir().expect("dir");
    let (lines, _server) = serve_printing(dir.path(), &[]).await;
    let api = address_after(&lines, "paymux listening on ").expect("api address");
    let console = address_after(&lines, "management console: ").expect("console address");
    assert_eq!(api, console, "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("paymux operators add admin --role admin --password-stdin")),
        "{lines:?}"
    );
    let page = http
        .get(format!("{api}/dashboard/login"))
        .send()
        .await
        .expect("get");
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.headers()["content-security-policy"]
            .to_str()
            .expect("csp")
            .contains("frame-ancestors 'none'")
    );

    // On an address of its own: not on the API's, and the API is not on its.
    let dir = tempfile::tempdir().expect("dir");
    let (lines, _server) = serve_printing(dir.path(), &["--dashboard-listen", "127.0.0.1:0"]).await;
    let api = address_after(&lines, "paymux listening on ").expect("api address");
    let console = address_after(&lines, "management console: ").expect("console address");
    assert_ne!(api, console, "{lines:?}");
    let status = |url: String| {
        let http = http.clone();
        async move { http.get(url).send().await.expect("get").status() }
    };
    assert_eq!(
        status(format!("{console}/dashboard/login")).await,
        StatusCode::OK
    );
    assert_eq!(
        status(format!("{api}/dashboard/login")).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        status(format!("{console}/v1/charges")).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(status(format!("{api}/healthz")).await, StatusCode::OK);

    // Turned off.
    let dir = tempfile::tempdir().expect("dir");
    let (lines, _server) = serve_printing(dir.path(), &["--dashboard", "false"]).await;
    let api = address_after(&lines, "paymux listening on ").expect("api address");
    assert!(
        address_after(&lines, "management console: ").is_none(),
        "{lines:?}"
    );
    assert_eq!(
        status(format!("{api}/dashboard/login")).await,
        StatusCode::NOT_FOUND
    );
}

/// As [`spawn_until`], its later output drained so the server never blocks on a full pipe.
async fn serve_until(
    dir: &Path,
    extra: &[&str],
    last: &str,
) -> (Vec<String>, tokio::process::Child) {
    let (printed, child, mut lines) = spawn_until(dir, extra, last).await;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (printed, child)
}

#[tokio::test]
async fn metrics_on_their_own_address_are_no_longer_on_the_apis() {
    let http = reqwest::Client::new();
    let dir = tempfile::tempdir().expect("dir");
    let (lines, _server) = serve_until(
        dir.path(),
        &["--metrics-listen", "127.0.0.1:0"],
        "metrics: ",
    )
    .await;
    let api = address_after(&lines, "paymux listening on ").expect("api address");
    let metrics = lines
        .iter()
        .find_map(|l| l.trim_start().strip_prefix("metrics: "))
        .expect("metrics URL")
        .to_owned();
    assert!(metrics.ends_with("/metrics"), "{lines:?}");
    assert!(!metrics.starts_with(&api), "{lines:?}");
    // The first start printed the app's keys: a charge on the API, to see it scraped.
    let key = lines
        .iter()
        .find_map(|l| l.trim_start().strip_prefix("test secret key: "))
        .expect("test key");
    let app = lines
        .iter()
        .find_map(|l| l.split(" with app ").nth(1))
        .expect("app id");
    let charge = http
        .post(format!("{api}/v1/charges"))
        .bearer_auth(key)
        .json(&serde_json::json!({
            "order_no": "metrics1", "app": {"id": app}, "channel": "alipay_qr",
            "amount": 100, "client_ip": "127.0.0.1", "currency": "cny",
            "subject": "s", "body": "b", "extra": {},
        }))
        .send()
        .await
        .expect("charge");
    assert_eq!(charge.status(), StatusCode::OK);

    let scrape = http.get(&metrics).send().await.expect("scrape");
    assert_eq!(scrape.status(), StatusCode::OK);
    let kind = scrape.headers()["content-type"]
        .to_str()
        .expect("type")
        .to_owned();
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    let text = scrape.text().await.expect("text");
    assert!(text.contains("# TYPE paymux_ready gauge"), "{text}");
    assert!(text.lines().any(|l| l == "paymux_ready 1"), "{text}");
    assert!(
        text.lines()
            .any(|l| l == r#"paymux_charges_created_total{channel="alipay_qr",mode="test"} 1"#),
        "the API's process, counted here: {text}"
    );

    // Only /metrics there; and no /metrics on the API's address any more.
    let status = |url: String| {
        let http = http.clone();
        async move { http.get(url).send().await.expect("get").status() }
    };
    let metrics_base = metrics.trim_end_matches("/metrics").to_owned();
    assert_eq!(
        status(format!("{metrics_base}/healthz")).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        status(format!("{metrics_base}/v1/charges")).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        status(format!("{api}/metrics")).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(status(format!("{api}/healthz")).await, StatusCode::OK);
}

#[tokio::test]
async fn version_names_the_commit_and_json_logs_are_one_object_a_line() {
    let (ok, out, _) = cli(&["--version"]);
    assert!(ok);
    let version = out.trim();
    assert!(
        version.starts_with(&format!("paymux {} (", env!("CARGO_PKG_VERSION")))
            && version.ends_with(')'),
        "{version}"
    );

    let server = TestServer::start_full(&["--log-format", "json"], Some("info")).await;
    let (status, _) = server.get("/v1/charges?app[id]=nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let log = server.log();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let start = lines
        .iter()
        .find(|l| l["fields"]["message"] == "starting")
        .expect("a start line");
    assert!(
        start["fields"]["version"]
            .as_str()
            .is_some_and(|v| v.contains('(')),
        "{start}"
    );
    let request = lines
        .iter()
        .find(|l| l["fields"]["message"] == "request" && l["fields"]["route"] == "/v1/charges")
        .unwrap_or_else(|| panic!("a request line: {log}"));
    assert_eq!(request["fields"]["status"], 404);
    assert!(
        request["span"]["request_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("iar_")),
        "{request}"
    );
    assert!(
        request["timestamp"].is_string() && request["level"] == "INFO",
        "{request}"
    );
}
