//! The persistent store: one token's row (label, serial, PIN-wrapped storage key, PIN failure
//! counters), its objects, and a generation counter other processes watch for changes.
//!
//! Callers see only the [`Store`] trait; each SQL dialect lives in its own file (`sqlite.rs`
//! now, `postgres.rs` later) and [`open`] picks one from a [`StoreLocation`]. The store never
//! sees plaintext key material: secret fields arrive already sealed with [`crypt`].

pub mod crypt;
pub mod sqlite;

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;

use crate::error::Result;
pub use crypt::{
    unwrap_with_pin, wrap_with_pin, KdfParams, PinRole, SealAad, StorageKey, WrappedStorageKey,
};
pub use sqlite::SqliteStore;

/// The token row: what `C_InitToken` writes and `C_Login`/`C_InitPIN`/`C_SetPIN` read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// Token label (`CK_TOKEN_INFO.label`, unpadded).
    pub label: String,
    /// Token serial number (unpadded).
    pub serial: String,
    /// The storage key wrapped under the SO PIN.
    pub so_key: WrappedStorageKey,
    /// The storage key wrapped under the user PIN; `None` until the user PIN is set.
    pub user_key: Option<WrappedStorageKey>,
    /// Consecutive failed SO logins.
    pub so_failures: u32,
    /// Consecutive failed user logins.
    pub user_failures: u32,
    /// When the token was initialised, Unix seconds.
    pub initialized_at: i64,
}

/// One token object as stored: public attributes in the clear, secret ones sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRecord {
    /// Stable unique id (`CKA_UNIQUE_ID`); the AAD of its sealed fields names it.
    pub uid: String,
    /// Serialized public attributes.
    pub public: Vec<u8>,
    /// Serialized secret attributes, sealed with the storage key; `None` if it has none.
    pub secret: Option<Vec<u8>>,
}

/// Persistent storage for one token. Every write is one transaction that also bumps the
/// generation, so a process that sees an unchanged generation knows its cache is current.
#[async_trait]
pub trait Store: Send + Sync {
    /// The token row, or `None` if the token was never initialised.
    async fn load_token(&self) -> Result<Option<TokenRecord>>;
    /// Initialises (or re-initialises) the token: deletes all its objects and replaces its
    /// row, in one transaction.
    async fn init_token(&self, rec: &TokenRecord) -> Result<()>;
    /// Replaces the wrapped key of `role` and resets that role's failure counter (a new PIN
    /// starts with a clean slate, which is also how the SO unlocks a locked user PIN).
    /// No token row → `Error::Rv(CKR_TOKEN_NOT_RECOGNIZED)`.
    async fn set_pin(&self, role: PinRole, key: &WrappedStorageKey) -> Result<()>;
    /// Atomically adds one failed login for `role` and returns the new count (saturating at
    /// `u32::MAX`). No token row → `Error::Rv(CKR_TOKEN_NOT_RECOGNIZED)`.
    async fn record_login_failure(&self, role: PinRole) -> Result<u32>;
    /// Sets the failure counter of `role` to zero. No token row →
    /// `Error::Rv(CKR_TOKEN_NOT_RECOGNIZED)`.
    async fn reset_login_failures(&self, role: PinRole) -> Result<()>;
    /// Adds an object. No token row → `Error::Rv(CKR_TOKEN_NOT_RECOGNIZED)`; a uid already
    /// present → `Error::Store`.
    async fn insert_object(&self, rec: &ObjectRecord) -> Result<()>;
    /// Replaces an object's attributes, keeping its place in the order.
    /// Missing → `Error::Rv(CKR_OBJECT_HANDLE_INVALID)`.
    async fn update_object(&self, rec: &ObjectRecord) -> Result<()>;
    /// Removes an object. Missing (e.g. another process destroyed it first) →
    /// `Error::Rv(CKR_OBJECT_HANDLE_INVALID)`.
    async fn delete_object(&self, uid: &str) -> Result<()>;
    /// All objects of the token, in insertion order.
    async fn load_objects(&self) -> Result<Vec<ObjectRecord>>;
    /// The change counter: 0 for a fresh store, then one more after every successful write.
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
