//! Issue 16, item 9: uploads are authorised before their body is read,
//! staging is for admins, each coop has a staging quota, and staged
//! components nobody uses are removed after the retention period.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use coophost::plugins::staging;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::common::{TestHost, backends};
use crate::sec_members::{member_id, suspend};

const DAY: i64 = 24 * 3_600_000;

/// A body that records whether anyone read it, and fails if they do.
fn tripwire() -> (Body, Arc<AtomicBool>) {
    let polled = Arc::new(AtomicBool::new(false));
    let flag = polled.clone();
    let stream = futures_util::stream::poll_fn(move |_| {
        flag.store(true, Ordering::SeqCst);
        Poll::Ready(Some(Err::<axum::body::Bytes, _>(std::io::Error::other(
            "the body was read",
        ))))
    });
    (Body::from_stream(stream), polled)
}

async fn send(host: &TestHost, req: Request<Body>) -> (StatusCode, Value) {
    let resp = coophost::api::router(host.app.clone())
        .oneshot(req)
        .await
        .unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into())),
    )
}

/// POST `body` to the API's staging route as `token`.
async fn stage_body(
    host: &TestHost,
    slug: &str,
    token: Option<&str>,
    body: Body,
    length: Option<u64>,
) -> (StatusCode, Value) {
    let mut req = Request::builder()
        .method(Method::POST)
        .uri(format!("/v1/coops/{slug}/components"))
        .header(header::CONTENT_TYPE, "application/wasm");
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    if let Some(l) = length {
        req = req.header(header::CONTENT_LENGTH, l);
    }
    send(host, req.body(body).unwrap()).await
}

/// The smallest component, made distinct by a custom section named `tag`.
fn tiny_component(tag: &str) -> Vec<u8> {
    let mut bytes = b"\0asm\x0d\x00\x01\x00".to_vec();
    let payload_len = 1 + tag.len();
    assert!(payload_len < 128 && tag.len() < 128);
    bytes.push(0); // custom section
    bytes.push(payload_len as u8);
    bytes.push(tag.len() as u8);
    bytes.extend_from_slice(tag.as_bytes());
    bytes
}

#[tokio::test]
async fn uploads_are_refused_before_their_body_is_read() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let coop = host.coop("up").await;
        let admin = host
            .member(&coop, "admin@up.coop", &["admin", "member"])
            .await;
        let ana = host
            .member(&coop, "ana@up.coop", &["member", "worker"])
            .await;
        let eve = host
            .member(&coop, "eve@up.coop", &["admin", "member"])
            .await;
        suspend(
            &host,
            "up",
            &admin,
            member_id(&host, coop.id, "eve@up.coop").await,
        )
        .await;
        let (_, body) = host
            .request(
                Method::POST,
                "/v1/coops/up/api-keys",
                Some(&admin),
                Some(json!({"name": "reader", "role": "member"})),
            )
            .await;
        let key = body["api_key"]["key"].as_str().unwrap().to_string();

        // The API: a member, a suspended admin, a member API key and
        // nobody at all are refused without a byte being read, even when
        // they claim a body of 60 MiB.
        for (who, token, want) in [
            ("member", Some(ana.as_str()), StatusCode::FORBIDDEN),
            ("suspended admin", Some(eve.as_str()), StatusCode::FORBIDDEN),
            ("member key", Some(key.as_str()), StatusCode::FORBIDDEN),
            ("anonymous", None, StatusCode::UNAUTHORIZED),
        ] {
            let (body, polled) = tripwire();
            let (s, resp) = stage_body(&host, "up", token, body, Some(60 << 20)).await;
            assert_eq!(s, want, "{backend:?} {who}: {resp}");
            assert!(
                !polled.load(Ordering::SeqCst),
                "{backend:?} {who}: body read"
            );
        }

        // The web install form: a member's upload is not read either.
        let (body, polled) = tripwire();
        let req = Request::builder()
            .method(Method::POST)
            .uri("/c/up/plugins/install")
            .header(header::COOKIE, format!("coophost_session={ana}"))
            .header(header::ACCEPT, "text/html")
            .header(header::CONTENT_TYPE, "multipart/form-data; boundary=XyZ")
            .body(body)
            .unwrap();
        let (s, page) = send(&host, req).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{backend:?} web: {page}");
        assert!(!polled.load(Ordering::SeqCst), "{backend:?} web: body read");

        // An admin announcing more than a component may be is refused from
        // the header alone; the admin's real upload is read and staged.
        let (body, polled) = tripwire();
        let (s, resp) = stage_body(&host, "up", Some(&admin), body, Some(65 << 20)).await;
        assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{backend:?}: {resp}");
        assert_eq!(resp["error"]["code"], "too-large", "{resp}");
        assert!(!polled.load(Ordering::SeqCst), "{backend:?}: body read");
        let (s, resp) = stage_body(
            &host,
            "up",
            Some(&admin),
            Body::from(tiny_component("a")),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{backend:?}: {resp}");
        host.finish().await;
    }
}

#[tokio::test]
async fn staging_has_a_quota_per_coop_and_unused_components_expire() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let coop = host.coop("quota").await;
        let other = host.coop("other").await;
        host.install(&coop, "shift-board-rs").await;
        let admin = host
            .member(&coop, "admin@quota.coop", &["admin", "member"])
            .await;
        let other_admin = host
            .member(&other, "admin@other.coop", &["admin", "member"])
            .await;

        let mut shas = Vec::new();
        for i in 0..staging::MAX_STAGED_PER_COOP {
            let (s, resp) = stage_body(
                &host,
                "quota",
                Some(&admin),
                Body::from(tiny_component(&format!("c{i}"))),
                None,
            )
            .await;
            assert_eq!(s, StatusCode::CREATED, "{backend:?} {i}: {resp}");
            shas.push(resp["sha256"].as_str().unwrap().to_string());
            if i == 0 {
                // Staging one again takes no more room.
                let (s, resp) = stage_body(
                    &host,
                    "quota",
                    Some(&admin),
                    Body::from(tiny_component("c0")),
                    None,
                )
                .await;
                assert_eq!(s, StatusCode::CREATED, "{backend:?}: {resp}");
            }
        }
        // Full: the next upload is refused before it is read.
        let (body, polled) = tripwire();
        let (s, resp) = stage_body(&host, "quota", Some(&admin), body, Some(100)).await;
        assert_eq!(s, StatusCode::CONFLICT, "{backend:?}: {resp}");
        assert_eq!(resp["error"]["code"], "staged-count-quota", "{resp}");
        assert!(!polled.load(Ordering::SeqCst), "refused before reading");
        // The quota is per coop: the other coop stages freely.
        let (s, resp) = stage_body(
            &host,
            "other",
            Some(&other_admin),
            Body::from(tiny_component("c1")),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{backend:?}: {resp}");

        // A proposal names shas[0] for a month; the rest are unused.
        let (_, manifest) = crate::common::component("shift-board-rs");
        let propose = |slug: &'static str, token: String, sha: String| {
            let manifest = manifest.clone();
            let host = &host;
            async move {
                host.request(
                    Method::POST,
                    &format!("/v1/coops/{slug}/proposals"),
                    Some(&token),
                    Some(json!({"title": "Try it", "window_hours": 24 * 30,
                        "change": {"kind": "install-plugin", "sha256": sha, "manifest": manifest}})),
                )
                .await
            }
        };
        let (s, resp) = propose("quota", admin.clone(), shas[0].clone()).await;
        assert_eq!(s, StatusCode::CREATED, "{backend:?}: {resp}");
        // Another coop cannot name a component it did not stage.
        let (s, resp) = propose("other", other_admin.clone(), shas[2].clone()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{backend:?}: {resp}");

        host.clock.advance(8 * DAY);
        host.app.run_jobs_once("test-host").await.unwrap();
        let usage = staging::usage(&host.app.db, coop.id).await.unwrap();
        assert_eq!(usage.count, 1, "{backend:?}: only the proposed one stays");
        assert!(
            staging::available_to(&host.app.db, coop.id, &shas[0])
                .await
                .unwrap()
        );
        assert!(
            !staging::available_to(&host.app.db, coop.id, &shas[2])
                .await
                .unwrap()
        );
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM components")
            .fetch_one(&host.app.db.pool)
            .await
            .unwrap();
        // The proposed one and the installed shift board; the other
        // coop's unused c1 expired too.
        assert_eq!(left, 2, "{backend:?}");
        let admin = host.login("admin@quota.coop").await;
        let (s, resp) = propose("quota", admin, shas[2].clone()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{backend:?}: {resp}");
        host.finish().await;
    }
}
