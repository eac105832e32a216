//! keyrotor: a PKCS#11 3.0 module whose keys rotate.
//!
//! The crate builds as `libkeyrotor.so` (the module consumers load) and as
//! an rlib for the `keyrotor` admin CLI and the tests. Layers, top to bottom:
//! [`ffi`] (C ABI) → [`token`] (library, slots, sessions, objects) →
//! [`mech`] (mechanisms and crypto) / [`object`] (attribute model) →
//! [`store`] (encrypted persistence).

pub mod audit;
pub mod backend;
pub mod cli;
pub mod config;
pub mod error;
pub mod ffi;
pub mod keys;
pub mod logging;
pub mod mech;
pub mod object;
pub mod store;
pub mod token;
