//! The scan-payment channels of the seeds, and what each requires of a charge
//! (docs/pingpp-wire.md, which also says which channels can be reversed).

use crate::api::params::BodyParams;
use crate::error::{GatewayError, GatewayResult};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    AlipayQr,
    WxPubQr,
    CbAlipayQr,
    CbWxPubQr,
    UpacpQr,
    CcbQr,
    IsvQr,
    IsvWap,
    AlipayScan,
    WxPubScan,
    CbAlipayScan,
    CbWxPubScan,
    UpacpScan,
    IsvScan,
}

/// How the customer pays: scanning the merchant's code, or presenting their own code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// A QR link goes back in `credential`; payment arrives later.
    Qr,
    /// The merchant scans the customer's payment code; the charge settles synchronously.
    Scan,
}

/// One `extra` field: its name, whether it is required, and how to check its value.
struct Field {
    name: &'static str,
    required: bool,
    check: Check,
}

enum Check {
    Text {
        min: usize,
        max: usize,
    },
    Alnum {
        min: usize,
        max: usize,
    },
    OneOf(&'static [&'static str]),
    Url,
    /// goods_list of objects with these required keys.
    Goods(&'static [&'static str]),
}

const fn req(name: &'static str, check: Check) -> Field {
    Field {
        name,
        required: true,
        check,
    }
}
const fn opt(name: &'static str, check: Check) -> Field {
    Field {
        name,
        required: false,
        check,
    }
}

const PRODUCT_ID: Check = Check::Text { min: 1, max: 32 };
const SCAN_CODE: Check = Check::Text { min: 1, max: 32 };
const TERMINAL_ID: Check = Check::Alnum { min: 1, max: 8 };
const LIMIT_PAY: Check = Check::OneOf(&["no_credit"]);
const SHORT_TEXT: Check = Check::Text { min: 1, max: 64 };
const ISV_GOODS: Check = Check::Goods(&["goods_name", "goods_num"]);
const ALIPAY_GOODS: Check = Check::Goods(&["goods_id", "goods_name", "quantity", "price"]);
const CB_WX_GOODS: Check = Check::Goods(&["goods_name", "goods_num"]);

impl Channel {
    pub const ALL: [Channel; 14] = [
        Channel::AlipayQr,
        Channel::WxPubQr,
        Channel::CbAlipayQr,
        Channel::CbWxPubQr,
        Channel::UpacpQr,
        Channel::CcbQr,
        Channel::IsvQr,
        Channel::IsvWap,
        Channel::AlipayScan,
        Channel::WxPubScan,
        Channel::CbAlipayScan,
        Channel::CbWxPubScan,
        Channel::UpacpScan,
        Channel::IsvScan,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::AlipayQr => "alipay_qr",
            Channel::WxPubQr => "wx_pub_qr",
            Channel::CbAlipayQr => "cb_alipay_qr",
            Channel::CbWxPubQr => "cb_wx_pub_qr",
            Channel::UpacpQr => "upacp_qr",
            Channel::CcbQr => "ccb_qr",
            Channel::IsvQr => "isv_qr",
            Channel::IsvWap => "isv_wap",
            Channel::AlipayScan => "alipay_scan",
            Channel::WxPubScan => "wx_pub_scan",
            Channel::CbAlipayScan => "cb_alipay_scan",
            Channel::CbWxPubScan => "cb_wx_pub_scan",
            Channel::UpacpScan => "upacp_scan",
            Channel::IsvScan => "isv_scan",
        }
    }

    pub fn parse(text: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == text)
    }

    pub fn flow(self) -> Flow {
        match self {
            Channel::AlipayScan
            | Channel::WxPubScan
            | Channel::CbAlipayScan
            | Channel::CbWxPubScan
            | Channel::UpacpScan
            | Channel::IsvScan => Flow::Scan,
            _ => Flow::Qr,
        }
    }

    /// Seed 004: reverse (撤销) takes the scan channels and the offline ISV channels.
    pub fn reversible(self) -> bool {
        self.flow() == Flow::Scan || matches!(self, Channel::IsvQr | Channel::IsvWap)
    }

    /// Order number length per channel (docs/pingpp-wire.md); always letters and digits only.
    pub fn order_no_len(self) -> (usize, usize) {
        match self {
            Channel::AlipayQr
            | Channel::AlipayScan
            | Channel::CbAlipayQr
            | Channel::CbAlipayScan => (1, 64),
            Channel::WxPubQr => (2, 32),
            Channel::WxPubScan | Channel::CbWxPubQr | Channel::CbWxPubScan => (1, 32),
            Channel::UpacpQr | Channel::UpacpScan => (8, 40),
            Channel::IsvQr | Channel::IsvWap | Channel::IsvScan => (8, 32),
            Channel::CcbQr => (1, 30),
        }
    }

    /// How long an identical create returns the first charge instead of failing with
    /// `charge_order_no_used` (docs/pingpp-wire.md: 1 min; WeChat QR 2 h).
    pub fn dedup_window_secs(self) -> i64 {
        match self {
            Channel::WxPubQr | Channel::CbWxPubQr => 2 * 3600,
            _ => 60,
        }
    }

    /// How far ahead a given `time_expire` must at least be, in seconds: WeChat refuses an
    /// order that expires within five minutes.
    pub fn min_expiry_secs(self) -> i64 {
        match self {
            Channel::WxPubQr | Channel::CbWxPubQr => 300,
            _ => 1,
        }
    }

    /// How long the channel's QR code can be scanned, in seconds: WeChat's `code_url` and
    /// Alipay's precreated `qr_code` live two hours, whatever the order's own expiry. A charge
    /// on such a channel expires by then, so its credential is never a code the channel has
    /// closed. (UnionPay's QR ends with the order: `payTimeout` is its `time_expire`.)
    pub fn qr_life_secs(self) -> Option<i64> {
        match self {
            Channel::AlipayQr | Channel::CbAlipayQr | Channel::WxPubQr | Channel::CbWxPubQr => {
                Some(2 * 3600)
            }
            _ => None,
        }
    }

    /// Default and longest validity of an unpaid charge, in seconds.
    pub fn expiry_secs(self) -> (i64, i64) {
        match self {
            Channel::UpacpQr | Channel::UpacpScan => (3600, 3600),
            Channel::WxPubQr | Channel::CbWxPubQr => (2 * 3600, 15 * 86400),
            _ => (86400, 15 * 86400),
        }
    }

    fn extra_fields(self) -> &'static [Field] {
        match self {
            Channel::AlipayQr | Channel::CbAlipayQr | Channel::CcbQr => &[],
            Channel::UpacpQr => &[],
            Channel::WxPubQr => {
                &const {
                    [
                        req("product_id", PRODUCT_ID),
                        opt("limit_pay", LIMIT_PAY),
                        opt("goods_tag", SHORT_TEXT),
                    ]
                }
            }
            Channel::CbWxPubQr => {
                &const {
                    [
                        req("product_id", PRODUCT_ID),
                        req("goods_list", CB_WX_GOODS),
                        opt("limit_pay", LIMIT_PAY),
                    ]
                }
            }
            Channel::IsvQr => {
                &const {
                    [
                        req("terminal_id", TERMINAL_ID),
                        req("pay_channel", Check::OneOf(&["alipay", "wx", "bfb"])),
                        opt("goods_list", ISV_GOODS),
                    ]
                }
            }
            Channel::IsvWap => {
                &const {
                    [
                        req("terminal_id", TERMINAL_ID),
                        req("pay_channel", Check::OneOf(&["alipay", "wx"])),
                        req("result_url", Check::Url),
                        opt("goods_list", ISV_GOODS),
                    ]
                }
            }
            Channel::IsvScan => {
                &const {
                    [
                        req("terminal_id", TERMINAL_ID),
                        req("scan_code", SCAN_CODE),
                        opt("goods_list", ISV_GOODS),
                    ]
                }
            }
            Channel::AlipayScan => {
                &const {
                    [
                        req("scan_code", SCAN_CODE),
                        req("terminal_id", TERMINAL_ID),
                        opt("goods_list", ALIPAY_GOODS),
                        opt("operator_id", SHORT_TEXT),
                        opt("store_id", SHORT_TEXT),
                        opt("sys_service_provider_id", SHORT_TEXT),
                    ]
                }
            }
            Channel::WxPubScan => {
                &const {
                    [
                        req("scan_code", SCAN_CODE),
                        opt("terminal_id", TERMINAL_ID),
                        opt("limit_pay", LIMIT_PAY),
                        opt("goods_tag", SHORT_TEXT),
                    ]
                }
            }
            Channel::CbWxPubScan => {
                &const {
                    [
                        req("scan_code", SCAN_CODE),
                        req("goods_list", CB_WX_GOODS),
                        opt("terminal_id", TERMINAL_ID),
                        opt("limit_pay", LIMIT_PAY),
                    ]
                }
            }
            Channel::CbAlipayScan | Channel::UpacpScan => {
                &const { [req("scan_code", SCAN_CODE), opt("terminal_id", TERMINAL_ID)] }
            }
        }
    }

    /// Checks `extra` against the channel's fields and returns it as the charge will echo it.
    pub fn validate_extra(self, mut extra: BodyParams) -> GatewayResult<Map<String, Value>> {
        let mut out = Map::new();
        for field in self.extra_fields() {
            let name = extra.name(field.name);
            let Some(value) = extra.optional_value(field.name) else {
                if field.required {
                    return Err(GatewayError::invalid_param(
                        &name,
                        format!(
                            "Missing required parameter: {name} (channel {} requires it).",
                            self.as_str()
                        ),
                    ));
                }
                continue;
            };
            check_field(&field.check, &name, &value)?;
            out.insert(field.name.to_owned(), value);
        }
        extra.finish().map_err(|e| {
            let message = format!("{} Channel {} does not take it.", e.message, self.as_str());
            GatewayError { message, ..e }
        })?;
        Ok(out)
    }
}

fn check_field(check: &Check, name: &str, value: &Value) -> GatewayResult<()> {
    let text = match value {
        Value::String(s) => Some(s.as_str()),
        _ => None,
    };
    let bad = |what: String| {
        Err(GatewayError::invalid_param(
            name,
            format!("Parameter {name} {what}."),
        ))
    };
    match check {
        Check::Text { min, max } | Check::Alnum { min, max } => {
            let owned;
            let text = match (text, value) {
                (Some(t), _) => t,
                (None, Value::Number(n)) => {
                    owned = n.to_string();
                    owned.as_str()
                }
                _ => return bad("must be a string".into()),
            };
            let len = text.chars().count();
            if len < *min || len > *max {
                return bad(format!("must be {min} to {max} characters long"));
            }
            if matches!(check, Check::Alnum { .. })
                && !text.chars().all(|c| c.is_ascii_alphanumeric())
            {
                return bad("may only contain letters and digits".into());
            }
            Ok(())
        }
        Check::OneOf(allowed) => match text {
            Some(t) if allowed.contains(&t) => Ok(()),
            _ => bad(format!("must be one of: {}", allowed.join(", "))),
        },
        Check::Url => match text {
            Some(t)
                if (t.starts_with("http://") || t.starts_with("https://")) && t.len() <= 1024 =>
            {
                Ok(())
            }
            _ => bad("must be an http(s) URL".into()),
        },
        Check::Goods(required) => {
            let Value::Array(items) = value else {
                return bad("must be a list of goods".into());
            };
            if items.is_empty() || items.len() > 100 {
                return bad("must list 1 to 100 goods".into());
            }
            for (i, item) in items.iter().enumerate() {
                let Value::Object(goods) = item else {
                    return bad(format!("item {i} must be an object"));
                };
                if let Some(missing) = required.iter().find(|k| !goods.contains_key(**k)) {
                    return Err(GatewayError::invalid_param(
                        format!("{name}[{i}][{missing}]"),
                        format!("Missing required parameter: {name}[{i}][{missing}]."),
                    ));
                }
                for (key, value) in goods {
                    let wrong = match key.as_str() {
                        "quantity" | "goods_num" => {
                            (!is_decimal(value, 0)).then_some("must be a whole number")
                        }
                        "price" => (!is_decimal(value, 2))
                            .then_some("must be an amount with at most two decimals"),
                        // The channels take product ids of at most 32 characters.
                        "goods_id" => (!value
                            .as_str()
                            .is_some_and(|id| (1..=32).contains(&id.chars().count())))
                        .then_some("must be a text of 1 to 32 characters"),
                        _ => None,
                    };
                    if let Some(wrong) = wrong {
                        return Err(GatewayError::invalid_param(
                            format!("{name}[{i}][{key}]"),
                            format!("Parameter {name}[{i}][{key}] {wrong}."),
                        ));
                    }
                }
            }
            Ok(())
        }
    }
}

/// A non-negative number (a JSON number or its text) with at most `decimals` decimals, as the
/// channels take quantities and prices in goods lists.
fn is_decimal(value: &Value, decimals: usize) -> bool {
    let text = match value {
        Value::String(text) => text.clone(),
        Value::Number(number) => number.to_string(),
        _ => return false,
    };
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    !whole.is_empty()
        && whole.len() <= 12
        && digits(whole)
        && digits(fraction)
        && fraction.trim_end_matches('0').len() <= decimals
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn extra(value: Value) -> BodyParams {
        match value {
            Value::Object(map) => BodyParams::from_map(map, "extra"),
            _ => unreachable!(),
        }
    }

    #[test]
    fn names_round_trip() {
        for channel in Channel::ALL {
            assert_eq!(Channel::parse(channel.as_str()), Some(channel));
        }
        assert_eq!(Channel::parse("wx"), None);
    }

    #[test]
    fn missing_required_extra_names_the_field() {
        let error = Channel::WxPubQr
            .validate_extra(extra(json!({})))
            .expect_err("product_id missing");
        assert_eq!(error.param.as_deref(), Some("extra[product_id]"));
    }

    #[test]
    fn unknown_extra_field_is_refused() {
        let error = Channel::AlipayQr
            .validate_extra(extra(json!({"open_id": "x"})))
            .expect_err("unknown");
        assert_eq!(error.param.as_deref(), Some("extra[open_id]"));
    }

    #[test]
    fn isv_qr_checks_terminal_and_pay_channel() {
        let ok = json!({"terminal_id": "T0000001", "pay_channel": "wx"});
        assert!(Channel::IsvQr.validate_extra(extra(ok)).is_ok());
        let bad = json!({"terminal_id": "T-1", "pay_channel": "wx"});
        assert!(Channel::IsvQr.validate_extra(extra(bad)).is_err());
        let bad = json!({"terminal_id": "T1", "pay_channel": "upacp"});
        assert!(Channel::IsvQr.validate_extra(extra(bad)).is_err());
    }

    #[test]
    fn goods_quantities_are_whole_and_prices_have_two_decimals_at_most() {
        let good = json!({"scan_code": "286648048691290423", "terminal_id": "T1", "goods_list": [
            {"goods_id": "g1", "goods_name": "tea", "quantity": 2, "price": "12.50"},
            {"goods_id": "g2", "goods_name": "cup", "quantity": "1", "price": 3}]});
        assert!(Channel::AlipayScan.validate_extra(extra(good)).is_ok());
        for (key, bad) in [
            ("quantity", json!("1.5")),
            ("quantity", json!(-1)),
            ("price", json!("1.234")),
            ("price", json!("abc")),
        ] {
            let mut line =
                json!({"goods_id": "g1", "goods_name": "tea", "quantity": 1, "price": "1"});
            line[key] = bad.clone();
            let body = json!({"scan_code": "286648048691290423", "terminal_id": "T1", "goods_list": [line]});
            let error = Channel::AlipayScan
                .validate_extra(extra(body))
                .expect_err("refused");
            assert_eq!(
                error.param.as_deref(),
                Some(format!("extra[goods_list][0][{key}]").as_str()),
                "{bad}"
            );
        }
    }

    #[test]
    fn goods_lists_need_their_keys() {
        let ok = json!({"product_id": "p1", "goods_list": [{"goods_name": "a", "goods_num": "1"}]});
        assert!(Channel::CbWxPubQr.validate_extra(extra(ok)).is_ok());
        let bad = json!({"product_id": "p1", "goods_list": [{"goods_name": "a"}]});
        let error = Channel::CbWxPubQr
            .validate_extra(extra(bad))
            .expect_err("num");
        assert_eq!(
            error.param.as_deref(),
            Some("extra[goods_list][0][goods_num]")
        );
        // The channels take product ids of 1 to 32 characters.
        for id in [json!("X".repeat(33)), json!(""), json!(7)] {
            let line = json!({"goods_name": "a", "goods_num": "1", "goods_id": id, "price": "1"});
            let error = Channel::CbWxPubQr
                .validate_extra(extra(json!({"product_id": "p1", "goods_list": [line]})))
                .expect_err("goods_id");
            assert_eq!(
                error.param.as_deref(),
                Some("extra[goods_list][0][goods_id]")
            );
        }
    }

    #[test]
    fn reversible_channels_follow_seed_004() {
        assert!(Channel::IsvQr.reversible());
        assert!(Channel::WxPubScan.reversible());
        assert!(!Channel::AlipayQr.reversible());
        assert!(!Channel::WxPubQr.reversible());
    }
}
