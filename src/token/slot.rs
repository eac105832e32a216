//! One slot and its token: store access, token state, the unlocked storage
//! keys, object persistence, and the background tasks (change watcher and
//! key manager) of this process.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use cryptoki_sys as sys;
use parking_lot::{Mutex, RwLock};
use sys::CK_SLOT_ID;
use zeroize::Zeroizing;

use super::objects::{LoadedObject, ObjectEntry, ObjectTable, RotRef};
use super::runtime::AsyncRuntime;
use crate::backend::KeyBackend;
use crate::config::SlotConfig;
use crate::error::{rv, Error, Result};
use crate::keys::objects::{current_object, version_object};
use crate::keys::policy::Policy;
use crate::mech::key::KeyMaterial;
use crate::object::Object;
use crate::store::crypt::{DataKeys, SealAad, StorageKey};
use crate::store::{KeyRecord, ObjectRecord, Store, TokenRecord, VersionRecord};

/// Nobody is logged in.
pub const LOGIN_PUBLIC: u8 = 0;
/// The normal user is logged in.
pub const LOGIN_USER: u8 = 1;
/// The security officer is logged in.
pub const LOGIN_SO: u8 = 2;

/// How often the background task asks the store whether others wrote.
const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// The field name bound into the sealing AAD of an object's value.
const VALUE_FIELD: &str = "value";

/// IVs a process reserves from the store at a time, per key version.
const IV_BLOCK: u64 = 1 << 20;

/// The token master key and the data keys it unlocked (after a login).
pub struct Unlocked {
    /// The PIN-wrapped token master key.
    pub kek: Arc<StorageKey>,
    /// The data keys that seal stored key material.
    pub data: DataKeys,
}

/// A rotating key as last loaded from the store.
#[derive(Clone)]
pub struct KeyRing {
    /// The key row.
    pub key: KeyRecord,
    /// Its parsed policy.
    pub policy: Policy,
    /// Its versions, oldest first.
    pub versions: Vec<VersionRecord>,
}

/// A slot with its token.
pub struct Slot {
    /// The slot id callers use.
    pub id: CK_SLOT_ID,
    /// Its configuration.
    pub config: SlotConfig,
    /// The id under which the store keeps this token's rows.
    pub token_id: String,
    store: Arc<dyn Store>,
    rt: Arc<AsyncRuntime>,
    /// The token row as last read (None: not initialised).
    pub token: RwLock<Option<TokenRecord>>,
    /// `LOGIN_*`; read on the hot path, written under `login_lock`.
    pub login: AtomicU8,
    /// Serialises login, logout, PIN changes and token initialisation.
    pub login_lock: Mutex<()>,
    unlocked: RwLock<Option<Arc<Unlocked>>>,
    /// Every object of the slot.
    pub objects: ObjectTable,
    rings: RwLock<HashMap<String, Arc<KeyRing>>>,
    // An async lock: writers and reloads hold it across store calls on the
    // runtime, where a blocking lock could stall the runtime's only worker.
    persist: tokio::sync::Mutex<()>,
    loaded_generation: AtomicU64,
    stale: AtomicBool,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    counts: Mutex<HashMap<(String, u32), (u64, u64)>>,
    ivs: Mutex<HashMap<(String, u32), (u64, u64)>>,
    /// This process's identity in the manager's leader lease.
    pub holder: String,
    /// Policy new rotating keys start from (`[defaults]` of the config).
    pub default_policy: Policy,
    /// The device that holds this slot's keys; `None` for software.
    pub backend: Option<Arc<dyn KeyBackend>>,
    lazy_last: Mutex<Option<std::time::Instant>>,
}

impl Slot {
    /// Opens the slot's store and loads its token and objects.
    pub fn open(
        config: SlotConfig,
        default_policy: Policy,
        backend: Option<Arc<dyn KeyBackend>>,
        store: Arc<dyn Store>,
        rt: Arc<AsyncRuntime>,
        background: bool,
    ) -> Result<Arc<Slot>> {
        let holder = crate::mech::primitives::rng::random_array::<8>()?
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>();
        let slot = Arc::new(Slot {
            id: config.id as CK_SLOT_ID,
            token_id: format!("slot{}", config.id),
            config,
            store,
            rt,
            token: RwLock::new(None),
            login: AtomicU8::new(LOGIN_PUBLIC),
            login_lock: Mutex::new(()),
            unlocked: RwLock::new(None),
            objects: ObjectTable::default(),
            rings: RwLock::new(HashMap::new()),
            persist: tokio::sync::Mutex::new(()),
            loaded_generation: AtomicU64::new(u64::MAX),
            stale: AtomicBool::new(true),
            tasks: Mutex::new(Vec::new()),
            counts: Mutex::new(HashMap::new()),
            ivs: Mutex::new(HashMap::new()),
            holder: format!("{}:{holder}", std::process::id()),
            default_policy,
            backend,
            lazy_last: Mutex::new(None),
        });
        slot.reload_if_stale()?;
        if background {
            slot.start_tasks();
        }
        Ok(slot)
    }

    /// Runs a store call on the library runtime and waits for it.
    pub fn store_call<T, F, Fut>(&self, f: F) -> Result<T>
    where
        F: FnOnce(Arc<dyn Store>) -> Fut,
        Fut: std::future::Future<Output = Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        self.rt.block(f(self.store.clone()))?
    }

    /// Runs an async job with the slot on the library runtime and waits.
    pub fn run<T, F, Fut>(self: &Arc<Self>, f: F) -> Result<T>
    where
        F: FnOnce(Arc<Slot>) -> Fut,
        Fut: std::future::Future<Output = Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        self.rt.block(f(self.clone()))?
    }

    /// The store, for the manager and the admin CLI.
    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    fn start_tasks(self: &Arc<Self>) {
        let weak: Weak<Slot> = Arc::downgrade(self);
        let watcher = self.rt.spawn(async move {
            let mut tick = tokio::time::interval(POLL_INTERVAL);
            loop {
                tick.tick().await;
                let Some(slot) = weak.upgrade() else { return };
                match slot.store.generation().await {
                    Ok(g) if g != slot.loaded_generation.load(Ordering::Acquire) => {
                        slot.stale.store(true, Ordering::Release);
                        if let Err(e) = slot.clone().reload().await {
                            tracing::warn!(slot = slot.id, error = %e, "reloading changed store failed");
                        }
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(slot = slot.id, error = %e, "store generation check failed"),
                }
            }
        });
        let mut tasks = vec![watcher];
        if crate::keys::manager::in_library() {
            tasks.push(
                self.rt
                    .spawn(crate::keys::manager::run(Arc::downgrade(self))),
            );
        }
        for t in tasks {
            match t {
                Ok(handle) => self.tasks.lock().push(handle),
                Err(e) => {
                    tracing::warn!(slot = self.id, error = %e, "cannot start a background task")
                }
            }
        }
    }

    /// Without background tasks: the change check and one manager tick, at
    /// most once per manager tick interval, run here inside a caller's call.
    pub fn lazy_work(self: &Arc<Self>) {
        {
            let mut last = self.lazy_last.lock();
            if last.is_some_and(|t| t.elapsed() < crate::keys::manager::TICK) {
                return;
            }
            *last = Some(std::time::Instant::now());
        }
        let done = self.run(|s| async move {
            s.clone().refresh().await?;
            if crate::keys::manager::in_library() {
                crate::keys::manager::tick_once(&s).await?;
            }
            Ok(())
        });
        if let Err(e) = done {
            tracing::warn!(slot = self.id, error = %e, "deferred key manager work failed");
        }
    }

    /// Reloads token row and objects when another process changed them.
    pub fn reload_if_stale(self: &Arc<Self>) -> Result<()> {
        if !self.stale.load(Ordering::Acquire) {
            return Ok(());
        }
        self.run(|s| s.reload())
    }

    /// Reads token, objects and rotating keys, and brings the table in line.
    pub async fn reload(self: Arc<Self>) -> Result<()> {
        let _g = self.persist.lock().await;
        self.stale.store(false, Ordering::Release);
        let generation = self.store.generation().await?;
        let token = self.store.load_token().await?;
        let records = self.store.load_objects().await?;
        let keys = self.store.load_keys().await?;
        let mut fresh = Vec::with_capacity(records.len() + keys.len() * 3);
        for r in records {
            match Object::decode(&r.public, None) {
                Ok(object) => fresh.push(LoadedObject {
                    seal_uid: r.uid.clone(),
                    uid: r.uid,
                    object,
                    sealed: r.secret,
                    public: r.public,
                    rot: None,
                }),
                Err(e) => {
                    tracing::error!(slot = self.id, uid = %r.uid, error = %e, "skipping unreadable object")
                }
            }
        }
        let mut rings = HashMap::with_capacity(keys.len());
        for (key, versions) in keys {
            match Self::key_faces(&key, &versions) {
                Ok((faces, policy)) => {
                    fresh.extend(faces);
                    rings.insert(
                        key.key_uid.clone(),
                        Arc::new(KeyRing {
                            key,
                            policy,
                            versions,
                        }),
                    );
                }
                Err(e) => {
                    tracing::error!(slot = self.id, key = %key.name, error = %e, "skipping unreadable key")
                }
            }
        }
        // Another process may have rotated the storage key: unlock the new one.
        let unlocked = self.unlocked.read().clone();
        if let Some(u) = unlocked {
            let recs = self.store.load_data_keys().await?;
            let data = DataKeys::unlock(&u.kek, &self.token_id, &recs)?;
            self.set_unlocked(Some(Unlocked {
                kek: u.kek.clone(),
                data,
            }));
        }
        *self.token.write() = token;
        *self.rings.write() = rings;
        self.objects.merge_token_objects(fresh);
        self.loaded_generation.store(generation, Ordering::Release);
        Ok(())
    }

    /// The current object and version objects of one rotating key.
    fn key_faces(
        key: &KeyRecord,
        versions: &[VersionRecord],
    ) -> Result<(Vec<LoadedObject>, Policy)> {
        let policy = Policy::from_json(&key.policy)?;
        let current = current_object(key, &policy, versions)?;
        let active = versions.iter().find(|v| v.version == key.active_version);
        let mut faces = vec![LoadedObject {
            uid: key.key_uid.clone(),
            public: current.encode_public(),
            sealed: active.and_then(|v| v.sealed.clone()),
            seal_uid: active.map_or_else(String::new, |v| v.version_uid.clone()),
            rot: Some(RotRef {
                key_uid: key.key_uid.clone(),
                version: None,
            }),
            object: current.clone(),
        }];
        for v in versions {
            let o = version_object(key, &policy, &current, v)?;
            faces.push(LoadedObject {
                uid: v.version_uid.clone(),
                public: o.encode_public(),
                sealed: v.sealed.clone(),
                seal_uid: v.version_uid.clone(),
                rot: Some(RotRef {
                    key_uid: key.key_uid.clone(),
                    version: Some(v.version),
                }),
                object: o,
            });
        }
        Ok((faces, policy))
    }

    /// The rotating key `key_uid` as last loaded.
    pub fn ring(&self, key_uid: &str) -> Result<Arc<KeyRing>> {
        self.rings
            .read()
            .get(key_uid)
            .cloned()
            .map_or_else(|| rv(sys::CKR_KEY_HANDLE_INVALID), Ok)
    }

    /// Every rotating key as last loaded, by name.
    pub fn rings(&self) -> Vec<Arc<KeyRing>> {
        let mut all: Vec<_> = self.rings.read().values().cloned().collect();
        all.sort_by(|a, b| a.key.name.cmp(&b.key.name));
        all
    }

    /// Re-reads the token row (PIN state may have changed elsewhere).
    pub fn refresh_token(&self) -> Result<Option<TokenRecord>> {
        let token = self.store_call(|s| async move { s.load_token().await })?;
        *self.token.write() = token.clone();
        Ok(token)
    }

    /// Drops every token object and key after the token was re-initialised.
    pub fn forget_token_contents(&self) {
        self.objects.clear_token_objects();
        self.rings.write().clear();
        self.ivs.lock().clear();
        self.counts.lock().clear();
        self.stale.store(true, Ordering::Release);
    }

    /// True when the token has been initialised.
    pub fn initialized(&self) -> bool {
        self.token.read().is_some()
    }

    /// Current login state (`LOGIN_*`).
    pub fn login_state(&self) -> u8 {
        self.login.load(Ordering::Acquire)
    }

    /// Installs or drops the unlocked keys.
    pub fn set_unlocked(&self, keys: Option<Unlocked>) {
        *self.unlocked.write() = keys.map(Arc::new);
    }

    /// The unlocked keys; `CKR_USER_NOT_LOGGED_IN` while locked.
    pub fn unlocked(&self) -> Result<Arc<Unlocked>> {
        self.unlocked
            .read()
            .clone()
            .map_or_else(|| rv(sys::CKR_USER_NOT_LOGGED_IN), Ok)
    }

    /// True while a login has unlocked the storage keys.
    pub fn is_unlocked(&self) -> bool {
        self.unlocked.read().is_some()
    }

    /// The sealing AAD of a value bound to `uid`.
    pub fn aad<'a>(&'a self, uid: &'a str) -> SealAad<'a> {
        SealAad {
            token_id: &self.token_id,
            object_uid: uid,
            field: VALUE_FIELD,
        }
    }

    /// Seals a value bound to `uid` under the active data key.
    pub fn seal(&self, uid: &str, plaintext: &[u8]) -> Result<Vec<u8>> {
        self.unlocked()?.data.seal(&self.aad(uid), plaintext)
    }

    /// Unseals a stored value bound to `uid`.
    pub fn unseal(&self, uid: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        self.unlocked()?.data.open(&self.aad(uid), sealed)
    }

    /// The material of an entry (unsealing on first use).
    pub fn material(&self, e: &ObjectEntry) -> Result<Arc<KeyMaterial>> {
        let key_type = e.object.key_type();
        let device = e.rot.is_some();
        e.material(
            |sealed| self.unseal(&e.seal_uid, sealed),
            |raw| self.key_material(key_type, raw, device),
        )
    }

    /// Prepares unsealed bytes as key material: on a device slot the bytes
    /// of a rotating key's version are the device's reference to the key.
    pub fn key_material(
        &self,
        key_type: Option<sys::CK_KEY_TYPE>,
        raw: Zeroizing<Vec<u8>>,
        device: bool,
    ) -> Result<KeyMaterial> {
        match (&self.backend, device) {
            (Some(b), true) => Ok(KeyMaterial::device(b.clone(), key_type, raw)),
            _ => KeyMaterial::new(key_type, raw),
        }
    }

    /// New key material for a version of a rotating key, as the bytes to
    /// seal: random bytes in software, a fresh device key's reference on a
    /// device slot.
    pub fn new_version_secret(
        &self,
        label: &str,
        id: &[u8],
        len: usize,
    ) -> Result<Zeroizing<Vec<u8>>> {
        match &self.backend {
            Some(b) => Ok(Zeroizing::new(b.generate_aes(label, id, len)?)),
            None => {
                let mut secret = Zeroizing::new(vec![0u8; len]);
                crate::mech::primitives::rng::fill(&mut secret)?;
                Ok(secret)
            }
        }
    }

    /// Erases a version's material in the device before the store forgets
    /// its reference (software material is erased by the store alone).
    pub fn erase_in_device(&self, v: &VersionRecord) -> Result<()> {
        if let (Some(b), Some(sealed)) = (&self.backend, &v.sealed) {
            let reference = self.unseal(&v.version_uid, sealed)?;
            b.destroy(&reference)?;
        }
        Ok(())
    }

    /// Mechanisms this slot offers (a device slot only what its device does).
    pub fn mechanisms(&self) -> Vec<&'static crate::mech::registry::MechInfo> {
        let all = crate::mech::registry::SOFTWARE.iter();
        match &self.backend {
            None => all.collect(),
            Some(b) => {
                let offered = b.mechanisms();
                all.filter(|m| offered.contains(&m.mech) || m.flags & sys::CKF_DIGEST != 0)
                    .collect()
            }
        }
    }

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
                let sealed = self.seal(&uid, v)?;
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
        let public = object.encode_public();
        let rec = ObjectRecord {
            uid: uid.clone(),
            public: public.clone(),
            secret: sealed.clone(),
        };
        let entry = ObjectEntry::new(handle, object, uid, None, sealed, public);
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
        let public = object.encode_public();
        let rec = ObjectRecord {
            uid: old.uid.clone(),
            public: public.clone(),
            secret: old.sealed.clone(),
        };
        let entry = old.with_object(object, public);
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

    /// Reloads when the store changed since this process last looked.
    pub async fn refresh(self: Arc<Self>) -> Result<()> {
        let g = self.store.generation().await?;
        if g != self.loaded_generation.load(Ordering::Acquire) || self.stale.load(Ordering::Acquire)
        {
            self.reload().await?;
        }
        Ok(())
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
        self.rings.write().insert(
            uid.clone(),
            Arc::new(KeyRing {
                key,
                policy,
                versions,
            }),
        );
        self.objects.merge_key(&uid, faces);
        Ok(())
    }

    /// Removes a rotating key from the ring map and the table.
    pub fn drop_key(&self, key_uid: &str) {
        self.rings.write().remove(key_uid);
        self.objects.merge_key(key_uid, Vec::new());
    }

    /// Adds uses of a key version to the counts the manager flushes.
    pub fn count(&self, key_uid: &str, version: u32, encrypts: u64, decrypts: u64) {
        let mut g = self.counts.lock();
        let e = g.entry((key_uid.to_string(), version)).or_insert((0, 0));
        e.0 += encrypts;
        e.1 += decrypts;
    }

    /// Folds counts just written to the store into the loaded rings, so
    /// this process's attributes show them without a reload.
    pub fn note_flushed(&self, key_uid: &str, version: u32, encrypts: u64, decrypts: u64) {
        let mut rings = self.rings.write();
        if let Some(ring) = rings.get_mut(key_uid) {
            let r = Arc::make_mut(ring);
            if let Some(v) = r.versions.iter_mut().find(|v| v.version == version) {
                v.encrypt_count = v.encrypt_count.saturating_add(encrypts);
                v.decrypt_count = v.decrypt_count.saturating_add(decrypts);
            }
        }
    }

    /// Live (encrypt, decrypt) counts of a key's version, or of all its
    /// versions: loaded, flushed, and not yet flushed.
    pub fn live_counts(&self, key_uid: &str, version: Option<u32>) -> (u64, u64) {
        let mut total = (0u64, 0u64);
        if let Ok(ring) = self.ring(key_uid) {
            for v in ring
                .versions
                .iter()
                .filter(|v| version.is_none_or(|n| n == v.version))
            {
                total.0 += v.encrypt_count;
                total.1 += v.decrypt_count;
            }
        }
        for ((uid, v), (e, d)) in self.counts.lock().iter() {
            if uid == key_uid && version.is_none_or(|n| n == *v) {
                total.0 += e;
                total.1 += d;
            }
        }
        total
    }

    /// Takes the counts gathered since the last flush.
    pub fn take_counts(&self) -> HashMap<(String, u32), (u64, u64)> {
        std::mem::take(&mut *self.counts.lock())
    }

    /// Reserves `n` IV counters for a key version: from this process's
    /// block, refilled from the store (never under a lock) when used up.
    pub fn reserve_ivs(&self, key_uid: &str, version: u32, n: u64) -> Result<u64> {
        let k = (key_uid.to_string(), version);
        loop {
            {
                let mut g = self.ivs.lock();
                if let Some((next, end)) = g.get_mut(&k) {
                    if end.saturating_sub(*next) >= n {
                        let start = *next;
                        *next += n;
                        return Ok(start);
                    }
                }
            }
            let (uid, v) = (k.0.clone(), k.1);
            let start =
                self.store_call(move |s| async move { s.reserve_ivs(&uid, v, IV_BLOCK).await })?;
            let end = start
                .checked_add(IV_BLOCK)
                .map_or_else(|| rv(sys::CKR_DATA_LEN_RANGE), Ok)?;
            self.ivs.lock().insert(k.clone(), (start, end));
        }
    }

    /// Stops the background tasks, flushes counts, closes the store.
    pub fn close(&self) {
        let store = self.store.clone();
        let tasks = std::mem::take(&mut *self.tasks.lock());
        let counts = self.take_counts();
        let holder = self.holder.clone();
        let closing = async move {
            for t in tasks {
                // The tasks must be gone before the pool closes under them.
                t.abort();
                let _ = t.await;
            }
            for ((uid, v), (e, d)) in counts {
                if let Err(err) = store.add_counts(&uid, v, e, d).await {
                    tracing::warn!(error = %err, "could not store usage counts");
                }
            }
            let _ = store.release_lease(&holder).await;
            store.close().await
        };
        if let Err(e) = self.rt.block(closing) {
            tracing::warn!(slot = self.id, error = %e, "closing store failed");
        }
    }
}

impl Error {
    /// True for the "buffer too small" condition of the two-call convention.
    pub fn is_buffer_too_small(&self) -> bool {
        matches!(self, Error::Rv(sys::CKR_BUFFER_TOO_SMALL))
    }
}
