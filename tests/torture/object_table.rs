//! Every function of the 3.0 list that takes an object or key handle,
//! called on a live session with otherwise valid arguments, and the code of
//! each handle argument.

use std::ptr::null_mut;

use super::common::sys::*;
use super::common::Raw;
use super::handle_tables::{Case, Scratch, P};

/// Every function taking an object or key handle, on the live session `s`;
/// `good` is a live AES key usable as the other key of wrap/unwrap.
pub fn object_table<'a>(
    r: &'a Raw,
    sc: &'a Scratch,
    s: CK_SESSION_HANDLE,
    good: CK_OBJECT_HANDLE,
) -> Vec<Case<'a>> {
    let p = P::of(sc);
    let mut v = Vec::new();
    const OHI: &[CK_RV] = &[CKR_OBJECT_HANDLE_INVALID];
    const KHI: &[CK_RV] = &[CKR_KEY_HANDLE_INVALID];
    const NS: &[CK_RV] = &[CKR_FUNCTION_NOT_SUPPORTED];
    case!(v, "C_CopyObject", OHI, |o| ck!(
        r,
        C_CopyObject(s, o, p.label, 1, p.obj)
    ));
    case!(v, "C_DestroyObject", OHI, |o| ck!(r, C_DestroyObject(s, o)));
    case!(v, "C_GetObjectSize", OHI, |o| ck!(
        r,
        C_GetObjectSize(s, o, p.n())
    ));
    case!(v, "C_GetAttributeValue", OHI, |o| ck!(
        r,
        C_GetAttributeValue(s, o, p.attr, 1)
    ));
    case!(v, "C_SetAttributeValue", OHI, |o| ck!(
        r,
        C_SetAttributeValue(s, o, p.label, 1)
    ));
    case!(v, "C_EncryptInit", KHI, |o| ck!(
        r,
        C_EncryptInit(s, p.gcm, o)
    ));
    case!(v, "C_DecryptInit", KHI, |o| ck!(
        r,
        C_DecryptInit(s, p.gcm, o)
    ));
    case!(v, "C_SignInit", KHI, |o| ck!(r, C_SignInit(s, p.hmac, o)));
    case!(v, "C_VerifyInit", KHI, |o| ck!(
        r,
        C_VerifyInit(s, p.hmac, o)
    ));
    case!(v, "C_DigestKey", KHI, |o| {
        ck!(r, C_DigestInit(s, null_mut()));
        assert_rv!(
            ck!(r, C_DigestInit(s, p.sha)),
            CKR_OK,
            "C_DigestInit for C_DigestKey"
        );
        let rv = ck!(r, C_DigestKey(s, o));
        ck!(r, C_DigestInit(s, null_mut()));
        rv
    });
    case!(v, "C_MessageEncryptInit", KHI, |o| ck!(
        r,
        C_MessageEncryptInit(s, p.msg, o)
    ));
    case!(v, "C_MessageDecryptInit", KHI, |o| ck!(
        r,
        C_MessageDecryptInit(s, p.msg, o)
    ));
    case!(
        v,
        "C_WrapKey(hWrappingKey)",
        &[CKR_WRAPPING_KEY_HANDLE_INVALID],
        |o| { ck!(r, C_WrapKey(s, p.kw, o, good, p.o, p.n())) }
    );
    case!(v, "C_WrapKey(hKey)", KHI, |o| ck!(
        r,
        C_WrapKey(s, p.kw, good, o, p.o, p.n())
    ));
    case!(
        v,
        "C_UnwrapKey(hUnwrappingKey)",
        &[CKR_UNWRAPPING_KEY_HANDLE_INVALID],
        |o| { ck!(r, C_UnwrapKey(s, p.kw, o, p.d, 24, p.kt, p.ktn, p.obj)) }
    );
    case!(v, "C_SetOperationState(keys)", NS, |o| {
        ck!(r, C_SetOperationState(s, p.d, 16, o, o))
    });
    case!(v, "C_SignRecoverInit", NS, |o| ck!(
        r,
        C_SignRecoverInit(s, p.hmac, o)
    ));
    case!(v, "C_VerifyRecoverInit", NS, |o| ck!(
        r,
        C_VerifyRecoverInit(s, p.hmac, o)
    ));
    case!(v, "C_MessageSignInit", NS, |o| ck!(
        r,
        C_MessageSignInit(s, p.hmac, o)
    ));
    case!(v, "C_MessageVerifyInit", NS, |o| ck!(
        r,
        C_MessageVerifyInit(s, p.hmac, o)
    ));
    case!(v, "C_DeriveKey", NS, |o| ck!(
        r,
        C_DeriveKey(s, p.gen, o, p.kt, p.ktn, p.obj)
    ));
    v
}
