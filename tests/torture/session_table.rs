//! Every function of the 3.0 list that takes a session handle (77), each
//! called with otherwise valid arguments, and the codes a bad session
//! handle may produce.

use std::ffi::c_void;
use std::ptr::null_mut;

use super::common::sys::*;
use super::common::Raw;
use super::handle_tables::{Case, Scratch, P, PAR, SEED, SHI, STUB};

/// Every function taking a session handle; `k`/`hk` are live keys.
pub fn session_table<'a>(
    r: &'a Raw,
    sc: &'a Scratch,
    k: CK_OBJECT_HANDLE,
    hk: CK_OBJECT_HANDLE,
) -> Vec<Case<'a>> {
    let p = P::of(sc);
    let nul = null_mut::<c_void>();
    let mut v = Vec::new();
    let end = CKF_END_OF_MESSAGE;
    case!(v, "C_GetSessionInfo", SHI, |h| ck!(
        r,
        C_GetSessionInfo(h, p.info)
    ));
    case!(v, "C_SessionCancel", SHI, |h| ck!(
        r,
        C_SessionCancel(h, CKF_ENCRYPT)
    ));
    case!(v, "C_GetOperationState", STUB, |h| ck!(
        r,
        C_GetOperationState(h, p.o, p.n())
    ));
    case!(v, "C_SetOperationState", STUB, |h| ck!(
        r,
        C_SetOperationState(h, p.d, 16, 0, 0)
    ));
    case!(v, "C_Login", SHI, |h| ck!(
        r,
        C_Login(h, CKU_USER, p.pin, 4)
    ));
    case!(v, "C_LoginUser", STUB, |h| ck!(
        r,
        C_LoginUser(h, CKU_USER, p.pin, 4, p.d, 4)
    ));
    case!(v, "C_Logout", SHI, |h| ck!(r, C_Logout(h)));
    case!(v, "C_CloseSession", SHI, |h| ck!(r, C_CloseSession(h)));
    case!(v, "C_InitPIN", SHI, |h| ck!(r, C_InitPIN(h, p.pin, 4)));
    case!(v, "C_SetPIN", SHI, |h| ck!(
        r,
        C_SetPIN(h, p.pin, 4, p.pin, 4)
    ));
    case!(v, "C_CreateObject", SHI, |h| ck!(
        r,
        C_CreateObject(h, p.kt, p.ktn, p.obj)
    ));
    case!(v, "C_CopyObject", SHI, |h| ck!(
        r,
        C_CopyObject(h, k, p.label, 1, p.obj)
    ));
    case!(v, "C_DestroyObject", SHI, |h| ck!(r, C_DestroyObject(h, k)));
    case!(v, "C_GetObjectSize", SHI, |h| ck!(
        r,
        C_GetObjectSize(h, k, p.n())
    ));
    case!(v, "C_GetAttributeValue", SHI, |h| ck!(
        r,
        C_GetAttributeValue(h, k, p.attr, 1)
    ));
    case!(v, "C_SetAttributeValue", SHI, |h| ck!(
        r,
        C_SetAttributeValue(h, k, p.label, 1)
    ));
    case!(v, "C_FindObjectsInit", SHI, |h| ck!(
        r,
        C_FindObjectsInit(h, null_mut(), 0)
    ));
    case!(v, "C_FindObjects", SHI, |h| ck!(
        r,
        C_FindObjects(h, p.objs, 8, p.n())
    ));
    case!(v, "C_FindObjectsFinal", SHI, |h| ck!(
        r,
        C_FindObjectsFinal(h)
    ));
    case!(v, "C_EncryptInit", SHI, |h| ck!(
        r,
        C_EncryptInit(h, p.gcm, k)
    ));
    case!(v, "C_Encrypt", SHI, |h| ck!(
        r,
        C_Encrypt(h, p.d, 16, p.o, p.n())
    ));
    case!(v, "C_EncryptUpdate", SHI, |h| ck!(
        r,
        C_EncryptUpdate(h, p.d, 16, p.o, p.n())
    ));
    case!(v, "C_EncryptFinal", SHI, |h| ck!(
        r,
        C_EncryptFinal(h, p.o, p.n())
    ));
    case!(v, "C_DecryptInit", SHI, |h| ck!(
        r,
        C_DecryptInit(h, p.gcm, k)
    ));
    case!(v, "C_Decrypt", SHI, |h| ck!(
        r,
        C_Decrypt(h, p.d, 32, p.o, p.n())
    ));
    case!(v, "C_DecryptUpdate", SHI, |h| ck!(
        r,
        C_DecryptUpdate(h, p.d, 32, p.o, p.n())
    ));
    case!(v, "C_DecryptFinal", SHI, |h| ck!(
        r,
        C_DecryptFinal(h, p.o, p.n())
    ));
    case!(v, "C_DigestInit", SHI, |h| ck!(r, C_DigestInit(h, p.sha)));
    case!(v, "C_Digest", SHI, |h| ck!(
        r,
        C_Digest(h, p.d, 16, p.o, p.n())
    ));
    case!(v, "C_DigestUpdate", SHI, |h| ck!(
        r,
        C_DigestUpdate(h, p.d, 16)
    ));
    case!(v, "C_DigestKey", SHI, |h| ck!(r, C_DigestKey(h, k)));
    case!(v, "C_DigestFinal", SHI, |h| ck!(
        r,
        C_DigestFinal(h, p.o, p.n())
    ));
    case!(v, "C_SignInit", SHI, |h| ck!(r, C_SignInit(h, p.hmac, hk)));
    case!(v, "C_Sign", SHI, |h| ck!(r, C_Sign(h, p.d, 16, p.o, p.n())));
    case!(v, "C_SignUpdate", SHI, |h| ck!(r, C_SignUpdate(h, p.d, 16)));
    case!(v, "C_SignFinal", SHI, |h| ck!(
        r,
        C_SignFinal(h, p.o, p.n())
    ));
    case!(v, "C_SignRecoverInit", STUB, |h| ck!(
        r,
        C_SignRecoverInit(h, p.hmac, hk)
    ));
    case!(v, "C_SignRecover", STUB, |h| ck!(
        r,
        C_SignRecover(h, p.d, 16, p.o, p.n())
    ));
    case!(v, "C_VerifyInit", SHI, |h| ck!(
        r,
        C_VerifyInit(h, p.hmac, hk)
    ));
    case!(v, "C_Verify", SHI, |h| ck!(
        r,
        C_Verify(h, p.d, 16, p.o, 32)
    ));
    case!(v, "C_VerifyUpdate", SHI, |h| ck!(
        r,
        C_VerifyUpdate(h, p.d, 16)
    ));
    case!(v, "C_VerifyFinal", SHI, |h| ck!(
        r,
        C_VerifyFinal(h, p.o, 32)
    ));
    case!(v, "C_VerifyRecoverInit", STUB, |h| ck!(
        r,
        C_VerifyRecoverInit(h, p.hmac, hk)
    ));
    case!(v, "C_VerifyRecover", STUB, |h| ck!(
        r,
        C_VerifyRecover(h, p.d, 32, p.o, p.n())
    ));
    case!(v, "C_DigestEncryptUpdate", STUB, |h| {
        ck!(r, C_DigestEncryptUpdate(h, p.d, 16, p.o, p.n()))
    });
    case!(v, "C_DecryptDigestUpdate", STUB, |h| {
        ck!(r, C_DecryptDigestUpdate(h, p.d, 16, p.o, p.n()))
    });
    case!(v, "C_SignEncryptUpdate", STUB, |h| {
        ck!(r, C_SignEncryptUpdate(h, p.d, 16, p.o, p.n()))
    });
    case!(v, "C_DecryptVerifyUpdate", STUB, |h| {
        ck!(r, C_DecryptVerifyUpdate(h, p.d, 16, p.o, p.n()))
    });
    case!(v, "C_GenerateKey", SHI, |h| ck!(
        r,
        C_GenerateKey(h, p.gen, p.kt, p.ktn, p.obj)
    ));
    case!(v, "C_GenerateKeyPair", STUB, |h| {
        ck!(
            r,
            C_GenerateKeyPair(h, p.gen, p.kt, p.ktn, p.kt, p.ktn, p.obj, p.obj)
        )
    });
    case!(v, "C_WrapKey", SHI, |h| ck!(
        r,
        C_WrapKey(h, p.kw, k, k, p.o, p.n())
    ));
    case!(v, "C_UnwrapKey", SHI, |h| {
        ck!(r, C_UnwrapKey(h, p.kw, k, p.d, 24, p.kt, p.ktn, p.obj))
    });
    case!(v, "C_DeriveKey", STUB, |h| ck!(
        r,
        C_DeriveKey(h, p.gen, k, p.kt, p.ktn, p.obj)
    ));
    case!(v, "C_SeedRandom", SEED, |h| ck!(
        r,
        C_SeedRandom(h, p.d, 16)
    ));
    case!(v, "C_GenerateRandom", SHI, |h| ck!(
        r,
        C_GenerateRandom(h, p.o, 16)
    ));
    case!(v, "C_GetFunctionStatus", PAR, |h| ck!(
        r,
        C_GetFunctionStatus(h)
    ));
    case!(v, "C_CancelFunction", PAR, |h| ck!(r, C_CancelFunction(h)));
    case!(v, "C_MessageEncryptInit", SHI, |h| ck!(
        r,
        C_MessageEncryptInit(h, p.msg, k)
    ));
    case!(v, "C_EncryptMessage", SHI, |h| {
        ck!(
            r,
            C_EncryptMessage(h, p.mp, p.mplen, p.d, 0, p.d, 16, p.o, p.n())
        )
    });
    case!(v, "C_EncryptMessageBegin", SHI, |h| {
        ck!(r, C_EncryptMessageBegin(h, p.mp, p.mplen, p.d, 0))
    });
    case!(v, "C_EncryptMessageNext", SHI, |h| {
        ck!(
            r,
            C_EncryptMessageNext(h, p.mp, p.mplen, p.d, 16, p.o, p.n(), end)
        )
    });
    case!(v, "C_MessageEncryptFinal", SHI, |h| ck!(
        r,
        C_MessageEncryptFinal(h)
    ));
    case!(v, "C_MessageDecryptInit", SHI, |h| ck!(
        r,
        C_MessageDecryptInit(h, p.msg, k)
    ));
    case!(v, "C_DecryptMessage", SHI, |h| {
        ck!(
            r,
            C_DecryptMessage(h, p.mp, p.mplen, p.d, 0, p.d, 16, p.o, p.n())
        )
    });
    case!(v, "C_DecryptMessageBegin", SHI, |h| {
        ck!(r, C_DecryptMessageBegin(h, p.mp, p.mplen, p.d, 0))
    });
    case!(v, "C_DecryptMessageNext", SHI, |h| {
        ck!(
            r,
            C_DecryptMessageNext(h, p.mp, p.mplen, p.d, 16, p.o, p.n(), end)
        )
    });
    case!(v, "C_MessageDecryptFinal", SHI, |h| ck!(
        r,
        C_MessageDecryptFinal(h)
    ));
    case!(v, "C_MessageSignInit", STUB, |h| ck!(
        r,
        C_MessageSignInit(h, p.hmac, hk)
    ));
    case!(v, "C_SignMessage", STUB, |h| ck!(
        r,
        C_SignMessage(h, nul, 0, p.d, 16, p.o, p.n())
    ));
    case!(v, "C_SignMessageBegin", STUB, |h| ck!(
        r,
        C_SignMessageBegin(h, nul, 0)
    ));
    case!(v, "C_SignMessageNext", STUB, |h| {
        ck!(r, C_SignMessageNext(h, nul, 0, p.d, 16, p.o, p.n()))
    });
    case!(v, "C_MessageSignFinal", STUB, |h| ck!(
        r,
        C_MessageSignFinal(h)
    ));
    case!(v, "C_MessageVerifyInit", STUB, |h| ck!(
        r,
        C_MessageVerifyInit(h, p.hmac, hk)
    ));
    case!(v, "C_VerifyMessage", STUB, |h| ck!(
        r,
        C_VerifyMessage(h, nul, 0, p.d, 16, p.o, 32)
    ));
    case!(v, "C_VerifyMessageBegin", STUB, |h| ck!(
        r,
        C_VerifyMessageBegin(h, nul, 0)
    ));
    case!(v, "C_VerifyMessageNext", STUB, |h| {
        ck!(r, C_VerifyMessageNext(h, nul, 0, p.d, 16, p.o, 32))
    });
    case!(v, "C_MessageVerifyFinal", STUB, |h| ck!(
        r,
        C_MessageVerifyFinal(h)
    ));
    v
}
