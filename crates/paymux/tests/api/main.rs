//! Integration tests: each starts the real `paymux` binary on 127.0.0.1:0 with a fresh data
//! directory and talks to it over HTTP, as a merchant's server would.

mod apps;
mod auth;
mod backup;
mod channels;
mod charges;
mod conformance;
mod connections;
mod copy;
mod helpers;
mod hostile;
mod lists;
mod metrics;
mod nodes;
mod operators;
mod recharges;
mod refunds;
mod startup;
mod webhooks;
mod wire;
