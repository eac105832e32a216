//! Worker mode: one process, one module, loaded and C_Initialize'd once. Runs the steps the
//! parent asked for, in order, and rewrites its JSON result file after every step so a crash
//! inside the module loses only the step it happened in.
//!
//! Steps: `setup` (first: C_InitToken + C_InitPIN), `probe:N` (first: cold-start measurements
//! with N keys in the store), `keygen`, `populate:FROM:TO`, `gcm:N`, `msg:N`, `find:N`, `login`,
//! and keyrotor only: `rotor:N` (envelope + rotation latency), `mgr:N` (manager on/off half).

use crate::ceiling::Ceiling;
use crate::cli::{Args, WorkerArgs};
use crate::raw::ck_err;
use crate::rows::{Row, WorkerOut};
use crate::scen_envelope::envelope;
use crate::scen_gcm::gcm;
use crate::scen_init::probe;
use crate::scen_keys::{find, keygen, login, populate};
use crate::scen_manager::manager;
use crate::scen_msg::msg;
use crate::scen_rotor::rotation;
use crate::setup::{attach, load_and_initialize, user_session, Kind, Loaded};
use cryptoki::session::Session;

fn write(out: &WorkerOut, w: &WorkerArgs) -> Result<(), String> {
    let text = serde_json::to_string(out).map_err(|e| e.to_string())?;
    std::fs::write(&w.out, text).map_err(|e| format!("writing {:?}: {e}", w.out))
}

fn num(s: Option<&str>) -> Result<u64, String> {
    s.and_then(|v| v.parse().ok())
        .ok_or_else(|| "bad step number".to_string())
}

/// Runs the worker. Errors are only harness failures; module errors become rows.
pub fn run(args: &Args, w: &WorkerArgs) -> Result<(), String> {
    let path = args.modules.first().ok_or("worker needs --module")?;
    let kind = Kind::parse(&w.kind).ok_or("bad --kind")?;
    let name = kind.display(path);
    let plan = args.plan();
    let mut out = WorkerOut::default();
    let first = w.steps.first().map(String::as_str).unwrap_or("");
    let ceiling = if w.ceiling {
        Some(Ceiling::new()?)
    } else {
        None
    };

    // Load: through the probe (which times it) or directly.
    let (loaded, mut anchor): (Loaded, Option<Session>) = if let Some(n) =
        first.strip_prefix("probe:")
    {
        let p = probe(path, kind, num(Some(n))?);
        out.rows.extend(p.rows);
        match p.loaded {
            Some(l) => (l, p.session),
            None => return write(&out, w),
        }
    } else {
        let loaded =
            match load_and_initialize(path).and_then(|p| attach(p, path, kind, first == "setup")) {
                Ok(l) => l,
                Err(e) => {
                    out.rows
                        .push(Row::error("setup", "load, C_Initialize, token setup", e));
                    return write(&out, w);
                }
            };
        let s = user_session(&loaded);
        if let Err(e) = &s {
            out.rows
                .push(Row::error("setup", "C_OpenSession + C_Login", e.clone()));
        }
        (loaded, s.ok())
    };
    out.info = loaded.info.clone();
    write(&out, w)?;

    for step in &w.steps {
        let mut parts = step.split(':');
        let op = parts.next().unwrap_or("");
        eprintln!("[{name}] {step}");
        if op == "setup" || op == "probe" {
            out.done_steps.push(step.clone());
            continue;
        }
        if op == "login" {
            // Every C_Login must be a real one: no other session may be open.
            if let Some(s) = anchor.take() {
                if let Err(e) = s.close() {
                    out.notes
                        .push(format!("{name}: closing the main session: {}", ck_err(e)));
                }
            }
            out.rows.push(login(&loaded, &plan));
            anchor = user_session(&loaded).ok();
        } else if let Some(a) = &anchor {
            match op {
                "keygen" => out.rows.extend(keygen(&loaded, a, &plan)),
                "populate" => {
                    out.rows
                        .push(populate(a, num(parts.next())?, num(parts.next())?, &name))
                }
                "gcm" => {
                    out.rows
                        .extend(gcm(&loaded, a, &plan, num(parts.next())?, ceiling.as_ref()))
                }
                "msg" => {
                    out.rows
                        .extend(msg(&loaded, a, &plan, num(parts.next())?, ceiling.as_ref()))
                }
                "find" => out.rows.extend(find(&loaded, &plan, num(parts.next())?)),
                "rotor" => {
                    let n = num(parts.next())?;
                    out.rows
                        .extend(envelope(&loaded, a, &plan, n, ceiling.as_ref()));
                    out.rows.extend(rotation(&loaded, a, &plan, &mut out.notes));
                }
                "mgr" => out
                    .rows
                    .extend(manager(&loaded, a, &plan, num(parts.next())?)),
                other => return Err(format!("unknown worker step {other:?}")),
            }
        } else {
            out.rows.push(Row::error(
                "setup",
                format!("step {step}"),
                "no logged-in session",
            ));
        }
        out.done_steps.push(step.clone());
        write(&out, w)?;
    }
    drop(anchor);
    let Loaded { pkcs11, raw, .. } = loaded;
    drop(raw);
    if let Err(e) = pkcs11.finalize() {
        out.notes.push(format!("{name}: C_Finalize: {}", ck_err(e)));
        write(&out, w)?;
    }
    Ok(())
}
