//! Functions in the lists that keyrotor does not offer. Each still checks
//! initialisation and the session handle, then returns
//! `CKR_FUNCTION_NOT_SUPPORTED` as the specification requires.

use cryptoki_sys as sys;
use sys::{
    CK_ATTRIBUTE, CK_MECHANISM, CK_OBJECT_HANDLE, CK_RV, CK_SESSION_HANDLE, CK_ULONG, CK_USER_TYPE,
    CK_VOID_PTR,
};

use super::entry::call;
use crate::error::rv;

fn not_supported(name: &'static str, h: CK_SESSION_HANDLE) -> CK_RV {
    call(name, |lib| {
        lib.with_session(h, |_| Ok(()))?;
        rv(sys::CKR_FUNCTION_NOT_SUPPORTED)
    })
}

/// `C_GetOperationState`: not supported.
///
/// # Safety
/// No pointer is dereferenced.
#[no_mangle]
pub unsafe extern "C" fn C_GetOperationState(
    h: CK_SESSION_HANDLE,
    _a: *mut u8,
    _b: *mut CK_ULONG,
) -> CK_RV {
    not_supported("C_GetOperationState", h)
}

/// `C_SetOperationState`: not supported.
///
/// # Safety
/// No pointer is dereferenced.
#[no_mangle]
pub unsafe extern "C" fn C_SetOperationState(
    h: CK_SESSION_HANDLE,
    _a: *mut u8,
    _b: CK_ULONG,
    _c: CK_OBJECT_HANDLE,
    _d: CK_OBJECT_HANDLE,
) -> CK_RV {
    not_supported("C_SetOperationState", h)
}

/// `C_SignRecoverInit`: not supported.
///
/// # Safety
/// No pointer is dereferenced.
#[no_mangle]
pub unsafe extern "C" fn C_SignRecoverInit(
    h: CK_SESSION_HANDLE,
    _m: *mut CK_MECHANISM,
    _k: CK_OBJECT_HANDLE,
) -> CK_RV {
    not_supported("C_SignRecoverInit", h)
}

/// `C_SignRecover`: not supported.
///
/// # Safety
/// No pointer is dereferenced.
#[no_mangle]
pub unsafe extern "C" fn C_SignRecover(
    h: CK_SESSION_HANDLE,
    _a: *mut u8,
    _b: CK_ULONG,
    _c: *mut u8,
    _d: *mut CK_ULONG,
) -> CK_RV {
    not_supported("C_SignRecover", h)
}

/// `C_VerifyRecoverInit`: not supported.
///
/// # Safety
/// No pointer is dereferenced.
#[no_mangle]
pub unsafe extern "C" fn C_VerifyRecoverInit(
    h: CK_SESSION_HANDLE,
    _m: *mut CK_MECHANISM,
    _k: CK_OBJECT_HANDLE,
) -> CK_RV {
    not_supported("C_VerifyRecoverInit", h)
}

/// `C_VerifyRecover`: not supported.
///
/// # Safety
/// No pointer is dereferenced.
#[no_mangle]
pub unsafe extern "C" fn C_VerifyRecover(
    h: CK_SESSION_HANDLE,
    _a: *mut u8,
    _b: CK_ULONG,
    _c: *mut u8,
    _d: *mut CK_ULONG,
) -> CK_RV {
    not_supported("C_VerifyRecover", h)
}

/// `C_DigestEncryptUpdate`: not supported.
///
/// # Safety
/// No pointer is dereferenced.
#[no_mangle]
pub unsafe extern "C" fn C_DigestEncryptUpdate(
    h: CK_SESSION_HANDLE,
    _a: *mut u8,
    _b: CK_ULONG,
    _c: *mut u8,
    _d: *mut CK_ULONG,
) -> CK_RV {
    not_supported("C_DigestEncryptUpdate", h)
}

/// `C_DecryptDigestUpdate`: not supported.
///
/// # Safety
/// No pointer is dereferenced.
#[no_mangle]
pub unsafe extern "C" fn C_DecryptDigestUpdate(
    h: CK_SESSION_HANDLE,
    _a: *mut u8,
    _b: CK_ULONG,
    _c: *mut u8,
    _d: *mut CK_ULONG,
) -> CK_RV {
    not_supported("C_DecryptDigestUpdate", h)
}

/// `C_SignEncryptUpdate`: not supported.
///
/// # Safety
/// No pointer is dereferenced.
#[no_mangle]
pub unsafe extern "C" fn C_SignEncryptUpdate(
    h: CK_SESSION_HANDLE,
    _a: *mut u8,
    _b: CK_ULONG,
    _c: *mut u8,
    _d: *mut CK_ULONG,
) -> CK_RV {
    not_supported("C_SignEncryptUpdate", h)
}

/// `C_DecryptVerifyUpdate`: not supported.
///
/// # Safety
/// No pointer is dereferenced.
#[no_mangle]
pub unsafe extern "C" fn C_DecryptVerifyUpdate(
    h: CK_SESSION_HANDLE,
    _a: *mut u8,
    _b: CK_ULONG,
    _c: *mut u8,
    _d: *mut CK_ULONG,
) -> CK_RV {
    not_supported("C_DecryptVerifyUpdate", h)
}

/// `C_GenerateKeyPair`: not supported.
///
/// # Safety
/// No pointer is dereferenced.
#[allow(clippy::too_many_arguments)]
#[no_mangle]
pub unsafe extern "C" fn C_GenerateKeyPair(
    h: CK_SESSION_HANDLE,
    _m: *mut CK_MECHANISM,
    _a: *mut CK_ATTRIBUTE,
    _b: CK_ULONG,
    _c: *mut CK_ATTRIBUTE,
    _d: CK_ULONG,
    _e: *mut CK_OBJECT_HANDLE,
    _f: *mut CK_OBJECT_HANDLE,
) -> CK_RV {
    not_supported("C_GenerateKeyPair", h)
}

/// `C_DeriveKey`: not supported.
///
/// # Safety
/// No pointer is dereferenced.
#[no_mangle]
pub unsafe extern "C" fn C_DeriveKey(
    h: CK_SESSION_HANDLE,
    _m: *mut CK_MECHANISM,
    _k: CK_OBJECT_HANDLE,
    _a: *mut CK_ATTRIBUTE,
    _b: CK_ULONG,
    _c: *mut CK_OBJECT_HANDLE,
) -> CK_RV {
    not_supported("C_DeriveKey", h)
}

/// `C_LoginUser`: not supported.
///
/// # Safety
/// No pointer is dereferenced.
#[no_mangle]
pub unsafe extern "C" fn C_LoginUser(
    h: CK_SESSION_HANDLE,
    _u: CK_USER_TYPE,
    _a: *mut u8,
    _b: CK_ULONG,
    _c: *mut u8,
    _d: CK_ULONG,
) -> CK_RV {
    not_supported("C_LoginUser", h)
}

/// `C_MessageSignInit`: not supported.
///
/// # Safety
/// No pointer is dereferenced.
#[no_mangle]
pub unsafe extern "C" fn C_MessageSignInit(
    h: CK_SESSION_HANDLE,
    _m: *mut CK_MECHANISM,
    _k: CK_OBJECT_HANDLE,
) -> CK_RV {
    not_supported("C_MessageSignInit", h)
}

/// `C_SignMessage`: not supported.
///
/// # Safety
/// No pointer is dereferenced.
#[no_mangle]
pub unsafe extern "C" fn C_SignMessage(
    h: CK_SESSION_HANDLE,
    _p: CK_VOID_PTR,
    _l: CK_ULONG,
    _a: *mut u8,
    _b: CK_ULONG,
    _c: *mut u8,
    _d: *mut CK_ULONG,
) -> CK_RV {
    not_supported("C_SignMessage", h)
}

/// `C_SignMessageBegin`: not supported.
///
/// # Safety
/// No pointer is dereferenced.
#[no_mangle]
pub unsafe extern "C" fn C_SignMessageBegin(
    h: CK_SESSION_HANDLE,
    _p: CK_VOID_PTR,
    _l: CK_ULONG,
) -> CK_RV {
    not_supported("C_SignMessageBegin", h)
}

/// `C_SignMessageNext`: not supported.
///
/// # Safety
/// No pointer is dereferenced.
#[no_mangle]
pub unsafe extern "C" fn C_SignMessageNext(
    h: CK_SESSION_HANDLE,
    _p: CK_VOID_PTR,
    _l: CK_ULONG,
    _a: *mut u8,
    _b: CK_ULONG,
    _c: *mut u8,
    _d: *mut CK_ULONG,
) -> CK_RV {
    not_supported("C_SignMessageNext", h)
}

/// `C_MessageSignFinal`: not supported.
///
/// # Safety
/// No pointer is dereferenced.
#[no_mangle]
pub unsafe extern "C" fn C_MessageSignFinal(h: CK_SESSION_HANDLE) -> CK_RV {
    not_supported("C_MessageSignFinal", h)
}

/// `C_MessageVerifyInit`: not supported.
///
/// # Safety
/// No pointer is dereferenced.
#[no_mangle]
pub unsafe extern "C" fn C_MessageVerifyInit(
    h: CK_SESSION_HANDLE,
    _m: *mut CK_MECHANISM,
    _k: CK_OBJECT_HANDLE,
) -> CK_RV {
    not_supported("C_MessageVerifyInit", h)
}

/// `C_VerifyMessage`: not supported.
///
/// # Safety
/// No pointer is dereferenced.
#[no_mangle]
pub unsafe extern "C" fn C_VerifyMessage(
    h: CK_SESSION_HANDLE,
    _p: CK_VOID_PTR,
    _l: CK_ULONG,
    _a: *mut u8,
    _b: CK_ULONG,
    _c: *mut u8,
    _d: CK_ULONG,
) -> CK_RV {
    not_supported("C_VerifyMessage", h)
}

/// `C_VerifyMessageBegin`: not supported.
///
/// # Safety
/// No pointer is dereferenced.
#[no_mangle]
pub unsafe extern "C" fn C_VerifyMessageBegin(
    h: CK_SESSION_HANDLE,
    _p: CK_VOID_PTR,
    _l: CK_ULONG,
) -> CK_RV {
    not_supported("C_VerifyMessageBegin", h)
}

/// `C_VerifyMessageNext`: not supported.
///
/// # Safety
/// No pointer is dereferenced.
#[no_mangle]
pub unsafe extern "C" fn C_VerifyMessageNext(
    h: CK_SESSION_HANDLE,
    _p: CK_VOID_PTR,
    _l: CK_ULONG,
    _a: *mut u8,
    _b: CK_ULONG,
    _c: *mut u8,
    _d: CK_ULONG,
) -> CK_RV {
    not_supported("C_VerifyMessageNext", h)
}

/// `C_MessageVerifyFinal`: not supported.
///
/// # Safety
/// No pointer is dereferenced.
#[no_mangle]
pub unsafe extern "C" fn C_MessageVerifyFinal(h: CK_SESSION_HANDLE) -> CK_RV {
    not_supported("C_MessageVerifyFinal", h)
}
