//! Upgrade, rollback and uninstall without downtime; semver checks;
//! migrate hooks; publisher signatures.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use axum::http::StatusCode;
use coophost::plugins::{self, InstallOptions};
use serde_json::json;

use crate::common::{Backend, TestHost, backends, component};

const IFACE: &str = "coop:test-misbehave/misbehave";

fn misbehave_at(version: &str) -> (Vec<u8>, String) {
    let (bytes, manifest) = component("test-misbehave");
    (
        bytes,
        manifest.replacen(
            "version = \"0.1.0\"",
            &format!("version = \"{version}\""),
            1,
        ),
    )
}

async fn install_version(
    host: &TestHost,
    slug: &str,
    version: &str,
    opts: &InstallOptions,
) -> Result<plugins::InstallReport, String> {
    let coop = coophost::identity::find_coop(&host.app.db, slug)
        .await
        .unwrap();
    let (bytes, manifest) = misbehave_at(version);
    plugins::install(&host.app, &coop, &bytes, &manifest, opts)
        .await
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn upgrades_are_checked_migrated_and_reversible() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let coop = host.coop("life").await;
        let token = host.member(&coop, "m@life.coop", &["member"]).await;
        let first = install_version(&host, "life", "0.1.0", &Default::default())
            .await
            .unwrap();
        assert!(first.replaced.is_none() && !first.migrated);
        let (s, _) = host
            .call(
                "life",
                Some(&token),
                IFACE,
                "write-then-ok",
                json!({"key": "old-data"}),
            )
            .await;
        assert_eq!(s, StatusCode::OK);

        // A compatible upgrade runs the migrate hook once, with the old version.
        let up = install_version(&host, "life", "0.1.1", &Default::default())
            .await
            .unwrap();
        assert_eq!(up.replaced.as_deref(), Some("0.1.0"));
        assert!(up.migrated, "{backend:?}: the migrate hook did not run");
        let (_, body) = host
            .call(
                "life",
                Some(&token),
                IFACE,
                "read",
                json!({"key": "migrated-from"}),
            )
            .await;
        assert_eq!(body["result"], json!({"ok": "0.1.0"}), "{backend:?}");
        let (_, body) = host
            .call(
                "life",
                Some(&token),
                IFACE,
                "read",
                json!({"key": "old-data"}),
            )
            .await;
        assert_eq!(
            body["result"],
            json!({"ok": "ok"}),
            "data survives upgrades"
        );

        // A failing migration aborts the upgrade and keeps the old version.
        let (s, _) = host
            .call(
                "life",
                Some(&token),
                IFACE,
                "write-then-ok",
                json!({"key": "fail-migration"}),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        let err = install_version(&host, "life", "0.1.2", &Default::default())
            .await
            .unwrap_err();
        assert!(
            err.contains("migrate hook") && err.contains("fail-migration is set"),
            "{err}"
        );
        assert_eq!(
            plugins::get(&host.app.db, coop.id, "test-misbehave")
                .await
                .unwrap()
                .version,
            "0.1.1"
        );

        // A breaking change (the interface disappears) needs force.
        let (kinds, _) = component("test-kinds");
        let (_, manifest) = misbehave_at("0.2.0");
        let manifest: String = manifest
            .lines()
            .take_while(|l| !l.starts_with("[access]"))
            .collect::<Vec<_>>()
            .join("\n");
        let err = plugins::install(&host.app, &coop, &kinds, &manifest, &Default::default())
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("would break clients")
                && err.contains("removes interface coop:test-misbehave/misbehave"),
            "{err}"
        );

        // Rollback goes back one version in one step.
        let back = plugins::rollback(&host.app, &coop, "test-misbehave")
            .await
            .unwrap();
        assert_eq!(back.version, "0.1.0", "{backend:?}");
        let (s, _) = host
            .call(
                "life",
                Some(&token),
                IFACE,
                "read",
                json!({"key": "old-data"}),
            )
            .await;
        assert_eq!(s, StatusCode::OK);

        // Uninstall keeps the data; a reinstall finds it; purge deletes it.
        plugins::uninstall(&host.app, &coop, "test-misbehave", false)
            .await
            .unwrap();
        let (s, body) = host
            .call(
                "life",
                Some(&token),
                IFACE,
                "read",
                json!({"key": "old-data"}),
            )
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{body}");
        install_version(&host, "life", "0.1.3", &Default::default())
            .await
            .unwrap();
        let (_, body) = host
            .call(
                "life",
                Some(&token),
                IFACE,
                "read",
                json!({"key": "old-data"}),
            )
            .await;
        assert_eq!(
            body["result"],
            json!({"ok": "ok"}),
            "{backend:?}: data kept across uninstall"
        );
        plugins::uninstall(&host.app, &coop, "test-misbehave", true)
            .await
            .unwrap();
        install_version(&host, "life", "0.1.4", &Default::default())
            .await
            .unwrap();
        let (_, body) = host
            .call(
                "life",
                Some(&token),
                IFACE,
                "read",
                json!({"key": "old-data"}),
            )
            .await;
        assert_eq!(
            body["result"],
            json!({"ok": null}),
            "{backend:?}: purge deleted the data"
        );
        host.finish().await;
    }
}

/// Calls keep flowing while the plugin is upgraded and rolled back: in
/// flight calls finish on the old version, new ones use the new one, and
/// not one fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swapping_under_load_fails_no_call() {
    let host = Arc::new(TestHost::new(Backend::Sqlite).await);
    let coop = host.coop("swap").await;
    let token = host.member(&coop, "m@swap.coop", &["member"]).await;
    install_version(&host, "swap", "0.1.0", &Default::default())
        .await
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for w in 0..4 {
        let (host, token, stop, done) = (host.clone(), token.clone(), stop.clone(), done.clone());
        workers.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                let (s, body) = host
                    .call(
                        "swap",
                        Some(&token),
                        IFACE,
                        "write-then-ok",
                        json!({"key": format!("w{w}-{i}")}),
                    )
                    .await;
                if s != StatusCode::OK {
                    failures.push(format!("{s} {body}"));
                }
                done.fetch_add(1, Ordering::SeqCst);
                i += 1;
            }
            failures
        }));
    }
    for version in ["0.1.1", "0.1.2", "0.1.3"] {
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        install_version(&host, "swap", version, &Default::default())
            .await
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        plugins::rollback(&host.app, &coop, "test-misbehave")
            .await
            .unwrap();
    }
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    stop.store(true, Ordering::SeqCst);
    let mut failures = Vec::new();
    for w in workers {
        failures.extend(w.await.unwrap());
    }
    let calls = done.load(Ordering::SeqCst);
    assert!(calls > 50, "only {calls} calls ran during the swaps");
    assert!(
        failures.is_empty(),
        "{} of {calls} calls failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(3)]
    );
    Arc::try_unwrap(host)
        .ok()
        .expect("sole owner")
        .finish()
        .await;
}

#[tokio::test]
async fn coops_can_require_signed_plugins() {
    let host = TestHost::new(Backend::Sqlite).await;
    let coop = host.coop("signed").await;
    let (bytes, manifest) = component("test-misbehave");
    let digest = hex::decode(plugins::sha256_hex(&bytes)).unwrap();
    let (good_sig, public) = plugins::signing::sign(&"42".repeat(32), &digest).unwrap();
    let (stranger_sig, _) = plugins::signing::sign(&"43".repeat(32), &digest).unwrap();
    plugins::lifecycle::trust_key(&host.app, &coop, "federation", &public)
        .await
        .unwrap();
    plugins::lifecycle::require_signatures(&host.app, &coop, true)
        .await
        .unwrap();

    let with = |sig: Option<&str>| InstallOptions {
        signature: sig.map(String::from),
        ..Default::default()
    };
    let err = plugins::install(&host.app, &coop, &bytes, &manifest, &with(None))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("accepts only plugins signed"), "{err}");
    let err = plugins::install(
        &host.app,
        &coop,
        &bytes,
        &manifest,
        &with(Some(&stranger_sig)),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("does not match"), "{err}");
    let report = plugins::install(&host.app, &coop, &bytes, &manifest, &with(Some(&good_sig)))
        .await
        .unwrap();
    assert_eq!(report.signed_by.as_deref(), Some("federation"));
    assert_eq!(report.plugin.sha256, plugins::sha256_hex(&bytes));
    assert_eq!(report.plugin.manifest.plugin.licence, "Apache-2.0");
    host.finish().await;
}
