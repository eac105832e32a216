//! `keyrotor manager run [--once]`: the key manager in the foreground, for
//! hosts that forbid threads inside the PKCS#11 library. It logs in (the
//! manager must seal new versions), runs one manager tick every
//! `manager::TICK` until SIGINT/SIGTERM, and logs what changed: leadership,
//! rotations and lifecycle moves, found by comparing the keys between ticks.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::context::{state_name, Ctx};
use super::error::CliResult;
use super::format;
use super::signal;
use super::Cli;
use crate::keys::{clock, manager};

/// What the log tracks of one key: active version, and per version its
/// state name and hold flag.
type Snapshot = BTreeMap<String, (u32, BTreeMap<u32, (String, bool)>)>;

/// One thing the manager loop noticed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// This process took the leader lease (true) or another one holds it (false).
    Leader { holder: String, ours: bool },
    /// A key appeared.
    Created { key: String },
    /// A key disappeared.
    Deleted { key: String },
    /// A key got a new Active version.
    Rotated { key: String, version: u32 },
    /// A version moved through its lifecycle.
    State {
        key: String,
        version: u32,
        from: String,
        to: String,
    },
    /// A version's hold was put on or lifted.
    Hold {
        key: String,
        version: u32,
        held: bool,
    },
    /// A tick failed; the loop goes on.
    Failed { error: String },
}

impl Event {
    fn text(&self) -> String {
        match self {
            Event::Leader { holder, ours: true } => {
                format!("this process ({holder}) leads the key manager")
            }
            Event::Leader {
                holder,
                ours: false,
            } => format!("{holder} leads the key manager; standing by"),
            Event::Created { key } => format!("key {key} created"),
            Event::Deleted { key } => format!("key {key} destroyed"),
            Event::Rotated { key, version } => format!("rotated {key}: v{version} is active"),
            Event::State {
                key,
                version,
                from,
                to,
            } => format!("{key} v{version}: {from} -> {to}"),
            Event::Hold {
                key,
                version,
                held: true,
            } => format!("{key} v{version} disabled"),
            Event::Hold {
                key,
                version,
                held: false,
            } => format!("{key} v{version} enabled"),
            Event::Failed { error } => format!("tick failed: {error}"),
        }
    }

    fn json(&self, at: i64) -> Value {
        let mut v = match self {
            Event::Leader { holder, ours } => {
                json!({ "event": "leader", "holder": holder, "ours": ours })
            }
            Event::Created { key } => json!({ "event": "created", "key": key }),
            Event::Deleted { key } => json!({ "event": "deleted", "key": key }),
            Event::Rotated { key, version } => {
                json!({ "event": "rotated", "key": key, "version": version })
            }
            Event::State {
                key,
                version,
                from,
                to,
            } => {
                json!({ "event": "state", "key": key, "version": version, "from": from, "to": to })
            }
            Event::Hold { key, version, held } => {
                json!({ "event": "hold", "key": key, "version": version, "disabled": held })
            }
            Event::Failed { error } => json!({ "event": "failed", "error": error }),
        };
        v["at"] = json!(at);
        v
    }
}

fn snapshot(ctx: &Ctx) -> Snapshot {
    ctx.slot
        .rings()
        .iter()
        .map(|r| {
            let versions = r
                .versions
                .iter()
                .map(|v| (v.version, (state_name(v), v.held)))
                .collect();
            (r.key.name.clone(), (r.key.active_version, versions))
        })
        .collect()
}

/// What changed between two snapshots, in key order.
pub fn diff(before: &Snapshot, after: &Snapshot) -> Vec<Event> {
    let mut out = Vec::new();
    for key in before.keys().filter(|k| !after.contains_key(*k)) {
        out.push(Event::Deleted { key: key.clone() });
    }
    for (key, (active, versions)) in after {
        let Some((old_active, old_versions)) = before.get(key) else {
            out.push(Event::Created { key: key.clone() });
            continue;
        };
        if active != old_active {
            out.push(Event::Rotated {
                key: key.clone(),
                version: *active,
            });
        }
        for (v, (state, held)) in versions {
            let Some((old_state, old_held)) = old_versions.get(v) else {
                continue;
            };
            if state != old_state && v != active {
                out.push(Event::State {
                    key: key.clone(),
                    version: *v,
                    from: old_state.clone(),
                    to: state.clone(),
                });
            }
            if held != old_held {
                out.push(Event::Hold {
                    key: key.clone(),
                    version: *v,
                    held: *held,
                });
            }
        }
    }
    out
}

fn log(ctx: &Ctx, events: &[Event]) {
    let now = clock::now_ms();
    for e in events {
        if ctx.json {
            println!("{}", e.json(now));
        } else {
            println!("{}  slot {}: {}", format::time(now), ctx.slot.id, e.text());
        }
    }
}

/// Runs the manager loop (or one tick with `once`).
pub fn run(cli: &Cli, once: bool) -> CliResult<()> {
    let ctx = Ctx::open_token(cli)?;
    ctx.login_user()?;
    signal::install();
    let mut leader: Option<(String, bool)> = None;
    let mut before = snapshot(&ctx);
    if !ctx.json {
        println!(
            "{}  slot {}: key manager running every {} ms; stop with Ctrl-C or SIGTERM",
            format::time(clock::now_ms()),
            ctx.slot.id,
            manager::TICK.as_millis()
        );
    }
    loop {
        let mut events = Vec::new();
        if let Err(e) = ctx
            .slot
            .run(|s| async move { manager::tick_once(&s).await })
        {
            events.push(Event::Failed {
                error: e.to_string(),
            });
        }
        // Changes other processes made show up too: the library reloads them.
        if let Err(e) = ctx.slot.run(|s| s.reload()) {
            events.push(Event::Failed {
                error: e.to_string(),
            });
        }
        let lease = ctx
            .slot
            .store_call(|st| async move { st.lease_holder().await });
        if let Ok(Some((holder, expires))) = lease {
            let ours = holder == ctx.slot.holder && expires > clock::now_ms();
            if leader.as_ref() != Some(&(holder.clone(), ours)) {
                events.push(Event::Leader {
                    holder: holder.clone(),
                    ours,
                });
                leader = Some((holder, ours));
            }
        }
        let after = snapshot(&ctx);
        events.extend(diff(&before, &after));
        before = after;
        log(&ctx, &events);
        if once || signal::stop_requested() {
            break;
        }
        signal::sleep(manager::TICK);
        if signal::stop_requested() {
            break;
        }
    }
    if !ctx.json && !once {
        println!(
            "{}  slot {}: key manager stopped",
            format::time(clock::now_ms()),
            ctx.slot.id
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (key, active version, [(version, state, held)]).
    type Entry<'a> = (&'a str, u32, &'a [(u32, &'a str, bool)]);

    fn snap(entries: &[Entry]) -> Snapshot {
        entries
            .iter()
            .map(|(k, a, vs)| {
                let versions = vs
                    .iter()
                    .map(|(v, s, h)| (*v, ((*s).to_string(), *h)))
                    .collect();
                ((*k).to_string(), (*a, versions))
            })
            .collect()
    }

    #[test]
    fn diff_reports_rotations_moves_holds_and_keys() {
        let before = snap(&[
            ("a", 1, &[(1, "active", false)]),
            ("gone", 1, &[(1, "active", false)]),
        ]);
        let after = snap(&[
            ("a", 2, &[(1, "valid", true), (2, "active", false)]),
            ("new", 1, &[(1, "active", false)]),
        ]);
        let events = diff(&before, &after);
        assert_eq!(
            events,
            vec![
                Event::Deleted { key: "gone".into() },
                Event::Rotated {
                    key: "a".into(),
                    version: 2
                },
                Event::State {
                    key: "a".into(),
                    version: 1,
                    from: "active".into(),
                    to: "valid".into()
                },
                Event::Hold {
                    key: "a".into(),
                    version: 1,
                    held: true
                },
                Event::Created { key: "new".into() },
            ]
        );
        assert!(diff(&after, &after).is_empty());
        assert_eq!(events[2].text(), "a v1: active -> valid");
        assert_eq!(events[1].json(5)["version"], 2);
        assert_eq!(events[1].json(5)["at"], 5);
    }
}
