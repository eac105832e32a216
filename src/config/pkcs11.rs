//! `[slot.pkcs11]`: the HSM a `backend = "pkcs11"` slot forwards to — its
//! public types and their validation (with the file/line messages the rest
//! of the configuration uses).
//!
//! ```toml
//! [[slot]]
//! label = "hsm"
//! backend = "pkcs11"
//! store = "/var/lib/keyrotor/hsm.sqlite"
//! [slot.pkcs11]
//! module = "/usr/lib/softhsm/libsofthsm2.so"  # must exist
//! token = "HSM-TOKEN"                          # or slot_id = 3 (exactly one)
//! pin = { env = "HSM_PIN" }                   # or { file = "/run/secrets/hsm-pin" }
//! pool_size = 4                                # optional, 1..=64, default 4
//! timeout = "5s"                               # optional, per HSM call, default 5s
//! gcm = "native"                               # optional: "native" | "ecb"
//! calls = "worker"                             # optional: "worker" | "inline"
//! ```
//!
//! The PIN itself is never written in the configuration and never appears
//! in a message: only where to read it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::model::{line_col, parse_duration};
use super::{BackendKind, Validator};
use crate::error::Result;

/// Default `pool_size`: HSM sessions kept per slot.
pub const DEFAULT_POOL_SIZE: usize = 4;
/// Largest `pool_size` accepted.
pub const MAX_POOL_SIZE: usize = 64;
/// Default `timeout` of one HSM call.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest `timeout` accepted (a caller must not wait longer than this).
pub const MAX_TIMEOUT: Duration = Duration::from_secs(600);

/// Keys accepted in `[slot.pkcs11]`.
pub(super) const PKCS11_KEYS: &[&str] = &[
    "module",
    "token",
    "slot_id",
    "pin",
    "pool_size",
    "timeout",
    "gcm",
    "calls",
];

/// `[slot.pkcs11]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPkcs11 {
    pub module: Option<Spanned<String>>,
    pub token: Option<Spanned<String>>,
    pub slot_id: Option<Spanned<u64>>,
    // Read as a plain value so a PIN written inline is never echoed by a
    // serde "invalid type" message.
    pub pin: Option<Spanned<toml::Value>>,
    pub pool_size: Option<Spanned<i64>>,
    pub timeout: Option<Spanned<String>>,
    pub gcm: Option<Spanned<String>>,
    pub calls: Option<Spanned<String>>,
}

/// The HSM of a `backend = "pkcs11"` slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pkcs11Config {
    /// Path of the HSM's PKCS#11 library (exists when validated).
    pub module: PathBuf,
    /// Which token of that library holds the keys.
    pub token: TokenSelector,
    /// Where the HSM user PIN is read from at start.
    pub pin: PinSource,
    /// HSM sessions kept open for this slot (1..=64).
    pub pool_size: usize,
    /// Longest a caller waits for one HSM call.
    pub timeout: Duration,
    /// Where AES-GCM is computed.
    pub gcm: GcmMode,
    /// Which thread makes the HSM calls.
    pub calls: CallMode,
    /// `"{origin} line L, column C"` of the keys, for messages at start.
    pub at: Pkcs11Locations,
}

/// Where each key of `[slot.pkcs11]` was written (`"{origin} line L, column
/// C"`), so errors found when the HSM is opened can point at the line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pkcs11Locations {
    /// `module = ...`.
    pub module: String,
    /// `token = ...` or `slot_id = ...`.
    pub token: String,
    /// `pin = ...`.
    pub pin: String,
}

/// How the token is chosen among the module's slots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSelector {
    /// The token whose `CK_TOKEN_INFO.label` (blank padding removed) is this.
    Label(String),
    /// The token in this slot id.
    SlotId(u64),
}

/// Where the HSM user PIN comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinSource {
    /// The value of this environment variable.
    Env(String),
    /// The contents of this file (one trailing newline removed).
    File(PathBuf),
}

/// Where AES-GCM is computed for a pkcs11 slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GcmMode {
    /// `CKM_AES_GCM` inside the HSM (default).
    Native,
    /// GCM assembled by keyrotor from the HSM's `CKM_AES_ECB` block function
    /// (for HSMs or proxies that cannot carry `CK_GCM_PARAMS`, e.g. p11-kit
    /// 0.24): the key stays in the HSM; the counter keystream and the GHASH
    /// key pass through keyrotor's memory.
    Ecb,
}

/// Which thread makes the HSM calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallMode {
    /// Pooled worker threads; the caller waits at most `timeout` (default).
    Worker,
    /// The caller's own thread: faster, but a call the HSM never answers
    /// holds that caller past `timeout` (later callers still fail fast).
    Inline,
}

/// Parses `timeout`: a [`parse_duration`] form or `<n>ms`.
pub fn parse_timeout(s: &str) -> std::result::Result<Duration, String> {
    if let Some(ms) = s.strip_suffix("ms") {
        if !ms.is_empty() && ms.bytes().all(|b| b.is_ascii_digit()) {
            return ms
                .parse::<u64>()
                .map(Duration::from_millis)
                .map_err(|_| format!("duration \"{s}\" is too large"));
        }
    }
    parse_duration(s).map_err(|e| e.replace("e.g. \"90d\"", "e.g. \"5s\", \"500ms\""))
}

impl Validator<'_> {
    /// `slot.backend` with its `[slot.pkcs11]` table.
    pub(super) fn backend_kind(
        &self,
        raw: &Spanned<String>,
        pkcs11: Option<Spanned<RawPkcs11>>,
    ) -> Result<BackendKind> {
        const EXPECTED: &str = "expected \"software\" or \"pkcs11\"";
        let kind = match raw.get_ref().as_str() {
            "software" => None,
            "pkcs11" => Some(()),
            name @ ("aws-kms" | "vault" | "azure") => {
                return self.err(
                    Some(raw.span()),
                    &format!(
                        "slot.backend \"{name}\" is not available in this build yet; {EXPECTED}"
                    ),
                )
            }
            other => {
                return self.err(
                    Some(raw.span()),
                    &format!("slot.backend \"{other}\" is not a backend; {EXPECTED}"),
                )
            }
        };
        match (kind, pkcs11) {
            (None, None) => Ok(BackendKind::Software),
            (None, Some(table)) => self.err(
                Some(table.span()),
                "[slot.pkcs11] is only read when backend = \"pkcs11\"; remove it or set backend = \"pkcs11\"",
            ),
            (Some(()), None) => self.err(
                Some(raw.span()),
                "slot.backend \"pkcs11\" needs a [slot.pkcs11] table with module, token (or slot_id) and pin",
            ),
            (Some(()), Some(table)) => {
                let span = table.span();
                Ok(BackendKind::Pkcs11(self.pkcs11(table.into_inner(), span)?))
            }
        }
    }

    fn at(&self, span: std::ops::Range<usize>) -> String {
        let (line, column) = line_col(self.text, span.start);
        format!("{} line {line}, column {column}", self.origin)
    }

    fn pkcs11(&self, raw: RawPkcs11, table: std::ops::Range<usize>) -> Result<Pkcs11Config> {
        let Some(module) = raw.module else {
            return self.err(
                Some(table),
                "[slot.pkcs11] needs module = \"/path/to/the/hsm/pkcs11-library.so\"",
            );
        };
        let module_path = self.module_path(&module)?;
        let (token, token_at) = match (raw.token, raw.slot_id) {
            (Some(label), None) => {
                let l = label.get_ref();
                if l.is_empty() || l.len() > 32 {
                    return self.err(
                        Some(label.span()),
                        &format!(
                            "slot.pkcs11.token must be a token label of 1..=32 bytes (got {} bytes)",
                            l.len()
                        ),
                    );
                }
                (TokenSelector::Label(l.clone()), self.at(label.span()))
            }
            (None, Some(id)) => (TokenSelector::SlotId(*id.get_ref()), self.at(id.span())),
            (Some(_), Some(id)) => {
                return self.err(
                    Some(id.span()),
                    "[slot.pkcs11] has both token and slot_id; expected exactly one of them",
                )
            }
            (None, None) => {
                return self.err(
                    Some(table),
                    "[slot.pkcs11] needs token = \"LABEL\" or slot_id = N to choose the HSM token",
                )
            }
        };
        let Some(pin) = raw.pin else {
            return self.err(
                Some(table),
                "[slot.pkcs11] needs pin = { env = \"VAR\" } or pin = { file = \"/path\" } for the HSM user PIN",
            );
        };
        let pin_at = self.at(pin.span());
        let pin = self.pin(pin)?;
        let pool_size = match raw.pool_size {
            None => DEFAULT_POOL_SIZE,
            Some(p) => match usize::try_from(*p.get_ref()) {
                Ok(n) if (1..=MAX_POOL_SIZE).contains(&n) => n,
                _ => {
                    return self.err(
                        Some(p.span()),
                        &format!(
                            "slot.pkcs11.pool_size must be 1..={MAX_POOL_SIZE} (got {})",
                            p.get_ref()
                        ),
                    )
                }
            },
        };
        let timeout = match raw.timeout {
            None => DEFAULT_TIMEOUT,
            Some(t) => match parse_timeout(t.get_ref()) {
                Ok(d) if d.is_zero() || d > MAX_TIMEOUT => {
                    return self.err(
                        Some(t.span()),
                        "slot.pkcs11.timeout must be more than zero and at most 10m, e.g. \"5s\"",
                    )
                }
                Ok(d) => d,
                Err(e) => return self.err(Some(t.span()), &format!("slot.pkcs11.timeout: {e}")),
            },
        };
        let gcm = match raw.gcm.as_ref().map(|g| (g.get_ref().as_str(), g.span())) {
            None | Some(("native", _)) => GcmMode::Native,
            Some(("ecb", _)) => GcmMode::Ecb,
            Some((other, span)) => {
                return self.err(
                    Some(span),
                    &format!(
                        "slot.pkcs11.gcm \"{other}\" is not a mode; expected \"native\" or \"ecb\""
                    ),
                )
            }
        };
        let calls = match raw.calls.as_ref().map(|c| (c.get_ref().as_str(), c.span())) {
            None | Some(("worker", _)) => CallMode::Worker,
            Some(("inline", _)) => CallMode::Inline,
            Some((other, span)) => {
                return self.err(
                    Some(span),
                    &format!(
                        "slot.pkcs11.calls \"{other}\" is not a mode; expected \"worker\" or \"inline\""
                    ),
                )
            }
        };
        Ok(Pkcs11Config {
            at: Pkcs11Locations {
                module: self.at(module.span()),
                token: token_at,
                pin: pin_at,
            },
            module: module_path,
            token,
            pin,
            pool_size,
            timeout,
            gcm,
            calls,
        })
    }

    fn module_path(&self, module: &Spanned<String>) -> Result<PathBuf> {
        let s = module.get_ref();
        if s.is_empty() {
            return self.err(
                Some(module.span()),
                "slot.pkcs11.module is empty; expected the path of the HSM's PKCS#11 library",
            );
        }
        let path = self.base.join(Path::new(s));
        if !path.is_file() {
            return self.err(
                Some(module.span()),
                &format!(
                    "slot.pkcs11.module: module not found: {}; expected the path of the HSM's \
                     PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so",
                    path.display()
                ),
            );
        }
        Ok(path)
    }

    fn pin(&self, raw: Spanned<toml::Value>) -> Result<PinSource> {
        const FORM: &str = "expected pin = { env = \"VAR\" } or pin = { file = \"/path\" }; \
                            the PIN itself is never written in the configuration";
        let span = Some(raw.span());
        let toml::Value::Table(t) = raw.into_inner() else {
            return self.err(span, &format!("slot.pkcs11.pin: {FORM}"));
        };
        let mut entries = t.into_iter();
        let (Some((key, toml::Value::String(value))), None) = (entries.next(), entries.next())
        else {
            return self.err(span, &format!("slot.pkcs11.pin: {FORM}"));
        };
        match key.as_str() {
            "env" if !value.is_empty() => Ok(PinSource::Env(value)),
            "file" if !value.is_empty() => Ok(PinSource::File(self.base.join(value))),
            _ => self.err(span, &format!("slot.pkcs11.pin: {FORM}")),
        }
    }
}

#[cfg(test)]
mod tests;
