//! Issue 18, item 9: the commons. By default a coop installs only plugins
//! under a free licence (refused before anything is compiled or stored),
//! and its open data carries the licence it chose (ODbL by default).

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::common::{TestHost, backends, component};

#[tokio::test]
async fn only_free_plugins_by_default_and_open_data_carries_its_licence() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let coop = host.coop("commons").await;
        let admin = host
            .member(&coop, "admin@commons.coop", &["admin", "member"])
            .await;
        let (bytes, manifest) = component("shift-board-rs");
        let closed = manifest.replace("licence = \"Apache-2.0\"", "licence = \"BUSL-1.1\"");
        assert_ne!(closed, manifest, "the fixture's licence line moved");
        let e = coophost::plugins::install(&host.app, &coop, &bytes, &closed, &Default::default())
            .await
            .expect_err("a non-free plugin is refused");
        let msg = e.to_string();
        assert!(
            msg.contains("BUSL-1.1") && msg.contains("free_plugins_only"),
            "{msg}"
        );
        let installed = coophost::plugins::list(&host.app.db, coop.id)
            .await
            .unwrap();
        assert!(installed.is_empty(), "{backend:?}: nothing stored");
        // A free licence, or a dual licence with a free side, installs.
        let dual = manifest.replace(
            "licence = \"Apache-2.0\"",
            "licence = \"Apache-2.0 OR LicenseRef-commercial\"",
        );
        coophost::plugins::install(&host.app, &coop, &bytes, &dual, &Default::default())
            .await
            .unwrap();

        // Open data says under which licence it is published, and the coop
        // may choose another from the list (not an unknown one).
        let (s, b) = host
            .request(Method::GET, "/v1/coops/commons/open-data", None, None)
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(b["licence"], "ODbL-1.0", "{backend:?} {b}");
        let (_, current) = host
            .request(
                Method::GET,
                "/v1/coops/commons/governance/rules",
                Some(&admin),
                None,
            )
            .await;
        let mut rules = current["rules"].clone();
        rules["commons"]["open_data_licence"] = json!("All rights reserved");
        let (s, b) = host
            .request(
                Method::PUT,
                "/v1/coops/commons/governance/rules",
                Some(&admin),
                Some(json!({"rules": rules, "reason": "ours"})),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{backend:?} {b}");
        rules["commons"]["open_data_licence"] = json!("etalab-2.0");
        let (s, b) = host
            .request(
                Method::PUT,
                "/v1/coops/commons/governance/rules",
                Some(&admin),
                Some(json!({"rules": rules, "reason": "the town hall's licence"})),
            )
            .await;
        assert!(s.is_success(), "{backend:?} {b}");
        let (_, b) = host
            .request(Method::GET, "/v1/coops/commons/open-data", None, None)
            .await;
        assert_eq!(b["licence"], "etalab-2.0", "{backend:?} {b}");
        host.finish().await;
    }
}

/// Issue 18, item 8: the public page shows the rules members vote under,
/// each plugin's licence and the legal minimum in force, without login.
#[tokio::test]
async fn the_public_page_shows_the_rules_licences_and_the_legal_minimum() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        coophost::ledger::legal_minimum::set_default_country(&host.app.db, "FR")
            .await
            .unwrap();
        coophost::ledger::legal_minimum::set(
            &host.app.db,
            "FR",
            "EUR",
            0,
            1_202,
            "SMIC horaire brut",
            host.app.clock.now_ms(),
        )
        .await
        .unwrap();
        let coop = host.coop("open").await;
        host.install(&coop, "bike-delivery").await;
        let (s, report) = host
            .request(Method::GET, "/v1/coops/open/transparency", None, None)
            .await;
        assert_eq!(s, StatusCode::OK, "{report}");
        let rules = &report["rules"]["rules"];
        assert_eq!(
            rules["default_vote"]["vote"]["quorum_bp"], 2_000,
            "{report}"
        );
        assert_eq!(rules["commons"]["free_plugins_only"], true, "{report}");
        assert_eq!(report["legal_minimum"]["in_force"][0]["per_hour"], 1_202);
        assert_eq!(report["plugins"][0]["licence"], "AGPL-3.0-or-later");

        let mut b = crate::web::Browser::new(&host);
        let page = b.get("/t/open").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let html = &page.body;
        assert!(html.contains("How the coop decides"), "{html}");
        assert!(html.contains("quorum 20%"), "{html}");
        assert!(html.contains("Only plugins under a free licence are accepted"));
        assert!(
            html.contains("Legal minimum in force in FR (SMIC horaire brut): €12.02 per hour"),
            "{html}"
        );
        assert!(html.contains("AGPL-3.0-or-later"), "{html}");
        host.finish().await;
    }
}
