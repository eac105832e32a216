//! SQL for named keys: creation with the first version, loading with all versions, the
//! exactly-once rotation, attribute/policy updates and deletion.

use std::collections::HashMap;

use cryptoki_sys as sys;
use sqlx::SqliteConnection;

use super::{audit, bulk, no_object, versions, SqliteStore};
use crate::error::{Error, Result};
use crate::store::{AuditDraft, KeyChanges, KeyRecord, VersionRecord};

/// `Error::Rv(CKR_ATTRIBUTE_VALUE_INVALID)` if another key of the token already has `name`.
async fn check_name_free(
    s: &SqliteStore,
    conn: &mut SqliteConnection,
    name: &str,
    key_uid: &str,
) -> Result<()> {
    let other: Option<String> = sqlx::query_scalar(
        "SELECT key_uid FROM keys WHERE token_id = ?1 AND name = ?2 AND key_uid <> ?3",
    )
    .bind(&s.token_id)
    .bind(name)
    .bind(key_uid)
    .fetch_optional(&mut *conn)
    .await
    .map_err(s.err("check key name"))?;
    if let Some(other) = other {
        tracing::info!(name, other_uid = %other, "key name already exists");
        return Err(Error::Rv(sys::CKR_ATTRIBUTE_VALUE_INVALID));
    }
    Ok(())
}

pub(super) async fn create(
    s: &SqliteStore,
    key: &KeyRecord,
    first: &VersionRecord,
    draft: &AuditDraft,
) -> Result<()> {
    versions::check_key(&key.key_uid, first)?;
    let mut tx = s.begin_write().await?;
    check_name_free(s, &mut tx, &key.name, &key.key_uid).await?;
    sqlx::query(
        "INSERT INTO keys (token_id, key_uid, name, ck_id, public, policy, active_version, \
         next_rotation_at, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )
    .bind(&s.token_id)
    .bind(&key.key_uid)
    .bind(&key.name)
    .bind(&key.ck_id)
    .bind(&key.public)
    .bind(&key.policy)
    .bind(i64::from(key.active_version))
    .bind(key.next_rotation_at)
    .bind(key.created_at)
    .bind(key.updated_at)
    .execute(&mut *tx)
    .await
    .map_err(|e| match e.as_database_error().map(|d| d.kind()) {
        Some(sqlx::error::ErrorKind::UniqueViolation) => Error::Store(format!(
            "key uid {:?} already exists in store {}",
            key.key_uid,
            s.path.display()
        )),
        _ => s.write_err("insert key")(e),
    })?;
    versions::insert(s, &mut tx, first).await?;
    audit::append(s, &mut tx, draft).await?;
    s.commit(tx).await
}

/// Every key of the token with its versions, from one snapshot.
pub(super) async fn load(s: &SqliteStore) -> Result<Vec<(KeyRecord, Vec<VersionRecord>)>> {
    Ok(read(s, None, false).await?.changed)
}

/// The keys changed after generation `since` (with all their versions) and,
/// with `all_uids`, the uids of every key, from one snapshot.
pub(super) async fn load_since(s: &SqliteStore, since: u64, all_uids: bool) -> Result<KeyChanges> {
    read(s, Some(since), all_uids).await
}

async fn read(s: &SqliteStore, since: Option<u64>, all_uids: bool) -> Result<KeyChanges> {
    // One read transaction: the queries see the same snapshot, so a rotation committed in
    // between cannot show a key whose active version is missing from its versions.
    let mut tx = s.pool.begin().await.map_err(s.err("begin read"))?;
    let read = {
        let mut handle = tx.lock_handle().await.map_err(s.err("lock connection"))?;
        let since = since.map(|g| i64::try_from(g).unwrap_or(i64::MAX));
        // SAFETY: the locked handle keeps sqlx's worker off this connection
        // until it drops, after `read_keys` has dropped its statements.
        unsafe { read_keys(s, handle.as_raw_handle(), since, all_uids) }
    };
    tx.commit().await.map_err(s.err("end read"))?;
    read.map_err(|e| match e {
        Error::StoreIntegrity(m) => {
            Error::StoreIntegrity(format!("keys in store {}: {m}", s.path.display()))
        }
        e => e,
    })
}

/// The queries of [`read`], stepped in place: every key, or with `since`
/// the keys stamped after that generation (and with `uids` every key's uid).
///
/// # Safety
/// `db` must be an open connection that no other thread uses meanwhile.
unsafe fn read_keys(
    s: &SqliteStore,
    db: std::ptr::NonNull<libsqlite3_sys::sqlite3>,
    since: Option<i64>,
    uids: bool,
) -> Result<KeyChanges> {
    let filter = if since.is_some() {
        " AND changed_gen > ?2"
    } else {
        ""
    };
    let nul = |_| Error::Internal("NUL in SQL".into());
    let mut all_uids = None;
    if uids {
        // SAFETY: caller contract.
        let mut q = unsafe {
            bulk::Statement::prepare(
                db,
                c"SELECT key_uid FROM keys WHERE token_id = ?1",
                &s.token_id,
            )?
        };
        let mut uids = Vec::new();
        while let Some(row) = q.next()? {
            uids.push(row.text(0)?);
        }
        all_uids = Some(uids);
    }
    let which = if since.is_some() {
        " AND key_uid IN (SELECT key_uid FROM keys WHERE token_id = ?1 AND changed_gen > ?2)"
    } else {
        ""
    };
    let sql = std::ffi::CString::new(format!(
        "SELECT {} FROM key_versions WHERE token_id = ?1{which} ORDER BY key_uid, version",
        versions::VERSION_COLUMNS
    ))
    .map_err(nul)?;
    // SAFETY: caller contract.
    let mut q = unsafe { bulk::Statement::prepare(db, &sql, &s.token_id)? };
    if let Some(g) = since {
        q.bind_int(2, g)?;
    }
    let mut by_key: HashMap<String, Vec<VersionRecord>> = HashMap::new();
    while let Some(row) = q.next()? {
        let v = versions::from_row(s, &row)?;
        by_key.entry(v.key_uid.clone()).or_default().push(v);
    }
    drop(q);
    let sql = std::ffi::CString::new(format!(
        "SELECT key_uid, name, ck_id, public, policy, active_version, next_rotation_at, \
         created_at, updated_at FROM keys WHERE token_id = ?1{filter} ORDER BY name"
    ))
    .map_err(nul)?;
    // SAFETY: caller contract.
    let mut q = unsafe { bulk::Statement::prepare(db, &sql, &s.token_id)? };
    if let Some(g) = since {
        q.bind_int(2, g)?;
    }
    let mut changed = Vec::with_capacity(by_key.len());
    while let Some(row) = q.next()? {
        let key_uid = row.text(0)?;
        let versions = by_key.remove(&key_uid).unwrap_or_default();
        changed.push((
            KeyRecord {
                active_version: s.to_u32("active_version", row.int(5)?)?,
                key_uid,
                name: row.text(1)?,
                ck_id: row.blob(2)?,
                public: row.blob(3)?,
                policy: row.text(4)?,
                next_rotation_at: row.opt_int(6)?,
                created_at: row.int(7)?,
                updated_at: row.int(8)?,
            },
            versions,
        ));
    }
    Ok(KeyChanges { changed, all_uids })
}

pub(super) async fn rotate(
    s: &SqliteStore,
    key_uid: &str,
    expected_active: u32,
    new: &VersionRecord,
    old_changes: &VersionRecord,
    next_rotation_at: Option<i64>,
    draft: &AuditDraft,
) -> Result<bool> {
    versions::check_key(key_uid, new)?;
    versions::check_key(key_uid, old_changes)?;
    if old_changes.version != expected_active || new.version == expected_active {
        return Err(Error::Internal(format!(
            "rotation of key {key_uid:?}: old row is version {}, new is {}, expected active {}",
            old_changes.version, new.version, expected_active
        )));
    }
    let mut tx = s.begin_write().await?;
    let active: Option<i64> =
        sqlx::query_scalar("SELECT active_version FROM keys WHERE token_id = ?1 AND key_uid = ?2")
            .bind(&s.token_id)
            .bind(key_uid)
            .fetch_optional(&mut *tx)
            .await
            .map_err(s.err("read active version"))?;
    let Some(active) = active else {
        return Err(no_object());
    };
    if active != i64::from(expected_active) {
        // Another process rotated first. Dropping the transaction rolls it back.
        tracing::debug!(key_uid, expected_active, active, "rotation lost the race");
        return Ok(false);
    }
    versions::insert(s, &mut tx, new).await?;
    versions::replace(s, &mut tx, old_changes).await?;
    sqlx::query(
        "UPDATE keys SET active_version = ?3, next_rotation_at = ?4, updated_at = ?5 \
         WHERE token_id = ?1 AND key_uid = ?2",
    )
    .bind(&s.token_id)
    .bind(key_uid)
    .bind(i64::from(new.version))
    .bind(next_rotation_at)
    .bind(draft.at)
    .execute(&mut *tx)
    .await
    .map_err(s.err("set active version"))?;
    audit::append(s, &mut tx, draft).await?;
    s.commit(tx).await?;
    Ok(true)
}

pub(super) async fn update(s: &SqliteStore, key: &KeyRecord, draft: &AuditDraft) -> Result<()> {
    let mut tx = s.begin_write().await?;
    check_name_free(s, &mut tx, &key.name, &key.key_uid).await?;
    let done = sqlx::query(
        "UPDATE keys SET name = ?3, ck_id = ?4, public = ?5, policy = ?6, \
         next_rotation_at = ?7, updated_at = ?8 WHERE token_id = ?1 AND key_uid = ?2",
    )
    .bind(&s.token_id)
    .bind(&key.key_uid)
    .bind(&key.name)
    .bind(&key.ck_id)
    .bind(&key.public)
    .bind(&key.policy)
    .bind(key.next_rotation_at)
    .bind(key.updated_at)
    .execute(&mut *tx)
    .await
    .map_err(s.err("update key"))?;
    if done.rows_affected() == 0 {
        return Err(no_object());
    }
    audit::append(s, &mut tx, draft).await?;
    s.commit(tx).await
}

pub(super) async fn delete(s: &SqliteStore, key_uid: &str, draft: &AuditDraft) -> Result<()> {
    let mut tx = s.begin_write().await?;
    // ON DELETE CASCADE removes the versions; secure_delete zeroes their material.
    let done = sqlx::query("DELETE FROM keys WHERE token_id = ?1 AND key_uid = ?2")
        .bind(&s.token_id)
        .bind(key_uid)
        .execute(&mut *tx)
        .await
        .map_err(s.err("delete key"))?;
    if done.rows_affected() == 0 {
        return Err(no_object());
    }
    audit::append(s, &mut tx, draft).await?;
    s.commit(tx).await?;
    s.checkpoint_after_erase().await;
    Ok(())
}
