//! Tests of `[slot.pkcs11]` parsing and its error wording.

use std::path::PathBuf;
use std::time::Duration;

use super::*;
use crate::config::Config;
use crate::error::Error;

/// An existing file to stand in for a module (only existence is checked).
fn module() -> String {
    std::env::current_exe().unwrap().display().to_string()
}

fn hsm_slot(table: &str) -> String {
    format!(
        "[[slot]]\nlabel = \"hsm\"\nbackend = \"pkcs11\"\nstore = \"/s.sqlite\"\n[slot.pkcs11]\n{table}\n"
    )
}

fn minimal() -> String {
    format!(
        "module = \"{}\"\ntoken = \"HSM\"\npin = {{ env = \"HSM_PIN\" }}",
        module()
    )
}

fn parse(text: &str) -> Pkcs11Config {
    let c = Config::from_toml(text, "/etc/keyrotor.toml").unwrap();
    match &c.slots[0].backend {
        BackendKind::Pkcs11(p) => p.clone(),
        other => panic!("expected a pkcs11 backend, got {other:?}"),
    }
}

fn err(text: &str) -> String {
    match Config::from_toml(text, "/etc/keyrotor.toml") {
        Err(Error::Config(m)) => m,
        other => panic!("expected a configuration error, got {other:?}"),
    }
}

#[test]
fn minimal_table_takes_the_defaults() {
    let p = parse(&hsm_slot(&minimal()));
    assert_eq!(p.module, PathBuf::from(module()));
    assert_eq!(p.token, TokenSelector::Label("HSM".into()));
    assert_eq!(p.pin, PinSource::Env("HSM_PIN".into()));
    assert_eq!(p.pool_size, 4);
    assert_eq!(p.timeout, Duration::from_secs(5));
    assert_eq!(p.gcm, GcmMode::Native);
    assert_eq!(p.calls, CallMode::Worker);
    assert_eq!(p.at.module, "/etc/keyrotor.toml line 6, column 10");
    assert_eq!(p.at.token, "/etc/keyrotor.toml line 7, column 9");
    assert_eq!(p.at.pin, "/etc/keyrotor.toml line 8, column 7");
}

#[test]
fn every_key_is_read() {
    let p = parse(&hsm_slot(&format!(
        "module = \"{}\"\nslot_id = 3\npin = {{ file = \"pin.txt\" }}\npool_size = 2\n\
         timeout = \"750ms\"\ngcm = \"ecb\"\ncalls = \"inline\"",
        module()
    )));
    assert_eq!(p.token, TokenSelector::SlotId(3));
    // Relative paths are taken from the configuration file's directory.
    assert_eq!(p.pin, PinSource::File("/etc/pin.txt".into()));
    assert_eq!(p.pool_size, 2);
    assert_eq!(p.timeout, Duration::from_millis(750));
    assert_eq!(p.gcm, GcmMode::Ecb);
    assert_eq!(p.calls, CallMode::Inline);
}

#[test]
fn missing_module_is_named() {
    let e = err(&hsm_slot(
        "module = \"/nope/libhsm.so\"\ntoken = \"HSM\"\npin = { env = \"P\" }",
    ));
    assert_eq!(
        e,
        "/etc/keyrotor.toml line 6, column 10: slot.pkcs11.module: module not found: \
         /nope/libhsm.so; expected the path of the HSM's PKCS#11 library, e.g. \
         /usr/lib/softhsm/libsofthsm2.so"
    );
    let e = err(&hsm_slot("token = \"HSM\"\npin = { env = \"P\" }"));
    assert!(e.contains("[slot.pkcs11] needs module = "), "{e}");
}

#[test]
fn token_or_slot_id_exactly_once() {
    let m = module();
    let both = err(&hsm_slot(&format!(
        "module = \"{m}\"\ntoken = \"HSM\"\nslot_id = 1\npin = {{ env = \"P\" }}"
    )));
    assert_eq!(
        both,
        "/etc/keyrotor.toml line 8, column 11: [slot.pkcs11] has both token and slot_id; \
         expected exactly one of them"
    );
    let neither = err(&hsm_slot(&format!(
        "module = \"{m}\"\npin = {{ env = \"P\" }}"
    )));
    assert!(
        neither.ends_with(
            "[slot.pkcs11] needs token = \"LABEL\" or slot_id = N to choose the HSM token"
        ),
        "{neither}"
    );
    let long = err(&hsm_slot(&format!(
        "module = \"{m}\"\ntoken = \"{}\"\npin = {{ env = \"P\" }}",
        "x".repeat(33)
    )));
    assert!(
        long.ends_with("token label of 1..=32 bytes (got 33 bytes)"),
        "{long}"
    );
}

#[test]
fn a_pin_written_inline_is_refused_and_never_echoed() {
    let m = module();
    for pin in [
        "\"s3cret-pin\"",
        "12345",
        "{ value = \"s3cret-pin\" }",
        "{ env = \"A\", file = \"/b\" }",
        "{ env = \"\" }",
    ] {
        let e = err(&hsm_slot(&format!(
            "module = \"{m}\"\ntoken = \"HSM\"\npin = {pin}"
        )));
        assert_eq!(
            e,
            "/etc/keyrotor.toml line 8, column 7: slot.pkcs11.pin: expected pin = { env = \"VAR\" } \
             or pin = { file = \"/path\" }; the PIN itself is never written in the configuration",
            "{pin}"
        );
        assert!(!e.contains("s3cret") && !e.contains("12345"));
    }
    let none = err(&hsm_slot(&format!("module = \"{m}\"\ntoken = \"HSM\"")));
    assert!(none.contains("needs pin = { env = \"VAR\" }"), "{none}");
}

#[test]
fn numbers_and_modes_are_checked() {
    let with = |extra: &str| err(&hsm_slot(&format!("{}\n{extra}", minimal())));
    for bad in ["0", "65", "-1"] {
        assert!(
            with(&format!("pool_size = {bad}"))
                .ends_with(&format!("slot.pkcs11.pool_size must be 1..=64 (got {bad})")),
            "{bad}"
        );
    }
    assert_eq!(
        with("timeout = \"0s\""),
        "/etc/keyrotor.toml line 9, column 11: slot.pkcs11.timeout must be more than zero and \
         at most 10m, e.g. \"5s\""
    );
    assert!(with("timeout = \"11m\"").contains("at most 10m"));
    assert!(with("timeout = \"5 s\"").contains("slot.pkcs11.timeout: \"5 s\" is not a duration"));
    assert!(with("gcm = \"soft\"")
        .ends_with("slot.pkcs11.gcm \"soft\" is not a mode; expected \"native\" or \"ecb\""));
    assert!(with("calls = \"async\"")
        .ends_with("slot.pkcs11.calls \"async\" is not a mode; expected \"worker\" or \"inline\""));
    assert_eq!(
        with("modul = 1"),
        "/etc/keyrotor.toml line 9, column 1: unknown key \"modul\" in [slot.pkcs11]; expected \
         one of module, token, slot_id, pin, pool_size, timeout, gcm, calls"
    );
}

#[test]
fn pkcs11_table_only_with_the_pkcs11_backend() {
    let text = hsm_slot(&minimal()).replace("\"pkcs11\"", "\"software\"");
    let e = err(&text);
    assert!(
        e.ends_with("[slot.pkcs11] is only read when backend = \"pkcs11\"; remove it or set backend = \"pkcs11\""),
        "{e}"
    );
}

#[test]
fn timeouts_in_milliseconds_and_the_usual_units() {
    assert_eq!(parse_timeout("250ms"), Ok(Duration::from_millis(250)));
    assert_eq!(parse_timeout("5s"), Ok(Duration::from_secs(5)));
    assert_eq!(parse_timeout("2m"), Ok(Duration::from_secs(120)));
    let e = parse_timeout("ms").unwrap_err();
    assert!(e.contains("e.g. \"5s\", \"500ms\""), "{e}");
    assert!(parse_timeout("99999999999999999999ms")
        .unwrap_err()
        .contains("too large"));
}

#[test]
fn the_documented_example_parses() {
    let doc = include_str!("../../../docs/configuration.md");
    let block = doc
        .split("```toml\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .find(|b| b.contains("\n[slot.pkcs11]\n"))
        .expect("a [slot.pkcs11] example in docs/configuration.md");
    let text = block.replace("/usr/lib/softhsm/libsofthsm2.so", &module());
    let p = parse(&text);
    assert_eq!(p.token, TokenSelector::Label("HSM-TOKEN".into()));
    assert_eq!(p.pin, PinSource::Env("HSM_PIN".into()));
    assert_eq!((p.pool_size, p.timeout), (4, Duration::from_secs(5)));
    assert_eq!((p.gcm, p.calls), (GcmMode::Native, CallMode::Worker));
}
