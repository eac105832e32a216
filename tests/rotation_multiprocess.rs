//! Four processes load the module against one store while a key rotates
//! every two seconds: exactly one of them leads, so the versions are
//! consecutive with no duplicates or gaps and evenly spaced; when the leader
//! is SIGKILLed another process takes the lease and rotations go on.
//!
//! The children are the `#[ignore]`d test `mp_child` of this binary, started
//! again with `--exact mp_child --ignored`; their role comes from `KR_MP_*`.

#[macro_use]
mod common;
mod rotation_support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::TestToken;
use rotation_support::*;

const KEY: &str = "mp";
const CHILDREN: usize = 4;
/// How long the processes share the store before the checks.
const RUN_MS: i64 = 30_000;

#[test]
#[ignore = "child process of four_processes_share_one_rotation_schedule"]
fn mp_child() {
    let dir = PathBuf::from(role("KR_MP_DIR"));
    let me = role("KR_MP_ID");
    let stop = dir.join("stop");
    let tok = TestToken::attach(&dir);
    let r = &tok.raw;
    let s = tok.user_session();
    let k = current_object(r, s, KEY);
    std::fs::write(dir.join(format!("ready-{me}")), b"").expect("ready file");
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut mine: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    let (mut ops, mut lo, mut hi) = (0u64, u32::MAX, 0u32);
    let mut i = 0usize;
    while !stop.exists() && Instant::now() < deadline {
        i += 1;
        let pt = format!("child {me} message {i}").into_bytes();
        ops += 1;
        match envelope_encrypt(r, s, k, &pt, &[]) {
            Ok(b) => {
                let v = envelope_version(&b);
                lo = lo.min(v);
                hi = hi.max(v);
                // Shared with the other children: name = who, which, when.
                let name = format!("env-{me}-{i}-{}", now_ms());
                let tmp = dir.join(format!("tmp-{name}"));
                std::fs::write(&tmp, &b).expect("write envelope");
                std::fs::rename(&tmp, dir.join(&name)).expect("publish envelope");
                mine.push((pt, b));
            }
            Err(rv) => failures.push(format!("encrypt #{i}: {}", rv_name(rv))),
        }
        // Decrypt the newest and an older ciphertext of this process.
        for j in [mine.len().saturating_sub(1), (i * 7919) % mine.len().max(1)] {
            if let Some((pt, b)) = mine.get(j) {
                ops += 1;
                let got = envelope_decrypt(r, s, k, b, &[]);
                if got.as_deref() != Ok(&pt[..]) {
                    failures.push(format!(
                        "decrypt of own v{} ciphertext #{j}: {:?}",
                        envelope_version(b),
                        got.map_err(rv_name)
                    ));
                }
            }
        }
        // And one another process wrote at least a second ago: its version
        // must have reached this process by now.
        let theirs: Vec<(String, String, u64, i64)> = std::fs::read_dir(&dir)
            .expect("read dir")
            .filter_map(|e| {
                let name = e.ok()?.file_name().into_string().ok()?;
                let mut f = name.strip_prefix("env-")?.split('-');
                let (who, n, at) = (
                    f.next()?.to_string(),
                    f.next()?.parse().ok()?,
                    f.next()?.parse().ok()?,
                );
                (who != me && now_ms() - at >= 1000).then_some((name, who, n, at))
            })
            .collect();
        if !theirs.is_empty() {
            let (name, who, n, at) = &theirs[(i * 104_729) % theirs.len()];
            let b = std::fs::read(dir.join(name)).expect("read envelope");
            let pt = format!("child {who} message {n}").into_bytes();
            ops += 1;
            let got = envelope_decrypt(r, s, k, &b, &[]);
            if got.as_deref() != Ok(&pt[..]) {
                failures.push(format!(
                    "decrypt of child {who}'s v{} ciphertext made {} ms ago: {:?}",
                    envelope_version(&b),
                    now_ms() - at,
                    got.map_err(rv_name)
                ));
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let mut report = format!(
        "ops {ops}\nfailures {}\nversions {lo} {hi}\n",
        failures.len()
    );
    for f in failures.iter().take(10) {
        report.push_str(&format!("failure {f}\n"));
    }
    std::fs::write(dir.join(format!("result-{me}")), report).expect("result file");
    close(r, s);
}

/// A child's result file: (ops, failures, lowest and highest version seen, failure lines).
fn result(dir: &Path, id: usize) -> Option<(u64, u64, u32, u32, Vec<String>)> {
    let text = std::fs::read_to_string(dir.join(format!("result-{id}"))).ok()?;
    let mut ops = 0;
    let mut fails = 0;
    let (mut lo, mut hi) = (0, 0);
    let mut lines = Vec::new();
    for l in text.lines() {
        let mut w = l.split_whitespace();
        match w.next() {
            Some("ops") => ops = w.next()?.parse().ok()?,
            Some("failures") => fails = w.next()?.parse().ok()?,
            Some("versions") => {
                lo = w.next()?.parse().ok()?;
                hi = w.next()?.parse().ok()?;
            }
            _ => lines.push(l.to_string()),
        }
    }
    Some((ops, fails, lo, hi, lines))
}

#[test]
fn four_processes_share_one_rotation_schedule() {
    let tok = TestToken::new();
    let r = &tok.raw;
    let s = tok.user_session();
    generate_key(r, s, KEY, &[(ROTATION_PERIOD, 2)]).expect("C_GenerateKey");
    let created = now_ms();
    // This process leaves: only the children may lead. (The temp dir stays
    // alive with `tok`; its Drop finalizes again harmlessly.)
    assert_rv!(r.finalize(), common::sys::CKR_OK, "C_Finalize");
    let dir = tok.path.clone();
    let db = store_path(&dir);

    let mut kids: Vec<Killed> = (0..CHILDREN)
        .map(|i| {
            spawn_self(
                "mp_child",
                &[
                    ("KR_MP_DIR", dir.display().to_string()),
                    ("KR_MP_ID", i.to_string()),
                ],
            )
        })
        .collect();
    let ready = poll(Duration::from_secs(20), || {
        (0..CHILDREN)
            .all(|i| dir.join(format!("ready-{i}")).exists())
            .then_some(())
    });
    assert!(
        ready.is_some(),
        "the {CHILDREN} children did not log in within 20 s"
    );

    let wait = RUN_MS - (now_ms() - created);
    if wait > 0 {
        std::thread::sleep(Duration::from_millis(wait as u64));
    }
    for (i, kid) in kids.iter_mut().enumerate() {
        assert!(!kid.exited(), "child {i} (pid {}) exited early", kid.pid());
    }

    // Exactly one rotation per period: versions 1..N, no duplicates or gaps.
    let rows = store_versions(&db, KEY);
    let numbers: Vec<u32> = rows.iter().map(|r| r.0).collect();
    let n = assert_consecutive(&numbers, "versions after 30 s of four processes");
    assert!(
        (14..=17).contains(&n),
        "30 s of 2 s rotations should give 14–17 versions, got {n}: {rows:?}"
    );
    let actives: Vec<u32> = rows.iter().filter(|r| r.1 == ACTIVE).map(|r| r.0).collect();
    assert_eq!(actives, vec![n], "exactly one Active version, the newest");
    let at: Vec<i64> = rows.iter().map(|r| r.3).collect();
    let gaps: Vec<i64> = at.windows(2).map(|w| w[1] - w[0]).collect();
    eprintln!("activation gaps (ms): {gaps:?}");
    assert!(
        gaps.iter().all(|g| (1000..=3500).contains(g)),
        "activations should be ~2 s apart; gaps in ms: {gaps:?}"
    );
    let mean = (at[at.len() - 1] - at[0]) / (at.len() as i64 - 1);
    assert!(
        (1800..=2400).contains(&mean),
        "mean gap between activations {mean} ms, expected ~2000: {gaps:?}"
    );
    let rotated = sqlite(
        &db,
        &format!(
            "SELECT count(*) FROM audit_log WHERE event = 'key.rotated' AND key_name = '{KEY}'"
        ),
    );
    assert_eq!(
        rotated[0][0],
        (n - 1).to_string(),
        "one key.rotated audit entry per rotation (exactly-once)"
    );

    // Kill the leader; another process takes over and rotations continue.
    let (pid, holder) = lease_holder_pid(&db).expect("a lease row while children are logged in");
    let Some(li) = kids.iter().position(|k| k.pid() == pid) else {
        let pids: Vec<u32> = kids.iter().map(Killed::pid).collect();
        panic!("the lease holder {holder:?} is none of the children {pids:?}");
    };
    let before = store_versions(&db, KEY).last().expect("versions").0;
    kids[li].kill();
    let killed_at = Instant::now();
    eprintln!("SIGKILLed leader child {li} (pid {pid}) at v{before}");
    let mut state = String::new();
    let next = poll(Duration::from_secs(9), || {
        let max = store_versions(&db, KEY).last().expect("versions").0;
        let holder = lease_holder_pid(&db);
        state = format!("newest v{max}, lease {holder:?}");
        (max > before).then(|| (killed_at.elapsed(), holder))
    });
    let Some((took, holder)) = next else {
        panic!("no new version within 9 s of SIGKILLing the leader (pid {pid}): {state}");
    };
    eprintln!(
        "v{} appeared {took:?} after the kill; lease now {holder:?}",
        before + 1
    );
    assert!(
        took <= Duration::from_millis(6500),
        "rotation resumed {took:?} after the leader died (lease TTL 3 s + period 2 s)"
    );
    let (new_pid, _) = holder.expect("a lease row");
    assert_ne!(new_pid, pid, "the dead leader still holds the lease");
    assert!(
        kids.iter().any(|k| k.pid() == new_pid),
        "the new lease holder {new_pid} is not one of the surviving children"
    );

    // Stop the survivors and read what they saw.
    std::fs::write(dir.join("stop"), b"").expect("stop file");
    let done = poll(Duration::from_secs(15), || {
        kids.iter_mut().all(|k| k.exited()).then_some(())
    });
    assert!(done.is_some(), "children did not stop within 15 s");
    let last = store_versions(&db, KEY).last().expect("versions").0;
    for i in (0..CHILDREN).filter(|i| *i != li) {
        let (ops, fails, lo, hi, lines) =
            result(&dir, i).unwrap_or_else(|| panic!("child {i} wrote no result file"));
        assert_eq!(
            fails,
            0,
            "child {i}: {fails} of {ops} operations failed:\n{}",
            lines.join("\n")
        );
        assert!(
            lo <= 2 && hi + 2 >= last,
            "child {i} encrypted under v{lo}..v{hi}; other processes' rotations (up to v{last}) \
             should reach it within a second"
        );
    }
    let numbers: Vec<u32> = store_versions(&db, KEY).iter().map(|r| r.0).collect();
    assert_consecutive(&numbers, "versions after the leader was killed");
    let out = cli(&tok.conf, &["audit", "verify"]);
    assert!(out.status.success(), "audit verify: {out:?}");
}
