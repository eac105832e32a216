//! Checked conversions from C pointers to Rust values.
//!
//! This is the only code in the crate that dereferences pointers handed in by
//! the caller. Every helper checks for NULL and for lengths that cannot be
//! real before building a slice, so the functions above it never see a raw
//! pointer.

use cryptoki_sys as sys;
use sys::{CK_ATTRIBUTE, CK_BYTE, CK_RV, CK_ULONG};
use zeroize::Zeroizing;

use crate::error::{rv, Error, Result};
use crate::object::TemplateAttr;
use crate::token::output::Output;

/// Largest single buffer we accept from a caller. Larger lengths are almost
/// certainly uninitialised garbage, and `slice::from_raw_parts` requires the
/// length to fit in `isize`.
const MAX_LEN: usize = 1 << 31;

/// Largest number of attributes in one template.
const MAX_TEMPLATE: usize = 4096;

/// Converts a `CK_ULONG` length to `usize`, refusing absurd values.
pub fn len(ulen: CK_ULONG, bad: CK_RV) -> Result<usize> {
    match usize::try_from(ulen) {
        Ok(n) if n <= MAX_LEN => Ok(n),
        _ => rv(bad),
    }
}

/// Borrows `len` bytes at `p`. NULL is allowed only with length zero.
///
/// # Safety
/// When `p` is non-NULL it must point to `ulen` readable bytes that stay valid
/// for the returned lifetime (the PKCS#11 caller's contract).
pub unsafe fn bytes<'a>(p: *const CK_BYTE, ulen: CK_ULONG) -> Result<&'a [u8]> {
    let n = len(ulen, sys::CKR_ARGUMENTS_BAD)?;
    if p.is_null() {
        return if n == 0 {
            Ok(&[])
        } else {
            rv(sys::CKR_ARGUMENTS_BAD)
        };
    }
    // SAFETY: non-NULL and the caller promises `n` readable bytes.
    Ok(unsafe { std::slice::from_raw_parts(p, n) })
}

/// Like [`bytes`] but the pointer must not be NULL even for length zero.
///
/// # Safety
/// As for [`bytes`].
pub unsafe fn bytes_nonnull<'a>(p: *const CK_BYTE, ulen: CK_ULONG) -> Result<&'a [u8]> {
    if p.is_null() {
        return rv(sys::CKR_ARGUMENTS_BAD);
    }
    unsafe { bytes(p, ulen) }
}

/// Mutable reference to one output value; NULL is `CKR_ARGUMENTS_BAD`.
///
/// # Safety
/// When non-NULL, `p` must point to a writable, aligned `T`.
pub unsafe fn out<'a, T>(p: *mut T) -> Result<&'a mut T> {
    if p.is_null() || !(p as usize).is_multiple_of(std::mem::align_of::<T>()) {
        return rv(sys::CKR_ARGUMENTS_BAD);
    }
    // SAFETY: checked non-NULL and aligned; the caller promises it is writable.
    Ok(unsafe { &mut *p })
}

/// Shared reference to one input value; NULL is `CKR_ARGUMENTS_BAD`.
///
/// # Safety
/// When non-NULL, `p` must point to a readable, aligned `T`.
pub unsafe fn input<'a, T>(p: *const T) -> Result<&'a T> {
    if p.is_null() || !(p as usize).is_multiple_of(std::mem::align_of::<T>()) {
        return rv(sys::CKR_ARGUMENTS_BAD);
    }
    // SAFETY: checked non-NULL and aligned.
    Ok(unsafe { &*p })
}

/// Builds the two-call output pair `pBuf`/`pulBufLen`: `pulBufLen` must not
/// be NULL; a NULL `pBuf` is a length query.
///
/// # Safety
/// `len_ptr`, when non-NULL, must be writable; `buf`, when non-NULL, must
/// have `*len_ptr` writable bytes.
pub unsafe fn output<'a>(buf: *mut CK_BYTE, len_ptr: *mut CK_ULONG) -> Result<Output<'a>> {
    let len_ref = unsafe { out(len_ptr) }?;
    if buf.is_null() {
        return Ok(Output::new(None, len_ref));
    }
    let n = len(*len_ref, sys::CKR_ARGUMENTS_BAD)?;
    // SAFETY: non-NULL; the caller promised `*len_ptr` writable bytes.
    let slice = unsafe { std::slice::from_raw_parts_mut(buf, n) };
    Ok(Output::new(Some(slice), len_ref))
}

/// Mutable bytes the caller owns (IV and tag buffers of message parameters).
///
/// # Safety
/// When non-NULL, `p` must point to `ulen` writable bytes.
pub unsafe fn bytes_mut<'a>(p: *mut CK_BYTE, ulen: CK_ULONG) -> Result<&'a mut [u8]> {
    let n = len(ulen, sys::CKR_ARGUMENTS_BAD)?;
    if p.is_null() {
        return if n == 0 {
            Ok(&mut [])
        } else {
            rv(sys::CKR_ARGUMENTS_BAD)
        };
    }
    // SAFETY: non-NULL; the caller promised `n` writable bytes.
    Ok(unsafe { std::slice::from_raw_parts_mut(p, n) })
}

/// Copies a caller template (`CK_ATTRIBUTE` array) into owned attributes.
///
/// # Safety
/// `p` must point to `count` readable `CK_ATTRIBUTE`s whose `pValue` point to
/// `ulValueLen` readable bytes each.
pub unsafe fn template(p: *const CK_ATTRIBUTE, count: CK_ULONG) -> Result<Vec<TemplateAttr>> {
    let n = len(count, sys::CKR_ARGUMENTS_BAD)?;
    if n > MAX_TEMPLATE {
        return rv(sys::CKR_ARGUMENTS_BAD);
    }
    if p.is_null() {
        return if n == 0 {
            Ok(Vec::new())
        } else {
            rv(sys::CKR_ARGUMENTS_BAD)
        };
    }
    // SAFETY: non-NULL and the caller promises `n` attributes.
    let attrs = unsafe { std::slice::from_raw_parts(p, n) };
    attrs
        .iter()
        .map(|a| {
            let value = unsafe { bytes(a.pValue as *const u8, a.ulValueLen) }
                .map_err(|_| Error::Rv(sys::CKR_ATTRIBUTE_VALUE_INVALID))?;
            Ok(TemplateAttr {
                kind: a.type_,
                value: Zeroizing::new(value.to_vec()),
            })
        })
        .collect()
}

/// Borrows a caller template for in-place filling (C_GetAttributeValue).
///
/// # Safety
/// `p` must point to `count` writable `CK_ATTRIBUTE`s.
pub unsafe fn template_mut<'a>(
    p: *mut CK_ATTRIBUTE,
    count: CK_ULONG,
) -> Result<&'a mut [CK_ATTRIBUTE]> {
    let n = len(count, sys::CKR_ARGUMENTS_BAD)?;
    if n > MAX_TEMPLATE || p.is_null() {
        return if p.is_null() && n == 0 {
            Ok(&mut [])
        } else {
            rv(sys::CKR_ARGUMENTS_BAD)
        };
    }
    // SAFETY: non-NULL; the caller promises `n` writable attributes.
    Ok(unsafe { std::slice::from_raw_parts_mut(p, n) })
}

/// Writes `src` into a fixed-size, blank-padded PKCS#11 info string.
pub fn pad_str<const N: usize>(dst: &mut [u8; N], src: &str) {
    dst.fill(b' ');
    let mut end = src.len().min(N);
    // Never cut a UTF-8 character in half.
    while !src.is_char_boundary(end) {
        end -= 1;
    }
    dst[..end].copy_from_slice(&src.as_bytes()[..end]);
}
