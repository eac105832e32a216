//! keyrotor's TOML configuration: the public types, parsing and validation.
//!
//! Where the configuration comes from is in [`discovery`]; the raw schema and
//! the error wording are in `model`. The full reference with an example is
//! `docs/configuration.md`.
//!
//! # Format
//!
//! ```toml
//! [log]
//! level = "info"              # error | warn | info | debug | trace (default "warn")
//! destination = "stderr"      # "stderr" | "syslog" | "file:/absolute/path" (default "stderr")
//!
//! [defaults]                  # slot defaults for key policies (all optional)
//! rotation_period = "90d"     # <n>s|m|h|d|w; must be more than zero
//! grace_period = "30d"
//! retention = "365d"
//!
//! [[slot]]                    # at least one
//! id = 0                      # optional, defaults to the slot's index; unique
//! label = "keyrotor"          # token label, 1..=32 bytes of UTF-8; unique
//! backend = "software"        # "software" or "pkcs11" (then a [slot.pkcs11] table,
//!                             # see `pkcs11`)
//! store = "/var/lib/keyrotor/slot0.sqlite"   # a path or "sqlite:/path"; relative
//!                                            # paths are taken from the file's directory
//! max_sessions = 0            # optional, 0 = unlimited (default)
//! pin_min_len = 4             # optional, default 4, at least 1
//! pin_max_len = 255           # optional, default 255, at least pin_min_len
//! max_login_failures = 10     # optional, default 10; 0 = never lock the user PIN
//! ```
//!
//! Unknown keys are errors everywhere. Every error is an
//! [`Error::Config`] whose message names the origin (file path or
//! `pReserved`), the line and column, and the form that was expected.

pub mod discovery;
mod model;
pub mod pkcs11;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result};
pub use model::parse_duration;
use model::{located, RawConfig, RawDefaults, RawLog, RawSlot};
pub use pkcs11::{CallMode, GcmMode, PinSource, Pkcs11Config, TokenSelector};
use toml::Spanned;

/// Origin name used when the configuration text came in `pReserved`.
pub const ORIGIN_P_RESERVED: &str = "pReserved";
/// Origin name of the built-in default configuration.
pub const ORIGIN_BUILT_IN: &str = "<built-in default>";

/// Default `pin_min_len` of a slot.
pub const DEFAULT_PIN_MIN_LEN: usize = 4;
/// Default `pin_max_len` of a slot.
pub const DEFAULT_PIN_MAX_LEN: usize = 255;
/// Default `max_login_failures` of a slot.
pub const DEFAULT_MAX_LOGIN_FAILURES: u32 = 10;
/// Longest token label in bytes (`CK_TOKEN_INFO.label` is 32 bytes).
pub const MAX_LABEL_LEN: usize = 32;

const LEVELS: &[&str] = &["error", "warn", "info", "debug", "trace"];

/// The validated configuration of one library instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `[log]`.
    pub log: LogConfig,
    /// `[defaults]`: policy defaults shared by the slots' keys.
    pub defaults: SlotDefaults,
    /// `[[slot]]`, in file order; at least one, ids and labels unique.
    pub slots: Vec<SlotConfig>,
    /// Where this came from: an absolute file path, `"pReserved"` or
    /// `"<built-in default>"`. Used in messages.
    pub origin: String,
}

/// `[log]`: how much to log and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// One of `error`, `warn`, `info`, `debug`, `trace` (lower case).
    pub level: String,
    /// Where lines go.
    pub destination: LogDestination,
}

/// Where log lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogDestination {
    /// The host process's standard error.
    Stderr,
    /// syslog(3), ident `keyrotor`, facility `LOG_USER`.
    Syslog,
    /// Appended to this file (created with mode 0600).
    File(PathBuf),
}

/// `[defaults]`: key policy defaults for slots. `None` = not configured,
/// the key's own policy (or manual rotation) applies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlotDefaults {
    /// Rotate the Active version after this long (never zero).
    pub rotation_period: Option<Duration>,
    /// How long a superseded version keeps decrypting.
    pub grace_period: Option<Duration>,
    /// Minimum time a revoked version is kept before destruction.
    pub retention: Option<Duration>,
}

/// One `[[slot]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotConfig {
    /// PKCS#11 slot id (defaults to the slot's index in the file).
    pub id: u64,
    /// Token label, 1..=32 bytes of UTF-8.
    pub label: String,
    /// Where the cryptography runs.
    pub backend: BackendKind,
    /// Where the token's objects are stored.
    pub store: StoreLocation,
    /// Most sessions open at once on this slot; 0 = unlimited.
    pub max_sessions: u64,
    /// Shortest PIN accepted, in bytes (at least 1).
    pub pin_min_len: usize,
    /// Longest PIN accepted, in bytes (at least `pin_min_len`).
    pub pin_max_len: usize,
    /// Consecutive wrong user PINs before it locks; 0 = never locks.
    pub max_login_failures: u32,
}

/// Where the cryptography of a slot runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendKind {
    /// AES in process, key material encrypted at rest.
    Software,
    /// Keys generated and used inside an HSM behind another PKCS#11 module.
    Pkcs11(Pkcs11Config),
}

/// Where a slot's store lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// A SQLite database file (always an absolute path once validated,
    /// unless the current directory could not be read).
    Sqlite(PathBuf),
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "warn".to_string(),
            destination: LogDestination::Stderr,
        }
    }
}

impl LogDestination {
    /// Parses `stderr`, `syslog` or `file:PATH` (any non-empty path; the
    /// configuration file additionally requires it to be absolute).
    pub fn parse(s: &str) -> std::result::Result<LogDestination, String> {
        match s {
            "stderr" => Ok(LogDestination::Stderr),
            "syslog" => Ok(LogDestination::Syslog),
            _ => match s.strip_prefix("file:") {
                Some(p) if !p.is_empty() => Ok(LogDestination::File(PathBuf::from(p))),
                _ => Err(format!(
                    "\"{s}\" is not a log destination; expected \"stderr\", \"syslog\" or \"file:/absolute/path\""
                )),
            },
        }
    }
}

impl Config {
    /// Finds and loads the configuration: `pReserved` (TOML text if it has a
    /// newline, `=` or `[`, else a file path), then `$KEYROTOR_CONF`, then
    /// `$XDG_CONFIG_HOME/keyrotor/keyrotor.toml` (or
    /// `~/.config/keyrotor/keyrotor.toml`) if it exists, then the built-in
    /// default. A named file that does not exist is an error.
    pub fn discover(p_reserved: Option<&str>) -> Result<Config> {
        discovery::discover(p_reserved)
    }

    /// Parses and validates TOML `text`; `origin` names it in messages.
    ///
    /// Relative store paths are resolved against the directory of `origin`
    /// when `origin` is a file path with a directory part, else against the
    /// current directory (e.g. for `"pReserved"`).
    pub fn from_toml(text: &str, origin: &str) -> Result<Config> {
        let dir = Path::new(origin).parent().unwrap_or(Path::new(""));
        Self::from_toml_in(text, origin, &absolute(dir))
    }

    /// Like [`Config::from_toml`] with an explicit base directory for
    /// relative store paths.
    pub(crate) fn from_toml_in(text: &str, origin: &str, base: &Path) -> Result<Config> {
        let raw: RawConfig = toml::from_str(text)
            .map_err(|e| Error::Config(model::describe_toml_error(origin, text, &e)))?;
        let v = Validator { origin, text, base };
        let log = v.log(raw.log)?;
        let defaults = v.defaults(raw.defaults)?;
        let slots = v.slots(raw.slot)?;
        Ok(Config {
            log,
            defaults,
            slots,
            origin: origin.to_string(),
        })
    }
}

/// `dir` made absolute against the current directory (left as is if that
/// cannot be read: the later open will then say what is wrong).
pub(crate) fn absolute(dir: &Path) -> PathBuf {
    if dir.is_absolute() {
        return dir.to_path_buf();
    }
    match std::env::current_dir() {
        Ok(cwd) => cwd.join(dir),
        Err(_) => dir.to_path_buf(),
    }
}

/// Turns the raw document into the public types, with located errors.
struct Validator<'a> {
    origin: &'a str,
    text: &'a str,
    base: &'a Path,
}

impl Validator<'_> {
    fn err<T>(&self, span: Option<std::ops::Range<usize>>, msg: &str) -> Result<T> {
        Err(Error::Config(located(self.origin, self.text, span, msg)))
    }

    fn log(&self, raw: RawLog) -> Result<LogConfig> {
        let mut log = LogConfig::default();
        if let Some(level) = raw.level {
            let lower = level.get_ref().to_ascii_lowercase();
            if !LEVELS.contains(&lower.as_str()) {
                return self.err(
                    Some(level.span()),
                    &format!(
                        "log.level \"{}\" is not a level; expected one of {}",
                        level.get_ref(),
                        LEVELS.join(", ")
                    ),
                );
            }
            log.level = lower;
        }
        if let Some(dest) = raw.destination {
            let parsed = match LogDestination::parse(dest.get_ref()) {
                Ok(LogDestination::File(p)) if !p.is_absolute() => Err(format!(
                    "\"{}\" is not absolute; expected \"file:/absolute/path\"",
                    p.display()
                )),
                other => other,
            };
            match parsed {
                Ok(d) => log.destination = d,
                Err(e) => return self.err(Some(dest.span()), &format!("log.destination {e}")),
            }
        }
        Ok(log)
    }

    fn defaults(&self, raw: RawDefaults) -> Result<SlotDefaults> {
        if let Some(period) = &raw.rotation_period {
            if parse_duration(period.get_ref()) == Ok(Duration::ZERO) {
                return self.err(
                    Some(period.span()),
                    "defaults.rotation_period must be more than zero, e.g. \"90d\"",
                );
            }
        }
        Ok(SlotDefaults {
            rotation_period: self.duration("rotation_period", raw.rotation_period)?,
            grace_period: self.duration("grace_period", raw.grace_period)?,
            retention: self.duration("retention", raw.retention)?,
        })
    }

    fn duration(&self, key: &str, raw: Option<Spanned<String>>) -> Result<Option<Duration>> {
        let Some(raw) = raw else { return Ok(None) };
        match parse_duration(raw.get_ref()) {
            Ok(d) => Ok(Some(d)),
            Err(e) => self.err(Some(raw.span()), &format!("defaults.{key}: {e}")),
        }
    }

    fn slots(&self, raw: Vec<Spanned<RawSlot>>) -> Result<Vec<SlotConfig>> {
        if raw.is_empty() {
            return self.err(
                None,
                "no [[slot]] table; expected at least one [[slot]] with label, backend and store",
            );
        }
        let mut out: Vec<(SlotConfig, usize)> = Vec::with_capacity(raw.len());
        for (index, spanned) in raw.into_iter().enumerate() {
            let start = spanned.span().start;
            let slot = self.slot(index, spanned.into_inner())?;
            for (prev, prev_start) in &out {
                let (prev_line, _) = model::line_col(self.text, *prev_start);
                if prev.id == slot.id {
                    return self.err(
                        Some(start..start),
                        &format!(
                            "slot id {} is already used by the [[slot]] at line {prev_line}; expected unique ids",
                            slot.id
                        ),
                    );
                }
                if prev.label == slot.label {
                    return self.err(
                        Some(start..start),
                        &format!(
                            "slot label \"{}\" is already used by the [[slot]] at line {prev_line}; expected unique labels",
                            slot.label
                        ),
                    );
                }
            }
            out.push((slot, start));
        }
        Ok(out.into_iter().map(|(s, _)| s).collect())
    }

    fn slot(&self, index: usize, raw: RawSlot) -> Result<SlotConfig> {
        let id = match raw.id {
            Some(id) => id.into_inner(),
            // usize always fits in u64 on the targets we build for.
            None => u64::try_from(index).unwrap_or(u64::MAX),
        };
        let label = raw.label.get_ref();
        if label.is_empty() || label.len() > MAX_LABEL_LEN {
            return self.err(
                Some(raw.label.span()),
                &format!(
                    "slot.label must be 1..={MAX_LABEL_LEN} bytes of UTF-8 (got {} bytes)",
                    label.len()
                ),
            );
        }
        let backend = self.backend_kind(&raw.backend, raw.pkcs11)?;
        let store = self.store(&raw.store)?;
        let pin_min_len = raw
            .pin_min_len
            .as_ref()
            .map_or(DEFAULT_PIN_MIN_LEN, |v| *v.get_ref());
        let pin_max_len = raw
            .pin_max_len
            .as_ref()
            .map_or(DEFAULT_PIN_MAX_LEN, |v| *v.get_ref());
        if pin_min_len == 0 {
            let span = raw.pin_min_len.as_ref().map(|v| v.span());
            return self.err(span, "slot.pin_min_len must be at least 1");
        }
        if pin_max_len < pin_min_len {
            let span = raw
                .pin_max_len
                .as_ref()
                .or(raw.pin_min_len.as_ref())
                .map(|v| v.span());
            return self.err(
                span,
                &format!(
                    "slot.pin_max_len ({pin_max_len}) must be at least pin_min_len ({pin_min_len})"
                ),
            );
        }
        Ok(SlotConfig {
            id,
            label: label.clone(),
            backend,
            store,
            max_sessions: raw.max_sessions.unwrap_or(0),
            pin_min_len,
            pin_max_len,
            max_login_failures: raw.max_login_failures.unwrap_or(DEFAULT_MAX_LOGIN_FAILURES),
        })
    }

    fn store(&self, raw: &Spanned<String>) -> Result<StoreLocation> {
        const FORM: &str = "expected a file path or \"sqlite:/path\"";
        let s = raw.get_ref().as_str();
        let span = Some(raw.span());
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            // Never echo the URL: it may carry a password.
            return self.err(
                span,
                &format!(
                    "slot.store: PostgreSQL stores are not available in this build yet; {FORM}"
                ),
            );
        }
        let path = match s.strip_prefix("sqlite:") {
            // sqlx also writes "sqlite://path"; accept both.
            Some(rest) => rest.strip_prefix("//").unwrap_or(rest),
            None if s.contains("://") => {
                return self.err(
                    span,
                    &format!("slot.store: unknown store URL scheme; {FORM}"),
                )
            }
            None => s,
        };
        if path.is_empty() {
            return self.err(span, &format!("slot.store is empty; {FORM}"));
        }
        Ok(StoreLocation::Sqlite(self.base.join(path)))
    }
}

#[cfg(test)]
mod tests;
