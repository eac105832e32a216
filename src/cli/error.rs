//! How a CLI command fails: the exit codes, and the translation of library
//! errors into messages that say what to do next.

use cryptoki_sys as sys;

use crate::error::Error;

/// Exit code: success.
pub const EXIT_OK: i32 = 0;
/// Exit code: the operation failed (the message says why).
pub const EXIT_FAILED: i32 = 1;
/// Exit code: bad usage or configuration (including a missing PIN).
pub const EXIT_USAGE: i32 = 2;
/// Exit code: `audit verify` found the audit log tampered with.
pub const EXIT_AUDIT: i32 = 3;
/// Exit code: no such key or version.
pub const EXIT_NOT_FOUND: i32 = 4;

/// A failed command, carrying its exit code's category.
#[derive(Debug)]
pub enum CliError {
    /// The operation failed.
    Failed(String),
    /// Bad usage or configuration.
    Usage(String),
    /// No such key or version.
    NotFound(String),
    /// Audit verification failed; the report was already printed.
    AuditFailed,
}

/// Result of a CLI command.
pub type CliResult<T> = std::result::Result<T, CliError>;

impl CliError {
    /// The process exit code for this failure.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Failed(_) => EXIT_FAILED,
            CliError::Usage(_) => EXIT_USAGE,
            CliError::NotFound(_) => EXIT_NOT_FOUND,
            CliError::AuditFailed => EXIT_AUDIT,
        }
    }

    /// The message for standard error (none when already reported).
    pub fn message(&self) -> Option<&str> {
        match self {
            CliError::Failed(m) | CliError::Usage(m) | CliError::NotFound(m) => Some(m),
            CliError::AuditFailed => None,
        }
    }
}

impl From<Error> for CliError {
    fn from(e: Error) -> Self {
        match e {
            Error::Config(m) => CliError::Usage(m),
            Error::Rv(code) => from_rv(code, &e),
            other => CliError::Failed(other.to_string()),
        }
    }
}

/// Messages for the return codes an administrator can meet, with the fix.
fn from_rv(code: sys::CK_RV, e: &Error) -> CliError {
    let failed = |m: &str| CliError::Failed(m.to_string());
    match code {
        sys::CKR_PIN_INCORRECT => failed("incorrect PIN (check $KEYROTOR_PIN / $KEYROTOR_SO_PIN or the file they name)"),
        sys::CKR_PIN_LOCKED => failed(
            "the PIN is locked after too many wrong attempts; the security officer must set a new user PIN",
        ),
        sys::CKR_PIN_LEN_RANGE => CliError::Usage(
            "the PIN's length is outside the slot's pin_min_len..pin_max_len (see docs/configuration.md)".into(),
        ),
        sys::CKR_USER_PIN_NOT_INITIALIZED => failed(
            "the token has no user PIN yet; set one through PKCS#11 C_InitPIN, or re-initialise with \
             `keyrotor token init --label L --with-user-pin` (which wipes the token)",
        ),
        sys::CKR_TOKEN_NOT_RECOGNIZED => {
            failed("the token is not initialised; run `keyrotor token init --label L --with-user-pin`")
        }
        sys::CKR_USER_NOT_LOGGED_IN => failed("this needs the storage keys unlocked; set $KEYROTOR_PIN"),
        sys::CKR_SLOT_ID_INVALID => {
            CliError::Usage("no such slot in the configuration; pick one with --slot N".into())
        }
        sys::CKR_OBJECT_HANDLE_INVALID | sys::CKR_KEY_HANDLE_INVALID => CliError::NotFound(
            "the key or version is gone (another process may have deleted it); see `keyrotor key list`".into(),
        ),
        sys::CKR_ACTION_PROHIBITED => failed("the token refused the action (the Active version cannot be destroyed)"),
        sys::CKR_SESSION_EXISTS => failed("the token is in use by this process; close other sessions first"),
        _ => CliError::Failed(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_errors_map_to_exit_codes() {
        assert_eq!(
            CliError::from(Error::Config("x".into())).exit_code(),
            EXIT_USAGE
        );
        assert_eq!(
            CliError::from(Error::Store("x".into())).exit_code(),
            EXIT_FAILED
        );
        assert_eq!(
            CliError::from(Error::Rv(sys::CKR_OBJECT_HANDLE_INVALID)).exit_code(),
            EXIT_NOT_FOUND
        );
        let pin = CliError::from(Error::Rv(sys::CKR_PIN_INCORRECT));
        assert_eq!(pin.exit_code(), EXIT_FAILED);
        assert!(pin.message().is_some_and(|m| m.contains("incorrect PIN")));
        assert_eq!(CliError::AuditFailed.exit_code(), EXIT_AUDIT);
        assert_eq!(CliError::AuditFailed.message(), None);
        let other = CliError::from(Error::Rv(sys::CKR_DEVICE_ERROR));
        assert!(other
            .message()
            .is_some_and(|m| m.contains("CKR_DEVICE_ERROR")));
    }
}
