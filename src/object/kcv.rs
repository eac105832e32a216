//! Key check values (`CKA_CHECK_VALUE`) of secret keys.
//!
//! AES: the first 3 bytes of AES-ECB(key, 0^128). Generic secret: the first
//! 3 bytes of SHA-1(key), as PKCS#11 3.0 defines for `CKK_GENERIC_SECRET`.

use aes::cipher::{BlockEncrypt, KeyInit};
use cryptoki_sys as sys;
use sys::CK_KEY_TYPE;

use crate::error::{Error, Result};

/// Length of every check value we compute.
pub const KCV_LEN: usize = 3;

/// The check value of a key of type `key_type`.
///
/// The caller has already validated the length for the key type; a length
/// the cipher rejects is reported as an internal error.
pub fn check_value(key_type: CK_KEY_TYPE, key: &[u8]) -> Result<Vec<u8>> {
    match key_type {
        sys::CKK_AES => aes_kcv(key),
        sys::CKK_GENERIC_SECRET => {
            let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, key);
            Ok(d.as_ref().iter().take(KCV_LEN).copied().collect())
        }
        other => Err(Error::Internal(format!(
            "no check value for key type {other:#x}"
        ))),
    }
}

fn aes_kcv(key: &[u8]) -> Result<Vec<u8>> {
    let bad = |_| Error::Internal("AES key of invalid length".into());
    let mut block = aes::Block::default();
    match key.len() {
        16 => aes::Aes128::new_from_slice(key)
            .map_err(bad)?
            .encrypt_block(&mut block),
        24 => aes::Aes192::new_from_slice(key)
            .map_err(bad)?
            .encrypt_block(&mut block),
        32 => aes::Aes256::new_from_slice(key)
            .map_err(bad)?
            .encrypt_block(&mut block),
        _ => return Err(Error::Internal("AES key of invalid length".into())),
    }
    Ok(block.iter().take(KCV_LEN).copied().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> Vec<u8> {
        (0..n).collect()
    }

    #[test]
    fn aes_known_values() {
        // AES-ECB(k, 0^128) computed independently with `openssl enc -aes-*-ecb -nopad`;
        // the same tool reproduces the FIPS-197 C.1 vector (69c4e0d8...).
        assert_eq!(
            check_value(sys::CKK_AES, &key(16)).ok(),
            Some(vec![0xc6, 0xa1, 0x3b])
        );
        assert_eq!(
            check_value(sys::CKK_AES, &key(24)).ok(),
            Some(vec![0x91, 0x62, 0x51])
        );
        assert_eq!(
            check_value(sys::CKK_AES, &key(32)).ok(),
            Some(vec![0xf2, 0x90, 0x00])
        );
        // The classic all-zero AES-128 vector: 66e94bd4ef8a2c3b...
        assert_eq!(
            check_value(sys::CKK_AES, &[0; 16]).ok(),
            Some(vec![0x66, 0xe9, 0x4b])
        );
        assert!(check_value(sys::CKK_AES, &key(15)).is_err());
    }

    #[test]
    fn generic_known_value() {
        // sha1("secret-hmac-key") = fa5d5eed...
        assert_eq!(
            check_value(sys::CKK_GENERIC_SECRET, b"secret-hmac-key").ok(),
            Some(vec![0xfa, 0x5d, 0x5e])
        );
        assert!(check_value(sys::CKK_DES3, &key(24)).is_err());
    }
}
