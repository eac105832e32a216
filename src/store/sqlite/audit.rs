//! SQL for the audit log: appending inside the caller's write transaction (so the entry and the
//! change it describes commit together) and reading the chain back.

use sqlx::SqliteConnection;

use super::SqliteStore;
use crate::audit::{chain, HASH_LEN};
use crate::error::{Error, Result};
use crate::store::{AuditDraft, AuditEntry};

/// A stored 32-byte hash column as an array.
fn hash_array(s: &SqliteStore, what: &str, seq: i64, bytes: &[u8]) -> Result<[u8; HASH_LEN]> {
    <[u8; HASH_LEN]>::try_from(bytes).map_err(|_| {
        Error::StoreIntegrity(format!(
            "audit entry {seq}: {what} has {} bytes in store {}",
            bytes.len(),
            s.path.display()
        ))
    })
}

/// Appends `draft` as the next entry of the token's chain. Must run inside a write
/// transaction (`BEGIN IMMEDIATE`): reading the last entry and inserting the next one then
/// cannot interleave with another writer.
pub(super) async fn append(
    s: &SqliteStore,
    conn: &mut SqliteConnection,
    draft: &AuditDraft,
) -> Result<AuditEntry> {
    let last: Option<(i64, Vec<u8>)> = sqlx::query_as(
        "SELECT seq, hash FROM audit_log WHERE token_id = ?1 ORDER BY seq DESC LIMIT 1",
    )
    .bind(&s.token_id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(s.err("read last audit entry"))?;
    let last = match last {
        None => None,
        Some((seq, hash)) => Some((
            s.to_u64("audit seq", seq)?,
            hash_array(s, "hash", seq, &hash)?,
        )),
    };
    let e = chain::next_entry(&s.token_id, last, draft)?;
    sqlx::query(
        "INSERT INTO audit_log (token_id, seq, at, actor, event, key_name, version, detail, \
         prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )
    .bind(&s.token_id)
    .bind(super::to_i64("audit seq", e.seq)?)
    .bind(e.at)
    .bind(&e.actor)
    .bind(&e.event)
    .bind(e.key_name.as_deref())
    .bind(e.version.map(i64::from))
    .bind(&e.detail)
    .bind(e.prev_hash.as_slice())
    .bind(e.hash.as_slice())
    .execute(&mut *conn)
    .await
    .map_err(s.write_err("append audit entry"))?;
    Ok(e)
}

type EntryRow = (
    i64,
    i64,
    String,
    String,
    Option<String>,
    Option<i64>,
    String,
    Vec<u8>,
    Vec<u8>,
);

pub(super) async fn entries(s: &SqliteStore) -> Result<Vec<AuditEntry>> {
    let rows: Vec<EntryRow> = sqlx::query_as(
        "SELECT seq, at, actor, event, key_name, version, detail, prev_hash, hash \
         FROM audit_log WHERE token_id = ?1 ORDER BY seq",
    )
    .bind(&s.token_id)
    .fetch_all(&s.pool)
    .await
    .map_err(s.err("load audit log"))?;
    rows.into_iter()
        .map(
            |(seq, at, actor, event, key_name, version, detail, prev, hash)| {
                Ok(AuditEntry {
                    seq: s.to_u64("audit seq", seq)?,
                    at,
                    actor,
                    event,
                    key_name,
                    version: version.map(|v| s.to_u32("audit version", v)).transpose()?,
                    detail,
                    prev_hash: hash_array(s, "prev_hash", seq, &prev)?,
                    hash: hash_array(s, "hash", seq, &hash)?,
                })
            },
        )
        .collect()
}
