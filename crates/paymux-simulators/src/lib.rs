//! Faithful local stand-ins for the payment channels: each serves the channel's own protocol
//! (paths, message formats, signatures, error codes and quirks, see docs/channels/), refuses what the channel refuses, signs what it signs, and
//! sends notifications back with the channel's own retry habit. Knobs make them fail, answer
//! slowly, drop or duplicate notifications. Used in-process by tests and by `paymux simulate`.

pub mod alipay;
mod control;
mod delivery;
pub mod unionpay;
pub mod wechat;
