//! Parent mode: decides which modules to measure, gives each a private temp environment, runs
//! its steps in re-executed worker processes (PKCS#11 is once per process, and the cold-start
//! probe needs fresh processes), runs the in-process ceiling, and prints the report.

use crate::cli::Args;
use crate::report::{join, machine, markdown, Column, Report};
use crate::rows::{merge_measured, thousands, Outcome, Row, WorkerOut};
use crate::scen_manager::{manager_ratios, ENV_MANAGER};
use crate::setup::{prepare, Kind, Prepared, Target, SOFTHSM_PATH};
use crate::stats::median;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Token keys for the gcm/msg/find scenarios, for [init], and for the big [find].
const SMALL: u64 = 1_000;
const MEDIUM: u64 = 10_000;
const LARGE: u64 = 100_000;

/// Where keyrotor's module is when no --module is given.
fn default_keyrotor() -> PathBuf {
    if let Ok(p) = std::env::var("KEYROTOR_MODULE") {
        return p.into();
    }
    // Under `cargo bench` this binary is target/release/deps/pkcs11-HASH, the cdylib target/release/libkeyrotor.so.
    if let Some(dir) = std::env::current_exe()
        .ok()
        .as_deref()
        .and_then(Path::parent)
        .and_then(Path::parent)
    {
        let c = dir.join("libkeyrotor.so");
        if c.exists() {
            return c;
        }
    }
    let base = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    Path::new(&base).join("target/release/libkeyrotor.so")
}

/// The newest modification time of the files under `dir`.
fn newest(dir: &Path) -> Option<std::time::SystemTime> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let meta = e.metadata().ok()?;
            if meta.is_dir() {
                newest(&e.path())
            } else {
                meta.modified().ok()
            }
        })
        .max()
}

/// `cargo bench` builds the crate as a library for the harness but does not
/// relink `target/release/libkeyrotor.so`, so after a source change the
/// module measured would be the old one. Refuses that (BENCH_ALLOW_STALE=1
/// to measure it anyway).
fn refuse_stale(module: &Path) -> Result<(), String> {
    let base = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into()));
    let built = std::fs::metadata(module).and_then(|m| m.modified()).ok();
    let sources = [base.join("src"), base.join("migrations")]
        .iter()
        .filter_map(|d| newest(d))
        .max();
    match (built, sources) {
        (Some(b), Some(s)) if s > b && std::env::var_os("BENCH_ALLOW_STALE").is_none() => {
            Err(format!(
                "{} is older than the sources in {}: run `cargo build --release` first \
             (or set BENCH_ALLOW_STALE=1 to measure it anyway)",
                module.display(),
                base.display()
            ))
        }
        _ => Ok(()),
    }
}

/// The modules to measure: those named, else keyrotor and SoftHSM2;
/// `--softhsm` adds SoftHSM2 to either ("also measure").
fn targets(args: &Args) -> Vec<PathBuf> {
    let mut v = args.modules.clone();
    if v.is_empty() {
        v = vec![default_keyrotor(), SOFTHSM_PATH.into()];
    }
    if args.softhsm && !v.iter().any(|p| p == Path::new(SOFTHSM_PATH)) {
        v.push(SOFTHSM_PATH.into());
    }
    v
}

/// Runs one worker process; returns its result (possibly partial) and a note if it failed.
fn spawn(
    args: &Args,
    t: &Target,
    env: &Prepared,
    steps: &[String],
    pair_ceiling: bool,
    extra_env: &[(&str, &str)],
) -> (WorkerOut, Option<String>) {
    let dir = env
        .dir
        .as_ref()
        .map(|d| d.path().to_path_buf())
        .unwrap_or_else(std::env::temp_dir);
    let out_file = dir.join(format!("worker-{}.json", std::process::id()));
    let _ = std::fs::remove_file(&out_file);
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => return (WorkerOut::default(), Some(format!("current_exe: {e}"))),
    };
    let mut cmd = Command::new(exe);
    cmd.arg("--worker")
        .arg("--module")
        .arg(&t.path)
        .args(["--kind", t.kind.as_str()]);
    cmd.arg("--out")
        .arg(&out_file)
        .args(["--steps", &steps.join(",")])
        .args(args.for_worker());
    if pair_ceiling {
        cmd.arg("--ceiling");
    }
    cmd.envs(env.env.iter().map(|(k, v)| (k, v)));
    for k in &env.env_remove {
        cmd.env_remove(k);
    }
    // After the removals: this worker alone gets these.
    cmd.envs(extra_env.iter().copied());
    let status = cmd.status();
    let out: Option<WorkerOut> = std::fs::read_to_string(&out_file)
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok());
    let _ = std::fs::remove_file(&out_file);
    let mut out = out.unwrap_or_default();
    let note = match status {
        Ok(s) if s.success() => None,
        other => {
            let missing: Vec<&String> = steps
                .iter()
                .filter(|s| !out.done_steps.contains(s))
                .collect();
            let text = format!(
                "{} worker ({:?}) failed: {:?}; steps not finished: {:?}",
                t.name,
                steps,
                other.map(|s| s.to_string()),
                missing
            );
            out.rows.push(Row::error(
                "setup",
                format!("worker steps {}", steps.join(",")),
                text.clone(),
            ));
            Some(text)
        }
    };
    (out, note)
}

/// Merges rows that several processes produced: values into their median, measurements by
/// `merge_measured` (the manager on/off rows).
fn merge_values(rows: Vec<Row>) -> Vec<Row> {
    let mut out: Vec<Row> = Vec::new();
    for r in rows {
        let pos = out.iter().position(|o| o.key() == r.key());
        match (pos.and_then(|i| out.get_mut(i)), &r.outcome) {
            (Some(existing), Outcome::Value { samples: new, .. }) => {
                if let Outcome::Value { value, samples, .. } = &mut existing.outcome {
                    samples.extend_from_slice(new);
                    *value = median(&mut samples.clone()).unwrap_or(*value);
                }
            }
            (Some(existing), Outcome::Measured { m: new, .. }) => {
                if let Outcome::Measured { m, .. } = &mut existing.outcome {
                    *m = merge_measured(m, new);
                } else {
                    existing.outcome = r.outcome.clone();
                }
            }
            (Some(existing), _) => existing.outcome = r.outcome.clone(),
            (None, _) => out.push(r),
        }
    }
    out
}

/// The marginal RSS per key between the MEDIUM and SMALL probes (removes fixed costs).
fn marginal_rss(rows: &[Row]) -> Option<Row> {
    let find = |n: u64| {
        rows.iter().find_map(|r| match &r.outcome {
            Outcome::Value { value, .. }
                if r.scenario
                    == format!(
                        "VmRSS after login + first use + find all ({} keys)",
                        thousands(n)
                    ) =>
            {
                Some(*value)
            }
            _ => None,
        })
    };
    let (a, b) = (find(SMALL)?, find(MEDIUM)?);
    let per_key = (b - a) * 1024.0 / (MEDIUM - SMALL) as f64;
    Some(Row::value(
        "init",
        format!(
            "marginal RSS per key (VmRSS@{} − VmRSS@{}) / {}",
            thousands(MEDIUM),
            thousands(SMALL),
            thousands(MEDIUM - SMALL)
        ),
        per_key,
        "B/key",
    ))
}

/// Runs every step for one module; returns its rows, C_GetInfo and notes.
/// `subject`: this is the first module, whose gcm/msg loops are paired with the ceiling.
fn run_module(
    args: &Args,
    t: &Target,
    subject: bool,
    notes: &mut Vec<String>,
) -> (Vec<Row>, String) {
    let env = match prepare(t) {
        Ok(e) => e,
        Err(e) => {
            return (
                vec![Row::error("setup", "temp environment", e)],
                String::new(),
            )
        }
    };
    let mut rows = Vec::new();
    let mut info = String::new();
    let mut run = |steps: Vec<String>, rows: &mut Vec<Row>, extra: &[(&str, &str)]| {
        let shown: Vec<String> = extra.iter().map(|(k, v)| format!("{k}={v} ")).collect();
        eprintln!("== {}: {}{}", t.name, shown.concat(), steps.join(","));
        let pair = subject
            && steps
                .iter()
                .any(|s| s.starts_with("gcm") || s.starts_with("msg") || s.starts_with("rotor"));
        let (out, note) = spawn(args, t, &env, &steps, pair, extra);
        if info.is_empty() {
            info = out.info.clone();
        }
        rows.extend(out.rows);
        notes.extend(out.notes);
        notes.extend(note);
    };
    let s = |v: &str| v.to_string();
    let big_find = args.wants("find") && (t.kind == Kind::Keyrotor || args.full);
    let rotor = args.wants("rotor") && t.kind == Kind::Keyrotor;
    let need_small =
        ["gcm", "msg", "find", "init"].iter().any(|g| args.wants(g)) || big_find || rotor;

    let mut main = vec![s("setup")];
    if args.wants("keygen") {
        main.push(s("keygen"));
    }
    let mut have = 0;
    if need_small {
        main.push(format!("populate:0:{SMALL}"));
        have = SMALL;
    }
    for g in ["gcm", "msg", "find"] {
        if args.wants(g) {
            main.push(format!("{g}:{SMALL}"));
        }
    }
    if rotor {
        main.push(format!("rotor:{SMALL}"));
    }
    if args.wants("login") {
        main.push(s("login"));
    }
    run(main, &mut rows, &[]);
    if rotor {
        // Manager on/off while the store holds SMALL keys, in fresh processes ordered
        // on, off, off, on so a drift in machine load over the four hits both modes alike.
        for on in [true, false, false, true] {
            let extra: &[(&str, &str)] = if on {
                &[]
            } else {
                &[(ENV_MANAGER, "external")]
            };
            run(vec![format!("mgr:{SMALL}")], &mut rows, extra);
        }
    }

    let reps = args.plan().repeats;
    if args.wants("init") {
        for i in 0..reps {
            let mut steps = vec![format!("probe:{SMALL}")];
            if i + 1 == reps {
                steps.push(format!("populate:{SMALL}:{MEDIUM}"));
            }
            run(steps, &mut rows, &[]);
        }
        have = MEDIUM;
        for _ in 0..reps {
            run(vec![format!("probe:{MEDIUM}")], &mut rows, &[]);
        }
    }
    if big_find {
        run(
            vec![format!("populate:{have}:{LARGE}"), format!("find:{LARGE}")],
            &mut rows,
            &[],
        );
    } else if args.wants("find") {
        let why = format!(
            "creating 100k {} objects takes too long (use --full)",
            t.name
        );
        for what in ["hit", "miss"] {
            rows.push(Row::skipped(
                "find",
                format!(
                    "find by label ({what}) among {} token keys",
                    thousands(LARGE)
                ),
                why.clone(),
            ));
        }
    }
    let mut rows = merge_values(rows);
    if let Some(r) = marginal_rss(&rows) {
        rows.push(r);
    }
    if rotor {
        rows.extend(manager_ratios(&rows, SMALL));
    }
    (rows, info)
}

/// Parent entry point.
pub fn run(args: &Args) -> Result<(), String> {
    let argv: Vec<String> = std::env::args().collect();
    let shown: Vec<&str> = argv
        .iter()
        .skip(1)
        .map(String::as_str)
        .filter(|a| *a != "--bench")
        .collect();
    let command = format!("cargo bench --bench pkcs11 -- {}", shown.join(" "))
        .trim_end()
        .trim_end_matches(" --")
        .to_string();
    let plan = args.plan();
    let machine = machine();
    let mut notes = Vec::new();
    let mut columns = Vec::new();
    let mut per_module = Vec::new();
    let mut ceiling: Vec<Row> = Vec::new();
    for path in targets(args) {
        let kind = Kind::detect(&path);
        let t = Target {
            name: kind.display(&path),
            path: path.clone(),
            kind,
        };
        if !path.exists() {
            notes.push(format!(
                "{}: module not found at {} — column left out",
                t.name,
                path.display()
            ));
            continue;
        }
        if t.kind == Kind::Keyrotor {
            refuse_stale(&path)?;
        }
        let (rows, info) = run_module(args, &t, per_module.is_empty(), &mut notes);
        columns.push(Column {
            name: t.name.clone(),
            path: path.display().to_string(),
            info,
        });
        // The first module's worker measured the ceiling beside its own loops.
        let (ceil_rows, rows): (Vec<Row>, Vec<Row>) =
            rows.into_iter().partition(|r| r.group == "ceiling");
        ceiling.extend(ceil_rows);
        per_module.push(rows);
    }
    let want_ceiling = args.wants("ceiling") || args.wants("gcm") || args.wants("msg");
    if ceiling.is_empty() && want_ceiling {
        eprintln!("== ceiling (standalone)");
        ceiling = crate::ceiling::ceiling(&plan);
    }
    if args.wants("gcm") || args.wants("msg") {
        notes.push(
            "gcm/msg: timed calls go straight to the module's function list (exactly C_EncryptInit + one C_Encrypt into a preallocated buffer; C_EncryptMessage likewise); setup goes through cryptoki. Each thread has its own session on the same key. Every loop runs only after an untimed encrypt/decrypt round trip returned the plaintext."
            .to_string(),
        );
        if let Some(c) = columns.first() {
            notes.push(format!(
                "ceiling: measured in alternating repeats with each of {}'s gcm/msg loops (same time, same load); the {}/ceiling ratio uses that paired value, the ceiling table shows the pairs from the session-key loops. Other modules' rows ran at other times.",
                c.name, c.name
            ));
        }
    }
    if args.wants("rotor") {
        notes.push(format!(
            "rotor: keyrotor-only scenarios (vendor mechanism, vendor attributes, {ENV_MANAGER}), so other modules have no cells there. Envelope rows alternate with the ceiling like gcm (the envelope also writes a 5-byte header and takes its IV from a counter). Rotation rows: AES-GCM 64 B through the current object of a key that never rotates (measured first), then of a key created with ROTATION_PERIOD, VALID_PERIOD, GRACE_PERIOD, RETENTION = 1 s and KEEP_VERSIONS = 2, each {} s of timed repeats; both time every op (adds a clock pair per op, so their ops/s are below the gcm rows) to report the slowest op and the ops over 1 ms (on a shared machine preemption lands there too: compare the two keys); both keys are destroyed afterwards. Manager on/off: 4 fresh worker processes (on, off, off, on; the off ones alone get {ENV_MANAGER}=external, every other keyrotor worker has it removed), each waits 1 s untimed, then measures; each mode's rows pool the repeats of its 2 processes (median ops/s; p50/p99 are sample-weighted means of the two processes' values).",
            crate::scen_rotor::ROTATION_WINDOW.as_secs()
        ));
    }
    notes.push("cpu: the measuring threads' CPU time / wall time (median over repeats); well below 100% on a CPU-bound row means the threads were preempted by other work on this shared machine, so read that row with care.".into());
    if args.wants("init") {
        notes.push(format!(
            "init: each value is the median over {} fresh worker processes.",
            plan.repeats
        ));
    }
    notes.push(format!(
        "machine has {} CPUs shared with other work; 2-thread rows are sensitive to that.",
        machine.nproc
    ));
    let report = Report {
        command,
        argv,
        machine,
        timing: format!(
            "{:?} per repeat × {} repeats after {:?} warm-up",
            plan.duration, plan.repeats, plan.warmup
        ),
        lines: join(&per_module, &ceiling),
        columns,
        notes,
    };
    // A closed stdout (e.g. piped into `head`) must not abort the run before the JSON is written.
    let _ = writeln!(std::io::stdout(), "{}", markdown(&report));
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        std::fs::write(path, text).map_err(|e| format!("writing {}: {e}", path.display()))?;
        eprintln!("JSON written to {}", path.display());
    }
    Ok(())
}
