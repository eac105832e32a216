//! GCM tests: the McGrew–Viega spec vectors and NIST CAVP vectors through
//! both paths, tampering, truncated tags, parameter and length errors.

use super::*;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

const P64: &str = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
                   1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255";
const A20: &str = "feedfacedeadbeeffeedfacedeadbeefabaddad2";
const IV8: &str = "cafebabefacedbad";
const IV60: &str = "9313225df88406e555909c5aff5269aa6a7a9538534f7da1e4c303d2a318a728\
                    c3c0c95156809539fcf0e2429a6b525416aedbf5a0de6a57a637b39b";
const K128: &str = "feffe9928665731c6d6a8f9467308308";
const K192: &str = "feffe9928665731c6d6a8f9467308308feffe9928665731c";
const K256: &str = "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";

/// (case, key, iv, aad, plaintext, ciphertext, tag): McGrew & Viega, "The
/// Galois/Counter Mode of Operation", Appendix B, test cases 1-18.
fn spec_cases() -> Vec<(u32, String, String, String, String, String, String)> {
    let p60 = &P64[..120];
    let z = |n: usize| "0".repeat(n);
    let raw: [(u32, &str, &str, &str, &str, &str, &str); 18] = [
        (1, &z(32), &z(24), "", "", "", "58e2fccefa7e3061367f1d57a4e7455a"),
        (2, &z(32), &z(24), "", &z(32), "0388dace60b6a392f328c2b971b2fe78", "ab6e47d42cec13bdf53a67b21257bddf"),
        (3, K128, "cafebabefacedbaddecaf888", "", P64,
         "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985",
         "4d5c2af327cd64a62cf35abd2ba6fab4"),
        (4, K128, "cafebabefacedbaddecaf888", A20, p60,
         "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
         "5bc94fbc3221a5db94fae95ae7121a47"),
        (5, K128, IV8, A20, p60,
         "61353b4c2806934a777ff51fa22a4755699b2a714fcdc6f83766e5f97b6c742373806900e49f24b22b097544d4896b424989b5e1ebac0f07c23f4598",
         "3612d2e79e3b0785561be14aaca2fccb"),
        (6, K128, IV60, A20, p60,
         "8ce24998625615b603a033aca13fb894be9112a5c3a211a8ba262a3cca7e2ca701e4a9a4fba43c90ccdcb281d48c7c6fd62875d2aca417034c34aee5",
         "619cc5aefffe0bfa462af43c1699d050"),
        (7, &z(48), &z(24), "", "", "", "cd33b28ac773f74ba00ed1f312572435"),
        (8, &z(48), &z(24), "", &z(32), "98e7247c07f0fe411c267e4384b0f600", "2ff58d80033927ab8ef4d4587514f0fb"),
        (9, K192, "cafebabefacedbaddecaf888", "", P64,
         "3980ca0b3c00e841eb06fac4872a2757859e1ceaa6efd984628593b40ca1e19c7d773d00c144c525ac619d18c84a3f4718e2448b2fe324d9ccda2710acade256",
         "9924a7c8587336bfb118024db8674a14"),
        (10, K192, "cafebabefacedbaddecaf888", A20, p60,
         "3980ca0b3c00e841eb06fac4872a2757859e1ceaa6efd984628593b40ca1e19c7d773d00c144c525ac619d18c84a3f4718e2448b2fe324d9ccda2710",
         "2519498e80f1478f37ba55bd6d27618c"),
        (11, K192, IV8, A20, p60,
         "0f10f599ae14a154ed24b36e25324db8c566632ef2bbb34f8347280fc4507057fddc29df9a471f75c66541d4d4dad1c9e93a19a58e8b473fa0f062f7",
         "65dcc57fcf623a24094fcca40d3533f8"),
        (12, K192, IV60, A20, p60,
         "d27e88681ce3243c4830165a8fdcf9ff1de9a1d8e6b447ef6ef7b79828666e4581e79012af34ddd9e2f037589b292db3e67c036745fa22e7e9b7373b",
         "dcf566ff291c25bbb8568fc3d376a6d9"),
        (13, &z(64), &z(24), "", "", "", "530f8afbc74536b9a963b4f1c4cb738b"),
        (14, &z(64), &z(24), "", &z(32), "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919"),
        (15, K256, "cafebabefacedbaddecaf888", "", P64,
         "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
         "b094dac5d93471bdec1a502270e3cc6c"),
        (16, K256, "cafebabefacedbaddecaf888", A20, p60,
         "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
         "76fc6ece0f4e1768cddf8853bb2d551b"),
        (17, K256, IV8, A20, p60,
         "c3762df1ca787d32ae47c13bf19844cbaf1ae14d0b976afac52ff7d79bba9de0feb582d33934a4f0954cc2363bc73f7862ac430e64abe499f47c9b1f",
         "3a337dbf46a792c45e454913fe2ea8f2"),
        (18, K256, IV60, A20, p60,
         "5a8def2f0c9e53f1f75d7853659e2a20eeb2b22aafde6419a058ab4f6f746bf40fc0c3b780f244452da3ebf1c5d82cdea2418997200ef82e44ae7e3f",
         "a44a8266ee1c8eb0c8b5d4cf5ae9f19a"),
    ];
    raw.iter()
        .map(|(n, k, iv, a, p, c, t)| {
            (
                *n,
                k.to_string(),
                iv.to_string(),
                a.to_string(),
                p.to_string(),
                c.to_string(),
                t.to_string(),
            )
        })
        .collect()
}

/// Runs one vector through the public API and, explicitly, the general
/// path (and the fast path when the IV is 96 bits), in both directions.
fn check_vector(name: &str, k: &str, iv: &str, aad: &str, pt: &str, ct: &str, tag: &str) {
    let (key, iv, aad, pt, tag) = (AesKey::new(&h(k)).unwrap(), h(iv), h(aad), h(pt), h(tag));
    let mut expected = h(ct);
    expected.extend_from_slice(&tag);
    let tl = tag.len();

    let mut out = vec![0xa5u8; expected.len() + 7];
    assert_eq!(
        encrypt(&key, &iv, &aad, &pt, tl, &mut out).unwrap(),
        expected.len(),
        "{name}"
    );
    assert_eq!(&out[..expected.len()], &expected[..], "{name}: encrypt");

    let mut ct_out = vec![0u8; pt.len()];
    let mut tag_out = vec![0u8; tl];
    encrypt_general(key.cipher(), &iv, &aad, &pt, &mut ct_out, &mut tag_out).unwrap();
    assert_eq!(
        [ct_out.clone(), tag_out.clone()].concat(),
        expected,
        "{name}: general encrypt"
    );
    if iv.len() == FAST_IV_LEN {
        encrypt_fast(&key, &iv, &aad, &pt, &mut ct_out, &mut tag_out).unwrap();
        assert_eq!([ct_out, tag_out].concat(), expected, "{name}: fast encrypt");
    }

    let mut pt_out = vec![0u8; pt.len()];
    assert_eq!(
        decrypt(&key, &iv, &aad, &expected, tl, &mut pt_out).unwrap(),
        pt.len()
    );
    assert_eq!(pt_out, pt, "{name}: decrypt");
    let (c, t) = expected.split_at(pt.len());
    pt_out.fill(0);
    decrypt_general(key.cipher(), &iv, &aad, c, t, &mut pt_out).unwrap();
    assert_eq!(pt_out, pt, "{name}: general decrypt");
    if iv.len() == FAST_IV_LEN && tl == MAX_TAG_LEN {
        pt_out.fill(0);
        decrypt_fast(&key, &iv, &aad, c, t, &mut pt_out).unwrap();
        assert_eq!(pt_out, pt, "{name}: fast decrypt");
    }
}

#[test]
fn mcgrew_viega_cases_1_to_18() {
    let cases = spec_cases();
    assert_eq!(cases.len(), 18);
    for (n, k, iv, a, p, c, t) in cases {
        check_vector(&format!("case {n}"), &k, &iv, &a, &p, &c, &t);
    }
}

/// NIST CAVP gcmEncryptExtIV128.rsp: 8-bit and 1024-bit IVs, and
/// 96-bit tags (the truncated-tag decrypt goes through the general path).
#[test]
fn cavp_odd_iv_and_truncated_tag_vectors() {
    check_vector(
        "iv8bit",
        "15b2d414826453f9e1c7dd0b69d8d1eb",
        "b6",
        "",
        "8cfa255530c6fbc19d51bd4aeb39c91b",
        "4822cb98bd5f5d921ee19285c9032375",
        "8a40670ebac98cf4e9cc1bf8f803167d",
    );
    check_vector("iv1024bit", "71eebc49c8fb773b2224eaff3ad68714",
        "07e961e67784011f72faafd95b0eb64089c8de15ad685ec57e63d56e679d3e202b18b75fcbbec3185ffc41653bc2ac4ae6ae8be8c85636f353a9d19a86100d0bd035cc6bdefcab4318ac7b1a08b819427ad8f6abc782466c6ebd4d6a0dd76e78389b0a2a66506bb85f038ffc1da220c24f3817c7b2d02c5e8fc5e7e3be5074bc",
        "", "705da82292143d2c949dc4ba014f6396", "032363cf0828a03553478bec0f51f372",
        "c681b2c568feaa21900bc44b86aeb946");
    check_vector(
        "tag96-empty",
        "4df7a13e43c3d7b66b1a72fac5ba398e",
        "97179a3a2d417908dcf0fb28",
        "cbb7fc0010c255661e23b07dbd804b1e06ae70ac",
        "",
        "",
        "37791edae6c137ea946cfb40",
    );
    check_vector("tag96", "0ef21489e942ae5240e41749346a86a2", "431ae3f1a702cc34b55b90bf",
        "d6d20f982bdad4b70213bbc5f3921f068e7784c30070ffe5c06f0daa8019b6ed95b95ba294630c21008d749eb71e83e847fb6ca797aaa3035e714cdb13a867ad90b2ebaa652d50a5b6adc84e34afc1985449f45eed08cac3cb34",
        "882deb960fd0f8c98c707ade59", "ec8fdf5f4afb96ebe0e845dc3b", "45d4b03158be4e07953767ee");
}

#[test]
fn tampering_fails_and_zeroes_output() {
    for (k, iv) in [
        (K128, "cafebabefacedbaddecaf888"),
        (K192, IV8),
        (K256, IV60),
    ] {
        let key = AesKey::new(&h(k)).unwrap();
        let (iv, aad, pt) = (h(iv), h(A20), h(P64));
        for tl in [16usize, 12] {
            let mut sealed = vec![0u8; pt.len() + tl];
            encrypt(&key, &iv, &aad, &pt, tl, &mut sealed).unwrap();
            for flip in [0usize, pt.len() - 1, pt.len(), sealed.len() - 1] {
                let mut bad = sealed.clone();
                bad[flip] ^= 0x01;
                let mut out = vec![0xeeu8; pt.len() + 3];
                let err = decrypt(&key, &iv, &aad, &bad, tl, &mut out).unwrap_err();
                assert!(matches!(err, Error::EncryptedDataInvalid), "flip {flip}");
                assert!(out[..pt.len()].iter().all(|&b| b == 0), "output not zeroed");
                assert!(
                    out[pt.len()..].iter().all(|&b| b == 0xee),
                    "wrote past ciphertext"
                );
            }
            let mut out = vec![0u8; pt.len()];
            let err = decrypt(&key, &iv, &aad[1..], &sealed, tl, &mut out).unwrap_err();
            assert!(matches!(err, Error::EncryptedDataInvalid));
        }
    }
}

#[test]
fn truncated_tag_round_trips_match_full_tag_prefix() {
    let key = AesKey::new(&h(K256)).unwrap();
    let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 + 3) as u8).collect();
    for iv in [
        h("cafebabefacedbaddecaf888"),
        h(IV8),
        h("000102030405060708090a0b0c0d0e0f"),
    ] {
        for len in [0usize, 1, 15, 16, 17, 255, 256, 257, 1000] {
            let pt = &data[..len];
            let mut full = vec![0u8; len + 16];
            encrypt(&key, &iv, b"aad", pt, 16, &mut full).unwrap();
            let mut short = vec![0u8; len + 12];
            assert_eq!(
                encrypt(&key, &iv, b"aad", pt, 12, &mut short).unwrap(),
                len + 12
            );
            assert_eq!(short[..], full[..len + 12], "12-byte tag is the prefix");
            let mut back = vec![0u8; len];
            assert_eq!(
                decrypt(&key, &iv, b"aad", &short, 12, &mut back).unwrap(),
                len
            );
            assert_eq!(back, pt);
            // The general path agrees with aws-lc on long multi-chunk input.
            let mut gen_ct = vec![0u8; len];
            let mut gen_tag = [0u8; 16];
            encrypt_general(key.cipher(), &iv, b"aad", pt, &mut gen_ct, &mut gen_tag).unwrap();
            assert_eq!([gen_ct, gen_tag.to_vec()].concat(), full);
        }
    }
}

#[test]
fn parameter_and_length_errors() {
    let key = AesKey::new(&[7u8; 16]).unwrap();
    let iv = [1u8; 12];
    let mut out = [0u8; 64];
    let code = |r: Result<usize>| r.unwrap_err().ck_rv();
    for tl in [0usize, 8, 11, 17] {
        assert_eq!(
            code(encrypt(&key, &iv, b"", b"x", tl, &mut out)),
            sys::CKR_MECHANISM_PARAM_INVALID
        );
        assert_eq!(
            code(decrypt(&key, &iv, b"", &[0; 32], tl, &mut out)),
            sys::CKR_MECHANISM_PARAM_INVALID
        );
    }
    assert_eq!(
        code(encrypt(&key, &[], b"", b"x", 16, &mut out)),
        sys::CKR_MECHANISM_PARAM_INVALID
    );
    assert_eq!(
        code(decrypt(&key, &[], b"", &[0; 32], 16, &mut out)),
        sys::CKR_MECHANISM_PARAM_INVALID
    );
    assert_eq!(
        code(encrypt(&key, &iv, b"", &[0; 10], 16, &mut out[..25])),
        sys::CKR_BUFFER_TOO_SMALL
    );
    assert_eq!(
        encrypt(&key, &iv, b"", &[0; 10], 16, &mut out[..26]).unwrap(),
        26
    );
    assert_eq!(encrypted_len(10, 16), 26);
    assert_eq!(
        code(decrypt(&key, &iv, b"", &[0; 15], 16, &mut out)),
        sys::CKR_ENCRYPTED_DATA_LEN_RANGE
    );
    assert_eq!(
        code(decrypt(&key, &iv, b"", &[0; 11], 12, &mut out)),
        sys::CKR_ENCRYPTED_DATA_LEN_RANGE
    );
    let mut sealed = [0u8; 26];
    encrypt(&key, &iv, b"", &[9; 10], 16, &mut sealed).unwrap();
    assert_eq!(
        code(decrypt(&key, &iv, b"", &sealed, 16, &mut out[..9])),
        sys::CKR_BUFFER_TOO_SMALL
    );
    assert_eq!(
        decrypt(&key, &iv, b"", &sealed, 16, &mut out[..10]).unwrap(),
        10
    );
    assert_eq!(out[..10], [9u8; 10]);
}
