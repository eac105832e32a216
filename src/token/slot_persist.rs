//! Writing a slot's objects and rotating keys: each write goes to the
//! store under the slot's persist lock and is then applied to the in-memory
//! table, so this process never reloads what it wrote itself.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use cryptoki_sys as sys;
use zeroize::Zeroizing;

use super::objects::ObjectEntry;
use super::slot::{KeyRing, Slot};
use crate::error::Result;
use crate::mech::key::KeyMaterial;
use crate::object::Object;
use crate::store::{KeyRecord, ObjectRecord, Store, VersionRecord};

impl Slot {
    /// Writes a new token object to the store and adds it to the table.
    pub fn persist_new(
        self: &Arc<Self>,
        handle: sys::CK_OBJECT_HANDLE,
        mut object: Object,
        uid: String,
    ) -> Result<()> {
        let mut material = None;
        let sealed = match object.secret_value() {
            Some(v) => {
                let sealed = if object.class() == sys::CKO_DATA && !object.is_private() {
                    // Public by definition: anyone may read it without a login.
                    super::slot::public_value(v)
                } else {
                    self.seal(&uid, v)?
                };
                material = Some(KeyMaterial::new(
                    object.key_type(),
                    Zeroizing::new(v.to_vec()),
                )?);
                Some(sealed)
            }
            None => None,
        };
        // The table keeps only the sealed value, so logout really forgets it.
        object.drop_secret();
        let rec = ObjectRecord {
            uid: uid.clone(),
            public: object.encode_public(),
            secret: sealed.clone(),
        };
        let entry = ObjectEntry::new(handle, object, uid, None, sealed);
        if let Some(m) = material {
            entry.prime(m);
        }
        self.run(move |slot| async move {
            let _g = slot.persist.lock().await;
            slot.store.insert_object(&rec).await?;
            slot.objects.insert(entry);
            Ok(())
        })
    }

    /// Stores new attributes of a token object and swaps the entry.
    pub fn persist_update(self: &Arc<Self>, old: &ObjectEntry, object: Object) -> Result<()> {
        let rec = ObjectRecord {
            uid: old.uid.clone(),
            public: object.encode_public(),
            secret: old.sealed.clone(),
        };
        let entry = old.with_object(object);
        self.run(move |slot| async move {
            let _g = slot.persist.lock().await;
            slot.store.update_object(&rec).await?;
            slot.objects.replace(entry);
            Ok(())
        })
    }

    /// Deletes a token object from the store and the table.
    pub fn persist_delete(self: &Arc<Self>, entry: &ObjectEntry) -> Result<()> {
        let uid = entry.uid.clone();
        let handle = entry.handle;
        self.run(move |slot| async move {
            let _g = slot.persist.lock().await;
            slot.store.delete_object(&uid).await?;
            slot.objects.remove(handle);
            Ok(())
        })
    }

    /// Runs one key write against the store under the persist lock. When
    /// nobody else wrote in between, the loaded generation moves along with
    /// it, so the change watcher does not reload what the caller then
    /// applies locally with [`Slot::apply_key`] or [`Slot::drop_key`].
    pub async fn write_key<T, F, Fut>(self: Arc<Self>, f: F) -> Result<T>
    where
        F: FnOnce(Arc<dyn Store>) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let _g = self.persist.lock().await;
        let before = self.store.generation().await?;
        let out = f(self.store.clone()).await?;
        let after = self.store.generation().await?;
        let _ = self.loaded_generation.compare_exchange(
            before,
            after,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
        Ok(out)
    }

    /// Installs one rotating key's new state in the ring map and the table.
    pub fn apply_key(&self, key: KeyRecord, mut versions: Vec<VersionRecord>) -> Result<()> {
        versions.sort_by_key(|v| v.version);
        let (faces, policy) = Self::key_faces(&key, &versions)?;
        let uid = key.key_uid.clone();
        let before = self.face_uids(&uid);
        self.rings.write().insert(
            uid.clone(),
            Arc::new(KeyRing {
                key,
                policy,
                versions,
            }),
        );
        self.rings_changed();
        self.objects.merge_key(faces, &before);
        Ok(())
    }

    /// Removes a rotating key from the ring map and the table.
    pub fn drop_key(&self, key_uid: &str) {
        let before = self.face_uids(key_uid);
        self.rings.write().remove(key_uid);
        self.rings_changed();
        self.objects.merge_key(Vec::new(), &before);
    }

    /// The uids of a rotating key's current and version objects as loaded.
    fn face_uids(&self, key_uid: &str) -> Vec<String> {
        let mut uids = vec![key_uid.to_string()];
        if let Some(ring) = self.rings.read().get(key_uid) {
            uids.extend(ring.versions.iter().map(|v| v.version_uid.clone()));
        }
        uids
    }
}
