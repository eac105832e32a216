//! The PKCS#11 3.0 message-based encryption functions (AES-GCM).

use cryptoki_sys as sys;
use sys::{
    CK_FLAGS, CK_GCM_MESSAGE_PARAMS, CK_MECHANISM, CK_OBJECT_HANDLE, CK_RV, CK_SESSION_HANDLE,
    CK_ULONG, CK_VOID_PTR,
};

use super::entry::call;
use super::mechanism::{parse, Purpose};
use super::ptr;
use crate::error::{rv, Result};
use crate::mech::message_op::MessageParams;

/// Reads `CK_GCM_MESSAGE_PARAMS`, giving safe views of its IV and tag.
unsafe fn params<'a>(p: CK_VOID_PTR, len: CK_ULONG) -> Result<MessageParams<'a>> {
    const BAD: sys::CK_RV = sys::CKR_MECHANISM_PARAM_INVALID;
    if p.is_null() || len as usize != std::mem::size_of::<CK_GCM_MESSAGE_PARAMS>() {
        return rv(BAD);
    }
    let g = unsafe { ptr::input(p as *const CK_GCM_MESSAGE_PARAMS) }
        .map_err(|_| crate::error::Error::Rv(BAD))?;
    if g.pIv.is_null() || g.ulIvLen == 0 || g.pTag.is_null() || g.ulTagBits % 8 != 0 {
        return rv(BAD);
    }
    let iv =
        unsafe { ptr::bytes_mut(g.pIv, g.ulIvLen) }.map_err(|_| crate::error::Error::Rv(BAD))?;
    let tag = unsafe { ptr::bytes_mut(g.pTag, g.ulTagBits / 8) }
        .map_err(|_| crate::error::Error::Rv(BAD))?;
    Ok(MessageParams {
        iv,
        fixed_bits: g.ulIvFixedBits as usize,
        generator: g.ivGenerator,
        tag,
    })
}

unsafe fn init(
    name: &'static str,
    encrypt: bool,
    h: CK_SESSION_HANDLE,
    m: *mut CK_MECHANISM,
    key: CK_OBJECT_HANDLE,
) -> CK_RV {
    call(name, |lib| {
        let mech = unsafe { parse(m, Purpose::Message) }?;
        lib.message_init(h, encrypt, mech.as_ref(), key)
    })
}

#[allow(clippy::too_many_arguments)]
unsafe fn one(
    name: &'static str,
    encrypt: bool,
    h: CK_SESSION_HANDLE,
    p: CK_VOID_PTR,
    plen: CK_ULONG,
    aad: *mut u8,
    aad_len: CK_ULONG,
    input: *mut u8,
    in_len: CK_ULONG,
    out: *mut u8,
    pul: *mut CK_ULONG,
) -> CK_RV {
    call(name, |lib| {
        let mut prm = unsafe { params(p, plen) }?;
        let aad = unsafe { ptr::bytes(aad, aad_len) }?;
        let input = unsafe { ptr::bytes(input, in_len) }?;
        let mut o = unsafe { ptr::output(out, pul) }?;
        lib.one_message(h, encrypt, &mut prm, aad, input, &mut o)
    })
}

unsafe fn begin(
    name: &'static str,
    encrypt: bool,
    h: CK_SESSION_HANDLE,
    p: CK_VOID_PTR,
    plen: CK_ULONG,
    aad: *mut u8,
    aad_len: CK_ULONG,
) -> CK_RV {
    call(name, |lib| {
        let mut prm = unsafe { params(p, plen) }?;
        let aad = unsafe { ptr::bytes(aad, aad_len) }?;
        lib.message_begin(h, encrypt, &mut prm, aad)
    })
}

#[allow(clippy::too_many_arguments)]
unsafe fn next(
    name: &'static str,
    encrypt: bool,
    h: CK_SESSION_HANDLE,
    p: CK_VOID_PTR,
    plen: CK_ULONG,
    part: *mut u8,
    part_len: CK_ULONG,
    out: *mut u8,
    pul: *mut CK_ULONG,
    flags: CK_FLAGS,
) -> CK_RV {
    call(name, |lib| {
        let mut prm = unsafe { params(p, plen) }?;
        let part = unsafe { ptr::bytes(part, part_len) }?;
        let mut o = unsafe { ptr::output(out, pul) }?;
        lib.message_next(
            h,
            encrypt,
            &mut prm,
            part,
            &mut o,
            flags & sys::CKF_END_OF_MESSAGE != 0,
        )
    })
}

/// `C_MessageEncryptInit` (`CKM_AES_GCM`); a NULL mechanism cancels.
///
/// # Safety
/// `m` must be NULL or a readable mechanism.
#[no_mangle]
pub unsafe extern "C" fn C_MessageEncryptInit(
    h: CK_SESSION_HANDLE,
    m: *mut CK_MECHANISM,
    key: CK_OBJECT_HANDLE,
) -> CK_RV {
    unsafe { init("C_MessageEncryptInit", true, h, m, key) }
}

/// `C_EncryptMessage`: the tag goes to the parameter's `pTag`, a generated IV
/// to its `pIv`.
///
/// # Safety
/// Every pointer must hold its stated length.
#[no_mangle]
pub unsafe extern "C" fn C_EncryptMessage(
    h: CK_SESSION_HANDLE,
    p: CK_VOID_PTR,
    plen: CK_ULONG,
    aad: *mut u8,
    aad_len: CK_ULONG,
    pt: *mut u8,
    pt_len: CK_ULONG,
    ct: *mut u8,
    pul_ct: *mut CK_ULONG,
) -> CK_RV {
    unsafe {
        one(
            "C_EncryptMessage",
            true,
            h,
            p,
            plen,
            aad,
            aad_len,
            pt,
            pt_len,
            ct,
            pul_ct,
        )
    }
}

/// `C_EncryptMessageBegin`.
///
/// # Safety
/// Every pointer must hold its stated length.
#[no_mangle]
pub unsafe extern "C" fn C_EncryptMessageBegin(
    h: CK_SESSION_HANDLE,
    p: CK_VOID_PTR,
    plen: CK_ULONG,
    aad: *mut u8,
    aad_len: CK_ULONG,
) -> CK_RV {
    unsafe { begin("C_EncryptMessageBegin", true, h, p, plen, aad, aad_len) }
}

/// `C_EncryptMessageNext`: output comes with `CKF_END_OF_MESSAGE`.
///
/// # Safety
/// Every pointer must hold its stated length.
#[no_mangle]
pub unsafe extern "C" fn C_EncryptMessageNext(
    h: CK_SESSION_HANDLE,
    p: CK_VOID_PTR,
    plen: CK_ULONG,
    pt: *mut u8,
    pt_len: CK_ULONG,
    ct: *mut u8,
    pul_ct: *mut CK_ULONG,
    flags: CK_FLAGS,
) -> CK_RV {
    unsafe {
        next(
            "C_EncryptMessageNext",
            true,
            h,
            p,
            plen,
            pt,
            pt_len,
            ct,
            pul_ct,
            flags,
        )
    }
}

/// `C_MessageEncryptFinal`.
///
/// # Safety
/// No pointers.
#[no_mangle]
pub unsafe extern "C" fn C_MessageEncryptFinal(h: CK_SESSION_HANDLE) -> CK_RV {
    call("C_MessageEncryptFinal", |lib| lib.message_final(h, true))
}

/// `C_MessageDecryptInit` (`CKM_AES_GCM`); a NULL mechanism cancels.
///
/// # Safety
/// `m` must be NULL or a readable mechanism.
#[no_mangle]
pub unsafe extern "C" fn C_MessageDecryptInit(
    h: CK_SESSION_HANDLE,
    m: *mut CK_MECHANISM,
    key: CK_OBJECT_HANDLE,
) -> CK_RV {
    unsafe { init("C_MessageDecryptInit", false, h, m, key) }
}

/// `C_DecryptMessage`: the tag is read from the parameter's `pTag`.
///
/// # Safety
/// Every pointer must hold its stated length.
#[no_mangle]
pub unsafe extern "C" fn C_DecryptMessage(
    h: CK_SESSION_HANDLE,
    p: CK_VOID_PTR,
    plen: CK_ULONG,
    aad: *mut u8,
    aad_len: CK_ULONG,
    ct: *mut u8,
    ct_len: CK_ULONG,
    pt: *mut u8,
    pul_pt: *mut CK_ULONG,
) -> CK_RV {
    unsafe {
        one(
            "C_DecryptMessage",
            false,
            h,
            p,
            plen,
            aad,
            aad_len,
            ct,
            ct_len,
            pt,
            pul_pt,
        )
    }
}

/// `C_DecryptMessageBegin`.
///
/// # Safety
/// Every pointer must hold its stated length.
#[no_mangle]
pub unsafe extern "C" fn C_DecryptMessageBegin(
    h: CK_SESSION_HANDLE,
    p: CK_VOID_PTR,
    plen: CK_ULONG,
    aad: *mut u8,
    aad_len: CK_ULONG,
) -> CK_RV {
    unsafe { begin("C_DecryptMessageBegin", false, h, p, plen, aad, aad_len) }
}

/// `C_DecryptMessageNext`: plaintext is released only with
/// `CKF_END_OF_MESSAGE`, after the tag verified.
///
/// # Safety
/// Every pointer must hold its stated length.
#[no_mangle]
pub unsafe extern "C" fn C_DecryptMessageNext(
    h: CK_SESSION_HANDLE,
    p: CK_VOID_PTR,
    plen: CK_ULONG,
    ct: *mut u8,
    ct_len: CK_ULONG,
    pt: *mut u8,
    pul_pt: *mut CK_ULONG,
    flags: CK_FLAGS,
) -> CK_RV {
    unsafe {
        next(
            "C_DecryptMessageNext",
            false,
            h,
            p,
            plen,
            ct,
            ct_len,
            pt,
            pul_pt,
            flags,
        )
    }
}

/// `C_MessageDecryptFinal`.
///
/// # Safety
/// No pointers.
#[no_mangle]
pub unsafe extern "C" fn C_MessageDecryptFinal(h: CK_SESSION_HANDLE) -> CK_RV {
    call("C_MessageDecryptFinal", |lib| lib.message_final(h, false))
}
