//! The bike-delivery plugin end to end through HTTP, on both backends:
//! quote, order, offers, suggestion, assignment, pickup, proof of delivery,
//! settlement per the coop's split, the floor's top-up; races for one
//! order; cancellation fees; and the 4xx errors of bad input.

use axum::http::{Method, StatusCode};
use coophost::identity;
use coophost::ledger::account::AccountKind;
use coophost::ledger::money::Currency;
use coophost::ledger::period::Month;
use coophost::ledger::repo;
use serde_json::{Value, json};

use crate::common::{TestHost, backends};

const STORES: &str = "coop:delivery/stores";
const QUOTES: &str = "coop:delivery/quotes";
const ORDERS: &str = "coop:delivery/orders";
const COURIER: &str = "coop:delivery/courier";
const DISPATCH: &str = "coop:delivery/dispatch";
const HOUR: i64 = 3_600_000;
const MINUTE: i64 = 60_000;

/// Place Bellecour, Lyon: the bakery's pickup.
const BELLECOUR: (f64, f64) = (45.7578, 4.8320);
/// Part-Dieu station: a drop-off outside the Presqu'île zone.
const PART_DIEU: (f64, f64) = (45.7606, 4.8597);

/// A JSON integer the host may send as a string (u64 and s64 are strings).
fn int(v: &Value) -> i64 {
    match v {
        Value::String(s) => s.parse().unwrap_or_else(|_| panic!("not an integer: {v}")),
        other => other
            .as_i64()
            .unwrap_or_else(|| panic!("not an integer: {other}")),
    }
}

fn ok(status: StatusCode, body: &Value) -> Value {
    assert_eq!(status, StatusCode::OK, "{body}");
    body["result"]["ok"].clone()
}

fn err(status: StatusCode, body: &Value, want: StatusCode, needle: &str) {
    assert_eq!(status, want, "{body}");
    let m = body["error"]["message"].as_str().unwrap_or_default();
    assert!(m.contains(needle), "{needle:?} not in {body}");
}

fn address(label: &str, (lat, lon): (f64, f64)) -> Value {
    json!({"label": label, "point": {"lat": lat, "lon": lon}})
}

fn bakery() -> Value {
    json!({"id": "boulangerie", "name": "Boulangerie du Rhône", "merchant": null,
        "pickup-addresses": [address("2 place Bellecour, Lyon", BELLECOUR)],
        "packages": [{"id": "crate", "label": "Bread crate", "max-weight-g": 15000}],
        "slots": [{"id": "lunch", "label": "Lunch", "weekdays": [1, 2, 3, 4, 5],
            "starts": "12:00", "ends": "14:00", "cutoff": "11:00"}],
        "prior-notice-minutes": 20})
}

fn request(dropoff: (f64, f64), weight_g: u32, vehicle: &str) -> Value {
    json!({"request": {"store": "boulangerie", "pickup": null,
        "dropoff": address("Somewhere in Lyon", dropoff), "weight-g": weight_g,
        "packages": 1, "vehicle": vehicle, "slot": null}})
}

/// Set up a coop with the plugin, its split and floor, a store, an admin,
/// a shop and `couriers` couriers. Returns (admin, shop, couriers).
async fn coop(host: &TestHost, slug: &str, couriers: usize) -> (String, String, Vec<String>) {
    let coop = host.coop(slug).await;
    host.install(&coop, "bike-delivery").await;
    let admin = host
        .member(&coop, &format!("admin@{slug}.coop"), &["admin", "member"])
        .await;
    let shop = host
        .member(&coop, &format!("shop@{slug}.coop"), &["merchant", "member"])
        .await;
    let mut riders = Vec::new();
    for i in 0..couriers {
        riders.push(
            host.member(&coop, &format!("c{i}@{slug}.coop"), &["worker", "member"])
                .await,
        );
    }
    let terms = json!({"model": "commission", "worker_share_bp": 8000,
        "reserve_share_of_commission_bp": 3000, "solidarity_share_of_commission_bp": 5000,
        "community_share_of_commission_bp": 1000, "processor_fee_bp": 100, "processor_fee_fixed": 25,
        "processor_fee_borne_by": "coop", "cae_fee_bp": 1000});
    let (s, b) = host
        .request(
            Method::POST,
            &format!("/v1/coops/{slug}/split-policies"),
            Some(&admin),
            Some(json!({"terms": terms, "reason": "founding assembly"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = host
        .request(
            Method::POST,
            &format!("/v1/coops/{slug}/earnings-floor"),
            Some(&admin),
            Some(
                json!({"per_hour": 1000, "currency": "EUR", "on_shortfall": "top-up",
                "reason": "10.00 EUR per on-shift hour"}),
            ),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = host
        .call(
            slug,
            Some(&admin),
            STORES,
            "put-store",
            json!({"store": bakery()}),
        )
        .await;
    ok(s, &b);
    (admin, shop, riders)
}

async fn shift(host: &TestHost, slug: &str, token: &str, what: &str) {
    let (s, b) = host
        .request(
            Method::POST,
            &format!("/v1/coops/{slug}/shifts/{what}"),
            Some(token),
            None,
        )
        .await;
    assert!(s.is_success(), "{what}: {b}");
}

async fn quote_and_order(host: &TestHost, slug: &str, shop: &str, req: Value) -> Value {
    let (s, b) = host
        .call(slug, Some(shop), QUOTES, "request-quote", req)
        .await;
    let q = ok(s, &b);
    let (s, b) = host
        .call(
            slug,
            Some(shop),
            ORDERS,
            "place-order",
            json!({"quote": q["id"], "recipient": "Chloé", "notes": "3rd floor"}),
        )
        .await;
    ok(s, &b)
}

/// Arguments of a task function: `complete-task` also takes a code.
fn task_args(function: &str, task: &str) -> Value {
    if function == "complete-task" {
        json!({"task": task, "code": null})
    } else {
        json!({"task": task})
    }
}

/// Pick up and deliver `order` as its courier.
async fn deliver(host: &TestHost, slug: &str, courier: &str, order: &Value) -> Value {
    let id = order["id"].as_str().unwrap();
    for (f, task) in [
        ("start-task", "pickup"),
        ("complete-task", "pickup"),
        ("start-task", "dropoff"),
    ] {
        let (s, b) = host
            .call(
                slug,
                Some(courier),
                COURIER,
                f,
                task_args(f, &format!("{id}.{task}")),
            )
            .await;
        ok(s, &b);
    }
    let (s, b) = host
        .call(
            slug,
            Some(courier),
            COURIER,
            "complete-task",
            json!({"task": format!("{id}.dropoff"), "code": order["dropoff-code"]}),
        )
        .await;
    ok(s, &b)
}

async fn member_id(host: &TestHost, slug: &str, email: &str) -> (i64, i64) {
    let coop = identity::find_coop(&host.app.db, slug).await.unwrap();
    let id = identity::list_members(&host.app.db, coop.id)
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.email == email)
        .unwrap()
        .id;
    (coop.id, id)
}

#[tokio::test]
async fn a_delivery_is_quoted_ordered_dispatched_delivered_and_settled() {
    let october = Month::new(2026, 10).unwrap();
    // Monday 2026-10-05, 08:00 UTC (09:00 in Lyon).
    let t0 = october.start_ms() + 4 * 24 * HOUR + 8 * HOUR;
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        host.clock.set(t0);
        // The first tick schedules October's floor run.
        host.app.run_jobs_once("test-host").await.unwrap();
        let (admin, shop, c) = coop(&host, "velo", 3).await;
        let (ana, ben, cy) = (&c[0], &c[1], &c[2]);

        // Bad stores and quotes are refused with what was wrong.
        let mut bad = bakery();
        bad["slots"][0]["cutoff"] = json!("12:30");
        let (s, b) = host
            .call(
                "velo",
                Some(&admin),
                STORES,
                "put-store",
                json!({"store": bad}),
            )
            .await;
        err(
            s,
            &b,
            StatusCode::UNPROCESSABLE_ENTITY,
            "slots[0]: cutoff 12:30 must be no later than starts 12:00",
        );
        let (s, b) = host
            .call(
                "velo",
                None,
                QUOTES,
                "request-quote",
                request((100.0, 4.0), 2000, "bike"),
            )
            .await;
        err(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "dropoff.point");
        let mut r = request(PART_DIEU, 2000, "bike");
        r["request"]["store"] = json!("nowhere");
        let (s, b) = host.call("velo", None, QUOTES, "request-quote", r).await;
        err(s, &b, StatusCode::NOT_FOUND, "no store nowhere");
        let mut r = request(PART_DIEU, 2000, "bike");
        r["request"]["slot"] = json!("dinner");
        let (s, b) = host.call("velo", None, QUOTES, "request-quote", r).await;
        err(
            s,
            &b,
            StatusCode::UNPROCESSABLE_ENTITY,
            "slot \"dinner\" is not one of store boulangerie's slots (lunch)",
        );
        let (s, b) = host
            .call(
                "velo",
                None,
                QUOTES,
                "request-quote",
                json!({"request": {"store": "boulangerie"}}),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");

        // Anyone may ask for a quote; it explains itself.
        let (s, b) = host
            .call(
                "velo",
                None,
                QUOTES,
                "request-quote",
                request(PART_DIEU, 2000, "bike"),
            )
            .await;
        let q = ok(s, &b);
        let price = int(&q["price"]["amount"]);
        let lines: i64 = q["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| int(&l["amount"]))
            .sum();
        assert_eq!(lines, price, "{q}");
        // 3.50 to pick up and drop off, 1.50 per km of route: nothing else
        // applies to 2 kg on a bike at 09:20 on a Monday outside the zone.
        let route_m = int(&q["route-m"]);
        assert!(
            (2_700..3_000).contains(&route_m),
            "1.3 x ~2.17 km: {route_m}"
        );
        assert_eq!(price, 350 + (route_m * 150 + 500) / 1000, "{q}");
        let matched: Vec<&str> = q["rules"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["matched"] == json!(true))
            .map(|r| r["rule"].as_str().unwrap())
            .collect();
        assert_eq!(matched.len(), 2, "{q}");
        assert!(
            q["rules"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| !r["why"].as_str().unwrap().is_empty())
        );
        assert_eq!(int(&q["expires-at"]), t0 + 15 * MINUTE);
        assert_eq!(int(&q["pickup-window"]["from"]), t0 + 20 * MINUTE);

        // The shop orders it: the price goes into escrow.
        let (s, b) = host
            .call(
                "velo",
                Some(&shop),
                ORDERS,
                "place-order",
                json!({"quote": q["id"], "recipient": "Chloé", "notes": null}),
            )
            .await;
        let order = ok(s, &b);
        let id = order["id"].as_str().unwrap().to_string();
        assert_eq!(id, "d-000001");
        let code = order["dropoff-code"].as_str().unwrap().to_string();
        assert_eq!(code.len(), 6);
        assert_eq!(order["tasks"][0]["state"], json!("todo"));
        let (s, b) = host
            .call(
                "velo",
                Some(&shop),
                ORDERS,
                "place-order",
                json!({"quote": q["id"], "recipient": "Chloé", "notes": null}),
            )
            .await;
        err(s, &b, StatusCode::CONFLICT, "already ordered as d-000001");
        let (coop_id, ana_id) = member_id(&host, "velo", "c0@velo.coop").await;
        let (_, ben_id) = member_id(&host, "velo", "c1@velo.coop").await;
        let eur = Currency::EUR;
        let bal = |k: AccountKind| {
            let db = host.app.db.clone();
            async move { repo::balance(&db, coop_id, &k, &eur).await.unwrap() }
        };
        let escrow = AccountKind::escrow("bike-delivery.d-000001").unwrap();
        assert_eq!(bal(escrow.clone()).await, price);

        // Positions only on shift.
        let here = json!({"at": {"lat": 45.7580, "lon": 4.8330}});
        let (s, b) = host
            .call("velo", Some(cy), COURIER, "report-location", here.clone())
            .await;
        err(s, &b, StatusCode::FORBIDDEN, "only during an open shift");
        let (s, b) = host
            .call("velo", Some(ana), COURIER, "offers", json!({}))
            .await;
        assert_eq!(ok(s, &b), json!([]), "no offers off shift");
        shift(&host, "velo", ana, "start").await;
        shift(&host, "velo", ben, "start").await;
        // Positions need each courier's consent.
        let (s, b) = host
            .call("velo", Some(ana), COURIER, "report-location", here.clone())
            .await;
        err(
            s,
            &b,
            StatusCode::FORBIDDEN,
            "has not consented to location data",
        );
        for token in [ana, ben] {
            let (s, b) = host
                .request(
                    Method::PUT,
                    "/v1/coops/velo/me/consents/bike-delivery/location",
                    Some(token),
                    Some(json!({"given": true})),
                )
                .await;
            assert_eq!(s, StatusCode::OK, "{b}");
        }
        let (s, b) = host
            .call("velo", Some(ana), COURIER, "report-location", here)
            .await;
        ok(s, &b);
        let (s, b) = host
            .call(
                "velo",
                Some(ben),
                COURIER,
                "report-location",
                json!({"at": {"lat": 45.7700, "lon": 4.8600}}),
            )
            .await;
        ok(s, &b);

        // Ana sees the offer: distance, destination, pay before accepting.
        let (s, b) = host
            .call("velo", Some(ana), COURIER, "offers", json!({}))
            .await;
        let offers = ok(s, &b);
        assert_eq!(offers.as_array().unwrap().len(), 1, "{offers}");
        let offer = &offers[0];
        assert_eq!(offer["order"], json!(id));
        assert!((50..150).contains(&int(&offer["to-pickup-m"])), "{offer}");
        assert_eq!(offer["dropoff"]["label"], json!("Somewhere in Lyon"));
        let pay = int(&offer["pay"]["amount"]);
        assert!((pay - price * 4 / 5).abs() <= 1, "80 % of {price}: {pay}");
        // Ben refuses, at no cost: it is not offered to him again.
        let (s, b) = host
            .call("velo", Some(ben), COURIER, "refuse", json!({"order": id}))
            .await;
        ok(s, &b);
        let (s, b) = host
            .call("velo", Some(ben), COURIER, "offers", json!({}))
            .await;
        assert_eq!(ok(s, &b), json!([]));

        // The dispatcher's suggestion: Ana, with the reason.
        let (s, b) = host
            .call(
                "velo",
                Some(&admin),
                DISPATCH,
                "suggest",
                json!({"order": id}),
            )
            .await;
        let suggestion = ok(s, &b);
        let reason = suggestion["reason"].as_str().unwrap();
        assert!(
            reason.starts_with("nearest of 1 available couriers on shift"),
            "{reason}"
        );
        assert!(reason.contains("1 who declined this order"), "{reason}");
        assert!(reason.contains("1 off shift"), "{reason}");

        // Transitions out of order are refused.
        let (s, b) = host
            .call(
                "velo",
                Some(ana),
                COURIER,
                "start-task",
                json!({"task": format!("{id}.pickup")}),
            )
            .await;
        err(s, &b, StatusCode::FORBIDDEN, "is not yours");
        let (s, b) = host
            .call("velo", Some(ana), COURIER, "accept", json!({"order": id}))
            .await;
        let taken = ok(s, &b);
        assert_eq!(taken["courier"], suggestion["courier"]);
        assert_eq!(
            taken["dropoff-code"],
            Value::Null,
            "the code is the customer's"
        );
        let (s, b) = host
            .call("velo", Some(ben), COURIER, "accept", json!({"order": id}))
            .await;
        err(
            s,
            &b,
            StatusCode::CONFLICT,
            "already assigned to another courier",
        );
        let (s, b) = host
            .call(
                "velo",
                Some(ana),
                COURIER,
                "complete-task",
                json!({"task": format!("{id}.dropoff"), "code": code}),
            )
            .await;
        err(
            s,
            &b,
            StatusCode::CONFLICT,
            "task d-000001.dropoff is assigned: cannot complete",
        );
        let (s, b) = host
            .call(
                "velo",
                Some(ana),
                COURIER,
                "start-task",
                json!({"task": format!("{id}.dropoff")}),
            )
            .await;
        err(s, &b, StatusCode::CONFLICT, "pick the packages up first");
        for (f, task) in [
            ("start-task", "pickup"),
            ("complete-task", "pickup"),
            ("start-task", "dropoff"),
        ] {
            let (s, b) = host
                .call(
                    "velo",
                    Some(ana),
                    COURIER,
                    f,
                    task_args(f, &format!("{id}.{task}")),
                )
                .await;
            ok(s, &b);
        }
        let (s, b) = host
            .call(
                "velo",
                Some(ana),
                COURIER,
                "complete-task",
                json!({"task": format!("{id}.dropoff"), "code": "not-it"}),
            )
            .await;
        err(
            s,
            &b,
            StatusCode::UNPROCESSABLE_ENTITY,
            "not the proof-of-delivery code",
        );
        let (s, b) = host
            .call(
                "velo",
                Some(ana),
                COURIER,
                "complete-task",
                json!({"task": format!("{id}.dropoff"), "code": code}),
            )
            .await;
        let done = ok(s, &b);
        assert_eq!(done["state"], json!("delivered"));
        assert_eq!(done["tasks"][1]["state"], json!("done"));

        // Paid per the split: the offer's pay, out of the escrow.
        assert_eq!(bal(escrow).await, 0);
        assert_eq!(bal(AccountKind::MemberWallet(ana_id)).await, pay);

        // Ben delivers a heavy cargo load across town.
        let big = quote_and_order(
            &host,
            "velo",
            &shop,
            request((45.7800, 4.9300), 40_000, "cargo-bike"),
        )
        .await;
        let (s, b) = host
            .call(
                "velo",
                Some(ben),
                COURIER,
                "accept",
                json!({"order": big["id"]}),
            )
            .await;
        ok(s, &b);
        deliver(&host, "velo", ben, &big).await;
        let ben_pay = bal(AccountKind::MemberWallet(ben_id)).await;
        assert!(
            ben_pay >= 1000,
            "a long cargo run pays above the hour's floor: {ben_pay}"
        );

        // A quote cannot be ordered once it expired; the sweep removes it.
        let (s, b) = host
            .call(
                "velo",
                Some(&shop),
                QUOTES,
                "request-quote",
                request(PART_DIEU, 2000, "bike"),
            )
            .await;
        let stale = ok(s, &b);
        host.clock.advance(16 * MINUTE);
        let (s, b) = host
            .call(
                "velo",
                Some(&shop),
                ORDERS,
                "place-order",
                json!({"quote": stale["id"], "recipient": "X", "notes": null}),
            )
            .await;
        err(s, &b, StatusCode::CONFLICT, "expired");
        host.app.run_jobs_once("test-host").await.unwrap();
        let (s, b) = host
            .call(
                "velo",
                Some(&shop),
                QUOTES,
                "get-quote",
                json!({"id": stale["id"]}),
            )
            .await;
        err(s, &b, StatusCode::NOT_FOUND, "ask for a new quote");

        // 42 minutes on shift each: 7.00 owed at 10.00 an hour. Ana's pay
        // is below it: the floor run after the month tops her up from the
        // solidarity fund. Ben earned more than the floor.
        host.clock.set(t0 + 42 * MINUTE);
        shift(&host, "velo", ana, "end").await;
        shift(&host, "velo", ben, "end").await;
        let solidarity = bal(AccountKind::SolidarityFund).await;
        assert!(
            solidarity >= 700 - pay && pay < 700,
            "the fund can pay the top-up: {solidarity}"
        );
        host.clock.set(october.end_ms() + 2 * HOUR);
        host.app.run_jobs_once("test-host").await.unwrap();
        assert_eq!(bal(AccountKind::MemberWallet(ana_id)).await, 700);
        assert_eq!(
            bal(AccountKind::SolidarityFund).await,
            solidarity - (700 - pay)
        );
        assert_eq!(bal(AccountKind::MemberWallet(ben_id)).await, ben_pay);
        let admin = host.login("admin@velo.coop").await;
        let (s, b) = host
            .request(
                Method::GET,
                "/v1/coops/velo/ledger/check",
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");

        // The public transparency report, with no login.
        let (s, t) = host
            .request(Method::GET, "/v1/coops/velo/transparency", None, None)
            .await;
        assert_eq!(s, StatusCode::OK, "{t}");
        let plugin = &t["plugins"][0];
        assert_eq!(plugin["name"], json!("bike-delivery"));
        assert_eq!(plugin["sha256"].as_str().map(str::len), Some(64));
        let ppk = plugin["algorithm"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "price-per-km")
            .unwrap();
        assert_eq!(ppk["value"], json!(150));
        assert_eq!(plugin["data"]["location"]["basis"], json!("consent"));
        assert_eq!(t["value_split"]["in_effect"], json!(1));
        // October had two workers: below the minimum cell, nothing shown.
        let october = &t["earnings"]["months"][0];
        assert_eq!(
            (
                october["period"].clone(),
                october["workers"].clone(),
                october["suppressed"].clone()
            ),
            (json!("2026-10"), json!(2), json!(true)),
            "{t}"
        );
        assert_eq!(october["median_hourly"], Value::Null);
        assert_eq!(t["decisions"]["verification"]["ok"], json!(true));
        let (s, page) = host
            .request(Method::GET, "/coops/velo/transparency", None, None)
            .await;
        assert_eq!(s, StatusCode::OK);
        let page = page.as_str().unwrap();
        assert!(page.starts_with("<!doctype html>"), "{page}");
        assert!(page.contains("bike-delivery 0.1.0"), "{page}");
        assert!(
            page.contains("fewer workers than the minimum: not shown"),
            "{page}"
        );
        // The impact summary for worker representatives.
        let (s, md) = host
            .request(
                Method::GET,
                "/v1/coops/velo/impact-summary",
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        let md = md.as_str().unwrap();
        assert!(md.contains("| location | Show a courier"), "{md}");
        assert!(
            md.contains("consent (each member decides, withdrawable)"),
            "{md}"
        );
        assert!(md.contains("- `price-per-km` = `150`"), "{md}");
        let (s, _) = host
            .request(Method::GET, "/v1/coops/velo/impact-summary", None, None)
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        host.finish().await;
    }
}

#[tokio::test]
async fn eight_couriers_race_for_one_order_and_exactly_one_wins() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let (admin, shop, couriers) = coop(&host, "race", 8).await;
        for c in &couriers {
            shift(&host, "race", c, "start").await;
        }
        let order = quote_and_order(&host, "race", &shop, request(PART_DIEU, 2000, "bike")).await;
        let id = order["id"].as_str().unwrap();
        let results = futures_util::future::join_all(
            couriers
                .iter()
                .map(|c| host.call("race", Some(c), COURIER, "accept", json!({"order": id}))),
        )
        .await;
        let winners: Vec<usize> = results
            .iter()
            .enumerate()
            .filter(|(_, (s, _))| *s == StatusCode::OK)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(winners.len(), 1, "{backend:?}: {results:?}");
        for (s, b) in results.iter().filter(|(s, _)| *s != StatusCode::OK) {
            assert_eq!(*s, StatusCode::CONFLICT, "{b}");
            let m = b["error"]["message"].as_str().unwrap();
            assert!(
                m.contains("already assigned") || m.contains("changed while"),
                "{m}"
            );
        }
        let (s, b) = host
            .call("race", Some(&shop), ORDERS, "get-order", json!({"id": id}))
            .await;
        let o = ok(s, &b);
        assert_eq!(
            o["courier"],
            results[winners[0]].1["result"]["ok"]["courier"]
        );

        // The customer cancels after assignment: a quarter of the price to
        // the courier, the rest back.
        let price = int(&o["price"]["amount"]);
        let (s, b) = host
            .call(
                "race",
                Some(&shop),
                ORDERS,
                "cancel-order",
                json!({"id": id, "reason": "closed early"}),
            )
            .await;
        let c = ok(s, &b);
        assert_eq!(c["state-reached"], json!("assigned"));
        assert_eq!(int(&c["fee"]["amount"]), price * 2500 / 10_000);
        assert_eq!(int(&c["refunded"]["amount"]), price - price * 2500 / 10_000);
        let (s, b) = host
            .call(
                "race",
                Some(&shop),
                ORDERS,
                "cancel-order",
                json!({"id": id, "reason": "again"}),
            )
            .await;
        err(s, &b, StatusCode::CONFLICT, "already cancelled");
        let winner = format!("c{}@race.coop", winners[0]);
        let (coop_id, winner_id) = member_id(&host, "race", &winner).await;
        let paid = repo::balance(
            &host.app.db,
            coop_id,
            &AccountKind::MemberWallet(winner_id),
            &Currency::EUR,
        )
        .await
        .unwrap();
        assert!(paid > 0 && paid <= price * 2500 / 10_000, "{paid}");

        // Before any courier: no fee.
        let order = quote_and_order(&host, "race", &shop, request(PART_DIEU, 2000, "bike")).await;
        let (s, b) = host
            .call(
                "race",
                Some(&admin),
                ORDERS,
                "cancel-order",
                json!({"id": order["id"], "reason": "mistake"}),
            )
            .await;
        let c = ok(s, &b);
        assert_eq!(
            (c["state-reached"].clone(), int(&c["fee"]["amount"])),
            (json!("todo"), 0)
        );
        host.finish().await;
    }
}

/// Add a member in a college and log them in.
async fn college_member(
    host: &TestHost,
    slug: &str,
    email: &str,
    roles: &[&str],
    college: &str,
) -> String {
    let coop = identity::find_coop(&host.app.db, slug).await.unwrap();
    identity::add_member(
        &host.app.db,
        &*host.app.clock,
        &coop,
        identity::NewMember {
            email: email.into(),
            display_name: email.into(),
            password: Some("correct horse battery staple".into()),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            college: Some(college.into()),
        },
    )
    .await
    .unwrap();
    host.login(email).await
}

/// The README's worked example: couriers propose a higher price per km,
/// the colleges vote, and quotes change at the effective date, not before.
#[tokio::test]
async fn a_voted_price_per_km_changes_quotes_at_its_effective_date() {
    // Tuesday 2026-10-06, 08:00 UTC: no evening or Sunday rule applies,
    // then or three days later.
    let t0 = Month::new(2026, 10).unwrap().start_ms() + 5 * 24 * HOUR + 8 * HOUR;
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        host.clock.set(t0);
        let coop = host.coop("gov").await;
        host.install(&coop, "bike-delivery").await;
        let admin = college_member(
            &host,
            "gov",
            "admin@gov.coop",
            &["admin", "member"],
            "supporters",
        )
        .await;
        let shop = college_member(
            &host,
            "gov",
            "shop@gov.coop",
            &["merchant", "member"],
            "users",
        )
        .await;
        let mut couriers = Vec::new();
        for i in 0..3 {
            couriers.push(
                college_member(
                    &host,
                    "gov",
                    &format!("c{i}@gov.coop"),
                    &["worker", "member"],
                    "workers",
                )
                .await,
            );
        }
        let (s, b) = host
            .call(
                "gov",
                Some(&admin),
                STORES,
                "put-store",
                json!({"store": bakery()}),
            )
            .await;
        ok(s, &b);
        let rules = json!({
            "college_bounds": {"min_bp": 1000, "max_bp": 5000},
            "colleges": [{"name": "workers", "weight_bp": 5000}, {"name": "users", "weight_bp": 3000},
                {"name": "supporters", "weight_bp": 2000}],
            "kinds": {"set-config": {"vote": {"method": "college-weighted", "quorum_bp": 3000, "threshold_bp": 5000},
                "min_window_hours": 48, "min_delay_hours": 24}},
            "default_vote": {"vote": {"method": "one-member-one-vote", "quorum_bp": 5000, "threshold_bp": 5000},
                "min_window_hours": 24, "min_delay_hours": 0},
            "admins_may": []
        });
        let (s, b) = host
            .request(
                Method::PUT,
                "/v1/coops/gov/governance/rules",
                Some(&admin),
                Some(json!({"rules": rules, "reason": "founding assembly"})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let quote = || async {
            let (s, b) = host
                .call(
                    "gov",
                    None,
                    QUOTES,
                    "request-quote",
                    request(PART_DIEU, 2000, "bike"),
                )
                .await;
            let q = ok(s, &b);
            (int(&q["price"]["amount"]), int(&q["route-m"]))
        };
        let (before, route_m) = quote().await;
        assert_eq!(before, 350 + (route_m * 150 + 500) / 1000);

        // No admin can change the price alone any more.
        let (s, b) = host
            .request(
                Method::PUT,
                "/v1/coops/gov/plugins/bike-delivery/config/price-per-km",
                Some(&admin),
                Some(json!({"value": 200})),
            )
            .await;
        err(s, &b, StatusCode::FORBIDDEN, "open a proposal");
        // The algorithm card, public, shows the value in force.
        let (s, card) = host
            .request(
                Method::GET,
                "/v1/coops/gov/plugins/bike-delivery/algorithm",
                None,
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{card}");
        let ppk = |card: &Value| {
            card["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == "price-per-km")
                .unwrap()["value"]
                .clone()
        };
        assert_eq!(ppk(&card), json!(150));
        assert!(
            card["card"]["summary"]
                .as_str()
                .unwrap()
                .contains("pricing rules")
        );

        // A courier proposes 2.00 per km; couriers vote yes, the shop no,
        // the supporter abstains: (0.5 x 1 + 0.3 x 0) / 0.8 = 0.625.
        let change = json!({"kind": "set-config", "plugin": "bike-delivery", "name": "price-per-km", "value": 200});
        let (s, b) = host
            .request(Method::POST, "/v1/coops/gov/proposals", Some(&couriers[0]),
                Some(json!({"title": "2.00 per km", "body": "Fuel for legs costs more too.", "change": change})))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        let id = b["proposal"]["id"].as_i64().unwrap();
        for (token, choice) in couriers
            .iter()
            .map(|c| (c, "yes"))
            .chain([(&shop, "no"), (&admin, "abstain")])
        {
            let (s, b) = host
                .request(
                    Method::POST,
                    &format!("/v1/coops/gov/proposals/{id}/votes"),
                    Some(token),
                    Some(json!({"choice": choice, "reason": ""})),
                )
                .await;
            assert_eq!(s, StatusCode::OK, "{b}");
        }
        host.clock.set(t0 + 48 * HOUR);
        host.app.run_jobs_once("test-host").await.unwrap();
        let admin = host.login("admin@gov.coop").await;
        let (_, b) = host
            .request(
                Method::GET,
                &format!("/v1/coops/gov/proposals/{id}"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(b["proposal"]["status"], "passed", "{b}");
        assert_eq!(b["proposal"]["tally"]["score_bp"], 6250, "{b}");
        assert_eq!(quote().await.0, before, "not before the effective date");

        host.clock.set(t0 + 72 * HOUR);
        host.app.run_jobs_once("test-host").await.unwrap();
        let (after, _) = quote().await;
        assert_eq!(after, 350 + (route_m * 200 + 500) / 1000, "{backend:?}");
        assert!(after > before);
        let (_, card) = host
            .request(
                Method::GET,
                "/v1/coops/gov/plugins/bike-delivery/algorithm",
                None,
                None,
            )
            .await;
        assert_eq!(ppk(&card), json!(200));
        host.finish().await;
    }
}

/// Ratings belong to the worker: the customer rates the courier through
/// the plugin, the courier sees it, contests it, an admin reviews it, and
/// ratings older than the retention stop counting.
#[tokio::test]
async fn the_courier_owns_the_ratings_the_customer_gives() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let (admin, shop, c) = coop(&host, "note", 2).await;
        let (rider, other) = (&c[0], &c[1]);
        shift(&host, "note", rider, "start").await;
        let first = quote_and_order(&host, "note", &shop, request(PART_DIEU, 2000, "bike")).await;
        let (s, b) = host
            .call(
                "note",
                Some(rider),
                COURIER,
                "accept",
                json!({"order": first["id"]}),
            )
            .await;
        ok(s, &b);
        let rate = |token: &str, order: &Value, score: u32| {
            let (host, token, order) = (&host, token.to_string(), order["id"].clone());
            async move {
                host.call(
                    "note",
                    Some(&token),
                    ORDERS,
                    "rate-courier",
                    json!({"order": order, "score": score, "comment": "  a bit late  "}),
                )
                .await
            }
        };
        let (s, b) = rate(&shop, &first, 2).await;
        err(s, &b, StatusCode::CONFLICT, "once the delivery arrived");
        deliver(&host, "note", rider, &first).await;
        let (s, b) = rate(other, &first, 5).await;
        err(s, &b, StatusCode::FORBIDDEN, "only the customer");
        let (s, b) = rate(&shop, &first, 6).await;
        err(
            s,
            &b,
            StatusCode::UNPROCESSABLE_ENTITY,
            "score must be 1 to 5, got 6",
        );
        let (s, b) = rate(&shop, &first, 2).await;
        ok(s, &b);
        let (s, b) = rate(&shop, &first, 4).await;
        err(s, &b, StatusCode::CONFLICT, "already rated");

        // The courier sees it, with when it stops counting, and was told.
        let mine = |token: &str| {
            let (host, token) = (&host, token.to_string());
            async move {
                let (s, b) = host
                    .request(Method::GET, "/v1/coops/note/me/ratings", Some(&token), None)
                    .await;
                assert_eq!(s, StatusCode::OK, "{b}");
                b
            }
        };
        let r = mine(rider).await;
        let rating = &r["ratings"][0];
        assert_eq!(
            (rating["score"].clone(), rating["comment"].clone()),
            (json!(2), json!("a bit late"))
        );
        assert_eq!(rating["counted"], json!(true));
        assert_eq!(
            r["summary"],
            json!({"count": 1, "average_milli": 2000, "contested": 0})
        );
        assert_eq!(mine(other).await["ratings"], json!([]));
        let (_, inbox) = host
            .request(
                Method::GET,
                "/v1/coops/note/notifications",
                Some(rider),
                None,
            )
            .await;
        assert!(inbox.to_string().contains("rating.received"), "{inbox}");

        // Contested: it stops counting; nobody else may contest it.
        let id = rating["id"].as_i64().unwrap();
        let contest = |token: &str, reason: &str| {
            let (host, token, reason) = (&host, token.to_string(), reason.to_string());
            async move {
                host.request(
                    Method::POST,
                    &format!("/v1/coops/note/me/ratings/{id}/contest"),
                    Some(&token),
                    Some(json!({"reason": reason})),
                )
                .await
            }
        };
        let (s, b) = contest(rider, "unfair").await;
        err(
            s,
            &b,
            StatusCode::UNPROCESSABLE_ENTITY,
            "10 to 1000 characters",
        );
        let (s, b) = contest(other, "The bridge was closed by the police.").await;
        err(s, &b, StatusCode::FORBIDDEN, "only the ratings about them");
        let (s, b) = contest(rider, "The bridge was closed by the police.").await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(b["rating"]["status"], json!("contested"));
        assert_eq!(
            mine(rider).await["summary"],
            json!({"count": 0, "average_milli": null, "contested": 1})
        );

        // An admin reviews it and removes it.
        let (s, b) = host
            .request(
                Method::GET,
                "/v1/coops/note/ratings/contested",
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(
            (s, b["ratings"].as_array().map(Vec::len)),
            (StatusCode::OK, Some(1)),
            "{b}"
        );
        let (s, b) = host
            .request(
                Method::POST,
                &format!("/v1/coops/note/ratings/{id}/review"),
                Some(rider),
                Some(json!({"outcome": "remove", "reason": "I would like to remove it"})),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
        let (s, b) = host
            .request(
                Method::POST,
                &format!("/v1/coops/note/ratings/{id}/review"),
                Some(&admin),
                Some(json!({"outcome": "remove", "reason": "A road closure is nobody's fault."})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(b["rating"]["status"], json!("removed"));
        let r = mine(rider).await;
        assert_eq!(
            (
                r["ratings"][0]["counted"].clone(),
                r["summary"]["count"].clone()
            ),
            (json!(false), json!(0))
        );

        // A good rating counts until the coop's retention (365 days) ends.
        let second = quote_and_order(&host, "note", &shop, request(PART_DIEU, 2000, "bike")).await;
        let (s, b) = host
            .call(
                "note",
                Some(rider),
                COURIER,
                "accept",
                json!({"order": second["id"]}),
            )
            .await;
        ok(s, &b);
        deliver(&host, "note", rider, &second).await;
        let (s, b) = rate(&shop, &second, 5).await;
        ok(s, &b);
        assert_eq!(mine(rider).await["summary"]["average_milli"], json!(5000));
        host.clock.advance(366 * 24 * HOUR);
        let rider = host.login("c0@note.coop").await;
        let r = mine(&rider).await;
        assert_eq!(r["summary"]["count"], json!(0), "{r}");
        assert_eq!(
            r["ratings"].as_array().unwrap().len(),
            2,
            "still visible to the worker"
        );
        let (s, b) = host
            .request(
                Method::GET,
                "/v1/coops/note/decisions/verify",
                Some(&rider),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(b["verification"]["ok"], json!(true), "{b}");
        let (_, log) = host
            .request(Method::GET, "/v1/coops/note/decisions", Some(&rider), None)
            .await;
        let text = log.to_string();
        assert!(
            text.contains("rating.contested") && text.contains("rating.reviewed"),
            "{log}"
        );
        host.finish().await;
    }
}

/// A member downloads everything held about them; erasure deletes what the
/// law does not require to keep and leaves the books and the chain intact.
#[tokio::test]
async fn members_export_their_data_and_erasure_keeps_the_books() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let (admin, shop, c) = coop(&host, "gone", 1).await;
        let rider = &c[0];
        shift(&host, "gone", rider, "start").await;
        let (s, b) = host
            .request(
                Method::PUT,
                "/v1/coops/gone/me/consents/bike-delivery/location",
                Some(rider),
                Some(json!({"given": true})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let (s, b) = host
            .call(
                "gone",
                Some(rider),
                COURIER,
                "report-location",
                json!({"at": {"lat": 45.7580, "lon": 4.8330}}),
            )
            .await;
        ok(s, &b);
        let order = quote_and_order(&host, "gone", &shop, request(PART_DIEU, 2000, "bike")).await;
        let (s, b) = host
            .call(
                "gone",
                Some(rider),
                COURIER,
                "accept",
                json!({"order": order["id"]}),
            )
            .await;
        ok(s, &b);
        deliver(&host, "gone", rider, &order).await;
        let (s, b) = host
            .call(
                "gone",
                Some(&shop),
                ORDERS,
                "rate-courier",
                json!({"order": order["id"], "score": 5, "comment": "fast"}),
            )
            .await;
        ok(s, &b);

        // The courier's archive: profile, shift, pay, consent, rating,
        // notifications and the plugin's records about them.
        let (s, a) = host
            .request(Method::GET, "/v1/coops/gone/me/export", Some(rider), None)
            .await;
        assert_eq!(s, StatusCode::OK, "{a}");
        assert_eq!(a["member"]["email"], json!("c0@gone.coop"));
        assert_eq!(a["shifts"].as_array().unwrap().len(), 1);
        assert_eq!(a["wallet"][0]["kind"], json!("settlement"));
        assert_eq!(a["consents"][0]["category"], json!("location"));
        assert_eq!(a["ratings"][0]["score"], json!(5));
        let keys: Vec<&str> = a["plugin_records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["key"].as_str().unwrap())
            .collect();
        assert!(keys.iter().any(|k| k.starts_with("loc/")), "{keys:?}");
        assert!(
            keys.iter().any(|k| k.starts_with("by-courier/")),
            "{keys:?}"
        );
        assert!(a.to_string().contains("rating.received"));

        // Erasure needs the phrase, and an empty wallet.
        let erase = |token: &str, confirm: &str| {
            let (host, token, confirm) = (&host, token.to_string(), confirm.to_string());
            async move {
                host.request(
                    Method::POST,
                    "/v1/coops/gone/me/erasure",
                    Some(&token),
                    Some(json!({"confirm": confirm})),
                )
                .await
            }
        };
        let (s, b) = erase(rider, "yes").await;
        err(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "erase my data");
        let (s, b) = erase(rider, "erase my data").await;
        err(s, &b, StatusCode::CONFLICT, "paid out");

        // The shop's wallet is empty: its orders and notices go, its
        // account is pseudonymised, the books and the chain still check.
        let (s, b) = erase(&shop, "erase my data").await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let r = &b["erasure"];
        assert!(r["plugin_records_deleted"].as_u64().unwrap() >= 2, "{b}");
        assert!(r["notifications_deleted"].as_u64().unwrap() >= 1, "{b}");
        assert_eq!(r["account_pseudonymised"], json!(true));
        let (s, _) = host
            .request(
                Method::POST,
                "/v1/auth/login",
                None,
                Some(
                    json!({"email": "shop@gone.coop", "password": "correct horse battery staple"}),
                ),
            )
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        let (s, b) = host
            .call(
                "gone",
                Some(&admin),
                ORDERS,
                "get-order",
                json!({"id": order["id"]}),
            )
            .await;
        err(s, &b, StatusCode::NOT_FOUND, "no order d-000001");
        for path in [
            "/v1/coops/gone/ledger/check",
            "/v1/coops/gone/decisions/verify",
        ] {
            let (s, b) = host.request(Method::GET, path, Some(&admin), None).await;
            assert_eq!(s, StatusCode::OK, "{path}: {b}");
            assert!(!b.to_string().contains("\"ok\":false"), "{path}: {b}");
        }
        host.finish().await;
    }
}

/// Open data: deliveries per drop-off zone and hours worked per month,
/// with cells of fewer than k couriers suppressed, as JSON and CSV.
#[tokio::test]
async fn open_data_counts_deliveries_per_zone_and_suppresses_small_cells() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let (admin, shop, couriers) = coop(&host, "open", 3).await;
        // The coop publishes cells of at least 3 couriers; 2 is refused.
        let (_, current) = host
            .request(
                Method::GET,
                "/v1/coops/open/governance/rules",
                Some(&admin),
                None,
            )
            .await;
        let mut rules = current["rules"].clone();
        rules["open_data_k"] = json!(2);
        let (s, b) = host
            .request(
                Method::PUT,
                "/v1/coops/open/governance/rules",
                Some(&admin),
                Some(json!({"rules": rules, "reason": "publish small cells"})),
            )
            .await;
        err(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "open_data_k is 2");
        rules["open_data_k"] = json!(3);
        let (s, b) = host
            .request(
                Method::PUT,
                "/v1/coops/open/governance/rules",
                Some(&admin),
                Some(json!({"rules": rules, "reason": "open data for the city"})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        // Three couriers deliver to Part-Dieu (no named zone); one of them
        // also delivers into the Presqu'île.
        for c in &couriers {
            shift(&host, "open", c, "start").await;
            let order =
                quote_and_order(&host, "open", &shop, request(PART_DIEU, 2000, "bike")).await;
            let (s, b) = host
                .call(
                    "open",
                    Some(c),
                    COURIER,
                    "accept",
                    json!({"order": order["id"]}),
                )
                .await;
            ok(s, &b);
            deliver(&host, "open", c, &order).await;
        }
        let order = quote_and_order(
            &host,
            "open",
            &shop,
            request((45.7600, 4.8340), 2000, "bike"),
        )
        .await;
        let (s, b) = host
            .call(
                "open",
                Some(&couriers[0]),
                COURIER,
                "accept",
                json!({"order": order["id"]}),
            )
            .await;
        ok(s, &b);
        deliver(&host, "open", &couriers[0], &order).await;

        let (s, b) = host
            .request(Method::GET, "/v1/coops/open/open-data", None, None)
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(b["k"], json!(3));
        let cell = |zone: &str| {
            b["cells"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["zone"] == zone && c["metric"] == "deliveries")
                .unwrap_or_else(|| panic!("no {zone} cell in {b}"))
                .clone()
        };
        let other = cell("other");
        assert_eq!(
            (
                other["value"].clone(),
                other["workers"].clone(),
                other["suppressed"].clone()
            ),
            (json!(3), json!(3), json!(false))
        );
        let presquile = cell("presquile");
        assert_eq!(
            (presquile["value"].clone(), presquile["suppressed"].clone()),
            (Value::Null, json!(true))
        );
        let (s, csv) = host
            .request(
                Method::GET,
                "/v1/coops/open/open-data?format=csv",
                None,
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        let csv = csv.as_str().unwrap();
        assert!(
            csv.starts_with("month,zone,metric,value,workers,suppressed\n"),
            "{csv}"
        );
        assert!(csv.contains(",other,deliveries,3,3,false\n"), "{csv}");
        assert!(csv.contains(",presquile,deliveries,,,true\n"), "{csv}");
        let (s, b) = host
            .request(
                Method::GET,
                "/v1/coops/open/open-data?format=xml",
                None,
                None,
            )
            .await;
        err(s, &b, StatusCode::BAD_REQUEST, "json or csv");
        host.finish().await;
    }
}
