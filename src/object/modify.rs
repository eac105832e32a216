//! Changing an existing object: `C_SetAttributeValue` and `C_CopyObject`.
//! Both validate the whole template before touching anything, so a failed
//! call leaves the object as it was.

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;

use cryptoki_sys as sys;
use sys::CK_ATTRIBUTE_TYPE;

use super::attr::bool_from_native;
use super::policy::{self, flag};
use super::{validate_value, Object, TemplateAttr};
use crate::error::{rv, Error, Result};

/// Which call is changing the object.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Set,
    Copy,
}

impl Object {
    /// Applies a `C_SetAttributeValue` template, all or nothing.
    ///
    /// `CKA_MODIFIABLE` false → `CKR_ACTION_PROHIBITED`. Label, id, dates,
    /// usage flags and allowed mechanisms may change; `CKA_SENSITIVE` only
    /// false→true, `CKA_EXTRACTABLE` and `CKA_COPYABLE` only true→false,
    /// `CKA_WRAP_WITH_TRUSTED` only false→true, `CKA_TRUSTED` to true only in
    /// an SO session; anything else → `CKR_ATTRIBUTE_READ_ONLY` (an unchanged
    /// value of a non-secret attribute is accepted as a no-op).
    pub fn apply_set(&mut self, template: &[TemplateAttr], so_session: bool) -> Result<()> {
        if !self.is_modifiable() {
            return rv(sys::CKR_ACTION_PROHIBITED);
        }
        let changes = self.plan(template, so_session, Op::Set)?;
        self.attrs.extend(changes);
        Ok(())
    }

    /// Makes a `C_CopyObject` copy with `template` applied.
    ///
    /// `CKA_COPYABLE` false → `CKR_ACTION_PROHIBITED`. Beyond what
    /// [`Object::apply_set`] allows, the copy may change `CKA_TOKEN`,
    /// `CKA_PRIVATE`, `CKA_MODIFIABLE` and `CKA_DESTROYABLE`; the one-way
    /// rules hold against the source. Provenance (`CKA_LOCAL`,
    /// `CKA_ALWAYS_SENSITIVE`, ...) is kept; `CKA_UNIQUE_ID` is cleared for the
    /// token to assign a new one.
    pub fn copy_with(&self, template: &[TemplateAttr], so_session: bool) -> Result<Object> {
        if !self.is_copyable() {
            return rv(sys::CKR_ACTION_PROHIBITED);
        }
        let changes = self.plan(template, so_session, Op::Copy)?;
        let mut copy = self.clone();
        copy.attrs.remove(&sys::CKA_UNIQUE_ID);
        copy.attrs.extend(changes);
        Ok(copy)
    }

    /// Validates `template` against this object and returns the new values.
    fn plan(
        &self,
        template: &[TemplateAttr],
        so_session: bool,
        op: Op,
    ) -> Result<BTreeMap<CK_ATTRIBUTE_TYPE, Vec<u8>>> {
        let allowed_bits = match op {
            Op::Set => flag::SET,
            Op::Copy => flag::SET | flag::COPY,
        };
        let mut seen: BTreeMap<CK_ATTRIBUTE_TYPE, &[u8]> = BTreeMap::new();
        let mut changes = BTreeMap::new();
        for a in template {
            let p = policy::lookup(self.class, a.kind)
                .ok_or(Error::Rv(sys::CKR_ATTRIBUTE_TYPE_INVALID))?;
            validate_value(a.kind, &a.value)?;
            match seen.entry(a.kind) {
                Entry::Vacant(e) => {
                    e.insert(a.value.as_slice());
                }
                Entry::Occupied(e) if *e.get() != a.value.as_slice() => {
                    return rv(sys::CKR_TEMPLATE_INCONSISTENT)
                }
                Entry::Occupied(_) => continue,
            }
            let current = self.attrs.get(&a.kind);
            if p.flags & allowed_bits == 0 {
                // Restating a public value is not a change. Secret values never
                // compare: that would be an oracle for the key.
                if !p.has(flag::SECRET) && current == Some(a.value.as_slice()) {
                    continue;
                }
                return rv(sys::CKR_ATTRIBUTE_READ_ONLY);
            }
            let old = current.and_then(bool_from_native);
            let new = bool_from_native(&a.value);
            let one_way_broken =
                (p.has(flag::ONCE_TRUE) && old == Some(true) && new == Some(false))
                    || (p.has(flag::ONCE_FALSE) && old == Some(false) && new == Some(true));
            let needs_so = p.has(flag::SO_ONLY_TRUE) && new == Some(true) && old != Some(true);
            if one_way_broken || (needs_so && !so_session) {
                return rv(sys::CKR_ATTRIBUTE_READ_ONLY);
            }
            changes.insert(a.kind, a.value.to_vec());
        }
        Ok(changes)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{AttrRead, Origin, TemplateAttr as T};
    use super::*;
    use zeroize::Zeroizing;

    fn code<X>(r: Result<X>) -> sys::CK_RV {
        match r {
            Ok(_) => sys::CKR_OK,
            Err(Error::Rv(rv)) => rv,
            Err(e) => panic!("unexpected {e}"),
        }
    }

    fn aes_key(extra: &[T]) -> Object {
        let mut t = vec![
            T::ulong(sys::CKA_CLASS, sys::CKO_SECRET_KEY),
            T::ulong(sys::CKA_KEY_TYPE, sys::CKK_AES),
            T::bytes(sys::CKA_VALUE, &[7; 32]),
        ];
        t.extend_from_slice(extra);
        Object::from_template(&t, Origin::Create, None, false).expect("create")
    }

    #[test]
    fn set_changes_usage_and_label() {
        let mut o = aes_key(&[]);
        let t = [
            T::bytes(sys::CKA_LABEL, b"new"),
            T::bool(sys::CKA_ENCRYPT, false),
        ];
        assert_eq!(code(o.apply_set(&t, false)), sys::CKR_OK);
        assert_eq!(o.label(), b"new");
        assert!(!o.bool_attr(sys::CKA_ENCRYPT));
        let t = [T::ulongs(sys::CKA_ALLOWED_MECHANISMS, &[sys::CKM_AES_GCM])];
        assert_eq!(code(o.apply_set(&t, false)), sys::CKR_OK);
        assert_eq!(o.allowed_mechanisms(), Some(vec![sys::CKM_AES_GCM]));
    }

    #[test]
    fn set_is_atomic() {
        let mut o = aes_key(&[]);
        let t = [
            T::bytes(sys::CKA_LABEL, b"new"),
            T::bool(sys::CKA_LOCAL, true),
        ];
        assert_eq!(code(o.apply_set(&t, false)), sys::CKR_ATTRIBUTE_READ_ONLY);
        assert_eq!(o.label(), b"");
    }

    #[test]
    fn set_error_codes() {
        let mut o = aes_key(&[]);
        let ro = sys::CKR_ATTRIBUTE_READ_ONLY;
        assert_eq!(
            code(o.apply_set(&[T::bool(sys::CKA_TOKEN, true)], false)),
            ro
        );
        assert_eq!(
            code(o.apply_set(&[T::bool(sys::CKA_PRIVATE, false)], false)),
            ro
        );
        assert_eq!(
            code(o.apply_set(&[T::bytes(sys::CKA_VALUE, &[7; 32])], false)),
            ro
        );
        assert_eq!(
            code(o.apply_set(&[T::ulong(sys::CKA_VALUE_LEN, 16)], false)),
            ro
        );
        assert_eq!(
            code(o.apply_set(
                &[T::ulong(sys::CKA_KEY_TYPE, sys::CKK_GENERIC_SECRET)],
                false
            )),
            ro
        );
        assert_eq!(
            code(o.apply_set(&[T::bool(sys::CKA_TRUSTED, true)], false)),
            ro
        );
        assert_eq!(
            code(o.apply_set(&[T::bool(sys::CKA_TRUSTED, true)], true)),
            sys::CKR_OK
        );
        // Restating an unchanged public value is accepted.
        assert_eq!(
            code(o.apply_set(&[T::ulong(sys::CKA_KEY_TYPE, sys::CKK_AES)], false)),
            sys::CKR_OK
        );
        assert_eq!(
            code(o.apply_set(&[T::bytes(sys::CKA_APPLICATION, b"x")], false)),
            sys::CKR_ATTRIBUTE_TYPE_INVALID
        );
        assert_eq!(
            code(o.apply_set(&[T::new(sys::CKA_ENCRYPT, vec![2])], false)),
            sys::CKR_ATTRIBUTE_VALUE_INVALID
        );
        let dup = [T::bool(sys::CKA_SIGN, true), T::bool(sys::CKA_SIGN, false)];
        assert_eq!(
            code(o.apply_set(&dup, false)),
            sys::CKR_TEMPLATE_INCONSISTENT
        );

        let mut frozen = aes_key(&[T::bool(sys::CKA_MODIFIABLE, false)]);
        assert_eq!(
            code(frozen.apply_set(&[T::bytes(sys::CKA_LABEL, b"x")], false)),
            sys::CKR_ACTION_PROHIBITED
        );
    }

    #[test]
    fn one_way_sensitive_and_extractable() {
        let mut o = aes_key(&[]);
        assert_eq!(o.get(sys::CKA_VALUE), AttrRead::Value(&[7; 32]));
        assert_eq!(
            code(o.apply_set(&[T::bool(sys::CKA_SENSITIVE, true)], false)),
            sys::CKR_OK
        );
        assert_eq!(o.get(sys::CKA_VALUE), AttrRead::Sensitive);
        assert_eq!(
            code(o.apply_set(&[T::bool(sys::CKA_SENSITIVE, false)], false)),
            sys::CKR_ATTRIBUTE_READ_ONLY
        );
        // Created by the caller, so never "always sensitive".
        assert!(!o.bool_attr(sys::CKA_ALWAYS_SENSITIVE));

        let mut o = aes_key(&[]);
        assert_eq!(
            code(o.apply_set(&[T::bool(sys::CKA_EXTRACTABLE, false)], false)),
            sys::CKR_OK
        );
        assert_eq!(o.get(sys::CKA_VALUE), AttrRead::Sensitive);
        assert_eq!(
            code(o.apply_set(&[T::bool(sys::CKA_EXTRACTABLE, true)], false)),
            sys::CKR_ATTRIBUTE_READ_ONLY
        );
        assert_eq!(
            code(o.apply_set(&[T::bool(sys::CKA_COPYABLE, false)], false)),
            sys::CKR_OK
        );
        assert_eq!(
            code(o.apply_set(&[T::bool(sys::CKA_COPYABLE, true)], false)),
            sys::CKR_ATTRIBUTE_READ_ONLY
        );
        assert_eq!(
            code(o.apply_set(&[T::bool(sys::CKA_WRAP_WITH_TRUSTED, true)], false)),
            sys::CKR_OK
        );
        assert_eq!(
            code(o.apply_set(&[T::bool(sys::CKA_WRAP_WITH_TRUSTED, false)], false)),
            sys::CKR_ATTRIBUTE_READ_ONLY
        );
    }

    #[test]
    fn copy_rules() {
        let mut src = aes_key(&[T::bytes(sys::CKA_LABEL, b"src")]);
        src.set_unique_id("u-1");
        let t = [
            T::bool(sys::CKA_TOKEN, true),
            T::bool(sys::CKA_PRIVATE, false),
            T::bool(sys::CKA_MODIFIABLE, false),
            T::bool(sys::CKA_DESTROYABLE, false),
            T::bytes(sys::CKA_LABEL, b"copy"),
            T::bool(sys::CKA_SENSITIVE, true),
        ];
        let c = src.copy_with(&t, false).expect("copy");
        assert!(c.is_token() && !c.is_private() && !c.is_modifiable() && !c.is_destroyable());
        assert_eq!(c.label(), b"copy");
        assert_eq!(c.unique_id(), None);
        assert_eq!(c.secret_value(), Some(&[7u8; 32][..]));
        assert_eq!(c.get(sys::CKA_VALUE), AttrRead::Sensitive);
        // The source is untouched.
        assert_eq!(src.label(), b"src");
        assert_eq!(src.unique_id(), Some("u-1"));

        let ro = sys::CKR_ATTRIBUTE_READ_ONLY;
        assert_eq!(
            code(c.copy_with(&[T::bool(sys::CKA_SENSITIVE, false)], false)),
            ro
        );
        assert_eq!(
            code(src.copy_with(&[T::bool(sys::CKA_LOCAL, true)], false)),
            ro
        );
        assert_eq!(
            code(src.copy_with(&[T::bytes(sys::CKA_VALUE, &[1; 32])], false)),
            ro
        );
        // Copying a non-modifiable object is fine; the copy may be modifiable again.
        let back = c
            .copy_with(&[T::bool(sys::CKA_MODIFIABLE, true)], false)
            .expect("copy");
        assert!(back.is_modifiable());

        let uncopyable = src
            .copy_with(&[T::bool(sys::CKA_COPYABLE, false)], false)
            .expect("copy");
        assert_eq!(
            code(uncopyable.copy_with(&[], false)),
            sys::CKR_ACTION_PROHIBITED
        );
    }

    #[test]
    fn secret_value_is_never_an_oracle() {
        let key = Zeroizing::new(vec![9u8; 16]);
        let t = [
            T::ulong(sys::CKA_VALUE_LEN, 16),
            T::bool(sys::CKA_SENSITIVE, true),
        ];
        let origin = Origin::Generate {
            mechanism: sys::CKM_AES_KEY_GEN,
            key_type: sys::CKK_AES,
        };
        let mut o = Object::from_template(&t, origin, Some(key), false).expect("gen");
        // Even the right value is refused: success would reveal it.
        assert_eq!(
            code(o.apply_set(&[T::bytes(sys::CKA_VALUE, &[9; 16])], false)),
            sys::CKR_ATTRIBUTE_READ_ONLY
        );
        assert!(!o.matches(&[T::bytes(sys::CKA_VALUE, &[9; 16])]));
    }
}
