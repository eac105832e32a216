//! Cancels in the middle of each multi-part operation, with every other
//! multi-part operation of the session also in the middle.

use super::common::sys::*;
use super::common::vectors::*;
use super::common::Mech;
use super::multipart::{Live, Op, ALL};
use super::support::*;

/// Starts all eight operations, cancels `victim` with `cancel`, checks it is
/// gone and can start afresh, and that the other seven finish correctly.
fn cancel_one(victim: Op, how: &str, cancel: impl FnOnce(&Fx) -> CK_RV) {
    let fx = fixture();
    let mut live: Vec<(Op, Live)> = ALL.iter().map(|op| (*op, op.start(&fx))).collect();
    assert_rv!(cancel(&fx), CKR_OK, "{how} of {victim:?}");
    for (op, l) in live.iter_mut() {
        if *op == victim {
            op.assert_gone(&fx, l, how);
        }
    }
    victim.fresh(&fx);
    for (op, l) in live.iter_mut() {
        if *op != victim {
            op.finish(&fx, l);
        }
    }
}

#[test]
fn init_with_null_mechanism_cancels_mid_operation() {
    for op in ALL {
        if op == Op::Find {
            continue; // C_FindObjectsInit has no mechanism; C_SessionCancel covers find
        }
        cancel_one(op, "Init(NULL)", |fx| {
            op.cancel_with_null(fx)
                .expect("has an Init with a mechanism")
        });
    }
}

#[test]
fn session_cancel_mid_operation() {
    for op in ALL {
        cancel_one(op, "C_SessionCancel", |fx| {
            ck!(fx.tok.raw, C_SessionCancel(fx.s, op.flag()))
        });
    }
}

#[test]
fn session_cancel_of_everything_at_once() {
    let fx = fixture();
    let mut live: Vec<(Op, Live)> = ALL.iter().map(|op| (*op, op.start(&fx))).collect();
    let all = ALL.iter().fold(0, |f, op| f | op.flag());
    assert_rv!(ck!(fx.tok.raw, C_SessionCancel(fx.s, all)), CKR_OK);
    for (op, l) in live.iter_mut() {
        op.assert_gone(&fx, l, "C_SessionCancel(all)");
    }
    for op in ALL {
        op.fresh(&fx);
    }
    // Cancelling with nothing active is harmless.
    assert_rv!(ck!(fx.tok.raw, C_SessionCancel(fx.s, all)), CKR_OK);
}

/// A kept output: the module had to decrypt (CBC-PAD) to learn the length
/// and the buffer was short, so it keeps the plaintext for the next call
/// (§5.2; DESIGN §6 "never compute twice"). `disturb` then acts on the
/// *encryption* side of the same session, which must not lose it.
fn kept_decrypt_output(what: &str, multi: bool, disturb: impl Fn(&Fx) -> CK_RV) {
    let fx = fixture();
    let r = &fx.tok.raw;
    let (s, pk) = (fx.s, fx.pk);
    let ct = h(CBC_PAD_37);
    let p = h(SP800_38A_P)[..37].to_vec();
    let (cp, cl) = inp(&ct);
    let cbc = Mech::bytes(CKM_AES_CBC_PAD, &h(SP800_38A_CBC_IV));
    let mut cbc_m = cbc.m;
    assert_rv!(ck!(r, C_DecryptInit(s, &mut cbc_m, pk)), CKR_OK);
    if !multi {
        // Single part: 36 bytes offered for 37.
        let (rv, n, _) = out_call(36, |o, l| ck!(r, C_Decrypt(s, cp, cl, o, l)));
        assert_rv!(rv, CKR_BUFFER_TOO_SMALL, "C_Decrypt(36 of 37)");
        assert_eq!(n, 37);
        assert_rv!(disturb(&fx), CKR_OK, "{what}");
        let (rv, _, got) = out_call(37, |o, l| ck!(r, C_Decrypt(s, cp, cl, o, l)));
        // FINDING 1 (fixed): an encryption-side call dropped decryption's kept output.
        assert_rv!(rv, CKR_OK, "C_Decrypt after {what}");
        assert_eq!(got, p, "C_Decrypt after {what}: CBC-PAD plaintext");
        return;
    }
    // Multi-part: the last 5 bytes are kept by C_DecryptFinal with 4 offered.
    let (rv, _, first) = out_call(48, |o, l| ck!(r, C_DecryptUpdate(s, cp, cl, o, l)));
    assert_rv!(rv, CKR_OK);
    let (rv, n, _) = out_call(4, |o, l| ck!(r, C_DecryptFinal(s, o, l)));
    assert_rv!(rv, CKR_BUFFER_TOO_SMALL, "C_DecryptFinal(4 offered)");
    assert_eq!(n as usize + first.len(), 37);
    assert_rv!(disturb(&fx), CKR_OK, "{what}");
    let (rv, _, last) = out_call(n as usize, |o, l| ck!(r, C_DecryptFinal(s, o, l)));
    // FINDING 1 (fixed): an encryption-side call dropped decryption's kept output.
    assert_rv!(rv, CKR_OK, "C_DecryptFinal after {what}");
    let mut all = first;
    all.extend(last);
    assert_eq!(
        all, p,
        "C_DecryptUpdate/Final after {what}: CBC-PAD plaintext"
    );
}

fn encrypt_init(fx: &Fx) -> CK_RV {
    ck!(
        fx.tok.raw,
        C_EncryptInit(fx.s, Mech::plain(CKM_AES_ECB).ptr(), fx.pk)
    )
}

fn encrypt_init_null(fx: &Fx) -> CK_RV {
    ck!(fx.tok.raw, C_EncryptInit(fx.s, std::ptr::null_mut(), fx.pk))
}

fn cancel_encrypt(fx: &Fx) -> CK_RV {
    ck!(fx.tok.raw, C_SessionCancel(fx.s, CKF_ENCRYPT))
}

fn cancel_digest(fx: &Fx) -> CK_RV {
    ck!(fx.tok.raw, C_SessionCancel(fx.s, CKF_DIGEST))
}

#[test]
fn encrypt_init_keeps_decrypt_output() {
    kept_decrypt_output("C_EncryptInit(ECB)", false, encrypt_init);
}

#[test]
fn encrypt_init_keeps_decrypt_final_output() {
    kept_decrypt_output("C_EncryptInit(ECB)", true, encrypt_init);
}

#[test]
fn encrypt_init_null_keeps_decrypt_output() {
    kept_decrypt_output("C_EncryptInit(NULL)", false, encrypt_init_null);
}

#[test]
fn encrypt_init_null_keeps_decrypt_final_output() {
    kept_decrypt_output("C_EncryptInit(NULL)", true, encrypt_init_null);
}

#[test]
fn session_cancel_encrypt_keeps_decrypt_output() {
    kept_decrypt_output("C_SessionCancel(CKF_ENCRYPT)", false, cancel_encrypt);
}

#[test]
fn session_cancel_encrypt_keeps_decrypt_final_output() {
    kept_decrypt_output("C_SessionCancel(CKF_ENCRYPT)", true, cancel_encrypt);
}

#[test]
fn unrelated_cancel_keeps_decrypt_output() {
    kept_decrypt_output("C_SessionCancel(CKF_DIGEST)", false, cancel_digest);
    kept_decrypt_output("C_SessionCancel(CKF_DIGEST)", true, cancel_digest);
}
