//! The PKCS#11 3.0 message API for AES-GCM (`C_EncryptMessage` and friends),
//! including module-generated IVs written back to the caller.
//!
//! IV construction follows NIST SP 800-38D: the caller's leading
//! `ulIvFixedBits` are kept (a fixed field), the rest is a counter or random.

use std::sync::atomic::{AtomicU64, Ordering};

use cryptoki_sys as sys;
use once_cell::sync::Lazy;
use zeroize::Zeroizing;

use super::envelope;
use super::primitives::rng;
use super::ring::KeyRef;
use crate::error::{rv, Error, Result};

/// Process-wide invocation counter for `CKG_GENERATE_COUNTER`, started at a
/// random point so two processes sharing a fixed field rarely meet.
static COUNTER: Lazy<AtomicU64> = Lazy::new(|| {
    let start = rng::random_array::<8>()
        .map(u64::from_be_bytes)
        .unwrap_or(0);
    AtomicU64::new(start >> 16)
});

/// Fewest random bits we accept for `CKG_GENERATE_RANDOM`.
const MIN_RANDOM_BITS: usize = 64;

/// Per-message parameters (`CK_GCM_MESSAGE_PARAMS`) as safe slices.
pub struct MessageParams<'a> {
    /// The IV buffer: input, or output when the module generates it.
    pub iv: &'a mut [u8],
    /// Leading bits of `iv` the module must keep.
    pub fixed_bits: usize,
    /// `CKG_*` generator.
    pub generator: sys::CK_GENERATOR_FUNCTION,
    /// The tag buffer: output on encrypt, input on decrypt.
    pub tag: &'a mut [u8],
}

struct InProgress {
    iv: Vec<u8>,
    aad: Vec<u8>,
    buf: Zeroizing<Vec<u8>>,
}

/// An active `C_MessageEncryptInit`/`C_MessageDecryptInit` context.
pub struct MessageOp {
    key: KeyRef,
    encrypt: bool,
    in_progress: Option<InProgress>,
    /// The key version of the last completed message (rotating keys).
    pub last_version: Option<u32>,
    /// The object the context was opened on, to follow its rotations.
    pub key_handle: cryptoki_sys::CK_OBJECT_HANDLE,
    /// The object-table epoch the key was resolved at.
    pub key_epoch: u64,
}

impl MessageOp {
    /// Starts a message context for `key`.
    pub fn new(key: KeyRef, encrypt: bool) -> Result<MessageOp> {
        Ok(MessageOp {
            key,
            encrypt,
            in_progress: None,
            last_version: None,
            key_handle: 0,
            key_epoch: 0,
        })
    }

    /// Swaps in a freshly resolved key (after a rotation or state change);
    /// a message in progress keeps the key it started with.
    pub fn set_key(&mut self, key: KeyRef, epoch: u64) {
        if self.in_progress.is_none() {
            self.key = key;
            self.key_epoch = epoch;
        }
    }

    /// The version new messages are encrypted under (rotating keys).
    pub fn encrypting_version(&self) -> Option<u32> {
        match &self.key {
            KeyRef::Ring(r) if self.encrypt => Some(r.active),
            _ => None,
        }
    }

    /// True while a `Begin`/`Next` message is unfinished.
    pub fn busy(&self) -> bool {
        self.in_progress.is_some()
    }

    fn check_tag(tag: &[u8]) -> Result<usize> {
        if (12..=16).contains(&tag.len()) {
            Ok(tag.len())
        } else {
            rv(sys::CKR_MECHANISM_PARAM_INVALID)
        }
    }

    /// Fills the generated part of the IV, as the generator says. For a
    /// rotating key the module writes its own IV (`forced`): version in the
    /// fixed field, a store-reserved counter after it.
    fn prepare_iv(
        &self,
        p: &mut MessageParams,
        forced: Option<[u8; envelope::IV_LEN]>,
    ) -> Result<()> {
        if let Some(iv) = forced {
            if self.encrypt && p.generator != sys::CKG_NO_GENERATE {
                if p.iv.len() != envelope::IV_LEN {
                    return rv(sys::CKR_MECHANISM_PARAM_INVALID);
                }
                p.iv.copy_from_slice(&iv);
                return Ok(());
            }
        }
        if !self.encrypt || p.generator == sys::CKG_NO_GENERATE {
            return if p.iv.is_empty() {
                rv(sys::CKR_MECHANISM_PARAM_INVALID)
            } else {
                Ok(())
            };
        }
        let total = p.iv.len() * 8;
        if p.fixed_bits >= total || p.iv.is_empty() {
            return rv(sys::CKR_MECHANISM_PARAM_INVALID);
        }
        let free = total - p.fixed_bits;
        match p.generator {
            sys::CKG_GENERATE | sys::CKG_GENERATE_RANDOM => {
                if free < MIN_RANDOM_BITS {
                    return rv(sys::CKR_MECHANISM_PARAM_INVALID);
                }
                let mut fresh = Zeroizing::new(vec![0u8; p.iv.len()]);
                rng::fill(&mut fresh)?;
                merge_free_bits(p.iv, &fresh, p.fixed_bits, false);
            }
            sys::CKG_GENERATE_COUNTER | sys::CKG_GENERATE_COUNTER_XOR => {
                let n = COUNTER.fetch_add(1, Ordering::Relaxed);
                if free < 64 && n >> free != 0 {
                    return rv(sys::CKR_DATA_LEN_RANGE);
                }
                let mut block = vec![0u8; p.iv.len()];
                let be = n.to_be_bytes();
                let take = be.len().min(block.len());
                let start = block.len() - take;
                block[start..].copy_from_slice(&be[be.len() - take..]);
                merge_free_bits(
                    p.iv,
                    &block,
                    p.fixed_bits,
                    p.generator == sys::CKG_GENERATE_COUNTER_XOR,
                );
            }
            _ => return rv(sys::CKR_MECHANISM_PARAM_INVALID),
        }
        Ok(())
    }

    /// `C_EncryptMessage`/`C_DecryptMessage`: `out` holds `input.len()` bytes.
    pub fn one_message(
        &mut self,
        p: &mut MessageParams,
        aad: &[u8],
        input: &[u8],
        out: &mut [u8],
        forced: Option<[u8; envelope::IV_LEN]>,
    ) -> Result<usize> {
        if self.in_progress.is_some() {
            return rv(sys::CKR_OPERATION_ACTIVE);
        }
        let tag_len = Self::check_tag(p.tag)?;
        self.prepare_iv(p, forced)?;
        self.run(p.iv, aad, input, tag_len, p.tag, out)
    }

    fn run(
        &mut self,
        iv: &[u8],
        aad: &[u8],
        input: &[u8],
        tag_len: usize,
        tag: &mut [u8],
        out: &mut [u8],
    ) -> Result<usize> {
        let n = input.len();
        if self.encrypt {
            let (version, key) = self.key.encrypting()?;
            let tag_out = tag
                .get_mut(..tag_len)
                .map_or_else(|| rv(sys::CKR_MECHANISM_PARAM_INVALID), Ok)?;
            key.gcm_encrypt_detached(iv, aad, input, out, tag_out)?;
            self.last_version = version;
            return Ok(n);
        }
        let tag_in = tag
            .get(..tag_len)
            .map_or_else(|| rv(sys::CKR_MECHANISM_PARAM_INVALID), Ok)?;
        // A module-made IV names its version in its first four bytes: try
        // that version first. A caller-chosen IV may start with any bytes,
        // so the other decryptable versions follow, newest first.
        let mut refusal = None;
        let candidates = match &self.key {
            KeyRef::Plain(m) => vec![(None, m.clone())],
            KeyRef::Ring(r) => {
                let named =
                    envelope::iv_version(iv).filter(|v| r.versions.iter().any(|x| x.version == *v));
                let mut c = Vec::new();
                if let Some(v) = named {
                    match r.for_decrypt(v, false) {
                        Ok(m) => c.push((Some(v), m.clone())),
                        Err(e) => refusal = Some(e),
                    }
                }
                c.extend(
                    r.decrypt_candidates()
                        .into_iter()
                        .filter(|(v, _)| Some(*v) != named)
                        .map(|(v, m)| (Some(v), m)),
                );
                c
            }
        };
        for (version, key) in candidates {
            match key.gcm_decrypt_detached(iv, aad, input, tag_in, out) {
                Ok(got) => {
                    self.last_version = version;
                    return Ok(got);
                }
                Err(Error::EncryptedDataInvalid) => continue,
                Err(e) => return Err(e),
            }
        }
        // Nothing opened it: a refused named version explains why best.
        Err(refusal.unwrap_or(Error::EncryptedDataInvalid))
    }

    /// `C_EncryptMessageBegin`/`C_DecryptMessageBegin`.
    pub fn begin(
        &mut self,
        p: &mut MessageParams,
        aad: &[u8],
        forced: Option<[u8; envelope::IV_LEN]>,
    ) -> Result<()> {
        if self.in_progress.is_some() {
            return rv(sys::CKR_OPERATION_ACTIVE);
        }
        Self::check_tag(p.tag)?;
        self.prepare_iv(p, forced)?;
        self.in_progress = Some(InProgress {
            iv: p.iv.to_vec(),
            aad: aad.to_vec(),
            buf: Zeroizing::new(Vec::new()),
        });
        Ok(())
    }

    /// Bytes `next` writes for `n` more input bytes (all of it at the end).
    pub fn next_len(&self, n: usize, end: bool) -> Result<usize> {
        match &self.in_progress {
            None => rv(sys::CKR_OPERATION_NOT_INITIALIZED),
            Some(m) => Ok(if end { m.buf.len() + n } else { 0 }),
        }
    }

    /// `C_EncryptMessageNext`/`C_DecryptMessageNext`. Output is released
    /// only with the last part, after the tag is computed or verified.
    pub fn next(
        &mut self,
        p: &mut MessageParams,
        part: &[u8],
        out: &mut [u8],
        end: bool,
    ) -> Result<usize> {
        let Some(m) = self.in_progress.as_mut() else {
            return rv(sys::CKR_OPERATION_NOT_INITIALIZED);
        };
        m.buf.extend_from_slice(part);
        if !end {
            return Ok(0);
        }
        let Some(m) = self.in_progress.take() else {
            return rv(sys::CKR_OPERATION_NOT_INITIALIZED);
        };
        let tag_len = Self::check_tag(p.tag)?;
        self.run(&m.iv, &m.aad, &m.buf, tag_len, p.tag, out)
    }

    /// Abandons an unfinished message (on error or final).
    pub fn abort_message(&mut self) {
        self.in_progress = None;
    }
}

/// Copies the bits after `fixed_bits` from `src` into `iv` (or XORs them).
fn merge_free_bits(iv: &mut [u8], src: &[u8], fixed_bits: usize, xor: bool) {
    for (i, (d, s)) in iv.iter_mut().zip(src).enumerate() {
        let bit0 = i * 8;
        let keep_mask: u8 = if bit0 + 8 <= fixed_bits {
            0xff
        } else if bit0 >= fixed_bits {
            0
        } else {
            !(0xffu8 >> (fixed_bits - bit0))
        };
        let fresh = if xor { *d ^ *s } else { *s };
        *d = (*d & keep_mask) | (fresh & !keep_mask);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_bits_survive_generation() {
        let mut iv = [0xAAu8; 12];
        merge_free_bits(&mut iv, &[0x55; 12], 20, false);
        assert_eq!(&iv[..2], &[0xAA, 0xAA]);
        assert_eq!(iv[2], 0xA5);
        assert!(iv[3..].iter().all(|b| *b == 0x55));
    }

    #[test]
    fn xor_generation_mixes_free_bits_only() {
        let mut iv = [0x0Fu8; 4];
        merge_free_bits(&mut iv, &[0xFF; 4], 8, true);
        assert_eq!(iv, [0x0F, 0xF0, 0xF0, 0xF0]);
    }
}
