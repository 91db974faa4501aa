//! `paymux serve`: take the listen address, open storage, bootstrap, start the job worker,
//! serve HTTP.

use crate::bootstrap;
use crate::clock::{OffsetClock, SharedClock};
use crate::error::GatewayResult;
use crate::http::ConnectionLimits;
use crate::state::{AppState, Settings};
use crate::store::Db;
use crate::store::data_dir::ServeLock;
use anyhow::Context;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;

pub struct ServeOptions {
    pub data_dir: PathBuf,
    /// Bound before storage is opened, so a taken port changes nothing.
    pub listener: TcpListener,
    /// The management console's own listener, when it is not served with the API.
    pub dashboard_listener: Option<TcpListener>,
    /// `/metrics`'s own listener, when it is not served with the API.
    pub metrics_listener: Option<TcpListener>,
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
    let clock = follow_database_clock(&db, clock).await?;
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
    let console_address = match (&options.dashboard_listener, state.settings.dashboard_on_api) {
        (Some(listener), _) => Some(listener.local_addr()?),
        (None, true) => Some(address),
        (None, false) => None,
    };
    if let Some(console) = console_address {
        println!("  management console: http://{console}/dashboard/");
        if !has_operators(&state).await? {
            println!(
                "  no operator can sign in yet; create the first one with:\n    \
                 paymux operators add admin --role admin --password-stdin   (same --data-dir / --database-url)"
            );
        }
    }
    crate::metrics::install();
    if let Some(listener) = options.metrics_listener {
        println!("  metrics: http://{}/metrics", listener.local_addr()?);
        tokio::spawn(crate::http::serve(
            listener,
            crate::api::metrics_router(state.clone()),
            options.limits.clone(),
            shutdown_signal(),
        ));
    }
    if let Some(listener) = options.dashboard_listener {
        tokio::spawn(crate::http::serve(
            listener,
            crate::api::console_router(state.clone()),
            options.limits.clone(),
            shutdown_signal(),
        ));
    }
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

async fn has_operators(state: &AppState) -> anyhow::Result<bool> {
    let mut conn = state.db.reader().acquire().await?;
    let Some((account, _)) = crate::store::accounts::first_account(&mut conn).await? else {
        return Ok(false);
    };
    Ok(!crate::store::operators::list(&mut conn, &account)
        .await?
        .is_empty())
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
                Ok::<_, crate::store::StoreError>((jobs, deliveries))
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

/// How often a node measures its clock against the database's again.
const CLOCK_RESYNC: std::time::Duration = std::time::Duration::from_secs(10);
/// Offsets beyond this are worth an operator's attention.
const CLOCK_WARN_MS: i64 = 1000;

/// On PostgreSQL several nodes share leases and expiry times, so they must agree on the time:
/// every node follows the database's clock (its own plus the measured offset), and says so
/// loudly when its own is off. SQLite has one node and keeps its clock.
async fn follow_database_clock(db: &Db, clock: SharedClock) -> anyhow::Result<SharedClock> {
    if db.is_sqlite() {
        return Ok(clock);
    }
    let aligned = Arc::new(OffsetClock::new(clock, 0));
    measure_offset(db, &aligned, true)
        .await
        .map_err(|e| anyhow::anyhow!("cannot read the database's clock: {e}"))?;
    let (db, tracked) = (db.clone(), aligned.clone());
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(CLOCK_RESYNC).await;
            if let Err(error) = measure_offset(&db, &tracked, false).await {
                tracing::warn!(%error, "could not measure the clock against the database's");
            }
        }
    });
    Ok(aligned)
}

async fn measure_offset(db: &Db, clock: &OffsetClock, first: bool) -> GatewayResult<()> {
    let before = clock.base().now_ms();
    let Some(database_ms) = db.database_time_ms().await? else {
        return Ok(());
    };
    let after = clock.base().now_ms();
    // The database read its clock somewhere between `before` and `after`.
    let offset = database_ms - (before + (after - before) / 2);
    let previous = clock.offset_ms();
    clock.set_offset_ms(offset);
    if offset.abs() > CLOCK_WARN_MS && (first || (offset - previous).abs() > CLOCK_WARN_MS / 2) {
        tracing::warn!(
            offset_ms = offset,
            "this node's clock is {:.1} s {} the database's; it follows the database's clock \
             for leases, expiry and timestamps, but fix its time synchronisation",
            offset.abs() as f64 / 1000.0,
            if offset < 0 { "ahead of" } else { "behind" }
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
