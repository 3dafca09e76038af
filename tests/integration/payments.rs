//! Plugins move money only through coop:host/payments: the host applies the
//! coop's split, posts in the call's transaction, and refuses overdrafts.

use axum::http::{Method, StatusCode};
use coophost::ledger::{account::AccountKind, money::Currency, repo};
use serde_json::json;

use crate::common::{TestHost, backends};

const IFACE: &str = "coop:test-misbehave/misbehave";

#[tokio::test]
async fn an_order_is_charged_settled_under_the_split_and_balanced() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let coop = host.coop("pay").await;
        host.install(&coop, "test-misbehave").await;
        let admin = host.member(&coop, "a@pay.coop", &["admin", "member"]).await;
        let customer = host.member(&coop, "c@pay.coop", &["member"]).await;
        let worker = host
            .member(&coop, "w@pay.coop", &["worker", "member"])
            .await;
        let (_, body) = host
            .call("pay", Some(&worker), IFACE, "whoami", json!({}))
            .await;
        let worker_id = body["result"]["ok"].as_str().unwrap().to_string();

        // No split yet: settling is refused and nothing moves.
        let (s, _) = host
            .call(
                "pay",
                Some(&customer),
                IFACE,
                "pay",
                json!({"order": "o1", "cents": "1000", "trap": false}),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        let (s, body) = host
            .call(
                "pay",
                Some(&admin),
                IFACE,
                "settle-order",
                json!({"order": "o1", "worker": worker_id, "cents": "1000"}),
            )
            .await;
        assert_eq!(s, StatusCode::CONFLICT, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("no value split"),
            "{body}"
        );

        // The coop's split: 80 % to the worker; commission 30/10/50/10; a
        // 1 % + 25 cent processor fee borne by the coop.
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
            .call(
                "pay",
                Some(&admin),
                IFACE,
                "settle-order",
                json!({"order": "o1", "worker": worker_id, "cents": "1000"}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert_eq!(
            body["result"]["ok"], "800",
            "{backend:?}: the worker gets 80 %"
        );
        let (_, body) = host
            .call("pay", Some(&worker), IFACE, "my-balance", json!({}))
            .await;
        assert_eq!(body["result"]["ok"], "800");

        // By hand: commission 200, fee 1000*1% + 25 = 35 borne by the coop
        // leaves 165 to split 30/10/50/10 = 49.5/16.5/82.5/16.5, rounded by
        // largest remainder so the parts sum to 165.
        let eur = Currency::parse("EUR").unwrap();
        let bal = |k: AccountKind| {
            let (db, eur) = (host.app.db.clone(), eur);
            async move { repo::balance(&db, coop.id, &k, &eur).await.unwrap() }
        };
        let (reserve, solidarity, community, revenue) = (
            bal(AccountKind::IndivisibleReserve).await,
            bal(AccountKind::SolidarityFund).await,
            bal(AccountKind::CommunityFund).await,
            bal(AccountKind::CoopRevenue).await,
        );
        assert_eq!(
            reserve + solidarity + community + revenue,
            165,
            "{backend:?}"
        );
        assert!(
            (49..=50).contains(&reserve) && (82..=83).contains(&community),
            "{reserve} {community}"
        );
        assert_eq!(bal(AccountKind::ProcessorFees).await, 35);
        assert_eq!(
            bal(AccountKind::escrow("test-misbehave.o1").unwrap()).await,
            0,
            "escrow emptied"
        );
        repo::sum_check(&host.app.db, coop.id).await.unwrap();

        // Settling again is a no-op; a charge whose call traps moves nothing.
        let (s, _) = host
            .call(
                "pay",
                Some(&admin),
                IFACE,
                "settle-order",
                json!({"order": "o1", "worker": worker_id, "cents": "1000"}),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        let (s, _) = host
            .call(
                "pay",
                Some(&customer),
                IFACE,
                "pay",
                json!({"order": "o2", "cents": "500", "trap": true}),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_GATEWAY);
        assert_eq!(
            bal(AccountKind::escrow("test-misbehave.o2").unwrap()).await,
            0,
            "{backend:?}: a trapped call moved money"
        );

        // Escrow cannot go negative: settling more than was charged is refused whole.
        let (s, _) = host
            .call(
                "pay",
                Some(&customer),
                IFACE,
                "pay",
                json!({"order": "o3", "cents": "300", "trap": false}),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        let (s, body) = host
            .call(
                "pay",
                Some(&admin),
                IFACE,
                "settle-order",
                json!({"order": "o3", "worker": worker_id, "cents": "900"}),
            )
            .await;
        assert_eq!(s, StatusCode::CONFLICT, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("would go negative"),
            "{body}"
        );
        let (s, _) = host
            .call(
                "pay",
                Some(&admin),
                IFACE,
                "refund-order",
                json!({"order": "o3", "cents": "300"}),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(
            bal(AccountKind::escrow("test-misbehave.o3").unwrap()).await,
            0
        );
        let (_, body) = host
            .call("pay", Some(&worker), IFACE, "my-balance", json!({}))
            .await;
        assert_eq!(
            body["result"]["ok"], "800",
            "{backend:?}: nothing more reached the worker"
        );
        repo::sum_check(&host.app.db, coop.id).await.unwrap();

        // Bad input is refused with a reason.
        let (s, body) = host
            .call(
                "pay",
                Some(&customer),
                IFACE,
                "pay",
                json!({"order": "no spaces", "cents": "5", "trap": false}),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let (s, body) = host
            .call(
                "pay",
                Some(&customer),
                IFACE,
                "pay",
                json!({"order": "o4", "cents": "-5", "trap": false}),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        host.finish().await;
    }
}
