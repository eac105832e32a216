//! The 3.0 message-based functions with NULL pointers.

use std::ffi::c_void;
use std::ptr::null_mut;

use super::common::sys::*;
use super::common::{GcmMsg, Mech, Raw};
use super::*;

/// Starts a message operation: final (cancel), init, optional begin.
pub fn msg_restart(
    r: &Raw,
    s: CK_SESSION_HANDLE,
    k: CK_OBJECT_HANDLE,
    encrypt: bool,
    begin: Option<&mut GcmMsg>,
) {
    let mut m = Mech::plain(CKM_AES_GCM);
    let rv = if encrypt {
        ck!(r, C_MessageEncryptFinal(s));
        ck!(r, C_MessageEncryptInit(s, m.ptr(), k))
    } else {
        ck!(r, C_MessageDecryptFinal(s));
        ck!(r, C_MessageDecryptInit(s, m.ptr(), k))
    };
    assert_rv!(rv, CKR_OK, "message init");
    if let Some(p) = begin {
        let rv = if encrypt {
            ck!(r, C_EncryptMessageBegin(s, p.ptr(), p.len(), null_mut(), 0))
        } else {
            ck!(r, C_DecryptMessageBegin(s, p.ptr(), p.len(), null_mut(), 0))
        };
        assert_rv!(rv, CKR_OK, "message begin");
    }
}

#[test]
fn message_encrypt_functions() {
    let f = fixture();
    let r = &f.tok.raw;
    let (s, k) = (f.s, f.k);
    let pt = [0x22u8; 16];
    let aad = [0x33u8; 20];
    let mut out = [0u8; 64];
    let mut n: CK_ULONG;
    let ptp = pt.as_ptr() as *mut u8;
    let aadp = aad.as_ptr() as *mut u8;
    let newp = || GcmMsg::new(&[0; 12], 0, CKG_GENERATE_RANDOM, 16);
    let bad_param = [AB, CKR_MECHANISM_PARAM_INVALID];

    let rv = ck!(r, C_MessageEncryptInit(s, null_mut(), k));
    one_of(rv, &[CKR_OK, AB], "C_MessageEncryptInit(NULL)");
    let rv = ck!(r, C_MessageDecryptInit(s, null_mut(), k));
    one_of(rv, &[CKR_OK, AB], "C_MessageDecryptInit(NULL)");

    // C_EncryptMessage.
    msg_restart(r, s, k, true, None);
    let mut p = newp();
    n = 64;
    let rv = ck!(
        r,
        C_EncryptMessage(
            s,
            null_mut(),
            p.len(),
            aadp,
            20,
            ptp,
            16,
            out.as_mut_ptr(),
            &mut n
        )
    );
    one_of(rv, &bad_param, "C_EncryptMessage(pParameter NULL)");
    let mut q = newp();
    q.p.pIv = null_mut();
    n = 64;
    let rv = ck!(
        r,
        C_EncryptMessage(
            s,
            q.ptr(),
            q.len(),
            aadp,
            20,
            ptp,
            16,
            out.as_mut_ptr(),
            &mut n
        )
    );
    one_of(rv, &bad_param, "C_EncryptMessage(params.pIv NULL)");
    let mut q = newp();
    q.p.pTag = null_mut();
    n = 64;
    let rv = ck!(
        r,
        C_EncryptMessage(
            s,
            q.ptr(),
            q.len(),
            aadp,
            20,
            ptp,
            16,
            out.as_mut_ptr(),
            &mut n
        )
    );
    one_of(rv, &bad_param, "C_EncryptMessage(params.pTag NULL)");
    msg_restart(r, s, k, true, None);
    n = 64;
    assert_rv!(
        ck!(
            r,
            C_EncryptMessage(
                s,
                p.ptr(),
                p.len(),
                null_mut(),
                20,
                ptp,
                16,
                out.as_mut_ptr(),
                &mut n
            )
        ),
        AB,
        "C_EncryptMessage(pAssociatedData NULL, 20)"
    );
    msg_restart(r, s, k, true, None);
    n = 64;
    assert_rv!(
        ck!(
            r,
            C_EncryptMessage(
                s,
                p.ptr(),
                p.len(),
                aadp,
                20,
                null_mut(),
                16,
                out.as_mut_ptr(),
                &mut n
            )
        ),
        AB,
        "C_EncryptMessage(pPlaintext NULL, 16)"
    );
    msg_restart(r, s, k, true, None);
    assert_rv!(
        ck!(
            r,
            C_EncryptMessage(
                s,
                p.ptr(),
                p.len(),
                aadp,
                20,
                ptp,
                16,
                out.as_mut_ptr(),
                null_mut()
            )
        ),
        AB,
        "C_EncryptMessage(pulCiphertextLen NULL)"
    );
    msg_restart(r, s, k, true, None);
    n = 0;
    assert_rv!(
        ck!(
            r,
            C_EncryptMessage(s, p.ptr(), p.len(), aadp, 20, ptp, 16, null_mut(), &mut n)
        ),
        CKR_OK,
        "C_EncryptMessage(pCiphertext NULL) = length"
    );
    assert_eq!(n, 16);
    n = 64;
    assert_rv!(
        ck!(
            r,
            C_EncryptMessage(
                s,
                p.ptr(),
                p.len(),
                null_mut(),
                0,
                ptp,
                16,
                out.as_mut_ptr(),
                &mut n
            )
        ),
        CKR_OK,
        "C_EncryptMessage(pAssociatedData NULL, 0)"
    );
    assert_ne!(&p.tag[..], &[0u8; 16][..], "tag written");
    assert_ne!(&p.iv[..], &[0u8; 12][..], "IV generated");
    n = 64;
    let mut e = newp();
    assert_rv!(
        ck!(
            r,
            C_EncryptMessage(
                s,
                e.ptr(),
                e.len(),
                null_mut(),
                0,
                null_mut(),
                0,
                out.as_mut_ptr(),
                &mut n
            )
        ),
        CKR_OK,
        "C_EncryptMessage(pPlaintext NULL, 0)"
    );
    assert_eq!(n, 0);

    // C_EncryptMessageBegin / Next.
    msg_restart(r, s, k, true, None);
    let rv = ck!(
        r,
        C_EncryptMessageBegin(s, null_mut(), p.len(), null_mut(), 0)
    );
    one_of(rv, &bad_param, "C_EncryptMessageBegin(pParameter NULL)");
    msg_restart(r, s, k, true, None);
    assert_rv!(
        ck!(
            r,
            C_EncryptMessageBegin(s, p.ptr(), p.len(), null_mut(), 20)
        ),
        AB,
        "C_EncryptMessageBegin(pAssociatedData NULL, 20)"
    );
    msg_restart(r, s, k, true, Some(&mut p));
    n = 64;
    let rv = ck!(
        r,
        C_EncryptMessageNext(
            s,
            null_mut(),
            p.len(),
            ptp,
            16,
            out.as_mut_ptr(),
            &mut n,
            CKF_END_OF_MESSAGE
        )
    );
    one_of(rv, &bad_param, "C_EncryptMessageNext(pParameter NULL)");
    msg_restart(r, s, k, true, Some(&mut p));
    n = 64;
    assert_rv!(
        ck!(
            r,
            C_EncryptMessageNext(
                s,
                p.ptr(),
                p.len(),
                null_mut(),
                16,
                out.as_mut_ptr(),
                &mut n,
                0
            )
        ),
        AB,
        "C_EncryptMessageNext(pPlaintextPart NULL)"
    );
    msg_restart(r, s, k, true, Some(&mut p));
    assert_rv!(
        ck!(
            r,
            C_EncryptMessageNext(
                s,
                p.ptr(),
                p.len(),
                ptp,
                16,
                out.as_mut_ptr(),
                null_mut(),
                0
            )
        ),
        AB,
        "C_EncryptMessageNext(pulLen NULL)"
    );
    msg_restart(r, s, k, true, Some(&mut p));
    n = 0;
    assert_rv!(
        ck!(
            r,
            C_EncryptMessageNext(s, p.ptr(), p.len(), ptp, 16, null_mut(), &mut n, 0)
        ),
        CKR_OK,
        "C_EncryptMessageNext(pOut NULL) = length"
    );
    // A module may hold back output until the end of the message.
    assert!(n == 0 || n == 16, "length {n}");
    n = 64;
    assert_rv!(
        ck!(
            r,
            C_EncryptMessageNext(
                s,
                p.ptr(),
                p.len(),
                ptp,
                16,
                out.as_mut_ptr(),
                &mut n,
                CKF_END_OF_MESSAGE
            )
        ),
        CKR_OK,
        "kept after the length query"
    );
    assert_eq!(n, 16, "the length query consumed no input");
    assert_rv!(
        ck!(r, C_MessageEncryptFinal(s)),
        CKR_OK,
        "C_MessageEncryptFinal"
    );
}

#[test]
fn message_sign_verify_are_stubs() {
    let f = fixture();
    let r = &f.tok.raw;
    let s = f.s;
    // Message sign/verify are not offered, whatever the pointers.
    let nul = null_mut::<c_void>();
    let mut mm = Mech::plain(CKM_SHA256_HMAC);
    for (name, rv) in [
        (
            "C_MessageSignInit(NULL)",
            ck!(r, C_MessageSignInit(s, null_mut(), f.hk)),
        ),
        (
            "C_MessageSignInit",
            ck!(r, C_MessageSignInit(s, mm.ptr(), f.hk)),
        ),
        (
            "C_SignMessage(NULLs)",
            ck!(
                r,
                C_SignMessage(s, nul, 0, null_mut(), 8, null_mut(), null_mut())
            ),
        ),
        (
            "C_SignMessageBegin(NULL)",
            ck!(r, C_SignMessageBegin(s, nul, 0)),
        ),
        (
            "C_SignMessageNext(NULLs)",
            ck!(
                r,
                C_SignMessageNext(s, nul, 0, null_mut(), 8, null_mut(), null_mut())
            ),
        ),
        ("C_MessageSignFinal", ck!(r, C_MessageSignFinal(s))),
        (
            "C_MessageVerifyInit(NULL)",
            ck!(r, C_MessageVerifyInit(s, null_mut(), f.hk)),
        ),
        (
            "C_VerifyMessage(NULLs)",
            ck!(r, C_VerifyMessage(s, nul, 0, null_mut(), 8, null_mut(), 32)),
        ),
        (
            "C_VerifyMessageBegin(NULL)",
            ck!(r, C_VerifyMessageBegin(s, nul, 0)),
        ),
        (
            "C_VerifyMessageNext(NULLs)",
            ck!(
                r,
                C_VerifyMessageNext(s, nul, 0, null_mut(), 8, null_mut(), 32)
            ),
        ),
        ("C_MessageVerifyFinal", ck!(r, C_MessageVerifyFinal(s))),
    ] {
        assert_rv!(rv, NS, "{name}");
    }
}
