//! SQL for the token row (initialisation, PIN keys, failure counters) and plain token objects.

use sqlx::error::ErrorKind;

use super::{audit, data_keys, no_object, SqliteStore};
use crate::error::{Error, Result};
use crate::store::{
    AuditDraft, DataKeyRecord, ObjectRecord, PinRole, TokenRecord, WrappedStorageKey,
};

/// Column-naming SQL per role; fixed strings, so nothing is ever formatted into SQL.
struct RoleSql {
    set_key: &'static str,
    add_failure: &'static str,
    reset: &'static str,
}

fn role_sql(role: PinRole) -> RoleSql {
    match role {
        PinRole::So => RoleSql {
            set_key: "UPDATE tokens SET so_key = ?2, so_failures = 0 WHERE token_id = ?1",
            add_failure: "UPDATE tokens SET so_failures = MIN(so_failures + 1, 4294967295) \
                          WHERE token_id = ?1 RETURNING so_failures",
            reset: "UPDATE tokens SET so_failures = 0 WHERE token_id = ?1",
        },
        PinRole::User => RoleSql {
            set_key: "UPDATE tokens SET user_key = ?2, user_failures = 0 WHERE token_id = ?1",
            add_failure: "UPDATE tokens SET user_failures = MIN(user_failures + 1, 4294967295) \
                          WHERE token_id = ?1 RETURNING user_failures",
            reset: "UPDATE tokens SET user_failures = 0 WHERE token_id = ?1",
        },
    }
}

type TokenRow = (String, String, Vec<u8>, Option<Vec<u8>>, i64, i64, i64);

pub(super) async fn load_token(s: &SqliteStore) -> Result<Option<TokenRecord>> {
    let row: Option<TokenRow> = sqlx::query_as(
        "SELECT label, serial, so_key, user_key, so_failures, user_failures, initialized_at \
         FROM tokens WHERE token_id = ?1",
    )
    .bind(&s.token_id)
    .fetch_optional(&s.pool)
    .await
    .map_err(s.err("load token"))?;
    let Some((label, serial, so_key, user_key, so_f, user_f, initialized_at)) = row else {
        return Ok(None);
    };
    Ok(Some(TokenRecord {
        label,
        serial,
        so_key: s.parse_wrapped("SO key", &so_key)?,
        user_key: user_key
            .map(|b| s.parse_wrapped("user key", &b))
            .transpose()?,
        so_failures: s.to_u32("so_failures", so_f)?,
        user_failures: s.to_u32("user_failures", user_f)?,
        initialized_at,
    }))
}

/// Tables wiped by (re-)initialisation, children before parents. Fixed strings.
const WIPE: [&str; 5] = [
    "DELETE FROM objects WHERE token_id = ?1",
    "DELETE FROM key_versions WHERE token_id = ?1",
    "DELETE FROM keys WHERE token_id = ?1",
    "DELETE FROM data_keys WHERE token_id = ?1",
    "DELETE FROM audit_log WHERE token_id = ?1",
];

pub(super) async fn init_token(
    s: &SqliteStore,
    rec: &TokenRecord,
    first_data_key: &DataKeyRecord,
    draft: &AuditDraft,
) -> Result<()> {
    let mut tx = s.begin_write().await?;
    for sql in WIPE {
        sqlx::query(sql)
            .bind(&s.token_id)
            .execute(&mut *tx)
            .await
            .map_err(s.err("wipe token for init"))?;
    }
    sqlx::query(
        "INSERT INTO tokens (token_id, label, serial, so_key, user_key, so_failures, \
         user_failures, initialized_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
         ON CONFLICT (token_id) DO UPDATE SET label = excluded.label, \
         serial = excluded.serial, so_key = excluded.so_key, user_key = excluded.user_key, \
         so_failures = excluded.so_failures, user_failures = excluded.user_failures, \
         initialized_at = excluded.initialized_at",
    )
    .bind(&s.token_id)
    .bind(&rec.label)
    .bind(&rec.serial)
    .bind(rec.so_key.to_bytes())
    .bind(rec.user_key.as_ref().map(WrappedStorageKey::to_bytes))
    .bind(i64::from(rec.so_failures))
    .bind(i64::from(rec.user_failures))
    .bind(rec.initialized_at)
    .execute(&mut *tx)
    .await
    .map_err(s.err("write token row"))?;
    data_keys::insert_active(s, &mut tx, first_data_key).await?;
    audit::append(s, &mut tx, draft).await?;
    s.commit(tx).await?;
    // The wipe freed pages that held sealed material.
    s.checkpoint_after_erase().await;
    Ok(())
}

pub(super) async fn set_pin(s: &SqliteStore, role: PinRole, key: &WrappedStorageKey) -> Result<()> {
    let mut tx = s.begin_write().await?;
    let done = sqlx::query(role_sql(role).set_key)
        .bind(&s.token_id)
        .bind(key.to_bytes())
        .execute(&mut *tx)
        .await
        .map_err(s.err("set PIN key"))?;
    s.require_token(done.rows_affected())?;
    s.commit(tx).await
}

pub(super) async fn record_login_failure(s: &SqliteStore, role: PinRole) -> Result<u32> {
    let mut tx = s.begin_write().await?;
    let count: Option<i64> = sqlx::query_scalar(role_sql(role).add_failure)
        .bind(&s.token_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(s.err("record login failure"))?;
    let Some(count) = count else {
        return Err(s.no_token());
    };
    let count = s.to_u32("failure counter", count)?;
    s.commit(tx).await?;
    Ok(count)
}

pub(super) async fn reset_login_failures(s: &SqliteStore, role: PinRole) -> Result<()> {
    let mut tx = s.begin_write().await?;
    let done = sqlx::query(role_sql(role).reset)
        .bind(&s.token_id)
        .execute(&mut *tx)
        .await
        .map_err(s.err("reset login failures"))?;
    s.require_token(done.rows_affected())?;
    s.commit(tx).await
}

pub(super) async fn insert_object(s: &SqliteStore, rec: &ObjectRecord) -> Result<()> {
    let mut tx = s.begin_write().await?;
    data_keys::guard_sealed(s, &mut tx, rec.secret.as_deref()).await?;
    let res =
        sqlx::query("INSERT INTO objects (token_id, uid, public, secret) VALUES (?1, ?2, ?3, ?4)")
            .bind(&s.token_id)
            .bind(&rec.uid)
            .bind(&rec.public)
            .bind(rec.secret.as_deref())
            .execute(&mut *tx)
            .await;
    match res {
        Ok(_) => s.commit(tx).await,
        Err(e) => match e.as_database_error().map(|d| d.kind()) {
            Some(ErrorKind::ForeignKeyViolation) => Err(s.no_token()),
            Some(ErrorKind::UniqueViolation) => Err(Error::Store(format!(
                "object {:?} already exists in store {}",
                rec.uid,
                s.path.display()
            ))),
            _ => Err(s.err("insert object")(e)),
        },
    }
}

pub(super) async fn update_object(s: &SqliteStore, rec: &ObjectRecord) -> Result<()> {
    let mut tx = s.begin_write().await?;
    data_keys::guard_sealed(s, &mut tx, rec.secret.as_deref()).await?;
    let done =
        sqlx::query("UPDATE objects SET public = ?3, secret = ?4 WHERE token_id = ?1 AND uid = ?2")
            .bind(&s.token_id)
            .bind(&rec.uid)
            .bind(&rec.public)
            .bind(rec.secret.as_deref())
            .execute(&mut *tx)
            .await
            .map_err(s.err("update object"))?;
    if done.rows_affected() == 0 {
        return Err(no_object());
    }
    s.commit(tx).await
}

pub(super) async fn delete_object(s: &SqliteStore, uid: &str) -> Result<()> {
    let mut tx = s.begin_write().await?;
    let done = sqlx::query("DELETE FROM objects WHERE token_id = ?1 AND uid = ?2")
        .bind(&s.token_id)
        .bind(uid)
        .execute(&mut *tx)
        .await
        .map_err(s.err("delete object"))?;
    if done.rows_affected() == 0 {
        return Err(no_object());
    }
    s.commit(tx).await
}

pub(super) async fn load_objects(s: &SqliteStore) -> Result<Vec<ObjectRecord>> {
    let rows: Vec<(String, Vec<u8>, Option<Vec<u8>>)> =
        sqlx::query_as("SELECT uid, public, secret FROM objects WHERE token_id = ?1 ORDER BY seq")
            .bind(&s.token_id)
            .fetch_all(&s.pool)
            .await
            .map_err(s.err("load objects"))?;
    Ok(rows
        .into_iter()
        .map(|(uid, public, secret)| ObjectRecord {
            uid,
            public,
            secret,
        })
        .collect())
}
