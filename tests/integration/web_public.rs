//! The public transparency page `/t/{coop}`: no login, both languages, the
//! figures the coop set, and a page (not a crash) for a coop that does not
//! exist.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::common::{TestHost, backends};
use crate::web::Browser;

#[tokio::test]
async fn the_transparency_page_shows_the_split_floor_cards_and_decisions_without_login() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let coop = host.coop("velo").await;
        let admin = host.member(&coop, "admin@velo.coop", &["admin"]).await;
        host.install(&coop, "bike-delivery").await;
        let (status, body) = host
            .request(
                Method::POST,
                "/v1/coops/velo/split-policies",
                Some(&admin),
                Some(json!({"reason": "AGM 2026", "terms": {
                    "model": "commission", "worker_share_bp": 8250,
                    "reserve_share_of_commission_bp": 3000, "solidarity_share_of_commission_bp": 1000,
                    "community_share_of_commission_bp": 6000, "processor_fee_bp": 100,
                    "processor_fee_fixed": 25, "processor_fee_borne_by": "coop", "cae_fee_bp": 1000}})),
            )
            .await;
        assert!(status.is_success(), "{body}");
        let (status, body) = host
            .request(
                Method::POST,
                "/v1/coops/velo/earnings-floor",
                Some(&admin),
                Some(json!({"per_hour": 1202, "currency": "EUR", "on_shortfall": "top-up", "reason": "SMIC 2026"})),
            )
            .await;
        assert!(status.is_success(), "{body}");

        // Nobody is logged in.
        let mut b = Browser::new(&host);
        let page = b.get("/t/velo").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let html = &page.body;
        assert!(html.contains("How Coop velo works"), "{html}");
        // The algorithm card and a parameter with its value in force.
        assert!(html.contains("bike-delivery"));
        assert!(html.contains("Assignment of work"));
        assert!(html.contains("<code>price-per-km</code>"));
        assert!(html.contains("<code>150</code>"), "{html}");
        // The split as percentages, with its reason; the floor in money.
        assert!(
            html.contains("82.5%") && html.contains("AGM 2026"),
            "{html}"
        );
        assert!(html.contains("€12.02 per hour on shift"), "{html}");
        // Personal data categories with their basis; where data is stored.
        assert!(html.contains("the person's consent (can be withdrawn)"));
        assert!(html.contains("not stated by the host's operator"));
        // The decision log verifies (the two direct changes are in it).
        assert!(
            html.contains("The decision log's 2 entries verify"),
            "{html}"
        );
        assert!(html.contains("Change by the admins"));
        // The open data links.
        assert!(html.contains("/v1/coops/velo/open-data?format=csv"));

        // The same page in French.
        b.accept_language = "fr".into();
        let fr = b.get("/t/velo").await;
        assert!(fr.body.contains("Comment fonctionne Coop velo"));
        assert!(fr.body.contains("82,5\u{a0}%"), "{}", fr.body);
        assert!(fr.body.contains("12,02\u{a0}€ par heure de service"));
        assert!(
            fr.body
                .contains("Les 2 entrées du registre des décisions sont vérifiées")
        );

        // An unknown coop: a 404 page in the visitor's language.
        let missing = b.get("/t/nowhere").await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        assert!(missing.body.contains("Introuvable"), "{}", missing.body);
        host.finish().await;
    }
}
