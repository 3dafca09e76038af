//! Issue 16, item 13c: a member's erasure brings each plugin namespace's
//! store quota counter down with the records it deletes.

use axum::http::{Method, StatusCode};
use coophost::clock::Clock;
use serde_json::json;
use sqlx::Row;

use crate::common::{TestHost, backends};

const IFACE: &str = "coop:examples/shift-board";

/// (keys, bytes) the namespace's counter says, and what it really holds.
async fn counted_and_held(host: &TestHost, coop_id: i64, plugin: &str) -> ((i64, i64), (i64, i64)) {
    let row = sqlx::query("SELECT keys, bytes FROM kv_usage WHERE coop_id = $1 AND plugin = $2")
        .bind(coop_id)
        .bind(plugin)
        .fetch_one(&host.app.db.pool)
        .await
        .unwrap();
    let held = coophost::store::dump(&host.app.db, coop_id, plugin)
        .await
        .unwrap();
    let bytes = held
        .iter()
        .map(|e| (e.key.len() + e.value.len()) as i64)
        .sum();
    ((row.get(0), row.get(1)), (held.len() as i64, bytes))
}

#[tokio::test]
async fn erasure_brings_the_store_quota_counter_down() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let coop = host.coop("forget").await;
        host.install(&coop, "shift-board-rs").await;
        let admin = host
            .member(&coop, "admin@forget.coop", &["admin", "member"])
            .await;
        let ana = host
            .member(&coop, "ana@forget.coop", &["member", "worker"])
            .await;
        let start = host.clock.now_ms() + 86_400_000;
        for title in ["Monday", "Tuesday"] {
            let (s, body) = host
                .call(
                    "forget",
                    Some(&admin),
                    IFACE,
                    "post-shift",
                    json!({"shift": {"title": title, "starts-at": start.to_string(),
                        "ends-at": (start + 4 * 3_600_000).to_string()}}),
                )
                .await;
            assert_eq!(s, StatusCode::OK, "{body}");
            let id = body["result"]["ok"]["id"].clone();
            // Ana's claim is a record tagged with her.
            let (s, body) = host
                .call(
                    "forget",
                    Some(&ana),
                    IFACE,
                    "claim-shift",
                    json!({"id": id}),
                )
                .await;
            assert_eq!(s, StatusCode::OK, "{body}");
        }
        let (counted, held) = counted_and_held(&host, coop.id, "shift-board-rs").await;
        assert_eq!(counted, held, "{backend:?}: the counter starts right");

        let (s, body) = host
            .request(
                Method::POST,
                "/v1/coops/forget/me/erasure",
                Some(&ana),
                Some(json!({"confirm": "erase my data"})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert_eq!(body["erasure"]["plugin_records_deleted"], 2, "{body}");
        let (counted, held) = counted_and_held(&host, coop.id, "shift-board-rs").await;
        assert_eq!(
            counted, held,
            "{backend:?}: after erasure the counter still matches what the store holds"
        );
        host.finish().await;
    }
}
