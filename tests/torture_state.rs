//! Torture: calls in the wrong state. Update/Final/single-part without an
//! Init → `CKR_OPERATION_NOT_INITIALIZED`; a second Init while one is active
//! (fresh or in the middle) → `CKR_OPERATION_ACTIVE` and the first goes on
//! unharmed; a second `C_Initialize` → `CKR_CRYPTOKI_ALREADY_INITIALIZED`
//! with the library unharmed; and a cancel (Init with a NULL mechanism, and
//! `C_SessionCancel`) in the middle of every multi-part operation, after
//! which a fresh Init gives the published result and the other operations
//! of the session are undisturbed.

#[macro_use]
mod common;

#[path = "torture/support.rs"]
mod support;

#[path = "torture/multipart.rs"]
mod multipart;
#[path = "torture/state_cancel.rs"]
mod state_cancel;
#[path = "torture/state_order.rs"]
mod state_order;
