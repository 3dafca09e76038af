//! Issue 16, runtime holes: host memory one call (or all calls together)
//! can make the host hold; a plugin's `err` bounded and sent once; a
//! SQLite snapshot conflict at commit re-run instead of a 500; every
//! capability grantable (bike delivery with exactly what it needs).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use coophost::plugins::{Grants, Ungranted};
use coophost::runtime::Limits;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::common::{Backend, TestHost, backends, component};

const HOG: &str = "coop:test-hog/hog";
const MIB: u64 = 1 << 20;

/// Limits where a call may hold 4 MiB and the store is large enough that
/// only `call_bytes` can stop the attacks.
fn hog_limits() -> Limits {
    Limits {
        deadline_ms: 3_000,
        call_bytes: 4 * MIB,
        store_bytes: 256 * MIB,
        ..Limits::default()
    }
}

async fn hog_host(backend: Backend, limits: Limits) -> (Arc<TestHost>, String) {
    let mut host = TestHost::new(backend).await;
    Arc::get_mut(&mut host.app).expect("fresh app").limits = limits;
    let coop = host.coop("hog").await;
    host.install(&coop, "test-hog").await;
    let token = host.member(&coop, "m@hog.coop", &["member"]).await;
    (Arc::new(host), token)
}

async fn hog(host: &TestHost, token: &str, function: &str, args: Value) -> (StatusCode, Value) {
    host.call("hog", Some(token), HOG, function, args).await
}

/// A call through the router with the response's headers.
async fn call_with_headers(
    host: &TestHost,
    token: &str,
    function: &str,
    args: Value,
) -> (StatusCode, HeaderMap, Value) {
    let req = Request::builder()
        .method(Method::POST)
        .uri(format!("/v1/coops/hog/call/{HOG}/{function}"))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Body::from(args.to_string()))
        .unwrap();
    let resp = coophost::api::router(host.app.clone())
        .oneshot(req)
        .await
        .unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, headers, serde_json::from_slice(&bytes).unwrap())
}

async fn finish(host: Arc<TestHost>) {
    Arc::try_unwrap(host)
        .ok()
        .expect("sole owner")
        .finish()
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_call_cannot_make_the_host_hold_unbounded_memory() {
    for backend in backends().await {
        let (host, t) = hog_host(backend, hog_limits()).await;
        let budget = host.app.call_memory.clone();

        // Looping over 1 MiB writes stops at the call's 4 MiB, long before
        // the store quota (256 MiB) would be checked at commit.
        let bystander = {
            let (host, t) = (host.clone(), t.clone());
            tokio::spawn(async move {
                hog(
                    &host,
                    &t,
                    "fill",
                    json!({"prefix": "by/", "count": 1, "bytes": 10}),
                )
                .await
            })
        };
        let (s, body) = hog(
            &host,
            &t,
            "fill",
            json!({"prefix": "big/", "count": 100, "bytes": MIB}),
        )
        .await;
        assert_eq!(s, StatusCode::INSUFFICIENT_STORAGE, "{backend:?}: {body}");
        assert_eq!(body["error"]["code"], "call-memory-limit", "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("call_bytes"),
            "{body}"
        );
        let (bs, bbody) = bystander.await.unwrap();
        assert_eq!(bs, StatusCode::OK, "the bystander failed: {bbody}");
        let (s, body) = hog(&host, &t, "scan-all", json!({"prefix": "big/"})).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert_eq!(
            body["result"]["ok"],
            json!("0"),
            "the refused call left data"
        );

        // Values stored by calls within the limit (3 MiB each, 12 MiB in
        // all) cannot be read back by one scan.
        for part in 0..4 {
            let (s, body) = hog(
                &host,
                &t,
                "fill",
                json!({"prefix": format!("seed/{part}-"), "count": 3, "bytes": MIB}),
            )
            .await;
            assert_eq!(s, StatusCode::OK, "{backend:?} seed {part}: {body}");
        }
        let (s, body) = hog(&host, &t, "scan-all", json!({"prefix": "seed/"})).await;
        assert_eq!(s, StatusCode::INSUFFICIENT_STORAGE, "{backend:?}: {body}");
        assert_eq!(body["error"]["code"], "call-memory-limit", "{body}");
        // A scan within the limit works.
        let (s, body) = hog(&host, &t, "scan-all", json!({"prefix": "seed/0-"})).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert_eq!(body["result"]["ok"], json!((3 * MIB).to_string()));

        // The host's own accounting: nothing held once the calls ended,
        // and never more than one call's limit plus the bystander's bytes.
        assert_eq!(budget.in_use(), 0, "{backend:?}: bytes still held");
        assert!(
            budget.peak() <= 4 * MIB + 1024,
            "{backend:?}: the host held {} bytes for calls",
            budget.peak()
        );
        host.app
            .set_metrics_token(Some(crate::sec_exposure::METRICS_TOKEN));
        let (_, text) = host
            .request(
                Method::GET,
                "/metrics",
                Some(crate::sec_exposure::METRICS_TOKEN),
                None,
            )
            .await;
        assert!(
            text.as_str().unwrap().contains("limit=\"call_bytes\""),
            "call_bytes hits are not counted"
        );
        finish(host).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_in_flight_together_stay_within_the_host_budget() {
    for backend in backends().await {
        let limits = Limits {
            deadline_ms: 1_500,
            ..hog_limits()
        };
        let (host, t) = hog_host(backend, limits).await;
        let budget = host.app.call_memory.clone();
        budget.set_limit(6 * MIB);
        // One coop alone here: its share is the whole budget.
        budget.set_coop_percent(100);

        // A holds 3 MiB until its deadline...
        let holder = {
            let (host, t) = (host.clone(), t.clone());
            tokio::spawn(async move {
                hog(
                    &host,
                    &t,
                    "fill-then-spin",
                    json!({"prefix": "a/", "count": 3, "bytes": MIB}),
                )
                .await
            })
        };
        let mut waited = 0;
        while budget.in_use() < 3 * MIB {
            assert!(waited < 1_000, "{backend:?}: the holder never held 3 MiB");
            waited += 1;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // ...so B, which needs 3.6 MiB, finds the host full: a retryable 503.
        let b_args = json!({"prefix": "b/", "count": 4, "bytes": 900 << 10});
        let (s, headers, body) = call_with_headers(&host, &t, "fill", b_args.clone()).await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{backend:?}: {body}");
        assert_eq!(body["error"]["code"], "host-memory-busy", "{body}");
        assert_eq!(headers["retry-after"], "1");
        let (s, body) = holder.await.unwrap();
        assert_eq!(s, StatusCode::GATEWAY_TIMEOUT, "{body}");
        // Whatever the outcome, what a call held goes back.
        assert_eq!(budget.in_use(), 0, "{backend:?}: bytes still held");
        let (s, body) = hog(&host, &t, "fill", b_args).await;
        assert_eq!(s, StatusCode::OK, "{backend:?}: {body}");
        assert!(budget.peak() <= 6 * MIB, "peak {}", budget.peak());
        assert!(budget.refused() >= 1);
        assert_eq!(budget.in_use(), 0);
        finish(host).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_coop_cannot_take_all_of_the_hosts_call_memory() {
    for backend in backends().await {
        let limits = Limits {
            deadline_ms: 1_500,
            ..hog_limits()
        };
        let (host, t) = hog_host(backend, limits).await;
        let other = host.coop("hog2").await;
        host.install(&other, "test-hog").await;
        let t2 = host.member(&other, "m@hog2.coop", &["member"]).await;
        let budget = host.app.call_memory.clone();
        // 8 MiB for the host, half of it at most for one coop (the default).
        budget.set_limit(8 * MIB);
        assert_eq!(budget.coop_limit(), 4 * MIB);
        let hog_id = coophost::identity::find_coop(&host.app.db, "hog")
            .await
            .unwrap()
            .id;

        // Coop hog holds 3 MiB until its deadline...
        let holder = {
            let (host, t) = (host.clone(), t.clone());
            tokio::spawn(async move {
                hog(
                    &host,
                    &t,
                    "fill-then-spin",
                    json!({"prefix": "a/", "count": 3, "bytes": MIB}),
                )
                .await
            })
        };
        let mut waited = 0;
        while budget.coop_in_use(hog_id) < 3 * MIB {
            assert!(waited < 1_000, "{backend:?}: the holder never held 3 MiB");
            waited += 1;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // ...so its next 2 MiB pass its share although the host has room:
        // the same retryable 503.
        let (s, headers, body) = call_with_headers(
            &host,
            &t,
            "fill",
            json!({"prefix": "b/", "count": 2, "bytes": MIB}),
        )
        .await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{backend:?}: {body}");
        assert_eq!(body["error"]["code"], "host-memory-busy", "{body}");
        assert_eq!(headers["retry-after"], "1");
        assert!(budget.in_use() + 2 * MIB < budget.limit());
        // Another coop still gets its share meanwhile.
        let (s, body) = host
            .call(
                "hog2",
                Some(&t2),
                HOG,
                "fill",
                json!({"prefix": "c/", "count": 3, "bytes": MIB}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{backend:?}: {body}");
        let (s, body) = holder.await.unwrap();
        assert_eq!(s, StatusCode::GATEWAY_TIMEOUT, "{body}");
        assert_eq!(budget.in_use(), 0, "{backend:?}: bytes still held");
        assert_eq!(budget.coop_in_use(hog_id), 0);
        finish(host).await;
    }
}

#[tokio::test]
async fn a_plugin_err_is_bounded_and_sent_once() {
    for backend in backends().await {
        let limits = Limits {
            result_bytes: 64 << 10,
            ..Limits::default()
        };
        let (host, t) = hog_host(backend, limits).await;
        // An err past result_bytes is refused like an ok would be.
        let (s, body) = hog(&host, &t, "huge-err", json!({"bytes": MIB})).await;
        assert_eq!(
            s,
            StatusCode::BAD_GATEWAY,
            "{backend:?}: {}",
            &body.to_string()[..200.min(body.to_string().len())]
        );
        assert_eq!(body["error"]["code"], "result-too-large");
        assert!(body.to_string().len() < 1024, "the refusal carries the err");
        // Within the limit: the text once, as the message; the detail only
        // says the case.
        let (s, body) = hog(&host, &t, "huge-err", json!({"bytes": 1000})).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"]["message"], json!("e".repeat(1000)));
        assert_eq!(body["error"]["detail"], json!({"tag": "invalid"}));
        let text = body.to_string();
        assert!(
            text.len() < 1200,
            "the err text was sent more than once: {} bytes",
            text.len()
        );
        finish(host).await;
    }
}

/// A call whose only write is an event, committed after many reads, while
/// another connection keeps writing: on SQLite the commit's read snapshot
/// goes stale before its first write (SQLITE_BUSY_SNAPSHOT). The call is
/// re-run, never answered 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_snapshot_at_commit_is_retried_not_a_500() {
    for backend in backends().await {
        let (host, t) = hog_host(backend, Limits::default()).await;
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let (db, stop) = (host.app.db.clone(), stop.clone());
            tokio::spawn(async move {
                let mut n = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let mut tx = db.begin_write().await.expect("begin");
                    sqlx::query(
                        "INSERT INTO host_settings (name, value) VALUES ('test-writer', $1) \
                         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                    )
                    .bind(n.to_string())
                    .execute(&mut *tx)
                    .await
                    .expect("write");
                    tx.commit().await.expect("commit");
                    n += 1;
                    tokio::task::yield_now().await;
                }
                n
            })
        };
        let mut ok = 0;
        for i in 0..30 {
            let (s, body) = hog(&host, &t, "read-then-emit", json!({"n": 300})).await;
            assert!(
                s == StatusCode::OK || s == StatusCode::CONFLICT,
                "{backend:?} call {i}: {s} {body}"
            );
            ok += usize::from(s == StatusCode::OK);
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let writes = writer.await.unwrap();
        assert!(writes > 0, "the concurrent writer never wrote");
        assert!(ok > 0, "{backend:?}: no call committed");
        let coop = coophost::identity::find_coop(&host.app.db, "hog")
            .await
            .unwrap();
        let events = coophost::events::for_plugin(&host.app.db, coop.id, "test-hog")
            .await
            .unwrap();
        assert_eq!(
            events.len(),
            ok,
            "{backend:?}: each committed call left one event"
        );
        finish(host).await;
    }
}

/// Bike delivery imports `activity`; a coop granting exactly what it asks
/// for (and nothing more) can install it, through the library and through
/// a proposal naming the grants.
#[tokio::test]
async fn bike_delivery_installs_with_exactly_its_grants() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let coop = host.coop("velo").await;
        let (bytes, manifest) = component("bike-delivery");
        let inspection = host.app.engine.inspect(&bytes).unwrap();
        let needed = coophost::plugins::requested_capabilities(&inspection.imports);
        assert!(needed.contains(&"activity".to_string()), "{needed:?}");
        for g in &needed {
            assert!(
                coophost::runtime::GRANTABLE.contains(&g.as_str()),
                "{g} cannot be granted"
            );
        }
        let report = coophost::plugins::install(
            &host.app,
            &coop,
            &bytes,
            &manifest,
            &coophost::plugins::InstallOptions {
                grants: Grants::Only {
                    interfaces: needed.clone(),
                    ungranted: Ungranted::Refuse,
                },
                ..Default::default()
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{backend:?}: {e}"));
        let mut granted = report.plugin.grants.clone();
        granted.sort();
        assert_eq!(granted, needed);

        // The same through governance: a proposal naming activity is valid.
        let other = host.coop("velo2").await;
        let admin = host
            .member(&other, "a@velo2.coop", &["admin", "member"])
            .await;
        let req = Request::builder()
            .method(Method::POST)
            .uri("/v1/coops/velo2/components")
            .header("authorization", format!("Bearer {admin}"))
            .header("content-type", "application/wasm")
            .body(Body::from(bytes.clone()))
            .unwrap();
        let resp = coophost::api::router(host.app.clone())
            .oneshot(req)
            .await
            .unwrap();
        assert!(resp.status().is_success(), "staging: {}", resp.status());
        let change = json!({"kind": "install-plugin", "sha256": report.plugin.sha256,
            "manifest": manifest, "grants": needed});
        let (s, body) = host
            .request(
                Method::POST,
                "/v1/coops/velo2/proposals",
                Some(&admin),
                Some(json!({"title": "Bike delivery, least privilege", "change": change})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{backend:?}: {body}");
        host.finish().await;
    }
}

/// The operator sizes the host's budget for calls in flight; a budget of
/// nothing would refuse every call, so it is refused at start.
#[test]
fn serve_refuses_an_empty_call_memory_budget() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_coophost"))
        .args(["serve", "--call-memory-mib", "0"])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--call-memory-mib"), "{err}");
}

/// Events, log lines and timers a call buffers count against the same
/// per-call bytes as its store writes.
#[tokio::test]
async fn other_buffers_count_against_the_call() {
    for backend in backends().await {
        let mut host = TestHost::new(backend).await;
        Arc::get_mut(&mut host.app).expect("fresh app").limits = Limits {
            call_bytes: 8 << 10,
            ..Limits::default()
        };
        let coop = host.coop("buf").await;
        host.install(&coop, "test-misbehave").await;
        let t = host.member(&coop, "m@buf.coop", &["member"]).await;
        const IFACE: &str = "coop:test-misbehave/misbehave";
        for (function, args) in [
            ("emit-many", json!({"n": 100})),
            ("write-then-log", json!({"key": "log", "lines": 10})),
            ("timer-storm", json!({"n": 100})),
        ] {
            let (s, body) = host.call("buf", Some(&t), IFACE, function, args).await;
            assert_eq!(
                s,
                StatusCode::INSUFFICIENT_STORAGE,
                "{backend:?} {function}: {body}"
            );
            assert_eq!(
                body["error"]["code"], "call-memory-limit",
                "{function}: {body}"
            );
        }
        let events = coophost::events::for_plugin(&host.app.db, coop.id, "test-misbehave")
            .await
            .unwrap();
        assert!(events.is_empty(), "{backend:?}: a refused call left events");
        assert_eq!(host.app.call_memory.in_use(), 0);
        // Small calls still work.
        let (s, body) = host
            .call("buf", Some(&t), IFACE, "emit-many", json!({"n": 3}))
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        host.finish().await;
    }
}
