//! What a command that changes the gateway (webhook endpoints, channels) needs to run the same
//! operations as the API and the console: the gateway's state over the store, and the caller it
//! acts as, recorded in the audit log as `cli`.

use paymux_server::domain::{Attribution, Caller};
use paymux_server::secrets::SecretsKey;
use paymux_server::store::Db;
use paymux_server::{AppState, Settings, SharedClock, bootstrap, ids};

pub struct CliContext {
    pub state: AppState,
    pub account: String,
}

impl CliContext {
    pub async fn open(
        db: Db,
        clock: SharedClock,
        secrets: Option<SecretsKey>,
    ) -> anyhow::Result<Self> {
        let account = crate::operators_cli::account(&db).await?;
        let platform_key =
            bootstrap::ensure_platform_key(&db, clock.now_secs(), secrets.as_ref()).await?;
        let settings = Settings {
            secrets_key: secrets,
            ..Settings::default()
        };
        Ok(CliContext {
            state: AppState::new(db, clock, settings, platform_key),
            account,
        })
    }

    /// The command line acting in one mode.
    pub fn caller(&self, livemode: bool) -> Caller {
        Caller {
            account_id: self.account.clone(),
            livemode,
            request_id: ids::api_request(),
            operator: Some(Attribution {
                name: "cli".into(),
                entry_id: None,
            }),
        }
    }
}
