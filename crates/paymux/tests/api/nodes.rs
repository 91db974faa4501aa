//! Several nodes on one PostgreSQL database: money stays right and every job runs once.
//! These need `PAYMUX_TEST_DATABASE_URL`; without it they print why and return.

use crate::helpers::{TestServer, cli, order_no};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

/// The first server plus a second node on its database, or `None` when not on PostgreSQL.
async fn two_nodes(extra: &[&str]) -> Option<(TestServer, crate::helpers::Node)> {
    let server = TestServer::start_with(extra).await;
    if !server.on_postgres() {
        eprintln!("skipped: several nodes need PostgreSQL; set PAYMUX_TEST_DATABASE_URL");
        return None;
    }
    let node = server.spawn_node(extra).await;
    Some((server, node))
}

#[tokio::test]
async fn concurrent_refunds_spread_over_two_nodes_never_exceed_the_charge() {
    let Some((server, node)) = two_nodes(&[]).await else {
        return;
    };
    let charge = server.paid_charge(1000).await;
    let path = format!("/v1/charges/{}/refunds", charge["id"].as_str().expect("id"));
    let attempts = (0..60).map(|i| {
        let base = if i % 2 == 0 { &server.base } else { &node.base };
        TestServer::send(
            server
                .request_to(base, Method::POST, &path)
                .json(&json!({"amount": 70, "description": format!("race {i}")})),
        )
    });
    let results = futures_util::future::join_all(attempts).await;
    let accepted = results.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    assert_eq!(
        accepted, 14,
        "14 × 70 fits in 1000, the 15th does not: {results:?}"
    );
    let charge = server
        .wait_for(
            &format!("/v1/charges/{}", charge["id"].as_str().expect("id")),
            "amount_refunded",
            json!(980),
        )
        .await;
    assert_eq!(charge["amount_refunded"], 980);
}

#[tokio::test]
async fn an_order_no_is_used_once_across_nodes() {
    let Some((server, node)) = two_nodes(&[]).await else {
        return;
    };
    for round in 0..15 {
        let mut body = server.charge_body("alipay_qr", json!({}));
        body["order_no"] = json!(order_no());
        let mut other = body.clone();
        other["amount"] = json!(999); // not the same 6-tuple, so never deduplicated
        let (a, b) = tokio::join!(
            TestServer::send(
                server
                    .request_to(&server.base, Method::POST, "/v1/charges")
                    .json(&body)
            ),
            TestServer::send(
                server
                    .request_to(&node.base, Method::POST, "/v1/charges")
                    .json(&other)
            ),
        );
        let mut statuses = [a.0, b.0];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::OK, StatusCode::BAD_REQUEST],
            "round {round}: {a:?} {b:?}"
        );
        let refused = if a.0 == StatusCode::OK { &b.1 } else { &a.1 };
        assert_eq!(refused["error"]["code"], "charge_order_no_used");
    }
}

#[tokio::test]
async fn a_recharge_is_refunded_once_and_the_balance_never_goes_negative() {
    let Some((server, node)) = two_nodes(&[]).await else {
        return;
    };
    let app = server.creds.app_id.clone();
    let body = json!({
        "user": "u_nodes",
        "charge": {"amount": 1000, "channel": "alipay_scan", "order_no": order_no(), "subject": "s",
                   "body": "b", "extra": {"scan_code": "286648048691290423", "terminal_id": "T1"}},
    });
    let (status, recharge) = server
        .post(&format!("/v1/apps/{app}/recharges"), body)
        .await;
    assert_eq!(status, StatusCode::OK, "{recharge}");
    let path = format!(
        "/v1/apps/{app}/recharges/{}/refunds",
        recharge["id"].as_str().expect("id")
    );
    let attempts = (0..10).map(|i| {
        let base = if i % 2 == 0 { &server.base } else { &node.base };
        TestServer::send(
            server
                .request_to(base, Method::POST, &path)
                .json(&json!({"description": "x"})),
        )
    });
    let results = futures_util::future::join_all(attempts).await;
    assert_eq!(
        results.iter().filter(|(s, _)| *s == StatusCode::OK).count(),
        1,
        "{results:?}"
    );
    let (_, user) = server.get(&format!("/v1/apps/{app}/users/u_nodes")).await;
    assert_eq!(user["available_balance"], 0);
}

#[tokio::test]
async fn every_refund_completes_once_with_two_workers() {
    let Some((server, node)) = two_nodes(&[]).await else {
        return;
    };
    let mut refunds = Vec::new();
    for i in 0..20 {
        let charge = server.paid_charge(100).await;
        let base = if i % 2 == 0 { &server.base } else { &node.base };
        let path = format!("/v1/charges/{}/refunds", charge["id"].as_str().expect("id"));
        let (status, refund) = TestServer::send(
            server
                .request_to(base, Method::POST, &path)
                .json(&json!({"description": "x"})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{refund}");
        refunds.push(format!("{path}/{}", refund["id"].as_str().expect("id")));
    }
    for path in &refunds {
        server.wait_for(path, "status", json!("succeeded")).await;
    }
    let events = server.events(Some("refund.succeeded")).await;
    assert_eq!(
        events.len(),
        20,
        "one refund.succeeded per refund, whichever node ran it"
    );
}

#[tokio::test]
async fn every_webhook_is_delivered_once_with_two_dispatchers() {
    let Some((server, node)) = two_nodes(&[]).await else {
        return;
    };
    // A receiver that counts deliveries per event id.
    let seen: std::sync::Arc<std::sync::Mutex<Vec<String>>> = std::sync::Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let hook = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let record = seen.clone();
    let receiver = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::body::Bytes| {
            let record = record.clone();
            async move {
                let event: Value = serde_json::from_slice(&body).expect("json");
                let id = event["id"].as_str().expect("id").to_owned();
                record.lock().expect("lock").push(id);
                "ok"
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, receiver).await });
    let (status, _) = server
        .post("/v1/webhook_endpoints", json!({"url": hook}))
        .await;
    assert_eq!(status, StatusCode::OK);

    // Events recorded on both nodes; both dispatchers claim from the same table.
    for i in 0..30 {
        let base = if i % 2 == 0 { &server.base } else { &node.base };
        let body = server.charge_body(
            "alipay_scan",
            json!({"scan_code": "286648048691290423", "terminal_id": "T1"}),
        );
        let (status, charge) = TestServer::send(
            server
                .request_to(base, Method::POST, "/v1/charges")
                .json(&body),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{charge}");
    }
    let events = server.events(Some("charge.succeeded")).await;
    assert_eq!(events.len(), 30);
    for event in &events {
        let path = format!("/v1/events/{}", event["id"].as_str().expect("id"));
        server.wait_for(&path, "pending_webhooks", json!(0)).await;
    }
    let mut delivered = seen.lock().expect("lock").clone();
    delivered.sort();
    let before = delivered.len();
    delivered.dedup();
    assert_eq!(
        before, 30,
        "each event delivered exactly once: {before} deliveries"
    );
    assert_eq!(delivered.len(), 30);
}

#[tokio::test]
async fn a_job_abandoned_by_a_killed_node_is_finished_by_another_after_its_lease() {
    // Node A never completes refunds by itself (ten-minute delay) and is killed holding a lease.
    let Some((server, mut node_a)) = two_nodes(&["--test-refund-delay-ms", "600000"]).await else {
        return;
    };
    let charge = server.paid_charge(100).await;
    let path = format!("/v1/charges/{}/refunds", charge["id"].as_str().expect("id"));
    let (status, refund) = TestServer::send(
        server
            .request_to(&node_a.base, Method::POST, &path)
            .json(&json!({"description": "x"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let refund_path = format!("{path}/{}", refund["id"].as_str().expect("id"));

    // As if node A had claimed the now-due job for two more seconds, then died.
    node_a.child.kill().await.expect("kill -9");
    let db = server.open_db().await;
    db.write(|conn| {
        Box::pin(async move {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("time")
                .as_millis() as i64;
            sqlx::query("UPDATE jobs SET due_at_ms = $1, lease_until_ms = $2")
                .bind(now)
                .bind(now + 2_000)
                .execute(&mut *conn)
                .await?;
            Ok::<_, paymux_server::store::StoreError>(())
        })
    })
    .await
    .expect("lease");

    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let (_, pending) = server.get(&refund_path).await;
    assert_eq!(
        pending["status"], "pending",
        "nobody takes a job while its lease holds"
    );
    let done: Value = server
        .wait_for(&refund_path, "status", json!("succeeded"))
        .await;
    assert_eq!(
        done["succeed"], true,
        "the surviving node finished it after the lease ran out"
    );
}

/// Every node keeps who each key belongs to in memory. `keys roll` returns once every node has
/// confirmed it forgot; a node that cannot confirm (stopped here) holds the command up for a
/// few seconds at most, is reported, and refuses the key as soon as it runs again.
#[tokio::test]
async fn a_rolled_key_stops_at_once_on_every_node() {
    let Some((server, node)) = two_nodes(&[]).await else {
        return;
    };
    let list = format!("/v1/charges?app[id]={}", server.creds.app_id);
    let status_on = |base: &str, key: &str| {
        TestServer::send(
            server
                .http
                .get(format!("{base}{list}"))
                .bearer_auth(key.to_string()),
        )
    };
    let roll = || {
        let mut args = vec!["keys", "roll", "--mode", "test", "--grace-minutes", "0"];
        args.extend(server.storage_args());
        let (ok, stdout, stderr) = cli(&args);
        assert!(ok, "{stderr}");
        (stdout.trim().to_string(), stderr)
    };
    let bases = [server.base.clone(), node.base.clone()];

    let mut key = server.creds.test_secret_key.clone();
    for round in 0..3 {
        for base in &bases {
            for _ in 0..2 {
                assert_eq!(status_on(base, &key).await.0, StatusCode::OK, "{base}");
            }
        }
        let (new_key, stderr) = roll();
        assert!(!stderr.contains("did not confirm"), "{stderr}");
        for base in &bases {
            let (status, error) = status_on(base, &key).await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "round {round}, {base}: {error}"
            );
            assert_eq!(status_on(base, &new_key).await.0, StatusCode::OK, "{base}");
        }
        key = new_key;
    }

    let pid = node.child.id().expect("running").to_string();
    let signal = |name: &str| {
        let status = std::process::Command::new("kill")
            .args([name, &pid])
            .status()
            .expect("kill");
        assert!(status.success());
    };
    signal("-STOP");
    let (new_key, stderr) = roll();
    signal("-CONT");
    assert!(
        stderr.contains("1 node(s) did not confirm"),
        "the stopped node is reported: {stderr}"
    );
    let (status, _) = status_on(&server.base, &key).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the running node refused it at once"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _) = status_on(&node.base, &key).await;
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the node, running again, still takes the rolled key"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status_on(&node.base, &new_key).await.0, StatusCode::OK);
}

/// A TCP proxy in front of PostgreSQL that a test can cut and restore.
struct Proxy {
    address: std::net::SocketAddr,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
    connections: std::sync::Arc<std::sync::Mutex<tokio::task::JoinSet<()>>>,
}

impl Proxy {
    async fn start(upstream: String) -> Proxy {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("addr");
        let cut = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let connections = std::sync::Arc::new(std::sync::Mutex::new(tokio::task::JoinSet::new()));
        let (flag, tasks) = (cut.clone(), connections.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if flag.load(Ordering::SeqCst) {
                    continue; // refused: dropped at once
                }
                let upstream = upstream.clone();
                tasks.lock().expect("lock").spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        Proxy {
            address,
            cut,
            connections,
        }
    }

    /// Drops every open connection and refuses new ones.
    fn cut(&self) {
        self.cut.store(true, std::sync::atomic::Ordering::SeqCst);
        self.connections.lock().expect("lock").abort_all();
    }

    fn restore(&self) {
        self.cut.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

#[tokio::test]
async fn a_lost_database_gives_503_and_the_node_recovers_without_a_restart() {
    let server = TestServer::start().await;
    let Some(url) = server.database_url().map(str::to_owned) else {
        eprintln!("skipped: needs PostgreSQL; set PAYMUX_TEST_DATABASE_URL");
        return;
    };
    // postgres://user@HOST:PORT/db → the same through the proxy.
    let (scheme_user, rest) = url.split_once('@').expect("user@host");
    let (host_port, path) = rest.split_once('/').expect("host/db");
    let proxy = Proxy::start(host_port.to_owned()).await;
    let proxied = format!("{scheme_user}@{}/{path}", proxy.address);
    let node = server.spawn_node_at(&proxied, &[]).await;
    let create = || {
        let body = server.charge_body("alipay_qr", json!({}));
        TestServer::send(
            server
                .request_to(&node.base, Method::POST, "/v1/charges")
                .json(&body),
        )
    };
    assert_eq!(create().await.0, StatusCode::OK);

    proxy.cut();
    let before = server.charge_count().await;
    let (status, error) = create().await;
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{error}\n{}",
        node.log()
    );
    assert_eq!(error["error"]["type"], "api_error");
    assert_eq!(server.charge_count().await, before, "nothing was written");

    proxy.restore();
    let mut recovered = false;
    for _ in 0..20 {
        if create().await.0 == StatusCode::OK {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(recovered, "the node serves again once the database is back");
}

#[tokio::test]
async fn nodes_starting_together_on_an_empty_database_bootstrap_one_account() {
    let Ok(admin_url) = std::env::var(crate::helpers::DATABASE_ENV) else {
        eprintln!("skipped: needs PostgreSQL; set PAYMUX_TEST_DATABASE_URL");
        return;
    };
    let scratch = crate::helpers::create_database(&admin_url).await;
    let url = scratch.url.clone();
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().expect("dir")).collect();
    let starts = dirs.iter().map(|dir| {
        let storage = [
            "--data-dir",
            dir.path().to_str().expect("utf8"),
            "--database-url",
            &url,
        ]
        .map(str::to_owned);
        async move { crate::helpers::spawn_serve(dir.path(), &storage, &[], None).await }
    });
    let nodes = futures_util::future::join_all(starts).await;
    assert_eq!(nodes.len(), 4, "every node started");

    let with_keys = dirs
        .iter()
        .filter(|d| d.path().join("credentials.json").exists())
        .count();
    assert_eq!(
        with_keys, 1,
        "one node created the account and holds its keys"
    );
    let db = paymux_server::store::Db::open_postgres(&url, 1, 10_000)
        .await
        .expect("open");
    let accounts: i64 = db
        .write(|conn| {
            Box::pin(async move {
                let row: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM accounts")
                    .fetch_one(&mut *conn)
                    .await?;
                Ok::<_, paymux_server::store::StoreError>(row.0)
            })
        })
        .await
        .expect("count");
    assert_eq!(accounts, 1);
}
