//! `/metrics` after a flow an operator would watch: charges paid and refunded, one webhook
//! endpoint answering and one failing; the counters, histograms and gauges move as they should.

use crate::helpers::TestServer;
use reqwest::StatusCode;
use serde_json::json;
use std::time::{Duration, Instant};

/// The value of the sample `name{labels…}` (labels as they appear, in order), if exported.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|line| line.starts_with(series) && line[series.len()..].starts_with(' '))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

/// The per-endpoint gauges of deliveries still pending.
fn pending_gauges(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| {
            l.starts_with("paymux_webhook_deliveries{") && l.contains(r#"status="pending""#)
        })
        .collect()
}

async fn scrape(server: &TestServer) -> String {
    let response = server
        .http
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .expect("scrape");
    assert_eq!(response.status(), StatusCode::OK);
    let kind = response.headers()["content-type"]
        .to_str()
        .expect("type")
        .to_owned();
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    response.text().await.expect("text")
}

#[tokio::test]
async fn metrics_follow_payments_refunds_and_webhooks() {
    let server = TestServer::start().await;
    // A receiver that answers 200, and an endpoint nobody listens on.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let good = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let app = axum::Router::new().route("/hook", axum::routing::post(|| async { "ok" }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let closed = {
        let socket = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}/hook", socket.local_addr().expect("addr"))
    };
    for url in [&good, &closed] {
        let (status, endpoint) = server
            .post("/v1/webhook_endpoints", json!({"url": url}))
            .await;
        assert_eq!(status, StatusCode::OK, "{endpoint}");
    }

    let charge = server.paid_charge(500).await;
    let id = charge["id"].as_str().expect("id");
    let (status, refund) = server
        .post(
            &format!("/v1/charges/{id}/refunds"),
            json!({"amount": 200, "description": "part"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{refund}");
    let refund_id = refund["id"].as_str().expect("id");
    server
        .wait_for(
            &format!("/v1/charges/{id}/refunds/{refund_id}"),
            "status",
            json!("succeeded"),
        )
        .await;

    // Deliveries go out in the background: wait until both endpoints were tried and the
    // per-endpoint gauges (one each) tell them apart.
    let started = Instant::now();
    let text = loop {
        let text = scrape(&server).await;
        let delivered = sample(
            &text,
            r#"paymux_webhook_attempts_total{outcome="delivered"}"#,
        );
        let retrying = sample(
            &text,
            r#"paymux_webhook_attempts_total{outcome="retrying"}"#,
        );
        // The answering endpoint has nothing left to deliver; the failing one waits to retry.
        let pending: Vec<bool> = pending_gauges(&text)
            .iter()
            .map(|l| l.ends_with(" 0"))
            .collect();
        let settled = pending.len() == 2 && pending.contains(&true) && pending.contains(&false);
        if delivered >= Some(2.0) && retrying >= Some(1.0) && settled {
            break text;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "attempts never counted: {text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    assert_eq!(
        sample(
            &text,
            r#"paymux_charges_created_total{channel="alipay_qr",mode="test"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"paymux_charges_paid_total{channel="alipay_qr",mode="test"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"paymux_events_total{type="charge.succeeded",mode="test"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"paymux_events_total{type="refund.succeeded",mode="test"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"paymux_http_requests_total{route="/v1/charges",method="POST",status="200"}"#
        ),
        Some(1.0)
    );
    assert!(
        sample(
            &text,
            r#"paymux_http_request_duration_seconds_count{route="/v1/charges/{id}/refunds",method="POST"}"#
        ) >= Some(1.0),
        "{text}"
    );
    assert!(
        sample(&text, "paymux_webhook_delivery_lag_seconds_count") >= Some(3.0),
        "{text}"
    );
    assert!(
        sample(&text, "paymux_db_commit_duration_seconds_count") >= Some(1.0)
            || server.on_postgres(),
        "{text}"
    );
    // The failing endpoint's deliveries wait for their retries; the good one has none left.
    assert!(sample(&text, "paymux_jobs_due").is_some(), "{text}");
    assert!(text.contains("paymux_build_info{"), "{text}");
    // No ids or order numbers in any label, but the endpoints'.
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("paymux_webhook_deliveries{"))
    {
        for id in ["\"ch_", "\"re_", "\"evt_", "\"iar_"] {
            assert!(!line.contains(id), "{line}");
        }
    }
}
