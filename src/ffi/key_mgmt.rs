//! Key management and random-number functions.

use cryptoki_sys as sys;
use sys::{CK_ATTRIBUTE, CK_MECHANISM, CK_OBJECT_HANDLE, CK_RV, CK_SESSION_HANDLE, CK_ULONG};

use super::entry::call;
use super::mechanism::{required, Purpose};
use super::ptr;
use crate::error::rv;
use crate::mech::primitives::rng;

/// `C_GenerateKey` (`CKM_AES_KEY_GEN`, `CKM_GENERIC_SECRET_KEY_GEN`).
///
/// # Safety
/// Pointers must be NULL or hold their stated lengths.
#[no_mangle]
pub unsafe extern "C" fn C_GenerateKey(
    h: CK_SESSION_HANDLE,
    m: *mut CK_MECHANISM,
    p_template: *mut CK_ATTRIBUTE,
    count: CK_ULONG,
    ph: *mut CK_OBJECT_HANDLE,
) -> CK_RV {
    call("C_GenerateKey", |lib| {
        let mech = unsafe { required(m, Purpose::Generate) }?;
        let t = unsafe { ptr::template(p_template, count) }?;
        let out = unsafe { ptr::out(ph) }?;
        *out = lib.generate_key(h, &mech, &t)?;
        Ok(())
    })
}

/// `C_WrapKey` (`CKM_AES_KEY_WRAP`, `CKM_AES_KEY_WRAP_PAD`).
///
/// # Safety
/// Pointers must be NULL or hold their stated lengths.
#[no_mangle]
pub unsafe extern "C" fn C_WrapKey(
    h: CK_SESSION_HANDLE,
    m: *mut CK_MECHANISM,
    wrapping: CK_OBJECT_HANDLE,
    key: CK_OBJECT_HANDLE,
    p_out: *mut u8,
    pul: *mut CK_ULONG,
) -> CK_RV {
    call("C_WrapKey", |lib| {
        let mech = unsafe { required(m, Purpose::Wrap) }?;
        let mut out = unsafe { ptr::output(p_out, pul) }?;
        lib.wrap_key(h, &mech, wrapping, key, &mut out)
    })
}

/// `C_UnwrapKey`.
///
/// # Safety
/// Pointers must be NULL or hold their stated lengths.
#[no_mangle]
pub unsafe extern "C" fn C_UnwrapKey(
    h: CK_SESSION_HANDLE,
    m: *mut CK_MECHANISM,
    unwrapping: CK_OBJECT_HANDLE,
    p_wrapped: *mut u8,
    wrapped_len: CK_ULONG,
    p_template: *mut CK_ATTRIBUTE,
    count: CK_ULONG,
    ph: *mut CK_OBJECT_HANDLE,
) -> CK_RV {
    call("C_UnwrapKey", |lib| {
        let mech = unsafe { required(m, Purpose::Wrap) }?;
        let wrapped = unsafe { ptr::bytes_nonnull(p_wrapped, wrapped_len) }?;
        let t = unsafe { ptr::template(p_template, count) }?;
        let out = unsafe { ptr::out(ph) }?;
        *out = lib.unwrap_key(h, &mech, unwrapping, wrapped, &t)?;
        Ok(())
    })
}

/// `C_SeedRandom`: the generator draws from the operating system and takes
/// no caller seed, which the specification allows.
///
/// # Safety
/// `p` must hold `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn C_SeedRandom(h: CK_SESSION_HANDLE, p: *mut u8, len: CK_ULONG) -> CK_RV {
    call("C_SeedRandom", |lib| {
        lib.with_session(h, |_| Ok(()))?;
        unsafe { ptr::bytes_nonnull(p, len) }?;
        rv(sys::CKR_RANDOM_SEED_NOT_SUPPORTED)
    })
}

/// `C_GenerateRandom`.
///
/// # Safety
/// `p` must hold `len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn C_GenerateRandom(
    h: CK_SESSION_HANDLE,
    p: *mut u8,
    len: CK_ULONG,
) -> CK_RV {
    call("C_GenerateRandom", |lib| {
        lib.with_session(h, |_| Ok(()))?;
        if p.is_null() {
            return rv(sys::CKR_ARGUMENTS_BAD);
        }
        let buf = unsafe { ptr::bytes_mut(p, len) }?;
        rng::fill(buf)
    })
}

/// `C_GetFunctionStatus`: legacy; no function runs in parallel.
///
/// # Safety
/// No pointers.
#[no_mangle]
pub unsafe extern "C" fn C_GetFunctionStatus(h: CK_SESSION_HANDLE) -> CK_RV {
    call("C_GetFunctionStatus", |lib| {
        lib.with_session(h, |_| Ok(()))?;
        rv(sys::CKR_FUNCTION_NOT_PARALLEL)
    })
}

/// `C_CancelFunction`: legacy; no function runs in parallel.
///
/// # Safety
/// No pointers.
#[no_mangle]
pub unsafe extern "C" fn C_CancelFunction(h: CK_SESSION_HANDLE) -> CK_RV {
    call("C_CancelFunction", |lib| {
        lib.with_session(h, |_| Ok(()))?;
        rv(sys::CKR_FUNCTION_NOT_PARALLEL)
    })
}
