//! Target `store_records`: the decoders for bytes and text that come from
//! disk or the database, called directly. The first byte picks the decoder;
//! successful decodes must re-encode to what was read.

use cryptoki_sys as sys;
use keyrotor::config::Config;
use keyrotor::keys::cron::CronSchedule;
use keyrotor::keys::policy::Policy;
use keyrotor::mech::envelope;
use keyrotor::object::{AttrRead, Object};
use keyrotor::store::crypt::{DataKeys, WrappedStorageKey};
use zeroize::Zeroizing;

use super::template::KNOWN_TYPES;

/// Milliseconds in a day.
const DAY_MS: i128 = 86_400_000;

/// Runs one input.
pub fn run(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    match sel % 7 {
        0 => object(rest),
        1 => wrapped_storage_key(rest),
        2 => envelope_blob(rest),
        3 => data_key_blob(rest),
        4 => policy(rest),
        5 => config(rest),
        _ => cron(rest),
    }
}

/// `Object::decode`: first byte = secret length (0xFF: none), then the
/// public encoding. A decoded object re-encodes byte for byte (the format is
/// canonical) and the re-encoding decodes to the same object.
fn object(rest: &[u8]) {
    let Some((&slen, public)) = rest.split_first() else {
        return;
    };
    let secret = (slen != 0xFF).then(|| Zeroizing::new(vec![0x42; usize::from(slen)]));
    let Ok(o) = Object::decode(public, secret.clone()) else {
        return;
    };
    let enc = o.encode_public();
    assert_eq!(
        enc, public,
        "Object::decode accepted a non-canonical encoding"
    );
    let again = match Object::decode(&enc, secret) {
        Ok(a) => a,
        Err(e) => panic!("re-encoded object does not decode: {e}"),
    };
    assert_eq!(again.encode_public(), enc, "decode/encode not stable");
    assert_eq!(again.class(), o.class());
    assert_eq!(again.key_type(), o.key_type());
    for &k in KNOWN_TYPES {
        assert_eq!(o.get(k), again.get(k), "attribute {k:#x} differs");
        if k == sys::CKA_VALUE && slen == 0xFF {
            assert!(
                !matches!(o.get(k), AttrRead::Value(_)),
                "value readable though none was loaded"
            );
        }
    }
}

/// `WrappedStorageKey::from_bytes` is the strict inverse of `to_bytes`.
fn wrapped_storage_key(rest: &[u8]) {
    if let Ok(w) = WrappedStorageKey::from_bytes(rest) {
        assert_eq!(w.to_bytes(), rest, "WrappedStorageKey does not round-trip");
    }
}

/// `envelope::parse` splits exactly at the documented offsets.
fn envelope_blob(rest: &[u8]) {
    match envelope::parse(rest) {
        Ok(e) => {
            assert!(rest.len() >= envelope::OVERHEAD);
            assert_eq!(rest[0], envelope::FORMAT);
            assert_eq!(e.header, &rest[..envelope::HEADER_LEN]);
            assert_eq!(
                e.version,
                u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]])
            );
            assert_eq!(e.iv.len(), envelope::IV_LEN);
            assert_eq!(
                e.sealed.len(),
                rest.len() - envelope::HEADER_LEN - envelope::IV_LEN
            );
            assert!(e.sealed.len() >= envelope::TAG_LEN);
        }
        Err(_) => assert!(rest.len() < envelope::OVERHEAD || rest[0] != envelope::FORMAT),
    }
}

/// `DataKeys::blob_key_id` reads the id of a format-2 header.
fn data_key_blob(rest: &[u8]) {
    let want = match rest {
        [2, a, b, c, d, ..] => Some(u32::from_be_bytes([*a, *b, *c, *d])),
        _ => None,
    };
    assert_eq!(DataKeys::blob_key_id(rest), want);
}

/// `Policy::from_json` (UTF-8 lossy); a parsed policy round-trips through
/// its JSON form.
fn policy(rest: &[u8]) {
    let text = String::from_utf8_lossy(rest);
    if let Ok(p) = Policy::from_json(&text) {
        let _ = p.validate();
        let json = p.to_json();
        match Policy::from_json(&json) {
            Ok(p2) => assert_eq!(p2, p, "policy JSON does not round-trip"),
            Err(e) => panic!("policy's own JSON does not parse: {e}"),
        }
    }
}

/// `Config::from_toml`: anything may be refused, nothing may panic.
fn config(rest: &[u8]) {
    let text = String::from_utf8_lossy(rest);
    let _ = Config::from_toml(&text, "fuzz");
}

/// `CronSchedule::parse` and `next_after`: first 8 bytes are the start time
/// (i64 LE), the rest the expression. The answer is a whole minute after
/// the start, within the documented window, and is also the answer for any
/// time between the start and itself.
fn cron(rest: &[u8]) {
    let mut t = [0u8; 8];
    let n = rest.len().min(8);
    t[..n].copy_from_slice(&rest[..n]);
    let start = i64::from_le_bytes(t);
    let text = String::from_utf8_lossy(&rest[n..]);
    let Ok(c) = CronSchedule::parse(&text) else {
        return;
    };
    let Some(r) = c.next_after(start) else {
        return;
    };
    assert!(r > start, "next_after({start}) = {r} is not later");
    assert_eq!(
        r.rem_euclid(60_000),
        0,
        "next_after({start}) = {r}: not a minute"
    );
    let gap = i128::from(r) - i128::from(start);
    assert!(
        gap <= (5 * 366 + 2) * DAY_MS,
        "next_after({start}) = {r}: beyond the search window"
    );
    assert_eq!(c.next_after(r - 1), Some(r), "{text:?}: not stable at {r}");
    let mid = start + ((r - start) / 2);
    assert_eq!(
        c.next_after(mid),
        Some(r),
        "{text:?}: from {mid}, between {start} and {r}"
    );
}
