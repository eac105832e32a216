//! General-purpose functions: `C_Initialize`, `C_Finalize`, `C_GetInfo`.

use std::ffi::CStr;

use cryptoki_sys as sys;
use sys::{CK_C_INITIALIZE_ARGS, CK_INFO, CK_RV, CK_VOID_PTR};

use super::entry::{call, call_raw};
use super::ptr;
use crate::error::rv;
use crate::token::library;

/// Library version reported in `CK_INFO`.
pub const LIBRARY_VERSION: sys::CK_VERSION = sys::CK_VERSION { major: 0, minor: 1 };

/// `C_Initialize`: all mutex callbacks or none; `CKF_OS_LOCKING_OK`; a
/// non-NULL `pReserved` is configuration (TOML text or a path).
///
/// # Safety
/// `p_init_args`, when non-NULL, must point to a `CK_C_INITIALIZE_ARGS`.
#[no_mangle]
pub unsafe extern "C" fn C_Initialize(p_init_args: CK_VOID_PTR) -> CK_RV {
    call_raw("C_Initialize", || {
        let mut reserved = None;
        let mut lazy = false;
        if !p_init_args.is_null() {
            let args = unsafe { ptr::input(p_init_args as *const CK_C_INITIALIZE_ARGS) }?;
            let given = [
                args.CreateMutex.is_some(),
                args.DestroyMutex.is_some(),
                args.LockMutex.is_some(),
                args.UnlockMutex.is_some(),
            ];
            let any = given.iter().any(|g| *g);
            if any && !given.iter().all(|g| *g) {
                return rv(sys::CKR_ARGUMENTS_BAD);
            }
            let os_locking = args.flags & sys::CKF_OS_LOCKING_OK != 0;
            if any && !os_locking {
                // Case 3: we can only lock with the OS's primitives.
                return rv(sys::CKR_CANT_LOCK);
            }
            // The application forbids library-created threads: keyrotor then
            // runs no background task of its own; the manager's work and the
            // change check happen lazily inside later calls. (The SQLite
            // driver keeps its connection thread, as in every software token.)
            lazy = args.flags & sys::CKF_LIBRARY_CANT_CREATE_OS_THREADS != 0;
            if !args.pReserved.is_null() {
                // SAFETY: a non-NULL pReserved is documented as a NUL-terminated string.
                let s = unsafe { CStr::from_ptr(args.pReserved as *const std::ffi::c_char) };
                let s = s
                    .to_str()
                    .map_err(|_| crate::error::Error::Rv(sys::CKR_ARGUMENTS_BAD))?;
                reserved = Some(s.to_owned());
            }
        }
        library::initialize_with(reserved.as_deref(), !lazy)
    })
}

/// `C_Finalize`: `pReserved` must be NULL.
///
/// # Safety
/// Callable with any pointer value; it is only compared with NULL.
#[no_mangle]
pub unsafe extern "C" fn C_Finalize(p_reserved: CK_VOID_PTR) -> CK_RV {
    call_raw("C_Finalize", || {
        if !p_reserved.is_null() {
            // Report "not initialised" first when that is the case.
            library::with(|_| Ok(()))?;
            return rv(sys::CKR_ARGUMENTS_BAD);
        }
        library::finalize()
    })
}

/// `C_GetInfo`.
///
/// # Safety
/// `p_info` must be NULL or point to a writable `CK_INFO`.
#[no_mangle]
pub unsafe extern "C" fn C_GetInfo(p_info: *mut CK_INFO) -> CK_RV {
    call("C_GetInfo", |_| {
        let info = unsafe { ptr::out(p_info) }?;
        info.cryptokiVersion = sys::CK_VERSION { major: 3, minor: 0 };
        ptr::pad_str(&mut info.manufacturerID, "keyrotor project");
        info.flags = 0;
        ptr::pad_str(&mut info.libraryDescription, "keyrotor rotating-key token");
        info.libraryVersion = LIBRARY_VERSION;
        Ok(())
    })
}
