//! The web pages through the router, as a browser without JavaScript uses
//! them: cookies, CSRF tokens from the forms, redirects followed by hand.
//! (The real-browser tests are in `tests/browser`.)

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use tower::ServiceExt;

use crate::common::{TestHost, backends};

/// A cookie-keeping client for the HTML pages.
pub struct Browser<'a> {
    pub host: &'a TestHost,
    cookies: Vec<(String, String)>,
    /// The `Accept-Language` sent.
    pub accept_language: String,
}

/// An answer: status, `Location` (redirects), body text.
pub struct Answer {
    pub status: StatusCode,
    pub location: Option<String>,
    pub body: String,
    pub content_type: String,
    /// `Content-Disposition`, for downloads.
    pub disposition: Option<String>,
    pub set_cookies: Vec<String>,
}

impl<'a> Browser<'a> {
    pub fn new(host: &'a TestHost) -> Browser<'a> {
        Browser {
            host,
            cookies: vec![],
            accept_language: "en".into(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn send(&mut self, req: Request<Body>) -> Answer {
        let resp = coophost::api::router(self.host.app.clone())
            .oneshot(req)
            .await
            .expect("response");
        let status = resp.status();
        let location = resp
            .headers()
            .get(header::LOCATION)
            .map(|l| l.to_str().unwrap().to_string());
        let content_type = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|l| l.to_str().unwrap().to_string())
            .unwrap_or_default();
        let disposition = resp
            .headers()
            .get(header::CONTENT_DISPOSITION)
            .map(|l| l.to_str().unwrap().to_string());
        let set_cookies: Vec<String> = resp
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|c| c.to_str().unwrap().to_string())
            .collect();
        for c in &set_cookies {
            let first = c.split(';').next().unwrap();
            let (k, v) = first.split_once('=').unwrap();
            self.cookies.retain(|(name, _)| name != k);
            if !c.contains("Max-Age=0") {
                self.cookies.push((k.to_string(), v.to_string()));
            }
        }
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        Answer {
            status,
            location,
            body: String::from_utf8_lossy(&bytes).into_owned(),
            content_type,
            disposition,
            set_cookies,
        }
    }

    /// GET a page.
    pub async fn get(&mut self, path: &str) -> Answer {
        let req = Request::builder()
            .method(Method::GET)
            .uri(path)
            .header(header::COOKIE, self.cookie_header())
            .header(header::ACCEPT_LANGUAGE, &self.accept_language)
            .header(header::ACCEPT, "text/html,application/xhtml+xml,*/*;q=0.8")
            .body(Body::empty())
            .unwrap();
        self.send(req).await
    }

    /// POST a form as given (no CSRF token added).
    pub async fn post_raw(&mut self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let body = serde_urlencoded::to_string(fields).unwrap();
        let req = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::COOKIE, self.cookie_header())
            .header(header::ACCEPT_LANGUAGE, &self.accept_language)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap();
        self.send(req).await
    }

    /// POST a form with the CSRF token of the page at `form_page`.
    pub async fn post(&mut self, form_page: &str, path: &str, fields: &[(&str, &str)]) -> Answer {
        let page = self.get(form_page).await;
        let token = csrf_of(&page.body);
        let mut all: Vec<(&str, &str)> = vec![("_csrf", token.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(path, &all).await
    }

    /// Log in through the form; panics unless it redirects.
    pub async fn login(&mut self, email: &str) {
        let a = self
            .post(
                "/login",
                "/login",
                &[
                    ("email", email),
                    ("password", "correct horse battery staple"),
                    ("next", "/"),
                ],
            )
            .await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "login failed: {}", a.body);
    }
}

/// The CSRF token in the first form of a page.
pub fn csrf_of(html: &str) -> String {
    let at = html
        .find("name=\"_csrf\" value=\"")
        .unwrap_or_else(|| panic!("no CSRF field in {html}"));
    let rest = &html[at + "name=\"_csrf\" value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_string()
}

#[tokio::test]
async fn a_member_logs_in_switches_language_and_logs_out() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let coop = host.coop("velo").await;
        host.member(&coop, "ana@velo.coop", &["worker"]).await;
        let other = host.coop("taxi").await;
        host.member(&other, "ana@velo.coop", &["member"]).await;

        let mut b = Browser::new(&host);
        // Anonymous: the home page offers to log in and lists public pages.
        let home = b.get("/").await;
        assert_eq!(home.status, StatusCode::OK);
        assert!(home.content_type.starts_with("text/html"));
        assert!(home.body.contains("href=\"/t/velo\""), "{}", home.body);
        // A pre-session cookie carries the login form's CSRF token.
        assert!(
            home.set_cookies
                .iter()
                .any(|c| c.starts_with("coophost_pre=")
                    && c.contains("HttpOnly")
                    && c.contains("SameSite=Lax"))
        );
        // An unknown path is a page for a browser and JSON for the API.
        let missing = b.get("/no/such/page").await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        assert!(missing.body.contains("There is no page at this address."));
        let (status, body) = host.request(Method::GET, "/no/such/page", None, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["error"]["code"], "not-found");
        // A member page sends visitors to log in and back.
        let page = b.get("/c/velo/inbox").await;
        assert_eq!(page.status, StatusCode::SEE_OTHER);
        assert_eq!(
            page.location.as_deref(),
            Some("/login?next=%2Fc%2Fvelo%2Finbox")
        );

        // Bad input: empty fields and a wrong password get the form back
        // with a message, in the browser's language.
        let a = b
            .post("/login", "/login", &[("email", ""), ("password", "")])
            .await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(a.body.contains("Enter the email address"), "{}", a.body);
        b.accept_language = "fr-FR,fr;q=0.9".into();
        let a = b
            .post(
                "/login",
                "/login",
                &[("email", "ana@velo.coop"), ("password", "wrong password!")],
            )
            .await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
        assert!(
            a.body.contains("ne correspondent à aucun compte"),
            "{}",
            a.body
        );
        assert!(a.body.contains("lang=\"fr\""));
        // Without the CSRF token the form is refused.
        let a = b
            .post_raw(
                "/login",
                &[
                    ("email", "ana@velo.coop"),
                    ("password", "correct horse battery staple"),
                ],
            )
            .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN);
        assert!(a.body.contains("expiré"), "{}", a.body);

        b.login("ana@velo.coop").await;
        let session = b
            .cookies
            .iter()
            .find(|(k, _)| k == "coophost_session")
            .expect("session cookie")
            .1
            .clone();
        // Two coops: the home page lists both and the switcher goes to one.
        let home = b.get("/").await;
        assert!(home.body.contains("href=\"/c/taxi\"") && home.body.contains("href=\"/c/velo\""));
        let s = b.get("/switch?coop=taxi").await;
        assert_eq!(s.location.as_deref(), Some("/c/taxi"));
        let s = b.get("/switch?coop=elsewhere").await;
        assert_eq!(s.location.as_deref(), Some("/"));
        let c = b.get("/c/velo").await;
        assert_eq!(c.status, StatusCode::OK);
        assert!(c.body.contains("Bonjour ana."), "{}", c.body);
        // Not a member of a third coop: refused with a page, not a crash.
        host.coop("lodging").await;
        let c = b.get("/c/lodging").await;
        assert_eq!(c.status, StatusCode::FORBIDDEN);

        // The switcher overrides the browser's language.
        let a = b
            .post("/c/velo", "/lang", &[("lang", "en"), ("back", "/c/velo")])
            .await;
        assert_eq!(a.location.as_deref(), Some("/c/velo"));
        let c = b.get("/c/velo").await;
        assert!(c.body.contains("Hello ana."), "{}", c.body);
        let a = b
            .post(
                "/c/velo",
                "/lang",
                &[("lang", "xx"), ("back", "//evil.example")],
            )
            .await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
        let a = b
            .post(
                "/c/velo",
                "/lang",
                &[("lang", "fr"), ("back", "//evil.example")],
            )
            .await;
        assert_eq!(a.location.as_deref(), Some("/"));

        // A form from a page still open in another tab.
        let stale_form = csrf_of(&b.get("/c/velo").await.body);
        // Log out: the cookie goes and the token no longer works.
        let a = b.post("/c/velo", "/logout", &[]).await;
        assert_eq!(a.status, StatusCode::SEE_OTHER);
        assert!(!b.cookies.iter().any(|(k, _)| k == "coophost_session"));
        let (status, _) = host
            .request(Method::GET, "/v1/me", Some(&session), None)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        // That tab posts with the ended session: told to log in again (in
        // the page's language), not a bare CSRF refusal; nothing done.
        b.cookies.push(("coophost_session".into(), session.clone()));
        let a = b
            .post_raw(
                "/lang",
                &[("_csrf", &stale_form), ("lang", "en"), ("back", "/")],
            )
            .await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.body);
        assert!(a.body.contains("Reconnectez-vous"), "{}", a.body);
        assert!(a.body.contains("href=\"/login?next=%2F\""), "{}", a.body);
        assert!(a.location.is_none());
        host.finish().await;
    }
}

#[tokio::test]
async fn the_inbox_shows_notifications_and_marks_them_read() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        let coop = host.coop("velo").await;
        let admin = host.member(&coop, "admin@velo.coop", &["admin"]).await;
        host.member(&coop, "ana@velo.coop", &["worker"]).await;
        // Opening a proposal notifies every member.
        let (status, body) = host
            .request(
                Method::POST,
                "/v1/coops/velo/proposals",
                Some(&admin),
                Some(serde_json::json!({
                    "title": "Buy a cargo bike",
                    "body": "We buy a second cargo bike.",
                    "change": {"kind": "resolution"}
                })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");

        let mut b = Browser::new(&host);
        b.login("ana@velo.coop").await;
        let page = b.get("/c/velo/inbox").await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(
            page.body.contains("A proposal is open for votes"),
            "{}",
            page.body
        );
        assert!(page.body.contains("class=\"card unread\""));
        assert!(page.body.contains("Inbox (1)"));
        // A malformed id is a clear 422, and nothing is marked.
        let a = b
            .post("/c/velo/inbox", "/c/velo/inbox/read", &[("id", "seven")])
            .await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(b.get("/c/velo/inbox").await.body.contains("Inbox (1)"));
        let a = b.post("/c/velo/inbox", "/c/velo/inbox/read", &[]).await;
        assert_eq!(a.location.as_deref(), Some("/c/velo/inbox?done=1"));
        let page = b.get("/c/velo/inbox?done=1").await;
        assert!(page.body.contains("Marked as read."));
        assert!(!page.body.contains("class=\"card unread\""));
        assert!(!page.body.contains("Inbox (1)"));
        host.finish().await;
    }
}
