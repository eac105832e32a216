//! The two-call convention and operation lifetimes: a NULL output buffer
//! returns the length and keeps the operation; a short buffer returns
//! `CKR_BUFFER_TOO_SMALL` with the needed length and keeps it; the right
//! buffer then gives the exact published bytes. Any other error ends the
//! operation; a second Init is `CKR_OPERATION_ACTIVE`; Init with a NULL
//! mechanism and `C_SessionCancel` cancel.

#[macro_use]
mod common;

#[path = "two_call/lifetime.rs"]
mod lifetime;

use std::ptr;

use common::sys::*;
use common::vectors::*;
use common::{Mech, Template, TestToken};

pub fn cat(a: &str, b: &str) -> Vec<u8> {
    let mut v = h(a);
    v.extend(h(b));
    v
}

/// Drives one output call through NULL → short → exact and checks the bytes.
/// `f(out, len)` must be repeatable while the operation is kept.
fn null_short_right(
    what: &str,
    expected: &[u8],
    mut f: impl FnMut(*mut u8, *mut CK_ULONG) -> CK_RV,
) {
    let mut n: CK_ULONG = 0;
    assert_rv!(f(ptr::null_mut(), &mut n), CKR_OK, "{what}: length query");
    assert!(
        n as usize >= expected.len(),
        "{what}: length query gave {n}, need {}",
        expected.len()
    );
    if !expected.is_empty() {
        let mut short = vec![0u8; expected.len() - 1];
        let mut sn = short.len() as CK_ULONG;
        assert_rv!(
            f(short.as_mut_ptr(), &mut sn),
            CKR_BUFFER_TOO_SMALL,
            "{what}: short buffer"
        );
        assert!(
            sn as usize >= expected.len(),
            "{what}: BUFFER_TOO_SMALL reported {sn}, need {}",
            expected.len()
        );
    }
    let mut out = vec![0u8; n as usize];
    let mut on = n;
    assert_rv!(f(out.as_mut_ptr(), &mut on), CKR_OK, "{what}: right buffer");
    out.truncate(on as usize);
    assert_eq!(
        hex::encode(&out),
        hex::encode(expected),
        "{what}: output bytes"
    );
}

pub fn setup() -> (TestToken, CK_SESSION_HANDLE) {
    let tok = TestToken::new();
    let s = tok.user_session();
    (tok, s)
}

pub fn init_ok(rv: CK_RV, what: &str) {
    assert_rv!(rv, CKR_OK, "{what}");
}

#[test]
fn encrypt_gcm_two_call() {
    let (tok, s) = setup();
    let r = &tok.raw;
    let k = r.aes_key(s, &h(GCM_K128), false);
    let p = h(GCM_P)[..60].to_vec();
    let mut m = Mech::gcm(&h(GCM_IV96), &h(GCM_AAD), 128);
    init_ok(ck!(r, C_EncryptInit(s, m.ptr(), k)), "C_EncryptInit");
    let expected = cat(GCM_TC4_C, GCM_TC4_T);
    null_short_right("C_Encrypt GCM", &expected, |o, l| {
        ck!(r, C_Encrypt(s, p.as_ptr() as *mut u8, 60, o, l))
    });
    // The successful call ended the operation.
    let mut n: CK_ULONG = 0;
    assert_rv!(
        ck!(
            r,
            C_Encrypt(s, p.as_ptr() as *mut u8, 60, ptr::null_mut(), &mut n)
        ),
        CKR_OPERATION_NOT_INITIALIZED,
        "after completion"
    );
    // The exact length query: 60 + 16.
    init_ok(ck!(r, C_EncryptInit(s, m.ptr(), k)), "C_EncryptInit");
    assert_rv!(
        ck!(
            r,
            C_Encrypt(s, p.as_ptr() as *mut u8, 60, ptr::null_mut(), &mut n)
        ),
        CKR_OK
    );
    assert_eq!(n, 76, "GCM output length is exact");
}

#[test]
fn decrypt_cbc_pad_two_call() {
    let (tok, s) = setup();
    let r = &tok.raw;
    let k = r.aes_key(s, &h(SP800_38A_KEY), false);
    let ct = h(CBC_PAD_37);
    let pt = h(SP800_38A_P)[..37].to_vec();
    let mut m = Mech::bytes(CKM_AES_CBC_PAD, &h(SP800_38A_CBC_IV));
    init_ok(ck!(r, C_DecryptInit(s, m.ptr(), k)), "C_DecryptInit");
    null_short_right("C_Decrypt CBC-PAD", &pt, |o, l| {
        ck!(
            r,
            C_Decrypt(s, ct.as_ptr() as *mut u8, ct.len() as CK_ULONG, o, l)
        )
    });

    // A buffer exactly as large as the plaintext is enough even when the
    // length query answered with an upper bound.
    init_ok(ck!(r, C_DecryptInit(s, m.ptr(), k)), "C_DecryptInit");
    let mut n: CK_ULONG = 0;
    assert_rv!(
        ck!(
            r,
            C_Decrypt(s, ct.as_ptr() as *mut u8, 48, ptr::null_mut(), &mut n)
        ),
        CKR_OK
    );
    assert!(n == 37 || n == 48, "CBC-PAD length query gave {n}");
    let mut out = vec![0u8; 37];
    let mut on: CK_ULONG = 37;
    assert_rv!(
        ck!(
            r,
            C_Decrypt(s, ct.as_ptr() as *mut u8, 48, out.as_mut_ptr(), &mut on)
        ),
        CKR_OK,
        "exact-size buffer"
    );
    assert_eq!(on, 37);
    assert_eq!(out, pt);
}

#[test]
fn encrypt_update_final_cbc_two_call() {
    let (tok, s) = setup();
    let r = &tok.raw;
    let k = r.aes_key(s, &h(SP800_38A_KEY), false);
    let p = h(SP800_38A_P);
    let c = h(SP800_38A_CBC);
    let mut m = Mech::bytes(CKM_AES_CBC, &h(SP800_38A_CBC_IV));
    init_ok(ck!(r, C_EncryptInit(s, m.ptr(), k)), "C_EncryptInit CBC");
    // Same input in all three calls: the kept operation must not have consumed it.
    null_short_right("C_EncryptUpdate CBC #1", &c[..32], |o, l| {
        ck!(r, C_EncryptUpdate(s, p.as_ptr() as *mut u8, 32, o, l))
    });
    null_short_right("C_EncryptUpdate CBC #2", &c[32..], |o, l| {
        ck!(r, C_EncryptUpdate(s, p[32..].as_ptr() as *mut u8, 32, o, l))
    });
    null_short_right("C_EncryptFinal CBC", &[], |o, l| {
        ck!(r, C_EncryptFinal(s, o, l))
    });
    let mut n: CK_ULONG = 0;
    assert_rv!(
        ck!(r, C_EncryptFinal(s, ptr::null_mut(), &mut n)),
        CKR_OPERATION_NOT_INITIALIZED,
        "after C_EncryptFinal"
    );

    // CBC-PAD: the final block is produced by C_EncryptFinal.
    let want = h(CBC_PAD_37);
    let mut m = Mech::bytes(CKM_AES_CBC_PAD, &h(SP800_38A_CBC_IV));
    init_ok(
        ck!(r, C_EncryptInit(s, m.ptr(), k)),
        "C_EncryptInit CBC-PAD",
    );
    null_short_right("C_EncryptUpdate CBC-PAD 37", &want[..32], |o, l| {
        ck!(r, C_EncryptUpdate(s, p.as_ptr() as *mut u8, 37, o, l))
    });
    null_short_right("C_EncryptFinal CBC-PAD", &want[32..], |o, l| {
        ck!(r, C_EncryptFinal(s, o, l))
    });
}

#[test]
fn digest_sign_wrap_two_call() {
    let (tok, s) = setup();
    let r = &tok.raw;
    let mut m = Mech::plain(CKM_SHA256);
    init_ok(ck!(r, C_DigestInit(s, m.ptr())), "C_DigestInit");
    null_short_right("C_Digest SHA-256", &h(SHA256_ABC), |o, l| {
        ck!(r, C_Digest(s, b"abc".as_ptr() as *mut u8, 3, o, l))
    });

    let hk = r.secret_key(
        s,
        CKK_GENERIC_SECRET,
        &[0x0b; 20],
        false,
        Template::new().bool(CKA_SIGN, true),
    );
    let mut m = Mech::plain(CKM_SHA256_HMAC);
    init_ok(ck!(r, C_SignInit(s, m.ptr(), hk)), "C_SignInit");
    null_short_right("C_Sign HMAC-SHA256", &h(HMAC_TC1), |o, l| {
        ck!(r, C_Sign(s, b"Hi There".as_ptr() as *mut u8, 8, o, l))
    });

    init_ok(ck!(r, C_SignInit(s, m.ptr(), hk)), "C_SignInit");
    init_ok(
        ck!(r, C_SignUpdate(s, b"Hi ".as_ptr() as *mut u8, 3)),
        "C_SignUpdate",
    );
    init_ok(
        ck!(r, C_SignUpdate(s, b"There".as_ptr() as *mut u8, 5)),
        "C_SignUpdate",
    );
    null_short_right("C_SignFinal HMAC-SHA256", &h(HMAC_TC1), |o, l| {
        ck!(r, C_SignFinal(s, o, l))
    });

    let kek = r.aes_key(s, &h(KW_KEK), false);
    let key = r.secret_key(
        s,
        CKK_AES,
        &h(KW_KEY),
        false,
        Template::new().bool(CKA_EXTRACTABLE, true),
    );
    let mut m = Mech::plain(CKM_AES_KEY_WRAP);
    null_short_right("C_WrapKey RFC 3394", &h(KW_WRAPPED), |o, l| {
        ck!(r, C_WrapKey(s, m.ptr(), kek, key, o, l))
    });
}

#[test]
fn get_attribute_value_two_call() {
    let (tok, s) = setup();
    let r = &tok.raw;
    let k = r.secret_key(
        s,
        CKK_AES,
        &[7; 16],
        false,
        Template::new().bytes(CKA_LABEL, b"two-call-label"),
    );
    let mut a = CK_ATTRIBUTE {
        type_: CKA_LABEL,
        pValue: ptr::null_mut(),
        ulValueLen: 0,
    };
    assert_rv!(
        ck!(r, C_GetAttributeValue(s, k, &mut a, 1)),
        CKR_OK,
        "NULL pValue"
    );
    assert_eq!(a.ulValueLen, 14);
    let mut short = [0u8; 13];
    a.pValue = short.as_mut_ptr() as *mut _;
    a.ulValueLen = 13;
    assert_rv!(
        ck!(r, C_GetAttributeValue(s, k, &mut a, 1)),
        CKR_BUFFER_TOO_SMALL,
        "short buffer"
    );
    assert_eq!(
        a.ulValueLen, CK_UNAVAILABLE_INFORMATION,
        "a short attribute buffer gets CK_UNAVAILABLE_INFORMATION"
    );
    let mut buf = [0u8; 14];
    a.pValue = buf.as_mut_ptr() as *mut _;
    a.ulValueLen = 14;
    assert_rv!(
        ck!(r, C_GetAttributeValue(s, k, &mut a, 1)),
        CKR_OK,
        "right buffer"
    );
    assert_eq!(&buf, b"two-call-label");
    assert_eq!(a.ulValueLen, 14);
}

#[test]
fn slot_and_mechanism_lists_two_call() {
    let (tok, _s) = setup();
    let r = &tok.raw;
    for present in [CK_FALSE, CK_TRUE] {
        let mut n: CK_ULONG = 0;
        assert_rv!(
            ck!(r, C_GetSlotList(present, ptr::null_mut(), &mut n)),
            CKR_OK
        );
        assert_eq!(n, 1);
        let mut v = [0 as CK_SLOT_ID; 4];
        let mut z: CK_ULONG = 0;
        assert_rv!(
            ck!(r, C_GetSlotList(present, v.as_mut_ptr(), &mut z)),
            CKR_BUFFER_TOO_SMALL,
            "zero-sized slot buffer"
        );
        assert_eq!(z, 1, "needed count written");
        let mut n4: CK_ULONG = 4;
        assert_rv!(
            ck!(r, C_GetSlotList(present, v.as_mut_ptr(), &mut n4)),
            CKR_OK
        );
        assert_eq!((n4, v[0]), (1, tok.slot));
    }
    let mut n: CK_ULONG = 0;
    assert_rv!(
        ck!(r, C_GetMechanismList(tok.slot, ptr::null_mut(), &mut n)),
        CKR_OK
    );
    assert!(n >= 10, "mechanism count {n}");
    let mut v = vec![0 as CK_MECHANISM_TYPE; n as usize];
    let mut short = n - 1;
    assert_rv!(
        ck!(r, C_GetMechanismList(tok.slot, v.as_mut_ptr(), &mut short)),
        CKR_BUFFER_TOO_SMALL
    );
    assert_eq!(short, n, "needed count written");
    let mut m = n;
    assert_rv!(
        ck!(r, C_GetMechanismList(tok.slot, v.as_mut_ptr(), &mut m)),
        CKR_OK
    );
    assert_eq!(m, n);
    for want in [
        CKM_AES_GCM,
        CKM_AES_CBC_PAD,
        CKM_AES_KEY_WRAP,
        CKM_SHA256_HMAC,
        CKM_SHA256,
        CKM_AES_CMAC,
    ] {
        assert!(v.contains(&want), "mechanism 0x{want:x} listed");
    }
    let mut mi = CK_MECHANISM_INFO::default();
    assert_rv!(
        ck!(r, C_GetMechanismInfo(tok.slot, CKM_AES_GCM, &mut mi)),
        CKR_OK
    );
    assert_eq!(
        (mi.ulMinKeySize, mi.ulMaxKeySize),
        (16, 32),
        "AES key sizes are in bytes"
    );
}
