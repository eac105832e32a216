//! SQL for the manager lease: one row per token naming the process that runs the background
//! manager until the lease expires. Renewals are frequent, so they neither bump the generation
//! nor write audit entries.

use super::SqliteStore;
use crate::error::Result;

pub(super) async fn try_lease(
    s: &SqliteStore,
    holder: &str,
    now_ms: i64,
    ttl_ms: i64,
) -> Result<bool> {
    let mut tx = s.begin_write().await?;
    // The upsert's WHERE decides: take a free row, an expired one, or renew our own. When it
    // is false nothing changes and no row counts as affected.
    let done = sqlx::query(
        "INSERT INTO leases (token_id, holder, expires_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT (token_id) DO UPDATE SET holder = excluded.holder, \
         expires_at = excluded.expires_at \
         WHERE leases.holder = excluded.holder OR leases.expires_at <= ?4",
    )
    .bind(&s.token_id)
    .bind(holder)
    .bind(now_ms.saturating_add(ttl_ms))
    .bind(now_ms)
    .execute(&mut *tx)
    .await
    .map_err(s.err("take lease"))?;
    let won = done.rows_affected() == 1;
    s.commit_quiet(tx).await?;
    Ok(won)
}

pub(super) async fn release(s: &SqliteStore, holder: &str) -> Result<()> {
    sqlx::query("DELETE FROM leases WHERE token_id = ?1 AND holder = ?2")
        .bind(&s.token_id)
        .bind(holder)
        .execute(&s.pool)
        .await
        .map_err(s.err("release lease"))?;
    Ok(())
}

pub(super) async fn holder(s: &SqliteStore) -> Result<Option<(String, i64)>> {
    sqlx::query_as("SELECT holder, expires_at FROM leases WHERE token_id = ?1")
        .bind(&s.token_id)
        .fetch_optional(&s.pool)
        .await
        .map_err(s.err("read lease"))
}
