//! `CK_GCM_MESSAGE_PARAMS` for the 3.0 message API, owning the IV and tag
//! buffers they point at. A non-NULL `pTag` always has room for
//! `ceil(ulTagBits / 8)` bytes and a non-NULL `pIv` for `ulIvLen` bytes.

use std::ffi::c_void;
use std::ptr;

use cryptoki_sys as sys;
use keyrotor::ffi::message;
use sys::{CK_GCM_MESSAGE_PARAMS, CK_RV, CK_SESSION_HANDLE, CK_ULONG};

use super::input::Input;
use super::ops::{two_call, Ask};

/// Message parameters and the buffers behind them.
pub struct MsgParams {
    p: Box<CK_GCM_MESSAGE_PARAMS>,
    iv: Vec<u8>,
    tag: Vec<u8>,
}

impl MsgParams {
    /// Well-formed parameters: this IV, no generator, a `tag_len`-byte tag.
    pub fn valid(iv: &[u8], tag_len: usize) -> MsgParams {
        MsgParams::build(
            Some(iv.to_vec()),
            iv.len() as CK_ULONG,
            0,
            sys::CKG_NO_GENERATE,
            Some(vec![0; tag_len]),
            8 * tag_len as CK_ULONG,
        )
    }

    fn build(
        iv: Option<Vec<u8>>,
        iv_len: CK_ULONG,
        fixed_bits: CK_ULONG,
        generator: sys::CK_GENERATOR_FUNCTION,
        tag: Option<Vec<u8>>,
        tag_bits: CK_ULONG,
    ) -> MsgParams {
        let (mut iv, iv_null) = (iv.clone().unwrap_or_default(), iv.is_none());
        let (mut tag, tag_null) = (tag.clone().unwrap_or_default(), tag.is_none());
        let p = Box::new(CK_GCM_MESSAGE_PARAMS {
            pIv: if iv_null {
                ptr::null_mut()
            } else {
                iv.as_mut_ptr()
            },
            ulIvLen: iv_len,
            ulIvFixedBits: fixed_bits,
            ivGenerator: generator,
            pTag: if tag_null {
                ptr::null_mut()
            } else {
                tag.as_mut_ptr()
            },
            ulTagBits: tag_bits,
        });
        MsgParams { p, iv, tag }
    }

    /// Fuzzed parameters.
    pub fn decode(i: &mut Input) -> MsgParams {
        let (iv, iv_len) = if i.u8() < 0x10 {
            (None, CK_ULONG::from(i.u16()))
        } else {
            let v = i.blob(32).to_vec();
            let n = v.len() as CK_ULONG;
            (Some(v), n)
        };
        let fixed_bits = match i.u8() % 3 {
            0 => 0,
            1 => CK_ULONG::from(i.u8()),
            _ => i.u64(),
        };
        let generator = match i.u8() % 6 {
            g @ 0..=4 => g as CK_ULONG,
            _ => i.u64(),
        };
        let (tag, tag_bits) = match i.u8() % 4 {
            0 => (Some(vec![0; 16]), 128),
            1 => {
                let n = 12 + i.upto(4);
                (Some(i.bytes(n).to_vec()), 8 * n as CK_ULONG)
            }
            2 => {
                let bits = CK_ULONG::from(i.u16() % 513);
                let bytes = (bits as usize).div_ceil(8);
                (Some(vec![0; bytes]), bits)
            }
            _ => (None, i.u64()),
        };
        let mut m = MsgParams::build(iv, iv_len, fixed_bits, generator, tag, tag_bits);
        // A tag given as input bytes must be exactly as long as it claims.
        let want = (m.p.ulTagBits as usize).div_ceil(8);
        if !m.p.pTag.is_null() && m.tag.len() < want {
            m.tag.resize(want, 0);
            m.p.pTag = m.tag.as_mut_ptr();
        }
        m
    }

    /// The tag bytes (as written by an encryption, or set by the caller).
    pub fn tag(&self) -> &[u8] {
        &self.tag
    }

    /// Mutable tag bytes.
    pub fn tag_mut(&mut self) -> &mut [u8] {
        &mut self.tag
    }

    /// Mutable IV bytes.
    pub fn iv_mut(&mut self) -> &mut [u8] {
        &mut self.iv
    }

    fn raw(&mut self) -> (*mut c_void, CK_ULONG) {
        (
            &mut *self.p as *mut CK_GCM_MESSAGE_PARAMS as *mut c_void,
            std::mem::size_of::<CK_GCM_MESSAGE_PARAMS>() as CK_ULONG,
        )
    }
}

/// `C_EncryptMessage` (after `C_MessageEncryptInit`).
pub fn encrypt_message(
    h: CK_SESSION_HANDLE,
    prm: &mut MsgParams,
    aad: &[u8],
    pt: &[u8],
    ask: Ask,
) -> (CK_RV, Vec<u8>) {
    let (p, plen) = prm.raw();
    let mut aad = aad.to_vec();
    let mut pt = pt.to_vec();
    two_call("C_EncryptMessage", ask, |o, l| {
        // SAFETY: parameters, AAD and input are owned and hold their lengths.
        unsafe {
            message::C_EncryptMessage(
                h,
                p,
                plen,
                aad.as_mut_ptr(),
                aad.len() as CK_ULONG,
                pt.as_mut_ptr(),
                pt.len() as CK_ULONG,
                o,
                l,
            )
        }
    })
}

/// `C_DecryptMessage` (after `C_MessageDecryptInit`).
pub fn decrypt_message(
    h: CK_SESSION_HANDLE,
    prm: &mut MsgParams,
    aad: &[u8],
    ct: &[u8],
    ask: Ask,
) -> (CK_RV, Vec<u8>) {
    let (p, plen) = prm.raw();
    let mut aad = aad.to_vec();
    let mut ct = ct.to_vec();
    two_call("C_DecryptMessage", ask, |o, l| {
        // SAFETY: as in `encrypt_message`.
        unsafe {
            message::C_DecryptMessage(
                h,
                p,
                plen,
                aad.as_mut_ptr(),
                aad.len() as CK_ULONG,
                ct.as_mut_ptr(),
                ct.len() as CK_ULONG,
                o,
                l,
            )
        }
    })
}
