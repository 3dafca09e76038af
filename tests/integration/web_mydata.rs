//! My data through the pages: consents given and withdrawn, the export and
//! the credential downloaded, and a suspended member's appeal.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{TestHost, backends};
use crate::web::Browser;

async fn location_consent(host: &TestHost, token: &str) -> Value {
    let (status, body) = host
        .request(Method::GET, "/v1/coops/velo/me/consents", Some(token), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["categories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["plugin"] == "bike-delivery" && c["category"] == "location")
        .cloned()
        .expect("the location category")
}

#[tokio::test]
async fn a_member_gives_and_withdraws_a_consent_and_takes_their_data() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let coop = host.coop("velo").await;
        let admin = host.member(&coop, "admin@velo.coop", &["admin"]).await;
        let ana = host.member(&coop, "ana@velo.coop", &["worker"]).await;
        host.install(&coop, "bike-delivery").await;
        // Credentials name the host by its public URL.
        host.app.set_public_url("http://coops.test");

        let mut b = Browser::new(&host);
        b.login("ana@velo.coop").await;
        let page = b.get("/c/velo/data").await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(
            page.body.contains("location data, used by bike-delivery"),
            "{}",
            page.body
        );
        assert!(
            page.body
                .contains("Allow bike-delivery to use my location data")
        );
        // Contract-based categories offer no choice.
        assert!(
            page.body
                .contains("This use does not depend on your consent.")
        );

        // Give it, then withdraw it; the API agrees each time.
        let a = b
            .post(
                "/c/velo/data",
                "/c/velo/data/consent",
                &[
                    ("plugin", "bike-delivery"),
                    ("category", "location"),
                    ("given", "true"),
                ],
            )
            .await;
        assert_eq!(
            a.location.as_deref(),
            Some("/c/velo/data?done=given"),
            "{}",
            a.body
        );
        assert_eq!(location_consent(&host, &ana).await["given"], true);
        let page = b.get("/c/velo/data?done=given").await;
        assert!(page.body.contains("Your consent is recorded."));
        assert!(
            page.body
                .contains("Withdraw my consent for location data (bike-delivery)")
        );
        let a = b
            .post(
                "/c/velo/data",
                "/c/velo/data/consent",
                &[
                    ("plugin", "bike-delivery"),
                    ("category", "location"),
                    ("given", "false"),
                ],
            )
            .await;
        assert_eq!(a.location.as_deref(), Some("/c/velo/data?done=withdrawn"));
        assert_eq!(location_consent(&host, &ana).await["given"], false);

        // Bad input changes nothing and says why, in the visitor's language.
        b.accept_language = "fr".into();
        let a = b
            .post(
                "/c/velo/data",
                "/c/velo/data/consent",
                &[
                    ("plugin", "bike-delivery"),
                    ("category", "location"),
                    ("given", "maybe"),
                ],
            )
            .await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            a.body.contains("Choisissez d’autoriser ou de retirer."),
            "{}",
            a.body
        );
        let a = b
            .post(
                "/c/velo/data",
                "/c/velo/data/consent",
                &[
                    ("plugin", "bike-delivery"),
                    ("category", "contact"),
                    ("given", "true"),
                ],
            )
            .await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
        assert!(a.body.contains("Refusé"));
        let a = b
            .post_raw(
                "/c/velo/data/consent",
                &[
                    ("plugin", "bike-delivery"),
                    ("category", "location"),
                    ("given", "true"),
                ],
            )
            .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN);
        assert_eq!(location_consent(&host, &ana).await["given"], false);

        // The export: a JSON file with her data and both decisions.
        let file = b.get("/c/velo/data/export").await;
        assert_eq!(file.status, StatusCode::OK);
        assert_eq!(file.content_type, "application/json");
        assert_eq!(
            file.disposition.as_deref(),
            Some("attachment; filename=\"velo-my-data.json\"")
        );
        let archive: Value = serde_json::from_str(&file.body).expect("the export is JSON");
        assert!(file.body.contains("ana@velo.coop"));
        let decisions = archive.to_string().matches("\"location\"").count();
        assert!(decisions >= 2, "{archive}");
        // The credential: a signed document, downloaded through a form.
        let cred = b.post("/c/velo/data", "/c/velo/data/credential", &[]).await;
        assert_eq!(cred.status, StatusCode::OK, "{}", cred.body);
        assert_eq!(
            cred.disposition.as_deref(),
            Some("attachment; filename=\"velo-work-credential.json\"")
        );
        let doc: Value = serde_json::from_str(&cred.body).expect("the credential is JSON");
        assert!(doc.to_string().contains("eddsa-jcs-2022"), "{doc}");

        // An admin reads her statement: the page tells her who and what.
        let page = b.get("/c/velo/data").await;
        assert!(page.body.contains("Personne d’autre n’a consulté"));
        let (_, members) = host
            .request(Method::GET, "/v1/coops/velo/members", Some(&admin), None)
            .await;
        let ana_id = members["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["email"] == "ana@velo.coop")
            .unwrap()["id"]
            .as_i64()
            .unwrap();
        let (s, body) = host
            .request(
                Method::GET,
                &format!("/v1/coops/velo/members/{ana_id}/statements/2026-01"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let page = b.get("/c/velo/data").await;
        assert!(page.body.contains("statement 2026-01"), "{}", page.body);
        host.finish().await;
    }
}

#[tokio::test]
async fn a_suspended_member_reads_why_and_appeals_from_my_data() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let coop = host.coop("velo").await;
        let admin = host.member(&coop, "admin@velo.coop", &["admin"]).await;
        host.member(&coop, "wes@velo.coop", &["worker"]).await;
        let (_, members) = host
            .request(Method::GET, "/v1/coops/velo/members", Some(&admin), None)
            .await;
        let wes = members["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["email"] == "wes@velo.coop")
            .unwrap()["id"]
            .as_i64()
            .unwrap();
        let why = "Three deliveries marked delivered that were not.";
        let (s, body) = host
            .request(
                Method::PUT,
                &format!("/v1/coops/velo/members/{wes}/status"),
                Some(&admin),
                Some(json!({"status": "suspended", "reason": why})),
            )
            .await;
        assert!(s.is_success(), "{body}");

        let mut b = Browser::new(&host);
        b.login("wes@velo.coop").await;
        let page = b.get("/c/velo/data").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(page.body.contains("Your account was suspended"));
        assert!(page.body.contains(why));
        assert!(page.body.contains("Send my appeal"));
        let decision = {
            let at = page.body.find("name=\"decision\" value=\"").unwrap();
            let rest = &page.body[at + 23..];
            rest[..rest.find('"').unwrap()].to_string()
        };
        // An empty statement is refused with the form kept.
        let a = b
            .post(
                "/c/velo/data",
                "/c/velo/data/appeal",
                &[("decision", &decision), ("statement", "   ")],
            )
            .await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(a.body.contains("Write your appeal before sending it."));
        let statement = "The app lost signal; the recipients can confirm.";
        let a = b
            .post(
                "/c/velo/data",
                "/c/velo/data/appeal",
                &[("decision", &decision), ("statement", statement)],
            )
            .await;
        assert_eq!(
            a.location.as_deref(),
            Some("/c/velo/data?done=appealed"),
            "{}",
            a.body
        );
        let page = b.get("/c/velo/data?done=appealed").await;
        assert!(page.body.contains("Your appeal is sent."));
        assert!(page.body.contains("Your appeal") && !page.body.contains("Send my appeal"));
        // The admins see it.
        let (_, appeals) = host
            .request(Method::GET, "/v1/coops/velo/appeals", Some(&admin), None)
            .await;
        assert_eq!(
            appeals["appeals"][0]["appeal"]["statement"], statement,
            "{appeals}"
        );
        host.finish().await;
    }
}
