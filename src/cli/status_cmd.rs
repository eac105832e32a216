//! `keyrotor status`: every key's Active version, its age, when it rotates
//! next (overdue rotations highlighted), its versions by state, the storage
//! re-encryption progress and which process leads the key manager.

use std::io::IsTerminal;
use std::sync::Arc;

use serde_json::{json, Value};

use super::context::Ctx;
use super::error::CliResult;
use super::format::{self, Table};
use super::key_view;
use super::Cli;
use crate::keys::clock;
use crate::keys::storage::{self, StorageProgress};
use crate::token::slot::KeyRing;

/// When a key rotates next, as the status table says it.
#[derive(Debug, PartialEq, Eq)]
enum Next {
    /// Never automatically.
    Manual,
    /// The Active version is disabled; nothing rotates it.
    Held,
    /// The Active version reached its encryption limit.
    UsageLimit,
    /// Due at this time (possibly past).
    At(i64),
}

fn next_rotation(ring: &KeyRing) -> Next {
    let active = ring
        .versions
        .iter()
        .find(|v| v.version == ring.key.active_version);
    if active.is_some_and(|a| a.held) {
        return Next::Held;
    }
    if active.is_some_and(|a| a.encrypt_count >= ring.policy.max_encryptions) {
        return Next::UsageLimit;
    }
    ring.key.next_rotation_at.map_or(Next::Manual, Next::At)
}

fn overdue(next: &Next, now: i64) -> bool {
    match next {
        Next::UsageLimit => true,
        Next::At(t) => *t <= now,
        Next::Manual | Next::Held => false,
    }
}

fn next_text(next: &Next, now: i64) -> String {
    match next {
        Next::Manual => "manual".into(),
        Next::Held => "on hold (active version disabled)".into(),
        Next::UsageLimit => "OVERDUE (encryption limit reached)".into(),
        Next::At(t) => format::relative(*t, now),
    }
}

fn active_age(ring: &KeyRing, now: i64) -> Option<i64> {
    ring.versions
        .iter()
        .find(|v| v.version == ring.key.active_version)
        .and_then(|v| v.activated_at)
        .map(|t| now - t)
}

/// The storage line: which data key is active and what is left to re-seal.
fn storage_text(p: &StorageProgress) -> String {
    if p.remaining == 0 {
        return format!(
            "data key {} active; all {} sealed rows current",
            p.active_id, p.total
        );
    }
    let done = p.total.saturating_sub(p.remaining);
    let pct = done.saturating_mul(100).checked_div(p.total).unwrap_or(100);
    format!(
        "data key {} active; re-encrypting: {done} of {} rows done ({pct}%), {} still under older keys",
        p.active_id, p.total, p.remaining
    )
}

/// The manager line: who holds the lease and for how long.
fn leader_text(lease: &Option<(String, i64)>, now: i64) -> String {
    match lease {
        None => "no leader: no process is running the manager with the token unlocked".into(),
        Some((holder, exp)) if *exp > now => {
            format!("leader {holder}, lease expires in {}", format::span(exp - now))
        }
        Some((holder, exp)) => format!(
            "no leader: the last one ({holder}) let its lease expire {} ago; run `keyrotor manager run` \
             or an application logged in to the token",
            format::span(now - exp)
        ),
    }
}

fn key_json(ring: &KeyRing, now: i64) -> Value {
    let next = next_rotation(ring);
    json!({
        "name": ring.key.name,
        "active_version": ring.key.active_version,
        "active_age_ms": active_age(ring, now),
        "next_rotation_at": ring.key.next_rotation_at,
        "overdue": overdue(&next, now),
        "versions": key_view::versions_by_state_json(&ring.versions),
        "disabled": ring.versions.iter().filter(|v| v.held).count(),
    })
}

/// Builds the whole status report (separate from I/O so it can be tested).
fn render(
    rings: &[Arc<KeyRing>],
    storage: Result<StorageProgress, String>,
    lease: &Option<(String, i64)>,
    now: i64,
    json: bool,
    color: bool,
) -> String {
    if json {
        let storage = match &storage {
            Ok(p) => json!(p),
            Err(e) => json!({ "error": e }),
        };
        let manager = lease
            .as_ref()
            .map(|(h, exp)| json!({ "holder": h, "expires_at": exp, "live": *exp > now }));
        let doc = json!({
            "now": now,
            "keys": rings.iter().map(|r| key_json(r, now)).collect::<Vec<_>>(),
            "storage": storage,
            "manager": manager,
        });
        return format!("{doc}\n");
    }
    let mut out = String::new();
    let mut late = Vec::new();
    if rings.is_empty() {
        out.push_str("no keys; create one with `keyrotor key create NAME`\n");
    } else {
        let mut t = Table::new(&["KEY", "ACTIVE", "AGE", "NEXT ROTATION", "VERSIONS"]);
        for r in rings {
            let next = next_rotation(r);
            let is_late = overdue(&next, now);
            if is_late {
                late.push(r.key.name.clone());
            }
            t.row_marked(
                vec![
                    r.key.name.clone(),
                    format!("v{}", r.key.active_version),
                    active_age(r, now).map_or_else(|| "-".into(), format::span),
                    next_text(&next, now),
                    key_view::versions_by_state(&r.versions),
                ],
                is_late.then_some(3),
            );
        }
        out.push_str(&t.render(color));
    }
    out.push('\n');
    let storage = match storage {
        Ok(p) => storage_text(&p),
        Err(e) => format!("unknown ({e})"),
    };
    out.push_str(&format!("{:<14}{storage}\n", "storage key"));
    out.push_str(&format!("{:<14}{}\n", "manager", leader_text(lease, now)));
    if !late.is_empty() {
        out.push_str(&format!(
            "\n{} overdue for rotation: {}. Is a manager running with the token unlocked?\n",
            if late.len() == 1 {
                "1 key is"
            } else {
                "keys are"
            },
            late.join(", ")
        ));
    }
    out
}

/// Runs `keyrotor status`.
pub fn run(cli: &Cli) -> CliResult<()> {
    let ctx = Ctx::open_token(cli)?;
    ctx.slot.run(|s| s.reload())?;
    let now = clock::now_ms();
    let rings = ctx.slot.rings();
    // Status still prints when the progress scan fails; it says why instead.
    let storage = ctx.slot.run(storage::progress).map_err(|e| e.to_string());
    let lease = ctx
        .slot
        .store_call(|st| async move { st.lease_holder().await })?;
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    print!("{}", render(&rings, storage, &lease, now, ctx.json, color));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::lifecycle::State;
    use crate::keys::policy::Policy;
    use crate::store::{KeyRecord, VersionRecord};

    fn ring(name: &str, next: Option<i64>, encrypts: u64) -> Arc<KeyRing> {
        let v = |n: u32, state: State| VersionRecord {
            key_uid: name.into(),
            version: n,
            version_uid: format!("{name}{n}"),
            state: state as u8,
            held: false,
            created_at: 0,
            activated_at: Some(0),
            deactivated_at: None,
            grace_at: None,
            revoked_at: None,
            destroyed_at: None,
            compromised_at: None,
            sealed: None,
            encrypt_count: encrypts,
            decrypt_count: 0,
            iv_reserved: 0,
        };
        Arc::new(KeyRing {
            key: KeyRecord {
                key_uid: name.into(),
                name: name.into(),
                ck_id: vec![],
                public: vec![],
                policy: "{}".into(),
                active_version: 2,
                next_rotation_at: next,
                created_at: 0,
                updated_at: 0,
            },
            policy: Policy {
                max_encryptions: 10,
                ..Policy::default()
            },
            versions: vec![v(1, State::Valid), v(2, State::Active)],
        })
    }

    #[test]
    fn overdue_keys_are_flagged_and_named() {
        let now = 10 * 86_400_000;
        let rings = vec![
            ring("late", Some(now - 120_000), 0),
            ring("ok", Some(now + 3 * 86_400_000 + 4 * 3_600_000), 0),
            ring("used", Some(now + 1), 10),
        ];
        let storage = Ok(StorageProgress {
            active_id: 2,
            total: 10,
            remaining: 4,
        });
        let lease = Some(("42:abcd".to_string(), now + 2_000));
        let text = render(&rings, storage, &lease, now, false, false);
        assert!(text.contains("OVERDUE 2m 0s"), "{text}");
        assert!(text.contains("in 3d 4h"), "{text}");
        assert!(
            text.contains("OVERDUE (encryption limit reached)"),
            "{text}"
        );
        assert!(text.contains("1 active, 1 valid"), "{text}");
        assert!(text.contains("10d 0h"), "{text}");
        assert!(
            text.contains("6 of 10 rows done (60%), 4 still under older keys"),
            "{text}"
        );
        assert!(
            text.contains("leader 42:abcd, lease expires in 2s"),
            "{text}"
        );
        assert!(text.contains("overdue for rotation: late, used"), "{text}");
        let colored = render(
            &rings,
            Ok(StorageProgress {
                active_id: 1,
                total: 0,
                remaining: 0,
            }),
            &None,
            now,
            false,
            true,
        );
        assert!(colored.contains("\x1b[1;31mOVERDUE 2m 0s"), "{colored}");
    }

    #[test]
    fn json_status_parses_and_marks_overdue() {
        let now = 1_000_000;
        let rings = vec![ring("late", Some(now - 1), 0)];
        let text = render(
            &rings,
            Err("locked".into()),
            &Some(("h".into(), now - 5)),
            now,
            true,
            false,
        );
        let j: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(j["keys"][0]["overdue"], true);
        assert_eq!(j["keys"][0]["versions"]["valid"], 1);
        assert_eq!(j["storage"]["error"], "locked");
        assert_eq!(j["manager"]["live"], false);
        assert!(leader_text(&Some(("h".into(), now - 300_000)), now).contains("expire 5m 0s ago"));
    }
}
