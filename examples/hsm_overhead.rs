//! What keyrotor's HSM slot costs on top of the HSM: AES-256-GCM encryption
//! of 4 KiB messages (caller IV, 128-bit tag, `C_EncryptInit` + one
//! `C_Encrypt` per message) on SoftHSM2 directly, and through keyrotor's
//! pkcs11 slot on the same SoftHSM2 token (`calls = "worker"`, the default,
//! and `calls = "inline"`), with 1 and 2 threads (one session each).
//!
//! The rounds are interleaved (direct, worker, inline, direct, ...) and the
//! median of each is reported, because this machine is shared. Build the
//! module in release first:
//!
//! ```sh
//! cargo build --release --lib
//! cargo run --release --example hsm_overhead -- [target/release/libkeyrotor.so] [rounds] [messages]
//! ```
//!
//! Needs SoftHSM2 (`/usr/lib/softhsm/libsofthsm2.so`, `softhsm2-util`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::ptr::NonNull;
use std::time::Instant;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use cryptoki_sys as sys;

const SOFTHSM: &str = "/usr/lib/softhsm/libsofthsm2.so";
const MSG: usize = 4096;
const THREADS: [usize; 2] = [1, 2];

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// A function list shared by the timing threads.
#[derive(Clone, Copy)]
struct Fns(sys::CK_FUNCTION_LIST);
// SAFETY: plain function pointers of a module initialised with OS locking.
unsafe impl Send for Fns {}
// SAFETY: as above; never written.
unsafe impl Sync for Fns {}

fn functions(module: &Path) -> Res<(sys::Pkcs11, Fns)> {
    // SAFETY: loads a PKCS#11 module (the same mapping cryptoki uses).
    let lib = unsafe { sys::Pkcs11::new(module)? };
    let mut list: *mut sys::CK_FUNCTION_LIST = std::ptr::null_mut();
    // SAFETY: writes one pointer to the module's static list.
    let rv = unsafe { lib.C_GetFunctionList(&mut list) };
    // SAFETY: checked CKR_OK and non-NULL.
    let fns = match (rv, unsafe { list.as_ref() }) {
        (sys::CKR_OK, Some(l)) => Fns(*l),
        _ => return Err(format!("C_GetFunctionList of {}: {rv:#x}", module.display()).into()),
    };
    Ok((lib, fns))
}

/// Encrypts `n` messages on session `h`; returns seconds.
fn encrypt_loop(f: Fns, h: sys::CK_SESSION_HANDLE, key: sys::CK_OBJECT_HANDLE, n: usize) -> f64 {
    let data = vec![0x5au8; MSG];
    let mut out = vec![0u8; MSG + 16];
    let mut iv = [0u8; 12];
    let (Some(init), Some(enc)) = (f.0.C_EncryptInit, f.0.C_Encrypt) else {
        panic!("no C_EncryptInit/C_Encrypt");
    };
    let start = Instant::now();
    for i in 0..n {
        iv[..8].copy_from_slice(&(i as u64).to_be_bytes());
        let mut p = sys::CK_GCM_PARAMS {
            pIv: iv.as_mut_ptr(),
            ulIvLen: 12,
            ulIvBits: 96,
            pAAD: std::ptr::null_mut(),
            ulAADLen: 0,
            ulTagBits: 128,
        };
        let mut m = sys::CK_MECHANISM {
            mechanism: sys::CKM_AES_GCM,
            pParameter: std::ptr::addr_of_mut!(p).cast(),
            ulParameterLen: std::mem::size_of::<sys::CK_GCM_PARAMS>() as _,
        };
        let mut len = out.len() as sys::CK_ULONG;
        // SAFETY: every pointer is valid for the call; `len` is the capacity.
        let rv = unsafe {
            let rv = init(h, &mut m, key);
            if rv != sys::CKR_OK {
                rv
            } else {
                enc(
                    h,
                    data.as_ptr() as *mut u8,
                    MSG as _,
                    out.as_mut_ptr(),
                    &mut len,
                )
            }
        };
        assert_eq!(rv, sys::CKR_OK, "encrypt {i}: {rv:#x}");
    }
    start.elapsed().as_secs_f64()
}

/// CPU time (user + system) of the whole process so far, in seconds.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the struct we own.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// One measurement: wall-clock MB/s and process CPU µs per message.
#[derive(Clone, Copy)]
struct Sample {
    mbs: f64,
    cpu_us: f64,
}

/// `threads` threads, each on its own session, `n` messages each.
fn run(f: Fns, sessions: &[Session], key: ObjectHandle, threads: usize, n: usize) -> Sample {
    let handles: Vec<_> = sessions.iter().take(threads).map(|s| s.handle()).collect();
    let (start, cpu) = (Instant::now(), cpu_seconds());
    std::thread::scope(|scope| {
        for &h in &handles {
            scope.spawn(move || encrypt_loop(f, h, key.handle(), n));
        }
    });
    let msgs = (threads * n) as f64;
    Sample {
        mbs: msgs * MSG as f64 / start.elapsed().as_secs_f64() / 1e6,
        // Includes keyrotor's worker threads and SoftHSM's work: what the
        // machine spends per message, whatever else runs on it.
        cpu_us: (cpu_seconds() - cpu) / msgs * 1e6,
    }
}

fn login(s: &Session, pin: &str) -> Res<()> {
    match s.login(UserType::User, Some(&AuthPin::from(pin))) {
        Ok(()) | Err(Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn slot_labelled(p: &Pkcs11, label: &str) -> Res<Slot> {
    for s in p.get_slots_with_token()? {
        if p.get_token_info(s)?.label().trim_end() == label {
            return Ok(s);
        }
    }
    Err(format!("no token {label}").into())
}

fn key_template(label: &str) -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::ValueLen(32.into()),
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
        Attribute::Label(label.as_bytes().to_vec()),
    ]
}

/// One target: how to initialise it and which token/PIN to use.
struct Target {
    name: &'static str,
    module: PathBuf,
    conf: Option<PathBuf>,
    token: &'static str,
    pin: &'static str,
}

/// Initialises the target, finds (or on first use creates) the key, runs
/// one round for each thread count, finalises. One sample per count.
fn round(t: &Target, first: bool, n: usize) -> Res<Vec<Sample>> {
    let p = Pkcs11::new(&t.module)?;
    let args = match &t.conf {
        None => CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK),
        Some(conf) => {
            let c = std::ffi::CString::new(conf.to_string_lossy().as_bytes())?;
            let nn = NonNull::new(c.into_raw().cast()).ok_or("NULL")?;
            // SAFETY: the configuration path stays allocated (leaked) for the call.
            unsafe { CInitializeArgs::new_with_reserved(CInitializeFlags::OS_LOCKING_OK, nn) }
        }
    };
    p.initialize(args)?;
    let slot = match &t.conf {
        None => slot_labelled(&p, t.token)?,
        Some(_) => *p.get_all_slots()?.first().ok_or("no keyrotor slot")?,
    };
    if first && t.conf.is_some() {
        p.init_token(slot, &AuthPin::from("12345678"), t.token)?;
        let so = p.open_rw_session(slot)?;
        so.login(UserType::So, Some(&AuthPin::from("12345678")))?;
        so.init_pin(&AuthPin::from(t.pin))?;
        so.logout()?;
    }
    let sessions: Vec<Session> = (0..2)
        .map(|_| p.open_rw_session(slot))
        .collect::<Result<_, _>>()?;
    login(&sessions[0], t.pin)?;
    let label = "bench-4k";
    let found = sessions[0].find_objects(&[Attribute::Label(label.as_bytes().to_vec())])?;
    let key = match found.first() {
        Some(k) => *k,
        None => sessions[0].generate_key(&Mechanism::AesKeyGen, &key_template(label))?,
    };
    let (_lib, f) = functions(&t.module)?;
    // Warm-up (first use unseals / finds the key).
    run(f, &sessions, key, 1, 50);
    let out = THREADS
        .iter()
        .map(|&th| run(f, &sessions, key, th, n))
        .collect();
    drop(sessions);
    p.finalize()?;
    Ok(out)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() -> Res<()> {
    let mut args = std::env::args().skip(1);
    let keyrotor = PathBuf::from(
        args.next()
            .unwrap_or("target/release/libkeyrotor.so".into()),
    );
    let rounds: usize = args.next().map_or(Ok(5), |s| s.parse())?;
    let n: usize = args.next().map_or(Ok(3000), |s| s.parse())?;
    let dir = tempfile::tempdir()?;
    let tokens = dir.path().join("tokens");
    std::fs::create_dir(&tokens)?;
    let hsm_conf = dir.path().join("softhsm2.conf");
    std::fs::write(
        &hsm_conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )?;
    std::env::set_var("SOFTHSM2_CONF", &hsm_conf);
    std::env::set_var("BENCH_HSM_PIN", "1234");
    std::env::set_var("KEYROTOR_KDF_MEMORY_KIB", "64");
    let ok = Command::new("softhsm2-util")
        .args([
            "--init-token",
            "--free",
            "--label",
            "HSM",
            "--so-pin",
            "12345678",
            "--pin",
            "1234",
        ])
        .output()?
        .status
        .success();
    if !ok {
        return Err("softhsm2-util --init-token failed".into());
    }
    let mut targets = vec![Target {
        name: "SoftHSM2 direct",
        module: SOFTHSM.into(),
        conf: None,
        token: "HSM",
        pin: "1234",
    }];
    for calls in ["worker", "inline"] {
        let conf = dir.path().join(format!("keyrotor-{calls}.toml"));
        std::fs::write(
            &conf,
            format!(
                "[log]\nlevel = \"error\"\n[[slot]]\nlabel = \"bench\"\nbackend = \"pkcs11\"\n\
                 store = \"{}\"\n[slot.pkcs11]\nmodule = \"{SOFTHSM}\"\ntoken = \"HSM\"\n\
                 pin = {{ env = \"BENCH_HSM_PIN\" }}\ncalls = \"{calls}\"\n",
                dir.path().join(format!("{calls}.sqlite")).display()
            ),
        )?;
        targets.push(Target {
            name: if calls == "worker" {
                "keyrotor, calls = worker"
            } else {
                "keyrotor, calls = inline"
            },
            module: keyrotor.clone(),
            conf: Some(conf),
            token: "bench",
            pin: "5678",
        });
    }
    let mut results: Vec<Vec<Vec<Sample>>> = vec![vec![Vec::new(); THREADS.len()]; targets.len()];
    for r in 0..rounds {
        for (i, t) in targets.iter().enumerate() {
            for (j, sample) in round(t, r == 0, n)?.into_iter().enumerate() {
                results[i][j].push(sample);
            }
        }
        eprintln!("round {} of {rounds} done", r + 1);
    }
    println!("AES-256-GCM encrypt, {MSG} B messages, {n} per thread, median of {rounds} rounds\n");
    println!("| target | threads | MB/s (wall) | vs direct | CPU µs/message | vs direct |");
    println!("|---|---|---|---|---|---|");
    let med =
        |i: usize, j: usize, f: fn(&Sample) -> f64| median(results[i][j].iter().map(f).collect());
    for (i, t) in targets.iter().enumerate() {
        for (j, &th) in THREADS.iter().enumerate() {
            let (mbs, cpu) = (med(i, j, |s| s.mbs), med(i, j, |s| s.cpu_us));
            let (base_mbs, base_cpu) = (med(0, j, |s| s.mbs), med(0, j, |s| s.cpu_us));
            let pct = |x: f64| {
                if i == 0 {
                    "—".to_string()
                } else {
                    format!("{:+.1}%", x * 100.0)
                }
            };
            println!(
                "| {} | {th} | {mbs:.1} | {} | {cpu:.1} | {} |",
                t.name,
                pct(base_mbs / mbs - 1.0),
                pct(cpu / base_cpu - 1.0)
            );
        }
    }
    Ok(())
}
