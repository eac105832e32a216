//! Storage encoding of an object's public attributes.
//!
//! ```text
//! u8      format (FORMAT_V1)
//! u32-LE  attribute count
//! count × { u64-LE type, u32-LE length, bytes }   types strictly ascending
//! ```
//!
//! `CK_ULONG` values (and arrays of them) are stored as u64-LE, with
//! `CK_UNAVAILABLE_INFORMATION` as `u64::MAX`, so a store written on one
//! platform reads on another. `CKA_VALUE` is never here: the store keeps it
//! encrypted apart. The decoder is strict (canonical order, exact length,
//! complete attribute set, well-formed values) and never panics: it reads
//! bytes from disk or a database that an attacker may have touched.

use super::AttrMap;

use cryptoki_sys as sys;
use sys::{CK_ATTRIBUTE_TYPE, CK_ULONG};
use zeroize::Zeroizing;

use super::attr::{attr_kind, ulong_from_native, AttrKind, ULONG_SIZE};
use super::create::key_len_ok;
use super::policy::{self, flag};
use super::{validate_value, Object, KEYROTOR_VENDOR_ATTR_BASE, KEYROTOR_VENDOR_ATTR_LAST};
use crate::error::{Error, Result};

/// Format byte of the current encoding.
pub const FORMAT_V1: u8 = 1;

fn integrity(msg: &str) -> Error {
    Error::StoreIntegrity(format!("object encoding: {msg}"))
}

/// `CK_ULONG` → portable u64.
#[allow(clippy::useless_conversion)] // CK_ULONG is u32 on other platforms.
fn widen(v: CK_ULONG) -> u64 {
    if v == sys::CK_UNAVAILABLE_INFORMATION {
        u64::MAX
    } else {
        u64::from(v)
    }
}

/// Portable u64 → `CK_ULONG`; `None` if it does not fit this platform.
#[allow(clippy::unnecessary_fallible_conversions)] // Fallible where CK_ULONG is u32.
fn narrow(v: u64) -> Option<CK_ULONG> {
    if v == u64::MAX {
        Some(sys::CK_UNAVAILABLE_INFORMATION)
    } else {
        CK_ULONG::try_from(v).ok()
    }
}

/// Native-layout value → portable bytes.
fn to_portable(kind: CK_ATTRIBUTE_TYPE, value: &[u8]) -> Vec<u8> {
    match attr_kind(kind) {
        AttrKind::Ulong | AttrKind::UlongArray => value
            .chunks_exact(ULONG_SIZE)
            .filter_map(ulong_from_native)
            .flat_map(|v| widen(v).to_le_bytes())
            .collect(),
        _ => value.to_vec(),
    }
}

/// Portable bytes → native-layout value.
fn from_portable(kind: CK_ATTRIBUTE_TYPE, bytes: &[u8]) -> Result<Vec<u8>> {
    match attr_kind(kind) {
        AttrKind::Ulong | AttrKind::UlongArray => {
            if !bytes.len().is_multiple_of(8) {
                return Err(integrity("integer attribute of bad length"));
            }
            let mut out = Vec::with_capacity(bytes.len() / 8 * ULONG_SIZE);
            for chunk in bytes.chunks_exact(8) {
                let raw = <[u8; 8]>::try_from(chunk).map_err(|_| integrity("integer chunk"))?;
                let v = narrow(u64::from_le_bytes(raw))
                    .ok_or_else(|| integrity("integer out of range"))?;
                out.extend_from_slice(&v.to_ne_bytes());
            }
            Ok(out)
        }
        _ => Ok(bytes.to_vec()),
    }
}

/// A cursor that fails instead of panicking.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let (head, rest) = self
            .0
            .split_at_checked(n)
            .ok_or_else(|| integrity("truncated"))?;
        self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        <[u8; N]>::try_from(self.take(N)?).map_err(|_| integrity("truncated"))
    }
}

impl Object {
    /// Every attribute except the value, in the portable storage encoding.
    pub fn encode_public(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.size_estimate());
        out.push(FORMAT_V1);
        // Counts and lengths fit: values are capped at MAX_VALUE_LEN and an
        // object has a few dozen attributes. Saturating keeps this panic-free.
        let count = u32::try_from(self.attrs.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&count.to_le_bytes());
        for (&kind, value) in self.attrs.iter() {
            let bytes = to_portable(kind, value);
            let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&widen(kind).to_le_bytes());
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&bytes);
        }
        out
    }

    /// Rebuilds an object from [`Object::encode_public`] output and, when
    /// available, its value. Anything malformed → `Error::StoreIntegrity`.
    pub fn decode(public: &[u8], secret: Option<Zeroizing<Vec<u8>>>) -> Result<Object> {
        Object::decode_with_room(public, secret, 0, 0)
    }

    /// [`Object::decode`] leaving room for `more_attrs` attributes of
    /// `more_bytes` bytes in all, which the caller is about to set.
    pub fn decode_with_room(
        public: &[u8],
        secret: Option<Zeroizing<Vec<u8>>>,
        more_attrs: usize,
        more_bytes: usize,
    ) -> Result<Object> {
        let mut r = Reader(public);
        if r.array::<1>()? != [FORMAT_V1] {
            return Err(integrity("unknown format"));
        }
        let count = u32::from_le_bytes(r.array()?);
        // Each stored attribute has a 12-byte header; native values are the
        // portable ones' size on 64-bit targets, so this is exact there.
        let headers = 5 + 12 * count as usize;
        let mut attrs = AttrMap::with_capacity(
            (count as usize).min(public.len() / 12) + more_attrs,
            public.len().saturating_sub(headers) + more_bytes,
        );
        let mut last: Option<u64> = None;
        for _ in 0..count {
            let kind64 = u64::from_le_bytes(r.array()?);
            let len =
                usize::try_from(u32::from_le_bytes(r.array()?)).map_err(|_| integrity("length"))?;
            let bytes = r.take(len)?;
            if last.is_some_and(|l| kind64 <= l) {
                return Err(integrity("attributes out of order"));
            }
            last = Some(kind64);
            let kind = narrow(kind64)
                .filter(|_| kind64 != u64::MAX)
                .ok_or_else(|| integrity("attribute type out of range"))?;
            let native = from_portable(kind, bytes)?;
            validate_value(kind, &native).map_err(|_| integrity("malformed attribute value"))?;
            attrs.insert(kind, &native);
        }
        if !r.0.is_empty() {
            return Err(integrity("trailing bytes"));
        }
        Object::from_parts(attrs, secret)
    }

    /// Checks a decoded attribute set is a complete, consistent object.
    fn from_parts(attrs: AttrMap, secret: Option<Zeroizing<Vec<u8>>>) -> Result<Object> {
        let ulong = |k| attrs.get(&k).and_then(ulong_from_native);
        let class = ulong(sys::CKA_CLASS).ok_or_else(|| integrity("no class"))?;
        if policy::class_bit(class).is_none() {
            return Err(integrity("unsupported class"));
        }
        for &kind in attrs.keys() {
            let vendor = (KEYROTOR_VENDOR_ATTR_BASE..=KEYROTOR_VENDOR_ATTR_LAST).contains(&kind);
            let known = policy::lookup(class, kind).is_some_and(|p| !p.has(flag::SECRET));
            if !vendor && !known {
                return Err(integrity("attribute not valid for the class"));
            }
        }
        let complete = policy::rows_for(class)
            .filter(|p| !p.has(flag::SECRET) && !p.has(flag::OPTIONAL))
            .all(|p| attrs.contains_key(&p.kind));
        if !complete {
            return Err(integrity("attribute missing"));
        }
        let key_type = if class == sys::CKO_SECRET_KEY {
            let kt = ulong(sys::CKA_KEY_TYPE).ok_or_else(|| integrity("no key type"))?;
            let len = ulong(sys::CKA_VALUE_LEN)
                .and_then(|l| usize::try_from(l).ok())
                .ok_or_else(|| integrity("no value length"))?;
            if !key_len_ok(kt, len) {
                return Err(integrity("key type or length unsupported"));
            }
            if secret.as_ref().is_some_and(|s| s.len() != len) {
                return Err(integrity("key length does not match CKA_VALUE_LEN"));
            }
            Some(kt)
        } else {
            None
        };
        Ok(Object {
            class,
            key_type,
            attrs,
            secret,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unnecessary_cast)] // The casts matter where CK_ULONG is u32.
mod tests {
    use super::super::{AttrRead, Origin, TemplateAttr as T};
    use super::*;

    fn sample_key() -> Object {
        let t = [
            T::ulong(sys::CKA_VALUE_LEN, 32),
            T::bytes(sys::CKA_LABEL, b"orders"),
            T::bytes(sys::CKA_ID, &[1, 2, 3]),
            T::bytes(sys::CKA_START_DATE, b"20250101"),
            T::ulongs(
                sys::CKA_ALLOWED_MECHANISMS,
                &[sys::CKM_AES_GCM, sys::CKM_AES_KEY_WRAP],
            ),
            T::bool(sys::CKA_TOKEN, true),
            T::bool(sys::CKA_SENSITIVE, true),
        ];
        let origin = Origin::Generate {
            mechanism: sys::CKM_AES_KEY_GEN,
            key_type: sys::CKK_AES,
        };
        let mut o = Object::from_template(&t, origin, Some(Zeroizing::new(vec![5; 32])), false)
            .expect("gen");
        o.set_unique_id("3f2a");
        o.set_token_attr(KEYROTOR_VENDOR_ATTR_BASE + 1, &7u64.to_ne_bytes())
            .expect("vendor");
        o
    }

    #[test]
    fn round_trip() {
        let o = sample_key();
        let enc = o.encode_public();
        assert_eq!(enc.first(), Some(&FORMAT_V1));
        // The key value is not in the public encoding.
        assert!(!enc.windows(32).any(|w| w == [5; 32]));
        let d = Object::decode(&enc, Some(Zeroizing::new(vec![5; 32]))).expect("decode");
        assert_eq!(d.attrs, o.attrs);
        assert_eq!(d.secret_value(), Some(&[5u8; 32][..]));
        assert_eq!(d.encode_public(), enc);
        assert_eq!(
            d.ulong_attr(sys::CKA_KEY_GEN_MECHANISM),
            Some(sys::CKM_AES_KEY_GEN)
        );
        // Without the value: loads, but the value cannot be read.
        let d = Object::decode(&enc, None).expect("decode");
        assert!(!d.has_secret());
        assert_eq!(d.get(sys::CKA_VALUE), AttrRead::Sensitive);
        assert_eq!(d.value_len(), Some(32));
    }

    #[test]
    fn portable_integers() {
        let key = sample_key();
        let enc = key.encode_public();
        // Count, then CKA_CLASS (type 0) first: length 8, CKO_SECRET_KEY as u64-LE.
        let mut want = vec![FORMAT_V1];
        want.extend_from_slice(&(key.attrs.len() as u32).to_le_bytes());
        want.extend_from_slice(&0u64.to_le_bytes());
        want.extend_from_slice(&8u32.to_le_bytes());
        want.extend_from_slice(&(sys::CKO_SECRET_KEY as u64).to_le_bytes());
        assert_eq!(&enc[..want.len()], want.as_slice());
        // CK_UNAVAILABLE_INFORMATION travels as u64::MAX.
        let t = [
            T::ulong(sys::CKA_CLASS, sys::CKO_SECRET_KEY),
            T::ulong(sys::CKA_KEY_TYPE, sys::CKK_AES),
            T::bytes(sys::CKA_VALUE, &[1; 16]),
        ];
        let o = Object::from_template(&t, Origin::Create, None, false).expect("create");
        let enc = o.encode_public();
        let mut needle = (sys::CKA_KEY_GEN_MECHANISM as u64).to_le_bytes().to_vec();
        needle.extend_from_slice(&8u32.to_le_bytes());
        needle.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(enc.windows(needle.len()).any(|w| w == needle.as_slice()));
    }

    #[test]
    fn every_truncated_prefix_fails() {
        let enc = sample_key().encode_public();
        for i in 0..enc.len() {
            assert!(
                Object::decode(&enc[..i], None).is_err(),
                "prefix {i} decoded"
            );
        }
        let mut long = enc.clone();
        long.push(0);
        assert!(Object::decode(&long, None).is_err());
    }

    #[test]
    fn corrupted_input_never_panics() {
        let enc = sample_key().encode_public();
        let mut rejected = 0;
        for i in 0..enc.len() {
            for bit in 0..8 {
                let mut bad = enc.clone();
                bad[i] ^= 1 << bit;
                let r = Object::decode(&bad, None);
                // Any flip in the header (format byte, count) must be caught.
                assert!(i >= 5 || r.is_err(), "header flip at {i}:{bit} accepted");
                rejected += usize::from(r.is_err());
            }
        }
        // Only flips inside free-form values (label, id, unique id) can survive.
        assert!(
            rejected > enc.len() * 8 / 2,
            "{rejected} of {}",
            enc.len() * 8
        );
        // Pseudo-random garbage, including huge counts and lengths.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for n in 0..2000 {
            let buf: Vec<u8> = (0..n % 97)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            let _ = Object::decode(&buf, None);
        }
    }

    #[test]
    fn strictness() {
        let enc = sample_key().encode_public();
        let is_integrity = |r: Result<Object>| matches!(r, Err(Error::StoreIntegrity(_)));
        let mut v2 = enc.clone();
        v2[0] = 2;
        assert!(is_integrity(Object::decode(&v2, None)));
        assert!(is_integrity(Object::decode(&[], None)));
        // Wrong key length for CKA_VALUE_LEN.
        assert!(is_integrity(Object::decode(
            &enc,
            Some(Zeroizing::new(vec![0; 16]))
        )));

        // Hand-built encodings from (type, bytes) pairs.
        let build = |entries: &[(u64, Vec<u8>)]| {
            let mut out = vec![FORMAT_V1];
            out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
            for (k, v) in entries {
                out.extend_from_slice(&k.to_le_bytes());
                out.extend_from_slice(&(v.len() as u32).to_le_bytes());
                out.extend_from_slice(v);
            }
            out
        };
        let class = |c: u64| (sys::CKA_CLASS as u64, c.to_le_bytes().to_vec());
        let data_rows = |extra: Vec<(u64, Vec<u8>)>| {
            let mut rows = vec![
                class(sys::CKO_DATA as u64),
                (sys::CKA_TOKEN as u64, vec![0]),
                (sys::CKA_PRIVATE as u64, vec![0]),
                (sys::CKA_LABEL as u64, vec![]),
                (sys::CKA_APPLICATION as u64, vec![]),
                (sys::CKA_OBJECT_ID as u64, vec![]),
                (sys::CKA_MODIFIABLE as u64, vec![1]),
                (sys::CKA_COPYABLE as u64, vec![1]),
                (sys::CKA_DESTROYABLE as u64, vec![1]),
            ];
            rows.extend(extra);
            rows.sort_by_key(|r| r.0);
            rows
        };
        let ok = Object::decode(&build(&data_rows(vec![])), None).expect("minimal data object");
        assert_eq!(ok.class(), sys::CKO_DATA);
        // Value in the public part, unknown attribute, bad bool, missing attribute,
        // duplicate, unsupported class.
        let value = (sys::CKA_VALUE as u64, b"x".to_vec());
        assert!(is_integrity(Object::decode(
            &build(&data_rows(vec![value])),
            None
        )));
        let foreign = (sys::CKA_KEY_TYPE as u64, 0u64.to_le_bytes().to_vec());
        assert!(is_integrity(Object::decode(
            &build(&data_rows(vec![foreign])),
            None
        )));
        let mut rows = data_rows(vec![]);
        rows[1].1 = vec![2];
        assert!(is_integrity(Object::decode(&build(&rows), None)));
        let mut rows = data_rows(vec![]);
        rows.pop();
        assert!(is_integrity(Object::decode(&build(&rows), None)));
        let mut rows = data_rows(vec![]);
        let dup = rows[1].clone();
        rows.insert(1, dup);
        assert!(is_integrity(Object::decode(&build(&rows), None)));
        let mut rows = data_rows(vec![]);
        rows[0] = class(sys::CKO_CERTIFICATE as u64);
        assert!(is_integrity(Object::decode(&build(&rows), None)));
    }
}
