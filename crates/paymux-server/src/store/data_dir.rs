//! The SQLite data directory: created private, checked writable before anything is served, and
//! owned by one `serve` process at a time.
//!
//! The directory holds the platform private key and every webhook secret (in `paymux.db`) and
//! the secret keys (`credentials.json`), so nobody but the gateway's own user may read it,
//! whatever the umask.

use anyhow::{Context, bail};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub const DATABASE_FILE: &str = "paymux.db";
const LOCK_FILE: &str = "paymux.lock";
/// Below this much free space the store is reported not ready: the next batch may not fit.
const MIN_FREE_BYTES: u64 = 16 * 1024 * 1024;

/// Creates `dir` (mode 0700) if needed and makes sure the database in it can be written:
/// a directory or database the process cannot write is refused here, naming the path, instead
/// of failing every later write. Existing database files are made private (0600).
pub fn prepare(dir: &Path) -> anyhow::Result<PathBuf> {
    if dir.is_dir() {
        let mode = std::fs::metadata(dir)
            .with_context(|| format!("cannot read data directory {}", dir.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            tracing::warn!(
                path = %dir.display(),
                mode = format!("{:o}", mode & 0o777),
                "the data directory can be read by other users; it holds the platform private \
                 key and the webhook secrets: `chmod 700` it"
            );
        }
    } else {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create data directory {}", dir.display()))?;
    }
    // SQLite creates its -wal and -shm files beside the database, so the directory itself must
    // be writable, not just the database file.
    let probe = dir.join(".paymux-write-check");
    File::create(&probe)
        .with_context(|| format!("data directory {} is not writable", dir.display()))?;
    let _ = std::fs::remove_file(&probe);

    let database = dir.join(DATABASE_FILE);
    // SQLite gives the -wal and -shm files the database file's mode, so creating the database
    // 0600 makes all three private.
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&database)
        .with_context(|| format!("database {} cannot be written", database.display()))?;
    for suffix in ["", "-wal", "-shm"] {
        let path = dir.join(format!("{DATABASE_FILE}{suffix}"));
        if let Ok(meta) = std::fs::metadata(&path)
            && meta.permissions().mode() & 0o077 != 0
        {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .with_context(|| format!("cannot make {} private", path.display()))?;
        }
    }
    Ok(database)
}

/// Held by the one `serve` process of a data directory for as long as it runs.
pub struct ServeLock {
    _file: File,
}

/// Takes the data directory for this process. A second `serve` on the same directory is
/// refused: SQLite has one writer, and the owner may assume no other node holds job leases.
/// (The other commands, which change configuration, may run beside the server.)
pub fn lock(dir: &Path) -> anyhow::Result<ServeLock> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot open lock file {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(ServeLock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "another paymux serve is running on the data directory {} (it holds {}); \
             several nodes need PostgreSQL (--database-url)",
            dir.display(),
            path.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

/// Why the file system under `dir` cannot take more writes, if it cannot.
pub fn space_problem(dir: &Path) -> Option<String> {
    match rustix::fs::statvfs(dir) {
        Ok(stat) => {
            let free = stat.f_bavail.saturating_mul(stat.f_frsize);
            (free < MIN_FREE_BYTES).then(|| {
                format!(
                    "the disk holding {} is full ({free} bytes free)",
                    dir.display()
                )
            })
        }
        Err(e) => Some(format!("cannot inspect {}: {e}", dir.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_data_directory_and_database_are_private() {
        let parent = tempfile::tempdir().expect("dir");
        let dir = parent.path().join("data");
        let database = prepare(&dir).expect("prepare");
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&database), 0o600);
    }

    #[test]
    fn an_existing_loose_database_is_made_private() {
        let dir = tempfile::tempdir().expect("dir");
        let database = dir.path().join(DATABASE_FILE);
        std::fs::write(&database, b"").expect("write");
        std::fs::set_permissions(&database, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        prepare(dir.path()).expect("prepare");
        let mode = std::fs::metadata(&database)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_second_lock_on_one_directory_is_refused() {
        let dir = tempfile::tempdir().expect("dir");
        let first = lock(dir.path()).expect("first");
        let error = lock(dir.path()).err().expect("second refused").to_string();
        assert!(error.contains("another paymux serve"), "{error}");
        drop(first);
        lock(dir.path()).expect("free again");
    }
}
