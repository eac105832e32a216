//! Published test vectors (hex), each with its source. All were re-checked
//! against an independent implementation (pyca/cryptography) when written.

/// Decodes a hex constant.
pub fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace([' ', '\n'], "")).expect("valid hex in a test vector")
}

/// McGrew & Viega, "The Galois/Counter Mode of Operation", test cases 3/4:
/// AES-128 key.
pub const GCM_K128: &str = "feffe9928665731c6d6a8f9467308308";
/// Test cases 15/16: AES-256 key.
pub const GCM_K256: &str = "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";
/// 96-bit IV of test cases 3/4/15/16.
pub const GCM_IV96: &str = "cafebabefacedbaddecaf888";
/// 480-bit (60-byte) IV of test case 6.
pub const GCM_IV480: &str = "9313225df88406e555909c5aff5269aa6a7a9538534f7da1e4c303d2a318a728\
                             c3c0c95156809539fcf0e2429a6b525416aedbf5a0de6a57a637b39b";
/// Plaintext of test case 3 (64 bytes); test cases 4/6/16 use its first 60 bytes.
pub const GCM_P: &str = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
                         1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255";
/// AAD of test cases 4/6/16.
pub const GCM_AAD: &str = "feedfacedeadbeeffeedfacedeadbeefabaddad2";
/// Test case 3 ciphertext.
pub const GCM_TC3_C: &str = "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e\
                             21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985";
/// Test case 3 tag.
pub const GCM_TC3_T: &str = "4d5c2af327cd64a62cf35abd2ba6fab4";
/// Test case 4 ciphertext (60 bytes).
pub const GCM_TC4_C: &str = "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e\
                             21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091";
/// Test case 4 tag.
pub const GCM_TC4_T: &str = "5bc94fbc3221a5db94fae95ae7121a47";
/// Test case 6 ciphertext (60-byte IV).
pub const GCM_TC6_C: &str = "8ce24998625615b603a033aca13fb894be9112a5c3a211a8ba262a3cca7e2ca7\
                             01e4a9a4fba43c90ccdcb281d48c7c6fd62875d2aca417034c34aee5";
/// Test case 6 tag.
pub const GCM_TC6_T: &str = "619cc5aefffe0bfa462af43c1699d050";
/// Test case 16 ciphertext (AES-256).
pub const GCM_TC16_C: &str = "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa\
                              8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662";
/// Test case 16 tag.
pub const GCM_TC16_T: &str = "76fc6ece0f4e1768cddf8853bb2d551b";

/// NIST SP 800-38A, AES-128 key (F.1.1, F.2.1, F.5.1).
pub const SP800_38A_KEY: &str = "2b7e151628aed2a6abf7158809cf4f3c";
/// SP 800-38A plaintext (four blocks).
pub const SP800_38A_P: &str = "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51\
                               30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710";
/// F.1.1 ECB-AES128.Encrypt.
pub const SP800_38A_ECB: &str = "3ad77bb40d7a3660a89ecaf32466ef97f5d3d58503b9699de785895a96fdbaaf\
                                 43b1cd7f598ece23881b00e3ed0306887b0c785e27e8ad3f8223207104725dd4";
/// F.2.1 IV.
pub const SP800_38A_CBC_IV: &str = "000102030405060708090a0b0c0d0e0f";
/// F.2.1 CBC-AES128.Encrypt.
pub const SP800_38A_CBC: &str = "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2\
                                 73bed6b8e3c1743b7116e69e222295163ff1caa1681fac09120eca307586e1a7";
/// CBC-PAD (PKCS#7) of the F.2.1 plaintext: the four F.2.1 blocks and one
/// block of padding (computed, the first 64 bytes are the NIST vector).
pub const CBC_PAD_64: &str = "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2\
                              73bed6b8e3c1743b7116e69e222295163ff1caa1681fac09120eca307586e1a7\
                              8cb82807230e1321d3fae00d18cc2012";
/// CBC-PAD of the first 37 bytes of the F.2.1 plaintext (computed).
pub const CBC_PAD_37: &str = "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2\
                              5dd91dde9c980257336717a3c680d405";
/// F.5.1 initial counter block.
pub const SP800_38A_CTR_IV: &str = "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";
/// F.5.1 CTR-AES128.Encrypt.
pub const SP800_38A_CTR: &str = "874d6191b620e3261bef6864990db6ce9806f66b7970fdff8617187bb9fffdff\
                                 5ae4df3edbd5d35e5b4f09020db03eab1e031dda2fbe03d1792170a0f3009cee";

/// NIST SP 800-38B D.1 (AES-128, same key as SP 800-38A): (message length, tag).
pub const CMAC_AES128: &[(usize, &str)] = &[
    (0, "bb1d6929e95937287fa37d129b756746"),
    (16, "070a16b46b4d4144f79bdd9dd04a287c"),
    (40, "dfa66747de9ae63030ca32611497c827"),
    (64, "51f0bebf7e3b9d92fc49741779363cfe"),
];

/// RFC 4231 test case 1 HMAC-SHA-256 (key 0x0b × 20, "Hi There").
pub const HMAC_TC1: &str = "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7";
/// RFC 4231 test case 2 HMAC-SHA-256 (key "Jefe").
pub const HMAC_TC2: &str = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";

/// FIPS 180-2 SHA-256("abc").
pub const SHA256_ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
/// SHA-256 of the empty string.
pub const SHA256_EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// RFC 3394 4.1: KEK.
pub const KW_KEK: &str = "000102030405060708090a0b0c0d0e0f";
/// RFC 3394 4.1: key data.
pub const KW_KEY: &str = "00112233445566778899aabbccddeeff";
/// RFC 3394 4.1: wrapped.
pub const KW_WRAPPED: &str = "1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5";

/// RFC 5649 6: 192-bit KEK.
pub const KWP_KEK: &str = "5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8";
/// RFC 5649 6: 20-octet key.
pub const KWP_KEY: &str = "c37b7e6492584340bed12207808941155068f738";
/// RFC 5649 6: wrapped.
pub const KWP_WRAPPED: &str = "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a";
