//! Vendor attributes, mechanisms and return codes of versioned keys. The
//! numbers are mirrored in `include/keyrotor.h` for C consumers (a test
//! checks the two agree).

use cryptoki_sys as sys;
use sys::{CK_ATTRIBUTE_TYPE, CK_MECHANISM_TYPE, CK_RV};

const BASE: u64 = 0x4B52_0000;

/// `CKA_VENDOR_DEFINED | 0x4B520000 + n`.
pub const fn cka(n: u64) -> CK_ATTRIBUTE_TYPE {
    (sys::CKA_VENDOR_DEFINED | (BASE + n)) as CK_ATTRIBUTE_TYPE
}

/// Version number (current object: the Active version).
pub const CKA_KEYROTOR_VERSION: CK_ATTRIBUTE_TYPE = cka(1);
/// Lifecycle state (1 Active … 6 Compromised).
pub const CKA_KEYROTOR_STATE: CK_ATTRIBUTE_TYPE = cka(2);
/// Rotation period in seconds (0: none).
pub const CKA_KEYROTOR_ROTATION_PERIOD: CK_ATTRIBUTE_TYPE = cka(3);
/// Next scheduled rotation, Unix seconds (0: none).
pub const CKA_KEYROTOR_NEXT_ROTATION: CK_ATTRIBUTE_TYPE = cka(4);
/// Grace period in seconds.
pub const CKA_KEYROTOR_GRACE_PERIOD: CK_ATTRIBUTE_TYPE = cka(5);
/// Retention in seconds.
pub const CKA_KEYROTOR_RETENTION: CK_ATTRIBUTE_TYPE = cka(6);
/// Encryptions counted (current object: all versions).
pub const CKA_KEYROTOR_ENCRYPTION_COUNT: CK_ATTRIBUTE_TYPE = cka(7);
/// Rotate after this many encryptions.
pub const CKA_KEYROTOR_MAX_ENCRYPTIONS: CK_ATTRIBUTE_TYPE = cka(8);
/// Seconds a replaced version stays Valid.
pub const CKA_KEYROTOR_VALID_PERIOD: CK_ATTRIBUTE_TYPE = cka(9);
/// Newest versions never destroyed.
pub const CKA_KEYROTOR_KEEP_VERSIONS: CK_ATTRIBUTE_TYPE = cka(10);
/// 1: manual rotation only.
pub const CKA_KEYROTOR_MANUAL_ONLY: CK_ATTRIBUTE_TYPE = cka(11);
/// 1: the version is disabled (an admin hold).
pub const CKA_KEYROTOR_DISABLED: CK_ATTRIBUTE_TYPE = cka(12);
/// Decryptions counted.
pub const CKA_KEYROTOR_DECRYPTION_COUNT: CK_ATTRIBUTE_TYPE = cka(13);

/// Policy attributes a caller may set (in `C_GenerateKey` and on the
/// current object with `C_SetAttributeValue`).
pub const SETTABLE_POLICY: [CK_ATTRIBUTE_TYPE; 7] = [
    CKA_KEYROTOR_ROTATION_PERIOD,
    CKA_KEYROTOR_GRACE_PERIOD,
    CKA_KEYROTOR_RETENTION,
    CKA_KEYROTOR_MAX_ENCRYPTIONS,
    CKA_KEYROTOR_VALID_PERIOD,
    CKA_KEYROTOR_KEEP_VERSIONS,
    CKA_KEYROTOR_MANUAL_ONLY,
];

/// The self-describing envelope mechanism (`C_Encrypt`/`C_Decrypt`);
/// its optional parameter is the additional authenticated data.
pub const CKM_KEYROTOR_AES_GCM_ENVELOPE: CK_MECHANISM_TYPE =
    (sys::CKM_VENDOR_DEFINED | (BASE + 1)) as CK_MECHANISM_TYPE;
/// Rewrap: an old envelope in, a new one under the Active version out.
pub const CKM_KEYROTOR_AES_GCM_REWRAP: CK_MECHANISM_TYPE =
    (sys::CKM_VENDOR_DEFINED | (BASE + 2)) as CK_MECHANISM_TYPE;

/// The version that would decrypt is revoked.
pub const CKR_KEYROTOR_VERSION_REVOKED: CK_RV = (sys::CKR_VENDOR_DEFINED | (BASE + 1)) as CK_RV;
/// The version's material was destroyed.
pub const CKR_KEYROTOR_VERSION_DESTROYED: CK_RV = (sys::CKR_VENDOR_DEFINED | (BASE + 2)) as CK_RV;
/// The version is disabled by an administrator.
pub const CKR_KEYROTOR_VERSION_DISABLED: CK_RV = (sys::CKR_VENDOR_DEFINED | (BASE + 3)) as CK_RV;
/// The version is compromised and may decrypt only through rewrap.
pub const CKR_KEYROTOR_VERSION_COMPROMISED: CK_RV = (sys::CKR_VENDOR_DEFINED | (BASE + 4)) as CK_RV;
