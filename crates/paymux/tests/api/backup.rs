//! `paymux backup` of a running SQLite store while charges keep being created, and
//! `paymux restore` of it into a new data directory that a new server then serves.

use crate::helpers::{BIN, TestServer, spawn_serve};
use reqwest::StatusCode;
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

#[tokio::test]
async fn a_backup_taken_under_write_load_restores_every_acknowledged_charge() {
    let server = TestServer::start_sqlite(&[]).await;
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut writers = Vec::new();
    for writer in 0..4 {
        let (http, base) = (server.http.clone(), server.base.clone());
        let key = server.creds.test_secret_key.clone();
        let mut body = server.charge_body("alipay_qr", serde_json::json!({}));
        let (stop, acknowledged) = (stop.clone(), acknowledged.clone());
        writers.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                body["order_no"] = format!("bk{writer}x{n:06}").into();
                let response = http
                    .post(format!("{base}/v1/charges"))
                    .bearer_auth(&key)
                    .json(&body)
                    .send()
                    .await
                    .expect("create");
                if response.status() == StatusCode::OK {
                    let charge: Value = response.json().await.expect("json");
                    let id = charge["id"].as_str().expect("id").to_owned();
                    acknowledged.lock().expect("lock").push(id);
                }
            }
        }));
    }
    while acknowledged.lock().expect("lock").len() < 50 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let before: Vec<String> = acknowledged.lock().expect("lock").clone();
    let backups = tempfile::tempdir().expect("dir");
    let to = backups.path().join("paymux-backup");
    let mut args = vec![
        "backup".to_owned(),
        "--to".to_owned(),
        to.display().to_string(),
    ];
    args.extend(server.storage_args().iter().map(|s| (*s).to_owned()));
    let output = tokio::process::Command::new(BIN)
        .args(&args)
        .output()
        .await
        .expect("backup");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let during = acknowledged.lock().expect("lock").len();
    stop.store(true, Ordering::SeqCst);
    for writer in writers {
        writer.await.expect("writer");
    }
    assert!(
        during > before.len(),
        "the writers kept writing while the backup ran"
    );
    for file in ["paymux.db", "credentials.json", "RESTORE.txt"] {
        assert!(to.join(file).is_file(), "{file}");
    }
    // A second backup never overwrites the first.
    let again = tokio::process::Command::new(BIN)
        .args(&args)
        .output()
        .await
        .expect("backup");
    assert!(!again.status.success());

    let restored = tempfile::tempdir().expect("dir");
    let data_dir = restored.path().join("data");
    let data = data_dir.display().to_string();
    let restore = |data: &str| {
        std::process::Command::new(BIN)
            .args([
                "restore",
                "--from",
                &to.display().to_string(),
                "--data-dir",
                data,
            ])
            .output()
            .expect("restore")
    };
    assert!(restore(&data).status.success());
    assert!(
        !restore(&data).status.success(),
        "a store is never overwritten"
    );

    let storage = vec!["--data-dir".to_owned(), data];
    let (_child, base) = spawn_serve(restored.path(), &storage, &[], None).await;
    let http = reqwest::Client::new();
    for id in &before {
        let response = http
            .get(format!("{base}/v1/charges/{id}"))
            .bearer_auth(&server.creds.test_secret_key)
            .send()
            .await
            .expect("retrieve");
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{id} was acknowledged before the backup"
        );
    }
}
