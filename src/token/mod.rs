//! The token layer: the initialised library, slots, tokens, login, sessions,
//! objects and the operations sessions run. Safe Rust only; the C ABI above
//! converts pointers before calling in.

pub mod handles;
pub mod library;
pub mod login;
pub mod objects;
pub mod ops_cipher;
pub mod ops_message;
pub mod ops_objects;
pub mod ops_sign;
pub mod output;
pub mod runtime;
pub mod session;
pub mod slot;
pub mod slot_device;
pub mod slot_persist;
pub mod slot_usage;
