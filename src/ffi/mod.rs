//! The C ABI: every exported `C_*` function, the function lists and
//! interfaces, and the pointer checks. This is the only module that touches
//! raw C pointers; everything below it is safe Rust with typed errors.
#![allow(non_snake_case)]

pub mod cipher;
pub mod entry;
pub mod function_list;
pub mod general;
pub mod key_mgmt;
pub mod mechanism;
pub mod message;
pub mod object;
pub mod ptr;
pub mod session;
pub mod sign_digest;
pub mod slot_token;
pub mod unsupported;
