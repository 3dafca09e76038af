//! Issue 18, item 3: a floor the coop guarantees. No floor below the legal
//! minimum reference the operator sets; the floor run pays at least that
//! reference; what the solidarity fund cannot top up is booked as the
//! coop's debt to the worker and paid back first when the fund has money;
//! `flag` is a choice only a vote makes. Figures worked by hand.

use axum::http::{Method, StatusCode};
use coophost::ledger::account::AccountKind;
use coophost::ledger::legal_minimum;
use coophost::ledger::money::Currency;
use coophost::ledger::period::{Month, days_from_civil};
use coophost::ledger::repo;
use coophost::ledger::transaction::{Posting, Transaction};
use serde_json::{Value, json};

use crate::common::{TestHost, backends};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

/// The operator's SMIC for France from 2027-01-01: 12.02 an hour.
async fn smic(host: &TestHost) {
    legal_minimum::set_default_country(&host.app.db, "FR")
        .await
        .unwrap();
    legal_minimum::set(
        &host.app.db,
        "FR",
        "EUR",
        days_from_civil(2027, 1, 1) * DAY,
        1_202,
        "SMIC horaire brut 2027",
        host.app.clock.now_ms(),
    )
    .await
    .unwrap();
}

async fn set_floor(host: &TestHost, slug: &str, admin: &str, body: Value) -> (StatusCode, Value) {
    host.request(
        Method::POST,
        &format!("/v1/coops/{slug}/earnings-floor"),
        Some(admin),
        Some(body),
    )
    .await
}

/// `hours` on shift from now, nothing earned.
async fn shift(host: &TestHost, slug: &str, worker: &str, hours: i64) {
    let (s, b) = host
        .request(
            Method::POST,
            &format!("/v1/coops/{slug}/shifts/start"),
            Some(worker),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    host.clock.advance(hours * HOUR);
    let (s, b) = host
        .request(
            Method::POST,
            &format!("/v1/coops/{slug}/shifts/end"),
            Some(worker),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
}

async fn run_floor(host: &TestHost, slug: &str, admin: &str, period: &str) -> Value {
    let (s, body) = host
        .request(
            Method::POST,
            &format!("/v1/coops/{slug}/floor-runs"),
            Some(admin),
            Some(json!({"period": period})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    body["results"][0].clone()
}

async fn balance(host: &TestHost, coop_id: i64, account: AccountKind) -> i64 {
    repo::balance(&host.app.db, coop_id, &account, &Currency::EUR)
        .await
        .unwrap()
}

#[tokio::test]
async fn no_floor_below_the_legal_minimum_and_flag_only_by_vote() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        host.clock.set(days_from_civil(2027, 2, 1) * DAY);
        smic(&host).await;
        let coop = host.coop("lm").await;
        let admin = host.member(&coop, "admin@lm.coop", &["admin"]).await;
        let floor = |per_hour: i64, mode: &str| {
            json!({"per_hour": per_hour, "currency": "EUR", "on_shortfall": mode,
                "reason": "our floor"})
        };
        // 12.01 is below France's 12.02: refused, saying why.
        let (s, b) = set_floor(&host, "lm", &admin, floor(1_201, "top-up")).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{backend:?} {b}");
        let msg = b["error"]["message"].as_str().unwrap();
        assert!(
            msg.contains("12.01 EUR")
                && msg.contains("SMIC horaire brut 2027")
                && msg.contains("12.02"),
            "{msg}"
        );
        let (s, b) = set_floor(&host, "lm", &admin, floor(1_202, "top-up")).await;
        assert_eq!(s, StatusCode::CREATED, "{backend:?} {b}");
        // `flag` pays nothing when the fund is short: not an admin's call.
        let (s, b) = set_floor(&host, "lm", &admin, floor(1_300, "flag")).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{backend:?} {b}");
        assert!(
            b["error"]["message"].as_str().unwrap().contains("proposal"),
            "{b}"
        );

        // A coop in a country with no reference set is not held to France's.
        let be = host.coop("be").await;
        legal_minimum::set_coop_country(&host.app.db, be.id, "BE")
            .await
            .unwrap();
        let admin_be = host.member(&be, "admin@be.coop", &["admin"]).await;
        let (s, b) = set_floor(&host, "be", &admin_be, floor(1_100, "top-up")).await;
        assert_eq!(s, StatusCode::CREATED, "{backend:?} {b}");

        // Anyone reads the references, and the coop's in its floor report.
        let (s, b) = host
            .request(Method::GET, "/v1/legal-minimums", None, None)
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(b["legal_minimums"][0]["per_hour"], 1_202, "{b}");
        let (_, report) = host
            .request(Method::GET, "/v1/coops/lm/floor-report", None, None)
            .await;
        assert_eq!(report["legal_minimum"][0]["country"], "FR", "{report}");
        host.finish().await;
    }
}

#[tokio::test]
async fn a_top_up_beyond_the_fund_is_the_coops_debt_paid_back_first() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let march = Month::new(2027, 3).unwrap();
        let april = Month::new(2027, 4).unwrap();
        host.clock.set(march.start_ms() + 9 * DAY);
        let coop = host.coop("debt").await;
        let admin = host.member(&coop, "admin@debt.coop", &["admin"]).await;
        let ana = host.member(&coop, "chloe@debt.coop", &["worker"]).await;
        let ana_id = crate::sec_members::member_id(&host, coop.id, "chloe@debt.coop").await;
        let (s, b) = set_floor(
            &host,
            "debt",
            &admin,
            json!({"per_hour": 1_200, "currency": "EUR", "reason": "12 an hour"}),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");

        // March: 2 h on shift, nothing earned, an empty fund. Owed 2 x
        // 12.00 = 24.00, topped up 0, booked as the coop's debt 24.00.
        shift(&host, "debt", &ana, 2).await;
        host.clock.set(march.end_ms() + HOUR);
        let admin = host.login("admin@debt.coop").await;
        let ana = host.login("chloe@debt.coop").await;
        let r = run_floor(&host, "debt", &admin, "2027-03").await;
        assert_eq!(
            (
                &r["floor_owed"],
                &r["topped_up"],
                &r["booked_as_debt"],
                &r["flagged"]
            ),
            (&json!(2_400), &json!(0), &json!(2_400), &json!(false)),
            "{backend:?} {r}"
        );
        assert_eq!(
            balance(&host, coop.id, AccountKind::FloorDebt(ana_id)).await,
            2_400
        );
        assert_eq!(
            balance(&host, coop.id, AccountKind::FloorCommitment).await,
            -2_400
        );
        let (s, st) = host
            .request(
                Method::GET,
                "/v1/coops/debt/me/statements/2027-03",
                Some(&ana),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{st}");
        assert_eq!(
            (
                &st["statement"]["booked_as_debt"],
                &st["statement"]["floor_debt_owed"]
            ),
            (&json!(2_400), &json!(2_400)),
            "{backend:?} {st}"
        );
        let (_, report) = host
            .request(Method::GET, "/v1/coops/debt/floor-report", None, None)
            .await;
        assert_eq!(report["months"][0]["booked_as_debt"], 2_400, "{report}");
        assert_eq!(report["debt_outstanding"][0]["amount"], 2_400, "{report}");

        // 30.00 reach the fund (a donation), then April: 1 h on shift,
        // nothing earned, owed 12.00. The run pays the debt first (24.00,
        // leaving 6.00), then tops April up with the 6.00 left and books
        // the other 6.00 as debt. Ana's wallet: 24.00 + 6.00 = 30.00.
        let gift = Transaction {
            idempotency_key: "gift-1".into(),
            kind: "donation".into(),
            memo: "a neighbour's gift to the solidarity fund".into(),
            postings: vec![
                Posting::new(AccountKind::ExternalClearing, -3_000, Currency::EUR),
                Posting::new(AccountKind::SolidarityFund, 3_000, Currency::EUR),
            ],
            created_at: host.app.clock.now_ms(),
        };
        repo::post(&host.app.db, coop.id, &gift).await.unwrap();
        host.clock.set(april.start_ms() + 3 * DAY);
        let ana = host.login("chloe@debt.coop").await;
        shift(&host, "debt", &ana, 1).await;
        host.clock.set(april.end_ms() + HOUR);
        let admin = host.login("admin@debt.coop").await;
        let r = run_floor(&host, "debt", &admin, "2027-04").await;
        assert_eq!(
            (&r["floor_owed"], &r["topped_up"], &r["booked_as_debt"]),
            (&json!(1_200), &json!(600), &json!(600)),
            "{backend:?} {r}"
        );
        assert_eq!(
            balance(&host, coop.id, AccountKind::MemberWallet(ana_id)).await,
            3_000
        );
        assert_eq!(
            balance(&host, coop.id, AccountKind::SolidarityFund).await,
            0
        );
        assert_eq!(
            balance(&host, coop.id, AccountKind::FloorDebt(ana_id)).await,
            600
        );
        assert_eq!(
            balance(&host, coop.id, AccountKind::FloorCommitment).await,
            -600
        );
        // Running April again pays nothing twice.
        let again = run_floor(&host, "debt", &admin, "2027-04").await;
        assert_eq!(again, r, "{backend:?}");
        assert_eq!(
            balance(&host, coop.id, AccountKind::MemberWallet(ana_id)).await,
            3_000
        );
        repo::sum_check(&host.app.db, coop.id).await.unwrap();
        let (s, check) = host
            .request(
                Method::GET,
                "/v1/coops/debt/ledger/check",
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(
            (s, &check["balanced"]),
            (StatusCode::OK, &json!(true)),
            "{check}"
        );
        host.finish().await;
    }
}

#[tokio::test]
async fn the_floor_run_pays_at_least_the_legal_minimum_even_without_a_coop_floor() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let march = Month::new(2027, 3).unwrap();
        host.clock.set(march.start_ms() + 2 * DAY);
        smic(&host).await;
        let coop = host.coop("nofloor").await;
        host.member(&coop, "admin@nofloor.coop", &["admin"]).await;
        let bo = host.member(&coop, "bo@nofloor.coop", &["worker"]).await;
        // No floor set at all; 2 h 30 on shift, nothing earned: the law
        // guarantees 2.5 x 12.02 = 30.05, all booked as debt (empty fund).
        let (s, _) = host
            .request(
                Method::POST,
                "/v1/coops/nofloor/shifts/start",
                Some(&bo),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::CREATED);
        host.clock.advance(2 * HOUR + HOUR / 2);
        let (s, _) = host
            .request(
                Method::POST,
                "/v1/coops/nofloor/shifts/end",
                Some(&bo),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        host.clock.set(march.end_ms() + HOUR);
        let admin = host.login("admin@nofloor.coop").await;
        let r = run_floor(&host, "nofloor", &admin, "2027-03").await;
        assert_eq!(
            (&r["on_shift_ms"], &r["floor_owed"], &r["booked_as_debt"]),
            (&json!(2 * HOUR + HOUR / 2), &json!(3_005), &json!(3_005)),
            "{backend:?} {r}"
        );
        host.finish().await;
    }
}
