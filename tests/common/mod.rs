//! Shared support for the integration tests: finding the built module, a raw
//! loader (libloading + `cryptoki_sys` function lists, for tests that must pass
//! NULLs or see exact `CK_RV`s), templates and mechanisms with owned storage,
//! and [`TestToken`]: a temp-dir configuration, the library initialised through
//! `cryptoki`, and a token with SO PIN `12345678` and user PIN `1234`.
//!
//! PKCS#11 state is per process. nextest runs every test in its own process;
//! under plain `cargo test` tests share one, so everything that touches the
//! module holds [`exclusive`] and finalizes before releasing it.
#![allow(dead_code, clippy::missing_safety_doc, clippy::len_without_is_empty)]

// The macros come first: their textual scope covers the submodules below.
/// Calls a function of a [`Raw`]'s 3.0 list: `ck!(raw, C_GetInfo(&mut info))`.
// The macro exists to make FFI calls terse in tests; its arguments are the
// raw pointers under test, so they are deliberately inside the unsafe block.
macro_rules! ck {
    ($raw:expr, $f:ident ( $($a:expr),* $(,)? )) => {
        unsafe { ($raw.f.$f.expect(stringify!($f)))($($a),*) }
    };
}

/// Asserts a `CK_RV` and prints both sides by name.
macro_rules! assert_rv {
    ($actual:expr, $expected:expr $(,)?) => {{
        let a: $crate::common::sys::CK_RV = $actual;
        let e: $crate::common::sys::CK_RV = $expected;
        assert!(a == e, "expected {}, got {}", $crate::common::rv_name(e), $crate::common::rv_name(a));
    }};
    ($actual:expr, $expected:expr, $($msg:tt)+) => {{
        let a: $crate::common::sys::CK_RV = $actual;
        let e: $crate::common::sys::CK_RV = $expected;
        assert!(
            a == e,
            "{}: expected {}, got {}",
            format!($($msg)+),
            $crate::common::rv_name(e),
            $crate::common::rv_name(a)
        );
    }};
}

pub mod raw;
pub mod template;
pub mod token;
pub mod vectors;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, Once};

pub use cryptoki_sys as sys;
use sys::*;

// Each test binary uses a different subset.
#[allow(unused_imports)]
pub use raw::{Finalizer, Raw};
#[allow(unused_imports)]
pub use template::{GcmMsg, Mech, Template};
pub use token::TestToken;

/// SO PIN of every test token.
pub const SO_PIN: &[u8] = b"12345678";
/// User PIN of every test token.
pub const USER_PIN: &[u8] = b"1234";
/// Label given to test tokens by `C_InitToken`.
pub const TOKEN_LABEL: &str = "test";

/// Where the module under test is: `$KEYROTOR_TEST_MODULE`, else
/// `libkeyrotor.so` one directory above the running test executable
/// (`target/debug/deps/x` → `target/debug/libkeyrotor.so`).
pub fn module_path() -> PathBuf {
    if let Some(p) = std::env::var_os("KEYROTOR_TEST_MODULE").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent().expect("exe dir").join("../libkeyrotor.so")
}

static MODULE_LOCK: Mutex<()> = Mutex::new(());
static ENV: Once = Once::new();

/// Serialises use of the module within one process and sets the test
/// environment once: a cheap PIN KDF, and XDG paths that cannot be written, so
/// a configuration mistake fails instead of touching the real home directory.
pub fn exclusive() -> MutexGuard<'static, ()> {
    let g = MODULE_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    ENV.call_once(|| {
        std::env::set_var("KEYROTOR_KDF_MEMORY_KIB", "64");
        std::env::set_var("XDG_CONFIG_HOME", "/nonexistent/keyrotor-tests/config");
        std::env::set_var("XDG_DATA_HOME", "/nonexistent/keyrotor-tests/data");
        std::env::remove_var("KEYROTOR_CONF");
    });
    g
}

/// Readable name of a return value, for assertion messages.
pub fn rv_name(rv: CK_RV) -> String {
    let known: &[(CK_RV, &str)] = &[
        (CKR_OK, "CKR_OK"),
        (CKR_CANCEL, "CKR_CANCEL"),
        (CKR_HOST_MEMORY, "CKR_HOST_MEMORY"),
        (CKR_SLOT_ID_INVALID, "CKR_SLOT_ID_INVALID"),
        (CKR_GENERAL_ERROR, "CKR_GENERAL_ERROR"),
        (CKR_FUNCTION_FAILED, "CKR_FUNCTION_FAILED"),
        (CKR_ARGUMENTS_BAD, "CKR_ARGUMENTS_BAD"),
        (CKR_NO_EVENT, "CKR_NO_EVENT"),
        (CKR_NEED_TO_CREATE_THREADS, "CKR_NEED_TO_CREATE_THREADS"),
        (CKR_CANT_LOCK, "CKR_CANT_LOCK"),
        (CKR_ATTRIBUTE_READ_ONLY, "CKR_ATTRIBUTE_READ_ONLY"),
        (CKR_ATTRIBUTE_SENSITIVE, "CKR_ATTRIBUTE_SENSITIVE"),
        (CKR_ATTRIBUTE_TYPE_INVALID, "CKR_ATTRIBUTE_TYPE_INVALID"),
        (CKR_ATTRIBUTE_VALUE_INVALID, "CKR_ATTRIBUTE_VALUE_INVALID"),
        (CKR_ACTION_PROHIBITED, "CKR_ACTION_PROHIBITED"),
        (CKR_DATA_INVALID, "CKR_DATA_INVALID"),
        (CKR_DATA_LEN_RANGE, "CKR_DATA_LEN_RANGE"),
        (CKR_DEVICE_ERROR, "CKR_DEVICE_ERROR"),
        (CKR_ENCRYPTED_DATA_INVALID, "CKR_ENCRYPTED_DATA_INVALID"),
        (CKR_ENCRYPTED_DATA_LEN_RANGE, "CKR_ENCRYPTED_DATA_LEN_RANGE"),
        (CKR_FUNCTION_CANCELED, "CKR_FUNCTION_CANCELED"),
        (CKR_FUNCTION_NOT_PARALLEL, "CKR_FUNCTION_NOT_PARALLEL"),
        (CKR_FUNCTION_NOT_SUPPORTED, "CKR_FUNCTION_NOT_SUPPORTED"),
        (CKR_KEY_HANDLE_INVALID, "CKR_KEY_HANDLE_INVALID"),
        (CKR_KEY_SIZE_RANGE, "CKR_KEY_SIZE_RANGE"),
        (CKR_KEY_TYPE_INCONSISTENT, "CKR_KEY_TYPE_INCONSISTENT"),
        (
            CKR_KEY_FUNCTION_NOT_PERMITTED,
            "CKR_KEY_FUNCTION_NOT_PERMITTED",
        ),
        (CKR_KEY_NOT_WRAPPABLE, "CKR_KEY_NOT_WRAPPABLE"),
        (CKR_KEY_UNEXTRACTABLE, "CKR_KEY_UNEXTRACTABLE"),
        (CKR_MECHANISM_INVALID, "CKR_MECHANISM_INVALID"),
        (CKR_MECHANISM_PARAM_INVALID, "CKR_MECHANISM_PARAM_INVALID"),
        (CKR_OBJECT_HANDLE_INVALID, "CKR_OBJECT_HANDLE_INVALID"),
        (CKR_OPERATION_ACTIVE, "CKR_OPERATION_ACTIVE"),
        (
            CKR_OPERATION_NOT_INITIALIZED,
            "CKR_OPERATION_NOT_INITIALIZED",
        ),
        (CKR_PIN_INCORRECT, "CKR_PIN_INCORRECT"),
        (CKR_PIN_INVALID, "CKR_PIN_INVALID"),
        (CKR_PIN_LEN_RANGE, "CKR_PIN_LEN_RANGE"),
        (CKR_PIN_EXPIRED, "CKR_PIN_EXPIRED"),
        (CKR_PIN_LOCKED, "CKR_PIN_LOCKED"),
        (CKR_SESSION_CLOSED, "CKR_SESSION_CLOSED"),
        (CKR_SESSION_COUNT, "CKR_SESSION_COUNT"),
        (CKR_SESSION_HANDLE_INVALID, "CKR_SESSION_HANDLE_INVALID"),
        (
            CKR_SESSION_PARALLEL_NOT_SUPPORTED,
            "CKR_SESSION_PARALLEL_NOT_SUPPORTED",
        ),
        (CKR_SESSION_READ_ONLY, "CKR_SESSION_READ_ONLY"),
        (CKR_SESSION_EXISTS, "CKR_SESSION_EXISTS"),
        (CKR_SESSION_READ_ONLY_EXISTS, "CKR_SESSION_READ_ONLY_EXISTS"),
        (
            CKR_SESSION_READ_WRITE_SO_EXISTS,
            "CKR_SESSION_READ_WRITE_SO_EXISTS",
        ),
        (CKR_SIGNATURE_INVALID, "CKR_SIGNATURE_INVALID"),
        (CKR_SIGNATURE_LEN_RANGE, "CKR_SIGNATURE_LEN_RANGE"),
        (CKR_TEMPLATE_INCOMPLETE, "CKR_TEMPLATE_INCOMPLETE"),
        (CKR_TEMPLATE_INCONSISTENT, "CKR_TEMPLATE_INCONSISTENT"),
        (CKR_TOKEN_NOT_PRESENT, "CKR_TOKEN_NOT_PRESENT"),
        (CKR_TOKEN_NOT_RECOGNIZED, "CKR_TOKEN_NOT_RECOGNIZED"),
        (CKR_TOKEN_WRITE_PROTECTED, "CKR_TOKEN_WRITE_PROTECTED"),
        (
            CKR_UNWRAPPING_KEY_HANDLE_INVALID,
            "CKR_UNWRAPPING_KEY_HANDLE_INVALID",
        ),
        (
            CKR_UNWRAPPING_KEY_SIZE_RANGE,
            "CKR_UNWRAPPING_KEY_SIZE_RANGE",
        ),
        (
            CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT,
            "CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT",
        ),
        (CKR_USER_ALREADY_LOGGED_IN, "CKR_USER_ALREADY_LOGGED_IN"),
        (CKR_USER_NOT_LOGGED_IN, "CKR_USER_NOT_LOGGED_IN"),
        (CKR_USER_PIN_NOT_INITIALIZED, "CKR_USER_PIN_NOT_INITIALIZED"),
        (CKR_USER_TYPE_INVALID, "CKR_USER_TYPE_INVALID"),
        (
            CKR_USER_ANOTHER_ALREADY_LOGGED_IN,
            "CKR_USER_ANOTHER_ALREADY_LOGGED_IN",
        ),
        (CKR_USER_TOO_MANY_TYPES, "CKR_USER_TOO_MANY_TYPES"),
        (CKR_WRAPPED_KEY_INVALID, "CKR_WRAPPED_KEY_INVALID"),
        (CKR_WRAPPED_KEY_LEN_RANGE, "CKR_WRAPPED_KEY_LEN_RANGE"),
        (
            CKR_WRAPPING_KEY_HANDLE_INVALID,
            "CKR_WRAPPING_KEY_HANDLE_INVALID",
        ),
        (CKR_WRAPPING_KEY_SIZE_RANGE, "CKR_WRAPPING_KEY_SIZE_RANGE"),
        (
            CKR_WRAPPING_KEY_TYPE_INCONSISTENT,
            "CKR_WRAPPING_KEY_TYPE_INCONSISTENT",
        ),
        (
            CKR_RANDOM_SEED_NOT_SUPPORTED,
            "CKR_RANDOM_SEED_NOT_SUPPORTED",
        ),
        (CKR_RANDOM_NO_RNG, "CKR_RANDOM_NO_RNG"),
        (CKR_DOMAIN_PARAMS_INVALID, "CKR_DOMAIN_PARAMS_INVALID"),
        (CKR_BUFFER_TOO_SMALL, "CKR_BUFFER_TOO_SMALL"),
        (CKR_SAVED_STATE_INVALID, "CKR_SAVED_STATE_INVALID"),
        (CKR_INFORMATION_SENSITIVE, "CKR_INFORMATION_SENSITIVE"),
        (CKR_STATE_UNSAVEABLE, "CKR_STATE_UNSAVEABLE"),
        (CKR_CRYPTOKI_NOT_INITIALIZED, "CKR_CRYPTOKI_NOT_INITIALIZED"),
        (
            CKR_CRYPTOKI_ALREADY_INITIALIZED,
            "CKR_CRYPTOKI_ALREADY_INITIALIZED",
        ),
        (CKR_MUTEX_BAD, "CKR_MUTEX_BAD"),
        (CKR_MUTEX_NOT_LOCKED, "CKR_MUTEX_NOT_LOCKED"),
        (CKR_OPERATION_CANCEL_FAILED, "CKR_OPERATION_CANCEL_FAILED"),
    ];
    known.iter().find(|(v, _)| *v == rv).map_or_else(
        || format!("CK_RV 0x{rv:08x}"),
        |(_, n)| format!("{n} (0x{rv:x})"),
    )
}

/// Writes `<dir>/keyrotor.toml` with one software slot storing in
/// `<dir>/slot0.sqlite`; `extra` lines are added to the `[[slot]]` table.
pub fn write_conf(dir: &Path, extra: &str) -> PathBuf {
    let conf = dir.join("keyrotor.toml");
    std::fs::write(&conf, conf_text(dir, extra)).expect("write keyrotor.toml");
    conf
}

/// The configuration text [`write_conf`] writes.
pub fn conf_text(dir: &Path, extra: &str) -> String {
    format!(
        "[[slot]]\nlabel = \"{TOKEN_LABEL}\"\nbackend = \"software\"\nstore = \"{}\"\n{extra}\n",
        dir.join("slot0.sqlite").display()
    )
}

/// Thread ids of this process (entries of `/proc/self/task`).
pub fn thread_ids() -> Vec<u64> {
    let mut v: Vec<u64> = std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    v.sort_unstable();
    v
}

/// The `comm` name of thread `tid`, for messages.
pub fn thread_name(tid: u64) -> String {
    std::fs::read_to_string(format!("/proc/self/task/{tid}/comm"))
        .map_or_else(|_| "?".into(), |s| s.trim().to_string())
}

/// Asserts a fixed-size PKCS#11 info string is blank-padded text.
pub fn assert_padded(field: &str, bytes: &[u8]) {
    assert!(!bytes.contains(&0), "{field} contains NUL bytes: {bytes:?}");
    assert!(
        bytes.iter().all(|b| (0x20..0x7f).contains(b) || *b >= 0x80),
        "{field} contains control characters: {bytes:?}"
    );
}

/// The text of a blank-padded field without the padding.
pub fn unpad(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .trim_end_matches(' ')
        .to_string()
}
