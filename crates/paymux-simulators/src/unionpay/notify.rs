//! backUrl notifications (docs/channels/unionpay.md): a signed form built once per event, POSTed by a
//! background task until the merchant answers HTTP 200, on the schedule of
//! [`super::UnionpayConfig::notify_schedule`].

use super::Inner;
use super::txn::Txn;
use crate::delivery::{DeliveryAttempt, DeliveryState, after_attempt, post_form};
use paymux_channels::{Params, beijing_time, form, unionpay};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// A notification as sent (`GET /_sim/notifications`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationSnapshot {
    pub mer_id: String,
    pub order_id: String,
    pub txn_type: String,
    pub created_ms: i64,
    pub back_url: String,
    /// The form fields, `signature` included.
    pub params: BTreeMap<String, String>,
    /// The exact URL-encoded body POSTed.
    pub body: String,
    pub duplicated: bool,
    pub state: DeliveryState,
    pub attempts: Vec<DeliveryAttempt>,
}

pub(crate) struct Notification {
    snapshot: NotificationSnapshot,
}

impl Notification {
    pub(super) fn new(
        txn: &Txn,
        back_url: String,
        params: Params,
        dropped: bool,
        duplicated: bool,
        now: i64,
    ) -> Self {
        Self {
            snapshot: NotificationSnapshot {
                mer_id: txn.mer_id.clone(),
                order_id: txn.order_id.clone(),
                txn_type: txn.txn_type.clone(),
                created_ms: now,
                back_url,
                body: form::encode(&params),
                params: params.as_map().clone(),
                duplicated,
                state: if dropped {
                    DeliveryState::Dropped
                } else {
                    DeliveryState::Pending
                },
                attempts: Vec::new(),
            },
        }
    }

    pub(super) fn snapshot(&self) -> NotificationSnapshot {
        self.snapshot.clone()
    }
}

/// The signed fields of a transaction's result.
pub(super) fn params(inner: &Inner, txn: &Txn) -> Params {
    let settled = txn.settled_ms.unwrap_or_else(|| (inner.clock)());
    let time = beijing_time::format_compact(settled.div_euclid(1000)).unwrap_or_default();
    let (code, message) = txn
        .orig_resp()
        .unwrap_or_else(|| ("01".into(), "交易失败".into()));
    let mut params = Params::new()
        .with("version", unionpay::VERSION)
        .with("encoding", "UTF-8")
        .with("signMethod", unionpay::SIGN_METHOD_RSA)
        .with("txnType", &txn.txn_type)
        .with("txnSubType", &txn.txn_sub_type)
        .with("bizType", "000000")
        .with("accessType", "0")
        .with("merId", &txn.mer_id)
        .with("orderId", &txn.order_id)
        .with("txnTime", &txn.txn_time)
        .with("txnAmt", txn.amount.to_string())
        .with("currencyCode", "156")
        .with("settleAmt", txn.amount.to_string())
        .with("settleCurrencyCode", "156")
        .with("respCode", code)
        .with("respMsg", message)
        .with("traceNo", &txn.trace_no)
        .with("traceTime", time.get(4..).unwrap_or_default())
        .with("settleDate", time.get(4..8).unwrap_or_default());
    if let Some(query_id) = &txn.query_id {
        params.insert("queryId", query_id);
    }
    if let Some(orig) = &txn.orig_qry_id {
        params.insert("origQryId", orig);
    }
    if let Some(reserved) = &txn.req_reserved {
        params.insert("reqReserved", reserved);
    }
    inner.signer().sign(params)
}

/// Starts one delivery task per notification. Without a tokio runtime the notifications are
/// marked exhausted instead.
pub(super) fn spawn(inner: &Arc<Inner>, ids: Vec<usize>) {
    if ids.is_empty() {
        return;
    }
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => {
            for id in ids {
                handle.spawn(deliver(Arc::downgrade(inner), id));
            }
        }
        Err(_) => {
            let now = (inner.clock)();
            let mut state = inner.lock();
            for id in ids {
                if let Some(n) = state.notifications.get_mut(id) {
                    n.snapshot
                        .attempts
                        .push(DeliveryAttempt::without_runtime(now));
                    n.snapshot.state = DeliveryState::Exhausted;
                }
            }
        }
    }
}

/// Delivers notification `id` until acknowledged or out of attempts; holds the simulator only
/// weakly while sleeping, so dropping it ends the retries.
async fn deliver(simulator: Weak<Inner>, id: usize) {
    let first_delay = simulator
        .upgrade()
        .map(|inner| inner.lock().knobs.notify_delay_ms)
        .unwrap_or(0);
    if first_delay > 0 {
        tokio::time::sleep(Duration::from_millis(first_delay)).await;
    }
    let mut attempt = 0usize;
    loop {
        let Some(inner) = simulator.upgrade() else {
            return;
        };
        let job = inner.lock().notifications.get(id).map(|n| {
            let copies = if attempt == 0 && n.snapshot.duplicated {
                2
            } else {
                1
            };
            (n.snapshot.back_url.clone(), n.snapshot.body.clone(), copies)
        });
        let Some((url, body, copies)) = job else {
            return;
        };
        let mut acknowledged = false;
        for _ in 0..copies {
            let record = post_form(
                &inner.http,
                (inner.clock)(),
                &url,
                &body,
                "application/x-www-form-urlencoded;charset=UTF-8",
                |status, _| status == 200,
            )
            .await;
            acknowledged |= record.acknowledged;
            if let Some(n) = inner.lock().notifications.get_mut(id) {
                n.snapshot.attempts.push(record);
            }
        }
        let delay = {
            let mut state = inner.lock();
            let scale = state.knobs.notify_time_scale;
            let next = inner.settings.notify_schedule.get(attempt).copied();
            let Some(n) = state.notifications.get_mut(id) else {
                return;
            };
            match after_attempt(acknowledged, next, scale) {
                Ok(delay) => delay,
                Err(end) => {
                    n.snapshot.state = end;
                    return;
                }
            }
        };
        drop(inner);
        tokio::time::sleep(delay).await;
        attempt += 1;
    }
}
