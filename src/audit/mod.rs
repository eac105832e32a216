//! The tamper-evident audit log: what one entry holds ([`AuditDraft`] before it is appended,
//! [`AuditEntry`] after) and the pure hash-chain logic in [`chain`].
//!
//! The store appends an entry inside the same transaction as the change it describes, so a
//! change without its entry (or the reverse) is never committed. Each entry's hash covers the
//! previous entry's hash; [`chain::verify`] finds edited, removed and reordered rows.

pub mod chain;

pub use chain::{entry_hash, next_entry, to_json_line, verify, Problem, ProblemKind, VerifyReport};

/// Length of an entry hash (SHA-256).
pub const HASH_LEN: usize = 32;

/// The `prev_hash` of the first entry of a chain.
pub const GENESIS_PREV_HASH: [u8; HASH_LEN] = [0u8; HASH_LEN];

/// An audit entry as the caller describes it; the store assigns its place in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditDraft {
    /// When it happened, Unix milliseconds.
    pub at: i64,
    /// Who did it: `"so"`, `"user"`, `"manager"`, `"cli:<login>"`, ...
    pub actor: String,
    /// What happened, a short stable identifier such as `"key.rotate"`.
    pub event: String,
    /// The named key concerned, if any.
    pub key_name: Option<String>,
    /// The key version concerned, if any.
    pub version: Option<u32>,
    /// Details as a JSON document (an object, usually); the store refuses anything else.
    pub detail: String,
}

/// One stored audit entry: the draft fields plus its place in the hash chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Position in the token's chain, starting at 1, without gaps.
    pub seq: u64,
    /// When it happened, Unix milliseconds.
    pub at: i64,
    /// Who did it.
    pub actor: String,
    /// What happened.
    pub event: String,
    /// The named key concerned, if any.
    pub key_name: Option<String>,
    /// The key version concerned, if any.
    pub version: Option<u32>,
    /// Details as a JSON document.
    pub detail: String,
    /// Hash of the previous entry ([`GENESIS_PREV_HASH`] for the first).
    pub prev_hash: [u8; HASH_LEN],
    /// [`chain::entry_hash`] of this entry.
    pub hash: [u8; HASH_LEN],
}

impl AuditEntry {
    /// The caller-supplied part of the entry.
    pub fn draft(&self) -> AuditDraft {
        AuditDraft {
            at: self.at,
            actor: self.actor.clone(),
            event: self.event.clone(),
            key_name: self.key_name.clone(),
            version: self.version,
            detail: self.detail.clone(),
        }
    }
}
