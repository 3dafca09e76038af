//! Portable work credentials across two hosts running side by side, each a
//! real HTTP server with its own database: a courier works at coop A on
//! host A, leaves, takes her credential to host B, which fetches A's key
//! over HTTP and verifies it; a tampered, expired, not-yet-valid or
//! revoked-key credential is refused; the CLI verifies offline with the
//! key file.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{Method, StatusCode};
use coophost::credentials::{self, datetime};
use coophost::identity;
use coophost::ledger::period::Month;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{TestHost, backends};

const IFACE: &str = "coop:test-misbehave/misbehave";
const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

/// Serve `host`'s router on 127.0.0.1:0 and make that its public URL.
async fn serve(host: &TestHost) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    host.app.set_public_url(&url);
    let router = coophost::api::router(Arc::clone(&host.app));
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    url
}

/// A request over real HTTP/1.1; returns status and JSON body.
async fn http(method: &str, url: &str, body: Option<&Value>) -> (u16, Value) {
    let rest = url.strip_prefix("http://").unwrap();
    let (addr, path) = rest.split_at(rest.find('/').unwrap());
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let payload = body.map(|b| b.to_string()).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{payload}",
        payload.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let (head, body) = out.split_once("\r\n\r\n").expect("an HTTP answer");
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

async fn member_id(host: &TestHost, coop_id: i64, email: &str) -> i64 {
    identity::list_members(&host.app.db, coop_id)
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.email == email)
        .unwrap()
        .id
}

/// One 25.00 EUR order, paid by the shop and settled for the worker
/// (plugin id `worker`): 20.00 to the courier under an 80 % split.
async fn deliver(host: &TestHost, shop: &str, admin: &str, worker: &str, order: &str) {
    let (s, body) = host
        .call(
            "velo",
            Some(shop),
            IFACE,
            "pay",
            json!({"order": order, "cents": "2500", "trap": false}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, body) = host
        .call(
            "velo",
            Some(admin),
            IFACE,
            "settle-order",
            json!({"order": order, "worker": worker, "cents": "2500"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
}

async fn shift(host: &TestHost, token: &str, hours: i64) {
    let (s, body) = host
        .request(
            Method::POST,
            "/v1/coops/velo/shifts/start",
            Some(token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    host.clock.advance(hours * HOUR);
    let (s, body) = host
        .request(Method::POST, "/v1/coops/velo/shifts/end", Some(token), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
}

fn coophost_cli() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_coophost"));
    c.env("RUST_LOG", "error");
    c
}

#[tokio::test]
async fn a_worker_leaves_coop_a_and_proves_her_history_at_host_b() {
    // Real time, so the CLI (which reads the system clock) agrees.
    let real_now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    for backend in backends().await {
        let a = TestHost::new(backend).await;
        let b = TestHost::new(backend).await;
        let (a_url, b_url) = (serve(&a).await, serve(&b).await);
        // Both hosts are on loopback: B's operator allows fetching from A.
        b.app.allow_fetch_from(vec![
            a_url.strip_prefix("http://").unwrap().parse().unwrap(),
        ]);
        let m1 = Month::containing(real_now - 40 * DAY);
        let m2 = m1.next();
        a.clock.set(m1.start_ms() + DAY + 9 * HOUR);
        b.clock.set(real_now);

        let coop = a.coop("velo").await;
        a.install(&coop, "test-misbehave").await;
        let admin = a
            .member(&coop, "admin@velo.coop", &["admin", "member"])
            .await;
        let shop = a.member(&coop, "shop@velo.coop", &["member"]).await;
        let ana = a
            .member(&coop, "ana@velo.coop", &["worker", "member"])
            .await;
        let ana_id = member_id(&a, coop.id, "ana@velo.coop").await;
        let (_, who) = a.call("velo", Some(&ana), IFACE, "whoami", json!({})).await;
        let ana_p = who["result"]["ok"].as_str().unwrap().to_string();
        let terms = json!({"model": "commission", "worker_share_bp": 8000,
            "reserve_share_of_commission_bp": 3000, "solidarity_share_of_commission_bp": 5000,
            "community_share_of_commission_bp": 1000, "processor_fee_bp": 100, "processor_fee_fixed": 25,
            "processor_fee_borne_by": "coop", "cae_fee_bp": 0});
        let (s, body) = a
            .request(
                Method::POST,
                "/v1/coops/velo/split-policies",
                Some(&admin),
                Some(json!({"terms": terms, "reason": "founding assembly"})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");

        // Month 1: a 3-hour shift with two deliveries. Month 2: one hour,
        // one delivery.
        a.clock.advance(HOUR);
        let (s, body) = a
            .request(
                Method::POST,
                "/v1/coops/velo/shifts/start",
                Some(&ana),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        a.clock.advance(HOUR);
        deliver(&a, &shop, &admin, &ana_p, "o-1").await;
        deliver(&a, &shop, &admin, &ana_p, "o-2").await;
        a.clock.advance(2 * HOUR);
        let (s, body) = a
            .request(Method::POST, "/v1/coops/velo/shifts/end", Some(&ana), None)
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        a.clock.set(m2.start_ms() + DAY + 9 * HOUR);
        let (ana, admin, shop) = (
            a.login("ana@velo.coop").await,
            a.login("admin@velo.coop").await,
            a.login("shop@velo.coop").await,
        );
        deliver(&a, &shop, &admin, &ana_p, "o-3").await;
        shift(&a, &ana, 1).await;

        // She leaves the coop; her history stays hers.
        let (s, body) = a
            .request(
                Method::PUT,
                &format!("/v1/coops/velo/members/{ana_id}/status"),
                Some(&ana),
                Some(json!({"status": "left", "reason": "moving to another city"})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        a.clock.set(real_now - HOUR);
        let ana = a.login("ana@velo.coop").await;
        let (s, body) = a
            .request(Method::POST, "/v1/coops/velo/me/credential", None, None)
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{body}");
        let (s, body) = a
            .request(
                Method::POST,
                "/v1/coops/velo/me/credential",
                Some(&ana),
                Some(json!({"valid_days": 0})),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let (s, vc) = a
            .request(
                Method::POST,
                "/v1/coops/velo/me/credential",
                Some(&ana),
                Some(json!({"include_name": true})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{backend:?}: {vc}");

        // What it says.
        let issuer_id = format!("{a_url}/.well-known/coophost/coops/velo");
        assert_eq!(vc["issuer"]["id"], issuer_id);
        assert_eq!(vc["issuer"]["name"], "Coop velo");
        assert_eq!(
            vc["type"],
            json!(["VerifiableCredential", "CoopWorkCredential"])
        );
        assert_eq!(vc["proof"]["cryptosuite"], "eddsa-jcs-2022");
        assert_eq!(
            vc["proof"]["verificationMethod"],
            format!("{issuer_id}/keys.json#key-1")
        );
        assert!(vc["proof"]["proofValue"].as_str().unwrap().starts_with('z'));
        assert_eq!(vc["validFrom"], datetime::format(real_now - HOUR));
        assert_eq!(
            vc["validUntil"],
            datetime::format(real_now - HOUR + 90 * DAY)
        );
        let subject = &vc["credentialSubject"];
        assert!(!vc.to_string().contains("ana@velo.coop"), "no email: {vc}");
        assert_eq!(
            subject["id"],
            credentials::subject_id(&a.app.secret, coop.id, ana_id)
        );
        assert_eq!(subject["name"], "ana");
        assert_eq!(subject["membership"]["membershipStatus"], "left");
        assert!(subject["membership"]["left"].is_string(), "{subject}");
        let history = &subject["workHistory"];
        let month = |m: Month| {
            history["months"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| x["month"] == m.to_string())
                .cloned()
                .unwrap_or_else(|| panic!("no {m} in {history}"))
        };
        let (w1, w2) = (month(m1), month(m2));
        assert_eq!(
            (
                &w1["onShiftMinutes"],
                &w1["jobsSettled"],
                &w1["grossEarnings"],
                &w1["netEarnings"]
            ),
            (&json!(180), &json!(2), &json!(4000), &json!(4000)),
            "{w1}"
        );
        assert_eq!(
            (
                &w2["onShiftMinutes"],
                &w2["jobsSettled"],
                &w2["grossEarnings"]
            ),
            (&json!(60), &json!(1), &json!(2000)),
            "{w2}"
        );
        assert_eq!(history["totalJobsSettled"], 3);
        assert_eq!(history["totalOnShiftMinutes"], 240);
        assert_eq!(history["totalNetEarnings"], 6000);
        assert_eq!(history["currency"], "EUR");
        assert_eq!(subject["ratings"]["ratingCount"], 0);

        // A's public issuer profile and keys, without login, over HTTP.
        let (s, profile) = http("GET", &issuer_id, None).await;
        assert_eq!(s, 200, "{profile}");
        assert_eq!(profile["keys"], format!("{issuer_id}/keys.json"));
        let (s, keys_doc) = http("GET", &format!("{issuer_id}/keys.json"), None).await;
        assert_eq!(s, 200);
        assert!(
            keys_doc["verificationMethod"][0]["publicKeyMultibase"]
                .as_str()
                .unwrap()
                .starts_with("z6Mk"),
            "{keys_doc}"
        );
        let (s, ctx) = http(
            "GET",
            &format!("{b_url}/.well-known/coophost/contexts/work-v1.jsonld"),
            None,
        )
        .await;
        assert_eq!(s, 200);
        assert!(ctx["@context"]["workHistory"].is_string(), "{ctx}");

        // Host B verifies it, fetching A's key over HTTP.
        let verify_url = format!("{b_url}/v1/credentials/verify");
        let verify = |credential: Value| {
            let url = verify_url.clone();
            async move {
                let (s, v) = http("POST", &url, Some(&json!({"credential": credential}))).await;
                assert_eq!(s, 200, "{v}");
                v
            }
        };
        let v = verify(vc.clone()).await;
        assert_eq!(v["verified"], true, "{backend:?}: {v}");
        assert_eq!(v["key_source"], "fetched");
        assert_eq!(v["issuer"], issuer_id);
        assert_eq!(
            v["credential_subject"]["workHistory"]["totalJobsSettled"],
            3
        );

        // Tampered: one more job, or one more euro.
        let mut forged = vc.clone();
        forged["credentialSubject"]["workHistory"]["totalNetEarnings"] = json!(6001);
        let v = verify(forged).await;
        assert_eq!(
            (&v["verified"], &v["reason"]),
            (&json!(false), &json!("tampered")),
            "{v}"
        );
        let mut forged = vc.clone();
        forged["validUntil"] = json!(datetime::format(real_now + 900 * DAY));
        assert_eq!(verify(forged).await["reason"], "tampered");
        // A term no bundled context defines.
        let mut forged = vc.clone();
        forged["credentialSubject"]["bonus"] = json!(true);
        assert_eq!(verify(forged).await["reason"], "unknown-context");
        // Borrowing another issuer's name: B has no coop velo.
        let mut forged = vc.clone();
        forged["issuer"]["id"] = json!(format!("{b_url}/.well-known/coophost/coops/velo"));
        assert_eq!(verify(forged).await["reason"], "unknown-key");
        // Not JSON of the right shape: a 400, not a verdict.
        let (s, body) = http("POST", &verify_url, Some(&json!({"vc": vc}))).await;
        assert_eq!(s, 400, "{body}");

        // Expired, by B's clock; and not yet valid.
        let valid_until = datetime::parse(vc["validUntil"].as_str().unwrap()).unwrap();
        b.clock.set(valid_until + 1000);
        let v = verify(vc.clone()).await;
        assert_eq!(
            (&v["verified"], &v["reason"]),
            (&json!(false), &json!("expired")),
            "{v}"
        );
        b.clock.set(real_now - 2 * HOUR);
        assert_eq!(verify(vc.clone()).await["reason"], "not-yet-valid");
        b.clock.set(real_now);

        // Offline at B: the keys given, nothing fetched.
        let (s, v) = b
            .request(
                Method::POST,
                "/v1/credentials/verify",
                None,
                Some(json!({"credential": vc, "keys": keys_doc})),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(
            (&v["verified"], &v["key_source"]),
            (&json!(true), &json!("given")),
            "{v}"
        );
        // A's own host reads its own keys.
        let (_, v) = a
            .request(
                Method::POST,
                "/v1/credentials/verify",
                None,
                Some(json!({"credential": vc})),
            )
            .await;
        assert_eq!(
            (&v["verified"], &v["key_source"]),
            (&json!(true), &json!("local")),
            "{v}"
        );

        // The CLI, offline with the key file: exit 0; tampered: non-zero.
        let dir = tempfile::tempdir().unwrap();
        let (vc_file, key_file, bad_file, mk_file) = (
            dir.path().join("credential.json"),
            dir.path().join("keys.json"),
            dir.path().join("forged.json"),
            dir.path().join("key.txt"),
        );
        std::fs::write(&vc_file, serde_json::to_string_pretty(&vc).unwrap()).unwrap();
        std::fs::write(&key_file, keys_doc.to_string()).unwrap();
        std::fs::write(
            &mk_file,
            keys_doc["verificationMethod"][0]["publicKeyMultibase"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        let mut forged = vc.clone();
        forged["credentialSubject"]["workHistory"]["months"][0]["jobsSettled"] = json!(40);
        std::fs::write(&bad_file, forged.to_string()).unwrap();
        for key in [&key_file, &mk_file] {
            let out = coophost_cli()
                .args(["credential", "verify"])
                .arg(&vc_file)
                .arg("--key")
                .arg(key)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(String::from_utf8_lossy(&out.stdout).contains("\"verified\": true"));
        }
        let out = coophost_cli()
            .args(["credential", "verify"])
            .arg(&bad_file)
            .arg("--key")
            .arg(&key_file)
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("\"tampered\""),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );

        // Rotation keeps old credentials valid; revoking key-1 does not.
        let (s, body) = a
            .request(
                Method::POST,
                "/v1/coops/velo/credential-keys/rotate",
                Some(&ana),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
        let admin = a.login("admin@velo.coop").await;
        let (s, body) = a
            .request(
                Method::POST,
                "/v1/coops/velo/credential-keys/rotate",
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        assert_eq!(body["id"], format!("{issuer_id}/keys.json#key-2"));
        assert_eq!(verify(vc.clone()).await["verified"], true);
        let (_, vc2) = a
            .request(
                Method::POST,
                "/v1/coops/velo/me/credential",
                Some(&ana),
                None,
            )
            .await;
        assert_eq!(
            vc2["proof"]["verificationMethod"],
            format!("{issuer_id}/keys.json#key-2")
        );
        assert!(
            vc2["credentialSubject"].get("name").is_none(),
            "name only on request"
        );
        let (s, body) = a
            .request(
                Method::POST,
                "/v1/coops/velo/credential-keys/1/revoke",
                Some(&admin),
                Some(json!({"reason": ""})),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let (s, body) = a
            .request(
                Method::POST,
                "/v1/coops/velo/credential-keys/key-1/revoke",
                Some(&admin),
                Some(json!({"reason": "old laptop lost"})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let v = verify(vc.clone()).await;
        assert_eq!(
            (&v["verified"], &v["reason"]),
            (&json!(false), &json!("revoked-key")),
            "{v}"
        );
        assert_eq!(verify(vc2.clone()).await["verified"], true);

        a.finish().await;
        b.finish().await;
    }
}

#[tokio::test]
async fn a_host_without_a_public_url_says_so_and_unreachable_issuers_are_reported() {
    let host = TestHost::new(crate::common::Backend::Sqlite).await;
    let coop = host.coop("solo").await;
    let ana = host
        .member(&coop, "ana@solo.coop", &["worker", "member"])
        .await;
    let (s, body) = host
        .request(
            Method::POST,
            "/v1/coops/solo/me/credential",
            Some(&ana),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--public-url"),
        "{body}"
    );
    // An issuer nobody listens at: the verdict says the key is unavailable.
    host.app.set_public_url("http://127.0.0.1:9");
    let (_, vc) = host
        .request(
            Method::POST,
            "/v1/coops/solo/me/credential",
            Some(&ana),
            None,
        )
        .await;
    assert!(vc["proof"].is_object(), "{vc}");
    // This host moves; the credential's issuer is now another host.
    host.app.set_public_url("http://127.0.0.1:9/elsewhere");
    let started = std::time::Instant::now();
    let (s, v) = host
        .request(
            Method::POST,
            "/v1/credentials/verify",
            None,
            Some(json!({"credential": vc})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (&v["verified"], &v["reason"]),
        (&json!(false), &json!("key-unavailable")),
        "{v}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    host.finish().await;
}
