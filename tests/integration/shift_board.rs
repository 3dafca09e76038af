//! One conformance scenario, run over HTTP against the shift board written
//! in Rust, Python and JavaScript: plugins are interchangeable across
//! languages because they are judged only by the interface.

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{Backend, TestHost, backends};

const IFACE: &str = "coop:examples/shift-board";
const HOUR: u64 = 3_600_000;
/// Monday 2026-11-30 08:00 UTC (ISO week 2026-W49).
const W49_MON: u64 = 1_796_025_600_000;
/// Tuesday 2026-12-01 08:00 UTC (2026-W49).
const W49_TUE: u64 = 1_796_112_000_000;
/// Tuesday 2026-12-08 08:00 UTC (2026-W50).
const W50_TUE: u64 = 1_796_716_800_000;

struct Board {
    host: TestHost,
    slug: String,
    admin: String,
    alice: String,
    bob: String,
    member: String,
}

impl Board {
    async fn new(backend: Backend, plugin: &str) -> Board {
        let host = TestHost::new(backend).await;
        let slug = "board".to_string();
        let coop = host.coop(&slug).await;
        host.install(&coop, plugin).await;
        let admin = host
            .member(&coop, "admin@board.coop", &["admin", "member"])
            .await;
        let alice = host
            .member(&coop, "alice@board.coop", &["worker", "member"])
            .await;
        let bob = host
            .member(&coop, "bob@board.coop", &["worker", "member"])
            .await;
        let member = host.member(&coop, "carol@board.coop", &["member"]).await;
        Board {
            host,
            slug,
            admin,
            alice,
            bob,
            member,
        }
    }

    async fn call(&self, token: Option<&str>, func: &str, args: Value) -> (StatusCode, Value) {
        self.host.call(&self.slug, token, IFACE, func, args).await
    }

    async fn post(&self, title: &str, starts_at: u64) -> String {
        let (s, body) = self
            .call(Some(&self.admin), "post-shift", json!({"shift": {"title": title, "starts-at": starts_at.to_string(), "ends-at": (starts_at + 4 * HOUR).to_string()}}))
            .await;
        assert_eq!(s, StatusCode::OK, "post-shift: {body}");
        body["result"]["ok"]["id"]
            .as_str()
            .expect("shift id")
            .to_string()
    }
}

async fn conformance(backend: Backend, plugin: &str) {
    let b = Board::new(backend, plugin).await;
    let ctx = format!("{plugin} on {backend:?}");

    // Posting: admins only, validated.
    let (s, body) = b
        .call(
            Some(&b.alice),
            "post-shift",
            json!({"shift": {"title": "x", "starts-at": "1", "ends-at": "2"}}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{ctx}: {body}");
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("post-shift") && msg.contains("admin") && msg.contains("worker"),
        "{ctx}: {msg}"
    );
    let (s, body) = b
        .call(
            Some(&b.admin),
            "post-shift",
            json!({"shift": {"title": "  ", "starts-at": "1", "ends-at": "2"}}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{ctx}: {body}");
    // The plugin's text is the message; the detail adds only the case.
    assert_eq!(
        body["error"]["message"],
        json!("title must be 1 to 200 characters"),
        "{ctx}"
    );
    assert_eq!(body["error"]["detail"], json!({"tag": "invalid"}), "{ctx}");
    let (s, body) = b
        .call(
            Some(&b.admin),
            "post-shift",
            json!({"shift": {"title": "t", "starts-at": "5", "ends-at": "5"}}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{ctx}: {body}");
    assert_eq!(
        body["error"]["message"], "ends-at must be after starts-at",
        "{ctx}"
    );
    let (s, body) = b
        .call(
            Some(&b.admin),
            "post-shift",
            json!({"shift": {"title": 7, "starts-at": "1", "ends-at": "2"}}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{ctx}: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("shift.title"),
        "{ctx}: {body}"
    );

    let mon = b.post("  Monday lunch rush  ", W49_MON).await;
    let tue = b.post("Tuesday evening", W49_TUE).await;
    let next = b.post("Next week", W50_TUE).await;
    assert_eq!(
        [mon.as_str(), tue.as_str(), next.as_str()],
        ["s-000001", "s-000002", "s-000003"],
        "{ctx}"
    );

    // Listing: members; anonymous callers must log in.
    let (s, body) = b.call(None, "list-shifts", json!({})).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{ctx}: {body}");
    let (s, body) = b.call(Some(&b.member), "list-shifts", json!(null)).await;
    assert_eq!(s, StatusCode::OK, "{ctx}: {body}");
    let shifts = body["result"]["ok"].as_array().expect("list");
    assert_eq!(shifts.len(), 3, "{ctx}");
    assert_eq!(
        shifts[0],
        json!({"id": mon, "title": "Monday lunch rush", "starts-at": W49_MON.to_string(),
                                 "ends-at": (W49_MON + 4 * HOUR).to_string(), "claimed-by": null}),
        "{ctx}"
    );

    // Claiming: workers only; first come first served.
    let (s, body) = b
        .call(Some(&b.member), "claim-shift", json!({"id": mon}))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{ctx}: {body}");
    let (s, body) = b
        .call(Some(&b.alice), "claim-shift", json!({"id": "s-999999"}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{ctx}: {body}");
    assert_eq!(body["error"]["message"], "no shift s-999999", "{ctx}");
    let (s, body) = b
        .call(Some(&b.alice), "claim-shift", json!({"id": mon}))
        .await;
    assert_eq!(s, StatusCode::OK, "{ctx}: {body}");
    let alice_id = body["result"]["ok"]["claimed-by"]
        .as_str()
        .expect("claimed")
        .to_string();
    let (s, body) = b
        .call(Some(&b.alice), "claim-shift", json!({"id": mon}))
        .await;
    assert_eq!(
        s,
        StatusCode::OK,
        "{ctx}: reclaiming one's own shift is a no-op: {body}"
    );
    let (s, body) = b
        .call(Some(&b.bob), "claim-shift", json!({"id": mon}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{ctx}: {body}");
    assert_eq!(
        body["error"]["message"],
        format!("shift {mon} is already claimed"),
        "{ctx}"
    );

    // The weekly cap is the coop's configuration.
    let (s, body) = b
        .host
        .request(
            Method::PUT,
            &format!(
                "/v1/coops/{}/plugins/{plugin}/config/max-shifts-per-week",
                b.slug
            ),
            Some(&b.admin),
            Some(json!({"value": 1})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{ctx}: {body}");
    let (s, body) = b
        .call(Some(&b.alice), "claim-shift", json!({"id": tue}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{ctx}: {body}");
    assert_eq!(
        body["error"]["message"], "weekly cap of 1 shifts reached for 2026-W49",
        "{ctx}"
    );
    let (s, body) = b
        .call(Some(&b.alice), "claim-shift", json!({"id": next}))
        .await;
    assert_eq!(s, StatusCode::OK, "{ctx}: another week is fine: {body}");
    let (s, body) = b
        .call(Some(&b.bob), "claim-shift", json!({"id": tue}))
        .await;
    assert_eq!(s, StatusCode::OK, "{ctx}: {body}");

    let (s, body) = b.call(Some(&b.alice), "my-shifts", json!({})).await;
    assert_eq!(s, StatusCode::OK, "{ctx}: {body}");
    let mine: Vec<&str> = body["result"]["ok"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(mine, [mon.as_str(), next.as_str()], "{ctx}");
    assert!(
        body["result"]["ok"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["claimed-by"] == json!(alice_id)),
        "{ctx}"
    );

    // Member ids are per plugin: the plugin never sees the host's ids.
    assert!(
        alice_id.starts_with("m-") && alice_id.len() == 26,
        "{ctx}: {alice_id}"
    );
    b.host.finish().await;
}

async fn races(backend: Backend, plugin: &str) {
    let b = Arc::new(Board::new(backend, plugin).await);
    let ctx = format!("{plugin} on {backend:?}");
    let (s, _) = b
        .host
        .request(
            Method::PUT,
            &format!(
                "/v1/coops/{}/plugins/{plugin}/config/max-shifts-per-week",
                b.slug
            ),
            Some(&b.admin),
            Some(json!({"value": 1})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let first = b.post("A", W49_MON).await;
    let second = b.post("B", W49_TUE).await;

    // Two workers race for one shift: exactly one wins.
    let (x, y) = tokio::join!(
        b.call(Some(&b.alice), "claim-shift", json!({"id": first})),
        b.call(Some(&b.bob), "claim-shift", json!({"id": first})),
    );
    let mut statuses = [x.0, y.0];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::CONFLICT],
        "{ctx}: {x:?} {y:?}"
    );

    // One worker races for two shifts of one week with a cap of one: the
    // cap holds although each call alone saw room (scanned prefixes are
    // checked at commit).
    let winner = if x.0 == StatusCode::OK {
        &b.bob
    } else {
        &b.alice
    };
    let third = b.post("C", W49_MON + 6 * HOUR).await;
    let (x, y) = tokio::join!(
        b.call(Some(winner), "claim-shift", json!({"id": second})),
        b.call(Some(winner), "claim-shift", json!({"id": third})),
    );
    let mut statuses = [x.0, y.0];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::UNPROCESSABLE_ENTITY],
        "{ctx}: {x:?} {y:?}"
    );
    Arc::try_unwrap(b)
        .ok()
        .expect("sole owner")
        .host
        .finish()
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_plugin_conforms() {
    for backend in backends().await {
        conformance(backend, "shift-board-rs").await;
        races(backend, "shift-board-rs").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_plugin_conforms() {
    for backend in backends().await {
        conformance(backend, "shift-board-py").await;
        races(backend, "shift-board-py").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn javascript_plugin_conforms() {
    for backend in backends().await {
        conformance(backend, "shift-board-js").await;
        races(backend, "shift-board-js").await;
    }
}
