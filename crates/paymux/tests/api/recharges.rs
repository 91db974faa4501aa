use crate::helpers::{TestServer, assert_error, order_no};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn recharge_body(user: &str, amount: i64, channel: &str, extra: Value) -> Value {
    json!({
        "user": user,
        "charge": {
            "amount": amount, "channel": channel, "order_no": order_no(),
            "subject": "Recharge", "body": "Top up", "extra": extra,
        },
        "description": "top up",
    })
}

fn scan_extra() -> Value {
    json!({"scan_code": "286648048691290423", "terminal_id": "T0000001"})
}

#[tokio::test]
async fn a_paid_recharge_credits_the_balance_and_a_refund_debits_it() {
    let server = TestServer::start().await;
    let app = server.creds.app_id.clone();
    let base = format!("/v1/apps/{app}/recharges");

    let (status, recharge) = server
        .post(
            &base,
            recharge_body("user_001", 1000, "alipay_scan", scan_extra()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{recharge}");
    assert_eq!(recharge["object"], "recharge");
    assert_eq!(recharge["succeeded"], true);
    assert_eq!(recharge["amount"], 1000);
    assert_eq!(
        recharge["charge"]["object"], "charge",
        "the charge is embedded"
    );
    assert_eq!(recharge["charge"]["paid"], true);
    assert!(
        recharge["id"]
            .as_str()
            .expect("id")
            .chars()
            .all(|c| c.is_ascii_digit())
    );

    let (_, user) = server.get(&format!("/v1/apps/{app}/users/user_001")).await;
    assert_eq!(user["available_balance"], 1000);
    assert_eq!(server.events(Some("recharge.succeeded")).await.len(), 1);

    let id = recharge["id"].as_str().expect("id");
    let (status, refund) = server
        .post(
            &format!("{base}/{id}/refunds"),
            json!({"description": "give it back"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{refund}");
    assert_eq!(refund["object"], "refund");
    assert_eq!(refund["amount"], 1000);
    let (_, user) = server.get(&format!("/v1/apps/{app}/users/user_001")).await;
    assert_eq!(
        user["available_balance"], 0,
        "debited as the refund is made"
    );

    let refund_path = format!("{base}/{id}/refunds/{}", refund["id"].as_str().expect("id"));
    server
        .wait_for(&refund_path, "status", json!("succeeded"))
        .await;
    let (_, list) = server.get(&format!("{base}/{id}/refunds")).await;
    assert_eq!(list["data"].as_array().expect("data").len(), 1);

    let (status, error) = server
        .post(
            &format!("{base}/{id}/refunds"),
            json!({"description": "again"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(assert_error(&error, "invalid_request_error").contains("可退金额为 0"));

    let (_, fetched) = server.get(&format!("{base}/{id}")).await;
    assert_eq!(fetched["refunded"], true);
}

#[tokio::test]
async fn a_qr_recharge_credits_only_once_paid_and_lists_by_page() {
    let server = TestServer::start().await;
    let app = server.creds.app_id.clone();
    let base = format!("/v1/apps/{app}/recharges");
    let mut body = recharge_body("user_qr", 2000, "alipay_qr", json!({}));
    body["balance_bonus"] = json!({"amount": 100});
    let (status, recharge) = server.post(&base, body).await;
    assert_eq!(status, StatusCode::OK, "{recharge}");
    assert_eq!(recharge["succeeded"], false);
    assert_eq!(recharge["amount"], 2100, "bonus included");
    let (_, user) = server.get(&format!("/v1/apps/{app}/users/user_qr")).await;
    assert_eq!(user["available_balance"], 0);

    let charge_id = recharge["charge"]["id"].as_str().expect("id");
    server.pay(charge_id).await;
    let (_, user) = server.get(&format!("/v1/apps/{app}/users/user_qr")).await;
    assert_eq!(user["available_balance"], 2100);
    let (_, fetched) = server
        .get(&format!("{base}/{}", recharge["id"].as_str().expect("id")))
        .await;
    assert_eq!(fetched["succeeded"], true);

    // The charge belongs to the recharge: refunding it directly would strand the balance.
    let (status, error) = server
        .post(
            &format!("/v1/charges/{charge_id}/refunds"),
            json!({"description": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(assert_error(&error, "invalid_request_error").contains("recharge"));

    server
        .post(
            &base,
            recharge_body("user_qr", 100, "alipay_scan", scan_extra()),
        )
        .await;
    let (_, page) = server.get(&format!("{base}?page=1&per_page=1")).await;
    assert_eq!(page["has_more"], true);
    assert_eq!(page["data"].as_array().expect("data").len(), 1);
    let (_, succeeded) = server
        .get(&format!("{base}?succeeded=true&per_page=10"))
        .await;
    assert_eq!(succeeded["data"].as_array().expect("data").len(), 2);
}

#[tokio::test]
async fn invalid_recharges_are_refused() {
    let server = TestServer::start().await;
    let base = format!("/v1/apps/{}/recharges", server.creds.app_id);
    let mut no_user = recharge_body("u", 100, "alipay_qr", json!({}));
    no_user.as_object_mut().expect("obj").remove("user");
    let (status, error) = server.post(&base, no_user).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["error"]["param"], "user");

    let mut fee = recharge_body("u", 100, "alipay_qr", json!({}));
    fee["user_fee"] = json!(101);
    let (status, error) = server.post(&base, fee).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["error"]["param"], "user_fee");

    let (status, error) = server
        .post(&base, recharge_body("u", 0, "alipay_qr", json!({})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["error"]["param"], "charge[amount]");

    let (status, _) = server
        .post(
            "/v1/apps/app_0000000000000000/recharges",
            recharge_body("u", 1, "alipay_qr", json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = server
        .get(&format!("/v1/apps/{}/users/nobody", server.creds.app_id))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
