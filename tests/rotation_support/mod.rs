//! Shared helpers of the rotation tests (`tests/rotation_*.rs`): keyrotor's
//! vendor numbers, rotating-key generation and attribute reads through the
//! raw function list, the envelope / rewrap / plain-GCM / message-API
//! operations, the `keyrotor` CLI and the `sqlite3` command, bounded polling,
//! and child processes that are always killed.
//!
//! Each test file declares `#[macro_use] mod common;` before
//! `mod rotation_support;`, so `crate::common` is tests/common/mod.rs.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::common::sys::*;
use crate::common::{GcmMsg, Mech, Raw, Template};

/// keyrotor's vendor offset ("KR").
pub const BASE: CK_ULONG = 0x4B52_0000;

/// `CKA_VENDOR_DEFINED | BASE + n`.
pub const fn cka(n: CK_ULONG) -> CK_ATTRIBUTE_TYPE {
    CKA_VENDOR_DEFINED | (BASE + n)
}

/// Version number (current object: the Active version).
pub const VERSION: CK_ATTRIBUTE_TYPE = cka(1);
/// Lifecycle state.
pub const STATE: CK_ATTRIBUTE_TYPE = cka(2);
/// Rotation period, seconds.
pub const ROTATION_PERIOD: CK_ATTRIBUTE_TYPE = cka(3);
/// Next rotation, Unix seconds.
pub const NEXT_ROTATION: CK_ATTRIBUTE_TYPE = cka(4);
/// Grace period, seconds.
pub const GRACE_PERIOD: CK_ATTRIBUTE_TYPE = cka(5);
/// Retention, seconds.
pub const RETENTION: CK_ATTRIBUTE_TYPE = cka(6);
/// Encryptions counted.
pub const ENCRYPTION_COUNT: CK_ATTRIBUTE_TYPE = cka(7);
/// Rotate after this many encryptions.
pub const MAX_ENCRYPTIONS: CK_ATTRIBUTE_TYPE = cka(8);
/// Seconds a replaced version stays Valid.
pub const VALID_PERIOD: CK_ATTRIBUTE_TYPE = cka(9);
/// Newest versions never destroyed.
pub const KEEP_VERSIONS: CK_ATTRIBUTE_TYPE = cka(10);
/// Manual rotation only.
pub const MANUAL_ONLY: CK_ATTRIBUTE_TYPE = cka(11);
/// Admin hold.
pub const DISABLED: CK_ATTRIBUTE_TYPE = cka(12);
/// Decryptions counted.
pub const DECRYPTION_COUNT: CK_ATTRIBUTE_TYPE = cka(13);

/// States (`CKA_KEYROTOR_STATE`).
pub const ACTIVE: CK_ULONG = 1;
/// Replaced, still decrypts.
pub const VALID: CK_ULONG = 2;
/// On its way out, still decrypts.
pub const GRACE: CK_ULONG = 3;
/// Refuses everything.
pub const REVOKED: CK_ULONG = 4;
/// Material erased.
pub const DESTROYED: CK_ULONG = 5;
/// Emergency state.
pub const COMPROMISED: CK_ULONG = 6;

/// The envelope mechanism (parameter: AAD bytes, optional).
pub const CKM_ENVELOPE: CK_MECHANISM_TYPE = CKM_VENDOR_DEFINED | (BASE + 1);
/// The rewrap mechanism (old envelope in, new one out).
pub const CKM_REWRAP: CK_MECHANISM_TYPE = CKM_VENDOR_DEFINED | (BASE + 2);

/// The version is revoked.
pub const CKR_REVOKED: CK_RV = CKR_VENDOR_DEFINED | (BASE + 1);
/// The version is destroyed.
pub const CKR_DESTROYED: CK_RV = CKR_VENDOR_DEFINED | (BASE + 2);
/// The version is disabled.
pub const CKR_DISABLED: CK_RV = CKR_VENDOR_DEFINED | (BASE + 3);
/// The version is compromised.
pub const CKR_COMPROMISED: CK_RV = CKR_VENDOR_DEFINED | (BASE + 4);

/// Envelope overhead: header 5 + IV 12 + tag 16.
pub const ENVELOPE_OVERHEAD: usize = 33;

/// Name of a state number, as `keyrotor key show --json` spells it.
pub fn state_name(s: CK_ULONG) -> &'static str {
    match s {
        ACTIVE => "active",
        VALID => "valid",
        GRACE => "grace",
        REVOKED => "revoked",
        DESTROYED => "destroyed",
        COMPROMISED => "compromised",
        _ => "unknown",
    }
}

/// Readable name of a return value, including keyrotor's vendor codes.
pub fn rv_name(rv: CK_RV) -> String {
    match rv {
        CKR_REVOKED => "CKR_KEYROTOR_VERSION_REVOKED".into(),
        CKR_DESTROYED => "CKR_KEYROTOR_VERSION_DESTROYED".into(),
        CKR_DISABLED => "CKR_KEYROTOR_VERSION_DISABLED".into(),
        CKR_COMPROMISED => "CKR_KEYROTOR_VERSION_COMPROMISED".into(),
        _ => crate::common::rv_name(rv),
    }
}

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

/// Polls `f` every 50 ms until it returns `Some` or `limit` passes.
pub fn poll<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if start.elapsed() >= limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A tiny deterministic PRNG (xorshift64*), so runs can be repeated from the
/// printed seed without a `rand` dependency.
pub struct Rng(u64);

impl Rng {
    /// Seeded from `$KEYROTOR_TEST_SEED` or the clock; prints the seed.
    pub fn new(what: &str) -> Rng {
        let seed = std::env::var("KEYROTOR_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| now_ms() as u64 | 1);
        eprintln!("{what}: seed {seed} (rerun with KEYROTOR_TEST_SEED={seed})");
        Rng(seed.max(1))
    }

    /// The next value.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `lo..hi` (hi > lo).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }
}

// ---------------------------------------------------------------------------
// Keys and attributes through the raw function list.

/// `C_GenerateKey(CKM_AES_KEY_GEN)` of a 256-bit token key called `name`
/// (CKA_ID = the name's bytes) with keyrotor policy attributes.
pub fn generate_key(
    raw: &Raw,
    h: CK_SESSION_HANDLE,
    name: &str,
    policy: &[(CK_ATTRIBUTE_TYPE, CK_ULONG)],
) -> Result<CK_OBJECT_HANDLE, CK_RV> {
    let mut t = Template::new()
        .ulong(CKA_CLASS, CKO_SECRET_KEY)
        .ulong(CKA_KEY_TYPE, CKK_AES)
        .ulong(CKA_VALUE_LEN, 32)
        .bool(CKA_TOKEN, true)
        .bool(CKA_PRIVATE, true)
        .bool(CKA_ENCRYPT, true)
        .bool(CKA_DECRYPT, true)
        .bytes(CKA_LABEL, name.as_bytes())
        .bytes(CKA_ID, name.as_bytes());
    for (a, v) in policy {
        t = t.ulong(*a, *v);
    }
    let mut m = Mech::plain(CKM_AES_KEY_GEN);
    let mut o = CK_INVALID_HANDLE;
    let rv = ck!(raw, C_GenerateKey(h, m.ptr(), t.ptr(), t.count(), &mut o));
    if rv != CKR_OK {
        return Err(rv);
    }
    Ok(o)
}

/// Reads a `CK_ULONG` attribute.
pub fn ulong_attr(
    raw: &Raw,
    h: CK_SESSION_HANDLE,
    o: CK_OBJECT_HANDLE,
    t: CK_ATTRIBUTE_TYPE,
) -> Result<CK_ULONG, CK_RV> {
    let v = raw.attr(h, o, t)?;
    assert_eq!(
        v.len(),
        std::mem::size_of::<CK_ULONG>(),
        "attribute 0x{t:x} of object {o} has length {} (a CK_ULONG is 8 bytes)",
        v.len()
    );
    Ok(CK_ULONG::from_ne_bytes(v.try_into().expect("8 bytes")))
}

/// Reads a `CK_ULONG` attribute, panicking with a readable message.
pub fn ulong(raw: &Raw, h: CK_SESSION_HANDLE, o: CK_OBJECT_HANDLE, t: CK_ATTRIBUTE_TYPE) -> u64 {
    ulong_attr(raw, h, o, t)
        .unwrap_or_else(|rv| panic!("C_GetAttributeValue(object {o}, 0x{t:x}): {}", rv_name(rv)))
}

/// The label of an object as text.
pub fn label(raw: &Raw, h: CK_SESSION_HANDLE, o: CK_OBJECT_HANDLE) -> String {
    let v = raw
        .attr(h, o, CKA_LABEL)
        .unwrap_or_else(|rv| panic!("CKA_LABEL of {o}: {}", rv_name(rv)));
    String::from_utf8_lossy(&v).into_owned()
}

/// Every secret-key object in `C_FindObjects` order, with its label.
pub fn find_secret_keys(raw: &Raw, h: CK_SESSION_HANDLE) -> Vec<(CK_OBJECT_HANDLE, String)> {
    let mut t = Template::new().ulong(CKA_CLASS, CKO_SECRET_KEY);
    raw.find(h, Some(&mut t), 7)
        .into_iter()
        .map(|o| (o, label(raw, h, o)))
        .collect()
}

/// The objects of key `name` (current object and `name@vN`), find order kept.
pub fn key_objects(raw: &Raw, h: CK_SESSION_HANDLE, name: &str) -> Vec<(CK_OBJECT_HANDLE, String)> {
    let prefix = format!("{name}@v");
    find_secret_keys(raw, h)
        .into_iter()
        .filter(|(_, l)| l == name || l.starts_with(&prefix))
        .collect()
}

/// The current object of `name` (found by its exact label).
pub fn current_object(raw: &Raw, h: CK_SESSION_HANDLE, name: &str) -> CK_OBJECT_HANDLE {
    let mut t = Template::new()
        .ulong(CKA_CLASS, CKO_SECRET_KEY)
        .bytes(CKA_LABEL, name.as_bytes());
    let found = raw.find(h, Some(&mut t), 4);
    assert_eq!(
        found.len(),
        1,
        "exactly one object labelled {name:?} (the current object), found {found:?}"
    );
    found[0]
}

/// Polls (up to `limit`) until this process's current object of a key shows
/// `CKA_KEYROTOR_VERSION == want`; returns how long it took.
pub fn wait_version(
    raw: &Raw,
    h: CK_SESSION_HANDLE,
    key: CK_OBJECT_HANDLE,
    want: u64,
    limit: Duration,
) -> Result<Duration, u64> {
    let start = Instant::now();
    let mut last = 0;
    poll(limit, || {
        last = ulong(raw, h, key, VERSION);
        (last == want).then_some(())
    })
    .map(|()| start.elapsed())
    .ok_or(last)
}

// ---------------------------------------------------------------------------
// Operations.

/// `C_Encrypt` with the envelope mechanism (`aad` empty: no parameter).
pub fn envelope_encrypt(
    raw: &Raw,
    h: CK_SESSION_HANDLE,
    key: CK_OBJECT_HANDLE,
    pt: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, CK_RV> {
    let mut m = if aad.is_empty() {
        Mech::plain(CKM_ENVELOPE)
    } else {
        Mech::bytes(CKM_ENVELOPE, aad)
    };
    raw.encrypt(h, &mut m, key, pt)
}

/// `C_Decrypt` with the envelope mechanism.
pub fn envelope_decrypt(
    raw: &Raw,
    h: CK_SESSION_HANDLE,
    key: CK_OBJECT_HANDLE,
    blob: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, CK_RV> {
    let mut m = if aad.is_empty() {
        Mech::plain(CKM_ENVELOPE)
    } else {
        Mech::bytes(CKM_ENVELOPE, aad)
    };
    raw.decrypt(h, &mut m, key, blob)
}

/// `C_EncryptInit`/`C_Encrypt` with the rewrap mechanism.
pub fn rewrap(
    raw: &Raw,
    h: CK_SESSION_HANDLE,
    key: CK_OBJECT_HANDLE,
    blob: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, CK_RV> {
    let mut m = if aad.is_empty() {
        Mech::plain(CKM_REWRAP)
    } else {
        Mech::bytes(CKM_REWRAP, aad)
    };
    raw.encrypt(h, &mut m, key, blob)
}

/// The version an envelope names (bytes 1..5, big-endian); checks the format byte.
pub fn envelope_version(blob: &[u8]) -> u32 {
    assert!(
        blob.len() >= ENVELOPE_OVERHEAD,
        "envelope too short: {} bytes",
        blob.len()
    );
    assert_eq!(blob[0], 0x01, "envelope format byte");
    u32::from_be_bytes(blob[1..5].try_into().expect("4 bytes"))
}

/// Plain `CKM_AES_GCM` encryption with a caller IV (128-bit tag).
pub fn gcm_encrypt(
    raw: &Raw,
    h: CK_SESSION_HANDLE,
    key: CK_OBJECT_HANDLE,
    iv: &[u8],
    pt: &[u8],
) -> Result<Vec<u8>, CK_RV> {
    raw.encrypt(h, &mut Mech::gcm(iv, b"plain-gcm", 128), key, pt)
}

/// Plain `CKM_AES_GCM` decryption.
pub fn gcm_decrypt(
    raw: &Raw,
    h: CK_SESSION_HANDLE,
    key: CK_OBJECT_HANDLE,
    iv: &[u8],
    ct: &[u8],
) -> Result<Vec<u8>, CK_RV> {
    raw.decrypt(h, &mut Mech::gcm(iv, b"plain-gcm", 128), key, ct)
}

/// One message sealed with the 3.0 message API.
#[derive(Clone, Debug)]
pub struct Message {
    /// The IV the module wrote.
    pub iv: Vec<u8>,
    /// Ciphertext.
    pub ct: Vec<u8>,
    /// Tag (16 bytes).
    pub tag: Vec<u8>,
}

impl Message {
    /// The version in the IV's fixed field (first 4 bytes, big-endian).
    pub fn version(&self) -> u32 {
        u32::from_be_bytes(self.iv[..4].try_into().expect("12-byte IV"))
    }
}

/// `C_EncryptMessage` in a message context already initialised on `h`.
pub fn msg_encrypt_in(
    raw: &Raw,
    h: CK_SESSION_HANDLE,
    generator: CK_GENERATOR_FUNCTION,
    aad: &[u8],
    pt: &[u8],
) -> Result<Message, CK_RV> {
    let mut p = GcmMsg::new(&[0u8; 12], 0, generator, 16);
    let mut out = vec![0u8; pt.len() + 16];
    let mut n = out.len() as CK_ULONG;
    let rv = ck!(
        raw,
        C_EncryptMessage(
            h,
            p.ptr(),
            p.len(),
            aad.as_ptr() as *mut u8,
            aad.len() as CK_ULONG,
            pt.as_ptr() as *mut u8,
            pt.len() as CK_ULONG,
            out.as_mut_ptr(),
            &mut n
        )
    );
    if rv != CKR_OK {
        return Err(rv);
    }
    out.truncate(n as usize);
    Ok(Message {
        iv: p.iv.to_vec(),
        ct: out,
        tag: p.tag.to_vec(),
    })
}

/// `C_DecryptMessage` in a message context already initialised on `h`.
pub fn msg_decrypt_in(
    raw: &Raw,
    h: CK_SESSION_HANDLE,
    m: &Message,
    aad: &[u8],
) -> Result<Vec<u8>, CK_RV> {
    let mut p = GcmMsg::new(&m.iv, 0, CKG_NO_GENERATE, 16);
    p.tag.copy_from_slice(&m.tag);
    let mut out = vec![0u8; m.ct.len() + 16];
    let mut n = out.len() as CK_ULONG;
    let rv = ck!(
        raw,
        C_DecryptMessage(
            h,
            p.ptr(),
            p.len(),
            aad.as_ptr() as *mut u8,
            aad.len() as CK_ULONG,
            m.ct.as_ptr() as *mut u8,
            m.ct.len() as CK_ULONG,
            out.as_mut_ptr(),
            &mut n
        )
    );
    if rv != CKR_OK {
        return Err(rv);
    }
    out.truncate(n as usize);
    Ok(out)
}

/// Init, one `C_EncryptMessage`, Final.
pub fn msg_encrypt(
    raw: &Raw,
    h: CK_SESSION_HANDLE,
    key: CK_OBJECT_HANDLE,
    generator: CK_GENERATOR_FUNCTION,
    aad: &[u8],
    pt: &[u8],
) -> Result<Message, CK_RV> {
    let rv = ck!(
        raw,
        C_MessageEncryptInit(h, Mech::plain(CKM_AES_GCM).ptr(), key)
    );
    if rv != CKR_OK {
        return Err(rv);
    }
    let r = msg_encrypt_in(raw, h, generator, aad, pt);
    let rv = ck!(raw, C_MessageEncryptFinal(h));
    let m = r?;
    if rv != CKR_OK {
        return Err(rv);
    }
    Ok(m)
}

/// Init, one `C_DecryptMessage`, Final.
pub fn msg_decrypt(
    raw: &Raw,
    h: CK_SESSION_HANDLE,
    key: CK_OBJECT_HANDLE,
    m: &Message,
    aad: &[u8],
) -> Result<Vec<u8>, CK_RV> {
    let rv = ck!(
        raw,
        C_MessageDecryptInit(h, Mech::plain(CKM_AES_GCM).ptr(), key)
    );
    if rv != CKR_OK {
        return Err(rv);
    }
    let r = msg_decrypt_in(raw, h, m, aad);
    let rv = ck!(raw, C_MessageDecryptFinal(h));
    let pt = r?;
    if rv != CKR_OK {
        return Err(rv);
    }
    Ok(pt)
}

/// Closes a session, ignoring the result (cleanup paths).
pub fn close(raw: &Raw, h: CK_SESSION_HANDLE) {
    let _ = ck!(raw, C_CloseSession(h));
}

// ---------------------------------------------------------------------------
// The CLI and the store.

/// The `keyrotor` CLI built with these tests.
pub fn cli_path() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_keyrotor"))
}

/// A `keyrotor --config <conf> ARGS` command with the test PINs and KDF.
pub fn cli_command(conf: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(cli_path());
    c.arg("--config")
        .arg(conf)
        .args(args)
        .env("KEYROTOR_PIN", "1234")
        .env("KEYROTOR_SO_PIN", "12345678")
        .env("KEYROTOR_KDF_MEMORY_KIB", "64")
        .env("XDG_CONFIG_HOME", "/nonexistent/keyrotor-tests/config")
        .env("XDG_DATA_HOME", "/nonexistent/keyrotor-tests/data")
        .env_remove("KEYROTOR_CONF")
        .stdin(Stdio::null());
    c
}

/// Runs the CLI to completion (60 s at most) and returns its output.
pub fn cli(conf: &Path, args: &[&str]) -> Output {
    let mut c = cli_command(conf, args);
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = Killed(c.spawn().expect("spawn keyrotor CLI"));
    child.wait_output(Duration::from_secs(60), &format!("keyrotor {args:?}"))
}

/// Runs the CLI, asserting exit code 0; returns stdout.
pub fn cli_ok(conf: &Path, args: &[&str]) -> String {
    let o = cli(conf, args);
    assert!(
        o.status.success(),
        "keyrotor {args:?} failed ({}):\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `keyrotor key show NAME --json`, parsed.
pub fn key_show(conf: &Path, name: &str) -> serde_json::Value {
    let out = cli_ok(conf, &["key", "show", name, "--json"]);
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("key show --json: {e}: {out}"))
}

/// Runs `sqlite3` on `db` and returns its rows, columns split on '|'.
pub fn sqlite(db: &Path, sql: &str) -> Vec<Vec<String>> {
    let o = Command::new("sqlite3")
        .arg("-cmd")
        .arg(".timeout 5000")
        .arg(db)
        .arg(sql)
        .stdin(Stdio::null())
        .output()
        .expect("run sqlite3 (apt-get install sqlite3)");
    assert!(
        o.status.success(),
        "sqlite3 {sql:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.split('|').map(str::to_string).collect())
        .collect()
}

/// The store file the common configuration writes.
pub fn store_path(dir: &Path) -> PathBuf {
    dir.join("slot0.sqlite")
}

/// `(version, state, sealed IS NULL, activated_at)` of every version of the
/// key called `name`, oldest first.
pub fn store_versions(db: &Path, name: &str) -> Vec<(u32, u64, bool, i64)> {
    sqlite(
        db,
        &format!(
            "SELECT v.version, v.state, v.sealed IS NULL, coalesce(v.activated_at, -1) \
             FROM key_versions v JOIN keys k ON k.key_uid = v.key_uid AND k.token_id = v.token_id \
             WHERE k.name = '{name}' ORDER BY v.version"
        ),
    )
    .into_iter()
    .map(|r| {
        (
            r[0].parse().expect("version"),
            r[1].parse().expect("state"),
            r[2] == "1",
            r[3].parse().expect("activated_at"),
        )
    })
    .collect()
}

/// The store's Active version of `name`.
pub fn store_active(db: &Path, name: &str) -> u32 {
    let rows = sqlite(
        db,
        &format!("SELECT active_version FROM keys WHERE name = '{name}'"),
    );
    rows.first()
        .and_then(|r| r.first())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no key {name:?} in the store: {rows:?}"))
}

/// The pid at the start of the lease holder (`PID:random`), if a lease exists.
pub fn lease_holder_pid(db: &Path) -> Option<(u32, String)> {
    let rows = sqlite(db, "SELECT holder FROM leases");
    let holder = rows.first()?.first()?.clone();
    let pid = holder.split(':').next()?.parse().ok()?;
    Some((pid, holder))
}

/// Asserts versions are exactly `1..=N` and returns N.
pub fn assert_consecutive(versions: &[u32], what: &str) -> u32 {
    let n = versions.len() as u32;
    let want: Vec<u32> = (1..=n).collect();
    assert_eq!(
        versions, want,
        "{what}: versions must be exactly 1..=N with no gap or duplicate"
    );
    n
}

// ---------------------------------------------------------------------------
// Child processes.

/// A child process that is SIGKILLed and reaped when dropped.
pub struct Killed(pub Child);

impl Killed {
    /// The child's pid.
    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    /// SIGKILL now and reap.
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }

    /// True once the child has exited.
    pub fn exited(&mut self) -> bool {
        matches!(self.0.try_wait(), Ok(Some(_)))
    }

    /// Waits for exit (killing it after `limit`) and collects its piped output.
    pub fn wait_output(mut self, limit: Duration, what: &str) -> Output {
        let start = Instant::now();
        while !self.exited() {
            if start.elapsed() > limit {
                self.kill();
                panic!("{what} did not finish within {limit:?}; killed");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let mut out = Output {
            status: self.0.try_wait().ok().flatten().expect("exited"),
            stdout: vec![],
            stderr: vec![],
        };
        use std::io::Read;
        if let Some(mut s) = self.0.stdout.take() {
            let _ = s.read_to_end(&mut out.stdout);
        }
        if let Some(mut s) = self.0.stderr.take() {
            let _ = s.read_to_end(&mut out.stderr);
        }
        out
    }
}

impl Drop for Killed {
    fn drop(&mut self) {
        if !self.exited() {
            self.kill();
        }
    }
}

/// Starts this test binary again running only the ignored test `name`, with
/// `env` telling it its role.
pub fn spawn_self(name: &str, env: &[(&str, String)]) -> Killed {
    let exe = std::env::current_exe().expect("current_exe");
    let mut c = Command::new(exe);
    c.args([name, "--exact", "--ignored", "--nocapture"])
        .env("KEYROTOR_KDF_MEMORY_KIB", "64")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    Killed(c.spawn().expect("spawn child test process"))
}

/// Reads an environment variable a child's role needs.
pub fn role(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!("{var} is not set: this #[ignore] test is a child process started by another test")
    })
}
