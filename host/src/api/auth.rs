//! Logging in (password, then a second factor where enrolled) and a
//! person's own second factor: enrol, confirm, regenerate recovery codes,
//! disable. Also the coop rule that takes admin powers from sessions opened
//! without a second factor.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, ApiResult, Auth, Body, ClientIp};
use crate::app::App;
use crate::error::Error;
use crate::identity::{self, Actor, AuthError, Coop, LoginOutcome, Principal, second_factor};

/// The JSON bodies this module's routes read, for the OpenAPI document.
pub(super) const BODIES: &[super::openapi::BodyDoc] = &[
    super::openapi::BodyDoc {
        method: "post",
        path: "/v1/auth/login",
        schema: super::openapi::schema_of::<LoginBody>,
    },
    super::openapi::BodyDoc {
        method: "post",
        path: "/v1/auth/login/second-factor",
        schema: super::openapi::schema_of::<SecondStep>,
    },
    super::openapi::BodyDoc {
        method: "post",
        path: "/v1/me/second-factor",
        schema: super::openapi::schema_of::<StartBody>,
    },
    super::openapi::BodyDoc {
        method: "post",
        path: "/v1/me/second-factor/confirm",
        schema: super::openapi::schema_of::<CodeBody>,
    },
    super::openapi::BodyDoc {
        method: "post",
        path: "/v1/me/second-factor/disable",
        schema: super::openapi::schema_of::<CodeBody>,
    },
    super::openapi::BodyDoc {
        method: "post",
        path: "/v1/me/second-factor/recovery-codes",
        schema: super::openapi::schema_of::<CodeBody>,
    },
];

/// The auth routes, merged into the API router.
pub(super) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v1/auth/login", post(login))
        .route("/v1/auth/login/second-factor", post(login_second_factor))
        .route("/v1/me/second-factor", post(start).get(status))
        .route("/v1/me/second-factor/confirm", post(confirm))
        .route("/v1/me/second-factor/recovery-codes", post(regenerate))
        .route("/v1/me/second-factor/disable", post(disable))
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Throttled {
                limit,
                message,
                retry_after_secs,
            } => ApiError::new(StatusCode::TOO_MANY_REQUESTS, limit.code(), message)
                .with_retry_after(retry_after_secs),
            AuthError::ChallengeSpent(m) => {
                ApiError::new(StatusCode::UNAUTHORIZED, "challenge-spent", m)
            }
            AuthError::Other(e) => e.into(),
        }
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    email: String,
    password: String,
    /// The device proof an earlier login on this device gave (`device`
    /// in its answer): attempts from a proven device are counted for that
    /// device alone, so failures from elsewhere never lock its owner out.
    #[serde(default)]
    device: Option<String>,
}

async fn login(
    State(app): State<Arc<App>>,
    ip: ClientIp,
    Body(b): Body<LoginBody>,
) -> ApiResult<Json<Value>> {
    let address = ip.key();
    let (outcome, device) = identity::login(
        &app.db,
        &*app.clock,
        &app.secret,
        identity::LoginAttempt {
            email: &b.email,
            password: &b.password,
            address: &address,
            device: b.device.as_deref(),
        },
    )
    .await?;
    Ok(Json(match outcome {
        LoginOutcome::Session { token, expires_at } => {
            json!({"token": token, "expires_at": expires_at, "device": device})
        }
        LoginOutcome::SecondFactor {
            challenge,
            expires_at,
        } => json!({
            "second_factor_required": true,
            "challenge": challenge,
            "expires_at": expires_at,
            "device": device,
            "next": "POST /v1/auth/login/second-factor with the challenge and a code from your \
                     authenticator app (or a recovery code)",
        }),
    }))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct SecondStep {
    challenge: String,
    code: String,
}

async fn login_second_factor(
    State(app): State<Arc<App>>,
    Body(b): Body<SecondStep>,
) -> ApiResult<Json<Value>> {
    let (token, expires_at) =
        identity::login_second_factor(&app.db, &*app.clock, &app.secret, &b.challenge, &b.code)
            .await?;
    Ok(Json(
        json!({"token": token, "expires_at": expires_at, "second_factor": true}),
    ))
}

/// The logged-in person (not a service key) and their session token.
fn person(auth: Auth) -> ApiResult<(i64, bool, String)> {
    match auth {
        Auth(
            Principal::User {
                user_id,
                second_factor,
                ..
            },
            Some(token),
        ) => Ok((user_id, second_factor, token)),
        Auth(Principal::Service { .. }, _) => Err(Error::Forbidden(
            "API keys have no second factor: log in as a person".into(),
        )
        .into()),
        _ => Err(Error::Unauthenticated("log in first".into()).into()),
    }
}

async fn status(State(app): State<Arc<App>>, auth: Auth) -> ApiResult<Json<Value>> {
    let (user_id, session_second_factor, _) = person(auth)?;
    let status = second_factor::status(&app.db, user_id).await?;
    Ok(Json(json!({
        "second_factor": status,
        "session": {"second_factor": session_second_factor},
    })))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct StartBody {
    password: String,
}

/// The name the authenticator app shows for this host: the public URL's
/// host name, else `coophost`.
fn issuer(app: &App) -> String {
    app.public_url()
        .and_then(|u| {
            u.split_once("://")
                .map(|(_, rest)| rest.split(['/', ':']).next().unwrap_or("").to_string())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "coophost".into())
}

async fn start(
    State(app): State<Arc<App>>,
    auth: Auth,
    ip: ClientIp,
    Body(b): Body<StartBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (user_id, _, _) = person(auth)?;
    let enrolment = second_factor::start(
        &app.db,
        &*app.clock,
        &app.secret,
        user_id,
        &b.password,
        &ip.key(),
        &issuer(&app),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "enrolment": enrolment,
            "next": "add the secret to an authenticator app, then POST /v1/me/second-factor/confirm \
                     with the code it shows; the secret is not shown again",
        })),
    ))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct CodeBody {
    code: String,
}

async fn confirm(
    State(app): State<Arc<App>>,
    auth: Auth,
    Body(b): Body<CodeBody>,
) -> ApiResult<Json<Value>> {
    let (user_id, _, token) = person(auth)?;
    let codes =
        second_factor::confirm(&app.db, &*app.clock, &app.secret, user_id, &b.code, &token).await?;
    Ok(Json(json!({
        "enrolled": true,
        "recovery_codes": codes,
        "note": "keep these recovery codes somewhere safe: each works once instead of a code, \
                 and they are not shown again",
    })))
}

async fn regenerate(
    State(app): State<Arc<App>>,
    auth: Auth,
    Body(b): Body<CodeBody>,
) -> ApiResult<Json<Value>> {
    let (user_id, _, _) = person(auth)?;
    let codes =
        second_factor::regenerate_codes(&app.db, &*app.clock, &app.secret, user_id, &b.code)
            .await?;
    Ok(Json(json!({
        "recovery_codes": codes,
        "note": "the previous recovery codes no longer work; these are not shown again",
    })))
}

async fn disable(
    State(app): State<Arc<App>>,
    auth: Auth,
    Body(b): Body<CodeBody>,
) -> ApiResult<StatusCode> {
    let (user_id, _, _) = person(auth)?;
    second_factor::disable(&app.db, &*app.clock, &app.secret, user_id, &b.code).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The coop rule `security.admin_second_factor`: an admin whose session was
/// not opened with a second factor acts without the admin role in this
/// coop. Whether the role was withheld (so refusals can say why).
pub(super) async fn second_factor_rule(
    app: &App,
    principal: &Principal,
    coop: &Coop,
    actor: &mut Actor,
) -> ApiResult<bool> {
    let Principal::User {
        second_factor: false,
        ..
    } = principal
    else {
        return Ok(false);
    };
    if !actor.has_role("admin") {
        return Ok(false);
    }
    let (_, rules) = crate::governance::rules::current(&app.db, coop.id).await?;
    if !rules.admins_need_second_factor() {
        return Ok(false);
    }
    actor.roles.retain(|r| r != "admin");
    Ok(true)
}

/// The refusal an admin gets for an admin-only action in a coop whose rules
/// require a second factor, in a session opened without one.
pub(super) fn admin_needs_second_factor(coop: &Coop) -> ApiError {
    Error::Forbidden(format!(
        "{} requires admins to log in with a second factor: this session was opened without one. \
         Log in again and give the code from your authenticator app, or enrol one first \
         (POST /v1/me/second-factor, or the security page of your account)",
        coop.slug
    ))
    .into()
}
