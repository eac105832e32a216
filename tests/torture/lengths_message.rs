//! Lengths of the 3.0 message-based functions.

use std::ffi::c_void;

use super::common::sys::*;
use super::common::vectors::*;
use super::common::GcmMsg;
use super::support::*;

const AB: CK_RV = CKR_ARGUMENTS_BAD;
const PI: CK_RV = CKR_MECHANISM_PARAM_INVALID;
/// §5.9/§5.11 (3.0): the message functions list both CKR_ARGUMENTS_BAD and
/// CKR_MECHANISM_PARAM_INVALID for a bad parameter block.
const BAD_PARAM: &[CK_RV] = &[AB, PI];

#[test]
fn encrypt_message_lengths() {
    let fx = fixture();
    let r = &fx.tok.raw;
    let (s, k) = (fx.s, fx.k);
    let p = tc4_p();
    let aad = h(GCM_AAD);
    let (pp, pl) = inp(&p);
    let (ap, al) = inp(&aad);
    assert_rv!(ck!(r, C_MessageEncryptInit(s, msg_mech().ptr(), k)), CKR_OK);
    let enc = |m: &mut GcmMsg, plen: CK_ULONG, aadl: CK_ULONG, ptl: CK_ULONG, cap: usize| {
        let mp = m.ptr();
        out_call(cap, |o, l| {
            ck!(r, C_EncryptMessage(s, mp, plen, ap, aadl, pp, ptl, o, l))
        })
    };
    let size = msg_tc4().len();

    let (rv, _, _) = enc(&mut msg_tc4(), 0, al, pl, 64);
    one_of(rv, BAD_PARAM, "C_EncryptMessage(ulParameterLen 0)");
    let (rv, _, _) = enc(&mut msg_tc4(), HUGE, al, pl, 64);
    one_of(rv, BAD_PARAM, "C_EncryptMessage(ulParameterLen huge)");
    for (what, edit) in [
        (
            "ulIvLen 0",
            (|m: &mut GcmMsg| m.p.ulIvLen = 0) as fn(&mut GcmMsg),
        ),
        ("ulIvLen huge", |m: &mut GcmMsg| m.p.ulIvLen = HUGE),
        ("ulTagBits 0", |m: &mut GcmMsg| m.p.ulTagBits = 0),
        ("ulTagBits huge", |m: &mut GcmMsg| m.p.ulTagBits = HUGE),
    ] {
        let mut m = msg_tc4();
        edit(&mut m);
        let (rv, _, _) = enc(&mut m, size, al, pl, 64);
        assert_rv!(rv, PI, "C_EncryptMessage(params.{what})");
    }
    let (rv, _, _) = enc(&mut msg_tc4(), size, HUGE, pl, 64);
    assert_rv!(rv, AB, "C_EncryptMessage(ulAssociatedDataLen huge)");
    let (rv, _, _) = enc(&mut msg_tc4(), size, al, HUGE, 64);
    one_of(
        rv,
        &[AB, CKR_DATA_LEN_RANGE],
        "C_EncryptMessage(ulPlaintextLen huge)",
    );

    // A zero-byte ciphertext buffer: too small, and the context goes on.
    let mut m = msg_tc4();
    let (rv, n, _) = enc(&mut m, size, al, pl, 0);
    assert_rv!(rv, CKR_BUFFER_TOO_SMALL, "C_EncryptMessage(*pulLen 0)");
    assert_eq!(n, 60);
    assert_eq!(&m.tag[..], &[0u8; 16][..], "no tag for a refused call");

    // Empty AAD and empty plaintext are legal messages.
    let mut m = msg_tc4();
    let (rv, n, _) = enc(&mut m, size, 0, 0, 16);
    assert_rv!(rv, CKR_OK, "C_EncryptMessage(empty AAD, empty plaintext)");
    assert_eq!(n, 0);
    assert_ne!(&m.tag[..], &[0u8; 16][..], "the tag of the empty message");

    // After all of that the context still encrypts test case 4.
    let mut m = msg_tc4();
    let (rv, _, c) = enc(&mut m, size, al, pl, 60);
    assert_rv!(rv, CKR_OK, "the context survived every refused message");
    assert_eq!(c, h(GCM_TC4_C));
    assert_eq!(&m.tag[..], &h(GCM_TC4_T)[..]);
    assert_rv!(ck!(r, C_MessageEncryptFinal(s)), CKR_OK);
}

#[test]
fn decrypt_message_lengths() {
    let fx = fixture();
    let r = &fx.tok.raw;
    let (s, k) = (fx.s, fx.k);
    let c = h(GCM_TC4_C);
    let aad = h(GCM_AAD);
    let (cp, cl) = inp(&c);
    let (ap, al) = inp(&aad);
    let with_tag = || {
        let mut m = msg_tc4();
        m.tag.copy_from_slice(&h(GCM_TC4_T));
        m
    };
    assert_rv!(ck!(r, C_MessageDecryptInit(s, msg_mech().ptr(), k)), CKR_OK);
    let size = msg_tc4().len();
    let dec = |m: &mut GcmMsg, plen: CK_ULONG, aadl: CK_ULONG, ctl: CK_ULONG, cap: usize| {
        let mp = m.ptr();
        out_call(cap, |o, l| {
            ck!(r, C_DecryptMessage(s, mp, plen, ap, aadl, cp, ctl, o, l))
        })
    };
    let (rv, _, _) = dec(&mut with_tag(), 0, al, cl, 64);
    one_of(rv, BAD_PARAM, "C_DecryptMessage(ulParameterLen 0)");
    let (rv, _, _) = dec(&mut with_tag(), HUGE, al, cl, 64);
    one_of(rv, BAD_PARAM, "C_DecryptMessage(ulParameterLen huge)");
    let (rv, _, _) = dec(&mut with_tag(), size, HUGE, cl, 64);
    assert_rv!(rv, AB, "C_DecryptMessage(ulAssociatedDataLen huge)");
    let (rv, _, _) = dec(&mut with_tag(), size, al, HUGE, 64);
    one_of(
        rv,
        &[AB, CKR_ENCRYPTED_DATA_LEN_RANGE],
        "C_DecryptMessage(ulCiphertextLen huge)",
    );
    let (rv, n, _) = dec(&mut with_tag(), size, al, cl, 0);
    assert_rv!(rv, CKR_BUFFER_TOO_SMALL, "C_DecryptMessage(*pulLen 0)");
    assert_eq!(n, 60);
    // Empty ciphertext with test case 4's tag: a wrong tag, not a length error.
    let (rv, _, _) = dec(&mut with_tag(), size, al, 0, 16);
    assert_rv!(rv, CKR_ENCRYPTED_DATA_INVALID, "empty ciphertext, TC4 tag");
    let (rv, _, p) = dec(&mut with_tag(), size, al, cl, 60);
    assert_rv!(rv, CKR_OK, "the context survived every refused message");
    assert_eq!(p, tc4_p());
    assert_rv!(ck!(r, C_MessageDecryptFinal(s)), CKR_OK);
}

#[test]
fn begin_and_next_lengths() {
    let fx = fixture();
    let r = &fx.tok.raw;
    let (s, k) = (fx.s, fx.k);
    let p = tc4_p();
    let aad = h(GCM_AAD);
    let (pp, _) = inp(&p);
    let (ap, al) = inp(&aad);
    let size = msg_tc4().len();
    assert_rv!(ck!(r, C_MessageEncryptInit(s, msg_mech().ptr(), k)), CKR_OK);
    let mut m = msg_tc4();
    for (plen, what) in [(0, "0"), (HUGE, "huge")] {
        let rv = ck!(r, C_EncryptMessageBegin(s, m.ptr(), plen, ap, al));
        one_of(
            rv,
            BAD_PARAM,
            &format!("C_EncryptMessageBegin(ulParameterLen {what})"),
        );
    }
    assert_rv!(
        ck!(r, C_EncryptMessageBegin(s, m.ptr(), size, ap, HUGE)),
        AB,
        "C_EncryptMessageBegin(ulAssociatedDataLen huge)"
    );
    assert_rv!(
        ck!(r, C_EncryptMessageBegin(s, m.ptr(), size, ap, al)),
        CKR_OK,
        "C_EncryptMessageBegin after the refused ones"
    );
    let mp = m.ptr();
    let next = |len: CK_ULONG, off: usize, flags: CK_FLAGS, cap: usize| {
        out_call(cap, |o, l| {
            ck!(
                r,
                C_EncryptMessageNext(s, mp, size, pp.add(off), len, o, l, flags)
            )
        })
    };
    let (rv, n, _) = next(0, 0, 0, 16);
    assert_rv!(rv, CKR_OK, "C_EncryptMessageNext(empty part)");
    assert_eq!(n, 0);
    let (rv, _, _) = next(HUGE, 0, 0, 16);
    one_of(
        rv,
        &[AB, CKR_DATA_LEN_RANGE],
        "C_EncryptMessageNext(huge part)",
    );
    let (rv, _, _) = next(HUGE, 0, CKF_END_OF_MESSAGE, 64);
    one_of(
        rv,
        &[AB, CKR_DATA_LEN_RANGE],
        "C_EncryptMessageNext(huge last part)",
    );

    // Start the message again (whether the errors ended it is up to the
    // module), then a real one with a zero-byte output buffer on the end.
    let _ = ck!(r, C_MessageEncryptFinal(s));
    assert_rv!(ck!(r, C_MessageEncryptInit(s, msg_mech().ptr(), k)), CKR_OK);
    assert_rv!(ck!(r, C_EncryptMessageBegin(s, mp, size, ap, al)), CKR_OK);
    let (rv, _, first) = next(32, 0, 0, 64);
    assert_rv!(rv, CKR_OK);
    let (rv, need, _) = next(28, 32, CKF_END_OF_MESSAGE, 0);
    assert_rv!(
        rv,
        CKR_BUFFER_TOO_SMALL,
        "last C_EncryptMessageNext(*pulLen 0)"
    );
    assert_eq!(need as usize + first.len(), 60);
    let (rv, _, last) = next(28, 32, CKF_END_OF_MESSAGE, need as usize);
    assert_rv!(rv, CKR_OK, "the message was kept by the short buffer");
    let mut all = first;
    all.extend(last);
    assert_eq!(all, h(GCM_TC4_C));
    assert_eq!(&m.tag[..], &h(GCM_TC4_T)[..]);
    assert_rv!(ck!(r, C_MessageEncryptFinal(s)), CKR_OK);
}

#[test]
fn message_sign_verify_stubs_with_any_length() {
    let fx = fixture();
    let r = &fx.tok.raw;
    let s = fx.s;
    let data = [1u8; 32];
    let (dp, _) = inp(&data);
    let mut param = [0u8; 16];
    let pp = param.as_mut_ptr() as *mut c_void;
    for len in [0, 32, HUGE] {
        let mut out = [SENTINEL; 64];
        let mut n: CK_ULONG = 0;
        let o = out.as_mut_ptr();
        for (name, rv) in [
            (
                "C_SignMessage",
                ck!(r, C_SignMessage(s, pp, len, dp, len, o, &mut n)),
            ),
            ("C_SignMessageBegin", ck!(r, C_SignMessageBegin(s, pp, len))),
            (
                "C_SignMessageNext",
                ck!(r, C_SignMessageNext(s, pp, len, dp, len, o, &mut n)),
            ),
            (
                "C_VerifyMessage",
                ck!(r, C_VerifyMessage(s, pp, len, dp, len, dp, len)),
            ),
            (
                "C_VerifyMessageBegin",
                ck!(r, C_VerifyMessageBegin(s, pp, len)),
            ),
            (
                "C_VerifyMessageNext",
                ck!(r, C_VerifyMessageNext(s, pp, len, dp, len, dp, len)),
            ),
        ] {
            assert_rv!(rv, CKR_FUNCTION_NOT_SUPPORTED, "{name}(lengths {len})");
        }
        assert_eq!(out, [SENTINEL; 64]);
    }
}
