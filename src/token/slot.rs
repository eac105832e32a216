//! One slot and its token: store access, token state, object persistence and
//! the background check that notices changes made by other processes.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use cryptoki_sys as sys;
use parking_lot::{Mutex, RwLock};
use sys::CK_SLOT_ID;
use zeroize::Zeroizing;

use super::objects::{ObjectEntry, ObjectTable};
use super::runtime::AsyncRuntime;
use crate::config::SlotConfig;
use crate::error::{rv, Error, Result};
use crate::mech::key::KeyMaterial;
use crate::object::Object;
use crate::store::crypt::{SealAad, StorageKey};
use crate::store::{ObjectRecord, Store, TokenRecord};

/// Nobody is logged in.
pub const LOGIN_PUBLIC: u8 = 0;
/// The normal user is logged in.
pub const LOGIN_USER: u8 = 1;
/// The security officer is logged in.
pub const LOGIN_SO: u8 = 2;

/// How often the background task asks the store whether others wrote.
const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// The field name bound into the sealing AAD of an object's value.
const VALUE_FIELD: &str = "value";

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
    storage_key: RwLock<Option<Arc<StorageKey>>>,
    /// Every object of the slot.
    pub objects: ObjectTable,
    /// Serialises this process's object writes with reloads of the table.
    persist_lock: Mutex<()>,
    loaded_generation: AtomicU64,
    stale: AtomicBool,
    poller: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Slot {
    /// Opens the slot's store and loads its token and objects.
    pub fn open(
        config: SlotConfig,
        store: Arc<dyn Store>,
        rt: Arc<AsyncRuntime>,
    ) -> Result<Arc<Slot>> {
        let slot = Arc::new(Slot {
            id: config.id as CK_SLOT_ID,
            token_id: format!("slot{}", config.id),
            config,
            store,
            rt,
            token: RwLock::new(None),
            login: AtomicU8::new(LOGIN_PUBLIC),
            login_lock: Mutex::new(()),
            storage_key: RwLock::new(None),
            objects: ObjectTable::default(),
            persist_lock: Mutex::new(()),
            loaded_generation: AtomicU64::new(u64::MAX),
            stale: AtomicBool::new(true),
            poller: Mutex::new(None),
        });
        slot.reload_if_stale()?;
        slot.start_poller();
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

    fn start_poller(self: &Arc<Self>) {
        let weak: Weak<Slot> = Arc::downgrade(self);
        let store = self.store.clone();
        let spawned = self.rt.spawn(async move {
            let mut tick = tokio::time::interval(POLL_INTERVAL);
            loop {
                tick.tick().await;
                let Some(slot) = weak.upgrade() else { return };
                match store.generation().await {
                    Ok(g) if g != slot.loaded_generation.load(Ordering::Acquire) => {
                        slot.stale.store(true, Ordering::Release);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(slot = slot.id, error = %e, "store generation check failed")
                    }
                }
            }
        });
        match spawned {
            Ok(handle) => *self.poller.lock() = Some(handle),
            Err(e) => {
                tracing::warn!(slot = self.id, error = %e, "cannot watch the store for changes")
            }
        }
    }

    /// Reloads token row and objects when another process changed them.
    pub fn reload_if_stale(&self) -> Result<()> {
        if !self.stale.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        let _g = self.persist_lock.lock();
        let generation = self.store_call(|s| async move { s.generation().await })?;
        let token = self.store_call(|s| async move { s.load_token().await })?;
        let records = self.store_call(|s| async move { s.load_objects().await })?;
        let mut fresh = Vec::with_capacity(records.len());
        for r in records {
            match Object::decode(&r.public, None) {
                Ok(obj) => fresh.push((r.uid, obj, r.secret, r.public)),
                Err(e) => {
                    tracing::error!(slot = self.id, uid = %r.uid, error = %e, "skipping unreadable object")
                }
            }
        }
        *self.token.write() = token;
        self.objects.merge_token_objects(fresh);
        self.loaded_generation.store(generation, Ordering::Release);
        Ok(())
    }

    /// Re-reads the token row (PIN state may have changed elsewhere).
    pub fn refresh_token(&self) -> Result<Option<TokenRecord>> {
        let token = self.store_call(|s| async move { s.load_token().await })?;
        *self.token.write() = token.clone();
        Ok(token)
    }

    /// True when the token has been initialised.
    pub fn initialized(&self) -> bool {
        self.token.read().is_some()
    }

    /// Current login state (`LOGIN_*`).
    pub fn login_state(&self) -> u8 {
        self.login.load(Ordering::Acquire)
    }

    /// Installs or drops the unlocked storage key.
    pub fn set_storage_key(&self, key: Option<StorageKey>) {
        *self.storage_key.write() = key.map(Arc::new);
    }

    /// The unlocked storage key; `CKR_USER_NOT_LOGGED_IN` while locked.
    pub fn storage_key(&self) -> Result<Arc<StorageKey>> {
        self.storage_key
            .read()
            .clone()
            .map_or_else(|| rv(sys::CKR_USER_NOT_LOGGED_IN), Ok)
    }

    fn aad<'a>(&'a self, uid: &'a str) -> SealAad<'a> {
        SealAad {
            token_id: &self.token_id,
            object_uid: uid,
            field: VALUE_FIELD,
        }
    }

    /// Unseals an object's stored value.
    pub fn unseal(&self, uid: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        self.storage_key()?.open(&self.aad(uid), sealed)
    }

    /// The plaintext material of an entry (unsealing on first use).
    pub fn material(&self, e: &ObjectEntry) -> Result<Arc<KeyMaterial>> {
        e.material(|sealed| self.unseal(&e.uid, sealed))
    }

    /// Writes a new token object to the store and adds it to the table.
    pub fn persist_new(
        &self,
        handle: sys::CK_OBJECT_HANDLE,
        mut object: Object,
        uid: String,
    ) -> Result<()> {
        let mut material = None;
        let sealed = match object.secret_value() {
            Some(v) => {
                let sealed = self.storage_key()?.seal(&self.aad(&uid), v)?;
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
        let _g = self.persist_lock.lock();
        self.store_call(move |s| async move { s.insert_object(&rec).await })?;
        let entry = ObjectEntry::new(handle, object, uid, None, sealed, public);
        if let Some(m) = material {
            entry.prime(m);
        }
        self.objects.insert(entry);
        Ok(())
    }

    /// Stores new attributes of a token object and swaps the entry.
    pub fn persist_update(&self, old: &ObjectEntry, object: Object) -> Result<()> {
        let public = object.encode_public();
        let rec = ObjectRecord {
            uid: old.uid.clone(),
            public: public.clone(),
            secret: old.sealed.clone(),
        };
        let _g = self.persist_lock.lock();
        self.store_call(move |s| async move { s.update_object(&rec).await })?;
        self.objects.replace(old.with_object(object, public));
        Ok(())
    }

    /// Deletes a token object from the store and the table.
    pub fn persist_delete(&self, entry: &ObjectEntry) -> Result<()> {
        let uid = entry.uid.clone();
        let _g = self.persist_lock.lock();
        self.store_call(move |s| async move { s.delete_object(&uid).await })?;
        self.objects.remove(entry.handle);
        Ok(())
    }

    /// Stops the change watcher, then closes the store (its threads end with it).
    pub fn close(&self) {
        let store = self.store.clone();
        let poller = self.poller.lock().take();
        let closing = async move {
            if let Some(p) = poller {
                // The watcher must be gone before the pool closes under it.
                p.abort();
                let _ = p.await;
            }
            store.close().await
        };
        if let Err(e) = self.rt.block(closing) {
            tracing::warn!(slot = self.id, error = %e, "closing store failed");
        }
    }

    /// The store, for the admin CLI.
    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }
}

impl Error {
    /// True for the "buffer too small" condition of the two-call convention.
    pub fn is_buffer_too_small(&self) -> bool {
        matches!(self, Error::Rv(sys::CKR_BUFFER_TOO_SMALL))
    }
}
