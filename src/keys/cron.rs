//! Cron schedules for the "rotate on a cron schedule" key policy.
//!
//! Owns parsing of standard 5-field cron expressions (`minute hour day-of-month month day-of-week`,
//! always UTC) and computing the next firing time. Dependency-free: the civil-date arithmetic is
//! Howard Hinnant's `days_from_civil` / `civil_from_days` (proleptic Gregorian), so the schedule
//! behaves identically for any year the policy engine can reach.

use std::fmt::Write as _;
use std::str::FromStr;

const MS_PER_MINUTE: i64 = 60_000;
const MINUTES_PER_DAY: i64 = 1_440;
/// Days `next_after` looks ahead: five years of 366 days, so every date that recurs at least once
/// every five years (including 29 February, outside century gaps) is found.
const SEARCH_DAYS: i64 = 5 * 366;

const MONTH_NAMES: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAY_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// A parsed cron schedule, evaluated in UTC.
///
/// Each field is a bit set (bit `n` set = value `n` allowed). Day-of-week 7 is folded into 0
/// (Sunday) at parse time, so equal schedules compare equal however they were written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CronSchedule {
    minutes: u64,
    hours: u64,
    days_of_month: u64,
    months: u64,
    days_of_week: u64,
    /// Day-of-month field began with `*` (Vixie's `DOM_STAR`): it does not restrict the day.
    dom_star: bool,
    /// Day-of-week field began with `*` (Vixie's `DOW_STAR`).
    dow_star: bool,
}

/// Static description of one of the five fields.
struct FieldSpec {
    /// 1-based position, used in error messages.
    index: usize,
    name: &'static str,
    low: u32,
    high: u32,
    /// Three-letter names accepted in place of numbers, and the value of the first name.
    names: Option<(&'static [&'static str], u32)>,
}

const FIELDS: [FieldSpec; 5] = [
    FieldSpec::new(1, "minute", 0, 59, None),
    FieldSpec::new(2, "hour", 0, 23, None),
    FieldSpec::new(3, "day-of-month", 1, 31, None),
    FieldSpec::new(4, "month", 1, 12, Some((&MONTH_NAMES, 1))),
    // 7 is accepted as a second spelling of Sunday.
    FieldSpec::new(5, "day-of-week", 0, 7, Some((&DAY_NAMES, 0))),
];

impl FieldSpec {
    const fn new(
        index: usize,
        name: &'static str,
        low: u32,
        high: u32,
        names: Option<(&'static [&'static str], u32)>,
    ) -> Self {
        FieldSpec {
            index,
            name,
            low,
            high,
            names,
        }
    }

    /// Human list of what this field accepts, appended to syntax errors.
    fn accepted_forms(&self) -> String {
        let mut s = format!("expected *, a number {}-{}", self.low, self.high);
        if let Some((names, _)) = self.names {
            if let (Some(first), Some(last)) = (names.first(), names.last()) {
                let _ = write!(s, " or a name {first}-{last}");
            }
        }
        s.push_str(", a range a-b, a step */n or a-b/n, or a comma-separated list of these");
        s
    }

    fn error(&self, text: &str, reason: &str) -> String {
        format!(
            "field {} ({}) \"{}\": {}",
            self.index, self.name, text, reason
        )
    }

    /// Parses one number or (for month/day-of-week) three-letter name.
    fn value(&self, item: &str, token: &str) -> Result<u32, String> {
        if !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit()) {
            // Overlong digit strings fail to parse; they are out of range either way.
            let v = token.parse::<u32>().unwrap_or(u32::MAX);
            if v < self.low || v > self.high {
                return Err(self.error(item, &format!("out of range {}-{}", self.low, self.high)));
            }
            return Ok(v);
        }
        if let Some((names, first)) = self.names {
            if let Some(pos) = names.iter().position(|n| n.eq_ignore_ascii_case(token)) {
                // pos < 12, so the cast is lossless.
                return Ok(first + pos as u32);
            }
        }
        Err(self.error(item, &self.accepted_forms()))
    }

    /// Parses one list item: `*`, `*/n`, `a`, `a-b`, `a-b/n`. Returns its bit set.
    fn item(&self, item: &str) -> Result<u64, String> {
        let (base, step) = match item.split_once('/') {
            Some((base, step)) => {
                if step.is_empty() || !step.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(self.error(item, "step after / must be a positive number"));
                }
                let n = step.parse::<u32>().unwrap_or(u32::MAX);
                if n == 0 {
                    return Err(self.error(item, "step after / must be at least 1"));
                }
                (base, Some(n))
            }
            None => (item, None),
        };
        let (start, end) = if base == "*" {
            // `*` over day-of-week means 0-6: including 7 would make `*/n` hit Sunday twice.
            (self.low, if self.index == 5 { 6 } else { self.high })
        } else if let Some((a, b)) = base.split_once('-') {
            let (a, b) = (self.value(item, a)?, self.value(item, b)?);
            if a > b {
                return Err(self.error(
                    item,
                    "range start is after its end (write a wrap-around as a list, e.g. 22-23,0-2)",
                ));
            }
            (a, b)
        } else {
            if step.is_some() {
                return Err(self.error(item, "a step needs * or a range before it (*/n or a-b/n)"));
            }
            let v = self.value(item, base)?;
            (v, v)
        };
        let mut bits = 0u64;
        // start..=end lies within 0..=59, so the shift cannot overflow.
        for v in (start..=end).step_by(step.unwrap_or(1) as usize) {
            bits |= 1u64 << v;
        }
        Ok(bits)
    }

    /// Parses a whole comma-separated field. Returns the bit set and whether it began with `*`.
    fn field(&self, text: &str) -> Result<(u64, bool), String> {
        let mut bits = 0u64;
        for item in text.split(',') {
            if item.is_empty() {
                return Err(self.error(text, "empty list element"));
            }
            bits |= self.item(item)?;
        }
        if self.index == 5 && bits & (1 << 7) != 0 {
            bits = (bits & !(1 << 7)) | 1;
        }
        Ok((bits, text.starts_with('*')))
    }
}

impl CronSchedule {
    /// Parses a 5-field cron expression (`minute hour day-of-month month day-of-week`) or a macro
    /// (`@hourly`, `@daily`/`@midnight`, `@weekly`, `@monthly`, `@yearly`/`@annually`).
    ///
    /// Fields accept `*`, numbers, `a,b` lists, `a-b` ranges, `*/n` and `a-b/n` steps; month takes
    /// `JAN`-`DEC` and day-of-week `SUN`-`SAT` (case-insensitive) and 0-7 (0 and 7 are Sunday).
    /// As in Vixie cron, when both day fields are restricted (neither begins with `*`), a day
    /// matches if either matches; a field beginning with `*` (including `*/n`) does not count as
    /// restricted. Errors name the field and the accepted forms, e.g.
    /// `field 2 (hour) "25": out of range 0-23`.
    pub fn parse(expr: &str) -> Result<CronSchedule, String> {
        let expr = expr.trim();
        let expanded = if let Some(name) = expr.strip_prefix('@') {
            match name.to_ascii_lowercase().as_str() {
                "hourly" => "0 * * * *",
                "daily" | "midnight" => "0 0 * * *",
                "weekly" => "0 0 * * 0",
                "monthly" => "0 0 1 * *",
                "yearly" | "annually" => "0 0 1 1 *",
                _ => {
                    return Err(format!(
                        "unknown macro \"{expr}\": expected @hourly, @daily, @midnight, @weekly, \
                         @monthly, @yearly or @annually"
                    ))
                }
            }
        } else {
            expr
        };
        let parts: Vec<&str> = expanded.split_whitespace().collect();
        let [mi, h, dom, mon, dow] = parts.as_slice() else {
            return Err(format!(
                "expected 5 fields (minute hour day-of-month month day-of-week) or a macro \
                 such as @daily, got {} field(s) in \"{expr}\"",
                parts.len()
            ));
        };
        let [f_mi, f_h, f_dom, f_mon, f_dow] = &FIELDS;
        let (days_of_month, dom_star) = f_dom.field(dom)?;
        let (days_of_week, dow_star) = f_dow.field(dow)?;
        Ok(CronSchedule {
            minutes: f_mi.field(mi)?.0,
            hours: f_h.field(h)?.0,
            days_of_month,
            months: f_mon.field(mon)?.0,
            days_of_week,
            dom_star,
            dow_star,
        })
    }

    /// Returns the first matching minute strictly after `unix_ms` (Unix milliseconds, UTC), as
    /// Unix milliseconds at second 0 of that minute. Looks at most 5 × 366 days ahead and returns
    /// `None` if nothing matches in that window (e.g. `0 0 30 2 *`) or the answer is not
    /// representable.
    pub fn next_after(&self, unix_ms: i64) -> Option<i64> {
        // First whole minute strictly after the input, valid for negative times too.
        let start_min = unix_ms.div_euclid(MS_PER_MINUTE).checked_add(1)?;
        let first_day = start_min.div_euclid(MINUTES_PER_DAY);
        let last_day = first_day.checked_add(SEARCH_DAYS)?;
        let mut day = first_day;
        let mut from_minute = start_min.rem_euclid(MINUTES_PER_DAY);
        while day <= last_day {
            let (y, m, d) = civil_from_days(day);
            if self.months & (1 << m) == 0 {
                // Skip the rest of this month in one step.
                let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                day = days_from_civil(ny, nm, 1);
                from_minute = 0;
                continue;
            }
            if self.day_matches(d, weekday(day)) {
                if let Some(minute_of_day) = self.first_time_from(from_minute) {
                    let total = day
                        .checked_mul(MINUTES_PER_DAY)?
                        .checked_add(minute_of_day)?;
                    return total.checked_mul(MS_PER_MINUTE);
                }
            }
            day += 1;
            from_minute = 0;
        }
        None
    }

    /// Day-of-month / day-of-week rule: AND if either field is `*`-led, OR if both restrict.
    fn day_matches(&self, dom: u32, dow: u32) -> bool {
        let dom_ok = self.days_of_month & (1 << dom) != 0;
        let dow_ok = self.days_of_week & (1 << dow) != 0;
        if self.dom_star || self.dow_star {
            dom_ok && dow_ok
        } else {
            dom_ok || dow_ok
        }
    }

    /// First allowed minute-of-day at or after `from` (0..1440), if any on this day.
    fn first_time_from(&self, from: i64) -> Option<i64> {
        let (h0, m0) = (from / 60, from % 60);
        let mut hour = next_bit(self.hours, h0)?;
        let minute = if hour == h0 {
            match next_bit(self.minutes, m0) {
                Some(m) => m,
                None => {
                    hour = next_bit(self.hours, h0 + 1)?;
                    next_bit(self.minutes, 0)?
                }
            }
        } else {
            next_bit(self.minutes, 0)?
        };
        Some(hour * 60 + minute)
    }
}

impl FromStr for CronSchedule {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CronSchedule::parse(s)
    }
}

/// Lowest set bit of `bits` at position >= `from`.
fn next_bit(bits: u64, from: i64) -> Option<i64> {
    if !(0..64).contains(&from) {
        return None;
    }
    let rest = bits & (u64::MAX << from);
    (rest != 0).then(|| i64::from(rest.trailing_zeros()))
}

/// Day of week (0 = Sunday) of a day counted from 1970-01-01, which was a Thursday.
fn weekday(days: i64) -> u32 {
    // rem_euclid(7) is in 0..7, so the cast is lossless.
    (days + 4).rem_euclid(7) as u32
}

/// Days since 1970-01-01 of the proleptic Gregorian date `y-m-d` (Hinnant's days_from_civil).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // [0, 399]
    let mp = i64::from((m + 9) % 12); // March = 0
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// Proleptic Gregorian `(year, month 1-12, day 1-31)` of a day counted from 1970-01-01
/// (Hinnant's civil_from_days).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
                                  // Both values are small and non-negative by the ranges above, so the casts are lossless.
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unix ms of a UTC civil time, via the (separately verified) days_from_civil.
    fn ts(y: i64, mo: u32, d: u32, h: i64, mi: i64) -> i64 {
        (days_from_civil(y, mo, d) * MINUTES_PER_DAY + h * 60 + mi) * MS_PER_MINUTE
    }

    fn bits(v: &[u32]) -> u64 {
        v.iter().fold(0, |acc, &b| acc | 1 << b)
    }

    fn cron(expr: &str) -> CronSchedule {
        CronSchedule::parse(expr).unwrap_or_else(|e| panic!("{expr}: {e}"))
    }

    fn next(expr: &str, from: i64) -> Option<i64> {
        cron(expr).next_after(from)
    }

    fn err(expr: &str) -> String {
        CronSchedule::parse(expr).expect_err(expr)
    }

    #[test]
    fn civil_known_values() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(days_from_civil(2000, 1, 1), 10_957); // 946684800 / 86400
        assert_eq!(days_from_civil(2024, 1, 1), 19_723); // 1704067200 / 86400
        assert_eq!(days_from_civil(2024, 2, 29), 19_782);
        assert_eq!(days_from_civil(1600, 3, 1), -135_080);
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(weekday(0), 4); // Thursday
        assert_eq!(weekday(19_723), 1); // 2024-01-01 was a Monday
        assert_eq!(weekday(-1), 3);
        assert_eq!(ts(2024, 1, 1, 0, 0), 1_704_067_200_000);
    }

    #[test]
    fn civil_round_trip_and_continuity() {
        let mut prev = civil_from_days(-400_000);
        for z in -399_999..400_000 {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
            let (py, pm, pd) = prev;
            let expected_next = if d == 1 {
                (m == 1 && py + 1 == y && pm == 12) || (py == y && pm + 1 == m)
            } else {
                py == y && pm == m && pd + 1 == d
            };
            assert!(expected_next, "{prev:?} -> {:?}", (y, m, d));
            prev = (y, m, d);
        }
    }

    #[test]
    fn syntax_forms() {
        let s = cron("5,10 1-3 */10 JAN-mar/2 mon,Fri");
        assert_eq!(s.minutes, bits(&[5, 10]));
        assert_eq!(s.hours, bits(&[1, 2, 3]));
        assert_eq!(s.days_of_month, bits(&[1, 11, 21, 31]));
        assert_eq!(s.months, bits(&[1, 3]));
        assert_eq!(s.days_of_week, bits(&[1, 5]));
        assert!(s.dom_star && !s.dow_star);
        let s = cron("* * * * *");
        assert_eq!(s.minutes, (1 << 60) - 1);
        assert_eq!(s.hours, (1 << 24) - 1);
        assert_eq!(s.days_of_month, ((1 << 32) - 1) & !1);
        assert_eq!(s.months, ((1 << 13) - 1) & !1);
        assert_eq!(s.days_of_week, (1 << 7) - 1);
        assert_eq!(cron("10-50/20 * * * *").minutes, bits(&[10, 30, 50]));
        assert_eq!(cron("0 */7 * * *").hours, bits(&[0, 7, 14, 21]));
        assert_eq!(cron("0 0 * * */3").days_of_week, bits(&[0, 3, 6]));
        assert_eq!(cron("0 0 1 dec,Jan *").months, bits(&[1, 12]));
        assert_eq!(cron("0 0 * * SAT-7").days_of_week, bits(&[0, 6]));
        assert_eq!(
            cron("0 0 * * 1-5,0").days_of_week,
            bits(&[0, 1, 2, 3, 4, 5])
        );
        // 0, 7 and SUN are the same schedule; surrounding whitespace and tabs are fine.
        assert_eq!(cron("0 0 * * 7"), cron("0 0 * * 0"));
        assert_eq!(cron(" 0\t0 * *  sun "), cron("0 0 * * 0"));
        assert_eq!("0 0 * * 0".parse::<CronSchedule>(), Ok(cron("0 0 * * 0")));
    }

    #[test]
    fn macros() {
        assert_eq!(cron("@hourly"), cron("0 * * * *"));
        assert_eq!(cron("@daily"), cron("0 0 * * *"));
        assert_eq!(cron("@midnight"), cron("0 0 * * *"));
        assert_eq!(cron("@weekly"), cron("0 0 * * 0"));
        assert_eq!(cron("@monthly"), cron("0 0 1 * *"));
        assert_eq!(cron("@yearly"), cron("0 0 1 1 *"));
        assert_eq!(cron("@ANNUALLY"), cron("0 0 1 1 *"));
    }

    // Tables read best one row per line, wider than rustfmt's tuple heuristics allow.
    #[rustfmt::skip]
    #[test]
    fn errors_name_the_field() {
        let cases = [
            ("0 25 * * *", "field 2 (hour) \"25\": out of range 0-23"),
            ("60 * * * *", "field 1 (minute) \"60\": out of range 0-59"),
            ("0 0 0 * *", "field 3 (day-of-month) \"0\": out of range 1-31"),
            ("0 0 32 * *", "field 3 (day-of-month) \"32\": out of range 1-31"),
            ("0 0 * 13 *", "field 4 (month) \"13\": out of range 1-12"),
            ("0 0 * * 8", "field 5 (day-of-week) \"8\": out of range 0-7"),
            ("0 0,1,99 * * *", "field 2 (hour) \"99\": out of range 0-23"),
            ("9999999999 * * * *", "field 1 (minute) \"9999999999\": out of range 0-59"),
            ("0 0 * FOO *", "field 4 (month) \"FOO\": expected *, a number 1-12 or a name JAN-DEC"),
            ("0 0 * * MONDAY", "field 5 (day-of-week) \"MONDAY\": expected *, a number 0-7 or"),
            ("0 0 MON * *", "field 3 (day-of-month) \"MON\": expected *, a number 1-31, a range"),
            ("x * * * *", "field 1 (minute) \"x\": expected *, a number 0-59, a range a-b"),
            ("-1 * * * *", "field 1 (minute) \"-1\": expected"),
            ("*/0 * * * *", "field 1 (minute) \"*/0\": step after / must be at least 1"),
            ("0 */ * * *", "field 2 (hour) \"*/\": step after / must be a positive number"),
            ("0 0 */x * *", "field 3 (day-of-month) \"*/x\": step after / must be a positive"),
            ("5/15 * * * *", "field 1 (minute) \"5/15\": a step needs * or a range before it"),
            ("0 5-1 * * *", "field 2 (hour) \"5-1\": range start is after its end"),
            ("0 0 * * SAT-SUN", "field 5 (day-of-week) \"SAT-SUN\": range start is after"),
            ("1,,2 * * * *", "field 1 (minute) \"1,,2\": empty list element"),
            ("* * * *", "expected 5 fields (minute hour day-of-month month day-of-week)"),
            ("* * * * * *", "expected 5 fields"),
            ("", "expected 5 fields"),
            ("@reboot", "unknown macro \"@reboot\": expected @hourly, @daily"),
        ];
        for (expr, prefix) in cases {
            let e = CronSchedule::parse(expr).expect_err(expr);
            assert!(e.starts_with(prefix), "{expr:?} gave {e:?}");
        }
        assert!(err("* * * * * *").contains("got 6 field(s)"));
        assert!(err("0 0 * * MONDAY").ends_with("or a comma-separated list of these"));
    }

    type Civil = (i64, u32, u32, i64, i64);

    /// Checks `(expression, from, expected next)` rows, all as UTC civil times.
    fn check(cases: &[(&str, Civil, Option<Civil>)]) {
        for &(expr, (y, mo, d, h, mi), want) in cases {
            let want = want.map(|(y, mo, d, h, mi)| ts(y, mo, d, h, mi));
            let got = next(expr, ts(y, mo, d, h, mi));
            assert_eq!(got, want, "{expr} after {y}-{mo}-{d} {h}:{mi}");
        }
    }

    #[rustfmt::skip]
    #[test]
    fn minutes_and_hours() {
        check(&[
            ("*/15 * * * *", (2024, 5, 6, 10, 7), Some((2024, 5, 6, 10, 15))),
            // Strictly after: exactly on a match moves to the following one.
            ("*/15 * * * *", (2024, 5, 6, 10, 15), Some((2024, 5, 6, 10, 30))),
            ("*/15 * * * *", (2024, 5, 6, 23, 45), Some((2024, 5, 7, 0, 0))),
            ("30 9,17 * * *", (2024, 5, 6, 9, 30), Some((2024, 5, 6, 17, 30))),
            ("30 9,17 * * *", (2024, 5, 6, 17, 31), Some((2024, 5, 7, 9, 30))),
            ("10 9 * * *", (2024, 5, 6, 9, 20), Some((2024, 5, 7, 9, 10))),
            ("10 9,10 * * *", (2024, 5, 6, 9, 20), Some((2024, 5, 6, 10, 10))),
            ("0-5/5 1-2 * * *", (2024, 5, 6, 1, 5), Some((2024, 5, 6, 2, 0))),
        ]);
        // Sub-minute inputs: the result is the next whole minute, at second 0.
        let at = ts(2024, 5, 6, 10, 7);
        let quarter = ts(2024, 5, 6, 10, 15);
        assert_eq!(next("*/15 * * * *", at + 59_999), Some(quarter));
        assert_eq!(next("*/15 * * * *", quarter - 1), Some(quarter));
        assert_eq!(next("* * * * *", quarter + 1), Some(quarter + MS_PER_MINUTE));
    }

    #[rustfmt::skip]
    #[test]
    fn days_of_week() {
        // 2024-03-10 was a Sunday.
        assert_eq!(weekday(days_from_civil(2024, 3, 10)), 0);
        check(&[
            ("0 3 * * MON", (2024, 3, 10, 12, 0), Some((2024, 3, 11, 3, 0))),
            ("0 3 * * 1", (2024, 3, 11, 3, 0), Some((2024, 3, 18, 3, 0))),
            ("0 0 * * 7", (2024, 3, 10, 0, 0), Some((2024, 3, 17, 0, 0))),
            ("0 0 * * mon-fri", (2024, 3, 8, 0, 0), Some((2024, 3, 11, 0, 0))),
            ("@weekly", (2024, 3, 9, 23, 59), Some((2024, 3, 10, 0, 0))),
        ]);
    }

    #[rustfmt::skip]
    #[test]
    fn leap_day_and_short_months() {
        check(&[
            ("0 0 29 2 *", (2025, 3, 1, 0, 0), Some((2028, 2, 29, 0, 0))),
            ("0 0 29 2 *", (2024, 2, 29, 0, 0), Some((2028, 2, 29, 0, 0))),
            ("0 0 29 feb *", (2024, 1, 1, 0, 0), Some((2024, 2, 29, 0, 0))),
            ("0 0 29 2 *", (1999, 1, 1, 0, 0), Some((2000, 2, 29, 0, 0))),
            // 2100 is not a leap year: after 2096 the next 29 Feb is 8 years away, past the window.
            ("0 0 29 2 *", (2096, 3, 1, 0, 0), None),
            ("0 0 31 * *", (2024, 1, 31, 0, 0), Some((2024, 3, 31, 0, 0))),
            ("0 0 31 * *", (2024, 3, 31, 0, 0), Some((2024, 5, 31, 0, 0))),
            ("0 0 31 * *", (2024, 7, 31, 0, 0), Some((2024, 8, 31, 0, 0))),
            ("0 0 30 2 *", (2024, 1, 1, 0, 0), None),
            ("0 0 31 4,6,9,11 *", (2024, 1, 1, 0, 0), None),
        ]);
    }

    #[rustfmt::skip]
    #[test]
    fn vixie_day_rule() {
        check(&[
            // Both restricted: the 13th OR any Friday. 2024-01-05 and 01-12 were Fridays.
            ("0 0 13 * FRI", (2024, 1, 1, 0, 0), Some((2024, 1, 5, 0, 0))),
            ("0 0 13 * FRI", (2024, 1, 5, 0, 0), Some((2024, 1, 12, 0, 0))),
            ("0 0 13 * FRI", (2024, 1, 12, 0, 0), Some((2024, 1, 13, 0, 0))),
            ("0 0 13 * FRI", (2024, 1, 13, 0, 0), Some((2024, 1, 19, 0, 0))),
            // A `*`-led day-of-month (`*/2`) is not "restricted" in Vixie cron: odd days AND Mondays.
            ("0 0 */2 * MON", (2024, 1, 1, 0, 0), Some((2024, 1, 15, 0, 0))),
            // Day-of-week `*`: only the day-of-month counts.
            ("0 0 15 * *", (2024, 1, 1, 0, 0), Some((2024, 1, 15, 0, 0))),
            // The OR rule rescues an impossible date: no 30 Feb, but Mondays in February exist.
            ("0 0 30 2 MON", (2024, 1, 1, 0, 0), Some((2024, 2, 5, 0, 0))),
        ]);
    }

    #[rustfmt::skip]
    #[test]
    fn daily_and_year_boundary() {
        check(&[
            ("@daily", (2024, 5, 6, 10, 7), Some((2024, 5, 7, 0, 0))),
            ("@daily", (2024, 5, 7, 0, 0), Some((2024, 5, 8, 0, 0))),
            ("@yearly", (2024, 12, 31, 23, 59), Some((2025, 1, 1, 0, 0))),
            ("59 23 31 12 *", (2024, 12, 31, 23, 59), Some((2025, 12, 31, 23, 59))),
            ("0 0 1 JAN,JUL *", (2024, 7, 1, 0, 0), Some((2025, 1, 1, 0, 0))),
            ("@monthly", (2024, 12, 15, 0, 0), Some((2025, 1, 1, 0, 0))),
            ("@hourly", (2024, 12, 31, 23, 0), Some((2025, 1, 1, 0, 0))),
            ("0 12 * dec *", (2024, 12, 31, 12, 0), Some((2025, 12, 1, 12, 0))),
        ]);
    }

    #[test]
    fn before_epoch_and_extremes() {
        assert_eq!(next("* * * * *", -30_000), Some(0));
        assert_eq!(next("* * * * *", -60_000), Some(0));
        assert_eq!(next("@daily", ts(1969, 12, 31, 12, 0)), Some(0));
        assert_eq!(next("* * * * *", i64::MAX), None);
        // No 1 January left before i64::MAX ms (August of year 292278994).
        assert_eq!(next("@yearly", i64::MAX - 86_400_000), None);
        assert!(next("@yearly", i64::MAX - 366 * 86_400_000).is_some());
        let r = next("* * * * *", i64::MIN).expect("representable");
        assert!(r > i64::MIN && r % MS_PER_MINUTE == 0);
    }
}
