//! Tests of the manager lease: two holders, expiry, renewal, release.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_has_one_holder_until_it_expires() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = fresh(&dir).await;
    let b = SqliteStore::open(&dir.path().join("t.sqlite"), "tok")
        .await
        .unwrap();
    let g = a.generation().await.unwrap();
    assert_eq!(a.lease_holder().await.unwrap(), None);
    // Free: the first taker wins, the second is refused while it lasts.
    assert!(a.try_lease("proc-a", 1_000, 500).await.unwrap());
    assert!(!b.try_lease("proc-b", 1_200, 500).await.unwrap());
    assert_eq!(
        b.lease_holder().await.unwrap(),
        Some(("proc-a".to_string(), 1_500))
    );
    // Renewal by the holder extends it.
    assert!(a.try_lease("proc-a", 1_400, 500).await.unwrap());
    assert_eq!(b.lease_holder().await.unwrap().unwrap().1, 1_900);
    assert!(!b.try_lease("proc-b", 1_899, 500).await.unwrap());
    // Expired (expires_at <= now): anyone may take it, and the old holder then cannot renew.
    assert!(b.try_lease("proc-b", 1_900, 500).await.unwrap());
    assert!(!a.try_lease("proc-a", 1_950, 500).await.unwrap());
    assert_eq!(
        a.lease_holder().await.unwrap(),
        Some(("proc-b".to_string(), 2_400))
    );
    // Releasing someone else's lease does nothing; releasing one's own frees it.
    a.release_lease("proc-a").await.unwrap();
    assert_eq!(a.lease_holder().await.unwrap().unwrap().0, "proc-b");
    b.release_lease("proc-b").await.unwrap();
    assert_eq!(a.lease_holder().await.unwrap(), None);
    assert!(a.try_lease("proc-a", 2_000, 500).await.unwrap());
    // Leases are per token, and never wake other processes.
    let c = SqliteStore::open(&dir.path().join("t.sqlite"), "other")
        .await
        .unwrap();
    assert!(c.try_lease("proc-c", 2_000, 500).await.unwrap());
    assert_eq!(a.generation().await.unwrap(), g);
    for s in [a, b, c] {
        s.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_takers_get_one_lease() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = fresh(&dir).await;
    let b = SqliteStore::open(&dir.path().join("t.sqlite"), "tok")
        .await
        .unwrap();
    let (a, b) = (Arc::new(a), Arc::new(b));
    for round in 0..5i64 {
        let now = 10_000 * (round + 1);
        let mut tasks = Vec::new();
        for (i, s) in [a.clone(), b.clone(), a.clone(), b.clone()]
            .into_iter()
            .enumerate()
        {
            tasks.push(tokio::spawn(async move {
                (i, s.try_lease(&format!("p{i}"), now, 1_000).await.unwrap())
            }));
        }
        let mut winners = Vec::new();
        for t in tasks {
            let (i, won) = t.await.unwrap();
            if won {
                winners.push(format!("p{i}"));
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        assert_eq!(a.lease_holder().await.unwrap().unwrap().0, winners[0]);
    }
    a.close().await;
    b.close().await;
}
