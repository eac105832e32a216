//! [gcm] AES-256-GCM through C_EncryptInit+C_Encrypt / C_DecryptInit+C_Decrypt (12-byte IV,
//! 128-bit tag, no AAD) at each size, 1 and 2 threads (each thread its own session, same key),
//! for a session key and for a token key among the populated token objects. Also the shared
//! pieces of the AES-GCM scenarios: sizes, row shapes, and pairing with the ceiling.

use crate::ceiling::{self, Ceiling};
use crate::raw::{ck_err, rv_err, rv_name};
use crate::rows::{thousands, Outcome, Row};
use crate::scen_keys::{find_key, generate, TARGET_LABEL};
use crate::setup::{thread_session, Loaded};
use crate::stats::{measure, measure_paired, Measurement, Plan};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::ObjectHandle;
use cryptoki::session::Session;
use cryptoki_sys as sys;

/// Plaintext sizes measured.
pub const SIZES: [u64; 3] = [64, 4096, 1 << 20];
/// Thread counts measured.
pub const THREADS: [u32; 2] = [1, 2];
/// GCM tag length in bytes.
pub const TAG: usize = 16;

/// Human name of a size for scenario labels.
pub fn size_name(size: u64) -> String {
    const MIB: u64 = 1 << 20;
    const KIB: u64 = 1 << 10;
    match size {
        s if s >= MIB && s & (MIB - 1) == 0 => format!("{} MiB", s >> 20),
        s if s >= KIB && s & (KIB - 1) == 0 => format!("{} KiB", s >> 10),
        s => format!("{s} B"),
    }
}

/// Advances the IV's low 8 bytes as a counter so no two encryptions reuse an IV.
pub fn bump(iv: &mut [u8; 12]) {
    // Fixed sizes: bytes 4..12 of a 12-byte array are exactly 8, so neither copy can panic.
    let mut lo = [0u8; 8];
    lo.copy_from_slice(&iv[4..]);
    iv[4..].copy_from_slice(&(u64::from_le_bytes(lo).wrapping_add(1)).to_le_bytes());
}

/// The same outcome (a skip or a setup failure) in every size × threads cell of the scenarios,
/// so the cells line up with other modules' measured rows.
pub fn fill(group: &str, names: &[(String, &'static str); 2], outcome: &Outcome) -> Vec<Row> {
    let mut rows = Vec::new();
    for size in SIZES {
        for threads in THREADS {
            for (name, op) in names {
                let row = Row {
                    size: Some(size),
                    threads,
                    ..Row::new(group, name.clone(), outcome.clone())
                };
                rows.push(row.with_ceiling(op));
            }
        }
    }
    rows
}

/// Measures a module loop; with `ceil`, in alternating repeats with the in-process loop doing
/// the same operation ("enc" or "dec") at the same size and thread count.
#[allow(clippy::too_many_arguments)]
pub fn vs_ceiling<S, M, F>(
    plan: &Plan,
    threads: u32,
    size: u64,
    op: &str,
    ceil: Option<&Ceiling>,
    make: M,
    f: F,
) -> (
    Result<Measurement, String>,
    Option<Result<Measurement, String>>,
)
where
    M: Fn(usize) -> Result<S, String> + Sync,
    F: Fn(&mut S) -> Result<(), String> + Sync,
{
    let (t, n) = (threads as usize, size as usize);
    match ceil {
        None => (measure(plan, t, make, f), None),
        Some(c) if op == "enc" => {
            let (a, b) = measure_paired(plan, t, (make, f), (|i| c.make_enc(i, n), |s| c.enc(s)));
            (a, Some(b))
        }
        Some(c) => {
            let (a, b) = measure_paired(plan, t, (make, f), (|_| c.make_dec(n), |s| c.dec(s)));
            (a, Some(b))
        }
    }
}

/// Scenario names (with their ceiling join key) of one key's GCM rows.
fn gcm_names(key_name: &str) -> [(String, &'static str); 2] {
    [
        (format!("AES-GCM enc, {key_name}"), "enc"),
        (format!("AES-GCM dec, {key_name}"), "dec"),
    ]
}

/// Per-thread state of a GCM loop: own session, own IV counter, preallocated buffers.
pub struct GcmState {
    /// This thread's session.
    pub session: Session,
    /// The IV of the next op.
    pub iv: [u8; 12],
    /// Plaintext (enc) or ciphertext || tag (dec).
    pub input: Vec<u8>,
    /// Output buffer, large enough for any result.
    pub out: Vec<u8>,
}

/// Encrypts `plain` once (untimed) into `ct` (ciphertext || tag) and decrypts it back, so a
/// module that returns CKR_OK with wrong output cannot score: the loops only run if this holds.
pub fn gcm_round_trip(
    loaded: &Loaded,
    anchor: &Session,
    key: sys::CK_OBJECT_HANDLE,
    iv: [u8; 12],
    plain: &[u8],
    ct: &mut [u8],
) -> Result<(), String> {
    let raw = &loaded.raw;
    let n = raw
        .gcm_encrypt(anchor.handle(), key, &mut iv.clone(), plain, ct)
        .map_err(|rv| format!("round-trip check: C_Encrypt: {}", rv_name(rv)))?;
    if n != plain.len() + TAG {
        return Err(format!(
            "round-trip check: C_Encrypt wrote {n} bytes, expected {}",
            plain.len() + TAG
        ));
    }
    let mut back = vec![0u8; ct.len()];
    let m = raw
        .gcm_decrypt(anchor.handle(), key, &mut iv.clone(), ct, &mut back)
        .map_err(|rv| format!("round-trip check: C_Decrypt: {}", rv_name(rv)))?;
    if back.get(..m) != Some(plain) {
        return Err("round-trip check: C_Decrypt returned other bytes than were encrypted".into());
    }
    Ok(())
}

/// All sizes × threads × {enc, dec} for one key. With `ceil`, every loop is paired with the
/// ceiling; `ceiling_rows` also emits those ceiling measurements as [ceiling] rows.
fn gcm_for_key(
    loaded: &Loaded,
    anchor: &Session,
    plan: &Plan,
    key: ObjectHandle,
    key_name: &str,
    ceil: Option<&Ceiling>,
    ceiling_rows: bool,
) -> Vec<Row> {
    let mut rows = Vec::new();
    let [(enc_name, _), (dec_name, _)] = gcm_names(key_name);
    let raw = &loaded.raw;
    for size in SIZES {
        let n = size as usize;
        // One ciphertext||tag made with a fixed IV, decrypted over and over by the dec loops.
        let plain = vec![0x5au8; n];
        let mut ct = vec![0u8; n + TAG];
        let fixed_iv = [7u8; 12];
        let made = gcm_round_trip(loaded, anchor, key.handle(), fixed_iv, &plain, &mut ct);
        for threads in THREADS {
            let make_enc = |i: usize| {
                let mut iv = [0u8; 12];
                iv[0] = i as u8; // index 0 of a 12-byte array: cannot panic
                let session = thread_session(loaded)?;
                Ok(GcmState {
                    session,
                    iv,
                    input: plain.clone(),
                    out: vec![0u8; n + TAG],
                })
            };
            let enc = |s: &mut GcmState| {
                bump(&mut s.iv);
                raw.gcm_encrypt(
                    s.session.handle(),
                    key.handle(),
                    &mut s.iv,
                    &s.input,
                    &mut s.out,
                )
                .map(|_| ())
                .map_err(rv_err)
            };
            let make_dec = |_| {
                let session = thread_session(loaded)?;
                Ok(GcmState {
                    session,
                    iv: fixed_iv,
                    input: ct.clone(),
                    out: vec![0u8; n + TAG],
                })
            };
            let dec = |s: &mut GcmState| {
                raw.gcm_decrypt(
                    s.session.handle(),
                    key.handle(),
                    &mut s.iv,
                    &s.input,
                    &mut s.out,
                )
                .map(|_| ())
                .map_err(rv_err)
            };
            for (op, name) in [("enc", &enc_name), ("dec", &dec_name)] {
                let (r, c) = match &made {
                    Err(e) => (Err(e.clone()), None),
                    Ok(()) if op == "enc" => {
                        vs_ceiling(plan, threads, size, op, ceil, make_enc, enc)
                    }
                    Ok(()) => vs_ceiling(plan, threads, size, op, ceil, make_dec, dec),
                };
                if let (true, Some(c)) = (ceiling_rows, &c) {
                    rows.push(ceiling::row(op, size, threads, c.clone()));
                }
                rows.push(
                    Row::measured("gcm", name.clone(), Some(size), threads, r)
                        .with_ceiling(op)
                        .with_paired(c),
                );
            }
        }
    }
    rows
}

/// [gcm] session key and the token key among the populated token objects, plus one row showing
/// what the `cryptoki` convenience wrapper (length query + Vec per op) costs on top. With
/// `ceil` (the first module's worker) the loops are paired with the in-process ceiling.
pub fn gcm(
    loaded: &Loaded,
    anchor: &Session,
    plan: &Plan,
    objects: u64,
    ceil: Option<&Ceiling>,
) -> Vec<Row> {
    let objects = thousands(objects);
    let mut rows = Vec::new();
    match generate(anchor, false, "bench-session-key") {
        Ok(key) => {
            rows.extend(gcm_for_key(
                loaded,
                anchor,
                plan,
                key,
                "session key",
                ceil,
                true,
            ));
            rows.push(wrapper_row(loaded, plan, key));
        }
        Err(error) => rows.extend(fill(
            "gcm",
            &gcm_names("session key"),
            &Outcome::Error { error },
        )),
    }
    let key_name = format!("token key among {objects}");
    match find_key(anchor, TARGET_LABEL) {
        Ok(key) => rows.extend(gcm_for_key(
            loaded, anchor, plan, key, &key_name, ceil, false,
        )),
        Err(error) => rows.extend(fill(
            "gcm",
            &gcm_names(&key_name),
            &Outcome::Error { error },
        )),
    }
    rows
}

/// 64 B encrypt through `cryptoki::Session::encrypt` (C_EncryptInit + C_Encrypt(NULL) + C_Encrypt
/// + Vec), 1 thread, session key.
fn wrapper_row(loaded: &Loaded, plan: &Plan, key: ObjectHandle) -> Row {
    let r = measure(
        plan,
        1,
        |_| Ok((thread_session(loaded)?, [0u8; 12], vec![0x5au8; 64])),
        |(s, iv, input): &mut (Session, [u8; 12], Vec<u8>)| {
            bump(iv);
            let params = GcmParams::new(iv, &[], 128u64.into()).map_err(|e| e.to_string())?;
            s.encrypt(&Mechanism::AesGcm(params), key, input)
                .map(|_| ())
                .map_err(ck_err)
        },
    );
    let name = "AES-GCM enc via cryptoki Session::encrypt (adds length query + Vec), session key";
    Row::measured("gcm", name, Some(64), 1, r).with_ceiling("enc")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iv_counter_and_size_names() {
        let mut iv = [0u8; 12];
        iv[4..].copy_from_slice(&u64::MAX.to_le_bytes());
        bump(&mut iv);
        assert_eq!(iv, [0u8; 12]);
        bump(&mut iv);
        assert_eq!(iv[4], 1);
        assert_eq!(size_name(64), "64 B");
        assert_eq!(size_name(4096), "4 KiB");
        assert_eq!(size_name(1 << 20), "1 MiB");
        assert_eq!(size_name(1000), "1000 B");
    }

    #[test]
    fn fill_lines_up_with_measured_rows() {
        let rows = fill(
            "gcm",
            &gcm_names("k"),
            &Outcome::Skipped { reason: "x".into() },
        );
        assert_eq!(rows.len(), SIZES.len() * THREADS.len() * 2);
        assert_eq!(
            rows[0].key(),
            ("gcm".to_string(), "AES-GCM enc, k".to_string(), Some(64), 1)
        );
        assert_eq!(rows[1].ceiling.as_deref(), Some("dec"));
    }
}
