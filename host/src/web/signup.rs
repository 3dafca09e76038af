//! Pages for what mail links lead to: confirm an application's address,
//! forgot and reset a password, accept an invitation; and the application
//! form that sends the first of those mails.
//!
//! A link in a mail opens a page (GET) whose form does the deed (POST):
//! mail scanners that fetch links consume nothing. Tokens travel in the
//! link's query and then in a hidden field; the pages' `Referrer-Policy:
//! same-origin` keeps them from leaking to other sites.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::json;

use super::layout::{Shell, api_message, csrf, error_page, field, notices};
use super::{Page, Visitor, Web, read_form, urlencode};
use crate::identity::check_password;
use crate::identity::email::VERIFY_TOKEN_TTL_MS;

pub fn routes() -> Router<Web> {
    Router::new()
        .route("/verify-email", get(verify_form).post(verify))
        .route("/forgot-password", get(forgot_form).post(forgot))
        .route("/reset-password", get(reset_form).post(reset))
        .route("/join/{coop}", get(join_form).post(join))
        .route("/invitation/{coop}", get(invitation_form).post(invitation))
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// A page of this module: title, then content.
fn page(v: &Visitor, status: StatusCode, title: &str, content: Markup) -> Response {
    let body = Shell {
        v,
        coop: None,
        title,
        nav: "",
    }
    .render(content);
    Page::with_status(v, status, body).into_response()
}

/// A page that says a deed is done, with a way on.
fn done_page(v: &Visitor, title: &str, text: &str, link: (&str, &str)) -> Response {
    page(
        v,
        StatusCode::OK,
        title,
        html! {
            p class="done" role="status" { (text) }
            p { a class="button" href=(link.0) { (link.1) } }
        },
    )
}

fn login_link(v: &Visitor) -> (&'static str, &'static str) {
    ("/login", v.t("account.login-link"))
}

/// The page for a link opened without its token.
fn no_token(v: &Visitor) -> Response {
    error_page(v, StatusCode::BAD_REQUEST, v.t("account.token-missing"))
}

// --- confirm an application's address ---

fn verify_page(
    v: &Visitor,
    status: StatusCode,
    token: &str,
    errors: &[String],
    password_error: Option<&str>,
) -> Response {
    page(
        v,
        status,
        v.t("account.verify-title"),
        html! {
            (notices(errors, None))
            p { (v.t("account.verify-intro")) }
            form method="post" action="/verify-email" novalidate {
                (csrf(v))
                input type="hidden" name="token" value=(token);
                (field("password", v.t("account.password"), "password", "", password_error, true))
                div class="actions" { button type="submit" { (v.t("account.verify-button")) } }
            }
        },
    )
}

async fn verify_form(v: Visitor, Query(q): Query<TokenQuery>) -> Response {
    match q.token.filter(|t| !t.is_empty()) {
        Some(t) => verify_page(&v, StatusCode::OK, &t, &[], None),
        None => no_token(&v),
    }
}

async fn verify(State(web): State<Web>, v: Visitor, headers: HeaderMap, body: Bytes) -> Response {
    let form = match read_form(&v, &headers, body).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let (token, password) = (form.get("token"), form.get("password"));
    if token.is_empty() {
        return no_token(&v);
    }
    if password.is_empty() {
        let e = v.t("account.password-required");
        return verify_page(
            &v,
            StatusCode::UNPROCESSABLE_ENTITY,
            token,
            &[e.into()],
            Some(e),
        );
    }
    match web
        .post(
            &v,
            "/v1/auth/verify-email",
            &json!({"token": token, "password": password}),
        )
        .await
    {
        Ok(answer) => {
            let text = v.f(
                "account.verify-done",
                &[
                    ("email", answer["confirmed"].as_str().unwrap_or("")),
                    ("coop", answer["coop"]["name"].as_str().unwrap_or("")),
                ],
            );
            done_page(&v, v.t("account.verify-done-title"), &text, login_link(&v))
        }
        Err(e) if e.status == StatusCode::UNAUTHORIZED => {
            let msg = v.t("account.wrong-password");
            verify_page(
                &v,
                StatusCode::UNPROCESSABLE_ENTITY,
                token,
                &[msg.into()],
                Some(msg),
            )
        }
        Err(e) => verify_page(&v, e.status, token, &[api_message(&v, &e)], None),
    }
}

// --- forgot password ---

fn forgot_page(
    v: &Visitor,
    status: StatusCode,
    email: &str,
    errors: &[String],
    email_error: Option<&str>,
) -> Response {
    page(
        v,
        status,
        v.t("account.forgot-title"),
        html! {
            (notices(errors, None))
            p { (v.t("account.forgot-intro")) }
            form method="post" action="/forgot-password" novalidate {
                (csrf(v))
                (field("email", v.t("account.email"), "email", email, email_error, true))
                div class="actions" { button type="submit" { (v.t("account.forgot-button")) } }
            }
        },
    )
}

async fn forgot_form(v: Visitor) -> Response {
    forgot_page(&v, StatusCode::OK, "", &[], None)
}

async fn forgot(State(web): State<Web>, v: Visitor, headers: HeaderMap, body: Bytes) -> Response {
    let form = match read_form(&v, &headers, body).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let email = form.get("email");
    if crate::identity::normalise_email(email).is_err() {
        let e = v.t("account.email-invalid");
        return forgot_page(
            &v,
            StatusCode::UNPROCESSABLE_ENTITY,
            email,
            &[e.into()],
            Some(e),
        );
    }
    match web
        .post(&v, "/v1/auth/password-reset", &json!({"email": email}))
        .await
    {
        Ok(_) => done_page(
            &v,
            v.t("account.forgot-title"),
            &v.f("account.forgot-done", &[("email", email)]),
            ("/login", v.t("account.login-link")),
        ),
        Err(e) => forgot_page(&v, e.status, email, &[api_message(&v, &e)], None),
    }
}

// --- choose a new (or first) password ---

fn reset_page(
    v: &Visitor,
    status: StatusCode,
    token: &str,
    errors: &[String],
    field_errors: (Option<&str>, Option<&str>),
) -> Response {
    page(
        v,
        status,
        v.t("account.reset-title"),
        html! {
            (notices(errors, None))
            p { (v.t("account.reset-intro")) }
            form method="post" action="/reset-password" novalidate {
                (csrf(v))
                input type="hidden" name="token" value=(token);
                (field("password", v.t("account.password-new"), "password", "", field_errors.0, true))
                (field("password2", v.t("account.password-again"), "password", "", field_errors.1, true))
                div class="actions" { button type="submit" { (v.t("account.reset-button")) } }
            }
        },
    )
}

async fn reset_form(v: Visitor, Query(q): Query<TokenQuery>) -> Response {
    match q.token.filter(|t| !t.is_empty()) {
        Some(t) => reset_page(&v, StatusCode::OK, &t, &[], (None, None)),
        None => no_token(&v),
    }
}

async fn reset(State(web): State<Web>, v: Visitor, headers: HeaderMap, body: Bytes) -> Response {
    let form = match read_form(&v, &headers, body).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let (token, password) = (form.get("token"), form.get("password"));
    if token.is_empty() {
        return no_token(&v);
    }
    if check_password(password).is_err() {
        let e = v.t("account.password-short");
        return reset_page(
            &v,
            StatusCode::UNPROCESSABLE_ENTITY,
            token,
            &[e.into()],
            (Some(e), None),
        );
    }
    if password != form.get("password2") {
        let e = v.t("account.password-mismatch");
        return reset_page(
            &v,
            StatusCode::UNPROCESSABLE_ENTITY,
            token,
            &[e.into()],
            (None, Some(e)),
        );
    }
    match web
        .post(
            &v,
            "/v1/auth/password-reset/confirm",
            &json!({"token": token, "password": password}),
        )
        .await
    {
        Ok(answer) => done_page(
            &v,
            v.t("account.reset-done-title"),
            &v.f(
                "account.reset-done",
                &[("email", answer["email"].as_str().unwrap_or(""))],
            ),
            login_link(&v),
        ),
        Err(e) => reset_page(&v, e.status, token, &[api_message(&v, &e)], (None, None)),
    }
}

// --- apply to join ---

/// What the application form holds, to show it again with its errors.
#[derive(Default)]
struct Application<'a> {
    name: &'a str,
    email: &'a str,
    message: &'a str,
}

#[derive(Default)]
struct ApplicationErrors<'a> {
    name: Option<&'a str>,
    email: Option<&'a str>,
    password: Option<&'a str>,
}

fn join_page(
    v: &Visitor,
    status: StatusCode,
    coop: &crate::identity::Coop,
    form: &Application,
    errors: &[String],
    fe: &ApplicationErrors,
) -> Response {
    let action = format!("/join/{}", urlencode(&coop.slug));
    let hours = (VERIFY_TOKEN_TTL_MS / 3_600_000).to_string();
    page(
        v,
        status,
        &v.f("account.join-title", &[("coop", &coop.name)]),
        html! {
            (notices(errors, None))
            p { (v.f("account.join-intro", &[("hours", &hours)])) }
            form method="post" action=(action) novalidate {
                (csrf(v))
                (field("display_name", v.t("account.display-name"), "text", form.name, fe.name, true))
                (field("email", v.t("account.email"), "email", form.email, fe.email, true))
                (field("password", v.t("account.password-choose"), "password", "", fe.password, true))
                div class="field" {
                    label for="f-message" { (v.t("account.message")) }
                    textarea id="f-message" name="message" rows="4" { (form.message) }
                }
                div class="actions" { button type="submit" { (v.t("account.join-button")) } }
            }
        },
    )
}

async fn public_coop(
    web: &Web,
    v: &Visitor,
    slug: &str,
) -> Result<crate::identity::Coop, Response> {
    web.app
        .coop(slug)
        .await
        .map_err(|_| error_page(v, StatusCode::NOT_FOUND, v.t("common.not-found-page")))
}

async fn join_form(State(web): State<Web>, v: Visitor, Path(slug): Path<String>) -> Response {
    match public_coop(&web, &v, &slug).await {
        Ok(coop) => join_page(
            &v,
            StatusCode::OK,
            &coop,
            &Application::default(),
            &[],
            &ApplicationErrors::default(),
        ),
        Err(r) => r,
    }
}

async fn join(
    State(web): State<Web>,
    v: Visitor,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = match read_form(&v, &headers, body).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let coop = match public_coop(&web, &v, &slug).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let filled = Application {
        name: form.get("display_name"),
        email: form.get("email"),
        message: form.get("message"),
    };
    let password = form.get("password");
    let mut fe = ApplicationErrors::default();
    if filled.name.is_empty() {
        fe.name = Some(v.t("account.name-required"));
    }
    if crate::identity::normalise_email(filled.email).is_err() {
        fe.email = Some(v.t("account.email-invalid"));
    }
    if check_password(password).is_err() {
        fe.password = Some(v.t("account.password-short"));
    }
    let errors: Vec<String> = [fe.name, fe.email, fe.password]
        .into_iter()
        .flatten()
        .map(str::to_string)
        .collect();
    if !errors.is_empty() {
        return join_page(
            &v,
            StatusCode::UNPROCESSABLE_ENTITY,
            &coop,
            &filled,
            &errors,
            &fe,
        );
    }
    let path = format!("/v1/coops/{}/applications", urlencode(&coop.slug));
    let body = json!({"email": filled.email, "display_name": filled.name,
        "password": password, "message": filled.message});
    match web.post(&v, &path, &body).await {
        Ok(answer) => {
            let hours = (VERIFY_TOKEN_TTL_MS / 3_600_000).to_string();
            let text = v.f(
                "account.join-done",
                &[
                    (
                        "email",
                        answer["application"]["email"].as_str().unwrap_or(""),
                    ),
                    ("coop", &coop.name),
                    ("hours", &hours),
                ],
            );
            page(
                &v,
                StatusCode::OK,
                v.t("account.join-done-title"),
                html! { p class="done" role="status" { (text) } },
            )
        }
        Err(e) => join_page(
            &v,
            e.status,
            &coop,
            &filled,
            &[api_message(&v, &e)],
            &ApplicationErrors::default(),
        ),
    }
}

// --- accept an invitation ---

fn invitation_page(
    v: &Visitor,
    status: StatusCode,
    coop: &crate::identity::Coop,
    token: &str,
    errors: &[String],
    password_error: Option<&str>,
) -> Response {
    let action = format!("/invitation/{}", urlencode(&coop.slug));
    page(
        v,
        status,
        &v.f("account.invitation-title", &[("coop", &coop.name)]),
        html! {
            (notices(errors, None))
            p { (v.t("account.invitation-intro")) }
            form method="post" action=(action) novalidate {
                (csrf(v))
                input type="hidden" name="token" value=(token);
                (field("password", v.t("account.password-choose"), "password", "", password_error, false))
                div class="actions" { button type="submit" { (v.t("account.invitation-button")) } }
            }
        },
    )
}

async fn invitation_form(
    State(web): State<Web>,
    v: Visitor,
    Path(slug): Path<String>,
    Query(q): Query<TokenQuery>,
) -> Response {
    let coop = match public_coop(&web, &v, &slug).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    match q.token.filter(|t| !t.is_empty()) {
        Some(t) => invitation_page(&v, StatusCode::OK, &coop, &t, &[], None),
        None => no_token(&v),
    }
}

async fn invitation(
    State(web): State<Web>,
    v: Visitor,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = match read_form(&v, &headers, body).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let coop = match public_coop(&web, &v, &slug).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let (token, password) = (form.get("token"), form.get("password"));
    if token.is_empty() {
        return no_token(&v);
    }
    if !password.is_empty() && check_password(password).is_err() {
        let e = v.t("account.password-short");
        return invitation_page(
            &v,
            StatusCode::UNPROCESSABLE_ENTITY,
            &coop,
            token,
            &[e.into()],
            Some(e),
        );
    }
    let path = format!("/v1/coops/{}/invitations/accept", urlencode(&coop.slug));
    let password = (!password.is_empty()).then_some(password);
    match web
        .post(&v, &path, &json!({"token": token, "password": password}))
        .await
    {
        Ok(_) => done_page(
            &v,
            v.t("account.invitation-done-title"),
            &v.f("account.invitation-done", &[("coop", &coop.name)]),
            login_link(&v),
        ),
        Err(e) => {
            // A new account needs a password: tie that refusal to the field.
            let field_error = (e.status == StatusCode::UNPROCESSABLE_ENTITY && password.is_none())
                .then(|| v.t("account.password-needed"));
            invitation_page(
                &v,
                e.status,
                &coop,
                token,
                &[api_message(&v, &e)],
                field_error,
            )
        }
    }
}
