//! The SQLite implementation of [`Store`](super::Store): file and directory permissions, connection
//! settings (WAL, busy timeout, secure_delete), migrations and transaction helpers. The SQL of
//! each group of operations lives in a child module (`token`, `data_keys`, `keys`, `versions`,
//! `lease`, `audit`); the trait impl in `routes` only routes to them.
//!
//! Several processes may open the same file. Every write runs in a `BEGIN IMMEDIATE`
//! transaction, which takes SQLite's write lock up front: two writers queue on the busy
//! timeout instead of both reading and one failing to upgrade, so no update is lost.

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cryptoki_sys as sys;
use sqlx::error::ErrorKind;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, Transaction};

use super::WrappedStorageKey;
use crate::error::{Error, Result};

mod audit;
mod bulk;
mod data_keys;
mod keys;
mod lease;
mod routes;
mod token;
mod versions;

/// The SQLite migrations, embedded at build time from `migrations/sqlite` beside Cargo.toml.
static MIGRATOR: Migrator = sqlx::migrate!("migrations/sqlite");

/// How long a connection waits for another writer before failing with "database is locked".
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections per process; writes serialise on the file lock anyway.
const MAX_CONNECTIONS: u32 = 4;
/// Tries at running migrations: two processes opening a fresh file at once can race, and the
/// loser succeeds on a retry once it sees the winner's committed schema.
const MIGRATION_ATTEMPTS: u32 = 5;

/// Numbers each opened store so its worker threads get distinguishable names.
static STORE_SEQ: AtomicU64 = AtomicU64::new(1);

/// A token store in one SQLite file.
pub struct SqliteStore {
    pool: SqlitePool,
    token_id: String,
    path: PathBuf,
    /// Part of the worker thread names (`kr-db<seq>-<n>`), shown in debuggers and `top -H`.
    seq: u64,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("token_id", &self.token_id)
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

/// Creates missing parent directories as 0700 and the file as 0600 (SQLite then gives its
/// -wal and -shm files the database file's mode). An existing file is left as it is, with a
/// warning if others can read it.
fn prepare_file(path: &Path) -> Result<()> {
    let io = |what: &str, e: std::io::Error| {
        Error::Store(format!("{what} for store {}: {e}", path.display()))
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(|e| io("cannot create directory", e))?;
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(|e| io("cannot open", e))?;
    let mode = file
        .metadata()
        .map_err(|e| io("cannot stat", e))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        tracing::warn!(
            path = %path.display(),
            mode = format_args!("{:o}", mode & 0o777),
            "store file is accessible to other users; chmod 600 it"
        );
    }
    Ok(())
}

impl SqliteStore {
    /// Opens (creating if needed) the store file for `token_id` and brings its schema up to
    /// date.
    pub async fn open(path: &Path, token_id: &str) -> Result<SqliteStore> {
        Self::open_with_migrator(path, token_id, &MIGRATOR).await
    }

    /// [`SqliteStore::open`] with an explicit migrator (tests and tools with their own
    /// migration set).
    pub async fn open_with_migrator(
        path: &Path,
        token_id: &str,
        migrator: &Migrator,
    ) -> Result<SqliteStore> {
        if token_id.is_empty() {
            return Err(Error::Store(format!(
                "empty token id for store {}",
                path.display()
            )));
        }
        prepare_file(path)?;
        let seq = STORE_SEQ.fetch_add(1, Ordering::Relaxed);
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            // No journal_mode here: switching to WAL needs an exclusive lock the busy timeout
            // does not wait for, so every new connection would risk "database is locked" while
            // another process opens the file. `enable_wal` switches once, retrying; the mode
            // is then stored in the file and every later connection uses it.
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true)
            // FULL rather than NORMAL: a freshly generated key version that an application has
            // already encrypted with must survive a power cut. Writes are rare.
            .synchronous(SqliteSynchronous::Full)
            .pragma("secure_delete", "ON")
            .thread_name(move |n| format!("kr-db{seq}-{n}"));
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .min_connections(0)
            .connect_with(options)
            .await
            .map_err(|e| Error::Store(format!("cannot open store {}: {e}", path.display())))?;
        let store = SqliteStore {
            pool,
            token_id: token_id.to_owned(),
            path: path.to_owned(),
            seq,
        };
        let ready = match store.enable_wal().await {
            Ok(()) => store.migrate(migrator).await,
            Err(e) => Err(e),
        };
        if let Err(e) = ready {
            store.shutdown().await;
            return Err(e);
        }
        Ok(store)
    }

    /// Puts the file in WAL mode, retrying while another connection holds a lock (the switch
    /// cannot wait on the busy timeout). A no-op once the file is in WAL mode.
    async fn enable_wal(&self) -> Result<()> {
        let deadline = tokio::time::Instant::now() + BUSY_TIMEOUT;
        loop {
            let res: std::result::Result<String, sqlx::Error> =
                sqlx::query_scalar("PRAGMA journal_mode = WAL")
                    .fetch_one(&self.pool)
                    .await;
            match res {
                Ok(mode) if mode.eq_ignore_ascii_case("wal") => return Ok(()),
                Ok(mode) => {
                    return Err(Error::Store(format!(
                        "store {} cannot use a WAL journal (SQLite kept {mode:?}); \
                         network filesystems do not support it",
                        self.path.display()
                    )))
                }
                Err(e) if is_busy(&e) && tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(e) => return Err(self.err("enable WAL journal")(e)),
            }
        }
    }

    async fn migrate(&self, migrator: &Migrator) -> Result<()> {
        let mut attempt = 1;
        loop {
            match migrator.run(&self.pool).await {
                Ok(()) => return Ok(()),
                Err(e) if attempt < MIGRATION_ATTEMPTS => {
                    tracing::debug!(path = %self.path.display(), attempt, "migration retry: {e}");
                    tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
                    attempt += 1;
                }
                Err(e) => {
                    return Err(Error::Store(format!(
                        "migrating store {}: {e}",
                        self.path.display()
                    )))
                }
            }
        }
    }

    /// Maps a database error to `Error::Store` naming the operation and the file.
    fn err(&self, what: &'static str) -> impl Fn(sqlx::Error) -> Error + '_ {
        move |e| Error::Store(format!("{what} (store {}): {e}", self.path.display()))
    }

    /// Starts a write transaction holding the write lock from its first statement.
    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(self.err("begin write transaction"))
    }

    /// Bumps the generation and commits.
    async fn commit(&self, mut tx: Transaction<'static, Sqlite>) -> Result<()> {
        sqlx::query(
            "INSERT INTO store_generation (token_id, generation) VALUES (?1, 1) \
             ON CONFLICT (token_id) DO UPDATE SET generation = generation + 1",
        )
        .bind(&self.token_id)
        .execute(&mut *tx)
        .await
        .map_err(self.err("bump generation"))?;
        tx.commit().await.map_err(self.err("commit"))
    }

    /// Commits without bumping the generation (counters, IV blocks, leases).
    async fn commit_quiet(&self, tx: Transaction<'static, Sqlite>) -> Result<()> {
        tx.commit().await.map_err(self.err("commit"))
    }

    /// Like [`SqliteStore::err`], but a foreign-key violation means the token row is missing.
    fn write_err(&self, what: &'static str) -> impl Fn(sqlx::Error) -> Error + '_ {
        move |e| match e.as_database_error().map(|d| d.kind()) {
            Some(ErrorKind::ForeignKeyViolation) => self.no_token(),
            _ => self.err(what)(e),
        }
    }

    /// After a write that erased secrets: secure_delete zeroed the freed space, but the old
    /// pages can still sit in the WAL and, until a checkpoint copies the new pages over them,
    /// in the main file. Checkpointing and truncating the WAL removes both copies. Best
    /// effort: a reader holding an old snapshot in another process can make it incomplete;
    /// the next checkpoint (SQLite runs them automatically) finishes the job.
    async fn checkpoint_after_erase(&self) {
        let res: std::result::Result<(i64, i64, i64), sqlx::Error> =
            sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
                .fetch_one(&self.pool)
                .await;
        match res {
            Ok((0, _, _)) => {}
            Ok((_, log, done)) => tracing::debug!(
                path = %self.path.display(), log, done, "checkpoint after erase was partial"
            ),
            Err(e) => tracing::debug!(path = %self.path.display(), "checkpoint after erase: {e}"),
        }
    }

    /// The error for a write that needs the token row when there is none.
    fn no_token(&self) -> Error {
        tracing::debug!(path = %self.path.display(), token = %self.token_id, "no token row");
        Error::Rv(sys::CKR_TOKEN_NOT_RECOGNIZED)
    }

    /// A token-row update must hit the one row; none means the token was never initialised.
    fn require_token(&self, rows: u64) -> Result<()> {
        if rows == 0 {
            return Err(self.no_token());
        }
        Ok(())
    }

    fn parse_wrapped(&self, what: &str, bytes: &[u8]) -> Result<WrappedStorageKey> {
        WrappedStorageKey::from_bytes(bytes).map_err(|e| {
            Error::StoreIntegrity(format!("{what} in store {}: {e}", self.path.display()))
        })
    }

    fn to_u32(&self, what: &str, v: i64) -> Result<u32> {
        u32::try_from(v).map_err(|_| {
            Error::StoreIntegrity(format!(
                "{what} = {v} out of range in store {}",
                self.path.display()
            ))
        })
    }

    fn to_u64(&self, what: &str, v: i64) -> Result<u64> {
        u64::try_from(v).map_err(|_| {
            Error::StoreIntegrity(format!(
                "{what} = {v} negative in store {}",
                self.path.display()
            ))
        })
    }
}

/// A u64 for an INTEGER column; values above `i64::MAX` cannot be stored.
fn to_i64(what: &str, v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| Error::Internal(format!("{what} = {v} exceeds the store's range")))
}

/// The error for a missing object, key or key version.
fn no_object() -> Error {
    Error::Rv(sys::CKR_OBJECT_HANDLE_INVALID)
}

/// SQLITE_BUSY or SQLITE_LOCKED (any extended variant): another connection holds the lock.
fn is_busy(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .and_then(|c| c.parse::<i32>().ok())
        .is_some_and(|c| matches!(c & 0xff, 5 | 6))
}

impl SqliteStore {
    /// The generation counter (see [`Store::generation`](super::Store::generation)).
    async fn read_generation(&self) -> Result<u64> {
        let g: Option<i64> =
            sqlx::query_scalar("SELECT generation FROM store_generation WHERE token_id = ?1")
                .bind(&self.token_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(self.err("read generation"))?;
        let g = g.unwrap_or(0);
        u64::try_from(g).map_err(|_| {
            Error::StoreIntegrity(format!(
                "generation {g} negative in store {}",
                self.path.display()
            ))
        })
    }

    /// Closes the pool and waits for its worker threads (see [`Store::close`](super::Store::close)).
    async fn shutdown(&self) {
        // sqlx 0.8's Pool::close can return early: closing an idle connection hands back a
        // semaphore permit it never held, so its final "wait for every permit" can succeed
        // while a just-used connection is still on its way back to the idle queue (a spawned
        // task pings it first). Such a connection would then sit idle, its worker thread alive,
        // until the pool is dropped. Nothing can check a connection out once the pool is
        // closed, so closing again until none is left is bounded by the slowest statement
        // still running, itself bounded by the busy timeout.
        let deadline = tokio::time::Instant::now() + BUSY_TIMEOUT + Duration::from_secs(1);
        loop {
            self.pool.close().await;
            if self.pool.size() == 0 {
                self.wait_for_workers(deadline).await;
                return;
            }
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!(
                    path = %self.path.display(),
                    left = self.pool.size(),
                    "store connections still open after close"
                );
                return;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

impl SqliteStore {
    /// Waits until this store's connection threads have exited. sqlx does
    /// not join them; a host that `dlclose`s us right after `C_Finalize` would
    /// otherwise unmap code they are still running.
    async fn wait_for_workers(&self, deadline: tokio::time::Instant) {
        let prefix = format!("kr-db{}-", self.seq);
        while worker_threads_alive(&prefix) {
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!(path = %self.path.display(), "store worker threads still running after close");
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

/// True while a thread of this process has a name starting with `prefix`.
fn worker_threads_alive(prefix: &str) -> bool {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return false;
    };
    dir.flatten().any(|t| {
        std::fs::read_to_string(t.path().join("comm")).is_ok_and(|name| name.starts_with(prefix))
    })
}

#[cfg(test)]
mod tests;
