//! Replays fuzzer findings and the committed seed corpora through the fuzz
//! harness (`fuzz/src/harness`, included here with `#[path]`), so they run
//! under plain `cargo test`, without cargo-fuzz or nightly flags.
//!
//! The harness drives the module in process through its exported `C_*`
//! functions, exactly as the fuzz targets do; a failing test prints the
//! harness's assertion or the module's panic. Each finding has a test named
//! after its target and symptom, holding the minimised input; the details
//! are in the fuzzing notes (fuzz/README.md).

#[allow(dead_code)]
#[path = "../fuzz/src/harness/mod.rs"]
mod harness;

use std::path::Path;

/// Runs every file in `fuzz/seeds/<target>/` through `target`.
fn replay_seeds(target: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    files.sort();
    assert!(files.len() >= 5, "{target}: only {} seeds", files.len());
    for f in files {
        let data = std::fs::read(&f).expect("read seed");
        eprintln!("{target}: {}", f.display());
        harness::run(target, &data);
    }
}

#[test]
fn seeds_templates() {
    replay_seeds("templates");
}

#[test]
fn seeds_mech_params() {
    replay_seeds("mech_params");
}

#[test]
fn seeds_blobs() {
    replay_seeds("blobs");
}

#[test]
fn seeds_store_records() {
    replay_seeds("store_records");
}

/// F1 (blobs): `C_DecryptMessage` on a rotating key trusts the first four
/// bytes of a 12-byte caller IV as the key version. The harness rotates the
/// key to version 3, encrypts an empty message under `CKG_NO_GENERATE` with
/// IV `00000001 || 0^8` and a 16-byte tag, and decrypts it at once:
/// `CKR_ENCRYPTED_DATA_INVALID`, because only version 1 is tried.
#[test]
fn blobs_message_iv_naming_an_old_version_still_decrypts() {
    // Case byte 0x05: message API, rotating key, NULL length query first.
    // Then: no AAD; a genuine message (not raw bytes); the IV.
    let mut input = vec![0x05, 0x00, 0x00, 12];
    input.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    // 16-byte tag; empty plaintext; no ciphertext edits; no tag or IV edit.
    input.extend_from_slice(&[0x04, 0x00, 0x00, 0x03]);
    harness::run("blobs", &input);
}
