//! The final report: joins every module's rows and the ceiling into one line per scenario, and
//! prints it as Markdown tables (modules side by side, ratios of the first module to the others
//! and to the ceiling) and as JSON (every repeat), with the machine and the exact command line.

use crate::cli::GROUPS;
use crate::rows::{Outcome, Row};
use crate::scen_gcm::size_name;
use serde::Serialize;

/// The machine the numbers come from.
#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    /// Logical CPUs available to this process.
    pub nproc: usize,
    /// "model name" from /proc/cpuinfo.
    pub cpu: String,
    /// Kernel release.
    pub kernel: String,
    /// Median cost of one Instant::now() pair, included in every latency sample.
    pub timer_overhead_ns: f64,
    /// Seconds since the epoch when the run started.
    pub unix_time: u64,
    /// The temp dir holding the token stores and its file system (fsync cost differs a lot).
    pub tmp: String,
}

/// "/tmp on / (ext4)": the mount from /proc/mounts with the longest prefix of the temp dir.
fn tmp_fs() -> String {
    let tmp = std::env::temp_dir();
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let best = mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_, mnt, fs) = (f.next()?, f.next()?, f.next()?);
            tmp.starts_with(mnt)
                .then(|| (mnt.to_string(), fs.to_string()))
        })
        .max_by_key(|(m, _)| m.len());
    match best {
        Some((m, fs)) => format!("{} on {m} ({fs})", tmp.display()),
        None => tmp.display().to_string(),
    }
}

/// Reads the machine description.
pub fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    Machine {
        nproc: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        cpu,
        kernel,
        timer_overhead_ns: crate::stats::timer_overhead_ns(),
        unix_time: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        tmp: tmp_fs(),
    }
}

/// One measured module (a table column).
#[derive(Clone, Debug, Serialize)]
pub struct Column {
    /// Heading.
    pub name: String,
    /// Shared object path.
    pub path: String,
    /// C_GetInfo text.
    pub info: String,
}

/// One table line: a scenario with every module's cell.
#[derive(Clone, Debug, Serialize)]
pub struct Line {
    /// Group.
    pub group: String,
    /// Scenario.
    pub scenario: String,
    /// Plaintext size.
    pub size: Option<u64>,
    /// Threads.
    pub threads: u32,
    /// Cells in column order (None: the module did not produce this scenario).
    pub cells: Vec<Option<Outcome>>,
    /// The matching ceiling measurement, if any.
    pub ceiling: Option<Outcome>,
}

/// Everything printed.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The command line as typed (cargo bench form) and as executed.
    pub command: String,
    /// argv of this process.
    pub argv: Vec<String>,
    /// The machine.
    pub machine: Machine,
    /// "1 s × 5 repeats, 0.3 s warm-up".
    pub timing: String,
    /// Module columns.
    pub columns: Vec<Column>,
    /// Table lines.
    pub lines: Vec<Line>,
    /// Remarks.
    pub notes: Vec<String>,
}

/// Joins per-module rows and ceiling rows into lines ordered by group, then first appearance.
pub fn join(per_module: &[Vec<Row>], ceiling: &[Row]) -> Vec<Line> {
    let mut lines: Vec<Line> = Vec::new();
    let ncols = per_module.len();
    let all = per_module
        .iter()
        .enumerate()
        .flat_map(|(c, rows)| rows.iter().map(move |r| (Some(c), r)));
    for (col, row) in all.chain(ceiling.iter().map(|r| (None, r))) {
        let idx = match lines
            .iter()
            .position(|l| (l.group.clone(), l.scenario.clone(), l.size, l.threads) == row.key())
        {
            Some(i) => i,
            None => {
                lines.push(Line {
                    group: row.group.clone(),
                    scenario: row.scenario.clone(),
                    size: row.size,
                    threads: row.threads,
                    cells: vec![None; ncols],
                    ceiling: None,
                });
                lines.len() - 1
            }
        };
        let Some(line) = lines.get_mut(idx) else {
            continue;
        };
        match col {
            Some(c) => {
                if let Some(cell) = line.cells.get_mut(c) {
                    *cell = Some(row.outcome.clone());
                }
            }
            None => line.ceiling = Some(row.outcome.clone()),
        }
        // The first module's rows carry a ceiling measured beside them: that one is the
        // comparison. Otherwise a module row gets the matching standalone ceiling cell.
        if let (Some(0), Some(p)) = (col, &row.paired) {
            line.ceiling = Some(p.clone());
        } else if let (Some(_), Some(op), None) = (col, &row.ceiling, &line.ceiling) {
            if let Some(c) = ceiling.iter().find(|c| {
                c.ceiling.as_ref() == Some(op) && c.size == row.size && c.threads == row.threads
            }) {
                line.ceiling = Some(c.outcome.clone());
            }
        }
    }
    let order = |g: &str| GROUPS.iter().position(|x| *x == g).unwrap_or(GROUPS.len());
    lines.sort_by_key(|l| order(&l.group));
    lines
}

/// Human ops/s.
fn fmt_rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2} M/s", r / 1e6)
    } else if r >= 1e3 {
        format!("{:.1} k/s", r / 1e3)
    } else if r >= 10.0 {
        format!("{r:.0}/s")
    } else {
        format!("{r:.2}/s")
    }
}

/// Human duration from nanoseconds.
pub fn fmt_ns(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.2} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.1} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

/// The throughput/value text of a cell.
fn fmt_main(o: &Outcome) -> String {
    match o {
        Outcome::Measured { m, bytes } => match bytes {
            Some(b) => format!(
                "{} · {:.0} MB/s",
                fmt_rate(m.ops_per_s),
                m.ops_per_s * *b as f64 / 1e6
            ),
            None => fmt_rate(m.ops_per_s),
        },
        Outcome::Value { value, unit, .. } => match unit.as_str() {
            "s" => fmt_ns(value * 1e9),
            "KiB" if *value >= 1024.0 => format!("{:.1} MiB", value / 1024.0),
            "keys/s" => format!("{value:.0} keys/s"),
            "objects" => format!("{value:.0}"),
            "B/key" => format!("{value:.0} B/key"),
            "×" => format!("{value:.2}×"),
            u => format!("{value:.0} {u}"),
        },
        Outcome::Error { error } => format!("**{error}**"),
        Outcome::Skipped { reason } => format!("skipped: {reason}"),
    }
}

/// The latency text of a cell.
fn fmt_lat(o: &Outcome) -> String {
    match o {
        Outcome::Measured { m, .. } => format!(
            "{} / {} · cpu {:.0}%",
            fmt_ns(m.p50_ns),
            fmt_ns(m.p99_ns),
            m.cpu_share * 100.0
        ),
        _ => "—".into(),
    }
}

/// a/b of the comparable numbers, as "1.23×".
fn fmt_ratio(a: Option<&Outcome>, b: Option<&Outcome>) -> String {
    match (a.and_then(Outcome::number), b.and_then(Outcome::number)) {
        (Some((x, ux)), Some((y, uy))) if ux == uy && y != 0.0 => format!("{:.2}×", x / y),
        _ => "—".into(),
    }
}

/// Renders the whole report as Markdown.
pub fn markdown(r: &Report) -> String {
    let mut s = String::new();
    s.push_str("## PKCS#11 benchmark\n\n");
    s.push_str(&format!("- command: `{}`\n", r.command));
    let m = &r.machine;
    s.push_str(&format!(
        "- machine: {} CPUs, {}, kernel {}; token stores in {}\n",
        m.nproc, m.cpu, m.kernel, m.tmp
    ));
    s.push_str(&format!(
        "- timing: {}; timer overhead {:.0} ns per latency sample\n",
        r.timing, m.timer_overhead_ns
    ));
    for c in &r.columns {
        s.push_str(&format!("- {}: `{}` ({})\n", c.name, c.path, c.info));
    }
    s.push_str("- cells: median ops/s over repeats · MB/s (10^6 B of plaintext); latency p50 / p99 of sampled ops. ");
    s.push_str("Ratios divide the first module's number by the other's (ops/s: >1 is faster; times and sizes: >1 is more).\n");
    let names: Vec<&str> = r.columns.iter().map(|c| c.name.as_str()).collect();
    let mut groups: Vec<&str> = Vec::new();
    for l in &r.lines {
        if !groups.contains(&l.group.as_str()) {
            groups.push(&l.group);
        }
    }
    for g in groups {
        let lines: Vec<&Line> = r.lines.iter().filter(|l| l.group == g).collect();
        s.push_str(&format!("\n### {g}\n\n"));
        s.push_str(&group_table(&lines, &names));
    }
    if !r.notes.is_empty() {
        s.push_str("\nNotes:\n");
        for n in &r.notes {
            s.push_str(&format!("- {n}\n"));
        }
    }
    s
}

/// One group's Markdown table. Module columns are left out when no module has a cell in the
/// group (the ceiling group), latency columns when nothing in it is a measurement.
fn group_table(lines: &[&Line], all_names: &[&str]) -> String {
    let any_module = lines.iter().any(|l| l.cells.iter().any(Option::is_some));
    let names: &[&str] = if any_module { all_names } else { &[] };
    let first = names.first().copied().unwrap_or("module");
    let measured = lines.iter().any(|l| {
        l.cells
            .iter()
            .chain([&l.ceiling])
            .flatten()
            .any(|o| matches!(o, Outcome::Measured { .. }))
    });
    let sized = lines.iter().any(|l| l.size.is_some());
    let ceil = lines.iter().any(|l| l.ceiling.is_some());
    let mut head = vec!["scenario".to_string()];
    if sized {
        head.extend(["size".into(), "thr".into()]);
    }
    for n in names {
        head.push(n.to_string());
        if measured {
            head.push(format!("{n} p50 / p99 · cpu"));
        }
    }
    if ceil {
        head.push(crate::ceiling::NAME.into());
        head.push("ceiling p50 / p99 · cpu".into());
    }
    for n in names.iter().skip(1) {
        head.push(format!("{first}/{n}"));
    }
    if ceil && !names.is_empty() {
        head.push(format!("{first}/ceiling"));
    }
    let mut s = format!("| {} |\n|{}\n", head.join(" | "), "---|".repeat(head.len()));
    let dash = || "—".to_string();
    for l in lines {
        let mut cells = vec![l.scenario.clone()];
        if sized {
            cells.push(l.size.map(size_name).unwrap_or_default());
            cells.push(l.threads.to_string());
        }
        if any_module {
            for c in &l.cells {
                cells.push(c.as_ref().map(fmt_main).unwrap_or_else(dash));
                if measured {
                    cells.push(c.as_ref().map(fmt_lat).unwrap_or_else(dash));
                }
            }
        }
        if ceil {
            cells.push(l.ceiling.as_ref().map(fmt_main).unwrap_or_else(dash));
            cells.push(l.ceiling.as_ref().map(fmt_lat).unwrap_or_else(dash));
        }
        let a = l.cells.first().and_then(Option::as_ref);
        if any_module {
            for c in l.cells.iter().skip(1) {
                cells.push(fmt_ratio(a, c.as_ref()));
            }
        }
        if ceil && !names.is_empty() {
            cells.push(fmt_ratio(a, l.ceiling.as_ref()));
        }
        s.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Measurement;

    fn meas(ops: f64) -> Outcome {
        Outcome::Measured {
            m: Measurement {
                ops_per_s: ops,
                repeat_ops_per_s: vec![ops],
                total_ops: 1,
                p50_ns: 1500.0,
                p99_ns: 2_000_000.0,
                latency_samples: 1,
                sample_stride: 1,
                cpu_share: 0.97,
                load1: 1.0,
            },
            bytes: Some(4096),
        }
    }

    #[test]
    fn formats_and_ratios() {
        assert_eq!(fmt_rate(6_910_000.0), "6.91 M/s");
        assert_eq!(fmt_rate(72_100.0), "72.1 k/s");
        assert_eq!(fmt_ns(145.0), "145 ns");
        assert_eq!(fmt_ns(13_200.0), "13.2 µs");
        assert_eq!(fmt_main(&meas(1000.0)), "1.0 k/s · 4 MB/s");
        assert_eq!(fmt_lat(&meas(1.0)), "1.5 µs / 2.0 ms · cpu 97%");
        assert_eq!(fmt_ratio(Some(&meas(300.0)), Some(&meas(100.0))), "3.00×");
        let v = Outcome::Value {
            value: 2.0,
            unit: "s".into(),
            samples: vec![2.0],
        };
        assert_eq!(fmt_ratio(Some(&meas(3.0)), Some(&v)), "—");
    }

    #[test]
    fn join_puts_ceiling_beside_module_rows() {
        let module = vec![Row::measured(
            "gcm",
            "enc",
            Some(64),
            1,
            Ok(match meas(10.0) {
                Outcome::Measured { m, .. } => m,
                _ => unreachable!(),
            }),
        )
        .with_ceiling("enc")];
        let ceil =
            vec![Row::measured("ceiling", "aws", Some(64), 1, Err("x".into())).with_ceiling("enc")];
        let lines = join(&[module], &ceil);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].group, "gcm");
        assert!(matches!(lines[0].ceiling, Some(Outcome::Error { .. })));
        assert_eq!(lines[1].group, "ceiling");
    }
}
