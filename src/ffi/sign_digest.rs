//! `C_Digest*`, `C_Sign*` and `C_Verify*`.

use cryptoki_sys as sys;
use sys::{CK_MECHANISM, CK_OBJECT_HANDLE, CK_RV, CK_SESSION_HANDLE, CK_ULONG};

use super::entry::{call, or_end};
use super::mechanism::{parse, Purpose};
use super::ptr;
use crate::token::ops_cipher::OpSlot;
use crate::token::ops_sign::MacKind;

/// `C_DigestInit`; a NULL mechanism cancels.
///
/// # Safety
/// `m` must be NULL or a readable mechanism.
#[no_mangle]
pub unsafe extern "C" fn C_DigestInit(h: CK_SESSION_HANDLE, m: *mut CK_MECHANISM) -> CK_RV {
    call("C_DigestInit", |lib| {
        let mech = unsafe { parse(m, Purpose::Digest) }?;
        lib.digest_init(h, mech.as_ref())
    })
}

/// `C_Digest`.
///
/// # Safety
/// Buffers must hold their stated lengths.
#[no_mangle]
pub unsafe extern "C" fn C_Digest(
    h: CK_SESSION_HANDLE,
    p: *mut u8,
    len: CK_ULONG,
    p_out: *mut u8,
    pul: *mut CK_ULONG,
) -> CK_RV {
    call("C_Digest", |lib| {
        let data = or_end(lib, h, OpSlot::Digest, unsafe { ptr::bytes(p, len) })?;
        let mut out = or_end(lib, h, OpSlot::Digest, unsafe { ptr::output(p_out, pul) })?;
        lib.digest(h, data, &mut out)
    })
}

/// `C_DigestUpdate`.
///
/// # Safety
/// `p` must hold `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn C_DigestUpdate(h: CK_SESSION_HANDLE, p: *mut u8, len: CK_ULONG) -> CK_RV {
    call("C_DigestUpdate", |lib| {
        let data = or_end(lib, h, OpSlot::Digest, unsafe { ptr::bytes(p, len) })?;
        lib.digest_update(h, data)
    })
}

/// `C_DigestKey`.
///
/// # Safety
/// No pointers.
#[no_mangle]
pub unsafe extern "C" fn C_DigestKey(h: CK_SESSION_HANDLE, key: CK_OBJECT_HANDLE) -> CK_RV {
    call("C_DigestKey", |lib| lib.digest_key(h, key))
}

/// `C_DigestFinal`.
///
/// # Safety
/// Buffers must hold their stated lengths.
#[no_mangle]
pub unsafe extern "C" fn C_DigestFinal(
    h: CK_SESSION_HANDLE,
    p_out: *mut u8,
    pul: *mut CK_ULONG,
) -> CK_RV {
    call("C_DigestFinal", |lib| {
        let mut out = or_end(lib, h, OpSlot::Digest, unsafe { ptr::output(p_out, pul) })?;
        lib.digest_final(h, &mut out)
    })
}

/// `C_SignInit`; a NULL mechanism cancels.
///
/// # Safety
/// `m` must be NULL or a readable mechanism.
#[no_mangle]
pub unsafe extern "C" fn C_SignInit(
    h: CK_SESSION_HANDLE,
    m: *mut CK_MECHANISM,
    key: CK_OBJECT_HANDLE,
) -> CK_RV {
    call("C_SignInit", |lib| {
        let mech = unsafe { parse(m, Purpose::Mac) }?;
        lib.mac_init(h, MacKind::Sign, mech.as_ref(), key)
    })
}

/// `C_Sign`.
///
/// # Safety
/// Buffers must hold their stated lengths.
#[no_mangle]
pub unsafe extern "C" fn C_Sign(
    h: CK_SESSION_HANDLE,
    p: *mut u8,
    len: CK_ULONG,
    p_sig: *mut u8,
    pul: *mut CK_ULONG,
) -> CK_RV {
    call("C_Sign", |lib| {
        let data = or_end(lib, h, OpSlot::Sign, unsafe { ptr::bytes(p, len) })?;
        let mut out = or_end(lib, h, OpSlot::Sign, unsafe { ptr::output(p_sig, pul) })?;
        lib.sign(h, Some(data), &mut out)
    })
}

/// `C_SignUpdate`.
///
/// # Safety
/// `p` must hold `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn C_SignUpdate(h: CK_SESSION_HANDLE, p: *mut u8, len: CK_ULONG) -> CK_RV {
    call("C_SignUpdate", |lib| {
        let data = or_end(lib, h, OpSlot::Sign, unsafe { ptr::bytes(p, len) })?;
        lib.mac_update(h, MacKind::Sign, data)
    })
}

/// `C_SignFinal`.
///
/// # Safety
/// Buffers must hold their stated lengths.
#[no_mangle]
pub unsafe extern "C" fn C_SignFinal(
    h: CK_SESSION_HANDLE,
    p_sig: *mut u8,
    pul: *mut CK_ULONG,
) -> CK_RV {
    call("C_SignFinal", |lib| {
        let mut out = or_end(lib, h, OpSlot::Sign, unsafe { ptr::output(p_sig, pul) })?;
        lib.sign(h, None, &mut out)
    })
}

/// `C_VerifyInit`; a NULL mechanism cancels.
///
/// # Safety
/// `m` must be NULL or a readable mechanism.
#[no_mangle]
pub unsafe extern "C" fn C_VerifyInit(
    h: CK_SESSION_HANDLE,
    m: *mut CK_MECHANISM,
    key: CK_OBJECT_HANDLE,
) -> CK_RV {
    call("C_VerifyInit", |lib| {
        let mech = unsafe { parse(m, Purpose::Mac) }?;
        lib.mac_init(h, MacKind::Verify, mech.as_ref(), key)
    })
}

/// `C_Verify`.
///
/// # Safety
/// Buffers must hold their stated lengths.
#[no_mangle]
pub unsafe extern "C" fn C_Verify(
    h: CK_SESSION_HANDLE,
    p: *mut u8,
    len: CK_ULONG,
    p_sig: *mut u8,
    sig_len: CK_ULONG,
) -> CK_RV {
    call("C_Verify", |lib| {
        let data = or_end(lib, h, OpSlot::Verify, unsafe { ptr::bytes(p, len) })?;
        let sig = or_end(lib, h, OpSlot::Verify, unsafe {
            ptr::bytes(p_sig, sig_len)
        })?;
        lib.verify(h, Some(data), sig)
    })
}

/// `C_VerifyUpdate`.
///
/// # Safety
/// `p` must hold `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn C_VerifyUpdate(h: CK_SESSION_HANDLE, p: *mut u8, len: CK_ULONG) -> CK_RV {
    call("C_VerifyUpdate", |lib| {
        let data = or_end(lib, h, OpSlot::Verify, unsafe { ptr::bytes(p, len) })?;
        lib.mac_update(h, MacKind::Verify, data)
    })
}

/// `C_VerifyFinal`.
///
/// # Safety
/// `p_sig` must hold `sig_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn C_VerifyFinal(
    h: CK_SESSION_HANDLE,
    p_sig: *mut u8,
    sig_len: CK_ULONG,
) -> CK_RV {
    call("C_VerifyFinal", |lib| {
        let sig = or_end(lib, h, OpSlot::Verify, unsafe {
            ptr::bytes(p_sig, sig_len)
        })?;
        lib.verify(h, None, sig)
    })
}
