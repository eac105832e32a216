//! The 3.0 message-based decryption functions with NULL pointers.

use std::ptr::null_mut;

use super::common::sys::*;
use super::common::GcmMsg;
use super::message::msg_restart;
use super::*;

/// One message encrypted with valid arguments: (IV written back, tag, ciphertext).
fn one_message(f: &Fixture, pt: &[u8]) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let r = &f.tok.raw;
    msg_restart(r, f.s, f.k, true, None);
    let mut p = GcmMsg::new(&[0; 12], 0, CKG_GENERATE_RANDOM, 16);
    let mut out = vec![0u8; pt.len()];
    let mut n = out.len() as CK_ULONG;
    let rv = ck!(
        r,
        C_EncryptMessage(
            f.s,
            p.ptr(),
            p.len(),
            null_mut(),
            0,
            pt.as_ptr() as *mut u8,
            pt.len() as CK_ULONG,
            out.as_mut_ptr(),
            &mut n
        )
    );
    assert_rv!(rv, CKR_OK, "C_EncryptMessage");
    assert_rv!(ck!(r, C_MessageEncryptFinal(f.s)), CKR_OK);
    (p.iv.to_vec(), p.tag.to_vec(), out)
}

#[test]
fn message_decrypt_functions() {
    let f = fixture();
    let r = &f.tok.raw;
    let (s, k) = (f.s, f.k);
    let pt = [0x22u8; 16];
    let mut out = [0u8; 64];
    let mut n: CK_ULONG;
    let bad_param = [AB, CKR_MECHANISM_PARAM_INVALID];
    let (iv, tag, ct) = one_message(&f, &pt);

    // C_DecryptMessage of what C_EncryptMessage wrote.
    let mut dp = GcmMsg::new(&iv, 0, CKG_NO_GENERATE, 16);
    dp.tag.copy_from_slice(&tag);
    let ctp = ct.as_ptr() as *mut u8;
    msg_restart(r, s, k, false, None);
    n = 64;
    let rv = ck!(
        r,
        C_DecryptMessage(
            s,
            null_mut(),
            dp.len(),
            null_mut(),
            0,
            ctp,
            16,
            out.as_mut_ptr(),
            &mut n
        )
    );
    one_of(rv, &bad_param, "C_DecryptMessage(pParameter NULL)");
    msg_restart(r, s, k, false, None);
    n = 64;
    assert_rv!(
        ck!(
            r,
            C_DecryptMessage(
                s,
                dp.ptr(),
                dp.len(),
                null_mut(),
                20,
                ctp,
                16,
                out.as_mut_ptr(),
                &mut n
            )
        ),
        AB,
        "C_DecryptMessage(pAssociatedData NULL, 20)"
    );
    msg_restart(r, s, k, false, None);
    n = 64;
    assert_rv!(
        ck!(
            r,
            C_DecryptMessage(
                s,
                dp.ptr(),
                dp.len(),
                null_mut(),
                0,
                null_mut(),
                16,
                out.as_mut_ptr(),
                &mut n
            )
        ),
        AB,
        "C_DecryptMessage(pCiphertext NULL, 16)"
    );
    msg_restart(r, s, k, false, None);
    assert_rv!(
        ck!(
            r,
            C_DecryptMessage(
                s,
                dp.ptr(),
                dp.len(),
                null_mut(),
                0,
                ctp,
                16,
                out.as_mut_ptr(),
                null_mut()
            )
        ),
        AB,
        "C_DecryptMessage(pulPlaintextLen NULL)"
    );
    msg_restart(r, s, k, false, None);
    n = 0;
    assert_rv!(
        ck!(
            r,
            C_DecryptMessage(
                s,
                dp.ptr(),
                dp.len(),
                null_mut(),
                0,
                ctp,
                16,
                null_mut(),
                &mut n
            )
        ),
        CKR_OK,
        "C_DecryptMessage(pPlaintext NULL) = length"
    );
    assert!(n >= 16);
    n = 64;
    assert_rv!(
        ck!(
            r,
            C_DecryptMessage(
                s,
                dp.ptr(),
                dp.len(),
                null_mut(),
                0,
                ctp,
                16,
                out.as_mut_ptr(),
                &mut n
            )
        ),
        CKR_OK,
        "kept after the length query"
    );
    assert_eq!(&out[..16], &pt[..]);

    // C_DecryptMessageBegin / Next.
    msg_restart(r, s, k, false, None);
    let rv = ck!(
        r,
        C_DecryptMessageBegin(s, null_mut(), dp.len(), null_mut(), 0)
    );
    one_of(rv, &bad_param, "C_DecryptMessageBegin(pParameter NULL)");
    msg_restart(r, s, k, false, None);
    assert_rv!(
        ck!(
            r,
            C_DecryptMessageBegin(s, dp.ptr(), dp.len(), null_mut(), 20)
        ),
        AB,
        "C_DecryptMessageBegin(pAssociatedData NULL, 20)"
    );
    msg_restart(r, s, k, false, Some(&mut dp));
    n = 64;
    let rv = ck!(
        r,
        C_DecryptMessageNext(
            s,
            null_mut(),
            dp.len(),
            ctp,
            16,
            out.as_mut_ptr(),
            &mut n,
            CKF_END_OF_MESSAGE
        )
    );
    one_of(rv, &bad_param, "C_DecryptMessageNext(pParameter NULL)");
    msg_restart(r, s, k, false, Some(&mut dp));
    n = 64;
    assert_rv!(
        ck!(
            r,
            C_DecryptMessageNext(
                s,
                dp.ptr(),
                dp.len(),
                null_mut(),
                16,
                out.as_mut_ptr(),
                &mut n,
                0
            )
        ),
        AB,
        "C_DecryptMessageNext(pCiphertextPart NULL)"
    );
    msg_restart(r, s, k, false, Some(&mut dp));
    assert_rv!(
        ck!(
            r,
            C_DecryptMessageNext(
                s,
                dp.ptr(),
                dp.len(),
                ctp,
                16,
                out.as_mut_ptr(),
                null_mut(),
                0
            )
        ),
        AB,
        "C_DecryptMessageNext(pulLen NULL)"
    );
    msg_restart(r, s, k, false, Some(&mut dp));
    n = 0;
    assert_rv!(
        ck!(
            r,
            C_DecryptMessageNext(
                s,
                dp.ptr(),
                dp.len(),
                ctp,
                16,
                null_mut(),
                &mut n,
                CKF_END_OF_MESSAGE
            )
        ),
        CKR_OK,
        "C_DecryptMessageNext(pOut NULL) = length"
    );
    n = 64;
    assert_rv!(
        ck!(
            r,
            C_DecryptMessageNext(
                s,
                dp.ptr(),
                dp.len(),
                ctp,
                16,
                out.as_mut_ptr(),
                &mut n,
                CKF_END_OF_MESSAGE
            )
        ),
        CKR_OK,
        "kept after the length query"
    );
    assert_eq!(&out[..n as usize], &pt[..]);
    assert_rv!(
        ck!(r, C_MessageDecryptFinal(s)),
        CKR_OK,
        "C_MessageDecryptFinal"
    );
}
