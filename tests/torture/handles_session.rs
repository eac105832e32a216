//! Bad session handles through the 77 functions that take one, and bad slot
//! ids through the functions that take a slot.

use std::ptr::null_mut;

use super::common::sys::*;
use super::common::vectors::*;
use super::common::{Raw, SO_PIN};
use super::handle_tables::*;
use super::session_table::session_table;
use super::support::*;

/// Asserts the live session `s` was not disturbed: still open and logged
/// in, its key still there, no operation started, nothing created.
fn still_alive(r: &Raw, s: CK_SESSION_HANDLE, k: CK_OBJECT_HANDLE, objects: usize, what: &str) {
    let info = r.session_info(s);
    assert_eq!(
        info.state, CKS_RW_USER_FUNCTIONS,
        "{what}: the live session changed state"
    );
    assert_eq!(
        r.attr(s, k, CKA_VALUE),
        Ok(h(GCM_K128)),
        "{what}: key intact"
    );
    let mut n: CK_ULONG = 0;
    for (f, rv) in [
        ("encrypt", ck!(r, C_EncryptFinal(s, null_mut(), &mut n))),
        ("decrypt", ck!(r, C_DecryptFinal(s, null_mut(), &mut n))),
        ("digest", ck!(r, C_DigestFinal(s, null_mut(), &mut n))),
        ("sign", ck!(r, C_SignFinal(s, null_mut(), &mut n))),
        ("find", ck!(r, C_FindObjectsFinal(s))),
        ("message encrypt", ck!(r, C_MessageEncryptFinal(s))),
        ("message decrypt", ck!(r, C_MessageDecryptFinal(s))),
    ] {
        assert_rv!(
            rv,
            CKR_OPERATION_NOT_INITIALIZED,
            "{what}: {f} started on the live session"
        );
    }
    assert_eq!(
        r.find(s, None, 64).len(),
        objects,
        "{what}: objects created or destroyed"
    );
    assert_eq!(
        r.encrypt(s, &mut gcm4(), k, &tc4_p()),
        Ok(tc4_ct()),
        "{what}: the live session still encrypts"
    );
}

#[test]
fn invalid_and_closed_session_handles() {
    let fx = fixture();
    let r = &fx.tok.raw;
    let objects = r.find(fx.s, None, 64).len();
    let closed = r.open(fx.tok.slot, true);
    assert_rv!(ck!(r, C_CloseSession(closed)), CKR_OK);
    let sc = Scratch::new();
    let table = session_table(r, &sc, fx.k, fx.hk);
    assert_eq!(
        table.len(),
        77,
        "every function of the 3.0 list that takes a session"
    );
    let mut bad = Vec::new();
    for (hd, what) in [
        (CK_INVALID_HANDLE, "0"),
        (RANDOM_HANDLE, "never issued"),
        (CK_ULONG::MAX, "CK_ULONG::MAX"),
        (closed, "closed"),
        (fx.s + 1_000_000, "far future"),
    ] {
        bad.extend(run(&table, hd, what));
        still_alive(r, fx.s, fx.k, objects, what);
    }
    assert!(bad.is_empty(), "bad session handles:\n{}", bad.join("\n"));
}

#[test]
fn sessions_closed_by_close_all_sessions() {
    let fx = fixture();
    let r = &fx.tok.raw;
    let slot = fx.tok.slot;
    let others = [r.open(slot, true), r.open(slot, false), fx.s];
    assert_rv!(ck!(r, C_CloseAllSessions(slot)), CKR_OK);
    let s = fx.tok.user_session();
    let (k, hk, _) = keys(r, s);
    let objects = r.find(s, None, 64).len();
    let sc = Scratch::new();
    let table = session_table(r, &sc, k, hk);
    let mut bad = Vec::new();
    for hd in others {
        bad.extend(run(&table, hd, "closed by C_CloseAllSessions"));
    }
    still_alive(r, s, k, objects, "after C_CloseAllSessions handles");
    assert!(
        bad.is_empty(),
        "closed-by-CloseAll handles:\n{}",
        bad.join("\n")
    );
}

#[test]
fn sessions_from_before_reinitialisation() {
    let fx = fixture();
    let r = &fx.tok.raw;
    let old = [fx.s, r.open(fx.tok.slot, false)];
    assert_rv!(r.finalize(), CKR_OK);
    assert_rv!(r.init_conf(&fx.tok.conf), CKR_OK);
    let s = fx.tok.user_session();
    assert!(
        !old.contains(&s),
        "a session handle was reused after re-initialisation"
    );
    let (k, hk, _) = keys(r, s);
    let objects = r.find(s, None, 64).len();
    let sc = Scratch::new();
    let table = session_table(r, &sc, k, hk);
    let mut bad = Vec::new();
    for hd in old {
        bad.extend(run(&table, hd, "from the previous C_Initialize"));
    }
    still_alive(r, s, k, objects, "after stale handles");
    assert!(
        bad.is_empty(),
        "handles from before C_Finalize:\n{}",
        bad.join("\n")
    );
}

#[test]
fn invalid_slot_ids() {
    let fx = fixture();
    let r = &fx.tok.raw;
    let mut bad = Vec::new();
    let mut label = [b' '; 32];
    for slot in [fx.tok.slot + 1, RANDOM_HANDLE, CK_ULONG::MAX] {
        let mut si = CK_SLOT_INFO::default();
        let mut ti = CK_TOKEN_INFO::default();
        let mut mi = CK_MECHANISM_INFO::default();
        let mut n: CK_ULONG = 0;
        let mut hd: CK_SESSION_HANDLE = 0;
        for (f, rv) in [
            ("C_GetSlotInfo", ck!(r, C_GetSlotInfo(slot, &mut si))),
            ("C_GetTokenInfo", ck!(r, C_GetTokenInfo(slot, &mut ti))),
            (
                "C_GetMechanismList",
                ck!(r, C_GetMechanismList(slot, null_mut(), &mut n)),
            ),
            (
                "C_GetMechanismInfo",
                ck!(r, C_GetMechanismInfo(slot, CKM_AES_GCM, &mut mi)),
            ),
            (
                "C_InitToken",
                ck!(
                    r,
                    C_InitToken(slot, SO_PIN.as_ptr() as *mut u8, 8, label.as_mut_ptr())
                ),
            ),
            (
                "C_OpenSession",
                ck!(
                    r,
                    C_OpenSession(slot, CKF_SERIAL_SESSION, null_mut(), None, &mut hd)
                ),
            ),
            ("C_CloseAllSessions", ck!(r, C_CloseAllSessions(slot))),
        ] {
            if rv != CKR_SLOT_ID_INVALID {
                bad.push(format!("{f}(slot {slot}) = {}", super::common::rv_name(rv)));
            }
        }
        assert_eq!(hd, 0, "a session handle was written for slot {slot}");
    }
    still_alive(
        r,
        fx.s,
        fx.k,
        r.find(fx.s, None, 64).len(),
        "after bad slot ids",
    );
    assert!(bad.is_empty(), "bad slot ids:\n{}", bad.join("\n"));
}
