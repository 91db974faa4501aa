//! Apps' provider configurations; the secrets column holds sealed text only.

use super::StoreResult;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredConfig {
    pub app_id: String,
    pub livemode: bool,
    pub provider: String,
    /// JSON object of the public settings.
    pub settings: String,
    /// Sealed JSON object of the secrets.
    pub sealed_secrets: String,
    pub created: i64,
    pub updated: i64,
}

const COLUMNS: &str = "app_id, livemode, provider, settings, secrets, created, updated";

fn from_row(row: &AnyRow) -> StoreResult<StoredConfig> {
    Ok(StoredConfig {
        app_id: row.try_get("app_id")?,
        livemode: super::flag(row, "livemode")?,
        provider: row.try_get("provider")?,
        settings: row.try_get("settings")?,
        sealed_secrets: row.try_get("secrets")?,
        created: row.try_get("created")?,
        updated: row.try_get("updated")?,
    })
}

/// Inserts or replaces the app's configuration of a provider.
pub async fn upsert(conn: &mut AnyConnection, config: &StoredConfig) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO channel_configs (app_id, livemode, provider, settings, secrets, created, updated) \
         VALUES ($1, $2, $3, $4, $5, $6, $6) \
         ON CONFLICT (app_id, livemode, provider) \
         DO UPDATE SET settings = $4, secrets = $5, updated = $6",
    )
    .bind(&config.app_id)
    .bind(i64::from(config.livemode))
    .bind(&config.provider)
    .bind(&config.settings)
    .bind(&config.sealed_secrets)
    .bind(config.updated)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get(
    conn: &mut AnyConnection,
    app_id: &str,
    livemode: bool,
    provider: &str,
) -> StoreResult<Option<StoredConfig>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM channel_configs WHERE app_id = $1 AND livemode = $2 AND provider = $3"
    );
    super::optional(
        conn,
        super::sql(sql)
            .bind(app_id.to_owned())
            .bind(i64::from(livemode))
            .bind(provider.to_owned()),
        from_row,
    )
    .await
}

pub async fn list(
    conn: &mut AnyConnection,
    app_id: &str,
    livemode: bool,
) -> StoreResult<Vec<StoredConfig>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM channel_configs WHERE app_id = $1 AND livemode = $2 ORDER BY provider"
    );
    super::all(
        conn,
        super::sql(sql)
            .bind(app_id.to_owned())
            .bind(i64::from(livemode)),
        from_row,
    )
    .await
}

/// Removes a configuration; false if there was none.
pub async fn delete(
    conn: &mut AnyConnection,
    app_id: &str,
    livemode: bool,
    provider: &str,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "DELETE FROM channel_configs WHERE app_id = $1 AND livemode = $2 AND provider = $3",
    )
    .bind(app_id)
    .bind(i64::from(livemode))
    .bind(provider)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
