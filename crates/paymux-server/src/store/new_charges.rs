//! New charges written many to a statement: the busiest write of a payment gateway.
//!
//! A new charge is one conditional `INSERT` (see [`charges::insert_new_many`]), so concurrent
//! creates can share one: on SQLite the writer puts every new charge of its batch into a few
//! multi-row statements ahead of the batch's other work; on PostgreSQL a small number of such
//! statements run at a time, and creates arriving meanwhile queue up for the next ones. Each
//! caller still hears only after its charge is durable, and hears whether its own row went in.
//!
//! Statements hold up to [`MAX_ROWS`] charges, padded to 1, 2, 4, … rows (see
//! [`charges::insert_new_many`]), so that a handful of statement texts serve every batch and
//! stay in each connection's statement cache.

use super::charges::{self, Along, Failed};
use super::db::Answer;
use super::{StoreError, StoreResult};
use crate::domain::charge::Charge;
use sqlx::{AnyPool, Connection};
use std::sync::Arc;
use tokio::sync::{Semaphore, mpsc, oneshot};

/// Most charges in one statement (22 values each).
const MAX_ROWS: usize = 64;
/// Statements running at once on PostgreSQL: enough to keep a pool busy, few enough that the
/// creates arriving meanwhile form batches.
const POSTGRES_IN_FLIGHT: usize = 4;

/// Whether the charge went in (false: its order_no was taken or its app is not its account's),
/// with the charge handed back.
pub type Inserted = StoreResult<(Box<Charge>, bool)>;

/// A new charge waiting for its statement.
pub(super) struct Pending {
    charge: Box<Charge>,
    /// The statement it shared failed: it goes again in a statement of its own, so that a
    /// failure is told only to the create that caused it.
    alone: bool,
    reply: oneshot::Sender<Inserted>,
}

impl Pending {
    pub(super) fn new(charge: Box<Charge>) -> (Pending, oneshot::Receiver<Inserted>) {
        let (reply, answer) = oneshot::channel();
        let alone = false;
        (
            Pending {
                charge,
                alone,
                reply,
            },
            answer,
        )
    }

    fn answer(self, inserted: StoreResult<bool>) {
        // A caller that went away no longer needs its answer.
        let _ = self
            .reply
            .send(inserted.map(|inserted| (self.charge, inserted)));
    }
}

/// Splits waiting charges into statements: those that failed together before one each, the
/// rest in groups of at most [`MAX_ROWS`].
pub(super) fn statements(pending: Vec<Pending>) -> Vec<Vec<Pending>> {
    let (alone, mut together): (Vec<_>, Vec<_>) = pending.into_iter().partition(|p| p.alone);
    let mut statements: Vec<Vec<Pending>> = alone.into_iter().map(|p| vec![p]).collect();
    while !together.is_empty() {
        let rest = together.split_off(MAX_ROWS.min(together.len()));
        statements.push(std::mem::replace(&mut together, rest));
    }
    statements
}

/// Runs one statement's insert, with the transaction statements `along` in the same trip; on
/// success the answers to give once the insert is durable (`true`: committed). On failure the
/// charges come back with the statement that failed, marked to go alone if they shared a
/// failed insert.
pub(super) async fn insert(
    conn: &mut sqlx::AnyConnection,
    statement: Vec<Pending>,
    along: Along,
) -> Result<Vec<Answer>, (Vec<Pending>, Failed, sqlx::Error)> {
    let refs: Vec<&Charge> = statement.iter().map(|p| &*p.charge).collect();
    match charges::insert_new_many_along(conn, &refs, along).await {
        Ok(ids) => Ok(statement
            .into_iter()
            .map(|p| {
                let inserted = ids.contains(&p.charge.id);
                Box::new(move |committed: bool| {
                    p.answer(if committed {
                        Ok(inserted)
                    } else {
                        Err(StoreError::NotCommitted)
                    })
                }) as Answer
            })
            .collect()),
        Err((failed, error)) => {
            let alone = failed == Failed::Insert && statement.len() > 1;
            let statement = statement
                .into_iter()
                .map(|p| Pending { alone, ..p })
                .collect();
            Err((statement, failed, error))
        }
    }
}

/// Tells charges that nothing of theirs was written: the first hears why.
pub(super) fn fail(failed: Vec<Pending>, error: StoreError) {
    let mut error = Some(error);
    for p in failed {
        p.answer(Err(error.take().unwrap_or(StoreError::NotCommitted)));
    }
}

/// The task that writes new charges on PostgreSQL; send it [`Pending`] charges.
pub(super) fn postgres_inserter(pool: AnyPool) -> mpsc::Sender<Pending> {
    let (sender, mut receiver) = mpsc::channel(16 * MAX_ROWS);
    tokio::spawn(async move {
        let slots = Arc::new(Semaphore::new(POSTGRES_IN_FLIGHT));
        let mut queued = Vec::with_capacity(MAX_ROWS);
        loop {
            let Ok(slot) = slots.clone().acquire_owned().await else {
                return;
            };
            if receiver.recv_many(&mut queued, MAX_ROWS).await == 0 {
                return;
            }
            let pending = std::mem::take(&mut queued);
            let pool = pool.clone();
            tokio::spawn(async move {
                insert_on_postgres(&pool, pending).await;
                drop(slot);
            });
        }
    });
    sender
}

/// Inserts on PostgreSQL without a transaction of its own (one statement is atomic) and
/// answers each charge. A failed shared statement changed nothing if its connection is still
/// there: then each of its charges goes again alone, so each hears its own outcome.
async fn insert_on_postgres(pool: &AnyPool, mut pending: Vec<Pending>) {
    // A failed shared statement puts its charges back marked to go alone, so this ends.
    while !pending.is_empty() {
        for statement in statements(std::mem::take(&mut pending)) {
            let shared = statement.len() > 1;
            let mut conn = match pool.acquire().await {
                Ok(conn) => conn,
                Err(error) => {
                    fail(statement, error.into());
                    continue;
                }
            };
            match insert(&mut conn, statement, Along::default()).await {
                Ok(answers) => answers.into_iter().for_each(|answer| answer(true)),
                Err((failed, _, error)) => match conn.ping().await {
                    // The connection went during the statement: whether it took effect is
                    // unknown, for every charge in it.
                    Err(lost) => {
                        let lost = Arc::new(lost);
                        for p in failed {
                            p.answer(Err(StoreError::CommitUnknown(lost.clone())));
                        }
                    }
                    Ok(()) if shared => pending.extend(failed),
                    Ok(()) => fail(failed, error.into()),
                },
            }
        }
    }
}
