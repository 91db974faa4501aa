use crate::helpers::{TestServer, assert_error};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn partial_then_full_refunds_complete_and_update_the_charge() {
    let server = TestServer::start().await;
    let charge = server.paid_charge(1000).await;
    let id = charge["id"].as_str().expect("id");
    let path = format!("/v1/charges/{id}/refunds");

    let (status, first) = server
        .post(
            &path,
            json!({"amount": 300, "description": "partial", "metadata": {"k": "v"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["object"], "refund");
    assert_eq!(first["status"], "pending");
    assert_eq!(first["succeed"], false);
    assert_eq!(first["amount"], 300);
    assert_eq!(first["charge"], id);
    assert_eq!(first["extra"], json!({}));
    assert_eq!(first["metadata"], json!({"k": "v"}));
    assert!(
        first.get("funding_source").is_none(),
        "echoed only when sent"
    );

    // No amount: everything still refundable.
    let (status, rest) = server
        .post(
            &path,
            json!({"description": "rest", "funding_source": "unsettled_funds"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rest}");
    assert_eq!(rest["amount"], 700);
    assert_eq!(rest["funding_source"], "unsettled_funds");

    let (status, error) = server
        .post(&path, json!({"amount": 1, "description": "more"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(assert_error(&error, "invalid_request_error").contains("可退金额为 0"));

    let refund_path = format!("{path}/{}", first["id"].as_str().expect("id"));
    let done = server
        .wait_for(&refund_path, "status", json!("succeeded"))
        .await;
    assert_eq!(done["succeed"], true);
    assert!(done["time_succeed"].is_i64());
    let charge = server
        .wait_for(&format!("/v1/charges/{id}"), "amount_refunded", json!(1000))
        .await;
    assert_eq!(charge["refunded"], true);
    assert_eq!(charge["refunds"]["data"].as_array().expect("data").len(), 2);

    let (_, list) = server.get(&format!("{path}?limit=1")).await;
    assert_eq!(list["url"], path);
    assert_eq!(list["has_more"], true);
    assert_eq!(list["data"][0]["id"], rest["id"], "newest first");

    let events = server.events(Some("refund.succeeded")).await;
    assert_eq!(events.len(), 2);
    assert!(
        events
            .iter()
            .all(|e| e["data"]["object"]["status"] == "succeeded")
    );
}

#[tokio::test]
async fn over_refund_states_the_refundable_amount_and_unpaid_charges_refund_nothing() {
    let server = TestServer::start().await;
    let charge = server.paid_charge(500).await;
    let path = format!("/v1/charges/{}/refunds", charge["id"].as_str().expect("id"));
    server
        .post(&path, json!({"amount": 200, "description": "a"}))
        .await;
    let (status, error) = server
        .post(&path, json!({"amount": 301, "description": "b"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["error"]["param"], "amount");
    assert!(
        assert_error(&error, "invalid_request_error").contains("300"),
        "{error}"
    );

    let (status, error) = server.post(&path, json!({"amount": 10})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "description is required");
    assert_eq!(error["error"]["param"], "description");

    let unpaid = server.qr_charge(100).await;
    let (status, error) = server
        .post(
            &format!("/v1/charges/{}/refunds", unpaid["id"].as_str().expect("id")),
            json!({"description": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(assert_error(&error, "invalid_request_error").contains("not paid"));
}

#[tokio::test]
async fn concurrent_partial_refunds_never_exceed_the_charge() {
    let server = TestServer::start().await;
    let charge = server.paid_charge(1000).await;
    let id = charge["id"].as_str().expect("id").to_owned();
    let path = format!("/v1/charges/{id}/refunds");
    // 60 refunds of 70 fen race for 1000 fen: exactly 14 fit.
    let attempts = (0..60).map(|i| {
        let request = server
            .request(reqwest::Method::POST, &path)
            .json(&json!({"amount": 70, "description": format!("race {i}")}));
        TestServer::send(request)
    });
    let results = futures_util::future::join_all(attempts).await;
    let accepted = results.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    let refused = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::BAD_REQUEST)
        .count();
    assert_eq!(accepted, 14, "{results:?}");
    assert_eq!(refused, 46);

    let charge = server
        .wait_for(&format!("/v1/charges/{id}"), "amount_refunded", json!(980))
        .await;
    assert!(charge["amount_refunded"].as_i64().expect("int") <= 1000);
    let (_, list) = server.get(&format!("{path}?limit=100")).await;
    let total: i64 = list["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|r| r["amount"].as_i64().expect("int"))
        .sum();
    assert_eq!(total, 980);
}
