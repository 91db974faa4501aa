//! The UnionPay simulator at the protocol level: signed form requests in, signed `k=v&…`
//! answers and URL-encoded notifications out, on an injected clock.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use paymux_channels::unionpay::CertificateChain;
use paymux_channels::{Params, form, unionpay};
use paymux_crypto::SigningKey;
use paymux_simulators::unionpay::{
    DeliveryState, FailMode, Knobs, TxnStatus, UnionpayConfig, UnionpayMerchant, UnionpaySimulator,
    qr_nos,
};
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const MER_ID: &str = "777290058110048";
const CERT_ID: &str = "68759663125";
/// 2027-01-15 16:00:00 in Beijing.
const START_MS: i64 = 1_800_000_000_000;
const DAY_MS: i64 = 24 * 3600 * 1000;

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

/// A backUrl that records what it gets and fails the first `fail_first` deliveries.
#[derive(Clone, Default)]
struct Receiver {
    bodies: Arc<Mutex<Vec<Vec<u8>>>>,
    fail_first: Arc<AtomicU32>,
}

async fn receive(State(receiver): State<Receiver>, body: Bytes) -> StatusCode {
    receiver.bodies.lock().expect("lock").push(body.to_vec());
    let left = receiver.fail_first.load(Ordering::SeqCst);
    if left > 0 {
        receiver.fail_first.store(left - 1, Ordering::SeqCst);
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

struct Harness {
    sim: UnionpaySimulator,
    base: String,
    http: reqwest::Client,
    key: SigningKey,
    /// The simulator's root and intermediate, trusted as a merchant trusts UnionPay's.
    chain: CertificateChain,
    clock: Arc<AtomicI64>,
    receiver: Receiver,
    back_url: String,
}

impl Harness {
    async fn start() -> Self {
        let key = SigningKey::generate().expect("key");
        let clock = Arc::new(AtomicI64::new(START_MS));
        let sim_clock = clock.clone();
        let sim = UnionpaySimulator::new(
            UnionpayConfig::new()
                .with_merchant(
                    UnionpayMerchant::from_pem(MER_ID, &key.public_key_pem().expect("pem"))
                        .expect("merchant")
                        .with_cert_id(CERT_ID),
                )
                .with_clock(move || sim_clock.load(Ordering::SeqCst))
                .with_knobs(Knobs {
                    notify_time_scale: 0.0,
                    ..Knobs::default()
                }),
        );
        let chain = CertificateChain::new(
            sim.root_certificate_pem(),
            sim.middle_certificate_pem(),
            false,
        )
        .expect("the simulator's chain");
        let base = serve(sim.router()).await;
        let receiver = Receiver::default();
        let back_url = serve(
            axum::Router::new()
                .route("/notify", axum::routing::post(receive))
                .with_state(receiver.clone()),
        )
        .await;
        Self {
            sim,
            base,
            http: reqwest::Client::new(),
            key,
            chain,
            clock,
            receiver,
            back_url: format!("{back_url}/notify"),
        }
    }

    fn now_secs(&self) -> i64 {
        self.clock.load(Ordering::SeqCst) / 1000
    }

    fn advance(&self, ms: i64) {
        self.clock.fetch_add(ms, Ordering::SeqCst);
    }

    fn txn_time(&self) -> String {
        paymux_channels::beijing_time::format_compact(self.clock.load(Ordering::SeqCst) / 1000)
            .expect("time")
    }

    fn base(&self, txn_type: &str, txn_sub_type: &str, order_id: &str, txn_time: &str) -> Params {
        Params::new()
            .with("version", "5.1.0")
            .with("encoding", "UTF-8")
            .with("signMethod", "01")
            .with("txnType", txn_type)
            .with("txnSubType", txn_sub_type)
            .with("bizType", "000000")
            .with("accessType", "0")
            .with("channelType", "08")
            .with("merId", MER_ID)
            .with("orderId", order_id)
            .with("txnTime", txn_time)
    }

    /// Signs with the merchant key and certId, POSTs, checks the answer's signature.
    async fn send(&self, endpoint: &str, params: Params) -> Params {
        let signed = unionpay::sign(&params, CERT_ID, &self.key).expect("sign");
        self.send_raw(endpoint, &signed).await
    }

    async fn send_raw(&self, endpoint: &str, params: &Params) -> Params {
        let text = self
            .http
            .post(format!("{}/gateway/api/{endpoint}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form::encode(params))
            .send()
            .await
            .expect("post")
            .text()
            .await
            .expect("text");
        let answer = unionpay::parse_response(&text).expect("k=v&…");
        self.chain
            .verify(&answer, self.now_secs())
            .expect("signed under the simulator's certificate");
        assert_eq!(answer.get("certId"), Some(self.sim.cert_id().as_str()));
        assert_eq!(
            answer.get("signPubKeyCert"),
            Some(self.sim.signing_certificate_pem().as_str())
        );
        answer
    }

    async fn apply_qr(&self, order_id: &str, amount: &str) -> Params {
        let params = self
            .base("01", "07", order_id, &self.txn_time())
            .with("txnAmt", amount)
            .with("currencyCode", "156")
            .with("backUrl", &self.back_url);
        self.send("backTransReq.do", params).await
    }

    async fn consume(&self, order_id: &str, qr_no: &str) -> Params {
        let params = self
            .base("01", "06", order_id, &self.txn_time())
            .with("txnAmt", "100")
            .with("currencyCode", "156")
            .with("backUrl", &self.back_url)
            .with("qrNo", qr_no);
        self.send("backTransReq.do", params).await
    }

    async fn query(&self, order_id: &str, txn_time: &str) -> Params {
        let params = self.base("00", "00", order_id, txn_time);
        self.send("queryTrans.do", params).await
    }

    async fn refund(&self, order_id: &str, orig_qry_id: &str, amount: i64) -> Params {
        let params = self
            .base("04", "00", order_id, &self.txn_time())
            .with("txnAmt", amount.to_string())
            .with("origQryId", orig_qry_id)
            .with("backUrl", &self.back_url);
        self.send("backTransReq.do", params).await
    }

    async fn cancel(&self, order_id: &str, orig_qry_id: &str, amount: i64) -> Params {
        let params = self
            .base("31", "00", order_id, &self.txn_time())
            .with("txnAmt", amount.to_string())
            .with("origQryId", orig_qry_id);
        self.send("backTransReq.do", params).await
    }

    /// Waits (real time) for `n` notification bodies, verified and decoded.
    async fn notifications(&self, n: usize) -> Vec<Params> {
        for _ in 0..300 {
            let bodies = self.receiver.bodies.lock().expect("lock").clone();
            if bodies.len() >= n {
                return bodies
                    .iter()
                    .map(|body| {
                        let params = form::parse(body).expect("a URL-encoded form");
                        self.chain.verify(&params, self.now_secs()).expect("signed");
                        params
                    })
                    .collect();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("fewer than {n} notifications arrived");
    }
}

fn code(answer: &Params) -> &str {
    answer.get("respCode").unwrap_or_default()
}

#[tokio::test]
async fn requests_that_unionpay_would_refuse_are_refused() {
    let h = Harness::start().await;
    let time = h.txn_time();
    let qr = |h: &Harness| {
        h.base("01", "07", "ORDER0001", &time)
            .with("txnAmt", "100")
            .with("currencyCode", "156")
            .with("backUrl", &h.back_url)
    };
    // Signed with another key.
    let other = SigningKey::generate().expect("key");
    let forged = unionpay::sign(&qr(&h), CERT_ID, &other).expect("sign");
    assert_eq!(code(&h.send_raw("backTransReq.do", &forged).await), "11");
    // The right key under another certId.
    let wrong_cert = unionpay::sign(&qr(&h), "1", &h.key).expect("sign");
    assert_eq!(
        code(&h.send_raw("backTransReq.do", &wrong_cert).await),
        "11"
    );
    // A signature that no longer matches the fields.
    let mut tampered = unionpay::sign(&qr(&h), CERT_ID, &h.key).expect("sign");
    tampered.insert("txnAmt", "1");
    assert_eq!(code(&h.send_raw("backTransReq.do", &tampered).await), "11");
    // Unsigned.
    let mut unsigned = unionpay::sign(&qr(&h), CERT_ID, &h.key).expect("sign");
    unsigned.remove("signature");
    assert_eq!(code(&h.send_raw("backTransReq.do", &unsigned).await), "13");
    // Unknown merchant.
    let answer = h
        .send("backTransReq.do", qr(&h).with("merId", "777290058119999"))
        .await;
    assert_eq!(code(&answer), "31");
    // Wrong version, wrong signMethod.
    let old = unionpay::sign(&qr(&h), CERT_ID, &h.key)
        .expect("sign")
        .with("version", "5.0.0");
    assert_eq!(code(&h.send_raw("backTransReq.do", &old).await), "10");
    let mut sm3 = unionpay::sign(&qr(&h), CERT_ID, &h.key).expect("sign");
    sm3.insert("signMethod", "12");
    assert_eq!(code(&h.send_raw("backTransReq.do", &sm3).await), "10");
    // Missing the transaction's own field.
    let mut no_amount = qr(&h);
    no_amount.remove("txnAmt");
    assert_eq!(code(&h.send("backTransReq.do", no_amount).await), "13");
    // A query sent to backTransReq.do, a transaction this simulator does not offer.
    let query = h.base("00", "00", "ORDER0001", &time);
    assert_eq!(code(&h.send("backTransReq.do", query).await), "32");
    let front = h.base("01", "01", "ORDER0001", &time).with("txnAmt", "100");
    assert_eq!(code(&h.send("backTransReq.do", front).await), "32");
    // Not a QR payment (bizType), not a direct merchant (accessType), no such channelType.
    let gateway_pay = qr(&h).with("bizType", "000201");
    assert_eq!(code(&h.send("backTransReq.do", gateway_pay).await), "32");
    let acquirer = qr(&h).with("accessType", "1");
    assert_eq!(code(&h.send("backTransReq.do", acquirer).await), "10");
    let channel = qr(&h).with("channelType", "99");
    assert_eq!(code(&h.send("backTransReq.do", channel).await), "10");
    // Nothing was created by any of it.
    assert!(h.sim.txn(MER_ID, "ORDER0001").is_none());
    // And the well-formed request goes through, answering the echoed fields.
    let answer = h.send("backTransReq.do", qr(&h)).await;
    assert_eq!(code(&answer), "00");
    assert_eq!(answer.get("orderId"), Some("ORDER0001"));
    assert_eq!(answer.get("merId"), Some(MER_ID));
    assert_eq!(answer.get("version"), Some("5.1.0"));
    assert_eq!(answer.get("signMethod"), Some("01"));
}

#[tokio::test]
async fn a_qr_order_is_no_transaction_until_paid_then_notified_and_queryable() {
    let h = Harness::start().await;
    let time = h.txn_time();
    let params = h
        .base("01", "07", "QRORDER01", &time)
        .with("txnAmt", "250")
        .with("currencyCode", "156")
        .with("backUrl", &h.back_url)
        .with("reqReserved", "cart=42");
    let answer = h.send("backTransReq.do", params).await;
    assert_eq!(code(&answer), "00");
    assert_eq!(answer.get("reqReserved"), Some("cart=42"), "echoed");
    let qr_code = answer.get("qrCode").expect("qrCode");
    assert!(qr_code.starts_with("https://qr.95516.com/"), "{qr_code}");
    assert!(answer.get("queryId").is_none(), "no transaction yet");
    assert_eq!(code(&h.query("QRORDER01", &time).await), "34");
    // The same orderId again.
    assert_eq!(code(&h.apply_qr("QRORDER01", "250").await), "12");

    // The payer pays, over the control endpoint.
    let paid = h
        .http
        .post(format!("{}/_sim/orders/QRORDER01/pay", h.base))
        .send()
        .await
        .expect("pay");
    assert_eq!(paid.status(), 200);
    let notes = h.notifications(1).await;
    let note = &notes[0];
    assert_eq!(note.get("respCode"), Some("00"));
    assert_eq!(note.get("txnType"), Some("01"));
    assert_eq!(note.get("orderId"), Some("QRORDER01"));
    assert_eq!(note.get("txnAmt"), Some("250"));
    assert_eq!(note.get("reqReserved"), Some("cart=42"), "handed back");
    let query_id = note.get("queryId").expect("queryId");
    assert_eq!(query_id.len(), 21);

    let query = h.query("QRORDER01", &time).await;
    assert_eq!(code(&query), "00");
    assert_eq!(query.get("origRespCode"), Some("00"));
    assert_eq!(query.get("queryId"), Some(query_id));
    // The query names the transaction by orderId and txnTime together.
    assert_eq!(code(&h.query("QRORDER01", "20270115150000").await), "34");
    assert_eq!(code(&h.query("QRORDER99", &time).await), "34");
    let sent = h.sim.notifications();
    assert_eq!(sent[0].state, DeliveryState::Delivered);
}

#[tokio::test]
async fn the_signing_certificate_is_replaced_under_the_same_chain() {
    let h = Harness::start().await;
    let certificates = |path: &'static str| {
        let request = if path.ends_with("rotate") {
            h.http.post(format!("{}{path}", h.base))
        } else {
            h.http.get(format!("{}{path}", h.base))
        };
        async move {
            let response = request.send().await.expect("control");
            assert_eq!(response.status(), 200);
            response.json::<serde_json::Value>().await.expect("json")
        }
    };
    let before = certificates("/_sim/certificates").await;
    assert_eq!(before["root"], h.sim.root_certificate_pem());
    assert_eq!(before["middle"], h.sim.middle_certificate_pem());
    assert_eq!(before["cert_id"], "69629715588");
    let old_key = h.sim.public_key_pem();

    let after = certificates("/_sim/certificates/rotate").await;
    assert_eq!(after["root"], before["root"]);
    assert_eq!(after["middle"], before["middle"]);
    assert_eq!(after["cert_id"], "69629715589", "the next serial");
    assert_ne!(after["signing"], before["signing"]);
    assert_ne!(h.sim.public_key_pem(), old_key, "a new key");
    // Answers and notifications now carry the new certificate and verify under the same chain
    // (`send` checks both), and no longer under the old key.
    let answer = h.apply_qr("ROTATED01", "100").await;
    assert_eq!(code(&answer), "00");
    assert_eq!(answer.get("certId"), Some("69629715589"));
    let old = paymux_channels::keys::verifying_key(&old_key).expect("key");
    assert!(unionpay::verify(&answer, &old).is_err());
    h.sim.pay(MER_ID, "ROTATED01", false).expect("pay");
    let notes = h.notifications(1).await;
    assert_eq!(notes[0].get("certId"), Some("69629715589"));
}

#[tokio::test]
async fn an_unpaid_qr_dies_at_its_pay_timeout() {
    let h = Harness::start().await;
    let expire =
        paymux_channels::beijing_time::format_compact(START_MS / 1000 + 600).expect("time");
    let params = h
        .base("01", "07", "QRORDER02", &h.txn_time())
        .with("txnAmt", "100")
        .with("currencyCode", "156")
        .with("backUrl", &h.back_url)
        .with("payTimeout", expire);
    assert_eq!(code(&h.send("backTransReq.do", params).await), "00");
    h.advance(601_000);
    assert!(h.sim.pay(MER_ID, "QRORDER02", false).is_err());
    let txn = h.sim.txn(MER_ID, "QRORDER02").expect("txn");
    assert_eq!(txn.status, TxnStatus::Expired);
}

#[tokio::test]
async fn consumer_codes_follow_their_scripts() {
    let h = Harness::start().await;
    let time = h.txn_time();
    let ok = h.consume("SCAN00001", qr_nos::SUCCESS).await;
    assert_eq!(code(&ok), "00");
    assert!(ok.get("queryId").is_some());

    let wait = h.consume("SCAN00002", qr_nos::WAIT_THEN_SUCCESS).await;
    assert_eq!(code(&wait), "05");
    let query = h.query("SCAN00002", &time).await;
    assert_eq!(query.get("origRespCode"), Some("05"));
    h.advance(10_000);
    let query = h.query("SCAN00002", &time).await;
    assert_eq!(query.get("origRespCode"), Some("00"), "paid 10 s later");

    let time_forever = h.txn_time();
    assert_eq!(
        code(&h.consume("SCAN00003", qr_nos::WAIT_FOREVER).await),
        "05"
    );
    h.advance(3_600_000);
    let time_now = h.txn_time();
    let query = h.query("SCAN00003", &time_forever).await;
    assert_eq!(query.get("origRespCode"), Some("05"), "never completes");

    assert_eq!(code(&h.consume("SCAN00004", qr_nos::DECLINED).await), "64");
    let query = h.query("SCAN00004", &time_now).await;
    assert_eq!(query.get("origRespCode"), Some("64"));

    let unknown = h.consume("SCAN00005", qr_nos::UNKNOWN_PAID).await;
    assert_eq!(code(&unknown), "03");
    let query = h.query("SCAN00005", &time_now).await;
    assert_eq!(query.get("origRespCode"), Some("00"), "it went through");

    assert_eq!(code(&h.consume("SCAN00006", "1234").await), "10");
    assert_eq!(code(&h.consume("SCAN00001", qr_nos::SUCCESS).await), "12");
    // SUCCESS, WAIT_THEN_SUCCESS (once complete) and UNKNOWN_PAID were notified.
    let notes = h.notifications(3).await;
    assert!(notes.iter().all(|n| n.get("respCode") == Some("00")));
}

#[tokio::test]
async fn refunds_are_partial_and_cumulative_and_settle_by_notification() {
    let h = Harness::start().await;
    let paid = h.consume("PAY000001", qr_nos::SUCCESS).await;
    let pay_qid = paid.get("queryId").expect("queryId").to_owned();
    let first = h.refund("REFUND001", &pay_qid, 60).await;
    assert_eq!(code(&first), "00", "accepted");
    let refund_qid = first.get("queryId").expect("its own queryId").to_owned();
    assert_ne!(refund_qid, pay_qid);
    // 60 + 50 > 100: over what is left.
    assert_eq!(code(&h.refund("REFUND002", &pay_qid, 50).await), "33");
    assert_eq!(code(&h.refund("REFUND003", &pay_qid, 40).await), "00");
    assert_eq!(code(&h.refund("REFUND004", &pay_qid, 1).await), "33");
    assert_eq!(
        code(&h.refund("REFUND005", "202701010000000000000", 1).await),
        "35"
    );
    // A repeated refund orderId.
    assert_eq!(code(&h.refund("REFUND001", &pay_qid, 1).await), "12");

    let query = h.query("REFUND001", &h.txn_time()).await;
    assert_eq!(query.get("origRespCode"), Some("00"));
    assert_eq!(query.get("queryId"), Some(refund_qid.as_str()));
    assert_eq!(query.get("origQryId"), Some(pay_qid.as_str()));
    // The payment's notification, then one per refund.
    let notes = h.notifications(3).await;
    let refund_note = notes
        .iter()
        .find(|n| n.get("orderId") == Some("REFUND001"))
        .expect("refund notified");
    assert_eq!(refund_note.get("txnType"), Some("04"));
    assert_eq!(refund_note.get("origQryId"), Some(pay_qid.as_str()));
    assert_eq!(refund_note.get("txnAmt"), Some("60"));
    assert_eq!(
        h.sim.txn(MER_ID, "PAY000001").expect("payment").refunded,
        100
    );
}

#[tokio::test]
async fn a_card_refund_stays_processing_for_a_day() {
    let h = Harness::start().await;
    let paid = h.consume("PAY000002", qr_nos::CARD).await;
    let pay_qid = paid.get("queryId").expect("queryId").to_owned();
    let time = h.txn_time();
    assert_eq!(code(&h.refund("REFUND010", &pay_qid, 100).await), "00");
    h.advance(DAY_MS - 1_000);
    let query = h.query("REFUND010", &time).await;
    assert_eq!(
        query.get("origRespCode"),
        Some("05"),
        "on its way to the card"
    );
    h.advance(1_000);
    let query = h.query("REFUND010", &time).await;
    assert_eq!(query.get("origRespCode"), Some("00"), "arrived");
    let notes = h.notifications(2).await;
    assert!(notes.iter().any(|n| n.get("orderId") == Some("REFUND010")));
}

#[tokio::test]
async fn a_cancel_undoes_a_payment_of_the_same_day_only() {
    let h = Harness::start().await;
    let paid = h.consume("PAY000003", qr_nos::SUCCESS).await;
    let pay_qid = paid.get("queryId").expect("queryId").to_owned();
    assert_eq!(code(&h.cancel("CANCEL001", &pay_qid, 99).await), "36");
    let cancel = h.cancel("CANCEL002", &pay_qid, 100).await;
    assert_eq!(code(&cancel), "00");
    assert!(cancel.get("queryId").is_some());
    assert_eq!(
        h.sim.txn(MER_ID, "PAY000003").expect("payment").status,
        TxnStatus::Cancelled
    );
    assert_eq!(code(&h.refund("REFUND020", &pay_qid, 1).await), "35");
    assert_eq!(code(&h.cancel("CANCEL003", &pay_qid, 100).await), "35");

    let other = h.consume("PAY000004", qr_nos::SUCCESS).await;
    let other_qid = other.get("queryId").expect("queryId").to_owned();
    h.advance(DAY_MS);
    assert_eq!(
        code(&h.cancel("CANCEL004", &other_qid, 100).await),
        "35",
        "the next day"
    );
    assert_eq!(
        code(&h.refund("REFUND021", &other_qid, 100).await),
        "00",
        "refund instead"
    );
}

#[tokio::test]
async fn a_reversal_ends_an_open_payment_and_voids_an_unseen_order() {
    let h = Harness::start().await;
    let time = h.txn_time();
    assert_eq!(
        code(&h.consume("PAY000005", qr_nos::WAIT_FOREVER).await),
        "05"
    );
    let reverse = |order_id: &str, time: &str| h.base("99", "01", order_id, time);
    assert_eq!(
        code(&h.send("backTransReq.do", reverse("PAY000005", &time)).await),
        "00"
    );
    let query = h.query("PAY000005", &time).await;
    assert_eq!(query.get("origRespCode"), Some("01"), "reversed");
    // A repeat answers the same.
    assert_eq!(
        code(&h.send("backTransReq.do", reverse("PAY000005", &time)).await),
        "00"
    );
    // Another txnTime is another transaction.
    let wrong = reverse("PAY000005", "20270115150000");
    assert_eq!(code(&h.send("backTransReq.do", wrong).await), "35");

    // A payment that never reached UnionPay: reversed anyway, and the orderId is spent.
    assert_eq!(
        code(&h.send("backTransReq.do", reverse("PAY000006", &time)).await),
        "00"
    );
    assert_eq!(code(&h.consume("PAY000006", qr_nos::SUCCESS).await), "12");
    assert_eq!(code(&h.query("PAY000006", &time).await), "34");

    // A successful one is undone (money back).
    assert_eq!(code(&h.consume("PAY000007", qr_nos::SUCCESS).await), "00");
    assert_eq!(
        code(&h.send("backTransReq.do", reverse("PAY000007", &time)).await),
        "00"
    );
    assert_eq!(
        h.sim.txn(MER_ID, "PAY000007").expect("txn").status,
        TxnStatus::Reversed
    );
}

#[tokio::test]
async fn knobs_fail_calls_and_notifications_are_retried_until_200() {
    let h = Harness::start().await;
    h.sim.update_knobs(|k| {
        k.fail_next = 1;
        k.fail_mode = FailMode::Http500;
    });
    let params = h
        .base("01", "06", "PAY000008", &h.txn_time())
        .with("txnAmt", "100")
        .with("currencyCode", "156")
        .with("backUrl", &h.back_url)
        .with("qrNo", qr_nos::SUCCESS);
    let signed = unionpay::sign(&params, CERT_ID, &h.key).expect("sign");
    let status = h
        .http
        .post(format!("{}/gateway/api/backTransReq.do", h.base))
        .body(form::encode(&signed))
        .send()
        .await
        .expect("post")
        .status();
    assert_eq!(status, 500);
    assert!(h.sim.txn(MER_ID, "PAY000008").is_none(), "not carried out");

    // Over HTTP: 03 for the next call, which is carried out all the same.
    let knobs = h
        .http
        .post(format!("{}/_sim/knobs", h.base))
        .body(r#"{"fail_next": 1, "fail_mode": "unknown", "fail_after_effect": true}"#)
        .send()
        .await
        .expect("knobs");
    assert_eq!(knobs.status(), 200);
    h.receiver.fail_first.store(2, Ordering::SeqCst);
    assert_eq!(code(&h.consume("PAY000009", qr_nos::SUCCESS).await), "03");
    assert_eq!(
        h.sim.txn(MER_ID, "PAY000009").expect("txn").status,
        TxnStatus::Succeeded
    );
    // The notification: 500, 500, then 200.
    h.notifications(3).await;
    for _ in 0..100 {
        if h.sim.notifications()[0].state == DeliveryState::Delivered {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let sent = &h.sim.notifications()[0];
    assert_eq!(sent.state, DeliveryState::Delivered);
    assert_eq!(sent.attempts.len(), 3);
    assert!(!sent.attempts[0].acknowledged && sent.attempts[2].acknowledged);

    // Dropped notifications are never sent.
    h.sim.update_knobs(|k| k.drop_notifications = 1);
    assert_eq!(code(&h.consume("PAY000010", qr_nos::SUCCESS).await), "00");
    let last = h.sim.notifications().pop().expect("recorded");
    assert_eq!(last.state, DeliveryState::Dropped);
    assert!(last.attempts.is_empty());
}
