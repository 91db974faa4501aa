//! The v2 message body: `<xml>` with one child element per parameter (docs/channels/wechat-v2.md). Only
//! flat documents are accepted: a nested element, text directly under the root, a repeated
//! field or a DOCTYPE is an error rather than something silently dropped, because the signature
//! covers every field and a field we cannot represent could not be verified.
//!
//! Parsing uses quick-xml's pull reader, which never resolves DTDs or external entities (the XXE
//! risk docs/channels/wechat-v2.md, "Transport", warns about); only the five predefined entities and character references are
//! expanded. Values are kept verbatim (no trimming), as WeChat's own DOM-based parsers do.

use super::Params;
use crate::error::{Error, Result};
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::Event;
use quick_xml::reader::Reader;

/// How values are written.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cdata {
    /// Bare digits stay bare, everything else goes in CDATA, as WeChat's own examples and
    /// responses do (`<total_fee>1</total_fee>`, `<body><![CDATA[…]]></body>`).
    AsNeeded,
    /// Every value in CDATA, as WeChat writes the decrypted refund notification.
    Always,
}

/// Encodes `params` as `<xml>…</xml>`, children in name order. Fails on names that are not
/// plain XML names and on values holding characters XML cannot carry (most control characters).
pub fn to_xml(params: &Params) -> Result<String> {
    encode("xml", params, Cdata::AsNeeded)
}

/// Decodes a flat `<xml>…</xml>` document into its parameters.
pub fn from_xml(xml: &str) -> Result<Params> {
    decode(xml, "xml")
}

/// The answer to a notification that was handled (or was a duplicate): WeChat stops retrying.
pub fn notify_success_reply() -> String {
    reply("SUCCESS", "OK")
}

/// The answer to a notification that could not be handled: WeChat retries on its schedule
/// (docs/channels/wechat-v2.md, "Notifications"). Characters XML cannot carry are dropped from `message`.
pub fn notify_fail_reply(message: &str) -> String {
    let message: String = message.chars().filter(|&c| is_xml_char(c)).collect();
    reply("FAIL", &message)
}

fn reply(code: &str, message: &str) -> String {
    let mut out = String::from("<xml>");
    write_field(&mut out, "return_code", code, Cdata::Always);
    write_field(&mut out, "return_msg", message, Cdata::Always);
    out.push_str("</xml>");
    out
}

pub(crate) fn encode(root: &str, params: &Params, cdata: Cdata) -> Result<String> {
    let mut out = format!("<{root}>");
    for (name, value) in params.iter() {
        if !is_plain_name(name) {
            return Err(Error::InvalidFieldName(name.to_owned()));
        }
        if !value.chars().all(is_xml_char) {
            return Err(Error::Xml(format!(
                "the value of `{name}` holds a character XML cannot carry"
            )));
        }
        write_field(&mut out, name, value, cdata);
    }
    out.push_str(&format!("</{root}>"));
    Ok(out)
}

fn write_field(out: &mut String, name: &str, value: &str, cdata: Cdata) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    if cdata == Cdata::AsNeeded && !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        out.push_str(value);
    } else if value.contains('\r') {
        // A parser turns a raw CR (even inside CDATA) into LF, which would change the signed
        // value; only a character reference survives.
        for c in value.chars() {
            match c {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '\r' => out.push_str("&#13;"),
                c => out.push(c),
            }
        }
    } else {
        out.push_str("<![CDATA[");
        // `]]>` cannot appear inside CDATA: close the section between `]]` and `>`.
        out.push_str(&value.replace("]]>", "]]]]><![CDATA[>"));
        out.push_str("]]>");
    }
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

/// ASCII XML names without namespaces: what every WeChat field name looks like.
fn is_plain_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// XML 1.0 `Char`.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

fn is_xml_space(text: &str) -> bool {
    text.chars().all(|c| matches!(c, ' ' | '\t' | '\r' | '\n'))
}

enum State {
    BeforeRoot,
    InRoot,
    InField { name: String, value: String },
    AfterRoot,
}

/// Parses a flat document whose root element is `root`.
pub(crate) fn decode(xml: &str, root: &str) -> Result<Params> {
    let mut reader = Reader::from_str(xml);
    reader.config_mut().trim_text(false);
    let mut params = Params::new();
    let mut state = State::BeforeRoot;
    loop {
        let event = reader.read_event().map_err(|e| Error::Xml(e.to_string()))?;
        if matches!(event, Event::Eof) {
            break;
        }
        state = match (std::mem::replace(&mut state, State::AfterRoot), event) {
            (state, Event::Comment(_)) => state,
            (_, Event::DocType(_)) => {
                return Err(Error::Xml("a DOCTYPE is not allowed".to_owned()));
            }
            (State::BeforeRoot, Event::Decl(_)) => State::BeforeRoot,
            (state @ (State::BeforeRoot | State::InRoot | State::AfterRoot), Event::Text(text))
                if is_xml_space(&text.xml10_content()) =>
            {
                state
            }
            (State::BeforeRoot, Event::Start(start)) if start.name().as_ref() == root => {
                State::InRoot
            }
            (State::BeforeRoot, Event::Empty(start)) if start.name().as_ref() == root => {
                State::AfterRoot
            }
            (State::InRoot, Event::Start(start)) => State::InField {
                name: start.name().as_ref().to_owned(),
                value: String::new(),
            },
            (State::InRoot, Event::Empty(start)) => {
                insert_field(&mut params, start.name().as_ref(), String::new())?;
                State::InRoot
            }
            // quick-xml has already checked that the end tag matches the root.
            (State::InRoot, Event::End(_)) => State::AfterRoot,
            (State::InField { name, mut value }, Event::Text(text)) => {
                value.push_str(&text.xml10_content());
                State::InField { name, value }
            }
            (State::InField { name, mut value }, Event::CData(cdata)) => {
                value.push_str(&cdata.xml10_content());
                State::InField { name, value }
            }
            (State::InField { name, mut value }, Event::GeneralRef(reference)) => {
                match reference.resolve_char_ref() {
                    Ok(Some(c)) => value.push(c),
                    Ok(None) => match resolve_predefined_entity(&reference) {
                        Some(text) => value.push_str(text),
                        None => {
                            return Err(Error::Xml(format!(
                                "unknown entity `&{};` in `{name}`",
                                &*reference
                            )));
                        }
                    },
                    Err(e) => return Err(Error::Xml(e.to_string())),
                }
                State::InField { name, value }
            }
            (State::InField { name, value }, Event::End(_)) => {
                insert_field(&mut params, &name, value)?;
                State::InRoot
            }
            (State::InField { name, .. }, Event::Start(_) | Event::Empty(_)) => {
                return Err(Error::Xml(format!(
                    "`{name}` holds an element; only flat documents are supported"
                )));
            }
            (State::BeforeRoot, Event::Start(start) | Event::Empty(start)) => {
                return Err(Error::Xml(format!(
                    "the root element is `{}`, expected `{root}`",
                    start.name().as_ref()
                )));
            }
            (_, event) => {
                return Err(Error::Xml(format!("unexpected {event:?}")));
            }
        };
    }
    match state {
        State::AfterRoot => Ok(params),
        _ => Err(Error::Xml(format!("the document ends before </{root}>"))),
    }
}

fn insert_field(params: &mut Params, name: &str, value: String) -> Result<()> {
    // A repeated field would make it ambiguous which value was signed.
    if params.contains(name) {
        return Err(Error::DuplicateField(name.to_owned()));
    }
    params.insert(name, value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_digits_bare_and_text_in_cdata() {
        let params = Params::new()
            .with("total_fee", "1")
            .with("body", "QQ公仔 <&>")
            .with("attach", "");
        assert_eq!(
            to_xml(&params).as_deref(),
            Ok(
                "<xml><attach><![CDATA[]]></attach><body><![CDATA[QQ公仔 <&>]]></body><total_fee>1</total_fee></xml>"
            )
        );
    }

    #[test]
    fn round_trips_awkward_values() {
        let params = Params::new()
            .with("a", "x]]>y]]>")
            .with("b", "line1\r\nline2\n")
            .with("c", "  padded  ")
            .with("d", "&amp; literally")
            .with("e", "");
        let xml = to_xml(&params).expect("encode");
        assert_eq!(from_xml(&xml), Ok(params));
    }

    #[test]
    fn rejects_unencodable_names_and_values() {
        assert_eq!(
            to_xml(&Params::new().with("a b", "1")),
            Err(Error::InvalidFieldName("a b".into()))
        );
        assert_eq!(
            to_xml(&Params::new().with("1a", "1")),
            Err(Error::InvalidFieldName("1a".into()))
        );
        assert!(matches!(
            to_xml(&Params::new().with("a", "nul\u{0}")),
            Err(Error::Xml(_))
        ));
    }

    #[test]
    fn decodes_pretty_printed_wechat_xml() {
        let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<xml>\n  <return_code><![CDATA[SUCCESS]]></return_code>\n  <!-- comment -->\n  <total_fee>1</total_fee>\n  <attach></attach>\n  <device_info/>\n  <detail>a &lt;b&gt; &amp; &#x4E2D;&#25991;</detail>\n  <mixed>x<![CDATA[<y>]]>z</mixed>\n</xml>\n";
        let params = from_xml(xml).expect("decode");
        assert_eq!(params.get("return_code"), Some("SUCCESS"));
        assert_eq!(params.get("total_fee"), Some("1"));
        assert_eq!(params.get("attach"), Some(""));
        assert_eq!(params.get("device_info"), Some(""));
        assert_eq!(params.get("detail"), Some("a <b> & 中文"));
        assert_eq!(params.get("mixed"), Some("x<y>z"));
        assert_eq!(params.len(), 6);
    }

    #[test]
    fn rejects_what_cannot_be_a_flat_message() {
        let bad = [
            ("<xml><a>1</a><a>2</a></xml>", "duplicate"),
            ("<xml><a><b>1</b></a></xml>", "nested"),
            ("<xml>text<a>1</a></xml>", "text in root"),
            ("<root><a>1</a></root>", "wrong root"),
            ("<xml><a>1</a>", "unterminated"),
            ("<xml><a>1</b></xml>", "mismatched end"),
            ("", "empty"),
            ("<xml><a>&unknown;</a></xml>", "unknown entity"),
            ("<xml><a>1 & 2</a></xml>", "bare ampersand"),
            (
                "<!DOCTYPE xml [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><xml><a>&x;</a></xml>",
                "doctype",
            ),
            ("<xml><a>1</a></xml><xml/>", "second root"),
        ];
        for (xml, why) in bad {
            assert!(from_xml(xml).is_err(), "{why}: {xml}");
        }
        assert_eq!(
            from_xml("<xml><a>1</a><a>2</a></xml>"),
            Err(Error::DuplicateField("a".into()))
        );
    }

    #[test]
    fn empty_root_is_an_empty_message() {
        assert_eq!(from_xml("<xml/>"), Ok(Params::new()));
        assert_eq!(from_xml("<xml></xml>"), Ok(Params::new()));
    }

    #[test]
    fn notify_replies() {
        assert_eq!(
            notify_success_reply(),
            "<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>"
        );
        let fail = notify_fail_reply("签名失败\u{1}");
        assert_eq!(
            from_xml(&fail),
            Ok(Params::new()
                .with("return_code", "FAIL")
                .with("return_msg", "签名失败"))
        );
    }
}
