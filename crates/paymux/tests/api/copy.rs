//! `paymux db copy`: a populated SQLite data directory moves into PostgreSQL losslessly.

use crate::helpers::{DATABASE_ENV, TestServer, cli, create_database, order_no, spawn_serve};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// What a merchant can read back: every list the API offers for this data.
async fn snapshot(server: &TestServer, base: &str, event: &str) -> Vec<Value> {
    let app = &server.creds.app_id;
    let mut views = Vec::new();
    for path in [
        format!("/v1/charges?app[id]={app}&limit=100"),
        "/v1/events?limit=100".to_owned(),
        format!("/v1/apps/{app}/recharges?per_page=100"),
        format!("/v1/apps/{app}/users/u_copy"),
        "/v1/webhook_endpoints".to_owned(),
        format!("/v1/events/{event}/webhook_deliveries"),
    ] {
        let (status, body) =
            TestServer::send(server.request_to(base, reqwest::Method::GET, &path)).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        views.push(body);
    }
    views
}

#[tokio::test]
async fn db_copy_moves_a_populated_sqlite_directory_into_postgresql() {
    let Ok(admin_url) = std::env::var(DATABASE_ENV) else {
        eprintln!("skipped: db copy needs PostgreSQL; set {DATABASE_ENV}");
        return;
    };
    // Refunds stay pending (their completion job must move too).
    let server = TestServer::start_sqlite(&["--test-refund-delay-ms", "600000"]).await;
    let app = server.creds.app_id.clone();
    // A webhook receiver, so deliveries and their attempts move too.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let hook = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let receiver = axum::Router::new().route("/hook", axum::routing::post(|| async { "ok" }));
    tokio::spawn(async move { axum::serve(listener, receiver).await });
    let (status, _) = server
        .post("/v1/webhook_endpoints", json!({"url": hook}))
        .await;
    assert_eq!(status, StatusCode::OK);
    for amount in [100, 250, 999] {
        let charge = server.paid_charge(amount).await;
        let path = format!("/v1/charges/{}/refunds", charge["id"].as_str().expect("id"));
        let (status, _) = server
            .post(&path, json!({"amount": 50, "description": "part"}))
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    server.qr_charge(77).await;
    let recharge = json!({
        "user": "u_copy",
        "charge": {"amount": 5000, "channel": "alipay_scan", "order_no": order_no(), "subject": "s",
                   "body": "b", "extra": {"scan_code": "286648048691290423", "terminal_id": "T1"}},
        "balance_bonus": {"amount": 500},
    });
    let (status, _) = server
        .post(&format!("/v1/apps/{app}/recharges"), recharge)
        .await;
    assert_eq!(status, StatusCode::OK);
    let events = server.events(None).await;
    for event in &events {
        let path = format!("/v1/events/{}", event["id"].as_str().expect("id"));
        server.wait_for(&path, "pending_webhooks", json!(0)).await;
    }
    let first_event = events[0]["id"].as_str().expect("id").to_owned();
    let before = snapshot(&server, &server.base, &first_event).await;

    let scratch = create_database(&admin_url).await;
    let url = scratch.url.clone();
    let dir = server.dir.path().to_str().expect("utf8").to_owned();
    let (ok, _, stderr) = cli(&[
        "db",
        "copy",
        "--from",
        &format!("sqlite://{dir}"),
        "--to",
        &url,
    ]);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("verified"), "{stderr}");
    assert!(
        stderr.contains("jobs: 3 rows"),
        "the pending refund jobs moved: {stderr}"
    );
    assert!(
        stderr.contains(&format!("webhook_deliveries: {} rows", events.len())),
        "one delivery per event moved: {stderr}"
    );

    // The same data directory, served from PostgreSQL: every view is the same.
    let storage = ["--data-dir", &dir, "--database-url", &url].map(str::to_owned);
    let log_dir = tempfile::tempdir().expect("dir");
    let (_pg, base) = spawn_serve(log_dir.path(), &storage, &[], None).await;
    let after = snapshot(&server, &base, &first_event).await;
    assert_eq!(before, after);
    assert_eq!(after[3]["available_balance"], 5500);

    let (ok, _, stderr) = cli(&["db", "copy", "--from", &dir, "--to", &url]);
    assert!(!ok, "a second copy into a non-empty database is refused");
    assert!(stderr.contains("not empty"), "{stderr}");

    let (ok, _, stderr) = cli(&["db", "copy", "--from", "/nonexistent/dir", "--to", &url]);
    assert!(!ok);
    assert!(stderr.contains("paymux.db"), "{stderr}");
}
