//! What a micropay `auth_code` makes happen (the table in the module docs).

/// The behaviour a payment code scripts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Script {
    /// Paid at once.
    Succeed,
    /// `USERPAYING`; `orderquery` answers so this many times, then the order is paid.
    PayingThenSucceed(u32),
    /// `USERPAYING`; `orderquery` answers so this many times, then the order is `PAYERROR`.
    PayingThenFail(u32),
    /// `USERPAYING` until the test hook decides.
    PayingUntilHook,
    /// `SYSTEMERROR`, but the payment went through.
    SystemErrorPaid,
    /// `SYSTEMERROR`, and nothing happened (the order does not exist).
    SystemErrorUnpaid,
    /// A definite failure: `(err_code, err_code_des)`; no order is created.
    Decline(&'static str, &'static str),
}

/// Above this amount (fen) WeChat asks for the password: ¥1000.
const PASSWORD_FREE_LIMIT: i64 = 100_000;

const INVALID: Script = Script::Decline("AUTH_CODE_INVALID", "101 付款码无效，请重新扫码");

/// The script of `auth_code` for a payment of `total_fee`.
pub(super) fn script_for(auth_code: &str, total_fee: i64) -> Script {
    let bytes = auth_code.as_bytes();
    let wechat_code = bytes.len() == 18
        && bytes.iter().all(u8::is_ascii_digit)
        && bytes[0] == b'1'
        && (b'0'..=b'5').contains(&bytes[1]);
    if !wechat_code {
        return INVALID;
    }
    if let Some(rest) = auth_code.strip_prefix("1300") {
        let count = rest
            .get(2..4)
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or(0);
        match rest.get(..2) {
            Some("01") => return Script::PayingThenSucceed(count),
            Some("02") => return Script::PayingThenFail(count),
            Some("03") => return Script::PayingUntilHook,
            Some("04") => return Script::SystemErrorPaid,
            Some("05") => return Script::SystemErrorUnpaid,
            Some("10") => {
                return Script::Decline("AUTHCODEEXPIRE", "二维码已过期，请用户在微信上刷新后再试");
            }
            Some("11") => return INVALID,
            Some("12") => return Script::Decline("NOTENOUGH", "用户余额不足"),
            Some("13") => return Script::Decline("NOTSUPORTCARD", "不支持卡类型"),
            _ => {}
        }
    }
    if total_fee > PASSWORD_FREE_LIMIT {
        Script::PayingThenSucceed(1)
    } else {
        Script::Succeed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        assert_eq!(script_for("134567890123456789", 1), Script::Succeed);
        assert_eq!(
            script_for("134567890123456789", 100_001),
            Script::PayingThenSucceed(1)
        );
        assert_eq!(
            script_for("130001030000000000", 1),
            Script::PayingThenSucceed(3)
        );
        assert_eq!(
            script_for("130002000000000001", 1),
            Script::PayingThenFail(0)
        );
        assert_eq!(script_for("130003000000000001", 1), Script::PayingUntilHook);
        assert_eq!(script_for("130004000000000001", 1), Script::SystemErrorPaid);
        assert_eq!(
            script_for("130005000000000001", 1),
            Script::SystemErrorUnpaid
        );
        assert!(matches!(
            script_for("130010000000000001", 1),
            Script::Decline("AUTHCODEEXPIRE", _)
        ));
        assert_eq!(script_for("130011000000000001", 1), INVALID);
        assert!(matches!(
            script_for("130012000000000001", 1),
            Script::Decline("NOTENOUGH", _)
        ));
        for bad in [
            "",
            "16456789012345678",
            "164567890123456789",
            "28763443825664394",
            "1345678901234567a9",
            "１34567890123456789",
        ] {
            assert_eq!(script_for(bad, 1), INVALID, "{bad}");
        }
    }
}
