//! Couriers: start and end a shift, allow location data, share a
//! position, see offers live, accept or refuse them, and move their tasks
//! through the states of the standard.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde_json::{Value, json};

use super::customer::tasks_table;
use super::{
    Done, PACKAGE, call, delivery_ctx, done_text, input, int, km, list, money, order_badge, window,
};
use crate::web::layout::{CoopCtx, Shell, api_message, csrf, notices};
use crate::web::{ApiFail, Form, Page, Visitor, Web, read_form, see_other, urlencode};

/// Longest failure reason or incident note the standard accepts.
const MAX_NOTE: usize = 500;
/// How often the offers refresh in a browser with JavaScript, seconds.
const OFFERS_EVERY_S: u32 = 5;

/// What went wrong with a courier form, to show the page again with it.
#[derive(Default)]
struct Problems {
    errors: Vec<String>,
    /// Field id to message.
    fields: HashMap<String, String>,
    /// Field id to what was typed.
    values: HashMap<String, String>,
    status: Option<StatusCode>,
}

impl Problems {
    fn field(&self, id: &str) -> Option<&str> {
        self.fields.get(id).map(String::as_str)
    }
    fn value(&self, id: &str) -> &str {
        self.values.get(id).map(String::as_str).unwrap_or("")
    }
    fn api(v: &Visitor, e: &ApiFail) -> Problems {
        Problems {
            errors: vec![api_message(v, e)],
            status: Some(e.status),
            ..Default::default()
        }
    }
}

/// An id usable in HTML for a task id such as `d-000001.pickup`.
fn html_id(prefix: &str, task: &str) -> String {
    let clean: String = task
        .chars()
        .map(|ch| if ch.is_ascii_alphanumeric() { ch } else { '-' })
        .collect();
    format!("{prefix}-{clean}")
}

/// `GET /c/{coop}/delivery/courier`.
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
    render(&web, &v, &c, done, &Problems::default()).await
}

/// Location categories of the delivery plugins that need the courier's
/// consent: (plugin, category, purpose, given).
async fn consents(web: &Web, v: &Visitor, c: &CoopCtx) -> Vec<(String, String, String, bool)> {
    let plugins: Vec<String> = web
        .get(v, &c.api("/interfaces"))
        .await
        .map(|i| {
            list(&i["interfaces"])
                .iter()
                .filter(|i| {
                    i["interface"]
                        .as_str()
                        .is_some_and(|n| n.starts_with(&format!("{PACKAGE}/")))
                })
                .filter_map(|i| i["plugin"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let all = web
        .get(v, &c.api("/me/consents"))
        .await
        .unwrap_or(Value::Null);
    let mut out: Vec<(String, String, String, bool)> = list(&all["categories"])
        .iter()
        .filter(|k| k["needs_consent"].as_bool() == Some(true))
        .filter(|k| {
            k["plugin"]
                .as_str()
                .is_some_and(|p| plugins.iter().any(|x| x == p))
        })
        .map(|k| {
            (
                k["plugin"].as_str().unwrap_or_default().to_string(),
                k["category"].as_str().unwrap_or_default().to_string(),
                k["purpose"].as_str().unwrap_or_default().to_string(),
                k["given"].as_bool() == Some(true),
            )
        })
        .collect();
    out.dedup();
    out
}

async fn render(web: &Web, v: &Visitor, c: &CoopCtx, done: Option<&str>, p: &Problems) -> Response {
    if !c.has_role("worker") {
        return crate::web::layout::error_page(
            v,
            StatusCode::FORBIDDEN,
            v.t("delivery.not-courier"),
        );
    }
    let shift = web
        .get(v, &c.api("/shifts/current"))
        .await
        .unwrap_or(Value::Null);
    let on_shift = shift["shift"].is_object();
    let consents = consents(web, v, c).await;
    let offers = call(web, v, c, "courier", "offers", json!({})).await;
    let tasks = call(web, v, c, "courier", "my-tasks", json!({})).await;
    let body = Shell {
        v,
        coop: Some(c),
        title: v.t("delivery.courier-title"),
        nav: "delivery",
    }
    .render(html! {
        (notices(&p.errors, done))
        section class="card" aria-labelledby="shift-h" {
            h2 id="shift-h" { (v.t("delivery.shift-title")) }
            @if on_shift {
                p {
                    span class="badge ok" { (v.t("delivery.on-shift")) } " "
                    (v.f("delivery.on-shift-since", &[("since", &v.lang.datetime(int(&shift["shift"]["started_at"])))]))
                }
                form method="post" action=(c.url("/delivery/courier/shift")) {
                    (csrf(v))
                    input type="hidden" name="action" value="end";
                    button type="submit" class="secondary" { (v.t("delivery.end-shift")) }
                }
            } @else {
                p { span class="badge" { (v.t("delivery.off-shift")) } " " (v.t("delivery.off-shift-help")) }
                form method="post" action=(c.url("/delivery/courier/shift")) {
                    (csrf(v))
                    input type="hidden" name="action" value="start";
                    button type="submit" { (v.t("delivery.start-shift")) }
                }
            }
        }
        section class="card" aria-labelledby="position-h" {
            h2 id="position-h" { (v.t("delivery.position-title")) }
            @for (plugin, category, purpose, given) in &consents {
                @if *given {
                    p class="muted" {
                        (v.f("delivery.consent-given", &[("category", category), ("plugin", plugin)])) " "
                        a href=(c.url("/data")) { (v.t("delivery.consent-manage")) }
                    }
                } @else {
                    p { (v.f("delivery.consent-needed", &[("category", category), ("plugin", plugin)])) }
                    p class="muted" { (purpose) }
                    form method="post" action=(c.url("/delivery/courier/consent")) {
                        (csrf(v))
                        input type="hidden" name="plugin" value=(plugin);
                        input type="hidden" name="category" value=(category);
                        div class="actions" {
                            button type="submit" { (v.f("delivery.consent-give", &[("category", category)])) }
                            a href=(c.url("/data")) { (v.t("delivery.consent-manage")) }
                        }
                    }
                }
            }
            @if on_shift {
                form method="post" action=(c.url("/delivery/courier/location")) novalidate {
                    (csrf(v))
                    (input("f-lat", "lat", v.t("delivery.lat"), p.value("f-lat"), p.field("f-lat"), true, Some("decimal"), Some(v.t("delivery.lat-hint"))))
                    (input("f-lon", "lon", v.t("delivery.lon"), p.value("f-lon"), p.field("f-lon"), true, Some("decimal"), Some(v.t("delivery.lon-hint"))))
                    div class="actions" { button type="submit" { (v.t("delivery.send-position")) } }
                }
            } @else {
                p class="muted" { (v.t("delivery.position-off-shift")) }
            }
        }
        section class="card" aria-labelledby="offers-h" {
            h2 id="offers-h" { (v.t("delivery.offers-title")) }
            div data-live=(c.url("/delivery/courier/offers")) data-every=(OFFERS_EVERY_S) aria-live="polite" {
                (offers_list(v, c, on_shift, &offers))
            }
        }
        section class="card" aria-labelledby="tasks-h" {
            h2 id="tasks-h" { (v.t("delivery.tasks-title")) }
            (tasks_list(v, c, &tasks, p))
        }
    });
    let status = p.status.unwrap_or(if p.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    });
    Page::with_status(v, status, body).into_response()
}

/// The offers, as the live section shows them.
fn offers_list(
    v: &Visitor,
    c: &CoopCtx,
    on_shift: bool,
    offers: &Result<Value, ApiFail>,
) -> Markup {
    let offers = match offers {
        Ok(o) => list(o),
        Err(e) => return html! { p class="error" { (api_message(v, e)) } },
    };
    html! {
        @if !on_shift {
            p { (v.t("delivery.offers-off-shift")) }
        } @else if offers.is_empty() {
            p { (v.t("delivery.no-offers")) }
        } @else {
            ul class="plain" id="offers" {
                @for o in &offers {
                    @let id = o["order"].as_str().unwrap_or_default();
                    li class="card offer" {
                        h3 { (v.f("delivery.offer-to", &[("place", o["dropoff"]["label"].as_str().unwrap_or_default())])) }
                        p class="figure" { (v.f("delivery.offer-pay", &[("pay", &money(v, &o["pay"]))])) }
                        dl class="facts" {
                            dt { (v.t("delivery.order")) } dd { (id) }
                            dt { (v.t("delivery.pickup")) } dd { (o["pickup"]["label"].as_str().unwrap_or_default()) }
                            dt { (v.t("delivery.to-pickup")) } dd {
                                @if o["to-pickup-m"].is_null() { span class="muted" { (v.t("delivery.to-pickup-unknown")) } }
                                @else { (km(v, int(&o["to-pickup-m"]))) }
                            }
                            dt { (v.t("delivery.destination")) } dd { (o["dropoff"]["label"].as_str().unwrap_or_default()) }
                            dt { (v.t("delivery.route")) } dd { (km(v, int(&o["route-m"]))) }
                            dt { (v.t("delivery.pickup-window")) } dd { (window(v, &o["pickup-window"])) }
                        }
                        div class="actions" {
                            form method="post" action=(c.url("/delivery/courier/accept")) class="inline" {
                                (csrf(v))
                                input type="hidden" name="order" value=(id);
                                button type="submit" { (v.f("delivery.accept", &[("order", id)])) }
                            }
                            form method="post" action=(c.url("/delivery/courier/refuse")) class="inline" {
                                (csrf(v))
                                input type="hidden" name="order" value=(id);
                                button type="submit" class="secondary" { (v.f("delivery.refuse", &[("order", id)])) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// One task form: a hidden task id and action, and a button.
fn task_button(v: &Visitor, c: &CoopCtx, task: &str, action: &str, label: &str) -> Markup {
    html! {
        form method="post" action=(c.url("/delivery/courier/task")) class="inline" {
            (csrf(v))
            input type="hidden" name="task" value=(task);
            input type="hidden" name="action" value=(action);
            button type="submit" { (label) }
        }
    }
}

/// What the courier can do next with one task.
fn task_actions(v: &Visitor, c: &CoopCtx, t: &Value, p: &Problems) -> Markup {
    let id = t["id"].as_str().unwrap_or_default();
    let kind = t["kind"].as_str().unwrap_or_default();
    let state = t["state"].as_str().unwrap_or_default();
    let code_id = html_id("code", id);
    let reason_id = html_id("reason", id);
    let note_id = html_id("note", id);
    let active = matches!(state, "assigned" | "doing");
    html! {
        @match (kind, state) {
            ("pickup", "assigned") => { div class="actions" { (task_button(v, c, id, "start", v.t("delivery.start-pickup"))) } }
            ("pickup", "doing") => { div class="actions" { (task_button(v, c, id, "complete", v.t("delivery.picked-up"))) } }
            ("dropoff", "assigned") => { div class="actions" { (task_button(v, c, id, "start", v.t("delivery.start-dropoff"))) } }
            ("dropoff", "doing") => {
                form method="post" action=(c.url("/delivery/courier/task")) novalidate {
                    (csrf(v))
                    input type="hidden" name="task" value=(id);
                    input type="hidden" name="action" value="complete";
                    (input(&code_id, "code", v.t("delivery.code"), p.value(&code_id), p.field(&code_id), true, Some("numeric"), Some(v.t("delivery.code-ask"))))
                    div class="actions" { button type="submit" { (v.t("delivery.delivered")) } }
                }
            }
            _ => {}
        }
        @if active {
            details open[p.field(&reason_id).is_some()] {
                summary { (v.t("delivery.fail-title")) }
                form method="post" action=(c.url("/delivery/courier/task")) novalidate {
                    (csrf(v))
                    input type="hidden" name="task" value=(id);
                    input type="hidden" name="action" value="fail";
                    (input(&reason_id, "reason", v.t("delivery.fail-reason"), p.value(&reason_id), p.field(&reason_id), true, None, None))
                    div class="actions" { button type="submit" class="danger" { (v.t("delivery.fail-button")) } }
                }
            }
            details open[p.field(&note_id).is_some()] {
                summary { (v.t("delivery.incident-title")) }
                form method="post" action=(c.url("/delivery/courier/task")) novalidate {
                    (csrf(v))
                    input type="hidden" name="task" value=(id);
                    input type="hidden" name="action" value="incident";
                    (input(&note_id, "note", v.t("delivery.incident-note"), p.value(&note_id), p.field(&note_id), true, None, None))
                    div class="actions" { button type="submit" class="secondary" { (v.t("delivery.incident-button")) } }
                }
            }
        }
    }
}

fn tasks_list(v: &Visitor, c: &CoopCtx, tasks: &Result<Value, ApiFail>, p: &Problems) -> Markup {
    let orders = match tasks {
        Ok(t) => list(t),
        Err(e) => return html! { p class="error" { (api_message(v, e)) } },
    };
    html! {
        @if orders.is_empty() {
            p { (v.t("delivery.no-tasks")) }
        }
        @for o in &orders {
            article class="card" {
                h3 {
                    (v.f("delivery.task-heading", &[("order", o["id"].as_str().unwrap_or_default()), ("recipient", o["recipient"].as_str().unwrap_or_default())]))
                    " " (order_badge(v, o["state"].as_str().unwrap_or_default()))
                }
                @if let Some(n) = o["notes"].as_str() { p { strong { (v.t("delivery.instructions")) } " " (n) } }
                (tasks_table(v, o))
                @for t in list(&o["tasks"]) {
                    @if matches!(t["state"].as_str(), Some("assigned" | "doing")) {
                        h4 { (super::task_kind(v, t["kind"].as_str().unwrap_or_default())) }
                        (task_actions(v, c, &t, p))
                    }
                }
            }
        }
    }
}

/// `GET /c/{coop}/delivery/courier/offers`: the offers list alone, for the
/// live section.
pub(super) async fn offers(
    State(web): State<Web>,
    v: Visitor,
    Path(slug): Path<String>,
) -> Response {
    let c = match delivery_ctx(&web, &v, &slug).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let shift = web
        .get(&v, &c.api("/shifts/current"))
        .await
        .unwrap_or(Value::Null);
    let offers = call(&web, &v, &c, "courier", "offers", json!({})).await;
    let on_shift = shift["shift"].is_object();
    Page::ok(&v, offers_list(&v, &c, on_shift, &offers)).into_response()
}

/// Read the form and the coop of a courier action.
async fn start(
    web: &Web,
    v: &Visitor,
    slug: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<(Form, CoopCtx), Response> {
    let form = read_form(v, headers, body).await?;
    let c = delivery_ctx(web, v, slug).await?;
    Ok((form, c))
}

fn back(c: &CoopCtx, done: &str) -> Response {
    see_other(&c.url(&format!("/delivery/courier?done={done}")))
}

/// `POST /c/{coop}/delivery/courier/shift`: `action` is `start` or `end`.
pub(super) async fn shift(
    State(web): State<Web>,
    v: Visitor,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (form, c) = match start(&web, &v, &slug, &headers, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let (path, done) = match form.get("action") {
        "start" => ("/shifts/start", "shift-started"),
        "end" => ("/shifts/end", "shift-ended"),
        _ => {
            let p = Problems {
                errors: vec![v.t("delivery.err-action").into()],
                ..Default::default()
            };
            return render(&web, &v, &c, None, &p).await;
        }
    };
    match web.api(&v, Method::POST, &c.api(path), None).await {
        Ok(_) => back(&c, done),
        Err(e) => render(&web, &v, &c, None, &Problems::api(&v, &e)).await,
    }
}

/// `POST /c/{coop}/delivery/courier/consent`: give consent to one
/// category of one plugin.
pub(super) async fn consent(
    State(web): State<Web>,
    v: Visitor,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (form, c) = match start(&web, &v, &slug, &headers, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let (plugin, category) = (form.get("plugin"), form.get("category"));
    if plugin.is_empty() || category.is_empty() {
        let p = Problems {
            errors: vec![v.t("delivery.err-consent").into()],
            ..Default::default()
        };
        return render(&web, &v, &c, None, &p).await;
    }
    let path = c.api(&format!(
        "/me/consents/{}/{}",
        urlencode(plugin),
        urlencode(category)
    ));
    match web.put(&v, &path, &json!({"given": true})).await {
        Ok(_) => back(&c, "consent"),
        Err(e) => render(&web, &v, &c, None, &Problems::api(&v, &e)).await,
    }
}

/// `POST /c/{coop}/delivery/courier/location`.
pub(super) async fn location(
    State(web): State<Web>,
    v: Visitor,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (form, c) = match start(&web, &v, &slug, &headers, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let parse = |s: &str, limit: f64| {
        s.replace(',', ".")
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite() && x.abs() <= limit)
    };
    let (lat, lon) = (parse(form.get("lat"), 90.0), parse(form.get("lon"), 180.0));
    let mut p = Problems::default();
    p.values.insert("f-lat".into(), form.get("lat").into());
    p.values.insert("f-lon".into(), form.get("lon").into());
    if lat.is_none() {
        p.fields
            .insert("f-lat".into(), v.t("delivery.err-lat").into());
        p.errors.push(v.t("delivery.err-lat").into());
    }
    if lon.is_none() {
        p.fields
            .insert("f-lon".into(), v.t("delivery.err-lon").into());
        p.errors.push(v.t("delivery.err-lon").into());
    }
    let (Some(lat), Some(lon)) = (lat, lon) else {
        return render(&web, &v, &c, None, &p).await;
    };
    let args = json!({"at": {"lat": lat, "lon": lon}});
    match call(&web, &v, &c, "courier", "report-location", args).await {
        Ok(_) => back(&c, "located"),
        Err(e) => {
            p.errors.push(api_message(&v, &e));
            p.status = Some(e.status);
            render(&web, &v, &c, None, &p).await
        }
    }
}

async fn on_order(
    web: Web,
    v: Visitor,
    slug: String,
    headers: HeaderMap,
    body: Bytes,
    function: &str,
    done: &str,
) -> Response {
    let (form, c) = match start(&web, &v, &slug, &headers, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let order = form.get("order");
    if order.is_empty() {
        let p = Problems {
            errors: vec![v.t("delivery.err-order").into()],
            ..Default::default()
        };
        return render(&web, &v, &c, None, &p).await;
    }
    match call(&web, &v, &c, "courier", function, json!({"order": order})).await {
        Ok(_) => back(&c, done),
        Err(e) => render(&web, &v, &c, None, &Problems::api(&v, &e)).await,
    }
}

/// `POST /c/{coop}/delivery/courier/accept`.
pub(super) async fn accept(
    State(web): State<Web>,
    v: Visitor,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    on_order(web, v, slug, headers, body, "accept", "accepted").await
}

/// `POST /c/{coop}/delivery/courier/refuse`.
pub(super) async fn refuse(
    State(web): State<Web>,
    v: Visitor,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    on_order(web, v, slug, headers, body, "refuse", "refused").await
}

/// `POST /c/{coop}/delivery/courier/task`: `action` is `start`,
/// `complete` (with `code` for a dropoff), `fail` (with `reason`) or
/// `incident` (with `note`).
pub(super) async fn task(
    State(web): State<Web>,
    v: Visitor,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (form, c) = match start(&web, &v, &slug, &headers, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let task = form.get("task").to_string();
    let dropoff = task.ends_with(".dropoff");
    let mut p = Problems::default();
    let text = |name: &str, prefix: &str, key_err: &'static str, p: &mut Problems| {
        let value = form.get(name).to_string();
        let id = html_id(prefix, &task);
        p.values.insert(id.clone(), value.clone());
        let n = value.chars().count();
        if n == 0 || n > MAX_NOTE {
            p.fields.insert(id, v.t(key_err).into());
            p.errors.push(v.t(key_err).into());
        }
        value
    };
    let (function, args, done) = match form.get("action") {
        _ if task.is_empty() => {
            p.errors.push(v.t("delivery.err-task").into());
            return render(&web, &v, &c, None, &p).await;
        }
        "start" => ("start-task", json!({"task": task}), "started"),
        "complete" if dropoff => {
            let code = text("code", "code", "delivery.err-code", &mut p);
            (
                "complete-task",
                json!({"task": task, "code": code}),
                "delivered",
            )
        }
        "complete" => (
            "complete-task",
            json!({"task": task, "code": null}),
            "picked-up",
        ),
        "fail" => {
            let reason = text("reason", "reason", "delivery.err-fail-reason", &mut p);
            (
                "fail-task",
                json!({"task": task, "reason": reason}),
                "failed",
            )
        }
        "incident" => {
            let note = text("note", "note", "delivery.err-incident", &mut p);
            (
                "report-incident",
                json!({"task": task, "note": note}),
                "incident",
            )
        }
        _ => {
            p.errors.push(v.t("delivery.err-action").into());
            return render(&web, &v, &c, None, &p).await;
        }
    };
    if !p.errors.is_empty() {
        return render(&web, &v, &c, None, &p).await;
    }
    match call(&web, &v, &c, "courier", function, args).await {
        Ok(_) => back(&c, done),
        Err(e) => {
            // Keep what was typed (a mistyped code, say) next to the message.
            if function == "complete-task" && dropoff {
                p.fields.insert(html_id("code", &task), api_message(&v, &e));
            }
            p.errors.push(api_message(&v, &e));
            p.status = Some(e.status);
            render(&web, &v, &c, None, &p).await
        }
    }
}
