//! The protocol layer of the upstream payment channels: how WeChat Pay (API v2), Alipay
//! (`gateway.do`) and UnionPay (upacp 5.1.0) sign, verify, encrypt and encode their messages.
//!
//! Everything here is a pure function over bytes and strings: no HTTP, no clock, no randomness,
//! no database. Adapters call these with what they received; the local channel simulators call
//! the inverse functions (signing responses, encrypting notifications) to produce what a real
//! channel would send. Timestamps and nonces are always parameters, so the official test vectors
//! the channels publish can be reproduced byte for byte (see `tests/vectors.rs` and docs/channels/).
//!
//! Public-key signatures go through [`paymux_crypto`] (aws-lc-rs); so do the channels' digests and
//! ciphers ([`paymux_crypto::digest`], [`paymux_crypto::cipher`]).

pub mod alipay;
pub mod beijing_time;
mod encoding;
mod error;
pub mod form;
pub mod keys;
mod params;
pub mod unionpay;
pub mod wechat_v2;

pub use error::{Error, Result};
pub use params::Params;
