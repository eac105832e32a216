//! `CK_ATTRIBUTE` arrays decoded from fuzzer bytes, with every `pValue`
//! pointing into buffers this module owns and every `ulValueLen` equal to
//! the size of that buffer (or `pValue` NULL). The module's template parsing
//! is under test, not the caller's side of the contract.

use std::ffi::c_void;
use std::ptr;

use cryptoki_sys as sys;
use keyrotor::object::{KEYROTOR_VENDOR_ATTR_BASE, KEYROTOR_VENDOR_ATTR_LAST};
use sys::{CK_ATTRIBUTE, CK_ATTRIBUTE_TYPE, CK_ULONG};

use super::input::Input;

/// Attribute types the decoder picks from (the rest come in raw).
pub const KNOWN_TYPES: &[CK_ATTRIBUTE_TYPE] = &[
    sys::CKA_CLASS,
    sys::CKA_TOKEN,
    sys::CKA_PRIVATE,
    sys::CKA_LABEL,
    sys::CKA_UNIQUE_ID,
    sys::CKA_APPLICATION,
    sys::CKA_VALUE,
    sys::CKA_OBJECT_ID,
    sys::CKA_CERTIFICATE_TYPE,
    sys::CKA_ISSUER,
    sys::CKA_SERIAL_NUMBER,
    sys::CKA_TRUSTED,
    sys::CKA_CERTIFICATE_CATEGORY,
    sys::CKA_CHECK_VALUE,
    sys::CKA_KEY_TYPE,
    sys::CKA_SUBJECT,
    sys::CKA_ID,
    sys::CKA_SENSITIVE,
    sys::CKA_ENCRYPT,
    sys::CKA_DECRYPT,
    sys::CKA_WRAP,
    sys::CKA_UNWRAP,
    sys::CKA_SIGN,
    sys::CKA_SIGN_RECOVER,
    sys::CKA_VERIFY,
    sys::CKA_VERIFY_RECOVER,
    sys::CKA_DERIVE,
    sys::CKA_START_DATE,
    sys::CKA_END_DATE,
    sys::CKA_MODULUS,
    sys::CKA_MODULUS_BITS,
    sys::CKA_VALUE_BITS,
    sys::CKA_VALUE_LEN,
    sys::CKA_EXTRACTABLE,
    sys::CKA_LOCAL,
    sys::CKA_NEVER_EXTRACTABLE,
    sys::CKA_ALWAYS_SENSITIVE,
    sys::CKA_KEY_GEN_MECHANISM,
    sys::CKA_MODIFIABLE,
    sys::CKA_COPYABLE,
    sys::CKA_DESTROYABLE,
    sys::CKA_URL,
    sys::CKA_WRAP_WITH_TRUSTED,
    sys::CKA_WRAP_TEMPLATE,
    sys::CKA_UNWRAP_TEMPLATE,
    sys::CKA_DERIVE_TEMPLATE,
    sys::CKA_ALWAYS_AUTHENTICATE,
    sys::CKA_ALLOWED_MECHANISMS,
    sys::CKA_HW_FEATURE_TYPE,
    sys::CKA_VENDOR_DEFINED,
    KEYROTOR_VENDOR_ATTR_BASE,
    KEYROTOR_VENDOR_ATTR_BASE + 1,
    KEYROTOR_VENDOR_ATTR_BASE + 2,
    KEYROTOR_VENDOR_ATTR_BASE + 3,
    KEYROTOR_VENDOR_ATTR_BASE + 4,
    KEYROTOR_VENDOR_ATTR_BASE + 5,
    KEYROTOR_VENDOR_ATTR_BASE + 6,
    KEYROTOR_VENDOR_ATTR_BASE + 7,
    KEYROTOR_VENDOR_ATTR_BASE + 8,
    KEYROTOR_VENDOR_ATTR_BASE + 9,
    KEYROTOR_VENDOR_ATTR_BASE + 10,
    KEYROTOR_VENDOR_ATTR_BASE + 11,
    KEYROTOR_VENDOR_ATTR_BASE + 12,
    KEYROTOR_VENDOR_ATTR_BASE + 13,
    KEYROTOR_VENDOR_ATTR_BASE + 14,
    KEYROTOR_VENDOR_ATTR_LAST,
    KEYROTOR_VENDOR_ATTR_LAST + 1,
    sys::CK_UNAVAILABLE_INFORMATION,
];

/// `CK_ULONG` values worth trying in integer attributes.
pub const INTERESTING_ULONGS: &[CK_ULONG] = &[
    0,
    1,
    8,
    15,
    16,
    17,
    24,
    31,
    32,
    33,
    64,
    512,
    513,
    1 << 20,
    sys::CKO_DATA,
    sys::CKO_CERTIFICATE,
    sys::CKO_PUBLIC_KEY,
    sys::CKO_PRIVATE_KEY,
    sys::CKO_SECRET_KEY,
    sys::CKO_HW_FEATURE,
    sys::CKO_VENDOR_DEFINED,
    sys::CKK_AES,
    sys::CKK_GENERIC_SECRET,
    sys::CKK_DES3,
    sys::CKK_SHA256_HMAC,
    sys::CKM_AES_KEY_GEN,
    sys::CKM_GENERIC_SECRET_KEY_GEN,
    sys::CKM_AES_GCM,
    sys::CKM_AES_KEY_WRAP,
    sys::CKM_SHA256_HMAC,
    sys::CK_UNAVAILABLE_INFORMATION,
    u32::MAX as CK_ULONG,
    i64::MAX as CK_ULONG,
];

/// Whether an attribute's value is itself a `CK_ATTRIBUTE` array.
pub fn is_attribute_array(kind: CK_ATTRIBUTE_TYPE) -> bool {
    matches!(
        kind,
        sys::CKA_WRAP_TEMPLATE | sys::CKA_UNWRAP_TEMPLATE | sys::CKA_DERIVE_TEMPLATE
    )
}

/// An attribute type: usually one of [`KNOWN_TYPES`], sometimes raw.
pub fn attr_type(i: &mut Input) -> CK_ATTRIBUTE_TYPE {
    let sel = i.u8();
    if sel < 0xF0 {
        KNOWN_TYPES[usize::from(sel) % KNOWN_TYPES.len()]
    } else {
        // A raw type must not claim to be an attribute array: such values
        // hold pointers, and raw bytes would make them point anywhere.
        let t = i.u64();
        if is_attribute_array(t) {
            sys::CKA_VENDOR_DEFINED | (t & 0xFFFF)
        } else {
            t
        }
    }
}

/// A `CK_ULONG`: usually an interesting constant, sometimes raw.
pub fn ulong(i: &mut Input) -> CK_ULONG {
    if i.bool() {
        i.pick(INTERESTING_ULONGS)
    } else {
        i.u64() as CK_ULONG
    }
}

/// The natural value for `kind`, with the shape its C type has.
fn natural_value(i: &mut Input, kind: CK_ATTRIBUTE_TYPE) -> Vec<u8> {
    use keyrotor::object::{attr_kind, AttrKind};
    match attr_kind(kind) {
        AttrKind::Bool => vec![match i.u8() {
            b if b < 0xF0 => b & 1,
            b => b,
        }],
        AttrKind::Ulong => ulong(i).to_ne_bytes().to_vec(),
        AttrKind::UlongArray => {
            let n = i.upto(4);
            (0..n).flat_map(|_| ulong(i).to_ne_bytes()).collect()
        }
        AttrKind::Date => {
            if i.bool() {
                b"20250101".to_vec()
            } else {
                i.bytes(8).to_vec()
            }
        }
        AttrKind::Bytes | AttrKind::Unknown => i.blob(64).to_vec(),
    }
}

/// What one attribute's `pValue` points at; held only to keep that memory
/// alive while the C array points into it.
#[allow(dead_code)]
enum Storage {
    Bytes(Vec<u8>),
    Null,
    Nested(OwnedTemplate),
}

/// A template whose values live in buffers it owns.
#[derive(Default)]
pub struct OwnedTemplate {
    /// The array handed to the module.
    pub attrs: Vec<CK_ATTRIBUTE>,
    /// `store[i]` backs `attrs[i]`.
    store: Vec<Storage>,
}

impl OwnedTemplate {
    /// Adds an attribute whose value is a copy of `v` (`ulValueLen` = its
    /// length; an empty value gets a dangling non-NULL pointer).
    pub fn push(&mut self, kind: CK_ATTRIBUTE_TYPE, v: &[u8]) {
        let mut buf = v.to_vec();
        self.attrs.push(CK_ATTRIBUTE {
            type_: kind,
            pValue: buf.as_mut_ptr() as *mut c_void,
            ulValueLen: buf.len() as CK_ULONG,
        });
        // Moving the Vec does not move its heap buffer.
        self.store.push(Storage::Bytes(buf));
    }

    /// Adds an attribute with a NULL `pValue` and any length.
    pub fn push_null(&mut self, kind: CK_ATTRIBUTE_TYPE, len: CK_ULONG) {
        self.attrs.push(CK_ATTRIBUTE {
            type_: kind,
            pValue: ptr::null_mut(),
            ulValueLen: len,
        });
        self.store.push(Storage::Null);
    }

    fn push_nested(&mut self, kind: CK_ATTRIBUTE_TYPE, mut inner: OwnedTemplate) {
        let len = std::mem::size_of_val(inner.attrs.as_slice());
        let p = if inner.attrs.is_empty() {
            ptr::null_mut()
        } else {
            inner.attrs.as_mut_ptr() as *mut c_void
        };
        self.attrs.push(CK_ATTRIBUTE {
            type_: kind,
            pValue: p,
            ulValueLen: len as CK_ULONG,
        });
        self.store.push(Storage::Nested(inner));
    }

    /// Decodes up to `max` attributes (nesting one level for attribute
    /// arrays when `depth` allows).
    pub fn decode(i: &mut Input, max: usize, depth: u8) -> OwnedTemplate {
        let mut t = OwnedTemplate::default();
        let n = i.upto(max);
        for _ in 0..n {
            if i.is_empty() {
                break;
            }
            let kind = attr_type(i);
            let form = i.u8() % 8;
            if is_attribute_array(kind) {
                // The value holds pointers: only a nested template we own,
                // an empty value or NULL, never bytes from the input.
                match form {
                    5 => t.push_null(kind, 0),
                    6 => t.push(kind, &[]),
                    _ if depth > 0 => {
                        let inner = OwnedTemplate::decode(i, 4, depth - 1);
                        t.push_nested(kind, inner);
                    }
                    _ => t.push_null(kind, 0),
                }
                continue;
            }
            match form {
                0..=3 => {
                    let v = natural_value(i, kind);
                    t.push(kind, &v);
                }
                4 => {
                    let v = i.blob(255);
                    t.push(kind, v);
                }
                5 => {
                    // NULL with a length: the module must refuse, not read.
                    let len = if i.bool() { 0 } else { CK_ULONG::from(i.u32()) };
                    t.push_null(kind, len);
                }
                6 => t.push(kind, &[]),
                _ => {
                    let v = natural_value(i, kind);
                    t.push(kind, &v);
                }
            }
        }
        t
    }

    /// Makes every `CKA_TOKEN` false (adding one if missing), so objects
    /// made from the template stay in memory.
    pub fn force_session(&mut self) {
        let mut found = false;
        for (a, st) in self.attrs.iter_mut().zip(self.store.iter_mut()) {
            if a.type_ == sys::CKA_TOKEN {
                let mut buf = vec![sys::CK_FALSE];
                a.pValue = buf.as_mut_ptr() as *mut c_void;
                a.ulValueLen = 1;
                *st = Storage::Bytes(buf);
                found = true;
            }
        }
        if !found {
            self.push(sys::CKA_TOKEN, &[sys::CK_FALSE]);
        }
    }

    /// Number of attributes.
    pub fn len(&self) -> usize {
        self.attrs.len()
    }

    /// True when there are no attributes.
    pub fn is_empty(&self) -> bool {
        self.attrs.is_empty()
    }

    /// Pointer and count for the C call (NULL for an empty template).
    pub fn raw(&mut self) -> (*mut CK_ATTRIBUTE, CK_ULONG) {
        if self.attrs.is_empty() {
            (ptr::null_mut(), 0)
        } else {
            (self.attrs.as_mut_ptr(), self.attrs.len() as CK_ULONG)
        }
    }
}
