//! Routes for accounts: confirming an application's address, and choosing
//! a new password with a mailed link. Each is throttled by the client's
//! address (and the email's, where one is given), with its own error code.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, ApiResult, Body, ClientIp};
use crate::app::App;
use crate::governance::membership;
use crate::identity::{self, email};
use crate::throttle::{self, Rule};

/// The JSON bodies this module's routes read, for the OpenAPI document.
pub(super) const BODIES: &[super::openapi::BodyDoc] = &[
    super::openapi::BodyDoc {
        method: "post",
        path: "/v1/auth/password-reset",
        schema: super::openapi::schema_of::<ResetBody>,
    },
    super::openapi::BodyDoc {
        method: "post",
        path: "/v1/auth/password-reset/confirm",
        schema: super::openapi::schema_of::<ConfirmBody>,
    },
    super::openapi::BodyDoc {
        method: "post",
        path: "/v1/auth/verify-email",
        schema: super::openapi::schema_of::<VerifyBody>,
    },
];

/// The account routes, merged into the API router.
pub(super) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v1/auth/verify-email", post(verify_email))
        .route("/v1/auth/password-reset", post(request_reset))
        .route("/v1/auth/password-reset/confirm", post(confirm_reset))
}

/// Count an attempt under `rule` for `key`; past the limit, a 429 with
/// `code` saying what was throttled and when to come back.
pub(super) async fn throttle(
    app: &App,
    rule: &Rule,
    key: &str,
    code: &'static str,
    what: &str,
) -> ApiResult<()> {
    let verdict = throttle::hit(&app.db, rule, key, app.clock.now_ms()).await?;
    if verdict.allowed {
        return Ok(());
    }
    let secs = verdict.retry_after_secs();
    Err(ApiError::throttled(
        code,
        format!(
            "too many {what} (at most {} per {} minutes): try again in {secs} s",
            rule.limit,
            rule.window_ms / 60_000
        ),
        secs,
    ))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct VerifyBody {
    token: String,
    password: String,
}

/// Confirm an application's address: the token mailed there, and the
/// password given when applying.
async fn verify_email(
    State(app): State<Arc<App>>,
    ip: ClientIp,
    Body(b): Body<VerifyBody>,
) -> ApiResult<Json<Value>> {
    throttle(
        &app,
        &email::CONFIRM_PER_IP,
        &ip.key(),
        "email-confirmations-per-ip",
        "attempts to confirm an address from your network",
    )
    .await?;
    let (coop, req) =
        membership::confirm_application(&app.db, &*app.clock, &b.token, &b.password).await?;
    Ok(Json(json!({
        "confirmed": req.email,
        "coop": {"slug": coop.slug, "name": coop.name},
        "application": req,
    })))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ResetBody {
    email: String,
}

/// Ask for a password-reset link. The answer does not say whether the
/// address has an account.
async fn request_reset(
    State(app): State<Arc<App>>,
    ip: ClientIp,
    Body(b): Body<ResetBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    throttle(
        &app,
        &email::RESET_PER_IP,
        &ip.key(),
        "password-resets-per-ip",
        "password-reset requests from your network",
    )
    .await?;
    let address = identity::normalise_email(&b.email)?;
    throttle(
        &app,
        &email::RESET_PER_ADDRESS,
        &address,
        "password-resets-per-address",
        "password-reset requests for this address",
    )
    .await?;
    email::request_password_reset(&app.db, &*app.clock, &address).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "status": "if an account uses this address, a link to choose a new password was mailed to it",
            "link_valid_minutes": email::RESET_TOKEN_TTL_MS / 60_000,
        })),
    ))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ConfirmBody {
    token: String,
    password: String,
}

/// Choose a new password with a mailed link; every session ends.
async fn confirm_reset(
    State(app): State<Arc<App>>,
    Body(b): Body<ConfirmBody>,
) -> ApiResult<Json<Value>> {
    let address =
        email::confirm_password_reset(&app.db, &*app.clock, &b.token, &b.password).await?;
    Ok(Json(json!({"email": address, "sessions_revoked": true})))
}
