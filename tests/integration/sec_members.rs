//! Issue 16, item 6: only active members act. A suspended, removed or
//! departed member keeps their own data, their appeal and their money,
//! nothing more; ballots cast before a deactivation follow the tally's
//! "who counts" rule, and turnout never exceeds 100%.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{TestHost, backends};

const DAY: i64 = 24 * 3_600_000;

/// The member id behind `email` in the coop.
pub async fn member_id(host: &TestHost, coop_id: i64, email: &str) -> i64 {
    coophost::identity::list_members(&host.app.db, coop_id)
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.email == email)
        .unwrap()
        .id
}

/// `admin` suspends member `id` of `slug` through the API.
pub async fn suspend(host: &TestHost, slug: &str, admin: &str, id: i64) -> i64 {
    let (s, body) = host
        .request(
            Method::PUT,
            &format!("/v1/coops/{slug}/members/{id}/status"),
            Some(admin),
            Some(json!({"status": "suspended", "reason": "left a customer waiting three times"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    body["decision"]["decision"].as_i64().expect("decision id")
}

fn refused_for_status(s: StatusCode, body: &Value) -> bool {
    s == StatusCode::FORBIDDEN
        && body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("is suspended")
}

#[tokio::test]
async fn a_suspended_member_keeps_their_own_data_and_nothing_more() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let coop = host.coop("sus").await;
        host.install(&coop, "shift-board-rs").await;
        let admin = host
            .member(&coop, "admin@sus.coop", &["admin", "member"])
            .await;
        let ana = host
            .member(&coop, "ana@sus.coop", &["member", "worker"])
            .await;
        let bob = host.member(&coop, "bob@sus.coop", &["member"]).await;
        let ana_id = member_id(&host, coop.id, "ana@sus.coop").await;

        // A proposal; Ana and Bob vote while active.
        let (s, body) = host
            .request(
                Method::POST,
                "/v1/coops/sus/proposals",
                Some(&admin),
                Some(json!({"title": "Buy a cargo bike", "change": {"kind": "resolution"}})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        let pid = body["proposal"]["id"].as_i64().unwrap();
        let votes = format!("/v1/coops/sus/proposals/{pid}/votes");
        for (who, choice) in [(&ana, "yes"), (&bob, "no")] {
            let (s, body) = host
                .request(
                    Method::POST,
                    &votes,
                    Some(who),
                    Some(json!({"choice": choice})),
                )
                .await;
            assert_eq!(s, StatusCode::OK, "{body}");
        }

        let decision = suspend(&host, "sus", &admin, ana_id).await;

        // Acting is refused: voting (even changing her earlier ballot),
        // proposing, reading the members' emails, staging a component,
        // calling a plugin function that needs a role.
        let (s, body) = host
            .request(
                Method::POST,
                &votes,
                Some(&ana),
                Some(json!({"choice": "no"})),
            )
            .await;
        assert!(refused_for_status(s, &body), "{backend:?} vote: {s} {body}");
        let (s, body) = host
            .request(
                Method::POST,
                "/v1/coops/sus/proposals",
                Some(&ana),
                Some(json!({"title": "Me again", "change": {"kind": "resolution"}})),
            )
            .await;
        assert!(refused_for_status(s, &body), "{backend:?} open: {s} {body}");
        let (s, body) = host
            .request(Method::GET, "/v1/coops/sus/members", Some(&ana), None)
            .await;
        assert!(
            refused_for_status(s, &body),
            "{backend:?} members: {s} {body}"
        );
        let (s, body) = host
            .raw_request(
                Method::POST,
                "/v1/coops/sus/components",
                Some(&ana),
                Some("\0asm".into()),
            )
            .await;
        assert!(
            refused_for_status(s, &body),
            "{backend:?} stage: {s} {body}"
        );
        let (s, body) = host
            .call(
                "sus",
                Some(&ana),
                "coop:examples/shift-board",
                "list-shifts",
                json!({}),
            )
            .await;
        assert!(refused_for_status(s, &body), "{backend:?} call: {s} {body}");

        // What is hers stays hers: the coop page with her status, her
        // export, her statement, her deactivation and her appeal.
        let (s, body) = host
            .request(Method::GET, "/v1/coops/sus", Some(&ana), None)
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert_eq!(body["you"]["status"], "suspended", "{body}");
        assert_eq!(body["you"]["roles"], json!([]), "{body}");
        let (s, body) = host
            .request(Method::GET, "/v1/coops/sus/me/export", Some(&ana), None)
            .await;
        assert_eq!(s, StatusCode::OK, "{backend:?} export: {body}");
        let (s, body) = host
            .request(
                Method::GET,
                "/v1/coops/sus/me/statements/2026-09",
                Some(&ana),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{backend:?} statement: {body}");
        let (s, body) = host
            .request(Method::GET, "/v1/coops/sus/me/wallet", Some(&ana), None)
            .await;
        assert_eq!(s, StatusCode::OK, "{backend:?} wallet: {body}");
        let (s, body) = host
            .request(
                Method::POST,
                "/v1/coops/sus/me/appeals",
                Some(&ana),
                Some(
                    json!({"decision": decision, "statement": "the customer gave a wrong address"}),
                ),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{backend:?} appeal: {body}");

        // The close: Ana's ballot was cast while she was active, so it
        // counts and so does she; turnout stays within 100%.
        host.clock.advance(30 * DAY);
        host.app.run_jobs_once("test-host").await.unwrap();
        let admin = host.login("admin@sus.coop").await;
        let (s, body) = host
            .request(
                Method::GET,
                &format!("/v1/coops/sus/proposals/{pid}"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let tally = &body["proposal"]["tally"];
        assert_eq!(
            (&tally["eligible"], &tally["cast"]),
            (&json!(3), &json!(2)),
            "{backend:?}: {body}"
        );
        let (_, votes) = host.request(Method::GET, &votes, Some(&admin), None).await;
        assert_eq!(votes["matches_published_tally"], true, "{votes}");
        host.finish().await;
    }
}

/// Turnout is cast over eligible: a ballot from someone suspended before
/// the close must not push it past 100%, however many such ballots.
#[tokio::test]
async fn turnout_never_exceeds_one_hundred_percent() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let coop = host.coop("turn").await;
        let admin = host
            .member(&coop, "admin@turn.coop", &["admin", "member"])
            .await;
        let mut voters = Vec::new();
        for i in 0..3 {
            let email = format!("v{i}@turn.coop");
            let token = host.member(&coop, &email, &["member"]).await;
            voters.push((member_id(&host, coop.id, &email).await, token));
        }
        let (_, body) = host
            .request(
                Method::POST,
                "/v1/coops/turn/proposals",
                Some(&admin),
                Some(json!({"title": "Open on Sundays", "change": {"kind": "resolution"}})),
            )
            .await;
        let pid = body["proposal"]["id"].as_i64().unwrap();
        for (_, token) in &voters {
            let (s, body) = host
                .request(
                    Method::POST,
                    &format!("/v1/coops/turn/proposals/{pid}/votes"),
                    Some(token),
                    Some(json!({"choice": "yes"})),
                )
                .await;
            assert_eq!(s, StatusCode::OK, "{body}");
        }
        // Every voter is suspended before the close; only the admin (who
        // did not vote) is active then.
        for (id, _) in &voters {
            suspend(&host, "turn", &admin, *id).await;
        }
        host.clock.advance(30 * DAY);
        host.app.run_jobs_once("test-host").await.unwrap();
        let p = coophost::governance::proposals::get(&host.app.db, coop.id, pid)
            .await
            .unwrap();
        let t = p.tally.expect("closed");
        assert!(
            t.cast <= t.eligible,
            "{backend:?}: {} of {} voted",
            t.cast,
            t.eligible
        );
        assert_eq!((t.cast, t.eligible), (3, 4), "{backend:?}");
        host.finish().await;
    }
}

/// Routes a suspended member keeps: their own data, appeal and money.
/// Every other coop route (from the documented host routes) refuses them
/// with 403, naming their status.
const OWN_DATA: &[(&str, &str)] = &[
    ("get", "/v1/coops/{coop}"),
    ("get", "/v1/coops/{coop}/notifications"),
    ("post", "/v1/coops/{coop}/notifications/read"),
    ("get", "/v1/coops/{coop}/shifts"),
    ("get", "/v1/coops/{coop}/shifts/current"),
    ("post", "/v1/coops/{coop}/shifts/end"),
    ("get", "/v1/coops/{coop}/me/worker-status"),
    ("get", "/v1/coops/{coop}/me/wallet"),
    ("get", "/v1/coops/{coop}/me/bank-account"),
    ("put", "/v1/coops/{coop}/me/bank-account"),
    (
        "get",
        "/v1/coops/{coop}/members/{member}/statements/{period}",
    ),
    ("get", "/v1/coops/{coop}/me/statements/{period}"),
    ("get", "/v1/coops/{coop}/me/access-log"),
    ("get", "/v1/coops/{coop}/me/export"),
    ("post", "/v1/coops/{coop}/me/erasure"),
    ("get", "/v1/coops/{coop}/me/audit"),
    ("get", "/v1/coops/{coop}/me/consents"),
    ("put", "/v1/coops/{coop}/me/consents/{plugin}/{category}"),
    ("get", "/v1/coops/{coop}/plugins/{plugin}/data"),
    ("get", "/v1/coops/{coop}/me/ratings"),
    ("post", "/v1/coops/{coop}/me/ratings/{id}/contest"),
    ("get", "/v1/coops/{coop}/terms"),
    ("get", "/v1/coops/{coop}/members/{member}/status"),
    ("put", "/v1/coops/{coop}/members/{member}/status"),
    ("get", "/v1/coops/{coop}/me/deactivations"),
    ("post", "/v1/coops/{coop}/me/appeals"),
    ("get", "/v1/coops/{coop}/me/shares"),
    ("post", "/v1/coops/{coop}/me/credential"),
];

#[tokio::test]
async fn every_other_coop_route_refuses_a_suspended_member() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let coop = host.coop("audit").await;
        host.install(&coop, "shift-board-rs").await;
        let admin = host
            .member(&coop, "admin@audit.coop", &["admin", "member"])
            .await;
        let ana = host
            .member(&coop, "ana@audit.coop", &["admin", "member", "worker"])
            .await;
        let ana_id = member_id(&host, coop.id, "ana@audit.coop").await;
        suspend(&host, "audit", &admin, ana_id).await;
        let (mut refused, mut kept) = (0, 0);
        for r in coophost::api::HOST_ROUTES {
            if !r.path.contains("{coop}") || r.access == "anyone" {
                continue;
            }
            let url = r
                .path
                .split('/')
                .map(|seg| match seg {
                    "{coop}" => "audit".to_string(),
                    "{member}" => ana_id.to_string(),
                    "{plugin}" => "shift-board-rs".to_string(),
                    "{name}" => "max-shifts-per-week".to_string(),
                    "{period}" => "2026-09".to_string(),
                    "{package}" => "coop:examples".to_string(),
                    "{interface}" => "shift-board".to_string(),
                    "{function}" => "list-shifts".to_string(),
                    "{decision}" => "approve".to_string(),
                    s if s.starts_with('{') => "1".to_string(),
                    s => s.to_string(),
                })
                .collect::<Vec<_>>()
                .join("/");
            let m: Method = r.method.to_uppercase().parse().unwrap();
            let body = matches!(m, Method::POST | Method::PUT).then(|| json!({}));
            let (s, resp) = host.request(m, &url, Some(&ana), body).await;
            if OWN_DATA.contains(&(r.method, r.path)) {
                assert!(
                    !refused_for_status(s, &resp),
                    "{backend:?} {} {url} is her own data but was refused: {resp}",
                    r.method
                );
                kept += 1;
            } else {
                assert!(
                    refused_for_status(s, &resp),
                    "{backend:?} {} {url} let a suspended member act: {s} {resp}",
                    r.method
                );
                refused += 1;
            }
        }
        assert_eq!(kept, OWN_DATA.len(), "an own-data route is not documented");
        assert!(refused >= 50, "only {refused} routes checked");
        host.finish().await;
    }
}
