//! `paymux keys …`: the merchant RSA public key that request signatures are checked with,
//! where signatures are required, and rolling a secret key. The same operations as the
//! console's developer settings, recorded in the audit log as `cli`.

use crate::config::Storage;
use crate::operators_cli::cli_audit;
use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use paymux_server::SharedClock;
use paymux_server::account;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Store the merchant RSA public key (PEM: BEGIN PUBLIC KEY or BEGIN RSA PUBLIC KEY).
    SetMerchantPublicKey {
        /// The PEM file
        file: PathBuf,
        /// Which modes must sign every request [default: leave as it is]
        #[arg(long, value_enum)]
        require_signature: Option<Modes>,
    },
    /// Remove the merchant public key; signatures are no longer required.
    ClearMerchantPublicKey,
    /// Make a new secret key for a mode and print it (once); the mode's current keys keep
    /// working for the grace period.
    Roll {
        #[arg(long, value_enum)]
        mode: Mode,
        /// Minutes the current keys keep working (0: they stop at once; at most 7 days)
        #[arg(long, default_value_t = 60)]
        grace_minutes: i64,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Modes {
    None,
    Test,
    Live,
    Both,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Mode {
    Test,
    Live,
}

pub async fn run(
    command: KeysCommand,
    storage: &Storage,
    clock: SharedClock,
) -> anyhow::Result<()> {
    let db = storage.open().await?;
    let audit = cli_audit(&db, &clock).await?;
    match command {
        KeysCommand::SetMerchantPublicKey {
            file,
            require_signature,
        } => {
            let pem = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            account::set_merchant_key(&db, audit.clone(), Some(pem))
                .await
                .map_err(crate::cli_error)?;
            if let Some(modes) = require_signature {
                let test = matches!(modes, Modes::Test | Modes::Both);
                let live = matches!(modes, Modes::Live | Modes::Both);
                for (livemode, required) in [(false, test), (true, live)] {
                    account::require_signatures(&db, audit.clone(), livemode, required)
                        .await
                        .map_err(crate::cli_error)?;
                }
            }
            eprintln!("merchant public key set");
        }
        KeysCommand::ClearMerchantPublicKey => {
            account::set_merchant_key(&db, audit, None)
                .await
                .map_err(crate::cli_error)?;
            eprintln!("merchant public key cleared; request signatures are not required");
        }
        KeysCommand::Roll {
            mode,
            grace_minutes,
        } => {
            let livemode = matches!(mode, Mode::Live);
            let key = account::roll_key(&db, audit, livemode, grace_minutes)
                .await
                .map_err(crate::cli_error)?;
            println!("{key}");
            eprintln!(
                "new {} secret key above (shown once); the previous keys work for {grace_minutes} more minutes",
                if livemode { "live" } else { "test" }
            );
        }
    }
    Ok(())
}
