//! The optional TOML config file and where the data lives.

use anyhow::{Context, bail};
use paymux_server::store::Db;
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
    pub signature_tolerance_secs: Option<i64>,
    pub test_refund_delay_ms: Option<i64>,
    pub sign_responses: Option<bool>,
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

pub struct Storage {
    pub data_dir: PathBuf,
}

impl Storage {
    pub fn resolve(
        data_dir: Option<PathBuf>,
        database_url: Option<String>,
    ) -> anyhow::Result<Self> {
        match database_url {
            None => Ok(Self {
                data_dir: data_dir.unwrap_or_else(|| PathBuf::from("paymux-data")),
            }),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                bail!(
                    "PostgreSQL is not supported by this build yet; use the embedded SQLite store (--data-dir)"
                )
            }
            Some(url) => bail!(
                "unsupported --database-url {url:?}; use --data-dir for the embedded SQLite store"
            ),
        }
    }

    pub async fn open(&self) -> anyhow::Result<Db> {
        Db::open_sqlite(&self.data_dir).await
    }
}
