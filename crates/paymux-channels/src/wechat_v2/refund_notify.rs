//! v2 refund notifications (docs/channels/wechat-v2.md). They carry no `sign`; the refund details sit in
//! `req_info`, encrypted with AES-256-ECB/PKCS#7 under a key derived from the API key, and being
//! able to decrypt it is the authentication. The plaintext is a flat `<root>` document.

use super::Params;
use super::xml::{Cdata, decode, encode};
use crate::encoding::{b64_decode, b64_encode, hex_lower};
use crate::error::{Error, Result};
use paymux_crypto::cipher::{aes_256_ecb_pkcs7_decrypt, aes_256_ecb_pkcs7_encrypt};
use paymux_crypto::digest::md5;

/// The AES-256 key: the 32 ASCII bytes of `lowercase_hex(MD5(api_key))` (not the 16 raw bytes
/// of the digest; that is what WxJava and IJPay do).
pub fn req_info_key(api_key: &str) -> [u8; 32] {
    let mut key = [0u8; 32];
    for (slot, byte) in key
        .iter_mut()
        .zip(hex_lower(&md5(api_key.as_bytes())).bytes())
    {
        *slot = byte;
    }
    key
}

/// Decrypts `req_info` (base64) into the plaintext XML text, `<root>…</root>`.
pub fn decrypt_req_info_xml(req_info: &str, api_key: &str) -> Result<String> {
    let ciphertext = b64_decode(req_info, "req_info")?;
    let plaintext = aes_256_ecb_pkcs7_decrypt(&req_info_key(api_key), &ciphertext)?;
    String::from_utf8(plaintext).map_err(|_| Error::Utf8("req_info"))
}

/// Decrypts `req_info` and parses its `<root>` document: `out_refund_no`, `refund_status`,
/// `refund_fee`, `success_time` and so on.
pub fn decrypt_req_info(req_info: &str, api_key: &str) -> Result<Params> {
    decode(&decrypt_req_info_xml(req_info, api_key)?, "root")
}

/// Encrypts a plaintext document into `req_info` (base64). For simulators.
pub fn encrypt_req_info_xml(plaintext: &str, api_key: &str) -> Result<String> {
    let ciphertext = aes_256_ecb_pkcs7_encrypt(&req_info_key(api_key), plaintext.as_bytes())?;
    Ok(b64_encode(&ciphertext))
}

/// Renders `info` as WeChat does (a `<root>` element, fields in name order, every value in
/// CDATA) and encrypts it into `req_info`. For simulators.
pub fn encrypt_req_info(info: &Params, api_key: &str) -> Result<String> {
    encrypt_req_info_xml(&encode("root", info, Cdata::Always)?, api_key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_wrong_key() {
        let info = Params::new()
            .with("out_refund_no", "R1")
            .with("refund_status", "SUCCESS");
        let req_info = encrypt_req_info(&info, "key-a").expect("encrypt");
        assert_eq!(decrypt_req_info(&req_info, "key-a"), Ok(info));
        assert!(decrypt_req_info(&req_info, "key-b").is_err());
        assert_eq!(
            decrypt_req_info("not base64!", "key-a"),
            Err(Error::Base64("req_info"))
        );
    }
}
