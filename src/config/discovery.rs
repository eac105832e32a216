//! Where the configuration comes from. First hit wins:
//!
//! 1. `pReserved` of `C_Initialize`: TOML text if it contains a newline, `=`
//!    or `[` (origin `"pReserved"`), otherwise a path to a TOML file;
//! 2. `$KEYROTOR_CONF`, a path;
//! 3. `$XDG_CONFIG_HOME/keyrotor/keyrotor.toml` (or
//!    `~/.config/keyrotor/keyrotor.toml`) if that file exists;
//! 4. the built-in default: one software slot, id 0, label `keyrotor`, store
//!    `$XDG_DATA_HOME/keyrotor/slot0.sqlite` (or
//!    `~/.local/share/keyrotor/slot0.sqlite`).
//!
//! A path named in 1 or 2 that does not exist is an error naming it: we never
//! fall through to a different configuration than the one the user asked for.
//! An empty `pReserved` or `$KEYROTOR_CONF` counts as not given.

use std::ffi::{CStr, OsStr, OsString};
use std::io::ErrorKind;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::{
    absolute, BackendKind, Config, LogConfig, SlotConfig, SlotDefaults, StoreLocation,
    DEFAULT_MAX_LOGIN_FAILURES, DEFAULT_PIN_MAX_LEN, DEFAULT_PIN_MIN_LEN, ORIGIN_BUILT_IN,
    ORIGIN_P_RESERVED,
};
use crate::error::{Error, Result};

/// Environment variable naming the configuration file.
pub const ENV_CONF: &str = "KEYROTOR_CONF";

/// Runs the discovery order above.
pub fn discover(p_reserved: Option<&str>) -> Result<Config> {
    if let Some(given) = p_reserved.filter(|s| !s.trim().is_empty()) {
        if is_toml_text(given) {
            return Config::from_toml_in(given, ORIGIN_P_RESERVED, &absolute(Path::new("")));
        }
        return load_file(Path::new(given), "pReserved");
    }
    if let Some(path) = env_nonempty(ENV_CONF) {
        return load_file(Path::new(&path), "$KEYROTOR_CONF");
    }
    if let Some(path) = user_config_path() {
        match std::fs::metadata(&path) {
            Ok(_) => return load_file(&path, "the user configuration location"),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Error::Config(format!(
                    "{}: cannot check whether the configuration file exists: {e}",
                    path.display()
                )))
            }
        }
    }
    builtin_default()
}

/// Whether `pReserved` holds TOML text rather than a path: a path never
/// needs a newline, `=` or `[`, and every useful TOML document has one.
pub fn is_toml_text(s: &str) -> bool {
    s.contains(['\n', '=', '['])
}

/// Reads and validates the TOML file at `path` (made absolute against the
/// current directory). `named_by` says who named it, for the error.
pub fn load_file(path: &Path, named_by: &str) -> Result<Config> {
    let path = absolute(path);
    let shown = path.display();
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Err(Error::Config(format!(
            "configuration file {shown} (named by {named_by}) does not exist; expected a TOML file"
        )))
        }
        Err(e) if e.kind() == ErrorKind::InvalidData => {
            return Err(Error::Config(format!(
                "configuration file {shown} is not UTF-8 text; expected a TOML file"
            )))
        }
        Err(e) => {
            return Err(Error::Config(format!(
                "configuration file {shown} (named by {named_by}) cannot be read: {e}"
            )))
        }
    };
    let base = path.parent().unwrap_or(Path::new("/"));
    Config::from_toml_in(&text, &shown.to_string(), base)
}

/// `$XDG_CONFIG_HOME/keyrotor/keyrotor.toml`, or
/// `~/.config/keyrotor/keyrotor.toml`; `None` if no home is known.
pub fn user_config_path() -> Option<PathBuf> {
    let dir = xdg_dir("XDG_CONFIG_HOME", ".config")?;
    Some(dir.join("keyrotor").join("keyrotor.toml"))
}

/// `$XDG_DATA_HOME/keyrotor/slot0.sqlite`, or
/// `~/.local/share/keyrotor/slot0.sqlite`.
pub fn default_store_path() -> Result<PathBuf> {
    let dir = xdg_dir("XDG_DATA_HOME", ".local/share").ok_or_else(|| {
        Error::Config(
            "cannot place the default store: neither $XDG_DATA_HOME nor a home directory is known; \
             expected $HOME to be set, or a configuration in $KEYROTOR_CONF or pReserved"
                .to_string(),
        )
    })?;
    Ok(dir.join("keyrotor").join("slot0.sqlite"))
}

/// The configuration used when none is given: one software slot.
pub fn builtin_default() -> Result<Config> {
    Ok(Config {
        log: LogConfig::default(),
        defaults: SlotDefaults::default(),
        slots: vec![SlotConfig {
            id: 0,
            label: "keyrotor".to_string(),
            backend: BackendKind::Software,
            store: StoreLocation::Sqlite(default_store_path()?),
            max_sessions: 0,
            pin_min_len: DEFAULT_PIN_MIN_LEN,
            pin_max_len: DEFAULT_PIN_MAX_LEN,
            max_login_failures: DEFAULT_MAX_LOGIN_FAILURES,
        }],
        origin: ORIGIN_BUILT_IN.to_string(),
    })
}

fn env_nonempty(name: &str) -> Option<OsString> {
    std::env::var_os(name).filter(|v| !v.is_empty())
}

/// `$var` if it is an absolute path (the XDG spec says to ignore relative
/// ones), else `home/fallback`.
fn xdg_dir(var: &str, fallback: &str) -> Option<PathBuf> {
    if let Some(v) = env_nonempty(var) {
        let p = PathBuf::from(v);
        if p.is_absolute() {
            return Some(p);
        }
    }
    Some(home_dir()?.join(fallback))
}

/// `$HOME`, or the passwd entry of the real user (services often run
/// without `$HOME`).
fn home_dir() -> Option<PathBuf> {
    if let Some(h) = env_nonempty("HOME") {
        return Some(PathBuf::from(h));
    }
    home_from_passwd()
}

fn home_from_passwd() -> Option<PathBuf> {
    let mut buf: Vec<libc::c_char> = vec![0; 1024];
    loop {
        // SAFETY: all-zero is a valid `passwd` (integers and null pointers).
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer refers to live, writable memory of the length
        // given; getpwuid_r writes only within `buf` and `pwd`.
        let rc = unsafe {
            libc::getpwuid_r(
                libc::getuid(),
                &mut pwd,
                buf.as_mut_ptr(),
                buf.len(),
                &mut result,
            )
        };
        if rc == libc::ERANGE && buf.len() < (1 << 20) {
            buf.resize(buf.len() * 2, 0);
            continue;
        }
        if rc != 0 || result.is_null() || pwd.pw_dir.is_null() {
            return None;
        }
        // SAFETY: on success pw_dir points to a NUL-terminated string inside
        // `buf`, which is still alive here.
        let dir = unsafe { CStr::from_ptr(pwd.pw_dir) };
        let dir = PathBuf::from(OsStr::from_bytes(dir.to_bytes()));
        return dir.is_absolute().then_some(dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StoreLocation;
    use std::sync::Mutex;

    #[test]
    fn toml_text_or_path() {
        assert!(is_toml_text("[[slot]]"));
        assert!(is_toml_text("a = 1"));
        assert!(is_toml_text("/etc/x.toml\n"));
        assert!(!is_toml_text("/etc/keyrotor/keyrotor.toml"));
        assert!(!is_toml_text("relative/keyrotor.toml"));
    }

    #[test]
    fn passwd_home_is_absolute() {
        // Every account on a test machine has a passwd entry with a home.
        let home = home_from_passwd().expect("passwd entry");
        assert!(home.is_absolute(), "{}", home.display());
    }

    /// A slot table with one extra line, so errors land on known lines.
    fn slot_with(extra: &str) -> String {
        format!("[[slot]]\nlabel = \"a\"\nbackend = \"software\"\nstore = \"/s.sqlite\"\n{extra}\n")
    }

    /// Serialises tests that change environment variables.
    static ENV_LOCK: Mutex<()> = Mutex::new(());
    const VARS: &[&str] = &["KEYROTOR_CONF", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "HOME"];

    /// Holds the lock, clears the discovery variables and restores them on drop.
    struct EnvGuard {
        saved: Vec<(&'static str, Option<std::ffi::OsString>)>,
        _lock: std::sync::MutexGuard<'static, ()>,
    }

    impl EnvGuard {
        fn new() -> Self {
            let lock = ENV_LOCK.lock().unwrap_or_else(|e| e.into_inner());
            let saved = VARS.iter().map(|v| (*v, std::env::var_os(v))).collect();
            for v in VARS {
                std::env::remove_var(v);
            }
            EnvGuard { saved, _lock: lock }
        }
        fn set(&self, k: &str, v: impl AsRef<std::ffi::OsStr>) {
            std::env::set_var(k, v);
        }
    }

    impl Drop for EnvGuard {
        fn drop(&mut self) {
            for (k, v) in &self.saved {
                match v {
                    Some(v) => std::env::set_var(k, v),
                    None => std::env::remove_var(k),
                }
            }
        }
    }

    fn write(dir: &Path, rel: &str, text: &str) -> PathBuf {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }

    fn labelled(label: &str, store: &str) -> String {
        format!("[[slot]]\nlabel = \"{label}\"\nbackend = \"software\"\nstore = \"{store}\"\n")
    }

    fn store_of(c: &Config) -> PathBuf {
        let StoreLocation::Sqlite(p) = c.slots[0].store.clone();
        p
    }

    #[test]
    fn p_reserved_text_wins_and_resolves_against_cwd() {
        let tmp = tempfile::tempdir().unwrap();
        let env = EnvGuard::new();
        let conf = write(tmp.path(), "conf.toml", &labelled("from-env", "/e.sqlite"));
        env.set("KEYROTOR_CONF", &conf);
        let c = Config::discover(Some(&labelled("inline", "rel.sqlite"))).unwrap();
        assert_eq!(c.origin, "pReserved");
        assert_eq!(c.slots[0].label, "inline");
        assert_eq!(
            store_of(&c),
            std::env::current_dir().unwrap().join("rel.sqlite")
        );
        // Errors in pReserved text name "pReserved" as the file.
        let Err(Error::Config(m)) = Config::discover(Some("[[slot]]\nlabel = \"x\"\nbogus = 1\n"))
        else {
            panic!("expected an error")
        };
        assert!(
            m.starts_with("pReserved line 3, column 1: unknown key \"bogus\" in [[slot]]"),
            "{m}"
        );
    }

    #[test]
    fn p_reserved_path_wins_and_resolves_against_its_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let env = EnvGuard::new();
        env.set(
            "KEYROTOR_CONF",
            write(tmp.path(), "env.toml", &labelled("from-env", "/e.sqlite")),
        );
        let file = write(
            tmp.path(),
            "sub/p.toml",
            &labelled("from-path", "data/s.sqlite"),
        );
        let c = Config::discover(Some(file.to_str().unwrap())).unwrap();
        assert_eq!(c.origin, file.display().to_string());
        assert_eq!(c.slots[0].label, "from-path");
        assert_eq!(store_of(&c), tmp.path().join("sub/data/s.sqlite"));
    }

    #[test]
    fn named_paths_that_do_not_exist_are_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let env = EnvGuard::new();
        // A valid $KEYROTOR_CONF must not rescue a missing pReserved path.
        env.set(
            "KEYROTOR_CONF",
            write(tmp.path(), "env.toml", &labelled("from-env", "/e.sqlite")),
        );
        let missing = tmp.path().join("nope.toml");
        let Err(Error::Config(m)) = Config::discover(Some(missing.to_str().unwrap())) else {
            panic!("expected an error")
        };
        assert_eq!(
            m,
            format!(
                "configuration file {} (named by pReserved) does not exist; expected a TOML file",
                missing.display()
            )
        );
        env.set("KEYROTOR_CONF", &missing);
        let Err(Error::Config(m)) = Config::discover(None) else {
            panic!("expected an error")
        };
        assert!(
            m.contains(&missing.display().to_string())
                && m.contains("(named by $KEYROTOR_CONF) does not exist"),
            "{m}"
        );
    }

    #[test]
    fn keyrotor_conf_then_xdg_then_default() {
        let tmp = tempfile::tempdir().unwrap();
        let env = EnvGuard::new();
        let xdg = tmp.path().join("xdg");
        let data = tmp.path().join("data");
        env.set("XDG_CONFIG_HOME", &xdg);
        env.set("XDG_DATA_HOME", &data);
        env.set("HOME", tmp.path().join("home"));

        // Nothing anywhere: the built-in default, stored under $XDG_DATA_HOME.
        let c = Config::discover(None).unwrap();
        assert_eq!(c.origin, ORIGIN_BUILT_IN);
        assert_eq!(c.slots.len(), 1);
        assert_eq!((c.slots[0].id, c.slots[0].label.as_str()), (0, "keyrotor"));
        assert_eq!(c.slots[0].backend, BackendKind::Software);
        assert_eq!(store_of(&c), data.join("keyrotor/slot0.sqlite"));
        assert_eq!(c.log, LogConfig::default());

        // The XDG file exists: it is used.
        write(&xdg, "keyrotor/keyrotor.toml", &labelled("xdg", "x.sqlite"));
        let c = Config::discover(None).unwrap();
        assert_eq!(c.slots[0].label, "xdg");
        assert_eq!(store_of(&c), xdg.join("keyrotor/x.sqlite"));

        // $KEYROTOR_CONF beats the XDG file; an empty pReserved counts as absent.
        env.set(
            "KEYROTOR_CONF",
            write(tmp.path(), "env.toml", &labelled("env", "/e.sqlite")),
        );
        assert_eq!(Config::discover(None).unwrap().slots[0].label, "env");
        assert_eq!(Config::discover(Some("")).unwrap().slots[0].label, "env");
        // An empty $KEYROTOR_CONF counts as unset.
        env.set("KEYROTOR_CONF", "");
        assert_eq!(Config::discover(None).unwrap().slots[0].label, "xdg");
    }

    #[test]
    fn home_fallbacks_when_xdg_is_unset_or_relative() {
        let tmp = tempfile::tempdir().unwrap();
        let env = EnvGuard::new();
        let home = tmp.path().join("home");
        env.set("HOME", &home);
        env.set("XDG_DATA_HOME", "relative/data"); // ignored, as the XDG spec says
        let c = Config::discover(None).unwrap();
        assert_eq!(
            store_of(&c),
            home.join(".local/share/keyrotor/slot0.sqlite")
        );

        write(
            &home,
            ".config/keyrotor/keyrotor.toml",
            &labelled("home", "/h.sqlite"),
        );
        assert_eq!(Config::discover(None).unwrap().slots[0].label, "home");
        assert_eq!(
            user_config_path(),
            Some(home.join(".config/keyrotor/keyrotor.toml"))
        );
    }

    #[test]
    fn errors_in_files_name_the_absolute_path() {
        let tmp = tempfile::tempdir().unwrap();
        let env = EnvGuard::new();
        let file = write(tmp.path(), "bad.toml", &slot_with("max_sessions = -3"));
        env.set("KEYROTOR_CONF", &file);
        let Err(Error::Config(m)) = Config::discover(None) else {
            panic!("expected an error")
        };
        assert_eq!(
            m,
            format!(
                "{} line 5, column 16: slot.max_sessions: invalid value: integer `-3`, expected a non-negative integer",
                file.display()
            )
        );
        std::fs::write(&file, b"\xff\xfe").unwrap();
        let Err(Error::Config(m)) = Config::discover(None) else {
            panic!("expected an error")
        };
        assert!(
            m.ends_with("is not UTF-8 text; expected a TOML file"),
            "{m}"
        );
    }
}
