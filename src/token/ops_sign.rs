//! `C_Digest*`, `C_Sign*` and `C_Verify*` (HMAC and CMAC).

use cryptoki_sys as sys;
use sys::{CK_OBJECT_HANDLE, CK_SESSION_HANDLE};

use super::library::Library;
use super::output::Output;
use crate::error::{rv, Result};
use crate::mech::mac_op::{DigestOp, MacOp};
use crate::mech::Mechanism;

fn not_init<T>(op: Option<T>) -> Result<T> {
    op.map_or_else(|| rv(sys::CKR_OPERATION_NOT_INITIALIZED), Ok)
}

/// Which MAC operation a call belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum MacKind {
    /// `C_Sign*`.
    Sign,
    /// `C_Verify*`.
    Verify,
}

impl Library {
    /// `C_DigestInit`; `None` cancels.
    pub fn digest_init(&self, h: CK_SESSION_HANDLE, mech: Option<&Mechanism>) -> Result<()> {
        self.with_session(h, |s| {
            let Some(mech) = mech else {
                s.digest = None;
                return Ok(());
            };
            if s.digest.is_some() {
                return rv(sys::CKR_OPERATION_ACTIVE);
            }
            s.digest = Some(DigestOp::new(mech)?);
            Ok(())
        })
    }

    /// `C_Digest`.
    pub fn digest(&self, h: CK_SESSION_HANDLE, data: &[u8], out: &mut Output) -> Result<()> {
        self.with_session(h, |s| {
            let mut op = not_init(s.digest.take())?;
            if op.multi {
                s.digest = Some(op);
                return rv(sys::CKR_OPERATION_ACTIVE);
            }
            if out.is_query() || out.capacity() < op.output_len() {
                let n = op.output_len();
                s.digest = Some(op);
                out.set_len(n);
                return if out.is_query() {
                    Ok(())
                } else {
                    rv(sys::CKR_BUFFER_TOO_SMALL)
                };
            }
            op.update(data);
            out.write(&op.finish())
        })
    }

    /// `C_DigestUpdate`.
    pub fn digest_update(&self, h: CK_SESSION_HANDLE, data: &[u8]) -> Result<()> {
        self.with_session(h, |s| {
            let mut op = not_init(s.digest.take())?;
            op.multi = true;
            op.update(data);
            s.digest = Some(op);
            Ok(())
        })
    }

    /// `C_DigestKey`: digests a non-sensitive secret key's value.
    pub fn digest_key(&self, h: CK_SESSION_HANDLE, key: CK_OBJECT_HANDLE) -> Result<()> {
        self.with_session(h, |s| {
            let mut op = not_init(s.digest.take())?;
            let entry = match s.slot.objects.get(key) {
                Some(e) if s.can_see(&e) && e.object.class() == sys::CKO_SECRET_KEY => e,
                _ => return rv(sys::CKR_KEY_HANDLE_INVALID),
            };
            if entry.object.bool_attr(sys::CKA_SENSITIVE)
                || !entry.object.bool_attr(sys::CKA_EXTRACTABLE)
            {
                return rv(sys::CKR_KEY_INDIGESTIBLE);
            }
            let material = s.slot.material(&entry)?;
            op.multi = true;
            op.update(material.raw()?);
            s.digest = Some(op);
            Ok(())
        })
    }

    /// `C_DigestFinal`.
    pub fn digest_final(&self, h: CK_SESSION_HANDLE, out: &mut Output) -> Result<()> {
        self.with_session(h, |s| {
            let op = not_init(s.digest.take())?;
            if out.is_query() || out.capacity() < op.output_len() {
                let n = op.output_len();
                s.digest = Some(op);
                out.set_len(n);
                return if out.is_query() {
                    Ok(())
                } else {
                    rv(sys::CKR_BUFFER_TOO_SMALL)
                };
            }
            out.write(&op.finish())
        })
    }

    /// `C_SignInit`/`C_VerifyInit`; `None` cancels.
    pub fn mac_init(
        &self,
        h: CK_SESSION_HANDLE,
        kind: MacKind,
        mech: Option<&Mechanism>,
        key: CK_OBJECT_HANDLE,
    ) -> Result<()> {
        self.with_session(h, |s| {
            let slot = match kind {
                MacKind::Sign => &mut s.sign,
                MacKind::Verify => &mut s.verify,
            };
            let Some(mech) = mech else {
                *slot = None;
                return Ok(());
            };
            if slot.is_some() {
                return rv(sys::CKR_OPERATION_ACTIVE);
            }
            let purpose = if kind == MacKind::Sign {
                sys::CKA_SIGN
            } else {
                sys::CKA_VERIFY
            };
            let grant = s.key(key, purpose, mech.ck_type(), mech.key_type())?;
            let always = grant.always_authenticate;
            let (_, material) = grant.key.encrypting()?;
            let op = MacOp::new(mech, material)?;
            match kind {
                MacKind::Sign => s.sign = Some(op),
                MacKind::Verify => s.verify = Some(op),
            }
            s.needs_context_login = always;
            Ok(())
        })
    }

    /// `C_SignUpdate`/`C_VerifyUpdate`.
    pub fn mac_update(&self, h: CK_SESSION_HANDLE, kind: MacKind, data: &[u8]) -> Result<()> {
        self.with_session(h, |s| {
            let needs_login = s.needs_context_login;
            let slot = match kind {
                MacKind::Sign => &mut s.sign,
                MacKind::Verify => &mut s.verify,
            };
            let mut op = not_init(slot.take())?;
            if needs_login {
                return rv(sys::CKR_USER_NOT_LOGGED_IN);
            }
            op.multi = true;
            op.update(data);
            *slot = Some(op);
            Ok(())
        })
    }

    /// `C_Sign` (`data` = Some) or `C_SignFinal` (`data` = None).
    pub fn sign(&self, h: CK_SESSION_HANDLE, data: Option<&[u8]>, out: &mut Output) -> Result<()> {
        self.with_session(h, |s| {
            let mut op = not_init(s.sign.take())?;
            if s.needs_context_login {
                return rv(sys::CKR_USER_NOT_LOGGED_IN);
            }
            if data.is_some() && op.multi {
                s.sign = Some(op);
                return rv(sys::CKR_OPERATION_ACTIVE);
            }
            let n = op.mac_len();
            if out.is_query() || out.capacity() < n {
                s.sign = Some(op);
                out.set_len(n);
                return if out.is_query() {
                    Ok(())
                } else {
                    rv(sys::CKR_BUFFER_TOO_SMALL)
                };
            }
            if let Some(d) = data {
                op.update(d);
            }
            out.write(&op.finish())
        })
    }

    /// `C_Verify` (`data` = Some) or `C_VerifyFinal` (`data` = None).
    pub fn verify(
        &self,
        h: CK_SESSION_HANDLE,
        data: Option<&[u8]>,
        signature: &[u8],
    ) -> Result<()> {
        self.with_session(h, |s| {
            let mut op = not_init(s.verify.take())?;
            if s.needs_context_login {
                return rv(sys::CKR_USER_NOT_LOGGED_IN);
            }
            if data.is_some() && op.multi {
                s.verify = Some(op);
                return rv(sys::CKR_OPERATION_ACTIVE);
            }
            if let Some(d) = data {
                op.update(d);
            }
            op.verify(signature)
        })
    }
}
