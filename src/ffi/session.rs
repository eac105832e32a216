//! Session management and login functions.

use cryptoki_sys as sys;
use sys::{
    CK_FLAGS, CK_RV, CK_SESSION_HANDLE, CK_SESSION_INFO, CK_SLOT_ID, CK_ULONG, CK_USER_TYPE,
};

use super::entry::call;
use super::ptr;
use crate::error::rv;
use crate::token::session::OpKind;

/// `C_OpenSession`; notification callbacks are accepted and never called.
///
/// # Safety
/// `ph` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn C_OpenSession(
    slot: CK_SLOT_ID,
    flags: CK_FLAGS,
    _app: sys::CK_VOID_PTR,
    _notify: sys::CK_NOTIFY,
    ph: *mut CK_SESSION_HANDLE,
) -> CK_RV {
    call("C_OpenSession", |lib| {
        let out = unsafe { ptr::out(ph) }?;
        *out = lib.open_session(slot, flags)?;
        Ok(())
    })
}

/// `C_CloseSession`.
///
/// # Safety
/// No pointers.
#[no_mangle]
pub unsafe extern "C" fn C_CloseSession(h: CK_SESSION_HANDLE) -> CK_RV {
    call("C_CloseSession", |lib| lib.close_session(h))
}

/// `C_CloseAllSessions`.
///
/// # Safety
/// No pointers.
#[no_mangle]
pub unsafe extern "C" fn C_CloseAllSessions(slot: CK_SLOT_ID) -> CK_RV {
    call("C_CloseAllSessions", |lib| lib.close_all_sessions(slot))
}

/// `C_GetSessionInfo`.
///
/// # Safety
/// `p_info` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn C_GetSessionInfo(
    h: CK_SESSION_HANDLE,
    p_info: *mut CK_SESSION_INFO,
) -> CK_RV {
    call("C_GetSessionInfo", |lib| {
        lib.with_session(h, |s| {
            let info = unsafe { ptr::out(p_info) }?;
            info.slotID = s.slot.id;
            info.state = s.state();
            info.flags = sys::CKF_SERIAL_SESSION | if s.rw { sys::CKF_RW_SESSION } else { 0 };
            info.ulDeviceError = 0;
            Ok(())
        })
    })
}

/// `C_Login`: per application; `CKU_CONTEXT_SPECIFIC` re-authenticates an
/// operation on a `CKA_ALWAYS_AUTHENTICATE` key.
///
/// # Safety
/// `p_pin` must hold `pin_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn C_Login(
    h: CK_SESSION_HANDLE,
    user: CK_USER_TYPE,
    p_pin: *mut u8,
    pin_len: CK_ULONG,
) -> CK_RV {
    call("C_Login", |lib| {
        let (slot, waiting) =
            lib.with_session(h, |s| Ok((s.slot.clone(), s.needs_context_login)))?;
        let pin = unsafe { ptr::bytes_nonnull(p_pin, pin_len) }?;
        if user == sys::CKU_CONTEXT_SPECIFIC {
            if !waiting {
                return rv(sys::CKR_OPERATION_NOT_INITIALIZED);
            }
            slot.verify_user_pin(pin)?;
            return lib.with_session(h, |s| {
                s.needs_context_login = false;
                Ok(())
            });
        }
        slot.login(user, pin, &lib.session_facts(slot.id))
    })
}

/// `C_Logout`.
///
/// # Safety
/// No pointers.
#[no_mangle]
pub unsafe extern "C" fn C_Logout(h: CK_SESSION_HANDLE) -> CK_RV {
    call("C_Logout", |lib| {
        let slot = lib.with_session(h, |s| Ok(s.slot.clone()))?;
        slot.logout()?;
        lib.forget_session_keys(slot.id);
        Ok(())
    })
}

/// `C_SessionCancel`: ends the operations named by `flags`.
///
/// # Safety
/// No pointers.
#[no_mangle]
pub unsafe extern "C" fn C_SessionCancel(h: CK_SESSION_HANDLE, flags: CK_FLAGS) -> CK_RV {
    call("C_SessionCancel", |lib| {
        lib.with_session(h, |s| {
            if flags & sys::CKF_ENCRYPT != 0 {
                s.encrypt = None;
                s.drop_pending(OpKind::Encrypt);
            }
            if flags & sys::CKF_DECRYPT != 0 {
                s.decrypt = None;
                s.drop_pending(OpKind::Decrypt);
            }
            if flags & sys::CKF_DIGEST != 0 {
                s.digest = None;
            }
            if flags & sys::CKF_SIGN != 0 {
                s.sign = None;
            }
            if flags & sys::CKF_VERIFY != 0 {
                s.verify = None;
            }
            if flags & sys::CKF_FIND_OBJECTS != 0 {
                s.find = None;
            }
            if flags & sys::CKF_MESSAGE_ENCRYPT != 0 {
                s.msg_encrypt = None;
            }
            if flags & sys::CKF_MESSAGE_DECRYPT != 0 {
                s.msg_decrypt = None;
            }
            Ok(())
        })
    })
}
