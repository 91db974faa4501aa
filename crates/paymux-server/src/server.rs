//! `paymux serve`: open storage, bootstrap, start the job worker, serve HTTP.

use crate::bootstrap;
use crate::clock::SharedClock;
use crate::state::{AppState, Settings};
use crate::store::Db;
use std::net::SocketAddr;
use std::path::PathBuf;

pub struct ServeOptions {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub settings: Settings,
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
    let platform_key = bootstrap::ensure_platform_key(&db, clock.now_secs()).await?;
    let state = AppState::new(db, clock, options.settings, platform_key);
    tokio::spawn(crate::jobs::run(state.clone()));
    tokio::spawn(crate::webhooks::dispatcher::Dispatcher::new(state.clone())?.run());

    let listener = tokio::net::TcpListener::bind(options.listen).await?;
    let address = listener.local_addr()?;
    tracing::info!(%address, "listening");
    println!("paymux listening on http://{address}");
    axum::serve(listener, crate::api::router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
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
