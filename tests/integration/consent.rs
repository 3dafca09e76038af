//! Personal-data categories and consent: a plugin cannot store a record in
//! a consent category about a member who has not consented, the record is
//! invisible once consent is withdrawn, location data about a worker is
//! refused outside their shift, and categories article 7 of the Platform
//! Work Directive forbids cannot be declared.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{TestHost, backends, component};

const IFACE: &str = "coop:test-misbehave/misbehave";

fn message(b: &Value) -> String {
    b["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn consent_gates_personal_data_and_article_7_categories_are_refused() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let coop = host.coop("data").await;
        host.install(&coop, "test-misbehave").await;
        let worker = host
            .member(&coop, "w@data.coop", &["worker", "member"])
            .await;
        let (_, who) = host
            .call("data", Some(&worker), IFACE, "whoami", json!({}))
            .await;
        let me = who["result"]["ok"].as_str().unwrap().to_string();
        let write = |key: &'static str| {
            let (host, worker, me) = (&host, worker.clone(), me.clone());
            async move {
                host.call(
                    "data",
                    Some(&worker),
                    IFACE,
                    "write-for",
                    json!({"key": key, "member": me}),
                )
                .await
            }
        };
        let read = |key: &'static str| {
            let (host, worker) = (&host, worker.clone());
            async move {
                let (s, b) = host
                    .call("data", Some(&worker), IFACE, "read", json!({"key": key}))
                    .await;
                assert_eq!(s, StatusCode::OK, "{b}");
                b["result"]["ok"].clone()
            }
        };
        let consent = |category: &'static str, given: Value| {
            let (host, worker) = (&host, worker.clone());
            async move {
                host.request(
                    Method::PUT,
                    &format!("/v1/coops/data/me/consents/test-misbehave/{category}"),
                    Some(&worker),
                    Some(json!({"given": given})),
                )
                .await
            }
        };

        // Members see what each plugin handles and why.
        let (s, b) = host
            .request(
                Method::GET,
                "/v1/coops/data/me/consents",
                Some(&worker),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let cats = b["categories"].as_array().unwrap();
        let health = cats.iter().find(|c| c["category"] == "health").unwrap();
        assert_eq!(
            (health["needs_consent"].clone(), health["given"].clone()),
            (json!(true), json!(false))
        );
        let location = cats.iter().find(|c| c["category"] == "location").unwrap();
        assert_eq!(
            (location["basis"].clone(), location["given"].clone()),
            (json!("contract"), Value::Null)
        );

        // No consent: the record cannot be written, and nothing is kept.
        let (s, b) = write("health/1").await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
        assert!(
            message(&b).contains("has not consented to health data for test-misbehave"),
            "{b}"
        );
        assert_eq!(read("health/1").await, Value::Null);

        // Given: written and readable. Withdrawn: invisible, not writable.
        let (s, b) = consent("health", json!(true)).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let (s, b) = write("health/1").await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(read("health/1").await, json!("ok"));
        let (s, _) = consent("health", json!(false)).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(
            read("health/1").await,
            Value::Null,
            "withdrawn consent hides the record"
        );
        let (s, _) = write("health/2").await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (_, b) = host
            .request(
                Method::GET,
                "/v1/coops/data/me/consents",
                Some(&worker),
                None,
            )
            .await;
        let history: Vec<bool> = b["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["given"].as_bool().unwrap())
            .collect();
        assert_eq!(history, [false, true], "newest first");

        // Bad requests say what is wrong.
        let (s, b) = consent("location", json!(true)).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        assert!(message(&b).contains("not consent"), "{b}");
        let (s, b) = consent("mood", json!(true)).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
        let (s, b) = consent("health", json!("yes")).await;
        assert!(s.is_client_error(), "{b}");

        // Location about a worker: only during their open shift.
        let (s, b) = write("loc/1").await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
        assert!(message(&b).contains("outside their open shift"), "{b}");
        let (s, b) = host
            .request(
                Method::POST,
                "/v1/coops/data/shifts/start",
                Some(&worker),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        let (s, b) = write("loc/1").await;
        assert_eq!(s, StatusCode::OK, "{b}");

        // Data the host holds: a plugin that declares work activity on the
        // basis of consent is not told a member's shift without it.
        let (bytes, manifest) = component("test-misbehave");
        let strict = host.coop("data3").await;
        let consented = format!(
            "{manifest}\n[data.work-activity]\npurpose = \"Show a worker their own shift\"\nbasis = \"consent\"\n"
        );
        coophost::plugins::install(&host.app, &strict, &bytes, &consented, &Default::default())
            .await
            .unwrap();
        let w3 = host
            .member(&strict, "w@data3.coop", &["worker", "member"])
            .await;
        let (s, b) = host
            .call("data3", Some(&w3), IFACE, "my-shift", json!({}))
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
        assert!(
            message(&b).contains("has not consented to work-activity data"),
            "{b}"
        );
        let (s, b) = host
            .request(
                Method::PUT,
                "/v1/coops/data3/me/consents/test-misbehave/work-activity",
                Some(&w3),
                Some(json!({"given": true})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let (s, b) = host
            .call("data3", Some(&w3), IFACE, "my-shift", json!({}))
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");

        // Article 7: some categories cannot be declared at all.
        let other = host.coop("data2").await;
        for (category, needle) in [
            ("emotional-state", "emotional or psychological state"),
            ("private-conversations", "private conversations"),
            ("biometric-identification", "biometric data"),
        ] {
            let bad = format!(
                "{manifest}\n[data.{category}]\npurpose = \"Anything at all, really\"\nbasis = \"consent\"\n"
            );
            let e =
                coophost::plugins::install(&host.app, &other, &bytes, &bad, &Default::default())
                    .await
                    .unwrap_err()
                    .to_string();
            assert!(e.contains("article 7") && e.contains(needle), "{e}");
        }
        host.finish().await;
    }
}
