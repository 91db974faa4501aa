//! In-process tests of rules that the HTTP API cannot reach on its own: time is a manual clock,
//! and a user's balance is lowered directly, as spending it through a later API would.
//! On PostgreSQL when `PAYMUX_TEST_DATABASE_URL` is set, else on SQLite.

use paymux_server::domain::channel::Channel;
use paymux_server::payments::charges::NewCharge;
use paymux_server::payments::recharges::{self, NewRecharge};
use paymux_server::payments::refunds::NewRefund;
use paymux_server::store;
use paymux_server::{AppState, Settings, jobs};
use serde_json::{Map, json};

mod common;
use common::START_MS;

async fn setup() -> (
    AppState,
    std::sync::Arc<paymux_server::ManualClock>,
    paymux_server::domain::Caller,
    String,
    common::Scratch,
) {
    common::setup(Settings {
        test_refund_delay_ms: 5_000,
        ..Settings::default()
    })
    .await
}

fn scan_recharge(app: &str, user: &str, amount: i64) -> NewRecharge {
    let mut extra = Map::new();
    extra.insert("scan_code".into(), json!("286648048691290423"));
    extra.insert("terminal_id".into(), json!("T1"));
    NewRecharge {
        user: user.into(),
        from_user: None,
        charge: NewCharge {
            app_id: app.into(),
            channel: Channel::AlipayScan,
            order_no: format!("R{amount}{user}"),
            client_ip: "127.0.0.1".into(),
            amount,
            currency: "cny".into(),
            subject: "s".into(),
            body: "b".into(),
            description: None,
            extra,
            metadata: Map::new(),
            time_expire: None,
        },
        user_fee: 0,
        balance_bonus: 0,
        description: None,
        metadata: Map::new(),
    }
}

fn refund_request() -> NewRefund {
    NewRefund {
        amount: None,
        description: "back".into(),
        metadata: Map::new(),
        funding_source: None,
    }
}

async fn balance(state: &AppState, app: &str, user: &str) -> i64 {
    let mut conn = state.db.reader().acquire().await.expect("conn");
    store::recharges::get_user(&mut conn, app, false, user)
        .await
        .expect("user")
        .expect("exists")
        .balance
}

#[tokio::test]
async fn a_recharge_refund_larger_than_the_balance_is_refused_and_changes_nothing() {
    let (state, _clock, caller, app, _dir) = setup().await;
    let recharge = recharges::create(
        &state,
        caller.clone(),
        scan_recharge(&app, "u1", 1000),
        "http://x".into(),
    )
    .await
    .expect("recharge");
    assert_eq!(balance(&state, &app, "u1").await, 1000);

    // The user spends 400 of it.
    let spend_app = app.clone();
    state
        .db
        .write(move |conn| {
            Box::pin(async move {
                store::recharges::adjust_balance(conn, &spend_app, false, "u1", -400).await
            })
        })
        .await
        .expect("spend");

    let id = recharge["id"].as_str().expect("id").to_owned();
    let error = recharges::refund(&state, caller, app.clone(), id, refund_request())
        .await
        .expect_err("balance 600 < credited 1000");
    assert_eq!(error.code.as_deref(), Some("balance_insufficient"));
    assert!(error.message.contains("600"), "{}", error.message);
    assert_eq!(balance(&state, &app, "u1").await, 600, "nothing debited");
}

#[tokio::test]
async fn refunds_complete_only_when_the_injected_clock_reaches_their_due_time() {
    let (state, clock, caller, app, _dir) = setup().await;
    let recharge = recharges::create(
        &state,
        caller.clone(),
        scan_recharge(&app, "u2", 500),
        "http://x".into(),
    )
    .await
    .expect("recharge");
    let id = recharge["id"].as_str().expect("id").to_owned();
    let refund = recharges::refund(&state, caller, app.clone(), id, refund_request())
        .await
        .expect("refund");
    let refund_id = refund["id"].as_str().expect("id").to_owned();
    let status = |state: AppState, id: String| async move {
        let mut conn = state.db.reader().acquire().await.expect("conn");
        store::refunds::get_by_id(&mut conn, &id)
            .await
            .expect("get")
            .expect("exists")
            .status
    };

    let next = jobs::run_due(&state).await.expect("run");
    assert_eq!(
        next,
        Some(START_MS + 5_000),
        "due after the configured delay"
    );
    assert_eq!(
        status(state.clone(), refund_id.clone()).await.as_str(),
        "pending"
    );

    clock.advance_ms(4_999);
    jobs::run_due(&state).await.expect("run");
    assert_eq!(
        status(state.clone(), refund_id.clone()).await.as_str(),
        "pending"
    );

    clock.advance_ms(1);
    assert_eq!(
        jobs::run_due(&state).await.expect("run"),
        None,
        "nothing left"
    );
    assert_eq!(status(state.clone(), refund_id).await.as_str(), "succeeded");
}
