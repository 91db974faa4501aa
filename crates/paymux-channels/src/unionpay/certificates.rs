//! Which key verifies a UnionPay answer (docs/channels/unionpay.md, "Signing"). Every answer and
//! notification of 5.1.0 carries UnionPay's signing certificate as `signPubKeyCert`; it is
//! trusted, as the acp SDK trusts it, when
//!
//! * the configured intermediate ("middle") certificate issued it, and the configured root
//!   issued the intermediate;
//! * all three are valid now;
//! * its owner is UnionPay: the subject's common name reads `…@…@OWNER@…`, and OWNER is
//!   中国银联股份有限公司 (UnionPay's test environment signs as `00040000:SIGN`, accepted only
//!   where the test owner is allowed).
//!
//! So UnionPay can replace its signing certificate (it does, routinely) without anyone
//! reconfiguring the gateway: only the root and the intermediate are configured.

use super::verify;
use crate::error::{Error, Result};
use crate::{Params, keys};
use paymux_crypto::{Certificate, VerifyingKey};

/// The owner UnionPay's production signing certificates name.
pub const OWNER: &str = "中国银联股份有限公司";
/// The owner the signing certificates of UnionPay's test environment name.
pub const TEST_OWNER: &str = "00040000:SIGN";

/// The trusted root and intermediate certificates, and whose signing certificates they vouch
/// for.
#[derive(Debug, Clone)]
pub struct CertificateChain {
    root: Certificate,
    middle: Certificate,
    accept_test_owner: bool,
}

/// The owner part of a signing certificate's common name (the third `@`-separated part), as
/// the acp SDK reads it.
pub fn owner(common_name: &str) -> Option<&str> {
    common_name.split('@').nth(2)
}

impl CertificateChain {
    /// The root and intermediate as UnionPay hands them out (PEM or base64 DER). The root must
    /// have issued the intermediate.
    pub fn new(root: &str, middle: &str, accept_test_owner: bool) -> Result<Self> {
        let root = keys::certificate(root)?;
        let middle = keys::certificate(middle)?;
        middle
            .issued_by(&root)
            .map_err(|e| Error::Certificate(format!("the intermediate: {e}")))?;
        if !middle.is_ca() {
            return Err(Error::Certificate(format!(
                "the intermediate `{}` is not a certificate authority",
                middle.subject()
            )));
        }
        Ok(Self {
            root,
            middle,
            accept_test_owner,
        })
    }

    /// The key in `signing_cert` (an answer's `signPubKeyCert`), once the certificate is shown
    /// to be UnionPay's at `now` (Unix seconds).
    pub fn signing_key(&self, signing_cert: &str, now: i64) -> Result<VerifyingKey> {
        let cert = keys::certificate(signing_cert)?;
        let refuse = |why: String| Err(Error::Certificate(why));
        for (role, each) in [
            ("signing", &cert),
            ("intermediate", &self.middle),
            ("root", &self.root),
        ] {
            if !each.valid_at(now) {
                return refuse(format!(
                    "the {role} certificate `{}` is not valid now",
                    each.subject()
                ));
            }
        }
        cert.issued_by(&self.middle)
            .map_err(|e| Error::Certificate(format!("the signing certificate: {e}")))?;
        let owner = cert.common_name().and_then(owner).unwrap_or_default();
        if owner != OWNER && !(self.accept_test_owner && owner == TEST_OWNER) {
            return refuse(format!(
                "the signing certificate `{}` is not UnionPay's",
                cert.subject()
            ));
        }
        Ok(cert.verifying_key()?)
    }

    /// Verifies an answer or notification under the key of its own `signPubKeyCert`.
    pub fn verify(&self, params: &Params, now: i64) -> Result<()> {
        let cert = params
            .get("signPubKeyCert")
            .filter(|cert| !cert.is_empty())
            .ok_or_else(|| Error::MissingField("signPubKeyCert".to_owned()))?;
        verify(params, &self.signing_key(cert, now)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unionpay::{SIGN_METHOD_RSA, VERSION, sign};
    use paymux_crypto::SigningKey;
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, PKCS_RSA_SHA256,
    };

    const NOW: i64 = 1_800_000_000;
    const DAY: i64 = 86_400;

    fn rsa_pair() -> (SigningKey, KeyPair) {
        let key = SigningKey::generate().expect("key");
        let pem = key.to_pkcs8_pem().expect("pem");
        let pair = KeyPair::from_pem_and_sign_algo(&pem, &PKCS_RSA_SHA256).expect("pair");
        (key, pair)
    }

    fn params(cn: &str, ca: bool, from: i64, to: i64) -> CertificateParams {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.distinguished_name.push(DnType::CommonName, cn);
        params.is_ca = if ca {
            IsCa::Ca(BasicConstraints::Unconstrained)
        } else {
            IsCa::NoCa
        };
        let at = |unix| time::OffsetDateTime::from_unix_timestamp(unix).expect("time");
        params.not_before = at(from);
        params.not_after = at(to);
        params
    }

    /// A root and an intermediate like UnionPay's, able to issue signing certificates.
    struct Authority {
        root_pem: String,
        middle_pem: String,
        middle: Issuer<'static, KeyPair>,
    }

    impl Authority {
        fn new() -> Self {
            let (_, root_pair) = rsa_pair();
            let root_params = params("Test Root", true, NOW - 1000 * DAY, NOW + 1000 * DAY);
            let root_pem = root_params.self_signed(&root_pair).expect("root").pem();
            let root = Issuer::new(root_params, root_pair);
            let (_, middle_pair) = rsa_pair();
            let middle_params = params("Test OCA", true, NOW - 500 * DAY, NOW + 500 * DAY);
            let middle_pem = middle_params
                .signed_by(&middle_pair, &root)
                .expect("middle")
                .pem();
            Self {
                root_pem,
                middle_pem,
                middle: Issuer::new(middle_params, middle_pair),
            }
        }

        /// A signing certificate for a fresh key, and that key.
        fn issue(&self, cn: &str, from: i64, to: i64) -> (String, SigningKey) {
            let (key, pair) = rsa_pair();
            let cert = params(cn, false, from, to)
                .signed_by(&pair, &self.middle)
                .expect("leaf");
            (cert.pem(), key)
        }

        fn chain(&self, accept_test_owner: bool) -> CertificateChain {
            CertificateChain::new(&self.root_pem, &self.middle_pem, accept_test_owner)
                .expect("chain")
        }
    }

    fn unionpay_cn() -> String {
        format!("041@Z12@{OWNER}@00000001")
    }

    fn answer(cert_pem: &str, key: &SigningKey) -> Params {
        let params = Params::new()
            .with("version", VERSION)
            .with("encoding", "UTF-8")
            .with("signMethod", SIGN_METHOD_RSA)
            .with("respCode", "00")
            .with("signPubKeyCert", cert_pem);
        sign(&params, "69629715588", key).expect("sign")
    }

    #[test]
    fn an_answer_signed_under_a_certificate_the_chain_vouches_for_verifies() {
        let authority = Authority::new();
        let (cert, key) = authority.issue(&unionpay_cn(), NOW - DAY, NOW + 365 * DAY);
        let chain = authority.chain(false);
        chain.verify(&answer(&cert, &key), NOW).expect("verifies");
        // A rotated certificate (new key, same chain) needs no new configuration.
        let (next, next_key) = authority.issue(&unionpay_cn(), NOW, NOW + 730 * DAY);
        chain
            .verify(&answer(&next, &next_key), NOW + 1)
            .expect("the rotated certificate verifies");
        // CRLF line ends, as a URL-encoded notification may carry them.
        chain
            .verify(&answer(&cert.replace('\n', "\r\n"), &key), NOW)
            .expect("CRLF PEM");
    }

    #[test]
    fn what_the_chain_does_not_vouch_for_is_refused() {
        let authority = Authority::new();
        let chain = authority.chain(false);
        let (cert, key) = authority.issue(&unionpay_cn(), NOW - DAY, NOW + DAY);

        // Signed by another key than the certificate's.
        let (other_key, _) = rsa_pair();
        assert_eq!(
            chain.verify(&answer(&cert, &other_key), NOW),
            Err(Error::SignatureMismatch)
        );
        // Tampered after signing.
        let mut tampered = answer(&cert, &key);
        tampered.insert("respCode", "01");
        assert_eq!(chain.verify(&tampered, NOW), Err(Error::SignatureMismatch));
        // Expired, or not yet valid.
        for at in [NOW + 2 * DAY, NOW - 2 * DAY] {
            assert!(
                matches!(chain.verify(&answer(&cert, &key), at), Err(Error::Certificate(why)) if why.contains("not valid now")),
                "{at}"
            );
        }
        // Issued by another authority with the same names.
        let stranger = Authority::new();
        let (forged, forged_key) = stranger.issue(&unionpay_cn(), NOW - DAY, NOW + DAY);
        assert!(matches!(
            chain.verify(&answer(&forged, &forged_key), NOW),
            Err(Error::Certificate(why)) if why.contains("signature")
        ));
        // Someone else's certificate from the right authority.
        let (theirs, their_key) =
            authority.issue("041@Z12@某某科技有限公司@00000001", NOW - DAY, NOW + DAY);
        assert!(matches!(
            chain.verify(&answer(&theirs, &their_key), NOW),
            Err(Error::Certificate(why)) if why.contains("not UnionPay's")
        ));
        // No certificate at all.
        let mut bare = answer(&cert, &key);
        bare.remove("signPubKeyCert");
        assert_eq!(
            chain.verify(&bare, NOW),
            Err(Error::MissingField("signPubKeyCert".into()))
        );
        // Not a certificate.
        assert!(matches!(
            chain.verify(
                &answer(
                    "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----",
                    &key
                ),
                NOW
            ),
            Err(Error::Certificate(_))
        ));
    }

    #[test]
    fn the_test_environment_owner_only_where_allowed() {
        let authority = Authority::new();
        let (cert, key) = authority.issue(
            &format!("041@Z12@{TEST_OWNER}@00000001"),
            NOW - DAY,
            NOW + DAY,
        );
        assert!(matches!(
            authority.chain(false).verify(&answer(&cert, &key), NOW),
            Err(Error::Certificate(_))
        ));
        authority
            .chain(true)
            .verify(&answer(&cert, &key), NOW)
            .expect("accepted in test mode");
    }

    #[test]
    fn a_chain_whose_root_did_not_issue_the_intermediate_is_refused() {
        let (one, other) = (Authority::new(), Authority::new());
        assert!(matches!(
            CertificateChain::new(&one.root_pem, &other.middle_pem, false),
            Err(Error::Certificate(why)) if why.starts_with("the intermediate")
        ));
        // A signing certificate is no authority.
        let (leaf, _) = one.issue(&unionpay_cn(), NOW - DAY, NOW + DAY);
        assert!(matches!(
            CertificateChain::new(&one.middle_pem, &leaf, false),
            Err(Error::Certificate(_))
        ));
        assert!(CertificateChain::new("not a certificate", &one.middle_pem, false).is_err());
    }

    #[test]
    fn the_owner_is_the_third_part_of_the_common_name() {
        assert_eq!(owner(&unionpay_cn()), Some(OWNER));
        assert_eq!(owner("041@Z12"), None);
        assert_eq!(owner(OWNER), None);
    }
}
