//! The lifecycle of a key version and the time-driven moves between states.
//!
//! ```text
//! Active ─rotate─► Valid ─valid period over / re-encrypted─► Grace ─grace over─► Revoked ─retention met─► Destroyed
//!    └────────────── compromise ──────────────► Compromised
//! Disabled: an admin hold on any version (a flag beside the state), reversible.
//! ```

use crate::store::VersionRecord;

use super::policy::{CompromisedDecrypt, Policy};

/// A version's lifecycle state (stored as its number).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum State {
    /// Encrypts and decrypts; exactly one per key.
    Active = 1,
    /// Replaced; still decrypts.
    Valid = 2,
    /// Still decrypts, on its way out.
    Grace = 3,
    /// Refuses everything; material kept until retention is met.
    Revoked = 4,
    /// Material erased.
    Destroyed = 5,
    /// Emergency: never encrypts; decrypts only as policy allows.
    Compromised = 6,
}

impl State {
    /// Parses the stored number.
    pub fn from_u8(v: u8) -> Option<State> {
        Some(match v {
            1 => State::Active,
            2 => State::Valid,
            3 => State::Grace,
            4 => State::Revoked,
            5 => State::Destroyed,
            6 => State::Compromised,
            _ => return None,
        })
    }

    /// Lower-case name for tables, JSON and logs.
    pub fn name(self) -> &'static str {
        match self {
            State::Active => "active",
            State::Valid => "valid",
            State::Grace => "grace",
            State::Revoked => "revoked",
            State::Destroyed => "destroyed",
            State::Compromised => "compromised",
        }
    }
}

/// What a version may be used for right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage {
    /// May encrypt.
    pub encrypt: bool,
    /// May decrypt for any purpose.
    pub decrypt: bool,
    /// May decrypt inside the rewrap mechanism only.
    pub rewrap: bool,
}

/// The usage a version's state, hold flag and policy allow.
pub fn usage(state: State, held: bool, policy: &Policy) -> Usage {
    if held {
        return Usage {
            encrypt: false,
            decrypt: false,
            rewrap: false,
        };
    }
    match state {
        State::Active => Usage {
            encrypt: true,
            decrypt: true,
            rewrap: true,
        },
        State::Valid | State::Grace => Usage {
            encrypt: false,
            decrypt: true,
            rewrap: true,
        },
        State::Compromised => Usage {
            encrypt: false,
            decrypt: false,
            rewrap: policy.compromised_decrypt == CompromisedDecrypt::RewrapOnly,
        },
        State::Revoked | State::Destroyed => Usage {
            encrypt: false,
            decrypt: false,
            rewrap: false,
        },
    }
}

fn ms(s: u64) -> i64 {
    i64::try_from(s)
        .unwrap_or(i64::MAX / 2000)
        .saturating_mul(1000)
}

/// The next time-driven move of `v`, if one is due at `now`.
/// `newer` counts the versions of the key newer than `v`.
pub fn due_transition(v: &VersionRecord, policy: &Policy, now: i64, newer: u32) -> Option<State> {
    if v.held {
        return None;
    }
    let state = State::from_u8(v.state)?;
    let since = |t: Option<i64>, dur: u64| t.is_some_and(|t| t.saturating_add(ms(dur)) <= now);
    match state {
        State::Valid
            if !policy.keep_until_reencrypted && since(v.deactivated_at, policy.valid_period_s) =>
        {
            Some(State::Grace)
        }
        State::Grace if since(v.grace_at, policy.grace_period_s) => Some(State::Revoked),
        State::Revoked
            if newer >= policy.keep_versions && since(v.revoked_at, policy.retention_s) =>
        {
            Some(State::Destroyed)
        }
        State::Compromised
            if newer >= policy.keep_versions && since(v.compromised_at, policy.retention_s) =>
        {
            Some(State::Destroyed)
        }
        _ => None,
    }
}

/// When [`due_transition`] starts to return a move for `v`, all else equal
/// (`None`: never by time alone).
pub fn transition_due_at(v: &VersionRecord, policy: &Policy, newer: u32) -> Option<i64> {
    if v.held {
        return None;
    }
    let at = |t: Option<i64>, dur: u64| t.map(|t| t.saturating_add(ms(dur)));
    match State::from_u8(v.state)? {
        State::Valid if !policy.keep_until_reencrypted => {
            at(v.deactivated_at, policy.valid_period_s)
        }
        State::Grace => at(v.grace_at, policy.grace_period_s),
        State::Revoked if newer >= policy.keep_versions => at(v.revoked_at, policy.retention_s),
        State::Compromised if newer >= policy.keep_versions => {
            at(v.compromised_at, policy.retention_s)
        }
        _ => None,
    }
}

/// Applies a move to a version row: state, its time stamp, and erasure of
/// the material when destroyed.
pub fn apply(v: &mut VersionRecord, to: State, now: i64) {
    v.state = to as u8;
    match to {
        State::Active => v.activated_at = Some(now),
        State::Valid => v.deactivated_at = Some(now),
        State::Grace => v.grace_at = Some(now),
        State::Revoked => v.revoked_at = Some(now),
        State::Destroyed => {
            v.destroyed_at = Some(now);
            v.sealed = None;
        }
        State::Compromised => v.compromised_at = Some(now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(state: State, at: i64) -> VersionRecord {
        VersionRecord {
            key_uid: "k".into(),
            version: 1,
            version_uid: "v".into(),
            state: state as u8,
            held: false,
            created_at: 0,
            activated_at: Some(0),
            deactivated_at: Some(at),
            grace_at: Some(at),
            revoked_at: Some(at),
            destroyed_at: None,
            compromised_at: Some(at),
            sealed: Some(vec![1, 2, 3]),
            encrypt_count: 0,
            decrypt_count: 0,
            iv_reserved: 0,
        }
    }

    fn quick() -> Policy {
        Policy {
            valid_period_s: 2,
            grace_period_s: 2,
            retention_s: 2,
            keep_versions: 1,
            ..Policy::default()
        }
    }

    #[test]
    fn versions_walk_the_lifecycle_by_time() {
        let p = quick();
        assert_eq!(
            due_transition(&version(State::Valid, 0), &p, 1_999, 1),
            None
        );
        assert_eq!(
            due_transition(&version(State::Valid, 0), &p, 2_000, 1),
            Some(State::Grace)
        );
        assert_eq!(
            due_transition(&version(State::Grace, 0), &p, 2_000, 1),
            Some(State::Revoked)
        );
        assert_eq!(
            due_transition(&version(State::Revoked, 0), &p, 2_000, 1),
            Some(State::Destroyed)
        );
        assert_eq!(
            due_transition(&version(State::Active, 0), &p, 99_999, 1),
            None
        );
    }

    #[test]
    fn transition_due_at_is_the_first_moment_due_transition_answers() {
        let keep3 = Policy {
            keep_versions: 3,
            ..quick()
        };
        let until = Policy {
            keep_until_reencrypted: true,
            ..quick()
        };
        let mut held = version(State::Grace, 500);
        held.held = true;
        let cases = [
            (version(State::Valid, 500), quick(), 1),
            (version(State::Grace, 700), quick(), 1),
            (version(State::Revoked, 900), quick(), 1),
            (version(State::Compromised, 100), quick(), 1),
            (version(State::Revoked, 900), keep3.clone(), 2),
            (version(State::Valid, 500), until, 1),
            (version(State::Active, 0), quick(), 1),
            (version(State::Destroyed, 0), quick(), 1),
            (held, quick(), 1),
        ];
        for (v, p, newer) in cases {
            match transition_due_at(&v, &p, newer) {
                Some(t) => {
                    assert_eq!(
                        due_transition(&v, &p, t - 1, newer),
                        None,
                        "{v:?} before {t}"
                    );
                    assert!(due_transition(&v, &p, t, newer).is_some(), "{v:?} at {t}");
                }
                None => assert_eq!(due_transition(&v, &p, i64::MAX / 2, newer), None, "{v:?}"),
            }
        }
    }

    #[test]
    fn retention_keeps_the_newest_versions_and_holds_stop_time() {
        let p = Policy {
            keep_versions: 3,
            ..quick()
        };
        assert_eq!(
            due_transition(&version(State::Revoked, 0), &p, 9_000, 2),
            None
        );
        let mut held = version(State::Grace, 0);
        held.held = true;
        assert_eq!(due_transition(&held, &quick(), 9_000, 5), None);
        let keep = Policy {
            keep_until_reencrypted: true,
            ..quick()
        };
        assert_eq!(
            due_transition(&version(State::Valid, 0), &keep, 9_000, 5),
            None
        );
    }

    #[test]
    fn destroy_erases_material_and_usage_follows_state() {
        let mut v = version(State::Revoked, 0);
        apply(&mut v, State::Destroyed, 5);
        assert!(v.sealed.is_none());
        assert_eq!(v.destroyed_at, Some(5));
        let p = Policy::default();
        assert!(usage(State::Active, false, &p).encrypt);
        assert!(!usage(State::Valid, false, &p).encrypt && usage(State::Valid, false, &p).decrypt);
        assert!(!usage(State::Active, true, &p).decrypt);
        let c = usage(State::Compromised, false, &p);
        assert!(!c.decrypt && c.rewrap);
    }
}
