//! [msg] The PKCS#11 3.0 message API with the token key: C_MessageEncryptInit once per thread,
//! then C_EncryptMessage per op with CK_GCM_MESSAGE_PARAMS ivGenerator = CKG_GENERATE_RANDOM
//! (the module picks the IV), and C_DecryptMessage of one such message. Skipped when the module
//! has no 3.0 interface or answers CKR_FUNCTION_NOT_SUPPORTED / CKR_MECHANISM_INVALID.

use crate::ceiling::Ceiling;
use crate::raw::{rv_err, rv_name};
use crate::rows::{thousands, Outcome, Row};
use crate::scen_gcm::{fill, vs_ceiling, SIZES, THREADS};
use crate::scen_keys::{find_key, TARGET_LABEL};
use crate::setup::{thread_session, Loaded};
use crate::stats::Plan;
use cryptoki::session::Session;
use cryptoki_sys as sys;

/// Scenario names (with their ceiling join key) of the message-API rows.
fn msg_names(key_name: &str) -> [(String, &'static str); 2] {
    [
        (format!("C_EncryptMessage (random IV), {key_name}"), "enc"),
        (format!("C_DecryptMessage, {key_name}"), "dec"),
    ]
}

/// Per-thread state of a message-API loop.
struct MsgState {
    session: Session,
    iv: [u8; 12],
    tag: [u8; 16],
    input: Vec<u8>,
    out: Vec<u8>,
}

/// C_EncryptMessage on the anchor session (the module writes IV and tag into `iv`/`tag`), then
/// C_DecryptMessage of the result on a fresh session must give `plain` back; the loops only run
/// if it does.
fn msg_round_trip(
    loaded: &Loaded,
    anchor: &Session,
    key: sys::CK_OBJECT_HANDLE,
    iv: &mut [u8; 12],
    tag: &mut [u8; 16],
    plain: &[u8],
    ct: &mut [u8],
) -> Result<(), String> {
    let raw = &loaded.raw;
    let n = raw
        .encrypt_message(anchor.handle(), iv, tag, plain, ct)
        .map_err(|rv| format!("round-trip check: C_EncryptMessage: {}", rv_name(rv)))?;
    if n != plain.len() {
        return Err(format!(
            "round-trip check: C_EncryptMessage wrote {n} bytes, expected {}",
            plain.len()
        ));
    }
    let s = thread_session(loaded)?;
    raw.message_init(s.handle(), key, true)
        .map_err(|rv| format!("round-trip check: C_MessageDecryptInit: {}", rv_name(rv)))?;
    let mut back = vec![0u8; plain.len()];
    let m = raw
        .decrypt_message(s.handle(), &mut iv.clone(), &mut tag.clone(), ct, &mut back)
        .map_err(|rv| format!("round-trip check: C_DecryptMessage: {}", rv_name(rv)))?;
    if back.get(..m) != Some(plain) {
        return Err(
            "round-trip check: C_DecryptMessage returned other bytes than were encrypted".into(),
        );
    }
    Ok(())
}

/// [msg] all sizes × threads × {enc, dec}; with `ceil`, paired with the in-process ceiling.
pub fn msg(
    loaded: &Loaded,
    anchor: &Session,
    plan: &Plan,
    objects: u64,
    ceil: Option<&Ceiling>,
) -> Vec<Row> {
    let names = msg_names(&format!("token key among {}", thousands(objects)));
    let raw = &loaded.raw;
    if !raw.has_message_api() {
        let reason = "module offers no PKCS#11 3.0 message API".to_string();
        return fill("msg", &names, &Outcome::Skipped { reason });
    }
    let key = match find_key(anchor, TARGET_LABEL) {
        Ok(k) => k.handle(),
        Err(error) => return fill("msg", &names, &Outcome::Error { error }),
    };
    if let Err(rv) = raw.message_init(anchor.handle(), key, false) {
        let text = format!("C_MessageEncryptInit: {}", rv_name(rv));
        let outcome = if rv == sys::CKR_FUNCTION_NOT_SUPPORTED || rv == sys::CKR_MECHANISM_INVALID {
            Outcome::Skipped { reason: text }
        } else {
            Outcome::Error { error: text }
        };
        return fill("msg", &names, &outcome);
    }
    let mut rows = Vec::new();
    for size in SIZES {
        let n = size as usize;
        let plain = vec![0x5au8; n];
        let (mut iv0, mut tag0, mut ct) = ([0u8; 12], [0u8; 16], vec![0u8; n]);
        let made = msg_round_trip(loaded, anchor, key, &mut iv0, &mut tag0, &plain, &mut ct);
        for threads in THREADS {
            let make = |decrypt: bool| {
                let session = thread_session(loaded)?;
                raw.message_init(session.handle(), key, decrypt)
                    .map_err(|rv| {
                        format!(
                            "C_Message{}Init: {}",
                            if decrypt { "Decrypt" } else { "Encrypt" },
                            rv_name(rv)
                        )
                    })?;
                let (iv, tag, input) = if decrypt {
                    (iv0, tag0, ct.clone())
                } else {
                    ([0; 12], [0; 16], plain.clone())
                };
                Ok(MsgState {
                    session,
                    iv,
                    tag,
                    input,
                    out: vec![0u8; n],
                })
            };
            let enc = |s: &mut MsgState| {
                raw.encrypt_message(
                    s.session.handle(),
                    &mut s.iv,
                    &mut s.tag,
                    &s.input,
                    &mut s.out,
                )
                .map(|_| ())
                .map_err(rv_err)
            };
            let dec = |s: &mut MsgState| {
                raw.decrypt_message(
                    s.session.handle(),
                    &mut s.iv,
                    &mut s.tag,
                    &s.input,
                    &mut s.out,
                )
                .map(|_| ())
                .map_err(rv_err)
            };
            for (name, op) in &names {
                let (r, c) = match &made {
                    Err(e) => (Err(e.clone()), None),
                    Ok(()) if *op == "enc" => {
                        vs_ceiling(plan, threads, size, op, ceil, |_| make(false), enc)
                    }
                    Ok(()) => vs_ceiling(plan, threads, size, op, ceil, |_| make(true), dec),
                };
                rows.push(
                    Row::measured("msg", name.clone(), Some(size), threads, r)
                        .with_ceiling(op)
                        .with_paired(c),
                );
            }
        }
    }
    // Cleanup only; a failure here changes no result.
    let _ = raw.message_final(anchor.handle(), false);
    rows
}
