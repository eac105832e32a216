//! The keyrotor envelope: a self-describing AES-GCM ciphertext that names the
//! key version that made it, so decryption through a key's current object
//! finds the right version without the caller knowing it.
//!
//! Layout: `0x01 | version (u32 BE) | IV (12) | ciphertext | tag (16)`.
//! The five header bytes are authenticated (prepended to the caller's AAD),
//! so a version field cannot be swapped without the tag failing.

use cryptoki_sys as sys;

use crate::error::{rv, Result};

/// Envelope format byte.
pub const FORMAT: u8 = 0x01;
/// Header: format byte and version.
pub const HEADER_LEN: usize = 5;
/// IV length inside an envelope.
pub const IV_LEN: usize = 12;
/// Tag length inside an envelope.
pub const TAG_LEN: usize = 16;
/// Bytes an envelope adds to the plaintext.
pub const OVERHEAD: usize = HEADER_LEN + IV_LEN + TAG_LEN;

/// A parsed envelope, borrowing the input.
pub struct Envelope<'a> {
    /// The key version that encrypted it.
    pub version: u32,
    /// The authenticated header (format and version).
    pub header: &'a [u8],
    /// The GCM IV.
    pub iv: &'a [u8],
    /// Ciphertext followed by the tag, as GCM decryption takes it.
    pub sealed: &'a [u8],
}

/// Splits an envelope; anything malformed is `CKR_ENCRYPTED_DATA_INVALID`
/// (too short: `CKR_ENCRYPTED_DATA_LEN_RANGE`).
pub fn parse(blob: &[u8]) -> Result<Envelope<'_>> {
    if blob.len() < OVERHEAD {
        return rv(sys::CKR_ENCRYPTED_DATA_LEN_RANGE);
    }
    let (header, rest) = blob.split_at(HEADER_LEN);
    if header[0] != FORMAT {
        return rv(sys::CKR_ENCRYPTED_DATA_INVALID);
    }
    let version = u32::from_be_bytes([header[1], header[2], header[3], header[4]]);
    let (iv, sealed) = rest.split_at(IV_LEN);
    Ok(Envelope {
        version,
        header,
        iv,
        sealed,
    })
}

/// The header for `version`.
pub fn header(version: u32) -> [u8; HEADER_LEN] {
    let v = version.to_be_bytes();
    [FORMAT, v[0], v[1], v[2], v[3]]
}

/// The deterministic IV of SP 800-38D §8.2.1: fixed field = key version,
/// invocation field = a counter reserved from the store, so IVs never repeat
/// under one version across processes.
pub fn version_iv(version: u32, counter: u64) -> [u8; IV_LEN] {
    let mut iv = [0u8; IV_LEN];
    iv[..4].copy_from_slice(&version.to_be_bytes());
    iv[4..].copy_from_slice(&counter.to_be_bytes());
    iv
}

/// The version carried in the fixed field of a keyrotor-generated IV.
pub fn iv_version(iv: &[u8]) -> Option<u32> {
    (iv.len() == IV_LEN).then(|| u32::from_be_bytes([iv[0], iv[1], iv[2], iv[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_layout_round_trips() {
        let mut blob = header(7).to_vec();
        blob.extend_from_slice(&version_iv(7, 42));
        blob.extend_from_slice(&[0xAA; 20]);
        let e = parse(&blob).expect("parses");
        assert_eq!(e.version, 7);
        assert_eq!(e.header, &header(7));
        assert_eq!(iv_version(e.iv), Some(7));
        assert_eq!(&e.iv[4..], &42u64.to_be_bytes());
        assert_eq!(e.sealed.len(), 20);
    }

    #[test]
    fn malformed_envelopes_are_refused() {
        assert!(parse(&[FORMAT; 10]).is_err());
        let mut blob = vec![0x02, 0, 0, 0, 1];
        blob.extend_from_slice(&[0; 40]);
        assert_eq!(
            parse(&blob).err().map(|e| e.ck_rv()),
            Some(sys::CKR_ENCRYPTED_DATA_INVALID)
        );
    }
}
