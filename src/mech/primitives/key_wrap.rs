//! AES key wrap: RFC 3394 (CKM_AES_KEY_WRAP, "KW") and RFC 5649
//! (CKM_AES_KEY_WRAP_PAD / CKM_AES_KEY_WRAP_KWP, "KWP").
//!
//! AES-128 and AES-256 KEKs go through aws-lc-rs's `key_wrap` module. aws-lc-rs
//! has no AES-192 KEK, so those use the RFC's index-based W / W^-1 procedure
//! over the `aes` block cipher here; both paths are checked against the RFC
//! vectors and against each other.

use aws_lc_rs::key_wrap::{
    AesBlockCipher, AesKek as LcKek, KeyWrap, KeyWrapPadded, AES_128, AES_256,
};
use cryptoki_sys as sys;
use zeroize::Zeroizing;

use super::aes_key::{AesCipher, AesKey};
use super::invariant;
use crate::error::{rv, Error, Result};

/// Semiblock (half an AES block) size.
const SEMI: usize = 8;
/// RFC 3394 default initial value.
const KW_IV: u64 = 0xA6A6_A6A6_A6A6_A6A6;
/// RFC 5649 alternative initial value, high 32 bits (low 32 = data length).
const KWP_AIV_HIGH: u64 = 0xA659_59A6;
/// Longest key data accepted; aws-lc's limit is `INT_MAX - 8` and keys are
/// tiny, so a round bound well below it keeps every length in range.
const MAX_DATA_LEN: usize = 1 << 30;

/// Length of the wrapping of `data_len` bytes, or `None` if that length
/// cannot be wrapped (see [`wrap`] for the rules).
pub fn wrapped_len(data_len: usize, padded: bool) -> Option<usize> {
    if padded {
        ((1..=MAX_DATA_LEN).contains(&data_len)).then(|| data_len.div_ceil(SEMI) * SEMI + SEMI)
    } else {
        ((2 * SEMI..=MAX_DATA_LEN).contains(&data_len) && data_len.is_multiple_of(SEMI))
            .then_some(data_len + SEMI)
    }
}

/// Wraps `data` under `kek`.
///
/// KW (`padded == false`) needs a multiple of 8 bytes, at least 16; KWP takes
/// any non-empty length. Other lengths → `CKR_DATA_LEN_RANGE`.
pub fn wrap(kek: &AesKey, data: &[u8], padded: bool) -> Result<Vec<u8>> {
    let out_len = wrapped_len(data.len(), padded).ok_or(Error::Rv(sys::CKR_DATA_LEN_RANGE))?;
    match aws_lc_cipher(kek) {
        Some(alg) => {
            let lc = LcKek::new(alg, kek.bytes()).map_err(|_| invariant("KEK length"))?;
            let mut out = vec![0u8; out_len];
            let n = if padded {
                lc.wrap_with_padding(data, &mut out).map(|o| o.len())
            } else {
                lc.wrap(data, &mut out).map(|o| o.len())
            }
            .map_err(|_| Error::Crypto("aws-lc key wrap failed".into()))?;
            out.truncate(n);
            Ok(out)
        }
        None => wrap_general(kek.cipher(), data, padded),
    }
}

/// Unwraps `wrapped` under `kek`, returning the key data in a buffer that
/// is zeroized on drop.
///
/// Length not a multiple of 8, or shorter than 24 (KW) / 16 (KWP) bytes →
/// `CKR_WRAPPED_KEY_LEN_RANGE`; integrity check failure →
/// `CKR_WRAPPED_KEY_INVALID`.
pub fn unwrap(kek: &AesKey, wrapped: &[u8], padded: bool) -> Result<Zeroizing<Vec<u8>>> {
    let min = if padded { 2 * SEMI } else { 3 * SEMI };
    if wrapped.len() < min
        || !wrapped.len().is_multiple_of(SEMI)
        || wrapped.len() > MAX_DATA_LEN + SEMI
    {
        return rv(sys::CKR_WRAPPED_KEY_LEN_RANGE);
    }
    match aws_lc_cipher(kek) {
        Some(alg) => {
            let lc = LcKek::new(alg, kek.bytes()).map_err(|_| invariant("KEK length"))?;
            // wrapped.len() >= 16 was checked above.
            let mut out = Zeroizing::new(vec![0u8; wrapped.len() - SEMI]);
            let n = if padded {
                lc.unwrap_with_padding(wrapped, &mut out).map(|o| o.len())
            } else {
                lc.unwrap(wrapped, &mut out).map(|o| o.len())
            }
            .map_err(|_| Error::Rv(sys::CKR_WRAPPED_KEY_INVALID))?;
            out.truncate(n);
            Ok(out)
        }
        None => unwrap_general(kek.cipher(), wrapped, padded),
    }
}

fn aws_lc_cipher(kek: &AesKey) -> Option<&'static AesBlockCipher> {
    match kek.len() {
        16 => Some(&AES_128),
        32 => Some(&AES_256),
        _ => None,
    }
}

fn semiblock(bytes: &[u8]) -> Result<u64> {
    let arr: [u8; SEMI] = bytes
        .try_into()
        .map_err(|_| invariant("semiblock is 8 bytes"))?;
    Ok(u64::from_be_bytes(arr))
}

/// RFC 3394 §2.2.1 W (index form): wraps the semiblocks in `r` in place
/// under initial value `a`, returning the final A.
fn w(cipher: &AesCipher, mut a: u64, r: &mut [u8]) -> Result<u64> {
    let n = (r.len() / SEMI) as u64;
    let mut b = Zeroizing::new([0u8; 16]);
    for j in 0..6u64 {
        for (i, ri) in (1u64..).zip(r.chunks_exact_mut(SEMI)) {
            *b = ((u128::from(a) << 64) | u128::from(semiblock(ri)?)).to_be_bytes();
            cipher.encrypt_block(&mut b);
            let v = u128::from_be_bytes(*b);
            a = ((v >> 64) as u64) ^ (n * j + i);
            ri.copy_from_slice(&(v as u64).to_be_bytes());
        }
    }
    Ok(a)
}

/// RFC 3394 §2.2.2 W^-1 (index form): unwraps `r` in place, returning A.
fn w_inv(cipher: &AesCipher, mut a: u64, r: &mut [u8]) -> Result<u64> {
    let n = (r.len() / SEMI) as u64;
    let mut b = Zeroizing::new([0u8; 16]);
    for j in (0..6u64).rev() {
        for (i, ri) in (1..=n).rev().zip(r.chunks_exact_mut(SEMI).rev()) {
            let at = a ^ (n * j + i);
            *b = ((u128::from(at) << 64) | u128::from(semiblock(ri)?)).to_be_bytes();
            cipher.decrypt_block(&mut b);
            let v = u128::from_be_bytes(*b);
            a = (v >> 64) as u64;
            ri.copy_from_slice(&(v as u64).to_be_bytes());
        }
    }
    Ok(a)
}

fn wrap_general(cipher: &AesCipher, data: &[u8], padded: bool) -> Result<Vec<u8>> {
    let padded_len = data.len().div_ceil(SEMI) * SEMI;
    let mut p = Zeroizing::new(vec![0u8; padded_len]);
    p.get_mut(..data.len())
        .ok_or_else(|| invariant("padded length covers data"))?
        .copy_from_slice(data);
    let iv = if padded {
        let mli = u32::try_from(data.len()).map_err(|_| Error::Rv(sys::CKR_DATA_LEN_RANGE))?;
        (KWP_AIV_HIGH << 32) | u64::from(mli)
    } else {
        KW_IV
    };
    if padded && padded_len == SEMI {
        // RFC 5649 §4.1: a single semiblock is one ECB block AIV || P.
        let mut b =
            Zeroizing::new(((u128::from(iv) << 64) | u128::from(semiblock(&p)?)).to_be_bytes());
        cipher.encrypt_block(&mut b);
        return Ok(b.to_vec());
    }
    let a = w(cipher, iv, &mut p)?;
    let mut out = Vec::with_capacity(padded_len + SEMI);
    out.extend_from_slice(&a.to_be_bytes());
    out.extend_from_slice(&p);
    Ok(out)
}

fn unwrap_general(cipher: &AesCipher, wrapped: &[u8], padded: bool) -> Result<Zeroizing<Vec<u8>>> {
    let invalid = || Error::Rv(sys::CKR_WRAPPED_KEY_INVALID);
    let (a, mut p) = if padded && wrapped.len() == 2 * SEMI {
        let mut b = Zeroizing::new([0u8; 16]);
        b.copy_from_slice(wrapped); // exactly 16 bytes in this branch
        cipher.decrypt_block(&mut b);
        let (hi, lo) = b.split_at(SEMI);
        (semiblock(hi)?, Zeroizing::new(lo.to_vec()))
    } else {
        // `unwrap` guarantees at least two semiblocks.
        let (c0, rest) = wrapped.split_at(SEMI);
        let mut r = Zeroizing::new(rest.to_vec());
        (w_inv(cipher, semiblock(c0)?, &mut r)?, r)
    };
    if !padded {
        return if a == KW_IV { Ok(p) } else { Err(invalid()) };
    }
    // RFC 5649 §3: check the AIV prefix, that MLI fits the last semiblock,
    // and that the padding is zero; one combined verdict, one error.
    let mli = usize::try_from(a & 0xffff_ffff).map_err(|_| invalid())?;
    let len = p.len();
    let prefix_ok = a >> 32 == KWP_AIV_HIGH;
    let range_ok = mli > len.saturating_sub(SEMI) && mli <= len;
    let pad_ok = p.iter().skip(mli).fold(0u8, |acc, &x| acc | x) == 0;
    if !(prefix_ok & range_ok & pad_ok) {
        return Err(invalid());
    }
    p.truncate(mli);
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    const K128: &str = "000102030405060708090a0b0c0d0e0f";
    const K192: &str = "000102030405060708090a0b0c0d0e0f1011121314151617";
    const K256: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    /// Checks one vector through the public API and through the general
    /// implementation directly, both directions.
    fn check(kek: &str, data: &str, wrapped: &str, padded: bool) {
        let (kek, data, wrapped) = (AesKey::new(&h(kek)).unwrap(), h(data), h(wrapped));
        assert_eq!(wrapped_len(data.len(), padded), Some(wrapped.len()));
        assert_eq!(wrap(&kek, &data, padded).unwrap(), wrapped);
        assert_eq!(&unwrap(&kek, &wrapped, padded).unwrap()[..], &data[..]);
        assert_eq!(wrap_general(kek.cipher(), &data, padded).unwrap(), wrapped);
        assert_eq!(
            &unwrap_general(kek.cipher(), &wrapped, padded).unwrap()[..],
            &data[..]
        );
        // Any flipped bit breaks the integrity check on both paths.
        for pos in [0, wrapped.len() / 2, wrapped.len() - 1] {
            let mut bad = wrapped.clone();
            bad[pos] ^= 0x04;
            let e = unwrap(&kek, &bad, padded).unwrap_err();
            assert_eq!(e.ck_rv(), sys::CKR_WRAPPED_KEY_INVALID);
            let e = unwrap_general(kek.cipher(), &bad, padded).unwrap_err();
            assert_eq!(e.ck_rv(), sys::CKR_WRAPPED_KEY_INVALID);
        }
    }

    /// RFC 3394 §4.1–4.6.
    #[test]
    fn rfc3394_section4() {
        let d128 = "00112233445566778899aabbccddeeff";
        let d192 = "00112233445566778899aabbccddeeff0001020304050607";
        let d256 = "00112233445566778899aabbccddeeff000102030405060708090a0b0c0d0e0f";
        check(
            K128,
            d128,
            "1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5",
            false,
        );
        check(
            K192,
            d128,
            "96778b25ae6ca435f92b5b97c050aed2468ab8a17ad84e5d",
            false,
        );
        check(
            K256,
            d128,
            "64e8c3f9ce0f5ba263e9777905818a2a93c8191e7d6e8ae7",
            false,
        );
        check(
            K192,
            d192,
            "031d33264e15d33268f24ec260743edce1c6c7ddee725a936ba814915c6762d2",
            false,
        );
        check(
            K256,
            d192,
            "a8f9bc1612c68b3ff6e6f4fbe30e71e4769c8b80a32cb8958cd5d17d6b254da1",
            false,
        );
        check(
            K256,
            d256,
            "28c9f404c4b810f4cbccb35cfb87f8263f5786e2d80ed326cbc7f0e71a99f43bfb988b9b7a02dd21",
            false,
        );
    }

    /// RFC 5649 §6 (AES-192 KEK), plus NIST CAVP KWP vectors for AES-128
    /// and AES-256 KEKs so the aws-lc path is pinned to published bytes too.
    #[test]
    fn rfc5649_section6_and_cavp_kwp() {
        let kek = "5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8";
        check(
            kek,
            "c37b7e6492584340bed12207808941155068f738",
            "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a",
            true,
        );
        check(
            kek,
            "466f7250617369",
            "afbeb0f07dfbf5419200f2ccb50bb24f",
            true,
        );
        check(
            "af83ae6624fc006da13b3c37b8a5933b",
            "13126a",
            "a661f530339c9f344fa4755ad4cc3558",
            true,
        );
        check(
            "6d60c0d0941cf3750b864c6f1fa580ae074c00edeb386f9fc299178a70fcccd1",
            "6b54a0",
            "24255140b4a9f8a9e35b9da2bfa0e0c3",
            true,
        );
        check(
            "d19c43011c2a0242a38bd58b8d76456d",
            "4202c90d7298cb4b",
            "65befaeaacbb4620d1a5d64e7b57a760",
            true,
        );
        check(
            "ebee1b9211aadefd06d258605f7134fb",
            "4029f7da4f8c29e4bb951a6f9d7f5305",
            "634194eaca80d77a21d11dd3e739dc5aa3feca2ce0990507",
            true,
        );
    }

    #[test]
    fn aws_lc_and_general_paths_agree() {
        for k in [K128, K256] {
            let kek = AesKey::new(&h(k)).unwrap();
            let data: Vec<u8> = (0..72u8).map(|i| i.wrapping_mul(37)).collect();
            for len in 1..=data.len() {
                let d = &data[..len];
                let lc = wrap(&kek, d, true).unwrap();
                assert_eq!(
                    lc,
                    wrap_general(kek.cipher(), d, true).unwrap(),
                    "kwp len {len}"
                );
                assert_eq!(&unwrap_general(kek.cipher(), &lc, true).unwrap()[..], d);
                if len >= 16 && len % 8 == 0 {
                    let lc = wrap(&kek, d, false).unwrap();
                    assert_eq!(
                        lc,
                        wrap_general(kek.cipher(), d, false).unwrap(),
                        "kw len {len}"
                    );
                }
            }
        }
    }

    #[test]
    fn length_errors() {
        let kek = AesKey::new(&h(K128)).unwrap();
        let kek192 = AesKey::new(&h(K192)).unwrap();
        for k in [&kek, &kek192] {
            for len in [0usize, 8, 15, 17, 23] {
                let e = wrap(k, &vec![1u8; len], false).unwrap_err();
                assert_eq!(e.ck_rv(), sys::CKR_DATA_LEN_RANGE, "kw len {len}");
            }
            assert_eq!(
                wrap(k, &[], true).unwrap_err().ck_rv(),
                sys::CKR_DATA_LEN_RANGE
            );
            for len in [0usize, 8, 16, 23, 25] {
                let e = unwrap(k, &vec![1u8; len], false).unwrap_err();
                assert_eq!(
                    e.ck_rv(),
                    sys::CKR_WRAPPED_KEY_LEN_RANGE,
                    "kw unwrap len {len}"
                );
            }
            for len in [0usize, 8, 15, 17] {
                let e = unwrap(k, &vec![1u8; len], true).unwrap_err();
                assert_eq!(
                    e.ck_rv(),
                    sys::CKR_WRAPPED_KEY_LEN_RANGE,
                    "kwp unwrap len {len}"
                );
            }
        }
        assert_eq!(wrapped_len(1, true), Some(16));
        assert_eq!(wrapped_len(9, true), Some(24));
        assert_eq!(wrapped_len(16, false), Some(24));
        assert_eq!(wrapped_len(12, false), None);
    }

    /// A KW wrapping is not a valid KWP wrapping and vice versa.
    #[test]
    fn modes_do_not_cross() {
        for k in [K128, K192] {
            let kek = AesKey::new(&h(k)).unwrap();
            let data = [0x5au8; 24];
            let kw = wrap(&kek, &data, false).unwrap();
            assert_eq!(
                unwrap(&kek, &kw, true).unwrap_err().ck_rv(),
                sys::CKR_WRAPPED_KEY_INVALID
            );
            let kwp = wrap(&kek, &data, true).unwrap();
            assert_eq!(
                unwrap(&kek, &kwp, false).unwrap_err().ck_rv(),
                sys::CKR_WRAPPED_KEY_INVALID
            );
        }
    }
}
