//! Key management and random functions with NULL pointers.

use std::ptr::null_mut;

use super::common::sys::*;
use super::common::vectors::*;
use super::common::{Mech, Raw, Template};
use super::*;

#[test]
fn key_management_and_random_functions() {
    let f = fixture();
    let r = &f.tok.raw;
    let s = f.s;
    let count = |r: &Raw| r.find(s, None, 64).len();
    let before = count(r);
    let mut o: CK_OBJECT_HANDLE = 0;
    let mut gen = Mech::plain(CKM_AES_KEY_GEN);
    let mut t = Template::new()
        .ulong(CKA_VALUE_LEN, 16)
        .bool(CKA_ENCRYPT, true);
    assert_rv!(
        ck!(r, C_GenerateKey(s, null_mut(), t.ptr(), t.count(), &mut o)),
        AB,
        "C_GenerateKey(pMechanism NULL)"
    );
    assert_rv!(
        ck!(r, C_GenerateKey(s, gen.ptr(), null_mut(), 2, &mut o)),
        AB,
        "C_GenerateKey(NULL template, 2)"
    );
    assert_rv!(
        ck!(r, C_GenerateKey(s, gen.ptr(), null_mut(), 0, &mut o)),
        CKR_TEMPLATE_INCOMPLETE,
        "C_GenerateKey(NULL, 0): no CKA_VALUE_LEN"
    );
    assert_rv!(
        ck!(
            r,
            C_GenerateKey(s, gen.ptr(), t.ptr(), t.count(), null_mut())
        ),
        AB,
        "C_GenerateKey(phKey NULL)"
    );
    assert_eq!(
        count(r),
        before,
        "no key may be generated when phKey is NULL"
    );

    let mut pk: CK_OBJECT_HANDLE = 0;
    let mut sk: CK_OBJECT_HANDLE = 0;
    assert_rv!(
        ck!(
            r,
            C_GenerateKeyPair(
                s,
                null_mut(),
                null_mut(),
                0,
                null_mut(),
                0,
                null_mut(),
                null_mut()
            )
        ),
        NS,
        "C_GenerateKeyPair(NULLs)"
    );
    let mut rsa = Mech::plain(CKM_RSA_PKCS_KEY_PAIR_GEN);
    let rv = ck!(
        r,
        C_GenerateKeyPair(s, rsa.ptr(), null_mut(), 0, null_mut(), 0, &mut pk, &mut sk)
    );
    one_of(rv, &[NS, CKR_MECHANISM_INVALID], "C_GenerateKeyPair(RSA)");
    assert_rv!(
        ck!(
            r,
            C_DeriveKey(s, null_mut(), f.k, null_mut(), 0, null_mut())
        ),
        NS,
        "C_DeriveKey(NULLs)"
    );

    let kek = r.aes_key(s, &h(KW_KEK), false);
    let key = r.secret_key(
        s,
        CKK_AES,
        &h(KW_KEY),
        false,
        Template::new().bool(CKA_EXTRACTABLE, true),
    );
    let before = count(r);
    let mut kw = Mech::plain(CKM_AES_KEY_WRAP);
    let mut out = [0u8; 64];
    let mut n: CK_ULONG = 64;
    assert_rv!(
        ck!(
            r,
            C_WrapKey(s, null_mut(), kek, key, out.as_mut_ptr(), &mut n)
        ),
        AB,
        "C_WrapKey(pMechanism NULL)"
    );
    assert_rv!(
        ck!(
            r,
            C_WrapKey(s, kw.ptr(), kek, key, out.as_mut_ptr(), null_mut())
        ),
        AB,
        "C_WrapKey(pulWrappedKeyLen NULL)"
    );
    n = 0;
    assert_rv!(
        ck!(r, C_WrapKey(s, kw.ptr(), kek, key, null_mut(), &mut n)),
        CKR_OK,
        "C_WrapKey(pWrappedKey NULL) = length"
    );
    assert_eq!(n, 24);
    let mut w = h(KW_WRAPPED);
    let mut ut = Template::new()
        .ulong(CKA_CLASS, CKO_SECRET_KEY)
        .ulong(CKA_KEY_TYPE, CKK_AES);
    assert_rv!(
        ck!(
            r,
            C_UnwrapKey(
                s,
                null_mut(),
                kek,
                w.as_mut_ptr(),
                24,
                ut.ptr(),
                ut.count(),
                &mut o
            )
        ),
        AB,
        "C_UnwrapKey(pMechanism NULL)"
    );
    assert_rv!(
        ck!(
            r,
            C_UnwrapKey(
                s,
                kw.ptr(),
                kek,
                null_mut(),
                24,
                ut.ptr(),
                ut.count(),
                &mut o
            )
        ),
        AB,
        "C_UnwrapKey(pWrappedKey NULL)"
    );
    assert_rv!(
        ck!(
            r,
            C_UnwrapKey(s, kw.ptr(), kek, w.as_mut_ptr(), 24, null_mut(), 2, &mut o)
        ),
        AB,
        "C_UnwrapKey(NULL template, 2)"
    );
    assert_rv!(
        ck!(
            r,
            C_UnwrapKey(s, kw.ptr(), kek, w.as_mut_ptr(), 24, null_mut(), 0, &mut o)
        ),
        CKR_TEMPLATE_INCOMPLETE,
        "C_UnwrapKey(NULL template, 0): class and key type unknown"
    );
    assert_rv!(
        ck!(
            r,
            C_UnwrapKey(
                s,
                kw.ptr(),
                kek,
                w.as_mut_ptr(),
                24,
                ut.ptr(),
                ut.count(),
                null_mut()
            )
        ),
        AB,
        "C_UnwrapKey(phKey NULL)"
    );
    assert_eq!(
        count(r),
        before,
        "no key may be unwrapped when phKey is NULL"
    );

    assert_rv!(
        ck!(r, C_SeedRandom(s, null_mut(), 4)),
        AB,
        "C_SeedRandom(pSeed NULL, 4)"
    );
    assert_rv!(
        ck!(r, C_GenerateRandom(s, null_mut(), 16)),
        AB,
        "C_GenerateRandom(NULL, 16)"
    );
}
