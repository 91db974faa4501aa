//! The log of verified channel notifications, as received.

use super::StoreResult;
use crate::domain::wire::{ChannelNotificationObject, ChannelNotificationTag, to_value};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelNotification {
    pub id: String,
    pub app_id: String,
    pub livemode: bool,
    pub provider: String,
    pub received: i64,
    pub reference: String,
    pub body: String,
}

impl ChannelNotification {
    pub fn to_wire(&self) -> serde_json::Value {
        to_value(ChannelNotificationObject {
            id: self.id.clone(),
            object: ChannelNotificationTag::Tag,
            app: self.app_id.clone(),
            livemode: self.livemode,
            provider: self.provider.clone(),
            received: self.received,
            reference: self.reference.clone(),
            body: self.body.clone(),
        })
    }
}

fn from_row(row: &AnyRow) -> StoreResult<ChannelNotification> {
    Ok(ChannelNotification {
        id: row.try_get("id")?,
        app_id: row.try_get("app_id")?,
        livemode: super::flag(row, "livemode")?,
        provider: row.try_get("provider")?,
        received: row.try_get("received")?,
        reference: row.try_get("reference")?,
        body: row.try_get("body")?,
    })
}

/// Keeps a notification unless the same body from the same provider for the same app and mode
/// is kept already (a redelivery or a replay). True when kept now.
pub async fn insert(conn: &mut AnyConnection, n: &ChannelNotification) -> StoreResult<bool> {
    let done = sqlx::query(
        "INSERT INTO channel_notifications \
         (id, app_id, livemode, provider, received, reference, body, digest) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
    )
    .bind(&n.id)
    .bind(&n.app_id)
    .bind(i64::from(n.livemode))
    .bind(&n.provider)
    .bind(n.received)
    .bind(&n.reference)
    .bind(&n.body)
    .bind(super::sha256_hex(n.body.as_bytes()))
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// An app's notifications in a mode, newest first; only those about `reference` when given.
pub async fn list(
    conn: &mut AnyConnection,
    app_id: &str,
    livemode: bool,
    reference: Option<&str>,
    limit: i64,
) -> StoreResult<Vec<ChannelNotification>> {
    let about = if reference.is_some() {
        "AND reference = $3 "
    } else {
        ""
    };
    let sql = format!(
        "SELECT id, app_id, livemode, provider, received, reference, body \
         FROM channel_notifications WHERE app_id = $1 AND livemode = $2 {about}\
         ORDER BY id DESC LIMIT {limit}"
    );
    let mut query = super::sql(sql)
        .bind(app_id.to_owned())
        .bind(i64::from(livemode));
    if let Some(reference) = reference {
        query = query.bind(reference.to_owned());
    }
    super::all(conn, query, from_row).await
}
