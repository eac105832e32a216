//! Shared pieces of the torture suites: a fixture with keys of known value,
//! the bad lengths and handles every suite throws at the module, published
//! vectors cut the way the multi-part tests need them, and the check for the
//! few places where the specification allows two return codes.
#![allow(dead_code)]

use std::ffi::c_void;
use std::ptr::null_mut;

use super::common::sys::*;
use super::common::vectors::*;
use super::common::{rv_name, GcmMsg, Mech, Raw, Template, TestToken};

/// A length no caller buffer can have. `src/ffi/ptr.rs` refuses any length
/// above 2^31 before building a slice, so passing it with a small real buffer
/// is safe: the module must answer without reading.
pub const HUGE: CK_ULONG = CK_ULONG::MAX / 2;

/// One attribute more than the module accepts in a template (its
/// `MAX_TEMPLATE` is 4096): refused with `CKR_ARGUMENTS_BAD` before reading.
pub const OVER_TEMPLATE: usize = 4097;

/// A handle value the module never hands out in a test (handles count up
/// from 1 per process).
pub const RANDOM_HANDLE: CK_ULONG = 0x5eed_dead_beef;

/// Asserts `rv` is exactly one of `allowed` (used only where the
/// specification allows more than one code; the caller names the clause).
pub fn one_of(rv: CK_RV, allowed: &[CK_RV], what: &str) {
    assert!(
        allowed.contains(&rv),
        "{what}: got {}, expected one of {:?}",
        rv_name(rv),
        allowed.iter().map(|r| rv_name(*r)).collect::<Vec<_>>()
    );
}

/// A token with a logged-in RW user session and session keys of known value.
pub struct Fx {
    /// The token (finalises on drop).
    pub tok: TestToken,
    /// RW session, user logged in.
    pub s: CK_SESSION_HANDLE,
    /// AES-128 key `GCM_K128` (McGrew–Viega test cases 3/4), every usage,
    /// extractable, CKA_PRIVATE default (true).
    pub k: CK_OBJECT_HANDLE,
    /// Generic secret 0x0b × 20 (RFC 4231 test case 1), every usage.
    pub hk: CK_OBJECT_HANDLE,
    /// AES-128 key `SP800_38A_KEY`, every usage, CKA_PRIVATE false (survives logout).
    pub pk: CK_OBJECT_HANDLE,
}

/// A fresh token and its [`Fx`].
pub fn fixture() -> Fx {
    let tok = TestToken::new();
    let s = tok.user_session();
    let (k, hk, pk) = keys(&tok.raw, s);
    Fx { tok, s, k, hk, pk }
}

/// Creates the three session keys of [`Fx`] in `s`: `(k, hk, pk)`.
pub fn keys(
    r: &Raw,
    s: CK_SESSION_HANDLE,
) -> (CK_OBJECT_HANDLE, CK_OBJECT_HANDLE, CK_OBJECT_HANDLE) {
    let k = r.aes_key(s, &h(GCM_K128), false);
    let hk = r.secret_key(
        s,
        CKK_GENERIC_SECRET,
        &[0x0b; 20],
        false,
        Template::all_usages(),
    );
    let pk = r.secret_key(
        s,
        CKK_AES,
        &h(SP800_38A_KEY),
        false,
        Template::all_usages().bool(CKA_PRIVATE, false),
    );
    (k, hk, pk)
}

/// `CKM_AES_GCM` of McGrew–Viega test case 4 (96-bit IV, AAD, 128-bit tag).
pub fn gcm4() -> Mech {
    Mech::gcm(&h(GCM_IV96), &h(GCM_AAD), 128)
}

/// Test case 4 plaintext (60 bytes).
pub fn tc4_p() -> Vec<u8> {
    h(GCM_P)[..60].to_vec()
}

/// Test case 4 ciphertext || tag (76 bytes).
pub fn tc4_ct() -> Vec<u8> {
    let mut v = h(GCM_TC4_C);
    v.extend(h(GCM_TC4_T));
    v
}

/// `CK_GCM_MESSAGE_PARAMS` for test case 4: the caller's IV, no generator.
pub fn msg_tc4() -> GcmMsg {
    GcmMsg::new(&h(GCM_IV96), 0, CKG_NO_GENERATE, 16)
}

/// `CKM_AES_GCM` without a parameter, as the message API takes it.
pub fn msg_mech() -> Mech {
    Mech::plain(CKM_AES_GCM)
}

/// `CKM_SHA256_HMAC`.
pub fn hmac() -> Mech {
    Mech::plain(CKM_SHA256_HMAC)
}

/// `CKM_SHA256`.
pub fn sha256() -> Mech {
    Mech::plain(CKM_SHA256)
}

/// A template of `n` attributes (CKA_LABEL, NULL value, length 0): real
/// memory, so even a module that wrongly read it would not fault.
pub fn long_template(n: usize) -> Vec<CK_ATTRIBUTE> {
    vec![
        CK_ATTRIBUTE {
            type_: CKA_LABEL,
            pValue: null_mut(),
            ulValueLen: 0,
        };
        n
    ]
}

/// A public session data object (CKO_DATA) labelled `label`.
pub fn data_object(r: &Raw, s: CK_SESSION_HANDLE, label: &str, token: bool) -> CK_OBJECT_HANDLE {
    let mut t = Template::new()
        .ulong(CKA_CLASS, CKO_DATA)
        .bool(CKA_TOKEN, token)
        .bool(CKA_PRIVATE, false)
        .bytes(CKA_LABEL, label.as_bytes());
    let (rv, o) = r.create(s, &mut t);
    assert_rv!(rv, CKR_OK, "C_CreateObject(data object {label})");
    o
}

/// Pointer and length of a byte slice for an input argument.
pub fn inp(b: &[u8]) -> (*mut u8, CK_ULONG) {
    (b.as_ptr() as *mut u8, b.len() as CK_ULONG)
}

/// `pParameter` of a [`GcmMsg`] as the message functions take it.
pub fn pv(p: &mut GcmMsg) -> *mut c_void {
    p.ptr()
}

/// Sentinel the output buffers of [`out_call`] start filled with.
pub const SENTINEL: u8 = 0xA5;

/// Runs an output call (`f(pOut, pulOutLen)`) offering a real buffer of
/// `cap` bytes. Returns the rv, the length the module wrote back, and the
/// bytes it produced (empty unless `CKR_OK`). On any error the buffer must
/// be untouched: nothing may be released (GCM) or written past `cap`.
pub fn out_call(
    cap: usize,
    mut f: impl FnMut(*mut u8, *mut CK_ULONG) -> CK_RV,
) -> (CK_RV, CK_ULONG, Vec<u8>) {
    // One guard byte past `cap` catches writes beyond the stated length.
    let mut buf = vec![SENTINEL; cap + 1];
    let mut n = cap as CK_ULONG;
    let rv = f(buf.as_mut_ptr(), &mut n);
    assert_eq!(
        buf[cap], SENTINEL,
        "the module wrote past the {cap} bytes offered"
    );
    if rv == CKR_OK {
        assert!(n as usize <= cap, "claims {n} bytes written into {cap}");
        buf.truncate(n as usize);
    } else {
        assert!(
            buf.iter().all(|b| *b == SENTINEL),
            "output written although the call failed with {}",
            rv_name(rv)
        );
        buf.clear();
    }
    (rv, n, buf)
}
