//! One error type for the whole protocol layer. Adapters mostly need to tell three things apart:
//! the message is forged or tampered with ([`Error::SignatureMismatch`], [`Error::MissingSignature`],
//! [`Error::StaleTimestamp`]), it is malformed, or our own configuration is wrong (keys).

use paymux_crypto::{CipherError, KeyError};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    #[error("malformed XML: {0}")]
    Xml(String),
    #[error("malformed JSON: {0}")]
    Json(String),
    #[error("malformed form data: {0}")]
    Form(String),
    #[error("`{0}` cannot be used as a field name")]
    InvalidFieldName(String),
    #[error("field `{0}` appears more than once")]
    DuplicateField(String),
    #[error("required field `{0}` is missing or empty")]
    MissingField(String),
    #[error("field `{field}` has the unexpected value `{value}`")]
    UnexpectedValue { field: String, value: String },
    #[error("header `{0}` is missing")]
    MissingHeader(&'static str),
    #[error("header `{0}` is malformed")]
    MalformedHeader(&'static str),
    #[error("unsupported sign type `{0}`")]
    UnsupportedSignType(String),
    #[error("unsupported algorithm `{0}`")]
    UnsupportedAlgorithm(String),
    /// The message should be signed but carries no signature; treat it as forged.
    #[error("the message carries no signature")]
    MissingSignature,
    /// The signature is well-formed but does not match: forged or tampered with.
    #[error("the signature does not match the message")]
    SignatureMismatch,
    /// The signed timestamp is too far from our clock (replay protection).
    #[error("timestamp {timestamp} is {skew}s away from now, the limit is {limit}s")]
    StaleTimestamp {
        timestamp: i64,
        skew: i64,
        limit: i64,
    },
    #[error("`{0}` is not valid base64")]
    Base64(&'static str),
    #[error("`{0}` is not valid UTF-8")]
    Utf8(&'static str),
    /// An Alipay response holds neither `<method>_response` nor `error_response`.
    #[error("the response has no `{0}` node")]
    ResponseNodeMissing(String),
    #[error("invalid amount `{0}`")]
    Amount(String),
    #[error("invalid time `{0}`")]
    Time(String),
    /// A certificate is malformed, or is not one the configured chain vouches for.
    #[error("certificate: {0}")]
    Certificate(String),
    #[error(transparent)]
    Cipher(#[from] CipherError),
    #[error(transparent)]
    Key(#[from] KeyError),
}
