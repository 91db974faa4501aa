//! Alipay amounts are yuan strings with at most two decimals (`"88.88"`); paymux amounts are
//! integer fen. The conversion is done on the digits, never through floating point.

use crate::error::{Error, Result};

/// `8888` → `"88.88"`, `1` → `"0.01"`, `100` → `"1.00"`.
pub fn format_yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let abs = fen.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// `"88.88"` → `8888`, `"1"` → `100`, `"0.5"` → `50`. Rejects signs, exponents, more than two
/// decimals and anything that overflows.
pub fn parse_yuan(text: &str) -> Result<i64> {
    let invalid = || Error::Amount(text.to_owned());
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, fraction),
        None => (text, ""),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) || fraction.len() > 2 {
        return Err(invalid());
    }
    if text.contains('.') && fraction.is_empty() {
        return Err(invalid());
    }
    let whole: i64 = whole.parse().map_err(|_| invalid())?;
    let cents: i64 = match fraction.len() {
        0 => 0,
        1 => fraction.parse::<i64>().map_err(|_| invalid())? * 10,
        _ => fraction.parse().map_err(|_| invalid())?,
    };
    whole
        .checked_mul(100)
        .and_then(|fen| fen.checked_add(cents))
        .ok_or_else(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_fen_as_yuan() {
        assert_eq!(format_yuan(8888), "88.88");
        assert_eq!(format_yuan(1), "0.01");
        assert_eq!(format_yuan(100), "1.00");
        assert_eq!(format_yuan(0), "0.00");
        assert_eq!(format_yuan(10_000_000_000), "100000000.00");
        assert_eq!(format_yuan(-5), "-0.05");
        assert_eq!(format_yuan(i64::MIN), "-92233720368547758.08");
    }

    #[test]
    fn parses_yuan_as_fen() {
        assert_eq!(parse_yuan("88.88"), Ok(8888));
        assert_eq!(parse_yuan("0.01"), Ok(1));
        assert_eq!(parse_yuan("1"), Ok(100));
        assert_eq!(parse_yuan("0.5"), Ok(50));
        assert_eq!(parse_yuan("100000000.00"), Ok(10_000_000_000));
        for bad in [
            "",
            ".5",
            "1.",
            "1.234",
            "-1",
            "+1",
            "1e2",
            "1,00",
            " 1",
            "99999999999999999999",
        ] {
            assert_eq!(parse_yuan(bad), Err(Error::Amount(bad.into())), "{bad}");
        }
    }
}
