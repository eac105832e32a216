//! [rotor] keyrotor-only scenarios (vendor mechanism and attributes, so other modules get no
//! cells). This file: the group's shared constants, and AES-GCM latency through a current object
//! while its key rotates every second against a key that never rotates. The envelope mechanism
//! is in scen_envelope.rs, the key manager on/off comparison in scen_manager.rs.

use crate::raw::{ck_err, rv_name};
use crate::rows::Row;
use crate::scen_gcm::{bump, GcmState, TAG};
use crate::scen_keys::{aes_template, find_key};
use crate::setup::{thread_session, Loaded};
use crate::stats::{measure, Measurement, Plan};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, ObjectHandle};
use cryptoki::session::Session;
use cryptoki_sys as sys;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Report group of these rows.
pub const GROUP: &str = "rotor";
/// keyrotor's vendor range: CKA_/CKM_VENDOR_DEFINED | 0x4B520000 ("KR") + n (include/keyrotor.h).
pub const BASE: sys::CK_ULONG = 0x4B52_0000;
/// Measured time (all repeats together) of each latency run: ≥ 5 rotations at one per second
/// plus the manager's 200 ms tick of slack.
pub const ROTATION_WINDOW: Duration = Duration::from_secs(7);
/// Fewest rotations the rotating-key run must see to count.
const MIN_ROTATIONS: u64 = 5;
/// A single op slower than this is counted as a stall.
const STALL_NS: u64 = 1_000_000;

/// `CKA_VENDOR_DEFINED | 0x4B520000 + n`.
const fn cka(n: sys::CK_ULONG) -> sys::CK_ATTRIBUTE_TYPE {
    sys::CKA_VENDOR_DEFINED | (BASE + n)
}
const CKA_VERSION: sys::CK_ATTRIBUTE_TYPE = cka(1);
const CKA_STATE: sys::CK_ATTRIBUTE_TYPE = cka(2);
const CKA_ROTATION_PERIOD: sys::CK_ATTRIBUTE_TYPE = cka(3);
const CKA_GRACE_PERIOD: sys::CK_ATTRIBUTE_TYPE = cka(5);
const CKA_RETENTION: sys::CK_ATTRIBUTE_TYPE = cka(6);
const CKA_VALID_PERIOD: sys::CK_ATTRIBUTE_TYPE = cka(9);
const CKA_KEEP_VERSIONS: sys::CK_ATTRIBUTE_TYPE = cka(10);
const CKA_MANUAL_ONLY: sys::CK_ATTRIBUTE_TYPE = cka(11);

/// Name of a CKA_KEYROTOR_STATE value.
fn state_name(v: u64) -> String {
    let name = match v {
        1 => "Active",
        2 => "Valid",
        3 => "Grace",
        4 => "Revoked",
        5 => "Destroyed",
        6 => "Compromised",
        _ => "unknown",
    };
    format!("{name} ({v})")
}

/// C_GenerateKey of an AES-256 token key with keyrotor policy attributes (CK_ULONG values).
fn create_key(
    anchor: &Session,
    label: &str,
    policy: &[(sys::CK_ATTRIBUTE_TYPE, u64)],
) -> Result<ObjectHandle, String> {
    let mut t = aes_template(true, label);
    for (kind, v) in policy {
        let bytes = (*v as sys::CK_ULONG).to_ne_bytes().to_vec();
        t.push(Attribute::VendorDefined((
            AttributeType::VendorDefined(*kind),
            bytes,
        )));
    }
    anchor
        .generate_key(&Mechanism::AesKeyGen, &t)
        .map_err(ck_err)
}

/// Reads a CK_ULONG vendor attribute.
// CK_ULONG is u64 here but 32 bits on Windows; the conversion is needed there.
#[allow(clippy::useless_conversion)]
fn read_ulong(s: &Session, obj: ObjectHandle, kind: sys::CK_ATTRIBUTE_TYPE) -> Result<u64, String> {
    let attrs = s
        .get_attributes(obj, &[AttributeType::VendorDefined(kind)])
        .map_err(ck_err)?;
    match attrs.first() {
        Some(Attribute::VendorDefined((_, b))) => {
            let arr: [u8; std::mem::size_of::<sys::CK_ULONG>()] = b
                .as_slice()
                .try_into()
                .map_err(|_| format!("attribute {kind:#x} is {} bytes, not a CK_ULONG", b.len()))?;
            Ok(u64::from(sys::CK_ULONG::from_ne_bytes(arr)))
        }
        _ => Err(format!("attribute {kind:#x} not returned")),
    }
}

/// One latency run: AES-GCM 64 B enc, 1 thread, through `key`. Every op is timed (beside the
/// engine's sampling) so the slowest op of the timed repeats and the number of stalls are exact.
struct TailRun {
    m: Result<Measurement, String>,
    max_ns: u64,
    stalls: u64,
}

fn latency_run(loaded: &Loaded, plan: &Plan, key: sys::CK_OBJECT_HANDLE) -> TailRun {
    let raw = &loaded.raw;
    let (max_ns, stalls, makes) = (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
    // One thread: the engine calls `make` once for the warm-up, then once per repeat.
    let make = |_| {
        let timed = makes.fetch_add(1, Ordering::Relaxed) > 0;
        Ok((
            GcmState {
                session: thread_session(loaded)?,
                iv: [0u8; 12],
                input: vec![0x5au8; 64],
                out: vec![0u8; 64 + TAG],
            },
            timed,
        ))
    };
    let op = |(s, timed): &mut (GcmState, bool)| {
        bump(&mut s.iv);
        let t = Instant::now();
        let r = raw.gcm_encrypt(s.session.handle(), key, &mut s.iv, &s.input, &mut s.out);
        let ns = t.elapsed().as_nanos() as u64;
        if *timed {
            max_ns.fetch_max(ns, Ordering::Relaxed);
            if ns > STALL_NS {
                stalls.fetch_add(1, Ordering::Relaxed);
            }
        }
        r.map(|_| ())
            .map_err(|rv| format!("C_EncryptInit/C_Encrypt: {}", rv_name(rv)))
    };
    let m = measure(plan, 1, make, op);
    TailRun {
        m,
        max_ns: max_ns.into_inner(),
        stalls: stalls.into_inner(),
    }
}

/// Rows of one latency run: the measurement and its slowest op / stall count.
fn tail_rows(run: &TailRun, name: &str) -> Vec<Row> {
    let mut rows = vec![Row::measured(
        GROUP,
        format!("AES-GCM enc, {name}"),
        Some(64),
        1,
        run.m.clone(),
    )];
    if run.m.is_ok() {
        rows.push(Row::value(
            GROUP,
            format!("slowest single C_EncryptInit+C_Encrypt, {name}"),
            run.max_ns as f64 / 1e9,
            "s",
        ));
        rows.push(Row::value(
            GROUP,
            format!("ops slower than 1 ms, {name}"),
            run.stalls as f64,
            "ops",
        ));
    }
    rows
}

/// p99 latency of AES-GCM 64 B encrypt through a current object while the key rotates every
/// second (versions walk Valid → Grace → Revoked → Destroyed within seconds), against a key
/// that never rotates (measured first, so no rotation work runs beside it). Both keys are
/// destroyed afterwards so later scenarios see the same object counts. `notes` gets the
/// version numbers seen and the oldest version's state.
pub fn rotation(
    loaded: &Loaded,
    anchor: &Session,
    plan: &Plan,
    notes: &mut Vec<String>,
) -> Vec<Row> {
    let plan = Plan {
        duration: plan
            .duration
            .max(ROTATION_WINDOW / plan.repeats.max(1) as u32),
        ..*plan
    };
    let steady_name = "token key that never rotates (MANUAL_ONLY=1), every op timed";
    let rot_name = "token key rotating every 1 s (versions revoked + destroyed), every op timed";
    let mut rows = Vec::new();
    let mut made = Vec::new();

    let steady = create_key(
        anchor,
        "bench-steady",
        &[(CKA_ROTATION_PERIOD, 0), (CKA_MANUAL_ONLY, 1)],
    );
    let steady_run = steady.as_ref().map(|k| {
        made.push(*k);
        let v0 = read_ulong(anchor, *k, CKA_VERSION);
        let run = latency_run(loaded, &plan, k.handle());
        let v1 = read_ulong(anchor, *k, CKA_VERSION);
        if let (Ok(a), Ok(b)) = (&v0, &v1) {
            if a != b {
                notes.push(format!(
                    "rotor: the never-rotating key rotated anyway (v{a} → v{b})"
                ));
            }
        }
        run
    });
    match &steady_run {
        Ok(run) => rows.extend(tail_rows(run, steady_name)),
        Err(e) => rows.push(Row::error(
            GROUP,
            format!("AES-GCM enc, {steady_name}"),
            e.to_string(),
        )),
    }

    let policy = [
        (CKA_ROTATION_PERIOD, 1),
        (CKA_VALID_PERIOD, 1),
        (CKA_GRACE_PERIOD, 1),
        (CKA_RETENTION, 1),
        (CKA_KEEP_VERSIONS, 2),
    ];
    let rot_label = "bench-rotating";
    let rotating = create_key(anchor, rot_label, &policy);
    let rot_run = rotating.as_ref().map_err(String::clone).and_then(|k| {
        made.push(*k);
        let v0 = read_ulong(anchor, *k, CKA_VERSION)?;
        let start = Instant::now();
        let run = latency_run(loaded, &plan, k.handle());
        let secs = start.elapsed().as_secs_f64();
        let v1 = read_ulong(anchor, *k, CKA_VERSION)?;
        let oldest = find_key(anchor, &format!("{rot_label}@v{v0}"))
            .and_then(|o| read_ulong(anchor, o, CKA_STATE))
            .map(state_name)
            .unwrap_or_else(|e| format!("not readable ({e})"));
        notes.push(format!(
            "rotor: the rotating key went v{v0} → v{v1} in {secs:.1} s (warm-up + {} × {:.2} s); its version {v0} was then {oldest}.",
            plan.repeats,
            plan.duration.as_secs_f64()
        ));
        Ok((run, v1.saturating_sub(v0), secs))
    });
    match &rot_run {
        Ok((run, rotations, secs)) => {
            rows.extend(tail_rows(run, rot_name));
            let scen =
                "rotations during the rotating-key run (CKA_KEYROTOR_VERSION after − before)";
            rows.push(if *rotations >= MIN_ROTATIONS {
                Row::value(GROUP, scen, *rotations as f64, "rotations")
            } else {
                Row::error(
                    GROUP,
                    scen,
                    format!("only {rotations} rotations in {secs:.1} s (need ≥ {MIN_ROTATIONS})"),
                )
            });
        }
        Err(e) => rows.push(Row::error(
            GROUP,
            format!("AES-GCM enc, {rot_name}"),
            e.clone(),
        )),
    }
    let p99 = |r: Option<&TailRun>| r.and_then(|t| t.m.as_ref().ok()).map(|m| m.p99_ns);
    let rot_ref = rot_run.as_ref().ok().map(|(r, _, _)| r);
    if let (Some(a), Some(b)) = (p99(rot_ref), p99(steady_run.as_ref().ok())) {
        rows.push(Row::value(
            GROUP,
            "p99 during rotations / p99 without rotation (target ≤ 2×)",
            a / b.max(1.0),
            "×",
        ));
    }
    for k in made {
        if let Err(e) = anchor.destroy_object(k) {
            rows.push(Row::error(
                "setup",
                "destroy the rotation scenario's keys",
                ck_err(e),
            ));
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_numbers_match_keyrotor_h() {
        assert_eq!(CKA_VERSION, 0x8000_0000 | 0x4B52_0001);
        assert_eq!(CKA_ROTATION_PERIOD, 0x8000_0000 | 0x4B52_0003);
        assert_eq!(CKA_GRACE_PERIOD, 0x8000_0000 | 0x4B52_0005);
        assert_eq!(CKA_RETENTION, 0x8000_0000 | 0x4B52_0006);
        assert_eq!(CKA_VALID_PERIOD, 0x8000_0000 | 0x4B52_0009);
        assert_eq!(CKA_KEEP_VERSIONS, 0x8000_0000 | 0x4B52_000A);
        assert_eq!(CKA_MANUAL_ONLY, 0x8000_0000 | 0x4B52_000B);
        assert_eq!(state_name(5), "Destroyed (5)");
    }
}
