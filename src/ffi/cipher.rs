//! `C_Encrypt*` and `C_Decrypt*`.

use cryptoki_sys as sys;
use sys::{CK_MECHANISM, CK_OBJECT_HANDLE, CK_RV, CK_SESSION_HANDLE, CK_ULONG};

use super::entry::{call, or_end};
use super::mechanism::{parse, Purpose};
use super::ptr;
use crate::token::ops_cipher::OpSlot;
use crate::token::session::OpKind;

fn slot_of(kind: OpKind) -> OpSlot {
    match kind {
        OpKind::Encrypt => OpSlot::Encrypt,
        OpKind::Decrypt => OpSlot::Decrypt,
    }
}

unsafe fn init(
    name: &'static str,
    kind: OpKind,
    h: CK_SESSION_HANDLE,
    m: *mut CK_MECHANISM,
    key: CK_OBJECT_HANDLE,
) -> CK_RV {
    call(name, |lib| {
        let mech = unsafe { parse(m, Purpose::Cipher) }?;
        lib.cipher_init(h, kind, mech.as_ref(), key)
    })
}

unsafe fn single(
    name: &'static str,
    kind: OpKind,
    h: CK_SESSION_HANDLE,
    p_in: *mut u8,
    in_len: CK_ULONG,
    p_out: *mut u8,
    pul_out: *mut CK_ULONG,
) -> CK_RV {
    call(name, |lib| {
        let input = or_end(lib, h, slot_of(kind), unsafe { ptr::bytes(p_in, in_len) })?;
        let mut out = or_end(lib, h, slot_of(kind), unsafe {
            ptr::output(p_out, pul_out)
        })?;
        lib.cipher_single(h, kind, input, &mut out)
    })
}

unsafe fn update(
    name: &'static str,
    kind: OpKind,
    h: CK_SESSION_HANDLE,
    p_in: *mut u8,
    in_len: CK_ULONG,
    p_out: *mut u8,
    pul_out: *mut CK_ULONG,
) -> CK_RV {
    call(name, |lib| {
        let input = or_end(lib, h, slot_of(kind), unsafe { ptr::bytes(p_in, in_len) })?;
        let mut out = or_end(lib, h, slot_of(kind), unsafe {
            ptr::output(p_out, pul_out)
        })?;
        lib.cipher_update(h, kind, input, &mut out)
    })
}

unsafe fn finish(
    name: &'static str,
    kind: OpKind,
    h: CK_SESSION_HANDLE,
    p_out: *mut u8,
    pul_out: *mut CK_ULONG,
) -> CK_RV {
    call(name, |lib| {
        let mut out = or_end(lib, h, slot_of(kind), unsafe {
            ptr::output(p_out, pul_out)
        })?;
        lib.cipher_final(h, kind, &mut out)
    })
}

/// `C_EncryptInit`; a NULL mechanism cancels the active encryption.
///
/// # Safety
/// `m` must be NULL or a readable mechanism.
#[no_mangle]
pub unsafe extern "C" fn C_EncryptInit(
    h: CK_SESSION_HANDLE,
    m: *mut CK_MECHANISM,
    key: CK_OBJECT_HANDLE,
) -> CK_RV {
    unsafe { init("C_EncryptInit", OpKind::Encrypt, h, m, key) }
}

/// `C_Encrypt`.
///
/// # Safety
/// Buffers must hold their stated lengths.
#[no_mangle]
pub unsafe extern "C" fn C_Encrypt(
    h: CK_SESSION_HANDLE,
    p_data: *mut u8,
    len: CK_ULONG,
    p_out: *mut u8,
    pul_out: *mut CK_ULONG,
) -> CK_RV {
    unsafe { single("C_Encrypt", OpKind::Encrypt, h, p_data, len, p_out, pul_out) }
}

/// `C_EncryptUpdate`.
///
/// # Safety
/// Buffers must hold their stated lengths.
#[no_mangle]
pub unsafe extern "C" fn C_EncryptUpdate(
    h: CK_SESSION_HANDLE,
    p_part: *mut u8,
    len: CK_ULONG,
    p_out: *mut u8,
    pul_out: *mut CK_ULONG,
) -> CK_RV {
    unsafe {
        update(
            "C_EncryptUpdate",
            OpKind::Encrypt,
            h,
            p_part,
            len,
            p_out,
            pul_out,
        )
    }
}

/// `C_EncryptFinal`.
///
/// # Safety
/// Buffers must hold their stated lengths.
#[no_mangle]
pub unsafe extern "C" fn C_EncryptFinal(
    h: CK_SESSION_HANDLE,
    p_out: *mut u8,
    pul_out: *mut CK_ULONG,
) -> CK_RV {
    unsafe { finish("C_EncryptFinal", OpKind::Encrypt, h, p_out, pul_out) }
}

/// `C_DecryptInit`; a NULL mechanism cancels the active decryption.
///
/// # Safety
/// `m` must be NULL or a readable mechanism.
#[no_mangle]
pub unsafe extern "C" fn C_DecryptInit(
    h: CK_SESSION_HANDLE,
    m: *mut CK_MECHANISM,
    key: CK_OBJECT_HANDLE,
) -> CK_RV {
    unsafe { init("C_DecryptInit", OpKind::Decrypt, h, m, key) }
}

/// `C_Decrypt`.
///
/// # Safety
/// Buffers must hold their stated lengths.
#[no_mangle]
pub unsafe extern "C" fn C_Decrypt(
    h: CK_SESSION_HANDLE,
    p_in: *mut u8,
    len: CK_ULONG,
    p_out: *mut u8,
    pul_out: *mut CK_ULONG,
) -> CK_RV {
    unsafe { single("C_Decrypt", OpKind::Decrypt, h, p_in, len, p_out, pul_out) }
}

/// `C_DecryptUpdate`.
///
/// # Safety
/// Buffers must hold their stated lengths.
#[no_mangle]
pub unsafe extern "C" fn C_DecryptUpdate(
    h: CK_SESSION_HANDLE,
    p_part: *mut u8,
    len: CK_ULONG,
    p_out: *mut u8,
    pul_out: *mut CK_ULONG,
) -> CK_RV {
    unsafe {
        update(
            "C_DecryptUpdate",
            OpKind::Decrypt,
            h,
            p_part,
            len,
            p_out,
            pul_out,
        )
    }
}

/// `C_DecryptFinal`.
///
/// # Safety
/// Buffers must hold their stated lengths.
#[no_mangle]
pub unsafe extern "C" fn C_DecryptFinal(
    h: CK_SESSION_HANDLE,
    p_out: *mut u8,
    pul_out: *mut CK_ULONG,
) -> CK_RV {
    unsafe { finish("C_DecryptFinal", OpKind::Decrypt, h, p_out, pul_out) }
}
