//! The versions of a rotating key as an operation sees them: prepared
//! material per usable version, newest first, with the rules that pick a
//! version for encryption and decryption.

use std::sync::Arc;

use cryptoki_sys as sys;
use sys::CK_RV;

use super::key::KeyMaterial;
use crate::error::{rv, Result};
use crate::keys::attrs::*;
use crate::keys::lifecycle::{State, Usage};

/// One version inside a [`RingKeys`].
pub struct RingVersion {
    /// Version number.
    pub version: u32,
    /// Lifecycle state.
    pub state: State,
    /// Administrative hold (Disabled).
    pub held: bool,
    /// What it may do now.
    pub usage: Usage,
    /// Prepared material; `None` once destroyed.
    pub material: Option<Arc<KeyMaterial>>,
}

/// A rotating key's versions, newest first, private to one session.
pub struct RingKeys {
    /// The key's unique id (its current object's `CKA_UNIQUE_ID`).
    pub key_uid: Arc<str>,
    /// The Active version number.
    pub active: u32,
    /// Every version, newest first.
    pub versions: Vec<RingVersion>,
}

/// The return code that explains why `v` refuses to decrypt.
pub fn refusal(v: &RingVersion) -> CK_RV {
    if v.held {
        return CKR_KEYROTOR_VERSION_DISABLED;
    }
    match v.state {
        State::Revoked => CKR_KEYROTOR_VERSION_REVOKED,
        State::Destroyed => CKR_KEYROTOR_VERSION_DESTROYED,
        State::Compromised => CKR_KEYROTOR_VERSION_COMPROMISED,
        _ if v.material.is_none() => CKR_KEYROTOR_VERSION_DESTROYED,
        _ => sys::CKR_KEY_FUNCTION_NOT_PERMITTED,
    }
}

impl RingKeys {
    /// The Active version's number and material.
    pub fn active(&self) -> Result<(u32, &Arc<KeyMaterial>)> {
        match self.versions.iter().find(|v| v.version == self.active) {
            Some(v) if v.usage.encrypt => match &v.material {
                Some(m) => Ok((v.version, m)),
                None => rv(CKR_KEYROTOR_VERSION_DESTROYED),
            },
            Some(v) => rv(refusal(v)),
            None => rv(sys::CKR_KEY_HANDLE_INVALID),
        }
    }

    /// The material of `version` for decryption (`rewrap`: inside the
    /// rewrap mechanism, which compromised versions may allow).
    pub fn for_decrypt(&self, version: u32, rewrap: bool) -> Result<&Arc<KeyMaterial>> {
        let Some(v) = self.versions.iter().find(|v| v.version == version) else {
            return rv(sys::CKR_ENCRYPTED_DATA_INVALID);
        };
        let allowed = if rewrap {
            v.usage.rewrap
        } else {
            v.usage.decrypt
        };
        match (&v.material, allowed) {
            (Some(m), true) => Ok(m),
            _ => rv(refusal(v)),
        }
    }

    /// Versions that may decrypt plain GCM by trial, newest first.
    pub fn decrypt_candidates(&self) -> Vec<(u32, Arc<KeyMaterial>)> {
        self.versions
            .iter()
            .filter(|v| v.usage.decrypt)
            .filter_map(|v| v.material.clone().map(|m| (v.version, m)))
            .collect()
    }
}

/// A key as an operation holds it: a plain key, or a rotating key's ring.
#[derive(Clone)]
pub enum KeyRef {
    /// An ordinary key (session keys, imported keys, version objects).
    Plain(Arc<KeyMaterial>),
    /// A rotating key reached through its current object.
    Ring(Arc<RingKeys>),
}

impl KeyRef {
    /// The material that encrypts: the key itself or the Active version.
    pub fn encrypting(&self) -> Result<(Option<u32>, &Arc<KeyMaterial>)> {
        match self {
            KeyRef::Plain(m) => Ok((None, m)),
            KeyRef::Ring(r) => r.active().map(|(v, m)| (Some(v), m)),
        }
    }
}
