//! [rotor] The envelope mechanism CKM_KEYROTOR_AES_GCM_ENVELOPE (keyrotor only): C_EncryptInit +
//! C_Encrypt and C_DecryptInit + C_Decrypt through the current object of the target token key,
//! at every size and thread count of the gcm group, each loop alternating with the in-process
//! AES-GCM ceiling when this worker measures it.

use crate::ceiling::Ceiling;
use crate::raw::call_err;
use crate::rows::{thousands, Outcome, Row};
use crate::scen_gcm::{fill, vs_ceiling, SIZES, THREADS};
use crate::scen_keys::{find_key, TARGET_LABEL};
use crate::scen_rotor::{BASE, GROUP};
use crate::setup::{thread_session, Loaded};
use crate::stats::Plan;
use cryptoki::session::Session;
use cryptoki_sys as sys;

/// CKM_KEYROTOR_AES_GCM_ENVELOPE; its optional parameter is the AAD as raw bytes (none here).
pub const CKM_ENVELOPE: sys::CK_MECHANISM_TYPE = sys::CKM_VENDOR_DEFINED | (BASE + 1);
/// Bytes an envelope adds: 0x01 | version (4) | IV (12) | ciphertext | tag (16).
pub const ENVELOPE_OVERHEAD: usize = 33;

/// Scenario names (with their ceiling join key) of the envelope rows.
fn envelope_names(key_name: &str) -> [(String, &'static str); 2] {
    [
        (
            format!("envelope enc (CKM_KEYROTOR_AES_GCM_ENVELOPE, no AAD), {key_name}"),
            "enc",
        ),
        (format!("envelope dec, {key_name}"), "dec"),
    ]
}

/// Per-thread state of an envelope loop.
struct EnvState {
    session: Session,
    input: Vec<u8>,
    out: Vec<u8>,
}

/// Seals `plain` once (untimed) into `env` and opens it again. The loops only run if the
/// envelope is exactly 33 bytes longer, starts with format byte 0x01, does not carry the
/// plaintext in the clear, and opens to the plaintext.
fn envelope_round_trip(
    loaded: &Loaded,
    anchor: &Session,
    key: sys::CK_OBJECT_HANDLE,
    plain: &[u8],
    env: &mut Vec<u8>,
) -> Result<(), String> {
    let raw = &loaded.raw;
    let check = |e: (&'static str, sys::CK_RV)| format!("round-trip check: {}", call_err(e));
    // Room for more than the promised overhead, so a longer envelope shows as such.
    let mut buf = vec![0u8; plain.len() + ENVELOPE_OVERHEAD + 64];
    let n = raw
        .crypt(
            anchor.handle(),
            CKM_ENVELOPE,
            None,
            key,
            plain,
            &mut buf,
            false,
        )
        .map_err(check)?;
    if n != plain.len() + ENVELOPE_OVERHEAD {
        return Err(format!(
            "round-trip check: envelope of {} B plaintext is {n} B, overhead {} (expected {ENVELOPE_OVERHEAD})",
            plain.len(),
            n as i64 - plain.len() as i64
        ));
    }
    buf.truncate(n);
    if buf.first() != Some(&0x01) {
        return Err("round-trip check: envelope does not start with format byte 0x01".into());
    }
    if buf.get(17..17 + plain.len()) == Some(plain) {
        return Err("round-trip check: envelope carries the plaintext unencrypted".into());
    }
    let mut back = vec![0u8; n];
    let m = raw
        .crypt(
            anchor.handle(),
            CKM_ENVELOPE,
            None,
            key,
            &buf,
            &mut back,
            true,
        )
        .map_err(check)?;
    if back.get(..m) != Some(plain) {
        return Err("round-trip check: envelope opened to other bytes than were sealed".into());
    }
    *env = buf;
    Ok(())
}

/// Envelope enc/dec at every size and thread count through the target token key's current
/// object; with `ceil`, each loop alternates with the in-process AES-GCM ceiling.
pub fn envelope(
    loaded: &Loaded,
    anchor: &Session,
    plan: &Plan,
    objects: u64,
    ceil: Option<&Ceiling>,
) -> Vec<Row> {
    let names = envelope_names(&format!(
        "current object of token key among {}",
        thousands(objects)
    ));
    let key = match find_key(anchor, TARGET_LABEL) {
        Ok(k) => k.handle(),
        Err(error) => return fill(GROUP, &names, &Outcome::Error { error }),
    };
    let raw = &loaded.raw;
    let mut rows = Vec::new();
    for size in SIZES {
        let n = size as usize;
        let plain = vec![0x5au8; n];
        let mut env = Vec::new();
        let made = envelope_round_trip(loaded, anchor, key, &plain, &mut env);
        for threads in THREADS {
            let make = |decrypt: bool| {
                let session = thread_session(loaded)?;
                let input = if decrypt { env.clone() } else { plain.clone() };
                Ok(EnvState {
                    session,
                    input,
                    out: vec![0u8; n + ENVELOPE_OVERHEAD],
                })
            };
            let run = |decrypt: bool| {
                move |s: &mut EnvState| {
                    raw.crypt(
                        s.session.handle(),
                        CKM_ENVELOPE,
                        None,
                        key,
                        &s.input,
                        &mut s.out,
                        decrypt,
                    )
                    .map(|_| ())
                    .map_err(call_err)
                }
            };
            for (name, op) in &names {
                let decrypt = *op == "dec";
                let (r, c) = match &made {
                    Err(e) => (Err(e.clone()), None),
                    Ok(()) => vs_ceiling(
                        plan,
                        threads,
                        size,
                        op,
                        ceil,
                        |_| make(decrypt),
                        run(decrypt),
                    ),
                };
                rows.push(
                    Row::measured(GROUP, name.clone(), Some(size), threads, r)
                        .with_ceiling(op)
                        .with_paired(c),
                );
            }
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mechanism_number_matches_keyrotor_h() {
        assert_eq!(CKM_ENVELOPE, 0x8000_0000 | 0x4B52_0001);
        let names = envelope_names("k");
        assert_eq!(names[0].1, "enc");
        assert_eq!(names[1].0, "envelope dec, k");
    }
}
