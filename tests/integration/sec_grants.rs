//! Issue 16, item 10: every grant of a role (adding a member, an
//! invitation, approving an application, an API key) goes through the
//! `grant-role` check and is recorded in the decision log.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{TestHost, backends};

/// The coop's `grant-role` direct changes in the decision log.
async fn grants_logged(host: &TestHost, slug: &str, token: &str) -> Vec<Value> {
    let (s, body) = host
        .request(
            Method::GET,
            &format!("/v1/coops/{slug}/decisions?limit=1000"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "direct-change" && e["body"]["kind"] == "grant-role")
        .map(|e| e["body"]["change"].clone())
        .collect()
}

/// Keep `grant-role` for the members' vote.
async fn grant_role_by_vote(host: &TestHost, slug: &str, admin: &str) {
    let url = format!("/v1/coops/{slug}/governance/rules");
    let (_, body) = host.request(Method::GET, &url, Some(admin), None).await;
    let mut rules = body["rules"].clone();
    let kinds: Vec<Value> = rules["admins_may"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| *k != "grant-role")
        .cloned()
        .collect();
    rules["admins_may"] = Value::Array(kinds);
    let (s, body) = host
        .request(
            Method::PUT,
            &url,
            Some(admin),
            Some(json!({"rules": rules, "reason": "roles are the members' decision"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn role_grants_follow_the_grant_role_rule_and_are_logged() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let coop = host.coop("grants").await;
        let admin = host
            .member(&coop, "admin@grants.coop", &["admin", "member"])
            .await;

        // Where admins may grant roles, each grant is in the log.
        let (s, body) = host
            .request(
                Method::POST,
                "/v1/coops/grants/invitations",
                Some(&admin),
                Some(json!({"email": "cleo@grants.coop", "display_name": "Cleo",
                    "roles": ["admin", "member"]})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        let invitation = body["invitation"]["id"].clone();
        let (s, body) = host
            .request(
                Method::POST,
                "/v1/coops/grants/api-keys",
                Some(&admin),
                Some(json!({"name": "dispatch robot", "role": "admin"})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        let key = body["api_key"]["id"].clone();
        let logged = grants_logged(&host, "grants", &admin).await;
        assert!(
            logged
                .iter()
                .any(|c| c["invitation"] == invitation && c["roles"] == json!(["admin", "member"])),
            "{backend:?}: invitation not logged: {logged:?}"
        );
        assert!(
            logged
                .iter()
                .any(|c| c["api_key"] == key && c["roles"] == json!(["admin"])),
            "{backend:?}: API key not logged: {logged:?}"
        );
        assert!(
            logged.iter().all(|c| !c.to_string().contains("@")),
            "no email in the log: {logged:?}"
        );

        // Once grant-role is the members' vote, no admin hands out a role
        // by invitation, API key or addition; plain membership still works.
        grant_role_by_vote(&host, "grants", &admin).await;
        for (path, body) in [
            (
                "/v1/coops/grants/invitations",
                json!({"email": "dan@grants.coop", "display_name": "Dan", "roles": ["admin"]}),
            ),
            (
                "/v1/coops/grants/invitations",
                json!({"email": "dan@grants.coop", "display_name": "Dan",
                    "roles": ["member", "worker"]}),
            ),
            (
                "/v1/coops/grants/api-keys",
                json!({"name": "root", "role": "admin"}),
            ),
            (
                "/v1/coops/grants/members",
                json!({"email": "eve@grants.coop", "display_name": "Eve",
                    "password": "correct horse battery staple", "roles": ["admin"]}),
            ),
        ] {
            let (s, resp) = host
                .request(Method::POST, path, Some(&admin), Some(body.clone()))
                .await;
            assert_eq!(
                s,
                StatusCode::FORBIDDEN,
                "{backend:?} {path} {body}: {resp}"
            );
            assert!(
                resp["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("grant-role"),
                "{resp}"
            );
        }
        let before = grants_logged(&host, "grants", &admin).await.len();
        let (s, body) = host
            .request(
                Method::POST,
                "/v1/coops/grants/invitations",
                Some(&admin),
                Some(json!({"email": "dan@grants.coop", "display_name": "Dan",
                    "roles": ["member"]})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        let (s, body) = host
            .request(
                Method::POST,
                "/v1/coops/grants/api-keys",
                Some(&admin),
                Some(json!({"name": "reader", "role": "member"})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        assert_eq!(
            grants_logged(&host, "grants", &admin).await.len(),
            before + 2,
            "{backend:?}: plain memberships are recorded too"
        );

        // An application approved by an admin is recorded as well.
        let (s, body) = host
            .request(
                Method::POST,
                "/v1/coops/grants/applications",
                None,
                Some(json!({"email": "fay@grants.coop", "display_name": "Fay",
                    "password": "correct horse battery staple"})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        let app_id = body["application"]["id"].as_i64().unwrap();
        // It reaches the coop once its address is confirmed.
        crate::governance::confirm_address(&host, "fay@grants.coop").await;
        let (s, body) = host
            .request(
                Method::POST,
                &format!("/v1/coops/grants/applications/{app_id}/approve"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let logged = grants_logged(&host, "grants", &admin).await;
        assert!(
            logged
                .iter()
                .any(|c| c["application"] == app_id && c["roles"] == json!(["member"])),
            "{backend:?}: approval not logged: {logged:?}"
        );
        host.finish().await;
    }
}
