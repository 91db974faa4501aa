//! Webhook delivery on an injected clock: a real HTTP receiver on 127.0.0.1 that fails as told,
//! the retry schedule walked in milliseconds, signatures and bytes checked on every attempt.
//! On PostgreSQL when `PAYMUX_TEST_DATABASE_URL` is set, else on SQLite.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use paymux_crypto::VerifyingKey;
use paymux_server::domain::Caller;
use paymux_server::domain::channel::Channel;
use paymux_server::domain::webhook::{Attempt, RETRY_DELAYS_SECS};
use paymux_server::payments::charges::{self, NewCharge};
use paymux_server::store::Prelude;
use paymux_server::store::webhooks::{AfterAttempt, EndedAttempt};
use paymux_server::webhooks::dispatcher::Dispatcher;
use paymux_server::webhooks::endpoints::{self, EndpointChange};
use paymux_server::{AppState, Clock, ManualClock, Settings, store};
use paymux_webhook::{EndpointSecret, verify_pingpp};
use serde_json::{Map, Value, json};
use std::sync::{Arc, Mutex};

mod common;
use common::START_MS;

/// One POST as the receiver saw it.
#[derive(Clone, Debug)]
struct Received {
    headers: HeaderMap,
    body: Bytes,
}

/// Answers 500 to the first `failures` requests, then 200.
#[derive(Clone)]
struct Receiver {
    seen: Arc<Mutex<Vec<Received>>>,
    failures: usize,
}

impl Receiver {
    async fn start(failures: usize) -> (Receiver, String) {
        let receiver = Receiver {
            seen: Arc::default(),
            failures,
        };
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        (receiver, url)
    }

    fn seen(&self) -> Vec<Received> {
        self.seen.lock().expect("lock").clone()
    }
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let mut seen = r.seen.lock().expect("lock");
    seen.push(Received { headers, body });
    if seen.len() <= r.failures {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

async fn add_endpoint(state: &AppState, caller: &Caller, url: &str) -> (String, EndpointSecret) {
    let account = caller.account_id.clone();
    let url = url.to_owned();
    let (endpoint, secret) = state
        .db
        .write(move |conn| {
            Box::pin(async move {
                endpoints::create(
                    conn,
                    &account,
                    false,
                    EndpointChange {
                        url: Some(url),
                        ..EndpointChange::default()
                    },
                    START_MS / 1000,
                    None,
                )
                .await
            })
        })
        .await
        .expect("endpoint");
    (endpoint.id, secret)
}

/// A test-mode scan charge: paid at once, so it records `charge.succeeded`.
async fn paid_charge(state: &AppState, caller: &Caller, app: &str, metadata: Value) -> Value {
    let mut extra = Map::new();
    extra.insert("scan_code".into(), json!("286648048691290423"));
    extra.insert("terminal_id".into(), json!("T1"));
    let new = NewCharge {
        app_id: app.into(),
        channel: Channel::AlipayScan,
        order_no: format!("W{}", rand_order()),
        client_ip: "127.0.0.1".into(),
        amount: 100,
        currency: "cny".into(),
        subject: "s".into(),
        body: "b".into(),
        description: None,
        extra,
        metadata: metadata.as_object().cloned().unwrap_or_default(),
        time_expire: None,
    };
    charges::create(state, caller.clone(), new, "http://x".into())
        .await
        .expect("charge")
}

fn rand_order() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

async fn events_of(state: &AppState, caller: &Caller) -> Vec<paymux_server::domain::event::Event> {
    let mut conn = state.db.reader().acquire().await.expect("conn");
    let page = store::Page {
        limit: 100,
        ..store::Page::default()
    };
    store::events::list(&mut conn, &caller.account_id, false, None, &page)
        .await
        .expect("events")
        .0
}

fn platform_public_key(state: &AppState) -> VerifyingKey {
    VerifyingKey::from_pem(&state.platform_key.public_key_pem().expect("pem")).expect("key")
}

/// Runs the dispatcher at each due time until nothing is due; returns the times it ran at.
async fn walk_schedule(dispatcher: &Dispatcher, clock: &ManualClock) -> Vec<i64> {
    let mut ran_at = Vec::new();
    loop {
        ran_at.push(clock.now_ms());
        match dispatcher.run_due().await.expect("run") {
            Some(next) => {
                assert!(next > clock.now_ms(), "the next attempt lies in the future");
                clock.advance_ms(next - clock.now_ms());
            }
            None => return ran_at,
        }
    }
}

fn header<'a>(received: &'a Received, name: &str) -> &'a str {
    received
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("header {name} missing"))
}

#[tokio::test]
async fn a_failing_receiver_gets_the_same_signed_bytes_on_schedule_until_it_answers_2xx() {
    let (state, clock, caller, app, _dir) = common::setup(Settings::default()).await;
    let (receiver, url) = Receiver::start(3).await;
    let (endpoint_id, secret) = add_endpoint(&state, &caller, &url).await;
    let charge = paid_charge(&state, &caller, &app, json!({})).await;
    let dispatcher = Dispatcher::new(state.clone()).expect("dispatcher");

    let ran_at = walk_schedule(&dispatcher, &clock).await;
    let expected: Vec<i64> = [0, 5, 15, 135]
        .iter()
        .map(|s| START_MS + s * 1000)
        .collect();
    assert_eq!(ran_at, expected, "attempts at 0 s, +5 s, +10 s, +2 min");

    let seen = receiver.seen();
    assert_eq!(seen.len(), 4);
    let platform = platform_public_key(&state);
    for (received, at_ms) in seen.iter().zip(&expected) {
        assert_eq!(
            received.body, seen[0].body,
            "identical bytes on every attempt"
        );
        assert_eq!(header(received, "content-type"), "application/json");
        verify_pingpp(
            &platform,
            &received.body,
            header(received, "x-pingplusplus-signature"),
        )
        .expect("Ping++ signature");
        let timestamp = header(received, "webhook-timestamp");
        assert_eq!(timestamp, (at_ms / 1000).to_string());
        secret
            .verify(
                header(received, "webhook-id"),
                timestamp,
                header(received, "webhook-signature"),
                &received.body,
                at_ms / 1000,
                300,
            )
            .expect("replay-protected signature");
        assert_eq!(
            header(received, "webhook-id"),
            header(&seen[0], "webhook-id")
        );
    }
    let body: Value = serde_json::from_slice(&seen[0].body).expect("json");
    assert_eq!(body["type"], "charge.succeeded");
    assert_eq!(body["data"]["object"]["id"], charge["id"]);
    assert_eq!(
        body["pending_webhooks"], 1,
        "as when the event was recorded"
    );

    let events = events_of(&state, &caller).await;
    assert_eq!(events[0].pending_webhooks, 0, "delivered");
    let mut conn = state.db.reader().acquire().await.expect("conn");
    let attempts = store::webhooks::attempts_of_event(&mut conn, &events[0].id)
        .await
        .expect("attempts");
    let codes: Vec<Option<i64>> = attempts.iter().map(|a| a.status_code).collect();
    assert_eq!(codes, [Some(500), Some(500), Some(500), Some(200)]);
    let due: Vec<i64> = attempts.iter().map(|a| a.due_ms).collect();
    assert_eq!(due, expected, "each attempt logged with its due time");
    assert!(
        attempts
            .iter()
            .all(|a| a.url == url && a.endpoint_id == endpoint_id)
    );
    let deliveries = store::webhooks::deliveries_of_event(&mut conn, &events[0].id)
        .await
        .expect("deliveries");
    assert_eq!(deliveries[0].status, "succeeded");
}

#[tokio::test]
async fn a_receiver_that_never_answers_2xx_gets_eleven_attempts_over_25_hours_then_fails() {
    let (state, clock, caller, app, _dir) = common::setup(Settings::default()).await;
    let (receiver, url) = Receiver::start(usize::MAX).await;
    add_endpoint(&state, &caller, &url).await;
    paid_charge(&state, &caller, &app, json!({})).await;
    let dispatcher = Dispatcher::new(state.clone()).expect("dispatcher");

    let ran_at = walk_schedule(&dispatcher, &clock).await;
    let mut expected = vec![START_MS];
    for delay in RETRY_DELAYS_SECS {
        expected.push(expected[expected.len() - 1] + delay * 1000);
    }
    // The last pass finds nothing more to do.
    assert_eq!(&ran_at[..11], &expected[..]);
    assert_eq!(receiver.seen().len(), 11);
    assert!(ran_at[10] - START_MS < 25 * 3600 * 1000);

    let events = events_of(&state, &caller).await;
    assert_eq!(
        events[0].pending_webhooks, 0,
        "finished (failed) deliveries are not pending"
    );
    let mut conn = state.db.reader().acquire().await.expect("conn");
    let deliveries = store::webhooks::deliveries_of_event(&mut conn, &events[0].id)
        .await
        .expect("deliveries");
    assert_eq!(deliveries[0].status, "failed");
    assert_eq!(deliveries[0].attempts, 11);
}

#[tokio::test]
async fn test_case_001_delivers_twice_and_002_delays_by_five_minutes() {
    let (state, clock, caller, app, _dir) = common::setup(Settings::default()).await;
    let (receiver, url) = Receiver::start(0).await;
    add_endpoint(&state, &caller, &url).await;
    let dispatcher = Dispatcher::new(state.clone()).expect("dispatcher");

    paid_charge(&state, &caller, &app, json!({"pingpp_tc": "001"})).await;
    assert_eq!(dispatcher.run_due().await.expect("run"), None);
    let seen = receiver.seen();
    assert_eq!(seen.len(), 2, "delivered twice");
    assert_eq!(seen[0].body, seen[1].body, "the same event");
    assert_ne!(
        header(&seen[0], "webhook-id"),
        header(&seen[1], "webhook-id"),
        "as two deliveries"
    );

    paid_charge(&state, &caller, &app, json!({"pingpp_tc": "002"})).await;
    let next = dispatcher.run_due().await.expect("run");
    assert_eq!(next, Some(START_MS + 5 * 60 * 1000));
    assert_eq!(receiver.seen().len(), 2, "nothing before five minutes");
    clock.advance_ms(5 * 60 * 1000);
    assert_eq!(dispatcher.run_due().await.expect("run"), None);
    assert_eq!(receiver.seen().len(), 3);
}

#[tokio::test]
async fn removing_an_endpoint_cancels_its_pending_deliveries() {
    let (state, _clock, caller, app, _dir) = common::setup(Settings::default()).await;
    let (receiver, url) = Receiver::start(usize::MAX).await;
    let (endpoint_id, _) = add_endpoint(&state, &caller, &url).await;
    paid_charge(&state, &caller, &app, json!({})).await;
    let dispatcher = Dispatcher::new(state.clone()).expect("dispatcher");
    assert!(
        dispatcher.run_due().await.expect("run").is_some(),
        "retry scheduled"
    );
    assert_eq!(events_of(&state, &caller).await[0].pending_webhooks, 1);

    state
        .db
        .write(move |conn| {
            Box::pin(
                async move { store::webhooks::remove_endpoint(conn, &endpoint_id, START_MS).await },
            )
        })
        .await
        .expect("remove");
    assert_eq!(events_of(&state, &caller).await[0].pending_webhooks, 0);
    assert_eq!(
        dispatcher.run_due().await.expect("run"),
        None,
        "nothing left to do"
    );
    assert_eq!(receiver.seen().len(), 1);
}

/// A worker's next claim looks from the due time it names: a delivery due earlier waits for a
/// look from the front (the dispatcher makes one at least once a second) or the next pass.
#[tokio::test]
async fn a_claim_that_looks_from_a_due_time_skips_what_is_due_before_it() {
    let (state, clock, caller, app, _dir) = common::setup(Settings::default()).await;
    let (_receiver, url) = Receiver::start(0).await;
    let (endpoint_id, _) = add_endpoint(&state, &caller, &url).await;
    for _ in 0..3 {
        paid_charge(&state, &caller, &app, json!({})).await;
        clock.advance_ms(1000);
    }
    let now = clock.now_ms();
    let lease = now + 60_000;
    let claimed = state
        .db
        .write(move |conn| {
            Box::pin(async move {
                let first = store::webhooks::claim(conn, &endpoint_id, now, lease, 1).await?;
                let first = first.into_iter().next().expect("the oldest claimed");
                let ended = |claimed: &store::webhooks::Claimed| EndedAttempt {
                    attempt: Attempt {
                        id: paymux_server::ids::webhook_attempt(),
                        delivery_id: claimed.delivery_id.clone(),
                        event_id: claimed.event_id.clone(),
                        endpoint_id: claimed.endpoint_id.clone(),
                        number: 1,
                        due_ms: claimed.due_ms,
                        started_ms: now,
                        url: claimed.url.clone(),
                        status_code: Some(200),
                        latency_ms: 1,
                        response_excerpt: None,
                        error: None,
                        succeeded: true,
                    },
                    lease_until_ms: claimed.lease_until_ms,
                    after: AfterAttempt::Succeeded,
                    new_signature: None,
                };
                let from_last = first.due_ms + 2000;
                let third = store::webhooks::record_attempt_and_claim_next(
                    conn,
                    Prelude::NONE,
                    &ended(&first),
                    now,
                    lease,
                    from_last,
                )
                .await?
                .expect("the delivery due at the time looked from");
                let second = store::webhooks::record_attempt_and_claim_next(
                    conn,
                    Prelude::NONE,
                    &ended(&third),
                    now,
                    lease,
                    i64::MIN,
                )
                .await?
                .expect("the one skipped, found from the front");
                store::StoreResult::Ok([first.due_ms, third.due_ms, second.due_ms])
            })
        })
        .await
        .expect("claims");
    assert_eq!(
        claimed,
        [START_MS, START_MS + 2000, START_MS + 1000],
        "oldest, then from the named time, then the skipped one from the front"
    );
}
