//! Inputs a hostile or careless client sends: each gets a Ping++ JSON error that names what is
//! wrong, on both engines, and changes nothing.

use crate::helpers::{TestServer, assert_error};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Sends and expects a Ping++ 400 naming `param`.
async fn refused(builder: reqwest::RequestBuilder, param: &str) {
    let (status, body) = TestServer::send(builder).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_error(&body, "invalid_request_error");
    assert_eq!(body["error"]["param"], param, "{body}");
}

#[tokio::test]
async fn nul_characters_anywhere_are_refused_by_name() {
    let server = TestServer::start().await;
    let app = server.creds.app_id.clone();
    // No key needed to reach these two, so they must not reach the database either.
    refused(
        server
            .http
            .get(format!("{}/mock/pay?ch_id=%00", server.base)),
        "ch_id",
    )
    .await;
    refused(
        server
            .http
            .post(format!("{}/mock/pay", server.base))
            .body("ch_id=ch_%00"),
        "ch_id",
    )
    .await;
    refused(server.request(Method::GET, "/v1/charges/ch_%00x"), "id").await;
    refused(
        server.request(Method::GET, &format!("/v1/charges?app[id]={app}%00")),
        "app[id]",
    )
    .await;
    refused(
        server.request(Method::GET, &format!("/v1/apps/{app}/users/u%00")),
        "user",
    )
    .await;
    let mut body = server.charge_body("alipay_qr", json!({}));
    body["subject"] = json!("Apple\u{0}");
    refused(
        server.request(Method::POST, "/v1/charges").json(&body),
        "subject",
    )
    .await;
    let mut body = server.charge_body("alipay_qr", json!({}));
    body["metadata"] = json!({"note": "a\u{0}b"});
    refused(
        server.request(Method::POST, "/v1/charges").json(&body),
        "metadata[note]",
    )
    .await;
    refused(
        server
            .request(Method::POST, &format!("/v1/apps/{app}/recharges"))
            .json(&json!({"user": "u\u{0}", "charge": {}})),
        "user",
    )
    .await;
    refused(
        server
            .request(Method::POST, "/v1/webhook_endpoints")
            .json(&json!({"url": "http://127.0.0.1:9/x", "description": "\u{0}"})),
        "description",
    )
    .await;
    assert_eq!(server.charge_count().await, 0, "nothing was created");
}

#[tokio::test]
async fn a_path_segment_that_is_not_utf8_gets_a_json_error_before_authentication() {
    let server = TestServer::start().await;
    for path in ["/v1/charges/%FF%FE", "/v1/events/%C3"] {
        let response = server
            .http
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
        let body: Value = response.json().await.expect("a JSON body");
        assert_error(&body, "invalid_request_error");
        assert_eq!(body["error"]["param"], "id", "{body}");
    }
}
