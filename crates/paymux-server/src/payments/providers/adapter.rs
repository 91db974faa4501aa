//! Which provider carries a charge, and that provider's adapter behind the few operations a
//! payment needs.

use super::simulated::Simulated;
use crate::channels::alipay::{self, AlipayAdapter};
use crate::channels::config::ProviderSettings;
use crate::channels::unionpay::{self, UnionpayAdapter};
use crate::channels::wechat::{Order, WechatV2};
use crate::channels::{PaymentState, Provider, RefundState, config, provider_of_payment_code};
use crate::domain::channel::{Channel, Flow};
use crate::domain::charge::{Carrier, Charge};
use crate::domain::refund::Refund;
use crate::error::{GatewayError, GatewayResult};
use crate::outbound::{denied, literal_address};
use crate::state::{AppState, Shared};
use crate::store::{self, channel_configs::StoredConfig};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// Which provider serves a charge: its channel's, for ISV channels the one `extra.pay_channel`
/// names, and for `isv_scan` (which has none) the one whose payment code the payer showed.
pub(super) fn provider_of(channel: Channel, extra: &Map<String, Value>) -> Option<Provider> {
    Provider::of(channel)
        .or_else(|| match extra.get("pay_channel")?.as_str()? {
            "wx" => Some(Provider::Wechat),
            "alipay" => Some(Provider::Alipay),
            _ => None,
        })
        .or_else(|| match channel {
            Channel::IsvScan => provider_of_payment_code(extra.get("scan_code")?.as_str()?),
            _ => None,
        })
}

/// The carrier and adapter of a new charge: the provider its channel maps to when the app
/// configured it for this mode; in test mode otherwise the simulated provider. A live charge
/// whose provider is not configured has nowhere to go.
pub(super) async fn for_new_charge(
    state: &AppState,
    app_id: &str,
    livemode: bool,
    channel: Channel,
    extra: &Map<String, Value>,
) -> GatewayResult<(Carrier, Arc<Adapter>)> {
    let Some(provider) = provider_of(channel, extra) else {
        return if livemode {
            Err(no_provider(channel))
        } else {
            Ok((Carrier::Simulated, simulated()))
        };
    };
    match adapter(state, app_id, livemode, provider).await? {
        Some(adapter) => Ok((Carrier::Provider(provider), adapter)),
        None if livemode => Err(live_channel_unavailable(channel)),
        None => Ok((Carrier::Simulated, simulated())),
    }
}

/// The adapter of an existing charge's carrier, as recorded when the charge was created (a
/// charge older than that record is taken to go where a new one would); `None` when the app
/// no longer configures that provider.
pub(super) async fn of_charge(
    state: &AppState,
    charge: &Charge,
) -> GatewayResult<Option<Arc<Adapter>>> {
    match charge.carrier {
        Some(Carrier::Simulated) => Ok(Some(simulated())),
        Some(Carrier::Provider(provider)) => {
            adapter(state, &charge.app_id, charge.livemode, provider).await
        }
        None => match provider_of(charge.channel, &charge.extra) {
            Some(provider) => {
                let configured = adapter(state, &charge.app_id, charge.livemode, provider).await?;
                Ok(configured.or_else(|| (!charge.livemode).then(simulated)))
            }
            None => Ok((!charge.livemode).then(simulated)),
        },
    }
}

fn simulated() -> Arc<Adapter> {
    Arc::new(Adapter::Simulated(Simulated))
}

pub fn live_channel_unavailable(channel: Channel) -> GatewayError {
    GatewayError::channel(format!(
        "Channel {} is not configured for live mode on this gateway; use a test key (sk_test_…) \
         or configure the channel.",
        channel.as_str()
    ))
    .with_code("channel_not_configured")
    .with_param("channel")
}

/// A provider's adapter, behind the few operations a payment needs.
pub(crate) enum Adapter {
    Simulated(Simulated),
    Wechat(WechatV2),
    Alipay(AlipayAdapter),
    Unionpay(UnionpayAdapter),
}

impl Adapter {
    /// Whether a network lies between: an answer can then be lost, so the provider is called
    /// outside any database write and open charges are asked about on a schedule. The
    /// simulated provider answers at once, and its answer is written with the charge.
    pub(super) fn is_remote(&self) -> bool {
        !matches!(self, Adapter::Simulated(_))
    }

    pub(super) fn carrier(&self) -> Carrier {
        match self {
            Adapter::Simulated(_) => Carrier::Simulated,
            Adapter::Wechat(_) => Carrier::Provider(Provider::Wechat),
            Adapter::Alipay(_) => Carrier::Provider(Provider::Alipay),
            Adapter::Unionpay(_) => Carrier::Provider(Provider::Unionpay),
        }
    }

    /// Starts a QR charge: what to show the payer.
    pub(super) async fn start_qr(
        &self,
        charge: &Charge,
        notify_url: &str,
    ) -> Result<String, PaymentState> {
        match self {
            Adapter::Simulated(simulated) => Ok(simulated.start_qr(charge, notify_url)),
            Adapter::Wechat(wechat) => wechat.native_order(&order(charge, notify_url)).await,
            Adapter::Alipay(alipay) => alipay.precreate(&alipay_order(charge, notify_url)).await,
            Adapter::Unionpay(up) => up.apply_qr(&unionpay_order(charge, notify_url)).await,
        }
    }

    /// Charges the payer's payment code (scan flow).
    pub(super) async fn start_scan(
        &self,
        charge: &Charge,
        notify_url: &str,
        code: &str,
    ) -> PaymentState {
        match self {
            Adapter::Simulated(simulated) => simulated.start_scan(),
            Adapter::Wechat(wechat) => wechat.micropay(&order(charge, notify_url), code).await,
            Adapter::Alipay(alipay) => alipay.pay(&alipay_order(charge, notify_url), code).await,
            Adapter::Unionpay(up) => up.consume(&unionpay_order(charge, notify_url), code).await,
        }
    }

    pub(super) async fn query(&self, charge: &Charge) -> PaymentState {
        let out_trade_no = &charge.order_no;
        match self {
            Adapter::Simulated(simulated) => simulated.query(),
            Adapter::Wechat(wechat) => wechat.query(out_trade_no).await,
            Adapter::Alipay(alipay) => alipay.query(out_trade_no).await,
            // UnionPay finds a transaction by orderId and the txnTime derived from `created`.
            Adapter::Unionpay(up) => up.query(out_trade_no, charge.created).await,
        }
    }

    pub(super) async fn close(&self, out_trade_no: &str) -> Result<(), PaymentState> {
        match self {
            Adapter::Simulated(_) => Ok(()),
            Adapter::Wechat(wechat) => wechat.close(out_trade_no).await,
            Adapter::Alipay(alipay) => alipay.close(out_trade_no).await,
            // upacp has no close for a QR order: the `payTimeout` sent with it (the charge's
            // time_expire) already ended it at UnionPay, so nothing is left to close.
            Adapter::Unionpay(_) => Ok(()),
        }
    }

    /// Undoes an open payment: WeChat reverses a scan payment and closes a QR order; Alipay
    /// cancels either (a cancelled number can no longer be paid, even when nobody had scanned
    /// its QR yet); UnionPay reverses a scan payment (`99/01`). `Ok(false)`: call again.
    pub(super) async fn reverse(&self, charge: &Charge) -> Result<bool, PaymentState> {
        let out_trade_no = charge.order_no.as_str();
        match self {
            Adapter::Simulated(_) => Ok(true),
            Adapter::Wechat(wechat) if charge.channel.flow() == Flow::Qr => {
                wechat.close(out_trade_no).await.map(|()| true)
            }
            Adapter::Wechat(wechat) => wechat.reverse(out_trade_no).await,
            Adapter::Alipay(alipay) => alipay.cancel(out_trade_no).await,
            // upacp cannot void a QR order before its `payTimeout` (the charge's time_expire)
            // ends it; a payment that still arrives is a late payment, recorded and refunded.
            Adapter::Unionpay(_) if charge.channel.flow() == Flow::Qr => Ok(true),
            // A consumer-code payment: reversal (冲正) by orderId + txnTime, see the adapter.
            Adapter::Unionpay(up) => up.reverse(out_trade_no, charge.created).await,
        }
    }

    /// Submits a refund under the refund's id. WeChat accepts it (pending, and repeating the
    /// number refunds once). Alipay refunds at once and UnionPay answers at once; when either
    /// answer is unknown, the refund is queried before the job submits it again.
    pub(super) async fn refund(
        &self,
        charge: &Charge,
        refund: &Refund,
        notify: Option<&str>,
    ) -> RefundState {
        let submitted = match self {
            Adapter::Simulated(simulated) => return simulated.refund(),
            Adapter::Wechat(wechat) => {
                return wechat
                    .refund(
                        &charge.order_no,
                        &refund.id,
                        charge.amount,
                        refund.amount,
                        Some(refund.description.as_str()),
                        notify,
                    )
                    .await;
            }
            Adapter::Alipay(alipay) => {
                alipay
                    .refund(
                        &charge.order_no,
                        &refund.id,
                        refund.amount,
                        Some(refund.description.as_str()),
                    )
                    .await
            }
            Adapter::Unionpay(up) => {
                // The refund's own orderId (its id without `re_`: 24 letters and digits) and
                // txnTime (from its `created`), so a resubmission or query names the same one.
                let Some(payment) = charge.transaction_no.as_deref() else {
                    return RefundState::Failed {
                        code: "channel_no_transaction".into(),
                        message: "the charge has no UnionPay queryId to refund".into(),
                    };
                };
                up.refund(
                    refund.order_no(),
                    refund.created,
                    payment,
                    refund.amount,
                    notify,
                )
                .await
            }
        };
        // Unknown (for UnionPay also a repeat, `12`): the query says whether the channel has it
        // and how it went. Alipay's query reports only success; UnionPay's origRespCode is
        // final, and its "not found" (`34`) stays unknown, so the job submits it again.
        match submitted {
            RefundState::Unknown(reason) => match self.refund_query(charge, refund).await {
                RefundState::Unknown(_) => RefundState::Unknown(reason),
                known => known,
            },
            answer => answer,
        }
    }

    pub(super) async fn refund_query(&self, charge: &Charge, refund: &Refund) -> RefundState {
        match self {
            Adapter::Simulated(simulated) => simulated.refund(),
            Adapter::Wechat(wechat) => wechat.refund_query(&refund.id).await,
            Adapter::Alipay(alipay) => {
                alipay
                    .refund_query(&charge.order_no, &refund.id, refund.amount)
                    .await
            }
            Adapter::Unionpay(up) => up.refund_query(refund.order_no(), refund.created).await,
        }
    }
}

/// Why a live charge on `channel` has nowhere to go, when the channel alone cannot say.
pub(super) fn no_provider(channel: Channel) -> GatewayError {
    let why = match channel {
        Channel::CcbQr => {
            "China Construction Bank publishes no protocol for ccb_qr, so this gateway has no \
             adapter for it; it works in test mode only"
        }
        Channel::IsvScan => {
            "the payer's payment code (extra.scan_code) is neither WeChat's, Alipay's nor \
             UnionPay's"
        }
        _ => "extra.pay_channel names no provider this gateway speaks (wx or alipay)",
    };
    GatewayError::channel(format!(
        "Channel {} cannot go live: {why}.",
        channel.as_str()
    ))
    .with_code("channel_not_configured")
    .with_param("channel")
}

/// Adapters already built, by app, mode and provider, with the stored configuration each was
/// built from. Building one parses keys and certificates and makes an HTTP client (milliseconds
/// of CPU); a call or a notification, forged ones included, should cost a row read instead. A
/// configuration saved again (on any node) is stored anew — its sealed secrets never repeat —
/// so the next use rebuilds.
#[derive(Clone, Default)]
pub struct AdapterCache(Shared<HashMap<AdapterKey, Built>>);

/// Whose adapter: app, mode (live or not), provider.
type AdapterKey = (String, bool, Provider);

struct Built {
    from: StoredConfig,
    adapter: Arc<Adapter>,
}

impl AdapterCache {
    fn get(&self, key: &AdapterKey, stored: &StoredConfig) -> Option<Arc<Adapter>> {
        let built = self.0.lock();
        built
            .get(key)
            .filter(|b| b.from == *stored)
            .map(|b| b.adapter.clone())
    }

    fn put(&self, key: AdapterKey, from: StoredConfig, adapter: Arc<Adapter>) {
        let mut built = self.0.lock();
        built.insert(key, Built { from, adapter });
    }
}

/// The app's adapter for `provider` in this mode, if the app configured it.
pub(super) async fn adapter(
    state: &AppState,
    app_id: &str,
    livemode: bool,
    provider: Provider,
) -> GatewayResult<Option<Arc<Adapter>>> {
    let Some(key) = state.settings.secrets_key.as_ref() else {
        return Ok(None);
    };
    let stored = {
        let mut conn = state.db.reader().acquire().await?;
        store::channel_configs::get(&mut conn, app_id, livemode, provider.as_str()).await?
    };
    let Some(stored) = stored else {
        return Ok(None);
    };
    let cache_key = (app_id.to_owned(), livemode, provider);
    if let Some(adapter) = state.adapters.get(&cache_key, &stored) {
        return Ok(Some(adapter));
    }
    let settings = config::open(key, &stored)?;
    let adapter = Arc::new(build(state, &settings, livemode, provider)?);
    state.adapters.put(cache_key, stored, adapter.clone());
    Ok(Some(adapter))
}

fn build(
    state: &AppState,
    settings: &ProviderSettings,
    livemode: bool,
    provider: Provider,
) -> GatewayResult<Adapter> {
    let not_configured =
        |error: String| GatewayError::channel(error).with_code("channel_not_configured");
    let deny = Arc::new(state.settings.webhook_deny_networks.clone());
    // Names are checked as they resolve; a literal address never reaches the resolver.
    if let Some(ip) = settings
        .public
        .get("gateway_url")
        .and_then(|url| reqwest::Url::parse(url).ok())
        .and_then(|url| literal_address(&url))
        && denied(&deny, ip)
    {
        return Err(not_configured(format!(
            "the configured gateway_url ({ip}) is in a network this gateway does not call"
        )));
    }
    match provider {
        Provider::Wechat => WechatV2::new(settings, &deny).map(Adapter::Wechat),
        Provider::Alipay => {
            AlipayAdapter::new(settings, state.clock.clone(), &deny).map(Adapter::Alipay)
        }
        Provider::Unionpay => UnionpayAdapter::new(settings, state.clock.clone(), livemode, &deny)
            .map(Adapter::Unionpay),
    }
    .map_err(|e| not_configured(e.to_string()))
}

fn order<'a>(charge: &'a Charge, notify_url: &'a str) -> Order<'a> {
    Order {
        out_trade_no: &charge.order_no,
        total_fee: charge.amount,
        body: &charge.subject,
        client_ip: &charge.client_ip,
        time_expire: charge.time_expire,
        notify_url,
        product_id: charge.extra.get("product_id").and_then(Value::as_str),
        limit_pay: charge.extra.get("limit_pay").and_then(Value::as_str),
        goods_tag: charge.extra.get("goods_tag").and_then(Value::as_str),
        // The cross-border channels' goods lists (WeChat's customs-facing products); the ISV
        // channels' lines are for the ISV, not WeChat.
        goods: matches!(charge.channel, Channel::CbWxPubQr | Channel::CbWxPubScan)
            .then(|| charge.extra.get("goods_list").and_then(Value::as_array))
            .flatten(),
    }
}

fn alipay_order<'a>(charge: &'a Charge, notify_url: &'a str) -> alipay::Order<'a> {
    let extra = |name: &str| charge.extra.get(name).and_then(Value::as_str);
    alipay::Order {
        out_trade_no: &charge.order_no,
        total_fen: charge.amount,
        subject: &charge.subject,
        body: &charge.body,
        time_expire: charge.time_expire,
        notify_url,
        terminal_id: extra("terminal_id"),
        operator_id: extra("operator_id"),
        store_id: extra("store_id"),
        sys_service_provider_id: extra("sys_service_provider_id"),
        // Only alipay_scan's goods_list has Alipay's shape; the ISV channels' lines differ.
        goods: (charge.channel == Channel::AlipayScan)
            .then(|| charge.extra.get("goods_list").and_then(Value::as_array))
            .flatten(),
    }
}

fn unionpay_order<'a>(charge: &'a Charge, notify_url: &'a str) -> unionpay::Order<'a> {
    unionpay::Order {
        order_id: &charge.order_no,
        created: charge.created,
        amount_fen: charge.amount,
        time_expire: charge.time_expire,
        notify_url,
    }
}
