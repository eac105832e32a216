//! The crate's typed error and its one mapping to PKCS#11 return codes.
//!
//! Every layer returns [`Error`]; only the C ABI entry wrapper turns it into a
//! `CK_RV`, through [`Error::ck_rv`]. Keeping the table in one place is what
//! lets us promise callers the exact code the specification names.

use cryptoki_sys as sys;
use sys::CK_RV;

/// Everything that can go wrong below the C ABI.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A PKCS#11 condition that already has an exact return code.
    #[error("PKCS#11 error {name} ({code:#x})", name = rv_name(*.0), code = .0)]
    Rv(CK_RV),
    /// Authentication tag or padding did not verify.
    #[error("encrypted data is invalid (authentication failed)")]
    EncryptedDataInvalid,
    /// The persistent store failed.
    #[error("store: {0}")]
    Store(String),
    /// Stored data failed its integrity check (tampering or corruption).
    #[error("stored data failed its integrity check: {0}")]
    StoreIntegrity(String),
    /// Configuration is invalid; the message names file, line and fix.
    #[error("configuration: {0}")]
    Config(String),
    /// A cryptographic primitive failed for a reason other than bad input.
    #[error("crypto: {0}")]
    Crypto(String),
    /// An invariant inside the library did not hold.
    #[error("internal: {0}")]
    Internal(String),
}

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The `CK_RV` the specification names for this error.
    pub fn ck_rv(&self) -> CK_RV {
        match self {
            Error::Rv(rv) => *rv,
            Error::EncryptedDataInvalid => sys::CKR_ENCRYPTED_DATA_INVALID,
            Error::Store(_) | Error::StoreIntegrity(_) => sys::CKR_DEVICE_ERROR,
            Error::Config(_) => sys::CKR_GENERAL_ERROR,
            Error::Crypto(_) | Error::Internal(_) => sys::CKR_GENERAL_ERROR,
        }
    }
}

impl From<CK_RV> for Error {
    fn from(rv: CK_RV) -> Self {
        Error::Rv(rv)
    }
}

/// Shorthand for `Err(Error::Rv(rv))`.
pub fn rv<T>(rv: CK_RV) -> Result<T> {
    Err(Error::Rv(rv))
}

/// Human name of a return code, for logs and error messages.
pub fn rv_name(rv: CK_RV) -> &'static str {
    match rv {
        sys::CKR_OK => "CKR_OK",
        sys::CKR_CANCEL => "CKR_CANCEL",
        sys::CKR_HOST_MEMORY => "CKR_HOST_MEMORY",
        sys::CKR_SLOT_ID_INVALID => "CKR_SLOT_ID_INVALID",
        sys::CKR_GENERAL_ERROR => "CKR_GENERAL_ERROR",
        sys::CKR_FUNCTION_FAILED => "CKR_FUNCTION_FAILED",
        sys::CKR_ARGUMENTS_BAD => "CKR_ARGUMENTS_BAD",
        sys::CKR_NEED_TO_CREATE_THREADS => "CKR_NEED_TO_CREATE_THREADS",
        sys::CKR_CANT_LOCK => "CKR_CANT_LOCK",
        sys::CKR_ATTRIBUTE_READ_ONLY => "CKR_ATTRIBUTE_READ_ONLY",
        sys::CKR_ATTRIBUTE_SENSITIVE => "CKR_ATTRIBUTE_SENSITIVE",
        sys::CKR_ATTRIBUTE_TYPE_INVALID => "CKR_ATTRIBUTE_TYPE_INVALID",
        sys::CKR_ATTRIBUTE_VALUE_INVALID => "CKR_ATTRIBUTE_VALUE_INVALID",
        sys::CKR_ACTION_PROHIBITED => "CKR_ACTION_PROHIBITED",
        sys::CKR_DATA_INVALID => "CKR_DATA_INVALID",
        sys::CKR_DATA_LEN_RANGE => "CKR_DATA_LEN_RANGE",
        sys::CKR_DEVICE_ERROR => "CKR_DEVICE_ERROR",
        sys::CKR_DEVICE_MEMORY => "CKR_DEVICE_MEMORY",
        sys::CKR_ENCRYPTED_DATA_INVALID => "CKR_ENCRYPTED_DATA_INVALID",
        sys::CKR_ENCRYPTED_DATA_LEN_RANGE => "CKR_ENCRYPTED_DATA_LEN_RANGE",
        sys::CKR_FUNCTION_CANCELED => "CKR_FUNCTION_CANCELED",
        sys::CKR_FUNCTION_NOT_SUPPORTED => "CKR_FUNCTION_NOT_SUPPORTED",
        sys::CKR_KEY_HANDLE_INVALID => "CKR_KEY_HANDLE_INVALID",
        sys::CKR_KEY_SIZE_RANGE => "CKR_KEY_SIZE_RANGE",
        sys::CKR_KEY_TYPE_INCONSISTENT => "CKR_KEY_TYPE_INCONSISTENT",
        sys::CKR_KEY_FUNCTION_NOT_PERMITTED => "CKR_KEY_FUNCTION_NOT_PERMITTED",
        sys::CKR_KEY_NOT_WRAPPABLE => "CKR_KEY_NOT_WRAPPABLE",
        sys::CKR_KEY_UNEXTRACTABLE => "CKR_KEY_UNEXTRACTABLE",
        sys::CKR_MECHANISM_INVALID => "CKR_MECHANISM_INVALID",
        sys::CKR_MECHANISM_PARAM_INVALID => "CKR_MECHANISM_PARAM_INVALID",
        sys::CKR_OBJECT_HANDLE_INVALID => "CKR_OBJECT_HANDLE_INVALID",
        sys::CKR_OPERATION_ACTIVE => "CKR_OPERATION_ACTIVE",
        sys::CKR_OPERATION_NOT_INITIALIZED => "CKR_OPERATION_NOT_INITIALIZED",
        sys::CKR_PIN_INCORRECT => "CKR_PIN_INCORRECT",
        sys::CKR_PIN_INVALID => "CKR_PIN_INVALID",
        sys::CKR_PIN_LEN_RANGE => "CKR_PIN_LEN_RANGE",
        sys::CKR_PIN_LOCKED => "CKR_PIN_LOCKED",
        sys::CKR_SESSION_CLOSED => "CKR_SESSION_CLOSED",
        sys::CKR_SESSION_COUNT => "CKR_SESSION_COUNT",
        sys::CKR_SESSION_HANDLE_INVALID => "CKR_SESSION_HANDLE_INVALID",
        sys::CKR_SESSION_PARALLEL_NOT_SUPPORTED => "CKR_SESSION_PARALLEL_NOT_SUPPORTED",
        sys::CKR_SESSION_READ_ONLY => "CKR_SESSION_READ_ONLY",
        sys::CKR_SESSION_EXISTS => "CKR_SESSION_EXISTS",
        sys::CKR_SESSION_READ_ONLY_EXISTS => "CKR_SESSION_READ_ONLY_EXISTS",
        sys::CKR_SESSION_READ_WRITE_SO_EXISTS => "CKR_SESSION_READ_WRITE_SO_EXISTS",
        sys::CKR_SIGNATURE_INVALID => "CKR_SIGNATURE_INVALID",
        sys::CKR_SIGNATURE_LEN_RANGE => "CKR_SIGNATURE_LEN_RANGE",
        sys::CKR_TEMPLATE_INCOMPLETE => "CKR_TEMPLATE_INCOMPLETE",
        sys::CKR_TEMPLATE_INCONSISTENT => "CKR_TEMPLATE_INCONSISTENT",
        sys::CKR_TOKEN_NOT_PRESENT => "CKR_TOKEN_NOT_PRESENT",
        sys::CKR_TOKEN_NOT_RECOGNIZED => "CKR_TOKEN_NOT_RECOGNIZED",
        sys::CKR_TOKEN_WRITE_PROTECTED => "CKR_TOKEN_WRITE_PROTECTED",
        sys::CKR_UNWRAPPING_KEY_HANDLE_INVALID => "CKR_UNWRAPPING_KEY_HANDLE_INVALID",
        sys::CKR_UNWRAPPING_KEY_SIZE_RANGE => "CKR_UNWRAPPING_KEY_SIZE_RANGE",
        sys::CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT => "CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT",
        sys::CKR_USER_ALREADY_LOGGED_IN => "CKR_USER_ALREADY_LOGGED_IN",
        sys::CKR_USER_NOT_LOGGED_IN => "CKR_USER_NOT_LOGGED_IN",
        sys::CKR_USER_PIN_NOT_INITIALIZED => "CKR_USER_PIN_NOT_INITIALIZED",
        sys::CKR_USER_TYPE_INVALID => "CKR_USER_TYPE_INVALID",
        sys::CKR_USER_ANOTHER_ALREADY_LOGGED_IN => "CKR_USER_ANOTHER_ALREADY_LOGGED_IN",
        sys::CKR_USER_TOO_MANY_TYPES => "CKR_USER_TOO_MANY_TYPES",
        sys::CKR_WRAPPED_KEY_INVALID => "CKR_WRAPPED_KEY_INVALID",
        sys::CKR_WRAPPED_KEY_LEN_RANGE => "CKR_WRAPPED_KEY_LEN_RANGE",
        sys::CKR_WRAPPING_KEY_HANDLE_INVALID => "CKR_WRAPPING_KEY_HANDLE_INVALID",
        sys::CKR_WRAPPING_KEY_SIZE_RANGE => "CKR_WRAPPING_KEY_SIZE_RANGE",
        sys::CKR_WRAPPING_KEY_TYPE_INCONSISTENT => "CKR_WRAPPING_KEY_TYPE_INCONSISTENT",
        sys::CKR_RANDOM_SEED_NOT_SUPPORTED => "CKR_RANDOM_SEED_NOT_SUPPORTED",
        sys::CKR_BUFFER_TOO_SMALL => "CKR_BUFFER_TOO_SMALL",
        sys::CKR_CRYPTOKI_NOT_INITIALIZED => "CKR_CRYPTOKI_NOT_INITIALIZED",
        sys::CKR_CRYPTOKI_ALREADY_INITIALIZED => "CKR_CRYPTOKI_ALREADY_INITIALIZED",
        sys::CKR_OPERATION_CANCEL_FAILED => "CKR_OPERATION_CANCEL_FAILED",
        _ => "CKR_(other)",
    }
}
