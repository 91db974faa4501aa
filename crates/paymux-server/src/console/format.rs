//! How amounts and times read in the console: yuan with two decimals (amounts are stored as
//! integer fen), times in China Standard Time (UTC+8), where the merchants are.

use crate::error::{GatewayError, GatewayResult};
use time::{OffsetDateTime, UtcOffset};

const CHINA: UtcOffset = match UtcOffset::from_hms(8, 0, 0) {
    Ok(offset) => offset,
    Err(_) => UtcOffset::UTC,
};

/// `12345` → `123.45`.
pub fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let fen = fen.unsigned_abs();
    format!("{sign}{}.{:02}", fen / 100, fen % 100)
}

/// `¥123.45`.
pub fn money(fen: i64) -> String {
    format!("¥{}", yuan(fen))
}

/// An amount typed in yuan (`12`, `12.5`, `12.50`) as fen; more than two decimals, signs and
/// anything else are refused.
pub fn parse_yuan(text: &str, param: &str) -> GatewayResult<i64> {
    let refuse = || {
        GatewayError::invalid_param(
            param,
            format!(
                "金额 {text:?} 无效：请输入元，最多两位小数 (enter yuan with at most two decimals, e.g. 12.50)."
            ),
        )
    };
    let text = text.trim();
    let (whole, decimals) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty()
        || whole.len() > 12
        || decimals.len() > 2
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !decimals.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(refuse());
    }
    let whole: i64 = whole.parse().map_err(|_| refuse())?;
    let cents: i64 = format!("{decimals:0<2}").parse().map_err(|_| refuse())?;
    Ok(whole * 100 + cents)
}

/// Unix seconds as `2026-12-05 17:21:13` (UTC+8).
pub fn time(unix: i64) -> String {
    let Ok(at) = OffsetDateTime::from_unix_timestamp(unix) else {
        return unix.to_string();
    };
    let at = at.to_offset(CHINA);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

pub fn time_ms(unix_ms: i64) -> String {
    time(unix_ms.div_euclid(1000))
}

/// The start of a day typed as `YYYY-MM-DD` (UTC+8), in Unix seconds.
pub fn parse_day(text: &str) -> Option<i64> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(text.trim(), &format).ok()?;
    Some(date.midnight().assume_offset(CHINA).unix_timestamp())
}

/// The start of today (UTC+8) of the Unix time `now`.
pub fn day_start(now: i64) -> i64 {
    now - (now + 8 * 3600).rem_euclid(86_400)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_round_trips_through_fen_without_floats() {
        assert_eq!(yuan(12345), "123.45");
        assert_eq!(yuan(5), "0.05");
        assert_eq!(parse_yuan("0.5", "amount"), Ok(50));
        assert_eq!(parse_yuan("12", "amount"), Ok(1200));
        assert_eq!(parse_yuan(" 1.01 ", "amount"), Ok(101));
        for bad in [
            "",
            "-1",
            "1.001",
            "1e3",
            "abc",
            ".5",
            "1,00",
            "9999999999999",
        ] {
            assert!(parse_yuan(bad, "amount").is_err(), "{bad}");
        }
    }

    #[test]
    fn times_read_in_china_standard_time() {
        assert_eq!(time(0), "1970-01-01 08:00:00");
        assert_eq!(parse_day("1970-01-02"), Some(86_400 - 8 * 3600));
        assert_eq!(day_start(86_400 - 8 * 3600 + 5), 86_400 - 8 * 3600);
        assert_eq!(day_start(86_400 - 8 * 3600 - 1), -8 * 3600);
    }
}
