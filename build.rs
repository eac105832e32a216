//! Build metadata for the module and the CLI.
//!
//! The shared object's export list needs no linker script: rustc exports
//! exactly the `#[no_mangle] pub extern "C"` functions of a cdylib and hides
//! every Rust symbol, which `tests/exports.rs` checks with `nm`.

fn main() {
    let profile = std::env::var("PROFILE").unwrap_or_else(|_| "unknown".into());
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=KEYROTOR_BUILD_INFO={target} {profile}");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=migrations");
}
