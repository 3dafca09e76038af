//! Plugin pages, for admins: what is installed (interfaces, capabilities
//! asked for and granted, version, hash, licence, source, signature),
//! settings and limits; proposing an install, upgrade, rollback or removal,
//! changing a setting directly where the coop's rules still let admins,
//! through a vote otherwise, and changing the plugin's limits (an admin's
//! call, as in the API).
//!
//! Installing goes in two steps the API provides: the component is staged
//! (`POST components`, the raw `.wasm`), then an `install-plugin` proposal
//! names it by SHA-256. The install form takes the file as an upload
//! (multipart, read here: no extra dependency) or the hash of a component
//! already staged.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::BodyExt;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};
use tower::ServiceExt;

use super::layout::{CoopCtx, Shell, api_error_page, api_message, coop_ctx, csrf, field, notices};
use super::{ApiFail, CSRF_FIELD, Page, Visitor, Web, coop_form, read_form, see_other, urlencode};

/// Largest install form: the API's largest component (64 MiB, see
/// `POST components`) plus room for the manifest and the other fields.
const MAX_UPLOAD_BYTES: usize = 65 * 1024 * 1024;

pub fn routes() -> Router<Web> {
    Router::new()
        .route("/c/{coop}/plugins", get(list))
        .route("/c/{coop}/plugins/install", get(install_form).post(install))
        .route("/c/{coop}/plugins/{name}", get(detail))
        .route("/c/{coop}/plugins/{name}/config", post(set_config))
        .route("/c/{coop}/plugins/{name}/limits", post(set_limits))
        .route("/c/{coop}/plugins/{name}/propose", post(propose))
}

#[derive(Deserialize)]
struct Done {
    done: Option<String>,
}

/// The coop of a plugin page, for its admins only.
async fn admin_ctx(web: &Web, v: &Visitor, slug: &str) -> Result<CoopCtx, Response> {
    let c = coop_ctx(web, v, slug).await?;
    if !c.admin() {
        return Err(super::layout::error_page(
            v,
            StatusCode::FORBIDDEN,
            v.t("plugins.admins-only"),
        ));
    }
    Ok(c)
}

/// Whether the coop's rules let admins change `kind` without a vote.
async fn admins_may(web: &Web, v: &Visitor, c: &CoopCtx, kind: &str) -> bool {
    web.get(v, &c.api("/governance/rules"))
        .await
        .ok()
        .and_then(|r| r["rules"]["admins_may"].as_array().cloned())
        .is_some_and(|k| k.iter().any(|x| x == kind))
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x.as_str().map(str::to_string))
        .collect()
}

/// Everything the API says about one installed plugin.
fn plugin_facts(v: &Visitor, d: &Value) -> Markup {
    let p = &d["plugin"];
    let requested = strings(&d["capabilities"]["requested"]);
    let granted = strings(&d["capabilities"]["granted"]);
    let mut all: Vec<String> = requested.iter().chain(&granted).cloned().collect();
    all.sort();
    all.dedup();
    let exports: Vec<Value> = d["exports"].as_array().cloned().unwrap_or_default();
    let bound = strings(&p["interfaces"]);
    let source = p["source"].as_str().unwrap_or("");
    html! {
        @if let Some(desc) = p["manifest"]["plugin"]["description"].as_str().filter(|s| !s.is_empty()) {
            p { (desc) }
        }
        dl class="facts" {
            dt { (v.t("plugins.version")) }
            dd { (p["version"].as_str().unwrap_or("")) }
            dt { (v.t("plugins.sha256")) }
            dd { code class="hash" { (p["sha256"].as_str().unwrap_or("")) } }
            dt { (v.t("plugins.licence")) }
            dd { (p["licence"].as_str().unwrap_or("")) }
            dt { (v.t("plugins.source")) }
            dd {
                @if source.starts_with("https://") || source.starts_with("http://") {
                    a href=(source) rel="noopener" { (source) }
                } @else {
                    (source)
                }
            }
            dt { (v.t("plugins.signature")) }
            dd {
                @match d["signed_by"].as_str() {
                    Some(key) => { span class="badge ok" { (v.t("plugins.signed")) } " " code class="hash" { (key) } }
                    None => { (v.t("plugins.unsigned")) }
                }
            }
            dt { (v.t("plugins.installed-at")) }
            dd { time { (v.lang.datetime(p["installed_at"].as_i64().unwrap_or(0))) } }
        }
        h3 { (v.t("plugins.interfaces")) }
        @if exports.is_empty() {
            p { (v.t("plugins.no-interfaces")) }
        } @else {
            ul {
                @for e in &exports {
                    @let name = e["name"].as_str().unwrap_or("");
                    li {
                        code { (e["export_name"].as_str().unwrap_or(name)) }
                        @if !bound.iter().any(|b| b == name) {
                            " " span class="badge" { (v.t("plugins.not-served")) }
                        }
                        @let fns: Vec<String> = e["functions"].as_array().into_iter().flatten()
                            .filter_map(|f| f["name"].as_str().map(str::to_string)).collect();
                        @if !fns.is_empty() {
                            br;
                            span class="muted" { (v.f("plugins.functions", &[("list", &fns.join(", "))])) }
                        }
                    }
                }
            }
        }
        h3 { (v.t("plugins.capabilities")) }
        @if all.is_empty() {
            p { (v.t("plugins.no-capabilities")) }
        } @else {
            div class="table-wrap" tabindex="0" {
                table {
                    caption class="sr" { (v.t("plugins.capabilities")) }
                    thead { tr {
                        th scope="col" { (v.t("plugins.col-capability")) }
                        th scope="col" { (v.t("plugins.col-requested")) }
                        th scope="col" { (v.t("plugins.col-granted")) }
                    } }
                    tbody {
                        @for cap in &all {
                            tr {
                                th scope="row" { code { (cap) } }
                                td { (if requested.contains(cap) { v.t("common.yes") } else { v.t("common.no") }) }
                                td {
                                    @if granted.contains(cap) {
                                        span class="badge ok" { (v.t("common.yes")) }
                                    } @else {
                                        span class="badge bad" { (v.t("common.no")) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        details {
            summary { (v.t("plugins.imports")) }
            ul { @for i in strings(&d["imports"]) { li { code { (i) } } } }
        }
    }
}

async fn list(
    State(web): State<Web>,
    v: Visitor,
    Path(slug): Path<String>,
    Query(q): Query<Done>,
) -> Response {
    let c = match admin_ctx(&web, &v, &slug).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let installed = match web.get(&v, &c.api("/plugins")).await {
        Ok(p) => p["plugins"].as_array().cloned().unwrap_or_default(),
        Err(e) => return api_error_page(&v, &e),
    };
    let mut details = vec![];
    for p in &installed {
        let name = p["name"].as_str().unwrap_or("");
        match web
            .get(&v, &c.api(&format!("/plugins/{}", urlencode(name))))
            .await
        {
            Ok(d) => details.push(d),
            Err(e) => return api_error_page(&v, &e),
        }
    }
    let under_vote: Vec<Value> = web
        .get(&v, &c.api("/proposals"))
        .await
        .ok()
        .and_then(|p| p["proposals"].as_array().cloned())
        .unwrap_or_default()
        .into_iter()
        .filter(|p| p["kind"] == "plugin" && p["status"] == "open")
        .collect();
    let done = q.done.as_deref().map(|_| v.t("plugins.done"));
    let body = Shell {
        v: &v,
        coop: Some(&c),
        title: v.t("common.nav-plugins"),
        nav: "plugins",
    }
    .render(html! {
        (notices(&[], done))
        div class="actions" {
            a class="button" href=(c.url("/plugins/install")) { (v.t("plugins.propose-install")) }
        }
        @if !under_vote.is_empty() {
            section class="card" {
                h2 { (v.t("plugins.under-vote")) }
                ul {
                    @for p in &under_vote {
                        li {
                            a href=(c.url(&format!("/governance/proposals/{}", p["id"]))) { (p["title"].as_str().unwrap_or("")) }
                            " · " (v.f("plugins.closes", &[("date", &v.lang.datetime(p["closes_at"].as_i64().unwrap_or(0)))]))
                        }
                    }
                }
            }
        }
        @if details.is_empty() {
            p { (v.t("plugins.none-installed")) }
        }
        @for d in &details {
            @let name = d["plugin"]["name"].as_str().unwrap_or("");
            section class="card" {
                h2 { (name) " " span class="muted" { (d["plugin"]["version"].as_str().unwrap_or("")) } }
                (plugin_facts(&v, d))
                p {
                    a class="button" href=(c.url(&format!("/plugins/{}", urlencode(name)))) {
                        (v.f("plugins.manage", &[("name", name)]))
                    }
                }
            }
        }
    });
    Page::ok(&v, body).into_response()
}

// ---------------------------------------------------------------- detail

/// The detail page's forms: what was typed and what was wrong.
#[derive(Default)]
struct DetailInput {
    param: String,
    value: String,
    action: String,
    title: String,
    reason: String,
    errors: Vec<String>,
    config_error: Option<String>,
    action_error: Option<String>,
    /// The limits form as posted (limit name, text), when it comes back.
    limits: Vec<(String, String)>,
    /// (limit name, message) for each limit field that was refused.
    limit_errors: Vec<(String, String)>,
}

async fn detail(
    State(web): State<Web>,
    v: Visitor,
    Path((slug, name)): Path<(String, String)>,
    Query(q): Query<Done>,
) -> Response {
    let c = match admin_ctx(&web, &v, &slug).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let done = q.done.as_deref().map(|d| match d {
        "config" => v.t("plugins.config-saved"),
        "limits" => v.t("plugins.limits-saved"),
        _ => v.t("plugins.done"),
    });
    render_detail(
        &web,
        &v,
        &c,
        &name,
        StatusCode::OK,
        &DetailInput::default(),
        done,
    )
    .await
}

async fn render_detail(
    web: &Web,
    v: &Visitor,
    c: &CoopCtx,
    name: &str,
    status: StatusCode,
    input: &DetailInput,
    done: Option<&str>,
) -> Response {
    let base = c.api(&format!("/plugins/{}", urlencode(name)));
    let d = match web.get(v, &base).await {
        Ok(d) => d,
        Err(e) => return api_error_page(v, &e),
    };
    let config = web
        .get(v, &format!("{base}/config"))
        .await
        .unwrap_or(Value::Null);
    let limits = web
        .get(v, &format!("{base}/limits"))
        .await
        .unwrap_or(Value::Null);
    let direct_config = admins_may(web, v, c, "set-config").await;
    let direct_plugin = admins_may(web, v, c, "plugin").await;
    let params: Vec<(String, Value)> = config["parameters"]
        .as_object()
        .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let overrides = &limits["overrides"];
    let ceilings = &limits["ceilings"];
    let title = v.f("plugins.detail-title", &[("name", name)]);
    let body = Shell {
        v,
        coop: Some(c),
        title: &title,
        nav: "plugins",
    }
    .render(html! {
        p { a href=(c.url("/plugins")) { (v.t("plugins.back")) } }
        (notices(&input.errors, done))
        section class="card" {
            h2 { (v.t("plugins.about")) }
            (plugin_facts(v, &d))
        }
        section class="card" {
            h2 { (v.t("plugins.settings")) }
            @if params.is_empty() {
                p { (v.t("plugins.no-settings")) }
            } @else {
                div class="table-wrap" tabindex="0" {
                    table {
                        caption class="sr" { (v.t("plugins.settings")) }
                        thead { tr {
                            th scope="col" { (v.t("plugins.col-setting")) }
                            th scope="col" { (v.t("plugins.col-value")) }
                            th scope="col" { (v.t("plugins.col-meaning")) }
                        } }
                        tbody {
                            @for (p, decl) in &params {
                                tr {
                                    th scope="row" { code { (p) } br; span class="muted" { (decl["type"].as_str().unwrap_or("")) } }
                                    td { (value_cell(v, &config["config"][p])) }
                                    td { (decl["description"].as_str().unwrap_or("")) }
                                }
                            }
                        }
                    }
                }
                h3 { (v.t("plugins.change-setting")) }
                p class="muted" {
                    (if direct_config { v.t("plugins.config-direct") } else { v.t("plugins.config-vote") })
                }
                form method="post" action=(c.url(&format!("/plugins/{}/config", urlencode(name)))) novalidate {
                    (csrf(v))
                    div class="field" {
                        label for="f-param" { (v.t("plugins.field-setting")) }
                        select id="f-param" name="param" {
                            @for (p, _) in &params {
                                option value=(p) selected[input.param == *p] { (p) }
                            }
                        }
                    }
                    div class="field" {
                        label for="f-value" { (v.t("plugins.field-value")) }
                        input id="f-value" name="value" type="text" value=(input.value)
                            aria-invalid=[input.config_error.as_ref().map(|_| "true")]
                            aria-describedby=[input.config_error.as_ref().map(|_| "f-value-error")];
                        @if let Some(e) = &input.config_error { p class="field-error" id="f-value-error" { (e) } }
                    }
                    div class="actions" {
                        button type="submit" {
                            (if direct_config { v.t("plugins.change-now") } else { v.t("plugins.propose-change") })
                        }
                    }
                }
            }
        }
        section class="card" {
            h2 { (v.t("plugins.limits")) }
            @if let Some(l) = limits["limits"].as_object() {
                div class="table-wrap" tabindex="0" {
                    table {
                        caption class="sr" { (v.t("plugins.limits")) }
                        thead { tr {
                            th scope="col" { (v.t("plugins.col-limit")) }
                            th scope="col" class="num" { (v.t("plugins.col-value")) }
                            th scope="col" { (v.t("plugins.col-source")) }
                            th scope="col" class="num" { (v.t("plugins.col-ceiling")) }
                        } }
                        tbody {
                            @for (k, val) in l {
                                tr {
                                    th scope="row" { (limit_name(v, k)) }
                                    td class="num" { (val) }
                                    td {
                                        (if overrides.get(k).is_some() { v.t("plugins.limit-coop") } else { v.t("plugins.limit-default") })
                                    }
                                    td class="num" { (ceilings[k]) }
                                }
                            }
                        }
                    }
                }
                h3 { (v.t("plugins.change-limits")) }
                p class="muted" {
                    (v.t("plugins.limits-intro"))
                }
                form method="post" action=(c.url(&format!("/plugins/{}/limits", urlencode(name)))) novalidate {
                    (csrf(v))
                    @for k in l.keys() {
                        (field(
                            &format!("limit-{k}"),
                            &limit_name(v, k),
                            "number",
                            &limit_field_value(input, overrides, k),
                            input.limit_errors.iter().find(|(n, _)| n == k).map(|(_, e)| e.as_str()),
                            false,
                        ))
                    }
                    div class="actions" {
                        button type="submit" { (v.t("plugins.save-limits")) }
                    }
                }
            } @else {
                p { (v.t("plugins.no-limits")) }
            }
        }
        section class="card" {
            h2 { (v.t("plugins.changes")) }
            p class="muted" {
                (if direct_plugin { v.t("plugins.plugin-direct") } else { v.t("plugins.plugin-vote") })
            }
            p {
                a class="button" href=(c.url(&format!("/plugins/install?upgrade={}", urlencode(name)))) {
                    (v.t("plugins.propose-upgrade"))
                }
            }
            form method="post" action=(c.url(&format!("/plugins/{}/propose", urlencode(name)))) novalidate {
                (csrf(v))
                fieldset aria-describedby=[input.action_error.as_ref().map(|_| "action-error")] {
                    legend { (v.t("plugins.what-to-propose")) }
                    @for (a, label) in [("rollback", v.t("plugins.action-rollback")), ("remove", v.t("plugins.action-remove"))] {
                        div {
                            input type="radio" id=(format!("action-{a}")) name="action" value=(a) checked[input.action == a];
                            " "
                            label for=(format!("action-{a}")) { (label) }
                        }
                    }
                    @if let Some(e) = &input.action_error { p class="field-error" id="action-error" { (e) } }
                }
                div class="field" {
                    label for="f-title" { (v.t("plugins.field-title")) }
                    p class="muted" id="f-title-hint" { (v.t("plugins.field-title-hint")) }
                    input id="f-title" name="title" type="text" value=(input.title) aria-describedby="f-title-hint";
                }
                div class="field" {
                    label for="f-reason" { (v.t("plugins.field-reason")) }
                    textarea id="f-reason" name="reason" rows="4" { (input.reason) }
                }
                div class="actions" { button type="submit" { (v.t("plugins.open-proposal")) } }
            }
        }
    });
    Page::with_status(v, status, body).into_response()
}

/// A setting's value; a long one (a JSON rule set, say) folded away.
fn value_cell(v: &Visitor, value: &Value) -> Markup {
    let text = plain(value);
    if text.chars().count() <= 40 {
        return html! { code { (text) } };
    }
    html! {
        details {
            summary { (v.t("plugins.show-value")) }
            pre { (serde_json::to_string_pretty(value).unwrap_or(text)) }
        }
    }
}

fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn limit_name(v: &Visitor, key: &str) -> String {
    let text = v.lang.t(&format!("plugins.limit-{key}"));
    if text == v.t("common.missing-text") {
        key.to_string()
    } else {
        text.to_string()
    }
}

/// What a limit field shows: what was posted if the form came back, else
/// the coop's own value, else nothing (the host's default applies).
fn limit_field_value(input: &DetailInput, overrides: &Value, key: &str) -> String {
    if let Some((_, posted)) = input.limits.iter().find(|(k, _)| k == key) {
        return posted.clone();
    }
    overrides
        .get(key)
        .and_then(Value::as_u64)
        .map(|n| n.to_string())
        .unwrap_or_default()
}

/// The limits form: every limit field left empty falls back to the host's
/// default; the rest must be whole numbers above zero and at most the
/// ceiling the host operator set for the coop (each refusal tied to its
/// field; the API checks them again).
async fn set_limits(
    State(web): State<Web>,
    v: Visitor,
    Path((slug, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (form, c) = match coop_form(&v, &headers, body, admin_ctx(&web, &v, &slug)).await {
        Ok(fc) => fc,
        Err(r) => return r,
    };
    let base = c.api(&format!("/plugins/{}/limits", urlencode(&name)));
    let current = match web.get(&v, &base).await {
        Ok(l) => l,
        Err(e) => return api_error_page(&v, &e),
    };
    let keys: Vec<String> = current["limits"]
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    let mut input = DetailInput::default();
    let mut overrides = serde_json::Map::new();
    for k in &keys {
        let text = form.get(&format!("limit-{k}")).to_string();
        if !text.is_empty() {
            let max = current["ceilings"][k].as_u64().unwrap_or(u64::MAX);
            let refused = match text.parse::<u64>() {
                Ok(n) if n > max => Some(v.f(
                    "plugins.limit-above-ceiling",
                    &[("name", &limit_name(&v, k)), ("max", &max.to_string())],
                )),
                Ok(n) if n > 0 => {
                    overrides.insert(k.clone(), json!(n));
                    None
                }
                _ => Some(v.f("plugins.limits-invalid", &[("name", &limit_name(&v, k))])),
            };
            if let Some(msg) = refused {
                input.errors.push(msg.clone());
                input.limit_errors.push((k.clone(), msg));
            }
        }
        input.limits.push((k.clone(), text));
    }
    if !input.errors.is_empty() {
        return render_detail(
            &web,
            &v,
            &c,
            &name,
            StatusCode::UNPROCESSABLE_ENTITY,
            &input,
            None,
        )
        .await;
    }
    match web.put(&v, &base, &Value::Object(overrides)).await {
        Ok(_) => see_other(&c.url(&format!("/plugins/{}?done=limits", urlencode(&name)))),
        Err(e) if e.status.is_client_error() => {
            input.errors.push(api_message(&v, &e));
            render_detail(&web, &v, &c, &name, e.status, &input, None).await
        }
        Err(e) => api_error_page(&v, &e),
    }
}

async fn set_config(
    State(web): State<Web>,
    v: Visitor,
    Path((slug, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (form, c) = match coop_form(&v, &headers, body, admin_ctx(&web, &v, &slug)).await {
        Ok(fc) => fc,
        Err(r) => return r,
    };
    let base = c.api(&format!("/plugins/{}", urlencode(&name)));
    let config = match web.get(&v, &format!("{base}/config")).await {
        Ok(c) => c,
        Err(e) => return api_error_page(&v, &e),
    };
    let mut input = DetailInput {
        param: form.get("param").to_string(),
        value: form.get("value").to_string(),
        ..Default::default()
    };
    let decl = &config["parameters"][&input.param];
    let value = if decl.is_object() {
        super::governance::parse_config_value(decl["type"].as_str().unwrap_or("json"), &input.value)
    } else {
        None
    };
    let Some(value) = value else {
        let msg = if decl.is_object() {
            v.f(
                "plugins.value-invalid",
                &[("type", decl["type"].as_str().unwrap_or(""))],
            )
        } else {
            v.t("plugins.setting-unknown").to_string()
        };
        input.errors.push(msg.clone());
        input.config_error = Some(msg);
        return render_detail(
            &web,
            &v,
            &c,
            &name,
            StatusCode::UNPROCESSABLE_ENTITY,
            &input,
            None,
        )
        .await;
    };
    let result = if admins_may(&web, &v, &c, "set-config").await {
        web.put(
            &v,
            &format!("{base}/config/{}", urlencode(&input.param)),
            &json!({"value": value}),
        )
        .await
        .map(|_| c.url(&format!("/plugins/{}?done=config", urlencode(&name))))
    } else {
        let title = v.f(
            "plugins.config-proposal-title",
            &[
                ("name", &input.param),
                ("plugin", &name),
                ("value", &plain(&value)),
            ],
        );
        let new = json!({"title": title, "body": "",
            "change": {"kind": "set-config", "plugin": name, "name": input.param, "value": value}});
        web.post(&v, &c.api("/proposals"), &new).await.map(|a| {
            c.url(&format!(
                "/governance/proposals/{}?done=opened",
                a["proposal"]["id"].as_i64().unwrap_or(0)
            ))
        })
    };
    match result {
        Ok(to) => see_other(&to),
        Err(e) if e.status.is_client_error() => {
            let msg = api_message(&v, &e);
            input.errors.push(msg.clone());
            input.config_error = Some(msg);
            render_detail(&web, &v, &c, &name, e.status, &input, None).await
        }
        Err(e) => api_error_page(&v, &e),
    }
}

async fn propose(
    State(web): State<Web>,
    v: Visitor,
    Path((slug, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (form, c) = match coop_form(&v, &headers, body, admin_ctx(&web, &v, &slug)).await {
        Ok(fc) => fc,
        Err(r) => return r,
    };
    let mut input = DetailInput {
        action: form.get("action").to_string(),
        title: form.get("title").to_string(),
        reason: form.get("reason").to_string(),
        ..Default::default()
    };
    let (kind, default_title) = match input.action.as_str() {
        "rollback" => (
            "rollback-plugin",
            v.f("plugins.rollback-title", &[("name", &name)]),
        ),
        "remove" => (
            "remove-plugin",
            v.f("plugins.remove-title", &[("name", &name)]),
        ),
        _ => {
            let msg = v.t("plugins.action-required").to_string();
            input.errors.push(msg.clone());
            input.action_error = Some(msg);
            return render_detail(
                &web,
                &v,
                &c,
                &name,
                StatusCode::UNPROCESSABLE_ENTITY,
                &input,
                None,
            )
            .await;
        }
    };
    if input.title.chars().count() > 200 || input.reason.len() > 20_000 {
        let msg = v.t("plugins.too-long").to_string();
        input.errors.push(msg);
        return render_detail(
            &web,
            &v,
            &c,
            &name,
            StatusCode::UNPROCESSABLE_ENTITY,
            &input,
            None,
        )
        .await;
    }
    let title = if input.title.is_empty() {
        default_title
    } else {
        input.title.clone()
    };
    let new = json!({"title": title, "body": input.reason,
        "change": {"kind": kind, "name": name}});
    match web.post(&v, &c.api("/proposals"), &new).await {
        Ok(a) => see_other(&c.url(&format!(
            "/governance/proposals/{}?done=opened",
            a["proposal"]["id"].as_i64().unwrap_or(0)
        ))),
        Err(e) if e.status.is_client_error() => {
            input.errors.push(api_message(&v, &e));
            render_detail(&web, &v, &c, &name, e.status, &input, None).await
        }
        Err(e) => api_error_page(&v, &e),
    }
}

// --------------------------------------------------------------- install

/// A part of a `multipart/form-data` body.
struct Part {
    name: String,
    filename: Option<String>,
    data: Vec<u8>,
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if from > hay.len() || needle.is_empty() {
        return None;
    }
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

/// A quoted or bare parameter of a `Content-Disposition` header.
fn disposition_param(header: &str, key: &str) -> Option<String> {
    header.split(';').map(str::trim).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        (k.trim().eq_ignore_ascii_case(key)).then(|| v.trim().trim_matches('"').to_string())
    })
}

/// Split a `multipart/form-data` body (RFC 7578) into its parts; none when
/// it is not one.
fn parse_multipart(content_type: &str, body: &[u8]) -> Option<Vec<Part>> {
    let boundary = content_type
        .split(';')
        .map(str::trim)
        .find_map(|p| p.strip_prefix("boundary="))?
        .trim_matches('"');
    // RFC 2046 caps a boundary at 70 characters; a longer one would make
    // the search below cost body length times boundary length.
    if boundary.is_empty() || boundary.len() > 70 {
        return None;
    }
    let delim = format!("--{boundary}").into_bytes();
    let next_delim = [b"\r\n".as_slice(), &delim].concat();
    let mut pos = find(body, &delim, 0)? + delim.len();
    let mut parts = vec![];
    loop {
        if body[pos..].starts_with(b"--") {
            return Some(parts);
        }
        pos += if body[pos..].starts_with(b"\r\n") {
            2
        } else {
            return None;
        };
        let head_end = find(body, b"\r\n\r\n", pos)?;
        let head = std::str::from_utf8(&body[pos..head_end]).ok()?;
        let start = head_end + 4;
        let end = find(body, &next_delim, start)?;
        let disposition = head
            .split("\r\n")
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case("content-disposition")
                    .then_some(v)
            })?
            .to_string();
        parts.push(Part {
            name: disposition_param(&disposition, "name")?,
            filename: disposition_param(&disposition, "filename"),
            data: body[start..end].to_vec(),
        });
        pos = end + next_delim.len();
    }
}

/// The install form's input and errors.
#[derive(Default)]
struct InstallInput {
    upgrade: String,
    sha256: String,
    manifest: String,
    grants_mode: String,
    grants: Vec<String>,
    ungranted: String,
    title: String,
    reason: String,
    errors: Vec<String>,
    file_error: Option<String>,
    manifest_error: Option<String>,
    title_error: Option<String>,
}

#[derive(Deserialize)]
struct Upgrade {
    upgrade: Option<String>,
}

async fn install_form(
    State(web): State<Web>,
    v: Visitor,
    Path(slug): Path<String>,
    Query(q): Query<Upgrade>,
) -> Response {
    let c = match admin_ctx(&web, &v, &slug).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let input = InstallInput {
        upgrade: q.upgrade.unwrap_or_default(),
        grants_mode: "all".into(),
        ungranted: "refuse".into(),
        ..Default::default()
    };
    install_page(&v, &c, StatusCode::OK, &input)
}

fn install_page(v: &Visitor, c: &CoopCtx, status: StatusCode, input: &InstallInput) -> Response {
    let title = if input.upgrade.is_empty() {
        v.t("plugins.install-title").to_string()
    } else {
        v.f("plugins.upgrade-title", &[("name", &input.upgrade)])
    };
    let err =
        |e: &Option<String>, id: &'static str| -> (Option<&'static str>, Option<&'static str>) {
            (e.as_ref().map(|_| "true"), e.as_ref().map(|_| id))
        };
    let (file_invalid, file_desc) = err(&input.file_error, "f-component-error");
    let (manifest_invalid, manifest_desc) = err(&input.manifest_error, "f-manifest-error");
    let (title_invalid, title_desc) = err(&input.title_error, "f-title-error");
    let body = Shell {
        v,
        coop: Some(c),
        title: &title,
        nav: "plugins",
    }
    .render(html! {
        p { a href=(c.url("/plugins")) { (v.t("plugins.back")) } }
        (notices(&input.errors, None))
        p { (v.t("plugins.install-intro")) }
        @if !input.upgrade.is_empty() {
            p { (v.f("plugins.upgrade-intro", &[("name", &input.upgrade)])) }
        }
        form method="post" action=(c.url("/plugins/install")) enctype="multipart/form-data" novalidate {
            input type="hidden" name=(CSRF_FIELD) value=(v.csrf);
            input type="hidden" name="upgrade" value=(input.upgrade);
            fieldset aria-describedby=[file_desc] {
                legend { (v.t("plugins.component")) }
                div class="field" {
                    label for="f-component" { (v.t("plugins.field-file")) }
                    input id="f-component" name="component" type="file" accept=".wasm,application/wasm"
                        aria-invalid=[file_invalid];
                }
                div class="field" {
                    label for="f-sha256" { (v.t("plugins.field-sha256")) }
                    p class="muted" id="f-sha256-hint" { (v.t("plugins.field-sha256-hint")) }
                    input id="f-sha256" name="sha256" type="text" value=(input.sha256)
                        aria-describedby="f-sha256-hint" aria-invalid=[file_invalid];
                }
                @if let Some(e) = &input.file_error { p class="field-error" id="f-component-error" { (e) } }
            }
            div class="field" {
                label for="f-manifest" { (v.t("plugins.field-manifest")) }
                p class="muted" id="f-manifest-hint" { (v.t("plugins.field-manifest-hint")) }
                textarea id="f-manifest" name="manifest" rows="10"
                    aria-invalid=[manifest_invalid]
                    aria-describedby=(manifest_desc.unwrap_or("f-manifest-hint")) { (input.manifest) }
                @if let Some(e) = &input.manifest_error { p class="field-error" id="f-manifest-error" { (e) } }
            }
            fieldset {
                legend { (v.t("plugins.grants")) }
                @for (mode, label) in [("all", v.t("plugins.grants-all")), ("only", v.t("plugins.grants-only"))] {
                    div {
                        input type="radio" id=(format!("grants-{mode}")) name="grants_mode" value=(mode)
                            checked[input.grants_mode == mode];
                        " "
                        label for=(format!("grants-{mode}")) { (label) }
                    }
                }
                fieldset {
                    legend { (v.t("plugins.grants-list")) }
                    @for g in crate::runtime::GRANTABLE {
                        div {
                            input type="checkbox" id=(format!("grant-{g}")) name="grant" value=(g)
                                checked[input.grants.iter().any(|x| x == g)];
                            " "
                            label for=(format!("grant-{g}")) {
                                code { (g) } " — " (v.t(&format!("plugins.cap-{g}")))
                            }
                        }
                    }
                }
                fieldset {
                    legend { (v.t("plugins.ungranted")) }
                    @for (mode, label) in [("refuse", v.t("plugins.ungranted-refuse")), ("stub", v.t("plugins.ungranted-stub"))] {
                        div {
                            input type="radio" id=(format!("ungranted-{mode}")) name="ungranted" value=(mode)
                                checked[input.ungranted == mode];
                            " "
                            label for=(format!("ungranted-{mode}")) { (label) }
                        }
                    }
                }
            }
            div class="field" {
                label for="f-title" { (v.t("plugins.field-title")) }
                input id="f-title" name="title" type="text" value=(input.title)
                    aria-invalid=[title_invalid] aria-describedby=[title_desc];
                @if let Some(e) = &input.title_error { p class="field-error" id="f-title-error" { (e) } }
            }
            div class="field" {
                label for="f-reason" { (v.t("plugins.field-reason")) }
                textarea id="f-reason" name="reason" rows="4" { (input.reason) }
            }
            div class="actions" { button type="submit" { (v.t("plugins.open-proposal")) } }
        }
    });
    Page::with_status(v, status, body).into_response()
}

/// Send a staged component's bytes to `POST components` as the visitor.
async fn stage(web: &Web, v: &Visitor, c: &CoopCtx, bytes: Vec<u8>) -> Result<Value, ApiFail> {
    let mut req = Request::builder()
        .method(Method::POST)
        .uri(c.api("/components"))
        .header(header::CONTENT_TYPE, "application/wasm");
    if let Some(token) = &v.token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let req = req.body(Body::from(bytes)).map_err(|e| ApiFail {
        status: StatusCode::BAD_REQUEST,
        code: "bad-request".into(),
        message: format!("cannot build the request: {e}"),
    })?;
    let resp = web
        .api
        .clone()
        .oneshot(req)
        .await
        .unwrap_or_else(|never| match never {});
    let status = resp.status();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let parsed: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if status.is_success() {
        return Ok(parsed);
    }
    Err(ApiFail {
        status,
        code: parsed["error"]["code"]
            .as_str()
            .unwrap_or("error")
            .to_string(),
        message: parsed["error"]["message"]
            .as_str()
            .unwrap_or("")
            .to_string(),
    })
}

/// Record a field's error and list it at the top of the form.
fn fail(slot: &mut Option<String>, errors: &mut Vec<String>, msg: String) {
    errors.push(msg.clone());
    *slot = Some(msg);
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

async fn install(
    State(web): State<Web>,
    v: Visitor,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    // Only an admin's upload is read at all: the body is taken unread and
    // read only once the visitor is known to be an admin of the coop.
    let c = match admin_ctx(&web, &v, &slug).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let body = match axum::body::to_bytes(body, MAX_UPLOAD_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            return super::layout::error_page(
                &v,
                StatusCode::PAYLOAD_TOO_LARGE,
                &v.f(
                    "plugins.upload-too-large",
                    &[("max", &(MAX_UPLOAD_BYTES >> 20).to_string())],
                ),
            );
        }
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|c| c.to_str().ok())
        .unwrap_or("");
    let Some(parts) = parse_multipart(content_type, &body) else {
        return super::layout::error_page(&v, StatusCode::BAD_REQUEST, v.t("common.bad-form"));
    };
    let text = |name: &str| -> String {
        parts
            .iter()
            .find(|p| p.name == name && p.filename.is_none())
            .map(|p| String::from_utf8_lossy(&p.data).trim().to_string())
            .unwrap_or_default()
    };
    // The CSRF token travels in the form like any other field; read_form
    // checks it (and the Origin) the same way as for the other forms.
    let token = format!("{CSRF_FIELD}={}", urlencode(&text(CSRF_FIELD)));
    if let Err(r) = read_form(&v, &headers, Bytes::from(token)).await {
        return r;
    }
    let file = parts
        .iter()
        .find(|p| p.name == "component" && !p.data.is_empty());
    let mut input = InstallInput {
        upgrade: text("upgrade"),
        sha256: text("sha256").to_ascii_lowercase(),
        manifest: text("manifest"),
        grants_mode: text("grants_mode"),
        grants: parts
            .iter()
            .filter(|p| p.name == "grant")
            .map(|p| String::from_utf8_lossy(&p.data).to_string())
            .collect(),
        ungranted: text("ungranted"),
        title: text("title"),
        reason: text("reason"),
        ..Default::default()
    };
    if file.is_none() && !is_sha256(&input.sha256) {
        let msg = if input.sha256.is_empty() {
            v.t("plugins.file-required")
        } else {
            v.t("plugins.sha256-invalid")
        };
        fail(&mut input.file_error, &mut input.errors, msg.to_string());
    }
    let manifest_name = match toml::from_str::<toml::Table>(&input.manifest) {
        Ok(t) => t
            .get("plugin")
            .and_then(|p| p.get("name"))
            .and_then(|n| n.as_str())
            .map(str::to_string),
        Err(_) => None,
    };
    match &manifest_name {
        None => {
            let msg = if input.manifest.is_empty() {
                v.t("plugins.manifest-required")
            } else {
                v.t("plugins.manifest-invalid")
            };
            fail(
                &mut input.manifest_error,
                &mut input.errors,
                msg.to_string(),
            );
        }
        Some(n) if !input.upgrade.is_empty() && *n != input.upgrade => {
            let msg = v.f(
                "plugins.manifest-other-plugin",
                &[("name", n), ("upgrade", &input.upgrade)],
            );
            fail(&mut input.manifest_error, &mut input.errors, msg);
        }
        Some(_) => {}
    }
    let grants = match input.grants_mode.as_str() {
        "only" => {
            if let Some(bad) = input
                .grants
                .iter()
                .find(|g| !crate::runtime::GRANTABLE.contains(&g.as_str()))
            {
                let msg = v.f("plugins.grant-unknown", &[("name", bad)]);
                input.errors.push(msg);
            }
            Some(input.grants.clone())
        }
        "all" => None,
        _ => {
            input
                .errors
                .push(v.t("plugins.grants-required").to_string());
            None
        }
    };
    let ungranted = match input.ungranted.as_str() {
        "stub" => "stub",
        _ => "refuse",
    };
    if input.title.chars().count() > 200 || input.reason.len() > 20_000 {
        fail(
            &mut input.title_error,
            &mut input.errors,
            v.t("plugins.too-long").to_string(),
        );
    }
    // The upload is staged even when another field is wrong, so the form
    // comes back with its sha256 filled in and the file need not be sent
    // again.
    let mut status = StatusCode::UNPROCESSABLE_ENTITY;
    if let Some(f) = file {
        let other_errors = !input.errors.is_empty();
        match stage(&web, &v, &c, f.data.clone()).await {
            Ok(staged) => {
                input.sha256 = staged["sha256"].as_str().unwrap_or("").to_string();
                if other_errors {
                    input.errors.push(v.t("plugins.upload-kept").to_string());
                }
            }
            Err(e) if e.status.is_client_error() => {
                fail(
                    &mut input.file_error,
                    &mut input.errors,
                    api_message(&v, &e),
                );
                if !other_errors {
                    status = e.status;
                }
            }
            Err(e) => return api_error_page(&v, &e),
        }
    }
    if !input.errors.is_empty() {
        return install_page(&v, &c, status, &input);
    }
    let name = manifest_name.unwrap_or_default();
    let title = if input.title.is_empty() {
        let key = if input.upgrade.is_empty() {
            "plugins.install-proposal-title"
        } else {
            "plugins.upgrade-proposal-title"
        };
        v.f(key, &[("name", &name)])
    } else {
        input.title.clone()
    };
    let mut change = json!({"kind": "install-plugin", "sha256": input.sha256,
        "manifest": input.manifest, "ungranted": ungranted});
    if let Some(g) = grants {
        change["grants"] = json!(g);
    }
    let new = json!({"title": title, "body": input.reason, "change": change});
    match web.post(&v, &c.api("/proposals"), &new).await {
        Ok(a) => see_other(&c.url(&format!(
            "/governance/proposals/{}?done=opened",
            a["proposal"]["id"].as_i64().unwrap_or(0)
        ))),
        Err(e) if e.status.is_client_error() => {
            input.errors.push(api_message(&v, &e));
            install_page(&v, &c, e.status, &input)
        }
        Err(e) => api_error_page(&v, &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_bodies_are_split_into_fields_and_files() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"_csrf\"\r\n\r\nabc\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"component\"; filename=\"p.wasm\"\r\n\
Content-Type: application/wasm\r\n\r\n\x00asm\r\n\x01\r\n--XyZ\r\n\
Content-Disposition: form-data; name=\"grant\"\r\n\r\nstore\r\n--XyZ--\r\n";
        let parts = parse_multipart("multipart/form-data; boundary=XyZ", body).unwrap();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0].name, "_csrf");
        assert_eq!(parts[0].data, b"abc");
        assert_eq!(parts[1].filename.as_deref(), Some("p.wasm"));
        assert_eq!(parts[1].data, b"\x00asm\r\n\x01");
        assert_eq!(parts[2].data, b"store");
        assert!(parse_multipart("multipart/form-data; boundary=XyZ", b"junk").is_none());
        let long = format!("multipart/form-data; boundary={}", "a".repeat(71));
        assert!(parse_multipart(&long, b"--aaaa").is_none());
        assert!(parse_multipart("application/x-www-form-urlencoded", body).is_none());
    }

    /// The grant list names every grantable capability with a text saying
    /// what it gives, in both languages.
    #[test]
    fn every_grantable_capability_is_explained() {
        use crate::web::i18n::Lang;
        for lang in [Lang::Fr, Lang::En] {
            let missing = lang.t("common.missing-text");
            for g in crate::runtime::GRANTABLE {
                assert_ne!(
                    lang.t(&format!("plugins.cap-{g}")),
                    missing,
                    "{lang:?} has no plugins.cap-{g}"
                );
            }
        }
    }
}
