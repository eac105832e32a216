//! The persistent store: one token's row (label, serial, PIN-wrapped master key, PIN failure
//! counters), its objects, its data keys, its named keys and their versions, the manager lease,
//! the hash-chained audit log, and a generation counter other processes watch for changes.
//!
//! Callers see only the [`Store`] trait; each SQL dialect lives in its own file (`sqlite.rs`
//! now, `postgres.rs` later) and [`open`] picks one from a [`StoreLocation`]. The store never
//! sees plaintext key material: secret fields arrive already sealed with [`crypt`].

pub mod crypt;
mod records;
pub mod sqlite;

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;

pub use crate::audit::{AuditDraft, AuditEntry};
use crate::error::Result;
pub use crypt::{
    unwrap_with_pin, wrap_with_pin, DataKeys, KdfParams, PinRole, SealAad, StorageKey,
    WrappedStorageKey,
};
pub use records::{
    DataKeyRecord, KeyChanges, KeyRecord, ObjectRecord, SealedRef, TokenRecord, VersionRecord,
};
pub use sqlite::SqliteStore;

/// Persistent storage for one token.
///
/// Every state-changing write is one transaction that also bumps the generation, so a process
/// that sees an unchanged generation knows its cache is current; writes that take an
/// [`AuditDraft`] append it to the audit chain in that same transaction. Exceptions, because
/// they are frequent and change nothing another process caches: [`Store::add_counts`],
/// [`Store::reserve_ivs`] and the lease calls neither bump the generation nor write audit.
///
/// Missing rows: no token → `Error::Rv(CKR_TOKEN_NOT_RECOGNIZED)`; a missing object, key or
/// key version (e.g. another process deleted it) → `Error::Rv(CKR_OBJECT_HANDLE_INVALID)`.
///
/// Two safety rules hold whenever a version row is replaced ([`Store::update_versions`], the
/// old row in [`Store::rotate_key`]), whatever the caller's copy says: the counters
/// (`encrypt_count`, `decrypt_count`, `iv_reserved`) never decrease, and `sealed` can only be
/// erased (`None`), never set — material is written when the version is inserted and changed
/// only by [`Store::replace_sealed`]. A process with a stale cache can therefore neither hand
/// out an IV block twice, nor resurrect a destroyed version, nor undo a re-encryption.
///
/// Every write that stores a blob sealed under a data key (format 2) checks that the key is
/// active or retiring; a retired or unknown key id → `Error::Store` (reload and seal again).
#[async_trait]
pub trait Store: Send + Sync {
    /// The token row, or `None` if the token was never initialised.
    async fn load_token(&self) -> Result<Option<TokenRecord>>;
    /// Initialises (or re-initialises) the token in one transaction: deletes all its objects,
    /// keys, versions, data keys and audit entries, replaces its row, stores `first_data_key`
    /// (which must be active) and writes `audit` as entry 1 of a fresh audit chain.
    async fn init_token(
        &self,
        rec: &TokenRecord,
        first_data_key: &DataKeyRecord,
        audit: &AuditDraft,
    ) -> Result<()>;
    /// Replaces the wrapped key of `role` and resets that role's failure counter (a new PIN
    /// starts with a clean slate, which is also how the SO unlocks a locked user PIN).
    async fn set_pin(&self, role: PinRole, key: &WrappedStorageKey) -> Result<()>;
    /// Atomically adds one failed login for `role` and returns the new count (saturating at
    /// `u32::MAX`).
    async fn record_login_failure(&self, role: PinRole) -> Result<u32>;
    /// Sets the failure counter of `role` to zero.
    async fn reset_login_failures(&self, role: PinRole) -> Result<()>;

    /// Adds an object. A uid already present → `Error::Store`.
    async fn insert_object(&self, rec: &ObjectRecord) -> Result<()>;
    /// Replaces an object's attributes, keeping its place in the order.
    async fn update_object(&self, rec: &ObjectRecord) -> Result<()>;
    /// Removes an object.
    async fn delete_object(&self, uid: &str) -> Result<()>;
    /// All objects of the token, in insertion order.
    async fn load_objects(&self) -> Result<Vec<ObjectRecord>>;

    /// All data keys of the token (retired ones included, erased), by id.
    async fn load_data_keys(&self) -> Result<Vec<DataKeyRecord>>;
    /// Stores `rec` (state must be active) as the new active data key; the previous active
    /// one becomes retiring. An id already present → `Error::Store`.
    async fn add_data_key(&self, rec: &DataKeyRecord, audit: &AuditDraft) -> Result<()>;
    /// Marks data key `id` retired and erases its sealed bytes. Refused (`Error::Store`) while
    /// it is the active key, while any stored blob still names it, or if it does not exist;
    /// retiring a retired key is a no-op (no audit entry).
    async fn retire_data_key(&self, id: u32, audit: &AuditDraft) -> Result<()>;
    /// Up to `limit` sealed blobs of the token (object secrets, then key-version material,
    /// ascending [`SealedRef`] order), starting after `after`. Page until fewer than `limit`.
    async fn sealed_rows(
        &self,
        after: Option<&SealedRef>,
        limit: usize,
    ) -> Result<Vec<(SealedRef, Vec<u8>)>>;
    /// Compare-and-swap of one sealed blob: writes `new` only if the stored blob still equals
    /// `old`, and then bumps the generation. `Ok(false)` if it changed or is gone.
    async fn replace_sealed(&self, r: &SealedRef, old: &[u8], new: &[u8]) -> Result<bool>;

    /// Creates a named key with its first version. A name already used in the token →
    /// `Error::Rv(CKR_ATTRIBUTE_VALUE_INVALID)`; a key uid or version uid already used →
    /// `Error::Store`.
    async fn create_key(
        &self,
        key: &KeyRecord,
        first: &VersionRecord,
        audit: &AuditDraft,
    ) -> Result<()>;
    /// Every named key with its versions (ascending), keys by name, from one snapshot.
    async fn load_keys(&self) -> Result<Vec<(KeyRecord, Vec<VersionRecord>)>>;
    /// The keys changed by writes that committed after store generation `since` (each
    /// with all its versions), and with `all_uids` every key's uid, from one snapshot.
    /// May return keys that did not change (writes that do not bump the generation stamp
    /// keys too).
    async fn load_keys_since(&self, since: u64, all_uids: bool) -> Result<KeyChanges>;
    /// Rotates exactly once across processes: if the key's active version is no longer
    /// `expected_active`, returns `Ok(false)` and writes nothing. Otherwise inserts `new`,
    /// replaces the row of version `expected_active` with `old_changes`, sets the key's
    /// active version to `new.version`, its `next_rotation_at`, and `updated_at = audit.at`.
    async fn rotate_key(
        &self,
        key_uid: &str,
        expected_active: u32,
        new: &VersionRecord,
        old_changes: &VersionRecord,
        next_rotation_at: Option<i64>,
        audit: &AuditDraft,
    ) -> Result<bool>;
    /// Replaces whole version rows of `key_uid` (lifecycle moves), under the two safety rules
    /// above; `sealed: None` erases the material (SQLite's secure_delete zeroes it, and a WAL
    /// checkpoint follows), `Some(_)` keeps what is stored. Appends every `audit` entry.
    async fn update_versions(
        &self,
        key_uid: &str,
        rows: &[VersionRecord],
        audit: &[AuditDraft],
    ) -> Result<()>;
    /// Updates a key's name, id, public attributes, policy, next rotation and `updated_at`
    /// (`active_version` and `created_at` are left as stored). Name taken →
    /// `Error::Rv(CKR_ATTRIBUTE_VALUE_INVALID)`.
    async fn update_key(&self, key: &KeyRecord, audit: &AuditDraft) -> Result<()>;
    /// Deletes a key and all its versions (their material erased).
    async fn delete_key(&self, key_uid: &str, audit: &AuditDraft) -> Result<()>;
    /// Adds to a version's counters (saturating). No audit, no generation bump.
    async fn add_counts(
        &self,
        key_uid: &str,
        version: u32,
        encrypts: u64,
        decrypts: u64,
    ) -> Result<()>;
    /// Atomically reserves `n` IV counter values of a version: `iv_reserved += n`, returning
    /// the old value (the first value of the block). No audit, no generation bump.
    async fn reserve_ivs(&self, key_uid: &str, version: u32, n: u64) -> Result<u64>;

    /// Takes the manager lease for `holder` until `now_ms + ttl_ms` if it is free, expired
    /// (`expires_at <= now_ms`) or already `holder`'s (renewal). Returns whether `holder`
    /// holds it now.
    async fn try_lease(&self, holder: &str, now_ms: i64, ttl_ms: i64) -> Result<bool>;
    /// Gives the lease up if `holder` has it; otherwise does nothing.
    async fn release_lease(&self, holder: &str) -> Result<()>;
    /// The lease row as stored (holder, expires_at in Unix ms), expired or not.
    async fn lease_holder(&self) -> Result<Option<(String, i64)>>;

    /// Appends one audit entry on its own (PIN changes, failed logins, ...).
    async fn append_audit(&self, audit: &AuditDraft) -> Result<()>;
    /// The token's audit chain, ascending `seq`.
    async fn audit_entries(&self) -> Result<Vec<AuditEntry>>;

    /// The change counter: 0 for a fresh store, then one more after every bumping write.
    /// Never decreases, not even across re-initialisation.
    async fn generation(&self) -> Result<u64>;
    /// Closes the connection pool and stops its worker threads. Later calls fail with
    /// `Error::Store`.
    async fn close(&self);
}

/// Where a token's store lives. PostgreSQL joins as a second variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// A SQLite database file (created with its parent directories if missing).
    Sqlite(PathBuf),
}

/// Opens the store for `token_id` at `location`, running migrations.
pub async fn open(location: &StoreLocation, token_id: &str) -> Result<Arc<dyn Store>> {
    match location {
        StoreLocation::Sqlite(path) => Ok(Arc::new(SqliteStore::open(path, token_id).await?)),
    }
}
