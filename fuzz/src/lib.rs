//! keyrotor fuzz harness crate: the targets in `fuzz_targets/` are thin
//! wrappers around [`harness`], which `tests/fuzz_regressions.rs` in the
//! main crate also includes.

pub mod harness;

/// Defines `__asan_default_options` in a fuzz target binary.
///
/// The bundled SQLite (`sqlite3.c`) has two function-local statics named
/// `aiOff`; with AddressSanitizer they register as the same global and the
/// ODR check aborts at start-up. That is a false positive, so the check is
/// off by default; `ASAN_OPTIONS` still overrides.
#[macro_export]
macro_rules! asan_default_options {
    () => {
        /// Read by the AddressSanitizer runtime at start-up.
        #[no_mangle]
        pub extern "C" fn __asan_default_options() -> *const std::ffi::c_char {
            c"detect_odr_violation=0".as_ptr()
        }
    };
}
