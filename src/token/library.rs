//! The initialised library: configuration, runtime, slots and sessions, and
//! the process-wide state `C_Initialize`/`C_Finalize` create and destroy.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Once};

use arc_swap::{ArcSwap, ArcSwapOption};
use cryptoki_sys as sys;
use parking_lot::Mutex;
use sys::{CK_SESSION_HANDLE, CK_SLOT_ID};

use super::handles;
use super::login::SessionFacts;
use super::runtime::AsyncRuntime;
use super::session::Session;
use super::slot::Slot;
use crate::config::{Config, StoreLocation};
use crate::error::{rv, Result};
use crate::store::sqlite::SqliteStore;
use crate::store::Store;

/// A session behind its own lock; sessions never share one.
pub type SessionCell = Mutex<Session>;

type SessionMap = HashMap<CK_SESSION_HANDLE, Arc<SessionCell>, handles::HandleHash>;

static LIBRARY: ArcSwapOption<Library> = ArcSwapOption::const_empty();
static INIT_LOCK: Mutex<()> = Mutex::new(());
static FORKED: AtomicBool = AtomicBool::new(false);
static ATFORK: Once = Once::new();

/// The state between `C_Initialize` and `C_Finalize`.
pub struct Library {
    /// Background tasks are forbidden: due work runs inside calls.
    pub lazy: bool,
    /// The configuration in force.
    pub config: Config,
    rt: Arc<AsyncRuntime>,
    /// Slots in id order.
    pub slots: Vec<Arc<Slot>>,
    // Copy-on-write: lookups on the hot path never write a shared word.
    sessions: ArcSwap<SessionMap>,
    sessions_write: Mutex<()>,
}

extern "C" fn after_fork_in_child() {
    FORKED.store(true, Ordering::SeqCst);
}

/// Opens the store a slot's configuration names.
fn open_store(rt: &AsyncRuntime, slot: &crate::config::SlotConfig) -> Result<Arc<dyn Store>> {
    let token_id = format!("slot{}", slot.id);
    match &slot.store {
        StoreLocation::Sqlite(path) => {
            let path = path.clone();
            let store = rt.block(async move { SqliteStore::open(&path, &token_id).await })??;
            Ok(Arc::new(store))
        }
    }
}

/// The policy new keys start from, with the config's `[defaults]` applied.
fn default_policy(d: &crate::config::SlotDefaults) -> crate::keys::policy::Policy {
    let mut p = crate::keys::policy::Policy::default();
    if let Some(r) = d.rotation_period {
        p.rotation_period_s = Some(r.as_secs().max(1));
    }
    if let Some(g) = d.grace_period {
        p.grace_period_s = g.as_secs();
    }
    if let Some(r) = d.retention {
        p.retention_s = r.as_secs();
    }
    p
}

/// `C_Initialize`: builds the library from configuration.
pub fn initialize(p_reserved: Option<&str>) -> Result<()> {
    initialize_with(p_reserved, true)
}

/// `C_Initialize` with the choice of background tasks: `false` when the
/// application set `CKF_LIBRARY_CANT_CREATE_OS_THREADS`.
pub fn initialize_with(p_reserved: Option<&str>, background: bool) -> Result<()> {
    let _g = INIT_LOCK.lock();
    if FORKED.swap(false, Ordering::SeqCst) {
        // The parent's runtime threads do not exist in this child: joining
        // them would hang, so the old state is abandoned, not dropped.
        if let Some(old) = LIBRARY.swap(None) {
            std::mem::forget(old);
        }
    }
    if LIBRARY.load().is_some() {
        return rv(sys::CKR_CRYPTOKI_ALREADY_INITIALIZED);
    }
    ATFORK.call_once(|| {
        // SAFETY: registering a handler that only stores to an atomic.
        unsafe { libc::pthread_atfork(None, None, Some(after_fork_in_child)) };
    });
    let config =
        Config::discover(p_reserved).inspect_err(|e| crate::logging::startup_failure(e))?;
    // Quiet by default inside someone else's process: log only when asked.
    let asked = config.log != crate::config::LogConfig::default()
        || std::env::var_os(crate::logging::ENV_LOG).is_some()
        || std::env::var_os(crate::logging::ENV_LOG_DEST).is_some();
    if asked {
        crate::logging::init(&config.log);
    }
    let rt = Arc::new(AsyncRuntime::new()?);
    let mut slots = Vec::with_capacity(config.slots.len());
    for sc in &config.slots {
        let defaults = default_policy(&config.defaults);
        let opened = open_store(&rt, sc).and_then(|store| {
            crate::backend::open(sc).and_then(|backend| {
                Slot::open(sc.clone(), defaults, backend, store, rt.clone(), background)
            })
        });
        match opened {
            Ok(slot) => slots.push(slot),
            Err(e) => {
                crate::logging::startup_failure(&format_args!("slot {}: {e}", sc.id));
                for s in &slots {
                    s.close();
                }
                rt.shutdown();
                return Err(e);
            }
        }
    }
    tracing::info!(slots = slots.len(), config = %config.origin, "keyrotor initialised");
    let lib = Library {
        lazy: !background,
        config,
        rt,
        slots,
        sessions: ArcSwap::from_pointee(SessionMap::default()),
        sessions_write: Mutex::new(()),
    };
    LIBRARY.store(Some(Arc::new(lib)));
    Ok(())
}

/// `C_Finalize`: closes every session and store and stops every thread.
pub fn finalize() -> Result<()> {
    let _g = INIT_LOCK.lock();
    if FORKED.load(Ordering::SeqCst) {
        return rv(sys::CKR_CRYPTOKI_NOT_INITIALIZED);
    }
    let Some(lib) = LIBRARY.swap(None) else {
        return rv(sys::CKR_CRYPTOKI_NOT_INITIALIZED);
    };
    let open = lib.sessions.swap(Arc::new(SessionMap::default()));
    for cell in open.values() {
        // Calls that already hold a session finish first; later ones see it closed.
        let mut s = cell.lock();
        s.closed = true;
        s.cancel_all();
    }
    for s in &lib.slots {
        s.objects.remove_session_objects(None);
        s.close();
    }
    lib.rt.shutdown();
    tracing::info!("keyrotor finalised");
    Ok(())
}

/// Runs `f` with the initialised library.
pub fn with<R>(f: impl FnOnce(&Library) -> Result<R>) -> Result<R> {
    if FORKED.load(Ordering::Relaxed) {
        return rv(sys::CKR_CRYPTOKI_NOT_INITIALIZED);
    }
    let guard = LIBRARY.load();
    match guard.as_deref() {
        Some(lib) => f(lib),
        None => rv(sys::CKR_CRYPTOKI_NOT_INITIALIZED),
    }
}

impl Library {
    /// The slot with `id`.
    pub fn slot(&self, id: CK_SLOT_ID) -> Result<&Arc<Slot>> {
        self.slots
            .iter()
            .find(|s| s.id == id)
            .map_or_else(|| rv(sys::CKR_SLOT_ID_INVALID), Ok)
    }

    /// Runs `f` on the session `h` under its own lock.
    pub fn with_session<R>(
        &self,
        h: CK_SESSION_HANDLE,
        f: impl FnOnce(&mut Session) -> Result<R>,
    ) -> Result<R> {
        let map = self.sessions.load();
        let cell = map
            .get(&h)
            .map_or_else(|| rv(sys::CKR_SESSION_HANDLE_INVALID), Ok)?;
        let mut s = cell.lock();
        if s.closed {
            return rv(sys::CKR_SESSION_HANDLE_INVALID);
        }
        f(&mut s)
    }

    /// In lazy mode (no background tasks), runs due work for the session's
    /// slot inside this call; otherwise does nothing.
    pub fn lazy_tick(&self, h: CK_SESSION_HANDLE) {
        if self.lazy {
            if let Ok(slot) = self.with_session(h, |s| Ok(s.slot.clone())) {
                slot.lazy_work();
            }
        }
    }

    /// Counts of open sessions on `slot`.
    pub fn session_facts(&self, slot: CK_SLOT_ID) -> SessionFacts {
        let map = self.sessions.load();
        let mut facts = SessionFacts {
            count: 0,
            read_only: 0,
        };
        for cell in map.values() {
            let s = cell.lock();
            if s.slot.id == slot {
                facts.count += 1;
                if !s.rw {
                    facts.read_only += 1;
                }
            }
        }
        facts
    }

    /// `C_OpenSession`.
    pub fn open_session(
        &self,
        slot_id: CK_SLOT_ID,
        flags: sys::CK_FLAGS,
    ) -> Result<CK_SESSION_HANDLE> {
        let slot = self.slot(slot_id)?.clone();
        if flags & sys::CKF_SERIAL_SESSION == 0 {
            return rv(sys::CKR_SESSION_PARALLEL_NOT_SUPPORTED);
        }
        if !slot.initialized() {
            slot.reload_if_stale()?;
            if !slot.initialized() {
                return rv(sys::CKR_TOKEN_NOT_RECOGNIZED);
            }
        }
        let rw = flags & sys::CKF_RW_SESSION != 0;
        if !rw && slot.login_state() == super::slot::LOGIN_SO {
            return rv(sys::CKR_SESSION_READ_WRITE_SO_EXISTS);
        }
        let max = slot.config.max_sessions;
        if max > 0 && self.session_facts(slot_id).count as u64 >= max {
            return rv(sys::CKR_SESSION_COUNT);
        }
        slot.reload_if_stale()?;
        if self.lazy {
            slot.lazy_work();
        }
        let h = handles::next_session();
        let cell = Arc::new(Mutex::new(Session::new(h, slot, rw)));
        let _w = self.sessions_write.lock();
        let mut map = (**self.sessions.load()).clone();
        map.insert(h, cell);
        self.sessions.store(Arc::new(map));
        Ok(h)
    }

    /// `C_CloseSession`; the last session on a slot logs the application out.
    pub fn close_session(&self, h: CK_SESSION_HANDLE) -> Result<()> {
        let removed = {
            let _w = self.sessions_write.lock();
            let mut map = (**self.sessions.load()).clone();
            let removed = map.remove(&h);
            self.sessions.store(Arc::new(map));
            removed
        };
        let cell = removed.map_or_else(|| rv(sys::CKR_SESSION_HANDLE_INVALID), Ok)?;
        let slot = {
            let mut s = cell.lock();
            s.closed = true;
            s.cancel_all();
            s.slot.clone()
        };
        slot.objects.remove_session_objects(Some(h));
        if self.session_facts(slot.id).count == 0 && slot.login_state() != super::slot::LOGIN_PUBLIC
        {
            // Ignore "not logged in": another thread may have logged out first.
            let _ = slot.logout();
        }
        Ok(())
    }

    /// `C_CloseAllSessions`.
    pub fn close_all_sessions(&self, slot_id: CK_SLOT_ID) -> Result<()> {
        self.slot(slot_id)?;
        let handles: Vec<_> = self
            .sessions
            .load()
            .iter()
            .filter(|(_, c)| c.lock().slot.id == slot_id)
            .map(|(h, _)| *h)
            .collect();
        for h in handles {
            // A concurrent close of the same handle is not an error here.
            let _ = self.close_session(h);
        }
        Ok(())
    }

    /// Drops prepared keys in every session of `slot` (after logout).
    pub fn forget_session_keys(&self, slot_id: CK_SLOT_ID) {
        for cell in self.sessions.load().values() {
            let mut s = cell.lock();
            if s.slot.id == slot_id {
                s.forget_keys();
            }
        }
    }
}
