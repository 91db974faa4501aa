//! `/metrics` after a flow an operator would watch: charges paid and refunded, one webhook
//! endpoint answering and one failing, a live charge paid through a channel; the counters,
//! histograms and gauges move as they should.

use crate::helpers::TestServer;
use paymux_simulators::wechat::{WechatConfig, WechatMerchant, WechatSimulator};
use reqwest::{Method, RequestBuilder, StatusCode};
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

const APPID: &str = "wx2421b1c4370ec43b";
const MCH_ID: &str = "10000100";
const API_KEY: &str = "192006250b4c09247ec02edce69f6a2d";

/// A request to `server` with the app's live key.
fn live(server: &TestServer, method: Method, path: &str) -> RequestBuilder {
    server
        .http
        .request(method, format!("{}{path}", server.base))
        .bearer_auth(&server.creds.live_secret_key)
}

#[tokio::test]
async fn metrics_count_a_live_charge_paid_through_its_channel() {
    // Channel secrets are sealed at rest, so a live channel needs the secrets key.
    let keys = tempfile::tempdir().expect("dir");
    let key = keys.path().join("secrets.key");
    {
        use base64::Engine;
        let encoded = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        std::fs::write(&key, encoded).expect("write key");
    }
    let server = TestServer::start_with(&["--secrets-key-file", key.to_str().expect("utf8")]).await;

    // WeChat Pay on loopback; it notifies the gateway as soon as the payer pays.
    let sim = WechatSimulator::new(WechatConfig::new(vec![WechatMerchant::new(
        APPID, MCH_ID, API_KEY,
    )]));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let sim_url = format!("http://{}", listener.local_addr().expect("addr"));
    let router = sim.router();
    tokio::spawn(async move { axum::serve(listener, router).await });

    // The app's live WeChat, configured as its owner would.
    let channel = format!("/v1/apps/{}/channels/wechat", server.creds.app_id);
    let settings = json!({
        "appid": APPID, "mch_id": MCH_ID, "api_key": API_KEY, "gateway_url": sim_url,
    });
    let (status, config) =
        TestServer::send(live(&server, Method::POST, &channel).json(&settings)).await;
    assert_eq!(status, StatusCode::OK, "{config}");
    assert_eq!(config["livemode"], true, "{config}");

    let body = server.charge_body("wx_pub_qr", json!({"product_id": "p1"}));
    let order_no = body["order_no"].as_str().expect("order_no").to_owned();
    let (status, charge) =
        TestServer::send(live(&server, Method::POST, "/v1/charges").json(&body)).await;
    assert_eq!(status, StatusCode::OK, "{charge}");
    assert_eq!(charge["livemode"], true, "{charge}");
    let code_url = charge["credential"]["wx_pub_qr"].as_str().unwrap_or("");
    assert!(code_url.starts_with("weixin://"), "the channel's: {charge}");
    let id = charge["id"].as_str().expect("id");

    sim.pay(MCH_ID, &order_no)
        .expect("the payer scans and pays");
    // The notification arrives in the background.
    let started = Instant::now();
    loop {
        let (status, charge) =
            TestServer::send(live(&server, Method::GET, &format!("/v1/charges/{id}"))).await;
        assert_eq!(status, StatusCode::OK, "{charge}");
        if charge["paid"] == true {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "never paid: {charge}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let text = scrape(&server).await;
    assert_eq!(
        sample(
            &text,
            r#"paymux_channel_calls_total{provider="wechat",operation="/pay/unifiedorder",outcome="answered"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert!(
        !text.contains(r#"provider="wechat",operation="/pay/unifiedorder",outcome="unreachable""#),
        "{text}"
    );
    let calls = r#"paymux_channel_call_duration_seconds_count{provider="wechat",operation="/pay/unifiedorder"}"#;
    assert_eq!(sample(&text, calls), Some(1.0), "{text}");
    let took = r#"paymux_channel_call_duration_seconds_sum{provider="wechat",operation="/pay/unifiedorder"}"#;
    assert!(sample(&text, took) > Some(0.0), "{text}");
    for counter in ["paymux_charges_created_total", "paymux_charges_paid_total"] {
        assert_eq!(
            sample(
                &text,
                &format!(r#"{counter}{{channel="wx_pub_qr",mode="live"}}"#)
            ),
            Some(1.0),
            "{text}"
        );
        // Counted in its mode only.
        assert_eq!(
            sample(
                &text,
                &format!(r#"{counter}{{channel="wx_pub_qr",mode="test"}}"#)
            ),
            None,
            "{text}"
        );
    }
    assert_eq!(
        sample(
            &text,
            r#"paymux_events_total{type="charge.succeeded",mode="live"}"#
        ),
        Some(1.0),
        "{text}"
    );
    // The order number goes to the channel, never into a label.
    assert!(!text.contains(&order_no), "{text}");
}
