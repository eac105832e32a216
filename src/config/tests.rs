//! Tests of parsing, validation, error wording and discovery.

use super::*;

const FULL: &str = r#"# full example
[log]
level = "info"
destination = "file:/var/log/keyrotor.log"

[defaults]
rotation_period = "90d"
grace_period = "30d"
retention = "365d"

[[slot]]
id = 7
label = "payments"
backend = "software"
store = "sqlite:/var/lib/keyrotor/payments.sqlite"
max_sessions = 64
pin_min_len = 6
pin_max_len = 64
max_login_failures = 5

[[slot]]
label = "logs"
backend = "software"
store = "logs.sqlite"
"#;

const MIN_SLOT: &str =
    "[[slot]]\nlabel = \"keyrotor\"\nbackend = \"software\"\nstore = \"/s.sqlite\"\n";

fn err(text: &str) -> String {
    match Config::from_toml(text, "/etc/keyrotor.toml") {
        Err(Error::Config(m)) => m,
        other => panic!("expected a configuration error, got {other:?}"),
    }
}

/// A slot table with one line replaced or added, so errors land on known lines.
fn slot_with(extra: &str) -> String {
    format!("[[slot]]\nlabel = \"a\"\nbackend = \"software\"\nstore = \"/s.sqlite\"\n{extra}\n")
}

#[test]
fn full_example_parses() {
    let c = Config::from_toml(FULL, "/etc/keyrotor/keyrotor.toml").unwrap();
    assert_eq!(c.origin, "/etc/keyrotor/keyrotor.toml");
    assert_eq!(c.log.level, "info");
    assert_eq!(
        c.log.destination,
        LogDestination::File("/var/log/keyrotor.log".into())
    );
    let day = 86_400;
    assert_eq!(
        c.defaults.rotation_period,
        Some(Duration::from_secs(90 * day))
    );
    assert_eq!(c.defaults.grace_period, Some(Duration::from_secs(30 * day)));
    assert_eq!(c.defaults.retention, Some(Duration::from_secs(365 * day)));
    assert_eq!(
        c.slots[0],
        SlotConfig {
            id: 7,
            label: "payments".into(),
            backend: BackendKind::Software,
            store: StoreLocation::Sqlite("/var/lib/keyrotor/payments.sqlite".into()),
            max_sessions: 64,
            pin_min_len: 6,
            pin_max_len: 64,
            max_login_failures: 5,
        }
    );
    // Second slot: id defaults to its index, the rest to the defaults, and
    // the relative store is taken from the file's directory.
    assert_eq!(
        c.slots[1],
        SlotConfig {
            id: 1,
            label: "logs".into(),
            backend: BackendKind::Software,
            store: StoreLocation::Sqlite("/etc/keyrotor/logs.sqlite".into()),
            max_sessions: 0,
            pin_min_len: 4,
            pin_max_len: 255,
            max_login_failures: 10,
        }
    );
}

#[test]
fn docs_example_parses() {
    let doc = include_str!("../../docs/configuration.md");
    let start = doc.find("```toml\n").expect("a toml block") + "```toml\n".len();
    let len = doc[start..].find("```").expect("end of block");
    let c = Config::from_toml(&doc[start..start + len], "/etc/keyrotor/keyrotor.toml").unwrap();
    assert!(!c.slots.is_empty());
}

#[test]
fn defaults_when_keys_are_absent() {
    let c = Config::from_toml(MIN_SLOT, "t.toml").unwrap();
    assert_eq!(
        c.log,
        LogConfig {
            level: "warn".into(),
            destination: LogDestination::Stderr
        }
    );
    assert_eq!(c.defaults, SlotDefaults::default());
    assert_eq!(c.slots.len(), 1);
    assert_eq!(c.slots[0].id, 0);
    assert_eq!(c.slots[0].max_sessions, 0);
    assert_eq!((c.slots[0].pin_min_len, c.slots[0].pin_max_len), (4, 255));
    assert_eq!(c.slots[0].max_login_failures, 10);
}

#[test]
fn level_and_destination_forms() {
    let c = Config::from_toml(
        &format!("[log]\nlevel = \"DEBUG\"\ndestination = \"syslog\"\n{MIN_SLOT}"),
        "t",
    )
    .unwrap();
    assert_eq!(c.log.level, "debug");
    assert_eq!(c.log.destination, LogDestination::Syslog);
    assert_eq!(LogDestination::parse("stderr"), Ok(LogDestination::Stderr));
    assert_eq!(
        LogDestination::parse("file:rel.log"),
        Ok(LogDestination::File("rel.log".into()))
    );
    assert!(LogDestination::parse("file:").is_err());
    assert!(LogDestination::parse("journald").is_err());
}

#[test]
fn store_forms_and_relative_paths() {
    let store = |s: &str, origin: &str| {
        let c = Config::from_toml(&slot_with("").replace("/s.sqlite", s), origin).unwrap();
        let StoreLocation::Sqlite(p) = c.slots[0].store.clone();
        p
    };
    assert_eq!(
        store("/abs/a.db", "/etc/k.toml"),
        PathBuf::from("/abs/a.db")
    );
    assert_eq!(
        store("sqlite:/abs/a.db", "/etc/k.toml"),
        PathBuf::from("/abs/a.db")
    );
    assert_eq!(
        store("sqlite:///abs/a.db", "/etc/k.toml"),
        PathBuf::from("/abs/a.db")
    );
    assert_eq!(
        store("data/a.db", "/etc/keyrotor/k.toml"),
        PathBuf::from("/etc/keyrotor/data/a.db")
    );
    assert_eq!(
        store("sqlite:a.db", "/etc/keyrotor/k.toml"),
        PathBuf::from("/etc/keyrotor/a.db")
    );
    let cwd = std::env::current_dir().unwrap();
    assert_eq!(store("a.db", "pReserved"), cwd.join("a.db"));
    assert_eq!(store("a.db", "conf/k.toml"), cwd.join("conf/a.db"));
}

#[test]
fn unknown_keys_name_table_and_expected_keys() {
    assert_eq!(
        err(&slot_with("stor = \"x\"")),
        "/etc/keyrotor.toml line 5, column 1: unknown key \"stor\" in [[slot]]; expected one of \
         id, label, backend, store, max_sessions, pin_min_len, pin_max_len, max_login_failures, \
         pkcs11"
    );
    assert_eq!(
        err(&format!("slots = 1\n{MIN_SLOT}")),
        "/etc/keyrotor.toml line 1, column 1: unknown key \"slots\" at the top level; \
         expected one of log, defaults, slot"
    );
    assert_eq!(
        err(&format!(
            "[log]\nlevel = \"info\"\nfile = \"x\"\n{MIN_SLOT}"
        )),
        "/etc/keyrotor.toml line 3, column 1: unknown key \"file\" in [log]; \
         expected one of level, destination"
    );
    assert_eq!(
        err(&format!(
            "log = {{ level = \"info\", dest = 1 }}\n{MIN_SLOT}"
        )),
        "/etc/keyrotor.toml line 1, column 25: unknown key \"dest\" in [log]; \
         expected one of level, destination"
    );
    assert_eq!(
        err(&format!("[defaults]\nrotation = \"1d\"\n{MIN_SLOT}")),
        "/etc/keyrotor.toml line 2, column 1: unknown key \"rotation\" in [defaults]; \
         expected one of rotation_period, grace_period, retention"
    );
}

#[test]
fn missing_and_mistyped_keys() {
    assert_eq!(
        err("\n[[slot]]\nbackend = \"software\"\nstore = \"/s\"\n"),
        "/etc/keyrotor.toml line 2, column 1: missing key \"label\" in [[slot]]; \
         every [[slot]] needs label, backend, store"
    );
    assert_eq!(
        err(&slot_with("id = \"one\"")),
        "/etc/keyrotor.toml line 5, column 6: slot.id: invalid type: string \"one\", \
         expected a non-negative integer"
    );
    assert_eq!(
        err(&slot_with("id = -1")),
        "/etc/keyrotor.toml line 5, column 6: slot.id: invalid value: integer `-1`, \
         expected a non-negative integer"
    );
    assert_eq!(
        err(&format!("[log]\nlevel = 3\n{MIN_SLOT}")),
        "/etc/keyrotor.toml line 2, column 9: log.level: invalid type: integer `3`, expected a string"
    );
    assert_eq!(
        err("[slot]\nlabel = \"a\"\n"),
        "/etc/keyrotor.toml line 1, column 1: slot: invalid type: map, expected an array; \
         write each slot as a [[slot]] table"
    );
}

#[test]
fn syntax_errors_are_located() {
    let m = err("[[slot]]\nlabel = \n");
    assert!(
        m.starts_with(
            "/etc/keyrotor.toml line 2, column 9: invalid TOML: invalid string; expected"
        ),
        "{m}"
    );
}

#[test]
fn slot_value_errors() {
    let label = |l: &str| err(&slot_with("").replace("\"a\"", &format!("\"{l}\"")));
    assert_eq!(
        label(""),
        "/etc/keyrotor.toml line 2, column 9: slot.label must be 1..=32 bytes of UTF-8 (got 0 bytes)"
    );
    // 17 two-byte characters: 17 characters but 34 bytes.
    assert!(
        label(&"é".repeat(17)).ends_with("slot.label must be 1..=32 bytes of UTF-8 (got 34 bytes)")
    );
    assert!(Config::from_toml(
        &slot_with("").replace("\"a\"", &format!("\"{}\"", "x".repeat(32))),
        "t"
    )
    .is_ok());

    let backend = |b: &str| err(&slot_with("").replace("\"software\"", &format!("\"{b}\"")));
    for name in ["aws-kms", "vault", "azure"] {
        assert_eq!(
            backend(name),
            format!(
                "/etc/keyrotor.toml line 3, column 11: slot.backend \"{name}\" is not available \
                 in this build yet; expected \"software\" or \"pkcs11\""
            )
        );
    }
    assert_eq!(
        backend("hsm"),
        "/etc/keyrotor.toml line 3, column 11: slot.backend \"hsm\" is not a backend; \
         expected \"software\" or \"pkcs11\""
    );
    assert_eq!(
        backend("pkcs11"),
        "/etc/keyrotor.toml line 3, column 11: slot.backend \"pkcs11\" needs a [slot.pkcs11] \
         table with module, token (or slot_id) and pin"
    );

    let store = |s: &str| err(&slot_with("").replace("/s.sqlite", s));
    let pg = store("postgres://kr:hunter2@db/keys");
    assert_eq!(
        pg,
        "/etc/keyrotor.toml line 4, column 9: slot.store: PostgreSQL stores are not available \
         in this build yet; expected a file path or \"sqlite:/path\""
    );
    assert!(!pg.contains("hunter2"));
    assert!(store("postgresql://db/keys").contains("not available in this build yet"));
    assert!(store("s3://bucket/k").ends_with(
        "slot.store: unknown store URL scheme; expected a file path or \"sqlite:/path\""
    ));
    assert!(store("").ends_with(
        "line 4, column 9: slot.store is empty; expected a file path or \"sqlite:/path\""
    ));
    assert!(store("sqlite:").contains("slot.store is empty"));

    assert_eq!(
        err(&slot_with("pin_min_len = 0")),
        "/etc/keyrotor.toml line 5, column 15: slot.pin_min_len must be at least 1"
    );
    assert_eq!(
        err(&slot_with("pin_min_len = 8\npin_max_len = 6")),
        "/etc/keyrotor.toml line 6, column 15: slot.pin_max_len (6) must be at least pin_min_len (8)"
    );
    assert_eq!(
        err(&slot_with("pin_min_len = 300")),
        "/etc/keyrotor.toml line 5, column 15: slot.pin_max_len (255) must be at least pin_min_len (300)"
    );
}

#[test]
fn log_and_defaults_value_errors() {
    assert_eq!(
        err(&format!("[log]\nlevel = \"loud\"\n{MIN_SLOT}")),
        "/etc/keyrotor.toml line 2, column 9: log.level \"loud\" is not a level; \
         expected one of error, warn, info, debug, trace"
    );
    assert_eq!(
        err(&format!("[log]\ndestination = \"journald\"\n{MIN_SLOT}")),
        "/etc/keyrotor.toml line 2, column 15: log.destination \"journald\" is not a log destination; \
         expected \"stderr\", \"syslog\" or \"file:/absolute/path\""
    );
    assert_eq!(
        err(&format!("[log]\ndestination = \"file:k.log\"\n{MIN_SLOT}")),
        "/etc/keyrotor.toml line 2, column 15: log.destination \"k.log\" is not absolute; \
         expected \"file:/absolute/path\""
    );
    assert_eq!(
        err(&format!("[defaults]\ngrace_period = \"30 days\"\n{MIN_SLOT}")),
        "/etc/keyrotor.toml line 2, column 16: defaults.grace_period: \"30 days\" is not a duration; \
         expected <n> followed by s, m, h, d or w, e.g. \"90d\", \"24h\", \"30m\", \"15s\", \"2w\""
    );
    assert_eq!(
        err(&format!("[defaults]\nrotation_period = \"0d\"\n{MIN_SLOT}")),
        "/etc/keyrotor.toml line 2, column 19: defaults.rotation_period must be more than zero, e.g. \"90d\""
    );
    let c = Config::from_toml(
        &format!("[defaults]\ngrace_period = \"0s\"\n{MIN_SLOT}"),
        "t",
    )
    .unwrap();
    assert_eq!(c.defaults.grace_period, Some(Duration::ZERO));
}

#[test]
fn slot_count_and_uniqueness() {
    assert_eq!(
        err("[log]\nlevel = \"info\"\n"),
        "/etc/keyrotor.toml: no [[slot]] table; expected at least one [[slot]] with label, backend and store"
    );
    assert_eq!(err(""), err("# nothing\n"));
    // The second slot's implicit id 1 collides with the first's explicit 1.
    let dup_id = format!(
        "{}\n{}",
        slot_with("id = 1"),
        slot_with("").replace("\"a\"", "\"b\"")
    );
    assert_eq!(
        err(&dup_id),
        "/etc/keyrotor.toml line 7, column 1: slot id 1 is already used by the [[slot]] at line 1; \
         expected unique ids"
    );
    let dup_label = format!("{}\n{}", slot_with(""), slot_with(""));
    assert_eq!(
        err(&dup_label),
        "/etc/keyrotor.toml line 7, column 1: slot label \"a\" is already used by the [[slot]] at line 1; \
         expected unique labels"
    );
}
