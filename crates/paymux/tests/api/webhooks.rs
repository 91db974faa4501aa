//! Webhooks end to end: the real server delivers to a real receiver on 127.0.0.1, which checks
//! both signatures the way a merchant would.

use crate::helpers::{TestServer, assert_error, cli};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::response::{IntoResponse, Response};
use paymux_crypto::VerifyingKey;
use paymux_webhook::{EndpointSecret, verify_pingpp};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One POST as the receiver saw it, with what it answered.
#[derive(Clone, Debug)]
struct Received {
    headers: HeaderMap,
    body: Bytes,
    answered: u16,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("header {name} missing"))
    }

    fn event(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

/// A merchant's receiver. While `stall` is set it holds each request without answering;
/// otherwise it answers `status`.
#[derive(Clone)]
struct Receiver {
    seen: Arc<Mutex<Vec<Received>>>,
    stall: Arc<AtomicBool>,
    status: Arc<AtomicUsize>,
    url: String,
}

impl Receiver {
    async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let receiver = Receiver {
            seen: Arc::default(),
            stall: Arc::default(),
            status: Arc::new(AtomicUsize::new(200)),
            url: format!("http://{}/hook", listener.local_addr().expect("addr")),
        };
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            // Were a redirect followed, the attempt would log this status instead of 302.
            .route(
                "/elsewhere",
                axum::routing::post(|| async { AxumStatus::IM_A_TEAPOT }),
            )
            .with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        receiver
    }

    fn seen(&self) -> Vec<Received> {
        self.seen.lock().expect("lock").clone()
    }

    /// The events answered with a 2xx, by id.
    fn delivered_ids(&self) -> Vec<String> {
        self.seen()
            .iter()
            .filter(|r| (200..300).contains(&r.answered))
            .map(|r| r.event()["id"].as_str().expect("id").to_owned())
            .collect()
    }

    async fn wait_until(&self, what: &str, done: impl Fn(&Receiver) -> bool) {
        let start = Instant::now();
        while !done(self) {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "receiver: {what} did not happen; saw {:?}",
                self.seen()
                    .iter()
                    .map(|r| (r.event()["type"].clone(), r.answered))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> Response {
    if r.stall.load(Ordering::SeqCst) {
        r.seen.lock().expect("lock").push(Received {
            headers,
            body,
            answered: 0,
        });
        // Held until the gateway gives up (timeout) or dies.
        return std::future::pending::<Response>().await;
    }
    let status = r.status.load(Ordering::SeqCst) as u16;
    r.seen.lock().expect("lock").push(Received {
        headers,
        body,
        answered: status,
    });
    if status == 302 {
        let location = [("location", "/elsewhere")];
        return (AxumStatus::FOUND, location).into_response();
    }
    AxumStatus::from_u16(status)
        .unwrap_or(AxumStatus::OK)
        .into_response()
}

async fn add_endpoint(server: &TestServer, url: &str) -> (String, EndpointSecret) {
    let (status, endpoint) = server
        .post("/v1/webhook_endpoints", json!({"url": url}))
        .await;
    assert_eq!(status, StatusCode::OK, "{endpoint}");
    let secret =
        EndpointSecret::parse(endpoint["secret"].as_str().expect("secret")).expect("whsec_ secret");
    (endpoint["id"].as_str().expect("id").to_owned(), secret)
}

fn platform_key(server: &TestServer) -> VerifyingKey {
    VerifyingKey::from_pem(&server.creds.platform_public_key_pem).expect("platform key")
}

/// Both signatures verify, as a merchant's receiver checks them.
fn assert_signed(received: &Received, platform: &VerifyingKey, secret: &EndpointSecret) {
    verify_pingpp(
        platform,
        &received.body,
        received.header("x-pingplusplus-signature"),
    )
    .expect("X-Pingplusplus-Signature");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs() as i64;
    secret
        .verify(
            received.header("webhook-id"),
            received.header("webhook-timestamp"),
            received.header("webhook-signature"),
            &received.body,
            now,
            300,
        )
        .expect("webhook-signature");
    let mut tampered = received.body.to_vec();
    tampered[10] ^= 1;
    assert!(
        verify_pingpp(
            platform,
            &tampered,
            received.header("x-pingplusplus-signature")
        )
        .is_err()
    );
}

#[tokio::test]
async fn endpoints_are_managed_over_the_api_and_bad_input_changes_nothing() {
    let server = TestServer::start().await;
    for (body, param) in [
        (json!({}), "url"),
        (json!({"url": "ftp://merchant.example/hook"}), "url"),
        (
            json!({"url": "https://user:pw@merchant.example/hook"}),
            "url",
        ),
        (
            json!({"url": "https://merchant.example/hook", "events": ["charge.paid"]}),
            "events",
        ),
        (
            json!({"url": "https://merchant.example/hook", "events": []}),
            "events",
        ),
        (
            json!({"url": "https://merchant.example/hook", "enabled": "yes"}),
            "enabled",
        ),
        (
            json!({"url": "https://merchant.example/hook", "colour": "red"}),
            "colour",
        ),
    ] {
        let (status, error) = server.post("/v1/webhook_endpoints", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {error}");
        assert_error(&error, "invalid_request_error");
        assert_eq!(error["error"]["param"], param, "{body}");
    }
    let (_, list) = server.get("/v1/webhook_endpoints").await;
    assert_eq!(list["data"], json!([]), "nothing was created");

    let (status, created) = server
        .post(
            "/v1/webhook_endpoints",
            json!({"url": "https://merchant.example/hook", "events": "charge.succeeded,refund.succeeded"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert_eq!(created["object"], "webhook_endpoint");
    assert_eq!(created["livemode"], false);
    assert_eq!(
        created["events"],
        json!(["charge.succeeded", "refund.succeeded"])
    );
    assert!(
        created["secret"]
            .as_str()
            .expect("secret")
            .starts_with("whsec_")
    );
    let id = created["id"].as_str().expect("id");

    let (_, fetched) = server.get(&format!("/v1/webhook_endpoints/{id}")).await;
    assert!(fetched.get("secret").is_none(), "the secret is shown once");
    assert_eq!(fetched["url"], "https://merchant.example/hook");

    let live = TestServer::send(
        server
            .http
            .get(format!("{}/v1/webhook_endpoints/{id}", server.base))
            .bearer_auth(&server.creds.live_secret_key),
    )
    .await;
    assert_eq!(
        live.0,
        StatusCode::NOT_FOUND,
        "live mode has its own endpoints"
    );

    let (status, updated) = server
        .post(
            &format!("/v1/webhook_endpoints/{id}"),
            json!({"enabled": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["enabled"], false);

    let (status, deleted) =
        TestServer::send(server.request(Method::DELETE, &format!("/v1/webhook_endpoints/{id}")))
            .await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert_eq!(deleted["deleted"], true);
    let (status, _) = server.get(&format!("/v1/webhook_endpoints/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn every_event_of_the_conformance_flows_reaches_the_receiver_signed() {
    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    // Added with the CLI, as an operator would.
    let mut args = vec!["webhooks", "add", receiver.url.as_str(), "--json"];
    args.extend(server.storage_args());
    let (ok, stdout, stderr) = cli(&args);
    assert!(ok, "webhooks add: {stderr}");
    let endpoint: Value = serde_json::from_str(&stdout).expect("JSON");
    let secret =
        EndpointSecret::parse(endpoint["secret"].as_str().expect("secret")).expect("secret");
    // The command line's change is in the audit log, like an operator's.
    let mut args = vec!["audit", "--json"];
    args.extend(server.storage_args());
    let (_, audit, _) = cli(&args);
    assert!(
        audit.lines().any(|l| l.contains("\"actor\":\"cli\"")
            && l.contains("\"action\":\"webhook.create\"")
            && l.contains(endpoint["id"].as_str().expect("id"))),
        "{audit}"
    );

    // Pay; refund part; reverse a paid scan charge; recharge and refund the recharge.
    let charge = server.paid_charge(1000).await;
    let charge_id = charge["id"].as_str().expect("id");
    let (status, refund) = server
        .post(
            &format!("/v1/charges/{charge_id}/refunds"),
            json!({"amount": 300, "description": "part"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{refund}");
    let scan = server.charge_body(
        "alipay_scan",
        json!({"scan_code": "286648048691290423", "terminal_id": "T1"}),
    );
    let (_, scan) = server.post("/v1/charges", scan).await;
    let (status, _) = server
        .post(
            &format!("/v1/charges/{}/reverse", scan["id"].as_str().expect("id")),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let app = server.creds.app_id.clone();
    let (status, recharge) = server
        .post(
            &format!("/v1/apps/{app}/recharges"),
            json!({"user": "u1", "charge": {"amount": 500, "channel": "wx_pub_scan",
                   "order_no": crate::helpers::order_no(), "subject": "s", "body": "b",
                   "extra": {"scan_code": "134628839776154108", "terminal_id": "T1"}},
                   "description": "top up"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{recharge}");
    let (status, _) = server
        .post(
            &format!(
                "/v1/apps/{app}/recharges/{}/refunds",
                recharge["id"].as_str().expect("id")
            ),
            json!({"description": "back"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // Refunds succeed after the test delay; then every event must have been delivered.
    let expected = [
        ("charge.succeeded", 3),
        ("refund.succeeded", 3),
        ("charge.reversed", 1),
        ("recharge.succeeded", 1),
    ];
    let total: usize = expected.iter().map(|(_, n)| n).sum();
    receiver
        .wait_until("all events delivered", |r| r.delivered_ids().len() >= total)
        .await;
    let events = server.events(None).await;
    assert_eq!(events.len(), total, "{events:?}");
    for (kind, count) in expected {
        assert_eq!(
            events.iter().filter(|e| e["type"] == kind).count(),
            count,
            "{kind}"
        );
    }
    let delivered = receiver.delivered_ids();
    let platform = platform_key(&server);
    for event in &events {
        let id = event["id"].as_str().expect("id");
        assert_eq!(
            delivered.iter().filter(|d| *d == id).count(),
            1,
            "{id} once"
        );
        let received = receiver
            .seen()
            .into_iter()
            .find(|r| r.event()["id"] == id)
            .expect("received");
        assert_signed(&received, &platform, &secret);
        assert_eq!(
            received.event()["data"],
            event["data"],
            "the event as recorded"
        );
        assert_eq!(received.header("content-type"), "application/json");
    }
    // The log: every event settled with one successful attempt; nothing pending.
    let some_event = events[0]["id"].as_str().expect("id");
    let (_, event) = server.get(&format!("/v1/events/{some_event}")).await;
    assert_eq!(event["pending_webhooks"], 0);
    let (status, log) = server
        .get(&format!("/v1/events/{some_event}/webhook_deliveries"))
        .await;
    assert_eq!(status, StatusCode::OK, "{log}");
    let delivery = &log["data"][0];
    assert_eq!(delivery["status"], "succeeded");
    assert_eq!(delivery["attempts"][0]["status_code"], 200);
    assert_eq!(delivery["attempts"][0]["url"], receiver.url.as_str());
    let mut args = vec!["webhooks", "attempts", some_event];
    args.extend(server.storage_args());
    let (ok, stdout, stderr) = cli(&args);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("succeeded after 1 attempt") && stdout.contains("HTTP 200"),
        "{stdout}"
    );
}

#[tokio::test]
async fn deliveries_cut_by_kill_9_are_made_after_restart() {
    let mut server =
        TestServer::start_with(&["--webhook-timeout-ms", "3000", "--job-lease-secs", "1"]).await;
    let receiver = Receiver::start().await;
    add_endpoint(&server, &receiver.url).await;
    receiver.stall.store(true, Ordering::SeqCst);
    let mut charges = Vec::new();
    for _ in 0..5 {
        charges.push(server.paid_charge(100).await["id"].clone());
    }
    // Kill the gateway while it waits for the receiver's answers.
    receiver
        .wait_until("an attempt in flight", |r| !r.seen().is_empty())
        .await;
    server.crash_and_restart().await;
    receiver.stall.store(false, Ordering::SeqCst);

    receiver
        .wait_until("every event delivered", |r| {
            let ids = r.delivered_ids();
            charges.len() <= ids.len()
        })
        .await;
    let events = server.events(Some("charge.succeeded")).await;
    assert_eq!(events.len(), 5);
    let delivered = receiver.delivered_ids();
    for event in &events {
        assert!(
            delivered.contains(&event["id"].as_str().expect("id").to_owned()),
            "{} was not delivered",
            event["id"]
        );
    }
    for event in &events {
        let id = event["id"].as_str().expect("id");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (_, event) = server.get(&format!("/v1/events/{id}")).await;
            if event["pending_webhooks"] == 0 {
                break;
            }
            assert!(Instant::now() < deadline, "{id} still pending: {event}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test]
async fn a_stalled_endpoint_does_not_hold_up_another() {
    let server = TestServer::start_with(&[
        "--webhook-timeout-ms",
        "20000",
        "--webhook-concurrency",
        "2",
    ])
    .await;
    let stalled = Receiver::start().await;
    stalled.stall.store(true, Ordering::SeqCst);
    let healthy = Receiver::start().await;
    add_endpoint(&server, &stalled.url).await;
    add_endpoint(&server, &healthy.url).await;
    for _ in 0..6 {
        server.paid_charge(100).await;
    }
    // The stalled endpoint holds its two slots for 20 s; the healthy one gets everything now.
    healthy
        .wait_until("six deliveries", |r| r.delivered_ids().len() == 6)
        .await;
    assert_eq!(stalled.seen().len(), 2, "bounded concurrency per endpoint");
}

// Multi-threaded: the receiver must answer while the test waits on the `paymux` CLI.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resend_and_test_deliver_again_on_request() {
    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    let (endpoint_id, secret) = add_endpoint(&server, &receiver.url).await;
    let charge = server.paid_charge(100).await;
    receiver
        .wait_until("first delivery", |r| r.delivered_ids().len() == 1)
        .await;
    let event = &server.events(Some("charge.succeeded")).await[0];
    let event_id = event["id"].as_str().expect("id");

    let (status, created) = server
        .post(
            &format!("/v1/events/{event_id}/resend"),
            json!({"endpoint": endpoint_id}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert_eq!(created["data"].as_array().expect("data").len(), 1);
    receiver
        .wait_until("the resend", |r| r.delivered_ids().len() == 2)
        .await;
    let seen = receiver.seen();
    assert_eq!(seen[0].body, seen[1].body, "the same bytes");
    assert_ne!(seen[0].header("webhook-id"), seen[1].header("webhook-id"));
    assert_eq!(seen[1].event()["data"]["object"]["id"], charge["id"]);

    let (status, error) = server
        .post(
            &format!("/v1/events/{event_id}/resend"),
            json!({"endpoint": "we_nope"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{error}");

    // `paymux webhooks test` shows the attempt the running server made.
    let mut args = vec!["webhooks", "test", endpoint_id.as_str()];
    args.extend(server.storage_args());
    let (ok, stdout, stderr) = cli(&args);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("HTTP 200"), "{stdout}\n{stderr}");
    let test_event = receiver.seen().pop().expect("test event");
    assert_eq!(test_event.event()["type"], "webhook.test");
    assert_signed(&test_event, &platform_key(&server), &secret);
}

#[tokio::test]
async fn redirects_are_not_followed_and_denied_networks_are_not_reached() {
    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    receiver.status.store(302, Ordering::SeqCst);
    add_endpoint(&server, &receiver.url).await;
    server.paid_charge(100).await;
    receiver
        .wait_until("one attempt", |r| r.seen().len() == 1)
        .await;
    let event_id = server.events(None).await[0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let log = wait_for_attempt(&server, &event_id).await;
    assert_eq!(
        log["status"], "pending",
        "a redirect is a failed attempt: {log}"
    );
    assert_eq!(log["attempts"][0]["status_code"], 302);

    // Registered before the deny-list was configured: refused at every connection instead.
    let mut guarded = TestServer::start().await;
    let receiver = Receiver::start().await;
    add_endpoint(&guarded, &receiver.url).await;
    guarded
        .restart_with(&["--webhook-deny-networks", "private"])
        .await;
    guarded.paid_charge(100).await;
    let event_id = guarded.events(None).await[0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let log = wait_for_attempt(&guarded, &event_id).await;
    let error = log["attempts"][0]["error"].as_str().expect("error");
    assert!(error.contains("denied"), "{error}");
    assert!(receiver.seen().is_empty(), "loopback was not contacted");
}

/// The first delivery of an event once it has an attempt.
async fn wait_for_attempt(server: &TestServer, event_id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, log) = server
            .get(&format!("/v1/events/{event_id}/webhook_deliveries"))
            .await;
        let delivery = log["data"][0].clone();
        if delivery["attempts"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
        {
            return delivery;
        }
        assert!(Instant::now() < deadline, "no attempt: {log}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_sole_sqlite_server_resumes_its_killed_predecessors_deliveries_at_once() {
    // Leases of two minutes: without the restart releasing them, nothing would be retried
    // within the receiver's 30 s patience.
    let mut server =
        TestServer::start_sqlite(&["--webhook-timeout-ms", "60000", "--job-lease-secs", "60"])
            .await;
    let receiver = Receiver::start().await;
    add_endpoint(&server, &receiver.url).await;
    receiver.stall.store(true, Ordering::SeqCst);
    let charge = server.paid_charge(100).await;
    receiver
        .wait_until("an attempt in flight", |r| !r.seen().is_empty())
        .await;
    server.crash_and_restart().await;
    receiver.stall.store(false, Ordering::SeqCst);
    receiver
        .wait_until("the delivery resumed", |r| !r.delivered_ids().is_empty())
        .await;
    let event = &receiver.seen().last().expect("a delivery").event();
    assert_eq!(event["data"]["object"]["id"], charge["id"]);
}

#[tokio::test]
async fn a_resend_while_a_delivery_retries_completes_it_instead_of_adding_a_copy() {
    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    receiver.status.store(500, Ordering::SeqCst);
    let (endpoint_id, _) = add_endpoint(&server, &receiver.url).await;
    server.paid_charge(100).await;
    receiver
        .wait_until("a failed attempt", |r| r.seen().len() == 1)
        .await;
    let event_id = server.events(Some("charge.succeeded")).await[0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    // The next retry is far off; the merchant fixed the receiver and asks for the event now.
    receiver.status.store(200, Ordering::SeqCst);
    let (status, answer) = server
        .post(
            &format!("/v1/events/{event_id}/resend"),
            json!({"endpoint": endpoint_id}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    receiver
        .wait_until("the delivery completed", |r| r.delivered_ids().len() == 1)
        .await;
    let (_, deliveries) = server
        .get(&format!("/v1/events/{event_id}/webhook_deliveries"))
        .await;
    let deliveries = deliveries["data"].as_array().expect("data");
    assert_eq!(deliveries.len(), 1, "no second copy: {deliveries:?}");
    assert_eq!(answer["data"][0]["id"], deliveries[0]["id"]);
    assert_eq!(deliveries[0]["status"], "succeeded");
    assert_eq!(
        deliveries[0]["attempts"]
            .as_array()
            .expect("attempts")
            .len(),
        2
    );
    assert_eq!(receiver.seen().len(), 2, "one failed attempt, one success");
}

/// A secrets key file (32 bytes of `byte`, base64) in `dir`.
fn secrets_key_file(dir: &tempfile::TempDir, byte: u8) -> String {
    use base64::Engine;
    let path = dir.path().join("secrets.key");
    let key = base64::engine::general_purpose::STANDARD.encode([byte; 32]);
    std::fs::write(&path, key).expect("write key");
    path.to_str().expect("utf8").to_owned()
}

#[tokio::test]
async fn with_a_secrets_key_the_platform_key_and_webhook_secrets_are_sealed_at_rest() {
    let mut server = TestServer::start().await;
    let receiver = Receiver::start().await;
    // Written before any key was configured: stored in clear.
    let (_, first_secret) = add_endpoint(&server, &receiver.url).await;
    let keys = tempfile::tempdir().expect("dir");
    let key = secrets_key_file(&keys, 9);
    server.restart_with(&["--secrets-key-file", &key]).await;
    let second = Receiver::start().await;
    let (_, second_secret) = add_endpoint(&server, &second.url).await;

    let db = server.open_db().await;
    let mut conn = db.reader().acquire().await.expect("conn");
    use sqlx::Row;
    let private: String = sqlx::query("SELECT private_key_pem FROM platform_keys")
        .fetch_one(&mut *conn)
        .await
        .expect("row")
        .get(0);
    assert!(private.starts_with("v1:") && !private.contains("PRIVATE KEY"));
    let secrets: Vec<String> = sqlx::query("SELECT secret FROM webhook_endpoints")
        .fetch_all(&mut *conn)
        .await
        .expect("rows")
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(secrets.len(), 2);
    for secret in &secrets {
        assert!(
            secret.starts_with("v1:") && !secret.contains("whsec_"),
            "{secret}"
        );
    }
    drop(conn);

    // Deliveries still carry signatures the merchant's receivers verify with what they hold.
    server.paid_charge(100).await;
    receiver
        .wait_until("delivered", |r| r.delivered_ids().len() == 1)
        .await;
    second
        .wait_until("delivered", |r| r.delivered_ids().len() == 1)
        .await;
    let platform = platform_key(&server);
    assert_signed(&receiver.seen()[0], &platform, &first_secret);
    assert_signed(&second.seen()[0], &platform, &second_secret);

    // Without the key the sealed platform key cannot be used: refused at start, clearly.
    assert!(server.terminate(Duration::from_secs(10)).await);
    let mut args = vec!["serve", "--listen", "127.0.0.1:0"];
    args.extend(server.storage_args());
    let (ok, _, stderr) = cli(&args);
    assert!(!ok);
    assert!(stderr.contains("secrets key"), "{stderr}");
}

#[tokio::test]
async fn a_node_whose_clock_is_a_minute_ahead_follows_the_database_clock() {
    let server = TestServer::start_with(&["--webhook-timeout-ms", "20000"]).await;
    if !server.on_postgres() {
        eprintln!("skipped: several nodes need PostgreSQL; set PAYMUX_TEST_DATABASE_URL");
        return;
    }
    let receiver = Receiver::start().await;
    add_endpoint(&server, &receiver.url).await;
    receiver.stall.store(true, Ordering::SeqCst);
    server.paid_charge(100).await;
    receiver
        .wait_until("an attempt in flight", |r| r.seen().len() == 1)
        .await;

    let ahead = server
        .spawn_node(&[
            "--test-clock-skew-ms",
            "60000",
            "--webhook-timeout-ms",
            "20000",
        ])
        .await;
    // Its charges carry the database's time, not its own.
    let (status, charge) = TestServer::send(
        server
            .request_to(&ahead.base, Method::POST, "/v1/charges")
            .json(&server.charge_body("alipay_qr", json!({}))),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{charge}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs() as i64;
    let created = charge["created"].as_i64().expect("created");
    assert!((created - now).abs() < 10, "created {created}, now {now}");
    assert!(
        ahead.log().contains("ahead of the database's"),
        "{}",
        ahead.log()
    );

    // It does not take the first node's delivery lease for lapsed and send the event again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(receiver.seen().len(), 1, "sent twice");
}

#[tokio::test]
async fn urls_into_denied_networks_are_refused_when_registered() {
    let server =
        TestServer::start_with(&["--webhook-deny-networks", "private,169.254.0.0/16"]).await;
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/",
        "http://[::169.254.169.254]/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://[2002:a9fe:a9fe::1]/",
        "http://127.0.0.1:9/hook",
        "http://localhost:9/hook",
    ] {
        let (status, error) = server
            .post("/v1/webhook_endpoints", json!({"url": url}))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{url}: {error}");
        assert_eq!(error["error"]["param"], "url", "{error}");
    }
    let (_, list) = server.get("/v1/webhook_endpoints").await;
    assert_eq!(
        list["data"].as_array().expect("data").len(),
        0,
        "nothing stored"
    );
}
