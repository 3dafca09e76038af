//! My work and pay through the pages: the figures are the statement's, the
//! CSV downloads, a bad month is a clear 422, and non-workers are told what
//! the page is for.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::common::{TestHost, backends};
use crate::web::Browser;

const IFACE: &str = "coop:test-misbehave/misbehave";

#[tokio::test]
async fn a_worker_sees_the_month_they_worked_against_the_floor() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let coop = host.coop("pay").await;
        host.install(&coop, "test-misbehave").await;
        let admin = host.member(&coop, "a@pay.coop", &["admin", "member"]).await;
        let customer = host.member(&coop, "c@pay.coop", &["member"]).await;
        let worker = host
            .member(&coop, "w@pay.coop", &["worker", "member"])
            .await;
        let terms = json!({"model": "commission", "worker_share_bp": 8000,
            "reserve_share_of_commission_bp": 3000, "solidarity_share_of_commission_bp": 1000,
            "community_share_of_commission_bp": 5000, "processor_fee_bp": 100, "processor_fee_fixed": 25,
            "processor_fee_borne_by": "coop", "cae_fee_bp": 1000});
        let (s, body) = host
            .request(
                Method::POST,
                "/v1/coops/pay/split-policies",
                Some(&admin),
                Some(json!({"terms": terms, "reason": "AGM"})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        let (s, body) = host
            .request(
                Method::POST,
                "/v1/coops/pay/earnings-floor",
                Some(&admin),
                Some(json!({"per_hour": 1202, "currency": "EUR", "on_shortfall": "top-up", "reason": "SMIC"})),
            )
            .await;
        assert!(s.is_success(), "{body}");
        // Two and a half hours on shift, one job of 100.00 settled.
        let (s, body) = host
            .request(
                Method::POST,
                "/v1/coops/pay/shifts/start",
                Some(&worker),
                None,
            )
            .await;
        assert!(s.is_success(), "{body}");
        host.clock.advance(150 * 60_000);
        let (_, who) = host
            .call("pay", Some(&worker), IFACE, "whoami", json!({}))
            .await;
        let worker_id = who["result"]["ok"].as_str().unwrap().to_string();
        let (s, _) = host
            .call(
                "pay",
                Some(&customer),
                IFACE,
                "pay",
                json!({"order": "o1", "cents": "10000", "trap": false}),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        let (s, body) = host
            .call(
                "pay",
                Some(&admin),
                IFACE,
                "settle-order",
                json!({"order": "o1", "worker": worker_id, "cents": "10000"}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let (s, _) = host
            .request(
                Method::POST,
                "/v1/coops/pay/shifts/end",
                Some(&worker),
                None,
            )
            .await;
        assert!(s.is_success());
        let (y, m, _, _, _) = coophost::web::i18n::civil(host.app.clock.now_ms());
        let period = format!("{y:04}-{m:02}");
        let (_, st) = host
            .request(
                Method::GET,
                &format!("/v1/coops/pay/me/statements/{period}"),
                Some(&worker),
                None,
            )
            .await;
        let st = &st["statement"];
        // By hand: 8000 net over 2.5 hours is 3200 an hour.
        assert_eq!(st["net"], 8000, "{st}");
        assert_eq!(st["effective_hourly"], 3200, "{st}");

        let mut b = Browser::new(&host);
        b.login("w@pay.coop").await;
        let page = b.get("/c/pay/work").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let html = &page.body;
        assert!(html.contains(&format!("Statement for {period}")), "{html}");
        assert!(html.contains("2 h 30"), "{html}");
        assert!(
            html.contains("€100.00") && html.contains("€80.00"),
            "{html}"
        );
        assert!(html.contains("€32.00"));
        assert!(html.contains("at or above the floor of €12.02"));
        // The chart and its table: six months, this one with a bar.
        assert!(html.contains("role=\"img\""));
        assert_eq!(html.matches("<rect").count(), 1, "{html}");
        assert!(
            html.contains("o1") || html.contains("test-misbehave"),
            "{html}"
        );

        // The CSV download.
        let csv = b
            .get(&format!("/c/pay/work/statement.csv?period={period}"))
            .await;
        assert_eq!(csv.status, StatusCode::OK);
        assert!(csv.content_type.starts_with("text/csv"));
        assert_eq!(
            csv.disposition.as_deref(),
            Some(format!("attachment; filename=\"statement-pay-{period}.csv\"").as_str())
        );
        assert!(csv.body.contains("8000"), "{}", csv.body);

        // A bad month: the page says so (in French here) with a 422.
        b.accept_language = "fr".into();
        let bad = b.get("/c/pay/work?period=2026-13").await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            bad.body.contains("« 2026-13 » n’est pas un mois"),
            "{}",
            bad.body
        );
        let bad = b.get("/c/pay/work/statement.csv?period=soon").await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
        // The first months statements exist for: the chart is shorter,
        // the page still answers.
        let early = b.get("/c/pay/work?period=1970-02").await;
        assert_eq!(early.status, StatusCode::OK, "{}", early.body);
        assert!(early.body.contains("1970-01"), "{}", early.body);
        assert!(!early.body.contains("1969-12"), "{}", early.body);

        // A member who is not a worker is told what the page is for.
        let mut c = Browser::new(&host);
        c.login("c@pay.coop").await;
        let page = c.get("/c/pay/work").await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("This page is for workers"));
        host.finish().await;
    }
}
