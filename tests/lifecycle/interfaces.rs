//! Interfaces and function lists (no initialisation needed), and the
//! blank-padded info strings.

use std::ffi::CString;
use std::ptr;

use super::common::sys::*;
use super::common::{assert_padded, exclusive, unpad, write_conf, Finalizer, Raw, TestToken};

#[test]
fn get_interface_versions() {
    let _g = exclusive();
    let raw = Raw::load();
    let gi = raw.get_interface;
    let name = CString::new("PKCS 11").unwrap();
    unsafe {
        let mut iface: *mut CK_INTERFACE = ptr::null_mut();
        assert_rv!(
            gi(ptr::null_mut(), ptr::null_mut(), &mut iface, 0),
            CKR_OK,
            "C_GetInterface(NULL, NULL)"
        );
        let list = (*iface).pFunctionList as *const CK_FUNCTION_LIST_3_0;
        assert_eq!(
            ((*list).version.major, (*list).version.minor),
            (3, 0),
            "default interface version"
        );
        let iname = std::ffi::CStr::from_ptr((*iface).pInterfaceName as *const std::ffi::c_char);
        assert_eq!(iname.to_str().unwrap(), "PKCS 11");

        let mut v240 = CK_VERSION {
            major: 2,
            minor: 40,
        };
        let mut iface: *mut CK_INTERFACE = ptr::null_mut();
        assert_rv!(
            gi(name.as_ptr() as *mut u8, &mut v240, &mut iface, 0),
            CKR_OK,
            "C_GetInterface(\"PKCS 11\", 2.40)"
        );
        let list = (*iface).pFunctionList as *const CK_FUNCTION_LIST;
        assert_eq!(((*list).version.major, (*list).version.minor), (2, 40));

        let mut v30 = CK_VERSION { major: 3, minor: 0 };
        let mut iface: *mut CK_INTERFACE = ptr::null_mut();
        assert_rv!(
            gi(name.as_ptr() as *mut u8, &mut v30, &mut iface, 0),
            CKR_OK,
            "C_GetInterface(\"PKCS 11\", 3.0)"
        );
        let list = (*iface).pFunctionList as *const CK_FUNCTION_LIST_3_0;
        assert_eq!(((*list).version.major, (*list).version.minor), (3, 0));

        let mut iface: *mut CK_INTERFACE = ptr::null_mut();
        assert_rv!(
            gi(name.as_ptr() as *mut u8, ptr::null_mut(), &mut iface, 0),
            CKR_OK,
            "C_GetInterface(\"PKCS 11\", NULL)"
        );
        assert!(!iface.is_null());

        // Interfaces that do not exist.
        let other = CString::new("Vendor keyrotor nonexistent").unwrap();
        let mut iface: *mut CK_INTERFACE = ptr::null_mut();
        assert_ne!(
            gi(other.as_ptr() as *mut u8, ptr::null_mut(), &mut iface, 0),
            CKR_OK,
            "unknown interface name"
        );
        let mut v99 = CK_VERSION { major: 9, minor: 9 };
        assert_ne!(
            gi(name.as_ptr() as *mut u8, &mut v99, &mut iface, 0),
            CKR_OK,
            "unknown interface version"
        );
    }
}

#[test]
fn get_interface_list_two_call() {
    let _g = exclusive();
    let raw = Raw::load();
    let gil = raw.get_interface_list;
    unsafe {
        let mut n: CK_ULONG = 0;
        assert_rv!(
            gil(ptr::null_mut(), &mut n),
            CKR_OK,
            "C_GetInterfaceList length"
        );
        assert!(n >= 2, "at least the 3.0 and 2.40 interfaces, got {n}");
        let mut v = vec![
            CK_INTERFACE {
                pInterfaceName: ptr::null_mut(),
                pFunctionList: ptr::null_mut(),
                flags: 0
            };
            n as usize
        ];
        let mut short = n - 1;
        assert_rv!(
            gil(v.as_mut_ptr(), &mut short),
            CKR_BUFFER_TOO_SMALL,
            "short buffer"
        );
        assert_eq!(short, n, "needed count written back");
        let mut m = n;
        assert_rv!(gil(v.as_mut_ptr(), &mut m), CKR_OK);
        assert_eq!(m, n);
        let mut versions = Vec::new();
        for i in &v {
            let name = std::ffi::CStr::from_ptr(i.pInterfaceName as *const std::ffi::c_char);
            assert_eq!(name.to_str().unwrap(), "PKCS 11");
            let l = i.pFunctionList as *const CK_FUNCTION_LIST;
            versions.push(((*l).version.major, (*l).version.minor));
        }
        assert!(versions.contains(&(3, 0)), "{versions:?}");
        assert!(versions.contains(&(2, 40)), "{versions:?}");
        assert_rv!(
            gil(ptr::null_mut(), ptr::null_mut()),
            CKR_ARGUMENTS_BAD,
            "NULL pulCount"
        );
    }
}

/// The function pointers of a list, read as an array after `version`.
unsafe fn entries<T>(list: *const T, first: usize) -> Vec<usize> {
    let n = (std::mem::size_of::<T>() - first) / std::mem::size_of::<usize>();
    let base = (list as *const u8).add(first) as *const usize;
    (0..n).map(|i| *base.add(i)).collect()
}

#[test]
fn function_lists_are_complete() {
    let _g = exclusive();
    let raw = Raw::load();
    unsafe {
        let mut l2: *mut CK_FUNCTION_LIST = ptr::null_mut();
        assert_rv!((raw.get_function_list)(&mut l2), CKR_OK);
        assert_eq!(
            ((*l2).version.major, (*l2).version.minor),
            (2, 40),
            "C_GetFunctionList version"
        );
        let e = entries(l2, std::mem::offset_of!(CK_FUNCTION_LIST, C_Initialize));
        assert_eq!(e.len(), 68, "2.40 list has 68 functions");
        let missing: Vec<usize> = e
            .iter()
            .enumerate()
            .filter(|(_, p)| **p == 0)
            .map(|(i, _)| i)
            .collect();
        assert!(
            missing.is_empty(),
            "NULL entries in the 2.40 list at indexes {missing:?}"
        );

        let mut iface: *mut CK_INTERFACE = ptr::null_mut();
        assert_rv!(
            (raw.get_interface)(ptr::null_mut(), ptr::null_mut(), &mut iface, 0),
            CKR_OK
        );
        let l3 = (*iface).pFunctionList as *const CK_FUNCTION_LIST_3_0;
        let e = entries(l3, std::mem::offset_of!(CK_FUNCTION_LIST_3_0, C_Initialize));
        assert_eq!(e.len(), 92, "3.0 list has 92 functions");
        let missing: Vec<usize> = e
            .iter()
            .enumerate()
            .filter(|(_, p)| **p == 0)
            .map(|(i, _)| i)
            .collect();
        assert!(
            missing.is_empty(),
            "NULL entries in the 3.0 list at indexes {missing:?}"
        );
        assert_rv!(
            (raw.get_function_list)(ptr::null_mut()),
            CKR_ARGUMENTS_BAD,
            "C_GetFunctionList(NULL)"
        );
    }
}

#[test]
fn info_strings_are_blank_padded() {
    // An uninitialised token first.
    {
        let g = exclusive();
        let raw = Raw::load();
        let _f = Finalizer::new(&raw, g);
        let dir = tempfile::tempdir().unwrap();
        assert_rv!(raw.init_conf(&write_conf(dir.path(), "")), CKR_OK);
        let slot = raw.slots()[0];
        let ti = raw.token_info(slot);
        assert_eq!(
            ti.flags & CKF_TOKEN_INITIALIZED,
            0,
            "a new token is not initialised"
        );
        for (n, f) in [
            ("label", &ti.label[..]),
            ("manufacturerID", &ti.manufacturerID),
            ("model", &ti.model),
            ("serialNumber", &ti.serialNumber),
        ] {
            assert_padded(&format!("uninitialised CK_TOKEN_INFO.{n}"), f);
        }
    }
    let tok = TestToken::new();
    let raw = &tok.raw;
    let mut info = CK_INFO::default();
    assert_rv!(ck!(raw, C_GetInfo(&mut info)), CKR_OK);
    assert_eq!(
        (info.cryptokiVersion.major, info.cryptokiVersion.minor),
        (3, 0),
        "CK_INFO.cryptokiVersion"
    );
    assert_padded("CK_INFO.manufacturerID", &info.manufacturerID);
    assert_padded("CK_INFO.libraryDescription", &info.libraryDescription);
    assert!(!unpad(&info.manufacturerID).is_empty());
    assert_eq!(info.flags, 0, "CK_INFO.flags are reserved");

    let mut si = CK_SLOT_INFO::default();
    assert_rv!(ck!(raw, C_GetSlotInfo(tok.slot, &mut si)), CKR_OK);
    assert_padded("CK_SLOT_INFO.slotDescription", &si.slotDescription);
    assert_padded("CK_SLOT_INFO.manufacturerID", &si.manufacturerID);
    assert_ne!(si.flags & CKF_TOKEN_PRESENT, 0, "token present");

    let ti = raw.token_info(tok.slot);
    assert_padded("CK_TOKEN_INFO.label", &ti.label);
    assert_padded("CK_TOKEN_INFO.manufacturerID", &ti.manufacturerID);
    assert_padded("CK_TOKEN_INFO.model", &ti.model);
    assert_padded("CK_TOKEN_INFO.serialNumber", &ti.serialNumber);
    assert_padded("CK_TOKEN_INFO.utcTime", &ti.utcTime);
    assert_eq!(unpad(&ti.label), super::common::TOKEN_LABEL);
    assert!(!unpad(&ti.serialNumber).is_empty(), "serial number set");
    let want = CKF_TOKEN_INITIALIZED | CKF_USER_PIN_INITIALIZED;
    assert_eq!(
        ti.flags & want,
        want,
        "token and user PIN initialised: flags {:#x}",
        ti.flags
    );
}
