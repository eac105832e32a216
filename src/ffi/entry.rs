//! The one wrapper every exported function runs through: panic boundary,
//! initialised and fork check, and error to `CK_RV`.

use std::panic::{catch_unwind, AssertUnwindSafe};

use cryptoki_sys as sys;
use sys::CK_RV;

use crate::error::{rv_name, Result};
use crate::token::library::{self, Library};

/// Runs `f` with no library requirement (for functions legal before
/// `C_Initialize`). A panic becomes `CKR_GENERAL_ERROR`, never an abort.
pub fn call_raw(name: &'static str, f: impl FnOnce() -> Result<()>) -> CK_RV {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => sys::CKR_OK,
        Ok(Err(e)) => {
            let rv = e.ck_rv();
            if rv == sys::CKR_GENERAL_ERROR || rv == sys::CKR_DEVICE_ERROR {
                tracing::error!(function = name, rv = rv_name(rv), error = %e, "call failed");
            } else {
                tracing::debug!(function = name, rv = rv_name(rv), "call returned an error");
            }
            rv
        }
        Err(_) => {
            tracing::error!(function = name, "internal panic caught at the C boundary");
            sys::CKR_GENERAL_ERROR
        }
    }
}

/// Runs `f` with the initialised library.
pub fn call(name: &'static str, f: impl FnOnce(&Library) -> Result<()>) -> CK_RV {
    call_raw(name, || library::with(f))
}

/// Passes `r` through, first ending the session's `which` operation when
/// it is an error: argument errors end an operation like any other error.
pub fn or_end<T>(
    lib: &Library,
    h: cryptoki_sys::CK_SESSION_HANDLE,
    which: crate::token::ops_cipher::OpSlot,
    r: Result<T>,
) -> Result<T> {
    if r.is_err() {
        lib.end_operation(h, which);
    }
    r
}
