//! Hostile plugins harm only their own call: each attack gets its exact
//! error, leaves nothing behind, and well-behaved calls running at the same
//! time still succeed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use coophost::plugins::{Grants, Ungranted};
use coophost::runtime::Limits;
use serde_json::{Value, json};

use crate::common::{Backend, TestHost, backends, component};

const IFACE: &str = "coop:test-misbehave/misbehave";

/// Tight limits so attacks hit them quickly.
fn tight() -> Limits {
    Limits {
        deadline_ms: 700,
        memory_bytes: 64 << 20,
        result_bytes: 64 << 10,
        log_bytes: 16 << 10,
        host_calls: 300,
        store_keys: 50,
        store_bytes: 256 << 10,
        call_bytes: 4 << 20,
    }
}

async fn hostile_host(backend: Backend) -> (Arc<TestHost>, String) {
    let mut host = TestHost::new(backend).await;
    Arc::get_mut(&mut host.app).expect("fresh app").limits = tight();
    let coop = host.coop("hostile").await;
    host.install(&coop, "test-misbehave").await;
    let token = host.member(&coop, "m@hostile.coop", &["member"]).await;
    (Arc::new(host), token)
}

async fn read(host: &TestHost, token: &str, key: &str) -> Value {
    let (s, body) = host
        .call("hostile", Some(token), IFACE, "read", json!({"key": key}))
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    body["result"]["ok"].clone()
}

/// Run `func(args)` while a well-behaved call runs beside it; check the
/// attack's status and code, that the bystander succeeded, and that `key`
/// was not written.
async fn attack(
    host: &Arc<TestHost>,
    token: &str,
    func: &str,
    args: Value,
    status: StatusCode,
    code: &str,
) {
    let bystander = {
        let (host, token) = (host.clone(), token.to_string());
        let func = func.to_string();
        tokio::spawn(async move {
            // Give the attack a head start so they overlap.
            tokio::time::sleep(Duration::from_millis(20)).await;
            let started = Instant::now();
            let r = host
                .call(
                    "hostile",
                    Some(&token),
                    IFACE,
                    "write-then-ok",
                    json!({"key": format!("bystander-{func}")}),
                )
                .await;
            (r, started.elapsed())
        })
    };
    let (s, body) = host
        .call("hostile", Some(token), IFACE, func, args.clone())
        .await;
    assert_eq!(s, status, "{func}({args}): {body}");
    assert_eq!(body["error"]["code"], code, "{func}({args}): {body}");
    let ((bs, bbody), took) = bystander.await.unwrap();
    assert_eq!(bs, StatusCode::OK, "bystander of {func} failed: {bbody}");
    assert!(
        took < Duration::from_millis(600),
        "bystander of {func} waited {took:?}"
    );
    if let Some(key) = args.get("key").and_then(Value::as_str) {
        assert_eq!(
            read(host, token, key).await,
            Value::Null,
            "{func} left {key} behind"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_attack_gets_its_own_error_and_leaves_nothing() {
    for backend in backends().await {
        let (host, token) = hostile_host(backend).await;
        let t = token.as_str();
        let s502 = StatusCode::BAD_GATEWAY;
        let s507 = StatusCode::INSUFFICIENT_STORAGE;
        attack(
            &host,
            t,
            "write-then-spin",
            json!({"key": "spin"}),
            StatusCode::GATEWAY_TIMEOUT,
            "deadline-exceeded",
        )
        .await;
        attack(
            &host,
            t,
            "write-then-recurse",
            json!({"key": "recurse"}),
            s502,
            "plugin-trapped",
        )
        .await;
        attack(
            &host,
            t,
            "write-then-grow",
            json!({"key": "grow"}),
            s507,
            "memory-limit",
        )
        .await;
        attack(
            &host,
            t,
            "write-then-trap",
            json!({"key": "panic"}),
            s502,
            "plugin-trapped",
        )
        .await;
        attack(
            &host,
            t,
            "write-then-log",
            json!({"key": "log", "lines": 100}),
            s507,
            "log-limit",
        )
        .await;
        attack(
            &host,
            t,
            "write-then-read-many",
            json!({"key": "reads", "n": 1000}),
            s507,
            "host-call-limit",
        )
        .await;
        attack(
            &host,
            t,
            "huge",
            json!({"bytes": 1 << 20}),
            s502,
            "result-too-large",
        )
        .await;
        attack(
            &host,
            t,
            "write-big",
            json!({"key": "big", "bytes": 300 << 10}),
            s507,
            "store-quota",
        )
        .await;
        attack(
            &host,
            t,
            "emit-many",
            json!({"n": 500}),
            s507,
            "quota-exceeded",
        )
        .await;
        let coop = coophost::identity::find_coop(&host.app.db, "hostile")
            .await
            .unwrap();
        let events = coophost::events::for_plugin(&host.app.db, coop.id, "test-misbehave")
            .await
            .unwrap();
        assert!(
            events.is_empty(),
            "{backend:?}: an event storm left {} events",
            events.len()
        );

        // Within the limits the same calls work.
        let (s, body) = host
            .call(
                "hostile",
                Some(t),
                IFACE,
                "write-then-log",
                json!({"key": "log-ok", "lines": 3}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let (s, body) = host
            .call("hostile", Some(t), IFACE, "huge", json!({"bytes": 1000}))
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");

        // The key quota counts keys across calls.
        for i in 0..40 {
            let (s, body) = host
                .call(
                    "hostile",
                    Some(t),
                    IFACE,
                    "write-then-ok",
                    json!({"key": format!("q{i}")}),
                )
                .await;
            assert_eq!(s, StatusCode::OK, "{backend:?} key {i}: {body}");
        }
        let mut refused = 0;
        for i in 40..60 {
            let (s, body) = host
                .call(
                    "hostile",
                    Some(t),
                    IFACE,
                    "write-then-ok",
                    json!({"key": format!("q{i}")}),
                )
                .await;
            if s == s507 {
                assert_eq!(body["error"]["code"], "store-quota");
                refused += 1;
            }
        }
        assert!(refused > 0, "{backend:?}: the key quota never applied");
        let rows = coophost::store::dump(&host.app.db, coop.id, "test-misbehave")
            .await
            .unwrap();
        assert_eq!(
            rows.len(),
            50,
            "{backend:?}: exactly the quota of keys is kept"
        );

        // Limit hits are counted in /metrics.
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
        for limit in [
            "deadline",
            "memory",
            "log_volume",
            "host_calls",
            "result_size",
            "store_quota",
        ] {
            assert!(
                text.contains(&format!("limit=\"{limit}\"")),
                "{limit} not counted:\n{text}"
            );
        }
        Arc::try_unwrap(host)
            .ok()
            .expect("sole owner")
            .finish()
            .await;
    }
}

#[tokio::test]
async fn limits_can_be_overridden_per_plugin() {
    for backend in backends().await {
        limits_override(backend).await;
    }
}

async fn limits_override(backend: Backend) {
    let (host, token) = hostile_host(backend).await;
    let coop = host.coop("other").await;
    drop(coop);
    let admin = {
        let coop = coophost::identity::find_coop(&host.app.db, "hostile")
            .await
            .unwrap();
        host.member(&coop, "admin@hostile.coop", &["admin"]).await
    };
    let (s, body) = host
        .request(
            Method::PUT,
            "/v1/coops/hostile/plugins/test-misbehave/limits",
            Some(&admin),
            Some(json!({"log_bytes": 1 << 20})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["limits"]["log_bytes"], 1 << 20);
    let (s, body) = host
        .call(
            "hostile",
            Some(&token),
            IFACE,
            "write-then-log",
            json!({"key": "now-fine", "lines": 100}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, body) = host
        .request(
            Method::PUT,
            "/v1/coops/hostile/plugins/test-misbehave/limits",
            Some(&admin),
            Some(json!({"cpu": 1})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (s, _) = host
        .request(
            Method::PUT,
            "/v1/coops/hostile/plugins/test-misbehave/limits",
            Some(&token),
            Some(json!({})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    Arc::try_unwrap(host)
        .ok()
        .expect("sole owner")
        .finish()
        .await;
}

#[tokio::test]
async fn ungranted_imports_are_refused_or_stubbed() {
    for backend in backends().await {
        ungranted(backend).await;
    }
}

async fn ungranted(backend: Backend) {
    let host = TestHost::new(backend).await;
    let coop = host.coop("grants").await;
    let (bytes, manifest) = component("test-misbehave");
    let refuse = Grants::Only {
        interfaces: vec!["store".into(), "log".into()],
        ungranted: Ungranted::Refuse,
    };
    let err = coophost::plugins::install(
        &host.app,
        &coop,
        &bytes,
        &manifest,
        &coophost::plugins::InstallOptions {
            grants: refuse,
            ..Default::default()
        },
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("did not grant") && err.contains("events"),
        "{err}"
    );
    let stub = Grants::Only {
        interfaces: vec!["store".into(), "log".into()],
        ungranted: Ungranted::Stub,
    };
    coophost::plugins::install(
        &host.app,
        &coop,
        &bytes,
        &manifest,
        &coophost::plugins::InstallOptions {
            grants: stub,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let token = host
        .member(&coop, "m@grants.coop", &["member", "admin"])
        .await;
    let (s, body) = host
        .call(
            "grants",
            Some(&token),
            IFACE,
            "emit",
            json!({"topic": "x", "trap": false}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("coop:host/events"),
        "{body}"
    );
    let (s, body) = host
        .call(
            "grants",
            Some(&token),
            IFACE,
            "write-then-ok",
            json!({"key": "k"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "granted interfaces still work: {body}");
    let (_, body) = host
        .request(
            Method::GET,
            "/v1/coops/grants/plugins/test-misbehave",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(
        body["capabilities"]["granted"],
        json!(["log", "store"]),
        "{body}"
    );
    assert_eq!(
        body["capabilities"]["requested"],
        json!([
            "events",
            "identity",
            "log",
            "membership",
            "moderation",
            "payments",
            "shifts",
            "store",
            "timers"
        ]),
        "{body}"
    );
    host.finish().await;
}

#[tokio::test]
async fn plugins_cannot_reach_other_coops_or_plugins() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let a = host.coop("iso-a").await;
        let b = host.coop("iso-b").await;
        host.install(&a, "test-misbehave").await;
        host.install(&b, "test-misbehave").await;
        host.install(&a, "shift-board-rs").await;
        let ta = host.member(&a, "m@a.coop", &["member", "admin"]).await;
        let tb = host.member(&b, "m@b.coop", &["member"]).await;
        let (s, _) = host
            .call(
                "iso-a",
                Some(&ta),
                IFACE,
                "write-then-ok",
                json!({"key": "secret"}),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        let (_, body) = host
            .call("iso-b", Some(&tb), IFACE, "read", json!({"key": "secret"}))
            .await;
        assert_eq!(
            body["result"],
            json!({"ok": null}),
            "{backend:?}: coop B read coop A's data"
        );
        // The shift board's counter lives in its own namespace.
        let (s, _) = host
            .call(
                "iso-a",
                Some(&ta),
                "coop:examples/shift-board",
                "post-shift",
                json!({"shift": {"title": "t", "starts-at": "1", "ends-at": "2"}}),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        for key in [
            "seq",
            "shift/s-000001",
            "../shift-board-rs/seq",
            "shift-board-rs/seq",
        ] {
            let (_, body) = host
                .call("iso-a", Some(&ta), IFACE, "read", json!({"key": key}))
                .await;
            assert_eq!(
                body["result"],
                json!({"ok": null}),
                "{backend:?}: reached another plugin's {key}"
            );
        }
        host.finish().await;
    }
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// A thousand attacks in a row: the host's memory levels off.
///
/// Resident memory is per process and the other tests run in this one, so
/// the attacks run in a child process of this test binary, alone.
#[test]
fn a_thousand_attacks_do_not_grow_host_memory() {
    if std::env::var("COOPHOST_ATTACK_CHILD").is_ok() {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
            .block_on(thousand_attacks());
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "hostile::a_thousand_attacks_do_not_grow_host_memory",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("COOPHOST_ATTACK_CHILD", "1")
        .output()
        .expect("spawn the test binary");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "child failed:\n{text}");
    assert!(text.contains("1 passed"), "the child ran no test:\n{text}");
}

async fn thousand_attacks() {
    let (host, token) = hostile_host(Backend::Sqlite).await;
    let attacks = [
        ("write-then-trap", json!({"key": "a"})),
        ("write-then-recurse", json!({"key": "b"})),
        ("write-then-grow", json!({"key": "c"})),
        ("huge", json!({"bytes": 1 << 20})),
        ("write-then-log", json!({"key": "d", "lines": 100})),
        ("write-then-read-many", json!({"key": "e", "n": 1000})),
    ];
    let mut baseline = 0;
    for i in 0..1000 {
        if i == 200 {
            baseline = rss_bytes();
        }
        let (func, args) = &attacks[i % attacks.len()];
        let (s, body) = host
            .call("hostile", Some(&token), IFACE, func, args.clone())
            .await;
        assert!(s.is_server_error(), "{func}: {s} {body}");
    }
    let end = rss_bytes();
    let growth = end.saturating_sub(baseline);
    eprintln!(
        "resident memory after 200 attacks: {} MiB; after 1000: {} MiB",
        baseline >> 20,
        end >> 20
    );
    assert!(
        growth < 48 << 20,
        "host memory grew by {} MiB over 800 attacks ({} -> {} MiB)",
        growth >> 20,
        baseline >> 20,
        end >> 20
    );
    Arc::try_unwrap(host)
        .ok()
        .expect("sole owner")
        .finish()
        .await;
}
