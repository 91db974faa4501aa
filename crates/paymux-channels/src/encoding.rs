//! Small encodings shared by the channel modules: hex in both cases, lenient base64, and the
//! `k=v&k=v` join most signature recipes use.

use crate::error::{Error, Result};
use base64::Engine;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};

pub(crate) use paymux_crypto::digest::{hex_lower, hex_upper};

/// Standard base64 with padding, what every channel sends.
pub(crate) fn b64_encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Standard-alphabet base64, ignoring ASCII whitespace (line breaks from XML or form fields)
/// and missing padding. `what` names the field in the error.
pub(crate) fn b64_decode(text: &str, what: &'static str) -> Result<Vec<u8>> {
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    LENIENT
        .decode(compact.as_bytes())
        .map_err(|_| Error::Base64(what))
}

/// Joins `name=value` pairs with `&`, in the order given, with no escaping of any kind: the
/// channels sign the raw values.
pub(crate) fn join_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::new();
    for (name, value) in pairs {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_in_both_cases() {
        assert_eq!(hex_lower(&[0x00, 0xab, 0x9f]), "00ab9f");
        assert_eq!(hex_upper(&[0x00, 0xab, 0x9f]), "00AB9F");
    }

    #[test]
    fn base64_decode_is_lenient_about_layout_only() {
        assert_eq!(b64_decode("aGVs\nbG8=", "x"), Ok(b"hello".to_vec()));
        assert_eq!(b64_decode("aGVsbG8", "x"), Ok(b"hello".to_vec()));
        assert_eq!(b64_decode("aGVsbG8*", "x"), Err(Error::Base64("x")));
    }

    #[test]
    fn join_pairs_does_not_escape() {
        assert_eq!(join_pairs([("a", "1 2"), ("b", "x&y")]), "a=1 2&b=x&y");
        assert_eq!(join_pairs([]), "");
    }
}
