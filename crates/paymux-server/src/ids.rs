//! Object ids in Ping++'s shapes: a prefix and 24 base62 characters (`ch_` + 24), or 24 digits
//! for recharges.
//!
//! Object ids start with the creation time in milliseconds (7 base62 digits, in an alphabet
//! that sorts in byte order), then 17 random characters (~100 bits). Lists order by
//! `(created, id)`, so objects created within the same second still list newest first.

use rand::RngExt;
use rand::distr::Alphanumeric;
use std::time::{SystemTime, UNIX_EPOCH};

/// Base62 digits in ASCII order, so that string order is numeric order.
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn alnum(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

fn time_prefix(millis: u64) -> String {
    let mut digits = [b'0'; 7];
    let mut rest = millis;
    for slot in digits.iter_mut().rev() {
        *slot = BASE62[(rest % 62) as usize];
        rest /= 62;
    }
    String::from_utf8_lossy(&digits).into_owned()
}

/// 24 characters: time-ordered prefix and random tail.
fn ordered() -> String {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    format!("{}{}", time_prefix(millis), alnum(17))
}

fn digits(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
        .collect()
}

pub fn account() -> String {
    format!("acct_{}", alnum(16))
}
pub fn app() -> String {
    format!("app_{}", alnum(16))
}
pub fn charge() -> String {
    format!("ch_{}", ordered())
}
pub fn refund() -> String {
    format!("re_{}", ordered())
}
pub fn webhook_endpoint() -> String {
    format!("we_{}", ordered())
}
pub fn webhook_delivery() -> String {
    format!("whd_{}", ordered())
}
pub fn webhook_attempt() -> String {
    format!("wha_{}", ordered())
}
pub fn channel_notification() -> String {
    format!("cnt_{}", ordered())
}
pub fn event() -> String {
    format!("evt_{}", ordered())
}
pub fn operator() -> String {
    format!("op_{}", ordered())
}
pub fn audit_entry() -> String {
    format!("aud_{}", ordered())
}
/// A console form's one-time id (its confirmation may be sent twice; it acts once).
pub fn form_token() -> String {
    alnum(24)
}
pub fn api_request() -> String {
    format!("iar_{}", alnum(24))
}
pub fn transaction_no() -> String {
    digits(28)
}
/// Recharge ids are 24 digits in Ping++ (e.g. `220180517753149716480010`).
pub fn recharge() -> String {
    format!("2{}", digits(23))
}
pub fn secret_key(livemode: bool) -> String {
    let mode = if livemode { "live" } else { "test" };
    format!("sk_{mode}_{}", alnum(24))
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_have_ping_plus_plus_shapes() {
        let ch = super::charge();
        assert_eq!(ch.len(), 27);
        assert!(ch[3..].chars().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(super::app().len(), 20);
        let recharge = super::recharge();
        assert_eq!(recharge.len(), 24);
        assert!(recharge.chars().all(|c| c.is_ascii_digit()));
        assert!(super::secret_key(false).starts_with("sk_test_"));
        assert!(super::time_prefix(1_000) < super::time_prefix(1_001));
        assert!(super::time_prefix(61) < super::time_prefix(62));
        assert_eq!(super::time_prefix(1_800_000_000_000).len(), 7);
        assert_eq!(super::secret_key(true).len(), 32);
    }
}
