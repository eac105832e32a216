//! What differs on a device-backed slot: key material is a reference to a
//! key inside the device, new versions are generated there, destroyed
//! versions are erased there, and only the mechanisms it supports are offered.

use cryptoki_sys as sys;
use zeroize::Zeroizing;

use super::slot::Slot;
use crate::error::Result;
use crate::mech::key::KeyMaterial;
use crate::store::VersionRecord;

impl Slot {
    /// Prepares unsealed bytes as key material: on a device slot the bytes
    /// of a rotating key's version are the device's reference to the key.
    pub fn key_material(
        &self,
        key_type: Option<sys::CK_KEY_TYPE>,
        raw: Zeroizing<Vec<u8>>,
        device: bool,
    ) -> Result<KeyMaterial> {
        match (&self.backend, device) {
            (Some(b), true) => Ok(KeyMaterial::device(b.clone(), key_type, raw)),
            _ => KeyMaterial::new(key_type, raw),
        }
    }

    /// New key material for a version of a rotating key, as the bytes to
    /// seal: random bytes in software, a fresh device key's reference on a
    /// device slot.
    pub fn new_version_secret(
        &self,
        label: &str,
        id: &[u8],
        len: usize,
    ) -> Result<Zeroizing<Vec<u8>>> {
        match &self.backend {
            Some(b) => Ok(Zeroizing::new(off_runtime(|| {
                b.generate_aes(label, id, len)
            })?)),
            None => {
                let mut secret = Zeroizing::new(vec![0u8; len]);
                crate::mech::primitives::rng::fill(&mut secret)?;
                Ok(secret)
            }
        }
    }

    /// Erases a version's material in the device before the store forgets
    /// its reference (software material is erased by the store alone).
    pub fn erase_in_device(&self, v: &VersionRecord) -> Result<()> {
        if let (Some(b), Some(sealed)) = (&self.backend, &v.sealed) {
            let reference = self.unseal(&v.version_uid, sealed)?;
            off_runtime(|| b.destroy(&reference))?;
        }
        Ok(())
    }

    /// Mechanisms this slot offers (a device slot only what its device does).
    pub fn mechanisms(&self) -> Vec<&'static crate::mech::registry::MechInfo> {
        let all = crate::mech::registry::SOFTWARE.iter();
        match &self.backend {
            None => all.collect(),
            Some(b) => {
                let offered = b.mechanisms();
                all.filter(|m| offered.contains(&m.mech) || m.flags & sys::CKF_DIGEST != 0)
                    .collect()
            }
        }
    }
}

/// Runs a blocking device call; inside the library's runtime it first tells
/// the runtime so, so a slow or absent HSM does not stall other tasks.
fn off_runtime<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}
