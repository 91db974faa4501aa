//! The simulator's certificate authority: a root and an intermediate ("middle") of its own, and
//! the signing certificate its answers and notifications carry as `signPubKeyCert`, which can
//! be replaced at any time ([`super::UnionpaySimulator::rotate_signing_certificate`]) as
//! UnionPay replaces its own. A gateway that trusts the root and the intermediate keeps
//! verifying across the change; one that pinned the old key does not.

use super::SimulatorError;
use paymux_channels::{Params, unionpay};
use paymux_crypto::SigningKey;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    PKCS_RSA_SHA256, SerialNumber,
};
use std::sync::Arc;

const DAY_SECS: i64 = 86_400;

/// What signs answers now: the key, its certificate and the certificate's serial (`certId`).
pub(crate) struct Signer {
    key: Arc<SigningKey>,
    pub(crate) cert_id: String,
    pub(crate) cert_pem: String,
    pub(crate) public_key_pem: String,
}

impl Signer {
    /// `params` with `signPubKeyCert`, `certId` and `signature` set, as UnionPay signs.
    pub(crate) fn sign(&self, mut params: Params) -> Params {
        params.insert("signPubKeyCert", &self.cert_pem);
        unionpay::sign(&params, &self.cert_id, &self.key).unwrap_or(params)
    }
}

pub(crate) struct Authority {
    pub(crate) root_pem: String,
    pub(crate) middle_pem: String,
    middle: Issuer<'static, KeyPair>,
}

fn key_pair(key: &SigningKey) -> Result<KeyPair, SimulatorError> {
    let pem = key.to_pkcs8_pem()?;
    KeyPair::from_pem_and_sign_algo(&pem, &PKCS_RSA_SHA256).map_err(certificate_error)
}

fn certificate_error(error: rcgen::Error) -> SimulatorError {
    SimulatorError::Certificate(error.to_string())
}

fn params(
    common_name: &str,
    authority: bool,
    now_secs: i64,
    days: i64,
) -> Result<CertificateParams, SimulatorError> {
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(certificate_error)?;
    params
        .distinguished_name
        .push(DnType::OrganizationName, "China UnionPay (simulated)");
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    let at = |secs: i64| {
        time::OffsetDateTime::from_unix_timestamp(secs)
            .map_err(|e| SimulatorError::Certificate(e.to_string()))
    };
    // Valid from a day back, so a gateway whose clock is a little behind still accepts it.
    params.not_before = at(now_secs - DAY_SECS)?;
    params.not_after = at(now_secs + days * DAY_SECS)?;
    if authority {
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    } else {
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::ContentCommitment,
        ];
    }
    Ok(params)
}

impl Authority {
    /// A fresh root (20 years) and intermediate (10 years), with keys of their own.
    pub(crate) fn new(now_secs: i64) -> Result<Self, SimulatorError> {
        let root_key = key_pair(&SigningKey::generate()?)?;
        let root_params = params("UnionPay Simulated Root", true, now_secs, 20 * 365)?;
        let root_pem = root_params
            .self_signed(&root_key)
            .map_err(certificate_error)?
            .pem();
        let root = Issuer::new(root_params, root_key);
        let middle_key = key_pair(&SigningKey::generate()?)?;
        let middle_params = params("UnionPay Simulated OCA", true, now_secs, 10 * 365)?;
        let middle_pem = middle_params
            .signed_by(&middle_key, &root)
            .map_err(certificate_error)?
            .pem();
        Ok(Self {
            root_pem,
            middle_pem,
            middle: Issuer::new(middle_params, middle_key),
        })
    }

    /// A signing certificate (5 years) for `key`, numbered `serial`, owned by UnionPay as its
    /// common name says (`…@…@中国银联股份有限公司@…`).
    pub(crate) fn issue(
        &self,
        key: Arc<SigningKey>,
        serial: u64,
        now_secs: i64,
    ) -> Result<Signer, SimulatorError> {
        let common_name = format!("sim@{serial}@{}@00000001", unionpay::OWNER);
        let mut leaf = params(&common_name, false, now_secs, 5 * 365)?;
        leaf.serial_number = Some(SerialNumber::from(serial));
        // Trimmed as the signing trims every value, so the field sent is this text exactly.
        let cert_pem = leaf
            .signed_by(&key_pair(&key)?, &self.middle)
            .map_err(certificate_error)?
            .pem()
            .trim_end()
            .to_owned();
        Ok(Signer {
            public_key_pem: key.public_key_pem()?,
            key,
            cert_id: serial.to_string(),
            cert_pem,
        })
    }
}
