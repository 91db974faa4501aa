//! `paymux operators …` and `paymux audit`: the management console's operators, created from
//! a script (the password on stdin, never on the command line), and the audit log of what they
//! and this command line did.

use crate::config::Storage;
use anyhow::{Context, bail};
use clap::{Subcommand, ValueEnum};
use paymux_server::SharedClock;
use paymux_server::operators::{self, Actor, Audit, Role};
use paymux_server::store::{self, Db};
use std::io::BufRead;

#[derive(Subcommand)]
pub enum OperatorsCommand {
    /// Add an operator (the password comes on stdin).
    Add {
        /// Letters, digits, `.`, `_`, `-` or `@`; an email address works
        name: String,
        #[arg(long, value_enum)]
        role: RoleArg,
        /// Read the password (at least 12 characters) from the first line of stdin
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// List the operators and their roles.
    List {
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Remove an operator.
    Remove { name: String },
    /// Set an operator's password (from stdin).
    Passwd {
        name: String,
        /// Read the password from the first line of stdin
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

/// What an operator may do: viewer reads; support also refunds, reverses and resends; finance
/// also sees balances and recharges; admin also manages keys, apps, channels, webhooks and
/// operators.
#[derive(Clone, Copy, ValueEnum)]
pub enum RoleArg {
    Admin,
    Finance,
    Support,
    Viewer,
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Role {
        match role {
            RoleArg::Admin => Role::Admin,
            RoleArg::Finance => Role::Finance,
            RoleArg::Support => Role::Support,
            RoleArg::Viewer => Role::Viewer,
        }
    }
}

/// The account this data directory (or database) serves.
pub async fn account(db: &Db) -> anyhow::Result<String> {
    let mut conn = db.reader().acquire().await?;
    match store::accounts::first_account(&mut conn).await? {
        Some((account, _)) => Ok(account),
        None => bail!("no account yet: run `paymux init` (or `paymux serve`) first"),
    }
}

/// What this command line changes, attributed to `cli` in the audit log.
pub async fn cli_audit(db: &Db, clock: &SharedClock) -> anyhow::Result<Audit> {
    Ok(Audit {
        account_id: account(db).await?,
        actor: Actor::cli(),
        now_ms: clock.now_ms(),
    })
}

fn password_from_stdin() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from stdin")?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        bail!("no password on stdin");
    }
    Ok(password)
}

pub async fn run(
    command: OperatorsCommand,
    storage: &Storage,
    clock: SharedClock,
) -> anyhow::Result<()> {
    let db = storage.open().await?;
    let audit = cli_audit(&db, &clock).await?;
    match command {
        OperatorsCommand::Add { name, role, .. } => {
            let password = password_from_stdin()?;
            let added = operators::add(&db, audit, &name, role.into(), &password)
                .await
                .map_err(crate::cli_error)?;
            eprintln!("added {} ({})", added.name, added.role.as_str());
        }
        OperatorsCommand::List { json } => {
            let mut conn = db.reader().acquire().await?;
            let all = store::operators::list(&mut conn, &audit.account_id).await?;
            if json {
                let rows: Vec<_> = all
                    .iter()
                    .map(|o| {
                        serde_json::json!({
                            "name": o.name, "role": o.role.as_str(), "created": o.created,
                            "password_changed": o.password_changed,
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string(&rows)?);
            } else {
                for operator in &all {
                    println!("{:<32} {}", operator.name, operator.role.as_str());
                }
            }
        }
        OperatorsCommand::Remove { name } => {
            operators::remove(&db, audit, &name)
                .await
                .map_err(crate::cli_error)?;
            eprintln!("removed {name}");
        }
        OperatorsCommand::Passwd { name, .. } => {
            let password = password_from_stdin()?;
            operators::set_password(&db, audit, &name, &password)
                .await
                .map_err(crate::cli_error)?;
            eprintln!("password of {name} changed");
        }
    }
    Ok(())
}

/// `paymux audit`: the newest entries of the audit log.
pub async fn audit(storage: &Storage, limit: i64, json: bool) -> anyhow::Result<()> {
    let db = storage.open().await?;
    let account = account(&db).await?;
    let mut conn = db.reader().acquire().await?;
    let entries = store::audit::newest(&mut conn, &account, limit).await?;
    for entry in &entries {
        if json {
            let line = serde_json::json!({
                "id": entry.id, "created_ms": entry.created_ms, "actor": entry.actor,
                "action": entry.action, "target": entry.target, "detail": entry.detail,
                "request_id": entry.request_id,
            });
            println!("{line}");
        } else {
            let when = time::OffsetDateTime::from_unix_timestamp_nanos(
                i128::from(entry.created_ms) * 1_000_000,
            )
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_else(|| entry.created_ms.to_string());
            println!(
                "{when}  {:<16} {:<20} {}",
                entry.actor,
                entry.action,
                entry.target.as_deref().unwrap_or("-")
            );
        }
    }
    Ok(())
}
