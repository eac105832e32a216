//! Bounded spinning for the hand-off between a caller and an HSM worker
//! thread (`calls = "worker"`).
//!
//! A parked thread on an idle machine takes tens of microseconds to wake
//! (its CPU has gone to sleep), twice per HSM call: 4 KiB AES-GCM through
//! SoftHSM2 went at 41 MB/s through the worker against 275 MB/s direct.
//! While calls are short, both sides poll for a few tens of microseconds
//! before they park (187 MB/s). When calls are slow (a network HSM) or
//! there is one CPU, nobody spins: it could only burn time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The longest a side polls before it parks.
const SPIN: Duration = Duration::from_micros(50);

/// Recent HSM call durations, deciding whether spinning can pay.
pub(super) struct Spinner {
    /// Exponentially weighted mean call time, nanoseconds.
    mean_ns: AtomicU64,
    /// Whether another CPU can run the other side while one spins.
    parallel: bool,
}

impl Spinner {
    /// A spinner for this machine; it starts out spinning.
    pub fn new() -> Spinner {
        Spinner {
            mean_ns: AtomicU64::new(0),
            parallel: std::thread::available_parallelism().is_ok_and(|n| n.get() > 1),
        }
    }

    /// Notes how long one HSM call took.
    pub fn record(&self, took: Duration) {
        let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        // mean += (ns - mean) / 8; racing updates only blur the mean.
        let old = self.mean_ns.load(Ordering::Relaxed);
        let new = old - old / 8 + ns / 8;
        self.mean_ns.store(new, Ordering::Relaxed);
    }

    /// How long to poll now.
    pub fn budget(&self) -> Duration {
        let short = Duration::from_nanos(self.mean_ns.load(Ordering::Relaxed)) < SPIN;
        if self.parallel && short {
            SPIN
        } else {
            Duration::ZERO
        }
    }
}

/// Polls `ready` until it holds or `budget` has passed; true if it held.
pub(super) fn until(budget: Duration, mut ready: impl FnMut() -> bool) -> bool {
    if budget.is_zero() {
        return ready();
    }
    let start = Instant::now();
    loop {
        for _ in 0..64 {
            if ready() {
                return true;
            }
            std::hint::spin_loop();
        }
        if start.elapsed() >= budget {
            return ready();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spins_only_while_calls_are_short() {
        let s = Spinner::new();
        let multi = std::thread::available_parallelism().is_ok_and(|n| n.get() > 1);
        assert_eq!(s.budget() == SPIN, multi);
        for _ in 0..64 {
            s.record(Duration::from_millis(2));
        }
        assert_eq!(s.budget(), Duration::ZERO, "slow HSM: park at once");
        for _ in 0..64 {
            s.record(Duration::from_micros(10));
        }
        assert_eq!(s.budget() == SPIN, multi, "fast again");
    }

    #[test]
    fn until_stops_at_the_budget_or_when_ready() {
        let t = Instant::now();
        assert!(!until(Duration::from_millis(5), || false));
        assert!(t.elapsed() >= Duration::from_millis(5));
        let mut n = 0;
        assert!(until(Duration::from_secs(5), || {
            n += 1;
            n == 100
        }));
        assert!(until(Duration::ZERO, || true));
        assert!(!until(Duration::ZERO, || false));
    }
}
