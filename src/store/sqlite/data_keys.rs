//! SQL for data keys and for batch re-encryption: listing every sealed blob of the token and
//! swapping one blob for its re-encrypted twin with a compare-and-swap.

use sqlx::error::ErrorKind;
use sqlx::SqliteConnection;

use super::{audit, SqliteStore};
use crate::error::{Error, Result};
use crate::store::crypt::data_keys::{DATA_KEY_ACTIVE, DATA_KEY_RETIRED, DATA_KEY_RETIRING};
use crate::store::{AuditDraft, DataKeyRecord, DataKeys, SealedRef};

/// The 5-byte header of blobs sealed under data key `id`, for byte-wise SQL matching.
fn header(id: u32) -> [u8; 5] {
    let [a, b, c, d] = id.to_be_bytes();
    [crate::store::crypt::data_keys::FORMAT_V2, a, b, c, d]
}

/// Refuses to store a blob sealed under a data key that is retired or unknown. A process whose
/// cached data keys are stale could otherwise write a value nobody can open any more.
pub(super) async fn guard_sealed(
    s: &SqliteStore,
    conn: &mut SqliteConnection,
    blob: Option<&[u8]>,
) -> Result<()> {
    let Some(id) = blob.and_then(DataKeys::blob_key_id) else {
        return Ok(());
    };
    let state: Option<i64> =
        sqlx::query_scalar("SELECT state FROM data_keys WHERE token_id = ?1 AND id = ?2")
            .bind(&s.token_id)
            .bind(i64::from(id))
            .fetch_optional(&mut *conn)
            .await
            .map_err(s.err("check data key state"))?;
    match state {
        Some(st) if st == i64::from(DATA_KEY_ACTIVE) || st == i64::from(DATA_KEY_RETIRING) => {
            Ok(())
        }
        _ => Err(Error::Store(format!(
            "value sealed under data key {id}, which is retired or unknown in store {}: \
             reload the data keys and seal again",
            s.path.display()
        ))),
    }
}

/// Inserts `rec`, which must be active, inside the caller's transaction. The caller demotes
/// any previous active key first.
pub(super) async fn insert_active(
    s: &SqliteStore,
    conn: &mut SqliteConnection,
    rec: &DataKeyRecord,
) -> Result<()> {
    if rec.state != DATA_KEY_ACTIVE || rec.sealed.is_empty() {
        return Err(Error::Internal(format!(
            "new data key {} must be active and sealed (state {})",
            rec.id, rec.state
        )));
    }
    let res = sqlx::query(
        "INSERT INTO data_keys (token_id, id, sealed, state, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .bind(&s.token_id)
    .bind(i64::from(rec.id))
    .bind(&rec.sealed)
    .bind(i64::from(rec.state))
    .bind(rec.created_at)
    .execute(&mut *conn)
    .await;
    match res {
        Ok(_) => Ok(()),
        Err(e) => match e.as_database_error().map(|d| d.kind()) {
            Some(ErrorKind::ForeignKeyViolation) => Err(s.no_token()),
            Some(ErrorKind::UniqueViolation) => Err(Error::Store(format!(
                "data key {} already exists in store {}",
                rec.id,
                s.path.display()
            ))),
            _ => Err(s.err("insert data key")(e)),
        },
    }
}

pub(super) async fn load(s: &SqliteStore) -> Result<Vec<DataKeyRecord>> {
    let rows: Vec<(i64, Vec<u8>, i64, i64)> = sqlx::query_as(
        "SELECT id, sealed, state, created_at FROM data_keys WHERE token_id = ?1 ORDER BY id",
    )
    .bind(&s.token_id)
    .fetch_all(&s.pool)
    .await
    .map_err(s.err("load data keys"))?;
    rows.into_iter()
        .map(|(id, sealed, state, created_at)| {
            Ok(DataKeyRecord {
                id: s.to_u32("data key id", id)?,
                sealed,
                state: u8::try_from(state).map_err(|_| {
                    Error::StoreIntegrity(format!("data key {id} has state {state}"))
                })?,
                created_at,
            })
        })
        .collect()
}

pub(super) async fn add(s: &SqliteStore, rec: &DataKeyRecord, draft: &AuditDraft) -> Result<()> {
    let mut tx = s.begin_write().await?;
    sqlx::query("UPDATE data_keys SET state = ?2 WHERE token_id = ?1 AND state = ?3")
        .bind(&s.token_id)
        .bind(i64::from(DATA_KEY_RETIRING))
        .bind(i64::from(DATA_KEY_ACTIVE))
        .execute(&mut *tx)
        .await
        .map_err(s.err("demote active data key"))?;
    insert_active(s, &mut tx, rec).await?;
    audit::append(s, &mut tx, draft).await?;
    s.commit(tx).await
}

pub(super) async fn retire(s: &SqliteStore, id: u32, draft: &AuditDraft) -> Result<()> {
    let mut tx = s.begin_write().await?;
    let state: Option<i64> =
        sqlx::query_scalar("SELECT state FROM data_keys WHERE token_id = ?1 AND id = ?2")
            .bind(&s.token_id)
            .bind(i64::from(id))
            .fetch_optional(&mut *tx)
            .await
            .map_err(s.err("read data key state"))?;
    let refuse = |why: String| {
        Err(Error::Store(format!(
            "cannot retire data key {id} in store {}: {why}",
            s.path.display()
        )))
    };
    match state {
        None => return refuse("no such data key".into()),
        Some(st) if st == i64::from(DATA_KEY_RETIRED) => return Ok(()),
        Some(st) if st == i64::from(DATA_KEY_ACTIVE) => {
            return refuse("it is the active key; add a new data key first".into())
        }
        Some(_) => {}
    }
    // substr() of a BLOB is a BLOB of bytes, compared byte-wise with the header.
    let users: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM objects WHERE token_id = ?1 AND substr(secret, 1, 5) = ?2) \
         + (SELECT count(*) FROM key_versions WHERE token_id = ?1 AND substr(sealed, 1, 5) = ?2)",
    )
    .bind(&s.token_id)
    .bind(header(id).as_slice())
    .fetch_one(&mut *tx)
    .await
    .map_err(s.err("count values under data key"))?;
    if users > 0 {
        return refuse(format!(
            "{users} stored values still use it; re-encrypt them first"
        ));
    }
    sqlx::query("UPDATE data_keys SET state = ?3, sealed = x'' WHERE token_id = ?1 AND id = ?2")
        .bind(&s.token_id)
        .bind(i64::from(id))
        .bind(i64::from(DATA_KEY_RETIRED))
        .execute(&mut *tx)
        .await
        .map_err(s.err("retire data key"))?;
    audit::append(s, &mut tx, draft).await?;
    s.commit(tx).await?;
    s.checkpoint_after_erase().await;
    Ok(())
}

pub(super) async fn sealed_rows(
    s: &SqliteStore,
    after: Option<&SealedRef>,
    limit: usize,
) -> Result<Vec<(SealedRef, Vec<u8>)>> {
    let mut out = Vec::new();
    if limit == 0 {
        return Ok(out);
    }
    let lim = |have: usize| i64::try_from(limit - have).unwrap_or(i64::MAX);
    // Objects by uid, after `after` when it names an object; none when it names a version.
    let (obj_after, ver_after) = match after {
        None => (Some(""), None),
        Some(SealedRef::Object(uid)) => (Some(uid.as_str()), None),
        Some(SealedRef::Version { key_uid, version }) => (None, Some((key_uid.as_str(), *version))),
    };
    if let Some(uid_after) = obj_after {
        // "" sorts before every uid, and `after: None` must include a uid of "" too.
        let inclusive = after.is_none();
        let rows: Vec<(String, Vec<u8>)> = sqlx::query_as(
            "SELECT uid, secret FROM objects WHERE token_id = ?1 AND secret IS NOT NULL \
             AND (uid > ?2 OR (?3 AND uid = ?2)) ORDER BY uid LIMIT ?4",
        )
        .bind(&s.token_id)
        .bind(uid_after)
        .bind(inclusive)
        .bind(lim(0))
        .fetch_all(&s.pool)
        .await
        .map_err(s.err("list sealed objects"))?;
        out.extend(rows.into_iter().map(|(uid, b)| (SealedRef::Object(uid), b)));
    }
    if out.len() < limit {
        let (k, v, inclusive) = match ver_after {
            None => ("", 0, true),
            Some((k, v)) => (k, i64::from(v), false),
        };
        let rows: Vec<(String, i64, Vec<u8>)> = sqlx::query_as(
            "SELECT key_uid, version, sealed FROM key_versions \
             WHERE token_id = ?1 AND sealed IS NOT NULL \
             AND (key_uid > ?2 OR (key_uid = ?2 AND (version > ?3 OR (?4 AND version = ?3)))) \
             ORDER BY key_uid, version LIMIT ?5",
        )
        .bind(&s.token_id)
        .bind(k)
        .bind(v)
        .bind(inclusive)
        .bind(lim(out.len()))
        .fetch_all(&s.pool)
        .await
        .map_err(s.err("list sealed versions"))?;
        for (key_uid, version, b) in rows {
            let version = s.to_u32("version", version)?;
            out.push((SealedRef::Version { key_uid, version }, b));
        }
    }
    Ok(out)
}

pub(super) async fn replace_sealed(
    s: &SqliteStore,
    r: &SealedRef,
    old: &[u8],
    new: &[u8],
) -> Result<bool> {
    let mut tx = s.begin_write().await?;
    guard_sealed(s, &mut tx, Some(new)).await?;
    let done = match r {
        SealedRef::Object(uid) => sqlx::query(
            "UPDATE objects SET secret = ?3 WHERE token_id = ?1 AND uid = ?2 AND secret = ?4",
        )
        .bind(&s.token_id)
        .bind(uid)
        .bind(new)
        .bind(old)
        .execute(&mut *tx)
        .await
        .map_err(s.err("replace sealed object value"))?,
        SealedRef::Version { key_uid, version } => sqlx::query(
            "UPDATE key_versions SET sealed = ?4 WHERE token_id = ?1 AND key_uid = ?2 \
             AND version = ?3 AND sealed = ?5",
        )
        .bind(&s.token_id)
        .bind(key_uid)
        .bind(i64::from(*version))
        .bind(new)
        .bind(old)
        .execute(&mut *tx)
        .await
        .map_err(s.err("replace sealed version material"))?,
    };
    if done.rows_affected() == 0 {
        // Dropping the transaction rolls it back: nothing was written.
        return Ok(false);
    }
    s.commit(tx).await?;
    Ok(true)
}
