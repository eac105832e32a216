//! Wrapping the storage key under a PIN: Argon2id derives a key-encryption key from the PIN,
//! AES-256-GCM seals the storage key under it, and [`WrappedStorageKey`] is the versioned,
//! strictly parsed byte form kept in the token row.
//!
//! Byte form, version 1 (94 bytes, big-endian integers):
//! `"KRWK" || 0x01 || m_cost_kib u32 || t_cost u32 || p u32 || salt[16] || blob[61]`
//! where `blob` = `0x01 || nonce[12] || sealed key[32] || tag[16]`. The AAD binds a domain
//! string, the token id, the PIN role, the KDF parameters and the salt.

use argon2::{Algorithm, Argon2, Block, Params, Version};
use cryptoki_sys as sys;
use zeroize::Zeroizing;

use super::{open_raw, push_field, seal_raw, OpenFailure, StorageKey, STORAGE_KEY_LEN};
use crate::error::{Error, Result};

const MAGIC: &[u8; 4] = b"KRWK";
const WRAP_VERSION: u8 = 1;
/// Salt length for the PIN KDF.
pub const SALT_LEN: usize = 16;
/// Length of the sealed storage key: format + nonce + key + tag.
const WRAP_BLOB_LEN: usize = 1 + 12 + STORAGE_KEY_LEN + 16;
/// Total length of the version-1 byte form.
const WRAPPED_LEN: usize = 4 + 1 + 12 + SALT_LEN + WRAP_BLOB_LEN;
const WRAP_DOMAIN: &[u8] = b"keyrotor/store/pin-wrap/v1";

/// Which PIN a wrapped key belongs to; bound into the AAD so the two cannot be swapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PinRole {
    /// The Security Officer PIN.
    So,
    /// The normal user PIN.
    User,
}

impl PinRole {
    fn aad_label(self) -> &'static [u8] {
        match self {
            PinRole::So => b"so",
            PinRole::User => b"user",
        }
    }
}

/// Argon2id cost parameters, stored beside each wrapped key so they can change over time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory cost in KiB.
    pub m_cost_kib: u32,
    /// Number of passes.
    pub t_cost: u32,
    /// Lanes (parallelism).
    pub p: u32,
}

impl Default for KdfParams {
    /// OWASP's Argon2id recommendation: 19 MiB, 2 passes, 1 lane.
    fn default() -> Self {
        KdfParams {
            m_cost_kib: 19456,
            t_cost: 2,
            p: 1,
        }
    }
}

impl KdfParams {
    /// Environment variable that overrides `m_cost_kib` (tests use it to make logins fast).
    /// Values below [`KdfParams::MIN_M_COST_KIB`] are raised to it; unparsable values are
    /// ignored. It weakens PIN protection: never set it in production.
    pub const ENV_MEMORY_KIB: &'static str = "KEYROTOR_KDF_MEMORY_KIB";
    /// Smallest memory cost accepted (Argon2 needs 8 KiB per lane).
    pub const MIN_M_COST_KIB: u32 = 8;
    /// Largest memory cost accepted (1 GiB): the library runs inside other processes, and a
    /// stored value is not allowed to make it allocate without bound.
    pub const MAX_M_COST_KIB: u32 = 1 << 20;
    /// Largest pass count accepted.
    pub const MAX_T_COST: u32 = 64;
    /// Largest lane count accepted.
    pub const MAX_P: u32 = 16;

    /// The defaults, with `m_cost_kib` taken from `KEYROTOR_KDF_MEMORY_KIB` when it is set.
    pub fn from_env() -> KdfParams {
        Self::from_env_value(std::env::var(Self::ENV_MEMORY_KIB).ok().as_deref())
    }

    /// [`KdfParams::from_env`] on a given value of the variable.
    fn from_env_value(raw: Option<&str>) -> KdfParams {
        let mut params = KdfParams::default();
        let Some(raw) = raw else {
            return params;
        };
        match raw.trim().parse::<u32>() {
            Ok(v) => {
                params.m_cost_kib = v.clamp(Self::MIN_M_COST_KIB, Self::MAX_M_COST_KIB);
                if params.m_cost_kib < KdfParams::default().m_cost_kib {
                    tracing::warn!(
                        m_cost_kib = params.m_cost_kib,
                        "{} lowers the PIN KDF memory cost; use it only for tests",
                        Self::ENV_MEMORY_KIB
                    );
                }
            }
            Err(_) => tracing::warn!(
                "{} is not a number of KiB; using the default KDF memory cost",
                Self::ENV_MEMORY_KIB
            ),
        }
        params
    }

    /// Checks the parameters are inside the accepted bounds.
    pub fn validate(&self) -> Result<()> {
        let ok = (1..=Self::MAX_P).contains(&self.p)
            && (1..=Self::MAX_T_COST).contains(&self.t_cost)
            && self.m_cost_kib <= Self::MAX_M_COST_KIB
            && self.m_cost_kib >= Self::MIN_M_COST_KIB.saturating_mul(self.p);
        if ok {
            Ok(())
        } else {
            Err(Error::StoreIntegrity(format!(
                "KDF parameters out of range: m_cost_kib={} t_cost={} p={}",
                self.m_cost_kib, self.t_cost, self.p
            )))
        }
    }
}

/// The storage key sealed under a PIN-derived key, with what is needed to derive it again.
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedStorageKey {
    params: KdfParams,
    salt: [u8; SALT_LEN],
    blob: [u8; WRAP_BLOB_LEN],
}

impl std::fmt::Debug for WrappedStorageKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WrappedStorageKey")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl WrappedStorageKey {
    /// The KDF parameters this key was wrapped with (callers re-wrap when defaults rise).
    pub fn kdf_params(&self) -> KdfParams {
        self.params
    }

    /// The salt used for the PIN KDF.
    pub fn salt(&self) -> &[u8; SALT_LEN] {
        &self.salt
    }

    /// The versioned byte form stored in the database.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(WRAPPED_LEN);
        out.extend_from_slice(MAGIC);
        out.push(WRAP_VERSION);
        out.extend_from_slice(&self.params.m_cost_kib.to_be_bytes());
        out.extend_from_slice(&self.params.t_cost.to_be_bytes());
        out.extend_from_slice(&self.params.p.to_be_bytes());
        out.extend_from_slice(&self.salt);
        out.extend_from_slice(&self.blob);
        out
    }

    /// Strict inverse of [`WrappedStorageKey::to_bytes`]: exact length, magic, version,
    /// in-range parameters and blob format byte, or `Error::StoreIntegrity`.
    pub fn from_bytes(bytes: &[u8]) -> Result<WrappedStorageKey> {
        let bad = |why: &str| Error::StoreIntegrity(format!("wrapped storage key: {why}"));
        if bytes.len() != WRAPPED_LEN {
            return Err(bad("wrong length"));
        }
        let (magic, rest) = bytes.split_first_chunk::<4>().ok_or_else(|| bad("short"))?;
        if magic != MAGIC {
            return Err(bad("bad magic"));
        }
        let (version, rest) = rest.split_first().ok_or_else(|| bad("short"))?;
        if *version != WRAP_VERSION {
            return Err(bad("unsupported version"));
        }
        let (m, rest) = rest.split_first_chunk::<4>().ok_or_else(|| bad("short"))?;
        let (t, rest) = rest.split_first_chunk::<4>().ok_or_else(|| bad("short"))?;
        let (p, rest) = rest.split_first_chunk::<4>().ok_or_else(|| bad("short"))?;
        let (salt, rest) = rest
            .split_first_chunk::<SALT_LEN>()
            .ok_or_else(|| bad("short"))?;
        let blob: [u8; WRAP_BLOB_LEN] = rest.try_into().map_err(|_| bad("wrong blob length"))?;
        if blob.first() != Some(&1) {
            return Err(bad("unknown blob format"));
        }
        let params = KdfParams {
            m_cost_kib: u32::from_be_bytes(*m),
            t_cost: u32::from_be_bytes(*t),
            p: u32::from_be_bytes(*p),
        };
        params.validate()?;
        Ok(WrappedStorageKey {
            params,
            salt: *salt,
            blob,
        })
    }
}

/// Argon2id(pin, salt) → 32-byte key-encryption key. The Argon2 working memory is our own
/// zeroizing buffer so no PIN-derived state is left in freed memory.
fn derive_kek(
    pin: &[u8],
    salt: &[u8; SALT_LEN],
    params: KdfParams,
) -> Result<Zeroizing<[u8; STORAGE_KEY_LEN]>> {
    params.validate()?;
    let p = Params::new(
        params.m_cost_kib,
        params.t_cost,
        params.p,
        Some(STORAGE_KEY_LEN),
    )
    .map_err(|e| Error::Crypto(format!("Argon2 parameters: {e}")))?;
    let blocks_needed = p.block_count();
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, p);
    let mut memory = Zeroizing::new(vec![Block::default(); blocks_needed]);
    let mut kek = Zeroizing::new([0u8; STORAGE_KEY_LEN]);
    argon
        .hash_password_into_with_memory(pin, salt, kek.as_mut_slice(), memory.as_mut_slice())
        .map_err(|e| Error::Crypto(format!("Argon2id failed: {e}")))?;
    Ok(kek)
}

fn wrap_aad(token_id: &str, role: PinRole, params: KdfParams, salt: &[u8; SALT_LEN]) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + token_id.len());
    out.push(WRAP_VERSION);
    push_field(&mut out, WRAP_DOMAIN);
    push_field(&mut out, token_id.as_bytes());
    push_field(&mut out, role.aad_label());
    out.extend_from_slice(&params.m_cost_kib.to_be_bytes());
    out.extend_from_slice(&params.t_cost.to_be_bytes());
    out.extend_from_slice(&params.p.to_be_bytes());
    out.extend_from_slice(salt);
    out
}

/// Seals `key` under a key derived from `pin` with a fresh random salt.
///
/// Argon2id is deliberately slow (tens of milliseconds at the defaults): async callers should
/// run this on a blocking thread.
pub fn wrap_with_pin(
    key: &StorageKey,
    pin: &[u8],
    token_id: &str,
    role: PinRole,
    params: KdfParams,
) -> Result<WrappedStorageKey> {
    let mut salt = [0u8; SALT_LEN];
    aws_lc_rs::rand::fill(&mut salt)
        .map_err(|_| Error::Crypto("random generator failed for KDF salt".into()))?;
    let kek = derive_kek(pin, &salt, params)?;
    let sealed = seal_raw(
        &kek,
        &wrap_aad(token_id, role, params, &salt),
        key.as_array(),
    )?;
    let blob: [u8; WRAP_BLOB_LEN] = sealed
        .try_into()
        .map_err(|_| Error::Internal("wrapped key has an unexpected length".into()))?;
    Ok(WrappedStorageKey { params, salt, blob })
}

/// Recovers the storage key with `pin`. A wrong PIN (or a key wrapped for another token or
/// role) is `Error::Rv(CKR_PIN_INCORRECT)`; a malformed record is `Error::StoreIntegrity`.
///
/// Slow like [`wrap_with_pin`]; run it on a blocking thread.
pub fn unwrap_with_pin(
    w: &WrappedStorageKey,
    pin: &[u8],
    token_id: &str,
    role: PinRole,
) -> Result<StorageKey> {
    let kek = derive_kek(pin, &w.salt, w.params)?;
    let aad = wrap_aad(token_id, role, w.params, &w.salt);
    let plain = open_raw(&kek, &aad, &w.blob).map_err(|e| match e {
        OpenFailure::Auth => Error::Rv(sys::CKR_PIN_INCORRECT),
        OpenFailure::Malformed(m) => Error::StoreIntegrity(format!("wrapped storage key: {m}")),
    })?;
    let bytes: &[u8; STORAGE_KEY_LEN] = plain
        .as_slice()
        .try_into()
        .map_err(|_| Error::StoreIntegrity("wrapped storage key has a wrong length".into()))?;
    Ok(StorageKey::from_array(Zeroizing::new(*bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::crypt::SealAad;

    /// Cheap parameters so tests stay fast; production uses the defaults.
    const FAST: KdfParams = KdfParams {
        m_cost_kib: 8,
        t_cost: 1,
        p: 1,
    };

    #[test]
    fn wrap_unwrap_right_and_wrong_pin() {
        let key = StorageKey::generate().unwrap();
        let w = wrap_with_pin(&key, b"1234", "tok", PinRole::User, FAST).unwrap();
        let back = unwrap_with_pin(&w, b"1234", "tok", PinRole::User).unwrap();
        assert_eq!(back.as_array(), key.as_array());
        // The recovered key opens what the original sealed.
        let aad = SealAad {
            token_id: "tok",
            object_uid: "o",
            field: "f",
        };
        let blob = key.seal(&aad, b"x").unwrap();
        assert_eq!(back.open(&aad, &blob).unwrap().as_slice(), b"x");

        for (pin, tok, role) in [
            (&b"1235"[..], "tok", PinRole::User),
            (b"", "tok", PinRole::User),
            (b"1234", "tok2", PinRole::User),
            (b"1234", "tok", PinRole::So),
        ] {
            let e = unwrap_with_pin(&w, pin, tok, role).unwrap_err();
            assert!(
                matches!(e, Error::Rv(rv) if rv == sys::CKR_PIN_INCORRECT),
                "{e}"
            );
        }
    }

    #[test]
    fn argon2id_known_answers() {
        // Expected values from the reference implementation (Debian's `argon2` CLI):
        // `echo -n password | argon2 somesaltsomesalt -id -t 2 -m 6 -p 1 -l 32` and
        // `echo -n 1234 | argon2 keyrotor-salt-16 -id -t 2 -k 8 -p 1 -l 32 -r`.
        // Pins Argon2id v1.3 with no secret and no associated data.
        let kek = derive_kek(
            b"password",
            b"somesaltsomesalt",
            KdfParams {
                m_cost_kib: 64,
                t_cost: 2,
                p: 1,
            },
        )
        .unwrap();
        assert_eq!(
            hex(kek.as_slice()),
            "1a98fba8e6394425c9bdc333a9c750aaf811df070f5fb4a5788e1cf4db5793a1"
        );
        let kek = derive_kek(
            b"1234",
            b"keyrotor-salt-16",
            KdfParams {
                m_cost_kib: 8,
                t_cost: 2,
                p: 1,
            },
        )
        .unwrap();
        assert_eq!(
            hex(kek.as_slice()),
            "6c07bf2de3ff4b82c364a359445caeb573884edc145b3f042d522688f4ea310a"
        );
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn bytes_round_trip_and_strict_parse() {
        let key = StorageKey::generate().unwrap();
        let w = wrap_with_pin(&key, b"so-pin", "tok", PinRole::So, FAST).unwrap();
        let bytes = w.to_bytes();
        assert_eq!(bytes.len(), WRAPPED_LEN);
        assert_eq!(&bytes[..5], b"KRWK\x01");
        assert_eq!(&bytes[5..9], &8u32.to_be_bytes());
        let parsed = WrappedStorageKey::from_bytes(&bytes).unwrap();
        assert_eq!(parsed, w);
        assert_eq!(parsed.kdf_params(), FAST);
        assert_eq!(
            unwrap_with_pin(&parsed, b"so-pin", "tok", PinRole::So)
                .unwrap()
                .as_array(),
            key.as_array()
        );

        // Every truncation and extension is rejected.
        for n in 0..bytes.len() {
            assert!(WrappedStorageKey::from_bytes(&bytes[..n]).is_err());
        }
        let mut long = bytes.clone();
        long.push(0);
        assert!(WrappedStorageKey::from_bytes(&long).is_err());

        let corrupt = |at: usize, v: u8| {
            let mut b = bytes.clone();
            b[at] = v;
            WrappedStorageKey::from_bytes(&b)
        };
        assert!(corrupt(0, b'X').is_err()); // magic
        assert!(corrupt(4, 2).is_err()); // version
        assert!(corrupt(5, 0xFF).is_err()); // m_cost 4 GiB+
        assert!(corrupt(12, 0).is_err()); // t_cost low byte -> t_cost 0
        assert!(corrupt(16, 0).is_err()); // p low byte -> p 0
        assert!(corrupt(33, 2).is_err()); // blob format byte

        // Flipping a salt byte parses but no longer unwraps.
        let salted = corrupt(20, bytes[20] ^ 1).unwrap();
        assert!(unwrap_with_pin(&salted, b"so-pin", "tok", PinRole::So).is_err());
        assert!(format!("{w:?}").starts_with("WrappedStorageKey { params"));
    }

    #[test]
    fn params_bounds() {
        assert!(KdfParams::default().validate().is_ok());
        assert_eq!(KdfParams::default().m_cost_kib, 19456);
        assert!(FAST.validate().is_ok());
        let bad = [
            KdfParams {
                m_cost_kib: 7,
                ..FAST
            },
            KdfParams {
                m_cost_kib: 8,
                p: 2,
                ..FAST
            },
            KdfParams { t_cost: 0, ..FAST },
            KdfParams { p: 0, ..FAST },
            KdfParams {
                m_cost_kib: KdfParams::MAX_M_COST_KIB + 1,
                ..FAST
            },
        ];
        for b in bad {
            assert!(b.validate().is_err(), "{b:?}");
            assert!(
                wrap_with_pin(&StorageKey::generate().unwrap(), b"1", "t", PinRole::So, b).is_err()
            );
        }
    }

    #[test]
    fn env_override_parsing() {
        // Tested through the pure helper: setting process environment variables while other
        // test threads run is a data race in libc.
        assert_eq!(KdfParams::from_env_value(None), KdfParams::default());
        assert_eq!(KdfParams::from_env_value(Some("3")).m_cost_kib, 8);
        assert_eq!(
            KdfParams::from_env_value(Some(" 64 ")),
            KdfParams {
                m_cost_kib: 64,
                t_cost: 2,
                p: 1
            }
        );
        assert_eq!(
            KdfParams::from_env_value(Some("99999999")).m_cost_kib,
            KdfParams::MAX_M_COST_KIB
        );
        assert_eq!(
            KdfParams::from_env_value(Some("lots")),
            KdfParams::default()
        );
        assert_eq!(KdfParams::from_env_value(Some("-5")), KdfParams::default());
    }
}
