//! Test harness: one shared engine and compile cache for the whole binary,
//! a fresh database per test on each backend (a SQLite file, and a fresh
//! PostgreSQL schema), and HTTP requests through `api::router`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use coophost::app::App;
use coophost::clock::{ManualClock, SharedClock};
use coophost::db::Db;
use coophost::identity::{self, Coop, NewMember};
use coophost::runtime::Engine;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The engine every test shares, with its compile cache under target/.
pub fn engine() -> Arc<Engine> {
    static ENGINE: OnceLock<Arc<Engine>> = OnceLock::new();
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .try_init();
    ENGINE
        .get_or_init(|| Engine::new(root().join("target/test-compile-cache")).expect("engine"))
        .clone()
}

/// A built component and its manifest from target/components.
pub fn component(name: &str) -> (Vec<u8>, String) {
    let dir = root().join("target/components");
    let wasm = dir.join(format!("{name}.wasm"));
    let bytes = std::fs::read(&wasm).unwrap_or_else(|e| {
        panic!(
            "missing {}: {e}; run scripts/build-components.sh (scripts/test does it)",
            wasm.display()
        )
    });
    let manifest = std::fs::read_to_string(dir.join(format!("{name}.toml")))
        .unwrap_or_else(|e| panic!("missing manifest for {name}: {e}"));
    (bytes, manifest)
}

/// Which database a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub fn postgres_base_url() -> String {
    std::env::var("COOPHOST_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// The backends available: SQLite always; PostgreSQL when reachable. Under
/// CI (`CI=true`) an unreachable PostgreSQL fails the run instead of being
/// skipped.
pub async fn backends() -> Vec<Backend> {
    static PG: tokio::sync::OnceCell<bool> = tokio::sync::OnceCell::const_new();
    let pg = *PG
        .get_or_init(|| async {
            sqlx::any::install_default_drivers();
            let url = postgres_base_url();
            match tokio::time::timeout(std::time::Duration::from_secs(5), sqlx::AnyPool::connect(&url)).await {
                Ok(Ok(pool)) => {
                    pool.close().await;
                    true
                }
                other => {
                    let why = match other {
                        Ok(Err(e)) => e.to_string(),
                        _ => "timed out".to_string(),
                    };
                    if std::env::var("CI").as_deref() == Ok("true") {
                        panic!("PostgreSQL at {url} is required under CI: {why}");
                    }
                    eprintln!("SKIPPED PostgreSQL tests: cannot reach {url} ({why}); set COOPHOST_TEST_POSTGRES_URL");
                    false
                }
            }
        })
        .await;
    if pg {
        vec![Backend::Sqlite, Backend::Postgres]
    } else {
        vec![Backend::Sqlite]
    }
}

/// One host on a fresh database.
pub struct TestHost {
    pub app: Arc<App>,
    pub clock: ManualClock,
    /// The database URL (for PostgreSQL, with the test's search_path).
    pub url: String,
    cleanup: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

impl TestHost {
    /// A fresh host on `backend`.
    pub async fn new(backend: Backend) -> TestHost {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let (url, cleanup, dir) = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("tempdir");
                let url = format!("sqlite://{}", dir.path().join("test.db").display());
                (url, None, Some(dir))
            }
            Backend::Postgres => {
                let base = postgres_base_url();
                let schema = format!("coophost_t{}_{}_{}", std::process::id(), n, rand_suffix());
                let pool = sqlx::AnyPool::connect(&base).await.expect("postgres");
                sqlx::query(&format!("CREATE SCHEMA {schema}"))
                    .execute(&pool)
                    .await
                    .expect("create schema");
                pool.close().await;
                let sep = if base.contains('?') { '&' } else { '?' };
                let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
                (url, Some((base, schema)), None)
            }
        };
        engine();
        let db = Db::connect(&url).await.expect("connect");
        let clock = ManualClock::new(1_790_000_000_000);
        let shared: SharedClock = Arc::new(clock.clone());
        let app = App::new(db, shared, engine()).await.expect("app");
        TestHost {
            app,
            clock,
            url,
            cleanup,
            _dir: dir,
        }
    }

    /// Drop the PostgreSQL schema (SQLite files go with the temp dir).
    pub async fn finish(mut self) {
        // The audit writer appends in the background: let it finish first.
        self.app.flush_audit().await;
        self.app.db.pool.close().await;
        if let Some((base, schema)) = self.cleanup.take() {
            let pool = sqlx::AnyPool::connect(&base).await.expect("postgres");
            sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                .execute(&pool)
                .await
                .expect("drop schema");
            pool.close().await;
        }
    }

    /// Create a coop.
    pub async fn coop(&self, slug: &str) -> Coop {
        identity::create_coop(
            &self.app.db,
            &*self.app.clock,
            slug,
            &format!("Coop {slug}"),
        )
        .await
        .expect("create coop")
    }

    /// Add a member with roles and log them in; returns their token.
    pub async fn member(&self, coop: &Coop, email: &str, roles: &[&str]) -> String {
        let password = "correct horse battery staple";
        identity::add_member(
            &self.app.db,
            &*self.app.clock,
            coop,
            NewMember {
                email: email.into(),
                display_name: email.split('@').next().unwrap().into(),
                password: Some(password.into()),
                roles: roles.iter().map(|r| r.to_string()).collect(),
                college: None,
            },
        )
        .await
        .expect("add member");
        let (status, body) = self
            .request(
                Method::POST,
                "/v1/auth/login",
                None,
                Some(serde_json::json!({"email": email, "password": password})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "login failed: {body}");
        body["token"].as_str().expect("token").to_string()
    }

    /// Create a host operator account `email` (the password every test
    /// account has) and log it in; returns the token.
    pub async fn operator(&self, email: &str) -> String {
        identity::create_user(
            &self.app.db,
            &*self.app.clock,
            email,
            "Host operator",
            "correct horse battery staple",
            true,
        )
        .await
        .expect("create operator");
        self.login(email).await
    }

    /// Log in again a member added by [`TestHost::member`] (sessions expire
    /// after 12 hours of test clock).
    pub async fn login(&self, email: &str) -> String {
        let (status, body) = self
            .request(
                Method::POST,
                "/v1/auth/login",
                None,
                Some(
                    serde_json::json!({"email": email, "password": "correct horse battery staple"}),
                ),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "login failed: {body}");
        body["token"].as_str().expect("token").to_string()
    }

    /// Log in and ask for the coop's page: the status tells whether the
    /// account is a member of `coop` (200) or not (403).
    pub async fn login_status(&self, email: &str, coop: &str) -> (StatusCode, serde_json::Value) {
        let token = self.login(email).await;
        self.request(
            Method::GET,
            &format!("/v1/coops/{coop}"),
            Some(&token),
            None,
        )
        .await
    }

    /// Install a built component into a coop.
    pub async fn install(&self, coop: &Coop, name: &str) {
        let (bytes, manifest) = component(name);
        coophost::plugins::install(&self.app, coop, &bytes, &manifest, &Default::default())
            .await
            .unwrap_or_else(|e| panic!("install {name}: {e}"));
    }

    /// Send a request through the router; returns the status and JSON body
    /// (`Value::Null` for an empty body).
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let raw = body.map(|b| b.to_string());
        self.raw_request(method, path, token, raw).await
    }

    /// Like [`request`], as if sent over TCP from `peer` (the address the
    /// API throttles by).
    #[allow(dead_code)] // for the throttling tests that land next
    pub async fn request_from(
        &self,
        peer: std::net::SocketAddr,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.send(Some(peer), method, path, token, body.map(|b| b.to_string()))
            .await
    }

    /// Like [`request`] with a raw body.
    pub async fn raw_request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<String>,
    ) -> (StatusCode, Value) {
        self.send(None, method, path, token, body).await
    }

    async fn send(
        &self,
        peer: Option<std::net::SocketAddr>,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<String>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(peer) = peer {
            req = req.extension(axum::extract::ConnectInfo(peer));
        }
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let req = req
            .body(body.map(Body::from).unwrap_or_else(Body::empty))
            .expect("request");
        let resp = coophost::api::router(self.app.clone())
            .oneshot(req)
            .await
            .expect("response");
        let status = resp.status();
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            // Non-JSON bodies (metrics) come back as a string.
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        (status, value)
    }

    /// Call an interface function; returns status and body.
    pub async fn call(
        &self,
        coop: &str,
        token: Option<&str>,
        interface: &str,
        function: &str,
        args: Value,
    ) -> (StatusCode, Value) {
        self.request(
            Method::POST,
            &format!("/v1/coops/{coop}/call/{interface}/{function}"),
            token,
            Some(args),
        )
        .await
    }
}

fn rand_suffix() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let n = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{n:x}")
}
