//! The official vectors from shared/reference/pingpp-api.md: request signatures (RV1–RV4, §3.2)
//! made by the Python, Node and Java SDKs, and webhook signatures (WV1–WV3, §5.3) made by Ping++.

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

#[test]
fn wv1_webhook_signature_verifies() {
    let key = VerifyingKey::from_pem(
        r"-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAzs8SiPoFQT9K0lWa6WSx
0d6UnA391KM2aFwijY0AK7r+MiAe07ivenopzFL3dqIRhQjuP7d30V85kWydN5UZ
cm/tZgm4K+8wttb988hOrzSjtPOMghHK+bnDwE8FIB+ZbHAZCEVhNfE6i9kLGbHH
Q617+mxUTJ3yEZG9CIgke475o2Blxy4UMsRYjo2gl5aanzmOmoZcbiC/R5hXSQUH
XV9/VzA7U//DIm8Xn7rerd1n8+KWCg4hrIIu/A0FKm8zyS4QwAwQO2wdzGB0h15t
uFLhjVz1W5ZPXjmCRLzTUoAvH12C6YFStvS5kjPcA66P1nSKk5o3koSxOumOs0iC
EQIDAQAB
-----END PUBLIC KEY-----
",
    )
    .expect("platform key");
    let body = r#"{"id":"evt_04qN8cXQvIhssduhS4hpqd9p","created":1427555016,"livemode":false,"type":"account.summary.available","data":{"object":{"acct_id":"acct_0eHSiDyzv9G09ejT","object":"account_daily_summary","acct_display_name":"xx公司","created":1425139260,"summary_from":1425052800,"summary_to":1425139199,"charges_amount":1000,"charges_count":100}},"object":"event","pending_webhooks":2,"request":null,"scope":"acct_1234567890123456","acct_id":"acct_1234567890123456"}"#;
    let signature = "PcU0SMJhbPObiIVinNnalZOjI02koWozxLrxa3WQW3rK/n7I+EuVGuXvhsq2MIfUaNiHZDgRFYybGtKr1uuFzEXjA4PwmnDHfWgwRPdjgseoU0eke6ZqGpklBRVTbF6PUy6/vAqur4xb7h1wpdrteUpCPafzDmVPsQLicdojJ/TF9ACjQW8gTNiS6tE9gL5hxy0RJ3/okRJo6dz2pvJBWkjCrgp/r98z/LQijA1o//atZrH63+DcL/GwEOgaymqbodzusXF+g6WMJ/GTJgjdPRHvpO9UAAUKkOQqvwthJvsXIH/L1xqvy+tFpo2J0Ptwg85bowKoyy1qC5ak3sqWqw==";
    assert!(key.verify_base64(body.as_bytes(), signature));
    assert!(!key.verify_base64(
        body.replacen("\"livemode\"", "\"Livemode\"", 1).as_bytes(),
        signature
    ));
}

#[test]
fn wv2_webhook_signature_verifies() {
    let key = VerifyingKey::from_pem(
        r"-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAy0d0QxZFYeHXGeWWneib
4Q0jUFjj4ro7bMnIJ8DjZ4w2NtLJi8p1mcFMbrIS5g95U5FUBCfAZXFb2QIaJfft
BByCQRbon7Jb97XoTP6kfk65tLz8Q9Cank1Ah/qivPIY0aNwvq8stedq9rcuJ6OQ
ncbfQ1217/Za50vKotYa+MEcFo9Y65biEmzq7BZeNYzuU4dGrPaCi917cfwNa8ey
ZSpoIOBe8e5JGOtZKCfgsgfecbXxdh6jq8Qn6mmrJILapEdxlj4xfzBzAuM3snqt
5XnDzzFWlI5Z+4lhyZr7eFVmnQSqn1HWt4VPzz/EWvxP8Rkvy89XuRXBAiO3/7Ur
8wIDAQAB
-----END PUBLIC KEY-----
",
    )
    .expect("platform key");
    let body = r#"{"id":"evt_eYa58Wd44Glerl8AgfYfd1sL","created":1434368075,"livemode":true,"type":"charge.succeeded","data":{"object":{"id":"ch_bq9IHKnn6GnLzsS0swOujr4x","object":"charge","created":1434368069,"livemode":true,"paid":true,"refunded":false,"app":"app_vcPcqDeS88ixrPlu","channel":"wx","order_no":"2015d019f7cf6c0d","client_ip":"140.227.22.72","amount":100,"amount_settle":0,"currency":"cny","subject":"An Apple","body":"A Big Red Apple","extra":{},"time_paid":1434368074,"time_expire":1434455469,"time_settle":null,"transaction_no":"1014400031201506150354653857","refunds":{"object":"list","url":"/v1/charges/ch_bq9IHKnn6GnLzsS0swOujr4x/refunds","has_more":false,"data":[]},"amount_refunded":0,"failure_code":null,"failure_msg":null,"metadata":{},"credential":{},"description":null}},"object":"event","pending_webhooks":0,"request":"iar_Xc2SGjrbdmT0eeKWeCsvLhbL"}"#;
    let signature = "BX5sToHUzPSJvAfXqhtJicsuPjt3yvq804PguzLnMruCSvZ4C7xYS4trdg1blJPh26eeK/P2QfCCHpWKedsRS3bPKkjAvugnMKs+3Zs1k+PshAiZsET4sWPGNnf1E89Kh7/2XMa1mgbXtHt7zPNC4kamTqUL/QmEVI8LJNq7C9P3LR03kK2szJDhPzkWPgRyY2YpD2eq1aCJm0bkX9mBWTZdSYFhKt3vuM1Qjp5PWXk0tN5h9dNFqpisihK7XboB81poER2SmnZ8PIslzWu2iULM7VWxmEDA70JKBJFweqLCFBHRszA8Nt3AXF0z5qe61oH1oSUmtPwNhdQQ2G5X3g==";
    assert!(key.verify_base64(body.as_bytes(), signature));
    assert!(!key.verify_base64(
        body.replacen("\"livemode\"", "\"Livemode\"", 1).as_bytes(),
        signature
    ));
}

#[test]
fn wv3_webhook_signature_verifies() {
    let key = VerifyingKey::from_pem(
        r"-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAoXV1qdwYGq6lac+EIVxx
1/wGcjjy5InO08QBvUGDQMKAWjg/UvnNmnTZJvxUu18UVtwoHIls24EHZ96im3k0
DPn43aSGyR417g9rqUL2N1H/0dCNcT8LY8sZL/sw/IV//IQcZYv/8EO6+7SClw+G
Jpib84QfmDgUPbQC0dhl1R1Q8e8RoE/+70yX6OY22kRr14KjRZiVQ0UMZS5KaPwS
FJ1egyNDCLFoLyhRQMV5vDxMdpIvxZuGW+3aTZkW8v/ISXWmSFpI/dlpxHp0+h6p
sdai2RzXYuyzbeOPyQEZkyGfR6BX2Gv/l80nEFNup7uNmAt/be9IdpSZlxpF4HlI
8wIDAQAB
-----END PUBLIC KEY-----
",
    )
    .expect("platform key");
    let body = r#"{"id":"evt_400240816160755820469807","created":1723795675,"livemode":false,"type":"charge.succeeded","data":{"object":{"id":"ch_100240816592822384640019","object":"charge","created":1723795492,"livemode":false,"paid":true,"refunded":false,"reversed":false,"app":"app_eTC8yLuj9GSSL0yv","channel":"wx_pub","order_no":"1723795491985uqclqj7","client_ip":"127.0.0.1","amount":100,"amount_settle":100,"currency":"cny","subject":"Your Subject","body":"Your Body","extra":{"open_id":"o7xEMsySBFG3MVHI-9VsAJX-j50W","limit_pay":"no_credit","bank_type":"your bank type"},"time_paid":1723795675,"time_expire":1723802692,"time_settle":null,"transaction_no":"1290362656202408163243920572","refunds":{"object":"list","url":"/v1/charges/ch_100240816592822384640019/refunds","has_more":false,"data":[]},"amount_refunded":0,"failure_code":null,"failure_msg":null,"metadata":{},"credential":{},"description":null}},"object":"event","request":"iar_mrrvj9ivPOaHPOi9aLPWPqvT","pending_webhooks":0}"#;
    let signature = "Ju5ItDM9Hblkm6Pbb/r3G9iM58oCtAUJlJDrOud0E23TUtGBxKYJSMcuTFbPgLGLKy5QHYovJJojjMjM1CMGCp82F+SOY1U2zuwzkAk0lVqhfQk+CWGpcyUzOtLOOblKidyuIb+axZDTIg4kK/JoOR2xMH3+cJD9BN6rtfzEDbHqyZIfv6n3y/LdZNhsXfQq+qoIRuLdHrFexk1USgk7SXFvH1pCOIt8o2+dryp/ixlNj1vGq57eE8sbEzPo72vxLtzPazlgR+67cS1bUxjzObh7YFbSSTJxkHDEIi3ipTpoiI7Kc5ng7EzsWgp3cAl7on5HztfFLfT8+Bjpdvtr6w==";
    assert!(key.verify_base64(body.as_bytes(), signature));
    assert!(!key.verify_base64(
        body.replacen("\"livemode\"", "\"Livemode\"", 1).as_bytes(),
        signature
    ));
}
