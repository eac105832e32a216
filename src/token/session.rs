//! A session: its slot, read/write flag, active operations, and a private
//! cache of the keys it uses.
//!
//! The key cache is why the hot path takes no shared lock: a session keeps its
//! own prepared copy of each key it uses, revalidated by reading the object
//! table's epoch (a read of one shared word, never a write).

use std::sync::Arc;

use cryptoki_sys as sys;
use sys::{CK_ATTRIBUTE_TYPE, CK_MECHANISM_TYPE, CK_OBJECT_HANDLE, CK_SESSION_HANDLE};
use zeroize::Zeroizing;

use super::objects::ObjectEntry;
use super::slot::{Slot, LOGIN_SO, LOGIN_USER};
use crate::error::{rv, Result};
use crate::keys::lifecycle::{self, State};
use crate::mech::cipher_op::CipherOp;
use crate::mech::mac_op::{DigestOp, MacOp};
use crate::mech::message_op::MessageOp;
use crate::mech::ring::{refusal, KeyRef, RingKeys, RingVersion};
use crate::object::Object;

/// Most keys one session keeps prepared at a time.
const KEY_CACHE_SIZE: usize = 8;

/// Uses of a key version counted locally before they go to the slot.
const COUNT_FLUSH: u64 = 256;

/// IV counters a session takes from the slot at a time.
const IV_GRANT: u64 = 4096;

/// Which operation a kept (already computed) output belongs to.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum OpKind {
    /// `C_Encrypt*`.
    Encrypt,
    /// `C_Decrypt*`.
    Decrypt,
}

/// State of `C_FindObjects*`.
pub struct FindState {
    /// Matching handles in deterministic order.
    pub results: Vec<CK_OBJECT_HANDLE>,
    /// How many were returned already.
    pub pos: usize,
}

/// The usage facts of a key, checked at every operation init.
#[derive(Clone)]
pub struct KeyUsage {
    /// `CKA_KEY_TYPE`.
    pub key_type: Option<sys::CK_KEY_TYPE>,
    /// `CKA_PRIVATE`.
    pub private: bool,
    /// `CKA_ALWAYS_AUTHENTICATE`.
    pub always_authenticate: bool,
    allowed: Option<Vec<CK_MECHANISM_TYPE>>,
    flags: [(CK_ATTRIBUTE_TYPE, bool); 7],
}

impl KeyUsage {
    /// Reads the usage facts of a secret key object.
    pub fn of(o: &Object) -> KeyUsage {
        let f = |a| (a, o.bool_attr(a));
        KeyUsage {
            key_type: o.key_type(),
            private: o.is_private(),
            always_authenticate: o.bool_attr(sys::CKA_ALWAYS_AUTHENTICATE),
            allowed: o.allowed_mechanisms(),
            flags: [
                f(sys::CKA_ENCRYPT),
                f(sys::CKA_DECRYPT),
                f(sys::CKA_SIGN),
                f(sys::CKA_VERIFY),
                f(sys::CKA_WRAP),
                f(sys::CKA_UNWRAP),
                f(sys::CKA_DERIVE),
            ],
        }
    }

    /// Checks that the key may do `purpose` (a `CKA_*` usage flag) with `mech`.
    pub fn permit(
        &self,
        purpose: CK_ATTRIBUTE_TYPE,
        mech: CK_MECHANISM_TYPE,
        key_type: Option<sys::CK_KEY_TYPE>,
    ) -> Result<()> {
        if key_type.is_some() && self.key_type != key_type {
            return rv(sys::CKR_KEY_TYPE_INCONSISTENT);
        }
        if !self.flags.iter().any(|(a, v)| *a == purpose && *v) {
            return rv(sys::CKR_KEY_FUNCTION_NOT_PERMITTED);
        }
        if let Some(allowed) = &self.allowed {
            if !allowed.is_empty() && !allowed.contains(&mech) {
                return rv(sys::CKR_MECHANISM_INVALID);
            }
        }
        Ok(())
    }
}

struct CachedKey {
    handle: CK_OBJECT_HANDLE,
    epoch: u64,
    key: KeyRef,
    key_uid: Option<Arc<str>>,
    version: Option<u32>,
    usage: KeyUsage,
}

/// A key as an operation init receives it.
pub struct KeyGrant {
    /// The key or ring.
    pub key: KeyRef,
    /// `CKA_ALWAYS_AUTHENTICATE` is set.
    pub always_authenticate: bool,
    /// The rotating key it belongs to, for counting and IVs.
    pub key_uid: Option<Arc<str>>,
    /// The version a version object stands for.
    pub version: Option<u32>,
}

/// One open session.
pub struct Session {
    /// Its handle.
    pub handle: CK_SESSION_HANDLE,
    /// The slot it was opened on.
    pub slot: Arc<Slot>,
    /// `CKF_RW_SESSION` was given.
    pub rw: bool,
    /// `C_FindObjects*` state.
    pub find: Option<FindState>,
    /// `C_Encrypt*` state.
    pub encrypt: Option<CipherOp>,
    /// `C_Decrypt*` state.
    pub decrypt: Option<CipherOp>,
    /// `C_Digest*` state.
    pub digest: Option<DigestOp>,
    /// `C_Sign*` state.
    pub sign: Option<MacOp>,
    /// `C_Verify*` state.
    pub verify: Option<MacOp>,
    /// `C_MessageEncrypt*` state.
    pub msg_encrypt: Option<MessageOp>,
    /// `C_MessageDecrypt*` state.
    pub msg_decrypt: Option<MessageOp>,
    /// Output computed for a short buffer, handed out on the next call.
    pub pending: Option<(OpKind, Zeroizing<Vec<u8>>)>,
    /// An operation whose key has `CKA_ALWAYS_AUTHENTICATE` waits for
    /// `C_Login(CKU_CONTEXT_SPECIFIC)`.
    pub needs_context_login: bool,
    /// The rotating key the active cipher operation uses (for counting).
    pub cipher_key_uid: Option<Arc<str>>,
    /// Set under the session's lock when it is closed (or the library
    /// finalised): a call that raced the close sees an invalid handle
    /// instead of a half-dismantled session.
    pub closed: bool,
    keys: Vec<CachedKey>,
    counts: Vec<(Arc<str>, u32, u64, u64)>,
    ivs: Option<(Arc<str>, u32, u64, u64)>,
}

impl Session {
    /// A new session on `slot`.
    pub fn new(handle: CK_SESSION_HANDLE, slot: Arc<Slot>, rw: bool) -> Session {
        Session {
            handle,
            slot,
            rw,
            find: None,
            encrypt: None,
            decrypt: None,
            digest: None,
            sign: None,
            verify: None,
            msg_encrypt: None,
            msg_decrypt: None,
            pending: None,
            needs_context_login: false,
            cipher_key_uid: None,
            closed: false,
            keys: Vec::new(),
            counts: Vec::new(),
            ivs: None,
        }
    }

    /// `CKS_*` state from login and read/write flag.
    pub fn state(&self) -> sys::CK_STATE {
        match (self.slot.login_state(), self.rw) {
            (LOGIN_SO, _) => sys::CKS_RW_SO_FUNCTIONS,
            (LOGIN_USER, true) => sys::CKS_RW_USER_FUNCTIONS,
            (LOGIN_USER, false) => sys::CKS_RO_USER_FUNCTIONS,
            (_, true) => sys::CKS_RW_PUBLIC_SESSION,
            (_, false) => sys::CKS_RO_PUBLIC_SESSION,
        }
    }

    /// True when private objects are visible to this session.
    pub fn user_logged_in(&self) -> bool {
        self.slot.login_state() == LOGIN_USER
    }

    /// True when the SO is logged in.
    pub fn so_logged_in(&self) -> bool {
        self.slot.login_state() == LOGIN_SO
    }

    /// True when this session may see `o`.
    pub fn can_see(&self, o: &ObjectEntry) -> bool {
        !o.object.is_private() || self.user_logged_in()
    }

    /// Ends every active operation (`C_SessionCancel` with all flags).
    pub fn cancel_all(&mut self) {
        self.find = None;
        self.encrypt = None;
        self.decrypt = None;
        self.digest = None;
        self.sign = None;
        self.verify = None;
        self.msg_encrypt = None;
        self.msg_decrypt = None;
        self.pending = None;
        self.needs_context_login = false;
    }

    /// Drops output kept for operation `kind` (other kinds keep theirs).
    pub fn drop_pending(&mut self, kind: OpKind) {
        if self.pending.as_ref().is_some_and(|(k, _)| *k == kind) {
            self.pending = None;
        }
    }

    /// Drops every prepared key (on logout).
    pub fn forget_keys(&mut self) {
        self.keys.clear();
    }

    /// The prepared key `handle` for `purpose` with `mech`, from this
    /// session's cache when the object table has not changed since.
    pub fn key(
        &mut self,
        handle: CK_OBJECT_HANDLE,
        purpose: CK_ATTRIBUTE_TYPE,
        mech: CK_MECHANISM_TYPE,
        key_type: Option<sys::CK_KEY_TYPE>,
    ) -> Result<KeyGrant> {
        let epoch = self.slot.objects.epoch();
        let logged_in = self.user_logged_in();
        if let Some(c) = self
            .keys
            .iter()
            .find(|c| c.handle == handle && c.epoch == epoch)
        {
            if c.usage.private && !logged_in {
                return rv(sys::CKR_KEY_HANDLE_INVALID);
            }
            c.usage.permit(purpose, mech, key_type)?;
            return Ok(KeyGrant {
                key: c.key.clone(),
                always_authenticate: c.usage.always_authenticate,
                key_uid: c.key_uid.clone(),
                version: c.version,
            });
        }
        let entry = self
            .slot
            .objects
            .get(handle)
            .map_or_else(|| rv(sys::CKR_KEY_HANDLE_INVALID), Ok)?;
        if !self.can_see(&entry) {
            return rv(sys::CKR_KEY_HANDLE_INVALID);
        }
        if entry.object.class() != sys::CKO_SECRET_KEY {
            return rv(sys::CKR_KEY_TYPE_INCONSISTENT);
        }
        let usage = KeyUsage::of(&entry.object);
        let (key, key_uid, version) = match &entry.rot {
            Some(r) if r.version.is_none() => (
                KeyRef::Ring(Arc::new(self.ring_keys(&r.key_uid)?)),
                Some(Arc::from(r.key_uid.as_str())),
                None,
            ),
            Some(r) => {
                let ring = self.slot.ring(&r.key_uid)?;
                if let Some(v) = ring.versions.iter().find(|v| Some(v.version) == r.version) {
                    let state = State::from_u8(v.state).unwrap_or(State::Revoked);
                    let u = lifecycle::usage(state, v.held, &ring.policy);
                    if purpose == sys::CKA_DECRYPT && !u.decrypt {
                        let rv_of = RingVersion {
                            version: v.version,
                            state,
                            held: v.held,
                            usage: u,
                            material: None,
                        };
                        return rv(refusal(&rv_of));
                    }
                }
                let shared = self.slot.material(&entry)?;
                let own = Arc::new(shared.deep_clone()?);
                (
                    KeyRef::Plain(own),
                    Some(Arc::from(r.key_uid.as_str())),
                    r.version,
                )
            }
            None => {
                let shared = self.slot.material(&entry)?;
                (KeyRef::Plain(Arc::new(shared.deep_clone()?)), None, None)
            }
        };
        usage.permit(purpose, mech, key_type)?;
        self.keys.retain(|c| c.handle != handle && c.epoch == epoch);
        if self.keys.len() >= KEY_CACHE_SIZE {
            self.keys.remove(0);
        }
        let grant = KeyGrant {
            key: key.clone(),
            always_authenticate: usage.always_authenticate,
            key_uid: key_uid.clone(),
            version,
        };
        self.keys.push(CachedKey {
            handle,
            epoch,
            key,
            key_uid,
            version,
            usage,
        });
        Ok(grant)
    }

    /// This session's own prepared copy of a rotating key's versions.
    fn ring_keys(&self, key_uid: &str) -> Result<RingKeys> {
        let ring = self.slot.ring(key_uid)?;
        let mut versions = Vec::with_capacity(ring.versions.len());
        for v in ring.versions.iter().rev() {
            let state = State::from_u8(v.state).unwrap_or(State::Revoked);
            let usage = lifecycle::usage(state, v.held, &ring.policy);
            let material = match &v.sealed {
                Some(sealed) if usage.encrypt || usage.decrypt || usage.rewrap => {
                    let raw = self.slot.unseal(&v.version_uid, sealed)?;
                    Some(Arc::new(self.slot.key_material(
                        Some(sys::CKK_AES),
                        raw,
                        true,
                    )?))
                }
                _ => None,
            };
            versions.push(RingVersion {
                version: v.version,
                state,
                held: v.held,
                usage,
                material,
            });
        }
        Ok(RingKeys {
            key_uid: Arc::from(key_uid),
            active: ring.key.active_version,
            versions,
        })
    }

    /// Counts one use of the current operation's rotating key version;
    /// handed to the slot in batches so the hot path takes no shared lock.
    pub fn note_use(&mut self, version: u32, encrypt: bool) {
        let Some(key_uid) = &self.cipher_key_uid else {
            return;
        };
        let (e, d) = if encrypt { (1, 0) } else { (0, 1) };
        // The same Arc on every call of one operation's key: the pointer test
        // settles it without comparing the uid's bytes.
        match self
            .counts
            .iter_mut()
            .find(|c| c.1 == version && (Arc::ptr_eq(&c.0, key_uid) || *c.0 == **key_uid))
        {
            Some(c) => {
                c.2 += e;
                c.3 += d;
                if c.2 + c.3 >= COUNT_FLUSH {
                    self.slot.count(&c.0, c.1, c.2, c.3);
                    c.2 = 0;
                    c.3 = 0;
                }
            }
            None => self.counts.push((key_uid.clone(), version, e, d)),
        }
    }

    /// Hands every locally counted use to the slot.
    pub fn flush_counts(&mut self) {
        for (uid, v, e, d) in self.counts.drain(..) {
            if e + d > 0 {
                self.slot.count(&uid, v, e, d);
            }
        }
    }

    /// The next unique IV counter for a key version (SP 800-38D
    /// deterministic construction; blocks reserved through the slot).
    pub fn next_iv_counter(&mut self, key_uid: &Arc<str>, version: u32) -> Result<u64> {
        if let Some((uid, v, next, end)) = &mut self.ivs {
            if *v == version && **uid == **key_uid && next < end {
                let c = *next;
                *next += 1;
                return Ok(c);
            }
        }
        let start = self.slot.reserve_ivs(key_uid, version, IV_GRANT)?;
        self.ivs = Some((key_uid.clone(), version, start + 1, start + IV_GRANT));
        Ok(start)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.flush_counts();
    }
}
