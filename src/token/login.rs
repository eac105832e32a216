//! Login, logout, PIN management and token initialisation for one slot.
//!
//! The PIN is never compared against a stored hash: it unwraps the token's
//! storage key (Argon2id + AES-GCM), and a wrong PIN fails that unwrap.
//! Failure counters live in the store so every process sees the same lock.

use std::sync::atomic::Ordering;

use cryptoki_sys as sys;
use sys::CK_USER_TYPE;

use super::slot::{Slot, Unlocked, LOGIN_PUBLIC, LOGIN_SO, LOGIN_USER};
use crate::error::{rv, Error, Result};
use crate::store::crypt::{
    unwrap_with_pin, wrap_with_pin, DataKeys, KdfParams, PinRole, StorageKey,
};
use crate::store::{AuditDraft, TokenRecord};

/// Facts about the application's open sessions that login rules depend on.
pub struct SessionFacts {
    /// Sessions open on this slot.
    pub count: usize,
    /// Read-only sessions among them.
    pub read_only: usize,
}

impl Slot {
    fn check_pin_len(&self, pin: &[u8]) -> Result<()> {
        if pin.len() < self.config.pin_min_len || pin.len() > self.config.pin_max_len {
            return rv(sys::CKR_PIN_LEN_RANGE);
        }
        Ok(())
    }

    fn failures(rec: &TokenRecord, role: PinRole) -> u32 {
        match role {
            PinRole::So => rec.so_failures,
            PinRole::User => rec.user_failures,
        }
    }

    /// Unwraps the storage key with `pin` for `role`, keeping the shared
    /// failure counter honest. Returns the key on success.
    fn verify_pin(&self, role: PinRole, pin: &[u8]) -> Result<StorageKey> {
        let rec = self
            .refresh_token()?
            .map_or_else(|| rv(sys::CKR_TOKEN_NOT_RECOGNIZED), Ok)?;
        let max = self.config.max_login_failures;
        if max > 0 && Self::failures(&rec, role) >= max {
            return rv(sys::CKR_PIN_LOCKED);
        }
        let wrapped = match role {
            PinRole::So => Some(&rec.so_key),
            PinRole::User => rec.user_key.as_ref(),
        }
        .map_or_else(|| rv(sys::CKR_USER_PIN_NOT_INITIALIZED), Ok)?;
        match unwrap_with_pin(wrapped, pin, &self.token_id, role) {
            Ok(key) => {
                if Self::failures(&rec, role) > 0 {
                    self.store_call(move |s| async move { s.reset_login_failures(role).await })?;
                    self.refresh_token()?;
                }
                Ok(key)
            }
            Err(Error::Rv(sys::CKR_PIN_INCORRECT)) => {
                let n =
                    self.store_call(move |s| async move { s.record_login_failure(role).await })?;
                self.refresh_token()?;
                tracing::info!(slot = self.id, role = ?role, failures = n, "login failed: incorrect PIN");
                rv(sys::CKR_PIN_INCORRECT)
            }
            Err(e) => Err(e),
        }
    }

    /// `C_Login` for the application.
    pub fn login(&self, user: CK_USER_TYPE, pin: &[u8], facts: &SessionFacts) -> Result<()> {
        let _g = self.login_lock.lock();
        let (role, state) = match user {
            sys::CKU_SO => (PinRole::So, LOGIN_SO),
            sys::CKU_USER => (PinRole::User, LOGIN_USER),
            _ => return rv(sys::CKR_USER_TYPE_INVALID),
        };
        match self.login_state() {
            LOGIN_PUBLIC => {}
            s if s == state => return rv(sys::CKR_USER_ALREADY_LOGGED_IN),
            _ => return rv(sys::CKR_USER_ANOTHER_ALREADY_LOGGED_IN),
        }
        if role == PinRole::So && facts.read_only > 0 {
            return rv(sys::CKR_SESSION_READ_ONLY_EXISTS);
        }
        let kek = self.verify_pin(role, pin)?;
        self.unlock(kek)?;
        self.login.store(state, Ordering::Release);
        tracing::info!(slot = self.id, role = ?role, "logged in");
        Ok(())
    }

    /// Re-verifies the user PIN for `CKU_CONTEXT_SPECIFIC`.
    pub fn verify_user_pin(&self, pin: &[u8]) -> Result<()> {
        let _g = self.login_lock.lock();
        self.verify_pin(PinRole::User, pin).map(drop)
    }

    /// `C_Logout` (and the implicit logout when the last session closes).
    pub fn logout(&self) -> Result<()> {
        let _g = self.login_lock.lock();
        if self.login_state() == LOGIN_PUBLIC {
            return rv(sys::CKR_USER_NOT_LOGGED_IN);
        }
        self.login.store(LOGIN_PUBLIC, Ordering::Release);
        self.set_unlocked(None);
        self.objects.forget_secrets();
        self.objects.remove_private_session_objects();
        tracing::info!(slot = self.id, "logged out");
        Ok(())
    }

    /// `C_InitToken`: creates the token, or wipes it when the SO PIN matches.
    pub fn init_token(&self, so_pin: &[u8], label: &str, facts: &SessionFacts) -> Result<()> {
        let _g = self.login_lock.lock();
        if facts.count > 0 {
            return rv(sys::CKR_SESSION_EXISTS);
        }
        // Re-initialising: the SO PIN is checked, not its length
        // (C_InitToken's codes have CKR_PIN_INCORRECT, not CKR_PIN_LEN_RANGE).
        if self.refresh_token()?.is_some() {
            self.verify_pin(PinRole::So, so_pin)?;
        } else {
            self.check_pin_len(so_pin)?;
        }
        let key = StorageKey::generate()?;
        let so_key = wrap_with_pin(
            &key,
            so_pin,
            &self.token_id,
            PinRole::So,
            KdfParams::from_env(),
        )?;
        let (first_data_key, _) = DataKeys::new_key(&key, &self.token_id, 1)?;
        let audit = self.draft(
            "token.initialized",
            None,
            None,
            serde_json::json!({ "label": label }),
        );
        let mut serial = [0u8; 8];
        crate::mech::primitives::rng::fill(&mut serial)?;
        let rec = TokenRecord {
            label: label.to_string(),
            serial: serial.iter().map(|b| format!("{b:02x}")).collect(),
            so_key,
            user_key: None,
            so_failures: 0,
            user_failures: 0,
            initialized_at: now_secs(),
        };
        self.store_call(move |s| async move { s.init_token(&rec, &first_data_key, &audit).await })?;
        self.forget_token_contents();
        self.set_unlocked(None);
        self.login.store(LOGIN_PUBLIC, Ordering::Release);
        self.refresh_token()?;
        tracing::info!(slot = self.id, "token initialised");
        Ok(())
    }

    /// `C_InitPIN`: the SO sets the user PIN (also unlocks a locked user PIN).
    pub fn init_user_pin(&self, pin: &[u8]) -> Result<()> {
        let _g = self.login_lock.lock();
        if self.login_state() != LOGIN_SO {
            return rv(sys::CKR_USER_NOT_LOGGED_IN);
        }
        self.check_pin_len(pin)?;
        let keys = self.unlocked()?;
        let wrapped = wrap_with_pin(
            &keys.kek,
            pin,
            &self.token_id,
            PinRole::User,
            KdfParams::from_env(),
        )?;
        let audit = self.draft(
            "pin.initialized",
            None,
            None,
            serde_json::json!({ "role": "user" }),
        );
        self.store_call(move |s| async move {
            s.set_pin(PinRole::User, &wrapped).await?;
            s.reset_login_failures(PinRole::User).await?;
            s.append_audit(&audit).await
        })?;
        self.refresh_token()?;
        tracing::info!(slot = self.id, "user PIN initialised");
        Ok(())
    }

    /// `C_SetPIN`: changes the SO PIN when the SO is logged in, else the user's.
    pub fn set_pin(&self, old: &[u8], new: &[u8]) -> Result<()> {
        let _g = self.login_lock.lock();
        let role = if self.login_state() == LOGIN_SO {
            PinRole::So
        } else {
            PinRole::User
        };
        self.check_pin_len(new)?;
        let key = self.verify_pin(role, old)?;
        let wrapped = wrap_with_pin(&key, new, &self.token_id, role, KdfParams::from_env())?;
        let audit = self.draft(
            "pin.changed",
            None,
            None,
            serde_json::json!({ "role": role_name(role) }),
        );
        self.store_call(move |s| async move {
            s.set_pin(role, &wrapped).await?;
            s.append_audit(&audit).await
        })?;
        self.refresh_token()?;
        tracing::info!(slot = self.id, role = ?role, "PIN changed");
        Ok(())
    }

    /// `CKF_*` token flags describing PIN state.
    pub fn pin_flags(&self) -> sys::CK_FLAGS {
        let guard = self.token.read();
        let Some(rec) = guard.as_ref() else { return 0 };
        let max = self.config.max_login_failures;
        let mut f = sys::CKF_TOKEN_INITIALIZED;
        if rec.user_key.is_some() {
            f |= sys::CKF_USER_PIN_INITIALIZED;
        }
        let mut counts = |n: u32, low, last, locked| {
            if n > 0 {
                f |= low;
            }
            if max > 0 && n + 1 == max {
                f |= last;
            }
            if max > 0 && n >= max {
                f |= locked;
            }
        };
        counts(
            rec.user_failures,
            sys::CKF_USER_PIN_COUNT_LOW,
            sys::CKF_USER_PIN_FINAL_TRY,
            sys::CKF_USER_PIN_LOCKED,
        );
        counts(
            rec.so_failures,
            sys::CKF_SO_PIN_COUNT_LOW,
            sys::CKF_SO_PIN_FINAL_TRY,
            sys::CKF_SO_PIN_LOCKED,
        );
        f
    }
}

fn role_name(role: PinRole) -> &'static str {
    match role {
        PinRole::So => "so",
        PinRole::User => "user",
    }
}

impl Slot {
    /// Unlocks the data keys with the token master key.
    pub fn unlock(&self, kek: StorageKey) -> Result<()> {
        let recs = self.store_call(|s| async move { s.load_data_keys().await })?;
        let data = DataKeys::unlock(&kek, &self.token_id, &recs)?;
        self.set_unlocked(Some(Unlocked {
            kek: std::sync::Arc::new(kek),
            data,
        }));
        Ok(())
    }

    /// An audit entry for this process.
    pub fn draft(
        &self,
        event: &str,
        key: Option<&str>,
        version: Option<u32>,
        detail: serde_json::Value,
    ) -> AuditDraft {
        AuditDraft {
            at: crate::keys::clock::now_ms(),
            actor: actor(),
            event: event.to_string(),
            key_name: key.map(str::to_string),
            version,
            detail: detail.to_string(),
        }
    }
}

/// Who acts: the program and its process id.
pub fn actor() -> String {
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "unknown".into());
    format!("{exe}[{}]", std::process::id())
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
