//! One loaded HSM module (the `.so`) shared by every slot that uses it:
//! loading and `C_Initialize`, the generation counter that tells sessions
//! they are stale, and reconnecting (`C_Finalize` + `C_Initialize`) after
//! the HSM went away.
//!
//! Every HSM call runs under a read lock of [`State`]; reconnecting takes
//! the write lock, so the module is never finalised under a running call.
//! Both locks are taken with a deadline: a caller never waits past its
//! `timeout` for them.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki_sys as sys;
use parking_lot::{Mutex, RwLock, RwLockReadGuard};

use super::errors::code_of;
use crate::error::{rv, Error, Result};

/// First wait before another reconnect attempt; doubles per failure.
const BACKOFF_START: Duration = Duration::from_millis(100);
/// Longest wait between reconnect attempts.
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// Longest a reconnect waits for calls still inside the old connection
/// (callers queue behind a waiting reconnect, so it must be short).
pub(super) const RECONNECT_WAIT: Duration = Duration::from_millis(250);

/// The raw 2.40 function list, for the calls `cryptoki` makes twice (its
/// `encrypt` asks for the length first: one more round trip to a network
/// HSM on every operation).
#[derive(Clone, Copy)]
pub(super) struct Functions(pub sys::CK_FUNCTION_LIST);

// SAFETY: a function list is a table of plain function pointers into the
// loaded module, which PKCS#11 requires to be callable from any thread once
// initialised with CKF_OS_LOCKING_OK; it holds no thread-bound state.
unsafe impl Send for Functions {}
// SAFETY: as above; the table is never written after it is copied.
unsafe impl Sync for Functions {}

/// The module as calls see it.
pub(super) struct State {
    /// The `cryptoki` context.
    pub ctx: Pkcs11,
    /// The same module's function list for the hot-path calls, when it is
    /// the very instance `cryptoki` initialised. p11-kit's client hands out
    /// a new, separate instance per `C_GetFunctionList`: then `None`, and
    /// everything goes through `cryptoki`.
    pub fns: Option<Functions>,
    /// Bumped by every reconnect: sessions and handles of an older
    /// generation are dead.
    pub gen: u64,
}

/// A loaded, initialised module.
pub(super) struct Module {
    path: PathBuf,
    pid: u32,
    // C_Initialize answered CKR_CRYPTOKI_ALREADY_INITIALIZED: the host owns
    // the module, so keyrotor never finalises it.
    owns_init: bool,
    state: RwLock<State>,
    broken: AtomicBool,
    failures: AtomicU32,
    next_attempt: Mutex<Instant>,
    // Keeps the second handle of the library (and `fns`) valid.
    _lib: sys::Pkcs11,
}

static LOADED: Mutex<Vec<(PathBuf, u32, Weak<Module>)>> = Mutex::new(Vec::new());

/// Why a module could not be opened (worded by the caller with the
/// configuration's line).
#[derive(Debug)]
pub(super) enum LoadError {
    /// `dlopen` or the symbol lookup failed.
    Load(String),
    /// `C_Initialize` failed with this code.
    Init(sys::CK_RV),
}

impl Module {
    /// The module at `path`, loaded and initialised once per process and
    /// shared while any slot uses it.
    pub fn get(path: &Path) -> std::result::Result<Arc<Module>, LoadError> {
        let pid = std::process::id();
        let mut loaded = LOADED.lock();
        loaded.retain(|(_, _, w)| w.strong_count() > 0);
        // A module loaded before a fork belongs to the parent: its sessions
        // and threads do not exist here, so the child starts afresh.
        let found = loaded
            .iter()
            .filter(|(p, owner, _)| p == path && *owner == pid)
            .find_map(|(_, _, w)| w.upgrade());
        if let Some(m) = found {
            return Ok(m);
        }
        let m = Arc::new(Module::load(path, pid)?);
        loaded.push((path.to_path_buf(), pid, Arc::downgrade(&m)));
        Ok(m)
    }

    fn load(path: &Path, pid: u32) -> std::result::Result<Module, LoadError> {
        let ctx = Pkcs11::new(path).map_err(|e| {
            LoadError::Load(match e {
                // dlopen's own words ("cannot open shared object file", "invalid ELF header").
                cryptoki::error::Error::LibraryLoading(l) => l.to_string(),
                other => other.to_string(),
            })
        })?;
        // SAFETY: loading a library runs its initialisers; this is the same
        // file `cryptoki` just loaded (the second dlopen only counts up).
        let lib = unsafe { sys::Pkcs11::new(path) }.map_err(|e| LoadError::Load(e.to_string()))?;
        let mut list: *mut sys::CK_FUNCTION_LIST = std::ptr::null_mut();
        // SAFETY: C_GetFunctionList writes one pointer to a static table.
        let got = unsafe { lib.C_GetFunctionList(&mut list) };
        // SAFETY: checked non-NULL and CKR_OK; the table lives as long as
        // the library, which `_lib` keeps loaded.
        let fns = match (got, unsafe { list.as_ref() }) {
            (sys::CKR_OK, Some(l)) => Functions(*l),
            _ => return Err(LoadError::Load("C_GetFunctionList failed".into())),
        };
        let owns_init = match ctx.initialize(init_args()) {
            Ok(()) => true,
            Err(e) if code_of(&e) == sys::CKR_CRYPTOKI_ALREADY_INITIALIZED => false,
            Err(e) => return Err(LoadError::Init(code_of(&e))),
        };
        let fns = shares_init(&fns).then_some(fns);
        if fns.is_none() {
            tracing::info!(module = %path.display(), "module hands out separate instances; all calls go through cryptoki");
        }
        Ok(Module {
            path: path.to_path_buf(),
            pid,
            owns_init,
            state: RwLock::new(State { ctx, fns, gen: 1 }),
            broken: AtomicBool::new(false),
            failures: AtomicU32::new(0),
            next_attempt: Mutex::new(Instant::now()),
            _lib: lib,
        })
    }

    /// The module's file name, for names and logs.
    pub fn file_name(&self) -> String {
        self.path.file_name().map_or_else(
            || self.path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    }

    /// The state for one call. While the module is marked broken this tries
    /// one reconnect (at most one at a time, spaced by a backoff) and
    /// otherwise fails at once with `CKR_DEVICE_ERROR`.
    pub fn read(&self, deadline: Instant) -> Result<RwLockReadGuard<'_, State>> {
        if self.broken.load(Ordering::Acquire) && !self.reconnect(deadline) {
            return rv(sys::CKR_DEVICE_ERROR);
        }
        self.state
            .try_read_until(deadline)
            .ok_or(Error::Rv(sys::CKR_DEVICE_ERROR))
    }

    /// Records that generation `gen` lost the HSM; the next call reconnects.
    pub fn mark_broken(&self, gen: u64) {
        if self.state.try_read().is_some_and(|s| s.gen != gen) {
            return; // someone already reconnected
        }
        if !self.broken.swap(true, Ordering::AcqRel) {
            tracing::warn!(module = %self.path.display(), "HSM connection lost; reconnecting");
        }
    }

    /// A call is stuck inside the HSM: treat the connection as lost (the
    /// reconnect then waits for that call, failing fast meanwhile).
    pub fn mark_hung(&self) {
        if !self.broken.swap(true, Ordering::AcqRel) {
            tracing::warn!(module = %self.path.display(), "HSM not answering; failing fast until it does");
        }
    }

    /// A call succeeded: the next outage starts with a short backoff.
    pub fn note_success(&self) {
        if self.failures.load(Ordering::Relaxed) != 0 {
            self.failures.store(0, Ordering::Relaxed);
        }
    }

    /// Reinitialises the module if it is broken and the backoff allows;
    /// true when it is usable now.
    pub fn reconnect(&self, deadline: Instant) -> bool {
        let Some(mut next) = self.next_attempt.try_lock() else {
            return false; // another caller is reconnecting: fail fast
        };
        if !self.broken.load(Ordering::Acquire) {
            return true;
        }
        let now = Instant::now();
        if now < *next {
            return false;
        }
        let failures = self.failures.fetch_add(1, Ordering::Relaxed).min(8);
        *next = now + (BACKOFF_START * 2u32.pow(failures)).min(BACKOFF_MAX);
        let Some(mut st) = self
            .state
            .try_write_until(deadline.min(now + RECONNECT_WAIT))
        else {
            return false; // a call is still inside the old connection
        };
        let ok = if self.owns_init {
            // Errors are expected here: the old connection is gone.
            let _ = st.ctx.clone().finalize();
            match st.ctx.initialize(init_args()) {
                Ok(()) => true,
                Err(e) => {
                    let code = code_of(&e);
                    tracing::warn!(module = %self.path.display(), code = crate::error::rv_name(code), "HSM reconnect failed");
                    false
                }
            }
        } else {
            true // the host owns C_Initialize; new sessions are all we can do
        };
        st.gen += 1;
        if ok {
            self.broken.store(false, Ordering::Release);
            tracing::info!(module = %self.path.display(), generation = st.gen, "HSM module reinitialised");
        }
        ok
    }
}

impl Drop for Module {
    fn drop(&mut self) {
        // Only the process that initialised it, and only if keyrotor did.
        if self.owns_init && self.pid == std::process::id() {
            let _ = self.state.get_mut().ctx.clone().finalize();
        }
    }
}

/// Whether `fns` is the instance `cryptoki` just initialised: a separate,
/// never-initialised instance answers `C_GetInfo` with
/// `CKR_CRYPTOKI_NOT_INITIALIZED`.
fn shares_init(fns: &Functions) -> bool {
    let Some(get_info) = fns.0.C_GetInfo else {
        return false;
    };
    // SAFETY: C_GetInfo writes one CK_INFO into the struct we own.
    let mut info: sys::CK_INFO = unsafe { std::mem::zeroed() };
    // SAFETY: as above; the pointer is valid for the call.
    (unsafe { get_info(&mut info) }) == sys::CKR_OK
}

fn init_args() -> CInitializeArgs {
    CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)
}
