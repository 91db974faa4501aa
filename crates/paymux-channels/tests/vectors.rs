//! Every protocol-layer test vector we hold: the official ones (O1, O2, O6–O8, from the channels'
//! own SDK test suites) and the derived ones (D1, D2, D6–D8, computed with the public test key
//! those suites ship; the numbers left out were WeChat Pay v3's, which paymux does not speak). RSA PKCS#1 v1.5 and
//! AES-GCM/ECB with a given nonce are deterministic, so every signature and ciphertext is
//! reproduced byte for byte, not only verified. Each vector also has a tampered counterpart
//! that must fail.

use paymux_channels::wechat_v2::{self, SignType};
use paymux_channels::{Error, Params, alipay, form, keys, unionpay};
use paymux_crypto::{SigningKey, VerifyingKey};

// ---------------------------------------------------------------------------------------------
// Key material: the public test keys of the channels' SDK test suites

/// A1: wechatpay-go's test key. The SDK labels it `TESTING KEY` to dodge secret scanners; it is
/// PKCS#8 (`PRIVATE KEY`).
const A1_TESTING_KEY: &str = "-----BEGIN TESTING KEY-----
MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQDZUJN33V+dSfvd
fL0Mu+39XrZNXFFMQSy1V15FpncHeV47SmV0TzTqZc7hHB0ddqAdDi8Z5k3TKqb7
6sOwYr5TcAfuR6PIPaleyE0/0KrljBum2Isa2Nyq7Dgc3ElBQ6YN4l/a+DpvKaz1
FSKmKrhLNskqokWVSlu4g8OlKlbPXQ9ibII14MZRQrrkTmHYHzfi7GXXM0thAKuR
0HNvyhTHBh4/lrYM3GaMvmWwkwvsMavnOex6+eioZHBOb1/EIZ/LzC6zuHArPpyW
3daGaZ1rtQB1vVzTyERAVVFsXXgBHvfFud3w3ShsJYk8JvMwK2RpJ5/gV0QSARcm
LDRUAlPzAgMBAAECggEBAMc7rDeUaXiWv6bMGbZ3BTXpg1FhdddnWUnYE8HfX/km
OFI7XtBHXcgYFpcjYz4D5787pcsk7ezPidAj58zqenuclmjKnUmT3pfbI5eCA2v4
C9HnbYDrmUPK1ZcADtka4D6ScDccpNYNa1g2TFHzkIrEa6H+q7S3O2fqxY/DRVtN
0JIXalBb8daaqL5QVzSmM2BMVnHy+YITJWIkP2a3pKs9C0W65JGDsnG0wVrHinHF
+cnhFZIbaPEI//DAFMc9NkrWOKVRTEgcCUxCFaHOZVNxDWZD7A2ZfJB2rK6eg//y
gEiFDR2h6mTaDowMB4YF2n2dsIO4/dCG8vPHI20jn4ECgYEA/ZGu6lEMlO0XZnam
AZGtiNgLcCfM/C2ZERZE7QTRPZH1WdK92Al9ndldsswFw4baJrJLCmghjF/iG4zi
hhBvLnOLksnZUfjdumxoHDWXo2QBWbI5QsWIE7AuTiWgWj1I7X4fCXSQf6i+M/y2
6TogQ7d0ANpZFyOkTNMn/tiJvLECgYEA22XqlamG/yfAGWery5KNH2DGlTIyd6xJ
WtJ9j3jU99lZ0bCQ5xhiBbU9ImxCi3zgTsoqLWgA/p00HhNFNoUcTl9ofc0G3zwT
D1y0ZzcnVKxGJdZ6ohW52V0hJStAigtjYAsUgjm7//FH7PiQDBDP1Wa6xSRkDQU/
aSbQxvEE8+MCgYEA3bb8krW7opyM0XL9RHH0oqsFlVO30Oit5lrqebS0oHl3Zsr2
ZGgoBlWBsEzk3UqUhTFwm/DhJLTSJ/TQPRkxnhQ5/mewNhS9C7yua7wQkzVmWN+V
YeUGTvDGDF6qDz12/vJAgSwDDRym8x4NcXD5tTw7mmNRcwIfL22SkysThIECgYAV
BgccoEoXWS/HP2/u6fQr9ZIR6eV8Ij5FPbZacTG3LlS1Cz5XZra95UgebFFUHHtC
EY1JHJY7z8SWvTH8r3Su7eWNaIAoFBGffzqqSVazfm6aYZsOvRY6BfqPHT3p/H1h
Tq6AbBffxrcltgvXnCTORjHPglU0CjSxVs7awW3AEQKBgB5WtaC8VLROM7rkfVIq
+RXqE5vtJfa3e3N7W3RqxKp4zHFAPfr82FK5CX2bppEaxY7SEZVvVInKDc5gKdG/
jWNRBmvvftZhY59PILHO2X5vO4FXh7suEjy6VIh0gsnK36mmRboYIBGsNuDHjXLe
BDa+8mDLkWu5nHEhOxy2JJZl
-----END TESTING KEY-----
";

const A1_PUBLIC_KEY: &str = "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA2VCTd91fnUn73Xy9DLvt
/V62TVxRTEEstVdeRaZ3B3leO0pldE806mXO4RwdHXagHQ4vGeZN0yqm++rDsGK+
U3AH7kejyD2pXshNP9Cq5YwbptiLGtjcquw4HNxJQUOmDeJf2vg6byms9RUipiq4
SzbJKqJFlUpbuIPDpSpWz10PYmyCNeDGUUK65E5h2B834uxl1zNLYQCrkdBzb8oU
xwYeP5a2DNxmjL5lsJML7DGr5znsevnoqGRwTm9fxCGfy8wus7hwKz6clt3Whmmd
a7UAdb1c08hEQFVRbF14AR73xbnd8N0obCWJPCbzMCtkaSef4FdEEgEXJiw0VAJT
8wIDAQAB
-----END PUBLIC KEY-----
";

/// A2: the Alipay public key of the Node SDK's response fixture, one PEM line as published.
const A2_ALIPAY_PUBLIC_KEY: &str = "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAk7LzhmMa2c4qQd4fqAqenfbuFoA7stPKvoS1LrZEsVnOOGUUjwoa1oU9xsSPjcOWhIerU/VAN4J95GIAXx59ipcleIyfLn2FhHXPgLJpvo+b2jJFyn/1/DbeJDh+0yDVAOf50Z7HhI0mdUhFMkXlT7BU0ZMtJf/TmISFEfhDU/w6qFd6D42L97byAkq0K6LroglSVF24GqJEa7hSeUIkZWj7RasykXrc2uVJ1+ejkXE0LyPxa2AHykMGbJLf5SiZvaNzUZgnKIR36mLOHpQ/2JCXxhXZYUWHzy0kMH54JcUEeksFWBYLGvLjV1phbcUIc3Q76tIuqApY6E222OoZZQIDAQAB
-----END PUBLIC KEY-----
";

/// A3: the Node SDK's "notify V2" Alipay public key (vector N2).
const A3_ALIPAY_NOTIFY_V2_KEY: &str = "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAk6DCsBIUhWriFohzRV8F
ic6oQWNnLKKILNk97VU5qcHEuxYzCujKoyva5gy1170mFJw4IcgJF8AyS7iDUwzA
wF4Pp9CpWxDhUhe7mdQJhjBmvTcPLGFFrzlj6unO5lAcbdwaxPUtSxOaNxPJGrTK
/wnKQSbjTMMltp1J68q2Tfgrsn/NdZ6lrxO9rvmky8kowqaH5NjntyHO59jCGabM
j5sI14z8N61wB/QuIJrDuzIPMPrSNbq0cOWcSCDG09oUHTp9fk7suDB8UiFcmVTX
OvK3d4HbeX8V9YsEMxrwxEoYgRRj6K2qrC6oxw480cqf2ueumCmHg6xrcgkyXK81
hwIDAQAB
-----END PUBLIC KEY-----
";

/// docs/channels/alipay.md, "Notifications": the Node SDK's "notifyAlipayPublicKeyV1" (vector N1), bare base64 as Alipay hands out.
const N1_ALIPAY_NOTIFY_V1_KEY: &str = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAqObrdC7hrgAVM98tK0nv3hSQRGGKT4lBsQjHiGjeYZjOPIPHR5knm2jnnz/YGIXIofVHkA/tAlBAd5DrY7YpvI4tP5EONLtZKC2ghBMx7McI2wRD0xiqzxOQr1FuhZGJ8/AUokBzJrzY+aGX2xcOrxFYRlFilvVLTXg4LWjR1tdPkO6+i7wQZAIVMClPkwVRZEbaERRHlKqTzv2gGv5rDU8gRoe1LeaN+6BlbTqHWkQcNCUNrA8C6l17XAXGKDsm/9TFWwO8EPHHHCaQdjtV5/FdcWIt+L8SR1ss7EXTjYDFtxcKVv9rEoY1lX8T4mX+GbXfZHraG5NCF1+XioL5JwIDAQAB";

fn a1_signing_key() -> SigningKey {
    SigningKey::from_pem(&A1_TESTING_KEY.replace("TESTING KEY", "PRIVATE KEY")).expect("A1 key")
}

fn a1_verifying_key() -> VerifyingKey {
    VerifyingKey::from_pem(A1_PUBLIC_KEY).expect("A1 public key")
}

#[test]
fn a1_public_key_belongs_to_a1_private_key() {
    let derived = a1_signing_key().public_key_pem().expect("pem");
    assert_eq!(
        derived.split_whitespace().collect::<String>(),
        A1_PUBLIC_KEY.split_whitespace().collect::<String>()
    );
}

// ---------------------------------------------------------------------------------------------
// WeChat Pay v2

const WX_V2_API_KEY: &str = "192006250b4c09247ec02edce69f6a2d";

/// O1 [official: WxJava `SignUtilsTest`, data from WeChat's own sign page].
#[test]
fn o1_wechat_v2_md5_and_hmac_sha256_sign() {
    let params = Params::new()
        .with("appid", "wxd930ea5d5a258f4f")
        .with("body", "test")
        .with("device_info", "1000")
        .with("mch_id", "10000100")
        .with("nonce_str", "ibuaiVcKdpRxkhJA");
    assert_eq!(
        wechat_v2::string_to_sign(&params, WX_V2_API_KEY),
        format!(
            "appid=wxd930ea5d5a258f4f&body=test&device_info=1000&mch_id=10000100&nonce_str=ibuaiVcKdpRxkhJA&key={WX_V2_API_KEY}"
        )
    );
    assert_eq!(
        wechat_v2::sign(&params, SignType::Md5, WX_V2_API_KEY),
        "9A0A8659F005D6984697E2CA0A9CF3B7"
    );
    // The vector has no `sign_type` even for HMAC: it tests the digest only.
    assert_eq!(
        wechat_v2::sign(&params, SignType::HmacSha256, WX_V2_API_KEY),
        "6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6"
    );

    let mut signed = params.clone();
    wechat_v2::add_sign(&mut signed, SignType::Md5, WX_V2_API_KEY);
    assert_eq!(
        wechat_v2::verify(&signed, SignType::Md5, WX_V2_API_KEY),
        Ok(())
    );
    signed.insert("body", "test2");
    assert_eq!(
        wechat_v2::verify(&signed, SignType::Md5, WX_V2_API_KEY),
        Err(Error::SignatureMismatch)
    );
}

fn d1_native_request() -> Params {
    Params::new()
        .with("appid", "wx2421b1c4370ec43b")
        .with("mch_id", "10000100")
        .with("nonce_str", "1add1a30ac87aa2db72f57a2375d8fec")
        .with("body", "QQ公仔")
        .with("out_trade_no", "1415659990")
        .with("total_fee", "1")
        .with("spbill_create_ip", "14.23.150.211")
        .with(
            "notify_url",
            "http://wxpay.wxutil.com/pub_v2/pay/notify.v2.php",
        )
        .with("trade_type", "NATIVE")
        .with("product_id", "12235413214070356458058")
        .with("attach", "")
}

/// D1 [derived]: a NATIVE unifiedorder with an empty `attach` (skipped) and a UTF-8 body; the
/// same with `sign_type=HMAC-SHA256`, which takes part in the string; and two simulator
/// responses.
#[test]
fn d1_wechat_v2_native_request_and_responses() {
    let params = d1_native_request();
    assert_eq!(
        wechat_v2::string_to_sign(&params, WX_V2_API_KEY),
        format!(
            "appid=wx2421b1c4370ec43b&body=QQ公仔&mch_id=10000100&nonce_str=1add1a30ac87aa2db72f57a2375d8fec&notify_url=http://wxpay.wxutil.com/pub_v2/pay/notify.v2.php&out_trade_no=1415659990&product_id=12235413214070356458058&spbill_create_ip=14.23.150.211&total_fee=1&trade_type=NATIVE&key={WX_V2_API_KEY}"
        )
    );
    assert_eq!(
        wechat_v2::sign(&params, SignType::Md5, WX_V2_API_KEY),
        "976ECC2A8F19EFE50C35949F2C41C384"
    );

    let mut hmac = params.clone();
    wechat_v2::sign_request(&mut hmac, SignType::HmacSha256, WX_V2_API_KEY);
    assert_eq!(
        wechat_v2::string_to_sign(&hmac, WX_V2_API_KEY),
        format!(
            "appid=wx2421b1c4370ec43b&body=QQ公仔&mch_id=10000100&nonce_str=1add1a30ac87aa2db72f57a2375d8fec&notify_url=http://wxpay.wxutil.com/pub_v2/pay/notify.v2.php&out_trade_no=1415659990&product_id=12235413214070356458058&sign_type=HMAC-SHA256&spbill_create_ip=14.23.150.211&total_fee=1&trade_type=NATIVE&key={WX_V2_API_KEY}"
        )
    );
    assert_eq!(
        hmac.get("sign"),
        Some("57FE20DD041BEABD401675BE7CF7EF57A979366BEFD9E663696B430527AD68E9")
    );

    // The request survives the XML round trip with its signature intact.
    let decoded = wechat_v2::from_xml(&wechat_v2::to_xml(&hmac).expect("xml")).expect("parse");
    assert_eq!(
        wechat_v2::verify(&decoded, SignType::HmacSha256, WX_V2_API_KEY),
        Ok(())
    );
    let mut tampered = decoded;
    tampered.insert("total_fee", "100");
    assert_eq!(
        wechat_v2::verify(&tampered, SignType::HmacSha256, WX_V2_API_KEY),
        Err(Error::SignatureMismatch)
    );

    // Simulator responses (MD5).
    let mut prepay = Params::new()
        .with("return_code", "SUCCESS")
        .with("return_msg", "OK")
        .with("appid", "wx2421b1c4370ec43b")
        .with("mch_id", "10000100")
        .with("nonce_str", "IITRi8Iabbblz1Jc")
        .with("result_code", "SUCCESS")
        .with("prepay_id", "wx201411101639507cbf6ffd8b0779950874")
        .with("trade_type", "NATIVE")
        .with("code_url", "weixin://wxpay/bizpayurl?pr=p4lpSuKzz");
    wechat_v2::add_sign(&mut prepay, SignType::Md5, WX_V2_API_KEY);
    assert_eq!(prepay.get("sign"), Some("6B4EC448BFFC5863EADCD79A32B4E3F1"));
    let received = wechat_v2::from_xml(&wechat_v2::to_xml(&prepay).expect("xml")).expect("parse");
    assert_eq!(
        wechat_v2::verify_response(&received, SignType::Md5, WX_V2_API_KEY),
        Ok(wechat_v2::Outcome::Success)
    );

    let mut userpaying = Params::new()
        .with("return_code", "SUCCESS")
        .with("return_msg", "OK")
        .with("appid", "wx2421b1c4370ec43b")
        .with("mch_id", "10000100")
        .with("nonce_str", "IITRi8Iabbblz1Jc")
        .with("result_code", "FAIL")
        .with("err_code", "USERPAYING")
        .with("err_code_des", "需要用户输入支付密码");
    wechat_v2::add_sign(&mut userpaying, SignType::Md5, WX_V2_API_KEY);
    assert_eq!(
        userpaying.get("sign"),
        Some("89182C9B182171CA61828B2A160BD542")
    );
    assert_eq!(
        wechat_v2::verify_response(&userpaying, SignType::Md5, WX_V2_API_KEY),
        Ok(wechat_v2::Outcome::BusinessFailure {
            err_code: Some("USERPAYING".into()),
            err_code_des: Some("需要用户输入支付密码".into()),
            class: wechat_v2::ErrorClass::Unknown,
        })
    );
    // A forged "it went through" must not verify.
    userpaying.insert("result_code", "SUCCESS");
    assert_eq!(
        wechat_v2::verify_response(&userpaying, SignType::Md5, WX_V2_API_KEY),
        Err(Error::SignatureMismatch)
    );
}

const D2_PLAINTEXT: &str = "<root><out_refund_no><![CDATA[R4001312001201707262674894706_4]]></out_refund_no><out_trade_no><![CDATA[201707260201501501005710775]]></out_trade_no><refund_account><![CDATA[REFUND_SOURCE_UNSETTLED_FUNDS]]></refund_account><refund_fee><![CDATA[15]]></refund_fee><refund_id><![CDATA[50000203702017072601461713166]]></refund_id><refund_recv_accout><![CDATA[用户零钱]]></refund_recv_accout><refund_request_source><![CDATA[API]]></refund_request_source><refund_status><![CDATA[SUCCESS]]></refund_status><settlement_refund_fee><![CDATA[15]]></settlement_refund_fee><settlement_total_fee><![CDATA[100]]></settlement_total_fee><success_time><![CDATA[2017-07-26 02:45:49]]></success_time><total_fee><![CDATA[100]]></total_fee><transaction_id><![CDATA[4001312001201707262674894706]]></transaction_id></root>";

const D2_REQ_INFO: &str = "WBzGpzQuNpcFxIlFjUUD9BchFsdYwF2Fj3Uvpw1pyaTrhR9nvp+uPhP9sIS4ANoLCHzeNaR0SYpe6siUC+eGyY1BeidSeMVOF7qN2/pTWgLNu4BrbKPwyMzY/2zON4YNhrdIPVAmMYLh4ow50HjFjufi8NrBWHTdQL0myyhWXrYNHxbst0m6XRdLSTLP+ecPv01tl4kpSPESEHX3lJwOlxVkGAQc4jwXRQLQSfiLjTQKomfMRdpn8cicm/a+BdKqg3FmTVIVDNgiAwiC1RHCEWCkVpqmd8lSfafoom/bBstLA8tfFaYlB084bPc/w4XokUCyDiyQFzLxPYzKDzGgg2YiARvSMvjyC1xC23YmNwGvm+C5rQ/Z0xQ3Zi1/sHfJTczXo2EguvgQ0ezElYz+eY3rQwCp2pQQ6/8uD9jNgvW7QhQpWihfX0cNIl0CsQ2FiRNXWmPBzK0t21COHS2WWNStIwD8/+z89x8HlyyGyn2cAWY5h8wb+2D8LCK9UWA9l4zPq5SMq4Dg8+4FqlfJUc/N0UICa2lodyl44nBrbP3amju/Zm6yyyFr74jl2GUsGO3PBrqfP1mbX96WiG09BU7z2izuAeHmSGPEVd1prk1Lx7DdRIWuS+hkxtic98ck3mpGiu9uiBlNToYkg4R0i2uFe4xgT6lVi9Z4txA8+ewgAzic10AxRBJwCj0RGVTcldsEVwuJ2s9YrTlohZf0sb7gHckdq54RI5fgYGFUdrzLVaLp4Uzs+gqVLSAhy0qVwMcUagvExaart4CsYXgDEqkZEoaWewhTTIkpPE3X6iZZ8w0J85EVWUYOrehRuz2wBJgPh+/dP5/1et7efmDXofkkqF2bJX6rD2Vf2y7zvjh7YaRHCvSY03pOWwGH2gZ2vu4TLs9ojgQg/mWqTMFYyE8KN3FQqIZs1yo8P0cOVwXrZce8w/i3Bj021GHeOG0r52LBQsju6cC5awVbVnS9ZsXspUDjimdW7xgiih/x3G/St/Fy9TJ75qosT2HVoi+Bi7Tn8o3pOAilJjF3p2XRH6NZbZfzewwZZWJ78KFnqVFJDTNTeGUKSCsndbTmbFMR";

/// D2 [derived; round-trip verified]: refund-notification `req_info`, with
/// WxJava's official example plaintext. (WxJava's own encrypted sample cannot be used: the key
/// behind it is not published.)
#[test]
fn d2_wechat_v2_refund_req_info() {
    assert_eq!(
        &wechat_v2::req_info_key(WX_V2_API_KEY),
        b"d96eb16afdd491fa1e705096edbc2205"
    );
    assert_eq!(
        wechat_v2::decrypt_req_info_xml(D2_REQ_INFO, WX_V2_API_KEY).as_deref(),
        Ok(D2_PLAINTEXT)
    );
    // ECB is deterministic: encryption reproduces the vector, from the text and from the fields
    // (which are rendered exactly as WeChat writes them: sorted, every value in CDATA).
    assert_eq!(
        wechat_v2::encrypt_req_info_xml(D2_PLAINTEXT, WX_V2_API_KEY).as_deref(),
        Ok(D2_REQ_INFO)
    );
    let info = wechat_v2::decrypt_req_info(D2_REQ_INFO, WX_V2_API_KEY).expect("decrypt");
    assert_eq!(
        info.get("out_refund_no"),
        Some("R4001312001201707262674894706_4")
    );
    assert_eq!(info.get("refund_status"), Some("SUCCESS"));
    assert_eq!(info.get("refund_recv_accout"), Some("用户零钱"));
    assert_eq!(info.get("success_time"), Some("2017-07-26 02:45:49"));
    assert_eq!(info.len(), 13);
    assert_eq!(
        wechat_v2::encrypt_req_info(&info, WX_V2_API_KEY).as_deref(),
        Ok(D2_REQ_INFO)
    );

    // Another merchant's key, or a flipped byte, does not decrypt to the same document.
    assert!(wechat_v2::decrypt_req_info(D2_REQ_INFO, "00000000000000000000000000000000").is_err());
    let mut bytes = D2_REQ_INFO.as_bytes().to_vec();
    bytes[10] = if bytes[10] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(bytes).expect("ascii");
    assert_ne!(
        wechat_v2::decrypt_req_info_xml(&flipped, WX_V2_API_KEY)
            .ok()
            .as_deref(),
        Some(D2_PLAINTEXT)
    );
}

// ---------------------------------------------------------------------------------------------
// RSA signing with WeChat Pay's test key

/// O2 [official: wechatpay-go `sha256withrsa_signer_test.go`].
#[test]
fn o2_wechat_rsa_sign_primitive() {
    let signature = "BKyAfU4iMCuvXMXS0Wzam3V/cnxZ+JaqigPM5OhljS2iOT95OO6Fsuml2JkFANJU9K6q9bLlDhPXuoVz+pp4hAm6pHU4ld815U4jsKu1RkyaII+1CYBUYC8TK0XtJ8FwUXXz8vZHh58rrAVN1XwNyvD1vfpxrMT4SL536GLwvpUHlCqIMzoZUguLli/K8V29QiOhuH6IEqLNJn8e9b3nwNcQ7be3CzYGpDAKBfDGPCqCv8Rw5zndhlffk2FEA70G4hvMwe51qMN/RAJbknXG23bSlObuTCN7Ndj1aJGH6/L+hdwfLpUtJm4QYVazzW7DFD27EpSQEqA8bX9+8m1rLg==";
    assert_eq!(a1_signing_key().sign_base64(b"source"), signature);
    assert!(a1_verifying_key().verify_base64(b"source", signature));
    assert!(!a1_verifying_key().verify_base64(b"sourcE", signature));
}

// ---------------------------------------------------------------------------------------------
// Alipay

/// D6 [derived]: an `alipay.trade.precreate` request.
#[test]
fn d6_alipay_request_signature() {
    let mut params = Params::new()
        .with("app_id", "2014072300007148")
        .with(
            "biz_content",
            r#"{"out_trade_no":"20150320010101001","total_amount":"88.88","subject":"Iphone6 16G"}"#,
        )
        .with("charset", "utf-8")
        .with("format", "JSON")
        .with("method", "alipay.trade.precreate")
        .with(
            "notify_url",
            "http://api.test.alipay.net/atinterface/receive_notify.htm",
        )
        .with("timestamp", "2014-07-24 03:07:50")
        .with("version", "1.0")
        .with("app_auth_token", "");
    alipay::sign_request(&mut params, &a1_signing_key());
    assert_eq!(
        alipay::request_sign_content(&params),
        r#"app_id=2014072300007148&biz_content={"out_trade_no":"20150320010101001","total_amount":"88.88","subject":"Iphone6 16G"}&charset=utf-8&format=JSON&method=alipay.trade.precreate&notify_url=http://api.test.alipay.net/atinterface/receive_notify.htm&sign_type=RSA2&timestamp=2014-07-24 03:07:50&version=1.0"#
    );
    assert_eq!(
        params.get("sign"),
        Some(
            "TyxEwYGwSCuppWwQzvh1bu7DJcmZtZmp0+PYNP+q2+3xzbuRgnS1ObHbj3qYwuZaCVWfImjo038lwUx5s96lHyRexcrlrciLgA2piyagAU61fkUEbnpbo4njLe2OlkTEnfjVvDM4zMCR0slPDoFPCzlmXJnXghKKG0bvp2ukh03cLJq3qWs3l4JYPhTE8uWRHGhNTweYhJw4JfQIEBsqO9SKM242Fz0thuLKyNsPsiEx1/osT93BawwqAAohAoEVnK5C086HobyQz2nRSJF0PGkF7fcghu15qQRK5/aspaM2oxjUlYWyXP9XE14pvAC7UcIrszCLLUO1WA18kn4coQ=="
        )
    );

    // What the simulator does with it, after the form round trip.
    let received = form::parse(form::encode(&params).as_bytes()).expect("form");
    let verifier = a1_verifying_key();
    assert_eq!(alipay::verify_request(&received, &verifier), Ok(()));
    let mut tampered = received;
    tampered.insert("timestamp", "2014-07-24 03:07:51");
    assert_eq!(
        alipay::verify_request(&tampered, &verifier),
        Err(Error::SignatureMismatch)
    );
}

/// O6 [official: Node SDK `checkResponseSign should work`]: a real gateway response.
#[test]
fn o6_alipay_response_signature() {
    let body = r#"{"alipay_open_file_upload_response":{"code":"10000","msg":"Success","file_id":"CAxAToWB1JsAAAAAAAAAAAAADgSLAQBr"},"sign":"F+LDzpTNiavn7xVZPGuPCSSVRSmWzJGgtuji6tVELGEaqMaNj0jRKXUEr5nloZJBBmwEnddOyCjjepMmrTKTvoOqQ0Efxpr/R1iEeHTHVbb/Q8TTh6Up5gHJDkILdaWS2q1cWeQ6VT+HQY9P3WRXS7uhILHuDODIhpAyCu5KhWGt0rMCIG+Im6NODJP2oohtSCtmTFXg58HH587Z2y2bdbjzOxLvzD9IrU1imghXQ2S/Q+wMIvRk9on6cWnBLkrNvJKapA2ReNGWOwyuASvB9zDVzhMPbR+3mfRGkVDxsq5HYLjBKGskJMXHw0HuugZij6ScRuaLPODhmHwr/pJ9yw=="}"#;
    let key = keys::verifying_key(A2_ALIPAY_PUBLIC_KEY).expect("A2 key");
    let response =
        alipay::verify_response(body, "alipay.open.file.upload", &key).expect("verified");
    assert_eq!(response.node, alipay::ResponseNode::Method);
    assert_eq!(
        response.content,
        r#"{"code":"10000","msg":"Success","file_id":"CAxAToWB1JsAAAAAAAAAAAAADgSLAQBr"}"#
    );

    let tampered = body.replace("CAxAToWB1Js", "CAxAToWB1JT");
    assert_eq!(
        alipay::verify_response(&tampered, "alipay.open.file.upload", &key),
        Err(Error::SignatureMismatch)
    );
    // Re-serialising the content (here: adding a space) breaks the signature too.
    let reformatted = body.replace("\"msg\":\"Success\"", "\"msg\": \"Success\"");
    assert_eq!(
        alipay::verify_response(&reformatted, "alipay.open.file.upload", &key),
        Err(Error::SignatureMismatch)
    );
    // The wrong method name finds no node.
    assert!(matches!(
        alipay::verify_response(body, "alipay.trade.query", &key),
        Err(Error::ResponseNodeMissing(_))
    ));
}

/// docs/channels/alipay.md, "Answers and their verification" extraction-only vector [official: Node SDK `getSignStr` tests]: `\/` is kept verbatim,
/// whitespace around the node is tolerated and an inner `sign` stays in the content.
#[test]
fn alipay_response_extraction_keeps_raw_bytes() {
    let sign = "P8xrBWqZCUv11UrEBjhQ4Sk3hyj4607qehO2VbKIS0hWa4U+NeLlOftqTyhGv+x1lzfqN590Y/8CaNIzEEg06FiNWJlUFM/uEFJLzSKGse4MjHbblpiSzI3eCV5RzxH26wZbEd9wyVYYi0pHFBf35UrBva47g7b5EuKCHfoVA95/zin9fAyb3xhhiHhmfGaWIDV/1LmE2vtqtOHQnISbY/deC71U614ySZ3YB97ws8npCcCJ+tgZvhHPkMRGvmyYPCRDB/aIN/sKDSLtfPp0u8DxE8pHLvCHm3wR84MQxqNbKgpd8NTKNvH+obELsbCrqPhjW7qI48634qx6enDupw==";
    let content = r#"{"code":"10000","msg":"Success","image_id":"Zp1Nm6FDTZaEuSSniGd5awAAACMAAQED","image_url":"http:\/\/oalipay-dl-django.alicdn.com\/rest\/1.0\/image?fileIds=Zp1Nm6FDTZaEuSSniGd5awAAACMAAQED&zoom=original"}"#;
    let body =
        format!(r#"{{"alipay_offline_material_image_upload_response":{content},"sign":"{sign}"}}"#);
    let response =
        alipay::extract_response(&body, "alipay.offline.material.image.upload").expect("extract");
    assert_eq!(response.content, content);
    assert_eq!(response.sign.as_deref(), Some(sign));

    let inner_sign = content.replacen("\"msg\"", "\"sign\":\"xxx\",\"msg\"", 1);
    let body = format!(
        "{{\"alipay_offline_material_image_upload_response\"\n        :\n        {inner_sign},\n\n          \"sign\"  :  \"{sign}\"}}"
    );
    let response =
        alipay::extract_response(&body, "alipay.offline.material.image.upload").expect("extract");
    assert_eq!(response.content, inner_sign);
}

fn n1_params() -> Params {
    Params::new()
        .with("gmt_create", "2019-08-15 15:56:22")
        .with("charset", "utf-8")
        .with("seller_email", "z97-yuquerevenue@service.aliyun.com")
        .with("subject", "语雀空间 500人规模")
        .with("sign", "QfTb8tqE1BMhS5qAnXtvsF3/jBkEvu9q9en0pdbBUDDjvKycZhQb7h8GDs4FKfi049PynaNuatxSgLb/nLWZpXyyh0LEWdK2S6Ri7nPwrVgOs08zugLO20vOQz44y3ti2Ncm8/wZts1Fr2gZ7pShnVX3d1B50hbsXnObT1r/U8ONNQjWXd0HIul4TG+Q3fm3svmSvFEy0WnzuhcyHPX5Gm4ELNctL6Qd5YniGJFNcc7kopHYtI/XD9YCKCH6Ct02rzUs9i11C9CsadtZn+WhxF26Dqt9sGEFajkJ8cxUTLi8+VCpLHsgPE8P0y095uQcDdK0YjCh4x7wVSov+lrmOQ==")
        .with("buyer_id", "2088102534368455")
        .with("invoice_amount", "0.10")
        .with("notify_id", "2019081500222155624068450559358070")
        .with(
            "fund_bill_list",
            r#"[{"amount":"0.10","fundChannel":"ALIPAYACCOUNT"}]"#,
        )
        .with("notify_type", "trade_status_sync")
        .with("trade_status", "TRADE_SUCCESS")
        .with("receipt_amount", "0.10")
        .with("buyer_pay_amount", "0.10")
        .with("sign_type", "RSA2")
        .with("app_id", "2019073166072302")
        .with("seller_id", "2088531891668739")
        .with("gmt_payment", "2019-08-15 15:56:24")
        .with("notify_time", "2019-08-15 15:56:25")
        .with("version", "1.0")
        .with("out_trade_no", "20190815155618536-564-57")
        .with("total_amount", "0.10")
        .with("trade_no", "2019081522001468450512505578")
        .with("auth_app_id", "2019073166072302")
        .with("buyer_logon_id", "xud***@126.com")
        .with("point_amount", "0.00")
}

/// O7 [official: Node SDK `checkNotifySign` tests]: trade notification N1, signed without
/// `sign_type`, and the SDK's "verify fail" notification.
#[test]
fn o7_alipay_trade_notify_n1() {
    let key = keys::verifying_key(N1_ALIPAY_NOTIFY_V1_KEY).expect("N1 key");
    let params = n1_params();
    assert_eq!(
        alipay::notify_sign_content(&params, alipay::NotifySignScope::ExcludeSignType),
        r#"app_id=2019073166072302&auth_app_id=2019073166072302&buyer_id=2088102534368455&buyer_logon_id=xud***@126.com&buyer_pay_amount=0.10&charset=utf-8&fund_bill_list=[{"amount":"0.10","fundChannel":"ALIPAYACCOUNT"}]&gmt_create=2019-08-15 15:56:22&gmt_payment=2019-08-15 15:56:24&invoice_amount=0.10&notify_id=2019081500222155624068450559358070&notify_time=2019-08-15 15:56:25&notify_type=trade_status_sync&out_trade_no=20190815155618536-564-57&point_amount=0.00&receipt_amount=0.10&seller_email=z97-yuquerevenue@service.aliyun.com&seller_id=2088531891668739&subject=语雀空间 500人规模&total_amount=0.10&trade_no=2019081522001468450512505578&trade_status=TRADE_SUCCESS&version=1.0"#
    );
    assert_eq!(
        alipay::verify_notify(&params, &key),
        Ok(alipay::NotifySignScope::ExcludeSignType)
    );
    // Including sign_type gives content the signature does not cover.
    let included = alipay::notify_sign_content(&params, alipay::NotifySignScope::IncludeSignType);
    assert!(!key.verify_base64(included.as_bytes(), params.get("sign").unwrap_or_default()));

    // Straight from a form body, decoded once.
    let received = form::parse(form::encode(&params).as_bytes()).expect("form");
    assert_eq!(
        alipay::verify_notify(&received, &key),
        Ok(alipay::NotifySignScope::ExcludeSignType)
    );

    let mut tampered = params;
    tampered.insert("total_amount", "100.10");
    assert_eq!(
        alipay::verify_notify(&tampered, &key),
        Err(Error::SignatureMismatch)
    );

    let fail = Params::new()
        .with("app_id", "2018121762595097")
        .with("auth_app_id", "2018121762595097")
        .with("buyer_id", "2088512613526436")
        .with("buyer_logon_id", "152****6706")
        .with("buyer_pay_amount", "0.01")
        .with("charset", "utf-8")
        .with(
            "fund_bill_list",
            r#"[{"amount":"0.01","fundChannel":"PCREDIT"}]"#,
        )
        .with("gmt_create", "2019-05-23 14:13:56")
        .with("gmt_payment", "2019-05-23 14:17:13")
        .with("invoice_amount", "0.01")
        .with("notify_id", "2019052300222141714026431019971405")
        .with("notify_time", "2019-05-23 14:17:14")
        .with("notify_type", "trade_status_sync")
        .with("out_trade_no", "tpxy23962362669658")
        .with("point_amount", "0.00")
        .with("receipt_amount", "0.01")
        .with("seller_email", "myapp@alitest.com")
        .with("seller_id", "2088331578818800")
        .with("sign", "T946S2qyNFAXLhAaRgNMmatxH6SO3MyWYFnTamQOgW1iAcheL/Zz+VoizwvEc6mTEwYewvvKS1wNkMQ1oEajMUHv9+cXQ9IFvU/qKS9Ktvw5xHvCaK0fj7LsVcQ7VxfyT3kSvXUDfKDP4cHSPuSZKwM2ybkzr53bIH9OUTpTQd2d3J0rbdf76OoUt+XF9vwqj7OVE7AGjH2HPWp842DgL/YVy4qeA9N2uFKRevT3YUskjaRxuI/E66reNjTMFhbjEqGLKvMcDD4BaQXnibq9ojAj60589fBwzKk3yWsVQmqGfksMQoheVMtZ3lAw4o2ty3TFngbVFFLwgx8FDpBZ9Q==")
        .with("sign_type", "RSA2")
        .with("subject", "tpxy2222896485")
        .with("total_amount", "0.01")
        .with("trade_no", "111111112019052322001426431037869358")
        .with("trade_status", "TRADE_SUCCESS")
        .with("version", "1.0");
    assert_eq!(
        alipay::verify_notify(&fail, &key),
        Err(Error::SignatureMismatch)
    );
}

fn n2_params() -> Params {
    Params::new()
        .with("app_id", "2017122801303261")
        .with("charset", "UTF-8")
        .with("commodity_order_id", "2019030800000018079639")
        .with("contactor", "技术支持测试的公司")
        .with("merchant_pid", "2088721996721370")
        .with("method", "alipay.open.servicemarket.order.notify")
        .with("name", "技术支持测试的公司")
        .with("notify_id", "2019030800222102023008121054923345")
        .with("notify_time", "2019-03-08 10:20:23")
        .with("notify_type", "servicemarket_order_notify")
        .with("order_item_num", "1")
        .with("order_ticket", "29b1c37d99ab48c5bd5bdaeaeaefbB37")
        .with("order_time", "2019-03-08 10:20:08")
        .with("phone", "17826894615")
        .with("service_code", "58621634")
        .with("sign", "MsK5SCw8oqLw4f0hiNSd5OVGXxBY3wnQeT8vn5PklJSZFWSZbK4hQbNvkp4ZezeXQH514cEv0ul6Qow8yh6e6yM06LfEL+EZjcpZ0nxzFGRNQ5qq2AUc1OaXQdk92AGvxh+Iq4NGpPQFBd4D8EBJa3NJd8+czMfQskceosOQFqUtLQMYa5DPs+VpN7VM5BdXjaVIuKn5d9Wm2B9dI9ObIM+YRySDkZZPv14DVmUvcrcqJfOR8aHvtSd7B4l92wUQPQgQKNcOQho7xOHS/Bk+Y74AZL2y7TkNmdDoq9OGsThuF5tDW9rI9nVwXxOtsuB+bstra+W7aw9x9DvkKgdSRw==")
        .with("sign_type", "RSA2")
        .with("timestamp", "2019-03-08 10:20:23")
        .with("title", "麦禾商城模版")
        .with("total_price", "0.00")
        .with("version", "1.0")
}

/// O8 [official: Node SDK]: gateway notification N2, signed *with* `sign_type`.
#[test]
fn o8_alipay_gateway_notify_n2() {
    let key = keys::verifying_key(A3_ALIPAY_NOTIFY_V2_KEY).expect("A3 key");
    let params = n2_params();
    assert_eq!(
        alipay::verify_notify(&params, &key),
        Ok(alipay::NotifySignScope::IncludeSignType)
    );
    let excluded = alipay::notify_sign_content(&params, alipay::NotifySignScope::ExcludeSignType);
    assert!(!key.verify_base64(excluded.as_bytes(), params.get("sign").unwrap_or_default()));

    let mut tampered = params;
    tampered.insert("service_code", "58621634111");
    assert_eq!(
        alipay::verify_notify(&tampered, &key),
        Err(Error::SignatureMismatch)
    );
}

/// D7 [derived]: the simulator's precreate response and trade notification.
#[test]
fn d7_alipay_simulator_response_and_notify() {
    let key = a1_signing_key();
    let verifier = a1_verifying_key();

    let content = r#"{"code":"10000","msg":"Success","out_trade_no":"20150320010101001","qr_code":"https://qr.alipay.com/bax03431ljhokirwl38f00a7"}"#;
    let body = alipay::sign_response(
        &alipay::response_node("alipay.trade.precreate"),
        content,
        &key,
    );
    assert_eq!(
        body,
        r#"{"alipay_trade_precreate_response":{"code":"10000","msg":"Success","out_trade_no":"20150320010101001","qr_code":"https://qr.alipay.com/bax03431ljhokirwl38f00a7"},"sign":"F3LrpQZmyL8SDRzn0Ek8xCnjoJJswQa0YBKr/nGBJcWQDi39lTQIjnKU8AlIgGHRsggKduI37qMo6+VLZ2DRjdaGOng6N33i4VA9ao/AJoP1O899acYU0fmwPXbw0yZhT1ceNTDBQT68jF+kIirLOWxPY1HjXBELrfu+IZ95hZnQi9H8IxPK5ysHpPvZJnnJ1E/RZSyEokw2nyGfzmIXHSCNREA7cy9sRUGiC+wnCgWlzEIy+fzq0ouJlmLubXlTl1P4/GxqHU3ZdYv/pp2aKhjw09UO434+cp7qNddQzovLn92jLpQDz9Xi/gmmIT9RArtg3511E4kDStb00Fdm/w=="}"#
    );
    let response =
        alipay::verify_response(&body, "alipay.trade.precreate", &verifier).expect("verify");
    assert_eq!(response.content, content);
    assert_eq!(
        alipay::verify_response(
            &body.replace("20150320010101001", "20150320010101002"),
            "alipay.trade.precreate",
            &verifier
        ),
        Err(Error::SignatureMismatch)
    );

    let content = r#"app_id=2014072300007148&auth_app_id=2014072300007148&buyer_id=2088102122524333&buyer_pay_amount=88.88&charset=utf-8&fund_bill_list=[{"amount":"88.88","fundChannel":"ALIPAYACCOUNT"}]&gmt_create=2015-04-27 15:45:57&gmt_payment=2015-04-27 15:45:57&invoice_amount=88.88&notify_id=ac05099524730693a8b330c5ecf72da9786&notify_time=2015-04-27 15:45:58&notify_type=trade_status_sync&out_trade_no=20150320010101001&point_amount=0.00&receipt_amount=88.88&seller_id=2088101106499364&subject=Iphone6 16G&total_amount=88.88&trade_no=2013112011001004330000121536&trade_status=TRADE_SUCCESS&version=1.0"#;
    let mut params: Params = content
        .split('&')
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .collect();
    alipay::sign_notify(&mut params, &key);
    assert_eq!(params.get("sign_type"), Some("RSA2"));
    assert_eq!(
        alipay::notify_sign_content(&params, alipay::NotifySignScope::ExcludeSignType),
        content
    );
    assert_eq!(
        params.get("sign"),
        Some(
            "ogfKezFWG9HlPWlqPibcqm9Of4NEi26C7wWCKtSz8lJoISK+PGw2rQDQR2+tpVP7WNSF7DBR6s92Ze2y+boX+m1qI7RCn0nfYHY2qa0p2TRHOOwXA5LDm39oPkIIdMZ41PCUSqk+cE+9Yz6tyf2NuXmFsm4feHSwgyXppHmYJqZlGVkQNYwOFOKxvnoP98iS2PBFbYIOlAZJaNBm3mFzlmgenlPviolXD7IVlzOTBkpWL+sVd4NiIEl7Qnc/gpi0yDUXpxOonYASji0EvnmdBrHoC0OGU0ZO0DiPVo6gsVJTZbTQZtMeo1PKLGUWx9L3+akJPrUSwz00iUuege8VMw=="
        )
    );

    let received = form::parse(form::encode(&params).as_bytes()).expect("form");
    assert_eq!(
        alipay::verify_notify(&received, &verifier),
        Ok(alipay::NotifySignScope::ExcludeSignType)
    );
    let mut tampered = received;
    tampered.insert("trade_status", "TRADE_FINISHED");
    assert_eq!(
        alipay::verify_notify(&tampered, &verifier),
        Err(Error::SignatureMismatch)
    );
}

// ---------------------------------------------------------------------------------------------
// UnionPay

/// D8 [derived; certId illustrative]: the 5.1.0 / signMethod 01 double hash.
#[test]
fn d8_unionpay_double_hash_signature() {
    let content = "accessType=0&backUrl=http://www.example.com/unionpay/notify&bizType=000000&certId=68759663125&channelType=08&currencyCode=156&encoding=UTF-8&merId=777290058110048&orderId=qrcode201907221021457qwer&signMethod=01&txnAmt=500000&txnSubType=07&txnTime=20190722101256&txnType=01&version=5.1.0";
    let request: Params = content
        .split('&')
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .filter(|(name, _)| *name != "certId")
        .collect();
    let signed = unionpay::sign(&request, "68759663125", &a1_signing_key()).expect("sign");
    assert_eq!(unionpay::sign_content(&signed), content);
    assert_eq!(
        unionpay::sign_digest_hex(&signed),
        "64aa175b33b18cbcd817af9dabfb80d9468e49cf77f89dcd6921dbdf13ea63f4"
    );
    assert_eq!(
        signed.get("signature"),
        Some(
            "TpjYPqWfKJFMjYiPNs33o961AA+jPw5RU/u9kFtv/gcc0fRmhJmjf4d7CY6iZvwWXwlXoYsDNVhq5aVQZzuCY9PwK0CY9XlN6antA+7x57oQywJe+qN4jlBHGb+7tq2LnnXAlVz9zB+azH+RQWRwHjFb5IC4GHDlezb5bDS8VMebCVP90WQ4qP83clwE2wSvcmvP25A3dSQMFU++Z4JvCU/JEPa94aTmpnbAprb9rLs0V4U8w6Q35CoxudtMDZfNMD7XHibRGClAnBCOuGgAtoX87kxn3mqZAJeyghOtNc+XpUlTb0euuNB113Uhjt1CcvYgxef+XPF8Lpac9aH8qQ=="
        )
    );

    // The double hash: RSA over the 64 hex characters, not over the content.
    let verifier = a1_verifying_key();
    assert!(verifier.verify_base64(
        unionpay::sign_digest_hex(&signed).as_bytes(),
        signed.get("signature").unwrap_or_default()
    ));
    assert!(!verifier.verify_base64(
        content.as_bytes(),
        signed.get("signature").unwrap_or_default()
    ));

    // As a notification would arrive: form-encoded, decoded once, verified.
    let received = form::parse(form::encode(&signed).as_bytes()).expect("form");
    assert_eq!(unionpay::verify(&received, &verifier), Ok(()));
    let mut tampered = received;
    tampered.insert("txnAmt", "5000");
    assert_eq!(
        unionpay::verify(&tampered, &verifier),
        Err(Error::SignatureMismatch)
    );
}
