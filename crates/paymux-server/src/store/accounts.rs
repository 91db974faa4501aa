//! Accounts, their apps and secret keys, and the platform key pair.

use super::StoreResult;
use sqlx::{AnyConnection, Row};

/// What authenticating a secret key yields.
#[derive(Debug, Clone)]
pub struct KeyOwner {
    pub account_id: String,
    pub livemode: bool,
    pub merchant_public_key_pem: Option<String>,
    pub require_signature: bool,
    /// When the key stops working (a rolled key's grace period), Unix ms.
    pub expires_ms: Option<i64>,
}

impl KeyOwner {
    pub fn works_at(&self, now_ms: i64) -> bool {
        self.expires_ms.is_none_or(|expires| expires > now_ms)
    }
}

pub fn hash_key(secret_key: &str) -> String {
    super::sha256_hex(secret_key.as_bytes())
}

/// Who a secret key belongs to, unless it is unknown or its grace period after a roll is over.
pub async fn find_key_owner(
    conn: &mut AnyConnection,
    secret_key: &str,
    now_ms: i64,
) -> StoreResult<Option<KeyOwner>> {
    let row = sqlx::query(
        "SELECT k.account_id, k.livemode, k.expires_ms, a.merchant_public_key_pem, \
                a.require_signature_test, a.require_signature_live \
         FROM api_keys k JOIN accounts a ON a.id = k.account_id \
         WHERE k.key_hash = $1 AND (k.expires_ms IS NULL OR k.expires_ms > $2)",
    )
    .bind(hash_key(secret_key))
    .bind(now_ms)
    .fetch_optional(conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let livemode = super::flag(&row, "livemode")?;
    let required_column = if livemode {
        "require_signature_live"
    } else {
        "require_signature_test"
    };
    Ok(Some(KeyOwner {
        account_id: row.try_get("account_id")?,
        livemode,
        merchant_public_key_pem: row.try_get("merchant_public_key_pem")?,
        require_signature: super::flag(&row, required_column)?,
        expires_ms: row.try_get("expires_ms")?,
    }))
}

pub async fn app_belongs_to(
    conn: &mut AnyConnection,
    app_id: &str,
    account_id: &str,
) -> StoreResult<bool> {
    let row = sqlx::query("SELECT 1 AS one FROM apps WHERE id = $1 AND account_id = $2")
        .bind(app_id)
        .bind(account_id)
        .fetch_optional(conn)
        .await?;
    Ok(row.is_some())
}

pub async fn first_account(conn: &mut AnyConnection) -> StoreResult<Option<(String, String)>> {
    let row = sqlx::query(
        "SELECT a.id AS account_id, p.id AS app_id FROM accounts a \
         JOIN apps p ON p.account_id = a.id ORDER BY a.created, p.created LIMIT 1",
    )
    .fetch_optional(conn)
    .await?;
    row.map(|r| Ok((r.try_get("account_id")?, r.try_get("app_id")?)))
        .transpose()
}

/// The account's first app: where account-level events (`webhook.test`) are filed.
pub async fn first_app_of(
    conn: &mut AnyConnection,
    account_id: &str,
) -> StoreResult<Option<String>> {
    let row = sqlx::query("SELECT id FROM apps WHERE account_id = $1 ORDER BY created, id LIMIT 1")
        .bind(account_id)
        .fetch_optional(conn)
        .await?;
    row.map(|r| Ok(r.try_get("id")?)).transpose()
}

pub async fn insert_account(conn: &mut AnyConnection, id: &str, now: i64) -> StoreResult<()> {
    sqlx::query("INSERT INTO accounts (id, created) VALUES ($1, $2)")
        .bind(id)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// Marks the installation as bootstrapped by `account_id`; fails if another bootstrap did.
pub async fn claim_installation(
    conn: &mut AnyConnection,
    account_id: &str,
    now: i64,
) -> StoreResult<()> {
    sqlx::query("INSERT INTO installation (id, account_id, created) VALUES (1, $1, $2)")
        .bind(account_id)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn insert_app(
    conn: &mut AnyConnection,
    id: &str,
    account_id: &str,
    name: &str,
    now: i64,
) -> StoreResult<()> {
    sqlx::query("INSERT INTO apps (id, account_id, name, created) VALUES ($1, $2, $3, $4)")
        .bind(id)
        .bind(account_id)
        .bind(name)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn insert_key(
    conn: &mut AnyConnection,
    secret_key: &str,
    account_id: &str,
    livemode: bool,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO api_keys (key_hash, account_id, livemode, created, hint) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(hash_key(secret_key))
    .bind(account_id)
    .bind(i64::from(livemode))
    .bind(now)
    .bind(key_hint(secret_key))
    .execute(conn)
    .await?;
    Ok(())
}

/// What may be shown of a secret key: its mode prefix and first four characters.
pub fn key_hint(secret_key: &str) -> String {
    let shown: String = secret_key.chars().take(12).collect();
    format!("{shown}…")
}

/// A secret key as the console lists it: never the key, only its hint.
#[derive(Debug, Clone)]
pub struct KeyInfo {
    pub key_hash: String,
    pub livemode: bool,
    pub created: i64,
    /// `None` for keys made before hints were kept.
    pub hint: Option<String>,
    /// When the key stops working (a rolled key's grace period); `None`: it does not.
    pub expires_ms: Option<i64>,
}

/// The account's keys that still work, newest first.
pub async fn keys(
    conn: &mut AnyConnection,
    account_id: &str,
    now_ms: i64,
) -> StoreResult<Vec<KeyInfo>> {
    let rows = sqlx::query(
        "SELECT key_hash, livemode, created, hint, expires_ms FROM api_keys \
         WHERE account_id = $1 AND (expires_ms IS NULL OR expires_ms > $2) \
         ORDER BY created DESC, key_hash",
    )
    .bind(account_id)
    .bind(now_ms)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(KeyInfo {
                key_hash: row.try_get("key_hash")?,
                livemode: super::flag(row, "livemode")?,
                created: row.try_get("created")?,
                hint: row.try_get("hint")?,
                expires_ms: row.try_get("expires_ms")?,
            })
        })
        .collect()
}

/// Ends the grace of every key of the mode that has none yet at `expires_ms` (a roll).
pub async fn expire_keys(
    conn: &mut AnyConnection,
    account_id: &str,
    livemode: bool,
    expires_ms: i64,
) -> StoreResult<u64> {
    let done = sqlx::query(
        "UPDATE api_keys SET expires_ms = $1 \
         WHERE account_id = $2 AND livemode = $3 AND (expires_ms IS NULL OR expires_ms > $1)",
    )
    .bind(expires_ms)
    .bind(account_id)
    .bind(i64::from(livemode))
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// An app of an account.
#[derive(Debug, Clone)]
pub struct App {
    pub id: String,
    pub name: String,
    pub created: i64,
}

impl App {
    pub fn to_wire(&self) -> serde_json::Value {
        crate::domain::wire::to_value(crate::domain::wire::AppObject {
            id: self.id.clone(),
            object: crate::domain::wire::AppTag::Tag,
            name: self.name.clone(),
            created: self.created,
        })
    }
}

/// The account's apps, oldest first.
pub async fn apps(conn: &mut AnyConnection, account_id: &str) -> StoreResult<Vec<App>> {
    let rows = sqlx::query(
        "SELECT id, name, created FROM apps WHERE account_id = $1 ORDER BY created, id",
    )
    .bind(account_id)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(App {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                created: row.try_get("created")?,
            })
        })
        .collect()
}

pub async fn rename_app(
    conn: &mut AnyConnection,
    account_id: &str,
    app_id: &str,
    name: &str,
) -> StoreResult<bool> {
    let done = sqlx::query("UPDATE apps SET name = $1 WHERE id = $2 AND account_id = $3")
        .bind(name)
        .bind(app_id)
        .bind(account_id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The account's merchant public key and whether signatures are required (test, live).
pub async fn signature_settings(
    conn: &mut AnyConnection,
    account_id: &str,
) -> StoreResult<(Option<String>, bool, bool)> {
    let row = sqlx::query(
        "SELECT merchant_public_key_pem, require_signature_test, require_signature_live \
         FROM accounts WHERE id = $1",
    )
    .bind(account_id)
    .fetch_one(conn)
    .await?;
    Ok((
        row.try_get("merchant_public_key_pem")?,
        super::flag(&row, "require_signature_test")?,
        super::flag(&row, "require_signature_live")?,
    ))
}

pub async fn set_merchant_key(
    conn: &mut AnyConnection,
    account_id: &str,
    pem: Option<&str>,
    require: Option<(bool, bool)>,
) -> StoreResult<bool> {
    let result = match require {
        Some((test, live)) => sqlx::query(
            "UPDATE accounts SET merchant_public_key_pem = $1, \
             require_signature_test = $2, require_signature_live = $3 WHERE id = $4",
        )
        .bind(pem)
        .bind(i64::from(test))
        .bind(i64::from(live))
        .bind(account_id),
        None => sqlx::query("UPDATE accounts SET merchant_public_key_pem = $1 WHERE id = $2")
            .bind(pem)
            .bind(account_id),
    }
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// The platform key pair as (private PKCS#8 PEM, public SPKI PEM), if generated yet.
pub async fn platform_key(conn: &mut AnyConnection) -> StoreResult<Option<(String, String)>> {
    let row = sqlx::query("SELECT private_key_pem, public_key_pem FROM platform_keys WHERE id = 1")
        .fetch_optional(conn)
        .await?;
    row.map(|r| Ok((r.try_get("private_key_pem")?, r.try_get("public_key_pem")?)))
        .transpose()
}

pub async fn set_platform_private_key(
    conn: &mut AnyConnection,
    private_pem: &str,
) -> StoreResult<()> {
    sqlx::query("UPDATE platform_keys SET private_key_pem = $1 WHERE id = 1")
        .bind(private_pem)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn insert_platform_key(
    conn: &mut AnyConnection,
    private_pem: &str,
    public_pem: &str,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO platform_keys (id, private_key_pem, public_key_pem, created) \
         VALUES (1, $1, $2, $3) ON CONFLICT (id) DO NOTHING",
    )
    .bind(private_pem)
    .bind(public_pem)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}
