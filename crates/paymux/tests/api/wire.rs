use crate::helpers::{TestServer, assert_error};
use paymux_crypto::VerifyingKey;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn every_response_is_signed_with_the_platform_key() {
    let server = TestServer::start().await;
    let platform = VerifyingKey::from_pem(&server.creds.platform_public_key_pem).expect("key");
    for (method, path) in [
        (
            Method::GET,
            format!("/v1/charges?app[id]={}", server.creds.app_id),
        ),
        (Method::GET, "/v1/charges/ch_missing".to_owned()),
        (Method::GET, "/v1/nowhere".to_owned()),
    ] {
        let response = server.request(method, &path).send().await.expect("send");
        let signature = response
            .headers()
            .get("x-pingplusplus-signature")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("{path}: no signature"));
        assert!(
            response.headers()["content-type"]
                .to_str()
                .expect("ct")
                .starts_with("application/json"),
        );
        let body = response.bytes().await.expect("body");
        assert!(
            platform.verify_base64(&body, &signature),
            "{path}: signature verifies"
        );
    }
}

#[tokio::test]
async fn response_signing_can_be_switched_off() {
    let server = TestServer::start_with(&["--sign-responses", "false"]).await;
    let response = server
        .request(
            Method::GET,
            &format!("/v1/charges?app[id]={}", server.creds.app_id),
        )
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get("x-pingplusplus-signature").is_none());
}

#[tokio::test]
async fn node_sdk_connections_are_closed_after_each_response() {
    let server = TestServer::start().await;
    let response = server
        .request(
            Method::GET,
            &format!("/v1/charges?app[id]={}", server.creds.app_id),
        )
        .header("user-agent", "Pingpp/v1 NodeBindings/2.1.6")
        .send()
        .await
        .expect("send");
    assert_eq!(response.headers()["connection"], "close");
}

#[tokio::test]
async fn oversized_bodies_and_unknown_routes_get_ping_plus_plus_errors() {
    let server = TestServer::start_with(&["--body-limit-bytes", "2048"]).await;
    let mut body = server.charge_body("alipay_qr", json!({}));
    body["description"] = json!("x".repeat(4000));
    let (status, error) = server.post("/v1/charges", body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(assert_error(&error, "invalid_request_error").contains("2048"));

    let (status, error) = server.get("/v1/nowhere").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&error, "invalid_request_error");
    let (status, error) = TestServer::send(server.request(Method::DELETE, "/v1/charges")).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_error(&error, "invalid_request_error");
}

#[tokio::test]
async fn openapi_describes_every_route() {
    let server = TestServer::start().await;
    let spec: serde_json::Value = server
        .http
        .get(format!("{}/openapi.json", server.base))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let paths = spec["paths"].as_object().expect("paths");
    for (method, path) in [
        ("post", "/v1/charges"),
        ("get", "/v1/charges"),
        ("get", "/v1/charges/{id}"),
        ("post", "/v1/charges/{id}/reverse"),
        ("post", "/v1/charges/{id}/refunds"),
        ("get", "/v1/charges/{id}/refunds/{refund}"),
        ("post", "/v1/test_helpers/charges/{id}/pay"),
        ("post", "/v1/apps/{app}/recharges"),
        ("post", "/v1/apps/{app}/recharges/{id}/refunds"),
        ("get", "/v1/apps/{app}/users/{user}"),
        ("get", "/v1/events/{id}"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn secrets_never_reach_the_logs() {
    let server = TestServer::start_full(&[], Some("debug")).await;
    let charge = server.paid_charge(100).await;
    let id = charge["id"].as_str().expect("id");
    server
        .post(
            &format!("/v1/charges/{id}/refunds"),
            json!({"description": "x"}),
        )
        .await;
    let wrong = "sk_test_NotARealKeyButSecret0000";
    let (status, _) = TestServer::send(
        server
            .http
            .get(format!("{}/v1/charges/{id}", server.base))
            .bearer_auth(wrong),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let log = server.log();
    assert!(
        log.contains("DEBUG") || log.contains("INFO"),
        "debug logging is on: {log}"
    );
    for secret in [
        server.creds.test_secret_key.as_str(),
        server.creds.live_secret_key.as_str(),
        "NotARealKeyButSecret",
        "PRIVATE KEY",
    ] {
        assert!(!log.contains(secret), "{secret} leaked into the log");
    }
}

#[tokio::test]
async fn every_request_gets_an_id_and_one_access_log_line_without_its_query() {
    let server = TestServer::start_full(&[], Some("info")).await;
    let charge = server.qr_charge(100).await;
    let id = charge["id"].as_str().expect("id");
    let response = server
        .request(
            Method::GET,
            &format!("/v1/charges/{id}?expand[]=secret_probe"),
        )
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::OK);
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(request_id.starts_with("iar_"), "{request_id}");
    let log = server.log();
    let lines: Vec<&str> = log
        .lines()
        .filter(|line| line.contains(&request_id))
        .collect();
    assert_eq!(lines.len(), 1, "one line for the request: {log}");
    let line = lines[0];
    for part in ["GET", "route=/v1/charges/{id}", "status=200", "latency_ms="] {
        assert!(line.contains(part), "{part} missing: {line}");
    }
    assert!(
        !line.contains(id) && !line.contains("secret_probe"),
        "{line}"
    );
    assert!(!log.contains(&server.creds.test_secret_key));
}
