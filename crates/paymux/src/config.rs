//! The settings (defaults, the optional TOML file, environment and flags) and where the data
//! lives.

use anyhow::{Context, bail};
use figment::Figment;
use figment::providers::Serialized;
use paymux_server::Settings;
use paymux_server::http::ConnectionLimits;
use paymux_server::store::Db;
use paymux_server::store::data_dir::ServeLock;
use paymux_server::store::db::is_postgres_url;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Every setting, declared once with its default. They are layered by figment: these
/// defaults, then the TOML file `--config` names, then environment variables and flags (clap
/// reads both, and a flag beats its variable). A key the file misspells is refused.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub database_pool_size: u32,
    pub database_statement_timeout_ms: u64,
    pub secrets_key_file: Option<PathBuf>,
    pub listen: SocketAddr,
    pub public_url: Option<String>,
    pub body_limit_bytes: usize,
    pub header_read_timeout_secs: u64,
    pub body_read_timeout_secs: u64,
    pub idle_timeout_secs: u64,
    pub max_connections: usize,
    pub shutdown_timeout_secs: u64,
    pub signature_tolerance_secs: i64,
    pub test_refund_delay_ms: i64,
    pub sign_responses: bool,
    pub job_lease_secs: i64,
    pub webhook_timeout_ms: u64,
    pub webhook_concurrency: i64,
    pub webhook_deny_networks: Vec<String>,
    pub dashboard: bool,
    pub dashboard_listen: Option<SocketAddr>,
    pub metrics_listen: Option<SocketAddr>,
}

impl Default for Config {
    fn default() -> Self {
        let server = Settings::default();
        let connections = ConnectionLimits::default();
        Config {
            data_dir: PathBuf::from("paymux-data"),
            database_url: None,
            database_pool_size: 16,
            database_statement_timeout_ms: 10_000,
            secrets_key_file: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            body_limit_bytes: server.body_limit_bytes,
            header_read_timeout_secs: connections.header_read.as_secs(),
            body_read_timeout_secs: server.body_read_timeout_ms / 1000,
            idle_timeout_secs: connections.idle.as_secs(),
            max_connections: connections.max_connections,
            shutdown_timeout_secs: connections.shutdown.as_secs(),
            signature_tolerance_secs: server.signature_tolerance_secs,
            test_refund_delay_ms: server.test_refund_delay_ms,
            sign_responses: server.sign_responses,
            job_lease_secs: server.job_lease_ms / 1000,
            webhook_timeout_ms: server.webhook_timeout_ms,
            webhook_concurrency: server.webhook_concurrency,
            webhook_deny_networks: Vec::new(),
            dashboard: true,
            dashboard_listen: None,
            metrics_listen: None,
        }
    }
}

impl Config {
    /// The settings from the defaults, the file (if any) and then each of `given` (command-line
    /// arguments, serialized with only what was set).
    pub fn load(file: Option<&Path>, given: &[serde_json::Value]) -> anyhow::Result<Config> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read config file {}", path.display()))?;
            let table: toml::Table = toml::from_str(&text)
                .with_context(|| format!("invalid config file {}", path.display()))?;
            figment = figment.merge(Serialized::defaults(table));
        }
        for layer in given {
            figment = figment.merge(Serialized::defaults(layer));
        }
        // Flags and variables are typed by clap already: what fails here is the file's.
        figment.extract().map_err(|error| {
            let file = file.map_or_else(String::new, |p| format!(" in {}", p.display()));
            match error.path.last() {
                Some(key) => anyhow::anyhow!("invalid setting {key}{file}: {}", error.kind),
                None => anyhow::anyhow!("invalid settings{file}: {}", error.kind),
            }
        })
    }
}

/// Where the data lives: the embedded SQLite database under `data_dir`, or PostgreSQL.
/// `data_dir` also holds `credentials.json` (the one clear copy of the secret keys) either way.
pub struct Storage {
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub pool_size: u32,
    pub statement_timeout_ms: u64,
}

impl Storage {
    pub fn resolve(config: &Config) -> anyhow::Result<Self> {
        if let Some(url) = &config.database_url
            && !is_postgres_url(url)
        {
            bail!(
                "unsupported --database-url (expected postgres://…); the embedded SQLite store is chosen with --data-dir"
            );
        }
        if config.database_pool_size == 0 {
            bail!("--database-pool-size must be at least 1");
        }
        Ok(Self {
            data_dir: config.data_dir.clone(),
            database_url: config.database_url.clone(),
            pool_size: config.database_pool_size,
            statement_timeout_ms: config.database_statement_timeout_ms,
        })
    }

    pub async fn open(&self) -> anyhow::Result<Db> {
        match &self.database_url {
            Some(url) => Db::open_postgres(url, self.pool_size, self.statement_timeout_ms).await,
            None => Db::open_sqlite(&self.data_dir).await,
        }
    }

    /// For `serve` on SQLite: the data directory's lock (a second server there is refused).
    /// PostgreSQL is shared by design, so there is nothing to lock.
    pub fn lock_for_serve(&self) -> anyhow::Result<Option<ServeLock>> {
        if self.database_url.is_some() {
            return Ok(None);
        }
        paymux_server::store::data_dir::prepare(&self.data_dir)?;
        paymux_server::store::data_dir::lock(&self.data_dir).map(Some)
    }
}

/// The data directory an SQLite source names: `sqlite://DIR`, `DIR`, or `DIR/paymux.db`.
/// It must already hold a database: copying from a typo must not create an empty one.
pub fn sqlite_data_dir(spec: &str) -> anyhow::Result<PathBuf> {
    let path = PathBuf::from(spec.strip_prefix("sqlite://").unwrap_or(spec));
    let dir = if path.extension().is_some_and(|e| e == "db") {
        path.parent().map(Path::to_path_buf).unwrap_or_default()
    } else {
        path
    };
    if !dir.join("paymux.db").is_file() {
        bail!(
            "{} holds no paymux.db; name a paymux data directory",
            dir.display()
        );
    }
    Ok(dir)
}
