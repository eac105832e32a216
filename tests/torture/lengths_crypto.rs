//! Lengths of the mechanism parameters and of the encrypt and decrypt
//! functions (single- and multi-part).

use std::ptr::null_mut;

use super::common::sys::*;
use super::common::vectors::*;
use super::common::{Mech, Raw};
use super::support::*;

const AB: CK_RV = CKR_ARGUMENTS_BAD;
const PI: CK_RV = CKR_MECHANISM_PARAM_INVALID;
const NI: CK_RV = CKR_OPERATION_NOT_INITIALIZED;

fn gcm_with(edit: impl FnOnce(&mut CK_GCM_PARAMS)) -> Mech {
    let m = gcm4();
    edit(unsafe { &mut *(m.m.pParameter as *mut CK_GCM_PARAMS) });
    m
}

/// Asserts nothing is active after a refused init.
fn nothing_active(r: &Raw, s: CK_SESSION_HANDLE, what: &str) {
    let mut n: CK_ULONG = 0;
    assert_rv!(
        ck!(r, C_EncryptFinal(s, null_mut(), &mut n)),
        NI,
        "{what}: encrypt"
    );
    assert_rv!(
        ck!(r, C_DecryptFinal(s, null_mut(), &mut n)),
        NI,
        "{what}: decrypt"
    );
    assert_rv!(
        ck!(r, C_SignFinal(s, null_mut(), &mut n)),
        NI,
        "{what}: sign"
    );
    assert_rv!(
        ck!(r, C_DigestFinal(s, null_mut(), &mut n)),
        NI,
        "{what}: digest"
    );
}

#[test]
fn mechanism_parameter_lengths() {
    let fx = fixture();
    let r = &fx.tok.raw;
    let (s, k, hk) = (fx.s, fx.k, fx.hk);
    let iv = [0u8; 16];
    let mut cases: Vec<(&str, Mech)> = vec![
        ("GCM ulParameterLen 0", {
            let mut m = gcm4();
            m.m.ulParameterLen = 0;
            m
        }),
        ("GCM ulParameterLen huge", {
            let mut m = gcm4();
            m.m.ulParameterLen = HUGE;
            m
        }),
        ("GCM ulIvLen 0", gcm_with(|p| p.ulIvLen = 0)),
        ("GCM ulIvLen huge", gcm_with(|p| p.ulIvLen = HUGE)),
        ("GCM ulAADLen huge", gcm_with(|p| p.ulAADLen = HUGE)),
        ("GCM ulTagBits 0", gcm_with(|p| p.ulTagBits = 0)),
        ("GCM ulTagBits huge", gcm_with(|p| p.ulTagBits = HUGE)),
        ("CBC IV length 0", {
            let mut m = Mech::bytes(CKM_AES_CBC, &iv);
            m.m.ulParameterLen = 0;
            m
        }),
        ("CBC IV length 15", {
            let mut m = Mech::bytes(CKM_AES_CBC, &iv);
            m.m.ulParameterLen = 15;
            m
        }),
        ("CBC-PAD IV length huge", {
            let mut m = Mech::bytes(CKM_AES_CBC_PAD, &iv);
            m.m.ulParameterLen = HUGE;
            m
        }),
        ("CTR ulParameterLen 0", {
            let mut m = Mech::ctr(128, [0; 16]);
            m.m.ulParameterLen = 0;
            m
        }),
        ("CTR ulParameterLen huge", {
            let mut m = Mech::ctr(128, [0; 16]);
            m.m.ulParameterLen = HUGE;
            m
        }),
        ("CTR ulCounterBits 0", Mech::ctr(0, [0; 16])),
        ("CTR ulCounterBits 129", Mech::ctr(129, [0; 16])),
        ("CTR ulCounterBits huge", Mech::ctr(HUGE, [0; 16])),
        ("ECB with a parameter of huge length", {
            let mut m = Mech::bytes(CKM_AES_ECB, &iv);
            m.m.ulParameterLen = HUGE;
            m
        }),
    ];
    // §5.1: a mechanism parameter of the wrong size is
    // CKR_MECHANISM_PARAM_INVALID (DESIGN §6 says the same).
    for (what, m) in cases.iter_mut() {
        assert_rv!(
            ck!(r, C_EncryptInit(s, m.ptr(), k)),
            PI,
            "C_EncryptInit({what})"
        );
        assert_rv!(
            ck!(r, C_DecryptInit(s, m.ptr(), k)),
            PI,
            "C_DecryptInit({what})"
        );
    }
    for (what, t) in [("HMAC", CKM_SHA256_HMAC), ("CMAC", CKM_AES_CMAC)] {
        let mut m = Mech::bytes(t, &iv);
        m.m.ulParameterLen = HUGE;
        let key = if t == CKM_AES_CMAC { k } else { hk };
        assert_rv!(
            ck!(r, C_SignInit(s, m.ptr(), key)),
            PI,
            "C_SignInit({what}, huge)"
        );
        assert_rv!(
            ck!(r, C_VerifyInit(s, m.ptr(), key)),
            PI,
            "C_VerifyInit({what}, huge)"
        );
    }
    let mut m = Mech::bytes(CKM_SHA256, &iv);
    m.m.ulParameterLen = HUGE;
    assert_rv!(
        ck!(r, C_DigestInit(s, m.ptr())),
        PI,
        "C_DigestInit(SHA256, huge)"
    );
    nothing_active(r, s, "after refused inits");

    // A parameter-less mechanism whose pParameter is NULL but whose
    // ulParameterLen is not 0 has a parameter of the wrong size.
    // FINDING 3 (fixed): was accepted (`no_param` only refused a
    // non-NULL pointer with a nonzero length).
    let mut m = Mech::plain(CKM_SHA256);
    m.m.ulParameterLen = 8;
    assert_rv!(
        ck!(r, C_DigestInit(s, m.ptr())),
        PI,
        "C_DigestInit(SHA256, NULL, 8)"
    );
    let _ = ck!(r, C_DigestInit(s, null_mut()));
}

#[test]
fn encrypt_lengths() {
    let fx = fixture();
    let r = &fx.tok.raw;
    let (s, k) = (fx.s, fx.k);
    let p = tc4_p();
    let (pp, pl) = inp(&p);
    let init = || assert_rv!(ck!(r, C_EncryptInit(s, gcm4().ptr(), k)), CKR_OK);

    // Empty plaintext: GCM of nothing is the tag alone.
    init();
    let (rv, n, tag) = out_call(16, |o, l| ck!(r, C_Encrypt(s, pp, 0, o, l)));
    assert_rv!(rv, CKR_OK, "C_Encrypt(ulDataLen 0)");
    assert_eq!(n, 16);
    assert_rv!(ck!(r, C_DecryptInit(s, gcm4().ptr(), k)), CKR_OK);
    let (rv, n, _) = out_call(16, |o, l| {
        ck!(r, C_Decrypt(s, tag.as_ptr() as *mut u8, 16, o, l))
    });
    assert_rv!(rv, CKR_OK, "decrypting the empty message");
    assert_eq!(n, 0);

    // Huge plaintext: refused unread. The data's length is what is wrong
    // (§5.1 CKR_DATA_LEN_RANGE); CKR_ARGUMENTS_BAD fits too. Either ends
    // the operation (§5.8 C_Encrypt).
    init();
    let (rv, _, _) = out_call(64, |o, l| ck!(r, C_Encrypt(s, pp, HUGE, o, l)));
    one_of(rv, &[AB, CKR_DATA_LEN_RANGE], "C_Encrypt(ulDataLen huge)");
    let (rv, _, _) = out_call(128, |o, l| ck!(r, C_Encrypt(s, pp, pl, o, l)));
    assert_rv!(rv, NI, "the huge-length error ended the operation");

    // Output buffer of 0 bytes: too small, the length, the operation kept.
    init();
    let (rv, n, _) = out_call(0, |o, l| ck!(r, C_Encrypt(s, pp, pl, o, l)));
    assert_rv!(rv, CKR_BUFFER_TOO_SMALL, "C_Encrypt(*pulLen 0)");
    assert_eq!(n, 76);
    let (rv, _, ct) = out_call(76, |o, l| ck!(r, C_Encrypt(s, pp, pl, o, l)));
    assert_rv!(rv, CKR_OK, "kept after the short buffer");
    assert_eq!(ct, tc4_ct(), "McGrew-Viega test case 4");

    // Multi-part: an empty part, a huge part, a zero-byte Final buffer.
    init();
    let (rv, n, _) = out_call(16, |o, l| ck!(r, C_EncryptUpdate(s, pp, 0, o, l)));
    assert_rv!(rv, CKR_OK, "C_EncryptUpdate(0)");
    assert_eq!(n, 0);
    let (rv, _, _) = out_call(64, |o, l| ck!(r, C_EncryptUpdate(s, pp, HUGE, o, l)));
    one_of(rv, &[AB, CKR_DATA_LEN_RANGE], "C_EncryptUpdate(huge)");
    let (rv, _, _) = out_call(128, |o, l| ck!(r, C_EncryptFinal(s, o, l)));
    assert_rv!(
        rv,
        NI,
        "the huge part ended the operation (§5.8 C_EncryptUpdate)"
    );

    init();
    let mut all = Vec::new();
    let (rv, _, part) = out_call(128, |o, l| ck!(r, C_EncryptUpdate(s, pp, pl, o, l)));
    assert_rv!(rv, CKR_OK);
    all.extend(part);
    let (rv, need, _) = out_call(0, |o, l| ck!(r, C_EncryptFinal(s, o, l)));
    assert_rv!(rv, CKR_BUFFER_TOO_SMALL, "C_EncryptFinal(*pulLen 0)");
    assert_eq!(need as usize + all.len(), 76, "Final's length");
    let (rv, _, last) = out_call(need as usize, |o, l| ck!(r, C_EncryptFinal(s, o, l)));
    assert_rv!(rv, CKR_OK);
    all.extend(last);
    assert_eq!(all, tc4_ct(), "multi-part test case 4");
}

#[test]
fn decrypt_lengths() {
    let fx = fixture();
    let r = &fx.tok.raw;
    let (s, k) = (fx.s, fx.k);
    let ct = tc4_ct();
    let (cp, cl) = inp(&ct);
    let init = || assert_rv!(ck!(r, C_DecryptInit(s, gcm4().ptr(), k)), CKR_OK);

    // Shorter than the tag: invalid on its length alone (§5.1
    // CKR_ENCRYPTED_DATA_LEN_RANGE).
    for len in [0, 15] {
        init();
        let (rv, _, _) = out_call(64, |o, l| ck!(r, C_Decrypt(s, cp, len, o, l)));
        assert_rv!(
            rv,
            CKR_ENCRYPTED_DATA_LEN_RANGE,
            "C_Decrypt(GCM, {len} bytes)"
        );
    }
    init();
    let (rv, _, _) = out_call(64, |o, l| ck!(r, C_Decrypt(s, cp, HUGE, o, l)));
    one_of(rv, &[AB, CKR_ENCRYPTED_DATA_LEN_RANGE], "C_Decrypt(huge)");
    let (rv, _, _) = out_call(64, |o, l| ck!(r, C_Decrypt(s, cp, cl, o, l)));
    assert_rv!(rv, NI, "the huge-length error ended the operation");

    init();
    let (rv, n, _) = out_call(0, |o, l| ck!(r, C_Decrypt(s, cp, cl, o, l)));
    assert_rv!(rv, CKR_BUFFER_TOO_SMALL, "C_Decrypt(*pulLen 0)");
    assert_eq!(n, 60);
    let (rv, _, p) = out_call(60, |o, l| ck!(r, C_Decrypt(s, cp, cl, o, l)));
    assert_rv!(rv, CKR_OK);
    assert_eq!(p, tc4_p());

    // Multi-part.
    init();
    let (rv, n, _) = out_call(16, |o, l| ck!(r, C_DecryptUpdate(s, cp, 0, o, l)));
    assert_rv!(rv, CKR_OK, "C_DecryptUpdate(0)");
    assert_eq!(n, 0);
    let (rv, _, _) = out_call(64, |o, l| ck!(r, C_DecryptUpdate(s, cp, HUGE, o, l)));
    one_of(
        rv,
        &[AB, CKR_ENCRYPTED_DATA_LEN_RANGE],
        "C_DecryptUpdate(huge)",
    );
    let (rv, _, _) = out_call(64, |o, l| ck!(r, C_DecryptFinal(s, o, l)));
    assert_rv!(rv, NI, "the huge part ended the operation");

    init();
    let (rv, n, _) = out_call(128, |o, l| ck!(r, C_DecryptUpdate(s, cp, cl, o, l)));
    assert_rv!(rv, CKR_OK);
    assert_eq!(n, 0, "GCM releases nothing before the tag is checked");
    let (rv, n, _) = out_call(0, |o, l| ck!(r, C_DecryptFinal(s, o, l)));
    assert_rv!(rv, CKR_BUFFER_TOO_SMALL, "C_DecryptFinal(*pulLen 0)");
    assert_eq!(n, 60);
    let (rv, _, p) = out_call(60, |o, l| ck!(r, C_DecryptFinal(s, o, l)));
    assert_rv!(rv, CKR_OK);
    assert_eq!(p, tc4_p());

    // Block modes: a partial block is the wrong length (CKM_AES_CBC: input a
    // multiple of the block size), CBC-PAD ciphertext cannot be empty.
    let kp = fx.pk;
    let iv = h(SP800_38A_CBC_IV);
    let data = h(SP800_38A_P);
    let (dp, _) = inp(&data);
    assert_rv!(
        ck!(r, C_EncryptInit(s, Mech::bytes(CKM_AES_CBC, &iv).ptr(), kp)),
        CKR_OK
    );
    let (rv, _, _) = out_call(64, |o, l| ck!(r, C_Encrypt(s, dp, 15, o, l)));
    assert_rv!(rv, CKR_DATA_LEN_RANGE, "CBC encrypt of 15 bytes");
    assert_rv!(
        ck!(r, C_DecryptInit(s, Mech::bytes(CKM_AES_CBC, &iv).ptr(), kp)),
        CKR_OK
    );
    let (rv, _, _) = out_call(64, |o, l| ck!(r, C_Decrypt(s, dp, 15, o, l)));
    assert_rv!(rv, CKR_ENCRYPTED_DATA_LEN_RANGE, "CBC decrypt of 15 bytes");
    assert_rv!(
        ck!(
            r,
            C_DecryptInit(s, Mech::bytes(CKM_AES_CBC_PAD, &iv).ptr(), kp)
        ),
        CKR_OK
    );
    let (rv, _, _) = out_call(64, |o, l| ck!(r, C_Decrypt(s, dp, 0, o, l)));
    assert_rv!(
        rv,
        CKR_ENCRYPTED_DATA_LEN_RANGE,
        "CBC-PAD decrypt of 0 bytes"
    );
    // CBC-PAD of nothing is one block of padding, and decrypts to nothing.
    assert_rv!(
        ck!(
            r,
            C_EncryptInit(s, Mech::bytes(CKM_AES_CBC_PAD, &iv).ptr(), kp)
        ),
        CKR_OK
    );
    let (rv, _, block) = out_call(16, |o, l| ck!(r, C_Encrypt(s, dp, 0, o, l)));
    assert_rv!(rv, CKR_OK, "CBC-PAD encrypt of 0 bytes");
    assert_eq!(block.len(), 16);
    assert_rv!(
        ck!(
            r,
            C_DecryptInit(s, Mech::bytes(CKM_AES_CBC_PAD, &iv).ptr(), kp)
        ),
        CKR_OK
    );
    let (rv, n, _) = out_call(16, |o, l| {
        ck!(r, C_Decrypt(s, block.as_ptr() as *mut u8, 16, o, l))
    });
    assert_rv!(rv, CKR_OK);
    assert_eq!(n, 0);
}
