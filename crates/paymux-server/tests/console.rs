//! The management console's sessions and sign-in rules, through the gateway's router on a
//! manual clock: idle and absolute expiry, sign-in throttling, CSRF, and abnormal refunds
//! resolved by hand.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use paymux_server::domain::Caller;
use paymux_server::operators::{self, Actor, Audit, Role};
use paymux_server::{AppState, ManualClock, Settings};
use std::sync::Arc;
use tower::ServiceExt;

const PASSWORD: &str = "correct horse battery";

struct Console {
    state: AppState,
    clock: Arc<ManualClock>,
    caller: Caller,
    _scratch: common::Scratch,
}

impl Console {
    async fn start() -> Console {
        let (state, clock, caller, _app, scratch) = common::setup(Settings::default()).await;
        for (name, role) in [("ada", Role::Admin), ("sam", Role::Support)] {
            let audit = Audit {
                account_id: caller.account_id.clone(),
                actor: Actor::cli(),
                now_ms: common::START_MS,
            };
            operators::add(&state.db, audit, name, role, PASSWORD)
                .await
                .expect("operator");
        }
        Console {
            state,
            clock,
            caller,
            _scratch: scratch,
        }
    }

    async fn send(&self, request: Request<Body>) -> (StatusCode, Vec<String>, String) {
        let response = paymux_server::api::router(self.state.clone())
            .oneshot(request)
            .await
            .expect("response");
        let status = response.status();
        let cookies = response
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        let text = String::from_utf8_lossy(&body).into_owned();
        (
            status,
            cookies,
            if location.is_empty() { text } else { location },
        )
    }

    async fn login(&self, name: &str, password: &str) -> (StatusCode, Option<String>, String) {
        let body = format!("name={name}&password={}", password.replace(' ', "+"));
        let request = Request::post("/dashboard/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .expect("request");
        let (status, cookies, body) = self.send(request).await;
        let session = cookies
            .iter()
            .find_map(|c| c.strip_prefix("paymux_session="))
            .map(|c| c.split(';').next().unwrap_or_default().to_owned())
            .filter(|c| !c.is_empty());
        (status, session, body)
    }

    async fn get(&self, path: &str, session: &str) -> (StatusCode, String) {
        let request = Request::get(path)
            .header(header::COOKIE, format!("paymux_session={session}"))
            .body(Body::empty())
            .expect("request");
        let (status, _, body) = self.send(request).await;
        (status, body)
    }

    async fn post(&self, path: &str, session: &str, form: &str) -> (StatusCode, String) {
        let request = Request::post(path)
            .header(header::COOKIE, format!("paymux_session={session}"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form.to_owned()))
            .expect("request");
        let (status, _, body) = self.send(request).await;
        (status, body)
    }
}

fn csrf_of(page: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = page.find(marker).expect("a csrf field") + marker.len();
    page[start..]
        .split('"')
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_session_ends_after_thirty_idle_minutes_or_twelve_hours() {
    let console = Console::start().await;
    let (status, session, _) = console.login("ada", PASSWORD).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let session = session.expect("a session cookie");
    assert_eq!(console.get("/dashboard/", &session).await.0, StatusCode::OK);

    // Used every 29 minutes, it lives on...
    for _ in 0..4 {
        console.clock.advance_ms(29 * 60_000);
        assert_eq!(
            console.get("/dashboard/charges", &session).await.0,
            StatusCode::OK
        );
    }
    // ...until 31 idle minutes pass.
    console.clock.advance_ms(31 * 60_000);
    let (status, location) = console.get("/dashboard/", &session).await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/dashboard/login")
    );

    // However busy, a session ends twelve hours after sign-in.
    let (_, session, _) = console.login("ada", PASSWORD).await;
    let session = session.expect("a session cookie");
    for _ in 0..25 {
        console.clock.advance_ms(29 * 60_000);
        console.get("/dashboard/", &session).await;
    }
    assert_eq!(
        console.get("/dashboard/", &session).await.0,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn repeated_wrong_passwords_lock_the_operator_out_for_a_while() {
    let console = Console::start().await;
    for _ in 0..5 {
        let (status, session, body) = console.login("sam", "wrong password here").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(session.is_none());
        assert!(!body.contains(PASSWORD));
    }
    // Locked now, even with the right password.
    let (status, session, _) = console.login("sam", PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(session.is_none());
    // An unknown name is refused like a wrong password, and locks nobody.
    assert_eq!(
        console.login("nobody", PASSWORD).await.0,
        StatusCode::UNAUTHORIZED
    );
    // Others are not locked out.
    assert_eq!(
        console.login("ada", PASSWORD).await.0,
        StatusCode::SEE_OTHER
    );

    console.clock.advance_ms(61_000);
    let (status, session, _) = console.login("sam", PASSWORD).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(session.is_some());

    let mut conn = console.state.db.reader().acquire().await.expect("conn");
    let entries = paymux_server::store::audit::newest(&mut conn, &console.caller.account_id, 50)
        .await
        .expect("audit");
    let failed = entries
        .iter()
        .filter(|e| e.action == "login.failed")
        .count();
    assert_eq!(failed, 5, "{entries:?}");
}

#[tokio::test]
async fn a_post_needs_the_session_csrf_token_and_the_operator_role() {
    let console = Console::start().await;
    let (_, session, _) = console.login("sam", PASSWORD).await;
    let session = session.expect("session");
    let (_, page) = console.get("/dashboard/webhooks", &session).await;
    let csrf = csrf_of(&page);

    let form = "url=http%3A%2F%2F127.0.0.1%3A9%2Fhook";
    let (status, _) = console.post("/dashboard/webhooks", &session, form).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no token");
    let (status, _) = console
        .post(
            "/dashboard/webhooks",
            &session,
            &format!("{form}&csrf=x{csrf}"),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "another token");
    let (status, _) = console
        .post(
            "/dashboard/webhooks",
            &session,
            &format!("{form}&csrf={csrf}"),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "support does not manage webhooks"
    );

    let (_, admin, _) = console.login("ada", PASSWORD).await;
    let admin = admin.expect("session");
    let (_, page) = console.get("/dashboard/webhooks", &admin).await;
    let (status, location) = console
        .post(
            "/dashboard/webhooks",
            &admin,
            &format!("{form}&csrf={}", csrf_of(&page)),
        )
        .await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/dashboard/webhooks")
    );
    // The session of one operator does not carry another's token.
    let (status, _) = console
        .post(
            "/dashboard/webhooks",
            &admin,
            &format!("{form}&csrf={csrf}"),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn finance_resolves_an_abnormal_refund_once_it_paid_the_payer_by_hand() {
    use paymux_server::domain::channel::Channel;
    use paymux_server::payments::{self, charges::NewCharge, refunds::NewRefund};
    use paymux_server::store;
    use serde_json::{Map, json};

    let console = Console::start().await;
    let mut extra = Map::new();
    extra.insert("scan_code".into(), json!("286648048691290423"));
    extra.insert("terminal_id".into(), json!("T1"));
    let (_, app) = {
        let mut conn = console.state.db.reader().acquire().await.expect("conn");
        store::accounts::first_account(&mut conn)
            .await
            .expect("account")
            .expect("some")
    };
    let charge = payments::charges::create(
        &console.state,
        console.caller.clone(),
        NewCharge {
            app_id: app,
            channel: Channel::AlipayScan,
            order_no: "abnormal1".into(),
            client_ip: "127.0.0.1".into(),
            amount: 500,
            currency: "cny".into(),
            subject: "s".into(),
            body: "b".into(),
            description: None,
            extra,
            metadata: Map::new(),
            time_expire: None,
        },
        "http://127.0.0.1".into(),
    )
    .await
    .expect("charge");
    let charge_id = charge["id"].as_str().expect("id").to_owned();
    let refund = payments::refunds::create(
        &console.state,
        console.caller.clone(),
        charge_id.clone(),
        NewRefund {
            amount: Some(200),
            description: "back".into(),
            metadata: Map::new(),
            funding_source: None,
        },
    )
    .await
    .expect("refund");
    let refund_id = refund["id"].as_str().expect("id").to_owned();
    let id = refund_id.clone();
    console
        .state
        .db
        .write(move |conn| {
            Box::pin(async move {
                payments::refunds::mark_abnormal(conn, &id, "CHANGE", "card closed").await
            })
        })
        .await
        .expect("abnormal");

    // Every page of an admin answers with this money in it, on either engine.
    let (_, admin, _) = console.login("ada", PASSWORD).await;
    let admin = admin.expect("session");
    for page in [
        "/dashboard/",
        "/dashboard/charges",
        "/dashboard/charges?status=refunded&channel=alipay_scan",
        &format!("/dashboard/charges/{charge_id}"),
        "/dashboard/refunds",
        "/dashboard/events",
        "/dashboard/deliveries",
        "/dashboard/recharges",
        "/dashboard/webhooks",
        "/dashboard/developers",
        "/dashboard/channels",
        "/dashboard/apps",
        "/dashboard/operators",
        "/dashboard/audit",
    ] {
        let (status, body) = console.get(page, &admin).await;
        assert_eq!(status, StatusCode::OK, "{page}: {body}");
    }
    let (_, overview) = console.get("/dashboard/", &admin).await;
    assert!(
        overview.contains("¥5.00"),
        "the paid volume of today: {overview}"
    );

    let path = format!("/dashboard/refunds/{refund_id}/resolve");
    let (_, support, _) = console.login("sam", PASSWORD).await;
    let support = support.expect("session");
    let (_, page) = console
        .get("/dashboard/refunds?status=abnormal", &support)
        .await;
    assert!(
        page.contains(&refund_id) && !page.contains(&path),
        "support sees, cannot resolve"
    );
    let (status, _) = console
        .post(
            &path,
            &support,
            &format!("reference=T1&csrf={}", csrf_of(&page)),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (_, admin, _) = console.login("ada", PASSWORD).await;
    let admin = admin.expect("session");
    let (_, page) = console
        .get("/dashboard/refunds?status=abnormal", &admin)
        .await;
    assert!(page.contains(&path));
    let csrf = csrf_of(&page);
    let (status, body) = console
        .post(&path, &admin, &format!("reference=&csrf={csrf}"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = console
        .post(&path, &admin, &format!("reference=BANK-778&csrf={csrf}"))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    // Once only: it is not abnormal any more.
    let (status, _) = console
        .post(&path, &admin, &format!("reference=BANK-778&csrf={csrf}"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let mut conn = console.state.db.reader().acquire().await.expect("conn");
    let refund = store::refunds::get_by_id(&mut conn, &refund_id)
        .await
        .expect("read")
        .expect("refund");
    assert_eq!(refund.status.as_str(), "succeeded");
    assert_eq!(refund.transaction_no.as_deref(), Some("BANK-778"));
    let charge = store::charges::get_any(&mut conn, &charge_id)
        .await
        .expect("read")
        .expect("charge");
    assert_eq!((charge.amount_refunded, charge.refundable()), (200, 300));
    let events = store::events::of_charge(&mut conn, &charge_id)
        .await
        .expect("events");
    assert!(
        events.iter().any(|e| e.kind == "refund.succeeded"),
        "{events:?}"
    );
    let audit = store::audit::newest(&mut conn, &console.caller.account_id, 10)
        .await
        .expect("audit");
    assert!(
        audit
            .iter()
            .any(|e| e.action == "refund.resolve" && e.actor == "ada"),
        "{audit:?}"
    );
}
