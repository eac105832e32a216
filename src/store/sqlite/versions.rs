//! SQL for key-version rows: mapping to and from [`VersionRecord`], inserting and replacing rows
//! (counters never decrease, material is only ever erased), lifecycle updates, and the counters that
//! change without waking other processes (usage counts, IV reservations).

use sqlx::query::Query;
use sqlx::sqlite::SqliteArguments;
use sqlx::{Sqlite, SqliteConnection};

use super::{audit, bulk, data_keys, no_object, to_i64, SqliteStore};
use crate::error::{Error, Result};
use crate::store::{AuditDraft, VersionRecord};

/// Every column of a version row, in the order the binding below follows.
pub(super) const VERSION_COLUMNS: &str =
    "key_uid, version, version_uid, state, held, created_at, activated_at, deactivated_at, \
     grace_at, revoked_at, destroyed_at, compromised_at, sealed, encrypt_count, decrypt_count, \
     iv_reserved";

const INSERT_SQL: &str = "INSERT INTO key_versions (token_id, key_uid, version, version_uid, \
     state, held, created_at, activated_at, deactivated_at, grace_at, revoked_at, destroyed_at, \
     compromised_at, sealed, encrypt_count, decrypt_count, iv_reserved) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)";

/// Replaces a row, except for two columns a writer with a stale copy could get wrong:
/// counters never decrease (an IV block must never be handed out twice), and the material is
/// only ever erased (`?14` NULL), never set: it is written once at insert and changed only by
/// `replace_sealed`'s compare-and-swap, so a stale copy can neither resurrect a destroyed
/// version nor undo a re-encryption. In SET, column names refer to the values before the update.
const REPLACE_SQL: &str = "UPDATE key_versions SET version_uid = ?4, state = ?5, held = ?6, \
     created_at = ?7, activated_at = ?8, deactivated_at = ?9, grace_at = ?10, revoked_at = ?11, \
     destroyed_at = ?12, compromised_at = ?13, \
     sealed = CASE WHEN ?14 IS NULL THEN NULL ELSE sealed END, \
     encrypt_count = MAX(encrypt_count, ?15), decrypt_count = MAX(decrypt_count, ?16), \
     iv_reserved = MAX(iv_reserved, ?17) \
     WHERE token_id = ?1 AND key_uid = ?2 AND version = ?3";

/// The largest value an INTEGER column holds.
const I64_MAX_SQL: &str = "9223372036854775807";

/// Binds ?1..=?17 of [`INSERT_SQL`] / [`REPLACE_SQL`].
fn bind_row<'q>(
    s: &'q SqliteStore,
    v: &'q VersionRecord,
    sql: &'q str,
) -> Result<Query<'q, Sqlite, SqliteArguments<'q>>> {
    Ok(sqlx::query(sql)
        .bind(s.token_id.as_str())
        .bind(v.key_uid.as_str())
        .bind(i64::from(v.version))
        .bind(v.version_uid.as_str())
        .bind(i64::from(v.state))
        .bind(i64::from(v.held))
        .bind(v.created_at)
        .bind(v.activated_at)
        .bind(v.deactivated_at)
        .bind(v.grace_at)
        .bind(v.revoked_at)
        .bind(v.destroyed_at)
        .bind(v.compromised_at)
        .bind(v.sealed.as_deref())
        .bind(to_i64("encrypt_count", v.encrypt_count)?)
        .bind(to_i64("decrypt_count", v.decrypt_count)?)
        .bind(to_i64("iv_reserved", v.iv_reserved)?))
}

/// A row selected with [`VERSION_COLUMNS`], read in place.
pub(super) fn from_row(s: &SqliteStore, row: &bulk::Row<'_>) -> Result<VersionRecord> {
    let state = row.int(3)?;
    Ok(VersionRecord {
        key_uid: row.text(0)?,
        version: s.to_u32("version", row.int(1)?)?,
        version_uid: row.text(2)?,
        state: u8::try_from(state)
            .map_err(|_| Error::StoreIntegrity(format!("version state {state} out of range")))?,
        held: row.int(4)? != 0,
        created_at: row.int(5)?,
        activated_at: row.opt_int(6)?,
        deactivated_at: row.opt_int(7)?,
        grace_at: row.opt_int(8)?,
        revoked_at: row.opt_int(9)?,
        destroyed_at: row.opt_int(10)?,
        compromised_at: row.opt_int(11)?,
        sealed: row.opt_blob(12)?,
        encrypt_count: s.to_u64("encrypt_count", row.int(13)?)?,
        decrypt_count: s.to_u64("decrypt_count", row.int(14)?)?,
        iv_reserved: s.to_u64("iv_reserved", row.int(15)?)?,
    })
}

/// Inserts a new version row inside the caller's transaction.
pub(super) async fn insert(
    s: &SqliteStore,
    conn: &mut SqliteConnection,
    v: &VersionRecord,
) -> Result<()> {
    data_keys::guard_sealed(s, conn, v.sealed.as_deref()).await?;
    bind_row(s, v, INSERT_SQL)?
        .execute(&mut *conn)
        .await
        .map_err(|e| match e.as_database_error().map(|d| d.kind()) {
            Some(sqlx::error::ErrorKind::UniqueViolation) => Error::Store(format!(
                "version {} of key {:?} (uid {:?}) already exists in store {}",
                v.version,
                v.key_uid,
                v.version_uid,
                s.path.display()
            )),
            Some(sqlx::error::ErrorKind::ForeignKeyViolation) => no_object(),
            _ => s.err("insert key version")(e),
        })?;
    Ok(())
}

/// Replaces an existing version row inside the caller's transaction (see [`REPLACE_SQL`] for
/// what is kept). Missing → `CKR_OBJECT_HANDLE_INVALID`. The row's blob is not checked against
/// retired data keys: it is never stored.
pub(super) async fn replace(
    s: &SqliteStore,
    conn: &mut SqliteConnection,
    v: &VersionRecord,
) -> Result<()> {
    let done = bind_row(s, v, REPLACE_SQL)?
        .execute(&mut *conn)
        .await
        .map_err(s.err("update key version"))?;
    if done.rows_affected() == 0 {
        return Err(no_object());
    }
    Ok(())
}

/// Refuses a row that belongs to another key: a caller bug, caught before anything is written.
pub(super) fn check_key(key_uid: &str, v: &VersionRecord) -> Result<()> {
    if v.key_uid != key_uid {
        return Err(Error::Internal(format!(
            "version {} names key {:?}, not {key_uid:?}",
            v.version, v.key_uid
        )));
    }
    Ok(())
}

pub(super) async fn update(
    s: &SqliteStore,
    key_uid: &str,
    rows: &[VersionRecord],
    drafts: &[AuditDraft],
) -> Result<()> {
    for v in rows {
        check_key(key_uid, v)?;
    }
    let mut tx = s.begin_write().await?;
    for v in rows {
        replace(s, &mut tx, v).await?;
    }
    for d in drafts {
        audit::append(s, &mut tx, d).await?;
    }
    s.commit(tx).await?;
    if rows.iter().any(|v| v.sealed.is_none()) {
        s.checkpoint_after_erase().await;
    }
    Ok(())
}

pub(super) async fn add_counts(
    s: &SqliteStore,
    key_uid: &str,
    version: u32,
    encrypts: u64,
    decrypts: u64,
) -> Result<()> {
    // Saturating: the CASE keeps the sum from overflowing into a REAL, which the STRICT column
    // would refuse.
    let sql = format!(
        "UPDATE key_versions SET \
         encrypt_count = CASE WHEN encrypt_count > {I64_MAX_SQL} - ?4 THEN {I64_MAX_SQL} \
                         ELSE encrypt_count + ?4 END, \
         decrypt_count = CASE WHEN decrypt_count > {I64_MAX_SQL} - ?5 THEN {I64_MAX_SQL} \
                         ELSE decrypt_count + ?5 END \
         WHERE token_id = ?1 AND key_uid = ?2 AND version = ?3"
    );
    let mut tx = s.begin_write().await?;
    let done = sqlx::query(&sql)
        .bind(&s.token_id)
        .bind(key_uid)
        .bind(i64::from(version))
        .bind(i64::try_from(encrypts).unwrap_or(i64::MAX))
        .bind(i64::try_from(decrypts).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await
        .map_err(s.err("add usage counts"))?;
    if done.rows_affected() == 0 {
        return Err(no_object());
    }
    s.commit_quiet(tx).await
}

pub(super) async fn reserve_ivs(
    s: &SqliteStore,
    key_uid: &str,
    version: u32,
    n: u64,
) -> Result<u64> {
    let n_i = to_i64("IV reservation size", n)?;
    let sql = format!(
        "UPDATE key_versions SET iv_reserved = iv_reserved + ?4 \
         WHERE token_id = ?1 AND key_uid = ?2 AND version = ?3 \
         AND iv_reserved <= {I64_MAX_SQL} - ?4 RETURNING iv_reserved"
    );
    let mut tx = s.begin_write().await?;
    let new: Option<i64> = sqlx::query_scalar(&sql)
        .bind(&s.token_id)
        .bind(key_uid)
        .bind(i64::from(version))
        .bind(n_i)
        .fetch_optional(&mut *tx)
        .await
        .map_err(s.err("reserve IVs"))?;
    let Some(new) = new else {
        let exists: Option<i64> = sqlx::query_scalar(
            "SELECT iv_reserved FROM key_versions WHERE token_id = ?1 AND key_uid = ?2 \
             AND version = ?3",
        )
        .bind(&s.token_id)
        .bind(key_uid)
        .bind(i64::from(version))
        .fetch_optional(&mut *tx)
        .await
        .map_err(s.err("read IV reservation"))?;
        return Err(match exists {
            None => no_object(),
            Some(at) => Error::Store(format!(
                "IV space of version {version} of key {key_uid:?} is exhausted ({at} reserved)"
            )),
        });
    };
    s.commit_quiet(tx).await?;
    // new >= n_i because the row held new - n_i >= 0 (CHECK iv_reserved >= 0).
    s.to_u64("iv_reserved", new - n_i)
}
