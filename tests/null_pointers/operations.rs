//! Encrypt and decrypt functions with NULL pointers and parameters.

use std::ptr::null_mut;

use super::common::sys::*;
use super::common::vectors::*;
use super::common::Mech;
use super::*;

#[test]
fn encrypt_decrypt_functions() {
    let f = fixture();
    let r = &f.tok.raw;
    let (s, k) = (f.s, f.k);
    let data = [0x11u8; 32];
    let mut out = [0u8; 128];
    let mut n: CK_ULONG;
    let gcm = || Mech::gcm(&h(GCM_IV96), &[], 128);

    // Init: a NULL mechanism cancels (legal); NULL or short parameters are invalid.
    assert_rv!(
        ck!(r, C_EncryptInit(s, null_mut(), k)),
        CKR_OK,
        "C_EncryptInit(NULL) with nothing active"
    );
    assert_rv!(
        ck!(r, C_DecryptInit(s, null_mut(), k)),
        CKR_OK,
        "C_DecryptInit(NULL) with nothing active"
    );
    let mut m = Mech::plain(CKM_AES_GCM);
    m.m.ulParameterLen = std::mem::size_of::<CK_GCM_PARAMS>() as CK_ULONG;
    assert_rv!(
        ck!(r, C_EncryptInit(s, m.ptr(), k)),
        CKR_MECHANISM_PARAM_INVALID,
        "GCM pParameter NULL"
    );
    assert_rv!(
        ck!(r, C_DecryptInit(s, m.ptr(), k)),
        CKR_MECHANISM_PARAM_INVALID,
        "GCM pParameter NULL (decrypt)"
    );
    let mut m = gcm();
    unsafe { (*(m.m.pParameter as *mut CK_GCM_PARAMS)).pIv = null_mut() };
    assert_rv!(
        ck!(r, C_EncryptInit(s, m.ptr(), k)),
        CKR_MECHANISM_PARAM_INVALID,
        "GCM pIv NULL, ulIvLen 12"
    );
    let mut m = gcm();
    unsafe { (*(m.m.pParameter as *mut CK_GCM_PARAMS)).ulAADLen = 4 };
    assert_rv!(
        ck!(r, C_EncryptInit(s, m.ptr(), k)),
        CKR_MECHANISM_PARAM_INVALID,
        "GCM pAAD NULL, ulAADLen 4"
    );
    let mut m = Mech::plain(CKM_AES_CBC);
    m.m.ulParameterLen = 16;
    assert_rv!(
        ck!(r, C_EncryptInit(s, m.ptr(), k)),
        CKR_MECHANISM_PARAM_INVALID,
        "CBC IV NULL, length 16"
    );
    let mut m = Mech::plain(CKM_AES_CBC_PAD);
    assert_rv!(
        ck!(r, C_DecryptInit(s, m.ptr(), k)),
        CKR_MECHANISM_PARAM_INVALID,
        "CBC-PAD without IV"
    );
    let mut m = Mech::plain(CKM_AES_CTR);
    assert_rv!(
        ck!(r, C_EncryptInit(s, m.ptr(), k)),
        CKR_MECHANISM_PARAM_INVALID,
        "CTR without parameters"
    );

    // C_Encrypt (GCM).
    let mut m = gcm();
    restart(r, s, Op::Encrypt, &mut m, k);
    n = 128;
    assert_rv!(
        ck!(r, C_Encrypt(s, null_mut(), 32, out.as_mut_ptr(), &mut n)),
        AB,
        "C_Encrypt(pData NULL, 32)"
    );
    restart(r, s, Op::Encrypt, &mut m, k);
    assert_rv!(
        ck!(
            r,
            C_Encrypt(
                s,
                data.as_ptr() as *mut u8,
                32,
                out.as_mut_ptr(),
                null_mut()
            )
        ),
        AB,
        "C_Encrypt(pulLen NULL)"
    );
    restart(r, s, Op::Encrypt, &mut m, k);
    assert_rv!(
        ck!(r, C_Encrypt(s, null_mut(), 32, null_mut(), null_mut())),
        AB,
        "C_Encrypt(all NULL)"
    );
    restart(r, s, Op::Encrypt, &mut m, k);
    n = 0;
    assert_rv!(
        ck!(
            r,
            C_Encrypt(s, data.as_ptr() as *mut u8, 32, null_mut(), &mut n)
        ),
        CKR_OK,
        "C_Encrypt(pOut NULL) = length"
    );
    assert_eq!(n, 48);
    n = 128;
    assert_rv!(
        ck!(
            r,
            C_Encrypt(s, data.as_ptr() as *mut u8, 32, out.as_mut_ptr(), &mut n)
        ),
        CKR_OK,
        "kept after the length query"
    );
    let ct = out[..48].to_vec();
    restart(r, s, Op::Encrypt, &mut m, k);
    n = 128;
    assert_rv!(
        ck!(r, C_Encrypt(s, null_mut(), 0, out.as_mut_ptr(), &mut n)),
        CKR_OK,
        "C_Encrypt(pData NULL, 0): empty message"
    );
    assert_eq!(n, 16, "GCM of nothing is the tag");

    // C_Decrypt (GCM).
    restart(r, s, Op::Decrypt, &mut m, k);
    n = 128;
    assert_rv!(
        ck!(r, C_Decrypt(s, null_mut(), 48, out.as_mut_ptr(), &mut n)),
        AB,
        "C_Decrypt(pEncryptedData NULL)"
    );
    restart(r, s, Op::Decrypt, &mut m, k);
    assert_rv!(
        ck!(
            r,
            C_Decrypt(s, ct.as_ptr() as *mut u8, 48, out.as_mut_ptr(), null_mut())
        ),
        AB,
        "C_Decrypt(pulDataLen NULL)"
    );
    restart(r, s, Op::Decrypt, &mut m, k);
    n = 0;
    assert_rv!(
        ck!(
            r,
            C_Decrypt(s, ct.as_ptr() as *mut u8, 48, null_mut(), &mut n)
        ),
        CKR_OK,
        "C_Decrypt(pData NULL) = length"
    );
    assert!(n >= 32);
    n = 128;
    assert_rv!(
        ck!(
            r,
            C_Decrypt(s, ct.as_ptr() as *mut u8, 48, out.as_mut_ptr(), &mut n)
        ),
        CKR_OK
    );
    assert_eq!(&out[..n as usize], &data[..]);

    // Multi-part (CBC).
    let mut cbc = Mech::bytes(CKM_AES_CBC, &[0; 16]);
    for op in [Op::Encrypt, Op::Decrypt] {
        let upd = |p: *mut u8, l: CK_ULONG, o: *mut u8, ol: *mut CK_ULONG| match op {
            Op::Encrypt => ck!(r, C_EncryptUpdate(s, p, l, o, ol)),
            _ => ck!(r, C_DecryptUpdate(s, p, l, o, ol)),
        };
        let fin = |o: *mut u8, ol: *mut CK_ULONG| match op {
            Op::Encrypt => ck!(r, C_EncryptFinal(s, o, ol)),
            _ => ck!(r, C_DecryptFinal(s, o, ol)),
        };
        let name = if matches!(op, Op::Encrypt) {
            "Encrypt"
        } else {
            "Decrypt"
        };
        restart(r, s, op, &mut cbc, k);
        n = 128;
        assert_rv!(
            upd(null_mut(), 16, out.as_mut_ptr(), &mut n),
            AB,
            "C_{name}Update(pPart NULL, 16)"
        );
        restart(r, s, op, &mut cbc, k);
        assert_rv!(
            upd(data.as_ptr() as *mut u8, 16, out.as_mut_ptr(), null_mut()),
            AB,
            "C_{name}Update(pulOutLen NULL)"
        );
        restart(r, s, op, &mut cbc, k);
        n = 128;
        assert_rv!(
            upd(null_mut(), 0, out.as_mut_ptr(), &mut n),
            CKR_OK,
            "C_{name}Update(pPart NULL, 0)"
        );
        assert_eq!(n, 0);
        n = 0;
        assert_rv!(
            upd(data.as_ptr() as *mut u8, 16, null_mut(), &mut n),
            CKR_OK,
            "C_{name}Update(pOut NULL) = length"
        );
        assert_eq!(n, 16);
        n = 128;
        assert_rv!(
            upd(data.as_ptr() as *mut u8, 16, out.as_mut_ptr(), &mut n),
            CKR_OK,
            "kept after the length query"
        );
        assert_rv!(
            fin(out.as_mut_ptr(), null_mut()),
            AB,
            "C_{name}Final(pulLen NULL)"
        );
        restart(r, s, op, &mut cbc, k);
        n = 5;
        assert_rv!(
            fin(null_mut(), &mut n),
            CKR_OK,
            "C_{name}Final(pOut NULL) = length"
        );
        assert_eq!(n, 0);
        n = 128;
        assert_rv!(
            fin(out.as_mut_ptr(), &mut n),
            CKR_OK,
            "kept after the length query"
        );
    }
}
