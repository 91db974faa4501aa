//! Connections from clients that are slow, silent or gone: each is closed by its timeout, many
//! cost little, and a shutdown does not wait for them forever.

use crate::helpers::TestServer;
use reqwest::StatusCode;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn resident_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kb * 1024
}

fn address(server: &TestServer) -> String {
    server.base.trim_start_matches("http://").to_owned()
}

/// Whether the server closes `stream` within `within` (reads end of file or a reset).
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {} // e.g. a 408 before closing
        }
    }
}

#[tokio::test]
async fn a_thousand_idle_connections_cost_little_and_are_closed_by_the_idle_timeout() {
    let server = TestServer::start_with(&["--idle-timeout-secs", "2"]).await;
    let pid = server.pid();
    server.qr_charge(100).await; // warm: the first request allocates what every one reuses
    let before = resident_bytes(pid);
    let mut idle = Vec::with_capacity(1000);
    for _ in 0..1000 {
        idle.push(TcpStream::connect(address(&server)).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let grown = resident_bytes(pid).saturating_sub(before);
    assert!(
        grown < 100 * 1024 * 1024,
        "1,000 idle connections cost {} MB",
        grown / 1024 / 1024
    );
    // Still serving others meanwhile.
    assert_eq!(server.qr_charge(100).await["paid"], false);
    for stream in &mut idle {
        assert!(
            closed_within(stream, Duration::from_secs(10)).await,
            "an idle connection stayed open"
        );
    }
}

#[tokio::test]
async fn headers_sent_a_byte_at_a_time_are_cut_off() {
    let server = TestServer::start_with(&["--header-read-timeout-secs", "1"]).await;
    let mut stream = TcpStream::connect(address(&server)).await.expect("connect");
    let started = Instant::now();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let mut cut_off = false;
    for byte in b"X-Slow: 1234567890123456789012345678901234567890".iter() {
        if stream.write_all(&[*byte]).await.is_err() {
            cut_off = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        if started.elapsed() > Duration::from_secs(3) {
            break;
        }
    }
    assert!(
        cut_off || closed_within(&mut stream, Duration::from_secs(2)).await,
        "a slow client held the connection for {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_body_that_does_not_arrive_gets_a_408() {
    let server = TestServer::start_with(&["--body-read-timeout-secs", "1"]).await;
    let mut stream = TcpStream::connect(address(&server)).await.expect("connect");
    let head = format!(
        "POST /v1/charges HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"amount\":",
        server.creds.test_secret_key
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "no answer within 5 s");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("invalid_request_error"), "{answer}");
    assert_eq!(server.charge_count().await, 0);
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_for_a_free_slot() {
    let server = TestServer::start_with(&["--max-connections", "2"]).await;
    let first = TcpStream::connect(address(&server)).await.expect("connect");
    let second = TcpStream::connect(address(&server)).await.expect("connect");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let health = format!("{}/healthz", server.base);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(500))
        .build()
        .expect("client");
    assert!(
        client.get(&health).send().await.is_err(),
        "a third was served"
    );
    drop(first);
    drop(second);
    let response = reqwest::get(&health)
        .await
        .expect("served once a slot is free");
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn sigterm_waits_for_a_stalled_request_only_until_the_shutdown_deadline() {
    let mut server = TestServer::start_with(&["--shutdown-timeout-secs", "1"]).await;
    let mut stalled = TcpStream::connect(address(&server)).await.expect("connect");
    let head = format!(
        "POST /v1/charges HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Length: 100\r\n\r\n{{",
        server.creds.test_secret_key
    );
    stalled.write_all(head.as_bytes()).await.expect("write");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        server.terminate(Duration::from_secs(5)).await,
        "the server waited for the stalled client"
    );
}
