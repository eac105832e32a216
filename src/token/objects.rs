//! The in-memory object table of one slot: handles, entries, and the epoch
//! that tells sessions their cached keys went stale.
//!
//! Lookups take a read lock; key use on the hot path goes through the
//! session's own key cache and only reads the epoch.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use cryptoki_sys as sys;
use once_cell::sync::OnceCell;
use parking_lot::RwLock;
use sys::{CK_OBJECT_HANDLE, CK_SESSION_HANDLE};
use zeroize::Zeroizing;

use crate::error::{rv, Result};
use crate::mech::key::KeyMaterial;
use crate::object::Object;

/// Where an object belongs when it is a face of a rotating key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RotRef {
    /// The key's unique id (its current object's uid).
    pub key_uid: String,
    /// `None` for the current object, else the version it shows.
    pub version: Option<u32>,
}

/// A token object as read from the store.
pub struct LoadedObject {
    /// `CKA_UNIQUE_ID`.
    pub uid: String,
    /// Its attributes.
    pub object: Object,
    /// Sealed value, if it has one.
    pub sealed: Option<Vec<u8>>,
    /// The uid the sealed value is bound to (a current object shows its
    /// Active version's value).
    pub seal_uid: String,
    /// Rotating-key role, if any.
    pub rot: Option<RotRef>,
}

impl LoadedObject {
    /// The [`fingerprint`] of what this object would become.
    fn fingerprint(&self) -> u64 {
        fingerprint(
            &self.object,
            self.sealed.as_deref(),
            &self.seal_uid,
            &self.rot,
        )
    }
}

/// A digest of everything a reload may change in a token object, to tell a
/// changed object from an unchanged one without keeping its encoding (which
/// cost ~1 KB per object). foldhash (fast: every object is hashed on each
/// load) with a random per-process seed: other processes write the store,
/// but cannot choose values that collide here.
fn fingerprint(
    object: &Object,
    sealed: Option<&[u8]>,
    seal_uid: &str,
    rot: &Option<RotRef>,
) -> u64 {
    static KEY: once_cell::sync::Lazy<foldhash::quality::RandomState> =
        once_cell::sync::Lazy::new(foldhash::quality::RandomState::default);
    let mut h = KEY.build_hasher();
    object.hash_public(&mut h);
    sealed.hash(&mut h);
    seal_uid.hash(&mut h);
    rot.hash(&mut h);
    h.finish()
}

/// One object as the token holds it.
pub struct ObjectEntry {
    /// Its handle in this process.
    pub handle: CK_OBJECT_HANDLE,
    /// Attributes (the secret value may be absent until unsealed).
    pub object: Object,
    /// `CKA_UNIQUE_ID`; also the store key and part of the sealing AAD.
    pub uid: String,
    /// The session that owns a session object.
    pub owner: Option<CK_SESSION_HANDLE>,
    /// Sealed secret value of a token object, as stored.
    pub sealed: Option<Vec<u8>>,
    /// [`fingerprint`] of attributes and sealed value, to detect changes
    /// made by other processes.
    fingerprint: u64,
    /// The uid bound into the sealed value's AAD.
    pub seal_uid: String,
    /// Rotating-key role, if any.
    pub rot: Option<RotRef>,
    material: OnceCell<Arc<KeyMaterial>>,
}

impl ObjectEntry {
    /// A new entry; `material` may be supplied when the secret is at hand.
    pub fn new(
        handle: CK_OBJECT_HANDLE,
        object: Object,
        uid: String,
        owner: Option<CK_SESSION_HANDLE>,
        sealed: Option<Vec<u8>>,
    ) -> ObjectEntry {
        ObjectEntry {
            handle,
            fingerprint: fingerprint(&object, sealed.as_deref(), &uid, &None),
            object,
            seal_uid: uid.clone(),
            uid,
            owner,
            sealed,
            rot: None,
            material: OnceCell::new(),
        }
    }

    /// True when the object carries a secret value (in memory or sealed).
    pub fn has_secret(&self) -> bool {
        self.sealed.is_some() || self.object.secret_value().is_some()
    }

    /// An entry for a loaded token object.
    pub fn loaded(handle: CK_OBJECT_HANDLE, l: LoadedObject) -> ObjectEntry {
        ObjectEntry {
            handle,
            fingerprint: l.fingerprint(),
            object: l.object,
            uid: l.uid,
            owner: None,
            sealed: l.sealed,
            seal_uid: l.seal_uid,
            rot: l.rot,
            material: OnceCell::new(),
        }
    }

    /// The plaintext secret (or device reference), unsealing it with
    /// `unseal` and preparing it with `build` on first use.
    pub fn material(
        &self,
        unseal: impl FnOnce(&[u8]) -> Result<Zeroizing<Vec<u8>>>,
        build: impl FnOnce(Zeroizing<Vec<u8>>) -> Result<KeyMaterial>,
    ) -> Result<Arc<KeyMaterial>> {
        self.material
            .get_or_try_init(|| {
                let raw = match (self.object.secret_value(), &self.sealed) {
                    (Some(v), _) => Zeroizing::new(v.to_vec()),
                    (None, Some(sealed)) => unseal(sealed)?,
                    (None, None) => return rv(sys::CKR_KEY_TYPE_INCONSISTENT),
                };
                Ok(Arc::new(build(raw)?))
            })
            .cloned()
    }

    /// Installs already unsealed material (the creator of a token object
    /// has it at hand; sealing it only to unseal it again would be waste).
    pub fn prime(&self, material: KeyMaterial) {
        // A second prime of the same entry is impossible: entries are primed
        // once, right after construction; ignoring the error is therefore safe.
        let _ = self.material.set(Arc::new(material));
    }

    /// The same entry with new attributes (after `C_SetAttributeValue`).
    pub fn with_object(&self, object: Object) -> ObjectEntry {
        ObjectEntry {
            handle: self.handle,
            fingerprint: fingerprint(&object, self.sealed.as_deref(), &self.seal_uid, &self.rot),
            object,
            uid: self.uid.clone(),
            owner: self.owner,
            sealed: self.sealed.clone(),
            seal_uid: self.seal_uid.clone(),
            rot: self.rot.clone(),
            material: self.material.clone(),
        }
    }

    /// The same entry with its unsealed secret dropped (on logout).
    pub fn without_material(&self) -> ObjectEntry {
        ObjectEntry {
            handle: self.handle,
            object: self.object.clone(),
            uid: self.uid.clone(),
            owner: self.owner,
            sealed: self.sealed.clone(),
            fingerprint: self.fingerprint,
            seal_uid: self.seal_uid.clone(),
            rot: self.rot.clone(),
            material: OnceCell::new(),
        }
    }
}

#[derive(Default)]
struct Inner {
    by_handle: BTreeMap<CK_OBJECT_HANDLE, Arc<ObjectEntry>>,
    by_uid: HashMap<String, CK_OBJECT_HANDLE>,
    // Finding by label is the common lookup; an index keeps it O(matches).
    // Sorted handles: most labels name one object, and a one-element Vec
    // costs a tenth of a BTreeSet node.
    by_label: HashMap<Box<[u8]>, Vec<CK_OBJECT_HANDLE>>,
}

impl Inner {
    fn put(&mut self, e: Arc<ObjectEntry>) {
        if let Some(old) = self.by_handle.insert(e.handle, e.clone()) {
            self.unindex(&old);
        }
        self.by_uid.insert(e.uid.clone(), e.handle);
        let set = match self.by_label.get_mut(e.object.label()) {
            Some(set) => set,
            None => self
                .by_label
                .entry(e.object.label().into())
                .or_insert_with(|| Vec::with_capacity(1)),
        };
        if let Err(i) = set.binary_search(&e.handle) {
            set.insert(i, e.handle);
        }
    }

    fn unindex(&mut self, e: &ObjectEntry) {
        if let Some(set) = self.by_label.get_mut(e.object.label()) {
            if let Ok(i) = set.binary_search(&e.handle) {
                set.remove(i);
            }
            if set.is_empty() {
                self.by_label.remove(e.object.label());
            }
        }
    }

    fn take(&mut self, h: CK_OBJECT_HANDLE) -> Option<Arc<ObjectEntry>> {
        let e = self.by_handle.remove(&h)?;
        if self.by_uid.get(&e.uid) == Some(&h) {
            self.by_uid.remove(&e.uid);
        }
        self.unindex(&e);
        Some(e)
    }
}

/// All objects of one slot, token and session.
#[derive(Default)]
pub struct ObjectTable {
    inner: RwLock<Inner>,
    epoch: AtomicU64,
}

impl ObjectTable {
    /// Bumped whenever an entry is replaced or removed.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    fn bump(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// The entry for `handle`.
    pub fn get(&self, handle: CK_OBJECT_HANDLE) -> Option<Arc<ObjectEntry>> {
        self.inner.read().by_handle.get(&handle).cloned()
    }

    /// The handle of the object with `uid`, if loaded.
    pub fn handle_of(&self, uid: &str) -> Option<CK_OBJECT_HANDLE> {
        self.inner.read().by_uid.get(uid).copied()
    }

    /// Adds a new entry.
    pub fn insert(&self, entry: ObjectEntry) -> CK_OBJECT_HANDLE {
        let h = entry.handle;
        self.inner.write().put(Arc::new(entry));
        h
    }

    /// Replaces an entry with the same handle.
    pub fn replace(&self, entry: ObjectEntry) {
        self.inner.write().put(Arc::new(entry));
        self.bump();
    }

    /// Removes an entry.
    pub fn remove(&self, handle: CK_OBJECT_HANDLE) -> Option<Arc<ObjectEntry>> {
        let e = self.inner.write().take(handle)?;
        self.bump();
        Some(e)
    }

    /// Every entry in handle (creation) order.
    pub fn snapshot(&self) -> Vec<Arc<ObjectEntry>> {
        self.inner.read().by_handle.values().cloned().collect()
    }

    /// Entries that may match a template: those with `label` when the
    /// template names one, else all; in handle (creation) order.
    pub fn candidates(&self, label: Option<&[u8]>) -> Vec<Arc<ObjectEntry>> {
        let g = self.inner.read();
        match label {
            None => g.by_handle.values().cloned().collect(),
            Some(l) => g
                .by_label
                .get(l)
                .map(|set| {
                    set.iter()
                        .filter_map(|h| g.by_handle.get(h).cloned())
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// Removes the session objects of `session` (or of every session).
    pub fn remove_session_objects(&self, session: Option<CK_SESSION_HANDLE>) {
        let mut g = self.inner.write();
        let doomed: Vec<_> = g
            .by_handle
            .values()
            .filter(|e| e.owner.is_some() && (session.is_none() || e.owner == session))
            .map(|e| (e.handle, e.uid.clone()))
            .collect();
        for (h, _) in &doomed {
            g.take(*h);
        }
        drop(g);
        if !doomed.is_empty() {
            self.bump();
        }
    }

    /// Removes every private session object (on logout, as PKCS#11 says).
    pub fn remove_private_session_objects(&self) {
        let mut g = self.inner.write();
        let doomed: Vec<_> = g
            .by_handle
            .values()
            .filter(|e| e.owner.is_some() && e.object.is_private())
            .map(|e| e.handle)
            .collect();
        for h in &doomed {
            g.take(*h);
        }
        drop(g);
        if !doomed.is_empty() {
            self.bump();
        }
    }

    /// Removes every token object (token re-initialised).
    pub fn clear_token_objects(&self) {
        let mut g = self.inner.write();
        let token: Vec<_> = g
            .by_handle
            .values()
            .filter(|e| e.owner.is_none())
            .map(|e| e.handle)
            .collect();
        for h in token {
            g.take(h);
        }
        drop(g);
        self.bump();
    }

    /// Drops every unsealed token secret and every private session secret.
    pub fn forget_secrets(&self) {
        let mut g = self.inner.write();
        for e in g.by_handle.values_mut() {
            if e.sealed.is_some() {
                // Label and handle are unchanged, so the indexes stay valid.
                *e = Arc::new(e.without_material());
            }
        }
        drop(g);
        self.bump();
    }

    /// Replaces the faces of one rotating key (current and version objects)
    /// with `faces`, keeping handles of those that stay.
    /// `before` lists the uids the key's faces had (so nothing is scanned).
    pub fn merge_key(&self, faces: Vec<LoadedObject>, before: &[String]) {
        let mut g = self.inner.write();
        let mut seen = std::collections::HashSet::new();
        for l in faces {
            seen.insert(l.uid.clone());
            let h = g
                .by_uid
                .get(&l.uid)
                .copied()
                .unwrap_or_else(super::handles::next_object);
            g.put(Arc::new(ObjectEntry::loaded(h, l)));
        }
        let gone: Vec<_> = before
            .iter()
            .filter(|uid| !seen.contains(*uid))
            .filter_map(|uid| g.by_uid.get(uid).copied())
            .collect();
        for h in &gone {
            g.take(*h);
        }
        drop(g);
        self.bump();
    }

    /// Applies the store's current set of token objects: new ones get
    /// handles, changed ones are replaced, the faces of rotating keys for
    /// which `kept` holds stay as they are, the rest are removed.
    pub fn merge_token_objects(&self, fresh: Vec<LoadedObject>, kept: impl Fn(&RotRef) -> bool) {
        let mut g = self.inner.write();
        let mut seen: std::collections::HashSet<CK_OBJECT_HANDLE> =
            std::collections::HashSet::with_capacity(fresh.len());
        let mut changed = false;
        for l in fresh {
            match g.by_uid.get(&l.uid).copied() {
                Some(h) => {
                    seen.insert(h);
                    let fp = l.fingerprint();
                    let same = g.by_handle.get(&h).is_some_and(|e| e.fingerprint == fp);
                    if !same {
                        g.put(Arc::new(ObjectEntry::loaded(h, l)));
                        changed = true;
                    }
                }
                None => {
                    let h = super::handles::next_object();
                    seen.insert(h);
                    g.put(Arc::new(ObjectEntry::loaded(h, l)));
                }
            }
        }
        let gone: Vec<_> = g
            .by_handle
            .values()
            .filter(|e| {
                e.owner.is_none() && !seen.contains(&e.handle) && !e.rot.as_ref().is_some_and(&kept)
            })
            .map(|e| e.handle)
            .collect();
        for h in &gone {
            g.take(*h);
        }
        drop(g);
        if changed || !gone.is_empty() {
            self.bump();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::{Origin, TemplateAttr as T};

    fn data(uid: &str, label: &[u8]) -> LoadedObject {
        let t = [
            T::ulong(sys::CKA_CLASS, sys::CKO_DATA),
            T::bool(sys::CKA_TOKEN, true),
            T::bytes(sys::CKA_LABEL, label),
        ];
        let mut object = Object::from_template(&t, Origin::Create, None, false).unwrap();
        object.set_unique_id(uid);
        LoadedObject {
            uid: uid.into(),
            object,
            sealed: Some(b"sealed".to_vec()),
            seal_uid: uid.into(),
            rot: None,
        }
    }

    fn handles(t: &ObjectTable, label: &[u8]) -> Vec<CK_OBJECT_HANDLE> {
        t.candidates(Some(label)).iter().map(|e| e.handle).collect()
    }

    #[test]
    fn merge_replaces_only_what_changed_and_keeps_what_it_is_told() {
        let t = ObjectTable::default();
        // "b" is the face of a rotating key "kb".
        let face = || LoadedObject {
            rot: Some(RotRef {
                key_uid: "kb".into(),
                version: None,
            }),
            ..data("b", b"x")
        };
        let none = |_: &RotRef| false;
        let keep_kb = |r: &RotRef| r.key_uid == "kb";
        t.merge_token_objects(vec![data("a", b"x"), face(), data("c", b"y")], none);
        let (a, b, c) = (
            t.handle_of("a").unwrap(),
            t.handle_of("b").unwrap(),
            t.handle_of("c").unwrap(),
        );
        assert_eq!(handles(&t, b"x"), [a, b]);
        let before = t.get(a).unwrap();
        let epoch = t.epoch();

        // The same objects again: nothing replaced, no epoch bump.
        t.merge_token_objects(vec![data("a", b"x"), face(), data("c", b"y")], none);
        assert!(Arc::ptr_eq(&before, &t.get(a).unwrap()));
        assert_eq!(t.epoch(), epoch);

        // "a" relabelled, its sealed value changed elsewhere; "b" kept
        // without being read; "c" gone from the store.
        let mut changed = data("a", b"z");
        changed.sealed = Some(b"resealed".to_vec());
        t.merge_token_objects(vec![changed], keep_kb);
        assert_eq!(
            t.handle_of("a"),
            Some(a),
            "a changed object keeps its handle"
        );
        assert!(!Arc::ptr_eq(&before, &t.get(a).unwrap()));
        assert_eq!(t.get(a).unwrap().sealed.as_deref(), Some(&b"resealed"[..]));
        assert!(t.epoch() > epoch);
        assert_eq!(
            handles(&t, b"x"),
            [b],
            "the label index follows the relabel"
        );
        assert_eq!(handles(&t, b"z"), [a]);
        assert!(t.get(c).is_none() && t.handle_of("c").is_none());
        assert!(handles(&t, b"y").is_empty());

        // A change in the sealed value alone is a change too.
        let now = t.get(a).unwrap();
        let mut resealed = data("a", b"z");
        resealed.sealed = Some(b"again".to_vec());
        t.merge_token_objects(vec![resealed], keep_kb);
        assert_eq!(t.handle_of("b"), Some(b));

        // Not kept and not in the store any more: the face goes too.
        t.merge_token_objects(vec![data("a", b"z")], none);
        assert!(t.handle_of("b").is_none());
        assert!(!Arc::ptr_eq(&now, &t.get(a).unwrap()));
    }
}
