//! Target `mech_params`: a fuzzed `CK_MECHANISM` (type from the module's list
//! or not, parameter raw or a struct built from the input) through every
//! Init function, `C_WrapKey` and `C_UnwrapKey`. Where an Init succeeds, a
//! small single-part operation follows; then the operation is cancelled with
//! a NULL mechanism, which must leave nothing active.

use std::ptr;
use std::sync::{Mutex, OnceLock};

use cryptoki_sys as sys;
use keyrotor::ffi::{cipher, key_mgmt, message, sign_digest};
use sys::{CK_OBJECT_HANDLE, CK_RV, CK_SESSION_HANDLE, CK_ULONG};

use super::input::Input;
use super::keys::Keys;
use super::mech::OwnedMech;
use super::module::{self, b, check, name, ul};
use super::msg::{self, MsgParams};
use super::ops::{self, Ask};
use super::template::OwnedTemplate;

struct State {
    work: CK_SESSION_HANDLE,
    keys: Keys,
    data_object: CK_OBJECT_HANDLE,
}

fn state() -> &'static Mutex<State> {
    static S: OnceLock<Mutex<State>> = OnceLock::new();
    S.get_or_init(|| {
        let home = module::open_session();
        let keys = Keys::make(home, "fuzz-mech-rot");
        let mut t = OwnedTemplate::default();
        t.push(sys::CKA_CLASS, &ul(sys::CKO_DATA));
        t.push(sys::CKA_TOKEN, &b(false));
        t.push(sys::CKA_VALUE, b"not a key");
        let (p, n) = t.raw();
        let mut data_object: CK_OBJECT_HANDLE = 0;
        // SAFETY: owned template; writable handle.
        module::ok(
            unsafe { keyrotor::ffi::object::C_CreateObject(home, p, n, &mut data_object) },
            "C_CreateObject (data object)",
        );
        Mutex::new(State {
            work: module::open_session(),
            keys,
            data_object,
        })
    })
}

/// Which output convention to exercise, from two bits.
pub fn ask(bits: u8) -> Ask {
    match bits % 4 {
        0 | 1 => Ask::Query,
        2 => Ask::QueryShort,
        _ => Ask::Direct(16),
    }
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let st = state();
    let st = st.lock().unwrap_or_else(|e| e.into_inner());
    let mut i = Input::new(data);
    let sel = i.u8();
    let k = &st.keys;
    let key = match sel % 8 {
        0 => k.aes256,
        1 => k.aes128,
        2 => k.hmac,
        3 => k.rot,
        4 => st.data_object,
        5 => CK_OBJECT_HANDLE::from(i.u32()),
        _ => k.aes256,
    };
    let a = ask(sel >> 3);
    let mut ops_mask = i.u8();
    if ops_mask == 0 {
        ops_mask = 0xFF;
    }
    let mut mech = OwnedMech::decode(&mut i);
    let payload = i.blob(48).to_vec();
    let h = st.work;

    if ops_mask & 0x01 != 0 {
        cipher_round(h, &mut mech, key, true, &payload, a);
    }
    if ops_mask & 0x02 != 0 {
        cipher_round(h, &mut mech, key, false, &payload, a);
    }
    if ops_mask & 0x04 != 0 {
        sign_round(h, &mut mech, key, true, &payload, a);
    }
    if ops_mask & 0x08 != 0 {
        sign_round(h, &mut mech, key, false, &payload, a);
    }
    if ops_mask & 0x10 != 0 {
        digest_round(h, &mut mech, &payload, a);
    }
    if ops_mask & 0x20 != 0 {
        message_round(h, &mut mech, key, true, &payload, a);
    }
    if ops_mask & 0x40 != 0 {
        message_round(h, &mut mech, key, false, &payload, a);
    }
    if ops_mask & 0x80 != 0 {
        // Only the fixed AES keys are known to both wrap and unwrap.
        let known = [k.aes256, k.aes128, k.rot].contains(&key) && sel % 8 != 5;
        wrap_round(h, &mut mech, key, k.victim, &payload, a, known);
    }
}

fn cipher_round(
    h: CK_SESSION_HANDLE,
    mech: &mut OwnedMech,
    key: CK_OBJECT_HANDLE,
    encrypt: bool,
    payload: &[u8],
    a: Ask,
) {
    let (init, what): (unsafe extern "C" fn(_, _, _) -> CK_RV, _) = if encrypt {
        (cipher::C_EncryptInit, "C_EncryptInit")
    } else {
        (cipher::C_DecryptInit, "C_DecryptInit")
    };
    // SAFETY: the mechanism owns its parameter memory.
    let rv = check(unsafe { init(h, mech.ptr(), key) }, what);
    if rv == sys::CKR_OK {
        if encrypt {
            ops::encrypt(h, payload, a);
        } else {
            ops::decrypt(h, payload, a);
        }
    }
    // SAFETY: a NULL mechanism cancels.
    let rv = unsafe { init(h, ptr::null_mut(), 0) };
    assert!(rv == sys::CKR_OK, "{what}(NULL) cancel: {}", name(rv));
    let (rv, _) = if encrypt {
        ops::encrypt(h, b"x", Ask::Direct(64))
    } else {
        ops::decrypt(h, &[0; 16], Ask::Direct(64))
    };
    assert!(
        rv == sys::CKR_OPERATION_NOT_INITIALIZED,
        "single-part call after {what}(NULL): {}",
        name(rv)
    );
}

fn sign_round(
    h: CK_SESSION_HANDLE,
    mech: &mut OwnedMech,
    key: CK_OBJECT_HANDLE,
    sign: bool,
    payload: &[u8],
    a: Ask,
) {
    let (init, what): (unsafe extern "C" fn(_, _, _) -> CK_RV, _) = if sign {
        (sign_digest::C_SignInit, "C_SignInit")
    } else {
        (sign_digest::C_VerifyInit, "C_VerifyInit")
    };
    // SAFETY: the mechanism owns its parameter memory.
    let rv = check(unsafe { init(h, mech.ptr(), key) }, what);
    if rv == sys::CKR_OK {
        if sign {
            ops::sign(h, payload, a);
        } else {
            let split = payload.len() / 2;
            ops::verify(h, &payload[..split], &payload[split..]);
        }
    }
    // SAFETY: a NULL mechanism cancels.
    let rv = unsafe { init(h, ptr::null_mut(), 0) };
    assert!(rv == sys::CKR_OK, "{what}(NULL) cancel: {}", name(rv));
    let rv = if sign {
        ops::sign(h, b"x", Ask::Direct(64)).0
    } else {
        ops::verify(h, b"x", &[0; 16])
    };
    assert!(
        rv == sys::CKR_OPERATION_NOT_INITIALIZED,
        "single-part call after {what}(NULL): {}",
        name(rv)
    );
}

fn digest_round(h: CK_SESSION_HANDLE, mech: &mut OwnedMech, payload: &[u8], a: Ask) {
    // SAFETY: the mechanism owns its parameter memory.
    let rv = check(
        unsafe { sign_digest::C_DigestInit(h, mech.ptr()) },
        "C_DigestInit",
    );
    if rv == sys::CKR_OK {
        ops::digest(h, payload, a);
    }
    // SAFETY: a NULL mechanism cancels.
    let rv = unsafe { sign_digest::C_DigestInit(h, ptr::null_mut()) };
    assert!(rv == sys::CKR_OK, "C_DigestInit(NULL) cancel: {}", name(rv));
    let (rv, _) = ops::digest(h, b"x", Ask::Direct(64));
    assert!(
        rv == sys::CKR_OPERATION_NOT_INITIALIZED,
        "C_Digest after C_DigestInit(NULL): {}",
        name(rv)
    );
}

fn message_round(
    h: CK_SESSION_HANDLE,
    mech: &mut OwnedMech,
    key: CK_OBJECT_HANDLE,
    encrypt: bool,
    payload: &[u8],
    a: Ask,
) {
    let (init, fin, what): (
        unsafe extern "C" fn(_, _, _) -> CK_RV,
        unsafe extern "C" fn(_) -> CK_RV,
        _,
    ) = if encrypt {
        (
            message::C_MessageEncryptInit,
            message::C_MessageEncryptFinal,
            "C_MessageEncryptInit",
        )
    } else {
        (
            message::C_MessageDecryptInit,
            message::C_MessageDecryptFinal,
            "C_MessageDecryptInit",
        )
    };
    // SAFETY: the mechanism owns its parameter memory.
    let rv = check(unsafe { init(h, mech.ptr(), key) }, what);
    if rv == sys::CKR_OK {
        let mut prm = MsgParams::valid(&[9; 12], 16);
        if encrypt {
            msg::encrypt_message(h, &mut prm, b"aad", payload, a);
        } else {
            msg::decrypt_message(h, &mut prm, b"aad", payload, a);
        }
        // SAFETY: no pointers.
        let rv = unsafe { fin(h) };
        assert!(rv == sys::CKR_OK, "final after {what}: {}", name(rv));
    }
    // SAFETY: a NULL mechanism cancels.
    let rv = unsafe { init(h, ptr::null_mut(), 0) };
    assert!(rv == sys::CKR_OK, "{what}(NULL) cancel: {}", name(rv));
    let mut prm = MsgParams::valid(&[9; 12], 16);
    let (rv, _) = if encrypt {
        msg::encrypt_message(h, &mut prm, b"", b"x", Ask::Direct(64))
    } else {
        msg::decrypt_message(h, &mut prm, b"", b"x", Ask::Direct(64))
    };
    assert!(
        rv == sys::CKR_OPERATION_NOT_INITIALIZED,
        "message call after {what}(NULL): {}",
        name(rv)
    );
}

/// A template for an unwrapped session key.
pub fn unwrap_template(key_type: sys::CK_KEY_TYPE) -> OwnedTemplate {
    let mut t = OwnedTemplate::default();
    t.push(sys::CKA_CLASS, &ul(sys::CKO_SECRET_KEY));
    t.push(sys::CKA_KEY_TYPE, &ul(key_type));
    t.push(sys::CKA_TOKEN, &b(false));
    t.push(sys::CKA_EXTRACTABLE, &b(true));
    t.push(sys::CKA_SENSITIVE, &b(false));
    t.push(sys::CKA_ENCRYPT, &b(true));
    t
}

/// `C_UnwrapKey`; returns the result and the new key's handle.
pub fn unwrap(
    h: CK_SESSION_HANDLE,
    mech: &mut OwnedMech,
    key: CK_OBJECT_HANDLE,
    wrapped: &[u8],
    key_type: sys::CK_KEY_TYPE,
) -> (CK_RV, CK_OBJECT_HANDLE) {
    let mut t = unwrap_template(key_type);
    let (p, n) = t.raw();
    let mut w = wrapped.to_vec();
    // A non-NULL pointer even for an empty blob (NULL is refused outright).
    w.reserve(1);
    let mut out: CK_OBJECT_HANDLE = 0;
    // SAFETY: owned mechanism, wrapped bytes and template; writable handle.
    let rv = check(
        unsafe {
            key_mgmt::C_UnwrapKey(
                h,
                mech.ptr(),
                key,
                w.as_mut_ptr(),
                w.len() as CK_ULONG,
                p,
                n,
                &mut out,
            )
        },
        "C_UnwrapKey",
    );
    if rv == sys::CKR_OK {
        assert_ne!(out, 0, "C_UnwrapKey returned handle 0");
    }
    (rv, out)
}

/// `C_WrapKey` with the two-call convention.
pub fn wrap(
    h: CK_SESSION_HANDLE,
    mech: &mut OwnedMech,
    wrapping: CK_OBJECT_HANDLE,
    key: CK_OBJECT_HANDLE,
    a: Ask,
) -> (CK_RV, Vec<u8>) {
    let m = mech.ptr();
    ops::two_call("C_WrapKey", a, |o, l| {
        // SAFETY: owned mechanism; `o`/`l` come from two_call.
        unsafe { key_mgmt::C_WrapKey(h, m, wrapping, key, o, l) }
    })
}

fn wrap_round(
    h: CK_SESSION_HANDLE,
    mech: &mut OwnedMech,
    key: CK_OBJECT_HANDLE,
    victim: CK_OBJECT_HANDLE,
    payload: &[u8],
    a: Ask,
    known: bool,
) {
    let (rv, wrapped) = wrap(h, mech, key, victim, a);
    let blob = if rv == sys::CKR_OK { &wrapped } else { payload };
    for kt in [sys::CKK_AES, sys::CKK_GENERIC_SECRET] {
        let (rv2, new) = unwrap(h, mech, key, blob, kt);
        if rv2 == sys::CKR_OK {
            ops::drop_key(h, new);
        } else if known && rv == sys::CKR_OK && kt == sys::CKK_AES {
            // What the module wrapped it must unwrap with the same key.
            panic!(
                "C_UnwrapKey of a fresh C_WrapKey result failed: {}",
                name(rv2)
            );
        }
    }
}
