//! Holes an independent review found in the issue-16 work, each closed
//! with a test through the router on both backends: an API key outliving
//! its issuer's powers, IPv6 clients escaping per-address limits, and an
//! attack from many addresses keeping the owner out of their account.

use std::net::SocketAddr;

use axum::http::{Method, StatusCode};
use coophost::identity::login::{LOGIN_ACCOUNT_RULE, LOGIN_ADDRESS_STEPS, LOGIN_DEVICE_STEPS};
use serde_json::{Value, json};

use crate::common::{TestHost, backends};
use crate::sec_members::{member_id, suspend};

const PASSWORD: &str = "correct horse battery staple";

async fn login_from(
    host: &TestHost,
    peer: SocketAddr,
    email: &str,
    password: &str,
    device: Option<&str>,
) -> (StatusCode, Value) {
    host.request_from(
        peer,
        Method::POST,
        "/v1/auth/login",
        None,
        Some(json!({"email": email, "password": password, "device": device})),
    )
    .await
}

#[tokio::test]
async fn an_api_key_acts_only_while_its_issuer_is_an_active_admin() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let coop = host.coop("keys").await;
        let eve = host
            .member(&coop, "eve@keys.coop", &["admin", "member"])
            .await;
        let ada = host
            .member(&coop, "ada@keys.coop", &["admin", "member"])
            .await;
        let eve_id = member_id(&host, coop.id, "eve@keys.coop").await;
        let (s, body) = host
            .request(
                Method::POST,
                "/v1/coops/keys/api-keys",
                Some(&eve),
                Some(json!({"name": "eve's script", "role": "admin"})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{backend:?} {body}");
        let key = body["api_key"]["key"].as_str().unwrap().to_string();
        let members = "/v1/coops/keys/members";
        let (s, body) = host.request(Method::GET, members, Some(&key), None).await;
        assert_eq!(s, StatusCode::OK, "{backend:?} {body}");

        // Eve is suspended: her key stops with her, for every route.
        suspend(&host, "keys", &ada, eve_id).await;
        let (s, body) = host.request(Method::GET, members, Some(&key), None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{backend:?} {body}");
        let msg = body["error"]["message"].as_str().unwrap_or_default();
        assert!(msg.contains("no longer active"), "{backend:?} {body}");
        let (s, body) = host
            .request(
                Method::POST,
                "/v1/coops/keys/api-keys",
                Some(&key),
                Some(json!({"name": "a fresh one", "role": "admin"})),
            )
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{backend:?} {body}");

        // Reinstated, her key acts again (it was never more than hers).
        let (s, body) = host
            .request(
                Method::PUT,
                &format!("/v1/coops/keys/members/{eve_id}/status"),
                Some(&ada),
                Some(json!({"status": "active", "reason": "the appeal was upheld"})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{backend:?} {body}");
        let (s, body) = host.request(Method::GET, members, Some(&key), None).await;
        assert_eq!(s, StatusCode::OK, "{backend:?} {body}");
        host.finish().await;
    }
}

#[tokio::test]
async fn a_proven_device_gets_in_while_many_addresses_attack_the_account() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let coop = host.coop("dev").await;
        host.member(&coop, "ana@dev.coop", &["member"]).await;
        let home = SocketAddr::from(([198, 51, 100, 7], 5000));
        let (s, body) = login_from(&host, home, "ana@dev.coop", PASSWORD, None).await;
        assert_eq!(s, StatusCode::OK, "{backend:?} {body}");
        let proof = body["device"].as_str().expect("a device proof").to_string();

        // A botnet spends the account-wide ceiling from many addresses.
        for i in 0..LOGIN_ACCOUNT_RULE.limit {
            let peer = SocketAddr::from(([203, 0, 113, i as u8 + 1], 1000));
            let (s, b) = login_from(&host, peer, "ana@dev.coop", "botnet guess", None).await;
            assert_eq!(s, StatusCode::UNAUTHORIZED, "{backend:?}: {i} {b}");
        }
        // Without the proof, even the owner's right password waits...
        let (s, b) = login_from(&host, home, "ana@dev.coop", PASSWORD, None).await;
        assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{backend:?}: {b}");
        assert_eq!(b["error"]["code"], "login-throttled-account", "{b}");
        // ...with it, she gets in at once, from home or anywhere, and
        // gets a fresh proof.
        let (s, b) = login_from(&host, home, "ana@dev.coop", PASSWORD, Some(&proof)).await;
        assert_eq!(s, StatusCode::OK, "{backend:?}: {b}");
        let fresh = b["device"].as_str().unwrap().to_string();
        assert_ne!(fresh, proof);
        let cafe = SocketAddr::from(([192, 0, 2, 44], 5000));
        let (s, b) = login_from(&host, cafe, "ana@dev.coop", PASSWORD, Some(&fresh)).await;
        assert_eq!(s, StatusCode::OK, "{backend:?}: {b}");

        // A stolen proof buys no more guesses than one address gets, and
        // a forged or another account's proof counts for nothing.
        for i in 0..LOGIN_DEVICE_STEPS[0].limit {
            let (s, b) = login_from(&host, cafe, "ana@dev.coop", "thief", Some(&fresh)).await;
            assert_eq!(s, StatusCode::UNAUTHORIZED, "{backend:?}: {i} {b}");
        }
        let (s, b) = login_from(&host, cafe, "ana@dev.coop", "thief", Some(&fresh)).await;
        assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{backend:?}: {b}");
        assert_eq!(b["error"]["code"], "login-throttled-device", "{b}");
        let last = if fresh.ends_with('0') { '1' } else { '0' };
        let forged = format!("{}{last}", &fresh[..fresh.len() - 1]);
        let (s, b) = login_from(&host, home, "ana@dev.coop", PASSWORD, Some(&forged)).await;
        assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{backend:?}: {b}");
        assert_eq!(b["error"]["code"], "login-throttled-account", "{b}");
        host.finish().await;
    }
}

#[tokio::test]
async fn ipv6_addresses_of_one_network_share_one_limit() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let coop = host.coop("six").await;
        for i in 0..8 {
            host.member(&coop, &format!("m{i}@six.coop"), &["member"])
                .await;
        }
        // One attacker, a fresh address of its /64 for every try, a few
        // tries on each of several accounts: the address limit sees one
        // client and stops it, as it would stop one IPv4 address.
        let limit = LOGIN_ADDRESS_STEPS[0].limit;
        let mut refused = None;
        for n in 0..limit + 1 {
            let ip: std::net::Ipv6Addr = format!("2001:db8:7:7::{:x}", n + 1).parse().unwrap();
            let peer = SocketAddr::new(ip.into(), 443);
            let email = format!("m{}@six.coop", n % 8);
            let (s, b) = login_from(&host, peer, &email, "spray", None).await;
            if s == StatusCode::TOO_MANY_REQUESTS {
                refused = Some((n, b));
                break;
            }
            assert_eq!(s, StatusCode::UNAUTHORIZED, "{backend:?}: {n} {b}");
        }
        let (n, b) = refused.expect("the /64 was throttled as one client");
        assert_eq!(n, limit, "{backend:?}");
        assert_eq!(b["error"]["code"], "login-throttled-address", "{b}");
        // Another network is not held up.
        let other = SocketAddr::new("2001:db8:7:8::1".parse::<std::net::IpAddr>().unwrap(), 443);
        let (s, b) = login_from(&host, other, "m0@six.coop", PASSWORD, None).await;
        assert_eq!(s, StatusCode::OK, "{backend:?}: {b}");
        host.finish().await;
    }
}

#[tokio::test]
async fn metrics_follow_the_operator_second_factor_rule_like_every_route() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let token = host.operator("ops@host.example").await;
        let (s, body) = host
            .request(Method::GET, "/metrics", Some(&token), None)
            .await;
        assert_eq!(s, StatusCode::OK, "{backend:?} {body}");
        // The host requires the operator's second factor: a session opened
        // with the password alone reads no metrics, as it creates no coop.
        host.app.set_require_operator_second_factor(true);
        let (s, body) = host
            .request(Method::GET, "/metrics", Some(&token), None)
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{backend:?} {body}");
        host.finish().await;
    }
}

/// The security notices queued for `email`, oldest first.
async fn notices(host: &TestHost, email: &str) -> Vec<coophost::mail::SecurityChange> {
    let mut out: Vec<_> = coophost::mail::list(&host.app.db, Some(email), None, 100)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|m| match m.message {
            Some(coophost::mail::Message::SecurityChange { change }) => Some(change),
            _ => None,
        })
        .collect();
    out.reverse();
    out
}

#[tokio::test]
async fn second_factor_changes_are_told_to_the_owner_and_the_operator_can_reset_a_lost_one() {
    use coophost::mail::SecurityChange as C;
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let coop = host.coop("lost").await;
        let token = host.member(&coop, "ana@lost.coop", &["member"]).await;
        let (secret, _codes) = crate::sec_login::enrol(&host, &token).await;
        host.clock.advance(31_000);
        let (s, b) = host
            .request(
                Method::POST,
                "/v1/me/second-factor/recovery-codes",
                Some(&token),
                Some(json!({"code": crate::sec_login::code(&host, &secret)})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{backend:?} {b}");
        assert_eq!(
            notices(&host, "ana@lost.coop").await,
            vec![C::SecondFactorOn, C::RecoveryCodesReplaced],
            "{backend:?}"
        );

        // Phone and codes lost: the operator removes the factor. Every
        // session ends, the password alone logs in again, Ana is told.
        let had = coophost::identity::second_factor::reset_by_operator(
            &host.app.db,
            &*host.app.clock,
            "Ana@Lost.coop",
        )
        .await
        .unwrap();
        assert!(had, "{backend:?}");
        let (s, b) = host
            .request(Method::GET, "/v1/me", Some(&token), None)
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{backend:?} {b}");
        let (s, b) = host
            .request(
                Method::POST,
                "/v1/auth/login",
                None,
                Some(json!({"email": "ana@lost.coop", "password": PASSWORD})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{backend:?} {b}");
        assert!(
            b["token"].is_string(),
            "{backend:?}: no challenge any more: {b}"
        );
        assert_eq!(
            notices(&host, "ana@lost.coop").await.last(),
            Some(&C::SecondFactorResetByOperator),
            "{backend:?}"
        );
        let missing = coophost::identity::second_factor::reset_by_operator(
            &host.app.db,
            &*host.app.clock,
            "nobody@lost.coop",
        )
        .await;
        assert!(missing.is_err(), "{backend:?}");
        host.finish().await;
    }
}

#[tokio::test]
async fn an_admin_invites_rather_than_binds_someone_with_an_account() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let one = host.coop("one").await;
        let two = host.coop("two").await;
        let admin = host
            .member(&two, "admin@two.coop", &["admin", "member"])
            .await;
        // Ana is a member of another coop on this host.
        let ana = host.member(&one, "ana@one.coop", &["member"]).await;
        let (s, body) = host
            .request(
                Method::POST,
                "/v1/coops/two/members",
                Some(&admin),
                Some(json!({"email": "ana@one.coop", "display_name": "Whoever", "roles": ["member"]})),
            )
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{backend:?} {body}");
        assert!(body["invitation"]["id"].is_i64(), "{backend:?} {body}");
        // Nothing of her account is shown: the name is the admin's own.
        assert_eq!(body["invitation"]["display_name"], "Whoever", "{body}");
        assert!(!body.to_string().contains("\"ana\""), "{backend:?} {body}");
        // She is not a member of two until she accepts.
        let (s, body) = host
            .request(Method::GET, "/v1/coops/two", Some(&ana), None)
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{backend:?} {body}");
        let (_, members) = host
            .request(Method::GET, "/v1/coops/two/members", Some(&admin), None)
            .await;
        assert!(
            !members.to_string().contains("ana@one.coop"),
            "{backend:?} {members}"
        );
        // A new address is still added at once, with its welcome link.
        let (s, body) = host
            .request(
                Method::POST,
                "/v1/coops/two/members",
                Some(&admin),
                Some(json!({"email": "new@two.coop", "display_name": "New", "roles": ["member"]})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{backend:?} {body}");
        host.finish().await;
    }
}
