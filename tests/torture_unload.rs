//! Torture: load, use and unload the module 100 times, as a host that
//! dlopen()s PKCS#11 modules on demand does. Each cycle: `dlopen` (RTLD_NOW |
//! RTLD_LOCAL) of a private *copy* of the .so (so no other handle keeps it
//! loaded), `C_GetFunctionList`, `C_Initialize`, a login and an encryption
//! with the published result, `C_Finalize`, `dlclose`. Afterwards the thread
//! count is back where it started, RSS grew by less than 20 MB, and a
//! `fork()` still works (no atfork handler left pointing into unmapped code).

#[macro_use]
mod common;

#[path = "torture/support.rs"]
mod support;

use std::ffi::{c_void, CString};
use std::path::{Path, PathBuf};
use std::ptr::null_mut;

use common::sys::*;
use common::{
    exclusive, module_path, thread_ids, thread_name, write_conf, Template, SO_PIN, USER_PIN,
};
use libloading::os::unix::{Library, RTLD_LOCAL, RTLD_NOW};
use support::*;

macro_rules! call {
    ($f:expr, $name:ident ( $($a:expr),* $(,)? )) => {
        unsafe { ($f.$name.expect(stringify!($name)))($($a),*) }
    };
}

/// Resident set size of this process in KiB.
fn vm_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS line")
}

/// True when `path` is mapped into this process.
fn mapped(path: &Path) -> bool {
    let maps = std::fs::read_to_string("/proc/self/maps").expect("/proc/self/maps");
    maps.contains(path.to_str().expect("UTF-8 path"))
}

/// A private copy of the module and a configuration, in a temp dir.
struct Setup {
    _dir: tempfile::TempDir,
    copy: PathBuf,
    conf: CString,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = dir.path().join("libkeyrotor-torture-copy.so");
    std::fs::copy(module_path(), &copy).expect("copy the module");
    let conf = write_conf(dir.path(), "");
    let conf = CString::new(conf.to_str().expect("UTF-8")).expect("no NUL");
    Setup {
        _dir: dir,
        copy,
        conf,
    }
}

/// One load → use → unload cycle; `first` also initialises the token.
fn cycle(st: &Setup, i: usize, first: bool) {
    let lib = load_and_use(st, i, first);
    lib.close().unwrap_or_else(|e| panic!("dlclose #{i}: {e}"));
}

/// `dlopen`, the PKCS#11 work, `C_Finalize`; returns the open library.
fn load_and_use(st: &Setup, i: usize, first: bool) -> Library {
    let lib = unsafe { Library::open(Some(&st.copy), RTLD_NOW | RTLD_LOCAL) }
        .unwrap_or_else(|e| panic!("dlopen #{i}: {e}"));
    {
        let gfl = unsafe {
            lib.get::<unsafe extern "C" fn(*mut *mut CK_FUNCTION_LIST) -> CK_RV>(
                b"C_GetFunctionList\0",
            )
        }
        .expect("C_GetFunctionList exported");
        let mut fl: *mut CK_FUNCTION_LIST = null_mut();
        assert_rv!(unsafe { gfl(&mut fl) }, CKR_OK, "C_GetFunctionList #{i}");
        let f = unsafe { &*fl };
        let mut args = CK_C_INITIALIZE_ARGS {
            CreateMutex: None,
            DestroyMutex: None,
            LockMutex: None,
            UnlockMutex: None,
            flags: CKF_OS_LOCKING_OK,
            pReserved: st.conf.as_ptr() as *mut c_void,
        };
        assert_rv!(
            call!(f, C_Initialize(&mut args as *mut _ as *mut c_void)),
            CKR_OK,
            "C_Initialize #{i}"
        );
        let mut s: CK_SESSION_HANDLE = 0;
        let rw = CKF_SERIAL_SESSION | CKF_RW_SESSION;
        if first {
            let mut label = [b' '; 32];
            assert_rv!(
                call!(
                    f,
                    C_InitToken(0, SO_PIN.as_ptr() as *mut u8, 8, label.as_mut_ptr())
                ),
                CKR_OK
            );
            assert_rv!(
                call!(f, C_OpenSession(0, rw, null_mut(), None, &mut s)),
                CKR_OK
            );
            assert_rv!(
                call!(f, C_Login(s, CKU_SO, SO_PIN.as_ptr() as *mut u8, 8)),
                CKR_OK
            );
            assert_rv!(
                call!(f, C_InitPIN(s, USER_PIN.as_ptr() as *mut u8, 4)),
                CKR_OK
            );
            assert_rv!(call!(f, C_CloseSession(s)), CKR_OK);
        }
        assert_rv!(
            call!(f, C_OpenSession(0, rw, null_mut(), None, &mut s)),
            CKR_OK,
            "#{i}"
        );
        assert_rv!(
            call!(f, C_Login(s, CKU_USER, USER_PIN.as_ptr() as *mut u8, 4)),
            CKR_OK,
            "C_Login #{i}"
        );
        let mut t = Template::new()
            .ulong(CKA_CLASS, CKO_SECRET_KEY)
            .ulong(CKA_KEY_TYPE, CKK_AES)
            .bytes(CKA_VALUE, &common::vectors::h(common::vectors::GCM_K128))
            .bool(CKA_TOKEN, false)
            .bool(CKA_ENCRYPT, true);
        let mut k: CK_OBJECT_HANDLE = 0;
        assert_rv!(
            call!(f, C_CreateObject(s, t.ptr(), t.count(), &mut k)),
            CKR_OK
        );
        assert_rv!(call!(f, C_EncryptInit(s, gcm4().ptr(), k)), CKR_OK);
        let p = tc4_p();
        let mut out = [0u8; 76];
        let mut n: CK_ULONG = 76;
        assert_rv!(
            call!(
                f,
                C_Encrypt(s, p.as_ptr() as *mut u8, 60, out.as_mut_ptr(), &mut n)
            ),
            CKR_OK,
            "C_Encrypt #{i}"
        );
        assert_eq!(&out[..n as usize], &tc4_ct()[..], "cycle #{i}");
        assert_rv!(call!(f, C_Finalize(null_mut())), CKR_OK, "C_Finalize #{i}");
    }
    lib
}

/// Forks; the child exits at once. A crash in the child (an atfork handler
/// into unmapped code) shows as a signal.
fn fork_still_works() {
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        unsafe { libc::_exit(0) };
    }
    let mut status = 0;
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "the forked child died (status {status:#x}): a handler of the unloaded module ran"
    );
}

fn new_threads(before: &[u64]) -> Vec<String> {
    thread_ids()
        .into_iter()
        .filter(|t| !before.contains(t))
        .map(|t| format!("{t} ({})", thread_name(t)))
        .collect()
}

/// Runs `load_and_use` on a short-lived thread, then `dlclose`s from this
/// one (see the second test for why).
fn cycle_on_own_thread(st: &Setup, i: usize, first: bool) {
    let lib = std::thread::scope(|sc| {
        sc.spawn(|| load_and_use(st, i, first))
            .join()
            .expect("the cycle's thread panicked")
    });
    lib.close().unwrap_or_else(|e| panic!("dlclose #{i}: {e}"));
}

#[test]
fn load_use_unload_a_hundred_times() {
    let _g = exclusive();
    let st = setup();
    let threads = thread_ids();
    let rss0 = vm_rss_kib();
    let mut still = Vec::new();
    for i in 0..100 {
        cycle_on_own_thread(&st, i, i == 0);
        if mapped(&st.copy) {
            still.push(i);
        }
    }
    let rss = vm_rss_kib();
    eprintln!("VmRSS: {rss0} KiB before, {rss} KiB after 100 load/use/unload cycles");
    assert!(
        still.is_empty(),
        "the module stayed mapped after dlclose in cycles {still:?}: something (a thread, \
         a NODELETE flag, a pending thread-local destructor) pins it"
    );
    // Under plain `cargo test` libtest's threads for other tests come and go.
    let left = new_threads(&threads);
    if std::env::var_os("NEXTEST_RUN_ID").is_some() {
        assert!(left.is_empty(), "threads alive after 100 unloads: {left:?}");
        assert_eq!(thread_ids().len(), threads.len(), "thread count");
    }
    assert!(
        rss < rss0 + 20 * 1024,
        "RSS grew by {} KiB over 100 load/unload cycles",
        rss - rss0
    );
    fork_still_works();
}

#[test]
fn unload_from_the_thread_that_initialised() {
    // A host usually loads, uses and unloads a module from one long-lived
    // thread. glibc does not unmap a library while a live thread holds a
    // thread-local destructor it registered (__cxa_thread_atexit_impl), so
    // anything the module leaves in the caller's thread-locals pins it.
    let _g = exclusive();
    let st = setup();
    let threads = thread_ids();
    let rss0 = vm_rss_kib();
    let mut still = Vec::new();
    for i in 0..20 {
        cycle(&st, i, i == 0);
        if mapped(&st.copy) {
            still.push(i);
        }
    }
    let rss = vm_rss_kib();
    eprintln!("VmRSS: {rss0} KiB before, {rss} KiB after 20 cycles on one thread");
    let left = new_threads(&threads);
    if std::env::var_os("NEXTEST_RUN_ID").is_some() {
        assert!(left.is_empty(), "threads alive after the unloads: {left:?}");
    }
    assert!(rss < rss0 + 20 * 1024, "RSS grew by {} KiB", rss - rss0);
    fork_still_works();
    // Known limit (documented in README): calls leave Rust thread-locals with
    // destructors (std's thread handle, arc-swap's debt node) on the calling
    // thread, so glibc keeps the copy mapped until that thread exits. What
    // must hold: reloading reuses it (no growth above), and it goes away
    // with the thread.
    if !still.is_empty() {
        eprintln!("the copy stayed mapped while its thread lived (cycles {still:?})");
    }
}
