//! An app's settings for one provider: public settings (merchant ids, gateway URL, the
//! provider's public key) and secrets (API keys, private keys, client certificates), checked
//! when set. A provider cannot be configured without the material to verify what it sends:
//! verification fails closed.

use super::Provider;
use crate::domain::wire::{ChannelConfigObject, ChannelConfigTag, to_value};
use crate::error::{GatewayError, GatewayResult};
use crate::secrets::SecretsKey;
use crate::store::{self, channel_configs::StoredConfig};
use serde_json::Value;
use sqlx::AnyConnection;
use std::collections::BTreeMap;

/// One setting a provider takes.
struct Field {
    name: &'static str,
    required: bool,
    secret: bool,
    check: fn(&str) -> Result<(), String>,
    default: Option<&'static str>,
}

const fn field(name: &'static str, required: bool, secret: bool) -> Field {
    Field {
        name,
        required,
        secret,
        check: non_empty,
        default: None,
    }
}

fn non_empty(value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        Err("must not be empty".into())
    } else {
        Ok(())
    }
}

fn http_url(value: &str) -> Result<(), String> {
    match reqwest::Url::parse(value) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() => Ok(()),
        _ => Err("must be an http(s) URL".into()),
    }
}

fn wechat_sign_type(value: &str) -> Result<(), String> {
    match value {
        "MD5" | "HMAC-SHA256" => Ok(()),
        _ => Err("must be MD5 or HMAC-SHA256".into()),
    }
}

fn wechat_api_key(value: &str) -> Result<(), String> {
    if value.len() == 32 && value.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err("must be the 32-character API v2 key set in the merchant platform".into())
    }
}

fn alipay_seller_id(value: &str) -> Result<(), String> {
    if value.len() == 16 && value.starts_with("2088") && value.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err("must be Alipay's 16-digit partner id (2088…)".into())
    }
}

fn public_key(value: &str) -> Result<(), String> {
    paymux_channels::keys::verifying_key(value)
        .map(|_| ())
        .map_err(|_| "must be an RSA public key (PEM, or base64 DER as Alipay gives it)".into())
}

fn private_key(value: &str) -> Result<(), String> {
    paymux_channels::keys::signing_key(value)
        .map(|_| ())
        .map_err(|_| "must be an RSA private key (PEM PKCS#8/PKCS#1, or base64 DER)".into())
}

fn certificate(value: &str) -> Result<(), String> {
    paymux_channels::keys::certificate(value)
        .map(|_| ())
        .map_err(|e| format!("must be an X.509 certificate (PEM or base64 DER): {e}"))
}

fn pem_certificate(value: &str) -> Result<(), String> {
    if value.contains("-----BEGIN CERTIFICATE-----") {
        Ok(())
    } else {
        Err("must be a PEM certificate (apiclient_cert.pem)".into())
    }
}

fn pem_private_key(value: &str) -> Result<(), String> {
    if value.contains("PRIVATE KEY-----") {
        Ok(())
    } else {
        Err("must be a PEM private key (apiclient_key.pem)".into())
    }
}

fn fields(provider: Provider) -> Vec<Field> {
    match provider {
        Provider::Wechat => vec![
            field("appid", true, false),
            field("mch_id", true, false),
            Field {
                check: wechat_sign_type,
                default: Some("MD5"),
                ..field("sign_type", false, false)
            },
            Field {
                check: http_url,
                default: Some("https://api.mch.weixin.qq.com"),
                ..field("gateway_url", false, false)
            },
            // Signs requests and verifies responses and notifications.
            Field {
                check: wechat_api_key,
                ..field("api_key", true, true)
            },
            // Mutual TLS for refund and reverse (/secapi).
            Field {
                check: pem_certificate,
                ..field("client_cert_pem", false, true)
            },
            Field {
                check: pem_private_key,
                ..field("client_key_pem", false, true)
            },
        ],
        Provider::Alipay => vec![
            field("app_id", true, false),
            // The merchant's partner id (2088…): when set, notifications must name it (Alipay's
            // advice: the app_id alone does not say whose account received the money).
            Field {
                check: alipay_seller_id,
                ..field("seller_id", false, false)
            },
            Field {
                check: public_key,
                ..field("alipay_public_key", true, false)
            },
            Field {
                check: http_url,
                default: Some("https://openapi.alipay.com/gateway.do"),
                ..field("gateway_url", false, false)
            },
            Field {
                check: private_key,
                ..field("app_private_key", true, true)
            },
        ],
        Provider::Unionpay => vec![
            field("mer_id", true, false),
            field("cert_id", true, false),
            // UnionPay's root and intermediate certificates (acp_prod_root.cer and
            // acp_prod_middle.cer): every answer's own signing certificate is checked against
            // them, so UnionPay can replace that certificate without a change here.
            Field {
                check: certificate,
                ..field("unionpay_root_cert", false, false)
            },
            Field {
                check: certificate,
                ..field("unionpay_middle_cert", false, false)
            },
            // Or one fixed key, which stops verifying when UnionPay changes its certificate.
            Field {
                check: public_key,
                ..field("unionpay_public_key", false, false)
            },
            Field {
                check: http_url,
                default: Some("https://gateway.95516.com"),
                ..field("gateway_url", false, false)
            },
            Field {
                check: private_key,
                ..field("private_key", true, true)
            },
        ],
    }
}

/// The settings a provider takes, for forms: (name, required, secret).
pub fn field_list(provider: Provider) -> Vec<(&'static str, bool, bool)> {
    fields(provider)
        .iter()
        .map(|f| (f.name, f.required && f.default.is_none(), f.secret))
        .collect()
}

/// A checked configuration, split into what may be shown and what is sealed at rest.
#[derive(Clone, PartialEq, Eq)]
pub struct ProviderSettings {
    pub provider: Provider,
    pub public: BTreeMap<String, String>,
    pub secrets: BTreeMap<String, String>,
}

impl std::fmt::Debug for ProviderSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderSettings")
            .field("provider", &self.provider)
            .field("public", &self.public)
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl ProviderSettings {
    /// Checks every value of `given` (names as in [`fields`]); unknown names, missing required
    /// ones and bad values are refused by name.
    pub fn check(provider: Provider, given: &BTreeMap<String, String>) -> GatewayResult<Self> {
        let fields = fields(provider);
        if let Some(unknown) = given.keys().find(|k| !fields.iter().any(|f| f.name == *k)) {
            let known: Vec<&str> = fields.iter().map(|f| f.name).collect();
            return Err(GatewayError::invalid_param(
                unknown,
                format!(
                    "Received unknown parameter: {unknown}. {} takes {}.",
                    provider.as_str(),
                    known.join(", ")
                ),
            ));
        }
        let mut settings = ProviderSettings {
            provider,
            public: BTreeMap::new(),
            secrets: BTreeMap::new(),
        };
        for field in &fields {
            let value = match (given.get(field.name), field.default) {
                (Some(value), _) => value.clone(),
                (None, Some(default)) => default.to_owned(),
                (None, None) if field.required => {
                    return Err(GatewayError::invalid_param(
                        field.name,
                        format!(
                            "Missing required parameter: {} ({} cannot be configured without it).",
                            field.name,
                            provider.as_str()
                        ),
                    ));
                }
                (None, None) => continue,
            };
            (field.check)(&value).map_err(|why| {
                // Never echo the value: it may be a secret.
                GatewayError::invalid_param(field.name, format!("Parameter {} {why}.", field.name))
            })?;
            let target = if field.secret {
                &mut settings.secrets
            } else {
                &mut settings.public
            };
            target.insert(field.name.to_owned(), value);
        }
        if provider == Provider::Wechat
            && settings.secrets.contains_key("client_cert_pem")
                != settings.secrets.contains_key("client_key_pem")
        {
            return Err(GatewayError::invalid_param(
                "client_key_pem",
                "Parameters client_cert_pem and client_key_pem go together (WeChat's apiclient_cert.pem and apiclient_key.pem).",
            ));
        }
        if provider == Provider::Unionpay {
            check_unionpay_trust(&settings.public)?;
        }
        Ok(settings)
    }

    /// The wire object: public settings and the names of the secrets that are set.
    pub fn to_wire(&self, app_id: &str, livemode: bool, updated: i64) -> Value {
        to_value(ChannelConfigObject {
            object: ChannelConfigTag::Tag,
            app: app_id.to_owned(),
            provider: self.provider,
            livemode,
            settings: self.public.clone(),
            secrets_set: self.secrets.keys().cloned().collect(),
            updated,
        })
    }
}

/// UnionPay's answers are verified under the chain (root and intermediate together) or a fixed
/// key, exactly one of the two.
fn check_unionpay_trust(public: &BTreeMap<String, String>) -> GatewayResult<()> {
    let (root, middle, key) = (
        public.get("unionpay_root_cert"),
        public.get("unionpay_middle_cert"),
        public.get("unionpay_public_key"),
    );
    match (root, middle, key) {
        (Some(root), Some(middle), None) => paymux_channels::unionpay::CertificateChain::new(
            root, middle, false,
        )
        .map(|_| ())
        .map_err(|e| {
            GatewayError::invalid_param(
                "unionpay_middle_cert",
                format!("Parameter unionpay_middle_cert does not go with unionpay_root_cert: {e}."),
            )
        }),
        (None, None, Some(_)) => Ok(()),
        (Some(_), None, _) | (None, Some(_), _) => Err(GatewayError::invalid_param(
            if root.is_none() {
                "unionpay_root_cert"
            } else {
                "unionpay_middle_cert"
            },
            "Parameters unionpay_root_cert and unionpay_middle_cert go together (UnionPay's root and intermediate certificates).",
        )),
        (Some(_), Some(_), Some(_)) => Err(GatewayError::invalid_param(
            "unionpay_public_key",
            "Set either unionpay_root_cert and unionpay_middle_cert (answers are verified by the certificate they carry) or unionpay_public_key (one fixed key), not both.",
        )),
        (None, None, None) => Err(GatewayError::invalid_param(
            "unionpay_root_cert",
            "Missing required parameter: unionpay_root_cert and unionpay_middle_cert (UnionPay's root and intermediate certificates), or unionpay_public_key (unionpay cannot be configured without a way to verify its answers).",
        )),
    }
}

/// Where the sealed secrets of one configuration belong (bound in as additional data).
fn seal_context(app_id: &str, livemode: bool, provider: Provider) -> String {
    let mode = if livemode { "live" } else { "test" };
    format!("{app_id}/{mode}/{}", provider.as_str())
}

/// The secrets key, or the error that says how to provide one.
pub fn require_key(key: Option<&SecretsKey>) -> GatewayResult<&SecretsKey> {
    key.ok_or_else(|| {
        GatewayError::invalid(
            "Channel configuration is sealed at rest and this gateway has no secrets key: start it \
             with PAYMUX_SECRETS_KEY set to 32 random bytes in base64 (`openssl rand -base64 32`).",
        )
        .with_code("secrets_key_missing")
    })
}

/// Stores (or replaces) an app's configuration of a provider, its secrets sealed.
pub async fn save(
    conn: &mut AnyConnection,
    key: &SecretsKey,
    app_id: &str,
    livemode: bool,
    settings: &ProviderSettings,
    now: i64,
) -> GatewayResult<()> {
    let secrets = serde_json::to_vec(&settings.secrets)?;
    let sealed = key
        .seal(&secrets, &seal_context(app_id, livemode, settings.provider))
        .map_err(|error| {
            GatewayError::internal().caused_by(format_args!("cannot seal channel secrets: {error}"))
        })?;
    let stored = StoredConfig {
        app_id: app_id.to_owned(),
        livemode,
        provider: settings.provider.as_str().to_owned(),
        settings: serde_json::to_string(&settings.public)?,
        sealed_secrets: sealed,
        created: now,
        updated: now,
    };
    Ok(store::channel_configs::upsert(conn, &stored).await?)
}

/// Reads a stored configuration back, opening its secrets.
pub fn open(key: &SecretsKey, stored: &StoredConfig) -> GatewayResult<ProviderSettings> {
    let provider = Provider::parse(&stored.provider).ok_or_else(GatewayError::internal)?;
    let opened = key
        .open(
            &stored.sealed_secrets,
            &seal_context(&stored.app_id, stored.livemode, provider),
        )
        .map_err(|_| {
            GatewayError::invalid(format!(
                "The {} configuration of app {} was sealed with another secrets key; set it again.",
                provider.as_str(),
                stored.app_id
            ))
            .with_code("secrets_key_mismatch")
        })?;
    Ok(ProviderSettings {
        provider,
        public: serde_json::from_str(&stored.settings)?,
        secrets: serde_json::from_slice(&opened)?,
    })
}

/// The app's configuration of `provider` in this mode, if any.
pub async fn load(
    conn: &mut AnyConnection,
    key: &SecretsKey,
    app_id: &str,
    livemode: bool,
    provider: Provider,
) -> GatewayResult<Option<(ProviderSettings, i64)>> {
    match store::channel_configs::get(conn, app_id, livemode, provider.as_str()).await? {
        Some(stored) => Ok(Some((open(key, &stored)?, stored.updated))),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn wechat_needs_its_verifier_and_splits_secrets_from_settings() {
        let missing = ProviderSettings::check(
            Provider::Wechat,
            &map(&[("appid", "wx1"), ("mch_id", "100")]),
        )
        .expect_err("no api_key: cannot verify anything");
        assert_eq!(missing.param.as_deref(), Some("api_key"));

        let settings = ProviderSettings::check(
            Provider::Wechat,
            &map(&[
                ("appid", "wx1"),
                ("mch_id", "100"),
                ("api_key", "192006250b4c09247ec02edce69f6a2d"),
            ]),
        )
        .expect("valid");
        assert_eq!(settings.public["sign_type"], "MD5");
        assert_eq!(
            settings.public["gateway_url"],
            "https://api.mch.weixin.qq.com"
        );
        assert!(!settings.public.contains_key("api_key"));
        let wire = settings.to_wire("app_1", true, 0).to_string();
        assert!(
            !wire.contains("192006250b4c"),
            "secrets never shown: {wire}"
        );
        assert!(!format!("{settings:?}").contains("192006250b4c"));
    }

    #[test]
    fn bad_values_are_refused_by_name_without_echoing_them() {
        let error = ProviderSettings::check(
            Provider::Wechat,
            &map(&[
                ("appid", "wx1"),
                ("mch_id", "1"),
                ("api_key", "short-secret"),
            ]),
        )
        .expect_err("bad key");
        assert_eq!(error.param.as_deref(), Some("api_key"));
        assert!(!error.message.contains("short-secret"));
        let error = ProviderSettings::check(Provider::Alipay, &map(&[("colour", "red")]))
            .expect_err("unknown");
        assert_eq!(error.param.as_deref(), Some("colour"));
        let error = ProviderSettings::check(
            Provider::Alipay,
            &map(&[
                ("app_id", "2021"),
                ("alipay_public_key", "nope"),
                ("app_private_key", "x"),
            ]),
        )
        .expect_err("bad public key");
        assert_eq!(error.param.as_deref(), Some("alipay_public_key"));
    }
}
