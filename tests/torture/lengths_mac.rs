//! Lengths of the digest, sign and verify functions (single- and
//! multi-part) and of the dual-function and recover stubs.

use super::common::sys::*;
use super::common::vectors::*;
use super::support::*;

const AB: CK_RV = CKR_ARGUMENTS_BAD;
const NI: CK_RV = CKR_OPERATION_NOT_INITIALIZED;

#[test]
fn digest_lengths() {
    let fx = fixture();
    let r = &fx.tok.raw;
    let s = fx.s;
    let abc = b"abc";
    let (ap, al) = inp(abc);
    let init = || assert_rv!(ck!(r, C_DigestInit(s, sha256().ptr())), CKR_OK);

    init();
    let (rv, _, d) = out_call(32, |o, l| ck!(r, C_Digest(s, ap, 0, o, l)));
    assert_rv!(rv, CKR_OK, "C_Digest(0)");
    assert_eq!(d, h(SHA256_EMPTY));
    init();
    let (rv, _, _) = out_call(32, |o, l| ck!(r, C_Digest(s, ap, HUGE, o, l)));
    one_of(rv, &[AB, CKR_DATA_LEN_RANGE], "C_Digest(huge)");
    let (rv, _, _) = out_call(32, |o, l| ck!(r, C_Digest(s, ap, al, o, l)));
    assert_rv!(rv, NI, "ended by the huge length");
    init();
    let (rv, n, _) = out_call(0, |o, l| ck!(r, C_Digest(s, ap, al, o, l)));
    assert_rv!(rv, CKR_BUFFER_TOO_SMALL, "C_Digest(*pulLen 0)");
    assert_eq!(n, 32);
    let (rv, _, d) = out_call(32, |o, l| ck!(r, C_Digest(s, ap, al, o, l)));
    assert_rv!(rv, CKR_OK);
    assert_eq!(d, h(SHA256_ABC));

    init();
    assert_rv!(
        ck!(r, C_DigestUpdate(s, ap, 0)),
        CKR_OK,
        "C_DigestUpdate(0)"
    );
    let rv = ck!(r, C_DigestUpdate(s, ap, HUGE));
    one_of(rv, &[AB, CKR_DATA_LEN_RANGE], "C_DigestUpdate(huge)");
    let (rv, _, _) = out_call(32, |o, l| ck!(r, C_DigestFinal(s, o, l)));
    assert_rv!(rv, NI, "ended by the huge part (§5.12 C_DigestUpdate)");
    init();
    assert_rv!(ck!(r, C_DigestUpdate(s, ap, 0)), CKR_OK);
    assert_rv!(ck!(r, C_DigestUpdate(s, ap, al)), CKR_OK);
    let (rv, n, _) = out_call(0, |o, l| ck!(r, C_DigestFinal(s, o, l)));
    assert_rv!(rv, CKR_BUFFER_TOO_SMALL, "C_DigestFinal(*pulLen 0)");
    assert_eq!(n, 32);
    let (rv, _, d) = out_call(32, |o, l| ck!(r, C_DigestFinal(s, o, l)));
    assert_rv!(rv, CKR_OK);
    assert_eq!(d, h(SHA256_ABC), "empty parts change nothing");
}

#[test]
fn sign_and_verify_lengths() {
    let fx = fixture();
    let r = &fx.tok.raw;
    let (s, hk) = (fx.s, fx.hk);
    let msg = b"Hi There";
    let (mp, ml) = inp(msg);
    let tc1 = h(HMAC_TC1);
    let (tp, _) = inp(&tc1);
    let sign = || assert_rv!(ck!(r, C_SignInit(s, hmac().ptr(), hk)), CKR_OK);
    let verify = || assert_rv!(ck!(r, C_VerifyInit(s, hmac().ptr(), hk)), CKR_OK);

    sign();
    let (rv, _, mac0) = out_call(32, |o, l| ck!(r, C_Sign(s, mp, 0, o, l)));
    assert_rv!(rv, CKR_OK, "C_Sign(0)");
    verify();
    assert_rv!(
        ck!(r, C_Verify(s, mp, 0, mac0.as_ptr() as *mut u8, 32)),
        CKR_OK,
        "C_Verify(data 0) of the empty MAC"
    );
    sign();
    let (rv, _, _) = out_call(32, |o, l| ck!(r, C_Sign(s, mp, HUGE, o, l)));
    one_of(rv, &[AB, CKR_DATA_LEN_RANGE], "C_Sign(huge)");
    let (rv, _, _) = out_call(32, |o, l| ck!(r, C_Sign(s, mp, ml, o, l)));
    assert_rv!(rv, NI, "ended by the huge length");
    sign();
    let (rv, n, _) = out_call(0, |o, l| ck!(r, C_Sign(s, mp, ml, o, l)));
    assert_rv!(rv, CKR_BUFFER_TOO_SMALL, "C_Sign(*pulLen 0)");
    assert_eq!(n, 32);
    let (rv, _, mac) = out_call(32, |o, l| ck!(r, C_Sign(s, mp, ml, o, l)));
    assert_rv!(rv, CKR_OK);
    assert_eq!(mac, tc1, "RFC 4231 test case 1");

    sign();
    assert_rv!(ck!(r, C_SignUpdate(s, mp, 0)), CKR_OK, "C_SignUpdate(0)");
    let rv = ck!(r, C_SignUpdate(s, mp, HUGE));
    one_of(rv, &[AB, CKR_DATA_LEN_RANGE], "C_SignUpdate(huge)");
    let (rv, _, _) = out_call(32, |o, l| ck!(r, C_SignFinal(s, o, l)));
    assert_rv!(rv, NI, "ended by the huge part");
    sign();
    assert_rv!(ck!(r, C_SignUpdate(s, mp, ml)), CKR_OK);
    let (rv, n, _) = out_call(0, |o, l| ck!(r, C_SignFinal(s, o, l)));
    assert_rv!(rv, CKR_BUFFER_TOO_SMALL, "C_SignFinal(*pulLen 0)");
    assert_eq!(n, 32);
    let (rv, _, mac) = out_call(32, |o, l| ck!(r, C_SignFinal(s, o, l)));
    assert_rv!(rv, CKR_OK);
    assert_eq!(mac, tc1);

    // Signatures of the wrong length: §5.1 — CKR_SIGNATURE_LEN_RANGE "has
    // priority over" CKR_SIGNATURE_INVALID. Huge: refused unread, either
    // that or CKR_ARGUMENTS_BAD.
    for (len, what) in [(0, "0"), (31, "31"), (33, "33")] {
        verify();
        let mut sig = tc1.clone();
        sig.push(0);
        assert_rv!(
            ck!(r, C_Verify(s, mp, ml, sig.as_mut_ptr(), len)),
            CKR_SIGNATURE_LEN_RANGE,
            "C_Verify(ulSignatureLen {what})"
        );
        assert_rv!(ck!(r, C_Verify(s, mp, ml, tp, 32)), NI, "ended");
    }
    verify();
    let rv = ck!(r, C_Verify(s, mp, ml, tp, HUGE));
    one_of(
        rv,
        &[AB, CKR_SIGNATURE_LEN_RANGE],
        "C_Verify(ulSignatureLen huge)",
    );
    verify();
    let rv = ck!(r, C_Verify(s, mp, HUGE, tp, 32));
    one_of(rv, &[AB, CKR_DATA_LEN_RANGE], "C_Verify(ulDataLen huge)");
    assert_rv!(ck!(r, C_Verify(s, mp, ml, tp, 32)), NI, "ended");
    verify();
    assert_rv!(
        ck!(r, C_VerifyUpdate(s, mp, 0)),
        CKR_OK,
        "C_VerifyUpdate(0)"
    );
    assert_rv!(ck!(r, C_VerifyUpdate(s, mp, ml)), CKR_OK);
    assert_rv!(
        ck!(r, C_VerifyFinal(s, tp, 0)),
        CKR_SIGNATURE_LEN_RANGE,
        "C_VerifyFinal(0)"
    );
    verify();
    let rv = ck!(r, C_VerifyUpdate(s, mp, HUGE));
    one_of(rv, &[AB, CKR_DATA_LEN_RANGE], "C_VerifyUpdate(huge)");
    assert_rv!(
        ck!(r, C_VerifyFinal(s, tp, 32)),
        NI,
        "ended by the huge part"
    );
    verify();
    assert_rv!(ck!(r, C_VerifyUpdate(s, mp, ml)), CKR_OK);
    let rv = ck!(r, C_VerifyFinal(s, tp, HUGE));
    one_of(rv, &[AB, CKR_SIGNATURE_LEN_RANGE], "C_VerifyFinal(huge)");
    verify();
    assert_rv!(
        ck!(r, C_Verify(s, mp, ml, tp, 32)),
        CKR_OK,
        "and then it verifies"
    );
}

#[test]
fn dual_and_recover_stubs_with_any_length() {
    let fx = fixture();
    let r = &fx.tok.raw;
    let s = fx.s;
    let data = [1u8; 16];
    let (dp, _) = inp(&data);
    for len in [0, 16, HUGE] {
        let mut out = [SENTINEL; 64];
        let mut n: CK_ULONG = 0;
        let o = out.as_mut_ptr();
        for (name, rv) in [
            (
                "C_SignRecover",
                ck!(r, C_SignRecover(s, dp, len, o, &mut n)),
            ),
            (
                "C_VerifyRecover",
                ck!(r, C_VerifyRecover(s, dp, len, o, &mut n)),
            ),
            (
                "C_DigestEncryptUpdate",
                ck!(r, C_DigestEncryptUpdate(s, dp, len, o, &mut n)),
            ),
            (
                "C_DecryptDigestUpdate",
                ck!(r, C_DecryptDigestUpdate(s, dp, len, o, &mut n)),
            ),
            (
                "C_SignEncryptUpdate",
                ck!(r, C_SignEncryptUpdate(s, dp, len, o, &mut n)),
            ),
            (
                "C_DecryptVerifyUpdate",
                ck!(r, C_DecryptVerifyUpdate(s, dp, len, o, &mut n)),
            ),
        ] {
            assert_rv!(rv, CKR_FUNCTION_NOT_SUPPORTED, "{name}(len {len})");
        }
        assert_eq!(out, [SENTINEL; 64]);
    }
}
