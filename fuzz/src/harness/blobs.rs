//! Target `blobs`: fuzzed ciphertexts through `C_Decrypt` (`CKM_AES_GCM`,
//! `CKM_AES_CBC_PAD`, the keyrotor envelope), `C_DecryptMessage` with fuzzed
//! `CK_GCM_MESSAGE_PARAMS`, and `C_UnwrapKey` (`CKM_AES_KEY_WRAP`,
//! `CKM_AES_KEY_WRAP_PAD`), on a rotating token key or a session key.
//!
//! Each case either takes its ciphertext raw from the input or first makes
//! a genuine one and applies input-chosen edits. Checked: an unedited
//! ciphertext decrypts to its plaintext; an edited one is refused by every
//! authenticated mode; whatever does decrypt round-trips (CBC-PAD and key
//! wrap re-encrypt to the same bytes).

use std::sync::{Mutex, OnceLock};

use cryptoki_sys as sys;
use keyrotor::ffi::{cipher, message};
use sys::{CK_OBJECT_HANDLE, CK_RV, CK_SESSION_HANDLE, CK_ULONG};

use super::input::Input;
use super::keys::Keys;
use super::mech::{self, OwnedMech};
use super::mech_params::{ask, unwrap, wrap};
use super::module::{self, check, name};
use super::msg::{self, MsgParams};
use super::ops::{self, Ask};

struct State {
    work: CK_SESSION_HANDLE,
    keys: Keys,
}

fn state() -> &'static Mutex<State> {
    static S: OnceLock<Mutex<State>> = OnceLock::new();
    S.get_or_init(|| {
        let home = module::open_session();
        Mutex::new(State {
            keys: Keys::make(home, "fuzz-blobs-rot"),
            work: module::open_session(),
        })
    })
}

/// Applies up to three input-chosen edits to `c`.
pub fn mutate(c: &[u8], i: &mut Input) -> Vec<u8> {
    let mut v = c.to_vec();
    for _ in 0..i.upto(3) {
        match i.u8() % 4 {
            0 if !v.is_empty() => {
                let pos = usize::from(i.u16()) % v.len();
                v[pos] ^= i.u8() | 1;
            }
            1 => {
                let keep = usize::from(i.u16()) % (v.len() + 1);
                v.truncate(keep);
            }
            2 => v.extend_from_slice(i.blob(17)),
            _ => {}
        }
    }
    v
}

/// How the ciphertext of one case came about.
enum Origin {
    /// Raw from the input.
    Raw,
    /// Made from this plaintext, then possibly edited.
    Sealed { pt: Vec<u8>, edited: bool },
}

/// Checks a decryption's outcome against how the ciphertext was made, for
/// an authenticated mode. Returns the plaintext on success.
fn judge(what: &str, origin: &Origin, rv: CK_RV, out: Vec<u8>) -> Option<Vec<u8>> {
    if let Origin::Sealed { pt, edited } = origin {
        if *edited {
            assert!(rv != sys::CKR_OK, "{what}: an edited ciphertext decrypted");
        } else {
            assert!(
                rv == sys::CKR_OK,
                "{what} of a fresh ciphertext: {}",
                name(rv)
            );
            assert_eq!(&out, pt, "{what}: plaintext differs");
        }
    }
    (rv == sys::CKR_OK).then_some(out)
}

/// `C_EncryptInit` + `C_Encrypt`; `None` if either fails.
fn seal(
    h: CK_SESSION_HANDLE,
    m: &mut OwnedMech,
    key: CK_OBJECT_HANDLE,
    pt: &[u8],
) -> Option<Vec<u8>> {
    // SAFETY: owned mechanism.
    let rv = check(
        unsafe { cipher::C_EncryptInit(h, m.ptr(), key) },
        "C_EncryptInit",
    );
    if rv != sys::CKR_OK {
        return None;
    }
    let (rv, ct) = ops::encrypt(h, pt, Ask::Query);
    (rv == sys::CKR_OK).then_some(ct)
}

/// `C_DecryptInit` + `C_Decrypt`.
fn open(
    h: CK_SESSION_HANDLE,
    m: &mut OwnedMech,
    key: CK_OBJECT_HANDLE,
    ct: &[u8],
    a: Ask,
) -> (CK_RV, Vec<u8>) {
    // SAFETY: owned mechanism.
    let rv = check(
        unsafe { cipher::C_DecryptInit(h, m.ptr(), key) },
        "C_DecryptInit",
    );
    if rv != sys::CKR_OK {
        return (rv, Vec::new());
    }
    ops::decrypt(h, ct, a)
}

/// The ciphertext for a case: raw, or sealed by `make` and edited.
fn ciphertext(i: &mut Input, make: impl FnOnce(&[u8]) -> Option<Vec<u8>>) -> (Vec<u8>, Origin) {
    if i.bool() {
        return (i.blob16(1024).to_vec(), Origin::Raw);
    }
    let pt = i.blob(128).to_vec();
    match make(&pt) {
        Some(c) => {
            let edited = mutate(&c, i);
            let changed = edited != c;
            (
                edited,
                Origin::Sealed {
                    pt,
                    edited: changed,
                },
            )
        }
        None => (i.blob16(1024).to_vec(), Origin::Raw),
    }
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let st = state();
    let st = st.lock().unwrap_or_else(|e| e.into_inner());
    let mut i = Input::new(data);
    let sel = i.u8();
    let key = if sel & 0x08 == 0 {
        st.keys.rot
    } else {
        st.keys.aes256
    };
    let a = ask(sel >> 4);
    let h = st.work;
    match sel % 8 {
        0 | 1 => gcm(h, key, &mut i, a),
        2 => cbc_pad(h, key, &mut i, a),
        3 | 4 => envelope(h, key, &mut i, a),
        5 => message_case(h, key, &mut i, a, &st.keys),
        _ => key_wrap(h, key, st.keys.victim, &mut i, a),
    }
}

fn gcm(h: CK_SESSION_HANDLE, key: CK_OBJECT_HANDLE, i: &mut Input, a: Ask) {
    let iv = i.blob(32).to_vec();
    let aad = i.blob(64).to_vec();
    let tag_bits = 96 + 8 * i.upto(4) as CK_ULONG;
    let (ct, origin) = ciphertext(i, |pt| {
        seal(h, &mut OwnedMech::gcm(&iv, &aad, tag_bits), key, pt)
    });
    let (rv, out) = open(h, &mut OwnedMech::gcm(&iv, &aad, tag_bits), key, &ct, a);
    judge("AES-GCM C_Decrypt", &origin, rv, out);
}

fn cbc_pad(h: CK_SESSION_HANDLE, key: CK_OBJECT_HANDLE, i: &mut Input, a: Ask) {
    let mut iv = [0u8; 16];
    let src = i.bytes(16);
    iv[..src.len()].copy_from_slice(src);
    let m = || OwnedMech::with_bytes(sys::CKM_AES_CBC_PAD, Some(&iv));
    let (ct, origin) = ciphertext(i, |pt| seal(h, &mut m(), key, pt));
    let (rv, out) = open(h, &mut m(), key, &ct, a);
    if let Origin::Sealed { pt, edited: false } = &origin {
        assert!(
            rv == sys::CKR_OK,
            "CBC-PAD of a fresh ciphertext: {}",
            name(rv)
        );
        assert_eq!(&out, pt, "CBC-PAD plaintext differs");
    }
    if rv == sys::CKR_OK {
        // Valid PKCS#7 padding is canonical: re-encryption gives the same
        // bytes back.
        let again = seal(h, &mut m(), key, &out);
        assert_eq!(
            again.as_deref(),
            Some(&ct[..]),
            "CBC-PAD: decrypt then encrypt changed the ciphertext"
        );
    }
}

fn envelope(h: CK_SESSION_HANDLE, key: CK_OBJECT_HANDLE, i: &mut Input, a: Ask) {
    let aad = i.blob(64).to_vec();
    let (ct, origin) = ciphertext(i, |pt| seal(h, &mut mech::envelope(&aad), key, pt));
    let (rv, out) = open(h, &mut mech::envelope(&aad), key, &ct, a);
    if let Some(pt) = judge("envelope C_Decrypt", &origin, rv, out) {
        // Decryption is repeatable.
        let (rv2, again) = open(h, &mut mech::envelope(&aad), key, &ct, Ask::Query);
        assert!(
            rv2 == sys::CKR_OK,
            "envelope decrypted once only: {}",
            name(rv2)
        );
        assert_eq!(again, pt, "envelope decrypted differently twice");
    }
}

/// Finding F1: a 12-byte caller IV whose first four bytes name a retained
/// version other than the active one (big-endian) makes `C_DecryptMessage`
/// on a rotating key try only that version.
fn iv_names_old_version(keys: &Keys, key: CK_OBJECT_HANDLE, iv: &[u8]) -> bool {
    match iv {
        [a, b, c, d, _, _, _, _, _, _, _, _] if key == keys.rot => {
            let v = CK_ULONG::from(u32::from_be_bytes([*a, *b, *c, *d]));
            (1..keys.rot_version).contains(&v)
        }
        _ => false,
    }
}

fn message_case(h: CK_SESSION_HANDLE, key: CK_OBJECT_HANDLE, i: &mut Input, a: Ask, keys: &Keys) {
    let aad = i.blob(64).to_vec();
    let mut gcm = OwnedMech::plain(sys::CKM_AES_GCM);
    let (ct, mut prm, origin) = if i.bool() {
        (i.blob16(1024).to_vec(), MsgParams::decode(i), Origin::Raw)
    } else {
        // A genuine message: encrypt, then edit ciphertext, tag or IV.
        let iv = i.blob(32).to_vec();
        let tag_len = 12 + i.upto(4);
        let pt = i.blob(128).to_vec();
        let mut prm = MsgParams::valid(&iv, tag_len);
        // SAFETY: owned mechanism.
        let rv = check(
            unsafe { message::C_MessageEncryptInit(h, gcm.ptr(), key) },
            "C_MessageEncryptInit",
        );
        let sealed = if rv == sys::CKR_OK {
            let (rv, ct) = msg::encrypt_message(h, &mut prm, &aad, &pt, Ask::Query);
            if super::module::tracing() {
                eprintln!(
                    "[fuzz] message IV given {iv:02x?}, after encryption {:02x?}",
                    prm.iv_mut()
                );
            }
            // SAFETY: no pointers.
            let fin = unsafe { message::C_MessageEncryptFinal(h) };
            assert!(fin == sys::CKR_OK, "C_MessageEncryptFinal: {}", name(fin));
            (rv == sys::CKR_OK).then_some(ct)
        } else {
            None
        };
        let skip = iv_names_old_version(keys, key, &iv) && module::known_skipped("F1");
        match sealed {
            Some(_) if skip => (i.blob16(1024).to_vec(), MsgParams::decode(i), Origin::Raw),
            Some(c) => {
                let edited = mutate(&c, i);
                let tag_before = prm.tag().to_vec();
                let mut touched = edited != c;
                match i.u8() % 4 {
                    0 if !prm.tag().is_empty() => {
                        let n = prm.tag().len();
                        prm.tag_mut()[usize::from(i.u8()) % n] ^= 1 << (i.u8() % 8);
                    }
                    1 if !prm.iv_mut().is_empty() => {
                        let n = prm.iv_mut().len();
                        prm.iv_mut()[usize::from(i.u8()) % n] ^= 1 << (i.u8() % 8);
                        touched = true;
                    }
                    _ => {}
                }
                touched |= prm.tag() != tag_before;
                (
                    edited,
                    prm,
                    Origin::Sealed {
                        pt,
                        edited: touched,
                    },
                )
            }
            None => (i.blob16(1024).to_vec(), MsgParams::decode(i), Origin::Raw),
        }
    };
    // SAFETY: owned mechanism.
    let rv = check(
        unsafe { message::C_MessageDecryptInit(h, gcm.ptr(), key) },
        "C_MessageDecryptInit",
    );
    if rv != sys::CKR_OK {
        return;
    }
    let (rv, out) = msg::decrypt_message(h, &mut prm, &aad, &ct, a);
    judge("C_DecryptMessage", &origin, rv, out);
    // SAFETY: no pointers.
    let fin = unsafe { message::C_MessageDecryptFinal(h) };
    assert!(fin == sys::CKR_OK, "C_MessageDecryptFinal: {}", name(fin));
}

fn key_wrap(
    h: CK_SESSION_HANDLE,
    key: CK_OBJECT_HANDLE,
    victim: CK_OBJECT_HANDLE,
    i: &mut Input,
    a: Ask,
) {
    let t = if i.bool() {
        sys::CKM_AES_KEY_WRAP
    } else {
        sys::CKM_AES_KEY_WRAP_PAD
    };
    let kt = if i.bool() {
        sys::CKK_AES
    } else {
        sys::CKK_GENERIC_SECRET
    };
    let m = || OwnedMech::plain(t);
    let (wrapped, origin) = ciphertext(i, |_| {
        let (rv, w) = wrap(h, &mut m(), key, victim, Ask::Query);
        (rv == sys::CKR_OK).then_some(w)
    });
    let (rv, new) = unwrap(h, &mut m(), key, &wrapped, kt);
    if let Origin::Sealed { edited, .. } = origin {
        if edited {
            assert!(rv != sys::CKR_OK, "an edited wrapped key unwrapped");
        } else {
            assert!(
                rv == sys::CKR_OK,
                "C_UnwrapKey of a fresh wrap: {}",
                name(rv)
            );
        }
    }
    if rv != sys::CKR_OK {
        return;
    }
    // Key wrap is deterministic: wrapping the result gives the input back.
    let (rv, again) = wrap(h, &mut m(), key, new, a);
    assert!(
        rv == sys::CKR_OK,
        "re-wrapping an unwrapped key: {}",
        name(rv)
    );
    assert_eq!(again, wrapped, "unwrap then wrap changed the bytes");
    ops::drop_key(h, new);
}
