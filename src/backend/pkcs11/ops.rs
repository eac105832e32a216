//! The HSM calls themselves, on one session: opening and logging in,
//! finding, generating and destroying version keys (through `cryptoki`),
//! and the hot-path AES-GCM and AES-ECB calls (through the raw function
//! list: one `C_Encrypt` straight into the caller's buffer).

use cryptoki::context::Function;
use cryptoki::error::Error as CkError;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{SessionState, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use cryptoki_sys as sys;
use sys::CK_ULONG;
use zeroize::{Zeroize, Zeroizing};

use super::errors::{code_of, is_bad_tag, lift};
use super::module::{Functions, State};
use super::pool::Conn;
use crate::error::{rv, Error, Result};

/// Opens a read-write session on `slot` and makes sure the user is logged
/// in. Login is per application: only the first session of a connection
/// (or one opened after every other session closed) needs `C_Login`.
pub(super) fn open_conn(st: &State, slot: Slot, pin: &str) -> Result<Conn> {
    let session = st.ctx.open_rw_session_no_drop(slot).map_err(lift)?;
    let conn = Conn {
        session,
        gen: st.gen,
    };
    let logged_in = match conn.session.get_session_info() {
        Ok(info) => info.session_state() == SessionState::RwUser,
        Err(_) => false,
    };
    if !logged_in {
        match conn
            .session
            .login(UserType::User, Some(&AuthPin::from(pin)))
        {
            Ok(()) => {}
            Err(e) if code_of(&e) == sys::CKR_USER_ALREADY_LOGGED_IN => {}
            Err(e) => {
                close(st, conn);
                return Err(lift(e));
            }
        }
    }
    Ok(conn)
}

/// Closes a session if it belongs to the live connection (a dead one's
/// handle number may already name a new session).
pub(super) fn close(st: &State, conn: Conn) {
    if conn.gen == st.gen {
        let _ = conn.session.close();
    }
}

/// The token objects whose `CKA_ID` is `id` (secret keys only).
pub(super) fn find_keys(conn: &Conn, id: &[u8]) -> Result<Vec<ObjectHandle>> {
    conn.session
        .find_objects(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::Token(true),
            Attribute::Id(id.to_vec()),
        ])
        .map_err(lift)
}

/// Generates a non-extractable, sensitive AES token key inside the HSM.
pub(super) fn generate(conn: &Conn, label: &str, id: &[u8], len: usize) -> Result<ObjectHandle> {
    let len = CK_ULONG::try_from(len).map_err(|_| Error::Rv(sys::CKR_KEY_SIZE_RANGE))?;
    conn.session
        .generate_key(
            &Mechanism::AesKeyGen,
            &[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::AES),
                Attribute::ValueLen(len.into()),
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::Encrypt(true),
                Attribute::Decrypt(true),
                Attribute::Label(label.as_bytes().to_vec()),
                Attribute::Id(id.to_vec()),
            ],
        )
        .map_err(lift)
}

/// Destroys objects (crypto-erasure inside the HSM).
pub(super) fn destroy(conn: &Conn, objects: Vec<ObjectHandle>) -> Result<()> {
    for o in objects {
        match conn.session.destroy_object(o) {
            Ok(()) => {}
            // Gone already (another process destroyed it first).
            Err(e) if code_of(&e) == sys::CKR_OBJECT_HANDLE_INVALID => {}
            Err(e) => return Err(lift(e)),
        }
    }
    Ok(())
}

/// `C_GetSessionInfo`: the cheapest call that proves the HSM answers.
pub(super) fn ping(conn: &Conn) -> Result<()> {
    conn.session.get_session_info().map(|_| ()).map_err(lift)
}

/// The mechanisms `slot` lists whose info has all `flags`.
pub(super) fn supports(st: &State, slot: Slot, mech: MechanismType, flags: sys::CK_FLAGS) -> bool {
    st.ctx.get_mechanism_info(slot, mech).is_ok_and(|info| {
        (flags & sys::CKF_ENCRYPT == 0 || info.encrypt())
            && (flags & sys::CKF_DECRYPT == 0 || info.decrypt())
            && (flags & sys::CKF_GENERATE == 0 || info.generate())
    })
}

fn ulong(n: usize) -> Result<CK_ULONG> {
    CK_ULONG::try_from(n).map_err(|_| Error::Rv(sys::CKR_DATA_LEN_RANGE))
}

/// One AES-GCM request as the slot forwards it to the HSM.
#[derive(Clone, Copy)]
pub(super) struct GcmCall<'a> {
    /// Encrypt (`input` is plaintext) or decrypt (`input` is `ct || tag`).
    pub encrypt: bool,
    /// The IV, any length the HSM takes.
    pub iv: &'a [u8],
    /// Additional authenticated data.
    pub aad: &'a [u8],
    /// Tag length in bytes.
    pub tag_len: usize,
    /// Plaintext or `ct || tag`.
    pub input: &'a [u8],
}

/// One-shot `CKM_AES_GCM` in the HSM: encrypt writes `ct || tag` into
/// `out`; decrypt writes the plaintext (a bad tag, whatever code the HSM
/// uses for it, is [`Error::EncryptedDataInvalid`], `out` zeroed).
pub(super) fn gcm(
    st: &State,
    conn: &Conn,
    key: ObjectHandle,
    call: GcmCall<'_>,
    out: &mut [u8],
) -> Result<usize> {
    let GcmCall {
        encrypt,
        tag_len,
        input,
        ..
    } = call;
    let expected = if encrypt {
        input.len().saturating_add(tag_len)
    } else {
        input
            .len()
            .checked_sub(tag_len)
            .ok_or(Error::Rv(sys::CKR_ENCRYPTED_DATA_LEN_RANGE))?
    };
    if out.len() < expected {
        return rv(sys::CKR_BUFFER_TOO_SMALL);
    }
    let result = match &st.fns {
        Some(fns) => gcm_raw(fns, conn, key, call, out),
        None => gcm_cryptoki(conn, key, call, out),
    };
    let n = result.inspect_err(|_| out.zeroize())?;
    if n != expected {
        out.zeroize();
        return Err(Error::Internal(format!(
            "the HSM returned {n} bytes of AES-GCM output, expected {expected}"
        )));
    }
    Ok(n)
}

/// Through `cryptoki` (which asks for the output length first: one more
/// call, and a copy).
fn gcm_cryptoki(
    conn: &Conn,
    key: ObjectHandle,
    call: GcmCall<'_>,
    out: &mut [u8],
) -> Result<usize> {
    let GcmCall {
        encrypt,
        iv,
        aad,
        tag_len,
        input,
    } = call;
    let mut iv = iv.to_vec();
    let bits = ulong(tag_len.saturating_mul(8))?;
    let params = GcmParams::new(&mut iv, aad, bits.into()).map_err(lift)?;
    let mech = Mechanism::AesGcm(params);
    let result = Zeroizing::new(if encrypt {
        conn.session.encrypt(&mech, key, input).map_err(lift)?
    } else {
        conn.session.decrypt(&mech, key, input).map_err(|e| {
            // Only C_Decrypt itself speaks about the tag.
            match &e {
                CkError::Pkcs11(_, Function::Decrypt) if is_bad_tag(code_of(&e)) => {
                    Error::EncryptedDataInvalid
                }
                _ => lift(e),
            }
        })?
    });
    out.get_mut(..result.len())
        .ok_or(Error::Rv(sys::CKR_BUFFER_TOO_SMALL))?
        .copy_from_slice(&result);
    Ok(result.len())
}

/// Through the function list: init and one call straight into `out`.
fn gcm_raw(
    fns: &Functions,
    conn: &Conn,
    key: ObjectHandle,
    call: GcmCall<'_>,
    out: &mut [u8],
) -> Result<usize> {
    let GcmCall {
        encrypt,
        iv,
        aad,
        tag_len,
        input,
    } = call;
    let mut params = sys::CK_GCM_PARAMS {
        // The HSM only reads IV and AAD; the API is not const-correct.
        pIv: iv.as_ptr().cast_mut(),
        ulIvLen: ulong(iv.len())?,
        // Always filled: modules built for either CK_GCM_PARAMS layout read it.
        ulIvBits: ulong(iv.len().saturating_mul(8))?,
        pAAD: aad.as_ptr().cast_mut(),
        ulAADLen: ulong(aad.len())?,
        ulTagBits: ulong(tag_len.saturating_mul(8))?,
    };
    let mut mech = sys::CK_MECHANISM {
        mechanism: sys::CKM_AES_GCM,
        pParameter: std::ptr::addr_of_mut!(params).cast(),
        ulParameterLen: ulong(std::mem::size_of::<sys::CK_GCM_PARAMS>())?,
    };
    let f = &fns.0;
    let h = conn.session.handle();
    let key = key.handle();
    let (init, run) = if encrypt {
        (f.C_EncryptInit, f.C_Encrypt)
    } else {
        (f.C_DecryptInit, f.C_Decrypt)
    };
    let (Some(init), Some(run)) = (init, run) else {
        return rv(sys::CKR_FUNCTION_NOT_SUPPORTED);
    };
    // SAFETY: `mech` and `params` outlive the call and point into `iv`/`aad`,
    // which are borrowed for its duration; `h` and `key` are handles of this
    // live connection (the caller holds the state's read lock).
    let code = unsafe { init(h, &mut mech, key) };
    if code != sys::CKR_OK {
        return rv(code);
    }
    let needed = if encrypt {
        input.len().saturating_add(tag_len)
    } else {
        // Some modules ask room for the whole input when decrypting.
        input.len()
    };
    let mut scratch = Zeroizing::new(Vec::new());
    let dst: &mut [u8] = if out.len() >= needed {
        out
    } else {
        scratch.resize(needed, 0);
        &mut scratch[..]
    };
    let mut len = ulong(dst.len())?;
    // SAFETY: input and output are valid for the lengths given; `len` is the
    // output capacity, which covers the result, so the module never needs to
    // keep the operation open for a second call.
    let code = unsafe {
        run(
            h,
            input.as_ptr().cast_mut(),
            ulong(input.len())?,
            dst.as_mut_ptr(),
            &mut len,
        )
    };
    if code != sys::CKR_OK {
        dst.zeroize();
        if !encrypt && is_bad_tag(code) {
            return Err(Error::EncryptedDataInvalid);
        }
        return rv(code);
    }
    let n = usize::try_from(len).map_err(|_| Error::Rv(sys::CKR_GENERAL_ERROR))?;
    if !scratch.is_empty() {
        out.get_mut(..n)
            .ok_or(Error::Rv(sys::CKR_BUFFER_TOO_SMALL))?
            .copy_from_slice(scratch.get(..n).unwrap_or_default());
    }
    Ok(n)
}

/// `CKM_AES_ECB` encryption of whole blocks, in place (PKCS#11 allows input
/// and output to be the same buffer).
pub(super) fn ecb_in_place(
    st: &State,
    conn: &Conn,
    key: ObjectHandle,
    buf: &mut [u8],
) -> Result<()> {
    let Some(fns) = &st.fns else {
        let out = Zeroizing::new(
            conn.session
                .encrypt(&Mechanism::AesEcb, key, buf)
                .map_err(lift)?,
        );
        if out.len() != buf.len() {
            buf.zeroize();
            return Err(Error::Internal(
                "the HSM's AES-ECB output has the wrong length".into(),
            ));
        }
        buf.copy_from_slice(&out);
        return Ok(());
    };
    let mut mech = sys::CK_MECHANISM {
        mechanism: sys::CKM_AES_ECB,
        pParameter: std::ptr::null_mut(),
        ulParameterLen: 0,
    };
    let (Some(init), Some(run)) = (fns.0.C_EncryptInit, fns.0.C_Encrypt) else {
        return rv(sys::CKR_FUNCTION_NOT_SUPPORTED);
    };
    let h = conn.session.handle();
    // SAFETY: as in `gcm_raw`; ECB takes no parameter.
    let code = unsafe { init(h, &mut mech, key.handle()) };
    if code != sys::CKR_OK {
        return rv(code);
    }
    let n = ulong(buf.len())?;
    let mut len = n;
    let p = buf.as_mut_ptr();
    // SAFETY: `buf` is valid for `n` bytes in and out; ECB output has the
    // input's length, so the capacity suffices.
    let code = unsafe { run(h, p, n, p, &mut len) };
    if code != sys::CKR_OK {
        buf.zeroize();
        return rv(code);
    }
    if len != n {
        buf.zeroize();
        return Err(Error::Internal(
            "the HSM's AES-ECB output has the wrong length".into(),
        ));
    }
    Ok(())
}
