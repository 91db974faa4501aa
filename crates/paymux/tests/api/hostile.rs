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

#[tokio::test]
async fn extreme_created_bounds_list_nothing_instead_of_wrapping() {
    let server = TestServer::start().await;
    server.qr_charge(100).await;
    let app = &server.creds.app_id;
    for bound in ["created[gt]=9223372036854775807", "created[lt]=0"] {
        let (status, list) = server
            .get(&format!("/v1/charges?app[id]={app}&{bound}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{list}");
        assert_eq!(list["data"].as_array().expect("data").len(), 0, "{bound}");
    }
}

#[tokio::test]
async fn events_page_backwards_with_ending_before_and_refuse_unknown_cursors() {
    let server = TestServer::start().await;
    for _ in 0..3 {
        server.paid_charge(100).await;
    }
    let events = server.events(Some("charge.succeeded")).await;
    assert_eq!(events.len(), 3);
    let oldest = events[2]["id"].as_str().expect("id");
    let (status, page) = server
        .get(&format!(
            "/v1/events?type=charge.succeeded&ending_before={oldest}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let ids: Vec<&Value> = page["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|e| &e["id"])
        .collect();
    assert_eq!(
        ids,
        [&events[0]["id"], &events[1]["id"]],
        "the two newer ones"
    );
    let (status, body) = server.get("/v1/events?ending_before=evt_nowhere").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["param"], "ending_before");
}

#[tokio::test]
async fn a_refund_cursor_does_not_reveal_anything_about_a_charge_the_caller_cannot_see() {
    let server = TestServer::start().await;
    let charge = server.paid_charge(100).await;
    let id = charge["id"].as_str().expect("id");
    // The live key belongs to another ledger than this test-mode charge.
    let response = server
        .http
        .get(format!(
            "{}/v1/charges/{id}/refunds?starting_after=re_probe",
            server.base
        ))
        .bearer_auth(&server.creds.live_secret_key)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body: Value = response.json().await.expect("JSON");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .contains(id),
        "answers about the charge, not the cursor: {body}"
    );
}

fn recharge(user: &str, amount: i64) -> Value {
    json!({
        "user": user,
        "charge": {
            "amount": amount, "channel": "alipay_scan", "order_no": crate::helpers::order_no(),
            "subject": "Recharge", "body": "Top up",
            "extra": {"scan_code": "286648048691290423", "terminal_id": "T0000001"},
        },
    })
}

#[tokio::test]
async fn recharges_name_their_charge_fields_and_take_an_empty_bonus_as_none() {
    let server = TestServer::start().await;
    let base = format!("/v1/apps/{}/recharges", server.creds.app_id);
    let mut body = recharge("u1", 100);
    body["charge"]["time_expire"] = json!(1);
    let (status, error) = server.post(&base, body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(error["error"]["param"], "charge[time_expire]", "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .expect("m")
            .contains("charge[time_expire]")
    );

    // What the official Go SDK sends for a recharge without a bonus.
    let mut body = recharge("u1", 100);
    body["balance_bonus"] = json!({});
    let (status, recharge) = server.post(&base, body).await;
    assert_eq!(status, StatusCode::OK, "{recharge}");
    assert_eq!(recharge["amount"], 100);
}

#[tokio::test]
async fn racing_refunds_of_one_recharge_make_one_refund_and_tell_the_others_why() {
    let server = TestServer::start().await;
    let base = format!("/v1/apps/{}/recharges", server.creds.app_id);
    for round in 0..5 {
        let (status, paid) = server
            .post(&base, recharge(&format!("racer{round}"), 500))
            .await;
        assert_eq!(status, StatusCode::OK, "{paid}");
        let path = format!("{base}/{}/refunds", paid["id"].as_str().expect("id"));
        let attempts = (0..6).map(|_| server.post(&path, json!({"description": "race"})));
        let answers = futures_util::future::join_all(attempts).await;
        let won = answers.iter().filter(|(s, _)| *s == StatusCode::OK).count();
        assert_eq!(won, 1, "{answers:?}");
        for (status, body) in answers.iter().filter(|(s, _)| *s != StatusCode::OK) {
            assert_eq!(*status, StatusCode::BAD_REQUEST, "{body}");
            let message = body["error"]["message"].as_str().expect("message");
            assert!(message.contains("already refunded"), "{body}");
        }
    }
}

#[tokio::test]
async fn a_refund_without_an_amount_racing_others_refunds_what_remains() {
    let server = TestServer::start().await;
    for _ in 0..5 {
        let charge = server.paid_charge(10_000).await;
        let path = format!("/v1/charges/{}/refunds", charge["id"].as_str().expect("id"));
        let mut requests: Vec<_> = (0..4)
            .map(|_| server.post(&path, json!({"amount": 1000, "description": "part"})))
            .collect();
        requests.insert(2, server.post(&path, json!({"description": "the rest"})));
        let answers = futures_util::future::join_all(requests).await;
        let (status, rest) = &answers[2];
        assert!(
            *status == StatusCode::OK || *status == StatusCode::CONFLICT,
            "the amount-less refund: {status} {rest}"
        );
        let refunded: i64 = answers
            .iter()
            .filter(|(s, _)| *s == StatusCode::OK)
            .map(|(_, r)| r["amount"].as_i64().expect("amount"))
            .sum();
        let (_, charge) = server
            .get(&format!(
                "/v1/charges/{}",
                charge["id"].as_str().expect("id")
            ))
            .await;
        assert!(refunded <= 10_000);
        if *status == StatusCode::OK {
            assert_eq!(
                refunded, 10_000,
                "the amount-less refund took what remained"
            );
        }
        assert!(charge["amount_refunded"].as_i64().expect("amount_refunded") <= 10_000);
    }
}
