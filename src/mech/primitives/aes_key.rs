//! [`AesKey`]: one AES key (128, 192 or 256 bits) with everything the hot
//! paths need computed once at construction — the aws-lc-rs AES-GCM key and
//! the expanded RustCrypto block cipher ([`AesCipher`]) for the block modes,
//! CMAC and the general GCM path.

use aes::cipher::inout::InOutBuf;
use aes::cipher::{BlockDecrypt, BlockEncrypt, KeyInit};
use aes::{Aes128, Aes192, Aes256, Block};
use aws_lc_rs::aead;
use cryptoki_sys as sys;
use zeroize::Zeroizing;

use super::{invariant, AES_BLOCK_LEN};
use crate::error::{rv, Error, Result};

/// Blocks handed to the `aes` crate per call on bulk paths: two batches of the
/// AES-NI backend's 8-way pipeline, small enough to live on the stack.
const BULK_BLOCKS: usize = 16;

/// An AES key with its precomputed GCM and block-cipher state.
///
/// The raw bytes live in a [`Zeroizing`] buffer and are wiped on drop; `Debug`
/// prints only the length. The type is `Send + Sync`, so one key can be shared
/// (e.g. in an `Arc`) by every session that uses it.
pub struct AesKey {
    bytes: Zeroizing<[u8; 32]>,
    len: usize,
    gcm: aead::LessSafeKey,
    cipher: AesCipher,
}

impl AesKey {
    /// Builds a key from 16, 24 or 32 bytes; any other length is
    /// `CKR_KEY_SIZE_RANGE`.
    pub fn new(key: &[u8]) -> Result<Self> {
        let alg = match key.len() {
            16 => &aead::AES_128_GCM,
            24 => &aead::AES_192_GCM,
            32 => &aead::AES_256_GCM,
            _ => return rv(sys::CKR_KEY_SIZE_RANGE),
        };
        let mut bytes = Zeroizing::new([0u8; 32]);
        bytes
            .get_mut(..key.len())
            .ok_or_else(|| invariant("key length checked above"))?
            .copy_from_slice(key);
        let unbound = aead::UnboundKey::new(alg, key)
            .map_err(|_| Error::Crypto("aws-lc rejected an AES-GCM key".into()))?;
        Ok(AesKey {
            bytes,
            len: key.len(),
            gcm: aead::LessSafeKey::new(unbound),
            cipher: AesCipher::new(key)?,
        })
    }

    /// Key length in bytes: 16, 24 or 32.
    // A key is never empty, so an `is_empty` would only ever say `false`.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// The raw key bytes. Callers must not copy them into unzeroized storage.
    pub fn bytes(&self) -> &[u8] {
        // `len` is 16, 24 or 32 by construction, so the slice is in bounds.
        self.bytes.get(..self.len).unwrap_or(&[])
    }

    /// The aws-lc-rs AES-GCM key used by the 96-bit-IV fast path.
    pub(crate) fn gcm_key(&self) -> &aead::LessSafeKey {
        &self.gcm
    }

    /// The expanded block cipher used by the block modes and general GCM.
    pub fn cipher(&self) -> &AesCipher {
        &self.cipher
    }
}

impl std::fmt::Debug for AesKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AesKey")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

/// The expanded AES block cipher for each key size.
///
/// Without the `aes` crate's `zeroize` feature the round keys are not wiped
/// on drop; the main crate should enable it (see the helper's report).
#[derive(Clone)]
pub enum AesCipher {
    /// AES-128.
    Aes128(Aes128),
    /// AES-192.
    Aes192(Aes192),
    /// AES-256.
    Aes256(Aes256),
}

/// Runs `$body` with `$c` bound to whichever concrete cipher `$self` holds.
macro_rules! with_cipher {
    ($self:expr, $c:ident => $body:expr) => {
        match $self {
            AesCipher::Aes128($c) => $body,
            AesCipher::Aes192($c) => $body,
            AesCipher::Aes256($c) => $body,
        }
    };
}

impl AesCipher {
    fn new(key: &[u8]) -> Result<Self> {
        let bad = |_| Error::Rv(sys::CKR_KEY_SIZE_RANGE);
        match key.len() {
            16 => Aes128::new_from_slice(key).map(Self::Aes128).map_err(bad),
            24 => Aes192::new_from_slice(key).map(Self::Aes192).map_err(bad),
            32 => Aes256::new_from_slice(key).map(Self::Aes256).map_err(bad),
            _ => rv(sys::CKR_KEY_SIZE_RANGE),
        }
    }

    /// Encrypts one block in place.
    pub fn encrypt_block(&self, block: &mut [u8; AES_BLOCK_LEN]) {
        let b: &mut Block = block.into();
        with_cipher!(self, c => c.encrypt_block(b));
    }

    /// Decrypts one block in place.
    pub fn decrypt_block(&self, block: &mut [u8; AES_BLOCK_LEN]) {
        let b: &mut Block = block.into();
        with_cipher!(self, c => c.decrypt_block(b));
    }

    /// Encrypts whole blocks in place.
    pub fn encrypt_blocks(&self, blocks: &mut [Block]) {
        with_cipher!(self, c => c.encrypt_blocks(blocks));
    }

    /// ECB-encrypts `input` into `out`; both must have the same length, a
    /// multiple of 16 (else an internal error: callers size them exactly).
    pub fn encrypt_blocks_b2b(&self, input: &[u8], out: &mut [u8]) -> Result<()> {
        let blocks = block_buf(input, out)?;
        with_cipher!(self, c => c.encrypt_blocks_inout(blocks));
        Ok(())
    }

    /// ECB-decrypts `input` into `out`; same length rules as
    /// [`encrypt_blocks_b2b`](Self::encrypt_blocks_b2b).
    pub fn decrypt_blocks_b2b(&self, input: &[u8], out: &mut [u8]) -> Result<()> {
        let blocks = block_buf(input, out)?;
        with_cipher!(self, c => c.decrypt_blocks_inout(blocks));
        Ok(())
    }

    /// Counter-mode keystream: `out = input XOR E(counter), E(counter+1), ...`.
    ///
    /// `counter` is the whole 128-bit counter block (big-endian); only the
    /// bits in `mask` take part in the increment, so they wrap without
    /// carrying into the nonce part. On return `counter` is the next unused
    /// block (a trailing partial block counts as used). `input` and `out`
    /// must be the same length. Callers enforce the counter-space limits.
    pub(crate) fn ctr_xor(
        &self,
        counter: &mut u128,
        mask: u128,
        input: &[u8],
        out: &mut [u8],
    ) -> Result<()> {
        if input.len() != out.len() {
            return Err(invariant("ctr_xor lengths differ"));
        }
        let mut ks = [Block::default(); BULK_BLOCKS];
        for (in_chunk, out_chunk) in input
            .chunks(BULK_BLOCKS * AES_BLOCK_LEN)
            .zip(out.chunks_mut(BULK_BLOCKS * AES_BLOCK_LEN))
        {
            let n = in_chunk.len().div_ceil(AES_BLOCK_LEN);
            let ks_used = ks.get_mut(..n).ok_or_else(|| invariant("ctr chunk"))?;
            for blk in ks_used.iter_mut() {
                *blk = Block::from(counter.to_be_bytes());
                *counter = next_counter(*counter, mask);
            }
            self.encrypt_blocks(ks_used);
            for ((o, i), k) in out_chunk
                .chunks_mut(AES_BLOCK_LEN)
                .zip(in_chunk.chunks(AES_BLOCK_LEN))
                .zip(ks_used.iter())
            {
                for ((ob, ib), kb) in o.iter_mut().zip(i).zip(k.iter()) {
                    *ob = ib ^ kb;
                }
            }
        }
        // The keystream is as sensitive as the plaintext it masks.
        for blk in ks.iter_mut() {
            zeroize::Zeroize::zeroize(blk.as_mut_slice());
        }
        Ok(())
    }
}

/// Increments the bits of `counter` selected by `mask`, wrapping inside them.
#[inline]
pub(crate) fn next_counter(counter: u128, mask: u128) -> u128 {
    (counter & !mask) | (counter.wrapping_add(1) & mask)
}

/// Pairs `input` and `out` as whole AES blocks, rejecting mismatched or
/// partial lengths instead of silently dropping a tail.
fn block_buf<'i, 'o>(input: &'i [u8], out: &'o mut [u8]) -> Result<InOutBuf<'i, 'o, Block>> {
    if !input.len().is_multiple_of(AES_BLOCK_LEN) {
        return Err(invariant("block operation on a partial block"));
    }
    let buf = InOutBuf::new(input, out).map_err(|_| invariant("block operation lengths differ"))?;
    let (blocks, _tail) = buf.into_chunks();
    Ok(blocks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    #[test]
    fn rejects_bad_key_sizes() {
        for len in [0usize, 1, 15, 17, 20, 31, 33, 64] {
            let err = AesKey::new(&vec![0u8; len]).unwrap_err();
            assert_eq!(err.ck_rv(), sys::CKR_KEY_SIZE_RANGE, "len {len}");
        }
    }

    #[test]
    fn keeps_bytes_and_hides_them_from_debug() {
        let k = h("000102030405060708090a0b0c0d0e0f1011121314151617");
        let key = AesKey::new(&k).unwrap();
        assert_eq!(key.len(), 24);
        assert_eq!(key.bytes(), &k[..]);
        let dbg = format!("{key:?}");
        assert_eq!(dbg, "AesKey { len: 24, .. }");
    }

    #[test]
    fn is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<AesKey>();
        assert_send_sync::<AesCipher>();
    }

    /// FIPS-197 Appendix C.1–C.3.
    #[test]
    fn fips197_block_vectors() {
        let pt = h("00112233445566778899aabbccddeeff");
        let cases = [
            (
                "000102030405060708090a0b0c0d0e0f",
                "69c4e0d86a7b0430d8cdb78070b4c55a",
            ),
            (
                "000102030405060708090a0b0c0d0e0f1011121314151617",
                "dda97ca4864cdfe06eaf70a0ec0d7191",
            ),
            (
                "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
                "8ea2b7ca516745bfeafc49904b496089",
            ),
        ];
        for (k, ct) in cases {
            let key = AesKey::new(&h(k)).unwrap();
            let mut block: [u8; 16] = pt.clone().try_into().unwrap();
            key.cipher().encrypt_block(&mut block);
            assert_eq!(block.to_vec(), h(ct));
            key.cipher().decrypt_block(&mut block);
            assert_eq!(block.to_vec(), pt);
        }
    }

    #[test]
    fn counter_wraps_inside_its_mask() {
        let mask = (1u128 << 8) - 1;
        assert_eq!(next_counter(0xabff, mask), 0xab00);
        assert_eq!(next_counter(0xab10, mask), 0xab11);
        assert_eq!(next_counter(u128::MAX, u128::MAX), 0);
    }
}
