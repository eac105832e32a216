//! Login rules: PIN failure counting and the token PIN flags, locking and
//! unlocking, session-state rules for SO and user, login per application,
//! implicit logout when the last session closes, and PIN changes.

#[macro_use]
mod common;

use common::sys::*;
use common::{Raw, TestToken, SO_PIN, USER_PIN};

const USER_FLAGS: CK_FLAGS = CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY | CKF_USER_PIN_LOCKED;

fn user_flags(r: &Raw, slot: CK_SLOT_ID) -> CK_FLAGS {
    r.token_info(slot).flags & USER_FLAGS
}

fn state(r: &Raw, s: CK_SESSION_HANDLE) -> CK_STATE {
    r.session_info(s).state
}

fn set_pin(r: &Raw, s: CK_SESSION_HANDLE, old: &[u8], new: &[u8]) -> CK_RV {
    ck!(
        r,
        C_SetPIN(
            s,
            old.as_ptr() as *mut u8,
            old.len() as CK_ULONG,
            new.as_ptr() as *mut u8,
            new.len() as CK_ULONG
        )
    )
}

#[test]
fn wrong_pins_count_down_then_lock_and_init_pin_unlocks() {
    let tok = TestToken::with_options("max_login_failures = 3");
    let r = &tok.raw;
    let s = r.open(tok.slot, true);
    assert_eq!(user_flags(r, tok.slot), 0, "fresh PIN flags");

    assert_rv!(
        r.login(s, CKU_USER, b"0000"),
        CKR_PIN_INCORRECT,
        "wrong PIN #1"
    );
    assert_eq!(
        user_flags(r, tok.slot),
        CKF_USER_PIN_COUNT_LOW,
        "after one failure of three"
    );
    assert_rv!(
        r.login(s, CKU_USER, b"0000"),
        CKR_PIN_INCORRECT,
        "wrong PIN #2"
    );
    assert_eq!(
        user_flags(r, tok.slot),
        CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY,
        "after two failures of three"
    );
    let rv = r.login(s, CKU_USER, b"0000");
    assert!(
        rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LOCKED,
        "wrong PIN #3: {}",
        common::rv_name(rv)
    );
    let f = user_flags(r, tok.slot);
    assert_ne!(
        f & CKF_USER_PIN_LOCKED,
        0,
        "locked after three failures: {f:#x}"
    );
    assert_eq!(
        f & CKF_USER_PIN_FINAL_TRY,
        0,
        "no final try once locked: {f:#x}"
    );
    assert_rv!(
        r.login(s, CKU_USER, USER_PIN),
        CKR_PIN_LOCKED,
        "the right PIN on a locked token"
    );
    assert_eq!(state(r, s), CKS_RW_PUBLIC_SESSION);

    // The lock is in the store: a new library instance sees it.
    assert_rv!(r.finalize(), CKR_OK);
    assert_rv!(r.init_conf(&tok.conf), CKR_OK);
    assert_ne!(
        user_flags(r, tok.slot) & CKF_USER_PIN_LOCKED,
        0,
        "still locked after C_Finalize/C_Initialize"
    );
    let s = r.open(tok.slot, true);
    assert_rv!(
        r.login(s, CKU_USER, USER_PIN),
        CKR_PIN_LOCKED,
        "still locked after re-initialisation"
    );

    // The SO resets the user PIN, which unlocks it.
    assert_rv!(r.login(s, CKU_SO, SO_PIN), CKR_OK, "SO login");
    assert_rv!(
        ck!(r, C_InitPIN(s, USER_PIN.as_ptr() as *mut u8, 4)),
        CKR_OK,
        "C_InitPIN"
    );
    assert_rv!(ck!(r, C_Logout(s)), CKR_OK);
    assert_eq!(user_flags(r, tok.slot), 0, "flags cleared by C_InitPIN");
    assert_rv!(
        r.login(s, CKU_USER, USER_PIN),
        CKR_OK,
        "user login after C_InitPIN"
    );
}

#[test]
fn a_good_login_clears_count_low() {
    let tok = TestToken::with_options("max_login_failures = 3");
    let r = &tok.raw;
    let s = r.open(tok.slot, true);
    assert_rv!(r.login(s, CKU_USER, b"9999"), CKR_PIN_INCORRECT);
    assert_rv!(r.login(s, CKU_USER, b"9999"), CKR_PIN_INCORRECT);
    assert_ne!(user_flags(r, tok.slot) & CKF_USER_PIN_FINAL_TRY, 0);
    assert_rv!(
        r.login(s, CKU_USER, USER_PIN),
        CKR_OK,
        "the right PIN before the lock"
    );
    assert_eq!(
        user_flags(r, tok.slot),
        0,
        "a successful login resets the counter"
    );
    assert_rv!(ck!(r, C_Logout(s)), CKR_OK);
    // The counter really restarted: two more failures do not lock.
    assert_rv!(r.login(s, CKU_USER, b"9999"), CKR_PIN_INCORRECT);
    assert_rv!(r.login(s, CKU_USER, b"9999"), CKR_PIN_INCORRECT);
    assert_rv!(r.login(s, CKU_USER, USER_PIN), CKR_OK);

    // The SO PIN has its own flags.
    assert_rv!(ck!(r, C_Logout(s)), CKR_OK);
    assert_rv!(
        r.login(s, CKU_SO, b"00000000"),
        CKR_PIN_INCORRECT,
        "wrong SO PIN"
    );
    let f = r.token_info(tok.slot).flags;
    assert_ne!(f & CKF_SO_PIN_COUNT_LOW, 0, "SO COUNT_LOW: {f:#x}");
    assert_eq!(
        f & USER_FLAGS,
        0,
        "user flags untouched by an SO failure: {f:#x}"
    );
    assert_rv!(r.login(s, CKU_SO, SO_PIN), CKR_OK);
    assert_eq!(r.token_info(tok.slot).flags & CKF_SO_PIN_COUNT_LOW, 0);
}

#[test]
fn so_and_read_only_sessions() {
    let tok = TestToken::new();
    let r = &tok.raw;
    let rw = r.open(tok.slot, true);
    let ro = r.open(tok.slot, false);
    assert_rv!(
        r.login(rw, CKU_SO, SO_PIN),
        CKR_SESSION_READ_ONLY_EXISTS,
        "SO login with a RO session open"
    );
    assert_rv!(ck!(r, C_CloseSession(ro)), CKR_OK);
    assert_rv!(
        r.login(rw, CKU_SO, SO_PIN),
        CKR_OK,
        "SO login once the RO session is closed"
    );
    assert_eq!(state(r, rw), CKS_RW_SO_FUNCTIONS);
    let (rv, _) = r.try_open(tok.slot, false);
    assert_rv!(
        rv,
        CKR_SESSION_READ_WRITE_SO_EXISTS,
        "RO session while the SO is logged in"
    );
    let rw2 = r.open(tok.slot, true);
    assert_eq!(
        state(r, rw2),
        CKS_RW_SO_FUNCTIONS,
        "a new RW session is an SO session"
    );
    assert_rv!(
        r.login(rw, CKU_SO, SO_PIN),
        CKR_USER_ALREADY_LOGGED_IN,
        "SO twice"
    );
    assert_rv!(
        r.login(rw2, CKU_USER, USER_PIN),
        CKR_USER_ANOTHER_ALREADY_LOGGED_IN,
        "user while SO is logged in"
    );
    assert_rv!(ck!(r, C_Logout(rw2)), CKR_OK);
    assert_rv!(ck!(r, C_Logout(rw)), CKR_USER_NOT_LOGGED_IN, "logout twice");
    assert_rv!(r.login(rw, CKU_USER, USER_PIN), CKR_OK);
    assert_rv!(
        r.login(rw, CKU_USER, USER_PIN),
        CKR_USER_ALREADY_LOGGED_IN,
        "user twice"
    );
    assert_rv!(
        r.login(rw2, CKU_SO, SO_PIN),
        CKR_USER_ANOTHER_ALREADY_LOGGED_IN,
        "SO while the user is logged in"
    );
    assert_rv!(
        r.login(rw, 7, USER_PIN),
        CKR_USER_TYPE_INVALID,
        "unknown user type"
    );
    assert_rv!(
        r.login(rw, CKU_CONTEXT_SPECIFIC, USER_PIN),
        CKR_OPERATION_NOT_INITIALIZED,
        "CKU_CONTEXT_SPECIFIC with no operation"
    );
}

#[test]
fn login_is_per_application_and_last_close_logs_out() {
    let tok = TestToken::new();
    let r = &tok.raw;
    let rw = r.open(tok.slot, true);
    let ro = r.open(tok.slot, false);
    assert_eq!(state(r, rw), CKS_RW_PUBLIC_SESSION);
    assert_eq!(state(r, ro), CKS_RO_PUBLIC_SESSION);
    assert_rv!(r.login(rw, CKU_USER, USER_PIN), CKR_OK);
    assert_eq!(state(r, rw), CKS_RW_USER_FUNCTIONS);
    assert_eq!(
        state(r, ro),
        CKS_RO_USER_FUNCTIONS,
        "the other session sees the login"
    );
    let late = r.open(tok.slot, false);
    assert_eq!(
        state(r, late),
        CKS_RO_USER_FUNCTIONS,
        "a session opened after login is logged in"
    );
    assert_rv!(
        ck!(r, C_Logout(ro)),
        CKR_OK,
        "logout through another session"
    );
    assert_eq!(state(r, rw), CKS_RW_PUBLIC_SESSION);

    // Closing a session that is not the last keeps the login.
    assert_rv!(r.login(ro, CKU_USER, USER_PIN), CKR_OK);
    assert_rv!(ck!(r, C_CloseSession(late)), CKR_OK);
    assert_eq!(state(r, rw), CKS_RW_USER_FUNCTIONS);
    // Closing the last one logs out.
    assert_rv!(ck!(r, C_CloseSession(ro)), CKR_OK);
    assert_rv!(ck!(r, C_CloseSession(rw)), CKR_OK);
    let fresh = r.open(tok.slot, false);
    assert_eq!(
        state(r, fresh),
        CKS_RO_PUBLIC_SESSION,
        "closing the last session logged out"
    );
    assert_rv!(ck!(r, C_Logout(fresh)), CKR_USER_NOT_LOGGED_IN);

    // C_CloseAllSessions too.
    assert_rv!(r.login(fresh, CKU_USER, USER_PIN), CKR_OK);
    assert_rv!(ck!(r, C_CloseAllSessions(tok.slot)), CKR_OK);
    assert_rv!(
        ck!(r, C_GetSessionInfo(fresh, &mut CK_SESSION_INFO::default())),
        CKR_SESSION_HANDLE_INVALID
    );
    let again = r.open(tok.slot, true);
    assert_eq!(
        state(r, again),
        CKS_RW_PUBLIC_SESSION,
        "C_CloseAllSessions logged out"
    );
}

#[test]
fn set_pin_changes_the_user_pin() {
    let tok = TestToken::new();
    let r = &tok.raw;
    let ro = r.open(tok.slot, false);
    assert_rv!(
        set_pin(r, ro, USER_PIN, b"5678"),
        CKR_SESSION_READ_ONLY,
        "C_SetPIN in a RO session"
    );
    assert_rv!(ck!(r, C_CloseSession(ro)), CKR_OK);
    let s = r.open(tok.slot, true);
    assert_rv!(r.login(s, CKU_USER, USER_PIN), CKR_OK);
    assert_rv!(
        set_pin(r, s, b"0000", b"5678"),
        CKR_PIN_INCORRECT,
        "wrong old PIN"
    );
    assert_rv!(
        set_pin(r, s, USER_PIN, b"12"),
        CKR_PIN_LEN_RANGE,
        "new PIN too short"
    );
    assert_rv!(set_pin(r, s, USER_PIN, b"5678"), CKR_OK, "C_SetPIN");
    assert_eq!(state(r, s), CKS_RW_USER_FUNCTIONS, "still logged in");
    assert_rv!(ck!(r, C_Logout(s)), CKR_OK);
    assert_rv!(r.login(s, CKU_USER, USER_PIN), CKR_PIN_INCORRECT, "old PIN");
    assert_rv!(r.login(s, CKU_USER, b"5678"), CKR_OK, "new PIN");
    // It is stored: a new library instance takes the new PIN.
    assert_rv!(r.finalize(), CKR_OK);
    assert_rv!(r.init_conf(&tok.conf), CKR_OK);
    let s = r.open(tok.slot, true);
    assert_rv!(
        r.login(s, CKU_USER, USER_PIN),
        CKR_PIN_INCORRECT,
        "old PIN after re-initialisation"
    );
    assert_rv!(
        r.login(s, CKU_USER, b"5678"),
        CKR_OK,
        "new PIN after re-initialisation"
    );
}

#[test]
fn set_pin_changes_the_so_pin() {
    let tok = TestToken::new();
    let r = &tok.raw;
    let s = r.open(tok.slot, true);
    assert_rv!(r.login(s, CKU_SO, SO_PIN), CKR_OK);
    assert_rv!(set_pin(r, s, SO_PIN, b"87654321"), CKR_OK, "SO C_SetPIN");
    assert_rv!(ck!(r, C_Logout(s)), CKR_OK);
    assert_rv!(r.login(s, CKU_SO, SO_PIN), CKR_PIN_INCORRECT, "old SO PIN");
    assert_rv!(r.login(s, CKU_SO, b"87654321"), CKR_OK, "new SO PIN");
    assert_rv!(ck!(r, C_Logout(s)), CKR_OK);
    assert_rv!(
        r.login(s, CKU_USER, USER_PIN),
        CKR_OK,
        "the user PIN is unchanged"
    );
}

#[test]
fn user_pin_not_initialised_after_token_reinit() {
    let tok = TestToken::new();
    let r = &tok.raw;
    let mut label = [b' '; 32];
    label[..6].copy_from_slice(b"second");
    assert_rv!(
        ck!(
            r,
            C_InitToken(tok.slot, SO_PIN.as_ptr() as *mut u8, 8, label.as_mut_ptr())
        ),
        CKR_OK,
        "re-initialise with the SO PIN"
    );
    let ti = r.token_info(tok.slot);
    assert_eq!(common::unpad(&ti.label), "second");
    assert_eq!(
        ti.flags & CKF_USER_PIN_INITIALIZED,
        0,
        "no user PIN after C_InitToken"
    );
    let s = r.open(tok.slot, true);
    assert_rv!(r.login(s, CKU_USER, USER_PIN), CKR_USER_PIN_NOT_INITIALIZED);
    // C_InitToken with a session open, and with a wrong SO PIN.
    assert_rv!(
        ck!(
            r,
            C_InitToken(tok.slot, SO_PIN.as_ptr() as *mut u8, 8, label.as_mut_ptr())
        ),
        CKR_SESSION_EXISTS,
        "C_InitToken with a session open"
    );
    assert_rv!(ck!(r, C_CloseSession(s)), CKR_OK);
    assert_rv!(
        ck!(
            r,
            C_InitToken(
                tok.slot,
                b"00000000".as_ptr() as *mut u8,
                8,
                label.as_mut_ptr()
            )
        ),
        CKR_PIN_INCORRECT,
        "C_InitToken with a wrong SO PIN"
    );
}

#[test]
fn always_authenticate_needs_a_context_specific_login() {
    use common::vectors::*;
    use common::{Mech, Template};
    let tok = TestToken::new();
    let r = &tok.raw;
    let s = tok.user_session();
    let extra = Template::new()
        .bool(CKA_ENCRYPT, true)
        .bool(CKA_ALWAYS_AUTHENTICATE, true);
    let k = r.secret_key(s, CKK_AES, &h(GCM_K128), false, extra);
    let p = h(GCM_P);
    let mut want = h(GCM_TC4_C);
    want.extend(h(GCM_TC4_T));
    let mut m = Mech::gcm(&h(GCM_IV96), &h(GCM_AAD), 128);
    let mut out = [0u8; 80];

    assert_rv!(ck!(r, C_EncryptInit(s, m.ptr(), k)), CKR_OK);
    let mut n: CK_ULONG = 80;
    assert_rv!(
        ck!(
            r,
            C_Encrypt(s, p.as_ptr() as *mut u8, 60, out.as_mut_ptr(), &mut n)
        ),
        CKR_USER_NOT_LOGGED_IN,
        "C_Encrypt before C_Login(CKU_CONTEXT_SPECIFIC)"
    );

    assert_rv!(
        ck!(r, C_EncryptInit(s, std::ptr::null_mut(), k)),
        CKR_OK,
        "cancel"
    );
    assert_rv!(ck!(r, C_EncryptInit(s, m.ptr(), k)), CKR_OK);
    assert_rv!(
        r.login(s, CKU_CONTEXT_SPECIFIC, b"0000"),
        CKR_PIN_INCORRECT,
        "wrong context PIN"
    );
    assert_rv!(
        r.login(s, CKU_CONTEXT_SPECIFIC, USER_PIN),
        CKR_OK,
        "CKU_CONTEXT_SPECIFIC"
    );
    n = 80;
    assert_rv!(
        ck!(
            r,
            C_Encrypt(s, p.as_ptr() as *mut u8, 60, out.as_mut_ptr(), &mut n)
        ),
        CKR_OK,
        "C_Encrypt after the context-specific login"
    );
    assert_eq!(&out[..n as usize], &want[..]);
    assert_eq!(
        state(r, s),
        CKS_RW_USER_FUNCTIONS,
        "still the user's session"
    );

    // The authorisation was for that one operation.
    assert_rv!(ck!(r, C_EncryptInit(s, m.ptr(), k)), CKR_OK);
    n = 80;
    assert_rv!(
        ck!(
            r,
            C_Encrypt(s, p.as_ptr() as *mut u8, 60, out.as_mut_ptr(), &mut n)
        ),
        CKR_USER_NOT_LOGGED_IN,
        "a second operation needs a second context-specific login"
    );
}
