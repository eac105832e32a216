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

/// Hashes a handle by itself: handles are unique sequential integers, so
/// SipHash's protection against chosen keys buys nothing on the hot path.
#[derive(Default, Clone, Copy)]
pub struct HandleHasher(u64);

impl std::hash::Hasher for HandleHasher {
    fn finish(&self) -> u64 {
        // Spread sequential handles over the table's buckets.
        self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// `BuildHasher` for maps keyed by handles.
pub type HandleHash = std::hash::BuildHasherDefault<HandleHasher>;
