//! Tests of data keys: sealing under the KEK, format-2 layout, AAD and key-id binding.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};

use super::*;

fn place<'a>(uid: &'a str, field: &'a str) -> SealAad<'a> {
    SealAad {
        token_id: "tok",
        object_uid: uid,
        field,
    }
}

/// A KEK, the records of keys 1 (retiring) and 2 (active), and both unlocked.
fn two_keys() -> (StorageKey, Vec<DataKeyRecord>, DataKeys) {
    let kek = StorageKey::generate().unwrap();
    let (mut r1, _) = DataKeys::new_key(&kek, "tok", 1).unwrap();
    r1.state = DATA_KEY_RETIRING;
    let (r2, _) = DataKeys::new_key(&kek, "tok", 2).unwrap();
    let recs = vec![r1, r2];
    let dk = DataKeys::unlock(&kek, "tok", &recs).unwrap();
    (kek, recs, dk)
}

#[test]
fn new_key_record_and_unlock() {
    let kek = StorageKey::generate().unwrap();
    let (rec, key) = DataKeys::new_key(&kek, "tok", 7).unwrap();
    assert_eq!((rec.id, rec.state), (7, DATA_KEY_ACTIVE));
    assert!(rec.created_at > 1_600_000_000_000, "milliseconds");
    assert_eq!(
        rec.sealed.len(),
        STORAGE_KEY_LEN + super::super::SEAL_OVERHEAD
    );
    assert!(!rec.sealed.windows(32).any(|w| w == key.as_array()));
    let dk = DataKeys::unlock(&kek, "tok", std::slice::from_ref(&rec)).unwrap();
    assert_eq!(dk.active_id(), Some(7));
    assert_eq!(dk.key_ids(), [7]);
    assert_eq!(dk.keys[&7].as_array(), key.as_array());
    // The sealed key is bound to token and id.
    assert!(matches!(
        DataKeys::unlock(&kek, "tok2", std::slice::from_ref(&rec)),
        Err(Error::StoreIntegrity(_))
    ));
    let mut moved = rec.clone();
    moved.id = 8;
    assert!(DataKeys::unlock(&kek, "tok", &[moved]).is_err());
    let other = StorageKey::generate().unwrap();
    assert!(DataKeys::unlock(&other, "tok", &[rec]).is_err());
}

#[test]
fn unlock_checks_states() {
    let (kek, recs, dk) = two_keys();
    assert_eq!(dk.active_id(), Some(2));
    assert_eq!(dk.key_ids(), [1, 2]);
    // Two active keys are corruption.
    let mut both = recs.clone();
    both[0].state = DATA_KEY_ACTIVE;
    let e = DataKeys::unlock(&kek, "tok", &both).unwrap_err();
    assert!(e.to_string().contains("two active"), "{e}");
    // Unknown state.
    let mut odd = recs.clone();
    odd[0].state = 9;
    assert!(DataKeys::unlock(&kek, "tok", &odd).is_err());
    // Retired records are skipped, even with their bytes erased.
    let mut retired = recs;
    retired[0].state = DATA_KEY_RETIRED;
    retired[0].sealed.clear();
    let dk = DataKeys::unlock(&kek, "tok", &retired).unwrap();
    assert_eq!(dk.key_ids(), [2]);
    // No active key: unlock works, sealing does not.
    let none = DataKeys::unlock(&kek, "tok", &[]).unwrap();
    assert_eq!(none.active_id(), None);
    assert!(matches!(
        none.seal(&place("o", "value"), b"x"),
        Err(Error::StoreIntegrity(_))
    ));
}

#[test]
fn seal_open_round_trip_and_layout() {
    let (_, _, dk) = two_keys();
    let pt = b"material of a key version";
    let blob = dk.seal(&place("o1", "value"), pt).unwrap();
    assert_eq!(blob.len(), pt.len() + SEAL_V2_OVERHEAD);
    assert_eq!(blob[..5], [FORMAT_V2, 0, 0, 0, 2]);
    assert_eq!(DataKeys::blob_key_id(&blob), Some(2));
    assert!(!blob.windows(pt.len()).any(|w| w == pt));
    assert_eq!(
        dk.open(&place("o1", "value"), &blob).unwrap().as_slice(),
        pt
    );
    let again = dk.seal(&place("o1", "value"), pt).unwrap();
    assert_ne!(blob[5..17], again[5..17], "nonces repeat");
    let empty = dk.seal(&place("o1", "e"), b"").unwrap();
    assert!(dk.open(&place("o1", "e"), &empty).unwrap().is_empty());
}

#[test]
fn known_vector_pins_the_format() {
    // Built by hand with the all-zero data key and nonce: a change of the AAD layout or the
    // header would strand every stored field, so it must fail here.
    let mut dk = DataKeys {
        keys: BTreeMap::new(),
        active: None,
    };
    dk.install_active(
        0x0102_0304,
        StorageKey::from_array(Zeroizing::new([0u8; 32])),
    );
    let mut aad = vec![2u8];
    for f in [
        &b"keyrotor/store/seal/v2"[..],
        b"tok",
        b"o1",
        b"value",
        &[1, 2, 3, 4],
    ] {
        aad.extend_from_slice(&(f.len() as u64).to_be_bytes());
        aad.extend_from_slice(f);
    }
    assert_eq!(field_aad(&place("o1", "value"), 0x0102_0304), aad);
    let lsk = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[0u8; 32]).unwrap());
    let mut body = b"abc".to_vec();
    lsk.seal_in_place_append_tag(
        Nonce::assume_unique_for_key([0u8; 12]),
        Aad::from(&aad),
        &mut body,
    )
    .unwrap();
    let mut blob = vec![2u8, 1, 2, 3, 4];
    blob.extend_from_slice(&[0u8; 12]);
    blob.extend_from_slice(&body);
    assert_eq!(
        dk.open(&place("o1", "value"), &blob).unwrap().as_slice(),
        b"abc"
    );
    // And the data-key AAD.
    let mut expected = vec![1u8];
    for f in [
        &b"keyrotor/store/data-key/v1"[..],
        b"tok",
        b"data-key",
        &[0, 0, 0, 9],
    ] {
        expected.extend_from_slice(&(f.len() as u64).to_be_bytes());
        expected.extend_from_slice(f);
    }
    assert_eq!(data_key_aad("tok", 9), expected);
}

#[test]
fn place_and_id_are_bound() {
    let (_, _, dk) = two_keys();
    let blob = dk.seal(&place("o1", "value"), b"secret").unwrap();
    for wrong in [
        place("o2", "value"),
        place("o1", "label"),
        SealAad {
            token_id: "tok2",
            object_uid: "o1",
            field: "value",
        },
    ] {
        assert!(matches!(
            dk.open(&wrong, &blob),
            Err(Error::StoreIntegrity(_))
        ));
    }
    // Every single-bit flip, including in the key id, is refused.
    for i in 0..blob.len() {
        let mut t = blob.clone();
        t[i] ^= 1;
        assert!(dk.open(&place("o1", "value"), &t).is_err(), "flip at {i}");
    }
    // Short blobs and other formats.
    for n in 0..SEAL_V2_OVERHEAD {
        assert!(dk.open(&place("o1", "value"), &blob[..n]).is_err());
    }
    let kek = StorageKey::generate().unwrap();
    let v1 = kek.seal(&place("o1", "value"), b"old").unwrap();
    let e = dk.open(&place("o1", "value"), &v1).unwrap_err();
    assert!(e.to_string().contains("format 1"), "{e}");
    assert_eq!(DataKeys::blob_key_id(&v1), None);
    assert_eq!(DataKeys::blob_key_id(&[2, 0, 0]), None);
    let e = dk.open(&place("o1", "value"), &[7u8; 40]).unwrap_err();
    assert!(e.to_string().contains("unknown format byte"), "{e}");
}

#[test]
fn keys_open_only_their_own_blobs_by_id() {
    let (kek, recs, mut dk) = two_keys();
    let under2 = dk.seal(&place("o", "value"), b"two").unwrap();
    // Seal under key 1 by making it active in a second view.
    let mut only1 = DataKeys::unlock(&kek, "tok", &recs[..1]).unwrap();
    only1.active = Some(1);
    let under1 = only1.seal(&place("o", "value"), b"one").unwrap();
    assert_eq!(DataKeys::blob_key_id(&under1), Some(1));
    // The holder of both opens both, each with the key its id names.
    assert_eq!(
        dk.open(&place("o", "value"), &under1).unwrap().as_slice(),
        b"one"
    );
    assert_eq!(
        dk.open(&place("o", "value"), &under2).unwrap().as_slice(),
        b"two"
    );
    // Key 1 alone cannot open key 2's blob, and says which key is missing.
    let e = only1.open(&place("o", "value"), &under2).unwrap_err();
    assert!(e.to_string().contains("data key 2 is not available"), "{e}");
    // Relabelling a blob with the other id does not make the other key open it.
    let mut relabelled = under1.clone();
    relabelled[4] = 2;
    assert!(dk.open(&place("o", "value"), &relabelled).is_err());
    // After key 1 is forgotten its blobs no longer open; the active key cannot be forgotten.
    assert!(!dk.forget(2));
    assert!(dk.forget(1));
    assert!(!dk.forget(1));
    assert!(dk.open(&place("o", "value"), &under1).is_err());
    assert_eq!(
        dk.open(&place("o", "value"), &under2).unwrap().as_slice(),
        b"two"
    );
}

#[test]
fn install_active_switches_sealing() {
    let (kek, _, mut dk) = two_keys();
    let (_, k3) = DataKeys::new_key(&kek, "tok", 3).unwrap();
    dk.install_active(3, k3);
    assert_eq!(dk.active_id(), Some(3));
    let b = dk.seal(&place("o", "value"), b"x").unwrap();
    assert_eq!(DataKeys::blob_key_id(&b), Some(3));
    assert_eq!(dk.key_ids(), [1, 2, 3]);
}

#[test]
fn debug_shows_ids_only() {
    let mut dk = DataKeys {
        keys: BTreeMap::new(),
        active: None,
    };
    dk.install_active(5, StorageKey::from_array(Zeroizing::new([0xAB; 32])));
    let s = format!("{dk:?}");
    assert_eq!(s, "DataKeys { ids: [5], active: Some(5) }");
}
