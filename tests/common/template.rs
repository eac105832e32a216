//! Templates, mechanisms and message parameters whose pointed-to storage the
//! structs own, so tests can hand stable pointers to the module.

use std::ffi::c_void;
use std::ptr;

use super::sys::*;

/// A `CK_ATTRIBUTE` array whose values this struct owns.
#[derive(Default)]
pub struct Template {
    /// The attributes, pointing into `bufs`.
    pub attrs: Vec<CK_ATTRIBUTE>,
    bufs: Vec<Box<[u8]>>,
}

impl Template {
    /// An empty template.
    pub fn new() -> Template {
        Template::default()
    }

    /// Adds raw bytes.
    pub fn bytes(mut self, t: CK_ATTRIBUTE_TYPE, v: &[u8]) -> Template {
        let mut b: Box<[u8]> = v.into();
        let p = if b.is_empty() {
            ptr::null_mut()
        } else {
            b.as_mut_ptr() as *mut c_void
        };
        self.attrs.push(CK_ATTRIBUTE {
            type_: t,
            pValue: p,
            ulValueLen: b.len() as CK_ULONG,
        });
        self.bufs.push(b);
        self
    }

    /// Adds a `CK_ULONG` value.
    pub fn ulong(self, t: CK_ATTRIBUTE_TYPE, v: CK_ULONG) -> Template {
        self.bytes(t, &v.to_ne_bytes())
    }

    /// Adds a `CK_BBOOL` value.
    pub fn bool(self, t: CK_ATTRIBUTE_TYPE, v: bool) -> Template {
        self.bytes(t, &[if v { CK_TRUE } else { CK_FALSE }])
    }

    /// Adds an attribute with a NULL `pValue` and the given length.
    pub fn null(mut self, t: CK_ATTRIBUTE_TYPE, len: CK_ULONG) -> Template {
        self.attrs.push(CK_ATTRIBUTE {
            type_: t,
            pValue: ptr::null_mut(),
            ulValueLen: len,
        });
        // Keeps `bufs[i]` belonging to `attrs[i]`.
        self.bufs.push(Box::new([]));
        self
    }

    /// Adds an attribute with a zeroed output buffer of `len` bytes.
    pub fn buffer(self, t: CK_ATTRIBUTE_TYPE, len: usize) -> Template {
        self.bytes(t, &vec![0u8; len])
    }

    /// CKA_ENCRYPT/DECRYPT/SIGN/VERIFY/WRAP/UNWRAP all true.
    pub fn all_usages() -> Template {
        Template::new()
            .bool(CKA_ENCRYPT, true)
            .bool(CKA_DECRYPT, true)
            .bool(CKA_SIGN, true)
            .bool(CKA_VERIFY, true)
            .bool(CKA_WRAP, true)
            .bool(CKA_UNWRAP, true)
    }

    /// Pointer for the C API.
    pub fn ptr(&mut self) -> *mut CK_ATTRIBUTE {
        self.attrs.as_mut_ptr()
    }

    /// Number of attributes.
    pub fn count(&self) -> CK_ULONG {
        self.attrs.len() as CK_ULONG
    }

    /// The bytes currently in attribute `i`'s buffer (up to its `ulValueLen`).
    pub fn value(&self, i: usize) -> &[u8] {
        let a = &self.attrs[i];
        let cap = self.bufs.get(i).map_or(0, |b| b.len());
        let n = (a.ulValueLen as usize).min(cap);
        if a.pValue.is_null() {
            return &[];
        }
        unsafe { std::slice::from_raw_parts(a.pValue as *const u8, n) }
    }
}

/// A `CK_MECHANISM` with owned parameters.
pub struct Mech {
    /// The mechanism; `pParameter` points into the owned storage.
    pub m: CK_MECHANISM,
    _param: Option<Box<dyn std::any::Any>>,
    _bufs: Vec<Box<[u8]>>,
}

impl Mech {
    /// No parameter.
    pub fn plain(t: CK_MECHANISM_TYPE) -> Mech {
        Mech {
            m: CK_MECHANISM {
                mechanism: t,
                pParameter: ptr::null_mut(),
                ulParameterLen: 0,
            },
            _param: None,
            _bufs: vec![],
        }
    }

    /// A byte-string parameter (an IV).
    pub fn bytes(t: CK_MECHANISM_TYPE, p: &[u8]) -> Mech {
        let mut b: Box<[u8]> = p.into();
        let m = CK_MECHANISM {
            mechanism: t,
            pParameter: b.as_mut_ptr() as *mut c_void,
            ulParameterLen: b.len() as CK_ULONG,
        };
        Mech {
            m,
            _param: None,
            _bufs: vec![b],
        }
    }

    /// A struct parameter, boxed so its address is stable.
    pub fn with<T: 'static>(t: CK_MECHANISM_TYPE, param: T, bufs: Vec<Box<[u8]>>) -> Mech {
        let mut b = Box::new(param);
        let m = CK_MECHANISM {
            mechanism: t,
            pParameter: &mut *b as *mut T as *mut c_void,
            ulParameterLen: std::mem::size_of::<T>() as CK_ULONG,
        };
        Mech {
            m,
            _param: Some(b),
            _bufs: bufs,
        }
    }

    /// `CKM_AES_GCM` with `CK_GCM_PARAMS` (3.0 layout, `ulIvBits` set).
    pub fn gcm(iv: &[u8], aad: &[u8], tag_bits: CK_ULONG) -> Mech {
        let mut ivb: Box<[u8]> = iv.into();
        let mut aadb: Box<[u8]> = aad.into();
        let p = CK_GCM_PARAMS {
            pIv: ivb.as_mut_ptr(),
            ulIvLen: iv.len() as CK_ULONG,
            ulIvBits: (iv.len() * 8) as CK_ULONG,
            pAAD: if aad.is_empty() {
                ptr::null_mut()
            } else {
                aadb.as_mut_ptr()
            },
            ulAADLen: aad.len() as CK_ULONG,
            ulTagBits: tag_bits,
        };
        Mech::with(CKM_AES_GCM, p, vec![ivb, aadb])
    }

    /// `CKM_AES_CTR` with `CK_AES_CTR_PARAMS`.
    pub fn ctr(counter_bits: CK_ULONG, cb: [u8; 16]) -> Mech {
        Mech::with(
            CKM_AES_CTR,
            CK_AES_CTR_PARAMS {
                ulCounterBits: counter_bits,
                cb,
            },
            vec![],
        )
    }

    /// Pointer for the C API.
    pub fn ptr(&mut self) -> *mut CK_MECHANISM {
        &mut self.m
    }
}

/// `CK_GCM_MESSAGE_PARAMS` with owned IV and tag buffers (boxed, so the
/// pointers stay valid when this struct moves).
pub struct GcmMsg {
    /// The parameter block handed to the module.
    pub p: CK_GCM_MESSAGE_PARAMS,
    /// IV buffer (the module writes generated IVs here).
    pub iv: Box<[u8]>,
    /// Tag buffer (written on encryption, read on decryption).
    pub tag: Box<[u8]>,
}

impl GcmMsg {
    /// Parameters with `iv` (length and initial value), `fixed_bits`, a
    /// generator (`CKG_*`) and a tag of `tag_len` bytes.
    pub fn new(
        iv: &[u8],
        fixed_bits: CK_ULONG,
        generator: CK_GENERATOR_FUNCTION,
        tag_len: usize,
    ) -> GcmMsg {
        let mut iv: Box<[u8]> = iv.into();
        let mut tag: Box<[u8]> = vec![0u8; tag_len].into();
        let p = CK_GCM_MESSAGE_PARAMS {
            pIv: iv.as_mut_ptr(),
            ulIvLen: iv.len() as CK_ULONG,
            ulIvFixedBits: fixed_bits,
            ivGenerator: generator,
            pTag: tag.as_mut_ptr(),
            ulTagBits: (tag_len * 8) as CK_ULONG,
        };
        GcmMsg { p, iv, tag }
    }

    /// `pParameter` for the message functions.
    pub fn ptr(&mut self) -> *mut c_void {
        &mut self.p as *mut CK_GCM_MESSAGE_PARAMS as *mut c_void
    }

    /// `ulParameterLen`.
    pub fn len(&self) -> CK_ULONG {
        std::mem::size_of::<CK_GCM_MESSAGE_PARAMS>() as CK_ULONG
    }
}
