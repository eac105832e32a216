//! Object attributes: `C_GetAttributeValue` on mixed templates, sensitive
//! values, the one-way `CKA_SENSITIVE`/`CKA_EXTRACTABLE` rules, copy and
//! destroy, `C_FindObjects` order, and private objects hidden until login.

#[macro_use]
mod common;

use std::ptr;

use common::sys::*;
use common::{Raw, Template, TestToken};

const UNAVAILABLE: CK_ULONG = CK_UNAVAILABLE_INFORMATION;
/// An attribute type PKCS#11 does not define (below the vendor range).
const UNKNOWN_TYPE: CK_ATTRIBUTE_TYPE = 0x7ff1;

fn ulong(v: &[u8]) -> CK_ULONG {
    CK_ULONG::from_ne_bytes(v.try_into().expect("CK_ULONG-sized value"))
}

#[test]
fn mixed_template_processes_every_attribute() {
    let tok = TestToken::new();
    let r = &tok.raw;
    let s = tok.user_session();
    let extra = Template::new()
        .bytes(CKA_LABEL, b"mixed")
        .bytes(CKA_ID, b"0123456789")
        .bool(CKA_SENSITIVE, true)
        .bool(CKA_ENCRYPT, true);
    let k = r.secret_key(s, CKK_AES, &[0x5a; 16], false, extra);

    let mut t = Template::new()
        .buffer(CKA_LABEL, 5) // 0: fits exactly
        .null(CKA_KEY_TYPE, 0) // 1: length query
        .buffer(UNKNOWN_TYPE, 8) // 2: no such attribute type
        .buffer(CKA_MODULUS, 8) // 3: not an attribute of a secret key
        .buffer(CKA_VALUE, 16) // 4: sensitive
        .buffer(CKA_ID, 4) // 5: too small
        .buffer(CKA_CLASS, 8); // 6: after all the bad ones, still filled
    let rv = ck!(r, C_GetAttributeValue(s, k, t.ptr(), t.count()));
    assert!(
        [
            CKR_ATTRIBUTE_SENSITIVE,
            CKR_ATTRIBUTE_TYPE_INVALID,
            CKR_BUFFER_TOO_SMALL
        ]
        .contains(&rv),
        "mixed template returned {}",
        common::rv_name(rv)
    );
    let lens: Vec<CK_ULONG> = t.attrs.iter().map(|a| a.ulValueLen).collect();
    assert_eq!(
        lens,
        vec![
            5,
            std::mem::size_of::<CK_ULONG>() as CK_ULONG,
            UNAVAILABLE,
            UNAVAILABLE,
            UNAVAILABLE,
            UNAVAILABLE,
            8
        ],
        "ulValueLen of each attribute"
    );
    assert_eq!(t.value(0), b"mixed");
    assert_eq!(ulong(t.value(6)), CKO_SECRET_KEY);
    assert!(t.attrs[1].pValue.is_null(), "NULL pValue stays NULL");
    // The sensitive value's buffer was not written.
    let a = &t.attrs[4];
    let buf = unsafe { std::slice::from_raw_parts(a.pValue as *const u8, 16) };
    assert_eq!(buf, &[0u8; 16], "no byte of a sensitive value is written");
}

#[test]
fn each_error_alone_has_its_own_code() {
    let tok = TestToken::new();
    let r = &tok.raw;
    let s = tok.user_session();
    let k = r.secret_key(
        s,
        CKK_AES,
        &[0x5a; 16],
        false,
        Template::new()
            .bool(CKA_SENSITIVE, true)
            .bytes(CKA_ID, b"0123456789"),
    );
    for (t, len, want) in [
        (CKA_VALUE, 16, CKR_ATTRIBUTE_SENSITIVE),
        (UNKNOWN_TYPE, 8, CKR_ATTRIBUTE_TYPE_INVALID),
        (CKA_ID, 4, CKR_BUFFER_TOO_SMALL),
    ] {
        let mut tpl = Template::new().buffer(t, len);
        assert_rv!(
            ck!(r, C_GetAttributeValue(s, k, tpl.ptr(), 1)),
            want,
            "attribute 0x{t:x}"
        );
        assert_eq!(tpl.attrs[0].ulValueLen, UNAVAILABLE, "attribute 0x{t:x}");
    }
    // A NULL pValue on a sensitive attribute is not a length query either.
    let mut tpl = Template::new().null(CKA_VALUE, 0);
    assert_rv!(
        ck!(r, C_GetAttributeValue(s, k, tpl.ptr(), 1)),
        CKR_ATTRIBUTE_SENSITIVE
    );
    assert_eq!(tpl.attrs[0].ulValueLen, UNAVAILABLE);
    // A non-extractable, non-sensitive key does not reveal its value either.
    let ne = r.secret_key(
        s,
        CKK_AES,
        &[1; 16],
        false,
        Template::new()
            .bool(CKA_SENSITIVE, false)
            .bool(CKA_EXTRACTABLE, false),
    );
    assert_eq!(
        r.attr(s, ne, CKA_VALUE),
        Err(CKR_ATTRIBUTE_SENSITIVE),
        "CKA_VALUE of a non-extractable key"
    );
    // An extractable, non-sensitive key does.
    let ok = r.secret_key(
        s,
        CKK_AES,
        &[2; 16],
        false,
        Template::new()
            .bool(CKA_SENSITIVE, false)
            .bool(CKA_EXTRACTABLE, true),
    );
    assert_eq!(r.attr(s, ok, CKA_VALUE), Ok(vec![2; 16]));
    assert_eq!(r.attr(s, ok, CKA_VALUE_LEN).map(|v| ulong(&v)), Ok(16));
}

#[test]
fn sensitive_and_extractable_are_one_way() {
    let tok = TestToken::new();
    let r = &tok.raw;
    let s = tok.user_session();
    let k = r.secret_key(
        s,
        CKK_AES,
        &[3; 32],
        false,
        Template::new()
            .bool(CKA_SENSITIVE, false)
            .bool(CKA_EXTRACTABLE, true),
    );
    assert_eq!(r.attr_bool(s, k, CKA_ALWAYS_SENSITIVE), Ok(false));
    assert_eq!(r.attr_bool(s, k, CKA_NEVER_EXTRACTABLE), Ok(false));

    assert_rv!(
        r.set_attrs(s, k, Template::new().bool(CKA_SENSITIVE, true)),
        CKR_OK,
        "CKA_SENSITIVE false -> true"
    );
    assert_eq!(r.attr_bool(s, k, CKA_SENSITIVE), Ok(true));
    assert_eq!(
        r.attr(s, k, CKA_VALUE),
        Err(CKR_ATTRIBUTE_SENSITIVE),
        "value hidden once sensitive"
    );
    assert_eq!(
        r.attr_bool(s, k, CKA_ALWAYS_SENSITIVE),
        Ok(false),
        "it was not always sensitive"
    );
    assert_rv!(
        r.set_attrs(s, k, Template::new().bool(CKA_SENSITIVE, false)),
        CKR_ATTRIBUTE_READ_ONLY,
        "CKA_SENSITIVE true -> false"
    );
    assert_eq!(r.attr_bool(s, k, CKA_SENSITIVE), Ok(true));

    assert_rv!(
        r.set_attrs(s, k, Template::new().bool(CKA_EXTRACTABLE, false)),
        CKR_OK,
        "CKA_EXTRACTABLE true -> false"
    );
    assert_eq!(r.attr_bool(s, k, CKA_EXTRACTABLE), Ok(false));
    assert_eq!(
        r.attr_bool(s, k, CKA_NEVER_EXTRACTABLE),
        Ok(false),
        "it was once extractable"
    );
    assert_rv!(
        r.set_attrs(s, k, Template::new().bool(CKA_EXTRACTABLE, true)),
        CKR_ATTRIBUTE_READ_ONLY,
        "CKA_EXTRACTABLE false -> true"
    );
    assert_eq!(r.attr_bool(s, k, CKA_EXTRACTABLE), Ok(false));

    // A non-extractable key cannot be wrapped.
    let kek = r.aes_key(s, &[9; 16], false);
    let mut m = common::Mech::plain(CKM_AES_KEY_WRAP);
    let mut n: CK_ULONG = 0;
    assert_rv!(
        ck!(r, C_WrapKey(s, m.ptr(), kek, k, ptr::null_mut(), &mut n)),
        CKR_KEY_UNEXTRACTABLE
    );

    // A key generated sensitive and non-extractable has always been so, and is local.
    let mut gm = common::Mech::plain(CKM_AES_KEY_GEN);
    let mut t = Template::new()
        .ulong(CKA_VALUE_LEN, 32)
        .bool(CKA_SENSITIVE, true)
        .bool(CKA_EXTRACTABLE, false)
        .bool(CKA_ENCRYPT, true);
    let mut k2: CK_OBJECT_HANDLE = 0;
    assert_rv!(
        ck!(r, C_GenerateKey(s, gm.ptr(), t.ptr(), t.count(), &mut k2)),
        CKR_OK,
        "C_GenerateKey"
    );
    assert_eq!(r.attr_bool(s, k2, CKA_ALWAYS_SENSITIVE), Ok(true));
    assert_eq!(r.attr_bool(s, k2, CKA_NEVER_EXTRACTABLE), Ok(true));
    assert_eq!(
        r.attr_bool(s, k2, CKA_LOCAL),
        Ok(true),
        "a generated key is local"
    );
    assert_eq!(r.attr(s, k2, CKA_VALUE_LEN).map(|v| ulong(&v)), Ok(32));
    // A key given to C_CreateObject is not local.
    let k3 = r.secret_key(s, CKK_AES, &[4; 16], false, Template::new());
    assert_eq!(
        r.attr_bool(s, k3, CKA_LOCAL),
        Ok(false),
        "a created key is not local"
    );
}

#[test]
fn copy_and_destroy() {
    let tok = TestToken::new();
    let r = &tok.raw;
    let s = tok.user_session();
    let a = r.secret_key(
        s,
        CKK_AES,
        &[6; 16],
        false,
        Template::new()
            .bytes(CKA_LABEL, b"orig")
            .bool(CKA_SENSITIVE, false)
            .bool(CKA_EXTRACTABLE, true)
            .bool(CKA_ENCRYPT, true),
    );
    let mut o: CK_OBJECT_HANDLE = 0;
    let mut t = Template::new().bytes(CKA_LABEL, b"copy");
    assert_rv!(
        ck!(r, C_CopyObject(s, a, t.ptr(), t.count(), &mut o)),
        CKR_OK,
        "C_CopyObject"
    );
    assert!(o != a && o != CK_INVALID_HANDLE);
    assert_eq!(r.attr(s, o, CKA_LABEL), Ok(b"copy".to_vec()));
    assert_eq!(
        r.attr(s, a, CKA_LABEL),
        Ok(b"orig".to_vec()),
        "the original keeps its label"
    );
    assert_eq!(
        r.attr(s, o, CKA_VALUE),
        Ok(vec![6; 16]),
        "the copy has the same key"
    );
    assert_eq!(r.attr_bool(s, o, CKA_ENCRYPT), Ok(true));

    // The copy may become sensitive; a sensitive key's copy may not become non-sensitive.
    let mut t = Template::new().bool(CKA_SENSITIVE, true);
    let mut sens: CK_OBJECT_HANDLE = 0;
    assert_rv!(
        ck!(r, C_CopyObject(s, a, t.ptr(), t.count(), &mut sens)),
        CKR_OK,
        "copy with CKA_SENSITIVE true"
    );
    assert_eq!(r.attr(s, sens, CKA_VALUE), Err(CKR_ATTRIBUTE_SENSITIVE));
    let mut t = Template::new().bool(CKA_SENSITIVE, false);
    let mut bad: CK_OBJECT_HANDLE = 0;
    assert_rv!(
        ck!(r, C_CopyObject(s, sens, t.ptr(), t.count(), &mut bad)),
        CKR_ATTRIBUTE_READ_ONLY,
        "copy back to non-sensitive"
    );

    // A token copy of a session object, seen from another session.
    let mut t = Template::new()
        .bool(CKA_TOKEN, true)
        .bytes(CKA_LABEL, b"token-copy");
    let mut tc: CK_OBJECT_HANDLE = 0;
    assert_rv!(
        ck!(r, C_CopyObject(s, a, t.ptr(), t.count(), &mut tc)),
        CKR_OK,
        "copy to a token object"
    );
    let s2 = r.open(tok.slot, true);
    let mut find = Template::new().bytes(CKA_LABEL, b"token-copy");
    assert_eq!(r.find(s2, Some(&mut find), 8), vec![tc]);

    // Destroy.
    assert_rv!(
        ck!(r, C_DestroyObject(s2, tc)),
        CKR_OK,
        "destroy the token copy from another session"
    );
    assert_eq!(r.attr(s, tc, CKA_LABEL), Err(CKR_OBJECT_HANDLE_INVALID));
    assert_rv!(
        ck!(r, C_DestroyObject(s, tc)),
        CKR_OBJECT_HANDLE_INVALID,
        "destroy twice"
    );
    let mut find = Template::new().bytes(CKA_LABEL, b"token-copy");
    assert!(r.find(s, Some(&mut find), 8).is_empty());
    assert_rv!(ck!(r, C_DestroyObject(s, o)), CKR_OK);
    let all = r.find(s, None, 16);
    assert!(
        !all.contains(&o) && all.contains(&a) && all.contains(&sens),
        "{all:?}"
    );
}

fn make_objects(r: &Raw, s: CK_SESSION_HANDLE) -> Vec<CK_OBJECT_HANDLE> {
    let mut v = Vec::new();
    for i in 0..6u8 {
        let token = i % 2 == 0;
        let label = format!("obj-{i}");
        v.push(r.secret_key(
            s,
            CKK_AES,
            &[i; 16],
            token,
            Template::new().bytes(CKA_LABEL, label.as_bytes()),
        ));
    }
    v
}

#[test]
fn find_with_null_template_is_complete_and_deterministic() {
    let tok = TestToken::new();
    let r = &tok.raw;
    let s = tok.user_session();
    let mut made = make_objects(r, s);
    let first = r.find(s, None, 100);
    let second = r.find(s, None, 1);
    let third = r.find(s, None, 4);
    assert_eq!(first, second, "same order with batch size 1");
    assert_eq!(first, third, "same order with batch size 4");
    let mut sorted = first.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), first.len(), "no handle twice: {first:?}");
    made.sort_unstable();
    assert_eq!(sorted, made, "exactly the visible objects");
    // Another session sees the same list in the same order.
    let s2 = r.open(tok.slot, false);
    assert_eq!(
        r.find(s2, None, 100),
        first,
        "same order from another session"
    );
    // A template narrows it.
    let mut t = Template::new().bool(CKA_TOKEN, true);
    assert_eq!(r.find(s, Some(&mut t), 100).len(), 3);
}

#[test]
fn private_objects_hidden_until_login() {
    let tok = TestToken::new();
    let r = &tok.raw;
    let s = tok.user_session();
    let private = r.secret_key(
        s,
        CKK_AES,
        &[1; 16],
        true,
        Template::new()
            .bool(CKA_PRIVATE, true)
            .bytes(CKA_LABEL, b"private"),
    );
    let public = r.secret_key(
        s,
        CKK_AES,
        &[2; 16],
        true,
        Template::new()
            .bool(CKA_PRIVATE, false)
            .bytes(CKA_LABEL, b"public"),
    );
    assert_eq!(r.attr_bool(s, private, CKA_PRIVATE), Ok(true));
    assert_eq!(r.attr_bool(s, public, CKA_PRIVATE), Ok(false));
    assert_rv!(ck!(r, C_Logout(s)), CKR_OK);

    let pubs = r.find(s, None, 16);
    assert_eq!(
        pubs,
        vec![public],
        "only the public object is visible after logout"
    );
    let mut t = Template::new().bytes(CKA_LABEL, b"private");
    assert!(
        r.find(s, Some(&mut t), 16).is_empty(),
        "not found by label either"
    );
    assert_eq!(
        r.attr(s, private, CKA_LABEL),
        Err(CKR_OBJECT_HANDLE_INVALID),
        "a private object's attributes while logged out"
    );
    assert_eq!(r.attr(s, public, CKA_LABEL), Ok(b"public".to_vec()));

    // A new public session sees the same.
    let s2 = r.open(tok.slot, false);
    assert_eq!(r.find(s2, None, 16), vec![public]);

    assert_rv!(r.login(s, CKU_USER, common::USER_PIN), CKR_OK);
    let mut all = r.find(s2, None, 16);
    all.sort_unstable();
    let mut want = vec![private, public];
    want.sort_unstable();
    assert_eq!(all, want, "both visible after login, from every session");
}

// FINDING 3
#[test]
fn logout_destroys_private_session_objects() {
    // PKCS#11 C_Logout: "all private session objects from sessions belonging
    // to the application are destroyed".
    let tok = TestToken::new();
    let r = &tok.raw;
    let s = tok.user_session();
    let ps = r.secret_key(
        s,
        CKK_AES,
        &[1; 16],
        false,
        Template::new()
            .bool(CKA_PRIVATE, true)
            .bytes(CKA_LABEL, b"private-session"),
    );
    let pubs = r.secret_key(
        s,
        CKK_AES,
        &[2; 16],
        false,
        Template::new()
            .bool(CKA_PRIVATE, false)
            .bytes(CKA_LABEL, b"public-session"),
    );
    assert_rv!(ck!(r, C_Logout(s)), CKR_OK);
    assert_rv!(r.login(s, CKU_USER, common::USER_PIN), CKR_OK);
    assert_eq!(
        r.attr(s, ps, CKA_LABEL),
        Err(CKR_OBJECT_HANDLE_INVALID),
        "private session object after logout/login"
    );
    assert_eq!(
        r.find(s, None, 16),
        vec![pubs],
        "only the public session object survives a logout"
    );
}

#[test]
fn handles_are_nonzero_and_never_reused() {
    let tok = TestToken::new();
    let r = &tok.raw;
    let s = tok.user_session();
    let mut seen = std::collections::HashSet::new();
    for i in 0..20u8 {
        let o = r.secret_key(s, CKK_AES, &[i; 16], i % 2 == 0, Template::new());
        assert_ne!(o, CK_INVALID_HANDLE);
        assert!(seen.insert(o), "object handle {o} reused");
        assert_rv!(ck!(r, C_DestroyObject(s, o)), CKR_OK);
    }
    let mut sessions = std::collections::HashSet::new();
    sessions.insert(s);
    for _ in 0..20 {
        let h = r.open(tok.slot, false);
        assert!(sessions.insert(h), "session handle {h} reused");
        assert_rv!(ck!(r, C_CloseSession(h)), CKR_OK);
    }
    // A token object keeps its handle across sessions.
    let t = r.secret_key(
        s,
        CKK_AES,
        &[1; 16],
        true,
        Template::new().bytes(CKA_LABEL, b"stable"),
    );
    let s2 = r.open(tok.slot, false);
    let mut find = Template::new().bytes(CKA_LABEL, b"stable");
    assert_eq!(r.find(s2, Some(&mut find), 4), vec![t]);
}
