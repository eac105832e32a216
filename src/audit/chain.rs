//! The audit hash chain, free of any storage: hashing one entry, building the next entry from
//! the last one, verifying a whole chain, and the JSON-lines export form.
//!
//! Hash (version 1) = SHA-256 of, in order: the domain string, the token id, `seq` (u64 BE),
//! `at` (i64 BE), actor, event, key name (0x00, or 0x01 then the name), version (0x00, or 0x01
//! then u32 BE), detail, and the previous entry's 32-byte hash. Strings are prefixed with their
//! length as u64 BE, so no two different entries encode to the same bytes. The chain proves
//! that no entry was edited, removed from the middle, or moved; it cannot by itself show that
//! the newest entries were cut off (that needs the last hash kept somewhere else).

use aws_lc_rs::digest::{Context, SHA256};

use super::{AuditDraft, AuditEntry, GENESIS_PREV_HASH, HASH_LEN};
use crate::error::{Error, Result};

/// Domain separation: these bytes start every hashed entry.
const HASH_DOMAIN: &[u8] = b"keyrotor/audit/v1";

/// Appends `bytes` with a u64 big-endian length prefix.
fn push_field(ctx: &mut Context, bytes: &[u8]) {
    // usize -> u64 is lossless on every platform Rust supports.
    ctx.update(&(bytes.len() as u64).to_be_bytes());
    ctx.update(bytes);
}

/// The hash of `entry` in the chain of `token_id`, over every field except `entry.hash`.
pub fn entry_hash(token_id: &str, entry: &AuditEntry) -> [u8; HASH_LEN] {
    let mut ctx = Context::new(&SHA256);
    push_field(&mut ctx, HASH_DOMAIN);
    push_field(&mut ctx, token_id.as_bytes());
    ctx.update(&entry.seq.to_be_bytes());
    ctx.update(&entry.at.to_be_bytes());
    push_field(&mut ctx, entry.actor.as_bytes());
    push_field(&mut ctx, entry.event.as_bytes());
    match &entry.key_name {
        None => ctx.update(&[0]),
        Some(name) => {
            ctx.update(&[1]);
            push_field(&mut ctx, name.as_bytes());
        }
    }
    match entry.version {
        None => ctx.update(&[0]),
        Some(v) => {
            ctx.update(&[1]);
            ctx.update(&v.to_be_bytes());
        }
    }
    push_field(&mut ctx, entry.detail.as_bytes());
    ctx.update(&entry.prev_hash);
    let digest = ctx.finish();
    let mut out = [0u8; HASH_LEN];
    // A SHA-256 digest is always HASH_LEN (32) bytes, so the lengths match and this cannot panic.
    out.copy_from_slice(digest.as_ref());
    out
}

/// Checks that `detail` is one JSON document, as [`AuditDraft::detail`] promises.
pub fn check_detail(detail: &str) -> Result<()> {
    serde_json::from_str::<serde_json::Value>(detail)
        .map(|_| ())
        .map_err(|e| Error::Internal(format!("audit detail is not JSON ({e}): {detail:?}")))
}

/// The entry that follows `last` (`(seq, hash)` of the newest entry, `None` for an empty chain)
/// in the chain of `token_id`, with its hash computed. Refuses a detail that is not JSON.
pub fn next_entry(
    token_id: &str,
    last: Option<(u64, [u8; HASH_LEN])>,
    draft: &AuditDraft,
) -> Result<AuditEntry> {
    check_detail(&draft.detail)?;
    let (seq, prev_hash) = match last {
        None => (1, GENESIS_PREV_HASH),
        Some((seq, hash)) => (
            seq.checked_add(1)
                .ok_or_else(|| Error::Internal("audit sequence number overflow".into()))?,
            hash,
        ),
    };
    let mut entry = AuditEntry {
        seq,
        at: draft.at,
        actor: draft.actor.clone(),
        event: draft.event.clone(),
        key_name: draft.key_name.clone(),
        version: draft.version,
        detail: draft.detail.clone(),
        prev_hash,
        hash: [0u8; HASH_LEN],
    };
    entry.hash = entry_hash(token_id, &entry);
    Ok(entry)
}

/// What is wrong at one place in a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// The stored hash does not match the entry's fields: the row was edited.
    HashMismatch,
    /// The entry does not carry the next sequence number: rows were removed (`found >
    /// expected`) or reordered / duplicated (`found < expected`).
    SeqGap {
        /// The sequence number that should have come here.
        expected: u64,
        /// The one that did.
        found: u64,
    },
    /// `prev_hash` is not the hash of the entry before it: an entry before this one was
    /// removed, replaced or moved.
    PrevHashMismatch,
}

/// One finding of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The sequence number of the entry where the problem shows.
    pub seq: u64,
    /// What is wrong.
    pub kind: ProblemKind,
    /// A sentence for the operator, naming the entries concerned.
    pub message: String,
}

/// The outcome of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// True when no problem was found.
    pub ok: bool,
    /// How many entries were checked.
    pub entries: usize,
    /// Every problem found, in chain order.
    pub problems: Vec<Problem>,
}

/// Checks the chain of `token_id`: `entries` as stored, in ascending `seq` order, starting
/// at the first entry. Every entry is checked; problems do not stop the walk.
pub fn verify(token_id: &str, entries: &[AuditEntry]) -> VerifyReport {
    let mut problems = Vec::new();
    let mut expected_seq: u64 = 1;
    let mut expected_prev = GENESIS_PREV_HASH;
    for e in entries {
        if e.seq != expected_seq {
            let message = if e.seq > expected_seq {
                let last_missing = e.seq - 1;
                if last_missing == expected_seq {
                    format!(
                        "entry {expected_seq} is missing (removed) before entry {}",
                        e.seq
                    )
                } else {
                    format!(
                        "entries {expected_seq} to {last_missing} are missing (removed) before \
                         entry {}",
                        e.seq
                    )
                }
            } else {
                format!(
                    "entry {} comes where entry {expected_seq} should: entries reordered or \
                     duplicated",
                    e.seq
                )
            };
            problems.push(Problem {
                seq: e.seq,
                kind: ProblemKind::SeqGap {
                    expected: expected_seq,
                    found: e.seq,
                },
                message,
            });
        }
        if e.prev_hash != expected_prev {
            let message = if expected_seq == 1 && e.seq != 1 {
                format!(
                    "entry {} is first in the log but does not start the chain",
                    e.seq
                )
            } else {
                format!(
                    "entry {} does not follow the entry before it (prev_hash mismatch): an \
                     earlier entry was removed, replaced or moved",
                    e.seq
                )
            };
            problems.push(Problem {
                seq: e.seq,
                kind: ProblemKind::PrevHashMismatch,
                message,
            });
        }
        if entry_hash(token_id, e) != e.hash {
            problems.push(Problem {
                seq: e.seq,
                kind: ProblemKind::HashMismatch,
                message: format!(
                    "entry {} does not match its hash: its contents were edited",
                    e.seq
                ),
            });
        }
        expected_seq = e.seq.saturating_add(1);
        expected_prev = e.hash;
    }
    VerifyReport {
        ok: problems.is_empty(),
        entries: entries.len(),
        problems,
    }
}

/// Lower-case hexadecimal.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Both indexes are 4-bit values (0..=15), inside the 16-entry table.
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// A JSON string literal for `s`. `Value`'s `Display` cannot fail for a string (it only
/// writes into a `String`), so `to_string` does not panic.
fn json_str(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// One export line (no trailing newline): a JSON object with the entry's fields in chain
/// order, hashes in lower-case hex, and `detail` embedded as JSON (as a string if the stored
/// detail does not parse, so the line stays valid and the oddity stays visible).
pub fn to_json_line(e: &AuditEntry) -> String {
    let detail = match serde_json::from_str::<serde_json::Value>(&e.detail) {
        Ok(v) => v.to_string(),
        Err(_) => json_str(&e.detail),
    };
    let key_name = e
        .key_name
        .as_deref()
        .map_or_else(|| "null".into(), json_str);
    let version = e.version.map_or_else(|| "null".into(), |v| v.to_string());
    format!(
        "{{\"seq\":{},\"at\":{},\"actor\":{},\"event\":{},\"key_name\":{key_name},\
         \"version\":{version},\"detail\":{detail},\"prev_hash\":\"{}\",\"hash\":\"{}\"}}",
        e.seq,
        e.at,
        json_str(&e.actor),
        json_str(&e.event),
        hex(&e.prev_hash),
        hex(&e.hash),
    )
}

#[cfg(test)]
mod tests;
