//! The simulated provider: this gateway playing the channel in test mode, for an app that has
//! not configured a real provider (or a simulator of one) for the charge's channel. It answers
//! as a cooperative channel would, at once and without a network, so test-mode charges follow
//! the same flow as every other.
//!
//! Its payer is the test-mode payment page (`/mock/pay`, the QR credential it hands out) or
//! the `/pay` test helper; what they report reaches the charge as a channel's notification
//! would. A refund succeeds after the configured test refund delay, as a channel's takes a
//! while.

use crate::channels::{PaymentState, RefundState};
use crate::domain::charge::Charge;
use crate::ids;

pub(crate) struct Simulated;

impl Simulated {
    /// The credential of a QR charge: the payment page, which is also where the payer's
    /// answer comes back.
    pub(super) fn start_qr(&self, charge: &Charge, pay_page: &str) -> String {
        format!(
            "{pay_page}?ch_id={}&channel={}",
            charge.id,
            charge.channel.as_str()
        )
    }

    /// A payment code presented in test mode is always good: paid at once, with a made-up
    /// channel transaction number.
    pub(super) fn start_scan(&self) -> PaymentState {
        PaymentState::Paid {
            transaction_no: ids::transaction_no(),
            time_paid: None,
        }
    }

    /// Nothing to ask: what this provider knows is already in the charge.
    pub(super) fn query(&self) -> PaymentState {
        PaymentState::Pending
    }

    pub(super) fn refund(&self) -> RefundState {
        RefundState::Succeeded {
            time: None,
            refund_no: Some(ids::transaction_no()),
        }
    }
}
