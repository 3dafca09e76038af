//! The HTTP API: authentication, errors, tenancy.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{Backend, TestHost, backends};

#[tokio::test]
async fn health_and_unknown_routes_answer_json() {
    let host = TestHost::new(Backend::Sqlite).await;
    let (s, body) = host.request(Method::GET, "/healthz", None, None).await;
    assert_eq!((s, body), (StatusCode::OK, json!({"status": "ok"})));
    let (s, body) = host.request(Method::GET, "/nope", None, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("openapi")
    );
    host.finish().await;
}

#[tokio::test]
async fn login_logout_expiry_and_throttling() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let coop = host.coop("auth").await;
        let token = host.member(&coop, "ana@auth.coop", &["member"]).await;
        let (s, _) = host
            .request(Method::GET, "/v1/me", Some(&token), None)
            .await;
        assert_eq!(s, StatusCode::OK);

        let (s, body) = host
            .request(Method::GET, "/v1/me", Some("cht_forged"), None)
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{body}");
        let (s, body) = host
            .request(Method::GET, "/v1/coops/auth", None, None)
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{body}");

        // Logging out kills the token.
        let (s, _) = host
            .request(Method::POST, "/v1/auth/logout", Some(&token), None)
            .await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, body) = host
            .request(Method::GET, "/v1/me", Some(&token), None)
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("logged out"),
            "{body}"
        );

        // Tokens expire.
        let login = json!({"email": "ana@auth.coop", "password": "correct horse battery staple"});
        let (_, body) = host
            .request(Method::POST, "/v1/auth/login", None, Some(login.clone()))
            .await;
        let token = body["token"].as_str().unwrap().to_string();
        host.clock.advance(coophost::identity::SESSION_TTL_MS + 1);
        let (s, body) = host
            .request(Method::GET, "/v1/me", Some(&token), None)
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("expired"),
            "{body}"
        );

        // Five wrong passwords, then even the right one is refused for a
        // while from the same address (see the sec_login tests for the rest).
        let wrong = json!({"email": "ana@auth.coop", "password": "not the password"});
        let first_step = coophost::identity::login::LOGIN_ACCOUNT_ADDRESS_STEPS[0];
        for _ in 0..first_step.limit {
            let (s, _) = host
                .request(Method::POST, "/v1/auth/login", None, Some(wrong.clone()))
                .await;
            assert_eq!(s, StatusCode::UNAUTHORIZED);
        }
        let (s, body) = host
            .request(Method::POST, "/v1/auth/login", None, Some(login.clone()))
            .await;
        assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{body}");
        assert_eq!(body["error"]["code"], "login-throttled", "{body}");
        host.clock.advance(first_step.window_ms + 1);
        let (s, _) = host
            .request(Method::POST, "/v1/auth/login", None, Some(login))
            .await;
        assert_eq!(s, StatusCode::OK);
        host.finish().await;
    }
}

#[tokio::test]
async fn malformed_and_oversized_bodies_get_4xx() {
    let host = TestHost::new(Backend::Sqlite).await;
    let (s, body) = host
        .raw_request(
            Method::POST,
            "/v1/auth/login",
            None,
            Some("{\"email\": ".into()),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "bad-json");
    let (s, body) = host
        .request(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"email": "x@y.z"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("password"),
        "{body}"
    );
    let big = format!("\"{}\"", "x".repeat(coophost::api::MAX_BODY_BYTES + 10));
    let (s, body) = host
        .raw_request(Method::POST, "/v1/auth/login", None, Some(big))
        .await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    host.finish().await;
}

#[tokio::test]
async fn api_keys_act_for_one_coop_and_can_be_revoked() {
    let host = TestHost::new(Backend::Sqlite).await;
    let a = host.coop("key-a").await;
    host.coop("key-b").await;
    let admin = host.member(&a, "admin@a.coop", &["admin"]).await;
    let worker = host.member(&a, "w@a.coop", &["worker"]).await;
    let (s, body) = host
        .request(
            Method::POST,
            "/v1/coops/key-a/api-keys",
            Some(&worker),
            Some(json!({"name": "shop", "role": "member"})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    let (s, body) = host
        .request(
            Method::POST,
            "/v1/coops/key-a/api-keys",
            Some(&admin),
            Some(json!({"name": "shop", "role": "member"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let key = body["api_key"]["key"].as_str().unwrap().to_string();
    let id = body["api_key"]["id"].as_i64().unwrap();
    let (s, _) = host
        .request(Method::GET, "/v1/coops/key-a/members", Some(&key), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, body) = host
        .request(Method::GET, "/v1/coops/key-b/members", Some(&key), None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    let (s, _) = host
        .request(
            Method::DELETE,
            &format!("/v1/coops/key-a/api-keys/{id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, body) = host
        .request(Method::GET, "/v1/coops/key-a/members", Some(&key), None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("revoked")
    );
    host.finish().await;
}

/// Fill `{param}` segments with plausible values for coop `coop`.
fn concrete(path: &str, coop: &str) -> String {
    path.split('/')
        .map(|seg| match seg {
            "{coop}" => coop.to_string(),
            "{member}" | "{key}" => "1".to_string(),
            "{plugin}" => "shift-board-rs".to_string(),
            "{name}" => "max-shifts-per-week".to_string(),
            "{package}" => "coop:examples".to_string(),
            "{interface}" => "shift-board".to_string(),
            "{function}" => "list-shifts".to_string(),
            s => s.to_string(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Every coop-scoped route in the coop's OpenAPI, host routes and generated
/// interface routes alike, refuses a member of another coop, and a service
/// key of another coop.
#[tokio::test]
async fn every_route_denies_other_coops() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let a = host.coop("coop-a").await;
        let b = host.coop("coop-b").await;
        host.install(&a, "shift-board-rs").await;
        host.install(&b, "shift-board-rs").await;
        let a_admin = host
            .member(&a, "admin@a.coop", &["admin", "member", "worker"])
            .await;
        let b_admin = host
            .member(&b, "admin@b.coop", &["admin", "member", "worker"])
            .await;
        let (_, body) = host
            .request(
                Method::POST,
                "/v1/coops/coop-b/api-keys",
                Some(&b_admin),
                Some(json!({"name": "k", "role": "admin"})),
            )
            .await;
        let b_key = body["api_key"]["key"].as_str().unwrap().to_string();
        // The coop's own document lists its interfaces' routes too.
        let (_, doc) = host
            .request(
                Method::GET,
                "/v1/coops/coop-a/openapi.json",
                Some(&a_admin),
                None,
            )
            .await;
        let paths = doc["paths"].as_object().expect("paths");
        let mut checked = 0;
        for (path, ops) in paths {
            if !path.contains("{coop}") {
                continue;
            }
            for (method, op) in ops.as_object().unwrap() {
                if op["description"] == "Access: anyone." {
                    // Public pages (e.g. the floor report) name no one.
                    continue;
                }
                let m: Method = method.to_uppercase().parse().unwrap();
                let url = concrete(path, "coop-a");
                let body = matches!(m, Method::POST | Method::PUT).then(|| json!({}));
                for cred in [&b_admin, &b_key] {
                    let (s, resp) = host
                        .request(m.clone(), &url, Some(cred), body.clone())
                        .await;
                    assert_eq!(
                        s,
                        StatusCode::FORBIDDEN,
                        "{backend:?} {method} {url} leaked: {resp}"
                    );
                }
                if path.ends_with("/stream") {
                    // A live stream never ends; tenancy is what matters here.
                    checked += 1;
                    continue;
                }
                // The coop's own admin gets past tenancy (any status but 403 from tenancy).
                let (s, resp) = host
                    .request(m.clone(), &url, Some(&a_admin), body.clone())
                    .await;
                let tenancy_denial = s == StatusCode::FORBIDDEN
                    && resp["error"]["message"]
                        .as_str()
                        .unwrap_or("")
                        .contains("not a member");
                assert!(!tenancy_denial, "{method} {url}: own admin refused: {resp}");
                checked += 1;
            }
        }
        assert!(
            checked >= 17,
            "only {checked} coop routes found in /openapi.json"
        );
        // Listing coops shows only one's own.
        let (_, body) = host
            .request(Method::GET, "/v1/coops", Some(&b_admin), None)
            .await;
        let slugs: Vec<&Value> = body["coops"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| &c["slug"])
            .collect();
        assert_eq!(slugs, [&json!("coop-b")]);
        host.finish().await;
    }
}

#[tokio::test]
async fn openapi_documents_installed_interfaces_from_wit() {
    let host = TestHost::new(Backend::Sqlite).await;
    let a = host.coop("doc").await;
    host.install(&a, "shift-board-rs").await;
    let ana = host.member(&a, "ana@doc.coop", &["member"]).await;
    let (s, doc) = host
        .request(Method::GET, "/v1/coops/doc/openapi.json", Some(&ana), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let op = &doc["paths"]["/v1/coops/{coop}/call/coop:examples/shift-board/post-shift"]["post"];
    let schema = &op["requestBody"]["content"]["application/json"]["schema"];
    assert_eq!(schema["type"], "object", "{op}");
    assert!(
        schema["properties"]["shift"]["properties"]["title"].is_object(),
        "{schema}"
    );
    assert!(
        op["description"]
            .as_str()
            .unwrap()
            .contains("post-shift: func(shift: record"),
        "{op}"
    );
    for r in coophost::api::HOST_ROUTES {
        assert!(
            doc["paths"][r.path][r.method].is_object(),
            "{} {} missing",
            r.method,
            r.path
        );
    }
    host.finish().await;
}
