//! Versioned keys: the vendor attributes and mechanisms, policies, the
//! version lifecycle, the PKCS#11 objects of a rotating key, the clock, and
//! the manager that rotates keys inside the library.

pub mod admin;
pub mod attrs;
pub mod clock;
pub mod cron;
pub mod lifecycle;
pub mod manager;
pub mod objects;
pub mod policy;
pub mod storage;
