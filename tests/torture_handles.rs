//! Torture: invalid and stale handles for every function that takes one.
//!
//! Session handles: 0, a value never handed out, `CK_ULONG::MAX`, a session
//! closed with `C_CloseSession`, one closed by `C_CloseAllSessions`, and one
//! from before a `C_Finalize`/`C_Initialize` cycle → every function that
//! takes a session answers `CKR_SESSION_HANDLE_INVALID` (stubs may answer
//! `CKR_FUNCTION_NOT_SUPPORTED`, the two legacy parallel functions
//! `CKR_FUNCTION_NOT_PARALLEL`). Object handles: the same kinds of bad
//! values plus destroyed objects, session objects of a closed session and
//! private objects after logout → `CKR_OBJECT_HANDLE_INVALID` for the object
//! functions and the `CKR_*KEY_HANDLE_INVALID` of each key argument. Slot
//! ids that do not exist → `CKR_SLOT_ID_INVALID`. Nothing a bad handle does
//! may disturb the live session.

#[macro_use]
mod common;

#[path = "torture/support.rs"]
mod support;

// First: its `case!` macro is used by the two tables.
#[macro_use]
#[path = "torture/handle_tables.rs"]
mod handle_tables;
#[path = "torture/handles_object.rs"]
mod handles_object;
#[path = "torture/handles_session.rs"]
mod handles_session;
#[path = "torture/object_table.rs"]
mod object_table;
#[path = "torture/session_table.rs"]
mod session_table;
