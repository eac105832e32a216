//! After `fork()` the child must call `C_Initialize` again: until then every
//! call is `CKR_CRYPTOKI_NOT_INITIALIZED`; afterwards the module works in the
//! child (an AES-GCM encryption against a published vector), and the parent
//! is unaffected.

#[macro_use]
mod common;

use std::time::{Duration, Instant};

use common::sys::*;
use common::vectors::*;
use common::{Mech, Raw, TestToken, USER_PIN};

/// Exit codes of the child, one per step, so the parent can say which failed.
const STEPS: &[(i32, &str)] = &[
    (
        10,
        "C_GetInfo in the child was not CKR_CRYPTOKI_NOT_INITIALIZED",
    ),
    (
        11,
        "C_GetSessionInfo(parent's session) in the child was not CKR_CRYPTOKI_NOT_INITIALIZED",
    ),
    (12, "C_Initialize in the child did not return CKR_OK"),
    (13, "C_OpenSession in the child failed"),
    (14, "C_Login(USER) in the child failed"),
    (15, "C_CreateObject (AES key) in the child failed"),
    (16, "AES-GCM encryption in the child failed"),
    (
        17,
        "AES-GCM ciphertext in the child differs from McGrew-Viega test case 4",
    ),
    (18, "the parent's token key was not found in the child"),
    (19, "C_Finalize in the child did not return CKR_OK"),
    (99, "the child panicked"),
];

/// Everything the child does; returns 0 or the failing step's code. No
/// printing: the child of a multithreaded process should stay minimal.
fn child(
    raw: &Raw,
    conf: &std::path::Path,
    parent_session: CK_SESSION_HANDLE,
    expected: &[u8],
) -> i32 {
    let mut info = CK_INFO::default();
    if ck!(raw, C_GetInfo(&mut info)) != CKR_CRYPTOKI_NOT_INITIALIZED {
        return 10;
    }
    let mut si = CK_SESSION_INFO::default();
    if ck!(raw, C_GetSessionInfo(parent_session, &mut si)) != CKR_CRYPTOKI_NOT_INITIALIZED {
        return 11;
    }
    if raw.init_conf(conf) != CKR_OK {
        return 12;
    }
    let (rv, s) = raw.try_open(0, true);
    if rv != CKR_OK {
        return 13;
    }
    if raw.login(s, CKU_USER, USER_PIN) != CKR_OK {
        return 14;
    }
    let mut t = common::Template::new()
        .ulong(CKA_CLASS, CKO_SECRET_KEY)
        .ulong(CKA_KEY_TYPE, CKK_AES)
        .bytes(CKA_VALUE, &h(GCM_K128))
        .bool(CKA_ENCRYPT, true);
    let (rv, key) = raw.create(s, &mut t);
    if rv != CKR_OK {
        return 15;
    }
    let mut m = Mech::gcm(&h(GCM_IV96), &h(GCM_AAD), 128);
    let Ok(ct) = raw.encrypt(s, &mut m, key, &h(GCM_P)[..60]) else {
        return 16;
    };
    if ct != expected {
        return 17;
    }
    let mut find = common::Template::new().bytes(CKA_LABEL, b"fork-parent-key");
    if raw.find(s, Some(&mut find), 10).len() != 1 {
        return 18;
    }
    if raw.finalize() != CKR_OK {
        return 19;
    }
    0
}

#[test]
fn child_must_reinitialize_and_then_works() {
    let tok = TestToken::new();
    let raw = &tok.raw;
    let hs = tok.user_session();
    let mut t = common::Template::new()
        .ulong(CKA_CLASS, CKO_SECRET_KEY)
        .ulong(CKA_KEY_TYPE, CKK_AES)
        .bytes(CKA_VALUE, &h(GCM_K128))
        .bytes(CKA_LABEL, b"fork-parent-key")
        .bool(CKA_TOKEN, true)
        .bool(CKA_ENCRYPT, true);
    let (rv, parent_key) = raw.create(hs, &mut t);
    assert_rv!(rv, CKR_OK);
    let mut expected = h(GCM_TC4_C);
    expected.extend(h(GCM_TC4_T));
    // The parent encrypts first, so the module is busy with threads and a store.
    let mut m = Mech::gcm(&h(GCM_IV96), &h(GCM_AAD), 128);
    assert_eq!(
        raw.encrypt(hs, &mut m, parent_key, &h(GCM_P)[..60])
            .unwrap(),
        expected
    );

    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            child(raw, &tok.conf, hs, &expected)
        }))
        .unwrap_or(99);
        unsafe { libc::_exit(code) };
    }

    // Parent: wait (bounded) for the child.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut status = 0;
    loop {
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        assert!(r >= 0, "waitpid failed");
        if r == pid {
            break;
        }
        if Instant::now() > deadline {
            unsafe { libc::kill(pid, libc::SIGKILL) };
            unsafe { libc::waitpid(pid, &mut status, 0) };
            panic!("the child did not finish within 60 s (deadlock after fork?)");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        libc::WIFEXITED(status),
        "child did not exit normally (signal {})",
        libc::WTERMSIG(status)
    );
    let code = libc::WEXITSTATUS(status);
    let what = STEPS
        .iter()
        .find(|(c, _)| *c == code)
        .map_or("unknown exit code", |(_, w)| *w);
    assert_eq!(code, 0, "child failed: {what}");

    // The parent's library, session and key are untouched by the child.
    let mut info = CK_INFO::default();
    assert_rv!(
        ck!(raw, C_GetInfo(&mut info)),
        CKR_OK,
        "C_GetInfo in the parent after the child"
    );
    let mut m = Mech::gcm(&h(GCM_IV96), &h(GCM_AAD), 128);
    assert_eq!(
        raw.encrypt(hs, &mut m, parent_key, &h(GCM_P)[..60])
            .unwrap(),
        expected,
        "parent still encrypts"
    );
}
