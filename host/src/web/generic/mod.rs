//! Generic pages for every interface a coop serves: a form per function
//! generated from its WIT types, the JSON result shown. A new vertical is
//! usable from the browser with no host change; `coop:delivery` also has
//! pages of its own in [`super::delivery`].

mod form;

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::html;
use serde_json::Value;

use super::layout::{
    CoopCtx, Shell, api_error_page, api_message, coop_ctx, csrf, error_page, notices,
};
use super::{Page, Visitor, Web, read_form, urlencode};

pub fn routes() -> Router<Web> {
    Router::new()
        .route("/c/{coop}/services", get(list_page))
        .route(
            "/c/{coop}/services/{package}/{interface}",
            get(interface_page),
        )
        .route(
            "/c/{coop}/services/{package}/{interface}/{function}",
            post(call_function),
        )
}

/// The interfaces the coop serves, as `GET /v1/coops/{coop}/interfaces`
/// lists them (each with its functions and their parameter schemas).
async fn interfaces(web: &Web, v: &Visitor, c: &CoopCtx) -> Result<Vec<Value>, Response> {
    let all = web
        .get(v, &c.api("/interfaces"))
        .await
        .map_err(|e| api_error_page(v, &e))?;
    let mut list = all["interfaces"].as_array().cloned().unwrap_or_default();
    list.sort_by(|a, b| a["interface"].as_str().cmp(&b["interface"].as_str()));
    Ok(list)
}

fn page_url(c: &CoopCtx, name: &str) -> String {
    let (package, iface) = name.split_once('/').unwrap_or((name, ""));
    c.url(&format!(
        "/services/{}/{}",
        urlencode(package),
        urlencode(iface)
    ))
}

/// `GET /c/{coop}/services`.
async fn list_page(State(web): State<Web>, v: Visitor, Path(slug): Path<String>) -> Response {
    let c = match coop_ctx(&web, &v, &slug).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let list = match interfaces(&web, &v, &c).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let body = Shell {
        v: &v,
        coop: Some(&c),
        title: v.t("generic.title"),
        nav: "services",
    }
    .render(html! {
        p { (v.t("generic.intro")) }
        @if list.is_empty() {
            p { (v.t("generic.none-served")) }
        } @else {
            div class="table-wrap" tabindex="0" {
                table {
                    caption class="sr" { (v.t("generic.title")) }
                    thead { tr {
                        th scope="col" { (v.t("generic.interface")) }
                        th scope="col" { (v.t("generic.version")) }
                        th scope="col" { (v.t("generic.plugin")) }
                        th scope="col" { (v.t("generic.functions")) }
                    } }
                    tbody {
                        @for i in &list {
                            @let name = i["interface"].as_str().unwrap_or_default();
                            tr {
                                th scope="row" { a href=(page_url(&c, name)) { code { (name) } } }
                                td { (i["version"].as_str().unwrap_or("-")) }
                                td { (i["plugin"].as_str().unwrap_or_default()) }
                                td {
                                    @for (n, f) in i["functions"].as_array().into_iter().flatten().enumerate() {
                                        @if n > 0 { ", " }
                                        code { (f["name"].as_str().unwrap_or_default()) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    });
    Page::ok(&v, body).into_response()
}

/// What came back from one submitted function form.
struct Outcome<'a> {
    function: &'a str,
    values: HashMap<String, String>,
    errors: HashMap<String, String>,
    messages: Vec<String>,
    result: Option<Value>,
}

async fn find(
    web: &Web,
    v: &Visitor,
    slug: &str,
    package: &str,
    iface: &str,
) -> Result<(CoopCtx, Value), Response> {
    let c = coop_ctx(web, v, slug).await?;
    let name = format!("{package}/{iface}");
    let found = interfaces(web, v, &c)
        .await?
        .into_iter()
        .find(|i| i["interface"].as_str() == Some(name.as_str()));
    match found {
        Some(i) => Ok((c, i)),
        None => Err(error_page(
            v,
            StatusCode::NOT_FOUND,
            &v.f("generic.no-interface", &[("interface", &name)]),
        )),
    }
}

/// `GET /c/{coop}/services/{package}/{interface}`.
async fn interface_page(
    State(web): State<Web>,
    v: Visitor,
    Path((slug, package, iface)): Path<(String, String, String)>,
) -> Response {
    match find(&web, &v, &slug, &package, &iface).await {
        Ok((c, i)) => render(&v, &c, &i, None, StatusCode::OK),
        Err(r) => r,
    }
}

fn render(
    v: &Visitor,
    c: &CoopCtx,
    i: &Value,
    outcome: Option<&Outcome>,
    status: StatusCode,
) -> Response {
    let name = i["interface"].as_str().unwrap_or_default();
    let (package, iface) = name.split_once('/').unwrap_or((name, ""));
    let functions = i["functions"].as_array().cloned().unwrap_or_default();
    let body = Shell {
        v,
        coop: Some(c),
        title: name,
        nav: "services",
    }
    .render(html! {
        dl class="facts" {
            dt { (v.t("generic.version")) } dd { (i["version"].as_str().unwrap_or("-")) }
            dt { (v.t("generic.plugin")) } dd { (i["plugin"].as_str().unwrap_or_default()) }
        }
        @if package == "coop:delivery" {
            p { (v.t("generic.has-own-pages")) " " a href=(c.url("/delivery")) { (v.t("common.nav-delivery")) } }
        }
        p class="muted" { (v.t("generic.page-intro")) }
        nav aria-label=(v.t("generic.functions")) {
            ul {
                @for f in &functions {
                    @let fname = f["name"].as_str().unwrap_or_default();
                    li { a href=(format!("#fn-{fname}")) { code { (fname) } } }
                }
            }
        }
        @for f in &functions {
            @let fname = f["name"].as_str().unwrap_or_default();
            @let fields = form::fields(&f["params_schema"], f["wit"].as_str().unwrap_or_default());
            @let mine = outcome.filter(|o| o.function == fname);
            @let filled = form::Filled {
                values: mine.map(|o| &o.values),
                errors: mine.map(|o| &o.errors),
            };
            section class="card" id=(format!("fn-{fname}")) aria-labelledby=(format!("fn-{fname}-h")) {
                h2 id=(format!("fn-{fname}-h")) { code { (fname) } }
                p { code { (f["wit"].as_str().unwrap_or_default()) } }
                @if let Some(o) = mine { (notices(&o.messages, None)) }
                form method="post" novalidate
                    action=(c.url(&format!("/services/{}/{}/{}", urlencode(package), urlencode(iface), urlencode(fname)))) {
                    (csrf(v))
                    @if fields.is_empty() { p class="muted" { (v.t("generic.no-arguments")) } }
                    (form::render(v, fname, &fields, &filled))
                    div class="actions" { button type="submit" { (v.f("generic.call", &[("function", fname)])) } }
                }
                @if let Some(result) = mine.and_then(|o| o.result.as_ref()) {
                    div role="status" {
                        h3 { (v.t("generic.result")) }
                        pre class="result" { (serde_json::to_string_pretty(result).unwrap_or_default()) }
                    }
                }
            }
        }
    });
    Page::with_status(v, status, body).into_response()
}

/// `POST /c/{coop}/services/{package}/{interface}/{function}`: read the
/// form into the function's JSON arguments, call it, and show the page
/// with its result. The result is shown in the answer itself rather than
/// after a redirect: the host keeps no copy of it to show later.
async fn call_function(
    State(web): State<Web>,
    v: Visitor,
    Path((slug, package, iface, function)): Path<(String, String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let posted = match read_form(&v, &headers, body).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let (c, i) = match find(&web, &v, &slug, &package, &iface).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(f) = i["functions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["name"].as_str() == Some(function.as_str()))
    else {
        return error_page(
            &v,
            StatusCode::NOT_FOUND,
            &v.f("generic.no-function", &[("function", &function)]),
        );
    };
    let fields = form::fields(&f["params_schema"], f["wit"].as_str().unwrap_or_default());
    let mut outcome = Outcome {
        function: &function,
        values: posted.0.clone(),
        errors: HashMap::new(),
        messages: vec![],
        result: None,
    };
    let args = match form::read(&v, &fields, &posted.0) {
        Ok(a) => a,
        Err(errors) => {
            let mut messages: Vec<String> = errors.values().cloned().collect();
            messages.sort();
            outcome.errors = errors;
            outcome.messages = messages;
            return render(&v, &c, &i, Some(&outcome), StatusCode::UNPROCESSABLE_ENTITY);
        }
    };
    let path = c.api(&format!(
        "/call/{}/{}/{}",
        urlencode(&package),
        urlencode(&iface),
        urlencode(&function)
    ));
    match web.post(&v, &path, &args).await {
        Ok(answer) => {
            outcome.result = Some(answer["result"].clone());
            outcome.messages = vec![];
            render(&v, &c, &i, Some(&outcome), StatusCode::OK)
        }
        Err(e) => {
            outcome.messages = vec![api_message(&v, &e)];
            render(&v, &c, &i, Some(&outcome), e.status)
        }
    }
}
