//! The governance and plugin pages through the router, as a browser
//! without JavaScript uses them: voting and changing one's vote, the tally
//! per college after the close, opening proposals, the decision log, the
//! terms with their diff, the admins' plugin pages, and the demo coop's
//! governance history.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use coophost::identity::{self, NewMember};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::common::{TestHost, backends, component};
use crate::web::{Browser, csrf_of};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

/// Add a member in a college (the password `Browser::login` uses); returns
/// their API token.
async fn member_in(
    host: &TestHost,
    slug: &str,
    email: &str,
    roles: &[&str],
    college: &str,
) -> String {
    let coop = identity::find_coop(&host.app.db, slug).await.unwrap();
    identity::add_member(
        &host.app.db,
        &*host.app.clock,
        &coop,
        NewMember {
            email: email.into(),
            display_name: email.split('@').next().unwrap().into(),
            password: Some("correct horse battery staple".into()),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            college: Some(college.into()),
        },
    )
    .await
    .unwrap();
    host.login(email).await
}

/// A coop `gov` with colleges workers 50 %, users 30 %, founders 20 %;
/// votes weighted by college (quorum 20 %, more than 50 %), set-floor by
/// consent, 24-hour windows, nothing left to admins directly. Returns the
/// admin's token.
async fn scic(host: &TestHost) -> String {
    host.coop("gov").await;
    let admin = member_in(
        host,
        "gov",
        "admin@gov.coop",
        &["admin", "member"],
        "founders",
    )
    .await;
    for w in ["w1", "w2", "w3"] {
        member_in(
            host,
            "gov",
            &format!("{w}@gov.coop"),
            &["worker", "member"],
            "workers",
        )
        .await;
    }
    member_in(host, "gov", "u1@gov.coop", &["member"], "users").await;
    let weighted = json!({"method": "college-weighted", "quorum_bp": 2000, "threshold_bp": 5000});
    let consent = json!({"method": "consent", "quorum_bp": 2000, "threshold_bp": 0});
    let rules = json!({
        "college_bounds": {"min_bp": 1000, "max_bp": 5000},
        "colleges": [{"name": "workers", "weight_bp": 5000}, {"name": "users", "weight_bp": 3000},
            {"name": "founders", "weight_bp": 2000}],
        "kinds": {"set-floor": {"vote": consent, "min_window_hours": 24, "min_delay_hours": 0}},
        "default_vote": {"vote": weighted, "min_window_hours": 24, "min_delay_hours": 0},
        "admins_may": []
    });
    let (s, body) = host
        .request(
            Method::PUT,
            "/v1/coops/gov/governance/rules",
            Some(&admin),
            Some(json!({"rules": rules, "reason": "founding assembly"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    admin
}

async fn proposal(host: &TestHost, token: &str, id: i64) -> Value {
    let (s, body) = host
        .request(
            Method::GET,
            &format!("/v1/coops/gov/proposals/{id}"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    body
}

/// The proposal id a `.../proposals/{id}?done=...` redirect names.
fn proposal_id(location: Option<&str>) -> i64 {
    let l = location.expect("a redirect");
    let rest = &l[l.find("/proposals/").expect("a proposal page") + "/proposals/".len()..];
    rest[..rest.find('?').unwrap_or(rest.len())]
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_worker_votes_changes_the_vote_and_sees_the_tally_per_college() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let t0 = host.app.clock.now_ms();
        let admin = scic(&host).await;

        // The admin opens a resolution through the form.
        let mut a = Browser::new(&host);
        a.login("admin@gov.coop").await;
        let r = a
            .post(
                "/c/gov/governance/new",
                "/c/gov/governance/new",
                &[
                    ("title", "Buy a second cargo bike"),
                    (
                        "body",
                        "We share it between the couriers.\n\nPaid from the reserve.",
                    ),
                    ("kind", "resolution"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let id = proposal_id(r.location.as_deref());
        let page = a.get(r.location.as_deref().unwrap()).await;
        assert!(
            page.body.contains("The proposal is open for votes."),
            "{}",
            page.body
        );

        // A worker finds it among the open proposals.
        let mut b = Browser::new(&host);
        b.login("w1@gov.coop").await;
        let list = b.get("/c/gov/governance").await;
        assert_eq!(list.status, StatusCode::OK);
        assert!(
            list.body.contains("Buy a second cargo bike"),
            "{}",
            list.body
        );
        assert!(
            list.body
                .contains("A resolution: it is recorded; nothing else changes.")
        );
        let url = format!("/c/gov/governance/proposals/{id}");
        let vote_url = format!("{url}/vote");
        let page = b.get(&url).await;
        assert!(
            page.body.contains("You have not voted yet."),
            "{}",
            page.body
        );
        assert!(page.body.contains("<legend>Your choice</legend>"));
        assert!(page.body.contains("weighted by college"));

        // Bad input: a 422 in the visitor's language, nothing recorded.
        let r = b.post(&url, &vote_url, &[("choice", "maybe")]).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.body.contains("Choose yes, no or abstain."), "{}", r.body);
        b.accept_language = "fr".into();
        let r = b.post(&url, &vote_url, &[("choice", "")]).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            r.body.contains("Choisissez oui, non ou abstention."),
            "{}",
            r.body
        );
        b.accept_language = "en".into();
        let r = b
            .post(&url, &vote_url, &[("choice", "object"), ("reason", "no")])
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        // Without the CSRF token the vote is refused.
        let r = b.post_raw(&vote_url, &[("choice", "yes")]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert_eq!(proposal(&host, &admin, id).await["votes_cast"], 0);

        // A vote, then a change of mind before the close.
        let r = b.post(&url, &vote_url, &[("choice", "yes")]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert_eq!(
            r.location.as_deref(),
            Some(format!("{url}?done=voted").as_str())
        );
        let page = b.get(r.location.as_deref().unwrap()).await;
        assert!(page.body.contains("Your vote is recorded."));
        assert!(page.body.contains("You voted: Yes."), "{}", page.body);
        let r = b
            .post(
                &url,
                &vote_url,
                &[("choice", "no"), ("reason", "A trailer is enough")],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let page = b.get(&url).await;
        assert!(page.body.contains("You voted: No."), "{}", page.body);
        assert!(page.body.contains("A trailer is enough"));
        assert!(page.body.contains("Change my vote"));
        assert_eq!(proposal(&host, &admin, id).await["votes_cast"], 1);

        // The others vote through the API.
        for (email, choice) in [
            ("w2@gov.coop", "yes"),
            ("w3@gov.coop", "yes"),
            ("u1@gov.coop", "yes"),
            ("admin@gov.coop", "abstain"),
        ] {
            let token = host.login(email).await;
            let (s, body) = host
                .request(
                    Method::POST,
                    &format!("/v1/coops/gov/proposals/{id}/votes"),
                    Some(&token),
                    Some(json!({"choice": choice})),
                )
                .await;
            assert_eq!(s, StatusCode::OK, "{body}");
        }

        // The window closes and the scheduler counts.
        host.clock.set(t0 + 25 * HOUR);
        host.app.run_jobs_once("test-host").await.unwrap();
        let mut b = Browser::new(&host);
        b.login("w1@gov.coop").await;
        let page = b.get(&url).await;
        assert_eq!(page.status, StatusCode::OK);
        // By hand: workers 2 yes 1 no, a yes share of 2/3 (66.66 %); users
        // 1 yes, 100 %; founders only abstained, so they are left out and
        // the counted weights are rescaled to 50 + 30 = 80: workers
        // 50/80 = 62.50 %, users 30/80 = 37.50 %. Contributions: workers
        // 62.5 x 2/3 = 41.66 %, users 37.50 %; score (0.5 x 2/3 + 0.3) /
        // 0.8 = 79.16 % > 50 %: passed. Turnout 5 of 5, over the 20 %
        // quorum (1 vote).
        let row = |name: &str, cells: &[&str]| {
            let mut s = format!("<th scope=\"row\">{name}</th>");
            for c in cells {
                s.push_str(&format!("<td class=\"num\">{c}</td>"));
            }
            s
        };
        for expected in [
            row(
                "workers",
                &["50%", "62.50%", "3", "2", "1", "0", "66.66%", "41.66%"],
            ),
            row(
                "users",
                &["30%", "37.50%", "1", "1", "0", "0", "100%", "37.50%"],
            ),
            row(
                "founders",
                &["20%", "0%", "1", "0", "0", "1", "not counted", "0%"],
            ),
        ] {
            assert!(page.body.contains(&expected), "{expected} in {}", page.body);
        }
        assert!(page.body.contains("Passed"), "{}", page.body);
        assert!(page.body.contains("5 of 5 members voted"));
        assert!(
            page.body
                .contains("20% of the members: at least 1 must vote"),
            "{}",
            page.body
        );
        assert!(
            page.body.contains("79.16% (more than 50% was needed)"),
            "{}",
            page.body
        );
        assert!(
            page.body
                .contains("A recount from the recorded votes gives the same result.")
        );
        assert!(
            !page.body.contains("<legend>Your choice</legend>"),
            "no vote form once closed"
        );
        // The same tally as the API's.
        let p = proposal(&host, &host.login("w1@gov.coop").await, id).await;
        assert_eq!(p["proposal"]["tally"]["score_bp"], 7916, "{p}");
        // Voting after the close: the API's refusal, shown, not a crash.
        let r = b.post(&url, &vote_url, &[("choice", "yes")]).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
        assert!(
            r.body.contains("This conflicts with the current state:"),
            "{}",
            r.body
        );
        let list = b.get("/c/gov/governance").await;
        assert!(
            list.body.contains("No proposal is open for votes."),
            "{}",
            list.body
        );
        assert!(list.body.contains("passed"));
        host.finish().await;
    }
}

#[tokio::test]
async fn an_objection_under_consent_needs_a_reason() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let admin = scic(&host).await;
        let mut b = Browser::new(&host);
        b.login("w1@gov.coop").await;
        // A set-floor proposal through the form: voted by consent.
        let r = b
            .post(
                "/c/gov/governance/new",
                "/c/gov/governance/new",
                &[
                    ("title", "A higher floor"),
                    ("kind", "set-floor"),
                    ("per_hour", "12,50"),
                    ("currency", "eur"),
                    ("on_shortfall", "top-up"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let id = proposal_id(r.location.as_deref());
        let p = proposal(&host, &admin, id).await;
        assert_eq!(p["proposal"]["change"]["per_hour"], 1250, "{p}");
        assert_eq!(p["proposal"]["change"]["currency"], "EUR");
        let url = format!("/c/gov/governance/proposals/{id}");
        let page = b.get(&url).await;
        assert!(
            page.body
                .contains("Set the earnings floor to €12.50 per hour on shift."),
            "{}",
            page.body
        );
        assert!(page.body.contains("I object"));
        // A plain no is not a choice under consent; an objection needs a
        // reason.
        let r = b
            .post(&url, &format!("{url}/vote"), &[("choice", "no")])
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            r.body.contains("Choose to consent, abstain or object."),
            "{}",
            r.body
        );
        let r = b
            .post(
                &url,
                &format!("{url}/vote"),
                &[("choice", "object"), ("reason", "  ")],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.body.contains("An objection needs a reason"), "{}", r.body);
        assert!(r.body.contains("aria-invalid=\"true\""));
        assert_eq!(proposal(&host, &admin, id).await["votes_cast"], 0);
        let r = b
            .post(
                &url,
                &format!("{url}/vote"),
                &[
                    ("choice", "object"),
                    ("reason", "Let us first see the fund"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let page = b.get(&url).await;
        assert!(page.body.contains("You voted: I object."), "{}", page.body);
        host.finish().await;
    }
}

#[tokio::test]
async fn the_new_proposal_form_checks_every_kind() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let coop = host.coop("gov").await;
        host.install(&coop, "shift-board-rs").await;
        let admin = host
            .member(&coop, "admin@gov.coop", &["admin", "member"])
            .await;
        let mut b = Browser::new(&host);
        b.login("admin@gov.coop").await;
        let form = b.get("/c/gov/governance/new").await;
        assert_eq!(form.status, StatusCode::OK);
        // The settings of installed plugins are offered, with their value.
        assert!(
            form.body
                .contains("value=\"shift-board-rs/max-shifts-per-week\""),
            "{}",
            form.body
        );
        let new = "/c/gov/governance/new";
        let bad: &[(&[(&str, &str)], &str)] = &[
            (
                &[("title", ""), ("kind", "resolution")],
                "Give the proposal a title",
            ),
            (
                &[
                    ("title", "More shifts"),
                    ("kind", "set-config"),
                    ("param", "shift-board-rs/max-shifts-per-week"),
                    ("value", "five"),
                ],
                "it must be a whole number",
            ),
            (
                &[
                    ("title", "More shifts"),
                    ("kind", "set-config"),
                    ("param", "nope/nothing"),
                    ("value", "5"),
                ],
                "Choose the setting to change.",
            ),
            (
                &[
                    ("title", "Floor"),
                    ("kind", "set-floor"),
                    ("per_hour", "-3"),
                    ("currency", "EUR"),
                ],
                "positive amount",
            ),
            (
                &[
                    ("title", "Floor"),
                    ("kind", "set-floor"),
                    ("per_hour", "12"),
                    ("currency", "euro"),
                ],
                "three-letter code",
            ),
            (
                &[
                    ("title", "Raw"),
                    ("kind", "json"),
                    ("change", "{\"kind\": "),
                ],
                "not valid JSON",
            ),
            (
                &[
                    ("title", "Raw"),
                    ("kind", "json"),
                    ("change", "{\"kind\": \"abolish-money\"}"),
                ],
                "not one the coop can vote on",
            ),
            (
                &[
                    ("title", "Window"),
                    ("kind", "resolution"),
                    ("window_hours", "soon"),
                ],
                "whole number of hours",
            ),
            (
                &[("title", "Kind"), ("kind", "")],
                "Choose what the proposal changes.",
            ),
        ];
        for (fields, message) in bad {
            let r = b.post(new, new, fields).await;
            assert_eq!(
                r.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{fields:?}: {}",
                r.body
            );
            assert!(
                r.body.contains(message),
                "{fields:?}: {message} in {}",
                r.body
            );
            // The input comes back.
            if let Some((_, t)) = fields.iter().find(|(k, _)| *k == "title") {
                assert!(r.body.contains(&format!("value=\"{t}\"")), "{}", r.body);
            }
        }
        // The API's own refusal (a window shorter than the rules allow) is
        // shown on the form too.
        let r = b
            .post(
                new,
                new,
                &[
                    ("title", "Quick"),
                    ("kind", "resolution"),
                    ("window_hours", "2"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        assert!(r.body.contains("stay open at least 72 hours"), "{}", r.body);
        let (_, list) = host
            .request(Method::GET, "/v1/coops/gov/proposals", Some(&admin), None)
            .await;
        assert_eq!(
            list["proposals"].as_array().unwrap().len(),
            0,
            "nothing opened"
        );

        // A setting, and a role through the JSON field.
        let r = b
            .post(
                new,
                new,
                &[
                    ("title", "Five shifts a week"),
                    ("kind", "set-config"),
                    ("param", "shift-board-rs/max-shifts-per-week"),
                    ("value", "5"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let page = b.get(r.location.as_deref().unwrap()).await;
        assert!(
            page.body
                .contains("Set max-shifts-per-week of plugin shift-board-rs to 5."),
            "{}",
            page.body
        );
        assert!(page.body.contains("Its value now: 3."), "{}", page.body);
        let (_, me) = host
            .request(Method::GET, "/v1/coops/gov", Some(&admin), None)
            .await;
        let me_id = me["you"]["member_id"].as_i64().unwrap().to_string();
        let change =
            format!("{{\"kind\": \"grant-role\", \"member\": {me_id}, \"role\": \"dispatcher\"}}");
        let r = b
            .post(
                new,
                new,
                &[("title", "Dispatch"), ("kind", "json"), ("change", &change)],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let page = b.get(r.location.as_deref().unwrap()).await;
        assert!(
            page.body
                .contains(&format!("Give admin (member {me_id}) the role dispatcher.")),
            "{}",
            page.body
        );
        host.finish().await;
    }
}

#[tokio::test]
async fn the_decision_log_verifies_and_pending_terms_show_their_diff() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let coop = host.coop("gov").await;
        let admin = host
            .member(&coop, "admin@gov.coop", &["admin", "member"])
            .await;
        host.member(&coop, "w1@gov.coop", &["worker", "member"])
            .await;
        let publish = |token: String, text: &'static str| {
            let host = &host;
            async move {
                let (s, body) = host
                    .request(
                        Method::POST,
                        "/v1/coops/gov/terms",
                        Some(&token),
                        Some(json!({"text": text, "reason": "assembly"})),
                    )
                    .await;
                assert_eq!(s, StatusCode::CREATED, "{body}");
                body
            }
        };
        publish(admin, "1. Pay weekly.\n2. Appeals within 30 days.").await;
        host.clock.advance(16 * DAY);
        let admin = host.login("admin@gov.coop").await;
        let v2 = publish(
            admin,
            "1. Pay weekly.\n2. Appeals within 45 days.\n3. Data stays in the EU.",
        )
        .await;
        let effective = v2["version"]["effective_at"].as_i64().unwrap();

        let mut b = Browser::new(&host);
        b.login("w1@gov.coop").await;
        let page = b.get("/c/gov/governance/terms").await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(
            page.body.contains("Version 1, in effect since"),
            "{}",
            page.body
        );
        assert!(
            page.body
                .contains("<del>- 2. Appeals within 30 days.</del>"),
            "{}",
            page.body
        );
        assert!(
            page.body
                .contains("<ins>+ 2. Appeals within 45 days.</ins>")
        );
        assert!(page.body.contains("<ins>+ 3. Data stays in the EU.</ins>"));
        let civil = coophost::web::i18n::civil(effective);
        assert!(
            page.body
                .contains(&format!("{:04}-{:02}-{:02}", civil.0, civil.1, civil.2)),
            "the date it takes effect"
        );
        assert!(page.body.contains("Accept version 2"));
        // Accepting needs the form's token, then is recorded.
        let r = b.post_raw("/c/gov/governance/terms/2/accept", &[]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let r = b
            .post(
                "/c/gov/governance/terms",
                "/c/gov/governance/terms/two/accept",
                &[],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        let r = b
            .post(
                "/c/gov/governance/terms",
                "/c/gov/governance/terms/2/accept",
                &[],
            )
            .await;
        assert_eq!(
            r.location.as_deref(),
            Some("/c/gov/governance/terms?done=accepted")
        );
        let page = b.get("/c/gov/governance/terms?done=accepted").await;
        assert!(page.body.contains("Your acceptance is recorded."));
        assert!(!page.body.contains("Accept version 2"), "{}", page.body);
        let w1 = host.login("w1@gov.coop").await;
        let (_, terms) = host
            .request(Method::GET, "/v1/coops/gov/terms", Some(&w1), None)
            .await;
        assert_eq!(terms["accepted"][0]["version"], 2, "{terms}");

        // The decision log: both publications, and the chain verifies.
        let log = b.get("/c/gov/governance/decisions").await;
        assert_eq!(log.status, StatusCode::OK);
        assert!(
            log.body.contains("All 2 entries are intact"),
            "{}",
            log.body
        );
        assert!(
            log.body
                .contains("Direct change by an admin: Terms of service")
        );
        b.accept_language = "fr".into();
        let log = b.get("/c/gov/governance/decisions").await;
        assert!(
            log.body.contains("Les 2 entrées sont intactes"),
            "{}",
            log.body
        );
        host.finish().await;
    }
}

/// A raw request with a session cookie (for the multipart install form,
/// which `Browser` does not send).
async fn raw(
    host: &TestHost,
    token: &str,
    req: axum::http::request::Builder,
    body: Body,
) -> (StatusCode, Option<String>, String) {
    let req = req
        .header(header::COOKIE, format!("coophost_session={token}"))
        .header(header::ACCEPT_LANGUAGE, "en")
        .body(body)
        .unwrap();
    let resp = coophost::api::router(host.app.clone())
        .oneshot(req)
        .await
        .unwrap();
    let status = resp.status();
    let location = resp
        .headers()
        .get(header::LOCATION)
        .map(|l| l.to_str().unwrap().to_string());
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        location,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

fn multipart(boundary: &str, fields: &[(&str, &str)], file: Option<(&str, &[u8])>) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in fields {
        out.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    if let Some((name, bytes)) = file {
        out.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"c.wasm\"\r\nContent-Type: application/wasm\r\n\r\n"
            )
            .as_bytes(),
        );
        out.extend_from_slice(bytes);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    out
}

/// The shift board's limits in coop `gov`, as the API gives them.
async fn board_limits(host: &TestHost, admin: &str) -> Value {
    host.request(
        Method::GET,
        "/v1/coops/gov/plugins/shift-board-rs/limits",
        Some(admin),
        None,
    )
    .await
    .1
}

#[tokio::test]
async fn plugin_pages_are_for_admins_and_changes_go_through_governance() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let coop = host.coop("gov").await;
        host.install(&coop, "shift-board-rs").await;
        let admin = host
            .member(&coop, "admin@gov.coop", &["admin", "member"])
            .await;
        host.member(&coop, "w1@gov.coop", &["worker", "member"])
            .await;

        // Members who are not admins get a 403 page.
        let mut w = Browser::new(&host);
        w.login("w1@gov.coop").await;
        for path in [
            "/c/gov/plugins",
            "/c/gov/plugins/shift-board-rs",
            "/c/gov/plugins/install",
        ] {
            let r = w.get(path).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
            assert!(
                r.body.contains("Only the coop&#39;s admins")
                    || r.body.contains("Only the coop's admins"),
                "{}",
                r.body
            );
        }
        assert!(
            !w.get("/c/gov")
                .await
                .body
                .contains("href=\"/c/gov/plugins\"")
        );

        // The admin sees hash, capabilities asked for and granted, interfaces.
        let (_, d) = host
            .request(
                Method::GET,
                "/v1/coops/gov/plugins/shift-board-rs",
                Some(&admin),
                None,
            )
            .await;
        let sha = d["plugin"]["sha256"].as_str().unwrap().to_string();
        let mut b = Browser::new(&host);
        b.login("admin@gov.coop").await;
        let page = b.get("/c/gov/plugins").await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains(&sha), "{}", page.body);
        for cap in d["capabilities"]["requested"].as_array().unwrap() {
            let cap = cap.as_str().unwrap();
            assert!(
                page.body
                    .contains(&format!("<th scope=\"row\"><code>{cap}</code></th>")),
                "{cap} in {}",
                page.body
            );
        }
        assert!(
            page.body.contains("coop:examples/shift-board"),
            "{}",
            page.body
        );
        assert!(page.body.contains(d["plugin"]["licence"].as_str().unwrap()));
        assert!(page.body.contains("Not signed by a trusted publisher."));

        // Settings and limits; the bootstrap rules let admins set directly.
        let url = "/c/gov/plugins/shift-board-rs";
        let page = b.get(url).await;
        assert!(page.body.contains("max-shifts-per-week"), "{}", page.body);
        assert!(page.body.contains("Time per call (ms)"));
        assert!(page.body.contains("Change now"));
        let r = b
            .post(
                url,
                &format!("{url}/config"),
                &[("param", "max-shifts-per-week"), ("value", "many")],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            r.body.contains("does not fit the setting&#39;s type")
                || r.body.contains("does not fit the setting's type"),
            "{}",
            r.body
        );
        let r = b
            .post(
                url,
                &format!("{url}/config"),
                &[("param", "max-shifts-per-week"), ("value", "4")],
            )
            .await;
        assert_eq!(
            r.location.as_deref(),
            Some("/c/gov/plugins/shift-board-rs?done=config"),
            "{}",
            r.body
        );
        let (_, c) = host
            .request(
                Method::GET,
                "/v1/coops/gov/plugins/shift-board-rs/config",
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(c["config"]["max-shifts-per-week"], 4, "{c}");

        // Limits: an admin's change, as in the API. Bad fields come back
        // with their errors and change nothing.
        let limits_url = format!("{url}/limits");
        let page = b.get(url).await;
        assert!(page.body.contains("Change the limits"), "{}", page.body);
        assert!(page.body.contains("name=\"limit-deadline_ms\""));
        let r = b
            .post(
                url,
                &limits_url,
                &[("limit-deadline_ms", "soon"), ("limit-host_calls", "0")],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        assert!(
            r.body
                .contains("Time per call (ms): give a whole number above zero"),
            "{}",
            r.body
        );
        assert!(r.body.contains("Host calls per call: give a whole number"));
        assert!(
            r.body
                .contains("aria-describedby=\"f-limit-deadline_ms-error\""),
            "{}",
            r.body
        );
        assert!(r.body.contains("value=\"soon\""), "the input is kept");
        assert_eq!(board_limits(&host, &admin).await["overrides"], json!({}));
        let too_much = (coophost::runtime::limits::MAX_MEMORY_BYTES + 1).to_string();
        let r = b
            .post(
                url,
                &limits_url,
                &[("limit-memory_bytes", too_much.as_str())],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        assert!(r.body.contains("at most"), "{}", r.body);
        assert!(
            r.body
                .contains("aria-describedby=\"f-limit-memory_bytes-error\""),
            "the refusal is tied to the memory field: {}",
            r.body
        );
        assert_eq!(board_limits(&host, &admin).await["overrides"], json!({}));
        let r = b
            .post(
                url,
                &limits_url,
                &[("limit-deadline_ms", "2000"), ("limit-store_keys", "")],
            )
            .await;
        assert_eq!(
            r.location.as_deref(),
            Some("/c/gov/plugins/shift-board-rs?done=limits"),
            "{}",
            r.body
        );
        let l = board_limits(&host, &admin).await;
        assert_eq!(l["overrides"], json!({"deadline_ms": 2000}), "{l}");
        assert_eq!(l["limits"]["deadline_ms"], 2000, "{l}");
        let page = b.get("/c/gov/plugins/shift-board-rs?done=limits").await;
        assert!(page.body.contains("The limits are changed"));
        assert!(
            page.body
                .contains("name=\"limit-deadline_ms\" type=\"number\" value=\"2000\""),
            "{}",
            page.body
        );
        // Emptied fields go back to the host's defaults.
        let r = b.post(url, &limits_url, &[("limit-deadline_ms", "")]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert_eq!(board_limits(&host, &admin).await["overrides"], json!({}));

        // Rollback and removal are proposals.
        let r = b
            .post(url, &format!("{url}/propose"), &[("title", "")])
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            r.body
                .contains("Choose whether to propose a rollback or a removal.")
        );
        let r = b
            .post(
                url,
                &format!("{url}/propose"),
                &[
                    ("action", "remove"),
                    ("reason", "We use another board now."),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let page = b.get(r.location.as_deref().unwrap()).await;
        assert!(
            page.body
                .contains("Remove plugin shift-board-rs; its data is kept."),
            "{}",
            page.body
        );
        assert!(
            b.get("/c/gov/plugins")
                .await
                .body
                .contains("Plugin changes under vote")
        );

        // Once the rules put settings to a vote, the same form proposes.
        let mut rules = host
            .request(
                Method::GET,
                "/v1/coops/gov/governance/rules",
                Some(&admin),
                None,
            )
            .await
            .1["rules"]
            .clone();
        rules["admins_may"] = json!([]);
        let (s, body) = host
            .request(
                Method::PUT,
                "/v1/coops/gov/governance/rules",
                Some(&admin),
                Some(json!({"rules": rules, "reason": "assembly"})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let page = b.get(url).await;
        assert!(page.body.contains("Propose this change"), "{}", page.body);
        let r = b
            .post(
                url,
                &format!("{url}/config"),
                &[("param", "max-shifts-per-week"), ("value", "6")],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert!(
            r.location
                .as_deref()
                .unwrap()
                .contains("/governance/proposals/")
        );
        let page = b.get(r.location.as_deref().unwrap()).await;
        assert!(
            page.body
                .contains("Set max-shifts-per-week of plugin shift-board-rs to 6."),
            "{}",
            page.body
        );

        // An install: the component uploaded with its manifest.
        let form = raw(
            &host,
            &admin,
            Request::builder().uri("/c/gov/plugins/install"),
            Body::empty(),
        )
        .await;
        assert_eq!(form.0, StatusCode::OK, "{}", form.2);
        assert!(form.2.contains("enctype=\"multipart/form-data\""));
        let token = csrf_of(&form.2);
        let (wasm, manifest) = component("test-kinds");
        let boundary = "coophost-test-boundary";
        let post = |body: Vec<u8>| {
            Request::builder()
                .method(Method::POST)
                .uri("/c/gov/plugins/install")
                .header(
                    header::CONTENT_TYPE,
                    format!("multipart/form-data; boundary={boundary}"),
                )
                .body(Body::from(body))
        };
        let send = |body: Vec<u8>| {
            let req = post(body).unwrap();
            let (parts, body) = req.into_parts();
            let mut builder = Request::builder().method(parts.method).uri(parts.uri);
            for (k, v) in &parts.headers {
                builder = builder.header(k, v);
            }
            raw(&host, &admin, builder, body)
        };
        // No token: refused.
        let (s, _, _) = send(multipart(
            boundary,
            &[("manifest", &manifest), ("grants_mode", "all")],
            Some(("component", &wasm)),
        ))
        .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        // No file and no hash: the form again, with the message.
        let (s, _, body) = send(multipart(
            boundary,
            &[
                ("_csrf", &token),
                ("manifest", &manifest),
                ("grants_mode", "all"),
            ],
            None,
        ))
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body.contains("Choose the component file"), "{body}");
        // Not a component: the API's inspection refuses it.
        let (s, _, body) = send(multipart(
            boundary,
            &[
                ("_csrf", &token),
                ("manifest", &manifest),
                ("grants_mode", "all"),
            ],
            Some(("component", b"not wasm")),
        ))
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(body.contains("not a usable component"), "{body}");
        // A good file but no manifest: the form again, with the file
        // kept (its hash filled in) so it need not be chosen again.
        let (s, _, body) = send(multipart(
            boundary,
            &[("_csrf", &token), ("grants_mode", "all")],
            Some(("component", &wasm)),
        ))
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(body.contains("Paste the plugin"), "{body}");
        assert!(body.contains("was received and kept"), "{body}");
        assert!(
            body.contains(&format!(
                "value=\"{}\"",
                coophost::plugins::sha256_hex(&wasm)
            )),
            "{body}"
        );
        let (s, location, body) = send(multipart(
            boundary,
            &[
                ("_csrf", &token),
                ("manifest", &manifest),
                ("grants_mode", "all"),
                ("ungranted", "refuse"),
            ],
            Some(("component", &wasm)),
        ))
        .await;
        assert_eq!(s, StatusCode::SEE_OTHER, "{body}");
        let page = b.get(location.as_deref().unwrap()).await;
        let sha = coophost::plugins::sha256_hex(&wasm);
        assert!(page.body.contains(&sha), "{}", page.body);
        assert!(
            page.body.contains("Install plugin test-kinds"),
            "{}",
            page.body
        );
        assert!(
            page.body
                .contains("It gets every host capability it asks for.")
        );
        // The staged hash works on its own too.
        let (s, _, body) = send(multipart(
            boundary,
            &[
                ("_csrf", &token),
                ("sha256", &sha),
                ("manifest", &manifest),
                ("grants_mode", "only"),
                ("grant", "store"),
            ],
            None,
        ))
        .await;
        assert_eq!(s, StatusCode::SEE_OTHER, "{body}");
        host.finish().await;
    }
}

/// Seed the demo with only the delivery coop's component, so only `velo`
/// is created.
async fn seed_velo_demo(host: &TestHost) {
    let dir = tempfile::tempdir().unwrap();
    let (wasm, manifest) = component("bike-delivery");
    std::fs::write(dir.path().join("bike-delivery.wasm"), wasm).unwrap();
    std::fs::write(dir.path().join("bike-delivery.toml"), manifest).unwrap();
    coophost::demo::seed(&host.app, dir.path()).await.unwrap();
}

/// The demo's pay history depends on the day it is seeded: on any of a
/// year's worth of start dates, the last whole month has its floor run,
/// with the busy courier above the floor and the quiet one topped up, and
/// the books balance.
#[tokio::test]
async fn the_demo_pay_history_holds_on_any_start_date() {
    for days in [0, 23, 51, 97, 130, 164, 199, 246, 281, 330] {
        let host = TestHost::new(crate::common::Backend::Sqlite).await;
        host.clock.advance(days * DAY);
        seed_velo_demo(&host).await;
        let now = host.app.clock.now_ms();
        let db = &host.app.db;
        let coop = identity::find_coop(db, "velo").await.unwrap();
        let members = identity::list_members(db, coop.id).await.unwrap();
        let id = |email: &str| members.iter().find(|m| m.email == email).unwrap().id;
        let last = coophost::ledger::period::Month::containing(now).previous();
        let floor = coophost::payments::floor_run::results(db, coop.id, last)
            .await
            .unwrap();
        let of = |email: &str| {
            floor
                .iter()
                .find(|w| w.member_id == id(email))
                .unwrap_or_else(|| panic!("day +{days}: {email} not in the {last} floor run"))
        };
        assert_eq!(of("ana@velo.coop").topped_up, 0, "day +{days}: {floor:?}");
        assert!(
            of("chloe@velo.coop").topped_up > 0,
            "day +{days}: {floor:?}"
        );
        coophost::ledger::repo::sum_check(db, coop.id)
            .await
            .expect("the books balance");
        host.finish().await;
    }
}

/// The demo's couriers have past work in the books: statements for a month
/// that is over, its floor run (the quiet courier topped up), balanced
/// books, and their own statement through the API.
#[tokio::test]
async fn the_demo_couriers_have_pay_history() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        seed_velo_demo(&host).await;
        let now = host.app.clock.now_ms();
        let db = &host.app.db;
        let coop = identity::find_coop(db, "velo").await.unwrap();
        let month = coophost::ledger::period::Month::containing(coophost::demo::history_start(now));
        let members = identity::list_members(db, coop.id).await.unwrap();
        let id = |email: &str| members.iter().find(|m| m.email == email).unwrap().id;
        for email in ["ana@velo.coop", "ben@velo.coop", "chloe@velo.coop"] {
            let st = coophost::payments::statements::statement(db, coop.id, id(email), month, now)
                .await
                .unwrap();
            assert!(st.gross > 0, "{backend:?} {email}: {st:?}");
            // Four lunches of 2.5 hours a week: about 40 hours a month.
            assert!(
                st.on_shift_ms > 30 * 3_600_000 && st.on_shift_ms < 60 * 3_600_000,
                "{email}: {st:?}"
            );
        }
        let floor = coophost::payments::floor_run::results(db, coop.id, month)
            .await
            .unwrap();
        let of = |email: &str| floor.iter().find(|w| w.member_id == id(email)).unwrap();
        assert!(of("chloe@velo.coop").topped_up > 0, "{floor:?}");
        assert_eq!(of("ana@velo.coop").topped_up, 0, "{floor:?}");
        coophost::ledger::repo::sum_check(db, coop.id)
            .await
            .expect("the books balance");

        let (s, login) = host
            .request(
                Method::POST,
                "/v1/auth/login",
                None,
                Some(json!({"email": "chloe@velo.coop", "password": coophost::demo::PASSWORD})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{login}");
        let token = login["token"].as_str().unwrap().to_string();
        let (s, st) = host
            .request(
                Method::GET,
                &format!("/v1/coops/velo/me/statements/{month}"),
                Some(&token),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{st}");
        let topped = st["statement"]["top_ups"].as_i64().unwrap_or(0);
        assert_eq!(topped, of("chloe@velo.coop").topped_up, "{st}");
        assert!(topped > 0, "{st}");
        host.finish().await;
    }
}

#[tokio::test]
async fn the_demo_coop_has_a_decided_and_an_open_proposal() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        seed_velo_demo(&host).await;
        let now = host.app.clock.now_ms();

        let (s, login) = host
            .request(
                Method::POST,
                "/v1/auth/login",
                None,
                Some(json!({"email": "ana@velo.coop", "password": coophost::demo::PASSWORD})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{login}");
        let ana = login["token"].as_str().unwrap().to_string();
        let (_, list) = host
            .request(Method::GET, "/v1/coops/velo/proposals", Some(&ana), None)
            .await;
        let list = list["proposals"].as_array().unwrap().clone();
        let decided = list
            .iter()
            .find(|p| p["title"] == coophost::demo::DECIDED_TITLE)
            .expect("the decided proposal");
        let open = list
            .iter()
            .find(|p| p["title"] == coophost::demo::OPEN_TITLE)
            .expect("the open proposal");
        // Decided about five days ago, by colleges.
        assert_eq!(decided["status"], "applied", "{decided}");
        assert!(decided["opens_at"].as_i64().unwrap() <= now - 4 * DAY);
        let t = &decided["tally"];
        assert_eq!(t["method"], "college-weighted", "{t}");
        assert_eq!(
            (t["cast"].as_u64(), t["eligible"].as_u64()),
            (Some(5), Some(5))
        );
        let workers = t["colleges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "workers")
            .unwrap();
        assert_eq!(
            (workers["yes"].as_u64(), workers["no"].as_u64()),
            (Some(2), Some(1))
        );
        // Open for at least three more days, and ana has not voted.
        assert_eq!(open["status"], "open");
        assert!(
            open["closes_at"].as_i64().unwrap() >= now + 3 * DAY,
            "{open}"
        );
        let (_, p) = host
            .request(
                Method::GET,
                &format!("/v1/coops/velo/proposals/{}", open["id"]),
                Some(&ana),
                None,
            )
            .await;
        assert!(p["your_vote"].is_null(), "{p}");

        // Through the pages: ana votes, and sees the decided tally.
        let mut b = Browser::new(&host);
        let r = b
            .post(
                "/login",
                "/login",
                &[
                    ("email", "ana@velo.coop"),
                    ("password", coophost::demo::PASSWORD),
                    ("next", "/"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let list = b.get("/c/velo/governance").await;
        assert!(
            list.body.contains(coophost::demo::OPEN_TITLE),
            "{}",
            list.body
        );
        assert!(
            list.body
                .contains("Set price-per-km of plugin bike-delivery to 170."),
            "{}",
            list.body
        );
        let url = format!("/c/velo/governance/proposals/{}", open["id"]);
        let r = b
            .post(&url, &format!("{url}/vote"), &[("choice", "yes")])
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert!(b.get(&url).await.body.contains("You voted: Yes."));
        let page = b
            .get(&format!("/c/velo/governance/proposals/{}", decided["id"]))
            .await;
        assert!(page.body.contains("Tally per college"), "{}", page.body);
        assert!(page.body.contains("<th scope=\"row\">workers</th>"));
        assert!(
            page.body
                .contains("A recount from the recorded votes gives the same result."),
            "{}",
            page.body
        );
        // In the decision log, which verifies; new terms are pending.
        let log = b.get("/c/velo/governance/decisions").await;
        assert!(log.body.contains("verified"), "{}", log.body);
        assert!(
            log.body
                .contains(&format!("Proposal {} decided: passed", decided["id"])),
            "{}",
            log.body
        );
        let terms = b.get("/c/velo/governance/terms").await;
        assert!(
            terms
                .body
                .contains("<ins>+ 4. Delivery data stays in the European Union.</ins>"),
            "{}",
            terms.body
        );
        host.finish().await;
    }
}
