//! Tests of the audit log through the store: chain integrity across writers, and detection of
//! rows edited, removed or reordered with raw SQL.

use super::keys::{key_rec, version};
use super::*;
use crate::audit::{to_json_line, verify, ProblemKind};

/// A store with a chain of 8 entries: init, a key, PIN changes, one rotation.
async fn with_chain(dir: &tempfile::TempDir) -> SqliteStore {
    let (store, _) = fresh(dir).await;
    store
        .create_key(
            &key_rec("u", "k"),
            &version("u", 1, Some(b"m")),
            &draft("key.create"),
        )
        .await
        .unwrap();
    for i in 0..5 {
        let mut d = draft("pin.change");
        d.detail = format!("{{\"n\":{i},\"who\":\"user \\\"x\\\"\"}}");
        store.append_audit(&d).await.unwrap();
    }
    let mut old = version("u", 1, Some(b"m"));
    old.state = 2;
    let mut d = draft("key.rotate");
    d.key_name = Some("k".into());
    d.version = Some(2);
    assert!(store
        .rotate_key("u", 1, &version("u", 2, Some(b"n")), &old, None, &d)
        .await
        .unwrap());
    store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_verifies_and_exports() {
    let dir = tempfile::tempdir().unwrap();
    let store = with_chain(&dir).await;
    let entries = store.audit_entries().await.unwrap();
    assert_eq!(entries.len(), 8);
    assert_eq!(
        entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=8).collect::<Vec<_>>()
    );
    assert_eq!(entries[0].event, "token.init");
    assert_eq!(entries[7].key_name.as_deref(), Some("k"));
    assert_eq!(entries[7].version, Some(2));
    let r = verify("tok", &entries);
    assert!(r.ok, "{:?}", r.problems);
    assert_eq!(r.entries, 8);
    for e in &entries {
        let v: serde_json::Value = serde_json::from_str(&to_json_line(e)).unwrap();
        assert_eq!(v["seq"], e.seq);
        assert_eq!(v["event"], e.event.as_str());
        assert!(v["detail"].is_object());
    }
    // A detail that is not JSON is refused and nothing is written.
    let g = store.generation().await.unwrap();
    let mut bad = draft("x");
    bad.detail = "{nope".into();
    assert!(matches!(
        store.append_audit(&bad).await,
        Err(Error::Internal(_))
    ));
    assert_eq!(store.generation().await.unwrap(), g);
    assert_eq!(store.audit_entries().await.unwrap().len(), 8);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appenders_keep_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = fresh(&dir).await;
    let b = SqliteStore::open(&dir.path().join("t.sqlite"), "tok")
        .await
        .unwrap();
    let (a, b) = (Arc::new(a), Arc::new(b));
    let mut tasks = Vec::new();
    for (i, s) in (0..30).map(|i| (i, if i % 2 == 0 { a.clone() } else { b.clone() })) {
        tasks.push(tokio::spawn(async move {
            let mut d = draft("login.failed");
            d.detail = format!("{{\"i\":{i}}}");
            s.append_audit(&d).await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let entries = b.audit_entries().await.unwrap();
    assert_eq!(entries.len(), 31);
    assert!(verify("tok", &entries).ok);
    a.close().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edited_row_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let store = with_chain(&dir).await;
    sqlx::query("UPDATE audit_log SET detail = '{\"n\":99}' WHERE token_id = 'tok' AND seq = 4")
        .execute(&store.pool)
        .await
        .unwrap();
    let r = verify("tok", &store.audit_entries().await.unwrap());
    assert!(!r.ok);
    assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
    assert_eq!(r.problems[0].seq, 4);
    assert_eq!(r.problems[0].kind, ProblemKind::HashMismatch);
    assert!(r.problems[0].message.contains("entry 4"));
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_row_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let store = with_chain(&dir).await;
    sqlx::query("DELETE FROM audit_log WHERE token_id = 'tok' AND seq = 5")
        .execute(&store.pool)
        .await
        .unwrap();
    let r = verify("tok", &store.audit_entries().await.unwrap());
    assert!(!r.ok);
    assert_eq!(r.entries, 7);
    assert_eq!(
        r.problems[0].kind,
        ProblemKind::SeqGap {
            expected: 5,
            found: 6
        }
    );
    assert!(r.problems[0].message.contains("entry 5 is missing"));
    assert!(r
        .problems
        .iter()
        .any(|p| p.seq == 6 && p.kind == ProblemKind::PrevHashMismatch));
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swapped_rows_are_detected() {
    let dir = tempfile::tempdir().unwrap();
    let store = with_chain(&dir).await;
    // Swap the seq numbers of entries 3 and 6 (through a free number, the key is unique).
    for sql in [
        "UPDATE audit_log SET seq = 1000 WHERE token_id = 'tok' AND seq = 3",
        "UPDATE audit_log SET seq = 3 WHERE token_id = 'tok' AND seq = 6",
        "UPDATE audit_log SET seq = 6 WHERE token_id = 'tok' AND seq = 1000",
    ] {
        sqlx::query(sql).execute(&store.pool).await.unwrap();
    }
    let r = verify("tok", &store.audit_entries().await.unwrap());
    assert!(!r.ok);
    let bad_hash: Vec<u64> = r
        .problems
        .iter()
        .filter(|p| p.kind == ProblemKind::HashMismatch)
        .map(|p| p.seq)
        .collect();
    assert_eq!(bad_hash, [3, 6]);
    let broken_links: Vec<u64> = r
        .problems
        .iter()
        .filter(|p| p.kind == ProblemKind::PrevHashMismatch)
        .map(|p| p.seq)
        .collect();
    assert_eq!(broken_links, [3, 4, 6, 7]);
    store.close().await;
}
