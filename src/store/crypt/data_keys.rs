//! Data keys: the random AES-256 keys that seal stored fields, themselves sealed under the
//! token master key (KEK), so the key that touches every field can be rotated without anyone
//! re-entering a PIN.
//!
//! A data key at rest is a format-1 blob under the KEK whose AAD binds a domain string, the
//! token id, `"data-key"` and the key id. A field sealed under a data key (format 2) is
//! `0x02 || data-key id (u32 BE) || nonce (12) || ciphertext || tag (16)`; its AAD binds the
//! format byte, a domain string, token id, object uid, field name and the data-key id, each
//! length prefixed, so neither the place nor the key id can be changed without detection.

use std::collections::BTreeMap;

use aws_lc_rs::aead::NONCE_LEN;
use zeroize::Zeroizing;

use super::{
    open_body, open_raw, push_field, seal_framed, seal_raw, OpenFailure, SealAad, StorageKey,
    STORAGE_KEY_LEN, TAG_LEN,
};
use crate::error::{Error, Result};
use crate::store::DataKeyRecord;

/// Format byte of a field sealed under a data key.
pub const FORMAT_V2: u8 = 0x02;
/// Bytes a format-2 blob adds to its plaintext: format, key id, nonce, tag.
pub const SEAL_V2_OVERHEAD: usize = 1 + 4 + NONCE_LEN + TAG_LEN;
/// Header length of a format-2 blob (format byte and key id).
const V2_HEADER_LEN: usize = 5;
/// Domain separation for fields sealed under a data key.
const SEAL_DOMAIN_V2: &[u8] = b"keyrotor/store/seal/v2";
/// Domain separation for data keys sealed under the KEK.
const DATA_KEY_DOMAIN: &[u8] = b"keyrotor/store/data-key/v1";

/// [`DataKeyRecord::state`]: the key that seals new values (exactly one per token).
pub const DATA_KEY_ACTIVE: u8 = 1;
/// [`DataKeyRecord::state`]: replaced, still opens values not yet re-encrypted.
pub const DATA_KEY_RETIRING: u8 = 2;
/// [`DataKeyRecord::state`]: no value uses it any more; its sealed bytes are erased.
pub const DATA_KEY_RETIRED: u8 = 3;

/// The unsealed data keys of one token, by id, and which one is active.
///
/// Every key sits in a zeroizing buffer; `Debug` shows only ids.
pub struct DataKeys {
    keys: BTreeMap<u32, StorageKey>,
    active: Option<u32>,
}

impl std::fmt::Debug for DataKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataKeys")
            .field("ids", &self.keys.keys().collect::<Vec<_>>())
            .field("active", &self.active)
            .finish()
    }
}

/// AAD of a data key sealed under the KEK.
fn data_key_aad(token_id: &str, id: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + 4 * 8 + DATA_KEY_DOMAIN.len() + token_id.len() + 12);
    out.push(super::FORMAT_V1);
    push_field(&mut out, DATA_KEY_DOMAIN);
    push_field(&mut out, token_id.as_bytes());
    push_field(&mut out, b"data-key");
    push_field(&mut out, &id.to_be_bytes());
    out
}

/// AAD of a field sealed under data key `id`.
fn field_aad(aad: &SealAad, id: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        1 + 5 * 8
            + SEAL_DOMAIN_V2.len()
            + aad.token_id.len()
            + aad.object_uid.len()
            + aad.field.len()
            + 4,
    );
    out.push(FORMAT_V2);
    push_field(&mut out, SEAL_DOMAIN_V2);
    push_field(&mut out, aad.token_id.as_bytes());
    push_field(&mut out, aad.object_uid.as_bytes());
    push_field(&mut out, aad.field.as_bytes());
    push_field(&mut out, &id.to_be_bytes());
    out
}

/// Milliseconds since the Unix epoch (0 if the clock is before 1970).
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl DataKeys {
    /// Unseals the data keys of `token_id` under `kek`. Retired records are skipped (their
    /// bytes are erased); an unknown state, two active keys, or a record that does not open is
    /// `Error::StoreIntegrity`. No active key is allowed here, but then [`DataKeys::seal`] fails.
    pub fn unlock(kek: &StorageKey, token_id: &str, recs: &[DataKeyRecord]) -> Result<DataKeys> {
        let mut out = DataKeys {
            keys: BTreeMap::new(),
            active: None,
        };
        for rec in recs {
            match rec.state {
                DATA_KEY_RETIRED => continue,
                DATA_KEY_ACTIVE => {
                    if let Some(other) = out.active {
                        return Err(Error::StoreIntegrity(format!(
                            "token {token_id:?} has two active data keys ({other} and {})",
                            rec.id
                        )));
                    }
                    out.active = Some(rec.id);
                }
                DATA_KEY_RETIRING => {}
                s => {
                    return Err(Error::StoreIntegrity(format!(
                        "data key {} of token {token_id:?} has unknown state {s}",
                        rec.id
                    )))
                }
            }
            let plain = open_raw(kek.as_array(), &data_key_aad(token_id, rec.id), &rec.sealed)
                .map_err(|e| {
                    let why = match e {
                        OpenFailure::Malformed(m) => m,
                        OpenFailure::Auth => "authentication failed (wrong key or tampered)",
                    };
                    Error::StoreIntegrity(format!(
                        "data key {} of token {token_id:?}: {why}",
                        rec.id
                    ))
                })?;
            let mut bytes = Zeroizing::new([0u8; STORAGE_KEY_LEN]);
            if plain.len() != STORAGE_KEY_LEN {
                return Err(Error::StoreIntegrity(format!(
                    "data key {} of token {token_id:?} has length {}",
                    rec.id,
                    plain.len()
                )));
            }
            // Lengths were checked equal just above, so copy_from_slice cannot panic.
            bytes.copy_from_slice(&plain);
            out.keys.insert(rec.id, StorageKey::from_array(bytes));
        }
        Ok(out)
    }

    /// Creates data key `id` for `token_id`: 32 random bytes, sealed under `kek`. Returns the
    /// record to store (state active, created now) and the key itself.
    pub fn new_key(
        kek: &StorageKey,
        token_id: &str,
        id: u32,
    ) -> Result<(DataKeyRecord, StorageKey)> {
        let key = StorageKey::generate()?;
        let sealed = seal_raw(kek.as_array(), &data_key_aad(token_id, id), key.as_array())?;
        let rec = DataKeyRecord {
            id,
            sealed,
            state: DATA_KEY_ACTIVE,
            created_at: now_ms(),
        };
        Ok((rec, key))
    }

    /// Adds `key` as data key `id` and makes it the active one; the previous active key stays
    /// (as the store marks it retiring) so values not yet re-encrypted still open.
    pub fn install_active(&mut self, id: u32, key: StorageKey) {
        self.keys.insert(id, key);
        self.active = Some(id);
    }

    /// Drops data key `id` (after it was retired). Returns whether it was present. The active
    /// key cannot be dropped this way.
    pub fn forget(&mut self, id: u32) -> bool {
        if self.active == Some(id) {
            return false;
        }
        self.keys.remove(&id).is_some()
    }

    /// The id of the key that seals new values.
    pub fn active_id(&self) -> Option<u32> {
        self.active
    }

    /// Ids of all keys held, ascending.
    pub fn key_ids(&self) -> Vec<u32> {
        self.keys.keys().copied().collect()
    }

    /// The data-key id a format-2 blob names, `None` for anything else.
    pub fn blob_key_id(blob: &[u8]) -> Option<u32> {
        match blob.split_first_chunk::<V2_HEADER_LEN>() {
            Some(([FORMAT_V2, a, b, c, d], _)) => Some(u32::from_be_bytes([*a, *b, *c, *d])),
            _ => None,
        }
    }

    /// Seals `plaintext` for the place `aad` names under the active data key.
    /// No active key → `Error::StoreIntegrity`.
    pub fn seal(&self, aad: &SealAad, plaintext: &[u8]) -> Result<Vec<u8>> {
        let (id, key) = self
            .active
            .and_then(|id| self.keys.get(&id).map(|k| (id, k)))
            .ok_or_else(|| {
                Error::StoreIntegrity(format!("token {:?} has no active data key", aad.token_id))
            })?;
        let mut header = [FORMAT_V2, 0, 0, 0, 0];
        if let Some(slot) = header.get_mut(1..) {
            slot.copy_from_slice(&id.to_be_bytes());
        }
        seal_framed(key.as_array(), &header, &field_aad(aad, id), plaintext)
    }

    /// Opens a blob from [`DataKeys::seal`] with the data key it names. Any mismatch of key,
    /// place or bytes, a key id not held, or a format-1 blob is `Error::StoreIntegrity`.
    pub fn open(&self, aad: &SealAad, blob: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let fail = |why: String| {
            Error::StoreIntegrity(format!(
                "sealed field {:?} of object {:?} in token {:?}: {why}",
                aad.field, aad.object_uid, aad.token_id
            ))
        };
        let (id, rest) = match blob.split_first_chunk::<V2_HEADER_LEN>() {
            Some(([FORMAT_V2, a, b, c, d], rest)) => (u32::from_be_bytes([*a, *b, *c, *d]), rest),
            _ => match blob.first() {
                Some(&super::FORMAT_V1) => {
                    return Err(fail(
                        "format 1 (sealed directly under the master key) is no longer read".into(),
                    ))
                }
                Some(&FORMAT_V2) | None => return Err(fail("blob shorter than its header".into())),
                Some(_) => return Err(fail("unknown format byte".into())),
            },
        };
        let key = self.keys.get(&id).ok_or_else(|| {
            fail(format!(
                "data key {id} is not available (retired or unknown)"
            ))
        })?;
        open_body(key.as_array(), &field_aad(aad, id), rest).map_err(|e| match e {
            OpenFailure::Malformed(m) => fail(m.into()),
            OpenFailure::Auth => {
                fail("authentication failed (wrong key, place or tampered)".into())
            }
        })
    }
}

#[cfg(test)]
mod tests;
