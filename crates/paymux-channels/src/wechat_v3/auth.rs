//! Request signing (docs/channels/wechat-v3.md, as wechatpay-go's `WechatPayCredentials` and
//! wechatpay-java's `WechatPay2Credential` build it).

use super::verify::check_clock;
use crate::error::{Error, Result};
use paymux_crypto::{SigningKey, VerifyingKey};

/// The scheme of the `Authorization` header, which is also the only signature type WeChat uses
/// in `Wechatpay-Signature-Type`.
pub const AUTH_SCHEME: &str = "WECHATPAY2-SHA256-RSA2048";

/// The parts of an HTTP request that the signature covers besides the timestamp and nonce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignedRequest<'a> {
    /// Upper case, as sent: `GET`, `POST`…
    pub method: &'a str,
    /// The raw path and query exactly as sent, without scheme or host, e.g.
    /// `/v3/pay/transactions/id/4200…?mchid=1230000109`.
    pub canonical_url: &'a str,
    /// The exact body bytes; empty for `GET`.
    pub body: &'a [u8],
}

/// `METHOD\nURL\nTIMESTAMP\nNONCE\nBODY\n`, the signed message.
pub fn request_message(request: &SignedRequest<'_>, timestamp: i64, nonce: &str) -> Vec<u8> {
    let mut message = format!(
        "{}\n{}\n{timestamp}\n{nonce}\n",
        request.method, request.canonical_url
    )
    .into_bytes();
    message.extend_from_slice(request.body);
    message.push(b'\n');
    message
}

/// The fields of `Authorization: WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",…`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authorization {
    pub mchid: String,
    pub nonce_str: String,
    pub timestamp: i64,
    /// Serial number (hex) of the merchant API certificate whose key made the signature.
    pub serial_no: String,
    /// Base64 RSA-SHA256 signature of [`request_message`].
    pub signature: String,
}

impl Authorization {
    /// Signs `request` with the merchant API private key.
    pub fn sign(
        key: &SigningKey,
        mchid: &str,
        serial_no: &str,
        request: &SignedRequest<'_>,
        timestamp: i64,
        nonce: &str,
    ) -> Self {
        let signature = key.sign_base64(&request_message(request, timestamp, nonce));
        Self {
            mchid: mchid.to_owned(),
            nonce_str: nonce.to_owned(),
            timestamp,
            serial_no: serial_no.to_owned(),
            signature,
        }
    }

    /// The header value, in wechatpay-go's exact layout (scheme, one space, `k="v"` pairs joined
    /// by commas without spaces).
    pub fn header_value(&self) -> String {
        format!(
            "{AUTH_SCHEME} mchid=\"{}\",nonce_str=\"{}\",timestamp=\"{}\",serial_no=\"{}\",signature=\"{}\"",
            self.mchid, self.nonce_str, self.timestamp, self.serial_no, self.signature
        )
    }

    /// Parses a header value (what the simulator receives). Pairs may come in any order and
    /// with spaces after the commas; unknown keys are ignored, repeated keys are not.
    pub fn parse(header: &str) -> Result<Self> {
        const NAME: &str = "Authorization";
        let malformed = || Error::MalformedHeader(NAME);
        let (scheme, rest) = header.trim().split_once(' ').ok_or_else(malformed)?;
        if scheme != AUTH_SCHEME {
            return Err(Error::UnsupportedAlgorithm(scheme.to_owned()));
        }
        let (mut mchid, mut nonce_str, mut timestamp, mut serial_no, mut signature) =
            (None, None, None, None, None);
        let mut rest = rest.trim_start();
        while !rest.is_empty() {
            let (key, after_key) = rest.split_once("=\"").ok_or_else(malformed)?;
            let (value, after_value) = after_key.split_once('"').ok_or_else(malformed)?;
            let slot = match key.trim() {
                "mchid" => &mut mchid,
                "nonce_str" => &mut nonce_str,
                "timestamp" => &mut timestamp,
                "serial_no" => &mut serial_no,
                "signature" => &mut signature,
                _ => &mut None,
            };
            if slot.replace(value).is_some() {
                return Err(malformed());
            }
            rest = after_value.trim_start();
            if let Some(after_comma) = rest.strip_prefix(',') {
                rest = after_comma.trim_start();
            } else if !rest.is_empty() {
                return Err(malformed());
            }
        }
        let required = |v: Option<&str>| match v {
            Some(v) if !v.is_empty() => Ok(v.to_owned()),
            _ => Err(malformed()),
        };
        let timestamp_text = required(timestamp)?;
        let timestamp = parse_timestamp(&timestamp_text).ok_or_else(malformed)?;
        Ok(Self {
            mchid: required(mchid)?,
            nonce_str: required(nonce_str)?,
            timestamp,
            serial_no: required(serial_no)?,
            signature: required(signature)?,
        })
    }

    /// The simulator's check: the signature matches `request` under the merchant's public key
    /// (looked up by [`Self::mchid`] and [`Self::serial_no`]), and the timestamp is within
    /// [`super::MAX_CLOCK_SKEW_SECS`] of `now`.
    pub fn verify(&self, key: &VerifyingKey, request: &SignedRequest<'_>, now: i64) -> Result<()> {
        check_clock(self.timestamp, now)?;
        let message = request_message(request, self.timestamp, &self.nonce_str);
        if key.verify_base64(&message, &self.signature) {
            Ok(())
        } else {
            Err(Error::SignatureMismatch)
        }
    }
}

/// Unix seconds written canonically (digits only, no sign, no leading zeros), so that the value
/// re-rendered into the signed message is the one that was sent.
pub(super) fn parse_timestamp(text: &str) -> Option<i64> {
    let value: i64 = text.parse().ok()?;
    (text.bytes().all(|b| b.is_ascii_digit()) && value.to_string() == text).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_layout_for_get_ends_with_two_newlines() {
        let request = SignedRequest {
            method: "GET",
            canonical_url: "/v3/certificates",
            body: b"",
        };
        assert_eq!(
            request_message(&request, 1, "n"),
            b"GET\n/v3/certificates\n1\nn\n\n"
        );
    }

    #[test]
    fn header_round_trips_through_parse() {
        let auth = Authorization {
            mchid: "1230000109".into(),
            nonce_str: "abc".into(),
            timestamp: 1_554_208_460,
            serial_no: "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C".into(),
            signature: "c2ln+/==".into(),
        };
        assert_eq!(Authorization::parse(&auth.header_value()), Ok(auth.clone()));
        let spaced = auth.header_value().replace("\",", "\", ");
        assert_eq!(Authorization::parse(&spaced), Ok(auth));
    }

    #[test]
    fn parse_rejects_malformed_headers() {
        let good = "WECHATPAY2-SHA256-RSA2048 mchid=\"1\",nonce_str=\"n\",timestamp=\"5\",serial_no=\"S\",signature=\"x\"";
        assert!(Authorization::parse(good).is_ok());
        assert_eq!(
            Authorization::parse(&good.replace("WECHATPAY2-SHA256-RSA2048", "Bearer")),
            Err(Error::UnsupportedAlgorithm("Bearer".into()))
        );
        for bad in [
            good.replace(",signature=\"x\"", ""),
            good.replace("timestamp=\"5\"", "timestamp=\"05\""),
            good.replace("timestamp=\"5\"", "timestamp=\"-5\""),
            good.replace("mchid=\"1\"", "mchid=\"1\",mchid=\"2\""),
            good.replace("signature=\"x\"", "signature=\"x"),
            good.replace("\",nonce", "\" junk,nonce"),
            "WECHATPAY2-SHA256-RSA2048".to_owned(),
        ] {
            assert_eq!(
                Authorization::parse(&bad),
                Err(Error::MalformedHeader("Authorization")),
                "{bad}"
            );
        }
    }
}
