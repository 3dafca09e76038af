//! Plugin timers on the durable scheduler: set, fire once in their own
//! call, cancel, retry a failing hook, and a timer storm that stops at the
//! limit with nothing of the failed call kept.

use axum::http::{Method, StatusCode};
use coophost::clock::Clock;
use coophost::plugins::timers::MAX_PENDING_TIMERS;
use serde_json::json;

use crate::common::{TestHost, backends};

const IFACE: &str = "coop:test-misbehave/misbehave";
const HOUR: i64 = 3_600_000;

#[tokio::test]
async fn timers_fire_once_cancel_retry_and_stop_at_the_limit() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let coop = host.coop("tm").await;
        host.install(&coop, "test-misbehave").await;
        let m = host.member(&coop, "m@tm.coop", &["member"]).await;
        let now = host.clock.now_ms();
        let set = |at: i64, payload: &'static str| {
            let (host, m) = (&host, m.clone());
            async move {
                let (s, b) = host
                    .call(
                        "tm",
                        Some(&m),
                        IFACE,
                        "set-timer",
                        json!({"at": at, "payload": payload}),
                    )
                    .await;
                assert_eq!(s, StatusCode::OK, "{b}");
                b["result"]["ok"].as_str().unwrap().parse::<u64>().unwrap()
            }
        };
        let fired = |id: u64| {
            let (host, m) = (&host, m.clone());
            async move {
                let (_, b) = host
                    .call(
                        "tm",
                        Some(&m),
                        IFACE,
                        "read",
                        json!({"key": format!("timer/{id:020}")}),
                    )
                    .await;
                b["result"]["ok"].as_str().map(str::to_string)
            }
        };
        let a = set(now + HOUR, "hello").await;
        let b = set(now + 2 * HOUR, "never").await;
        let c = set(now + HOUR, "fail").await;
        host.app.run_jobs_once("test-host").await.unwrap();
        assert_eq!(fired(a).await, None, "not due yet");
        let (s, r) = host
            .call("tm", Some(&m), IFACE, "cancel-timer", json!({"id": b}))
            .await;
        assert_eq!(
            (s, &r["result"]["ok"]),
            (StatusCode::OK, &json!(true)),
            "{r}"
        );
        host.clock.advance(3 * HOUR);
        let m2 = host.login("m@tm.coop").await;
        host.app.run_jobs_once("test-host").await.unwrap();
        host.app.run_jobs_once("test-host").await.unwrap();
        let fired = |id: u64| {
            let (host, m) = (&host, m2.clone());
            async move {
                let (_, b) = host
                    .call(
                        "tm",
                        Some(&m),
                        IFACE,
                        "read",
                        json!({"key": format!("timer/{id:020}")}),
                    )
                    .await;
                b["result"]["ok"].as_str().map(str::to_string)
            }
        };
        assert_eq!(fired(a).await.as_deref(), Some("hello"), "{backend:?}");
        assert_eq!(fired(b).await, None, "a cancelled timer never fires");
        let (_, r) = host
            .call("tm", Some(&m2), IFACE, "cancel-timer", json!({"id": a}))
            .await;
        assert_eq!(
            r["result"]["ok"], false,
            "a timer that ran cannot be cancelled"
        );
        // The failing hook is retried with back-off; its error is visible.
        let admin = host.member(&coop, "a@tm.coop", &["admin"]).await;
        let (_, jobs) = host
            .request(Method::GET, "/v1/coops/tm/jobs", Some(&admin), None)
            .await;
        let failing = jobs["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["payload"]["id"].as_str() == Some(c.to_string().as_str()))
            .unwrap()
            .clone();
        assert_eq!(failing["status"], "pending", "{failing}");
        assert!(failing["attempts"].as_i64().unwrap() >= 1, "{failing}");
        assert!(
            failing["last_error"]
                .as_str()
                .unwrap()
                .contains("refuses to run"),
            "{failing}"
        );

        // A storm: the call that asks for more than the limit fails whole.
        let pending_before: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM jobs WHERE kind = 'plugin.timer' AND status = 'pending'",
        )
        .fetch_one(&host.app.db.pool)
        .await
        .unwrap();
        let (s, body) = host
            .call(
                "tm",
                Some(&m2),
                IFACE,
                "timer-storm",
                json!({"n": MAX_PENDING_TIMERS + 5}),
            )
            .await;
        assert_eq!(s.as_u16(), 507, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("timer limit"),
            "{body}"
        );
        let (_, r) = host
            .call(
                "tm",
                Some(&m2),
                IFACE,
                "read",
                json!({"key": "storm-started"}),
            )
            .await;
        assert_eq!(
            r["result"]["ok"],
            json!(null),
            "nothing of the failed call is kept"
        );
        let pending_after: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM jobs WHERE kind = 'plugin.timer' AND status = 'pending'",
        )
        .fetch_one(&host.app.db.pool)
        .await
        .unwrap();
        assert_eq!(pending_before, pending_after);
        // Well-behaved calls still work, and a storm within the limit is fine.
        let (s, body) = host
            .call("tm", Some(&m2), IFACE, "timer-storm", json!({"n": 10}))
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        host.finish().await;
    }
}
