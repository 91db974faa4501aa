//! The optional TOML config file and where the data lives.

use anyhow::{Context, bail};
use paymux_server::store::Db;
use paymux_server::store::data_dir::ServeLock;
use paymux_server::store::db::is_postgres_url;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Everything `--config FILE` may set; flags and environment variables override it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub listen: Option<SocketAddr>,
    pub public_url: Option<String>,
    pub body_limit_bytes: Option<usize>,
    pub header_read_timeout_secs: Option<u64>,
    pub body_read_timeout_secs: Option<u64>,
    pub idle_timeout_secs: Option<u64>,
    pub max_connections: Option<usize>,
    pub shutdown_timeout_secs: Option<u64>,
    pub signature_tolerance_secs: Option<i64>,
    pub test_refund_delay_ms: Option<i64>,
    pub sign_responses: Option<bool>,
    pub database_pool_size: Option<u32>,
    pub job_lease_secs: Option<i64>,
    pub database_statement_timeout_ms: Option<u64>,
    pub webhook_timeout_ms: Option<u64>,
    pub webhook_concurrency: Option<i64>,
    pub webhook_deny_networks: Option<Vec<String>>,
    pub secrets_key_file: Option<PathBuf>,
}

impl FileConfig {
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let Some(path) = path else {
            return Ok(Self::default());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
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
    pub fn resolve(
        data_dir: Option<PathBuf>,
        database_url: Option<String>,
        pool_size: Option<u32>,
        statement_timeout_ms: Option<u64>,
    ) -> anyhow::Result<Self> {
        if let Some(url) = &database_url
            && !is_postgres_url(url)
        {
            bail!(
                "unsupported --database-url (expected postgres://…); the embedded SQLite store is chosen with --data-dir"
            );
        }
        let pool_size = pool_size.unwrap_or(16);
        if pool_size == 0 {
            bail!("--database-pool-size must be at least 1");
        }
        Ok(Self {
            data_dir: data_dir.unwrap_or_else(|| PathBuf::from("paymux-data")),
            database_url,
            pool_size,
            statement_timeout_ms: statement_timeout_ms.unwrap_or(10_000),
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
