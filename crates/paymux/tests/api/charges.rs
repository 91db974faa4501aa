use crate::helpers::{TestServer, assert_error, order_no};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Each seed channel with the `extra` it requires.
fn channels() -> Vec<(&'static str, Value)> {
    let goods = json!([{"goods_name": "Apple", "goods_num": "1"}]);
    vec![
        ("alipay_qr", json!({})),
        ("wx_pub_qr", json!({"product_id": "P001"})),
        ("cb_alipay_qr", json!({})),
        (
            "cb_wx_pub_qr",
            json!({"product_id": "P001", "goods_list": goods}),
        ),
        ("upacp_qr", json!({})),
        ("ccb_qr", json!({})),
        (
            "isv_qr",
            json!({"terminal_id": "T0000001", "pay_channel": "alipay"}),
        ),
        (
            "isv_wap",
            json!({"terminal_id": "00000001", "pay_channel": "wx", "result_url": "https://example.com/r"}),
        ),
        (
            "alipay_scan",
            json!({"scan_code": "286648048691290423", "terminal_id": "T0000001"}),
        ),
        ("wx_pub_scan", json!({"scan_code": "134567890123456789"})),
        ("cb_alipay_scan", json!({"scan_code": "286648048691290423"})),
        (
            "cb_wx_pub_scan",
            json!({"scan_code": "134567890123456789", "goods_list": goods}),
        ),
        ("upacp_scan", json!({"scan_code": "6223456789012345678"})),
        (
            "isv_scan",
            json!({"terminal_id": "T0000001", "scan_code": "134567890123456789"}),
        ),
    ]
}

#[tokio::test]
async fn every_seed_channel_creates_qr_unpaid_and_scan_paid() {
    let server = TestServer::start().await;
    for (channel, extra) in channels() {
        let body = server.charge_body(channel, extra.clone());
        let (status, charge) = server.post("/v1/charges", body.clone()).await;
        assert_eq!(status, StatusCode::OK, "{channel}: {charge}");
        assert_eq!(charge["object"], "charge");
        assert_eq!(charge["channel"], channel);
        assert_eq!(charge["livemode"], false);
        assert_eq!(charge["order_no"], body["order_no"]);
        assert_eq!(charge["amount"], 1000);
        assert_eq!(charge["extra"], extra, "{channel} echoes its extra");
        assert!(charge["id"].as_str().expect("id").starts_with("ch_"));
        if channel.ends_with("_scan") {
            assert_eq!(
                charge["paid"], true,
                "{channel} settles at once in test mode"
            );
            assert!(charge["time_paid"].is_i64());
            assert!(charge["transaction_no"].is_string());
            assert_eq!(charge["credential"], json!({}));
        } else {
            assert_eq!(charge["paid"], false);
            assert_eq!(charge["credential"]["object"], "credential");
            let url = charge["credential"][channel].as_str().expect("QR link");
            assert!(
                url.starts_with(&server.base),
                "{url} points at this gateway"
            );
        }
    }
    let scans = channels()
        .iter()
        .filter(|(c, _)| c.ends_with("_scan"))
        .count();
    assert_eq!(server.events(Some("charge.succeeded")).await.len(), scans);
}

/// A change that makes a valid create-charge body invalid.
type Mutation = Box<dyn Fn(&mut Value)>;

#[tokio::test]
async fn invalid_charges_are_refused_with_the_parameter_named_and_nothing_created() {
    let server = TestServer::start().await;
    let base = server.charge_body("wx_pub_qr", json!({"product_id": "P1"}));
    let cases: Vec<(&str, Mutation)> = vec![
        ("extra[product_id]", Box::new(|b| b["extra"] = json!({}))),
        (
            "extra[open_id]",
            Box::new(|b| b["extra"]["open_id"] = json!("x")),
        ),
        ("amount", Box::new(|b| b["amount"] = json!(0))),
        ("amount", Box::new(|b| b["amount"] = json!(10.5))),
        (
            "amount",
            Box::new(|b| b["amount"] = json!(2_147_483_648_i64)),
        ),
        (
            "amount",
            Box::new(|b| {
                b.as_object_mut().expect("obj").remove("amount");
            }),
        ),
        ("currency", Box::new(|b| b["currency"] = json!("usd"))),
        ("channel", Box::new(|b| b["channel"] = json!("paypal"))),
        (
            "subject",
            Box::new(|b| b["subject"] = json!("x".repeat(33))),
        ),
        ("body", Box::new(|b| b["body"] = json!(""))),
        ("order_no", Box::new(|b| b["order_no"] = json!("abc-123"))),
        (
            "order_no",
            Box::new(|b| b["order_no"] = json!("1".repeat(33))),
        ),
        (
            "client_ip",
            Box::new(|b| b["client_ip"] = json!("not-an-ip")),
        ),
        ("time_expire", Box::new(|b| b["time_expire"] = json!(1))),
        ("metadata", Box::new(|b| b["metadata"] = json!("x"))),
        ("livemode", Box::new(|b| b["livemode"] = json!(true))),
        (
            "app[id]",
            Box::new(|b| {
                b.as_object_mut().expect("obj").remove("app");
            }),
        ),
    ];
    for (param, mutate) in cases {
        let mut body = base.clone();
        mutate(&mut body);
        let (status, error) = server.post("/v1/charges", body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{param}: {error}");
        let message = assert_error(&error, "invalid_request_error");
        assert!(
            error["error"]["param"]
                .as_str()
                .expect("param")
                .starts_with(param),
            "{param}: {error}"
        );
        assert!(!message.is_empty());
    }
    for raw in ["{", "[1,2]", "\"text\""] {
        let (status, error) = TestServer::send(
            server
                .request(Method::POST, "/v1/charges")
                .header("content-type", "application/json")
                .body(raw),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{raw}");
        assert!(assert_error(&error, "invalid_request_error").contains("json"));
    }
    assert_eq!(
        server.charge_count().await,
        0,
        "no refused request created a charge"
    );
}

#[tokio::test]
async fn same_order_no_returns_the_first_charge_or_is_refused() {
    let server = TestServer::start().await;
    let body = server.charge_body("alipay_qr", json!({}));
    let (_, first) = server.post("/v1/charges", body.clone()).await;
    let (status, again) = server.post("/v1/charges", body.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        again["id"], first["id"],
        "an identical retry returns the first charge"
    );

    let mut different = body;
    different["amount"] = json!(999);
    let (status, error) = server.post("/v1/charges", different).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&error, "invalid_request_error");
    assert_eq!(error["error"]["code"], "charge_order_no_used");
    assert_eq!(server.charge_count().await, 1);
}

#[tokio::test]
async fn retrieve_and_list_with_cursors_and_filters() {
    let server = TestServer::start().await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(
            server.qr_charge(100).await["id"]
                .as_str()
                .expect("id")
                .to_owned(),
        );
    }
    server.pay(&ids[0]).await;
    ids.reverse(); // newest first

    let (status, one) = server.get(&format!("/v1/charges/{}", ids[0])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["id"], ids[0].as_str());

    let app = &server.creds.app_id;
    let (status, page) = server
        .get(&format!("/v1/charges?app%5Bid%5D={app}&limit=2"))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["object"], "list");
    assert_eq!(page["url"], "/v1/charges");
    assert_eq!(page["has_more"], true);
    let got: Vec<_> = page["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|c| c["id"].clone())
        .collect();
    assert_eq!(got, vec![json!(ids[0]), json!(ids[1])]);

    let (_, next) = server
        .get(&format!(
            "/v1/charges?app[id]={app}&limit=2&starting_after={}",
            ids[1]
        ))
        .await;
    let got: Vec<_> = next["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|c| c["id"].clone())
        .collect();
    assert_eq!(got, vec![json!(ids[2]), json!(ids[3])]);

    let (_, before) = server
        .get(&format!(
            "/v1/charges?app[id]={app}&limit=2&ending_before={}",
            ids[3]
        ))
        .await;
    let got: Vec<_> = before["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|c| c["id"].clone())
        .collect();
    assert_eq!(got, vec![json!(ids[1]), json!(ids[2])]);

    let (_, paid) = server
        .get(&format!("/v1/charges?app[id]={app}&paid=True"))
        .await;
    assert_eq!(
        paid["data"].as_array().expect("data").len(),
        1,
        "Python sends True"
    );
    assert_eq!(paid["data"][0]["id"], ids[4].as_str());

    let (_, old) = server
        .get(&format!("/v1/charges?app[id]={app}&created[lt]=1000"))
        .await;
    assert_eq!(old["data"], json!([]));

    let (status, error) = server.get("/v1/charges?limit=3").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["error"]["param"], "app[id]");

    let (status, error) = server.get("/v1/charges/ch_doesnotexist000000000000").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error["error"]["param"], "id");
    assert!(assert_error(&error, "invalid_request_error").contains("ch_doesnotexist"));
}

#[tokio::test]
async fn test_mode_payment_succeeds_once_and_records_an_event() {
    let server = TestServer::start().await;
    let charge = server.qr_charge(500).await;
    let id = charge["id"].as_str().expect("id");
    let paid = server.pay(id).await;
    assert_eq!(paid["paid"], true);
    assert_eq!(paid["amount_settle"], 500);
    assert!(paid["time_paid"].is_i64());
    assert!(
        paid["transaction_no"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );
    assert_eq!(
        paid["credential"],
        json!({}),
        "a spent credential is not shown"
    );

    let (status, error) = server
        .post(&format!("/v1/test_helpers/charges/{id}/pay"), json!({}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(assert_error(&error, "invalid_request_error").contains("already paid"));

    let events = server.events(Some("charge.succeeded")).await;
    assert_eq!(events.len(), 1, "paid once, one event");
    let event = &events[0];
    assert!(event["id"].as_str().expect("id").starts_with("evt_"));
    assert_eq!(event["data"]["object"]["id"], id);
    assert_eq!(event["data"]["object"]["paid"], true);
    assert!(
        event["request"]
            .as_str()
            .expect("request id")
            .starts_with("iar_")
    );
    let (status, fetched) = server
        .get(&format!("/v1/events/{}", event["id"].as_str().expect("id")))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(&fetched, event);

    let failing = server.qr_charge(100).await;
    let fid = failing["id"].as_str().expect("id");
    let (status, failed) = server
        .post(
            &format!("/v1/test_helpers/charges/{fid}/pay"),
            json!({"result": "fail"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(failed["paid"], false);
    assert!(failed["failure_code"].is_string());

    let live = server
        .http
        .post(format!("{}/v1/test_helpers/charges/{fid}/pay", server.base))
        .bearer_auth(&server.creds.live_secret_key)
        .json(&json!({}));
    let (status, error) = TestServer::send(live).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(assert_error(&error, "invalid_request_error").contains("test"));
}

#[tokio::test]
async fn mock_pay_page_pays_from_a_browser_form() {
    let server = TestServer::start().await;
    let charge = server.qr_charge(1234).await;
    let url = charge["credential"]["alipay_qr"]
        .as_str()
        .expect("url")
        .to_owned();
    let page = server.http.get(&url).send().await.expect("page");
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.expect("html");
    assert!(
        html.contains("¥12.34") && html.contains("<button"),
        "{html}"
    );

    let id = charge["id"].as_str().expect("id");
    let submitted = server
        .http
        .post(format!("{}/mock/pay", server.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("ch_id={id}&result=success"))
        .send()
        .await
        .expect("submit");
    assert_eq!(submitted.status(), StatusCode::OK);
    let (_, charge) = server.get(&format!("/v1/charges/{id}")).await;
    assert_eq!(charge["paid"], true);
}

#[tokio::test]
async fn reverse_closes_unpaid_and_refunds_paid_isv_charges_only() {
    let server = TestServer::start().await;
    let body = server.charge_body("isv_qr", json!({"terminal_id": "T1", "pay_channel": "wx"}));
    let (_, unpaid) = server.post("/v1/charges", body).await;
    let id = unpaid["id"].as_str().expect("id");
    // SDKs send {}, [] (PHP) or nothing (Go, C#).
    for raw in ["", "[]", "{}"] {
        let (status, reversed) = TestServer::send(
            server
                .request(Method::POST, &format!("/v1/charges/{id}/reverse"))
                .body(raw),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{raw:?}: {reversed}");
        assert_eq!(reversed["reversed"], true);
        assert_eq!(reversed["paid"], false);
    }
    let (status, error) = server
        .post(&format!("/v1/test_helpers/charges/{id}/pay"), json!({}))
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a reversed charge cannot be paid"
    );
    assert!(assert_error(&error, "invalid_request_error").contains("reversed"));

    let body = server.charge_body(
        "isv_scan",
        json!({"terminal_id": "T1", "scan_code": "134567890123456789"}),
    );
    let (_, paid) = server.post("/v1/charges", body).await;
    let pid = paid["id"].as_str().expect("id");
    let (status, reversed) = server
        .post(&format!("/v1/charges/{pid}/reverse"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(reversed["reversed"], true);
    assert_eq!(reversed["refunded"], true);
    assert_eq!(reversed["refunds"]["data"][0]["amount"], 1000);
    let charge = server
        .wait_for(
            &format!("/v1/charges/{pid}"),
            "amount_refunded",
            json!(1000),
        )
        .await;
    assert_eq!(charge["refunds"]["data"][0]["status"], "succeeded");

    let qr = server.qr_charge(100).await;
    let (status, error) = server
        .post(
            &format!("/v1/charges/{}/reverse", qr["id"].as_str().expect("id")),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(assert_error(&error, "invalid_request_error").contains("refund"));
    assert_eq!(server.events(Some("charge.reversed")).await.len(), 2);
}

#[tokio::test]
async fn a_created_charge_survives_kill_9() {
    let mut server = TestServer::start().await;
    let mut ids = Vec::new();
    for _ in 0..20 {
        let body = json!({
            "order_no": order_no(), "app": {"id": server.creds.app_id}, "channel": "alipay_qr",
            "amount": 1, "client_ip": "127.0.0.1", "currency": "cny", "subject": "s", "body": "b",
        });
        let (status, charge) = server.post("/v1/charges", body).await;
        assert_eq!(status, StatusCode::OK);
        ids.push(charge["id"].as_str().expect("id").to_owned());
    }
    server.crash_and_restart().await;
    for id in ids {
        let (status, _) = server.get(&format!("/v1/charges/{id}")).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{id} was acknowledged, so it must survive"
        );
    }
}

#[tokio::test]
async fn a_listed_charge_embeds_the_same_refunds_as_when_retrieved() {
    // Refunds stay pending throughout, so the two reads see the same state.
    let server = TestServer::start_with(&["--test-refund-delay-ms", "600000"]).await;
    let mut ids = Vec::new();
    for refunds in [12, 2, 0] {
        let charge = server.paid_charge(100).await;
        let id = charge["id"].as_str().expect("id").to_owned();
        for _ in 0..refunds {
            let (status, refund) = server
                .post(
                    &format!("/v1/charges/{id}/refunds"),
                    json!({"amount": 1, "description": "part"}),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{refund}");
        }
        ids.push(id);
    }
    let (status, list) = server
        .get(&format!(
            "/v1/charges?app[id]={}&limit=10",
            server.creds.app_id
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    for id in &ids {
        let listed = list["data"]
            .as_array()
            .expect("data")
            .iter()
            .find(|c| c["id"] == id.as_str())
            .expect("listed");
        let (_, retrieved) = server.get(&format!("/v1/charges/{id}")).await;
        assert_eq!(listed["refunds"], retrieved["refunds"], "{id}");
    }
    let first = &list["data"][2];
    assert_eq!(first["refunds"]["data"].as_array().expect("data").len(), 10);
    assert_eq!(first["refunds"]["has_more"], true);
}

#[tokio::test]
async fn a_wechat_qr_expiring_within_five_minutes_is_refused_with_the_channel_minimum() {
    let server = TestServer::start().await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs() as i64;
    let mut body = server.charge_body("wx_pub_qr", json!({"product_id": "p1"}));
    body["time_expire"] = json!(now + 120);
    let (status, error) = server.post("/v1/charges", body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(error["error"]["param"], "time_expire");
    assert!(assert_error(&error, "invalid_request_error").contains("300 seconds"));
    let mut body = server.charge_body("wx_pub_qr", json!({"product_id": "p1"}));
    body["time_expire"] = json!(now + 600);
    let (status, charge) = server.post("/v1/charges", body).await;
    assert_eq!(status, StatusCode::OK, "{charge}");
    // Other channels keep taking a near expiry.
    let mut body = server.charge_body("alipay_qr", json!({}));
    body["time_expire"] = json!(now + 120);
    let (status, charge) = server.post("/v1/charges", body).await;
    assert_eq!(status, StatusCode::OK, "{charge}");
}

#[tokio::test]
async fn a_qr_charge_ends_when_the_channels_code_does() {
    let server = TestServer::start().await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs() as i64;
    // WeChat's and Alipay's QR codes live two hours: by default, and when asked for longer.
    for (channel, extra) in [
        ("alipay_qr", json!({})),
        ("wx_pub_qr", json!({"product_id": "p1"})),
    ] {
        for asked in [None, Some(now + 5 * 86_400)] {
            let mut body = server.charge_body(channel, extra.clone());
            if let Some(at) = asked {
                body["time_expire"] = json!(at);
            }
            let (status, charge) = server.post("/v1/charges", body).await;
            assert_eq!(status, StatusCode::OK, "{charge}");
            let created = charge["created"].as_i64().expect("created");
            assert_eq!(
                charge["time_expire"],
                json!(created + 7200),
                "{channel} {asked:?}"
            );
        }
        // A sooner expiry stays as asked.
        let mut body = server.charge_body(channel, extra.clone());
        body["time_expire"] = json!(now + 3600);
        let (_, charge) = server.post("/v1/charges", body).await;
        assert_eq!(charge["time_expire"], json!(now + 3600), "{channel}");
    }
    // A scan charge has no QR of the channel's to outlive.
    let body = server.charge_body(
        "alipay_scan",
        json!({"scan_code": "286648048691290423", "terminal_id": "T1"}),
    );
    let (_, charge) = server.post("/v1/charges", body).await;
    let created = charge["created"].as_i64().expect("created");
    assert_eq!(charge["time_expire"], json!(created + 86_400));
}
