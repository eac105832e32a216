//! Tests of data-key rotation in the store: add/retire, listing sealed rows in pages, the
//! compare-and-swap re-encryption, and the guard against values sealed under retired keys.

use super::keys::{key_rec, version};
use super::*;
use std::collections::BTreeMap;

use crate::store::SealedRef;

fn obj_place(uid: &str) -> SealAad<'_> {
    SealAad {
        token_id: "tok",
        object_uid: uid,
        field: "value",
    }
}

fn ver_place(r: &SealedRef) -> (String, &'static str) {
    match r {
        SealedRef::Object(uid) => (uid.clone(), "value"),
        SealedRef::Version { key_uid, version } => (format!("{key_uid}@{version}"), "material"),
    }
}

/// Reads every sealed row in pages of `page`.
async fn all_sealed(s: &SqliteStore, page: usize) -> Vec<(SealedRef, Vec<u8>)> {
    let mut out: Vec<(SealedRef, Vec<u8>)> = Vec::new();
    loop {
        let after = out.last().map(|(r, _)| r.clone());
        let got = s.sealed_rows(after.as_ref(), page).await.unwrap();
        assert!(got.len() <= page);
        let done = got.len() < page;
        out.extend(got);
        if done {
            return out;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_data_key_and_reencrypt_in_batches() {
    let dir = tempfile::tempdir().unwrap();
    let (store, kek) = fresh(&dir).await;
    let mut dks = DataKeys::unlock(&kek, "tok", &store.load_data_keys().await.unwrap()).unwrap();
    assert_eq!(dks.active_id(), Some(1));

    // Five objects (one without a secret) and two keys with three sealed versions.
    let mut plain: BTreeMap<SealedRef, Vec<u8>> = BTreeMap::new();
    for uid in ["o3", "o1", "o5", "o2"] {
        let pt = format!("object secret {uid}").into_bytes();
        let sealed = dks.seal(&obj_place(uid), &pt).unwrap();
        store
            .insert_object(&object(uid, b"pub", Some(&sealed)))
            .await
            .unwrap();
        plain.insert(SealedRef::Object(uid.into()), pt);
    }
    store
        .insert_object(&object("o4", b"pub", None))
        .await
        .unwrap();
    for (uid, v) in [("kb", 1), ("ka", 1), ("kb", 2)] {
        let r = SealedRef::Version {
            key_uid: uid.into(),
            version: v,
        };
        let (place_uid, field) = ver_place(&r);
        let pt = format!("material {uid} v{v}").into_bytes();
        let aad = SealAad {
            token_id: "tok",
            object_uid: &place_uid,
            field,
        };
        let row = version(uid, v, Some(&dks.seal(&aad, &pt).unwrap()));
        if v == 1 {
            store
                .create_key(&key_rec(uid, uid), &row, &draft("key.create"))
                .await
                .unwrap();
        } else {
            let mut old = version(uid, 1, None);
            old.sealed = store.load_keys().await.unwrap()[1].1[0].sealed.clone();
            assert!(store
                .rotate_key(uid, 1, &row, &old, None, &draft("key.rotate"))
                .await
                .unwrap());
        }
        plain.insert(r, pt);
    }
    // A destroyed version has no material and is not listed.
    store
        .create_key(
            &key_rec("kc", "kc"),
            &version("kc", 1, None),
            &draft("key.create"),
        )
        .await
        .unwrap();

    // Listing: every sealed blob once, objects by uid then versions, for any page size.
    let expected: Vec<SealedRef> = plain.keys().cloned().collect();
    for page in [1, 2, 3, 7, 100] {
        let refs: Vec<SealedRef> = all_sealed(&store, page)
            .await
            .into_iter()
            .map(|(r, _)| r)
            .collect();
        assert_eq!(refs, expected, "page size {page}");
    }
    assert!(store.sealed_rows(None, 0).await.unwrap().is_empty());

    // New data key 2: key 1 becomes retiring, both load, 2 is active.
    let (rec2, key2) = DataKeys::new_key(&kek, "tok", 2).unwrap();
    store
        .add_data_key(&rec2, &draft("data_key.add"))
        .await
        .unwrap();
    let recs = store.load_data_keys().await.unwrap();
    assert_eq!(
        recs.iter().map(|r| (r.id, r.state)).collect::<Vec<_>>(),
        [(1, 2), (2, 1)]
    );
    dks.install_active(2, key2);
    // Key 1 still seals values: retiring it is refused.
    let e = store
        .retire_data_key(1, &draft("data_key.retire"))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Store(m) if m.contains("7 stored values")),
        "{e}"
    );

    // Re-encrypt in batches of 3 with compare-and-swap.
    let mut after: Option<SealedRef> = None;
    let mut swapped = 0;
    loop {
        let page = store.sealed_rows(after.as_ref(), 3).await.unwrap();
        for (r, blob) in &page {
            if DataKeys::blob_key_id(blob) == dks.active_id() {
                continue;
            }
            let (place_uid, field) = ver_place(r);
            let aad = SealAad {
                token_id: "tok",
                object_uid: &place_uid,
                field,
            };
            let pt = dks.open(&aad, blob).unwrap();
            let new = dks.seal(&aad, &pt).unwrap();
            assert!(store.replace_sealed(r, blob, &new).await.unwrap());
            swapped += 1;
        }
        if page.len() < 3 {
            break;
        }
        after = page.last().map(|(r, _)| r.clone());
    }
    assert_eq!(swapped, 7);
    store
        .retire_data_key(1, &draft("data_key.retire"))
        .await
        .unwrap();
    let recs = store.load_data_keys().await.unwrap();
    assert_eq!(
        (recs[0].state, recs[0].sealed.len()),
        (3, 0),
        "retired key erased"
    );

    // A fresh unlock (key 1 skipped) opens everything with the right plaintext.
    let fresh_dks = DataKeys::unlock(&kek, "tok", &recs).unwrap();
    assert_eq!(fresh_dks.key_ids(), [2]);
    for (r, blob) in all_sealed(&store, 4).await {
        assert_eq!(DataKeys::blob_key_id(&blob), Some(2));
        let (place_uid, field) = ver_place(&r);
        let aad = SealAad {
            token_id: "tok",
            object_uid: &place_uid,
            field,
        };
        assert_eq!(fresh_dks.open(&aad, &blob).unwrap().as_slice(), plain[&r]);
    }
    // Retiring again is a no-op; the audit chain holds add and one retire.
    let n = store.audit_entries().await.unwrap().len();
    store.retire_data_key(1, &draft("x")).await.unwrap();
    let entries = store.audit_entries().await.unwrap();
    assert_eq!(entries.len(), n);
    let events: Vec<&str> = entries.iter().map(|e| e.event.as_str()).collect();
    assert!(
        events.ends_with(&["data_key.add", "data_key.retire"]),
        "{events:?}"
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replace_sealed_is_compare_and_swap() {
    let dir = tempfile::tempdir().unwrap();
    let (store, kek) = fresh(&dir).await;
    let dks = DataKeys::unlock(&kek, "tok", &store.load_data_keys().await.unwrap()).unwrap();
    let v1 = dks.seal(&obj_place("o"), b"one").unwrap();
    let v2 = dks.seal(&obj_place("o"), b"one").unwrap();
    let v3 = dks.seal(&obj_place("o"), b"one").unwrap();
    store
        .insert_object(&object("o", b"p", Some(&v1)))
        .await
        .unwrap();
    let r = SealedRef::Object("o".into());
    let g = store.generation().await.unwrap();
    // Stale `old`: nothing written, no generation bump.
    assert!(!store.replace_sealed(&r, &v2, &v3).await.unwrap());
    assert_eq!(store.generation().await.unwrap(), g);
    assert!(store.replace_sealed(&r, &v1, &v2).await.unwrap());
    assert_eq!(store.generation().await.unwrap(), g + 1);
    // The same swap again lost its precondition.
    assert!(!store.replace_sealed(&r, &v1, &v3).await.unwrap());
    assert_eq!(
        store.load_objects().await.unwrap()[0].secret,
        Some(v2.clone())
    );
    // Missing rows and versions without material are never swapped.
    assert!(!store
        .replace_sealed(&SealedRef::Object("zz".into()), &v1, &v2)
        .await
        .unwrap());
    store
        .create_key(&key_rec("k", "k"), &version("k", 1, Some(&v1)), &draft("c"))
        .await
        .unwrap();
    let vr = SealedRef::Version {
        key_uid: "k".into(),
        version: 1,
    };
    assert!(!store.replace_sealed(&vr, &v2, &v3).await.unwrap());
    assert!(store.replace_sealed(&vr, &v1, &v3).await.unwrap());
    assert_eq!(
        store.load_keys().await.unwrap()[0].1[0].sealed,
        Some(v3.clone())
    );
    // A lifecycle update from a copy taken before the swap does not undo it.
    let mut stale = version("k", 1, Some(&v1));
    stale.state = 2;
    store.update_versions("k", &[stale], &[]).await.unwrap();
    let row = store.load_keys().await.unwrap()[0].1[0].clone();
    assert_eq!((row.state, row.sealed), (2, Some(v3.clone())));
    store
        .update_versions("k", &[version("k", 1, None)], &[])
        .await
        .unwrap();
    assert!(!store.replace_sealed(&vr, &v3, &v1).await.unwrap());
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_under_retired_or_unknown_keys_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (store, kek) = fresh(&dir).await;
    let recs = store.load_data_keys().await.unwrap();
    let stale = DataKeys::unlock(&kek, "tok", &recs).unwrap();
    let (rec2, _) = DataKeys::new_key(&kek, "tok", 2).unwrap();
    store
        .add_data_key(&rec2, &draft("data_key.add"))
        .await
        .unwrap();
    // A retiring key is still accepted (a process may not have reloaded yet).
    let under1 = stale.seal(&obj_place("a"), b"x").unwrap();
    store
        .insert_object(&object("a", b"p", Some(&under1)))
        .await
        .unwrap();
    store.delete_object("a").await.unwrap();
    store
        .retire_data_key(1, &draft("data_key.retire"))
        .await
        .unwrap();
    let g = store.generation().await.unwrap();
    // Once retired, no write may store a value under it.
    let e = store
        .insert_object(&object("b", b"p", Some(&under1)))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Store(m) if m.contains("data key 1")),
        "{e}"
    );
    let e = store
        .create_key(
            &key_rec("k", "k"),
            &version("k", 1, Some(&under1)),
            &draft("c"),
        )
        .await
        .unwrap_err();
    assert!(matches!(&e, Error::Store(_)), "{e}");
    let mut unknown = under1.clone();
    unknown[4] = 9;
    let e = store
        .insert_object(&object("b", b"p", Some(&unknown)))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Store(m) if m.contains("data key 9")),
        "{e}"
    );
    assert_eq!(store.generation().await.unwrap(), g);
    // Other retire refusals.
    let e = store.retire_data_key(2, &draft("x")).await.unwrap_err();
    assert!(matches!(&e, Error::Store(m) if m.contains("active")), "{e}");
    let e = store.retire_data_key(7, &draft("x")).await.unwrap_err();
    assert!(
        matches!(&e, Error::Store(m) if m.contains("no such")),
        "{e}"
    );
    // Duplicate ids and non-active new keys.
    let (dup, _) = DataKeys::new_key(&kek, "tok", 2).unwrap();
    let e = store.add_data_key(&dup, &draft("x")).await.unwrap_err();
    assert!(
        matches!(&e, Error::Store(m) if m.contains("already exists")),
        "{e}"
    );
    let (mut odd, _) = DataKeys::new_key(&kek, "tok", 3).unwrap();
    odd.state = 2;
    assert!(matches!(
        store.add_data_key(&odd, &draft("x")).await,
        Err(Error::Internal(_))
    ));
    // None of the failures changed which key is active.
    let states: Vec<(u32, u8)> = store
        .load_data_keys()
        .await
        .unwrap()
        .iter()
        .map(|r| (r.id, r.state))
        .collect();
    assert_eq!(states, [(1, 3), (2, 1)]);
    store.close().await;
}
