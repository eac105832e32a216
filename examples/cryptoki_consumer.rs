//! A PKCS#11 consumer written with the Rust `cryptoki` crate (0.12), as an application would use it:
//! load the module by path (`C_GetInterface`), initialise, log in, and use it. Every result with a
//! known key is compared with a published test vector (`tests/common/vectors.rs`).
//!
//! Prints one `RESULT | cryptoki | <check> | PASS|FAIL|SKIP | detail` line per check (the format of
//! `conformance/lib.sh`) and exits 1 if any check failed. `conformance/cryptoki.sh` runs it against a
//! freshly initialised token:
//!
//! ```sh
//! cargo run --example cryptoki_consumer -- /path/to/module.so
//! ```
//!
//! Environment: `CONF_TOKEN_LABEL` (default `conformance`), `CONF_USER_PIN` (default `1234`); for the
//! rotation checks `CONF_CLI` (the `keyrotor` CLI), `KEYROTOR_CONF` and `CONF_SLOT_ID`. A module path
//! containing `softhsm` skips the keyrotor-only rotation checks.

use std::error::Error as StdError;
use std::process::Command;
use std::time::{Duration, Instant};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Function, Pkcs11};
use cryptoki::error::{Error, RvError};
use cryptoki::mechanism::aead::{GcmMessageParams, GcmParams, GeneratorFunction};
use cryptoki::mechanism::vendor_defined::VendorDefinedMechanism;
use cryptoki::mechanism::{Mechanism, MechanismType, MessageParam};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;

#[allow(dead_code)]
#[path = "../tests/common/vectors.rs"]
mod vectors;
use vectors::h;

const CONSUMER: &str = "cryptoki";
/// `CKM_KEYROTOR_AES_GCM_ENVELOPE` from include/keyrotor.h: `CKM_VENDOR_DEFINED | 0x4B520001`.
const CKM_ENVELOPE: u64 = 0x8000_0000 | 0x4B52_0001;
/// `CKA_KEYROTOR_VERSION`: `CKA_VENDOR_DEFINED | 0x4B520001`.
const CKA_KEYROTOR_VERSION: u64 = 0x8000_0000 | 0x4B52_0001;
/// The envelope's parameter is the AAD; cryptoki passes a parameter by reference to a sized value.
const ENVELOPE_AAD: [u8; 16] = *b"tenant=9;col=pan";
/// RFC 4231 4.7 (test case 6): HMAC-SHA-256, key 0xaa x 131, "Test Using Larger Than Block-Size Key -
/// Hash Key First". (Test cases 1/2 use 20- and 4-byte keys, below SoftHSM2's minimum HMAC key size.)
const RFC4231_TC6: &str = "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54";

type CheckResult = Result<String, Box<dyn StdError>>;
/// A message sealed through the message API: (IV, tag, ciphertext).
type Sealed = ([u8; 12], [u8; 16], Vec<u8>);

/// Counts failures and prints RESULT lines.
struct Report {
    failures: u32,
}

impl Report {
    fn result(&mut self, check: &str, status: &str, detail: &str) {
        if status == "FAIL" {
            self.failures += 1;
        }
        let detail = detail.replace('\n', " ").replace(" | ", " / ");
        println!("RESULT | {CONSUMER} | {check} | {status} | {detail}");
    }

    fn check(&mut self, check: &str, f: impl FnOnce() -> CheckResult) -> bool {
        match f() {
            Ok(detail) => {
                self.result(check, "PASS", &detail);
                true
            }
            Err(e) => {
                let why = match e.downcast_ref::<Error>() {
                    Some(Error::Pkcs11(rv, func)) => format!("{func:?}: {rv:?}"),
                    _ => e.to_string(),
                };
                self.result(check, "FAIL", &why);
                false
            }
        }
    }

    fn skip(&mut self, reason: &str, checks: &[&str]) {
        for c in checks {
            self.result(c, "SKIP", reason);
        }
    }
}

/// A failed expectation of the consumer itself.
fn expect(cond: bool, msg: impl Into<String>) -> Result<(), Box<dyn StdError>> {
    if cond {
        Ok(())
    } else {
        Err(msg.into().into())
    }
}

/// The call must fail with exactly `want`.
fn expect_rv<T>(r: cryptoki::error::Result<T>, want: RvError) -> CheckResult {
    match r {
        Err(Error::Pkcs11(rv, _)) if rv == want => Ok(format!("{want:?}")),
        Err(e) => Err(format!("expected {want:?}, got {e}").into()),
        Ok(_) => Err(format!("expected {want:?}, the call succeeded").into()),
    }
}

fn secret(
    s: &Session,
    key_type: KeyType,
    value: Vec<u8>,
    label: &str,
    extra: &[Attribute],
) -> cryptoki::error::Result<ObjectHandle> {
    let mut t = vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(key_type),
        Attribute::Token(false),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Value(value),
    ];
    t.extend_from_slice(extra);
    s.create_object(&t)
}

fn envelope_version(blob: &[u8]) -> Result<u32, Box<dyn StdError>> {
    expect(
        blob.len() >= 33 && blob[0] == 1,
        "not an envelope (format byte 0x01, 33 bytes of overhead)",
    )?;
    Ok(u32::from_be_bytes([blob[1], blob[2], blob[3], blob[4]]))
}

fn main() {
    let mut r = Report { failures: 0 };
    let module = std::env::args().nth(1).unwrap_or_else(|| {
        eprintln!("usage: cryptoki_consumer /path/to/module.so");
        std::process::exit(2);
    });
    let label = std::env::var("CONF_TOKEN_LABEL").unwrap_or_else(|_| "conformance".into());
    let pin = std::env::var("CONF_USER_PIN").unwrap_or_else(|_| "1234".into());
    let softhsm = module.contains("softhsm");
    if std::env::args().nth(2).as_deref() == Some("--msg-ivs") {
        // Helper mode for cryptoki.sh: print the module-made IVs of two messages under the key
        // labelled argv[3], so IVs from separate processes can be compared.
        let key_label = std::env::args().nth(3).unwrap_or_default();
        match msg_ivs(&module, &label, &pin, &key_label) {
            Ok(ivs) => println!("{ivs}"),
            Err(e) => {
                eprintln!("msg-ivs: {e}");
                std::process::exit(1);
            }
        }
        return;
    }

    // --- load: Pkcs11::new uses C_GetInterface (the crate has no C_GetFunctionList fallback) -------
    let mut ctx = None;
    r.check("load", || {
        let p = Pkcs11::new(&module)?;
        p.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))?;
        let info = p.get_library_info()?;
        let v = info.cryptoki_version();
        let detail = format!(
            "Cryptoki {}.{}, {}, message API {}",
            v.major(),
            v.minor(),
            info.manufacturer_id(),
            if p.is_fn_supported(Function::MessageEncryptInit) {
                "yes"
            } else {
                "no"
            }
        );
        ctx = Some(p);
        Ok(detail)
    });
    let Some(p) = ctx else {
        std::process::exit(1);
    };

    let mut slot: Option<Slot> = None;
    r.check("token-info", || {
        for s in p.get_slots_with_token()? {
            let ti = p.get_token_info(s)?;
            if ti.label() == label {
                expect(
                    ti.token_initialized() && ti.user_pin_initialized(),
                    "token or user PIN not initialised",
                )?;
                expect(
                    ti.login_required() && ti.rng(),
                    "CKF_LOGIN_REQUIRED or CKF_RNG missing",
                )?;
                let mechs = p.get_mechanism_list(s)?;
                for m in [
                    MechanismType::AES_GCM,
                    MechanismType::AES_CBC_PAD,
                    MechanismType::AES_KEY_WRAP,
                    MechanismType::SHA256,
                    MechanismType::SHA256_HMAC,
                ] {
                    expect(mechs.contains(&m), format!("{m} not listed"))?;
                }
                let mi = p.get_mechanism_info(s, MechanismType::AES_GCM)?;
                expect(
                    (16..=32).contains(&mi.min_key_size())
                        && (16..=32).contains(&mi.max_key_size()),
                    format!(
                        "AES-GCM key sizes {}..{} are not bytes",
                        mi.min_key_size(),
                        mi.max_key_size()
                    ),
                )?;
                slot = Some(s);
                return Ok(format!("{} mechanisms", mechs.len()));
            }
        }
        Err(format!("no token labelled {label:?}").into())
    });
    let Some(slot) = slot else {
        std::process::exit(1);
    };

    // --- login -------------------------------------------------------------------------------------
    let mut session = None;
    r.check("login", || {
        let s = p.open_rw_session(slot)?;
        let wrong = expect_rv(
            s.login(UserType::User, Some(&AuthPin::new("0000".into()))),
            RvError::PinIncorrect,
        )?;
        s.login(UserType::User, Some(&AuthPin::new(pin.clone().into())))?;
        session = Some(s);
        Ok(format!("wrong PIN: {wrong}"))
    });
    let Some(s) = session else {
        std::process::exit(1);
    };

    // --- keys and find -----------------------------------------------------------------------------
    r.check("keygen-aes", || {
        let k = s.generate_key(
            &Mechanism::AesKeyGen,
            &[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::ValueLen(32.into()),
                Attribute::Token(false),
                Attribute::Encrypt(true),
                Attribute::Decrypt(true),
                Attribute::Label(b"ck-generated".to_vec()),
            ],
        )?;
        let mut iv = [7u8; 12];
        let ct = s.encrypt(
            &Mechanism::AesGcm(GcmParams::new(&mut iv, b"aad", 128.into())?),
            k,
            b"generated",
        )?;
        let pt = s.decrypt(
            &Mechanism::AesGcm(GcmParams::new(&mut iv, b"aad", 128.into())?),
            k,
            &ct,
        )?;
        expect(
            pt == b"generated",
            "GCM round trip with a generated key differs",
        )?;
        Ok("AES-256 session key, GCM round trip".into())
    });

    // --- AES-GCM: McGrew & Viega test case 16 (AES-256, 96-bit IV, AAD) ----------------------------
    let gcm_key = secret(
        &s,
        KeyType::AES,
        h(vectors::GCM_K256),
        "ck-gcm",
        &[Attribute::Encrypt(true), Attribute::Decrypt(true)],
    );
    let p60 = h(vectors::GCM_P)[..60].to_vec();
    let aad = h(vectors::GCM_AAD);
    let mut want = h(vectors::GCM_TC16_C);
    want.extend(h(vectors::GCM_TC16_T));
    match gcm_key {
        Ok(k) => {
            r.check("gcm-known-vector", || {
                let mut iv = h(vectors::GCM_IV96);
                let ct = s.encrypt(
                    &Mechanism::AesGcm(GcmParams::new(&mut iv, &aad, 128.into())?),
                    k,
                    &p60,
                )?;
                expect(ct == want, "ciphertext||tag differs from GCM test case 16")?;
                let pt = s.decrypt(
                    &Mechanism::AesGcm(GcmParams::new(&mut iv, &aad, 128.into())?),
                    k,
                    &want,
                )?;
                expect(pt == p60, "decryption of test case 16 differs")?;
                Ok("test case 16, both ways".into())
            });
            r.check("gcm-bad-tag", || {
                let mut bad = want.clone();
                if let Some(last) = bad.last_mut() {
                    *last ^= 1;
                }
                let mut iv = h(vectors::GCM_IV96);
                let mech = Mechanism::AesGcm(GcmParams::new(&mut iv, &aad, 128.into())?);
                if softhsm {
                    return expect_rv(s.decrypt(&mech, k, &bad), RvError::GeneralError)
                        .map(|d| format!("{d} (SoftHSM2 quirk, accepted)"));
                }
                expect_rv(s.decrypt(&mech, k, &bad), RvError::EncryptedDataInvalid)
            });
            // PKCS#11 3.0 message API, as pkcs11-provider uses it: the module generates the IV.
            if p.is_fn_supported(Function::MessageEncryptInit) {
                r.check("gcm-message-api", || {
                    // Two messages under one C_MessageEncryptInit: the module fills in the IV after the
                    // caller's 32 fixed bits; IVs must keep those bits and never repeat.
                    let fixed = [0xa1u8, 0xb2, 0xc3, 0xd4];
                    let mut ivs = Vec::new();
                    let mut sealed = Vec::new();
                    for i in 0..2 {
                        let mut iv = [0u8; 12];
                        iv[..4].copy_from_slice(&fixed);
                        let mut tag = [0u8; 16];
                        let params = GcmMessageParams::new(
                            &mut iv,
                            32.into(),
                            GeneratorFunction::GenerateCounter,
                            &mut tag,
                        )?;
                        if i == 0 {
                            s.message_encrypt_init(&Mechanism::AesGcmMessage(params), k)?;
                        }
                        let ct =
                            s.encrypt_message(&MessageParam::AesGcmMessage(params), &aad, &p60)?;
                        ivs.push(iv);
                        sealed.push((ct, tag));
                    }
                    s.message_encrypt_final()?;
                    expect(
                        ivs[0][..4] == fixed && ivs[1][..4] == fixed,
                        format!("fixed IV bits not kept: {}", hex::encode(ivs[0])),
                    )?;
                    expect(
                        ivs[0] != ivs[1],
                        format!("the same IV twice: {}", hex::encode(ivs[0])),
                    )?;
                    for (iv, (ct, tag)) in ivs.iter().zip(sealed.iter()) {
                        let (mut iv2, mut tag2) = (*iv, *tag);
                        let dparams = GcmMessageParams::new(
                            &mut iv2,
                            32.into(),
                            GeneratorFunction::NoGenerate,
                            &mut tag2,
                        )?;
                        s.message_decrypt_init(&Mechanism::AesGcmMessage(dparams), k)?;
                        let pt =
                            s.decrypt_message(&MessageParam::AesGcmMessage(dparams), &aad, ct)?;
                        s.message_decrypt_final()?;
                        expect(pt == p60, "message-API round trip differs")?;
                    }
                    Ok(format!(
                        "CKG_GENERATE_COUNTER, fixed bits kept, IVs {} then {}",
                        hex::encode(ivs[0]),
                        hex::encode(ivs[1])
                    ))
                });
            } else {
                r.skip(
                    "the module has no C_MessageEncryptInit",
                    &["gcm-message-api"],
                );
            }
        }
        Err(e) => {
            r.result("gcm-known-vector", "FAIL", &format!("C_CreateObject: {e}"));
            r.skip(
                "no key with a known value",
                &["gcm-bad-tag", "gcm-message-api"],
            );
        }
    }

    r.check("find-by-label", || {
        let found = s.find_objects(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::Label(b"ck-gcm".to_vec()),
        ])?;
        expect(
            found.len() == 1,
            format!("{} objects labelled ck-gcm, expected 1", found.len()),
        )?;
        let attrs =
            s.get_attributes(found[0], &[AttributeType::Label, AttributeType::Sensitive])?;
        expect(
            attrs
                .iter()
                .any(|a| matches!(a, Attribute::Label(l) if l == b"ck-gcm")),
            "label differs",
        )?;
        Ok("C_FindObjects by CKA_LABEL: exactly one".into())
    });

    // --- AES-CBC-PAD: SP 800-38A F.2.1 key and IV, 64 bytes + a full padding block ----------------
    r.check("cbc-pad-known-vector", || {
        let k = secret(
            &s,
            KeyType::AES,
            h(vectors::SP800_38A_KEY),
            "ck-cbc",
            &[Attribute::Encrypt(true), Attribute::Decrypt(true)],
        )?;
        let iv: [u8; 16] = h(vectors::SP800_38A_CBC_IV)
            .try_into()
            .map_err(|_| "IV length")?;
        let pt = h(vectors::SP800_38A_P);
        let ct = s.encrypt(&Mechanism::AesCbcPad(iv), k, &pt)?;
        expect(
            ct == h(vectors::CBC_PAD_64),
            "ciphertext differs from SP 800-38A + PKCS#7",
        )?;
        expect(
            s.decrypt(&Mechanism::AesCbcPad(iv), k, &ct)? == pt,
            "decryption differs",
        )?;
        Ok("SP 800-38A F.2.1 + PKCS#7 block".into())
    });

    // --- wrap: RFC 3394 4.1 -------------------------------------------------------------------------
    r.check("wrap-aes-kw-rfc3394", || {
        let kek = secret(
            &s,
            KeyType::AES,
            h(vectors::KW_KEK),
            "ck-kek",
            &[Attribute::Wrap(true), Attribute::Unwrap(true)],
        )?;
        let key = secret(
            &s,
            KeyType::AES,
            h(vectors::KW_KEY),
            "ck-kw-key",
            &[Attribute::Extractable(true), Attribute::Sensitive(false)],
        )?;
        let wrapped = s.wrap_key(&Mechanism::AesKeyWrap, kek, key)?;
        expect(
            wrapped == h(vectors::KW_WRAPPED),
            "wrapped key differs from RFC 3394 4.1",
        )?;
        let back = s.unwrap_key(
            &Mechanism::AesKeyWrap,
            kek,
            &wrapped,
            &[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::AES),
                Attribute::Token(false),
                Attribute::Extractable(true),
                Attribute::Sensitive(false),
                Attribute::Label(b"ck-unwrapped".to_vec()),
            ],
        )?;
        let value = s.get_attributes(back, &[AttributeType::Value])?;
        expect(
            matches!(value.first(), Some(Attribute::Value(v)) if *v == h(vectors::KW_KEY)),
            "unwrapped value differs",
        )?;
        Ok("RFC 3394 4.1, both ways".into())
    });

    // --- HMAC: RFC 4231 test case 6 (a 131-byte key: within every token's HMAC key-size range) -------
    r.check("hmac-sha256-rfc4231", || {
        let k = secret(
            &s,
            KeyType::GENERIC_SECRET,
            vec![0xaa; 131],
            "ck-hmac",
            &[Attribute::Sign(true), Attribute::Verify(true)],
        )?;
        let data = b"Test Using Larger Than Block-Size Key - Hash Key First";
        let mac = s.sign(&Mechanism::Sha256Hmac, k, data)?;
        expect(
            mac == h(RFC4231_TC6),
            "HMAC differs from RFC 4231 test case 6",
        )?;
        s.sign_init(&Mechanism::Sha256Hmac, k)?;
        s.sign_update(&data[..10])?;
        s.sign_update(&data[10..])?;
        expect(s.sign_final()? == mac, "multi-part HMAC differs")?;
        s.verify(&Mechanism::Sha256Hmac, k, data, &mac)?;
        let mut bad = mac.clone();
        bad[0] ^= 1;
        expect_rv(
            s.verify(&Mechanism::Sha256Hmac, k, data, &bad),
            RvError::SignatureInvalid,
        )?;
        Ok("RFC 4231 TC6, multi-part, verify, tampered MAC -> SignatureInvalid".into())
    });

    // --- digest and random --------------------------------------------------------------------------
    r.check("digest-sha256", || {
        expect(
            s.digest(&Mechanism::Sha256, b"abc")? == h(vectors::SHA256_ABC),
            "SHA-256(\"abc\") differs",
        )?;
        s.digest_init(&Mechanism::Sha256)?;
        s.digest_update(b"a")?;
        s.digest_update(b"bc")?;
        expect(
            s.digest_final()? == h(vectors::SHA256_ABC),
            "multi-part SHA-256 differs",
        )?;
        expect(
            s.digest(&Mechanism::Sha256, b"")? == h(vectors::SHA256_EMPTY),
            "SHA-256(\"\") differs",
        )?;
        Ok("FIPS 180-2 \"abc\" and empty, single and multi-part".into())
    });
    r.check("random", || {
        let a = s.generate_random_vec(32)?;
        let b = s.generate_random_vec(32)?;
        expect(
            a.len() == 32 && a != b,
            "wrong length or the same bytes twice",
        )?;
        Ok(String::new())
    });

    // --- rotation (keyrotor): vendor envelope mechanism + the admin CLI -----------------------------
    let rot = [
        "rotation-envelope-v1",
        "rotation-cli-rotate",
        "rotation-envelope-v2",
        "rotation-decrypt-old",
        "rotation-message-api",
    ];
    if softhsm {
        r.skip(
            "SoftHSM2 has no rotating keys and no CKM_KEYROTOR_AES_GCM_ENVELOPE",
            &rot,
        );
    } else {
        rotation(&mut r, &p, &s, slot, &rot);
    }

    let _ = s.logout();
    drop(s);
    let _ = p.finalize();
    std::process::exit(if r.failures == 0 { 0 } else { 1 });
}

/// One message through the 3.0 message API with a module-generated IV (`CKG_GENERATE`, no fixed bits,
/// the module chooses the construction): returns (IV, tag, ciphertext).
fn msg_seal(s: &Session, k: ObjectHandle, pt: &[u8]) -> Result<Sealed, Box<dyn StdError>> {
    let (mut iv, mut tag) = ([0u8; 12], [0u8; 16]);
    let params = GcmMessageParams::new(&mut iv, 0.into(), GeneratorFunction::Generate, &mut tag)?;
    s.message_encrypt_init(&Mechanism::AesGcmMessage(params), k)?;
    let ct = s.encrypt_message(&MessageParam::AesGcmMessage(params), b"msg-api", pt)?;
    s.message_encrypt_final()?;
    Ok((iv, tag, ct))
}

/// `--msg-ivs` mode: log in, find the key by label, seal two messages, return their IVs in hex.
fn msg_ivs(
    module: &str,
    token: &str,
    pin: &str,
    key_label: &str,
) -> Result<String, Box<dyn StdError>> {
    let p = Pkcs11::new(module)?;
    p.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))?;
    let slot = p
        .get_slots_with_token()?
        .into_iter()
        .find(|s| {
            p.get_token_info(*s)
                .map(|t| t.label() == token)
                .unwrap_or(false)
        })
        .ok_or("no such token")?;
    let s = p.open_rw_session(slot)?;
    s.login(UserType::User, Some(&AuthPin::new(pin.into())))?;
    let k = *s
        .find_objects(&[Attribute::Label(key_label.as_bytes().to_vec())])?
        .first()
        .ok_or("no such key")?;
    let a = msg_seal(&s, k, b"one")?;
    let b = msg_seal(&s, k, b"two")?;
    Ok(format!("{} {}", hex::encode(a.0), hex::encode(b.0)))
}

/// Decrypts what [`msg_seal`] made.
fn msg_open(s: &Session, k: ObjectHandle, sealed: &Sealed) -> Result<Vec<u8>, Box<dyn StdError>> {
    let (mut iv, mut tag) = (sealed.0, sealed.1);
    let params = GcmMessageParams::new(&mut iv, 0.into(), GeneratorFunction::NoGenerate, &mut tag)?;
    s.message_decrypt_init(&Mechanism::AesGcmMessage(params), k)?;
    let pt = s.decrypt_message(&MessageParam::AesGcmMessage(params), b"msg-api", &sealed.2)?;
    s.message_decrypt_final()?;
    Ok(pt)
}

fn rotation(r: &mut Report, p: &Pkcs11, s: &Session, slot: Slot, names: &[&str; 5]) {
    let name = "rot-cryptoki";
    let envelope = || -> cryptoki::error::Result<Mechanism<'static>> {
        Ok(Mechanism::VendorDefined(VendorDefinedMechanism::new(
            MechanismType::new_vendor_defined(CKM_ENVELOPE)?,
            Some(&ENVELOPE_AAD),
        )))
    };
    let plaintext = b"encrypted before the rotation".to_vec();
    let message_api = p.is_fn_supported(Function::MessageEncryptInit);
    let mut msg1 = None;
    let mut state: Option<(ObjectHandle, Vec<u8>)> = None;
    let ok = r.check(names[0], || {
        let k = s.generate_key(
            &Mechanism::AesKeyGen,
            &[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::ValueLen(32.into()),
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Encrypt(true),
                Attribute::Decrypt(true),
                Attribute::Label(name.as_bytes().to_vec()),
            ],
        )?;
        let env = s.encrypt(&envelope()?, k, &plaintext)?;
        let v = envelope_version(&env)?;
        expect(v == 1, format!("version {v}, expected 1"))?;
        expect(
            s.decrypt(&envelope()?, k, &env)? == plaintext,
            "envelope round trip differs",
        )?;
        if message_api {
            msg1 = Some(msg_seal(s, k, &plaintext)?);
        }
        state = Some((k, env));
        Ok("C_GenerateKey token AES key, envelope version 1".into())
    });
    let Some((key, env1)) = state.filter(|_| ok) else {
        r.skip("no v1 envelope", &names[1..]);
        return;
    };
    let rotated = r.check(names[1], || {
        let cli = std::env::var("CONF_CLI").map_err(|_| "CONF_CLI not set")?;
        let conf = std::env::var("KEYROTOR_CONF").map_err(|_| "KEYROTOR_CONF not set")?;
        let slot_id = std::env::var("CONF_SLOT_ID").unwrap_or_else(|_| slot.id().to_string());
        let out = Command::new(&cli)
            .args(["--config", &conf, "--slot", &slot_id, "key", "rotate", name])
            .env(
                "KEYROTOR_PIN",
                std::env::var("CONF_USER_PIN").unwrap_or_else(|_| "1234".into()),
            )
            .output()?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        expect(
            out.status.success(),
            format!("{cli} exited {}: {}", out.status, text.trim()),
        )?;
        Ok(text.trim().to_string())
    });
    if !rotated {
        r.skip("the CLI did not rotate", &names[2..]);
        return;
    }
    r.check(names[2], || {
        // The open session learns of the rotation through the store (about a second at most).
        let start = Instant::now();
        loop {
            let env = s.encrypt(&envelope()?, key, &plaintext)?;
            let v = envelope_version(&env)?;
            if v == 2 {
                expect(
                    s.decrypt(&envelope()?, key, &env)? == plaintext,
                    "v2 round trip differs",
                )?;
                return Ok(format!(
                    "version 2 after {} ms",
                    start.elapsed().as_millis()
                ));
            }
            expect(
                start.elapsed() < Duration::from_secs(5),
                format!("version still {v} 5 s after the rotation"),
            )?;
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    r.check(names[3], || {
        expect(
            s.decrypt(&envelope()?, key, &env1)? == plaintext,
            "the v1 envelope decrypts differently",
        )?;
        let attrs = s.get_attributes(key, &[AttributeType::VendorDefined(CKA_KEYROTOR_VERSION)])?;
        let v = match attrs.first() {
            Some(Attribute::VendorDefined((_, b))) if b.len() == 8 => {
                u64::from_ne_bytes(b[..8].try_into()?)
            }
            other => return Err(format!("CKA_KEYROTOR_VERSION: {other:?}").into()),
        };
        expect(v == 2, format!("CKA_KEYROTOR_VERSION {v}, expected 2"))?;
        Ok("v1 envelope decrypts; CKA_KEYROTOR_VERSION = 2".into())
    });
    // The 3.0 message API through the same current object: a message sealed under v1 (module-made IV)
    // still opens after the rotation, and a new one opens too.
    match msg1 {
        Some(sealed) => {
            r.check(names[4], || {
                expect(
                    msg_open(s, key, &sealed)? == plaintext,
                    "the v1 message decrypts differently",
                )?;
                let new = msg_seal(s, key, &plaintext)?;
                expect(
                    msg_open(s, key, &new)? == plaintext,
                    "a new message does not round-trip",
                )?;
                // GCM must never see the same IV twice under one key version: not after a new
                // C_MessageEncryptInit, not from another session of this process.
                let again = msg_seal(s, key, &plaintext)?;
                let other = p.open_rw_session(slot)?;
                let from_other = msg_seal(&other, key, &plaintext)?;
                let ivs = [new.0, again.0, from_other.0];
                expect(
                    ivs[0] != ivs[1] && ivs[0] != ivs[2] && ivs[1] != ivs[2],
                    format!(
                        "IV reuse under one key version: {} (init 1), {} (init 2), {} (other session)",
                        hex::encode(ivs[0]),
                        hex::encode(ivs[1]),
                        hex::encode(ivs[2])
                    ),
                )?;
                Ok(format!(
                    "v1 message (IV {}) opens after rotation; new IVs {} {} {} (3 inits, 2 sessions)",
                    hex::encode(sealed.0),
                    hex::encode(ivs[0]),
                    hex::encode(ivs[1]),
                    hex::encode(ivs[2])
                ))
            });
        }
        None => r.skip("the module has no C_MessageEncryptInit", &names[4..]),
    }
}
