//! The people who work in the management console: who they are, what their role lets them do,
//! and how their passwords are kept (argon2id, in PHC form; the password itself is never
//! stored or logged).

use crate::domain::Caller;
use crate::error::{GatewayError, GatewayResult};
use crate::ids;
use crate::store::audit::AuditEntry;
use crate::store::{self, Db};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use serde_json::{Map, json};
use sqlx::AnyConnection;

/// What an operator may do. Each role can do everything the ones before it can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Reads.
    Viewer,
    /// Also refunds, reverses and resends webhooks.
    Support,
    /// Also sees balances and recharges, and refunds them.
    Finance,
    /// Also manages keys, apps, channels, webhooks and operators.
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Support, Role::Finance, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Support => "support",
            Role::Finance => "finance",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub role: Role,
    pub password_hash: String,
    pub created: i64,
    pub password_changed: i64,
}

/// An operator's name: 1 to 64 letters, digits and `.`, `_`, `-`, `@` (an email address works).
pub fn check_name(name: &str) -> GatewayResult<()> {
    let ok = (1..=64).contains(&name.chars().count())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(GatewayError::invalid_param(
            "name",
            "An operator name is 1 to 64 letters, digits, `.`, `_`, `-` or `@`.",
        ))
    }
}

/// The argon2id hash of a new password, which must be long enough.
pub fn hash_password(password: &str) -> GatewayResult<String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(GatewayError::invalid_param(
            "password",
            format!("A password needs at least {MIN_PASSWORD_CHARS} characters."),
        ));
    }
    let bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&bytes)
        .map_err(|e| GatewayError::internal().caused_by(format_args!("password salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| GatewayError::internal().caused_by(format_args!("password hashing: {e}")))
}

/// Whether `password` is the one `hash` was made from.
pub fn password_matches(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// Who acts, for the audit log: an operator's name, or `cli`; and their request, if any.
#[derive(Debug, Clone)]
pub struct Actor {
    pub name: String,
    pub request_id: Option<String>,
}

impl Actor {
    /// The local command line (whoever can run it can read the data directory anyway).
    pub fn cli() -> Actor {
        Actor {
            name: "cli".into(),
            request_id: None,
        }
    }
}

/// What one actor does in one account at one moment, recorded as audit entries in the
/// transaction of each change.
#[derive(Debug, Clone)]
pub struct Audit {
    pub account_id: String,
    pub actor: Actor,
    pub now_ms: i64,
}

impl Audit {
    pub async fn record(
        &self,
        conn: &mut AnyConnection,
        action: &str,
        target: &str,
        detail: Map<String, serde_json::Value>,
    ) -> GatewayResult<()> {
        self.record_as(conn, ids::audit_entry(), action, target, detail)
            .await
    }

    /// [`Audit::record`] under an entry id fixed in advance.
    async fn record_as(
        &self,
        conn: &mut AnyConnection,
        id: String,
        action: &str,
        target: &str,
        detail: Map<String, serde_json::Value>,
    ) -> GatewayResult<()> {
        let entry = AuditEntry {
            id,
            account_id: self.account_id.clone(),
            created_ms: self.now_ms,
            actor: self.actor.name.clone(),
            action: action.to_owned(),
            target: Some(target.to_owned()),
            detail,
            request_id: self.actor.request_id.clone(),
        };
        Ok(store::audit::record(conn, &entry).await?)
    }
}

/// An audit entry's detail from a `json!` object.
pub fn detail(value: serde_json::Value) -> Map<String, serde_json::Value> {
    match value {
        serde_json::Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// Records a console operator's change in the audit log, in the transaction of the change
/// (`detail` gains the mode); an API call or the gateway's own work records nothing here.
pub async fn attribute(
    conn: &mut AnyConnection,
    caller: &Caller,
    now_ms: i64,
    action: &str,
    target: &str,
    mut detail: Map<String, serde_json::Value>,
) -> GatewayResult<()> {
    let Some(operator) = &caller.operator else {
        return Ok(());
    };
    detail.insert(
        "mode".into(),
        json!(if caller.livemode { "live" } else { "test" }),
    );
    let audit = Audit {
        account_id: caller.account_id.clone(),
        actor: Actor {
            name: operator.name.clone(),
            request_id: Some(caller.request_id.clone()),
        },
        now_ms,
    };
    let id = operator.entry_id.clone().unwrap_or_else(ids::audit_entry);
    audit.record_as(conn, id, action, target, detail).await
}

/// Adds an operator to the account (the password hashed first, outside the write).
pub async fn add(
    db: &Db,
    audit: Audit,
    name: &str,
    role: Role,
    password: &str,
) -> GatewayResult<Operator> {
    check_name(name)?;
    let operator = Operator {
        id: ids::operator(),
        account_id: audit.account_id.clone(),
        name: name.to_owned(),
        role,
        password_hash: hash_password(password)?,
        created: audit.now_ms / 1000,
        password_changed: audit.now_ms / 1000,
    };
    let added = operator.clone();
    db.write(move |conn| {
        Box::pin(async move {
            if !store::operators::insert(conn, &added).await? {
                return Err(GatewayError::invalid_param(
                    "name",
                    format!("There is already an operator named {}.", added.name),
                ));
            }
            let mut detail = Map::new();
            detail.insert("role".into(), json!(added.role.as_str()));
            audit
                .record(conn, "operator.add", &added.name, detail)
                .await
        })
    })
    .await?;
    Ok(operator)
}

/// Removes an operator. The account's last admin stays while others remain: someone must be
/// able to manage them.
pub async fn remove(db: &Db, audit: Audit, name: &str) -> GatewayResult<()> {
    let name = name.to_owned();
    db.write(move |conn| {
        Box::pin(async move {
            let account = &audit.account_id;
            let operator = existing(conn, account, &name).await?;
            if operator.role == Role::Admin {
                let admins = store::operators::count_with_role(conn, account, Role::Admin).await?;
                let all = store::operators::list(conn, account).await?.len();
                if admins == 1 && all > 1 {
                    return Err(GatewayError::invalid_param(
                        "name",
                        format!("{name} is the last admin; make another operator admin first."),
                    ));
                }
            }
            store::operators::delete(conn, &operator.id).await?;
            audit
                .record(conn, "operator.remove", &name, Map::new())
                .await
        })
    })
    .await
}

/// Changes an operator's role; the last admin stays admin.
pub async fn set_role(db: &Db, audit: Audit, name: &str, role: Role) -> GatewayResult<()> {
    let name = name.to_owned();
    db.write(move |conn| {
        Box::pin(async move {
            let account = &audit.account_id;
            let operator = existing(conn, account, &name).await?;
            if operator.role == Role::Admin
                && role != Role::Admin
                && store::operators::count_with_role(conn, account, Role::Admin).await? == 1
            {
                return Err(GatewayError::invalid_param(
                    "role",
                    format!("{name} is the last admin; make another operator admin first."),
                ));
            }
            store::operators::set_role(conn, &operator.id, role).await?;
            let mut detail = Map::new();
            detail.insert("from".into(), json!(operator.role.as_str()));
            detail.insert("role".into(), json!(role.as_str()));
            audit.record(conn, "operator.role", &name, detail).await
        })
    })
    .await
}

/// Sets an operator's password.
pub async fn set_password(db: &Db, audit: Audit, name: &str, password: &str) -> GatewayResult<()> {
    let hash = hash_password(password)?;
    let name = name.to_owned();
    db.write(move |conn| {
        Box::pin(async move {
            let operator = existing(conn, &audit.account_id, &name).await?;
            let changed = audit.now_ms / 1000;
            store::operators::set_password(conn, &operator.id, &hash, changed).await?;
            audit
                .record(conn, "operator.password", &name, Map::new())
                .await
        })
    })
    .await
}

async fn existing(
    conn: &mut AnyConnection,
    account_id: &str,
    name: &str,
) -> GatewayResult<Operator> {
    store::operators::get(conn, account_id, name)
        .await?
        .ok_or_else(|| GatewayError::not_found("operator", name).with_param("name"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_against_its_own_hash_only() {
        let hash = hash_password("correct horse battery").expect("hash");
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(password_matches("correct horse battery", &hash));
        assert!(!password_matches("correct horse batterY", &hash));
        assert!(!password_matches("correct horse battery", "not a hash"));
        assert_ne!(
            hash,
            hash_password("correct horse battery").expect("hash"),
            "salted"
        );
    }

    #[test]
    fn short_passwords_and_odd_names_are_refused() {
        assert!(hash_password("short").is_err());
        assert!(check_name("ops@example.com").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("two words").is_err());
        assert!(Role::parse("admin") == Some(Role::Admin) && Role::parse("root").is_none());
        assert!(Role::Admin > Role::Finance && Role::Support > Role::Viewer);
    }
}
