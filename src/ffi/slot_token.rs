//! Slot and token management functions.

use cryptoki_sys as sys;
use sys::{
    CK_FLAGS, CK_MECHANISM_INFO, CK_MECHANISM_TYPE, CK_RV, CK_SESSION_HANDLE, CK_SLOT_ID,
    CK_SLOT_INFO, CK_TOKEN_INFO, CK_ULONG,
};

use super::entry::call;
use super::general::LIBRARY_VERSION;
use super::ptr;
use crate::error::rv;
use crate::token::library::Library;

/// Writes `items` into a caller array with the two-call convention.
///
/// # Safety
/// `p` must be NULL or hold `*pul` writable items; `pul` must be writable.
pub(crate) unsafe fn write_list<T: Copy>(
    p: *mut T,
    pul: *mut CK_ULONG,
    items: &[T],
) -> crate::error::Result<()> {
    let count = unsafe { ptr::out(pul) }?;
    if p.is_null() {
        *count = items.len() as CK_ULONG;
        return Ok(());
    }
    if (*count as usize) < items.len() {
        *count = items.len() as CK_ULONG;
        return rv(sys::CKR_BUFFER_TOO_SMALL);
    }
    // SAFETY: the caller offers *count >= items.len() writable entries.
    unsafe { std::slice::from_raw_parts_mut(p, items.len()) }.copy_from_slice(items);
    *count = items.len() as CK_ULONG;
    Ok(())
}

/// `C_GetSlotList`: every configured slot has its token present.
///
/// # Safety
/// See [`write_list`].
#[no_mangle]
pub unsafe extern "C" fn C_GetSlotList(
    _token_present: sys::CK_BBOOL,
    p: *mut CK_SLOT_ID,
    pul: *mut CK_ULONG,
) -> CK_RV {
    call("C_GetSlotList", |lib| {
        let ids: Vec<CK_SLOT_ID> = lib.slots.iter().map(|s| s.id).collect();
        unsafe { write_list(p, pul, &ids) }
    })
}

/// `C_GetSlotInfo`.
///
/// # Safety
/// `p_info` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn C_GetSlotInfo(slot: CK_SLOT_ID, p_info: *mut CK_SLOT_INFO) -> CK_RV {
    call("C_GetSlotInfo", |lib| {
        let s = lib.slot(slot)?;
        let info = unsafe { ptr::out(p_info) }?;
        ptr::pad_str(
            &mut info.slotDescription,
            &format!("keyrotor slot {} ({})", s.id, s.config.label),
        );
        ptr::pad_str(&mut info.manufacturerID, "keyrotor project");
        info.flags = sys::CKF_TOKEN_PRESENT;
        info.hardwareVersion = LIBRARY_VERSION;
        info.firmwareVersion = LIBRARY_VERSION;
        Ok(())
    })
}

fn token_info(
    lib: &Library,
    slot: CK_SLOT_ID,
    info: &mut CK_TOKEN_INFO,
) -> crate::error::Result<()> {
    let s = lib.slot(slot)?;
    let (label, serial) = match s.token.read().as_ref() {
        Some(t) => (t.label.clone(), t.serial.clone()),
        None => (String::new(), String::new()),
    };
    ptr::pad_str(&mut info.label, &label);
    ptr::pad_str(&mut info.manufacturerID, "keyrotor project");
    ptr::pad_str(&mut info.model, "software");
    ptr::pad_str(&mut info.serialNumber, &serial);
    info.flags = sys::CKF_RNG | sys::CKF_LOGIN_REQUIRED | s.pin_flags();
    let facts = lib.session_facts(slot);
    let max = s.config.max_sessions;
    info.ulMaxSessionCount = if max == 0 {
        sys::CK_EFFECTIVELY_INFINITE
    } else {
        max as CK_ULONG
    };
    info.ulSessionCount = facts.count as CK_ULONG;
    info.ulMaxRwSessionCount = info.ulMaxSessionCount;
    info.ulRwSessionCount = (facts.count - facts.read_only) as CK_ULONG;
    info.ulMaxPinLen = s.config.pin_max_len as CK_ULONG;
    info.ulMinPinLen = s.config.pin_min_len as CK_ULONG;
    info.ulTotalPublicMemory = sys::CK_UNAVAILABLE_INFORMATION;
    info.ulFreePublicMemory = sys::CK_UNAVAILABLE_INFORMATION;
    info.ulTotalPrivateMemory = sys::CK_UNAVAILABLE_INFORMATION;
    info.ulFreePrivateMemory = sys::CK_UNAVAILABLE_INFORMATION;
    info.hardwareVersion = LIBRARY_VERSION;
    info.firmwareVersion = LIBRARY_VERSION;
    info.utcTime.fill(b' ');
    Ok(())
}

/// `C_GetTokenInfo`.
///
/// # Safety
/// `p_info` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn C_GetTokenInfo(slot: CK_SLOT_ID, p_info: *mut CK_TOKEN_INFO) -> CK_RV {
    call("C_GetTokenInfo", |lib| {
        lib.slot(slot)?;
        let info = unsafe { ptr::out(p_info) }?;
        token_info(lib, slot, info)
    })
}

/// `C_GetMechanismList`.
///
/// # Safety
/// See [`write_list`].
#[no_mangle]
pub unsafe extern "C" fn C_GetMechanismList(
    slot: CK_SLOT_ID,
    p: *mut CK_MECHANISM_TYPE,
    pul: *mut CK_ULONG,
) -> CK_RV {
    call("C_GetMechanismList", |lib| {
        let mechs: Vec<CK_MECHANISM_TYPE> = lib
            .slot(slot)?
            .mechanisms()
            .iter()
            .map(|m| m.mech)
            .collect();
        unsafe { write_list(p, pul, &mechs) }
    })
}

/// `C_GetMechanismInfo`: AES key sizes in bytes.
///
/// # Safety
/// `p_info` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn C_GetMechanismInfo(
    slot: CK_SLOT_ID,
    mech: CK_MECHANISM_TYPE,
    p_info: *mut CK_MECHANISM_INFO,
) -> CK_RV {
    call("C_GetMechanismInfo", |lib| {
        let offered = lib.slot(slot)?.mechanisms();
        let m = offered
            .iter()
            .find(|m| m.mech == mech)
            .map_or_else(|| rv(sys::CKR_MECHANISM_INVALID), Ok)?;
        let info = unsafe { ptr::out(p_info) }?;
        info.ulMinKeySize = m.min_key as CK_ULONG;
        info.ulMaxKeySize = m.max_key as CK_ULONG;
        info.flags = m.flags;
        Ok(())
    })
}

/// `C_InitToken`: `pLabel` is 32 blank-padded bytes.
///
/// # Safety
/// `p_pin` must hold `pin_len` bytes; `p_label` 32 bytes.
#[no_mangle]
pub unsafe extern "C" fn C_InitToken(
    slot: CK_SLOT_ID,
    p_pin: *mut u8,
    pin_len: CK_ULONG,
    p_label: *mut u8,
) -> CK_RV {
    call("C_InitToken", |lib| {
        let s = lib.slot(slot)?.clone();
        let pin = unsafe { ptr::bytes_nonnull(p_pin, pin_len) }?;
        let label = unsafe { ptr::bytes_nonnull(p_label, 32) }?;
        let label = String::from_utf8_lossy(label)
            .trim_end_matches([' ', '\0'])
            .to_string();
        s.init_token(pin, &label, &lib.session_facts(slot))
    })
}

/// `C_InitPIN`: the SO sets the user PIN in a read/write session.
///
/// # Safety
/// `p_pin` must hold `pin_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn C_InitPIN(
    h: CK_SESSION_HANDLE,
    p_pin: *mut u8,
    pin_len: CK_ULONG,
) -> CK_RV {
    call("C_InitPIN", |lib| {
        let (slot, rw) = lib.with_session(h, |s| Ok((s.slot.clone(), s.rw)))?;
        let pin = unsafe { ptr::bytes_nonnull(p_pin, pin_len) }?;
        if !rw {
            return rv(sys::CKR_SESSION_READ_ONLY);
        }
        slot.init_user_pin(pin)
    })
}

/// `C_SetPIN`.
///
/// # Safety
/// Both PIN pointers must hold their lengths.
#[no_mangle]
pub unsafe extern "C" fn C_SetPIN(
    h: CK_SESSION_HANDLE,
    p_old: *mut u8,
    old_len: CK_ULONG,
    p_new: *mut u8,
    new_len: CK_ULONG,
) -> CK_RV {
    call("C_SetPIN", |lib| {
        let (slot, rw) = lib.with_session(h, |s| Ok((s.slot.clone(), s.rw)))?;
        let old = unsafe { ptr::bytes_nonnull(p_old, old_len) }?;
        let new = unsafe { ptr::bytes_nonnull(p_new, new_len) }?;
        if !rw {
            return rv(sys::CKR_SESSION_READ_ONLY);
        }
        slot.set_pin(old, new)
    })
}

/// `C_WaitForSlotEvent`: tokens never appear or vanish.
///
/// # Safety
/// `p_slot` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn C_WaitForSlotEvent(
    flags: CK_FLAGS,
    p_slot: *mut CK_SLOT_ID,
    _reserved: sys::CK_VOID_PTR,
) -> CK_RV {
    call("C_WaitForSlotEvent", |_| {
        unsafe { ptr::out(p_slot) }?;
        if flags & sys::CKF_DONT_BLOCK != 0 {
            rv(sys::CKR_NO_EVENT)
        } else {
            rv(sys::CKR_FUNCTION_NOT_SUPPORTED)
        }
    })
}
