//! Symmetric ciphers: AES-GCM, which seals stored channel secrets, and AES-256-ECB with PKCS#7
//! padding, which WeChat Pay v2 uses for refund notifications (`req_info`). Both directions are
//! here because the local channel simulators have to produce what the adapters consume.

use aws_lc_rs::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::cipher::{
    self, DecryptionContext, PaddedBlockDecryptingKey, PaddedBlockEncryptingKey, UnboundCipherKey,
};

/// Length of an AES-GCM nonce (96 bits, the size GCM is made for).
pub const GCM_NONCE_LEN: usize = 12;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CipherError {
    #[error("an AES key must be {expected} bytes long, this one has {actual}")]
    KeyLength {
        expected: &'static str,
        actual: usize,
    },
    #[error("an AES-GCM nonce must be 12 bytes long, this one has {0}")]
    NonceLength(usize),
    /// Wrong key, tampered or truncated data, or (ECB) bad padding. Deliberately one variant:
    /// telling these apart would help an attacker more than it helps an operator.
    #[error("decryption failed (wrong key, or the data was altered)")]
    Decrypt,
    #[error("encryption failed")]
    Encrypt,
}

fn gcm_key(key: &[u8]) -> Result<LessSafeKey, CipherError> {
    // Any AES key size; the secrets key is 32 bytes, i.e. AES-256.
    let algorithm = match key.len() {
        16 => &aead::AES_128_GCM,
        24 => &aead::AES_192_GCM,
        32 => &aead::AES_256_GCM,
        actual => {
            return Err(CipherError::KeyLength {
                expected: "16, 24 or 32",
                actual,
            });
        }
    };
    let unbound = UnboundKey::new(algorithm, key).map_err(|_| CipherError::KeyLength {
        expected: "16, 24 or 32",
        actual: key.len(),
    })?;
    Ok(LessSafeKey::new(unbound))
}

fn gcm_nonce(nonce: &[u8]) -> Result<Nonce, CipherError> {
    Nonce::try_assume_unique_for_key(nonce).map_err(|_| CipherError::NonceLength(nonce.len()))
}

/// AES-GCM open: `ciphertext_and_tag` is the ciphertext followed by the 16-byte tag (the
/// standard "sealed" layout WeChat sends). Returns the plaintext.
pub fn aes_gcm_decrypt(
    key: &[u8],
    nonce: &[u8],
    aad: &[u8],
    ciphertext_and_tag: &[u8],
) -> Result<Vec<u8>, CipherError> {
    let key = gcm_key(key)?;
    let nonce = gcm_nonce(nonce)?;
    let mut in_out = ciphertext_and_tag.to_vec();
    let plaintext_len = key
        .open_in_place(nonce, Aad::from(aad), &mut in_out)
        .map_err(|_| CipherError::Decrypt)?
        .len();
    in_out.truncate(plaintext_len);
    Ok(in_out)
}

/// AES-GCM seal: returns the ciphertext followed by the 16-byte tag.
/// The caller must never reuse a nonce under the same key.
pub fn aes_gcm_encrypt(
    key: &[u8],
    nonce: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, CipherError> {
    let key = gcm_key(key)?;
    let nonce = gcm_nonce(nonce)?;
    let mut in_out = plaintext.to_vec();
    key.seal_in_place_append_tag(nonce, Aad::from(aad), &mut in_out)
        .map_err(|_| CipherError::Encrypt)?;
    Ok(in_out)
}

fn ecb_key(key: &[u8]) -> Result<UnboundCipherKey, CipherError> {
    if key.len() != 32 {
        return Err(CipherError::KeyLength {
            expected: "32",
            actual: key.len(),
        });
    }
    UnboundCipherKey::new(&cipher::AES_256, key).map_err(|_| CipherError::KeyLength {
        expected: "32",
        actual: key.len(),
    })
}

/// AES-256-ECB decryption with PKCS#7 padding removed (Java calls it `AES/ECB/PKCS5Padding`).
/// ECB is only here because WeChat Pay v2 refund notifications use it.
pub fn aes_256_ecb_pkcs7_decrypt(key: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>, CipherError> {
    let key =
        PaddedBlockDecryptingKey::ecb_pkcs7(ecb_key(key)?).map_err(|_| CipherError::Decrypt)?;
    let mut in_out = ciphertext.to_vec();
    let plaintext_len = key
        .decrypt(&mut in_out, DecryptionContext::None)
        .map_err(|_| CipherError::Decrypt)?
        .len();
    in_out.truncate(plaintext_len);
    Ok(in_out)
}

/// AES-256-ECB encryption with PKCS#7 padding, the inverse of [`aes_256_ecb_pkcs7_decrypt`].
pub fn aes_256_ecb_pkcs7_encrypt(key: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CipherError> {
    let key =
        PaddedBlockEncryptingKey::ecb_pkcs7(ecb_key(key)?).map_err(|_| CipherError::Encrypt)?;
    let mut in_out = plaintext.to_vec();
    key.encrypt(&mut in_out).map_err(|_| CipherError::Encrypt)?;
    Ok(in_out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcm_round_trips_and_rejects_tampering() {
        let key = [7u8; 32];
        let sealed = aes_gcm_encrypt(&key, b"0123456789ab", b"aad", b"hello").expect("seal");
        assert_eq!(sealed.len(), 5 + 16);
        let opened = aes_gcm_decrypt(&key, b"0123456789ab", b"aad", &sealed).expect("open");
        assert_eq!(opened, b"hello");

        let mut flipped = sealed.clone();
        flipped[0] ^= 1;
        assert_eq!(
            aes_gcm_decrypt(&key, b"0123456789ab", b"aad", &flipped),
            Err(CipherError::Decrypt)
        );
        assert_eq!(
            aes_gcm_decrypt(&key, b"0123456789ab", b"AAD", &sealed),
            Err(CipherError::Decrypt)
        );
        assert_eq!(
            aes_gcm_decrypt(&key, b"0123456789ab", b"aad", &sealed[..10]),
            Err(CipherError::Decrypt)
        );
    }

    #[test]
    fn gcm_checks_key_and_nonce_lengths() {
        assert!(matches!(
            aes_gcm_decrypt(&[0; 31], b"0123456789ab", b"", &[0; 16]),
            Err(CipherError::KeyLength { actual: 31, .. })
        ));
        assert_eq!(
            aes_gcm_encrypt(&[0; 32], b"short", b"", b"x"),
            Err(CipherError::NonceLength(5))
        );
    }

    #[test]
    fn ecb_round_trips_and_pads_to_whole_blocks() {
        let key = [9u8; 32];
        for len in [0usize, 1, 15, 16, 17, 100] {
            let plaintext = vec![b'a'; len];
            let ciphertext = aes_256_ecb_pkcs7_encrypt(&key, &plaintext).expect("encrypt");
            // PKCS#7 always adds 1..=16 bytes.
            assert_eq!(ciphertext.len(), (len / 16 + 1) * 16);
            assert_eq!(
                aes_256_ecb_pkcs7_decrypt(&key, &ciphertext).expect("decrypt"),
                plaintext
            );
        }
    }

    #[test]
    fn ecb_rejects_bad_input() {
        let key = [9u8; 32];
        assert_eq!(
            aes_256_ecb_pkcs7_decrypt(&key, &[0; 15]),
            Err(CipherError::Decrypt)
        );
        assert_eq!(
            aes_256_ecb_pkcs7_decrypt(&key, &[]),
            Err(CipherError::Decrypt)
        );
        assert!(matches!(
            aes_256_ecb_pkcs7_encrypt(&[0; 16], b"x"),
            Err(CipherError::KeyLength { actual: 16, .. })
        ));
        // Decrypting with the wrong key almost always breaks the padding.
        let ciphertext = aes_256_ecb_pkcs7_encrypt(&key, b"hello").expect("encrypt");
        assert!(aes_256_ecb_pkcs7_decrypt(&[8u8; 32], &ciphertext).is_err());
    }
}
