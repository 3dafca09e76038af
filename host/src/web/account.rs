//! The account's security page: set up a second factor (the secret shown
//! as text, once), confirm it with a code, see how many recovery codes are
//! left, make new ones, turn it off. Every step goes through the
//! `/v1/me/second-factor` API with the visitor's session.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};

use super::layout::{Shell, api_error_page, csrf, field, notices};
use super::{Page, Visitor, Web, read_form, see_other};

pub fn routes() -> Router<Web> {
    Router::new()
        .route("/account/security", get(page))
        .route("/account/security/start", post(start))
        .route("/account/security/confirm", post(confirm))
        .route("/account/security/recovery-codes", post(regenerate))
        .route("/account/security/disable", post(disable))
}

const HERE: &str = "/account/security";

#[derive(Deserialize)]
struct Done {
    done: Option<String>,
}

/// Which form an error belongs to, and the message tied to its field.
#[derive(Default)]
struct Errors<'a> {
    password: Option<&'a str>,
    confirm: Option<&'a str>,
    regenerate: Option<&'a str>,
    disable: Option<&'a str>,
    top: Vec<String>,
}

fn login_first() -> Response {
    see_other(&format!("/login?next={}", super::urlencode(HERE)))
}

async fn page(State(web): State<Web>, v: Visitor, Query(q): Query<Done>) -> Response {
    if !v.logged_in() {
        return login_first();
    }
    let done = match q.done.as_deref() {
        Some("disabled") => Some(v.t("auth.sf-disabled")),
        _ => None,
    };
    status_page(&web, &v, StatusCode::OK, &Errors::default(), done).await
}

async fn status_page(
    web: &Web,
    v: &Visitor,
    status: StatusCode,
    errors: &Errors<'_>,
    done: Option<&str>,
) -> Response {
    let s = match web.get(v, "/v1/me/second-factor").await {
        Ok(s) => s,
        Err(e) => return api_error_page(v, &e),
    };
    let sf = &s["second_factor"];
    let enrolled = sf["enrolled"] == true;
    let pending = sf["pending"] == true;
    let body = html! {
        (notices(&errors.top, done))
        p { (v.t("auth.sf-intro")) }
        @if enrolled {
            p {
                (v.f("auth.sf-on", &[
                    ("date", &v.lang.date(sf["enrolled_at"].as_i64().unwrap_or(0))),
                    ("left", &sf["recovery_codes_left"].as_i64().unwrap_or(0).to_string()),
                ]))
            }
            section class="card" {
                h2 { (v.t("auth.sf-regenerate")) }
                p class="muted" { (v.t("auth.sf-regenerate-hint")) }
                form method="post" action="/account/security/recovery-codes" novalidate {
                    (csrf(v))
                    (field("regenerate-code", v.t("auth.code"), "text", "", errors.regenerate, true))
                    div class="actions" { button type="submit" { (v.t("auth.sf-regenerate")) } }
                }
            }
            section class="card" {
                h2 { (v.t("auth.sf-disable")) }
                p class="muted" { (v.t("auth.sf-disable-hint")) }
                form method="post" action="/account/security/disable" novalidate {
                    (csrf(v))
                    (field("disable-code", v.t("auth.code"), "text", "", errors.disable, true))
                    div class="actions" { button type="submit" { (v.t("auth.sf-disable")) } }
                }
            }
        } @else {
            @if pending {
                section class="card" {
                    p { (v.t("auth.sf-pending")) }
                    (confirm_form(v, errors.confirm))
                }
            } @else {
                p { (v.t("auth.sf-off")) }
            }
            section class="card" {
                h2 { (v.t("auth.sf-start")) }
                p class="muted" { (v.t("auth.sf-password-hint")) }
                form method="post" action="/account/security/start" novalidate {
                    (csrf(v))
                    (field("password", v.t("auth.password"), "password", "", errors.password, true))
                    div class="actions" { button type="submit" { (v.t("auth.sf-start")) } }
                }
            }
        }
    };
    shell(v, status, body)
}

fn shell(v: &Visitor, status: StatusCode, body: Markup) -> Response {
    let page = Shell {
        v,
        coop: None,
        title: v.t("auth.security-title"),
        nav: "",
    }
    .render(body);
    Page::with_status(v, status, page).into_response()
}

fn confirm_form(v: &Visitor, error: Option<&str>) -> Markup {
    html! {
        form method="post" action="/account/security/confirm" novalidate {
            (csrf(v))
            (field("confirm-code", v.t("auth.sf-confirm"), "text", "", error, true))
            div class="actions" { button type="submit" { (v.t("auth.verify")) } }
        }
    }
}

/// Recovery codes, shown once, with a way back.
fn codes_page(v: &Visitor, answer: &Value) -> Response {
    let codes: Vec<&str> = answer["recovery_codes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let body = html! {
        section class="card" {
            h2 { (v.t("auth.sf-codes-title")) }
            p { (v.t("auth.sf-codes-intro")) }
            ul class="codes" { @for c in &codes { li { code { (c) } } } }
        }
        p { a href=(HERE) { (v.t("auth.sf-back")) } }
    };
    shell(v, StatusCode::OK, body)
}

/// Read a posted form for a logged-in visitor.
async fn posted(v: &Visitor, headers: &HeaderMap, body: Bytes) -> Result<super::Form, Response> {
    let form = read_form(v, headers, body).await?;
    if !v.logged_in() {
        return Err(login_first());
    }
    Ok(form)
}

async fn start(State(web): State<Web>, v: Visitor, headers: HeaderMap, body: Bytes) -> Response {
    let form = match posted(&v, &headers, body).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let password = form.get("password");
    if password.is_empty() {
        let errors = Errors {
            password: Some(v.t("auth.password-required")),
            ..Errors::default()
        };
        return status_page(&web, &v, StatusCode::UNPROCESSABLE_ENTITY, &errors, None).await;
    }
    match web
        .post(&v, "/v1/me/second-factor", &json!({"password": password}))
        .await
    {
        // The secret is shown in this answer only (a reload starts again
        // with a new one, which is harmless).
        Ok(answer) => {
            let e = &answer["enrolment"];
            let body = html! {
                section class="card" {
                    h2 { (v.t("auth.sf-secret-title")) }
                    p { (v.t("auth.sf-secret-intro")) }
                    dl {
                        dt { (v.t("auth.sf-secret")) }
                        dd { code class="secret" { (e["secret"].as_str().unwrap_or_default()) } }
                        dt { (v.t("auth.sf-uri")) }
                        dd { code class="secret" { (e["otpauth_uri"].as_str().unwrap_or_default()) } }
                    }
                    (confirm_form(&v, None))
                }
            };
            shell(&v, StatusCode::OK, body)
        }
        Err(e) if e.status == StatusCode::FORBIDDEN => {
            let errors = Errors {
                password: Some(v.t("auth.sf-wrong-password")),
                ..Errors::default()
            };
            status_page(&web, &v, StatusCode::FORBIDDEN, &errors, None).await
        }
        Err(e) => failed(&web, &v, &e).await,
    }
}

/// An API refusal shown at the top of the page (429, 409, ...).
async fn failed(web: &Web, v: &Visitor, e: &super::ApiFail) -> Response {
    if e.status == StatusCode::UNAUTHORIZED || e.status.is_server_error() {
        return api_error_page(v, e);
    }
    let errors = Errors {
        top: vec![super::layout::api_message(v, e)],
        ..Errors::default()
    };
    status_page(web, v, e.status, &errors, None).await
}

/// The code field of the form named `field`, or the page again with the
/// error tied to it.
async fn code_of(
    web: &Web,
    v: &Visitor,
    form: &super::Form,
    field: &str,
    errors: impl Fn(&'static str) -> Errors<'static>,
) -> Result<String, Response> {
    let code = form.get(field).trim().to_string();
    if code.is_empty() {
        let e = errors(v.t("auth.code-required"));
        return Err(status_page(web, v, StatusCode::UNPROCESSABLE_ENTITY, &e, None).await);
    }
    Ok(code)
}

async fn confirm(State(web): State<Web>, v: Visitor, headers: HeaderMap, body: Bytes) -> Response {
    let form = match posted(&v, &headers, body).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let on_error = |m| Errors {
        confirm: Some(m),
        ..Errors::default()
    };
    let code = match code_of(&web, &v, &form, "confirm-code", on_error).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    match web
        .post(&v, "/v1/me/second-factor/confirm", &json!({"code": code}))
        .await
    {
        Ok(answer) => codes_page(&v, &answer),
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => {
            let errors = on_error(v.t("auth.wrong-code"));
            status_page(&web, &v, e.status, &errors, None).await
        }
        Err(e) => failed(&web, &v, &e).await,
    }
}

async fn regenerate(
    State(web): State<Web>,
    v: Visitor,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = match posted(&v, &headers, body).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let on_error = |m| Errors {
        regenerate: Some(m),
        ..Errors::default()
    };
    let code = match code_of(&web, &v, &form, "regenerate-code", on_error).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    match web
        .post(
            &v,
            "/v1/me/second-factor/recovery-codes",
            &json!({"code": code}),
        )
        .await
    {
        Ok(answer) => codes_page(&v, &answer),
        Err(e) if e.status == StatusCode::FORBIDDEN => {
            let errors = on_error(v.t("auth.wrong-code"));
            status_page(&web, &v, e.status, &errors, None).await
        }
        Err(e) => failed(&web, &v, &e).await,
    }
}

async fn disable(State(web): State<Web>, v: Visitor, headers: HeaderMap, body: Bytes) -> Response {
    let form = match posted(&v, &headers, body).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let on_error = |m| Errors {
        disable: Some(m),
        ..Errors::default()
    };
    let code = match code_of(&web, &v, &form, "disable-code", on_error).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    match web
        .post(&v, "/v1/me/second-factor/disable", &json!({"code": code}))
        .await
    {
        Ok(_) => see_other(&format!("{HERE}?done=disabled")),
        Err(e) if e.status == StatusCode::FORBIDDEN => {
            let errors = on_error(v.t("auth.wrong-code"));
            status_page(&web, &v, e.status, &errors, None).await
        }
        Err(e) => failed(&web, &v, &e).await,
    }
}
