//! WeChat Pay API v2: flat XML messages signed with MD5 or HMAC-SHA256 over the sorted
//! parameters plus the merchant's 32-character API key (docs/channels/wechat-v2.md).
//!
//! * [`sign`], [`verify`]: the `sign` field (docs/channels/wechat-v2.md, "Signing"), over *all* received fields but `sign`.
//! * [`to_xml`], [`from_xml`]: the `<xml>…</xml>` body (docs/channels/wechat-v2.md, "Transport"), parsed without DTDs or entities.
//! * [`verify_response`], [`read_outcome`]: the `return_code`/`result_code`/`err_code` envelope
//!   (docs/channels/wechat-v2.md, "Reading an answer") and the error-code classes of docs/channels/wechat-v2.md, "Error codes".
//! * [`decrypt_req_info`], [`encrypt_req_info`]: refund notifications (docs/channels/wechat-v2.md, "Notifications").
//! * [`notify_success_reply`], [`notify_fail_reply`]: what to answer a notification with.

mod envelope;
mod refund_notify;
mod sign;
mod xml;

pub use crate::Params;
pub use envelope::{ErrorClass, Outcome, classify_err_code, read_outcome, verify_response};
pub use refund_notify::{
    decrypt_req_info, decrypt_req_info_xml, encrypt_req_info, encrypt_req_info_xml, req_info_key,
};
pub use sign::{SignType, add_sign, sign, sign_request, signed_value, string_to_sign, verify};
pub use xml::{from_xml, notify_fail_reply, notify_success_reply, to_xml};
