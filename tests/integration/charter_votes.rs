//! Issue 18, item 7: votes by members in good standing. Where the coop's
//! rules say so, a member votes only while holding at least one share, and
//! the electorate (so turnout) counts only them. (Only active members vote
//! at all: `sec_members`.)

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::common::{TestHost, backends};
use crate::sec_members::member_id;

#[tokio::test]
async fn where_the_rules_say_so_only_shareholders_vote_and_count() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let coop = host.coop("share").await;
        let admin = host
            .member(&coop, "admin@share.coop", &["admin", "member"])
            .await;
        let ana = host.member(&coop, "ana@share.coop", &["member"]).await;
        let bob = host.member(&coop, "bob@share.coop", &["member"]).await;
        let rules_path = "/v1/coops/share/governance/rules";
        let (_, current) = host
            .request(Method::GET, rules_path, Some(&admin), None)
            .await;
        let mut rules = current["rules"].clone();
        // The rule needs shares to exist.
        rules["membership"]["vote_requires_share"] = json!(true);
        let (s, b) = host
            .request(
                Method::PUT,
                rules_path,
                Some(&admin),
                Some(json!({"rules": rules, "reason": "members who invest decide"})),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{backend:?} {b}");
        rules["membership"]["share_nominal"] = json!(5_000);
        let (s, b) = host
            .request(
                Method::PUT,
                rules_path,
                Some(&admin),
                Some(json!({"rules": rules, "reason": "members who invest decide"})),
            )
            .await;
        assert!(s.is_success(), "{backend:?} {b}");
        let (s, b) = host
            .request(
                Method::POST,
                "/v1/coops/share/me/shares",
                Some(&ana),
                Some(json!({"count": 1, "payment_ref": "transfer-ana-1"})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{backend:?} {b}");

        let (s, b) = host
            .request(
                Method::POST,
                "/v1/coops/share/proposals",
                Some(&admin),
                Some(json!({"title": "Buy a cargo bike", "change": {"kind": "resolution"}})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        let votes = format!(
            "/v1/coops/share/proposals/{}/votes",
            b["proposal"]["id"].as_i64().unwrap()
        );
        let vote = |token: String| {
            let (host, votes) = (&host, votes.clone());
            async move {
                host.request(
                    Method::POST,
                    &votes,
                    Some(&token),
                    Some(json!({"choice": "yes"})),
                )
                .await
            }
        };
        let (s, b) = vote(bob.clone()).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{backend:?} {b}");
        assert!(
            b["error"]["message"].as_str().unwrap().contains("share"),
            "{b}"
        );
        let (s, b) = vote(ana.clone()).await;
        assert_eq!(s, StatusCode::OK, "{backend:?} {b}");

        // The electorate is the one shareholder: Ana's ballot is a full
        // turnout, never more.
        let (_, rules) = coophost::governance::rules::current(&host.app.db, coop.id)
            .await
            .unwrap();
        let electorate = coophost::governance::proposals::electorate(&host.app.db, coop.id, &rules)
            .await
            .unwrap();
        let ana_id = member_id(&host, coop.id, "ana@share.coop").await;
        assert_eq!(electorate.members, Some(vec![ana_id]), "{backend:?}");
        assert_eq!(electorate.eligible, 1, "{backend:?}");
        host.finish().await;
    }
}
