//! PKCS#11 (HSM) backend: a slot whose key versions are non-extractable AES
//! keys inside another PKCS#11 module, driven through `cryptoki`.
//!
//! - Each version is a token object generated in the HSM; keyrotor stores
//!   its *reference*: the object's `CKA_ID`, which is the version id keyrotor
//!   asked for plus `#` and 16 random hex digits, so two processes racing to
//!   create the same version never produce two objects with one reference.
//! - Calls run on a pool of HSM sessions (`pool_size`), logged in once per
//!   connection; by default on worker threads so a caller never waits past
//!   `timeout` (see [`pool`]).
//! - When the HSM goes away, calls fail fast with `CKR_DEVICE_ERROR`, and the
//!   module is reinitialised, sessions reopened and the user logged in again
//!   when it answers (see [`module`]).

mod errors;
mod host_gcm;
mod module;
mod open;
mod ops;
mod pool;
mod spin;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use cryptoki::object::ObjectHandle;
use cryptoki::slot::Slot;
use cryptoki_sys as sys;
use parking_lot::{Mutex, RwLock};
use sys::CK_MECHANISM_TYPE;
use zeroize::Zeroizing;

use self::errors::{classify, presented, raw_code, Failure};
use self::module::{Module, State, RECONNECT_WAIT};
use self::ops::GcmCall;
use self::pool::{Conn, ConnPool, Workers};
use super::KeyBackend;
use crate::config::{CallMode, GcmMode, Pkcs11Config};
use crate::error::{rv, Error, Result};

pub use self::open::open;

/// A slot's view of its HSM token.
pub struct Pkcs11Backend {
    inner: Arc<Inner>,
    exec: Exec,
}

enum Exec {
    Inline(ConnPool),
    Worker(Workers),
}

/// What every call needs, shared with the worker threads.
struct Inner {
    module: Arc<Module>,
    cfg: Pkcs11Config,
    name: String,
    pin: Zeroizing<String>,
    // The HSM slot of the token, per module generation (p11-kit renumbers
    // slots when its server restarts).
    slot: Mutex<(u64, Option<Slot>)>,
    // Object handle of each reference, per generation.
    keys: RwLock<HashMap<Vec<u8>, (u64, ObjectHandle)>>,
    mechs: Vec<CK_MECHANISM_TYPE>,
    // The HSM refused the PIN once: never try again (it would lock the PIN).
    pin_refused: AtomicBool,
}

impl Inner {
    /// Runs `op` on the session in `slot` (opening one if needed), with one
    /// retry after a stale session, a stale handle or a lost connection.
    fn run<R>(
        &self,
        slot: &mut Option<Conn>,
        deadline: Instant,
        op: &mut dyn FnMut(&Inner, &State, &Conn) -> Result<R>,
    ) -> Result<R> {
        let mut retried = false;
        loop {
            let st = self.module.read(deadline)?;
            if slot.as_ref().is_some_and(|c| c.gen != st.gen) {
                // Dead with its connection: dropping it closes nothing.
                *slot = None;
            }
            let attempt = match slot {
                Some(c) => op(self, &st, c),
                None => self
                    .open_conn(&st)
                    .and_then(|c| op(self, &st, slot.insert(c))),
            };
            let e = match attempt {
                Ok(r) => {
                    self.module.note_success();
                    return Ok(r);
                }
                Err(e) => e,
            };
            let Some(code) = raw_code(&e) else {
                return Err(e);
            };
            tracing::debug!(backend = %self.name, code = crate::error::rv_name(code), raw = code, "HSM call failed");
            match classify(code) {
                Failure::Request => return rv(presented(code)),
                Failure::Handle => self.keys.write().clear(),
                Failure::Session => {
                    if let Some(c) = slot.take() {
                        ops::close(&st, c);
                    }
                }
                Failure::Connection => {
                    *slot = None;
                    let gen = st.gen;
                    drop(st);
                    self.module.mark_broken(gen);
                }
            }
            if retried || Instant::now() >= deadline {
                return rv(presented(code));
            }
            retried = true;
        }
    }

    fn open_conn(&self, st: &State) -> Result<Conn> {
        if self.pin_refused.load(Ordering::Relaxed) {
            return rv(sys::CKR_PIN_INCORRECT);
        }
        let slot = self.hsm_slot(st)?;
        ops::open_conn(st, slot, &self.pin).inspect_err(|e| {
            if matches!(e, Error::Rv(sys::CKR_PIN_INCORRECT | sys::CKR_PIN_LOCKED)) {
                self.pin_refused.store(true, Ordering::Relaxed);
                tracing::error!(backend = %self.name, "the HSM refused the PIN; not retrying (restart keyrotor after fixing it)");
            }
        })
    }

    fn hsm_slot(&self, st: &State) -> Result<Slot> {
        if let (gen, Some(s)) = *self.slot.lock() {
            if gen == st.gen {
                return Ok(s);
            }
        }
        // Not under the lock: listing tokens is a call to the HSM.
        let s = open::find_token(st, &self.cfg.token)
            .map_err(|e| Error::Rv(e.code().unwrap_or(sys::CKR_TOKEN_NOT_PRESENT)))?;
        *self.slot.lock() = (st.gen, Some(s));
        Ok(s)
    }

    /// The HSM object of `reference` (cached per connection).
    fn key(&self, st: &State, conn: &Conn, reference: &[u8]) -> Result<ObjectHandle> {
        if let Some((gen, h)) = self.keys.read().get(reference) {
            if *gen == st.gen {
                return Ok(*h);
            }
        }
        let found = ops::find_keys(conn, reference)?;
        let [one] = found.as_slice() else {
            tracing::error!(backend = %self.name, objects = found.len(), "a version key is not in the HSM exactly once");
            return rv(sys::CKR_DEVICE_ERROR);
        };
        let h = *one;
        self.keys.write().insert(reference.to_vec(), (st.gen, h));
        Ok(h)
    }

    fn gcm(
        &self,
        st: &State,
        conn: &Conn,
        reference: &[u8],
        call: GcmCall<'_>,
        out: &mut [u8],
    ) -> Result<usize> {
        let key = self.key(st, conn, reference)?;
        let GcmCall {
            encrypt,
            iv,
            aad,
            tag_len,
            input,
        } = call;
        let ecb = &mut |b: &mut [u8]| ops::ecb_in_place(st, conn, key, b);
        match (self.cfg.gcm, encrypt) {
            (GcmMode::Native, _) => ops::gcm(st, conn, key, call, out),
            (GcmMode::Ecb, true) => host_gcm::encrypt(ecb, iv, aad, input, tag_len, out),
            (GcmMode::Ecb, false) => host_gcm::decrypt(ecb, iv, aad, input, tag_len, out),
        }
    }
}

impl Pkcs11Backend {
    fn deadline(&self) -> Instant {
        Instant::now() + self.inner.cfg.timeout
    }

    /// Runs an owned operation on a pooled session, on the configured thread.
    fn call<R: Send + 'static>(
        &self,
        mut op: impl FnMut(&Inner, &State, &Conn) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        let deadline = self.deadline();
        match &self.exec {
            Exec::Inline(pool) => {
                let mut slot = pool.checkout(deadline)?;
                let r = self.inner.run(&mut slot, deadline, &mut op);
                pool.checkin(slot);
                r
            }
            Exec::Worker(w) => {
                let inner = self.inner.clone();
                let on_abandon = || {
                    tracing::error!(backend = %self.inner.name, timeout = ?self.inner.cfg.timeout, "an HSM call did not return in time");
                    self.inner.module.mark_hung();
                };
                w.call(
                    deadline,
                    move |slot| inner.run(slot, deadline, &mut op),
                    on_abandon,
                )
            }
        }
    }

    fn gcm(&self, reference: &[u8], call: GcmCall<'_>, out: &mut [u8]) -> Result<usize> {
        if let Exec::Inline(pool) = &self.exec {
            // Borrowed buffers, no copies: the hot path of `calls = "inline"`.
            let deadline = self.deadline();
            let mut slot = pool.checkout(deadline)?;
            let r = self.inner.run(&mut slot, deadline, &mut |inner, st, conn| {
                inner.gcm(st, conn, reference, call, out)
            });
            pool.checkin(slot);
            return r;
        }
        // A worker may outlive this call (timeout): it gets its own copies.
        let cap = out.len();
        let (encrypt, tag_len) = (call.encrypt, call.tag_len);
        let (reference, iv, aad, input) = (
            reference.to_vec(),
            call.iv.to_vec(),
            call.aad.to_vec(),
            call.input.to_vec(),
        );
        let (n, buf) = self.call(move |inner, st, conn| {
            let mut buf = Zeroizing::new(vec![0u8; cap]);
            let owned = GcmCall {
                encrypt,
                iv: &iv,
                aad: &aad,
                tag_len,
                input: &input,
            };
            let n = inner.gcm(st, conn, &reference, owned, &mut buf)?;
            Ok((n, buf))
        })?;
        let src = buf.get(..n).ok_or(Error::Rv(sys::CKR_GENERAL_ERROR))?;
        out.get_mut(..n)
            .ok_or(Error::Rv(sys::CKR_BUFFER_TOO_SMALL))?
            .copy_from_slice(src);
        Ok(n)
    }
}

impl KeyBackend for Pkcs11Backend {
    fn name(&self) -> String {
        self.inner.name.clone()
    }

    fn generate_aes(&self, label: &str, id: &[u8], len: usize) -> Result<Vec<u8>> {
        let suffix: String = crate::mech::primitives::rng::random_array::<8>()?
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let mut reference = id.to_vec();
        reference.push(b'#');
        reference.extend_from_slice(suffix.as_bytes());
        let (label, r) = (label.to_string(), reference.clone());
        let (gen, handle) =
            self.call(move |_, st, conn| Ok((st.gen, ops::generate(conn, &label, &r, len)?)))?;
        self.inner
            .keys
            .write()
            .insert(reference.clone(), (gen, handle));
        Ok(reference)
    }

    fn destroy(&self, reference: &[u8]) -> Result<()> {
        let r = reference.to_vec();
        self.call(move |_, _, conn| ops::destroy(conn, ops::find_keys(conn, &r)?))?;
        self.inner.keys.write().remove(reference);
        Ok(())
    }

    fn gcm_encrypt(
        &self,
        reference: &[u8],
        iv: &[u8],
        aad: &[u8],
        plaintext: &[u8],
        tag_len: usize,
        out: &mut [u8],
    ) -> Result<usize> {
        let call = GcmCall {
            encrypt: true,
            iv,
            aad,
            tag_len,
            input: plaintext,
        };
        self.gcm(reference, call, out)
    }

    fn gcm_decrypt(
        &self,
        reference: &[u8],
        iv: &[u8],
        aad: &[u8],
        ct_and_tag: &[u8],
        tag_len: usize,
        out: &mut [u8],
    ) -> Result<usize> {
        let call = GcmCall {
            encrypt: false,
            iv,
            aad,
            tag_len,
            input: ct_and_tag,
        };
        self.gcm(reference, call, out)
    }

    fn mechanisms(&self) -> Vec<CK_MECHANISM_TYPE> {
        self.inner.mechs.clone()
    }

    fn health(&self) -> Result<()> {
        self.call(|_, _, conn| ops::ping(conn))
    }
}

impl Drop for Pkcs11Backend {
    fn drop(&mut self) {
        let conns = match &self.exec {
            Exec::Inline(pool) => pool.drain(),
            Exec::Worker(w) => w.stop(self.inner.cfg.timeout),
        };
        if let Ok(st) = self.inner.module.read(Instant::now() + RECONNECT_WAIT) {
            for c in conns {
                ops::close(&st, c);
            }
        }
    }
}

impl Pkcs11Backend {
    fn new(inner: Inner, initial: Vec<Conn>) -> Result<Pkcs11Backend> {
        let exec = match inner.cfg.calls {
            CallMode::Inline => Exec::Inline(ConnPool::new(inner.cfg.pool_size, initial)),
            CallMode::Worker => Exec::Worker(Workers::start(inner.cfg.pool_size, initial)?),
        };
        Ok(Pkcs11Backend {
            inner: Arc::new(inner),
            exec,
        })
    }
}
