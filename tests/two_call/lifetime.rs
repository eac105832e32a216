//! Operation lifetimes: errors end the operation, a second Init is
//! `CKR_OPERATION_ACTIVE`, Init with a NULL mechanism and `C_SessionCancel` cancel.

use std::ptr;

use super::common::sys::*;
use super::common::vectors::*;
use super::common::{Mech, Raw, Template};
use super::*;

#[test]
fn other_errors_end_the_operation() {
    let (tok, s) = setup();
    let r = &tok.raw;
    let k = r.aes_key(s, &h(GCM_K128), false);
    let mut ct = cat(GCM_TC4_C, GCM_TC4_T);
    ct[70] ^= 1; // in the tag
    let mut m = Mech::gcm(&h(GCM_IV96), &h(GCM_AAD), 128);
    init_ok(ck!(r, C_DecryptInit(s, m.ptr(), k)), "C_DecryptInit");
    let mut out = vec![0u8; 76];
    let mut n: CK_ULONG = 76;
    assert_rv!(
        ck!(
            r,
            C_Decrypt(s, ct.as_mut_ptr(), 76, out.as_mut_ptr(), &mut n)
        ),
        CKR_ENCRYPTED_DATA_INVALID,
        "bad GCM tag"
    );
    assert!(
        out.iter().all(|b| *b == 0),
        "no plaintext released for a bad tag"
    );
    n = 76;
    assert_rv!(
        ck!(
            r,
            C_Decrypt(s, ct.as_mut_ptr(), 76, out.as_mut_ptr(), &mut n)
        ),
        CKR_OPERATION_NOT_INITIALIZED,
        "after the bad tag"
    );

    // A bad tag discovered after a length query ends it too.
    init_ok(ck!(r, C_DecryptInit(s, m.ptr(), k)), "C_DecryptInit");
    assert_rv!(
        ck!(
            r,
            C_Decrypt(s, ct.as_mut_ptr(), 76, ptr::null_mut(), &mut n)
        ),
        CKR_OK,
        "length query"
    );
    n = 76;
    assert_rv!(
        ck!(
            r,
            C_Decrypt(s, ct.as_mut_ptr(), 76, out.as_mut_ptr(), &mut n)
        ),
        CKR_ENCRYPTED_DATA_INVALID
    );
    assert_rv!(
        ck!(
            r,
            C_Decrypt(s, ct.as_mut_ptr(), 76, out.as_mut_ptr(), &mut n)
        ),
        CKR_OPERATION_NOT_INITIALIZED
    );

    // Data length error on CBC without padding.
    let mut cbc = Mech::bytes(CKM_AES_CBC, &[0; 16]);
    init_ok(ck!(r, C_EncryptInit(s, cbc.ptr(), k)), "C_EncryptInit CBC");
    n = 64;
    assert_rv!(
        ck!(
            r,
            C_Encrypt(s, out.as_mut_ptr(), 15, ct.as_mut_ptr(), &mut n)
        ),
        CKR_DATA_LEN_RANGE,
        "15 bytes in CBC"
    );
    n = 64;
    assert_rv!(
        ck!(
            r,
            C_Encrypt(s, out.as_mut_ptr(), 16, ct.as_mut_ptr(), &mut n)
        ),
        CKR_OPERATION_NOT_INITIALIZED,
        "after DATA_LEN_RANGE"
    );

    // A wrong MAC in C_Verify.
    let mut hm = Mech::plain(CKM_SHA256_HMAC);
    let hk = r.secret_key(
        s,
        CKK_GENERIC_SECRET,
        &[0x0b; 20],
        false,
        Template::new().bool(CKA_VERIFY, true),
    );
    let mut mac = h(HMAC_TC1);
    mac[0] ^= 1;
    init_ok(ck!(r, C_VerifyInit(s, hm.ptr(), hk)), "C_VerifyInit");
    assert_rv!(
        ck!(
            r,
            C_Verify(s, b"Hi There".as_ptr() as *mut u8, 8, mac.as_mut_ptr(), 32)
        ),
        CKR_SIGNATURE_INVALID
    );
    assert_rv!(
        ck!(
            r,
            C_Verify(s, b"Hi There".as_ptr() as *mut u8, 8, mac.as_mut_ptr(), 32)
        ),
        CKR_OPERATION_NOT_INITIALIZED,
        "after SIGNATURE_INVALID"
    );
}

// FINDING 2
#[test]
fn arguments_bad_ends_the_operation() {
    // PKCS#11 3.0 §5.8 C_Encrypt: "A call to C_Encrypt always terminates the
    // active encryption operation unless it returns CKR_BUFFER_TOO_SMALL or is
    // a successful call ... to determine the length of the buffer needed".
    let (tok, s) = setup();
    let r = &tok.raw;
    let k = r.aes_key(s, &h(GCM_K128), false);
    let p = h(GCM_P);
    let mut m = Mech::gcm(&h(GCM_IV96), &[], 128);
    init_ok(ck!(r, C_EncryptInit(s, m.ptr(), k)), "C_EncryptInit");
    let mut out = vec![0u8; 100];
    assert_rv!(
        ck!(
            r,
            C_Encrypt(
                s,
                p.as_ptr() as *mut u8,
                64,
                out.as_mut_ptr(),
                ptr::null_mut()
            )
        ),
        CKR_ARGUMENTS_BAD
    );
    let mut n: CK_ULONG = 100;
    assert_rv!(
        ck!(
            r,
            C_Encrypt(s, p.as_ptr() as *mut u8, 64, out.as_mut_ptr(), &mut n)
        ),
        CKR_OPERATION_NOT_INITIALIZED,
        "C_Encrypt after it returned CKR_ARGUMENTS_BAD"
    );

    let mut dm = Mech::plain(CKM_SHA256);
    init_ok(ck!(r, C_DigestInit(s, dm.ptr())), "C_DigestInit");
    assert_rv!(
        ck!(r, C_Digest(s, ptr::null_mut(), 3, out.as_mut_ptr(), &mut n)),
        CKR_ARGUMENTS_BAD
    );
    n = 100;
    assert_rv!(
        ck!(
            r,
            C_Digest(s, b"abc".as_ptr() as *mut u8, 3, out.as_mut_ptr(), &mut n)
        ),
        CKR_OPERATION_NOT_INITIALIZED,
        "C_Digest after it returned CKR_ARGUMENTS_BAD"
    );
}

/// Inits every kind of operation on `s`; returns the Init results.
fn init_all(
    r: &Raw,
    s: CK_SESSION_HANDLE,
    k: CK_OBJECT_HANDLE,
    hk: CK_OBJECT_HANDLE,
) -> [(&'static str, CK_RV); 6] {
    let mut g = Mech::gcm(&[1; 12], &[], 128);
    let mut g2 = Mech::gcm(&[1; 12], &[], 128);
    let mut d = Mech::plain(CKM_SHA256);
    let mut hm = Mech::plain(CKM_SHA256_HMAC);
    let mut hm2 = Mech::plain(CKM_SHA256_HMAC);
    let mut msg = Mech::plain(CKM_AES_GCM);
    [
        ("C_EncryptInit", ck!(r, C_EncryptInit(s, g.ptr(), k))),
        ("C_DecryptInit", ck!(r, C_DecryptInit(s, g2.ptr(), k))),
        ("C_DigestInit", ck!(r, C_DigestInit(s, d.ptr()))),
        ("C_SignInit", ck!(r, C_SignInit(s, hm.ptr(), hk))),
        ("C_VerifyInit", ck!(r, C_VerifyInit(s, hm2.ptr(), hk))),
        (
            "C_MessageEncryptInit",
            ck!(r, C_MessageEncryptInit(s, msg.ptr(), k)),
        ),
    ]
}

#[test]
fn second_init_is_operation_active_and_keeps_the_first() {
    let (tok, s) = setup();
    let r = &tok.raw;
    let k = r.aes_key(s, &h(GCM_K128), false);
    let hk = r.secret_key(
        s,
        CKK_GENERIC_SECRET,
        &[0x0b; 20],
        false,
        Template::all_usages(),
    );
    for (f, rv) in init_all(r, s, k, hk) {
        assert_rv!(rv, CKR_OK, "first {f}");
    }
    for (f, rv) in init_all(r, s, k, hk) {
        assert_rv!(rv, CKR_OPERATION_ACTIVE, "second {f}");
    }
    assert_rv!(ck!(r, C_FindObjectsInit(s, ptr::null_mut(), 0)), CKR_OK);
    assert_rv!(
        ck!(r, C_FindObjectsInit(s, ptr::null_mut(), 0)),
        CKR_OPERATION_ACTIVE,
        "second C_FindObjectsInit"
    );
    // The first operations survive the refused Inits.
    let mut n: CK_ULONG = 0;
    assert_rv!(
        ck!(
            r,
            C_Encrypt(
                s,
                [0u8; 16].as_ptr() as *mut u8,
                16,
                ptr::null_mut(),
                &mut n
            )
        ),
        CKR_OK,
        "encrypt still active"
    );
    let mut out = [0u8; 32];
    n = 32;
    assert_rv!(
        ck!(
            r,
            C_Digest(s, b"abc".as_ptr() as *mut u8, 3, out.as_mut_ptr(), &mut n)
        ),
        CKR_OK,
        "digest still active"
    );
    assert_eq!(&out[..], &h(SHA256_ABC)[..]);
    n = 32;
    assert_rv!(
        ck!(
            r,
            C_Sign(
                s,
                b"Hi There".as_ptr() as *mut u8,
                8,
                out.as_mut_ptr(),
                &mut n
            )
        ),
        CKR_OK,
        "sign still active"
    );
    assert_eq!(&out[..], &h(HMAC_TC1)[..]);
    let mut hs = [0 as CK_OBJECT_HANDLE; 8];
    assert_rv!(
        ck!(r, C_FindObjects(s, hs.as_mut_ptr(), 8, &mut n)),
        CKR_OK,
        "find still active"
    );
    assert_eq!(n, 2);
}

#[test]
fn init_with_null_mechanism_cancels() {
    let (tok, s) = setup();
    let r = &tok.raw;
    let k = r.aes_key(s, &h(GCM_K128), false);
    let hk = r.secret_key(
        s,
        CKK_GENERIC_SECRET,
        &[0x0b; 20],
        false,
        Template::all_usages(),
    );
    for (f, rv) in init_all(r, s, k, hk) {
        assert_rv!(rv, CKR_OK, "{f}");
    }
    assert_rv!(
        ck!(r, C_EncryptInit(s, ptr::null_mut(), k)),
        CKR_OK,
        "C_EncryptInit(NULL)"
    );
    assert_rv!(
        ck!(r, C_DecryptInit(s, ptr::null_mut(), k)),
        CKR_OK,
        "C_DecryptInit(NULL)"
    );
    assert_rv!(
        ck!(r, C_DigestInit(s, ptr::null_mut())),
        CKR_OK,
        "C_DigestInit(NULL)"
    );
    assert_rv!(
        ck!(r, C_SignInit(s, ptr::null_mut(), hk)),
        CKR_OK,
        "C_SignInit(NULL)"
    );
    assert_rv!(
        ck!(r, C_VerifyInit(s, ptr::null_mut(), hk)),
        CKR_OK,
        "C_VerifyInit(NULL)"
    );
    let mut n: CK_ULONG = 0;
    let d = [0u8; 16];
    let mut mac = [0u8; 32];
    assert_rv!(
        ck!(
            r,
            C_Encrypt(s, d.as_ptr() as *mut u8, 16, ptr::null_mut(), &mut n)
        ),
        CKR_OPERATION_NOT_INITIALIZED,
        "encrypt cancelled"
    );
    assert_rv!(
        ck!(
            r,
            C_Decrypt(s, d.as_ptr() as *mut u8, 16, ptr::null_mut(), &mut n)
        ),
        CKR_OPERATION_NOT_INITIALIZED,
        "decrypt cancelled"
    );
    assert_rv!(
        ck!(
            r,
            C_Digest(s, d.as_ptr() as *mut u8, 16, ptr::null_mut(), &mut n)
        ),
        CKR_OPERATION_NOT_INITIALIZED,
        "digest cancelled"
    );
    assert_rv!(
        ck!(
            r,
            C_Sign(s, d.as_ptr() as *mut u8, 16, ptr::null_mut(), &mut n)
        ),
        CKR_OPERATION_NOT_INITIALIZED,
        "sign cancelled"
    );
    assert_rv!(
        ck!(
            r,
            C_Verify(s, d.as_ptr() as *mut u8, 16, mac.as_mut_ptr(), 32)
        ),
        CKR_OPERATION_NOT_INITIALIZED,
        "verify cancelled"
    );
    // And they can be started again.
    let results = init_all(r, s, k, hk);
    for (f, rv) in &results[..5] {
        assert_rv!(*rv, CKR_OK, "{f} after cancel");
    }
    // Cancelling with nothing active is harmless.
    assert_rv!(ck!(r, C_DigestInit(s, ptr::null_mut())), CKR_OK);
    assert_rv!(
        ck!(r, C_DigestInit(s, ptr::null_mut())),
        CKR_OK,
        "cancel with nothing active"
    );
}

#[test]
fn session_cancel() {
    let (tok, s) = setup();
    let r = &tok.raw;
    let k = r.aes_key(s, &h(GCM_K128), false);
    let hk = r.secret_key(
        s,
        CKK_GENERIC_SECRET,
        &[0x0b; 20],
        false,
        Template::all_usages(),
    );
    for (f, rv) in init_all(r, s, k, hk) {
        assert_rv!(rv, CKR_OK, "{f}");
    }
    assert_rv!(ck!(r, C_FindObjectsInit(s, ptr::null_mut(), 0)), CKR_OK);
    assert_rv!(
        ck!(
            r,
            C_SessionCancel(s, CKF_ENCRYPT | CKF_FIND_OBJECTS | CKF_MESSAGE_ENCRYPT)
        ),
        CKR_OK
    );
    let mut n: CK_ULONG = 0;
    let d = [0u8; 16];
    assert_rv!(
        ck!(
            r,
            C_Encrypt(s, d.as_ptr() as *mut u8, 16, ptr::null_mut(), &mut n)
        ),
        CKR_OPERATION_NOT_INITIALIZED,
        "encrypt cancelled"
    );
    let mut hs = [0 as CK_OBJECT_HANDLE; 4];
    assert_rv!(
        ck!(r, C_FindObjects(s, hs.as_mut_ptr(), 4, &mut n)),
        CKR_OPERATION_NOT_INITIALIZED,
        "find cancelled"
    );
    assert_rv!(
        ck!(r, C_MessageEncryptFinal(s)),
        CKR_OPERATION_NOT_INITIALIZED,
        "message encrypt cancelled"
    );
    // Not named in the flags: still active.
    let mut out = [0u8; 32];
    n = 32;
    assert_rv!(
        ck!(
            r,
            C_Digest(s, b"abc".as_ptr() as *mut u8, 3, out.as_mut_ptr(), &mut n)
        ),
        CKR_OK,
        "digest untouched"
    );
    assert_eq!(&out[..], &h(SHA256_ABC)[..]);
    assert_rv!(
        ck!(r, C_DecryptInit(s, Mech::gcm(&[1; 12], &[], 128).ptr(), k)),
        CKR_OPERATION_ACTIVE,
        "decrypt untouched"
    );
    assert_rv!(
        ck!(r, C_SessionCancel(s, CKF_DECRYPT | CKF_SIGN | CKF_VERIFY)),
        CKR_OK
    );
    for (f, rv) in &init_all(r, s, k, hk)[..5] {
        assert_rv!(*rv, CKR_OK, "{f} after C_SessionCancel");
    }
    assert_rv!(
        ck!(r, C_SessionCancel(999_999, CKF_ENCRYPT)),
        CKR_SESSION_HANDLE_INVALID
    );
}
