//! Provider configuration: checked when set, secrets sealed at rest and never shown again.

use crate::helpers::{TestServer, assert_error, cli};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::Row;

const API_KEY: &str = "192006250b4c09247ec02edce69f6a2d";

fn wechat() -> Value {
    json!({"appid": "wx2421b1c4370ec43b", "mch_id": "10000100", "api_key": API_KEY})
}

/// A secrets key in a file of its own, and the flag that names it.
fn key_file(dir: &tempfile::TempDir, byte: u8) -> String {
    use base64::Engine;
    let path = dir.path().join(format!("secrets-{byte}.key"));
    std::fs::write(
        &path,
        base64::engine::general_purpose::STANDARD.encode([byte; 32]),
    )
    .expect("write key");
    path.to_str().expect("utf8").to_owned()
}

async fn live(
    server: &TestServer,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = server
        .http
        .request(method, format!("{}{path}", server.base))
        .bearer_auth(&server.creds.live_secret_key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    TestServer::send(request).await
}

#[tokio::test]
async fn without_a_secrets_key_nothing_can_be_configured() {
    let server = TestServer::start().await;
    let path = format!("/v1/apps/{}/channels/wechat", server.creds.app_id);
    let (status, error) = live(&server, Method::POST, &path, Some(wechat())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_error(&error, "invalid_request_error");
    assert_eq!(error["error"]["code"], "secrets_key_missing");
    assert!(
        error["error"]["message"]
            .as_str()
            .expect("message")
            .contains("PAYMUX_SECRETS_KEY")
    );
}

#[tokio::test]
async fn a_provider_is_configured_checked_and_its_secrets_sealed() {
    let keys = tempfile::tempdir().expect("dir");
    let key = key_file(&keys, 7);
    let server = TestServer::start_with(&["--secrets-key-file", &key]).await;
    let app = server.creds.app_id.clone();
    let path = format!("/v1/apps/{app}/channels/wechat");

    for (body, param) in [
        (json!({"appid": "wx1", "mch_id": "1"}), "api_key"),
        (
            json!({"appid": "wx1", "mch_id": "1", "api_key": "too-short"}),
            "api_key",
        ),
        (
            json!({"appid": "wx1", "mch_id": "1", "api_key": API_KEY, "sign_type": "SHA1"}),
            "sign_type",
        ),
        (
            json!({"appid": "wx1", "mch_id": "1", "api_key": API_KEY, "gateway_url": "ftp://x"}),
            "gateway_url",
        ),
        (
            json!({"appid": "wx1", "mch_id": "1", "api_key": API_KEY, "colour": "red"}),
            "colour",
        ),
    ] {
        let (status, error) = live(&server, Method::POST, &path, Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {error}");
        assert_eq!(error["error"]["param"], param, "{body}");
        assert!(
            !error.to_string().contains("too-short"),
            "values are not echoed"
        );
    }
    let (status, _) = live(
        &server,
        Method::POST,
        &format!("/v1/apps/{app}/channels/paypal"),
        Some(wechat()),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = live(
        &server,
        Method::POST,
        "/v1/apps/app_nope/channels/wechat",
        Some(wechat()),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, config) = live(&server, Method::POST, &path, Some(wechat())).await;
    assert_eq!(status, StatusCode::OK, "{config}");
    assert_eq!(config["provider"], "wechat");
    assert_eq!(config["livemode"], true);
    assert_eq!(config["settings"]["mch_id"], "10000100");
    assert_eq!(config["settings"]["sign_type"], "MD5");
    assert_eq!(
        config["settings"]["gateway_url"],
        "https://api.mch.weixin.qq.com"
    );
    assert_eq!(config["secrets_set"], json!(["api_key"]));
    assert!(!config.to_string().contains(API_KEY));
    let (_, fetched) = live(&server, Method::GET, &path, None).await;
    assert_eq!(fetched, config);
    let (_, test_mode) = server.get(&format!("/v1/apps/{app}/channels")).await;
    assert_eq!(
        test_mode["data"],
        json!([]),
        "test mode has its own configuration"
    );

    // At rest: sealed, not readable in the database.
    let db = server.open_db().await;
    let mut conn = db.reader().acquire().await.expect("conn");
    let row = sqlx::query("SELECT settings, secrets FROM channel_configs")
        .fetch_one(&mut *conn)
        .await
        .expect("row");
    let sealed: String = row.try_get("secrets").expect("secrets");
    assert!(sealed.starts_with("v1:") && !sealed.contains(API_KEY));
    drop(conn);

    // The CLI reads it with the same key and refuses another one.
    let mut args = vec![
        "channels",
        "list",
        app.as_str(),
        "--secrets-key-file",
        key.as_str(),
    ];
    args.extend(server.storage_args());
    let (ok, stdout, stderr) = cli(&args);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("\"mch_id\":\"10000100\"") && !stdout.contains(API_KEY),
        "{stdout}"
    );
    let other = key_file(&keys, 8);
    let mut args = vec![
        "channels",
        "list",
        app.as_str(),
        "--secrets-key-file",
        other.as_str(),
    ];
    args.extend(server.storage_args());
    let (ok, _, stderr) = cli(&args);
    assert!(!ok && stderr.contains("another secrets key"), "{stderr}");

    let (status, deleted) = live(&server, Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    let (status, _) = live(&server, Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn paymux_simulate_wechat_serves_the_channel_protocol() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut child = tokio::process::Command::new(crate::helpers::BIN)
        .args(["simulate", "wechat", "--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let line = BufReader::new(stdout)
        .lines()
        .next_line()
        .await
        .expect("read")
        .expect("a line");
    let base = line
        .strip_prefix("paymux simulate wechat listening on ")
        .expect("listening line")
        .to_owned();
    // An unsigned order query is refused the way WeChat refuses it.
    let answer = reqwest::Client::new()
        .post(format!("{base}/pay/orderquery"))
        .body("<xml><appid>wx2421b1c4370ec43b</appid><mch_id>10000100</mch_id><out_trade_no>1</out_trade_no><nonce_str>n</nonce_str></xml>")
        .send()
        .await
        .expect("post")
        .text()
        .await
        .expect("text");
    assert!(
        answer.contains("<return_code><![CDATA[FAIL]]></return_code>"),
        "{answer}"
    );
    assert!(answer.contains("签名错误"), "{answer}");
}

#[tokio::test]
async fn verified_channel_notifications_are_kept_and_the_cli_lists_them() {
    use paymux_channels::wechat_v2::{SignType, add_sign, to_xml};
    let keys = tempfile::tempdir().expect("dir");
    let key = key_file(&keys, 7);
    let server = TestServer::start_with(&["--secrets-key-file", &key]).await;
    let app = server.creds.app_id.clone();
    let (status, _) = live(
        &server,
        Method::POST,
        &format!("/v1/apps/{app}/channels/wechat"),
        Some(wechat()),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let note = |order_no: &str, key: &str| {
        let mut params = paymux_channels::Params::new()
            .with("return_code", "SUCCESS")
            .with("result_code", "SUCCESS")
            .with("appid", "wx2421b1c4370ec43b")
            .with("mch_id", "10000100")
            .with("out_trade_no", order_no)
            .with("transaction_id", "4200000000000000000000000001")
            .with("total_fee", "100")
            .with("time_end", "20270101000000")
            .with("nonce_str", "n1");
        add_sign(&mut params, SignType::Md5, key);
        to_xml(&params).expect("xml")
    };
    let post = |body: String| {
        server
            .http
            .post(format!("{}/notify/wechat/{app}/live", server.base))
            .body(body)
            .send()
    };
    // Genuine (WeChat's signature), though about no order of ours: kept, and refused.
    let answer = post(note("NOTE0001", API_KEY))
        .await
        .expect("post")
        .text()
        .await
        .expect("text");
    assert!(answer.contains("FAIL"), "{answer}");
    // Forged: refused and not kept.
    post(note("NOTE0002", "00000000000000000000000000000000"))
        .await
        .expect("post");

    let list = |reference: &str| {
        let mut args = vec!["channels", "notifications", app.as_str(), "--reference"];
        args.push(reference);
        args.extend(server.storage_args());
        cli(&args)
    };
    let (ok, stdout, stderr) = list("NOTE0001");
    assert!(ok, "{stderr}");
    let kept: Vec<Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("json"))
        .collect();
    assert_eq!(kept.len(), 1, "{stdout}");
    assert_eq!(kept[0]["provider"], "wechat");
    assert_eq!(kept[0]["reference"], "NOTE0001");
    assert_eq!(kept[0]["body"], note("NOTE0001", API_KEY), "as received");
    let (ok, stdout, stderr) = list("NOTE0002");
    assert!(ok && stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("no channel notifications"), "{stderr}");
}

#[tokio::test]
async fn a_gateway_url_into_a_denied_network_is_refused() {
    let keys = tempfile::tempdir().expect("dir");
    let key = key_file(&keys, 7);
    let server = TestServer::start_with(&[
        "--secrets-key-file",
        &key,
        "--webhook-deny-networks",
        "private,169.254.0.0/16",
    ])
    .await;
    let path = format!("/v1/apps/{}/channels/wechat", server.creds.app_id);
    for gateway in [
        "http://169.254.169.254/",
        "http://[::ffff:a9fe:a9fe]/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://localhost:8/",
    ] {
        let mut body = wechat();
        body["gateway_url"] = json!(gateway);
        let (status, error) = server.post(&path, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{gateway}: {error}");
        assert_eq!(error["error"]["param"], "gateway_url", "{error}");
    }
    let (status, _) = server.get(&path).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing configured");
}

#[tokio::test]
async fn a_gateway_configured_before_the_deny_list_is_not_called() {
    let keys = tempfile::tempdir().expect("dir");
    let key = key_file(&keys, 7);
    let mut server = TestServer::start_with(&["--secrets-key-file", &key]).await;
    let path = format!("/v1/apps/{}/channels/wechat", server.creds.app_id);
    let mut config = wechat();
    config["gateway_url"] = json!("http://127.0.0.1:9/");
    let (status, body) = live(&server, Method::POST, &path, Some(config)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    server
        .restart_with(&[
            "--secrets-key-file",
            &key,
            "--webhook-deny-networks",
            "private",
        ])
        .await;
    let mut charge = server.charge_body("wx_pub_qr", json!({"product_id": "p1"}));
    charge["app"] = json!({"id": server.creds.app_id});
    let (status, error) = live(&server, Method::POST, "/v1/charges", Some(charge)).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{error}");
    let message = assert_error(&error, "channel_error");
    assert!(message.contains("does not call"), "{message}");
}

#[tokio::test]
async fn a_simulated_charge_stays_simulated_when_its_app_configures_a_channel_later() {
    let keys = tempfile::tempdir().expect("dir");
    let key = key_file(&keys, 7);
    let server = TestServer::start_with(&["--secrets-key-file", &key]).await;
    let mut body = server.charge_body("wx_pub_qr", json!({"product_id": "p1"}));
    body["amount"] = json!(1000);
    let (status, charge) = server.post("/v1/charges", body).await;
    assert_eq!(status, StatusCode::OK, "{charge}");
    let id = charge["id"].as_str().expect("id");
    server.pay(id).await;
    let refunds = format!("/v1/charges/{id}/refunds");
    let (status, first) = server
        .post(&refunds, json!({"amount": 300, "description": "first"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");

    // Test mode is now routed to a WeChat the old charge never went through.
    let mut config = wechat();
    config["gateway_url"] = json!("http://127.0.0.1:9/");
    let path = format!("/v1/apps/{}/channels/wechat", server.creds.app_id);
    let (status, body) = server.post(&path, config).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, second) = server
        .post(&refunds, json!({"amount": 200, "description": "second"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let second_id = second["id"].as_str().expect("id");
    let done = server
        .wait_for(
            &format!("{refunds}/{second_id}"),
            "status",
            json!("succeeded"),
        )
        .await;
    assert_eq!(done["amount"], 200);
    // A new test charge follows the new configuration: to WeChat, unreachable here.
    let (status, _) = server
        .post(
            "/v1/charges",
            server.charge_body("wx_pub_qr", json!({"product_id": "p1"})),
        )
        .await;
    assert_ne!(
        status,
        StatusCode::OK,
        "new charges follow the new configuration"
    );
}
