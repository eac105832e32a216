//! [`TestToken`]: a temp-dir configuration, the library initialised through
//! `cryptoki`, and a token with SO PIN `12345678` and user PIN `1234`.

use std::ffi::{c_void, CString};
use std::path::{Path, PathBuf};
use std::ptr;
use std::sync::MutexGuard;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};

use super::sys::*;
use super::{exclusive, module_path, rv_name, write_conf, Raw, SO_PIN, TOKEN_LABEL, USER_PIN};

/// A configured, initialised library with a ready token in slot `slot`.
pub struct TestToken {
    /// Direct access to the module (same mapping as `pkcs11`).
    pub raw: Raw,
    /// The `cryptoki` context (loaded with `Pkcs11::new`, i.e. `C_GetInterface`).
    pub pkcs11: Pkcs11,
    /// The test slot.
    pub slot: CK_SLOT_ID,
    /// The directory holding `keyrotor.toml` and the store.
    pub path: PathBuf,
    /// The configuration file.
    pub conf: PathBuf,
    _dir: Option<tempfile::TempDir>,
    _g: MutexGuard<'static, ()>,
}

impl Drop for TestToken {
    fn drop(&mut self) {
        let _ = self.raw.finalize();
    }
}

impl TestToken {
    /// A fresh token with default slot options.
    pub fn new() -> TestToken {
        TestToken::with_options("")
    }

    /// A fresh token; `extra` lines go into the `[[slot]]` table.
    pub fn with_options(extra: &str) -> TestToken {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().to_path_buf();
        write_conf(&path, extra);
        let t = TestToken::start(path, Some(dir));
        t.init_token();
        t
    }

    /// Initialises the library on an existing directory (written by
    /// [`write_conf`]) without touching the token.
    pub fn attach(path: &Path) -> TestToken {
        TestToken::start(path.to_path_buf(), None)
    }

    fn start(path: PathBuf, dir: Option<tempfile::TempDir>) -> TestToken {
        let g = exclusive();
        let conf = path.join("keyrotor.toml");
        let pkcs11 = Pkcs11::new(module_path()).expect("Pkcs11::new");
        let raw = Raw::load();
        let c = CString::new(conf.to_str().expect("UTF-8 path")).expect("no NUL");
        let nn = ptr::NonNull::new(c.as_ptr() as *mut c_void).expect("non-NULL");
        let args =
            unsafe { CInitializeArgs::new_with_reserved(CInitializeFlags::OS_LOCKING_OK, nn) };
        pkcs11
            .initialize(args)
            .expect("C_Initialize through cryptoki");
        let slots = raw.slots();
        assert_eq!(slots.len(), 1, "one configured slot");
        TestToken {
            slot: slots[0],
            raw,
            pkcs11,
            path,
            conf,
            _dir: dir,
            _g: g,
        }
    }

    /// `C_InitToken` with the SO PIN, then the SO sets the user PIN.
    pub fn init_token(&self) {
        let mut label = [b' '; 32];
        label[..TOKEN_LABEL.len()].copy_from_slice(TOKEN_LABEL.as_bytes());
        let r = &self.raw;
        assert_rv!(
            ck!(
                r,
                C_InitToken(
                    self.slot,
                    SO_PIN.as_ptr() as *mut u8,
                    SO_PIN.len() as CK_ULONG,
                    label.as_mut_ptr()
                )
            ),
            CKR_OK,
            "C_InitToken"
        );
        let h = r.open(self.slot, true);
        assert_rv!(r.login(h, CKU_SO, SO_PIN), CKR_OK, "SO login");
        assert_rv!(
            ck!(
                r,
                C_InitPIN(h, USER_PIN.as_ptr() as *mut u8, USER_PIN.len() as CK_ULONG)
            ),
            CKR_OK,
            "C_InitPIN"
        );
        assert_rv!(ck!(r, C_Logout(h)), CKR_OK, "SO logout");
        assert_rv!(ck!(r, C_CloseSession(h)), CKR_OK, "C_CloseSession");
    }

    /// A RW session with the user logged in (login is per application, so a
    /// second call finds the user already logged in).
    pub fn user_session(&self) -> CK_SESSION_HANDLE {
        let h = self.raw.open(self.slot, true);
        let rv = self.raw.login(h, CKU_USER, USER_PIN);
        assert!(
            rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN,
            "user login: {}",
            rv_name(rv)
        );
        h
    }

    /// The same through `cryptoki`.
    pub fn ck_user_session(&self) -> cryptoki::session::Session {
        use cryptoki::session::UserType;
        use cryptoki::types::AuthPin;
        let slot = cryptoki::slot::Slot::try_from(self.slot).expect("slot id");
        let s = self.pkcs11.open_rw_session(slot).expect("open_rw_session");
        let pin = AuthPin::new(
            String::from_utf8(USER_PIN.to_vec())
                .expect("ASCII PIN")
                .into(),
        );
        match s.login(UserType::User, Some(&pin)) {
            Ok(()) => {}
            Err(cryptoki::error::Error::Pkcs11(
                cryptoki::error::RvError::UserAlreadyLoggedIn,
                _,
            )) => {}
            Err(e) => panic!("user login through cryptoki: {e}"),
        }
        s
    }
}
