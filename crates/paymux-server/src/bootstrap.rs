//! First start: one account, one app, a test and a live secret key, and the platform key pair.
//!
//! Secret keys are stored only as hashes. So that `paymux init` can print them again, the
//! bootstrap writes them once to `credentials.json` in the data directory (mode 0600), the only
//! place they exist in clear, like an initial admin password file.

use crate::error::GatewayError;
use crate::secrets::{PLATFORM_KEY_CONTEXT, SecretsKey, is_sealed, open_stored, seal_stored};
use crate::store::Db;
use crate::{ids, store::accounts};
use anyhow::Context;
use paymux_crypto::SigningKey;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Credentials {
    pub account: String,
    pub app_id: String,
    pub test_secret_key: String,
    pub live_secret_key: String,
    pub platform_public_key_pem: String,
}

fn credentials_path(data_dir: &Path) -> PathBuf {
    data_dir.join("credentials.json")
}

/// Creates the account, app, keys and platform key pair unless they exist; returns the
/// credentials when it created them now. Nodes joining an existing database need no file.
pub async fn ensure(db: &Db, data_dir: &Path, now: i64) -> anyhow::Result<Option<Credentials>> {
    match try_ensure(db, data_dir, now).await {
        // Another node bootstrapped at the same moment and won: its account is the one.
        Err(_) if installed(db).await? => Ok(None),
        result => result,
    }
}

async fn installed(db: &Db) -> anyhow::Result<bool> {
    Ok(db
        .write(|conn| Box::pin(accounts::first_account(conn)))
        .await?
        .is_some())
}

async fn try_ensure(db: &Db, data_dir: &Path, now: i64) -> anyhow::Result<Option<Credentials>> {
    let platform_public_key_pem = platform_public_key_pem(db, now).await?;
    if installed(db).await? {
        return Ok(None);
    }
    let credentials = Credentials {
        account: ids::account(),
        app_id: ids::app(),
        test_secret_key: ids::secret_key(false),
        live_secret_key: ids::secret_key(true),
        platform_public_key_pem,
    };
    // The keys are written (and synced) before the database commit, so a committed account
    // always has its keys on disk; the file takes its final name only once the commit succeeded,
    // so a bootstrap that loses a race never replaces the winner's file.
    let final_path = credentials_path(data_dir);
    let staged = final_path.with_extension(format!("{}.pending", credentials.account));
    write_private_file(&staged, &serde_json::to_vec_pretty(&credentials)?)?;
    let c = credentials.clone();
    let committed = db
        .write(move |conn| {
            Box::pin(async move {
                accounts::insert_account(conn, &c.account, now).await?;
                accounts::claim_installation(conn, &c.account, now).await?;
                accounts::insert_app(conn, &c.app_id, &c.account, "default", now).await?;
                accounts::insert_key(conn, &c.test_secret_key, &c.account, false, now).await?;
                accounts::insert_key(conn, &c.live_secret_key, &c.account, true, now).await?;
                Ok::<_, crate::store::StoreError>(())
            })
        })
        .await;
    if let Err(error) = committed {
        let _ = std::fs::remove_file(&staged);
        return Err(error.into());
    }
    std::fs::rename(&staged, &final_path).with_context(|| {
        format!(
            "the account was created, but its keys could not be moved from {} to {}",
            staged.display(),
            final_path.display()
        )
    })?;
    Ok(Some(credentials))
}

/// The credentials as `paymux init` prints them: bootstrapping first if needed, otherwise
/// from `credentials.json`, written where the account was created.
pub async fn credentials(db: &Db, data_dir: &Path, now: i64) -> anyhow::Result<Credentials> {
    if let Some(created) = ensure(db, data_dir, now).await? {
        return Ok(created);
    }
    let path = credentials_path(data_dir);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "the account exists, but {} (the only copy of its secret keys, written where the \
             account was created) cannot be read",
            path.display()
        )
    })?;
    let mut credentials: Credentials =
        serde_json::from_str(&text).with_context(|| format!("{} is not valid", path.display()))?;
    credentials.platform_public_key_pem = platform_public_key_pem(db, now).await?;
    Ok(credentials)
}

/// The platform key pair, generated once and kept in the database (shared by every node).
/// With a secrets key its private half is sealed at rest; one stored in clear before a key
/// was configured is sealed now.
pub async fn ensure_platform_key(
    db: &Db,
    now: i64,
    secrets: Option<&SecretsKey>,
) -> anyhow::Result<SigningKey> {
    let sealing = secrets.cloned();
    let private = db
        .write(move |conn| {
            Box::pin(async move {
                let secrets = sealing.as_ref();
                let stored = match accounts::platform_key(conn).await? {
                    Some((stored, _)) => stored,
                    None => {
                        let key = SigningKey::generate()
                            .map_err(|e| GatewayError::internal().caused_by(e))?;
                        let private = key
                            .to_pkcs8_pem()
                            .map_err(|e| GatewayError::internal().caused_by(e))?;
                        let public = key
                            .public_key_pem()
                            .map_err(|e| GatewayError::internal().caused_by(e))?;
                        let sealed = seal_stored(secrets, &private, PLATFORM_KEY_CONTEXT)
                            .map_err(|e| GatewayError::internal().caused_by(e))?;
                        // A node starting at the same moment may have stored its own first: use
                        // that.
                        accounts::insert_platform_key(conn, &sealed, &public, now).await?;
                        accounts::platform_key(conn)
                            .await?
                            .ok_or_else(GatewayError::internal)?
                            .0
                    }
                };
                if let Some(key) = secrets
                    && !is_sealed(&stored)
                {
                    let sealed = key
                        .seal(stored.as_bytes(), PLATFORM_KEY_CONTEXT)
                        .map_err(|e| GatewayError::internal().caused_by(e))?;
                    accounts::set_platform_private_key(conn, &sealed).await?;
                }
                Ok::<_, GatewayError>(stored)
            })
        })
        .await?;
    let private = open_stored(secrets, &private, PLATFORM_KEY_CONTEXT)
        .map_err(|e| anyhow::anyhow!("the platform private key: {e}"))?;
    Ok(SigningKey::from_pem(&private)?)
}

/// The platform public key (stored in clear beside its private half), creating the pair if
/// there is none yet.
async fn platform_public_key_pem(db: &Db, now: i64) -> anyhow::Result<String> {
    let mut conn = db.reader().acquire().await?;
    if let Some((_, public)) = accounts::platform_key(&mut conn).await? {
        return Ok(public);
    }
    drop(conn);
    Ok(ensure_platform_key(db, now, None).await?.public_key_pem()?)
}

/// At the start of `serve` with a secrets key: seals the webhook secrets still stored in clear.
pub async fn seal_clear_secrets(db: &Db, key: &SecretsKey) -> anyhow::Result<()> {
    let key = key.clone();
    let sealed = db
        .write(move |conn| {
            Box::pin(
                async move { crate::webhooks::endpoints::seal_clear_secrets(conn, &key).await },
            )
        })
        .await?;
    if sealed > 0 {
        tracing::info!(endpoints = sealed, "sealed webhook secrets stored in clear");
    }
    Ok(())
}

/// Writes `bytes` to `path`, readable by the owner only, and syncs it to disk.
fn write_private_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    // With PostgreSQL nothing else creates the data directory.
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
}
