//! Rotating keys through PKCS#11 while the `keyrotor` CLI changes them from
//! another process: the current and version objects after `C_GenerateKey`
//! and their find order, `key show --json` against `C_GetAttributeValue`,
//! old ciphertexts (message API, envelope, plain GCM) decrypting through the
//! same current-object handle after `key rotate`, rewrap, disable/enable,
//! and compromise with its emergency rotation.

#[macro_use]
mod common;
mod rotation_support;

use std::time::Duration;

use cryptoki::mechanism::vendor_defined::VendorDefinedMechanism;
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::Attribute;

use common::sys::*;
use common::TestToken;
use rotation_support::*;

/// A rotation period that never comes due during a test.
const HOUR: CK_ULONG = 3600;
/// How long another process's change may take to show here.
const SEE: Duration = Duration::from_secs(3);

/// A fresh token, a logged-in RW session and a key `name` that only rotates
/// when told to.
fn setup(name: &str) -> (TestToken, CK_SESSION_HANDLE, CK_OBJECT_HANDLE) {
    let tok = TestToken::new();
    let s = tok.user_session();
    let k = generate_key(&tok.raw, s, name, &[(ROTATION_PERIOD, HOUR)])
        .unwrap_or_else(|rv| panic!("C_GenerateKey({name}): {}", rv_name(rv)));
    (tok, s, k)
}

/// `keyrotor key rotate NAME`, checking the reported new version.
fn cli_rotate(tok: &TestToken, name: &str, expect: u64) {
    let out = cli_ok(&tok.conf, &["key", "rotate", name, "--json"]);
    let j: serde_json::Value = serde_json::from_str(out.trim()).expect("rotate --json");
    assert_eq!(
        j["active_version"].as_u64(),
        Some(expect),
        "key rotate {name}: {out}"
    );
}

/// Waits until this process sees version `want` as the Active one.
fn see_version(tok: &TestToken, s: CK_SESSION_HANDLE, k: CK_OBJECT_HANDLE, want: u64) {
    match wait_version(&tok.raw, s, k, want, SEE) {
        Ok(t) => eprintln!("this process saw v{want} after {t:?}"),
        Err(last) => panic!(
            "after the CLI made v{want} Active, CKA_KEYROTOR_VERSION of the current object \
             stayed {last} for {SEE:?} (other processes' changes should show within ~0.5 s)"
        ),
    }
}

#[test]
fn keygen_objects_find_order_and_cli_show_agree() {
    let tok = TestToken::new();
    let r = &tok.raw;
    let s = tok.user_session();
    let before = now_ms() / 1000;
    let policy = [
        (ROTATION_PERIOD, HOUR),
        (VALID_PERIOD, 50),
        (GRACE_PERIOD, 100),
        (RETENTION, 200),
        (KEEP_VERSIONS, 3),
        (MAX_ENCRYPTIONS, 1000),
    ];
    let k = generate_key(r, s, "api-a", &policy)
        .unwrap_or_else(|rv| panic!("C_GenerateKey: {}", rv_name(rv)));

    // The current object right after key generation.
    assert_eq!(label(r, s, k), "api-a");
    assert_eq!(ulong(r, s, k, VERSION), 1, "current object VERSION");
    assert_eq!(ulong(r, s, k, STATE), ACTIVE, "current object STATE");
    for (a, v) in policy {
        assert_eq!(
            ulong(r, s, k, a),
            v,
            "policy attribute 0x{a:x} as set in C_GenerateKey"
        );
    }
    assert_eq!(ulong(r, s, k, MANUAL_ONLY), 0);
    assert_eq!(ulong(r, s, k, DISABLED), 0);
    let next = ulong(r, s, k, NEXT_ROTATION) as i64;
    assert!(
        (before + 3599..=now_ms() / 1000 + 3601).contains(&next),
        "NEXT_ROTATION {next} should be keygen time + 3600 s (keygen at {before})"
    );

    // Find order: current object, then versions newest first.
    let objs = key_objects(r, s, "api-a");
    let labels: Vec<&str> = objs.iter().map(|(_, l)| l.as_str()).collect();
    assert_eq!(labels, ["api-a", "api-a@v1"], "objects after keygen");
    assert_eq!(objs[0].0, k, "the current object comes first");
    let v1 = objs[1].0;
    assert_eq!(ulong(r, s, v1, VERSION), 1);
    assert_eq!(ulong(r, s, v1, STATE), ACTIVE);
    assert_eq!(r.attr(s, v1, CKA_ID).expect("CKA_ID"), b"api-a@v1".to_vec());
    assert_eq!(r.attr(s, k, CKA_ID).expect("CKA_ID"), b"api-a".to_vec());
    assert!(r.attr_bool(s, v1, CKA_ENCRYPT).expect("CKA_ENCRYPT"));
    assert!(r.attr_bool(s, v1, CKA_DECRYPT).expect("CKA_DECRYPT"));
    assert_ne!(
        r.attr(s, k, CKA_UNIQUE_ID).expect("CKA_UNIQUE_ID"),
        r.attr(s, v1, CKA_UNIQUE_ID).expect("CKA_UNIQUE_ID"),
        "current and version objects have distinct unique ids"
    );

    // Two rotations from the CLI while this process keeps its handles.
    cli_rotate(&tok, "api-a", 2);
    cli_rotate(&tok, "api-a", 3);
    see_version(&tok, s, k, 3);
    let objs = key_objects(r, s, "api-a");
    let labels: Vec<&str> = objs.iter().map(|(_, l)| l.as_str()).collect();
    assert_eq!(
        labels,
        ["api-a", "api-a@v3", "api-a@v2", "api-a@v1"],
        "find order after two rotations"
    );
    assert_eq!(
        objs[0].0, k,
        "the current object's handle survives rotation"
    );
    assert_eq!(objs[3].0, v1, "a version object's handle survives rotation");
    let want_states = [ACTIVE, VALID, VALID];
    for ((o, l), want) in objs[1..].iter().zip(want_states) {
        assert_eq!(ulong(r, s, *o, STATE), want, "STATE of {l}");
        let active = want == ACTIVE;
        assert_eq!(
            r.attr_bool(s, *o, CKA_ENCRYPT).ok(),
            Some(active),
            "CKA_ENCRYPT of {l}"
        );
        assert_eq!(
            r.attr_bool(s, *o, CKA_DECRYPT).ok(),
            Some(true),
            "CKA_DECRYPT of {l}"
        );
        let end = r.attr(s, *o, CKA_END_DATE).unwrap_or_default();
        assert_eq!(end.len() == 8, !active, "CKA_END_DATE of {l}: {end:?}");
    }

    // `keyrotor key show --json` tells the same story.
    let j = key_show(&tok.conf, "api-a");
    assert_eq!(j["name"], "api-a");
    assert_eq!(j["active_version"].as_u64(), Some(ulong(r, s, k, VERSION)));
    assert_eq!(
        j["next_rotation_at"].as_i64().map(|ms| ms / 1000),
        Some(ulong(r, s, k, NEXT_ROTATION) as i64),
        "next rotation (JSON in ms, attribute in s)"
    );
    let p = &j["policy"];
    let pairs = [
        ("rotation_period_s", ROTATION_PERIOD),
        ("valid_period_s", VALID_PERIOD),
        ("grace_period_s", GRACE_PERIOD),
        ("retention_s", RETENTION),
        ("keep_versions", KEEP_VERSIONS),
        ("max_encryptions", MAX_ENCRYPTIONS),
    ];
    for (field, a) in pairs {
        assert_eq!(p[field].as_u64(), Some(ulong(r, s, k, a)), "policy.{field}");
    }
    let versions = j["versions"].as_array().expect("versions array");
    assert_eq!(versions.len(), 3, "key show lists three versions: {j}");
    for (jv, (o, l)) in versions.iter().zip(&objs[1..]) {
        assert_eq!(
            jv["version"].as_u64(),
            Some(ulong(r, s, *o, VERSION)),
            "{l}"
        );
        assert_eq!(
            jv["state"].as_str(),
            Some(state_name(ulong(r, s, *o, STATE))),
            "state of {l}"
        );
        assert_eq!(
            jv["disabled"].as_bool(),
            Some(ulong(r, s, *o, DISABLED) != 0),
            "disabled of {l}"
        );
        assert_eq!(jv["material_present"].as_bool(), Some(true), "{l}");
    }
    close(r, s);
}

#[test]
fn encryption_counts_reach_the_store_and_the_attributes() {
    let (tok, s, k) = setup("api-count");
    let r = &tok.raw;
    // Sessions count uses locally and hand them on when they close (or
    // every 256 uses); the manager then writes them to the store.
    let s2 = tok.user_session();
    for i in 0..5u8 {
        envelope_encrypt(r, s2, k, &[i; 10], &[]).expect("envelope encrypt");
    }
    let blob = envelope_encrypt(r, s2, k, b"x", &[]).expect("envelope encrypt");
    envelope_decrypt(r, s2, k, &blob, &[]).expect("envelope decrypt");
    close(r, s2);
    let cli_counts = || {
        let j = key_show(&tok.conf, "api-count");
        (
            j["versions"][0]["encrypt_count"].as_u64(),
            j["versions"][0]["decrypt_count"].as_u64(),
        )
    };
    let stored = poll(SEE, || (cli_counts() == (Some(6), Some(1))).then_some(()));
    assert!(
        stored.is_some(),
        "6 encryptions and 1 decryption with v1 in a closed session: `key show` reports \
         (encrypt_count, decrypt_count) = {:?} after {SEE:?}, expected (6, 1)",
        cli_counts()
    );
    // This process's own attributes show what the store holds.
    let v1 = key_objects(r, s, "api-count")[1].0;
    let attrs = || {
        (
            ulong(r, s, v1, ENCRYPTION_COUNT),
            ulong(r, s, v1, DECRYPTION_COUNT),
            ulong(r, s, k, ENCRYPTION_COUNT),
        )
    };
    let seen = poll(SEE, || (attrs() == (6, 1, 6)).then_some(()));
    assert!(
        seen.is_some(),
        "the store holds encrypt_count 6 / decrypt_count 1 for v1, but this process's \
         (v1 ENCRYPTION_COUNT, v1 DECRYPTION_COUNT, current ENCRYPTION_COUNT) = {:?} after {SEE:?}",
        attrs()
    );
    // Finding by a count matches what C_GetAttributeValue reports.
    let by_count = |n: u64| {
        let mut t = common::template::Template::new()
            .bytes(CKA_LABEL, b"api-count@v1")
            .ulong(ENCRYPTION_COUNT, n as CK_ULONG);
        r.find(s, Some(&mut t), 4)
    };
    assert_eq!(by_count(6), [v1], "find by the live encryption count");
    assert!(by_count(0).is_empty(), "a stale count matches nothing");
    close(r, s);
}

#[test]
fn old_ciphertexts_decrypt_after_cli_rotation_and_new_ones_use_v2() {
    let (tok, s, k) = setup("api-b");
    let r = &tok.raw;
    let aad = b"row 17";

    // Version 1 ciphertexts of every kind.
    let m_rand = msg_encrypt(r, s, k, CKG_GENERATE_RANDOM, aad, b"message random v1")
        .unwrap_or_else(|rv| panic!("C_EncryptMessage(random IV): {}", rv_name(rv)));
    let m_ctr = msg_encrypt(r, s, k, CKG_GENERATE_COUNTER, aad, b"message counter v1")
        .unwrap_or_else(|rv| panic!("C_EncryptMessage(counter IV): {}", rv_name(rv)));
    assert_eq!(m_rand.iv.len(), 12);
    assert_eq!(
        m_rand.version(),
        1,
        "IV fixed field = version: {:02x?}",
        m_rand.iv
    );
    assert_eq!(
        m_ctr.version(),
        1,
        "IV fixed field = version: {:02x?}",
        m_ctr.iv
    );
    assert_ne!(m_rand.iv, m_ctr.iv);
    let env = envelope_encrypt(r, s, k, b"envelope v1", &[]).expect("envelope v1");
    let env_aad = envelope_encrypt(r, s, k, b"envelope aad v1", aad).expect("envelope+AAD v1");
    assert_eq!(env.len(), b"envelope v1".len() + ENVELOPE_OVERHEAD);
    assert_eq!(envelope_version(&env), 1);
    assert_eq!(envelope_version(&env_aad), 1);
    let iv1 = [7u8; 12];
    let gcm1 = gcm_encrypt(r, s, k, &iv1, b"plain gcm v1").expect("plain GCM v1");

    // The same through the cryptoki crate, as an application would.
    let ck = tok.ck_user_session();
    let ck_key = ck
        .find_objects(&[Attribute::Label(b"api-b".to_vec())])
        .expect("find through cryptoki")[0];
    let env_mech = || {
        Mechanism::VendorDefined(VendorDefinedMechanism::new::<()>(
            MechanismType::new_vendor_defined(CKM_ENVELOPE).expect("vendor mechanism"),
            None,
        ))
    };
    let ck_env = ck
        .encrypt(&env_mech(), ck_key, b"cryptoki v1")
        .expect("cryptoki envelope");
    assert_eq!(envelope_version(&ck_env), 1);

    let check_old = |when: &str| {
        assert_eq!(
            msg_decrypt(r, s, k, &m_rand, aad)
                .map_err(rv_name)
                .as_deref(),
            Ok(&b"message random v1"[..]),
            "{when}: C_DecryptMessage of a v1 message (random IV)"
        );
        assert_eq!(
            msg_decrypt(r, s, k, &m_ctr, aad)
                .map_err(rv_name)
                .as_deref(),
            Ok(&b"message counter v1"[..]),
            "{when}: C_DecryptMessage of a v1 message (counter IV)"
        );
        assert_eq!(
            envelope_decrypt(r, s, k, &env, &[])
                .map_err(rv_name)
                .as_deref(),
            Ok(&b"envelope v1"[..]),
            "{when}: envelope v1"
        );
        assert_eq!(
            envelope_decrypt(r, s, k, &env_aad, aad)
                .map_err(rv_name)
                .as_deref(),
            Ok(&b"envelope aad v1"[..]),
            "{when}: envelope v1 with AAD"
        );
        assert_eq!(
            envelope_decrypt(r, s, k, &env_aad, b"other").map_err(rv_name),
            Err(rv_name(CKR_ENCRYPTED_DATA_INVALID)),
            "{when}: envelope with the wrong AAD"
        );
        assert_eq!(
            gcm_decrypt(r, s, k, &iv1, &gcm1)
                .map_err(rv_name)
                .as_deref(),
            Ok(&b"plain gcm v1"[..]),
            "{when}: plain GCM v1 (trial decryption)"
        );
        assert_eq!(
            ck.decrypt(&env_mech(), ck_key, &ck_env)
                .map_err(|e| e.to_string())
                .as_deref(),
            Ok(&b"cryptoki v1"[..]),
            "{when}: cryptoki envelope v1"
        );
    };
    check_old("before rotation");

    // Another process rotates; this one keeps running with the same handles.
    cli_rotate(&tok, "api-b", 2);
    check_old("right after the CLI rotated");
    let t = std::time::Instant::now();
    let seen = poll(SEE, || {
        let e = envelope_encrypt(r, s, k, b"probe", &[]).expect("envelope encrypt");
        (envelope_version(&e) == 2).then_some(())
    });
    assert!(
        seen.is_some(),
        "new envelopes still name v1 {SEE:?} after `key rotate` made v2 Active"
    );
    eprintln!("new encryptions used v2 after {:?}", t.elapsed());
    check_old("after this process saw v2");

    // New encryptions use v2.
    let env2 = envelope_encrypt(r, s, k, b"envelope v2", aad).expect("envelope v2");
    assert_eq!(envelope_version(&env2), 2, "new envelope header");
    let m2 = msg_encrypt(r, s, k, CKG_GENERATE_RANDOM, aad, b"message v2").expect("message v2");
    assert_eq!(
        m2.version(),
        2,
        "new message IV fixed field: {:02x?}",
        m2.iv
    );
    let m2c = msg_encrypt(r, s, k, CKG_GENERATE_COUNTER, aad, b"message v2c").expect("msg v2");
    assert_eq!(
        m2c.version(),
        2,
        "new message IV (counter): {:02x?}",
        m2c.iv
    );
    let ck_env2 = ck
        .encrypt(&env_mech(), ck_key, b"cryptoki v2")
        .expect("cryptoki v2");
    assert_eq!(
        envelope_version(&ck_env2),
        2,
        "cryptoki envelope after rotation"
    );
    assert_eq!(ulong(r, s, k, VERSION), 2);
    assert_eq!(
        envelope_decrypt(r, s, k, &env2, aad)
            .map_err(rv_name)
            .as_deref(),
        Ok(&b"envelope v2"[..])
    );
    assert_eq!(
        msg_decrypt(r, s, k, &m2, aad).map_err(rv_name).as_deref(),
        Ok(&b"message v2"[..])
    );
    // Plain GCM with the same caller IV now encrypts under v2: a different
    // ciphertext, and both decrypt.
    let gcm2 = gcm_encrypt(r, s, k, &iv1, b"plain gcm v1").expect("plain GCM v2");
    assert_ne!(gcm2, gcm1, "plain GCM after rotation must use another key");
    assert_eq!(
        gcm_decrypt(r, s, k, &iv1, &gcm2)
            .map_err(rv_name)
            .as_deref(),
        Ok(&b"plain gcm v1"[..])
    );

    // Rewrap: v1 envelope in, v2 envelope out, same plaintext.
    for (blob, a, pt) in [
        (&env, &b""[..], &b"envelope v1"[..]),
        (&env_aad, &aad[..], &b"envelope aad v1"[..]),
    ] {
        let new = rewrap(r, s, k, blob, a)
            .unwrap_or_else(|rv| panic!("rewrap of a v1 envelope: {}", rv_name(rv)));
        assert_eq!(envelope_version(&new), 2, "rewrapped envelope header");
        assert_eq!(new.len(), blob.len(), "rewrap keeps the length");
        assert_ne!(&new[5..17], &blob[5..17], "rewrap uses a fresh IV");
        assert_eq!(
            envelope_decrypt(r, s, k, &new, a)
                .map_err(rv_name)
                .as_deref(),
            Ok(pt),
            "rewrapped envelope decrypts to the original plaintext"
        );
    }
    let out = cli(&tok.conf, &["audit", "verify"]);
    assert!(out.status.success(), "audit verify: {out:?}");
    close(r, s);
}

#[test]
fn message_context_opened_before_rotation_follows_the_active_version() {
    // A long-lived message context (databases doing TDE keep one open): once
    // v2 is Active, v1 is Valid and must not encrypt any more.
    let (tok, s, k) = setup("api-ctx");
    let r = &tok.raw;
    let enc = tok.user_session();
    let dec = tok.user_session();
    assert_rv!(
        ck!(
            r,
            C_MessageEncryptInit(enc, common::Mech::plain(CKM_AES_GCM).ptr(), k)
        ),
        CKR_OK
    );
    assert_rv!(
        ck!(
            r,
            C_MessageDecryptInit(dec, common::Mech::plain(CKM_AES_GCM).ptr(), k)
        ),
        CKR_OK
    );
    let m1 = msg_encrypt_in(r, enc, CKG_GENERATE_RANDOM, b"", b"before").expect("v1 message");
    assert_eq!(m1.version(), 1);
    cli_rotate(&tok, "api-ctx", 2);
    see_version(&tok, s, k, 2);
    let m2 = msg_encrypt_in(r, enc, CKG_GENERATE_RANDOM, b"", b"after").expect("message");
    // A v2 message from a fresh context, for the old decrypt context.
    let fresh = msg_encrypt(r, s, k, CKG_GENERATE_RANDOM, b"", b"fresh").expect("fresh v2");
    let fresh_dec = msg_decrypt_in(r, dec, &fresh, b"");
    let m1_dec = msg_decrypt_in(r, dec, &m1, b"");
    let _ = ck!(r, C_MessageEncryptFinal(enc));
    let _ = ck!(r, C_MessageDecryptFinal(dec));
    eprintln!(
        "old encrypt context wrote v{}; fresh context wrote v{}; old decrypt context: v1 \
         message -> {:?}, fresh v2 message -> {:?}",
        m2.version(),
        fresh.version(),
        m1_dec.clone().map_err(rv_name),
        fresh_dec.clone().map_err(rv_name)
    );
    assert_eq!(fresh.version(), 2, "a context opened after the rotation");
    assert_eq!(m1_dec.map_err(rv_name).as_deref(), Ok(&b"before"[..]));
    assert_eq!(
        m2.version(),
        2,
        "C_EncryptMessage in a context initialised before the rotation still encrypts under \
         v{} (now Valid, CKA_ENCRYPT false on its version object) although v2 is Active",
        m2.version()
    );
    assert_eq!(
        fresh_dec.map_err(rv_name).as_deref(),
        Ok(&b"fresh"[..]),
        "a decrypt context opened before the rotation must decrypt a v2 message"
    );
    close(r, s);
}

#[test]
fn disabled_version_refuses_until_enabled() {
    let (tok, s, k) = setup("api-c");
    let r = &tok.raw;
    let env1 = envelope_encrypt(r, s, k, b"under v1", &[]).expect("envelope v1");
    let msg1 = msg_encrypt(r, s, k, CKG_GENERATE_RANDOM, b"", b"msg v1").expect("message v1");
    let iv = [3u8; 12];
    let gcm1 = gcm_encrypt(r, s, k, &iv, b"gcm v1").expect("gcm v1");
    cli_rotate(&tok, "api-c", 2);
    see_version(&tok, s, k, 2);
    let env2 = envelope_encrypt(r, s, k, b"under v2", &[]).expect("envelope v2");

    cli_ok(&tok.conf, &["key", "disable", "api-c", "--version", "1"]);
    let last = poll(SEE, || {
        let got = envelope_decrypt(r, s, k, &env1, &[]);
        (got == Err(CKR_DISABLED)).then_some(()).ok_or(got).ok()
    });
    assert!(
        last.is_some(),
        "envelope decrypt of a v1 envelope after `key disable api-c --version 1`: expected {} \
         within {SEE:?}, got {:?}",
        rv_name(CKR_DISABLED),
        envelope_decrypt(r, s, k, &env1, &[]).map_err(rv_name)
    );
    assert_eq!(
        msg_decrypt(r, s, k, &msg1, b"").map_err(rv_name),
        Err(rv_name(CKR_DISABLED)),
        "C_DecryptMessage of a v1 message while v1 is disabled"
    );
    assert_eq!(
        rewrap(r, s, k, &env1, &[]).map_err(rv_name),
        Err(rv_name(CKR_DISABLED)),
        "rewrap of a v1 envelope while v1 is disabled"
    );
    let g = gcm_decrypt(r, s, k, &iv, &gcm1);
    assert!(
        g.is_err(),
        "plain GCM of v1 data decrypted while v1 is disabled"
    );
    assert_eq!(
        envelope_decrypt(r, s, k, &env2, &[])
            .map_err(rv_name)
            .as_deref(),
        Ok(&b"under v2"[..]),
        "v2 is not affected by v1's hold"
    );
    let v1 = key_objects(r, s, "api-c")[2].0;
    assert_eq!(label(r, s, v1), "api-c@v1");
    assert_eq!(ulong(r, s, v1, DISABLED), 1, "CKA_KEYROTOR_DISABLED of v1");
    assert_eq!(
        r.attr_bool(s, v1, CKA_DECRYPT).ok(),
        Some(false),
        "CKA_DECRYPT of held v1"
    );
    let j = key_show(&tok.conf, "api-c");
    assert_eq!(j["versions"][1]["version"], 1);
    assert_eq!(j["versions"][1]["disabled"], true, "key show: {j}");
    assert_eq!(j["versions"][0]["disabled"], false, "key show: {j}");

    cli_ok(&tok.conf, &["key", "enable", "api-c", "--version", "1"]);
    let ok = poll(SEE, || envelope_decrypt(r, s, k, &env1, &[]).ok());
    assert_eq!(
        ok.as_deref(),
        Some(&b"under v1"[..]),
        "v1 decrypts again within {SEE:?} of `key enable`; now: {:?}",
        envelope_decrypt(r, s, k, &env1, &[]).map_err(rv_name)
    );
    assert_eq!(
        msg_decrypt(r, s, k, &msg1, b"").map_err(rv_name).as_deref(),
        Ok(&b"msg v1"[..])
    );
    assert_eq!(
        gcm_decrypt(r, s, k, &iv, &gcm1).map_err(rv_name).as_deref(),
        Ok(&b"gcm v1"[..])
    );
    assert_eq!(ulong(r, s, v1, DISABLED), 0);

    // Holding the Active version stops encryption with the disabled code.
    cli_ok(&tok.conf, &["key", "disable", "api-c", "--version", "2"]);
    let refused = poll(SEE, || {
        (envelope_encrypt(r, s, k, b"x", &[]) == Err(CKR_DISABLED)).then_some(())
    });
    assert!(
        refused.is_some(),
        "envelope encrypt with the Active version disabled: expected {}, got {:?}",
        rv_name(CKR_DISABLED),
        envelope_encrypt(r, s, k, b"x", &[])
            .map(|b| envelope_version(&b))
            .map_err(rv_name)
    );
    cli_ok(&tok.conf, &["key", "enable", "api-c"]);
    let back = poll(SEE, || envelope_encrypt(r, s, k, b"x", &[]).ok());
    assert_eq!(
        back.map(|b| envelope_version(&b)),
        Some(2),
        "encrypts again after enable"
    );
    close(r, s);
}

#[test]
fn compromise_rotates_at_once_and_allows_only_rewrap() {
    let (tok, s, k) = setup("api-d");
    let r = &tok.raw;
    let aad = b"ctx";
    let env1 = envelope_encrypt(r, s, k, b"secret v1", aad).expect("envelope v1");
    let msg1 = msg_encrypt(r, s, k, CKG_GENERATE_COUNTER, b"", b"msg v1").expect("message v1");
    let iv = [9u8; 12];
    let gcm1 = gcm_encrypt(r, s, k, &iv, b"gcm v1").expect("gcm v1");

    let out = cli_ok(&tok.conf, &["key", "compromise", "api-d", "--json"]);
    let j: serde_json::Value = serde_json::from_str(out.trim()).expect("compromise --json");
    assert_eq!(j["compromised_version"], 1, "{out}");
    assert_eq!(j["active_version"], 2, "emergency rotation: {out}");
    see_version(&tok, s, k, 2);

    let objs = key_objects(r, s, "api-d");
    let labels: Vec<&str> = objs.iter().map(|(_, l)| l.as_str()).collect();
    assert_eq!(labels, ["api-d", "api-d@v2", "api-d@v1"]);
    assert_eq!(ulong(r, s, objs[2].0, STATE), COMPROMISED, "STATE of v1");
    assert_eq!(ulong(r, s, objs[1].0, STATE), ACTIVE, "STATE of v2");
    assert_eq!(r.attr_bool(s, objs[2].0, CKA_ENCRYPT).ok(), Some(false));
    assert_eq!(r.attr_bool(s, objs[2].0, CKA_DECRYPT).ok(), Some(false));
    let shown = key_show(&tok.conf, "api-d");
    assert_eq!(shown["versions"][1]["state"], "compromised", "{shown}");

    assert_eq!(
        envelope_decrypt(r, s, k, &env1, aad).map_err(rv_name),
        Err(rv_name(CKR_COMPROMISED)),
        "envelope decrypt of a compromised version's data"
    );
    assert_eq!(
        msg_decrypt(r, s, k, &msg1, b"").map_err(rv_name),
        Err(rv_name(CKR_COMPROMISED)),
        "C_DecryptMessage of a compromised version's message"
    );
    assert!(
        gcm_decrypt(r, s, k, &iv, &gcm1).is_err(),
        "plain GCM trial decryption must not use a compromised version"
    );
    let new = rewrap(r, s, k, &env1, aad)
        .unwrap_or_else(|rv| panic!("rewrap of a compromised v1 envelope: {}", rv_name(rv)));
    assert_eq!(envelope_version(&new), 2);
    assert_eq!(
        envelope_decrypt(r, s, k, &new, aad)
            .map_err(rv_name)
            .as_deref(),
        Ok(&b"secret v1"[..]),
        "the rewrapped envelope decrypts"
    );
    let fresh = envelope_encrypt(r, s, k, b"after", &[]).expect("encrypt after compromise");
    assert_eq!(envelope_version(&fresh), 2);
    let events = sqlite(
        &store_path(&tok.path),
        "SELECT event FROM audit_log WHERE event = 'key.compromised'",
    );
    assert_eq!(
        events.len(),
        1,
        "one key.compromised audit entry: {events:?}"
    );
    let out = cli(&tok.conf, &["audit", "verify"]);
    assert!(out.status.success(), "audit verify: {out:?}");
    close(r, s);
}
