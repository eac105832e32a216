//! The mechanisms through the `cryptoki` crate, against published vectors:
//! AES-GCM (McGrew–Viega), CBC/CBC-PAD/ECB/CTR (SP 800-38A), CMAC
//! (SP 800-38B), HMAC-SHA256 (RFC 4231), SHA-256, key wrap (RFC 3394,
//! RFC 5649), random numbers, and the PKCS#11 3.0 message API.

#[macro_use]
mod common;

#[path = "crypto/message.rs"]
mod message;

use cryptoki::error::{Error, RvError};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::vendor_defined::VendorDefinedMechanism;
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use cryptoki::types::Ulong;

use common::sys::CK_AES_CTR_PARAMS;
use common::vectors::*;
use common::TestToken;

pub fn key(s: &Session, kt: KeyType, value: &[u8]) -> ObjectHandle {
    s.create_object(&[
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(kt),
        Attribute::Value(value.to_vec()),
        Attribute::Token(false),
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
        Attribute::Sign(true),
        Attribute::Verify(true),
        Attribute::Wrap(true),
        Attribute::Unwrap(true),
        Attribute::Sensitive(false),
        Attribute::Extractable(true),
    ])
    .expect("create key")
}

pub fn is_rv(r: cryptoki::error::Result<impl std::fmt::Debug>, want: RvError) {
    match r {
        Err(Error::Pkcs11(rv, _)) if rv == want => {}
        other => panic!("expected {want:?}, got {other:?}"),
    }
}

fn gcm_vector(s: &Session, k: &str, iv: &str, aad: &str, p: &[u8], c: &str, t: &str) {
    let key = key(s, KeyType::AES, &h(k));
    let mut ivb = h(iv);
    let aadb = h(aad);
    let mut want = h(c);
    want.extend(h(t));
    let mech = Mechanism::AesGcm(GcmParams::new(&mut ivb, &aadb, Ulong::from(128)).unwrap());
    let ct = s.encrypt(&mech, key, p).expect("GCM encrypt");
    assert_eq!(hex::encode(&ct), hex::encode(&want), "GCM ciphertext||tag");
    assert_eq!(s.decrypt(&mech, key, &ct).expect("GCM decrypt"), p);
}

#[test]
fn aes_gcm_published_vectors() {
    let tok = TestToken::new();
    let s = tok.ck_user_session();
    let p = h(GCM_P);
    // Test case 3: AES-128, no AAD, 64 bytes.
    gcm_vector(&s, GCM_K128, GCM_IV96, "", &p, GCM_TC3_C, GCM_TC3_T);
    // Test case 4: AES-128 with AAD, 60 bytes.
    gcm_vector(
        &s,
        GCM_K128,
        GCM_IV96,
        GCM_AAD,
        &p[..60],
        GCM_TC4_C,
        GCM_TC4_T,
    );
    // Test case 16: AES-256 with AAD.
    gcm_vector(
        &s,
        GCM_K256,
        GCM_IV96,
        GCM_AAD,
        &p[..60],
        GCM_TC16_C,
        GCM_TC16_T,
    );
    // Test case 6: a 60-byte IV (GHASH-derived counter block).
    gcm_vector(
        &s,
        GCM_K128,
        GCM_IV480,
        GCM_AAD,
        &p[..60],
        GCM_TC6_C,
        GCM_TC6_T,
    );
}

#[test]
fn aes_gcm_16_byte_iv_and_96_bit_tag() {
    let tok = TestToken::new();
    let s = tok.ck_user_session();
    let k = key(&s, KeyType::AES, &h(GCM_K256));
    let aad = b"header bytes".to_vec();
    let pt = b"a sixteen-byte IV is used in the wild".to_vec();
    let mut iv16 = (0u8..16).collect::<Vec<_>>();
    let m96 = Mechanism::AesGcm(GcmParams::new(&mut iv16, &aad, Ulong::from(96)).unwrap());
    let ct = s
        .encrypt(&m96, k, &pt)
        .expect("GCM with a 16-byte IV and 96-bit tag");
    assert_eq!(ct.len(), pt.len() + 12, "12-byte tag");
    assert_eq!(s.decrypt(&m96, k, &ct).unwrap(), pt, "round trip");

    // A 96-bit tag is the leftmost 96 bits of the 128-bit tag.
    let mut iv16b = (0u8..16).collect::<Vec<_>>();
    let m128 = Mechanism::AesGcm(GcmParams::new(&mut iv16b, &aad, Ulong::from(128)).unwrap());
    let full = s.encrypt(&m128, k, &pt).unwrap();
    assert_eq!(&full[..pt.len() + 12], &ct[..], "truncated tag");

    let mut bad = ct.clone();
    *bad.last_mut().unwrap() ^= 0x80;
    is_rv(s.decrypt(&m96, k, &bad), RvError::EncryptedDataInvalid);
    let mut bad_aad = aad.clone();
    bad_aad[0] ^= 1;
    let mut iv16c = (0u8..16).collect::<Vec<_>>();
    let m_bad_aad =
        Mechanism::AesGcm(GcmParams::new(&mut iv16c, &bad_aad, Ulong::from(96)).unwrap());
    is_rv(s.decrypt(&m_bad_aad, k, &ct), RvError::EncryptedDataInvalid);
}

#[test]
fn aes_gcm_multi_part_decrypt_releases_nothing_before_final() {
    let tok = TestToken::new();
    let s = tok.ck_user_session();
    let k = key(&s, KeyType::AES, &h(GCM_K128));
    let p = h(GCM_P);
    let mut ct = h(GCM_TC4_C);
    ct.extend(h(GCM_TC4_T));
    let aad = h(GCM_AAD);

    // Multi-part encrypt gives the vector too.
    let mut iv = h(GCM_IV96);
    let m = Mechanism::AesGcm(GcmParams::new(&mut iv, &aad, Ulong::from(128)).unwrap());
    s.encrypt_init(&m, k).unwrap();
    let mut out = Vec::new();
    for chunk in p[..60].chunks(7) {
        out.extend(s.encrypt_update(chunk).unwrap());
    }
    out.extend(s.encrypt_final().unwrap());
    assert_eq!(
        hex::encode(&out),
        hex::encode(&ct),
        "multi-part GCM encrypt"
    );

    s.decrypt_init(&m, k).unwrap();
    for chunk in ct.chunks(10) {
        assert!(
            s.decrypt_update(chunk).unwrap().is_empty(),
            "plaintext released before the tag was checked"
        );
    }
    assert_eq!(s.decrypt_final().unwrap(), &p[..60]);

    let mut bad = ct.clone();
    bad[5] ^= 1;
    s.decrypt_init(&m, k).unwrap();
    for chunk in bad.chunks(10) {
        assert!(s.decrypt_update(chunk).unwrap().is_empty());
    }
    is_rv(s.decrypt_final(), RvError::EncryptedDataInvalid);
    // The failure ended the operation.
    is_rv(s.decrypt_final(), RvError::OperationNotInitialized);
}

#[test]
fn aes_block_modes_sp800_38a() {
    let tok = TestToken::new();
    let s = tok.ck_user_session();
    let k = key(&s, KeyType::AES, &h(SP800_38A_KEY));
    let p = h(SP800_38A_P);
    let iv: [u8; 16] = h(SP800_38A_CBC_IV).try_into().unwrap();

    let ecb = s.encrypt(&Mechanism::AesEcb, k, &p).unwrap();
    assert_eq!(hex::encode(&ecb), SP800_38A_ECB);
    assert_eq!(s.decrypt(&Mechanism::AesEcb, k, &ecb).unwrap(), p);

    let cbc = s.encrypt(&Mechanism::AesCbc(iv), k, &p).unwrap();
    assert_eq!(hex::encode(&cbc), SP800_38A_CBC);
    assert_eq!(s.decrypt(&Mechanism::AesCbc(iv), k, &cbc).unwrap(), p);

    for (n, want) in [(64, CBC_PAD_64), (37, CBC_PAD_37)] {
        let c = s.encrypt(&Mechanism::AesCbcPad(iv), k, &p[..n]).unwrap();
        assert_eq!(
            hex::encode(&c),
            want.replace(' ', ""),
            "CBC-PAD of {n} bytes"
        );
        assert_eq!(
            s.decrypt(&Mechanism::AesCbcPad(iv), k, &c).unwrap(),
            &p[..n]
        );
    }
    // Bad padding.
    let mut c = s.encrypt(&Mechanism::AesCbcPad(iv), k, &p[..37]).unwrap();
    let last = c.len() - 17; // flips the padding through CBC
    c[last] ^= 0x01;
    is_rv(
        s.decrypt(&Mechanism::AesCbcPad(iv), k, &c),
        RvError::EncryptedDataInvalid,
    );

    let ctr_params = CK_AES_CTR_PARAMS {
        ulCounterBits: 128,
        cb: h(SP800_38A_CTR_IV).try_into().unwrap(),
    };
    let ctr = Mechanism::VendorDefined(VendorDefinedMechanism::new(
        MechanismType::AES_CTR,
        Some(&ctr_params),
    ));
    let c = s.encrypt(&ctr, k, &p).unwrap();
    assert_eq!(hex::encode(&c), SP800_38A_CTR);
    assert_eq!(s.decrypt(&ctr, k, &c).unwrap(), p);
    // CTR is a stream mode: any length.
    assert_eq!(
        &s.encrypt(&ctr, k, &p[..23]).unwrap()[..],
        &h(SP800_38A_CTR)[..23]
    );
}

#[test]
fn cmac_hmac_and_digest_vectors() {
    let tok = TestToken::new();
    let s = tok.ck_user_session();
    let k = key(&s, KeyType::AES, &h(SP800_38A_KEY));
    let p = h(SP800_38A_P);
    for (n, tag) in CMAC_AES128 {
        let mac = s.sign(&Mechanism::AesCMac, k, &p[..*n]).unwrap();
        assert_eq!(hex::encode(&mac), *tag, "CMAC of {n} bytes");
        s.verify(&Mechanism::AesCMac, k, &p[..*n], &mac)
            .expect("CMAC verify");
    }
    let mut bad = h(CMAC_AES128[3].1);
    bad[15] ^= 1;
    is_rv(
        s.verify(&Mechanism::AesCMac, k, &p, &bad),
        RvError::SignatureInvalid,
    );

    let hk1 = key(&s, KeyType::GENERIC_SECRET, &[0x0b; 20]);
    let mac = s.sign(&Mechanism::Sha256Hmac, hk1, b"Hi There").unwrap();
    assert_eq!(hex::encode(&mac), HMAC_TC1, "RFC 4231 test case 1");
    s.verify(&Mechanism::Sha256Hmac, hk1, b"Hi There", &mac)
        .unwrap();
    let hk2 = key(&s, KeyType::GENERIC_SECRET, b"Jefe");
    let mac = s
        .sign(&Mechanism::Sha256Hmac, hk2, b"what do ya want for nothing?")
        .unwrap();
    assert_eq!(hex::encode(&mac), HMAC_TC2, "RFC 4231 test case 2");
    is_rv(
        s.verify(
            &Mechanism::Sha256Hmac,
            hk2,
            b"what do ya want for nothing!",
            &mac,
        ),
        RvError::SignatureInvalid,
    );
    // Multi-part sign.
    s.sign_init(&Mechanism::Sha256Hmac, hk2).unwrap();
    s.sign_update(b"what do ya want ").unwrap();
    s.sign_update(b"for nothing?").unwrap();
    assert_eq!(hex::encode(s.sign_final().unwrap()), HMAC_TC2);

    assert_eq!(
        hex::encode(s.digest(&Mechanism::Sha256, b"abc").unwrap()),
        SHA256_ABC
    );
    assert_eq!(
        hex::encode(s.digest(&Mechanism::Sha256, b"").unwrap()),
        SHA256_EMPTY
    );
    s.digest_init(&Mechanism::Sha256).unwrap();
    s.digest_update(b"a").unwrap();
    s.digest_update(b"bc").unwrap();
    assert_eq!(hex::encode(s.digest_final().unwrap()), SHA256_ABC);
}

#[test]
fn key_wrap_rfc3394_and_rfc5649() {
    let tok = TestToken::new();
    let s = tok.ck_user_session();
    let kek = key(&s, KeyType::AES, &h(KW_KEK));
    let k = key(&s, KeyType::AES, &h(KW_KEY));
    let wrapped = s.wrap_key(&Mechanism::AesKeyWrap, kek, k).unwrap();
    assert_eq!(hex::encode(&wrapped), KW_WRAPPED, "RFC 3394 4.1");
    let template = [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Token(false),
        Attribute::Sensitive(false),
        Attribute::Extractable(true),
        Attribute::Encrypt(true),
    ];
    let u = s
        .unwrap_key(&Mechanism::AesKeyWrap, kek, &wrapped, &template)
        .unwrap();
    let v = s.get_attributes(u, &[AttributeType::Value]).unwrap();
    assert!(
        matches!(&v[..], [Attribute::Value(x)] if *x == h(KW_KEY)),
        "unwrapped value {v:?}"
    );
    let mut bad = wrapped.clone();
    bad[0] ^= 1;
    let rv = s
        .unwrap_key(&Mechanism::AesKeyWrap, kek, &bad, &template)
        .map(|_| ());
    match rv {
        Err(Error::Pkcs11(RvError::WrappedKeyInvalid | RvError::EncryptedDataInvalid, _)) => {}
        other => panic!("unwrap of a corrupted blob: {other:?}"),
    }

    // RFC 5649 with a 192-bit KEK and a 20-byte generic secret.
    let kek2 = key(&s, KeyType::AES, &h(KWP_KEK));
    let g = key(&s, KeyType::GENERIC_SECRET, &h(KWP_KEY));
    let wrapped = s.wrap_key(&Mechanism::AesKeyWrapPad, kek2, g).unwrap();
    assert_eq!(hex::encode(&wrapped), KWP_WRAPPED, "RFC 5649 section 6");
    let template = [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::GENERIC_SECRET),
        Attribute::Token(false),
        Attribute::Sensitive(false),
        Attribute::Extractable(true),
    ];
    let u = s
        .unwrap_key(&Mechanism::AesKeyWrapPad, kek2, &wrapped, &template)
        .unwrap();
    let v = s.get_attributes(u, &[AttributeType::Value]).unwrap();
    assert!(
        matches!(&v[..], [Attribute::Value(x)] if *x == h(KWP_KEY)),
        "unwrapped value {v:?}"
    );
    // Round trip of a generated AES-256 key.
    let gk = s
        .generate_key(
            &Mechanism::AesKeyGen,
            &[
                Attribute::ValueLen(Ulong::from(32)),
                Attribute::Extractable(true),
                Attribute::Token(false),
            ],
        )
        .unwrap();
    let w = s.wrap_key(&Mechanism::AesKeyWrapPad, kek2, gk).unwrap();
    assert_eq!(w.len(), 40, "32-byte key wraps to 40 bytes");
}

#[test]
fn random_and_generated_keys() {
    let tok = TestToken::new();
    let s = tok.ck_user_session();
    let a = s.generate_random_vec(32).unwrap();
    let b = s.generate_random_vec(32).unwrap();
    assert_ne!(a, b);
    assert_ne!(a, vec![0u8; 32]);
    let big = s.generate_random_vec(4096).unwrap();
    let zeros = big.iter().filter(|x| **x == 0).count();
    assert!(zeros < 64, "{zeros} zero bytes in 4096 random bytes");

    let k = s
        .generate_key(
            &Mechanism::AesKeyGen,
            &[
                Attribute::ValueLen(Ulong::from(32)),
                Attribute::Encrypt(true),
                Attribute::Decrypt(true),
                Attribute::Token(false),
            ],
        )
        .unwrap();
    let attrs = s
        .get_attributes(k, &[AttributeType::ValueLen, AttributeType::KeyType])
        .unwrap();
    assert!(
        attrs
            .iter()
            .any(|a| matches!(a, Attribute::ValueLen(v) if u64::from(*v) == 32)),
        "{attrs:?}"
    );
    assert!(
        attrs
            .iter()
            .any(|a| matches!(a, Attribute::KeyType(t) if *t == KeyType::AES)),
        "{attrs:?}"
    );
    let mut iv = [7u8; 12];
    let m = Mechanism::AesGcm(GcmParams::new(&mut iv, &[], Ulong::from(128)).unwrap());
    let ct = s.encrypt(&m, k, b"generated").unwrap();
    assert_eq!(s.decrypt(&m, k, &ct).unwrap(), b"generated");
    // A bad key size.
    let r = s.generate_key(
        &Mechanism::AesKeyGen,
        &[
            Attribute::ValueLen(Ulong::from(20)),
            Attribute::Token(false),
        ],
    );
    match r {
        Err(Error::Pkcs11(
            RvError::KeySizeRange | RvError::AttributeValueInvalid | RvError::TemplateInconsistent,
            _,
        )) => {}
        other => panic!("AES key of 20 bytes: {other:?}"),
    }
}

/// `CK_GCM_PARAMS` as the 2.40 specification text has it (no `ulIvBits`).
#[repr(C)]
struct GcmParams240 {
    p_iv: *mut u8,
    ul_iv_len: common::sys::CK_ULONG,
    p_aad: *mut u8,
    ul_aad_len: common::sys::CK_ULONG,
    ul_tag_bits: common::sys::CK_ULONG,
}

#[test]
fn gcm_parameter_layouts_tag_lengths_and_bad_parameters() {
    use common::sys::*;
    use common::Mech;
    let tok = TestToken::new();
    let r = &tok.raw;
    let s = tok.user_session();
    let k = r.aes_key(s, &h(GCM_K128), false);
    let p = &h(GCM_P)[..60];
    let mut want = h(GCM_TC4_C);
    want.extend(h(GCM_TC4_T));

    // The layout without ulIvBits (40 bytes instead of 48).
    let mut iv: Box<[u8]> = h(GCM_IV96).into();
    let mut aad: Box<[u8]> = h(GCM_AAD).into();
    let old = GcmParams240 {
        p_iv: iv.as_mut_ptr(),
        ul_iv_len: 12,
        p_aad: aad.as_mut_ptr(),
        ul_aad_len: aad.len() as CK_ULONG,
        ul_tag_bits: 128,
    };
    let mut m = Mech::with(CKM_AES_GCM, old, vec![iv, aad]);
    assert_eq!(m.m.ulParameterLen, 40);
    assert_eq!(
        r.encrypt(s, &mut m, k, p).map(hex::encode),
        Ok(hex::encode(&want)),
        "2.40 layout"
    );
    assert_eq!(
        r.decrypt(s, &mut m, k, &want).map(hex::encode),
        Ok(hex::encode(p))
    );

    // Tags from 96 to 128 bits are prefixes of the full tag.
    for bits in [96, 104, 112, 120, 128] {
        let mut m = Mech::gcm(&h(GCM_IV96), &h(GCM_AAD), bits);
        let c = r
            .encrypt(s, &mut m, k, p)
            .unwrap_or_else(|rv| panic!("{bits}-bit tag: {}", common::rv_name(rv)));
        assert_eq!(c, &want[..60 + bits as usize / 8], "{bits}-bit tag");
        assert_eq!(r.decrypt(s, &mut m, k, &c).as_deref(), Ok(p));
    }

    // Wrong sizes and values are CKR_MECHANISM_PARAM_INVALID.
    let mut m = Mech::gcm(&h(GCM_IV96), &[], 128);
    m.m.ulParameterLen = 47;
    assert_eq!(
        r.encrypt(s, &mut m, k, p),
        Err(CKR_MECHANISM_PARAM_INVALID),
        "ulParameterLen 47"
    );
    for bits in [0, 8, 129, 256] {
        let mut m = Mech::gcm(&h(GCM_IV96), &[], bits);
        assert_eq!(
            r.encrypt(s, &mut m, k, p),
            Err(CKR_MECHANISM_PARAM_INVALID),
            "{bits}-bit tag"
        );
    }
    let mut m = Mech::gcm(&[], &[], 128);
    assert_eq!(
        r.encrypt(s, &mut m, k, p),
        Err(CKR_MECHANISM_PARAM_INVALID),
        "empty IV"
    );
    let mut m = Mech::bytes(CKM_AES_CBC_PAD, &[0; 8]);
    assert_eq!(
        r.encrypt(s, &mut m, k, p),
        Err(CKR_MECHANISM_PARAM_INVALID),
        "8-byte CBC IV"
    );
}
