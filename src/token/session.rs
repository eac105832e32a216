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
use crate::mech::cipher_op::CipherOp;
use crate::mech::key::KeyMaterial;
use crate::mech::mac_op::{DigestOp, MacOp};
use crate::mech::message_op::MessageOp;
use crate::object::Object;

/// Most keys one session keeps prepared at a time.
const KEY_CACHE_SIZE: usize = 8;

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
    material: Arc<KeyMaterial>,
    usage: KeyUsage,
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
    keys: Vec<CachedKey>,
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
            keys: Vec::new(),
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
    ) -> Result<(Arc<KeyMaterial>, bool)> {
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
            return Ok((c.material.clone(), c.usage.always_authenticate));
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
        usage.permit(purpose, mech, key_type)?;
        let shared = self.slot.material(&entry)?;
        let material = Arc::new(shared.deep_clone(entry.object.key_type())?);
        self.keys.retain(|c| c.handle != handle && c.epoch == epoch);
        if self.keys.len() >= KEY_CACHE_SIZE {
            self.keys.remove(0);
        }
        let always = usage.always_authenticate;
        self.keys.push(CachedKey {
            handle,
            epoch,
            material: material.clone(),
            usage,
        });
        Ok((material, always))
    }
}
