//! Sign/verify (HMAC, CMAC) and digest operations.

use cryptoki_sys as sys;

use super::key::KeyMaterial;
use super::primitives::cmac::CmacCtx;
use super::primitives::digest::DigestCtx;
use super::primitives::hmac::HmacCtx;
use super::Mechanism;
use crate::error::{rv, Result};

/// An active `C_Sign*` or `C_Verify*` operation.
pub struct MacOp {
    ctx: MacCtx,
    /// Set once `Update` ran; single-part calls are then refused.
    pub multi: bool,
}

// Both contexts are about a kilobyte; boxing one would only add an allocation.
#[allow(clippy::large_enum_variant)]
enum MacCtx {
    Hmac(HmacCtx),
    Cmac(CmacCtx),
}

impl MacOp {
    /// Starts a MAC of `mech` under `key`.
    pub fn new(mech: &Mechanism, key: &KeyMaterial) -> Result<MacOp> {
        let ctx = match mech {
            Mechanism::Hmac(alg) => MacCtx::Hmac(HmacCtx::new(*alg, key.raw()?)),
            Mechanism::AesCmac => MacCtx::Cmac(CmacCtx::new(key.aes()?)),
            _ => return rv(sys::CKR_MECHANISM_INVALID),
        };
        Ok(MacOp { ctx, multi: false })
    }

    /// Length of the MAC this operation produces.
    pub fn mac_len(&self) -> usize {
        match &self.ctx {
            MacCtx::Hmac(h) => h.output_len(),
            MacCtx::Cmac(_) => 16,
        }
    }

    /// Absorbs more data.
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.ctx {
            MacCtx::Hmac(h) => h.update(data),
            MacCtx::Cmac(c) => c.update(data),
        }
    }

    /// Produces the MAC, ending the operation.
    pub fn finish(self) -> Vec<u8> {
        match self.ctx {
            MacCtx::Hmac(h) => h.finish(),
            MacCtx::Cmac(c) => c.finish().to_vec(),
        }
    }

    /// Checks `sig` in constant time, ending the operation.
    pub fn verify(self, sig: &[u8]) -> Result<()> {
        match self.ctx {
            MacCtx::Hmac(h) => h.verify(sig),
            MacCtx::Cmac(c) => c.verify(sig),
        }
    }
}

/// An active `C_Digest*` operation.
pub struct DigestOp {
    ctx: DigestCtx,
    /// Set once `Update` ran; single-part calls are then refused.
    pub multi: bool,
}

impl DigestOp {
    /// Starts a digest.
    pub fn new(mech: &Mechanism) -> Result<DigestOp> {
        match mech {
            Mechanism::Digest(alg) => Ok(DigestOp {
                ctx: DigestCtx::new(*alg),
                multi: false,
            }),
            _ => rv(sys::CKR_MECHANISM_INVALID),
        }
    }

    /// Digest length.
    pub fn output_len(&self) -> usize {
        self.ctx.alg().output_len()
    }

    /// Absorbs more data.
    pub fn update(&mut self, data: &[u8]) {
        self.ctx.update(data);
    }

    /// Produces the digest, ending the operation.
    pub fn finish(self) -> Vec<u8> {
        self.ctx.finish()
    }
}
