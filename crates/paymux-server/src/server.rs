//! `paymux serve`: take the listen address, open storage, bootstrap, start the job worker,
//! serve HTTP.

use crate::bootstrap;
use crate::clock::SharedClock;
use crate::http::ConnectionLimits;
use crate::state::{AppState, Settings};
use crate::store::Db;
use crate::store::data_dir::ServeLock;
use anyhow::Context;
use std::net::SocketAddr;
use std::path::PathBuf;
use tokio::net::TcpListener;

pub struct ServeOptions {
    pub data_dir: PathBuf,
    /// Bound before storage is opened, so a taken port changes nothing.
    pub listener: TcpListener,
    pub settings: Settings,
    /// The SQLite data directory's lock, held while serving (none on PostgreSQL).
    pub lock: Option<ServeLock>,
    pub limits: ConnectionLimits,
}

/// Takes the listen address; the error names it.
pub async fn bind(address: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address}"))
}

/// Serves on `db` until SIGINT or SIGTERM; `options.data_dir` holds `credentials.json`.
pub async fn serve(db: Db, options: ServeOptions, clock: SharedClock) -> anyhow::Result<()> {
    if let Some(credentials) = bootstrap::ensure(&db, &options.data_dir, clock.now_secs()).await? {
        println!(
            "paymux: created account {} with app {}",
            credentials.account, credentials.app_id
        );
        println!("  test secret key: {}", credentials.test_secret_key);
        println!("  live secret key: {}", credentials.live_secret_key);
        println!(
            "  (kept in {}; `paymux init --json` prints them again)",
            options.data_dir.join("credentials.json").display()
        );
    }
    if options.lock.is_some() {
        release_predecessor_leases(&db).await?;
    }
    let secrets = options.settings.secrets_key.as_ref();
    let platform_key = bootstrap::ensure_platform_key(&db, clock.now_secs(), secrets).await?;
    if let Some(key) = secrets {
        bootstrap::seal_clear_secrets(&db, key).await?;
    }
    let state = AppState::new(db, clock, options.settings, platform_key);
    tokio::spawn(crate::jobs::run(state.clone()));
    tokio::spawn(crate::webhooks::dispatcher::Dispatcher::new(state.clone())?.run());

    let address = options.listener.local_addr()?;
    tracing::info!(%address, "listening");
    println!("paymux listening on http://{address}");
    crate::http::serve(
        options.listener,
        crate::api::router(state),
        options.limits,
        shutdown_signal(),
    )
    .await;
    drop(options.lock);
    Ok(())
}

/// The sole owner of a store frees the job and delivery leases of the process that ran before
/// it (killed, or crashed), so pending refunds and webhooks go on at once instead of after
/// their lease lapses.
async fn release_predecessor_leases(db: &Db) -> anyhow::Result<()> {
    let (jobs, deliveries) = db
        .write(|conn| {
            Box::pin(async move {
                let jobs = crate::store::jobs::release_all_leases(conn).await?;
                let deliveries = crate::store::webhooks::release_all_leases(conn).await?;
                Ok((jobs, deliveries))
            })
        })
        .await
        .map_err(|e| anyhow::anyhow!("cannot release the previous process's leases: {e}"))?;
    if jobs + deliveries > 0 {
        tracing::info!(
            jobs,
            deliveries,
            "resumed the work a previous process held when it stopped"
        );
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut signal) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            signal.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
