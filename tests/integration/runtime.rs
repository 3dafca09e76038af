//! One call = one transaction: writes of a call that traps, times out, runs
//! out of memory or returns `err` are gone; concurrent calls never commit
//! on stale reads; the compile cache survives a restart.

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use coophost::runtime::{CacheOutcome, Engine, Limits, Loaded};
use serde_json::json;

use crate::common::{Backend, TestHost, backends, component};

pub const IFACE: &str = "coop:test-misbehave/misbehave";

pub async fn host_with_misbehave(backend: Backend) -> (TestHost, String) {
    let mut host = TestHost::new(backend).await;
    Arc::get_mut(&mut host.app).expect("fresh app").limits = Limits {
        deadline_ms: 700,
        memory_bytes: 64 << 20,
        ..Limits::default()
    };
    let coop = host.coop("tx").await;
    host.install(&coop, "test-misbehave").await;
    let token = host.member(&coop, "m@tx.coop", &["member"]).await;
    (host, token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_calls_leave_nothing_behind() {
    for backend in backends().await {
        let (host, token) = host_with_misbehave(backend).await;
        let t = Some(token.as_str());
        let cases = [
            ("write-then-trap", StatusCode::BAD_GATEWAY, "plugin-trapped"),
            (
                "write-then-spin",
                StatusCode::GATEWAY_TIMEOUT,
                "deadline-exceeded",
            ),
            (
                "write-then-err",
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
            ),
            (
                "write-then-grow",
                StatusCode::INSUFFICIENT_STORAGE,
                "memory-limit",
            ),
        ];
        for (func, status, code) in cases {
            let key = format!("k-{func}");
            let (s, body) = host.call("tx", t, IFACE, func, json!({"key": key})).await;
            assert_eq!(s, status, "{backend:?} {func}: {body}");
            assert_eq!(body["error"]["code"], code, "{backend:?} {func}: {body}");
            let (s, body) = host.call("tx", t, IFACE, "read", json!({"key": key})).await;
            assert_eq!(s, StatusCode::OK, "{body}");
            assert_eq!(
                body["result"],
                json!({"ok": null}),
                "{backend:?}: {func} left {key} behind"
            );
        }
        // The same write, when the call returns normally, is kept.
        let (s, body) = host
            .call("tx", t, IFACE, "write-then-ok", json!({"key": "kept"}))
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert_eq!(
            body["result"],
            json!({"ok": "1"}),
            "u64 versions are strings"
        );
        let (_, body) = host
            .call("tx", t, IFACE, "read", json!({"key": "kept"}))
            .await;
        assert_eq!(body["result"], json!({"ok": "ok"}));
        host.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_exist_only_for_committed_calls() {
    for backend in backends().await {
        let (host, token) = host_with_misbehave(backend).await;
        let t = Some(token.as_str());
        let (s, _) = host
            .call(
                "tx",
                t,
                IFACE,
                "emit",
                json!({"topic": "lost", "trap": true}),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_GATEWAY);
        let (s, body) = host
            .call(
                "tx",
                t,
                IFACE,
                "emit",
                json!({"topic": "kept", "trap": false}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let (s, body) = host
            .call(
                "tx",
                t,
                IFACE,
                "emit",
                json!({"topic": "Bad Topic!", "trap": false}),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let coop = coophost::identity::find_coop(&host.app.db, "tx")
            .await
            .unwrap();
        let events = coophost::events::for_plugin(&host.app.db, coop.id, "test-misbehave")
            .await
            .unwrap();
        let topics: Vec<&str> = events.iter().map(|e| e.topic.as_str()).collect();
        assert_eq!(topics, ["kept"], "{backend:?}");
        host.finish().await;
    }
}

/// Eight calls each scan a prefix and write under it only if it is empty:
/// serialised, exactly one may write. Without validating scanned prefixes
/// at commit, several would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scanned_prefixes_are_validated_at_commit() {
    for backend in backends().await {
        let (host, token) = host_with_misbehave(backend).await;
        let host = Arc::new(host);
        let mut tasks = Vec::new();
        for i in 0..8 {
            let (host, token) = (host.clone(), token.clone());
            tasks.push(tokio::spawn(async move {
                host.call(
                    "tx",
                    Some(&token),
                    IFACE,
                    "count-then-write",
                    json!({"prefix": "slot/", "key": format!("{i}"), "max": 1}),
                )
                .await
            }));
        }
        for t in tasks {
            let (s, body) = t.await.unwrap();
            assert!(
                s == StatusCode::OK || s == StatusCode::CONFLICT,
                "{backend:?}: {s} {body}"
            );
        }
        let coop = coophost::identity::find_coop(&host.app.db, "tx")
            .await
            .unwrap();
        let rows = coophost::store::dump(&host.app.db, coop.id, "test-misbehave")
            .await
            .unwrap();
        let slots = rows.iter().filter(|e| e.key.starts_with("slot/")).count();
        assert_eq!(slots, 1, "{backend:?}: exactly one call may fill the slot");
        Arc::try_unwrap(host)
            .ok()
            .expect("no other owners")
            .finish()
            .await;
    }
}

#[tokio::test]
async fn store_keys_stay_inside_the_namespace() {
    for backend in backends().await {
        let (host, token) = host_with_misbehave(backend).await;
        let t = Some(token.as_str());
        for key in ["../shift-board-rs/seq", "%", "_", "a/../../b", "\u{10FFFF}"] {
            let (s, body) = host
                .call("tx", t, IFACE, "write-then-ok", json!({"key": key}))
                .await;
            assert_eq!(s, StatusCode::OK, "{backend:?} {key:?}: {body}");
        }
        for (key, why) in [
            ("", "empty"),
            ("a\u{0}b", "NUL"),
            (&"k".repeat(513) as &str, "too long"),
        ] {
            let (s, body) = host
                .call("tx", t, IFACE, "write-then-ok", json!({"key": key}))
                .await;
            assert_eq!(
                s,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{backend:?} {why}: {body}"
            );
        }
        // LIKE wildcards are not wildcards: a scan of "%" sees only "%".
        let (_, body) = host
            .call(
                "tx",
                t,
                IFACE,
                "count-then-write",
                json!({"prefix": "%", "key": "", "max": 0}),
            )
            .await;
        assert_eq!(body["result"], json!({"ok": 1}), "{backend:?}");
        host.finish().await;
    }
}

#[tokio::test]
async fn compile_cache_is_reused_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, manifest) = component("test-kinds");
    let sha = coophost::plugins::sha256_hex(&bytes);
    let manifest = Arc::new(coophost::plugins::manifest::Manifest::parse(&manifest).unwrap());
    let first = Engine::new(dir.path().to_path_buf()).unwrap();
    let loaded = Loaded::new(&first, 1, manifest.clone(), &sha, &bytes).unwrap();
    assert_eq!(loaded.cache, CacheOutcome::Miss);
    drop((loaded, first));
    let second = Engine::new(dir.path().to_path_buf()).unwrap();
    let loaded = Loaded::new(&second, 1, manifest, &sha, &bytes).unwrap();
    assert_eq!(
        loaded.cache,
        CacheOutcome::Hit,
        "a restart must not recompile"
    );
}

/// Each call's time is split into phases in `/metrics`: a call that writes
/// spends time in host functions and in its commit; a trivial call with no
/// host functions mostly spends none in the host. (A store's epoch deadline
/// starts already past; left so, every call stopped at its first epoch check
/// to yield through the host, and no call had zero host time.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_phases_are_timed_and_exported() {
    let (host, token) = host_with_misbehave(Backend::Sqlite).await;
    let (s, body) = host
        .call(
            "tx",
            Some(&token),
            IFACE,
            "write-then-ok",
            json!({"key": "timed"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let totals = host
        .app
        .metrics
        .phase_totals("tx", "test-misbehave")
        .expect("the call was recorded");
    assert_eq!(totals.calls, 1);
    for name in ["instantiate", "host", "teardown", "commit"] {
        let secs = totals.seconds_in(name).expect("every phase is listed");
        assert!(secs > 0.0, "{name} took no time: {totals:?}");
    }
    // /metrics is for the operator or Prometheus with the metrics token.
    host.app
        .set_metrics_token(Some(crate::sec_exposure::METRICS_TOKEN));
    let (s, text) = host
        .request(
            Method::GET,
            "/metrics",
            Some(crate::sec_exposure::METRICS_TOKEN),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let text = text.as_str().expect("metrics are text");
    for name in [
        "map_in",
        "instantiate",
        "guest",
        "host",
        "map_out",
        "teardown",
        "commit",
    ] {
        assert!(
            text.contains(&format!(
                "coophost_plugin_call_phase_seconds_total{{coop=\"tx\",plugin=\"test-misbehave\",phase=\"{name}\"}}"
            )),
            "phase {name} missing:\n{text}"
        );
    }

    let coop = host.coop("kinds").await;
    host.install(&coop, "test-kinds").await;
    let mut without_host = 0;
    for v in 0..20 {
        let before = host.app.metrics.phase_totals("kinds", "test-kinds");
        let (s, body) = host
            .call(
                "kinds",
                None,
                "coop:test-kinds/kinds",
                "echo-u32",
                json!({"v": v}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let after = host.app.metrics.phase_totals("kinds", "test-kinds");
        let host_secs = |t: &Option<coophost::metrics::PhaseTotals>| {
            t.as_ref().and_then(|t| t.seconds_in("host")).unwrap_or(0.0)
        };
        assert!(after.is_some(), "echo-u32 was not recorded");
        if host_secs(&after) == host_secs(&before) {
            without_host += 1;
        }
    }
    assert!(
        without_host > 0,
        "every echo-u32 call spent time in the host"
    );
    host.finish().await;
}
