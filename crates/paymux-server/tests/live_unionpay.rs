//! Live mode against the UnionPay simulator, over loopback HTTP both ways: the gateway calls
//! `backTransReq.do`/`queryTrans.do`, the simulator notifies the gateway's backUrl. Both run on
//! one manual clock, so polling, query schedules and a day-long card refund are walked in
//! milliseconds. On PostgreSQL when `PAYMUX_TEST_DATABASE_URL` is set, else on SQLite.

use paymux_channels::{Params, unionpay};
use paymux_crypto::SigningKey;
use paymux_server::Clock;
use paymux_server::channels::Provider;
use paymux_server::channels::config::ProviderSettings;
use paymux_server::domain::channel::Channel;
use paymux_server::payments::refunds::{self, NewRefund};
use paymux_simulators::unionpay::{
    DeliveryState, Knobs, TxnStatus, UnionpayConfig, UnionpayMerchant, UnionpaySimulator, qr_nos,
};
use serde_json::{Map, Value, json};
use std::time::Duration;

mod common;
use common::live::{Gateway, serve};

const MER_ID: &str = "777290058110048";
const CERT_ID: &str = "68759663125";

struct Live {
    gw: Gateway,
    sim: UnionpaySimulator,
    /// The simulator's "UnionPay" key, to sign notifications a test forges.
    unionpay_key: SigningKey,
}

impl std::ops::Deref for Live {
    type Target = Gateway;
    fn deref(&self) -> &Gateway {
        &self.gw
    }
}

/// The gateway and a simulator on the same manual clock, the app's UnionPay configured in live
/// mode to point at the simulator and to trust its root and intermediate certificates.
async fn live() -> Live {
    let gw = Gateway::start().await;
    let merchant_key = SigningKey::generate().expect("merchant key");
    let merchant_public = merchant_key.public_key_pem().expect("pem");
    let unionpay_pem = SigningKey::generate()
        .expect("unionpay key")
        .to_pkcs8_pem()
        .expect("pem");
    let sim_clock = gw.clock.clone();
    let sim = UnionpaySimulator::new(
        UnionpayConfig::new()
            .with_merchant(
                UnionpayMerchant::from_pem(MER_ID, &merchant_public)
                    .expect("merchant")
                    .with_cert_id(CERT_ID),
            )
            .with_unionpay_key_pem(&unionpay_pem)
            .expect("unionpay key")
            .with_clock(move || sim_clock.now_ms())
            .with_knobs(Knobs {
                notify_time_scale: 0.0,
                ..Knobs::default()
            }),
    );
    let sim_url = serve(sim.router()).await;
    let merchant_private = merchant_key.to_pkcs8_pem().expect("pem");
    gw.configure(
        Provider::Unionpay,
        &[
            ("mer_id", MER_ID),
            ("cert_id", CERT_ID),
            ("unionpay_root_cert", sim.root_certificate_pem()),
            ("unionpay_middle_cert", sim.middle_certificate_pem()),
            ("gateway_url", sim_url.as_str()),
            ("private_key", merchant_private.as_str()),
        ],
    )
    .await;
    Live {
        gw,
        sim,
        unionpay_key: paymux_channels::keys::signing_key(&unionpay_pem).expect("key"),
    }
}

fn scan(code: &str) -> Value {
    json!({"scan_code": code, "terminal_id": "T0001"})
}

impl Live {
    /// A live QR charge of 100 fen, paid (with a bank card when `card`).
    async fn paid(&self, order_no: &str, card: bool) -> String {
        let created = self.create(Channel::UpacpQr, order_no, json!({})).await;
        let id = created["id"].as_str().expect("id").to_owned();
        self.sim.pay(MER_ID, order_no, card).expect("pay");
        self.wait_paid(&id).await;
        id
    }

    fn query_id(&self, order_id: &str) -> Option<String> {
        self.sim.txn(MER_ID, order_id).and_then(|t| t.query_id)
    }

    /// POSTs a notification form to the gateway; returns the HTTP status.
    async fn notify(&self, params: &Params) -> u16 {
        reqwest::Client::new()
            .post(format!(
                "{}/notify/unionpay/{}/live",
                self.base_url, self.app
            ))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(paymux_channels::form::encode(params))
            .send()
            .await
            .expect("post")
            .status()
            .as_u16()
    }

    /// Waits (real time) until `n` notification attempts were acknowledged.
    async fn wait_acks(&self, n: usize) {
        for _ in 0..200 {
            let acked = self
                .sim
                .notifications()
                .iter()
                .flat_map(|n| n.attempts.iter())
                .filter(|a| a.acknowledged)
                .count();
            if acked >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("fewer than {n} acknowledged notifications");
    }
}

#[tokio::test]
async fn a_qr_charge_is_paid_through_the_notification_once_even_when_duplicated() {
    let live = live().await;
    live.sim.update_knobs(|k| k.duplicate_notifications = 1);
    let created = live.create(Channel::UpacpQr, "UQR00001", json!({})).await;
    let qr_code = created["credential"]["upacp_qr"].as_str().expect("qrCode");
    assert!(qr_code.starts_with("https://qr.95516.com/"), "{created}");
    assert_eq!(created["livemode"], true);
    assert_eq!(created["paid"], false);

    live.sim
        .pay(MER_ID, "UQR00001", false)
        .expect("the payer pays");
    let id = created["id"].as_str().expect("id");
    live.wait_paid(id).await;
    // Both copies are answered 200, and the second changes nothing.
    live.wait_acks(2).await;
    let notes = live.sim.notifications();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].duplicated);
    assert_eq!(live.succeeded_events().await, 1, "one charge.succeeded");
    assert_eq!(
        live.notifications("UQR00001").await.len(),
        1,
        "an identical redelivery is kept once"
    );
    let charge = live.charge(id).await;
    assert_eq!(
        charge.transaction_no,
        live.query_id("UQR00001"),
        "UnionPay's queryId"
    );
}

#[tokio::test]
async fn a_forged_notification_changes_nothing() {
    let live = live().await;
    let created = live.create(Channel::UpacpQr, "UQR00002", json!({})).await;
    let id = created["id"].as_str().expect("id");
    let certificate = live.sim.signing_certificate_pem();
    let fields = |mer_id: &str| {
        Params::new()
            .with("signPubKeyCert", certificate.as_str())
            .with("version", "5.1.0")
            .with("encoding", "UTF-8")
            .with("signMethod", "01")
            .with("txnType", "01")
            .with("txnSubType", "07")
            .with("bizType", "000000")
            .with("accessType", "0")
            .with("merId", mer_id)
            .with("orderId", "UQR00002")
            .with("txnTime", "20270115160000")
            .with("txnAmt", "100")
            .with("currencyCode", "156")
            .with("queryId", "202701151600000000001")
            .with("respCode", "00")
            .with("respMsg", "成功[0000000]")
    };
    // Signed with another key: what an attacker who knows the order number could send.
    let forged =
        unionpay::sign(&fields(MER_ID), "1", &SigningKey::generate().expect("key")).expect("sign");
    assert_eq!(live.notify(&forged).await, 400);
    // Signed under a certificate that calls itself UnionPay's, from another authority.
    let impostor_key = SigningKey::generate().expect("key");
    let impostor = UnionpaySimulator::new(
        UnionpayConfig::new()
            .with_unionpay_key_pem(&impostor_key.to_pkcs8_pem().expect("pem"))
            .expect("key"),
    );
    let mut claimed = fields(MER_ID);
    claimed.insert("signPubKeyCert", impostor.signing_certificate_pem());
    let claimed = unionpay::sign(&claimed, "1", &impostor_key).expect("sign");
    assert_eq!(live.notify(&claimed).await, 400);
    // Signed by UnionPay, but for another merchant.
    let elsewhere =
        unionpay::sign(&fields("777290058119999"), "1", &live.unionpay_key).expect("sign");
    assert_eq!(live.notify(&elsewhere).await, 400);
    // Unsigned.
    assert_eq!(live.notify(&fields(MER_ID)).await, 400);
    assert!(!live.charge(id).await.paid, "nothing changed");
    assert_eq!(live.succeeded_events().await, 0);

    // The genuine article is accepted (the checks above were not failing for another reason).
    let genuine = unionpay::sign(&fields(MER_ID), "1", &live.unionpay_key).expect("sign");
    assert_eq!(live.notify(&genuine).await, 200);
    let charge = live.charge(id).await;
    assert!(charge.paid);
    assert_eq!(
        charge.transaction_no.as_deref(),
        Some("202701151600000000001")
    );
}

#[tokio::test]
async fn a_lost_notification_is_recovered_by_the_query_job() {
    let live = live().await;
    live.sim.update_knobs(|k| k.drop_notifications = 1);
    let created = live.create(Channel::UpacpQr, "UQR00003", json!({})).await;
    let id = created["id"].as_str().expect("id");
    live.advance(30_000).await;
    // Nobody paid yet: 34, read as "not paid yet".
    let charge = live.charge(id).await;
    assert!(!charge.paid && charge.failure_code.is_none(), "{charge:?}");

    live.sim.pay(MER_ID, "UQR00003", false).expect("pay");
    live.advance(59_000).await;
    assert!(!live.charge(id).await.paid, "the next query is due 60 s on");
    live.advance(1_000).await;
    let charge = live.charge(id).await;
    assert!(charge.paid, "the query found it paid");
    assert_eq!(charge.transaction_no, live.query_id("UQR00003"));
    assert_eq!(live.succeeded_events().await, 1);
    let notes = live.sim.notifications();
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].state, DeliveryState::Dropped, "it never arrived");
}

#[tokio::test]
async fn an_immediate_scan_payment_is_paid_in_the_create_answer() {
    let live = live().await;
    let created = live
        .create(Channel::UpacpScan, "USC00001", scan(qr_nos::SUCCESS))
        .await;
    assert_eq!(created["paid"], true, "{created}");
    assert_eq!(created["transaction_no"], json!(live.query_id("USC00001")));
    assert_eq!(live.succeeded_events().await, 1);
}

#[tokio::test]
async fn a_declined_scan_payment_fails_the_charge() {
    let live = live().await;
    let error = live
        .try_create(Channel::UpacpScan, "USC00005", scan(qr_nos::DECLINED))
        .await
        .expect_err("declined");
    assert_eq!(error.code.as_deref(), Some("64"), "卡上的余额不足");
}

#[tokio::test]
async fn a_processing_scan_payment_is_polled_until_paid() {
    let live = live().await;
    // 05, then paid 10 s of simulated time later.
    let created = live
        .create(
            Channel::UpacpScan,
            "USC00002",
            scan(qr_nos::WAIT_THEN_SUCCESS),
        )
        .await;
    let id = created["id"].as_str().expect("id");
    assert_eq!(created["paid"], false, "the payer is confirming");
    live.advance(5_000).await;
    assert!(!live.charge(id).await.paid, "origRespCode 05");
    live.advance(5_000).await;
    let charge = live.charge(id).await;
    assert!(charge.paid, "paid on the second poll");
    assert_eq!(charge.transaction_no, live.query_id("USC00002"));
    assert_eq!(live.succeeded_events().await, 1);
}

#[tokio::test]
async fn an_unknown_answer_is_resolved_by_polling() {
    let live = live().await;
    // 03 although the payment went through.
    let created = live
        .create(Channel::UpacpScan, "USC00004", scan(qr_nos::UNKNOWN_PAID))
        .await;
    let id = created["id"].as_str().expect("id");
    assert_eq!(created["paid"], false);
    live.advance(5_000).await;
    assert!(live.charge(id).await.paid, "the first poll found it paid");
}

#[tokio::test]
async fn a_payer_who_never_confirms_is_reversed_after_a_minute() {
    let live = live().await;
    let created = live
        .create(Channel::UpacpScan, "USC00003", scan(qr_nos::WAIT_FOREVER))
        .await;
    let id = created["id"].as_str().expect("id");
    // The first reversal's answer is a 03: call again.
    live.sim.update_knobs(|k| {
        k.fail_next = 1;
        k.fail_txn_type = Some("99".into());
    });
    for _ in 0..11 {
        live.advance(5_000).await;
    }
    assert!(!live.charge(id).await.reversed, "still polling before 60 s");
    live.advance(5_000).await; // 60 s: reversal, answered 03
    assert!(!live.charge(id).await.reversed, "unknown: call again");
    live.advance(5_000).await;
    let charge = live.charge(id).await;
    assert!(charge.reversed && !charge.paid, "{charge:?}");
    let txn = live.sim.txn(MER_ID, "USC00003").expect("txn");
    assert_eq!(txn.status, TxnStatus::Reversed);
}

#[tokio::test]
async fn partial_and_full_refunds_settle_by_notification_and_an_over_refund_is_refused() {
    let live = live().await;
    let charge = live.paid("URF00001", false).await;
    let first = live.refund(&charge, 30).await;
    live.advance(0).await; // the submission job: 04/00 answered 00, accepted
    assert_eq!(live.wait_refund(&first).await, "succeeded");
    let row = live.refund_row(&first).await;
    let refund_order_id = first.strip_prefix("re_").expect("re_");
    assert_eq!(
        row.transaction_no,
        live.query_id(refund_order_id),
        "the refund's own queryId"
    );
    let txn = live.sim.txn(MER_ID, refund_order_id).expect("refund txn");
    assert_eq!(txn.txn_amt, 30);
    assert_eq!(txn.orig_qry_id, live.charge(&charge).await.transaction_no);

    let second = live.refund(&charge, 70).await;
    live.advance(0).await;
    assert_eq!(live.wait_refund(&second).await, "succeeded");
    let paid = live.charge(&charge).await;
    assert_eq!(paid.amount_refunded, 100);
    assert_eq!(
        live.sim.txn(MER_ID, "URF00001").expect("payment").refunded,
        100
    );

    let over = refunds::create(
        &live.state,
        live.caller.clone(),
        charge.clone(),
        NewRefund {
            amount: Some(1),
            description: "too much".into(),
            metadata: Map::new(),
            funding_source: None,
        },
    )
    .await;
    assert!(over.is_err(), "nothing left to refund: {over:?}");
}

#[tokio::test]
async fn a_refund_to_a_bank_card_stays_pending_for_a_day_then_succeeds_by_query() {
    let live = live().await;
    let charge = live.paid("URF00002", true).await;
    live.wait_acks(1).await;
    // The refund's notification is lost: only the query job can settle it.
    live.sim.update_knobs(|k| k.drop_notifications = 1);
    let refund = live.refund(&charge, 100).await;
    live.advance(0).await;
    for hour in 1..=23 {
        live.advance(3_600_000).await;
        assert_eq!(
            live.refund_status(&refund).await,
            "pending",
            "after {hour} h: origRespCode 05"
        );
    }
    let mut hours = 23;
    while live.refund_status(&refund).await == "pending" && hours < 72 {
        live.advance(3_600_000).await;
        hours += 1;
    }
    let row = live.refund_row(&refund).await;
    assert_eq!(row.status.as_str(), "succeeded", "after {hours} h");
    assert_eq!(
        row.transaction_no,
        live.query_id(refund.strip_prefix("re_").expect("re_"))
    );
    let notes = live.sim.notifications();
    assert_eq!(notes.last().map(|n| n.state), Some(DeliveryState::Dropped));
}

#[tokio::test]
async fn a_refund_whose_answer_is_lost_after_it_took_effect_is_found_by_the_query() {
    let live = live().await;
    let charge = live.paid("URF00003", false).await;
    live.sim.update_knobs(|k| {
        k.fail_next = 1;
        k.fail_txn_type = Some("04".into());
        k.fail_after_effect = true;
        k.drop_notifications = 1;
    });
    let refund = live.refund(&charge, 100).await;
    live.advance(0).await;
    assert_eq!(
        live.refund_status(&refund).await,
        "succeeded",
        "03, then the query found it done"
    );
    assert_eq!(
        live.sim.txn(MER_ID, "URF00003").expect("payment").refunded,
        100,
        "refunded once"
    );
}

#[tokio::test]
async fn a_refund_unionpay_never_got_is_submitted_again() {
    let live = live().await;
    let charge = live.paid("URF00004", false).await;
    // HTTP 500 and nothing done: the query answers 34, so the job submits it again later.
    live.sim.update_knobs(|k| {
        k.fail_next = 1;
        k.fail_txn_type = Some("04".into());
        k.fail_mode = paymux_simulators::unionpay::FailMode::Http500;
    });
    let refund = live.refund(&charge, 40).await;
    live.advance(0).await;
    assert_eq!(live.refund_status(&refund).await, "pending");
    let order_id = refund.strip_prefix("re_").expect("re_");
    assert!(
        live.sim.txn(MER_ID, order_id).is_none(),
        "UnionPay has nothing"
    );
    live.advance(30_000).await;
    assert_eq!(live.wait_refund(&refund).await, "succeeded");
    assert_eq!(
        live.sim.txn(MER_ID, "URF00004").expect("payment").refunded,
        40,
        "refunded once"
    );
    assert_eq!(live.charge(&charge).await.amount_refunded, 40);
}

#[tokio::test]
async fn answers_signed_by_another_key_are_not_believed() {
    let live = live().await;
    // The gateway now expects another UnionPay key: every answer fails verification.
    let stranger = SigningKey::generate().expect("key");
    let merchant = SigningKey::generate().expect("key");
    let sim_url = serve(live.sim.router()).await;
    live.configure(
        Provider::Unionpay,
        &[
            ("mer_id", MER_ID),
            ("cert_id", CERT_ID),
            (
                "unionpay_public_key",
                stranger.public_key_pem().expect("pem").as_str(),
            ),
            ("gateway_url", sim_url.as_str()),
            (
                "private_key",
                merchant.to_pkcs8_pem().expect("pem").as_str(),
            ),
        ],
    )
    .await;
    let error = live
        .try_create(Channel::UpacpScan, "USC00009", scan(qr_nos::SUCCESS))
        .await;
    // Whatever the simulator said (here: 11, our signature is not the registered one), an
    // unverifiable answer is no answer: unknown, polled, never paid on its word.
    let charge = match error {
        Ok(value) => value,
        Err(error) => panic!("an unverified answer is unknown, not a failure: {error:?}"),
    };
    assert_eq!(charge["paid"], false, "{charge}");
    assert!(charge["failure_code"].is_null(), "{charge}");
}

#[tokio::test]
async fn a_new_signing_certificate_from_unionpay_needs_no_new_configuration() {
    let live = live().await;
    let created = live.create(Channel::UpacpQr, "UQR00020", json!({})).await;
    let id = created["id"].as_str().expect("id");
    let before = live.sim.cert_id();
    live.sim.rotate_signing_certificate().expect("rotate");
    assert_ne!(live.sim.cert_id(), before);
    // The notification and every answer from now on carry the new certificate.
    live.sim.pay(MER_ID, "UQR00020", false).expect("pay");
    live.wait_paid(id).await;
    let refund = live.refund(id, 30).await;
    live.advance(1_000).await;
    assert_eq!(live.wait_refund(&refund).await, "succeeded");
    let created = live
        .create(Channel::UpacpScan, "USC00020", scan(qr_nos::SUCCESS))
        .await;
    assert_eq!(created["paid"], true, "{created}");
}

#[tokio::test]
async fn a_pinned_key_verifies_until_unionpay_replaces_its_certificate() {
    let live = live().await;
    let merchant = SigningKey::generate().expect("key");
    live.sim.add_merchant(
        UnionpayMerchant::from_pem(MER_ID, &merchant.public_key_pem().expect("pem"))
            .expect("merchant")
            .with_cert_id(CERT_ID),
    );
    let sim_url = serve(live.sim.router()).await;
    live.configure(
        Provider::Unionpay,
        &[
            ("mer_id", MER_ID),
            ("cert_id", CERT_ID),
            ("unionpay_public_key", live.sim.public_key_pem().as_str()),
            ("gateway_url", sim_url.as_str()),
            (
                "private_key",
                merchant.to_pkcs8_pem().expect("pem").as_str(),
            ),
        ],
    )
    .await;
    let paid = live
        .create(Channel::UpacpScan, "USC00021", scan(qr_nos::SUCCESS))
        .await;
    assert_eq!(paid["paid"], true, "{paid}");
    live.sim.rotate_signing_certificate().expect("rotate");
    let unverified = live
        .create(Channel::UpacpScan, "USC00022", scan(qr_nos::SUCCESS))
        .await;
    assert_eq!(unverified["paid"], false, "{unverified}");
    assert!(unverified["failure_code"].is_null(), "{unverified}");
}

#[test]
fn unionpay_is_configured_with_its_certificate_chain_or_one_key() {
    let sim = UnionpaySimulator::new(UnionpayConfig::new());
    let other = UnionpaySimulator::new(UnionpayConfig::new());
    let key = SigningKey::generate().expect("key");
    let (private, public) = (
        key.to_pkcs8_pem().expect("pem"),
        key.public_key_pem().expect("pem"),
    );
    let check = |trust: &[(&str, &str)]| {
        let mut given: std::collections::BTreeMap<String, String> = [
            ("mer_id", MER_ID),
            ("cert_id", CERT_ID),
            ("private_key", private.as_str()),
        ]
        .iter()
        .chain(trust)
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        given.retain(|_, v| !v.is_empty());
        ProviderSettings::check(Provider::Unionpay, &given)
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    let (root, middle) = (sim.root_certificate_pem(), sim.middle_certificate_pem());
    assert_eq!(
        check(&[
            ("unionpay_root_cert", root),
            ("unionpay_middle_cert", middle)
        ]),
        Ok(())
    );
    assert_eq!(check(&[("unionpay_public_key", public.as_str())]), Ok(()));
    let refused = [
        (vec![], "Missing required parameter: unionpay_root_cert"),
        (vec![("unionpay_root_cert", root)], "go together"),
        (
            vec![
                ("unionpay_root_cert", root),
                ("unionpay_middle_cert", middle),
                ("unionpay_public_key", public.as_str()),
            ],
            "not both",
        ),
        (
            vec![
                ("unionpay_root_cert", other.root_certificate_pem()),
                ("unionpay_middle_cert", middle),
            ],
            "does not go with unionpay_root_cert",
        ),
        (
            vec![
                ("unionpay_root_cert", public.as_str()),
                ("unionpay_middle_cert", middle),
            ],
            "must be an X.509 certificate",
        ),
    ];
    for (trust, why) in refused {
        let error = check(&trust).expect_err(why);
        assert!(error.contains(why), "{error}");
    }
}

#[tokio::test]
async fn an_api_reverse_of_an_open_scan_payment_reverses_it_at_unionpay() {
    let live = live().await;
    let created = live
        .create(Channel::UpacpScan, "USC00010", scan(qr_nos::WAIT_FOREVER))
        .await;
    let id = created["id"].as_str().expect("id");
    let reversed = live.reverse(id).await.expect("reverse");
    assert_eq!(reversed["reversed"], true, "{reversed}");
    assert_eq!(live.events("charge.reversed").await, 1);
    let txn = live.sim.txn(MER_ID, "USC00010").expect("txn");
    assert_eq!(txn.status, TxnStatus::Reversed, "99/01 at UnionPay");
    assert!(!live.charge(id).await.paid);
}

#[tokio::test]
async fn an_api_reverse_of_a_paid_scan_payment_refunds_it_through_unionpay() {
    let live = live().await;
    let created = live
        .create(Channel::UpacpScan, "USC00011", scan(qr_nos::SUCCESS))
        .await;
    let id = created["id"].as_str().expect("id");
    assert_eq!(created["paid"], true);
    let reversed = live.reverse(id).await.expect("reverse");
    assert_eq!(reversed["reversed"], true, "{reversed}");
    for _ in 0..20 {
        live.advance(1_000).await;
        if live.sim.txn(MER_ID, "USC00011").expect("payment").refunded == 100 {
            break;
        }
    }
    assert_eq!(
        live.sim.txn(MER_ID, "USC00011").expect("payment").refunded,
        100,
        "refunded in full with a 04/00"
    );
    assert_eq!(
        live.sim.txn(MER_ID, "USC00011").expect("payment").status,
        TxnStatus::Succeeded,
        "not also reversed: undone once"
    );
}

/// `A6` (有缺陷的成功) everywhere UnionPay may send it: read as `00`, confirmed by a query.
#[tokio::test]
async fn a6_answers_are_successes_confirmed_by_a_query() {
    use paymux_simulators::unionpay::FailMode;
    let live = live().await;
    let partial = |txn_type: &str| {
        let txn_type = txn_type.to_owned();
        live.sim.update_knobs(move |k| {
            k.fail_next = 1;
            k.fail_txn_type = Some(txn_type);
            k.fail_mode = FailMode::PartialSuccess;
        });
    };

    // A scan payment answered A6: not paid on that word alone; the first poll finds it paid.
    partial("01");
    let created = live
        .create(Channel::UpacpScan, "USC000A6", scan(qr_nos::SUCCESS))
        .await;
    let id = created["id"].as_str().expect("id").to_owned();
    assert_eq!(
        created["paid"], false,
        "A6 is confirmed by a query first: {created}"
    );
    assert!(created["failure_code"].is_null(), "{created}");
    live.advance(5_000).await;
    let charge = live.charge(&id).await;
    assert!(charge.paid, "the query confirmed it");
    assert_eq!(charge.transaction_no, live.query_id("USC000A6"));

    // A query whose origRespCode is A6: the payment succeeded.
    live.sim.update_knobs(|k| k.drop_notifications = 1);
    let created = live.create(Channel::UpacpQr, "UQR000A6", json!({})).await;
    let qr = created["id"].as_str().expect("id").to_owned();
    live.sim.pay(MER_ID, "UQR000A6", false).expect("pay");
    partial("00");
    live.advance(60_000).await;
    assert!(live.charge(&qr).await.paid, "origRespCode A6 reads as paid");

    // A refund accepted with A6 stays pending until the query (or notification) settles it.
    partial("04");
    let refund = live.refund(&id, 60).await;
    live.advance(0).await;
    assert_eq!(live.wait_refund(&refund).await, "succeeded");
    assert_eq!(live.charge(&id).await.amount_refunded, 60);
    assert_eq!(
        live.sim.txn(MER_ID, "USC000A6").expect("payment").refunded,
        60,
        "refunded once"
    );
}

#[tokio::test]
async fn calls_to_the_channel_are_counted_for_the_metrics() {
    paymux_server::metrics::install();
    let live = live().await;
    live.create(Channel::UpacpScan, "USCMET01", scan(qr_nos::SUCCESS))
        .await;
    let text = paymux_server::metrics::render(&live.state)
        .await
        .expect("render");
    let answered =
        r#"paymux_channel_calls_total{provider="unionpay",operation="01/06",outcome="answered"}"#;
    assert!(text.contains(answered), "{text}");
    assert!(
        text.contains(
            r#"paymux_channel_call_duration_seconds_count{provider="unionpay",operation="01/06"}"#
        ),
        "{text}"
    );
}
