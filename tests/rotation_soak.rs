//! A key rotating every two seconds for thirty seconds while one process
//! encrypts and decrypts without pause: no operation may fail, every
//! version passes Valid → Grace → Revoked → Destroyed on time (never early),
//! and destroyed versions' sealed material is gone from the store.

#[macro_use]
mod common;
mod rotation_support;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use common::sys::*;
use common::TestToken;
use rotation_support::*;

/// How long the soak runs.
const SOAK: Duration = Duration::from_secs(30);
/// Ciphertexts are decrypted again when they are this old (well inside
/// Valid + Grace = 4 s, so every one must still decrypt).
const AGE: Duration = Duration::from_millis(1000);
/// Lateness allowed for a lifecycle step (200 ms ticks on a busy machine).
const SLACK_MS: i64 = 2500;

/// What was encrypted, kept to decrypt again later.
enum Sealed {
    Envelope(Vec<u8>),
    Message(Message),
}

struct Item {
    at: Instant,
    version: u32,
    pt: Vec<u8>,
    sealed: Sealed,
}

fn open(
    r: &common::Raw,
    s: CK_SESSION_HANDLE,
    k: CK_OBJECT_HANDLE,
    it: &Item,
) -> Result<Vec<u8>, CK_RV> {
    match &it.sealed {
        Sealed::Envelope(b) => envelope_decrypt(r, s, k, b, b"soak"),
        Sealed::Message(m) => msg_decrypt(r, s, k, m, b"soak"),
    }
}

#[test]
fn thirty_seconds_of_two_second_rotations_lose_nothing() {
    let tok = TestToken::new();
    let r = &tok.raw;
    let s = tok.user_session();
    let db = store_path(&tok.path);
    let policy = [
        (ROTATION_PERIOD, 2),
        (VALID_PERIOD, 2),
        (GRACE_PERIOD, 2),
        (RETENTION, 2),
        (KEEP_VERSIONS, 1),
    ];
    let k = generate_key(r, s, "soak", &policy)
        .unwrap_or_else(|rv| panic!("C_GenerateKey: {}", rv_name(rv)));

    let start = Instant::now();
    let t = |at: Instant| at.duration_since(start).as_secs_f64();
    let mut recent: VecDeque<Item> = VecDeque::new();
    let mut keep: BTreeMap<u32, Item> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    let mut failures: Vec<String> = Vec::new();
    let mut ops = 0u64;
    let mut i = 0u64;
    let check = |it: &Item, what: &str, failures: &mut Vec<String>| {
        let got = open(r, s, k, it);
        if got.as_deref() != Ok(&it.pt[..]) {
            failures.push(format!(
                "t={:.2}s {what} of a v{} ciphertext made at t={:.2}s: {:?}",
                t(Instant::now()),
                it.version,
                t(it.at),
                got.map_err(rv_name)
            ));
        }
    };
    while start.elapsed() < SOAK {
        i += 1;
        let pt = format!("soak message {i}").into_bytes();
        let now = Instant::now();
        let item = if i.is_multiple_of(4) {
            msg_encrypt(r, s, k, CKG_GENERATE_RANDOM, b"soak", &pt).map(|m| Item {
                at: now,
                version: m.version(),
                pt: pt.clone(),
                sealed: Sealed::Message(m),
            })
        } else {
            envelope_encrypt(r, s, k, &pt, b"soak").map(|b| Item {
                at: now,
                version: envelope_version(&b),
                pt: pt.clone(),
                sealed: Sealed::Envelope(b),
            })
        };
        ops += 1;
        match item {
            Ok(it) => {
                seen.insert(it.version);
                ops += 1;
                check(&it, "immediate decrypt", &mut failures);
                if let std::collections::btree_map::Entry::Vacant(e) = keep.entry(it.version) {
                    if matches!(it.sealed, Sealed::Envelope(_)) {
                        e.insert(Item {
                            at: it.at,
                            version: it.version,
                            pt: it.pt.clone(),
                            sealed: match &it.sealed {
                                Sealed::Envelope(b) => Sealed::Envelope(b.clone()),
                                Sealed::Message(m) => Sealed::Message(m.clone()),
                            },
                        });
                    }
                }
                recent.push_back(it);
            }
            Err(rv) => failures.push(format!(
                "t={:.2}s encryption #{i} ({}): {}",
                t(now),
                if i.is_multiple_of(4) {
                    "message API"
                } else {
                    "envelope"
                },
                rv_name(rv)
            )),
        }
        while recent.front().is_some_and(|it| it.at.elapsed() >= AGE) {
            let it = recent.pop_front().expect("front");
            ops += 1;
            check(&it, "decrypt 1 s later", &mut failures);
        }
        std::thread::sleep(Duration::from_millis(3));
    }
    for it in recent.drain(..) {
        ops += 1;
        check(&it, "final decrypt", &mut failures);
    }
    eprintln!(
        "{ops} operations in {:?}; versions seen: {seen:?}; {} failed",
        start.elapsed(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {ops} operations failed during the soak; first ones:\n{}",
        failures.len(),
        failures
            .iter()
            .take(12)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    let seen: Vec<u32> = seen.into_iter().collect();
    assert!(
        (13..=17).contains(&seen.len()),
        "30 s with a 2 s rotation period should show 13–17 versions; saw {seen:?}"
    );
    let first = seen[0];
    assert_eq!(
        seen,
        (first..first + seen.len() as u32).collect::<Vec<_>>(),
        "versions seen by encryption are consecutive"
    );

    // A few more seconds for the lifecycle, then the whole picture.
    std::thread::sleep(Duration::from_secs(3));
    let j = key_show(&tok.conf, "soak");
    let now = now_ms();
    let active = j["active_version"].as_u64().expect("active_version") as u32;
    let versions = j["versions"].as_array().expect("versions").clone();
    let mut destroyed = 0;
    let mut problems = Vec::new();
    for v in &versions {
        let n = v["version"].as_u64().expect("version") as u32;
        let state = v["state"].as_str().expect("state").to_string();
        let at = |f: &str| v[f].as_i64();
        if n == active {
            if state != "active" {
                problems.push(format!("v{n} is the active version but in state {state}"));
            }
            continue;
        }
        let Some(off) = at("deactivated_at") else {
            problems.push(format!("v{n} ({state}) has no deactivated_at"));
            continue;
        };
        // Never early: each step waits its full period.
        for (from, to, what) in [
            (
                Some(off),
                at("grace_at"),
                "Valid → Grace before VALID_PERIOD (2 s)",
            ),
            (
                at("grace_at"),
                at("revoked_at"),
                "Grace → Revoked before GRACE_PERIOD (2 s)",
            ),
            (
                at("revoked_at"),
                at("destroyed_at"),
                "Revoked → Destroyed before RETENTION (2 s)",
            ),
        ] {
            if let (Some(a), Some(b)) = (from, to) {
                if b - a < 2000 {
                    problems.push(format!("v{n}: {what}: {} ms", b - a));
                }
            }
        }
        // Never (much) late.
        let age = now - off;
        let want_at_least = if age > 6000 + SLACK_MS {
            "destroyed"
        } else if age > 4000 + SLACK_MS {
            "revoked"
        } else if age > 2000 + SLACK_MS {
            "grace"
        } else {
            "valid"
        };
        let rank = |s: &str| {
            ["valid", "grace", "revoked", "destroyed"]
                .iter()
                .position(|x| *x == s)
        };
        if rank(&state) < rank(want_at_least) || rank(&state).is_none() {
            problems.push(format!(
                "v{n} retired {age} ms ago is {state}; expected at least {want_at_least}"
            ));
        }
        if state == "destroyed" {
            destroyed += 1;
            if v["material_present"] != false {
                problems.push(format!(
                    "v{n} destroyed but material_present = {}",
                    v["material_present"]
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "lifecycle problems at the end of the soak:\n{}\nkey show: {j}",
        problems.join("\n")
    );
    assert!(
        destroyed >= 8,
        "at least 8 old versions should be destroyed after 33 s; {destroyed} are: {j}"
    );

    // The store itself: destroyed rows have no sealed material, others do.
    let rows = store_versions(&db, "soak");
    for (n, state, sealed_null, _) in &rows {
        assert_eq!(
            *sealed_null,
            *state == DESTROYED,
            "key_versions row v{n}: state {} but `sealed IS NULL` = {sealed_null}",
            state_name(*state)
        );
    }
    let numbers: Vec<u32> = rows.iter().map(|r| r.0).collect();
    assert_consecutive(&numbers, "key_versions of soak");

    // What this process refuses now matches each version's state.
    for (n, it) in &keep {
        let mut last = String::new();
        let agreed = poll(Duration::from_secs(2), || {
            let objs = key_objects(r, s, "soak");
            let state = objs
                .iter()
                .find(|(_, l)| *l == format!("soak@v{n}"))
                .map_or(DESTROYED, |(o, _)| ulong(r, s, *o, STATE));
            let got = open(r, s, k, it);
            let want = match state {
                ACTIVE | VALID | GRACE => Ok(it.pt.clone()),
                REVOKED => Err(CKR_REVOKED),
                _ => Err(CKR_DESTROYED),
            };
            last = format!(
                "v{n} is {} here; decrypt gave {:?}, expected {:?}",
                state_name(state),
                got.clone().map_err(rv_name),
                want.clone().map_err(rv_name)
            );
            (got == want).then_some(())
        });
        assert!(agreed.is_some(), "{last}");
    }
    let out = cli(&tok.conf, &["audit", "verify"]);
    assert!(out.status.success(), "audit verify after the soak: {out:?}");
    close(r, s);
}

/// Finds `needle` in a file; returns the offset.
fn find_in_file(path: &std::path::Path, needle: &[u8]) -> Option<usize> {
    let hay = std::fs::read(path).ok()?;
    hay.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn destroyed_material_leaves_no_copy_in_the_store_files() {
    let tok = TestToken::new();
    let r = &tok.raw;
    let s = tok.user_session();
    let db = store_path(&tok.path);
    let k = generate_key(r, s, "erase", &[(ROTATION_PERIOD, 3600)]).expect("C_GenerateKey");
    let env1 = envelope_encrypt(r, s, k, b"v1 data", &[]).expect("envelope v1");
    cli_ok(&tok.conf, &["key", "rotate", "erase"]);
    let hex_blob = sqlite(
        &db,
        "SELECT hex(sealed) FROM key_versions WHERE version = 1",
    );
    let sealed = hex::decode(&hex_blob[0][0]).expect("hex");
    assert!(
        sealed.len() >= 32,
        "sealed v1 material: {} bytes",
        sealed.len()
    );
    let files = || {
        ["", "-wal", "-journal", "-shm"]
            .map(|suffix| std::path::PathBuf::from(format!("{}{suffix}", db.display())))
    };
    assert!(
        files().iter().any(|p| find_in_file(p, &sealed).is_some()),
        "sanity: the sealed blob is found in the store files before it is destroyed"
    );
    cli_ok(
        &tok.conf,
        &["key", "destroy", "erase", "--version", "1", "--yes"],
    );
    let rows = store_versions(&db, "erase");
    assert_eq!(rows[0].1, DESTROYED, "v1 row after `key destroy`");
    assert!(rows[0].2, "v1 sealed IS NULL after `key destroy`");
    let refused = poll(Duration::from_secs(3), || {
        (envelope_decrypt(r, s, k, &env1, &[]) == Err(CKR_DESTROYED)).then_some(())
    });
    assert!(
        refused.is_some(),
        "v1 envelope after destroy: {:?}",
        envelope_decrypt(r, s, k, &env1, &[]).map_err(rv_name)
    );
    // The sealed blob must not survive anywhere in the store's files (free
    // pages, the WAL, a journal): sealed under a storage key the PIN still
    // unlocks, a leftover copy would undo the crypto-erasure.
    let mut found = Vec::new();
    for p in files() {
        if let Some(off) = find_in_file(&p, &sealed) {
            found.push(format!("{} at offset {off}", p.display()));
        }
    }
    assert!(
        found.is_empty(),
        "v1's sealed material ({} bytes) is still present after `key destroy` in: {}",
        sealed.len(),
        found.join(", ")
    );
    close(r, s);
}
