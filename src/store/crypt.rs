//! At-rest encryption for the store: the per-token master key ([`StorageKey`], the KEK), the
//! AES-256-GCM sealing primitive bound to where a value lives, wrapping of the master key under a
//! PIN (`pin`) and the data keys that seal stored fields ([`data_keys`]).
//!
//! Key hierarchy: PIN --Argon2id--> PIN key --wraps--> master key (KEK) --seals--> data keys
//! --seal--> object secrets and key-version material. Rotating the data key re-encrypts the
//! fields in batches without anyone re-entering a PIN.
//!
//! Format 1, `0x01 || nonce (12) || ciphertext || tag (16)`, is what the master key seals
//! directly (the PIN wrap inside `pin`, data keys, and [`StorageKey::seal`], which the store no
//! longer uses for fields). Its AAD binds a domain string, the format byte, the token id, the
//! object uid and the field name, each length prefixed, so a sealed value copied into another
//! row, object, field or token does not open. Format 2 (data keys) is described in [`data_keys`].

use aws_lc_rs::aead::{Aad, Nonce, RandomizedNonceKey, AES_256_GCM, NONCE_LEN};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

pub mod data_keys;
mod pin;
pub use data_keys::{DataKeys, SEAL_V2_OVERHEAD};
pub use pin::{unwrap_with_pin, wrap_with_pin, KdfParams, PinRole, WrappedStorageKey, SALT_LEN};

/// Length of a storage key in bytes (AES-256).
pub const STORAGE_KEY_LEN: usize = 32;
/// Format byte that starts every sealed blob written by this version.
const FORMAT_V1: u8 = 0x01;
/// AES-GCM tag length.
const TAG_LEN: usize = 16;
/// Bytes a format-1 sealed blob adds to its plaintext.
pub const SEAL_OVERHEAD: usize = 1 + NONCE_LEN + TAG_LEN;
/// Domain separation for sealed store fields (distinct from the PIN-wrap domain).
const SEAL_DOMAIN: &[u8] = b"keyrotor/store/seal/v1";

/// A 256-bit AES key of the store: the per-token master key (KEK) that the PINs unlock, or one
/// of the data keys it seals ([`DataKeys`]).
///
/// Held in a zeroizing buffer; `Debug` never shows the bytes.
pub struct StorageKey {
    bytes: Zeroizing<[u8; STORAGE_KEY_LEN]>,
}

impl std::fmt::Debug for StorageKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StorageKey(<redacted>)")
    }
}

/// Where a sealed value lives; bound into the AES-GCM associated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealAad<'a> {
    /// The token (store) the value belongs to.
    pub token_id: &'a str,
    /// The object's stable unique id.
    pub object_uid: &'a str,
    /// The field (attribute) name inside the object.
    pub field: &'a str,
}

/// Why an AEAD blob did not open: the caller maps these to different errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpenFailure {
    /// Too short or an unknown format byte: corruption, not a wrong key.
    Malformed(&'static str),
    /// The tag did not verify: wrong key, wrong AAD or tampering.
    Auth,
}

impl StorageKey {
    /// A fresh key from the aws-lc-rs system RNG.
    pub fn generate() -> Result<StorageKey> {
        let mut bytes = Zeroizing::new([0u8; STORAGE_KEY_LEN]);
        aws_lc_rs::rand::fill(bytes.as_mut_slice())
            .map_err(|_| Error::Crypto("random generator failed for storage key".into()))?;
        Ok(StorageKey { bytes })
    }

    /// Rebuilds a key from bytes that were just unwrapped.
    pub(crate) fn from_array(bytes: Zeroizing<[u8; STORAGE_KEY_LEN]>) -> StorageKey {
        StorageKey { bytes }
    }

    /// The raw key, for wrapping it under a PIN-derived key.
    pub(crate) fn as_array(&self) -> &[u8; STORAGE_KEY_LEN] {
        &self.bytes
    }

    /// Encrypts `plaintext` for the place `aad` names. Output: format || nonce || ct || tag.
    pub fn seal(&self, aad: &SealAad, plaintext: &[u8]) -> Result<Vec<u8>> {
        seal_raw(&self.bytes, &seal_aad_bytes(aad), plaintext)
    }

    /// Decrypts a blob from [`StorageKey::seal`]; any mismatch of key, place or bytes is
    /// `Error::StoreIntegrity`. The plaintext comes back in a zeroizing buffer.
    pub fn open(&self, aad: &SealAad, blob: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        open_raw(&self.bytes, &seal_aad_bytes(aad), blob).map_err(|e| {
            let why = match e {
                OpenFailure::Malformed(m) => m,
                OpenFailure::Auth => "authentication failed (wrong key, place or tampered)",
            };
            Error::StoreIntegrity(format!(
                "sealed field {:?} of object {:?} in token {:?}: {why}",
                aad.field, aad.object_uid, aad.token_id
            ))
        })
    }
}

/// Appends `bytes` with a 64-bit big-endian length prefix, so concatenated fields cannot be
/// re-split differently (`"ab"+"c"` vs `"a"+"bc"`).
pub(crate) fn push_field(out: &mut Vec<u8>, bytes: &[u8]) {
    // usize -> u64 is lossless on every platform Rust supports.
    out.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// The associated data for a sealed store field.
fn seal_aad_bytes(aad: &SealAad) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        1 + 4 * 8 + SEAL_DOMAIN.len() + aad.token_id.len() + aad.object_uid.len() + aad.field.len(),
    );
    out.push(FORMAT_V1);
    push_field(&mut out, SEAL_DOMAIN);
    push_field(&mut out, aad.token_id.as_bytes());
    push_field(&mut out, aad.object_uid.as_bytes());
    push_field(&mut out, aad.field.as_bytes());
    out
}

fn aead_key(key: &[u8; STORAGE_KEY_LEN]) -> Result<RandomizedNonceKey> {
    RandomizedNonceKey::new(&AES_256_GCM, key)
        .map_err(|_| Error::Crypto("AES-256-GCM key setup failed".into()))
}

/// Format-1 sealing: `0x01 || nonce || ct || tag`.
pub(crate) fn seal_raw(
    key: &[u8; STORAGE_KEY_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    seal_framed(key, &[FORMAT_V1], aad, plaintext)
}

/// AES-256-GCM with a random nonce chosen inside aws-lc; output `header || nonce || ct || tag`.
/// The plaintext is copied once, into a buffer sized up front so it is never reallocated (a
/// reallocation would leave a plaintext copy behind in freed memory), and encrypted in place.
pub(crate) fn seal_framed(
    key: &[u8; STORAGE_KEY_LEN],
    header: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    let k = aead_key(key)?;
    let mut out = Vec::with_capacity(header.len() + NONCE_LEN + plaintext.len() + TAG_LEN);
    out.extend_from_slice(header);
    out.extend_from_slice(&[0u8; NONCE_LEN]);
    out.extend_from_slice(plaintext);
    let (head, body) = out.split_at_mut(header.len() + NONCE_LEN);
    let (nonce, tag) = k
        .seal_in_place_separate_tag(Aad::from(aad), body)
        .map_err(|_| Error::Crypto("AES-256-GCM seal failed".into()))?;
    // `head` is exactly header.len() + NONCE_LEN bytes long (split above), so this range is
    // in bounds.
    if let Some(slot) = head.get_mut(header.len()..) {
        slot.copy_from_slice(nonce.as_ref());
    }
    out.extend_from_slice(tag.as_ref());
    Ok(out)
}

/// Inverse of [`seal_raw`].
pub(crate) fn open_raw(
    key: &[u8; STORAGE_KEY_LEN],
    aad: &[u8],
    blob: &[u8],
) -> std::result::Result<Zeroizing<Vec<u8>>, OpenFailure> {
    let (format, rest) = blob
        .split_first()
        .ok_or(OpenFailure::Malformed("empty blob"))?;
    if *format != FORMAT_V1 {
        return Err(OpenFailure::Malformed("unknown format byte"));
    }
    open_body(key, aad, rest)
}

/// Opens `nonce || ct || tag` (a blob with its header already removed).
pub(crate) fn open_body(
    key: &[u8; STORAGE_KEY_LEN],
    aad: &[u8],
    rest: &[u8],
) -> std::result::Result<Zeroizing<Vec<u8>>, OpenFailure> {
    let (nonce, body) = rest
        .split_first_chunk::<NONCE_LEN>()
        .ok_or(OpenFailure::Malformed("blob shorter than its nonce"))?;
    if body.len() < TAG_LEN {
        return Err(OpenFailure::Malformed("blob shorter than its tag"));
    }
    let k = aead_key(key).map_err(|_| OpenFailure::Malformed("key setup failed"))?;
    let mut buf = Zeroizing::new(body.to_vec());
    let n = k
        .open_in_place(
            Nonce::assume_unique_for_key(*nonce),
            Aad::from(aad),
            &mut buf,
        )
        .map_err(|_| OpenFailure::Auth)?
        .len();
    buf.truncate(n);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place<'a>(uid: &'a str, field: &'a str) -> SealAad<'a> {
        SealAad {
            token_id: "tok-1",
            object_uid: uid,
            field,
        }
    }

    #[test]
    fn seal_open_round_trip_and_layout() {
        let key = StorageKey::generate().unwrap();
        let pt = b"sixteen byte key and a bit more";
        let blob = key.seal(&place("o1", "value"), pt).unwrap();
        assert_eq!(blob.len(), pt.len() + SEAL_OVERHEAD);
        assert_eq!(blob[0], FORMAT_V1);
        assert!(!blob.windows(pt.len()).any(|w| w == pt));
        let back = key.open(&place("o1", "value"), &blob).unwrap();
        assert_eq!(back.as_slice(), pt);
        // Empty plaintexts are legal and still authenticated.
        let e = key.seal(&place("o1", "empty"), b"").unwrap();
        assert_eq!(e.len(), SEAL_OVERHEAD);
        assert!(key.open(&place("o1", "empty"), &e).unwrap().is_empty());
    }

    #[test]
    fn nonces_differ_between_seals() {
        let key = StorageKey::generate().unwrap();
        let a = key.seal(&place("o1", "value"), b"same").unwrap();
        let b = key.seal(&place("o1", "value"), b"same").unwrap();
        assert_ne!(a[1..13], b[1..13]);
        assert_ne!(a, b);
    }

    #[test]
    fn known_vector_opens() {
        // A blob built by hand with the all-zero key and nonce: pins the AAD layout so a
        // refactor that changes it (and strands every stored secret) fails here.
        let key = StorageKey::from_array(Zeroizing::new([0u8; 32]));
        let aad = seal_aad_bytes(&place("o1", "value"));
        let lsk = aws_lc_rs::aead::LessSafeKey::new(
            aws_lc_rs::aead::UnboundKey::new(&AES_256_GCM, &[0u8; 32]).unwrap(),
        );
        let mut body = b"abc".to_vec();
        lsk.seal_in_place_append_tag(
            Nonce::assume_unique_for_key([0u8; 12]),
            Aad::from(&aad),
            &mut body,
        )
        .unwrap();
        let mut blob = vec![FORMAT_V1];
        blob.extend_from_slice(&[0u8; 12]);
        blob.extend_from_slice(&body);
        assert_eq!(
            key.open(&place("o1", "value"), &blob).unwrap().as_slice(),
            b"abc"
        );
        let mut expected_aad = vec![1u8];
        for f in [&b"keyrotor/store/seal/v1"[..], b"tok-1", b"o1", b"value"] {
            expected_aad.extend_from_slice(&(f.len() as u64).to_be_bytes());
            expected_aad.extend_from_slice(f);
        }
        assert_eq!(aad, expected_aad);
    }

    #[test]
    fn aad_mismatch_fails() {
        let key = StorageKey::generate().unwrap();
        let blob = key.seal(&place("o1", "value"), b"secret").unwrap();
        let other_uid = key.open(&place("o2", "value"), &blob).unwrap_err();
        assert!(matches!(other_uid, Error::StoreIntegrity(_)), "{other_uid}");
        assert!(matches!(
            key.open(&place("o1", "label"), &blob),
            Err(Error::StoreIntegrity(_))
        ));
        let other_token = SealAad {
            token_id: "tok-2",
            object_uid: "o1",
            field: "value",
        };
        assert!(matches!(
            key.open(&other_token, &blob),
            Err(Error::StoreIntegrity(_))
        ));
        // Length prefixes keep ("o1","value") apart from ("o1v","alue").
        assert!(key.open(&place("o1v", "alue"), &blob).is_err());
        // Another key.
        let other = StorageKey::generate().unwrap();
        assert!(matches!(
            other.open(&place("o1", "value"), &blob),
            Err(Error::StoreIntegrity(_))
        ));
    }

    #[test]
    fn tampered_or_short_blobs_fail() {
        let key = StorageKey::generate().unwrap();
        let blob = key.seal(&place("o1", "value"), b"secret").unwrap();
        for i in 0..blob.len() {
            let mut t = blob.clone();
            t[i] ^= 0x01;
            assert!(
                matches!(
                    key.open(&place("o1", "value"), &t),
                    Err(Error::StoreIntegrity(_))
                ),
                "flip at {i} accepted"
            );
        }
        for n in 0..SEAL_OVERHEAD {
            assert!(key.open(&place("o1", "value"), &blob[..n]).is_err());
        }
        let msg = key.open(&place("o1", "value"), &[2u8; 40]).unwrap_err();
        assert!(msg.to_string().contains("unknown format byte"), "{msg}");
    }

    #[test]
    fn debug_hides_key_bytes() {
        let key = StorageKey::from_array(Zeroizing::new([0xAB; 32]));
        let s = format!("{key:?}");
        assert_eq!(s, "StorageKey(<redacted>)");
        assert_eq!(key.as_array(), &[0xAB; 32]);
    }
}
