//! The `paymux` command: `serve`, `init`, `keys`, `channels`, `webhooks`, `migrate`, `db copy`,
//! `simulate`.
//!
//! Every storage and server flag can also come from the environment (`PAYMUX_…`) or a TOML
//! config file (`--config`); a flag beats the environment, which beats the file.

mod channels_cli;
mod config;
mod simulate_cli;
mod webhooks_cli;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use config::{FileConfig, Storage};
use paymux_server::bootstrap::{self, RequireSignature};
use paymux_server::http::ConnectionLimits;
use paymux_server::server::{ServeOptions, serve};
use paymux_server::{Settings, SharedClock, SystemClock};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "paymux",
    version,
    about = "A self-hosted, Ping++-compatible payment gateway"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway (bootstraps an account, app and keys on first start).
    Serve(ServeArgs),
    /// Create the account, app and keys without serving; prints them (again) as JSON.
    Init {
        #[command(flatten)]
        storage: StorageArgs,
        /// Print the credentials as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Manage the merchant RSA public key that request signatures are checked with.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Configure an app's payment providers (WeChat Pay, Alipay, UnionPay).
    Channels {
        #[command(subcommand)]
        command: channels_cli::ChannelsCommand,
        #[command(flatten)]
        storage: StorageArgs,
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

#[derive(Args, Clone)]
struct StorageArgs {
    /// Directory of the embedded SQLite database [default: ./paymux-data]
    #[arg(long, env = "PAYMUX_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// PostgreSQL URL (postgres://user@host/db); without it the embedded SQLite store is used
    #[arg(long, env = "PAYMUX_DATABASE_URL", global = true)]
    database_url: Option<String>,
    /// PostgreSQL connections per process [default: 16]
    #[arg(long, env = "PAYMUX_DATABASE_POOL_SIZE", global = true)]
    database_pool_size: Option<u32>,
    /// PostgreSQL statement timeout in milliseconds [default: 10000]
    #[arg(long, env = "PAYMUX_DATABASE_STATEMENT_TIMEOUT_MS", global = true)]
    database_statement_timeout_ms: Option<u64>,
    /// TOML config file
    #[arg(long, env = "PAYMUX_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// File holding the key that seals channel secrets (32 bytes, base64); or set PAYMUX_SECRETS_KEY
    #[arg(long, env = "PAYMUX_SECRETS_KEY_FILE", global = true)]
    secrets_key_file: Option<PathBuf>,
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    storage: StorageArgs,
    /// Address to listen on [default: 127.0.0.1:8080]
    #[arg(long, env = "PAYMUX_LISTEN")]
    listen: Option<SocketAddr>,
    /// Base URL browsers reach the gateway at, for test-mode payment links [default: from the Host header]
    #[arg(long, env = "PAYMUX_PUBLIC_URL")]
    public_url: Option<String>,
    /// Largest accepted request body in bytes [default: 65536]
    #[arg(long, env = "PAYMUX_BODY_LIMIT_BYTES")]
    body_limit_bytes: Option<usize>,
    /// Seconds a client may take to send a request's headers, counted from the connection's
    /// start or the previous response [default: 30]
    #[arg(long, env = "PAYMUX_HEADER_READ_TIMEOUT_SECS")]
    header_read_timeout_secs: Option<u64>,
    /// Seconds a client may take to send a request body [default: 30]
    #[arg(long, env = "PAYMUX_BODY_READ_TIMEOUT_SECS")]
    body_read_timeout_secs: Option<u64>,
    /// Seconds a connection may stay open with no request in flight and no bytes moving [default: 60]
    #[arg(long, env = "PAYMUX_IDLE_TIMEOUT_SECS")]
    idle_timeout_secs: Option<u64>,
    /// Client connections served at once; more wait to be accepted [default: 1024]
    #[arg(long, env = "PAYMUX_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
    /// Seconds a shutdown (SIGTERM, Ctrl-C) waits for requests in flight [default: 30]
    #[arg(long, env = "PAYMUX_SHUTDOWN_TIMEOUT_SECS")]
    shutdown_timeout_secs: Option<u64>,
    /// Accepted clock difference for signed requests, in seconds [default: 300]
    #[arg(long, env = "PAYMUX_SIGNATURE_TOLERANCE_SECS")]
    signature_tolerance_secs: Option<i64>,
    /// How long test-mode refunds stay pending, in milliseconds [default: 1000]
    #[arg(long, env = "PAYMUX_TEST_REFUND_DELAY_MS")]
    test_refund_delay_ms: Option<i64>,
    /// Sign every response body with the platform key (X-Pingplusplus-Signature) [default: true]
    #[arg(long, env = "PAYMUX_SIGN_RESPONSES")]
    sign_responses: Option<bool>,
    /// How long a node holds a background job before another node may take it over, in seconds [default: 30]
    #[arg(long, env = "PAYMUX_JOB_LEASE_SECS")]
    job_lease_secs: Option<i64>,
    /// How long one webhook attempt may take before it counts as failed, in milliseconds [default: 5000]
    #[arg(long, env = "PAYMUX_WEBHOOK_TIMEOUT_MS")]
    webhook_timeout_ms: Option<u64>,
    /// Webhook attempts in flight per endpoint, across all nodes [default: 8]
    #[arg(long, env = "PAYMUX_WEBHOOK_CONCURRENCY")]
    webhook_concurrency: Option<i64>,
    /// Fault injection for tests: run as if this machine's clock were off by this much
    #[arg(long, hide = true)]
    test_clock_skew_ms: Option<i64>,
    /// Networks webhooks must not reach, comma-separated CIDRs or addresses; `private` = loopback,
    /// private and link-local ranges [default: none]
    #[arg(long, env = "PAYMUX_WEBHOOK_DENY_NETWORKS", value_delimiter = ',')]
    webhook_deny_networks: Option<Vec<String>>,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Store the merchant RSA public key (PEM: BEGIN PUBLIC KEY or BEGIN RSA PUBLIC KEY).
    SetMerchantPublicKey {
        /// The PEM file
        file: PathBuf,
        /// Which modes must sign every request [default: leave as it is]
        #[arg(long, value_enum)]
        require_signature: Option<Modes>,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Remove the merchant public key; signatures are no longer required.
    ClearMerchantPublicKey {
        #[command(flatten)]
        storage: StorageArgs,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Modes {
    None,
    Test,
    Live,
    Both,
}

impl From<Modes> for RequireSignature {
    fn from(modes: Modes) -> Self {
        RequireSignature {
            test: matches!(modes, Modes::Test | Modes::Both),
            live: matches!(modes, Modes::Live | Modes::Both),
        }
    }
}

fn storage(args: &StorageArgs) -> anyhow::Result<(Storage, FileConfig)> {
    let file = FileConfig::load(args.config.as_deref())?;
    let storage = Storage::resolve(
        args.data_dir.clone().or_else(|| file.data_dir.clone()),
        args.database_url
            .clone()
            .or_else(|| file.database_url.clone()),
        args.database_pool_size.or(file.database_pool_size),
        args.database_statement_timeout_ms
            .or(file.database_statement_timeout_ms),
    )?;
    Ok((storage, file))
}

/// The secrets key: `PAYMUX_SECRETS_KEY`, else the file the flag or the config file names.
fn secrets_key(
    args: &StorageArgs,
    file: &FileConfig,
) -> anyhow::Result<Option<paymux_server::secrets::SecretsKey>> {
    channels_cli::secrets_key(
        args.secrets_key_file
            .as_deref()
            .or(file.secrets_key_file.as_deref()),
    )
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal, not in log files.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    if let Err(error) = run(cli).await {
        eprintln!("paymux: {error:#}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let clock: SharedClock = Arc::new(SystemClock);
    match cli.command {
        Command::Serve(args) => {
            let (storage, file) = storage(&args.storage)?;
            let defaults = Settings::default();
            let secrets_key = secrets_key(&args.storage, &file)?;
            let secs = |flag: Option<u64>, file: Option<u64>, default: Duration| {
                flag.or(file).map_or(default, Duration::from_secs)
            };
            let connection_defaults = ConnectionLimits::default();
            let limits = ConnectionLimits {
                header_read: secs(
                    args.header_read_timeout_secs,
                    file.header_read_timeout_secs,
                    connection_defaults.header_read,
                ),
                idle: secs(
                    args.idle_timeout_secs,
                    file.idle_timeout_secs,
                    connection_defaults.idle,
                ),
                max_connections: args
                    .max_connections
                    .or(file.max_connections)
                    .unwrap_or(connection_defaults.max_connections),
                shutdown: secs(
                    args.shutdown_timeout_secs,
                    file.shutdown_timeout_secs,
                    connection_defaults.shutdown,
                ),
            };
            let body_read = secs(
                args.body_read_timeout_secs,
                file.body_read_timeout_secs,
                Duration::from_millis(defaults.body_read_timeout_ms),
            );
            if limits.header_read.is_zero()
                || limits.idle.is_zero()
                || body_read.is_zero()
                || limits.max_connections == 0
            {
                bail!(
                    "--header-read-timeout-secs, --body-read-timeout-secs, --idle-timeout-secs and --max-connections must be at least 1"
                );
            }
            let settings = Settings {
                body_limit_bytes: args
                    .body_limit_bytes
                    .or(file.body_limit_bytes)
                    .unwrap_or(defaults.body_limit_bytes),
                body_read_timeout_ms: u64::try_from(body_read.as_millis()).unwrap_or(u64::MAX),
                signature_tolerance_secs: args
                    .signature_tolerance_secs
                    .or(file.signature_tolerance_secs)
                    .unwrap_or(defaults.signature_tolerance_secs),
                test_refund_delay_ms: args
                    .test_refund_delay_ms
                    .or(file.test_refund_delay_ms)
                    .unwrap_or(defaults.test_refund_delay_ms),
                public_url: args
                    .public_url
                    .or(file.public_url)
                    .map(|url| paymux_server::state::parse_public_url(&url))
                    .transpose()
                    .map_err(|e| anyhow::anyhow!("--public-url: {e}"))?,
                sign_responses: args
                    .sign_responses
                    .or(file.sign_responses)
                    .unwrap_or(defaults.sign_responses),
                job_lease_ms: args
                    .job_lease_secs
                    .or(file.job_lease_secs)
                    .map_or(defaults.job_lease_ms, |secs| secs.saturating_mul(1000)),
                webhook_timeout_ms: args
                    .webhook_timeout_ms
                    .or(file.webhook_timeout_ms)
                    .unwrap_or(defaults.webhook_timeout_ms),
                webhook_concurrency: args
                    .webhook_concurrency
                    .or(file.webhook_concurrency)
                    .unwrap_or(defaults.webhook_concurrency),
                webhook_deny_networks: paymux_server::outbound::parse_networks(
                    &args
                        .webhook_deny_networks
                        .or(file.webhook_deny_networks)
                        .unwrap_or_default(),
                )
                .map_err(|e| anyhow::anyhow!("--webhook-deny-networks: {e}"))?,
                secrets_key,
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
            let listen = match args.listen.or(file.listen) {
                Some(listen) => listen,
                None => "127.0.0.1:8080".parse()?,
            };
            // The port first: a clash must fail before anything is created or printed.
            let listener = paymux_server::server::bind(listen).await?;
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
        Command::Keys { command } => match command {
            KeysCommand::SetMerchantPublicKey {
                file,
                require_signature,
                storage: args,
            } => {
                let (storage, _) = storage(&args)?;
                let pem = std::fs::read_to_string(&file)
                    .with_context(|| format!("cannot read {}", file.display()))?;
                let db = storage.open().await?;
                bootstrap::set_merchant_key(&db, Some(pem), require_signature.map(Into::into))
                    .await?;
                eprintln!("merchant public key set");
                Ok(())
            }
            KeysCommand::ClearMerchantPublicKey { storage: args } => {
                let (storage, _) = storage(&args)?;
                let db = storage.open().await?;
                bootstrap::set_merchant_key(&db, None, None).await?;
                eprintln!("merchant public key cleared; request signatures are not required");
                Ok(())
            }
        },
        Command::Db {
            command: DbCommand::Copy { from, to },
        } => {
            let source = config::sqlite_data_dir(&from)?;
            let target = Storage::resolve(None, Some(to), None, None)?;
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
            let (storage, file) = storage(&args)?;
            let key = secrets_key(&args, &file)?;
            channels_cli::run(command, &storage, key, clock).await
        }
        Command::Webhooks {
            command,
            storage: args,
            json,
        } => {
            let (storage, file) = storage(&args)?;
            let key = secrets_key(&args, &file)?;
            webhooks_cli::run(command, &storage, key, json, clock).await
        }
        Command::Simulate { command } => simulate_cli::run(command).await,
        Command::Migrate { storage: args } => {
            let (storage, _) = storage(&args)?;
            storage.open().await?;
            eprintln!("migrations applied");
            Ok(())
        }
    }
}
