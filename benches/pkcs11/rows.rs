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
        let outcome = match r {
            Ok(m) => Outcome::Measured { m, bytes: size },
            Err(error) => Outcome::Error { error },
        };
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

/// 100000 → "100,000" (scenario names).
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
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
}
