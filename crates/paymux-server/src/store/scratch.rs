//! Throwaway PostgreSQL databases, for the test suites and benchmarks that need one of their
//! own beside a shared server: created empty, dropped (whoever is still connected) when the
//! guard goes out of scope, so a run leaves nothing behind.

use anyhow::Context;
use sqlx::{AnyConnection, AssertSqlSafe, Connection, Executor};
use std::sync::atomic::{AtomicU64, Ordering};

pub struct ScratchDatabase {
    admin_url: String,
    pub name: String,
    /// The admin URL with this database's name in place of its own (query kept).
    pub url: String,
}

impl ScratchDatabase {
    /// A new empty database `{prefix}_{pid}_{n}` on the server `admin_url` names.
    pub async fn create(admin_url: &str, prefix: &str) -> anyhow::Result<Self> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "{prefix}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let url = with_database(admin_url, &name)?;
        let mut conn = connect(admin_url).await?;
        // Left over from a killed run whose pid has come round again.
        conn.execute(drop_statement(&name)).await?;
        conn.execute(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .await
            .with_context(|| format!("cannot create database {name}"))?;
        conn.close().await?;
        Ok(Self {
            admin_url: admin_url.to_owned(),
            name,
            url,
        })
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop may run inside a runtime that must not block; a thread of its own may.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let mut conn = connect(&admin_url).await?;
                conn.execute(drop_statement(&name)).await?;
                conn.close().await?;
                anyhow::Ok(())
            })
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("could not drop database {}: {e:#}", self.name);
        }
    }
}

async fn connect(url: &str) -> anyhow::Result<AnyConnection> {
    sqlx::any::install_default_drivers();
    AnyConnection::connect(url)
        .await
        .with_context(|| format!("cannot connect to {}", crate::store::db::redact_url(url)))
}

fn drop_statement(name: &str) -> AssertSqlSafe<String> {
    AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
}

/// `scheme://authority/db?query` with `name` in place of `db`.
fn with_database(url: &str, name: &str) -> anyhow::Result<String> {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let authority_at = base.find("://").context("not a database URL")? + 3;
    let prefix = match base[authority_at..].find('/') {
        Some(slash) => &base[..authority_at + slash],
        None => base,
    };
    Ok(match query {
        Some(q) => format!("{prefix}/{name}?{q}"),
        None => format!("{prefix}/{name}"),
    })
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_url_with_another_name() {
        let to = |url| with_database(url, "paymux_t_1").expect("a URL");
        assert_eq!(
            to("postgres://postgres@127.0.0.1:5432/test"),
            "postgres://postgres@127.0.0.1:5432/paymux_t_1"
        );
        assert_eq!(
            to("postgresql://u:p@db/test?sslmode=disable"),
            "postgresql://u:p@db/paymux_t_1?sslmode=disable"
        );
        assert_eq!(to("postgres://db:5432"), "postgres://db:5432/paymux_t_1");
        assert!(with_database("db", "x").is_err());
    }
}
