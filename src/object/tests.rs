//! Creation, reading and matching tests for the object model (modify and
//! codec tests live beside their code).

use cryptoki_sys as sys;
use zeroize::Zeroizing;

use super::{required_value_len, AttrRead, Object, Origin, TemplateAttr as T};
use crate::error::{Error, Result};

fn code<X>(r: Result<X>) -> sys::CK_RV {
    match r {
        Ok(_) => sys::CKR_OK,
        Err(Error::Rv(rv)) => rv,
        Err(e) => panic!("unexpected {e}"),
    }
}

fn aes_create(extra: &[T]) -> Result<Object> {
    let mut t = vec![
        T::ulong(sys::CKA_CLASS, sys::CKO_SECRET_KEY),
        T::ulong(sys::CKA_KEY_TYPE, sys::CKK_AES),
        T::bytes(sys::CKA_VALUE, &(0u8..16).collect::<Vec<_>>()),
    ];
    t.extend_from_slice(extra);
    Object::from_template(&t, Origin::Create, None, false)
}

const GEN_AES: Origin = Origin::Generate {
    mechanism: sys::CKM_AES_KEY_GEN,
    key_type: sys::CKK_AES,
};

fn val(o: &Object, kind: sys::CK_ATTRIBUTE_TYPE) -> Vec<u8> {
    match o.get(kind) {
        AttrRead::Value(v) => v.to_vec(),
        other => panic!("{kind:#x}: {other:?}"),
    }
}

fn ul(v: sys::CK_ULONG) -> Vec<u8> {
    v.to_ne_bytes().to_vec()
}

#[test]
fn secret_key_create_defaults() {
    let o = aes_create(&[]).expect("create");
    assert_eq!(o.class(), sys::CKO_SECRET_KEY);
    assert_eq!(o.key_type(), Some(sys::CKK_AES));
    assert!(!o.is_token() && o.is_private() && o.is_modifiable() && o.is_destroyable());
    for (kind, want) in [
        (sys::CKA_COPYABLE, true),
        (sys::CKA_SENSITIVE, false),
        (sys::CKA_EXTRACTABLE, true),
        (sys::CKA_ENCRYPT, true),
        (sys::CKA_DECRYPT, true),
        (sys::CKA_SIGN, true),
        (sys::CKA_VERIFY, true),
        (sys::CKA_WRAP, true),
        (sys::CKA_UNWRAP, true),
        (sys::CKA_DERIVE, false),
        (sys::CKA_WRAP_WITH_TRUSTED, false),
        (sys::CKA_TRUSTED, false),
        (sys::CKA_ALWAYS_AUTHENTICATE, false),
        (sys::CKA_LOCAL, false),
        (sys::CKA_ALWAYS_SENSITIVE, false),
        (sys::CKA_NEVER_EXTRACTABLE, false),
    ] {
        assert_eq!(o.get(kind), AttrRead::Value(&[u8::from(want)]), "{kind:#x}");
    }
    for kind in [
        sys::CKA_LABEL,
        sys::CKA_ID,
        sys::CKA_START_DATE,
        sys::CKA_END_DATE,
        sys::CKA_ALLOWED_MECHANISMS,
    ] {
        assert_eq!(o.get(kind), AttrRead::Value(&[]), "{kind:#x}");
    }
    assert_eq!(val(&o, sys::CKA_VALUE_LEN), ul(16));
    assert_eq!(
        val(&o, sys::CKA_KEY_GEN_MECHANISM),
        ul(sys::CK_UNAVAILABLE_INFORMATION)
    );
    // FIPS-197 AES-128 key 000102..0f: AES-ECB(k, 0^128) = c6a13b37...
    assert_eq!(val(&o, sys::CKA_CHECK_VALUE), vec![0xc6, 0xa1, 0x3b]);
    assert_eq!(
        o.get(sys::CKA_VALUE),
        AttrRead::Value(&(0u8..16).collect::<Vec<_>>())
    );
    assert_eq!(o.get(sys::CKA_UNIQUE_ID), AttrRead::Invalid);
    assert_eq!(o.get(sys::CKA_APPLICATION), AttrRead::Invalid);
    assert_eq!(o.allowed_mechanisms(), None);
    assert!(o.size_estimate() > 16);
    assert!(!format!("{o:?}").contains("c6"));
}

#[test]
fn data_object_defaults() {
    let t = [
        T::ulong(sys::CKA_CLASS, sys::CKO_DATA),
        T::bytes(sys::CKA_APPLICATION, b"app"),
        T::bytes(sys::CKA_VALUE, b"payload"),
    ];
    let o = Object::from_template(&t, Origin::Create, None, false).expect("data");
    assert_eq!(o.key_type(), None);
    assert!(!o.is_token() && !o.is_private() && o.is_modifiable());
    assert_eq!(o.get(sys::CKA_VALUE), AttrRead::Value(b"payload"));
    assert_eq!(o.get(sys::CKA_OBJECT_ID), AttrRead::Value(&[]));
    assert_eq!(o.get(sys::CKA_KEY_TYPE), AttrRead::Invalid);
    assert_eq!(o.get(sys::CKA_SENSITIVE), AttrRead::Invalid);
    assert_eq!(o.secret_value(), Some(&b"payload"[..]));
    // No value given: empty.
    let o = Object::from_template(&t[..1], Origin::Create, None, false).expect("data");
    assert_eq!(o.get(sys::CKA_VALUE), AttrRead::Value(&[]));
    // Data objects only come from C_CreateObject.
    let r = Object::from_template(
        &t[..1],
        Origin::Unwrap,
        Some(Zeroizing::new(vec![1])),
        false,
    );
    assert_eq!(code(r), sys::CKR_TEMPLATE_INCONSISTENT);
}

#[test]
fn generated_key_provenance() {
    let t = [
        T::ulong(sys::CKA_VALUE_LEN, 32),
        T::bool(sys::CKA_SENSITIVE, true),
        T::bool(sys::CKA_EXTRACTABLE, false),
    ];
    let o =
        Object::from_template(&t, GEN_AES, Some(Zeroizing::new(vec![0; 32])), false).expect("gen");
    assert!(o.bool_attr(sys::CKA_LOCAL));
    assert!(o.bool_attr(sys::CKA_ALWAYS_SENSITIVE));
    assert!(o.bool_attr(sys::CKA_NEVER_EXTRACTABLE));
    assert_eq!(
        val(&o, sys::CKA_KEY_GEN_MECHANISM),
        ul(sys::CKM_AES_KEY_GEN)
    );
    assert_eq!(val(&o, sys::CKA_CLASS), ul(sys::CKO_SECRET_KEY));
    assert_eq!(o.get(sys::CKA_VALUE), AttrRead::Sensitive);
    // The crypto layer still reaches the bytes.
    assert_eq!(o.secret_value().map(<[u8]>::len), Some(32));

    // Generated but neither sensitive nor unextractable.
    let o = Object::from_template(&t[..1], GEN_AES, Some(Zeroizing::new(vec![0; 32])), false)
        .expect("gen");
    assert!(o.bool_attr(sys::CKA_LOCAL));
    assert!(!o.bool_attr(sys::CKA_ALWAYS_SENSITIVE) && !o.bool_attr(sys::CKA_NEVER_EXTRACTABLE));

    // Unwrapped: never local, never "always".
    let t = [
        T::ulong(sys::CKA_CLASS, sys::CKO_SECRET_KEY),
        T::ulong(sys::CKA_KEY_TYPE, sys::CKK_GENERIC_SECRET),
        T::bool(sys::CKA_SENSITIVE, true),
    ];
    let o = Object::from_template(&t, Origin::Unwrap, Some(Zeroizing::new(vec![1; 20])), false)
        .expect("unwrap");
    assert!(!o.bool_attr(sys::CKA_LOCAL) && !o.bool_attr(sys::CKA_ALWAYS_SENSITIVE));
    assert_eq!(val(&o, sys::CKA_VALUE_LEN), ul(20));

    // Derived: inherits "always" from the base key.
    let derive = Origin::Derive {
        base_always_sensitive: true,
        base_never_extractable: false,
    };
    let o = Object::from_template(&t, derive, Some(Zeroizing::new(vec![1; 20])), false)
        .expect("derive");
    assert!(o.bool_attr(sys::CKA_ALWAYS_SENSITIVE) && !o.bool_attr(sys::CKA_NEVER_EXTRACTABLE));
}

#[test]
fn creation_error_codes() {
    let c = |t: &[T], origin: Origin, secret: Option<Vec<u8>>| {
        code(Object::from_template(
            t,
            origin,
            secret.map(Zeroizing::new),
            false,
        ))
    };
    let class = T::ulong(sys::CKA_CLASS, sys::CKO_SECRET_KEY);
    let aes = T::ulong(sys::CKA_KEY_TYPE, sys::CKK_AES);
    let value = T::bytes(sys::CKA_VALUE, &[0; 16]);

    assert_eq!(
        c(&[aes.clone(), value.clone()], Origin::Create, None),
        sys::CKR_TEMPLATE_INCOMPLETE
    );
    assert_eq!(
        c(&[class.clone(), value.clone()], Origin::Create, None),
        sys::CKR_TEMPLATE_INCOMPLETE
    );
    assert_eq!(
        c(&[class.clone(), aes.clone()], Origin::Create, None),
        sys::CKR_TEMPLATE_INCOMPLETE
    );
    let cert = T::ulong(sys::CKA_CLASS, sys::CKO_CERTIFICATE);
    assert_eq!(
        c(&[cert], Origin::Create, None),
        sys::CKR_ATTRIBUTE_VALUE_INVALID
    );
    let des = T::ulong(sys::CKA_KEY_TYPE, sys::CKK_DES3);
    assert_eq!(
        c(&[class.clone(), des, value.clone()], Origin::Create, None),
        sys::CKR_ATTRIBUTE_VALUE_INVALID
    );
    let short_class = T::new(sys::CKA_CLASS, vec![4, 0, 0, 0]);
    assert_eq!(
        c(&[short_class], Origin::Create, None),
        sys::CKR_ATTRIBUTE_VALUE_INVALID
    );

    let ro = sys::CKR_ATTRIBUTE_READ_ONLY;
    let e = |extra: T| code(aes_create(&[extra]));
    assert_eq!(e(T::bool(sys::CKA_LOCAL, true)), ro);
    assert_eq!(e(T::bool(sys::CKA_ALWAYS_SENSITIVE, false)), ro);
    assert_eq!(e(T::bool(sys::CKA_NEVER_EXTRACTABLE, false)), ro);
    assert_eq!(
        e(T::ulong(sys::CKA_KEY_GEN_MECHANISM, sys::CKM_AES_KEY_GEN)),
        ro
    );
    assert_eq!(e(T::bytes(sys::CKA_UNIQUE_ID, b"x")), ro);
    assert_eq!(e(T::bool(sys::CKA_TRUSTED, true)), ro);
    assert_eq!(
        e(T::bytes(sys::CKA_CHECK_VALUE, &[1, 2, 3])),
        sys::CKR_ATTRIBUTE_VALUE_INVALID
    );
    assert_eq!(
        e(T::bytes(sys::CKA_APPLICATION, b"x")),
        sys::CKR_ATTRIBUTE_TYPE_INVALID
    );
    assert_eq!(
        e(T::bool(sys::CKA_SIGN_RECOVER, true)),
        sys::CKR_ATTRIBUTE_TYPE_INVALID
    );
    assert_eq!(
        e(T::new(sys::CKA_WRAP_TEMPLATE, vec![])),
        sys::CKR_ATTRIBUTE_TYPE_INVALID
    );
    assert_eq!(
        e(T::ulong(sys::CKA_VALUE_LEN, 16)),
        sys::CKR_TEMPLATE_INCONSISTENT
    );
    assert_eq!(
        e(T::new(sys::CKA_TOKEN, vec![2])),
        sys::CKR_ATTRIBUTE_VALUE_INVALID
    );
    assert_eq!(
        e(T::new(sys::CKA_TOKEN, vec![1, 0])),
        sys::CKR_ATTRIBUTE_VALUE_INVALID
    );
    assert_eq!(
        e(T::bytes(sys::CKA_END_DATE, b"tomorrow")),
        sys::CKR_ATTRIBUTE_VALUE_INVALID
    );
    assert_eq!(
        e(T::ulong(sys::CKA_CLASS, sys::CKO_DATA)),
        sys::CKR_TEMPLATE_INCONSISTENT
    );
    assert_eq!(
        e(T::bytes(sys::CKA_VALUE, &[1; 16])),
        sys::CKR_TEMPLATE_INCONSISTENT
    );
    // Identical duplicates are fine; the matching check value is accepted.
    assert_eq!(e(T::ulong(sys::CKA_KEY_TYPE, sys::CKK_AES)), sys::CKR_OK);
    assert_eq!(
        e(T::bytes(sys::CKA_CHECK_VALUE, &[0xc6, 0xa1, 0x3b])),
        sys::CKR_OK
    );
    // The SO may create a trusted key.
    let mut t = vec![
        class.clone(),
        aes.clone(),
        value.clone(),
        T::bool(sys::CKA_TRUSTED, true),
    ];
    assert!(Object::from_template(&t, Origin::Create, None, true)
        .is_ok_and(|o| o.bool_attr(sys::CKA_TRUSTED)));

    // Key lengths.
    t.truncate(2);
    t.push(T::bytes(sys::CKA_VALUE, &[0; 17]));
    assert_eq!(
        c(&t, Origin::Create, None),
        sys::CKR_ATTRIBUTE_VALUE_INVALID
    );
    let generic = |n: usize| {
        let t = [
            class.clone(),
            T::ulong(sys::CKA_KEY_TYPE, sys::CKK_GENERIC_SECRET),
            T::bytes(sys::CKA_VALUE, &vec![1; n]),
        ];
        c(&t, Origin::Create, None)
    };
    assert_eq!(generic(0), sys::CKR_ATTRIBUTE_VALUE_INVALID);
    assert_eq!(generic(1), sys::CKR_OK);
    assert_eq!(generic(512), sys::CKR_OK);
    assert_eq!(generic(513), sys::CKR_ATTRIBUTE_VALUE_INVALID);
    assert_eq!(
        c(
            &[class.clone(), aes.clone()],
            Origin::Unwrap,
            Some(vec![0; 20])
        ),
        sys::CKR_WRAPPED_KEY_INVALID
    );

    // Generate: the value comes from the generator, and must agree with the template.
    let key = || Some(vec![0; 16]);
    assert_eq!(
        c(std::slice::from_ref(&value), GEN_AES, key()),
        sys::CKR_TEMPLATE_INCONSISTENT
    );
    assert_eq!(
        c(&[T::ulong(sys::CKA_VALUE_LEN, 32)], GEN_AES, key()),
        sys::CKR_TEMPLATE_INCONSISTENT
    );
    assert_eq!(
        c(&[T::ulong(sys::CKA_CLASS, sys::CKO_DATA)], GEN_AES, key()),
        sys::CKR_TEMPLATE_INCONSISTENT
    );
    let generic_kt = T::ulong(sys::CKA_KEY_TYPE, sys::CKK_GENERIC_SECRET);
    assert_eq!(
        c(&[generic_kt], GEN_AES, key()),
        sys::CKR_TEMPLATE_INCONSISTENT
    );
    assert_eq!(
        c(
            &[class.clone(), aes.clone(), T::ulong(sys::CKA_VALUE_LEN, 16)],
            GEN_AES,
            key()
        ),
        sys::CKR_OK
    );
    // Unwrap needs class and key type in the template.
    assert_eq!(
        c(std::slice::from_ref(&aes), Origin::Unwrap, key()),
        sys::CKR_TEMPLATE_INCOMPLETE
    );
    assert_eq!(
        c(std::slice::from_ref(&class), Origin::Unwrap, key()),
        sys::CKR_TEMPLATE_INCOMPLETE
    );

    // Misuse by the caller of this API is internal, not a PKCS#11 code.
    let internal = |r: Result<Object>| matches!(r, Err(Error::Internal(_)));
    assert!(internal(Object::from_template(&[], GEN_AES, None, false)));
    assert!(internal(Object::from_template(
        &[class.clone(), aes.clone(), value.clone()],
        Origin::Create,
        key().map(Zeroizing::new),
        false
    )));
    assert!(internal(Object::from_template(
        &[],
        Origin::Copy,
        None,
        false
    )));
}

#[test]
fn required_value_len_rules() {
    let len = |n: sys::CK_ULONG| [T::ulong(sys::CKA_VALUE_LEN, n)];
    assert_eq!(required_value_len(&len(32), sys::CKK_AES).ok(), Some(32));
    assert_eq!(required_value_len(&len(24), sys::CKK_AES).ok(), Some(24));
    assert_eq!(
        code(required_value_len(&len(20), sys::CKK_AES)),
        sys::CKR_ATTRIBUTE_VALUE_INVALID
    );
    assert_eq!(
        code(required_value_len(&len(0), sys::CKK_GENERIC_SECRET)),
        sys::CKR_ATTRIBUTE_VALUE_INVALID
    );
    assert_eq!(
        required_value_len(&len(64), sys::CKK_GENERIC_SECRET).ok(),
        Some(64)
    );
    assert_eq!(
        code(required_value_len(&len(16), sys::CKK_DES3)),
        sys::CKR_ATTRIBUTE_VALUE_INVALID
    );
    assert_eq!(
        code(required_value_len(&[], sys::CKK_AES)),
        sys::CKR_TEMPLATE_INCOMPLETE
    );
    let bad = [T::new(sys::CKA_VALUE_LEN, vec![16])];
    assert_eq!(
        code(required_value_len(&bad, sys::CKK_AES)),
        sys::CKR_ATTRIBUTE_VALUE_INVALID
    );
    let two = [
        T::ulong(sys::CKA_VALUE_LEN, 16),
        T::ulong(sys::CKA_VALUE_LEN, 32),
    ];
    assert_eq!(
        code(required_value_len(&two, sys::CKK_AES)),
        sys::CKR_TEMPLATE_INCONSISTENT
    );
}

#[test]
fn matching() {
    let o = aes_create(&[
        T::bytes(sys::CKA_LABEL, b"orders"),
        T::bool(sys::CKA_TOKEN, true),
    ])
    .expect("create");
    assert!(o.matches(&[]));
    assert!(o.matches(&[T::bytes(sys::CKA_LABEL, b"orders")]));
    assert!(o.matches(&[
        T::ulong(sys::CKA_CLASS, sys::CKO_SECRET_KEY),
        T::bool(sys::CKA_TOKEN, true)
    ]));
    assert!(!o.matches(&[T::bytes(sys::CKA_LABEL, b"orders@v1")]));
    assert!(!o.matches(&[
        T::bytes(sys::CKA_LABEL, b"orders"),
        T::bool(sys::CKA_TOKEN, false)
    ]));
    assert!(!o.matches(&[T::bytes(sys::CKA_APPLICATION, b"")]));
    assert!(!o.matches(&[T::new(sys::CKA_CLASS, vec![4])]));
    // A readable value matches; a sensitive one never does.
    assert!(o.matches(&[T::bytes(sys::CKA_VALUE, &(0u8..16).collect::<Vec<_>>())]));
    let s = aes_create(&[T::bool(sys::CKA_SENSITIVE, true)]).expect("create");
    assert!(!s.matches(&[T::bytes(sys::CKA_VALUE, &(0u8..16).collect::<Vec<_>>())]));
    assert!(s.matches(&[T::bool(sys::CKA_SENSITIVE, true)]));
}

#[test]
fn token_side_setters() {
    let mut o = aes_create(&[]).expect("create");
    o.set_unique_id("u-42");
    assert_eq!(o.unique_id(), Some("u-42"));
    assert!(o.matches(&[T::bytes(sys::CKA_UNIQUE_ID, b"u-42")]));
    assert!(o.set_token_attr(sys::CKA_ENCRYPT, &[0]).is_ok());
    assert!(!o.bool_attr(sys::CKA_ENCRYPT));
    assert_eq!(
        code(o.set_token_attr(sys::CKA_ENCRYPT, &[3])),
        sys::CKR_ATTRIBUTE_VALUE_INVALID
    );
    assert!(matches!(
        o.set_token_attr(sys::CKA_VALUE, &[0; 16]),
        Err(Error::Internal(_))
    ));
    assert!(matches!(
        o.set_token_attr(sys::CKA_KEY_TYPE, &[0; 8]),
        Err(Error::Internal(_))
    ));
    o.drop_secret();
    assert_eq!(o.get(sys::CKA_VALUE), AttrRead::Sensitive);
    assert!(o.set_secret(Zeroizing::new(vec![0; 32])).is_err());
    assert!(o.set_secret(Zeroizing::new(vec![0; 16])).is_ok());
    assert_eq!(o.get(sys::CKA_VALUE), AttrRead::Value(&[0; 16]));
}
