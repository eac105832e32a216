//! Handle allocation: nonzero, monotonically increasing, never reused while
//! the process lives, so a stale handle can never name a new object.

use std::sync::atomic::{AtomicU64, Ordering};

use cryptoki_sys::CK_ULONG;

static NEXT_SESSION: AtomicU64 = AtomicU64::new(1);
static NEXT_OBJECT: AtomicU64 = AtomicU64::new(1);

/// A fresh session handle.
pub fn next_session() -> CK_ULONG {
    NEXT_SESSION.fetch_add(1, Ordering::Relaxed) as CK_ULONG
}

/// A fresh object handle.
pub fn next_object() -> CK_ULONG {
    NEXT_OBJECT.fetch_add(1, Ordering::Relaxed) as CK_ULONG
}
