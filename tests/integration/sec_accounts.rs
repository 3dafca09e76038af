//! Accounts are bound to a person only once their address is proven (issue
//! 16, items 1 and 2): the takeover of an address someone applied with
//! first, verification links, expiry of unproven accounts, application
//! throttling, password reset, and the mails themselves, read from a real
//! SMTP server on loopback (see `mailbox`).

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{TestHost, backends};
use crate::mailbox::{Mailbox, deliver, link_token};

const HOUR: i64 = 3_600_000;
const ATTACKER_PW: &str = "attacker chose this one";
const VICTIM_PW: &str = "only the victim knows";

/// Let anyone apply to `slug` (its admin changes the rules).
async fn open_applications(host: &TestHost, slug: &str, admin: &str) {
    let (s, current) = host
        .request(
            Method::GET,
            &format!("/v1/coops/{slug}/governance/rules"),
            Some(admin),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{current}");
    let mut rules = current["rules"].clone();
    rules["membership"]["applications"] = json!(true);
    let (s, body) = host
        .request(
            Method::PUT,
            &format!("/v1/coops/{slug}/governance/rules"),
            Some(admin),
            Some(json!({"rules": rules, "reason": "open to applications"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
}

async fn apply(host: &TestHost, slug: &str, email: &str, password: &str) -> (StatusCode, Value) {
    host.request(
        Method::POST,
        &format!("/v1/coops/{slug}/applications"),
        None,
        Some(
            json!({"email": email, "display_name": "Applicant", "password": password,
            "message": "let me in"}),
        ),
    )
    .await
}

async fn login(host: &TestHost, email: &str, password: &str) -> (StatusCode, Value) {
    host.request(
        Method::POST,
        "/v1/auth/login",
        None,
        Some(json!({"email": email, "password": password})),
    )
    .await
}

/// The attacker applies with the victim's address and a password of their
/// own; later an admin of another coop invites (or adds) the victim. The
/// attacker's password opens nothing, the victim's does.
#[tokio::test]
async fn applying_with_someone_elses_address_takes_over_nothing() {
    let Some(mailbox) = Mailbox::start() else {
        return;
    };
    let mailer = mailbox.mailer();
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let open = host.coop("open").await;
        let admin_open = host
            .member(&open, "admin@open.coop", &["admin", "member"])
            .await;
        open_applications(&host, "open", &admin_open).await;
        let other = host.coop("other").await;
        let admin_other = host
            .member(&other, "admin@other.coop", &["admin", "member"])
            .await;
        let victim = format!("victim-{backend:?}@example.org").to_lowercase();

        // The attacker applies first: the application waits, unseen, and
        // the account opens nothing.
        let (s, body) = apply(&host, "open", &victim, ATTACKER_PW).await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        assert_eq!(body["application"]["status"], "unverified", "{body}");
        let (s, body) = login(&host, &victim, ATTACKER_PW).await;
        assert!(s.is_client_error(), "{backend:?}: {s} {body}");
        let (_, requests) = host
            .request(
                Method::GET,
                "/v1/coops/open/membership-requests",
                Some(&admin_open),
                None,
            )
            .await;
        assert_eq!(requests["requests"], json!([]), "unconfirmed: not shown");

        // The admin of the other coop invites the victim. The token goes to
        // the victim's mailbox, not to the admin.
        let (s, body) = host
            .request(
                Method::POST,
                "/v1/coops/other/invitations",
                Some(&admin_other),
                Some(json!({"email": victim, "display_name": "Victim", "roles": ["admin", "member"]})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        assert!(
            body.get("token").is_none(),
            "the admin never holds it: {body}"
        );
        assert_eq!(body["mailed_to"], victim.as_str());
        deliver(&host, &mailer).await;
        let mails = mailbox.to(&victim);
        // The attacker's verification link went to the victim too.
        assert_eq!(mails.len(), 2, "{mails:?}");
        let verify = link_token(&mails[0].body, "/verify-email");
        let invitation = mailbox.last_to(&victim);
        assert!(
            invitation.subject.contains("Coop other"),
            "{}",
            invitation.subject
        );
        let token = link_token(&invitation.body, "/invitation/other");

        // Puzzled, the victim clicks the attacker's link: without the
        // attacker's password it confirms nothing.
        let (s, body) = host
            .request(
                Method::POST,
                "/v1/auth/verify-email",
                None,
                Some(json!({"token": verify, "password": VICTIM_PW})),
            )
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{body}");

        // The victim accepts the invitation with a password of their own.
        let (s, body) = host
            .request(
                Method::POST,
                "/v1/coops/other/invitations/accept",
                None,
                Some(json!({"token": token, "password": VICTIM_PW})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        assert_eq!(body["member"]["roles"], json!(["admin", "member"]));
        let (s, body) = login(&host, &victim, ATTACKER_PW).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{backend:?}: {body}");
        let (s, body) = login(&host, &victim, VICTIM_PW).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let (s, _) = host
            .request(
                Method::GET,
                "/v1/coops/other",
                Some(body["token"].as_str().unwrap()),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        // The attacker's link now needs the victim's password as well.
        let (s, _) = host
            .request(
                Method::POST,
                "/v1/auth/verify-email",
                None,
                Some(json!({"token": verify, "password": ATTACKER_PW})),
            )
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);

        // The same through an admin's `member add`: no admin picks the
        // password; the victim picks it from the mailed link.
        let second = format!("second-{backend:?}@example.org").to_lowercase();
        let (s, body) = apply(&host, "open", &second, ATTACKER_PW).await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        let (s, body) = host
            .request(
                Method::POST,
                "/v1/coops/other/members",
                Some(&admin_other),
                Some(
                    json!({"email": second, "display_name": "Second", "roles": ["member"],
                    "password": "the admin's choice"}),
                ),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("password"),
            "{body}"
        );
        let (s, body) = host
            .request(
                Method::POST,
                "/v1/coops/other/members",
                Some(&admin_other),
                Some(json!({"email": second, "display_name": "Second", "roles": ["member"]})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        let (s, _) = login(&host, &second, ATTACKER_PW).await;
        assert!(
            s.is_client_error(),
            "{backend:?}: the attacker's password is gone"
        );
        deliver(&host, &mailer).await;
        let welcome = mailbox.last_to(&second);
        assert!(welcome.subject.contains("Welcome"), "{}", welcome.subject);
        let (s, body) = host
            .request(
                Method::POST,
                "/v1/auth/password-reset/confirm",
                None,
                Some(
                    json!({"token": link_token(&welcome.body, "/reset-password"),
                    "password": VICTIM_PW}),
                ),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let (s, body) = login(&host, &second, VICTIM_PW).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        host.finish().await;
    }
}

/// An application reaches the coop once its address is confirmed with the
/// mailed link and the password given; the link works once, and opening it
/// (GET) consumes nothing.
#[tokio::test]
async fn an_application_reaches_the_coop_once_its_address_is_confirmed() {
    let Some(mailbox) = Mailbox::start() else {
        return;
    };
    let mailer = mailbox.mailer();
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let coop = host.coop("velo").await;
        let admin = host
            .member(&coop, "admin@velo.coop", &["admin", "member"])
            .await;
        open_applications(&host, "velo", &admin).await;
        let ana = format!("ana-{backend:?}@example.org").to_lowercase();
        let (s, body) = apply(&host, "velo", &ana, VICTIM_PW).await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        let id = body["application"]["id"].as_i64().unwrap();
        // Not approvable before confirmation.
        let (s, body) = host
            .request(
                Method::POST,
                &format!("/v1/coops/velo/applications/{id}/approve"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::CONFLICT, "{body}");
        let p = deliver(&host, &mailer).await;
        assert_eq!(p.sent, 1, "{p:?}");
        let mail = mailbox.last_to(&ana);
        assert_eq!(mail.mail_from, "noreply@coops.test");
        assert!(
            mail.headers["Content-Type"]
                .as_str()
                .unwrap_or_default()
                .starts_with("text/plain"),
            "{:?}",
            mail.headers
        );
        assert!(
            mail.subject.contains("Confirm your address"),
            "{}",
            mail.subject
        );
        assert!(
            mail.body.contains("https://coops.test/verify-email?token="),
            "{}",
            mail.body
        );
        let token = link_token(&mail.body, "/verify-email");

        // A scanner fetching the link changes nothing.
        let page = crate::web::Browser::new(&host)
            .get(&format!("/verify-email?token={token}"))
            .await;
        assert_eq!(page.status, StatusCode::OK);
        let confirm = |password: &'static str| {
            let (host, token) = (&host, token.clone());
            async move {
                host.request(
                    Method::POST,
                    "/v1/auth/verify-email",
                    None,
                    Some(json!({"token": token, "password": password})),
                )
                .await
            }
        };
        let (s, body) = confirm("not the one given").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{body}");
        let (s, body) = confirm(VICTIM_PW).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert_eq!(body["application"]["status"], "pending");
        assert_eq!(body["coop"]["slug"], "velo");
        let (s, body) = confirm(VICTIM_PW).await;
        assert_eq!(s, StatusCode::CONFLICT, "a link works once: {body}");
        let (s, body) = host
            .request(
                Method::POST,
                "/v1/auth/verify-email",
                None,
                Some(json!({"token": "ver_0000", "password": VICTIM_PW})),
            )
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{body}");

        // Now the admins see it and decide; the applicant logs in.
        let (_, requests) = host
            .request(
                Method::GET,
                "/v1/coops/velo/membership-requests",
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(requests["requests"][0]["id"], id, "{requests}");
        let (s, body) = login(&host, &ana, VICTIM_PW).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let (s, body) = host
            .request(
                Method::POST,
                &format!("/v1/coops/velo/applications/{id}/approve"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert_eq!(body["request"]["status"], "accepted");
        host.finish().await;
    }
}

/// Unproven accounts, with their applications, are deleted once they
/// expire; one an admin made a member stays.
#[tokio::test]
async fn unproven_accounts_expire_with_their_applications() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let coop = host.coop("velo").await;
        let admin = host
            .member(&coop, "admin@velo.coop", &["admin", "member"])
            .await;
        open_applications(&host, "velo", &admin).await;
        let (s, _) = apply(&host, "velo", "gone@example.org", ATTACKER_PW).await;
        assert_eq!(s, StatusCode::CREATED);
        let (s, _) = apply(&host, "velo", "kept@example.org", ATTACKER_PW).await;
        assert_eq!(s, StatusCode::CREATED);
        let (s, body) = host
            .request(
                Method::POST,
                "/v1/coops/velo/members",
                Some(&admin),
                Some(json!({"email": "kept@example.org", "display_name": "Kept", "roles": ["member"]})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        let count = |email: &'static str| {
            let db = host.app.db.clone();
            async move {
                use sqlx::Row;
                let users: i64 = sqlx::query("SELECT COUNT(*) FROM users WHERE email = $1")
                    .bind(email)
                    .fetch_one(&db.pool)
                    .await
                    .unwrap()
                    .get(0);
                let requests: i64 =
                    sqlx::query("SELECT COUNT(*) FROM membership_requests WHERE email = $1")
                        .bind(email)
                        .fetch_one(&db.pool)
                        .await
                        .unwrap()
                        .get(0);
                (users, requests)
            }
        };
        // Before expiry, the clean-up keeps them.
        host.clock.advance(47 * HOUR);
        host.app.run_jobs_once("test-host").await.unwrap();
        assert_eq!(count("gone@example.org").await, (1, 1), "{backend:?}");
        host.clock.advance(2 * HOUR);
        // (The periodic clean-up runs at most once a minute.)
        host.clock.advance(60_000);
        host.app.run_jobs_once("test-host").await.unwrap();
        assert_eq!(count("gone@example.org").await, (0, 0), "{backend:?}");
        assert_eq!(count("kept@example.org").await.0, 1, "a member stays");
        // The address is free: a new application starts afresh.
        let (s, body) = apply(&host, "velo", "gone@example.org", VICTIM_PW).await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        host.finish().await;
    }
}

/// Applications are throttled per email address and per client address,
/// each limit with its own code and a Retry-After.
#[tokio::test]
async fn applications_are_throttled_per_address_and_per_ip() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let coop = host.coop("velo").await;
        let admin = host
            .member(&coop, "admin@velo.coop", &["admin", "member"])
            .await;
        open_applications(&host, "velo", &admin).await;
        let from = |ip: &str| -> std::net::SocketAddr { format!("{ip}:40000").parse().unwrap() };
        let send = |ip: &'static str, email: String| {
            let host = &host;
            async move {
                host.request_from(
                    from(ip),
                    Method::POST,
                    "/v1/coops/velo/applications",
                    None,
                    Some(json!({"email": email, "display_name": "A", "password": ATTACKER_PW})),
                )
                .await
            }
        };
        let limit = coophost::governance::membership::APPLY_PER_ADDRESS.limit;
        for _ in 0..limit {
            let (s, body) = send("198.51.100.1", "ana@example.org".into()).await;
            assert_eq!(s, StatusCode::CREATED, "{body}");
        }
        let (s, body) = send("198.51.100.2", "Ana@Example.org".into()).await;
        assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{backend:?}: {body}");
        assert_eq!(body["error"]["code"], "applications-per-address");
        let ip_limit = coophost::governance::membership::APPLY_PER_IP.limit;
        // The first IP has spent `limit` (+1 refused elsewhere); fill it up.
        for i in limit..ip_limit {
            let (s, body) = send("198.51.100.1", format!("b{i}@example.org")).await;
            assert_eq!(s, StatusCode::CREATED, "{i}: {body}");
        }
        let (s, body) = send("198.51.100.1", "fresh@example.org".into()).await;
        assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{body}");
        assert_eq!(body["error"]["code"], "applications-per-ip");
        // Someone else is not affected.
        let (s, body) = send("198.51.100.3", "fresh@example.org".into()).await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        // An hour later, the first address may apply again.
        host.clock.advance(2 * HOUR);
        let (s, body) = send("198.51.100.1", "ana@example.org".into()).await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        host.finish().await;
    }
}

/// A password reset: the same answer for any address, a link mailed only
/// to a real account, used once, within the hour; every session ends.
#[tokio::test]
async fn a_password_reset_revokes_every_session_and_its_link_works_once() {
    let Some(mailbox) = Mailbox::start() else {
        return;
    };
    let mailer = mailbox.mailer();
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let coop = host.coop("velo").await;
        let email = format!("bo-{backend:?}@velo.coop").to_lowercase();
        let phone = host.member(&coop, &email, &["member"]).await;
        let laptop = host.login(&email).await;
        let ask = |address: String| {
            let host = &host;
            async move {
                host.request(
                    Method::POST,
                    "/v1/auth/password-reset",
                    None,
                    Some(json!({"email": address})),
                )
                .await
            }
        };
        let (s, known) = ask(email.clone()).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{known}");
        let (s, unknown) = ask("nobody@velo.coop".into()).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{unknown}");
        assert_eq!(known, unknown, "nothing says whether the account exists");
        deliver(&host, &mailer).await;
        assert!(mailbox.to("nobody@velo.coop").is_empty());
        let mail = mailbox.last_to(&email);
        assert!(mail.subject.contains("new password"), "{}", mail.subject);
        let token = link_token(&mail.body, "/reset-password");

        let confirm = |token: String, password: &'static str| {
            let host = &host;
            async move {
                host.request(
                    Method::POST,
                    "/v1/auth/password-reset/confirm",
                    None,
                    Some(json!({"token": token, "password": password})),
                )
                .await
            }
        };
        let (s, body) = confirm(token.clone(), "short").await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let (s, body) = confirm(token.clone(), VICTIM_PW).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        for session in [&phone, &laptop] {
            let (s, _) = host
                .request(Method::GET, "/v1/me", Some(session), None)
                .await;
            assert_eq!(s, StatusCode::UNAUTHORIZED, "{backend:?}: sessions revoked");
        }
        let (s, _) = login(&host, &email, "correct horse battery staple").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        let (s, _) = login(&host, &email, VICTIM_PW).await;
        assert_eq!(s, StatusCode::OK);
        let (s, body) = confirm(token, "yet another password").await;
        assert_eq!(s, StatusCode::CONFLICT, "once: {body}");

        // A link older than an hour is refused.
        let (s, _) = ask(email.clone()).await;
        assert_eq!(s, StatusCode::ACCEPTED);
        deliver(&host, &mailer).await;
        let token = link_token(&mailbox.last_to(&email).body, "/reset-password");
        host.clock.advance(HOUR + 1);
        let (s, body) = confirm(token, "yet another password").await;
        assert_eq!(s, StatusCode::CONFLICT, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("expired"),
            "{body}"
        );

        // Asking is throttled per address, whoever asks.
        let limit = coophost::identity::email::RESET_PER_ADDRESS.limit;
        let mut last = (StatusCode::OK, Value::Null);
        for _ in 0..limit {
            last = ask(email.clone()).await;
        }
        assert_eq!(last.0, StatusCode::TOO_MANY_REQUESTS, "{}", last.1);
        assert_eq!(last.1["error"]["code"], "password-resets-per-address");
        host.finish().await;
    }
}

/// Invitations and the notices that matter reach people by mail: new
/// terms (every active member), a deactivation and an appeal's review (the
/// member concerned).
#[tokio::test]
async fn invitations_terms_deactivations_and_appeal_reviews_are_mailed() {
    let Some(mailbox) = Mailbox::start() else {
        return;
    };
    let mailer = mailbox.mailer();
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let coop = host.coop("fair").await;
        let tag = format!("{backend:?}").to_lowercase();
        let (ana_mail, bo_mail, wes_mail) = (
            format!("ana-{tag}@fair.coop"),
            format!("bo-{tag}@fair.coop"),
            format!("wes-{tag}@fair.coop"),
        );
        let ana = host.member(&coop, &ana_mail, &["member", "admin"]).await;
        let bo = host.member(&coop, &bo_mail, &["member", "admin"]).await;
        let wes = host.member(&coop, &wes_mail, &["member", "worker"]).await;

        let invitee = format!("new-{tag}@example.org");
        let (s, body) = host
            .request(
                Method::POST,
                "/v1/coops/fair/invitations",
                Some(&ana),
                Some(json!({"email": invitee, "display_name": "New", "roles": ["member"]})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        deliver(&host, &mailer).await;
        let inv = mailbox.last_to(&invitee);
        assert!(
            inv.subject.contains("Invitation to join Coop fair"),
            "{}",
            inv.subject
        );
        assert!(
            inv.body
                .contains("https://coops.test/invitation/fair?token=inv_"),
            "{}",
            inv.body
        );
        assert!(inv.body.contains("roles: member"), "{}", inv.body);

        let (s, body) = host
            .request(
                Method::POST,
                "/v1/coops/fair/terms",
                Some(&ana),
                Some(json!({"text": "1. Pay weekly.", "reason": "founding terms"})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        deliver(&host, &mailer).await;
        for who in [&ana_mail, &bo_mail, &wes_mail] {
            let m = mailbox.last_to(who);
            assert!(
                m.subject.contains("new terms (version 1)"),
                "{who}: {}",
                m.subject
            );
            assert!(
                m.body.contains("https://coops.test/c/fair/governance"),
                "{}",
                m.body
            );
        }

        let wes_id = {
            let (_, me) = host
                .request(Method::GET, "/v1/coops/fair", Some(&wes), None)
                .await;
            me["you"]["member_id"].as_i64().unwrap()
        };
        let why = "Three deliveries marked done that customers never received";
        let (s, body) = host
            .request(
                Method::PUT,
                &format!("/v1/coops/fair/members/{wes_id}/status"),
                Some(&ana),
                Some(json!({"status": "suspended", "reason": why})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let decision = body["decision"]["decision"].as_i64().unwrap();
        deliver(&host, &mailer).await;
        let m = mailbox.last_to(&wes_mail);
        assert!(m.subject.contains("a decision about you"), "{}", m.subject);
        assert!(
            m.body.contains(why) && m.body.contains("suspended you"),
            "{}",
            m.body
        );
        assert!(
            m.body.contains("https://coops.test/c/fair/data"),
            "{}",
            m.body
        );

        let (s, body) = host
            .request(
                Method::POST,
                "/v1/coops/fair/me/appeals",
                Some(&wes),
                Some(json!({"decision": decision,
                    "statement": "The orders were refused at the door; I have the photos."})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        let appeal = body["appeal"]["id"].as_i64().unwrap();
        let (s, body) = host
            .request(
                Method::POST,
                &format!("/v1/coops/fair/appeals/{appeal}/review"),
                Some(&bo),
                Some(json!({"outcome": "overturned",
                    "reason": "The photos show the customers refused the orders."})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        deliver(&host, &mailer).await;
        let m = mailbox.last_to(&wes_mail);
        assert!(
            m.subject.contains("your appeal was reviewed"),
            "{}",
            m.subject
        );
        assert!(m.body.contains("the decision is overturned"), "{}", m.body);
        host.finish().await;
    }
}

/// A refused delivery is retried with back-off, never lost; without SMTP
/// mail stays in the outbox, logged once.
#[tokio::test]
async fn mail_is_retried_with_back_off_and_kept_without_smtp() {
    for backend in backends().await {
        // A server that refuses the first two messages.
        let Some(mailbox) = Mailbox::start_failing(2) else {
            return;
        };
        let mailer = mailbox.mailer();
        let host = TestHost::new(backend).await;
        let coop = host.coop("velo").await;
        let email = format!("bo-{backend:?}@velo.coop").to_lowercase();
        host.member(&coop, &email, &["member"]).await;
        let (s, _) = host
            .request(
                Method::POST,
                "/v1/auth/password-reset",
                None,
                Some(json!({"email": email})),
            )
            .await;
        assert_eq!(
            s,
            StatusCode::ACCEPTED,
            "the person's action never waits for SMTP"
        );

        // Without SMTP: kept, logged once, shown whole by `mail list`.
        let no_smtp = coophost::mail::Mailer::new(&coophost::mail::MailSettings {
            smtp: None,
            from: "coophost <coophost@localhost>".into(),
            public_url: crate::mailbox::PUBLIC_URL.into(),
        })
        .unwrap();
        let p = deliver(&host, &no_smtp).await;
        assert_eq!(p.held, 1, "{p:?}");
        assert_eq!(deliver(&host, &no_smtp).await.held, 0, "logged once");
        let listed = coophost::mail::list(&host.app.db, Some(&email), None, 10)
            .await
            .unwrap();
        assert_eq!(listed[0].status, "pending");
        assert!(listed[0].message.is_some(), "its link is there to show");

        let mut tries = 0;
        loop {
            let p = deliver(&host, &mailer).await;
            if p.sent == 1 {
                break;
            }
            tries += 1;
            assert!(tries <= 2, "{backend:?}: {p:?}");
            assert_eq!(p.failed, 1, "{p:?}");
            let listed = coophost::mail::list(&host.app.db, Some(&email), None, 10)
                .await
                .unwrap();
            assert_eq!(
                (listed[0].status.as_str(), listed[0].attempts),
                ("pending", tries)
            );
            assert!(
                listed[0]
                    .last_error
                    .as_deref()
                    .unwrap_or("")
                    .contains("451"),
                "{:?}",
                listed[0]
            );
            // Not due again before its back-off.
            assert_eq!(deliver(&host, &mailer).await, Default::default());
            host.clock.advance(coophost::mail::backoff_ms(tries));
        }
        let listed = coophost::mail::list(&host.app.db, Some(&email), None, 10)
            .await
            .unwrap();
        assert_eq!(
            (listed[0].status.as_str(), tries),
            ("sent", 2),
            "{backend:?}"
        );
        assert!(listed[0].message.is_none(), "its one-time link is not kept");
        assert_eq!(mailbox.to(&email).len(), 1);
        // Only failed or expired mail goes back in the queue; sent mail is
        // deleted after its retention.
        let now = host.app.clock.now_ms();
        assert_eq!(
            coophost::mail::retry(&host.app.db, None, now)
                .await
                .unwrap(),
            0
        );
        let later = now + coophost::mail::RETENTION_MS + 1;
        assert_eq!(coophost::mail::purge(&host.app.db, later).await.unwrap(), 1);
        host.finish().await;
    }
}

/// The pages mail links lead to, as a browser without JavaScript uses
/// them: apply, confirm, forgot and reset, accept an invitation.
#[tokio::test]
async fn the_pages_behind_mail_links_work_without_javascript() {
    use crate::mailbox::outbox_token;
    use crate::web::Browser;
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let coop = host.coop("velo").await;
        let admin = host
            .member(&coop, "admin@velo.coop", &["admin", "member"])
            .await;
        open_applications(&host, "velo", &admin).await;
        let mut b = Browser::new(&host);

        let login = b.get("/login").await;
        assert!(
            login.body.contains("href=\"/forgot-password\""),
            "{}",
            login.body
        );

        // Apply: errors tied to their fields, then "check your email".
        let a = b
            .post(
                "/join/velo",
                "/join/velo",
                &[
                    ("display_name", ""),
                    ("email", "nope"),
                    ("password", "short"),
                ],
            )
            .await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
        for f in ["f-display_name", "f-email", "f-password"] {
            assert!(
                a.body.contains(&format!("aria-describedby=\"{f}-error\"")),
                "{f}: {}",
                a.body
            );
        }
        let a = b
            .post(
                "/join/velo",
                "/join/velo",
                &[
                    ("display_name", "Cleo"),
                    ("email", "cleo@example.org"),
                    ("password", VICTIM_PW),
                    ("message", "I ride every day"),
                ],
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        assert!(a.body.contains("Check your email"), "{}", a.body);
        assert!(a.body.contains("cleo@example.org"), "{}", a.body);

        // Confirm: the link's page, a wrong password, the right one.
        let token = outbox_token(&host, "cleo@example.org", "/verify-email").await;
        let page = format!("/verify-email?token={token}");
        let a = b
            .post(
                &page,
                "/verify-email",
                &[("token", &token), ("password", "wrong one!!")],
            )
            .await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
        assert!(
            a.body.contains("aria-describedby=\"f-password-error\""),
            "{}",
            a.body
        );
        let a = b
            .post(
                &page,
                "/verify-email",
                &[("token", &token), ("password", VICTIM_PW)],
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        assert!(a.body.contains("Address confirmed"), "{}", a.body);

        // Forgot and reset.
        let a = b
            .post(
                "/forgot-password",
                "/forgot-password",
                &[("email", "cleo@example.org")],
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        let token = outbox_token(&host, "cleo@example.org", "/reset-password").await;
        let page = format!("/reset-password?token={token}");
        let a = b
            .post(
                &page,
                "/reset-password",
                &[
                    ("token", &token),
                    ("password", "a new password"),
                    ("password2", "another"),
                ],
            )
            .await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            a.body.contains("aria-describedby=\"f-password2-error\""),
            "{}",
            a.body
        );
        let a = b
            .post(
                &page,
                "/reset-password",
                &[
                    ("token", &token),
                    ("password", "a new password"),
                    ("password2", "a new password"),
                ],
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        assert!(a.body.contains("Password saved"), "{}", a.body);
        let (s, _) = login_with(&host, "cleo@example.org", "a new password").await;
        assert_eq!(s, StatusCode::OK);

        // An invitation accepted from its page, in French.
        let (s, body) = host
            .request(
                Method::POST,
                "/v1/coops/velo/invitations",
                Some(&admin),
                Some(
                    json!({"email": "dan@example.org", "display_name": "Dan", "roles": ["member"]}),
                ),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        let token = outbox_token(&host, "dan@example.org", "/invitation/velo").await;
        let mut fr = Browser::new(&host);
        fr.accept_language = "fr".into();
        let page = format!("/invitation/velo?token={token}");
        let a = fr
            .post(
                &page,
                "/invitation/velo",
                &[("token", &token), ("password", "")],
            )
            .await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
        assert!(a.body.contains("choisissez un mot de passe"), "{}", a.body);
        let a = fr
            .post(
                &page,
                "/invitation/velo",
                &[("token", &token), ("password", VICTIM_PW)],
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        assert!(a.body.contains("Vous êtes maintenant membre"), "{}", a.body);
        host.finish().await;
    }
}

async fn login_with(host: &TestHost, email: &str, password: &str) -> (StatusCode, Value) {
    login(host, email, password).await
}

fn coophost(data: &std::path::Path) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_coophost"));
    c.arg("--data-dir").arg(data).env("RUST_LOG", "warn");
    c.env_remove("COOPHOST_SMTP_URL")
        .env_remove("COOPHOST_MAIL_FROM");
    c
}

/// The demo's way to follow a link (`coophost mail list`), and `serve`
/// refusing a bad SMTP setting without repeating its password.
#[test]
fn the_command_line_shows_the_outbox_and_keeps_smtp_passwords_secret() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let ok = |cmd: &mut std::process::Command| {
        let out = cmd.output().expect("run coophost");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{cmd:?}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    };
    ok(coophost(data).args(["coop", "create", "velo", "--name", "Vélo"]));
    let out = ok(coophost(data).args([
        "governance",
        "invite",
        "--coop",
        "velo",
        "--email",
        "dan@example.org",
        "--name",
        "Dan",
    ]));
    assert!(out.contains("mailed to dan@example.org"), "{out}");
    let out = ok(coophost(data).args(["mail", "list", "--public-url", "https://coops.test"]));
    assert!(out.contains("to dan@example.org [pending]"), "{out}");
    assert!(
        out.contains("https://coops.test/invitation/velo?token=inv_"),
        "{out}"
    );

    for (args, says) in [
        (
            vec![
                "--smtp-url",
                "smtp://ops:s3cret@mail.example.org?tls=none",
                "--mail-from",
                "a@b.example",
            ],
            "unencrypted",
        ),
        (
            vec!["--smtp-url", "smtps://ops:s3cret@mail.example.org"],
            "--mail-from",
        ),
    ] {
        let out = coophost(data)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(&args)
            .output()
            .expect("run serve");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(
            !err.contains("s3cret"),
            "the password is never shown: {err}"
        );
    }
}
