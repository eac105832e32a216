//! SHA-2 message digests (CKM_SHA256 / CKM_SHA384 / CKM_SHA512) over the
//! aws-lc-rs `digest` module, streaming and one-shot.

use aws_lc_rs::digest;

/// The digest algorithms the module offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DigestAlg {
    /// SHA-256 (32-byte output).
    Sha256,
    /// SHA-384 (48-byte output).
    Sha384,
    /// SHA-512 (64-byte output).
    Sha512,
}

impl DigestAlg {
    /// Output length in bytes.
    pub fn output_len(self) -> usize {
        self.algorithm().output_len()
    }

    /// Internal block length in bytes (HMAC pads keys to this).
    pub fn block_len(self) -> usize {
        self.algorithm().block_len()
    }

    pub(crate) fn algorithm(self) -> &'static digest::Algorithm {
        match self {
            DigestAlg::Sha256 => &digest::SHA256,
            DigestAlg::Sha384 => &digest::SHA384,
            DigestAlg::Sha512 => &digest::SHA512,
        }
    }
}

/// A streaming digest (C_DigestInit / Update / Final). `Send` and cheap to
/// `Clone`, so a session can fork a running digest.
#[derive(Clone)]
pub struct DigestCtx {
    alg: DigestAlg,
    ctx: digest::Context,
}

impl DigestCtx {
    /// Starts a digest.
    pub fn new(alg: DigestAlg) -> Self {
        DigestCtx {
            alg,
            ctx: digest::Context::new(alg.algorithm()),
        }
    }

    /// The algorithm this context computes.
    pub fn alg(&self) -> DigestAlg {
        self.alg
    }

    /// Absorbs more data.
    pub fn update(&mut self, data: &[u8]) {
        self.ctx.update(data);
    }

    /// Finishes and returns the digest (`alg.output_len()` bytes).
    pub fn finish(self) -> Vec<u8> {
        self.ctx.finish().as_ref().to_vec()
    }
}

impl std::fmt::Debug for DigestCtx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DigestCtx").field("alg", &self.alg).finish()
    }
}

/// One-shot digest of `data`.
pub fn digest(alg: DigestAlg, data: &[u8]) -> Vec<u8> {
    digest::digest(alg.algorithm(), data).as_ref().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FIPS 180-2 Appendix examples: the digests of "abc".
    const ABC: [(DigestAlg, &str); 3] = [
        (
            DigestAlg::Sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        ),
        (
            DigestAlg::Sha384,
            "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed\
             8086072ba1e7cc2358baeca134c825a7",
        ),
        (
            DigestAlg::Sha512,
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
             2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        ),
    ];

    #[test]
    fn abc_vectors_one_shot_and_streaming() {
        for (alg, want) in ABC {
            let want = hex::decode(want).unwrap();
            assert_eq!(alg.output_len(), want.len());
            assert_eq!(digest(alg, b"abc"), want);
            let mut ctx = DigestCtx::new(alg);
            ctx.update(b"a");
            let fork = ctx.clone();
            ctx.update(b"");
            ctx.update(b"bc");
            assert_eq!(ctx.finish(), want);
            let mut fork = fork;
            fork.update(b"bc");
            assert_eq!(fork.finish(), want);
        }
    }

    #[test]
    fn lengths_and_send() {
        fn assert_send<T: Send>() {}
        assert_send::<DigestCtx>();
        assert_eq!(DigestAlg::Sha256.block_len(), 64);
        assert_eq!(DigestAlg::Sha384.block_len(), 128);
        assert_eq!(DigestAlg::Sha512.output_len(), 64);
    }
}
