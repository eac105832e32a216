//! Digest, sign and verify functions (and the dual-function stubs) with NULL pointers.

use std::ptr::null_mut;

use super::common::sys::*;
use super::common::vectors::*;
use super::common::Mech;
use super::*;

#[test]
fn digest_sign_verify_functions() {
    let f = fixture();
    let r = &f.tok.raw;
    let (s, hk) = (f.s, f.hk);
    let mut out = [0u8; 64];
    let mut n: CK_ULONG;
    let abc = b"abc".as_ptr() as *mut u8;
    let hi = b"Hi There".as_ptr() as *mut u8;

    let mut d = Mech::plain(CKM_SHA256);
    assert_rv!(
        ck!(r, C_DigestInit(s, null_mut())),
        CKR_OK,
        "C_DigestInit(NULL) cancels"
    );
    restart(r, s, Op::Digest, &mut d, 0);
    n = 64;
    assert_rv!(
        ck!(r, C_Digest(s, null_mut(), 3, out.as_mut_ptr(), &mut n)),
        AB,
        "C_Digest(pData NULL, 3)"
    );
    restart(r, s, Op::Digest, &mut d, 0);
    assert_rv!(
        ck!(r, C_Digest(s, abc, 3, out.as_mut_ptr(), null_mut())),
        AB,
        "C_Digest(pulDigestLen NULL)"
    );
    restart(r, s, Op::Digest, &mut d, 0);
    n = 64;
    assert_rv!(
        ck!(r, C_Digest(s, null_mut(), 0, out.as_mut_ptr(), &mut n)),
        CKR_OK,
        "C_Digest(pData NULL, 0)"
    );
    assert_eq!(&out[..n as usize], &h(SHA256_EMPTY)[..]);
    restart(r, s, Op::Digest, &mut d, 0);
    n = 0;
    assert_rv!(
        ck!(r, C_Digest(s, abc, 3, null_mut(), &mut n)),
        CKR_OK,
        "C_Digest(pDigest NULL) = length"
    );
    assert_eq!(n, 32);
    restart(r, s, Op::Digest, &mut d, 0);
    assert_rv!(
        ck!(r, C_DigestUpdate(s, null_mut(), 3)),
        AB,
        "C_DigestUpdate(pPart NULL, 3)"
    );
    restart(r, s, Op::Digest, &mut d, 0);
    assert_rv!(
        ck!(r, C_DigestUpdate(s, null_mut(), 0)),
        CKR_OK,
        "C_DigestUpdate(pPart NULL, 0)"
    );
    assert_rv!(ck!(r, C_DigestKey(s, f.k)), CKR_OK, "C_DigestKey");
    assert_rv!(
        ck!(r, C_DigestFinal(s, out.as_mut_ptr(), null_mut())),
        AB,
        "C_DigestFinal(pulDigestLen NULL)"
    );
    restart(r, s, Op::Digest, &mut d, 0);
    n = 0;
    assert_rv!(
        ck!(r, C_DigestFinal(s, null_mut(), &mut n)),
        CKR_OK,
        "C_DigestFinal(pDigest NULL) = length"
    );
    assert_eq!(n, 32);

    let mut m = Mech::plain(CKM_SHA256_HMAC);
    assert_rv!(
        ck!(r, C_SignInit(s, null_mut(), hk)),
        CKR_OK,
        "C_SignInit(NULL) cancels"
    );
    restart(r, s, Op::Sign, &mut m, hk);
    n = 64;
    assert_rv!(
        ck!(r, C_Sign(s, null_mut(), 8, out.as_mut_ptr(), &mut n)),
        AB,
        "C_Sign(pData NULL, 8)"
    );
    restart(r, s, Op::Sign, &mut m, hk);
    assert_rv!(
        ck!(r, C_Sign(s, hi, 8, out.as_mut_ptr(), null_mut())),
        AB,
        "C_Sign(pulSignatureLen NULL)"
    );
    restart(r, s, Op::Sign, &mut m, hk);
    n = 0;
    assert_rv!(
        ck!(r, C_Sign(s, hi, 8, null_mut(), &mut n)),
        CKR_OK,
        "C_Sign(pSignature NULL) = length"
    );
    assert_eq!(n, 32);
    n = 64;
    assert_rv!(ck!(r, C_Sign(s, hi, 8, out.as_mut_ptr(), &mut n)), CKR_OK);
    assert_eq!(&out[..32], &h(HMAC_TC1)[..]);
    restart(r, s, Op::Sign, &mut m, hk);
    assert_rv!(
        ck!(r, C_SignUpdate(s, null_mut(), 8)),
        AB,
        "C_SignUpdate(pPart NULL, 8)"
    );
    restart(r, s, Op::Sign, &mut m, hk);
    assert_rv!(
        ck!(r, C_SignUpdate(s, null_mut(), 0)),
        CKR_OK,
        "C_SignUpdate(pPart NULL, 0)"
    );
    assert_rv!(
        ck!(r, C_SignFinal(s, out.as_mut_ptr(), null_mut())),
        AB,
        "C_SignFinal(pulSignatureLen NULL)"
    );
    restart(r, s, Op::Sign, &mut m, hk);
    n = 0;
    assert_rv!(
        ck!(r, C_SignFinal(s, null_mut(), &mut n)),
        CKR_OK,
        "C_SignFinal(pSignature NULL) = length"
    );
    assert_eq!(n, 32);

    let mut mac = h(HMAC_TC1);
    assert_rv!(
        ck!(r, C_VerifyInit(s, null_mut(), hk)),
        CKR_OK,
        "C_VerifyInit(NULL) cancels"
    );
    restart(r, s, Op::Verify, &mut m, hk);
    assert_rv!(
        ck!(r, C_Verify(s, null_mut(), 8, mac.as_mut_ptr(), 32)),
        AB,
        "C_Verify(pData NULL, 8)"
    );
    restart(r, s, Op::Verify, &mut m, hk);
    assert_rv!(
        ck!(r, C_Verify(s, hi, 8, null_mut(), 32)),
        AB,
        "C_Verify(pSignature NULL)"
    );
    restart(r, s, Op::Verify, &mut m, hk);
    assert_rv!(
        ck!(r, C_Verify(s, hi, 8, mac.as_mut_ptr(), 32)),
        CKR_OK,
        "C_Verify valid"
    );
    restart(r, s, Op::Verify, &mut m, hk);
    assert_rv!(
        ck!(r, C_VerifyUpdate(s, null_mut(), 8)),
        AB,
        "C_VerifyUpdate(pPart NULL, 8)"
    );
    restart(r, s, Op::Verify, &mut m, hk);
    assert_rv!(ck!(r, C_VerifyUpdate(s, hi, 8)), CKR_OK);
    assert_rv!(
        ck!(r, C_VerifyFinal(s, null_mut(), 32)),
        AB,
        "C_VerifyFinal(pSignature NULL)"
    );

    // Not offered: whatever the pointers.
    let mut rm = Mech::plain(CKM_SHA256_HMAC);
    for (name, rv) in [
        (
            "C_SignRecoverInit(NULL)",
            ck!(r, C_SignRecoverInit(s, null_mut(), hk)),
        ),
        (
            "C_SignRecoverInit",
            ck!(r, C_SignRecoverInit(s, rm.ptr(), hk)),
        ),
        (
            "C_SignRecover(NULL, NULL, NULL)",
            ck!(r, C_SignRecover(s, null_mut(), 8, null_mut(), null_mut())),
        ),
        (
            "C_VerifyRecoverInit(NULL)",
            ck!(r, C_VerifyRecoverInit(s, null_mut(), hk)),
        ),
        (
            "C_VerifyRecover(NULL, NULL, NULL)",
            ck!(r, C_VerifyRecover(s, null_mut(), 8, null_mut(), null_mut())),
        ),
        (
            "C_DigestEncryptUpdate(NULLs)",
            ck!(
                r,
                C_DigestEncryptUpdate(s, null_mut(), 8, null_mut(), null_mut())
            ),
        ),
        (
            "C_DecryptDigestUpdate(NULLs)",
            ck!(
                r,
                C_DecryptDigestUpdate(s, null_mut(), 8, null_mut(), null_mut())
            ),
        ),
        (
            "C_SignEncryptUpdate(NULLs)",
            ck!(
                r,
                C_SignEncryptUpdate(s, null_mut(), 8, null_mut(), null_mut())
            ),
        ),
        (
            "C_DecryptVerifyUpdate(NULLs)",
            ck!(
                r,
                C_DecryptVerifyUpdate(s, null_mut(), 8, null_mut(), null_mut())
            ),
        ),
    ] {
        assert_rv!(rv, NS, "{name}");
    }
}
