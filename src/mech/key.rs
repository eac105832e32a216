//! Key material as operations use it: either plaintext bytes with the
//! prepared cipher state (software keys; built once so the hot path does no
//! key schedule), or a reference to a key inside a device backend.

use std::sync::Arc;

use cryptoki_sys as sys;
use zeroize::Zeroizing;

use super::primitives::aes_key::AesKey;
use super::primitives::gcm;
use crate::backend::KeyBackend;
use crate::error::{rv, Result};

enum Secret {
    Soft {
        raw: Zeroizing<Vec<u8>>,
        aes: Option<Arc<AesKey>>,
    },
    Device {
        backend: Arc<dyn KeyBackend>,
        reference: Zeroizing<Vec<u8>>,
    },
}

/// Unsealed secret of a key or data object. Zeroized on drop.
pub struct KeyMaterial {
    secret: Secret,
    key_type: Option<sys::CK_KEY_TYPE>,
}

impl KeyMaterial {
    /// Prepares `raw` for use as a key of `key_type` (`None` for data objects).
    pub fn new(key_type: Option<sys::CK_KEY_TYPE>, raw: Zeroizing<Vec<u8>>) -> Result<KeyMaterial> {
        let aes = match key_type {
            Some(sys::CKK_AES) => Some(Arc::new(AesKey::new(&raw)?)),
            _ => None,
        };
        Ok(KeyMaterial {
            secret: Secret::Soft { raw, aes },
            key_type,
        })
    }

    /// A key living inside `backend`, named by `reference`.
    pub fn device(
        backend: Arc<dyn KeyBackend>,
        key_type: Option<sys::CK_KEY_TYPE>,
        reference: Zeroizing<Vec<u8>>,
    ) -> KeyMaterial {
        KeyMaterial {
            secret: Secret::Device { backend, reference },
            key_type,
        }
    }

    /// The prepared AES key of a software key; `CKR_KEY_TYPE_INCONSISTENT`
    /// for other key types, `CKR_KEY_FUNCTION_NOT_PERMITTED` for device keys
    /// (block modes are not offered on device slots).
    pub fn aes(&self) -> Result<&Arc<AesKey>> {
        match &self.secret {
            Secret::Soft { aes: Some(k), .. } => Ok(k),
            Secret::Soft { aes: None, .. } => rv(sys::CKR_KEY_TYPE_INCONSISTENT),
            Secret::Device { .. } => rv(sys::CKR_KEY_FUNCTION_NOT_PERMITTED),
        }
    }

    /// Checks this is an AES key (software or device) for GCM.
    pub fn check_aes(&self) -> Result<()> {
        match &self.secret {
            Secret::Soft { aes: Some(_), .. } => Ok(()),
            Secret::Device { .. } if self.key_type == Some(sys::CKK_AES) => Ok(()),
            _ => rv(sys::CKR_KEY_TYPE_INCONSISTENT),
        }
    }

    /// The raw secret bytes (HMAC keys, wrapping, extractable reads).
    /// Device keys never leave the device: `CKR_KEY_UNEXTRACTABLE`.
    pub fn raw(&self) -> Result<&[u8]> {
        match &self.secret {
            Secret::Soft { raw, .. } => Ok(raw),
            Secret::Device { .. } => rv(sys::CKR_KEY_UNEXTRACTABLE),
        }
    }

    /// AES-GCM encryption, in process or in the device.
    pub fn gcm_encrypt(
        &self,
        iv: &[u8],
        aad: &[u8],
        pt: &[u8],
        tag_len: usize,
        out: &mut [u8],
    ) -> Result<usize> {
        match &self.secret {
            Secret::Device { backend, reference } => {
                backend.gcm_encrypt(reference, iv, aad, pt, tag_len, out)
            }
            Secret::Soft { .. } => gcm::encrypt(self.aes()?, iv, aad, pt, tag_len, out),
        }
    }

    /// AES-GCM decryption, in process or in the device.
    pub fn gcm_decrypt(
        &self,
        iv: &[u8],
        aad: &[u8],
        ct: &[u8],
        tag_len: usize,
        out: &mut [u8],
    ) -> Result<usize> {
        match &self.secret {
            Secret::Device { backend, reference } => {
                backend.gcm_decrypt(reference, iv, aad, ct, tag_len, out)
            }
            Secret::Soft { .. } => gcm::decrypt(self.aes()?, iv, aad, ct, tag_len, out),
        }
    }

    /// AES-GCM encryption with the tag apart (the 3.0 message API).
    pub fn gcm_encrypt_detached(
        &self,
        iv: &[u8],
        aad: &[u8],
        pt: &[u8],
        ct: &mut [u8],
        tag: &mut [u8],
    ) -> Result<()> {
        match &self.secret {
            Secret::Soft { .. } => gcm::encrypt_detached(self.aes()?, iv, aad, pt, ct, tag),
            Secret::Device { .. } => {
                let mut joined = Zeroizing::new(vec![0u8; pt.len() + tag.len()]);
                self.gcm_encrypt(iv, aad, pt, tag.len(), &mut joined)?;
                let (c, t) = joined.split_at(pt.len());
                ct.get_mut(..pt.len())
                    .map_or_else(|| rv(sys::CKR_BUFFER_TOO_SMALL), Ok)?
                    .copy_from_slice(c);
                tag.copy_from_slice(t);
                Ok(())
            }
        }
    }

    /// AES-GCM decryption with the tag apart (the 3.0 message API).
    pub fn gcm_decrypt_detached(
        &self,
        iv: &[u8],
        aad: &[u8],
        ct: &[u8],
        tag: &[u8],
        out: &mut [u8],
    ) -> Result<usize> {
        match &self.secret {
            Secret::Soft { .. } => gcm::decrypt_detached(self.aes()?, iv, aad, ct, tag, out),
            Secret::Device { .. } => {
                let mut joined = Zeroizing::new(Vec::with_capacity(ct.len() + tag.len()));
                joined.extend_from_slice(ct);
                joined.extend_from_slice(tag);
                self.gcm_decrypt(iv, aad, &joined, tag.len(), out)
            }
        }
    }

    /// A private copy with its own prepared state, so threads using the same
    /// key never share (and bounce) reference counts or cache lines.
    pub fn deep_clone(&self) -> Result<KeyMaterial> {
        match &self.secret {
            Secret::Soft { raw, .. } => {
                KeyMaterial::new(self.key_type, Zeroizing::new(raw.to_vec()))
            }
            Secret::Device { backend, reference } => Ok(KeyMaterial::device(
                backend.clone(),
                self.key_type,
                Zeroizing::new(reference.to_vec()),
            )),
        }
    }
}
