//! Key handling and RSA-SHA256 (PKCS#1 v1.5) signatures, the only public-key scheme Ping++ uses:
//! merchants sign requests with it, and the platform signs responses and webhooks with it.
//!
//! Everything runs on aws-lc-rs (the same library rustls and sqlx's TLS already link): of the
//! RSA implementations measured for this project it signed fastest.
//!
//! The payment channels bring their own primitives (MD5 and HMAC-SHA256 signatures, AES-GCM and
//! AES-ECB notifications); those live in [`digest`] and [`cipher`] so every crate uses one
//! implementation of each.

pub mod certificate;
pub mod cipher;
pub mod digest;

pub use certificate::{Certificate, CertificateError};
pub use cipher::CipherError;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rsa::{KeyPair, KeySize, PublicKey};
use aws_lc_rs::signature::{
    KeyPair as _, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256,
};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use std::fmt;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("the text is not PEM: {0}")]
    NotPem(String),
    #[error("PEM label `{0}` is not an RSA key of the expected kind")]
    UnexpectedLabel(String),
    #[error("the key could not be parsed: {0}")]
    Rejected(String),
}

/// An RSA private key that signs with RSA-SHA256. `Debug` never shows key material.
pub struct SigningKey {
    pair: KeyPair,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

impl SigningKey {
    /// A fresh RSA-2048 key.
    pub fn generate() -> Result<Self, KeyError> {
        KeyPair::generate(KeySize::Rsa2048)
            .map(|pair| Self { pair })
            .map_err(|e| KeyError::Rejected(e.to_string()))
    }

    /// Accepts `PRIVATE KEY` (PKCS#8) and `RSA PRIVATE KEY` (PKCS#1) PEM.
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let (label, der) = decode_pem(pem)?;
        let pair = match label.as_str() {
            "PRIVATE KEY" => KeyPair::from_pkcs8(&der),
            "RSA PRIVATE KEY" => KeyPair::from_der(&der),
            other => return Err(KeyError::UnexpectedLabel(other.to_owned())),
        }
        .map_err(|e| KeyError::Rejected(e.to_string()))?;
        Ok(Self { pair })
    }

    /// PKCS#8 PEM, the form we persist.
    pub fn to_pkcs8_pem(&self) -> Result<String, KeyError> {
        let der: Pkcs8V1Der<'_> = self
            .pair
            .as_der()
            .map_err(|e| KeyError::Rejected(e.to_string()))?;
        encode_pem("PRIVATE KEY", der.as_ref())
    }

    /// The matching public key as SPKI (`BEGIN PUBLIC KEY`) PEM, what receivers configure.
    pub fn public_key_pem(&self) -> Result<String, KeyError> {
        let public = self.pair.public_key();
        let der: PublicKeyX509Der<'_> = public
            .as_der()
            .map_err(|e| KeyError::Rejected(e.to_string()))?;
        encode_pem("PUBLIC KEY", der.as_ref())
    }

    /// RSASSA-PKCS1-v1_5 with SHA-256 over `message`.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let mut signature = vec![0; self.pair.public_modulus_len()];
        let rng = aws_lc_rs::rand::SystemRandom::new();
        // Signing with a well-formed in-memory key and a correctly sized buffer cannot fail.
        #[allow(clippy::expect_used)]
        self.pair
            .sign(&RSA_PKCS1_SHA256, &rng, message, &mut signature)
            .expect("RSA signing with a valid key");
        signature
    }

    /// The signature in standard base64, as every Ping++ header carries it.
    pub fn sign_base64(&self, message: &[u8]) -> String {
        B64.encode(self.sign(message))
    }
}

/// An RSA public key that verifies RSA-SHA256 signatures. Parsed once, cheap to share.
pub struct VerifyingKey {
    key: ParsedPublicKey,
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VerifyingKey")
    }
}

impl VerifyingKey {
    /// Accepts `PUBLIC KEY` (SPKI) and `RSA PUBLIC KEY` (PKCS#1) PEM, the two forms merchants
    /// paste from `openssl rsa -pubout` and `-RSAPublicKey_out`.
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let (label, der) = decode_pem(pem)?;
        if label != "PUBLIC KEY" && label != "RSA PUBLIC KEY" {
            return Err(KeyError::UnexpectedLabel(label));
        }
        // PublicKey::from_der accepts both RFC 8017 and RFC 5280 encodings; re-encode as SPKI.
        let public = PublicKey::from_der(&der).map_err(|e| KeyError::Rejected(e.to_string()))?;
        let spki: PublicKeyX509Der<'_> = public
            .as_der()
            .map_err(|e| KeyError::Rejected(e.to_string()))?;
        Self::from_spki_der(spki.as_ref())
    }

    /// An RSA key in DER SubjectPublicKeyInfo, as certificates carry it.
    pub fn from_spki_der(spki: &[u8]) -> Result<Self, KeyError> {
        let key = ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, spki)
            .map_err(|e| KeyError::Rejected(e.to_string()))?;
        Ok(Self { key })
    }

    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        self.key.verify_sig(message, signature).is_ok()
    }

    /// Verifies a base64 signature; tolerates missing padding and line breaks, which some
    /// SDK examples and HTTP stacks introduce.
    pub fn verify_base64(&self, message: &[u8], signature_b64: &str) -> bool {
        match decode_base64_lenient(signature_b64) {
            Some(signature) => self.verify(message, &signature),
            None => false,
        }
    }
}

fn decode_base64_lenient(text: &str) -> Option<Vec<u8>> {
    let mut compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    while !compact.len().is_multiple_of(4) {
        compact.push('=');
    }
    B64.decode(compact.as_bytes()).ok()
}

pub(crate) fn decode_pem(pem: &str) -> Result<(String, Vec<u8>), KeyError> {
    // Keys pasted from Windows tools carry a BOM and CRLFs; pem-rfc7468 is strict about both.
    let cleaned = pem.trim_start_matches('\u{feff}').replace("\r\n", "\n");
    let (label, der) = pem_rfc7468::decode_vec(cleaned.trim().as_bytes())
        .map_err(|e| KeyError::NotPem(e.to_string()))?;
    Ok((label.to_owned(), der))
}

fn encode_pem(label: &str, der: &[u8]) -> Result<String, KeyError> {
    pem_rfc7468::encode_string(label, pem_rfc7468::LineEnding::LF, der)
        .map_err(|e| KeyError::Rejected(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_key_round_trips_through_pem_and_verifies() {
        let key = SigningKey::generate().expect("keygen");
        let reloaded = SigningKey::from_pem(&key.to_pkcs8_pem().expect("pem")).expect("reload");
        let verifier = VerifyingKey::from_pem(&key.public_key_pem().expect("pub")).expect("pub");
        let signature = reloaded.sign_base64(b"hello");
        assert!(verifier.verify_base64(b"hello", &signature));
        assert!(!verifier.verify_base64(b"hellO", &signature));
        assert!(!verifier.verify_base64(b"hello", "not base64!"));
    }

    #[test]
    fn accepts_pkcs1_public_and_private_keys() {
        let key = SigningKey::generate().expect("keygen");
        // `RSA PUBLIC KEY` holds the bare RFC 8017 structure, which the key pair exposes.
        let pkcs1 = encode_pem("RSA PUBLIC KEY", key.pair.public_key().as_ref()).expect("pem");
        let verifier = VerifyingKey::from_pem(&pkcs1).expect("PKCS#1 public key");
        assert!(verifier.verify_base64(b"m", &key.sign_base64(b"m")));
        // And with Windows line endings and a BOM, as keys pasted from some tools arrive.
        let pasted = format!("\u{feff}{}", pkcs1.replace('\n', "\r\n"));
        assert!(VerifyingKey::from_pem(&pasted).is_ok());
    }

    #[test]
    fn debug_output_hides_key_material() {
        let key = SigningKey::generate().expect("keygen");
        assert_eq!(format!("{key:?}"), "SigningKey(<redacted>)");
    }

    #[test]
    fn rejects_non_pem_and_wrong_labels() {
        assert!(matches!(
            VerifyingKey::from_pem("hello"),
            Err(KeyError::NotPem(_))
        ));
        let key = SigningKey::generate().expect("keygen");
        let private = key.to_pkcs8_pem().expect("pem");
        assert!(matches!(
            VerifyingKey::from_pem(&private),
            Err(KeyError::UnexpectedLabel(_))
        ));
    }
}
