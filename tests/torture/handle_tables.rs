//! The tables the handle tests run: every function of the 3.0 list that
//! takes a session handle (77) or an object/key handle, each called with
//! otherwise valid arguments, and the codes a bad handle must produce.

use std::cell::UnsafeCell;
use std::ffi::c_void;
use std::ptr::null_mut;

use super::common::sys::*;
use super::common::{GcmMsg, Mech, Raw, Template, USER_PIN};
use super::support::*;

/// `CKR_SESSION_HANDLE_INVALID` alone.
pub const SHI: &[CK_RV] = &[CKR_SESSION_HANDLE_INVALID];
/// A stub: §5.1 says an unsupported function's stub "should simply return
/// CKR_FUNCTION_NOT_SUPPORTED"; checking the session first is also fine.
pub const STUB: &[CK_RV] = &[CKR_SESSION_HANDLE_INVALID, CKR_FUNCTION_NOT_SUPPORTED];
/// C_GetFunctionStatus/C_CancelFunction (§5.20): legacy, "should simply
/// return CKR_FUNCTION_NOT_PARALLEL"; the session may be checked first.
pub const PAR: &[CK_RV] = &[CKR_SESSION_HANDLE_INVALID, CKR_FUNCTION_NOT_PARALLEL];
/// C_SeedRandom: its list has both, with no precedence between them.
pub const SEED: &[CK_RV] = &[CKR_SESSION_HANDLE_INVALID, CKR_RANDOM_SEED_NOT_SUPPORTED];

/// Buffers and parameters the table's calls point into. Interior
/// mutability because the module may write into them through the pointers.
pub struct Scratch {
    data: UnsafeCell<[u8; 128]>,
    out: UnsafeCell<[u8; 256]>,
    len: UnsafeCell<CK_ULONG>,
    obj: UnsafeCell<CK_OBJECT_HANDLE>,
    objs: UnsafeCell<[CK_OBJECT_HANDLE; 8]>,
    info: UnsafeCell<CK_SESSION_INFO>,
    attr: UnsafeCell<CK_ATTRIBUTE>,
    msgp: UnsafeCell<GcmMsg>,
    gcm: Mech,
    hmac: Mech,
    sha: Mech,
    kw: Mech,
    gen: Mech,
    msg: Mech,
    label: Template,
    keytmpl: Template,
}

impl Scratch {
    /// Fresh buffers and valid parameters.
    pub fn new() -> Scratch {
        Scratch {
            data: UnsafeCell::new([7; 128]),
            out: UnsafeCell::new([0; 256]),
            len: UnsafeCell::new(0),
            obj: UnsafeCell::new(0),
            objs: UnsafeCell::new([0; 8]),
            info: UnsafeCell::new(CK_SESSION_INFO::default()),
            attr: UnsafeCell::new(CK_ATTRIBUTE {
                type_: CKA_LABEL,
                pValue: null_mut(),
                ulValueLen: 0,
            }),
            msgp: UnsafeCell::new(msg_tc4()),
            gcm: gcm4(),
            hmac: hmac(),
            sha: sha256(),
            kw: Mech::plain(CKM_AES_KEY_WRAP),
            gen: Mech::plain(CKM_AES_KEY_GEN),
            msg: msg_mech(),
            label: Template::new().bytes(CKA_LABEL, b"bad-handle"),
            keytmpl: Template::new()
                .ulong(CKA_CLASS, CKO_SECRET_KEY)
                .ulong(CKA_KEY_TYPE, CKK_AES)
                .ulong(CKA_VALUE_LEN, 16)
                .bool(CKA_TOKEN, false),
        }
    }
}

/// Raw pointers into a [`Scratch`], copied into each closure.
#[derive(Clone, Copy)]
struct P {
    d: *mut u8,
    o: *mut u8,
    n: *mut CK_ULONG,
    obj: *mut CK_OBJECT_HANDLE,
    objs: *mut CK_OBJECT_HANDLE,
    info: *mut CK_SESSION_INFO,
    attr: *mut CK_ATTRIBUTE,
    mp: *mut c_void,
    mplen: CK_ULONG,
    gcm: *mut CK_MECHANISM,
    hmac: *mut CK_MECHANISM,
    sha: *mut CK_MECHANISM,
    kw: *mut CK_MECHANISM,
    gen: *mut CK_MECHANISM,
    msg: *mut CK_MECHANISM,
    label: *mut CK_ATTRIBUTE,
    kt: *mut CK_ATTRIBUTE,
    ktn: CK_ULONG,
    pin: *mut u8,
}

impl P {
    fn of(sc: &Scratch) -> P {
        // The module only reads mechanisms and templates.
        let m = |x: &Mech| &x.m as *const CK_MECHANISM as *mut CK_MECHANISM;
        P {
            d: sc.data.get() as *mut u8,
            o: sc.out.get() as *mut u8,
            n: sc.len.get(),
            obj: sc.obj.get(),
            objs: sc.objs.get() as *mut CK_OBJECT_HANDLE,
            info: sc.info.get(),
            attr: sc.attr.get(),
            mp: unsafe { (*sc.msgp.get()).ptr() },
            mplen: msg_tc4().len(),
            gcm: m(&sc.gcm),
            hmac: m(&sc.hmac),
            sha: m(&sc.sha),
            kw: m(&sc.kw),
            gen: m(&sc.gen),
            msg: m(&sc.msg),
            label: sc.label.attrs.as_ptr() as *mut CK_ATTRIBUTE,
            kt: sc.keytmpl.attrs.as_ptr() as *mut CK_ATTRIBUTE,
            ktn: sc.keytmpl.count(),
            pin: USER_PIN.as_ptr() as *mut u8,
        }
    }

    /// The output length argument, reset to the whole buffer.
    fn n(self) -> *mut CK_ULONG {
        unsafe { *self.n = 256 };
        self.n
    }
}

/// One function called with the handle under test.
pub struct Case<'a> {
    /// Function name.
    pub name: &'static str,
    /// The call.
    pub call: Box<dyn Fn(CK_ULONG) -> CK_RV + 'a>,
    /// Codes a bad handle may produce.
    pub allowed: &'static [CK_RV],
}

macro_rules! case {
    ($v:ident, $name:literal, $allowed:expr, |$h:ident| $body:expr) => {
        $v.push(Case {
            name: $name,
            call: Box::new(move |$h: CK_ULONG| $body),
            allowed: $allowed,
        })
    };
}

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
    case!(v, "C_GetSessionInfo", SHI, |h| ck!(r, C_GetSessionInfo(h, p.info)));
    case!(v, "C_SessionCancel", SHI, |h| ck!(r, C_SessionCancel(h, CKF_ENCRYPT)));
    case!(v, "C_GetOperationState", STUB, |h| ck!(r, C_GetOperationState(h, p.o, p.n())));
    case!(v, "C_SetOperationState", STUB, |h| ck!(r, C_SetOperationState(h, p.d, 16, 0, 0)));
    case!(v, "C_Login", SHI, |h| ck!(r, C_Login(h, CKU_USER, p.pin, 4)));
    case!(v, "C_LoginUser", STUB, |h| ck!(r, C_LoginUser(h, CKU_USER, p.pin, 4, p.d, 4)));
    case!(v, "C_Logout", SHI, |h| ck!(r, C_Logout(h)));
    case!(v, "C_CloseSession", SHI, |h| ck!(r, C_CloseSession(h)));
    case!(v, "C_InitPIN", SHI, |h| ck!(r, C_InitPIN(h, p.pin, 4)));
    case!(v, "C_SetPIN", SHI, |h| ck!(r, C_SetPIN(h, p.pin, 4, p.pin, 4)));
    case!(v, "C_CreateObject", SHI, |h| ck!(r, C_CreateObject(h, p.kt, p.ktn, p.obj)));
    case!(v, "C_CopyObject", SHI, |h| ck!(r, C_CopyObject(h, k, p.label, 1, p.obj)));
    case!(v, "C_DestroyObject", SHI, |h| ck!(r, C_DestroyObject(h, k)));
    case!(v, "C_GetObjectSize", SHI, |h| ck!(r, C_GetObjectSize(h, k, p.n())));
    case!(v, "C_GetAttributeValue", SHI, |h| ck!(r, C_GetAttributeValue(h, k, p.attr, 1)));
    case!(v, "C_SetAttributeValue", SHI, |h| ck!(r, C_SetAttributeValue(h, k, p.label, 1)));
    case!(v, "C_FindObjectsInit", SHI, |h| ck!(r, C_FindObjectsInit(h, null_mut(), 0)));
    case!(v, "C_FindObjects", SHI, |h| ck!(r, C_FindObjects(h, p.objs, 8, p.n())));
    case!(v, "C_FindObjectsFinal", SHI, |h| ck!(r, C_FindObjectsFinal(h)));
    case!(v, "C_EncryptInit", SHI, |h| ck!(r, C_EncryptInit(h, p.gcm, k)));
    case!(v, "C_Encrypt", SHI, |h| ck!(r, C_Encrypt(h, p.d, 16, p.o, p.n())));
    case!(v, "C_EncryptUpdate", SHI, |h| ck!(r, C_EncryptUpdate(h, p.d, 16, p.o, p.n())));
    case!(v, "C_EncryptFinal", SHI, |h| ck!(r, C_EncryptFinal(h, p.o, p.n())));
    case!(v, "C_DecryptInit", SHI, |h| ck!(r, C_DecryptInit(h, p.gcm, k)));
    case!(v, "C_Decrypt", SHI, |h| ck!(r, C_Decrypt(h, p.d, 32, p.o, p.n())));
    case!(v, "C_DecryptUpdate", SHI, |h| ck!(r, C_DecryptUpdate(h, p.d, 32, p.o, p.n())));
    case!(v, "C_DecryptFinal", SHI, |h| ck!(r, C_DecryptFinal(h, p.o, p.n())));
    case!(v, "C_DigestInit", SHI, |h| ck!(r, C_DigestInit(h, p.sha)));
    case!(v, "C_Digest", SHI, |h| ck!(r, C_Digest(h, p.d, 16, p.o, p.n())));
    case!(v, "C_DigestUpdate", SHI, |h| ck!(r, C_DigestUpdate(h, p.d, 16)));
    case!(v, "C_DigestKey", SHI, |h| ck!(r, C_DigestKey(h, k)));
    case!(v, "C_DigestFinal", SHI, |h| ck!(r, C_DigestFinal(h, p.o, p.n())));
    case!(v, "C_SignInit", SHI, |h| ck!(r, C_SignInit(h, p.hmac, hk)));
    case!(v, "C_Sign", SHI, |h| ck!(r, C_Sign(h, p.d, 16, p.o, p.n())));
    case!(v, "C_SignUpdate", SHI, |h| ck!(r, C_SignUpdate(h, p.d, 16)));
    case!(v, "C_SignFinal", SHI, |h| ck!(r, C_SignFinal(h, p.o, p.n())));
    case!(v, "C_SignRecoverInit", STUB, |h| ck!(r, C_SignRecoverInit(h, p.hmac, hk)));
    case!(v, "C_SignRecover", STUB, |h| ck!(r, C_SignRecover(h, p.d, 16, p.o, p.n())));
    case!(v, "C_VerifyInit", SHI, |h| ck!(r, C_VerifyInit(h, p.hmac, hk)));
    case!(v, "C_Verify", SHI, |h| ck!(r, C_Verify(h, p.d, 16, p.o, 32)));
    case!(v, "C_VerifyUpdate", SHI, |h| ck!(r, C_VerifyUpdate(h, p.d, 16)));
    case!(v, "C_VerifyFinal", SHI, |h| ck!(r, C_VerifyFinal(h, p.o, 32)));
    case!(v, "C_VerifyRecoverInit", STUB, |h| ck!(r, C_VerifyRecoverInit(h, p.hmac, hk)));
    case!(v, "C_VerifyRecover", STUB, |h| ck!(r, C_VerifyRecover(h, p.d, 32, p.o, p.n())));
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
    case!(v, "C_GenerateKey", SHI, |h| ck!(r, C_GenerateKey(h, p.gen, p.kt, p.ktn, p.obj)));
    case!(v, "C_GenerateKeyPair", STUB, |h| {
        ck!(r, C_GenerateKeyPair(h, p.gen, p.kt, p.ktn, p.kt, p.ktn, p.obj, p.obj))
    });
    case!(v, "C_WrapKey", SHI, |h| ck!(r, C_WrapKey(h, p.kw, k, k, p.o, p.n())));
    case!(v, "C_UnwrapKey", SHI, |h| {
        ck!(r, C_UnwrapKey(h, p.kw, k, p.d, 24, p.kt, p.ktn, p.obj))
    });
    case!(v, "C_DeriveKey", STUB, |h| ck!(r, C_DeriveKey(h, p.gen, k, p.kt, p.ktn, p.obj)));
    case!(v, "C_SeedRandom", SEED, |h| ck!(r, C_SeedRandom(h, p.d, 16)));
    case!(v, "C_GenerateRandom", SHI, |h| ck!(r, C_GenerateRandom(h, p.o, 16)));
    case!(v, "C_GetFunctionStatus", PAR, |h| ck!(r, C_GetFunctionStatus(h)));
    case!(v, "C_CancelFunction", PAR, |h| ck!(r, C_CancelFunction(h)));
    case!(v, "C_MessageEncryptInit", SHI, |h| ck!(r, C_MessageEncryptInit(h, p.msg, k)));
    case!(v, "C_EncryptMessage", SHI, |h| {
        ck!(r, C_EncryptMessage(h, p.mp, p.mplen, p.d, 0, p.d, 16, p.o, p.n()))
    });
    case!(v, "C_EncryptMessageBegin", SHI, |h| {
        ck!(r, C_EncryptMessageBegin(h, p.mp, p.mplen, p.d, 0))
    });
    case!(v, "C_EncryptMessageNext", SHI, |h| {
        ck!(r, C_EncryptMessageNext(h, p.mp, p.mplen, p.d, 16, p.o, p.n(), end))
    });
    case!(v, "C_MessageEncryptFinal", SHI, |h| ck!(r, C_MessageEncryptFinal(h)));
    case!(v, "C_MessageDecryptInit", SHI, |h| ck!(r, C_MessageDecryptInit(h, p.msg, k)));
    case!(v, "C_DecryptMessage", SHI, |h| {
        ck!(r, C_DecryptMessage(h, p.mp, p.mplen, p.d, 0, p.d, 16, p.o, p.n()))
    });
    case!(v, "C_DecryptMessageBegin", SHI, |h| {
        ck!(r, C_DecryptMessageBegin(h, p.mp, p.mplen, p.d, 0))
    });
    case!(v, "C_DecryptMessageNext", SHI, |h| {
        ck!(r, C_DecryptMessageNext(h, p.mp, p.mplen, p.d, 16, p.o, p.n(), end))
    });
    case!(v, "C_MessageDecryptFinal", SHI, |h| ck!(r, C_MessageDecryptFinal(h)));
    case!(v, "C_MessageSignInit", STUB, |h| ck!(r, C_MessageSignInit(h, p.hmac, hk)));
    case!(v, "C_SignMessage", STUB, |h| ck!(r, C_SignMessage(h, nul, 0, p.d, 16, p.o, p.n())));
    case!(v, "C_SignMessageBegin", STUB, |h| ck!(r, C_SignMessageBegin(h, nul, 0)));
    case!(v, "C_SignMessageNext", STUB, |h| {
        ck!(r, C_SignMessageNext(h, nul, 0, p.d, 16, p.o, p.n()))
    });
    case!(v, "C_MessageSignFinal", STUB, |h| ck!(r, C_MessageSignFinal(h)));
    case!(v, "C_MessageVerifyInit", STUB, |h| ck!(r, C_MessageVerifyInit(h, p.hmac, hk)));
    case!(v, "C_VerifyMessage", STUB, |h| ck!(r, C_VerifyMessage(h, nul, 0, p.d, 16, p.o, 32)));
    case!(v, "C_VerifyMessageBegin", STUB, |h| ck!(r, C_VerifyMessageBegin(h, nul, 0)));
    case!(v, "C_VerifyMessageNext", STUB, |h| {
        ck!(r, C_VerifyMessageNext(h, nul, 0, p.d, 16, p.o, 32))
    });
    case!(v, "C_MessageVerifyFinal", STUB, |h| ck!(r, C_MessageVerifyFinal(h)));
    v
}

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
    case!(v, "C_CopyObject", OHI, |o| ck!(r, C_CopyObject(s, o, p.label, 1, p.obj)));
    case!(v, "C_DestroyObject", OHI, |o| ck!(r, C_DestroyObject(s, o)));
    case!(v, "C_GetObjectSize", OHI, |o| ck!(r, C_GetObjectSize(s, o, p.n())));
    case!(v, "C_GetAttributeValue", OHI, |o| ck!(r, C_GetAttributeValue(s, o, p.attr, 1)));
    case!(v, "C_SetAttributeValue", OHI, |o| ck!(r, C_SetAttributeValue(s, o, p.label, 1)));
    case!(v, "C_EncryptInit", KHI, |o| ck!(r, C_EncryptInit(s, p.gcm, o)));
    case!(v, "C_DecryptInit", KHI, |o| ck!(r, C_DecryptInit(s, p.gcm, o)));
    case!(v, "C_SignInit", KHI, |o| ck!(r, C_SignInit(s, p.hmac, o)));
    case!(v, "C_VerifyInit", KHI, |o| ck!(r, C_VerifyInit(s, p.hmac, o)));
    case!(v, "C_DigestKey", KHI, |o| {
        ck!(r, C_DigestInit(s, null_mut()));
        assert_rv!(ck!(r, C_DigestInit(s, p.sha)), CKR_OK, "C_DigestInit for C_DigestKey");
        let rv = ck!(r, C_DigestKey(s, o));
        ck!(r, C_DigestInit(s, null_mut()));
        rv
    });
    case!(v, "C_MessageEncryptInit", KHI, |o| ck!(r, C_MessageEncryptInit(s, p.msg, o)));
    case!(v, "C_MessageDecryptInit", KHI, |o| ck!(r, C_MessageDecryptInit(s, p.msg, o)));
    case!(v, "C_WrapKey(hWrappingKey)", &[CKR_WRAPPING_KEY_HANDLE_INVALID], |o| {
        ck!(r, C_WrapKey(s, p.kw, o, good, p.o, p.n()))
    });
    case!(v, "C_WrapKey(hKey)", KHI, |o| ck!(r, C_WrapKey(s, p.kw, good, o, p.o, p.n())));
    case!(v, "C_UnwrapKey(hUnwrappingKey)", &[CKR_UNWRAPPING_KEY_HANDLE_INVALID], |o| {
        ck!(r, C_UnwrapKey(s, p.kw, o, p.d, 24, p.kt, p.ktn, p.obj))
    });
    case!(v, "C_SetOperationState(keys)", NS, |o| {
        ck!(r, C_SetOperationState(s, p.d, 16, o, o))
    });
    case!(v, "C_SignRecoverInit", NS, |o| ck!(r, C_SignRecoverInit(s, p.hmac, o)));
    case!(v, "C_VerifyRecoverInit", NS, |o| ck!(r, C_VerifyRecoverInit(s, p.hmac, o)));
    case!(v, "C_MessageSignInit", NS, |o| ck!(r, C_MessageSignInit(s, p.hmac, o)));
    case!(v, "C_MessageVerifyInit", NS, |o| ck!(r, C_MessageVerifyInit(s, p.hmac, o)));
    case!(v, "C_DeriveKey", NS, |o| ck!(r, C_DeriveKey(s, p.gen, o, p.kt, p.ktn, p.obj)));
    v
}

/// Runs every case of `table` with `handle` and collects the failures.
pub fn run(table: &[Case], handle: CK_ULONG, what: &str) -> Vec<String> {
    let mut bad = Vec::new();
    for c in table {
        let rv = (c.call)(handle);
        if !c.allowed.contains(&rv) {
            bad.push(format!(
                "{}({what}) = {}, expected one of {:?}",
                c.name,
                super::common::rv_name(rv),
                c.allowed
                    .iter()
                    .map(|r| super::common::rv_name(*r))
                    .collect::<Vec<_>>()
            ));
        }
    }
    bad
}
