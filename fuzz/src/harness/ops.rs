//! Calls shared by the operation targets: the two-call output convention
//! (checked as §6 states it) and small single-part operations.

use std::ptr;

use cryptoki_sys as sys;
use keyrotor::ffi::{cipher, object, sign_digest};
use sys::{CK_OBJECT_HANDLE, CK_RV, CK_SESSION_HANDLE, CK_ULONG};

use super::module::{check, name};

/// Byte pre-filled into output buffers, to see how much the module wrote.
const FILL: u8 = 0x5C;
/// Largest length a query may report for the small inputs used here.
const SANE_LEN: CK_ULONG = 1 << 16;

/// How to ask for output.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    /// NULL query, then a buffer of the reported size.
    Query,
    /// NULL query, a buffer one byte short, then the full buffer.
    QueryShort,
    /// A buffer of this size straight away (two-call logic still applies
    /// if it is too small).
    Direct(usize),
}

/// Runs a two-call output function `f(pOut, pulOutLen)` the way `ask`
/// says and checks the convention: the NULL query keeps the operation; a
/// short buffer gives `CKR_BUFFER_TOO_SMALL` with the needed length and
/// keeps the operation; the reported length always suffices; nothing is
/// written past the returned length. Returns the final result and output.
pub fn two_call(
    what: &str,
    ask: Ask,
    mut f: impl FnMut(*mut u8, *mut CK_ULONG) -> CK_RV,
) -> (CK_RV, Vec<u8>) {
    let mut need: CK_ULONG = match ask {
        Ask::Direct(n) => n as CK_ULONG,
        Ask::Query | Ask::QueryShort => {
            let mut len: CK_ULONG = CK_ULONG::MAX;
            let rv = check(f(ptr::null_mut(), &mut len), what);
            if rv != sys::CKR_OK {
                return (rv, Vec::new());
            }
            assert!(len <= SANE_LEN, "{what}: length query said {len}");
            len
        }
    };
    let mut tries = 0;
    let mut size = need;
    if ask == Ask::QueryShort && need > 0 {
        size = need - 1;
    }
    loop {
        tries += 1;
        let mut buf = vec![FILL; size as usize];
        let mut len = size;
        let rv = check(f(buf.as_mut_ptr(), &mut len), what);
        if rv == sys::CKR_BUFFER_TOO_SMALL {
            assert!(
                len > size,
                "{what}: CKR_BUFFER_TOO_SMALL for {size} bytes but needs {len}"
            );
            assert!(
                tries == 1 && ask != Ask::Query,
                "{what}: CKR_BUFFER_TOO_SMALL with the length the module asked for"
            );
            assert!(len <= SANE_LEN, "{what}: needs {len} bytes");
            if matches!(ask, Ask::Query | Ask::QueryShort) {
                assert!(
                    len <= need,
                    "{what}: the length query said {need} but {len} are needed"
                );
            }
            assert!(
                buf.iter().all(|&x| x == FILL),
                "{what}: wrote into a buffer it called too small"
            );
            need = need.max(len);
            size = need;
            continue;
        }
        if rv != sys::CKR_OK {
            return (rv, Vec::new());
        }
        assert!(len <= size, "{what}: returned {len} bytes into {size}");
        let n = len as usize;
        assert!(
            buf[n..].iter().all(|&x| x == FILL),
            "{what}: wrote past the {n} bytes it returned"
        );
        buf.truncate(n);
        return (rv, buf);
    }
}

/// `C_Encrypt` of `data` after a successful `C_EncryptInit`.
pub fn encrypt(h: CK_SESSION_HANDLE, data: &[u8], ask: Ask) -> (CK_RV, Vec<u8>) {
    let mut input = data.to_vec();
    two_call("C_Encrypt", ask, |o, l| {
        // SAFETY: `input` holds its length; `o`/`l` come from two_call.
        unsafe { cipher::C_Encrypt(h, input.as_mut_ptr(), input.len() as CK_ULONG, o, l) }
    })
}

/// `C_Decrypt` of `data` after a successful `C_DecryptInit`.
pub fn decrypt(h: CK_SESSION_HANDLE, data: &[u8], ask: Ask) -> (CK_RV, Vec<u8>) {
    let mut input = data.to_vec();
    two_call("C_Decrypt", ask, |o, l| {
        // SAFETY: as in `encrypt`.
        unsafe { cipher::C_Decrypt(h, input.as_mut_ptr(), input.len() as CK_ULONG, o, l) }
    })
}

/// `C_Sign` of `data` after a successful `C_SignInit`.
pub fn sign(h: CK_SESSION_HANDLE, data: &[u8], ask: Ask) -> (CK_RV, Vec<u8>) {
    let mut input = data.to_vec();
    two_call("C_Sign", ask, |o, l| {
        // SAFETY: as in `encrypt`.
        unsafe { sign_digest::C_Sign(h, input.as_mut_ptr(), input.len() as CK_ULONG, o, l) }
    })
}

/// `C_Digest` of `data` after a successful `C_DigestInit`.
pub fn digest(h: CK_SESSION_HANDLE, data: &[u8], ask: Ask) -> (CK_RV, Vec<u8>) {
    let mut input = data.to_vec();
    two_call("C_Digest", ask, |o, l| {
        // SAFETY: as in `encrypt`.
        unsafe { sign_digest::C_Digest(h, input.as_mut_ptr(), input.len() as CK_ULONG, o, l) }
    })
}

/// `C_Verify` of `data` against `sig` after a successful `C_VerifyInit`.
pub fn verify(h: CK_SESSION_HANDLE, data: &[u8], sig: &[u8]) -> CK_RV {
    let mut input = data.to_vec();
    let mut s = sig.to_vec();
    // SAFETY: both buffers hold their lengths.
    check(
        unsafe {
            sign_digest::C_Verify(
                h,
                input.as_mut_ptr(),
                input.len() as CK_ULONG,
                s.as_mut_ptr(),
                s.len() as CK_ULONG,
            )
        },
        "C_Verify",
    )
}

/// Asserts `rv` is `CKR_OK`, naming the call.
pub fn expect_ok(rv: CK_RV, what: &str) {
    assert!(rv == sys::CKR_OK, "{what}: {}", name(rv));
}

/// Destroys a key the target made; it must go.
pub fn drop_key(h: CK_SESSION_HANDLE, k: CK_OBJECT_HANDLE) {
    // SAFETY: no pointers.
    expect_ok(
        check(unsafe { object::C_DestroyObject(h, k) }, "C_DestroyObject"),
        "destroying a key the harness made",
    );
}
