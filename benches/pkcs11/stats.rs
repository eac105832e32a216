//! Timing engine and statistics: runs one operation for a fixed time on N threads (each thread
//! with its own state, e.g. its own PKCS#11 session), samples per-op latency into a preallocated
//! buffer, and reduces the repeats to median ops/s and merged p50/p99 latency.
//!
//! Why sampling: at 64 B the in-process ceiling is ~150 ns per op and two clock reads cost
//! ~40 ns, so only every Nth op is timed individually (N chosen from the warm-up rate so that a
//! repeat yields ~20k samples per thread); throughput is always counted over all ops.

use serde::{Deserialize, Serialize};
use std::sync::Barrier;
use std::time::{Duration, Instant};

/// Latency samples wanted per thread per repeat; enough for a stable p99.
const TARGET_SAMPLES: f64 = 20_000.0;
/// Hard cap on the preallocated latency buffer per thread (u64 each: 8 MiB).
const MAX_SAMPLES: usize = 1 << 20;
/// How often (in seconds of work) a thread looks at the clock to see if its time is up.
const CHECK_PERIOD_S: f64 = 0.000_5;

/// How long and how often to run one measurement.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// Untimed run before the repeats; also used to pick the sampling stride.
    pub warmup: Duration,
    /// Length of one repeat.
    pub duration: Duration,
    /// Number of timed repeats; the reported ops/s is their median.
    pub repeats: usize,
    /// Minimum ops per thread per repeat, even when the duration is over (slow ops: login).
    pub min_ops: u64,
}

/// The reduced result of one measurement.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Measurement {
    /// Median over repeats of the summed per-thread ops/s.
    pub ops_per_s: f64,
    /// Every repeat's ops/s, in run order.
    pub repeat_ops_per_s: Vec<f64>,
    /// Ops executed in all timed repeats, all threads.
    pub total_ops: u64,
    /// Median latency of the sampled ops (all repeats, all threads merged), nanoseconds.
    pub p50_ns: f64,
    /// 99th percentile latency of the sampled ops, nanoseconds.
    pub p99_ns: f64,
    /// Number of latency samples behind p50/p99.
    pub latency_samples: usize,
    /// Every `sample_stride`-th op was timed individually.
    pub sample_stride: u64,
    /// Median over repeats of the measuring threads' CPU time / wall time. Near 1.0 for CPU-bound
    /// work on an idle machine; lower means the threads waited (I/O, locks) or, on a shared
    /// machine, were preempted: read such a row with care.
    pub cpu_share: f64,
    /// 1-minute load average when the measurement started (/proc/loadavg).
    pub load1: f64,
}

/// Result of one thread in one repeat.
struct ThreadRun {
    ops: u64,
    elapsed: Duration,
    cpu: Duration,
    samples: Vec<u64>,
}

/// Result of one repeat (all threads).
struct RepeatRun {
    rate: f64,
    ops: u64,
    cpu_share: f64,
    samples: Vec<u64>,
}

/// Sampling and clock-check settings for one run.
#[derive(Clone, Copy)]
struct RunCfg {
    duration: Duration,
    min_ops: u64,
    stride: u64,
    check_every: u64,
    sample_cap: usize,
}

/// Measures `op` on `threads` threads. `make(i)` builds thread i's state inside that thread,
/// before the start barrier, so session opening is never timed. The first error returned by
/// `make` or `op` ends the measurement and is returned verbatim (it names the CK_RV).
pub fn measure<S, M, F>(plan: &Plan, threads: usize, make: M, op: F) -> Result<Measurement, String>
where
    M: Fn(usize) -> Result<S, String> + Sync,
    F: Fn(&mut S) -> Result<(), String> + Sync,
{
    let load1 = load_average();
    let cfg = calibrate(plan, threads, &make, &op)?;
    let mut runs = Vec::with_capacity(plan.repeats);
    for _ in 0..plan.repeats.max(1) {
        runs.push(repeat(threads, &make, &op, cfg)?);
    }
    Ok(reduce(runs, cfg.stride, load1))
}

/// Measures two operations in alternating repeats (A, B, A, B, ...), so that on a shared,
/// noisy machine both see the same conditions and their ratio stays meaningful. Used to pair
/// a module's AES-GCM with the in-process ceiling. An error on one side does not stop the other.
#[allow(clippy::type_complexity)]
pub fn measure_paired<SA, MA, FA, SB, MB, FB>(
    plan: &Plan,
    threads: usize,
    a: (MA, FA),
    b: (MB, FB),
) -> (Result<Measurement, String>, Result<Measurement, String>)
where
    MA: Fn(usize) -> Result<SA, String> + Sync,
    FA: Fn(&mut SA) -> Result<(), String> + Sync,
    MB: Fn(usize) -> Result<SB, String> + Sync,
    FB: Fn(&mut SB) -> Result<(), String> + Sync,
{
    let load1 = load_average();
    let mut ca = calibrate(plan, threads, &a.0, &a.1);
    let mut cb = calibrate(plan, threads, &b.0, &b.1);
    let (mut ra, mut rb) = (Vec::new(), Vec::new());
    for _ in 0..plan.repeats.max(1) {
        if let Ok(cfg) = ca {
            match repeat(threads, &a.0, &a.1, cfg) {
                Ok(r) => ra.push(r),
                Err(e) => ca = Err(e),
            }
        }
        if let Ok(cfg) = cb {
            match repeat(threads, &b.0, &b.1, cfg) {
                Ok(r) => rb.push(r),
                Err(e) => cb = Err(e),
            }
        }
    }
    (
        ca.map(|c| reduce(ra, c.stride, load1)),
        cb.map(|c| reduce(rb, c.stride, load1)),
    )
}

/// Untimed warm-up; its rate picks the latency sampling stride and the clock-check interval.
fn calibrate<S, M, F>(plan: &Plan, threads: usize, make: &M, op: &F) -> Result<RunCfg, String>
where
    M: Fn(usize) -> Result<S, String> + Sync,
    F: Fn(&mut S) -> Result<(), String> + Sync,
{
    let warm = run_once(
        threads,
        make,
        op,
        RunCfg {
            duration: plan.warmup,
            min_ops: 1,
            stride: u64::MAX,
            check_every: 1,
            sample_cap: 0,
        },
    )?;
    // Per-thread rate seen in warm-up; at least one op ran, elapsed is > 0 in practice.
    let rate = warm
        .iter()
        .map(|t| t.ops as f64 / t.elapsed.as_secs_f64().max(1e-9))
        .fold(0.0_f64, f64::max)
        .max(1.0);
    let expected = (rate * plan.duration.as_secs_f64()).max(plan.min_ops as f64);
    let stride = (expected / TARGET_SAMPLES).floor().max(1.0) as u64;
    Ok(RunCfg {
        duration: plan.duration,
        min_ops: plan.min_ops.max(1),
        stride,
        check_every: (rate * CHECK_PERIOD_S).floor().max(1.0) as u64,
        // Room for twice the expected count in case the op speeds up after warm-up.
        sample_cap: ((expected / stride as f64) * 2.0 + 64.0).min(MAX_SAMPLES as f64) as usize,
    })
}

/// One timed repeat, summed over threads.
fn repeat<S, M, F>(threads: usize, make: &M, op: &F, cfg: RunCfg) -> Result<RepeatRun, String>
where
    M: Fn(usize) -> Result<S, String> + Sync,
    F: Fn(&mut S) -> Result<(), String> + Sync,
{
    let runs = run_once(threads, make, op, cfg)?;
    let mut out = RepeatRun {
        rate: 0.0,
        ops: 0,
        cpu_share: 0.0,
        samples: Vec::new(),
    };
    let n = runs.len().max(1) as f64;
    for r in runs {
        let secs = r.elapsed.as_secs_f64().max(1e-9);
        out.rate += r.ops as f64 / secs;
        out.ops += r.ops;
        out.cpu_share += r.cpu.as_secs_f64() / secs / n;
        out.samples.extend_from_slice(&r.samples);
    }
    Ok(out)
}

/// Medians over repeats; latency percentiles over all samples merged.
fn reduce(runs: Vec<RepeatRun>, stride: u64, load1: f64) -> Measurement {
    let rates: Vec<f64> = runs.iter().map(|r| r.rate).collect();
    let total_ops = runs.iter().map(|r| r.ops).sum();
    let mut shares: Vec<f64> = runs.iter().map(|r| r.cpu_share).collect();
    let mut all: Vec<u64> = runs.into_iter().flat_map(|r| r.samples).collect();
    all.sort_unstable();
    let mut sorted_rates = rates.clone();
    Measurement {
        ops_per_s: median(&mut sorted_rates).unwrap_or(0.0),
        total_ops,
        repeat_ops_per_s: rates,
        p50_ns: percentile(&all, 50.0).unwrap_or(0) as f64,
        p99_ns: percentile(&all, 99.0).unwrap_or(0) as f64,
        latency_samples: all.len(),
        sample_stride: stride,
        cpu_share: median(&mut shares).unwrap_or(0.0),
        load1,
    }
}

/// CPU time this thread has used (CLOCK_THREAD_CPUTIME_ID); zero if the clock is unavailable.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid out-pointer for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(
        ts.tv_sec.max(0) as u64,
        ts.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}

/// The 1-minute load average, or 0 if /proc/loadavg is unreadable.
pub fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0)
}

/// One repeat: every thread builds its state, waits at the barrier, then runs until its
/// deadline (and at least `min_ops`).
fn run_once<S, M, F>(
    threads: usize,
    make: &M,
    op: &F,
    cfg: RunCfg,
) -> Result<Vec<ThreadRun>, String>
where
    M: Fn(usize) -> Result<S, String> + Sync,
    F: Fn(&mut S) -> Result<(), String> + Sync,
{
    let barrier = Barrier::new(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let barrier = &barrier;
                scope.spawn(move || {
                    let state = make(i);
                    // Every thread reaches the barrier even if its setup failed, so none hangs.
                    barrier.wait();
                    thread_loop(state?, op, cfg)
                })
            })
            .collect();
        let mut out = Vec::with_capacity(threads);
        let mut first_err = None;
        for h in handles {
            match h.join() {
                Ok(Ok(run)) => out.push(run),
                Ok(Err(e)) => {
                    first_err.get_or_insert(e);
                }
                Err(_) => {
                    first_err.get_or_insert_with(|| "benchmark thread panicked".to_string());
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(out),
        }
    })
}

/// The hot loop of one thread. The clock is read every `check_every` ops for the deadline,
/// and around every `stride`-th op for latency.
fn thread_loop<S, F>(mut state: S, op: &F, cfg: RunCfg) -> Result<ThreadRun, String>
where
    F: Fn(&mut S) -> Result<(), String>,
{
    let mut samples = Vec::with_capacity(cfg.sample_cap);
    let mut ops = 0u64;
    let start = Instant::now();
    let deadline = start + cfg.duration;
    // Counts down to the next sampled op (a countdown instead of `ops % stride` keeps a
    // division out of the hot loop).
    let mut until_sample = 0u64;
    let cpu0 = thread_cpu();
    loop {
        for _ in 0..cfg.check_every {
            if until_sample == 0 && samples.len() < cfg.sample_cap {
                until_sample = cfg.stride;
                let t = Instant::now();
                op(&mut state)?;
                samples.push(t.elapsed().as_nanos() as u64);
            } else {
                op(&mut state)?;
            }
            until_sample = until_sample.saturating_sub(1);
            ops += 1;
        }
        if ops >= cfg.min_ops && Instant::now() >= deadline {
            break;
        }
    }
    Ok(ThreadRun {
        ops,
        elapsed: start.elapsed(),
        cpu: thread_cpu().saturating_sub(cpu0),
        samples,
    })
}

/// Nearest-rank percentile of an ascending slice (`p` in 0..=100); `None` when empty.
pub fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    let idx = rank.clamp(1, sorted.len()) - 1;
    sorted.get(idx).copied()
}

/// Median of the values (sorts them in place); the mean of the middle two for even counts.
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let n = values.len();
    let hi = values.get(n / 2).copied()?;
    if n % 2 == 1 {
        Some(hi)
    } else {
        let lo = values.get(n / 2 - 1).copied()?;
        Some((lo + hi) / 2.0)
    }
}

/// Median cost of one `Instant::now()` pair in nanoseconds: the overhead inside every latency
/// sample, printed with the machine so small latencies can be read correctly.
pub fn timer_overhead_ns() -> f64 {
    let mut v: Vec<f64> = (0..10_001)
        .map(|_| {
            let t = Instant::now();
            t.elapsed().as_nanos() as f64
        })
        .collect();
    median(&mut v).unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn percentile_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 99.0), Some(99));
        assert_eq!(percentile(&v, 100.0), Some(100));
        assert_eq!(percentile(&v, 0.0), Some(1));
        assert_eq!(percentile(&[7], 99.0), Some(7));
        assert_eq!(percentile(&[], 50.0), None);
        // 10 values: p99 is the 10th (ceil(9.9) = 10), p50 the 5th.
        let w = [10, 20, 30, 40, 50, 60, 70, 80, 90, 1000];
        assert_eq!(percentile(&w, 99.0), Some(1000));
        assert_eq!(percentile(&w, 50.0), Some(50));
    }

    #[test]
    fn median_odd_even_unsorted() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&mut []), None);
    }

    #[test]
    fn measure_counts_ops_and_threads() {
        let plan = Plan {
            warmup: Duration::from_millis(5),
            duration: Duration::from_millis(20),
            repeats: 3,
            min_ops: 5,
        };
        let count = AtomicU64::new(0);
        let m = measure(&plan, 2, Ok, |_s: &mut usize| {
            count.fetch_add(1, Ordering::Relaxed);
            std::thread::sleep(Duration::from_micros(200));
            Ok(())
        })
        .expect("measurement runs");
        assert_eq!(m.repeat_ops_per_s.len(), 3);
        // Warm-up ops are executed but not counted in total_ops.
        assert!(count.load(Ordering::Relaxed) > m.total_ops);
        assert!(m.total_ops >= 3 * 2 * 5);
        // A 200 µs sleep can't take less than 200 µs.
        assert!(m.p50_ns >= 200_000.0);
        assert!(m.p99_ns >= m.p50_ns);
        assert!(m.latency_samples > 0);
        // Sleeping threads use almost no CPU.
        assert!(m.cpu_share < 0.5, "cpu share {}", m.cpu_share);
    }

    #[test]
    fn paired_runs_both_sides_and_isolates_errors() {
        let plan = Plan {
            warmup: Duration::from_millis(2),
            duration: Duration::from_millis(5),
            repeats: 3,
            min_ops: 2,
        };
        let (a, b) = measure_paired(
            &plan,
            1,
            (
                |_| Ok(0u64),
                |n: &mut u64| {
                    *n += 1;
                    Ok(())
                },
            ),
            (
                |_| Ok(()),
                |_: &mut ()| Err("CKR_GENERAL_ERROR".to_string()),
            ),
        );
        let a = a.expect("side A measured");
        assert_eq!(a.repeat_ops_per_s.len(), 3);
        assert!(a.total_ops >= 6);
        assert_eq!(b.err().as_deref(), Some("CKR_GENERAL_ERROR"));
    }

    #[test]
    fn measure_reports_first_error() {
        let plan = Plan {
            warmup: Duration::from_millis(1),
            duration: Duration::from_millis(1),
            repeats: 1,
            min_ops: 1,
        };
        let r = measure(
            &plan,
            2,
            |_| Ok(()),
            |_: &mut ()| Err("CKR_DEVICE_ERROR".to_string()),
        );
        assert_eq!(r.err().as_deref(), Some("CKR_DEVICE_ERROR"));
        let r = measure(
            &plan,
            2,
            |i| {
                if i == 1 {
                    Err("setup".to_string())
                } else {
                    Ok(())
                }
            },
            |_: &mut ()| Ok(()),
        );
        assert_eq!(r.err().as_deref(), Some("setup"));
    }
}
