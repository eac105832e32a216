//! Caller output buffers and the PKCS#11 two-call convention.
//!
//! A NULL buffer asks for the length and keeps the operation; a short buffer
//! gets `CKR_BUFFER_TOO_SMALL` plus the needed length and keeps it too. When a
//! length is only known after computing (padded decryption), the computed
//! output is kept so the second call never computes again.

use cryptoki_sys as sys;
use sys::CK_ULONG;
use zeroize::Zeroizing;

use crate::error::{rv, Result};

/// A caller's `pBuf`/`pulBufLen` pair, already checked by the ffi layer.
pub struct Output<'a> {
    buf: Option<&'a mut [u8]>,
    len: &'a mut CK_ULONG,
}

/// What a two-call step did.
pub enum Outcome {
    /// Length query answered; the operation stays active.
    Query,
    /// Output written; the operation step is complete.
    Done,
    /// The buffer was short; the operation stays active. Holds the output
    /// already computed, if it had to be computed to learn its length.
    Short(Option<Zeroizing<Vec<u8>>>),
}

impl<'a> Output<'a> {
    /// `buf` is `None` for a length query.
    pub fn new(buf: Option<&'a mut [u8]>, len: &'a mut CK_ULONG) -> Output<'a> {
        Output { buf, len }
    }

    /// True when the caller only asks for the length.
    pub fn is_query(&self) -> bool {
        self.buf.is_none()
    }

    /// Bytes the caller offers.
    pub fn capacity(&self) -> usize {
        self.buf.as_ref().map_or(0, |b| b.len())
    }

    /// Reports a length to the caller.
    pub fn set_len(&mut self, n: usize) {
        *self.len = n as CK_ULONG;
    }

    /// Writes an already computed value with the two-call rules.
    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        self.set_len(data.len());
        match self.buf.as_deref_mut() {
            None => Ok(()),
            Some(b) if b.len() >= data.len() => {
                b[..data.len()].copy_from_slice(data);
                Ok(())
            }
            Some(_) => rv(sys::CKR_BUFFER_TOO_SMALL),
        }
    }

    /// Runs `compute` straight into the caller's buffer when it is large
    /// enough for `bound`; see the module comment for the other cases.
    pub fn produce(
        &mut self,
        bound: usize,
        exact: bool,
        compute: impl FnOnce(&mut [u8]) -> Result<usize>,
    ) -> Result<Outcome> {
        let cap = self.capacity();
        match self.buf.as_deref_mut() {
            None => {
                self.set_len(bound);
                Ok(Outcome::Query)
            }
            Some(b) if cap >= bound => {
                let n = compute(b)?;
                self.set_len(n);
                Ok(Outcome::Done)
            }
            Some(_) if exact => {
                self.set_len(bound);
                Ok(Outcome::Short(None))
            }
            Some(b) => {
                let mut tmp = Zeroizing::new(vec![0u8; bound]);
                let n = compute(&mut tmp)?;
                tmp.truncate(n);
                if n <= cap {
                    b[..n].copy_from_slice(&tmp);
                    self.set_len(n);
                    Ok(Outcome::Done)
                } else {
                    self.set_len(n);
                    Ok(Outcome::Short(Some(tmp)))
                }
            }
        }
    }
}
