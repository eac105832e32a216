//! The module's random number generator: aws-lc's system-seeded DRBG
//! (C_GenerateRandom, key generation, module-generated IVs).

use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Fills `buf` with cryptographically secure random bytes.
pub fn fill(buf: &mut [u8]) -> Result<()> {
    aws_lc_rs::rand::fill(buf).map_err(|_| Error::Crypto("system random generator failed".into()))
}

/// Returns `N` random bytes (IVs, nonces, salts). For key material prefer
/// [`random_secret`], whose buffer is wiped on drop.
pub fn random_array<const N: usize>() -> Result<[u8; N]> {
    let mut out = [0u8; N];
    fill(&mut out)?;
    Ok(out)
}

/// Returns `N` bytes straight from the kernel (`getrandom(2)`), for
/// identifiers made while `C_Initialize` runs: aws-lc seeds its generator
/// tree (jitter entropy) on first use, ~15 ms that a start-up should not pay
/// for a lease-holder id. Never for keys or IVs: those use [`fill`].
pub fn os_random_array<const N: usize>() -> Result<[u8; N]> {
    let mut out = [0u8; N];
    let mut filled = 0;
    while filled < N {
        let rest = &mut out[filled..];
        // SAFETY: the pointer and length describe `rest`, writable memory we own.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        match usize::try_from(n) {
            Ok(n) => filled += n,
            Err(_) if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted => {
            }
            Err(_) => return Err(Error::Crypto("getrandom failed".into())),
        }
    }
    Ok(out)
}

/// Returns `len` random bytes in a buffer that is zeroized on drop.
pub fn random_secret(len: usize) -> Result<Zeroizing<Vec<u8>>> {
    let mut out = Zeroizing::new(vec![0u8; len]);
    fill(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_and_differs() {
        let a: [u8; 32] = random_array().unwrap();
        let b: [u8; 32] = random_array().unwrap();
        // Two 256-bit draws collide with probability 2^-256.
        assert_ne!(a, b);
        assert_ne!(a, [0u8; 32]);
        let s = random_secret(48).unwrap();
        assert_eq!(s.len(), 48);
        assert!(s.iter().any(|&x| x != 0));
        let mut empty: [u8; 0] = [];
        fill(&mut empty).unwrap();
        let c: [u8; 32] = os_random_array().unwrap();
        let d: [u8; 32] = os_random_array().unwrap();
        assert_ne!(c, d);
    }
}
