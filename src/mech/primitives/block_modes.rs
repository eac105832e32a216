//! Streaming AES block modes for multi-part PKCS#11 operations: ECB, CBC,
//! CBC-PAD (PKCS#7 padding) and CTR, plus one-shot helpers.
//!
//! Length rules follow PKCS#11: ECB/CBC plaintext that is not a whole number
//! of blocks is `CKR_DATA_LEN_RANGE`; ciphertext that is not is
//! `CKR_ENCRYPTED_DATA_LEN_RANGE`; bad CBC-PAD padding is
//! [`Error::EncryptedDataInvalid`]. CBC-PAD decryption holds back the last
//! full block until [`BlockCipherStream::finalize`], because only then is it
//! known to carry the padding. `update_len` is exact, so callers can answer
//! a length query without running the cipher.

use std::sync::Arc;

use cryptoki_sys as sys;
use zeroize::{Zeroize, Zeroizing};

use super::aes_key::{AesCipher, AesKey};
use super::{invariant, xor_in_place, AES_BLOCK_LEN};
use crate::error::{rv, Error, Result};

const B: usize = AES_BLOCK_LEN;

/// A block mode and its parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlockMode {
    /// CKM_AES_ECB.
    Ecb,
    /// CKM_AES_CBC (no padding).
    Cbc {
        /// Initialisation vector.
        iv: [u8; B],
    },
    /// CKM_AES_CBC_PAD (PKCS#7 padding).
    CbcPad {
        /// Initialisation vector.
        iv: [u8; B],
    },
    /// CKM_AES_CTR (`CK_AES_CTR_PARAMS`).
    Ctr {
        /// The initial counter block.
        counter_block: [u8; B],
        /// How many low-order bits of the block form the counter (1..=128).
        /// They wrap inside themselves; at most 2^counter_bits blocks may be
        /// processed, so no counter block is ever used twice.
        counter_bits: u32,
    },
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ecb,
    Cbc,
    CbcPad,
    Ctr,
}

/// The mode state machine, independent of how the key is held.
struct Engine {
    kind: Kind,
    encrypt: bool,
    finished: bool,
    /// CBC chaining value: the IV, then the last ciphertext block.
    chain: [u8; B],
    /// Input not yet processed: a partial block, or CBC-PAD's held-back block.
    buf: [u8; B],
    buf_len: usize,
    /// CTR: the next counter block, the mask of its counter bits, and how many
    /// blocks may still be generated (`None`: the 128-bit space is unbounded
    /// for any input that fits in memory).
    counter: u128,
    mask: u128,
    blocks_left: Option<u128>,
    /// CTR: keystream left over from a partial block, `ks[ks_pos..]`.
    ks: [u8; B],
    ks_pos: usize,
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.buf.zeroize();
        self.ks.zeroize();
        self.chain.zeroize();
    }
}

impl Engine {
    fn new(mode: &BlockMode, encrypt: bool) -> Result<Self> {
        let mut e = Engine {
            kind: Kind::Ecb,
            encrypt,
            finished: false,
            chain: [0; B],
            buf: [0; B],
            buf_len: 0,
            counter: 0,
            mask: 0,
            blocks_left: None,
            ks: [0; B],
            ks_pos: B,
        };
        match mode {
            BlockMode::Ecb => {}
            BlockMode::Cbc { iv } => (e.kind, e.chain) = (Kind::Cbc, *iv),
            BlockMode::CbcPad { iv } => (e.kind, e.chain) = (Kind::CbcPad, *iv),
            BlockMode::Ctr {
                counter_block,
                counter_bits,
            } => {
                if !(1..=128).contains(counter_bits) {
                    return rv(sys::CKR_MECHANISM_PARAM_INVALID);
                }
                e.kind = Kind::Ctr;
                e.counter = u128::from_be_bytes(*counter_block);
                e.mask = u128::MAX >> (128 - counter_bits);
                e.blocks_left = 1u128.checked_shl(*counter_bits);
            }
        }
        Ok(e)
    }

    fn live(&self) -> Result<()> {
        if self.finished {
            return rv(sys::CKR_OPERATION_NOT_INITIALIZED);
        }
        Ok(())
    }

    fn len_error(&self) -> Error {
        Error::Rv(if self.encrypt {
            sys::CKR_DATA_LEN_RANGE
        } else {
            sys::CKR_ENCRYPTED_DATA_LEN_RANGE
        })
    }

    fn holds_back_last_block(&self) -> bool {
        self.kind == Kind::CbcPad && !self.encrypt
    }

    fn update_len(&self, in_len: usize) -> usize {
        if self.kind == Kind::Ctr {
            return in_len;
        }
        let total = self.buf_len.saturating_add(in_len);
        if self.holds_back_last_block() {
            total.saturating_sub(1) / B * B
        } else {
            total / B * B
        }
    }

    fn final_len(&self) -> usize {
        match (self.kind, self.encrypt) {
            (Kind::CbcPad, true) => B,
            // Upper bound: the padding takes at least one byte.
            (Kind::CbcPad, false) if self.buf_len == B => B - 1,
            _ => 0,
        }
    }

    fn update(&mut self, cipher: &AesCipher, input: &[u8], out: &mut [u8]) -> Result<usize> {
        self.live()?;
        if self.kind == Kind::Ctr {
            return self.ctr_update(cipher, input, out);
        }
        let n_out = self.update_len(input.len());
        let out = out
            .get_mut(..n_out)
            .ok_or(Error::Rv(sys::CKR_BUFFER_TOO_SMALL))?;
        let short = || invariant("block stream arithmetic");
        let mut input = input;
        let mut done = 0;
        if n_out > 0 && self.buf_len > 0 {
            // Complete the buffered block first (n_out > 0 means the input
            // holds at least the missing bytes).
            let missing = B.checked_sub(self.buf_len).ok_or_else(short)?;
            let (head, rest) = input.split_at_checked(missing).ok_or_else(short)?;
            self.buf
                .get_mut(self.buf_len..)
                .ok_or_else(short)?
                .copy_from_slice(head);
            let block = Zeroizing::new(self.buf);
            self.process(cipher, &block[..], out.get_mut(..B).ok_or_else(short)?)?;
            self.buf_len = 0;
            input = rest;
            done = B;
        }
        let bulk_len = n_out.checked_sub(done).ok_or_else(short)?;
        let (bulk, tail) = input.split_at_checked(bulk_len).ok_or_else(short)?;
        self.process(cipher, bulk, out.get_mut(done..).ok_or_else(short)?)?;
        let end = self.buf_len + tail.len();
        self.buf
            .get_mut(self.buf_len..end)
            .ok_or_else(short)?
            .copy_from_slice(tail);
        self.buf_len = end;
        Ok(n_out)
    }

    /// Runs whole blocks through the mode; `input.len() == out.len()`.
    fn process(&mut self, cipher: &AesCipher, input: &[u8], out: &mut [u8]) -> Result<()> {
        match (self.kind, self.encrypt) {
            (Kind::Ecb, true) => cipher.encrypt_blocks_b2b(input, out),
            (Kind::Ecb, false) => cipher.decrypt_blocks_b2b(input, out),
            (_, true) => {
                // CBC encryption is inherently serial.
                for (i, o) in input.chunks_exact(B).zip(out.chunks_exact_mut(B)) {
                    xor_in_place(&mut self.chain, i);
                    cipher.encrypt_block(&mut self.chain);
                    o.copy_from_slice(&self.chain);
                }
                Ok(())
            }
            (_, false) => {
                // CBC decryption parallelises: decrypt every block, then XOR
                // each with the previous ciphertext block.
                cipher.decrypt_blocks_b2b(input, out)?;
                let first = [self.chain];
                let prevs = first.iter().map(|c| &c[..]).chain(input.chunks_exact(B));
                for (o, prev) in out.chunks_exact_mut(B).zip(prevs) {
                    xor_in_place(o, prev);
                }
                if let Some(last) = input.chunks_exact(B).next_back() {
                    self.chain.copy_from_slice(last);
                }
                Ok(())
            }
        }
    }

    fn ctr_update(&mut self, cipher: &AesCipher, input: &[u8], out: &mut [u8]) -> Result<usize> {
        let n = input.len();
        let out = out
            .get_mut(..n)
            .ok_or(Error::Rv(sys::CKR_BUFFER_TOO_SMALL))?;
        let short = || invariant("ctr stream arithmetic");
        // ks_pos is at most B: it is only ever set to B or to a tail length < B.
        let from_ks = n.min(B.saturating_sub(self.ks_pos));
        let rest = n - from_ks;
        let need = u128::try_from(rest.div_ceil(B)).map_err(|_| short())?;
        if self.blocks_left.is_some_and(|left| need > left) {
            return Err(self.len_error());
        }
        // 1. Leftover keystream from the previous partial block.
        let (in_a, in_b) = input.split_at_checked(from_ks).ok_or_else(short)?;
        let (out_a, out_b) = out.split_at_mut_checked(from_ks).ok_or_else(short)?;
        let ks = self
            .ks
            .get(self.ks_pos..self.ks_pos + from_ks)
            .ok_or_else(short)?;
        for ((o, i), k) in out_a.iter_mut().zip(in_a).zip(ks) {
            *o = i ^ k;
        }
        self.ks_pos += from_ks;
        // 2. Whole blocks in bulk.
        let full = rest / B * B;
        let (in_full, in_tail) = in_b.split_at_checked(full).ok_or_else(short)?;
        let (out_full, out_tail) = out_b.split_at_mut_checked(full).ok_or_else(short)?;
        cipher.ctr_xor(&mut self.counter, self.mask, in_full, out_full)?;
        // 3. A trailing partial block keeps the rest of its keystream.
        if !in_tail.is_empty() {
            self.ks = self.counter.to_be_bytes();
            cipher.encrypt_block(&mut self.ks);
            self.counter = super::aes_key::next_counter(self.counter, self.mask);
            for ((o, i), k) in out_tail.iter_mut().zip(in_tail).zip(&self.ks) {
                *o = i ^ k;
            }
            self.ks_pos = in_tail.len();
        }
        if let Some(left) = self.blocks_left.as_mut() {
            // need <= left was checked before any output was produced.
            *left -= need;
        }
        Ok(n)
    }

    fn finalize(&mut self, cipher: &AesCipher, out: &mut [u8]) -> Result<usize> {
        self.live()?;
        let n = match (self.kind, self.encrypt) {
            (Kind::Ctr, _) => 0,
            (Kind::Ecb | Kind::Cbc, _) if self.buf_len != 0 => return Err(self.len_error()),
            (Kind::Ecb | Kind::Cbc, _) => 0,
            (Kind::CbcPad, true) => {
                let out = out
                    .get_mut(..B)
                    .ok_or(Error::Rv(sys::CKR_BUFFER_TOO_SMALL))?;
                let pad = (B - self.buf_len) as u8; // 1..=16, fits a byte
                let mut block = Zeroizing::new(self.buf);
                block
                    .get_mut(self.buf_len..)
                    .ok_or_else(|| invariant("pad"))?
                    .fill(pad);
                self.process(cipher, &block[..], out)?;
                B
            }
            (Kind::CbcPad, false) => {
                if self.buf_len != B {
                    return Err(self.len_error());
                }
                let mut block = Zeroizing::new(self.buf);
                cipher.decrypt_block(&mut block);
                xor_in_place(&mut block[..], &self.chain);
                let keep = unpad(&block)?;
                let out = out
                    .get_mut(..keep)
                    .ok_or(Error::Rv(sys::CKR_BUFFER_TOO_SMALL))?;
                out.copy_from_slice(block.get(..keep).ok_or_else(|| invariant("unpad"))?);
                keep
            }
        };
        self.finished = true;
        self.buf.zeroize();
        self.buf_len = 0;
        Ok(n)
    }
}

/// Checks PKCS#7 padding on the final block without branching on its bytes;
/// returns how many bytes of data it carries.
fn unpad(block: &[u8; B]) -> Result<usize> {
    let pad = block[B - 1]; // B - 1 is a valid index of a [u8; B]
    let mut bad = u8::from(pad == 0) | u8::from(usize::from(pad) > B);
    for (i, &x) in block.iter().enumerate() {
        let in_pad = u8::from(i >= B.saturating_sub(usize::from(pad)));
        bad |= in_pad & u8::from(x != pad);
    }
    if bad != 0 {
        return Err(Error::EncryptedDataInvalid);
    }
    Ok(B - usize::from(pad))
}

/// A multi-part ECB/CBC/CBC-PAD/CTR operation. `Send`; plaintext and
/// keystream it buffers are wiped on drop.
pub struct BlockCipherStream {
    key: Arc<AesKey>,
    engine: Engine,
}

impl BlockCipherStream {
    /// Starts an operation. CTR `counter_bits` outside 1..=128 →
    /// `CKR_MECHANISM_PARAM_INVALID`.
    pub fn new(key: Arc<AesKey>, mode: BlockMode, encrypt: bool) -> Result<Self> {
        Ok(BlockCipherStream {
            engine: Engine::new(&mode, encrypt)?,
            key,
        })
    }

    /// Exactly how many bytes the next [`update`](Self::update) with
    /// `in_len` bytes of input will write.
    pub fn update_len(&self, in_len: usize) -> usize {
        self.engine.update_len(in_len)
    }

    /// Processes `input`, writing [`update_len`](Self::update_len) bytes to
    /// the front of `out`. A short `out` → `CKR_BUFFER_TOO_SMALL` with the
    /// stream unchanged. CTR past its counter space → `CKR_DATA_LEN_RANGE`
    /// (encrypt) / `CKR_ENCRYPTED_DATA_LEN_RANGE` (decrypt).
    pub fn update(&mut self, input: &[u8], out: &mut [u8]) -> Result<usize> {
        self.engine.update(self.key.cipher(), input, out)
    }

    /// Bytes [`finalize`](Self::finalize) will write: exact when encrypting,
    /// an upper bound (15) for CBC-PAD decryption.
    pub fn final_len(&self) -> usize {
        self.engine.final_len()
    }

    /// Ends the operation, writing any last block. A short `out` →
    /// `CKR_BUFFER_TOO_SMALL` with the stream unchanged; after success every
    /// call → `CKR_OPERATION_NOT_INITIALIZED`.
    pub fn finalize(&mut self, out: &mut [u8]) -> Result<usize> {
        self.engine.finalize(self.key.cipher(), out)
    }
}

impl std::fmt::Debug for BlockCipherStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockCipherStream")
            .field("encrypt", &self.engine.encrypt)
            .field("buffered", &self.engine.buf_len)
            .finish_non_exhaustive()
    }
}

/// Output size for a one-shot operation on `in_len` bytes: exact except for
/// CBC-PAD decryption, where it is an upper bound (`in_len - 1`).
pub fn one_shot_len(mode: &BlockMode, encrypt: bool, in_len: usize) -> usize {
    match (mode, encrypt) {
        (BlockMode::CbcPad { .. }, true) => (in_len / B + 1).saturating_mul(B),
        (BlockMode::CbcPad { .. }, false) => in_len.saturating_sub(1),
        _ => in_len,
    }
}

/// Encrypts or decrypts `input` in one call into the front of `out`,
/// returning the bytes written. Length errors are reported before anything
/// is written; a short `out` → `CKR_BUFFER_TOO_SMALL`; on any failure after
/// decryption started the written bytes are zeroed.
pub fn one_shot(
    key: &AesKey,
    mode: BlockMode,
    encrypt: bool,
    input: &[u8],
    out: &mut [u8],
) -> Result<usize> {
    let mut engine = Engine::new(&mode, encrypt)?;
    let whole_blocks = input.len().is_multiple_of(B);
    match engine.kind {
        Kind::Ctr => {}
        Kind::CbcPad if encrypt => {}
        Kind::CbcPad if input.is_empty() => return Err(engine.len_error()),
        _ if !whole_blocks => return Err(engine.len_error()),
        _ => {}
    }
    if encrypt && out.len() < one_shot_len(&mode, true, input.len()) {
        return rv(sys::CKR_BUFFER_TOO_SMALL);
    }
    let cipher = key.cipher();
    let n = engine.update(cipher, input, out)?;
    // `update` wrote `n` bytes into `out`, so `n <= out.len()`.
    let (written, rest) = out.split_at_mut(n);
    match engine.finalize(cipher, rest) {
        Ok(m) => Ok(n + m),
        Err(e) => {
            written.zeroize();
            Err(e)
        }
    }
}

/// [`one_shot`] into a new buffer that is zeroized on drop.
pub fn one_shot_vec(
    key: &AesKey,
    mode: BlockMode,
    encrypt: bool,
    input: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    let mut out = Zeroizing::new(vec![0u8; one_shot_len(&mode, encrypt, input.len())]);
    let n = one_shot(key, mode, encrypt, input, &mut out)?;
    out.truncate(n);
    Ok(out)
}

#[cfg(test)]
mod tests;
