//! `paymux channels …`: configure an app's payment providers straight in the database.
//! Secrets are sealed with the secrets key before they are written and are never printed.

use crate::cli_context::CliContext;
use crate::config::Storage;
use anyhow::{Context, bail};
use clap::{Subcommand, ValueEnum};
use paymux_server::SharedClock;
use paymux_server::channels::config;
use paymux_server::channels::{Provider, manage};
use paymux_server::secrets::SecretsKey;
use paymux_server::store;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum ChannelsCommand {
    /// Configure (or reconfigure) a provider for an app; values are checked, secrets sealed.
    Set {
        app: String,
        /// wechat, alipay or unionpay
        provider: String,
        #[arg(long, value_enum, default_value = "live")]
        mode: Mode,
        /// A setting, NAME=VALUE (repeatable)
        #[arg(long = "set", value_name = "NAME=VALUE")]
        values: Vec<String>,
        /// A setting read from a file, NAME=PATH (keys, certificates)
        #[arg(long = "set-file", value_name = "NAME=PATH")]
        files: Vec<String>,
    },
    /// Show an app's provider configurations (settings, and which secrets are set).
    List {
        app: String,
        #[arg(long, value_enum, default_value = "live")]
        mode: Mode,
    },
    /// Show the channel notifications an app received (verified ones, as received), newest first.
    Notifications {
        app: String,
        #[arg(long, value_enum, default_value = "live")]
        mode: Mode,
        /// Only those about this order or refund number (out_trade_no, out_refund_no, orderId)
        #[arg(long)]
        reference: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
    /// Remove a provider configuration.
    Remove {
        app: String,
        provider: String,
        #[arg(long, value_enum, default_value = "live")]
        mode: Mode,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Mode {
    Test,
    Live,
}

fn provider(name: &str) -> anyhow::Result<Provider> {
    Provider::parse(name)
        .with_context(|| format!("unknown provider {name}; use wechat, alipay or unionpay"))
}

fn split(pair: &str) -> anyhow::Result<(String, String)> {
    let (name, value) = pair
        .split_once('=')
        .with_context(|| format!("`{pair}` is not NAME=VALUE"))?;
    Ok((name.trim().to_owned(), value.to_owned()))
}

pub async fn run(
    command: ChannelsCommand,
    storage: &Storage,
    secrets_key: Option<SecretsKey>,
    clock: SharedClock,
) -> anyhow::Result<()> {
    let db = storage.open().await?;
    match command {
        ChannelsCommand::Set {
            app,
            provider: name,
            mode,
            values,
            files,
        } => {
            let provider = provider(&name)?;
            let key = config::require_key(secrets_key.as_ref())
                .map_err(crate::cli_error)?
                .clone();
            let mut given = BTreeMap::new();
            for pair in &values {
                let (name, value) = split(pair)?;
                given.insert(name, value);
            }
            for pair in &files {
                let (name, path) = split(pair)?;
                let path = PathBuf::from(path);
                let value = std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                given.insert(name, value);
            }
            let livemode = matches!(mode, Mode::Live);
            let context = CliContext::open(db, clock, Some(key)).await?;
            let caller = context.caller(livemode);
            let (settings, updated) =
                manage::configure(&context.state, caller, app.clone(), provider, given, false)
                    .await
                    .map_err(crate::cli_error)?;
            let wire = settings.to_wire(&app, livemode, updated);
            println!("{wire}");
        }
        ChannelsCommand::List { app, mode } => {
            let key = config::require_key(secrets_key.as_ref()).map_err(crate::cli_error)?;
            let livemode = matches!(mode, Mode::Live);
            let mut conn = db.reader().acquire().await?;
            let stored = store::channel_configs::list(&mut conn, &app, livemode)
                .await
                .map_err(crate::cli_error)?;
            if stored.is_empty() {
                eprintln!("no providers configured for {app} in this mode");
            }
            for s in &stored {
                let settings = config::open(key, s).map_err(crate::cli_error)?;
                println!("{}", settings.to_wire(&app, livemode, s.updated));
            }
        }
        ChannelsCommand::Notifications {
            app,
            mode,
            reference,
            limit,
        } => {
            if !(1..=1000).contains(&limit) {
                bail!("--limit must be between 1 and 1000");
            }
            let livemode = matches!(mode, Mode::Live);
            let mut conn = db.reader().acquire().await?;
            let received = store::channel_notifications::list(
                &mut conn,
                &app,
                livemode,
                reference.as_deref(),
                limit,
            )
            .await
            .map_err(crate::cli_error)?;
            if received.is_empty() {
                eprintln!("no channel notifications for {app} in this mode");
            }
            for notification in &received {
                println!("{}", notification.to_wire());
            }
        }
        ChannelsCommand::Remove {
            app,
            provider: name,
            mode,
        } => {
            let provider = provider(&name)?;
            let livemode = matches!(mode, Mode::Live);
            let context = CliContext::open(db, clock, secrets_key).await?;
            manage::remove(&context.state, context.caller(livemode), app, provider)
                .await
                .map_err(crate::cli_error)?;
            eprintln!("removed");
        }
    }
    Ok(())
}

/// The secrets key from `PAYMUX_SECRETS_KEY` or the file `--secrets-key-file` names.
pub fn secrets_key(file: Option<&std::path::Path>) -> anyhow::Result<Option<SecretsKey>> {
    let text = match (std::env::var("PAYMUX_SECRETS_KEY").ok(), file) {
        (Some(text), _) => text,
        (None, Some(path)) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the secrets key file {}", path.display()))?,
        (None, None) => return Ok(None),
    };
    SecretsKey::from_base64(&text)
        .map(Some)
        .map_err(|e| anyhow::anyhow!("PAYMUX_SECRETS_KEY / --secrets-key-file: {e}"))
}
