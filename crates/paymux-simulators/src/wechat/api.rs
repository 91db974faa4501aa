//! The channel's own endpoints: envelope checks (encoding, XML, merchant, signature), the
//! knobs, and each endpoint's business rules (docs/channels/wechat-v2.md).

use super::model::{
    Inner, Order, OrderKey, Refund, State, Timer, TradeState, TradeType, alnum, compact, dashed,
    hex, nonce,
};
use super::scripts::{Script, script_for};
use super::{RefundStatus, WechatMerchant, WechatSimulator};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, post};
use paymux_channels::Params;
use paymux_channels::beijing_time;
use paymux_channels::wechat_v2::{SignType, add_sign, from_xml, notify_fail_reply, to_xml, verify};
use std::time::Duration;

/// Reverse works on orders younger than this.
const REVERSE_WINDOW_MS: i64 = 7 * 24 * 3_600_000;
/// Refunds work on payments younger than this.
const REFUND_WINDOW_MS: i64 = 365 * 24 * 3_600_000;
const MAX_REFUNDS: usize = 50;
const REFUND_PAGE: usize = 10;
const BANK_CARD_ACCOUNT: &str = "招商银行信用卡0403";
const BALANCE_ACCOUNT: &str = "支付用户的零钱";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Endpoint {
    UnifiedOrder,
    Micropay,
    OrderQuery,
    CloseOrder,
    Reverse,
    Refund,
    RefundQuery,
}

impl Endpoint {
    const ALL: [Self; 7] = [
        Self::UnifiedOrder,
        Self::Micropay,
        Self::OrderQuery,
        Self::CloseOrder,
        Self::Reverse,
        Self::Refund,
        Self::RefundQuery,
    ];

    pub(super) fn path(self) -> &'static str {
        match self {
            Self::UnifiedOrder => "/pay/unifiedorder",
            Self::Micropay => "/pay/micropay",
            Self::OrderQuery => "/pay/orderquery",
            Self::CloseOrder => "/pay/closeorder",
            Self::Reverse => "/secapi/pay/reverse",
            Self::Refund => "/secapi/pay/refund",
            Self::RefundQuery => "/pay/refundquery",
        }
    }
}

pub(super) fn routes() -> Router<WechatSimulator> {
    Endpoint::ALL
        .into_iter()
        .fold(Router::new(), |router, endpoint| {
            router.route(endpoint.path(), method_router(endpoint))
        })
}

fn method_router(endpoint: Endpoint) -> MethodRouter<WechatSimulator> {
    post(
        move |AxumState(sim): AxumState<WechatSimulator>, body: Bytes| async move {
            handle(sim, endpoint, body).await
        },
    )
    .fallback(|| async { xml(communication_failure("请使用post方法")) })
}

fn xml(body: String) -> Response {
    ([(CONTENT_TYPE, "text/xml; charset=utf-8")], body).into_response()
}

async fn handle(sim: WechatSimulator, endpoint: Endpoint, body: Bytes) -> Response {
    let inner = &sim.inner;
    inner.ensure_driver();
    let (answer, latency_ms) = process(inner, endpoint, &body);
    inner.wake.notify_one();
    if latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(latency_ms)).await;
    }
    xml(answer)
}

/// `return_code=FAIL`: unsigned, no business fields.
fn communication_failure(message: &str) -> String {
    notify_fail_reply(message)
}

/// What a business handler answers: `result_code` and its fields, before the envelope.
fn success(fields: Params) -> Params {
    fields.with("result_code", "SUCCESS")
}

fn failure(err_code: &str, des: impl Into<String>) -> Params {
    Params::new()
        .with("result_code", "FAIL")
        .with("err_code", err_code)
        .with("err_code_des", des)
}

fn lack(name: &str) -> Params {
    failure("LACK_PARAMS", format!("缺少参数{name}"))
}

fn param_error(des: impl Into<String>) -> Params {
    failure("PARAM_ERROR", des)
}

fn system_error() -> Params {
    failure("SYSTEMERROR", "系统错误")
}

/// Signs a business answer with the merchant's key in the request's algorithm.
fn envelope(merchant: &WechatMerchant, appid: &str, sign_type: SignType, fields: Params) -> String {
    let mut params = fields
        .with("return_code", "SUCCESS")
        .with("return_msg", "OK")
        .with("appid", appid)
        .with("mch_id", merchant.mch_id.as_str())
        .with("nonce_str", nonce());
    add_sign(&mut params, sign_type, &merchant.api_key);
    to_xml(&params).unwrap_or_else(|_| communication_failure("系统错误"))
}

/// What the business handlers get to work with.
struct Ctx<'a> {
    merchant: &'a WechatMerchant,
    appid: &'a str,
    sign_type: SignType,
    now: i64,
}

/// Answers one API call; also says how long to hold the answer back.
fn process(inner: &Inner, endpoint: Endpoint, body: &[u8]) -> (String, u64) {
    let Ok(text) = std::str::from_utf8(body) else {
        return (
            communication_failure("编码格式错误，请使用UTF-8编码格式"),
            0,
        );
    };
    let text = text.trim();
    if text.is_empty() {
        return (communication_failure("post数据为空"), 0);
    }
    let Ok(req) = from_xml(text) else {
        return (communication_failure("XML格式错误"), 0);
    };
    let Some(mch_id) = req.get("mch_id").filter(|v| !v.is_empty()) else {
        return (communication_failure("缺少参数mch_id"), 0);
    };
    let Some(merchant) = inner.merchants.get(mch_id) else {
        return (communication_failure("商户号mch_id不存在"), 0);
    };
    let sign_type = match req.get("sign_type") {
        None | Some("") => SignType::Md5,
        Some(text) => match text.parse::<SignType>() {
            Ok(sign_type) => sign_type,
            Err(_) => return (communication_failure("sign_type参数错误"), 0),
        },
    };
    if merchant
        .sign_type
        .is_some_and(|expected| expected != sign_type)
        || verify(&req, sign_type, &merchant.api_key).is_err()
    {
        return (communication_failure("签名错误"), 0);
    }

    let now = inner.now();
    let mut st = inner.lock();
    let latency_ms = st.knobs.latency_ms;
    let appid = req.get("appid").unwrap_or_default();
    let ctx = Ctx {
        merchant,
        appid,
        sign_type,
        now,
    };
    let answer = |fields| envelope(merchant, appid, sign_type, fields);

    if appid.is_empty() {
        return (answer(lack("appid")), latency_ms);
    }
    if appid != merchant.appid {
        let fields = if inner.merchants.values().any(|m| m.appid == appid) {
            failure("APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配")
        } else {
            failure("APPID_NOT_EXIST", "appid不存在")
        };
        return (answer(fields), latency_ms);
    }
    match req.get("nonce_str") {
        None | Some("") => return (answer(lack("nonce_str")), latency_ms),
        Some(n) if n.chars().count() > 32 => {
            return (answer(param_error("nonce_str长度不能超过32位")), latency_ms);
        }
        Some(_) => {}
    }

    let failing = st.knobs.fail_next > 0
        && st
            .knobs
            .fail_path
            .as_deref()
            .is_none_or(|path| path.is_empty() || path == endpoint.path());
    if failing {
        st.knobs.fail_next -= 1;
    }
    let mut systemerror = match st.knobs.fail_code.as_deref() {
        Some(code) => failure(code, "模拟的错误"),
        None => system_error(),
    };
    if endpoint == Endpoint::Reverse {
        systemerror.insert("recall", "Y");
    }
    if failing && !st.knobs.fail_after_effect {
        return (answer(systemerror), latency_ms);
    }

    inner.advance(&mut st, now);
    let fields = match endpoint {
        Endpoint::UnifiedOrder => unified_order(&mut st, &ctx, &req),
        Endpoint::Micropay => micropay(&mut st, &ctx, &req),
        Endpoint::OrderQuery => order_query(&mut st, &ctx, &req),
        Endpoint::CloseOrder => close_order(&mut st, &ctx, &req),
        Endpoint::Reverse => reverse(&mut st, &ctx, &req),
        Endpoint::Refund => refund(&mut st, &ctx, &req),
        Endpoint::RefundQuery => refund_query(&mut st, &ctx, &req),
    };
    drop(st);
    if failing {
        return (answer(systemerror), latency_ms);
    }
    (answer(fields), latency_ms)
}

// ---------------------------------------------------------------------------------------------
// Validation helpers

/// `out_trade_no`/`out_refund_no`: digits, letters and `_-|*@`.
fn valid_out_no(value: &str, max: usize) -> bool {
    !value.is_empty()
        && value.len() <= max
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'|' | b'*' | b'@'))
}

/// A positive amount in fen.
fn fee(value: &str) -> Option<i64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse::<i64>().ok().filter(|&fee| fee > 0)
}

fn valid_notify_url(value: &str) -> bool {
    reqwest::Url::parse(value).is_ok_and(|url| {
        matches!(url.scheme(), "http" | "https")
            && url.host_str().is_some()
            && url.query().is_none()
    })
}

/// The request as a re-entry has to repeat it.
fn fingerprint(req: &Params) -> Params {
    req.iter()
        .filter(|(name, value)| {
            !value.is_empty() && !matches!(*name, "nonce_str" | "sign" | "sign_type")
        })
        .collect()
}

fn opt(req: &Params, name: &str) -> String {
    req.get(name).unwrap_or_default().to_owned()
}

/// Checks the fields unifiedorder and micropay share; on success the amount.
fn check_order_fields(req: &Params, required: &[&str]) -> Result<i64, Params> {
    for name in required {
        if req.require(name).is_err() {
            return Err(lack(name));
        }
    }
    let out_trade_no = req.get("out_trade_no").unwrap_or_default();
    if !valid_out_no(out_trade_no, 32) {
        return Err(param_error("out_trade_no参数格式错误"));
    }
    let Some(total_fee) = fee(req.get("total_fee").unwrap_or_default()) else {
        return Err(param_error("total_fee参数格式错误"));
    };
    if req.get("body").unwrap_or_default().chars().count() > 128 {
        return Err(param_error("body参数长度有误"));
    }
    if req.get("attach").unwrap_or_default().chars().count() > 127 {
        return Err(param_error("attach参数长度有误"));
    }
    if let Some(fee_type) = req.get("fee_type").filter(|v| !v.is_empty())
        && fee_type != "CNY"
    {
        return Err(param_error("fee_type参数错误"));
    }
    for name in ["time_start", "time_expire"] {
        if let Some(value) = req.get(name).filter(|v| !v.is_empty())
            && beijing_time::parse_compact(value).is_err()
        {
            return Err(param_error(format!("{name}参数格式错误")));
        }
    }
    if let Some(detail) = req.get("detail").filter(|v| !v.is_empty())
        && !valid_detail(detail)
    {
        return Err(param_error("detail参数格式错误"));
    }
    Ok(total_fee)
}

/// `detail` (单品优惠): JSON whose `goods_detail` lines each have a `goods_id` (at most 32
/// characters), a whole `quantity` of at least one and a `price` in whole fen.
fn valid_detail(detail: &str) -> bool {
    let Ok(detail) = serde_json::from_str::<serde_json::Value>(detail) else {
        return false;
    };
    let Some(lines) = detail.get("goods_detail").and_then(|g| g.as_array()) else {
        return false;
    };
    !lines.is_empty()
        && lines.iter().all(|line| {
            let id = line
                .get("goods_id")
                .and_then(|v| v.as_str())
                .unwrap_or_default();
            !id.is_empty()
                && id.chars().count() <= 32
                && line
                    .get("quantity")
                    .and_then(serde_json::Value::as_i64)
                    .is_some_and(|q| q >= 1)
                && line
                    .get("price")
                    .and_then(serde_json::Value::as_i64)
                    .is_some()
        })
}

fn new_order(ctx: &Ctx<'_>, req: &Params, trade_type: TradeType, total_fee: i64) -> Order {
    Order {
        appid: ctx.appid.to_owned(),
        mch_id: ctx.merchant.mch_id.clone(),
        out_trade_no: opt(req, "out_trade_no"),
        trade_type,
        state: TradeState::NotPay,
        fingerprint: fingerprint(req),
        sign_type: ctx.sign_type,
        body: opt(req, "body"),
        total_fee,
        attach: opt(req, "attach"),
        device_info: opt(req, "device_info"),
        notify_url: opt(req, "notify_url"),
        openid: req
            .get("openid")
            .filter(|v| !v.is_empty())
            .map(str::to_owned),
        prepay_id: None,
        code_url: None,
        created_ms: ctx.now,
        expire_ms: None,
        payment: None,
        auth_code: None,
        script: None,
        queries: 0,
        refunds: Vec::new(),
        refunded_by_reverse: false,
    }
}

fn with_device_info(mut fields: Params, req: &Params) -> Params {
    if let Some(device_info) = req.get("device_info").filter(|v| !v.is_empty()) {
        fields.insert("device_info", device_info);
    }
    fields
}

/// Finds the order a query names: `transaction_id` first, then `out_trade_no`.
fn locate(st: &State, ctx: &Ctx<'_>, req: &Params) -> Result<OrderKey, Params> {
    if let Some(transaction_id) = req.get("transaction_id").filter(|v| !v.is_empty()) {
        return st
            .by_transaction
            .get(transaction_id)
            .filter(|(mch_id, _)| *mch_id == ctx.merchant.mch_id)
            .cloned()
            .ok_or_else(|| failure("ORDERNOTEXIST", "此交易订单号不存在"));
    }
    let Some(out_trade_no) = req.get("out_trade_no").filter(|v| !v.is_empty()) else {
        return Err(lack("out_trade_no"));
    };
    let key = (ctx.merchant.mch_id.clone(), out_trade_no.to_owned());
    if st.orders.contains_key(&key) {
        Ok(key)
    } else {
        Err(failure("ORDERNOTEXIST", "订单不存在"))
    }
}

/// The payment fields of a paid order, as micropay and orderquery answer them.
fn payment_fields(mut fields: Params, order: &Order) -> Params {
    if let Some(payment) = &order.payment {
        let total_fee = order.total_fee.to_string();
        fields.extend([
            ("openid", payment.openid.clone()),
            ("is_subscribe", "N".to_owned()),
            ("trade_type", order.trade_type.as_str().to_owned()),
            ("bank_type", payment.bank_type.clone()),
            ("fee_type", "CNY".to_owned()),
            ("cash_fee", total_fee),
            ("transaction_id", payment.transaction_id.clone()),
            ("time_end", compact(payment.time_end_ms)),
        ]);
    }
    fields.insert("total_fee", order.total_fee.to_string());
    fields.insert("out_trade_no", order.out_trade_no.as_str());
    if !order.attach.is_empty() {
        fields.insert("attach", order.attach.as_str());
    }
    if !order.device_info.is_empty() {
        fields.insert("device_info", order.device_info.as_str());
    }
    fields
}

// ---------------------------------------------------------------------------------------------
// Endpoints

fn unified_order(st: &mut State, ctx: &Ctx<'_>, req: &Params) -> Params {
    let required = [
        "body",
        "out_trade_no",
        "total_fee",
        "spbill_create_ip",
        "notify_url",
        "trade_type",
    ];
    let total_fee = match check_order_fields(req, &required) {
        Ok(fee) => fee,
        Err(fields) => return fields,
    };
    let trade_type = match req.get("trade_type").unwrap_or_default() {
        "NATIVE" => TradeType::Native,
        "JSAPI" => TradeType::Jsapi,
        "APP" => TradeType::App,
        _ => return param_error("trade_type参数错误"),
    };
    if trade_type == TradeType::Native && req.require("product_id").is_err() {
        return lack("product_id");
    }
    if trade_type == TradeType::Jsapi && req.require("openid").is_err() {
        return lack("openid");
    }
    if req.get("product_id").unwrap_or_default().chars().count() > 32 {
        return param_error("product_id参数长度有误");
    }
    if !valid_notify_url(req.get("notify_url").unwrap_or_default()) {
        return param_error("notify_url参数格式错误");
    }
    let expire_ms = match req.get("time_expire").filter(|v| !v.is_empty()) {
        Some(text) => match beijing_time::parse_compact(text) {
            Ok(secs) if secs.saturating_mul(1000) >= ctx.now.saturating_add(5 * 60_000) => {
                Some(secs.saturating_mul(1000))
            }
            _ => return param_error("time_expire时间过短，刷卡至少1分钟，其他5分钟"),
        },
        None => None,
    };

    let key = (ctx.merchant.mch_id.clone(), opt(req, "out_trade_no"));
    let answer = |order: &Order| {
        let mut fields = Params::new().with("trade_type", order.trade_type.as_str());
        if let Some(prepay_id) = &order.prepay_id {
            fields.insert("prepay_id", prepay_id.as_str());
        }
        if let Some(code_url) = &order.code_url {
            fields.insert("code_url", code_url.as_str());
        }
        with_device_info(success(fields), req)
    };
    if let Some(order) = st.orders.get(&key) {
        if order.trade_type != trade_type || order.appid != ctx.appid {
            return failure("OUT_TRADE_NO_USED", "商户订单号重复");
        }
        return match order.state {
            TradeState::Success | TradeState::Refund => failure("ORDERPAID", "该订单已支付"),
            TradeState::Closed | TradeState::Revoked => failure("ORDERCLOSED", "该订单已关闭"),
            _ if order.fingerprint != fingerprint(req) => failure(
                "INVALID_REQUEST",
                "201 商户订单号重复，订单重入时，要求参数值与原请求一致",
            ),
            _ => answer(order),
        };
    }

    let mut order = new_order(ctx, req, trade_type, total_fee);
    order.prepay_id = Some(format!("wx{}{}", compact(ctx.now), hex(20)));
    if trade_type == TradeType::Native {
        order.code_url = Some(format!("weixin://wxpay/bizpayurl?pr={}", alnum(9)));
    }
    order.expire_ms = expire_ms;
    let fields = answer(&order);
    if let Some(at) = expire_ms {
        st.add_timer(at, Timer::Expire(key.clone()));
    }
    st.orders.insert(key, order);
    fields
}

fn micropay(st: &mut State, ctx: &Ctx<'_>, req: &Params) -> Params {
    let required = [
        "body",
        "out_trade_no",
        "total_fee",
        "spbill_create_ip",
        "auth_code",
    ];
    let total_fee = match check_order_fields(req, &required) {
        Ok(fee) => fee,
        Err(fields) => return fields,
    };
    let key = (ctx.merchant.mch_id.clone(), opt(req, "out_trade_no"));
    let auth_code = opt(req, "auth_code");

    if let Some(order) = st.orders.get(&key) {
        if order.trade_type != TradeType::Micropay || order.appid != ctx.appid {
            return failure("OUT_TRADE_NO_USED", "商户订单号重复");
        }
        return match order.state {
            TradeState::Success | TradeState::Refund => failure("ORDERPAID", "订单已支付"),
            TradeState::Revoked => failure("ORDERREVERSED", "订单已撤销"),
            TradeState::Closed => failure("ORDERCLOSED", "订单已关闭"),
            TradeState::PayError | TradeState::NotPay => {
                failure("TRADE_STATE_ERROR", "订单状态错误，请撤销订单")
            }
            TradeState::UserPaying if order.fingerprint != fingerprint(req) => failure(
                "INVALID_REQUEST",
                "201 商户订单号重复，订单重入时，要求参数值与原请求一致",
            ),
            TradeState::UserPaying => {
                with_device_info(failure("USERPAYING", "需要用户输入支付密码"), req)
            }
        };
    }
    if st.used_auth_codes.contains(&auth_code) {
        return failure("AUTH_CODE_ERROR", "每个二维码仅限使用一次，请刷新再试");
    }

    let script = script_for(&auth_code, total_fee);
    let (state, answer) = match script {
        Script::Decline(code, des) => return failure(code, des),
        Script::SystemErrorUnpaid => return system_error(),
        Script::Succeed => (TradeState::Success, None),
        Script::SystemErrorPaid => (TradeState::Success, Some(system_error())),
        Script::PayingThenSucceed(_) | Script::PayingThenFail(_) | Script::PayingUntilHook => (
            TradeState::UserPaying,
            Some(failure("USERPAYING", "需要用户输入支付密码")),
        ),
    };
    let mut order = new_order(ctx, req, TradeType::Micropay, total_fee);
    order.auth_code = Some(auth_code.clone());
    order.script = Some(script);
    order.state = TradeState::UserPaying;
    st.used_auth_codes.insert(auth_code);
    st.orders.insert(key.clone(), order);
    if state == TradeState::Success {
        st.complete_payment(&key, ctx.now, None, None);
    }
    if let Some(fields) = answer {
        return with_device_info(fields, req);
    }
    match st.orders.get(&key) {
        Some(order) => payment_fields(success(Params::new()), order),
        None => system_error(),
    }
}

fn order_query(st: &mut State, ctx: &Ctx<'_>, req: &Params) -> Params {
    let key = match locate(st, ctx, req) {
        Ok(key) => key,
        Err(fields) => return fields,
    };
    // A micropay order waiting for the password moves on as its script says.
    let mut pay_now = false;
    if let Some(order) = st.orders.get_mut(&key)
        && order.state == TradeState::UserPaying
    {
        match order.script {
            Some(Script::PayingThenSucceed(n)) if order.queries >= n => pay_now = true,
            Some(Script::PayingThenFail(n)) if order.queries >= n => {
                order.state = TradeState::PayError;
            }
            _ => order.queries = order.queries.saturating_add(1),
        }
    }
    if pay_now {
        st.complete_payment(&key, ctx.now, None, None);
    }
    let Some(order) = st.orders.get(&key) else {
        return failure("ORDERNOTEXIST", "订单不存在");
    };
    let mut fields = Params::new()
        .with("trade_state", order.state.as_str())
        .with("trade_state_desc", order.state.desc());
    if order.trade_type == TradeType::Micropay {
        fields.insert("trade_type", "MICROPAY");
    }
    payment_fields(success(fields), order)
}

fn close_order(st: &mut State, ctx: &Ctx<'_>, req: &Params) -> Params {
    let Some(out_trade_no) = req.get("out_trade_no").filter(|v| !v.is_empty()) else {
        return lack("out_trade_no");
    };
    let key = (ctx.merchant.mch_id.clone(), out_trade_no.to_owned());
    let Some(order) = st.orders.get_mut(&key) else {
        return failure("ORDERNOTEXIST", "订单不存在");
    };
    match order.state {
        TradeState::NotPay => {
            order.state = TradeState::Closed;
            success(Params::new().with("result_msg", "OK"))
        }
        TradeState::Success | TradeState::Refund => {
            failure("ORDERPAID", "订单已支付，不能发起关单")
        }
        TradeState::Closed | TradeState::Revoked => {
            failure("ORDERCLOSED", "订单已关闭，无需继续调用")
        }
        TradeState::UserPaying | TradeState::PayError => {
            failure("TRADE_STATE_ERROR", "订单状态错误，付款码支付请使用撤销")
        }
    }
}

fn reverse(st: &mut State, ctx: &Ctx<'_>, req: &Params) -> Params {
    let with_recall = |fields: Params, recall: &str| fields.with("recall", recall);
    let key = match locate(st, ctx, req) {
        Ok(key) => key,
        Err(fields) => return with_recall(fields, "N"),
    };
    let Some(order) = st.orders.get_mut(&key) else {
        return with_recall(failure("ORDERNOTEXIST", "订单不存在"), "N");
    };
    if ctx.now.saturating_sub(order.created_ms) > REVERSE_WINDOW_MS {
        return with_recall(
            failure("REVERSE_EXPIRE", "订单已超过7天，不能撤销，请使用退款"),
            "N",
        );
    }
    match order.state {
        TradeState::UserPaying => with_recall(
            failure("USERPAYING", "正在支付中，不能发起撤销，请稍后重试"),
            "Y",
        ),
        TradeState::Refund => with_recall(
            failure("TRADE_STATE_ERROR", "订单已发生退款，不能撤销"),
            "N",
        ),
        TradeState::NotPay | TradeState::PayError => {
            order.state = TradeState::Revoked;
            with_recall(success(Params::new()), "N")
        }
        TradeState::Success => {
            order.state = TradeState::Revoked;
            order.refunded_by_reverse = true;
            with_recall(success(Params::new()), "N")
        }
        TradeState::Revoked | TradeState::Closed => with_recall(success(Params::new()), "N"),
    }
}

fn refund_answer(order: &Order, refund: &Refund) -> Params {
    let total_fee = order.total_fee.to_string();
    let refund_fee = refund.refund_fee.to_string();
    let mut fields = success(Params::new())
        .with("out_trade_no", order.out_trade_no.as_str())
        .with("out_refund_no", refund.out_refund_no.as_str())
        .with("refund_id", refund.refund_id.as_str())
        .with("refund_channel", "")
        .with("refund_fee", refund_fee.as_str())
        .with("coupon_refund_fee", "0")
        .with("total_fee", total_fee.as_str())
        .with("cash_fee", total_fee.as_str())
        .with("coupon_refund_count", "0")
        .with("cash_refund_fee", refund_fee.as_str());
    if let Some(payment) = &order.payment {
        fields.insert("transaction_id", payment.transaction_id.as_str());
    }
    fields
}

fn refund(st: &mut State, ctx: &Ctx<'_>, req: &Params) -> Params {
    for name in ["out_refund_no", "total_fee", "refund_fee"] {
        if req.require(name).is_err() {
            return lack(name);
        }
    }
    let transaction_id = req.get("transaction_id").filter(|v| !v.is_empty());
    if transaction_id.is_none() && req.require("out_trade_no").is_err() {
        return lack("out_trade_no");
    }
    if let Some(id) = transaction_id
        && !(id.len() == 28 && id.bytes().all(|b| b.is_ascii_digit()))
    {
        return failure("INVALID_TRANSACTIONID", "无效transaction_id");
    }
    let out_refund_no = opt(req, "out_refund_no");
    if !valid_out_no(&out_refund_no, 64) {
        return param_error("out_refund_no参数格式错误");
    }
    let (Some(total_fee), Some(refund_fee)) = (
        fee(req.get("total_fee").unwrap_or_default()),
        fee(req.get("refund_fee").unwrap_or_default()),
    ) else {
        return param_error("total_fee或refund_fee参数格式错误");
    };
    if let Some(account) = req.get("refund_account").filter(|v| !v.is_empty())
        && !matches!(
            account,
            "REFUND_SOURCE_UNSETTLED_FUNDS" | "REFUND_SOURCE_RECHARGE_FUNDS"
        )
    {
        return param_error("refund_account参数错误");
    }
    let notify_url = match req.get("notify_url").filter(|v| !v.is_empty()) {
        Some(url) if valid_notify_url(url) => Some(url.to_owned()),
        Some(_) => return param_error("notify_url参数格式错误"),
        None => ctx.merchant.refund_notify_url.clone(),
    };

    let key = match locate(st, ctx, req) {
        Ok(key) => key,
        Err(fields) => return fields,
    };
    let refund_no_key = (ctx.merchant.mch_id.clone(), out_refund_no.clone());
    let existing = st.refund_nos.get(&refund_no_key).cloned();
    let knobs = st.knobs.clone();
    let refund_id = st.new_refund_id(ctx.now);
    let Some(order) = st.orders.get_mut(&key) else {
        return failure("ORDERNOTEXIST", "订单不存在");
    };
    let Some(paid_at) = order.payment.as_ref().map(|p| p.time_end_ms) else {
        return failure("ORDERNOTEXIST", "订单未支付");
    };
    if !order.state.is_paid() {
        return failure("ORDERNOTEXIST", "订单已撤销或未支付");
    }
    if ctx.now.saturating_sub(paid_at) > REFUND_WINDOW_MS {
        return failure("TRADE_OVERDUE", "订单已经超过退款期限");
    }
    if total_fee != order.total_fee {
        return failure(
            "INVALID_REQUEST",
            "订单金额或退款金额与之前请求不一致，请核实后再试",
        );
    }
    if let Some((existing_key, index)) = existing {
        return match order.refunds.get(index) {
            Some(refund) if existing_key == key && refund.refund_fee == refund_fee => {
                refund_answer(order, refund)
            }
            _ => failure(
                "INVALID_REQUEST",
                "订单金额或退款金额与之前请求不一致，请核实后再试",
            ),
        };
    }
    if order.refunds.len() >= MAX_REFUNDS {
        return failure("ERROR", "订单已经超过可退款的最大限制次数");
    }
    if order.refunded().saturating_add(refund_fee) > order.total_fee {
        return failure("ERROR", "累计退款金额大于支付金额");
    }

    let delay = if knobs.refund_bank_card {
        knobs.bank_card_settle_ms
    } else {
        knobs.refund_settle_ms
    };
    let settle_ms = ctx.now.saturating_add(delay.max(0));
    let index = order.refunds.len();
    order.refunds.push(Refund {
        out_refund_no,
        refund_id: refund_id.clone(),
        refund_fee,
        status: RefundStatus::Processing,
        outcome: knobs.refund_outcome,
        created_ms: ctx.now,
        settle_ms,
        success_ms: None,
        notify_url,
        refund_desc: req
            .get("refund_desc")
            .filter(|v| !v.is_empty())
            .map(str::to_owned),
        refund_account: req
            .get("refund_account")
            .filter(|v| !v.is_empty())
            .unwrap_or("REFUND_SOURCE_UNSETTLED_FUNDS")
            .to_owned(),
        recv_account: if knobs.refund_bank_card {
            BANK_CARD_ACCOUNT
        } else {
            BALANCE_ACCOUNT
        }
        .to_owned(),
    });
    order.state = TradeState::Refund;
    let fields = match order.refunds.get(index) {
        Some(refund) => refund_answer(order, refund),
        None => system_error(),
    };
    st.refund_ids.insert(refund_id, (key.clone(), index));
    st.refund_nos.insert(refund_no_key, (key.clone(), index));
    st.add_timer(settle_ms, Timer::Settle(key, index));
    fields
}

fn refund_query(st: &mut State, ctx: &Ctx<'_>, req: &Params) -> Params {
    let pick = |name: &str| req.get(name).filter(|v| !v.is_empty());
    let not_found = || failure("REFUNDNOTEXIST", "退款订单查询失败");
    // Which order, and which of its refunds (`None`: all of them).
    let (key, only) = if let Some(refund_id) = pick("refund_id") {
        match st.refund_ids.get(refund_id) {
            Some((key, index)) if key.0 == ctx.merchant.mch_id => (key.clone(), Some(*index)),
            _ => return not_found(),
        }
    } else if let Some(out_refund_no) = pick("out_refund_no") {
        match st
            .refund_nos
            .get(&(ctx.merchant.mch_id.clone(), out_refund_no.to_owned()))
        {
            Some((key, index)) => (key.clone(), Some(*index)),
            None => return not_found(),
        }
    } else if pick("transaction_id").is_some() || pick("out_trade_no").is_some() {
        match locate(st, ctx, req) {
            Ok(key) => (key, None),
            Err(_) => return not_found(),
        }
    } else {
        return lack("out_trade_no");
    };
    let offset = match pick("offset") {
        None => 0,
        Some(text) => match text.parse::<usize>() {
            Ok(offset) => offset,
            Err(_) => return param_error("offset参数格式错误"),
        },
    };
    let Some(order) = st.orders.get(&key) else {
        return not_found();
    };
    let selected: Vec<&Refund> = match only {
        Some(index) => order.refunds.get(index).into_iter().collect(),
        None => order.refunds.iter().collect(),
    };
    if selected.is_empty() {
        return not_found();
    }
    if offset >= selected.len() && offset > 0 {
        return param_error("offset参数超过退款单数量");
    }
    let page: Vec<&Refund> = selected
        .iter()
        .skip(offset)
        .take(REFUND_PAGE)
        .copied()
        .collect();
    let total_fee = order.total_fee.to_string();
    let mut fields = success(Params::new())
        .with("out_trade_no", order.out_trade_no.as_str())
        .with("total_fee", total_fee.as_str())
        .with("fee_type", "CNY")
        .with("cash_fee", total_fee.as_str())
        .with("total_refund_count", selected.len().to_string())
        .with("refund_count", page.len().to_string());
    if let Some(payment) = &order.payment {
        fields.insert("transaction_id", payment.transaction_id.as_str());
    }
    for (n, refund) in page.iter().enumerate() {
        let refund_fee = refund.refund_fee.to_string();
        fields.extend([
            (format!("out_refund_no_{n}"), refund.out_refund_no.clone()),
            (format!("refund_id_{n}"), refund.refund_id.clone()),
            (format!("refund_channel_{n}"), "ORIGINAL".to_owned()),
            (format!("refund_fee_{n}"), refund_fee.clone()),
            (format!("settlement_refund_fee_{n}"), refund_fee),
            (format!("coupon_refund_fee_{n}"), "0".to_owned()),
            (format!("coupon_refund_count_{n}"), "0".to_owned()),
            (
                format!("refund_status_{n}"),
                refund.status.as_str().to_owned(),
            ),
            (format!("refund_account_{n}"), refund.refund_account.clone()),
            (
                format!("refund_recv_accout_{n}"),
                refund.recv_account.clone(),
            ),
        ]);
        if let Some(at) = refund.success_ms {
            fields.insert(format!("refund_success_time_{n}"), dashed(at));
        }
    }
    fields
}
