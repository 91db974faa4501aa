//! `application/x-www-form-urlencoded`, the body of Alipay and UnionPay requests and
//! notifications. Decoding happens exactly once (docs/channels/alipay.md: decoding a second time breaks
//! values holding `%`), and a repeated name is an error rather than "last one wins", because the
//! signature covers a single value per name.

use crate::Params;
use crate::error::{Error, Result};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode, utf8_percent_encode};

/// Everything but the RFC 3986 unreserved characters is escaped.
const ESCAPED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Decodes a UTF-8 form body (`+` is a space, `%XX` a byte). A pair without `=` is a name with
/// an empty value; empty pairs (`a=1&&b=2`) are skipped.
pub fn parse(body: &[u8]) -> Result<Params> {
    parse_with(body, |bytes| String::from_utf8(bytes).ok())
}

/// [`parse`] for a body in another character set: `text` turns each name's and value's bytes
/// (once percent-decoded) into text, or `None` when they are not in that set.
pub fn parse_with(body: &[u8], text: fn(Vec<u8>) -> Option<String>) -> Result<Params> {
    let mut params = Params::new();
    for pair in body.split(|&b| b == b'&').filter(|pair| !pair.is_empty()) {
        let mut parts = pair.splitn(2, |&b| b == b'=');
        let name = decode(parts.next().unwrap_or_default(), text)?;
        let value = parts.next().unwrap_or_default();
        if name.is_empty() {
            return Err(Error::Form("a pair has no name".to_owned()));
        }
        if params.contains(&name) {
            return Err(Error::DuplicateField(name));
        }
        let value = decode(value, text)?;
        params.insert(name, value);
    }
    Ok(params)
}

fn decode(raw: &[u8], text: fn(Vec<u8>) -> Option<String>) -> Result<String> {
    let plus_as_space: Vec<u8> = raw
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    let bytes: Vec<u8> = percent_decode(&plus_as_space).collect();
    text(bytes).ok_or_else(|| Error::Form("a value is not in the form's character set".to_owned()))
}

/// Encodes `params` in name order, escaping everything but unreserved characters (spaces become
/// `%20`, which every form decoder reads as a space).
pub fn encode(params: &Params) -> String {
    let mut out = String::new();
    for (name, value) in params.iter() {
        if !out.is_empty() {
            out.push('&');
        }
        out.extend(utf8_percent_encode(name, ESCAPED));
        out.push('=');
        out.extend(utf8_percent_encode(value, ESCAPED));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_once() {
        let params = parse(b"a=1+2&b=%25E4&c=%E4%B8%AD&d=&e&&f=x%3Dy").expect("parse");
        assert_eq!(params.get("a"), Some("1 2"));
        // `%25E4` is the three characters `%E4`, not the byte 0xE4.
        assert_eq!(params.get("b"), Some("%E4"));
        assert_eq!(params.get("c"), Some("中"));
        assert_eq!(params.get("d"), Some(""));
        assert_eq!(params.get("e"), Some(""));
        assert_eq!(params.get("f"), Some("x=y"));
        assert_eq!(params.len(), 6);
    }

    #[test]
    fn rejects_duplicates_bad_utf8_and_nameless_pairs() {
        assert_eq!(parse(b"a=1&a=2"), Err(Error::DuplicateField("a".into())));
        assert!(matches!(parse(b"a=%FF"), Err(Error::Form(_))));
        assert!(matches!(parse(b"=1"), Err(Error::Form(_))));
    }

    #[test]
    fn encode_round_trips() {
        let params = Params::new()
            .with("subject", "语雀空间 500人规模")
            .with(
                "fund_bill_list",
                r#"[{"amount":"0.10","fundChannel":"ALIPAYACCOUNT"}]"#,
            )
            .with("sign", "a+b/c==")
            .with("pct", "100%");
        let body = encode(&params);
        assert!(!body.contains(' ') && !body.contains('+'));
        assert_eq!(parse(body.as_bytes()), Ok(params));
    }
}
