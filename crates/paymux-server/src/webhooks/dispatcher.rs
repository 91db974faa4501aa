//! The delivery worker: claims due deliveries, attempts them concurrently, records each attempt.
//!
//! Each endpoint gets at most `webhook_concurrency` attempts at a time (counted through the
//! leases, so across all nodes), and every slot runs in its own task: a slow or dead endpoint
//! holds only its own slots and never delays deliveries to others. A slot whose attempt ended
//! claims its endpoint's next due delivery in the same write that records the attempt, so a
//! backlog costs one write per delivery.

use super::sender::{Outcome, Sender};
use crate::domain::webhook::{Attempt, next_attempt_ms};
use crate::ids;
use crate::secrets::{endpoint_context, open_stored};
use crate::state::AppState;
use crate::store::StoreResult;
use crate::store::webhooks::{AfterAttempt, Claimed, EndedAttempt};
use crate::store::{self};
use paymux_webhook::{
    EndpointSecret, ID_HEADER, PINGPP_SIGNATURE_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER,
};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tracing::Instrument;

/// Longest sleep between looks at the table (deliveries written by another node or by the CLI
/// are seen then).
const IDLE_POLL_MS: i64 = 1000;

/// How often a slot looks for its endpoint's next delivery from the earliest due time; in
/// between it looks from the due time of the delivery it just attempted. Everything due before
/// that was leased, or being claimed, when the slot claimed it; what became claimable since (a
/// lease that lapsed, a claim rolled back, a delivery written by a node whose clock is behind)
/// waits at most this long. On PostgreSQL a look from the front also reads the index entries
/// of every delivery finished since the table was last vacuumed (a finished delivery leaves
/// two), which made the claim the largest part of a delivery's cost.
const LOOK_FROM_FRONT_EVERY_MS: i64 = 1000;

#[derive(Clone)]
pub struct Dispatcher {
    state: AppState,
    sender: Arc<Sender>,
}

impl Dispatcher {
    pub fn new(state: AppState) -> anyhow::Result<Self> {
        let settings = &state.settings;
        let timeout = Duration::from_millis(settings.webhook_timeout_ms);
        let sender = Sender::new(timeout, settings.webhook_deny_networks.clone())?;
        Ok(Self {
            state,
            sender: Arc::new(sender),
        })
    }

    /// Runs forever. A pass (at start, when woken because deliveries were written, and at least
    /// every second for other nodes' work and lapsed leases) fills every endpoint's free slots
    /// with what is due; each slot then goes on with its endpoint's next delivery by itself.
    pub async fn run(self) {
        let mut slots: JoinSet<()> = JoinSet::new();
        loop {
            let now = self.state.clock.now_ms();
            let next_due = match self.claim().await {
                Ok((claimed, next_due)) => {
                    for delivery in claimed {
                        let this = self.clone();
                        slots.spawn(async move { this.work_slot(delivery).await });
                    }
                    next_due
                }
                Err(error) => {
                    tracing::error!(%error, "webhook dispatcher pass failed");
                    None
                }
            };
            // Something due already but not claimed is left to the endpoint's busy slots (or
            // another node's) and the next poll; so sleep until the next due time only when it
            // lies ahead.
            let wait = match next_due {
                Some(due) if due > now => (due - now).min(IDLE_POLL_MS),
                _ => IDLE_POLL_MS,
            };
            let sleep = tokio::time::sleep(Duration::from_millis(u64::try_from(wait).unwrap_or(0)));
            tokio::pin!(sleep);
            loop {
                tokio::select! {
                    () = &mut sleep => break,
                    () = self.state.webhooks_wake.notified() => break,
                    // A slot ends when its endpoint had nothing more due: no pass needed.
                    Some(_) = slots.join_next(), if !slots.is_empty() => {}
                }
            }
        }
    }

    /// Attempts every delivery due now, waits for the attempts, and returns when the next one
    /// falls due. Tests with a manual clock call this directly.
    pub async fn run_due(&self) -> StoreResult<Option<i64>> {
        loop {
            let (claimed, next_due) = self.claim().await?;
            if claimed.is_empty() {
                return Ok(next_due);
            }
            let mut slots = JoinSet::new();
            for delivery in claimed {
                let this = self.clone();
                slots.spawn(async move { this.work_slot(delivery).await });
            }
            while slots.join_next().await.is_some() {}
        }
    }

    /// Until when a claim made now holds: the attempt's timeout plus the job lease, so a slow
    /// database write after the attempt does not let another node attempt it again.
    fn lease_until(&self, now_ms: i64) -> i64 {
        let settings = &self.state.settings;
        now_ms
            + i64::try_from(settings.webhook_timeout_ms).unwrap_or(i64::MAX / 4)
            + settings.job_lease_ms
    }

    /// Leases what is due within every endpoint's free slots; also says when the earliest
    /// pending delivery falls due.
    async fn claim(&self) -> StoreResult<(Vec<Claimed>, Option<i64>)> {
        let now_ms = self.state.clock.now_ms();
        let lease_until = self.lease_until(now_ms);
        let concurrency = self.state.settings.webhook_concurrency;
        self.state
            .db
            .write(move |conn| {
                Box::pin(async move {
                    let mut claimed = Vec::new();
                    let earliest = store::webhooks::earliest_due(conn).await?;
                    for (endpoint_id, _) in earliest.iter().filter(|(_, due)| *due <= now_ms) {
                        let free =
                            concurrency - store::webhooks::busy(conn, endpoint_id, now_ms).await?;
                        if free > 0 {
                            claimed.extend(
                                store::webhooks::claim(
                                    conn,
                                    endpoint_id,
                                    now_ms,
                                    lease_until,
                                    free,
                                )
                                .await?,
                            );
                        }
                    }
                    // Claims change leases, not due times.
                    let next_due = earliest.iter().map(|(_, due)| *due).min();
                    Ok((claimed, next_due))
                })
            })
            .await
    }

    /// One slot of an endpoint: attempts the delivery it was given, then each next one its
    /// endpoint has due, until there is none.
    async fn work_slot(&self, first: Claimed) {
        // The first delivery was claimed by a pass, which looks from the front.
        let mut looked_from_front_ms = self.state.clock.now_ms();
        let mut next = Some(first);
        while let Some(claimed) = next {
            let now_ms = self.state.clock.now_ms();
            let look_from_ms = if now_ms - looked_from_front_ms >= LOOK_FROM_FRONT_EVERY_MS {
                looked_from_front_ms = now_ms;
                i64::MIN
            } else {
                claimed.due_ms
            };
            let span = tracing::info_span!(
                "webhook",
                delivery_id = %claimed.delivery_id,
                event_id = %claimed.event_id
            );
            next = self.attempt(claimed, look_from_ms).instrument(span).await;
        }
    }

    /// Makes one attempt and records it; returns the endpoint's next due delivery (due at
    /// `look_from_ms` or later), claimed in the same write (none if the write failed: its lease
    /// lapses and a pass takes it up).
    async fn attempt(&self, claimed: Claimed, look_from_ms: i64) -> Option<Claimed> {
        let state = &self.state;
        // PKCS#1 v1.5 signatures are deterministic: signing again after a crash gives the same
        // bytes, so "signed once" holds even before the signature is stored.
        let (signature, new_signature) = match &claimed.signature {
            Some(signature) => (signature.clone(), None),
            None => {
                let made = state.platform_key.sign_base64(claimed.body.as_bytes());
                (made.clone(), Some(made))
            }
        };
        let started_ms = state.clock.now_ms();
        let outcome = match self.headers(&claimed, &signature, started_ms / 1000) {
            Ok(headers) => {
                self.sender
                    .post(&claimed.url, headers, claimed.body.clone())
                    .await
            }
            Err(error) => Outcome {
                status_code: None,
                latency_ms: 0,
                response_excerpt: None,
                error: Some(error),
            },
        };
        let number = claimed.attempts + 1;
        let after = if outcome.delivered() {
            AfterAttempt::Succeeded
        } else {
            match next_attempt_ms(number, started_ms) {
                Some(due) => AfterAttempt::RetryAt(due),
                None => AfterAttempt::Failed,
            }
        };
        let outcome_name = match after {
            AfterAttempt::Succeeded => "delivered",
            AfterAttempt::RetryAt(_) => "retrying",
            AfterAttempt::Failed => "failed",
        };
        crate::metrics::webhook_attempt(
            outcome_name,
            started_ms - claimed.due_ms,
            outcome.latency_ms,
        );
        match after {
            AfterAttempt::Failed => tracing::warn!(
                delivery = %claimed.delivery_id, event = %claimed.event_id,
                "webhook delivery failed after its last attempt"
            ),
            AfterAttempt::RetryAt(_) => tracing::info!(
                delivery = %claimed.delivery_id, attempt = number,
                status = ?outcome.status_code, error = ?outcome.error,
                "webhook attempt failed; retrying later"
            ),
            AfterAttempt::Succeeded => {}
        }
        let ended = EndedAttempt {
            attempt: Attempt {
                id: ids::webhook_attempt(),
                delivery_id: claimed.delivery_id.clone(),
                event_id: claimed.event_id.clone(),
                endpoint_id: claimed.endpoint_id.clone(),
                number,
                due_ms: claimed.due_ms,
                started_ms,
                url: claimed.url.clone(),
                status_code: outcome.status_code.map(i64::from),
                latency_ms: outcome.latency_ms,
                response_excerpt: outcome.response_excerpt,
                error: outcome.error,
                succeeded: matches!(after, AfterAttempt::Succeeded),
            },
            lease_until_ms: claimed.lease_until_ms,
            after,
            new_signature,
        };
        let now_ms = state.clock.now_ms();
        let next_lease = self.lease_until(now_ms);
        let recorded: StoreResult<Option<Claimed>> = state
            .db
            .write_in_one_trip(move |conn, prelude| {
                Box::pin(async move {
                    store::webhooks::record_attempt_and_claim_next(
                        conn,
                        prelude,
                        &ended,
                        now_ms,
                        next_lease,
                        look_from_ms,
                    )
                    .await
                })
            })
            .await;
        match recorded {
            Ok(next) => next,
            Err(error) => {
                // The lease runs out and the delivery is attempted again: at least once, not lost.
                tracing::error!(%error, delivery = %claimed.delivery_id, "could not record a webhook attempt");
                None
            }
        }
    }

    fn headers(
        &self,
        claimed: &Claimed,
        signature: &str,
        timestamp: i64,
    ) -> Result<HeaderMap, String> {
        let secret = open_stored(
            self.state.settings.secrets_key.as_ref(),
            &claimed.secret,
            &endpoint_context(&claimed.endpoint_id),
        )
        .map_err(|e| format!("the endpoint's stored secret cannot be read: {e}"))?;
        let secret = EndpointSecret::parse(&secret)
            .map_err(|_| "the endpoint's stored secret is unreadable".to_owned())?;
        let replay_signature =
            secret.sign(&claimed.delivery_id, timestamp, claimed.body.as_bytes());
        let mut headers = HeaderMap::new();
        for (name, value) in [
            (PINGPP_SIGNATURE_HEADER, signature.to_owned()),
            (ID_HEADER, claimed.delivery_id.clone()),
            (TIMESTAMP_HEADER, timestamp.to_string()),
            (SIGNATURE_HEADER, replay_signature),
        ] {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| e.to_string())?;
            let value = HeaderValue::from_str(&value).map_err(|e| e.to_string())?;
            headers.insert(name, value);
        }
        Ok(headers)
    }
}
