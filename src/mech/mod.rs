//! Mechanisms: the typed form of a caller's `CK_MECHANISM`, the table of what
//! each slot offers, and the operation state machines sessions run.
//!
//! The ffi layer parses raw parameters into [`Mechanism`]; nothing here sees
//! a C pointer.

pub mod cipher_op;
pub mod envelope;
pub mod key;
pub mod mac_op;
pub mod message_op;
pub mod primitives;
pub mod registry;
pub mod ring;

use cryptoki_sys as sys;
use sys::CK_MECHANISM_TYPE;

use primitives::digest::DigestAlg;

/// Parameters of `CKM_AES_GCM` for `C_EncryptInit`/`C_DecryptInit`.
#[derive(Clone)]
pub struct GcmParams {
    /// The initialisation vector (any length from 1 byte).
    pub iv: Vec<u8>,
    /// Additional authenticated data.
    pub aad: Vec<u8>,
    /// Tag length in bytes (12..=16).
    pub tag_len: usize,
}

/// A mechanism with its parameters already validated.
#[derive(Clone)]
pub enum Mechanism {
    /// `CKM_AES_KEY_GEN`.
    AesKeyGen,
    /// `CKM_GENERIC_SECRET_KEY_GEN`.
    GenericSecretKeyGen,
    /// `CKM_AES_ECB`.
    AesEcb,
    /// `CKM_AES_CBC` with its IV.
    AesCbc([u8; 16]),
    /// `CKM_AES_CBC_PAD` with its IV.
    AesCbcPad([u8; 16]),
    /// `CKM_AES_CTR`: initial counter block and counter width in bits.
    AesCtr {
        /// The initial counter block.
        block: [u8; 16],
        /// How many low bits of the block count.
        bits: u32,
    },
    /// `CKM_AES_GCM` for single- and multi-part operations.
    AesGcm(GcmParams),
    /// `CKM_AES_GCM` for the 3.0 message API (parameters come per message).
    AesGcmMessage,
    /// `CKM_AES_CMAC`.
    AesCmac,
    /// `CKM_SHA*_HMAC`.
    Hmac(DigestAlg),
    /// `CKM_SHA*` digests.
    Digest(DigestAlg),
    /// `CKM_AES_KEY_WRAP` (RFC 3394).
    AesKeyWrap,
    /// `CKM_AES_KEY_WRAP_PAD`: RFC 5649, as SoftHSM2 and OpenSC implement it
    /// (PKCS#11 3.1 deprecates this number for its conflicting definitions).
    AesKeyWrapPad,
    /// `CKM_AES_KEY_WRAP_KWP` (RFC 5649 / NIST SP 800-38F KWP).
    AesKeyWrapKwp,
    /// `CKM_KEYROTOR_AES_GCM_ENVELOPE` with its additional authenticated data.
    Envelope {
        /// Caller AAD (authenticated with the envelope header).
        aad: Vec<u8>,
    },
    /// `CKM_KEYROTOR_AES_GCM_REWRAP` with the envelopes' AAD.
    Rewrap {
        /// Caller AAD of both the old and the new envelope.
        aad: Vec<u8>,
    },
}

impl Mechanism {
    /// The `CKM_*` value, for allowed-mechanism checks and logs.
    pub fn ck_type(&self) -> CK_MECHANISM_TYPE {
        match self {
            Mechanism::AesKeyGen => sys::CKM_AES_KEY_GEN,
            Mechanism::GenericSecretKeyGen => sys::CKM_GENERIC_SECRET_KEY_GEN,
            Mechanism::AesEcb => sys::CKM_AES_ECB,
            Mechanism::AesCbc(_) => sys::CKM_AES_CBC,
            Mechanism::AesCbcPad(_) => sys::CKM_AES_CBC_PAD,
            Mechanism::AesCtr { .. } => sys::CKM_AES_CTR,
            Mechanism::AesGcm(_) | Mechanism::AesGcmMessage => sys::CKM_AES_GCM,
            Mechanism::AesCmac => sys::CKM_AES_CMAC,
            Mechanism::Hmac(DigestAlg::Sha256) => sys::CKM_SHA256_HMAC,
            Mechanism::Hmac(DigestAlg::Sha384) => sys::CKM_SHA384_HMAC,
            Mechanism::Hmac(DigestAlg::Sha512) => sys::CKM_SHA512_HMAC,
            Mechanism::Digest(DigestAlg::Sha256) => sys::CKM_SHA256,
            Mechanism::Digest(DigestAlg::Sha384) => sys::CKM_SHA384,
            Mechanism::Digest(DigestAlg::Sha512) => sys::CKM_SHA512,
            Mechanism::AesKeyWrap => sys::CKM_AES_KEY_WRAP,
            Mechanism::AesKeyWrapPad => sys::CKM_AES_KEY_WRAP_PAD,
            Mechanism::AesKeyWrapKwp => sys::CKM_AES_KEY_WRAP_KWP,
            Mechanism::Envelope { .. } => crate::keys::attrs::CKM_KEYROTOR_AES_GCM_ENVELOPE,
            Mechanism::Rewrap { .. } => crate::keys::attrs::CKM_KEYROTOR_AES_GCM_REWRAP,
        }
    }

    /// The key type this mechanism works with, if it takes a key.
    pub fn key_type(&self) -> Option<sys::CK_KEY_TYPE> {
        match self {
            Mechanism::Digest(_) | Mechanism::AesKeyGen | Mechanism::GenericSecretKeyGen => None,
            Mechanism::Hmac(_) => Some(sys::CKK_GENERIC_SECRET),
            _ => Some(sys::CKK_AES),
        }
    }
}
