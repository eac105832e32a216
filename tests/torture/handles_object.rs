//! Bad object and key handles through every function that takes one.

use std::ptr::null_mut;

use super::common::sys::*;
use super::common::vectors::*;
use super::common::{Raw, Template, USER_PIN};
use super::handle_tables::*;
use super::object_table::object_table;
use super::support::*;

/// No operation may have been started by a refused init.
fn nothing_started(r: &Raw, s: CK_SESSION_HANDLE, what: &str) {
    let mut n: CK_ULONG = 0;
    for (f, rv) in [
        ("encrypt", ck!(r, C_EncryptFinal(s, null_mut(), &mut n))),
        ("decrypt", ck!(r, C_DecryptFinal(s, null_mut(), &mut n))),
        ("sign", ck!(r, C_SignFinal(s, null_mut(), &mut n))),
        (
            "verify",
            ck!(r, C_VerifyFinal(s, [0u8; 32].as_mut_ptr(), 32)),
        ),
        ("message encrypt", ck!(r, C_MessageEncryptFinal(s))),
        ("message decrypt", ck!(r, C_MessageDecryptFinal(s))),
    ] {
        assert_rv!(
            rv,
            CKR_OPERATION_NOT_INITIALIZED,
            "{what}: a refused {f} init started it"
        );
    }
}

#[test]
fn invalid_and_stale_object_handles() {
    let fx = fixture();
    let r = &fx.tok.raw;
    let s = fx.s;

    let gone_data = data_object(r, s, "gone", false);
    let gone_key = r.aes_key(s, &h(KW_KEK), false);
    let gone_token = data_object(r, s, "gone-token", true);
    // A token AES key is a rotating key, named by its label.
    let named = |n: &[u8]| Template::all_usages().bytes(CKA_LABEL, n);
    let gone_token_key = r.secret_key(s, CKK_AES, &h(KW_KEK), true, named(b"torture-gone"));
    for o in [gone_data, gone_key, gone_token, gone_token_key] {
        assert_rv!(ck!(r, C_DestroyObject(s, o)), CKR_OK);
    }
    let s2 = r.open(fx.tok.slot, true);
    let orphan_data = data_object(r, s2, "orphan", false);
    let orphan_key = r.aes_key(s2, &h(KW_KEK), false);
    assert_rv!(ck!(r, C_CloseSession(s2)), CKR_OK);

    let objects = r.find(s, None, 64);
    let sc = Scratch::new();
    let table = object_table(r, &sc, s, fx.pk);
    let mut bad = Vec::new();
    for (o, what) in [
        (CK_INVALID_HANDLE, "0"),
        (RANDOM_HANDLE, "never issued"),
        (CK_ULONG::MAX, "CK_ULONG::MAX"),
        (gone_data, "destroyed session data object"),
        (gone_key, "destroyed session key"),
        (gone_token, "destroyed token data object"),
        (gone_token_key, "destroyed token key"),
        (orphan_data, "data object of a closed session"),
        (orphan_key, "key of a closed session"),
    ] {
        bad.extend(run(&table, o, what));
        nothing_started(r, s, what);
    }
    assert_eq!(r.find(s, None, 64), objects, "objects created or destroyed");
    assert_eq!(
        r.encrypt(s, &mut gcm4(), fx.k, &tc4_p()),
        Ok(tc4_ct()),
        "the session still works"
    );
    assert!(bad.is_empty(), "bad object handles:\n{}", bad.join("\n"));
}

#[test]
fn private_objects_after_logout() {
    let fx = fixture();
    let r = &fx.tok.raw;
    let s = fx.s;
    let named = Template::all_usages().bytes(CKA_LABEL, b"torture-private");
    let token_key = r.secret_key(s, CKK_AES, &h(KW_KEK), true, named);
    let private_data = {
        let mut t = Template::new()
            .ulong(CKA_CLASS, CKO_DATA)
            .bool(CKA_TOKEN, true)
            .bool(CKA_PRIVATE, true)
            .bytes(CKA_LABEL, b"private");
        let (rv, o) = r.create(s, &mut t);
        assert_rv!(rv, CKR_OK);
        o
    };
    assert_rv!(ck!(r, C_Logout(s)), CKR_OK);

    // C_Logout (§5.6): "any of the application's handles to private objects
    // become invalid"; private session objects are destroyed.
    let sc = Scratch::new();
    let table = object_table(r, &sc, s, fx.pk);
    let mut bad = Vec::new();
    for (o, what) in [
        (token_key, "private token key, logged out"),
        (private_data, "private token data object, logged out"),
        (fx.k, "private session key, logged out"),
        (fx.hk, "private session HMAC key, logged out"),
    ] {
        bad.extend(run(&table, o, what));
        nothing_started(r, s, what);
    }
    // The public key still works, and the token objects come back with login.
    let mut ecb = super::common::Mech::plain(CKM_AES_ECB);
    let p = h(SP800_38A_P);
    assert_eq!(r.encrypt(s, &mut ecb, fx.pk, &p), Ok(h(SP800_38A_ECB)));
    assert_rv!(r.login(s, CKU_USER, USER_PIN), CKR_OK);
    assert!(r.find(s, None, 64).contains(&private_data));
    assert!(
        bad.is_empty(),
        "private handles after logout:\n{}",
        bad.join("\n")
    );
}
