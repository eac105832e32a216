//! The rotation and retention options shared by `key create` and
//! `policy set`, how they change a [`Policy`], and how a policy reads in
//! a table and in JSON.

use clap::{Args, ValueEnum};

use super::error::{CliError, CliResult};
use super::format;
use crate::keys::policy::{CompromisedDecrypt, Policy};

/// A value that may also be cleared with `none`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Setting<T> {
    /// `none` / `off`: remove the rule.
    Clear,
    /// Set the rule to this.
    Set(T),
}

impl<T: Clone> Setting<T> {
    fn into_option(self) -> Option<T> {
        match self {
            Setting::Clear => None,
            Setting::Set(v) => Some(v),
        }
    }
}

/// A duration in seconds, as `parse_duration` reads it.
fn duration_secs(s: &str) -> Result<u64, String> {
    crate::config::parse_duration(s).map(|d| d.as_secs())
}

/// A duration that `none` or `off` clears.
fn optional_duration(s: &str) -> Result<Setting<u64>, String> {
    match s {
        "none" | "off" => Ok(Setting::Clear),
        _ => duration_secs(s).map(Setting::Set),
    }
}

/// A cron expression that `none` or `off` clears (checked by the policy).
fn optional_cron(s: &str) -> Result<Setting<String>, String> {
    match s {
        "none" | "off" => Ok(Setting::Clear),
        _ => Ok(Setting::Set(s.to_string())),
    }
}

/// What a compromised version may still decrypt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CompromisedArg {
    /// Nothing.
    Never,
    /// Only the rewrap mechanism, to move data to a safe version.
    RewrapOnly,
}

/// Rotation and retention options; every one is optional and changes only
/// its own field of the policy.
#[derive(Args, Clone, Debug, Default)]
pub struct PolicyArgs {
    /// Rotate the Active version this long after activation, e.g. 90d; `none` for no period.
    #[arg(long, value_name = "DURATION", value_parser = optional_duration)]
    pub rotation_period: Option<Setting<u64>>,
    /// How long a replaced version stays Valid before its grace period.
    #[arg(long = "valid", value_name = "DURATION", value_parser = duration_secs)]
    pub valid: Option<u64>,
    /// How long a version stays in Grace (still decrypting) before it is revoked.
    #[arg(long = "grace", value_name = "DURATION", value_parser = duration_secs)]
    pub grace: Option<u64>,
    /// Minimum time a revoked version is kept before it is destroyed.
    #[arg(long, value_name = "DURATION", value_parser = duration_secs)]
    pub retention: Option<u64>,
    /// Rotate once the Active version has encrypted this many messages (at most 2^32).
    #[arg(long, value_name = "N")]
    pub max_encryptions: Option<u64>,
    /// Never destroy the newest N versions.
    #[arg(long, value_name = "N")]
    pub keep_versions: Option<u32>,
    /// No automatic rotation (manual and emergency only); `--manual-only=false` turns it off.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub manual_only: Option<bool>,
    /// Rotate on a cron schedule (UTC, 5 fields or @daily); `none` removes it.
    #[arg(long, value_name = "EXPR", value_parser = optional_cron)]
    pub cron: Option<Setting<String>>,
    /// Active versions expire this long after activation; `none` for no expiry.
    #[arg(long, value_name = "DURATION", value_parser = optional_duration)]
    pub lifetime: Option<Setting<u64>>,
    /// With --lifetime: rotate this long before the Active version expires.
    #[arg(long, value_name = "DURATION", value_parser = optional_duration)]
    pub rotate_before: Option<Setting<u64>>,
    /// Valid versions leave Valid only through `keyrotor key retire`; `=false` turns it off.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub keep_until_reencrypted: Option<bool>,
    /// What a compromised version may still decrypt.
    #[arg(long, value_enum, value_name = "WHAT")]
    pub compromised_decrypt: Option<CompromisedArg>,
}

impl PolicyArgs {
    /// True when no option was given.
    pub fn is_empty(&self) -> bool {
        self.rotation_period.is_none()
            && self.valid.is_none()
            && self.grace.is_none()
            && self.retention.is_none()
            && self.max_encryptions.is_none()
            && self.keep_versions.is_none()
            && self.manual_only.is_none()
            && self.cron.is_none()
            && self.lifetime.is_none()
            && self.rotate_before.is_none()
            && self.keep_until_reencrypted.is_none()
            && self.compromised_decrypt.is_none()
    }

    /// `base` with the given options applied, checked for sense.
    pub fn apply(&self, base: &Policy) -> CliResult<Policy> {
        let mut p = base.clone();
        if let Some(v) = &self.rotation_period {
            p.rotation_period_s = v.clone().into_option();
        }
        if let Some(v) = self.valid {
            p.valid_period_s = v;
        }
        if let Some(v) = self.grace {
            p.grace_period_s = v;
        }
        if let Some(v) = self.retention {
            p.retention_s = v;
        }
        if let Some(v) = self.max_encryptions {
            p.max_encryptions = v;
        }
        if let Some(v) = self.keep_versions {
            p.keep_versions = v;
        }
        if let Some(v) = self.manual_only {
            p.manual_only = v;
        }
        if let Some(v) = &self.cron {
            p.cron = v.clone().into_option();
        }
        if let Some(v) = &self.lifetime {
            p.lifetime_s = v.clone().into_option();
            if p.lifetime_s.is_none() {
                // Without a lifetime there is nothing to rotate before.
                p.rotate_before_expiry_s = None;
            }
        }
        if let Some(v) = &self.rotate_before {
            p.rotate_before_expiry_s = v.clone().into_option();
        }
        if let Some(v) = self.keep_until_reencrypted {
            p.keep_until_reencrypted = v;
        }
        if let Some(v) = self.compromised_decrypt {
            p.compromised_decrypt = match v {
                CompromisedArg::Never => CompromisedDecrypt::Never,
                CompromisedArg::RewrapOnly => CompromisedDecrypt::RewrapOnly,
            };
        }
        if p.rotate_before_expiry_s.is_some() && p.lifetime_s.is_none() {
            return Err(CliError::Usage("--rotate-before needs a --lifetime".into()));
        }
        p.validate().map_err(CliError::from)?;
        Ok(p)
    }
}

/// The policy as `(field, value)` lines for humans.
pub fn describe(p: &Policy) -> Vec<(&'static str, String)> {
    let opt = |v: Option<u64>| v.map_or_else(|| "none".to_string(), format::secs);
    vec![
        ("rotation period", opt(p.rotation_period_s)),
        ("lifetime", opt(p.lifetime_s)),
        ("rotate before expiry", opt(p.rotate_before_expiry_s)),
        ("cron", p.cron.clone().unwrap_or_else(|| "none".into())),
        ("max encryptions", p.max_encryptions.to_string()),
        ("manual only", p.manual_only.to_string()),
        ("valid period", format::secs(p.valid_period_s)),
        ("grace period", format::secs(p.grace_period_s)),
        ("retention", format::secs(p.retention_s)),
        ("keep versions", p.keep_versions.to_string()),
        (
            "keep until re-encrypted",
            p.keep_until_reencrypted.to_string(),
        ),
        (
            "compromised decrypt",
            match p.compromised_decrypt {
                CompromisedDecrypt::Never => "never".into(),
                CompromisedDecrypt::RewrapOnly => "rewrap-only".into(),
            },
        ),
    ]
}

/// The policy as JSON (durations in seconds, as stored).
pub fn to_json(p: &Policy) -> serde_json::Value {
    serde_json::to_value(p).unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        p: PolicyArgs,
    }

    fn parse(args: &[&str]) -> PolicyArgs {
        let mut all = vec!["t"];
        all.extend_from_slice(args);
        T::try_parse_from(all)
            .map(|t| t.p)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn options_change_only_their_fields() {
        let a = parse(&[
            "--rotation-period",
            "7d",
            "--grace",
            "2h",
            "--manual-only",
            "--keep-versions",
            "3",
        ]);
        let p = a.apply(&Policy::default()).expect("valid");
        assert_eq!(p.rotation_period_s, Some(7 * 86_400));
        assert_eq!(p.grace_period_s, 7_200);
        assert!(p.manual_only);
        assert_eq!(p.keep_versions, 3);
        assert_eq!(p.retention_s, Policy::default().retention_s);
        assert!(parse(&[]).is_empty());
    }

    #[test]
    fn none_clears_and_false_turns_off() {
        let base = Policy {
            manual_only: true,
            cron: Some("@daily".into()),
            ..Policy::default()
        };
        let a = parse(&[
            "--rotation-period",
            "none",
            "--manual-only=false",
            "--cron",
            "none",
        ]);
        let p = a.apply(&base).expect("valid");
        assert_eq!(p.rotation_period_s, None);
        assert!(!p.manual_only);
        assert_eq!(p.cron, None);
    }

    #[test]
    fn nonsense_is_a_usage_error() {
        let rb = parse(&["--rotate-before", "1d"]).apply(&Policy::default());
        assert!(matches!(rb, Err(CliError::Usage(m)) if m.contains("--lifetime")));
        let longer =
            parse(&["--lifetime", "1d", "--rotate-before", "2d"]).apply(&Policy::default());
        assert!(matches!(longer, Err(CliError::Usage(_))));
        let zero = parse(&["--max-encryptions", "0"]).apply(&Policy::default());
        assert!(matches!(zero, Err(CliError::Usage(_))));
        assert!(T::try_parse_from(["t", "--grace", "30 days"]).is_err());
        let p = parse(&["--lifetime", "30d", "--rotate-before", "7d"])
            .apply(&Policy::default())
            .expect("valid");
        assert_eq!(p.lifetime_s, Some(30 * 86_400));
        assert_eq!(
            describe(&p)
                .iter()
                .find(|(k, _)| *k == "lifetime")
                .map(|(_, v)| v.as_str()),
            Some("30d")
        );
        assert_eq!(to_json(&p)["rotate_before_expiry_s"], 7 * 86_400);
    }
}
