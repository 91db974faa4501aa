//! Live mode against the WeChat Pay v2 simulator, over loopback HTTP both ways: the gateway
//! calls the simulator's API, the simulator notifies the gateway's notify endpoint. Both run on
//! one manual clock, so polling and query schedules are walked in milliseconds.
//! On PostgreSQL when `PAYMUX_TEST_DATABASE_URL` is set, else on SQLite.

use paymux_server::Clock;
use paymux_server::channels::Provider;
use paymux_server::domain::channel::Channel;
use paymux_server::payments::charges;
use paymux_simulators::wechat::{
    Knobs, RefundOutcome, TradeState, WechatConfig, WechatMerchant, WechatSimulator,
};
use serde_json::{Value, json};
use std::time::Duration;

mod common;
use common::live::{Gateway, serve};

const APPID: &str = "wx2421b1c4370ec43b";
const MCH_ID: &str = "10000100";
const API_KEY: &str = "192006250b4c09247ec02edce69f6a2d";

struct Live {
    gw: Gateway,
    sim: WechatSimulator,
    sim_url: String,
}

impl std::ops::Deref for Live {
    type Target = Gateway;
    fn deref(&self) -> &Gateway {
        &self.gw
    }
}

/// The gateway and a simulator on the same manual clock, the app's WeChat configured in live
/// mode to point at the simulator.
async fn live() -> Live {
    let gw = Gateway::start().await;
    let sim_clock = gw.clock.clone();
    let sim = WechatSimulator::new(
        WechatConfig::new(vec![WechatMerchant::new(APPID, MCH_ID, API_KEY)])
            .with_clock(move || sim_clock.now_ms())
            .with_knobs(Knobs {
                notify_time_scale: 0.0,
                ..Knobs::default()
            }),
    );
    let sim_url = serve(sim.router()).await;
    let live = Live { gw, sim, sim_url };
    live.configure_wechat(true).await;
    live
}

impl Live {
    /// Points the app's WeChat configuration in this mode at the simulator.
    async fn configure_wechat(&self, livemode: bool) {
        self.configure_mode(
            Provider::Wechat,
            &[
                ("appid", APPID),
                ("mch_id", MCH_ID),
                ("api_key", API_KEY),
                ("gateway_url", self.sim_url.as_str()),
                ("client_cert_pem", CERT),
                ("client_key_pem", KEY),
            ],
            livemode,
        )
        .await;
    }
}

/// The WeChat transaction number in the notifications tests post themselves.
const NOTIFIED_TRANSACTION: &str = "4200000000000000000000000099";

impl Live {
    /// POSTs a pay notification saying `order_no` (100 fen) was paid, signed with `key`;
    /// returns the gateway's answer.
    async fn notify_paid(&self, order_no: &str, key: &str) -> String {
        let mut note = paymux_channels::Params::new()
            .with("return_code", "SUCCESS")
            .with("result_code", "SUCCESS")
            .with("appid", APPID)
            .with("mch_id", MCH_ID)
            .with("out_trade_no", order_no)
            .with("transaction_id", NOTIFIED_TRANSACTION)
            .with("total_fee", "100")
            .with("time_end", "20270101000000")
            .with("nonce_str", "n1");
        let md5 = paymux_channels::wechat_v2::SignType::Md5;
        paymux_channels::wechat_v2::add_sign(&mut note, md5, key);
        reqwest::Client::new()
            .post(format!("{}/notify/wechat/{}/live", self.base_url, self.app))
            .body(paymux_channels::wechat_v2::to_xml(&note).expect("xml"))
            .send()
            .await
            .expect("post")
            .text()
            .await
            .expect("text")
    }

    /// A paid live QR charge of 100 fen.
    async fn paid(&self, order_no: &str) -> String {
        let created = self
            .create(Channel::WxPubQr, order_no, json!({"product_id": "p1"}))
            .await;
        let id = created["id"].as_str().expect("id").to_owned();
        self.sim.pay(MCH_ID, order_no).expect("pay");
        self.wait_paid(&id).await;
        id
    }
}

#[tokio::test]
async fn a_qr_charge_is_paid_through_the_notification_once_even_when_duplicated() {
    let live = live().await;
    live.sim.update_knobs(|k| k.duplicate_notifications = true);
    let created = live
        .create(Channel::WxPubQr, "LQR0001", json!({"product_id": "p1"}))
        .await;
    let code_url = created["credential"]["wx_pub_qr"]
        .as_str()
        .expect("code_url");
    assert!(
        code_url.starts_with("weixin://wxpay/bizpayurl"),
        "{created}"
    );
    assert_eq!(created["livemode"], true);
    assert_eq!(created["paid"], false);

    live.sim
        .pay(MCH_ID, "LQR0001")
        .expect("the payer scans and pays");
    let id = created["id"].as_str().expect("id");
    live.wait_paid(id).await;
    // The duplicate copy is acknowledged too, and changes nothing.
    for _ in 0..100 {
        let notes = live.sim.notifications();
        if notes.iter().all(|n| n.deliveries.len() >= 2) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(live.succeeded_events().await, 1, "one charge.succeeded");
    let kept = live.notifications("LQR0001").await;
    assert_eq!(kept.len(), 1, "an identical redelivery is kept once");
    assert!(
        kept.iter()
            .all(|n| n.provider == "wechat" && n.body.contains("LQR0001"))
    );
    let charge = live.charge(id).await;
    assert_eq!(
        charge.transaction_no.as_deref(),
        live.sim
            .order(MCH_ID, "LQR0001")
            .expect("order")
            .transaction_id
            .as_deref(),
        "the channel's transaction number"
    );
}

#[tokio::test]
async fn a_forged_notification_changes_nothing() {
    let live = live().await;
    let created = live
        .create(Channel::WxPubQr, "LQR0002", json!({"product_id": "p1"}))
        .await;
    // Signed with another key: what an attacker who knows the order number could send.
    let answer = live
        .notify_paid("LQR0002", "00000000000000000000000000000000")
        .await;
    assert!(answer.contains("FAIL"), "{answer}");
    let charge = live.charge(created["id"].as_str().expect("id")).await;
    assert!(!charge.paid, "nothing changed");
    assert_eq!(live.succeeded_events().await, 0);
    assert!(live.notifications("LQR0002").await.is_empty(), "not kept");
}

#[tokio::test]
async fn a_lost_notification_is_recovered_by_the_query_job() {
    let live = live().await;
    live.sim.update_knobs(|k| k.drop_notifications = true);
    let created = live
        .create(Channel::WxPubQr, "LQR0003", json!({"product_id": "p1"}))
        .await;
    let id = created["id"].as_str().expect("id");
    live.sim.pay(MCH_ID, "LQR0003").expect("pay");
    live.advance(29_000).await;
    assert!(
        !live.charge(id).await.paid,
        "the first query is due after 30 s"
    );
    live.advance(1_000).await;
    assert!(live.charge(id).await.paid, "the query found it paid");
    assert_eq!(live.succeeded_events().await, 1);
}

#[tokio::test]
async fn a_scan_payment_waiting_for_a_password_is_polled_until_paid() {
    let live = live().await;
    // USERPAYING twice, then SUCCESS.
    let created = live
        .create(
            Channel::WxPubScan,
            "LSC0001",
            json!({"scan_code": "130001020000000001"}),
        )
        .await;
    let id = created["id"].as_str().expect("id");
    assert_eq!(created["paid"], false, "the payer is typing a password");
    live.advance(5_000).await;
    live.advance(5_000).await;
    assert!(!live.charge(id).await.paid);
    live.advance(5_000).await;
    assert!(live.charge(id).await.paid, "paid on the third poll");
}

#[tokio::test]
async fn a_scan_payment_whose_outcome_stays_unknown_is_reversed_after_a_minute() {
    let live = live().await;
    // SYSTEMERROR, and the payment never reached WeChat.
    let created = live
        .create(
            Channel::WxPubScan,
            "LSC0002",
            json!({"scan_code": "130005000000000001"}),
        )
        .await;
    let id = created["id"].as_str().expect("id");
    assert_eq!(created["paid"], false);
    for _ in 0..11 {
        live.advance(5_000).await;
    }
    assert!(!live.charge(id).await.reversed, "still polling before 60 s");
    live.advance(5_000).await;
    live.advance(5_000).await;
    assert!(
        live.charge(id).await.reversed,
        "reversed (closed) after the window"
    );
    assert_eq!(
        live.events("charge.reversed").await,
        1,
        "the merchant hears"
    );
}

#[tokio::test]
async fn a_reverse_the_channel_keeps_refusing_is_tried_for_ten_minutes_then_left_to_queries() {
    let live = live().await;
    live.sim.update_knobs(|k| {
        k.fail_next = 10_000;
        k.fail_path = Some("/secapi/pay/reverse".into());
    });
    let created = live
        .create(
            Channel::WxPubScan,
            "LSC0005",
            json!({"scan_code": "130003000000000001"}),
        )
        .await;
    let id = created["id"].as_str().expect("id");
    // 60 s of polling, then a reverse every 5 s for ten minutes: all refused.
    for _ in 0..(12 + 121) {
        live.advance(5_000).await;
    }
    let refused = 10_000 - live.sim.knobs().fail_next;
    assert!((118..=122).contains(&refused), "{refused} reverse calls");
    for _ in 0..12 {
        live.advance(5_000).await;
    }
    assert_eq!(
        10_000 - live.sim.knobs().fail_next,
        refused,
        "no more reverse calls after ten minutes"
    );
    assert!(!live.charge(id).await.reversed);
    // The query schedule still settles a payment that shows up.
    live.sim
        .pay(MCH_ID, "LSC0005")
        .expect("the payer confirms at last");
    live.advance(60_000).await;
    assert!(live.charge(id).await.paid);
}

#[tokio::test]
async fn the_api_reverse_closes_an_unpaid_qr_order_at_the_channel() {
    let live = live().await;
    let created = live
        .create(
            Channel::IsvQr,
            "LRV0001",
            json!({"terminal_id": "T0000001", "pay_channel": "wx"}),
        )
        .await;
    let id = created["id"].as_str().expect("id");
    let reversed = live.reverse(id).await.expect("reverse");
    assert_eq!(reversed["reversed"], true, "{reversed}");
    assert_eq!(reversed["paid"], false);
    assert_eq!(
        live.sim
            .order(MCH_ID, "LRV0001")
            .expect("order")
            .trade_state,
        TradeState::Closed,
        "closed at WeChat, so a late scan cannot pay it"
    );
    assert!(live.sim.pay(MCH_ID, "LRV0001").is_err());
    assert_eq!(live.events("charge.reversed").await, 1);
    // Again: the same answer, nothing new.
    let again = live.reverse(id).await.expect("reverse again");
    assert_eq!(again["reversed"], true);
    assert_eq!(live.events("charge.reversed").await, 1);
}

#[tokio::test]
async fn the_api_reverse_of_a_paid_scan_payment_refunds_it_through_the_channel() {
    let live = live().await;
    let created = live
        .create(
            Channel::WxPubScan,
            "LRV0002",
            json!({"scan_code": "134628839776154108"}),
        )
        .await;
    let id = created["id"].as_str().expect("id");
    assert_eq!(created["paid"], true);
    let reversed = live.reverse(id).await.expect("reverse");
    assert_eq!(reversed["reversed"], true, "{reversed}");
    assert_eq!(reversed["refunded"], true);
    let refund = reversed["refunds"]["data"][0]["id"]
        .as_str()
        .expect("refund")
        .to_owned();
    assert_eq!(reversed["refunds"]["data"][0]["status"], "pending");
    live.advance(0).await; // the submission job
    live.clock.advance_ms(5_000);
    assert_eq!(live.wait_refund(&refund).await, "succeeded");
    let order = live.sim.order(MCH_ID, "LRV0002").expect("order");
    assert_eq!(order.refunds.len(), 1, "refunded once, in full");
    assert_eq!(
        live.refund_row(&refund).await.transaction_no.as_deref(),
        Some(order.refunds[0].refund_id.as_str()),
        "the channel's refund number"
    );
    assert_eq!(live.charge(id).await.amount_refunded, 100);
}

#[tokio::test]
async fn the_api_reverse_of_an_order_paid_unbeknownst_records_the_payment_and_refunds_it() {
    let live = live().await;
    live.sim.update_knobs(|k| k.drop_notifications = true);
    let created = live
        .create(
            Channel::IsvQr,
            "LRV0004",
            json!({"terminal_id": "T0000001", "pay_channel": "wx"}),
        )
        .await;
    let id = created["id"].as_str().expect("id");
    live.sim
        .pay(MCH_ID, "LRV0004")
        .expect("paid; the notification is lost");
    // closeorder answers ORDERPAID; the gateway asks, records the payment, and refunds it.
    let reversed = live.reverse(id).await.expect("reverse");
    assert_eq!(reversed["reversed"], true, "{reversed}");
    assert_eq!(reversed["paid"], true);
    assert_eq!(reversed["refunds"]["data"][0]["amount"], 100);
    assert_eq!(live.succeeded_events().await, 1);
    live.advance(0).await;
    assert_eq!(
        live.sim
            .order(MCH_ID, "LRV0004")
            .expect("order")
            .refunds
            .len(),
        1,
        "refunded at WeChat"
    );
}

#[tokio::test]
async fn a_reverse_the_channel_refuses_changes_nothing() {
    let live = live().await;
    let created = live
        .create(
            Channel::WxPubScan,
            "LRV0003",
            json!({"scan_code": "130003000000000001"}),
        )
        .await;
    let id = created["id"].as_str().expect("id");
    // The payer is still confirming: WeChat refuses to reverse (USERPAYING).
    let error = live.reverse(id).await.expect_err("refused");
    assert_eq!(error.reason, paymux_server::error::Reason::Channel);
    assert_eq!(error.code.as_deref(), Some("channel_reverse_failed"));
    assert!(
        error.message.contains("still confirming"),
        "{}",
        error.message
    );
    let charge = live.charge(id).await;
    assert!(!charge.reversed && !charge.paid, "nothing changed");
    assert_eq!(live.events("charge.reversed").await, 0);
}

#[tokio::test]
async fn a_payer_still_confirming_after_a_minute_is_polled_until_paid() {
    let live = live().await;
    let created = live
        .create(
            Channel::WxPubScan,
            "LSC0004",
            json!({"scan_code": "130003000000000001"}),
        )
        .await;
    let id = created["id"].as_str().expect("id");
    for _ in 0..14 {
        live.advance(5_000).await;
    }
    // Reverse was refused (USERPAYING, recall=Y): nothing closed, still polling.
    let charge = live.charge(id).await;
    assert!(!charge.paid && !charge.reversed);
    assert_eq!(
        live.sim
            .order(MCH_ID, "LSC0004")
            .expect("order")
            .trade_state,
        TradeState::UserPaying
    );
    live.sim.pay(MCH_ID, "LSC0004").expect("the payer confirms");
    live.advance(5_000).await;
    assert!(live.charge(id).await.paid);
}

#[tokio::test]
async fn an_immediate_scan_payment_is_paid_in_the_create_answer() {
    let live = live().await;
    let created = live
        .create(
            Channel::WxPubScan,
            "LSC0003",
            json!({"scan_code": "134628839776154108"}),
        )
        .await;
    assert_eq!(created["paid"], true, "{created}");
    assert_eq!(live.succeeded_events().await, 1);
}

/// A self-signed client certificate for the /secapi client (test fixture; the simulator does
/// not check it, but the adapter must load it).
const CERT: &str = include_str!("fixtures/apiclient_cert.pem");
const KEY: &str = include_str!("fixtures/apiclient_key.pem");

#[tokio::test]
async fn a_refund_is_submitted_by_a_job_and_settled_by_the_notification() {
    let live = live().await;
    let charge = live.paid("LRF0001").await;
    let refund = live.refund(&charge, 30).await;
    live.advance(0).await; // the submission job
    let order = live.sim.order(MCH_ID, "LRF0001").expect("order");
    assert_eq!(order.refunds.len(), 1, "submitted once");
    assert_eq!(
        order.refunds[0].out_refund_no, refund,
        "under the refund's id"
    );
    live.clock.advance_ms(5_000); // the simulator settles it and notifies
    assert_eq!(live.wait_refund(&refund).await, "succeeded");
    assert_eq!(live.charge(&charge).await.amount_refunded, 30);
}

#[tokio::test]
async fn a_refund_whose_notification_is_lost_is_settled_by_the_query_job() {
    let live = live().await;
    let charge = live.paid("LRF0002").await;
    live.sim.update_knobs(|k| k.drop_notifications = true);
    let refund = live.refund(&charge, 100).await;
    live.advance(0).await;
    live.advance(30_000).await;
    assert_eq!(live.refund_status(&refund).await, "pending");
    live.advance(30_000).await; // the first query, 60 s after acceptance
    assert_eq!(live.refund_status(&refund).await, "succeeded");
    assert_eq!(live.charge(&charge).await.amount_refunded, 100);
}

#[tokio::test]
async fn an_unknown_refund_answer_is_resubmitted_under_the_same_number_and_refunds_once() {
    let live = live().await;
    let charge = live.paid("LRF0003").await;
    // WeChat takes the refund but answers SYSTEMERROR.
    live.sim.update_knobs(|k| {
        k.fail_next = 1;
        k.fail_path = Some("/secapi/pay/refund".into());
        k.fail_after_effect = true;
    });
    let refund = live.refund(&charge, 40).await;
    live.advance(0).await;
    assert_eq!(live.refund_status(&refund).await, "pending");
    live.advance(30_000).await; // resubmitted with the same out_refund_no
    let order = live.sim.order(MCH_ID, "LRF0003").expect("order");
    assert_eq!(order.refunds.len(), 1, "refunded once");
    live.clock.advance_ms(5_000);
    assert_eq!(live.wait_refund(&refund).await, "succeeded");
    assert_eq!(live.charge(&charge).await.amount_refunded, 40);
}

#[tokio::test]
async fn a_refund_the_channel_closes_fails_and_its_amount_is_refundable_again() {
    let live = live().await;
    let charge = live.paid("LRF0004").await;
    live.sim
        .update_knobs(|k| k.refund_outcome = RefundOutcome::RefundClose);
    let refund = live.refund(&charge, 100).await;
    live.advance(0).await;
    live.clock.advance_ms(5_000);
    assert_eq!(live.wait_refund(&refund).await, "failed");
    let charge_now = live.charge(&charge).await;
    assert_eq!(charge_now.amount_refunded, 0);
    assert_eq!(charge_now.refundable(), 100, "refundable again");
}

#[tokio::test]
async fn a_refund_the_payer_cannot_receive_keeps_its_amount_taken_and_waits_for_an_operator() {
    let live = live().await;
    let charge = live.paid("LRF0005").await;
    // CHANGE (退款异常): the money left the merchant, the payer's card refused it.
    live.sim
        .update_knobs(|k| k.refund_outcome = RefundOutcome::Change);
    let refund = live.refund(&charge, 100).await;
    live.advance(0).await;
    live.clock.advance_ms(5_000);
    assert_eq!(live.wait_refund(&refund).await, "abnormal");
    let row = live.refund_row(&refund).await;
    assert_eq!(row.failure_code.as_deref(), Some("CHANGE"));
    // Not refundable again: a second refund would pay the same money twice.
    let charge_now = live.charge(&charge).await;
    assert_eq!(charge_now.refundable(), 0);
    assert_eq!(charge_now.amount_refunded, 0);
    assert_eq!(live.events("refund.failed").await, 0);
    assert_eq!(live.events("refund.succeeded").await, 0);
    // On the Ping++ wire it is still pending, with the channel's code and message.
    let wire = row.to_wire();
    assert_eq!(wire["status"], "pending");
    assert_eq!(wire["failure_code"], "CHANGE");
    // No more queries: the channel's answer is final.
    live.advance(86_400_000).await;
    assert_eq!(live.refund_row(&refund).await.status.as_str(), "abnormal");
}

#[tokio::test]
async fn isv_scan_goes_to_the_provider_whose_payment_code_the_payer_shows() {
    let live = live().await;
    let created = live
        .create(
            Channel::IsvScan,
            "LIS00001",
            json!({"terminal_id": "T0000001", "scan_code": "134628839776154108"}),
        )
        .await;
    assert_eq!(created["paid"], true, "{created}");
    assert!(
        live.sim.order(MCH_ID, "LIS00001").is_some(),
        "paid at WeChat"
    );
    // An Alipay code: this app has no Alipay configured, so nothing is stored.
    let error = live
        .try_create(
            Channel::IsvScan,
            "LIS00002",
            json!({"terminal_id": "T0000001", "scan_code": "286801346868493272"}),
        )
        .await
        .expect_err("no Alipay here");
    assert_eq!(error.code.as_deref(), Some("channel_not_configured"));
}

mod recharges {
    use super::*;
    use paymux_server::payments::recharges::{self, NewRecharge};
    use paymux_server::payments::refunds::NewRefund;
    use paymux_server::store;
    use serde_json::{Map, Value};

    async fn recharge(live: &Live, order_no: &str) -> Value {
        let mut charge = common::live::new_charge(
            &live.app,
            Channel::WxPubQr,
            order_no,
            json!({"product_id": "p1"}),
        );
        charge.amount = 1_000;
        recharges::create(
            &live.state,
            live.caller.clone(),
            NewRecharge {
                user: "u1".into(),
                from_user: None,
                charge,
                user_fee: 0,
                balance_bonus: 100,
                description: None,
                metadata: Map::new(),
            },
            live.base_url.clone(),
        )
        .await
        .expect("recharge")
    }

    async fn balance(live: &Live) -> i64 {
        let mut conn = live.state.db.reader().acquire().await.expect("conn");
        store::recharges::get_user(&mut conn, &live.app, true, "u1")
            .await
            .expect("user")
            .map_or(0, |u| u.balance)
    }

    async fn refund(live: &Live, recharge: &str) -> String {
        let refund = recharges::refund(
            &live.state,
            live.caller.clone(),
            live.app.clone(),
            recharge.to_owned(),
            NewRefund {
                amount: None,
                description: "back".into(),
                metadata: Map::new(),
                funding_source: None,
            },
        )
        .await
        .expect("refund");
        assert_eq!(refund["status"], "pending");
        refund["id"].as_str().expect("id").to_owned()
    }

    #[tokio::test]
    async fn a_live_recharge_is_paid_at_the_channel_and_refunded_through_it() {
        let live = live().await;
        let created = recharge(&live, "LRC0001").await;
        assert_eq!(created["livemode"], true, "{created}");
        assert_eq!(created["succeeded"], false);
        let code_url = created["charge"]["credential"]["wx_pub_qr"]
            .as_str()
            .expect("code_url");
        assert!(code_url.starts_with("weixin://"), "{created}");
        live.sim.pay(MCH_ID, "LRC0001").expect("the payer pays");
        let charge = created["charge"]["id"].as_str().expect("charge id");
        live.wait_paid(charge).await;
        assert_eq!(balance(&live).await, 1_100, "charge + bonus credited");
        assert_eq!(live.events("recharge.succeeded").await, 1);

        let id = created["id"].as_str().expect("id");
        let refund = refund(&live, id).await;
        assert_eq!(balance(&live).await, 0, "debited at once");
        live.advance(0).await; // submitted to WeChat
        live.clock.advance_ms(5_000);
        assert_eq!(live.wait_refund(&refund).await, "succeeded");
        let order = live.sim.order(MCH_ID, "LRC0001").expect("order");
        assert_eq!(order.refunds.len(), 1);
        assert_eq!(order.refunds[0].refund_fee, 1_000);
    }

    #[tokio::test]
    async fn a_recharge_refund_the_channel_closes_gives_the_balance_back() {
        let live = live().await;
        let created = recharge(&live, "LRC0002").await;
        live.sim.pay(MCH_ID, "LRC0002").expect("pay");
        live.wait_paid(created["charge"]["id"].as_str().expect("charge"))
            .await;
        live.sim
            .update_knobs(|k| k.refund_outcome = RefundOutcome::RefundClose);
        let id = created["id"].as_str().expect("id");
        let first = refund(&live, id).await;
        live.advance(0).await;
        live.clock.advance_ms(5_000);
        assert_eq!(live.wait_refund(&first).await, "failed");
        assert_eq!(balance(&live).await, 1_100, "credited back");
        live.sim
            .update_knobs(|k| k.refund_outcome = RefundOutcome::Success);
        let second = refund(&live, id).await;
        live.advance(0).await;
        live.clock.advance_ms(5_000);
        assert_eq!(live.wait_refund(&second).await, "succeeded");
        assert_eq!(balance(&live).await, 0);
    }
}

#[tokio::test]
async fn cross_border_wechat_charges_go_through_the_same_protocol() {
    let live = live().await;
    let goods = json!([{"goods_name": "Apple", "goods_num": 1}]);
    let created = live
        .create(
            Channel::CbWxPubQr,
            "LCB0001",
            json!({"product_id": "p1", "goods_list": goods}),
        )
        .await;
    let code_url = created["credential"]["cb_wx_pub_qr"]
        .as_str()
        .expect("code_url");
    assert!(code_url.starts_with("weixin://"), "{created}");
    live.sim.pay(MCH_ID, "LCB0001").expect("pay");
    live.wait_paid(created["id"].as_str().expect("id")).await;
    let scanned = live
        .create(
            Channel::CbWxPubScan,
            "LCB0002",
            json!({"scan_code": "134628839776154108", "goods_list": goods}),
        )
        .await;
    assert_eq!(scanned["paid"], true, "{scanned}");
}

#[tokio::test]
async fn a_refund_to_a_bank_card_stays_pending_for_days_until_the_channel_settles_it() {
    let live = live().await;
    let charge = live.paid("LRF0005").await;
    live.sim.update_knobs(|k| {
        k.refund_bank_card = true;
        k.drop_notifications = true;
    });
    let refund = live.refund(&charge, 100).await;
    live.advance(0).await; // submitted: PROCESSING
    // Queried after 1 min, 5 min, 30 min, 2 h, 6 h, then daily: three days pass pending.
    for step in [60, 300, 1_800, 7_200, 21_600, 86_400, 86_400] {
        live.advance(step * 1000).await;
        assert_eq!(live.refund_status(&refund).await, "pending");
    }
    live.advance(86_400 * 1000).await; // past three days: WeChat reports SUCCESS
    assert_eq!(live.refund_status(&refund).await, "succeeded");
    assert_eq!(live.charge(&charge).await.amount_refunded, 100);
}

#[tokio::test]
async fn test_mode_pointed_at_the_simulator_takes_the_full_asynchronous_path() {
    let live = live().await;
    live.configure_wechat(false).await;
    let mut caller = live.caller.clone();
    caller.livemode = false;
    let created = charges::create(
        &live.state,
        caller.clone(),
        common::live::new_charge(
            &live.app,
            Channel::WxPubQr,
            "LTM0001",
            json!({"product_id": "p1"}),
        ),
        live.base_url.clone(),
    )
    .await
    .expect("create");
    assert_eq!(created["livemode"], false);
    let code_url = created["credential"]["wx_pub_qr"]
        .as_str()
        .expect("code_url");
    assert!(
        code_url.starts_with("weixin://"),
        "the simulator's, not the mock page: {created}"
    );
    // The gateway's own test helper does not pay what WeChat carries: WeChat would not know.
    let id = created["id"].as_str().expect("id").to_owned();
    let helper = charges::test_pay(&live.state, caller, id, charges::PayResult::Success).await;
    let error = helper.expect_err("a WeChat-carried charge");
    assert!(error.message.contains("carried by wechat"), "{error:?}");
    assert!(!live.charge(created["id"].as_str().expect("id")).await.paid);
    live.sim.pay(MCH_ID, "LTM0001").expect("pay");
    live.wait_paid(created["id"].as_str().expect("id")).await;
}

#[tokio::test]
async fn an_expired_qr_order_is_closed_at_the_channel_so_a_late_scan_cannot_pay_it() {
    let live = live().await;
    let mut new = common::live::new_charge(
        &live.app,
        Channel::WxPubQr,
        "LEX0001",
        json!({"product_id": "p1"}),
    );
    new.time_expire = Some(live.clock.now_secs() + 400);
    let created = charges::create(&live.state, live.caller.clone(), new, live.base_url.clone())
        .await
        .expect("create");
    // Queried at 30 s, 90 s and 210 s (not paid); at 510 s it has expired: closed.
    for step in [30_000, 60_000, 120_000] {
        live.advance(step).await;
    }
    assert_eq!(
        live.sim
            .order(MCH_ID, "LEX0001")
            .expect("order")
            .trade_state,
        TradeState::NotPay
    );
    live.advance(300_000).await;
    assert_eq!(
        live.sim
            .order(MCH_ID, "LEX0001")
            .expect("order")
            .trade_state,
        TradeState::Closed
    );
    assert!(live.sim.pay(MCH_ID, "LEX0001").is_err(), "a late scan");
    assert!(!live.charge(created["id"].as_str().expect("id")).await.paid);
}

#[tokio::test]
async fn a_payment_the_channel_reports_for_a_failed_charge_is_refunded_not_lost() {
    let live = live().await;
    // USERPAYING, then PAYERROR on the first query: the charge fails.
    let created = live
        .create(
            Channel::WxPubScan,
            "LLP0001",
            json!({"scan_code": "130002010000000001"}),
        )
        .await;
    let id = created["id"].as_str().expect("id");
    for _ in 0..3 {
        live.advance(5_000).await;
    }
    assert!(live.charge(id).await.failure_code.is_some(), "failed");
    // WeChat then says it was paid after all (signed with the merchant's key, as WeChat signs).
    let answer = live.notify_paid("LLP0001", API_KEY).await;
    assert!(answer.contains("SUCCESS"), "acknowledged: {answer}");
    let charge = live.charge(id).await;
    assert!(charge.paid, "the money is accounted for");
    assert_eq!(charge.transaction_no.as_deref(), Some(NOTIFIED_TRANSACTION));
    assert_eq!(
        live.succeeded_events().await,
        0,
        "the merchant was told it failed"
    );
    assert_eq!(charge.refundable(), 0, "all of it is on its way back");
    assert!(charge.refunded, "through a refund the merchant can see");
}

#[tokio::test]
async fn a_micropay_answered_orderpaid_is_asked_about_not_failed() {
    let live = live().await;
    // The payment goes through, but WeChat's answer is ORDERPAID (as for a retried micropay
    // whose first answer was lost): the order is this charge's, and it is paid.
    live.sim.update_knobs(|k| {
        k.fail_next = 1;
        k.fail_path = Some("/pay/micropay".into());
        k.fail_after_effect = true;
        k.fail_code = Some("ORDERPAID".into());
    });
    let created = live
        .create(
            Channel::WxPubScan,
            "LSC0091",
            json!({"scan_code": "134567890123456789"}),
        )
        .await;
    assert_eq!(created["paid"], true, "{created}");
    assert_eq!(live.succeeded_events().await, 1);
}

#[tokio::test]
async fn a_refund_whose_answer_stays_unknown_is_asked_again_less_and_less_often() {
    let live = live().await;
    let charge = live.paid("LRF0010").await;
    // WeChat answers SYSTEMERROR to the first four submissions (and does nothing).
    live.sim.update_knobs(|k| {
        k.fail_next = 4;
        k.fail_path = Some("/secapi/pay/refund".into());
    });
    let refund = live.refund(&charge, 40).await;
    let failures_left = || live.sim.knobs().fail_next;
    live.advance(0).await;
    assert_eq!(failures_left(), 3, "submitted at once");
    // Again after 30 s, then 60 s, then 120 s: each wait is longer than the one before.
    for (wait, early, left) in [(30_000, 0, 2), (60_000, 30_000, 1), (120_000, 60_000, 0)] {
        if early > 0 {
            live.advance(early).await;
            assert_eq!(failures_left(), left + 1, "not before {wait} ms");
        }
        live.advance(wait - early).await;
        assert_eq!(failures_left(), left, "again after {wait} ms");
    }
    live.advance(300_000).await; // the fifth submission is accepted
    live.clock.advance_ms(5_000);
    assert_eq!(live.wait_refund(&refund).await, "succeeded");
    let order = live.sim.order(MCH_ID, "LRF0010").expect("order");
    assert_eq!(order.refunds.len(), 1, "refunded once");
}

#[tokio::test]
async fn a_refund_answered_frequency_limited_is_sent_again_with_the_same_number() {
    let live = live().await;
    let created = live
        .create(
            Channel::WxPubScan,
            "LSC0092",
            json!({"scan_code": "134567890123456780"}),
        )
        .await;
    let id = created["id"].as_str().expect("id");
    live.sim.update_knobs(|k| {
        k.fail_next = 1;
        k.fail_path = Some("/secapi/pay/refund".into());
        k.fail_code = Some("FREQUENCY_LIMITED".into());
    });
    let refund = live.refund(id, 100).await;
    live.advance(0).await; // submitted: FREQUENCY_LIMITED
    assert_eq!(live.refund_status(&refund).await, "pending", "not failed");
    live.advance(30_000).await; // submitted again, same out_refund_no: accepted
    live.clock.advance_ms(5_000);
    assert_eq!(live.wait_refund(&refund).await, "succeeded");
    let order = live.sim.order(MCH_ID, "LSC0092").expect("order");
    assert_eq!(order.refunds.len(), 1, "one refund at WeChat");
}

#[tokio::test]
async fn what_the_merchant_asked_for_reaches_wechat() {
    let live = live().await;
    let created = live
        .create(
            Channel::WxPubScan,
            "LSC0093",
            json!({
                "scan_code": "134567890123456781",
                "limit_pay": "no_credit",
                "goods_tag": "WXG",
            }),
        )
        .await;
    let id = created["id"].as_str().expect("id");
    let refund = live.refund(id, 100).await;
    live.advance(0).await; // the submission job
    let order = live.sim.order(MCH_ID, "LSC0093").expect("order");
    assert_eq!(order.limit_pay.as_deref(), Some("no_credit"));
    assert_eq!(order.goods_tag.as_deref(), Some("WXG"));
    assert_eq!(order.refunds.len(), 1, "{refund}");
    assert_eq!(order.refunds[0].refund_desc.as_deref(), Some("back"));
}

#[tokio::test]
async fn a_cross_border_goods_list_reaches_wechat_as_detail_when_it_can() {
    let live = live().await;
    let goods = json!([
        {"goods_name": "奶粉", "goods_num": "2", "goods_id": "SKU-1", "price": "45.50"},
        {"goods_name": "Vitamins", "goods_num": 1, "goods_id": "SKU-2", "price": 9},
    ]);
    live.create(
        Channel::CbWxPubQr,
        "LCB0001",
        json!({"product_id": "P1", "goods_list": goods}),
    )
    .await;
    let order = live.sim.order(MCH_ID, "LCB0001").expect("order");
    let detail: Value =
        serde_json::from_str(order.detail.as_deref().expect("detail sent")).expect("JSON");
    assert_eq!(
        detail,
        json!({"goods_detail": [
            {"goods_id": "SKU-1", "goods_name": "奶粉", "quantity": 2, "price": 4550},
            {"goods_id": "SKU-2", "goods_name": "Vitamins", "quantity": 1, "price": 900},
        ]})
    );
    // Lines without the ids and prices WeChat requires are not sent; the order goes through.
    let created = live
        .create(
            Channel::CbWxPubQr,
            "LCB0002",
            json!({"product_id": "P1", "goods_list": [{"goods_name": "奶粉", "goods_num": "2"}]}),
        )
        .await;
    assert!(
        created["credential"]["cb_wx_pub_qr"].is_string(),
        "{created}"
    );
    assert_eq!(
        live.sim.order(MCH_ID, "LCB0002").expect("order").detail,
        None
    );
}

/// WeChat's own SDK signs values trimmed; a subject with spaces around it is sent as signed,
/// so WeChat (and any library) reads the same request.
#[tokio::test]
async fn a_subject_with_spaces_around_it_is_sent_as_it_is_signed() {
    let live = live().await;
    let mut new = common::live::new_charge(&live.app, Channel::WxPubQr, "LQRTRIM1", json!({}));
    new.subject = "  Apple tea \t".into();
    let created = charges::create(&live.state, live.caller.clone(), new, live.base_url.clone())
        .await
        .expect("create");
    assert!(created["credential"]["wx_pub_qr"].is_string(), "{created}");
    let order = live.sim.order(MCH_ID, "LQRTRIM1").expect("order at WeChat");
    assert_eq!(order.body, "Apple tea");
}
