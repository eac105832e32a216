//! Object functions with NULL pointers and NULL templates.

use std::ptr::null_mut;

use super::common::sys::*;
use super::common::{Raw, Template};
use super::*;

#[test]
fn object_functions() {
    let f = fixture();
    let r = &f.tok.raw;
    let s = f.s;
    let count = |r: &Raw| r.find(s, None, 64).len();
    let before = count(r);
    let mut o: CK_OBJECT_HANDLE = 0;
    let mut t = Template::new()
        .ulong(CKA_CLASS, CKO_SECRET_KEY)
        .ulong(CKA_KEY_TYPE, CKK_AES)
        .bytes(CKA_VALUE, &[1; 16]);
    assert_rv!(
        ck!(r, C_CreateObject(s, null_mut(), 3, &mut o)),
        AB,
        "C_CreateObject(NULL template, count 3)"
    );
    assert_rv!(
        ck!(r, C_CreateObject(s, null_mut(), 0, &mut o)),
        CKR_TEMPLATE_INCOMPLETE,
        "C_CreateObject(NULL, 0)"
    );
    assert_rv!(
        ck!(r, C_CreateObject(s, t.ptr(), t.count(), null_mut())),
        AB,
        "C_CreateObject(phObject NULL)"
    );
    assert_eq!(
        count(r),
        before,
        "no object may be created when phObject is NULL"
    );

    let mut t2 = Template::new().bytes(CKA_LABEL, b"copy");
    assert_rv!(
        ck!(r, C_CopyObject(s, f.k, null_mut(), 1, &mut o)),
        AB,
        "C_CopyObject(NULL template, count 1)"
    );
    assert_rv!(
        ck!(r, C_CopyObject(s, f.k, t2.ptr(), t2.count(), null_mut())),
        AB,
        "C_CopyObject(phNewObject NULL)"
    );
    assert_eq!(
        count(r),
        before,
        "no copy may be made when phNewObject is NULL"
    );
    assert_rv!(
        ck!(r, C_CopyObject(s, f.k, null_mut(), 0, &mut o)),
        CKR_OK,
        "C_CopyObject(NULL, 0) copies as is"
    );
    assert_ne!(o, f.k);
    assert_rv!(ck!(r, C_DestroyObject(s, o)), CKR_OK, "C_DestroyObject");

    assert_rv!(
        ck!(r, C_GetObjectSize(s, f.k, null_mut())),
        AB,
        "C_GetObjectSize(NULL)"
    );
    assert_rv!(
        ck!(r, C_GetAttributeValue(s, f.k, null_mut(), 1)),
        AB,
        "C_GetAttributeValue(NULL, 1)"
    );
    assert_rv!(
        ck!(r, C_GetAttributeValue(s, f.k, null_mut(), 0)),
        CKR_OK,
        "C_GetAttributeValue(NULL, 0)"
    );
    assert_rv!(
        ck!(r, C_SetAttributeValue(s, f.k, null_mut(), 1)),
        AB,
        "C_SetAttributeValue(NULL, 1)"
    );
    assert_rv!(
        ck!(r, C_SetAttributeValue(s, f.k, null_mut(), 0)),
        CKR_OK,
        "C_SetAttributeValue(NULL, 0)"
    );

    assert_rv!(
        ck!(r, C_FindObjectsInit(s, null_mut(), 2)),
        AB,
        "C_FindObjectsInit(NULL, 2)"
    );
    assert_rv!(
        ck!(r, C_FindObjectsInit(s, null_mut(), 0)),
        CKR_OK,
        "C_FindObjectsInit(NULL, 0)"
    );
    let mut hs = [0 as CK_OBJECT_HANDLE; 8];
    let mut n: CK_ULONG = 0;
    assert_rv!(
        ck!(r, C_FindObjects(s, null_mut(), 8, &mut n)),
        AB,
        "C_FindObjects(phObject NULL)"
    );
    assert_rv!(
        ck!(r, C_FindObjects(s, hs.as_mut_ptr(), 8, null_mut())),
        AB,
        "C_FindObjects(pulObjectCount NULL)"
    );
    assert_rv!(ck!(r, C_FindObjectsFinal(s)), CKR_OK, "C_FindObjectsFinal");
}
