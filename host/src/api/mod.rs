//! The JSON API: the only code that knows HTTP request shapes (axum).

mod accounts;
mod audit;
mod auth;
mod consent;
mod credentials;
mod error;
mod export;
mod governance;
mod moderation;
mod money;
mod openapi;
mod ratings;
mod transparency;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

pub use credentials::VERIFY_PER_IP;
pub use error::ApiError;
pub use openapi::{HOST_ROUTES, RouteDoc};

use crate::app::App;
use crate::error::Error;
use crate::governance::rules::Kind;
use crate::governance::{grants, proposals};
use crate::identity::{self, Actor, Coop, Principal};
use crate::ledger::policies;
use crate::{events, plugins, shifts};

/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

type ApiResult<T> = Result<T, ApiError>;

/// The whole API and the web pages, ready to serve or to test with `oneshot`.
pub fn router(app: Arc<App>) -> Router {
    let api = api_router(app.clone());
    let in_process = api.clone().fallback(|| async { not_found() });
    // The web router's fallback answers unknown paths: JSON for API
    // clients, a page for browsers.
    api.merge(
        crate::web::router(app, in_process)
            .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
            .layer(tower_http::trace::TraceLayer::new_for_http()),
    )
}

/// The JSON answer for a path that is no route.
pub fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not-found",
        "no such route; see /openapi.json",
    )
}

/// The JSON bodies this module's routes read, for the OpenAPI document.
pub(super) const BODIES: &[openapi::BodyDoc] = &[
    openapi::BodyDoc {
        method: "post",
        path: "/v1/coops",
        schema: openapi::schema_of::<NewCoop>,
    },
    openapi::BodyDoc {
        method: "post",
        path: "/v1/coops/{coop}/api-keys",
        schema: openapi::schema_of::<NewKey>,
    },
    openapi::BodyDoc {
        method: "post",
        path: "/v1/coops/{coop}/call/{package}/{interface}/{function}",
        schema: openapi::schema_of::<serde_json::Map<String, Value>>,
    },
    openapi::BodyDoc {
        method: "post",
        path: "/v1/coops/{coop}/earnings-floor",
        schema: openapi::schema_of::<policies::NewFloor>,
    },
    openapi::BodyDoc {
        method: "put",
        path: "/v1/coops/{coop}/limit-ceilings",
        schema: openapi::schema_of::<openapi::Overrides>,
    },
    openapi::BodyDoc {
        method: "put",
        path: "/v1/coops/{coop}/me/worker-status",
        schema: openapi::schema_of::<shifts::WorkerStatus>,
    },
    openapi::BodyDoc {
        method: "post",
        path: "/v1/coops/{coop}/members",
        schema: openapi::schema_of::<identity::NewMember>,
    },
    openapi::BodyDoc {
        method: "post",
        path: "/v1/coops/{coop}/notifications/read",
        schema: openapi::schema_of::<MarkRead>,
    },
    openapi::BodyDoc {
        method: "put",
        path: "/v1/coops/{coop}/plugins/{plugin}/config/{name}",
        schema: openapi::schema_of::<ConfigValue>,
    },
    openapi::BodyDoc {
        method: "put",
        path: "/v1/coops/{coop}/plugins/{plugin}/limits",
        schema: openapi::schema_of::<openapi::Overrides>,
    },
    openapi::BodyDoc {
        method: "post",
        path: "/v1/coops/{coop}/split-policies",
        schema: openapi::schema_of::<NewSplit>,
    },
];

/// Every host route's JSON body, for the OpenAPI document.
fn all_bodies() -> impl Iterator<Item = &'static openapi::BodyDoc> {
    [
        BODIES,
        accounts::BODIES,
        auth::BODIES,
        consent::BODIES,
        credentials::BODIES,
        export::BODIES,
        governance::BODIES,
        moderation::BODIES,
        money::BODIES,
        ratings::BODIES,
    ]
    .into_iter()
    .flatten()
}

/// The JSON API alone (the web pages call it in process).
fn api_router(app: Arc<App>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/openapi.json", get(openapi_json))
        .route("/metrics", get(metrics))
        .route("/v1/auth/logout", post(logout))
        .route("/v1/me", get(me))
        .route("/v1/coops", get(list_coops).post(create_coop))
        .route("/v1/coops/{coop}", get(get_coop))
        .route("/v1/coops/{coop}/openapi.json", get(coop_openapi_json))
        .route(
            "/v1/coops/{coop}/members",
            get(list_members).post(add_member),
        )
        .route("/v1/coops/{coop}/members/{member}", get(get_member))
        .route("/v1/coops/{coop}/api-keys", post(create_api_key))
        .route("/v1/coops/{coop}/api-keys/{key}", delete(revoke_api_key))
        .route("/v1/coops/{coop}/plugins", get(list_plugins))
        .route("/v1/coops/{coop}/plugins/{plugin}", get(get_plugin))
        .route("/v1/coops/{coop}/plugins/{plugin}/config", get(get_config))
        .route(
            "/v1/coops/{coop}/plugins/{plugin}/algorithm",
            get(get_algorithm),
        )
        .route(
            "/v1/coops/{coop}/plugins/{plugin}/limits",
            get(get_limits).put(set_limits),
        )
        .route(
            "/v1/coops/{coop}/limit-ceilings",
            get(get_ceilings).put(set_ceilings),
        )
        .route(
            "/v1/coops/{coop}/plugins/{plugin}/members/{pseudonym}",
            get(plugin_member),
        )
        .route(
            "/v1/coops/{coop}/plugins/{plugin}/config/{name}",
            put(set_config),
        )
        .route("/v1/coops/{coop}/interfaces", get(list_interfaces))
        .route("/v1/coops/{coop}/notifications", get(notifications))
        .route(
            "/v1/coops/{coop}/notifications/read",
            post(mark_notifications_read),
        )
        .route(
            "/v1/coops/{coop}/notifications/stream",
            get(notification_stream),
        )
        .route("/v1/coops/{coop}/shifts", get(list_shifts))
        .route("/v1/coops/{coop}/shifts/current", get(current_shift))
        .route("/v1/coops/{coop}/shifts/start", post(start_shift))
        .route("/v1/coops/{coop}/shifts/end", post(end_shift))
        .route(
            "/v1/coops/{coop}/me/worker-status",
            get(get_worker_status).put(set_worker_status),
        )
        .route("/v1/coops/{coop}/jobs", get(list_jobs))
        .route(
            "/v1/coops/{coop}/split-policies",
            get(list_split).post(set_split),
        )
        .route(
            "/v1/coops/{coop}/earnings-floor",
            get(list_floor).post(set_floor),
        )
        .route(
            "/v1/coops/{coop}/call/{package}/{interface}/{function}",
            post(call),
        )
        .merge(money::routes())
        .merge(credentials::routes())
        .merge(ratings::routes())
        .merge(consent::routes())
        .merge(audit::routes())
        .merge(export::routes())
        .merge(transparency::routes())
        .merge(governance::routes())
        .merge(moderation::routes())
        .merge(auth::routes())
        .merge(accounts::routes())
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(app)
}

/// How long a stop waits for requests in flight (a live notification
/// stream never ends by itself) before the audit queue is written anyway.
pub const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Serve the API on `listener` until Ctrl-C or SIGTERM (what systemd,
/// Docker and Kubernetes send), then write the audit items still queued.
pub async fn serve(listener: tokio::net::TcpListener, app: Arc<App>) -> std::io::Result<()> {
    serve_until(listener, app, stop_signal()).await
}

/// [`serve`] until `stop` ends (from [`stop_signal`], made before the
/// host says it is listening, so a signal that follows at once is not
/// missed).
pub async fn serve_until(
    listener: tokio::net::TcpListener,
    app: Arc<App>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let stopping = Arc::new(tokio::sync::Notify::new());
    let signalled = stopping.clone();
    let served = axum::serve(
        listener,
        router(app.clone()).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        stop.await;
        tracing::info!("stopping: finishing requests in flight, then writing the audit queue");
        signalled.notify_one();
    });
    let served = tokio::select! {
        served = served => served,
        () = async {
            stopping.notified().await;
            tokio::time::sleep(STOP_GRACE).await;
        } => {
            tracing::warn!("requests still in flight after {STOP_GRACE:?}: stopping anyway");
            Ok(())
        }
    };
    app.flush_audit().await;
    served
}

/// Ctrl-C, or SIGTERM on Unix: listened for from this call on (the
/// handlers are installed now, not when the future is first polled), and
/// the future ends at the first of them.
pub fn stop_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        async move {
            match (term, int) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                    }
                }
                (term, int) => {
                    let e = term.err().or(int.err()).map(|e| e.to_string());
                    tracing::warn!(error = ?e, "cannot listen for SIGTERM; only Ctrl-C stops the host cleanly");
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// The caller's credentials, from `Authorization: Bearer ...`; none means
/// anonymous.
pub struct Auth(pub Principal, pub Option<String>);

impl FromRequestParts<Arc<App>> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> ApiResult<Self> {
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Ok(Auth(Principal::Anonymous, None));
        };
        let value = value.to_str().map_err(|_| {
            Error::Unauthenticated("the Authorization header is not valid text".into())
        })?;
        let token = value
            .strip_prefix("Bearer ")
            .ok_or_else(|| {
                Error::Unauthenticated("use Authorization: Bearer <token or API key>".into())
            })?
            .trim();
        let principal = principal_for(app, token).await?;
        Ok(Auth(principal, Some(token.to_string())))
    }
}

/// Who a bearer credential is, with the host's own rules applied: every
/// route that reads a credential goes through here.
async fn principal_for(app: &App, token: &str) -> ApiResult<Principal> {
    let mut principal = identity::authenticate(&app.db, &*app.clock, token).await?;
    // `--require-operator-second-factor`: operator powers only in
    // sessions opened with a second factor, enrolled or not.
    if let Principal::User {
        is_operator,
        second_factor: false,
        ..
    } = &mut principal
        && app.requires_operator_second_factor()
    {
        *is_operator = false;
    }
    Ok(principal)
}

/// The client's IP address, for throttling: the TCP peer, or what a
/// trusted proxy forwarded (see [`App::client_ip`]). `None` for a request
/// made in process without a peer (tests, scripts through `oneshot`).
pub struct ClientIp(pub Option<std::net::IpAddr>);

impl ClientIp {
    /// The address as a throttling key (`-` when unknown: such requests
    /// share one bucket rather than escaping the limit). An IPv6 client is
    /// keyed by its /64 network: one subscriber or server usually holds a
    /// whole /64, so keying single addresses would give an attacker 2^64
    /// fresh keys. An IPv4 address mapped into IPv6 is keyed as IPv4.
    pub fn key(&self) -> String {
        match self.0 {
            None => "-".to_string(),
            Some(std::net::IpAddr::V4(ip)) => ip.to_string(),
            Some(std::net::IpAddr::V6(ip)) => match ip.to_ipv4_mapped() {
                Some(v4) => v4.to_string(),
                None => {
                    let net = u128::from(ip) & !((1u128 << 64) - 1);
                    format!("{}/64", std::net::Ipv6Addr::from(net))
                }
            },
        }
    }
}

impl FromRequestParts<Arc<App>> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<App>,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        let forwarded = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok());
        Ok(ClientIp(app.client_ip(peer, forwarded)))
    }
}

/// Path parameters whose every failure is a JSON 400 saying which segment
/// did not parse (axum's own extractor answers in plain text).
pub struct Path<T>(pub T);

impl<T> FromRequestParts<Arc<App>> for Path<T>
where
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> ApiResult<Self> {
        axum::extract::Path::<T>::from_request_parts(parts, app)
            .await
            .map(|axum::extract::Path(v)| Path(v))
            .map_err(|e| Error::BadRequest(format!("bad path: {}", e.body_text())).into())
    }
}

/// A query string whose every failure is a JSON 400 saying what was wrong.
pub struct Query<T>(pub T);

impl<T> FromRequestParts<Arc<App>> for Query<T>
where
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> ApiResult<Self> {
        axum::extract::Query::<T>::from_request_parts(parts, app)
            .await
            .map(|axum::extract::Query(v)| Query(v))
            .map_err(|e| Error::BadRequest(format!("bad query: {}", e.body_text())).into())
    }
}

/// A JSON body whose every failure is a 400 or 413 with a clear message.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned> FromRequest<Arc<App>> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &Arc<App>) -> ApiResult<Self> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too-large",
                    format!("request body is larger than {MAX_BODY_BYTES} bytes"),
                )
            } else {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad-request",
                    format!("cannot read request body: {e}"),
                )
            }
        })?;
        let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"null"
        } else {
            &bytes
        };
        serde_json::from_slice(bytes).map(Body).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad-json",
                format!("request body is not the expected JSON: {e}"),
            )
        })
    }
}

async fn scoped(app: &App, principal: &Principal, slug: &str) -> ApiResult<(Coop, Actor, bool)> {
    let coop = app.coop(slug).await?;
    let mut actor = identity::actor_in(&app.db, principal, &coop).await?;
    let withheld = auth::second_factor_rule(app, principal, &coop, &mut actor).await?;
    Ok((coop, actor, withheld))
}

/// The coop named by the `{coop}` path segment and who is acting in it.
///
/// Extracted before the body, so a caller from another coop is refused
/// (401/403) before anything about the request is looked at.
///
/// A `Tenant` is someone who may act in the coop: a suspended, removed or
/// departed member is refused with 403 while it is extracted, before any
/// body is read. The routes such members keep (their own data, appeal and
/// money) take [`OwnData`] instead, so that choice is visible in each
/// route's signature. [`Tenant::admin`] narrows to admins.
pub struct Tenant {
    /// The coop.
    pub coop: Coop,
    /// The caller within it.
    pub actor: Actor,
    /// The caller is an admin acting without the role: the coop requires a
    /// second factor and this session was opened without one.
    pub admin_withheld: bool,
    /// The caller's membership status (`active`, `suspended`, `removed`
    /// or `left`), for a person with a member row in the coop.
    pub status: Option<String>,
}

impl FromRequestParts<Arc<App>> for Tenant {
    type Rejection = ApiError;

    /// Refuses a suspended, removed or departed member (403) here, before
    /// the body is read: routes they keep take [`OwnData`] instead.
    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> ApiResult<Self> {
        let OwnData(t) = OwnData::from_request_parts(parts, app).await?;
        t.refuse_inactive()?;
        Ok(t)
    }
}

/// The coop and caller of a route about the caller's own data, appeal or
/// money, which a suspended, removed or departed member keeps (their
/// export, statements, wallet, payouts, consents, ratings, credential,
/// deactivations and appeal). Every other coop route takes [`Tenant`].
pub struct OwnData(pub Tenant);

impl FromRequestParts<Arc<App>> for OwnData {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> ApiResult<Self> {
        let Auth(principal, _) = Auth::from_request_parts(parts, app).await?;
        let params = RawPathParams::from_request_parts(parts, app)
            .await
            .map_err(|e| Error::BadRequest(format!("bad path: {e}")))?;
        let slug = params
            .iter()
            .find(|(k, _)| *k == "coop")
            .map(|(_, v)| v.to_string())
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("route has no {{coop}} segment")))?;
        let (coop, actor, admin_withheld) = scoped(app, &principal, &slug).await?;
        let status = match actor.member_id {
            Some(m) => identity::member_status(&app.db, coop.id, m).await?,
            None => None,
        };
        Ok(OwnData(Tenant {
            coop,
            actor,
            admin_withheld,
            status,
        }))
    }
}

impl OwnData {
    /// Any member of the coop whatever their status, a service key, or the
    /// host operator. Routes about oneself then take the member id with
    /// [`own_member`].
    pub fn own_data(self) -> ApiResult<(Coop, Actor)> {
        self.0.any_member()
    }
}

impl Tenant {
    /// Whether the caller may act in the coop: an active member, a
    /// service key, or the host operator (who acts as such even where
    /// they are also a deactivated member).
    pub fn is_active(&self) -> bool {
        let a = &self.actor;
        match self.status.as_deref() {
            Some(status) => status == "active" || a.operator,
            None => a.service_key.is_some() || a.operator,
        }
    }

    /// 403 for a member who is not active, naming their status and what
    /// they keep.
    fn refuse_inactive(&self) -> ApiResult<()> {
        match self.status.as_deref() {
            Some(status) if !self.is_active() => Err(Error::Forbidden(format!(
                "your membership of {} is {status}: you keep your own data (export, statements, \
                 wallet, payouts, consents, ratings, credential), your appeal and your money, \
                 but cannot act in the coop",
                self.coop.slug
            ))
            .into()),
            _ => Ok(()),
        }
    }

    /// Someone acting in the coop: an active member (any role), a service
    /// key, or the host operator. (The extractor already refused the
    /// others; checked again so a `Tenant` built otherwise cannot slip.)
    pub fn active_member(self) -> ApiResult<(Coop, Actor)> {
        self.refuse_inactive()?;
        self.any_member()
    }

    fn any_member(self) -> ApiResult<(Coop, Actor)> {
        let a = &self.actor;
        if a.member_id.is_none() && a.service_key.is_none() && !a.operator {
            return Err(Error::Unauthenticated(format!(
                "log in as a member of {}",
                self.coop.slug
            ))
            .into());
        }
        Ok((self.coop, self.actor))
    }

    /// An active admin of the coop, or the host operator; an admin whose
    /// coop requires a second factor they did not log in with is told so.
    pub fn admin(self) -> ApiResult<(Coop, Actor)> {
        let withheld = self.admin_withheld;
        let (coop, actor) = self.active_member()?;
        if withheld && !actor.operator {
            return Err(auth::admin_needs_second_factor(&coop));
        }
        if !actor.has_role("admin") && !actor.operator {
            return Err(
                Error::Forbidden(format!("only admins of {} may do this", coop.slug)).into(),
            );
        }
        Ok((coop, actor))
    }
}

async fn healthz(State(app): State<Arc<App>>) -> ApiResult<Json<Value>> {
    sqlx::query("SELECT 1")
        .execute(&app.db.pool)
        .await
        .map_err(Error::from)?;
    Ok(Json(json!({"status": "ok"})))
}

/// Prometheus metrics, which name every coop and plugin: for the host
/// operator (their login) or a scraper holding the metrics token
/// (`serve --metrics-token`).
async fn metrics(
    State(app): State<Arc<App>>,
    headers: axum::http::HeaderMap,
) -> ApiResult<([(header::HeaderName, &'static str); 1], String)> {
    let refuse = || {
        Error::Unauthenticated(
            "metrics are for the host operator: log in as the operator, or send the metrics \
             token set with serve --metrics-token (Authorization: Bearer ...)"
                .into(),
        )
    };
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(refuse)?;
    if !app.is_metrics_token(token) {
        match principal_for(&app, token).await {
            Ok(Principal::User {
                is_operator: true, ..
            }) => {}
            Ok(_) => {
                return Err(
                    Error::Forbidden("metrics are for the host operator only".into()).into(),
                );
            }
            Err(_) => return Err(refuse().into()),
        }
    }
    Ok((
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics.render() + &app.audit.render_metrics(),
    ))
}

async fn get_limits(
    State(app): State<Arc<App>>,
    t: Tenant,
    Path((_, name)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let (coop, _) = t.active_member()?;
    let installed = plugins::get(&app.db, coop.id, &name).await?;
    let loaded = app.plugin(installed.id).await?;
    let ceilings = plugins::ceilings::get(&app.db, coop.id).await?;
    Ok(Json(
        json!({"limits": loaded.limits, "overrides": installed.limits, "ceilings": ceilings.limits}),
    ))
}

/// A plugin's limits: a governed change of the plugin (`set-limits`), made
/// directly by an admin only where the coop's rules let admins decide
/// plugin changes (else 403: open a proposal), each at most the ceiling
/// the host operator set for the coop (else 422 naming it), and recorded
/// in the decision log in the change's transaction.
async fn set_limits(
    State(app): State<Arc<App>>,
    t: Tenant,
    Path((_, name)): Path<(String, String)>,
    Body(overrides): Body<Value>,
) -> ApiResult<Json<Value>> {
    let (coop, actor) = t.admin()?;
    // Limits are a governed setting like the plugin itself: a direct
    // change where the coop's rules let admins change plugins, else a
    // `set-limits` proposal; either way under the operator's ceilings and
    // in the decision log, in the change's transaction.
    let change = proposals::Change::SetLimits {
        plugin: name.clone(),
        limits: overrides.clone(),
    };
    proposals::direct_change(
        &app,
        coop.id,
        &actor,
        &change,
        "set directly by an admin",
        app.clock.now_ms(),
    )
    .await?;
    let id = plugins::get(&app.db, coop.id, &name).await?.id;
    app.unload(id);
    let loaded = app.plugin(id).await?;
    let ceilings = plugins::ceilings::get(&app.db, coop.id).await?;
    Ok(Json(
        json!({"limits": loaded.limits, "overrides": overrides, "ceilings": ceilings.limits}),
    ))
}

/// What the host operator allows the coop: ceilings over its plugins'
/// limits and its share of calls in flight. Members may read them.
async fn get_ceilings(State(app): State<Arc<App>>, t: Tenant) -> ApiResult<Json<Value>> {
    let (coop, _) = t.active_member()?;
    let c = plugins::ceilings::get(&app.db, coop.id).await?;
    Ok(Json(ceilings_json(&c)))
}

/// Set the coop's ceilings: the host operator only (`{}` restores the
/// host's defaults).
async fn set_ceilings(
    State(app): State<Arc<App>>,
    t: Tenant,
    Body(set): Body<Value>,
) -> ApiResult<Json<Value>> {
    let (coop, actor) = t.active_member()?;
    if !actor.operator {
        return Err(Error::Forbidden(
            "only the host operator sets a coop's limit ceilings; the coop's admins choose each plugin's limits under them (PUT /v1/coops/{coop}/plugins/{plugin}/limits)".into(),
        )
        .into());
    }
    let c = app.set_ceilings(&coop, &set, &actor).await?;
    Ok(Json(ceilings_json(&c)))
}

fn ceilings_json(c: &plugins::ceilings::CoopCeilings) -> Value {
    json!({"ceilings": c.limits, "instances": c.instances, "timers": c.timers, "set": c.set})
}

/// The member behind a pseudonymous member id a plugin was given, for the
/// coop's admins: plugins only ever see such ids, and a person acting on
/// what a plugin says (a dispatcher assigning its suggested courier) needs
/// to know who it means. Each read is recorded as an access to that
/// member's data, which they see in their own access log.
async fn plugin_member(
    State(app): State<Arc<App>>,
    t: Tenant,
    Path((_, plugin, pseudonym)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let (coop, actor) = t.admin()?;
    plugins::get(&app.db, coop.id, &plugin).await?;
    let id = identity::member_for_pseudonym(&app.db, coop.id, &plugin, &pseudonym)
        .await?
        .ok_or_else(|| {
            Error::NotFound(format!(
                "plugin {plugin} was never given the member id {pseudonym:?}"
            ))
        })?;
    let member = identity::get_member(&app.db, coop.id, id).await?;
    app.audit_access(
        &actor,
        id,
        &format!("member id in {plugin}"),
        app.clock.now_ms(),
    )
    .await?;
    Ok(Json(json!({"pseudonym": pseudonym, "member": member})))
}

/// The public document: host routes only, so it reveals no coop and no
/// plugin.
async fn openapi_json() -> Json<Value> {
    Json(openapi::host_document())
}

/// The coop's own document, with the interfaces it serves, for its
/// members.
async fn coop_openapi_json(State(app): State<Arc<App>>, t: Tenant) -> ApiResult<Json<Value>> {
    let (coop, _) = t.active_member()?;
    Ok(Json(openapi::coop_document(&app, coop.id).await?))
}

async fn logout(State(app): State<Arc<App>>, Auth(p, token): Auth) -> ApiResult<StatusCode> {
    match (p, token) {
        (Principal::User { .. }, Some(t)) => {
            identity::logout(&app.db, &*app.clock, &t).await?;
            Ok(StatusCode::NO_CONTENT)
        }
        _ => Err(
            Error::Unauthenticated("log in first: there is no session to log out".into()).into(),
        ),
    }
}

async fn me(State(app): State<Arc<App>>, Auth(p, _): Auth) -> ApiResult<Json<Value>> {
    match p {
        Principal::User { user_id, .. } => {
            let info = identity::user_info(&app.db, user_id).await?;
            let coops = identity::coops_of_user(&app.db, user_id).await?;
            Ok(Json(json!({"user": info, "coops": coops})))
        }
        Principal::Service {
            coop_id,
            role,
            key_id,
        } => {
            let coop = identity::list_coops(&app.db)
                .await?
                .into_iter()
                .find(|c| c.id == coop_id);
            Ok(Json(
                json!({"service_key": key_id, "role": role, "coops": coop.into_iter().collect::<Vec<_>>()}),
            ))
        }
        Principal::Anonymous => Err(Error::Unauthenticated("log in first".into()).into()),
    }
}

async fn list_coops(State(app): State<Arc<App>>, Auth(p, _): Auth) -> ApiResult<Json<Value>> {
    let coops = match p {
        Principal::User {
            is_operator: true, ..
        } => identity::list_coops(&app.db).await?,
        Principal::User { user_id, .. } => identity::coops_of_user(&app.db, user_id).await?,
        Principal::Service { coop_id, .. } => identity::list_coops(&app.db)
            .await?
            .into_iter()
            .filter(|c| c.id == coop_id)
            .collect(),
        Principal::Anonymous => return Err(Error::Unauthenticated("log in first".into()).into()),
    };
    Ok(Json(json!({"coops": coops})))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct NewCoop {
    slug: String,
    name: String,
}

async fn create_coop(
    State(app): State<Arc<App>>,
    Auth(p, _): Auth,
    Body(b): Body<NewCoop>,
) -> ApiResult<(StatusCode, Json<Coop>)> {
    match p {
        Principal::User {
            is_operator: true, ..
        } => {}
        Principal::Anonymous => return Err(Error::Unauthenticated("log in first".into()).into()),
        _ => return Err(Error::Forbidden("only the host operator may create coops".into()).into()),
    }
    let coop = identity::create_coop(&app.db, &*app.clock, &b.slug, &b.name).await?;
    Ok((StatusCode::CREATED, Json(coop)))
}

/// The coop and the caller's place in it; deactivated members see it too
/// (their status, no roles), so their pages can show what they keep.
async fn get_coop(t: OwnData) -> ApiResult<Json<Value>> {
    let status = t.0.status.clone();
    let withheld = t.0.admin_withheld;
    let (coop, actor) = t.own_data()?;
    Ok(Json(
        json!({"coop": coop, "you": {"roles": actor.roles, "college": actor.college, "member_id": actor.member_id, "status": status, "admin_needs_second_factor": withheld}}),
    ))
}

async fn list_members(State(app): State<Arc<App>>, t: Tenant) -> ApiResult<Json<Value>> {
    let (coop, _) = t.active_member()?;
    let members = identity::list_members(&app.db, coop.id).await?;
    Ok(Json(json!({"members": members})))
}

async fn get_member(
    State(app): State<Arc<App>>,
    t: Tenant,
    Path((_, member)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let (coop, _) = t.active_member()?;
    let id: i64 = member
        .parse()
        .map_err(|_| Error::BadRequest(format!("member id {member:?} is not a number")))?;
    Ok(Json(
        json!({"member": identity::get_member(&app.db, coop.id, id).await?}),
    ))
}

async fn add_member(
    State(app): State<Arc<App>>,
    t: Tenant,
    Body(b): Body<identity::NewMember>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (coop, actor) = t.admin()?;
    // Roles beyond plain membership are governed like grant-role; the
    // addition is recorded either way.
    grants::check(&app.db, coop.id, &actor, &b.roles).await?;
    // Someone who already has an account on this host (in another coop,
    // say) is not made a member without their consent, nor shown to the
    // admin by name: they get an invitation and decide.
    if b.password.is_none()
        && let Ok(email) = identity::normalise_email(&b.email)
        && let Some(user) = identity::find_user_id(&app.db, &email).await?
        && !identity::is_member(&app.db, coop.id, user).await?
    {
        let now = app.clock.now_ms();
        let inv = crate::governance::membership::NewInvitation {
            email,
            display_name: b.display_name,
            roles: b.roles,
            college: b.college,
        };
        // `invite` records the grant in its own transaction.
        let (req, _token) =
            crate::governance::membership::invite(&app.db, coop.id, &actor, &inv, now).await?;
        return Ok((
            StatusCode::ACCEPTED,
            Json(json!({
                "invitation": req,
                "mailed_to": req.email,
                "note": "this address already has an account on this host: it was invited, and \
                         becomes a member when its owner accepts",
            })),
        ));
    }
    // A coop admin vouches for nobody's address: a new account gets a
    // mailed link to choose its password.
    let m = grants::add_member(
        &app.db,
        &*app.clock,
        &coop,
        b,
        identity::Vouch::Mailed,
        &actor,
        None,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(json!({"member": m}))))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct NewKey {
    name: String,
    role: String,
}

async fn create_api_key(
    State(app): State<Arc<App>>,
    t: Tenant,
    Body(b): Body<NewKey>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (coop, actor) = t.admin()?;
    // A service key's role is a grant like any other (an `admin` key
    // acts as an admin), so it is governed and recorded like grant-role.
    let roles = [b.role.clone()];
    grants::check(&app.db, coop.id, &actor, &roles).await?;
    let key =
        grants::create_api_key(&app.db, &*app.clock, &coop, &b.name, &b.role, &actor, None).await?;
    Ok((StatusCode::CREATED, Json(json!({"api_key": key}))))
}

async fn revoke_api_key(
    State(app): State<Arc<App>>,
    t: Tenant,
    Path((_, key)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let (coop, _) = t.admin()?;
    let id: i64 = key
        .parse()
        .map_err(|_| Error::BadRequest(format!("API key id {key:?} is not a number")))?;
    identity::revoke_api_key(&app.db, &*app.clock, &coop, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_plugins(State(app): State<Arc<App>>, t: Tenant) -> ApiResult<Json<Value>> {
    let (coop, _) = t.active_member()?;
    Ok(Json(
        json!({"plugins": plugins::list(&app.db, coop.id).await?}),
    ))
}

async fn get_plugin(
    State(app): State<Arc<App>>,
    t: Tenant,
    Path((_, name)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let (coop, _) = t.active_member()?;
    let installed = plugins::get(&app.db, coop.id, &name).await?;
    let loaded = app.plugin(installed.id).await?;
    let requested = plugins::requested_capabilities(&loaded.inspection.imports);
    let signed_by = plugins::signed_by(&app.db, installed.id).await?;
    Ok(Json(json!({
        "plugin": installed,
        "signed_by": signed_by,
        "imports": loaded.inspection.imports,
        "capabilities": {"requested": requested, "granted": loaded.grants.as_slice()},
        "exports": loaded.inspection.exports,
    })))
}

async fn get_config(
    State(app): State<Arc<App>>,
    t: Tenant,
    Path((_, name)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let (coop, _) = t.active_member()?;
    let installed = plugins::get(&app.db, coop.id, &name).await?;
    let values = plugins::config_values(&app.db, coop.id, &installed.manifest).await?;
    Ok(Json(
        json!({"config": values, "parameters": installed.manifest.config}),
    ))
}

/// The plugin's algorithm card with the current value of every parameter
/// it names (its `parameters` list, or every declared parameter): public,
/// so anyone can read how a coop prices and assigns work.
async fn get_algorithm(
    State(app): State<Arc<App>>,
    Path((slug, name)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let coop = app.coop(&slug).await?;
    let installed = plugins::get(&app.db, coop.id, &name).await?;
    let manifest = &installed.manifest;
    let values = plugins::config_values(&app.db, coop.id, manifest).await?;
    let Some(card) = plugins::algorithm_card(manifest, &values) else {
        return Err(Error::NotFound(format!("plugin {name} publishes no algorithm card")).into());
    };
    Ok(Json(json!({
        "coop": coop.slug,
        "plugin": manifest.plugin.name,
        "version": manifest.plugin.version,
        "card": card["card"],
        "parameters": card["parameters"],
    })))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ConfigValue {
    value: Value,
}

async fn set_config(
    State(app): State<Arc<App>>,
    t: Tenant,
    Path((_, name, param)): Path<(String, String, String)>,
    Body(b): Body<ConfigValue>,
) -> ApiResult<Json<Value>> {
    let (coop, actor) = t.admin()?;
    let now = app.clock.now_ms();
    let installed = plugins::get(&app.db, coop.id, &name).await?;
    proposals::direct_allowed(&app.db, coop.id, &actor, Kind::SetConfig).await?;
    // The new value and its decision-log entry commit together.
    let mut tx = app.db.begin_write().await.map_err(Error::from)?;
    plugins::set_config_in(&mut tx, now, coop.id, &installed.manifest, &param, &b.value).await?;
    proposals::record_direct_in(
        &mut tx,
        coop.id,
        &actor,
        Kind::SetConfig,
        json!({"plugin": name, "name": param, "value": b.value}),
        now,
    )
    .await?;
    tx.commit().await.map_err(Error::from)?;
    let values = plugins::config_values(&app.db, coop.id, &installed.manifest).await?;
    Ok(Json(json!({"config": values})))
}

async fn list_interfaces(State(app): State<Arc<App>>, t: Tenant) -> ApiResult<Json<Value>> {
    let (coop, _) = t.active_member()?;
    let mut out = Vec::new();
    for installed in plugins::list(&app.db, coop.id).await? {
        let loaded = app.plugin(installed.id).await?;
        for e in &loaded.inspection.exports {
            if installed.interfaces.contains(&e.name) {
                out.push(json!({"interface": e.name, "version": e.version, "plugin": installed.name, "functions": e.functions}));
            }
        }
    }
    Ok(Json(json!({"interfaces": out})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InboxQuery {
    unread: Option<bool>,
    limit: Option<i64>,
}

async fn notifications(
    State(app): State<Arc<App>>,
    t: OwnData,
    Query(q): Query<InboxQuery>,
) -> ApiResult<Json<Value>> {
    let (coop, actor) = t.own_data()?;

    let list = match actor.member_id {
        Some(m) => {
            events::inbox(
                &app.db,
                coop.id,
                m,
                q.unread.unwrap_or(false),
                q.limit.unwrap_or(100).clamp(1, 1000),
            )
            .await?
        }
        None => vec![],
    };
    let unread = list.iter().filter(|n| !n.read).count();
    Ok(Json(json!({"notifications": list, "unread_shown": unread})))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct MarkRead {
    /// Notification ids; all of the caller's when absent.
    ids: Option<Vec<i64>>,
}

async fn mark_notifications_read(
    State(app): State<Arc<App>>,
    t: OwnData,
    Body(b): Body<MarkRead>,
) -> ApiResult<Json<Value>> {
    let (coop, actor) = t.own_data()?;
    let member = own_member(&actor)?;
    let marked = events::mark_read(
        &app.db,
        coop.id,
        member,
        b.ids.as_deref(),
        app.clock.now_ms(),
    )
    .await?;
    Ok(Json(json!({"marked": marked})))
}

/// How often the live inbox looks for new notifications.
pub const INBOX_POLL: std::time::Duration = std::time::Duration::from_millis(500);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamQuery {
    after: Option<i64>,
}

/// How often an open notification stream checks, on the host's clock,
/// that its session is still valid (not logged out or expired) and its
/// member still active; it also checks before delivering anything new.
/// A stream that fails the check ends; the client's reconnection then
/// meets the usual authentication.
pub const STREAM_RECHECK_MS: i64 = 30_000;

/// An open notification stream.
struct LiveInbox {
    app: Arc<App>,
    token: String,
    coop: i64,
    member: i64,
    last: i64,
    queue: std::collections::VecDeque<events::Event>,
    checked_ms: i64,
}

impl LiveInbox {
    /// Whether the stream may go on: the session still authenticates to a
    /// person who is still an active member of the coop. Any failure,
    /// a database error included, ends the stream (the client reconnects).
    async fn still_allowed(&mut self) -> bool {
        self.checked_ms = self.app.clock.now_ms();
        let session = identity::authenticate(&self.app.db, &*self.app.clock, &self.token).await;
        if !matches!(session, Ok(Principal::User { .. })) {
            return false;
        }
        matches!(
            identity::member_status(&self.app.db, self.coop, self.member).await,
            Ok(Some(status)) if status == "active"
        )
    }
}

/// Server-sent events: every new notification of the caller as it
/// arrives (`event: notification`, `id:` its id, so a client resumes with
/// `?after=` or `Last-Event-ID`). The stream ends when the session is
/// logged out or expires, or the member stops being active (checked every
/// [`STREAM_RECHECK_MS`] and before anything new is delivered).
async fn notification_stream(
    State(app): State<Arc<App>>,
    t: Tenant,
    Auth(_, token): Auth,
    headers: axum::http::HeaderMap,
    Query(q): Query<StreamQuery>,
) -> ApiResult<
    axum::response::sse::Sse<
        impl futures_util::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>,
    >,
> {
    use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
    let (coop, actor) = t.active_member()?;
    let member = own_member(&actor)?;
    let token = token.ok_or_else(|| Error::Unauthenticated("log in first".into()))?;
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i64>().ok());
    let start = match q.after.or(resume) {
        Some(a) => a,
        None => events::inbox(&app.db, coop.id, member, false, 1)
            .await?
            .first()
            .map_or(0, |n| n.event.id),
    };
    let state = LiveInbox {
        checked_ms: app.clock.now_ms(),
        app,
        token,
        coop: coop.id,
        member,
        last: start,
        queue: std::collections::VecDeque::new(),
    };
    let stream = futures_util::stream::unfold(state, |mut live| async move {
        loop {
            if let Some(e) = live.queue.pop_front() {
                live.last = e.id;
                let data = serde_json::to_string(&e).unwrap_or_default();
                let sse = SseEvent::default()
                    .event("notification")
                    .id(e.id.to_string())
                    .data(data);
                return Some((Ok(sse), live));
            }
            match events::inbox_after(&live.app.db, live.coop, live.member, live.last, 100).await {
                Ok(list) if !list.is_empty() => {
                    if !live.still_allowed().await {
                        return None;
                    }
                    live.queue.extend(list);
                }
                Ok(_) => tokio::time::sleep(INBOX_POLL).await,
                Err(e) => {
                    tracing::warn!(error = %e, "inbox stream read failed");
                    tokio::time::sleep(INBOX_POLL * 4).await;
                }
            }
            let now = live.app.clock.now_ms();
            if (now - live.checked_ms >= STREAM_RECHECK_MS || now < live.checked_ms)
                && !live.still_allowed().await
            {
                return None;
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// The caller's own member id, for routes about oneself.
fn own_member(actor: &Actor) -> ApiResult<i64> {
    actor.member_id.ok_or_else(|| {
        Error::Forbidden(
            "only members act for themselves here; service keys and operators cannot".into(),
        )
        .into()
    })
}

/// The caller as a worker: shifts are for the `worker` role.
fn own_worker(actor: &Actor) -> ApiResult<i64> {
    let id = own_member(actor)?;
    if !actor.has_role("worker") {
        return Err(
            Error::Forbidden("only members with the worker role work shifts".into()).into(),
        );
    }
    Ok(id)
}

async fn start_shift(
    State(app): State<Arc<App>>,
    t: Tenant,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (coop, actor) = t.active_member()?;
    let id = own_worker(&actor)?;
    let shift = shifts::start(&app.db, coop.id, id, app.clock.now_ms()).await?;
    Ok((StatusCode::CREATED, Json(json!({"shift": shift}))))
}

/// Ending one's own shift needs no role: a worker suspended while on shift
/// still closes it (it only stops the clock their pay is counted on).
async fn end_shift(State(app): State<Arc<App>>, t: OwnData) -> ApiResult<Json<Value>> {
    let (coop, actor) = t.own_data()?;
    let id = own_member(&actor)?;
    let shift = shifts::end(&app.db, coop.id, id, app.clock.now_ms()).await?;
    let ms = shift.on_shift_ms(app.clock.now_ms());
    Ok(Json(json!({"shift": shift, "on_shift_ms": ms})))
}

async fn current_shift(State(app): State<Arc<App>>, t: OwnData) -> ApiResult<Json<Value>> {
    let (coop, actor) = t.own_data()?;
    let id = own_member(&actor)?;
    let now = app.clock.now_ms();
    let shift = shifts::current(&app.db, coop.id, id).await?;
    let ms = shift.as_ref().map(|s| s.on_shift_ms(now));
    Ok(Json(json!({"shift": shift, "on_shift_ms": ms})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShiftQuery {
    member: Option<i64>,
    from: Option<i64>,
    to: Option<i64>,
}

async fn list_shifts(
    State(app): State<Arc<App>>,
    t: OwnData,
    Query(q): Query<ShiftQuery>,
) -> ApiResult<Json<Value>> {
    let (coop, actor) = t.own_data()?;

    let member = match q.member {
        Some(m) if Some(m) != actor.member_id => {
            if !actor.has_role("admin") {
                return Err(
                    Error::Forbidden("only admins read other members' shifts".into()).into(),
                );
            }
            m
        }
        _ => own_member(&actor)?,
    };
    let now = app.clock.now_ms();
    let to = q.to.unwrap_or(now + 1);
    let from = q.from.unwrap_or(to - 31 * 24 * 3_600_000);
    let list = shifts::list(&app.db, coop.id, member, from, to).await?;
    let total: i64 = list
        .iter()
        .map(|s| s.ended_at.unwrap_or(now).min(to) - s.started_at.max(from))
        .map(|d| d.max(0))
        .sum();
    Ok(Json(
        json!({"member": member, "from": from, "to": to, "shifts": list, "on_shift_ms": total}),
    ))
}

async fn get_worker_status(State(app): State<Arc<App>>, t: OwnData) -> ApiResult<Json<Value>> {
    let (coop, actor) = t.own_data()?;
    let id = own_member(&actor)?;
    Ok(Json(
        json!({"worker_status": shifts::status(&app.db, coop.id, id).await?}),
    ))
}

async fn set_worker_status(
    State(app): State<Arc<App>>,
    t: Tenant,
    Body(status): Body<shifts::WorkerStatus>,
) -> ApiResult<Json<Value>> {
    let (coop, actor) = t.active_member()?;
    let id = own_member(&actor)?;
    shifts::set_status(&app.db, coop.id, id, &status).await?;
    Ok(Json(json!({"worker_status": status})))
}

async fn list_jobs(State(app): State<Arc<App>>, t: Tenant) -> ApiResult<Json<Value>> {
    let (coop, _) = t.admin()?;
    Ok(Json(
        json!({"jobs": crate::scheduler::list(&app.db, coop.id, 200).await?}),
    ))
}

async fn list_split(State(app): State<Arc<App>>, t: Tenant) -> ApiResult<Json<Value>> {
    let (coop, _) = t.active_member()?;
    let history = policies::split_history(&app.db, coop.id).await?;
    let current = policies::split_in_effect(&app.db, coop.id, app.clock.now_ms()).await?;
    Ok(Json(json!({"in_effect": current, "history": history})))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct NewSplit {
    terms: crate::ledger::split::SplitTerms,
    effective_from: Option<i64>,
    reason: String,
}

async fn set_split(
    State(app): State<Arc<App>>,
    t: Tenant,
    Body(b): Body<NewSplit>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (coop, actor) = t.admin()?;
    let now = app.clock.now_ms();
    proposals::direct_allowed(&app.db, coop.id, &actor, Kind::SetSplit).await?;
    // The new policy and its decision-log entry commit together.
    let mut tx = app.db.begin_write().await.map_err(Error::from)?;
    let record = policies::set_split_in(
        &mut tx,
        coop.id,
        b.terms,
        b.effective_from.unwrap_or(now),
        actor.member_id,
        &b.reason,
        now,
    )
    .await?;
    proposals::record_direct_in(
        &mut tx,
        coop.id,
        &actor,
        Kind::SetSplit,
        json!({"policy": record}),
        now,
    )
    .await?;
    tx.commit().await.map_err(Error::from)?;
    Ok((StatusCode::CREATED, Json(json!({"policy": record}))))
}

async fn list_floor(State(app): State<Arc<App>>, t: Tenant) -> ApiResult<Json<Value>> {
    let (coop, _) = t.active_member()?;
    Ok(Json(
        json!({"history": policies::floor_history(&app.db, coop.id).await?}),
    ))
}

async fn set_floor(
    State(app): State<Arc<App>>,
    t: Tenant,
    Body(b): Body<policies::NewFloor>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (coop, actor) = t.admin()?;
    let now = app.clock.now_ms();
    if b.on_shortfall == policies::OnShortfall::Flag {
        return Err(Error::Invalid(
            "\"flag\" pays nothing when the solidarity fund is short: it is a transitional choice \
             only the members can make, by a set-floor proposal; directly, a shortfall the fund \
             cannot cover is booked as the coop's debt to the worker"
                .into(),
        )
        .into());
    }
    proposals::direct_allowed(&app.db, coop.id, &actor, Kind::SetFloor).await?;
    // The new floor and its decision-log entry commit together.
    let mut tx = app.db.begin_write().await.map_err(Error::from)?;
    let record = policies::set_floor_in(&mut tx, coop.id, &b, actor.member_id, now).await?;
    proposals::record_direct_in(
        &mut tx,
        coop.id,
        &actor,
        Kind::SetFloor,
        json!({"floor": record}),
        now,
    )
    .await?;
    tx.commit().await.map_err(Error::from)?;
    Ok((StatusCode::CREATED, Json(json!({"floor": record}))))
}

async fn call(
    State(app): State<Arc<App>>,
    OwnData(t): OwnData,
    Path((_, package, interface, function)): Path<(String, String, String, String)>,
    Body(args): Body<Value>,
) -> ApiResult<Json<Value>> {
    // A suspended, removed or departed member calls as nobody in
    // particular: the plugin sees no member id (and they hold no role), so
    // only functions open to anyone answer them.
    let inactive = t.status.clone().filter(|_| !t.is_active());
    let actor = match inactive {
        None => t.actor,
        Some(_) => Actor {
            operator: t.actor.operator,
            ..Actor::anonymous(t.coop.id)
        },
    };
    let coop = t.coop;
    let iface = format!("{package}/{interface}");
    match app.call(&coop, actor, &iface, &function, &args).await {
        Ok(result) => Ok(Json(json!({"result": result}))),
        Err(crate::app::CallFailure::Service(Error::Unauthenticated(_)))
            if let Some(status) = inactive =>
        {
            Err(Error::Forbidden(format!(
                "your membership of {} is {status}: you may call only the functions open to \
                 anyone, and {package}/{interface}.{function} is not",
                coop.slug
            ))
            .into())
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::ClientIp;

    #[test]
    fn ipv6_clients_are_keyed_by_their_64_network() {
        let key = |s: &str| ClientIp(Some(s.parse().unwrap())).key();
        assert_eq!(key("203.0.113.7"), "203.0.113.7");
        assert_eq!(key("::ffff:203.0.113.7"), "203.0.113.7");
        assert_eq!(key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(
            key("2001:db8:1:2:ffff:ffff:ffff:fffe"),
            key("2001:db8:1:2::9")
        );
        assert_ne!(key("2001:db8:1:3::1"), key("2001:db8:1:2::1"));
        assert_eq!(ClientIp(None).key(), "-");
    }
}
