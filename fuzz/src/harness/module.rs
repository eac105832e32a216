//! The module under test, loaded in process: one `C_Initialize` per process
//! against a temporary SQLite store, an initialised token, and a logged-in
//! anchor session that stays open (closing the last session would log out).
//! Also the checks every target applies to return values.

use std::ffi::{c_void, CString};
use std::path::PathBuf;
use std::ptr;
use std::sync::OnceLock;

use cryptoki_sys as sys;
use keyrotor::ffi::{general, object, session, slot_token};
use sys::{CK_ATTRIBUTE, CK_OBJECT_HANDLE, CK_RV, CK_SESSION_HANDLE, CK_SLOT_ID, CK_ULONG};

/// SO PIN of the fuzz token.
pub const SO_PIN: &[u8] = b"12345678";
/// User PIN of the fuzz token.
pub const USER_PIN: &[u8] = b"1234";

/// The initialised library, its slot and the anchor session.
pub struct Module {
    /// The only configured slot.
    pub slot: CK_SLOT_ID,
    /// Kept open (and logged in) for the life of the process.
    pub anchor: CK_SESSION_HANDLE,
    /// Directory holding the store; removed at exit.
    pub dir: PathBuf,
}

static MODULE: OnceLock<Module> = OnceLock::new();

/// The library, initialised on first use.
pub fn module() -> &'static Module {
    MODULE.get_or_init(init)
}

/// Panics (a fuzzer crash) unless `rv` is `CKR_OK`. For set-up steps only.
pub fn ok(rv: CK_RV, what: &str) {
    assert!(rv == sys::CKR_OK, "{what}: {}", name(rv));
}

/// Readable name of a return value.
pub fn name(rv: CK_RV) -> String {
    format!("{} (0x{rv:x})", keyrotor::error::rv_name(rv))
}

/// Panics on return values that no caller input may cause: internal errors,
/// store failures, and losing the library, session or login the harness
/// holds. Returns `rv` so calls can be chained.
pub fn check(rv: CK_RV, what: &str) -> CK_RV {
    if tracing() {
        eprintln!("[fuzz] {what}: {}", name(rv));
    }
    let bug = matches!(
        rv,
        sys::CKR_GENERAL_ERROR
            | sys::CKR_DEVICE_ERROR
            | sys::CKR_HOST_MEMORY
            | sys::CKR_CRYPTOKI_NOT_INITIALIZED
            | sys::CKR_SESSION_HANDLE_INVALID
            | sys::CKR_SESSION_CLOSED
    );
    assert!(!bug, "{what} returned {}", name(rv));
    rv
}

/// Whether `KEYROTOR_FUZZ_TRACE` is set: then every checked call prints
/// its result, to see where an input goes.
pub fn tracing() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("KEYROTOR_FUZZ_TRACE").is_some())
}

/// Whether finding `id` (see fuzz/README.md) is listed in
/// `KEYROTOR_FUZZ_SKIP_KNOWN` (comma-separated, e.g. `F1`): long runs set
/// it to keep looking past a bug that is already reported. Unset by
/// default, so the smoke script and the regression tests still fail on it.
pub fn known_skipped(id: &str) -> bool {
    static LIST: OnceLock<Vec<String>> = OnceLock::new();
    LIST.get_or_init(|| {
        std::env::var("KEYROTOR_FUZZ_SKIP_KNOWN")
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_string())
            .collect()
    })
    .iter()
    .any(|x| x == id)
}

/// Removes the store directory when the process exits normally.
extern "C" fn remove_dir_at_exit() {
    if let Some(m) = MODULE.get() {
        let _ = std::fs::remove_dir_all(&m.dir);
    }
}

fn init() -> Module {
    // A cheap PIN KDF: login cost would otherwise dominate set-up.
    std::env::set_var("KEYROTOR_KDF_MEMORY_KIB", "64");
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir =
        std::env::temp_dir().join(format!("keyrotor-fuzz-{}-{nanos:08x}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create the store directory");
    // SAFETY: registering a plain extern "C" function with no captured state.
    unsafe { libc::atexit(remove_dir_at_exit) };
    let conf = format!(
        "[log]\nlevel = \"error\"\n\n[[slot]]\nlabel = \"fuzz\"\nbackend = \"software\"\n\
         store = \"{}\"\n",
        dir.join("slot0.sqlite").display()
    );
    let conf = CString::new(conf).expect("no NUL in the configuration");
    let mut args = sys::CK_C_INITIALIZE_ARGS {
        CreateMutex: None,
        DestroyMutex: None,
        LockMutex: None,
        UnlockMutex: None,
        flags: sys::CKF_OS_LOCKING_OK,
        pReserved: conf.as_ptr() as *mut c_void,
    };
    // SAFETY: args and the configuration string outlive the call.
    ok(
        unsafe { general::C_Initialize(&mut args as *mut _ as *mut c_void) },
        "C_Initialize",
    );

    let mut slots = [0 as CK_SLOT_ID; 4];
    let mut n = slots.len() as CK_ULONG;
    // SAFETY: `slots` has `n` entries.
    ok(
        unsafe { slot_token::C_GetSlotList(sys::CK_TRUE, slots.as_mut_ptr(), &mut n) },
        "C_GetSlotList",
    );
    assert_eq!(n, 1, "one configured slot");
    let slot = slots[0];

    let mut label = [b' '; 32];
    label[..4].copy_from_slice(b"fuzz");
    // SAFETY: PIN and 32-byte label buffers as the call requires.
    ok(
        unsafe {
            slot_token::C_InitToken(
                slot,
                SO_PIN.as_ptr() as *mut u8,
                SO_PIN.len() as CK_ULONG,
                label.as_mut_ptr(),
            )
        },
        "C_InitToken",
    );
    let so = open_raw(slot);
    ok(login(so, sys::CKU_SO, SO_PIN), "SO C_Login");
    // SAFETY: PIN buffer of the stated length.
    ok(
        unsafe {
            slot_token::C_InitPIN(so, USER_PIN.as_ptr() as *mut u8, USER_PIN.len() as CK_ULONG)
        },
        "C_InitPIN",
    );
    // SAFETY: no pointers.
    ok(unsafe { session::C_Logout(so) }, "SO C_Logout");
    // SAFETY: no pointers.
    ok(unsafe { session::C_CloseSession(so) }, "C_CloseSession");

    let anchor = open_raw(slot);
    ok(login(anchor, sys::CKU_USER, USER_PIN), "user C_Login");
    Module { slot, anchor, dir }
}

fn open_raw(slot: CK_SLOT_ID) -> CK_SESSION_HANDLE {
    let mut h: CK_SESSION_HANDLE = 0;
    // SAFETY: `h` is writable; no application pointer or callback.
    ok(
        unsafe {
            session::C_OpenSession(
                slot,
                sys::CKF_SERIAL_SESSION | sys::CKF_RW_SESSION,
                ptr::null_mut(),
                None,
                &mut h,
            )
        },
        "C_OpenSession",
    );
    h
}

fn login(h: CK_SESSION_HANDLE, user: sys::CK_USER_TYPE, pin: &[u8]) -> CK_RV {
    // SAFETY: PIN buffer of the stated length.
    unsafe { session::C_Login(h, user, pin.as_ptr() as *mut u8, pin.len() as CK_ULONG) }
}

/// A new read/write session of the (already logged-in) user.
pub fn open_session() -> CK_SESSION_HANDLE {
    let m = module();
    let h = open_raw(m.slot);
    // Login is per application: the anchor session already holds it.
    let rv = login(h, sys::CKU_USER, USER_PIN);
    assert!(
        rv == sys::CKR_OK || rv == sys::CKR_USER_ALREADY_LOGGED_IN,
        "user login on a new session: {}",
        name(rv)
    );
    h
}

/// Closes a session the harness opened.
pub fn close_session(h: CK_SESSION_HANDLE) {
    // SAFETY: no pointers.
    ok(unsafe { session::C_CloseSession(h) }, "C_CloseSession");
}

/// Generates a key with a fixed, well-formed template; panics on failure.
pub fn generate(
    h: CK_SESSION_HANDLE,
    mech: sys::CK_MECHANISM_TYPE,
    attrs: &[(sys::CK_ATTRIBUTE_TYPE, Vec<u8>)],
) -> CK_OBJECT_HANDLE {
    let mut bufs: Vec<Vec<u8>> = attrs.iter().map(|(_, v)| v.clone()).collect();
    let mut t: Vec<CK_ATTRIBUTE> = attrs
        .iter()
        .zip(bufs.iter_mut())
        .map(|((kind, _), b)| CK_ATTRIBUTE {
            type_: *kind,
            pValue: b.as_mut_ptr() as *mut c_void,
            ulValueLen: b.len() as CK_ULONG,
        })
        .collect();
    let mut m = sys::CK_MECHANISM {
        mechanism: mech,
        pParameter: ptr::null_mut(),
        ulParameterLen: 0,
    };
    let mut key: CK_OBJECT_HANDLE = 0;
    // SAFETY: the template points into `bufs`, which outlives the call.
    ok(
        unsafe {
            keyrotor::ffi::key_mgmt::C_GenerateKey(
                h,
                &mut m,
                t.as_mut_ptr(),
                t.len() as CK_ULONG,
                &mut key,
            )
        },
        "C_GenerateKey (fixed template)",
    );
    key
}

/// `CK_BBOOL` attribute value.
pub fn b(v: bool) -> Vec<u8> {
    vec![if v { sys::CK_TRUE } else { sys::CK_FALSE }]
}

/// `CK_ULONG` attribute value.
pub fn ul(v: CK_ULONG) -> Vec<u8> {
    v.to_ne_bytes().to_vec()
}

/// Destroys an object the harness created; it may refuse (not destroyable).
pub fn destroy(h: CK_SESSION_HANDLE, o: CK_OBJECT_HANDLE) -> CK_RV {
    // SAFETY: no pointers.
    check(unsafe { object::C_DestroyObject(h, o) }, "C_DestroyObject")
}
