//! The PKCS#11 3.0 message API for AES-GCM.
//!
//! An error ends the current message but not the message context, as the
//! specification describes for `C_EncryptMessage`.

use cryptoki_sys as sys;
use sys::{CK_OBJECT_HANDLE, CK_SESSION_HANDLE};

use super::library::Library;
use super::output::Output;
use super::session::Session;
use crate::error::{rv, Result};
use crate::mech::envelope;
use crate::mech::message_op::{MessageOp, MessageParams};
use crate::mech::Mechanism;

impl Session {
    fn message_slot(&mut self, encrypt: bool) -> &mut Option<MessageOp> {
        if encrypt {
            &mut self.msg_encrypt
        } else {
            &mut self.msg_decrypt
        }
    }

    fn message_op(&mut self, encrypt: bool) -> Result<&mut MessageOp> {
        if self.needs_context_login {
            return rv(sys::CKR_USER_NOT_LOGGED_IN);
        }
        self.message_slot(encrypt)
            .as_mut()
            .map_or_else(|| rv(sys::CKR_OPERATION_NOT_INITIALIZED), Ok)
    }
}

impl Session {
    /// Re-resolves a message context's key when the object table changed
    /// since: long-lived contexts follow rotations and state changes.
    fn follow_key(&mut self, encrypt: bool) -> Result<()> {
        let epoch = self.slot.objects.epoch();
        let handle = match self.message_slot(encrypt).as_ref() {
            Some(op) if op.key_epoch != epoch && !op.busy() => op.key_handle,
            _ => return Ok(()),
        };
        let purpose = if encrypt {
            sys::CKA_ENCRYPT
        } else {
            sys::CKA_DECRYPT
        };
        let grant = self.key(handle, purpose, sys::CKM_AES_GCM, Some(sys::CKK_AES))?;
        if let Some(op) = self.message_slot(encrypt).as_mut() {
            op.set_key(grant.key, epoch);
        }
        Ok(())
    }

    /// The module-made IV for the next message of a rotating key.
    fn forced_iv(&mut self, encrypt: bool) -> Result<Option<[u8; envelope::IV_LEN]>> {
        let version = self.message_op(encrypt)?.encrypting_version();
        match (version, self.cipher_key_uid.clone()) {
            (Some(v), Some(uid)) => Ok(Some(envelope::version_iv(
                v,
                self.next_iv_counter(&uid, v)?,
            ))),
            _ => Ok(None),
        }
    }

    fn account_message(&mut self, encrypt: bool, version: Option<u32>) {
        if let Some(v) = version {
            self.note_use(v, encrypt);
        }
    }
}

impl Library {
    /// `C_MessageEncryptInit`/`C_MessageDecryptInit`; `None` cancels.
    pub fn message_init(
        &self,
        h: CK_SESSION_HANDLE,
        encrypt: bool,
        mech: Option<&Mechanism>,
        key: CK_OBJECT_HANDLE,
    ) -> Result<()> {
        self.lazy_tick(h);
        self.with_session(h, |s| {
            let Some(mech) = mech else {
                *s.message_slot(encrypt) = None;
                return Ok(());
            };
            if s.message_slot(encrypt).is_some() {
                return rv(sys::CKR_OPERATION_ACTIVE);
            }
            if !matches!(mech, Mechanism::AesGcmMessage) {
                return rv(sys::CKR_MECHANISM_INVALID);
            }
            let purpose = if encrypt {
                sys::CKA_ENCRYPT
            } else {
                sys::CKA_DECRYPT
            };
            let grant = s.key(key, purpose, mech.ck_type(), mech.key_type())?;
            let mut op = MessageOp::new(grant.key, encrypt)?;
            op.key_handle = key;
            op.key_epoch = s.slot.objects.epoch();
            *s.message_slot(encrypt) = Some(op);
            s.cipher_key_uid = grant.key_uid;
            s.needs_context_login = grant.always_authenticate;
            Ok(())
        })
    }

    /// `C_EncryptMessage`/`C_DecryptMessage`.
    pub fn one_message(
        &self,
        h: CK_SESSION_HANDLE,
        encrypt: bool,
        params: &mut MessageParams,
        aad: &[u8],
        input: &[u8],
        out: &mut Output,
    ) -> Result<()> {
        self.with_session(h, |s| {
            let op = s.message_op(encrypt)?;
            if op.busy() {
                return rv(sys::CKR_OPERATION_ACTIVE);
            }
            let n = input.len();
            if out.is_query() || out.capacity() < n {
                out.set_len(n);
                return if out.is_query() {
                    Ok(())
                } else {
                    rv(sys::CKR_BUFFER_TOO_SMALL)
                };
            }
            s.follow_key(encrypt)?;
            let forced = s.forced_iv(encrypt)?;
            let op = s.message_op(encrypt)?;
            let outcome = out.produce(n, true, |buf| {
                op.one_message(params, aad, input, &mut buf[..n], forced)
            })?;
            let version = op.last_version;
            if matches!(outcome, super::output::Outcome::Done) {
                s.account_message(encrypt, version);
            }
            Ok(())
        })
    }

    /// `C_EncryptMessageBegin`/`C_DecryptMessageBegin`.
    pub fn message_begin(
        &self,
        h: CK_SESSION_HANDLE,
        encrypt: bool,
        params: &mut MessageParams,
        aad: &[u8],
    ) -> Result<()> {
        self.with_session(h, |s| {
            s.message_op(encrypt)?;
            s.follow_key(encrypt)?;
            let forced = s.forced_iv(encrypt)?;
            s.message_op(encrypt)?.begin(params, aad, forced)
        })
    }

    /// `C_EncryptMessageNext`/`C_DecryptMessageNext`.
    pub fn message_next(
        &self,
        h: CK_SESSION_HANDLE,
        encrypt: bool,
        params: &mut MessageParams,
        part: &[u8],
        out: &mut Output,
        end: bool,
    ) -> Result<()> {
        self.with_session(h, |s| {
            let op = s.message_op(encrypt)?;
            let n = op.next_len(part.len(), end)?;
            let r = out.produce(n, true, |buf| op.next(params, part, buf, end));
            let version = op.last_version;
            match r {
                Ok(super::output::Outcome::Short(_)) => rv(sys::CKR_BUFFER_TOO_SMALL),
                Ok(super::output::Outcome::Done) if end => {
                    s.account_message(encrypt, version);
                    Ok(())
                }
                Ok(_) => Ok(()),
                Err(e) => {
                    op.abort_message();
                    Err(e)
                }
            }
        })
    }

    /// `C_MessageEncryptFinal`/`C_MessageDecryptFinal`.
    pub fn message_final(&self, h: CK_SESSION_HANDLE, encrypt: bool) -> Result<()> {
        self.with_session(h, |s| match s.message_slot(encrypt).take() {
            Some(_) => Ok(()),
            None => rv(sys::CKR_OPERATION_NOT_INITIALIZED),
        })
    }
}
