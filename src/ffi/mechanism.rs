//! Parsing of `CK_MECHANISM` and its parameters into [`Mechanism`].
//!
//! Wrong parameter sizes or NULL parameters are `CKR_MECHANISM_PARAM_INVALID`;
//! a mechanism the slot does not offer for the purpose is
//! `CKR_MECHANISM_INVALID`.

use cryptoki_sys as sys;
use sys::{CK_FLAGS, CK_MECHANISM, CK_ULONG};

use super::ptr;
use crate::error::{rv, Result};
use crate::mech::primitives::digest::DigestAlg;
use crate::mech::{registry, GcmParams, Mechanism};

const PARAM: sys::CK_RV = sys::CKR_MECHANISM_PARAM_INVALID;

/// `CK_GCM_PARAMS` as PKCS#11 2.40 errata and 3.0 define it (with `ulIvBits`).
#[repr(C)]
struct GcmWithBits {
    iv: *const u8,
    iv_len: CK_ULONG,
    _iv_bits: CK_ULONG,
    aad: *const u8,
    aad_len: CK_ULONG,
    tag_bits: CK_ULONG,
}

/// `CK_GCM_PARAMS` as the original 2.40 header had it (no `ulIvBits`).
#[repr(C)]
struct GcmWithoutBits {
    iv: *const u8,
    iv_len: CK_ULONG,
    aad: *const u8,
    aad_len: CK_ULONG,
    tag_bits: CK_ULONG,
}

/// Reads the parameter block as `T` when its size matches exactly.
unsafe fn param<'a, T>(m: &CK_MECHANISM) -> Result<&'a T> {
    if m.pParameter.is_null() || m.ulParameterLen as usize != std::mem::size_of::<T>() {
        return rv(PARAM);
    }
    unsafe { ptr::input(m.pParameter as *const T) }.map_err(|_| PARAM.into())
}

fn no_param(m: &CK_MECHANISM) -> Result<()> {
    // A parameter-less mechanism with any declared length (NULL pointer or
    // not) carries a parameter of the wrong size.
    if m.ulParameterLen != 0 {
        return rv(PARAM);
    }
    Ok(())
}

unsafe fn param_bytes<'a>(m: &CK_MECHANISM) -> Result<&'a [u8]> {
    if m.pParameter.is_null() {
        return if m.ulParameterLen == 0 {
            Ok(&[])
        } else {
            rv(PARAM)
        };
    }
    unsafe { ptr::bytes(m.pParameter as *const u8, m.ulParameterLen) }.map_err(|_| PARAM.into())
}

unsafe fn iv16(m: &CK_MECHANISM) -> Result<[u8; 16]> {
    let b = unsafe { param_bytes(m) }?;
    b.try_into().map_err(|_| PARAM.into())
}

unsafe fn gcm(m: &CK_MECHANISM) -> Result<GcmParams> {
    let (iv, iv_len, aad, aad_len, tag_bits) = match m.ulParameterLen as usize {
        n if n == std::mem::size_of::<GcmWithBits>() => {
            let p = unsafe { param::<GcmWithBits>(m) }?;
            (p.iv, p.iv_len, p.aad, p.aad_len, p.tag_bits)
        }
        n if n == std::mem::size_of::<GcmWithoutBits>() => {
            let p = unsafe { param::<GcmWithoutBits>(m) }?;
            (p.iv, p.iv_len, p.aad, p.aad_len, p.tag_bits)
        }
        _ => return rv(PARAM),
    };
    if iv.is_null() || iv_len == 0 || !(96..=128).contains(&tag_bits) || tag_bits % 8 != 0 {
        return rv(PARAM);
    }
    let iv = unsafe { ptr::bytes(iv, iv_len) }.map_err(|_| crate::error::Error::Rv(PARAM))?;
    let aad = unsafe { ptr::bytes(aad, aad_len) }.map_err(|_| crate::error::Error::Rv(PARAM))?;
    Ok(GcmParams {
        iv: iv.to_vec(),
        aad: aad.to_vec(),
        tag_len: tag_bits as usize / 8,
    })
}

unsafe fn key_wrap_iv(m: &CK_MECHANISM, default: &[u8]) -> Result<()> {
    let b = unsafe { param_bytes(m) }?;
    if b.is_empty() || b == default {
        Ok(())
    } else {
        rv(PARAM)
    }
}

/// What the mechanism is being used for (checked against the registry).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Single/multi-part encryption or decryption.
    Cipher,
    /// The 3.0 message API.
    Message,
    /// Sign or verify.
    Mac,
    /// Digest.
    Digest,
    /// Key generation.
    Generate,
    /// Wrap or unwrap.
    Wrap,
}

fn flags_for(p: Purpose) -> CK_FLAGS {
    match p {
        Purpose::Cipher => sys::CKF_ENCRYPT,
        Purpose::Message => sys::CKF_MESSAGE_ENCRYPT,
        Purpose::Mac => sys::CKF_SIGN,
        Purpose::Digest => sys::CKF_DIGEST,
        Purpose::Generate => sys::CKF_GENERATE,
        Purpose::Wrap => sys::CKF_WRAP,
    }
}

/// Parses `pMechanism`. NULL gives `None` (an Init cancel in PKCS#11 3.0).
///
/// # Safety
/// `p`, when non-NULL, must point to a readable `CK_MECHANISM` whose
/// parameter block is readable for `ulParameterLen` bytes.
pub unsafe fn parse(p: *const CK_MECHANISM, purpose: Purpose) -> Result<Option<Mechanism>> {
    if p.is_null() {
        return Ok(None);
    }
    let m = unsafe { ptr::input(p) }?;
    if !registry::supports(m.mechanism, flags_for(purpose)) {
        return rv(sys::CKR_MECHANISM_INVALID);
    }
    let mech = match (m.mechanism, purpose) {
        (sys::CKM_AES_GCM, Purpose::Message) => Mechanism::AesGcmMessage,
        (sys::CKM_AES_GCM, _) => Mechanism::AesGcm(unsafe { gcm(m) }?),
        (sys::CKM_AES_ECB, _) => no_param(m).map(|_| Mechanism::AesEcb)?,
        (sys::CKM_AES_CBC, _) => Mechanism::AesCbc(unsafe { iv16(m) }?),
        (sys::CKM_AES_CBC_PAD, _) => Mechanism::AesCbcPad(unsafe { iv16(m) }?),
        (sys::CKM_AES_CTR, _) => {
            let p = unsafe { param::<sys::CK_AES_CTR_PARAMS>(m) }?;
            if p.ulCounterBits == 0 || p.ulCounterBits > 128 {
                return rv(PARAM);
            }
            Mechanism::AesCtr {
                block: p.cb,
                bits: p.ulCounterBits as u32,
            }
        }
        (sys::CKM_AES_CMAC, _) => no_param(m).map(|_| Mechanism::AesCmac)?,
        (sys::CKM_SHA256_HMAC, _) => no_param(m).map(|_| Mechanism::Hmac(DigestAlg::Sha256))?,
        (sys::CKM_SHA384_HMAC, _) => no_param(m).map(|_| Mechanism::Hmac(DigestAlg::Sha384))?,
        (sys::CKM_SHA512_HMAC, _) => no_param(m).map(|_| Mechanism::Hmac(DigestAlg::Sha512))?,
        (sys::CKM_SHA256, _) => no_param(m).map(|_| Mechanism::Digest(DigestAlg::Sha256))?,
        (sys::CKM_SHA384, _) => no_param(m).map(|_| Mechanism::Digest(DigestAlg::Sha384))?,
        (sys::CKM_SHA512, _) => no_param(m).map(|_| Mechanism::Digest(DigestAlg::Sha512))?,
        (sys::CKM_AES_KEY_WRAP, _) => {
            unsafe { key_wrap_iv(m, &[0xA6; 8]) }?;
            Mechanism::AesKeyWrap
        }
        (sys::CKM_AES_KEY_WRAP_PAD, _) => {
            unsafe { key_wrap_iv(m, &[0xA6, 0x59, 0x59, 0xA6]) }?;
            Mechanism::AesKeyWrapPad
        }
        (sys::CKM_AES_KEY_WRAP_KWP, _) => {
            unsafe { key_wrap_iv(m, &[0xA6, 0x59, 0x59, 0xA6]) }?;
            Mechanism::AesKeyWrapKwp
        }
        (crate::keys::attrs::CKM_KEYROTOR_AES_GCM_ENVELOPE, Purpose::Cipher) => {
            Mechanism::Envelope {
                aad: unsafe { param_bytes(m) }?.to_vec(),
            }
        }
        (crate::keys::attrs::CKM_KEYROTOR_AES_GCM_REWRAP, Purpose::Cipher) => Mechanism::Rewrap {
            aad: unsafe { param_bytes(m) }?.to_vec(),
        },
        (sys::CKM_AES_KEY_GEN, _) => no_param(m).map(|_| Mechanism::AesKeyGen)?,
        (sys::CKM_GENERIC_SECRET_KEY_GEN, _) => {
            no_param(m).map(|_| Mechanism::GenericSecretKeyGen)?
        }
        _ => return rv(sys::CKR_MECHANISM_INVALID),
    };
    Ok(Some(mech))
}

/// Parses a mechanism that must be present (key generation, wrapping).
///
/// # Safety
/// As for [`parse`].
pub unsafe fn required(p: *const CK_MECHANISM, purpose: Purpose) -> Result<Mechanism> {
    unsafe { parse(p, purpose) }?.map_or_else(|| rv(sys::CKR_ARGUMENTS_BAD), Ok)
}
