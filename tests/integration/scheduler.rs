//! The durable scheduler: jobs survive restarts, run once with several
//! hosts on one database, and are retried with back-off.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::http::{Method, StatusCode};
use coophost::clock::ManualClock;
use coophost::db::Db;
use coophost::scheduler::{self, Worker};
use serde_json::json;

use crate::common::{TestHost, backends};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_run_once_across_hosts_and_retry() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let coop = host.coop("jobs").await;
        let db = &host.app.db;
        let now = 1_000_000;
        for i in 0..60 {
            scheduler::schedule(
                db,
                Some(coop.id),
                "test.count",
                Some(&format!("job-{i}")),
                &json!({"i": i}),
                now,
                now,
            )
            .await
            .unwrap();
        }
        // Scheduling the same key again is a no-op.
        let again = scheduler::schedule(
            db,
            Some(coop.id),
            "test.count",
            Some("job-7"),
            &json!({"i": 999}),
            now,
            now,
        )
        .await
        .unwrap();
        assert_eq!(again.payload, json!({"i": 7}));
        // Not yet due: nothing to claim.
        assert!(
            scheduler::claim(db, "early", now - 1, 60_000, 100)
                .await
                .unwrap()
                .is_empty()
        );

        // Two hosts (two pools on the same database) run them side by side.
        let second = Db::connect(&host.url).await.unwrap();
        let runs: Arc<Mutex<HashMap<i64, usize>>> = Arc::default();
        let mut tasks = Vec::new();
        for (name, pool) in [("host-a", host.app.db.clone()), ("host-b", second.clone())] {
            let runs = runs.clone();
            tasks.push(tokio::spawn(async move {
                let clock = ManualClock::new(now);
                loop {
                    let runs = runs.clone();
                    let worker = Worker::new(&pool, name, &clock, 5);
                    let n = scheduler::run_due(&worker, move |job| {
                        let runs = runs.clone();
                        async move {
                            *runs.lock().unwrap().entry(job.id).or_default() += 1;
                            Ok(())
                        }
                    })
                    .await
                    .unwrap();
                    if n == 0 {
                        break;
                    }
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let runs = runs.lock().unwrap().clone();
        assert_eq!(runs.len(), 60, "{backend:?}: every job ran");
        assert!(
            runs.values().all(|n| *n == 1),
            "{backend:?}: a job ran twice: {runs:?}"
        );

        // A failing job is retried with back-off, then marked failed.
        let job = scheduler::schedule(db, Some(coop.id), "test.fail", None, &json!({}), now, now)
            .await
            .unwrap();
        let mut t = now;
        let clock = ManualClock::new(t);
        let worker = Worker::new(db, "host-a", &clock, 10);
        for attempt in 1..=scheduler::DEFAULT_MAX_ATTEMPTS {
            clock.set(t);
            let ran = scheduler::run_due(&worker, |_| async { Err("boom".to_string()) })
                .await
                .unwrap();
            assert_eq!(ran, 1, "attempt {attempt}");
            t += scheduler::backoff_ms(attempt);
            if attempt < scheduler::DEFAULT_MAX_ATTEMPTS {
                clock.set(t - 1);
                assert_eq!(
                    scheduler::run_due(&worker, |_| async { Ok(()) })
                        .await
                        .unwrap(),
                    0,
                    "retried before its back-off"
                );
            }
        }
        let jobs = scheduler::list(db, coop.id, 100).await.unwrap();
        let failed = jobs.iter().find(|j| j.id == job.id).unwrap();
        assert_eq!(
            (failed.status.as_str(), failed.attempts),
            ("failed", scheduler::DEFAULT_MAX_ATTEMPTS)
        );
        assert_eq!(failed.last_error.as_deref(), Some("boom"));

        // A worker that dies keeps its lease only until it expires; then
        // another host takes the job, and the first cannot complete it.
        let job = scheduler::schedule(db, Some(coop.id), "test.crash", None, &json!({}), now, now)
            .await
            .unwrap();
        let claimed = scheduler::claim(db, "dead-host", now, 1_000, 10)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1);
        assert!(
            scheduler::claim(db, "host-b", now + 999, 1_000, 10)
                .await
                .unwrap()
                .is_empty()
        );
        let taken = scheduler::claim(&second, "host-b", now + 1_000, 1_000, 10)
            .await
            .unwrap();
        assert_eq!(taken.iter().map(|j| j.id).collect::<Vec<_>>(), [job.id]);
        assert!(
            !scheduler::complete(db, job.id, "dead-host", now + 1_001)
                .await
                .unwrap()
        );
        assert!(
            scheduler::complete(db, job.id, "host-b", now + 1_001)
                .await
                .unwrap()
        );

        // Jobs survive a restart: a new pool sees them all.
        second.pool.close().await;
        let restarted = Db::connect(&host.url).await.unwrap();
        assert_eq!(
            scheduler::list(&restarted, coop.id, 1000)
                .await
                .unwrap()
                .len(),
            62
        );
        restarted.pool.close().await;

        // Admins see them over the API.
        let admin = host.member(&coop, "a@jobs.coop", &["admin"]).await;
        let (s, body) = host
            .request(Method::GET, "/v1/coops/jobs/jobs", Some(&admin), None)
            .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(body["jobs"].as_array().unwrap().len(), 62);
        host.finish().await;
    }
}
