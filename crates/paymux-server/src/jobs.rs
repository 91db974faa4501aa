//! The background worker: runs stored jobs when they fall due.
//!
//! Jobs are rows written in the same transaction as their cause, so a crash loses none: after a
//! restart the worker finds them still due. Each job runs in its own write, so one failing job
//! neither blocks nor rolls back the others; a failure is retried later.

use crate::error::GatewayResult;
use crate::payments;
use crate::state::AppState;
use crate::store::{self, jobs::Job};
use std::time::Duration;
use tracing::Instrument;

/// Longest sleep between looks at the job table (a job written by another process is seen then).
const IDLE_POLL_MS: i64 = 1000;
const BATCH: i64 = 100;
/// How often remembered request answers past their window are deleted.
const SWEEP_EVERY_MS: i64 = 60_000;

/// Deletes the remembered answers of requests whose repeats are no longer accepted.
async fn sweep_expired(state: &AppState, now_ms: i64) {
    let swept = state
        .db
        .write(move |conn| Box::pin(store::request_outcomes::delete_expired(conn, now_ms)))
        .await;
    if let Err(error) = swept {
        tracing::warn!(%error, "could not delete expired request answers");
    }
}

pub async fn run(state: AppState) {
    let mut next_sweep_ms = 0;
    loop {
        let now_ms = state.clock.now_ms();
        if now_ms >= next_sweep_ms {
            sweep_expired(&state, now_ms).await;
            next_sweep_ms = now_ms + SWEEP_EVERY_MS;
        }
        let next_due = match run_due(&state).await {
            Ok(next) => next,
            Err(error) => {
                tracing::error!(%error, "job worker pass failed");
                None
            }
        };
        let now = state.clock.now_ms();
        let wait = next_due.map_or(IDLE_POLL_MS, |due| (due - now).clamp(0, IDLE_POLL_MS));
        let wait = Duration::from_millis(u64::try_from(wait).unwrap_or(0));
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = state.jobs_wake.notified() => {}
        }
    }
}

/// Runs every job due now; returns when the next one falls due. Tests with a manual clock call
/// this directly.
pub async fn run_due(state: &AppState) -> GatewayResult<Option<i64>> {
    let lease_ms = state.settings.job_lease_ms;
    loop {
        let now_ms = state.clock.now_ms();
        let due = state
            .db
            .write(move |conn| Box::pin(store::jobs::claim(conn, now_ms, now_ms + lease_ms, BATCH)))
            .await?;
        for job in &due {
            // Every line logged for a job carries its id and the request that caused it.
            let span = tracing::info_span!(
                "job",
                job_id = %job.id,
                kind = job.kind.as_ref().map_or_else(|name| name.as_str(), |k| k.as_str()),
                request_id = job.request_id.as_deref().unwrap_or("")
            );
            run_one(state, job.clone()).instrument(span).await;
        }
        if !due.is_empty() {
            // Jobs record events (refund.succeeded), which may have webhooks to deliver.
            state.webhooks_wake.notify_one();
        }
        if (due.len() as i64) < BATCH {
            break;
        }
    }
    Ok(state
        .db
        .write(|conn| Box::pin(store::jobs::next_due_ms(conn)))
        .await?)
}

async fn run_one(state: &AppState, job: Job) {
    if let Err(name) = &job.kind {
        tracing::error!(kind = %name, "unknown job kind; leaving it for a newer version");
        return retry_later(state, job.id, state.clock.now_ms() + 60_000).await;
    }
    run_provider_job(state, job).await
}

/// Gives a job up until `due_ms`.
async fn retry_later(state: &AppState, id: String, due_ms: i64) {
    let retry = state
        .db
        .write(move |conn| Box::pin(async move { store::jobs::retry_at(conn, &id, due_ms).await }))
        .await;
    if let Err(error) = retry {
        tracing::error!(%error, "could not reschedule a failed job");
    }
}

/// A job asks a provider (outside any database write), writes what it said, and is then
/// finished or moved to when it should run again.
async fn run_provider_job(state: &AppState, job: Job) {
    let outcome = payments::providers::run_job(state, &job).await;
    let id = job.id.clone();
    let retry_at = match outcome {
        Ok(payments::providers::JobOutcome::Done) => None,
        Ok(payments::providers::JobOutcome::RetryAt(due)) => Some(due),
        Err(error) => {
            tracing::warn!(%error, "channel job failed; retrying in a minute");
            Some(state.clock.now_ms() + 60_000)
        }
    };
    let written = state
        .db
        .write(move |conn| {
            Box::pin(async move {
                match retry_at {
                    None => store::jobs::finish(conn, &id).await,
                    Some(due) => store::jobs::retry_at(conn, &id, due).await,
                }
            })
        })
        .await;
    if let Err(error) = written {
        tracing::error!(%error, "could not record a channel job's outcome");
    }
}
