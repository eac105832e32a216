//! Direct calls into the module's own function list for the timed operations, plus CK_RV naming.
//!
//! Setup (token, PINs, keys, sessions) goes through `cryptoki`. The timed calls do not, because
//! `cryptoki::Session::encrypt` issues C_EncryptInit + a length-query C_Encrypt + the real
//! C_Encrypt and allocates a Vec per op; the brief measures exactly C_EncryptInit + one C_Encrypt
//! into a preallocated buffer. We dlopen the same path again (same handle, same module instance:
//! the loader refcounts it) and take the module's function lists.

use cryptoki_sys as sys;
use std::os::raw::c_void;
use std::path::Path;
use std::ptr;

/// Raw access to one loaded PKCS#11 module's function lists.
pub struct RawModule {
    /// Keeps our reference on the shared object so the copied pointers stay valid.
    _lib: sys::Pkcs11,
    fl: sys::CK_FUNCTION_LIST,
    fl3: Option<sys::CK_FUNCTION_LIST_3_0>,
}

/// Result of a raw call: the value, or the CK_RV the module returned.
pub type RvResult<T> = Result<T, sys::CK_RV>;

fn check(rv: sys::CK_RV) -> RvResult<()> {
    if rv == sys::CKR_OK {
        Ok(())
    } else {
        Err(rv)
    }
}

fn ulong(n: usize) -> sys::CK_ULONG {
    n as sys::CK_ULONG
}

impl RawModule {
    /// Opens the module at `path` (already loaded and initialised by cryptoki) and copies its
    /// 2.40 function list and, when offered, its 3.0 interface.
    pub fn open(path: &Path) -> Result<Self, String> {
        // SAFETY: loading a PKCS#11 module runs its constructors; the same module is already
        // loaded in this process by cryptoki, so this only takes another reference.
        let lib = unsafe { sys::Pkcs11::new(path) }.map_err(|e| format!("dlopen {path:?}: {e}"))?;
        let mut flp: *mut sys::CK_FUNCTION_LIST = ptr::null_mut();
        if lib.C_GetFunctionList.is_err() {
            return Err("module exports no C_GetFunctionList".into());
        }
        // SAFETY: symbol presence checked above; flp is a valid out-pointer.
        check(unsafe { lib.C_GetFunctionList(&mut flp) })
            .map_err(|rv| format!("C_GetFunctionList: {}", rv_name(rv)))?;
        if flp.is_null() {
            return Err("C_GetFunctionList returned NULL".into());
        }
        // SAFETY: non-null pointer to the module's static function list; copied by value.
        let fl = unsafe { *flp };
        let mut fl3 = None;
        if lib.C_GetInterface.is_ok() {
            let mut iface: *mut sys::CK_INTERFACE = ptr::null_mut();
            // SAFETY: symbol present; NULL name/version asks for the default interface.
            let rv = unsafe { lib.C_GetInterface(ptr::null_mut(), ptr::null_mut(), &mut iface, 0) };
            if rv == sys::CKR_OK && !iface.is_null() {
                // SAFETY: iface is a non-null pointer to the module's static CK_INTERFACE.
                let list = unsafe { (*iface).pFunctionList } as *const sys::CK_VERSION;
                // SAFETY: every function list starts with its CK_VERSION; the 3.0 layout is only
                // read after the version says it is one.
                if !list.is_null() && unsafe { (*list).major } >= 3 {
                    fl3 = Some(unsafe { *(list as *const sys::CK_FUNCTION_LIST_3_0) });
                }
            }
        }
        Ok(RawModule { _lib: lib, fl, fl3 })
    }

    /// True when the module offered a 3.0 function list with the message-encryption calls.
    pub fn has_message_api(&self) -> bool {
        self.fl3
            .is_some_and(|f| f.C_MessageEncryptInit.is_some() && f.C_EncryptMessage.is_some())
    }

    /// C_EncryptInit(CKM_AES_GCM, 12-byte IV, no AAD, 128-bit tag) + one C_Encrypt into `out`.
    pub fn gcm_encrypt(
        &self,
        s: sys::CK_SESSION_HANDLE,
        key: sys::CK_OBJECT_HANDLE,
        iv: &mut [u8; 12],
        input: &[u8],
        out: &mut [u8],
    ) -> RvResult<usize> {
        let (init, enc) = match (self.fl.C_EncryptInit, self.fl.C_Encrypt) {
            (Some(a), Some(b)) => (a, b),
            _ => return Err(sys::CKR_FUNCTION_NOT_SUPPORTED),
        };
        let mut params = gcm_params(iv);
        let mut mech = mechanism(sys::CKM_AES_GCM, &mut params);
        let mut out_len = ulong(out.len());
        // SAFETY: all pointers reference live locals/slices for the duration of the calls;
        // lengths are the slices' own lengths.
        unsafe {
            check(init(s, &mut mech, key))?;
            check(enc(
                s,
                input.as_ptr() as *mut u8,
                ulong(input.len()),
                out.as_mut_ptr(),
                &mut out_len,
            ))?;
        }
        Ok(out_len as usize)
    }

    /// C_DecryptInit(CKM_AES_GCM, ...) + one C_Decrypt of `input` (ciphertext || tag) into `out`.
    pub fn gcm_decrypt(
        &self,
        s: sys::CK_SESSION_HANDLE,
        key: sys::CK_OBJECT_HANDLE,
        iv: &mut [u8; 12],
        input: &[u8],
        out: &mut [u8],
    ) -> RvResult<usize> {
        let (init, dec) = match (self.fl.C_DecryptInit, self.fl.C_Decrypt) {
            (Some(a), Some(b)) => (a, b),
            _ => return Err(sys::CKR_FUNCTION_NOT_SUPPORTED),
        };
        let mut params = gcm_params(iv);
        let mut mech = mechanism(sys::CKM_AES_GCM, &mut params);
        let mut out_len = ulong(out.len());
        // SAFETY: as in gcm_encrypt.
        unsafe {
            check(init(s, &mut mech, key))?;
            check(dec(
                s,
                input.as_ptr() as *mut u8,
                ulong(input.len()),
                out.as_mut_ptr(),
                &mut out_len,
            ))?;
        }
        Ok(out_len as usize)
    }

    /// C_EncryptInit (or C_DecryptInit when `decrypt`) with mechanism `mech` and its parameter
    /// as raw bytes (`None`: a NULL parameter), then one C_Encrypt/C_Decrypt of `input` into
    /// `out`. An error names the function that returned it.
    #[allow(clippy::too_many_arguments)]
    pub fn crypt(
        &self,
        s: sys::CK_SESSION_HANDLE,
        mech: sys::CK_MECHANISM_TYPE,
        param: Option<&[u8]>,
        key: sys::CK_OBJECT_HANDLE,
        input: &[u8],
        out: &mut [u8],
        decrypt: bool,
    ) -> Result<usize, (&'static str, sys::CK_RV)> {
        let (init, op, names) = if decrypt {
            (
                self.fl.C_DecryptInit,
                self.fl.C_Decrypt,
                ("C_DecryptInit", "C_Decrypt"),
            )
        } else {
            (
                self.fl.C_EncryptInit,
                self.fl.C_Encrypt,
                ("C_EncryptInit", "C_Encrypt"),
            )
        };
        let (init, op) = match (init, op) {
            (Some(a), Some(b)) => (a, b),
            _ => return Err((names.0, sys::CKR_FUNCTION_NOT_SUPPORTED)),
        };
        let mut m = sys::CK_MECHANISM {
            mechanism: mech,
            pParameter: param.map_or(ptr::null_mut(), |p| p.as_ptr() as *mut c_void),
            ulParameterLen: ulong(param.map_or(0, <[u8]>::len)),
        };
        let mut out_len = ulong(out.len());
        // SAFETY: mechanism, parameter, input and output are live for the calls with their true
        // lengths; the module only reads the parameter and input.
        unsafe {
            check(init(s, &mut m, key)).map_err(|rv| (names.0, rv))?;
            check(op(
                s,
                input.as_ptr() as *mut u8,
                ulong(input.len()),
                out.as_mut_ptr(),
                &mut out_len,
            ))
            .map_err(|rv| (names.1, rv))?;
        }
        Ok(out_len as usize)
    }

    /// C_FindObjectsInit({CKA_LABEL}) + one C_FindObjects(max 16) + C_FindObjectsFinal;
    /// returns how many handles matched.
    pub fn find_by_label(&self, s: sys::CK_SESSION_HANDLE, label: &[u8]) -> RvResult<usize> {
        let (init, find, fin) = match (
            self.fl.C_FindObjectsInit,
            self.fl.C_FindObjects,
            self.fl.C_FindObjectsFinal,
        ) {
            (Some(a), Some(b), Some(c)) => (a, b, c),
            _ => return Err(sys::CKR_FUNCTION_NOT_SUPPORTED),
        };
        let mut tmpl = [sys::CK_ATTRIBUTE {
            type_: sys::CKA_LABEL,
            pValue: label.as_ptr() as *mut c_void,
            ulValueLen: ulong(label.len()),
        }];
        let mut handles = [0 as sys::CK_OBJECT_HANDLE; 16];
        let mut n: sys::CK_ULONG = 0;
        // SAFETY: template and handle buffer are live locals with their true lengths.
        unsafe {
            check(init(s, tmpl.as_mut_ptr(), 1))?;
            let rv = find(s, handles.as_mut_ptr(), ulong(handles.len()), &mut n);
            let rv_final = fin(s);
            check(rv)?;
            check(rv_final)?;
        }
        Ok(n as usize)
    }

    /// C_MessageEncryptInit(CKM_AES_GCM) (or C_MessageDecryptInit when `decrypt`). The GCM message
    /// parameters are passed at init, as `cryptoki` does; a module that wants none there
    /// (CKR_MECHANISM_PARAM_INVALID) is asked again with a NULL parameter.
    pub fn message_init(
        &self,
        s: sys::CK_SESSION_HANDLE,
        key: sys::CK_OBJECT_HANDLE,
        decrypt: bool,
    ) -> RvResult<()> {
        let f3 = self.fl3.ok_or(sys::CKR_FUNCTION_NOT_SUPPORTED)?;
        let init = if decrypt {
            f3.C_MessageDecryptInit
        } else {
            f3.C_MessageEncryptInit
        };
        let init = init.ok_or(sys::CKR_FUNCTION_NOT_SUPPORTED)?;
        let mut iv = [0u8; 12];
        let mut tag = [0u8; 16];
        let mut p = msg_params(&mut iv, &mut tag, sys::CKG_GENERATE_RANDOM);
        let mut mech = sys::CK_MECHANISM {
            mechanism: sys::CKM_AES_GCM,
            pParameter: &mut p as *mut _ as *mut c_void,
            ulParameterLen: ulong(std::mem::size_of::<sys::CK_GCM_MESSAGE_PARAMS>()),
        };
        // SAFETY: mechanism and parameter are live locals.
        let rv = unsafe { init(s, &mut mech, key) };
        if rv == sys::CKR_MECHANISM_PARAM_INVALID {
            let mut bare = sys::CK_MECHANISM {
                mechanism: sys::CKM_AES_GCM,
                pParameter: ptr::null_mut(),
                ulParameterLen: 0,
            };
            // SAFETY: as above.
            return check(unsafe { init(s, &mut bare, key) });
        }
        check(rv)
    }

    /// One C_EncryptMessage with a module-generated random IV (written into `iv`) and the tag
    /// written into `tag`; the ciphertext goes to `out`.
    pub fn encrypt_message(
        &self,
        s: sys::CK_SESSION_HANDLE,
        iv: &mut [u8; 12],
        tag: &mut [u8; 16],
        input: &[u8],
        out: &mut [u8],
    ) -> RvResult<usize> {
        let f = self
            .fl3
            .and_then(|f| f.C_EncryptMessage)
            .ok_or(sys::CKR_FUNCTION_NOT_SUPPORTED)?;
        let mut p = msg_params(iv, tag, sys::CKG_GENERATE_RANDOM);
        let mut out_len = ulong(out.len());
        // SAFETY: parameter, input and output are live for the call with their true lengths.
        unsafe {
            check(f(
                s,
                &mut p as *mut _ as *mut c_void,
                ulong(std::mem::size_of::<sys::CK_GCM_MESSAGE_PARAMS>()),
                ptr::null_mut(),
                0,
                input.as_ptr() as *mut u8,
                ulong(input.len()),
                out.as_mut_ptr(),
                &mut out_len,
            ))?;
        }
        Ok(out_len as usize)
    }

    /// One C_DecryptMessage of `input` with the given IV and tag into `out`.
    pub fn decrypt_message(
        &self,
        s: sys::CK_SESSION_HANDLE,
        iv: &mut [u8; 12],
        tag: &mut [u8; 16],
        input: &[u8],
        out: &mut [u8],
    ) -> RvResult<usize> {
        let f = self
            .fl3
            .and_then(|f| f.C_DecryptMessage)
            .ok_or(sys::CKR_FUNCTION_NOT_SUPPORTED)?;
        let mut p = msg_params(iv, tag, sys::CKG_NO_GENERATE);
        let mut out_len = ulong(out.len());
        // SAFETY: as in encrypt_message.
        unsafe {
            check(f(
                s,
                &mut p as *mut _ as *mut c_void,
                ulong(std::mem::size_of::<sys::CK_GCM_MESSAGE_PARAMS>()),
                ptr::null_mut(),
                0,
                input.as_ptr() as *mut u8,
                ulong(input.len()),
                out.as_mut_ptr(),
                &mut out_len,
            ))?;
        }
        Ok(out_len as usize)
    }

    /// C_MessageEncryptFinal / C_MessageDecryptFinal; errors are ignored by callers (cleanup).
    pub fn message_final(&self, s: sys::CK_SESSION_HANDLE, decrypt: bool) -> RvResult<()> {
        let f3 = self.fl3.ok_or(sys::CKR_FUNCTION_NOT_SUPPORTED)?;
        let f = if decrypt {
            f3.C_MessageDecryptFinal
        } else {
            f3.C_MessageEncryptFinal
        };
        let f = f.ok_or(sys::CKR_FUNCTION_NOT_SUPPORTED)?;
        // SAFETY: plain handle argument.
        check(unsafe { f(s) })
    }
}

fn gcm_params(iv: &mut [u8; 12]) -> sys::CK_GCM_PARAMS {
    sys::CK_GCM_PARAMS {
        pIv: iv.as_mut_ptr(),
        ulIvLen: 12,
        ulIvBits: 96,
        pAAD: ptr::null_mut(),
        ulAADLen: 0,
        ulTagBits: 128,
    }
}

fn msg_params(
    iv: &mut [u8; 12],
    tag: &mut [u8; 16],
    generator: sys::CK_GENERATOR_FUNCTION,
) -> sys::CK_GCM_MESSAGE_PARAMS {
    sys::CK_GCM_MESSAGE_PARAMS {
        pIv: iv.as_mut_ptr(),
        ulIvLen: 12,
        ulIvFixedBits: 0,
        ivGenerator: generator,
        pTag: tag.as_mut_ptr(),
        ulTagBits: 128,
    }
}

fn mechanism(kind: sys::CK_MECHANISM_TYPE, params: &mut sys::CK_GCM_PARAMS) -> sys::CK_MECHANISM {
    sys::CK_MECHANISM {
        mechanism: kind,
        pParameter: params as *mut _ as *mut c_void,
        ulParameterLen: ulong(std::mem::size_of::<sys::CK_GCM_PARAMS>()),
    }
}

/// "CKR_GENERAL_ERROR"-style name of a CK_RV (via cryptoki's table), or its hex value.
pub fn rv_name(rv: sys::CK_RV) -> String {
    match cryptoki::error::Rv::from(rv) {
        cryptoki::error::Rv::Ok => "CKR_OK".into(),
        cryptoki::error::Rv::Error(e) => rv_error_name(&e),
    }
}

/// Converts cryptoki's CamelCase `RvError` variant name to the C constant's name.
fn rv_error_name(e: &cryptoki::error::RvError) -> String {
    use cryptoki::error::RvError;
    match e {
        RvError::VendorDefined(c) => {
            format!("CKR_VENDOR_DEFINED+{:#x}", c - sys::CKR_VENDOR_DEFINED)
        }
        RvError::UnknownErrorCode(c) => format!("CKR_{c:#x}"),
        other => {
            let camel = format!("{other:?}");
            let mut s = String::from("CKR");
            for ch in camel.chars() {
                if ch.is_ascii_uppercase() {
                    s.push('_');
                }
                s.push(ch.to_ascii_uppercase());
            }
            s
        }
    }
}

/// Renders a cryptoki error as "C_Function: CKR_NAME" (or its text for non-PKCS#11 errors).
pub fn ck_err(e: cryptoki::error::Error) -> String {
    match e {
        cryptoki::error::Error::Pkcs11(rv, func) => format!("C_{func:?}: {}", rv_error_name(&rv)),
        other => other.to_string(),
    }
}

/// Renders a failed raw call as "C_Function: CKR_NAME".
pub fn call_err((func, rv): (&'static str, sys::CK_RV)) -> String {
    format!("{func}: {}", rv_name(rv))
}

/// Renders a raw CK_RV from a timed call.
pub fn rv_err(rv: sys::CK_RV) -> String {
    rv_name(rv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_c_constants() {
        assert_eq!(rv_name(sys::CKR_GENERAL_ERROR), "CKR_GENERAL_ERROR");
        assert_eq!(
            rv_name(sys::CKR_MECHANISM_PARAM_INVALID),
            "CKR_MECHANISM_PARAM_INVALID"
        );
        assert_eq!(
            rv_name(sys::CKR_FUNCTION_NOT_SUPPORTED),
            "CKR_FUNCTION_NOT_SUPPORTED"
        );
        assert_eq!(rv_name(sys::CKR_OK), "CKR_OK");
        assert_eq!(
            rv_name(sys::CKR_VENDOR_DEFINED + 5),
            "CKR_VENDOR_DEFINED+0x5"
        );
    }
}
