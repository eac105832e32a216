//! Target `templates`: fuzzed `CK_ATTRIBUTE` arrays through `C_CreateObject`,
//! `C_CopyObject`, `C_SetAttributeValue`, `C_FindObjects*`, `C_GenerateKey`
//! and `C_GetAttributeValue` (with fuzzed output templates) on fixed and
//! freshly made objects.
//!
//! Input: control byte, creation template, query template, then small
//! choices. Objects the input creates are destroyed; session objects that
//! refuse destruction are dropped by recycling the work session.

use std::ffi::c_void;
use std::ptr;
use std::sync::{Mutex, OnceLock};

use cryptoki_sys as sys;
use keyrotor::ffi::{key_mgmt, object};
use sys::{CK_ATTRIBUTE, CK_OBJECT_HANDLE, CK_RV, CK_SESSION_HANDLE, CK_ULONG};

use super::input::Input;
use super::module::{self, b, check, destroy, generate, name, ul};
use super::template::{attr_type, is_attribute_array, OwnedTemplate};

/// Byte written into query buffers before the call, to see what the module
/// wrote.
const FILL: u8 = 0xA5;
/// Undestroyable session objects tolerated before the work session is
/// recycled.
const MAX_LEAKED: usize = 256;
/// Undestroyable token objects tolerated before token objects are refused.
const MAX_TOKEN_LEAKED: usize = 64;

struct State {
    /// Holds the fixed objects; never closed.
    home: CK_SESSION_HANDLE,
    /// Where fuzzed objects are made; recycled when too many leak.
    work: CK_SESSION_HANDLE,
    fixed: Vec<CK_OBJECT_HANDLE>,
    leaked: usize,
    token_leaked: usize,
}

fn state() -> &'static Mutex<State> {
    static S: OnceLock<Mutex<State>> = OnceLock::new();
    S.get_or_init(|| {
        let home = module::open_session();
        let aes = generate(
            home,
            sys::CKM_AES_KEY_GEN,
            &[
                (sys::CKA_TOKEN, b(false)),
                (sys::CKA_VALUE_LEN, ul(32)),
                (sys::CKA_LABEL, b"fixed-aes".to_vec()),
                (sys::CKA_ID, vec![1, 2, 3]),
                (sys::CKA_ENCRYPT, b(true)),
                (sys::CKA_DECRYPT, b(true)),
                (sys::CKA_ALLOWED_MECHANISMS, {
                    let mut v = ul(sys::CKM_AES_GCM);
                    v.extend(ul(sys::CKM_AES_CBC_PAD));
                    v
                }),
            ],
        );
        let secret = generate(
            home,
            sys::CKM_GENERIC_SECRET_KEY_GEN,
            &[
                (sys::CKA_TOKEN, b(false)),
                (sys::CKA_VALUE_LEN, ul(20)),
                (sys::CKA_SENSITIVE, b(false)),
                (sys::CKA_EXTRACTABLE, b(true)),
                (sys::CKA_SIGN, b(true)),
                (sys::CKA_START_DATE, b"20250102".to_vec()),
            ],
        );
        let mut data = OwnedTemplate::default();
        data.push(sys::CKA_CLASS, &ul(sys::CKO_DATA));
        data.push(sys::CKA_TOKEN, &b(false));
        data.push(sys::CKA_LABEL, b"fixed-data");
        data.push(sys::CKA_APPLICATION, b"fuzz");
        data.push(sys::CKA_VALUE, &[7; 40]);
        let (p, n) = data.raw();
        let mut d: CK_OBJECT_HANDLE = 0;
        // SAFETY: the template owns its buffers; `d` is writable.
        module::ok(
            unsafe { object::C_CreateObject(home, p, n, &mut d) },
            "C_CreateObject (fixed data object)",
        );
        Mutex::new(State {
            home,
            work: module::open_session(),
            fixed: vec![aes, secret, d],
            leaked: 0,
            token_leaked: 0,
        })
    })
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let st = state();
    let mut st = st.lock().unwrap_or_else(|e| e.into_inner());
    let mut i = Input::new(data);
    let ctrl = i.u8();
    let mut create = OwnedTemplate::decode(&mut i, 12, 1);
    let query = Query::decode(&mut i);
    let allow_token = ctrl & 0x0F == 0x0F && st.token_leaked < MAX_TOKEN_LEAKED;
    let work = st.work;

    // The same attributes for searching (token objects included).
    find(work, &mut create, &mut i);
    if !allow_token {
        create.force_session();
    }

    // C_CreateObject, then read, modify, copy and destroy what it made.
    let (p, n) = create.raw();
    let mut made: CK_OBJECT_HANDLE = 0;
    // SAFETY: the template owns its buffers; `made` is writable.
    let rv = check(
        unsafe { object::C_CreateObject(work, p, n, &mut made) },
        "C_CreateObject",
    );
    if rv == sys::CKR_OK {
        assert_ne!(made, 0, "C_CreateObject returned handle 0");
        query.get(work, made, true);
        modify(&mut st, made, &mut i);
        dispose(&mut st, made, allow_token);
    }

    // C_GenerateKey with the template (always a session key).
    create.force_session();
    let mech_type = if ctrl & 0x10 == 0 {
        sys::CKM_AES_KEY_GEN
    } else {
        sys::CKM_GENERIC_SECRET_KEY_GEN
    };
    let mut mech = sys::CK_MECHANISM {
        mechanism: mech_type,
        pParameter: ptr::null_mut(),
        ulParameterLen: 0,
    };
    let (p, n) = create.raw();
    let mut key: CK_OBJECT_HANDLE = 0;
    // SAFETY: as above.
    let rv = check(
        unsafe { key_mgmt::C_GenerateKey(work, &mut mech, p, n, &mut key) },
        "C_GenerateKey",
    );
    if rv == sys::CKR_OK {
        assert_ne!(key, 0, "C_GenerateKey returned handle 0");
        query.get(work, key, true);
        dispose(&mut st, key, false);
    }

    // The query template on a fixed object.
    let fixed = st.fixed[usize::from(ctrl >> 5) % st.fixed.len()];
    query.get(st.home, fixed, true);

    if st.leaked >= MAX_LEAKED {
        module::close_session(st.work);
        st.work = module::open_session();
        st.leaked = 0;
    }
}

/// `C_SetAttributeValue` and `C_CopyObject` with a second fuzzed template.
fn modify(st: &mut State, made: CK_OBJECT_HANDLE, i: &mut Input) {
    let mut t = OwnedTemplate::decode(i, 6, 1);
    let (p, n) = t.raw();
    // SAFETY: the template owns its buffers.
    check(
        unsafe { object::C_SetAttributeValue(st.work, made, p, n) },
        "C_SetAttributeValue",
    );
    t.force_session();
    let (p, n) = t.raw();
    let mut copy: CK_OBJECT_HANDLE = 0;
    // SAFETY: as above; `copy` is writable.
    let rv = check(
        unsafe { object::C_CopyObject(st.work, made, p, n, &mut copy) },
        "C_CopyObject",
    );
    if rv == sys::CKR_OK {
        assert_ne!(copy, 0, "C_CopyObject returned handle 0");
        dispose(st, copy, false);
    }
}

/// Destroys `o`, counting objects that refuse.
fn dispose(st: &mut State, o: CK_OBJECT_HANDLE, maybe_token: bool) {
    let rv = destroy(st.work, o);
    if rv != sys::CKR_OK {
        assert!(
            rv == sys::CKR_ACTION_PROHIBITED,
            "destroying a fresh object: {}",
            name(rv)
        );
        if maybe_token {
            st.token_leaked += 1;
        }
        st.leaked += 1;
    }
}

/// `C_FindObjectsInit` with the template, then `C_FindObjects` until done.
fn find(h: CK_SESSION_HANDLE, t: &mut OwnedTemplate, i: &mut Input) {
    let (p, n) = t.raw();
    // SAFETY: the template owns its buffers.
    let rv = check(
        unsafe { object::C_FindObjectsInit(h, p, n) },
        "C_FindObjectsInit",
    );
    if rv != sys::CKR_OK {
        // No search may be left active by a failed Init.
        // SAFETY: no pointers.
        let rv = unsafe { object::C_FindObjectsFinal(h) };
        assert!(
            rv == sys::CKR_OPERATION_NOT_INITIALIZED,
            "C_FindObjectsFinal after a failed Init: {}",
            name(rv)
        );
        return;
    }
    let max = 1 + i.upto(7);
    let mut seen: Vec<CK_OBJECT_HANDLE> = Vec::new();
    for _ in 0..4096 {
        let sentinel = CK_OBJECT_HANDLE::MAX;
        let mut out = vec![sentinel; max];
        let mut count: CK_ULONG = CK_ULONG::MAX;
        // SAFETY: `out` has `max` slots; `count` is writable.
        let rv = check(
            unsafe { object::C_FindObjects(h, out.as_mut_ptr(), max as CK_ULONG, &mut count) },
            "C_FindObjects",
        );
        assert!(rv == sys::CKR_OK, "C_FindObjects: {}", name(rv));
        let count = count as usize;
        assert!(count <= max, "C_FindObjects returned {count} > {max}");
        assert!(
            out[count..].iter().all(|&x| x == sentinel),
            "C_FindObjects wrote past the count it returned"
        );
        for &o in &out[..count] {
            assert_ne!(o, 0, "C_FindObjects returned handle 0");
            assert!(!seen.contains(&o), "C_FindObjects returned {o} twice");
            seen.push(o);
        }
        if count == 0 {
            break;
        }
    }
    // SAFETY: no pointers.
    let rv = unsafe { object::C_FindObjectsFinal(h) };
    assert!(rv == sys::CKR_OK, "C_FindObjectsFinal: {}", name(rv));
}

/// A `C_GetAttributeValue` template: types from the input, each with a NULL
/// `pValue` or a buffer of the declared size.
pub struct Query {
    kinds: Vec<sys::CK_ATTRIBUTE_TYPE>,
    /// `None`: NULL `pValue`; `Some(n)`: an `n`-byte buffer.
    sizes: Vec<Option<usize>>,
}

impl Query {
    /// Decodes up to 10 attributes.
    pub fn decode(i: &mut Input) -> Query {
        let n = i.upto(10);
        let mut q = Query {
            kinds: Vec::new(),
            sizes: Vec::new(),
        };
        for _ in 0..n {
            let kind = attr_type(i);
            q.kinds.push(kind);
            let size = match i.u8() % 4 {
                // An attribute-array value would be filled through the
                // pointers in our buffer: only ever ask for its length.
                _ if is_attribute_array(kind) => None,
                0 => None,
                1 => Some(8),
                2 => Some(1),
                _ => Some(i.upto(255)),
            };
            q.sizes.push(size);
        }
        q
    }

    /// Calls `C_GetAttributeValue` and checks §6: every attribute handled,
    /// nothing written past a buffer or a reported length, error codes that
    /// match what happened, and lengths from NULL queries that then fit.
    /// Returns the call's result.
    pub fn get(&self, h: CK_SESSION_HANDLE, o: CK_OBJECT_HANDLE, stable: bool) -> CK_RV {
        let (rv, out) = get_attrs(h, o, &self.kinds, &self.sizes);
        if rv == sys::CKR_OBJECT_HANDLE_INVALID || self.kinds.is_empty() {
            return rv;
        }
        assert!(
            matches!(
                rv,
                sys::CKR_OK
                    | sys::CKR_ATTRIBUTE_SENSITIVE
                    | sys::CKR_ATTRIBUTE_TYPE_INVALID
                    | sys::CKR_BUFFER_TOO_SMALL
            ),
            "C_GetAttributeValue: {}",
            name(rv)
        );
        let unavailable = out.iter().filter(|l| l.is_none()).count();
        if rv == sys::CKR_OK {
            assert_eq!(unavailable, 0, "CKR_OK with unavailable attributes");
        } else {
            assert!(
                unavailable > 0,
                "{} with every attribute answered",
                name(rv)
            );
        }
        if !stable {
            return rv;
        }
        // Ask again with exactly the lengths reported (a NULL query where
        // none was): nothing can be too small now.
        let sizes: Vec<Option<usize>> = out
            .iter()
            .zip(&self.kinds)
            .map(|(l, &k)| if is_attribute_array(k) { None } else { *l })
            .collect();
        let (rv2, out2) = get_attrs(h, o, &self.kinds, &sizes);
        assert!(
            rv2 != sys::CKR_BUFFER_TOO_SMALL,
            "C_GetAttributeValue with the reported lengths: {}",
            name(rv2)
        );
        for (k, (a, b)) in out.iter().zip(out2.iter()).enumerate() {
            if a.is_some() {
                assert_eq!(a, b, "attribute {:#x} changed length", self.kinds[k]);
            }
        }
        rv
    }
}

/// One `C_GetAttributeValue` call; returns the result and each attribute's
/// length (`None` = `CK_UNAVAILABLE_INFORMATION`).
fn get_attrs(
    h: CK_SESSION_HANDLE,
    o: CK_OBJECT_HANDLE,
    kinds: &[sys::CK_ATTRIBUTE_TYPE],
    sizes: &[Option<usize>],
) -> (CK_RV, Vec<Option<usize>>) {
    let mut bufs: Vec<Option<Vec<u8>>> = sizes.iter().map(|s| s.map(|n| vec![FILL; n])).collect();
    let mut t: Vec<CK_ATTRIBUTE> = kinds
        .iter()
        .zip(bufs.iter_mut())
        .map(|(&k, buf)| match buf {
            Some(v) => CK_ATTRIBUTE {
                type_: k,
                pValue: v.as_mut_ptr() as *mut c_void,
                ulValueLen: v.len() as CK_ULONG,
            },
            None => CK_ATTRIBUTE {
                type_: k,
                pValue: ptr::null_mut(),
                // Garbage in the length of a NULL query must not matter.
                ulValueLen: 0x5A5A,
            },
        })
        .collect();
    let p = if t.is_empty() {
        ptr::null_mut()
    } else {
        t.as_mut_ptr()
    };
    // SAFETY: each pValue is NULL or a buffer of ulValueLen bytes we own.
    let rv = check(
        unsafe { object::C_GetAttributeValue(h, o, p, t.len() as CK_ULONG) },
        "C_GetAttributeValue",
    );
    let mut out = Vec::with_capacity(t.len());
    for (a, buf) in t.iter().zip(bufs.iter()) {
        if a.ulValueLen == sys::CK_UNAVAILABLE_INFORMATION {
            if let Some(v) = buf {
                assert!(
                    v.iter().all(|&x| x == FILL),
                    "attribute {:#x}: buffer written but reported unavailable",
                    a.type_
                );
            }
            out.push(None);
            continue;
        }
        let len = a.ulValueLen as usize;
        if let Some(v) = buf {
            assert!(
                len <= v.len(),
                "attribute {:#x}: length {len} > buffer {}",
                a.type_,
                v.len()
            );
            assert!(
                v[len..].iter().all(|&x| x == FILL),
                "attribute {:#x}: written past its length",
                a.type_
            );
        } else if rv != sys::CKR_OBJECT_HANDLE_INVALID && len == 0x5A5A {
            // Untouched NULL query: allowed only if the call failed early.
            assert!(
                rv != sys::CKR_OK,
                "attribute {:#x}: NULL query left unanswered",
                a.type_
            );
        }
        out.push(Some(len));
    }
    (rv, out)
}
