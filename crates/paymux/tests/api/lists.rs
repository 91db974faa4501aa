//! Lists cost a fixed number of statements whatever the page holds: embedded sub-lists (a
//! charge's refunds, a recharge's charge and refunds) are read once per page, never per row.
//! Counted from the server's own statement log (`sqlx::query` at trace level), which carries the
//! request id of the request each statement ran for.

use crate::helpers::{TestServer, order_no};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const STATEMENT_LOG: &str = "warn,paymux_server::api::layers=info,sqlx::query=trace";
/// The most statements one list request may take: the key, the app, the page, and one for
/// each kind of object embedded in its rows.
fn most_statements(embedded_kinds: usize) -> usize {
    3 + embedded_kinds
}

async fn logging_server() -> TestServer {
    TestServer::start_full(&[], Some(STATEMENT_LOG)).await
}

/// Lists `path` twice (the first warms the connection pool, whose new connections run setup
/// statements of their own) and returns the second page and how many statements it took.
async fn statements_of(server: &TestServer, path: &str) -> (Value, usize) {
    let (status, _) = server.get(path).await;
    assert_eq!(status, StatusCode::OK);
    let response = server
        .request(Method::GET, path)
        .send()
        .await
        .expect("list");
    assert_eq!(response.status(), StatusCode::OK);
    let request_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("x-request-id")
        .to_owned();
    let page: Value = response.json().await.expect("json");
    let marker = format!("request_id={request_id}");
    let log = server.log();
    let statements = log
        .lines()
        .filter(|line| line.contains(&marker) && line.contains("sqlx::query"))
        .count();
    assert!(statements > 0, "the statement log is on: {log}");
    (page, statements)
}

#[tokio::test]
async fn a_page_of_a_hundred_charges_with_refunds_takes_a_fixed_number_of_statements() {
    let server = logging_server().await;
    for _ in 0..100 {
        let charge = server.paid_charge(1000).await;
        let id = charge["id"].as_str().expect("id");
        for amount in [100, 200] {
            let (status, refund) = server
                .post(
                    &format!("/v1/charges/{id}/refunds"),
                    json!({"amount": amount, "description": "part"}),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{refund}");
        }
    }
    let app = &server.creds.app_id;
    let (page, statements) =
        statements_of(&server, &format!("/v1/charges?limit=100&app[id]={app}")).await;
    let charges = page["data"].as_array().expect("data");
    assert_eq!(charges.len(), 100);
    assert!(
        charges
            .iter()
            .all(|c| c["refunds"]["data"].as_array().map(Vec::len) == Some(2)),
        "every charge embeds its refunds"
    );
    assert!(
        statements <= most_statements(1),
        "{statements} statements for one page of charges"
    );
}

#[tokio::test]
async fn a_page_of_recharges_takes_a_fixed_number_of_statements() {
    let server = logging_server().await;
    let app = server.creds.app_id.clone();
    let recharges = format!("/v1/apps/{app}/recharges");
    for n in 0..40 {
        let body = json!({
            "user": format!("user_{n:03}"),
            "charge": {
                "amount": 1000, "channel": "alipay_scan", "order_no": order_no(),
                "subject": "Recharge", "body": "Top up",
                "extra": {"scan_code": "286648048691290423", "terminal_id": "T0000001"},
            },
        });
        let (status, recharge) = server.post(&recharges, body).await;
        assert_eq!(status, StatusCode::OK, "{recharge}");
        if n % 2 == 0 {
            let id = recharge["id"].as_str().expect("id");
            let (status, refund) = server
                .post(
                    &format!("{recharges}/{id}/refunds"),
                    json!({"description": "back"}),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{refund}");
        }
    }
    let (page, statements) = statements_of(&server, &format!("{recharges}?per_page=40")).await;
    let rows = page["data"].as_array().expect("data");
    assert_eq!(rows.len(), 40);
    let refunded = rows
        .iter()
        .filter(|r| r["refunds"]["data"].as_array().map(Vec::len) == Some(1))
        .count();
    assert_eq!(refunded, 20, "each refunded recharge shows its refund");
    assert!(
        rows.iter().all(|r| r["charge"]["object"] == "charge"),
        "each recharge embeds its charge"
    );
    assert!(
        // The charge, its refunds, the recharge's refunds.
        statements <= most_statements(3),
        "{statements} statements for one page of recharges"
    );
}
