//! Tests of the SQLite store against real files in temporary directories.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use super::*;
use crate::store::crypt::{wrap_with_pin, KdfParams, SealAad, StorageKey};
use crate::store::{
    AuditDraft, DataKeyRecord, DataKeys, KeyRecord, ObjectRecord, PinRole, Store, TokenRecord,
};

mod audit_log;
mod data_keys;
mod keys;
mod lease;

/// Cheap KDF parameters so tests stay fast.
const FAST: KdfParams = KdfParams {
    m_cost_kib: 8,
    t_cost: 1,
    p: 1,
};

fn token(key: &StorageKey, token_id: &str, label: &str) -> TokenRecord {
    TokenRecord {
        label: label.into(),
        serial: "0123456789abcdef".into(),
        so_key: wrap_with_pin(key, b"so-pin", token_id, PinRole::So, FAST).unwrap(),
        user_key: None,
        so_failures: 0,
        user_failures: 0,
        initialized_at: 1_700_000_000,
    }
}

/// The first data key of a token, sealed under its master key `key`.
fn data_key(key: &StorageKey, token_id: &str) -> DataKeyRecord {
    DataKeys::new_key(key, token_id, 1).unwrap().0
}

/// An audit draft with a fixed time and an empty JSON detail.
fn draft(event: &str) -> AuditDraft {
    AuditDraft {
        at: 1_700_000_000_000,
        actor: "test".into(),
        event: event.into(),
        key_name: None,
        version: None,
        detail: "{}".into(),
    }
}

fn object(uid: &str, public: &[u8], secret: Option<&[u8]>) -> ObjectRecord {
    ObjectRecord {
        uid: uid.into(),
        public: public.to_vec(),
        secret: secret.map(<[u8]>::to_vec),
    }
}

fn is_rv(e: &Error, rv: sys::CK_RV) -> bool {
    matches!(e, Error::Rv(x) if *x == rv)
}

async fn fresh(dir: &tempfile::TempDir) -> (SqliteStore, StorageKey) {
    let store = SqliteStore::open(&dir.path().join("t.sqlite"), "tok")
        .await
        .unwrap();
    let key = StorageKey::generate().unwrap();
    store
        .init_token(
            &token(&key, "tok", "first"),
            &data_key(&key, "tok"),
            &draft("token.init"),
        )
        .await
        .unwrap();
    (store, key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_round_trip_and_init_wipes_objects() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("t.sqlite"), "tok")
        .await
        .unwrap();
    assert_eq!(store.load_token().await.unwrap(), None);
    let key = StorageKey::generate().unwrap();
    let mut rec = token(&key, "tok", "first");
    rec.user_key = Some(wrap_with_pin(&key, b"user", "tok", PinRole::User, FAST).unwrap());
    rec.user_failures = 2;
    store
        .init_token(&rec, &data_key(&key, "tok"), &draft("token.init"))
        .await
        .unwrap();
    assert_eq!(store.load_token().await.unwrap(), Some(rec.clone()));

    store
        .insert_object(&object("a", b"pa", None))
        .await
        .unwrap();
    store
        .insert_object(&object("b", b"pb", Some(b"sb")))
        .await
        .unwrap();
    assert_eq!(store.load_objects().await.unwrap().len(), 2);

    let rec2 = token(&key, "tok", "second");
    store
        .init_token(&rec2, &data_key(&key, "tok"), &draft("token.init"))
        .await
        .unwrap();
    assert!(store.load_objects().await.unwrap().is_empty());
    let loaded = store.load_token().await.unwrap().unwrap();
    assert_eq!(loaded.label, "second");
    assert_eq!(loaded.user_key, None);
    assert_eq!(loaded.user_failures, 0);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_crud_and_order() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = fresh(&dir).await;
    for uid in ["c", "a", "b"] {
        store
            .insert_object(&object(uid, uid.as_bytes(), None))
            .await
            .unwrap();
    }
    // Update keeps the insertion position.
    store
        .update_object(&object("c", b"c2", Some(b"sealed")))
        .await
        .unwrap();
    let objs = store.load_objects().await.unwrap();
    let uids: Vec<&str> = objs.iter().map(|o| o.uid.as_str()).collect();
    assert_eq!(uids, ["c", "a", "b"]);
    assert_eq!(objs[0], object("c", b"c2", Some(b"sealed")));
    assert_eq!(objs[1], object("a", b"a", None));

    store.delete_object("a").await.unwrap();
    store
        .insert_object(&object("a", b"again", None))
        .await
        .unwrap();
    let uids: Vec<String> = store
        .load_objects()
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.uid)
        .collect();
    assert_eq!(uids, ["c", "b", "a"]);

    let e = store
        .update_object(&object("zz", b"", None))
        .await
        .unwrap_err();
    assert!(is_rv(&e, sys::CKR_OBJECT_HANDLE_INVALID), "{e}");
    let e = store.delete_object("zz").await.unwrap_err();
    assert!(is_rv(&e, sys::CKR_OBJECT_HANDLE_INVALID), "{e}");
    let e = store
        .insert_object(&object("b", b"dup", None))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Store(m) if m.contains("already exists")),
        "{e}"
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_without_token_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("t.sqlite"), "tok")
        .await
        .unwrap();
    let key = StorageKey::generate().unwrap();
    let w = wrap_with_pin(&key, b"1", "tok", PinRole::User, FAST).unwrap();
    let nt = sys::CKR_TOKEN_NOT_RECOGNIZED;
    assert!(is_rv(
        &store
            .insert_object(&object("a", b"", None))
            .await
            .unwrap_err(),
        nt
    ));
    assert!(is_rv(
        &store.set_pin(PinRole::User, &w).await.unwrap_err(),
        nt
    ));
    assert!(is_rv(
        &store.record_login_failure(PinRole::So).await.unwrap_err(),
        nt
    ));
    assert!(is_rv(
        &store.reset_login_failures(PinRole::So).await.unwrap_err(),
        nt
    ));
    // Refused writes leave no trace, not even in the generation.
    assert_eq!(store.generation().await.unwrap(), 0);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generation_bumps_once_per_write() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("t.sqlite"), "tok")
        .await
        .unwrap();
    assert_eq!(store.generation().await.unwrap(), 0);
    let key = StorageKey::generate().unwrap();
    let w = wrap_with_pin(&key, b"1", "tok", PinRole::User, FAST).unwrap();
    let mut expect = 0;
    let mut step = |g: u64| {
        expect += 1;
        assert_eq!(g, expect);
    };
    store
        .init_token(
            &token(&key, "tok", "l"),
            &data_key(&key, "tok"),
            &draft("token.init"),
        )
        .await
        .unwrap();
    step(store.generation().await.unwrap());
    store.set_pin(PinRole::User, &w).await.unwrap();
    step(store.generation().await.unwrap());
    store.record_login_failure(PinRole::User).await.unwrap();
    step(store.generation().await.unwrap());
    store.reset_login_failures(PinRole::User).await.unwrap();
    step(store.generation().await.unwrap());
    store.insert_object(&object("a", b"", None)).await.unwrap();
    step(store.generation().await.unwrap());
    store.update_object(&object("a", b"x", None)).await.unwrap();
    step(store.generation().await.unwrap());
    store.delete_object("a").await.unwrap();
    step(store.generation().await.unwrap());
    // A failed write does not bump it; re-initialising never moves it backwards.
    assert!(store.delete_object("a").await.is_err());
    assert_eq!(store.generation().await.unwrap(), 7);
    store
        .init_token(
            &token(&key, "tok", "l"),
            &data_key(&key, "tok"),
            &draft("token.init"),
        )
        .await
        .unwrap();
    assert_eq!(store.generation().await.unwrap(), 8);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_see_each_others_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.sqlite");
    // Opened at the same moment on a fresh file: the migration race must resolve.
    let (a, b) = tokio::join!(
        SqliteStore::open(&path, "tok"),
        SqliteStore::open(&path, "tok")
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let key = StorageKey::generate().unwrap();
    a.init_token(
        &token(&key, "tok", "from-a"),
        &data_key(&key, "tok"),
        &draft("token.init"),
    )
    .await
    .unwrap();
    assert_eq!(b.load_token().await.unwrap().unwrap().label, "from-a");
    b.insert_object(&object("x", b"from-b", None))
        .await
        .unwrap();
    assert_eq!(
        a.load_objects().await.unwrap(),
        [object("x", b"from-b", None)]
    );
    assert_eq!(a.generation().await.unwrap(), b.generation().await.unwrap());
    a.delete_object("x").await.unwrap();
    assert!(b.load_objects().await.unwrap().is_empty());
    assert_eq!(b.generation().await.unwrap(), 3);

    // Another token id in the same file is a separate token.
    let c = SqliteStore::open(&path, "other").await.unwrap();
    assert_eq!(c.load_token().await.unwrap(), None);
    assert_eq!(c.generation().await.unwrap(), 0);
    c.init_token(
        &token(&key, "other", "c"),
        &data_key(&key, "other"),
        &draft("token.init"),
    )
    .await
    .unwrap();
    c.insert_object(&object("x", b"other's", None))
        .await
        .unwrap();
    assert!(a.load_objects().await.unwrap().is_empty());
    assert_eq!(a.generation().await.unwrap(), 3);
    for s in [a, b, c] {
        s.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_open_of_a_fresh_file() {
    // Processes starting together race to switch the new file to WAL and to migrate it.
    for round in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("race.sqlite");
        let opens = (0..4).map(|_| {
            let path = path.clone();
            tokio::spawn(async move { SqliteStore::open(&path, "tok").await })
        });
        let mut stores = Vec::new();
        for h in opens.collect::<Vec<_>>() {
            stores.push(
                h.await
                    .unwrap()
                    .unwrap_or_else(|e| panic!("round {round}: {e}")),
            );
        }
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&stores[0].pool)
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        for s in stores {
            assert_eq!(s.generation().await.unwrap(), 0);
            s.close().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failure_counter_is_atomic_across_stores() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _key) = fresh(&dir).await;
    let a = Arc::new(a);
    let b = Arc::new(
        SqliteStore::open(&dir.path().join("t.sqlite"), "tok")
            .await
            .unwrap(),
    );
    const PER_STORE: u32 = 25;
    let mut tasks = Vec::new();
    for s in [a.clone(), b.clone()] {
        for _ in 0..PER_STORE {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                s.record_login_failure(PinRole::User).await.unwrap()
            }));
        }
    }
    let mut seen = BTreeSet::new();
    for t in tasks {
        assert!(seen.insert(t.await.unwrap()), "a count was returned twice");
    }
    assert_eq!(seen, (1..=2 * PER_STORE).collect::<BTreeSet<u32>>());
    let tok = b.load_token().await.unwrap().unwrap();
    assert_eq!((tok.user_failures, tok.so_failures), (2 * PER_STORE, 0));
    assert_eq!(b.generation().await.unwrap(), 1 + u64::from(2 * PER_STORE));

    assert_eq!(a.record_login_failure(PinRole::So).await.unwrap(), 1);
    b.reset_login_failures(PinRole::User).await.unwrap();
    let tok = a.load_token().await.unwrap().unwrap();
    assert_eq!((tok.user_failures, tok.so_failures), (0, 1));
    // A new SO key clears the SO counter.
    a.set_pin(PinRole::So, &tok.so_key).await.unwrap();
    assert_eq!(b.load_token().await.unwrap().unwrap().so_failures, 0);
    a.close().await;
    b.close().await;
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Raw bytes of the database and its -wal and -shm companions, whichever exist.
fn raw_files(path: &Path) -> Vec<(String, Vec<u8>)> {
    ["", "-wal", "-shm"]
        .iter()
        .filter_map(|sfx| {
            let p = format!("{}{sfx}", path.display());
            std::fs::read(&p).ok().map(|b| (p, b))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_reach_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.sqlite");
    let store = SqliteStore::open(&path, "tok").await.unwrap();
    let key = StorageKey::generate().unwrap();
    let mut rec = token(&key, "tok", "l");
    let user_pin = b"user-pin-7f3a9c";
    rec.user_key = Some(wrap_with_pin(&key, user_pin, "tok", PinRole::User, FAST).unwrap());
    let (dk_rec, dk_key) = DataKeys::new_key(&key, "tok", 1).unwrap();
    store
        .init_token(&rec, &dk_rec, &draft("token.init"))
        .await
        .unwrap();
    let dks = DataKeys::unlock(&key, "tok", &store.load_data_keys().await.unwrap()).unwrap();

    let secret = b"KNOWN-SECRET-KEY-MATERIAL-0123456789";
    let place = SealAad {
        token_id: "tok",
        object_uid: "k1",
        field: "value",
    };
    let sealed = dks.seal(&place, secret).unwrap();
    store
        .insert_object(&object("k1", b"PUBLIC-LABEL-k1", Some(&sealed)))
        .await
        .unwrap();

    let check = |files: &[(String, Vec<u8>)]| {
        for (name, bytes) in files {
            assert!(!contains(bytes, secret), "plaintext secret in {name}");
            assert!(!contains(bytes, key.as_array()), "master key in {name}");
            assert!(!contains(bytes, dk_key.as_array()), "data key in {name}");
            assert!(!contains(bytes, user_pin), "user PIN in {name}");
            assert!(!contains(bytes, b"so-pin"), "SO PIN in {name}");
        }
    };
    // While open, the writes sit in the WAL; the sealed blob being found there proves the
    // scan reads real content.
    let files = raw_files(&path);
    assert!(files.iter().any(|(_, b)| contains(b, &sealed)));
    assert!(files.iter().any(|(_, b)| contains(b, b"PUBLIC-LABEL-k1")));
    assert!(files.iter().any(|(_, b)| contains(b, &dk_rec.sealed)));
    check(&files);
    store.close().await;
    // After close the WAL is checkpointed into the main file.
    let files = raw_files(&path);
    assert!(files.iter().any(|(_, b)| contains(b, &sealed)));
    check(&files);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secure_delete_erases_deleted_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.sqlite");
    let (store, _) = fresh(&dir).await;
    let marker = b"SEALED-BLOB-STAND-IN-5b1e0c77d2";
    store
        .insert_object(&object("k1", b"pub", Some(marker)))
        .await
        .unwrap();
    store.delete_object("k1").await.unwrap();
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&store.pool)
        .await
        .unwrap();
    for (name, bytes) in raw_files(&path) {
        assert!(!contains(&bytes, marker), "deleted blob still in {name}");
    }
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_private_dirs_and_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/keyrotor.sqlite");
    let store = SqliteStore::open(&path, "tok").await.unwrap();
    let key = StorageKey::generate().unwrap();
    store
        .init_token(
            &token(&key, "tok", "l"),
            &data_key(&key, "tok"),
            &draft("token.init"),
        )
        .await
        .unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir.path().join("a")), 0o700);
    assert_eq!(mode(&dir.path().join("a/b")), 0o700);
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&dir.path().join("a/b/keyrotor.sqlite-wal")), 0o600);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_errors_name_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, b"x").unwrap();
    let path = blocker.join("t.sqlite");
    let e = SqliteStore::open(&path, "tok").await.unwrap_err();
    assert!(
        matches!(&e, Error::Store(m) if m.contains(&*blocker.to_string_lossy())),
        "{e}"
    );
    let e = SqliteStore::open(&dir.path().join("ok.sqlite"), "")
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Store(m) if m.contains("empty token id")),
        "{e}"
    );
}

/// Names of this process's threads that belong to store number `seq`.
fn worker_threads(seq: u64) -> usize {
    let prefix = format!("kr-db{seq}-");
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with(&prefix))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_stops_worker_threads() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = fresh(&dir).await;
    // Use more than one connection at once so several workers exist.
    let (x, y) = tokio::join!(store.load_objects(), store.load_token());
    x.unwrap();
    y.unwrap();
    assert!(worker_threads(store.seq) >= 1);
    store.close().await;
    // A worker exits right after acknowledging shutdown; give it a moment.
    let mut left = worker_threads(store.seq);
    for _ in 0..100 {
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        left = worker_threads(store.seq);
    }
    assert_eq!(left, 0, "worker threads left after close");
    let e = store.load_token().await.unwrap_err();
    assert!(matches!(e, Error::Store(_)), "{e}");
}
