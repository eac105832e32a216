//! `C_Encrypt*` and `C_Decrypt*`: the hot path.
//!
//! Each call locks only its own session. The operation is taken out of the
//! session, run, and put back when the two-call convention says it goes on.

use cryptoki_sys as sys;
use sys::{CK_OBJECT_HANDLE, CK_SESSION_HANDLE};

use super::library::Library;
use super::output::{Outcome, Output};
use super::session::{OpKind, Session};
use crate::error::{rv, Result};
use crate::mech::cipher_op::CipherOp;
use crate::mech::envelope;
use crate::mech::ring::KeyRef;
use crate::mech::Mechanism;

impl Session {
    fn cipher_slot(&mut self, kind: OpKind) -> &mut Option<CipherOp> {
        match kind {
            OpKind::Encrypt => &mut self.encrypt,
            OpKind::Decrypt => &mut self.decrypt,
        }
    }

    /// Takes the active operation of `kind` out of the session.
    fn take_cipher(&mut self, kind: OpKind) -> Result<CipherOp> {
        let op = self
            .cipher_slot(kind)
            .take()
            .map_or_else(|| rv(sys::CKR_OPERATION_NOT_INITIALIZED), Ok)?;
        if self.needs_context_login {
            return rv(sys::CKR_USER_NOT_LOGGED_IN);
        }
        Ok(op)
    }

    /// Hands out output kept from a short-buffer call; `None` if there is none.
    fn deliver_pending(
        &mut self,
        kind: OpKind,
        op: CipherOp,
        out: &mut Output,
    ) -> Option<Result<()>> {
        match self.pending.take() {
            Some((k, data)) if k == kind => {
                let r = out.write(&data);
                if r.is_err() || out.is_query() {
                    self.pending = Some((k, data));
                    *self.cipher_slot(kind) = Some(op);
                }
                Some(r)
            }
            other => {
                self.pending = other;
                *self.cipher_slot(kind) = Some(op);
                None
            }
        }
    }

    /// Puts `op` back unless `outcome` finished it.
    fn settle(
        &mut self,
        kind: OpKind,
        op: CipherOp,
        outcome: Result<Outcome>,
        finishes: bool,
    ) -> Result<()> {
        match outcome {
            Ok(Outcome::Query) => {
                *self.cipher_slot(kind) = Some(op);
                Ok(())
            }
            Ok(Outcome::Done) => {
                if finishes {
                    self.account(kind, &op);
                } else {
                    *self.cipher_slot(kind) = Some(op);
                }
                Ok(())
            }
            Ok(Outcome::Short(kept)) => {
                self.pending = kept.map(|d| (kind, d));
                *self.cipher_slot(kind) = Some(op);
                rv(sys::CKR_BUFFER_TOO_SMALL)
            }
            Err(e) => Err(e),
        }
    }
}

impl Session {
    /// Counts a finished operation against its rotating key version.
    fn account(&mut self, kind: OpKind, op: &CipherOp) {
        if let Some(v) = op.used_version {
            self.note_use(v, kind == OpKind::Encrypt);
        }
    }
}

fn purpose(kind: OpKind) -> sys::CK_ATTRIBUTE_TYPE {
    match kind {
        OpKind::Encrypt => sys::CKA_ENCRYPT,
        OpKind::Decrypt => sys::CKA_DECRYPT,
    }
}

/// Which single- or multi-part operation a pointer error must end.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum OpSlot {
    /// `C_Encrypt*`.
    Encrypt,
    /// `C_Decrypt*`.
    Decrypt,
    /// `C_Digest*`.
    Digest,
    /// `C_Sign*`.
    Sign,
    /// `C_Verify*`.
    Verify,
}

impl Library {
    /// Ends an operation after an argument error found before it ran: the
    /// specification says any error other than a short buffer ends it.
    pub fn end_operation(&self, h: CK_SESSION_HANDLE, which: OpSlot) {
        // A bad session handle has no operation to end.
        let _ = self.with_session(h, |s| {
            match which {
                OpSlot::Encrypt => s.encrypt = None,
                OpSlot::Decrypt => s.decrypt = None,
                OpSlot::Digest => s.digest = None,
                OpSlot::Sign => s.sign = None,
                OpSlot::Verify => s.verify = None,
            }
            match which {
                OpSlot::Encrypt => s.drop_pending(OpKind::Encrypt),
                OpSlot::Decrypt => s.drop_pending(OpKind::Decrypt),
                _ => {}
            }
            Ok(())
        });
    }

    /// `C_EncryptInit`/`C_DecryptInit`; `None` cancels (PKCS#11 3.0).
    pub fn cipher_init(
        &self,
        h: CK_SESSION_HANDLE,
        kind: OpKind,
        mech: Option<&Mechanism>,
        key: CK_OBJECT_HANDLE,
    ) -> Result<()> {
        self.lazy_tick(h);
        self.with_session(h, |s| {
            let Some(mech) = mech else {
                *s.cipher_slot(kind) = None;
                s.drop_pending(kind);
                return Ok(());
            };
            if s.cipher_slot(kind).is_some() {
                return rv(sys::CKR_OPERATION_ACTIVE);
            }
            let grant = s.key(key, purpose(kind), mech.ck_type(), mech.key_type())?;
            let encrypt = kind == OpKind::Encrypt;
            let iv = match (mech, &grant.key, &grant.key_uid) {
                (
                    Mechanism::Envelope { .. } | Mechanism::Rewrap { .. },
                    KeyRef::Ring(r),
                    Some(uid),
                ) if encrypt => {
                    let (active, _) = r.active()?;
                    Some(envelope::version_iv(
                        active,
                        s.next_iv_counter(uid, active)?,
                    ))
                }
                _ => None,
            };
            let mut op = CipherOp::new(mech, &grant.key, encrypt, iv)?;
            if op.used_version.is_none() {
                op.used_version = grant.version;
            }
            *s.cipher_slot(kind) = Some(op);
            s.drop_pending(kind);
            s.cipher_key_uid = grant.key_uid;
            s.needs_context_login = grant.always_authenticate;
            Ok(())
        })
    }

    /// `C_Encrypt`/`C_Decrypt`.
    pub fn cipher_single(
        &self,
        h: CK_SESSION_HANDLE,
        kind: OpKind,
        input: &[u8],
        out: &mut Output,
    ) -> Result<()> {
        self.with_session(h, |s| {
            let op = s.take_cipher(kind)?;
            if op.multi {
                *s.cipher_slot(kind) = Some(op);
                return rv(sys::CKR_OPERATION_ACTIVE);
            }
            let Some(mut op) = (match s.deliver_pending(kind, op, out) {
                Some(r) => {
                    if r.is_ok() && !out.is_query() {
                        *s.cipher_slot(kind) = None;
                    }
                    return r;
                }
                None => s.cipher_slot(kind).take(),
            }) else {
                return rv(sys::CKR_OPERATION_NOT_INITIALIZED);
            };
            let bound = op.one_shot_len(input.len())?;
            let exact = op.exact();
            let outcome = out.produce(bound, exact, |buf| op.one_shot(input, buf));
            s.settle(kind, op, outcome, true)
        })
    }

    /// `C_EncryptUpdate`/`C_DecryptUpdate`.
    pub fn cipher_update(
        &self,
        h: CK_SESSION_HANDLE,
        kind: OpKind,
        input: &[u8],
        out: &mut Output,
    ) -> Result<()> {
        self.with_session(h, |s| {
            let mut op = s.take_cipher(kind)?;
            let n = op.update_len(input.len())?;
            let outcome = out.produce(n, true, |buf| op.update(input, buf));
            s.settle(kind, op, outcome, false)
        })
    }

    /// `C_EncryptFinal`/`C_DecryptFinal`.
    pub fn cipher_final(&self, h: CK_SESSION_HANDLE, kind: OpKind, out: &mut Output) -> Result<()> {
        self.with_session(h, |s| {
            let op = s.take_cipher(kind)?;
            let Some(mut op) = (match s.deliver_pending(kind, op, out) {
                Some(r) => {
                    if r.is_ok() && !out.is_query() {
                        *s.cipher_slot(kind) = None;
                    }
                    return r;
                }
                None => s.cipher_slot(kind).take(),
            }) else {
                return rv(sys::CKR_OPERATION_NOT_INITIALIZED);
            };
            let bound = op.final_len()?;
            let exact = op.exact();
            let outcome = out.produce(bound, exact, |buf| op.finalize(buf));
            s.settle(kind, op, outcome, true)
        })
    }
}
