//! Read-only views of rotating keys: `key list`, `key show`, and the JSON
//! and table forms of a key and its versions that other commands reuse.

use std::fmt::Write as _;

use serde_json::{json, Value};

use super::context::{state_name, state_of};
use super::format::{self, Table};
use super::policy_args;
use crate::keys::lifecycle::State;
use crate::object::Object;
use crate::store::VersionRecord;
use crate::token::slot::KeyRing;

/// Key size in bits, from the current object's `CKA_VALUE_LEN`.
pub fn bits(ring: &KeyRing) -> Option<usize> {
    Object::decode(&ring.key.public, None)
        .ok()
        .and_then(|o| o.value_len())
        .map(|n| n * 8)
}

/// When a version entered the state it is in.
pub fn state_since(v: &VersionRecord) -> Option<i64> {
    match state_of(v)? {
        State::Active => v.activated_at,
        State::Valid => v.deactivated_at,
        State::Grace => v.grace_at,
        State::Revoked => v.revoked_at,
        State::Destroyed => v.destroyed_at,
        State::Compromised => v.compromised_at,
    }
}

/// The version's state with its hold: `valid`, `valid (disabled)`.
pub fn state_label(v: &VersionRecord) -> String {
    if v.held {
        format!("{} (disabled)", state_name(v))
    } else {
        state_name(v)
    }
}

/// One version as JSON (times in Unix milliseconds).
pub fn version_json(v: &VersionRecord) -> Value {
    json!({
        "version": v.version,
        "state": state_name(v),
        "disabled": v.held,
        "created_at": v.created_at,
        "activated_at": v.activated_at,
        "deactivated_at": v.deactivated_at,
        "grace_at": v.grace_at,
        "revoked_at": v.revoked_at,
        "destroyed_at": v.destroyed_at,
        "compromised_at": v.compromised_at,
        "encrypt_count": v.encrypt_count,
        "decrypt_count": v.decrypt_count,
        "material_present": v.sealed.is_some(),
    })
}

/// A key with its policy and versions (newest first) as JSON.
pub fn ring_json(ring: &KeyRing) -> Value {
    json!({
        "name": ring.key.name,
        "uid": ring.key.key_uid,
        "id": format::hex(&ring.key.ck_id),
        "bits": bits(ring),
        "active_version": ring.key.active_version,
        "next_rotation_at": ring.key.next_rotation_at,
        "created_at": ring.key.created_at,
        "updated_at": ring.key.updated_at,
        "policy": policy_args::to_json(&ring.policy),
        "versions": ring.versions.iter().rev().map(version_json).collect::<Vec<_>>(),
    })
}

/// "1 active, 2 valid, 1 revoked", in lifecycle order, plus holds.
pub fn versions_by_state(versions: &[VersionRecord]) -> String {
    let order = [
        State::Active,
        State::Valid,
        State::Grace,
        State::Revoked,
        State::Compromised,
        State::Destroyed,
    ];
    let mut parts: Vec<String> = order
        .iter()
        .filter_map(|s| {
            let n = versions.iter().filter(|v| v.state == *s as u8).count();
            (n > 0).then(|| format!("{n} {}", s.name()))
        })
        .collect();
    let unknown = versions.iter().filter(|v| state_of(v).is_none()).count();
    if unknown > 0 {
        parts.push(format!("{unknown} unknown"));
    }
    let held = versions.iter().filter(|v| v.held).count();
    if held > 0 {
        parts.push(format!("{held} disabled"));
    }
    parts.join(", ")
}

/// Counts by state name, for JSON.
pub fn versions_by_state_json(versions: &[VersionRecord]) -> Value {
    let mut m = serde_json::Map::new();
    for v in versions {
        let entry = m.entry(state_name(v)).or_insert(json!(0));
        *entry = json!(entry.as_u64().unwrap_or(0) + 1);
    }
    Value::Object(m)
}

/// `key list` output.
pub fn list(rings: &[std::sync::Arc<KeyRing>], json: bool, now: i64) -> String {
    if json {
        let all: Vec<Value> = rings
            .iter()
            .map(|r| {
                json!({
                    "name": r.key.name,
                    "bits": bits(r),
                    "active_version": r.key.active_version,
                    "versions": r.versions.len(),
                    "next_rotation_at": r.key.next_rotation_at,
                    "created_at": r.key.created_at,
                })
            })
            .collect();
        return format!("{}\n", Value::Array(all));
    }
    if rings.is_empty() {
        return "no keys; create one with `keyrotor key create NAME`\n".into();
    }
    let mut t = Table::new(&[
        "NAME",
        "BITS",
        "ACTIVE",
        "VERSIONS",
        "NEXT ROTATION",
        "CREATED",
    ]);
    for r in rings {
        t.row(vec![
            r.key.name.clone(),
            bits(r).map_or_else(|| "-".into(), |b| b.to_string()),
            format!("v{}", r.key.active_version),
            versions_by_state(&r.versions),
            r.key
                .next_rotation_at
                .map_or_else(|| "manual".into(), |t| format::relative(t, now)),
            format::time(r.key.created_at),
        ]);
    }
    t.render(false)
}

/// `key show` output: the key, then its versions newest first.
pub fn show(ring: &KeyRing, json: bool, now: i64) -> String {
    if json {
        return format!("{}\n", ring_json(ring));
    }
    let k = &ring.key;
    let mut out = String::new();
    let next = k.next_rotation_at.map_or_else(
        || "manual only".into(),
        |t| format!("{} ({})", format::time(t), format::relative(t, now)),
    );
    let lines = [
        ("name", k.name.clone()),
        ("uid", k.key_uid.clone()),
        (
            "id",
            if k.ck_id.is_empty() {
                "-".into()
            } else {
                format::hex(&k.ck_id)
            },
        ),
        (
            "size",
            bits(ring).map_or_else(|| "-".into(), |b| format!("{b} bits")),
        ),
        ("created", format::time(k.created_at)),
        ("active version", format!("v{}", k.active_version)),
        ("next rotation", next),
    ];
    for (label, value) in lines {
        let _ = writeln!(out, "{label:<16}{value}");
    }
    out.push('\n');
    let mut t = Table::new(&[
        "VERSION", "STATE", "SINCE", "CREATED", "ENCRYPTS", "DECRYPTS",
    ]);
    for v in ring.versions.iter().rev() {
        t.row(vec![
            format!("v{}", v.version),
            state_label(v),
            format::opt_time(state_since(v)),
            format::time(v.created_at),
            v.encrypt_count.to_string(),
            v.decrypt_count.to_string(),
        ]);
    }
    out.push_str(&t.render(false));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::policy::Policy;
    use crate::store::KeyRecord;

    fn v(n: u32, state: State, held: bool) -> VersionRecord {
        VersionRecord {
            key_uid: "k".into(),
            version: n,
            version_uid: format!("u{n}"),
            state: state as u8,
            held,
            created_at: 1_000,
            activated_at: Some(1_000),
            deactivated_at: Some(2_000),
            grace_at: None,
            revoked_at: None,
            destroyed_at: None,
            compromised_at: Some(3_000),
            sealed: Some(vec![1]),
            encrypt_count: 5,
            decrypt_count: 7,
            iv_reserved: 0,
        }
    }

    fn ring() -> KeyRing {
        KeyRing {
            key: KeyRecord {
                key_uid: "k".into(),
                name: "payments".into(),
                ck_id: vec![0xab],
                public: vec![],
                policy: "{}".into(),
                active_version: 3,
                next_rotation_at: Some(86_400_000),
                created_at: 0,
                updated_at: 0,
            },
            policy: Policy::default(),
            versions: vec![
                v(1, State::Compromised, false),
                v(2, State::Valid, true),
                v(3, State::Active, false),
            ],
        }
    }

    #[test]
    fn states_are_counted_in_lifecycle_order() {
        let r = ring();
        assert_eq!(
            versions_by_state(&r.versions),
            "1 active, 1 valid, 1 compromised, 1 disabled"
        );
        let j = versions_by_state_json(&r.versions);
        assert_eq!(j["active"], 1);
        assert_eq!(j["compromised"], 1);
    }

    #[test]
    fn show_lists_versions_newest_first_with_states() {
        let r = ring();
        let text = show(&r, false, 0);
        let v3 = text.find("v3  ").expect("v3 row");
        let v2 = text.find("v2  ").expect("v2 row");
        assert!(v3 < v2, "{text}");
        assert!(text.contains("valid (disabled)"));
        assert!(text.contains("in 1d 0h"));
        let j: Value = serde_json::from_str(&show(&r, true, 0)).expect("json");
        assert_eq!(j["versions"][0]["version"], 3);
        assert_eq!(j["versions"][0]["state"], "active");
        assert_eq!(j["versions"][1]["disabled"], true);
        assert_eq!(j["versions"][2]["compromised_at"], 3_000);
        assert_eq!(j["id"], "ab");
        assert_eq!(state_since(&r.versions[1]), Some(2_000));
    }
}
