//! The rows the store reads and writes, as plain Rust values: the token, its objects, its data
//! keys, its named keys and their versions, and the reference to one sealed blob used by batch
//! re-encryption. Sealed bytes are never Debug-printed, only their length.

use super::WrappedStorageKey;

/// The token row: what `C_InitToken` writes and `C_Login`/`C_InitPIN`/`C_SetPIN` read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// Token label (`CK_TOKEN_INFO.label`, unpadded).
    pub label: String,
    /// Token serial number (unpadded).
    pub serial: String,
    /// The master key (KEK) wrapped under the SO PIN.
    pub so_key: WrappedStorageKey,
    /// The master key wrapped under the user PIN; `None` until the user PIN is set.
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
    /// Serialized secret attributes, sealed with a data key; `None` if it has none.
    pub secret: Option<Vec<u8>>,
}

/// One data key as stored: 32 random bytes sealed under the token master key.
#[derive(Clone, PartialEq, Eq)]
pub struct DataKeyRecord {
    /// Key id, carried in every blob the key seals.
    pub id: u32,
    /// The key sealed under the master key; empty once retired (erased).
    pub sealed: Vec<u8>,
    /// 1 active, 2 retiring, 3 retired (see `crypt::data_keys::DATA_KEY_*`).
    pub state: u8,
    /// Creation time, Unix milliseconds.
    pub created_at: i64,
}

impl std::fmt::Debug for DataKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataKeyRecord")
            .field("id", &self.id)
            .field("sealed_len", &self.sealed.len())
            .field("state", &self.state)
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// What changed among a token's keys since a store generation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyChanges {
    /// The keys stamped after that generation, with all their versions.
    pub changed: Vec<(KeyRecord, Vec<VersionRecord>)>,
    /// The uid of every key the token has now (absent for a full read,
    /// where `changed` is every key).
    pub all_uids: Option<Vec<String>>,
}

/// A named, rotating key: the row behind its current object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// Stable id of the key (and of its current object).
    pub key_uid: String,
    /// The name (`CKA_LABEL` of the current object); unique in the token.
    pub name: String,
    /// `CKA_ID` of the current object; versions append a suffix.
    pub ck_id: Vec<u8>,
    /// Encoded public attributes of the current object.
    pub public: Vec<u8>,
    /// Rotation and retention policy, JSON.
    pub policy: String,
    /// The version that encrypts. Only [`super::Store::rotate_key`] changes it in the store.
    pub active_version: u32,
    /// When the manager should rotate next, Unix milliseconds; `None` for manual only.
    pub next_rotation_at: Option<i64>,
    /// Creation time, Unix milliseconds.
    pub created_at: i64,
    /// Last change, Unix milliseconds.
    pub updated_at: i64,
}

/// One version of a named key. Times are Unix milliseconds.
#[derive(Clone, PartialEq, Eq)]
pub struct VersionRecord {
    /// The key this version belongs to.
    pub key_uid: String,
    /// Version number, unique per key.
    pub version: u32,
    /// `CKA_UNIQUE_ID` of the version object, unique in the token.
    pub version_uid: String,
    /// Lifecycle state (the keys layer defines the values).
    pub state: u8,
    /// Administrative hold (disabled), reversible.
    pub held: bool,
    /// Creation time.
    pub created_at: i64,
    /// When it became active.
    pub activated_at: Option<i64>,
    /// When it stopped being active.
    pub deactivated_at: Option<i64>,
    /// When it entered its grace period.
    pub grace_at: Option<i64>,
    /// When it was revoked.
    pub revoked_at: Option<i64>,
    /// When its material was destroyed.
    pub destroyed_at: Option<i64>,
    /// When it was declared compromised.
    pub compromised_at: Option<i64>,
    /// Key material sealed with a data key (or backend handle/wrapped key); `None` once erased.
    pub sealed: Option<Vec<u8>>,
    /// Encryptions performed (aggregated from every process).
    pub encrypt_count: u64,
    /// Decryptions performed.
    pub decrypt_count: u64,
    /// IV counter values handed out so far (the next block starts here).
    pub iv_reserved: u64,
}

impl std::fmt::Debug for VersionRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VersionRecord")
            .field("key_uid", &self.key_uid)
            .field("version", &self.version)
            .field("version_uid", &self.version_uid)
            .field("state", &self.state)
            .field("held", &self.held)
            .field("created_at", &self.created_at)
            .field("activated_at", &self.activated_at)
            .field("deactivated_at", &self.deactivated_at)
            .field("grace_at", &self.grace_at)
            .field("revoked_at", &self.revoked_at)
            .field("destroyed_at", &self.destroyed_at)
            .field("compromised_at", &self.compromised_at)
            .field("sealed_len", &self.sealed.as_ref().map(Vec::len))
            .field("encrypt_count", &self.encrypt_count)
            .field("decrypt_count", &self.decrypt_count)
            .field("iv_reserved", &self.iv_reserved)
            .finish()
    }
}

/// Where one sealed blob lives, for batch re-encryption. Ordered as
/// [`super::Store::sealed_rows`] returns them: objects by uid, then versions by key uid and
/// version (byte-wise string order, the same in Rust and SQL).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SealedRef {
    /// The `secret` of the object with this uid.
    Object(String),
    /// The `sealed` material of one key version.
    Version {
        /// The key.
        key_uid: String,
        /// The version.
        version: u32,
    },
}
