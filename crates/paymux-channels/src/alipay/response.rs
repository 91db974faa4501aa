//! Response signatures (docs/channels/alipay.md). Alipay signs the *bytes* of the value of
//! `"<method>_response"` (or `"error_response"`) as they appear in the body, so verification
//! must cut that value out of the raw text rather than re-serialise parsed JSON: escapes such as
//! `\/` and the key order have to survive byte for byte.
//!
//! The official SDKs find the node with `indexOf` and then count braces. This module instead
//! walks the top level of the JSON object, which gives the same bytes but cannot be fooled by a
//! node name appearing inside a string, and rejects a body holding the node twice (easysdk's
//! anti-injection check) or not being a single JSON object.

use crate::error::{Error, Result};
use paymux_crypto::{SigningKey, VerifyingKey};

/// The node gateway-level errors come back in.
pub const ERROR_NODE: &str = "error_response";

/// `alipay.trade.precreate` → `alipay_trade_precreate_response`.
pub fn response_node(method: &str) -> String {
    format!("{}_response", method.replace('.', "_"))
}

/// Which node the signed content came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseNode {
    /// `<method>_response`: the API answered (successfully or with a business error code).
    Method,
    /// `error_response`: the gateway rejected the call before it reached the API.
    Error,
}

/// The signed part of a response body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedResponse<'a> {
    pub node: ResponseNode,
    /// The exact text of the node's value (a JSON object, or a quoted string when the content
    /// is encrypted), what the signature covers and what to parse for the business fields.
    pub content: &'a str,
    /// The top-level `sign`, JSON-unescaped. `None` when the body has none (some gateway
    /// errors): the outcome is then unknown and the call must be queried.
    pub sign: Option<String>,
}

/// Cuts the signed content and the signature out of `body`, the raw response text of a call
/// to `method`, without checking anything cryptographic.
pub fn extract_response<'a>(body: &'a str, method: &str) -> Result<SignedResponse<'a>> {
    let method_node = response_node(method);
    let members = top_level_members(body)?;
    let find = |name: &str| -> Result<Option<&'a str>> {
        let mut found = members.iter().filter(|(key, _)| *key == name);
        let first = found.next().map(|(_, value)| *value);
        if found.next().is_some() {
            return Err(Error::DuplicateField(name.to_owned()));
        }
        Ok(first)
    };
    let (node, content) = match (find(&method_node)?, find(ERROR_NODE)?) {
        (Some(content), _) => (ResponseNode::Method, content),
        (None, Some(content)) => (ResponseNode::Error, content),
        (None, None) => return Err(Error::ResponseNodeMissing(method_node)),
    };
    let sign = match find("sign")? {
        Some(raw) => Some(
            serde_json::from_str::<String>(raw)
                .map_err(|_| Error::Json("`sign` is not a string".to_owned()))?,
        ),
        None => None,
    };
    Ok(SignedResponse {
        node,
        content,
        sign,
    })
}

/// Extracts and verifies a response under Alipay's public key. A response without `sign` fails
/// with [`Error::MissingSignature`]; see [`SignedResponse::sign`] for what that means.
pub fn verify_response<'a>(
    body: &'a str,
    method: &str,
    key: &VerifyingKey,
) -> Result<SignedResponse<'a>> {
    let response = extract_response(body, method)?;
    let sign = match &response.sign {
        Some(sign) if !sign.is_empty() => sign,
        _ => return Err(Error::MissingSignature),
    };
    if key.verify_base64(response.content.as_bytes(), sign) {
        Ok(response)
    } else {
        Err(Error::SignatureMismatch)
    }
}

/// Builds a response body `{"<node>":<content>,"sign":"…"}` signed with the "Alipay" private
/// key. For simulators: `node` is [`response_node`] of the method or [`ERROR_NODE`], and
/// `content` is the exact JSON text to sign and send.
pub fn sign_response(node: &str, content: &str, key: &SigningKey) -> String {
    sign_response_as(node, content, content.as_bytes(), key)
}

/// [`sign_response`] for an answer sent in another character set than UTF-8 (the request's
/// `charset`): `sent` is `content` in that set, the bytes the signature covers.
pub fn sign_response_as(node: &str, content: &str, sent: &[u8], key: &SigningKey) -> String {
    let sign = key.sign_base64(sent);
    // Node names are `[a-z_]` and base64 has nothing to escape, so no JSON escaping is needed.
    format!("{{\"{node}\":{content},\"sign\":\"{sign}\"}}")
}

/// The members of the top-level JSON object as `(raw key text, raw value text)`.
fn top_level_members(body: &str) -> Result<Vec<(&str, &str)>> {
    let mut scanner = Scanner { text: body, pos: 0 };
    let mut members = Vec::new();
    scanner.skip_whitespace();
    scanner.expect(b'{')?;
    scanner.skip_whitespace();
    if scanner.peek() == Some(b'}') {
        scanner.pos += 1;
    } else {
        loop {
            scanner.skip_whitespace();
            let key = scanner.string()?;
            // Without the quotes. Keys that need escapes never match a node name, which is fine.
            let key = key
                .get(1..key.len().saturating_sub(1))
                .ok_or_else(|| scanner.error("a key"))?;
            scanner.skip_whitespace();
            scanner.expect(b':')?;
            scanner.skip_whitespace();
            let value = scanner.value()?;
            members.push((key, value));
            scanner.skip_whitespace();
            match scanner.next() {
                Some(b',') => {}
                Some(b'}') => break,
                _ => return Err(scanner.error("`,` or `}`")),
            }
        }
    }
    scanner.skip_whitespace();
    if scanner.pos != body.len() {
        return Err(scanner.error("the end of the body"));
    }
    Ok(members)
}

/// A byte cursor over JSON text. Structural characters are ASCII, so every position it stops at
/// is a char boundary; slicing still goes through `str::get`, so nothing can panic.
struct Scanner<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.pos += 1;
        Some(byte)
    }

    fn error(&self, expected: &str) -> Error {
        Error::Json(format!("expected {expected} at byte {}", self.pos))
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Result<()> {
        if self.next() == Some(byte) {
            Ok(())
        } else {
            Err(self.error(&format!("`{}`", char::from(byte))))
        }
    }

    fn slice(&self, start: usize) -> Result<&'a str> {
        self.text
            .get(start..self.pos)
            .ok_or_else(|| self.error("a complete value"))
    }

    /// A string literal, quotes included.
    fn string(&mut self) -> Result<&'a str> {
        let start = self.pos;
        self.expect(b'"')?;
        loop {
            match self.next() {
                Some(b'"') => return self.slice(start),
                // Whatever follows a backslash is escaped, a quote included.
                Some(b'\\') => {
                    self.next()
                        .ok_or_else(|| self.error("an escaped character"))?;
                }
                Some(_) => {}
                None => return Err(self.error("the end of a string")),
            }
        }
    }

    /// Any JSON value, returned as its exact text. Containers are matched by counting brackets
    /// outside strings, iteratively (no recursion, so no depth limit to exhaust).
    fn value(&mut self) -> Result<&'a str> {
        let start = self.pos;
        match self.peek() {
            Some(b'"') => {
                self.string()?;
            }
            Some(b'{' | b'[') => {
                let mut depth = 0usize;
                loop {
                    match self.peek() {
                        Some(b'"') => {
                            self.string()?;
                            continue;
                        }
                        Some(b'{' | b'[') => depth += 1,
                        Some(b'}' | b']') => {
                            depth = depth.saturating_sub(1);
                            if depth == 0 {
                                self.pos += 1;
                                break;
                            }
                        }
                        Some(_) => {}
                        None => return Err(self.error("the end of an object or array")),
                    }
                    self.pos += 1;
                }
            }
            _ => {
                while !matches!(
                    self.peek(),
                    None | Some(b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n')
                ) {
                    self.pos += 1;
                }
                if self.pos == start {
                    return Err(self.error("a value"));
                }
            }
        }
        self.slice(start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const METHOD: &str = "alipay.offline.material.image.upload";

    #[test]
    fn node_names() {
        assert_eq!(
            response_node("alipay.trade.precreate"),
            "alipay_trade_precreate_response"
        );
    }

    #[test]
    fn extraction_keeps_escapes_and_tolerates_whitespace() {
        // Node SDK `getSignStr` tests: `\/` stays verbatim, whitespace and newlines around the
        // node are tolerated, and a `sign` key inside the content stays part of the content.
        let content = r#"{"code":"10000","sign":"xxx","msg":"Success","image_id":"Zp1Nm6FDTZaEuSSniGd5awAAACMAAQED","image_url":"http:\/\/oalipay-dl-django.alicdn.com\/rest\/1.0\/image?fileIds=Zp1Nm6FDTZaEuSSniGd5awAAACMAAQED&zoom=original"}"#;
        let body = format!(
            "{{\"alipay_offline_material_image_upload_response\"\n        :\n        {content},\n\n          \"sign\"  :  \"P8xr\\/BWq==\"}}"
        );
        let response = extract_response(&body, METHOD).expect("extract");
        assert_eq!(response.node, ResponseNode::Method);
        assert_eq!(response.content, content);
        assert_eq!(response.sign.as_deref(), Some("P8xr/BWq=="));
    }

    #[test]
    fn extraction_handles_error_nodes_strings_and_missing_signs() {
        let body = r#"{"error_response":{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-signature"}}"#;
        let response = extract_response(body, METHOD).expect("extract");
        assert_eq!(response.node, ResponseNode::Error);
        assert_eq!(response.sign, None);

        // Encrypted content is a string; the signed text includes its quotes.
        let body = r#"{"alipay_offline_material_image_upload_response":"c2VjcmV0\"x","sign":"s","alipay_cert_sn":"abc"}"#;
        let response = extract_response(body, METHOD).expect("extract");
        assert_eq!(response.content, r#""c2VjcmV0\"x""#);
    }

    #[test]
    fn extraction_ignores_lookalikes_inside_values() {
        let body = r#"{"note":"\"alipay_offline_material_image_upload_response\":{}","alipay_offline_material_image_upload_response":{"a":"}\\","b":[{"c":"]"}]},"sign":"s"}"#;
        let response = extract_response(body, METHOD).expect("extract");
        assert_eq!(response.content, r#"{"a":"}\\","b":[{"c":"]"}]}"#);
    }

    #[test]
    fn extraction_rejects_injection_and_malformed_bodies() {
        let twice = r#"{"alipay_offline_material_image_upload_response":{"a":1},"sign":"s","alipay_offline_material_image_upload_response":{"a":2}}"#;
        assert_eq!(
            extract_response(twice, METHOD),
            Err(Error::DuplicateField(
                "alipay_offline_material_image_upload_response".into()
            ))
        );
        assert_eq!(
            extract_response(r#"{"other_response":{}}"#, METHOD),
            Err(Error::ResponseNodeMissing(
                "alipay_offline_material_image_upload_response".into()
            ))
        );
        for bad in [
            "",
            "[]",
            r#"{"alipay_offline_material_image_upload_response":{"a":1}"#,
            r#"{"alipay_offline_material_image_upload_response":{"a":"1}}"#,
            r#"{"alipay_offline_material_image_upload_response":{"a":1}} trailing"#,
            r#"{"alipay_offline_material_image_upload_response" {"a":1}}"#,
            r#"{"alipay_offline_material_image_upload_response":{"a":1},"sign":5}"#,
            r#"{"alipay_offline_material_image_upload_response":,}"#,
        ] {
            assert!(extract_response(bad, METHOD).is_err(), "{bad}");
        }
    }

    #[test]
    fn sign_then_verify_and_tamper() {
        let key = SigningKey::generate().expect("keygen");
        let verifier =
            VerifyingKey::from_pem(&key.public_key_pem().expect("pem")).expect("public key");
        let node = response_node("alipay.trade.query");
        let body = sign_response(
            &node,
            r#"{"code":"10000","trade_status":"TRADE_SUCCESS"}"#,
            &key,
        );
        let response = verify_response(&body, "alipay.trade.query", &verifier).expect("verify");
        assert_eq!(
            response.content,
            r#"{"code":"10000","trade_status":"TRADE_SUCCESS"}"#
        );
        let tampered = body.replace("TRADE_SUCCESS", "TRADE_CLOSED");
        assert_eq!(
            verify_response(&tampered, "alipay.trade.query", &verifier),
            Err(Error::SignatureMismatch)
        );
        let unsigned = r#"{"alipay_trade_query_response":{"code":"20000"}}"#;
        assert_eq!(
            verify_response(unsigned, "alipay.trade.query", &verifier),
            Err(Error::MissingSignature)
        );
    }
}
