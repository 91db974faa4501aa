//! The webhook signature vectors WV1–WV3 (example events signed by Ping++ itself and published
//! with its SDKs; docs/pingpp-wire.md, "Webhooks"), the Standard Webhooks example vector, and what verification must refuse.

use paymux_crypto::{SigningKey, VerifyingKey};
use paymux_webhook::{EndpointSecret, VerifyError, verify_pingpp};

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
    assert_eq!(verify_pingpp(&key, body.as_bytes(), signature), Ok(()));
    assert_eq!(
        verify_pingpp(
            &key,
            body.replacen("\"livemode\"", "\"Livemode\"", 1).as_bytes(),
            signature
        ),
        Err(VerifyError::BadSignature)
    );
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
    assert_eq!(verify_pingpp(&key, body.as_bytes(), signature), Ok(()));
    assert_eq!(
        verify_pingpp(
            &key,
            body.replacen("\"livemode\"", "\"Livemode\"", 1).as_bytes(),
            signature
        ),
        Err(VerifyError::BadSignature)
    );
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
    assert_eq!(verify_pingpp(&key, body.as_bytes(), signature), Ok(()));
    assert_eq!(
        verify_pingpp(
            &key,
            body.replacen("\"livemode\"", "\"Livemode\"", 1).as_bytes(),
            signature
        ),
        Err(VerifyError::BadSignature)
    );
}

#[test]
fn pingpp_signature_of_own_key_round_trips_and_refuses_empty_header() {
    let key = SigningKey::generate().expect("key");
    let public = VerifyingKey::from_pem(&key.public_key_pem().expect("pem")).expect("public");
    let body = br#"{"id":"evt_1","object":"event"}"#;
    let signature = key.sign_base64(body);
    assert_eq!(verify_pingpp(&public, body, &signature), Ok(()));
    assert_eq!(
        verify_pingpp(&public, body, ""),
        Err(VerifyError::MissingSignature)
    );
}

/// The example of the Standard Webhooks specification (also checked against its Python library).
#[test]
fn standard_webhooks_vector() {
    let secret = EndpointSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("secret");
    let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    let body = br#"{"test": 2432232314}"#;
    let expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    assert_eq!(secret.sign(id, 1_614_265_330, body), expected);
    assert_eq!(
        secret.verify(id, "1614265330", expected, body, 1_614_265_330, 300),
        Ok(())
    );
    // Rotation: several entries, one of which matches.
    let header = format!("v1,AAAA {expected}");
    assert_eq!(
        secret.verify(id, "1614265330", &header, body, 1_614_265_400, 300),
        Ok(())
    );
}

#[test]
fn replay_protection_refuses_tampering_and_stale_timestamps() {
    let secret = EndpointSecret::generate();
    assert!(secret.expose().starts_with("whsec_"));
    assert!(!format!("{secret:?}").contains(secret.expose()));
    let body = br#"{"id":"evt_1"}"#;
    let signature = secret.sign("whd_1", 1_000, body);
    let check = |id: &str, ts: &str, sig: &str, body: &[u8], now: i64| {
        secret.verify(id, ts, sig, body, now, 300)
    };
    assert_eq!(check("whd_1", "1000", &signature, body, 1_100), Ok(()));
    assert_eq!(
        check("whd_1", "1000", &signature, br#"{"id":"evt_2"}"#, 1_100),
        Err(VerifyError::BadSignature)
    );
    assert_eq!(
        check("whd_2", "1000", &signature, body, 1_100),
        Err(VerifyError::BadSignature)
    );
    assert_eq!(
        check("whd_1", "1001", &signature, body, 1_100),
        Err(VerifyError::BadSignature)
    );
    assert_eq!(
        check("whd_1", "1000", &signature, body, 1_301),
        Err(VerifyError::OutsideTolerance(301))
    );
    assert_eq!(
        check("whd_1", "soon", &signature, body, 1_000),
        Err(VerifyError::BadTimestamp)
    );
    assert_eq!(
        check("whd_1", "1000", "", body, 1_000),
        Err(VerifyError::MissingSignature)
    );
    let other = EndpointSecret::generate();
    assert_eq!(
        other.verify("whd_1", "1000", &signature, body, 1_000, 300),
        Err(VerifyError::BadSignature)
    );
    assert!(EndpointSecret::parse("sk_test_x").is_err());
    assert!(EndpointSecret::parse("whsec_").is_err());
}
