//! Attribute value types: what C layout each attribute type has, how a
//! caller-supplied value is checked against it, and small native-layout
//! conversions.
//!
//! Values are kept exactly as a C caller lays them out on this platform
//! (`CK_BBOOL` = 1 byte, `CK_ULONG` native width and endianness, `CK_DATE`
//! = 8 ASCII digits), so `C_GetAttributeValue` copies bytes without
//! re-encoding. Only the storage codec converts to a portable form.

use cryptoki_sys as sys;
use sys::{CK_ATTRIBUTE_TYPE, CK_ULONG};
use zeroize::Zeroizing;

use crate::error::{rv, Result};

/// Width of `CK_ULONG` in the C ABI of this build.
pub const ULONG_SIZE: usize = std::mem::size_of::<CK_ULONG>();

/// First attribute type of keyrotor's vendor range
/// (`CKA_VENDOR_DEFINED | 0x4B520000`, "KR"); see `include/keyrotor.h`.
pub const KEYROTOR_VENDOR_ATTR_BASE: CK_ATTRIBUTE_TYPE = sys::CKA_VENDOR_DEFINED | 0x4B52_0000;
/// Last attribute type of keyrotor's vendor range.
pub const KEYROTOR_VENDOR_ATTR_LAST: CK_ATTRIBUTE_TYPE = KEYROTOR_VENDOR_ATTR_BASE | 0xFFFF;

/// Largest attribute value accepted, in bytes. Bounds memory per object and
/// keeps every length representable in the storage encoding's `u32`.
pub const MAX_VALUE_LEN: usize = 1 << 20;

/// The C type of an attribute's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttrKind {
    /// `CK_BBOOL`: one byte, 0 or 1.
    Bool,
    /// `CK_ULONG` (and its aliases: class, key type, mechanism type).
    Ulong,
    /// A byte string of any length (UTF-8 labels, ids, DER, key values).
    Bytes,
    /// `CK_DATE`: empty, or 8 ASCII digits `YYYYMMDD`.
    Date,
    /// An array of `CK_ULONG` (`CKA_ALLOWED_MECHANISMS`).
    UlongArray,
    /// Not an attribute this module knows how to carry.
    Unknown,
}

/// The C type of attribute `kind`.
///
/// Every attribute of keyrotor's vendor range is a `CK_ULONG`: the storage
/// codec relies on that to store them portably.
pub fn attr_kind(kind: CK_ATTRIBUTE_TYPE) -> AttrKind {
    match kind {
        sys::CKA_TOKEN
        | sys::CKA_PRIVATE
        | sys::CKA_MODIFIABLE
        | sys::CKA_COPYABLE
        | sys::CKA_DESTROYABLE
        | sys::CKA_TRUSTED
        | sys::CKA_SENSITIVE
        | sys::CKA_ENCRYPT
        | sys::CKA_DECRYPT
        | sys::CKA_WRAP
        | sys::CKA_UNWRAP
        | sys::CKA_SIGN
        | sys::CKA_SIGN_RECOVER
        | sys::CKA_VERIFY
        | sys::CKA_VERIFY_RECOVER
        | sys::CKA_DERIVE
        | sys::CKA_EXTRACTABLE
        | sys::CKA_LOCAL
        | sys::CKA_NEVER_EXTRACTABLE
        | sys::CKA_ALWAYS_SENSITIVE
        | sys::CKA_ALWAYS_AUTHENTICATE
        | sys::CKA_WRAP_WITH_TRUSTED => AttrKind::Bool,
        sys::CKA_CLASS
        | sys::CKA_KEY_TYPE
        | sys::CKA_CERTIFICATE_TYPE
        | sys::CKA_CERTIFICATE_CATEGORY
        | sys::CKA_VALUE_LEN
        | sys::CKA_VALUE_BITS
        | sys::CKA_MODULUS_BITS
        | sys::CKA_KEY_GEN_MECHANISM => AttrKind::Ulong,
        sys::CKA_LABEL
        | sys::CKA_UNIQUE_ID
        | sys::CKA_APPLICATION
        | sys::CKA_VALUE
        | sys::CKA_OBJECT_ID
        | sys::CKA_CHECK_VALUE
        | sys::CKA_ID
        | sys::CKA_SUBJECT
        | sys::CKA_ISSUER
        | sys::CKA_SERIAL_NUMBER
        | sys::CKA_URL => AttrKind::Bytes,
        sys::CKA_START_DATE | sys::CKA_END_DATE => AttrKind::Date,
        sys::CKA_ALLOWED_MECHANISMS => AttrKind::UlongArray,
        k if (KEYROTOR_VENDOR_ATTR_BASE..=KEYROTOR_VENDOR_ATTR_LAST).contains(&k) => {
            AttrKind::Ulong
        }
        _ => AttrKind::Unknown,
    }
}

/// Checks that `value` is well formed for attribute `kind` in native layout.
///
/// Wrong size, a bool byte other than 0/1, or a date that is not 8 ASCII
/// digits, or a value over [`MAX_VALUE_LEN`] → `CKR_ATTRIBUTE_VALUE_INVALID`;
/// an unknown type → `CKR_ATTRIBUTE_TYPE_INVALID`.
pub fn validate_value(kind: CK_ATTRIBUTE_TYPE, value: &[u8]) -> Result<()> {
    let ok = value.len() <= MAX_VALUE_LEN
        && match attr_kind(kind) {
            AttrKind::Bool => matches!(value, [0] | [1]),
            AttrKind::Ulong => value.len() == ULONG_SIZE,
            AttrKind::Bytes => true,
            AttrKind::Date => value.is_empty() || is_date(value),
            AttrKind::UlongArray => value.len().is_multiple_of(ULONG_SIZE),
            AttrKind::Unknown => return rv(sys::CKR_ATTRIBUTE_TYPE_INVALID),
        };
    if ok {
        Ok(())
    } else {
        rv(sys::CKR_ATTRIBUTE_VALUE_INVALID)
    }
}

/// `YYYYMMDD` in ASCII with month 01–12 and day 01–31 (the range the spec
/// gives for `CK_DATE` fields).
fn is_date(value: &[u8]) -> bool {
    if value.len() != 8 || !value.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let num = |range: std::ops::Range<usize>| {
        value
            .get(range)
            .map(|d| d.iter().fold(0u32, |acc, b| acc * 10 + u32::from(b - b'0')))
            .unwrap_or(0)
    };
    let (year, month, day) = (num(0..4), num(4..6), num(6..8));
    year >= 1900 && (1..=12).contains(&month) && (1..=31).contains(&day)
}

/// Reads a native-layout `CK_ULONG`; `None` when the size is wrong.
pub fn ulong_from_native(value: &[u8]) -> Option<CK_ULONG> {
    <[u8; ULONG_SIZE]>::try_from(value)
        .ok()
        .map(CK_ULONG::from_ne_bytes)
}

/// Native-layout bytes of a `CK_ULONG`.
pub fn ulong_to_native(v: CK_ULONG) -> Vec<u8> {
    v.to_ne_bytes().to_vec()
}

/// Reads a native `CK_BBOOL`; `None` unless the value is exactly `[0]` or `[1]`.
pub fn bool_from_native(value: &[u8]) -> Option<bool> {
    match value {
        [0] => Some(false),
        [1] => Some(true),
        _ => None,
    }
}

/// Native-layout bytes of a `CK_BBOOL`.
pub fn bool_to_native(v: bool) -> Vec<u8> {
    vec![u8::from(v)]
}

/// One caller attribute, copied out of C memory by the ffi layer.
///
/// `value` is in native C layout. It is zeroized on drop because templates
/// carry key values (`CKA_VALUE`).
#[derive(Clone)]
pub struct TemplateAttr {
    /// The attribute type (`CKA_*`).
    pub kind: CK_ATTRIBUTE_TYPE,
    /// The value bytes exactly as the caller laid them out.
    pub value: Zeroizing<Vec<u8>>,
}

impl TemplateAttr {
    /// An attribute with raw native-layout bytes.
    pub fn new(kind: CK_ATTRIBUTE_TYPE, value: Vec<u8>) -> Self {
        TemplateAttr {
            kind,
            value: Zeroizing::new(value),
        }
    }

    /// A `CK_BBOOL` attribute.
    pub fn bool(kind: CK_ATTRIBUTE_TYPE, v: bool) -> Self {
        Self::new(kind, bool_to_native(v))
    }

    /// A `CK_ULONG` attribute.
    pub fn ulong(kind: CK_ATTRIBUTE_TYPE, v: CK_ULONG) -> Self {
        Self::new(kind, ulong_to_native(v))
    }

    /// A `CK_ULONG` array attribute.
    pub fn ulongs(kind: CK_ATTRIBUTE_TYPE, vs: &[CK_ULONG]) -> Self {
        Self::new(kind, vs.iter().flat_map(|v| v.to_ne_bytes()).collect())
    }

    /// A byte-string attribute.
    pub fn bytes(kind: CK_ATTRIBUTE_TYPE, v: &[u8]) -> Self {
        Self::new(kind, v.to_vec())
    }
}

impl std::fmt::Debug for TemplateAttr {
    // Never print the value: templates carry key material.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TemplateAttr")
            .field("kind", &format_args!("{:#x}", self.kind))
            .field("len", &self.value.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    fn code(r: Result<()>) -> sys::CK_RV {
        match r {
            Ok(()) => sys::CKR_OK,
            Err(Error::Rv(rv)) => rv,
            Err(e) => panic!("unexpected {e}"),
        }
    }

    #[test]
    fn kinds() {
        assert_eq!(attr_kind(sys::CKA_TOKEN), AttrKind::Bool);
        assert_eq!(attr_kind(sys::CKA_CLASS), AttrKind::Ulong);
        assert_eq!(attr_kind(sys::CKA_LABEL), AttrKind::Bytes);
        assert_eq!(attr_kind(sys::CKA_END_DATE), AttrKind::Date);
        assert_eq!(attr_kind(sys::CKA_ALLOWED_MECHANISMS), AttrKind::UlongArray);
        assert_eq!(attr_kind(sys::CKA_WRAP_TEMPLATE), AttrKind::Unknown);
        assert_eq!(attr_kind(KEYROTOR_VENDOR_ATTR_BASE + 3), AttrKind::Ulong);
        assert_eq!(attr_kind(sys::CKA_VENDOR_DEFINED + 1), AttrKind::Unknown);
    }

    #[test]
    fn value_validation() {
        let inv = sys::CKR_ATTRIBUTE_VALUE_INVALID;
        assert_eq!(code(validate_value(sys::CKA_TOKEN, &[1])), sys::CKR_OK);
        assert_eq!(code(validate_value(sys::CKA_TOKEN, &[2])), inv);
        assert_eq!(code(validate_value(sys::CKA_TOKEN, &[0, 0])), inv);
        assert_eq!(code(validate_value(sys::CKA_TOKEN, &[])), inv);
        assert_eq!(code(validate_value(sys::CKA_CLASS, &[0; 8])), sys::CKR_OK);
        assert_eq!(code(validate_value(sys::CKA_CLASS, &[0; 4])), inv);
        assert_eq!(code(validate_value(sys::CKA_START_DATE, b"")), sys::CKR_OK);
        assert_eq!(
            code(validate_value(sys::CKA_START_DATE, b"20240229")),
            sys::CKR_OK
        );
        assert_eq!(code(validate_value(sys::CKA_START_DATE, b"2024022")), inv);
        assert_eq!(code(validate_value(sys::CKA_START_DATE, b"2024x229")), inv);
        assert_eq!(code(validate_value(sys::CKA_START_DATE, b"20241301")), inv);
        assert_eq!(
            code(validate_value(sys::CKA_ALLOWED_MECHANISMS, &[0; 16])),
            sys::CKR_OK
        );
        assert_eq!(
            code(validate_value(sys::CKA_ALLOWED_MECHANISMS, &[0; 12])),
            inv
        );
        assert_eq!(
            code(validate_value(sys::CKA_WRAP_TEMPLATE, &[])),
            sys::CKR_ATTRIBUTE_TYPE_INVALID
        );
    }

    #[test]
    fn native_round_trip() {
        assert_eq!(ulong_from_native(&ulong_to_native(0x1234)), Some(0x1234));
        assert_eq!(ulong_from_native(&[1, 2, 3]), None);
        assert_eq!(bool_from_native(&bool_to_native(true)), Some(true));
        assert_eq!(bool_from_native(&[7]), None);
        let a = TemplateAttr::ulongs(sys::CKA_ALLOWED_MECHANISMS, &[1, 2]);
        assert_eq!(a.value.len(), 2 * ULONG_SIZE);
        assert!(
            !format!("{:?}", TemplateAttr::bytes(sys::CKA_VALUE, b"secret")).contains("secret")
        );
    }
}
