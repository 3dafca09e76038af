//! Governance through the HTTP API on each backend: a weighted college vote
//! that changes a plugin's configuration at its effective date, a vote
//! changed during the window, the published tally reproduced from the
//! recorded votes, configuration refused outside governance, quorum and
//! consent, and a tampered decision log caught by the API and the command.

use std::process::Command;

use axum::http::{Method, StatusCode};
use coophost::clock::Clock;
use coophost::identity::{self, NewMember};
use serde_json::{Value, json};

use crate::common::{TestHost, backends};

const HOUR: i64 = 3_600_000;

/// Add a member in a college and log them in.
async fn member(host: &TestHost, slug: &str, email: &str, roles: &[&str], college: &str) -> String {
    let coop = identity::find_coop(&host.app.db, slug).await.unwrap();
    identity::add_member(
        &host.app.db,
        &*host.app.clock,
        &coop,
        NewMember {
            email: email.into(),
            display_name: email.into(),
            password: Some("correct horse battery staple".into()),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            college: Some(college.into()),
        },
    )
    .await
    .unwrap();
    host.login(email).await
}

/// Confirm an application's address with the link the host queued for it
/// (and the password these tests apply with).
pub(crate) async fn confirm_address(host: &TestHost, email: &str) {
    let token = crate::mailbox::outbox_token(host, email, "/verify-email").await;
    let (s, body) = host
        .request(
            Method::POST,
            "/v1/auth/verify-email",
            None,
            Some(json!({"token": token, "password": "correct horse battery staple"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
}

async fn vote(
    host: &TestHost,
    token: &str,
    id: i64,
    choice: &str,
    reason: &str,
) -> (StatusCode, Value) {
    host.request(
        Method::POST,
        &format!("/v1/coops/gov/proposals/{id}/votes"),
        Some(token),
        Some(json!({"choice": choice, "reason": reason})),
    )
    .await
}

#[tokio::test]
async fn a_weighted_vote_changes_the_plugin_config_at_its_effective_date() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let coop = host.coop("gov").await;
        host.install(&coop, "shift-board-rs").await;
        let admin = member(
            &host,
            "gov",
            "admin@gov.coop",
            &["admin", "member"],
            "founders",
        )
        .await;
        let mut workers = Vec::new();
        for i in 0..4 {
            workers.push(
                member(
                    &host,
                    "gov",
                    &format!("w{i}@gov.coop"),
                    &["worker", "member"],
                    "workers",
                )
                .await,
            );
        }
        let mut users = Vec::new();
        for i in 0..4 {
            users.push(
                member(
                    &host,
                    "gov",
                    &format!("u{i}@gov.coop"),
                    &["member"],
                    "users",
                )
                .await,
            );
        }
        let _supporter = member(&host, "gov", "s@gov.coop", &["member"], "supporters").await;

        // The founders adopt SCIC rules: colleges weighted 50/30/20 within
        // 10-50 %, configuration voted by college (quorum 30 %, majority),
        // 48 h window, 24 h notice; admins keep no direct power.
        let vote_rules =
            json!({"method": "college-weighted", "quorum_bp": 3000, "threshold_bp": 5000});
        let rules = json!({
            "college_bounds": {"min_bp": 1000, "max_bp": 5000},
            "colleges": [{"name": "workers", "weight_bp": 5000}, {"name": "users", "weight_bp": 3000},
                {"name": "supporters", "weight_bp": 2000}],
            "kinds": {"set-config": {"vote": vote_rules, "min_window_hours": 48, "min_delay_hours": 24}},
            "default_vote": {"vote": {"method": "one-member-one-vote", "quorum_bp": 5000, "threshold_bp": 5000},
                "min_window_hours": 24, "min_delay_hours": 0},
            "admins_may": []
        });
        // Weights outside the bounds are refused and change nothing.
        let mut bad = rules.clone();
        bad["colleges"][0]["weight_bp"] = json!(6000);
        bad["colleges"][2]["weight_bp"] = json!(1000);
        let (s, body) = host
            .request(
                Method::PUT,
                "/v1/coops/gov/governance/rules",
                Some(&admin),
                Some(json!({"rules": bad, "reason": "founding assembly"})),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("outside the bounds"),
            "{body}"
        );
        let (s, body) = host
            .request(
                Method::PUT,
                "/v1/coops/gov/governance/rules",
                Some(&admin),
                Some(json!({"rules": rules, "reason": "founding assembly"})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");

        // Now an admin cannot change the configuration directly.
        let cfg = "/v1/coops/gov/plugins/shift-board-rs/config/max-shifts-per-week";
        let (s, body) = host
            .request(Method::PUT, cfg, Some(&admin), Some(json!({"value": 9})))
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("open a proposal"),
            "{body}"
        );
        let (s, body) = host
            .request(Method::POST, "/v1/coops/gov/split-policies", Some(&admin),
                Some(json!({"terms": {"model": "subscription", "fee_per_period": 100, "period_days": 30, "cae_fee_bp": 0}, "reason": "x"})))
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{body}");

        // A worker proposes 5 shifts a week; a shorter window than the
        // rules allow is refused.
        let change = json!({"kind": "set-config", "plugin": "shift-board-rs", "name": "max-shifts-per-week", "value": 5});
        let (s, body) = host
            .request(
                Method::POST,
                "/v1/coops/gov/proposals",
                Some(&workers[0]),
                Some(json!({"title": "Five shifts a week", "change": change, "window_hours": 1})),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let t0 = host.clock.now_ms();
        let (s, body) = host
            .request(Method::POST, "/v1/coops/gov/proposals", Some(&workers[0]),
                Some(json!({"title": "Five shifts a week", "body": "Demand is up.", "change": change})))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        let id = body["proposal"]["id"].as_i64().unwrap();
        assert_eq!(body["proposal"]["closes_at"], t0 + 48 * HOUR);
        assert_eq!(body["proposal"]["effective_at"], t0 + 72 * HOUR);

        // Workers 3 yes 1 no; users first 2 yes 2 no, then one yes voter
        // changes to no: 1 yes 3 no; supporters do not vote.
        for (i, w) in workers.iter().enumerate() {
            let (s, b) = vote(&host, w, id, if i < 3 { "yes" } else { "no" }, "").await;
            assert_eq!(s, StatusCode::OK, "{b}");
        }
        for (i, u) in users.iter().enumerate() {
            vote(&host, u, id, if i < 2 { "yes" } else { "no" }, "").await;
        }
        host.clock.advance(HOUR);
        let (s, _) = vote(&host, &users[1], id, "no", "changed my mind").await;
        assert_eq!(s, StatusCode::OK);
        // An objection is not a vote under this method.
        let (s, b) = vote(&host, &users[0], id, "object", "no").await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        // Votes stay secret while the window is open.
        let (s, _) = host
            .request(
                Method::GET,
                &format!("/v1/coops/gov/proposals/{id}/votes"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::CONFLICT);

        // The window closes; the scheduler tallies. By hand: workers
        // 3/4 = 0.75, users 1/4 = 0.25, supporters excluded, so
        // (0.5 x 0.75 + 0.3 x 0.25) / 0.8 = 0.5625 > 0.5: passed. Turnout
        // 8 of 10 >= 30 %.
        host.clock.set(t0 + 48 * HOUR);
        let admin = host.login("admin@gov.coop").await;
        let (s, _) = vote(&host, &admin, id, "yes", "").await;
        assert_eq!(s, StatusCode::CONFLICT, "no vote once the window closed");
        host.app.run_jobs_once("test-host").await.unwrap();
        let (_, body) = host
            .request(
                Method::GET,
                &format!("/v1/coops/gov/proposals/{id}"),
                Some(&admin),
                None,
            )
            .await;
        let p = &body["proposal"];
        assert_eq!(p["status"], "passed", "{backend:?}: {p}");
        let t = &p["tally"];
        assert_eq!(
            (t["cast"].as_u64(), t["eligible"].as_u64()),
            (Some(8), Some(10)),
            "{t}"
        );
        assert_eq!(t["score_bp"], 5625, "{t}");
        let colleges = t["colleges"].as_array().unwrap();
        let by = |n: &str| colleges.iter().find(|c| c["name"] == n).unwrap().clone();
        assert_eq!(
            (by("workers")["yes"].as_u64(), by("workers")["no"].as_u64()),
            (Some(3), Some(1))
        );
        assert_eq!(
            (by("users")["yes"].as_u64(), by("users")["no"].as_u64()),
            (Some(1), Some(3))
        );
        assert_eq!(by("supporters")["counted"], false);
        // Reproducible from the recorded votes.
        let (s, votes) = host
            .request(
                Method::GET,
                &format!("/v1/coops/gov/proposals/{id}/votes"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{votes}");
        assert_eq!(votes["matches_published_tally"], true);
        assert_eq!(votes["votes"].as_array().unwrap().len(), 8);

        // Not yet in effect.
        let (_, c) = host
            .request(
                Method::GET,
                "/v1/coops/gov/plugins/shift-board-rs/config",
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(c["config"]["max-shifts-per-week"], 3, "{c}");
        host.clock.set(t0 + 72 * HOUR);
        let admin = host.login("admin@gov.coop").await;
        host.app.run_jobs_once("test-host").await.unwrap();
        let (_, c) = host
            .request(
                Method::GET,
                "/v1/coops/gov/plugins/shift-board-rs/config",
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(c["config"]["max-shifts-per-week"], 5, "{backend:?}: {c}");
        let (_, body) = host
            .request(
                Method::GET,
                &format!("/v1/coops/gov/proposals/{id}"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(body["proposal"]["status"], "applied", "{body}");
        // Members were told.
        let (_, inbox) = host
            .request(
                Method::GET,
                "/v1/coops/gov/notifications",
                Some(&admin),
                None,
            )
            .await;
        let topics: Vec<&str> = inbox["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["topic"].as_str().unwrap())
            .collect();
        for topic in [
            "governance.proposal-opened",
            "governance.decided",
            "governance.applied",
        ] {
            assert!(topics.contains(&topic), "{topic} missing from {topics:?}");
        }

        // The decision log: the rules change, the proposal, its decision
        // and its application, chained.
        let (_, log) = host
            .request(Method::GET, "/v1/coops/gov/decisions", Some(&admin), None)
            .await;
        let kinds: Vec<&str> = log["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap())
            .collect();
        assert_eq!(
            kinds,
            [
                "direct-change",
                "proposal.opened",
                "proposal.decided",
                "proposal.applied"
            ]
        );
        let (_, v) = host
            .request(
                Method::GET,
                "/v1/coops/gov/decisions/verify",
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(v["verification"]["ok"], true, "{v}");
        let cli = |args: &[&str]| {
            Command::new(env!("CARGO_BIN_EXE_coophost"))
                .arg("--database-url")
                .arg(&host.url)
                .args(args)
                .env("RUST_LOG", "warn")
                .output()
                .unwrap()
        };
        let out = cli(&["decisions", "verify", "--coop", "gov"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // The same governance from the command line.
        let out = cli(&["governance", "proposals", "--coop", "gov"]);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            text.starts_with(&format!("{id}\tapplied\tset-config\t")),
            "{text}"
        );
        let out = cli(&[
            "governance",
            "invite",
            "--coop",
            "gov",
            "--email",
            "new@gov.coop",
            "--name",
            "New",
            "--college",
            "users",
        ]);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success() && text.contains("token inv_"),
            "{text}"
        );
        let out = cli(&[
            "governance",
            "invite",
            "--coop",
            "gov",
            "--email",
            "x@gov.coop",
            "--name",
            "X",
            "--college",
            "martians",
        ]);
        assert!(!out.status.success(), "an unknown college is refused");

        // Someone edits the recorded decision in the database.
        sqlx::query("UPDATE chain_entries SET body = REPLACE(body, '\"passed\"', '\"rejected\"') WHERE chain = 'decisions' AND seq = 3")
            .execute(&host.app.db.pool)
            .await
            .unwrap();
        let (_, v) = host
            .request(
                Method::GET,
                "/v1/coops/gov/decisions/verify",
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(v["verification"]["ok"], false, "{v}");
        assert_eq!(v["verification"]["problem"]["seq"], 3, "{v}");
        let out = cli(&["decisions", "verify", "--coop", "gov"]);
        assert!(!out.status.success(), "verify must fail on a tampered log");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains('3'), "{err}");
        host.finish().await;
    }
}

#[tokio::test]
async fn quorum_ties_and_consent() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let coop_id = host.coop("gov").await.id;
        let admin = member(&host, "gov", "admin@gov.coop", &["admin", "member"], "x").await;
        let a = member(&host, "gov", "a@gov.coop", &["member"], "x").await;
        let b = member(&host, "gov", "b@gov.coop", &["member"], "x").await;
        let c = member(&host, "gov", "c@gov.coop", &["member"], "x").await;
        // Resolutions by consent (quorum 0); roles by one member one vote,
        // quorum 50 %, majority.
        let rules = json!({
            "college_bounds": {"min_bp": 1000, "max_bp": 5000}, "colleges": [],
            "kinds": {"resolution": {"vote": {"method": "consent", "quorum_bp": 0, "threshold_bp": 0},
                "min_window_hours": 24, "min_delay_hours": 0}},
            "default_vote": {"vote": {"method": "one-member-one-vote", "quorum_bp": 5000, "threshold_bp": 5000},
                "min_window_hours": 24, "min_delay_hours": 0},
            "admins_may": []
        });
        let (s, body) = host
            .request(
                Method::PUT,
                "/v1/coops/gov/governance/rules",
                Some(&admin),
                Some(json!({"rules": rules, "reason": "founding"})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let a_id = identity::list_members(&host.app.db, coop_id)
            .await
            .unwrap()
            .iter()
            .find(|m| m.email == "a@gov.coop")
            .unwrap()
            .id;
        let open = |change: Value| {
            let host = &host;
            let admin = admin.clone();
            async move {
                let (s, body) = host
                    .request(
                        Method::POST,
                        "/v1/coops/gov/proposals",
                        Some(&admin),
                        Some(json!({"title": "t", "change": change})),
                    )
                    .await;
                assert_eq!(s, StatusCode::CREATED, "{body}");
                body["proposal"]["id"].as_i64().unwrap()
            }
        };
        let grant = json!({"kind": "grant-role", "member": a_id, "role": "dispatcher"});
        let p_quorum = open(grant.clone()).await;
        let p_tie = open(grant.clone()).await;
        let p_consent = open(json!({"kind": "resolution"})).await;
        let p_objected = open(json!({"kind": "resolution"})).await;
        // Quorum: 1 of 4 voted (25 % < 50 %), though unanimous.
        vote(&host, &a, p_quorum, "yes", "").await;
        // Tie: 1 yes 1 no and 1 abstention, 3 of 4 voted: quorum met, not
        // more than half: rejected.
        vote(&host, &a, p_tie, "yes", "").await;
        vote(&host, &b, p_tie, "no", "").await;
        vote(&host, &c, p_tie, "abstain", "").await;
        // Consent: an objection needs a reason.
        let (s, body) = vote(&host, &b, p_objected, "object", "  ").await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        vote(&host, &a, p_consent, "yes", "").await;
        vote(&host, &b, p_objected, "object", "we have not costed it").await;
        host.clock.advance(24 * HOUR);
        let admin = host.login("admin@gov.coop").await;
        // The first tick closes the votes; the passed resolution takes
        // effect at once and is applied on the next tick.
        host.app.run_jobs_once("test-host").await.unwrap();
        host.app.run_jobs_once("test-host").await.unwrap();
        let status = |id: i64| {
            let (host, admin) = (&host, admin.clone());
            async move {
                let (_, body) = host
                    .request(
                        Method::GET,
                        &format!("/v1/coops/gov/proposals/{id}"),
                        Some(&admin),
                        None,
                    )
                    .await;
                body["proposal"].clone()
            }
        };
        let q = status(p_quorum).await;
        assert_eq!(q["status"], "rejected", "{q}");
        assert_eq!(q["tally"]["quorum_met"], false, "{q}");
        assert!(
            q["tally"]["explanation"]
                .as_str()
                .unwrap()
                .contains("quorum"),
            "{q}"
        );
        let t = status(p_tie).await;
        assert_eq!(
            (
                t["status"].as_str(),
                t["tally"]["yes"].as_u64(),
                t["tally"]["no"].as_u64(),
                t["tally"]["abstain"].as_u64(),
                t["tally"]["quorum_met"].as_bool()
            ),
            (Some("rejected"), Some(1), Some(1), Some(1), Some(true)),
            "{t}"
        );
        assert_eq!(status(p_consent).await["status"], "applied");
        let o = status(p_objected).await;
        assert_eq!(o["status"], "rejected", "{o}");
        assert_eq!(
            o["tally"]["objections"][0]["reason"],
            "we have not costed it"
        );
        // The role was not granted.
        let m = identity::get_member(&host.app.db, coop_id, a_id)
            .await
            .unwrap();
        assert!(
            !m.roles.contains(&"dispatcher".to_string()),
            "{:?}",
            m.roles
        );
        host.finish().await;
    }
}

/// Terms of service: published with at least the coop's notice, in effect
/// only when it ends, with a diff, announced in the inbox (read and
/// unread, and live as server-sent events), accepted by members.
#[tokio::test]
async fn terms_take_effect_after_notice_and_the_inbox_streams_them() {
    use axum::body::Body;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    for backend in backends().await {
        let host = TestHost::new(backend).await;
        host.coop("gov").await;
        let admin = member(&host, "gov", "admin@gov.coop", &["admin", "member"], "x").await;
        let ana = member(&host, "gov", "ana@gov.coop", &["worker", "member"], "x").await;
        let t0 = host.clock.now_ms();

        // Ana listens to her inbox live.
        let req = axum::http::Request::builder()
            .uri("/v1/coops/gov/notifications/stream")
            .header("authorization", format!("Bearer {ana}"))
            .body(Body::empty())
            .unwrap();
        let resp = coophost::api::router(host.app.clone())
            .oneshot(req)
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()["content-type"], "text/event-stream");
        let mut stream = resp.into_body();

        // A notice shorter than 15 days is refused.
        let (_, current) = host
            .request(
                Method::GET,
                "/v1/coops/gov/governance/rules",
                Some(&admin),
                None,
            )
            .await;
        let mut rules = current["rules"].clone();
        rules["terms_notice_days"] = json!(10);
        let (s, body) = host
            .request(
                Method::PUT,
                "/v1/coops/gov/governance/rules",
                Some(&admin),
                Some(json!({"rules": rules, "reason": "shorter notice"})),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("15 days"),
            "{body}"
        );

        let v1 = "1. Pay weekly.\n2. Appeals within 30 days.";
        let (s, body) = host
            .request(
                Method::POST,
                "/v1/coops/gov/terms",
                Some(&admin),
                Some(json!({"text": v1, "reason": "founding terms"})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        assert_eq!(body["version"]["effective_at"], t0 + 15 * 24 * HOUR);
        // A worker cannot publish terms.
        let (s, _) = host
            .request(
                Method::POST,
                "/v1/coops/gov/terms",
                Some(&ana),
                Some(json!({"text": "x", "reason": "y"})),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN);

        // The stream delivers the announcement.
        let frame = tokio::time::timeout(std::time::Duration::from_secs(10), async {
            loop {
                let f = stream.frame().await.expect("stream open").expect("frame");
                if let Some(data) = f.data_ref() {
                    let text = String::from_utf8_lossy(data).to_string();
                    if text.contains("event: notification") {
                        return text;
                    }
                }
            }
        })
        .await
        .expect("a notification within 10 s");
        assert!(frame.contains("terms.published"), "{frame}");

        // Pending, not in effect; Ana accepts.
        let (_, terms) = host
            .request(Method::GET, "/v1/coops/gov/terms", Some(&ana), None)
            .await;
        assert_eq!(terms["in_effect"], Value::Null, "{terms}");
        assert_eq!(terms["pending"][0]["version"], 1);
        assert_eq!(
            terms["pending"][0]["diff"],
            "+ 1. Pay weekly.\n+ 2. Appeals within 30 days.\n"
        );
        let (s, _) = host
            .request(
                Method::POST,
                "/v1/coops/gov/terms/1/accept",
                Some(&ana),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        let (s, _) = host
            .request(
                Method::POST,
                "/v1/coops/gov/terms/9/accept",
                Some(&ana),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND);

        // A longer notice: 30 days.
        rules["terms_notice_days"] = json!(30);
        let (s, body) = host
            .request(
                Method::PUT,
                "/v1/coops/gov/governance/rules",
                Some(&admin),
                Some(json!({"rules": rules, "reason": "longer notice"})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let v2 = "1. Pay weekly.\n2. Appeals within 60 days.";
        let (s, body) = host
            .request(
                Method::POST,
                "/v1/coops/gov/terms",
                Some(&admin),
                Some(json!({"text": v2, "reason": "longer appeals"})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        assert_eq!(body["version"]["effective_at"], t0 + 30 * 24 * HOUR);
        assert_eq!(
            body["version"]["diff"],
            "  1. Pay weekly.\n- 2. Appeals within 30 days.\n+ 2. Appeals within 60 days.\n"
        );

        // Day 16: version 1 in effect, version 2 still pending.
        host.clock.set(t0 + 16 * 24 * HOUR);
        let ana = host.login("ana@gov.coop").await;
        let (_, terms) = host
            .request(Method::GET, "/v1/coops/gov/terms", Some(&ana), None)
            .await;
        assert_eq!(terms["in_effect"]["version"], 1, "{terms}");
        assert_eq!(terms["pending"].as_array().unwrap().len(), 1);
        assert_eq!(terms["pending"][0]["version"], 2);
        assert_eq!(terms["accepted"][0]["version"], 1);

        // Inbox: two announcements, unread until marked.
        let (_, inbox) = host
            .request(
                Method::GET,
                "/v1/coops/gov/notifications?unread=true",
                Some(&ana),
                None,
            )
            .await;
        let unread = inbox["notifications"].as_array().unwrap();
        assert_eq!(unread.len(), 2, "{inbox}");
        let first = unread[1]["id"].as_i64().unwrap();
        let (_, marked) = host
            .request(
                Method::POST,
                "/v1/coops/gov/notifications/read",
                Some(&ana),
                Some(json!({"ids": [first]})),
            )
            .await;
        assert_eq!(marked["marked"], 1);
        let (_, inbox) = host
            .request(
                Method::GET,
                "/v1/coops/gov/notifications?unread=true",
                Some(&ana),
                None,
            )
            .await;
        assert_eq!(inbox["notifications"].as_array().unwrap().len(), 1);
        host.request(
            Method::POST,
            "/v1/coops/gov/notifications/read",
            Some(&ana),
            Some(json!({})),
        )
        .await;
        let (_, inbox) = host
            .request(Method::GET, "/v1/coops/gov/notifications", Some(&ana), None)
            .await;
        assert!(
            inbox["notifications"]
                .as_array()
                .unwrap()
                .iter()
                .all(|n| n["read"] == true),
            "{inbox}"
        );
        drop(stream);
        host.finish().await;
    }
}

/// Joining by invitation and by application, shares bought through the
/// ledger and refunded on leaving, and a dated status history.
#[tokio::test]
async fn members_join_buy_shares_and_leave_with_a_refund() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let coop = host.coop("gov").await;
        let admin = member(
            &host,
            "gov",
            "admin@gov.coop",
            &["admin", "member"],
            "workers",
        )
        .await;
        // 20.00 EUR shares; colleges so applications name one.
        let (_, current) = host
            .request(
                Method::GET,
                "/v1/coops/gov/governance/rules",
                Some(&admin),
                None,
            )
            .await;
        let mut rules = current["rules"].clone();
        rules["colleges"] =
            json!([{"name": "workers", "weight_bp": 5000}, {"name": "users", "weight_bp": 5000}]);
        rules["membership"] = json!({"applications": true, "share_nominal": 2000,
            "share_currency": "EUR", "refund_on_leave": true});
        let (s, body) = host
            .request(
                Method::PUT,
                "/v1/coops/gov/governance/rules",
                Some(&admin),
                Some(json!({"rules": rules, "reason": "statutes"})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");

        // Invitation: the token is the credential, once.
        let (s, body) = host
            .request(Method::POST, "/v1/coops/gov/invitations", Some(&admin),
                Some(json!({"email": "Rider@Gov.coop", "display_name": "Rider", "roles": ["worker", "member"],
                    "college": "workers"})))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        // The token is mailed to the invitee (here: read from the outbox).
        let token = crate::mailbox::outbox_token(&host, "rider@gov.coop", "/invitation/gov").await;
        let (s, body) = host
            .request(
                Method::POST,
                "/v1/coops/gov/invitations/accept",
                None,
                Some(json!({"token": "inv_wrong", "password": "a long enough password"})),
            )
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{body}");
        let (s, body) = host
            .request(
                Method::POST,
                "/v1/coops/gov/invitations/accept",
                None,
                Some(json!({"token": token, "password": "a long enough password"})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        assert_eq!(body["member"]["college"], "workers");
        let (s, _) = host
            .request(
                Method::POST,
                "/v1/coops/gov/invitations/accept",
                None,
                Some(json!({"token": token, "password": "a long enough password"})),
            )
            .await;
        assert_eq!(s, StatusCode::CONFLICT, "an invitation is used once");

        // Application to a college that does not exist, then a real one.
        let (s, body) = host
            .request(
                Method::POST,
                "/v1/coops/gov/applications",
                None,
                Some(
                    json!({"email": "neighbour@gov.coop", "display_name": "Neighbour",
                    "password": "correct horse battery staple", "college": "martians"}),
                ),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let (s, body) = host
            .request(Method::POST, "/v1/coops/gov/applications", None,
                Some(json!({"email": "neighbour@gov.coop", "display_name": "Neighbour",
                    "password": "correct horse battery staple", "college": "users", "message": "I order weekly"})))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        let app_id = body["application"]["id"].as_i64().unwrap();
        confirm_address(&host, "neighbour@gov.coop").await;
        let (s, _) = host.login_status("neighbour@gov.coop", "gov").await;
        assert_eq!(s, StatusCode::FORBIDDEN, "not a member before approval");
        let (s, body) = host
            .request(
                Method::POST,
                &format!("/v1/coops/gov/applications/{app_id}/approve"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert_eq!(body["request"]["status"], "accepted");
        let neighbour_id = body["request"]["member_id"].as_i64().unwrap();
        let neighbour = host.login("neighbour@gov.coop").await;
        // Plugins read membership by college and status.
        host.install(&coop, "test-misbehave").await;
        let college_size = |college: &'static str| {
            let (host, token) = (&host, admin.clone());
            async move {
                let (s, b) = host
                    .call(
                        "gov",
                        Some(&token),
                        "coop:test-misbehave/misbehave",
                        "college-size",
                        json!({"college": college}),
                    )
                    .await;
                assert_eq!(s, StatusCode::OK, "{b}");
                b["result"]["ok"].as_u64().unwrap()
            }
        };
        assert_eq!(
            (college_size("users").await, college_size("workers").await),
            (1, 2)
        );

        // Two shares, once per payment reference.
        for _ in 0..2 {
            let (s, body) = host
                .request(
                    Method::POST,
                    "/v1/coops/gov/me/shares",
                    Some(&neighbour),
                    Some(json!({"count": 2, "payment_ref": "sepa-2026-001"})),
                )
                .await;
            assert_eq!(s, StatusCode::OK, "{body}");
            assert_eq!(body["shares"]["shares"], 2, "{body}");
        }
        let shares = coophost::ledger::account::AccountKind::ShareCapital;
        let eur = coophost::ledger::money::Currency::EUR;
        let bal = |k: coophost::ledger::account::AccountKind| {
            let db = host.app.db.clone();
            async move {
                coophost::ledger::repo::balance(&db, coop.id, &k, &eur)
                    .await
                    .unwrap()
            }
        };
        assert_eq!(bal(shares.clone()).await, 4_000);

        // A member cannot suspend another; they can leave, refunded.
        let (s, _) = host
            .request(
                Method::PUT,
                &format!("/v1/coops/gov/members/{}/status", neighbour_id - 1),
                Some(&neighbour),
                Some(json!({"status": "suspended", "reason": "no"})),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, body) = host
            .request(
                Method::PUT,
                &format!("/v1/coops/gov/members/{neighbour_id}/status"),
                Some(&neighbour),
                Some(json!({"status": "left", "reason": "moving away"})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert_eq!(body["shares_refunded"], 4_000);
        assert_eq!(
            college_size("users").await,
            0,
            "left members are not active"
        );
        assert_eq!(bal(shares).await, 0);
        assert_eq!(
            bal(coophost::ledger::account::AccountKind::MemberWallet(
                neighbour_id
            ))
            .await,
            4_000
        );
        let (_, hist) = host
            .request(
                Method::GET,
                &format!("/v1/coops/gov/members/{neighbour_id}/status"),
                Some(&admin),
                None,
            )
            .await;
        let statuses: Vec<&str> = hist["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["status"].as_str().unwrap())
            .collect();
        assert_eq!(statuses, ["active", "left"], "{hist}");
        assert_eq!(hist["history"][1]["reason"], "moving away");
        let (_, v) = host
            .request(
                Method::GET,
                "/v1/coops/gov/decisions/verify",
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(v["verification"]["ok"], true, "{v}");
        coophost::ledger::repo::sum_check(&host.app.db, coop.id)
            .await
            .unwrap();
        host.finish().await;
    }
}

/// The events outbox reaches plugins that export coop:host/subscriber:
/// only committed events, only subscribed topics (plus their own
/// config.changed), in order, once; a failing handler is retried and the
/// event skipped after five failures.
#[tokio::test]
async fn events_reach_subscribing_plugins_after_commit() {
    const IFACE: &str = "coop:test-misbehave/misbehave";
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let coop = host.coop("gov").await;
        host.install(&coop, "test-misbehave").await;
        let admin = member(&host, "gov", "admin@gov.coop", &["admin", "member"], "x").await;
        let received = || {
            let db = host.app.db.clone();
            async move {
                let rows = sqlx::query(
                    "SELECT value FROM kv WHERE plugin = 'test-misbehave' AND key LIKE 'event/%' ORDER BY key",
                )
                .fetch_all(&db.pool)
                .await
                .unwrap();
                rows.iter()
                    .map(|r| {
                        use sqlx::Row;
                        String::from_utf8(r.get::<Vec<u8>, _>(0)).unwrap()
                    })
                    .collect::<Vec<_>>()
            }
        };
        // Committed, subscribed: delivered. Trapped: never. Unsubscribed: not.
        for (topic, trap) in [
            ("test.one", false),
            ("test.lost", true),
            ("other.topic", false),
        ] {
            host.call(
                "gov",
                Some(&admin),
                IFACE,
                "emit",
                json!({"topic": topic, "trap": trap}),
            )
            .await;
        }
        // Governance (here a direct change) sets its configuration.
        let (s, body) = host
            .request(
                Method::PUT,
                "/v1/coops/gov/plugins/test-misbehave/config/rate",
                Some(&admin),
                Some(json!({"value": 7})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        host.app.run_jobs_once("test-host").await.unwrap();
        let got = received().await;
        assert_eq!(got.len(), 2, "{backend:?}: {got:?}");
        assert_eq!(got[0], "test-misbehave|test.one|{\"n\":1}");
        assert!(got[1].starts_with("coophost|config.changed|"), "{got:?}");
        assert!(got[1].contains("\"value\":7"), "{got:?}");
        // Nothing is delivered twice.
        host.app.run_jobs_once("test-host").await.unwrap();
        assert_eq!(received().await.len(), 2);

        // A handler that fails is retried with back-off, then the event is
        // skipped and recorded; later events still arrive.
        for topic in ["test.fail", "test.after"] {
            host.call(
                "gov",
                Some(&admin),
                IFACE,
                "emit",
                json!({"topic": topic, "trap": false}),
            )
            .await;
        }
        for _ in 0..6 {
            host.app.run_jobs_once("test-host").await.unwrap();
            host.clock.advance(60_000);
        }
        let admin = host.login("admin@gov.coop").await;
        let _ = admin;
        let got = received().await;
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(got[2], "test-misbehave|test.after|{\"n\":1}");
        let plugin_id = coophost::plugins::get(&host.app.db, coop.id, "test-misbehave")
            .await
            .unwrap()
            .id;
        let dead = coophost::events::delivery::dead_letters(&host.app, plugin_id)
            .await
            .unwrap();
        assert_eq!(dead.len(), 1, "{dead:?}");
        assert!(dead[0].1.contains("refuses test.fail"), "{dead:?}");
        host.finish().await;
    }
}

/// A plugin is installed and later removed by the members' vote: the
/// component is staged first (any size up to 64 MiB, refused if it is not
/// a component), the proposal names it by SHA-256 with its manifest.
#[tokio::test]
async fn members_vote_a_plugin_in_and_out() {
    use axum::body::Body;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    for backend in backends().await {
        let host = TestHost::new(backend).await;
        host.coop("gov").await;
        let admin = member(&host, "gov", "admin@gov.coop", &["admin", "member"], "x").await;
        let ana = member(&host, "gov", "ana@gov.coop", &["member"], "x").await;
        let rules = json!({
            "college_bounds": {"min_bp": 1000, "max_bp": 5000}, "colleges": [], "kinds": {},
            "default_vote": {"vote": {"method": "one-member-one-vote", "quorum_bp": 5000, "threshold_bp": 5000},
                "min_window_hours": 24, "min_delay_hours": 0},
            "admins_may": []
        });
        let (s, body) = host
            .request(
                Method::PUT,
                "/v1/coops/gov/governance/rules",
                Some(&admin),
                Some(json!({"rules": rules, "reason": "plugins by vote"})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        // Staging is for admins (issue 16); installing is still the vote's.
        let stage = |bytes: Vec<u8>| {
            let (app, token) = (host.app.clone(), admin.clone());
            async move {
                let req = axum::http::Request::builder()
                    .method("POST")
                    .uri("/v1/coops/gov/components")
                    .header("authorization", format!("Bearer {token}"))
                    .header("content-type", "application/wasm")
                    .body(Body::from(bytes))
                    .unwrap();
                let resp = coophost::api::router(app).oneshot(req).await.unwrap();
                let status = resp.status();
                let body = resp.into_body().collect().await.unwrap().to_bytes();
                (
                    status,
                    serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null),
                )
            }
        };
        let (s, body) = stage(b"not wasm at all".to_vec()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        // 18 MB: above the 1 MiB JSON limit, within the component limit.
        let (py, _) = crate::common::component("shift-board-py");
        let (s, body) = stage(py).await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        let (bytes, manifest) = crate::common::component("shift-board-rs");
        let (s, body) = stage(bytes).await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        let sha = body["sha256"].as_str().unwrap().to_string();
        assert!(
            body["requested_capabilities"]
                .as_array()
                .unwrap()
                .contains(&json!("store")),
            "{body}"
        );

        let open = |change: Value| {
            let (host, token) = (&host, ana.clone());
            async move {
                let (s, body) = host
                    .request(
                        Method::POST,
                        "/v1/coops/gov/proposals",
                        Some(&token),
                        Some(json!({"title": "shift board", "change": change})),
                    )
                    .await;
                assert_eq!(s, StatusCode::CREATED, "{body}");
                body["proposal"]["id"].as_i64().unwrap()
            }
        };
        // A proposal naming a component nobody staged is refused.
        let (s, body) = host
            .request(
                Method::POST,
                "/v1/coops/gov/proposals",
                Some(&ana),
                Some(
                    json!({"title": "x", "change": {"kind": "install-plugin", "sha256": "00",
                    "manifest": manifest}}),
                ),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let install = open(
            json!({"kind": "install-plugin", "sha256": sha, "manifest": manifest,
            "grants": ["identity", "membership", "store", "config", "log"]}),
        )
        .await;
        for token in [&admin, &ana] {
            let (s, b) = vote(&host, token, install, "yes", "").await;
            assert_eq!(s, StatusCode::OK, "{b}");
        }
        host.clock.advance(24 * HOUR);
        for _ in 0..2 {
            host.app.run_jobs_once("test-host").await.unwrap();
        }
        let admin = host.login("admin@gov.coop").await;
        let ana = host.login("ana@gov.coop").await;
        let (_, p) = host
            .request(
                Method::GET,
                &format!("/v1/coops/gov/proposals/{install}"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(p["proposal"]["status"], "applied", "{backend:?}: {p}");
        let (s, plugin) = host
            .request(
                Method::GET,
                "/v1/coops/gov/plugins/shift-board-rs",
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{plugin}");
        assert_eq!(plugin["plugin"]["sha256"], sha.as_str());

        let remove = {
            let (s, body) = host
                .request(Method::POST, "/v1/coops/gov/proposals", Some(&ana),
                    Some(json!({"title": "remove it", "change": {"kind": "remove-plugin", "name": "shift-board-rs"}})))
                .await;
            assert_eq!(s, StatusCode::CREATED, "{body}");
            body["proposal"]["id"].as_i64().unwrap()
        };
        for token in [&admin, &ana] {
            vote(&host, token, remove, "yes", "").await;
        }
        host.clock.advance(24 * HOUR);
        for _ in 0..2 {
            host.app.run_jobs_once("test-host").await.unwrap();
        }
        let admin = host.login("admin@gov.coop").await;
        let (s, _) = host
            .request(
                Method::GET,
                "/v1/coops/gov/plugins/shift-board-rs",
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{backend:?}: removed by vote");
        host.finish().await;
    }
}

/// Where the rules say so, an application is decided by the members'
/// vote, not by an admin; and an admin cannot hand out roles outside
/// governance.
#[tokio::test]
async fn applications_put_to_a_vote_and_roles_only_by_governance() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        host.coop("gov").await;
        let admin = member(&host, "gov", "admin@gov.coop", &["admin", "member"], "x").await;
        let (_, current) = host
            .request(
                Method::GET,
                "/v1/coops/gov/governance/rules",
                Some(&admin),
                None,
            )
            .await;
        let mut rules = current["rules"].clone();
        rules["membership"]["approval"] = json!("vote");
        rules["admins_may"] = json!([]);
        let (s, body) = host
            .request(
                Method::PUT,
                "/v1/coops/gov/governance/rules",
                Some(&admin),
                Some(json!({"rules": rules, "reason": "members admit members"})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        // Adding someone as an admin is a grant-role decision now.
        let (s, body) = host
            .request(
                Method::POST,
                "/v1/coops/gov/members",
                Some(&admin),
                Some(json!({"email": "boss@gov.coop", "display_name": "Boss",
                    "password": "correct horse battery staple", "roles": ["admin"]})),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{body}");

        let (s, body) = host
            .request(
                Method::POST,
                "/v1/coops/gov/applications",
                None,
                Some(
                    json!({"email": "neighbour@gov.coop", "display_name": "Neighbour",
                    "password": "correct horse battery staple", "message": "I order weekly"}),
                ),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        let app_id = body["application"]["id"].as_i64().unwrap();
        confirm_address(&host, "neighbour@gov.coop").await;
        let (s, body) = host
            .request(
                Method::POST,
                &format!("/v1/coops/gov/applications/{app_id}/approve"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
        let (_, list) = host
            .request(Method::GET, "/v1/coops/gov/proposals", Some(&admin), None)
            .await;
        let p = &list["proposals"][0];
        assert_eq!(p["kind"], "admit-member", "{list}");
        assert_eq!(p["title"], "Admit Neighbour");
        let pid = p["id"].as_i64().unwrap();
        let (s, b) = vote(&host, &admin, pid, "yes", "").await;
        assert_eq!(s, StatusCode::OK, "{b}");
        host.clock.advance(72 * HOUR);
        for _ in 0..2 {
            host.app.run_jobs_once("test-host").await.unwrap();
        }
        let (s, body) = host.login_status("neighbour@gov.coop", "gov").await;
        assert_eq!(s, StatusCode::OK, "{backend:?}: admitted by vote: {body}");
        host.finish().await;
    }
}
