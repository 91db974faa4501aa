//! Object ids in Ping++'s shapes: a prefix and random base62 (`ch_` + 24), or 24 digits for recharges.

use rand::RngExt;
use rand::distr::Alphanumeric;

fn alnum(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
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
    format!("ch_{}", alnum(24))
}
pub fn refund() -> String {
    format!("re_{}", alnum(24))
}
pub fn event() -> String {
    format!("evt_{}", alnum(24))
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
        assert_eq!(super::secret_key(true).len(), 32);
    }
}
