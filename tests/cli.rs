//! Integration tests of the `keyrotor` admin binary: each test runs the built
//! executable against its own temporary configuration and store, and checks
//! output (human and `--json`) and exit codes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const SO_PIN: &str = "12345678";
const USER_PIN: &str = "1234";

/// A temporary directory with `k.toml` naming one software slot.
struct Env {
    dir: tempfile::TempDir,
    conf: PathBuf,
}

/// What one run of the binary produced.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().expect("temp dir");
        let conf = dir.path().join("k.toml");
        let store = dir.path().join("s.sqlite");
        std::fs::write(
            &conf,
            format!(
                "[[slot]]\nlabel=\"t\"\nbackend=\"software\"\nstore=\"{}\"\n",
                store.display()
            ),
        )
        .expect("write config");
        Env { dir, conf }
    }

    fn store(&self) -> PathBuf {
        self.dir.path().join("s.sqlite")
    }

    /// [`bare`] with this environment's configuration.
    fn command(&self, args: &[&str]) -> Command {
        let mut c = bare(args);
        c.arg("--config").arg(&self.conf);
        c
    }

    fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut c = self.command(args);
        c.envs(env.iter().copied());
        let out: Output = c.output().expect("run keyrotor");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs with both PINs set.
    fn run(&self, args: &[&str]) -> Run {
        self.run_with(
            args,
            &[("KEYROTOR_PIN", USER_PIN), ("KEYROTOR_SO_PIN", SO_PIN)],
        )
    }

    /// Runs with both PINs and expects success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let r = self.run(args);
        assert_eq!(
            r.code, 0,
            "keyrotor {args:?} failed:\nstdout: {}\nstderr: {}",
            r.stdout, r.stderr
        );
        r.stdout
    }

    /// Runs with `--json` and parses stdout.
    fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        let out = self.ok(&all);
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("keyrotor {all:?}: not JSON ({e}): {out}"))
    }

    fn init(&self) {
        let out = self.ok(&["token", "init", "--label", "t", "--with-user-pin"]);
        assert!(out.contains("initialised"), "{out}");
    }
}

/// The binary with a clean environment (cheap KDF, no PINs, no other
/// configuration, stdin not a terminal) and no `--config`.
fn bare(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_keyrotor"));
    c.args(args);
    for var in [
        "KEYROTOR_PIN",
        "KEYROTOR_PIN_FILE",
        "KEYROTOR_SO_PIN",
        "KEYROTOR_SO_PIN_FILE",
        "KEYROTOR_CONF",
        "KEYROTOR_LOG_DEST",
        "KEYROTOR_TEST_CLOCK_FILE",
        "NO_COLOR",
    ] {
        c.env_remove(var);
    }
    c.env("KEYROTOR_KDF_MEMORY_KIB", "64")
        .env("KEYROTOR_LOG", "error")
        .env("XDG_CONFIG_HOME", "/nonexistent/keyrotor-cli-tests/config")
        .env("XDG_DATA_HOME", "/nonexistent/keyrotor-cli-tests/data")
        .stdin(Stdio::null());
    c
}

/// The row of a human table whose first cell is `first`.
fn row<'a>(table: &'a str, first: &str) -> &'a str {
    table
        .lines()
        .find(|l| l.split_whitespace().next() == Some(first))
        .unwrap_or_else(|| panic!("no row {first} in:\n{table}"))
}

fn versions(show: &Value) -> Vec<(u64, String, bool)> {
    show["versions"]
        .as_array()
        .expect("versions array")
        .iter()
        .map(|v| {
            (
                v["version"].as_u64().expect("version"),
                v["state"].as_str().expect("state").to_string(),
                v["disabled"].as_bool().expect("disabled"),
            )
        })
        .collect()
}

fn sqlite3_available() -> bool {
    Command::new("sqlite3")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn tamper(store: &Path, sql: &str) {
    let out = Command::new("sqlite3")
        .arg(store)
        .arg(sql)
        .output()
        .expect("run sqlite3");
    assert!(
        out.status.success(),
        "sqlite3: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_key_lives_through_the_whole_cli() {
    let env = Env::new();
    env.init();
    let info = env.json(&["token", "info"]);
    assert_eq!(info["initialized"], true);
    assert_eq!(info["user_pin_initialized"], true);
    assert_eq!(info["label"], "t");

    // Create: human and JSON forms.
    let out = env.ok(&[
        "key",
        "create",
        "payments",
        "--rotation-period",
        "30d",
        "--grace",
        "7d",
    ]);
    assert!(out.contains("created payments (256-bit AES"), "{out}");
    let logs = env.json(&[
        "key",
        "create",
        "logs",
        "--bits",
        "128",
        "--manual-only",
        "--id",
        "0a0b",
    ]);
    assert_eq!(logs["bits"], 128);
    assert_eq!(logs["id"], "0a0b");
    assert_eq!(logs["policy"]["manual_only"], true);
    assert_eq!(logs["next_rotation_at"], Value::Null);

    // List and show.
    let list = env.ok(&["key", "list"]);
    assert!(list.starts_with("NAME"), "{list}");
    assert!(row(&list, "payments").contains("v1"), "{list}");
    assert!(row(&list, "logs").contains("manual"), "{list}");
    let list = env.json(&["key", "list"]);
    let names: Vec<&str> = list
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|k| k["name"].as_str())
        .collect();
    assert_eq!(names, ["logs", "payments"]);
    let show = env.json(&["key", "show", "payments"]);
    assert_eq!(versions(&show), [(1, "active".to_string(), false)]);
    assert_eq!(show["policy"]["rotation_period_s"], 30 * 86_400);
    assert_eq!(show["policy"]["grace_period_s"], 7 * 86_400);

    // Rotate: v2 active, v1 valid.
    let out = env.ok(&["key", "rotate", "payments"]);
    assert!(out.contains("v2 is active"), "{out}");
    let show = env.json(&["key", "show", "payments"]);
    assert_eq!(show["active_version"], 2);
    assert_eq!(
        versions(&show),
        [(2, "active".into(), false), (1, "valid".into(), false)]
    );
    let human = env.ok(&["key", "show", "payments"]);
    assert!(row(&human, "v2").contains("active"), "{human}");
    assert!(row(&human, "v1").contains("valid"), "{human}");

    // Disable and enable one version.
    env.ok(&["key", "disable", "payments", "--version", "1"]);
    let show = env.json(&["key", "show", "payments"]);
    assert_eq!(versions(&show)[1], (1, "valid".into(), true));
    assert!(row(&env.ok(&["key", "show", "payments"]), "v1").contains("valid (disabled)"));
    env.ok(&["key", "enable", "payments", "--version", "1"]);
    assert_eq!(
        versions(&env.json(&["key", "show", "payments"]))[1],
        (1, "valid".into(), false)
    );

    // Compromise the Active version: emergency rotation to v3.
    let out = env.ok(&["key", "compromise", "payments"]);
    assert!(out.contains("v3 is active"), "{out}");
    let show = env.json(&["key", "show", "payments"]);
    assert_eq!(
        versions(&show),
        [
            (3, "active".into(), false),
            (2, "compromised".into(), false),
            (1, "valid".into(), false)
        ]
    );

    let again = env.ok(&["key", "compromise", "payments", "--version", "2"]);
    assert!(again.contains("compromised already"), "{again}");

    // Destroy v1: refused without --yes off a terminal, done with it.
    let r = env.run(&["key", "destroy", "payments", "--version", "1"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--yes"), "{}", r.stderr);
    env.ok(&["key", "destroy", "payments", "--version", "1", "--yes"]);
    let show = env.json(&["key", "show", "payments"]);
    assert_eq!(versions(&show)[2], (1, "destroyed".into(), false));
    assert_eq!(show["versions"][2]["material_present"], false);
    let r = env.run(&["key", "destroy", "payments", "--version", "3", "--yes"]);
    assert_eq!(
        r.code, 1,
        "the Active version cannot be destroyed: {}",
        r.stderr
    );
    assert!(r.stderr.contains("rotate first"), "{}", r.stderr);

    // Policy: change one field, the others stay.
    env.ok(&["policy", "set", "payments", "--keep-versions", "5"]);
    let policy = env.json(&["policy", "show", "payments"]);
    assert_eq!(policy["policy"]["keep_versions"], 5);
    assert_eq!(policy["policy"]["grace_period_s"], 7 * 86_400);
    assert!(env
        .ok(&["policy", "show", "payments"])
        .contains("keep versions            5"));

    // Status.
    let status = env.ok(&["status"]);
    let line = row(&status, "payments");
    assert!(
        line.contains("v3") && line.contains("in 29d 23h"),
        "{status}"
    );
    assert!(
        line.contains("1 active, 1 compromised, 1 destroyed"),
        "{status}"
    );
    assert!(row(&status, "logs").contains("manual"), "{status}");
    assert!(
        status.contains("storage key") && status.contains("all 3 sealed rows current"),
        "{status}"
    );
    assert!(status.contains("manager"), "{status}");
    let status = env.json(&["status"]);
    assert_eq!(status["keys"][1]["name"], "payments");
    assert_eq!(status["keys"][1]["overdue"], false);
    assert_eq!(status["storage"]["remaining"], 0);

    // Audit: verify, export, then tamper with one row.
    let out = env.ok(&["audit", "verify"]);
    assert!(out.contains("OK"), "{out}");
    let verified = env.json(&["audit", "verify"]);
    assert_eq!(verified["ok"], true);
    let count = verified["entries"].as_u64().expect("entries");
    assert!(count >= 10, "{verified}");
    let export = env.ok(&["audit", "export"]);
    let seqs: Vec<u64> = export
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .map(|v| v["seq"].as_u64().expect("seq"))
        .collect();
    assert_eq!(seqs, (1..=count).collect::<Vec<_>>());
    let file = env.dir.path().join("audit.jsonl");
    env.ok(&[
        "audit",
        "export",
        "--output",
        file.to_str().expect("utf-8 path"),
    ]);
    let written = std::fs::read_to_string(&file).expect("export file");
    assert_eq!(written, export);

    if !sqlite3_available() {
        eprintln!("sqlite3 not installed: skipping the tampering check");
        return;
    }
    tamper(&env.store(), "UPDATE audit_log SET detail='{}' WHERE seq=2");
    let r = env.run(&["audit", "verify"]);
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("seq 2:"), "{}", r.stdout);
    assert!(
        !r.stdout.contains("seq 3:"),
        "only the edited row is named: {}",
        r.stdout
    );
    let r = env.run(&["audit", "verify", "--json"]);
    assert_eq!(r.code, 3);
    let j: Value = serde_json::from_str(&r.stdout).expect("json");
    assert_eq!(j["ok"], false);
    assert_eq!(j["problems"][0]["seq"], 2);
}

#[test]
fn unknown_keys_and_versions_exit_4() {
    let env = Env::new();
    env.init();
    env.ok(&["key", "create", "k"]);
    for args in [
        vec!["key", "show", "nope"],
        vec!["key", "rotate", "nope"],
        vec!["policy", "show", "nope"],
        vec!["key", "destroy", "k", "--version", "9", "--yes"],
        vec!["key", "disable", "k", "--version", "9"],
    ] {
        let r = env.run(&args);
        assert_eq!(r.code, 4, "{args:?}: {}", r.stderr);
    }
    let r = env.run(&["key", "show", "nope"]);
    assert!(
        r.stderr
            .contains("no key named \"nope\"; see `keyrotor key list`"),
        "{}",
        r.stderr
    );
    // Read-only commands need no PIN, and the lookup comes before the PIN.
    assert_eq!(env.run_with(&["key", "rotate", "nope"], &[]).code, 4);
    // Destroying the whole key: afterwards it is not found.
    let out = env.ok(&["key", "destroy", "k", "--yes"]);
    assert!(out.contains("destroyed the key k"), "{out}");
    assert_eq!(env.run(&["key", "show", "k"]).code, 4);
    assert_eq!(env.json(&["key", "list"]), serde_json::json!([]));
}

#[test]
fn pins_come_from_the_environment_or_a_file_never_arguments() {
    let env = Env::new();
    let r = env.run_with(&["token", "init", "--label", "t"], &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("KEYROTOR_SO_PIN"), "{}", r.stderr);
    env.init();
    let r = env.run_with(&["key", "create", "k"], &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("set $KEYROTOR_PIN or $KEYROTOR_PIN_FILE"),
        "{}",
        r.stderr
    );
    let r = env.run_with(&["key", "create", "k"], &[("KEYROTOR_PIN", "9999")]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("incorrect PIN"), "{}", r.stderr);
    let pin_file = env.dir.path().join("pin");
    std::fs::write(&pin_file, format!("{USER_PIN}\n")).expect("pin file");
    let r = env.run_with(
        &["key", "create", "k"],
        &[("KEYROTOR_PIN_FILE", pin_file.to_str().expect("utf-8"))],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Reading needs no PIN.
    assert_eq!(env.run_with(&["key", "list"], &[]).code, 0);
    assert_eq!(env.run_with(&["--pin", "1234", "key", "list"], &[]).code, 2);
}

#[test]
fn usage_errors_exit_2_and_help_documents_exit_codes() {
    let env = Env::new();
    let help = env.run(&["--help"]);
    assert_eq!(help.code, 0);
    assert!(
        help.stdout.contains("3  audit verification failed"),
        "{}",
        help.stdout
    );
    assert!(help.stdout.contains("4  not found"), "{}", help.stdout);
    let r = env.run(&["key", "list"]);
    assert_eq!(r.code, 1, "uninitialised token: {}", r.stderr);
    assert!(r.stderr.contains("keyrotor token init"), "{}", r.stderr);
    env.init();
    for args in [
        vec!["key", "create", "k", "--bits", "512"],
        vec!["key", "create", "k", "--grace", "30 days"],
        vec!["key", "create", "k", "--rotate-before", "1d"],
        vec!["key", "create", "a@b"],
        vec!["policy", "set", "k"],
        vec!["--slot", "7", "key", "list"],
        vec!["frobnicate"],
    ] {
        let r = env.run(&args);
        assert_eq!(r.code, 2, "{args:?}: {}{}", r.stdout, r.stderr);
    }
    let missing = env.dir.path().join("missing.toml");
    let out = bare(&["--config", missing.to_str().expect("utf-8"), "key", "list"])
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn storage_key_rotation_waits_until_everything_is_resealed() {
    let env = Env::new();
    env.init();
    env.ok(&["key", "create", "a"]);
    env.ok(&["key", "create", "b"]);
    let j = env.json(&["token", "rotate-storage-key", "--wait"]);
    assert_eq!(j["data_key"], 2);
    assert_eq!(j["remaining"], 0);
    let status = env.json(&["status"]);
    assert_eq!(status["storage"]["active_id"], 2);
    assert_eq!(status["storage"]["remaining"], 0);
    // The keys still work after re-sealing: rotating needs the new data key.
    assert!(env.ok(&["key", "rotate", "a"]).contains("v2 is active"));
}

#[test]
fn the_manager_runs_in_the_foreground_until_sigterm() {
    let env = Env::new();
    env.init();
    env.ok(&["key", "create", "fast", "--rotation-period", "1s"]);
    let once = env.ok(&["manager", "run", "--once", "--json"]);
    for l in once.lines() {
        let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        assert!(v["event"].is_string(), "{l}");
    }
    let mut c = env.command(&["manager", "run"]);
    c.env("KEYROTOR_PIN", USER_PIN)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = c.spawn().expect("spawn manager");
    let started = Instant::now();
    // Wait for at least one scheduled rotation (period 1 s).
    while started.elapsed() < Duration::from_secs(20) {
        let show = env.json(&["key", "show", "fast"]);
        if show["active_version"].as_u64().unwrap_or(0) >= 3 {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let pid = libc::pid_t::try_from(child.id()).expect("pid fits");
    // SAFETY: signalling the child this test spawned and still owns.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let out = child.wait_with_output().expect("manager output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("leads the key manager"), "{stdout}");
    assert!(stdout.contains("rotated fast: v"), "{stdout}");
    assert!(stdout.contains("key manager stopped"), "{stdout}");
}
