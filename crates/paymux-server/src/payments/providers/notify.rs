//! What channels send on their own: verified (a forged notification changes nothing and is
//! logged), kept as received, applied once, and answered in the channel's own form.

use super::adapter::{Adapter, adapter};
use super::{settle_from_channel, settle_refund_from_channel};
use crate::channels::unionpay::Notice;
use crate::channels::{PaymentState, Provider, RefundState};
use crate::domain::charge::Carrier;
use crate::error::GatewayResult;
use crate::state::AppState;
use crate::store;

/// A WeChat notification for an app: verified (a forged one changes nothing and is logged),
/// applied once, and answered as WeChat expects. Returns the reply body and whether it is the
/// SUCCESS reply.
pub async fn wechat_notification(
    state: &AppState,
    app_id: &str,
    livemode: bool,
    body: &str,
) -> (bool, String) {
    use paymux_channels::wechat_v2::{notify_fail_reply, notify_success_reply};
    if !shaped_like(Provider::Wechat, body.as_bytes()) {
        return (false, notify_fail_reply("not a notification"));
    }
    let built = adapter(state, app_id, livemode, Provider::Wechat).await;
    let adapter = match built.as_ref().map(|a| a.as_deref()) {
        Ok(Some(Adapter::Wechat(adapter))) => adapter,
        _ => {
            tracing::warn!(app = %app_id, "WeChat notification for an app without WeChat configured");
            return (false, notify_fail_reply("not configured"));
        }
    };
    if body.contains("<req_info>") {
        return match adapter.refund_notification(body) {
            Ok((out_refund_no, answer)) => {
                let received = Received::new(Provider::Wechat, app_id, livemode, body);
                match received.apply_refund(state, &out_refund_no, answer).await {
                    Ok(()) => (true, notify_success_reply()),
                    Err(reason) => (false, notify_fail_reply(reason)),
                }
            }
            Err(error) => {
                tracing::warn!(app = %app_id, %error, "rejected a WeChat refund notification");
                (false, notify_fail_reply("verification failed"))
            }
        };
    }
    let (out_trade_no, total_fee, answer) = match adapter.pay_notification(body) {
        Ok(parsed) => parsed,
        Err(error) => {
            tracing::warn!(app = %app_id, %error, "rejected a WeChat notification that failed verification");
            return (false, notify_fail_reply("verification failed"));
        }
    };
    let received = Received::new(Provider::Wechat, app_id, livemode, body);
    match received
        .apply(state, &out_trade_no, total_fee, answer)
        .await
    {
        Ok(()) => (true, notify_success_reply()),
        Err(reason) => (false, notify_fail_reply(reason)),
    }
}

/// Whether a body has what every genuine notification of `provider` carries (a signature and
/// what it is about). Checked before anything is read from the database: a notify URL needs no
/// key, so junk posted to it must cost next to nothing.
fn shaped_like(provider: Provider, body: &[u8]) -> bool {
    let has_fields = |fields: &[&str]| {
        let mut missing: Vec<&str> = fields.to_vec();
        for (key, _) in url::form_urlencoded::parse(body) {
            missing.retain(|field| *field != key);
        }
        missing.is_empty()
    };
    match provider {
        Provider::Wechat => {
            let text = String::from_utf8_lossy(body);
            text.contains("<xml>") && (text.contains("<sign>") || text.contains("<req_info>"))
        }
        Provider::Alipay => has_fields(&["sign", "notify_id", "out_trade_no"]),
        Provider::Unionpay => has_fields(&["signature", "orderId"]),
    }
}

/// A notification that passed verification, about to be kept and applied.
struct Received<'a> {
    provider: Provider,
    app_id: &'a str,
    livemode: bool,
    body: &'a str,
}

impl<'a> Received<'a> {
    fn new(provider: Provider, app_id: &'a str, livemode: bool, body: &'a str) -> Self {
        Self {
            provider,
            app_id,
            livemode,
            body,
        }
    }

    /// Keeps the notification as received, about `reference` (an order or refund number).
    async fn record(&self, state: &AppState, reference: &str) -> GatewayResult<()> {
        let row = store::channel_notifications::ChannelNotification {
            id: crate::ids::channel_notification(),
            app_id: self.app_id.to_owned(),
            livemode: self.livemode,
            provider: self.provider.as_str().to_owned(),
            received: state.clock.now_secs(),
            reference: reference.to_owned(),
            body: self.body.to_owned(),
        };
        let kept = state
            .db
            .write(move |conn| {
                Box::pin(async move { store::channel_notifications::insert(conn, &row).await })
            })
            .await?;
        if !kept {
            // Applied again below all the same: applying is idempotent, and the first delivery
            // may not have been applied (a "try again" answer).
            tracing::info!(app = %self.app_id, %reference, "notification received again; kept once");
        }
        Ok(())
    }

    /// Keeps a refund notification, then settles the refund it names, which must be one of
    /// this app's in this mode. `Err` says why not, for the channel's failure reply.
    async fn apply_refund(
        &self,
        state: &AppState,
        refund_id: &str,
        answer: RefundState,
    ) -> Result<(), &'static str> {
        let refund = match state.db.reader().acquire().await {
            Ok(mut conn) => store::refunds::get_by_id(&mut conn, refund_id)
                .await
                .map_err(|_| "try again")?,
            Err(_) => return Err("try again"),
        };
        if !refund.is_some_and(|r| r.app_id == self.app_id && r.livemode == self.livemode) {
            tracing::warn!(app = %self.app_id, %refund_id, "refund notification for an unknown refund");
            return Err("unknown refund");
        }
        self.record(state, refund_id)
            .await
            .map_err(|_| "try again")?;
        settle_refund_from_channel(state, refund_id, answer)
            .await
            .map_err(|_| "try again")
    }

    /// Keeps a payment notification, then applies it: the order must be ours and the amount
    /// the charge's; a payment settles the charge once, anything else is acknowledged (the
    /// query job settles it). `Err` says why not, for the channel's failure reply.
    async fn apply(
        &self,
        state: &AppState,
        out_trade_no: &str,
        total_fen: i64,
        answer: PaymentState,
    ) -> Result<(), &'static str> {
        self.record(state, out_trade_no)
            .await
            .map_err(|_| "try again")?;
        apply_pay_notification(
            state,
            self.provider,
            self.app_id,
            self.livemode,
            out_trade_no,
            total_fen,
            answer,
        )
        .await
    }
}

/// Applies a verified payment notification (see [`Received::apply`]).
async fn apply_pay_notification(
    state: &AppState,
    provider: Provider,
    app_id: &str,
    livemode: bool,
    out_trade_no: &str,
    total_fen: i64,
    answer: PaymentState,
) -> Result<(), &'static str> {
    let charge = match state.db.reader().acquire().await {
        Ok(mut conn) => {
            store::charges::find_by_order_no(&mut conn, app_id, livemode, out_trade_no).await
        }
        Err(error) => Err(error.into()),
    };
    let charge = match charge {
        Ok(Some(charge)) => charge,
        Ok(None) => {
            tracing::warn!(app = %app_id, %out_trade_no, "notification for an unknown order");
            return Err("unknown order");
        }
        Err(_) => return Err("try again"),
    };
    if charge
        .carrier
        .is_some_and(|carrier| carrier != Carrier::Provider(provider))
    {
        tracing::warn!(charge = %charge.id, provider = provider.as_str(), "notification from a provider that does not carry the charge; ignored");
        return Err("unknown order");
    }
    if charge.amount != total_fen {
        tracing::warn!(charge = %charge.id, total_fen, "notification amount differs; ignored");
        return Err("amount mismatch");
    }
    match answer {
        PaymentState::Paid { .. } => settle_from_channel(state, &charge.id, answer)
            .await
            .map_err(|_| "try again"),
        // A failure or refund notice: the query job settles it; acknowledge so it stops.
        _ => Ok(()),
    }
}

/// An Alipay `trade_status_sync` notification for an app: verified (fail closed), applied
/// once, answered `success` (anything else makes Alipay redeliver). Returns whether it was
/// acknowledged, and the reply body.
pub async fn alipay_notification(
    state: &AppState,
    app_id: &str,
    livemode: bool,
    body: &[u8],
) -> (bool, &'static str) {
    if !shaped_like(Provider::Alipay, body) {
        return (false, "fail");
    }
    let built = adapter(state, app_id, livemode, Provider::Alipay).await;
    let adapter = match built.as_ref().map(|a| a.as_deref()) {
        Ok(Some(Adapter::Alipay(adapter))) => adapter,
        _ => {
            tracing::warn!(app = %app_id, "Alipay notification for an app without Alipay configured");
            return (false, "fail");
        }
    };
    let (out_trade_no, total, answer) = match adapter.notification(body) {
        Ok(parsed) => parsed,
        Err(error) => {
            tracing::warn!(app = %app_id, %error, "rejected an Alipay notification that failed verification");
            return (false, "fail");
        }
    };
    let text = String::from_utf8_lossy(body);
    let received = Received::new(Provider::Alipay, app_id, livemode, &text);
    match received.apply(state, &out_trade_no, total, answer).await {
        Ok(()) => (true, "success"),
        Err(_) => (false, "fail"),
    }
}

/// A UnionPay backUrl notification for an app: verified (fail closed: a forged one changes
/// nothing and is logged), applied once. A payment (`txnType=01`) settles its charge; a refund
/// (`04`) settles the refund we sent as its `orderId`. Returns whether it was accepted: UnionPay
/// redelivers until it gets HTTP 200, so only an accepted one is answered 200.
pub async fn unionpay_notification(
    state: &AppState,
    app_id: &str,
    livemode: bool,
    body: &[u8],
) -> bool {
    if !shaped_like(Provider::Unionpay, body) {
        return false;
    }
    let built = adapter(state, app_id, livemode, Provider::Unionpay).await;
    let adapter = match built.as_ref().map(|a| a.as_deref()) {
        Ok(Some(Adapter::Unionpay(adapter))) => adapter,
        _ => {
            tracing::warn!(app = %app_id, "UnionPay notification for an app without UnionPay configured");
            return false;
        }
    };
    let text = String::from_utf8_lossy(body);
    let received = Received::new(Provider::Unionpay, app_id, livemode, &text);
    match adapter.notification(body) {
        Ok(Notice::Payment {
            order_id,
            amount_fen,
            state: answer,
        }) => received
            .apply(state, &order_id, amount_fen, answer)
            .await
            .is_ok(),
        Ok(Notice::Refund {
            order_id,
            state: answer,
        }) => received
            .apply_refund(state, &format!("re_{order_id}"), answer)
            .await
            .is_ok(),
        Ok(Notice::Other) => true,
        Err(error) => {
            tracing::warn!(app = %app_id, %error, "rejected a UnionPay notification that failed verification");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junk_is_refused_before_any_work() {
        assert!(!shaped_like(Provider::Wechat, b"hello"));
        assert!(shaped_like(Provider::Wechat, b"<xml><sign>x</sign></xml>"));
        assert!(shaped_like(
            Provider::Wechat,
            b"<xml><req_info>x</req_info></xml>"
        ));
        assert!(!shaped_like(
            Provider::Alipay,
            b"out_trade_no=1&notify_id=2"
        ));
        assert!(shaped_like(
            Provider::Alipay,
            b"out_trade_no=1&notify_id=2&sign=x"
        ));
        assert!(!shaped_like(Provider::Unionpay, b"orderId=1"));
        assert!(shaped_like(Provider::Unionpay, b"orderId=1&signature=x"));
    }
}
