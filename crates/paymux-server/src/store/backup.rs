//! Online backups of an SQLite store: a consistent copy taken while the gateway keeps writing
//! (`VACUUM INTO` reads one snapshot of the database, WAL included, without stopping the
//! writer), with what a restore also needs, and the restore into a new data directory.
//! PostgreSQL is backed up with its own tools (`pg_dump`); see the README.

use super::data_dir::DATABASE_FILE;
use anyhow::{Context, bail, ensure};
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

/// What sits next to the database in a backup, and in a data directory.
const CREDENTIALS_FILE: &str = "credentials.json";
const NOTE_FILE: &str = "RESTORE.txt";

const NOTE: &str = "A paymux backup: paymux.db (a consistent copy of the SQLite store) and \
credentials.json (the secret keys made at bootstrap).\n\nRestore it into a new data directory \
with `paymux restore --from THIS_DIRECTORY --data-dir NEW_DIRECTORY`, then start `paymux serve \
--data-dir NEW_DIRECTORY`.\n\nIf the gateway ran with a secrets key (PAYMUX_SECRETS_KEY or \
--secrets-key-file), channel secrets, webhook secrets and the platform private key in this copy \
are sealed with it: the key is not in this backup, and the restored gateway needs the same key. \
Keep the key somewhere else than the backup.\n";

/// Copies the SQLite store of `data_dir` into the new directory `to`, with `credentials.json`
/// and a note on restoring. `to` must not exist yet.
pub async fn backup(data_dir: &Path, to: &Path) -> anyhow::Result<()> {
    let database = data_dir.join(DATABASE_FILE);
    ensure!(
        database.is_file(),
        "{} holds no {DATABASE_FILE}",
        data_dir.display()
    );
    ensure!(
        !to.exists(),
        "{} exists already; a backup goes to a new directory",
        to.display()
    );
    // Private, as the data directory is: it holds the same secrets.
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(to)
        .with_context(|| format!("cannot create {}", to.display()))?;
    let target = to.join(DATABASE_FILE);
    let path = target
        .to_str()
        .context("the backup path is not UTF-8")?
        .replace('\'', "''");
    // A connection of its own, outside any transaction (VACUUM needs that), that waits for
    // the gateway's writer rather than failing while it commits.
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&database)
        .busy_timeout(std::time::Duration::from_secs(30));
    let mut conn = sqlx::ConnectOptions::connect(&options)
        .await
        .with_context(|| format!("cannot open {}", database.display()))?;
    sqlx::query(sqlx::AssertSqlSafe(format!("VACUUM INTO '{path}'")))
        .execute(&mut conn)
        .await
        .context("the database could not be copied")?;
    let credentials = data_dir.join(CREDENTIALS_FILE);
    if credentials.exists() {
        std::fs::copy(&credentials, to.join(CREDENTIALS_FILE))
            .with_context(|| format!("cannot copy {}", credentials.display()))?;
    }
    std::fs::write(to.join(NOTE_FILE), NOTE)?;
    Ok(())
}

/// Puts the backup in `from` into the data directory `data_dir`, which must hold no database
/// yet (a restore never overwrites a store).
pub fn restore(from: &Path, data_dir: &Path) -> anyhow::Result<()> {
    let database = from.join(DATABASE_FILE);
    ensure!(
        database.is_file(),
        "{} holds no {DATABASE_FILE}: not a paymux backup",
        from.display()
    );
    // An empty database file is what a start that failed leaves; anything else is a store.
    let in_use = |name: &str| {
        std::fs::metadata(data_dir.join(name)).is_ok_and(|m| m.len() > 0 || name != DATABASE_FILE)
    };
    for existing in [DATABASE_FILE, CREDENTIALS_FILE] {
        if in_use(existing) {
            bail!(
                "{} already holds {existing}; restore into a new data directory",
                data_dir.display()
            );
        }
    }
    super::data_dir::prepare(data_dir)?;
    std::fs::copy(&database, data_dir.join(DATABASE_FILE))?;
    let credentials = from.join(CREDENTIALS_FILE);
    if credentials.exists() {
        std::fs::copy(&credentials, data_dir.join(CREDENTIALS_FILE))?;
    }
    Ok(())
}
