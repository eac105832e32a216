//! HMAC-SHA-256/384/512 (CKM_SHA*_HMAC and the `_GENERAL` variants) over the
//! aws-lc-rs `hmac` module, with constant-time verification.

use aws_lc_rs::hmac;
use cryptoki_sys as sys;

use super::ct_eq;
use super::digest::DigestAlg;
use crate::error::{rv, Result};

/// A streaming HMAC (sign or verify). `Send` and `Clone`; the key is held
/// inside aws-lc's HMAC state (which it wipes on drop), never in Rust bytes.
#[derive(Clone)]
pub struct HmacCtx {
    alg: DigestAlg,
    ctx: hmac::Context,
}

impl HmacCtx {
    /// Starts an HMAC with `key_bytes` (any length; long keys are hashed
    /// first, as RFC 2104 says).
    pub fn new(alg: DigestAlg, key_bytes: &[u8]) -> Self {
        let hmac_alg = match alg {
            DigestAlg::Sha256 => hmac::HMAC_SHA256,
            DigestAlg::Sha384 => hmac::HMAC_SHA384,
            DigestAlg::Sha512 => hmac::HMAC_SHA512,
        };
        let key = hmac::Key::new(hmac_alg, key_bytes);
        HmacCtx {
            alg,
            ctx: hmac::Context::with_key(&key),
        }
    }

    /// The underlying digest.
    pub fn alg(&self) -> DigestAlg {
        self.alg
    }

    /// Full MAC length in bytes.
    pub fn output_len(&self) -> usize {
        self.alg.output_len()
    }

    /// Absorbs more data.
    pub fn update(&mut self, data: &[u8]) {
        self.ctx.update(data);
    }

    /// Finishes and returns the full MAC.
    pub fn finish(self) -> Vec<u8> {
        self.ctx.sign().as_ref().to_vec()
    }

    /// Verifies a full-length MAC in constant time: wrong length →
    /// `CKR_SIGNATURE_LEN_RANGE`, mismatch → `CKR_SIGNATURE_INVALID`.
    pub fn verify(self, sig: &[u8]) -> Result<()> {
        if sig.len() != self.output_len() {
            return rv(sys::CKR_SIGNATURE_LEN_RANGE);
        }
        self.verify_truncated(sig)
    }

    /// Verifies a MAC truncated to `sig.len()` bytes (1..=output length, for
    /// the `_GENERAL` mechanisms) against the prefix of the computed MAC.
    pub fn verify_truncated(self, sig: &[u8]) -> Result<()> {
        if sig.is_empty() || sig.len() > self.output_len() {
            return rv(sys::CKR_SIGNATURE_LEN_RANGE);
        }
        let tag = self.ctx.sign();
        match tag.as_ref().get(..sig.len()) {
            Some(prefix) if ct_eq(prefix, sig) => Ok(()),
            _ => rv(sys::CKR_SIGNATURE_INVALID),
        }
    }
}

impl std::fmt::Debug for HmacCtx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HmacCtx")
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG_KEY_DATA: &[u8] = b"Test Using Larger Than Block-Size Key - Hash Key First";

    /// RFC 4231 test cases 1, 2 and 6 (131-byte key).
    fn cases() -> Vec<(Vec<u8>, &'static [u8], DigestAlg, &'static str)> {
        use DigestAlg::*;
        let k1 = vec![0x0bu8; 20];
        let k2 = b"Jefe".to_vec();
        let k6 = vec![0xaau8; 131];
        let d2: &[u8] = b"what do ya want for nothing?";
        vec![
            (k1.clone(), b"Hi There", Sha256, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
            (k1.clone(), b"Hi There", Sha384, "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6"),
            (k1, b"Hi There", Sha512, "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854"),
            (k2.clone(), d2, Sha256, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
            (k2.clone(), d2, Sha384, "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649"),
            (k2, d2, Sha512, "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"),
            (k6.clone(), LONG_KEY_DATA, Sha256, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
            (k6.clone(), LONG_KEY_DATA, Sha384, "4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c60c2ef6ab4030fe8296248df163f44952"),
            (k6, LONG_KEY_DATA, Sha512, "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f3526b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598"),
        ]
    }

    #[test]
    fn rfc4231_sign_and_verify() {
        for (key, data, alg, want) in cases() {
            let want = hex::decode(want).unwrap();
            let mut ctx = HmacCtx::new(alg, &key);
            let (a, b) = data.split_at(data.len() / 2);
            ctx.update(a);
            let verifier = ctx.clone();
            ctx.update(b);
            assert_eq!(ctx.finish(), want, "{alg:?}");

            let mut v = verifier.clone();
            v.update(b);
            v.verify(&want).unwrap();

            let mut v = verifier.clone();
            v.update(b);
            v.verify_truncated(&want[..16]).unwrap();

            let mut bad = want.clone();
            *bad.last_mut().unwrap() ^= 1;
            let mut v = verifier.clone();
            v.update(b);
            assert_eq!(
                v.verify(&bad).unwrap_err().ck_rv(),
                sys::CKR_SIGNATURE_INVALID
            );

            let mut v = verifier.clone();
            v.update(b);
            assert_eq!(
                v.verify(&want[..want.len() - 1]).unwrap_err().ck_rv(),
                sys::CKR_SIGNATURE_LEN_RANGE
            );

            let mut too_long = want.clone();
            too_long.push(0);
            let mut v = verifier;
            v.update(b);
            assert_eq!(
                v.verify_truncated(&too_long).unwrap_err().ck_rv(),
                sys::CKR_SIGNATURE_LEN_RANGE
            );
        }
    }

    #[test]
    fn empty_truncated_signature_is_a_length_error() {
        let ctx = HmacCtx::new(DigestAlg::Sha256, b"k");
        assert_eq!(
            ctx.verify_truncated(&[]).unwrap_err().ck_rv(),
            sys::CKR_SIGNATURE_LEN_RANGE
        );
        fn assert_send<T: Send>() {}
        assert_send::<HmacCtx>();
    }
}
