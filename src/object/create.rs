//! Building an [`Object`] from a creation template (`C_CreateObject`,
//! `C_GenerateKey`, `C_UnwrapKey`, `C_DeriveKey`): class and key type
//! resolution, per-attribute checks against the policy table, defaults and
//! computed attributes.

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;

use cryptoki_sys as sys;
use sys::{CK_ATTRIBUTE_TYPE, CK_KEY_TYPE, CK_OBJECT_CLASS, CK_ULONG};
use zeroize::Zeroizing;

use super::attr::{bool_from_native, bool_to_native, ulong_from_native, ulong_to_native};
use super::policy::{self, flag, Initial};
use super::{kcv, validate_value, AttrMap, Object, Origin, TemplateAttr};
use crate::error::{rv, Error, Result};

/// The value of `kind` in `template`; repeated entries must agree
/// (else `CKR_TEMPLATE_INCONSISTENT`).
pub(crate) fn find_unique(
    template: &[TemplateAttr],
    kind: CK_ATTRIBUTE_TYPE,
) -> Result<Option<&[u8]>> {
    let mut found: Option<&[u8]> = None;
    for a in template.iter().filter(|a| a.kind == kind) {
        match found {
            Some(prev) if prev != a.value.as_slice() => return rv(sys::CKR_TEMPLATE_INCONSISTENT),
            _ => found = Some(a.value.as_slice()),
        }
    }
    Ok(found)
}

/// A `CK_ULONG` attribute of `template` (`CKR_ATTRIBUTE_VALUE_INVALID` on a bad size).
fn find_ulong(template: &[TemplateAttr], kind: CK_ATTRIBUTE_TYPE) -> Result<Option<CK_ULONG>> {
    find_unique(template, kind)?
        .map(|v| ulong_from_native(v).ok_or(Error::Rv(sys::CKR_ATTRIBUTE_VALUE_INVALID)))
        .transpose()
}

/// Whether `len` bytes is a valid key of type `key_type`.
pub(crate) fn key_len_ok(key_type: CK_KEY_TYPE, len: usize) -> bool {
    match key_type {
        sys::CKK_AES => matches!(len, 16 | 24 | 32),
        sys::CKK_GENERIC_SECRET => (1..=512).contains(&len),
        _ => false,
    }
}

/// The key length in bytes a `C_GenerateKey` template asks for, for a key of
/// `key_type` (implied by the mechanism).
///
/// Missing `CKA_VALUE_LEN` → `CKR_TEMPLATE_INCOMPLETE`; a length the key
/// type does not allow (AES: 16/24/32; generic secret: 1..=512), a bad
/// size, or an unsupported key type → `CKR_ATTRIBUTE_VALUE_INVALID`;
/// disagreeing duplicates → `CKR_TEMPLATE_INCONSISTENT`.
pub fn required_value_len(template: &[TemplateAttr], key_type: CK_KEY_TYPE) -> Result<usize> {
    let len =
        find_ulong(template, sys::CKA_VALUE_LEN)?.ok_or(Error::Rv(sys::CKR_TEMPLATE_INCOMPLETE))?;
    match usize::try_from(len) {
        Ok(len) if key_len_ok(key_type, len) => Ok(len),
        _ => rv(sys::CKR_ATTRIBUTE_VALUE_INVALID),
    }
}

/// The policy bit for attributes a template of this origin may hold.
fn origin_bit(origin: Origin) -> Result<u32> {
    match origin {
        Origin::Create => Ok(flag::CREATE),
        Origin::Generate { .. } => Ok(flag::GENERATE),
        Origin::Unwrap => Ok(flag::UNWRAP),
        Origin::Derive { .. } => Ok(flag::DERIVE),
        Origin::Copy => Err(Error::Internal(
            "copies are made with Object::copy_with".into(),
        )),
    }
}

fn resolve_class(template: &[TemplateAttr], origin: Origin) -> Result<CK_OBJECT_CLASS> {
    let given = find_ulong(template, sys::CKA_CLASS)?;
    let class = match (origin, given) {
        // The key generation mechanism implies the class.
        (Origin::Generate { .. }, None) => sys::CKO_SECRET_KEY,
        (Origin::Generate { .. }, Some(c)) if c != sys::CKO_SECRET_KEY => {
            return rv(sys::CKR_TEMPLATE_INCONSISTENT)
        }
        (_, Some(c)) => c,
        (_, None) => return rv(sys::CKR_TEMPLATE_INCOMPLETE),
    };
    if policy::class_bit(class).is_none() {
        return rv(sys::CKR_ATTRIBUTE_VALUE_INVALID);
    }
    // Only keys come out of generate/unwrap/derive.
    if class != sys::CKO_SECRET_KEY && origin != Origin::Create {
        return rv(sys::CKR_TEMPLATE_INCONSISTENT);
    }
    Ok(class)
}

fn resolve_key_type(
    template: &[TemplateAttr],
    origin: Origin,
    class: CK_OBJECT_CLASS,
) -> Result<Option<CK_KEY_TYPE>> {
    if class != sys::CKO_SECRET_KEY {
        return Ok(None);
    }
    let given = find_ulong(template, sys::CKA_KEY_TYPE)?;
    let key_type = match (origin, given) {
        (Origin::Generate { key_type, .. }, None) => key_type,
        (Origin::Generate { key_type, .. }, Some(k)) if k != key_type => {
            return rv(sys::CKR_TEMPLATE_INCONSISTENT)
        }
        (_, Some(k)) => k,
        (_, None) => return rv(sys::CKR_TEMPLATE_INCOMPLETE),
    };
    if !matches!(key_type, sys::CKK_AES | sys::CKK_GENERIC_SECRET) {
        return rv(sys::CKR_ATTRIBUTE_VALUE_INVALID);
    }
    Ok(Some(key_type))
}

/// Checks every template attribute against the policy for `class` and
/// `origin`; returns them by type.
fn collect_given(
    template: &[TemplateAttr],
    class: CK_OBJECT_CLASS,
    origin_bit: u32,
    so_session: bool,
) -> Result<BTreeMap<CK_ATTRIBUTE_TYPE, &[u8]>> {
    let mut given = BTreeMap::new();
    for a in template {
        let p = policy::lookup(class, a.kind).ok_or(Error::Rv(sys::CKR_ATTRIBUTE_TYPE_INVALID))?;
        validate_value(a.kind, &a.value)?;
        if p.flags & origin_bit == 0 {
            return rv(if p.has(flag::FORBIDDEN_INCONSISTENT) {
                sys::CKR_TEMPLATE_INCONSISTENT
            } else {
                sys::CKR_ATTRIBUTE_READ_ONLY
            });
        }
        if p.has(flag::SO_ONLY_TRUE) && bool_from_native(&a.value) == Some(true) && !so_session {
            return rv(sys::CKR_ATTRIBUTE_READ_ONLY);
        }
        match given.entry(a.kind) {
            Entry::Vacant(e) => {
                e.insert(a.value.as_slice());
            }
            Entry::Occupied(e) if *e.get() != a.value.as_slice() => {
                return rv(sys::CKR_TEMPLATE_INCONSISTENT)
            }
            Entry::Occupied(_) => {}
        }
    }
    Ok(given)
}

/// The error for a key value of the wrong length, by where it came from.
fn bad_length(origin: Origin) -> Error {
    match origin {
        Origin::Create => Error::Rv(sys::CKR_ATTRIBUTE_VALUE_INVALID),
        Origin::Unwrap => Error::Rv(sys::CKR_WRAPPED_KEY_INVALID),
        Origin::Derive { .. } => Error::Rv(sys::CKR_TEMPLATE_INCONSISTENT),
        // The generator validated the length with `required_value_len`.
        Origin::Generate { .. } | Origin::Copy => {
            Error::Internal("generated key of invalid length".into())
        }
    }
}

impl Object {
    /// Builds an object from a caller template.
    ///
    /// `secret` carries the key bytes for Generate/Unwrap/Derive (then
    /// `CKA_VALUE` in the template is `CKR_TEMPLATE_INCONSISTENT`) and must be
    /// `None` for Create (then `CKA_VALUE` comes in the template).
    /// `so_session` says whether the caller is the security officer (only it
    /// may set `CKA_TRUSTED`). `CKA_UNIQUE_ID` is left for
    /// [`Object::set_unique_id`].
    pub fn from_template(
        template: &[TemplateAttr],
        origin: Origin,
        secret: Option<Zeroizing<Vec<u8>>>,
        so_session: bool,
    ) -> Result<Object> {
        let bit = origin_bit(origin)?;
        if (origin == Origin::Create) != secret.is_none() {
            return Err(Error::Internal(
                "key bytes come in the template only for Create".into(),
            ));
        }
        let class = resolve_class(template, origin)?;
        let key_type = resolve_key_type(template, origin, class)?;
        let given = collect_given(template, class, bit, so_session)?;

        if origin == Origin::Create {
            let missing = policy::rows_for(class)
                .any(|p| p.has(flag::REQUIRED_CREATE) && !given.contains_key(&p.kind));
            if missing {
                return rv(sys::CKR_TEMPLATE_INCOMPLETE);
            }
        }

        let value = match secret {
            Some(s) => s,
            None => Zeroizing::new(
                given
                    .get(&sys::CKA_VALUE)
                    .map(|v| v.to_vec())
                    .unwrap_or_default(),
            ),
        };
        if let Some(kt) = key_type {
            if !key_len_ok(kt, value.len()) {
                return Err(bad_length(origin));
            }
        }

        let mut attrs = AttrMap::new();
        for p in policy::rows_for(class).filter(|p| !p.has(flag::SECRET)) {
            let v = match (given.get(&p.kind), p.default) {
                (Some(v), _) => v.to_vec(),
                (None, Initial::Bool(b)) => bool_to_native(b),
                (None, Initial::Empty) => Vec::new(),
                (None, Initial::Computed) => continue,
            };
            attrs.insert(p.kind, &v);
        }
        attrs.insert(sys::CKA_CLASS, &ulong_to_native(class));

        let mut obj = Object {
            class,
            key_type,
            attrs,
            secret: None,
        };
        if let Some(kt) = key_type {
            obj.fill_key_attrs(kt, origin, &given, &value)?;
        }
        obj.secret = Some(value);
        Ok(obj)
    }

    /// Computed key attributes: key type, length, provenance, check value.
    fn fill_key_attrs(
        &mut self,
        key_type: CK_KEY_TYPE,
        origin: Origin,
        given: &BTreeMap<CK_ATTRIBUTE_TYPE, &[u8]>,
        value: &[u8],
    ) -> Result<()> {
        let len = CK_ULONG::try_from(value.len()).map_err(|_| bad_length(origin))?;
        if given
            .get(&sys::CKA_VALUE_LEN)
            .is_some_and(|v| ulong_from_native(v) != Some(len))
        {
            return rv(sys::CKR_TEMPLATE_INCONSISTENT);
        }
        let sensitive = self.bool_attr(sys::CKA_SENSITIVE);
        let extractable = self.bool_attr(sys::CKA_EXTRACTABLE);
        let (local, always_sensitive, never_extractable, mechanism) = match origin {
            Origin::Generate { mechanism, .. } => (true, sensitive, !extractable, mechanism),
            Origin::Derive {
                base_always_sensitive,
                base_never_extractable,
            } => (
                false,
                base_always_sensitive && sensitive,
                base_never_extractable && !extractable,
                sys::CK_UNAVAILABLE_INFORMATION,
            ),
            Origin::Create | Origin::Unwrap | Origin::Copy => {
                (false, false, false, sys::CK_UNAVAILABLE_INFORMATION)
            }
        };
        let kcv = kcv::check_value(key_type, value)?;
        let check_value = match given.get(&sys::CKA_CHECK_VALUE).copied() {
            // An empty check value asks the token not to publish one.
            Some([]) => Vec::new(),
            Some(v) if v != kcv.as_slice() => return rv(sys::CKR_ATTRIBUTE_VALUE_INVALID),
            _ => kcv,
        };
        let a = &mut self.attrs;
        a.insert(sys::CKA_KEY_TYPE, &ulong_to_native(key_type));
        a.insert(sys::CKA_VALUE_LEN, &ulong_to_native(len));
        a.insert(sys::CKA_LOCAL, &bool_to_native(local));
        a.insert(sys::CKA_ALWAYS_SENSITIVE, &bool_to_native(always_sensitive));
        a.insert(
            sys::CKA_NEVER_EXTRACTABLE,
            &bool_to_native(never_extractable),
        );
        a.insert(sys::CKA_KEY_GEN_MECHANISM, &ulong_to_native(mechanism));
        a.insert(sys::CKA_CHECK_VALUE, &check_value);
        Ok(())
    }
}
