//! Issue 16, item 10: every grant of a role (adding a member, an
//! invitation, approving an application, an API key) goes through the
//! `grant-role` check and is recorded in the decision log.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{Backend, TestHost, backends};

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

/// Make the decision log refuse `grant-role` entries, as a failing write
/// would (a trigger on each backend).
async fn refuse_grant_entries(host: &TestHost, backend: Backend) {
    refuse_entries(host, backend, "NEW.body LIKE '%grant-role%'").await;
}

/// Make the chains refuse the entries `condition` (SQL over `NEW`) picks.
pub async fn refuse_entries(host: &TestHost, backend: Backend, condition: &str) {
    let statements = match backend {
        Backend::Sqlite => vec![format!(
            "CREATE TRIGGER refuse_entries BEFORE INSERT ON chain_entries \
             WHEN {condition} BEGIN SELECT RAISE(ABORT, 'log refused'); END"
        )],
        Backend::Postgres => vec![
            format!(
                "CREATE FUNCTION refuse_entries() RETURNS trigger AS $$ BEGIN \
                 IF {condition} THEN RAISE EXCEPTION 'log refused'; END IF; \
                 RETURN NEW; END $$ LANGUAGE plpgsql"
            ),
            "CREATE TRIGGER refuse_entries BEFORE INSERT ON chain_entries \
             FOR EACH ROW EXECUTE FUNCTION refuse_entries()"
                .to_string(),
        ],
    };
    for s in statements {
        sqlx::raw_sql(&s).execute(&host.app.db.pool).await.unwrap();
    }
}

#[tokio::test]
async fn a_grant_commits_only_with_its_decision_log_entry() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let coop = host.coop("atomic").await;
        let admin = host
            .member(&coop, "admin@atomic.coop", &["admin", "member"])
            .await;
        refuse_grant_entries(&host, backend).await;

        // The entry cannot be written, so neither is the grant.
        let (s, body) = host
            .request(
                Method::POST,
                "/v1/coops/atomic/members",
                Some(&admin),
                Some(json!({"email": "gus@atomic.coop", "display_name": "Gus",
                    "roles": ["admin", "member"]})),
            )
            .await;
        assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR, "{backend:?}: {body}");
        let (s, body) = host
            .request(
                Method::POST,
                "/v1/coops/atomic/api-keys",
                Some(&admin),
                Some(json!({"name": "robot", "role": "admin"})),
            )
            .await;
        assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR, "{backend:?}: {body}");
        let (s, body) = host
            .request(
                Method::POST,
                "/v1/coops/atomic/invitations",
                Some(&admin),
                Some(json!({"email": "hal@atomic.coop", "display_name": "Hal",
                    "roles": ["admin"]})),
            )
            .await;
        assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR, "{backend:?}: {body}");

        let members = coophost::identity::list_members(&host.app.db, coop.id)
            .await
            .unwrap();
        assert_eq!(members.len(), 1, "{backend:?}: unlogged grant: {members:?}");
        for (table, what) in [
            ("api_keys", "API key"),
            ("membership_requests", "invitation"),
        ] {
            let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
                .fetch_one(&host.app.db.pool)
                .await
                .unwrap();
            assert_eq!(n, 0, "{backend:?}: an unlogged {what} was kept");
        }
        host.finish().await;
    }
}

#[tokio::test]
async fn the_command_line_logs_the_roles_it_grants() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let coop = host.coop("cligrant").await;
        let admin = host
            .member(&coop, "admin@cligrant.coop", &["admin", "member"])
            .await;
        let data = tempfile::tempdir().unwrap();
        let run = |args: &[&str]| {
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_coophost"))
                .arg("--data-dir")
                .arg(data.path())
                .arg("--database-url")
                .arg(&host.url)
                .args(args)
                .env("RUST_LOG", "warn")
                .env("COOPHOST_PASSWORD", "correct horse battery staple")
                .output()
                .expect("run coophost");
            assert!(
                out.status.success(),
                "{args:?}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        };
        run(&[
            "member",
            "add",
            "--coop",
            "cligrant",
            "--email",
            "ida@cligrant.coop",
            "--role",
            "admin,member",
        ]);
        run(&[
            "governance",
            "invite",
            "--coop",
            "cligrant",
            "--email",
            "jo@cligrant.coop",
            "--name",
            "Jo",
            "--role",
            "worker",
        ]);
        let ida = coophost::identity::list_members(&host.app.db, coop.id)
            .await
            .unwrap()
            .into_iter()
            .find(|m| m.email == "ida@cligrant.coop")
            .expect("ida added");

        let (s, body) = host
            .request(
                Method::GET,
                "/v1/coops/cligrant/decisions?limit=1000",
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let grants: Vec<&Value> = body["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "direct-change" && e["body"]["kind"] == "grant-role")
            .map(|e| &e["body"])
            .collect();
        let added = grants
            .iter()
            .find(|b| b["change"]["member_added"] == ida.id)
            .unwrap_or_else(|| panic!("{backend:?}: CLI addition not logged: {grants:?}"));
        assert_eq!(added["change"]["roles"], json!(["admin", "member"]));
        assert_eq!(added["change"]["via"], "command line");
        assert_eq!(
            added["operator"], true,
            "the operator is the actor: {added}"
        );
        assert!(
            grants
                .iter()
                .any(|b| b["change"]["roles"] == json!(["worker"]) && b["operator"] == true),
            "{backend:?}: CLI invitation not logged: {grants:?}"
        );
        host.finish().await;
    }
}

/// A governed setting changed directly (floor, split, plugin config,
/// limits) commits only with its decision-log entry.
#[tokio::test]
async fn a_direct_change_commits_only_with_its_decision_log_entry() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let coop = host.coop("direct").await;
        host.install(&coop, "test-hog").await;
        let admin = host
            .member(&coop, "admin@direct.coop", &["admin", "member"])
            .await;
        refuse_entries(&host, backend, "NEW.kind = 'direct-change'").await;
        let (s, body) = host
            .request(
                Method::POST,
                "/v1/coops/direct/earnings-floor",
                Some(&admin),
                Some(json!({"per_hour": 1202, "currency": "EUR", "reason": "SMIC"})),
            )
            .await;
        assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR, "{backend:?}: {body}");
        let (_, body) = host
            .request(
                Method::GET,
                "/v1/coops/direct/earnings-floor",
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(body["history"], json!([]), "{backend:?}: an unlogged floor");
        let url = "/v1/coops/direct/plugins/test-hog/limits";
        let (s, body) = host
            .request(
                Method::PUT,
                url,
                Some(&admin),
                Some(json!({"deadline_ms": 9_000})),
            )
            .await;
        assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR, "{backend:?}: {body}");
        let (_, body) = host.request(Method::GET, url, Some(&admin), None).await;
        assert_ne!(
            body["overrides"]["deadline_ms"], 9_000,
            "{backend:?}: unlogged limits: {body}"
        );
        host.finish().await;
    }
}
