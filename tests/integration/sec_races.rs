//! Issue 16 follow-up: two requests creating the same thing at once. The
//! check before an insert cannot see a concurrent insert, so the unique
//! key decides; the loser must hear 409 naming what exists, never 500.

use axum::http::{Method, StatusCode};
use coophost::identity;
use serde_json::{Value, json};

use crate::common::{TestHost, backends};

/// How many requests race for the same thing.
const RACERS: usize = 8;

/// Exactly one creation, every other answer a 409 saying what exists.
fn one_created_rest_conflict(answers: &[(StatusCode, Value)], exists: &str) {
    let created = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1, "{answers:?}");
    for (s, body) in answers {
        assert!(
            *s == StatusCode::CREATED || *s == StatusCode::CONFLICT,
            "a racing creation answered {s}: {body}"
        );
        if *s == StatusCode::CONFLICT {
            assert_eq!(body["error"]["code"], "conflict", "{body}");
            let message = body["error"]["message"].as_str().unwrap();
            assert!(message.contains(exists), "{message}");
        }
    }
}

#[tokio::test]
async fn parallel_creations_of_one_thing_give_one_201_and_409s() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let operator = host.operator("ops@host.example").await;

        // The same coop slug, created RACERS times at once.
        let answers = futures_util::future::join_all((0..RACERS).map(|_| {
            host.request(
                Method::POST,
                "/v1/coops",
                Some(&operator),
                Some(json!({"slug": "racers", "name": "Racers"})),
            )
        }))
        .await;
        one_created_rest_conflict(&answers, "already");

        // The same new member, added RACERS times at once.
        let coop = identity::find_coop(&host.app.db, "racers").await.unwrap();
        let admin = host
            .member(&coop, "admin@racers.coop", &["admin", "member"])
            .await;
        let answers = futures_util::future::join_all((0..RACERS).map(|_| {
            host.request(
                Method::POST,
                "/v1/coops/racers/members",
                Some(&admin),
                Some(json!({"email": "new@racers.coop", "display_name": "New",
                    "roles": ["member"]})),
            )
        }))
        .await;
        one_created_rest_conflict(&answers, "already");
        host.finish().await;
    }
}

#[tokio::test]
async fn a_unique_violation_names_what_exists() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        host.coop("taken").await;
        // Past the service's own check, straight at the constraint.
        let e = sqlx::query("INSERT INTO coops (slug, name, created_at) VALUES ('taken', 'x', 0)")
            .execute(&host.app.db.pool)
            .await
            .unwrap_err();
        let e = coophost::error::Error::from(e);
        match &e {
            coophost::error::Error::Conflict(m) => {
                assert!(m.contains("a coop with this slug already exists"), "{m}")
            }
            other => panic!("{backend:?}: not a conflict: {other:?}"),
        }
        // Also when wrapped with context on the way up.
        let e = sqlx::query("INSERT INTO coops (slug, name, created_at) VALUES ('taken', 'x', 0)")
            .execute(&host.app.db.pool)
            .await
            .map_err(|e| anyhow::Error::new(e).context("failed to insert a coop"))
            .unwrap_err();
        assert!(matches!(
            coophost::error::Error::from(e),
            coophost::error::Error::Conflict(_)
        ));
        host.finish().await;
    }
}

/// The same plugin installed several times at once (two admins, or a
/// retried deployment): each install succeeds or is refused saying why,
/// and the coop ends with exactly one active installation.
#[tokio::test]
async fn parallel_installs_of_one_plugin_never_fail_as_the_hosts_error() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let coop = host.coop("twice").await;
        let (bytes, manifest) = crate::common::component("test-misbehave");
        let opts = coophost::plugins::lifecycle::InstallOptions::default();
        let results = futures_util::future::join_all(
            (0..4).map(|_| coophost::plugins::install(&host.app, &coop, &bytes, &manifest, &opts)),
        )
        .await;
        assert!(
            results.iter().any(Result::is_ok),
            "{backend:?}: none installed"
        );
        for r in &results {
            if let Err(e) = r {
                assert!(
                    !matches!(e, coophost::error::Error::Internal(_)),
                    "{backend:?}: a racing install failed as the host's error: {e:?}"
                );
            }
        }
        let active: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM plugins WHERE coop_id = $1 AND name = 'test-misbehave' AND active = 1",
        )
        .bind(coop.id)
        .fetch_one(&host.app.db.pool)
        .await
        .unwrap();
        assert_eq!(active, 1, "{backend:?}: one active installation");
        host.finish().await;
    }
}
