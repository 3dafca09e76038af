//! Shifts are the host's: workers start and end their own; plugins read
//! them; worker status is the worker's own choice.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::common::{TestHost, backends};

const IFACE: &str = "coop:test-misbehave/misbehave";

#[tokio::test]
async fn workers_own_their_shifts_and_plugins_read_them() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let coop = host.coop("shifts").await;
        host.install(&coop, "test-misbehave").await;
        let worker = host
            .member(&coop, "w@shifts.coop", &["worker", "member"])
            .await;
        let member = host.member(&coop, "m@shifts.coop", &["member"]).await;
        let admin = host
            .member(&coop, "a@shifts.coop", &["admin", "member"])
            .await;

        let (_, body) = host
            .call("shifts", Some(&worker), IFACE, "my-shift", json!({}))
            .await;
        assert_eq!(
            body["result"],
            json!({"ok": null}),
            "{backend:?}: not on shift yet"
        );

        let (s, body) = host
            .request(
                Method::POST,
                "/v1/coops/shifts/shifts/start",
                Some(&member),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
        let (s, body) = host
            .request(
                Method::POST,
                "/v1/coops/shifts/shifts/start",
                Some(&worker),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        let (s, body) = host
            .request(
                Method::POST,
                "/v1/coops/shifts/shifts/start",
                Some(&worker),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::CONFLICT, "{body}");

        host.clock.advance(90 * 60_000);
        let (s, body) = host
            .call("shifts", Some(&worker), IFACE, "my-shift", json!({}))
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert_eq!(
            body["result"],
            json!({"ok": "5400000"}),
            "{backend:?}: 90 minutes on shift"
        );

        let (s, body) = host
            .request(
                Method::POST,
                "/v1/coops/shifts/shifts/end",
                Some(&worker),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert_eq!(body["on_shift_ms"], 5_400_000);
        let (s, _) = host
            .request(
                Method::POST,
                "/v1/coops/shifts/shifts/end",
                Some(&worker),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::CONFLICT);
        let (_, body) = host
            .call("shifts", Some(&worker), IFACE, "my-shift", json!({}))
            .await;
        assert_eq!(body["result"], json!({"ok": null}));

        let (s, body) = host
            .request(Method::GET, "/v1/coops/shifts/shifts", Some(&worker), None)
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert_eq!(body["on_shift_ms"], 5_400_000, "{body}");
        let worker_id = body["member"].as_i64().unwrap();
        // Others' shifts: admins only.
        let url = format!("/v1/coops/shifts/shifts?member={worker_id}");
        let (s, _) = host.request(Method::GET, &url, Some(&member), None).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, body) = host.request(Method::GET, &url, Some(&admin), None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(body["shifts"].as_array().unwrap().len(), 1);
        let (s, body) = host
            .request(
                Method::GET,
                "/v1/coops/shifts/shifts?from=abc",
                Some(&worker),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");

        // Worker status is the worker's choice.
        let (s, body) = host
            .request(
                Method::PUT,
                "/v1/coops/shifts/me/worker-status",
                Some(&worker),
                Some(json!({"status": "cae", "name": "coopaname"})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let (_, body) = host
            .request(
                Method::GET,
                "/v1/coops/shifts/me/worker-status",
                Some(&worker),
                None,
            )
            .await;
        assert_eq!(
            body["worker_status"],
            json!({"status": "cae", "name": "coopaname"})
        );
        let (s, _) = host
            .request(
                Method::PUT,
                "/v1/coops/shifts/me/worker-status",
                Some(&worker),
                Some(json!({"status": "boss"})),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        host.finish().await;
    }
}
