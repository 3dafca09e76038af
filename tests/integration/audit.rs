//! The audit log: plugin calls (successful and failed), grant and consent
//! changes and admins' reads of a member's money land in the `audit` hash
//! chain off the call's path; members read the entries about them; a
//! tampered entry is caught by the API and the CLI; erasing the personal
//! fields keeps it verifying.

use std::process::Command;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{TestHost, backends};

const IFACE: &str = "coop:test-misbehave/misbehave";

fn kinds(entries: &Value) -> Vec<String> {
    entries["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn calls_grants_consents_and_reads_are_audited_and_verifiable() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let coop = host.coop("aud").await;
        host.install(&coop, "test-misbehave").await;
        let admin = host
            .member(&coop, "admin@aud.coop", &["admin", "member"])
            .await;
        let ana = host
            .member(&coop, "ana@aud.coop", &["worker", "member"])
            .await;
        let ben = host
            .member(&coop, "ben@aud.coop", &["worker", "member"])
            .await;

        // A call that succeeds, one that traps, one refused before running.
        let (s, b) = host
            .call(
                "aud",
                Some(&ana),
                IFACE,
                "write-then-ok",
                json!({"key": "a"}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let (s, _) = host
            .call(
                "aud",
                Some(&ana),
                IFACE,
                "write-then-trap",
                json!({"key": "b"}),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_GATEWAY);
        let (s, _) = host
            .call(
                "aud",
                Some(&ben),
                IFACE,
                "refund-order",
                json!({"order": "x", "cents": "1"}),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        // A consent change and an admin reading Ana's statement.
        let (s, b) = host
            .request(
                Method::PUT,
                "/v1/coops/aud/me/consents/test-misbehave/health",
                Some(&ana),
                Some(json!({"given": true})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let ana_id = coophost::identity::list_members(&host.app.db, coop.id)
            .await
            .unwrap()
            .into_iter()
            .find(|m| m.email == "ana@aud.coop")
            .unwrap()
            .id;
        let (s, b) = host
            .request(
                Method::GET,
                &format!("/v1/coops/aud/members/{ana_id}/statements/2026-08"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let (s, b) = host
            .request(
                Method::GET,
                &format!("/v1/coops/aud/members/{ana_id}/status"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        host.app.flush_audit().await;

        let (s, all) = host
            .request(
                Method::GET,
                "/v1/coops/aud/audit?limit=100",
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{all}");
        let k = kinds(&all);
        assert_eq!(k[0], "grant.change", "the install comes first: {k:?}");
        assert_eq!(k.iter().filter(|k| *k == "plugin.call").count(), 3, "{k:?}");
        let calls: Vec<&Value> = all["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "plugin.call")
            .collect();
        let outcomes: Vec<&str> = calls
            .iter()
            .map(|e| e["body"]["outcome"].as_str().unwrap())
            .collect();
        assert_eq!(outcomes, ["ok", "trap", "access-denied"], "{all}");
        // The writer's own figures: every entry listed was written by it,
        // in at least one timed batch, and /metrics says so.
        let stats = host.app.audit.stats();
        assert_eq!(
            stats.items as usize,
            all["entries"].as_array().unwrap().len(),
            "{backend:?}: {stats:?}"
        );
        assert!(
            stats.batches >= 1 && stats.batches <= stats.items,
            "{stats:?}"
        );
        assert!(stats.write_seconds > 0.0, "{stats:?}");
        assert_eq!((stats.dropped, stats.lost), (0, 0));
        // /metrics is for the operator or Prometheus with the metrics token.
        host.app
            .set_metrics_token(Some(crate::sec_exposure::METRICS_TOKEN));
        let (s, text) = host
            .request(
                Method::GET,
                "/metrics",
                Some(crate::sec_exposure::METRICS_TOKEN),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        assert!(
            text.as_str()
                .unwrap_or_default()
                .contains(&format!("coophost_audit_items_total {}\n", stats.items)),
            "{text}"
        );
        assert!(
            calls
                .iter()
                .all(|e| e["body"]["duration_us"].as_u64().is_some())
        );
        assert_eq!(calls[0]["body"]["function"], json!("write-then-ok"));
        assert_eq!(calls[0]["body"]["caller"], json!("member"));
        assert!(
            k.contains(&"consent.change".to_string()) && k.contains(&"data.access".to_string()),
            "{k:?}"
        );
        let (s, _) = host
            .request(Method::GET, "/v1/coops/aud/audit", Some(&ana), None)
            .await;
        assert_eq!(
            s,
            StatusCode::FORBIDDEN,
            "members read only their own entries"
        );

        // Ana sees her two calls, her consent and the admin's read; Ben
        // only his refused call.
        let (_, mine) = host
            .request(Method::GET, "/v1/coops/aud/me/audit", Some(&ana), None)
            .await;
        let mut k = kinds(&mine);
        k.sort();
        assert_eq!(
            k,
            [
                "consent.change",
                "data.access",
                "data.access",
                "plugin.call",
                "plugin.call"
            ],
            "{mine}"
        );
        let (_, his) = host
            .request(Method::GET, "/v1/coops/aud/me/audit", Some(&ben), None)
            .await;
        assert_eq!(kinds(&his), ["plugin.call"], "{his}");

        // Calls the host makes into a plugin (a timer here) are audited too.
        let now = coophost::clock::Clock::now_ms(&*host.app.clock);
        let (s, b) = host
            .call(
                "aud",
                Some(&ana),
                IFACE,
                "set-timer",
                json!({"at": now, "payload": "hello"}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        host.app.run_jobs_once("test-host").await.unwrap();
        host.app.flush_audit().await;
        let (_, all2) = host
            .request(
                Method::GET,
                "/v1/coops/aud/audit?limit=100",
                Some(&admin),
                None,
            )
            .await;
        let timer = all2["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["body"]["function"] == "on-timer")
            .unwrap_or_else(|| panic!("no on-timer entry: {all2}"));
        assert_eq!(
            (
                timer["body"]["caller"].clone(),
                timer["body"]["outcome"].clone()
            ),
            (json!("host"), json!("ok"))
        );

        // Verified by the API and the CLI; erasing personal fields keeps it
        // so; tampering with a body is caught by both.
        let cli = |args: &[&str]| {
            Command::new(env!("CARGO_BIN_EXE_coophost"))
                .arg("--database-url")
                .arg(&host.url)
                .args(args)
                .env("RUST_LOG", "warn")
                .output()
                .unwrap()
        };
        let verify = || async {
            let (s, v) = host
                .request(
                    Method::GET,
                    "/v1/coops/aud/audit/verify",
                    Some(&admin),
                    None,
                )
                .await;
            assert_eq!(s, StatusCode::OK, "{v}");
            v["verification"].clone()
        };
        assert_eq!(verify().await["ok"], json!(true));
        let out = cli(&["audit", "verify", "--coop", "aud"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let seq = calls[0]["seq"].as_i64().unwrap();
        assert!(
            coophost::chain::erase_personal(&host.app.audit_db, "audit", coop.id, seq)
                .await
                .unwrap()
        );
        assert_eq!(
            verify().await["ok"],
            json!(true),
            "erasure keeps the chain whole"
        );
        sqlx::query("UPDATE chain_entries SET body = $1 WHERE chain = 'audit' AND coop_id = $2 AND seq = $3")
            .bind(r#"{"outcome":"ok","function":"nothing-to-see"}"#)
            .bind(coop.id)
            .bind(seq)
            .execute(&host.app.audit_db.pool)
            .await
            .unwrap();
        let v = verify().await;
        assert_eq!(
            (v["ok"].clone(), v["problem"]["seq"].clone()),
            (json!(false), json!(seq)),
            "{v}"
        );
        let out = cli(&["audit", "verify", "--coop", "aud"]);
        assert!(!out.status.success(), "verify must fail on a tampered log");
        assert!(String::from_utf8_lossy(&out.stderr).contains("audit log of aud does NOT verify"));
        host.finish().await;
    }
}
