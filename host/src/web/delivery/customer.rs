//! Merchants and customers: request a quote and read its breakdown, order
//! from it, follow their orders, cancel one.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    Done, call, delivery_ctx, done_text, input, int, kg, km, list, money, order_badge, task_kind,
    task_state, vehicle, window,
};
use crate::web::layout::{CoopCtx, Shell, api_error_page, api_message, csrf, notices};
use crate::web::{Page, Visitor, Web, coop_form, see_other, urlencode};

/// Longest drop-off label the standard accepts.
const MAX_LABEL: usize = 200;
/// Longest recipient name we send.
const MAX_RECIPIENT: usize = 200;
/// Longest note or reason the standard accepts.
const MAX_NOTE: usize = 500;

/// What the quote form holds, as typed.
#[derive(Default, Clone)]
struct QuoteInput {
    store: String,
    pickup: String,
    label: String,
    lat: String,
    lon: String,
    packages: String,
    weight_kg: String,
    vehicle: String,
    slot: String,
}

impl QuoteInput {
    fn from_form(f: &crate::web::Form) -> QuoteInput {
        QuoteInput {
            store: f.get("store").into(),
            pickup: f.get("pickup").into(),
            label: f.get("dropoff").into(),
            lat: f.get("lat").into(),
            lon: f.get("lon").into(),
            packages: f.get("packages").into(),
            weight_kg: f.get("weight").into(),
            vehicle: f.get("vehicle").into(),
            slot: f.get("slot").into(),
        }
    }
}

/// Field errors by field name.
type Errors = HashMap<&'static str, String>;

/// A decimal number as people type it (a comma as the decimal mark too).
fn decimal(s: &str) -> Option<f64> {
    s.replace(',', ".")
        .parse::<f64>()
        .ok()
        .filter(|x| x.is_finite())
}

/// Check the form and build the WIT `quote-request`; nothing is sent
/// unless every field is right.
fn quote_request(v: &Visitor, store: &Value, q: &QuoteInput) -> Result<Value, Errors> {
    let mut e = Errors::new();
    let pickups = list(&store["pickup-addresses"]);
    let pickup = q
        .pickup
        .parse::<u32>()
        .ok()
        .filter(|&i| (i as usize) < pickups.len());
    if pickup.is_none() {
        e.insert("pickup", v.t("delivery.err-pickup").into());
    }
    let label_len = q.label.chars().count();
    if label_len == 0 || label_len > MAX_LABEL {
        e.insert("dropoff", v.t("delivery.err-dropoff").into());
    }
    let lat = decimal(&q.lat).filter(|x| (-90.0..=90.0).contains(x));
    if lat.is_none() {
        e.insert("lat", v.t("delivery.err-lat").into());
    }
    let lon = decimal(&q.lon).filter(|x| (-180.0..=180.0).contains(x));
    if lon.is_none() {
        e.insert("lon", v.t("delivery.err-lon").into());
    }
    let packages = q.packages.parse::<u32>().ok().filter(|&n| n >= 1);
    if packages.is_none() {
        e.insert("packages", v.t("delivery.err-packages").into());
    }
    let grams = decimal(&q.weight_kg)
        .map(|kg| (kg * 1000.0).round())
        .filter(|g| *g >= 1.0 && *g <= f64::from(u32::MAX))
        .map(|g| g as u32);
    if grams.is_none() {
        e.insert("weight", v.t("delivery.err-weight").into());
    }
    if !matches!(q.vehicle.as_str(), "bike" | "cargo-bike") {
        e.insert("vehicle", v.t("delivery.err-vehicle").into());
    }
    let slots = list(&store["slots"]);
    let slot_ok = q.slot.is_empty() || slots.iter().any(|s| s["id"].as_str() == Some(&q.slot));
    if !slot_ok {
        e.insert("slot", v.t("delivery.err-slot").into());
    }
    if !e.is_empty() {
        return Err(e);
    }
    Ok(json!({"request": {
        "store": store["id"],
        "pickup": pickup,
        "dropoff": {"label": q.label, "point": {"lat": lat, "lon": lon}},
        "weight-g": grams,
        "packages": packages,
        "vehicle": q.vehicle,
        "slot": if q.slot.is_empty() { Value::Null } else { json!(q.slot) },
    }}))
}

#[derive(Deserialize)]
pub(super) struct StoreChoice {
    store: Option<String>,
}

async fn stores(web: &Web, v: &Visitor, c: &CoopCtx) -> Result<Vec<Value>, Response> {
    call(web, v, c, "stores", "list-stores", json!({}))
        .await
        .map(|s| list(&s))
        .map_err(|e| api_error_page(v, &e))
}

/// `GET /c/{coop}/delivery/quote`: pick a store if there are several, then
/// the quote form for it.
pub(super) async fn quote_form(
    State(web): State<Web>,
    v: Visitor,
    Path(slug): Path<String>,
    Query(q): Query<StoreChoice>,
) -> Response {
    let c = match delivery_ctx(&web, &v, &slug).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let all = match stores(&web, &v, &c).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let chosen = match (&q.store, all.len()) {
        (Some(id), _) => all.iter().find(|s| s["id"].as_str() == Some(id)),
        (None, 1) => all.first(),
        _ => None,
    };
    let Some(store) = chosen else {
        return store_picker(&v, &c, &all, q.store.is_some());
    };
    let input = QuoteInput {
        store: store["id"].as_str().unwrap_or_default().into(),
        pickup: "0".into(),
        packages: "1".into(),
        vehicle: "bike".into(),
        ..Default::default()
    };
    quote_form_page(&v, &c, store, &input, &Errors::new(), &[], StatusCode::OK)
}

fn store_picker(v: &Visitor, c: &CoopCtx, all: &[Value], unknown: bool) -> Response {
    let status = if unknown {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::OK
    };
    let errors: Vec<String> = if unknown {
        vec![v.t("delivery.err-store").into()]
    } else {
        vec![]
    };
    let body = Shell {
        v,
        coop: Some(c),
        title: v.t("delivery.quote-title"),
        nav: "delivery",
    }
    .render(html! {
        (notices(&errors, None))
        @if all.is_empty() {
            p { (v.t("delivery.no-stores")) }
        } @else {
            form method="get" action=(c.url("/delivery/quote")) {
                div class="field" {
                    label for="f-store" { (v.t("delivery.store")) }
                    select id="f-store" name="store" {
                        @for s in all {
                            option value=(s["id"].as_str().unwrap_or_default()) { (s["name"].as_str().unwrap_or_default()) }
                        }
                    }
                }
                div class="actions" { button type="submit" { (v.t("delivery.continue")) } }
            }
        }
    });
    Page::with_status(v, status, body).into_response()
}

fn slot_label(v: &Visitor, s: &Value) -> String {
    v.f(
        "delivery.slot-label",
        &[
            ("label", s["label"].as_str().unwrap_or_default()),
            ("starts", s["starts"].as_str().unwrap_or_default()),
            ("ends", s["ends"].as_str().unwrap_or_default()),
            ("cutoff", s["cutoff"].as_str().unwrap_or_default()),
        ],
    )
}

fn quote_form_page(
    v: &Visitor,
    c: &CoopCtx,
    store: &Value,
    q: &QuoteInput,
    errs: &Errors,
    top: &[String],
    status: StatusCode,
) -> Response {
    let err = |k: &str| errs.get(k).map(String::as_str);
    let mut messages: Vec<String> = top.to_vec();
    for k in [
        "pickup", "dropoff", "lat", "lon", "packages", "weight", "vehicle", "slot",
    ] {
        if let Some(m) = errs.get(k) {
            messages.push(m.clone());
        }
    }
    let packages = list(&store["packages"]);
    let weight_hint = if packages.is_empty() {
        v.t("delivery.weight-hint").to_string()
    } else {
        let kinds: Vec<String> = packages
            .iter()
            .map(|p| {
                v.f(
                    "delivery.package-kind",
                    &[
                        ("label", p["label"].as_str().unwrap_or_default()),
                        ("max", &kg(v, int(&p["max-weight-g"]))),
                    ],
                )
            })
            .collect();
        v.f(
            "delivery.weight-hint-kinds",
            &[("kinds", &kinds.join(", "))],
        )
    };
    let title = v.f(
        "delivery.quote-for",
        &[("store", store["name"].as_str().unwrap_or_default())],
    );
    let body = Shell {
        v,
        coop: Some(c),
        title: &title,
        nav: "delivery",
    }
    .render(html! {
        (notices(&messages, None))
        p class="muted" { (v.t("delivery.quote-intro")) }
        form method="post" action=(c.url("/delivery/quote")) novalidate {
            (csrf(v))
            input type="hidden" name="store" value=(q.store);
            div class="field" {
                label for="f-pickup" { (v.t("delivery.pickup")) }
                select id="f-pickup" name="pickup" aria-invalid=[err("pickup").map(|_| "true")]
                    aria-describedby=[err("pickup").map(|_| "f-pickup-error")] {
                    @for (i, a) in list(&store["pickup-addresses"]).iter().enumerate() {
                        option value=(i) selected[q.pickup == i.to_string()] { (a["label"].as_str().unwrap_or_default()) }
                    }
                }
                @if let Some(e) = err("pickup") { p class="field-error" id="f-pickup-error" { (e) } }
            }
            fieldset {
                legend { (v.t("delivery.dropoff-legend")) }
                (input("f-dropoff", "dropoff", v.t("delivery.dropoff"), &q.label, err("dropoff"), true, None, Some(v.t("delivery.dropoff-hint"))))
                (input("f-lat", "lat", v.t("delivery.lat"), &q.lat, err("lat"), true, Some("decimal"), Some(v.t("delivery.lat-hint"))))
                (input("f-lon", "lon", v.t("delivery.lon"), &q.lon, err("lon"), true, Some("decimal"), Some(v.t("delivery.lon-hint"))))
            }
            (input("f-packages", "packages", v.t("delivery.packages"), &q.packages, err("packages"), true, Some("numeric"), None))
            (input("f-weight", "weight", v.t("delivery.weight"), &q.weight_kg, err("weight"), true, Some("decimal"), Some(&weight_hint)))
            fieldset aria-describedby=[err("vehicle").map(|_| "f-vehicle-error")] {
                legend { (v.t("delivery.vehicle")) }
                @for (value, id) in [("bike", "f-vehicle-bike"), ("cargo-bike", "f-vehicle-cargo")] {
                    div {
                        input type="radio" id=(id) name="vehicle" value=(value) checked[q.vehicle == value]
                            aria-invalid=[err("vehicle").map(|_| "true")];
                        " "
                        label for=(id) { (super::vehicle(v, value)) }
                    }
                }
                @if let Some(e) = err("vehicle") { p class="field-error" id="f-vehicle-error" { (e) } }
            }
            div class="field" {
                label for="f-slot" { (v.t("delivery.slot")) }
                select id="f-slot" name="slot" aria-invalid=[err("slot").map(|_| "true")]
                    aria-describedby=[err("slot").map(|_| "f-slot-error")] {
                    option value="" selected[q.slot.is_empty()] { (v.t("delivery.on-demand")) }
                    @for s in list(&store["slots"]) {
                        @let id = s["id"].as_str().unwrap_or_default();
                        option value=(id) selected[q.slot == id] { (slot_label(v, &s)) }
                    }
                }
                @if let Some(e) = err("slot") { p class="field-error" id="f-slot-error" { (e) } }
            }
            div class="actions" { button type="submit" { (v.t("delivery.get-quote")) } }
        }
    });
    Page::with_status(v, status, body).into_response()
}

/// `POST /c/{coop}/delivery/quote`.
pub(super) async fn request_quote(
    State(web): State<Web>,
    v: Visitor,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (form, c) = match coop_form(&v, &headers, body, delivery_ctx(&web, &v, &slug)).await {
        Ok(fc) => fc,
        Err(r) => return r,
    };
    let q = QuoteInput::from_form(&form);
    let all = match stores(&web, &v, &c).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(store) = all.iter().find(|s| s["id"].as_str() == Some(&q.store)) else {
        return store_picker(&v, &c, &all, true);
    };
    let req = match quote_request(&v, store, &q) {
        Ok(r) => r,
        Err(errs) => {
            return quote_form_page(
                &v,
                &c,
                store,
                &q,
                &errs,
                &[],
                StatusCode::UNPROCESSABLE_ENTITY,
            );
        }
    };
    match call(&web, &v, &c, "quotes", "request-quote", req).await {
        Ok(quote) => {
            let id = quote["id"].as_str().unwrap_or_default();
            see_other(&c.url(&format!("/delivery/quotes/{}?done=quoted", urlencode(id))))
        }
        Err(e) => quote_form_page(
            &v,
            &c,
            store,
            &q,
            &Errors::new(),
            &[api_message(&v, &e)],
            e.status,
        ),
    }
}

/// `GET /c/{coop}/delivery/quotes/{id}`: the breakdown, the rules and the
/// order form.
pub(super) async fn quote_page(
    State(web): State<Web>,
    v: Visitor,
    Path((slug, id)): Path<(String, String)>,
    Query(d): Query<Done>,
) -> Response {
    let c = match delivery_ctx(&web, &v, &slug).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let quote = match call(&web, &v, &c, "quotes", "get-quote", json!({"id": id})).await {
        Ok(q) => q,
        Err(e) => return api_error_page(&v, &e),
    };
    let done = done_text(&v, d.done.as_deref());
    render_quote(
        &web,
        &v,
        &c,
        &quote,
        done,
        &OrderInput::default(),
        StatusCode::OK,
    )
}

#[derive(Default)]
struct OrderInput {
    recipient: String,
    notes: String,
    errors: Vec<String>,
    recipient_error: Option<String>,
    notes_error: Option<String>,
}

fn render_quote(
    web: &Web,
    v: &Visitor,
    c: &CoopCtx,
    q: &Value,
    done: Option<&str>,
    o: &OrderInput,
    status: StatusCode,
) -> Response {
    let id = q["id"].as_str().unwrap_or_default();
    let lines = list(&q["lines"]);
    let rules = list(&q["rules"]);
    let currency = q["price"]["currency"].as_str().unwrap_or("EUR");
    let sum: i64 = lines.iter().map(|l| int(&l["amount"])).sum();
    let expires = int(&q["expires-at"]);
    let expired = expires <= web.app.clock.now_ms();
    let r = &q["request"];
    let title = v.f("delivery.quote-title-id", &[("id", id)]);
    let body = Shell {
        v,
        coop: Some(c),
        title: &title,
        nav: "delivery",
    }
    .render(html! {
        (notices(&o.errors, done))
        p class="figure" { (money(v, &q["price"])) }
        dl class="facts" {
            dt { (v.t("delivery.store")) } dd { (r["store"].as_str().unwrap_or_default()) }
            dt { (v.t("delivery.dropoff")) } dd { (r["dropoff"]["label"].as_str().unwrap_or_default()) }
            dt { (v.t("delivery.packages")) } dd { (int(&r["packages"])) }
            dt { (v.t("delivery.weight")) } dd { (kg(v, int(&r["weight-g"]))) }
            dt { (v.t("delivery.vehicle")) } dd { (vehicle(v, r["vehicle"].as_str().unwrap_or_default())) }
            dt { (v.t("delivery.route")) } dd { (km(v, int(&q["route-m"]))) }
            dt { (v.t("delivery.pickup-window")) } dd { (window(v, &q["pickup-window"])) }
            dt { (v.t("delivery.expires")) } dd {
                time { (v.lang.datetime(expires)) }
                @if expired { " " span class="badge bad" { (v.t("delivery.expired")) } }
            }
        }
        h2 { (v.t("delivery.breakdown")) }
        div class="table-wrap" tabindex="0" {
            table {
                caption class="sr" { (v.t("delivery.breakdown")) }
                thead { tr {
                    th scope="col" { (v.t("delivery.line")) }
                    th scope="col" { (v.t("delivery.arithmetic")) }
                    th scope="col" class="num" { (v.t("delivery.amount")) }
                } }
                tbody {
                    @for l in &lines {
                        tr {
                            th scope="row" { (l["label"].as_str().unwrap_or_default()) " " span class="muted" { "(" (l["rule"].as_str().unwrap_or_default()) ")" } }
                            td { (l["detail"].as_str().unwrap_or_default()) }
                            td class="num" { (v.lang.money(int(&l["amount"]), currency)) }
                        }
                    }
                }
                tfoot { tr {
                    th scope="row" colspan="2" { (v.t("delivery.total")) }
                    td class="num" { strong { (money(v, &q["price"])) } }
                } }
            }
        }
        @if sum != int(&q["price"]["amount"]) {
            p class="error" { (v.t("delivery.sum-mismatch")) }
        }
        h2 { (v.t("delivery.rules")) }
        div class="table-wrap" tabindex="0" {
            table {
                caption class="sr" { (v.t("delivery.rules")) }
                thead { tr {
                    th scope="col" { (v.t("delivery.rule")) }
                    th scope="col" { (v.t("delivery.applied")) }
                    th scope="col" { (v.t("delivery.why")) }
                } }
                tbody {
                    @for t in &rules {
                        tr {
                            th scope="row" { (t["rule"].as_str().unwrap_or_default()) }
                            td {
                                @if t["matched"].as_bool() == Some(true) {
                                    span class="badge ok" { (v.t("delivery.applied-yes")) }
                                } @else {
                                    span class="badge" { (v.t("delivery.applied-no")) }
                                }
                            }
                            td { (t["why"].as_str().unwrap_or_default()) }
                        }
                    }
                }
            }
        }
        h2 { (v.t("delivery.order-title")) }
        @if expired {
            p { (v.t("delivery.expired-help")) " " a href=(c.url("/delivery/quote")) { (v.t("delivery.request-quote")) } }
        } @else {
            form method="post" action=(c.url(&format!("/delivery/quotes/{}/order", urlencode(id)))) novalidate {
                (csrf(v))
                (input("f-recipient", "recipient", v.t("delivery.recipient"), &o.recipient, o.recipient_error.as_deref(), true, None, None))
                div class="field" {
                    label for="f-notes" { (v.t("delivery.notes")) }
                    textarea id="f-notes" name="notes" rows="3"
                        aria-invalid=[o.notes_error.as_ref().map(|_| "true")]
                        aria-describedby=[o.notes_error.as_ref().map(|_| "f-notes-error")] { (o.notes) }
                    @if let Some(e) = &o.notes_error { p class="field-error" id="f-notes-error" { (e) } }
                }
                div class="actions" {
                    button type="submit" { (v.f("delivery.place-order", &[("price", &money(v, &q["price"]))])) }
                }
            }
        }
    });
    Page::with_status(v, status, body).into_response()
}

/// `POST /c/{coop}/delivery/quotes/{id}/order`.
pub(super) async fn place_order(
    State(web): State<Web>,
    v: Visitor,
    Path((slug, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (form, c) = match coop_form(&v, &headers, body, delivery_ctx(&web, &v, &slug)).await {
        Ok(fc) => fc,
        Err(r) => return r,
    };
    let mut o = OrderInput {
        recipient: form.get("recipient").into(),
        notes: form.get("notes").into(),
        ..Default::default()
    };
    let n = o.recipient.chars().count();
    if n == 0 || n > MAX_RECIPIENT {
        o.recipient_error = Some(v.t("delivery.err-recipient").into());
    }
    if o.notes.chars().count() > MAX_NOTE {
        o.notes_error = Some(v.t("delivery.err-notes").into());
    }
    o.errors = [&o.recipient_error, &o.notes_error]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    let args = json!({
        "quote": id,
        "recipient": o.recipient,
        "notes": if o.notes.is_empty() { Value::Null } else { json!(o.notes) },
    });
    let status = if o.errors.is_empty() {
        match call(&web, &v, &c, "orders", "place-order", args).await {
            Ok(order) => {
                let oid = order["id"].as_str().unwrap_or_default();
                return see_other(
                    &c.url(&format!("/delivery/orders/{}?done=ordered", urlencode(oid))),
                );
            }
            Err(e) => {
                o.errors.push(api_message(&v, &e));
                e.status
            }
        }
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    match call(&web, &v, &c, "quotes", "get-quote", json!({"id": id})).await {
        Ok(q) => render_quote(&web, &v, &c, &q, None, &o, status),
        Err(e) => api_error_page(&v, &e),
    }
}

/// `GET /c/{coop}/delivery/orders`: the visitor's orders.
pub(super) async fn my_orders(
    State(web): State<Web>,
    v: Visitor,
    Path(slug): Path<String>,
) -> Response {
    let c = match delivery_ctx(&web, &v, &slug).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let orders = match call(&web, &v, &c, "orders", "my-orders", json!({})).await {
        Ok(o) => list(&o),
        Err(e) => return api_error_page(&v, &e),
    };
    let body = Shell {
        v: &v,
        coop: Some(&c),
        title: v.t("delivery.my-orders"),
        nav: "delivery",
    }
    .render(html! {
        p { a href=(c.url("/delivery/quote")) { (v.t("delivery.request-quote")) } }
        @if orders.is_empty() {
            p { (v.t("delivery.no-orders")) }
        } @else {
            div class="table-wrap" tabindex="0" {
                table {
                    caption class="sr" { (v.t("delivery.my-orders")) }
                    thead { tr {
                        th scope="col" { (v.t("delivery.order")) }
                        th scope="col" { (v.t("delivery.placed")) }
                        th scope="col" { (v.t("delivery.recipient")) }
                        th scope="col" { (v.t("delivery.destination")) }
                        th scope="col" class="num" { (v.t("delivery.price")) }
                        th scope="col" { (v.t("delivery.state")) }
                    } }
                    tbody {
                        @for o in &orders {
                            @let oid = o["id"].as_str().unwrap_or_default();
                            tr {
                                th scope="row" { a href=(c.url(&format!("/delivery/orders/{}", urlencode(oid)))) { (oid) } }
                                td { (v.lang.datetime(int(&o["placed-at"]))) }
                                td { (o["recipient"].as_str().unwrap_or_default()) }
                                td { (o["tasks"][1]["address"]["label"].as_str().unwrap_or_default()) }
                                td class="num" { (money(&v, &o["price"])) }
                                td { (order_badge(&v, o["state"].as_str().unwrap_or_default())) }
                            }
                        }
                    }
                }
            }
        }
    });
    Page::ok(&v, body).into_response()
}

/// `GET /c/{coop}/delivery/orders/{id}`.
pub(super) async fn order_page(
    State(web): State<Web>,
    v: Visitor,
    Path((slug, id)): Path<(String, String)>,
    Query(d): Query<Done>,
) -> Response {
    let c = match delivery_ctx(&web, &v, &slug).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let done = done_text(&v, d.done.as_deref());
    render_order(&web, &v, &c, &id, done, &[], "", None, StatusCode::OK).await
}

/// Tasks as a table: stop, address, window, state.
pub(super) fn tasks_table(v: &Visitor, order: &Value) -> Markup {
    html! {
        div class="table-wrap" tabindex="0" {
            table {
                caption class="sr" { (v.t("delivery.stops")) }
                thead { tr {
                    th scope="col" { (v.t("delivery.stop")) }
                    th scope="col" { (v.t("delivery.address")) }
                    th scope="col" { (v.t("delivery.when")) }
                    th scope="col" { (v.t("delivery.state")) }
                } }
                tbody {
                    @for t in list(&order["tasks"]) {
                        tr {
                            th scope="row" { (task_kind(v, t["kind"].as_str().unwrap_or_default())) }
                            td { (t["address"]["label"].as_str().unwrap_or_default()) }
                            td { (window(v, &t["window"])) }
                            td {
                                (task_state(v, t["state"].as_str().unwrap_or_default()))
                                @if let Some(f) = t["failure"].as_str() { br; span class="muted" { (f) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn render_order(
    web: &Web,
    v: &Visitor,
    c: &CoopCtx,
    id: &str,
    done: Option<&str>,
    errors: &[String],
    reason: &str,
    reason_error: Option<&str>,
    status: StatusCode,
) -> Response {
    let o = match call(web, v, c, "orders", "get-order", json!({"id": id})).await {
        Ok(o) => o,
        Err(e) => return api_error_page(v, &e),
    };
    let state = o["state"].as_str().unwrap_or_default();
    // The standard gives the code to the customer only (member ids are
    // per-plugin pseudonyms, so the page cannot tell otherwise): having it
    // is what makes the visitor the customer.
    let code = o["dropoff-code"].as_str();
    let may_cancel = code.is_some() || super::dispatcher(c);
    let assigned = list(&o["tasks"])
        .iter()
        .any(|t| t["state"].as_str() != Some("todo"));
    let title = v.f("delivery.order-title-id", &[("id", id)]);
    let body = Shell {
        v,
        coop: Some(c),
        title: &title,
        nav: "delivery",
    }
    .render(html! {
        (notices(errors, done))
        p { (order_badge(v, state)) }
        @if let Some(code) = code {
            @if state == "open" {
                section class="card" {
                    h2 { (v.t("delivery.code-title")) }
                    p class="figure" id="proof-code" { (code) }
                    p class="muted" { (v.t("delivery.code-help")) }
                }
            }
        }
        dl class="facts" {
            dt { (v.t("delivery.price")) } dd { (money(v, &o["price"])) }
            dt { (v.t("delivery.store")) } dd { (o["store"].as_str().unwrap_or_default()) }
            dt { (v.t("delivery.recipient")) } dd { (o["recipient"].as_str().unwrap_or_default()) }
            @if let Some(n) = o["notes"].as_str() { dt { (v.t("delivery.instructions-label")) } dd { (n) } }
            dt { (v.t("delivery.route")) } dd { (km(v, int(&o["route-m"]))) }
            dt { (v.t("delivery.placed")) } dd { (v.lang.datetime(int(&o["placed-at"]))) }
            dt { (v.t("delivery.quote")) } dd { a href=(c.url(&format!("/delivery/quotes/{}", urlencode(o["quote"].as_str().unwrap_or_default())))) { (o["quote"].as_str().unwrap_or_default()) } }
        }
        h2 { (v.t("delivery.stops")) }
        (tasks_table(v, &o))
        @let incidents = list(&o["incidents"]);
        @if !incidents.is_empty() {
            h2 { (v.t("delivery.incidents")) }
            ul {
                @for i in &incidents {
                    li { time { (v.lang.datetime(int(&i["at"]))) } " · " (i["note"].as_str().unwrap_or_default()) }
                }
            }
        }
        @if o["cancellation"].is_object() {
            @let k = &o["cancellation"];
            h2 { (v.t("delivery.cancellation")) }
            dl class="facts" {
                dt { (v.t("delivery.state-reached")) } dd { (task_state(v, k["state-reached"].as_str().unwrap_or_default())) }
                dt { (v.t("delivery.fee")) } dd { (money(v, &k["fee"])) }
                dt { (v.t("delivery.refunded")) } dd { (money(v, &k["refunded"])) }
                dt { (v.t("delivery.reason")) } dd { (k["reason"].as_str().unwrap_or_default()) }
                dt { (v.t("delivery.when")) } dd { (v.lang.datetime(int(&k["at"]))) }
            }
        }
        @if state == "open" && may_cancel {
            h2 { (v.t("delivery.cancel-title")) }
            p {
                @if assigned { (v.t("delivery.cancel-fee-assigned")) }
                @else { (v.t("delivery.cancel-fee-none")) }
            }
            form method="post" action=(c.url(&format!("/delivery/orders/{}/cancel", urlencode(id)))) novalidate {
                (csrf(v))
                (input("f-reason", "reason", v.t("delivery.cancel-reason"), reason, reason_error, true, None, None))
                div class="actions" { button type="submit" class="danger" { (v.t("delivery.cancel-button")) } }
            }
        }
        p { a href=(c.url("/delivery/orders")) { (v.t("delivery.my-orders")) } }
    });
    Page::with_status(v, status, body).into_response()
}

/// `POST /c/{coop}/delivery/orders/{id}/cancel`.
pub(super) async fn cancel_order(
    State(web): State<Web>,
    v: Visitor,
    Path((slug, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (form, c) = match coop_form(&v, &headers, body, delivery_ctx(&web, &v, &slug)).await {
        Ok(fc) => fc,
        Err(r) => return r,
    };
    let reason = form.get("reason");
    let n = reason.chars().count();
    if n == 0 || n > MAX_NOTE {
        let e = v.t("delivery.err-reason");
        return render_order(
            &web,
            &v,
            &c,
            &id,
            None,
            &[e.to_string()],
            reason,
            Some(e),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let args = json!({"id": id, "reason": reason});
    match call(&web, &v, &c, "orders", "cancel-order", args).await {
        Ok(_) => see_other(&c.url(&format!(
            "/delivery/orders/{}?done=cancelled",
            urlencode(&id)
        ))),
        Err(e) => {
            render_order(
                &web,
                &v,
                &c,
                &id,
                None,
                &[api_message(&v, &e)],
                reason,
                None,
                e.status,
            )
            .await
        }
    }
}
