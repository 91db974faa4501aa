//! The `paymux` command: `serve`, `init`, `keys`, `channels`, `webhooks`, `operators`, `audit`,
//! `migrate`, `db copy`, `simulate`.
//!
//! Every storage and server flag can also come from the environment (`PAYMUX_…`) or a TOML
//! config file (`--config`); a flag beats the environment, which beats the file.

mod apps_cli;
mod channels_cli;
mod cli_context;
mod config;
mod keys_cli;
mod operators_cli;
mod simulate_cli;
mod webhooks_cli;

use anyhow::bail;
use clap::{Args, Parser, Subcommand};
use config::{Config, Storage};
use paymux_server::bootstrap;
use paymux_server::http::ConnectionLimits;
use paymux_server::server::{ServeOptions, serve};
use paymux_server::{Settings, SharedClock, SystemClock};
use serde::Serialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The version and the commit the binary was built from.
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("PAYMUX_COMMIT"), ")");

#[derive(Parser)]
#[command(
    name = "paymux",
    version = VERSION,
    about = "A self-hosted, Ping++-compatible payment gateway"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// How log lines (on stderr) are written: text for people, json for a log collector (one
    /// object a line: time, level, message, request or job id, route)
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "text",
        env = "PAYMUX_LOG_FORMAT"
    )]
    log_format: LogFormat,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway (bootstraps an account, app and keys on first start).
    Serve(Box<ServeArgs>),
    /// Create the account, app and keys without serving; prints them (again) as JSON.
    Init {
        #[command(flatten)]
        storage: StorageArgs,
        /// Print the credentials as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// The merchant RSA public key, where request signatures are required, and secret keys.
    Keys {
        #[command(subcommand)]
        command: keys_cli::KeysCommand,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// List, create and rename the account's apps.
    Apps {
        #[command(subcommand)]
        command: apps_cli::AppsCommand,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Configure an app's payment providers (WeChat Pay, Alipay, UnionPay).
    Channels {
        #[command(subcommand)]
        command: channels_cli::ChannelsCommand,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Manage the management console's operators (admin, finance, support, viewer).
    Operators {
        #[command(subcommand)]
        command: operators_cli::OperatorsCommand,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Show the audit log: what operators and this command line changed, newest first.
    Audit {
        #[command(flatten)]
        storage: StorageArgs,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Print JSON lines instead of text
        #[arg(long)]
        json: bool,
    },
    /// Manage webhook endpoints; see and resend deliveries.
    Webhooks {
        #[command(subcommand)]
        command: webhooks_cli::WebhooksCommand,
        #[command(flatten)]
        storage: StorageArgs,
        /// Print JSON instead of text
        #[arg(long, global = true)]
        json: bool,
    },
    /// Run a channel simulator (WeChat Pay v2, Alipay, UnionPay) that speaks the channel's protocol.
    Simulate {
        #[command(subcommand)]
        command: simulate_cli::SimulateCommand,
    },
    /// Copy a running SQLite store, consistently, into a new directory (with credentials.json
    /// and a note on restoring). PostgreSQL: use pg_dump.
    Backup {
        #[command(flatten)]
        storage: StorageArgs,
        /// The new directory the backup goes to
        #[arg(long)]
        to: PathBuf,
    },
    /// Put a backup into a new data directory (--data-dir), which must hold no store yet.
    Restore {
        #[command(flatten)]
        storage: StorageArgs,
        /// The backup's directory
        #[arg(long)]
        from: PathBuf,
    },
    /// Apply database migrations and exit.
    Migrate {
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Move data between databases.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
}

#[derive(Subcommand)]
enum DbCommand {
    /// Copy a whole SQLite data directory into an empty PostgreSQL database, then verify
    /// row counts and money sums. Stop the server first (or accept the copy as of its start).
    Copy {
        /// The SQLite store: sqlite://DATA_DIR, a data directory, or its paymux.db file
        #[arg(long)]
        from: String,
        /// The PostgreSQL database (postgres://…); must be empty
        #[arg(long)]
        to: String,
    },
}

/// Flags (and their environment variables) are a settings layer: serialized with only what
/// was given, over the config file (`config.rs`).
#[derive(Args, Clone, Serialize)]
struct StorageArgs {
    /// Directory of the embedded SQLite database [default: ./paymux-data]
    #[arg(long, env = "PAYMUX_DATA_DIR", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    data_dir: Option<PathBuf>,
    /// PostgreSQL URL (postgres://user@host/db); without it the embedded SQLite store is used
    #[arg(long, env = "PAYMUX_DATABASE_URL", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    database_url: Option<String>,
    /// PostgreSQL connections per process [default: 16]
    #[arg(long, env = "PAYMUX_DATABASE_POOL_SIZE", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    database_pool_size: Option<u32>,
    /// PostgreSQL statement timeout in milliseconds [default: 10000]
    #[arg(long, env = "PAYMUX_DATABASE_STATEMENT_TIMEOUT_MS", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    database_statement_timeout_ms: Option<u64>,
    /// TOML config file
    #[arg(long, env = "PAYMUX_CONFIG", global = true)]
    #[serde(skip)]
    config: Option<PathBuf>,
    /// File holding the key that seals channel secrets (32 bytes, base64); or set PAYMUX_SECRETS_KEY
    #[arg(long, env = "PAYMUX_SECRETS_KEY_FILE", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    secrets_key_file: Option<PathBuf>,
}

#[derive(Args, Serialize)]
struct ServeArgs {
    #[command(flatten)]
    #[serde(skip)]
    storage: StorageArgs,
    /// Address to listen on [default: 127.0.0.1:8080]
    #[arg(long, env = "PAYMUX_LISTEN")]
    #[serde(skip_serializing_if = "Option::is_none")]
    listen: Option<SocketAddr>,
    /// Base URL browsers reach the gateway at, for test-mode payment links [default: from the Host header]
    #[arg(long, env = "PAYMUX_PUBLIC_URL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    public_url: Option<String>,
    /// Largest accepted request body in bytes [default: 65536]
    #[arg(long, env = "PAYMUX_BODY_LIMIT_BYTES")]
    #[serde(skip_serializing_if = "Option::is_none")]
    body_limit_bytes: Option<usize>,
    /// Seconds a client may take to send a request's headers, counted from the connection's
    /// start or the previous response [default: 30]
    #[arg(long, env = "PAYMUX_HEADER_READ_TIMEOUT_SECS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    header_read_timeout_secs: Option<u64>,
    /// Seconds a client may take to send a request body [default: 30]
    #[arg(long, env = "PAYMUX_BODY_READ_TIMEOUT_SECS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    body_read_timeout_secs: Option<u64>,
    /// Seconds a connection may stay open with no request in flight and no bytes moving [default: 60]
    #[arg(long, env = "PAYMUX_IDLE_TIMEOUT_SECS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    idle_timeout_secs: Option<u64>,
    /// Client connections served at once; more wait to be accepted [default: 1024]
    #[arg(long, env = "PAYMUX_MAX_CONNECTIONS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    max_connections: Option<usize>,
    /// Seconds a shutdown (SIGTERM, Ctrl-C) waits for requests in flight [default: 30]
    #[arg(long, env = "PAYMUX_SHUTDOWN_TIMEOUT_SECS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    shutdown_timeout_secs: Option<u64>,
    /// Accepted clock difference for signed requests, in seconds [default: 300]
    #[arg(long, env = "PAYMUX_SIGNATURE_TOLERANCE_SECS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    signature_tolerance_secs: Option<i64>,
    /// How long test-mode refunds stay pending, in milliseconds [default: 1000]
    #[arg(long, env = "PAYMUX_TEST_REFUND_DELAY_MS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    test_refund_delay_ms: Option<i64>,
    /// Sign every response body with the platform key (X-Pingplusplus-Signature) [default: true]
    #[arg(long, env = "PAYMUX_SIGN_RESPONSES")]
    #[serde(skip_serializing_if = "Option::is_none")]
    sign_responses: Option<bool>,
    /// How long a node holds a background job before another node may take it over, in seconds [default: 30]
    #[arg(long, env = "PAYMUX_JOB_LEASE_SECS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    job_lease_secs: Option<i64>,
    /// How long one webhook attempt may take before it counts as failed, in milliseconds [default: 5000]
    #[arg(long, env = "PAYMUX_WEBHOOK_TIMEOUT_MS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    webhook_timeout_ms: Option<u64>,
    /// Webhook attempts in flight per endpoint, across all nodes [default: 8]
    #[arg(long, env = "PAYMUX_WEBHOOK_CONCURRENCY")]
    #[serde(skip_serializing_if = "Option::is_none")]
    webhook_concurrency: Option<i64>,
    /// Serve the management console under /dashboard/ [default: true]
    #[arg(long, env = "PAYMUX_DASHBOARD")]
    #[serde(skip_serializing_if = "Option::is_none")]
    dashboard: Option<bool>,
    /// Serve the management console on this address instead of the API's (an internal network)
    #[arg(long, env = "PAYMUX_DASHBOARD_LISTEN")]
    #[serde(skip_serializing_if = "Option::is_none")]
    dashboard_listen: Option<SocketAddr>,
    /// Serve Prometheus metrics at /metrics on this address instead of the API's
    #[arg(long, env = "PAYMUX_METRICS_LISTEN")]
    #[serde(skip_serializing_if = "Option::is_none")]
    metrics_listen: Option<SocketAddr>,
    /// Fault injection for tests: run as if this machine's clock were off by this much
    #[arg(long, hide = true)]
    #[serde(skip)]
    test_clock_skew_ms: Option<i64>,
    /// Networks webhooks must not reach, comma-separated CIDRs or addresses; `private` = loopback,
    /// private and link-local ranges [default: none]
    #[arg(long, env = "PAYMUX_WEBHOOK_DENY_NETWORKS", value_delimiter = ',')]
    #[serde(skip_serializing_if = "Option::is_none")]
    webhook_deny_networks: Option<Vec<String>>,
}

/// The settings the storage flags (and anything else given) leave after the file and defaults.
fn settings(args: &StorageArgs, serve: Option<&ServeArgs>) -> anyhow::Result<Config> {
    let mut given = vec![serde_json::to_value(args)?];
    if let Some(serve) = serve {
        given.push(serde_json::to_value(serve)?);
    }
    Config::load(args.config.as_deref(), &given)
}

fn storage(args: &StorageArgs) -> anyhow::Result<(Storage, Config)> {
    let config = settings(args, None)?;
    Ok((Storage::resolve(&config)?, config))
}

/// The secrets key: `PAYMUX_SECRETS_KEY`, else the file the settings name.
fn secrets_key(config: &Config) -> anyhow::Result<Option<paymux_server::secrets::SecretsKey>> {
    channels_cli::secrets_key(config.secrets_key_file.as_deref())
}

/// An error of the gateway, for a command's error message.
/// The version and every effective setting, at start; a database URL without its password
/// (the secrets key is only ever named by its file).
fn log_start(config: &Config) {
    let mut settings = serde_json::to_value(config).unwrap_or_default();
    if let Some(url) = settings.get_mut("database_url").filter(|u| u.is_string()) {
        let shown = url.as_str().map(paymux_server::store::db::redact_url);
        *url = serde_json::Value::from(shown);
    }
    tracing::info!(version = VERSION, settings = %settings, "starting");
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn cli_error(error: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("{error}")
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr);
    match cli.log_format {
        // The request's or job's span (its id, the route) goes with every line.
        LogFormat::Json => logs
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
        // Colours only for a person at a terminal, not in log files.
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
    if let Err(error) = run(cli).await {
        eprintln!("paymux: {error:#}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let clock: SharedClock = Arc::new(SystemClock);
    match cli.command {
        Command::Serve(args) => {
            let config = settings(&args.storage, Some(&args))?;
            log_start(&config);
            paymux_server::metrics::build_info(env!("CARGO_PKG_VERSION"), env!("PAYMUX_COMMIT"));
            let storage = Storage::resolve(&config)?;
            let secrets_key = secrets_key(&config)?;
            let limits = ConnectionLimits {
                header_read: Duration::from_secs(config.header_read_timeout_secs),
                idle: Duration::from_secs(config.idle_timeout_secs),
                max_connections: config.max_connections,
                shutdown: Duration::from_secs(config.shutdown_timeout_secs),
            };
            if config.header_read_timeout_secs == 0
                || config.idle_timeout_secs == 0
                || config.body_read_timeout_secs == 0
                || config.max_connections == 0
            {
                bail!(
                    "--header-read-timeout-secs, --body-read-timeout-secs, --idle-timeout-secs and --max-connections must be at least 1"
                );
            }
            let settings = Settings {
                body_limit_bytes: config.body_limit_bytes,
                body_read_timeout_ms: config.body_read_timeout_secs.saturating_mul(1000),
                signature_tolerance_secs: config.signature_tolerance_secs,
                test_refund_delay_ms: config.test_refund_delay_ms,
                public_url: config
                    .public_url
                    .as_deref()
                    .map(paymux_server::state::parse_public_url)
                    .transpose()
                    .map_err(|e| anyhow::anyhow!("--public-url: {e}"))?,
                sign_responses: config.sign_responses,
                job_lease_ms: config.job_lease_secs.saturating_mul(1000),
                webhook_timeout_ms: config.webhook_timeout_ms,
                webhook_concurrency: config.webhook_concurrency,
                webhook_deny_networks: paymux_server::outbound::parse_networks(
                    &config.webhook_deny_networks,
                )
                .map_err(|e| anyhow::anyhow!("--webhook-deny-networks: {e}"))?,
                secrets_key,
                // On its own address, the console is not on the API's.
                dashboard_on_api: config.dashboard && config.dashboard_listen.is_none(),
                metrics_on_api: config.metrics_listen.is_none(),
            };
            if settings.webhook_timeout_ms == 0 || settings.webhook_concurrency < 1 {
                bail!("--webhook-timeout-ms and --webhook-concurrency must be at least 1");
            }
            if settings.test_refund_delay_ms < 0 || settings.signature_tolerance_secs < 0 {
                bail!("durations cannot be negative");
            }
            if settings.job_lease_ms < 1000 {
                bail!("--job-lease-secs must be at least 1");
            }
            let listen = config.listen;
            // The port first: a clash must fail before anything is created or printed.
            let listener = paymux_server::server::bind(listen).await?;
            let dashboard_listener = match config.dashboard_listen.filter(|_| config.dashboard) {
                Some(address) => Some(paymux_server::server::bind(address).await?),
                None => None,
            };
            let metrics_listener = match config.metrics_listen {
                Some(address) => Some(paymux_server::server::bind(address).await?),
                None => None,
            };
            let lock = storage.lock_for_serve()?;
            let db = storage.open().await?;
            let clock: SharedClock = match args.test_clock_skew_ms {
                Some(skew) => Arc::new(paymux_server::clock::OffsetClock::new(clock, skew)),
                None => clock,
            };
            serve(
                db,
                ServeOptions {
                    data_dir: storage.data_dir,
                    listener,
                    dashboard_listener,
                    metrics_listener,
                    settings,
                    lock,
                    limits,
                },
                clock,
            )
            .await
        }
        Command::Init {
            storage: args,
            json,
        } => {
            let (storage, _) = storage(&args)?;
            let db = storage.open().await?;
            let credentials =
                bootstrap::credentials(&db, &storage.data_dir, clock.now_secs()).await?;
            if json {
                println!("{}", serde_json::to_string(&credentials)?);
            } else {
                println!("account:         {}", credentials.account);
                println!("app_id:          {}", credentials.app_id);
                println!("test_secret_key: {}", credentials.test_secret_key);
                println!("live_secret_key: {}", credentials.live_secret_key);
                print!(
                    "platform public key:\n{}",
                    credentials.platform_public_key_pem
                );
            }
            Ok(())
        }
        Command::Keys {
            command,
            storage: args,
        } => {
            let (storage, _) = storage(&args)?;
            keys_cli::run(command, &storage, clock).await
        }
        Command::Db {
            command: DbCommand::Copy { from, to },
        } => {
            let source = config::sqlite_data_dir(&from)?;
            let target = Storage::resolve(&Config {
                database_url: Some(to),
                ..Config::default()
            })?;
            let from_db = paymux_server::store::Db::open_sqlite(&source).await?;
            let to_db = target.open().await?;
            let report = paymux_server::store::copy::copy(&from_db, &to_db).await?;
            for (table, rows) in &report.tables {
                eprintln!("{table:>14}: {rows} rows");
            }
            eprintln!(
                "copied and verified (row counts and money sums match). The secret keys' clear copy stays in {}",
                source.join("credentials.json").display()
            );
            Ok(())
        }
        Command::Channels {
            command,
            storage: args,
        } => {
            let (storage, config) = storage(&args)?;
            let key = secrets_key(&config)?;
            channels_cli::run(command, &storage, key, clock).await
        }
        Command::Webhooks {
            command,
            storage: args,
            json,
        } => {
            let (storage, config) = storage(&args)?;
            let key = secrets_key(&config)?;
            webhooks_cli::run(command, &storage, key, json, clock).await
        }
        Command::Apps {
            command,
            storage: args,
        } => {
            let (storage, _) = storage(&args)?;
            apps_cli::run(command, &storage, clock).await
        }
        Command::Operators {
            command,
            storage: args,
        } => {
            let (storage, _) = storage(&args)?;
            operators_cli::run(command, &storage, clock).await
        }
        Command::Audit {
            storage: args,
            limit,
            json,
        } => {
            let (storage, _) = storage(&args)?;
            operators_cli::audit(&storage, limit.clamp(1, 10_000), json).await
        }
        Command::Simulate { command } => simulate_cli::run(command).await,
        Command::Backup { storage: args, to } => {
            let (storage, _) = storage(&args)?;
            if storage.database_url.is_some() {
                bail!(
                    "paymux backup copies the embedded SQLite store; back up PostgreSQL with pg_dump (see the README)"
                );
            }
            paymux_server::store::backup::backup(&storage.data_dir, &to).await?;
            eprintln!("backed up to {}", to.display());
            Ok(())
        }
        Command::Restore {
            storage: args,
            from,
        } => {
            let (storage, _) = storage(&args)?;
            if storage.database_url.is_some() {
                bail!(
                    "paymux restore puts a backup into an SQLite data directory (--data-dir); restore PostgreSQL with pg_restore"
                );
            }
            paymux_server::store::backup::restore(&from, &storage.data_dir)?;
            eprintln!(
                "restored into {}; start it with paymux serve --data-dir {}",
                storage.data_dir.display(),
                storage.data_dir.display()
            );
            Ok(())
        }
        Command::Migrate { storage: args } => {
            let (storage, _) = storage(&args)?;
            storage.open().await?;
            eprintln!("migrations applied");
            Ok(())
        }
    }
}
