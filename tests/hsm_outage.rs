//! HSM outages: SoftHSM2 behind `p11-kit server` (its own processes), with
//! keyrotor loading p11-kit's client module. Concurrent callers use separate
//! HSM sessions; killing the server makes calls fail with
//! `CKR_DEVICE_ERROR` within the configured timeout; a hung server (stopped,
//! socket still open) does too; after a restart on the same socket the same
//! process works again without re-initialising keyrotor.
//!
//! p11-kit 0.24 (Debian 12) cannot carry `CK_GCM_PARAMS` over its RPC, so
//! the slot uses `gcm = "ecb"` (GCM assembled from the HSM's AES-ECB); the
//! native mode through p11-kit is checked to offer no GCM at all.

#[macro_use]
mod common;
mod hsm_support;
mod rotation_support;

use std::time::{Duration, Instant};

use common::sys::*;
use common::TestToken;
use hsm_support::*;
use rotation_support::*;

/// The slot's per-call timeout in these tests.
const TIMEOUT: Duration = Duration::from_secs(2);
/// How long the HSM may take to be usable again after a restart.
const RECOVERY: Duration = Duration::from_secs(15);

struct Outage {
    tok: TestToken,
    server: P11KitServer,
    _dir: tempfile::TempDir,
    // Dropped last: the next test may set P11_KIT_SERVER_ADDRESS.
    _serial: std::sync::MutexGuard<'static, ()>,
}

/// `P11_KIT_SERVER_ADDRESS` is process-wide: under `cargo test` (threads)
/// the tests of this file take turns.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn behind_p11_kit(pkcs11: &str) -> Outage {
    let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    softhsm();
    let dir = tempfile::tempdir().expect("tempdir");
    let server = P11KitServer::start(&dir.path().join("p11kit.sock"));
    // Read by the client module at C_Initialize (and at every reconnect).
    std::env::set_var("P11_KIT_SERVER_ADDRESS", server.address());
    write_hsm_conf(
        dir.path(),
        P11KIT_CLIENT,
        &format!(
            "timeout = \"{}s\"\npool_size = 2\n{pkcs11}",
            TIMEOUT.as_secs()
        ),
    );
    let tok = TestToken::attach(dir.path());
    tok.init_token();
    Outage {
        tok,
        server,
        _dir: dir,
        _serial: serial,
    }
}

/// One envelope encryption, timed.
fn timed_seal(
    o: &Outage,
    s: CK_SESSION_HANDLE,
    k: CK_OBJECT_HANDLE,
) -> (Result<Vec<u8>, CK_RV>, Duration) {
    let t = Instant::now();
    let r = envelope_encrypt(&o.tok.raw, s, k, b"during the outage", b"");
    (r, t.elapsed())
}

fn assert_fails_fast(o: &Outage, s: CK_SESSION_HANDLE, k: CK_OBJECT_HANDLE, what: &str) {
    for i in 0..3 {
        let (r, took) = timed_seal(o, s, k);
        assert_eq!(
            r.map(|_| ()).map_err(rv_name),
            Err(rv_name(CKR_DEVICE_ERROR)),
            "{what}: call {i}"
        );
        eprintln!("{what}: call {i} failed in {took:?}");
        assert!(
            took < TIMEOUT + Duration::from_secs(1),
            "{what}: call {i} took {took:?} (timeout {TIMEOUT:?})"
        );
    }
}

/// Polls until an envelope encryption succeeds again; returns how long it took.
fn wait_recovery(o: &Outage, s: CK_SESSION_HANDLE, k: CK_OBJECT_HANDLE) -> Duration {
    let start = Instant::now();
    let mut last = CKR_OK;
    let back = poll(RECOVERY, || {
        match envelope_encrypt(&o.tok.raw, s, k, b"x", b"") {
            Ok(_) => Some(()),
            Err(rv) => {
                last = rv;
                std::thread::sleep(Duration::from_millis(100));
                None
            }
        }
    });
    assert!(
        back.is_some(),
        "the HSM slot did not recover within {RECOVERY:?}; last error {}",
        rv_name(last)
    );
    start.elapsed()
}

#[test]
fn concurrent_callers_then_a_killed_and_restarted_hsm() {
    let mut o = behind_p11_kit("gcm = \"ecb\"");
    let raw = &o.tok.raw;
    let s = o.tok.user_session();
    let k = generate_key(raw, s, "svc", &[]).expect("C_GenerateKey through p11-kit");
    let before = envelope_encrypt(raw, s, k, b"written before the outage", b"").unwrap();

    // Two threads, each with its own keyrotor session, encrypting at once.
    let slot = o.tok.slot;
    std::thread::scope(|scope| {
        for t in 0..2u8 {
            scope.spawn(move || {
                // Same mapping of the module; login is per application.
                let raw = common::Raw::load();
                let s = raw.open(slot, true);
                for i in 0..50u8 {
                    let msg = [t, i, 0x5a, 0xa5];
                    let env = envelope_encrypt(&raw, s, k, &msg, b"").expect("encrypt");
                    assert_eq!(
                        envelope_decrypt(&raw, s, k, &env, b"").expect("decrypt"),
                        msg
                    );
                }
                close(&raw, s);
            });
        }
    });

    o.server.kill();
    assert_fails_fast(&o, s, k, "HSM killed");
    let rv = envelope_decrypt(raw, s, k, &before, b"").expect_err("no HSM, no decryption");
    assert_eq!(rv_name(rv), rv_name(CKR_DEVICE_ERROR));

    // Same socket path: the configuration does not change.
    o.server = P11KitServer::start(&o.server.socket.clone());
    let took = wait_recovery(&o, s, k);
    eprintln!("usable again {took:?} after the restart");
    assert_eq!(
        envelope_decrypt(raw, s, k, &before, b"").expect("decrypt after recovery"),
        b"written before the outage"
    );
}

#[test]
fn a_hung_hsm_never_holds_a_caller_past_the_timeout() {
    let o = behind_p11_kit("gcm = \"ecb\"");
    let raw = &o.tok.raw;
    let s = o.tok.user_session();
    let k = generate_key(raw, s, "hang", &[]).expect("C_GenerateKey");
    let before = envelope_encrypt(raw, s, k, b"before the hang", b"").unwrap();

    // Stopped, not killed: the socket stays open and calls would block.
    o.server.signal(libc::SIGSTOP);
    assert_fails_fast(&o, s, k, "HSM hung");
    o.server.signal(libc::SIGCONT);
    let took = wait_recovery(&o, s, k);
    eprintln!("usable again {took:?} after the HSM resumed");
    assert_eq!(
        envelope_decrypt(raw, s, k, &before, b"").unwrap(),
        b"before the hang"
    );
}

#[test]
fn native_gcm_through_p11_kit_is_not_offered() {
    // p11-kit 0.24's RPC cannot carry CK_GCM_PARAMS: the HSM slot must not
    // claim GCM (nor the envelope built on it), but key generation works.
    let o = behind_p11_kit("");
    let raw = &o.tok.raw;
    let mut n: CK_ULONG = 0;
    assert_rv!(
        ck!(
            raw,
            C_GetMechanismList(o.tok.slot, std::ptr::null_mut(), &mut n)
        ),
        CKR_OK
    );
    let mut m = vec![0; n as usize];
    assert_rv!(
        ck!(raw, C_GetMechanismList(o.tok.slot, m.as_mut_ptr(), &mut n)),
        CKR_OK
    );
    assert!(m.contains(&CKM_AES_KEY_GEN), "{m:x?}");
    for absent in [CKM_AES_GCM, CKM_ENVELOPE, CKM_REWRAP] {
        assert!(
            !m.contains(&absent),
            "0x{absent:x} offered through p11-kit: {m:x?}"
        );
    }
}
