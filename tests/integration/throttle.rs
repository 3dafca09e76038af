//! Throttle counts on both backends: atomic under parallel attempts, shared
//! by hosts on one database, and purged once their window is over.

use coophost::throttle::{self, Rule};

use crate::common::{TestHost, backends};

const RULE: Rule = Rule {
    name: "test.parallel",
    limit: 10,
    window_ms: 60_000,
};

#[tokio::test]
async fn parallel_attempts_are_each_counted_and_old_windows_purged() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let now = host.app.clock.now_ms();
        // Fifty attempts at once: exactly ten are allowed, as if in a row.
        let attempts = (0..50).map(|_| {
            let db = host.app.db.clone();
            async move { throttle::hit(&db, &RULE, "ana@example.org", now).await }
        });
        let verdicts = futures_util::future::join_all(attempts).await;
        let allowed = verdicts
            .iter()
            .filter(|v| v.as_ref().expect("hit").allowed)
            .count();
        assert_eq!(allowed, 10, "{backend:?}");
        let v = throttle::peek(&host.app.db, &RULE, "ana@example.org", now)
            .await
            .unwrap();
        assert!(!v.allowed && v.count >= 50.0, "{backend:?}: {v:?}");
        // Another key is not affected.
        let other = throttle::peek(&host.app.db, &RULE, "bob@example.org", now)
            .await
            .unwrap();
        assert!(other.allowed, "{backend:?}");
        // Two windows later nothing counts, and the rows go.
        let later = now + 2 * RULE.window_ms + 1;
        assert!(
            throttle::peek(&host.app.db, &RULE, "ana@example.org", later)
                .await
                .unwrap()
                .allowed
        );
        assert_eq!(throttle::purge(&host.app.db, later).await.unwrap(), 1);
        host.finish().await;
    }
}
