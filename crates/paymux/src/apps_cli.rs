//! `paymux apps …`: the account's apps, as the console and `/v1/apps` manage them; changes are
//! recorded in the audit log as `cli`.

use crate::config::Storage;
use crate::operators_cli::cli_audit;
use clap::Subcommand;
use paymux_server::SharedClock;
use paymux_server::{account, store};

#[derive(Subcommand)]
pub enum AppsCommand {
    /// List the apps (id, name).
    List {
        /// Print JSON lines instead of text
        #[arg(long)]
        json: bool,
    },
    /// Create an app and print its id.
    Create { name: String },
    /// Rename an app.
    Rename { app: String, name: String },
}

pub async fn run(
    command: AppsCommand,
    storage: &Storage,
    clock: SharedClock,
) -> anyhow::Result<()> {
    let db = storage.open().await?;
    let audit = cli_audit(&db, &clock).await?;
    match command {
        AppsCommand::List { json } => {
            let mut conn = db.reader().acquire().await?;
            for app in store::accounts::apps(&mut conn, &audit.account_id).await? {
                if json {
                    println!("{}", app.to_wire());
                } else {
                    println!("{}  {}", app.id, app.name);
                }
            }
        }
        AppsCommand::Create { name } => {
            let id = account::create_app(&db, audit, &name)
                .await
                .map_err(crate::cli_error)?;
            println!("{id}");
        }
        AppsCommand::Rename { app, name } => {
            account::rename_app(&db, audit, &app, &name)
                .await
                .map_err(crate::cli_error)?;
            eprintln!("app {app} renamed");
        }
    }
    Ok(())
}
