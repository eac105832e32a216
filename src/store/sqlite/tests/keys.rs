//! Tests of named keys and versions: create/load, exactly-once rotation (also across two store
//! instances), lifecycle updates with crypto-erasure, and the quiet counters.

use super::*;
use crate::store::{KeyChanges, VersionRecord};

pub(super) fn key_rec(uid: &str, name: &str) -> KeyRecord {
    KeyRecord {
        key_uid: uid.into(),
        name: name.into(),
        ck_id: b"id-".iter().chain(name.as_bytes()).copied().collect(),
        public: format!("public of {name}").into_bytes(),
        policy: "{\"rotate_every\":\"30d\"}".into(),
        active_version: 1,
        next_rotation_at: Some(1_700_100_000_000),
        created_at: 1_700_000_000_000,
        updated_at: 1_700_000_000_000,
    }
}

pub(super) fn version(key_uid: &str, v: u32, sealed: Option<&[u8]>) -> VersionRecord {
    VersionRecord {
        key_uid: key_uid.into(),
        version: v,
        version_uid: format!("{key_uid}-v{v}"),
        state: 1,
        held: false,
        created_at: 1_700_000_000_000 + i64::from(v),
        activated_at: Some(1_700_000_000_000 + i64::from(v)),
        deactivated_at: None,
        grace_at: None,
        revoked_at: None,
        destroyed_at: None,
        compromised_at: None,
        sealed: sealed.map(<[u8]>::to_vec),
        encrypt_count: 0,
        decrypt_count: 0,
        iv_reserved: 0,
    }
}

fn key_draft(event: &str, name: &str, v: u32) -> AuditDraft {
    AuditDraft {
        key_name: Some(name.into()),
        version: Some(v),
        ..draft(event)
    }
}

/// Rotates `uid` from `from` to `from + 1` as a process would: new row, old row moved on.
async fn rotate(s: &SqliteStore, uid: &str, from: u32, tag: &str) -> Result<bool> {
    let mut new = version(uid, from + 1, Some(format!("material-{tag}").as_bytes()));
    new.version_uid = format!("{uid}-v{}-{tag}", from + 1);
    let mut old = version(uid, from, Some(b"old material"));
    old.state = 2;
    old.deactivated_at = Some(1_700_000_500_000);
    s.rotate_key(
        uid,
        from,
        &new,
        &old,
        Some(1_800_000_000_000),
        &key_draft("key.rotate", "k", from + 1),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_load_and_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = fresh(&dir).await;
    let g0 = store.generation().await.unwrap();
    let mut v1 = version("u1", 1, Some(b"sealed-1"));
    v1.encrypt_count = 5;
    v1.iv_reserved = 7;
    v1.held = true;
    v1.compromised_at = Some(3);
    store
        .create_key(
            &key_rec("u1", "zeta"),
            &v1,
            &key_draft("key.create", "zeta", 1),
        )
        .await
        .unwrap();
    let v = version("u2", 1, None);
    store
        .create_key(
            &key_rec("u2", "alpha"),
            &v,
            &key_draft("key.create", "alpha", 1),
        )
        .await
        .unwrap();
    assert_eq!(store.generation().await.unwrap(), g0 + 2);
    let keys = store.load_keys().await.unwrap();
    // Ordered by name.
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0].0, key_rec("u2", "alpha"));
    assert_eq!(keys[0].1, [version("u2", 1, None)]);
    assert_eq!(keys[1].0, key_rec("u1", "zeta"));
    assert_eq!(keys[1].1, [v1.clone()]);
    // Debug never prints the sealed bytes.
    let dbg = format!("{v1:?}");
    assert!(
        !dbg.contains("115, 101, 97") && dbg.contains("sealed_len: Some(8)"),
        "{dbg}"
    );

    let e = store
        .create_key(
            &key_rec("u3", "zeta"),
            &version("u3", 1, None),
            &draft("key.create"),
        )
        .await
        .unwrap_err();
    assert!(is_rv(&e, sys::CKR_ATTRIBUTE_VALUE_INVALID), "{e}");
    let e = store
        .create_key(
            &key_rec("u1", "other"),
            &version("u1", 1, None),
            &draft("key.create"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Store(m) if m.contains("already exists")),
        "{e}"
    );
    // A version uid is unique in the token.
    let mut clash = version("u4", 1, None);
    clash.version_uid = "u1-v1".into();
    let e = store
        .create_key(&key_rec("u4", "four"), &clash, &draft("key.create"))
        .await
        .unwrap_err();
    assert!(matches!(&e, Error::Store(_)), "{e}");
    // A first version of another key is a caller bug.
    let e = store
        .create_key(
            &key_rec("u5", "five"),
            &version("u1", 1, None),
            &draft("key.create"),
        )
        .await
        .unwrap_err();
    assert!(matches!(&e, Error::Internal(_)), "{e}");
    // Failed creations wrote nothing at all.
    assert_eq!(store.load_keys().await.unwrap().len(), 2);
    assert_eq!(store.generation().await.unwrap(), g0 + 2);
    assert_eq!(store.audit_entries().await.unwrap().len(), 3);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_without_token_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("t.sqlite"), "tok")
        .await
        .unwrap();
    let nt = sys::CKR_TOKEN_NOT_RECOGNIZED;
    let e = store
        .create_key(&key_rec("u", "k"), &version("u", 1, None), &draft("x"))
        .await
        .unwrap_err();
    assert!(is_rv(&e, nt), "{e}");
    let key = StorageKey::generate().unwrap();
    let e = store
        .add_data_key(&data_key(&key, "tok"), &draft("x"))
        .await
        .unwrap_err();
    assert!(is_rv(&e, nt), "{e}");
    let e = store.append_audit(&draft("x")).await.unwrap_err();
    assert!(is_rv(&e, nt), "{e}");
    assert_eq!(store.generation().await.unwrap(), 0);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_is_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = fresh(&dir).await;
    store
        .create_key(
            &key_rec("u", "k"),
            &version("u", 1, Some(b"m1")),
            &draft("key.create"),
        )
        .await
        .unwrap();
    assert!(rotate(&store, "u", 1, "a").await.unwrap());
    let (k, vs) = store.load_keys().await.unwrap().remove(0);
    assert_eq!(k.active_version, 2);
    assert_eq!(k.next_rotation_at, Some(1_800_000_000_000));
    assert_eq!(k.updated_at, 1_700_000_000_000, "updated_at = audit.at");
    assert_eq!(vs.len(), 2);
    assert_eq!((vs[0].version, vs[0].state), (1, 2));
    assert_eq!(vs[0].deactivated_at, Some(1_700_000_500_000));
    assert_eq!(vs[1].version_uid, "u-v2-a");

    // A second rotation that still expects version 1 loses and writes nothing.
    let g = store.generation().await.unwrap();
    let audits = store.audit_entries().await.unwrap().len();
    assert!(!rotate(&store, "u", 1, "b").await.unwrap());
    assert_eq!(store.generation().await.unwrap(), g);
    assert_eq!(store.audit_entries().await.unwrap().len(), audits);
    assert_eq!(store.load_keys().await.unwrap().remove(0), (k, vs));

    // Unknown key; mismatched rows are refused before anything is read.
    let e = rotate(&store, "nope", 2, "c").await.unwrap_err();
    assert!(is_rv(&e, sys::CKR_OBJECT_HANDLE_INVALID), "{e}");
    let e = store
        .rotate_key(
            "u",
            2,
            &version("u", 3, None),
            &version("u", 1, None),
            None,
            &draft("x"),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Internal(_)), "{e}");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_rotation_from_two_instances_has_one_winner() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = fresh(&dir).await;
    let b = SqliteStore::open(&dir.path().join("t.sqlite"), "tok")
        .await
        .unwrap();
    a.create_key(
        &key_rec("u", "k"),
        &version("u", 1, Some(b"m1")),
        &draft("key.create"),
    )
    .await
    .unwrap();
    let (a, b) = (Arc::new(a), Arc::new(b));
    for from in 1..=8u32 {
        let (sa, sb) = (a.clone(), b.clone());
        let ta = tokio::spawn(async move { rotate(&sa, "u", from, "a").await.unwrap() });
        let tb = tokio::spawn(async move { rotate(&sb, "u", from, "b").await.unwrap() });
        let (wa, wb) = (ta.await.unwrap(), tb.await.unwrap());
        assert!(wa ^ wb, "round {from}: a won {wa}, b won {wb}");
        let (k, vs) = b.load_keys().await.unwrap().remove(0);
        assert_eq!(k.active_version, from + 1);
        assert_eq!(vs.len() as u32, from + 1);
        let winner = if wa { "a" } else { "b" };
        assert_eq!(
            vs.last().unwrap().version_uid,
            format!("u-v{}-{winner}", from + 1)
        );
    }
    // init + create + one entry per round, and the chain is intact.
    let entries = a.audit_entries().await.unwrap();
    assert_eq!(entries.len(), 2 + 8);
    assert!(crate::audit::verify("tok", &entries).ok);
    a.close().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_versions_erases_material_from_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.sqlite");
    let (store, _) = fresh(&dir).await;
    let marker = b"SEALED-VERSION-MATERIAL-9c41e7d0aa5b";
    store
        .create_key(
            &key_rec("u", "k"),
            &version("u", 1, Some(marker)),
            &draft("key.create"),
        )
        .await
        .unwrap();
    // Force the row into the main file too, so both copies must go.
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&store.pool)
        .await
        .unwrap();
    assert!(raw_files(&path).iter().any(|(_, b)| contains(b, marker)));
    let mut destroyed = version("u", 1, None);
    destroyed.state = 6;
    destroyed.destroyed_at = Some(1_700_000_900_000);
    let g = store.generation().await.unwrap();
    store
        .update_versions(
            "u",
            &[destroyed.clone()],
            &[key_draft("version.destroy", "k", 1), key_draft("x", "k", 1)],
        )
        .await
        .unwrap();
    assert_eq!(store.generation().await.unwrap(), g + 1);
    assert_eq!(store.audit_entries().await.unwrap().len(), 4);
    // update_versions checkpoints by itself; an explicit one must find nothing left either.
    for (name, bytes) in raw_files(&path) {
        assert!(!contains(&bytes, marker), "erased material still in {name}");
    }
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&store.pool)
        .await
        .unwrap();
    for (name, bytes) in raw_files(&path) {
        assert!(!contains(&bytes, marker), "erased material still in {name}");
    }
    let vs = store.load_keys().await.unwrap().remove(0).1;
    assert_eq!(vs, [destroyed.clone()]);

    // A stale writer cannot bring the material back.
    let mut stale = version("u", 1, Some(marker));
    stale.state = 3;
    store.update_versions("u", &[stale], &[]).await.unwrap();
    let vs = store.load_keys().await.unwrap().remove(0).1;
    assert_eq!((vs[0].state, vs[0].sealed.as_ref()), (3, None));

    // Missing version, and a row of another key.
    let e = store
        .update_versions("u", &[version("u", 9, None)], &[])
        .await
        .unwrap_err();
    assert!(is_rv(&e, sys::CKR_OBJECT_HANDLE_INVALID), "{e}");
    let e = store
        .update_versions("u", &[version("x", 1, None)], &[])
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Internal(_)), "{e}");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_are_atomic_quiet_and_never_decrease() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = fresh(&dir).await;
    let b = SqliteStore::open(&dir.path().join("t.sqlite"), "tok")
        .await
        .unwrap();
    a.create_key(
        &key_rec("u", "k"),
        &version("u", 1, Some(b"m")),
        &draft("key.create"),
    )
    .await
    .unwrap();
    let g = a.generation().await.unwrap();
    let audits = a.audit_entries().await.unwrap().len();
    let (a, b) = (Arc::new(a), Arc::new(b));
    const TASKS: u64 = 20;
    const BLOCK: u64 = 1000;
    let mut tasks = Vec::new();
    for s in [a.clone(), b.clone()] {
        for _ in 0..TASKS {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                s.add_counts("u", 1, 3, 1).await.unwrap();
                s.reserve_ivs("u", 1, BLOCK).await.unwrap()
            }));
        }
    }
    let mut starts = BTreeSet::new();
    for t in tasks {
        assert!(
            starts.insert(t.await.unwrap()),
            "an IV block was handed out twice"
        );
    }
    let expect: BTreeSet<u64> = (0..2 * TASKS).map(|i| i * BLOCK).collect();
    assert_eq!(starts, expect);
    let v = b.load_keys().await.unwrap().remove(0).1.remove(0);
    assert_eq!(v.encrypt_count, 2 * TASKS * 3);
    assert_eq!(v.decrypt_count, 2 * TASKS);
    assert_eq!(v.iv_reserved, 2 * TASKS * BLOCK);
    // Neither wakes other processes nor writes audit.
    assert_eq!(a.generation().await.unwrap(), g);
    assert_eq!(a.audit_entries().await.unwrap().len(), audits);

    // A lifecycle update from a stale copy does not move counters backwards.
    let mut stale = version("u", 1, Some(b"m"));
    stale.state = 2;
    stale.encrypt_count = 1;
    a.update_versions("u", &[stale], &[]).await.unwrap();
    let after = a.load_keys().await.unwrap().remove(0).1.remove(0);
    assert_eq!(after.state, 2);
    assert_eq!(
        (after.encrypt_count, after.decrypt_count, after.iv_reserved),
        (v.encrypt_count, v.decrypt_count, v.iv_reserved)
    );
    assert_eq!(a.reserve_ivs("u", 1, 1).await.unwrap(), 2 * TASKS * BLOCK);

    // Saturation and exhaustion.
    a.add_counts("u", 1, u64::MAX, 0).await.unwrap();
    a.add_counts("u", 1, 5, 0).await.unwrap();
    let v = a.load_keys().await.unwrap().remove(0).1.remove(0);
    assert_eq!(v.encrypt_count, i64::MAX as u64);
    let e = a.reserve_ivs("u", 1, i64::MAX as u64).await.unwrap_err();
    assert!(
        matches!(&e, Error::Store(m) if m.contains("exhausted")),
        "{e}"
    );
    assert!(a.reserve_ivs("u", 1, u64::MAX).await.is_err());
    let e = a.reserve_ivs("u", 7, 1).await.unwrap_err();
    assert!(is_rv(&e, sys::CKR_OBJECT_HANDLE_INVALID), "{e}");
    let e = a.add_counts("nope", 1, 1, 1).await.unwrap_err();
    assert!(is_rv(&e, sys::CKR_OBJECT_HANDLE_INVALID), "{e}");
    a.close().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_and_delete_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.sqlite");
    let (store, _) = fresh(&dir).await;
    let marker = b"VERSION-MATERIAL-TO-DELETE-41d9";
    store
        .create_key(
            &key_rec("u1", "one"),
            &version("u1", 1, Some(marker)),
            &draft("c"),
        )
        .await
        .unwrap();
    store
        .create_key(&key_rec("u2", "two"), &version("u2", 1, None), &draft("c"))
        .await
        .unwrap();
    let mut k = key_rec("u1", "uno");
    k.policy = "{\"manual\":true}".into();
    k.next_rotation_at = None;
    k.updated_at = 1_700_000_000_999;
    k.active_version = 42; // ignored: only rotate_key moves it
    k.created_at = 5; // ignored
    store.update_key(&k, &draft("key.update")).await.unwrap();
    let loaded = store.load_keys().await.unwrap();
    let got = &loaded.iter().find(|(k, _)| k.key_uid == "u1").unwrap().0;
    assert_eq!(
        got,
        &KeyRecord {
            active_version: 1,
            created_at: 1_700_000_000_000,
            ..k.clone()
        }
    );
    // Renaming onto another key's name is refused; a missing key is reported.
    let e = store
        .update_key(&key_rec("u1", "two"), &draft("x"))
        .await
        .unwrap_err();
    assert!(is_rv(&e, sys::CKR_ATTRIBUTE_VALUE_INVALID), "{e}");
    let e = store
        .update_key(&key_rec("u9", "nine"), &draft("x"))
        .await
        .unwrap_err();
    assert!(is_rv(&e, sys::CKR_OBJECT_HANDLE_INVALID), "{e}");

    let g = store.generation().await.unwrap();
    store.delete_key("u1", &draft("key.delete")).await.unwrap();
    assert_eq!(store.generation().await.unwrap(), g + 1);
    let left = store.load_keys().await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].0.key_uid, "u2");
    let orphans: i64 = sqlx::query_scalar("SELECT count(*) FROM key_versions WHERE key_uid = 'u1'")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    assert_eq!(orphans, 0, "versions cascade with their key");
    for (name, bytes) in raw_files(&path) {
        assert!(
            !contains(&bytes, marker),
            "deleted material still in {name}"
        );
    }
    let e = store.delete_key("u1", &draft("x")).await.unwrap_err();
    assert!(is_rv(&e, sys::CKR_OBJECT_HANDLE_INVALID), "{e}");
    // The name is free again.
    store
        .create_key(&key_rec("u3", "uno"), &version("u3", 1, None), &draft("c"))
        .await
        .unwrap();
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reinit_wipes_keys_data_keys_and_audit() {
    let dir = tempfile::tempdir().unwrap();
    let (store, key) = fresh(&dir).await;
    store
        .create_key(
            &key_rec("u", "k"),
            &version("u", 1, Some(b"m")),
            &draft("c"),
        )
        .await
        .unwrap();
    store.append_audit(&draft("pin.change")).await.unwrap();
    assert_eq!(store.audit_entries().await.unwrap().len(), 3);
    let (dk, _) = DataKeys::new_key(&key, "tok", 5).unwrap();
    let mut init = draft("token.reinit");
    init.detail = "{\"label\":\"again\"}".into();
    store
        .init_token(&token(&key, "tok", "again"), &dk, &init)
        .await
        .unwrap();
    assert!(store.load_keys().await.unwrap().is_empty());
    assert_eq!(store.load_data_keys().await.unwrap(), [dk]);
    let entries = store.audit_entries().await.unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!((entries[0].seq, entries[0].draft()), (1, init));
    assert_eq!(entries[0].prev_hash, [0u8; 32]);
    assert!(crate::audit::verify("tok", &entries).ok);
    // The first data key must be an active one.
    let (mut retiring, _) = DataKeys::new_key(&key, "tok", 1).unwrap();
    retiring.state = 2;
    let e = store
        .init_token(&token(&key, "tok", "x"), &retiring, &draft("i"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Internal(_)), "{e}");
    assert_eq!(store.load_token().await.unwrap().unwrap().label, "again");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_since_a_generation_name_only_the_keys_touched() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = fresh(&dir).await;
    for (uid, name) in [("u1", "one"), ("u2", "two"), ("u3", "three")] {
        store
            .create_key(&key_rec(uid, name), &version(uid, 1, None), &draft("c"))
            .await
            .unwrap();
    }
    let uids = |c: &KeyChanges| {
        let mut v: Vec<_> = c.changed.iter().map(|(k, _)| k.key_uid.clone()).collect();
        v.sort();
        v
    };
    let g = store.generation().await.unwrap();
    let none = store.load_keys_since(g, true).await.unwrap();
    assert!(none.changed.is_empty(), "nothing changed since {g}");
    assert_eq!(none.all_uids.as_ref().map(Vec::len), Some(3));
    // Everything since before the first key.
    assert_eq!(
        uids(&store.load_keys_since(0, true).await.unwrap()),
        ["u1", "u2", "u3"]
    );

    // A rotation (new version row, old one updated, key row updated) marks its key only.
    assert!(rotate(&store, "u2", 1, "r").await.unwrap());
    let c = store.load_keys_since(g, true).await.unwrap();
    assert_eq!(uids(&c), ["u2"]);
    assert_eq!(c.changed[0].1.len(), 2, "with all its versions");
    assert_eq!(
        c.changed,
        store
            .load_keys()
            .await
            .unwrap()
            .into_iter()
            .filter(|(k, _)| k.key_uid == "u2")
            .collect::<Vec<_>>()
    );

    // A key update marks it; a deletion shows as a uid gone.
    let g = store.generation().await.unwrap();
    let mut k = key_rec("u3", "drei");
    k.updated_at = 1_700_000_000_500;
    store.update_key(&k, &draft("key.update")).await.unwrap();
    store.delete_key("u1", &draft("key.delete")).await.unwrap();
    let c = store.load_keys_since(g, true).await.unwrap();
    assert_eq!(uids(&c), ["u3"]);
    let mut all = c.all_uids.unwrap();
    all.sort();
    assert_eq!(all, ["u2", "u3"]);

    // A version's state change alone marks its key too.
    let g = store.generation().await.unwrap();
    let mut vs = store.load_keys().await.unwrap().remove(0).1;
    vs[0].state = 4;
    vs[0].revoked_at = Some(9);
    let key_uid = vs[0].key_uid.clone();
    store
        .update_versions(&key_uid, &vs[..1], &[draft("version.revoked")])
        .await
        .unwrap();
    assert_eq!(
        uids(&store.load_keys_since(g, true).await.unwrap()),
        [key_uid]
    );
}
