//! X.509 certificates, as far as a channel's signing-certificate chain needs them: who issued a
//! certificate and whether that issuer's signature holds, when it is valid, whose it is (the
//! subject's common name) and the RSA key it certifies. Parsing is `x509-parser`'s; signatures are
//! checked with aws-lc-rs like everything else here.
//!
//! Path building, revocation and policy are left to the caller, who knows which chain to expect.

use crate::{KeyError, VerifyingKey};
use std::fmt;
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CertificateError {
    #[error("the text is not a PEM certificate: {0}")]
    NotPem(String),
    #[error("the certificate could not be parsed: {0}")]
    Malformed(String),
    #[error("the certificate was not issued by `{0}`")]
    WrongIssuer(String),
    #[error("`{0}` is not a certificate authority")]
    NotAnAuthority(String),
    #[error("the issuer's signature on the certificate does not hold: {0}")]
    BadSignature(String),
}

/// A parsed certificate (its DER kept; the fields read at construction).
#[derive(Clone, PartialEq, Eq)]
pub struct Certificate {
    der: Vec<u8>,
    subject: String,
    common_name: Option<String>,
    not_before: i64,
    not_after: i64,
    is_ca: bool,
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

fn parse(der: &[u8]) -> Result<X509Certificate<'_>, CertificateError> {
    match X509Certificate::from_der(der) {
        Ok(([], cert)) => Ok(cert),
        Ok(_) => Err(CertificateError::Malformed(
            "bytes after the certificate".into(),
        )),
        Err(error) => Err(CertificateError::Malformed(error.to_string())),
    }
}

impl Certificate {
    /// One `CERTIFICATE` in strict PEM (RFC 7468); a BOM and CRLF line ends are tolerated.
    pub fn from_pem(pem: &str) -> Result<Self, CertificateError> {
        let (label, der) =
            crate::decode_pem(pem).map_err(|e| CertificateError::NotPem(e.to_string()))?;
        if label != "CERTIFICATE" {
            return Err(CertificateError::NotPem(format!(
                "the PEM label is `{label}`, not `CERTIFICATE`"
            )));
        }
        Self::from_der(der)
    }

    pub fn from_der(der: Vec<u8>) -> Result<Self, CertificateError> {
        let cert = parse(&der)?;
        let common_name = cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .map(str::to_owned);
        let (subject, not_before, not_after, is_ca) = (
            cert.subject().to_string(),
            cert.validity().not_before.timestamp(),
            cert.validity().not_after.timestamp(),
            cert.is_ca(),
        );
        Ok(Self {
            der,
            subject,
            common_name,
            not_before,
            not_after,
            is_ca,
        })
    }

    /// The subject's distinguished name, for messages.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The subject's (first) common name.
    pub fn common_name(&self) -> Option<&str> {
        self.common_name.as_deref()
    }

    /// Whether the certificate may issue others (basic constraints, CA).
    pub fn is_ca(&self) -> bool {
        self.is_ca
    }

    /// Whether `unix_secs` lies within the certificate's validity period.
    pub fn valid_at(&self, unix_secs: i64) -> bool {
        (self.not_before..=self.not_after).contains(&unix_secs)
    }

    /// Whether `issuer`, a certificate authority, issued this certificate: the issuer names
    /// match and the issuer's key verifies the signature.
    pub fn issued_by(&self, issuer: &Certificate) -> Result<(), CertificateError> {
        if !issuer.is_ca {
            return Err(CertificateError::NotAnAuthority(issuer.subject.clone()));
        }
        let (cert, authority) = (parse(&self.der)?, parse(&issuer.der)?);
        if cert.issuer().as_raw() != authority.subject().as_raw() {
            return Err(CertificateError::WrongIssuer(issuer.subject.clone()));
        }
        // The algorithm inside the signed part must be the one the signature claims, or a
        // signature could be read under an algorithm its signer never chose.
        if cert.signature_algorithm != cert.tbs_certificate.signature {
            return Err(CertificateError::Malformed(
                "the signature algorithm differs from the signed one".into(),
            ));
        }
        cert.verify_signature(Some(authority.public_key()))
            .map_err(|e| CertificateError::BadSignature(e.to_string()))
    }

    /// The RSA key the certificate certifies, verifying RSA-SHA256.
    pub fn verifying_key(&self) -> Result<VerifyingKey, KeyError> {
        let cert = parse(&self.der).map_err(|e| KeyError::Rejected(e.to_string()))?;
        VerifyingKey::from_spki_der(cert.public_key().raw)
    }
}
