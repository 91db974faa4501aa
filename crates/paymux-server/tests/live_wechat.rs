//! Live mode against the WeChat Pay v2 simulator, over loopback HTTP both ways: the gateway
//! calls the simulator's API, the simulator notifies the gateway's notify endpoint. Both run on
//! one manual clock, so polling and query schedules are walked in milliseconds.
//! On PostgreSQL when `PAYMUX_TEST_DATABASE_URL` is set, else on SQLite.

use paymux_server::channels::Provider;
use paymux_server::channels::config::{self, ProviderSettings};
use paymux_server::domain::Caller;
use paymux_server::domain::channel::Channel;
use paymux_server::payments::charges::{self, NewCharge};
use paymux_server::payments::refunds::{self, NewRefund};
use paymux_server::secrets::SecretsKey;
use paymux_server::{AppState, Clock, ManualClock, Settings, jobs, store};
use paymux_simulators::wechat::{
    Knobs, RefundOutcome, TradeState, WechatConfig, WechatMerchant, WechatSimulator,
};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

mod common;

const APPID: &str = "wx2421b1c4370ec43b";
const MCH_ID: &str = "10000100";
const API_KEY: &str = "192006250b4c09247ec02edce69f6a2d";

struct Live {
    state: AppState,
    clock: Arc<ManualClock>,
    caller: Caller,
    app: String,
    sim: WechatSimulator,
    base_url: String,
    _dir: tempfile::TempDir,
}

async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

/// The gateway (serving its API, for notifications) and a simulator on the same manual clock,
/// the app's WeChat configured in live mode to point at the simulator.
async fn live() -> Live {
    use base64::Engine;
    let key = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
    // The gateway's address first: it is the public URL the channel notifies.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base_url = format!("http://{}", listener.local_addr().expect("addr"));
    let settings = Settings {
        secrets_key: Some(SecretsKey::from_base64(&key).expect("key")),
        public_url: Some(base_url.clone()),
        ..Settings::default()
    };
    let (state, clock, mut caller, app, dir) = common::setup(settings).await;
    caller.livemode = true;
    let sim_clock = clock.clone();
    let sim = WechatSimulator::new(
        WechatConfig::new(vec![WechatMerchant::new(APPID, MCH_ID, API_KEY)])
            .with_clock(move || sim_clock.now_ms())
            .with_knobs(Knobs {
                notify_time_scale: 0.0,
                ..Knobs::default()
            }),
    );
    let sim_url = serve(sim.router()).await;
    let router = paymux_server::api::router(state.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let given: BTreeMap<String, String> = [
        ("appid", APPID),
        ("mch_id", MCH_ID),
        ("api_key", API_KEY),
        ("gateway_url", sim_url.as_str()),
        ("client_cert_pem", CERT),
        ("client_key_pem", KEY),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let wechat = ProviderSettings::check(Provider::Wechat, &given).expect("settings");
    let secrets = state.settings.secrets_key.clone().expect("key");
    let app_id = app.clone();
    state
        .db
        .write(move |conn| {
            Box::pin(async move { config::save(conn, &secrets, &app_id, true, &wechat, 0).await })
        })
        .await
        .expect("configure");
    Live {
        state,
        clock,
        caller,
        app,
        sim,
        base_url,
        _dir: dir,
    }
}

fn charge(app: &str, channel: Channel, order_no: &str, extra: Value) -> NewCharge {
    NewCharge {
        app_id: app.into(),
        channel,
        order_no: order_no.into(),
        client_ip: "127.0.0.1".into(),
        amount: 100,
        currency: "cny".into(),
        subject: "Apple".into(),
        body: "A red apple".into(),
        description: None,
        extra: extra.as_object().cloned().unwrap_or_default(),
        metadata: Map::new(),
        time_expire: None,
    }
}

impl Live {
    async fn create(&self, channel: Channel, order_no: &str, extra: Value) -> Value {
        charges::create(
            &self.state,
            self.caller.clone(),
            charge(&self.app, channel, order_no, extra),
            self.base_url.clone(),
        )
        .await
        .expect("create")
    }

    async fn charge(&self, id: &str) -> paymux_server::domain::charge::Charge {
        let mut conn = self.state.db.reader().acquire().await.expect("conn");
        store::charges::get_any(&mut conn, id)
            .await
            .expect("get")
            .expect("exists")
    }

    async fn succeeded_events(&self) -> usize {
        let mut conn = self.state.db.reader().acquire().await.expect("conn");
        let page = store::Page {
            limit: 100,
            ..store::Page::default()
        };
        store::events::list(
            &mut conn,
            &self.caller.account_id,
            true,
            Some("charge.succeeded"),
            &page,
        )
        .await
        .expect("events")
        .0
        .len()
    }

    /// Waits (real time) until the charge is paid, as the notification arrives.
    async fn wait_paid(&self, id: &str) {
        for _ in 0..200 {
            if self.charge(id).await.paid {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("charge {id} was never paid");
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

    async fn refund(&self, charge_id: &str, amount: i64) -> String {
        let refund = refunds::create(
            &self.state,
            self.caller.clone(),
            charge_id.to_owned(),
            NewRefund {
                amount: Some(amount),
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

    async fn refund_status(&self, id: &str) -> String {
        let mut conn = self.state.db.reader().acquire().await.expect("conn");
        let refund = store::refunds::get_by_id(&mut conn, id)
            .await
            .expect("get")
            .expect("exists");
        refund.status.as_str().to_owned()
    }

    /// Waits (real time) for a refund to leave `pending`, as a notification arrives.
    async fn wait_refund(&self, id: &str) -> String {
        for _ in 0..300 {
            let status = self.refund_status(id).await;
            if status != "pending" {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("refund {id} stayed pending");
    }

    /// Advances the shared clock by `ms` and runs the jobs due then.
    async fn advance(&self, ms: i64) {
        self.clock.advance_ms(ms);
        jobs::run_due(&self.state).await.expect("jobs");
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
    let mut forged = paymux_channels::Params::new()
        .with("return_code", "SUCCESS")
        .with("result_code", "SUCCESS")
        .with("appid", APPID)
        .with("mch_id", MCH_ID)
        .with("out_trade_no", "LQR0002")
        .with("transaction_id", "4200000000000000000000000000")
        .with("total_fee", "100")
        .with("time_end", "20270101000000")
        .with("nonce_str", "abc");
    paymux_channels::wechat_v2::add_sign(
        &mut forged,
        paymux_channels::wechat_v2::SignType::Md5,
        "00000000000000000000000000000000",
    );
    let body = paymux_channels::wechat_v2::to_xml(&forged).expect("xml");
    let answer = reqwest::Client::new()
        .post(format!("{}/notify/wechat/{}/live", live.base_url, live.app))
        .body(body)
        .send()
        .await
        .expect("post")
        .text()
        .await
        .expect("text");
    assert!(answer.contains("FAIL"), "{answer}");
    let charge = live.charge(created["id"].as_str().expect("id")).await;
    assert!(!charge.paid, "nothing changed");
    assert_eq!(live.succeeded_events().await, 0);
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
