//! Calls out of order: steps without an Init, a second Init while active,
//! and a second `C_Initialize`.

use std::ffi::{c_void, CString};
use std::ptr::null_mut;

use super::common::sys::*;
use super::common::vectors::*;
use super::common::{rv_name, Raw};
use super::multipart::{Live, Op, ALL};
use super::support::*;

const NI: CK_RV = CKR_OPERATION_NOT_INITIALIZED;

/// Every step function with nothing active, both as a length query (NULL
/// output) and with a buffer: `CKR_OPERATION_NOT_INITIALIZED`.
fn all_steps_not_initialized(r: &Raw, s: CK_SESSION_HANDLE, k: CK_OBJECT_HANDLE, when: &str) {
    let d = [1u8; 32];
    let dp = d.as_ptr() as *mut u8;
    let mut m = msg_tc4();
    let (mp, ml) = (m.ptr(), m.len());
    let end = CKF_END_OF_MESSAGE;
    let mut bad = Vec::new();
    for query in [true, false] {
        let mut o = [SENTINEL; 64];
        let op = if query { null_mut() } else { o.as_mut_ptr() };
        let mut n: CK_ULONG = 64;
        let mut hs = [0 as CK_OBJECT_HANDLE; 4];
        for (f, rv) in [
            ("C_Encrypt", ck!(r, C_Encrypt(s, dp, 16, op, &mut n))),
            (
                "C_EncryptUpdate",
                ck!(r, C_EncryptUpdate(s, dp, 16, op, &mut n)),
            ),
            ("C_EncryptFinal", ck!(r, C_EncryptFinal(s, op, &mut n))),
            ("C_Decrypt", ck!(r, C_Decrypt(s, dp, 32, op, &mut n))),
            (
                "C_DecryptUpdate",
                ck!(r, C_DecryptUpdate(s, dp, 32, op, &mut n)),
            ),
            ("C_DecryptFinal", ck!(r, C_DecryptFinal(s, op, &mut n))),
            ("C_Digest", ck!(r, C_Digest(s, dp, 16, op, &mut n))),
            ("C_DigestUpdate", ck!(r, C_DigestUpdate(s, dp, 16))),
            ("C_DigestKey", ck!(r, C_DigestKey(s, k))),
            ("C_DigestFinal", ck!(r, C_DigestFinal(s, op, &mut n))),
            ("C_Sign", ck!(r, C_Sign(s, dp, 16, op, &mut n))),
            ("C_SignUpdate", ck!(r, C_SignUpdate(s, dp, 16))),
            ("C_SignFinal", ck!(r, C_SignFinal(s, op, &mut n))),
            ("C_Verify", ck!(r, C_Verify(s, dp, 16, dp, 32))),
            ("C_VerifyUpdate", ck!(r, C_VerifyUpdate(s, dp, 16))),
            ("C_VerifyFinal", ck!(r, C_VerifyFinal(s, dp, 32))),
            (
                "C_FindObjects",
                ck!(r, C_FindObjects(s, hs.as_mut_ptr(), 4, &mut n)),
            ),
            ("C_FindObjectsFinal", ck!(r, C_FindObjectsFinal(s))),
            (
                "C_EncryptMessage",
                ck!(r, C_EncryptMessage(s, mp, ml, dp, 0, dp, 16, op, &mut n)),
            ),
            (
                "C_EncryptMessageBegin",
                ck!(r, C_EncryptMessageBegin(s, mp, ml, dp, 0)),
            ),
            (
                "C_EncryptMessageNext",
                ck!(r, C_EncryptMessageNext(s, mp, ml, dp, 16, op, &mut n, end)),
            ),
            ("C_MessageEncryptFinal", ck!(r, C_MessageEncryptFinal(s))),
            (
                "C_DecryptMessage",
                ck!(r, C_DecryptMessage(s, mp, ml, dp, 0, dp, 16, op, &mut n)),
            ),
            (
                "C_DecryptMessageBegin",
                ck!(r, C_DecryptMessageBegin(s, mp, ml, dp, 0)),
            ),
            (
                "C_DecryptMessageNext",
                ck!(r, C_DecryptMessageNext(s, mp, ml, dp, 16, op, &mut n, end)),
            ),
            ("C_MessageDecryptFinal", ck!(r, C_MessageDecryptFinal(s))),
            // §5.6 C_Login: CKU_CONTEXT_SPECIFIC with no operation waiting.
            (
                "C_Login(CKU_CONTEXT_SPECIFIC)",
                ck!(
                    r,
                    C_Login(s, CKU_CONTEXT_SPECIFIC, b"1234".as_ptr() as *mut u8, 4)
                ),
            ),
        ] {
            if rv != NI {
                bad.push(format!("{f}(query={query}) = {}", rv_name(rv)));
            }
        }
        assert_eq!(
            o, [SENTINEL; 64],
            "{when}: output written with nothing active"
        );
    }
    assert!(
        bad.is_empty(),
        "{when}: with nothing active:\n{}",
        bad.join("\n")
    );
}

#[test]
fn steps_without_init() {
    let fx = fixture();
    let r = &fx.tok.raw;
    all_steps_not_initialized(r, fx.s, fx.k, "fresh session");
    // Every operation run to its end leaves nothing active either.
    for op in ALL {
        op.fresh(&fx);
    }
    all_steps_not_initialized(r, fx.s, fx.k, "after complete operations");

    // Message API: Next without Begin.
    let mut m = msg_tc4();
    let p = tc4_p();
    let (pp, _) = inp(&p);
    assert_rv!(
        ck!(r, C_MessageEncryptInit(fx.s, msg_mech().ptr(), fx.k)),
        CKR_OK
    );
    let (rv, _, _) = out_call(64, |o, l| {
        ck!(
            r,
            C_EncryptMessageNext(fx.s, m.ptr(), m.len(), pp, 16, o, l, CKF_END_OF_MESSAGE)
        )
    });
    assert_rv!(rv, NI, "C_EncryptMessageNext without C_EncryptMessageBegin");
    assert_rv!(ck!(r, C_MessageEncryptFinal(fx.s)), CKR_OK);
}

/// The second Init of `op` while `op` is active; `CKR_OPERATION_ACTIVE`.
fn second_init(op: Op, fx: &Fx) -> CK_RV {
    let (r, s, k, hk) = (&fx.tok.raw, fx.s, fx.k, fx.hk);
    match op {
        Op::Encrypt => ck!(r, C_EncryptInit(s, gcm4().ptr(), k)),
        Op::Decrypt => ck!(r, C_DecryptInit(s, gcm4().ptr(), k)),
        Op::Digest => ck!(r, C_DigestInit(s, sha256().ptr())),
        Op::Sign => ck!(r, C_SignInit(s, hmac().ptr(), hk)),
        Op::Verify => ck!(r, C_VerifyInit(s, hmac().ptr(), hk)),
        Op::MsgEncrypt => ck!(r, C_MessageEncryptInit(s, msg_mech().ptr(), k)),
        Op::MsgDecrypt => ck!(r, C_MessageDecryptInit(s, msg_mech().ptr(), k)),
        Op::Find => ck!(r, C_FindObjectsInit(s, null_mut(), 0)),
    }
}

#[test]
fn second_init_in_the_middle_is_operation_active() {
    let fx = fixture();
    let mut live: Vec<(Op, Live)> = ALL.iter().map(|op| (*op, op.start(&fx))).collect();
    for (op, _) in &live {
        assert_rv!(
            second_init(*op, &fx),
            CKR_OPERATION_ACTIVE,
            "second Init of {op:?}"
        );
    }
    // A second message while one is in the middle (§5.9 C_EncryptMessage /
    // C_EncryptMessageBegin: CKR_OPERATION_ACTIVE).
    let r = &fx.tok.raw;
    let s = fx.s;
    let aad = h(GCM_AAD);
    let (ap, al) = inp(&aad);
    let p = tc4_p();
    let (pp, pl) = inp(&p);
    let mut m2 = msg_tc4();
    let (mp, ml) = (m2.ptr(), m2.len());
    assert_rv!(
        ck!(r, C_EncryptMessageBegin(s, mp, ml, ap, al)),
        CKR_OPERATION_ACTIVE,
        "C_EncryptMessageBegin during a message"
    );
    let (rv, _, _) = out_call(64, |o, l| {
        ck!(r, C_EncryptMessage(s, mp, ml, ap, al, pp, pl, o, l))
    });
    assert_rv!(
        rv,
        CKR_OPERATION_ACTIVE,
        "C_EncryptMessage during a message"
    );
    assert_eq!(m2.tag[..], [0u8; 16][..]);
    // Every first operation goes on to the published result.
    for (op, l) in live.iter_mut() {
        op.finish(&fx, l);
    }
}

fn args(reserved: Option<&CString>) -> CK_C_INITIALIZE_ARGS {
    CK_C_INITIALIZE_ARGS {
        CreateMutex: None,
        DestroyMutex: None,
        LockMutex: None,
        UnlockMutex: None,
        flags: CKF_OS_LOCKING_OK,
        pReserved: reserved.map_or(null_mut(), |c| c.as_ptr() as *mut c_void),
    }
}

#[test]
fn second_initialize_changes_nothing() {
    let fx = fixture();
    let r = &fx.tok.raw;
    let mut live: Vec<(Op, Live)> = ALL.iter().map(|op| (*op, op.start(&fx))).collect();
    let conf = CString::new(fx.tok.conf.to_str().expect("UTF-8")).expect("no NUL");
    let other = CString::new(
        "[[slot]]\nlabel = \"other\"\nbackend = \"software\"\nstore = \"/nonexistent/x.sqlite\"\n",
    )
    .expect("no NUL");
    let mut a1 = args(None);
    let mut a2 = args(Some(&conf));
    let mut a3 = args(Some(&other));
    for (what, p) in [
        ("NULL", null_mut()),
        (
            "OS locking, no configuration",
            &mut a1 as *mut _ as *mut c_void,
        ),
        ("the same configuration", &mut a2 as *mut _ as *mut c_void),
        ("another configuration", &mut a3 as *mut _ as *mut c_void),
    ] {
        assert_rv!(
            ck!(r, C_Initialize(p)),
            CKR_CRYPTOKI_ALREADY_INITIALIZED,
            "second C_Initialize({what})"
        );
    }
    // From several threads at once.
    let init = r.f.C_Initialize.expect("C_Initialize");
    let rvs: Vec<CK_RV> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..8)
            .map(|_| sc.spawn(move || unsafe { init(null_mut()) }))
            .collect();
        hs.into_iter().map(|h| h.join().expect("thread")).collect()
    });
    for rv in rvs {
        assert_rv!(
            rv,
            CKR_CRYPTOKI_ALREADY_INITIALIZED,
            "concurrent second C_Initialize"
        );
    }
    // The library, the login, the session and its operations are untouched.
    assert_eq!(r.slots(), vec![fx.tok.slot]);
    assert_eq!(r.session_info(fx.s).state, CKS_RW_USER_FUNCTIONS);
    for (op, l) in live.iter_mut() {
        op.finish(&fx, l);
    }
}

#[test]
fn public_token_object_in_a_public_session() {
    // §5.7 C_CreateObject: "Only public objects can be created unless the
    // normal user is logged in"; a R/W public session has read/write access
    // to all public objects (the spec's read/write session states).
    let fx = fixture();
    let r = &fx.tok.raw;
    let s = fx.s;
    assert_rv!(ck!(r, C_Logout(s)), CKR_OK);
    let mut t = super::common::Template::new()
        .ulong(CKA_CLASS, CKO_DATA)
        .bool(CKA_TOKEN, true)
        .bool(CKA_PRIVATE, false)
        .bytes(CKA_LABEL, b"public")
        .bytes(CKA_VALUE, b"public value");
    let (rv, o) = r.create(s, &mut t);
    // FINDING 6: CKR_USER_NOT_LOGGED_IN — the module seals every token
    // object's CKA_VALUE and has no sealing key without a login.
    assert_rv!(
        rv,
        CKR_OK,
        "C_CreateObject(public token data object), logged out"
    );
    assert_eq!(r.attr(s, o, CKA_VALUE), Ok(b"public value".to_vec()));
    assert_rv!(ck!(r, C_DestroyObject(s, o)), CKR_OK);
}
