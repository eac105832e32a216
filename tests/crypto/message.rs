//! The PKCS#11 3.0 message API for AES-GCM through `cryptoki`: generated IVs
//! (random and counter, fixed bits kept), round trips, Begin/Next.

use cryptoki::error::RvError;
use cryptoki::mechanism::aead::{GcmMessageParams, GcmParams, GeneratorFunction};
use cryptoki::mechanism::{Mechanism, MessageParam};
use cryptoki::object::KeyType;
use cryptoki::session::Session;
use cryptoki::types::Ulong;

use super::common::vectors::*;
use super::common::TestToken;
use super::{is_rv, key};

/// One message through the 3.0 API; returns (IV as written back, ciphertext, tag).
fn encrypt_message(
    s: &Session,
    iv_init: &[u8],
    fixed_bits: u64,
    gen: GeneratorFunction,
    aad: &[u8],
    pt: &[u8],
) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let mut iv = iv_init.to_vec();
    let mut tag = [0u8; 16];
    let ct = {
        let p = GcmMessageParams::new(&mut iv, Ulong::from(fixed_bits), gen, &mut tag).unwrap();
        s.encrypt_message(&MessageParam::AesGcmMessage(p), aad, pt)
            .expect("C_EncryptMessage")
    };
    (iv, ct, tag.to_vec())
}

fn decrypt_message(
    s: &Session,
    iv: &[u8],
    tag: &[u8],
    aad: &[u8],
    ct: &[u8],
) -> cryptoki::error::Result<Vec<u8>> {
    let mut iv = iv.to_vec();
    let mut tag = tag.to_vec();
    let p = GcmMessageParams::new(
        &mut iv,
        Ulong::from(0),
        GeneratorFunction::NoGenerate,
        &mut tag,
    )
    .unwrap();
    s.decrypt_message(&MessageParam::AesGcmMessage(p), aad, ct)
}

fn message_mech<'a>(iv: &'a mut [u8], tag: &'a mut [u8]) -> Mechanism<'a> {
    Mechanism::AesGcmMessage(
        GcmMessageParams::new(iv, Ulong::from(0), GeneratorFunction::GenerateRandom, tag).unwrap(),
    )
}

#[test]
fn message_api_generated_ivs_and_round_trip() {
    let tok = TestToken::new();
    let s = tok.ck_user_session();
    let k = key(&s, KeyType::AES, &h(GCM_K128));
    let (mut iv0, mut tag0) = ([0u8; 12], [0u8; 16]);
    s.message_encrypt_init(&message_mech(&mut iv0, &mut tag0), k)
        .expect("C_MessageEncryptInit");
    let aad = h(GCM_AAD);
    let pt = h(GCM_P);
    let fixed = [0xde, 0xad, 0xbe, 0xef];
    let mut start = [0u8; 12];
    start[..4].copy_from_slice(&fixed);

    // CKG_GENERATE_RANDOM: the fixed 32 bits are kept, the rest is new each time.
    let (iv1, ct1, tag1) =
        encrypt_message(&s, &start, 32, GeneratorFunction::GenerateRandom, &aad, &pt);
    let (iv2, ct2, _) =
        encrypt_message(&s, &start, 32, GeneratorFunction::GenerateRandom, &aad, &pt);
    assert_eq!(&iv1[..4], &fixed, "fixed bits kept (random)");
    assert_eq!(&iv2[..4], &fixed);
    assert_ne!(iv1, start, "IV written back");
    assert_ne!(iv1, iv2, "a new IV per message");
    assert_ne!(ct1, ct2);
    assert_eq!(ct1.len(), pt.len(), "the tag goes to pTag, not the output");

    // CKG_GENERATE_COUNTER: fixed bits kept, the counter goes up by one.
    let (c1, _, _) = encrypt_message(
        &s,
        &start,
        32,
        GeneratorFunction::GenerateCounter,
        &aad,
        &pt,
    );
    let (c2, _, _) = encrypt_message(
        &s,
        &start,
        32,
        GeneratorFunction::GenerateCounter,
        &aad,
        &pt,
    );
    assert_eq!(&c1[..4], &fixed, "fixed bits kept (counter)");
    assert_eq!(&c2[..4], &fixed);
    let ctr = |iv: &[u8]| u64::from_be_bytes(iv[4..].try_into().unwrap());
    assert_eq!(
        ctr(&c2),
        ctr(&c1).wrapping_add(1),
        "counter IVs {} then {}",
        hex::encode(&c1),
        hex::encode(&c2)
    );
    s.message_encrypt_final().unwrap();

    // The message API is plain GCM: C_Encrypt with the generated IV agrees.
    let mut iv1m = iv1.clone();
    let m = Mechanism::AesGcm(GcmParams::new(&mut iv1m, &aad, Ulong::from(128)).unwrap());
    let whole = s.encrypt(&m, k, &pt).unwrap();
    assert_eq!(&whole[..pt.len()], &ct1[..]);
    assert_eq!(&whole[pt.len()..], &tag1[..]);

    // Decrypt round trip; a bad tag fails.
    let (mut iv0, mut tag0) = ([0u8; 12], [0u8; 16]);
    s.message_decrypt_init(&message_mech(&mut iv0, &mut tag0), k)
        .expect("C_MessageDecryptInit");
    assert_eq!(decrypt_message(&s, &iv1, &tag1, &aad, &ct1).unwrap(), pt);
    let mut bad = tag1.clone();
    bad[0] ^= 1;
    is_rv(
        decrypt_message(&s, &iv1, &bad, &aad, &ct1),
        RvError::EncryptedDataInvalid,
    );
    // The decrypt operation survives a failed message.
    assert_eq!(decrypt_message(&s, &iv1, &tag1, &aad, &ct1).unwrap(), pt);
    s.message_decrypt_final().unwrap();
}

#[test]
fn message_api_begin_next_end_of_message() {
    let tok = TestToken::new();
    let s = tok.ck_user_session();
    let k = key(&s, KeyType::AES, &h(GCM_K256));
    let aad = b"per-message aad".to_vec();
    let pt: Vec<u8> = (0..100u8).collect();
    let (mut iv0, mut tag0) = ([0u8; 12], [0u8; 16]);
    s.message_encrypt_init(&message_mech(&mut iv0, &mut tag0), k)
        .unwrap();

    let mut iv = [0u8; 12];
    let mut tag = [0u8; 16];
    let gen = GeneratorFunction::GenerateRandom;
    s.encrypt_message_begin(
        MessageParam::AesGcmMessage(
            GcmMessageParams::new(&mut iv, Ulong::from(0), gen, &mut tag).unwrap(),
        ),
        &aad,
    )
    .expect("C_EncryptMessageBegin");
    let mut ct = Vec::new();
    let chunks: Vec<&[u8]> = pt.chunks(30).collect();
    for (i, c) in chunks.iter().enumerate() {
        let end = i == chunks.len() - 1;
        let p = GcmMessageParams::new(&mut iv, Ulong::from(0), gen, &mut tag).unwrap();
        ct.extend(
            s.encrypt_message_next(MessageParam::AesGcmMessage(p), c, end)
                .expect("C_EncryptMessageNext"),
        );
    }
    s.message_encrypt_final().unwrap();
    assert_eq!(ct.len(), pt.len());
    assert_ne!(iv, [0u8; 12], "IV generated at Begin");
    assert_ne!(tag, [0u8; 16], "tag written at CKF_END_OF_MESSAGE");

    // Same as one-shot GCM with that IV.
    let mut ivc = iv.to_vec();
    let m = Mechanism::AesGcm(GcmParams::new(&mut ivc, &aad, Ulong::from(128)).unwrap());
    let whole = s.encrypt(&m, k, &pt).unwrap();
    assert_eq!(&whole[..100], &ct[..]);
    assert_eq!(&whole[100..], &tag[..]);

    // Decrypt with Begin/Next: nothing before the end, all of it at the end.
    let (mut iv0, mut tag0) = ([0u8; 12], [0u8; 16]);
    s.message_decrypt_init(&message_mech(&mut iv0, &mut tag0), k)
        .unwrap();
    let mut div = iv;
    let mut dtag = tag;
    let nog = GeneratorFunction::NoGenerate;
    s.decrypt_message_begin(
        MessageParam::AesGcmMessage(
            GcmMessageParams::new(&mut div, Ulong::from(0), nog, &mut dtag).unwrap(),
        ),
        &aad,
    )
    .unwrap();
    let mut out = Vec::new();
    let cchunks: Vec<&[u8]> = ct.chunks(30).collect();
    for (i, c) in cchunks.iter().enumerate() {
        let end = i == cchunks.len() - 1;
        let p = GcmMessageParams::new(&mut div, Ulong::from(0), nog, &mut dtag).unwrap();
        let part = s
            .decrypt_message_next(MessageParam::AesGcmMessage(p), c, end)
            .unwrap();
        if !end {
            assert!(
                part.is_empty(),
                "plaintext released before the tag was checked"
            );
        }
        out.extend(part);
    }
    assert_eq!(out, pt);
    s.message_decrypt_final().unwrap();
}
