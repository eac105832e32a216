//! The eight multi-part operations of a session, each driven from Init to a
//! published result in two halves, so tests can interrupt them in the middle.

use std::ptr::null_mut;

use super::common::sys::*;
use super::common::vectors::*;
use super::common::{rv_name, GcmMsg};
use super::support::*;

/// A multi-part operation kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Encrypt,
    Decrypt,
    Digest,
    Sign,
    Verify,
    MsgEncrypt,
    MsgDecrypt,
    Find,
}

/// All of them.
pub const ALL: [Op; 8] = [
    Op::Encrypt,
    Op::Decrypt,
    Op::Digest,
    Op::Sign,
    Op::Verify,
    Op::MsgEncrypt,
    Op::MsgDecrypt,
    Op::Find,
];

/// What an operation interrupted in the middle carries to its second half.
pub struct Live {
    out: Vec<u8>,
    msg: Option<GcmMsg>,
    found: Vec<CK_OBJECT_HANDLE>,
    expected: Vec<CK_OBJECT_HANDLE>,
}

fn ok(rv: CK_RV, what: &str) {
    assert_rv!(rv, CKR_OK, "{what}");
}

/// Output of one call offering 128 bytes, which must succeed.
fn out(what: &str, f: impl FnMut(*mut u8, *mut CK_ULONG) -> CK_RV) -> Vec<u8> {
    let (rv, _, v) = out_call(128, f);
    ok(rv, what);
    v
}

impl Op {
    /// The `C_SessionCancel` flag of this operation.
    pub fn flag(self) -> CK_FLAGS {
        match self {
            Op::Encrypt => CKF_ENCRYPT,
            Op::Decrypt => CKF_DECRYPT,
            Op::Digest => CKF_DIGEST,
            Op::Sign => CKF_SIGN,
            Op::Verify => CKF_VERIFY,
            Op::MsgEncrypt => CKF_MESSAGE_ENCRYPT,
            Op::MsgDecrypt => CKF_MESSAGE_DECRYPT,
            Op::Find => CKF_FIND_OBJECTS,
        }
    }

    /// Init, and the first part of the input.
    pub fn start(self, fx: &Fx) -> Live {
        let (r, s, k, hk) = (&fx.tok.raw, fx.s, fx.k, fx.hk);
        let mut live = Live {
            out: vec![],
            msg: None,
            found: vec![],
            expected: vec![],
        };
        let p = tc4_p();
        let ct = tc4_ct();
        match self {
            Op::Encrypt => {
                ok(ck!(r, C_EncryptInit(s, gcm4().ptr(), k)), "C_EncryptInit");
                let (ip, _) = inp(&p[..32]);
                live.out = out("C_EncryptUpdate", |o, l| {
                    ck!(r, C_EncryptUpdate(s, ip, 32, o, l))
                });
            }
            Op::Decrypt => {
                ok(ck!(r, C_DecryptInit(s, gcm4().ptr(), k)), "C_DecryptInit");
                let (ip, _) = inp(&ct[..40]);
                live.out = out("C_DecryptUpdate", |o, l| {
                    ck!(r, C_DecryptUpdate(s, ip, 40, o, l))
                });
            }
            Op::Digest => {
                ok(ck!(r, C_DigestInit(s, sha256().ptr())), "C_DigestInit");
                ok(
                    ck!(r, C_DigestUpdate(s, b"ab".as_ptr() as *mut u8, 2)),
                    "C_DigestUpdate",
                );
            }
            Op::Sign | Op::Verify => {
                let (ip, il) = inp(b"Hi ");
                if self == Op::Sign {
                    ok(ck!(r, C_SignInit(s, hmac().ptr(), hk)), "C_SignInit");
                    ok(ck!(r, C_SignUpdate(s, ip, il)), "C_SignUpdate");
                } else {
                    ok(ck!(r, C_VerifyInit(s, hmac().ptr(), hk)), "C_VerifyInit");
                    ok(ck!(r, C_VerifyUpdate(s, ip, il)), "C_VerifyUpdate");
                }
            }
            Op::MsgEncrypt | Op::MsgDecrypt => {
                let enc = self == Op::MsgEncrypt;
                let mut m = msg_tc4();
                if !enc {
                    m.tag.copy_from_slice(&h(GCM_TC4_T));
                }
                let aad = h(GCM_AAD);
                let (ap, al) = inp(&aad);
                let (mp, ml) = (m.ptr(), m.len());
                if enc {
                    ok(
                        ck!(r, C_MessageEncryptInit(s, msg_mech().ptr(), k)),
                        "C_MessageEncryptInit",
                    );
                    ok(
                        ck!(r, C_EncryptMessageBegin(s, mp, ml, ap, al)),
                        "C_EncryptMessageBegin",
                    );
                    let (ip, _) = inp(&p[..32]);
                    live.out = out("C_EncryptMessageNext", |o, l| {
                        ck!(r, C_EncryptMessageNext(s, mp, ml, ip, 32, o, l, 0))
                    });
                } else {
                    ok(
                        ck!(r, C_MessageDecryptInit(s, msg_mech().ptr(), k)),
                        "C_MessageDecryptInit",
                    );
                    ok(
                        ck!(r, C_DecryptMessageBegin(s, mp, ml, ap, al)),
                        "C_DecryptMessageBegin",
                    );
                    let (ip, _) = inp(&ct[..32]);
                    live.out = out("C_DecryptMessageNext", |o, l| {
                        ck!(r, C_DecryptMessageNext(s, mp, ml, ip, 32, o, l, 0))
                    });
                    assert!(
                        live.out.is_empty(),
                        "plaintext released before the tag was checked"
                    );
                }
                live.msg = Some(m);
            }
            Op::Find => {
                let other = r.open(fx.tok.slot, false);
                live.expected = r.find(other, None, 64);
                ok(ck!(r, C_CloseSession(other)), "C_CloseSession");
                ok(
                    ck!(r, C_FindObjectsInit(s, null_mut(), 0)),
                    "C_FindObjectsInit",
                );
                let mut hs = [0; 1];
                let mut n: CK_ULONG = 0;
                ok(
                    ck!(r, C_FindObjects(s, hs.as_mut_ptr(), 1, &mut n)),
                    "C_FindObjects",
                );
                assert_eq!(n, 1);
                live.found.push(hs[0]);
            }
        }
        live
    }

    /// The rest of the input and the end; asserts the published result.
    pub fn finish(self, fx: &Fx, live: &mut Live) {
        let (r, s) = (&fx.tok.raw, fx.s);
        let p = tc4_p();
        let ct = tc4_ct();
        match self {
            Op::Encrypt => {
                let (ip, _) = inp(&p[32..]);
                live.out.extend(out("C_EncryptUpdate", |o, l| {
                    ck!(r, C_EncryptUpdate(s, ip, 28, o, l))
                }));
                live.out.extend(out("C_EncryptFinal", |o, l| {
                    ck!(r, C_EncryptFinal(s, o, l))
                }));
                assert_eq!(live.out, ct, "multi-part GCM encryption, test case 4");
            }
            Op::Decrypt => {
                let (ip, _) = inp(&ct[40..]);
                live.out.extend(out("C_DecryptUpdate", |o, l| {
                    ck!(r, C_DecryptUpdate(s, ip, 36, o, l))
                }));
                live.out.extend(out("C_DecryptFinal", |o, l| {
                    ck!(r, C_DecryptFinal(s, o, l))
                }));
                assert_eq!(live.out, p, "multi-part GCM decryption, test case 4");
            }
            Op::Digest => {
                ok(
                    ck!(r, C_DigestUpdate(s, b"c".as_ptr() as *mut u8, 1)),
                    "C_DigestUpdate",
                );
                let d = out("C_DigestFinal", |o, l| ck!(r, C_DigestFinal(s, o, l)));
                assert_eq!(d, h(SHA256_ABC), "SHA-256(abc)");
            }
            Op::Sign => {
                ok(
                    ck!(r, C_SignUpdate(s, b"There".as_ptr() as *mut u8, 5)),
                    "C_SignUpdate",
                );
                let m = out("C_SignFinal", |o, l| ck!(r, C_SignFinal(s, o, l)));
                assert_eq!(m, h(HMAC_TC1), "RFC 4231 TC1");
            }
            Op::Verify => {
                ok(
                    ck!(r, C_VerifyUpdate(s, b"There".as_ptr() as *mut u8, 5)),
                    "C_VerifyUpdate",
                );
                let tc1 = h(HMAC_TC1);
                ok(
                    ck!(r, C_VerifyFinal(s, tc1.as_ptr() as *mut u8, 32)),
                    "C_VerifyFinal(TC1)",
                );
            }
            Op::MsgEncrypt | Op::MsgDecrypt => {
                let enc = self == Op::MsgEncrypt;
                let m = live.msg.as_mut().expect("message parameters");
                let (mp, ml) = (m.ptr(), m.len());
                let end = CKF_END_OF_MESSAGE;
                if enc {
                    let (ip, _) = inp(&p[32..]);
                    live.out.extend(out("C_EncryptMessageNext(end)", |o, l| {
                        ck!(r, C_EncryptMessageNext(s, mp, ml, ip, 28, o, l, end))
                    }));
                    assert_eq!(live.out, h(GCM_TC4_C), "message API ciphertext");
                    assert_eq!(&m.tag[..], &h(GCM_TC4_T)[..], "message API tag");
                    ok(ck!(r, C_MessageEncryptFinal(s)), "C_MessageEncryptFinal");
                } else {
                    let (ip, _) = inp(&ct[32..60]);
                    live.out.extend(out("C_DecryptMessageNext(end)", |o, l| {
                        ck!(r, C_DecryptMessageNext(s, mp, ml, ip, 28, o, l, end))
                    }));
                    assert_eq!(live.out, p, "message API plaintext");
                    ok(ck!(r, C_MessageDecryptFinal(s)), "C_MessageDecryptFinal");
                }
            }
            Op::Find => {
                let mut hs = [0; 64];
                let mut n: CK_ULONG = 0;
                ok(
                    ck!(r, C_FindObjects(s, hs.as_mut_ptr(), 64, &mut n)),
                    "C_FindObjects",
                );
                live.found.extend_from_slice(&hs[..n as usize]);
                ok(ck!(r, C_FindObjectsFinal(s)), "C_FindObjectsFinal");
                live.found.sort_unstable();
                live.expected.sort_unstable();
                assert_eq!(live.found, live.expected, "every object found once");
            }
        }
    }

    /// Cancels with the Init function and a NULL mechanism (PKCS#11 3.0);
    /// `None` for find, whose Init has no mechanism.
    pub fn cancel_with_null(self, fx: &Fx) -> Option<CK_RV> {
        let (r, s, k, hk) = (&fx.tok.raw, fx.s, fx.k, fx.hk);
        Some(match self {
            Op::Encrypt => ck!(r, C_EncryptInit(s, null_mut(), k)),
            Op::Decrypt => ck!(r, C_DecryptInit(s, null_mut(), k)),
            Op::Digest => ck!(r, C_DigestInit(s, null_mut())),
            Op::Sign => ck!(r, C_SignInit(s, null_mut(), hk)),
            Op::Verify => ck!(r, C_VerifyInit(s, null_mut(), hk)),
            Op::MsgEncrypt => ck!(r, C_MessageEncryptInit(s, null_mut(), k)),
            Op::MsgDecrypt => ck!(r, C_MessageDecryptInit(s, null_mut(), k)),
            Op::Find => return None,
        })
    }

    /// Asserts the next step of the interrupted operation finds nothing.
    pub fn assert_gone(self, fx: &Fx, live: &mut Live, how: &str) {
        let (r, s) = (&fx.tok.raw, fx.s);
        let d = [0u8; 32];
        let dp = d.as_ptr() as *mut u8;
        let mut n: CK_ULONG = 64;
        let mut o = [0u8; 64];
        let op = o.as_mut_ptr();
        let rv = match self {
            Op::Encrypt => ck!(r, C_EncryptUpdate(s, dp, 16, op, &mut n)),
            Op::Decrypt => ck!(r, C_DecryptUpdate(s, dp, 16, op, &mut n)),
            Op::Digest => ck!(r, C_DigestUpdate(s, dp, 16)),
            Op::Sign => ck!(r, C_SignUpdate(s, dp, 16)),
            Op::Verify => ck!(r, C_VerifyUpdate(s, dp, 16)),
            Op::MsgEncrypt | Op::MsgDecrypt => {
                let m = live.msg.as_mut().expect("message parameters");
                let (mp, ml) = (m.ptr(), m.len());
                let end = CKF_END_OF_MESSAGE;
                if self == Op::MsgEncrypt {
                    ck!(r, C_EncryptMessageNext(s, mp, ml, dp, 16, op, &mut n, end))
                } else {
                    ck!(r, C_DecryptMessageNext(s, mp, ml, dp, 16, op, &mut n, end))
                }
            }
            Op::Find => ck!(r, C_FindObjects(s, [0; 4].as_mut_ptr(), 4, &mut n)),
        };
        assert!(
            rv == CKR_OPERATION_NOT_INITIALIZED,
            "{self:?} after {how}: expected CKR_OPERATION_NOT_INITIALIZED, got {}",
            rv_name(rv)
        );
    }

    /// A whole new operation from Init; asserts the published result.
    pub fn fresh(self, fx: &Fx) {
        let mut live = self.start(fx);
        self.finish(fx, &mut live);
    }
}
