//! Encrypt/decrypt operations for `C_Encrypt*`/`C_Decrypt*`.
//!
//! GCM-family operations are buffered until the end so that multi-part
//! decryption releases no plaintext before the tag verifies; the block modes
//! stream. Rotating keys add trial decryption, envelopes and rewrap.

use std::sync::Arc;

use cryptoki_sys as sys;
use zeroize::Zeroizing;

use super::envelope;
use super::key::KeyMaterial;
use super::primitives::block_modes::{BlockCipherStream, BlockMode};
use super::ring::{KeyRef, RingKeys};
use super::{GcmParams, Mechanism};
use crate::error::{rv, Error, Result};

/// Largest message a buffered (GCM) operation accepts.
const MAX_BUFFERED: usize = 1 << 31;

enum Kind {
    Gcm {
        key: Arc<KeyMaterial>,
        params: GcmParams,
    },
    GcmTrial {
        candidates: Vec<(u32, Arc<KeyMaterial>)>,
        params: GcmParams,
    },
    EnvelopeSeal {
        key: Arc<KeyMaterial>,
        version: u32,
        iv: [u8; envelope::IV_LEN],
        aad: Vec<u8>,
    },
    EnvelopeOpen {
        ring: Arc<RingKeys>,
        aad: Vec<u8>,
    },
    Rewrap {
        ring: Arc<RingKeys>,
        iv: [u8; envelope::IV_LEN],
        aad: Vec<u8>,
    },
    Block {
        // Boxed: the stream is 160 bytes, and the operation moves in and out
        // of its session slot on every call (GCM is the hot path, not this).
        stream: Box<BlockCipherStream>,
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
    buf: Zeroizing<Vec<u8>>,
    /// Set once `Update` ran; single-part calls are then refused.
    pub multi: bool,
    /// The key version that did the work (rotating keys), for counting.
    pub used_version: Option<u32>,
}

fn seal_envelope(
    key: &KeyMaterial,
    version: u32,
    iv: &[u8],
    aad: &[u8],
    input: &[u8],
    out: &mut [u8],
) -> Result<usize> {
    let header = envelope::header(version);
    let mut full_aad = Vec::with_capacity(header.len() + aad.len());
    full_aad.extend_from_slice(&header);
    full_aad.extend_from_slice(aad);
    let head = envelope::HEADER_LEN + envelope::IV_LEN;
    let dst = out
        .get_mut(..head + input.len() + envelope::TAG_LEN)
        .map_or_else(|| rv(sys::CKR_BUFFER_TOO_SMALL), Ok)?;
    dst[..envelope::HEADER_LEN].copy_from_slice(&header);
    dst[envelope::HEADER_LEN..head].copy_from_slice(iv);
    let n = key.gcm_encrypt(iv, &full_aad, input, envelope::TAG_LEN, &mut dst[head..])?;
    Ok(head + n)
}

fn open_envelope(
    ring: &RingKeys,
    aad: &[u8],
    input: &[u8],
    out: &mut [u8],
    rewrap: bool,
) -> Result<(u32, usize)> {
    let env = envelope::parse(input)?;
    let key = ring.for_decrypt(env.version, rewrap)?;
    let mut full_aad = Vec::with_capacity(env.header.len() + aad.len());
    full_aad.extend_from_slice(env.header);
    full_aad.extend_from_slice(aad);
    let n = key.gcm_decrypt(env.iv, &full_aad, env.sealed, envelope::TAG_LEN, out)?;
    Ok((env.version, n))
}

impl CipherOp {
    /// Starts an operation of `mech` with `key`. `iv` is the module-made IV
    /// for envelope and rewrap encryption (rotating keys).
    pub fn new(
        mech: &Mechanism,
        key: &KeyRef,
        encrypt: bool,
        iv: Option<[u8; envelope::IV_LEN]>,
    ) -> Result<CipherOp> {
        // Decryption through a ring picks its version later; everything
        // else works with the key itself or the Active version.
        // Borrowed: every clone of an Arc here is an atomic pair on the hot path.
        let enc = key.encrypting();
        let material = || {
            enc.as_ref()
                .map(|(_, m)| Arc::clone(m))
                .map_err(|e| Error::Rv(e.ck_rv()))
        };
        let version = enc.as_ref().ok().and_then(|(v, _)| *v);
        let block = |mode: BlockMode, kind: ModeKind| -> Result<Kind> {
            Ok(Kind::Block {
                stream: Box::new(BlockCipherStream::new(
                    material()?.aes()?.clone(),
                    mode,
                    encrypt,
                )?),
                mode: kind,
            })
        };
        let ring = match key {
            KeyRef::Ring(r) => Some(r),
            KeyRef::Plain(_) => None,
        };
        let need_iv = || iv.map_or_else(|| rv(sys::CKR_GENERAL_ERROR), Ok);
        let kind = match (mech, ring) {
            (Mechanism::AesGcm(p), Some(r)) if !encrypt => Kind::GcmTrial {
                candidates: r.decrypt_candidates(),
                params: p.clone(),
            },
            (Mechanism::AesGcm(p), _) => {
                let key = material()?;
                key.check_aes()?;
                Kind::Gcm {
                    key,
                    params: p.clone(),
                }
            }
            (Mechanism::Envelope { aad }, Some(r)) => match (encrypt, version) {
                (true, Some(v)) => Kind::EnvelopeSeal {
                    key: material()?,
                    version: v,
                    iv: need_iv()?,
                    aad: aad.clone(),
                },
                (false, _) => Kind::EnvelopeOpen {
                    ring: Arc::clone(r),
                    aad: aad.clone(),
                },
                _ => return rv(sys::CKR_KEY_TYPE_INCONSISTENT),
            },
            (Mechanism::Rewrap { aad }, Some(r)) if encrypt => Kind::Rewrap {
                ring: Arc::clone(r),
                iv: need_iv()?,
                aad: aad.clone(),
            },
            (Mechanism::Envelope { .. } | Mechanism::Rewrap { .. }, _) => {
                return rv(sys::CKR_KEY_TYPE_INCONSISTENT)
            }
            (Mechanism::AesEcb, _) => block(BlockMode::Ecb, ModeKind::Unpadded)?,
            (Mechanism::AesCbc(iv), _) => block(BlockMode::Cbc { iv: *iv }, ModeKind::Unpadded)?,
            (Mechanism::AesCbcPad(iv), _) => {
                block(BlockMode::CbcPad { iv: *iv }, ModeKind::Padded)?
            }
            (Mechanism::AesCtr { block: b, bits }, _) => block(
                BlockMode::Ctr {
                    counter_block: *b,
                    counter_bits: *bits,
                },
                ModeKind::Stream,
            )?,
            _ => return rv(sys::CKR_MECHANISM_INVALID),
        };
        let used_version = if encrypt { version } else { None };
        Ok(CipherOp {
            kind,
            encrypt,
            buf: Zeroizing::new(Vec::new()),
            multi: false,
            used_version,
        })
    }

    fn len_error(&self) -> sys::CK_RV {
        if self.encrypt {
            sys::CKR_DATA_LEN_RANGE
        } else {
            sys::CKR_ENCRYPTED_DATA_LEN_RANGE
        }
    }

    fn buffered(&self) -> bool {
        !matches!(self.kind, Kind::Block { .. })
    }

    /// Output size of a single-part call on `n` input bytes: exact, except an
    /// upper bound for padded decryption (see [`CipherOp::exact`]).
    pub fn one_shot_len(&self, n: usize) -> Result<usize> {
        if self.buffered() && n > MAX_BUFFERED {
            return rv(self.len_error());
        }
        let shrink = |by: usize| {
            n.checked_sub(by)
                .map_or_else(|| rv(sys::CKR_ENCRYPTED_DATA_LEN_RANGE), Ok)
        };
        match &self.kind {
            Kind::Gcm { params, .. } if self.encrypt => Ok(n + params.tag_len),
            Kind::Gcm { params, .. } | Kind::GcmTrial { params, .. } => shrink(params.tag_len),
            Kind::EnvelopeSeal { .. } => Ok(n + envelope::OVERHEAD),
            Kind::EnvelopeOpen { .. } => shrink(envelope::OVERHEAD),
            Kind::Rewrap { .. } => shrink(envelope::OVERHEAD).map(|_| n),
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

    fn run_buffered(&mut self, input: &[u8], out: &mut [u8]) -> Result<usize> {
        match &self.kind {
            Kind::Gcm { key, params } => {
                if self.encrypt {
                    key.gcm_encrypt(&params.iv, &params.aad, input, params.tag_len, out)
                } else {
                    key.gcm_decrypt(&params.iv, &params.aad, input, params.tag_len, out)
                }
            }
            Kind::GcmTrial { candidates, params } => {
                for (version, key) in candidates {
                    match key.gcm_decrypt(&params.iv, &params.aad, input, params.tag_len, out) {
                        Ok(n) => {
                            self.used_version = Some(*version);
                            return Ok(n);
                        }
                        Err(Error::EncryptedDataInvalid) => continue,
                        Err(e) => return Err(e),
                    }
                }
                Err(Error::EncryptedDataInvalid)
            }
            Kind::EnvelopeSeal {
                key,
                version,
                iv,
                aad,
            } => seal_envelope(key, *version, iv, aad, input, out),
            Kind::EnvelopeOpen { ring, aad } => {
                let (v, n) = open_envelope(ring, aad, input, out, false)?;
                self.used_version = Some(v);
                Ok(n)
            }
            Kind::Rewrap { ring, iv, aad } => {
                let mut plain = Zeroizing::new(vec![0u8; input.len()]);
                let (_, n) = open_envelope(ring, aad, input, &mut plain, true)?;
                let (active, key) = ring.active()?;
                self.used_version = Some(active);
                seal_envelope(key, active, iv, aad, &plain[..n], out)
            }
            Kind::Block { .. } => rv(sys::CKR_GENERAL_ERROR),
        }
    }

    /// Single-part encryption or decryption into `out` (at least `one_shot_len`).
    pub fn one_shot(&mut self, input: &[u8], out: &mut [u8]) -> Result<usize> {
        match &mut self.kind {
            Kind::Block { stream, .. } => {
                let n = stream.update(input, out)?;
                let rest = out
                    .get_mut(n..)
                    .map_or_else(|| rv(sys::CKR_GENERAL_ERROR), Ok)?;
                Ok(n + stream.finalize(rest)?)
            }
            _ => self.run_buffered(input, out),
        }
    }

    /// Exact output of `update` on `n` more bytes.
    pub fn update_len(&self, n: usize) -> Result<usize> {
        match &self.kind {
            Kind::Block { stream, .. } => Ok(stream.update_len(n)),
            _ if self.buf.len().saturating_add(n) > MAX_BUFFERED => rv(self.len_error()),
            _ => Ok(0),
        }
    }

    /// Multi-part step; `out` holds at least `update_len(input.len())`.
    pub fn update(&mut self, input: &[u8], out: &mut [u8]) -> Result<usize> {
        self.multi = true;
        match &mut self.kind {
            Kind::Block { stream, .. } => stream.update(input, out),
            _ => {
                self.buf.extend_from_slice(input);
                Ok(0)
            }
        }
    }

    /// Output size of `finalize` (an upper bound for padded decrypt).
    pub fn final_len(&self) -> Result<usize> {
        match &self.kind {
            Kind::Block { stream, .. } => Ok(stream.final_len()),
            _ => self.one_shot_len(self.buf.len()),
        }
    }

    /// Ends a multi-part operation.
    pub fn finalize(&mut self, out: &mut [u8]) -> Result<usize> {
        if let Kind::Block { stream, .. } = &mut self.kind {
            return stream.finalize(out);
        }
        let input = std::mem::take(&mut self.buf);
        let r = self.run_buffered(&input, out);
        if r.is_err() {
            self.buf = input;
        }
        r
    }
}
