//! Direct access to the module: libloading and the `cryptoki_sys` function
//! lists, with small helpers that return exact `CK_RV`s.

use std::ffi::{c_void, CString};
use std::path::Path;
use std::ptr;
use std::sync::MutexGuard;

use super::module_path;
use super::sys::*;
use super::template::{Mech, Template};

/// The module loaded directly: the 3.0 list from `C_GetInterface(NULL, NULL)`
/// and the 2.40 list from `C_GetFunctionList`, plus the two symbols that are
/// only exported (not in a list we hold a copy of).
pub struct Raw {
    _lib: libloading::Library,
    /// Copy of the default (3.0) function list.
    pub f: CK_FUNCTION_LIST_3_0,
    /// The 2.40 list as the module hands it out.
    pub list2: *const CK_FUNCTION_LIST,
    /// The exported `C_GetInterface`.
    pub get_interface: unsafe extern "C" fn(
        *mut CK_UTF8CHAR,
        *mut CK_VERSION,
        *mut *mut CK_INTERFACE,
        CK_FLAGS,
    ) -> CK_RV,
    /// The exported `C_GetInterfaceList`.
    pub get_interface_list: unsafe extern "C" fn(*mut CK_INTERFACE, *mut CK_ULONG) -> CK_RV,
    /// The exported `C_GetFunctionList`.
    pub get_function_list: unsafe extern "C" fn(*mut *mut CK_FUNCTION_LIST) -> CK_RV,
}

impl Raw {
    /// Loads the module (the same mapping `cryptoki` gets, so both see one state).
    pub fn load() -> Raw {
        let path = module_path();
        let lib = unsafe { libloading::Library::new(&path) }.unwrap_or_else(|e| {
            panic!(
                "cannot load {}: {e} (build it first, or set KEYROTOR_TEST_MODULE)",
                path.display()
            )
        });
        unsafe {
            let gi = *lib
                .get::<unsafe extern "C" fn(
                    *mut CK_UTF8CHAR,
                    *mut CK_VERSION,
                    *mut *mut CK_INTERFACE,
                    CK_FLAGS,
                ) -> CK_RV>(b"C_GetInterface\0")
                .expect("C_GetInterface exported");
            let gil = *lib
                .get::<unsafe extern "C" fn(*mut CK_INTERFACE, *mut CK_ULONG) -> CK_RV>(
                    b"C_GetInterfaceList\0",
                )
                .expect("C_GetInterfaceList exported");
            let gfl = *lib
                .get::<unsafe extern "C" fn(*mut *mut CK_FUNCTION_LIST) -> CK_RV>(
                    b"C_GetFunctionList\0",
                )
                .expect("C_GetFunctionList exported");
            let mut iface: *mut CK_INTERFACE = ptr::null_mut();
            assert_rv!(
                gi(ptr::null_mut(), ptr::null_mut(), &mut iface, 0),
                CKR_OK,
                "C_GetInterface(NULL, NULL)"
            );
            assert!(!iface.is_null(), "C_GetInterface gave a NULL interface");
            let list = (*iface).pFunctionList as *const CK_FUNCTION_LIST_3_0;
            assert!(
                !list.is_null(),
                "default interface has a NULL function list"
            );
            let mut l2: *mut CK_FUNCTION_LIST = ptr::null_mut();
            assert_rv!(gfl(&mut l2), CKR_OK, "C_GetFunctionList");
            assert!(!l2.is_null());
            Raw {
                f: *list,
                list2: l2,
                get_interface: gi,
                get_interface_list: gil,
                get_function_list: gfl,
                _lib: lib,
            }
        }
    }

    /// `C_Initialize` with `CKF_OS_LOCKING_OK` and `pReserved` = `reserved`.
    pub fn init_with(&self, reserved: &str) -> CK_RV {
        let c = CString::new(reserved).expect("no NUL in configuration");
        let mut args = CK_C_INITIALIZE_ARGS {
            CreateMutex: None,
            DestroyMutex: None,
            LockMutex: None,
            UnlockMutex: None,
            flags: CKF_OS_LOCKING_OK,
            pReserved: c.as_ptr() as *mut c_void,
        };
        ck!(self, C_Initialize(&mut args as *mut _ as *mut c_void))
    }

    /// `C_Initialize` naming the configuration file `conf`.
    pub fn init_conf(&self, conf: &Path) -> CK_RV {
        self.init_with(conf.to_str().expect("UTF-8 temp path"))
    }

    /// `C_Finalize(NULL)`.
    pub fn finalize(&self) -> CK_RV {
        ck!(self, C_Finalize(ptr::null_mut()))
    }

    /// All slot ids (`tokenPresent` = FALSE), via the two-call convention.
    pub fn slots(&self) -> Vec<CK_SLOT_ID> {
        let mut n: CK_ULONG = 0;
        assert_rv!(
            ck!(self, C_GetSlotList(CK_FALSE, ptr::null_mut(), &mut n)),
            CKR_OK,
            "C_GetSlotList length"
        );
        let mut v = vec![0; n as usize];
        assert_rv!(
            ck!(self, C_GetSlotList(CK_FALSE, v.as_mut_ptr(), &mut n)),
            CKR_OK,
            "C_GetSlotList"
        );
        v.truncate(n as usize);
        v
    }

    /// Opens a session, asserting success.
    pub fn open(&self, slot: CK_SLOT_ID, rw: bool) -> CK_SESSION_HANDLE {
        let (rv, h) = self.try_open(slot, rw);
        assert_rv!(rv, CKR_OK, "C_OpenSession(rw={rw})");
        assert_ne!(h, CK_INVALID_HANDLE);
        h
    }

    /// Opens a session and returns the `CK_RV` and handle.
    pub fn try_open(&self, slot: CK_SLOT_ID, rw: bool) -> (CK_RV, CK_SESSION_HANDLE) {
        let mut h = CK_INVALID_HANDLE;
        let flags = CKF_SERIAL_SESSION | if rw { CKF_RW_SESSION } else { 0 };
        let rv = ck!(
            self,
            C_OpenSession(slot, flags, ptr::null_mut(), None, &mut h)
        );
        (rv, h)
    }

    /// `C_Login`.
    pub fn login(&self, h: CK_SESSION_HANDLE, user: CK_USER_TYPE, pin: &[u8]) -> CK_RV {
        ck!(
            self,
            C_Login(h, user, pin.as_ptr() as *mut u8, pin.len() as CK_ULONG)
        )
    }

    /// `C_GetTokenInfo`, asserting success.
    pub fn token_info(&self, slot: CK_SLOT_ID) -> CK_TOKEN_INFO {
        let mut ti = CK_TOKEN_INFO::default();
        assert_rv!(
            ck!(self, C_GetTokenInfo(slot, &mut ti)),
            CKR_OK,
            "C_GetTokenInfo"
        );
        ti
    }

    /// `C_GetSessionInfo`, asserting success.
    pub fn session_info(&self, h: CK_SESSION_HANDLE) -> CK_SESSION_INFO {
        let mut si = CK_SESSION_INFO::default();
        assert_rv!(
            ck!(self, C_GetSessionInfo(h, &mut si)),
            CKR_OK,
            "C_GetSessionInfo"
        );
        si
    }

    /// `C_CreateObject`; returns the `CK_RV` and the handle.
    pub fn create(&self, h: CK_SESSION_HANDLE, t: &mut Template) -> (CK_RV, CK_OBJECT_HANDLE) {
        let mut o = CK_INVALID_HANDLE;
        let rv = ck!(self, C_CreateObject(h, t.ptr(), t.count(), &mut o));
        (rv, o)
    }

    /// Creates a secret key from known bytes, asserting success. `extra`
    /// attributes are appended (and win over the defaults by coming later
    /// only if the module takes the last; tests avoid duplicates).
    pub fn secret_key(
        &self,
        h: CK_SESSION_HANDLE,
        key_type: CK_KEY_TYPE,
        value: &[u8],
        token: bool,
        extra: Template,
    ) -> CK_OBJECT_HANDLE {
        let mut t = Template::new()
            .ulong(CKA_CLASS, CKO_SECRET_KEY)
            .ulong(CKA_KEY_TYPE, key_type)
            .bytes(CKA_VALUE, value)
            .bool(CKA_TOKEN, token);
        for attr in &extra.attrs {
            t = t.bytes(attr.type_, unsafe {
                std::slice::from_raw_parts(attr.pValue as *const u8, attr.ulValueLen as usize)
            });
        }
        let (rv, o) = self.create(h, &mut t);
        assert_rv!(rv, CKR_OK, "C_CreateObject(secret key)");
        assert_ne!(o, CK_INVALID_HANDLE);
        o
    }

    /// An AES key from `value` allowed to do everything (encrypt, decrypt,
    /// sign, verify, wrap, unwrap), extractable and not sensitive.
    pub fn aes_key(&self, h: CK_SESSION_HANDLE, value: &[u8], token: bool) -> CK_OBJECT_HANDLE {
        self.secret_key(h, CKK_AES, value, token, Template::all_usages())
    }

    /// Reads one attribute with the two-call convention.
    pub fn attr(
        &self,
        h: CK_SESSION_HANDLE,
        o: CK_OBJECT_HANDLE,
        t: CK_ATTRIBUTE_TYPE,
    ) -> Result<Vec<u8>, CK_RV> {
        let mut a = CK_ATTRIBUTE {
            type_: t,
            pValue: ptr::null_mut(),
            ulValueLen: 0,
        };
        let rv = ck!(self, C_GetAttributeValue(h, o, &mut a, 1));
        if rv != CKR_OK {
            return Err(rv);
        }
        let mut v = vec![0u8; a.ulValueLen as usize];
        a.pValue = v.as_mut_ptr() as *mut c_void;
        let rv = ck!(self, C_GetAttributeValue(h, o, &mut a, 1));
        if rv != CKR_OK {
            return Err(rv);
        }
        v.truncate(a.ulValueLen as usize);
        Ok(v)
    }

    /// Reads a `CK_BBOOL` attribute.
    pub fn attr_bool(
        &self,
        h: CK_SESSION_HANDLE,
        o: CK_OBJECT_HANDLE,
        t: CK_ATTRIBUTE_TYPE,
    ) -> Result<bool, CK_RV> {
        let v = self.attr(h, o, t)?;
        assert_eq!(
            v.len(),
            1,
            "CK_BBOOL attribute 0x{t:x} has length {}",
            v.len()
        );
        Ok(v[0] != 0)
    }

    /// `C_SetAttributeValue` with a template.
    pub fn set_attrs(&self, h: CK_SESSION_HANDLE, o: CK_OBJECT_HANDLE, mut t: Template) -> CK_RV {
        ck!(self, C_SetAttributeValue(h, o, t.ptr(), t.count()))
    }

    /// `C_FindObjectsInit` + `C_FindObjects` (in batches of `batch`) + Final.
    pub fn find(
        &self,
        h: CK_SESSION_HANDLE,
        t: Option<&mut Template>,
        batch: usize,
    ) -> Vec<CK_OBJECT_HANDLE> {
        let (p, n) = match t {
            Some(t) => (t.ptr(), t.count()),
            None => (ptr::null_mut(), 0),
        };
        assert_rv!(
            ck!(self, C_FindObjectsInit(h, p, n)),
            CKR_OK,
            "C_FindObjectsInit"
        );
        let mut all = Vec::new();
        loop {
            let mut buf = vec![CK_INVALID_HANDLE; batch];
            let mut got: CK_ULONG = 0;
            assert_rv!(
                ck!(
                    self,
                    C_FindObjects(h, buf.as_mut_ptr(), batch as CK_ULONG, &mut got)
                ),
                CKR_OK,
                "C_FindObjects"
            );
            assert!(got as usize <= batch);
            if got == 0 {
                break;
            }
            all.extend_from_slice(&buf[..got as usize]);
        }
        assert_rv!(
            ck!(self, C_FindObjectsFinal(h)),
            CKR_OK,
            "C_FindObjectsFinal"
        );
        all
    }

    /// Single-part encrypt (init + two calls); `Err` carries the first non-OK rv.
    pub fn encrypt(
        &self,
        h: CK_SESSION_HANDLE,
        m: &mut Mech,
        key: CK_OBJECT_HANDLE,
        data: &[u8],
    ) -> Result<Vec<u8>, CK_RV> {
        let rv = ck!(self, C_EncryptInit(h, m.ptr(), key));
        if rv != CKR_OK {
            return Err(rv);
        }
        self.two_call(|out, len| {
            ck!(
                self,
                C_Encrypt(
                    h,
                    data.as_ptr() as *mut u8,
                    data.len() as CK_ULONG,
                    out,
                    len
                )
            )
        })
    }

    /// Single-part decrypt (init + two calls).
    pub fn decrypt(
        &self,
        h: CK_SESSION_HANDLE,
        m: &mut Mech,
        key: CK_OBJECT_HANDLE,
        data: &[u8],
    ) -> Result<Vec<u8>, CK_RV> {
        let rv = ck!(self, C_DecryptInit(h, m.ptr(), key));
        if rv != CKR_OK {
            return Err(rv);
        }
        self.two_call(|out, len| {
            ck!(
                self,
                C_Decrypt(
                    h,
                    data.as_ptr() as *mut u8,
                    data.len() as CK_ULONG,
                    out,
                    len
                )
            )
        })
    }

    /// Single-part sign/MAC (init + two calls).
    pub fn sign(
        &self,
        h: CK_SESSION_HANDLE,
        m: &mut Mech,
        key: CK_OBJECT_HANDLE,
        data: &[u8],
    ) -> Result<Vec<u8>, CK_RV> {
        let rv = ck!(self, C_SignInit(h, m.ptr(), key));
        if rv != CKR_OK {
            return Err(rv);
        }
        self.two_call(|out, len| {
            ck!(
                self,
                C_Sign(
                    h,
                    data.as_ptr() as *mut u8,
                    data.len() as CK_ULONG,
                    out,
                    len
                )
            )
        })
    }

    /// Single-part digest (init + two calls).
    pub fn digest(
        &self,
        h: CK_SESSION_HANDLE,
        m: &mut Mech,
        data: &[u8],
    ) -> Result<Vec<u8>, CK_RV> {
        let rv = ck!(self, C_DigestInit(h, m.ptr()));
        if rv != CKR_OK {
            return Err(rv);
        }
        self.two_call(|out, len| {
            ck!(
                self,
                C_Digest(
                    h,
                    data.as_ptr() as *mut u8,
                    data.len() as CK_ULONG,
                    out,
                    len
                )
            )
        })
    }

    /// Runs a two-call output function: NULL buffer for the length, then a
    /// buffer of that length. The length query must succeed.
    pub fn two_call(
        &self,
        mut f: impl FnMut(*mut u8, *mut CK_ULONG) -> CK_RV,
    ) -> Result<Vec<u8>, CK_RV> {
        let mut n: CK_ULONG = 0;
        let rv = f(ptr::null_mut(), &mut n);
        if rv != CKR_OK {
            return Err(rv);
        }
        let mut v = vec![0u8; n as usize];
        let rv = f(v.as_mut_ptr(), &mut n);
        if rv != CKR_OK {
            return Err(rv);
        }
        assert!(n as usize <= v.len(), "length grew between the two calls");
        v.truncate(n as usize);
        Ok(v)
    }
}

/// Holds the module lock and calls `C_Finalize(NULL)` when dropped, so a
/// failing test leaves the process clean for the next one.
pub struct Finalizer<'a> {
    raw: &'a Raw,
    _g: MutexGuard<'static, ()>,
}

impl<'a> Finalizer<'a> {
    /// Takes the module lock for `raw`.
    pub fn new(raw: &'a Raw, g: MutexGuard<'static, ()>) -> Finalizer<'a> {
        Finalizer { raw, _g: g }
    }
}

impl Drop for Finalizer<'_> {
    fn drop(&mut self) {
        let _ = self.raw.finalize();
    }
}
