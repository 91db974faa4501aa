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

#[tokio::test]
async fn required_signatures_refuse_unsigned_bad_and_stale_requests() {
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
