//! Symmetric cryptographic primitives behind the PKCS#11 mechanisms: AES keys,
//! AES-GCM, the AES block modes (ECB, CBC, CBC-PAD, CTR), AES-CMAC, AES key
//! wrap (RFC 3394 / RFC 5649), SHA-2 digests, HMAC and the random generator.
//!
//! Everything here is safe Rust over aws-lc-rs and the RustCrypto `aes`,
//! `ghash` and `cmac` crates. It knows nothing of sessions, handles or
//! mechanism parameter structs: callers hand in bytes and get bytes or an
//! [`Error`](crate::error::Error) carrying the exact `CK_RV` back.

pub mod aes_key;
pub mod block_modes;
pub mod cmac;
pub mod digest;
pub mod gcm;
pub mod hmac;
pub mod key_wrap;
pub mod rng;

pub use self::aes_key::AesKey;
pub use self::block_modes::{BlockCipherStream, BlockMode};
pub use self::cmac::CmacCtx;
pub use self::digest::{DigestAlg, DigestCtx};
pub use self::hmac::HmacCtx;

/// The AES block size in bytes.
pub const AES_BLOCK_LEN: usize = 16;

/// Compares two byte strings in constant time with respect to their contents.
///
/// Lengths are not secret (callers check them first and report
/// `CKR_SIGNATURE_LEN_RANGE` and the like), so only the contents are
/// protected; aws-lc's `CRYPTO_memcmp` does the work.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}

/// XORs `src` into `dst` byte by byte over the shorter of the two lengths.
///
/// Written as a zip so the compiler vectorises it and no index can panic.
#[inline]
pub(crate) fn xor_in_place(dst: &mut [u8], src: &[u8]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d ^= s;
    }
}

/// Shorthand for an invariant violation that the surrounding code rules out.
///
/// Used where a checked slice access cannot fail by construction; returning
/// an error instead of panicking keeps the host process alive if it ever did.
pub(crate) fn invariant(what: &str) -> crate::error::Error {
    crate::error::Error::Internal(format!("primitives: {what}"))
}
