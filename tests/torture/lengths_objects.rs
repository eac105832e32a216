//! Lengths of the object, key management and random functions.

use std::ffi::c_void;

use super::common::sys::*;
use super::common::vectors::*;
use super::common::{Mech, Template};
use super::support::*;

const AB: CK_RV = CKR_ARGUMENTS_BAD;

#[test]
fn template_counts_of_create_copy_and_generate() {
    let fx = fixture();
    let r = &fx.tok.raw;
    let s = fx.s;
    let before = r.find(s, None, 64).len();
    let mut t = Template::new()
        .ulong(CKA_CLASS, CKO_DATA)
        .bool(CKA_TOKEN, false)
        .bytes(CKA_LABEL, b"len");
    let mut long = long_template(OVER_TEMPLATE);
    let mut gen = Mech::plain(CKM_AES_KEY_GEN);

    for (count, p, what) in [
        (HUGE, t.ptr(), "huge count, 3 real attributes"),
        (
            OVER_TEMPLATE as CK_ULONG,
            long.as_mut_ptr(),
            "4097 attributes",
        ),
    ] {
        let mut o: CK_OBJECT_HANDLE = 0;
        assert_rv!(
            ck!(r, C_CreateObject(s, p, count, &mut o)),
            AB,
            "C_CreateObject({what})"
        );
        assert_eq!(o, 0, "handle written on failure");
        assert_rv!(
            ck!(r, C_CopyObject(s, fx.k, p, count, &mut o)),
            AB,
            "C_CopyObject({what})"
        );
        assert_rv!(
            ck!(r, C_GenerateKey(s, gen.ptr(), p, count, &mut o)),
            AB,
            "C_GenerateKey({what})"
        );
        assert_eq!(o, 0);
    }
    assert_eq!(r.find(s, None, 64).len(), before, "nothing was created");

    // Zero attributes: nothing says what to create (§5.7 C_CreateObject:
    // CKR_TEMPLATE_INCOMPLETE); a copy with no changes is a plain copy; a
    // generated AES key needs CKA_VALUE_LEN.
    let mut o: CK_OBJECT_HANDLE = 0;
    assert_rv!(
        ck!(r, C_CreateObject(s, t.ptr(), 0, &mut o)),
        CKR_TEMPLATE_INCOMPLETE,
        "C_CreateObject(count 0)"
    );
    assert_rv!(
        ck!(r, C_GenerateKey(s, gen.ptr(), t.ptr(), 0, &mut o)),
        CKR_TEMPLATE_INCOMPLETE,
        "C_GenerateKey(AES, count 0)"
    );
    assert_rv!(
        ck!(r, C_CopyObject(s, fx.k, t.ptr(), 0, &mut o)),
        CKR_OK,
        "C_CopyObject(count 0)"
    );
    assert!(o != 0 && o != fx.k);
    assert_eq!(r.attr(s, o, CKA_VALUE), Ok(h(GCM_K128)), "the copy's value");
}

#[test]
fn template_counts_of_get_set_and_find() {
    let fx = fixture();
    let r = &fx.tok.raw;
    let s = fx.s;
    let o = data_object(r, s, "label", false);
    let mut long = long_template(OVER_TEMPLATE);
    let mut one = Template::new().bytes(CKA_LABEL, b"changed");

    for (count, p, what) in [
        (HUGE, one.ptr(), "huge count, 1 real attribute"),
        (
            OVER_TEMPLATE as CK_ULONG,
            long.as_mut_ptr(),
            "4097 attributes",
        ),
    ] {
        assert_rv!(
            ck!(r, C_GetAttributeValue(s, o, p, count)),
            AB,
            "C_GetAttributeValue({what})"
        );
        assert_rv!(
            ck!(r, C_SetAttributeValue(s, o, p, count)),
            AB,
            "C_SetAttributeValue({what})"
        );
        assert_rv!(
            ck!(r, C_FindObjectsInit(s, p, count)),
            AB,
            "C_FindObjectsInit({what})"
        );
        let mut hs = [0 as CK_OBJECT_HANDLE; 4];
        let mut n: CK_ULONG = 0;
        assert_rv!(
            ck!(r, C_FindObjects(s, hs.as_mut_ptr(), 4, &mut n)),
            CKR_OPERATION_NOT_INITIALIZED,
            "the refused C_FindObjectsInit({what}) started a search"
        );
    }
    assert_eq!(r.attr(s, o, CKA_LABEL), Ok(b"label".to_vec()), "unchanged");

    // Zero attributes: nothing to read, nothing to change, everything matches.
    assert_rv!(
        ck!(r, C_GetAttributeValue(s, o, one.ptr(), 0)),
        CKR_OK,
        "C_GetAttributeValue(count 0)"
    );
    assert_rv!(
        ck!(r, C_SetAttributeValue(s, o, one.ptr(), 0)),
        CKR_OK,
        "C_SetAttributeValue(count 0)"
    );
    assert_eq!(r.attr(s, o, CKA_LABEL), Ok(b"label".to_vec()));
    let mut all = r.find(s, None, 64);
    assert_rv!(
        ck!(r, C_FindObjectsInit(s, one.ptr(), 0)),
        CKR_OK,
        "C_FindObjectsInit(count 0)"
    );

    // ulMaxObjectCount 0: a legal call that returns nothing and keeps the
    // search where it was.
    let mut hs = vec![0xCCCC as CK_OBJECT_HANDLE; all.len() + 1];
    let mut n: CK_ULONG = 99;
    assert_rv!(
        ck!(r, C_FindObjects(s, hs.as_mut_ptr(), 0, &mut n)),
        CKR_OK,
        "C_FindObjects(ulMaxObjectCount 0)"
    );
    assert_eq!(n, 0);
    assert!(hs.iter().all(|h| *h == 0xCCCC), "wrote into 0 entries");
    assert_rv!(
        ck!(
            r,
            C_FindObjects(s, hs.as_mut_ptr(), all.len() as CK_ULONG + 1, &mut n)
        ),
        CKR_OK
    );
    let mut got = hs[..n as usize].to_vec();
    got.sort_unstable();
    all.sort_unstable();
    assert_eq!(got, all, "count 0 template matches every object");
    assert_eq!(hs[n as usize], 0xCCCC, "wrote past the results");
    assert_rv!(ck!(r, C_FindObjectsFinal(s)), CKR_OK);
}

#[test]
fn attribute_value_lengths() {
    let fx = fixture();
    let r = &fx.tok.raw;
    let s = fx.s;
    let o = data_object(r, s, "label", false);

    // A real buffer of 0 bytes for a 5-byte label: §5.7 C_GetAttributeValue
    // case 4 → CK_UNAVAILABLE_INFORMATION and CKR_BUFFER_TOO_SMALL.
    let mut buf = [SENTINEL; 8];
    let mut a = CK_ATTRIBUTE {
        type_: CKA_LABEL,
        pValue: buf.as_mut_ptr() as *mut c_void,
        ulValueLen: 0,
    };
    assert_rv!(
        ck!(r, C_GetAttributeValue(s, o, &mut a, 1)),
        CKR_BUFFER_TOO_SMALL,
        "C_GetAttributeValue(ulValueLen 0)"
    );
    assert_eq!(a.ulValueLen, CK_UNAVAILABLE_INFORMATION);
    assert_eq!(buf, [SENTINEL; 8], "written into a 0-byte buffer");

    // Setting a value of length 0 is legal (an empty label).
    let mut t = Template::new().bytes(CKA_LABEL, b"x");
    t.attrs[0].ulValueLen = 0;
    assert_rv!(
        ck!(r, C_SetAttributeValue(s, o, t.ptr(), 1)),
        CKR_OK,
        "C_SetAttributeValue(CKA_LABEL, length 0)"
    );
    assert_eq!(r.attr(s, o, CKA_LABEL), Ok(vec![]), "the label is empty");

    // A huge value length with a small real buffer: refused unread. The
    // value is what is wrong (§5.7 C_SetAttributeValue lists
    // CKR_ATTRIBUTE_VALUE_INVALID); CKR_ARGUMENTS_BAD fits as well.
    let mut t = Template::new().bytes(CKA_LABEL, b"huge");
    t.attrs[0].ulValueLen = HUGE;
    let rv = ck!(r, C_SetAttributeValue(s, o, t.ptr(), 1));
    one_of(
        rv,
        &[AB, CKR_ATTRIBUTE_VALUE_INVALID],
        "CKA_LABEL length huge",
    );
    let mut t2 = Template::new()
        .ulong(CKA_CLASS, CKO_DATA)
        .bytes(CKA_APPLICATION, b"app");
    t2.attrs[1].ulValueLen = HUGE;
    let mut o2: CK_OBJECT_HANDLE = 0;
    let rv = ck!(r, C_CreateObject(s, t2.ptr(), 2, &mut o2));
    one_of(
        rv,
        &[AB, CKR_ATTRIBUTE_VALUE_INVALID],
        "C_CreateObject(CKA_APPLICATION length huge)",
    );
    assert_eq!(
        r.attr(s, o, CKA_LABEL),
        Ok(vec![]),
        "unchanged by the refusal"
    );
}

#[test]
fn wrap_and_unwrap_lengths() {
    let fx = fixture();
    let r = &fx.tok.raw;
    let s = fx.s;
    let kek = r.aes_key(s, &h(KW_KEK), false);
    let key = r.aes_key(s, &h(KW_KEY), false);
    let mut kw = Mech::plain(CKM_AES_KEY_WRAP);

    // *pulWrappedKeyLen = 0 with a real buffer → too small, 24 needed.
    let (rv, n, _) = out_call(0, |p, l| ck!(r, C_WrapKey(s, kw.ptr(), kek, key, p, l)));
    assert_rv!(rv, CKR_BUFFER_TOO_SMALL, "C_WrapKey(*pulLen 0)");
    assert_eq!(n, 24);
    let (rv, _, wrapped) = out_call(24, |p, l| ck!(r, C_WrapKey(s, kw.ptr(), kek, key, p, l)));
    assert_rv!(rv, CKR_OK);
    assert_eq!(wrapped, h(KW_WRAPPED), "RFC 3394 4.1");

    let mut t = Template::new()
        .ulong(CKA_CLASS, CKO_SECRET_KEY)
        .ulong(CKA_KEY_TYPE, CKK_AES)
        .bool(CKA_TOKEN, false)
        .bool(CKA_EXTRACTABLE, true);
    let mut o: CK_OBJECT_HANDLE = 0;
    let wp = wrapped.as_ptr() as *mut u8;
    // Empty wrapped key: invalid on its length alone (§5.18 C_UnwrapKey).
    assert_rv!(
        ck!(
            r,
            C_UnwrapKey(s, kw.ptr(), kek, wp, 0, t.ptr(), t.count(), &mut o)
        ),
        CKR_WRAPPED_KEY_LEN_RANGE,
        "C_UnwrapKey(ulWrappedKeyLen 0)"
    );
    // Huge: C_UnwrapKey's list has CKR_ARGUMENTS_BAD and CKR_WRAPPED_KEY_LEN_RANGE.
    let rv = ck!(
        r,
        C_UnwrapKey(s, kw.ptr(), kek, wp, HUGE, t.ptr(), t.count(), &mut o)
    );
    one_of(
        rv,
        &[AB, CKR_WRAPPED_KEY_LEN_RANGE],
        "C_UnwrapKey(ulWrappedKeyLen huge)",
    );
    let mut long = long_template(OVER_TEMPLATE);
    for (p, count, what) in [
        (t.ptr(), HUGE, "huge count"),
        (
            long.as_mut_ptr(),
            OVER_TEMPLATE as CK_ULONG,
            "4097 attributes",
        ),
    ] {
        assert_rv!(
            ck!(r, C_UnwrapKey(s, kw.ptr(), kek, wp, 24, p, count, &mut o)),
            AB,
            "C_UnwrapKey({what})"
        );
    }
    assert_eq!(o, 0, "no handle written by the refused calls");
    assert_rv!(
        ck!(
            r,
            C_UnwrapKey(s, kw.ptr(), kek, wp, 24, t.ptr(), t.count(), &mut o)
        ),
        CKR_OK
    );
    assert_eq!(r.attr(s, o, CKA_VALUE), Ok(h(KW_KEY)), "unwrapped value");
}

#[test]
fn random_lengths() {
    let fx = fixture();
    let r = &fx.tok.raw;
    let s = fx.s;
    let mut buf = [SENTINEL; 32];
    assert_rv!(
        ck!(r, C_GenerateRandom(s, buf.as_mut_ptr(), 0)),
        CKR_OK,
        "C_GenerateRandom(0)"
    );
    assert_eq!(buf, [SENTINEL; 32], "wrote although asked for 0 bytes");
    assert_rv!(
        ck!(r, C_GenerateRandom(s, buf.as_mut_ptr(), HUGE)),
        AB,
        "C_GenerateRandom(huge)"
    );
    assert_eq!(buf, [SENTINEL; 32], "wrote although the length was refused");
    assert_rv!(ck!(r, C_GenerateRandom(s, buf.as_mut_ptr(), 31)), CKR_OK);
    assert_eq!(buf[31], SENTINEL, "wrote past 31 bytes");

    // The module takes no seed (§5.19: CKR_RANDOM_SEED_NOT_SUPPORTED), for
    // any length. For a huge one C_SeedRandom's list also has
    // CKR_ARGUMENTS_BAD, which a module may check first.
    assert_rv!(
        ck!(r, C_SeedRandom(s, buf.as_mut_ptr(), 0)),
        CKR_RANDOM_SEED_NOT_SUPPORTED,
        "C_SeedRandom(0)"
    );
    let rv = ck!(r, C_SeedRandom(s, buf.as_mut_ptr(), HUGE));
    one_of(
        rv,
        &[AB, CKR_RANDOM_SEED_NOT_SUPPORTED],
        "C_SeedRandom(huge)",
    );
}
