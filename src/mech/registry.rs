//! The mechanisms a software slot offers and their `CK_MECHANISM_INFO`.
//!
//! Key sizes are in bytes for AES and generic secrets, as PKCS#11 3.0 says.

use cryptoki_sys as sys;
use sys::{CK_FLAGS, CK_MECHANISM_TYPE};

/// One row of the mechanism table.
pub struct MechInfo {
    /// The mechanism.
    pub mech: CK_MECHANISM_TYPE,
    /// Smallest key in bytes.
    pub min_key: u64,
    /// Largest key in bytes.
    pub max_key: u64,
    /// `CKF_*` capability flags.
    pub flags: CK_FLAGS,
}

const ED: CK_FLAGS = sys::CKF_ENCRYPT | sys::CKF_DECRYPT;
const SV: CK_FLAGS = sys::CKF_SIGN | sys::CKF_VERIFY;

/// Every mechanism of the software slot, in `C_GetMechanismList` order.
pub const SOFTWARE: &[MechInfo] = &[
    MechInfo {
        mech: sys::CKM_AES_KEY_GEN,
        min_key: 16,
        max_key: 32,
        flags: sys::CKF_GENERATE,
    },
    MechInfo {
        mech: sys::CKM_GENERIC_SECRET_KEY_GEN,
        min_key: 1,
        max_key: 512,
        flags: sys::CKF_GENERATE,
    },
    MechInfo {
        mech: sys::CKM_AES_ECB,
        min_key: 16,
        max_key: 32,
        flags: ED,
    },
    MechInfo {
        mech: sys::CKM_AES_CBC,
        min_key: 16,
        max_key: 32,
        flags: ED,
    },
    MechInfo {
        mech: sys::CKM_AES_CBC_PAD,
        min_key: 16,
        max_key: 32,
        flags: ED,
    },
    MechInfo {
        mech: sys::CKM_AES_CTR,
        min_key: 16,
        max_key: 32,
        flags: ED,
    },
    MechInfo {
        mech: sys::CKM_AES_GCM,
        min_key: 16,
        max_key: 32,
        flags: ED | sys::CKF_MESSAGE_ENCRYPT | sys::CKF_MESSAGE_DECRYPT | sys::CKF_MULTI_MESSAGE,
    },
    MechInfo {
        mech: crate::keys::attrs::CKM_KEYROTOR_AES_GCM_ENVELOPE,
        min_key: 16,
        max_key: 32,
        flags: ED,
    },
    MechInfo {
        mech: crate::keys::attrs::CKM_KEYROTOR_AES_GCM_REWRAP,
        min_key: 16,
        max_key: 32,
        flags: ED,
    },
    MechInfo {
        mech: sys::CKM_AES_CMAC,
        min_key: 16,
        max_key: 32,
        flags: SV,
    },
    MechInfo {
        mech: sys::CKM_AES_KEY_WRAP,
        min_key: 16,
        max_key: 32,
        flags: sys::CKF_WRAP | sys::CKF_UNWRAP,
    },
    MechInfo {
        mech: sys::CKM_AES_KEY_WRAP_PAD,
        min_key: 16,
        max_key: 32,
        flags: sys::CKF_WRAP | sys::CKF_UNWRAP,
    },
    MechInfo {
        mech: sys::CKM_AES_KEY_WRAP_KWP,
        min_key: 16,
        max_key: 32,
        flags: sys::CKF_WRAP | sys::CKF_UNWRAP,
    },
    MechInfo {
        mech: sys::CKM_SHA256_HMAC,
        min_key: 1,
        max_key: 512,
        flags: SV,
    },
    MechInfo {
        mech: sys::CKM_SHA384_HMAC,
        min_key: 1,
        max_key: 512,
        flags: SV,
    },
    MechInfo {
        mech: sys::CKM_SHA512_HMAC,
        min_key: 1,
        max_key: 512,
        flags: SV,
    },
    MechInfo {
        mech: sys::CKM_SHA256,
        min_key: 0,
        max_key: 0,
        flags: sys::CKF_DIGEST,
    },
    MechInfo {
        mech: sys::CKM_SHA384,
        min_key: 0,
        max_key: 0,
        flags: sys::CKF_DIGEST,
    },
    MechInfo {
        mech: sys::CKM_SHA512,
        min_key: 0,
        max_key: 0,
        flags: sys::CKF_DIGEST,
    },
];

/// Looks a mechanism up in the software table.
pub fn find(mech: CK_MECHANISM_TYPE) -> Option<&'static MechInfo> {
    SOFTWARE.iter().find(|m| m.mech == mech)
}

/// True when `mech` is offered with all of `flags`.
pub fn supports(mech: CK_MECHANISM_TYPE, flags: CK_FLAGS) -> bool {
    find(mech).is_some_and(|m| m.flags & flags == flags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aes_sizes_are_bytes_and_gcm_offers_message_api() {
        let gcm = find(sys::CKM_AES_GCM).expect("gcm listed");
        assert_eq!((gcm.min_key, gcm.max_key), (16, 32));
        assert!(supports(
            sys::CKM_AES_GCM,
            sys::CKF_MESSAGE_ENCRYPT | sys::CKF_ENCRYPT
        ));
        assert!(!supports(sys::CKM_SHA256, sys::CKF_ENCRYPT));
        assert!(find(sys::CKM_RSA_PKCS).is_none());
    }
}
