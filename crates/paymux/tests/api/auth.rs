use crate::helpers::{TestServer, assert_error, cli};
use base64::Engine;
use paymux_crypto::SigningKey;
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::time::{SystemTime, UNIX_EPOCH};

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("time")
        .as_secs() as i64
}

#[tokio::test]
async fn bearer_and_basic_keys_work_and_bad_keys_get_401() {
    let server = TestServer::start().await;
    let path = format!("/v1/charges?app[id]={}", server.creds.app_id);
    let basic = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:", server.creds.test_secret_key));
    let (status, _) = TestServer::send(
        server
            .http
            .get(format!("{}{path}", server.base))
            .header("authorization", format!("Basic {basic}")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "Node and Go use Basic");

    for header in [
        "Bearer sk_test_wrongwrongwrongwrongwrong",
        "Bearer ",
        "Token abc",
    ] {
        let (status, error) = TestServer::send(
            server
                .http
                .get(format!("{}{path}", server.base))
                .header("authorization", header),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{header}");
        let message = assert_error(&error, "invalid_request_error");
        assert!(
            !message.contains("wrongwrongwrong"),
            "keys are masked: {message}"
        );
    }
    let (status, _) = TestServer::send(server.http.get(format!("{}{path}", server.base))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn another_accounts_objects_are_invisible() {
    let server = TestServer::start().await;
    let charge = server.paid_charge(100).await;
    // A second account with its own key and app, written into the same database.
    let db = server.open_db().await;
    db.write(|conn| {
        Box::pin(async move {
            use paymux_server::store::accounts::*;
            insert_account(conn, "acct_other0000000000", 1).await?;
            insert_app(conn, "app_other00000000000", "acct_other0000000000", "o", 1).await?;
            insert_key(
                conn,
                "sk_test_other000000000000000000",
                "acct_other0000000000",
                false,
                1,
            )
            .await
        })
    })
    .await
    .expect("second account");
    let other = |method: Method, path: &str| {
        server
            .http
            .request(method, format!("{}{path}", server.base))
            .bearer_auth("sk_test_other000000000000000000")
    };
    let id = charge["id"].as_str().expect("id");
    for path in [
        format!("/v1/charges/{id}"),
        format!("/v1/charges/{id}/refunds"),
        format!("/v1/charges?app[id]={}", server.creds.app_id),
        format!("/v1/apps/{}/recharges", server.creds.app_id),
    ] {
        let (status, _) = TestServer::send(other(Method::GET, &path)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    let (status, _) = TestServer::send(
        other(Method::POST, &format!("/v1/charges/{id}/refunds"))
            .json(&json!({"description": "steal"})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let mut body = server.charge_body("alipay_qr", json!({}));
    body["app"] = json!({"id": server.creds.app_id});
    let (status, _) = TestServer::send(other(Method::POST, "/v1/charges").json(&body)).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "cannot charge on another account's app"
    );
}

/// Signs like the SDKs: body + request target + timestamp.
fn signed(
    server: &TestServer,
    key: &SigningKey,
    method: Method,
    target: &str,
    body: &str,
    ts: i64,
) -> reqwest::RequestBuilder {
    let message = format!("{body}{target}{ts}");
    sign_as(server, key, method, target, body, ts, &message)
}

/// Signs a request to one of paymux's own routes: the method, a space, then as the SDKs do.
fn signed_own(
    server: &TestServer,
    key: &SigningKey,
    method: Method,
    target: &str,
    body: &str,
    ts: i64,
) -> reqwest::RequestBuilder {
    let message = format!("{method} {body}{target}{ts}");
    sign_as(server, key, method, target, body, ts, &message)
}

fn sign_as(
    server: &TestServer,
    key: &SigningKey,
    method: Method,
    target: &str,
    body: &str,
    ts: i64,
    message: &str,
) -> reqwest::RequestBuilder {
    server
        .request(method, target)
        .header("content-type", "application/json")
        .header("Pingplusplus-Request-Timestamp", ts.to_string())
        .header(
            "Pingplusplus-Signature",
            key.sign_base64(message.as_bytes()),
        )
        .body(body.to_owned())
}

/// A server whose test mode requires signatures by `key`.
async fn signing_server() -> (TestServer, SigningKey) {
    let server = TestServer::start().await;
    let key = SigningKey::generate().expect("key");
    let pem_path = server.dir.path().join("merchant.pem");
    std::fs::write(&pem_path, key.public_key_pem().expect("pem")).expect("write");
    let mut args = vec![
        "keys",
        "set-merchant-public-key",
        pem_path.to_str().expect("utf8"),
    ];
    args.extend(["--require-signature", "test"]);
    args.extend(server.storage_args());
    let (ok, _, stderr) = cli(&args);
    assert!(ok, "{stderr}");
    (server, key)
}

#[tokio::test]
async fn required_signatures_refuse_unsigned_bad_and_stale_requests() {
    let (server, key) = signing_server().await;
    let body = server.charge_body("alipay_qr", json!({})).to_string();
    let (status, error) = TestServer::send(
        server
            .request(Method::POST, "/v1/charges")
            .header("content-type", "application/json")
            .body(body.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "unsigned");
    assert!(assert_error(&error, "invalid_request_error").contains("Pingplusplus-Signature"));

    let other = SigningKey::generate().expect("key");
    let (status, _) = TestServer::send(signed(
        &server,
        &other,
        Method::POST,
        "/v1/charges",
        &body,
        now(),
    ))
    .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "signed with the wrong key"
    );

    let (status, error) = TestServer::send(signed(
        &server,
        &key,
        Method::POST,
        "/v1/charges",
        &body,
        now() - 600,
    ))
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "stale");
    assert!(assert_error(&error, "invalid_request_error").contains("timestamp"));

    let tampered = signed(&server, &key, Method::POST, "/v1/charges", &body, now())
        .body(body.replace("Your Body", "Other Body"));
    let (status, _) = TestServer::send(tampered).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "body changed after signing"
    );
    assert_eq!(
        server.charge_count_signed(&key).await,
        0,
        "refused requests changed nothing"
    );

    let (status, charge) = TestServer::send(signed(
        &server,
        &key,
        Method::POST,
        "/v1/charges",
        &body,
        now(),
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{charge}");
    let id = charge["id"].as_str().expect("id");

    // Node signs GETs with a trailing `?` in the target.
    let target = format!("/v1/charges/{id}?");
    let (status, _) =
        TestServer::send(signed(&server, &key, Method::GET, &target, "", now())).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "trailing ? kept in the signed target"
    );

    // Node sends POST bodies chunked: the signature covers the de-chunked bytes.
    let refund = json!({"description": "chunked"}).to_string();
    let target = format!("/v1/charges/{id}/refunds");
    let ts = now();
    let signature = key.sign_base64(format!("{refund}{target}{ts}").as_bytes());
    let chunks = vec![
        Ok::<_, std::io::Error>(refund[..5].to_owned()),
        Ok(refund[5..].to_owned()),
    ];
    let (status, error) = TestServer::send(
        server
            .request(Method::POST, &target)
            .header("Pingplusplus-Request-Timestamp", ts.to_string())
            .header("Pingplusplus-Signature", signature)
            .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
                chunks,
            ))),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "verified, then refused as unpaid: {error}"
    );
    assert!(assert_error(&error, "invalid_request_error").contains("not paid"));

    // Live mode was not switched on: an unsigned live request passes authentication.
    let live = server
        .http
        .post(format!("{}/v1/charges", server.base))
        .bearer_auth(&server.creds.live_secret_key)
        .json(&server.charge_body("alipay_qr", json!({})));
    let (status, error) = TestServer::send(live).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{error}");
    assert_error(&error, "channel_error");

    let mut args = vec!["keys", "clear-merchant-public-key"];
    args.extend(server.storage_args());
    let (ok, _, stderr) = cli(&args);
    assert!(ok, "{stderr}");
    let (status, _) = server.get(&format!("/v1/charges/{id}")).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "unsigned requests work again without a restart"
    );
}

#[test]
fn init_creates_a_missing_data_directory_and_is_idempotent() {
    let parent = tempfile::tempdir().expect("dir");
    let dir = parent.path().join("not/yet/there");
    let first = crate::helpers::init(&dir);
    let again = crate::helpers::init(&dir);
    assert_eq!(first.test_secret_key, again.test_secret_key);
    assert_eq!(first.platform_public_key_pem, again.platform_public_key_pem);
}

#[test]
fn setting_a_key_that_is_not_a_public_key_fails_clearly() {
    let dir = tempfile::tempdir().expect("dir");
    crate::helpers::init(dir.path());
    let bad = dir.path().join("bad.pem");
    std::fs::write(&bad, "hello").expect("write");
    let (ok, _, stderr) = cli(&[
        "keys",
        "set-merchant-public-key",
        "--data-dir",
        dir.path().to_str().expect("utf8"),
        bad.to_str().expect("utf8"),
    ]);
    assert!(!ok);
    assert!(stderr.contains("RSA public key"), "{stderr}");
}

impl TestServer {
    async fn charge_count_signed(&self, key: &SigningKey) -> usize {
        let target = format!("/v1/charges?app[id]={}&limit=100", self.creds.app_id);
        let (status, list) =
            TestServer::send(signed(self, key, Method::GET, &target, "", now())).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        list["data"].as_array().expect("data").len()
    }
}

#[tokio::test]
async fn a_signature_authorizes_one_request_only() {
    let (server, key) = signing_server().await;
    let body = json!({"url": "http://127.0.0.1:9/hook"}).to_string();
    let (status, endpoint) = TestServer::send(signed_own(
        &server,
        &key,
        Method::POST,
        "/v1/webhook_endpoints",
        &body,
        now(),
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{endpoint}");
    let path = format!(
        "/v1/webhook_endpoints/{}",
        endpoint["id"].as_str().expect("id")
    );

    // A signed GET of the endpoint, then the same headers sent as a DELETE of the same path.
    let ts = now();
    let get = signed_own(&server, &key, Method::GET, &path, "", ts);
    let (status, _) = TestServer::send(get).await;
    assert_eq!(status, StatusCode::OK);
    let signature = key.sign_base64(format!("GET {path}{ts}").as_bytes());
    let as_delete = server
        .request(Method::DELETE, &path)
        .header("Pingplusplus-Request-Timestamp", ts.to_string())
        .header("Pingplusplus-Signature", signature);
    let (status, _) = TestServer::send(as_delete).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the method is signed");
    // Without the method in the signed text, paymux's own routes refuse the signature.
    let sdk_style = signed(&server, &key, Method::DELETE, &path, "", now());
    let (status, _) = TestServer::send(sdk_style).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, still) =
        TestServer::send(signed_own(&server, &key, Method::GET, &path, "", ts + 1)).await;
    assert_eq!(status, StatusCode::OK, "not deleted: {still}");

    // A signed list of charges, reused for a create at the same target: refused, not run.
    let target = format!("/v1/charges?app[id]={}", server.creds.app_id);
    let ts = now();
    let (status, _) = TestServer::send(signed(&server, &key, Method::GET, &target, "", ts)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, error) =
        TestServer::send(signed(&server, &key, Method::POST, &target, "", ts)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{error}");
    assert!(assert_error(&error, "invalid_request_error").contains("already used"));
}

#[tokio::test]
async fn a_captured_signed_refund_sent_again_refunds_once_and_answers_the_same() {
    let (server, key) = signing_server().await;
    let body = server.charge_body("alipay_qr", json!({})).to_string();
    let (status, charge) = TestServer::send(signed(
        &server,
        &key,
        Method::POST,
        "/v1/charges",
        &body,
        now(),
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{charge}");
    let id = charge["id"].as_str().expect("id").to_owned();
    let pay = format!("/v1/test_helpers/charges/{id}/pay");
    let (status, _) =
        TestServer::send(signed_own(&server, &key, Method::POST, &pay, "{}", now())).await;
    assert_eq!(status, StatusCode::OK);

    let target = format!("/v1/charges/{id}/refunds");
    let refund = json!({"amount": 100, "description": "once"}).to_string();
    let ts = now();
    let mut answers = Vec::new();
    for _ in 0..3 {
        answers.push(
            TestServer::send(signed(&server, &key, Method::POST, &target, &refund, ts)).await,
        );
    }
    for (status, answer) in &answers {
        assert_eq!(*status, StatusCode::OK, "{answer}");
        assert_eq!(answer["id"], answers[0].1["id"], "the first answer, again");
    }
    let (status, list) =
        TestServer::send(signed(&server, &key, Method::GET, &target, "", now())).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(
        list["data"].as_array().expect("data").len(),
        1,
        "one refund"
    );
}

#[tokio::test]
async fn an_idempotency_key_returns_the_first_outcome_and_refuses_another_body() {
    let server = TestServer::start().await;
    let body = server.charge_body("alipay_qr", json!({}));
    let create = |body: &serde_json::Value, key: &str| {
        server
            .request(Method::POST, "/v1/charges")
            .header("Idempotency-Key", key)
            .json(body)
    };
    let first = create(&body, "order-42").send().await.expect("send");
    assert_eq!(first.status(), StatusCode::OK);
    let first: serde_json::Value = first.json().await.expect("JSON");
    let again = create(&body, "order-42").send().await.expect("send");
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: serde_json::Value = again.json().await.expect("JSON");
    assert_eq!(again, first, "the first outcome, byte for byte");

    let mut other = body.clone();
    other["order_no"] = json!(crate::helpers::order_no());
    let (status, error) = TestServer::send(create(&other, "order-42")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(error["error"]["param"], "Idempotency-Key");
    assert_eq!(server.charge_count().await, 1);

    // Errors are outcomes too: the same refused request gets the same refusal.
    let path = format!("/v1/charges/{}/refunds", first["id"].as_str().expect("id"));
    let refund = |key: &str| {
        server
            .request(Method::POST, &path)
            .header("Idempotency-Key", key)
            .json(&json!({"description": "unpaid"}))
    };
    let (status, refused) = TestServer::send(refund("r1")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    server.pay(first["id"].as_str().expect("id")).await;
    let (status, again) = TestServer::send(refund("r1")).await;
    assert_eq!((status, &again), (StatusCode::BAD_REQUEST, &refused));
    let (status, made) = TestServer::send(refund("r2")).await;
    assert_eq!(status, StatusCode::OK, "{made}");
    let (status, bad) = TestServer::send(
        server
            .request(Method::POST, &path)
            .header("Idempotency-Key", "has space")
            .json(&json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    assert_eq!(bad["error"]["param"], "Idempotency-Key");
}

#[tokio::test]
async fn a_used_order_no_is_refused_naming_what_used_it() {
    let server = TestServer::start().await;
    let charge = server.qr_charge(100).await;
    let mut body = server.charge_body("alipay_qr", json!({}));
    body["order_no"] = charge["order_no"].clone();
    body["amount"] = json!(200);
    let (status, error) = server.post("/v1/charges", body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(error["error"]["code"], "charge_order_no_used");
    let message = assert_error(&error, "invalid_request_error");
    assert!(
        message.contains(charge["id"].as_str().expect("id")),
        "{message}"
    );
}

/// The server keeps who each key belongs to in memory; a key rolled from the command line
/// while it serves (another process, on SQLite or PostgreSQL) must stop on the next request.
#[tokio::test]
async fn a_key_rolled_from_the_command_line_while_serving_stops_at_once() {
    let server = TestServer::start().await;
    let list = format!("/v1/charges?app[id]={}", server.creds.app_id);
    for _ in 0..2 {
        let (status, _) = server.get(&list).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "the key works, and the server has seen it"
        );
    }
    let mut args = vec!["keys", "roll", "--mode", "test", "--grace-minutes", "0"];
    args.extend(server.storage_args());
    let (ok, stdout, stderr) = cli(&args);
    assert!(ok, "{stderr}");
    let (status, error) = server.get(&list).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the rolled key: {error}");
    assert_error(&error, "invalid_request_error");

    let new_key = stdout.trim();
    let (status, page) = TestServer::send(
        server
            .http
            .get(format!("{}{list}", server.base))
            .bearer_auth(new_key),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "the new key: {page}");
}
