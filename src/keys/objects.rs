//! The PKCS#11 faces of a rotating key: its *current object* (label = the
//! key's name, handle stable across rotations) and one object per version
//! (label `name@vN`), built from the stored key and version rows.

use cryptoki_sys as sys;
use sys::{CK_ATTRIBUTE_TYPE, CK_ULONG};

use super::attrs::*;
use super::lifecycle::{self, State};
use super::policy::Policy;
use crate::error::Result;
use crate::object::{Object, TemplateAttr};
use crate::store::{KeyRecord, VersionRecord};

fn ulong(v: u64) -> Vec<u8> {
    (v as CK_ULONG).to_ne_bytes().to_vec()
}

fn bool_bytes(b: bool) -> [u8; 1] {
    [u8::from(b)]
}

/// `CK_DATE` ("YYYYMMDD") of a Unix-millisecond time, UTC.
pub fn ck_date(unix_ms: i64) -> [u8; 8] {
    let days = unix_ms.div_euclid(86_400_000);
    // Civil-from-days (proleptic Gregorian), after H. Hinnant.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let s = format!("{:04}{:02}{:02}", y.clamp(0, 9999), m, d);
    let mut out = [b'0'; 8];
    out.copy_from_slice(&s.as_bytes()[..8]);
    out
}

fn secs(ms: Option<i64>) -> u64 {
    ms.map_or(0, |t| u64::try_from(t / 1000).unwrap_or(0))
}

fn set_policy_attrs(o: &mut Object, p: &Policy) -> Result<()> {
    o.set_token_attr(
        CKA_KEYROTOR_ROTATION_PERIOD,
        &ulong(p.rotation_period_s.unwrap_or(0)),
    )?;
    o.set_token_attr(CKA_KEYROTOR_GRACE_PERIOD, &ulong(p.grace_period_s))?;
    o.set_token_attr(CKA_KEYROTOR_RETENTION, &ulong(p.retention_s))?;
    o.set_token_attr(CKA_KEYROTOR_MAX_ENCRYPTIONS, &ulong(p.max_encryptions))?;
    o.set_token_attr(CKA_KEYROTOR_VALID_PERIOD, &ulong(p.valid_period_s))?;
    o.set_token_attr(
        CKA_KEYROTOR_KEEP_VERSIONS,
        &ulong(u64::from(p.keep_versions)),
    )?;
    o.set_token_attr(CKA_KEYROTOR_MANUAL_ONLY, &ulong(u64::from(p.manual_only)))
}

/// The current object: the stored attributes plus live vendor attributes.
pub fn current_object(
    key: &KeyRecord,
    policy: &Policy,
    versions: &[VersionRecord],
) -> Result<Object> {
    // Room for the live attributes below: one allocation, not a dozen.
    let mut o = Object::decode_with_room(&key.public, None, 16, 16 * 8)?;
    o.set_unique_id(&key.key_uid);
    let active = versions.iter().find(|v| v.version == key.active_version);
    o.set_token_attr(CKA_KEYROTOR_VERSION, &ulong(u64::from(key.active_version)))?;
    o.set_token_attr(CKA_KEYROTOR_STATE, &ulong(State::Active as u64))?;
    o.set_token_attr(
        CKA_KEYROTOR_NEXT_ROTATION,
        &ulong(secs(key.next_rotation_at)),
    )?;
    let enc: u64 = versions.iter().map(|v| v.encrypt_count).sum();
    let dec: u64 = versions.iter().map(|v| v.decrypt_count).sum();
    o.set_token_attr(CKA_KEYROTOR_ENCRYPTION_COUNT, &ulong(enc))?;
    o.set_token_attr(CKA_KEYROTOR_DECRYPTION_COUNT, &ulong(dec))?;
    o.set_token_attr(
        CKA_KEYROTOR_DISABLED,
        &ulong(u64::from(active.is_some_and(|v| v.held))),
    )?;
    set_policy_attrs(&mut o, policy)?;
    if let Some(t) = active.and_then(|v| v.activated_at) {
        o.set_token_attr(sys::CKA_START_DATE, &ck_date(t))?;
    }
    Ok(o)
}

/// The object of one version: label `name@vN`, `CKA_ID` + `@vN`, its own
/// unique id, dates of its active period, usage flags from its state.
pub fn version_object(
    key: &KeyRecord,
    policy: &Policy,
    current: &Object,
    v: &VersionRecord,
) -> Result<Object> {
    let suffix = format!("@v{}", v.version);
    // The label and id grow by the suffix; dates may appear.
    let mut o = current.clone_with_room(2, 2 * suffix.len() + 16);
    o.set_token_attr(sys::CKA_LABEL, format!("{}{suffix}", key.name).as_bytes())?;
    let mut id = key.ck_id.clone();
    id.extend_from_slice(suffix.as_bytes());
    o.set_token_attr(sys::CKA_ID, &id)?;
    o.set_unique_id(&v.version_uid);
    let state = State::from_u8(v.state).unwrap_or(State::Revoked);
    let usage = lifecycle::usage(state, v.held, policy);
    let allowed = |attr: CK_ATTRIBUTE_TYPE| current.bool_attr(attr);
    o.set_token_attr(
        sys::CKA_ENCRYPT,
        &bool_bytes(usage.encrypt && allowed(sys::CKA_ENCRYPT)),
    )?;
    o.set_token_attr(
        sys::CKA_DECRYPT,
        &bool_bytes(usage.decrypt && allowed(sys::CKA_DECRYPT)),
    )?;
    o.set_token_attr(CKA_KEYROTOR_VERSION, &ulong(u64::from(v.version)))?;
    o.set_token_attr(CKA_KEYROTOR_STATE, &ulong(u64::from(v.state)))?;
    o.set_token_attr(CKA_KEYROTOR_ENCRYPTION_COUNT, &ulong(v.encrypt_count))?;
    o.set_token_attr(CKA_KEYROTOR_DECRYPTION_COUNT, &ulong(v.decrypt_count))?;
    o.set_token_attr(CKA_KEYROTOR_DISABLED, &ulong(u64::from(v.held)))?;
    o.set_token_attr(CKA_KEYROTOR_NEXT_ROTATION, &ulong(0))?;
    match v.activated_at {
        Some(t) => o.set_token_attr(sys::CKA_START_DATE, &ck_date(t))?,
        None => o.set_token_attr(sys::CKA_START_DATE, &[])?,
    }
    match v.deactivated_at.or(v.compromised_at) {
        Some(t) => o.set_token_attr(sys::CKA_END_DATE, &ck_date(t))?,
        None => o.set_token_attr(sys::CKA_END_DATE, &[])?,
    }
    Ok(o)
}

/// Splits the keyrotor policy attributes out of a caller template, applying
/// them to `policy`; the rest is returned for the ordinary object rules.
pub fn take_policy_attrs(
    template: &[TemplateAttr],
    policy: &mut Policy,
) -> Result<Vec<TemplateAttr>> {
    let mut rest = Vec::with_capacity(template.len());
    for a in template {
        if !SETTABLE_POLICY.contains(&a.kind) {
            if (a.kind & !0xFFFF) == cka(0) {
                return crate::error::rv(sys::CKR_ATTRIBUTE_READ_ONLY);
            }
            rest.push(a.clone());
            continue;
        }
        let v = crate::object::ulong_from_native(&a.value)
            .map_or_else(|| crate::error::rv(sys::CKR_ATTRIBUTE_VALUE_INVALID), Ok)?;
        match a.kind {
            CKA_KEYROTOR_ROTATION_PERIOD => policy.rotation_period_s = (v > 0).then_some(v),
            CKA_KEYROTOR_GRACE_PERIOD => policy.grace_period_s = v,
            CKA_KEYROTOR_RETENTION => policy.retention_s = v,
            CKA_KEYROTOR_MAX_ENCRYPTIONS => policy.max_encryptions = v,
            CKA_KEYROTOR_VALID_PERIOD => policy.valid_period_s = v,
            CKA_KEYROTOR_KEEP_VERSIONS => {
                policy.keep_versions = u32::try_from(v).unwrap_or(u32::MAX)
            }
            _ => policy.manual_only = v != 0,
        }
    }
    policy
        .validate()
        .map_err(|_| crate::error::Error::Rv(sys::CKR_ATTRIBUTE_VALUE_INVALID))?;
    Ok(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ck_dates_are_civil_utc() {
        assert_eq!(&ck_date(0), b"19700101");
        assert_eq!(&ck_date(951_782_400_000), b"20000229");
        assert_eq!(&ck_date(1_798_761_599_000), b"20261231");
    }
}
