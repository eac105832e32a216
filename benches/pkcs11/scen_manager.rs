//! [rotor] The hot path with keyrotor's key manager running in the library vs not at all: AES-GCM
//! enc 64 B and 4 KiB, 1 thread, through the target token key, in worker processes whose
//! environment the parent chose (KEYROTOR_MANAGER=external in the "off" workers only); and, on
//! the parent side, the on/off ratio rows.

use crate::raw::rv_err;
use crate::rows::{thousands, Outcome, Row};
use crate::scen_gcm::{bump, gcm_round_trip, GcmState, TAG};
use crate::scen_keys::{find_key, TARGET_LABEL};
use crate::scen_rotor::GROUP;
use crate::setup::{thread_session, Loaded};
use crate::stats::{measure, Plan};
use cryptoki::session::Session;
use std::time::Duration;

/// Environment variable that moves keyrotor's key manager out of the library.
pub const ENV_MANAGER: &str = "KEYROTOR_MANAGER";

/// Whether this process runs keyrotor's key manager (the library's default).
pub fn manager_in_library() -> bool {
    std::env::var(ENV_MANAGER).map_or(true, |v| v != "external")
}

/// Scenario name of the manager on/off rows.
pub fn manager_name(objects: u64, in_library: bool) -> String {
    let mode = if in_library {
        "key manager running in the library (default)"
    } else {
        "no key manager (KEYROTOR_MANAGER=external)"
    };
    format!(
        "AES-GCM enc, token key among {}, {mode}",
        thousands(objects)
    )
}

/// Sizes of the manager on/off comparison.
pub const MANAGER_SIZES: [u64; 2] = [64, 4096];

/// AES-GCM enc 64 B and 4 KiB, 1 thread, through the target token key, in a process whose
/// manager is on or off (as its environment says). Waits 1 s first (untimed) so a running
/// manager has ticked, taken the lease and done its first full scan before anything is timed.
pub fn manager(loaded: &Loaded, anchor: &Session, plan: &Plan, objects: u64) -> Vec<Row> {
    let name = manager_name(objects, manager_in_library());
    let key = match find_key(anchor, TARGET_LABEL) {
        Ok(k) => k.handle(),
        Err(e) => return vec![Row::error(GROUP, name, e)],
    };
    std::thread::sleep(Duration::from_secs(1));
    let raw = &loaded.raw;
    let mut rows = Vec::new();
    for size in MANAGER_SIZES {
        let n = size as usize;
        let plain = vec![0x5au8; n];
        let mut ct = vec![0u8; n + TAG];
        let r = gcm_round_trip(loaded, anchor, key, [7u8; 12], &plain, &mut ct).and_then(|()| {
            measure(
                plan,
                1,
                |_| {
                    Ok(GcmState {
                        session: thread_session(loaded)?,
                        iv: [0u8; 12],
                        input: plain.clone(),
                        out: vec![0u8; n + TAG],
                    })
                },
                |s: &mut GcmState| {
                    bump(&mut s.iv);
                    raw.gcm_encrypt(s.session.handle(), key, &mut s.iv, &s.input, &mut s.out)
                        .map(|_| ())
                        .map_err(rv_err)
                },
            )
        });
        rows.push(Row::measured(GROUP, name.clone(), Some(size), 1, r));
    }
    rows
}

/// Parent side: "on / off" ops/s ratio rows from the merged manager rows of both modes.
pub fn manager_ratios(rows: &[Row], objects: u64) -> Vec<Row> {
    let rate = |on: bool, size: u64| {
        let name = manager_name(objects, on);
        rows.iter().find_map(|r| match &r.outcome {
            Outcome::Measured { m, .. }
                if r.group == GROUP && r.scenario == name && r.size == Some(size) =>
            {
                Some(m.ops_per_s)
            }
            _ => None,
        })
    };
    MANAGER_SIZES
        .iter()
        .filter_map(|&size| {
            let (on, off) = (rate(true, size)?, rate(false, size)?);
            let scen = format!(
                "AES-GCM enc ops/s, token key among {}: manager in library / no manager (target ≥ 0.90)",
                thousands(objects)
            );
            Some(Row {
                size: Some(size),
                ..Row::value(GROUP, scen, on / off.max(f64::MIN_POSITIVE), "×")
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Measurement;

    #[test]
    fn manager_names_differ_by_mode() {
        assert_eq!(
            manager_name(1000, false),
            "AES-GCM enc, token key among 1,000, no key manager (KEYROTOR_MANAGER=external)"
        );
        assert_ne!(manager_name(1000, true), manager_name(1000, false));
    }

    #[test]
    fn manager_ratio_divides_on_by_off() {
        let m = |ops: f64| Measurement {
            ops_per_s: ops,
            repeat_ops_per_s: vec![ops],
            total_ops: 1,
            p50_ns: 1.0,
            p99_ns: 1.0,
            latency_samples: 1,
            sample_stride: 1,
            cpu_share: 1.0,
            load1: 0.0,
        };
        let rows = vec![
            Row::measured(GROUP, manager_name(1000, true), Some(64), 1, Ok(m(900.0))),
            Row::measured(GROUP, manager_name(1000, false), Some(64), 1, Ok(m(1000.0))),
            Row::measured(
                GROUP,
                manager_name(1000, true),
                Some(4096),
                1,
                Err("x".into()),
            ),
        ];
        let r = manager_ratios(&rows, 1000);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].size, Some(64));
        assert!(
            matches!(r[0].outcome, Outcome::Value { value, .. } if (value - 0.9).abs() < 1e-12)
        );
    }
}
