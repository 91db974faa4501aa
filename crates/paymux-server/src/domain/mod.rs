//! Payment objects and their rules, free of I/O: what a charge, refund or recharge is, what
//! state changes are allowed, and how each renders on the Ping++ wire.

pub mod channel;
pub mod charge;
pub mod event;
pub mod list;
pub mod recharge;
pub mod refund;
pub mod webhook;
pub mod wire;

/// The identity a request acts as: an account, in test or live mode (set by the key's prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub account_id: String,
    pub livemode: bool,
    /// `iar_…`: recorded on every event the request causes.
    pub request_id: String,
    /// The console operator acting, whose change is recorded in the audit log; `None` for an
    /// API key or the gateway itself.
    pub operator: Option<Attribution>,
}

/// Who in the console asked for a change, for its audit entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribution {
    pub name: String,
    /// The audit entry's id, when the console fixed it in advance: a form sent twice then
    /// collides on it instead of doing its work twice.
    pub entry_id: Option<String>,
}
