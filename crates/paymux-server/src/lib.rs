//! paymux: a self-hosted payment gateway that speaks Ping++'s API.
//!
//! `api` parses and answers HTTP, `payments` runs each operation as one durable write,
//! `domain` holds the objects and their rules, `store` the SQL, `jobs` the background worker.

pub mod account;
pub mod api;
pub mod bootstrap;
pub mod channels;
pub mod clock;
pub mod console;
pub mod domain;
pub mod error;
pub mod http;
pub mod ids;
pub mod jobs;
pub mod metrics;
pub mod operators;
pub mod outbound;
pub mod payments;
pub mod secrets;
pub mod server;
pub mod state;
pub mod store;
pub mod webhooks;

pub use clock::{Clock, ManualClock, SharedClock, SystemClock};
pub use state::{AppState, Settings};
