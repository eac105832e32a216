//! A rotating key's rotation and retention policy, stored as JSON with the
//! key and exposed through vendor attributes and the CLI.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// AES-GCM with random or deterministic 96-bit IVs must not see more than
/// 2^32 messages under one key (NIST SP 800-38D); rotate well before.
pub const DEFAULT_MAX_ENCRYPTIONS: u64 = 1 << 31;

const DAY: u64 = 86_400;

/// What a compromised version may still do.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum CompromisedDecrypt {
    /// Nothing: data under it is lost unless re-encrypted beforehand.
    Never,
    /// Only the rewrap mechanism may decrypt, to move data to a safe version.
    #[default]
    RewrapOnly,
}

/// Rotation and retention rules of one key. Durations are seconds.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Rotate this long after the Active version was activated.
    pub rotation_period_s: Option<u64>,
    /// Active versions expire this long after activation (their `CKA_END_DATE`).
    pub lifetime_s: Option<u64>,
    /// With a lifetime: rotate this long before the Active version expires.
    pub rotate_before_expiry_s: Option<u64>,
    /// Rotate on this cron schedule (UTC, 5 fields or @daily-style macros).
    pub cron: Option<String>,
    /// Rotate once the Active version has encrypted this many messages.
    pub max_encryptions: u64,
    /// No automatic rotation at all (manual and emergency only).
    pub manual_only: bool,
    /// How long a replaced version stays Valid before its grace period.
    pub valid_period_s: u64,
    /// How long a version stays in Grace (still decrypting) before Revoked.
    pub grace_period_s: u64,
    /// Minimum time a Revoked version is kept before it is destroyed.
    pub retention_s: u64,
    /// The newest this-many versions are never destroyed.
    pub keep_versions: u32,
    /// Valid versions leave Valid only when an operator marks them
    /// re-encrypted (`keyrotor key retire`), never by time.
    pub keep_until_reencrypted: bool,
    /// What compromised versions may still decrypt.
    pub compromised_decrypt: CompromisedDecrypt,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            rotation_period_s: Some(90 * DAY),
            lifetime_s: None,
            rotate_before_expiry_s: None,
            cron: None,
            max_encryptions: DEFAULT_MAX_ENCRYPTIONS,
            manual_only: false,
            valid_period_s: 30 * DAY,
            grace_period_s: 30 * DAY,
            retention_s: 365 * DAY,
            keep_versions: 2,
            keep_until_reencrypted: false,
            compromised_decrypt: CompromisedDecrypt::RewrapOnly,
        }
    }
}

impl Policy {
    /// Parses the stored JSON form.
    pub fn from_json(s: &str) -> Result<Policy> {
        serde_json::from_str(s).map_err(|e| Error::StoreIntegrity(format!("key policy: {e}")))
    }

    /// The stored JSON form.
    pub fn to_json(&self) -> String {
        // Serialising plain fields cannot fail; fall back to the defaults' form anyway.
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_string())
    }

    /// Checks the rules make sense together.
    pub fn validate(&self) -> Result<()> {
        if self.max_encryptions == 0 || self.max_encryptions > 1 << 32 {
            return Err(Error::Config(
                "max_encryptions must be 1..=2^32 (AES-GCM's limit per key)".into(),
            ));
        }
        if let (Some(l), Some(b)) = (self.lifetime_s, self.rotate_before_expiry_s) {
            if b >= l {
                return Err(Error::Config(
                    "rotate_before_expiry must be shorter than the lifetime".into(),
                ));
            }
        }
        if self.rotation_period_s == Some(0) || self.lifetime_s == Some(0) {
            return Err(Error::Config(
                "rotation periods must be longer than zero".into(),
            ));
        }
        if let Some(c) = &self.cron {
            super::cron::CronSchedule::parse(c).map_err(|e| Error::Config(format!("cron: {e}")))?;
        }
        Ok(())
    }

    /// When a version activated at `activated_ms` is due for rotation by
    /// time (period, expiry or cron), if ever.
    pub fn next_rotation(&self, activated_ms: i64) -> Option<i64> {
        if self.manual_only {
            return None;
        }
        let secs = |s: u64| {
            i64::try_from(s)
                .unwrap_or(i64::MAX / 2000)
                .saturating_mul(1000)
        };
        let mut due: Option<i64> = None;
        let mut consider = |t: i64| due = Some(due.map_or(t, |d| d.min(t)));
        if let Some(p) = self.rotation_period_s {
            consider(activated_ms.saturating_add(secs(p)));
        }
        if let Some(l) = self.lifetime_s {
            let before = self.rotate_before_expiry_s.unwrap_or(0);
            consider(activated_ms.saturating_add(secs(l.saturating_sub(before))));
        }
        if let Some(c) = self
            .cron
            .as_deref()
            .and_then(|c| super::cron::CronSchedule::parse(c).ok())
        {
            if let Some(t) = c.next_after(activated_ms) {
                consider(t);
            }
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_and_unknown_fields_rejected() {
        let p = Policy {
            rotation_period_s: Some(2),
            grace_period_s: 5,
            ..Policy::default()
        };
        assert_eq!(Policy::from_json(&p.to_json()).expect("parses"), p);
        assert!(Policy::from_json(r#"{"rotation_period":1}"#).is_err());
    }

    #[test]
    fn next_rotation_takes_the_earliest_rule() {
        let p = Policy {
            rotation_period_s: Some(100),
            lifetime_s: Some(60),
            rotate_before_expiry_s: Some(10),
            ..Policy::default()
        };
        assert_eq!(p.next_rotation(1_000), Some(51_000));
        let manual = Policy {
            manual_only: true,
            ..p
        };
        assert_eq!(manual.next_rotation(1_000), None);
    }

    #[test]
    fn validation_catches_nonsense() {
        assert!(Policy {
            max_encryptions: 0,
            ..Policy::default()
        }
        .validate()
        .is_err());
        assert!(Policy {
            max_encryptions: (1 << 32) + 1,
            ..Policy::default()
        }
        .validate()
        .is_err());
        assert!(Policy::default().validate().is_ok());
    }
}
