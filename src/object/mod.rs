//! The PKCS#11 object and attribute model: which attributes each supported
//! class (`CKO_DATA`, `CKO_SECRET_KEY` with `CKK_AES` / `CKK_GENERIC_SECRET`)
//! has, creation from templates with defaults, `C_SetAttributeValue` and
//! `C_CopyObject` rules, sensitivity, template matching for `C_FindObjects`,
//! and the storage encoding of an object's public attributes.
//!
//! No raw pointers (the ffi layer copies templates out of C memory first),
//! no store and no session logic: callers pass in what they know (origin,
//! SO session, unique id) and persist what [`Object::encode_public`] returns.

mod attr;
mod attr_map;
mod codec;
mod create;
mod kcv;
mod modify;
mod policy;
#[cfg(test)]
mod tests;

use cryptoki_sys as sys;
use sys::{CK_ATTRIBUTE_TYPE, CK_KEY_TYPE, CK_MECHANISM_TYPE, CK_OBJECT_CLASS};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

pub use attr::{
    attr_kind, bool_from_native, bool_to_native, ulong_from_native, ulong_to_native,
    validate_value, AttrKind, TemplateAttr, KEYROTOR_VENDOR_ATTR_BASE, KEYROTOR_VENDOR_ATTR_LAST,
    MAX_VALUE_LEN, ULONG_SIZE,
};
pub use attr_map::AttrMap;
pub use codec::FORMAT_V1;
pub use create::required_value_len;
pub use kcv::check_value;

/// How an object came to be. Drives `CKA_LOCAL`, `CKA_ALWAYS_SENSITIVE`,
/// `CKA_NEVER_EXTRACTABLE`, `CKA_KEY_GEN_MECHANISM`, and which attributes a
/// template may or must hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// `C_CreateObject`: the value comes in the template.
    Create,
    /// `C_GenerateKey` with `mechanism`, which implies `CKO_SECRET_KEY` and
    /// `key_type`; the key bytes come in `secret`.
    Generate {
        /// The key generation mechanism (becomes `CKA_KEY_GEN_MECHANISM`).
        mechanism: CK_MECHANISM_TYPE,
        /// The key type the mechanism produces.
        key_type: CK_KEY_TYPE,
    },
    /// `C_UnwrapKey`: the unwrapped bytes come in `secret`.
    Unwrap,
    /// `C_CopyObject`: only through [`Object::copy_with`].
    Copy,
    /// `C_DeriveKey`: the derived bytes come in `secret`; the base key's
    /// flags feed `CKA_ALWAYS_SENSITIVE` / `CKA_NEVER_EXTRACTABLE` (§4.10).
    Derive {
        /// `CKA_ALWAYS_SENSITIVE` of the base key.
        base_always_sensitive: bool,
        /// `CKA_NEVER_EXTRACTABLE` of the base key.
        base_never_extractable: bool,
    },
}

/// Result of reading one attribute for `C_GetAttributeValue`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttrRead<'a> {
    /// The value in native C layout.
    Value(&'a [u8]),
    /// The attribute exists but may not be revealed (`CKR_ATTRIBUTE_SENSITIVE`).
    Sensitive,
    /// The object has no such attribute (`CKR_ATTRIBUTE_TYPE_INVALID`).
    Invalid,
}

/// One PKCS#11 object: its public attributes in native layout plus, for
/// keys and data objects, the value held apart in zeroized storage.
#[derive(Clone)]
pub struct Object {
    class: CK_OBJECT_CLASS,
    key_type: Option<CK_KEY_TYPE>,
    /// Every attribute except `CKA_VALUE`, in native C layout.
    attrs: AttrMap,
    /// `CKA_VALUE`; `None` when the object was loaded without it.
    secret: Option<Zeroizing<Vec<u8>>>,
}

impl Object {
    /// The object class (`CKO_*`).
    pub fn class(&self) -> CK_OBJECT_CLASS {
        self.class
    }

    /// The key type for keys, `None` for data objects.
    pub fn key_type(&self) -> Option<CK_KEY_TYPE> {
        self.key_type
    }

    /// `CKA_TOKEN`.
    pub fn is_token(&self) -> bool {
        self.bool_attr(sys::CKA_TOKEN)
    }

    /// `CKA_PRIVATE`.
    pub fn is_private(&self) -> bool {
        self.bool_attr(sys::CKA_PRIVATE)
    }

    /// `CKA_MODIFIABLE`.
    pub fn is_modifiable(&self) -> bool {
        self.bool_attr(sys::CKA_MODIFIABLE)
    }

    /// `CKA_DESTROYABLE`.
    pub fn is_destroyable(&self) -> bool {
        self.bool_attr(sys::CKA_DESTROYABLE)
    }

    /// `CKA_COPYABLE`.
    pub fn is_copyable(&self) -> bool {
        self.bool_attr(sys::CKA_COPYABLE)
    }

    /// Whether `CKA_VALUE` must not be revealed: a key that is sensitive or
    /// unextractable.
    pub fn is_value_hidden(&self) -> bool {
        self.class == sys::CKO_SECRET_KEY
            && (self.bool_attr(sys::CKA_SENSITIVE) || !self.bool_attr(sys::CKA_EXTRACTABLE))
    }

    /// `CKA_LABEL` (empty when unset).
    pub fn label(&self) -> &[u8] {
        self.attrs.get(&sys::CKA_LABEL).unwrap_or_default()
    }

    /// A boolean attribute (`CKA_ENCRYPT`, ...); false when absent.
    pub fn bool_attr(&self, kind: CK_ATTRIBUTE_TYPE) -> bool {
        self.attrs
            .get(&kind)
            .and_then(bool_from_native)
            .unwrap_or(false)
    }

    /// A `CK_ULONG` attribute; `None` when absent.
    pub fn ulong_attr(&self, kind: CK_ATTRIBUTE_TYPE) -> Option<sys::CK_ULONG> {
        self.attrs.get(&kind).and_then(ulong_from_native)
    }

    /// `CKA_VALUE_LEN` of a key, readable without the key material loaded.
    pub fn value_len(&self) -> Option<usize> {
        self.ulong_attr(sys::CKA_VALUE_LEN)
            .and_then(|v| usize::try_from(v).ok())
    }

    /// The raw value (key bytes / data), for the crypto layer only. Never hand
    /// this to a caller: use [`Object::get`], which applies sensitivity.
    pub fn secret_value(&self) -> Option<&[u8]> {
        self.secret.as_deref().map(Vec::as_slice)
    }

    /// Whether the value is loaded.
    pub fn has_secret(&self) -> bool {
        self.secret.is_some()
    }

    /// `CKA_ALLOWED_MECHANISMS`; `None` when absent or empty, which means
    /// every mechanism is allowed.
    pub fn allowed_mechanisms(&self) -> Option<Vec<CK_MECHANISM_TYPE>> {
        let raw = self.attrs.get(&sys::CKA_ALLOWED_MECHANISMS)?;
        if raw.is_empty() {
            return None;
        }
        Some(
            raw.chunks_exact(ULONG_SIZE)
                .filter_map(ulong_from_native)
                .collect(),
        )
    }

    /// `CKA_UNIQUE_ID`, once the token assigned one.
    pub fn unique_id(&self) -> Option<&str> {
        self.attrs
            .get(&sys::CKA_UNIQUE_ID)
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Assigns `CKA_UNIQUE_ID` (the token does this after creation or copy).
    pub fn set_unique_id(&mut self, id: &str) {
        self.attrs.insert(sys::CKA_UNIQUE_ID, id.as_bytes());
    }

    /// Sets an attribute on the token's authority, bypassing caller rules:
    /// lifecycle-driven `CKA_ENCRYPT`/`CKA_DECRYPT`, version dates, keyrotor
    /// vendor attributes. The value must be well formed for its type. Class,
    /// key type, value and value length are not settable this way.
    pub fn set_token_attr(&mut self, kind: CK_ATTRIBUTE_TYPE, value: &[u8]) -> Result<()> {
        let vendor = (KEYROTOR_VENDOR_ATTR_BASE..=KEYROTOR_VENDOR_ATTR_LAST).contains(&kind);
        let allowed = vendor
            || policy::lookup(self.class, kind).is_some_and(|p| {
                !p.has(policy::flag::SECRET)
                    && !matches!(
                        kind,
                        sys::CKA_CLASS | sys::CKA_KEY_TYPE | sys::CKA_VALUE_LEN
                    )
            });
        if !allowed {
            return Err(Error::Internal(format!(
                "attribute {kind:#x} is not token-settable"
            )));
        }
        validate_value(kind, value)?;
        self.attrs.insert(kind, value);
        Ok(())
    }

    /// Attaches the value loaded later from the store. Its length must match
    /// `CKA_VALUE_LEN` for keys.
    pub fn set_secret(&mut self, secret: Zeroizing<Vec<u8>>) -> Result<()> {
        if self.class == sys::CKO_SECRET_KEY && self.value_len() != Some(secret.len()) {
            return Err(Error::StoreIntegrity(
                "key length does not match CKA_VALUE_LEN".into(),
            ));
        }
        self.secret = Some(secret);
        Ok(())
    }

    /// Drops (and zeroizes) the loaded value, e.g. on logout.
    pub fn drop_secret(&mut self) {
        self.secret = None;
    }

    /// Reads one attribute for `C_GetAttributeValue`.
    pub fn get(&self, kind: CK_ATTRIBUTE_TYPE) -> AttrRead<'_> {
        if kind == sys::CKA_VALUE {
            if self.is_value_hidden() {
                return AttrRead::Sensitive;
            }
            // Not loaded: exists, but cannot be revealed now.
            return self
                .secret_value()
                .map_or(AttrRead::Sensitive, AttrRead::Value);
        }
        self.attrs
            .get(&kind)
            .map_or(AttrRead::Invalid, AttrRead::Value)
    }

    /// Whether every attribute of `template` equals this object's, bytewise.
    /// An attribute the object lacks, or one it may not reveal, never matches.
    pub fn matches(&self, template: &[TemplateAttr]) -> bool {
        template.iter().all(|t| match self.get(t.kind) {
            AttrRead::Value(v) => v == t.value.as_slice(),
            AttrRead::Sensitive | AttrRead::Invalid => false,
        })
    }

    /// A copy with room for `count` more attributes of `bytes` bytes in
    /// all, for a run of [`Object::set_token_attr`] on the copy.
    pub fn clone_with_room(&self, count: usize, bytes: usize) -> Object {
        Object {
            class: self.class,
            key_type: self.key_type,
            attrs: self.attrs.clone_with_room(count, bytes),
            secret: self.secret.clone(),
        }
    }

    /// Feeds class and public attributes (never the value) to `state`.
    pub fn hash_public<H: std::hash::Hasher>(&self, state: &mut H) {
        use std::hash::Hash;
        self.class.hash(state);
        self.key_type.hash(state);
        self.attrs.hash(state);
    }

    /// Approximate size in bytes, for `C_GetObjectSize`.
    pub fn size_estimate(&self) -> usize {
        // Per attribute: the type, the length and the bytes, as stored.
        let attrs: usize = self.attrs.values().map(|v| 12 + v.len()).sum();
        let value = self.secret.as_ref().map_or(0, |s| 12 + s.len());
        1 + 4 + attrs + value
    }
}

impl std::fmt::Debug for Object {
    // Types and lengths only: labels may be private, values are secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kinds: Vec<String> = self.attrs.keys().map(|k| format!("{k:#x}")).collect();
        f.debug_struct("Object")
            .field("class", &self.class)
            .field("key_type", &self.key_type)
            .field("attributes", &kinds)
            .field("value_loaded", &self.secret.is_some())
            .finish()
    }
}
