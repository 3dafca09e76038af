//! Issue 16, item 13d: `/metrics` and `/openapi.json` reveal no coop and
//! no plugin to outsiders. Metrics are for the host operator or a scraper
//! with the metrics token; the public OpenAPI has the host's routes only;
//! each coop's members read their coop's own document.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::common::{TestHost, backends};

/// The metrics token tests configure (`serve --metrics-token`).
pub const METRICS_TOKEN: &str = "test-metrics-token-0123456789abcdef";

#[tokio::test]
async fn metrics_and_openapi_name_no_coop_to_outsiders() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let coop = host.coop("hidden-coop").await;
        host.install(&coop, "shift-board-rs").await;
        let ana = host
            .member(&coop, "ana@hidden.coop", &["member", "worker"])
            .await;
        let other = host.coop("elsewhere").await;
        let bob = host
            .member(&other, "bob@elsewhere.coop", &["admin", "member"])
            .await;
        let (s, body) = host
            .call(
                "hidden-coop",
                Some(&ana),
                "coop:examples/shift-board",
                "list-shifts",
                json!({}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");

        // /metrics: refused to nobody, members and a wrong token.
        let (s, body) = host.request(Method::GET, "/metrics", None, None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{backend:?}: {body}");
        assert!(!body.to_string().contains("hidden-coop"), "{body}");
        let (s, body) = host
            .request(Method::GET, "/metrics", Some(&ana), None)
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{backend:?}: {body}");
        let (s, _) = host
            .request(Method::GET, "/metrics", Some(METRICS_TOKEN), None)
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "no token is configured yet");
        // The operator's login, and Prometheus with the token, read them.
        let op = host.operator("op@host.example").await;
        host.app.set_metrics_token(Some(METRICS_TOKEN));
        for token in [op.as_str(), METRICS_TOKEN] {
            let (s, body) = host
                .request(Method::GET, "/metrics", Some(token), None)
                .await;
            assert_eq!(s, StatusCode::OK, "{backend:?}: {body}");
            assert!(
                body.as_str().unwrap().contains("coop=\"hidden-coop\""),
                "{body}"
            );
        }
        let (s, _) = host
            .request(Method::GET, "/metrics", Some("not-the-token"), None)
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);

        // The public OpenAPI: host routes only, no coop, no plugin.
        let (s, doc) = host.request(Method::GET, "/openapi.json", None, None).await;
        assert_eq!(s, StatusCode::OK);
        let text = doc.to_string();
        for secret in ["hidden-coop", "shift-board", "coop:examples"] {
            assert!(!text.contains(secret), "{backend:?}: {secret} in {text}");
        }
        assert!(doc["paths"]["/v1/coops/{coop}/openapi.json"]["get"].is_object());

        // The coop's own document: its members only.
        let url = "/v1/coops/hidden-coop/openapi.json";
        let (s, _) = host.request(Method::GET, url, None, None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        let (s, _) = host.request(Method::GET, url, Some(&bob), None).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, doc) = host.request(Method::GET, url, Some(&ana), None).await;
        assert_eq!(s, StatusCode::OK, "{doc}");
        assert!(
            doc["paths"]["/v1/coops/{coop}/call/coop:examples/shift-board/list-shifts"]["post"]
                .is_object(),
            "{doc}"
        );
        // Another coop's document does not list this coop's interfaces.
        let (s, doc) = host
            .request(
                Method::GET,
                "/v1/coops/elsewhere/openapi.json",
                Some(&bob),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        assert!(!doc.to_string().contains("shift-board"), "{doc}");
        host.finish().await;
    }
}
