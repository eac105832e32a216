//! Tests for the block modes: FIPS-197 and SP 800-38A vectors, multi-part
//! streaming against one-shot, CBC-PAD padding, CTR counter limits.

use super::*;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

fn key(k: &str) -> Arc<AesKey> {
    Arc::new(AesKey::new(&h(k)).unwrap())
}

const K128: &str = "2b7e151628aed2a6abf7158809cf4f3c";
const K256: &str = "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4";
/// SP 800-38A Appendix F plaintext (four blocks).
const PT: &str = "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51\
                  30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710";
const IV: [u8; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
const CTR0: [u8; 16] = [
    0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff,
];

fn ctr(bits: u32) -> BlockMode {
    BlockMode::Ctr {
        counter_block: CTR0,
        counter_bits: bits,
    }
}

/// Runs `input` through a stream in pieces of the given sizes (cycled),
/// checking that every update writes exactly `update_len` bytes.
fn stream(
    k: &Arc<AesKey>,
    mode: &BlockMode,
    enc: bool,
    input: &[u8],
    pieces: &[usize],
) -> Result<Vec<u8>> {
    let mut s = BlockCipherStream::new(k.clone(), mode.clone(), enc)?;
    let mut out = Vec::new();
    let mut rest = input;
    for &p in pieces.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (chunk, r) = rest.split_at(p.min(rest.len()));
        rest = r;
        let want = s.update_len(chunk.len());
        let mut buf = vec![0u8; want + 5];
        assert_eq!(s.update(chunk, &mut buf)?, want);
        out.extend_from_slice(&buf[..want]);
    }
    let bound = s.final_len();
    let mut buf = vec![0u8; 16];
    let n = s.finalize(&mut buf)?;
    if enc {
        assert_eq!(n, bound, "final_len is exact when encrypting");
    }
    assert!(n <= bound);
    out.extend_from_slice(&buf[..n]);
    Ok(out)
}

/// One-shot and several multi-part splits both produce `expected`, and it
/// decrypts back the same ways.
fn check(k: &Arc<AesKey>, mode: BlockMode, pt: &[u8], expected: &[u8]) {
    assert_eq!(
        &one_shot_vec(k, mode.clone(), true, pt).unwrap()[..],
        expected
    );
    assert_eq!(
        &one_shot_vec(k, mode.clone(), false, expected).unwrap()[..],
        pt
    );
    for pieces in [&[1usize][..], &[16], &[7, 9, 33], &[64], &[15, 1, 17]] {
        assert_eq!(
            stream(k, &mode, true, pt, pieces).unwrap(),
            expected,
            "{pieces:?}"
        );
        assert_eq!(
            stream(k, &mode, false, expected, pieces).unwrap(),
            pt,
            "{pieces:?}"
        );
    }
}

#[test]
fn fips197_ecb() {
    let pt = h("00112233445566778899aabbccddeeff");
    check(
        &key("000102030405060708090a0b0c0d0e0f"),
        BlockMode::Ecb,
        &pt,
        &h("69c4e0d86a7b0430d8cdb78070b4c55a"),
    );
    check(
        &key("000102030405060708090a0b0c0d0e0f1011121314151617"),
        BlockMode::Ecb,
        &pt,
        &h("dda97ca4864cdfe06eaf70a0ec0d7191"),
    );
    check(
        &key("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"),
        BlockMode::Ecb,
        &pt,
        &h("8ea2b7ca516745bfeafc49904b496089"),
    );
}

/// SP 800-38A F.1.1/F.1.5 (ECB), F.2.1/F.2.5 (CBC), F.5.1/F.5.5 (CTR).
#[test]
fn sp800_38a_vectors() {
    let pt = h(PT);
    let cases = [
        (K128, BlockMode::Ecb, "3ad77bb40d7a3660a89ecaf32466ef97f5d3d58503b9699de785895a96fdbaaf43b1cd7f598ece23881b00e3ed0306887b0c785e27e8ad3f8223207104725dd4"),
        (K256, BlockMode::Ecb, "f3eed1bdb5d2a03c064b5a7e3db181f8591ccb10d410ed26dc5ba74a31362870b6ed21b99ca6f4f9f153e7b1beafed1d23304b7a39f9f3ff067d8d8f9e24ecc7"),
        (K128, BlockMode::Cbc { iv: IV }, "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b273bed6b8e3c1743b7116e69e222295163ff1caa1681fac09120eca307586e1a7"),
        (K256, BlockMode::Cbc { iv: IV }, "f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d39f23369a9d9bacfa530e26304231461b2eb05e2c39be9fcda6c19078c6a9d1b"),
        (K128, ctr(128), "874d6191b620e3261bef6864990db6ce9806f66b7970fdff8617187bb9fffdff5ae4df3edbd5d35e5b4f09020db03eab1e031dda2fbe03d1792170a0f3009cee"),
        (K256, ctr(128), "601ec313775789a5b7a7f504bbf3d228f443e3ca4d62b59aca84e990cacaf5c52b0930daa23de94ce87017ba2d84988ddfc9c58db67aada613c2dd08457941a6"),
        // Counter F0..FF with 32 counter bits: no wrap within four blocks.
        (K128, ctr(32), "874d6191b620e3261bef6864990db6ce9806f66b7970fdff8617187bb9fffdff5ae4df3edbd5d35e5b4f09020db03eab1e031dda2fbe03d1792170a0f3009cee"),
    ];
    for (k, mode, ct) in cases {
        check(&key(k), mode, &pt, &h(ct));
    }
    // CTR is a stream: any prefix encrypts to the same prefix.
    let k = key(K128);
    let ct = one_shot_vec(&k, ctr(128), true, &pt).unwrap();
    for len in [0usize, 1, 15, 17, 33, 63] {
        assert_eq!(
            &one_shot_vec(&k, ctr(128), true, &pt[..len]).unwrap()[..],
            &ct[..len]
        );
        assert_eq!(
            stream(&k, &ctr(128), true, &pt[..len], &[3, 14]).unwrap(),
            &ct[..len]
        );
    }
}

#[test]
fn cbc_pad_round_trips_multi_part() {
    let k = key(K256);
    let mode = BlockMode::CbcPad { iv: IV };
    let data: Vec<u8> = (0..40u8).map(|i| i.wrapping_mul(29) ^ 0x5c).collect();
    // The first 64 bytes of CBC-PAD over whole blocks equal plain CBC.
    let pt = h(PT);
    let padded = one_shot_vec(&k, mode.clone(), true, &pt).unwrap();
    let plain = one_shot_vec(&k, BlockMode::Cbc { iv: IV }, true, &pt).unwrap();
    assert_eq!(padded.len(), 80);
    assert_eq!(padded[..64], plain[..]);
    for len in 0..=33usize {
        let d = &data[..len];
        let ct = one_shot_vec(&k, mode.clone(), true, d).unwrap();
        assert_eq!(ct.len(), (len / 16 + 1) * 16);
        assert_eq!(ct.len(), one_shot_len(&mode, true, len));
        for pieces in [&[1usize][..], &[2, 5], &[16], &[17], &[7, 16, 1], &[40]] {
            assert_eq!(
                stream(&k, &mode, true, d, pieces).unwrap(),
                &ct[..],
                "enc len {len} {pieces:?}"
            );
            assert_eq!(
                stream(&k, &mode, false, &ct, pieces).unwrap(),
                d,
                "dec len {len} {pieces:?}"
            );
        }
        assert_eq!(&one_shot_vec(&k, mode.clone(), false, &ct).unwrap()[..], d);
        // A buffer exactly the plaintext size is enough for one-shot decrypt.
        let mut exact = vec![0u8; len];
        assert_eq!(
            one_shot(&k, mode.clone(), false, &ct, &mut exact).unwrap(),
            len
        );
        assert_eq!(exact, d);
    }
}

#[test]
fn cbc_pad_holds_back_last_block_until_final() {
    let k = key(K128);
    let mode = BlockMode::CbcPad { iv: IV };
    let ct = one_shot_vec(&k, mode.clone(), true, &[7u8; 32]).unwrap(); // 48 bytes
    let mut s = BlockCipherStream::new(k, mode, false).unwrap();
    let mut out = [0u8; 64];
    assert_eq!(s.update_len(16), 0);
    assert_eq!(s.update(&ct[..16], &mut out).unwrap(), 0);
    assert_eq!(s.update_len(32), 32);
    assert_eq!(s.update(&ct[16..], &mut out).unwrap(), 32);
    assert_eq!(out[..32], [7u8; 32]);
    assert_eq!(s.final_len(), 15);
    assert_eq!(s.finalize(&mut out).unwrap(), 0);
    assert_eq!(
        s.update(&[], &mut out).unwrap_err().ck_rv(),
        sys::CKR_OPERATION_NOT_INITIALIZED
    );
}

#[test]
fn bad_padding_is_detected_and_output_zeroed() {
    let k = key(K128);
    // Build final blocks with chosen "plaintext" through unpadded CBC.
    let bad_tails: [&[u8]; 4] = [&[0u8], &[17u8], &[2u8, 3u8], &[4u8, 4, 5, 4]];
    for tail in bad_tails {
        let mut block = [0x41u8; 32];
        block[32 - tail.len()..].copy_from_slice(tail);
        let ct = one_shot_vec(&k, BlockMode::Cbc { iv: IV }, true, &block).unwrap();
        let mut out = [0xeeu8; 32];
        let err = one_shot(&k, BlockMode::CbcPad { iv: IV }, false, &ct, &mut out).unwrap_err();
        assert!(matches!(err, Error::EncryptedDataInvalid), "{tail:?}");
        assert_eq!(out[..16], [0u8; 16], "released plaintext must be wiped");
        let err = stream(&k, &BlockMode::CbcPad { iv: IV }, false, &ct, &[5]).unwrap_err();
        assert!(matches!(err, Error::EncryptedDataInvalid));
    }
    // A full block of padding (16 x 0x10) is valid and yields nothing.
    let ct = one_shot_vec(&k, BlockMode::Cbc { iv: IV }, true, &[16u8; 16]).unwrap();
    assert!(one_shot_vec(&k, BlockMode::CbcPad { iv: IV }, false, &ct)
        .unwrap()
        .is_empty());
}

#[test]
fn length_rules() {
    let k = key(K128);
    let code = |r: Result<Zeroizing<Vec<u8>>>| r.unwrap_err().ck_rv();
    for mode in [BlockMode::Ecb, BlockMode::Cbc { iv: IV }] {
        assert_eq!(
            code(one_shot_vec(&k, mode.clone(), true, &[0; 15])),
            sys::CKR_DATA_LEN_RANGE
        );
        assert_eq!(
            code(one_shot_vec(&k, mode.clone(), false, &[0; 17])),
            sys::CKR_ENCRYPTED_DATA_LEN_RANGE
        );
        let e = stream(&k, &mode, true, &[0; 20], &[20]).unwrap_err();
        assert_eq!(e.ck_rv(), sys::CKR_DATA_LEN_RANGE);
        let e = stream(&k, &mode, false, &[0; 20], &[20]).unwrap_err();
        assert_eq!(e.ck_rv(), sys::CKR_ENCRYPTED_DATA_LEN_RANGE);
        assert!(one_shot_vec(&k, mode, true, &[]).unwrap().is_empty());
    }
    let pad = BlockMode::CbcPad { iv: IV };
    assert_eq!(
        code(one_shot_vec(&k, pad.clone(), false, &[])),
        sys::CKR_ENCRYPTED_DATA_LEN_RANGE
    );
    assert_eq!(
        code(one_shot_vec(&k, pad.clone(), false, &[0; 31])),
        sys::CKR_ENCRYPTED_DATA_LEN_RANGE
    );
    assert_eq!(
        stream(&k, &pad, false, &[], &[1]).unwrap_err().ck_rv(),
        sys::CKR_ENCRYPTED_DATA_LEN_RANGE
    );
    let mut small = [0u8; 15];
    assert_eq!(
        one_shot(&k, pad.clone(), true, &[1; 3], &mut small)
            .unwrap_err()
            .ck_rv(),
        sys::CKR_BUFFER_TOO_SMALL
    );
    let mut small = [0u8; 31];
    assert_eq!(
        one_shot(&k, BlockMode::Ecb, true, &[1; 32], &mut small)
            .unwrap_err()
            .ck_rv(),
        sys::CKR_BUFFER_TOO_SMALL
    );
}

#[test]
fn short_buffers_leave_the_stream_usable() {
    let k = key(K128);
    let mut s = BlockCipherStream::new(k.clone(), BlockMode::CbcPad { iv: IV }, true).unwrap();
    let mut out = [0u8; 48];
    assert_eq!(
        s.update(&[1; 20], &mut out[..15]).unwrap_err().ck_rv(),
        sys::CKR_BUFFER_TOO_SMALL
    );
    assert_eq!(s.update(&[1; 20], &mut out).unwrap(), 16);
    assert_eq!(
        s.finalize(&mut out[16..31]).unwrap_err().ck_rv(),
        sys::CKR_BUFFER_TOO_SMALL
    );
    assert_eq!(s.finalize(&mut out[16..]).unwrap(), 16);
    assert_eq!(
        out[..32],
        one_shot_vec(&k, BlockMode::CbcPad { iv: IV }, true, &[1; 20]).unwrap()[..]
    );
}

#[test]
fn ctr_counter_bits_and_limits() {
    let k = key(K128);
    for bits in [0u32, 129, 1000] {
        let e = BlockCipherStream::new(k.clone(), ctr(bits), true).unwrap_err();
        assert_eq!(e.ck_rv(), sys::CKR_MECHANISM_PARAM_INVALID);
    }
    // 2 counter bits: four blocks, then the counter space is spent.
    assert_eq!(one_shot_vec(&k, ctr(2), true, &[0; 64]).unwrap().len(), 64);
    let e = one_shot_vec(&k, ctr(2), true, &[0; 65]).unwrap_err();
    assert_eq!(e.ck_rv(), sys::CKR_DATA_LEN_RANGE);
    let e = one_shot_vec(&k, ctr(2), false, &[0; 65]).unwrap_err();
    assert_eq!(e.ck_rv(), sys::CKR_ENCRYPTED_DATA_LEN_RANGE);
    let mut s = BlockCipherStream::new(k.clone(), ctr(2), true).unwrap();
    let mut out = [0u8; 64];
    assert_eq!(s.update(&[0; 60], &mut out).unwrap(), 60);
    assert_eq!(s.update(&[0; 4], &mut out).unwrap(), 4); // rest of block 4
    assert_eq!(
        s.update(&[0; 1], &mut out).unwrap_err().ck_rv(),
        sys::CKR_DATA_LEN_RANGE
    );

    // 8 counter bits starting at 0xff wrap to 0x00 without touching the
    // nonce: keystream block 2 is E(f0..fe || 00).
    let ks = one_shot_vec(&k, ctr(8), true, &[0; 32]).unwrap();
    let mut first = CTR0;
    k.cipher().encrypt_block(&mut first);
    let mut wrapped = CTR0;
    wrapped[15] = 0x00;
    k.cipher().encrypt_block(&mut wrapped);
    assert_eq!(ks[..16], first);
    assert_eq!(ks[16..], wrapped);
}

#[test]
fn long_streams_match_one_shot() {
    let k = key(K256);
    let data: Vec<u8> = (0..1000u32).map(|i| (i * 131 + 7) as u8).collect();
    for mode in [
        BlockMode::Ecb,
        BlockMode::Cbc { iv: IV },
        BlockMode::CbcPad { iv: IV },
        ctr(128),
        ctr(20),
    ] {
        let d = if matches!(mode, BlockMode::Ecb | BlockMode::Cbc { .. }) {
            &data[..992]
        } else {
            &data[..]
        };
        let ct = one_shot_vec(&k, mode.clone(), true, d).unwrap();
        assert_eq!(
            stream(&k, &mode, true, d, &[100, 3, 300]).unwrap(),
            &ct[..],
            "{mode:?}"
        );
        assert_eq!(
            stream(&k, &mode, false, &ct, &[257, 31]).unwrap(),
            d,
            "{mode:?}"
        );
    }
}

#[test]
fn streams_are_send() {
    fn assert_send<T: Send>() {}
    assert_send::<BlockCipherStream>();
}
