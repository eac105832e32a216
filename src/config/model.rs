//! The raw TOML schema (what serde reads, with source spans) and the helpers
//! that turn a byte offset or a serde/toml error into a message naming the
//! file, line, column and the expected form.
//!
//! Validation into the public types lives in `super`; this file only knows
//! the shape of the document, so the list of accepted keys is in one place.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

/// Keys accepted at the top level of the document.
pub(super) const TOP_KEYS: &[&str] = &["log", "defaults", "slot"];
/// Keys accepted in `[log]`.
pub(super) const LOG_KEYS: &[&str] = &["level", "destination"];
/// Keys accepted in `[defaults]`.
pub(super) const DEFAULTS_KEYS: &[&str] = &["rotation_period", "grace_period", "retention"];
/// Keys accepted in each `[[slot]]`.
pub(super) const SLOT_KEYS: &[&str] = &[
    "id",
    "label",
    "backend",
    "store",
    "max_sessions",
    "pin_min_len",
    "pin_max_len",
    "max_login_failures",
    "pkcs11",
];
/// Keys a `[[slot]]` must have.
const SLOT_REQUIRED: &[&str] = &["label", "backend", "store"];

/// The whole document as written. Field names must match the `*_KEYS` lists.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    #[serde(default)]
    pub log: RawLog,
    #[serde(default)]
    pub defaults: RawDefaults,
    #[serde(default)]
    pub slot: Vec<Spanned<RawSlot>>,
}

/// `[log]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLog {
    pub level: Option<Spanned<String>>,
    pub destination: Option<Spanned<String>>,
}

/// `[defaults]` as written; durations stay strings until validated so the
/// error can point at them.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDefaults {
    pub rotation_period: Option<Spanned<String>>,
    pub grace_period: Option<Spanned<String>>,
    pub retention: Option<Spanned<String>>,
}

/// One `[[slot]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSlot {
    pub id: Option<Spanned<u64>>,
    pub label: Spanned<String>,
    pub backend: Spanned<String>,
    pub store: Spanned<String>,
    pub max_sessions: Option<u64>,
    pub pin_min_len: Option<Spanned<usize>>,
    pub pin_max_len: Option<Spanned<usize>>,
    pub max_login_failures: Option<u32>,
    pub pkcs11: Option<Spanned<super::pkcs11::RawPkcs11>>,
}

/// Parses a duration written as `<n><unit>` with unit `s`, `m`, `h`, `d`
/// (86 400 s) or `w` (7 d), e.g. `"90d"`, `"24h"`, `"30m"`, `"15s"`, `"2w"`.
///
/// `<n>` is a non-negative decimal integer; no sign, space, fraction or
/// combined forms (`"1h30m"`). The error text names the expected form.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    const FORM: &str =
        "expected <n> followed by s, m, h, d or w, e.g. \"90d\", \"24h\", \"30m\", \"15s\", \"2w\"";
    let bad = || format!("\"{s}\" is not a duration; {FORM}");
    let (unit, digits) = s.as_bytes().split_last().ok_or_else(bad)?;
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    let secs_per_unit: u64 = match unit {
        b's' => 1,
        b'm' => 60,
        b'h' => 3_600,
        b'd' => 86_400,
        b'w' => 604_800,
        _ => return Err(bad()),
    };
    let too_large = || format!("duration \"{s}\" is too large");
    // Every byte is an ASCII digit (checked above), so this is valid UTF-8
    // and `parse` can only fail on overflow.
    let n: u64 = std::str::from_utf8(digits)
        .map_err(|_| bad())?
        .parse()
        .map_err(|_| too_large())?;
    n.checked_mul(secs_per_unit)
        .map(Duration::from_secs)
        .ok_or_else(too_large)
}

/// 1-based (line, column) of byte `offset` in `text`; the column counts
/// characters, as editors do.
pub(super) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = floor_char_boundary(text, offset.min(text.len()));
    let before = text.get(..offset).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Largest char boundary `<= i` (i must be `<= text.len()`).
fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// `"{origin} line L, column C: msg"`, or `"{origin}: msg"` without a span.
pub(super) fn located(
    origin: &str,
    text: &str,
    span: Option<std::ops::Range<usize>>,
    msg: &str,
) -> String {
    match span {
        Some(span) => {
            let (line, column) = line_col(text, span.start);
            format!("{origin} line {line}, column {column}: {msg}")
        }
        None => format!("{origin}: {msg}"),
    }
}

/// Rewrites a toml/serde error into our message shape.
pub(super) fn describe_toml_error(origin: &str, text: &str, err: &toml::de::Error) -> String {
    let span = err.span();
    let raw = err.message().trim();
    let msg = if let Some(rest) = raw.strip_prefix("unknown field ") {
        unknown_key(rest)
    } else if let Some(rest) = raw.strip_prefix("missing field ") {
        missing_key(rest, text, span.clone())
    } else if raw.starts_with("invalid type: ") || raw.starts_with("invalid value: ") {
        wrong_value(raw, text, span.clone())
    } else {
        // A syntax error from the TOML parser: its lines already say what
        // was expected ("expected `\"`, `'`"); keep them on one line.
        let joined = raw.lines().map(str::trim).collect::<Vec<_>>().join("; ");
        format!("invalid TOML: {joined}")
    };
    located(origin, text, span, &msg)
}

/// Words between backticks, in order.
fn backticked(s: &str) -> Vec<&str> {
    s.split('`').skip(1).step_by(2).collect()
}

/// The table whose key set serde listed as "expected".
fn table_for_fields(expected: &[&str]) -> Option<(&'static str, &'static [&'static str])> {
    let tables: [(&'static str, &'static [&'static str]); 5] = [
        ("at the top level", TOP_KEYS),
        ("in [log]", LOG_KEYS),
        ("in [defaults]", DEFAULTS_KEYS),
        ("in [[slot]]", SLOT_KEYS),
        ("in [slot.pkcs11]", super::pkcs11::PKCS11_KEYS),
    ];
    tables
        .into_iter()
        .find(|(_, keys)| keys.len() == expected.len() && keys.iter().all(|k| expected.contains(k)))
}

/// serde: "unknown field `stor`, expected one of `id`, `label`, ...".
fn unknown_key(rest: &str) -> String {
    let words = backticked(rest);
    let Some((name, expected)) = words.split_first() else {
        return format!("unknown key {rest}");
    };
    match table_for_fields(expected) {
        Some((place, keys)) => format!(
            "unknown key \"{name}\" {place}; expected one of {}",
            keys.join(", ")
        ),
        None => format!(
            "unknown key \"{name}\"; expected one of {}",
            expected.join(", ")
        ),
    }
}

/// serde: "missing field `label`"; toml points the span at the table.
fn missing_key(rest: &str, text: &str, span: Option<std::ops::Range<usize>>) -> String {
    let name = backticked(rest).first().copied().unwrap_or(rest);
    let section = span.and_then(|s| section_at(text, s.start));
    let place = section.map_or_else(|| "in this table".to_string(), |s| format!("in {s}"));
    if SLOT_REQUIRED.contains(&name) {
        format!(
            "missing key \"{name}\" {place}; every [[slot]] needs {}",
            SLOT_REQUIRED.join(", ")
        )
    } else {
        format!("missing key \"{name}\" {place}")
    }
}

/// serde: "invalid type: string \"x\", expected u64" (span on the value).
fn wrong_value(raw: &str, text: &str, span: Option<std::ops::Range<usize>>) -> String {
    let friendly = raw
        .replace("expected u64", "expected a non-negative integer")
        .replace("expected u32", "expected a non-negative integer below 2^32")
        .replace("expected usize", "expected a non-negative integer")
        .replace("expected a sequence", "expected an array");
    let key = span.and_then(|s| key_path_at(text, s.start));
    match key.as_deref() {
        Some("slot") => format!("slot: {friendly}; write each slot as a [[slot]] table"),
        Some(k) => format!("{k}: {friendly}"),
        None => friendly,
    }
}

/// The last table header (`[log]`, `[[slot]]`) at or before `offset`.
pub(super) fn section_at(text: &str, offset: usize) -> Option<String> {
    let mut found = None;
    let mut line_start = 0;
    for line in text.split_inclusive('\n') {
        if line_start > offset {
            break;
        }
        let t = line.trim();
        if t.starts_with('[') {
            // Drop a trailing comment; the header ends at its last ']'.
            let t = t.split('#').next().unwrap_or(t).trim_end();
            if t.ends_with(']') {
                found = Some(t.replace(' ', ""));
            }
        }
        line_start += line.len();
    }
    found
}

/// `section.key` for the value starting at `offset`, read from the source
/// line (`key = value`). Best effort: only used to word messages.
fn key_path_at(text: &str, offset: usize) -> Option<String> {
    let offset = floor_char_boundary(text, offset.min(text.len()));
    let before = text.get(..offset)?;
    let line = before.rsplit('\n').next()?;
    let Some((lhs, _)) = line.rsplit_once('=') else {
        // The value is a whole table: `[name]` written where `[[name]]` was meant.
        let rest = text.get(offset..)?;
        let header = rest.lines().next()?.trim();
        let name = header.strip_prefix('[')?.split(']').next()?.trim();
        return (!name.is_empty()).then(|| name.to_string());
    };
    let key = lhs
        .rsplit(['{', ','])
        .next()?
        .trim()
        .trim_matches(|c| c == '"' || c == '\'');
    if key.is_empty() {
        return None;
    }
    let table = section_at(text, offset).map(|s| s.trim_matches(['[', ']']).to_string());
    Some(match table {
        Some(t) if !t.is_empty() => format!("{t}.{key}"),
        _ => key.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_every_unit() {
        assert_eq!(parse_duration("15s"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1_800)));
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("90d"), Ok(Duration::from_secs(7_776_000)));
        assert_eq!(parse_duration("2w"), Ok(Duration::from_secs(1_209_600)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn bad_durations_name_the_form() {
        for bad in [
            "", "d", "90", "90x", "-1d", "+1d", "1.5h", " 90d", "90d ", "1h30m", "90D", "९०d",
            "90é",
        ] {
            let e = parse_duration(bad).unwrap_err();
            assert!(
                e.contains("expected <n> followed by s, m, h, d or w"),
                "{bad}: {e}"
            );
        }
        let e = parse_duration("99999999999999999999w").unwrap_err();
        assert!(e.contains("too large"), "{e}");
        let e = parse_duration("30500568904943664w").unwrap_err();
        assert!(e.contains("too large"), "{e}");
    }

    #[test]
    fn line_and_column_are_one_based() {
        let t = "a = 1\nbé = 2\n";
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(t, 6), (2, 1));
        // 'é' is two bytes but one column; an offset inside it counts as its start.
        assert_eq!(line_col(t, 9), (2, 3));
        assert_eq!(line_col(t, 8), (2, 2));
        assert_eq!(line_col(t, 999), (3, 1));
    }

    #[test]
    fn sections_and_key_paths() {
        let t = "x = 1\n[log] # c\nlevel = 3\n[[ slot ]]\nid = \"a\"\n";
        assert_eq!(section_at(t, 0), None);
        assert_eq!(
            section_at(t, t.find("level").unwrap()),
            Some("[log]".into())
        );
        let id_val = t.find("\"a\"").unwrap();
        assert_eq!(section_at(t, id_val), Some("[[slot]]".into()));
        assert_eq!(key_path_at(t, id_val).as_deref(), Some("slot.id"));
        assert_eq!(key_path_at(t, 4).as_deref(), Some("x"));
    }

    #[test]
    fn every_table_is_recognised_from_its_key_list() {
        for keys in [
            TOP_KEYS,
            LOG_KEYS,
            DEFAULTS_KEYS,
            SLOT_KEYS,
            super::super::pkcs11::PKCS11_KEYS,
        ] {
            let mut reversed = keys.to_vec();
            reversed.reverse();
            assert_eq!(table_for_fields(&reversed).map(|t| t.1), Some(keys));
        }
        assert_eq!(table_for_fields(&["nope"]), None);
    }
}
