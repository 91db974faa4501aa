//! The Alipay simulator driven over real HTTP on 127.0.0.1, as the gateway drives Alipay:
//! requests signed with `paymux_channels::alipay::sign_request` and an app key, responses
//! verified with the simulator's public key, notifications received by a tiny HTTP receiver and
//! verified with `verify_notify`.

use axum::body::Bytes;
use axum::extract::State;
use paymux_channels::alipay::{
    ResponseNode, SignedResponse, extract_response, sign_request, verify_notify, verify_response,
};
use paymux_channels::{Params, beijing_time, form};
use paymux_crypto::{SigningKey, VerifyingKey};
use paymux_simulators::alipay::{
    AlipayApp, AlipayConfig, AlipaySimulator, DeliveryState, Knobs, OrderStage, TradeStatus,
    auth_codes,
};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const APP_ID: &str = "2021000000000001";
/// 4 minutes → 2.4 ms; the whole 25-hour schedule → 0.9 s.
const FAST: f64 = 0.00001;

struct Harness {
    sim: AlipaySimulator,
    base: String,
    http: reqwest::Client,
    app_id: String,
    app_key: SigningKey,
    alipay_key: VerifyingKey,
    clock: Arc<AtomicI64>,
}

fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        axum::serve(listener, router).await.expect("serve");
    });
    format!("http://{addr}")
}

impl Harness {
    async fn start() -> Self {
        Self::start_with(|config| config).await
    }

    async fn start_with(adjust: impl FnOnce(AlipayConfig) -> AlipayConfig) -> Self {
        let app_key = SigningKey::generate().expect("app key");
        let clock = Arc::new(AtomicI64::new(wall_ms()));
        let clock_for_sim = clock.clone();
        let config = AlipayConfig::new()
            .with_app(
                AlipayApp::from_pem(APP_ID, &app_key.public_key_pem().expect("pem")).expect("app"),
            )
            .with_clock(move || clock_for_sim.load(Ordering::SeqCst))
            .with_knobs(Knobs {
                notify_time_scale: FAST,
                ..Knobs::default()
            });
        let sim = AlipaySimulator::new(adjust(config));
        let alipay_key = VerifyingKey::from_pem(sim.public_key_pem()).expect("alipay key");
        let base = serve(sim.router()).await;
        Self {
            sim,
            base,
            http: reqwest::Client::builder()
                .no_proxy()
                .build()
                .expect("client"),
            app_id: APP_ID.to_owned(),
            app_key,
            alipay_key,
            clock,
        }
    }

    fn advance(&self, ms: i64) {
        self.clock.fetch_add(ms, Ordering::SeqCst);
    }

    fn common(&self, method: &str) -> Params {
        let timestamp =
            beijing_time::format_dashed(self.clock.load(Ordering::SeqCst) / 1000).expect("time");
        Params::new()
            .with("app_id", &self.app_id)
            .with("method", method)
            .with("charset", "utf-8")
            .with("format", "JSON")
            .with("timestamp", timestamp)
            .with("version", "1.0")
            .with("alipay_sdk", "paymux-test")
    }

    /// Sends `params` as the SDKs do: everything but `biz_content` in the query string,
    /// `biz_content` in the form body.
    async fn send(&self, params: &Params) -> String {
        let (body, query): (Params, Params) =
            params.iter().partition(|(name, _)| *name == "biz_content");
        self.http
            .post(format!("{}/gateway.do?{}", self.base, form::encode(&query)))
            .header(
                "content-type",
                "application/x-www-form-urlencoded;charset=utf-8",
            )
            .body(form::encode(&body))
            .send()
            .await
            .expect("send")
            .text()
            .await
            .expect("body")
    }

    async fn raw_call(&self, method: &str, biz: Value, extra: &[(&str, &str)]) -> String {
        let mut params = self.common(method).with("biz_content", biz.to_string());
        for (name, value) in extra {
            params.insert(*name, *value);
        }
        sign_request(&mut params, &self.app_key);
        self.send(&params).await
    }

    /// A signed call whose answer must verify under the simulator's key and come in the
    /// method node; returns the response object.
    async fn call(&self, method: &str, biz: Value, extra: &[(&str, &str)]) -> Value {
        let body = self.raw_call(method, biz, extra).await;
        let response = verify_response(&body, method, &self.alipay_key)
            .unwrap_or_else(|e| panic!("{method}: {e}: {body}"));
        assert_eq!(response.node, ResponseNode::Method, "{body}");
        serde_json::from_str(response.content).expect("content json")
    }

    async fn control(&self, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let request = match body {
            Some(body) => self.http.post(url).json(&body),
            None => self.http.get(url),
        };
        let response = request.send().await.expect("control");
        let status = response.status().as_u16();
        (status, response.json().await.expect("control json"))
    }

    async fn precreate(&self, out_trade_no: &str, total: &str, notify_url: Option<&str>) -> Value {
        let biz =
            json!({"out_trade_no": out_trade_no, "total_amount": total, "subject": "Iphone6 16G"});
        match notify_url {
            Some(url) => {
                self.call("alipay.trade.precreate", biz, &[("notify_url", url)])
                    .await
            }
            None => self.call("alipay.trade.precreate", biz, &[]).await,
        }
    }

    async fn pay(&self, out_trade_no: &str, auth_code: &str, total: &str) -> Value {
        self.pay_notified(out_trade_no, auth_code, total, None)
            .await
    }

    async fn pay_notified(
        &self,
        out_trade_no: &str,
        auth_code: &str,
        total: &str,
        notify_url: Option<&str>,
    ) -> Value {
        let biz = json!({
            "out_trade_no": out_trade_no, "scene": "bar_code", "auth_code": auth_code,
            "subject": "coffee", "total_amount": total, "product_code": "FACE_TO_FACE_PAYMENT",
        });
        match notify_url {
            Some(url) => {
                self.call("alipay.trade.pay", biz, &[("notify_url", url)])
                    .await
            }
            None => self.call("alipay.trade.pay", biz, &[]).await,
        }
    }

    async fn query(&self, out_trade_no: &str) -> Value {
        self.call(
            "alipay.trade.query",
            json!({"out_trade_no": out_trade_no}),
            &[],
        )
        .await
    }

    async fn refund(
        &self,
        out_trade_no: &str,
        amount: &str,
        out_request_no: Option<&str>,
    ) -> Value {
        let mut biz = json!({"out_trade_no": out_trade_no, "refund_amount": amount});
        if let Some(no) = out_request_no {
            biz["out_request_no"] = json!(no);
        }
        self.call("alipay.trade.refund", biz, &[]).await
    }
}

fn sub_code(response: &Value) -> (&str, &str) {
    (
        response["code"].as_str().unwrap_or_default(),
        response["sub_code"].as_str().unwrap_or_default(),
    )
}

/// A notify_url endpoint: records every body and answers per attempt number.
struct Receiver {
    url: String,
    bodies: Arc<Mutex<Vec<String>>>,
}

type Answers = Arc<dyn Fn(usize) -> &'static str + Send + Sync>;

async fn receiver(answer: impl Fn(usize) -> &'static str + Send + Sync + 'static) -> Receiver {
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let answers: Answers = Arc::new(answer);
    async fn handle(
        State((bodies, answers)): State<(Arc<Mutex<Vec<String>>>, Answers)>,
        body: Bytes,
    ) -> &'static str {
        let mut bodies = bodies.lock().expect("lock");
        bodies.push(String::from_utf8_lossy(&body).into_owned());
        answers(bodies.len() - 1)
    }
    let router = axum::Router::new()
        .route("/notify", axum::routing::post(handle))
        .with_state((bodies.clone(), answers));
    let base = serve(router).await;
    Receiver {
        url: format!("{base}/notify"),
        bodies,
    }
}

impl Receiver {
    fn received(&self) -> Vec<String> {
        self.bodies.lock().expect("lock").clone()
    }
}

async fn eventually(what: &str, condition: impl Fn() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn verified_notify(body: &str, key: &VerifyingKey) -> Params {
    let params = form::parse(body.as_bytes()).expect("form");
    verify_notify(&params, key).expect("notify signature");
    params
}

// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn gateway_refuses_what_alipay_refuses() {
    let h = Harness::start().await;
    let biz = json!({"out_trade_no": "G1", "total_amount": "1.00", "subject": "s"});

    // Signed with another key: 40002 isv.invalid-signature, in a signed error_response.
    let mut params = h
        .common("alipay.trade.precreate")
        .with("biz_content", biz.to_string());
    sign_request(&mut params, &SigningKey::generate().expect("key"));
    let body = h.send(&params).await;
    let response = verify_response(&body, "alipay.trade.precreate", &h.alipay_key)
        .unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(response.node, ResponseNode::Error);
    let content: Value = serde_json::from_str(response.content).expect("json");
    assert_eq!(sub_code(&content), ("40002", "isv.invalid-signature"));
    assert_eq!(content["msg"], "Invalid Arguments");

    // Tampering after signing is caught the same way.
    let mut params = h
        .common("alipay.trade.precreate")
        .with("biz_content", biz.to_string());
    sign_request(&mut params, &h.app_key);
    params.insert("biz_content", biz.to_string().replace("1.00", "0.01"));
    let body = h.send(&params).await;
    assert!(body.contains("isv.invalid-signature"), "{body}");

    // Nothing was created by the refused calls.
    assert!(h.sim.trade(APP_ID, "G1").is_none());

    fn error_of(body: &str) -> (SignedResponse<'_>, Value) {
        let response = extract_response(body, "alipay.trade.precreate").expect("extract");
        assert_eq!(response.node, ResponseNode::Error, "{body}");
        let content = serde_json::from_str(response.content).expect("json");
        (response, content)
    }

    // Unknown app: isv.invalid-app-id, unsigned (Alipay cannot know whose key to use).
    let mut params = h
        .common("alipay.trade.precreate")
        .with("app_id", "2099999999999999")
        .with("biz_content", biz.to_string());
    sign_request(&mut params, &h.app_key);
    let body = h.send(&params).await;
    let (response, content) = error_of(&body);
    assert_eq!(sub_code(&content), ("40002", "isv.invalid-app-id"));
    assert_eq!(response.sign, None);

    // Missing parameters: 40001.
    for (missing, expected) in [
        ("method", "isv.missing-method"),
        ("app_id", "isv.missing-app-id"),
        ("timestamp", "isv.missing-timestamp"),
        ("version", "isv.missing-version"),
    ] {
        let mut params = h
            .common("alipay.trade.precreate")
            .with("biz_content", biz.to_string());
        params.remove(missing);
        sign_request(&mut params, &h.app_key);
        let body = h.send(&params).await;
        let (_, content) = error_of(&body);
        assert_eq!(sub_code(&content), ("40001", expected), "{missing}: {body}");
    }
    let mut unsigned = h.common("alipay.trade.precreate").with("sign_type", "RSA2");
    unsigned.insert("biz_content", biz.to_string());
    let (_, content) = error_of(&h.send(&unsigned).await);
    assert_eq!(sub_code(&content), ("40001", "isv.missing-signature"));

    // Invalid values: 40002.
    for (name, value, expected) in [
        ("timestamp", "2024/01/01 10:00:00", "isv.invalid-timestamp"),
        ("timestamp", "2014-07-24 03:07:50", "isv.invalid-timestamp"),
        ("method", "alipay.trade.nonsense", "isv.invalid-method"),
        ("charset", "ISO-8859-1", "isv.invalid-charset"),
        ("format", "XML", "isv.invalid-format"),
        ("version", "2.0", "isv.invalid-version"),
    ] {
        let mut params = h
            .common("alipay.trade.precreate")
            .with("biz_content", biz.to_string());
        params.insert(name, value);
        sign_request(&mut params, &h.app_key);
        let body = h.send(&params).await;
        let (_, content) = error_of(&body);
        assert_eq!(
            sub_code(&content),
            ("40002", expected),
            "{name}={value}: {body}"
        );
    }
    // RSA (SHA-1) is refused as a sign type.
    let mut params = h
        .common("alipay.trade.precreate")
        .with("biz_content", biz.to_string());
    sign_request(&mut params, &h.app_key);
    params.insert("sign_type", "RSA");
    let (_, content) = error_of(&h.send(&params).await);
    assert_eq!(sub_code(&content), ("40002", "isv.invalid-signature-type"));

    // A request with everything in the form body works as well as the SDK layout.
    let mut params = h
        .common("alipay.trade.precreate")
        .with("biz_content", biz.to_string());
    sign_request(&mut params, &h.app_key);
    let body = h
        .http
        .post(format!("{}/gateway.do", h.base))
        .header(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )
        .body(form::encode(&params))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("text");
    let response = verify_response(&body, "alipay.trade.precreate", &h.alipay_key).expect("verify");
    assert!(response.content.contains(r#""code":"10000""#), "{body}");

    // Business parameters: 40004 ACQ.INVALID_PARAMETER.
    for biz in [
        json!({"out_trade_no": "G2", "total_amount": "1.001", "subject": "s"}),
        json!({"out_trade_no": "G2", "total_amount": "0.00", "subject": "s"}),
        json!({"out_trade_no": "G2", "subject": "s"}),
        json!({"total_amount": "1.00", "subject": "s"}),
        json!({"out_trade_no": "G2", "total_amount": "1.00", "subject": "s", "timeout_express": "16d"}),
    ] {
        let response = h.call("alipay.trade.precreate", biz.clone(), &[]).await;
        assert_eq!(
            sub_code(&response),
            ("40004", "ACQ.INVALID_PARAMETER"),
            "{biz}"
        );
    }
    let response = h
        .call(
            "alipay.trade.precreate",
            json!({"out_trade_no": "G2", "total_amount": "100000000.01", "subject": "s"}),
            &[],
        )
        .await;
    assert_eq!(sub_code(&response), ("40004", "ACQ.TOTAL_FEE_EXCEED"));
}

#[tokio::test]
async fn accepts_the_derived_request_vector_with_the_sdk_test_key() {
    // Vector D6 (docs/channels/alipay.md, "Request signing"), signed with the SDK test key, at its own timestamp.
    const PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA2VCTd91fnUn73Xy9DLvt
/V62TVxRTEEstVdeRaZ3B3leO0pldE806mXO4RwdHXagHQ4vGeZN0yqm++rDsGK+
U3AH7kejyD2pXshNP9Cq5YwbptiLGtjcquw4HNxJQUOmDeJf2vg6byms9RUipiq4
SzbJKqJFlUpbuIPDpSpWz10PYmyCNeDGUUK65E5h2B834uxl1zNLYQCrkdBzb8oU
xwYeP5a2DNxmjL5lsJML7DGr5znsevnoqGRwTm9fxCGfy8wus7hwKz6clt3Whmmd
a7UAdb1c08hEQFVRbF14AR73xbnd8N0obCWJPCbzMCtkaSef4FdEEgEXJiw0VAJT
8wIDAQAB
-----END PUBLIC KEY-----";
    let at = beijing_time::parse_dashed("2014-07-24 03:07:50").expect("time") * 1000;
    let sim = AlipaySimulator::new(
        AlipayConfig::new()
            .with_app(AlipayApp::from_pem("2014072300007148", PUBLIC).expect("app"))
            .with_clock(move || at),
    );
    let base = serve(sim.router()).await;
    let params = Params::new()
        .with("app_id", "2014072300007148")
        .with("biz_content", r#"{"out_trade_no":"20150320010101001","total_amount":"88.88","subject":"Iphone6 16G"}"#)
        .with("charset", "utf-8")
        .with("format", "JSON")
        .with("method", "alipay.trade.precreate")
        .with("notify_url", "http://api.test.alipay.net/atinterface/receive_notify.htm")
        .with("sign_type", "RSA2")
        .with("timestamp", "2014-07-24 03:07:50")
        .with("version", "1.0")
        .with("sign", "TyxEwYGwSCuppWwQzvh1bu7DJcmZtZmp0+PYNP+q2+3xzbuRgnS1ObHbj3qYwuZaCVWfImjo038lwUx5s96lHyRexcrlrciLgA2piyagAU61fkUEbnpbo4njLe2OlkTEnfjVvDM4zMCR0slPDoFPCzlmXJnXghKKG0bvp2ukh03cLJq3qWs3l4JYPhTE8uWRHGhNTweYhJw4JfQIEBsqO9SKM242Fz0thuLKyNsPsiEx1/osT93BawwqAAohAoEVnK5C086HobyQz2nRSJF0PGkF7fcghu15qQRK5/aspaM2oxjUlYWyXP9XE14pvAC7UcIrszCLLUO1WA18kn4coQ==");
    let body = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
        .post(format!("{base}/gateway.do"))
        .header(
            "content-type",
            "application/x-www-form-urlencoded;charset=utf-8",
        )
        .body(form::encode(&params))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("text");
    let key = VerifyingKey::from_pem(sim.public_key_pem()).expect("key");
    let response = verify_response(&body, "alipay.trade.precreate", &key).expect("verify");
    // The field order of D7: code, msg, out_trade_no, qr_code.
    assert!(
        response.content.starts_with(
            r#"{"code":"10000","msg":"Success","out_trade_no":"20150320010101001","qr_code":"https://qr.alipay.com/bax0"#
        ),
        "{body}"
    );
}

#[tokio::test]
async fn precreate_scan_pay_and_notify_with_retries() {
    let h = Harness::start().await;
    let rx = receiver(|attempt| if attempt == 0 { "fail" } else { "success" }).await;

    let response = h.precreate("QR1", "88.88", Some(&rx.url)).await;
    assert_eq!(response["code"], "10000");
    assert_eq!(response["out_trade_no"], "QR1");
    let qr_code = response["qr_code"].as_str().expect("qr").to_owned();
    assert!(qr_code.starts_with("https://qr.alipay.com/"), "{qr_code}");

    // Same request again: same QR code. Different amount: CONTEXT_INCONSISTENT.
    assert_eq!(
        h.precreate("QR1", "88.88", Some(&rx.url)).await["qr_code"],
        qr_code.as_str()
    );
    assert_eq!(
        sub_code(&h.precreate("QR1", "1.00", None).await),
        ("40004", "ACQ.CONTEXT_INCONSISTENT")
    );

    // No trade until the buyer scans.
    assert_eq!(
        sub_code(&h.query("QR1").await),
        ("40004", "ACQ.TRADE_NOT_EXIST")
    );
    let close = h
        .call("alipay.trade.close", json!({"out_trade_no": "QR1"}), &[])
        .await;
    assert_eq!(sub_code(&close), ("40004", "ACQ.TRADE_NOT_EXIST"));
    let (status, order) = h
        .control(&format!("/_sim/orders/QR1?app_id={APP_ID}"), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(order["stage"], "precreated");

    // The buyer scans (HTTP hook): WAIT_BUYER_PAY.
    let (status, scanned) = h
        .control("/_sim/orders/QR1/scan", Some(json!({"app_id": APP_ID})))
        .await;
    assert_eq!(status, 200, "{scanned}");
    assert_eq!(scanned["trade_status"], "WAIT_BUYER_PAY");
    let query = h.query("QR1").await;
    assert_eq!(query["code"], "10000");
    assert_eq!(query["trade_status"], "WAIT_BUYER_PAY");
    assert_eq!(query["total_amount"], "88.88");
    assert_eq!(query["buyer_pay_amount"], "0.00");
    assert!(query.get("send_pay_date").is_none());
    let trade_no = query["trade_no"].as_str().expect("trade_no").to_owned();
    assert!(
        rx.received().is_empty(),
        "nothing is notified for WAIT_BUYER_PAY"
    );

    // The buyer pays (HTTP hook, app_id in the query): TRADE_SUCCESS and a notification.
    let (status, paid) = h
        .control(
            &format!("/_sim/orders/QR1/pay?app_id={APP_ID}"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200, "{paid}");
    assert_eq!(paid["trade_status"], "TRADE_SUCCESS");

    // First answer `fail`, so it comes again (4 minutes × FAST later), then `success` stops it.
    eventually("two deliveries", || rx.received().len() >= 2).await;
    let sim = h.sim.clone();
    eventually("delivered state", || {
        sim.notifications()
            .first()
            .is_some_and(|n| n.state == DeliveryState::Delivered)
    })
    .await;
    let bodies = rx.received();
    assert_eq!(bodies[0], bodies[1], "a redelivery is the same message");
    let notify = verified_notify(&bodies[0], &h.alipay_key);
    for (name, value) in [
        ("notify_type", "trade_status_sync"),
        ("app_id", APP_ID),
        ("auth_app_id", APP_ID),
        ("charset", "utf-8"),
        ("version", "1.0"),
        ("sign_type", "RSA2"),
        ("out_trade_no", "QR1"),
        ("trade_no", trade_no.as_str()),
        ("trade_status", "TRADE_SUCCESS"),
        ("total_amount", "88.88"),
        ("receipt_amount", "88.88"),
        ("buyer_pay_amount", "88.88"),
        ("point_amount", "0.00"),
        ("subject", "Iphone6 16G"),
        (
            "fund_bill_list",
            r#"[{"amount":"88.88","fundChannel":"ALIPAYACCOUNT"}]"#,
        ),
    ] {
        assert_eq!(notify.get(name), Some(value), "{name}");
    }
    for name in [
        "notify_id",
        "notify_time",
        "buyer_id",
        "seller_id",
        "gmt_create",
        "gmt_payment",
    ] {
        assert!(notify.get(name).is_some_and(|v| !v.is_empty()), "{name}");
    }
    let notifications = h.sim.notifications();
    assert_eq!(notifications.len(), 1);
    let attempts = &notifications[0].attempts;
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0].response_body.as_deref(), Some("fail"));
    assert!(!attempts[0].acknowledged && attempts[1].acknowledged);

    // No more attempts after `success` (the next one would be due 10 min × FAST = 6 ms later).
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert_eq!(rx.received().len(), 2);

    // The same list over HTTP.
    let (_, listed) = h
        .control("/_sim/notifications?out_trade_no=QR1", None)
        .await;
    assert_eq!(listed[0]["state"], "delivered");
    assert_eq!(listed[0]["attempts"].as_array().map(Vec::len), Some(2));

    let query = h.query("QR1").await;
    assert_eq!(query["trade_status"], "TRADE_SUCCESS");
    assert_eq!(query["buyer_pay_amount"], "88.88");
    assert!(query["send_pay_date"].is_string());
    assert_eq!(query["fund_bill_list"][0]["fund_channel"], "ALIPAYACCOUNT");
    // Also findable by trade_no.
    let by_trade_no = h
        .call("alipay.trade.query", json!({"trade_no": trade_no}), &[])
        .await;
    assert_eq!(by_trade_no["out_trade_no"], "QR1");

    // Paid trades cannot be closed, paid again, or precreated again.
    let close = h
        .call("alipay.trade.close", json!({"out_trade_no": "QR1"}), &[])
        .await;
    assert_eq!(sub_code(&close), ("40004", "ACQ.TRADE_STATUS_ERROR"));
    assert_eq!(
        sub_code(&h.precreate("QR1", "88.88", None).await),
        ("40004", "ACQ.TRADE_HAS_SUCCESS")
    );
    let (status, _) = h
        .control(
            &format!("/_sim/orders/QR1/pay?app_id={APP_ID}"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 409);
    let (status, _) = h
        .control(
            &format!("/_sim/orders/NOPE/scan?app_id={APP_ID}"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn closing_a_scanned_qr_and_timeouts_follow_the_clock() {
    let h = Harness::start().await;
    let rx = receiver(|_| "success").await;

    h.precreate("C1", "10.00", Some(&rx.url)).await;
    h.sim.scan(APP_ID, "C1").expect("scan");
    let close = h
        .call("alipay.trade.close", json!({"out_trade_no": "C1"}), &[])
        .await;
    assert_eq!(close["code"], "10000", "{close}");
    assert!(close["trade_no"].is_string());
    assert_eq!(h.query("C1").await["trade_status"], "TRADE_CLOSED");
    eventually("close notify", || rx.received().len() == 1).await;
    let notify = verified_notify(&rx.received()[0], &h.alipay_key);
    assert_eq!(notify.get("trade_status"), Some("TRADE_CLOSED"));
    assert!(notify.get("gmt_close").is_some());
    assert!(notify.get("gmt_payment").is_none());
    assert!(h.sim.pay(APP_ID, "C1").is_err());

    // timeout_express counts from the precreate; the trade closes when the clock passes it.
    let biz = json!({"out_trade_no": "C2", "total_amount": "10.00", "subject": "s", "timeout_express": "5m"});
    h.call(
        "alipay.trade.precreate",
        biz,
        &[("notify_url", rx.url.as_str())],
    )
    .await;
    h.sim.scan(APP_ID, "C2").expect("scan");
    h.advance(6 * 60_000);
    assert_eq!(h.query("C2").await["trade_status"], "TRADE_CLOSED");
    eventually("timeout notify", || rx.received().len() == 2).await;

    // An unscanned QR expires after 2 hours.
    h.precreate("C3", "10.00", None).await;
    h.advance(2 * 3_600_000 + 1);
    let (status, body) = h
        .control(
            &format!("/_sim/orders/C3/scan?app_id={APP_ID}"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(
        sub_code(&h.query("C3").await),
        ("40004", "ACQ.TRADE_NOT_EXIST")
    );
}

#[tokio::test]
async fn trade_pay_scripts() {
    let h = Harness::start().await;

    // Immediate success.
    let paid = h.pay("P1", auth_codes::SUCCESS, "12.34").await;
    assert_eq!(paid["code"], "10000", "{paid}");
    assert_eq!(paid["total_amount"], "12.34");
    assert_eq!(paid["buyer_pay_amount"], "12.34");
    assert!(paid["gmt_payment"].is_string() && paid["trade_no"].is_string());
    assert_eq!(paid["fund_bill_list"][0]["amount"], "12.34");
    assert_eq!(
        sub_code(&h.pay("P1", auth_codes::SUCCESS, "12.34").await),
        ("40004", "ACQ.TRADE_HAS_SUCCESS")
    );
    // Any well-formed code pays.
    assert_eq!(
        h.pay("P1b", "281234567890123456", "1.00").await["code"],
        "10000"
    );

    // 10003, then paid on the second query.
    let waiting = h.pay("P2", auth_codes::WAIT_THEN_SUCCESS, "5.00").await;
    assert_eq!(waiting["code"], "10003", "{waiting}");
    assert!(waiting["trade_no"].is_string());
    assert_eq!(h.query("P2").await["trade_status"], "WAIT_BUYER_PAY");
    assert_eq!(h.query("P2").await["trade_status"], "TRADE_SUCCESS");
    assert_eq!(h.query("P2").await["trade_status"], "TRADE_SUCCESS");

    // 10003 forever: the gateway polls, then cancels (action=close).
    assert_eq!(
        h.pay("P3", auth_codes::WAIT_FOREVER, "5.00").await["code"],
        "10003"
    );
    for _ in 0..3 {
        assert_eq!(h.query("P3").await["trade_status"], "WAIT_BUYER_PAY");
    }
    let cancel = h
        .call("alipay.trade.cancel", json!({"out_trade_no": "P3"}), &[])
        .await;
    assert_eq!(cancel["code"], "10000", "{cancel}");
    assert_eq!(cancel["action"], "close");
    assert_eq!(cancel["retry_flag"], "N");
    assert_eq!(h.query("P3").await["trade_status"], "TRADE_CLOSED");
    // Cancelling again gives the same answer; paying again is refused.
    let again = h
        .call("alipay.trade.cancel", json!({"out_trade_no": "P3"}), &[])
        .await;
    assert_eq!(
        (again["code"].as_str(), again["action"].as_str()),
        (Some("10000"), Some("close"))
    );
    assert_eq!(
        sub_code(&h.pay("P3", auth_codes::SUCCESS, "5.00").await),
        ("40004", "ACQ.TRADE_HAS_CLOSE")
    );

    // 20000 while actually paid: query finds it paid; cancel refunds it (action=refund).
    let unknown = h.pay("P4", auth_codes::UNKNOWN_ERROR_PAID, "7.00").await;
    assert_eq!(sub_code(&unknown), ("20000", "isp.unknow-error"));
    assert_eq!(h.query("P4").await["trade_status"], "TRADE_SUCCESS");
    let cancel = h
        .call("alipay.trade.cancel", json!({"out_trade_no": "P4"}), &[])
        .await;
    assert_eq!(cancel["action"], "refund", "{cancel}");
    assert!(cancel["gmt_refund_pay"].is_string());
    assert_eq!(h.query("P4").await["trade_status"], "TRADE_CLOSED");
    let refunds = h.sim.trade(APP_ID, "P4").expect("P4").refunds;
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0].refund_amount, "7.00");

    // ACQ.SYSTEM_ERROR while actually paid.
    let system = h.pay("P5", auth_codes::SYSTEM_ERROR_PAID, "7.00").await;
    assert_eq!(sub_code(&system), ("40004", "ACQ.SYSTEM_ERROR"));
    assert_eq!(h.query("P5").await["trade_status"], "TRADE_SUCCESS");

    // Refusals that create no trade.
    for (code, expected) in [
        (
            auth_codes::AUTH_CODE_INVALID,
            "ACQ.PAYMENT_AUTH_CODE_INVALID",
        ),
        ("123", "ACQ.PAYMENT_AUTH_CODE_INVALID"),
        ("134567890123456789", "ACQ.PAYMENT_AUTH_CODE_INVALID"),
        (
            auth_codes::BALANCE_NOT_ENOUGH,
            "ACQ.BUYER_BALANCE_NOT_ENOUGH",
        ),
    ] {
        assert_eq!(
            sub_code(&h.pay("P6", code, "1.00").await),
            ("40004", expected),
            "{code}"
        );
        assert_eq!(
            sub_code(&h.query("P6").await),
            ("40004", "ACQ.TRADE_NOT_EXIST")
        );
    }
    // …so the same number can then be paid.
    assert_eq!(
        h.pay("P6", auth_codes::SUCCESS, "1.00").await["code"],
        "10000"
    );

    // Cancel when the pay answer was lost before Alipay saw it: voids the number.
    let cancel = h
        .call("alipay.trade.cancel", json!({"out_trade_no": "P7"}), &[])
        .await;
    assert_eq!(
        (cancel["code"].as_str(), cancel["action"].as_str()),
        (Some("10000"), Some("close"))
    );
    assert_eq!(
        sub_code(&h.pay("P7", auth_codes::SUCCESS, "1.00").await),
        ("40004", "ACQ.TRADE_HAS_CLOSE")
    );
    assert_eq!(
        h.sim.trade(APP_ID, "P7").expect("P7").stage,
        OrderStage::Voided
    );

    // retry_flag=Y on a cancel that must be repeated.
    h.sim.update_knobs(|k| k.cancel_retry_next = 1);
    assert_eq!(
        h.pay("P8", auth_codes::WAIT_FOREVER, "1.00").await["code"],
        "10003"
    );
    let busy = h
        .call("alipay.trade.cancel", json!({"out_trade_no": "P8"}), &[])
        .await;
    assert_eq!(sub_code(&busy), ("40004", "ACQ.SYSTEM_ERROR"));
    assert_eq!(busy["retry_flag"], "Y");
    assert_eq!(h.query("P8").await["trade_status"], "WAIT_BUYER_PAY");
    let cancel = h
        .call("alipay.trade.cancel", json!({"out_trade_no": "P8"}), &[])
        .await;
    assert_eq!(
        (cancel["retry_flag"].as_str(), cancel["action"].as_str()),
        (Some("N"), Some("close"))
    );

    // A pending trade the buyer confirms late (hook), then the gateway's cancel refunds it.
    assert_eq!(
        h.pay("P9", auth_codes::WAIT_FOREVER, "3.00").await["code"],
        "10003"
    );
    assert_eq!(
        h.sim.pay(APP_ID, "P9").expect("pay").trade_status,
        Some(TradeStatus::TradeSuccess)
    );
    let cancel = h
        .call("alipay.trade.cancel", json!({"out_trade_no": "P9"}), &[])
        .await;
    assert_eq!(cancel["action"], "refund");
}

#[tokio::test]
async fn refunds_are_idempotent_and_cumulative() {
    let h = Harness::start().await;
    let rx = receiver(|_| "success").await;
    h.pay_notified("R", auth_codes::SUCCESS, "100.00", Some(&rx.url))
        .await;
    eventually("pay notify", || rx.received().len() == 1).await;

    let first = h.refund("R", "30.00", Some("R-1")).await;
    assert_eq!(first["code"], "10000", "{first}");
    assert_eq!(first["fund_change"], "Y");
    assert_eq!(first["refund_fee"], "30.00");
    assert_eq!(first["send_back_fee"], "30.00");

    // The same request again: no money moves, the cumulative fee is unchanged.
    let repeat = h.refund("R", "30.00", Some("R-1")).await;
    assert_eq!(repeat["code"], "10000");
    assert_eq!(repeat["fund_change"], "N");
    assert_eq!(repeat["refund_fee"], "30.00");
    assert_eq!(repeat["gmt_refund_pay"], first["gmt_refund_pay"]);

    // Same number, other amount.
    assert_eq!(
        sub_code(&h.refund("R", "40.00", Some("R-1")).await),
        ("40004", "ACQ.DISCORDANT_REPEAT_REQUEST")
    );
    // Partial refund without out_request_no.
    assert_eq!(
        sub_code(&h.refund("R", "50.00", None).await),
        ("40004", "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL")
    );
    // More than what is left.
    assert_eq!(
        sub_code(&h.refund("R", "70.01", Some("R-2")).await),
        ("40004", "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL")
    );
    assert_eq!(
        sub_code(&h.refund("R", "0", Some("R-2")).await),
        ("40004", "ACQ.REASON_TRADE_REFUND_FEE_ERR")
    );
    assert_eq!(h.query("R").await["trade_status"], "TRADE_SUCCESS");

    // The rest: the trade closes.
    let rest = h.refund("R", "70.00", Some("R-2")).await;
    assert_eq!(rest["fund_change"], "Y", "{rest}");
    assert_eq!(rest["refund_fee"], "100.00");
    assert_eq!(h.query("R").await["trade_status"], "TRADE_CLOSED");
    assert_eq!(
        h.refund("R", "70.00", Some("R-2")).await["fund_change"],
        "N"
    );
    assert_eq!(
        h.refund("R", "30.00", Some("R-1")).await["refund_fee"],
        "100.00"
    );
    assert_eq!(
        sub_code(&h.refund("R", "1.00", Some("R-3")).await),
        ("40004", "ACQ.TRADE_STATUS_ERROR")
    );

    // Each refund was notified: refund_fee (cumulative), out_biz_no, gmt_refund.
    eventually("refund notifies", || rx.received().len() == 3).await;
    let bodies = rx.received();
    let partial = verified_notify(&bodies[1], &h.alipay_key);
    assert_eq!(partial.get("trade_status"), Some("TRADE_SUCCESS"));
    assert_eq!(partial.get("refund_fee"), Some("30.00"));
    assert_eq!(partial.get("out_biz_no"), Some("R-1"));
    assert!(
        partial.get("gmt_refund").is_some_and(|t| t.len() == 23),
        "{partial:?}"
    );
    let full = verified_notify(&bodies[2], &h.alipay_key);
    assert_eq!(full.get("trade_status"), Some("TRADE_CLOSED"));
    assert_eq!(full.get("refund_fee"), Some("100.00"));
    assert_eq!(full.get("out_biz_no"), Some("R-2"));

    // Unpaid and unknown trades.
    h.pay("W", auth_codes::WAIT_FOREVER, "5.00").await;
    assert_eq!(
        sub_code(&h.refund("W", "5.00", None).await),
        ("40004", "ACQ.TRADE_STATUS_ERROR")
    );
    assert_eq!(
        sub_code(&h.refund("NOPE", "5.00", None).await),
        ("40004", "ACQ.TRADE_NOT_EXIST")
    );

    // A full refund without out_request_no uses out_trade_no as the request number.
    h.pay("F", auth_codes::SUCCESS, "8.80").await;
    let full = h.refund("F", "8.80", None).await;
    assert_eq!(
        (full["fund_change"].as_str(), full["refund_fee"].as_str()),
        (Some("Y"), Some("8.80"))
    );
    assert_eq!(h.refund("F", "8.80", None).await["fund_change"], "N");
    let query = h
        .call(
            "alipay.trade.fastpay.refund.query",
            json!({"out_trade_no": "F", "out_request_no": "F"}),
            &[],
        )
        .await;
    assert_eq!(query["refund_amount"], "8.80", "{query}");
}

#[tokio::test]
async fn refund_query_answers_success_for_unknown_requests() {
    let h = Harness::start().await;
    h.pay("Q", auth_codes::SUCCESS, "20.00").await;
    let refund = h
        .call(
            "alipay.trade.refund",
            json!({"out_trade_no": "Q", "refund_amount": "5.00", "out_request_no": "Q-1", "refund_reason": "broken"}),
            &[],
        )
        .await;
    assert_eq!(refund["fund_change"], "Y");

    let known = h
        .call(
            "alipay.trade.fastpay.refund.query",
            json!({"out_trade_no": "Q", "out_request_no": "Q-1"}),
            &[],
        )
        .await;
    assert_eq!(known["code"], "10000");
    assert_eq!(known["refund_amount"], "5.00");
    assert_eq!(known["total_amount"], "20.00");
    assert_eq!(known["refund_status"], "REFUND_SUCCESS");
    assert_eq!(known["refund_reason"], "broken");
    assert_eq!(known["out_request_no"], "Q-1");

    // The quirk: 10000 for a refund that does not exist, with nothing in it.
    let unknown = h
        .call(
            "alipay.trade.fastpay.refund.query",
            json!({"out_trade_no": "Q", "out_request_no": "Q-404"}),
            &[],
        )
        .await;
    assert_eq!(unknown["code"], "10000", "{unknown}");
    assert!(unknown.get("refund_amount").is_none());
    assert!(unknown.get("refund_status").is_none());

    let missing = h
        .call(
            "alipay.trade.fastpay.refund.query",
            json!({"out_trade_no": "Q"}),
            &[],
        )
        .await;
    assert_eq!(sub_code(&missing), ("40004", "ACQ.INVALID_PARAMETER"));
}

#[tokio::test]
async fn knobs_fail_slow_drop_and_duplicate() {
    let h = Harness::start().await;
    let rx = receiver(|_| "success").await;

    // Over HTTP: fail the next trade.pay with 20000, without effect.
    let (status, knobs) = h
        .control(
            "/_sim/knobs",
            Some(json!({"fail_next": 1, "fail_method": "alipay.trade.pay"})),
        )
        .await;
    assert_eq!(status, 200, "{knobs}");
    assert_eq!(knobs["fail_next"], 1);
    // A query does not count.
    assert_eq!(
        sub_code(&h.query("K1").await),
        ("40004", "ACQ.TRADE_NOT_EXIST")
    );
    let failed = h.pay("K1", auth_codes::SUCCESS, "1.00").await;
    assert_eq!(sub_code(&failed), ("20000", "isp.unknow-error"));
    assert_eq!(
        sub_code(&h.query("K1").await),
        ("40004", "ACQ.TRADE_NOT_EXIST")
    );
    assert_eq!(
        h.pay("K1", auth_codes::SUCCESS, "1.00").await["code"],
        "10000"
    );

    // fail_after_effect: the refund happens, the answer is lost; the retry is idempotent.
    h.sim.update_knobs(|k| {
        k.fail_next = 1;
        k.fail_method = None;
        k.fail_after_effect = true;
    });
    let lost = h.refund("K1", "1.00", Some("K1-1")).await;
    assert_eq!(sub_code(&lost), ("20000", "isp.unknow-error"));
    let retry = h.refund("K1", "1.00", Some("K1-1")).await;
    assert_eq!(
        (retry["fund_change"].as_str(), retry["refund_fee"].as_str()),
        (Some("N"), Some("1.00"))
    );

    // Bad knobs are refused.
    let (status, _) = h
        .control("/_sim/knobs", Some(json!({"no_such_knob": 1})))
        .await;
    assert_eq!(status, 400);
    let (status, _) = h
        .control("/_sim/knobs", Some(json!({"notify_time_scale": -1.0})))
        .await;
    assert_eq!(status, 400);

    // Latency.
    h.control(
        "/_sim/knobs",
        Some(json!({"latency_ms": 150, "fail_after_effect": false})),
    )
    .await;
    let started = Instant::now();
    h.query("K1").await;
    assert!(started.elapsed() >= Duration::from_millis(150));
    h.sim.update_knobs(|k| k.latency_ms = 0);

    // Dropped: recorded, never sent.
    h.sim.update_knobs(|k| k.drop_notifications = 1);
    h.pay_notified("K2", auth_codes::SUCCESS, "2.00", Some(&rx.url))
        .await;
    let dropped = h
        .sim
        .notifications()
        .into_iter()
        .find(|n| n.out_trade_no == "K2")
        .expect("recorded");
    assert_eq!(dropped.state, DeliveryState::Dropped);
    // Duplicated: the same message arrives twice.
    h.sim.update_knobs(|k| k.duplicate_notifications = 1);
    h.pay_notified("K3", auth_codes::SUCCESS, "3.00", Some(&rx.url))
        .await;
    eventually("duplicates", || rx.received().len() == 2).await;
    tokio::time::sleep(Duration::from_millis(30)).await;
    let bodies = rx.received();
    assert_eq!(bodies.len(), 2, "the dropped one never arrives");
    assert_eq!(bodies[0], bodies[1]);
    let notify = verified_notify(&bodies[0], &h.alipay_key);
    assert_eq!(notify.get("out_trade_no"), Some("K3"));
    let knobs = h.sim.knobs();
    assert_eq!(
        (knobs.drop_notifications, knobs.duplicate_notifications),
        (0, 0)
    );
}

#[tokio::test]
async fn notifications_stop_after_the_schedule() {
    let h = Harness::start_with(|mut config| {
        config.knobs.notify_time_scale = 0.000_002;
        config
    })
    .await;
    let rx = receiver(|_| "SUCCESS").await; // not exactly `success`
    h.pay_notified("N1", auth_codes::SUCCESS, "1.00", Some(&rx.url))
        .await;
    let sim = h.sim.clone();
    eventually("exhausted", || {
        sim.notifications()
            .first()
            .is_some_and(|n| n.state == DeliveryState::Exhausted)
    })
    .await;
    assert_eq!(rx.received().len(), 8, "1 attempt + 7 redeliveries");
    let notification = &h.sim.notifications()[0];
    assert_eq!(notification.attempts.len(), 8);
    assert!(
        notification
            .attempts
            .iter()
            .all(|a| a.status == Some(200) && !a.acknowledged)
    );
    let ids: Vec<_> = rx
        .received()
        .iter()
        .map(|b| {
            verified_notify(b, &h.alipay_key)
                .get("notify_id")
                .map(str::to_owned)
        })
        .collect();
    assert!(
        ids.windows(2).all(|w| w[0] == w[1]),
        "one notify_id across retries"
    );

    // An unreachable receiver is retried the same way and recorded as errors.
    h.pay_notified(
        "N2",
        auth_codes::SUCCESS,
        "1.00",
        Some("http://127.0.0.1:9/notify"),
    )
    .await;
    eventually("exhausted N2", || {
        sim.notifications()
            .iter()
            .any(|n| n.out_trade_no == "N2" && n.state == DeliveryState::Exhausted)
    })
    .await;
    let unreachable = h
        .sim
        .notifications()
        .into_iter()
        .find(|n| n.out_trade_no == "N2")
        .expect("N2");
    assert!(unreachable.attempts.iter().all(|a| a.error.is_some()));
}

#[tokio::test]
async fn escaped_slashes_still_verify_byte_for_byte() {
    let h = Harness::start_with(|mut config| {
        config.escape_slashes = true;
        config
    })
    .await;
    let body = h
        .raw_call(
            "alipay.trade.precreate",
            json!({"out_trade_no": "E1", "total_amount": "1.00", "subject": "a/b"}),
            &[],
        )
        .await;
    assert!(body.contains(r"https:\/\/qr.alipay.com\/"), "{body}");
    let response = verify_response(&body, "alipay.trade.precreate", &h.alipay_key).expect("verify");
    let content: Value = serde_json::from_str(response.content).expect("json");
    assert!(
        content["qr_code"]
            .as_str()
            .is_some_and(|q| q.starts_with("https://qr.alipay.com/"))
    );
}

/// Alipay takes requests in GBK as well as UTF-8 (`charset=GBK`): the form is GBK bytes
/// percent-encoded, the signature is over the GBK bytes of the sign content, and the answer
/// comes back in GBK, signed over its GBK bytes.
#[tokio::test]
async fn a_request_in_gbk_is_answered_in_gbk() {
    let h = Harness::start().await;
    let gbk = |text: &str| encoding_rs::GBK.encode(text).0.into_owned();
    let biz = json!({"out_trade_no": "GBK0001", "total_amount": "9.90", "subject": "乌龙茶 一盒"});
    let mut params = h
        .common("alipay.trade.precreate")
        .with("charset", "GBK")
        .with("sign_type", "RSA2")
        .with("biz_content", biz.to_string());
    let content = paymux_channels::alipay::request_sign_content(&params);
    params.insert("sign", h.app_key.sign_base64(&gbk(&content)));
    let response = post_gbk(&h, &params).await;
    let content_type = response.headers()["content-type"]
        .to_str()
        .expect("type")
        .to_owned();
    assert!(content_type.ends_with("charset=GBK"), "{content_type}");
    let bytes = response.bytes().await.expect("body");
    let (text, _, bad) = encoding_rs::GBK.decode(&bytes);
    assert!(!bad, "the answer is GBK");
    let answer: Value = serde_json::from_str(&text).expect("json");
    let node = &answer["alipay_trade_precreate_response"];
    assert_eq!(node["code"], "10000", "{text}");
    // The signature covers the node's GBK bytes exactly as sent.
    let start = text.find(":{").expect("node") + 1;
    let end = text.rfind(",\"sign\"").expect("sign");
    let signed = gbk(&text[start..end]);
    let sign = answer["sign"].as_str().expect("sign");
    assert!(
        h.alipay_key.verify_base64(&signed, sign),
        "signed over GBK bytes"
    );
    let trade = h.sim.trade(&h.app_id, "GBK0001").expect("order");
    assert_eq!(trade.subject, "乌龙茶 一盒", "decoded from GBK");

    // Signed over the UTF-8 bytes instead: the signature does not verify.
    let mut wrong = h
        .common("alipay.trade.precreate")
        .with("charset", "GBK")
        .with("sign_type", "RSA2")
        .with(
            "biz_content",
            json!({"out_trade_no": "GBK0002", "total_amount": "1.00", "subject": "茶"}).to_string(),
        );
    let content = paymux_channels::alipay::request_sign_content(&wrong);
    wrong.insert("sign", h.app_key.sign_base64(content.as_bytes()));
    let bytes = post_gbk(&h, &wrong).await.bytes().await.expect("body");
    let (text, _, _) = encoding_rs::GBK.decode(&bytes);
    assert!(text.contains("isv.invalid-signature"), "{text}");
}

/// POSTs `params` as a form in GBK (every byte of every value percent-encoded).
async fn post_gbk(h: &Harness, params: &Params) -> reqwest::Response {
    let encoded: Vec<String> = params
        .iter()
        .map(|(name, value)| {
            let bytes = encoding_rs::GBK.encode(value).0;
            let value: String = bytes.iter().map(|b| format!("%{b:02X}")).collect();
            format!("{name}={value}")
        })
        .collect();
    h.http
        .post(format!("{}/gateway.do", h.base))
        .header(
            "content-type",
            "application/x-www-form-urlencoded;charset=GBK",
        )
        .body(encoded.join("&"))
        .send()
        .await
        .expect("send")
}

/// Alipay notifies in the character set of the request that named `notify_url`: after a GBK
/// precreate the notification says `charset=GBK`, its form is GBK bytes percent-encoded and
/// its signature covers the GBK bytes of the sign content (a merchant configured for GBK, as
/// Alipay's official SDKs are by their `charset`, decodes and verifies it in GBK).
#[tokio::test]
async fn a_request_in_gbk_is_notified_in_gbk() {
    let h = Harness::start().await;
    let rx = receiver(|_| "success").await;
    let gbk = |text: &str| encoding_rs::GBK.encode(text).0.into_owned();
    let biz = json!({"out_trade_no": "GBK0003", "total_amount": "9.90", "subject": "乌龙茶 一盒"});
    let mut params = h
        .common("alipay.trade.precreate")
        .with("charset", "GBK")
        .with("sign_type", "RSA2")
        .with("notify_url", &rx.url)
        .with("biz_content", biz.to_string());
    let content = paymux_channels::alipay::request_sign_content(&params);
    params.insert("sign", h.app_key.sign_base64(&gbk(&content)));
    assert_eq!(post_gbk(&h, &params).await.status(), 200);
    let (status, paid) = h
        .control("/_sim/orders/GBK0003/pay", Some(json!({"app_id": APP_ID})))
        .await;
    assert_eq!(status, 200, "{paid}");

    eventually("the notification", || !rx.received().is_empty()).await;
    let body = rx.received().remove(0);
    let notify = form::parse_with(body.as_bytes(), |bytes| {
        encoding_rs::GBK
            .decode_without_bom_handling_and_without_replacement(&bytes)
            .map(|text| text.into_owned())
    })
    .expect("a GBK form");
    assert_eq!(notify.get("charset"), Some("GBK"));
    assert_eq!(notify.get("subject"), Some("乌龙茶 一盒"));
    let signed = paymux_channels::alipay::notify_sign_content(
        &notify,
        paymux_channels::alipay::NotifySignScope::ExcludeSignType,
    );
    let sign = notify.get("sign").expect("sign");
    assert!(
        h.alipay_key.verify_base64(&gbk(&signed), sign),
        "signed over GBK bytes"
    );
    assert!(
        !h.alipay_key.verify_base64(signed.as_bytes(), sign),
        "not over UTF-8 bytes"
    );
    assert!(
        form::parse(body.as_bytes()).is_err(),
        "not a UTF-8 form: {body}"
    );

    // A UTF-8 request's notifications stay UTF-8.
    h.pay_notified("UTF0001", auth_codes::SUCCESS, "1.00", Some(&rx.url))
        .await;
    eventually("the second notification", || rx.received().len() >= 2).await;
    let notify = verified_notify(&rx.received()[1], &h.alipay_key);
    assert_eq!(notify.get("charset"), Some("utf-8"));
}
