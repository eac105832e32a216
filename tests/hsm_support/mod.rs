//! Shared helpers of the HSM-slot tests (`tests/hsm_*.rs`): a private
//! SoftHSM2 token per test process, keyrotor configurations with a
//! `backend = "pkcs11"` slot, a direct look at the HSM's objects through
//! `cryptoki`, and a `p11-kit server` in front of SoftHSM that can be killed
//! and restarted to simulate an outage.
//!
//! Each test file declares `#[macro_use] mod common;` and
//! `mod rotation_support;` before `mod hsm_support;`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::object::{Attribute, AttributeType, ObjectClass};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;

/// SoftHSM2's module, the HSM these tests use.
pub const SOFTHSM: &str = "/usr/lib/softhsm/libsofthsm2.so";
/// p11-kit's client module (talks to a `p11-kit server`).
pub const P11KIT_CLIENT: &str = "/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so";
/// Label of the SoftHSM token.
pub const HSM_TOKEN: &str = "HSM";
/// SoftHSM user PIN (separate from keyrotor's own PINs).
pub const HSM_PIN: &str = "1234";
/// Environment variable the test configurations read the HSM PIN from.
pub const PIN_VAR: &str = "KEYROTOR_TEST_HSM_PIN";

/// The process's SoftHSM: its directory and configuration file.
pub struct SoftHsm {
    /// `SOFTHSM2_CONF` of this process (and the CLI it starts).
    pub conf: PathBuf,
    dir: tempfile::TempDir,
}

static HSM: OnceLock<SoftHsm> = OnceLock::new();

/// A SoftHSM2 token `HSM` (SO PIN 12345678, user PIN 1234) in a temp dir,
/// created once per test process; `SOFTHSM2_CONF` and the PIN variable are
/// set for this process and inherited by the CLI.
pub fn softhsm() -> &'static SoftHsm {
    HSM.get_or_init(|| {
        assert!(
            Path::new(SOFTHSM).exists(),
            "{SOFTHSM} is missing: install softhsm2 (scripts/install-test-deps.sh)"
        );
        let dir = tempfile::Builder::new()
            .prefix("keyrotor-softhsm-")
            .tempdir()
            .expect("tempdir");
        let tokens = dir.path().join("tokens");
        std::fs::create_dir(&tokens).expect("token dir");
        let conf = dir.path().join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n\
                 slots.removable = false\n",
                tokens.display()
            ),
        )
        .expect("softhsm2.conf");
        std::env::set_var("SOFTHSM2_CONF", &conf);
        std::env::set_var(PIN_VAR, HSM_PIN);
        let out = Command::new("softhsm2-util")
            .args(["--init-token", "--free", "--label", HSM_TOKEN])
            .args(["--so-pin", "12345678", "--pin", HSM_PIN])
            .env("SOFTHSM2_CONF", &conf)
            .stdin(Stdio::null())
            .output()
            .expect("run softhsm2-util (install softhsm2)");
        assert!(
            out.status.success(),
            "softhsm2-util --init-token failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        SoftHsm { conf, dir }
    })
}

/// A keyrotor configuration with one pkcs11 slot on `module`; `pkcs11`
/// lines are added to `[slot.pkcs11]` (after module, token and pin).
pub fn hsm_conf_text(dir: &Path, module: &str, pkcs11: &str) -> String {
    format!(
        "[[slot]]\nlabel = \"{}\"\nbackend = \"pkcs11\"\nstore = \"{}\"\n[slot.pkcs11]\n\
         module = \"{module}\"\ntoken = \"{HSM_TOKEN}\"\npin = {{ env = \"{PIN_VAR}\" }}\n{pkcs11}\n",
        crate::common::TOKEN_LABEL,
        dir.join("slot0.sqlite").display()
    )
}

/// Writes `<dir>/keyrotor.toml` (see [`hsm_conf_text`]).
pub fn write_hsm_conf(dir: &Path, module: &str, pkcs11: &str) -> PathBuf {
    let conf = dir.join("keyrotor.toml");
    std::fs::write(&conf, hsm_conf_text(dir, module, pkcs11)).expect("write keyrotor.toml");
    conf
}

/// A secret key as the HSM itself reports it.
#[derive(Debug, Clone)]
pub struct HsmKey {
    /// `CKA_LABEL`.
    pub label: String,
    /// `CKA_ID` as text.
    pub id: String,
    /// `CKA_EXTRACTABLE`.
    pub extractable: bool,
    /// `CKA_SENSITIVE`.
    pub sensitive: bool,
    /// `CKA_NEVER_EXTRACTABLE`.
    pub never_extractable: bool,
    /// `CKA_ALWAYS_SENSITIVE`.
    pub always_sensitive: bool,
    /// `CKA_TOKEN`.
    pub token: bool,
}

/// The SoftHSM token's secret keys, read directly with `cryptoki` (in this
/// process SoftHSM may already be initialised by keyrotor: then the state,
/// including the login, is shared and nothing is finalised here).
pub fn hsm_keys() -> Vec<HsmKey> {
    softhsm();
    let p = Pkcs11::new(SOFTHSM).expect("load SoftHSM");
    let owned = match p.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) => true,
        Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => false,
        Err(e) => panic!("C_Initialize of SoftHSM: {e}"),
    };
    let slot = p
        .get_slots_with_token()
        .expect("slots")
        .into_iter()
        .find(|s| {
            p.get_token_info(*s)
                .map(|t| t.label().trim_end() == HSM_TOKEN)
                .unwrap_or(false)
        })
        .expect("the HSM token");
    let s = p.open_ro_session(slot).expect("open session");
    match s.login(UserType::User, Some(&AuthPin::from(HSM_PIN))) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
        Err(e) => panic!("login on SoftHSM: {e}"),
    }
    let keys = s
        .find_objects(&[Attribute::Class(ObjectClass::SECRET_KEY)])
        .expect("find objects")
        .into_iter()
        .map(|o| {
            let attrs = s
                .get_attributes(
                    o,
                    &[
                        AttributeType::Label,
                        AttributeType::Id,
                        AttributeType::Extractable,
                        AttributeType::Sensitive,
                        AttributeType::NeverExtractable,
                        AttributeType::AlwaysSensitive,
                        AttributeType::Token,
                    ],
                )
                .expect("attributes");
            let mut k = HsmKey {
                label: String::new(),
                id: String::new(),
                extractable: true,
                sensitive: false,
                never_extractable: false,
                always_sensitive: false,
                token: false,
            };
            for a in attrs {
                match a {
                    Attribute::Label(v) => k.label = String::from_utf8_lossy(&v).into_owned(),
                    Attribute::Id(v) => k.id = String::from_utf8_lossy(&v).into_owned(),
                    Attribute::Extractable(b) => k.extractable = b,
                    Attribute::Sensitive(b) => k.sensitive = b,
                    Attribute::NeverExtractable(b) => k.never_extractable = b,
                    Attribute::AlwaysSensitive(b) => k.always_sensitive = b,
                    Attribute::Token(b) => k.token = b,
                    _ => {}
                }
            }
            k
        })
        .collect();
    drop(s);
    if owned {
        p.finalize().expect("C_Finalize of SoftHSM");
    }
    keys
}

/// The HSM keys whose label starts with `keyrotor:{name}@v`, sorted by label.
pub fn hsm_versions(name: &str) -> Vec<HsmKey> {
    let prefix = format!("keyrotor:{name}@v");
    let mut v: Vec<HsmKey> = hsm_keys()
        .into_iter()
        .filter(|k| k.label.starts_with(&prefix))
        .collect();
    v.sort_by(|a, b| a.label.cmp(&b.label));
    v
}

/// A `p11-kit server` exporting the SoftHSM token on a unix socket, in its
/// own process group (the server forks one child per connection, so an
/// outage means killing the group).
pub struct P11KitServer {
    child: Option<Child>,
    /// The socket path (stable across restarts).
    pub socket: PathBuf,
}

impl P11KitServer {
    /// Starts the server on `socket` and waits until it accepts connections.
    pub fn start(socket: &Path) -> P11KitServer {
        use std::os::unix::process::CommandExt;
        softhsm();
        assert!(
            Path::new(P11KIT_CLIENT).exists(),
            "{P11KIT_CLIENT} is missing: install p11-kit-modules (scripts/install-test-deps.sh)"
        );
        // A socket left by a killed server would make the new one fail to bind.
        let _ = std::fs::remove_file(socket);
        let child = Command::new("p11-kit")
            .args(["server", "--provider", SOFTHSM, "-f", "-n"])
            .arg(socket)
            .arg(format!("pkcs11:token={HSM_TOKEN}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start p11-kit server (install p11-kit)");
        let s = P11KitServer {
            child: Some(child),
            socket: socket.to_path_buf(),
        };
        let start = Instant::now();
        while !socket.exists() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "p11-kit server did not create {}",
                socket.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        s
    }

    /// `P11_KIT_SERVER_ADDRESS` for the client module.
    pub fn address(&self) -> String {
        format!("unix:path={}", self.socket.display())
    }

    /// Sends `sig` to the server's process group (SIGSTOP makes the HSM
    /// hang without closing its socket; SIGCONT resumes it).
    pub fn signal(&self, sig: libc::c_int) {
        if let Some(c) = &self.child {
            // SAFETY: signalling our own child's process group.
            unsafe { libc::kill(-(c.id() as libc::pid_t), sig) };
        }
    }

    /// Kills the server and every connection child (SIGKILL to the group).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let pgid = c.id() as libc::pid_t;
            // SAFETY: signalling our own child's process group.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
            let _ = c.wait();
        }
    }
}

impl Drop for P11KitServer {
    fn drop(&mut self) {
        // After an explicit kill the path may already belong to a new server.
        if self.child.is_some() {
            self.signal(libc::SIGCONT);
            self.kill();
            let _ = std::fs::remove_file(&self.socket);
        }
    }
}
