//! Administrative actions on rotating keys, shared by the PKCS#11 path
//! (`C_GenerateKey`, `C_DestroyObject`, `C_SetAttributeValue`) and the
//! `keyrotor` CLI. Each is one store transaction with its audit entry,
//! followed by a reload so this process sees the result at once.

use std::sync::Arc;

use cryptoki_sys as sys;
use serde_json::json;
use zeroize::Zeroizing;

use super::clock;
use super::lifecycle::{self, State};
use super::manager::{self, Reason};
use super::policy::Policy;
use crate::error::{rv, Error, Result};
use crate::object::Object;
use crate::store::{KeyRecord, VersionRecord};
use crate::token::slot::{KeyRing, Slot};

/// The key called `name`.
pub fn find(slot: &Slot, name: &str) -> Result<Arc<KeyRing>> {
    slot.rings()
        .into_iter()
        .find(|r| r.key.name == name)
        .map_or_else(
            || {
                Err(Error::Config(format!(
                    "no key named {name:?} in slot {}",
                    slot.id
                )))
            },
            Ok,
        )
}

/// Creates a rotating key at version 1 from a generated `object` (its
/// secret value still attached) and returns the key's uid.
pub async fn create(slot: Arc<Slot>, mut object: Object, policy: Policy) -> Result<String> {
    policy.validate()?;
    let mut name = String::from_utf8(object.label().to_vec())
        .map_err(|_| Error::Rv(sys::CKR_ATTRIBUTE_VALUE_INVALID))?;
    if name.contains('@') {
        // `@` separates a key's name from its version in version labels.
        return rv(sys::CKR_ATTRIBUTE_VALUE_INVALID);
    }
    let key_uid = manager::new_uid()?;
    if name.is_empty() {
        // A rotating key needs a name; an unlabelled one gets one from its id.
        name = format!("key-{}", &key_uid[..8]);
        object.set_token_attr(sys::CKA_LABEL, name.as_bytes())?;
    }
    // A duplicate name is refused by the store's unique index
    // (CKR_ATTRIBUTE_VALUE_INVALID), atomically across processes.
    let version_uid = manager::new_uid()?;
    let secret = match (&slot.backend, object.secret_value()) {
        // On a device slot the key is made inside the device instead.
        (Some(_), _) => slot.new_version_secret(
            &manager::device_label(&name, 1),
            manager::device_id(&key_uid, 1).as_bytes(),
            object.value_len().unwrap_or(32),
        )?,
        (None, Some(v)) => Zeroizing::new(v.to_vec()),
        (None, None) => return rv(sys::CKR_GENERAL_ERROR),
    };
    let sealed = slot.seal(&version_uid, &secret)?;
    object.drop_secret();
    object.set_unique_id(&key_uid);
    let ck_id = match object.get(sys::CKA_ID) {
        crate::object::AttrRead::Value(v) => v.to_vec(),
        _ => Vec::new(),
    };
    let now = clock::now_ms();
    let key = KeyRecord {
        key_uid: key_uid.clone(),
        name: name.clone(),
        ck_id,
        public: object.encode_public(),
        policy: policy.to_json(),
        active_version: 1,
        next_rotation_at: policy.next_rotation(now),
        created_at: now,
        updated_at: now,
    };
    let v1 = VersionRecord {
        key_uid: key_uid.clone(),
        version: 1,
        version_uid,
        state: State::Active as u8,
        held: false,
        created_at: now,
        activated_at: Some(now),
        deactivated_at: None,
        grace_at: None,
        revoked_at: None,
        destroyed_at: None,
        compromised_at: None,
        sealed: Some(sealed),
        encrypt_count: 0,
        decrypt_count: 0,
        iv_reserved: 0,
    };
    let audit = slot.draft("key.created", Some(&name), Some(1), json!({ "policy": serde_json::from_str::<serde_json::Value>(&key.policy).unwrap_or_default() }));
    let (stored_key, stored_v1) = (key.clone(), v1.clone());
    slot.clone()
        .write_key(move |s| async move { s.create_key(&stored_key, &stored_v1, &audit).await })
        .await?;
    slot.apply_key(key, vec![v1])?;
    Ok(key_uid)
}

/// Rotates `name` now; returns the new Active version.
pub async fn rotate_now(slot: Arc<Slot>, name: String, reason: Reason) -> Result<u32> {
    slot.clone().refresh().await?;
    let ring = find(&slot, &name)?;
    let now = clock::now_ms();
    if !manager::rotate(&slot, &ring.key, &ring.versions, &ring.policy, now, reason).await? {
        return Err(Error::Store(format!(
            "{name}: another process rotated it at the same moment; try again"
        )));
    }
    slot.clone().refresh().await?;
    Ok(find(&slot, &name)?.key.active_version)
}

fn version_of(ring: &KeyRing, version: u32) -> Result<&VersionRecord> {
    ring.versions
        .iter()
        .find(|v| v.version == version)
        .map_or_else(
            || {
                Err(Error::Config(format!(
                    "{} has no version {version}",
                    ring.key.name
                )))
            },
            Ok,
        )
}

async fn write_versions(
    slot: Arc<Slot>,
    ring: &KeyRing,
    rows: Vec<VersionRecord>,
    event: &str,
    detail: serde_json::Value,
) -> Result<()> {
    let audits: Vec<_> = rows
        .iter()
        .map(|r| slot.draft(event, Some(&ring.key.name), Some(r.version), detail.clone()))
        .collect();
    let uid = ring.key.key_uid.clone();
    let stored = rows.clone();
    slot.clone()
        .write_key(move |s| async move { s.update_versions(&uid, &stored, &audits).await })
        .await?;
    let versions = ring
        .versions
        .iter()
        .map(|v| {
            rows.iter()
                .find(|r| r.version == v.version)
                .unwrap_or(v)
                .clone()
        })
        .collect();
    slot.apply_key(ring.key.clone(), versions)
}

/// Marks a version compromised. The Active version (or no version given)
/// triggers an emergency rotation first so encryption never stops.
pub async fn compromise(slot: Arc<Slot>, name: String, version: Option<u32>) -> Result<u32> {
    slot.clone().refresh().await?;
    let ring = find(&slot, &name)?;
    let v = version.unwrap_or(ring.key.active_version);
    if v == ring.key.active_version {
        return rotate_now(slot, name, Reason::Compromise).await;
    }
    let mut row = version_of(&ring, v)?.clone();
    if row.state == State::Destroyed as u8 {
        return Err(Error::Config(format!("{name} v{v} is destroyed already")));
    }
    lifecycle::apply(&mut row, State::Compromised, clock::now_ms());
    write_versions(slot, &ring, vec![row], "version.compromised", json!({})).await?;
    Ok(v)
}

/// Puts an administrative hold on (or lifts it from) one version, or every
/// version when none is named.
pub async fn set_hold(
    slot: Arc<Slot>,
    name: String,
    version: Option<u32>,
    held: bool,
) -> Result<()> {
    slot.clone().refresh().await?;
    let ring = find(&slot, &name)?;
    let rows: Vec<VersionRecord> = match version {
        Some(v) => vec![version_of(&ring, v)?.clone()],
        None => ring
            .versions
            .iter()
            .filter(|v| v.state != State::Destroyed as u8)
            .cloned()
            .collect(),
    }
    .into_iter()
    .map(|mut r| {
        r.held = held;
        r
    })
    .collect();
    let event = if held {
        "version.disabled"
    } else {
        "version.enabled"
    };
    write_versions(slot, &ring, rows, event, json!({})).await
}

/// Destroys one version (never the Active one) — crypto-erasure of its
/// material — or, with no version, the whole key.
pub async fn destroy(slot: Arc<Slot>, name: String, version: Option<u32>) -> Result<()> {
    slot.clone().refresh().await?;
    let ring = find(&slot, &name)?;
    let Some(v) = version else {
        for row in &ring.versions {
            slot.erase_in_device(row)?;
        }
        let audit = slot.draft(
            "key.destroyed",
            Some(&name),
            None,
            json!({ "versions": ring.versions.len() }),
        );
        let uid = ring.key.key_uid.clone();
        slot.clone()
            .write_key(move |s| async move { s.delete_key(&uid, &audit).await })
            .await?;
        slot.drop_key(&ring.key.key_uid);
        return Ok(());
    };
    if v == ring.key.active_version {
        return Err(Error::Rv(sys::CKR_ACTION_PROHIBITED));
    }
    let mut row = version_of(&ring, v)?.clone();
    slot.erase_in_device(&row)?;
    lifecycle::apply(&mut row, State::Destroyed, clock::now_ms());
    write_versions(
        slot,
        &ring,
        vec![row],
        "version.destroyed",
        json!({ "by": "administrator" }),
    )
    .await
}

/// Marks a Valid version re-encrypted: it moves on to Grace.
pub async fn retire(slot: Arc<Slot>, name: String, version: u32) -> Result<()> {
    slot.clone().refresh().await?;
    let ring = find(&slot, &name)?;
    let mut row = version_of(&ring, version)?.clone();
    if row.state != State::Valid as u8 {
        return Err(Error::Config(format!(
            "{name} v{version} is not Valid; only Valid versions can be retired"
        )));
    }
    lifecycle::apply(&mut row, State::Grace, clock::now_ms());
    write_versions(
        slot,
        &ring,
        vec![row],
        "version.state",
        json!({ "from": "valid", "to": "grace", "by": "re-encrypted" }),
    )
    .await
}

/// Changes a key's policy (and its next rotation time to match).
pub async fn set_policy(slot: Arc<Slot>, name: String, policy: Policy) -> Result<()> {
    policy.validate()?;
    slot.clone().refresh().await?;
    let ring = find(&slot, &name)?;
    let mut key = ring.key.clone();
    let activated = ring
        .versions
        .iter()
        .find(|v| v.version == key.active_version)
        .and_then(|v| v.activated_at)
        .unwrap_or(key.created_at);
    key.policy = policy.to_json();
    key.next_rotation_at = policy.next_rotation(activated);
    key.updated_at = clock::now_ms();
    let audit = slot.draft(
        "policy.changed",
        Some(&name),
        None,
        serde_json::from_str(&key.policy).unwrap_or_default(),
    );
    let stored = key.clone();
    slot.clone()
        .write_key(move |s| async move { s.update_key(&stored, &audit).await })
        .await?;
    slot.apply_key(key, ring.versions.clone())
}

/// Replaces the stored attributes of a key's current object.
pub async fn set_public(
    slot: Arc<Slot>,
    key_uid: String,
    public: Vec<u8>,
    policy: Option<Policy>,
) -> Result<()> {
    let ring = slot.ring(&key_uid)?;
    let mut key = ring.key.clone();
    key.public = public;
    if let Some(p) = policy {
        p.validate()?;
        let activated = ring
            .versions
            .iter()
            .find(|v| v.version == key.active_version)
            .and_then(|v| v.activated_at)
            .unwrap_or(key.created_at);
        key.next_rotation_at = p.next_rotation(activated);
        key.policy = p.to_json();
    }
    key.updated_at = clock::now_ms();
    let audit = slot.draft(
        "policy.changed",
        Some(&key.name),
        None,
        json!({ "via": "C_SetAttributeValue" }),
    );
    let stored = key.clone();
    slot.clone()
        .write_key(move |s| async move { s.update_key(&stored, &audit).await })
        .await?;
    slot.apply_key(key, ring.versions.clone())
}

/// Creates a rotating AES key called `name` of `len` bytes with the
/// defaults a security team expects from an HSM: private, sensitive, never
/// extractable, encrypt and decrypt only.
pub async fn create_named(
    slot: Arc<Slot>,
    name: String,
    len: usize,
    id: Vec<u8>,
    policy: Policy,
) -> Result<String> {
    use crate::object::{Origin, TemplateAttr};
    let t = vec![
        TemplateAttr::ulong(sys::CKA_CLASS, sys::CKO_SECRET_KEY),
        TemplateAttr::ulong(sys::CKA_KEY_TYPE, sys::CKK_AES),
        TemplateAttr::bool(sys::CKA_TOKEN, true),
        TemplateAttr::bool(sys::CKA_PRIVATE, true),
        TemplateAttr::bool(sys::CKA_SENSITIVE, true),
        TemplateAttr::bool(sys::CKA_EXTRACTABLE, false),
        TemplateAttr::bool(sys::CKA_ENCRYPT, true),
        TemplateAttr::bool(sys::CKA_DECRYPT, true),
        TemplateAttr::bool(sys::CKA_SIGN, false),
        TemplateAttr::bool(sys::CKA_VERIFY, false),
        TemplateAttr::bool(sys::CKA_WRAP, false),
        TemplateAttr::bool(sys::CKA_UNWRAP, false),
        TemplateAttr::bytes(sys::CKA_LABEL, name.as_bytes()),
        TemplateAttr::bytes(sys::CKA_ID, &id),
        TemplateAttr::ulong(sys::CKA_VALUE_LEN, len as sys::CK_ULONG),
    ];
    let mut secret = Zeroizing::new(vec![0u8; len]);
    crate::mech::primitives::rng::fill(&mut secret)?;
    let origin = Origin::Generate {
        mechanism: sys::CKM_AES_KEY_GEN,
        key_type: sys::CKK_AES,
    };
    let object = Object::from_template(&t, origin, Some(secret), false)?;
    create(slot, object, policy).await
}
