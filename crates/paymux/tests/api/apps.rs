//! An account's apps through `/v1/apps`, `paymux apps` and the management console: the same
//! operations, each change in the audit log.

use crate::helpers::{TestServer, assert_error, cli};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn apps_are_listed_created_and_renamed_through_the_api_and_the_command_line() {
    let server = TestServer::start().await;
    let (status, list) = server.get("/v1/apps").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["data"].as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list["data"][0]["id"], json!(server.creds.app_id));

    let (status, app) = server.post("/v1/apps", json!({"name": "门店二号"})).await;
    assert_eq!(status, StatusCode::OK, "{app}");
    assert_eq!(app["object"], "app");
    assert_eq!(app["name"], "门店二号");
    let id = app["id"].as_str().expect("id").to_owned();
    assert!(id.starts_with("app_"), "{id}");

    let (status, renamed) = server
        .post(&format!("/v1/apps/{id}"), json!({"name": "Store 2"}))
        .await;
    assert_eq!(
        (status, renamed["name"].clone()),
        (StatusCode::OK, json!("Store 2"))
    );

    for bad in [
        json!({}),
        json!({"name": ""}),
        json!({"name": "x".repeat(65)}),
        json!({"name": "a", "x": 1}),
    ] {
        let (status, body) = server.post("/v1/apps", bad.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad} {body}");
        assert_error(&body, "invalid_request_error");
    }
    let (status, _) = server
        .post("/v1/apps/app_doesnotexist00000", json!({"name": "n"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A charge can be made in the new app at once.
    let mut body = server.charge_body("alipay_qr", json!({}));
    body["app"] = json!({"id": id});
    let (status, charge) = server.post("/v1/charges", body).await;
    assert_eq!(
        (status, charge["app"].clone()),
        (StatusCode::OK, json!(id)),
        "{charge}"
    );

    let storage = server.storage_args();
    let args = |extra: &[&str]| -> Vec<String> {
        extra
            .iter()
            .chain(storage.iter())
            .map(|s| (*s).to_owned())
            .collect()
    };
    let run = |extra: &[&str]| {
        let owned = args(extra);
        cli(&owned.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let (ok, out, err) = run(&["apps", "create", "Third"]);
    assert!(ok, "{err}");
    let third = out.trim().to_owned();
    let (ok, _, err) = run(&["apps", "rename", &third, "Third store"]);
    assert!(ok, "{err}");
    let (ok, out, _) = run(&["apps", "list"]);
    assert!(
        ok && out.contains(&third) && out.contains("Third store") && out.contains("Store 2"),
        "{out}"
    );
    let (ok, _, err) = run(&["apps", "rename", "app_nope", "x"]);
    assert!(!ok && err.contains("app_nope"), "{err}");

    let (ok, audit, _) = run(&["audit", "--json"]);
    assert!(ok);
    for (actor, action) in [
        ("api", "app.create"),
        ("api", "app.rename"),
        ("cli", "app.create"),
        ("cli", "app.rename"),
    ] {
        assert!(
            audit
                .lines()
                .any(|l| l.contains(&format!("\"actor\":\"{actor}\""))
                    && l.contains(&format!("\"action\":\"{action}\""))),
            "{actor} {action}: {audit}"
        );
    }
}
