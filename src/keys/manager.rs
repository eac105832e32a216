//! The key manager: a task inside the library, in every process that loads
//! it, which rotates keys on time or on use, walks old versions through
//! their lifecycle and erases destroyed material.
//!
//! Exactly one process leads at a time across all processes sharing a store
//! (a lease row, renewed every tick; a killed leader's lease expires after
//! [`LEASE_TTL_MS`]). Only processes whose storage keys are unlocked (a user
//! or SO logged in) compete, because new versions must be sealed. Rotation
//! is exactly-once: the store's rotating transaction checks that the Active
//! version is still the one this process saw.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use serde_json::json;

use super::clock;
use super::lifecycle::{self, State};
use super::policy::Policy;
use crate::error::{rv, Result};
use crate::mech::primitives::rng;
use crate::object::Object;
use crate::store::{KeyRecord, VersionRecord};
use crate::token::slot::{KeyRing, Slot};

/// How often the manager looks for due work.
pub const TICK: Duration = Duration::from_millis(200);
/// How long a leader's lease lasts without renewal.
pub const LEASE_TTL_MS: i64 = 3_000;

/// Environment variable choosing where the manager runs: unset or
/// `library` (inside every process that loads the module) or `external`
/// (only in `keyrotor manager run`, for hosts that forbid library threads).
pub const ENV_MANAGER: &str = "KEYROTOR_MANAGER";

/// True unless `KEYROTOR_MANAGER=external`.
pub fn in_library() -> bool {
    std::env::var(ENV_MANAGER).map_or(true, |v| v != "external")
}

/// Why a key rotates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// Its period, expiry or cron schedule came due.
    Scheduled,
    /// Its Active version reached the encryption limit.
    UsageLimit,
    /// An administrator asked.
    Manual,
    /// Emergency: the Active version is compromised.
    Compromise,
}

impl Reason {
    fn name(self) -> &'static str {
        match self {
            Reason::Scheduled => "scheduled",
            Reason::UsageLimit => "usage-limit",
            Reason::Manual => "manual",
            Reason::Compromise => "compromise",
        }
    }
}

/// The manager loop of one slot; ends when the slot is dropped or aborted.
pub async fn run(slot: Weak<Slot>) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(slot) = slot.upgrade() else { return };
        if let Err(e) = tick_once(&slot).await {
            tracing::warn!(slot = slot.id, error = %e, "key manager tick failed");
        }
    }
}

/// The shortest time between scans of the store's keys (usage counts of
/// other processes only live there); in between, time-driven work is found
/// in memory.
const SCAN_EVERY: Duration = Duration::from_secs(1);

/// A scan may take at most 1/this of the leader's time: with 100,000 keys a
/// full read takes ~0.4 s, and once a second would be 40 % of a core.
const SCAN_SHARE: u32 = 20;

/// Every this many scans one reads every key; the others read the keys
/// stamped since the previous scan (usage counts stamp them too).
const FULL_SCAN_EVERY: u64 = 60;

/// What the key manager's last scan of the store saw.
#[derive(Clone, Copy, Debug)]
pub struct ScanMark {
    /// When it started.
    at: Instant,
    /// How long it took.
    took: Duration,
    /// The store generation read before it (the next scan reads the keys
    /// changed after it).
    generation: u64,
    /// Scans so far.
    scans: u64,
}

/// Whether the next tick scans, given the last scan.
fn scan_due(last: Option<ScanMark>) -> bool {
    last.is_none_or(|m| m.at.elapsed() >= SCAN_EVERY.max(m.took * SCAN_SHARE))
}

/// When `ring` next has time-driven work: its scheduled rotation or the
/// next lifecycle move of an older version (`None`: nothing scheduled).
fn next_due_at(ring: &KeyRing) -> Option<i64> {
    let moves = ring
        .versions
        .iter()
        .filter(|v| v.version != ring.key.active_version)
        .filter_map(|v| {
            let newer = ring
                .versions
                .iter()
                .filter(|x| x.version > v.version)
                .count() as u32;
            lifecycle::transition_due_at(v, &ring.policy, newer)
        });
    ring.key.next_rotation_at.into_iter().chain(moves).min()
}

/// True when `ring` has time-driven work due at `now`.
fn due_in_memory(ring: &KeyRing, now: i64) -> bool {
    next_due_at(ring).is_some_and(|t| t <= now)
}

/// The earliest time any loaded key has time-driven work, recomputed only
/// when the rings changed: walking 100,000 rings every tick cost 5 % of a
/// core.
fn earliest_due(slot: &Slot) -> Option<i64> {
    let generation = slot.rings_generation();
    let mut cache = slot.earliest_due.lock();
    if let Some((g, due)) = *cache {
        if g == generation {
            return due;
        }
    }
    let due = slot
        .rings_where(|_| true)
        .iter()
        .filter_map(|r| next_due_at(r))
        .min();
    *cache = Some((generation, due));
    due
}

/// Whether this process leads now. The leader renews its lease once a
/// third of the TTL has passed, not every tick; a follower reads who holds
/// it and only tries to take it once it has expired. Taking or renewing is
/// a write transaction, and every process ticking five times a second used
/// to queue on the store's write lock (and the leader to fsync) each time.
async fn lead(slot: &Slot, now: i64) -> Result<bool> {
    let renewed = *slot.lease_renewed.lock();
    if renewed.is_some_and(|t| (0..LEASE_TTL_MS / 3).contains(&(now - t))) {
        return Ok(true);
    }
    let store = slot.store();
    if renewed.is_none() {
        if let Some((holder, expires)) = store.lease_holder().await? {
            if holder != slot.holder && expires > now {
                return Ok(false);
            }
        }
    }
    let won = store.try_lease(&slot.holder, now, LEASE_TTL_MS).await?;
    *slot.lease_renewed.lock() = won.then_some(now);
    Ok(won)
}

/// One round of manager duties (also what `keyrotor manager run` repeats).
pub async fn tick_once(slot: &Arc<Slot>) -> Result<()> {
    let store = slot.store();
    slot.flush_counts().await?;
    if !slot.is_unlocked() || !slot.initialized() {
        return Ok(());
    }
    let now = clock::now_ms();
    if !lead(slot, now).await? {
        return Ok(());
    }
    let last = *slot.full_scan.lock();
    if scan_due(last) {
        let started = Instant::now();
        let generation = store.generation().await?;
        let scans = last.map_or(0, |m| m.scans + 1);
        let keys = match last {
            Some(m) if !scans.is_multiple_of(FULL_SCAN_EVERY) => {
                store.load_keys_since(m.generation, false).await?.changed
            }
            _ => store.load_keys().await?,
        };
        for (key, versions) in keys {
            let ring = KeyRing {
                policy: Policy::from_json(&key.policy)?,
                key,
                versions,
            };
            run_due(slot, &ring, now).await?;
        }
        *slot.full_scan.lock() = Some(ScanMark {
            at: started,
            took: started.elapsed(),
            generation,
            scans,
        });
    } else if earliest_due(slot).is_some_and(|t| t <= now) {
        // Only the due keys, as the store has them now.
        slot.clone().refresh().await?;
        for ring in slot.rings_where(|r| due_in_memory(r, now)) {
            run_due(slot, &ring, now).await?;
        }
    }
    if super::storage::reencrypt_batch(slot, super::storage::BATCH).await? > 0 {
        slot.clone().reload().await?;
    }
    Ok(())
}

/// Rotates `ring` if due and moves its old versions along their lifecycle.
async fn run_due(slot: &Arc<Slot>, ring: &KeyRing, now: i64) -> Result<()> {
    let (key, versions, policy) = (&ring.key, &ring.versions, &ring.policy);
    let active = versions.iter().find(|v| v.version == key.active_version);
    let by_time = key.next_rotation_at.is_some_and(|t| t <= now);
    let by_use = active.is_some_and(|a| a.encrypt_count >= policy.max_encryptions);
    if (by_time || by_use) && active.is_some_and(|a| !a.held) {
        let reason = if by_use {
            Reason::UsageLimit
        } else {
            Reason::Scheduled
        };
        if rotate(slot, key, versions, policy, now, reason).await? {
            // The next tick sees the rotated key; lifecycle moves wait for it.
            return Ok(());
        }
    }
    let mut rows = Vec::new();
    let mut audits = Vec::new();
    for v in versions.iter().filter(|v| v.version != key.active_version) {
        let newer = versions.iter().filter(|x| x.version > v.version).count() as u32;
        let Some(to) = lifecycle::due_transition(v, policy, now, newer) else {
            continue;
        };
        if to == State::Destroyed {
            // Erase inside the device first; if it is away, try next tick.
            if let Err(e) = slot.erase_in_device(v) {
                tracing::warn!(key = %key.name, version = v.version, error = %e, "device erase failed; will retry");
                continue;
            }
        }
        let from = State::from_u8(v.state).map_or("unknown", State::name);
        let mut row = v.clone();
        lifecycle::apply(&mut row, to, now);
        rows.push(row);
        let event = if to == State::Destroyed {
            "version.destroyed"
        } else {
            "version.state"
        };
        audits.push(slot.draft(
            event,
            Some(&key.name),
            Some(v.version),
            json!({ "from": from, "to": to.name() }),
        ));
    }
    if rows.is_empty() {
        return Ok(());
    }
    let uid = key.key_uid.clone();
    let stored = rows.clone();
    slot.clone()
        .write_key(move |s| async move { s.update_versions(&uid, &stored, &audits).await })
        .await?;
    let merged = versions
        .iter()
        .map(|v| {
            rows.iter()
                .find(|r| r.version == v.version)
                .unwrap_or(v)
                .clone()
        })
        .collect();
    slot.apply_key(key.clone(), merged)
}

fn value_len(key: &KeyRecord) -> usize {
    Object::decode(&key.public, None)
        .ok()
        .and_then(|o| o.value_len())
        .unwrap_or(32)
}

/// The label a device key of a version carries, so an operator can map it
/// back to the key and version.
pub fn device_label(name: &str, version: u32) -> String {
    format!("keyrotor:{name}@v{version}")
}

/// The `CKA_ID` a device key of a version carries.
pub fn device_id(key_uid: &str, version: u32) -> String {
    format!("{key_uid}:v{version}")
}

/// A fresh random id for a version object.
pub fn new_uid() -> Result<String> {
    Ok(rng::random_array::<16>()?
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Rotates `key`: a new Active version, the old one Valid (or Compromised).
/// Returns false when another process rotated first (nothing written).
pub async fn rotate(
    slot: &Arc<Slot>,
    key: &KeyRecord,
    versions: &[VersionRecord],
    policy: &Policy,
    now: i64,
    reason: Reason,
) -> Result<bool> {
    let Some(old) = versions.iter().find(|v| v.version == key.active_version) else {
        return rv(cryptoki_sys::CKR_GENERAL_ERROR);
    };
    let version = versions.iter().map(|v| v.version).max().unwrap_or(0) + 1;
    let version_uid = new_uid()?;
    let secret = slot.new_version_secret(
        &device_label(&key.name, version),
        device_id(&key.key_uid, version).as_bytes(),
        value_len(key),
    )?;
    let sealed = slot.seal(&version_uid, &secret)?;
    let new = VersionRecord {
        key_uid: key.key_uid.clone(),
        version,
        version_uid,
        state: State::Active as u8,
        held: false,
        created_at: now,
        activated_at: Some(now),
        deactivated_at: None,
        grace_at: None,
        revoked_at: None,
        destroyed_at: None,
        compromised_at: None,
        sealed: Some(sealed),
        encrypt_count: 0,
        decrypt_count: 0,
        iv_reserved: 0,
    };
    let mut retired = old.clone();
    let to = if reason == Reason::Compromise {
        State::Compromised
    } else {
        State::Valid
    };
    lifecycle::apply(&mut retired, to, now);
    // Stay on the schedule: a rotation a tick late does not push the next one.
    let base = match (reason, key.next_rotation_at) {
        (Reason::Scheduled, Some(t)) if t <= now && now - t < 60_000 => t,
        _ => now,
    };
    let next = policy.next_rotation(base);
    let event = if reason == Reason::Compromise {
        "key.compromised"
    } else {
        "key.rotated"
    };
    let audit = slot.draft(
        event,
        Some(&key.name),
        Some(version),
        json!({ "previous": old.version, "reason": reason.name(), "previous_state": to.name() }),
    );
    let (uid, expected, stored_new, stored_old) = (
        key.key_uid.clone(),
        key.active_version,
        new.clone(),
        retired.clone(),
    );
    let done = slot
        .clone()
        .write_key(move |s| async move {
            s.rotate_key(&uid, expected, &stored_new, &stored_old, next, &audit)
                .await
        })
        .await?;
    if done {
        let mut updated = key.clone();
        updated.active_version = version;
        updated.next_rotation_at = next;
        let mut all: Vec<VersionRecord> = versions
            .iter()
            .map(|v| {
                if v.version == retired.version {
                    retired.clone()
                } else {
                    v.clone()
                }
            })
            .collect();
        all.push(new);
        slot.apply_key(updated, all)?;
        tracing::info!(slot = slot.id, key = %key.name, version, reason = reason.name(), "key rotated");
    } else if let Err(e) = slot.erase_in_device(&new) {
        // Another process rotated first: the device key made for this try is an orphan.
        tracing::warn!(key = %key.name, version, error = %e, "could not destroy an unused device key");
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_scans_space_out_with_their_cost() {
        let ago = |s: u64| Instant::now().checked_sub(Duration::from_secs(s)).unwrap();
        let mark = |at: Instant, took: Duration| ScanMark {
            at,
            took,
            generation: 0,
            scans: 0,
        };
        let full_scan_due =
            |last: Option<(Instant, Duration)>| scan_due(last.map(|(a, t)| mark(a, t)));
        assert!(full_scan_due(None), "the first tick reads every key");
        let quick = Duration::from_millis(10);
        assert!(!full_scan_due(Some((Instant::now(), quick))));
        assert!(
            full_scan_due(Some((ago(2), quick))),
            "at least once a second"
        );
        let slow = Duration::from_millis(400);
        assert!(
            !full_scan_due(Some((ago(2), slow))),
            "a 0.4 s read waits 8 s"
        );
        assert!(full_scan_due(Some((ago(9), slow))));
    }
}
