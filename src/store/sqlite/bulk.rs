//! Bulk reads straight through SQLite's C API on a connection locked out of
//! sqlx's worker thread: what `C_Initialize` and every reload read.
//!
//! sqlx copies each column of each row (`sqlite3_value_dup`), sends every row
//! across a channel to the async side and looks columns up by name there:
//! ~8 µs a row, 130 ms of a 10,000-key start-up against ~10 ms for SQLite
//! itself. Here a statement is stepped in place and the columns are copied
//! once, by position, into the caller's records.

use std::ffi::{c_int, CStr};
use std::ptr::{self, NonNull};

use libsqlite3_sys as ffi;

use crate::error::{Error, Result};

/// One prepared statement on a locked connection, finalized on drop.
pub(super) struct Statement {
    db: NonNull<ffi::sqlite3>,
    stmt: NonNull<ffi::sqlite3_stmt>,
}

impl Statement {
    /// Prepares `sql` with `text` bound to `?1` (every bulk query is scoped
    /// to one token id).
    ///
    /// # Safety
    /// `db` must be an open connection that no other thread uses until the
    /// statement is dropped (sqlx's `LockedSqliteHandle` guarantees this
    /// while it lives; the caller keeps it alive longer than the statement).
    pub(super) unsafe fn prepare(
        db: NonNull<ffi::sqlite3>,
        sql: &CStr,
        text: &str,
    ) -> Result<Statement> {
        let mut stmt = ptr::null_mut();
        // SAFETY: `db` is open and ours (caller contract); `sql` is NUL-terminated.
        let rc = unsafe {
            ffi::sqlite3_prepare_v2(db.as_ptr(), sql.as_ptr(), -1, &mut stmt, ptr::null_mut())
        };
        let Some(stmt) = NonNull::new(stmt).filter(|_| rc == ffi::SQLITE_OK) else {
            // SAFETY: `db` is open; errmsg reads its last error.
            return Err(unsafe { error(db, "prepare", rc) });
        };
        let s = Statement { db, stmt };
        let len =
            c_int::try_from(text.len()).map_err(|_| Error::Store("bound text too long".into()))?;
        // SAFETY: SQLITE_TRANSIENT makes SQLite copy `text` before returning.
        let rc = unsafe {
            ffi::sqlite3_bind_text(
                s.stmt.as_ptr(),
                1,
                text.as_ptr().cast(),
                len,
                ffi::SQLITE_TRANSIENT(),
            )
        };
        if rc != ffi::SQLITE_OK {
            // SAFETY: `db` is open.
            return Err(unsafe { error(db, "bind", rc) });
        }
        Ok(s)
    }

    /// Binds `value` to parameter `index` (1-based), before the first step.
    pub(super) fn bind_int(&mut self, index: c_int, value: i64) -> Result<()> {
        // SAFETY: the statement is prepared on a connection only we use.
        let rc = unsafe { ffi::sqlite3_bind_int64(self.stmt.as_ptr(), index, value) };
        if rc != ffi::SQLITE_OK {
            // SAFETY: the connection is open.
            return Err(unsafe { error(self.db, "bind", rc) });
        }
        Ok(())
    }

    /// Steps to the next row: `Ok(None)` when done. SQLITE_BUSY cannot occur
    /// here: the reads run inside a transaction that already holds its
    /// snapshot (a read in WAL mode never waits for writers).
    pub(super) fn next(&mut self) -> Result<Option<Row<'_>>> {
        // SAFETY: the statement is prepared on a connection only we use.
        match unsafe { ffi::sqlite3_step(self.stmt.as_ptr()) } {
            ffi::SQLITE_ROW => Ok(Some(Row {
                stmt: self.stmt,
                _s: std::marker::PhantomData,
            })),
            ffi::SQLITE_DONE => Ok(None),
            // SAFETY: the connection is open.
            rc => Err(unsafe { error(self.db, "step", rc) }),
        }
    }
}

impl Drop for Statement {
    fn drop(&mut self) {
        // SAFETY: prepared by us and finalized exactly once.
        unsafe { ffi::sqlite3_finalize(self.stmt.as_ptr()) };
    }
}

/// The current row of a [`Statement`]; valid until the next step.
pub(super) struct Row<'s> {
    stmt: NonNull<ffi::sqlite3_stmt>,
    _s: std::marker::PhantomData<&'s mut Statement>,
}

impl Row<'_> {
    fn kind(&self, col: c_int) -> c_int {
        // SAFETY: the statement is on a row (we only exist between steps).
        unsafe { ffi::sqlite3_column_type(self.stmt.as_ptr(), col) }
    }

    /// An INTEGER column (the schema's STRICT tables hold only integers there).
    pub(super) fn int(&self, col: c_int) -> Result<i64> {
        self.opt_int(col)?
            .ok_or_else(|| integrity(col, "is NULL where a number is required"))
    }

    /// A nullable INTEGER column.
    pub(super) fn opt_int(&self, col: c_int) -> Result<Option<i64>> {
        match self.kind(col) {
            ffi::SQLITE_NULL => Ok(None),
            // SAFETY: on a row; the column holds an integer.
            ffi::SQLITE_INTEGER => Ok(Some(unsafe {
                ffi::sqlite3_column_int64(self.stmt.as_ptr(), col)
            })),
            _ => Err(integrity(col, "is not an integer")),
        }
    }

    /// A TEXT column.
    pub(super) fn text(&self, col: c_int) -> Result<String> {
        if self.kind(col) != ffi::SQLITE_TEXT {
            return Err(integrity(col, "is not text"));
        }
        String::from_utf8(self.bytes(col)).map_err(|_| integrity(col, "is not UTF-8"))
    }

    /// A BLOB column.
    pub(super) fn blob(&self, col: c_int) -> Result<Vec<u8>> {
        self.opt_blob(col)?
            .ok_or_else(|| integrity(col, "is NULL where bytes are required"))
    }

    /// A nullable BLOB column.
    pub(super) fn opt_blob(&self, col: c_int) -> Result<Option<Vec<u8>>> {
        match self.kind(col) {
            ffi::SQLITE_NULL => Ok(None),
            ffi::SQLITE_BLOB => Ok(Some(self.bytes(col))),
            _ => Err(integrity(col, "is not a blob")),
        }
    }

    fn bytes(&self, col: c_int) -> Vec<u8> {
        // SAFETY: on a row. The pointer is read before the length, as SQLite
        // documents; it stays valid until the next step, and we copy now.
        unsafe {
            let p = ffi::sqlite3_column_blob(self.stmt.as_ptr(), col);
            let n =
                usize::try_from(ffi::sqlite3_column_bytes(self.stmt.as_ptr(), col)).unwrap_or(0);
            if p.is_null() || n == 0 {
                Vec::new()
            } else {
                std::slice::from_raw_parts(p.cast::<u8>(), n).to_vec()
            }
        }
    }
}

fn integrity(col: c_int, what: &str) -> Error {
    Error::StoreIntegrity(format!("column {col} {what}"))
}

/// The connection's last error as a store error.
///
/// # Safety
/// `db` must be an open connection.
unsafe fn error(db: NonNull<ffi::sqlite3>, what: &str, rc: c_int) -> Error {
    // SAFETY: caller contract; SQLite returns a NUL-terminated string it owns.
    let msg = unsafe { CStr::from_ptr(ffi::sqlite3_errmsg(db.as_ptr())) };
    Error::Store(format!("{what}: {} (code {rc})", msg.to_string_lossy()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An in-memory database, closed on drop.
    struct Db(NonNull<ffi::sqlite3>);

    impl Db {
        fn open(setup: &CStr) -> Db {
            let mut db = ptr::null_mut();
            // SAFETY: valid NUL-terminated name and an out pointer.
            let rc = unsafe { ffi::sqlite3_open(c":memory:".as_ptr(), &mut db) };
            assert_eq!(rc, ffi::SQLITE_OK);
            let db = Db(NonNull::new(db).unwrap());
            // SAFETY: open connection, NUL-terminated SQL, no callback.
            let rc = unsafe {
                ffi::sqlite3_exec(
                    db.0.as_ptr(),
                    setup.as_ptr(),
                    None,
                    ptr::null_mut(),
                    ptr::null_mut(),
                )
            };
            assert_eq!(rc, ffi::SQLITE_OK);
            db
        }
    }

    impl Drop for Db {
        fn drop(&mut self) {
            // SAFETY: opened by us, every statement finalized first.
            unsafe { ffi::sqlite3_close(self.0.as_ptr()) };
        }
    }

    #[test]
    fn reads_each_column_kind_by_position() {
        let db = Db::open(
            c"CREATE TABLE t (tok TEXT, n INTEGER, s TEXT, b BLOB, o INTEGER, ob BLOB);
              INSERT INTO t VALUES ('a', 7, 'seven', x'0102', NULL, NULL);
              INSERT INTO t VALUES ('a', -1, '', x'', 5, x'ff');
              INSERT INTO t VALUES ('other', 0, 'no', x'', 0, NULL);",
        );
        // SAFETY: the connection is ours and outlives the statement.
        let mut q = unsafe {
            Statement::prepare(
                db.0,
                c"SELECT n, s, b, o, ob FROM t WHERE tok = ?1 ORDER BY n",
                "a",
            )
        }
        .unwrap();
        let mut got = Vec::new();
        while let Some(r) = q.next().unwrap() {
            got.push((
                r.int(0).unwrap(),
                r.text(1).unwrap(),
                r.blob(2).unwrap(),
                r.opt_int(3).unwrap(),
                r.opt_blob(4).unwrap(),
            ));
        }
        assert_eq!(
            got,
            [
                (-1, String::new(), vec![], Some(5), Some(vec![0xff])),
                (7, "seven".to_string(), vec![1, 2], None, None),
            ]
        );
    }

    #[test]
    fn wrong_kinds_are_integrity_errors_not_panics() {
        let db = Db::open(
            c"CREATE TABLE t (a, b, c, d);
              INSERT INTO t VALUES (NULL, 'text', x'00', CAST(x'ff' AS TEXT));",
        );
        // SAFETY: as above.
        let mut q =
            unsafe { Statement::prepare(db.0, c"SELECT a, b, c, d FROM t WHERE ?1 = ?1", "") }
                .unwrap();
        let r = q.next().unwrap().unwrap();
        let bad = |e: Result<_>| matches!(e, Err(Error::StoreIntegrity(_)));
        assert!(bad(r.int(0).map(drop)), "NULL where a number is required");
        assert!(bad(r.blob(0).map(drop)), "NULL where bytes are required");
        assert!(bad(r.opt_int(1).map(drop)), "text is not an integer");
        assert!(bad(r.text(2).map(drop)), "a blob is not text");
        assert!(bad(r.opt_blob(1).map(drop)), "text is not a blob");
        assert!(bad(r.text(3).map(drop)), "text that is not UTF-8");
        assert!(q.next().unwrap().is_none());
    }

    #[test]
    fn a_bad_statement_is_a_store_error_with_sqlites_message() {
        let db = Db::open(c"CREATE TABLE t (a);");
        // SAFETY: as above.
        let e = unsafe { Statement::prepare(db.0, c"SELECT nope FROM t", "") }
            .err()
            .unwrap();
        assert!(
            matches!(&e, Error::Store(m) if m.contains("no such column")),
            "{e}"
        );
    }
}
