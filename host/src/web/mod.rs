//! The web interface: server-rendered HTML pages for members, admins and the
//! public, in French and English, served at `/` next to the JSON API.
//!
//! Pages never reach into the database themselves: they call the JSON API
//! in process ([`Web::api`]) with the visitor's own session token, so every
//! rule the API enforces (roles, consent, governance, validation) holds for
//! the browser too, and the API stays the one place that decides. Forms are
//! plain HTML forms posted to the server, checked there (messages from the
//! catalogs in [`i18n`]), protected by a CSRF token; JavaScript only adds
//! live updates and is never needed to use a page.
//!
//! Sessions are the API's login tokens, kept in an `HttpOnly`,
//! `SameSite=Lax` cookie (`Secure` when the public URL is `https`).

mod account;
mod auth;
mod delivery;
mod generic;
mod governance;
pub mod i18n;
mod inbox;
mod layout;
mod mydata;
mod pay;
mod plugins;
mod public;
mod signup;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use hmac::{Hmac, Mac};
use http_body_util::BodyExt;
use maud::Markup;
use serde_json::Value;
use sha2::Sha256;
use tower::ServiceExt;

use crate::app::App;
use crate::identity::{self, Coop, Principal};

pub use i18n::Lang;
pub use layout::Shell;

/// The session cookie: the API login token.
pub const SESSION_COOKIE: &str = "coophost_session";
/// A random value given to visitors before they log in, so the login form
/// has a CSRF token too.
pub const PRE_SESSION_COOKIE: &str = "coophost_pre";
/// The language the visitor chose with the switcher.
pub const LANG_COOKIE: &str = "coophost_lang";
/// The form field carrying the CSRF token.
pub const CSRF_FIELD: &str = "_csrf";

/// What every page handler gets: the app and the API to call.
#[derive(Clone)]
pub struct Web {
    /// The host.
    pub app: Arc<App>,
    /// The JSON API router, called in process.
    api: Router,
}

/// The web routes, merged into the API router by [`crate::api::router`].
pub fn router(app: Arc<App>, api: Router) -> Router {
    let web = Web { app, api };
    Router::new()
        .route("/assets/app.css", get(layout::css))
        .route("/assets/app.js", get(layout::js))
        .merge(auth::routes())
        .merge(account::routes())
        .merge(inbox::routes())
        .merge(pay::routes())
        .merge(governance::routes())
        .merge(plugins::routes())
        .merge(delivery::routes())
        .merge(generic::routes())
        .merge(mydata::routes())
        .merge(public::routes())
        .merge(signup::routes())
        .fallback(not_found)
        .with_state(web)
}

/// Unknown paths: a page in the visitor's language for browsers, the API's
/// JSON 404 for everything else.
async fn not_found(v: Visitor, headers: HeaderMap) -> Response {
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if wants_html && !v.here.starts_with("/v1/") {
        layout::error_page(&v, StatusCode::NOT_FOUND, v.t("common.not-found-page"))
    } else {
        crate::api::not_found().into_response()
    }
}

/// An answer from the in-process API that was not a 2xx.
#[derive(Debug, Clone)]
pub struct ApiFail {
    /// HTTP status.
    pub status: StatusCode,
    /// The API's error code, e.g. `invalid`, `conflict`.
    pub code: String,
    /// The API's message (English).
    pub message: String,
}

impl Web {
    /// Call the JSON API as the visitor and return its JSON answer.
    pub async fn api(
        &self,
        v: &Visitor,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ApiFail> {
        let (status, bytes) = self.api_raw(v, method, path, body).await?;
        if bytes.is_empty() || status == StatusCode::NO_CONTENT {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|e| ApiFail {
            status: StatusCode::BAD_GATEWAY,
            code: "bad-json".into(),
            message: format!("the API answered something that is not JSON: {e}"),
        })
    }

    /// GET a JSON document from the API.
    pub async fn get(&self, v: &Visitor, path: &str) -> Result<Value, ApiFail> {
        self.api(v, Method::GET, path, None).await
    }

    /// POST JSON to the API.
    pub async fn post(&self, v: &Visitor, path: &str, body: &Value) -> Result<Value, ApiFail> {
        self.api(v, Method::POST, path, Some(body)).await
    }

    /// PUT JSON to the API.
    pub async fn put(&self, v: &Visitor, path: &str, body: &Value) -> Result<Value, ApiFail> {
        self.api(v, Method::PUT, path, Some(body)).await
    }

    /// Call the API and return the raw body of a 2xx answer (CSV, files).
    pub async fn api_raw(
        &self,
        v: &Visitor,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(StatusCode, Bytes), ApiFail> {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(peer) = v.peer {
            req = req.extension(peer);
        }
        if let Some(fwd) = &v.forwarded_for {
            req = req.header("x-forwarded-for", fwd.clone());
        }
        if let Some(token) = &v.token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let req = match body {
            Some(b) => req
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .map_err(|e| ApiFail {
            status: StatusCode::BAD_REQUEST,
            code: "bad-request".into(),
            message: format!("cannot build the request: {e}"),
        })?;
        let resp = self
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
        if status.is_success() {
            return Ok((status, bytes));
        }
        let parsed: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Err(ApiFail {
            status,
            code: parsed["error"]["code"]
                .as_str()
                .unwrap_or("error")
                .to_string(),
            message: parsed["error"]["message"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned()),
        })
    }
}

/// Who is looking at a page: their session (if any), language and CSRF
/// token, and the coops they belong to.
#[derive(Clone, Debug)]
pub struct Visitor {
    /// The API token from the session cookie, when it is still valid.
    pub token: Option<String>,
    /// The logged-in user.
    pub user: Option<identity::UserInfo>,
    /// Whether they operate the host.
    pub operator: bool,
    /// Coops they are a member of.
    pub coops: Vec<Coop>,
    /// The page language.
    pub lang: Lang,
    /// The CSRF token forms must carry.
    pub csrf: String,
    /// A pre-session value to set as a cookie (first visit).
    new_pre: Option<String>,
    /// Whether cookies get the `Secure` flag.
    secure: bool,
    /// The request path and query, for the language switcher's way back.
    pub here: String,
    /// The session cookie named a session that has ended (expired or
    /// logged out elsewhere): a form posted from it gets a way to log in
    /// again instead of a bare refusal.
    session_ended: bool,
    /// The origin (`scheme://host[:port]`) of `--public-url`, when set: a
    /// proxy in front may rewrite `Host`, so forms posted from the public
    /// origin are accepted too.
    public_origin: Option<String>,
    /// The TCP peer and its `X-Forwarded-For`, passed on to the in-process
    /// API so it throttles by the visitor's address, not the host's.
    peer: Option<axum::extract::ConnectInfo<std::net::SocketAddr>>,
    forwarded_for: Option<axum::http::HeaderValue>,
}

impl Visitor {
    /// Whether someone is logged in.
    pub fn logged_in(&self) -> bool {
        self.user.is_some()
    }

    /// Look a text up in the visitor's language.
    pub fn t(&self, key: &str) -> &'static str {
        self.lang.t(key)
    }

    /// A text with `{name}` placeholders filled in.
    pub fn f(&self, key: &str, args: &[(&str, &str)]) -> String {
        self.lang.f(key, args)
    }

    /// The cookie attributes every cookie of ours gets.
    fn cookie_attrs(&self) -> &'static str {
        if self.secure {
            "Path=/; HttpOnly; SameSite=Lax; Secure"
        } else {
            "Path=/; HttpOnly; SameSite=Lax"
        }
    }
}

fn cookies(headers: &HeaderMap) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for v in headers.get_all(header::COOKIE) {
        let Ok(s) = v.to_str() else { continue };
        for part in s.split(';') {
            if let Some((k, v)) = part.trim().split_once('=') {
                out.insert(k.trim().to_string(), v.trim().to_string());
            }
        }
    }
    out
}

/// Whether a form post's `Origin` is this site: the request's own `Host`,
/// or the public URL's origin (behind a proxy that rewrites `Host`).
/// Browsers send `null` for privacy-sensitive contexts; the CSRF token
/// still guards those.
fn origin_allowed(origin: &str, host: Option<&str>, public_origin: Option<&str>) -> bool {
    if origin == "null" {
        return true;
    }
    if public_origin.is_some_and(|p| p.eq_ignore_ascii_case(origin)) {
        return true;
    }
    match host {
        Some(host) => origin
            .split_once("://")
            .is_some_and(|(_, h)| h.eq_ignore_ascii_case(host)),
        None => public_origin.is_none(),
    }
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    (!authority.is_empty()).then(|| format!("{scheme}://{authority}"))
}

/// Where the language switcher should return after a form post: the
/// path of the page that posted (from `Referer`), else the home page.
fn way_back(headers: &HeaderMap) -> String {
    headers
        .get(header::REFERER)
        .and_then(|r| r.to_str().ok())
        .and_then(|r| r.split_once("://"))
        .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
        .map(|p| auth::safe_next(p.split('#').next().unwrap_or(p)).to_string())
        .unwrap_or_else(|| "/".into())
}

/// The CSRF token bound to a session or pre-session value.
fn csrf_for(secret: &[u8], binding: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(b"coophost web csrf\0");
    mac.update(binding.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

impl FromRequestParts<Web> for Visitor {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, web: &Web) -> Result<Self, Response> {
        let jar = cookies(&parts.headers);
        let app = &web.app;
        let mut token = jar.get(SESSION_COOKIE).filter(|t| !t.is_empty()).cloned();
        let had_session = token.is_some();
        let mut user = None;
        let mut operator = false;
        let mut coops = vec![];
        if let Some(t) = &token {
            match identity::authenticate(&app.db, &*app.clock, t).await {
                Ok(Principal::User {
                    user_id,
                    is_operator,
                    ..
                }) => {
                    user = identity::user_info(&app.db, user_id).await.ok();
                    operator = is_operator;
                    coops = identity::coops_of_user(&app.db, user_id)
                        .await
                        .unwrap_or_default();
                }
                _ => token = None,
            }
        }
        let session_ended = had_session && user.is_none();
        if user.is_none() {
            token = None;
        }
        let (pre, new_pre) = match jar.get(PRE_SESSION_COOKIE).filter(|p| p.len() >= 16) {
            Some(p) => (p.clone(), None),
            None => {
                let p = identity::new_token("pre");
                (p.clone(), Some(p))
            }
        };
        let binding = token.clone().unwrap_or(pre);
        let lang = jar
            .get(LANG_COOKIE)
            .and_then(|l| Lang::from_code(l))
            .unwrap_or_else(|| {
                Lang::negotiate(
                    parts
                        .headers
                        .get(header::ACCEPT_LANGUAGE)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or(""),
                )
            });
        let public_url = app.public_url();
        let secure = public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"));
        let here = if parts.method == Method::GET {
            parts
                .uri
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_else(|| "/".into())
        } else {
            // A page rendered in answer to a form post: the post's URL has
            // no page to go back to, the page the form was on does.
            way_back(&parts.headers)
        };
        Ok(Visitor {
            token,
            user,
            operator,
            coops,
            lang,
            csrf: csrf_for(&app.secret, &binding),
            new_pre,
            secure,
            here,
            session_ended,
            public_origin: public_url.as_deref().and_then(origin_of),
            peer: parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .copied(),
            forwarded_for: parts.headers.get("x-forwarded-for").cloned(),
        })
    }
}

/// A posted form, its CSRF token already checked.
///
/// Fields are kept as text; each page validates the ones it needs and
/// answers with messages in the visitor's language.
pub struct Form(pub HashMap<String, String>);

impl Form {
    /// A field, trimmed; empty when absent.
    pub fn get(&self, name: &str) -> &str {
        self.0.get(name).map(|s| s.trim()).unwrap_or("")
    }
}

/// A form posted to a coop's page: the form, read and its CSRF token
/// checked first, then the coop context `ctx` resolves (whose checks, such
/// as being an admin, are the page's); or the page that refuses the post.
pub async fn coop_form(
    v: &Visitor,
    headers: &HeaderMap,
    body: Bytes,
    ctx: impl Future<Output = Result<layout::CoopCtx, Response>>,
) -> Result<(Form, layout::CoopCtx), Response> {
    let form = read_form(v, headers, body).await?;
    Ok((form, ctx.await?))
}

/// Read a form body and check its CSRF token against the visitor's.
pub async fn read_form(v: &Visitor, headers: &HeaderMap, body: Bytes) -> Result<Form, Response> {
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        if !origin_allowed(origin, host, v.public_origin.as_deref()) {
            return Err(layout::error_page(
                v,
                StatusCode::FORBIDDEN,
                v.t("common.csrf-failed"),
            ));
        }
    }
    let fields: Vec<(String, String)> = match serde_urlencoded::from_bytes(&body) {
        Ok(f) => f,
        Err(_) => {
            return Err(layout::error_page(
                v,
                StatusCode::BAD_REQUEST,
                v.t("common.bad-form"),
            ));
        }
    };
    let mut map = HashMap::new();
    for (k, val) in fields {
        map.insert(k, val);
    }
    let given = map.remove(CSRF_FIELD).unwrap_or_default();
    if !constant_eq(given.as_bytes(), v.csrf.as_bytes()) {
        if v.session_ended {
            return Err(layout::session_ended_page(v, &way_back(headers)));
        }
        return Err(layout::error_page(
            v,
            StatusCode::FORBIDDEN,
            v.t("common.csrf-failed"),
        ));
    }
    Ok(Form(map))
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// An HTML page answer, with the cookies the visit needs.
pub struct Page {
    /// Status.
    pub status: StatusCode,
    /// The document.
    pub body: Markup,
    /// Extra `Set-Cookie` values.
    pub cookies: Vec<String>,
}

impl Page {
    /// A 200 page for `v`.
    pub fn ok(v: &Visitor, body: Markup) -> Page {
        Page::with_status(v, StatusCode::OK, body)
    }

    /// A page with a status (422 for a form with errors, say).
    pub fn with_status(v: &Visitor, status: StatusCode, body: Markup) -> Page {
        let mut cookies = vec![];
        if let Some(p) = &v.new_pre {
            cookies.push(format!(
                "{PRE_SESSION_COOKIE}={p}; {}; Max-Age=86400",
                v.cookie_attrs()
            ));
        }
        Page {
            status,
            body,
            cookies,
        }
    }
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let mut resp = (self.status, self.body.into_string()).into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
                 form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            ),
        );
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        );
        for c in self.cookies {
            if let Ok(v) = HeaderValue::from_str(&c) {
                h.append(header::SET_COOKIE, v);
            }
        }
        resp
    }
}

/// Redirect after a successful form (303, so a reload does not post again).
pub fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// The coop a `/c/{coop}/...` page is about, for a visitor who is a member
/// of it; others are sent to log in or told they are not a member.
pub async fn member_coop(web: &Web, v: &Visitor, slug: &str) -> Result<Value, Response> {
    if !v.logged_in() {
        let back = urlencode(&v.here);
        return Err(see_other(&format!("/login?next={back}")));
    }
    web.get(v, &format!("/v1/coops/{}", urlencode(slug)))
        .await
        .map_err(|e| layout::api_error_page(v, &e))
}

/// Percent-encode a path segment or query value.
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The state type page handlers take.
pub type WebState = State<Web>;

#[cfg(test)]
mod tests {
    use super::{HeaderMap, origin_allowed, origin_of, way_back};
    use axum::http::{HeaderValue, header};

    #[test]
    fn a_post_from_the_public_origin_passes_a_host_rewriting_proxy() {
        let public = Some("https://coop.example");
        // The proxy forwards to 127.0.0.1:8080 with its own Host.
        assert!(origin_allowed(
            "https://coop.example",
            Some("127.0.0.1:8080"),
            public
        ));
        assert!(origin_allowed(
            "http://127.0.0.1:8080",
            Some("127.0.0.1:8080"),
            public
        ));
        assert!(!origin_allowed(
            "https://evil.example",
            Some("127.0.0.1:8080"),
            public
        ));
        assert!(!origin_allowed(
            "https://evil.example",
            Some("coop.example"),
            None
        ));
        assert!(origin_allowed(
            "http://coop.example",
            Some("coop.example"),
            None
        ));
        assert!(origin_allowed("null", Some("coop.example"), None));
        // No Host and a public URL: only the public origin.
        assert!(!origin_allowed("https://evil.example", None, public));
    }

    #[test]
    fn the_public_origin_drops_path_query_and_fragment() {
        // (Arguments are bound first: the catalog test reads `f("…")` in
        // sources as a text key.)
        let (full, not_url, bare) = (
            "https://coop.example:8443/base/?x#y",
            "not a url",
            "https://",
        );
        assert_eq!(
            origin_of(full).as_deref(),
            Some("https://coop.example:8443")
        );
        assert_eq!(origin_of(not_url), None);
        assert_eq!(origin_of(bare), None);
    }

    #[test]
    fn after_a_post_the_way_back_is_the_referring_page() {
        let mut h = HeaderMap::new();
        assert_eq!(way_back(&h), "/");
        h.insert(
            header::REFERER,
            HeaderValue::from_static("https://coop.example/c/velo/work?period=2026-10#chart"),
        );
        assert_eq!(way_back(&h), "/c/velo/work?period=2026-10");
        h.insert(
            header::REFERER,
            HeaderValue::from_static("https://coop.example//evil.example/"),
        );
        assert_eq!(way_back(&h), "/");
        h.insert(
            header::REFERER,
            HeaderValue::from_static("https://coop.example"),
        );
        assert_eq!(way_back(&h), "/");
    }
}
