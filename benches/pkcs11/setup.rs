//! Which module is which, the private temp environment each managed module gets (SoftHSM2's
//! SOFTHSM2_CONF + token dir, keyrotor's KEYROTOR_CONF), and, inside a worker, loading the
//! module once, initialising its token through PKCS#11 and logging in.

use crate::raw::{ck_err, RawModule};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use std::path::{Path, PathBuf};

/// Token label the harness gives (and looks for).
pub const TOKEN_LABEL: &str = "bench";
/// SO PIN used for tokens the harness initialises (override with BENCH_SO_PIN).
const DEFAULT_SO_PIN: &str = "12345678";
/// User PIN (override with BENCH_USER_PIN).
const DEFAULT_USER_PIN: &str = "1234";
/// Default SoftHSM2 module path (Debian/Ubuntu package).
pub const SOFTHSM_PATH: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// How the harness treats a module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// keyrotor: temp KEYROTOR_CONF, token initialised through PKCS#11.
    Keyrotor,
    /// SoftHSM2: temp SOFTHSM2_CONF and token dir, token initialised through PKCS#11.
    SoftHsm,
    /// Anything else: used with the caller's environment; its first token is used as is
    /// (initialised through PKCS#11 only if no slot has an initialised token).
    Generic,
}

impl Kind {
    /// Guesses the kind from the file name.
    pub fn detect(path: &Path) -> Kind {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        if name.contains("keyrotor") {
            Kind::Keyrotor
        } else if name.contains("softhsm") {
            Kind::SoftHsm
        } else {
            Kind::Generic
        }
    }

    /// Stable name used on the worker command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Keyrotor => "keyrotor",
            Kind::SoftHsm => "softhsm",
            Kind::Generic => "generic",
        }
    }

    /// Inverse of `as_str`.
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "keyrotor" => Some(Kind::Keyrotor),
            "softhsm" => Some(Kind::SoftHsm),
            "generic" => Some(Kind::Generic),
            _ => None,
        }
    }

    /// Column heading in the report.
    pub fn display(self, path: &Path) -> String {
        match self {
            Kind::Keyrotor => "keyrotor".into(),
            Kind::SoftHsm => "SoftHSM2".into(),
            Kind::Generic => path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "module".into()),
        }
    }
}

/// A module to benchmark.
#[derive(Clone, Debug)]
pub struct Target {
    /// Report column name.
    pub name: String,
    /// Path of the shared object.
    pub path: PathBuf,
    /// How to set it up.
    pub kind: Kind,
}

/// The per-module temp environment: kept alive (and removed on drop) by the parent for as long
/// as that module's workers run.
pub struct Prepared {
    /// The temp dir, if the module is managed.
    pub dir: Option<tempfile::TempDir>,
    /// Variables to set in the workers' environment.
    pub env: Vec<(String, String)>,
    /// Variables to remove from it.
    pub env_remove: Vec<String>,
}

/// Creates the temp environment for a managed module (parent side).
pub fn prepare(target: &Target) -> Result<Prepared, String> {
    let io = |e: std::io::Error| format!("temp environment for {}: {e}", target.name);
    match target.kind {
        Kind::Generic => Ok(Prepared {
            dir: None,
            env: vec![],
            env_remove: vec![],
        }),
        Kind::SoftHsm => {
            let dir = tempfile::Builder::new()
                .prefix("bench-softhsm-")
                .tempdir()
                .map_err(io)?;
            let tokens = dir.path().join("tokens");
            std::fs::create_dir(&tokens).map_err(io)?;
            let conf = dir.path().join("softhsm2.conf");
            let text = format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
                tokens.display()
            );
            std::fs::write(&conf, text).map_err(io)?;
            Ok(Prepared {
                env: vec![("SOFTHSM2_CONF".into(), conf.display().to_string())],
                dir: Some(dir),
                env_remove: vec![],
            })
        }
        Kind::Keyrotor => {
            let dir = tempfile::Builder::new()
                .prefix("bench-keyrotor-")
                .tempdir()
                .map_err(io)?;
            let conf = dir.path().join("keyrotor.toml");
            let store = dir.path().join("slot0.sqlite");
            let text = format!(
                "[[slot]]\nlabel = \"{TOKEN_LABEL}\"\nbackend = \"software\"\nstore = \"{}\"\n",
                store.display()
            );
            std::fs::write(&conf, text).map_err(io)?;
            Ok(Prepared {
                env: vec![("KEYROTOR_CONF".into(), conf.display().to_string())],
                dir: Some(dir),
                // Real KDF cost: the test-only knob that cheapens Argon2 must not leak in. The
                // library's default manager mode, unless the harness sets it for one worker.
                env_remove: vec![
                    "KEYROTOR_KDF_MEMORY_KIB".into(),
                    crate::scen_manager::ENV_MANAGER.into(),
                ],
            })
        }
    }
}

/// The user PIN the harness logs in with.
pub fn user_pin() -> AuthPin {
    AuthPin::from(std::env::var("BENCH_USER_PIN").unwrap_or_else(|_| DEFAULT_USER_PIN.into()))
}

fn so_pin() -> AuthPin {
    AuthPin::from(std::env::var("BENCH_SO_PIN").unwrap_or_else(|_| DEFAULT_SO_PIN.into()))
}

/// One module, loaded and C_Initialize'd once in this process.
pub struct Loaded {
    /// cryptoki context (setup calls).
    pub pkcs11: Pkcs11,
    /// Raw function lists (timed calls).
    pub raw: RawModule,
    /// The slot whose token we use.
    pub slot: Slot,
    /// "manufacturer description version" from C_GetInfo.
    pub info: String,
}

/// Loads the module and calls C_Initialize with OS locking (threads allowed).
pub fn load_and_initialize(path: &Path) -> Result<Pkcs11, String> {
    let pkcs11 = Pkcs11::new(path).map_err(ck_err)?;
    pkcs11
        .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .map_err(ck_err)?;
    Ok(pkcs11)
}

/// Finishes loading: picks the slot (initialising the token first when `init_token`), opens the
/// raw function lists, reads C_GetInfo.
pub fn attach(pkcs11: Pkcs11, path: &Path, kind: Kind, init_token: bool) -> Result<Loaded, String> {
    if init_token || (kind == Kind::Generic && initialized_slot(&pkcs11)?.is_none()) {
        initialise_token(&pkcs11)?;
    }
    let slot = initialized_slot(&pkcs11)?.ok_or("no slot with an initialised token")?;
    let raw = RawModule::open(path)?;
    let info = pkcs11
        .get_library_info()
        .map(|i| {
            let v = i.library_version();
            format!(
                "{} {} {}.{}",
                i.manufacturer_id().trim(),
                i.library_description().trim(),
                v.major(),
                v.minor()
            )
        })
        .unwrap_or_else(ck_err);
    Ok(Loaded {
        pkcs11,
        raw,
        slot,
        info,
    })
}

/// The slot whose token is labelled "bench", else the first initialised token.
fn initialized_slot(pkcs11: &Pkcs11) -> Result<Option<Slot>, String> {
    let slots = pkcs11.get_slots_with_initialized_token().map_err(ck_err)?;
    let mut first = None;
    for s in slots {
        let info = pkcs11.get_token_info(s).map_err(ck_err)?;
        if info.label().trim_end() == TOKEN_LABEL {
            return Ok(Some(s));
        }
        first.get_or_insert(s);
    }
    Ok(first)
}

/// C_InitToken(SO PIN, "bench") on the first slot with a token, then C_InitPIN as SO.
fn initialise_token(pkcs11: &Pkcs11) -> Result<(), String> {
    let slot = pkcs11
        .get_slots_with_token()
        .map_err(ck_err)?
        .into_iter()
        .next()
        .ok_or("module has no slot with a token")?;
    pkcs11
        .init_token(slot, &so_pin(), TOKEN_LABEL)
        .map_err(ck_err)?;
    // SoftHSM2 moves a freshly initialised token to a new slot id; look it up again.
    let slot = initialized_slot(pkcs11)?.ok_or("token vanished after C_InitToken")?;
    let session = pkcs11.open_rw_session(slot).map_err(ck_err)?;
    session
        .login(UserType::So, Some(&so_pin()))
        .map_err(ck_err)?;
    session.init_pin(&user_pin()).map_err(ck_err)?;
    session.logout().map_err(ck_err)?;
    session.close().map_err(ck_err)
}

/// Opens a read-write session and logs the user in (a no-op error if another session of this
/// process already did: login is per application).
pub fn user_session(loaded: &Loaded) -> Result<Session, String> {
    let session = loaded.pkcs11.open_rw_session(loaded.slot).map_err(ck_err)?;
    match session.login(UserType::User, Some(&user_pin())) {
        Ok(()) => Ok(session),
        Err(cryptoki::error::Error::Pkcs11(cryptoki::error::RvError::UserAlreadyLoggedIn, _)) => {
            Ok(session)
        }
        Err(e) => Err(ck_err(e)),
    }
}

/// A plain session (no login call) for worker threads; the application is already logged in.
pub fn thread_session(loaded: &Loaded) -> Result<Session, String> {
    loaded.pkcs11.open_rw_session(loaded.slot).map_err(ck_err)
}

/// VmRSS of this process in KiB, from /proc/self/status.
pub fn vm_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detect_kinds_by_file_name() {
        assert_eq!(
            Kind::detect(Path::new("/x/target/release/libkeyrotor.so")),
            Kind::Keyrotor
        );
        assert_eq!(Kind::detect(Path::new(SOFTHSM_PATH)), Kind::SoftHsm);
        assert_eq!(
            Kind::detect(Path::new("/usr/lib/pkcs11/libkryoptic_pkcs11.so")),
            Kind::Generic
        );
        for k in [Kind::Keyrotor, Kind::SoftHsm, Kind::Generic] {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
        }
    }

    #[test]
    fn rss_is_readable() {
        assert!(vm_rss_kib().is_some_and(|k| k > 0));
    }
}
