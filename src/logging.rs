//! Logging setup: installs keyrotor's process-wide `tracing` subscriber from
//! `[log]`, once, honouring `KEYROTOR_LOG` and `KEYROTOR_LOG_DEST`.
//!
//! keyrotor runs inside other people's processes, so this never panics and
//! never replaces a global subscriber the host installed. Note that a host
//! loading the cdylib has its own copy of `tracing`; "the host's subscriber"
//! can only be seen by Rust programs linking the rlib (the CLI, tests).

use std::ffi::{CStr, CString};
use std::fs::{File, OpenOptions};
use std::io::{self, IsTerminal, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Once};

use tracing::{Level, Metadata};
use tracing_subscriber::fmt::writer::{BoxMakeWriter, MakeWriter};
use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogDestination};

/// Environment variable with an `EnvFilter` directive string that replaces
/// the configured level, e.g. `debug` or `keyrotor=trace`.
pub const ENV_LOG: &str = "KEYROTOR_LOG";
/// Environment variable that replaces the configured destination:
/// `stderr`, `syslog` or `file:PATH`.
pub const ENV_LOG_DEST: &str = "KEYROTOR_LOG_DEST";

/// Our own crate name, the target prefix of our events.
const CRATE: &str = env!("CARGO_CRATE_NAME");

static INIT: Once = Once::new();
/// Set once keyrotor's own subscriber is in place.
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Installs the global subscriber described by `cfg` and the environment.
///
/// Only the first call in a process does anything; later calls (a second
/// `C_Initialize`, another `[log]`) are no-ops. If a global subscriber is
/// already set, it is kept and nothing is installed.
pub fn init(cfg: &LogConfig) {
    INIT.call_once(|| {
        if tracing::dispatcher::has_been_set() {
            return;
        }
        let plan = plan(
            cfg,
            std::env::var(ENV_LOG).ok().as_deref(),
            std::env::var(ENV_LOG_DEST).ok().as_deref(),
        );
        install(plan);
    });
}

/// Reports why `C_Initialize` failed. The caller only sees a `CK_RV`, and
/// logging is off by default (or its configuration is what failed), so
/// unless keyrotor's own log is up the message goes to standard error, as
/// SoftHSM2 does with a bad configuration. `KEYROTOR_LOG=off` silences it.
pub fn startup_failure(error: &dyn std::fmt::Display) {
    if INSTALLED.load(Ordering::Acquire) {
        tracing::error!(error = %error, "C_Initialize failed");
        return;
    }
    if std::env::var(ENV_LOG).is_ok_and(|v| v.trim().eq_ignore_ascii_case("off")) {
        return;
    }
    // Nowhere else to report a failed write to stderr: ignoring it is all we can do.
    let _ = writeln!(io::stderr(), "keyrotor: C_Initialize failed: {error}");
}

/// What to install, after applying the environment overrides.
struct Plan {
    filter: EnvFilter,
    destination: LogDestination,
    /// Problems to report once the subscriber is up (bad overrides).
    notes: Vec<String>,
}

/// The filter for a configured level: our crate at `level`, the libraries we
/// use at `warn` at most so `info` is not flooded by database chatter.
fn level_directives(level: &str) -> String {
    let others = if level == "error" { "error" } else { "warn" };
    format!("{others},{CRATE}={level}")
}

fn plan(cfg: &LogConfig, env_log: Option<&str>, env_dest: Option<&str>) -> Plan {
    let mut notes = Vec::new();
    let configured = || EnvFilter::try_new(level_directives(&cfg.level));
    let filter = match env_log.map(str::trim).filter(|s| !s.is_empty()) {
        Some(directives) => match EnvFilter::try_new(directives) {
            Ok(f) => Ok(f),
            Err(e) => {
                notes.push(format!(
                    "{ENV_LOG}={directives:?} is not a valid filter ({e}); using level {:?}",
                    cfg.level
                ));
                configured()
            }
        },
        None => configured(),
    };
    // The configured level was validated, so this fallback is only a guard.
    let filter = filter.unwrap_or_else(|_| EnvFilter::new("warn"));

    let destination = match env_dest.map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => LogDestination::parse(s).unwrap_or_else(|e| {
            notes.push(format!(
                "{ENV_LOG_DEST}: {e}; using the configured destination"
            ));
            cfg.destination.clone()
        }),
        None => cfg.destination.clone(),
    };
    Plan {
        filter,
        destination,
        notes,
    }
}

/// A writer ready to install: where, with colours, with timestamps.
struct Output {
    writer: BoxMakeWriter,
    ansi: bool,
    timestamps: bool,
}

fn stderr_output() -> Output {
    Output {
        writer: BoxMakeWriter::new(io::stderr),
        ansi: io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        timestamps: true,
    }
}

/// Opens the destination; a log file that cannot be opened falls back to
/// stderr with a note (returned, logged once after install).
fn open_output(destination: &LogDestination, notes: &mut Vec<String>) -> Output {
    match destination {
        LogDestination::Stderr => stderr_output(),
        LogDestination::Syslog => {
            // SAFETY: the ident is a 'static C string, as openlog requires
            // (it keeps the pointer).
            unsafe { libc::openlog(c"keyrotor".as_ptr(), libc::LOG_PID, libc::LOG_USER) };
            Output {
                writer: BoxMakeWriter::new(SyslogWriter { sink: libc_syslog }),
                ansi: false,
                // syslog stamps each message itself.
                timestamps: false,
            }
        }
        LogDestination::File(path) => match open_log_file(path) {
            Ok(file) => Output {
                writer: BoxMakeWriter::new(Arc::new(file)),
                ansi: false,
                timestamps: true,
            },
            Err(e) => {
                notes.push(format!(
                    "cannot open log file {}: {e}; logging to stderr instead",
                    path.display()
                ));
                stderr_output()
            }
        },
    }
}

/// Opens `path` for appending, creating it with mode 0600.
fn open_log_file(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
}

fn install(plan: Plan) {
    let Plan {
        filter,
        destination,
        mut notes,
    } = plan;
    let out = open_output(&destination, &mut notes);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(out.writer)
        .with_ansi(out.ansi);
    let installed = if out.timestamps {
        tracing::subscriber::set_global_default(builder.finish())
    } else {
        tracing::subscriber::set_global_default(builder.without_time().finish())
    };
    // Err only if another thread set one since our check: keep theirs.
    if installed.is_ok() {
        INSTALLED.store(true, Ordering::Release);
        for note in notes {
            tracing::warn!("{note}");
        }
    }
}

/// Sends one line to syslog at `priority` (`LOG_USER` is or-ed in).
type SyslogSink = fn(libc::c_int, &CStr);

fn libc_syslog(priority: libc::c_int, line: &CStr) {
    // SAFETY: "%s" with one valid NUL-terminated string argument.
    unsafe { libc::syslog(priority | libc::LOG_USER, c"%s".as_ptr(), line.as_ptr()) };
}

/// `MakeWriter` that gives each event a buffer, sent to syslog when the
/// event is written, one message per line.
#[derive(Clone, Copy)]
struct SyslogWriter {
    sink: SyslogSink,
}

/// One event's formatted text on its way to syslog.
struct SyslogLine {
    priority: libc::c_int,
    buf: Vec<u8>,
    sink: SyslogSink,
}

fn priority(level: &Level) -> libc::c_int {
    match *level {
        Level::ERROR => libc::LOG_ERR,
        Level::WARN => libc::LOG_WARNING,
        Level::INFO => libc::LOG_INFO,
        _ => libc::LOG_DEBUG,
    }
}

impl<'a> MakeWriter<'a> for SyslogWriter {
    type Writer = SyslogLine;

    fn make_writer(&'a self) -> SyslogLine {
        self.line(libc::LOG_INFO)
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> SyslogLine {
        self.line(priority(meta.level()))
    }
}

impl SyslogWriter {
    fn line(&self, priority: libc::c_int) -> SyslogLine {
        SyslogLine {
            priority,
            buf: Vec::with_capacity(256),
            sink: self.sink,
        }
    }
}

impl SyslogLine {
    /// Sends every complete or trailing line buffered so far.
    fn send(&mut self) {
        for line in self.buf.split(|b| *b == b'\n') {
            let line: Vec<u8> = line
                .iter()
                .map(|b| if *b == 0 { b' ' } else { *b })
                .collect();
            let trimmed = line.trim_ascii_end();
            if trimmed.is_empty() {
                continue;
            }
            // NULs were replaced above, so this cannot fail; skip if it does.
            if let Ok(c) = CString::new(trimmed) {
                (self.sink)(self.priority, &c);
            }
        }
        self.buf.clear();
    }
}

impl Write for SyslogLine {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send();
        Ok(())
    }
}

impl Drop for SyslogLine {
    fn drop(&mut self) {
        self.send();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::os::unix::fs::PermissionsExt;

    fn cfg(level: &str, destination: LogDestination) -> LogConfig {
        LogConfig {
            level: level.into(),
            destination,
        }
    }

    #[test]
    fn level_directives_cap_other_crates() {
        assert_eq!(level_directives("info"), format!("warn,{CRATE}=info"));
        assert_eq!(level_directives("trace"), format!("warn,{CRATE}=trace"));
        assert_eq!(level_directives("error"), format!("error,{CRATE}=error"));
    }

    #[test]
    fn environment_overrides() {
        let base = cfg("info", LogDestination::Stderr);
        let p = plan(&base, None, None);
        assert_eq!(p.filter.to_string(), format!("{CRATE}=info,warn"));
        assert_eq!(p.destination, LogDestination::Stderr);
        assert!(p.notes.is_empty());

        let p = plan(&base, Some("keyrotor=trace"), Some("file:rel.log"));
        assert_eq!(p.filter.to_string(), "keyrotor=trace");
        assert_eq!(p.destination, LogDestination::File("rel.log".into()));
        assert!(p.notes.is_empty());

        let p = plan(&base, Some("   "), Some("syslog"));
        assert_eq!(p.filter.to_string(), format!("{CRATE}=info,warn"));
        assert_eq!(p.destination, LogDestination::Syslog);
    }

    #[test]
    fn bad_overrides_are_reported_and_ignored() {
        let base = cfg("debug", LogDestination::Syslog);
        let p = plan(&base, Some("keyrotor=[bad"), Some("journald"));
        assert_eq!(p.filter.to_string(), format!("{CRATE}=debug,warn"));
        assert_eq!(p.destination, LogDestination::Syslog);
        assert_eq!(p.notes.len(), 2);
        assert!(p.notes[0].starts_with("KEYROTOR_LOG=\"keyrotor=[bad\" is not a valid filter"));
        assert!(p.notes[1].starts_with("KEYROTOR_LOG_DEST: \"journald\" is not a log destination"));
    }

    #[test]
    fn log_file_is_created_0600_and_appended() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.log");
        writeln!(open_log_file(&path).unwrap(), "one").unwrap();
        writeln!(open_log_file(&path).unwrap(), "two").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "one\ntwo\n");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn unopenable_file_falls_back_to_stderr_with_one_note() {
        let mut notes = Vec::new();
        let missing = Path::new("/nonexistent-keyrotor-dir/k.log");
        let out = open_output(&LogDestination::File(missing.into()), &mut notes);
        assert!(out.timestamps);
        assert_eq!(notes.len(), 1);
        assert!(notes[0].starts_with("cannot open log file /nonexistent-keyrotor-dir/k.log: "));
        assert!(notes[0].ends_with("; logging to stderr instead"));
    }

    thread_local! {
        static SENT: RefCell<Vec<(libc::c_int, String)>> = const { RefCell::new(Vec::new()) };
    }

    fn capture(priority: libc::c_int, line: &CStr) {
        SENT.with(|s| {
            s.borrow_mut()
                .push((priority, line.to_string_lossy().into_owned()))
        });
    }

    #[test]
    fn syslog_writer_sends_each_line_at_the_event_priority() {
        let w = SyslogWriter { sink: capture };
        {
            let mut line = w.line(priority(&Level::WARN));
            line.write_all(b" WARN keyrotor: first\nsecond\0part\n\n")
                .unwrap();
        }
        {
            let mut line = w.make_writer();
            line.write_all(b"plain\r\n").unwrap();
            line.flush().unwrap();
        }
        let sent = SENT.with(|s| s.borrow().clone());
        assert_eq!(
            sent,
            vec![
                (libc::LOG_WARNING, " WARN keyrotor: first".to_string()),
                (libc::LOG_WARNING, "second part".to_string()),
                (libc::LOG_INFO, "plain".to_string()),
            ]
        );
        assert_eq!(priority(&Level::ERROR), libc::LOG_ERR);
        assert_eq!(priority(&Level::TRACE), libc::LOG_DEBUG);
    }

    /// The only test that installs the process-wide subscriber.
    #[test]
    fn init_installs_once_and_later_calls_do_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let first = dir.path().join("first.log");
        let second = dir.path().join("second.log");
        init(&cfg("info", LogDestination::File(first.clone())));
        init(&cfg("trace", LogDestination::File(second.clone())));
        tracing::info!(answer = 42, "hello from the test");
        tracing::debug!("below the level");
        // Overrides in the test environment would legitimately change this.
        if std::env::var_os(ENV_LOG).is_none() && std::env::var_os(ENV_LOG_DEST).is_none() {
            let text = std::fs::read_to_string(&first).unwrap();
            assert!(text.contains("hello from the test answer=42"), "{text}");
            assert!(!text.contains("below the level"), "{text}");
        }
        assert!(!second.exists());
    }
}
