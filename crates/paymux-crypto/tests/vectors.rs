//! Request signatures (RV1–RV4) made by the official Python, Node and Java SDKs with their
//! example key (docs/pingpp-wire.md, "Request signatures"). The webhook vectors (WV1–WV3) are checked by
//! paymux-webhook's tests, through the function merchants call.

use paymux_crypto::VerifyingKey;
const MERCHANT_PUBLIC_KEY: &str = r"-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAx2MktxcKBEqdYRi2IgYc
upPQIN5cxgiBL5udCCBJBNBbXPaquOE1qspfhB1KUzHXATnCONiSzubLcBTnwi2t
z0ErRCeJZSERRCpbKx4eu6b1neUTWkga7xpZxWONEvkmZo5Nlhf4fXRPUYnO/bdG
CNGpQ/HSJfWLtzmhCqO1aJwVhcDmDMYz4bTkZavhFBdVyXf/8n7UKylk03eymlKJ
1swQpeFcxaKfzsk1mJU7mc93mCWjaR+VWkNbw4AQHDyHgbzH+zYARzCluiy5hXdi
xGEP+iO4ZBk48rEs1hKTvGz1k+jhLCdkdpBRjq0pK/htjA3Ce8pF2AJs+fgN6ZUu
mQIDAQAB
-----END PUBLIC KEY-----
";

#[test]
fn rv1_request_signature_verifies() {
    let key = VerifyingKey::from_pem(MERCHANT_PUBLIC_KEY).expect("merchant key");
    let signing_string = r#"{"order_no": "123456789", "app": {"id": "app_1Gqj58ynP0mHeX1q"}, "channel": "alipay_qr", "amount": 100, "client_ip": "127.0.0.1", "currency": "cny", "subject": "Your Subject", "body": "\u4e2d\u6587 Body", "extra": {}}/v1/charges1795314675"#;
    let signature = "Lz1Q8+kOvlwtEx31a7lPrc1/3cSejOsD9/hrnYHz1fsmEub8ziZ3u+8teLTQhPe26Xy3lP7UrzL3cjVIMzRuhIlCTzJvPziUm1w16Qlg2Y6H1pstyUUWJXNKzI0QlVg/JPn95PGE1nKmZIxY8PKTuZGC3Q5YQ3JyQE2Tzh1oupEytJTzVgqqaxFK0LNBMPekFq30lADAuXSqxwOTVApRujF/KRXmNeTLE9J1Tb6LxBDpaDAi5DvZ0b3pYoB2K6xH5pQSSHNqpICay8I4d+MgxSRQ8TKo1ECxTmtkoAETLC0OZ52zDWv8EgM8l0iKkh2eBLnsggz5lgM1ij/KlKEOhw==";
    assert!(key.verify_base64(signing_string.as_bytes(), signature));
    // One byte more or less in the signed text must fail.
    assert!(!key.verify_base64(format!("{signing_string} ").as_bytes(), signature));
}

#[test]
fn rv2_request_signature_verifies() {
    let key = VerifyingKey::from_pem(MERCHANT_PUBLIC_KEY).expect("merchant key");
    let signing_string = r#"{}/v1/charges/ch_test000000000000000000001/reverse1795314675"#;
    let signature = "RWeqYqqf070pDBTdalCeNQmI4WWYi9mET//F8MrQCYkrlNkT2+xq5ZX/t+IzD3MwCf4KyxPJOPG6vjyw1cqshoYNDawh3d3rTL3BbOkiRWkcsItYg4XuuJ3dAvY+YVt2umTMpd6+lSHGo9tyI/frhKLUmheNkaAuqs97qKfSua0fvX9vTVydbs9FBsgrMb49iQ3eAmT4bPop3rhxcQsmeTzB1T86bFh4FR4y9nH+Igk/TEq4FZen4zzMGSduVrEEwuckUP1MTKFXiuVDSbk9VofjuU1eJfYgTAUwob85i4CxzvivewUDCL91VJyPeWUlYAonZK8qbAPgam2mDGc3MQ==";
    assert!(key.verify_base64(signing_string.as_bytes(), signature));
    // One byte more or less in the signed text must fail.
    assert!(!key.verify_base64(format!("{signing_string} ").as_bytes(), signature));
}

#[test]
fn rv3_request_signature_verifies() {
    let key = VerifyingKey::from_pem(MERCHANT_PUBLIC_KEY).expect("merchant key");
    let signing_string = r#"/v1/charges/ch_test000000000000000000001?1795314763"#;
    let signature = "fQO/TZejdPgLqUu7PU0ooMt66lTL+M6UjLWQgJ59t06Gmbf1OTiuESGQTOli7Dl3Peq/eHWJPITSKRFO79x5CkZUAW722jGYtT79R4V6/5uzwFFAXwlpg3t6JaouN/bLpKHPVDyJwN4tQlfH0IxYfk41RPaJRvWd1Sa2sGB3zrRgr3F2yMprDlrBCaE0yU5NW9Hs+fiHPqFIYqyfCa/YtOQJVNbdpLcVdM4OcUafgTzDXsAlJ4zP+aJ0Jm+NFIFzRD5D9k9fWtxcKtxl7OqrpqAVqaY8GxTF7R/uEznmtVkMOUsPtqn5Cpa+G8g0v/eH2F8eMc2u5WKVwqCZIhJd3Q==";
    assert!(key.verify_base64(signing_string.as_bytes(), signature));
    // One byte more or less in the signed text must fail.
    assert!(!key.verify_base64(format!("{signing_string} ").as_bytes(), signature));
}

#[test]
fn rv4_request_signature_verifies() {
    let key = VerifyingKey::from_pem(MERCHANT_PUBLIC_KEY).expect("merchant key");
    let signing_string = r#"/v1/charges?created%5Bgt%5D=1700000000&app%5Bid%5D=app_1Gqj58ynP0mHeX1q&limit=3&paid=true1795314833"#;
    let signature = "XKxeZpQarx/3L2jIhBwE9ZP9hnrj3ru+t533kccpchJyKXUvkIaTC4DhVpk+E0jp17veo1r2y3Dwo9nSoxTssFOOHR8DG23DSzjCit2hjy0KxdxDTY81CXuxGEiYTvycO7pHjANeZXcuFXTauidHkXer+PKUhSolCerpNC8kVRoHJxmTKtpGCMHhQfmlC0R6qWZtQA0wAENTOeSJGib2akz4RWfgIjdGadUcLwRN2scqMjI+hhNlIdzXogWSazjuk6WpiLVtU8XG5RhLXxRsPa0O2LjN57vacKOtToIJGIqANR0pXPtPPU8ylpYJ1TVQlFfwjJ1wyyuNMuab0UeXZQ==";
    assert!(key.verify_base64(signing_string.as_bytes(), signature));
    // One byte more or less in the signed text must fail.
    assert!(!key.verify_base64(format!("{signing_string} ").as_bytes(), signature));
}
