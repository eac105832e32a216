//! The fuzz harness: decoding fuzzer bytes into PKCS#11 calls against the
//! module loaded in process, and the checks applied to what comes back.
//!
//! Shared by the cargo-fuzz targets (`fuzz/fuzz_targets/*.rs`, one line
//! each) and by `tests/fuzz_regressions.rs`, which includes this directory
//! with `#[path]` so a minimised crash replays under plain `cargo test`.
//! It therefore uses only crates the keyrotor package itself depends on.
//!
//! Every target's `run` panics only on a real bug: a module error code is
//! an ordinary outcome unless the call could not legitimately fail.
#![allow(clippy::undocumented_unsafe_blocks)]

pub mod blobs;
pub mod input;
pub mod keys;
pub mod mech;
pub mod mech_params;
pub mod module;
pub mod msg;
pub mod ops;
pub mod store_records;
pub mod template;
pub mod templates;

/// Runs `data` through the named target (`templates`, `mech_params`,
/// `blobs`, `store_records`). Unknown names panic.
pub fn run(target: &str, data: &[u8]) {
    match target {
        "templates" => templates::run(data),
        "mech_params" => mech_params::run(data),
        "blobs" => blobs::run(data),
        "store_records" => store_records::run(data),
        other => panic!("no fuzz target named {other}"),
    }
}

/// Names of all targets.
pub const TARGETS: [&str; 4] = ["templates", "mech_params", "blobs", "store_records"];
