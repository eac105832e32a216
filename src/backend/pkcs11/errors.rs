//! HSM return codes: turning `cryptoki` errors back into `CK_RV`, deciding
//! what a failure means for the connection (reconnect, new session, find the
//! key again), and which code keyrotor's own caller finally sees.

use cryptoki::error::{Error as CkError, Rv, RvError};
use cryptoki_sys as sys;
use sys::CK_RV;

use crate::error::Error;

/// The `CK_RV` behind a `cryptoki` error (`CKR_GENERAL_ERROR` for failures
/// that are not a return code, e.g. a NULL function pointer).
pub(super) fn code_of(e: &CkError) -> CK_RV {
    match e {
        CkError::Pkcs11(RvError::VendorDefined(code), _) => *code,
        CkError::Pkcs11(rv, _) => code_of_rv(*rv),
        CkError::NullFunctionPointer | CkError::MissingSymbol(_) => sys::CKR_FUNCTION_NOT_SUPPORTED,
        _ => sys::CKR_GENERAL_ERROR,
    }
}

/// `cryptoki` maps codes to [`RvError`] one way only; the standard codes all
/// lie below 0x1000, so the inverse is a search (errors are rare).
fn code_of_rv(rv: RvError) -> CK_RV {
    (0..0x1000)
        .find(|c| Rv::from(*c) == Rv::Error(rv))
        .unwrap_or(sys::CKR_GENERAL_ERROR)
}

/// A `cryptoki` error as the crate error carrying the HSM's raw code.
pub(super) fn lift(e: CkError) -> Error {
    Error::Rv(code_of(&e))
}

/// What a failed HSM call says about the state behind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Failure {
    /// The HSM (or the link to it) is gone: reinitialise the module.
    Connection,
    /// This session is unusable (closed, logged out, stuck in an
    /// operation): open another one.
    Session,
    /// The cached object handle is stale: find the key again.
    Handle,
    /// An answer about the request itself: report it.
    Request,
}

/// Classifies a raw HSM return code.
pub(super) fn classify(code: CK_RV) -> Failure {
    match code {
        sys::CKR_DEVICE_ERROR
        | sys::CKR_DEVICE_REMOVED
        | sys::CKR_TOKEN_NOT_PRESENT
        | sys::CKR_TOKEN_NOT_RECOGNIZED
        | sys::CKR_CRYPTOKI_NOT_INITIALIZED
        | sys::CKR_SLOT_ID_INVALID => Failure::Connection,
        sys::CKR_SESSION_HANDLE_INVALID
        | sys::CKR_SESSION_CLOSED
        | sys::CKR_SESSION_COUNT
        | sys::CKR_USER_NOT_LOGGED_IN
        | sys::CKR_OPERATION_ACTIVE
        | sys::CKR_OPERATION_NOT_INITIALIZED
        | sys::CKR_GENERAL_ERROR
        | sys::CKR_FUNCTION_FAILED => Failure::Session,
        sys::CKR_KEY_HANDLE_INVALID | sys::CKR_OBJECT_HANDLE_INVALID => Failure::Handle,
        _ => Failure::Request,
    }
}

/// The code keyrotor's caller sees for an HSM code. Codes that describe the
/// request or the device keep their meaning; codes about the HSM's own
/// sessions, handles or login would mislead (the caller's keyrotor session,
/// key handle and login are fine), so they become `CKR_DEVICE_ERROR`.
pub(super) fn presented(code: CK_RV) -> CK_RV {
    match code {
        sys::CKR_DEVICE_ERROR
        | sys::CKR_DEVICE_MEMORY
        | sys::CKR_HOST_MEMORY
        | sys::CKR_DATA_LEN_RANGE
        | sys::CKR_DATA_INVALID
        | sys::CKR_ENCRYPTED_DATA_LEN_RANGE
        | sys::CKR_ENCRYPTED_DATA_INVALID
        | sys::CKR_MECHANISM_INVALID
        | sys::CKR_MECHANISM_PARAM_INVALID
        | sys::CKR_KEY_SIZE_RANGE
        | sys::CKR_FUNCTION_CANCELED
        | sys::CKR_FUNCTION_FAILED
        | sys::CKR_GENERAL_ERROR => code,
        _ => sys::CKR_DEVICE_ERROR,
    }
}

/// The raw code of a crate error produced by an HSM call, if it is one.
pub(super) fn raw_code(e: &Error) -> Option<CK_RV> {
    match e {
        Error::Rv(code) => Some(*code),
        _ => None,
    }
}

/// Whether a failed `C_Decrypt` means "the tag did not verify": SoftHSM2
/// answers `CKR_GENERAL_ERROR`, others `CKR_ENCRYPTED_DATA_INVALID` or the
/// 3.2 code `CKR_AEAD_DECRYPT_FAILED`.
pub(super) fn is_bad_tag(code: CK_RV) -> bool {
    matches!(
        code,
        sys::CKR_GENERAL_ERROR | sys::CKR_ENCRYPTED_DATA_INVALID | sys::CKR_AEAD_DECRYPT_FAILED
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use cryptoki::context::Function;

    #[test]
    fn cryptoki_errors_map_back_to_their_codes() {
        for code in [
            sys::CKR_DEVICE_ERROR,
            sys::CKR_PIN_INCORRECT,
            sys::CKR_GENERAL_ERROR,
            sys::CKR_KEY_HANDLE_INVALID,
            sys::CKR_USER_ALREADY_LOGGED_IN,
            sys::CKR_CRYPTOKI_ALREADY_INITIALIZED,
        ] {
            let Rv::Error(rv) = Rv::from(code) else {
                panic!("{code:#x} is not an error")
            };
            assert_eq!(code_of(&CkError::Pkcs11(rv, Function::Login)), code);
        }
        let vendor = CkError::Pkcs11(RvError::VendorDefined(0x8000_0042), Function::Encrypt);
        assert_eq!(code_of(&vendor), 0x8000_0042);
        assert_eq!(code_of(&CkError::NotSupported), sys::CKR_GENERAL_ERROR);
    }

    #[test]
    fn failures_are_classified() {
        assert_eq!(classify(sys::CKR_DEVICE_ERROR), Failure::Connection);
        assert_eq!(
            classify(sys::CKR_CRYPTOKI_NOT_INITIALIZED),
            Failure::Connection
        );
        assert_eq!(classify(sys::CKR_SESSION_HANDLE_INVALID), Failure::Session);
        assert_eq!(classify(sys::CKR_USER_NOT_LOGGED_IN), Failure::Session);
        assert_eq!(classify(sys::CKR_OBJECT_HANDLE_INVALID), Failure::Handle);
        assert_eq!(classify(sys::CKR_MECHANISM_PARAM_INVALID), Failure::Request);
    }

    #[test]
    fn callers_see_meaningful_codes_only() {
        assert_eq!(presented(sys::CKR_DEVICE_ERROR), sys::CKR_DEVICE_ERROR);
        assert_eq!(presented(sys::CKR_DATA_LEN_RANGE), sys::CKR_DATA_LEN_RANGE);
        assert_eq!(
            presented(sys::CKR_SESSION_HANDLE_INVALID),
            sys::CKR_DEVICE_ERROR
        );
        assert_eq!(
            presented(sys::CKR_USER_NOT_LOGGED_IN),
            sys::CKR_DEVICE_ERROR
        );
        assert_eq!(
            presented(sys::CKR_KEY_HANDLE_INVALID),
            sys::CKR_DEVICE_ERROR
        );
        assert!(is_bad_tag(sys::CKR_GENERAL_ERROR));
        assert!(is_bad_tag(sys::CKR_ENCRYPTED_DATA_INVALID));
        assert!(!is_bad_tag(sys::CKR_DEVICE_ERROR));
    }
}
