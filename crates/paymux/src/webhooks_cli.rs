//! `paymux webhooks …`: manage endpoints and look at deliveries straight in the database, so
//! an operator needs no API key. The running server (any node) makes the attempts.

use crate::cli_context::CliContext;
use crate::config::Storage;
use clap::{Subcommand, ValueEnum};
use paymux_server::domain::event::Event;
use paymux_server::error::{GatewayError, GatewayResult};
use paymux_server::secrets::SecretsKey;
use paymux_server::store::{self, Db};
use paymux_server::webhooks::{self, endpoints::EndpointChange, manage};
use paymux_server::{SharedClock, store::webhooks as rows};
use serde_json::{Value, json};
use sqlx::AnyConnection;
use std::time::Duration;

#[derive(Subcommand)]
pub enum WebhooksCommand {
    /// Add an endpoint; prints its id and its signing secret (shown only now).
    Add {
        /// http(s) URL that receives the POSTs
        url: String,
        /// Which mode's events it receives
        #[arg(long, value_enum, default_value = "test")]
        mode: Mode,
        /// Event types it takes, comma-separated [default: all]
        #[arg(long, value_delimiter = ',')]
        events: Option<Vec<String>>,
        /// A note for people
        #[arg(long)]
        description: Option<String>,
    },
    /// List endpoints (both modes).
    List,
    /// Remove an endpoint; its pending deliveries are cancelled.
    Remove { id: String },
    /// Deliver a `webhook.test` event to an endpoint and show the attempt.
    Test { id: String },
    /// Show every delivery of an event and each attempt made.
    Attempts { event_id: String },
    /// Send an event again now, to one endpoint or to every endpoint that takes it.
    Resend {
        event_id: String,
        #[arg(long)]
        endpoint: Option<String>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Mode {
    Test,
    Live,
}

/// How long `test` and `resend` wait to show the first attempt a server makes.
const SHOW_ATTEMPT_WAIT: Duration = Duration::from_secs(8);

pub async fn run(
    command: WebhooksCommand,
    storage: &Storage,
    secrets: Option<SecretsKey>,
    json_output: bool,
    clock: SharedClock,
) -> anyhow::Result<()> {
    let db = storage.open().await?;
    let context = CliContext::open(db.clone(), clock, secrets).await?;
    let account = context.account.clone();
    match command {
        WebhooksCommand::Add {
            url,
            mode,
            events,
            description,
        } => {
            let livemode = matches!(mode, Mode::Live);
            let change = EndpointChange {
                url: Some(url),
                events,
                enabled: Some(true),
                description,
            };
            let (endpoint, secret) =
                manage::create(&context.state, context.caller(livemode), change)
                    .await
                    .map_err(crate::cli_error)?;
            let value = endpoint.to_wire(Some(secret.expose()));
            if json_output {
                println!("{value}");
            } else {
                println!(
                    "added {} ({} mode) -> {}",
                    value["id"].as_str().unwrap_or(""),
                    mode_name(&value),
                    value["url"].as_str().unwrap_or("")
                );
                println!(
                    "signing secret (shown only now): {}",
                    value["secret"].as_str().unwrap_or("")
                );
            }
        }
        WebhooksCommand::List => {
            let mut conn = db.reader().acquire().await?;
            let endpoints = rows::list_endpoints(&mut conn, &account, None)
                .await
                .map_err(crate::cli_error)?;
            let values: Vec<Value> = endpoints.iter().map(|e| e.to_wire(None)).collect();
            if json_output {
                println!("{}", Value::Array(values));
            } else if values.is_empty() {
                println!("no webhook endpoints; add one with `paymux webhooks add URL`");
            } else {
                for v in &values {
                    println!(
                        "{}  {:<4}  {:<8}  {}  [{}]",
                        v["id"].as_str().unwrap_or(""),
                        mode_name(v),
                        if v["enabled"] == json!(true) {
                            "enabled"
                        } else {
                            "disabled"
                        },
                        v["url"].as_str().unwrap_or(""),
                        v["events"].as_array().map_or(String::new(), |e| e
                            .iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(","))
                    );
                }
            }
        }
        WebhooksCommand::Remove { id } => {
            let livemode = endpoint_mode(&db, &account, &id).await?;
            manage::remove(&context.state, context.caller(livemode), id)
                .await
                .map_err(crate::cli_error)?;
            eprintln!("removed");
        }
        WebhooksCommand::Test { id } => {
            let livemode = endpoint_mode(&db, &account, &id).await?;
            let event = manage::send_test(&context.state, context.caller(livemode), id)
                .await
                .map_err(crate::cli_error)?;
            eprintln!("queued {} ({})", event.id, event.kind);
            show_when_attempted(&db, &event.id, json_output).await?;
        }
        WebhooksCommand::Attempts { event_id } => {
            let mut conn = db.reader().acquire().await?;
            find_event(&mut conn, &account, &event_id).await?;
            let deliveries = webhooks::deliveries_with_attempts(&mut conn, &event_id)
                .await
                .map_err(crate::cli_error)?;
            print_deliveries(&deliveries, json_output);
        }
        WebhooksCommand::Resend { event_id, endpoint } => {
            let livemode = {
                let mut conn = db.reader().acquire().await?;
                event_in_any_mode(&mut conn, &account, &event_id)
                    .await
                    .map_err(crate::cli_error)?
                    .livemode
            };
            let caller = context.caller(livemode);
            let (_, created) = manage::resend(&context.state, caller, event_id.clone(), endpoint)
                .await
                .map_err(crate::cli_error)?;
            eprintln!("queued {} deliveries", created.len());
            show_when_attempted(&db, &event_id, json_output).await?;
        }
    }
    Ok(())
}

/// The mode of one of the account's endpoints (the command line works in both).
async fn endpoint_mode(db: &Db, account: &str, id: &str) -> anyhow::Result<bool> {
    let mut conn = db.reader().acquire().await?;
    let endpoint = rows::get_endpoint(&mut conn, account, id)
        .await
        .map_err(crate::cli_error)?
        .ok_or_else(|| crate::cli_error(GatewayError::not_found("webhook_endpoint", id)))?;
    Ok(endpoint.livemode)
}

fn mode_name(endpoint: &Value) -> &'static str {
    if endpoint["livemode"] == json!(true) {
        "live"
    } else {
        "test"
    }
}

async fn event_in_any_mode(
    conn: &mut AnyConnection,
    account: &str,
    id: &str,
) -> GatewayResult<Event> {
    for livemode in [false, true] {
        if let Some(event) = store::events::get(conn, account, livemode, id).await? {
            return Ok(event);
        }
    }
    Err(GatewayError::not_found("event", id))
}

async fn find_event(conn: &mut AnyConnection, account: &str, id: &str) -> anyhow::Result<Event> {
    event_in_any_mode(conn, account, id)
        .await
        .map_err(crate::cli_error)
}

/// Waits until every delivery of the event has an attempt (made by a running server), then
/// prints them; says so if none came.
async fn show_when_attempted(db: &Db, event_id: &str, json_output: bool) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + SHOW_ATTEMPT_WAIT;
    loop {
        let mut conn = db.reader().acquire().await?;
        let deliveries = webhooks::deliveries_with_attempts(&mut conn, event_id)
            .await
            .map_err(crate::cli_error)?;
        drop(conn);
        let all_tried = deliveries
            .iter()
            .all(|d| d["attempts"].as_array().is_some_and(|a| !a.is_empty()));
        if all_tried || tokio::time::Instant::now() >= deadline {
            print_deliveries(&deliveries, json_output);
            if !all_tried {
                eprintln!(
                    "not attempted yet: a running `paymux serve` on this database makes the attempts"
                );
            }
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn print_deliveries(deliveries: &[Value], json_output: bool) {
    if json_output {
        println!("{}", Value::Array(deliveries.to_vec()));
        return;
    }
    if deliveries.is_empty() {
        println!("no deliveries (no endpoint took this event when it happened)");
    }
    for d in deliveries {
        println!(
            "{} -> {}: {} after {} attempt(s)",
            d["id"].as_str().unwrap_or(""),
            d["endpoint"].as_str().unwrap_or(""),
            d["status"].as_str().unwrap_or(""),
            d["attempt_count"]
        );
        for a in d["attempts"].as_array().into_iter().flatten() {
            let result = match (a["status_code"].as_i64(), a["error"].as_str()) {
                (Some(code), _) => format!("HTTP {code}"),
                (None, Some(error)) => error.to_owned(),
                (None, None) => "no answer".to_owned(),
            };
            println!(
                "  #{} at {} ms: {} in {} ms  {}",
                a["number"],
                a["started_ms"],
                result,
                a["latency_ms"],
                a["url"].as_str().unwrap_or("")
            );
        }
    }
}
