//! Deactivation and appeal on each backend: a suspension needs a person
//! with the admin role and a written reason, and tells the worker how to
//! appeal; the worker appeals in time (late is refused); the admin who
//! decided cannot review; another admin overturns and the worker is active
//! again; an unreviewed appeal becomes overdue through the scheduler; a
//! plugin or a service account can only flag. The decision log verifies.

use axum::http::{Method, StatusCode};
use coophost::clock::Clock;
use coophost::identity::Coop;
use serde_json::{Value, json};

use crate::common::{TestHost, backends};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
const MISBEHAVE: &str = "coop:test-misbehave/misbehave";
const AUTOMATED: &str = "an automated system can only flag a member; a human decides";

/// The member id behind a token.
async fn id_of(host: &TestHost, slug: &str, token: &str) -> i64 {
    let (s, body) = host
        .request(Method::GET, &format!("/v1/coops/{slug}"), Some(token), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    body["you"]["member_id"].as_i64().expect("member id")
}

/// An API key of the coop (an automated system), with the admin role.
async fn service_key(host: &TestHost, slug: &str, admin: &str) -> String {
    let (s, body) = host
        .request(
            Method::POST,
            &format!("/v1/coops/{slug}/api-keys"),
            Some(admin),
            Some(json!({"name": "risk-scoring", "role": "admin"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    body["api_key"]["key"].as_str().unwrap().to_string()
}

async fn set_status(
    host: &TestHost,
    slug: &str,
    token: &str,
    member: i64,
    status: &str,
    reason: &str,
) -> (StatusCode, Value) {
    host.request(
        Method::PUT,
        &format!("/v1/coops/{slug}/members/{member}/status"),
        Some(token),
        Some(json!({"status": status, "reason": reason})),
    )
    .await
}

async fn status_of(host: &TestHost, coop: &Coop, member: i64) -> String {
    coophost::identity::get_member(&host.app.db, coop.id, member)
        .await
        .unwrap()
        .status
}

/// The caller's notifications on `topic`, newest first.
async fn inbox(host: &TestHost, slug: &str, token: &str, topic: &str) -> Vec<Value> {
    let (s, body) = host
        .request(
            Method::GET,
            &format!("/v1/coops/{slug}/notifications"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    body["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["topic"] == topic)
        .cloned()
        .collect()
}

async fn appeal(
    host: &TestHost,
    slug: &str,
    token: &str,
    decision: i64,
    statement: &str,
) -> (StatusCode, Value) {
    host.request(
        Method::POST,
        &format!("/v1/coops/{slug}/me/appeals"),
        Some(token),
        Some(json!({"decision": decision, "statement": statement})),
    )
    .await
}

async fn review(
    host: &TestHost,
    slug: &str,
    token: &str,
    appeal: i64,
    outcome: &str,
    reason: &str,
) -> (StatusCode, Value) {
    host.request(
        Method::POST,
        &format!("/v1/coops/{slug}/appeals/{appeal}/review"),
        Some(token),
        Some(json!({"outcome": outcome, "reason": reason})),
    )
    .await
}

/// The decision log verifies; returns the kinds of its entries in order.
async fn verified_log(host: &TestHost, slug: &str, token: &str) -> Vec<String> {
    let (s, v) = host
        .request(
            Method::GET,
            &format!("/v1/coops/{slug}/decisions/verify"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["verification"]["ok"], true, "{v}");
    let (_, log) = host
        .request(
            Method::GET,
            &format!("/v1/coops/{slug}/decisions?limit=1000"),
            Some(token),
            None,
        )
        .await;
    log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_suspension_needs_a_person_and_a_reason_and_another_admin_can_overturn_it() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let coop = host.coop("fair").await;
        let ana = host
            .member(&coop, "ana@fair.coop", &["member", "admin"])
            .await;
        let bo = host
            .member(&coop, "bo@fair.coop", &["member", "admin"])
            .await;
        let wes = host
            .member(&coop, "wes@fair.coop", &["member", "worker"])
            .await;
        let zoe = host
            .member(&coop, "zoe@fair.coop", &["member", "worker"])
            .await;
        let (ana_id, wes_id) = (
            id_of(&host, "fair", &ana).await,
            id_of(&host, "fair", &wes).await,
        );
        let robot = service_key(&host, "fair", &ana).await;
        let why = "Three deliveries marked done that customers never received";

        // An automated system cannot decide, even with the admin role.
        let (s, body) = set_status(&host, "fair", &robot, wes_id, "suspended", why).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(body["error"]["message"], AUTOMATED, "{body}");
        // Nor can a worker, nor an admin without a real reason.
        let (s, _) = set_status(&host, "fair", &zoe, wes_id, "suspended", why).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, body) = set_status(&host, "fair", &ana, wes_id, "suspended", "  late   ").await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("at least 10"),
            "{body}"
        );
        // "left" is the member's own choice, never an admin's.
        let (s, body) = set_status(&host, "fair", &ana, wes_id, "left", why).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(status_of(&host, &coop, wes_id).await, "active");

        let (s, body) = set_status(&host, "fair", &ana, wes_id, "suspended", why).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let decision = body["decision"]["decision"].as_i64().unwrap();
        let decided_at = host.clock.now_ms();
        assert_eq!(body["decision"]["appeal_until"], decided_at + 30 * DAY);
        assert_eq!(status_of(&host, &coop, wes_id).await, "suspended");

        // The worker, suspended, still logs in, is told why and how to appeal.
        let wes = host.login("wes@fair.coop").await;
        let told = inbox(&host, "fair", &wes, "moderation.deactivated").await;
        assert_eq!(told.len(), 1, "{told:?}");
        let p = &told[0]["payload"];
        assert_eq!(p["reason"], why, "{p}");
        assert_eq!(p["decision"], decision, "{p}");
        assert_eq!(p["appeal_until"], decided_at + 30 * DAY, "{p}");
        assert_eq!(p["appeal"]["path"], "/v1/coops/fair/me/appeals", "{p}");
        let (s, mine) = host
            .request(
                Method::GET,
                "/v1/coops/fair/me/deactivations",
                Some(&wes),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{mine}");
        assert_eq!(mine["status"], "suspended");
        assert_eq!(mine["decisions"][0]["reason"], why);
        assert_eq!(mine["decisions"][0]["decided_by"], ana_id);
        assert_eq!(mine["decisions"][0]["can_appeal"], true);

        // Bad appeals are refused with reasons; a good one in time is taken.
        let (s, _) = appeal(&host, "fair", &wes, decision + 1000, "wrong").await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (s, _) = appeal(&host, "fair", &zoe, decision, "not mine").await;
        assert_eq!(s, StatusCode::NOT_FOUND, "someone else's decision");
        let (s, _) = appeal(&host, "fair", &wes, decision, "   ").await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        // Sessions last 12 hours; the worker appeals the same afternoon.
        host.clock.advance(3 * HOUR);
        let statement = "The three orders were refused at the door; I have the photos.";
        let (s, body) = appeal(&host, "fair", &wes, decision, statement).await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        let appeal_id = body["appeal"]["id"].as_i64().unwrap();
        assert_eq!(body["appeal"]["status"], "open");
        assert_eq!(
            body["appeal"]["review_due_at"],
            host.clock.now_ms() + 14 * DAY
        );
        let (s, body) = appeal(&host, "fair", &wes, decision, statement).await;
        assert_eq!(s, StatusCode::CONFLICT, "one appeal per decision: {body}");
        assert_eq!(
            inbox(&host, "fair", &bo, "moderation.appealed").await.len(),
            1
        );

        // The admin who decided cannot review; nor can an automated system.
        let overturn = "The photos show the customers refused the orders.";
        let (s, body) = review(&host, "fair", &ana, appeal_id, "overturned", overturn).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("you made this decision"),
            "{body}"
        );
        let (s, body) = review(&host, "fair", &robot, appeal_id, "overturned", overturn).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        assert_eq!(body["error"]["message"], AUTOMATED);
        let (s, _) = review(&host, "fair", &bo, appeal_id, "overturned", "ok").await;
        assert_eq!(
            s,
            StatusCode::UNPROCESSABLE_ENTITY,
            "a review needs a reason"
        );
        let (s, _) = review(&host, "fair", &bo, appeal_id, "maybe", overturn).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);

        let (s, list) = host
            .request(Method::GET, "/v1/coops/fair/appeals", Some(&bo), None)
            .await;
        assert_eq!(s, StatusCode::OK, "{list}");
        assert_eq!(list["appeals"][0]["appeal"]["id"], appeal_id, "{list}");
        assert_eq!(list["appeals"][0]["decision"]["reason"], why, "{list}");
        let (s, _) = host
            .request(Method::GET, "/v1/coops/fair/appeals", Some(&zoe), None)
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "appeals are listed for admins");

        // Another admin overturns: the worker is active again, and told.
        let (s, body) = review(&host, "fair", &bo, appeal_id, "overturned", overturn).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert_eq!(body["appeal"]["status"], "overturned");
        assert_eq!(body["appeal"]["restored_status"], "active");
        assert_eq!(status_of(&host, &coop, wes_id).await, "active");
        let (s, _) = review(&host, "fair", &bo, appeal_id, "upheld", overturn).await;
        assert_eq!(s, StatusCode::CONFLICT, "reviewed once");
        let told = inbox(&host, "fair", &wes, "moderation.appeal-reviewed").await;
        assert_eq!(told[0]["payload"]["outcome"], "overturned", "{told:?}");
        let (_, mine) = host
            .request(
                Method::GET,
                "/v1/coops/fair/me/deactivations",
                Some(&wes),
                None,
            )
            .await;
        assert_eq!(mine["status"], "active");
        assert_eq!(mine["decisions"][0]["appeal"]["status"], "overturned");
        assert_eq!(mine["decisions"][0]["appeal"]["review_reason"], overturn);
        assert_eq!(mine["decisions"][0]["can_appeal"], false);
        let (_, hist) = host
            .request(
                Method::GET,
                &format!("/v1/coops/fair/members/{wes_id}/status"),
                Some(&wes),
                None,
            )
            .await;
        let statuses: Vec<&str> = hist["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["status"].as_str().unwrap())
            .collect();
        assert_eq!(statuses, ["suspended", "active"], "{hist}");
        assert_eq!(hist["history"][0]["id"], decision, "{hist}");

        let kinds = verified_log(&host, "fair", &ana).await;
        let ours: Vec<&str> = kinds
            .iter()
            .map(String::as_str)
            .filter(|k| k.starts_with("member.") || k.starts_with("appeal."))
            .collect();
        assert_eq!(
            ours,
            ["member.deactivated", "appeal.opened", "appeal.reviewed"],
            "{kinds:?}"
        );
        host.finish().await;
    }
}

#[tokio::test]
async fn a_late_appeal_is_refused_and_an_unreviewed_one_becomes_overdue() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let coop = host.coop("slow").await;
        let ana = host
            .member(&coop, "ana@slow.coop", &["member", "admin"])
            .await;
        host.member(&coop, "bo@slow.coop", &["member", "admin"])
            .await;
        let kim = host
            .member(&coop, "kim@slow.coop", &["member", "worker"])
            .await;
        let lou = host
            .member(&coop, "lou@slow.coop", &["member", "worker"])
            .await;
        let (kim_id, lou_id) = (
            id_of(&host, "slow", &kim).await,
            id_of(&host, "slow", &lou).await,
        );

        // The appeal period is the coop's to set, never below a week.
        let (_, current) = host
            .request(
                Method::GET,
                "/v1/coops/slow/governance/rules",
                Some(&ana),
                None,
            )
            .await;
        let mut rules = current["rules"].clone();
        assert_eq!(rules["appeal_days"], 30);
        assert_eq!(rules["appeal_review_days"], 14);
        rules["appeal_days"] = json!(6);
        let (s, body) = host
            .request(
                Method::PUT,
                "/v1/coops/slow/governance/rules",
                Some(&ana),
                Some(json!({"rules": rules, "reason": "shorter appeals"})),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

        // Kim is suspended and lets the 30 days pass: too late.
        let why = "Repeatedly refused to follow the safety rules at the depot";
        let (s, body) = set_status(&host, "slow", &ana, kim_id, "suspended", why).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let kim_decision = body["decision"]["decision"].as_i64().unwrap();
        host.clock.advance(30 * DAY + 1);
        let kim = host.login("kim@slow.coop").await;
        let (s, body) = appeal(&host, "slow", &kim, kim_decision, "I was never told").await;
        assert_eq!(s, StatusCode::CONFLICT, "{body}");
        let msg = body["error"]["message"].as_str().unwrap();
        assert!(msg.contains("closed on 2026-10-21 14:13 UTC"), "{msg}");

        // Lou is removed, appeals at once; nobody reviews.
        let ana = host.login("ana@slow.coop").await;
        let (s, body) = set_status(&host, "slow", &ana, lou_id, "removed", why).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let lou_decision = body["decision"]["decision"].as_i64().unwrap();
        assert_eq!(status_of(&host, &coop, lou_id).await, "removed");
        let lou = host.login("lou@slow.coop").await;
        let (s, body) = appeal(&host, "slow", &lou, lou_decision, "I followed them.").await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        let appeal_id = body["appeal"]["id"].as_i64().unwrap();

        host.clock.advance(14 * DAY - 1);
        host.app.run_jobs_once("test").await.unwrap();
        let a = coophost::moderation::appeals::get(&host.app.db, coop.id, appeal_id)
            .await
            .unwrap();
        assert_eq!(a.status, "open", "not due yet");
        host.clock.advance(1);
        host.app.run_jobs_once("test").await.unwrap();
        let a = coophost::moderation::appeals::get(&host.app.db, coop.id, appeal_id)
            .await
            .unwrap();
        assert_eq!(a.status, "overdue");
        assert_eq!(a.overdue_at, Some(host.clock.now_ms()));
        assert_eq!(
            status_of(&host, &coop, lou_id).await,
            "removed",
            "no silent reinstatement"
        );

        // Every admin and the worker are told; it stays visible as overdue.
        let ana = host.login("ana@slow.coop").await;
        let bo = host.login("bo@slow.coop").await;
        let lou = host.login("lou@slow.coop").await;
        for token in [&ana, &bo, &lou] {
            let told = inbox(&host, "slow", token, "moderation.appeal-overdue").await;
            assert_eq!(told.len(), 1, "{told:?}");
            assert_eq!(told[0]["payload"]["appeal"], appeal_id);
        }
        let (_, list) = host
            .request(Method::GET, "/v1/coops/slow/appeals", Some(&bo), None)
            .await;
        assert_eq!(list["appeals"][0]["appeal"]["status"], "overdue", "{list}");
        let (_, mine) = host
            .request(
                Method::GET,
                "/v1/coops/slow/me/deactivations",
                Some(&lou),
                None,
            )
            .await;
        assert_eq!(mine["status"], "removed");
        assert_eq!(
            mine["decisions"][0]["appeal"]["status"], "overdue",
            "{mine}"
        );
        // Running the jobs again changes nothing.
        host.app.run_jobs_once("test").await.unwrap();
        assert_eq!(
            inbox(&host, "slow", &lou, "moderation.appeal-overdue")
                .await
                .len(),
            1
        );

        // The command line lists it for the coop's admins.
        let data = tempfile::tempdir().unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_coophost"))
            .arg("--data-dir")
            .arg(data.path())
            .arg("--database-url")
            .arg(&host.url)
            .args(["governance", "appeals", "--coop", "slow"])
            .env("RUST_LOG", "warn")
            .output()
            .expect("run coophost");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.starts_with(&format!(
                "{appeal_id}\toverdue\tmember {lou_id}\tdecision {lou_decision} (removed"
            )),
            "{text}"
        );

        // A late review still settles it.
        let (s, body) = review(
            &host,
            "slow",
            &bo,
            appeal_id,
            "upheld",
            "The depot logs show four refusals.",
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert_eq!(body["appeal"]["status"], "upheld");
        assert_eq!(status_of(&host, &coop, lou_id).await, "removed");

        let kinds = verified_log(&host, "slow", &ana).await;
        assert!(kinds.iter().any(|k| k == "appeal.overdue"), "{kinds:?}");
        host.finish().await;
    }
}

#[tokio::test]
async fn a_plugin_can_only_flag_and_a_service_account_cannot_suspend() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let coop = host.coop("flags").await;
        host.install(&coop, "test-misbehave").await;
        let ana = host
            .member(&coop, "ana@flags.coop", &["member", "admin"])
            .await;
        let wes = host
            .member(&coop, "wes@flags.coop", &["member", "worker"])
            .await;
        let wes_id = id_of(&host, "flags", &wes).await;
        let robot = service_key(&host, "flags", &ana).await;

        // The plugin knows Wes by its own id for him.
        let (s, body) = host
            .call("flags", Some(&wes), MISBEHAVE, "whoami", json!({}))
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let wes_for_plugin = body["result"]["ok"].as_str().unwrap().to_string();

        let flag = |reason: &str, fail: bool| {
            let args = json!({"member": wes_for_plugin, "reason": reason, "fail": fail});
            let (host, ana) = (&host, ana.clone());
            async move {
                host.call("flags", Some(&ana), MISBEHAVE, "flag-member", args)
                    .await
            }
        };
        let (s, body) = flag("Delivery times far above the coop's median", false).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        // u64 results are decimal strings in JSON.
        let plugin_flag: i64 = body["result"]["ok"].as_str().unwrap().parse().unwrap();
        // A call that fails raises no flag.
        let (s, body) = flag("This one is rolled back", true).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let (s, body) = flag("   ", false).await;
        assert_eq!(
            s,
            StatusCode::UNPROCESSABLE_ENTITY,
            "a blank reason: {body}"
        );

        // The flag is recorded and the admins told; Wes stays active.
        assert_eq!(status_of(&host, &coop, wes_id).await, "active");
        let (s, open) = host
            .request(Method::GET, "/v1/coops/flags/flags", Some(&ana), None)
            .await;
        assert_eq!(s, StatusCode::OK, "{open}");
        let list = open["flags"].as_array().unwrap();
        assert_eq!(list.len(), 1, "{open}");
        assert_eq!(list[0]["id"], plugin_flag);
        assert_eq!(list[0]["member"], wes_id);
        assert_eq!(list[0]["source"], "plugin");
        assert_eq!(list[0]["plugin"], "test-misbehave");
        assert_eq!(list[0]["status"], "open");
        let told = inbox(&host, "flags", &ana, "moderation.flagged").await;
        assert_eq!(told.len(), 1, "{told:?}");
        assert_eq!(told[0]["payload"]["flag"], plugin_flag);

        // A service account may flag too, and nothing more.
        let (s, body) = host
            .request(
                Method::POST,
                &format!("/v1/coops/flags/members/{wes_id}/flags"),
                Some(&robot),
                Some(json!({"reason": "Risk score above threshold"})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        let service_flag = body["flag"]["id"].as_i64().unwrap();
        assert_eq!(body["flag"]["source"], "service");
        let why = "Checked the delivery records with Wes: they confirm the delays";
        let (s, body) = set_status(&host, "flags", &robot, wes_id, "suspended", why).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(body["error"]["message"], AUTOMATED);
        let (s, body) = set_status(&host, "flags", &robot, wes_id, "removed", why).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
        let (s, body) = host
            .request(
                Method::POST,
                &format!("/v1/coops/flags/flags/{service_flag}/act"),
                Some(&robot),
                Some(json!({"status": "suspended", "reason": why})),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(body["error"]["message"], AUTOMATED);
        assert_eq!(status_of(&host, &coop, wes_id).await, "active");
        let (s, _) = host
            .request(
                Method::POST,
                &format!("/v1/coops/flags/members/{wes_id}/flags"),
                Some(&wes),
                Some(json!({"reason": "Workers do not flag each other here"})),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN);

        // Wes sees what was said about him.
        let (_, mine) = host
            .request(
                Method::GET,
                "/v1/coops/flags/me/deactivations",
                Some(&wes),
                None,
            )
            .await;
        assert_eq!(mine["flags"].as_array().unwrap().len(), 2, "{mine}");
        assert_eq!(mine["decisions"], json!([]));

        // A person decides: one flag dismissed, the other acted on.
        let (s, body) = host
            .request(
                Method::POST,
                &format!("/v1/coops/flags/flags/{plugin_flag}/dismiss"),
                Some(&ana),
                Some(json!({"reason": "Slow because of the roadworks downtown"})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert_eq!(body["flag"]["status"], "dismissed");
        let (s, body) = host
            .request(
                Method::POST,
                &format!("/v1/coops/flags/flags/{service_flag}/act"),
                Some(&ana),
                Some(json!({"status": "suspended", "reason": why})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        assert_eq!(body["decision"]["flag"], service_flag);
        assert_eq!(status_of(&host, &coop, wes_id).await, "suspended");
        let (_, open) = host
            .request(Method::GET, "/v1/coops/flags/flags", Some(&ana), None)
            .await;
        assert_eq!(open["flags"], json!([]), "no flag left open");
        let (_, all) = host
            .request(
                Method::GET,
                "/v1/coops/flags/flags?status=all",
                Some(&ana),
                None,
            )
            .await;
        assert_eq!(all["flags"].as_array().unwrap().len(), 2, "{all}");

        let kinds = verified_log(&host, "flags", &ana).await;
        let ours: Vec<&str> = kinds
            .iter()
            .map(String::as_str)
            .filter(|k| k.starts_with("member.") || k.starts_with("flag."))
            .collect();
        assert_eq!(
            ours,
            [
                "member.flagged",
                "member.flagged",
                "flag.dismissed",
                "member.deactivated"
            ],
            "{kinds:?}"
        );
        host.finish().await;
    }
}
