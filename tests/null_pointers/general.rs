//! General, slot, token, PIN and session functions with NULL pointers.

use std::ptr::null_mut;

use super::common::sys::*;
use super::common::{TestToken, SO_PIN, USER_PIN};
use super::*;

#[test]
fn general_slot_and_interface_functions() {
    let f = fixture();
    let r = &f.tok.raw;
    let slot = f.tok.slot;
    let mut n: CK_ULONG = 0;
    assert_rv!(
        ck!(r, C_Initialize(null_mut())),
        CKR_CRYPTOKI_ALREADY_INITIALIZED,
        "C_Initialize(NULL) while initialised"
    );
    assert_rv!(ck!(r, C_GetInfo(null_mut())), AB, "C_GetInfo(NULL)");
    assert_rv!(
        ck!(r, C_GetFunctionList(null_mut())),
        AB,
        "C_GetFunctionList(NULL)"
    );
    assert_rv!(
        ck!(r, C_GetInterfaceList(null_mut(), null_mut())),
        AB,
        "C_GetInterfaceList(NULL, NULL)"
    );
    assert_rv!(
        ck!(r, C_GetInterfaceList(null_mut(), &mut n)),
        CKR_OK,
        "C_GetInterfaceList(NULL, &n)"
    );
    let mut ifs = vec![
        CK_INTERFACE {
            pInterfaceName: null_mut(),
            pFunctionList: null_mut(),
            flags: 0
        };
        n as usize
    ];
    assert_rv!(
        ck!(r, C_GetInterfaceList(ifs.as_mut_ptr(), null_mut())),
        AB,
        "C_GetInterfaceList(buf, NULL)"
    );
    assert_rv!(
        ck!(r, C_GetInterface(null_mut(), null_mut(), null_mut(), 0)),
        AB,
        "C_GetInterface(.., ppInterface NULL)"
    );

    assert_rv!(
        ck!(r, C_GetSlotList(CK_TRUE, null_mut(), null_mut())),
        AB,
        "C_GetSlotList(NULL, NULL)"
    );
    let mut slots = [0 as CK_SLOT_ID; 4];
    assert_rv!(
        ck!(r, C_GetSlotList(CK_TRUE, slots.as_mut_ptr(), null_mut())),
        AB,
        "C_GetSlotList(buf, NULL)"
    );
    assert_rv!(
        ck!(r, C_GetSlotList(CK_TRUE, null_mut(), &mut n)),
        CKR_OK,
        "C_GetSlotList(NULL, &n)"
    );
    assert_eq!(n, 1);
    assert_rv!(
        ck!(r, C_GetSlotInfo(slot, null_mut())),
        AB,
        "C_GetSlotInfo(NULL)"
    );
    assert_rv!(
        ck!(r, C_GetTokenInfo(slot, null_mut())),
        AB,
        "C_GetTokenInfo(NULL)"
    );
    assert_rv!(
        ck!(r, C_GetMechanismList(slot, null_mut(), null_mut())),
        AB,
        "C_GetMechanismList(NULL, NULL)"
    );
    let mut mechs = [0 as CK_MECHANISM_TYPE; 64];
    assert_rv!(
        ck!(r, C_GetMechanismList(slot, mechs.as_mut_ptr(), null_mut())),
        AB,
        "C_GetMechanismList(buf, NULL)"
    );
    assert_rv!(
        ck!(r, C_GetMechanismList(slot, null_mut(), &mut n)),
        CKR_OK,
        "C_GetMechanismList(NULL, &n)"
    );
    assert!(n > 0);
    assert_rv!(
        ck!(r, C_GetMechanismInfo(slot, CKM_AES_GCM, null_mut())),
        AB,
        "C_GetMechanismInfo(NULL)"
    );
    assert_rv!(
        ck!(
            r,
            C_WaitForSlotEvent(CKF_DONT_BLOCK, null_mut(), null_mut())
        ),
        AB,
        "C_WaitForSlotEvent(pSlot NULL)"
    );
    let mut ev: CK_SLOT_ID = 0;
    assert_rv!(
        ck!(r, C_WaitForSlotEvent(CKF_DONT_BLOCK, &mut ev, null_mut())),
        CKR_NO_EVENT,
        "C_WaitForSlotEvent(DONT_BLOCK)"
    );
    // C_Finalize(NULL) is the legal form.
    assert_rv!(ck!(r, C_Finalize(null_mut())), CKR_OK, "C_Finalize(NULL)");
}

#[test]
fn token_and_pin_functions() {
    let tok = TestToken::new();
    let r = &tok.raw;
    let slot = tok.slot;
    let mut label = [b' '; 32];
    // No session is open, so only the pointers can be wrong.
    assert_rv!(
        ck!(r, C_InitToken(slot, null_mut(), 8, label.as_mut_ptr())),
        AB,
        "C_InitToken(pPin NULL)"
    );
    assert_rv!(
        ck!(
            r,
            C_InitToken(slot, SO_PIN.as_ptr() as *mut u8, 8, null_mut())
        ),
        AB,
        "C_InitToken(pLabel NULL)"
    );
    let so = r.open(slot, true);
    assert_rv!(
        r.login(so, CKU_SO, SO_PIN),
        CKR_OK,
        "the token was not re-initialised"
    );
    assert_rv!(
        ck!(r, C_InitPIN(so, null_mut(), 4)),
        AB,
        "C_InitPIN(pPin NULL)"
    );
    assert_rv!(ck!(r, C_Logout(so)), CKR_OK);
    let u = so;
    assert_rv!(
        ck!(r, C_Login(u, CKU_USER, null_mut(), 4)),
        AB,
        "C_Login(pPin NULL)"
    );
    assert_rv!(
        r.login(u, CKU_USER, USER_PIN),
        CKR_OK,
        "user PIN unchanged by C_InitPIN(NULL)"
    );
    let new = b"9876";
    assert_rv!(
        ck!(r, C_SetPIN(u, null_mut(), 4, new.as_ptr() as *mut u8, 4)),
        AB,
        "C_SetPIN(pOldPin NULL)"
    );
    assert_rv!(
        ck!(
            r,
            C_SetPIN(u, USER_PIN.as_ptr() as *mut u8, 4, null_mut(), 4)
        ),
        AB,
        "C_SetPIN(pNewPin NULL)"
    );
    assert_rv!(
        ck!(r, C_LoginUser(u, CKU_USER, null_mut(), 4, null_mut(), 4)),
        NS,
        "C_LoginUser (not offered)"
    );
    assert_rv!(ck!(r, C_Logout(u)), CKR_OK);
    assert_rv!(
        r.login(u, CKU_USER, USER_PIN),
        CKR_OK,
        "user PIN unchanged by C_SetPIN(NULL)"
    );
}

#[test]
fn session_functions() {
    let f = fixture();
    let r = &f.tok.raw;
    let s = f.s;
    assert_rv!(
        ck!(
            r,
            C_OpenSession(f.tok.slot, CKF_SERIAL_SESSION, null_mut(), None, null_mut())
        ),
        AB,
        "C_OpenSession(phSession NULL)"
    );
    let mut h2 = 0;
    assert_rv!(
        ck!(
            r,
            C_OpenSession(f.tok.slot, CKF_SERIAL_SESSION, null_mut(), None, &mut h2)
        ),
        CKR_OK,
        "C_OpenSession(pApplication NULL, Notify NULL)"
    );
    assert_rv!(
        ck!(r, C_GetSessionInfo(s, null_mut())),
        AB,
        "C_GetSessionInfo(NULL)"
    );
    let mut n: CK_ULONG = 0;
    let mut buf = [0u8; 64];
    assert_rv!(
        ck!(r, C_GetOperationState(s, null_mut(), &mut n)),
        NS,
        "C_GetOperationState(NULL, &n)"
    );
    assert_rv!(
        ck!(r, C_GetOperationState(s, buf.as_mut_ptr(), null_mut())),
        NS,
        "C_GetOperationState(buf, NULL)"
    );
    assert_rv!(
        ck!(r, C_GetOperationState(s, null_mut(), null_mut())),
        NS,
        "C_GetOperationState(NULL, NULL)"
    );
    assert_rv!(
        ck!(r, C_SetOperationState(s, null_mut(), 64, 0, 0)),
        NS,
        "C_SetOperationState(NULL)"
    );
    assert_rv!(ck!(r, C_SessionCancel(s, 0)), CKR_OK, "C_SessionCancel(0)");
    assert_rv!(
        ck!(r, C_GetFunctionStatus(s)),
        CKR_FUNCTION_NOT_PARALLEL,
        "C_GetFunctionStatus"
    );
    assert_rv!(
        ck!(r, C_CancelFunction(s)),
        CKR_FUNCTION_NOT_PARALLEL,
        "C_CancelFunction"
    );
    assert_rv!(ck!(r, C_CloseSession(h2)), CKR_OK);
    assert_rv!(ck!(r, C_Logout(s)), CKR_OK);
    assert_rv!(ck!(r, C_CloseAllSessions(f.tok.slot)), CKR_OK);
}
