//! AES-CMAC (NIST SP 800-38B, RFC 4493) for CKM_AES_CMAC and
//! CKM_AES_CMAC_GENERAL: streaming MAC and constant-time verification.

use ::cmac::digest::InnerInit;
use ::cmac::{Cmac, CmacCore, Mac};
use aes::{Aes128, Aes192, Aes256};
use cryptoki_sys as sys;

use super::aes_key::{AesCipher, AesKey};
use super::{ct_eq, AES_BLOCK_LEN};
use crate::error::{rv, Result};

/// The running CMAC for each AES key size.
#[derive(Clone)]
enum Inner {
    Aes128(Cmac<Aes128>),
    Aes192(Cmac<Aes192>),
    Aes256(Cmac<Aes256>),
}

/// A streaming AES-CMAC (sign or verify). `Send` and `Clone`.
#[derive(Clone)]
pub struct CmacCtx {
    inner: Inner,
}

impl CmacCtx {
    /// Starts a CMAC under `key`, reusing its already expanded cipher.
    pub fn new(key: &AesKey) -> Self {
        let inner = match key.cipher() {
            AesCipher::Aes128(c) => Inner::Aes128(Cmac::from_core(CmacCore::inner_init(c.clone()))),
            AesCipher::Aes192(c) => Inner::Aes192(Cmac::from_core(CmacCore::inner_init(c.clone()))),
            AesCipher::Aes256(c) => Inner::Aes256(Cmac::from_core(CmacCore::inner_init(c.clone()))),
        };
        CmacCtx { inner }
    }

    /// Absorbs more data.
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.inner {
            Inner::Aes128(m) => m.update(data),
            Inner::Aes192(m) => m.update(data),
            Inner::Aes256(m) => m.update(data),
        }
    }

    /// Finishes and returns the full 16-byte MAC.
    pub fn finish(self) -> [u8; AES_BLOCK_LEN] {
        match self.inner {
            Inner::Aes128(m) => m.finalize().into_bytes().into(),
            Inner::Aes192(m) => m.finalize().into_bytes().into(),
            Inner::Aes256(m) => m.finalize().into_bytes().into(),
        }
    }

    /// Verifies `expected` (1..=16 bytes) against the prefix of the MAC in
    /// constant time: bad length → `CKR_SIGNATURE_LEN_RANGE`, mismatch →
    /// `CKR_SIGNATURE_INVALID`.
    pub fn verify(self, expected: &[u8]) -> Result<()> {
        if expected.is_empty() || expected.len() > AES_BLOCK_LEN {
            return rv(sys::CKR_SIGNATURE_LEN_RANGE);
        }
        let mac = zeroize::Zeroizing::new(self.finish());
        match mac.get(..expected.len()) {
            Some(prefix) if ct_eq(prefix, expected) => Ok(()),
            _ => rv(sys::CKR_SIGNATURE_INVALID),
        }
    }
}

impl std::fmt::Debug for CmacCtx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CmacCtx").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &str = "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51\
                       30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710";

    /// RFC 4493 §4 (AES-128) and SP 800-38B Appendix D.2/D.3 (AES-192,
    /// AES-256): messages of 0, 16, 40 and 64 bytes.
    const VECTORS: [(&str, [&str; 4]); 3] = [
        (
            "2b7e151628aed2a6abf7158809cf4f3c",
            [
                "bb1d6929e95937287fa37d129b756746",
                "070a16b46b4d4144f79bdd9dd04a287c",
                "dfa66747de9ae63030ca32611497c827",
                "51f0bebf7e3b9d92fc49741779363cfe",
            ],
        ),
        (
            "8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b",
            [
                "d17ddf46adaacde531cac483de7a9367",
                "9e99a7bf31e710900662f65e617c5184",
                "8a1de5be2eb31aad089a82e6ee908b0e",
                "a1d5df0eed790f794d77589659f39a11",
            ],
        ),
        (
            "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4",
            [
                "028962f61b7bf89efc6b551f4667d983",
                "28a7023f452e8f82bd4bf28d8c37c35c",
                "aaf3d8f1de5640c232f5b169b9c911e6",
                "e1992190549f6ed5696a2c056c315410",
            ],
        ),
    ];

    #[test]
    fn published_vectors_streaming_and_verify() {
        let msg = hex::decode(MSG).unwrap();
        for (k, tags) in VECTORS {
            let key = AesKey::new(&hex::decode(k).unwrap()).unwrap();
            for (len, want) in [0usize, 16, 40, 64].into_iter().zip(tags) {
                let want = hex::decode(want).unwrap();
                let m = &msg[..len];
                let mut ctx = CmacCtx::new(&key);
                for piece in m.chunks(7) {
                    ctx.update(piece);
                }
                let verifier = ctx.clone();
                assert_eq!(ctx.finish().to_vec(), want, "key {k} len {len}");
                verifier.clone().verify(&want).unwrap();
                verifier.clone().verify(&want[..8]).unwrap();
                verifier.clone().verify(&want[..1]).unwrap();
                let mut bad = want.clone();
                bad[15] ^= 0x80;
                assert_eq!(
                    verifier.clone().verify(&bad).unwrap_err().ck_rv(),
                    sys::CKR_SIGNATURE_INVALID
                );
                assert_eq!(
                    verifier.clone().verify(&[]).unwrap_err().ck_rv(),
                    sys::CKR_SIGNATURE_LEN_RANGE
                );
                let mut long = want.clone();
                long.push(0);
                assert_eq!(
                    verifier.verify(&long).unwrap_err().ck_rv(),
                    sys::CKR_SIGNATURE_LEN_RANGE
                );
            }
        }
    }

    #[test]
    fn is_send() {
        fn assert_send<T: Send>() {}
        assert_send::<CmacCtx>();
    }
}
