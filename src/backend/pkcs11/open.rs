//! Opening a pkcs11 slot when keyrotor starts: reading the HSM PIN, loading
//! and initialising the module, finding the token, logging in and asking
//! which mechanisms it offers — each failure worded with the configuration
//! line it comes from and what to fix.

use std::sync::atomic::AtomicBool;
use std::sync::{mpsc, Arc};
use std::time::Instant;

use cryptoki::mechanism::MechanismType;
use cryptoki::slot::Slot;
use cryptoki_sys as sys;
use parking_lot::{Mutex, RwLock};
use zeroize::Zeroizing;

use super::module::{LoadError, Module, State};
use super::pool::Conn;
use super::{ops, Inner, Pkcs11Backend};
use crate::config::{GcmMode, PinSource, Pkcs11Config, TokenSelector};
use crate::error::{rv_name, Error, Result};
use crate::keys::attrs::{CKM_KEYROTOR_AES_GCM_ENVELOPE, CKM_KEYROTOR_AES_GCM_REWRAP};

/// Opening may make several HSM calls; it gets this many `timeout`s.
const OPEN_TIMEOUTS: u32 = 3;

/// Opens the HSM token `cfg` names. Every error is an [`Error::Config`]
/// naming the configuration line and the fix.
pub fn open(cfg: &Pkcs11Config) -> Result<Pkcs11Backend> {
    let pin = read_pin(cfg)?;
    let (tx, rx) = mpsc::channel();
    let (c, p) = (cfg.clone(), pin.clone());
    // The HSM may not answer at all; the start must not hang with it.
    std::thread::Builder::new()
        .name("keyrotor-hsm-open".into())
        .spawn(move || {
            let _ = tx.send(connect(&c, &p));
        })
        .map_err(|e| Error::Internal(format!("cannot start the HSM open thread: {e}")))?;
    let wait = cfg.timeout * OPEN_TIMEOUTS;
    let opened = rx.recv_timeout(wait).map_err(|_| {
        Error::Config(format!(
            "{}: slot.pkcs11: the HSM did not answer within {wait:?} while opening {}",
            cfg.at.module,
            describe(&cfg.token)
        ))
    })??;
    let inner = Inner {
        module: opened.module,
        name: format!("pkcs11:{} ({})", opened.label, opened.file),
        cfg: cfg.clone(),
        pin,
        slot: Mutex::new((opened.conn.gen, Some(opened.slot))),
        keys: RwLock::new(Default::default()),
        mechs: opened.mechs,
        pin_refused: AtomicBool::new(false),
    };
    tracing::info!(backend = %inner.name, mechanisms = inner.mechs.len(), "HSM slot opened");
    Pkcs11Backend::new(inner, vec![opened.conn])
}

struct Opened {
    module: Arc<Module>,
    slot: Slot,
    label: String,
    file: String,
    conn: Conn,
    mechs: Vec<sys::CK_MECHANISM_TYPE>,
}

fn connect(cfg: &Pkcs11Config, pin: &str) -> Result<Opened> {
    let at = &cfg.at;
    let path = cfg.module.display();
    let module = Module::get(&cfg.module).map_err(|e| match e {
        LoadError::Load(why) => Error::Config(format!(
            "{}: slot.pkcs11.module: cannot load {path}: {why}",
            at.module
        )),
        LoadError::Init(code) => Error::Config(format!(
            "{}: slot.pkcs11.module: C_Initialize of {path} failed with {}",
            at.module,
            rv_name_or_hex(code)
        )),
    })?;
    let file = module.file_name();
    let st = module.read(Instant::now() + cfg.timeout).map_err(|_| {
        Error::Config(format!(
            "{}: slot.pkcs11: the HSM is not available",
            at.module
        ))
    })?;
    let slot = find_token(&st, &cfg.token).map_err(|e| match e {
        TokenError::Hsm(code) => Error::Config(format!(
            "{}: slot.pkcs11: cannot list the tokens of {file}: {}",
            at.token,
            rv_name_or_hex(code)
        )),
        TokenError::Missing { present } => Error::Config(missing_token(cfg, &file, &present)),
    })?;
    let label = st
        .ctx
        .get_token_info(slot)
        .map(|t| t.label().trim_end().to_string())
        .unwrap_or_default();
    let conn = ops::open_conn(&st, slot, pin).map_err(|e| {
        let code = match e {
            Error::Rv(code) => code,
            _ => sys::CKR_GENERAL_ERROR,
        };
        let fix = match &cfg.pin {
            PinSource::Env(v) => format!("check ${v}"),
            PinSource::File(p) => format!("check {}", p.display()),
        };
        Error::Config(match code {
            sys::CKR_PIN_INCORRECT => format!(
                "{}: slot.pkcs11.pin: the HSM rejected the PIN for token \"{label}\" \
                 (CKR_PIN_INCORRECT); {fix}",
                at.pin
            ),
            sys::CKR_PIN_LOCKED | sys::CKR_PIN_EXPIRED => format!(
                "{}: slot.pkcs11.pin: the HSM user PIN of token \"{label}\" cannot be used ({}); \
                 unlock or reset it on the HSM",
                at.pin,
                rv_name_or_hex(code)
            ),
            other => format!(
                "{}: slot.pkcs11: cannot open a session on token \"{label}\" of {file}: {}",
                at.token,
                rv_name_or_hex(other)
            ),
        })
    })?;
    let mechs = mechanisms(&st, slot, cfg.gcm);
    if !mechs.contains(&sys::CKM_AES_GCM) {
        tracing::warn!(
            token = %label,
            "the HSM offers no usable {}; this slot cannot encrypt",
            match cfg.gcm {
                GcmMode::Native => "CKM_AES_GCM (gcm = \"ecb\" assembles it from CKM_AES_ECB)",
                GcmMode::Ecb => "CKM_AES_ECB",
            }
        );
    }
    drop(st);
    Ok(Opened {
        module,
        slot,
        label,
        file,
        conn,
        mechs,
    })
}

/// keyrotor's mechanisms that truly work on this token.
fn mechanisms(st: &State, slot: Slot, gcm: GcmMode) -> Vec<sys::CK_MECHANISM_TYPE> {
    let has = |m, flags| ops::supports(st, slot, m, flags);
    let mut out = Vec::new();
    if has(MechanismType::AES_KEY_GEN, sys::CKF_GENERATE) {
        out.push(sys::CKM_AES_KEY_GEN);
    }
    let gcm_works = match gcm {
        GcmMode::Native => has(MechanismType::AES_GCM, sys::CKF_ENCRYPT | sys::CKF_DECRYPT),
        GcmMode::Ecb => has(MechanismType::AES_ECB, sys::CKF_ENCRYPT),
    };
    if gcm_works {
        out.extend([
            sys::CKM_AES_GCM,
            CKM_KEYROTOR_AES_GCM_ENVELOPE,
            CKM_KEYROTOR_AES_GCM_REWRAP,
        ]);
    }
    out
}

/// Why the configured token was not found.
pub(super) enum TokenError {
    /// Listing slots or tokens failed with this HSM code.
    Hsm(sys::CK_RV),
    /// No such token; these (slot id, label) pairs have one.
    Missing { present: Vec<(u64, String)> },
}

impl TokenError {
    /// The HSM code, if the HSM failed (rather than the token missing).
    pub(super) fn code(&self) -> Option<sys::CK_RV> {
        match self {
            TokenError::Hsm(code) => Some(*code),
            TokenError::Missing { .. } => None,
        }
    }
}

/// The slot holding the configured token.
pub(super) fn find_token(st: &State, token: &TokenSelector) -> Result<Slot, TokenError> {
    let hsm = |e: cryptoki::error::Error| TokenError::Hsm(super::errors::code_of(&e));
    let mut present = Vec::new();
    // Only initialised tokens: SoftHSM always shows one more, empty slot.
    for slot in st.ctx.get_slots_with_initialized_token().map_err(hsm)? {
        let label = st
            .ctx
            .get_token_info(slot)
            .map_err(hsm)?
            .label()
            .trim_end()
            .to_string();
        let hit = match token {
            TokenSelector::Label(want) => *want == label,
            TokenSelector::SlotId(id) => *id == slot.id(),
        };
        if hit {
            return Ok(slot);
        }
        present.push((slot.id(), label));
    }
    Err(TokenError::Missing { present })
}

fn missing_token(cfg: &Pkcs11Config, file: &str, present: &[(u64, String)]) -> String {
    let (key, what) = match &cfg.token {
        TokenSelector::Label(l) => ("token", format!("token \"{l}\" not found in {file}")),
        TokenSelector::SlotId(id) => ("slot_id", format!("slot {id} has no token in {file}")),
    };
    let list = if present.is_empty() {
        "no token is present (initialise one on the HSM first)".to_string()
    } else {
        let names: Vec<String> = present
            .iter()
            .map(|(id, l)| match &cfg.token {
                TokenSelector::Label(_) => format!("\"{l}\""),
                TokenSelector::SlotId(_) => format!("{id} (\"{l}\")"),
            })
            .collect();
        match &cfg.token {
            TokenSelector::Label(_) => format!("tokens present: {}", names.join(", ")),
            TokenSelector::SlotId(_) => format!("slots with a token: {}", names.join(", ")),
        }
    };
    format!("{}: slot.pkcs11.{key}: {what}; {list}", cfg.at.token)
}

fn describe(token: &TokenSelector) -> String {
    match token {
        TokenSelector::Label(l) => format!("token \"{l}\""),
        TokenSelector::SlotId(id) => format!("slot {id}"),
    }
}

fn rv_name_or_hex(code: sys::CK_RV) -> String {
    match rv_name(code) {
        "CKR_(other)" => format!("CK_RV {code:#x}"),
        name => name.to_string(),
    }
}

/// The HSM user PIN from the environment or a file (one trailing newline
/// removed). The PIN never appears in a message.
fn read_pin(cfg: &Pkcs11Config) -> Result<Zeroizing<String>> {
    let at = &cfg.at.pin;
    let pin = match &cfg.pin {
        PinSource::Env(var) => match std::env::var(var) {
            Ok(v) => Zeroizing::new(v),
            Err(std::env::VarError::NotPresent) => {
                return Err(Error::Config(format!(
                    "{at}: slot.pkcs11.pin: environment variable {var} is not set; expected it \
                     to hold the HSM user PIN"
                )))
            }
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err(Error::Config(format!(
                    "{at}: slot.pkcs11.pin: environment variable {var} is not valid UTF-8"
                )))
            }
        },
        PinSource::File(path) => match std::fs::read(path) {
            Ok(bytes) => {
                let bytes = Zeroizing::new(bytes);
                match std::str::from_utf8(&bytes) {
                    Ok(s) => Zeroizing::new(
                        s.strip_suffix('\n')
                            .map(|s| s.strip_suffix('\r').unwrap_or(s))
                            .unwrap_or(s)
                            .to_string(),
                    ),
                    Err(_) => {
                        return Err(Error::Config(format!(
                            "{at}: slot.pkcs11.pin: PIN file {} is not valid UTF-8",
                            path.display()
                        )))
                    }
                }
            }
            Err(e) => {
                return Err(Error::Config(format!(
                    "{at}: slot.pkcs11.pin: cannot read PIN file {}: {e}",
                    path.display()
                )))
            }
        },
    };
    if pin.is_empty() {
        return Err(Error::Config(format!(
            "{at}: slot.pkcs11.pin: the HSM user PIN is empty"
        )));
    }
    Ok(pin)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::pkcs11::Pkcs11Locations;
    use crate::config::CallMode;
    use std::time::Duration;

    fn cfg(pin: PinSource) -> Pkcs11Config {
        Pkcs11Config {
            module: "/m.so".into(),
            token: TokenSelector::Label("HSM".into()),
            pin,
            pool_size: 1,
            timeout: Duration::from_secs(1),
            gcm: GcmMode::Native,
            calls: CallMode::Worker,
            at: Pkcs11Locations {
                module: "k.toml line 6, column 10".into(),
                token: "k.toml line 7, column 9".into(),
                pin: "k.toml line 8, column 7".into(),
            },
        }
    }

    fn config_error(r: Result<Zeroizing<String>>) -> String {
        match r {
            Err(Error::Config(m)) => m,
            Err(e) => panic!("expected a configuration error, got {e:?}"),
            Ok(_) => panic!("expected a configuration error, got a PIN"),
        }
    }

    #[test]
    fn pins_come_from_files_without_their_newline() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pin");
        std::fs::write(&p, "1234\r\n").unwrap();
        assert_eq!(
            read_pin(&cfg(PinSource::File(p.clone()))).unwrap().as_str(),
            "1234"
        );
        std::fs::write(&p, "1234\n\n").unwrap();
        assert_eq!(
            read_pin(&cfg(PinSource::File(p.clone()))).unwrap().as_str(),
            "1234\n"
        );
        std::fs::write(&p, "\n").unwrap();
        assert_eq!(
            config_error(read_pin(&cfg(PinSource::File(p)))),
            "k.toml line 8, column 7: slot.pkcs11.pin: the HSM user PIN is empty"
        );
        let gone = dir.path().join("gone");
        let e = config_error(read_pin(&cfg(PinSource::File(gone.clone()))));
        assert!(
            e.starts_with(&format!(
                "k.toml line 8, column 7: slot.pkcs11.pin: cannot read PIN file {}: ",
                gone.display()
            )),
            "{e}"
        );
    }

    #[test]
    fn an_unset_pin_variable_is_named() {
        let var = "KEYROTOR_TEST_SURELY_UNSET_HSM_PIN";
        assert_eq!(
            config_error(read_pin(&cfg(PinSource::Env(var.into())))),
            format!(
                "k.toml line 8, column 7: slot.pkcs11.pin: environment variable {var} is not \
                 set; expected it to hold the HSM user PIN"
            )
        );
    }

    #[test]
    fn missing_tokens_list_what_is_there() {
        let present = vec![(17, "HSM-A".to_string()), (18, "B".to_string())];
        let c = cfg(PinSource::Env("P".into()));
        assert_eq!(
            missing_token(&c, "libsofthsm2.so", &present),
            "k.toml line 7, column 9: slot.pkcs11.token: token \"HSM\" not found in \
             libsofthsm2.so; tokens present: \"HSM-A\", \"B\""
        );
        let by_id = Pkcs11Config {
            token: TokenSelector::SlotId(3),
            ..c.clone()
        };
        assert_eq!(
            missing_token(&by_id, "x.so", &present),
            "k.toml line 7, column 9: slot.pkcs11.slot_id: slot 3 has no token in x.so; slots \
             with a token: 17 (\"HSM-A\"), 18 (\"B\")"
        );
        assert!(missing_token(&c, "x.so", &[])
            .ends_with("no token is present (initialise one on the HSM first)"));
    }
}
