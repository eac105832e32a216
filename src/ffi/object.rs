//! Object management functions.

use cryptoki_sys as sys;
use sys::{CK_ATTRIBUTE, CK_OBJECT_HANDLE, CK_RV, CK_SESSION_HANDLE, CK_ULONG};

use super::entry::call;
use super::ptr;
use crate::error::rv;
use crate::token::ops_objects::AttrAnswer;

/// `C_CreateObject`.
///
/// # Safety
/// `p_template` must hold `count` attributes; `ph` must be writable.
#[no_mangle]
pub unsafe extern "C" fn C_CreateObject(
    h: CK_SESSION_HANDLE,
    p_template: *mut CK_ATTRIBUTE,
    count: CK_ULONG,
    ph: *mut CK_OBJECT_HANDLE,
) -> CK_RV {
    call("C_CreateObject", |lib| {
        let t = unsafe { ptr::template(p_template, count) }?;
        let out = unsafe { ptr::out(ph) }?;
        *out = lib.create_object(h, &t)?;
        Ok(())
    })
}

/// `C_CopyObject`.
///
/// # Safety
/// `p_template` must hold `count` attributes; `ph` must be writable.
#[no_mangle]
pub unsafe extern "C" fn C_CopyObject(
    h: CK_SESSION_HANDLE,
    oh: CK_OBJECT_HANDLE,
    p_template: *mut CK_ATTRIBUTE,
    count: CK_ULONG,
    ph: *mut CK_OBJECT_HANDLE,
) -> CK_RV {
    call("C_CopyObject", |lib| {
        let t = unsafe { ptr::template(p_template, count) }?;
        let out = unsafe { ptr::out(ph) }?;
        *out = lib.copy_object(h, oh, &t)?;
        Ok(())
    })
}

/// `C_DestroyObject`.
///
/// # Safety
/// No pointers.
#[no_mangle]
pub unsafe extern "C" fn C_DestroyObject(h: CK_SESSION_HANDLE, oh: CK_OBJECT_HANDLE) -> CK_RV {
    call("C_DestroyObject", |lib| lib.destroy_object(h, oh))
}

/// `C_GetObjectSize`.
///
/// # Safety
/// `pul` must be writable.
#[no_mangle]
pub unsafe extern "C" fn C_GetObjectSize(
    h: CK_SESSION_HANDLE,
    oh: CK_OBJECT_HANDLE,
    pul: *mut CK_ULONG,
) -> CK_RV {
    call("C_GetObjectSize", |lib| {
        let out = unsafe { ptr::out(pul) }?;
        *out = lib.object_size(h, oh)? as CK_ULONG;
        Ok(())
    })
}

/// `C_GetAttributeValue`: every attribute is processed; unknown, sensitive
/// and too-small ones get `CK_UNAVAILABLE_INFORMATION` and the matching code.
///
/// # Safety
/// `p_template` must hold `count` writable attributes, each `pValue` NULL or
/// `ulValueLen` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn C_GetAttributeValue(
    h: CK_SESSION_HANDLE,
    oh: CK_OBJECT_HANDLE,
    p_template: *mut CK_ATTRIBUTE,
    count: CK_ULONG,
) -> CK_RV {
    call("C_GetAttributeValue", |lib| {
        let t = unsafe { ptr::template_mut(p_template, count) }?;
        let kinds: Vec<_> = t.iter().map(|a| a.type_).collect();
        let answers = lib.get_attributes(h, oh, &kinds)?;
        let (mut sensitive, mut invalid, mut short) = (false, false, false);
        for (a, ans) in t.iter_mut().zip(answers) {
            match ans {
                AttrAnswer::Invalid => {
                    a.ulValueLen = sys::CK_UNAVAILABLE_INFORMATION;
                    invalid = true;
                }
                AttrAnswer::Sensitive => {
                    a.ulValueLen = sys::CK_UNAVAILABLE_INFORMATION;
                    sensitive = true;
                }
                AttrAnswer::Value(v) => {
                    if a.pValue.is_null() {
                        a.ulValueLen = v.len() as CK_ULONG;
                    } else if (a.ulValueLen as usize) < v.len() {
                        a.ulValueLen = sys::CK_UNAVAILABLE_INFORMATION;
                        short = true;
                    } else {
                        let dst =
                            unsafe { ptr::bytes_mut(a.pValue as *mut u8, v.len() as CK_ULONG) }?;
                        dst.copy_from_slice(&v);
                        a.ulValueLen = v.len() as CK_ULONG;
                    }
                }
            }
        }
        match (sensitive, invalid, short) {
            (true, _, _) => rv(sys::CKR_ATTRIBUTE_SENSITIVE),
            (_, true, _) => rv(sys::CKR_ATTRIBUTE_TYPE_INVALID),
            (_, _, true) => rv(sys::CKR_BUFFER_TOO_SMALL),
            _ => Ok(()),
        }
    })
}

/// `C_SetAttributeValue`.
///
/// # Safety
/// `p_template` must hold `count` attributes.
#[no_mangle]
pub unsafe extern "C" fn C_SetAttributeValue(
    h: CK_SESSION_HANDLE,
    oh: CK_OBJECT_HANDLE,
    p_template: *mut CK_ATTRIBUTE,
    count: CK_ULONG,
) -> CK_RV {
    call("C_SetAttributeValue", |lib| {
        let t = unsafe { ptr::template(p_template, count) }?;
        lib.set_attributes(h, oh, &t)
    })
}

/// `C_FindObjectsInit`: a NULL template (count 0) matches everything.
///
/// # Safety
/// `p_template` must hold `count` attributes.
#[no_mangle]
pub unsafe extern "C" fn C_FindObjectsInit(
    h: CK_SESSION_HANDLE,
    p_template: *mut CK_ATTRIBUTE,
    count: CK_ULONG,
) -> CK_RV {
    call("C_FindObjectsInit", |lib| {
        let t = unsafe { ptr::template(p_template, count) }?;
        lib.find_init(h, &t)
    })
}

/// `C_FindObjects`.
///
/// # Safety
/// `ph` must hold `max` writable handles; `pul` must be writable.
#[no_mangle]
pub unsafe extern "C" fn C_FindObjects(
    h: CK_SESSION_HANDLE,
    ph: *mut CK_OBJECT_HANDLE,
    max: CK_ULONG,
    pul: *mut CK_ULONG,
) -> CK_RV {
    call("C_FindObjects", |lib| {
        let n = unsafe { ptr::out(pul) }?;
        if ph.is_null() {
            return rv(sys::CKR_ARGUMENTS_BAD);
        }
        let max = ptr::len(max, sys::CKR_ARGUMENTS_BAD)?;
        let found = lib.find_next(h, max)?;
        // SAFETY: non-NULL and the caller offers `max` >= found.len() slots.
        unsafe { std::slice::from_raw_parts_mut(ph, found.len()) }.copy_from_slice(&found);
        *n = found.len() as CK_ULONG;
        Ok(())
    })
}

/// `C_FindObjectsFinal`.
///
/// # Safety
/// No pointers.
#[no_mangle]
pub unsafe extern "C" fn C_FindObjectsFinal(h: CK_SESSION_HANDLE) -> CK_RV {
    call("C_FindObjectsFinal", |lib| lib.find_final(h))
}
