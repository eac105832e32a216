//! Parent mode: decides which modules to measure, gives each a private temp environment, runs
//! its steps in re-executed worker processes (PKCS#11 is once per process, and the cold-start
//! probe needs fresh processes), runs the in-process ceiling, and prints the report.

use crate::cli::Args;
use crate::report::{join, machine, markdown, Column, Report};
use crate::rows::{thousands, Outcome, Row, WorkerOut};
use crate::setup::{prepare, Kind, Prepared, Target, SOFTHSM_PATH};
use crate::stats::median;
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

fn targets(args: &Args) -> Vec<PathBuf> {
    let mut v = args.modules.clone();
    if args.softhsm {
        v.push(SOFTHSM_PATH.into());
    }
    if v.is_empty() {
        v = vec![default_keyrotor(), SOFTHSM_PATH.into()];
    }
    v
}

/// Runs one worker process; returns its result (possibly partial) and a note if it failed.
fn spawn(args: &Args, t: &Target, env: &Prepared, steps: &[String]) -> (WorkerOut, Option<String>) {
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
    cmd.envs(env.env.iter().map(|(k, v)| (k, v)));
    for k in &env.env_remove {
        cmd.env_remove(k);
    }
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

/// Merges value rows that several probe processes produced into one row with their median.
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
fn run_module(args: &Args, t: &Target, notes: &mut Vec<String>) -> (Vec<Row>, String) {
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
    let mut run = |steps: Vec<String>, rows: &mut Vec<Row>| {
        eprintln!("== {}: {}", t.name, steps.join(","));
        let (out, note) = spawn(args, t, &env, &steps);
        if info.is_empty() {
            info = out.info.clone();
        }
        rows.extend(out.rows);
        notes.extend(out.notes);
        notes.extend(note);
    };
    let s = |v: &str| v.to_string();
    let big_find = args.wants("find") && (t.kind == Kind::Keyrotor || args.full);
    let need_small = ["gcm", "msg", "find", "init"].iter().any(|g| args.wants(g)) || big_find;

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
    if args.wants("login") {
        main.push(s("login"));
    }
    run(main, &mut rows);

    let reps = args.plan().repeats;
    if args.wants("init") {
        for i in 0..reps {
            let mut steps = vec![format!("probe:{SMALL}")];
            if i + 1 == reps {
                steps.push(format!("populate:{SMALL}:{MEDIUM}"));
            }
            run(steps, &mut rows);
        }
        have = MEDIUM;
        for _ in 0..reps {
            run(vec![format!("probe:{MEDIUM}")], &mut rows);
        }
    }
    if big_find {
        run(
            vec![format!("populate:{have}:{LARGE}"), format!("find:{LARGE}")],
            &mut rows,
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
        let (rows, info) = run_module(args, &t, &mut notes);
        columns.push(Column {
            name: t.name.clone(),
            path: path.display().to_string(),
            info,
        });
        per_module.push(rows);
    }
    let ceiling = if args.wants("ceiling") || args.wants("gcm") || args.wants("msg") {
        eprintln!("== ceiling");
        crate::ceiling::ceiling(&plan)
    } else {
        Vec::new()
    };
    if args.wants("gcm") || args.wants("msg") {
        notes.push("gcm/msg: timed calls go straight to the module's function list (exactly C_EncryptInit + one C_Encrypt into a preallocated buffer); setup goes through cryptoki. Each thread has its own session on the same key.".into());
    }
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
    println!("{}", markdown(&report));
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        std::fs::write(path, text).map_err(|e| format!("writing {}: {e}", path.display()))?;
        eprintln!("JSON written to {}", path.display());
    }
    Ok(())
}
