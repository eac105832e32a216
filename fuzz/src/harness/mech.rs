//! `CK_MECHANISM`s decoded from fuzzer bytes. Parameters are raw bytes or
//! parameter structs built from the input; every pointer inside a struct is
//! NULL or points into a buffer owned here, with its length field equal to
//! that buffer's size (NULL pointers may carry any length).

use std::ffi::c_void;
use std::ptr;

use cryptoki_sys as sys;
use keyrotor::keys::attrs::{CKM_KEYROTOR_AES_GCM_ENVELOPE, CKM_KEYROTOR_AES_GCM_REWRAP};
use sys::{CK_MECHANISM, CK_MECHANISM_TYPE, CK_ULONG};

use super::input::Input;

/// Mechanism types tried besides the module's own list.
const EXTRA_TYPES: &[CK_MECHANISM_TYPE] = &[
    sys::CKM_AES_CCM,
    sys::CKM_AES_CTS,
    sys::CKM_AES_GMAC,
    sys::CKM_AES_MAC,
    sys::CKM_AES_XCBC_MAC,
    sys::CKM_SHA_1,
    sys::CKM_SHA224,
    sys::CKM_SHA_1_HMAC,
    sys::CKM_RSA_PKCS,
    sys::CKM_VENDOR_DEFINED,
    CKM_KEYROTOR_AES_GCM_REWRAP + 1,
    CK_ULONG::MAX,
];

/// Types whose parameter holds pointers without a struct built here:
/// they get only pointer-free parameters that cannot be mistaken for their
/// struct (NULL here).
const OTHER_POINTER_PARAM_TYPES: &[CK_MECHANISM_TYPE] =
    &[sys::CKM_AES_ECB_ENCRYPT_DATA, sys::CKM_AES_CBC_ENCRYPT_DATA];

/// Parameter forms (see [`OwnedMech::decode`]): raw bytes, and the three
/// structs that hold pointers.
const FORM_RAW: u8 = 2;
const FORM_GCM: u8 = 3;
const FORM_GCM_240: u8 = 4;
const FORM_CCM: u8 = 7;

/// The form actually used for type `t`. A struct holding pointers is only
/// ever passed with its own mechanism type, and a type whose parameter
/// holds pointers never gets raw bytes or another type's struct: the module
/// would (rightly) follow whatever pointers those bytes spell, which tests
/// the caller's contract, not the module.
fn safe_form(t: CK_MECHANISM_TYPE, form: u8) -> u8 {
    let foreign_struct = matches!(form, FORM_RAW | FORM_GCM | FORM_GCM_240 | FORM_CCM);
    match t {
        sys::CKM_AES_GCM if matches!(form, FORM_RAW | FORM_CCM) => FORM_GCM,
        sys::CKM_AES_CCM if matches!(form, FORM_RAW | FORM_GCM | FORM_GCM_240) => FORM_CCM,
        _ if OTHER_POINTER_PARAM_TYPES.contains(&t) && foreign_struct => 0,
        _ => form,
    }
}

/// `CK_GCM_PARAMS` as the original 2.40 header had it (no `ulIvBits`).
#[repr(C)]
struct GcmWithoutBits {
    iv: *mut u8,
    iv_len: CK_ULONG,
    aad: *mut u8,
    aad_len: CK_ULONG,
    tag_bits: CK_ULONG,
}

/// What the parameter pointer points at; held to keep it alive.
#[allow(dead_code)]
enum Param {
    None,
    Bytes(Vec<u8>),
    Gcm(Box<sys::CK_GCM_PARAMS>),
    GcmWithoutBits(Box<GcmWithoutBits>),
    Ctr(Box<sys::CK_AES_CTR_PARAMS>),
    Ccm(Box<sys::CK_CCM_PARAMS>),
}

/// A mechanism whose parameter memory it owns.
pub struct OwnedMech {
    mech: CK_MECHANISM,
    _param: Param,
    _bufs: Vec<Vec<u8>>,
}

/// A buffer from the input, or NULL with a fuzzed length. Returns the
/// pointer and length to put in a struct; the buffer goes to `bufs`.
fn buffer(i: &mut Input, bufs: &mut Vec<Vec<u8>>, max: usize) -> (*mut u8, CK_ULONG) {
    if i.u8() < 0x10 {
        let len = if i.bool() { 0 } else { CK_ULONG::from(i.u16()) };
        return (ptr::null_mut(), len);
    }
    let mut b = i.blob(max).to_vec();
    let p = b.as_mut_ptr();
    let len = b.len() as CK_ULONG;
    bufs.push(b);
    (p, len)
}

/// A tag length in bits: usually sensible, sometimes anything.
fn tag_bits(i: &mut Input) -> CK_ULONG {
    match i.u8() % 4 {
        0 => 128,
        1 => 96 + 8 * i.upto(4) as CK_ULONG,
        2 => CK_ULONG::from(i.u8()),
        _ => i.u64(),
    }
}

impl OwnedMech {
    /// A mechanism with no parameter.
    pub fn plain(t: CK_MECHANISM_TYPE) -> OwnedMech {
        OwnedMech::with_bytes(t, None)
    }

    /// A mechanism whose parameter is `bytes` (NULL when `None`).
    pub fn with_bytes(t: CK_MECHANISM_TYPE, bytes: Option<&[u8]>) -> OwnedMech {
        let (param, p, len) = match bytes {
            None => (Param::None, ptr::null_mut(), 0),
            Some(b) => {
                let mut v = b.to_vec();
                let p = v.as_mut_ptr() as *mut c_void;
                let len = v.len() as CK_ULONG;
                (Param::Bytes(v), p, len)
            }
        };
        OwnedMech {
            mech: CK_MECHANISM {
                mechanism: t,
                pParameter: p,
                ulParameterLen: len,
            },
            _param: param,
            _bufs: Vec::new(),
        }
    }

    /// `CKM_AES_GCM` with `CK_GCM_PARAMS` (3.0 layout).
    pub fn gcm(iv: &[u8], aad: &[u8], tag_bits: CK_ULONG) -> OwnedMech {
        let mut bufs = vec![iv.to_vec(), aad.to_vec()];
        let g = Box::new(sys::CK_GCM_PARAMS {
            pIv: bufs[0].as_mut_ptr(),
            ulIvLen: iv.len() as CK_ULONG,
            ulIvBits: 8 * iv.len() as CK_ULONG,
            pAAD: bufs[1].as_mut_ptr(),
            ulAADLen: aad.len() as CK_ULONG,
            ulTagBits: tag_bits,
        });
        OwnedMech::from_param(sys::CKM_AES_GCM, Param::Gcm(g), bufs)
    }

    fn from_param(t: CK_MECHANISM_TYPE, mut param: Param, bufs: Vec<Vec<u8>>) -> OwnedMech {
        let (p, len): (*mut c_void, usize) = match &mut param {
            Param::None => (ptr::null_mut(), 0),
            Param::Bytes(v) => (v.as_mut_ptr() as *mut c_void, v.len()),
            Param::Gcm(b) => (
                &mut **b as *mut _ as *mut c_void,
                std::mem::size_of::<sys::CK_GCM_PARAMS>(),
            ),
            Param::GcmWithoutBits(b) => (
                &mut **b as *mut _ as *mut c_void,
                std::mem::size_of::<GcmWithoutBits>(),
            ),
            Param::Ctr(b) => (
                &mut **b as *mut _ as *mut c_void,
                std::mem::size_of::<sys::CK_AES_CTR_PARAMS>(),
            ),
            Param::Ccm(b) => (
                &mut **b as *mut _ as *mut c_void,
                std::mem::size_of::<sys::CK_CCM_PARAMS>(),
            ),
        };
        OwnedMech {
            mech: CK_MECHANISM {
                mechanism: t,
                pParameter: p,
                ulParameterLen: len as CK_ULONG,
            },
            // Boxes and Vec buffers keep their addresses when moved here.
            _param: param,
            _bufs: bufs,
        }
    }

    /// A fuzzed mechanism type: the module's list, a few others, or raw.
    pub fn decode_type(i: &mut Input) -> CK_MECHANISM_TYPE {
        let sel = usize::from(i.u8());
        let own = keyrotor::mech::registry::SOFTWARE;
        if sel < 0xC0 {
            own[sel % own.len()].mech
        } else if sel < 0xF0 {
            EXTRA_TYPES[sel % EXTRA_TYPES.len()]
        } else {
            i.u64() as CK_MECHANISM_TYPE
        }
    }

    /// A fuzzed mechanism: type, then a parameter of one of several forms
    /// (adjusted by `safe_form`): 0 none; 1 NULL with a fuzzed length;
    /// 2 raw bytes (0..=64); 3 `CK_GCM_PARAMS`; 4 the 2.40 GCM layout
    /// without `ulIvBits`; 5 `CK_AES_CTR_PARAMS`; 6 a 16-byte IV;
    /// 7 `CK_CCM_PARAMS`; 8 the key-wrap default IV.
    pub fn decode(i: &mut Input) -> OwnedMech {
        let t = OwnedMech::decode_type(i);
        let mut bufs = Vec::new();
        let form = safe_form(t, i.u8() % 9);
        let param = match form {
            0 => Param::None,
            1 => {
                // NULL with a length: must be refused, never read.
                let len = if i.bool() { 1 } else { i.u64() };
                let mut m = OwnedMech::from_param(t, Param::None, bufs);
                m.mech.ulParameterLen = len as CK_ULONG;
                return m;
            }
            FORM_RAW => Param::Bytes(i.blob(64).to_vec()),
            FORM_GCM => {
                let (iv, iv_len) = buffer(i, &mut bufs, 64);
                let (aad, aad_len) = buffer(i, &mut bufs, 64);
                let iv_bits = if i.bool() { iv_len * 8 } else { i.u64() };
                Param::Gcm(Box::new(sys::CK_GCM_PARAMS {
                    pIv: iv,
                    ulIvLen: iv_len,
                    ulIvBits: iv_bits,
                    pAAD: aad,
                    ulAADLen: aad_len,
                    ulTagBits: tag_bits(i),
                }))
            }
            FORM_GCM_240 => {
                let (iv, iv_len) = buffer(i, &mut bufs, 64);
                let (aad, aad_len) = buffer(i, &mut bufs, 64);
                Param::GcmWithoutBits(Box::new(GcmWithoutBits {
                    iv,
                    iv_len,
                    aad,
                    aad_len,
                    tag_bits: tag_bits(i),
                }))
            }
            5 => {
                let bits = match i.u8() % 3 {
                    0 => 128,
                    1 => CK_ULONG::from(i.u8()),
                    _ => i.u64(),
                };
                let mut cb = [0u8; 16];
                let src = i.bytes(16);
                cb[..src.len()].copy_from_slice(src);
                Param::Ctr(Box::new(sys::CK_AES_CTR_PARAMS {
                    ulCounterBits: bits,
                    cb,
                }))
            }
            6 => Param::Bytes({
                let mut iv = vec![0u8; 16];
                let src = i.bytes(16);
                iv[..src.len()].copy_from_slice(src);
                iv
            }),
            FORM_CCM => {
                let (nonce, nonce_len) = buffer(i, &mut bufs, 16);
                let (aad, aad_len) = buffer(i, &mut bufs, 64);
                Param::Ccm(Box::new(sys::CK_CCM_PARAMS {
                    ulDataLen: CK_ULONG::from(i.u16()),
                    pNonce: nonce,
                    ulNonceLen: nonce_len,
                    pAAD: aad,
                    ulAADLen: aad_len,
                    ulMACLen: CK_ULONG::from(i.u8()),
                }))
            }
            _ => Param::Bytes(
                if t == sys::CKM_AES_KEY_WRAP {
                    &[0xA6u8; 8][..]
                } else {
                    &[0xA6u8, 0x59, 0x59, 0xA6][..]
                }
                .to_vec(),
            ),
        };
        OwnedMech::from_param(t, param, bufs)
    }

    /// The mechanism type.
    pub fn kind(&self) -> CK_MECHANISM_TYPE {
        self.mech.mechanism
    }

    /// Pointer for the C call.
    pub fn ptr(&mut self) -> *mut CK_MECHANISM {
        &mut self.mech
    }
}

/// The envelope mechanism with `aad` as its parameter.
pub fn envelope(aad: &[u8]) -> OwnedMech {
    OwnedMech::with_bytes(
        CKM_KEYROTOR_AES_GCM_ENVELOPE,
        if aad.is_empty() { None } else { Some(aad) },
    )
}
