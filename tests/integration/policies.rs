//! The value split and the earnings floor are versioned, dated, recorded
//! with who set them and why, and never changed retroactively.

use axum::http::{Method, StatusCode};
use coophost::clock::Clock;
use serde_json::{Value, json};

use crate::common::{TestHost, backends};

fn commission(worker_bp: u32) -> Value {
    json!({
        "model": "commission",
        "worker_share_bp": worker_bp,
        "reserve_share_of_commission_bp": 3000,
        "solidarity_share_of_commission_bp": 1000,
        "community_share_of_commission_bp": 5000,
        "processor_fee_bp": 100,
        "processor_fee_fixed": 25,
        "processor_fee_borne_by": "coop",
        "cae_fee_bp": 1000
    })
}

#[tokio::test]
async fn split_and_floor_are_versioned_and_dated() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let coop = host.coop("split").await;
        let admin = host
            .member(&coop, "a@split.coop", &["admin", "member"])
            .await;
        let worker = host
            .member(&coop, "w@split.coop", &["worker", "member"])
            .await;
        let url = "/v1/coops/split/split-policies";

        let (s, body) = host
            .request(
                Method::POST,
                url,
                Some(&worker),
                Some(json!({"terms": commission(8000), "reason": "x"})),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
        let (s, body) = host
            .request(
                Method::POST,
                url,
                Some(&admin),
                Some(json!({"terms": commission(12000), "reason": "too much"})),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains("10000"),
            "{body}"
        );
        let past = host.clock.now_ms() - 1;
        let (s, body) = host
            .request(Method::POST, url, Some(&admin),
                     Some(json!({"terms": commission(8000), "effective_from": past, "reason": "backdated"})))
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let (s, body) = host
            .request(
                Method::POST,
                url,
                Some(&admin),
                Some(json!({"terms": commission(8000), "reason": ""})),
            )
            .await;
        assert_eq!(
            s,
            StatusCode::UNPROCESSABLE_ENTITY,
            "a change needs a reason: {body}"
        );

        let (s, body) = host
            .request(
                Method::POST,
                url,
                Some(&admin),
                Some(json!({"terms": commission(8000), "reason": "AGM 2026"})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        assert_eq!(body["policy"]["policy"]["version"], 1);
        let later = host.clock.now_ms() + 3_600_000;
        let (s, body) = host
            .request(Method::POST, url, Some(&admin),
                     Some(json!({"terms": commission(8500), "effective_from": later, "reason": "workers' share up"})))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");

        let (_, body) = host.request(Method::GET, url, Some(&worker), None).await;
        assert_eq!(
            body["in_effect"]["version"], 1,
            "{backend:?}: version 2 is not in effect yet"
        );
        assert_eq!(body["history"].as_array().unwrap().len(), 2);
        assert_eq!(body["history"][1]["reason"], "workers' share up");
        host.clock.advance(3_600_000);
        let (_, body) = host.request(Method::GET, url, Some(&worker), None).await;
        assert_eq!(body["in_effect"]["version"], 2);
        assert_eq!(body["in_effect"]["terms"]["worker_share_bp"], 8500);

        let floor = "/v1/coops/split/earnings-floor";
        let (s, body) = host
            .request(
                Method::POST,
                floor,
                Some(&admin),
                Some(json!({"per_hour": 1202, "currency": "EUR", "reason": "SMIC net 2026"})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        let (s, body) = host
            .request(
                Method::POST,
                floor,
                Some(&admin),
                Some(json!({"per_hour": 1202, "currency": "euro", "reason": "typo"})),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let (_, body) = host.request(Method::GET, floor, Some(&worker), None).await;
        assert_eq!(body["history"][0]["rate"]["per_hour"], 1202, "{body}");
        host.finish().await;
    }
}
