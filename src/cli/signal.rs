//! SIGINT/SIGTERM for the CLI's long-running loops (`manager run`,
//! `token rotate-storage-key --wait`): the handler only sets a flag, and the
//! loop stops at its next check and finalises the library cleanly.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_sig: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    STOP.store(true, Ordering::SeqCst);
}

/// Routes SIGINT and SIGTERM to the stop flag.
pub fn install() {
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler is async-signal-safe (one atomic store) and lives
    // for the whole program; `signal` has no other preconditions.
    unsafe {
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
}

/// True once SIGINT or SIGTERM arrived.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// Sleeps for `d`, waking early when a stop is requested.
pub fn sleep(d: Duration) {
    let end = Instant::now() + d;
    while !stop_requested() {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signal_sets_the_flag_and_cuts_the_sleep_short() {
        // The handler is called directly: installing it would take SIGTERM
        // away from the test runner. The binary's tests send real signals.
        assert!(!stop_requested());
        on_signal(libc::SIGTERM);
        assert!(stop_requested());
        let t = Instant::now();
        sleep(Duration::from_secs(5));
        assert!(t.elapsed() < Duration::from_secs(1));
    }
}
