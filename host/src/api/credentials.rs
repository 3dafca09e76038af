//! Routes for portable work credentials: a worker asks for theirs, anyone
//! reads a coop's issuer profile and keys at well-known URLs, anyone asks
//! any host to verify a credential, admins rotate and revoke keys.

use std::sync::Arc;

use super::Path;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, ApiResult, Body, ClientIp, OwnData, Tenant, own_member};
use crate::app::App;
use crate::credentials::{self, GivenKeys, IssueOptions, Issuer, KeyLookup, contexts, keys};
use crate::error::Error;
use crate::throttle;

/// The JSON bodies this module's routes read, for the OpenAPI document.
pub(super) const BODIES: &[super::openapi::BodyDoc] = &[
    super::openapi::BodyDoc {
        method: "post",
        path: "/v1/coops/{coop}/credential-keys/{seq}/revoke",
        schema: super::openapi::schema_of::<RevokeBody>,
    },
    super::openapi::BodyDoc {
        method: "post",
        path: "/v1/coops/{coop}/me/credential",
        schema: super::openapi::schema_of::<Option<crate::credentials::IssueOptions>>,
    },
    super::openapi::BodyDoc {
        method: "post",
        path: "/v1/credentials/verify",
        schema: super::openapi::schema_of::<VerifyBody>,
    },
];

/// The credential routes, merged into the API router.
pub(super) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/.well-known/coophost/coops/{coop}", get(issuer_profile))
        .route(
            "/.well-known/coophost/coops/{coop}/keys.json",
            get(keys_document),
        )
        .route("/.well-known/coophost/contexts/{file}", get(context))
        .route("/v1/coops/{coop}/me/credential", post(issue))
        .route("/v1/credentials/verify", post(verify))
        .route("/v1/coops/{coop}/credential-keys/rotate", post(rotate))
        .route(
            "/v1/coops/{coop}/credential-keys/{seq}/revoke",
            post(revoke),
        )
}

/// The host's public URL, which credential ids are built on.
fn public_url(app: &App) -> ApiResult<String> {
    app.public_url().ok_or_else(|| {
        Error::Conflict(
            "this host has no public URL, so it cannot name itself as an issuer: start it with \
             --public-url (or COOPHOST_PUBLIC_URL)"
                .into(),
        )
        .into()
    })
}

async fn issuer_profile(
    State(app): State<Arc<App>>,
    Path(slug): Path<String>,
) -> ApiResult<Json<Value>> {
    let coop = app.coop(&slug).await?;
    let issuer = Issuer::new(&public_url(&app)?, &coop.slug);
    Ok(Json(credentials::issuer_profile(&issuer, &coop)))
}

async fn keys_document(
    State(app): State<Arc<App>>,
    Path(slug): Path<String>,
) -> ApiResult<Json<Value>> {
    let coop = app.coop(&slug).await?;
    let issuer = Issuer::new(&public_url(&app)?, &coop.slug);
    let list = keys::list(&app.db, coop.id).await?;
    Ok(Json(keys::document(&issuer, &list)))
}

async fn context(Path(file): Path<String>) -> ApiResult<Response> {
    let bundled = contexts::by_file(&file).ok_or_else(|| {
        Error::NotFound(format!(
            "no bundled context {file:?}; there are {}",
            contexts::BUNDLED
                .iter()
                .map(|b| b.file)
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    let mut resp = (StatusCode::OK, bundled.text).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/ld+json"),
    );
    Ok(resp)
}

async fn issue(
    State(app): State<Arc<App>>,
    t: OwnData,
    Body(options): Body<Option<IssueOptions>>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    // Departed and suspended members keep their member id (with no role):
    // their history is theirs to carry.
    let (coop, actor) = t.own_data()?;
    let member_id = own_member(&actor)?;
    let base = public_url(&app)?;
    let credential = credentials::issue(
        &app.db,
        &app.secret,
        &base,
        &coop,
        member_id,
        &options.unwrap_or_default(),
        app.clock.now_ms(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(credential)))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct VerifyBody {
    credential: Value,
    /// The issuer's keys document or a publicKeyMultibase, to verify
    /// without fetching.
    keys: Option<Value>,
}

/// Verifications one client address may ask for per window: a person or
/// an employer checking credentials by hand stays far below it, while a
/// script using this host to probe issuer URLs (each a fetch) is slowed
/// to one every two seconds.
pub const VERIFY_PER_IP: throttle::Rule = throttle::Rule {
    name: "credentials.verify.ip",
    limit: 30,
    window_ms: 60_000,
};

/// Anyone may ask; throttled per client address before the credential is
/// looked at, and the credential is checked before its issuer's keys are
/// fetched.
async fn verify(
    State(app): State<Arc<App>>,
    ip: ClientIp,
    Body(b): Body<VerifyBody>,
) -> ApiResult<Json<Value>> {
    let verdict = throttle::hit(&app.db, &VERIFY_PER_IP, &ip.key(), app.clock.now_ms()).await?;
    if !verdict.allowed {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "verify-throttled",
            format!(
                "too many verifications from your address ({} a minute at most): try again in {} \
                 seconds, or verify offline with the issuer's keys (coophost credential verify --key)",
                VERIFY_PER_IP.limit,
                verdict.retry_after_secs()
            ),
        )
        .with_retry_after(verdict.retry_after_secs()));
    }
    let given = b
        .keys
        .map(GivenKeys::from_value)
        .transpose()
        .map_err(Error::BadRequest)?;
    let base = app.public_url();
    let lookup = KeyLookup {
        given,
        local: base.as_deref().map(|b| (&app.db, b)),
        fetch: Some(app.fetch_policy()),
    };
    let verdict = credentials::verify(&b.credential, lookup, app.clock.now_ms()).await;
    Ok(Json(json!(verdict)))
}

async fn rotate(State(app): State<Arc<App>>, t: Tenant) -> ApiResult<(StatusCode, Json<Value>)> {
    let (coop, _) = t.admin()?;
    let issuer = Issuer::new(&public_url(&app)?, &coop.slug);
    let key = keys::rotate(&app.db, &app.secret, coop.id, app.clock.now_ms()).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": issuer.method_id(key.seq), "key": key})),
    ))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RevokeBody {
    reason: String,
}

async fn revoke(
    State(app): State<Arc<App>>,
    t: Tenant,
    Path((_, seq)): Path<(String, String)>,
    Body(b): Body<RevokeBody>,
) -> ApiResult<Json<Value>> {
    let (coop, _) = t.admin()?;
    let seq: i64 = seq
        .strip_prefix("key-")
        .unwrap_or(&seq)
        .parse()
        .map_err(|_| Error::BadRequest(format!("{seq:?} is not a key number (e.g. 1 or key-1)")))?;
    let key = keys::revoke(&app.db, coop.id, seq, &b.reason, app.clock.now_ms()).await?;
    Ok(Json(json!({"key": key})))
}
