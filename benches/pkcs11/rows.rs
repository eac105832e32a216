//! The result model shared by workers and the parent: one `Row` per scenario cell, serialised as
//! JSON from a worker process to the parent.

use crate::stats::Measurement;
use serde::{Deserialize, Serialize};

/// What happened in one cell.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    /// A throughput/latency measurement.
    Measured {
        /// The numbers.
        m: Measurement,
        /// Plaintext bytes per op (for MB/s), if the op has a size.
        bytes: Option<u64>,
    },
    /// A single value (a time in seconds, a size in KiB, ...), median over `samples` processes.
    Value {
        /// The reported value.
        value: f64,
        /// "s", "KiB", "B/key", "keys/s", "objects".
        unit: String,
        /// Every observation (one per worker process).
        samples: Vec<f64>,
    },
    /// The module returned an error; the text names the function and CK_RV.
    Error {
        /// "C_Encrypt: CKR_..." or a harness message.
        error: String,
    },
    /// Deliberately not run.
    Skipped {
        /// Why.
        reason: String,
    },
}

impl Outcome {
    /// A measurement cell, or an error cell.
    pub fn from_measured(r: Result<Measurement, String>, bytes: Option<u64>) -> Outcome {
        match r {
            Ok(m) => Outcome::Measured { m, bytes },
            Err(error) => Outcome::Error { error },
        }
    }

    /// The value ratios are taken of: ops/s for measurements, the value for values.
    pub fn number(&self) -> Option<(f64, &str)> {
        match self {
            Outcome::Measured { m, .. } => Some((m.ops_per_s, "ops/s")),
            Outcome::Value { value, unit, .. } => Some((*value, unit.as_str())),
            _ => None,
        }
    }
}

/// One scenario result for one module.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Row {
    /// --only group: gcm, msg, keygen, find, login, init, ceiling, setup, hooks.
    pub group: String,
    /// Human-readable scenario name.
    pub scenario: String,
    /// Plaintext size in bytes, if any.
    pub size: Option<u64>,
    /// Threads used.
    pub threads: u32,
    /// The ceiling row this one is compared against ("enc"/"dec"), if any.
    pub ceiling: Option<String>,
    /// The result.
    pub outcome: Outcome,
    /// The ceiling measured in alternating repeats with this row (same time, same load), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paired: Option<Outcome>,
}

impl Row {
    /// A row without size/threads/ceiling details.
    pub fn new(group: &str, scenario: impl Into<String>, outcome: Outcome) -> Row {
        Row {
            group: group.into(),
            scenario: scenario.into(),
            size: None,
            threads: 1,
            ceiling: None,
            outcome,
            paired: None,
        }
    }

    /// A measurement row from a measurement result (an error becomes an error cell).
    pub fn measured(
        group: &str,
        scenario: impl Into<String>,
        size: Option<u64>,
        threads: u32,
        r: Result<Measurement, String>,
    ) -> Row {
        let outcome = Outcome::from_measured(r, size);
        Row {
            size,
            threads,
            ..Row::new(group, scenario, outcome)
        }
    }

    /// A single-value row.
    pub fn value(group: &str, scenario: impl Into<String>, value: f64, unit: &str) -> Row {
        Row::new(
            group,
            scenario,
            Outcome::Value {
                value,
                unit: unit.into(),
                samples: vec![value],
            },
        )
    }

    /// An error row.
    pub fn error(group: &str, scenario: impl Into<String>, error: impl Into<String>) -> Row {
        Row::new(
            group,
            scenario,
            Outcome::Error {
                error: error.into(),
            },
        )
    }

    /// A skipped row.
    pub fn skipped(group: &str, scenario: impl Into<String>, reason: impl Into<String>) -> Row {
        Row::new(
            group,
            scenario,
            Outcome::Skipped {
                reason: reason.into(),
            },
        )
    }

    /// Attaches a paired ceiling measurement.
    pub fn with_paired(mut self, r: Option<Result<Measurement, String>>) -> Row {
        self.paired = r.map(|r| Outcome::from_measured(r, self.size));
        self
    }

    /// Sets the ceiling join key.
    pub fn with_ceiling(mut self, op: &str) -> Row {
        self.ceiling = Some(op.into());
        self
    }

    /// Identity of the table line this cell belongs to.
    pub fn key(&self) -> (String, String, Option<u64>, u32) {
        (
            self.group.clone(),
            self.scenario.clone(),
            self.size,
            self.threads,
        )
    }
}

/// What a worker process hands back.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct WorkerOut {
    /// C_GetInfo of the module.
    pub info: String,
    /// Results in run order.
    pub rows: Vec<Row>,
    /// Free-text remarks (e.g. cleanup failures).
    pub notes: Vec<String>,
    /// Steps finished; lets the parent name the step a crashed worker died in.
    pub done_steps: Vec<String>,
}

/// Combines one scenario measured in several processes: every repeat's ops/s is kept and the
/// median is taken over all of them; p50/p99 are the means of the processes' values weighted by
/// their sample counts (the samples themselves are not kept, so those are approximate), the CPU
/// share likewise by repeats; the load average is the higher one.
pub fn merge_measured(a: &Measurement, b: &Measurement) -> Measurement {
    let mut repeats = a.repeat_ops_per_s.clone();
    repeats.extend_from_slice(&b.repeat_ops_per_s);
    let mut sorted = repeats.clone();
    let weigh = |x: f64, wx: f64, y: f64, wy: f64| {
        if wx + wy > 0.0 {
            (x * wx + y * wy) / (wx + wy)
        } else {
            (x + y) / 2.0
        }
    };
    let (sa, sb) = (a.latency_samples as f64, b.latency_samples as f64);
    let (ra, rb) = (
        a.repeat_ops_per_s.len() as f64,
        b.repeat_ops_per_s.len() as f64,
    );
    Measurement {
        ops_per_s: crate::stats::median(&mut sorted).unwrap_or(a.ops_per_s),
        repeat_ops_per_s: repeats,
        total_ops: a.total_ops + b.total_ops,
        p50_ns: weigh(a.p50_ns, sa, b.p50_ns, sb),
        p99_ns: weigh(a.p99_ns, sa, b.p99_ns, sb),
        latency_samples: a.latency_samples + b.latency_samples,
        sample_stride: a.sample_stride.max(b.sample_stride),
        cpu_share: weigh(a.cpu_share, ra, b.cpu_share, rb),
        load1: a.load1.max(b.load1),
    }
}

/// 100000 → "100,000" (scenario names).
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    // Digits left before the next separator, counted from the left.
    let mut left = digits.len();
    for ch in digits.chars() {
        out.push(ch);
        left -= 1;
        if left > 0 && left == left / 3 * 3 {
            out.push(',');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(100_000), "100,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn merged_measurements_pool_repeats() {
        let m = |rates: Vec<f64>, p99: f64, samples: usize| Measurement {
            ops_per_s: 0.0,
            repeat_ops_per_s: rates,
            total_ops: 10,
            p50_ns: p99 / 2.0,
            p99_ns: p99,
            latency_samples: samples,
            sample_stride: 1,
            cpu_share: 1.0,
            load1: 1.0,
        };
        let c = merge_measured(
            &m(vec![1.0, 2.0, 9.0], 100.0, 1),
            &m(vec![3.0, 4.0], 400.0, 3),
        );
        assert_eq!(c.repeat_ops_per_s.len(), 5);
        assert_eq!(c.ops_per_s, 3.0);
        assert_eq!(c.total_ops, 20);
        assert_eq!(c.p99_ns, 325.0);
        assert_eq!(c.latency_samples, 4);
    }
}
