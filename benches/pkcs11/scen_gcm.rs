//! [gcm] AES-256-GCM through C_EncryptInit+C_Encrypt / C_DecryptInit+C_Decrypt (12-byte IV,
//! 128-bit tag, no AAD) and [msg] the PKCS#11 3.0 message API (C_MessageEncryptInit once, then
//! C_EncryptMessage per op with a module-generated random IV), for 1 and 2 threads, each thread
//! with its own session on the same key.

use crate::raw::{ck_err, rv_err, rv_name};
use crate::rows::{thousands, Row};
use crate::scen_keys::{find_key, generate, TARGET_LABEL};
use crate::setup::{thread_session, Loaded};
use crate::stats::{measure, Plan};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::ObjectHandle;
use cryptoki::session::Session;
use cryptoki_sys as sys;

/// Plaintext sizes measured.
pub const SIZES: [u64; 3] = [64, 4096, 1 << 20];
/// Thread counts measured.
pub const THREADS: [u32; 2] = [1, 2];
/// GCM tag length in bytes.
const TAG: usize = 16;

/// Human name of a size for scenario labels.
pub fn size_name(size: u64) -> String {
    match size {
        s if s >= 1 << 20 && s % (1 << 20) == 0 => format!("{} MiB", s >> 20),
        s if s >= 1 << 10 && s % (1 << 10) == 0 => format!("{} KiB", s >> 10),
        s => format!("{s} B"),
    }
}

/// Per-thread state of a GCM loop: own session, own IV counter, preallocated buffers.
struct GcmState {
    session: Session,
    iv: [u8; 12],
    input: Vec<u8>,
    out: Vec<u8>,
}

/// Advances the IV's low 8 bytes as a counter so no two encryptions reuse an IV.
fn bump(iv: &mut [u8; 12]) {
    let mut lo = [0u8; 8];
    lo.copy_from_slice(&iv[4..]);
    iv[4..].copy_from_slice(&(u64::from_le_bytes(lo).wrapping_add(1)).to_le_bytes());
}

/// [gcm] all sizes × threads × {enc, dec} for one key.
fn gcm_for_key(
    loaded: &Loaded,
    anchor: &Session,
    plan: &Plan,
    key: ObjectHandle,
    key_name: &str,
) -> Vec<Row> {
    let mut rows = Vec::new();
    for size in SIZES {
        let n = size as usize;
        // One ciphertext||tag made with a fixed IV, decrypted over and over by the dec loops.
        let plain = vec![0x5au8; n];
        let mut ct = vec![0u8; n + TAG];
        let fixed_iv = [7u8; 12];
        let made = loaded.raw.gcm_encrypt(
            anchor.handle(),
            key.handle(),
            &mut fixed_iv.clone(),
            &plain,
            &mut ct,
        );
        for threads in THREADS {
            let enc = measure(
                plan,
                threads as usize,
                |i| {
                    let mut iv = [0u8; 12];
                    iv[0] = i as u8;
                    Ok(GcmState {
                        session: thread_session(loaded)?,
                        iv,
                        input: plain.clone(),
                        out: vec![0u8; n + TAG],
                    })
                },
                |s: &mut GcmState| {
                    bump(&mut s.iv);
                    loaded
                        .raw
                        .gcm_encrypt(
                            s.session.handle(),
                            key.handle(),
                            &mut s.iv,
                            &s.input,
                            &mut s.out,
                        )
                        .map(|_| ())
                        .map_err(rv_err)
                },
            );
            rows.push(
                Row::measured(
                    "gcm",
                    format!("AES-GCM enc, {key_name}"),
                    Some(size),
                    threads,
                    enc,
                )
                .with_ceiling("enc"),
            );
            let dec = match &made {
                Err(rv) => Err(format!("preparing ciphertext: C_Encrypt: {}", rv_name(*rv))),
                Ok(_) => measure(
                    plan,
                    threads as usize,
                    |_| {
                        Ok(GcmState {
                            session: thread_session(loaded)?,
                            iv: fixed_iv,
                            input: ct.clone(),
                            out: vec![0u8; n + TAG],
                        })
                    },
                    |s: &mut GcmState| {
                        loaded
                            .raw
                            .gcm_decrypt(
                                s.session.handle(),
                                key.handle(),
                                &mut s.iv,
                                &s.input,
                                &mut s.out,
                            )
                            .map(|_| ())
                            .map_err(rv_err)
                    },
                ),
            };
            rows.push(
                Row::measured(
                    "gcm",
                    format!("AES-GCM dec, {key_name}"),
                    Some(size),
                    threads,
                    dec,
                )
                .with_ceiling("dec"),
            );
        }
    }
    rows
}

/// [gcm] session key and the token key among the populated token objects, plus one row showing
/// what the `cryptoki` convenience wrapper (length query + Vec per op) costs on top.
pub fn gcm(loaded: &Loaded, anchor: &Session, plan: &Plan, objects: u64) -> Vec<Row> {
    let objects = thousands(objects);
    let mut rows = Vec::new();
    match generate(anchor, false, "bench-session-key") {
        Ok(key) => {
            rows.extend(gcm_for_key(loaded, anchor, plan, key, "session key"));
            rows.push(wrapper_row(loaded, plan, key));
        }
        Err(e) => rows.push(Row::error("gcm", "AES-GCM, session key", e)),
    }
    match find_key(anchor, TARGET_LABEL) {
        Ok(key) => rows.extend(gcm_for_key(
            loaded,
            anchor,
            plan,
            key,
            &format!("token key among {objects}"),
        )),
        Err(e) => rows.push(Row::error(
            "gcm",
            format!("AES-GCM, token key among {objects}"),
            e,
        )),
    }
    rows.push(Row::skipped(
        "gcm",
        "envelope mechanism (CKM_KEYROTOR_AES_GCM_ENVELOPE) enc/dec",
        "needs issue 3",
    ));
    rows.push(Row::skipped(
        "gcm",
        "AES-GCM enc p99 during rotations",
        "needs issue 3",
    ));
    rows
}

/// 64 B encrypt through `cryptoki::Session::encrypt` (C_EncryptInit + C_Encrypt(NULL) + C_Encrypt
/// + Vec), 1 thread, session key.
fn wrapper_row(loaded: &Loaded, plan: &Plan, key: ObjectHandle) -> Row {
    let r = measure(
        plan,
        1,
        |_| Ok((thread_session(loaded)?, [0u8; 12], vec![0x5au8; 64])),
        |(s, iv, input): &mut (Session, [u8; 12], Vec<u8>)| {
            bump(iv);
            let params = GcmParams::new(iv, &[], 128u64.into()).map_err(|e| e.to_string())?;
            s.encrypt(&Mechanism::AesGcm(params), key, input)
                .map(|_| ())
                .map_err(ck_err)
        },
    );
    Row::measured(
        "gcm",
        "AES-GCM enc via cryptoki Session::encrypt (adds length query + Vec), session key",
        Some(64),
        1,
        r,
    )
    .with_ceiling("enc")
}

/// Per-thread state of a message-API loop.
struct MsgState {
    session: Session,
    iv: [u8; 12],
    tag: [u8; 16],
    input: Vec<u8>,
    out: Vec<u8>,
}

/// [msg] C_EncryptMessage / C_DecryptMessage with the token key; skipped when the module has no
/// 3.0 interface or refuses the message API for AES-GCM.
pub fn msg(loaded: &Loaded, anchor: &Session, plan: &Plan, objects: u64) -> Vec<Row> {
    let key_name = format!("token key among {}", thousands(objects));
    if !loaded.raw.has_message_api() {
        return vec![Row::skipped(
            "msg",
            format!("C_EncryptMessage, {key_name}"),
            "module offers no PKCS#11 3.0 message API",
        )];
    }
    let key = match find_key(anchor, TARGET_LABEL) {
        Ok(k) => k.handle(),
        Err(e) => {
            return vec![Row::error(
                "msg",
                format!("C_EncryptMessage, {key_name}"),
                e,
            )]
        }
    };
    let probe = loaded.raw.message_init(anchor.handle(), key, false);
    if let Err(rv) = probe {
        if rv == sys::CKR_FUNCTION_NOT_SUPPORTED || rv == sys::CKR_MECHANISM_INVALID {
            return vec![Row::skipped(
                "msg",
                format!("C_EncryptMessage, {key_name}"),
                format!("C_MessageEncryptInit: {}", rv_name(rv)),
            )];
        }
        return vec![Row::error(
            "msg",
            format!("C_EncryptMessage, {key_name}"),
            format!("C_MessageEncryptInit: {}", rv_name(rv)),
        )];
    }
    let mut rows = Vec::new();
    for size in SIZES {
        let n = size as usize;
        let plain = vec![0x5au8; n];
        // One message encrypted on the anchor session gives the dec loops their IV, tag, ciphertext.
        let (mut iv0, mut tag0, mut ct) = ([0u8; 12], [0u8; 16], vec![0u8; n]);
        let made =
            loaded
                .raw
                .encrypt_message(anchor.handle(), &mut iv0, &mut tag0, &plain, &mut ct);
        for threads in THREADS {
            let enc = measure(
                plan,
                threads as usize,
                |_| {
                    let session = thread_session(loaded)?;
                    loaded
                        .raw
                        .message_init(session.handle(), key, false)
                        .map_err(|rv| format!("C_MessageEncryptInit: {}", rv_name(rv)))?;
                    Ok(MsgState {
                        session,
                        iv: [0; 12],
                        tag: [0; 16],
                        input: plain.clone(),
                        out: vec![0u8; n],
                    })
                },
                |s: &mut MsgState| {
                    loaded
                        .raw
                        .encrypt_message(
                            s.session.handle(),
                            &mut s.iv,
                            &mut s.tag,
                            &s.input,
                            &mut s.out,
                        )
                        .map(|_| ())
                        .map_err(rv_err)
                },
            );
            rows.push(
                Row::measured(
                    "msg",
                    format!("C_EncryptMessage (random IV), {key_name}"),
                    Some(size),
                    threads,
                    enc,
                )
                .with_ceiling("enc"),
            );
            let dec = match made {
                Err(rv) => Err(format!(
                    "preparing ciphertext: C_EncryptMessage: {}",
                    rv_name(rv)
                )),
                Ok(_) => measure(
                    plan,
                    threads as usize,
                    |_| {
                        let session = thread_session(loaded)?;
                        loaded
                            .raw
                            .message_init(session.handle(), key, true)
                            .map_err(|rv| format!("C_MessageDecryptInit: {}", rv_name(rv)))?;
                        Ok(MsgState {
                            session,
                            iv: iv0,
                            tag: tag0,
                            input: ct.clone(),
                            out: vec![0u8; n],
                        })
                    },
                    |s: &mut MsgState| {
                        loaded
                            .raw
                            .decrypt_message(
                                s.session.handle(),
                                &mut s.iv,
                                &mut s.tag,
                                &s.input,
                                &mut s.out,
                            )
                            .map(|_| ())
                            .map_err(rv_err)
                    },
                ),
            };
            rows.push(
                Row::measured(
                    "msg",
                    format!("C_DecryptMessage, {key_name}"),
                    Some(size),
                    threads,
                    dec,
                )
                .with_ceiling("dec"),
            );
        }
    }
    // Cleanup only; a failure here changes no result.
    let _ = loaded.raw.message_final(anchor.handle(), false);
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iv_counter_and_size_names() {
        let mut iv = [0u8; 12];
        iv[4..].copy_from_slice(&u64::MAX.to_le_bytes());
        bump(&mut iv);
        assert_eq!(iv, [0u8; 12]);
        bump(&mut iv);
        assert_eq!(iv[4], 1);
        assert_eq!(size_name(64), "64 B");
        assert_eq!(size_name(4096), "4 KiB");
        assert_eq!(size_name(1 << 20), "1 MiB");
    }
}
