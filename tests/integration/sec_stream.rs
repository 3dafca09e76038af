//! Issue 16, item 13b: the live notification stream ends when its session
//! is logged out or expires, or its member stops being active: checked
//! before anything new is delivered and every `STREAM_RECHECK_MS`.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::json;
use tower::ServiceExt;

use crate::common::{TestHost, backends};
use crate::sec_members::{member_id, suspend};

/// A guard against a stream that never ends (the bug): far longer than
/// the host's inbox poll, never reached when the stream behaves.
const NEVER: Duration = Duration::from_secs(60);

async fn open_stream(host: &TestHost, token: &str) -> Body {
    let req = Request::builder()
        .method(Method::GET)
        .uri("/v1/coops/live/notifications/stream")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let resp = coophost::api::router(host.app.clone())
        .oneshot(req)
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    resp.into_body()
}

/// The next notification's text, or `None` once the stream has ended.
async fn next_event(body: &mut Body) -> Option<String> {
    loop {
        let frame = tokio::time::timeout(NEVER, body.frame())
            .await
            .expect("the stream neither sent nor ended")?
            .expect("stream error");
        if let Ok(data) = frame.into_data() {
            let text = String::from_utf8_lossy(&data).into_owned();
            if text.contains("event: notification") {
                return Some(text);
            }
        }
    }
}

async fn propose(host: &TestHost, admin: &str, title: &str) {
    let (s, body) = host
        .request(
            Method::POST,
            "/v1/coops/live/proposals",
            Some(admin),
            Some(json!({"title": title, "change": {"kind": "resolution"}})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
}

#[tokio::test]
async fn the_notification_stream_ends_with_its_session_or_membership() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let coop = host.coop("live").await;
        let admin = host
            .member(&coop, "admin@live.coop", &["admin", "member"])
            .await;
        let ana = host.member(&coop, "ana@live.coop", &["member"]).await;

        // Logged out: the next notification is not delivered; the stream ends.
        let mut stream = open_stream(&host, &ana).await;
        propose(&host, &admin, "First").await;
        let first = next_event(&mut stream).await.expect("a notification");
        assert!(first.contains("First"), "{first}");
        let (s, _) = host
            .request(Method::POST, "/v1/auth/logout", Some(&ana), None)
            .await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        propose(&host, &admin, "Second, after logout").await;
        assert_eq!(next_event(&mut stream).await, None, "{backend:?}");

        // Logged out with nothing new to say: the periodic check ends it.
        let ana = host.login("ana@live.coop").await;
        let mut stream = open_stream(&host, &ana).await;
        let (s, _) = host
            .request(Method::POST, "/v1/auth/logout", Some(&ana), None)
            .await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        host.clock.advance(coophost::api::STREAM_RECHECK_MS);
        assert_eq!(next_event(&mut stream).await, None, "{backend:?}");

        // Suspended while listening: the notice of the suspension itself is
        // the last thing the stream would carry, and it is not carried.
        let ana = host.login("ana@live.coop").await;
        let mut stream = open_stream(&host, &ana).await;
        suspend(
            &host,
            "live",
            &admin,
            member_id(&host, coop.id, "ana@live.coop").await,
        )
        .await;
        assert_eq!(next_event(&mut stream).await, None, "{backend:?}");
        host.finish().await;
    }
}
