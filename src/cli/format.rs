//! Text formatting for the CLI's human output: aligned tables, UTC dates,
//! relative spans ("in 3d 4h", "OVERDUE 2m"), policy durations and hex.
//! No date crate is a dependency, so the calendar arithmetic lives here.

use std::fmt::Write as _;

/// A table whose columns are aligned on the widest cell. Cells can be
/// marked for highlighting (overdue rotations); the mark is applied after
/// padding so escape codes never disturb the alignment.
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<(String, bool)>>,
}

impl Table {
    /// A table with these column headers.
    pub fn new(headers: &[&str]) -> Table {
        Table {
            headers: headers.iter().map(|h| (*h).to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row of plain cells.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows
            .push(cells.into_iter().map(|c| (c, false)).collect());
    }

    /// Adds a row whose cell at `marked` (if any) is highlighted.
    pub fn row_marked(&mut self, cells: Vec<String>, marked: Option<usize>) {
        self.rows.push(
            cells
                .into_iter()
                .enumerate()
                .map(|(i, c)| (c, Some(i) == marked))
                .collect(),
        );
    }

    /// The table as text, one line per row, with a header line. `color`
    /// turns highlighted cells bold red (only for terminals).
    pub fn render(&self, color: bool) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, (cell, _)) in row.iter().enumerate() {
                let w = cell.chars().count();
                match widths.get_mut(i) {
                    Some(slot) => *slot = (*slot).max(w),
                    None => widths.push(w),
                }
            }
        }
        let mut out = String::new();
        let header: Vec<(String, bool)> = self.headers.iter().map(|h| (h.clone(), false)).collect();
        for row in std::iter::once(&header).chain(self.rows.iter()) {
            let mut line = String::new();
            let last = row.len().saturating_sub(1);
            for (i, (cell, marked)) in row.iter().enumerate() {
                let width = widths.get(i).copied().unwrap_or(0);
                let pad = if i == last {
                    String::new()
                } else {
                    " ".repeat(width.saturating_sub(cell.chars().count()) + 2)
                };
                if *marked && color {
                    let _ = write!(line, "\x1b[1;31m{cell}\x1b[0m{pad}");
                } else {
                    let _ = write!(line, "{cell}{pad}");
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian
/// (H. Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    // d is 1..=31 and m is 1..=12 by construction, so the casts are lossless.
    (y, m as u32, d as u32)
}

/// Unix milliseconds as `YYYY-MM-DD HH:MM:SSZ` (UTC).
pub fn time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02}Z",
        s / 3600,
        (s / 60) % 60,
        s % 60
    )
}

/// An optional time, `-` when absent.
pub fn opt_time(ms: Option<i64>) -> String {
    ms.map_or_else(|| "-".to_string(), time)
}

/// A span of milliseconds in its two largest units: `3d 4h`, `2m 5s`,
/// `0s`. Negative spans are shown by magnitude (the caller words them).
pub fn span(ms: i64) -> String {
    let mut s = ms.unsigned_abs() / 1000;
    let units = [(86_400u64, "d"), (3_600, "h"), (60, "m"), (1, "s")];
    let mut parts = Vec::new();
    for (size, name) in units {
        if s >= size || (parts.is_empty() && size == 1) {
            parts.push(format!("{}{name}", s / size));
            s %= size;
        } else if !parts.is_empty() {
            // A zero in the middle still counts as the second unit: "3d 0h".
            parts.push(format!("0{name}"));
        }
        if parts.len() == 2 {
            break;
        }
    }
    parts.join(" ")
}

/// When `target` is relative to `now`: `in 3d 4h`, or `OVERDUE 2m` once
/// it has passed.
pub fn relative(target: i64, now: i64) -> String {
    if target > now {
        format!("in {}", span(target - now))
    } else {
        format!("OVERDUE {}", span(now - target))
    }
}

/// A policy duration in seconds, in the largest unit that divides it
/// exactly, so it reads back through `parse_duration`: `90d`, `36h`, `1s`.
pub fn secs(s: u64) -> String {
    for (size, name) in [(86_400u64, "d"), (3_600, "h"), (60, "m")] {
        if s >= size && s.is_multiple_of(size) {
            return format!("{}{name}", s / size);
        }
    }
    format!("{s}s")
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses hex (an optional `0x` prefix, even length, any case).
pub fn parse_hex(s: &str) -> Result<Vec<u8>, String> {
    let t = s.strip_prefix("0x").unwrap_or(s);
    if t.is_empty() || !t.len().is_multiple_of(2) || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "\"{s}\" is not hex; expected an even number of hex digits, e.g. 0a1b"
        ));
    }
    (0..t.len())
        .step_by(2)
        .map(|i| {
            t.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or_else(|| format!("\"{s}\" is not hex"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_calendar_dates() {
        assert_eq!(time(0), "1970-01-01 00:00:00Z");
        // 2000-02-29 12:34:56 UTC, a leap day in a century leap year.
        assert_eq!(time(951_827_696_000), "2000-02-29 12:34:56Z");
        assert_eq!(time(1_735_689_599_999), "2024-12-31 23:59:59Z");
        assert_eq!(time(-1_000), "1969-12-31 23:59:59Z");
        assert_eq!(opt_time(None), "-");
    }

    #[test]
    fn spans_show_two_units() {
        assert_eq!(span(0), "0s");
        assert_eq!(span(59_999), "59s");
        assert_eq!(span(125_000), "2m 5s");
        assert_eq!(span((3 * 86_400 + 4 * 3_600 + 5 * 60) * 1000), "3d 4h");
        assert_eq!(span(3 * 86_400 * 1000), "3d 0h");
        assert_eq!(relative(10_000 + 3_600_000, 10_000), "in 1h 0m");
        assert_eq!(relative(0, 120_000), "OVERDUE 2m 0s");
    }

    #[test]
    fn policy_durations_round_trip_through_parse_duration() {
        for s in [90 * 86_400u64, 36 * 3_600, 90 * 60, 1, 86_401] {
            let text = secs(s);
            let back = crate::config::parse_duration(&text).map(|d| d.as_secs());
            assert_eq!(back, Ok(s), "{text}");
        }
        assert_eq!(secs(90 * 86_400), "90d");
        assert_eq!(secs(0), "0s");
    }

    #[test]
    fn hex_round_trips_and_rejects_junk() {
        assert_eq!(parse_hex("0A1b"), Ok(vec![0x0a, 0x1b]));
        assert_eq!(parse_hex("0x00ff"), Ok(vec![0x00, 0xff]));
        assert!(parse_hex("abc").is_err());
        assert!(parse_hex("zz").is_err());
        assert!(parse_hex("").is_err());
        assert_eq!(hex(&[0xde, 0xad]), "dead");
    }

    #[test]
    fn tables_align_and_highlight_without_breaking_alignment() {
        let mut t = Table::new(&["KEY", "NEXT"]);
        t.row(vec!["a".into(), "in 1d".into()]);
        t.row_marked(vec!["longer".into(), "OVERDUE 1m".into()], Some(1));
        assert_eq!(
            t.render(false),
            "KEY     NEXT\na       in 1d\nlonger  OVERDUE 1m\n"
        );
        let colored = t.render(true);
        assert!(colored.contains("longer  \x1b[1;31mOVERDUE 1m\x1b[0m"));
    }
}
