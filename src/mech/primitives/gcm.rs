//! One-shot AES-GCM (NIST SP 800-38D) into caller-supplied buffers.
//!
//! Two paths give the same bytes:
//! - fast: 96-bit IV through aws-lc-rs, out of place, no allocation (a tag
//!   shorter than 16 bytes is computed in full and truncated on encrypt);
//! - general: any other IV length, and decryption with a truncated tag
//!   (aws-lc only verifies full tags), built from the `aes` block cipher
//!   (CTR with the 32-bit increment) and the `ghash` crate.
//!
//! Decryption never releases plaintext for a bad tag: on failure the output
//! range `out[..ciphertext_len]` is zeroed and [`Error::EncryptedDataInvalid`]
//! is returned.

use aws_lc_rs::aead;
use cryptoki_sys as sys;
use ghash::universal_hash::{KeyInit, UniversalHash};
use ghash::GHash;
use zeroize::{Zeroize, Zeroizing};

use super::aes_key::{next_counter, AesCipher, AesKey};
use super::{ct_eq, invariant, xor_in_place, AES_BLOCK_LEN};
use crate::error::{rv, Error, Result};

/// Shortest tag accepted, in bytes (96 bits, the SP 800-38D general minimum).
pub const MIN_TAG_LEN: usize = 12;
/// Longest (full) tag, in bytes.
pub const MAX_TAG_LEN: usize = 16;
/// IV length served by the aws-lc-rs fast path.
pub const FAST_IV_LEN: usize = 12;
/// Longest text GCM allows under one IV: 2^39 - 256 bits.
const MAX_TEXT_LEN: u64 = (1 << 36) - 32;
/// GCM's counter increments only the low 32 bits of the counter block.
const INC32_MASK: u128 = 0xffff_ffff;

/// Encrypts `plaintext`, writing `ciphertext || tag[..tag_len]` to the front
/// of `out` and returning the number of bytes written (`plaintext.len() +
/// tag_len`).
///
/// Errors: `tag_len` outside 12..=16 or an empty IV →
/// `CKR_MECHANISM_PARAM_INVALID`; plaintext over the GCM limit →
/// `CKR_DATA_LEN_RANGE`; `out` too short → `CKR_BUFFER_TOO_SMALL` (nothing
/// written).
pub fn encrypt(
    key: &AesKey,
    iv: &[u8],
    aad: &[u8],
    plaintext: &[u8],
    tag_len: usize,
    out: &mut [u8],
) -> Result<usize> {
    check_params(iv, tag_len)?;
    if text_too_long(plaintext.len()) {
        return rv(sys::CKR_DATA_LEN_RANGE);
    }
    // Cannot overflow: the plaintext is at most 2^36 bytes here.
    let total = plaintext.len() + tag_len;
    let out = out
        .get_mut(..total)
        .ok_or(Error::Rv(sys::CKR_BUFFER_TOO_SMALL))?;
    // `out` now has exactly `plaintext.len() + tag_len` bytes.
    let (ct_out, tag_out) = out.split_at_mut(plaintext.len());
    if iv.len() == FAST_IV_LEN {
        encrypt_fast(key, iv, aad, plaintext, ct_out, tag_out)?;
    } else {
        encrypt_general(key.cipher(), iv, aad, plaintext, ct_out, tag_out)?;
    }
    Ok(total)
}

/// Verifies and decrypts `ct_and_tag` (ciphertext followed by a `tag_len`
/// byte tag), writing the plaintext to the front of `out` and returning its
/// length.
///
/// Errors: bad `tag_len`/IV → `CKR_MECHANISM_PARAM_INVALID`; input shorter
/// than the tag (or over the GCM limit) → `CKR_ENCRYPTED_DATA_LEN_RANGE`;
/// `out` shorter than the ciphertext → `CKR_BUFFER_TOO_SMALL`; tag mismatch →
/// [`Error::EncryptedDataInvalid`] with `out[..ciphertext_len]` zeroed.
pub fn decrypt(
    key: &AesKey,
    iv: &[u8],
    aad: &[u8],
    ct_and_tag: &[u8],
    tag_len: usize,
    out: &mut [u8],
) -> Result<usize> {
    check_params(iv, tag_len)?;
    let ct_len = ct_and_tag
        .len()
        .checked_sub(tag_len)
        .ok_or(Error::Rv(sys::CKR_ENCRYPTED_DATA_LEN_RANGE))?;
    if text_too_long(ct_len) {
        return rv(sys::CKR_ENCRYPTED_DATA_LEN_RANGE);
    }
    // ct_len <= ct_and_tag.len() by the checked_sub above.
    let (ct, tag) = ct_and_tag.split_at(ct_len);
    let out = out
        .get_mut(..ct_len)
        .ok_or(Error::Rv(sys::CKR_BUFFER_TOO_SMALL))?;
    let verified = if iv.len() == FAST_IV_LEN && tag_len == MAX_TAG_LEN {
        decrypt_fast(key, iv, aad, ct, tag, out)
    } else {
        decrypt_general(key.cipher(), iv, aad, ct, tag, out)
    };
    match verified {
        Ok(()) => Ok(ct_len),
        Err(e) => {
            // Whatever aws-lc left behind is unauthenticated plaintext.
            out.zeroize();
            Err(e)
        }
    }
}

/// Like [`encrypt`], with the ciphertext and the tag in separate buffers
/// (the PKCS#11 3.0 message API returns the tag through its parameters).
/// `ct_out` must hold `plaintext.len()` bytes; `tag_out.len()` is the tag
/// length (12..=16).
pub fn encrypt_detached(
    key: &AesKey,
    iv: &[u8],
    aad: &[u8],
    plaintext: &[u8],
    ct_out: &mut [u8],
    tag_out: &mut [u8],
) -> Result<()> {
    check_params(iv, tag_out.len())?;
    if text_too_long(plaintext.len()) {
        return rv(sys::CKR_DATA_LEN_RANGE);
    }
    let ct_out = ct_out
        .get_mut(..plaintext.len())
        .ok_or(Error::Rv(sys::CKR_BUFFER_TOO_SMALL))?;
    if iv.len() == FAST_IV_LEN {
        encrypt_fast(key, iv, aad, plaintext, ct_out, tag_out)
    } else {
        encrypt_general(key.cipher(), iv, aad, plaintext, ct_out, tag_out)
    }
}

/// Like [`decrypt`], with the tag apart from the ciphertext. On a tag
/// mismatch `out[..ct.len()]` is zeroed.
pub fn decrypt_detached(
    key: &AesKey,
    iv: &[u8],
    aad: &[u8],
    ct: &[u8],
    tag: &[u8],
    out: &mut [u8],
) -> Result<usize> {
    check_params(iv, tag.len())?;
    if text_too_long(ct.len()) {
        return rv(sys::CKR_ENCRYPTED_DATA_LEN_RANGE);
    }
    let out = out
        .get_mut(..ct.len())
        .ok_or(Error::Rv(sys::CKR_BUFFER_TOO_SMALL))?;
    let verified = if iv.len() == FAST_IV_LEN && tag.len() == MAX_TAG_LEN {
        decrypt_fast(key, iv, aad, ct, tag, out)
    } else {
        decrypt_general(key.cipher(), iv, aad, ct, tag, out)
    };
    match verified {
        Ok(()) => Ok(ct.len()),
        Err(e) => {
            out.zeroize();
            Err(e)
        }
    }
}

/// Number of bytes [`encrypt`] writes for a plaintext of `pt_len` bytes.
pub fn encrypted_len(pt_len: usize, tag_len: usize) -> usize {
    pt_len.saturating_add(tag_len)
}

fn check_params(iv: &[u8], tag_len: usize) -> Result<()> {
    if iv.is_empty() || !(MIN_TAG_LEN..=MAX_TAG_LEN).contains(&tag_len) {
        return rv(sys::CKR_MECHANISM_PARAM_INVALID);
    }
    Ok(())
}

fn text_too_long(len: usize) -> bool {
    u64::try_from(len).map_or(true, |l| l > MAX_TEXT_LEN)
}

fn nonce(iv: &[u8]) -> Result<aead::Nonce> {
    aead::Nonce::try_assume_unique_for_key(iv).map_err(|_| invariant("GCM nonce is 12 bytes"))
}

fn encrypt_fast(
    key: &AesKey,
    iv: &[u8],
    aad: &[u8],
    plaintext: &[u8],
    ct_out: &mut [u8],
    tag_out: &mut [u8],
) -> Result<()> {
    let aad = aead::Aad::from(aad);
    let failed = |_| Error::Crypto("aws-lc AES-GCM seal failed".into());
    if tag_out.len() == MAX_TAG_LEN {
        return key
            .gcm_key()
            .seal_out_of_place_scatter(nonce(iv)?, aad, plaintext, ct_out, &[], tag_out)
            .map_err(failed);
    }
    // aws-lc always produces the full tag; a shorter one is its prefix.
    let mut full = [0u8; MAX_TAG_LEN];
    key.gcm_key()
        .seal_out_of_place_scatter(nonce(iv)?, aad, plaintext, ct_out, &[], &mut full)
        .map_err(failed)?;
    let prefix = full
        .get(..tag_out.len())
        .ok_or_else(|| invariant("tag length checked"))?;
    tag_out.copy_from_slice(prefix);
    Ok(())
}

fn decrypt_fast(
    key: &AesKey,
    iv: &[u8],
    aad: &[u8],
    ct: &[u8],
    tag: &[u8],
    out: &mut [u8],
) -> Result<()> {
    // Lengths and limits were checked by the caller, so any failure here is
    // the tag not verifying.
    key.gcm_key()
        .open_separate_gather(nonce(iv)?, aead::Aad::from(aad), ct, tag, out)
        .map_err(|_| Error::EncryptedDataInvalid)
}

/// Per-message GCM state for the general path: the hash key H and J0.
struct GcmState<'a> {
    cipher: &'a AesCipher,
    h: Zeroizing<[u8; AES_BLOCK_LEN]>,
    j0: u128,
}

impl<'a> GcmState<'a> {
    fn new(cipher: &'a AesCipher, iv: &[u8]) -> Result<Self> {
        let mut h = Zeroizing::new([0u8; AES_BLOCK_LEN]);
        cipher.encrypt_block(&mut h);
        let j0 = if iv.len() == FAST_IV_LEN {
            // J0 = IV || 0^31 || 1
            let mut b = [0u8; AES_BLOCK_LEN];
            b.get_mut(..FAST_IV_LEN)
                .ok_or_else(|| invariant("iv length checked"))?
                .copy_from_slice(iv);
            u128::from_be_bytes(b) | 1
        } else {
            // J0 = GHASH_H(IV || 0^(s+64) || [len(IV)]_64)
            let mut g = ghash_for(&h);
            g.update_padded(iv);
            g.update(&[length_block(0, iv.len())?.into()]);
            u128::from_be_bytes(g.finalize().into())
        };
        Ok(GcmState { cipher, h, j0 })
    }

    /// The full 16-byte tag over `aad` and the ciphertext `ct`.
    fn tag(&self, aad: &[u8], ct: &[u8]) -> Result<Zeroizing<[u8; AES_BLOCK_LEN]>> {
        let mut g = ghash_for(&self.h);
        g.update_padded(aad);
        g.update_padded(ct);
        g.update(&[length_block(aad.len(), ct.len())?.into()]);
        let mut tag = Zeroizing::new(self.j0.to_be_bytes());
        self.cipher.encrypt_block(&mut tag);
        xor_in_place(&mut tag[..], g.finalize().as_slice());
        Ok(tag)
    }

    /// GCTR starting at inc32(J0): `out = input XOR keystream`.
    fn ctr(&self, input: &[u8], out: &mut [u8]) -> Result<()> {
        let mut counter = next_counter(self.j0, INC32_MASK);
        self.cipher.ctr_xor(&mut counter, INC32_MASK, input, out)
    }
}

fn ghash_for(h: &[u8; AES_BLOCK_LEN]) -> GHash {
    GHash::new(&(*h).into())
}

/// `[len(A)]_64 || [len(C)]_64`, lengths in bits.
fn length_block(a_len: usize, c_len: usize) -> Result<[u8; AES_BLOCK_LEN]> {
    let bits = |n: usize| {
        u64::try_from(n)
            .ok()
            .and_then(|n| n.checked_mul(8))
            .ok_or(Error::Rv(sys::CKR_MECHANISM_PARAM_INVALID))
    };
    let block = (u128::from(bits(a_len)?) << 64) | u128::from(bits(c_len)?);
    Ok(block.to_be_bytes())
}

fn encrypt_general(
    cipher: &AesCipher,
    iv: &[u8],
    aad: &[u8],
    plaintext: &[u8],
    ct_out: &mut [u8],
    tag_out: &mut [u8],
) -> Result<()> {
    let st = GcmState::new(cipher, iv)?;
    st.ctr(plaintext, ct_out)?;
    let tag = st.tag(aad, ct_out)?;
    let prefix = tag
        .get(..tag_out.len())
        .ok_or_else(|| invariant("tag length checked"))?;
    tag_out.copy_from_slice(prefix);
    Ok(())
}

fn decrypt_general(
    cipher: &AesCipher,
    iv: &[u8],
    aad: &[u8],
    ct: &[u8],
    tag: &[u8],
    out: &mut [u8],
) -> Result<()> {
    let st = GcmState::new(cipher, iv)?;
    let expected = st.tag(aad, ct)?;
    let prefix = expected
        .get(..tag.len())
        .ok_or_else(|| invariant("tag length checked"))?;
    // Authenticate before decrypting: no plaintext exists for a bad tag.
    if !ct_eq(prefix, tag) {
        return Err(Error::EncryptedDataInvalid);
    }
    st.ctr(ct, out)
}

#[cfg(test)]
mod tests;
