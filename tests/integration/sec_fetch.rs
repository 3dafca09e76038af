//! Issue 16, item 8: credential verification fetches an issuer's keys
//! only from public addresses on port 80, or from addresses the operator
//! allows; a name is checked by what it resolves to; the caller never
//! learns why a fetch failed; verification is throttled per client.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::{Value, json};

use crate::common::{Backend, TestHost, backends};

async fn count(State(hits): State<Arc<AtomicUsize>>, req: Request, next: Next) -> Response {
    hits.fetch_add(1, Ordering::SeqCst);
    next.run(req).await
}

/// Serve `host` on 127.0.0.1, counting the requests it answers.
async fn serve_counted(host: &TestHost) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let router = coophost::api::router(Arc::clone(&host.app))
        .layer(axum::middleware::from_fn_with_state(hits.clone(), count));
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (addr, hits)
}

/// A credential from `issuer` (a host serving as `public_url`).
async fn credential(issuer: &TestHost, public_url: &str, slug: &str, token: &str) -> Value {
    issuer.app.set_public_url(public_url);
    let (s, vc) = issuer
        .request(
            Method::POST,
            &format!("/v1/coops/{slug}/me/credential"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{vc}");
    vc
}

async fn verify(verifier: &TestHost, vc: &Value) -> Value {
    let (s, v) = verifier
        .request(
            Method::POST,
            "/v1/credentials/verify",
            None,
            Some(json!({"credential": vc})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v
}

#[tokio::test]
async fn issuer_keys_are_fetched_only_from_allowed_addresses() {
    let a = TestHost::new(Backend::Sqlite).await;
    let b = TestHost::new(Backend::Sqlite).await;
    let coop = a.coop("velo").await;
    let ana = a
        .member(&coop, "ana@velo.coop", &["worker", "member"])
        .await;
    let (a_addr, hits) = serve_counted(&a).await;
    let port = a_addr.port();
    let (ip_url, name_url) = (
        format!("http://127.0.0.1:{port}"),
        format!("http://localhost:{port}"),
    );
    let by_ip = credential(&a, &ip_url, "velo", &ana).await;
    let by_name = credential(&a, &name_url, "velo", &ana).await;

    // Without the operator's allowance: refused, nothing connects, and the
    // verdict says only that the keys could not be fetched.
    for vc in [&by_ip, &by_name] {
        let v = verify(&b, vc).await;
        assert_eq!(
            (&v["verified"], &v["reason"]),
            (&json!(false), &json!("key-unavailable")),
            "{v}"
        );
        let message = v["message"].as_str().unwrap();
        assert!(
            message.starts_with("could not fetch the issuer's keys from http://"),
            "{message}"
        );
        for detail in [
            "resolve",
            "connect",
            "refused",
            "127.0.0.1:",
            "::1",
            "allow",
        ] {
            assert!(
                !message
                    .replace(&format!("127.0.0.1:{port}"), "")
                    .contains(detail),
                "{detail:?} leaked in {message}"
            );
        }
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "a refused address was reached"
    );

    // A malformed credential is refused before any fetch, allowed or not.
    b.app.allow_fetch_from(vec![a_addr]);
    let mut broken = by_ip.clone();
    broken["proof"]["proofValue"] = json!(42);
    let v = verify(&b, &broken).await;
    assert_eq!(v["reason"], "malformed", "{v}");
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "fetched for a malformed credential"
    );

    // With the allowance, both verify: `localhost` is judged by the
    // address it resolves to and the connection goes to that address.
    for (vc, url) in [(&by_ip, &ip_url), (&by_name, &name_url)] {
        // A's keys document names A by its public URL at the time.
        a.app.set_public_url(url);
        let v = verify(&b, vc).await;
        assert_eq!(
            (&v["verified"], &v["key_source"]),
            (&json!(true), &json!("fetched")),
            "{v}"
        );
    }
    assert_eq!(hits.load(Ordering::SeqCst), 2);

    // Allowing another port of the same address allows nothing here.
    b.app
        .allow_fetch_from(vec![SocketAddr::new(a_addr.ip(), port.wrapping_add(1))]);
    assert_eq!(verify(&b, &by_ip).await["verified"], false);
    assert_eq!(hits.load(Ordering::SeqCst), 2);

    // Private, link-local and metadata addresses: refused before any
    // connection (the fetch reports a refusal, not a failure).
    let strict = b.app.fetch_policy();
    for url in [
        "http://169.254.169.254/.well-known/coophost/coops/velo/keys.json",
        "http://10.0.0.8/.well-known/coophost/coops/velo/keys.json",
        "http://192.168.1.1/.well-known/coophost/coops/velo/keys.json",
        "http://[fe80::1]/.well-known/coophost/coops/velo/keys.json",
        "http://[::1]/.well-known/coophost/coops/velo/keys.json",
        "http://localhost/.well-known/coophost/coops/velo/keys.json",
    ] {
        let got = coophost::credentials::fetch::get_json(url, &strict).await;
        assert!(
            matches!(
                got,
                Err(coophost::credentials::fetch::FetchError::Refused(_))
            ),
            "{url}: {got:?}"
        );
    }
    a.finish().await;
    b.finish().await;
}

#[tokio::test]
async fn verification_is_throttled_per_client_address() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let coop = host.coop("velo").await;
        let ana = host
            .member(&coop, "ana@velo.coop", &["worker", "member"])
            .await;
        host.app.set_public_url("http://127.0.0.1:9");
        let (_, vc) = host
            .request(
                Method::POST,
                "/v1/coops/velo/me/credential",
                Some(&ana),
                None,
            )
            .await;
        let from: SocketAddr = "203.0.113.7:40000".parse().unwrap();
        let other: SocketAddr = "198.51.100.9:40000".parse().unwrap();
        let ask = |peer: SocketAddr| {
            let vc = vc.clone();
            let host = &host;
            async move {
                host.request_from(
                    peer,
                    Method::POST,
                    "/v1/credentials/verify",
                    None,
                    Some(json!({"credential": vc})),
                )
                .await
            }
        };
        for i in 0..coophost::api::VERIFY_PER_IP.limit {
            let (s, v) = ask(from).await;
            assert_eq!(s, StatusCode::OK, "{backend:?} {i}: {v}");
            assert_eq!(v["verified"], true, "{v}");
        }
        let (s, v) = ask(from).await;
        assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{backend:?}: {v}");
        assert_eq!(v["error"]["code"], "verify-throttled", "{v}");
        // Another address is not slowed by the first one's requests.
        let (s, v) = ask(other).await;
        assert_eq!(s, StatusCode::OK, "{backend:?}: {v}");
        host.finish().await;
    }
}
