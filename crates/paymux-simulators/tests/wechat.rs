//! The WeChat Pay v2 simulator driven over real HTTP on 127.0.0.1, as the gateway drives it:
//! requests signed and responses verified with `paymux_channels::wechat_v2`, notifications
//! received by a small test server. Time is compressed with the `notify_time_scale` knob or
//! moved by hand with an injected clock; nothing sleeps for real seconds.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use paymux_channels::Params;
use paymux_channels::wechat_v2::{self as v2, ErrorClass, Outcome, SignType};
use paymux_simulators::wechat::{
    Knobs, NotificationKind, NotificationStatus, RefundStatus, TradeState, WechatConfig,
    WechatMerchant, WechatSimulator,
};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::future::IntoFuture;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const APPID: &str = "wx2421b1c4370ec43b";
const MCH: &str = "10000100";
const KEY: &str = "192006250b4c09247ec02edce69f6a2d";
/// A second merchant that only accepts HMAC-SHA256.
const APPID2: &str = "wxd930ea5d5a258f4f";
const MCH2: &str = "10000200";
const KEY2: &str = "a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb";

/// 2024-01-01 00:00:00 UTC, where manual clocks start.
const T0: i64 = 1_704_067_200_000;
const DAY: i64 = 24 * 3_600_000;

fn merchants() -> Vec<WechatMerchant> {
    let mut hmac_only = WechatMerchant::new(APPID2, MCH2, KEY2);
    hmac_only.sign_type = Some(SignType::HmacSha256);
    vec![WechatMerchant::new(APPID, MCH, KEY), hmac_only]
}

fn fast_knobs() -> Knobs {
    Knobs {
        notify_time_scale: 0.001,
        ..Knobs::default()
    }
}

struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    fn new() -> Self {
        Self(Arc::new(AtomicI64::new(T0)))
    }
    fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
    fn config(&self) -> WechatConfig {
        let now = self.0.clone();
        WechatConfig::new(merchants()).with_clock(move || now.load(Ordering::SeqCst))
    }
}

struct Harness {
    sim: WechatSimulator,
    base: String,
    http: reqwest::Client,
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(axum::serve(listener, router).into_future());
    format!("http://{addr}")
}

async fn start(config: WechatConfig) -> Harness {
    let sim = WechatSimulator::new(config);
    let base = serve(sim.router()).await;
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    Harness { sim, base, http }
}

fn nonce() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "n{}x{}",
        N.fetch_add(1, Ordering::Relaxed),
        std::process::id()
    )
}

/// The common fields of a request to merchant 1.
fn req(fields: &[(&str, &str)]) -> Params {
    let mut params = Params::new()
        .with("appid", APPID)
        .with("mch_id", MCH)
        .with("nonce_str", nonce());
    params.extend(fields.iter().copied());
    params
}

fn native(out_trade_no: &str, total_fee: &str, notify_url: &str) -> Params {
    req(&[
        ("body", "QQ公仔"),
        ("out_trade_no", out_trade_no),
        ("total_fee", total_fee),
        ("spbill_create_ip", "14.23.150.211"),
        ("notify_url", notify_url),
        ("trade_type", "NATIVE"),
        ("product_id", "12235413214070356458058"),
        ("attach", "a&b <c>"),
    ])
}

fn micropay(out_trade_no: &str, total_fee: &str, auth_code: &str) -> Params {
    req(&[
        ("body", "收银台"),
        ("out_trade_no", out_trade_no),
        ("total_fee", total_fee),
        ("spbill_create_ip", "14.23.150.211"),
        ("auth_code", auth_code),
        ("device_info", "POS-1"),
    ])
}

fn by_no(out_trade_no: &str) -> Params {
    req(&[("out_trade_no", out_trade_no)])
}

fn get<'a>(params: &'a Params, name: &str) -> &'a str {
    params.get(name).unwrap_or_default()
}

fn outcome(params: &Params) -> Outcome {
    v2::read_outcome(params).expect("envelope")
}

fn assert_success(params: &Params) {
    assert_eq!(outcome(params), Outcome::Success, "{params:?}");
}

/// Asserts `result_code=FAIL` with `err_code`.
fn assert_err(params: &Params, err_code: &str) {
    match outcome(params) {
        Outcome::BusinessFailure { err_code: code, .. } => {
            assert_eq!(code.as_deref(), Some(err_code), "{params:?}");
        }
        other => panic!("expected {err_code}, got {other:?}: {params:?}"),
    }
}

/// Asserts an unsigned `return_code=FAIL` with `return_msg`.
fn assert_comm_fail(body: &str, return_msg: &str) {
    let params = v2::from_xml(body).expect("xml answer");
    assert_eq!(
        v2::verify_response(&params, SignType::Md5, KEY),
        Ok(Outcome::CommunicationFailure {
            return_msg: return_msg.into()
        })
    );
    assert!(params.get("sign").is_none(), "{body}");
}

impl Harness {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn post_raw(&self, path: &str, body: impl Into<reqwest::Body>) -> (u16, String) {
        let response = self
            .http
            .post(self.url(path))
            .body(body)
            .send()
            .await
            .expect("send");
        let status = response.status().as_u16();
        (status, response.text().await.expect("body"))
    }

    /// Signs with `sign_type` under `key`, posts, and verifies the answer the same way.
    async fn call_as(
        &self,
        path: &str,
        mut params: Params,
        sign_type: SignType,
        key: &str,
    ) -> Params {
        v2::sign_request(&mut params, sign_type, key);
        let (status, body) = self
            .post_raw(path, v2::to_xml(&params).expect("encode"))
            .await;
        assert_eq!(status, 200);
        let answer = v2::from_xml(&body).expect("answer is XML");
        v2::verify_response(&answer, sign_type, key).expect("answer verifies");
        answer
    }

    async fn call(&self, path: &str, params: Params) -> Params {
        self.call_as(path, params, SignType::Md5, KEY).await
    }

    async fn query(&self, out_trade_no: &str) -> Params {
        self.call("/pay/orderquery", by_no(out_trade_no)).await
    }

    async fn trade_state(&self, out_trade_no: &str) -> String {
        let answer = self.query(out_trade_no).await;
        assert_success(&answer);
        get(&answer, "trade_state").to_owned()
    }

    async fn json(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.http.request(method, self.url(path));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("send");
        let status = response.status().as_u16();
        (status, response.json().await.expect("json"))
    }

    async fn pay_hook(&self, out_trade_no: &str, body: Value) -> (u16, Value) {
        self.json(
            reqwest::Method::POST,
            &format!("/_sim/orders/{out_trade_no}/pay"),
            Some(body),
        )
        .await
    }

    async fn knobs(&self, patch: Value) -> (u16, Value) {
        self.json(reqwest::Method::POST, "/_sim/knobs", Some(patch))
            .await
    }

    async fn refund(
        &self,
        out_trade_no: &str,
        out_refund_no: &str,
        total: &str,
        fee: &str,
    ) -> Params {
        self.call(
            "/secapi/pay/refund",
            req(&[
                ("out_trade_no", out_trade_no),
                ("out_refund_no", out_refund_no),
                ("total_fee", total),
                ("refund_fee", fee),
            ]),
        )
        .await
    }
}

/// A notify endpoint that records what it receives and answers from a script (then SUCCESS).
#[derive(Clone)]
struct Receiver {
    url: String,
    received: Arc<Mutex<Vec<String>>>,
    answers: Arc<Mutex<VecDeque<(u16, String)>>>,
}

impl Receiver {
    async fn start(answers: Vec<(u16, String)>) -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let answers = Arc::new(Mutex::new(VecDeque::from(answers)));
        let state = (received.clone(), answers.clone());
        type Shared = (Arc<Mutex<Vec<String>>>, Arc<Mutex<VecDeque<(u16, String)>>>);
        let router = Router::new()
            .route(
                "/notify",
                post(
                    |State((received, answers)): State<Shared>, body: Bytes| async move {
                        received
                            .lock()
                            .expect("lock")
                            .push(String::from_utf8_lossy(&body).into_owned());
                        let (status, text) = answers
                            .lock()
                            .expect("lock")
                            .pop_front()
                            .unwrap_or_else(|| (200, v2::notify_success_reply()));
                        (StatusCode::from_u16(status).expect("status"), text)
                    },
                ),
            )
            .with_state(state);
        let base = serve(router).await;
        Self {
            url: format!("{base}/notify"),
            received,
            answers,
        }
    }

    fn received(&self) -> Vec<String> {
        self.received.lock().expect("lock").clone()
    }

    fn answer_next(&self, status: u16, text: String) {
        self.answers.lock().expect("lock").push_back((status, text));
    }
}

/// Polls `probe` every few milliseconds until it gives something (at most 5 s).
async fn eventually<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn envelope_failures_are_answered_as_wechat_does() {
    let h = start(WechatConfig::new(merchants())).await;
    let order = native("E1", "1", "http://127.0.0.1:9/notify");

    // A tampered signature, a missing one, the wrong key: 签名错误, unsigned.
    let mut tampered = order.clone();
    v2::sign_request(&mut tampered, SignType::Md5, KEY);
    tampered.insert("total_fee", "2");
    let (_, body) = h
        .post_raw("/pay/unifiedorder", v2::to_xml(&tampered).expect("xml"))
        .await;
    assert_comm_fail(&body, "签名错误");
    let (_, body) = h
        .post_raw("/pay/unifiedorder", v2::to_xml(&order).expect("xml"))
        .await;
    assert_comm_fail(&body, "签名错误");
    let mut wrong_key = order.clone();
    v2::sign_request(&mut wrong_key, SignType::Md5, KEY2);
    let (_, body) = h
        .post_raw("/pay/unifiedorder", v2::to_xml(&wrong_key).expect("xml"))
        .await;
    assert_comm_fail(&body, "签名错误");
    assert!(h.sim.orders().is_empty(), "nothing was created");

    // The HMAC-only merchant refuses MD5 even when correctly signed.
    let mut md5_to_hmac_only = req(&[("out_trade_no", "X")]);
    md5_to_hmac_only.insert("appid", APPID2);
    md5_to_hmac_only.insert("mch_id", MCH2);
    v2::sign_request(&mut md5_to_hmac_only, SignType::Md5, KEY2);
    let (_, body) = h
        .post_raw(
            "/pay/orderquery",
            v2::to_xml(&md5_to_hmac_only).expect("xml"),
        )
        .await;
    assert_comm_fail(&body, "签名错误");

    // Unsupported sign type, unknown merchant, missing mch_id.
    let mut sha1 = by_no("X");
    sha1.insert("sign_type", "SHA1");
    sha1.insert("sign", "00");
    let (_, body) = h
        .post_raw("/pay/orderquery", v2::to_xml(&sha1).expect("xml"))
        .await;
    assert_comm_fail(&body, "sign_type参数错误");
    let mut stranger = by_no("X");
    stranger.insert("mch_id", "99999999");
    v2::sign_request(&mut stranger, SignType::Md5, KEY);
    let (_, body) = h
        .post_raw("/pay/orderquery", v2::to_xml(&stranger).expect("xml"))
        .await;
    assert_comm_fail(&body, "商户号mch_id不存在");
    let (_, body) = h.post_raw("/pay/orderquery", "<xml><a>1</a></xml>").await;
    assert_comm_fail(&body, "缺少参数mch_id");

    // Malformed bodies and methods.
    let (_, body) = h.post_raw("/pay/orderquery", "<xml><a>1</b></xml>").await;
    assert_comm_fail(&body, "XML格式错误");
    let (_, body) = h
        .post_raw(
            "/pay/orderquery",
            "<!DOCTYPE xml [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><xml><mch_id>&x;</mch_id></xml>",
        )
        .await;
    assert_comm_fail(&body, "XML格式错误");
    let (_, body) = h.post_raw("/pay/orderquery", "  ").await;
    assert_comm_fail(&body, "post数据为空");
    let (_, body) = h.post_raw("/pay/orderquery", vec![0xffu8, 0xfe]).await;
    assert_comm_fail(&body, "编码格式错误，请使用UTF-8编码格式");
    let body = h
        .http
        .get(h.url("/pay/unifiedorder"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert_comm_fail(&body, "请使用post方法");

    // Signed business failures: appid problems, missing and malformed parameters.
    let mut other_app = by_no("X");
    other_app.insert("appid", APPID2);
    assert_err(
        &h.call("/pay/orderquery", other_app).await,
        "APPID_MCHID_NOT_MATCH",
    );
    let mut no_app = by_no("X");
    no_app.insert("appid", "wx0000000000000000");
    assert_err(&h.call("/pay/orderquery", no_app).await, "APPID_NOT_EXIST");
    let mut no_body = order.clone();
    no_body.remove("body");
    let answer = h.call("/pay/unifiedorder", no_body).await;
    assert_err(&answer, "LACK_PARAMS");
    assert_eq!(get(&answer, "err_code_des"), "缺少参数body");
    let mut no_product = order.clone();
    no_product.remove("product_id");
    assert_err(
        &h.call("/pay/unifiedorder", no_product).await,
        "LACK_PARAMS",
    );
    let mut with_query = order.clone();
    with_query.insert("notify_url", "http://127.0.0.1:9/notify?a=1");
    assert_err(
        &h.call("/pay/unifiedorder", with_query).await,
        "PARAM_ERROR",
    );
    let mut zero = order.clone();
    zero.insert("total_fee", "0");
    assert_err(&h.call("/pay/unifiedorder", zero).await, "PARAM_ERROR");
    let mut bad_no = order.clone();
    bad_no.insert("out_trade_no", "has space");
    assert_err(&h.call("/pay/unifiedorder", bad_no).await, "PARAM_ERROR");
    // `detail` lines need an id, a whole quantity and a price in fen.
    for detail in [
        "not json",
        r#"{"goods_detail":[]}"#,
        r#"{"goods_detail":[{"goods_name":"a","quantity":1,"price":100}]}"#,
        r#"{"goods_detail":[{"goods_id":"1","quantity":1,"price":"1.00"}]}"#,
        r#"{"goods_detail":[{"goods_id":"1","quantity":0,"price":100}]}"#,
    ] {
        let mut bad_detail = order.clone();
        bad_detail.insert("detail", detail);
        let answer = h.call("/pay/unifiedorder", bad_detail).await;
        assert_err(&answer, "PARAM_ERROR");
        assert_eq!(
            get(&answer, "err_code_des"),
            "detail参数格式错误",
            "{detail}"
        );
    }
    assert!(h.sim.orders().is_empty());

    // The answer is signed in the request's algorithm.
    let answer = h
        .call_as(
            "/pay/unifiedorder",
            order.clone(),
            SignType::HmacSha256,
            KEY,
        )
        .await;
    assert_success(&answer);
    assert_eq!(
        v2::verify_response(&answer, SignType::Md5, KEY),
        Err(paymux_channels::Error::SignatureMismatch)
    );
    assert_eq!(get(&answer, "appid"), APPID);
    assert_eq!(get(&answer, "mch_id"), MCH);
    assert_eq!(get(&answer, "trade_type"), "NATIVE");
    assert!(get(&answer, "code_url").starts_with("weixin://wxpay/bizpayurl?pr="));
    assert!(get(&answer, "prepay_id").starts_with("wx"));
    let mut hmac = req(&[("out_trade_no", "none")]);
    hmac.insert("appid", APPID2);
    hmac.insert("mch_id", MCH2);
    let answer = h
        .call_as("/pay/orderquery", hmac, SignType::HmacSha256, KEY2)
        .await;
    assert_err(&answer, "ORDERNOTEXIST");
}

#[tokio::test]
async fn native_payment_notifies_until_acknowledged() {
    let h = start(WechatConfig::new(merchants()).with_knobs(fast_knobs())).await;
    let receiver = Receiver::start(vec![
        (200, v2::notify_fail_reply("签名失败")),
        (200, "success".to_owned()),
    ])
    .await;

    let created = h
        .call("/pay/unifiedorder", native("N1", "88", &receiver.url))
        .await;
    assert_success(&created);
    assert_eq!(h.trade_state("N1").await, "NOTPAY");
    let view = h.sim.order(MCH, "N1").expect("order");
    assert_eq!(view.trade_state, TradeState::NotPay);
    assert_eq!(view.code_url.as_deref(), created.get("code_url"));

    // The user scans and pays (over HTTP; mch_id can be left out when unambiguous).
    let (status, paid) = h.pay_hook("N1", json!({})).await;
    assert_eq!(status, 200, "{paid}");
    assert_eq!(paid["trade_state"], "SUCCESS");
    let (status, again) = h.pay_hook("N1", json!({ "mch_id": MCH })).await;
    assert_eq!(status, 409, "{again}");
    let (status, _) = h.pay_hook("NOPE", json!({ "mch_id": MCH })).await;
    assert_eq!(status, 404);

    let query = h.query("N1").await;
    assert_success(&query);
    assert_eq!(get(&query, "trade_state"), "SUCCESS");
    assert_eq!(get(&query, "trade_type"), "NATIVE");
    assert_eq!(get(&query, "total_fee"), "88");
    assert_eq!(get(&query, "attach"), "a&b <c>");
    let transaction_id = get(&query, "transaction_id").to_owned();
    assert_eq!(transaction_id.len(), 28);

    // First answer FAIL, then a 200 that is not the XML reply, then SUCCESS.
    let sim = h.sim.clone();
    let record = eventually("the notification to be acknowledged", || {
        sim.notifications()
            .into_iter()
            .find(|n| n.status == NotificationStatus::Acknowledged)
    })
    .await;
    assert_eq!(record.kind, NotificationKind::Pay);
    assert_eq!(record.out_trade_no, "N1");
    assert_eq!(record.deliveries.len(), 3);
    let acks: Vec<bool> = record.deliveries.iter().map(|d| d.acknowledged).collect();
    assert_eq!(acks, [false, false, true]);
    assert_eq!(
        record.deliveries[0].answer.as_deref(),
        Some(v2::notify_fail_reply("签名失败").as_str())
    );
    // 15 s and 15 s, compressed a thousandfold.
    for pair in record.deliveries.windows(2) {
        assert!(pair[1].at_ms - pair[0].at_ms >= 15, "{pair:?}");
    }

    let bodies = receiver.received();
    assert_eq!(bodies.len(), 3);
    assert!(
        bodies.iter().all(|b| *b == bodies[0]),
        "retries resend the same bytes"
    );
    let notify = v2::from_xml(&bodies[0]).expect("notify xml");
    let sign_type = SignType::of_message(&notify, SignType::Md5).expect("sign type");
    assert_eq!(sign_type, SignType::Md5);
    v2::verify(&notify, sign_type, KEY).expect("notify verifies");
    assert_success(&notify);
    assert_eq!(get(&notify, "out_trade_no"), "N1");
    assert_eq!(get(&notify, "transaction_id"), transaction_id);
    assert_eq!(get(&notify, "total_fee"), "88");
    assert_eq!(get(&notify, "cash_fee"), "88");
    assert_eq!(get(&notify, "attach"), "a&b <c>");
    assert_eq!(get(&notify, "appid"), APPID);
    assert_eq!(get(&notify, "time_end").len(), 14);

    // After SUCCESS nothing more comes (the next retry would have been 30 ms later).
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(receiver.received().len(), 3);

    // The inspection endpoints say the same.
    let (status, list) = h
        .json(
            reqwest::Method::GET,
            "/_sim/notifications?out_trade_no=N1",
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(list[0]["status"], "acknowledged");
    assert_eq!(list[0]["deliveries"].as_array().map(Vec::len), Some(3));
    let (status, order) = h
        .json(
            reqwest::Method::GET,
            &format!("/_sim/orders/N1?mch_id={MCH}"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(order["transaction_id"], transaction_id.as_str());
}

#[tokio::test]
async fn hmac_orders_get_hmac_notifications() {
    let h = start(WechatConfig::new(merchants()).with_knobs(fast_knobs())).await;
    let receiver = Receiver::start(Vec::new()).await;
    let mut order = native("H1", "5", &receiver.url);
    order.insert("appid", APPID2);
    order.insert("mch_id", MCH2);
    assert_success(
        &h.call_as("/pay/unifiedorder", order, SignType::HmacSha256, KEY2)
            .await,
    );
    h.sim.pay(MCH2, "H1").expect("pay");
    let body = eventually("the notify", || receiver.received().into_iter().next()).await;
    let notify = v2::from_xml(&body).expect("xml");
    // The notify says which algorithm it uses, so an MD5-configured adapter still verifies it.
    let sign_type = SignType::of_message(&notify, SignType::Md5).expect("sign type");
    assert_eq!(sign_type, SignType::HmacSha256);
    v2::verify(&notify, sign_type, KEY2).expect("verifies");
}

#[tokio::test]
async fn unifiedorder_reentry_and_closeorder() {
    let h = start(WechatConfig::new(merchants())).await;
    let url = "http://127.0.0.1:9/notify";
    let first = h.call("/pay/unifiedorder", native("R1", "100", url)).await;
    assert_success(&first);

    // Identical parameters (new nonce, other sign type): the same prepay_id and code_url.
    let again = h
        .call_as(
            "/pay/unifiedorder",
            native("R1", "100", url),
            SignType::HmacSha256,
            KEY,
        )
        .await;
    assert_success(&again);
    assert_eq!(again.get("code_url"), first.get("code_url"));
    assert_eq!(again.get("prepay_id"), first.get("prepay_id"));
    assert_ne!(again.get("nonce_str"), first.get("nonce_str"));

    // Different parameters: INVALID_REQUEST; the order is unchanged.
    let changed = h.call("/pay/unifiedorder", native("R1", "101", url)).await;
    assert_err(&changed, "INVALID_REQUEST");
    assert_eq!(h.sim.order(MCH, "R1").map(|o| o.total_fee), Some(100));
    // The number belongs to a NATIVE trade.
    let used = h
        .call("/pay/micropay", micropay("R1", "100", "134567890123456700"))
        .await;
    assert_err(&used, "OUT_TRADE_NO_USED");

    // closeorder: NOTPAY → CLOSED; then everything says closed.
    let closed = h.call("/pay/closeorder", by_no("R1")).await;
    assert_success(&closed);
    assert_eq!(h.trade_state("R1").await, "CLOSED");
    assert_err(&h.call("/pay/closeorder", by_no("R1")).await, "ORDERCLOSED");
    assert_err(
        &h.call("/pay/unifiedorder", native("R1", "100", url)).await,
        "ORDERCLOSED",
    );
    let (status, _) = h.pay_hook("R1", json!({ "mch_id": MCH })).await;
    assert_eq!(status, 409);

    // A paid order: ORDERPAID for re-entry and close.
    assert_success(&h.call("/pay/unifiedorder", native("R2", "100", url)).await);
    h.sim.pay(MCH, "R2").expect("pay");
    assert_err(
        &h.call("/pay/unifiedorder", native("R2", "100", url)).await,
        "ORDERPAID",
    );
    let close_paid = h.call("/pay/closeorder", by_no("R2")).await;
    assert_err(&close_paid, "ORDERPAID");
    assert!(matches!(
        outcome(&close_paid),
        Outcome::BusinessFailure {
            class: ErrorClass::OrderState,
            ..
        }
    ));

    // Unknown orders.
    assert_err(
        &h.call("/pay/closeorder", by_no("R404")).await,
        "ORDERNOTEXIST",
    );
    assert_err(&h.query("R404").await, "ORDERNOTEXIST");
    assert_err(
        &h.call(
            "/pay/orderquery",
            req(&[("transaction_id", "4200000000000000000000000001")]),
        )
        .await,
        "ORDERNOTEXIST",
    );
    // Query by transaction_id works too.
    let paid = h.sim.order(MCH, "R2").expect("order");
    let by_tx = h
        .call(
            "/pay/orderquery",
            req(&[(
                "transaction_id",
                paid.transaction_id.as_deref().unwrap_or_default(),
            )]),
        )
        .await;
    assert_eq!(get(&by_tx, "out_trade_no"), "R2");
    // The same number at another merchant is another order.
    let mut other = native("R2", "100", url);
    other.insert("appid", APPID2);
    other.insert("mch_id", MCH2);
    assert_success(
        &h.call_as("/pay/unifiedorder", other, SignType::HmacSha256, KEY2)
            .await,
    );
    let (status, _) = h.pay_hook("R2", json!({})).await;
    assert_eq!(status, 400, "ambiguous without mch_id");
}

#[tokio::test]
async fn time_expire_closes_unpaid_orders() {
    let clock = ManualClock::new();
    let h = start(clock.config()).await;
    let compact = |ms: i64| paymux_channels::beijing_time::format_compact(ms / 1000).expect("time");
    let mut too_soon = native("T1", "1", "http://127.0.0.1:9/n");
    too_soon.insert("time_expire", compact(T0 + 4 * 60_000));
    assert_err(&h.call("/pay/unifiedorder", too_soon).await, "PARAM_ERROR");
    let mut malformed = native("T1", "1", "http://127.0.0.1:9/n");
    malformed.insert("time_expire", "2024-01-01");
    assert_err(&h.call("/pay/unifiedorder", malformed).await, "PARAM_ERROR");

    let mut order = native("T1", "1", "http://127.0.0.1:9/n");
    order.insert("time_expire", compact(T0 + 10 * 60_000));
    assert_success(&h.call("/pay/unifiedorder", order).await);
    clock.advance(9 * 60_000);
    assert_eq!(h.trade_state("T1").await, "NOTPAY");
    clock.advance(2 * 60_000);
    assert_eq!(h.trade_state("T1").await, "CLOSED");
    assert!(h.sim.pay(MCH, "T1").is_err());

    // The background task notices without being asked.
    let mut order = native("T2", "1", "http://127.0.0.1:9/n");
    order.insert("time_expire", compact(T0 + 20 * 60_000));
    assert_success(&h.call("/pay/unifiedorder", order).await);
    clock.advance(10 * 60_000);
    let sim = h.sim.clone();
    eventually("T2 to close", || {
        sim.orders()
            .into_iter()
            .find(|o| o.out_trade_no == "T2" && o.trade_state == TradeState::Closed)
    })
    .await;
}

#[tokio::test]
async fn micropay_scripts() {
    let h = start(WechatConfig::new(merchants())).await;

    // Succeeds at once.
    let paid = h
        .call("/pay/micropay", micropay("M1", "100", "134567890123456789"))
        .await;
    assert_success(&paid);
    assert_eq!(get(&paid, "trade_type"), "MICROPAY");
    assert_eq!(get(&paid, "total_fee"), "100");
    assert_eq!(get(&paid, "device_info"), "POS-1");
    assert_eq!(get(&paid, "transaction_id").len(), 28);
    assert!(!get(&paid, "openid").is_empty());
    assert_eq!(h.trade_state("M1").await, "SUCCESS");
    // Re-entry after success, and the code is spent.
    assert_err(
        &h.call("/pay/micropay", micropay("M1", "100", "134567890123456789"))
            .await,
        "ORDERPAID",
    );
    assert_err(
        &h.call(
            "/pay/micropay",
            micropay("M1b", "100", "134567890123456789"),
        )
        .await,
        "AUTH_CODE_ERROR",
    );

    // USERPAYING, then SUCCESS after two USERPAYING queries.
    let paying = h
        .call("/pay/micropay", micropay("M2", "100", "130001020000000001"))
        .await;
    assert_err(&paying, "USERPAYING");
    assert_eq!(get(&paying, "err_code_des"), "需要用户输入支付密码");
    assert!(matches!(
        outcome(&paying),
        Outcome::BusinessFailure {
            class: ErrorClass::Unknown,
            ..
        }
    ));
    // A retry of the same call while paying says USERPAYING again.
    assert_err(
        &h.call("/pay/micropay", micropay("M2", "100", "130001020000000001"))
            .await,
        "USERPAYING",
    );
    assert_eq!(h.trade_state("M2").await, "USERPAYING");
    assert_eq!(h.trade_state("M2").await, "USERPAYING");
    let third = h.query("M2").await;
    assert_eq!(get(&third, "trade_state"), "SUCCESS");
    assert_eq!(get(&third, "trade_type"), "MICROPAY");
    assert_eq!(get(&third, "transaction_id").len(), 28);

    // USERPAYING, then PAYERROR.
    assert_err(
        &h.call("/pay/micropay", micropay("M3", "100", "130002010000000001"))
            .await,
        "USERPAYING",
    );
    assert_eq!(h.trade_state("M3").await, "USERPAYING");
    assert_eq!(h.trade_state("M3").await, "PAYERROR");
    assert_err(
        &h.call("/pay/micropay", micropay("M3", "100", "130002010000000001"))
            .await,
        "TRADE_STATE_ERROR",
    );

    // SYSTEMERROR, but the money moved.
    assert_err(
        &h.call("/pay/micropay", micropay("M4", "100", "130004000000000001"))
            .await,
        "SYSTEMERROR",
    );
    assert_eq!(h.trade_state("M4").await, "SUCCESS");
    // SYSTEMERROR, and nothing happened.
    assert_err(
        &h.call("/pay/micropay", micropay("M5", "100", "130005000000000001"))
            .await,
        "SYSTEMERROR",
    );
    assert_err(&h.query("M5").await, "ORDERNOTEXIST");

    // Definite failures create nothing; the same number can try again with a new code.
    for (code, err) in [
        ("130010000000000001", "AUTHCODEEXPIRE"),
        ("130011000000000001", "AUTH_CODE_INVALID"),
        ("130012000000000001", "NOTENOUGH"),
        ("130013000000000001", "NOTSUPORTCARD"),
        ("280000000000000001", "AUTH_CODE_INVALID"),
        ("12345", "AUTH_CODE_INVALID"),
    ] {
        let answer = h.call("/pay/micropay", micropay("M6", "100", code)).await;
        assert_err(&answer, err);
        assert!(matches!(
            outcome(&answer),
            Outcome::BusinessFailure {
                class: ErrorClass::CustomerAction,
                ..
            }
        ));
        assert_err(&h.query("M6").await, "ORDERNOTEXIST");
    }
    assert_success(
        &h.call("/pay/micropay", micropay("M6", "100", "134567890123456006"))
            .await,
    );

    // Over ¥1000 the user has to type the password: one USERPAYING query, then SUCCESS.
    assert_err(
        &h.call(
            "/pay/micropay",
            micropay("M7", "100001", "134567890123456007"),
        )
        .await,
        "USERPAYING",
    );
    assert_eq!(h.trade_state("M7").await, "USERPAYING");
    assert_eq!(h.trade_state("M7").await, "SUCCESS");

    // Missing auth_code.
    let mut no_code = micropay("M8", "1", "x");
    no_code.remove("auth_code");
    assert_err(&h.call("/pay/micropay", no_code).await, "LACK_PARAMS");

    // Micropay never notifies.
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert!(h.sim.notifications().is_empty());
}

#[tokio::test]
async fn micropay_reverse() {
    let h = start(WechatConfig::new(merchants())).await;
    let reverse = |no: &str| h.call("/secapi/pay/reverse", by_no(no));

    // Waiting for the password: reverse says USERPAYING and asks to be called again.
    assert_err(
        &h.call("/pay/micropay", micropay("V1", "100", "130003000000000001"))
            .await,
        "USERPAYING",
    );
    for _ in 0..3 {
        assert_eq!(h.trade_state("V1").await, "USERPAYING");
    }
    let refused = reverse("V1").await;
    assert_err(&refused, "USERPAYING");
    assert_eq!(get(&refused, "recall"), "Y");
    // The user gives up: PAYERROR, and now the reverse goes through.
    let (status, view) = h
        .pay_hook("V1", json!({ "mch_id": MCH, "result": "fail" }))
        .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["trade_state"], "PAYERROR");
    let revoked = reverse("V1").await;
    assert_success(&revoked);
    assert_eq!(get(&revoked, "recall"), "N");
    assert_eq!(h.trade_state("V1").await, "REVOKED");
    assert_success(&reverse("V1").await);
    assert_err(
        &h.call("/pay/micropay", micropay("V1", "100", "130003000000000001"))
            .await,
        "ORDERREVERSED",
    );

    // USERPAYING → SUCCESS after queries, then reversed: revoked and refunded in full.
    assert_err(
        &h.call("/pay/micropay", micropay("V2", "300", "130001010000000002"))
            .await,
        "USERPAYING",
    );
    assert_eq!(h.trade_state("V2").await, "USERPAYING");
    assert_eq!(h.trade_state("V2").await, "SUCCESS");
    let revoked = reverse("V2").await;
    assert_success(&revoked);
    assert_eq!(get(&revoked, "recall"), "N");
    assert_eq!(h.trade_state("V2").await, "REVOKED");
    let view = h.sim.order(MCH, "V2").expect("order");
    assert!(view.refunded_by_reverse);
    assert_err(&h.refund("V2", "VR1", "300", "1").await, "ORDERNOTEXIST");

    // Paid through the hook while waiting, then reversed by transaction_id.
    assert_err(
        &h.call("/pay/micropay", micropay("V3", "100", "130003000000000003"))
            .await,
        "USERPAYING",
    );
    let view = h.sim.pay(MCH, "V3").expect("pay");
    let transaction_id = view.transaction_id.expect("paid");
    let revoked = h
        .call(
            "/secapi/pay/reverse",
            req(&[("transaction_id", &transaction_id)]),
        )
        .await;
    assert_success(&revoked);
    assert_eq!(h.trade_state("V3").await, "REVOKED");

    assert_err(&reverse("V404").await, "ORDERNOTEXIST");
}

#[tokio::test]
async fn reverse_window_is_seven_days() {
    let clock = ManualClock::new();
    let h = start(clock.config()).await;
    assert_success(
        &h.call("/pay/micropay", micropay("W1", "100", "134567890123456001"))
            .await,
    );
    clock.advance(8 * DAY);
    let late = h.call("/secapi/pay/reverse", by_no("W1")).await;
    assert_err(&late, "REVERSE_EXPIRE");
    // A refund still works.
    assert_success(&h.refund("W1", "WR1", "100", "100").await);
}

#[tokio::test]
async fn refunds_settle_and_notify() {
    let clock = ManualClock::new();
    let h = start(clock.config()).await;
    let receiver = Receiver::start(Vec::new()).await;
    assert_success(
        &h.call("/pay/unifiedorder", native("F1", "100", &receiver.url))
            .await,
    );

    // Not paid yet.
    assert_err(&h.refund("F1", "RF0", "100", "10").await, "ORDERNOTEXIST");
    h.sim.pay(MCH, "F1").expect("pay");
    let transaction_id = h
        .sim
        .order(MCH, "F1")
        .and_then(|o| o.transaction_id)
        .expect("paid");

    // Accepted, PROCESSING.
    let mut first = req(&[
        ("out_trade_no", "F1"),
        ("out_refund_no", "RF1"),
        ("total_fee", "100"),
        ("refund_fee", "30"),
        ("notify_url", &receiver.url),
    ]);
    let accepted = h.call("/secapi/pay/refund", first.clone()).await;
    assert_success(&accepted);
    let refund_id = get(&accepted, "refund_id").to_owned();
    assert!(!refund_id.is_empty());
    assert_eq!(get(&accepted, "refund_fee"), "30");
    assert_eq!(get(&accepted, "total_fee"), "100");
    assert_eq!(get(&accepted, "transaction_id"), transaction_id);
    assert_eq!(h.trade_state("F1").await, "REFUND");

    // The same out_refund_no: the same refund, nothing new.
    first.insert("nonce_str", nonce());
    let repeated = h.call("/secapi/pay/refund", first.clone()).await;
    assert_success(&repeated);
    assert_eq!(get(&repeated, "refund_id"), refund_id);
    assert_eq!(h.sim.order(MCH, "F1").map(|o| o.refunds.len()), Some(1));
    // … but not with another amount, and total_fee must be the order's.
    assert_err(&h.refund("F1", "RF1", "100", "31").await, "INVALID_REQUEST");
    assert_err(&h.refund("F1", "RF2", "99", "10").await, "INVALID_REQUEST");
    // Over-refund.
    let over = h.refund("F1", "RF2", "100", "71").await;
    assert_err(&over, "ERROR");
    assert_eq!(get(&over, "err_code_des"), "累计退款金额大于支付金额");
    // The rest, by transaction_id (which wins over a wrong out_trade_no).
    let rest = h
        .call(
            "/secapi/pay/refund",
            req(&[
                ("transaction_id", &transaction_id),
                ("out_trade_no", "WRONG"),
                ("out_refund_no", "RF2"),
                ("total_fee", "100"),
                ("refund_fee", "70"),
                ("notify_url", &receiver.url),
            ]),
        )
        .await;
    assert_success(&rest);
    assert_err(&h.refund("F1", "RF3", "100", "1").await, "ERROR");
    // Nothing is left to refund, yet repeating RF2 still answers the existing refund.
    let rest_again = h.refund("F1", "RF2", "100", "70").await;
    assert_success(&rest_again);
    assert_eq!(get(&rest_again, "refund_id"), get(&rest, "refund_id"));
    assert_err(
        &h.call(
            "/secapi/pay/refund",
            req(&[
                ("transaction_id", "123"),
                ("out_refund_no", "RF4"),
                ("total_fee", "100"),
                ("refund_fee", "1"),
            ]),
        )
        .await,
        "INVALID_TRANSACTIONID",
    );
    assert_err(&h.refund("F404", "RF5", "100", "1").await, "ORDERNOTEXIST");

    // refundquery while PROCESSING, by order.
    let query = h
        .call("/pay/refundquery", req(&[("out_trade_no", "F1")]))
        .await;
    assert_success(&query);
    assert_eq!(get(&query, "refund_count"), "2");
    assert_eq!(get(&query, "total_refund_count"), "2");
    assert_eq!(get(&query, "transaction_id"), transaction_id);
    assert_eq!(get(&query, "out_refund_no_0"), "RF1");
    assert_eq!(get(&query, "refund_id_0"), refund_id);
    assert_eq!(get(&query, "refund_fee_0"), "30");
    assert_eq!(get(&query, "refund_status_0"), "PROCESSING");
    assert_eq!(get(&query, "out_refund_no_1"), "RF2");
    assert_eq!(get(&query, "refund_fee_1"), "70");
    assert_eq!(get(&query, "refund_status_1"), "PROCESSING");
    assert!(query.get("refund_success_time_0").is_none());
    assert!(receiver.received().iter().all(|b| !b.contains("req_info")));

    // Settlement after the delay (5 s by default) of simulated time.
    clock.advance(4_000);
    let query = h
        .call("/pay/refundquery", req(&[("refund_id", &refund_id)]))
        .await;
    assert_eq!(get(&query, "refund_status_0"), "PROCESSING");
    clock.advance(1_000);
    let query = h
        .call("/pay/refundquery", req(&[("out_refund_no", "RF1")]))
        .await;
    assert_success(&query);
    assert_eq!(get(&query, "refund_count"), "1");
    assert_eq!(get(&query, "refund_status_0"), "SUCCESS");
    assert_eq!(get(&query, "refund_recv_accout_0"), "支付用户的零钱");
    assert_eq!(
        get(&query, "refund_success_time_0"),
        paymux_channels::beijing_time::format_dashed((T0 + 5_000) / 1000).expect("time")
    );
    let query = h
        .call(
            "/pay/refundquery",
            req(&[("transaction_id", &transaction_id)]),
        )
        .await;
    assert_eq!(get(&query, "refund_status_1"), "SUCCESS");

    // Refund notifies: no sign, req_info decrypts with the API key.
    let sim = h.sim.clone();
    let refunds = eventually("two acknowledged refund notifies", || {
        let acked: Vec<_> = sim
            .notifications()
            .into_iter()
            .filter(|n| n.kind == NotificationKind::Refund)
            .filter(|n| n.status == NotificationStatus::Acknowledged)
            .collect();
        (acked.len() == 2).then_some(acked)
    })
    .await;
    assert_eq!(refunds[0].out_refund_no.as_deref(), Some("RF1"));
    let bodies: Vec<String> = receiver
        .received()
        .into_iter()
        .filter(|b| b.contains("req_info"))
        .collect();
    assert_eq!(bodies.len(), 2);
    let mut seen = Vec::new();
    for body in bodies {
        let outer = v2::from_xml(&body).expect("xml");
        assert!(outer.get("sign").is_none());
        assert_eq!(get(&outer, "return_code"), "SUCCESS");
        assert_eq!(get(&outer, "appid"), APPID);
        assert_eq!(get(&outer, "mch_id"), MCH);
        let info = v2::decrypt_req_info(get(&outer, "req_info"), KEY).expect("decrypts");
        assert!(v2::decrypt_req_info(get(&outer, "req_info"), KEY2).is_err());
        assert_eq!(get(&info, "refund_status"), "SUCCESS");
        assert_eq!(get(&info, "out_trade_no"), "F1");
        assert_eq!(get(&info, "transaction_id"), transaction_id);
        assert_eq!(get(&info, "total_fee"), "100");
        assert_eq!(get(&info, "refund_request_source"), "API");
        assert_eq!(get(&info, "success_time").len(), 19);
        seen.push((
            get(&info, "out_refund_no").to_owned(),
            get(&info, "refund_fee").to_owned(),
            get(&info, "refund_id").to_owned(),
        ));
    }
    seen.sort();
    assert_eq!(seen[0], ("RF1".into(), "30".into(), refund_id));
    assert_eq!(seen[1].0, "RF2");
    assert_eq!(seen[1].1, "70");

    // refundquery errors.
    assert_err(
        &h.call("/pay/refundquery", req(&[("out_refund_no", "NOPE")]))
            .await,
        "REFUNDNOTEXIST",
    );
    assert_success(
        &h.call("/pay/unifiedorder", native("F2", "1", &receiver.url))
            .await,
    );
    assert_err(
        &h.call("/pay/refundquery", req(&[("out_trade_no", "F2")]))
            .await,
        "REFUNDNOTEXIST",
    );
    assert_err(
        &h.call(
            "/pay/refundquery",
            req(&[("out_trade_no", "F1"), ("offset", "5")]),
        )
        .await,
        "PARAM_ERROR",
    );
    assert_err(&h.call("/pay/refundquery", req(&[])).await, "LACK_PARAMS");
}

#[tokio::test]
async fn refund_cap_paging_bank_card_and_outcomes() {
    let clock = ManualClock::new();
    let h = start(clock.config()).await;

    // 50 refunds at most; refundquery pages them by 10.
    assert_success(
        &h.call(
            "/pay/unifiedorder",
            native("C1", "100", "http://127.0.0.1:9/n"),
        )
        .await,
    );
    h.sim.pay(MCH, "C1").expect("pay");
    for i in 0..50 {
        assert_success(&h.refund("C1", &format!("C1-{i}"), "100", "1").await);
    }
    let capped = h.refund("C1", "C1-50", "100", "1").await;
    assert_err(&capped, "ERROR");
    let page = h
        .call(
            "/pay/refundquery",
            req(&[("out_trade_no", "C1"), ("offset", "20")]),
        )
        .await;
    assert_eq!(get(&page, "total_refund_count"), "50");
    assert_eq!(get(&page, "refund_count"), "10");
    assert_eq!(get(&page, "out_refund_no_0"), "C1-20");
    assert_eq!(get(&page, "out_refund_no_9"), "C1-29");
    assert!(page.get("out_refund_no_10").is_none());

    // Bank-card mode (set over HTTP): days of simulated time.
    let (status, knobs) = h.knobs(json!({ "refund_bank_card": true })).await;
    assert_eq!(status, 200, "{knobs}");
    assert_eq!(knobs["refund_bank_card"], true);
    assert_eq!(knobs["refund_settle_ms"], 5_000, "other knobs are kept");
    assert_success(
        &h.call(
            "/pay/unifiedorder",
            native("C2", "100", "http://127.0.0.1:9/n"),
        )
        .await,
    );
    h.sim.pay(MCH, "C2").expect("pay");
    assert_success(&h.refund("C2", "C2-1", "100", "100").await);
    clock.advance(DAY);
    let status_of = |q: &Params| get(q, "refund_status_0").to_owned();
    let q = h
        .call("/pay/refundquery", req(&[("out_refund_no", "C2-1")]))
        .await;
    assert_eq!(status_of(&q), "PROCESSING");
    assert_eq!(get(&q, "refund_recv_accout_0"), "招商银行信用卡0403");
    clock.advance(2 * DAY);
    let q = h
        .call("/pay/refundquery", req(&[("out_refund_no", "C2-1")]))
        .await;
    assert_eq!(status_of(&q), "SUCCESS");

    // Refunds that end in CHANGE and REFUNDCLOSE; a closed refund frees its amount.
    h.sim.update_knobs(|k| {
        k.refund_bank_card = false;
        k.refund_settle_ms = 1_000;
        k.refund_outcome = paymux_simulators::wechat::RefundOutcome::RefundClose;
    });
    assert_success(
        &h.call(
            "/pay/unifiedorder",
            native("C3", "100", "http://127.0.0.1:9/n"),
        )
        .await,
    );
    h.sim.pay(MCH, "C3").expect("pay");
    assert_success(&h.refund("C3", "C3-1", "100", "100").await);
    clock.advance(1_000);
    let q = h
        .call("/pay/refundquery", req(&[("out_refund_no", "C3-1")]))
        .await;
    assert_eq!(status_of(&q), "REFUNDCLOSE");
    let (_, _) = h.knobs(json!({ "refund_outcome": "CHANGE" })).await;
    assert_success(&h.refund("C3", "C3-2", "100", "100").await);
    clock.advance(1_000);
    let view = h.sim.order(MCH, "C3").expect("order");
    let statuses: Vec<RefundStatus> = view.refunds.iter().map(|r| r.refund_status).collect();
    assert_eq!(statuses, [RefundStatus::RefundClose, RefundStatus::Change]);
    assert_err(&h.refund("C3", "C3-3", "100", "1").await, "ERROR");
}

#[tokio::test]
async fn knobs_systemerror_and_latency() {
    let h = start(WechatConfig::new(merchants())).await;
    assert_success(
        &h.call(
            "/pay/unifiedorder",
            native("K1", "100", "http://127.0.0.1:9/n"),
        )
        .await,
    );

    // The next two calls fail with a signed SYSTEMERROR (the adapter must query).
    let (status, _) = h.knobs(json!({ "fail_next": 2 })).await;
    assert_eq!(status, 200);
    for _ in 0..2 {
        let failed = h.query("K1").await;
        assert_err(&failed, "SYSTEMERROR");
        assert!(matches!(
            outcome(&failed),
            Outcome::BusinessFailure {
                class: ErrorClass::Unknown,
                ..
            }
        ));
    }
    assert_eq!(h.trade_state("K1").await, "NOTPAY");
    assert_eq!(h.sim.knobs().fail_next, 0);

    // Before the effect (default): the refund did not happen.
    h.sim.pay(MCH, "K1").expect("pay");
    h.sim.update_knobs(|k| {
        k.fail_next = 1;
        k.fail_path = Some("/secapi/pay/refund".into());
    });
    assert_success(&h.query("K1").await);
    assert_err(&h.refund("K1", "KR1", "100", "10").await, "SYSTEMERROR");
    assert!(h.sim.order(MCH, "K1").expect("order").refunds.is_empty());

    // After the effect: the refund happened although the answer says SYSTEMERROR; the retry
    // with the same out_refund_no finds it.
    let (status, knobs) = h
        .knobs(json!({ "fail_next": 1, "fail_after_effect": true }))
        .await;
    assert_eq!(status, 200, "{knobs}");
    assert_err(&h.refund("K1", "KR1", "100", "10").await, "SYSTEMERROR");
    assert_eq!(h.sim.order(MCH, "K1").expect("order").refunds.len(), 1);
    let retried = h.refund("K1", "KR1", "100", "10").await;
    assert_success(&retried);
    assert_eq!(h.sim.order(MCH, "K1").expect("order").refunds.len(), 1);

    // Reverse failures ask to be called again.
    h.sim.update_knobs(|k| {
        k.fail_next = 1;
        k.fail_path = None;
        k.fail_after_effect = false;
    });
    let failed = h.call("/secapi/pay/reverse", by_no("K1")).await;
    assert_err(&failed, "SYSTEMERROR");
    assert_eq!(get(&failed, "recall"), "Y");

    // Latency.
    h.knobs(json!({ "latency_ms": 120 })).await;
    let started = Instant::now();
    assert_success(&h.query("K1").await);
    assert!(started.elapsed() >= Duration::from_millis(120));
    h.knobs(json!({ "latency_ms": 0 })).await;

    // Knob validation.
    let (status, _) = h.knobs(json!({ "no_such_knob": 1 })).await;
    assert_eq!(status, 400);
    let (status, _) = h.knobs(json!({ "notify_time_scale": -1 })).await;
    assert_eq!(status, 400);
    let (status, _) = h.knobs(json!([1])).await;
    assert_eq!(status, 400);
    let (status, knobs) = h.json(reqwest::Method::GET, "/_sim/knobs", None).await;
    assert_eq!(status, 200);
    assert_eq!(knobs["latency_ms"], 0);
}

#[tokio::test]
async fn dropped_and_duplicated_notifications() {
    let h = start(WechatConfig::new(merchants()).with_knobs(fast_knobs())).await;
    let receiver = Receiver::start(Vec::new()).await;
    let sim = h.sim.clone();

    // Dropped: the attempts are recorded but never reach the receiver, and are retried.
    h.knobs(json!({ "drop_notifications": true })).await;
    assert_success(
        &h.call("/pay/unifiedorder", native("D1", "1", &receiver.url))
            .await,
    );
    h.sim.pay(MCH, "D1").expect("pay");
    eventually("two dropped attempts", || {
        sim.notifications()
            .first()
            .filter(|n| n.deliveries.len() >= 2)
            .map(|_| ())
    })
    .await;
    assert!(receiver.received().is_empty());
    h.knobs(json!({ "drop_notifications": false })).await;
    let record = eventually("delivery once the network is back", || {
        sim.notifications()
            .into_iter()
            .next()
            .filter(|n| n.status == NotificationStatus::Acknowledged)
    })
    .await;
    assert!(record.deliveries.iter().rev().skip(1).all(|d| d.dropped));
    assert!(
        record
            .deliveries
            .last()
            .is_some_and(|d| !d.dropped && d.acknowledged)
    );
    assert_eq!(receiver.received().len(), 1);

    // Duplicated: every attempt arrives twice, even once acknowledged.
    h.sim.update_knobs(|k| k.duplicate_notifications = true);
    assert_success(
        &h.call("/pay/unifiedorder", native("D2", "1", &receiver.url))
            .await,
    );
    h.sim.pay(MCH, "D2").expect("pay");
    let record = eventually("the duplicated notify", || {
        sim.notifications()
            .into_iter()
            .find(|n| n.out_trade_no == "D2" && n.status == NotificationStatus::Acknowledged)
    })
    .await;
    assert_eq!(record.deliveries.len(), 2);
    assert!(record.deliveries[1].duplicate);
    let bodies: Vec<String> = receiver
        .received()
        .into_iter()
        .filter(|b| v2::from_xml(b).is_ok_and(|p| p.get("out_trade_no") == Some("D2")))
        .collect();
    assert_eq!(bodies.len(), 2);
    assert_eq!(bodies[0], bodies[1]);
}

#[tokio::test]
async fn notifications_give_up_after_sixteen_attempts() {
    let knobs = Knobs {
        notify_time_scale: 0.0,
        ..Knobs::default()
    };
    let h = start(WechatConfig::new(merchants()).with_knobs(knobs)).await;
    let receiver = Receiver::start(Vec::new()).await;
    for _ in 0..20 {
        receiver.answer_next(500, "busy".into());
    }
    assert_success(
        &h.call("/pay/unifiedorder", native("G1", "1", &receiver.url))
            .await,
    );
    h.sim.pay(MCH, "G1").expect("pay");
    let sim = h.sim.clone();
    let record = eventually("giving up", || {
        sim.notifications()
            .into_iter()
            .next()
            .filter(|n| n.status == NotificationStatus::GaveUp)
    })
    .await;
    assert_eq!(record.deliveries.len(), 16);
    assert_eq!(record.deliveries[15].attempt, 15);
    assert_eq!(record.deliveries[0].http_status, Some(500));
    assert_eq!(receiver.received().len(), 16);

    // An unreachable notify_url is recorded as an error, not an answer.
    assert_success(
        &h.call(
            "/pay/unifiedorder",
            native("G2", "1", "http://127.0.0.1:9/n"),
        )
        .await,
    );
    h.sim.pay(MCH, "G2").expect("pay");
    let record = eventually("an attempt on a closed port", || {
        sim.notifications()
            .into_iter()
            .find(|n| n.out_trade_no == "G2" && !n.deliveries.is_empty())
    })
    .await;
    assert!(record.deliveries[0].error.is_some());
    assert!(record.deliveries[0].http_status.is_none());
}
