//! PKCS#11 benchmark harness (`cargo bench --bench pkcs11 -- ...`): loads any PKCS#11 module by
//! path through `cryptoki`, measures AES-256-GCM, the 3.0 message API, key generation, find,
//! login and cold start, and compares keyrotor with SoftHSM2 and the in-process aws-lc-rs
//! ceiling; keyrotor alone also gets its envelope mechanism, latency during rotations and the
//! hot path with its key manager on vs off. Each module runs in re-executed worker processes
//! (`--worker`), because a PKCS#11 module is initialised once per process. No timing
//! assertions: this measures, it never fails on a number.

// Compiled as a test target (to run the unit tests) nothing calls main(); the helpers it reaches
// would all be reported dead. `cargo bench` also sets cfg(test) here but strips the #[test]
// functions, which leaves the test modules' imports unused.
#![cfg_attr(test, allow(dead_code, unused_imports))]

mod ceiling;
mod cli;
mod parent;
mod raw;
mod report;
mod rows;
mod scen_envelope;
mod scen_gcm;
mod scen_init;
mod scen_keys;
mod scen_manager;
mod scen_msg;
mod scen_rotor;
mod setup;
mod stats;
mod worker;

use std::io::Write;

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes --bench; `cargo test --benches`/`--all-targets` runs this binary
    // without it, where a multi-minute benchmark must not start (the criterion convention).
    if !argv.iter().any(|a| a == "--bench" || a == "--worker") {
        // Write errors (e.g. a closed pipe) are ignored: there is nothing left to do.
        let _ = writeln!(
            std::io::stdout(),
            "pkcs11 bench: not started by `cargo bench` (no --bench argument); nothing to do.\n{}",
            cli::USAGE
        );
        return;
    }
    let result = cli::parse(argv).and_then(|args| match &args.worker {
        Some(w) => worker::run(&args, w),
        None => parent::run(&args),
    });
    if let Err(e) = result {
        eprintln!("pkcs11 bench: {e}");
        std::process::exit(2);
    }
}
