//! Command-line arguments of the harness, for both the parent (what to measure) and the worker
//! processes it re-executes (one module each).

use crate::stats::Plan;
use std::path::PathBuf;
use std::time::Duration;

/// Every --only group name.
pub const GROUPS: [&str; 8] = [
    "gcm", "msg", "rotor", "keygen", "find", "login", "init", "ceiling",
];

/// Usage text.
pub const USAGE: &str = "\
usage: cargo bench --bench pkcs11 -- [--module PATH]... [--softhsm] [--quick] [--full]
                                     [--json OUT] [--only GROUP]... [--duration SECS] [--repeats N]
  (Run directly, the binary needs --bench too; without it, as under `cargo test`, it does nothing.)
  --module PATH   a PKCS#11 module to measure (repeatable; the first is the one ratios are of).
                  Default: keyrotor (target/release/libkeyrotor.so or $KEYROTOR_MODULE) and SoftHSM2.
  --softhsm       also measure SoftHSM2 (/usr/lib/softhsm/libsofthsm2.so) in a private temp token.
  --quick         0.2 s per repeat, 3 repeats (default 1 s, 5 repeats).
  --full          also create 100,000 objects in modules other than keyrotor (slow for SoftHSM2).
  --json OUT      also write every number (all repeats) as JSON.
  --only GROUP    gcm, msg, rotor, keygen, find, login, init, ceiling (repeatable or comma-separated).
                  rotor: keyrotor only (envelope mechanism, latency during rotations, manager on/off).
  keyrotor and SoftHSM2 get a private temp token (under $TMPDIR). Any other module is used with
  the caller's environment and its first token (C_InitToken only if none is initialised): the
  harness creates up to 11,000 token keys labelled bench-* there and leaves them, so point it at
  a scratch token. env BENCH_USER_PIN / BENCH_SO_PIN: its PINs (default 1234 / 12345678).";

/// Parsed arguments.
#[derive(Clone, Debug, Default)]
pub struct Args {
    /// --module paths in order.
    pub modules: Vec<PathBuf>,
    /// --softhsm.
    pub softhsm: bool,
    /// --quick.
    pub quick: bool,
    /// --full.
    pub full: bool,
    /// --json OUT.
    pub json: Option<PathBuf>,
    /// --only groups (empty: all).
    pub only: Vec<String>,
    /// --duration override, seconds.
    pub duration: Option<f64>,
    /// --repeats override.
    pub repeats: Option<usize>,
    /// Worker mode: this process measures one module.
    pub worker: Option<WorkerArgs>,
}

/// Arguments of a worker process.
#[derive(Clone, Debug, Default)]
pub struct WorkerArgs {
    /// "keyrotor" | "softhsm" | "generic".
    pub kind: String,
    /// Where to write the JSON result.
    pub out: PathBuf,
    /// Steps to run in order (see worker.rs).
    pub steps: Vec<String>,
    /// Pair the gcm/msg loops with the in-process ceiling (the first module only).
    pub ceiling: bool,
}

impl Args {
    /// Whether a group is selected.
    pub fn wants(&self, group: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|g| g == group)
    }

    /// The timing plan.
    pub fn plan(&self) -> Plan {
        let (dur, reps, warm) = if self.quick {
            (0.2, 3, 0.05)
        } else {
            (1.0, 5, 0.3)
        };
        Plan {
            warmup: Duration::from_secs_f64(warm),
            duration: Duration::from_secs_f64(self.duration.unwrap_or(dur)),
            repeats: self.repeats.unwrap_or(reps).max(1),
            min_ops: 1,
        }
    }

    /// The arguments a worker must inherit to measure the same way.
    pub fn for_worker(&self) -> Vec<String> {
        let mut v = Vec::new();
        if self.quick {
            v.push("--quick".into());
        }
        if let Some(d) = self.duration {
            v.extend(["--duration".into(), d.to_string()]);
        }
        if let Some(r) = self.repeats {
            v.extend(["--repeats".into(), r.to_string()]);
        }
        v
    }
}

/// Parses the arguments after the program name. `--bench` (added by `cargo bench`) is ignored.
pub fn parse<I: IntoIterator<Item = String>>(it: I) -> Result<Args, String> {
    let mut a = Args::default();
    let mut w = WorkerArgs::default();
    let mut is_worker = false;
    let mut it = it.into_iter();
    while let Some(arg) = it.next() {
        let mut val = |name: &str| {
            it.next()
                .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--bench" => {}
            "--module" => a.modules.push(PathBuf::from(val("--module")?)),
            "--softhsm" => a.softhsm = true,
            "--quick" => a.quick = true,
            "--full" => a.full = true,
            "--json" => a.json = Some(PathBuf::from(val("--json")?)),
            "--only" => {
                for g in val("--only")?.split(',').filter(|g| !g.is_empty()) {
                    if !GROUPS.contains(&g) {
                        return Err(format!(
                            "unknown group {g:?}; groups: {}",
                            GROUPS.join(", ")
                        ));
                    }
                    a.only.push(g.to_string());
                }
            }
            "--duration" => {
                a.duration = Some(
                    val("--duration")?
                        .parse()
                        .map_err(|_| "--duration needs seconds".to_string())?,
                )
            }
            "--repeats" => {
                a.repeats = Some(
                    val("--repeats")?
                        .parse()
                        .map_err(|_| "--repeats needs a number".to_string())?,
                )
            }
            "--worker" => is_worker = true,
            "--kind" => w.kind = val("--kind")?,
            "--out" => w.out = PathBuf::from(val("--out")?),
            "--ceiling" => w.ceiling = true,
            "--steps" => w.steps = val("--steps")?.split(',').map(str::to_string).collect(),
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    if is_worker {
        if a.modules.len() != 1 || w.out.as_os_str().is_empty() {
            return Err("--worker needs exactly one --module and --out".into());
        }
        a.worker = Some(w);
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Args, String> {
        parse(s.split_whitespace().map(str::to_string))
    }

    #[test]
    fn parses_parent_and_worker() {
        let a = p("--bench --module /a.so --module /b.so --quick --only gcm,find --only init --json o.json").expect("parses");
        assert_eq!(
            a.modules,
            vec![PathBuf::from("/a.so"), PathBuf::from("/b.so")]
        );
        assert!(a.quick && a.wants("find") && a.wants("init") && !a.wants("login"));
        assert_eq!(a.plan().repeats, 3);
        assert_eq!(a.json, Some(PathBuf::from("o.json")));
        let w = p("--worker --module /a.so --kind softhsm --out /t/o.json --steps setup,gcm")
            .expect("parses");
        let wa = w.worker.expect("worker mode");
        assert_eq!(wa.steps, vec!["setup", "gcm"]);
        assert!(p("--only nope").is_err());
        assert!(p("--frobnicate").is_err());
        assert!(p("--worker --out x").is_err());
        assert!(p("").expect("empty ok").wants("login"));
    }
}
