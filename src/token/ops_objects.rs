//! Object operations: create, copy, destroy, attributes, find, key
//! generation, wrapping and unwrapping.

use std::sync::Arc;

use cryptoki_sys as sys;
use sys::{CK_ATTRIBUTE_TYPE, CK_OBJECT_HANDLE, CK_SESSION_HANDLE};
use zeroize::Zeroizing;

use super::handles;
use super::library::Library;
use super::objects::{ObjectEntry, RotRef};
use super::output::Output;
use super::session::{FindState, Session};
use super::slot::Slot;
use crate::error::{rv, Result};
use crate::keys::admin;
use crate::keys::attrs::{CKA_KEYROTOR_DECRYPTION_COUNT, CKA_KEYROTOR_ENCRYPTION_COUNT};
use crate::keys::objects::take_policy_attrs;
use crate::keys::policy::Policy;
use crate::mech::primitives::{key_wrap, rng};
use crate::mech::Mechanism;
use crate::object::{self, AttrRead, Object, Origin, TemplateAttr};

/// One attribute of a `C_GetAttributeValue` answer.
pub enum AttrAnswer {
    /// The value, in native C layout.
    Value(Zeroizing<Vec<u8>>),
    /// The value exists but may not be revealed.
    Sensitive,
    /// The object has no such attribute.
    Invalid,
}

/// Facts about the calling session, read under its lock and then released.
struct Caller {
    slot: Arc<Slot>,
    rw: bool,
    user: bool,
    so: bool,
}

fn caller(lib: &Library, h: CK_SESSION_HANDLE) -> Result<Caller> {
    lib.with_session(h, |s| {
        Ok(Caller {
            slot: s.slot.clone(),
            rw: s.rw,
            user: s.user_logged_in(),
            so: s.so_logged_in(),
        })
    })
}

/// A fresh `CKA_UNIQUE_ID`.
fn new_uid() -> Result<String> {
    let bytes = rng::random_array::<16>()?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The visible entry `oh`, or `CKR_OBJECT_HANDLE_INVALID`.
fn visible(c: &Caller, oh: CK_OBJECT_HANDLE) -> Result<Arc<ObjectEntry>> {
    match c.slot.objects.get(oh) {
        Some(e) if !e.object.is_private() || c.user => Ok(e),
        _ => rv(sys::CKR_OBJECT_HANDLE_INVALID),
    }
}

fn template_has(t: &[TemplateAttr], kind: CK_ATTRIBUTE_TYPE) -> bool {
    t.iter().any(|a| a.kind == kind)
}

impl Library {
    /// Stores a new object (token or session) and returns its handle.
    fn add_object(
        &self,
        c: &Caller,
        session: CK_SESSION_HANDLE,
        mut obj: Object,
    ) -> Result<CK_OBJECT_HANDLE> {
        if obj.is_token() && !c.rw {
            return rv(sys::CKR_SESSION_READ_ONLY);
        }
        if obj.is_private() && !c.user {
            return rv(sys::CKR_USER_NOT_LOGGED_IN);
        }
        let uid = new_uid()?;
        obj.set_unique_id(&uid);
        let handle = handles::next_object();
        if obj.is_token() {
            c.slot.persist_new(handle, obj, uid)?;
        } else {
            c.slot
                .objects
                .insert(ObjectEntry::new(handle, obj, uid, Some(session), None));
        }
        Ok(handle)
    }

    /// `C_CreateObject`.
    pub fn create_object(
        &self,
        h: CK_SESSION_HANDLE,
        template: &[TemplateAttr],
    ) -> Result<CK_OBJECT_HANDLE> {
        self.lazy_tick(h);
        let c = caller(self, h)?;
        let mut policy = default_policy(&c.slot);
        let t = take_policy_attrs(template, &mut policy)?;
        let has_policy = t.len() != template.len();
        let obj = Object::from_template(&t, Origin::Create, None, c.so)?;
        self.store_new(&c, h, obj, policy, has_policy)
    }

    /// `C_CopyObject`.
    pub fn copy_object(
        &self,
        h: CK_SESSION_HANDLE,
        oh: CK_OBJECT_HANDLE,
        template: &[TemplateAttr],
    ) -> Result<CK_OBJECT_HANDLE> {
        let c = caller(self, h)?;
        let e = visible(&c, oh)?;
        if e.rot.is_some() {
            // Faces of a rotating key are views of its versions, not copyable keys.
            return rv(sys::CKR_ACTION_PROHIBITED);
        }
        let source = with_secret(&c.slot, &e)?;
        let mut policy = default_policy(&c.slot);
        let t = take_policy_attrs(template, &mut policy)?;
        let has_policy = t.len() != template.len();
        let obj = source.copy_with(&t, c.so)?;
        self.store_new(&c, h, obj, policy, has_policy)
    }

    /// `C_DestroyObject`.
    pub fn destroy_object(&self, h: CK_SESSION_HANDLE, oh: CK_OBJECT_HANDLE) -> Result<()> {
        let c = caller(self, h)?;
        let e = visible(&c, oh)?;
        if !e.object.is_destroyable() {
            return rv(sys::CKR_ACTION_PROHIBITED);
        }
        if let Some(r) = &e.rot {
            if !c.rw {
                return rv(sys::CKR_SESSION_READ_ONLY);
            }
            let name = c.slot.ring(&r.key_uid)?.key.name.clone();
            let version = r.version;
            return c.slot.run(move |s| admin::destroy(s, name, version));
        }
        if e.owner.is_none() {
            if !c.rw {
                return rv(sys::CKR_SESSION_READ_ONLY);
            }
            c.slot.persist_delete(&e)
        } else {
            c.slot.objects.remove(oh);
            Ok(())
        }
    }

    /// `C_GetObjectSize`.
    pub fn object_size(&self, h: CK_SESSION_HANDLE, oh: CK_OBJECT_HANDLE) -> Result<usize> {
        let c = caller(self, h)?;
        Ok(visible(&c, oh)?.object.size_estimate())
    }

    /// `C_GetAttributeValue`: one answer per requested attribute.
    pub fn get_attributes(
        &self,
        h: CK_SESSION_HANDLE,
        oh: CK_OBJECT_HANDLE,
        kinds: &[CK_ATTRIBUTE_TYPE],
    ) -> Result<Vec<AttrAnswer>> {
        let c = caller(self, h)?;
        let e = visible(&c, oh)?;
        kinds
            .iter()
            .map(|&kind| {
                if let (Some(r), true) = (&e.rot, is_count(kind)) {
                    let (enc, dec) = c.slot.live_counts(&r.key_uid, r.version);
                    let n = if kind == CKA_KEYROTOR_ENCRYPTION_COUNT {
                        enc
                    } else {
                        dec
                    };
                    return Ok(AttrAnswer::Value(Zeroizing::new(
                        (n as sys::CK_ULONG).to_ne_bytes().to_vec(),
                    )));
                }
                if kind == sys::CKA_VALUE && e.has_secret() {
                    // The value may still be sealed; the hidden rule decides first.
                    if e.object.class() == sys::CKO_SECRET_KEY && e.object.is_value_hidden() {
                        return Ok(AttrAnswer::Sensitive);
                    }
                    return Ok(AttrAnswer::Value(Zeroizing::new(
                        c.slot.material(&e)?.raw()?.to_vec(),
                    )));
                }
                Ok(match e.object.get(kind) {
                    AttrRead::Sensitive => AttrAnswer::Sensitive,
                    AttrRead::Value(v) => AttrAnswer::Value(Zeroizing::new(v.to_vec())),
                    AttrRead::Invalid => AttrAnswer::Invalid,
                })
            })
            .collect()
    }

    /// `C_SetAttributeValue`.
    pub fn set_attributes(
        &self,
        h: CK_SESSION_HANDLE,
        oh: CK_OBJECT_HANDLE,
        template: &[TemplateAttr],
    ) -> Result<()> {
        let c = caller(self, h)?;
        let e = visible(&c, oh)?;
        if e.owner.is_none() && !c.rw {
            return rv(sys::CKR_SESSION_READ_ONLY);
        }
        if let Some(r) = &e.rot {
            return set_rotating(&c, r.key_uid.clone(), r.version, template);
        }
        let mut updated = e.object.clone();
        updated.apply_set(template, c.so)?;
        if e.owner.is_none() {
            c.slot.persist_update(&e, updated)
        } else {
            c.slot.objects.replace(e.with_object(updated));
            Ok(())
        }
    }

    /// `C_FindObjectsInit`.
    pub fn find_init(&self, h: CK_SESSION_HANDLE, template: &[TemplateAttr]) -> Result<()> {
        self.lazy_tick(h);
        let slot = self.with_session(h, |s| {
            if s.find.is_some() {
                return rv(sys::CKR_OPERATION_ACTIVE);
            }
            Ok(s.slot.clone())
        })?;
        slot.reload_if_stale()?;
        self.with_session(h, |s| {
            let results = matching(&slot, s, template);
            s.find = Some(FindState { results, pos: 0 });
            Ok(())
        })
    }

    /// `C_FindObjects`: up to `max` more handles.
    pub fn find_next(&self, h: CK_SESSION_HANDLE, max: usize) -> Result<Vec<CK_OBJECT_HANDLE>> {
        self.with_session(h, |s| {
            let f = s
                .find
                .as_mut()
                .map_or_else(|| rv(sys::CKR_OPERATION_NOT_INITIALIZED), Ok)?;
            let end = f.results.len().min(f.pos.saturating_add(max));
            let out = f.results[f.pos..end].to_vec();
            f.pos = end;
            Ok(out)
        })
    }

    /// `C_FindObjectsFinal`.
    pub fn find_final(&self, h: CK_SESSION_HANDLE) -> Result<()> {
        self.with_session(h, |s| match s.find.take() {
            Some(_) => Ok(()),
            None => rv(sys::CKR_OPERATION_NOT_INITIALIZED),
        })
    }

    /// `C_GenerateKey`. An AES token key becomes a rotating key at
    /// version 1; session keys and generic secrets stay plain keys.
    pub fn generate_key(
        &self,
        h: CK_SESSION_HANDLE,
        mech: &Mechanism,
        template: &[TemplateAttr],
    ) -> Result<CK_OBJECT_HANDLE> {
        self.lazy_tick(h);
        let c = caller(self, h)?;
        let key_type = match mech {
            Mechanism::AesKeyGen => sys::CKK_AES,
            Mechanism::GenericSecretKeyGen => sys::CKK_GENERIC_SECRET,
            _ => return rv(sys::CKR_MECHANISM_INVALID),
        };
        let mut policy = default_policy(&c.slot);
        let t = take_policy_attrs(template, &mut policy)?;
        let has_policy = t.len() != template.len();
        let n = object::required_value_len(&t, key_type)?;
        let mut secret = Zeroizing::new(vec![0u8; n]);
        rng::fill(&mut secret)?;
        let origin = Origin::Generate {
            mechanism: mech.ck_type(),
            key_type,
        };
        let obj = Object::from_template(&t, origin, Some(secret), c.so)?;
        self.store_new(&c, h, obj, policy, has_policy)
    }

    /// Stores a new object. A generated AES token key becomes a rotating
    /// key at version 1; an imported or copied one does so when its
    /// template names a keyrotor policy attribute (an explicit opt-in, so
    /// ordinary imports keep plain PKCS#11 semantics such as shared labels).
    /// Everything else is a plain object.
    fn store_new(
        &self,
        c: &Caller,
        h: CK_SESSION_HANDLE,
        obj: Object,
        policy: Policy,
        has_policy: bool,
    ) -> Result<CK_OBJECT_HANDLE> {
        let generated = obj.bool_attr(sys::CKA_LOCAL);
        let rotating = obj.is_token()
            && obj.class() == sys::CKO_SECRET_KEY
            && obj.key_type() == Some(sys::CKK_AES)
            && (generated || has_policy);
        if !rotating {
            if has_policy {
                return rv(sys::CKR_TEMPLATE_INCONSISTENT);
            }
            if c.slot.backend.is_some()
                && obj.class() == sys::CKO_SECRET_KEY
                && obj.secret_value().is_some()
                && obj.is_token()
            {
                // A device slot keeps key material in the device only.
                return rv(sys::CKR_TEMPLATE_INCONSISTENT);
            }
            return self.add_object(c, h, obj);
        }
        if !c.rw {
            return rv(sys::CKR_SESSION_READ_ONLY);
        }
        if obj.is_private() && !c.user {
            return rv(sys::CKR_USER_NOT_LOGGED_IN);
        }
        if c.slot.backend.is_some() && !obj.bool_attr(sys::CKA_LOCAL) {
            // Imported material cannot be put inside the device.
            return rv(sys::CKR_TEMPLATE_INCONSISTENT);
        }
        let key_uid = c.slot.run(move |s| admin::create(s, obj, policy))?;
        c.slot
            .objects
            .handle_of(&key_uid)
            .map_or_else(|| rv(sys::CKR_GENERAL_ERROR), Ok)
    }

    /// `C_WrapKey`.
    pub fn wrap_key(
        &self,
        h: CK_SESSION_HANDLE,
        mech: &Mechanism,
        wrapping: CK_OBJECT_HANDLE,
        key: CK_OBJECT_HANDLE,
        out: &mut Output,
    ) -> Result<()> {
        let padded = match mech {
            Mechanism::AesKeyWrap => false,
            Mechanism::AesKeyWrapPad | Mechanism::AesKeyWrapKwp => true,
            _ => return rv(sys::CKR_MECHANISM_INVALID),
        };
        let c = caller(self, h)?;
        let kek = self
            .with_session(h, |s| {
                s.key(wrapping, sys::CKA_WRAP, mech.ck_type(), Some(sys::CKK_AES))
            })
            .map_err(|e| {
                wrapping_error(
                    e,
                    sys::CKR_WRAPPING_KEY_HANDLE_INVALID,
                    sys::CKR_WRAPPING_KEY_TYPE_INCONSISTENT,
                )
            })?
            .key;
        let e =
            visible(&c, key).map_err(|_| crate::error::Error::Rv(sys::CKR_KEY_HANDLE_INVALID))?;
        if e.object.class() != sys::CKO_SECRET_KEY {
            return rv(sys::CKR_KEY_NOT_WRAPPABLE);
        }
        if !e.object.bool_attr(sys::CKA_EXTRACTABLE) {
            return rv(sys::CKR_KEY_UNEXTRACTABLE);
        }
        if e.object.bool_attr(sys::CKA_WRAP_WITH_TRUSTED) {
            let trusted = c
                .slot
                .objects
                .get(wrapping)
                .is_some_and(|w| w.object.bool_attr(sys::CKA_TRUSTED));
            if !trusted {
                return rv(sys::CKR_KEY_NOT_WRAPPABLE);
            }
        }
        let material = c.slot.material(&e)?;
        let raw = material.raw()?;
        let len = if padded {
            raw.len().div_ceil(8) * 8 + 8
        } else {
            if raw.len() % 8 != 0 || raw.len() < 16 {
                return rv(sys::CKR_KEY_SIZE_RANGE);
            }
            raw.len() + 8
        };
        let kek = kek.encrypting()?.1.aes()?.clone();
        out.produce(len, true, |buf| {
            let wrapped = key_wrap::wrap(&kek, raw, padded)?;
            buf[..wrapped.len()].copy_from_slice(&wrapped);
            Ok(wrapped.len())
        })
        .and_then(|o| match o {
            super::output::Outcome::Short(_) => rv(sys::CKR_BUFFER_TOO_SMALL),
            _ => Ok(()),
        })
    }

    /// `C_UnwrapKey`.
    pub fn unwrap_key(
        &self,
        h: CK_SESSION_HANDLE,
        mech: &Mechanism,
        unwrapping: CK_OBJECT_HANDLE,
        wrapped: &[u8],
        template: &[TemplateAttr],
    ) -> Result<CK_OBJECT_HANDLE> {
        let padded = match mech {
            Mechanism::AesKeyWrap => false,
            Mechanism::AesKeyWrapPad | Mechanism::AesKeyWrapKwp => true,
            _ => return rv(sys::CKR_MECHANISM_INVALID),
        };
        let c = caller(self, h)?;
        let kek = self
            .with_session(h, |s| {
                s.key(
                    unwrapping,
                    sys::CKA_UNWRAP,
                    mech.ck_type(),
                    Some(sys::CKK_AES),
                )
            })
            .map_err(|e| {
                wrapping_error(
                    e,
                    sys::CKR_UNWRAPPING_KEY_HANDLE_INVALID,
                    sys::CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT,
                )
            })?
            .key;
        if !template_has(template, sys::CKA_CLASS) || !template_has(template, sys::CKA_KEY_TYPE) {
            return rv(sys::CKR_TEMPLATE_INCOMPLETE);
        }
        let raw = key_wrap::unwrap(kek.encrypting()?.1.aes()?, wrapped, padded)?;
        let obj = Object::from_template(template, Origin::Unwrap, Some(raw), c.so)?;
        self.add_object(&c, h, obj)
    }
}

/// `C_SetAttributeValue` on a face of a rotating key: version objects
/// follow the lifecycle only; the current object takes policy attributes
/// and the ordinary modifiable ones, but keeps its name and id.
fn set_rotating(
    c: &Caller,
    key_uid: String,
    version: Option<u32>,
    template: &[TemplateAttr],
) -> Result<()> {
    if version.is_some() {
        return rv(sys::CKR_ACTION_PROHIBITED);
    }
    let ring = c.slot.ring(&key_uid)?;
    let mut policy = ring.policy.clone();
    let rest = take_policy_attrs(template, &mut policy)?;
    if rest
        .iter()
        .any(|a| a.kind == sys::CKA_LABEL || a.kind == sys::CKA_ID)
    {
        return rv(sys::CKR_ATTRIBUTE_READ_ONLY);
    }
    let mut obj = Object::decode(&ring.key.public, None)?;
    obj.apply_set(&rest, c.so)?;
    let changed_policy = (policy != ring.policy).then_some(policy);
    let public = obj.encode_public();
    c.slot
        .run(move |s| admin::set_public(s, key_uid, public, changed_policy))
}

/// The slot's default policy for new rotating keys, from `[defaults]`.
fn default_policy(slot: &Slot) -> Policy {
    slot.default_policy.clone()
}

/// Renames key errors for the wrapping key to the wrapping-specific codes.
fn wrapping_error(
    e: crate::error::Error,
    handle: sys::CK_RV,
    kind: sys::CK_RV,
) -> crate::error::Error {
    match e.ck_rv() {
        sys::CKR_KEY_HANDLE_INVALID => crate::error::Error::Rv(handle),
        sys::CKR_KEY_TYPE_INCONSISTENT => crate::error::Error::Rv(kind),
        _ => e,
    }
}

/// The object with its secret value loaded (copies need the value).
fn with_secret(slot: &Slot, e: &ObjectEntry) -> Result<Object> {
    if e.object.secret_value().is_some() || !e.has_secret() {
        return Ok(e.object.clone());
    }
    let mut obj = e.object.clone();
    obj.set_secret(Zeroizing::new(slot.material(e)?.raw()?.to_vec()))?;
    Ok(obj)
}

/// Whether `kind` is a usage count, answered live for rotating keys (the
/// objects' own copies are only refreshed when the key changes).
fn is_count(kind: CK_ATTRIBUTE_TYPE) -> bool {
    kind == CKA_KEYROTOR_ENCRYPTION_COUNT || kind == CKA_KEYROTOR_DECRYPTION_COUNT
}

/// Whether a rotating key's object matches `template`, its usage counts
/// compared with the live ones, as `C_GetAttributeValue` reports them.
fn rot_matches(slot: &Slot, r: &RotRef, e: &ObjectEntry, template: &[TemplateAttr]) -> bool {
    let (counts, rest): (Vec<_>, Vec<_>) = template.iter().cloned().partition(|a| is_count(a.kind));
    if !e.object.matches(&rest) {
        return false;
    }
    if counts.is_empty() {
        return true;
    }
    let (enc, dec) = slot.live_counts(&r.key_uid, r.version);
    counts.iter().all(|a| {
        let n = if a.kind == CKA_KEYROTOR_ENCRYPTION_COUNT {
            enc
        } else {
            dec
        };
        a.value.as_slice() == (n as sys::CK_ULONG).to_ne_bytes()
    })
}

/// Handles of visible objects matching `template`, in creation order.
fn matching(slot: &Slot, s: &Session, template: &[TemplateAttr]) -> Vec<CK_OBJECT_HANDLE> {
    let table = &slot.objects;
    let label = template
        .iter()
        .find(|a| a.kind == sys::CKA_LABEL)
        .map(|a| a.value.as_slice());
    let counted = template.iter().any(|a| is_count(a.kind));
    // Current object first, then its versions newest first; every other
    // object in creation order.
    let mut found: Vec<(CK_OBJECT_HANDLE, u8, u32, CK_OBJECT_HANDLE)> = table
        .candidates(label)
        .iter()
        .filter(|e| {
            s.can_see(e)
                && match (&e.rot, counted) {
                    (Some(r), true) => rot_matches(slot, r, e, template),
                    _ => e.object.matches(template),
                }
        })
        .map(|e| match &e.rot {
            Some(r) => match r.version {
                None => (e.handle, 0, 0, e.handle),
                Some(v) => (
                    table.handle_of(&r.key_uid).unwrap_or(e.handle),
                    1,
                    u32::MAX - v,
                    e.handle,
                ),
            },
            None => (e.handle, 0, 0, e.handle),
        })
        .collect();
    found.sort_unstable();
    found.into_iter().map(|f| f.3).collect()
}
