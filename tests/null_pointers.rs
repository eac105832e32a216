//! Every function of the 3.0 list, called with each pointer argument NULL in
//! turn (everything else valid, the needed operation active): it must return
//! a `CK_RV` (no crash), `CKR_ARGUMENTS_BAD` where the pointer is required,
//! and the legal behaviour where NULL is allowed (length queries, empty
//! templates, empty inputs, NULL mechanism = cancel). Functions the module
//! does not offer must answer `CKR_FUNCTION_NOT_SUPPORTED` whatever the
//! pointers. Grouped by chapter, one token per group.

#[macro_use]
mod common;

#[path = "null_pointers/general.rs"]
mod general;
#[path = "null_pointers/keys.rs"]
mod keys;
#[path = "null_pointers/message.rs"]
mod message;
#[path = "null_pointers/message_decrypt.rs"]
mod message_decrypt;
#[path = "null_pointers/objects.rs"]
mod objects;
#[path = "null_pointers/operations.rs"]
mod operations;
#[path = "null_pointers/sign.rs"]
mod sign;

use std::ptr::null_mut;

use common::sys::*;
use common::vectors::*;
use common::{Mech, Raw, Template, TestToken};

pub const AB: CK_RV = CKR_ARGUMENTS_BAD;
pub const NS: CK_RV = CKR_FUNCTION_NOT_SUPPORTED;

/// Asserts `rv` is one of `allowed`.
pub fn one_of(rv: CK_RV, allowed: &[CK_RV], what: &str) {
    assert!(
        allowed.contains(&rv),
        "{what}: got {}, expected one of {:?}",
        common::rv_name(rv),
        allowed
            .iter()
            .map(|r| common::rv_name(*r))
            .collect::<Vec<_>>()
    );
}

pub struct Fixture {
    pub tok: TestToken,
    pub s: CK_SESSION_HANDLE,
    /// AES-128 session key, every usage, extractable.
    pub k: CK_OBJECT_HANDLE,
    /// HMAC key (RFC 4231 TC1 key).
    pub hk: CK_OBJECT_HANDLE,
}

pub fn fixture() -> Fixture {
    let tok = TestToken::new();
    let s = tok.user_session();
    let k = tok.raw.aes_key(s, &h(GCM_K128), false);
    let hk = tok.raw.secret_key(
        s,
        CKK_GENERIC_SECRET,
        &[0x0b; 20],
        false,
        Template::all_usages(),
    );
    Fixture { tok, s, k, hk }
}

#[derive(Clone, Copy)]
pub enum Op {
    Encrypt,
    Decrypt,
    Digest,
    Sign,
    Verify,
}

/// Cancels `op` (whatever state it is in) and starts it again with `m`.
pub fn restart(r: &Raw, s: CK_SESSION_HANDLE, op: Op, m: &mut Mech, key: CK_OBJECT_HANDLE) {
    let rv = match op {
        Op::Encrypt => {
            ck!(r, C_EncryptInit(s, null_mut(), key));
            ck!(r, C_EncryptInit(s, m.ptr(), key))
        }
        Op::Decrypt => {
            ck!(r, C_DecryptInit(s, null_mut(), key));
            ck!(r, C_DecryptInit(s, m.ptr(), key))
        }
        Op::Digest => {
            ck!(r, C_DigestInit(s, null_mut()));
            ck!(r, C_DigestInit(s, m.ptr()))
        }
        Op::Sign => {
            ck!(r, C_SignInit(s, null_mut(), key));
            ck!(r, C_SignInit(s, m.ptr(), key))
        }
        Op::Verify => {
            ck!(r, C_VerifyInit(s, null_mut(), key));
            ck!(r, C_VerifyInit(s, m.ptr(), key))
        }
    };
    assert_rv!(rv, CKR_OK, "re-init for the next NULL case");
}
