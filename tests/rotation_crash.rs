//! SIGKILL in the middle of state changes: `keyrotor key rotate` killed at
//! random moments, and `keyrotor token rotate-storage-key --wait` killed
//! while it re-encrypts a store of 300 keys. Afterwards every version that
//! ever existed still decrypts what it encrypted, in this process and in a
//! freshly initialised library, and the store stays consistent.

#[macro_use]
mod common;
mod rotation_support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::sys::*;
use common::{Raw, TestToken};
use rotation_support::*;

/// Known plaintext and the envelope made under `version`.
struct Known {
    key: String,
    version: u32,
    pt: Vec<u8>,
    blob: Vec<u8>,
}

/// Decrypts every known envelope through its key's current object; returns
/// the failures.
fn decrypt_all(r: &Raw, s: CK_SESSION_HANDLE, known: &[Known]) -> Vec<String> {
    let mut handles = std::collections::HashMap::new();
    let mut bad = Vec::new();
    for kn in known {
        let k = *handles
            .entry(kn.key.clone())
            .or_insert_with(|| current_object(r, s, &kn.key));
        let got = envelope_decrypt(r, s, k, &kn.blob, &[]);
        if got.as_deref() != Ok(&kn.pt[..]) {
            bad.push(format!(
                "{} v{}: {:?}",
                kn.key,
                kn.version,
                got.map_err(rv_name)
            ));
        }
    }
    bad
}

/// Encrypts a known plaintext under `key`'s Active version, checking it is `want`.
fn seal(r: &Raw, s: CK_SESSION_HANDLE, key: &str, want: u32, tag: &str) -> Known {
    let k = current_object(r, s, key);
    let pt = format!("{key} {tag} under v{want}").into_bytes();
    let blob = envelope_encrypt(r, s, k, &pt, &[])
        .unwrap_or_else(|rv| panic!("envelope encrypt with {key}: {}", rv_name(rv)));
    assert_eq!(envelope_version(&blob), want, "{key}: envelope version");
    Known {
        key: key.to_string(),
        version: want,
        pt,
        blob,
    }
}

/// `C_Finalize`, then `C_Initialize` again and a new user session.
fn restart(tok: &TestToken) -> CK_SESSION_HANDLE {
    assert_rv!(tok.raw.finalize(), CKR_OK, "C_Finalize");
    assert_rv!(tok.raw.init_conf(&tok.conf), CKR_OK, "C_Initialize again");
    tok.user_session()
}

#[test]
fn sigkill_in_the_middle_of_rotations_loses_no_version() {
    let tok = TestToken::new();
    let r = &tok.raw;
    let s = tok.user_session();
    let db = store_path(&tok.path);
    let k = generate_key(r, s, "crash", &[(ROTATION_PERIOD, 3600)]).expect("C_GenerateKey");
    let mut known = vec![seal(r, s, "crash", 1, "first")];

    // One undisturbed rotation tells how long the CLI takes here.
    let t = Instant::now();
    cli_ok(&tok.conf, &["key", "rotate", "crash"]);
    let full = t.elapsed();
    wait_version(r, s, k, 2, Duration::from_secs(3)).expect("this process sees v2");
    known.push(seal(r, s, "crash", 2, "second"));
    eprintln!("an undisturbed `key rotate` takes {full:?}");

    let mut rng = Rng::new("rotation kills");
    let span = (full.as_millis() as u64 * 13 / 10).max(20);
    for i in 0..10 {
        let delay = Duration::from_millis(rng.range(1, span));
        let mut c = cli_command(&tok.conf, &["key", "rotate", "crash"]);
        c.stdout(Stdio::null()).stderr(Stdio::null());
        let mut child = Killed(c.spawn().expect("spawn keyrotor"));
        std::thread::sleep(delay);
        let finished = child.exited();
        child.kill();
        let rows = store_versions(&db, "crash");
        let numbers: Vec<u32> = rows.iter().map(|r| r.0).collect();
        let n = assert_consecutive(&numbers, &format!("after kill {i}"));
        let active: Vec<u32> = rows.iter().filter(|r| r.1 == ACTIVE).map(|r| r.0).collect();
        assert_eq!(
            active,
            vec![n],
            "after kill {i}: exactly one Active version, the newest"
        );
        assert_eq!(
            store_active(&db, "crash"),
            n,
            "after kill {i}: keys.active_version"
        );
        for (v, state, sealed_null, _) in &rows {
            assert!(
                !sealed_null,
                "after kill {i}: v{v} lost its sealed material"
            );
            assert!(
                *v == n || *state == VALID,
                "after kill {i}: retired v{v} is {}, expected valid",
                state_name(*state)
            );
        }
        eprintln!(
            "kill {i}: after {delay:?} ({}); store at v{n}",
            if finished {
                "had already finished"
            } else {
                "killed"
            }
        );
        if let Err(last) = wait_version(r, s, k, u64::from(n), Duration::from_secs(3)) {
            panic!(
                "after kill {i} the store's Active version is v{n} but this process shows v{last}"
            );
        }
        if known.last().map(|kn| kn.version) != Some(n) {
            known.push(seal(r, s, "crash", n, &format!("kill {i}")));
        }
    }
    // The store is not wedged: a normal rotation still works.
    cli_ok(&tok.conf, &["key", "rotate", "crash"]);
    let n = store_active(&db, "crash");
    wait_version(r, s, k, u64::from(n), Duration::from_secs(3)).expect("sees the last rotation");
    known.push(seal(r, s, "crash", n, "last"));

    let covered: Vec<u32> = known.iter().map(|kn| kn.version).collect();
    assert_eq!(
        covered,
        (1..=n).collect::<Vec<_>>(),
        "a known ciphertext for every version"
    );
    let bad = decrypt_all(r, s, &known);
    assert!(
        bad.is_empty(),
        "after the kills, in this process:\n{}",
        bad.join("\n")
    );
    let s = restart(&tok);
    let bad = decrypt_all(r, s, &known);
    assert!(
        bad.is_empty(),
        "after the kills, in a fresh library:\n{}",
        bad.join("\n")
    );
    let out = cli(&tok.conf, &["audit", "verify"]);
    assert!(
        out.status.success(),
        "audit verify after killed rotations: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    close(r, s);
}

/// `keyrotor status --json` storage progress: (active data key, total, remaining).
fn storage_progress(tok: &TestToken) -> (u64, u64, u64) {
    let out = cli_ok(&tok.conf, &["status", "--json"]);
    let j: serde_json::Value = serde_json::from_str(out.trim()).expect("status --json");
    let p = &j["storage"];
    (
        p["active_id"].as_u64().unwrap_or(0),
        p["total"].as_u64().unwrap_or(0),
        p["remaining"].as_u64().unwrap_or(u64::MAX),
    )
}

#[test]
fn sigkill_during_storage_key_reencryption_keeps_every_secret() {
    const KEYS: usize = 300;
    let tok = TestToken::new();
    let r = &tok.raw;
    let s = tok.user_session();
    let db = store_path(&tok.path);
    let t = Instant::now();
    let mut laps = Vec::new();
    for i in 0..KEYS {
        if i % 50 == 0 {
            laps.push(t.elapsed());
        }
        generate_key(r, s, &format!("bulk-{i:03}"), &[(ROTATION_PERIOD, 3600)])
            .unwrap_or_else(|rv| panic!("C_GenerateKey bulk-{i:03}: {}", rv_name(rv)));
    }
    laps.push(t.elapsed());
    let per50: Vec<u128> = laps.windows(2).map(|w| (w[1] - w[0]).as_millis()).collect();
    eprintln!(
        "{KEYS} keys generated in {:?}; ms per 50 keys: {per50:?}",
        t.elapsed()
    );
    let mut known: Vec<Known> = Vec::new();
    // A few keys get a second version, so old and new versions are both sealed rows.
    for i in 0..5 {
        let name = format!("bulk-{i:03}");
        known.push(seal(r, s, &name, 1, "before rotation"));
        cli_ok(&tok.conf, &["key", "rotate", &name]);
        let k = current_object(r, s, &name);
        wait_version(r, s, k, 2, Duration::from_secs(3)).expect("sees v2");
    }
    for i in 0..KEYS {
        let name = format!("bulk-{i:03}");
        known.push(seal(r, s, &name, if i < 5 { 2 } else { 1 }, "current"));
    }
    // Nobody else may re-encrypt while the CLI runs: this process leaves.
    assert_rv!(r.finalize(), CKR_OK, "C_Finalize");

    let mut rng = Rng::new("storage-key kills");
    let delays = [200, rng.range(100, 400), rng.range(200, 900)];
    let mut midway = 0;
    for (i, ms) in delays.into_iter().enumerate() {
        let mut c = cli_command(&tok.conf, &["token", "rotate-storage-key", "--wait"]);
        c.stdout(Stdio::null()).stderr(Stdio::null());
        let mut child = Killed(c.spawn().expect("spawn keyrotor"));
        std::thread::sleep(Duration::from_millis(ms));
        let finished = child.exited();
        child.kill();
        let (active, total, remaining) = storage_progress(&tok);
        let keys = sqlite(
            &db,
            "SELECT id, state, length(sealed) FROM data_keys ORDER BY id",
        );
        eprintln!(
            "kill {i} after {ms} ms ({}): data key {active} active, {remaining} of {total} rows \
             still under older keys; data_keys (id|state|len) {keys:?}",
            if finished {
                "had already finished"
            } else {
                "killed"
            }
        );
        if remaining > 0 && remaining < total {
            midway += 1;
        }
    }
    if midway == 0 {
        eprintln!("note: no kill landed in the middle of a re-encryption this run");
    }

    // Everything decrypts in a new library instance, whatever the mix of
    // data keys the kills left behind.
    assert_rv!(r.init_conf(&tok.conf), CKR_OK, "C_Initialize again");
    let s = tok.user_session();
    let bad = decrypt_all(r, s, &known);
    assert!(
        bad.is_empty(),
        "{} of {} envelopes fail right after the kills:\n{}",
        bad.len(),
        known.len(),
        bad.iter().take(10).cloned().collect::<Vec<_>>().join("\n")
    );

    // This process's manager finishes the job; old data keys are retired and erased.
    let mut last = (0, 0, 0);
    let finished = poll(Duration::from_secs(20), || {
        last = storage_progress(&tok);
        let keys = sqlite(&db, "SELECT count(*) FROM data_keys WHERE state != 3");
        (last.2 == 0 && keys[0][0] == "1").then_some(())
    });
    assert!(
        finished.is_some(),
        "re-encryption did not finish within 20 s after the kills: (active, total, remaining) = \
         {last:?}; data_keys {:?}",
        sqlite(
            &db,
            "SELECT id, state, length(sealed) FROM data_keys ORDER BY id"
        )
    );
    let retired = sqlite(
        &db,
        "SELECT id, length(sealed) FROM data_keys WHERE state = 3",
    );
    for row in &retired {
        assert_eq!(
            row[1], "0",
            "retired data key {} still has sealed bytes",
            row[0]
        );
    }
    let versions = sqlite(
        &db,
        "SELECT count(*) FROM key_versions WHERE sealed IS NULL",
    );
    assert_eq!(versions[0][0], "0", "no version lost its material");
    let bad = decrypt_all(r, s, &known);
    assert!(
        bad.is_empty(),
        "after re-encryption finished:\n{}",
        bad.join("\n")
    );
    let s = restart(&tok);
    let bad = decrypt_all(r, s, &known);
    assert!(
        bad.is_empty(),
        "in a fresh library after re-encryption:\n{}",
        bad.join("\n")
    );
    let out = cli(&tok.conf, &["audit", "verify"]);
    assert!(
        out.status.success(),
        "audit verify after killed storage-key rotations: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    close(r, s);
}
