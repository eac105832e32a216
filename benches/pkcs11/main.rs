//! PKCS#11 benchmark harness (`cargo bench --bench pkcs11 -- ...`): loads any PKCS#11 module by
//! path through `cryptoki`, measures AES-256-GCM, the 3.0 message API, key generation, find,
//! login and cold start, and compares keyrotor with SoftHSM2 and the in-process aws-lc-rs
//! ceiling. Each module runs in re-executed worker processes (`--worker`), because a PKCS#11
//! module is initialised once per process. No timing assertions: this measures, it never fails
//! on a number.

mod ceiling;
mod cli;
mod parent;
mod raw;
mod report;
mod rows;
mod scen_gcm;
mod scen_init;
mod scen_keys;
mod setup;
mod stats;
mod worker;

fn main() {
    let result = cli::parse(std::env::args().skip(1)).and_then(|args| match &args.worker {
        Some(w) => worker::run(&args, w),
        None => parent::run(&args),
    });
    if let Err(e) = result {
        eprintln!("pkcs11 bench: {e}");
        std::process::exit(2);
    }
}
