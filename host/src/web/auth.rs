//! Log in and out, the language switcher, the coop switcher and the home
//! pages.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::html;
use serde::Deserialize;
use serde_json::json;

use super::layout::{Shell, coop_ctx, csrf, field, notices};
use super::{
    LANG_COOKIE, Lang, Page, SESSION_COOKIE, Visitor, Web, read_form, see_other, urlencode,
};
use crate::identity;

pub fn routes() -> Router<Web> {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login_form).post(login))
        .route("/login/second-factor", post(login_second_factor))
        .route("/logout", post(logout))
        .route("/lang", post(set_lang))
        .route("/switch", get(switch))
        .route("/c/{coop}", get(coop_home))
}

/// Only same-site paths are followed after login or a language change.
///
/// Browsers drop tabs and newlines from URLs, so `/\t/evil.example` would
/// become `//evil.example`: any control character or backslash is refused.
pub(super) fn safe_next(next: &str) -> &str {
    let plain = !next.bytes().any(|b| b < 0x20 || b == 0x7f || b == b'\\');
    if plain && next.starts_with('/') && !next.starts_with("//") {
        next
    } else {
        "/"
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_same_site_paths_are_followed() {
        assert_eq!(safe_next("/c/velo/inbox?x=1"), "/c/velo/inbox?x=1");
        for bad in [
            "//evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\\evil.example",
            "https://evil.example",
            "evil",
            "",
        ] {
            assert_eq!(safe_next(bad), "/", "{bad:?}");
        }
    }
}

fn with_cookie(mut resp: Response, cookie: String) -> Response {
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

async fn home(State(web): State<Web>, v: Visitor) -> Response {
    if v.logged_in() && v.coops.len() == 1 {
        return see_other(&format!("/c/{}", urlencode(&v.coops[0].slug)));
    }
    let public = identity::list_coops(&web.app.db).await.unwrap_or_default();
    let title = v.t("auth.home-title");
    let body = Shell {
        v: &v,
        coop: None,
        title,
        nav: "",
    }
    .render(html! {
        @if v.logged_in() {
            section class="card" {
                h2 { (v.t("auth.your-coops")) }
                @if v.coops.is_empty() {
                    p { (v.t("auth.no-coops")) }
                }
                ul {
                    @for c in &v.coops {
                        li { a href=(format!("/c/{}", urlencode(&c.slug))) { (c.name) } }
                    }
                }
            }
        } @else {
            p { (v.t("auth.intro")) }
            p { a class="button" href="/login" { (v.t("common.login")) } }
        }
        section class="card" {
            h2 { (v.t("auth.public-pages")) }
            p class="muted" { (v.t("auth.public-pages-intro")) }
            ul {
                @for c in &public {
                    li { a href=(format!("/t/{}", urlencode(&c.slug))) { (c.name) } }
                }
            }
        }
    });
    Page::ok(&v, body).into_response()
}

#[derive(Deserialize)]
struct Next {
    next: Option<String>,
}

fn login_page(
    v: &Visitor,
    status: StatusCode,
    email: &str,
    next: &str,
    errors: &[String],
    email_error: Option<&str>,
) -> Response {
    let title = v.t("auth.login-title");
    let body = Shell {
        v,
        coop: None,
        title,
        nav: "",
    }
    .render(html! {
        (notices(errors, None))
        form method="post" action="/login" novalidate {
            (csrf(v))
            input type="hidden" name="next" value=(next);
            (field("email", v.t("auth.email"), "email", email, email_error, true))
            (field("password", v.t("auth.password"), "password", "", None, true))
            div class="actions" { button type="submit" { (v.t("common.login")) } }
        }
        p { a href="/forgot-password" { (v.t("account.forgot-link")) } }
    });
    Page::with_status(v, status, body).into_response()
}

async fn login_form(v: Visitor, Query(q): Query<Next>) -> Response {
    let next = q.next.unwrap_or_else(|| "/".into());
    if v.logged_in() {
        return see_other(safe_next(&next));
    }
    login_page(&v, StatusCode::OK, "", &next, &[], None)
}

async fn login(State(web): State<Web>, v: Visitor, headers: HeaderMap, body: Bytes) -> Response {
    let form = match read_form(&v, &headers, body).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let email = form.get("email");
    let password = form.get("password");
    let next = safe_next(form.get("next")).to_string();
    if email.is_empty() || !email.contains('@') || password.is_empty() {
        let email_error =
            (email.is_empty() || !email.contains('@')).then(|| v.t("auth.email-required"));
        let mut errors = vec![];
        if password.is_empty() {
            errors.push(v.t("auth.password-required").to_string());
        }
        if let Some(e) = email_error {
            errors.insert(0, e.to_string());
        }
        return login_page(
            &v,
            StatusCode::UNPROCESSABLE_ENTITY,
            email,
            &next,
            &errors,
            email_error,
        );
    }
    let device = super::cookies(&headers).remove(DEVICE_COOKIE);
    match web
        .post(
            &v,
            "/v1/auth/login",
            &json!({"email": email, "password": password, "device": device}),
        )
        .await
    {
        Ok(answer) if answer["second_factor_required"] == true => with_device(
            &v,
            &answer,
            second_step_page(
                &v,
                StatusCode::OK,
                answer["challenge"].as_str().unwrap_or_default(),
                &next,
                None,
            ),
        ),
        Ok(answer) => with_device(&v, &answer, logged_in(&v, &answer, &next)),
        Err(e) => {
            let msg = match e.status.as_u16() {
                429 => v.t("auth.too-many"),
                _ => v.t("auth.bad-credentials"),
            };
            let status = if e.status.is_client_error() {
                e.status
            } else {
                StatusCode::UNAUTHORIZED
            };
            login_page(&v, status, email, &next, &[msg.to_string()], None)
        }
    }
}

/// The cookie keeping this browser's device proof for the next login (see
/// `identity::login`): failed logins elsewhere never lock it out.
const DEVICE_COOKIE: &str = "coophost_device";

/// Keep the device proof of an API login answer in its cookie.
fn with_device(v: &Visitor, answer: &serde_json::Value, resp: Response) -> Response {
    match answer["device"].as_str() {
        Some(proof) => with_cookie(
            resp,
            format!(
                "{DEVICE_COOKIE}={proof}; {}; Max-Age={}",
                v.cookie_attrs(),
                identity::login::DEVICE_PROOF_TTL_MS / 1000
            ),
        ),
        None => resp,
    }
}

/// Set the session cookie from an API login answer and go on.
fn logged_in(v: &Visitor, answer: &serde_json::Value, next: &str) -> Response {
    let token = answer["token"].as_str().unwrap_or_default();
    let cookie = format!(
        "{SESSION_COOKIE}={token}; {}; Max-Age={}",
        v.cookie_attrs(),
        identity::SESSION_TTL_MS / 1000
    );
    with_cookie(see_other(next), cookie)
}

/// The second step of logging in: the code from the authenticator app (or
/// a recovery code), with the password step's challenge carried along.
fn second_step_page(
    v: &Visitor,
    status: StatusCode,
    challenge: &str,
    next: &str,
    code_error: Option<&str>,
) -> Response {
    let title = v.t("auth.second-step-title");
    let body = Shell {
        v,
        coop: None,
        title,
        nav: "",
    }
    .render(html! {
        p { (v.t("auth.second-step-intro")) }
        form method="post" action="/login/second-factor" novalidate {
            (csrf(v))
            input type="hidden" name="challenge" value=(challenge);
            input type="hidden" name="next" value=(next);
            (field("code", v.t("auth.code"), "text", "", code_error, true))
            div class="actions" { button type="submit" { (v.t("auth.verify")) } }
        }
    });
    Page::with_status(v, status, body).into_response()
}

async fn login_second_factor(
    State(web): State<Web>,
    v: Visitor,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = match read_form(&v, &headers, body).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let challenge = form.get("challenge");
    let code = form.get("code").trim();
    let next = safe_next(form.get("next")).to_string();
    if code.is_empty() {
        return second_step_page(
            &v,
            StatusCode::UNPROCESSABLE_ENTITY,
            challenge,
            &next,
            Some(v.t("auth.code-required")),
        );
    }
    match web
        .post(
            &v,
            "/v1/auth/login/second-factor",
            &json!({"challenge": challenge, "code": code}),
        )
        .await
    {
        Ok(answer) => logged_in(&v, &answer, &next),
        // A wrong code: the challenge takes a few more.
        Err(e) if e.status == StatusCode::UNAUTHORIZED && e.message.starts_with("wrong code") => {
            second_step_page(
                &v,
                StatusCode::UNAUTHORIZED,
                challenge,
                &next,
                Some(v.t("auth.wrong-code")),
            )
        }
        Err(e) => {
            let msg = match e.status.as_u16() {
                429 => v.t("auth.too-many"),
                _ => v.t("auth.challenge-over"),
            };
            let status = if e.status.is_client_error() {
                e.status
            } else {
                StatusCode::UNAUTHORIZED
            };
            login_page(&v, status, "", &next, &[msg.to_string()], None)
        }
    }
}

async fn logout(State(web): State<Web>, v: Visitor, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = read_form(&v, &headers, body).await {
        return r;
    }
    if v.logged_in() {
        let _ = web
            .api(&v, axum::http::Method::POST, "/v1/auth/logout", None)
            .await;
    }
    let cookie = format!("{SESSION_COOKIE}=; {}; Max-Age=0", v.cookie_attrs());
    with_cookie(see_other("/"), cookie)
}

async fn set_lang(v: Visitor, headers: HeaderMap, body: Bytes) -> Response {
    let form = match read_form(&v, &headers, body).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let Some(lang) = Lang::from_code(form.get("lang")) else {
        return super::layout::error_page(
            &v,
            StatusCode::UNPROCESSABLE_ENTITY,
            v.t("common.unknown-language"),
        );
    };
    let cookie = format!(
        "{LANG_COOKIE}={}; {}; Max-Age=31536000",
        lang.code(),
        v.cookie_attrs()
    );
    with_cookie(see_other(safe_next(form.get("back"))), cookie)
}

#[derive(Deserialize)]
struct Switch {
    coop: Option<String>,
}

async fn switch(v: Visitor, Query(q): Query<Switch>) -> Response {
    match q.coop.filter(|c| v.coops.iter().any(|x| &x.slug == c)) {
        Some(c) => see_other(&format!("/c/{}", urlencode(&c))),
        None => see_other("/"),
    }
}

async fn coop_home(State(web): State<Web>, v: Visitor, Path(slug): Path<String>) -> Response {
    let c = match coop_ctx(&web, &v, &slug).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let open = web
        .get(&v, &c.api("/proposals"))
        .await
        .ok()
        .and_then(|p| {
            p["proposals"].as_array().map(|a| {
                a.iter()
                    .filter(|p| p["status"].as_str() == Some("open"))
                    .count()
            })
        })
        .unwrap_or(0);
    let hello = v.f(
        "auth.hello",
        &[(
            "name",
            v.user
                .as_ref()
                .map(|u| u.display_name.as_str())
                .unwrap_or(""),
        )],
    );
    let roles = c.roles.join(", ");
    let body = Shell {
        v: &v,
        coop: Some(&c),
        title: &c.name,
        nav: "home",
    }
    .render(html! {
        @if c.admin_needs_second_factor {
            p class="error" role="alert" {
                (v.t("auth.admin-needs-second-factor")) " "
                a href="/account/security" { (v.t("auth.security-title")) }
            }
        }
        p { (hello) " " span class="muted" { (v.f("auth.your-roles", &[("roles", &roles)])) } }
        div class="grid" {
            section class="card" {
                h2 { a href=(c.url("/inbox")) { (v.t("common.nav-inbox")) } }
                p class="figure" { (c.unread) }
                p class="muted" { (v.t("auth.unread")) }
            }
            section class="card" {
                h2 { a href=(c.url("/governance")) { (v.t("common.nav-governance")) } }
                p class="figure" { (open) }
                p class="muted" { (v.t("auth.open-proposals")) }
            }
            section class="card" {
                h2 { a href=(c.url("/work")) { (v.t("common.nav-work")) } }
                p class="muted" { (v.t("auth.work-intro")) }
            }
            @if c.serves_package("coop:delivery") {
                section class="card" {
                    h2 { a href=(c.url("/delivery")) { (v.t("common.nav-delivery")) } }
                    p class="muted" { (v.t("auth.delivery-intro")) }
                }
            }
            section class="card" {
                h2 { a href=(c.url("/data")) { (v.t("common.nav-data")) } }
                p class="muted" { (v.t("auth.data-intro")) }
            }
        }
    });
    Page::ok(&v, body).into_response()
}
