//! Who each secret key belongs to, kept in memory between changes: every API request starts by
//! authenticating its key, and on a busy gateway that lookup was a database round trip per
//! request for an answer that changes a few times a year.
//!
//! An entry is used only while the store's settings version ([`SettingsWatch`]) is the one it
//! was read under, so a key rolled or a signature requirement switched anywhere (console, CLI,
//! another node) applies to the next request; only keys that authenticated are kept (an
//! unknown key is looked up every time, so guessing cannot fill memory); a rolled key's
//! grace period ends on time; and every entry is read again after [`KEEP_AT_MOST`], which bounds
//! what a change made behind the gateway's back (SQL by hand) can go unseen.
//!
//! [`SettingsWatch`]: crate::store::settings_watch::SettingsWatch
//! [`KEEP_AT_MOST`]: crate::store::settings_watch::KEEP_AT_MOST

use crate::state::Shared;
use crate::store::settings_watch::KEEP_AT_MOST;
use crate::store::{self, Db, StoreResult, accounts::KeyOwner};
use std::collections::HashMap;
use std::time::Instant;

/// Far more keys than any installation has; a bound all the same.
const MOST_ENTRIES: usize = 4096;

#[derive(Clone, Default)]
pub struct KeyOwners(Shared<Kept>);

#[derive(Default)]
struct Kept {
    version: Option<u64>,
    /// By key hash: the owner and when it was read.
    owners: HashMap<String, (KeyOwner, Instant)>,
}

impl KeyOwners {
    /// The owner of `secret_key`, unless it is unknown or no longer works at `now_ms`.
    pub async fn find(
        &self,
        db: &Db,
        secret_key: &str,
        now_ms: i64,
    ) -> StoreResult<Option<KeyOwner>> {
        let watch = db.settings_watch();
        let hash = store::accounts::hash_key(secret_key);
        let version = watch.version();
        if let Some(version) = version {
            let mut kept = self.0.lock();
            if kept.version != Some(version) {
                kept.owners.clear();
                kept.version = Some(version);
            }
            if let Some((owner, read)) = kept.owners.get(&hash)
                && read.elapsed() < KEEP_AT_MOST
            {
                return Ok(owner.works_at(now_ms).then(|| owner.clone()));
            }
        }
        let read = Instant::now();
        let owner = {
            let mut conn = db.reader().acquire().await?;
            store::accounts::find_key_owner(&mut conn, secret_key, now_ms).await?
        };
        // The version is read again (a second stat on SQLite, on a miss only): the owner is
        // kept only if nothing changed while it was read, since a change announced meanwhile
        // may be one the read did not see.
        if let (Some(owner), Some(version)) = (&owner, version)
            && watch.version() == Some(version)
        {
            let mut kept = self.0.lock();
            if kept.version == Some(version) {
                if kept.owners.len() >= MOST_ENTRIES {
                    kept.owners.clear();
                }
                kept.owners.insert(hash, (owner.clone(), read));
            }
        }
        Ok(owner)
    }
}
