//! Key and session scenarios: [keygen] C_GenerateKey (session and token), populating the token
//! with N token keys (the measured "target" key created in the middle), [find] by label among
//! N objects, and [login] C_OpenSession + C_Login + C_CloseSession.

use crate::raw::{ck_err, rv_err};
use crate::rows::{thousands, Row};
use crate::setup::{thread_session, user_pin, Loaded};
use crate::stats::{measure, Plan};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// Label of the key the gcm/msg/find scenarios use (created in the middle of the first 1,000).
pub const TARGET_LABEL: &str = "bench-target";
/// Index (0-based, in creation order) at which the target key is created.
pub const TARGET_INDEX: u64 = 500;

/// Template for an AES-256 secret key; `token` picks a persistent vs a session object.
pub fn aes_template(token: bool, label: &str) -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::ValueLen(32u64.into()),
        Attribute::Token(token),
        Attribute::Private(true),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
    ]
}

/// C_GenerateKey(CKM_AES_KEY_GEN) with `aes_template`.
pub fn generate(session: &Session, token: bool, label: &str) -> Result<ObjectHandle, String> {
    session
        .generate_key(&Mechanism::AesKeyGen, &aes_template(token, label))
        .map_err(ck_err)
}

/// The first secret key with this label.
pub fn find_key(session: &Session, label: &str) -> Result<ObjectHandle, String> {
    let tmpl = [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::Label(label.as_bytes().to_vec()),
    ];
    session
        .find_objects(&tmpl)
        .map_err(ck_err)?
        .into_iter()
        .next()
        .ok_or_else(|| format!("no key labelled {label:?}"))
}

/// Creates token keys with indices `from..to` ("bench-key-NNNNNN", or TARGET_LABEL at
/// TARGET_INDEX). Returns a setup row with the creation rate.
pub fn populate(session: &Session, from: u64, to: u64, name: &str) -> Row {
    let start = Instant::now();
    for i in from..to {
        let label = if i == TARGET_INDEX {
            TARGET_LABEL.to_string()
        } else {
            format!("bench-key-{i:06}")
        };
        if let Err(e) = generate(session, true, &label) {
            return Row::error(
                "setup",
                format!("create token keys {}→{}", thousands(from), thousands(to)),
                format!("at key {i}: {e}"),
            );
        }
        if (i + 1) % 10_000 == 0 {
            eprintln!("[{name}] populate: {} token keys", i + 1);
        }
    }
    let secs = start.elapsed().as_secs_f64();
    Row::value(
        "setup",
        format!(
            "create token keys {}→{} (C_GenerateKey, keys/s)",
            thousands(from),
            thousands(to)
        ),
        (to - from) as f64 / secs.max(1e-9),
        "keys/s",
    )
}

/// [keygen] session-key and token-key generation. Session keys die with the thread's session at
/// the end of each repeat; token keys are destroyed (untimed) after the measurement so the
/// object counts of later scenarios stay exact.
pub fn keygen(loaded: &Loaded, anchor: &Session, plan: &Plan) -> Vec<Row> {
    let mut rows = Vec::new();
    let r = measure(
        plan,
        1,
        |_| thread_session(loaded),
        |s: &mut Session| generate(s, false, "bench-gen-session").map(|_| ()),
    );
    rows.push(Row::measured(
        "keygen",
        "C_GenerateKey AES-256 session key",
        None,
        1,
        r,
    ));

    let counter = AtomicU64::new(0);
    let made: Mutex<Vec<ObjectHandle>> = Mutex::new(Vec::new());
    let token_plan = Plan {
        min_ops: 3,
        ..*plan
    };
    let r = measure(
        &token_plan,
        1,
        |_| thread_session(loaded),
        |s: &mut Session| {
            let n = counter.fetch_add(1, Ordering::Relaxed);
            let h = generate(s, true, &format!("bench-gen-token-{n}"))?;
            if let Ok(mut v) = made.lock() {
                v.push(h);
            }
            Ok(())
        },
    );
    rows.push(Row::measured(
        "keygen",
        "C_GenerateKey AES-256 token key",
        None,
        1,
        r,
    ));
    let made = made.into_inner().unwrap_or_default();
    let mut failed = None;
    for h in &made {
        if let Err(e) = anchor.destroy_object(*h) {
            failed.get_or_insert(ck_err(e));
        }
    }
    if let Some(e) = failed {
        rows.push(Row::error(
            "setup",
            "destroy the keygen scenario's token keys",
            format!("{} keys left: {e}", made.len()),
        ));
    }
    rows
}

/// [find] C_FindObjectsInit(label) + C_FindObjects + C_FindObjectsFinal among `n` token keys:
/// one label that matches (the target) and one that matches nothing (full scan).
pub fn find(loaded: &Loaded, plan: &Plan, n: u64) -> Vec<Row> {
    let mut rows = Vec::new();
    let cases: [(&str, &[u8], bool); 2] = [
        ("hit", TARGET_LABEL.as_bytes(), true),
        ("miss", b"bench-no-such-key", false),
    ];
    for (what, label, must_hit) in cases {
        let r = measure(
            plan,
            1,
            |_| thread_session(loaded),
            |s: &mut Session| match loaded.raw.find_by_label(s.handle(), label) {
                Ok(0) if must_hit => Err("target key not found".into()),
                Ok(_) => Ok(()),
                Err(rv) => Err(rv_err(rv)),
            },
        );
        rows.push(Row::measured(
            "find",
            format!("find by label ({what}) among {} token keys", thousands(n)),
            None,
            1,
            r,
        ));
    }
    rows
}

/// [login] C_OpenSession + C_Login(User) + C_CloseSession. Must run with no other session open
/// so every C_Login is a real one (closing the last session logs out).
pub fn login(loaded: &Loaded, plan: &Plan) -> Row {
    let pin = user_pin();
    let login_plan = Plan {
        min_ops: 3,
        ..*plan
    };
    let r = measure(
        &login_plan,
        1,
        |_| Ok(()),
        |_: &mut ()| {
            let s = loaded.pkcs11.open_rw_session(loaded.slot).map_err(ck_err)?;
            s.login(UserType::User, Some(&pin)).map_err(ck_err)?;
            s.close().map_err(ck_err)
        },
    );
    Row::measured(
        "login",
        "C_OpenSession + C_Login + C_CloseSession",
        None,
        1,
        r,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_is_aes256_with_label() {
        let t = aes_template(true, "k");
        assert!(t.iter().any(|a| matches!(a, Attribute::Token(true))));
        assert!(t
            .iter()
            .any(|a| matches!(a, Attribute::Label(l) if l == b"k")));
        assert!(t
            .iter()
            .any(|a| matches!(a, Attribute::ValueLen(v) if u64::from(*v) == 32)));
    }
}
