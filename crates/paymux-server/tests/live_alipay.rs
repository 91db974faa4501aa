//! Live mode against the Alipay simulator, over loopback HTTP both ways: the gateway calls
//! `gateway.do`, the simulator notifies the gateway's notify endpoint. Both run on one manual
//! clock, so polling and query schedules are walked in milliseconds (and request timestamps
//! agree). On PostgreSQL when `PAYMUX_TEST_DATABASE_URL` is set, else on SQLite.

use paymux_channels::Params;
use paymux_channels::alipay::sign_notify;
use paymux_crypto::SigningKey;
use paymux_server::Clock;
use paymux_server::channels::alipay::AlipayAdapter;
use paymux_server::channels::config::ProviderSettings;
use paymux_server::channels::{Provider, RefundState};
use paymux_server::domain::channel::Channel;
use paymux_simulators::alipay::{
    AlipayApp, AlipayConfig, AlipaySimulator, DeliveryState, Knobs, TradeStatus, auth_codes,
};
use serde_json::{Value, json};
use std::time::Duration;

mod common;
use common::live::{Gateway, serve};

const APP_ID: &str = "2021000000000001";
/// The simulator's merchant partner id.
const SELLER_ID: &str = "2088101106499364";

struct Live {
    gw: Gateway,
    sim: AlipaySimulator,
    /// The simulator's "Alipay" key, to sign notifications a test forges.
    alipay_key: SigningKey,
    settings: ProviderSettings,
}

impl std::ops::Deref for Live {
    type Target = Gateway;
    fn deref(&self) -> &Gateway {
        &self.gw
    }
}

/// The gateway and a simulator on the same manual clock, the app's Alipay configured in live
/// mode to point at the simulator.
async fn live() -> Live {
    let gw = Gateway::start().await;
    let app_key = SigningKey::generate().expect("app key");
    let app_public = app_key.public_key_pem().expect("pem");
    let alipay_pem = SigningKey::generate()
        .expect("alipay key")
        .to_pkcs8_pem()
        .expect("pem");
    let sim_clock = gw.clock.clone();
    let sim = AlipaySimulator::new(
        AlipayConfig::new()
            .with_app(AlipayApp::from_pem(APP_ID, &app_public).expect("app"))
            .with_alipay_key_pem(&alipay_pem)
            .expect("alipay key")
            .with_clock(move || sim_clock.now_ms())
            .with_knobs(Knobs {
                notify_time_scale: 0.0,
                ..Knobs::default()
            }),
    );
    let sim_url = serve(sim.router()).await;
    let app_private = app_key.to_pkcs8_pem().expect("pem");
    let gateway = format!("{sim_url}/gateway.do");
    let settings = gw
        .configure(
            Provider::Alipay,
            &[
                ("app_id", APP_ID),
                ("seller_id", SELLER_ID),
                ("alipay_public_key", sim.public_key_pem()),
                ("gateway_url", gateway.as_str()),
                ("app_private_key", app_private.as_str()),
            ],
        )
        .await;
    Live {
        gw,
        sim,
        alipay_key: paymux_channels::keys::signing_key(&alipay_pem).expect("key"),
        settings,
    }
}

fn scan(code: &str) -> Value {
    json!({"scan_code": code, "terminal_id": "T0001"})
}

impl Live {
    /// A paid live QR charge of 100 fen.
    async fn paid(&self, order_no: &str) -> String {
        let created = self.create(Channel::AlipayQr, order_no, json!({})).await;
        let id = created["id"].as_str().expect("id").to_owned();
        self.sim.pay(APP_ID, order_no).expect("pay");
        self.wait_paid(&id).await;
        id
    }

    fn adapter(&self) -> AlipayAdapter {
        AlipayAdapter::new(&self.settings, self.clock.clone(), &Default::default())
            .expect("adapter")
    }

    /// POSTs a notification form to the gateway and returns its answer body.
    async fn notify(&self, params: &Params) -> String {
        reqwest::Client::new()
            .post(format!("{}/notify/alipay/{}/live", self.base_url, self.app))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(paymux_channels::form::encode(params))
            .send()
            .await
            .expect("post")
            .text()
            .await
            .expect("text")
    }
}

#[tokio::test]
async fn a_qr_charge_is_paid_through_the_notification_once_even_when_duplicated() {
    let live = live().await;
    live.sim.update_knobs(|k| k.duplicate_notifications = 1);
    let created = live.create(Channel::AlipayQr, "AQR0001", json!({})).await;
    let qr_code = created["credential"]["alipay_qr"]
        .as_str()
        .expect("qr_code");
    assert!(qr_code.starts_with("https://qr.alipay.com/"), "{created}");
    assert_eq!(created["livemode"], true);
    assert_eq!(created["paid"], false);

    live.sim.scan(APP_ID, "AQR0001").expect("the buyer scans");
    live.sim.pay(APP_ID, "AQR0001").expect("and pays");
    let id = created["id"].as_str().expect("id");
    live.wait_paid(id).await;
    // Both copies are answered `success`, and the second changes nothing.
    for _ in 0..100 {
        let acked = live
            .sim
            .notifications()
            .iter()
            .flat_map(|n| n.attempts.iter())
            .filter(|a| a.acknowledged)
            .count();
        if acked >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let notes = live.sim.notifications();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].duplicated);
    assert!(
        notes[0].attempts.len() >= 2 && notes[0].attempts.iter().all(|a| a.acknowledged),
        "{notes:?}"
    );
    assert_eq!(live.succeeded_events().await, 1, "one charge.succeeded");
    let charge = live.charge(id).await;
    assert_eq!(
        charge.transaction_no,
        live.sim.trade(APP_ID, "AQR0001").expect("trade").trade_no,
        "Alipay's trade_no"
    );
}

/// The unsigned fields of a `TRADE_SUCCESS` notification of 1.00 yuan for `order_no`.
fn paid_notification(app_id: &str, seller_id: &str, order_no: &str) -> Params {
    Params::new()
        .with("seller_id", seller_id)
        .with("notify_type", "trade_status_sync")
        .with("notify_id", "2027010100222000000000000000000000")
        .with("notify_time", "2027-01-01 00:00:01")
        .with("charset", "utf-8")
        .with("version", "1.0")
        .with("app_id", app_id)
        .with("out_trade_no", order_no)
        .with("trade_no", "2027010122001400000000000001")
        .with("trade_status", "TRADE_SUCCESS")
        .with("total_amount", "1.00")
        .with("gmt_payment", "2027-01-01 00:00:00")
}

#[tokio::test]
async fn a_forged_notification_changes_nothing() {
    let live = live().await;
    let created = live.create(Channel::AlipayQr, "AQR0002", json!({})).await;
    let id = created["id"].as_str().expect("id");
    let fields = |app_id: &str, seller_id: &str| paid_notification(app_id, seller_id, "AQR0002");
    // Signed with another key: what an attacker who knows the order number could send.
    let mut forged = fields(APP_ID, SELLER_ID);
    sign_notify(&mut forged, &SigningKey::generate().expect("key"));
    assert_eq!(live.notify(&forged).await, "fail");
    // Signed by Alipay, but for another app.
    let mut elsewhere = fields("2021000000009999", SELLER_ID);
    sign_notify(&mut elsewhere, &live.alipay_key);
    assert_eq!(live.notify(&elsewhere).await, "fail");
    // Signed by Alipay for our app, but money received by another seller.
    let mut other_seller = fields(APP_ID, "2088000000000001");
    sign_notify(&mut other_seller, &live.alipay_key);
    assert_eq!(live.notify(&other_seller).await, "fail");
    // Unsigned.
    assert_eq!(live.notify(&fields(APP_ID, SELLER_ID)).await, "fail");
    assert!(!live.charge(id).await.paid, "nothing changed");
    assert_eq!(live.succeeded_events().await, 0);
    assert!(
        live.notifications("AQR0002").await.is_empty(),
        "forged ones are not kept"
    );

    // The genuine article is accepted (the check above was not failing for another reason).
    let mut genuine = fields(APP_ID, SELLER_ID);
    sign_notify(&mut genuine, &live.alipay_key);
    assert_eq!(live.notify(&genuine).await, "success");
    assert!(live.charge(id).await.paid);
    let kept = live.notifications("AQR0002").await;
    assert_eq!(kept.len(), 1);
    assert_eq!(
        kept[0].body,
        paymux_channels::form::encode(&genuine),
        "as received"
    );
}

#[tokio::test]
async fn a_lost_notification_is_recovered_by_the_query_job() {
    let live = live().await;
    live.sim.update_knobs(|k| k.drop_notifications = 1);
    let created = live.create(Channel::AlipayQr, "AQR0003", json!({})).await;
    let id = created["id"].as_str().expect("id");
    live.advance(30_000).await;
    // Nobody scanned yet: TRADE_NOT_EXIST, read as "not paid yet".
    let charge = live.charge(id).await;
    assert!(!charge.paid && charge.failure_code.is_none(), "{charge:?}");

    live.sim.pay(APP_ID, "AQR0003").expect("pay");
    live.advance(59_000).await;
    assert!(!live.charge(id).await.paid, "the next query is due 60 s on");
    live.advance(1_000).await;
    assert!(live.charge(id).await.paid, "the query found it paid");
    assert_eq!(live.succeeded_events().await, 1);
    let notes = live.sim.notifications();
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].state, DeliveryState::Dropped, "it never arrived");
}

#[tokio::test]
async fn an_immediate_scan_payment_is_paid_in_the_create_answer() {
    let live = live().await;
    let mut extra = scan(auth_codes::SUCCESS);
    extra["operator_id"] = json!("cashier-7");
    extra["store_id"] = json!("store-12");
    let created = live.create(Channel::AlipayScan, "ASC0001", extra).await;
    assert_eq!(created["paid"], true, "{created}");
    let trade = live.sim.trade(APP_ID, "ASC0001").expect("trade");
    assert_eq!(created["transaction_no"], json!(trade.trade_no));
    assert_eq!(live.succeeded_events().await, 1);
    // Where it was taken reaches Alipay, as the merchant sent it.
    assert_eq!(trade.terminal_id.as_deref(), Some("T0001"));
    assert_eq!(trade.operator_id.as_deref(), Some("cashier-7"));
    assert_eq!(trade.store_id.as_deref(), Some("store-12"));
}

#[tokio::test]
async fn a_refused_scan_payment_fails_the_charge() {
    let live = live().await;
    let error = live
        .try_create(
            Channel::AlipayScan,
            "ASC0005",
            scan(auth_codes::BALANCE_NOT_ENOUGH),
        )
        .await
        .expect_err("refused");
    assert_eq!(error.code.as_deref(), Some("ACQ.BUYER_BALANCE_NOT_ENOUGH"));
}

#[tokio::test]
async fn a_scan_payment_waiting_for_a_password_is_polled_until_paid() {
    let live = live().await;
    // 10003, then the second query finds it paid.
    let created = live
        .create(
            Channel::AlipayScan,
            "ASC0002",
            scan(auth_codes::WAIT_THEN_SUCCESS),
        )
        .await;
    let id = created["id"].as_str().expect("id");
    assert_eq!(created["paid"], false, "the payer is typing a password");
    live.advance(5_000).await;
    assert!(!live.charge(id).await.paid);
    live.advance(5_000).await;
    assert!(live.charge(id).await.paid, "paid on the second poll");
    assert_eq!(live.succeeded_events().await, 1);
}

#[tokio::test]
async fn an_unknown_pay_answer_is_resolved_by_polling() {
    let live = live().await;
    // 20000 isp.unknow-error although the payment went through.
    let created = live
        .create(
            Channel::AlipayScan,
            "ASC0004",
            scan(auth_codes::UNKNOWN_ERROR_PAID),
        )
        .await;
    let id = created["id"].as_str().expect("id");
    assert_eq!(created["paid"], false);
    live.advance(5_000).await;
    assert!(live.charge(id).await.paid, "the first poll found it paid");
}

#[tokio::test]
async fn a_payer_who_never_confirms_is_cancelled_after_a_minute() {
    let live = live().await;
    // The first cancel asks to be called again (retry_flag=Y).
    live.sim.update_knobs(|k| k.cancel_retry_next = 1);
    let created = live
        .create(
            Channel::AlipayScan,
            "ASC0003",
            scan(auth_codes::WAIT_FOREVER),
        )
        .await;
    let id = created["id"].as_str().expect("id");
    for _ in 0..11 {
        live.advance(5_000).await;
    }
    assert!(!live.charge(id).await.reversed, "still polling before 60 s");
    live.advance(5_000).await; // 60 s: cancel, retry_flag=Y
    assert!(!live.charge(id).await.reversed, "asked to call again");
    live.advance(5_000).await;
    assert!(live.charge(id).await.reversed, "cancelled");
    let trade = live.sim.trade(APP_ID, "ASC0003").expect("trade");
    assert_eq!(trade.trade_status, Some(TradeStatus::TradeClosed));
    assert_eq!(trade.cancel_action.as_deref(), Some("close"));
    assert!(!live.charge(id).await.paid);
}

#[tokio::test]
async fn a_refund_succeeds_synchronously_and_repeats_refund_once() {
    let live = live().await;
    let charge = live.paid("ARF0001").await;
    let refund = live.refund(&charge, 30).await;
    live.advance(0).await; // the submission job: Alipay refunds in the call
    let row = live.refund_row(&refund).await;
    assert_eq!(row.status.as_str(), "succeeded");
    assert!(row.time_succeed.is_some());
    assert_eq!(live.charge(&charge).await.amount_refunded, 30);
    let trade = live.sim.trade(APP_ID, "ARF0001").expect("trade");
    assert_eq!(trade.refunds.len(), 1);
    assert_eq!(
        trade.refunds[0].refund_reason.as_deref(),
        Some("back"),
        "the refund's description reaches Alipay"
    );
    assert_eq!(
        trade.refunds[0].out_request_no, refund,
        "under the refund's id"
    );
    assert_eq!(trade.refunds[0].refund_amount, "0.30");

    // The same request again (a lost answer retried): fund_change=N, no second refund; no money
    // moved in that call, so it alone proves nothing (the query below does).
    let again = live.adapter().refund("ARF0001", &refund, 30, None).await;
    assert!(matches!(again, RefundState::Unknown(_)), "{again:?}");
    let trade = live.sim.trade(APP_ID, "ARF0001").expect("trade");
    assert_eq!(trade.refunds.len(), 1, "refunded once");
    assert_eq!(trade.refund_fee, "0.30");
    // And the query confirms it, by number and amount.
    let queried = live.adapter().refund_query("ARF0001", &refund, 30).await;
    assert!(
        matches!(queried, RefundState::Succeeded { .. }),
        "{queried:?}"
    );
}

#[tokio::test]
async fn the_refund_query_quirk_does_not_mark_an_unknown_refund_succeeded() {
    let live = live().await;
    let charge = live.paid("ARF0002").await;
    // 10000 with nothing in it, for a request number Alipay never saw.
    let never = live
        .adapter()
        .refund_query("ARF0002", "re_never_submitted", 40)
        .await;
    assert!(matches!(never, RefundState::Unknown(_)), "{never:?}");

    // The refund call's answer is lost and it never took effect: the query finds nothing, the
    // refund stays pending, and the resubmission (same number) refunds it once.
    live.sim.update_knobs(|k| {
        k.fail_next = 1;
        k.fail_method = Some("alipay.trade.refund".into());
    });
    let refund = live.refund(&charge, 40).await;
    live.advance(0).await;
    assert_eq!(live.refund_status(&refund).await, "pending");
    assert!(
        live.sim
            .trade(APP_ID, "ARF0002")
            .expect("trade")
            .refunds
            .is_empty()
    );
    live.advance(30_000).await;
    assert_eq!(live.refund_status(&refund).await, "succeeded");
    let trade = live.sim.trade(APP_ID, "ARF0002").expect("trade");
    assert_eq!(trade.refunds.len(), 1);
    assert_eq!(live.charge(&charge).await.amount_refunded, 40);
}

#[tokio::test]
async fn a_first_answer_that_moved_no_money_is_not_taken_for_a_refund() {
    let live = live().await;
    let charge = live.paid("ARF0005").await;
    // Accepted (10000) with fund_change=N, and nothing refunded.
    live.sim.update_knobs(|k| k.refund_unmoved_next = 1);
    let refund = live.refund(&charge, 60).await;
    live.advance(0).await;
    assert_eq!(live.refund_status(&refund).await, "pending");
    assert_eq!(live.charge(&charge).await.amount_refunded, 0);
    assert!(
        live.sim
            .trade(APP_ID, "ARF0005")
            .expect("trade")
            .refunds
            .is_empty()
    );
    // Submitted again under the same number: refunded now, once.
    live.advance(30_000).await;
    assert_eq!(live.refund_status(&refund).await, "succeeded");
    let trade = live.sim.trade(APP_ID, "ARF0005").expect("trade");
    assert_eq!(trade.refunds.len(), 1);
    assert_eq!(live.charge(&charge).await.amount_refunded, 60);
}

#[tokio::test]
async fn a_refund_whose_answer_is_lost_after_it_took_effect_is_confirmed_by_the_query() {
    let live = live().await;
    let charge = live.paid("ARF0003").await;
    live.sim.update_knobs(|k| {
        k.fail_next = 1;
        k.fail_method = Some("alipay.trade.refund".into());
        k.fail_after_effect = true;
    });
    let refund = live.refund(&charge, 100).await;
    live.advance(0).await;
    assert_eq!(live.refund_status(&refund).await, "succeeded");
    let trade = live.sim.trade(APP_ID, "ARF0003").expect("trade");
    assert_eq!(trade.refunds.len(), 1, "refunded once");
    assert_eq!(live.charge(&charge).await.amount_refunded, 100);
}

#[tokio::test]
async fn a_refund_alipay_refuses_fails_and_its_amount_is_refundable_again() {
    let live = live().await;
    let charge = live.paid("ARF0004").await;
    // The trade is past its refund window: ACQ.TRADE_HAS_FINISHED.
    live.clock.advance_ms(366 * 24 * 3600 * 1000);
    let refund = live.refund(&charge, 100).await;
    live.advance(0).await;
    let row = live.refund_row(&refund).await;
    assert_eq!(row.status.as_str(), "failed");
    assert_eq!(row.failure_code.as_deref(), Some("ACQ.TRADE_HAS_FINISHED"));
    let charge_now = live.charge(&charge).await;
    assert_eq!(charge_now.amount_refunded, 0);
    assert_eq!(charge_now.refundable(), 100, "refundable again");
}

#[tokio::test]
async fn the_api_reverse_cancels_an_unscanned_qr_so_it_can_never_be_paid() {
    let live = live().await;
    // The first cancel asks to be called again: the API calls again at once.
    live.sim.update_knobs(|k| k.cancel_retry_next = 1);
    let created = live
        .create(
            Channel::IsvQr,
            "ARV0001",
            json!({"terminal_id": "T0001", "pay_channel": "alipay"}),
        )
        .await;
    let id = created["id"].as_str().expect("id");
    let reversed = live.reverse(id).await.expect("reverse");
    assert_eq!(reversed["reversed"], true, "{reversed}");
    assert_eq!(live.events("charge.reversed").await, 1);
    assert!(
        live.sim.scan(APP_ID, "ARV0001").is_err(),
        "a cancelled number cannot be scanned and paid later"
    );
    assert!(!live.charge(id).await.paid);
}

#[tokio::test]
async fn cross_border_alipay_charges_go_through_the_same_protocol() {
    let live = live().await;
    let created = live.create(Channel::CbAlipayQr, "ACB0001", json!({})).await;
    assert!(
        created["credential"]["cb_alipay_qr"]
            .as_str()
            .is_some_and(|qr| qr.starts_with("https://qr.alipay.com/")),
        "{created}"
    );
    live.sim.scan(APP_ID, "ACB0001").expect("scan");
    live.sim.pay(APP_ID, "ACB0001").expect("pay");
    live.wait_paid(created["id"].as_str().expect("id")).await;
}

#[tokio::test]
async fn isv_channels_pay_through_the_provider_they_name_and_refund_there() {
    let live = live().await;
    for (channel, order_no, extra) in [
        (
            Channel::IsvQr,
            "AIS00001",
            json!({"terminal_id": "T0001", "pay_channel": "alipay"}),
        ),
        (
            Channel::IsvWap,
            "AIS00002",
            json!({"terminal_id": "T0001", "pay_channel": "alipay",
                   "result_url": "https://merchant.example.com/done"}),
        ),
    ] {
        let created = live.create(channel, order_no, extra).await;
        let qr = created["credential"][channel.as_str()]
            .as_str()
            .expect("qr");
        assert!(qr.starts_with("https://qr.alipay.com/"), "{created}");
        live.sim.scan(APP_ID, order_no).expect("scan");
        live.sim.pay(APP_ID, order_no).expect("pay");
        let id = created["id"].as_str().expect("id");
        live.wait_paid(id).await;
        let refund = live.refund(id, 100).await;
        live.advance(0).await; // Alipay refunds synchronously in the submission job
        assert_eq!(live.refund_status(&refund).await, "succeeded");
    }
    // A scan charge on isv_scan finds Alipay by the payer's code.
    let scanned = live
        .create(Channel::IsvScan, "AIS00003", scan("286801346868493272"))
        .await;
    assert_eq!(scanned["paid"], true, "{scanned}");
}

#[tokio::test]
async fn a_replayed_genuine_notification_is_kept_once_and_changes_nothing_more() {
    let live = live().await;
    let created = live.create(Channel::AlipayQr, "AQR0009", json!({})).await;
    let id = created["id"].as_str().expect("id");
    let mut genuine = paid_notification(APP_ID, SELLER_ID, "AQR0009");
    sign_notify(&mut genuine, &live.alipay_key);
    for _ in 0..20 {
        assert_eq!(live.notify(&genuine).await, "success");
    }
    assert!(live.charge(id).await.paid);
    assert_eq!(live.succeeded_events().await, 1, "one charge.succeeded");
    assert_eq!(live.notifications("AQR0009").await.len(), 1, "kept once");
}

#[tokio::test]
async fn the_goods_list_of_a_scan_payment_reaches_alipay_as_goods_detail() {
    let live = live().await;
    let mut extra = scan(auth_codes::SUCCESS);
    extra["goods_list"] = json!([
        {"goods_id": "tea-1", "goods_name": "Oolong", "quantity": 2, "price": "12.50", "goods_category": "drinks"},
        {"goods_id": "cup-9", "goods_name": "Cup", "quantity": "1", "price": "3"}
    ]);
    let created = live.create(Channel::AlipayScan, "ASCGOODS1", extra).await;
    assert_eq!(created["paid"], true, "{created}");
    let trade = live.sim.trade(APP_ID, "ASCGOODS1").expect("trade");
    assert_eq!(trade.goods_detail.len(), 2);
    assert_eq!(trade.goods_detail[0]["goods_id"], "tea-1");
    assert_eq!(trade.goods_detail[0]["quantity"], 2);
    assert_eq!(trade.goods_detail[0]["goods_category"], "drinks");
    assert_eq!(trade.goods_detail[1]["price"], "3");
}
