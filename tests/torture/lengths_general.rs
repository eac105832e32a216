//! Lengths of the general, slot, token, PIN and session functions.

use std::ptr::null_mut;

use super::common::sys::*;
use super::common::{unpad, Raw, SO_PIN, TOKEN_LABEL, USER_PIN};
use super::support::*;

const AB: CK_RV = CKR_ARGUMENTS_BAD;
const NS: CK_RV = CKR_FUNCTION_NOT_SUPPORTED;

fn user_flags(r: &Raw, slot: CK_SLOT_ID) -> CK_FLAGS {
    r.token_info(slot).flags
        & (CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY | CKF_USER_PIN_LOCKED)
}

#[test]
fn list_functions_with_a_zero_count() {
    let fx = fixture();
    let r = &fx.tok.raw;
    let slot = fx.tok.slot;

    // C_GetSlotList: *pulCount = 0 with a real buffer → too small, count
    // written, nothing stored in the zero-length array (§5.5 two-call rule).
    for present in [CK_FALSE, CK_TRUE] {
        let mut ids = [0xAAAA as CK_SLOT_ID; 4];
        let mut n: CK_ULONG = 0;
        assert_rv!(
            ck!(r, C_GetSlotList(present, ids.as_mut_ptr(), &mut n)),
            CKR_BUFFER_TOO_SMALL,
            "C_GetSlotList(tokenPresent={present}, count 0)"
        );
        assert_eq!(n, 1, "needed count");
        assert_eq!(ids, [0xAAAA; 4], "C_GetSlotList wrote into a 0-entry array");
    }

    // C_GetMechanismList.
    let mut want: CK_ULONG = 0;
    assert_rv!(
        ck!(r, C_GetMechanismList(slot, null_mut(), &mut want)),
        CKR_OK
    );
    let mut mechs = vec![0xBBBB as CK_MECHANISM_TYPE; want as usize + 1];
    let mut n: CK_ULONG = 0;
    assert_rv!(
        ck!(r, C_GetMechanismList(slot, mechs.as_mut_ptr(), &mut n)),
        CKR_BUFFER_TOO_SMALL,
        "C_GetMechanismList(count 0)"
    );
    assert_eq!(n, want);
    assert!(mechs.iter().all(|m| *m == 0xBBBB), "written into 0 entries");
    // One short.
    n = want - 1;
    assert_rv!(
        ck!(r, C_GetMechanismList(slot, mechs.as_mut_ptr(), &mut n)),
        CKR_BUFFER_TOO_SMALL,
        "C_GetMechanismList(count - 1)"
    );
    assert_eq!(n, want);
    assert_eq!(
        mechs[want as usize - 1],
        0xBBBB,
        "wrote past the offered entries"
    );

    // C_GetInterfaceList.
    let mut want: CK_ULONG = 0;
    assert_rv!(ck!(r, C_GetInterfaceList(null_mut(), &mut want)), CKR_OK);
    let blank = CK_INTERFACE {
        pInterfaceName: null_mut(),
        pFunctionList: null_mut(),
        flags: 0x77,
    };
    let mut ifs = vec![blank; want as usize];
    let mut n: CK_ULONG = 0;
    assert_rv!(
        ck!(r, C_GetInterfaceList(ifs.as_mut_ptr(), &mut n)),
        CKR_BUFFER_TOO_SMALL,
        "C_GetInterfaceList(count 0)"
    );
    assert_eq!(n, want);
    assert!(
        ifs.iter()
            .all(|i| i.flags == 0x77 && i.pFunctionList.is_null()),
        "C_GetInterfaceList wrote into a 0-entry array"
    );
}

#[test]
fn login_pin_lengths() {
    let fx = fixture();
    let r = &fx.tok.raw;
    let (s, slot) = (fx.s, fx.tok.slot);
    let pin = USER_PIN.as_ptr() as *mut u8;
    assert_rv!(ck!(r, C_Logout(s)), CKR_OK);
    assert_eq!(user_flags(r, slot), 0);

    // A length no PIN can have is refused before any PIN check, so it must
    // not count as a failed login.
    assert_rv!(
        ck!(r, C_Login(s, CKU_USER, pin, HUGE)),
        AB,
        "C_Login(ulPinLen huge)"
    );
    assert_eq!(
        user_flags(r, slot),
        0,
        "a refused argument counted as a wrong PIN"
    );
    // The empty PIN is a PIN, and a wrong one: C_Login's list (§5.6) has
    // CKR_PIN_INCORRECT and no CKR_PIN_LEN_RANGE.
    assert_rv!(
        ck!(r, C_Login(s, CKU_USER, pin, 0)),
        CKR_PIN_INCORRECT,
        "C_Login(ulPinLen 0)"
    );
    assert_ne!(
        user_flags(r, slot) & CKF_USER_PIN_COUNT_LOW,
        0,
        "a wrong PIN sets COUNT_LOW"
    );
    assert_rv!(r.login(s, CKU_USER, USER_PIN), CKR_OK, "right PIN after");
    assert_eq!(user_flags(r, slot), 0, "a good login clears COUNT_LOW");

    // C_LoginUser is not offered, whatever the lengths.
    let name = b"alice";
    for (pl, ul) in [(0, 0), (HUGE, 5), (4, HUGE)] {
        assert_rv!(
            ck!(
                r,
                C_LoginUser(s, CKU_USER, pin, pl, name.as_ptr() as *mut u8, ul)
            ),
            NS,
            "C_LoginUser({pl}, {ul})"
        );
    }
}

#[test]
fn set_pin_and_init_pin_lengths() {
    let fx = fixture();
    let r = &fx.tok.raw;
    let (s, slot) = (fx.s, fx.tok.slot);
    let old = USER_PIN.as_ptr() as *mut u8;
    let new = b"5678".as_ptr() as *mut u8;

    // Old PIN empty: wrong. Old PIN huge: refused unread.
    assert_rv!(
        ck!(r, C_SetPIN(s, old, 0, new, 4)),
        CKR_PIN_INCORRECT,
        "C_SetPIN(ulOldLen 0)"
    );
    assert_rv!(
        ck!(r, C_SetPIN(s, old, HUGE, new, 4)),
        AB,
        "C_SetPIN(ulOldLen huge)"
    );
    // New PIN empty: out of range. New PIN huge: C_SetPIN's list (§5.5) has
    // both CKR_ARGUMENTS_BAD and CKR_PIN_LEN_RANGE, and either fits.
    assert_rv!(
        ck!(r, C_SetPIN(s, old, 4, new, 0)),
        CKR_PIN_LEN_RANGE,
        "C_SetPIN(ulNewLen 0)"
    );
    let rv = ck!(r, C_SetPIN(s, old, 4, new, HUGE));
    one_of(rv, &[AB, CKR_PIN_LEN_RANGE], "C_SetPIN(ulNewLen huge)");

    // None of that changed the PIN.
    assert_rv!(ck!(r, C_Logout(s)), CKR_OK);
    assert_rv!(r.login(s, CKU_USER, USER_PIN), CKR_OK, "PIN unchanged");
    assert_rv!(ck!(r, C_Logout(s)), CKR_OK);

    // C_InitPIN (SO): empty → CKR_PIN_LEN_RANGE; huge → either code of its
    // list (§5.5 C_InitPIN has CKR_ARGUMENTS_BAD and CKR_PIN_LEN_RANGE).
    assert_rv!(r.login(s, CKU_SO, SO_PIN), CKR_OK);
    assert_rv!(
        ck!(r, C_InitPIN(s, new, 0)),
        CKR_PIN_LEN_RANGE,
        "C_InitPIN(ulPinLen 0)"
    );
    let rv = ck!(r, C_InitPIN(s, new, HUGE));
    one_of(rv, &[AB, CKR_PIN_LEN_RANGE], "C_InitPIN(ulPinLen huge)");
    assert_rv!(ck!(r, C_Logout(s)), CKR_OK);
    assert_rv!(
        r.login(s, CKU_USER, USER_PIN),
        CKR_OK,
        "user PIN unchanged by the refused C_InitPIN calls"
    );
    assert_eq!(r.token_info(slot).flags & CKF_USER_PIN_COUNT_LOW, 0);
}

#[test]
fn init_token_pin_lengths() {
    let fx = fixture();
    let r = &fx.tok.raw;
    let slot = fx.tok.slot;
    assert_rv!(ck!(r, C_CloseAllSessions(slot)), CKR_OK);
    let mut label = [b' '; 32];
    label[..5].copy_from_slice(b"wiped");
    let so = SO_PIN.as_ptr() as *mut u8;

    assert_rv!(
        ck!(r, C_InitToken(slot, so, HUGE, label.as_mut_ptr())),
        AB,
        "C_InitToken(ulPinLen huge)"
    );
    // FINDING 2 (fixed): the token is initialised, so an empty SO PIN is the
    // wrong SO PIN. C_InitToken's list (§5.5) has CKR_PIN_INCORRECT and no
    // CKR_PIN_LEN_RANGE; the module used to check the length rule first.
    let rv = ck!(r, C_InitToken(slot, so, 0, label.as_mut_ptr()));
    assert_rv!(rv, CKR_PIN_INCORRECT, "C_InitToken(ulPinLen 0)");

    // Neither call re-initialised the token.
    assert_eq!(unpad(&r.token_info(slot).label), TOKEN_LABEL);
    let s = r.open(slot, true);
    assert_rv!(r.login(s, CKU_USER, USER_PIN), CKR_OK, "user PIN survives");
}

#[test]
fn operation_state_lengths() {
    let fx = fixture();
    let r = &fx.tok.raw;
    let s = fx.s;
    let mut buf = [SENTINEL; 64];
    let mut n: CK_ULONG = 0;
    assert_rv!(
        ck!(r, C_GetOperationState(s, buf.as_mut_ptr(), &mut n)),
        NS,
        "C_GetOperationState(*pulLen 0)"
    );
    for len in [0, HUGE] {
        assert_rv!(
            ck!(r, C_SetOperationState(s, buf.as_mut_ptr(), len, 0, 0)),
            NS,
            "C_SetOperationState(len {len})"
        );
    }
    assert!(buf.iter().all(|b| *b == SENTINEL));
}
