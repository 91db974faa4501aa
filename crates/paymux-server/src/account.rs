//! The account's developer settings and apps, changed from the console or the command line:
//! the merchant RSA public key and where signatures are required, secret keys (rolled with a
//! grace period), and apps. Each change is recorded in the audit log in its own transaction.

use crate::error::{GatewayError, GatewayResult};
use crate::ids;
use crate::operators::{Audit, detail};
use crate::store;
use crate::store::Db;
use serde_json::{Map, json};

fn mode(livemode: bool) -> &'static str {
    if livemode { "live" } else { "test" }
}

/// Stores the merchant RSA public key (PEM) that request signatures are checked with, or
/// clears it (which also stops requiring signatures: nothing could verify them).
pub async fn set_merchant_key(db: &Db, audit: Audit, pem: Option<String>) -> GatewayResult<()> {
    let pem = pem.map(|p| p.trim().to_owned()).filter(|p| !p.is_empty());
    if let Some(pem) = &pem {
        paymux_crypto::VerifyingKey::from_pem(pem).map_err(|_| {
            GatewayError::invalid_param(
                "merchant_public_key",
                "This is not an RSA public key in PEM (-----BEGIN PUBLIC KEY----- or \
                 -----BEGIN RSA PUBLIC KEY-----).",
            )
        })?;
    }
    db.write_settings(move |conn| {
        Box::pin(async move {
            let account = audit.account_id.clone();
            let require = pem.is_none().then_some((false, false));
            store::accounts::set_merchant_key(conn, &account, pem.as_deref(), require).await?;
            let action = if pem.is_some() {
                "merchant_key.set"
            } else {
                "merchant_key.clear"
            };
            audit.record(conn, action, &account, Map::new()).await
        })
    })
    .await?;
    Ok(())
}

/// Starts or stops requiring signed requests in one mode; live applies to the next request.
pub async fn require_signatures(
    db: &Db,
    audit: Audit,
    livemode: bool,
    required: bool,
) -> GatewayResult<()> {
    db.write_settings(move |conn| {
        Box::pin(async move {
            let account = audit.account_id.clone();
            let (pem, mut test, mut live) =
                store::accounts::signature_settings(conn, &account).await?;
            if required && pem.is_none() {
                return Err(GatewayError::invalid(
                    "Signatures cannot be required before a merchant RSA public key is saved.",
                ));
            }
            if livemode {
                live = required;
            } else {
                test = required;
            }
            store::accounts::set_merchant_key(conn, &account, pem.as_deref(), Some((test, live)))
                .await?;
            let action = if required {
                "signature.require"
            } else {
                "signature.relax"
            };
            let detail = detail(json!({ "mode": mode(livemode) }));
            audit.record(conn, action, &account, detail).await
        })
    })
    .await?;
    Ok(())
}

/// Longest grace period an old key keeps working after a roll.
pub const MAX_GRACE_MINUTES: i64 = 7 * 24 * 60;

/// Makes a new secret key for a mode; the mode's current keys keep working for
/// `grace_minutes` (0: they stop at once). Returns the new key, which is shown this once.
pub async fn roll_key(
    db: &Db,
    audit: Audit,
    livemode: bool,
    grace_minutes: i64,
) -> GatewayResult<String> {
    if !(0..=MAX_GRACE_MINUTES).contains(&grace_minutes) {
        return Err(GatewayError::invalid_param(
            "grace_minutes",
            format!("The grace period is 0 to {MAX_GRACE_MINUTES} minutes (7 days)."),
        ));
    }
    let key = ids::secret_key(livemode);
    let new_key = key.clone();
    db.write_settings(move |conn| {
        Box::pin(async move {
            let account = audit.account_id.clone();
            let expires_ms = audit.now_ms + grace_minutes * 60_000;
            store::accounts::expire_keys(conn, &account, livemode, expires_ms).await?;
            store::accounts::insert_key(conn, &new_key, &account, livemode, audit.now_ms / 1000)
                .await?;
            let detail = detail(json!({
                "mode": mode(livemode),
                "new_key": store::accounts::key_hint(&new_key),
                "grace_minutes": grace_minutes,
            }));
            audit.record(conn, "api_key.roll", &account, detail).await
        })
    })
    .await?;
    Ok(key)
}

/// An app's name: 1 to 64 characters, none of them control characters.
fn check_app_name(name: &str) -> GatewayResult<String> {
    let name = name.trim();
    if (1..=64).contains(&name.chars().count()) && !name.chars().any(char::is_control) {
        Ok(name.to_owned())
    } else {
        Err(GatewayError::invalid_param(
            "name",
            "An app name is 1 to 64 characters.",
        ))
    }
}

/// A new app of the account; returns its id.
pub async fn create_app(db: &Db, audit: Audit, name: &str) -> GatewayResult<String> {
    let name = check_app_name(name)?;
    let id = ids::app();
    let app_id = id.clone();
    db.write(move |conn| {
        Box::pin(async move {
            let account = audit.account_id.clone();
            store::accounts::insert_app(conn, &app_id, &account, &name, audit.now_ms / 1000)
                .await?;
            let detail = detail(json!({ "name": name }));
            audit.record(conn, "app.create", &app_id, detail).await
        })
    })
    .await?;
    Ok(id)
}

pub async fn rename_app(db: &Db, audit: Audit, app_id: &str, name: &str) -> GatewayResult<()> {
    let name = check_app_name(name)?;
    let app_id = app_id.to_owned();
    db.write(move |conn| {
        Box::pin(async move {
            let account = audit.account_id.clone();
            if !store::accounts::rename_app(conn, &account, &app_id, &name).await? {
                return Err(GatewayError::not_found("app", &app_id));
            }
            let detail = detail(json!({ "name": name }));
            audit.record(conn, "app.rename", &app_id, detail).await
        })
    })
    .await
}
