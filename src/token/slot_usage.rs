//! Usage bookkeeping of a slot's rotating keys: encryption and decryption
//! counts gathered from sessions, and the IV counter blocks reserved from
//! the store for the deterministic IV construction.

use std::collections::HashMap;
use std::sync::Arc;

use cryptoki_sys as sys;

use super::slot::Slot;
use crate::error::{rv, Result};

/// IVs a process reserves from the store at a time, per key version.
const IV_BLOCK: u64 = 1 << 20;

impl Slot {
    /// Adds uses of a key version to the counts the manager flushes.
    pub fn count(&self, key_uid: &str, version: u32, encrypts: u64, decrypts: u64) {
        let mut g = self.counts.lock();
        let e = g.entry((key_uid.to_string(), version)).or_insert((0, 0));
        e.0 += encrypts;
        e.1 += decrypts;
    }

    /// Folds counts just written to the store into the loaded rings, so
    /// this process's attributes show them without a reload.
    fn note_flushed(&self, key_uid: &str, version: u32, encrypts: u64, decrypts: u64) {
        let mut rings = self.rings.write();
        if let Some(ring) = rings.get_mut(key_uid) {
            let r = Arc::make_mut(ring);
            if let Some(v) = r.versions.iter_mut().find(|v| v.version == version) {
                v.encrypt_count = v.encrypt_count.saturating_add(encrypts);
                v.decrypt_count = v.decrypt_count.saturating_add(decrypts);
            }
        }
    }

    /// Live (encrypt, decrypt) counts of a key's version, or of all its
    /// versions: loaded, flushed, and not yet flushed.
    pub fn live_counts(&self, key_uid: &str, version: Option<u32>) -> (u64, u64) {
        let mut total = (0u64, 0u64);
        if let Ok(ring) = self.ring(key_uid) {
            for v in ring
                .versions
                .iter()
                .filter(|v| version.is_none_or(|n| n == v.version))
            {
                total.0 += v.encrypt_count;
                total.1 += v.decrypt_count;
            }
        }
        for ((uid, v), (e, d)) in self.counts.lock().iter() {
            if uid == key_uid && version.is_none_or(|n| n == *v) {
                total.0 += e;
                total.1 += d;
            }
        }
        total
    }

    /// Writes the counts gathered since the last flush to the store and
    /// into the loaded rings. Under the persist lock: a reload between the
    /// two steps would read the new counts and then see them added again.
    /// Counts that could not be written are kept for the next flush.
    pub async fn flush_counts(&self) -> Result<()> {
        let _g = self.persist.lock().await;
        let mut pending: Vec<_> = self.take_counts().into_iter().collect();
        while let Some(((uid, v), (e, d))) = pending.pop() {
            if let Err(err) = self.store().add_counts(&uid, v, e, d).await {
                self.count(&uid, v, e, d);
                for ((uid, v), (e, d)) in pending {
                    self.count(&uid, v, e, d);
                }
                return Err(err);
            }
            self.note_flushed(&uid, v, e, d);
        }
        Ok(())
    }

    /// Takes the counts gathered since the last flush.
    pub(super) fn take_counts(&self) -> HashMap<(String, u32), (u64, u64)> {
        std::mem::take(&mut *self.counts.lock())
    }

    /// Reserves `n` IV counters for a key version: from this process's
    /// block, refilled from the store (never under a lock) when used up.
    pub fn reserve_ivs(&self, key_uid: &str, version: u32, n: u64) -> Result<u64> {
        let k = (key_uid.to_string(), version);
        loop {
            {
                let mut g = self.ivs.lock();
                if let Some((next, end)) = g.get_mut(&k) {
                    if end.saturating_sub(*next) >= n {
                        let start = *next;
                        *next += n;
                        return Ok(start);
                    }
                }
            }
            let (uid, v) = (k.0.clone(), k.1);
            let start =
                self.store_call(move |s| async move { s.reserve_ivs(&uid, v, IV_BLOCK).await })?;
            let end = start
                .checked_add(IV_BLOCK)
                .map_or_else(|| rv(sys::CKR_DATA_LEN_RANGE), Ok)?;
            self.ivs.lock().insert(k.clone(), (start, end));
        }
    }
}
