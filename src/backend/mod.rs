//! Key backends: where the cryptography of a slot's keys runs when the key
//! material must never leave a device (an HSM behind another PKCS#11
//! module now; cloud KMSs later). The software slot needs no backend: its
//! material is sealed in the store and used in process.
//!
//! A backend key is named by a *reference* (opaque bytes, e.g. the HSM
//! object's label). keyrotor seals the reference in the store where a
//! software key's material would be, so the rest of the token layer —
//! versions, lifecycle, audit — is the same for every backend.

pub mod pkcs11;

use std::sync::Arc;

use cryptoki_sys::CK_MECHANISM_TYPE;

use crate::config::{BackendKind, SlotConfig};
use crate::error::Result;

/// The backend a slot's configuration asks for (`None`: software).
pub fn open(slot: &SlotConfig) -> Result<Option<Arc<dyn KeyBackend>>> {
    match &slot.backend {
        BackendKind::Software => Ok(None),
        BackendKind::Pkcs11(cfg) => Ok(Some(Arc::new(pkcs11::open(cfg)?))),
    }
}

/// Operations keyrotor needs from a device that holds keys.
pub trait KeyBackend: Send + Sync {
    /// A short name for logs and `keyrotor status` (e.g. `pkcs11:SoftHSM`).
    fn name(&self) -> String;

    /// Creates a non-extractable, sensitive AES key of `len` bytes inside
    /// the device, labelled `label` with `CKA_ID` = `id`; returns its
    /// reference.
    fn generate_aes(&self, label: &str, id: &[u8], len: usize) -> Result<Vec<u8>>;

    /// Destroys the key (crypto-erasure inside the device). A reference to
    /// a key that no longer exists is not an error.
    fn destroy(&self, reference: &[u8]) -> Result<()>;

    /// AES-GCM encryption with the caller's IV; writes ciphertext‖tag
    /// (tag truncated to `tag_len`) into `out`, returns bytes written.
    fn gcm_encrypt(
        &self,
        reference: &[u8],
        iv: &[u8],
        aad: &[u8],
        plaintext: &[u8],
        tag_len: usize,
        out: &mut [u8],
    ) -> Result<usize>;

    /// AES-GCM decryption of ciphertext‖tag; a tag that does not verify is
    /// `Error::EncryptedDataInvalid`, whatever code the device used.
    fn gcm_decrypt(
        &self,
        reference: &[u8],
        iv: &[u8],
        aad: &[u8],
        ct_and_tag: &[u8],
        tag_len: usize,
        out: &mut [u8],
    ) -> Result<usize>;

    /// Which of keyrotor's key mechanisms truly work on this backend.
    fn mechanisms(&self) -> Vec<CK_MECHANISM_TYPE>;

    /// Checks the device answers (used by `keyrotor status`).
    fn health(&self) -> Result<()>;
}
