//! The shared object exports the PKCS#11 entry points and nothing of Rust's
//! internals: every dynamic symbol it defines is a `C_*` function, all 92 of
//! the 2.40 and 3.0 function lists are there, and no mangled name leaks.

use std::path::PathBuf;
use std::process::Command;

fn module() -> PathBuf {
    if let Ok(p) = std::env::var("KEYROTOR_TEST_MODULE") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent()
        .and_then(|d| d.parent())
        .expect("target dir")
        .join("libkeyrotor.so")
}

#[test]
fn only_pkcs11_functions_are_exported() {
    let out = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(module())
        .output()
        .expect("nm runs");
    assert!(
        out.status.success(),
        "nm failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    let foreign: Vec<&&str> = names.iter().filter(|n| !n.starts_with("C_")).collect();
    assert!(
        foreign.is_empty(),
        "unexpected exported symbols: {foreign:?}"
    );
    assert!(
        !names
            .iter()
            .any(|n| n.starts_with("_ZN") || n.starts_with("_R")),
        "mangled Rust symbols exported"
    );
    for f in [
        "C_GetFunctionList",
        "C_GetInterface",
        "C_GetInterfaceList",
        "C_Initialize",
        "C_EncryptMessage",
    ] {
        assert!(names.contains(&f), "{f} is not exported");
    }
    assert_eq!(
        names.len(),
        92,
        "the 2.40 list (68) plus the 3.0 additions (24)"
    );
}
