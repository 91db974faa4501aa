//! The Alipay open API (`gateway.do`) with RSA2 (RSA-SHA256) signatures (docs/channels/alipay.md).
//!
//! Three different things are signed, in three different ways:
//!
//! * requests ([`sign_request`]): every parameter but `sign`, empty values dropped, sorted,
//!   `k=v&…`, signed with the app's private key (docs/channels/alipay.md, "Request signing");
//! * responses ([`verify_response`]): the exact bytes of the `<method>_response` JSON value,
//!   signed with Alipay's key (docs/channels/alipay.md, "Answers and their verification");
//! * notifications ([`verify_notify`]): every form field but `sign` and `sign_type`, empty values
//!   kept, sorted, signed with Alipay's key (docs/channels/alipay.md, "Notifications").
//!
//! Keys as Alipay hands them out (bare base64) load through [`crate::keys`]; form bodies
//! through [`crate::form`].

mod amount;
mod notify;
mod request;
mod response;

pub use crate::Params;
pub use amount::{format_yuan, parse_yuan};
pub use notify::{NotifySignScope, notify_sign_content, sign_notify, verify_notify};
pub use request::{SIGN_TYPE, request_sign_content, sign_request, verify_request};
pub use response::{
    ERROR_NODE, ResponseNode, SignedResponse, extract_response, response_node, sign_response,
    sign_response_as, verify_response,
};
