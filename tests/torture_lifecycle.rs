//! Torture: the library's life. `C_Finalize` while other threads are in a
//! loop of `C_EncryptInit`/`C_Encrypt` (they may only ever see `CKR_OK`,
//! `CKR_CRYPTOKI_NOT_INITIALIZED` or `CKR_SESSION_HANDLE_INVALID`, never a
//! crash or a hang), and 50 cycles of Initialize → OpenSession → Login →
//! Encrypt → Finalize with the published result each time and no thread left.

#[macro_use]
mod common;

#[path = "torture/support.rs"]
mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::sys::*;
use common::{rv_name, thread_ids, thread_name, TestToken, USER_PIN};
use support::*;

/// What a looping thread may see while the library is finalised under it:
/// success before, "not initialised" after (§5.4 C_Finalize), and a
/// session that vanished with the library (§5.4: C_Finalize closes them).
const ALLOWED: [CK_RV; 3] = [
    CKR_OK,
    CKR_CRYPTOKI_NOT_INITIALIZED,
    CKR_SESSION_HANDLE_INVALID,
];

type InitFn = unsafe extern "C" fn(CK_SESSION_HANDLE, *mut CK_MECHANISM, CK_OBJECT_HANDLE) -> CK_RV;
type CryptFn =
    unsafe extern "C" fn(CK_SESSION_HANDLE, *mut u8, CK_ULONG, *mut u8, *mut CK_ULONG) -> CK_RV;

/// One looping thread: Init + one-shot call until `stop`, counting rvs.
#[allow(clippy::too_many_arguments)]
fn crypt_loop(
    init: InitFn,
    crypt: CryptFn,
    s: CK_SESSION_HANDLE,
    k: CK_OBJECT_HANDLE,
    input: Vec<u8>,
    expect: Vec<u8>,
    stop: &AtomicBool,
    calls: &AtomicU64,
) -> BTreeMap<(&'static str, CK_RV), u64> {
    let mut seen = BTreeMap::new();
    let mut out = vec![0u8; input.len() + 16];
    while !stop.load(Ordering::Relaxed) {
        let mut m = gcm4();
        let rv = unsafe { init(s, m.ptr(), k) };
        *seen.entry(("Init", rv)).or_insert(0) += 1;
        calls.fetch_add(1, Ordering::Relaxed);
        if rv != CKR_OK {
            continue;
        }
        let mut n = out.len() as CK_ULONG;
        let rv = unsafe {
            crypt(
                s,
                input.as_ptr() as *mut u8,
                input.len() as CK_ULONG,
                out.as_mut_ptr(),
                &mut n,
            )
        };
        *seen.entry(("one-shot", rv)).or_insert(0) += 1;
        if rv == CKR_OK {
            assert_eq!(
                &out[..n as usize],
                &expect[..],
                "a result computed during C_Finalize is wrong"
            );
        }
    }
    seen
}

#[test]
fn finalize_while_threads_encrypt() {
    let tok = TestToken::new();
    let r = &tok.raw;
    let f = &r.f;
    let (ei, e) = (f.C_EncryptInit.expect("fn"), f.C_Encrypt.expect("fn"));
    let (di, d) = (f.C_DecryptInit.expect("fn"), f.C_Decrypt.expect("fn"));
    assert_rv!(r.finalize(), CKR_OK);
    let mut total: BTreeMap<(&'static str, CK_RV), u64> = BTreeMap::new();
    let rounds = 40;
    for round in 0..rounds {
        assert_rv!(r.init_conf(&tok.conf), CKR_OK, "C_Initialize round {round}");
        let mut work = Vec::new();
        for t in 0..4 {
            let s = tok.user_session();
            let (k, _, _) = keys(r, s);
            let (init, crypt, input, expect) = if t % 2 == 0 {
                (ei, e, tc4_p(), tc4_ct())
            } else {
                (di, d, tc4_ct(), tc4_p())
            };
            work.push((init, crypt, s, k, input, expect));
        }
        let stop = AtomicBool::new(false);
        let calls = AtomicU64::new(0);
        let seen: Vec<_> = std::thread::scope(|sc| {
            let hs: Vec<_> = work
                .into_iter()
                .map(|(init, crypt, s, k, input, expect)| {
                    let (stop, calls) = (&stop, &calls);
                    sc.spawn(move || crypt_loop(init, crypt, s, k, input, expect, stop, calls))
                })
                .collect();
            // Let them get going, finalise under them, let them see it.
            let t0 = Instant::now();
            while calls.load(Ordering::Relaxed) < 20 && t0.elapsed() < Duration::from_secs(5) {
                std::thread::sleep(Duration::from_millis(1));
            }
            std::thread::sleep(Duration::from_millis(3 * (round % 7)));
            assert_rv!(r.finalize(), CKR_OK, "C_Finalize under load, round {round}");
            let after = calls.load(Ordering::Relaxed);
            let t1 = Instant::now();
            while calls.load(Ordering::Relaxed) < after + 20
                && t1.elapsed() < Duration::from_secs(5)
            {
                std::thread::sleep(Duration::from_millis(1));
            }
            stop.store(true, Ordering::Relaxed);
            hs.into_iter()
                .map(|h| h.join().expect("a looping thread panicked"))
                .collect()
        });
        for m in seen {
            for (key, n) in m {
                *total.entry(key).or_insert(0) += n;
            }
        }
    }
    let report: Vec<String> = total
        .iter()
        .map(|((f, rv), n)| format!("{f}: {} × {n}", rv_name(*rv)))
        .collect();
    eprintln!(
        "finalize under load, {rounds} rounds:\n  {}",
        report.join("\n  ")
    );
    let bad: Vec<&String> = total
        .iter()
        .zip(&report)
        .filter(|(((_, rv), _), _)| !ALLOWED.contains(rv))
        .map(|(_, line)| line)
        .collect();
    // FINDING 4: a C_EncryptInit/C_DecryptInit that found its session before
    // C_Finalize emptied the session table runs on after finalize removed the
    // session objects, and answers CKR_KEY_HANDLE_INVALID.
    assert!(
        bad.is_empty(),
        "codes a thread must not see during C_Finalize: {bad:?}"
    );
    assert!(
        total.get(&("one-shot", CKR_OK)).copied().unwrap_or(0) > 0,
        "the threads never encrypted: the test proved nothing"
    );
    // Leave the token initialised for TestToken's drop.
    assert_rv!(r.init_conf(&tok.conf), CKR_OK);
}

#[test]
fn fifty_initialize_finalize_cycles() {
    let tok = TestToken::new();
    let r = &tok.raw;
    assert_rv!(r.finalize(), CKR_OK);
    // One cycle first so that one-time process state exists before the baseline.
    assert_rv!(r.init_conf(&tok.conf), CKR_OK);
    assert_rv!(r.finalize(), CKR_OK);
    let before = thread_ids();
    let mut sessions = Vec::new();
    for i in 0..50 {
        assert_rv!(r.init_conf(&tok.conf), CKR_OK, "C_Initialize #{i}");
        let s = r.open(tok.slot, true);
        assert!(
            !sessions.contains(&s),
            "session handle {s} reused in cycle #{i}"
        );
        sessions.push(s);
        assert_rv!(r.login(s, CKU_USER, USER_PIN), CKR_OK, "C_Login #{i}");
        let (k, _, _) = keys(r, s);
        assert_eq!(
            r.encrypt(s, &mut gcm4(), k, &tc4_p()),
            Ok(tc4_ct()),
            "cycle #{i}"
        );
        let mut rnd = [0u8; 32];
        assert_rv!(ck!(r, C_GenerateRandom(s, rnd.as_mut_ptr(), 32)), CKR_OK);
        assert_rv!(r.finalize(), CKR_OK, "C_Finalize #{i}");
        assert_rv!(
            ck!(r, C_GetSessionInfo(s, &mut CK_SESSION_INFO::default())),
            CKR_CRYPTOKI_NOT_INITIALIZED,
            "after C_Finalize #{i}"
        );
    }
    let after = thread_ids();
    // Under plain `cargo test` other tests' threads come and go: there only
    // the module's own threads (keyrotor-rt, kr-db*) count.
    let nextest = std::env::var_os("NEXTEST_RUN_ID").is_some();
    let left: Vec<String> = after
        .iter()
        .filter(|t| !before.contains(t))
        .map(|t| (*t, thread_name(*t)))
        .filter(|(_, n)| nextest || n.starts_with("kr-") || n.starts_with("keyrotor"))
        .map(|(t, n)| format!("{t} ({n})"))
        .collect();
    assert!(left.is_empty(), "threads left after 50 cycles: {left:?}");
    if nextest {
        assert_eq!(after.len(), before.len(), "thread count after 50 cycles");
    }
    assert_rv!(r.init_conf(&tok.conf), CKR_OK);
}
