//! Plaintext key material as operations use it: the raw bytes plus the
//! prepared cipher state, built once so the hot path does no key schedule.

use std::sync::Arc;

use cryptoki_sys as sys;
use zeroize::Zeroizing;

use super::primitives::aes_key::AesKey;
use crate::error::{rv, Result};

/// Unsealed secret of a key or data object. Zeroized on drop.
pub struct KeyMaterial {
    raw: Zeroizing<Vec<u8>>,
    aes: Option<Arc<AesKey>>,
}

impl KeyMaterial {
    /// Prepares `raw` for use as a key of `key_type` (`None` for data objects).
    pub fn new(key_type: Option<sys::CK_KEY_TYPE>, raw: Zeroizing<Vec<u8>>) -> Result<KeyMaterial> {
        let aes = match key_type {
            Some(sys::CKK_AES) => Some(Arc::new(AesKey::new(&raw)?)),
            _ => None,
        };
        Ok(KeyMaterial { raw, aes })
    }

    /// The prepared AES key; `CKR_KEY_TYPE_INCONSISTENT` for other key types.
    pub fn aes(&self) -> Result<&Arc<AesKey>> {
        match &self.aes {
            Some(k) => Ok(k),
            None => rv(sys::CKR_KEY_TYPE_INCONSISTENT),
        }
    }

    /// The raw secret bytes (for HMAC keys, wrapping and extractable reads).
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// A private copy with its own prepared state, so threads using the same
    /// key never share (and bounce) reference counts or cache lines.
    pub fn deep_clone(&self, key_type: Option<sys::CK_KEY_TYPE>) -> Result<KeyMaterial> {
        KeyMaterial::new(key_type, Zeroizing::new(self.raw.to_vec()))
    }
}
