//! AES-GCM (NIST SP 800-38D) assembled in keyrotor from the HSM's AES block
//! function (`CKM_AES_ECB` encrypt), for `gcm = "ecb"`: HSMs or proxies that
//! cannot carry `CK_GCM_PARAMS` (p11-kit 0.24's RPC among them).
//!
//! The key never leaves the HSM. The HSM encrypts, in one call, the zero
//! block (the GHASH key H), J0 (the tag mask) and the counter blocks; keyrotor
//! XORs the keystream and computes GHASH. Those intermediate values pass
//! through keyrotor's memory (zeroized after use), which is the price of
//! this mode. IVs other than 96 bits need H before J0: two HSM calls.

use cryptoki_sys as sys;
use ghash::universal_hash::{KeyInit, UniversalHash};
use ghash::GHash;
use zeroize::Zeroizing;

use crate::error::{rv, Error, Result};
use crate::mech::primitives::gcm::{FAST_IV_LEN, MAX_TAG_LEN, MIN_TAG_LEN};
use crate::mech::primitives::{ct_eq, xor_in_place, AES_BLOCK_LEN};

/// Longest text under one IV: 2^39 - 256 bits.
const MAX_TEXT_LEN: u64 = (1 << 36) - 32;

/// Encrypts `buf` (whole 16-byte blocks) in place with the HSM's key.
pub(super) type BlockFn<'a> = dyn FnMut(&mut [u8]) -> Result<()> + 'a;

/// Encrypts `plaintext` into `out` (`ciphertext || tag[..tag_len]`).
pub(super) fn encrypt(
    ecb: &mut BlockFn<'_>,
    iv: &[u8],
    aad: &[u8],
    plaintext: &[u8],
    tag_len: usize,
    out: &mut [u8],
) -> Result<usize> {
    check(iv, tag_len, plaintext.len())?;
    let total = plaintext.len() + tag_len;
    let out = out
        .get_mut(..total)
        .ok_or(Error::Rv(sys::CKR_BUFFER_TOO_SMALL))?;
    let (ct, tag_out) = out.split_at_mut(plaintext.len());
    let ks = keystream(ecb, iv, plaintext.len())?;
    ct.copy_from_slice(plaintext);
    xor_in_place(ct, ks.stream());
    let tag = ks.tag(aad, ct)?;
    tag_out.copy_from_slice(
        tag.get(..tag_len)
            .ok_or(Error::Rv(sys::CKR_GENERAL_ERROR))?,
    );
    Ok(total)
}

/// Verifies and decrypts `ct_and_tag`; a tag that does not verify is
/// [`Error::EncryptedDataInvalid`] and no plaintext is written.
pub(super) fn decrypt(
    ecb: &mut BlockFn<'_>,
    iv: &[u8],
    aad: &[u8],
    ct_and_tag: &[u8],
    tag_len: usize,
    out: &mut [u8],
) -> Result<usize> {
    let ct_len = ct_and_tag
        .len()
        .checked_sub(tag_len)
        .ok_or(Error::Rv(sys::CKR_ENCRYPTED_DATA_LEN_RANGE))?;
    check(iv, tag_len, ct_len)?;
    let (ct, tag) = ct_and_tag.split_at(ct_len);
    let out = out
        .get_mut(..ct_len)
        .ok_or(Error::Rv(sys::CKR_BUFFER_TOO_SMALL))?;
    let ks = keystream(ecb, iv, ct_len)?;
    let expected = ks.tag(aad, ct)?;
    let prefix = expected
        .get(..tag_len)
        .ok_or(Error::Rv(sys::CKR_GENERAL_ERROR))?;
    if !ct_eq(prefix, tag) {
        return Err(Error::EncryptedDataInvalid);
    }
    out.copy_from_slice(ct);
    xor_in_place(out, ks.stream());
    Ok(ct_len)
}

fn check(iv: &[u8], tag_len: usize, text_len: usize) -> Result<()> {
    if iv.is_empty() || !(MIN_TAG_LEN..=MAX_TAG_LEN).contains(&tag_len) {
        return rv(sys::CKR_MECHANISM_PARAM_INVALID);
    }
    if u64::try_from(text_len).map_or(true, |l| l > MAX_TEXT_LEN) {
        return rv(sys::CKR_DATA_LEN_RANGE);
    }
    Ok(())
}

/// H, E(J0) and the keystream for one message, all from the HSM.
struct Keystream {
    h: Zeroizing<[u8; AES_BLOCK_LEN]>,
    // [E(0) when it came in the same call], E(J0), then the keystream.
    blocks: Zeroizing<Vec<u8>>,
    // Offset of E(J0) in `blocks`.
    j0_at: usize,
    text_len: usize,
}

impl Keystream {
    fn stream(&self) -> &[u8] {
        let start = self.j0_at + AES_BLOCK_LEN;
        self.blocks
            .get(start..start + self.text_len)
            .unwrap_or_default()
    }

    fn tag(&self, aad: &[u8], ct: &[u8]) -> Result<Zeroizing<[u8; AES_BLOCK_LEN]>> {
        let mut g = GHash::new(&(*self.h).into());
        g.update_padded(aad);
        g.update_padded(ct);
        g.update(&[length_block(aad.len(), ct.len())?.into()]);
        let mut tag = Zeroizing::new([0u8; AES_BLOCK_LEN]);
        tag.copy_from_slice(
            self.blocks
                .get(self.j0_at..self.j0_at + AES_BLOCK_LEN)
                .ok_or(Error::Rv(sys::CKR_GENERAL_ERROR))?,
        );
        let s = g.finalize();
        xor_in_place(&mut tag[..], s.as_slice());
        Ok(tag)
    }
}

fn keystream(ecb: &mut BlockFn<'_>, iv: &[u8], text_len: usize) -> Result<Keystream> {
    let n_blocks = text_len.div_ceil(AES_BLOCK_LEN);
    let mut h = Zeroizing::new([0u8; AES_BLOCK_LEN]);
    // Counter blocks after an optional leading zero block (for H).
    let j0 = if iv.len() == FAST_IV_LEN {
        let mut b = [0u8; AES_BLOCK_LEN];
        // Cannot panic: 12 < 16 and iv.len() == 12 here.
        b[..FAST_IV_LEN].copy_from_slice(iv);
        u128::from_be_bytes(b) | 1
    } else {
        // J0 = GHASH_H(IV || 0^(s+64) || [len(IV)]_64) needs H first.
        ecb(&mut h[..])?;
        let mut g = GHash::new(&(*h).into());
        g.update_padded(iv);
        g.update(&[length_block(0, iv.len())?.into()]);
        u128::from_be_bytes(g.finalize().into())
    };
    let lead = usize::from(iv.len() == FAST_IV_LEN);
    let mut blocks = Zeroizing::new(vec![0u8; (lead + 1 + n_blocks) * AES_BLOCK_LEN]);
    let counters = blocks
        .get_mut(lead * AES_BLOCK_LEN..)
        .ok_or(Error::Rv(sys::CKR_GENERAL_ERROR))?;
    let mut counter = j0;
    for chunk in counters.chunks_exact_mut(AES_BLOCK_LEN) {
        chunk.copy_from_slice(&counter.to_be_bytes());
        // inc32: only the low 32 bits count (and wrap).
        counter = (counter & !0xffff_ffff) | (counter.wrapping_add(1) & 0xffff_ffff);
    }
    ecb(&mut blocks[..])?;
    if lead == 1 {
        h.copy_from_slice(
            blocks
                .get(..AES_BLOCK_LEN)
                .ok_or(Error::Rv(sys::CKR_GENERAL_ERROR))?,
        );
    }
    Ok(Keystream {
        h,
        blocks,
        j0_at: lead * AES_BLOCK_LEN,
        text_len,
    })
}

/// `[len(A)]_64 || [len(C)]_64`, lengths in bits.
fn length_block(a_len: usize, c_len: usize) -> Result<[u8; AES_BLOCK_LEN]> {
    let bits = |n: usize| {
        u64::try_from(n)
            .ok()
            .and_then(|n| n.checked_mul(8))
            .ok_or(Error::Rv(sys::CKR_DATA_LEN_RANGE))
    };
    Ok(((u128::from(bits(a_len)?) << 64) | u128::from(bits(c_len)?)).to_be_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mech::primitives::{gcm, AesKey};

    /// The block function of a software key, standing in for the HSM.
    fn ecb_of(key: &AesKey) -> impl FnMut(&mut [u8]) -> Result<()> + '_ {
        |buf: &mut [u8]| {
            for b in buf.chunks_exact_mut(16) {
                let mut block = [0u8; 16];
                block.copy_from_slice(b);
                key.cipher().encrypt_block(&mut block);
                b.copy_from_slice(&block);
            }
            Ok(())
        }
    }

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn nist_test_case_4() {
        // The GCM specification's test case 4 (AES-128, 96-bit IV, AAD).
        let key = AesKey::new(&unhex("feffe9928665731c6d6a8f9467308308")).unwrap();
        let iv = unhex("cafebabefacedbaddecaf888");
        let aad = unhex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
        let pt = unhex(
            "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
             1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
        );
        let expected = unhex(
            "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e\
             21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091\
             5bc94fbc3221a5db94fae95ae7121a47",
        );
        let mut out = vec![0u8; pt.len() + 16];
        let n = encrypt(&mut ecb_of(&key), &iv, &aad, &pt, 16, &mut out).unwrap();
        assert_eq!(&out[..n], &expected[..]);
        let mut back = vec![0u8; pt.len()];
        let m = decrypt(&mut ecb_of(&key), &iv, &aad, &out, 16, &mut back).unwrap();
        assert_eq!(&back[..m], &pt[..]);
    }

    #[test]
    fn matches_the_software_gcm_for_other_ivs_tags_and_lengths() {
        let key = AesKey::new(&[7u8; 32]).unwrap();
        for (iv_len, tag_len, len) in [
            (12, 16, 0),
            (12, 12, 1),
            (16, 16, 4096),
            (8, 13, 33),
            (60, 16, 17),
        ] {
            let iv: Vec<u8> = (0..iv_len as u8).collect();
            let pt = vec![0x5a; len];
            let mut ours = vec![0u8; len + tag_len];
            let mut theirs = vec![0u8; len + tag_len];
            encrypt(&mut ecb_of(&key), &iv, b"aad", &pt, tag_len, &mut ours).unwrap();
            gcm::encrypt(&key, &iv, b"aad", &pt, tag_len, &mut theirs).unwrap();
            assert_eq!(ours, theirs, "iv {iv_len} tag {tag_len} len {len}");
        }
    }

    #[test]
    fn a_bad_tag_releases_nothing() {
        let key = AesKey::new(&[1u8; 16]).unwrap();
        let mut ct = vec![0u8; 20 + 16];
        encrypt(&mut ecb_of(&key), &[9u8; 12], b"", &[3u8; 20], 16, &mut ct).unwrap();
        ct[25] ^= 1;
        let mut out = vec![0u8; 20];
        assert!(matches!(
            decrypt(&mut ecb_of(&key), &[9u8; 12], b"", &ct, 16, &mut out),
            Err(Error::EncryptedDataInvalid)
        ));
        assert_eq!(out, vec![0u8; 20]);
        assert!(matches!(
            decrypt(&mut ecb_of(&key), &[9u8; 12], b"", &ct[..10], 16, &mut out),
            Err(Error::Rv(sys::CKR_ENCRYPTED_DATA_LEN_RANGE))
        ));
        assert!(matches!(
            encrypt(&mut ecb_of(&key), &[], b"", b"x", 16, &mut out),
            Err(Error::Rv(sys::CKR_MECHANISM_PARAM_INVALID))
        ));
    }
}
