//! The per-class attribute policy table: which attributes each supported
//! object class has, who may set them when, how they may change, and their
//! defaults. Kept as data so the rules of PKCS#11 3.0 §4.4 (storage objects),
//! §4.5 (data objects), §4.7 (keys) and §4.10 (secret keys) read as one table
//! instead of being scattered through code.
//!
//! Spec footnotes map to flags: 1 → `REQUIRED_CREATE`; 2/4/6 → the missing
//! origin bit; 7 → `SENSITIVE`; 8 → `SET` (+ `COPY`); 10 → `SO_ONLY_TRUE`;
//! 11 → `ONCE_TRUE`; 12 → `ONCE_FALSE`; "may change during copy" → `COPY`.

use cryptoki_sys as sys;
use sys::{CK_ATTRIBUTE_TYPE, CK_OBJECT_CLASS};

/// Class bit for `CKO_DATA`.
pub(crate) const C_DATA: u8 = 1;
/// Class bit for `CKO_SECRET_KEY`.
pub(crate) const C_SECRET: u8 = 2;
/// Both supported classes.
const C_ALL: u8 = C_DATA | C_SECRET;

/// Policy flags.
pub(crate) mod flag {
    /// May appear in a `C_CreateObject` template.
    pub const CREATE: u32 = 1 << 0;
    /// May appear in a `C_GenerateKey` template.
    pub const GENERATE: u32 = 1 << 1;
    /// May appear in a `C_UnwrapKey` template.
    pub const UNWRAP: u32 = 1 << 2;
    /// May appear in a `C_DeriveKey` template.
    pub const DERIVE: u32 = 1 << 3;
    /// May appear in any creation template.
    pub const TEMPLATE: u32 = CREATE | GENERATE | UNWRAP | DERIVE;
    /// Must appear in a `C_CreateObject` template.
    pub const REQUIRED_CREATE: u32 = 1 << 4;
    /// `C_SetAttributeValue` may change it (and so may `C_CopyObject`).
    pub const SET: u32 = 1 << 5;
    /// `C_CopyObject` may change it.
    pub const COPY: u32 = 1 << 6;
    /// Once true it stays true.
    pub const ONCE_TRUE: u32 = 1 << 7;
    /// Once false it stays false.
    pub const ONCE_FALSE: u32 = 1 << 8;
    /// Only a security officer session may set it to true.
    pub const SO_ONLY_TRUE: u32 = 1 << 9;
    /// Hidden when the key is sensitive or unextractable.
    pub const SENSITIVE: u32 = 1 << 10;
    /// Held in the zeroized secret buffer, never in the public encoding.
    pub const SECRET: u32 = 1 << 11;
    /// Setting it where not allowed is `CKR_TEMPLATE_INCONSISTENT`
    /// (it comes from elsewhere) rather than `CKR_ATTRIBUTE_READ_ONLY`.
    pub const FORBIDDEN_INCONSISTENT: u32 = 1 << 12;
    /// A complete object may lack it (assigned later by the token).
    pub const OPTIONAL: u32 = 1 << 13;
}

use flag::*;

/// Value an attribute takes when the template does not give one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Initial {
    /// A `CK_BBOOL`.
    Bool(bool),
    /// An empty byte string / date / array.
    Empty,
    /// Computed at creation (class, key type, value length, check value,
    /// local, always-sensitive, ...), or assigned by the token.
    Computed,
}

/// One row of the table.
#[derive(Debug)]
pub(crate) struct AttrPolicy {
    /// The attribute type.
    pub kind: CK_ATTRIBUTE_TYPE,
    /// Which classes have it (`C_*` bits).
    pub classes: u8,
    /// `flag::*` bits.
    pub flags: u32,
    /// Default when absent from a creation template.
    pub default: Initial,
}

impl AttrPolicy {
    /// Whether every bit of `f` is set.
    pub fn has(&self, f: u32) -> bool {
        self.flags & f == f
    }
}

const fn row(kind: CK_ATTRIBUTE_TYPE, classes: u8, flags: u32, default: Initial) -> AttrPolicy {
    AttrPolicy {
        kind,
        classes,
        flags,
        default,
    }
}

/// Settable in any template, by `C_SetAttributeValue` and by copying.
const EDIT: u32 = TEMPLATE | SET | COPY;
/// Only chosen at creation, changeable by copying.
const COPY_ONLY: u32 = TEMPLATE | COPY;

use Initial::{Bool as B, Computed as Calc, Empty};

/// The table. An attribute may have one row per class where its rules
/// differ (`CKA_PRIVATE` defaults, `CKA_VALUE` handling).
#[rustfmt::skip]
static POLICY: &[AttrPolicy] = &[
    // Common object and storage attributes (§4.4).
    row(sys::CKA_CLASS,             C_ALL,    TEMPLATE | REQUIRED_CREATE,  Calc),
    row(sys::CKA_TOKEN,             C_ALL,    COPY_ONLY,                   B(false)),
    row(sys::CKA_PRIVATE,           C_DATA,   COPY_ONLY,                   B(false)),
    row(sys::CKA_PRIVATE,           C_SECRET, COPY_ONLY,                   B(true)),
    row(sys::CKA_MODIFIABLE,        C_ALL,    COPY_ONLY,                   B(true)),
    row(sys::CKA_LABEL,             C_ALL,    EDIT,                        Empty),
    row(sys::CKA_COPYABLE,          C_ALL,    EDIT | ONCE_FALSE,           B(true)),
    row(sys::CKA_DESTROYABLE,       C_ALL,    COPY_ONLY,                   B(true)),
    row(sys::CKA_UNIQUE_ID,         C_ALL,    OPTIONAL,                    Calc),
    // Data objects (§4.5): fixed once created.
    row(sys::CKA_APPLICATION,       C_DATA,   CREATE,                      Empty),
    row(sys::CKA_OBJECT_ID,         C_DATA,   CREATE,                      Empty),
    row(sys::CKA_VALUE,             C_DATA,   CREATE | SECRET,             Empty),
    // Common key attributes (§4.7).
    row(sys::CKA_KEY_TYPE,          C_SECRET, TEMPLATE | REQUIRED_CREATE,  Calc),
    row(sys::CKA_ID,                C_SECRET, EDIT,                        Empty),
    row(sys::CKA_START_DATE,        C_SECRET, EDIT,                        Empty),
    row(sys::CKA_END_DATE,          C_SECRET, EDIT,                        Empty),
    row(sys::CKA_DERIVE,            C_SECRET, EDIT,                        B(false)),
    row(sys::CKA_LOCAL,             C_SECRET, 0,                           Calc),
    row(sys::CKA_KEY_GEN_MECHANISM, C_SECRET, 0,                           Calc),
    row(sys::CKA_ALLOWED_MECHANISMS, C_SECRET, EDIT,                       Empty),
    // Secret keys (§4.10).
    row(sys::CKA_SENSITIVE,         C_SECRET, EDIT | ONCE_TRUE,           B(false)),
    row(sys::CKA_ENCRYPT,           C_SECRET, EDIT,                        B(true)),
    row(sys::CKA_DECRYPT,           C_SECRET, EDIT,                        B(true)),
    row(sys::CKA_SIGN,              C_SECRET, EDIT,                        B(true)),
    row(sys::CKA_VERIFY,            C_SECRET, EDIT,                        B(true)),
    row(sys::CKA_WRAP,              C_SECRET, EDIT,                        B(true)),
    row(sys::CKA_UNWRAP,            C_SECRET, EDIT,                        B(true)),
    row(sys::CKA_EXTRACTABLE,       C_SECRET, EDIT | ONCE_FALSE,          B(true)),
    row(sys::CKA_ALWAYS_SENSITIVE,  C_SECRET, 0,                           Calc),
    row(sys::CKA_NEVER_EXTRACTABLE, C_SECRET, 0,                           Calc),
    row(sys::CKA_CHECK_VALUE,       C_SECRET, TEMPLATE,                    Calc),
    row(sys::CKA_WRAP_WITH_TRUSTED, C_SECRET, EDIT | ONCE_TRUE,           B(false)),
    row(sys::CKA_TRUSTED,           C_SECRET, EDIT | SO_ONLY_TRUE,        B(false)),
    row(sys::CKA_ALWAYS_AUTHENTICATE, C_SECRET, TEMPLATE,                  B(false)),
    row(sys::CKA_VALUE,             C_SECRET,
        CREATE | REQUIRED_CREATE | SECRET | SENSITIVE | FORBIDDEN_INCONSISTENT, Calc),
    row(sys::CKA_VALUE_LEN,         C_SECRET,
        GENERATE | UNWRAP | DERIVE | FORBIDDEN_INCONSISTENT,                Calc),
];

/// The class bit of a supported class.
pub(crate) fn class_bit(class: CK_OBJECT_CLASS) -> Option<u8> {
    match class {
        sys::CKO_DATA => Some(C_DATA),
        sys::CKO_SECRET_KEY => Some(C_SECRET),
        _ => None,
    }
}

/// The rule for `kind` on objects of class `class`, if that class has it.
pub(crate) fn lookup(
    class: CK_OBJECT_CLASS,
    kind: CK_ATTRIBUTE_TYPE,
) -> Option<&'static AttrPolicy> {
    let bit = class_bit(class)?;
    POLICY
        .iter()
        .find(|p| p.kind == kind && p.classes & bit != 0)
}

/// Every rule that applies to `class`.
pub(crate) fn rows_for(class: CK_OBJECT_CLASS) -> impl Iterator<Item = &'static AttrPolicy> {
    let bit = class_bit(class).unwrap_or(0);
    POLICY.iter().filter(move |p| p.classes & bit != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::attr::{attr_kind, AttrKind};

    #[test]
    fn table_is_consistent() {
        for p in POLICY {
            // Every attribute in the table has a known C type.
            assert_ne!(attr_kind(p.kind), AttrKind::Unknown, "{:#x}", p.kind);
            // Bool defaults only on bool attributes.
            if let Initial::Bool(_) = p.default {
                assert_eq!(attr_kind(p.kind), AttrKind::Bool, "{:#x}", p.kind);
            }
            // One-way rules only make sense on bools that can change.
            if p.has(ONCE_TRUE) || p.has(ONCE_FALSE) || p.has(SO_ONLY_TRUE) {
                assert_eq!(attr_kind(p.kind), AttrKind::Bool);
            }
        }
        // No attribute has two rows for the same class.
        for class in [sys::CKO_DATA, sys::CKO_SECRET_KEY] {
            let kinds: Vec<_> = rows_for(class).map(|p| p.kind).collect();
            let mut dedup = kinds.clone();
            dedup.sort_unstable();
            dedup.dedup();
            assert_eq!(kinds.len(), dedup.len());
        }
    }

    #[test]
    fn per_class_rows() {
        assert_eq!(
            lookup(sys::CKO_DATA, sys::CKA_PRIVATE).map(|p| p.default),
            Some(Initial::Bool(false))
        );
        assert_eq!(
            lookup(sys::CKO_SECRET_KEY, sys::CKA_PRIVATE).map(|p| p.default),
            Some(Initial::Bool(true))
        );
        assert!(lookup(sys::CKO_DATA, sys::CKA_KEY_TYPE).is_none());
        assert!(lookup(sys::CKO_SECRET_KEY, sys::CKA_APPLICATION).is_none());
        assert!(lookup(sys::CKO_CERTIFICATE, sys::CKA_LABEL).is_none());
        assert!(lookup(sys::CKO_SECRET_KEY, sys::CKA_VALUE).is_some_and(|p| p.has(SENSITIVE)));
        assert!(lookup(sys::CKO_DATA, sys::CKA_VALUE).is_some_and(|p| !p.has(SENSITIVE)));
    }
}
