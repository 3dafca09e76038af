//! Dispatchers (members with the `dispatcher` or `admin` role): orders
//! waiting for a courier, the suggested courier and why, and assigning.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::html;
use serde_json::{Value, json};

use super::{Done, call, delivery_ctx, dispatcher, done_text, int, km, list, money, window};
use crate::web::layout::{CoopCtx, Shell, api_error_page, api_message, csrf, error_page, notices};
use crate::web::{ApiFail, Page, Visitor, Web, coop_form, see_other, urlencode};

/// `GET /c/{coop}/delivery/dispatch`.
pub(super) async fn page(
    State(web): State<Web>,
    v: Visitor,
    Path(slug): Path<String>,
    Query(d): Query<Done>,
) -> Response {
    let c = match delivery_ctx(&web, &v, &slug).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let done = done_text(&v, d.done.as_deref());
    render(&web, &v, &c, done, &[], StatusCode::OK).await
}

async fn render(
    web: &Web,
    v: &Visitor,
    c: &CoopCtx,
    done: Option<&str>,
    errors: &[String],
    status: StatusCode,
) -> Response {
    if !dispatcher(c) {
        return error_page(v, StatusCode::FORBIDDEN, v.t("delivery.not-dispatcher"));
    }
    let orders = match call(web, v, c, "dispatch", "open-orders", json!({})).await {
        Ok(o) => list(&o),
        Err(e) => return api_error_page(v, &e),
    };
    let mut suggestions = Vec::new();
    for o in &orders {
        let s = call(web, v, c, "dispatch", "suggest", json!({"order": o["id"]})).await;
        suggestions.push(s);
    }
    let names = if c.admin() {
        courier_names(web, v, c, &suggestions).await
    } else {
        HashMap::new()
    };
    let body = Shell {
        v,
        coop: Some(c),
        title: v.t("delivery.dispatch-title"),
        nav: "delivery",
    }
    .render(html! {
        (notices(errors, done))
        @if orders.is_empty() {
            p { (v.t("delivery.no-open-orders")) }
        }
        @for (o, s) in orders.iter().zip(&suggestions) {
            @let id = o["id"].as_str().unwrap_or_default();
            article class="card" {
                h2 { (v.f("delivery.dispatch-order", &[("order", id), ("place", o["tasks"][1]["address"]["label"].as_str().unwrap_or_default())])) }
                dl class="facts" {
                    dt { (v.t("delivery.pickup")) } dd { (o["tasks"][0]["address"]["label"].as_str().unwrap_or_default()) }
                    dt { (v.t("delivery.pickup-window")) } dd { (window(v, &o["tasks"][0]["window"])) }
                    dt { (v.t("delivery.route")) } dd { (km(v, int(&o["route-m"]))) }
                    dt { (v.t("delivery.price")) } dd { (money(v, &o["price"])) }
                    dt { (v.t("delivery.placed")) } dd { (v.lang.datetime(int(&o["placed-at"]))) }
                }
                h3 { (v.t("delivery.suggestion")) }
                @match s {
                    Ok(s) => {
                        @let courier = s["courier"].as_str().unwrap_or_default();
                        p {
                            (v.t("delivery.courier-id")) " "
                            @if let Some(name) = names.get(courier) {
                                strong { (name) } " " span class="muted" { "(" code { (courier) } ")" }
                            } @else {
                                code { (courier) }
                            }
                            " · " (v.f("delivery.from-pickup", &[("distance", &km(v, int(&s["distance-m"])))]))
                        }
                        p class="muted" { (s["reason"].as_str().unwrap_or_default()) }
                        form method="post" action=(c.url("/delivery/dispatch/assign")) {
                            (csrf(v))
                            input type="hidden" name="order" value=(id);
                            input type="hidden" name="courier" value=(courier);
                            input type="hidden" name="version" value=(int(&o["version"]));
                            div class="actions" { button type="submit" { (v.f("delivery.assign", &[("order", id)])) } }
                        }
                    }
                    Err(e) => { p class="muted" { (v.t("delivery.no-suggestion")) " " (e.message) } }
                }
            }
        }
    });
    Page::with_status(v, status, body).into_response()
}

/// For an admin, the names behind the suggested couriers' member ids
/// (plugins only know those ids): the plugin serving `coop:delivery/dispatch`
/// is looked up, then each id through the API, which records the read.
/// Anything that fails leaves that id shown as it is.
async fn courier_names(
    web: &Web,
    v: &Visitor,
    c: &CoopCtx,
    suggestions: &[Result<Value, ApiFail>],
) -> HashMap<String, String> {
    let mut names = HashMap::new();
    let Ok(interfaces) = web.get(v, &c.api("/interfaces")).await else {
        return names;
    };
    let plugin = interfaces["interfaces"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|i| i["interface"] == "coop:delivery/dispatch")
        .and_then(|i| i["plugin"].as_str());
    let Some(plugin) = plugin else {
        return names;
    };
    for s in suggestions.iter().flatten() {
        let Some(id) = s["courier"].as_str() else {
            continue;
        };
        if names.contains_key(id) {
            continue;
        }
        let path = c.api(&format!(
            "/plugins/{}/members/{}",
            urlencode(plugin),
            urlencode(id)
        ));
        if let Ok(m) = web.get(v, &path).await
            && let Some(name) = m["member"]["display_name"].as_str()
        {
            names.insert(id.to_string(), name.to_string());
        }
    }
    names
}

/// `POST /c/{coop}/delivery/dispatch/assign`: assign an order to a
/// courier if it is still at the version the page showed.
pub(super) async fn assign(
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
    let order = form.get("order");
    let courier = form.get("courier");
    let version = form.get("version").parse::<u64>().ok();
    if courier.is_empty() || order.is_empty() {
        return render(
            &web,
            &v,
            &c,
            None,
            &[v.t("delivery.err-assign").into()],
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let args = json!({"order": order, "courier": courier,
        "expected-version": version.map(|n| n.to_string())});
    match call(&web, &v, &c, "dispatch", "assign", args).await {
        Ok(_) => see_other(&c.url("/delivery/dispatch?done=assigned")),
        Err(e) => render(&web, &v, &c, None, &[api_message(&v, &e)], e.status).await,
    }
}
