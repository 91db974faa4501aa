//! Channel timestamps. Every Chinese channel writes local time in China (UTC+08:00, no daylight
//! saving, so a fixed offset is exact and no time-zone database is needed); paymux itself stores
//! unix seconds. The formats:
//!
//! * `yyyyMMddHHmmss`: WeChat v2 `time_start`/`time_expire`/`time_end`, UnionPay `txnTime`;
//! * `yyyy-MM-dd HH:mm:ss`: Alipay `timestamp`, `gmt_payment`, `notify_time`, and WeChat v2 refund
//!   `success_time`.

use crate::error::{Error, Result};
use time::format_description::BorrowedFormatItem;
use time::macros::{format_description, offset};
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// China Standard Time.
pub const OFFSET: UtcOffset = offset!(+8);

const COMPACT: &[BorrowedFormatItem<'static>] =
    format_description!("[year][month][day][hour][minute][second]");
const DASHED: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");

fn local(unix: i64) -> Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(unix)
        .map(|t| t.to_offset(OFFSET))
        .map_err(|_| Error::Time(unix.to_string()))
}

fn format(unix: i64, items: &[BorrowedFormatItem<'_>]) -> Result<String> {
    local(unix)?
        .format(items)
        .map_err(|_| Error::Time(unix.to_string()))
}

fn parse(text: &str, items: &[BorrowedFormatItem<'_>]) -> Result<i64> {
    PrimitiveDateTime::parse(text, items)
        .map(|t| t.assume_offset(OFFSET).unix_timestamp())
        .map_err(|_| Error::Time(text.to_owned()))
}

/// `yyyyMMddHHmmss` in Beijing time.
pub fn format_compact(unix: i64) -> Result<String> {
    format(unix, COMPACT)
}

/// Reads `yyyyMMddHHmmss` as Beijing time.
pub fn parse_compact(text: &str) -> Result<i64> {
    parse(text, COMPACT)
}

/// `yyyy-MM-dd HH:mm:ss` in Beijing time.
pub fn format_dashed(unix: i64) -> Result<String> {
    format(unix, DASHED)
}

/// Reads `yyyy-MM-dd HH:mm:ss` as Beijing time.
pub fn parse_dashed(text: &str) -> Result<i64> {
    parse(text, DASHED)
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2018-06-08 10:34:56 in Beijing.
    const T: i64 = 1_528_425_296;

    #[test]
    fn formats_in_beijing_time() {
        assert_eq!(format_compact(T).as_deref(), Ok("20180608103456"));
        assert_eq!(format_dashed(T).as_deref(), Ok("2018-06-08 10:34:56"));
    }

    #[test]
    fn parses_back() {
        assert_eq!(parse_compact("20180608103456"), Ok(T));
        assert_eq!(parse_dashed("2018-06-08 10:34:56"), Ok(T));
    }

    #[test]
    fn rejects_malformed_times() {
        assert!(parse_compact("2018060810345").is_err());
        assert!(parse_dashed("2018-13-08 10:34:56").is_err());
        assert!(format_compact(i64::MAX).is_err());
    }
}
