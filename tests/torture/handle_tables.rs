//! What the handle tables are made of: the scratch buffers and parameters
//! their calls point into, the `case!` macro, and the runner. The tables
//! are in `session_table.rs` and `object_table.rs`.

use std::cell::UnsafeCell;
use std::ffi::c_void;
use std::ptr::null_mut;

use super::common::sys::*;
use super::common::{GcmMsg, Mech, Template, USER_PIN};
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
pub struct P {
    pub d: *mut u8,
    pub o: *mut u8,
    pub n: *mut CK_ULONG,
    pub obj: *mut CK_OBJECT_HANDLE,
    pub objs: *mut CK_OBJECT_HANDLE,
    pub info: *mut CK_SESSION_INFO,
    pub attr: *mut CK_ATTRIBUTE,
    pub mp: *mut c_void,
    pub mplen: CK_ULONG,
    pub gcm: *mut CK_MECHANISM,
    pub hmac: *mut CK_MECHANISM,
    pub sha: *mut CK_MECHANISM,
    pub kw: *mut CK_MECHANISM,
    pub gen: *mut CK_MECHANISM,
    pub msg: *mut CK_MECHANISM,
    pub label: *mut CK_ATTRIBUTE,
    pub kt: *mut CK_ATTRIBUTE,
    pub ktn: CK_ULONG,
    pub pin: *mut u8,
}

impl P {
    /// Pointers into `sc`.
    pub fn of(sc: &Scratch) -> P {
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
    pub fn n(self) -> *mut CK_ULONG {
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

/// Adds one [`Case`] to a table: `case!(v, "C_X", ALLOWED, |h| call)`.
macro_rules! case {
    ($v:ident, $name:literal, $allowed:expr, |$h:ident| $body:expr) => {
        $v.push($crate::handle_tables::Case {
            name: $name,
            call: Box::new(move |$h: CK_ULONG| $body),
            allowed: $allowed,
        })
    };
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
