//! A keyrotor slot backed by a real HSM (SoftHSM2 through its PKCS#11
//! module), driven through keyrotor's own PKCS#11 API: keyrotor's token and
//! PINs are its own, every key version is a non-extractable key inside the
//! HSM, GCM runs there, rotation and destruction reach it, and startup
//! errors name the problem precisely.

#[macro_use]
mod common;
mod hsm_support;
mod rotation_support;

use std::process::Output;
use std::time::Duration;

use common::sys::*;
use common::{Mech, TestToken};
use hsm_support::*;
use rotation_support::*;

/// How long another process's rotation may take to show here.
const SEE: Duration = Duration::from_secs(10);

/// keyrotor initialised on a pkcs11 slot over SoftHSM, its token initialised.
struct HsmToken {
    tok: TestToken,
    _dir: tempfile::TempDir,
}

fn hsm_token(pkcs11: &str) -> HsmToken {
    softhsm();
    let dir = tempfile::tempdir().expect("tempdir");
    write_hsm_conf(dir.path(), SOFTHSM, pkcs11);
    let tok = TestToken::attach(dir.path());
    tok.init_token();
    HsmToken { tok, _dir: dir }
}

fn rotate_by_cli(t: &HsmToken, s: CK_SESSION_HANDLE, k: CK_OBJECT_HANDLE, name: &str, to: u64) {
    let out = cli_ok(&t.tok.conf, &["key", "rotate", name, "--json"]);
    let j: serde_json::Value = serde_json::from_str(out.trim()).expect("rotate --json");
    assert_eq!(
        j["active_version"].as_u64(),
        Some(to),
        "key rotate {name}: {out}"
    );
    if let Err(last) = wait_version(&t.tok.raw, s, k, to, SEE) {
        panic!("this process still sees v{last} of {name} {SEE:?} after the CLI made v{to} Active");
    }
}

fn assert_in_hsm(k: &HsmKey, label: &str) {
    assert_eq!(k.label, label);
    assert!(k.token, "{label}: CKA_TOKEN");
    assert!(!k.extractable, "{label}: CKA_EXTRACTABLE must be false");
    assert!(k.sensitive, "{label}: CKA_SENSITIVE must be true");
    assert!(k.never_extractable, "{label}: CKA_NEVER_EXTRACTABLE");
    assert!(k.always_sensitive, "{label}: CKA_ALWAYS_SENSITIVE");
}

#[test]
fn versions_are_hsm_keys_and_old_ciphertexts_decrypt_after_rotation() {
    let t = hsm_token("");
    let raw = &t.tok.raw;
    let s = t.tok.user_session();
    let k = generate_key(raw, s, "orders", &[])
        .unwrap_or_else(|rv| panic!("C_GenerateKey on the HSM slot: {}", rv_name(rv)));

    // AES-GCM with a caller IV, and the envelope, both through the HSM.
    let iv1 = [0x11u8; 12];
    let ct1 = gcm_encrypt(raw, s, k, &iv1, b"first message").expect("GCM encrypt");
    assert_eq!(ct1.len(), 13 + 16);
    assert_eq!(
        gcm_decrypt(raw, s, k, &iv1, &ct1).expect("GCM decrypt"),
        b"first message"
    );
    let env1 = envelope_encrypt(raw, s, k, b"sealed under v1", b"ctx").expect("envelope");
    assert_eq!(envelope_version(&env1), 1);
    assert_eq!(
        envelope_decrypt(raw, s, k, &env1, b"ctx").expect("envelope decrypt"),
        b"sealed under v1"
    );

    let v = hsm_versions("orders");
    assert_eq!(v.len(), 1, "one HSM key after C_GenerateKey: {v:?}");
    assert_in_hsm(&v[0], "keyrotor:orders@v1");
    assert!(
        v[0].id.contains(":v1#"),
        "CKA_ID names the version: {:?}",
        v[0].id
    );

    rotate_by_cli(&t, s, k, "orders", 2);
    let v = hsm_versions("orders");
    assert_eq!(v.len(), 2, "a second HSM key after rotation: {v:?}");
    assert_in_hsm(&v[0], "keyrotor:orders@v1");
    assert_in_hsm(&v[1], "keyrotor:orders@v2");

    let env2 = envelope_encrypt(raw, s, k, b"sealed under v2", b"ctx").expect("envelope v2");
    assert_eq!(
        envelope_version(&env2),
        2,
        "new envelopes use the Active version"
    );
    assert_eq!(
        envelope_decrypt(raw, s, k, &env1, b"ctx").unwrap(),
        b"sealed under v1"
    );
    assert_eq!(
        envelope_decrypt(raw, s, k, &env2, b"ctx").unwrap(),
        b"sealed under v2"
    );
    let re = rewrap(raw, s, k, &env1, b"ctx").expect("rewrap");
    assert_eq!(envelope_version(&re), 2);
    assert_eq!(
        envelope_decrypt(raw, s, k, &re, b"ctx").unwrap(),
        b"sealed under v1"
    );
    // Plain GCM: the old ciphertext still decrypts (the tag picks v1).
    assert_eq!(
        gcm_decrypt(raw, s, k, &iv1, &ct1).unwrap(),
        b"first message"
    );
    let iv2 = [0x22u8; 12];
    let ct2 = gcm_encrypt(raw, s, k, &iv2, b"second message").unwrap();
    assert_eq!(
        gcm_decrypt(raw, s, k, &iv2, &ct2).unwrap(),
        b"second message"
    );
}

#[test]
fn destroying_a_version_destroys_its_hsm_key() {
    let t = hsm_token("");
    let raw = &t.tok.raw;
    let s = t.tok.user_session();
    let k = generate_key(raw, s, "ledger", &[]).expect("C_GenerateKey");
    let env1 = envelope_encrypt(raw, s, k, b"v1 data", b"").unwrap();
    rotate_by_cli(&t, s, k, "ledger", 2);
    assert_eq!(hsm_versions("ledger").len(), 2);

    let v1 = key_objects(raw, s, "ledger")
        .into_iter()
        .find(|(_, l)| l == "ledger@v1")
        .expect("the ledger@v1 object")
        .0;
    assert_rv!(
        ck!(raw, C_DestroyObject(s, v1)),
        CKR_OK,
        "C_DestroyObject(ledger@v1)"
    );
    let left = hsm_versions("ledger");
    assert_eq!(left.len(), 1, "v1's HSM key is gone: {left:?}");
    assert_in_hsm(&left[0], "keyrotor:ledger@v2");
    let rv = envelope_decrypt(raw, s, k, &env1, b"").expect_err("v1 is destroyed");
    assert_ne!(rv, CKR_OK);
    // The Active version still works.
    let env2 = envelope_encrypt(raw, s, k, b"v2 data", b"").unwrap();
    assert_eq!(envelope_decrypt(raw, s, k, &env2, b"").unwrap(), b"v2 data");
}

#[test]
fn the_message_api_runs_in_the_hsm_too() {
    // PKCS#11 3.0 message API (pkcs11-provider's AES-GCM path): the module
    // writes the IV, whose fixed field names the version.
    let t = hsm_token("");
    let raw = &t.tok.raw;
    let s = t.tok.user_session();
    let k = generate_key(raw, s, "msgs", &[]).unwrap();
    let m1 = msg_encrypt(raw, s, k, CKG_GENERATE_COUNTER, b"hdr", b"message one")
        .unwrap_or_else(|rv| panic!("C_EncryptMessage: {}", rv_name(rv)));
    assert_eq!(m1.version(), 1);
    rotate_by_cli(&t, s, k, "msgs", 2);
    let m2 = msg_encrypt(raw, s, k, CKG_GENERATE_COUNTER, b"hdr", b"message two").unwrap();
    assert_eq!(m2.version(), 2);
    assert_eq!(msg_decrypt(raw, s, k, &m1, b"hdr").unwrap(), b"message one");
    assert_eq!(msg_decrypt(raw, s, k, &m2, b"hdr").unwrap(), b"message two");
}

#[test]
fn a_bad_tag_is_encrypted_data_invalid() {
    let t = hsm_token("");
    let raw = &t.tok.raw;
    let s = t.tok.user_session();
    let k = generate_key(raw, s, "tags", &[]).unwrap();
    let iv = [7u8; 12];
    let mut ct = gcm_encrypt(raw, s, k, &iv, b"authentic").unwrap();
    let last = ct.len() - 1;
    ct[last] ^= 0x80;
    // SoftHSM answers CKR_GENERAL_ERROR for a bad tag; keyrotor says what it is.
    assert_rv!(
        gcm_decrypt(raw, s, k, &iv, &ct).expect_err("tampered tag"),
        CKR_ENCRYPTED_DATA_INVALID
    );
    let mut env = envelope_encrypt(raw, s, k, b"authentic", b"").unwrap();
    env[20] ^= 1;
    assert_rv!(
        envelope_decrypt(raw, s, k, &env, b"").expect_err("tampered envelope"),
        CKR_ENCRYPTED_DATA_INVALID
    );
    // The session and the HSM connection are fine afterwards.
    let ok = gcm_encrypt(raw, s, k, &iv, b"still fine").unwrap();
    assert_eq!(gcm_decrypt(raw, s, k, &iv, &ok).unwrap(), b"still fine");
}

fn mechanisms(raw: &common::Raw, slot: CK_SLOT_ID) -> Vec<CK_MECHANISM_TYPE> {
    let mut n: CK_ULONG = 0;
    assert_rv!(
        ck!(raw, C_GetMechanismList(slot, std::ptr::null_mut(), &mut n)),
        CKR_OK
    );
    let mut v = vec![0; n as usize];
    assert_rv!(
        ck!(raw, C_GetMechanismList(slot, v.as_mut_ptr(), &mut n)),
        CKR_OK
    );
    v.truncate(n as usize);
    v
}

#[test]
fn the_mechanism_list_offers_only_what_the_hsm_slot_can_do() {
    let t = hsm_token("");
    let m = mechanisms(&t.tok.raw, t.tok.slot);
    for want in [CKM_AES_KEY_GEN, CKM_AES_GCM, CKM_ENVELOPE, CKM_REWRAP] {
        assert!(m.contains(&want), "0x{want:x} missing from {m:x?}");
    }
    // Block modes, key wrap and MACs need the key bytes: not on a device slot.
    for absent in [
        CKM_AES_CBC_PAD,
        CKM_AES_ECB,
        CKM_AES_CTR,
        CKM_AES_KEY_WRAP,
        CKM_AES_CMAC,
        CKM_SHA256_HMAC,
    ] {
        assert!(!m.contains(&absent), "0x{absent:x} is listed: {m:x?}");
    }
    let mut info: CK_MECHANISM_INFO = unsafe { std::mem::zeroed() };
    assert_rv!(
        ck!(
            t.tok.raw,
            C_GetMechanismInfo(t.tok.slot, CKM_AES_CBC_PAD, &mut info)
        ),
        CKR_MECHANISM_INVALID
    );
}

#[test]
fn gcm_assembled_from_ecb_interoperates_with_native_gcm() {
    // Same store, same HSM keys: encrypt with CKM_AES_GCM in the HSM, then
    // reopen with gcm = "ecb" and decrypt (and the other way round).
    softhsm();
    let dir = tempfile::tempdir().unwrap();
    write_hsm_conf(dir.path(), SOFTHSM, "");
    let (iv, data) = ([3u8; 12], vec![0xa5u8; 4000]);
    let (native_ct, native_env) = {
        let tok = TestToken::attach(dir.path());
        tok.init_token();
        let s = tok.user_session();
        let k = generate_key(&tok.raw, s, "mixed", &[]).unwrap();
        (
            gcm_encrypt(&tok.raw, s, k, &iv, &data).unwrap(),
            envelope_encrypt(&tok.raw, s, k, &data, b"aad").unwrap(),
        )
    };
    write_hsm_conf(dir.path(), SOFTHSM, "gcm = \"ecb\"");
    let ecb_ct = {
        let tok = TestToken::attach(dir.path());
        let s = tok.user_session();
        let k = current_object(&tok.raw, s, "mixed");
        assert_eq!(gcm_decrypt(&tok.raw, s, k, &iv, &native_ct).unwrap(), data);
        assert_eq!(
            envelope_decrypt(&tok.raw, s, k, &native_env, b"aad").unwrap(),
            data
        );
        let ct = gcm_encrypt(&tok.raw, s, k, &iv, &data).unwrap();
        assert_eq!(ct, native_ct, "same key, IV and data: the same bytes");
        let mut bad = ct.clone();
        bad[5] ^= 1;
        assert_rv!(
            gcm_decrypt(&tok.raw, s, k, &iv, &bad).unwrap_err(),
            CKR_ENCRYPTED_DATA_INVALID
        );
        envelope_encrypt(&tok.raw, s, k, &data, b"aad").unwrap()
    };
    write_hsm_conf(dir.path(), SOFTHSM, "");
    let tok = TestToken::attach(dir.path());
    let s = tok.user_session();
    let k = current_object(&tok.raw, s, "mixed");
    assert_eq!(
        envelope_decrypt(&tok.raw, s, k, &ecb_ct, b"aad").unwrap(),
        data
    );
}

#[test]
fn an_inline_pool_works_the_same() {
    let t = hsm_token("calls = \"inline\"\npool_size = 2");
    let raw = &t.tok.raw;
    let s = t.tok.user_session();
    let k = generate_key(raw, s, "inline", &[]).unwrap();
    let iv = [9u8; 16]; // a 128-bit IV goes to the HSM as is
    let ct = raw
        .encrypt(s, &mut Mech::gcm(&iv, b"", 128), k, b"sixteen-byte IVs")
        .unwrap();
    assert_eq!(
        raw.decrypt(s, &mut Mech::gcm(&iv, b"", 128), k, &ct)
            .unwrap(),
        b"sixteen-byte IVs"
    );
    assert_in_hsm(&hsm_versions("inline")[0], "keyrotor:inline@v1");
}

// ---------------------------------------------------------------------------
// Startup errors, as the CLI prints them (C_Initialize itself can only say
// CKR_GENERAL_ERROR; the same text goes to keyrotor's log).

fn status_with(dir: &std::path::Path, text: &str) -> Output {
    let conf = dir.join("keyrotor.toml");
    std::fs::write(&conf, text).unwrap();
    cli(&conf, &["status"])
}

fn assert_fails_with(o: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success(),
        "expected a failure mentioning {needle:?}"
    );
    assert!(err.contains(needle), "stderr lacks {needle:?}:\n{err}");
    assert!(
        !err.contains(HSM_PIN_WRONG),
        "the PIN must never be printed:\n{err}"
    );
}

const HSM_PIN_WRONG: &str = "98765";

#[test]
fn startup_errors_are_precise() {
    softhsm();
    let dir = tempfile::tempdir().unwrap();
    let good = hsm_conf_text(dir.path(), SOFTHSM, "");

    let o = status_with(dir.path(), &good.replace(SOFTHSM, "/nonexistent/libhsm.so"));
    assert_fails_with(
        &o,
        "line 6, column 10: slot.pkcs11.module: module not found: /nonexistent/libhsm.so",
    );

    // A file that is not a shared library: the dlopen error is shown.
    let o = status_with(dir.path(), &good.replace(SOFTHSM, "/etc/hostname"));
    assert_fails_with(&o, "slot.pkcs11.module: cannot load /etc/hostname: ");

    let o = status_with(
        dir.path(),
        &good.replace("token = \"HSM\"", "token = \"NOPE\""),
    );
    assert_fails_with(
        &o,
        "slot.pkcs11.token: token \"NOPE\" not found in libsofthsm2.so; tokens present: \"HSM\"",
    );

    std::env::set_var("KEYROTOR_TEST_WRONG_HSM_PIN", HSM_PIN_WRONG);
    let o = status_with(
        dir.path(),
        &good.replace(PIN_VAR, "KEYROTOR_TEST_WRONG_HSM_PIN"),
    );
    assert_fails_with(
        &o,
        "slot.pkcs11.pin: the HSM rejected the PIN for token \"HSM\" (CKR_PIN_INCORRECT); \
         check $KEYROTOR_TEST_WRONG_HSM_PIN",
    );

    let o = status_with(
        dir.path(),
        &good.replace(PIN_VAR, "KEYROTOR_TEST_UNSET_HSM_PIN"),
    );
    assert_fails_with(
        &o,
        "slot.pkcs11.pin: environment variable KEYROTOR_TEST_UNSET_HSM_PIN is not set",
    );

    let pin_file = dir.path().join("no-such-pin-file");
    let o = status_with(
        dir.path(),
        &good.replace(
            &format!("{{ env = \"{PIN_VAR}\" }}"),
            &format!("{{ file = \"{}\" }}", pin_file.display()),
        ),
    );
    assert_fails_with(&o, &format!("cannot read PIN file {}", pin_file.display()));

    // And the good configuration opens the HSM (the wrong PIN above locked
    // nothing); only keyrotor's own token is still to be initialised.
    let o = status_with(dir.path(), &good);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success() || err.contains("is not initialised"),
        "keyrotor status on the HSM slot: {err}"
    );
    assert!(!err.contains("slot.pkcs11"), "{err}");
}

#[test]
fn c_initialize_fails_cleanly_on_a_bad_hsm_configuration() {
    softhsm();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("keyrotor.toml"),
        hsm_conf_text(dir.path(), SOFTHSM, "").replace("\"HSM\"", "\"NOPE\""),
    )
    .unwrap();
    let _g = common::exclusive();
    let raw = common::Raw::load();
    assert_rv!(
        raw.init_conf(&dir.path().join("keyrotor.toml")),
        CKR_GENERAL_ERROR
    );
    // Nothing half-initialised is left behind: a good configuration works next.
    write_hsm_conf(dir.path(), SOFTHSM, "");
    assert_rv!(raw.init_conf(&dir.path().join("keyrotor.toml")), CKR_OK);
    assert_rv!(raw.finalize(), CKR_OK);
}
