//! Rotation of the storage key (the data key that seals stored key
//! material): a new data key becomes active at once; the manager then
//! re-seals every stored secret in small batches. Each row is replaced with
//! a compare-and-swap and the old data key stays until no row uses it, so a
//! crash at any point leaves every secret readable.

use std::sync::Arc;

use serde_json::json;

use crate::error::Result;
use crate::store::crypt::data_keys::DATA_KEY_RETIRED;
use crate::store::crypt::DataKeys;
use crate::store::{DataKeyRecord, SealedRef};
use crate::token::slot::{Slot, PUBLIC_VALUE};

/// Rows re-sealed per manager tick (keeps a tick short).
pub const BATCH: usize = 256;

/// Where a storage-key rotation stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct StorageProgress {
    /// The data key new material is sealed under.
    pub active_id: u32,
    /// Sealed rows in the store.
    pub total: u64,
    /// Rows still sealed under an older data key.
    pub remaining: u64,
}

/// Starts a storage-key rotation; returns the new data key's id.
pub async fn rotate_storage_key(slot: Arc<Slot>) -> Result<u32> {
    let unlocked = slot.unlocked()?;
    let store = slot.store();
    let recs = store.load_data_keys().await?;
    let id = recs.iter().map(|r| r.id).max().unwrap_or(0) + 1;
    let (rec, _) = DataKeys::new_key(&unlocked.kek, &slot.token_id, id)?;
    let audit = slot.draft("storage-key.rotated", None, None, json!({ "data_key": id }));
    store.add_data_key(&rec, &audit).await?;
    slot.clone().reload().await?;
    tracing::info!(
        slot = slot.id,
        data_key = id,
        "storage key rotated; re-encryption runs in the background"
    );
    Ok(id)
}

/// The sealing uid of a stored row (what its AAD binds).
fn seal_uid(slot: &Slot, r: &SealedRef) -> Option<String> {
    match r {
        SealedRef::Object(uid) => Some(uid.clone()),
        SealedRef::Version { key_uid, version } => slot.ring(key_uid).ok().and_then(|ring| {
            ring.versions
                .iter()
                .find(|v| v.version == *version)
                .map(|v| v.version_uid.clone())
        }),
    }
}

/// Re-seals up to `limit` rows still under an older data key; retires old
/// data keys once nothing uses them. Returns how many rows moved.
pub async fn reencrypt_batch(slot: &Arc<Slot>, limit: usize) -> Result<u64> {
    let unlocked = slot.unlocked()?;
    let Some(active) = unlocked.data.active_id() else {
        return Ok(0);
    };
    let store = slot.store();
    let old = |k: &DataKeyRecord| k.id != active && k.state != DATA_KEY_RETIRED;
    // Every tick asks; only a storage-key rotation leaves rows to move, so
    // without a retiring key nothing is scanned (a scan reads every row).
    if !store.load_data_keys().await?.iter().any(old) {
        return Ok(0);
    }
    let mut moved = 0u64;
    let mut cursor: Option<SealedRef> = None;
    let mut left_behind = false;
    'scan: loop {
        let rows = store.sealed_rows(cursor.as_ref(), 512).await?;
        let Some((last, _)) = rows.last() else { break };
        cursor = Some(last.clone());
        for (r, blob) in rows {
            if DataKeys::blob_key_id(&blob) == Some(active) || blob.first() == Some(&PUBLIC_VALUE) {
                continue;
            }
            if moved as usize >= limit {
                // The rest waits for the next batch; the old keys stay.
                left_behind = true;
                break 'scan;
            }
            let Some(uid) = seal_uid(slot, &r) else {
                left_behind = true;
                continue;
            };
            let aad = slot.aad(&uid);
            let plain = unlocked.data.open(&aad, &blob)?;
            let fresh = unlocked.data.seal(&aad, &plain)?;
            if store.replace_sealed(&r, &blob, &fresh).await? {
                moved += 1;
            } else {
                left_behind = true;
            }
        }
    }
    if !left_behind {
        for k in store.load_data_keys().await?.into_iter().filter(old) {
            let audit = slot.draft(
                "storage-key.retired",
                None,
                None,
                json!({ "data_key": k.id }),
            );
            store.retire_data_key(k.id, &audit).await?;
        }
    }
    Ok(moved)
}

/// Counts rows by data key.
pub async fn progress(slot: Arc<Slot>) -> Result<StorageProgress> {
    let store = slot.store();
    let keys = store.load_data_keys().await?;
    let active_id = keys.iter().find(|k| k.state == 1).map_or(0, |k| k.id);
    let (mut total, mut remaining) = (0u64, 0u64);
    let mut cursor: Option<SealedRef> = None;
    loop {
        let rows = store.sealed_rows(cursor.as_ref(), 1024).await?;
        let Some((last, _)) = rows.last() else { break };
        cursor = Some(last.clone());
        for (_, blob) in rows
            .iter()
            .filter(|(_, b)| b.first() != Some(&PUBLIC_VALUE))
        {
            total += 1;
            if DataKeys::blob_key_id(blob) != Some(active_id) {
                remaining += 1;
            }
        }
    }
    Ok(StorageProgress {
        active_id,
        total,
        remaining,
    })
}
