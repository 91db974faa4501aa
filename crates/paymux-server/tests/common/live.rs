//! A gateway for live-mode tests: serving its API on loopback (channels notify it there), on a
//! manual clock a simulator can share, with a secrets key, and helpers to drive and inspect it.

use paymux_server::channels::Provider;
use paymux_server::channels::config::{self, ProviderSettings};
use paymux_server::domain::Caller;
use paymux_server::domain::channel::Channel;
use paymux_server::domain::charge::Charge;
use paymux_server::payments::charges::{self, NewCharge};
use paymux_server::payments::refunds::{self, NewRefund};
use paymux_server::secrets::SecretsKey;
use paymux_server::{AppState, ManualClock, Settings, jobs, store};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

pub struct Gateway {
    pub state: AppState,
    pub clock: Arc<ManualClock>,
    /// A live-mode caller.
    pub caller: Caller,
    pub app: String,
    /// Where the gateway serves (also its `--public-url`).
    pub base_url: String,
    _scratch: super::Scratch,
}

/// Serves `router` on a free loopback port; returns its base URL.
pub async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

/// A 100-fen charge of `app` on `channel`.
pub fn new_charge(app: &str, channel: Channel, order_no: &str, extra: Value) -> NewCharge {
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

impl Gateway {
    pub async fn start() -> Gateway {
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
        let (state, clock, mut caller, app, scratch) = super::setup(settings).await;
        caller.livemode = true;
        let router = paymux_server::api::router(state.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Gateway {
            state,
            clock,
            caller,
            app,
            base_url,
            _scratch: scratch,
        }
    }

    /// Configures the app's `provider` in live mode; returns the checked settings.
    pub async fn configure(&self, provider: Provider, given: &[(&str, &str)]) -> ProviderSettings {
        self.configure_mode(provider, given, true).await
    }

    /// Configures the app's `provider` in live or test mode.
    pub async fn configure_mode(
        &self,
        provider: Provider,
        given: &[(&str, &str)],
        livemode: bool,
    ) -> ProviderSettings {
        let given: BTreeMap<String, String> = given
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let settings = ProviderSettings::check(provider, &given).expect("settings");
        let secrets = self.state.settings.secrets_key.clone().expect("key");
        let (app_id, saved) = (self.app.clone(), settings.clone());
        self.state
            .db
            .write(move |conn| {
                Box::pin(
                    async move { config::save(conn, &secrets, &app_id, livemode, &saved, 0).await },
                )
            })
            .await
            .expect("configure");
        settings
    }

    pub async fn create(&self, channel: Channel, order_no: &str, extra: Value) -> Value {
        self.try_create(channel, order_no, extra)
            .await
            .expect("create")
    }

    /// A live 100-fen charge, as `POST /v1/charges` answers it (success or error).
    pub async fn try_create(
        &self,
        channel: Channel,
        order_no: &str,
        extra: Value,
    ) -> Result<Value, paymux_server::error::GatewayError> {
        charges::create(
            &self.state,
            self.caller.clone(),
            new_charge(&self.app, channel, order_no, extra),
            self.base_url.clone(),
        )
        .await
    }

    pub async fn charge(&self, id: &str) -> Charge {
        let mut conn = self.state.db.reader().acquire().await.expect("conn");
        store::charges::get_any(&mut conn, id)
            .await
            .expect("get")
            .expect("exists")
    }

    pub async fn succeeded_events(&self) -> usize {
        self.events("charge.succeeded").await
    }

    /// How many live events of this type were recorded.
    pub async fn events(&self, kind: &str) -> usize {
        let mut conn = self.state.db.reader().acquire().await.expect("conn");
        let page = store::Page {
            limit: 100,
            ..store::Page::default()
        };
        store::events::list(&mut conn, &self.caller.account_id, true, Some(kind), &page)
            .await
            .expect("events")
            .0
            .len()
    }

    /// Waits (real time) until the charge is paid, as the notification arrives.
    pub async fn wait_paid(&self, id: &str) {
        for _ in 0..200 {
            if self.charge(id).await.paid {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("charge {id} was never paid");
    }

    /// The live notifications the gateway kept about `reference`, newest first.
    pub async fn notifications(
        &self,
        reference: &str,
    ) -> Vec<store::channel_notifications::ChannelNotification> {
        let mut conn = self.state.db.reader().acquire().await.expect("conn");
        store::channel_notifications::list(&mut conn, &self.app, true, Some(reference), 100)
            .await
            .expect("notifications")
    }

    /// `POST /v1/charges/{id}/reverse`, as the API runs it.
    pub async fn reverse(&self, id: &str) -> Result<Value, paymux_server::error::GatewayError> {
        charges::reverse(&self.state, self.caller.clone(), id.to_owned()).await
    }

    /// Refunds `amount` of a charge; the refund starts pending.
    pub async fn refund(&self, charge_id: &str, amount: i64) -> String {
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

    pub async fn refund_row(&self, id: &str) -> paymux_server::domain::refund::Refund {
        let mut conn = self.state.db.reader().acquire().await.expect("conn");
        store::refunds::get_by_id(&mut conn, id)
            .await
            .expect("get")
            .expect("exists")
    }

    pub async fn refund_status(&self, id: &str) -> String {
        self.refund_row(id).await.status.as_str().to_owned()
    }

    /// Waits (real time) for a refund to leave `pending`, as a notification arrives.
    pub async fn wait_refund(&self, id: &str) -> String {
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
    pub async fn advance(&self, ms: i64) {
        self.clock.advance_ms(ms);
        jobs::run_due(&self.state).await.expect("jobs");
    }
}
