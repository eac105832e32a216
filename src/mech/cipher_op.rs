//! Encrypt/decrypt operations for `C_Encrypt*`/`C_Decrypt*`.
//!
//! GCM is buffered until the end so that multi-part decryption releases no
//! plaintext before the tag verifies; the block modes stream.

use std::sync::Arc;

use cryptoki_sys as sys;
use zeroize::Zeroizing;

use super::key::KeyMaterial;
use super::primitives::block_modes::{BlockCipherStream, BlockMode};
use super::primitives::gcm;
use super::{GcmParams, Mechanism};
use crate::error::{rv, Result};

/// Largest message a buffered (GCM) operation accepts.
const MAX_BUFFERED: usize = 1 << 31;

enum Kind {
    Gcm {
        key: Arc<KeyMaterial>,
        params: GcmParams,
        buf: Zeroizing<Vec<u8>>,
    },
    Block {
        stream: BlockCipherStream,
        mode: ModeKind,
    },
}

#[derive(Clone, Copy, PartialEq)]
enum ModeKind {
    Unpadded,
    Padded,
    Stream,
}

/// One active encryption or decryption.
pub struct CipherOp {
    kind: Kind,
    encrypt: bool,
    /// Set once `Update` ran; single-part calls are then refused.
    pub multi: bool,
}

impl CipherOp {
    /// Starts an operation of `mech` with `key`.
    pub fn new(mech: &Mechanism, key: Arc<KeyMaterial>, encrypt: bool) -> Result<CipherOp> {
        let block = |mode: BlockMode, kind: ModeKind| -> Result<Kind> {
            Ok(Kind::Block {
                stream: BlockCipherStream::new(key.aes()?.clone(), mode, encrypt)?,
                mode: kind,
            })
        };
        let kind = match mech {
            Mechanism::AesGcm(p) => {
                key.aes()?;
                Kind::Gcm {
                    key: key.clone(),
                    params: p.clone(),
                    buf: Zeroizing::new(Vec::new()),
                }
            }
            Mechanism::AesEcb => block(BlockMode::Ecb, ModeKind::Unpadded)?,
            Mechanism::AesCbc(iv) => block(BlockMode::Cbc { iv: *iv }, ModeKind::Unpadded)?,
            Mechanism::AesCbcPad(iv) => block(BlockMode::CbcPad { iv: *iv }, ModeKind::Padded)?,
            Mechanism::AesCtr { block: b, bits } => block(
                BlockMode::Ctr {
                    counter_block: *b,
                    counter_bits: *bits,
                },
                ModeKind::Stream,
            )?,
            _ => return rv(sys::CKR_MECHANISM_INVALID),
        };
        Ok(CipherOp {
            kind,
            encrypt,
            multi: false,
        })
    }

    fn len_error(&self) -> sys::CK_RV {
        if self.encrypt {
            sys::CKR_DATA_LEN_RANGE
        } else {
            sys::CKR_ENCRYPTED_DATA_LEN_RANGE
        }
    }

    /// Output size of a single-part call on `n` input bytes: exact, except an
    /// upper bound for padded decryption (see [`CipherOp::exact`]).
    pub fn one_shot_len(&self, n: usize) -> Result<usize> {
        match &self.kind {
            Kind::Gcm { params, .. } => {
                if self.encrypt {
                    if n > MAX_BUFFERED {
                        return rv(sys::CKR_DATA_LEN_RANGE);
                    }
                    Ok(n + params.tag_len)
                } else {
                    n.checked_sub(params.tag_len)
                        .map_or_else(|| rv(sys::CKR_ENCRYPTED_DATA_LEN_RANGE), Ok)
                }
            }
            Kind::Block { mode, .. } => match (mode, self.encrypt) {
                (ModeKind::Stream, _) => Ok(n),
                (ModeKind::Unpadded, _) | (ModeKind::Padded, false) if !n.is_multiple_of(16) => {
                    rv(self.len_error())
                }
                (ModeKind::Padded, false) if n == 0 => rv(self.len_error()),
                (ModeKind::Padded, true) => Ok((n / 16 + 1) * 16),
                _ => Ok(n),
            },
        }
    }

    /// False when lengths are only upper bounds until computed (padded decrypt).
    pub fn exact(&self) -> bool {
        !matches!(
            self.kind,
            Kind::Block {
                mode: ModeKind::Padded,
                ..
            }
        ) || self.encrypt
    }

    /// Single-part encryption or decryption into `out` (at least `one_shot_len`).
    pub fn one_shot(&mut self, input: &[u8], out: &mut [u8]) -> Result<usize> {
        match &mut self.kind {
            Kind::Gcm { key, params, .. } => {
                let k = key.aes()?;
                if self.encrypt {
                    gcm::encrypt(k, &params.iv, &params.aad, input, params.tag_len, out)
                } else {
                    gcm::decrypt(k, &params.iv, &params.aad, input, params.tag_len, out)
                }
            }
            Kind::Block { stream, .. } => {
                let n = stream.update(input, out)?;
                let rest = out
                    .get_mut(n..)
                    .map_or_else(|| rv(sys::CKR_GENERAL_ERROR), Ok)?;
                Ok(n + stream.finalize(rest)?)
            }
        }
    }

    /// Exact output of `update` on `n` more bytes.
    pub fn update_len(&self, n: usize) -> Result<usize> {
        match &self.kind {
            Kind::Gcm { buf, .. } => {
                if buf.len().saturating_add(n) > MAX_BUFFERED {
                    return rv(self.len_error());
                }
                Ok(0)
            }
            Kind::Block { stream, .. } => Ok(stream.update_len(n)),
        }
    }

    /// Multi-part step; `out` holds at least `update_len(input.len())`.
    pub fn update(&mut self, input: &[u8], out: &mut [u8]) -> Result<usize> {
        self.multi = true;
        match &mut self.kind {
            Kind::Gcm { buf, .. } => {
                buf.extend_from_slice(input);
                Ok(0)
            }
            Kind::Block { stream, .. } => stream.update(input, out),
        }
    }

    /// Output size of `finalize` (an upper bound for padded decrypt).
    pub fn final_len(&self) -> Result<usize> {
        match &self.kind {
            Kind::Gcm { buf, .. } => self.one_shot_len(buf.len()),
            Kind::Block { stream, .. } => Ok(stream.final_len()),
        }
    }

    /// Ends a multi-part operation.
    pub fn finalize(&mut self, out: &mut [u8]) -> Result<usize> {
        match &mut self.kind {
            Kind::Gcm { key, params, buf } => {
                let k = key.aes()?;
                if self.encrypt {
                    gcm::encrypt(k, &params.iv, &params.aad, buf, params.tag_len, out)
                } else {
                    gcm::decrypt(k, &params.iv, &params.aad, buf, params.tag_len, out)
                }
            }
            Kind::Block { stream, .. } => stream.finalize(out),
        }
    }
}
