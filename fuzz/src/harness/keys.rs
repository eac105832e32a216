//! Fixed keys the operation targets work with, made once per target state.
//! The rotating key is rotated twice at set-up (through its usage limit,
//! all by PKCS#11 calls), so decryption meets several versions.

use std::ffi::c_void;
use std::time::{Duration, Instant};

use cryptoki_sys as sys;
use keyrotor::ffi::object;
use keyrotor::keys::attrs::{CKA_KEYROTOR_MAX_ENCRYPTIONS, CKA_KEYROTOR_VERSION};
use sys::{CK_ATTRIBUTE, CK_OBJECT_HANDLE, CK_SESSION_HANDLE, CK_ULONG};

use super::mech;
use super::module::{b, generate, ok, ul};
use super::ops::{self, Ask};
use super::template::OwnedTemplate;

/// How long set-up waits for the rotation manager to act on a usage limit.
const ROTATION_WAIT: Duration = Duration::from_secs(10);

/// The keys of one target.
pub struct Keys {
    /// AES-256 session key: every usage, extractable, not sensitive.
    pub aes256: CK_OBJECT_HANDLE,
    /// AES-128 session key: every usage.
    pub aes128: CK_OBJECT_HANDLE,
    /// 32-byte generic secret for HMAC.
    pub hmac: CK_OBJECT_HANDLE,
    /// A rotating token key (AES, made with `CKA_TOKEN` true).
    pub rot: CK_OBJECT_HANDLE,
    /// AES-128 key to be wrapped.
    pub victim: CK_OBJECT_HANDLE,
    /// The rotating key's active version after set-up.
    pub rot_version: CK_ULONG,
}

fn all_usages() -> Vec<(sys::CK_ATTRIBUTE_TYPE, Vec<u8>)> {
    vec![
        (sys::CKA_ENCRYPT, b(true)),
        (sys::CKA_DECRYPT, b(true)),
        (sys::CKA_SIGN, b(true)),
        (sys::CKA_VERIFY, b(true)),
        (sys::CKA_WRAP, b(true)),
        (sys::CKA_UNWRAP, b(true)),
    ]
}

impl Keys {
    /// Makes the keys in `home` (which must stay open); `label` names the
    /// rotating key.
    pub fn make(home: CK_SESSION_HANDLE, label: &str) -> Keys {
        let session_aes = |len: u64| {
            let mut t = all_usages();
            t.extend([
                (sys::CKA_TOKEN, b(false)),
                (sys::CKA_VALUE_LEN, ul(len as sys::CK_ULONG)),
                (sys::CKA_EXTRACTABLE, b(true)),
                (sys::CKA_SENSITIVE, b(false)),
            ]);
            generate(home, sys::CKM_AES_KEY_GEN, &t)
        };
        let aes256 = session_aes(32);
        let aes128 = session_aes(16);
        let victim = session_aes(16);
        let hmac = generate(
            home,
            sys::CKM_GENERIC_SECRET_KEY_GEN,
            &[
                (sys::CKA_TOKEN, b(false)),
                (sys::CKA_VALUE_LEN, ul(32)),
                (sys::CKA_SIGN, b(true)),
                (sys::CKA_VERIFY, b(true)),
            ],
        );
        let rot = generate(
            home,
            sys::CKM_AES_KEY_GEN,
            &[
                (sys::CKA_TOKEN, b(true)),
                (sys::CKA_VALUE_LEN, ul(32)),
                (sys::CKA_LABEL, label.as_bytes().to_vec()),
                (sys::CKA_ENCRYPT, b(true)),
                (sys::CKA_DECRYPT, b(true)),
                (sys::CKA_WRAP, b(true)),
                (sys::CKA_UNWRAP, b(true)),
            ],
        );
        rotate_by_use(home, rot, 2);
        let rot_version = version(home, rot);
        Keys {
            aes256,
            aes128,
            hmac,
            rot,
            victim,
            rot_version,
        }
    }
}

/// `CKA_KEYROTOR_VERSION` of a rotating key's current object.
fn version(h: CK_SESSION_HANDLE, key: CK_OBJECT_HANDLE) -> CK_ULONG {
    let mut v: CK_ULONG = 0;
    let mut a = CK_ATTRIBUTE {
        type_: CKA_KEYROTOR_VERSION,
        pValue: &mut v as *mut CK_ULONG as *mut c_void,
        ulValueLen: std::mem::size_of::<CK_ULONG>() as CK_ULONG,
    };
    // SAFETY: one attribute pointing at a CK_ULONG we own.
    ok(
        unsafe { object::C_GetAttributeValue(h, key, &mut a, 1) },
        "reading CKA_KEYROTOR_VERSION",
    );
    v
}

fn set_max_encryptions(h: CK_SESSION_HANDLE, key: CK_OBJECT_HANDLE, n: CK_ULONG) {
    let mut t = OwnedTemplate::default();
    t.push(CKA_KEYROTOR_MAX_ENCRYPTIONS, &ul(n));
    let (p, c) = t.raw();
    // SAFETY: owned template.
    ok(
        unsafe { object::C_SetAttributeValue(h, key, p, c) },
        "setting CKA_KEYROTOR_MAX_ENCRYPTIONS",
    );
}

/// Rotates `key` `times` times: with a usage limit of one, each envelope
/// encryption makes the rotation manager roll the key over. The limit is
/// lifted afterwards so no rotation happens while inputs run. If the
/// manager does not act in time the key keeps fewer versions (logged).
fn rotate_by_use(h: CK_SESSION_HANDLE, key: CK_OBJECT_HANDLE, times: usize) {
    set_max_encryptions(h, key, 1);
    for _ in 0..times {
        let before = version(h, key);
        // Sessions count key use locally and hand it over when they close.
        let s = super::module::open_session();
        let mut m = mech::envelope(b"");
        // SAFETY: owned mechanism.
        ok(
            unsafe { keyrotor::ffi::cipher::C_EncryptInit(s, m.ptr(), key) },
            "envelope C_EncryptInit on the rotating key",
        );
        let (rv, _) = ops::encrypt(s, b"rotate", Ask::Query);
        ok(rv, "envelope C_Encrypt on the rotating key");
        super::module::close_session(s);
        let start = Instant::now();
        while version(h, key) == before && start.elapsed() < ROTATION_WAIT {
            std::thread::sleep(Duration::from_millis(20));
        }
        if version(h, key) == before {
            eprintln!("[fuzz] rotating key still at version {before} after {ROTATION_WAIT:?}");
            break;
        }
    }
    set_max_encryptions(h, key, 1 << 32);
    if super::module::tracing() {
        eprintln!("[fuzz] rotating key at version {}", version(h, key));
    }
}
