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
