//! The clock the key manager and lifecycle read, injectable so tests can
//! move time.
//!
//! Production reads the system clock. A test may shift it with
//! [`set_offset_ms`] in process, or across processes by pointing
//! `KEYROTOR_TEST_CLOCK_FILE` at a file holding an offset in milliseconds
//! (re-read at most every 50 ms).

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use once_cell::sync::Lazy;
use parking_lot::Mutex;

/// Environment variable naming the offset file for multi-process tests.
pub const ENV_CLOCK_FILE: &str = "KEYROTOR_TEST_CLOCK_FILE";

static OFFSET_MS: AtomicI64 = AtomicI64::new(0);
static FILE_OFFSET: Lazy<Mutex<(Option<Instant>, i64)>> = Lazy::new(|| Mutex::new((None, 0)));

/// Shifts the clock of this process by `ms` (tests only).
pub fn set_offset_ms(ms: i64) {
    OFFSET_MS.store(ms, Ordering::Relaxed);
}

fn file_offset() -> i64 {
    let Ok(path) = std::env::var(ENV_CLOCK_FILE) else {
        return 0;
    };
    let mut g = FILE_OFFSET.lock();
    let fresh = g.0.is_some_and(|t| t.elapsed() < Duration::from_millis(50));
    if !fresh {
        let v = std::fs::read_to_string(&path)
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .unwrap_or(0);
        *g = (Some(Instant::now()), v);
    }
    g.1
}

/// Now, in Unix milliseconds, as the key manager sees it.
pub fn now_ms() -> i64 {
    let sys = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    sys + OFFSET_MS.load(Ordering::Relaxed) + file_offset()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_moves_time() {
        let before = now_ms();
        set_offset_ms(3_600_000);
        let after = now_ms();
        set_offset_ms(0);
        assert!(after - before >= 3_600_000);
    }
}
