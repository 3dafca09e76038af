//! The page shell (header, navigation, coop and language switchers), the
//! bundled stylesheet and script, error pages and form helpers.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use serde_json::Value;

use super::{ApiFail, CSRF_FIELD, Page, Visitor, Web, i18n::LANGS, urlencode};

const CSS: &str = include_str!("assets/app.css");
const JS: &str = include_str!("assets/app.js");

/// `GET /assets/app.css`.
pub async fn css() -> Response {
    asset(CSS, "text/css; charset=utf-8")
}

/// `GET /assets/app.js`.
pub async fn js() -> Response {
    asset(JS, "text/javascript; charset=utf-8")
}

fn asset(body: &'static str, kind: &'static str) -> Response {
    let mut r = body.into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    r
}

/// The coop a page is in, as the navigation needs it.
#[derive(Clone, Debug)]
pub struct CoopCtx {
    /// URL slug.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// The visitor's roles in it.
    pub roles: Vec<String>,
    /// The visitor's member id.
    pub member_id: Option<i64>,
    /// Interfaces the coop serves, e.g. `coop:delivery/quotes`.
    pub interfaces: Vec<String>,
    /// Unread notifications.
    pub unread: usize,
    /// The visitor is an admin here acting without the role: the coop
    /// requires a second factor and this session was opened without one.
    pub admin_needs_second_factor: bool,
}

impl CoopCtx {
    /// Whether the visitor has a role here.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// Whether the visitor is an admin here.
    pub fn admin(&self) -> bool {
        self.has_role("admin")
    }

    /// Whether the coop serves some interface of package `pkg` (`coop:delivery`).
    pub fn serves_package(&self, pkg: &str) -> bool {
        self.interfaces
            .iter()
            .any(|i| i.split('/').next() == Some(pkg))
    }

    /// `/c/{slug}` followed by `rest`.
    pub fn url(&self, rest: &str) -> String {
        format!("/c/{}{rest}", urlencode(&self.slug))
    }

    /// `/v1/coops/{slug}` followed by `rest`, for API calls.
    pub fn api(&self, rest: &str) -> String {
        format!("/v1/coops/{}{rest}", urlencode(&self.slug))
    }
}

/// Load the coop of a `/c/{coop}/...` page for a logged-in member: their
/// roles, the interfaces served and the unread count. Visitors who are not
/// logged in are sent to the login page and come back after.
pub async fn coop_ctx(web: &Web, v: &Visitor, slug: &str) -> Result<CoopCtx, Response> {
    let c = super::member_coop(web, v, slug).await?;
    let api = format!("/v1/coops/{}", urlencode(slug));
    let interfaces = web
        .get(v, &format!("{api}/interfaces"))
        .await
        .unwrap_or(Value::Null);
    let unread = web
        .get(v, &format!("{api}/notifications?unread=true&limit=1000"))
        .await
        .ok()
        .and_then(|n| n["notifications"].as_array().map(Vec::len))
        .unwrap_or(0);
    let mut names: Vec<String> = interfaces["interfaces"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["interface"].as_str().map(str::to_string))
        .collect();
    names.sort();
    names.dedup();
    Ok(CoopCtx {
        slug: c["coop"]["slug"].as_str().unwrap_or(slug).to_string(),
        name: c["coop"]["name"].as_str().unwrap_or(slug).to_string(),
        roles: c["you"]["roles"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r.as_str().map(str::to_string))
            .collect(),
        member_id: c["you"]["member_id"].as_i64(),
        interfaces: names,
        unread,
        admin_needs_second_factor: c["you"]["admin_needs_second_factor"] == true,
    })
}

/// A whole page: header, navigation, the content under an `<h1>` title.
pub struct Shell<'a> {
    /// Who is looking.
    pub v: &'a Visitor,
    /// The coop the page is in, if any.
    pub coop: Option<&'a CoopCtx>,
    /// The page title (also the `<h1>`).
    pub title: &'a str,
    /// Which navigation entry is current.
    pub nav: &'a str,
}

impl Shell<'_> {
    /// Render the page around `content`.
    pub fn render(&self, content: Markup) -> Markup {
        let v = self.v;
        let site = v.t("common.site-name");
        html! {
            (DOCTYPE)
            html lang=(v.lang.code()) {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (self.title) " · " @if let Some(c) = self.coop { (c.name) " · " } (site) }
                    // No icon to fetch (browsers would ask for /favicon.ico).
                    link rel="icon" href="data:,";
                    link rel="stylesheet" href="/assets/app.css";
                    script src="/assets/app.js" defer {}
                }
                body {
                    a class="skip" href="#main" { (v.t("common.skip-to-content")) }
                    header class="top" {
                        div class="bar" {
                            a class="brand" href="/" { (site) }
                            @if let Some(c) = self.coop { span class="coopname" { (c.name) } }
                            (self.switchers())
                        }
                        @if let Some(c) = self.coop { (self.nav(c)) }
                    }
                    main id="main" {
                        h1 { (self.title) }
                        (content)
                    }
                    footer {
                        p {
                            (v.t("common.footer"))
                            @if let Some(c) = self.coop {
                                " · " a href=(format!("/t/{}", urlencode(&c.slug))) { (v.t("common.nav-transparency")) }
                            }
                        }
                    }
                }
            }
        }
    }

    fn switchers(&self) -> Markup {
        let v = self.v;
        html! {
            div class="switchers" {
                @if v.coops.len() > 1 {
                    form method="get" action="/switch" class="inline" {
                        label for="coop-switch" class="sr" { (v.t("common.switch-coop")) }
                        select id="coop-switch" name="coop" {
                            @for c in &v.coops {
                                option value=(c.slug) selected[self.coop.is_some_and(|x| x.slug == c.slug)] { (c.name) }
                            }
                        }
                        button type="submit" { (v.t("common.go")) }
                    }
                }
                form method="post" action="/lang" class="inline" {
                    input type="hidden" name=(CSRF_FIELD) value=(v.csrf);
                    input type="hidden" name="back" value=(v.here);
                    label for="lang-switch" class="sr" { (v.t("common.language")) }
                    select id="lang-switch" name="lang" {
                        @for l in LANGS {
                            option value=(l.code()) lang=(l.code()) selected[*l == v.lang] { (l.name()) }
                        }
                    }
                    button type="submit" { (v.t("common.change-language")) }
                }
                @if let Some(u) = &v.user {
                    a href="/account/security" { (v.t("auth.security-link")) }
                    form method="post" action="/logout" class="inline" {
                        input type="hidden" name=(CSRF_FIELD) value=(v.csrf);
                        span class="who" { (u.display_name) }
                        button type="submit" { (v.t("common.logout")) }
                    }
                } @else {
                    a href="/login" { (v.t("common.login")) }
                }
            }
        }
    }

    fn nav(&self, c: &CoopCtx) -> Markup {
        let v = self.v;
        let mut items: Vec<(&str, String, String)> = vec![
            ("home", c.url(""), v.t("common.nav-home").to_string()),
            ("work", c.url("/work"), v.t("common.nav-work").to_string()),
            (
                "governance",
                c.url("/governance"),
                v.t("common.nav-governance").to_string(),
            ),
            (
                "inbox",
                c.url("/inbox"),
                if c.unread > 0 {
                    format!("{} ({})", v.t("common.nav-inbox"), c.unread)
                } else {
                    v.t("common.nav-inbox").to_string()
                },
            ),
        ];
        if c.serves_package("coop:delivery") {
            items.push((
                "delivery",
                c.url("/delivery"),
                v.t("common.nav-delivery").to_string(),
            ));
        }
        items.push((
            "services",
            c.url("/services"),
            v.t("common.nav-services").to_string(),
        ));
        items.push(("data", c.url("/data"), v.t("common.nav-data").to_string()));
        if c.admin() {
            items.push((
                "plugins",
                c.url("/plugins"),
                v.t("common.nav-plugins").to_string(),
            ));
        }
        html! {
            nav aria-label=(v.t("common.nav-label")) {
                ul {
                    @for (key, href, label) in &items {
                        li {
                            @if *key == self.nav {
                                a href=(href) aria-current="page" { (label) }
                            } @else {
                                a href=(href) { (label) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A page that says what went wrong, in the visitor's language.
pub fn error_page(v: &Visitor, status: StatusCode, message: &str) -> Response {
    let title = v.t("common.error-title");
    let body = Shell {
        v,
        coop: None,
        title,
        nav: "",
    }
    .render(html! {
        p class="error" role="alert" { (message) }
        p { a href="/" { (v.t("common.back-home")) } }
    });
    Page::with_status(v, status, body).into_response()
}

/// A form posted after its session ended: nothing was done; log in again
/// and come back to the page the form was on.
pub fn session_ended_page(v: &Visitor, back: &str) -> Response {
    let title = v.t("common.session-ended-title");
    let login = format!("/login?next={}", super::urlencode(back));
    let body = Shell {
        v,
        coop: None,
        title,
        nav: "",
    }
    .render(html! {
        p class="error" role="alert" { (v.t("common.session-ended")) }
        p { a class="button" href=(login) { (v.t("common.log-in-again")) } }
    });
    Page::with_status(v, StatusCode::UNAUTHORIZED, body).into_response()
}

/// The visitor's-language headline for an API failure, followed by the
/// API's own explanation.
pub fn api_message(v: &Visitor, e: &ApiFail) -> String {
    let key = match e.status.as_u16() {
        400 | 422 => "common.err-invalid",
        401 => "common.err-login",
        403 => "common.err-forbidden",
        404 => "common.err-not-found",
        409 => "common.err-conflict",
        413 => "common.err-too-large",
        429 => "common.err-too-many",
        500..=599 => "common.err-server",
        _ => "common.err-invalid",
    };
    if e.status.is_server_error() {
        v.t(key).to_string()
    } else {
        format!("{} {}", v.t(key), e.message)
    }
}

/// An error page for an API failure (404 stays 404, and so on).
pub fn api_error_page(v: &Visitor, e: &ApiFail) -> Response {
    if e.status == StatusCode::UNAUTHORIZED && !v.logged_in() {
        return super::see_other(&format!("/login?next={}", urlencode(&v.here)));
    }
    error_page(v, e.status, &api_message(v, e))
}

/// The hidden CSRF field every form carries.
pub fn csrf(v: &Visitor) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(v.csrf); }
}

/// Messages shown at the top of a form: what was wrong, or what was done.
pub fn notices(errors: &[String], done: Option<&str>) -> Markup {
    html! {
        @if !errors.is_empty() {
            div class="error" role="alert" {
                ul { @for e in errors { li { (e) } } }
            }
        }
        @if let Some(d) = done {
            p class="done" role="status" { (d) }
        }
    }
}

/// A labelled input with its error message (if any) tied to it.
pub fn field(
    name: &str,
    label: &str,
    kind: &str,
    value: &str,
    error: Option<&str>,
    required: bool,
) -> Markup {
    let id = format!("f-{name}");
    let err_id = format!("{id}-error");
    html! {
        div class="field" {
            label for=(id) { (label) }
            input id=(id) name=(name) type=(kind) value=(value) required[required]
                aria-invalid=[error.map(|_| "true")]
                aria-describedby=[error.map(|_| err_id.as_str())];
            @if let Some(e) = error { p class="field-error" id=(err_id) { (e) } }
        }
    }
}

/// Raw HTML that is known to be safe (bundled SVG, say).
pub fn trusted(s: String) -> Markup {
    PreEscaped(s)
}
