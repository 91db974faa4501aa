//! Loading channel keys as merchants actually paste them.
//!
//! [`paymux_crypto`] reads strict RFC 7468 PEM (64-character lines). The channels hand out keys in
//! looser shapes: Alipay's key tool gives bare base64 DER with no armour at all (PKCS#8 for
//! private keys, SPKI for public keys), and its SDK fixtures put a whole key on one PEM line. These
//! helpers normalise any of those into strict PEM and then use the ordinary loaders.

use crate::error::{Error, Result};
use paymux_crypto::{Certificate, KeyError, SigningKey, VerifyingKey};

/// A private key from PEM (any line width; `PRIVATE KEY` or `RSA PRIVATE KEY`) or from bare
/// base64 DER, tried as PKCS#8 first and PKCS#1 second.
pub fn signing_key(text: &str) -> Result<SigningKey> {
    match split_pem(text) {
        Some((label, body)) => Ok(SigningKey::from_pem(&rewrap(label, &body))?),
        None => {
            let body = compact_base64(text)?;
            SigningKey::from_pem(&rewrap("PRIVATE KEY", &body))
                .or_else(|_| SigningKey::from_pem(&rewrap("RSA PRIVATE KEY", &body)))
                .map_err(Error::from)
        }
    }
}

/// A public key from PEM (any line width; `PUBLIC KEY` or `RSA PUBLIC KEY`) or from bare base64
/// DER (SPKI or PKCS#1; both parse under the `PUBLIC KEY` label).
pub fn verifying_key(text: &str) -> Result<VerifyingKey> {
    match split_pem(text) {
        Some((label, body)) => Ok(VerifyingKey::from_pem(&rewrap(label, &body))?),
        None => Ok(VerifyingKey::from_pem(&rewrap(
            "PUBLIC KEY",
            &compact_base64(text)?,
        ))?),
    }
}

/// A certificate from PEM (any line width, CRLF line ends, as UnionPay's `.cer` files and
/// `signPubKeyCert` carry it) or bare base64 DER.
pub fn certificate(text: &str) -> Result<Certificate> {
    let body = match split_pem(text) {
        Some(("CERTIFICATE", body)) => body,
        Some((label, _)) => {
            return Err(Error::Certificate(format!(
                "the PEM label is `{label}`, not `CERTIFICATE`"
            )));
        }
        None => compact_base64(text)?,
    };
    Certificate::from_pem(&rewrap("CERTIFICATE", &body))
        .map_err(|e| Error::Certificate(e.to_string()))
}

/// `(label, base64 body without whitespace)` when `text` has PEM armour.
fn split_pem(text: &str) -> Option<(&str, String)> {
    let text = text.trim_start_matches('\u{feff}').trim();
    let rest = text.strip_prefix("-----BEGIN ")?;
    let (label, rest) = rest.split_once("-----")?;
    let end = format!("-----END {label}-----");
    let (body, _) = rest.split_once(end.as_str())?;
    let body = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    Some((label, body))
}

fn compact_base64(text: &str) -> Result<String> {
    let body: String = text
        .trim_start_matches('\u{feff}')
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let is_base64 = !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
    if is_base64 {
        Ok(body)
    } else {
        Err(Error::Key(KeyError::NotPem(
            "neither PEM nor bare base64".to_owned(),
        )))
    }
}

fn rewrap(label: &str, body: &str) -> String {
    let mut pem = format!("-----BEGIN {label}-----\n");
    // ASCII only (checked or produced by base64), so byte chunks are char boundaries.
    for line in body.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {label}-----\n"));
    pem
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_pem_with_any_line_width_and_bare_base64() {
        let key = SigningKey::generate().expect("keygen");
        let public_pem = key.public_key_pem().expect("pem");
        let (_, body) = split_pem(&public_pem).expect("armour");
        let one_line = format!("-----BEGIN PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY-----");

        for text in [public_pem.as_str(), one_line.as_str(), body.as_str()] {
            let verifier = verifying_key(text).expect("public key");
            assert!(verifier.verify_base64(b"m", &key.sign_base64(b"m")));
        }

        let private_pem = key.to_pkcs8_pem().expect("pem");
        let (_, private_body) = split_pem(&private_pem).expect("armour");
        let reloaded = signing_key(&private_body).expect("bare PKCS#8");
        let verifier = verifying_key(&public_pem).expect("public key");
        assert!(verifier.verify_base64(b"m", &reloaded.sign_base64(b"m")));
    }

    #[test]
    fn rejects_garbage() {
        assert!(matches!(verifying_key("not a key!"), Err(Error::Key(_))));
        assert!(matches!(verifying_key(""), Err(Error::Key(_))));
        assert!(matches!(signing_key("QUJD"), Err(Error::Key(_))));
    }
}
