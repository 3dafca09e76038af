//! Delivery pages, built on the standard interface `coop:delivery`: every
//! call goes to `POST /v1/coops/{coop}/call/coop:delivery/...`, so these
//! pages work with any plugin that exports it, never with one in
//! particular.
//!
//! - [`customer`]: quotes with their breakdown, orders, cancellation;
//! - [`courier`]: shifts, location consent and position, live offers,
//!   moving a task through its states;
//! - [`dispatch`]: open orders with the suggested courier and why.

mod courier;
mod customer;
mod dispatch;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;

use super::layout::{CoopCtx, Shell, coop_ctx, error_page, notices};
use super::{ApiFail, Lang, Page, Visitor, Web};

/// The package every page here talks to.
const PACKAGE: &str = "coop:delivery";

pub fn routes() -> Router<Web> {
    Router::new()
        .route("/c/{coop}/delivery", get(entry))
        .route(
            "/c/{coop}/delivery/quote",
            get(customer::quote_form).post(customer::request_quote),
        )
        .route("/c/{coop}/delivery/quotes/{id}", get(customer::quote_page))
        .route(
            "/c/{coop}/delivery/quotes/{id}/order",
            post(customer::place_order),
        )
        .route("/c/{coop}/delivery/orders", get(customer::my_orders))
        .route("/c/{coop}/delivery/orders/{id}", get(customer::order_page))
        .route(
            "/c/{coop}/delivery/orders/{id}/cancel",
            post(customer::cancel_order),
        )
        .route("/c/{coop}/delivery/courier", get(courier::page))
        .route("/c/{coop}/delivery/courier/offers", get(courier::offers))
        .route("/c/{coop}/delivery/courier/shift", post(courier::shift))
        .route("/c/{coop}/delivery/courier/consent", post(courier::consent))
        .route(
            "/c/{coop}/delivery/courier/location",
            post(courier::location),
        )
        .route("/c/{coop}/delivery/courier/accept", post(courier::accept))
        .route("/c/{coop}/delivery/courier/refuse", post(courier::refuse))
        .route("/c/{coop}/delivery/courier/task", post(courier::task))
        .route("/c/{coop}/delivery/dispatch", get(dispatch::page))
        .route("/c/{coop}/delivery/dispatch/assign", post(dispatch::assign))
}

/// The `?done=` flag a page shows a confirmation for.
#[derive(Deserialize, Default)]
pub(super) struct Done {
    pub done: Option<String>,
}

/// The coop of a delivery page, for a member of a coop that serves
/// `coop:delivery`; anyone else gets a page saying why not.
async fn delivery_ctx(web: &Web, v: &Visitor, slug: &str) -> Result<CoopCtx, Response> {
    let c = coop_ctx(web, v, slug).await?;
    if !c.serves_package(PACKAGE) {
        return Err(error_page(
            v,
            StatusCode::NOT_FOUND,
            v.t("delivery.not-served"),
        ));
    }
    Ok(c)
}

/// Call a `coop:delivery` function as the visitor and return its `ok`
/// value (the API turns the plugin's `err` into a 4xx).
async fn call(
    web: &Web,
    v: &Visitor,
    c: &CoopCtx,
    interface: &str,
    function: &str,
    args: Value,
) -> Result<Value, ApiFail> {
    let path = c.api(&format!("/call/{PACKAGE}/{interface}/{function}"));
    let answer = web.post(v, &path, &args).await?;
    Ok(answer["result"]["ok"].clone())
}

/// A list answer as a vector (empty for anything else).
fn list(v: &Value) -> Vec<Value> {
    v.as_array().cloned().unwrap_or_default()
}

/// A JSON integer; 64-bit integers come as decimal strings.
fn int(v: &Value) -> i64 {
    match v {
        Value::String(s) => s.parse().unwrap_or(0),
        other => other.as_i64().unwrap_or(0),
    }
}

/// A `money` record in the visitor's way of writing it.
fn money(v: &Visitor, m: &Value) -> String {
    v.lang
        .money(int(&m["amount"]), m["currency"].as_str().unwrap_or("EUR"))
}

/// Metres as kilometres with one decimal, in the visitor's language.
fn km(v: &Visitor, metres: i64) -> String {
    let n = format!("{:.1}", metres as f64 / 1000.0);
    let n = if v.lang == Lang::Fr {
        n.replace('.', ",")
    } else {
        n
    };
    v.f("delivery.km", &[("km", &n)])
}

/// Grams as kilograms, in the visitor's language.
fn kg(v: &Visitor, grams: i64) -> String {
    let n = (grams as f64 / 1000.0).to_string();
    let n = if v.lang == Lang::Fr {
        n.replace('.', ",")
    } else {
        n
    };
    v.f("delivery.kg", &[("kg", &n)])
}

/// A time window, `from` to `to`.
fn window(v: &Visitor, w: &Value) -> String {
    v.f(
        "delivery.window",
        &[
            ("from", &v.lang.datetime(int(&w["from"]))),
            ("to", &v.lang.datetime(int(&w["to"]))),
        ],
    )
}

/// A task state in words.
fn task_state(v: &Visitor, s: &str) -> &'static str {
    match s {
        "todo" => v.t("delivery.task-todo"),
        "assigned" => v.t("delivery.task-assigned"),
        "doing" => v.t("delivery.task-doing"),
        "done" => v.t("delivery.task-done"),
        "failed" => v.t("delivery.task-failed"),
        "returned" => v.t("delivery.task-returned"),
        "cancelled" => v.t("delivery.task-cancelled"),
        _ => v.t("delivery.unknown"),
    }
}

/// Which end of a delivery a task is, in words.
fn task_kind(v: &Visitor, k: &str) -> &'static str {
    match k {
        "pickup" => v.t("delivery.kind-pickup"),
        "dropoff" => v.t("delivery.kind-dropoff"),
        _ => v.t("delivery.unknown"),
    }
}

/// An order state as a badge.
fn order_badge(v: &Visitor, s: &str) -> Markup {
    let (class, text) = match s {
        "open" => ("badge", v.t("delivery.order-open")),
        "delivered" => ("badge ok", v.t("delivery.order-delivered")),
        "returned" => ("badge bad", v.t("delivery.order-returned")),
        "cancelled" => ("badge bad", v.t("delivery.order-cancelled")),
        _ => ("badge", v.t("delivery.unknown")),
    };
    html! { span class=(class) { (text) } }
}

/// A vehicle in words.
fn vehicle(v: &Visitor, s: &str) -> &'static str {
    match s {
        "bike" => v.t("delivery.vehicle-bike"),
        "cargo-bike" => v.t("delivery.vehicle-cargo-bike"),
        _ => v.t("delivery.unknown"),
    }
}

/// A labelled text input with an optional hint and error, with an id of
/// its own (several forms on a page may share field names).
#[allow(clippy::too_many_arguments)]
fn input(
    id: &str,
    name: &str,
    label: &str,
    value: &str,
    error: Option<&str>,
    required: bool,
    inputmode: Option<&str>,
    hint: Option<&str>,
) -> Markup {
    let err_id = format!("{id}-error");
    let hint_id = format!("{id}-hint");
    let described: Vec<&str> = [
        hint.map(|_| hint_id.as_str()),
        error.map(|_| err_id.as_str()),
    ]
    .into_iter()
    .flatten()
    .collect();
    let described = (!described.is_empty()).then(|| described.join(" "));
    html! {
        div class="field" {
            label for=(id) { (label) }
            @if let Some(h) = hint { p class="muted hint" id=(hint_id) { (h) } }
            input id=(id) name=(name) type="text" value=(value) required[required]
                inputmode=[inputmode]
                aria-invalid=[error.map(|_| "true")]
                aria-describedby=[described];
            @if let Some(e) = error { p class="field-error" id=(err_id) { (e) } }
        }
    }
}

/// The confirmation for a `?done=` flag.
fn done_text(v: &Visitor, done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "quoted" => v.t("delivery.done-quoted"),
        "ordered" => v.t("delivery.done-ordered"),
        "cancelled" => v.t("delivery.done-cancelled"),
        "shift-started" => v.t("delivery.done-shift-started"),
        "shift-ended" => v.t("delivery.done-shift-ended"),
        "consent" => v.t("delivery.done-consent"),
        "located" => v.t("delivery.done-located"),
        "accepted" => v.t("delivery.done-accepted"),
        "refused" => v.t("delivery.done-refused"),
        "started" => v.t("delivery.done-started"),
        "picked-up" => v.t("delivery.done-picked-up"),
        "delivered" => v.t("delivery.done-delivered"),
        "failed" => v.t("delivery.done-failed"),
        "incident" => v.t("delivery.done-incident"),
        "assigned" => v.t("delivery.done-assigned"),
        _ => return None,
    })
}

/// Whether the visitor dispatches here.
fn dispatcher(c: &CoopCtx) -> bool {
    c.admin() || c.has_role("dispatcher")
}

/// `/c/{coop}/delivery`: where to go, by role.
async fn entry(
    State(web): State<Web>,
    v: Visitor,
    Path(slug): Path<String>,
    Query(d): Query<Done>,
) -> Response {
    let c = match delivery_ctx(&web, &v, &slug).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let body = Shell {
        v: &v,
        coop: Some(&c),
        title: v.t("delivery.title"),
        nav: "delivery",
    }
    .render(html! {
        (notices(&[], done_text(&v, d.done.as_deref())))
        p { (v.t("delivery.intro")) }
        div class="grid" {
            section class="card" {
                h2 { (v.t("delivery.customer-title")) }
                p class="muted" { (v.t("delivery.customer-intro")) }
                ul {
                    li { a href=(c.url("/delivery/quote")) { (v.t("delivery.request-quote")) } }
                    li { a href=(c.url("/delivery/orders")) { (v.t("delivery.my-orders")) } }
                }
            }
            @if c.has_role("worker") {
                section class="card" {
                    h2 { (v.t("delivery.courier-title")) }
                    p class="muted" { (v.t("delivery.courier-intro")) }
                    ul { li { a href=(c.url("/delivery/courier")) { (v.t("delivery.courier-link")) } } }
                }
            }
            @if dispatcher(&c) {
                section class="card" {
                    h2 { (v.t("delivery.dispatch-title")) }
                    p class="muted" { (v.t("delivery.dispatch-intro")) }
                    ul { li { a href=(c.url("/delivery/dispatch")) { (v.t("delivery.dispatch-link")) } } }
                }
            }
        }
    });
    Page::ok(&v, body).into_response()
}
