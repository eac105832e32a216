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
use crate::store::{KeyRecord, Store, TokenRecord, VersionRecord};

/// Nobody is logged in.
pub const LOGIN_PUBLIC: u8 = 0;
/// The normal user is logged in.
pub const LOGIN_USER: u8 = 1;
/// The security officer is logged in.
pub const LOGIN_SO: u8 = 2;

/// How often the background task asks the store whether others wrote.
const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Format byte of a stored value that is not sealed: the value of a public
/// data object, which PKCS#11 lets anyone read without a login. Keys are
/// always sealed, whatever their `CKA_PRIVATE`.
pub const PUBLIC_VALUE: u8 = 0x00;

/// The stored form of a public data object's value.
pub fn public_value(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len() + 1);
    out.push(PUBLIC_VALUE);
    out.extend_from_slice(v);
    out
}

/// The field name bound into the sealing AAD of an object's value.
const VALUE_FIELD: &str = "value";

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

/// Every this many reloads one reads every key, not only the changed ones:
/// a safety net should a local change ever have missed the loaded state.
const FULL_RELOAD_EVERY: u64 = 64;

/// A slot with its token.
pub struct Slot {
    /// The slot id callers use.
    pub id: CK_SLOT_ID,
    /// Its configuration.
    pub config: SlotConfig,
    /// The id under which the store keeps this token's rows.
    pub token_id: String,
    pub(super) store: Arc<dyn Store>,
    pub(super) rt: Arc<AsyncRuntime>,
    /// The token row as last read (None: not initialised).
    pub token: RwLock<Option<TokenRecord>>,
    /// `LOGIN_*`; read on the hot path, written under `login_lock`.
    pub login: AtomicU8,
    /// Serialises login, logout, PIN changes and token initialisation.
    pub login_lock: Mutex<()>,
    pub(super) unlocked: RwLock<Option<Arc<Unlocked>>>,
    /// Every object of the slot.
    pub objects: ObjectTable,
    pub(super) rings: RwLock<HashMap<String, Arc<KeyRing>>>,
    // An async lock: writers and reloads hold it across store calls on the
    // runtime, where a blocking lock could stall the runtime's only worker.
    pub(super) persist: tokio::sync::Mutex<()>,
    pub(super) loaded_generation: AtomicU64,
    pub(super) stale: AtomicBool,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    pub(super) counts: Mutex<HashMap<(String, u32), (u64, u64)>>,
    pub(super) ivs: Mutex<HashMap<(String, u32), (u64, u64)>>,
    /// This process's identity in the manager's leader lease.
    pub holder: String,
    /// Policy new rotating keys start from (`[defaults]` of the config).
    pub default_policy: Policy,
    /// The device that holds this slot's keys; `None` for software.
    pub backend: Option<Arc<dyn KeyBackend>>,
    lazy_last: Mutex<Option<std::time::Instant>>,
    /// Reloads since start, to make every FULL_RELOAD_EVERY-th one full.
    partial_reloads: AtomicU64,
    /// When this process last took or renewed the manager lease (ms).
    pub(crate) lease_renewed: Mutex<Option<i64>>,
    /// The key manager's cached earliest due time, for a rings generation.
    pub(crate) earliest_due: Mutex<Option<(u64, Option<i64>)>>,
    /// Bumped whenever a ring is added, replaced or removed.
    rings_gen: AtomicU64,
    /// What the key manager's last scan of the store's keys saw.
    pub(crate) full_scan: Mutex<Option<crate::keys::manager::ScanMark>>,
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
        let holder = crate::mech::primitives::rng::os_random_array::<8>()?
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
            full_scan: Mutex::new(None),
            partial_reloads: AtomicU64::new(0),
            rings_gen: AtomicU64::new(0),
            earliest_due: Mutex::new(None),
            lease_renewed: Mutex::new(None),
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
        self.reload_locked().await
    }

    /// [`Slot::reload`] with the persist lock already held.
    async fn reload_locked(&self) -> Result<()> {
        self.stale.store(false, Ordering::Release);
        let prev = self.loaded_generation.load(Ordering::Acquire);
        let generation = self.store.generation().await?;
        let token = self.store.load_token().await?;
        let records = self.store.load_objects().await?;
        // Only the keys changed since the last load, with every key's uid to
        // notice deletions; in full after a token reset, when the counter
        // went backwards, and every FULL_RELOAD_EVERY reloads as a safety net.
        let partial = prev != u64::MAX
            && generation >= prev
            && self.partial_reloads.fetch_add(1, Ordering::AcqRel) % FULL_RELOAD_EVERY
                != FULL_RELOAD_EVERY - 1;
        let (keys, all_uids) = if partial {
            let c = self.store.load_keys_since(prev, true).await?;
            (c.changed, c.all_uids)
        } else {
            (self.store.load_keys().await?, None)
        };
        let mut fresh = Vec::with_capacity(records.len() + keys.len() * 3);
        for r in records {
            match Object::decode(&r.public, None) {
                Ok(object) => fresh.push(LoadedObject {
                    seal_uid: r.uid.clone(),
                    uid: r.uid,
                    object,
                    sealed: r.secret,
                    rot: None,
                }),
                Err(e) => {
                    tracing::error!(slot = self.id, uid = %r.uid, error = %e, "skipping unreadable object")
                }
            }
        }
        let old_rings = self.rings.read().clone();
        let mut rings = HashMap::with_capacity(keys.len());
        // Faces of keys nobody changed are kept as they are: a reload after
        // one rotation elsewhere rebuilds one key, not all of them.
        // Uids borrowed from `old_rings`, which outlives the merge below.
        let mut kept: std::collections::HashSet<&str> = std::collections::HashSet::new();
        if let Some(all) = &all_uids {
            let changed: std::collections::HashSet<&str> =
                keys.iter().map(|(k, _)| k.key_uid.as_str()).collect();
            for uid in all.iter().filter(|u| !changed.contains(u.as_str())) {
                if let Some(old) = old_rings.get(uid) {
                    kept.insert(old.key.key_uid.as_str());
                    rings.insert(uid.clone(), old.clone());
                }
            }
        }
        for (key, versions) in keys {
            if let Some(old) = old_rings
                .get(&key.key_uid)
                .filter(|r| r.key == key && r.versions == versions)
            {
                kept.insert(old.key.key_uid.as_str());
                rings.insert(key.key_uid, old.clone());
                continue;
            }
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
        self.rings_changed();
        self.objects
            .merge_token_objects(fresh, |rot: &RotRef| kept.contains(rot.key_uid.as_str()));
        self.loaded_generation.store(generation, Ordering::Release);
        Ok(())
    }

    /// The current object and version objects of one rotating key.
    pub(super) fn key_faces(
        key: &KeyRecord,
        versions: &[VersionRecord],
    ) -> Result<(Vec<LoadedObject>, Policy)> {
        let policy = Policy::from_json(&key.policy)?;
        let current = current_object(key, &policy, versions)?;
        let active = versions.iter().find(|v| v.version == key.active_version);
        let mut faces = vec![LoadedObject {
            uid: key.key_uid.clone(),
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

    /// Changes whenever the set of rings or any ring's state changes, so
    /// what is derived from all of them can be cached.
    pub fn rings_generation(&self) -> u64 {
        self.rings_gen.load(Ordering::Acquire)
    }

    pub(super) fn rings_changed(&self) {
        self.rings_gen.fetch_add(1, Ordering::AcqRel);
    }

    /// The rotating keys, as last loaded, for which `keep` holds (unsorted).
    pub fn rings_where(&self, keep: impl Fn(&KeyRing) -> bool) -> Vec<Arc<KeyRing>> {
        self.rings
            .read()
            .values()
            .filter(|r| keep(r))
            .cloned()
            .collect()
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
        self.rings_changed();
        self.ivs.lock().clear();
        self.counts.lock().clear();
        // Nothing is loaded any more: the next reload must read every key.
        self.loaded_generation.store(u64::MAX, Ordering::Release);
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
        if let Some(plain) = sealed.strip_prefix(&[PUBLIC_VALUE]) {
            return Ok(Zeroizing::new(plain.to_vec()));
        }
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

    /// Reloads when the store changed since this process last looked.
    /// Under the persist lock: this process's own writes hold it while they
    /// bump the generation and note it as seen, and a check in between would
    /// take each of them for a change made elsewhere and reload everything.
    pub async fn refresh(self: Arc<Self>) -> Result<()> {
        let _g = self.persist.lock().await;
        let g = self.store.generation().await?;
        if g != self.loaded_generation.load(Ordering::Acquire) || self.stale.load(Ordering::Acquire)
        {
            self.reload_locked().await?;
        }
        Ok(())
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
