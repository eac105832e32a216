//! [init] The cold-start probe, run first thing in a fresh worker process against a store that
//! already holds N token keys: dlopen, C_Initialize, first login, first encrypt with a token key,
//! and resident memory before and after (VmRSS), so the per-key memory cost can be computed.

use crate::raw::{ck_err, rv_name};
use crate::rows::{thousands, Row};
use crate::scen_keys::{find_key, TARGET_LABEL};
use crate::setup::{attach, user_session, vm_rss_kib, Kind, Loaded};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::object::{Attribute, ObjectClass};
use cryptoki::session::Session;
use std::path::Path;
use std::time::Instant;

/// Everything the probe produced: its rows plus the loaded module and logged-in session for the
/// worker's later steps.
pub struct Probed {
    /// init-group rows.
    pub rows: Vec<Row>,
    /// The module, if loading worked.
    pub loaded: Option<Loaded>,
    /// A logged-in session, if login worked.
    pub session: Option<Session>,
}

/// Loads the module and measures the cold start with `n` keys in the store.
pub fn probe(path: &Path, kind: Kind, count: u64) -> Probed {
    let n = thousands(count);
    let g = "init";
    let mut rows = Vec::new();
    let rss0 = vm_rss_kib();

    let t = Instant::now();
    let pkcs11 = match Pkcs11::new(path) {
        Ok(p) => p,
        Err(e) => return failed(rows, "Pkcs11::new: dlopen + get function list", ck_err(e)),
    };
    rows.push(Row::value(
        g,
        format!("Pkcs11::new: dlopen + get function list ({n} keys in store)"),
        t.elapsed().as_secs_f64(),
        "s",
    ));
    let t = Instant::now();
    if let Err(e) = pkcs11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        return failed(
            rows,
            &format!("C_Initialize ({n} keys in store)"),
            ck_err(e),
        );
    }
    rows.push(Row::value(
        g,
        format!("C_Initialize ({n} keys in store)"),
        t.elapsed().as_secs_f64(),
        "s",
    ));
    let rss_init = vm_rss_kib();

    let loaded = match attach(pkcs11, path, kind, false) {
        Ok(l) => l,
        Err(e) => return failed(rows, "find the token", e),
    };
    let t = Instant::now();
    let session = match user_session(&loaded) {
        Ok(s) => s,
        Err(e) => {
            rows.push(Row::error(
                g,
                format!("first C_OpenSession + C_Login ({n} keys)"),
                e,
            ));
            return Probed {
                rows,
                loaded: Some(loaded),
                session: None,
            };
        }
    };
    rows.push(Row::value(
        g,
        format!("first C_OpenSession + C_Login ({n} keys)"),
        t.elapsed().as_secs_f64(),
        "s",
    ));

    let t = Instant::now();
    let first = find_key(&session, TARGET_LABEL).and_then(|key| {
        let (mut iv, plain, mut out) = ([1u8; 12], [0u8; 64], [0u8; 80]);
        loaded
            .raw
            .gcm_encrypt(session.handle(), key.handle(), &mut iv, &plain, &mut out)
            .map_err(|rv| format!("C_Encrypt: {}", rv_name(rv)))
    });
    match first {
        Ok(_) => rows.push(Row::value(
            g,
            format!("first find + C_EncryptInit/C_Encrypt with a token key ({n} keys)"),
            t.elapsed().as_secs_f64(),
            "s",
        )),
        Err(e) => rows.push(Row::error(
            g,
            format!("first find + C_EncryptInit/C_Encrypt with a token key ({n} keys)"),
            e,
        )),
    }

    // Enumerate every secret key so a lazily loading module has touched them all.
    let t = Instant::now();
    match session.find_objects(&[Attribute::Class(ObjectClass::SECRET_KEY)]) {
        Ok(v) => {
            rows.push(Row::value(
                g,
                format!("C_FindObjects all secret keys ({n} keys)"),
                t.elapsed().as_secs_f64(),
                "s",
            ));
            rows.push(Row::value(
                g,
                format!("secret-key objects visible ({n} keys)"),
                v.len() as f64,
                "objects",
            ));
        }
        Err(e) => rows.push(Row::error(
            g,
            format!("C_FindObjects all secret keys ({n} keys)"),
            ck_err(e),
        )),
    }

    let rss_end = vm_rss_kib();
    if let (Some(a), Some(b), Some(c)) = (rss0, rss_init, rss_end) {
        rows.push(Row::value(
            g,
            format!("VmRSS before dlopen ({n} keys)"),
            a as f64,
            "KiB",
        ));
        rows.push(Row::value(
            g,
            format!("VmRSS after C_Initialize ({n} keys)"),
            b as f64,
            "KiB",
        ));
        rows.push(Row::value(
            g,
            format!("VmRSS after login + first use + find all ({n} keys)"),
            c as f64,
            "KiB",
        ));
        let per_key = (c as f64 - a as f64) * 1024.0 / count.max(1) as f64;
        rows.push(Row::value(
            g,
            format!("RSS delta / keys ({n} keys, includes the module's fixed cost)"),
            per_key,
            "B/key",
        ));
    }
    Probed {
        rows,
        loaded: Some(loaded),
        session: Some(session),
    }
}

fn failed(mut rows: Vec<Row>, scenario: &str, e: String) -> Probed {
    rows.push(Row::error("init", scenario, e));
    Probed {
        rows,
        loaded: None,
        session: None,
    }
}
