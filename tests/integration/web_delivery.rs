//! Web pages: delivery (built on `coop:delivery`, here served by the
//! bike-delivery plugin) and the generic service pages (here for the
//! shift board), through the router as a browser without JavaScript uses
//! them.

use axum::http::{Method, StatusCode};
use coophost::web::Lang;
use serde_json::{Value, json};

use crate::common::{TestHost, backends};
use crate::web::Browser;

/// Part-Dieu station, Lyon: a drop-off outside the plugin's default zone.
const PART_DIEU: (&str, &str) = ("45.7606", "4.8597");

/// A JSON integer the host may send as a string (u64 and s64 are).
fn int(v: &Value) -> i64 {
    match v {
        Value::String(s) => s.parse().unwrap(),
        other => other.as_i64().unwrap(),
    }
}

/// Text as maud writes it into a page.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The text of the element with `id`, up to the next tag.
fn text_of(html: &str, id: &str) -> String {
    let at = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in {html}"));
    let rest = &html[at..];
    let start = rest.find('>').unwrap() + 1;
    let end = rest[start..].find('<').unwrap();
    rest[start..start + end].trim().to_string()
}

/// An API token for a member the test host added (its test password).
async fn login_token(host: &TestHost, email: &str) -> String {
    let (s, b) = host
        .request(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"email": email, "password": "correct horse battery staple"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b["token"].as_str().unwrap().to_string()
}

/// The bike-delivery coop the pages are tried on: the plugin, a split, a
/// store, a dispatcher, a shop and a courier.
async fn velo(host: &TestHost) -> String {
    let coop = host.coop("velo").await;
    host.install(&coop, "bike-delivery").await;
    let admin = host
        .member(&coop, "admin@velo.coop", &["admin", "dispatcher", "member"])
        .await;
    host.member(&coop, "shop@velo.coop", &["merchant", "member"])
        .await;
    host.member(&coop, "ana@velo.coop", &["worker", "member"])
        .await;
    let terms = json!({"model": "commission", "worker_share_bp": 8000,
        "reserve_share_of_commission_bp": 3000, "solidarity_share_of_commission_bp": 5000,
        "community_share_of_commission_bp": 1000, "processor_fee_bp": 100, "processor_fee_fixed": 25,
        "processor_fee_borne_by": "coop", "cae_fee_bp": 1000});
    let (s, b) = host
        .request(
            Method::POST,
            "/v1/coops/velo/split-policies",
            Some(&admin),
            Some(json!({"terms": terms, "reason": "founding assembly"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let store = json!({"store": {"id": "boulangerie", "name": "Boulangerie du Rhône",
        "merchant": null,
        "pickup-addresses": [{"label": "2 place Bellecour, Lyon", "point": {"lat": 45.7578, "lon": 4.8320}}],
        "packages": [{"id": "crate", "label": "Bread crate", "max-weight-g": 15000}],
        "slots": [{"id": "lunch", "label": "Lunch", "weekdays": [1, 2, 3, 4, 5],
            "starts": "12:00", "ends": "14:00", "cutoff": "11:00"}],
        "prior-notice-minutes": 20}});
    let (s, b) = host
        .call(
            "velo",
            Some(&admin),
            "coop:delivery/stores",
            "put-store",
            store,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    admin
}

/// Quotes the plugin keeps, counted in its storage.
async fn stored_quotes(host: &TestHost) -> i64 {
    use sqlx::Row;
    sqlx::query("SELECT COUNT(*) FROM kv WHERE plugin = 'bike-delivery' AND key LIKE 'quote/%'")
        .fetch_one(&host.app.db.pool)
        .await
        .unwrap()
        .get::<i64, _>(0)
}

/// Ask for a quote through the form; returns the quote page's path.
async fn quote(b: &mut Browser<'_>) -> String {
    let q = "/c/velo/delivery/quote";
    let a = b.post(q, q, &quote_fields(PART_DIEU.0, PART_DIEU.1)).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let to = a.location.unwrap();
    assert!(
        to.starts_with("/c/velo/delivery/quotes/q-") && to.ends_with("?done=quoted"),
        "{to}"
    );
    to.trim_end_matches("?done=quoted").to_string()
}

fn quote_fields<'a>(lat: &'a str, lon: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("store", "boulangerie"),
        ("pickup", "0"),
        ("dropoff", "Gare Part-Dieu, Lyon"),
        ("lat", lat),
        ("lon", lon),
        ("packages", "1"),
        ("weight", "2"),
        ("vehicle", "bike"),
        ("slot", ""),
    ]
}

#[tokio::test]
async fn a_merchant_quotes_and_orders_and_a_courier_delivers_through_the_pages() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let admin_token = velo(&host).await;
        let quote_page = "/c/velo/delivery/quote";

        let mut shop = Browser::new(&host);
        shop.login("shop@velo.coop").await;
        let entry = shop.get("/c/velo/delivery").await;
        assert_eq!(entry.status, StatusCode::OK);
        assert!(entry.body.contains("href=\"/c/velo/delivery/quote\""));
        assert!(!entry.body.contains("/delivery/courier\""), "not a courier");
        let form = shop.get(quote_page).await;
        assert_eq!(form.status, StatusCode::OK);
        for id in [
            "f-pickup",
            "f-dropoff",
            "f-lat",
            "f-lon",
            "f-packages",
            "f-weight",
            "f-slot",
        ] {
            assert!(form.body.contains(&format!("for=\"{id}\"")), "label {id}");
        }
        assert!(form.body.contains("<legend>Vehicle needed</legend>"));

        // Bad input: the form again with what was wrong, in the visitor's
        // language, and no quote made.
        let a = shop
            .post(quote_page, quote_page, &quote_fields("100", PART_DIEU.1))
            .await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            a.body
                .contains("Enter the latitude as a number from -90 to 90."),
            "{}",
            a.body
        );
        assert!(
            a.body.contains("value=\"Gare Part-Dieu, Lyon\""),
            "input kept"
        );
        shop.accept_language = "fr".into();
        let mut fields = quote_fields(PART_DIEU.0, PART_DIEU.1);
        fields[5] = ("packages", "zéro");
        let a = shop.post(quote_page, quote_page, &fields).await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(a.body.contains("Indiquez le nombre de colis"), "{}", a.body);
        // Every message is tied to its control for screen readers, the
        // radio group's and the select's too.
        let mut fields = quote_fields(PART_DIEU.0, PART_DIEU.1);
        fields[7] = ("vehicle", "scooter");
        fields[8] = ("slot", "no-such-slot");
        let a = shop.post(quote_page, quote_page, &fields).await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
        for id in ["f-vehicle-error", "f-slot-error"] {
            assert!(
                a.body.contains(&format!("aria-describedby=\"{id}\""))
                    && a.body.contains(&format!("id=\"{id}\"")),
                "{id}: {}",
                a.body
            );
        }
        // Without the CSRF token: refused.
        let a = shop
            .post_raw(quote_page, &quote_fields(PART_DIEU.0, PART_DIEU.1))
            .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN);
        shop.accept_language = "en".into();

        assert_eq!(stored_quotes(&host).await, 0, "refused input made no quote");

        // A good quote: its page shows every line with its arithmetic.
        let quote_url = quote(&mut shop).await;
        let quote_id = quote_url.rsplit('/').next().unwrap().to_string();
        assert_eq!(stored_quotes(&host).await, 1);
        let shop_token = host.login("shop@velo.coop").await;
        let (s, b) = host
            .call(
                "velo",
                Some(&shop_token),
                "coop:delivery/quotes",
                "get-quote",
                json!({"id": quote_id}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let quote = &b["result"]["ok"];
        assert_eq!(quote["request"]["weight-g"], json!(2000));
        let page = shop.get(&format!("{quote_url}?done=quoted")).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("Here is your quote."));
        let lines = quote["lines"].as_array().unwrap();
        assert!(!lines.is_empty());
        for l in lines {
            let amount = Lang::En.money(int(&l["amount"]), "EUR");
            let row = format!(
                "<td>{}</td><td class=\"num\">{}</td>",
                esc(l["detail"].as_str().unwrap()),
                esc(&amount)
            );
            assert!(page.body.contains(&row), "{row} not in {}", page.body);
            assert!(page.body.contains(&esc(l["label"].as_str().unwrap())));
        }
        let price = Lang::En.money(int(&quote["price"]["amount"]), "EUR");
        assert!(
            page.body.contains(&format!("<strong>{price}</strong>")),
            "total {price}"
        );
        for r in quote["rules"].as_array().unwrap() {
            assert!(page.body.contains(&esc(r["why"].as_str().unwrap())));
        }
        assert!(
            page.body
                .contains(&Lang::En.datetime(int(&quote["expires-at"])))
        );

        // Order it; the order page shows the proof code to the customer.
        let order_url = format!("{quote_url}/order");
        let a = shop
            .post(&quote_url, &order_url, &[("recipient", ""), ("notes", "")])
            .await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            a.body.contains("Enter the recipient&#39;s name")
                || a.body.contains("Enter the recipient's name")
        );
        let a = shop
            .post(
                &quote_url,
                &order_url,
                &[("recipient", "Chloé"), ("notes", "3rd floor")],
            )
            .await;
        assert_eq!(
            a.location.as_deref(),
            Some("/c/velo/delivery/orders/d-000001?done=ordered"),
            "{}",
            a.body
        );
        let order_page = shop.get("/c/velo/delivery/orders/d-000001").await;
        assert_eq!(order_page.status, StatusCode::OK);
        let code = text_of(&order_page.body, "proof-code");
        assert_eq!(code.len(), 6, "{code}");
        assert!(order_page.body.contains("cancelling is free"));
        let orders = shop.get("/c/velo/delivery/orders").await;
        assert!(
            orders
                .body
                .contains("href=\"/c/velo/delivery/orders/d-000001\"")
        );

        // The courier: off shift there are no offers.
        let mut ana = Browser::new(&host);
        ana.login("ana@velo.coop").await;
        let courier = "/c/velo/delivery/courier";
        let page = ana.get(courier).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(
            page.body
                .contains("data-live=\"/c/velo/delivery/courier/offers\"")
        );
        let offers = ana.get("/c/velo/delivery/courier/offers").await;
        assert!(offers.body.contains("You are off shift"), "{}", offers.body);
        assert!(!offers.body.contains("<html"), "a fragment");
        let a = ana
            .post(
                courier,
                "/c/velo/delivery/courier/shift",
                &[("action", "start")],
            )
            .await;
        assert_eq!(
            a.location.as_deref(),
            Some("/c/velo/delivery/courier?done=shift-started")
        );
        // Location needs consent: given from the page.
        let page = ana.get(courier).await;
        assert!(
            page.body.contains("Allow my location data"),
            "{}",
            page.body
        );
        let a = ana
            .post(
                courier,
                "/c/velo/delivery/courier/consent",
                &[("plugin", "bike-delivery"), ("category", "location")],
            )
            .await;
        assert_eq!(
            a.location.as_deref(),
            Some("/c/velo/delivery/courier?done=consent"),
            "{}",
            a.body
        );
        let a = ana
            .post(
                courier,
                "/c/velo/delivery/courier/location",
                &[("lat", "north"), ("lon", "4.8330")],
            )
            .await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(a.body.contains("Enter the latitude"));
        let a = ana
            .post(
                courier,
                "/c/velo/delivery/courier/location",
                &[("lat", "45,7580"), ("lon", "4.8330")],
            )
            .await;
        assert_eq!(
            a.location.as_deref(),
            Some("/c/velo/delivery/courier?done=located"),
            "{}",
            a.body
        );

        // The offer, with its pay, distance to the pickup and destination.
        let ana_token = host.login("ana@velo.coop").await;
        let (s, b) = host
            .call(
                "velo",
                Some(&ana_token),
                "coop:delivery/courier",
                "offers",
                json!({}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let offer = &b["result"]["ok"][0];
        let pay = Lang::En.money(int(&offer["pay"]["amount"]), "EUR");
        let to_pickup = format!("{:.1} km", int(&offer["to-pickup-m"]) as f64 / 1000.0);
        let offers = ana.get("/c/velo/delivery/courier/offers").await;
        assert_eq!(offers.status, StatusCode::OK);
        assert!(
            offers.body.contains(&format!("Your pay: {pay}")),
            "{pay} in {}",
            offers.body
        );
        assert!(offers.body.contains(&to_pickup), "{to_pickup}");
        assert!(offers.body.contains("To Gare Part-Dieu, Lyon"));
        assert!(offers.body.contains("Accept d-000001"));

        // The dispatcher sees the open order and the suggestion with why.
        let mut admin = Browser::new(&host);
        admin.login("admin@velo.coop").await;
        let d = admin.get("/c/velo/delivery/dispatch").await;
        assert_eq!(d.status, StatusCode::OK, "{}", d.body);
        assert!(d.body.contains("d-000001 to Gare Part-Dieu, Lyon"));
        assert!(
            d.body.contains("Assign d-000001 to this courier"),
            "{}",
            d.body
        );
        assert!(
            d.body.contains("nearest of 1 available couriers"),
            "{}",
            d.body
        );
        // The plugin only knows its own id for the courier; an admin sees
        // who it is, through an API that records the read.
        assert!(d.body.contains("<strong>ana</strong>"), "{}", d.body);
        let (_, sug) = host
            .call(
                "velo",
                Some(&admin_token),
                "coop:delivery/dispatch",
                "suggest",
                json!({"order": "d-000001"}),
            )
            .await;
        let pseudo = sug["result"]["ok"]["courier"].as_str().unwrap().to_string();
        assert!(pseudo.starts_with("m-"), "{sug}");
        let who = format!("/v1/coops/velo/plugins/bike-delivery/members/{pseudo}");
        let (s, m) = host
            .request(Method::GET, &who, Some(&admin_token), None)
            .await;
        assert_eq!(s, StatusCode::OK, "{m}");
        assert_eq!(m["member"]["display_name"], "ana", "{m}");
        let ana_token = login_token(&host, "ana@velo.coop").await;
        let (s, m) = host
            .request(Method::GET, &who, Some(&ana_token), None)
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "only admins: {m}");
        let (s, m) = host
            .request(
                Method::GET,
                "/v1/coops/velo/plugins/bike-delivery/members/m-000000000000000000000000",
                Some(&admin_token),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{m}");
        host.app.flush_audit().await;
        let (_, mine) = host
            .request(
                Method::GET,
                "/v1/coops/velo/me/audit",
                Some(&ana_token),
                None,
            )
            .await;
        assert!(
            mine.to_string().contains("member id in bike-delivery"),
            "ana sees the read in her own audit: {mine}"
        );
        // A courier has no dispatcher page.
        assert_eq!(
            ana.get("/c/velo/delivery/dispatch").await.status,
            StatusCode::FORBIDDEN
        );

        // Accept, then move the task through its states.
        let a = ana
            .post(
                courier,
                "/c/velo/delivery/courier/accept",
                &[("order", "d-000001")],
            )
            .await;
        assert_eq!(
            a.location.as_deref(),
            Some("/c/velo/delivery/courier?done=accepted"),
            "{}",
            a.body
        );
        let page = ana.get(courier).await;
        assert!(page.body.contains("d-000001 for Chloé"));
        assert!(page.body.contains("On my way to the pickup"));
        for (task, action, done) in [
            ("d-000001.pickup", "start", "started"),
            ("d-000001.pickup", "complete", "picked-up"),
            ("d-000001.dropoff", "start", "started"),
        ] {
            let a = ana
                .post(
                    courier,
                    "/c/velo/delivery/courier/task",
                    &[("task", task), ("action", action)],
                )
                .await;
            assert_eq!(
                a.location,
                Some(format!("/c/velo/delivery/courier?done={done}")),
                "{task} {action}: {}",
                a.body
            );
        }
        let page = ana.get(courier).await;
        assert!(page.body.contains("for=\"code-d-000001-dropoff\""));
        let a = ana
            .post(
                courier,
                "/c/velo/delivery/courier/task",
                &[
                    ("task", "d-000001.dropoff"),
                    ("action", "complete"),
                    ("code", ""),
                ],
            )
            .await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(a.body.contains("Enter the code the recipient gives you."));
        let a = ana
            .post(
                courier,
                "/c/velo/delivery/courier/task",
                &[
                    ("task", "d-000001.dropoff"),
                    ("action", "complete"),
                    ("code", "000000x"),
                ],
            )
            .await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
        assert!(a.body.contains("This was not accepted:"), "{}", a.body);
        let a = ana
            .post(
                courier,
                "/c/velo/delivery/courier/task",
                &[
                    ("task", "d-000001.dropoff"),
                    ("action", "complete"),
                    ("code", &code),
                ],
            )
            .await;
        assert_eq!(
            a.location.as_deref(),
            Some("/c/velo/delivery/courier?done=delivered"),
            "{}",
            a.body
        );
        assert!(
            ana.get(courier)
                .await
                .body
                .contains("You have no delivery under way.")
        );

        // The merchant sees it delivered.
        let page = shop.get("/c/velo/delivery/orders/d-000001").await;
        assert!(page.body.contains("badge ok\">Delivered"), "{}", page.body);
        assert!(!page.body.contains("Cancel the order"));
        let a = ana
            .post(
                courier,
                "/c/velo/delivery/courier/shift",
                &[("action", "end")],
            )
            .await;
        assert_eq!(
            a.location.as_deref(),
            Some("/c/velo/delivery/courier?done=shift-ended")
        );
        host.finish().await;
    }
}

#[tokio::test]
async fn cancelling_is_free_before_a_courier_is_assigned_and_costs_a_fee_after() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        velo(&host).await;
        let mut shop = Browser::new(&host);
        shop.login("shop@velo.coop").await;
        let q = quote(&mut shop).await;
        let a = shop
            .post(&q, &format!("{q}/order"), &[("recipient", "Chloé")])
            .await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
        let order = "/c/velo/delivery/orders/d-000001";
        let a = shop
            .post(order, &format!("{order}/cancel"), &[("reason", "")])
            .await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(a.body.contains("Say why you cancel"));
        let a = shop
            .post(
                order,
                &format!("{order}/cancel"),
                &[("reason", "Closed today")],
            )
            .await;
        assert_eq!(
            a.location.as_deref(),
            Some("/c/velo/delivery/orders/d-000001?done=cancelled"),
            "{}",
            a.body
        );
        let page = shop.get(&format!("{order}?done=cancelled")).await;
        assert!(page.body.contains("The order is cancelled."));
        assert!(page.body.contains("badge bad\">Cancelled"));
        assert!(page.body.contains("Closed today"));
        assert!(
            page.body.contains("<dd>€0.00</dd>"),
            "no fee: {}",
            page.body
        );

        // Once the dispatcher assigns a courier, cancelling costs a fee
        // that goes to them, and the page shows it.
        let ana = host.login("ana@velo.coop").await;
        let (s, b) = host
            .request(
                Method::POST,
                "/v1/coops/velo/shifts/start",
                Some(&ana),
                None,
            )
            .await;
        assert!(s.is_success(), "{b}");
        let (s, b) = host
            .request(
                Method::PUT,
                "/v1/coops/velo/me/consents/bike-delivery/location",
                Some(&ana),
                Some(json!({"given": true})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let (s, b) = host
            .call(
                "velo",
                Some(&ana),
                "coop:delivery/courier",
                "report-location",
                json!({"at": {"lat": 45.7580, "lon": 4.8330}}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let q = quote(&mut shop).await;
        let a = shop
            .post(&q, &format!("{q}/order"), &[("recipient", "Chloé")])
            .await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
        let mut admin = Browser::new(&host);
        admin.login("admin@velo.coop").await;
        let dispatch = "/c/velo/delivery/dispatch";
        let page = admin.get(dispatch).await;
        assert!(
            page.body.contains("Assign d-000002 to this courier"),
            "{}",
            page.body
        );
        let courier_at = page.body.find("name=\"courier\" value=\"").unwrap() + 22;
        let courier = &page.body[courier_at..];
        let courier = courier[..courier.find('"').unwrap()].to_string();
        let a = admin
            .post(
                dispatch,
                "/c/velo/delivery/dispatch/assign",
                &[
                    ("order", "d-000002"),
                    ("courier", &courier),
                    ("version", "999"),
                ],
            )
            .await;
        assert_eq!(a.status, StatusCode::CONFLICT, "a stale page: {}", a.body);
        let a = admin
            .post(
                dispatch,
                "/c/velo/delivery/dispatch/assign",
                &[("order", "d-000002"), ("courier", &courier)],
            )
            .await;
        assert_eq!(
            a.location.as_deref(),
            Some("/c/velo/delivery/dispatch?done=assigned"),
            "{}",
            a.body
        );
        assert!(
            admin
                .get("/c/velo/delivery/dispatch?done=assigned")
                .await
                .body
                .contains("No order is waiting for a courier.")
        );
        let order = "/c/velo/delivery/orders/d-000002";
        assert!(shop.get(order).await.body.contains("A courier is assigned"));
        let a = shop
            .post(
                order,
                &format!("{order}/cancel"),
                &[("reason", "Closed today")],
            )
            .await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
        let page = shop.get(order).await;
        assert!(page.body.contains("Cancellation fee (paid to the courier)"));
        assert!(
            !page.body.contains("<dd>€0.00</dd>"),
            "a fee: {}",
            page.body
        );
        host.finish().await;
    }
}

#[tokio::test]
async fn the_generic_pages_call_any_interface_from_its_wit_types() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let coop = host.coop("board").await;
        host.install(&coop, "shift-board-rs").await;
        host.member(&coop, "admin@board.coop", &["admin", "member"])
            .await;
        host.member(&coop, "alice@board.coop", &["worker", "member"])
            .await;

        let mut b = Browser::new(&host);
        b.login("admin@board.coop").await;
        let list = b.get("/c/board/services").await;
        assert_eq!(list.status, StatusCode::OK);
        let page = "/c/board/services/coop%3Aexamples/shift-board";
        assert!(
            list.body.contains(&format!("href=\"{page}\"")),
            "{}",
            list.body
        );
        let form = b.get(page).await;
        assert_eq!(form.status, StatusCode::OK);
        // A record is a fieldset; its members are labelled inputs in WIT
        // order; u64 is a number input with its range.
        let title = form.body.find("for=\"g-post-shift--shift-title\"").unwrap();
        let starts = form
            .body
            .find("for=\"g-post-shift--shift-starts-at\"")
            .unwrap();
        assert!(title < starts);
        assert!(form.body.contains("<legend>shift</legend>"));
        assert!(form.body.contains("min=\"0\" max=\"18446744073709551615\""));
        assert!(form.body.contains("This function takes no arguments."));

        let post = format!("{page}/post-shift");
        let a = b
            .post(
                page,
                &post,
                &[
                    ("shift.title", "Evening deliveries"),
                    ("shift.starts-at", "soon"),
                    ("shift.ends-at", "1796040000000"),
                ],
            )
            .await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            a.body
                .contains("shift.starts-at: enter a whole number from 0 to 18446744073709551615."),
            "{}",
            a.body
        );
        assert!(
            a.body.contains("value=\"Evening deliveries\""),
            "input kept"
        );
        let a = b
            .post_raw(
                &post,
                &[
                    ("shift.title", "Evening deliveries"),
                    ("shift.starts-at", "1796025600000"),
                    ("shift.ends-at", "1796040000000"),
                ],
            )
            .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN);
        let a = b
            .post(
                page,
                &post,
                &[
                    ("shift.title", "Evening deliveries"),
                    ("shift.starts-at", "1796025600000"),
                    ("shift.ends-at", "1796040000000"),
                ],
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        assert!(
            a.body.contains("&quot;id&quot;: &quot;s-000001&quot;"),
            "{}",
            a.body
        );
        // The plugin's own refusal is shown, with the API's status.
        let a = b
            .post(
                page,
                &post,
                &[
                    ("shift.title", "Backwards"),
                    ("shift.starts-at", "5"),
                    ("shift.ends-at", "5"),
                ],
            )
            .await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            a.body.contains("ends-at must be after starts-at"),
            "{}",
            a.body
        );
        // Only the good call stored anything.
        let a = b.post(page, &format!("{page}/list-shifts"), &[]).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        assert_eq!(
            a.body.matches("&quot;title&quot;:").count(),
            1,
            "{}",
            a.body
        );

        // The API's rules hold: a worker may not post.
        let mut alice = Browser::new(&host);
        alice.login("alice@board.coop").await;
        let a = alice
            .post(
                page,
                &post,
                &[
                    ("shift.title", "Mine"),
                    ("shift.starts-at", "1"),
                    ("shift.ends-at", "2"),
                ],
            )
            .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN);
        assert!(a.body.contains("You may not do this:"), "{}", a.body);
        let a = alice
            .post(page, &format!("{page}/claim-shift"), &[("id", "s-000001")])
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        // An unknown interface is a page, not a crash.
        let a = alice.get("/c/board/services/coop%3Anothing/here").await;
        assert_eq!(a.status, StatusCode::NOT_FOUND);
        // Delivery pages need a coop that serves coop:delivery.
        let a = alice.get("/c/board/delivery").await;
        assert_eq!(a.status, StatusCode::NOT_FOUND);
        host.finish().await;
    }
}
