//! Routes for ratings of workers: the worker's own list and contest, the
//! admins' review of contested ratings.

use std::sync::Arc;

use super::Path;
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiResult, Body, OwnData, Tenant, own_member};
use crate::app::App;
use crate::error::Error;
use crate::ratings;

/// The JSON bodies this module's routes read, for the OpenAPI document.
pub(super) const BODIES: &[super::openapi::BodyDoc] = &[
    super::openapi::BodyDoc {
        method: "post",
        path: "/v1/coops/{coop}/me/ratings/{id}/contest",
        schema: super::openapi::schema_of::<ContestBody>,
    },
    super::openapi::BodyDoc {
        method: "post",
        path: "/v1/coops/{coop}/ratings/{id}/review",
        schema: super::openapi::schema_of::<ReviewBody>,
    },
];

/// The rating routes, merged into the API router.
pub(super) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v1/coops/{coop}/me/ratings", get(my_ratings))
        .route("/v1/coops/{coop}/me/ratings/{id}/contest", post(contest))
        .route("/v1/coops/{coop}/ratings/contested", get(contested))
        .route("/v1/coops/{coop}/ratings/{id}/review", post(review))
}

/// Every rating about the caller, with whether it is used and until when,
/// and the summary of those used.
async fn my_ratings(State(app): State<Arc<App>>, t: OwnData) -> ApiResult<Json<Value>> {
    let (coop, actor) = t.own_data()?;
    let member = own_member(&actor)?;
    let now = app.clock.now_ms();
    Ok(Json(json!({
        "ratings": ratings::for_worker(&app.db, coop.id, member, now).await?,
        "summary": ratings::summary(&app.db, coop.id, member, 0, now).await?,
    })))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ContestBody {
    reason: String,
}

async fn contest(
    State(app): State<Arc<App>>,
    t: OwnData,
    Path((_, id)): Path<(String, i64)>,
    Body(b): Body<ContestBody>,
) -> ApiResult<Json<Value>> {
    let (coop, actor) = t.own_data()?;
    let member = own_member(&actor)?;
    let now = app.clock.now_ms();
    let rating = ratings::contest(&app.db, coop.id, member, id, &b.reason, now).await?;
    Ok(Json(json!({"rating": rating})))
}

/// Contested ratings waiting for a review (admins).
async fn contested(State(app): State<Arc<App>>, t: Tenant) -> ApiResult<Json<Value>> {
    let (coop, _) = t.admin()?;
    let now = app.clock.now_ms();
    Ok(Json(
        json!({"ratings": ratings::contested(&app.db, coop.id, now).await?}),
    ))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ReviewBody {
    /// `keep` or `remove`.
    outcome: String,
    reason: String,
}

async fn review(
    State(app): State<Arc<App>>,
    t: Tenant,
    Path((_, id)): Path<(String, i64)>,
    Body(b): Body<ReviewBody>,
) -> ApiResult<Json<Value>> {
    let (coop, actor) = t.admin()?;
    let admin = own_member(&actor)?;
    let keep = match b.outcome.as_str() {
        "keep" => true,
        "remove" => false,
        other => {
            return Err(
                Error::Invalid(format!("outcome must be keep or remove, got {other:?}")).into(),
            );
        }
    };
    let now = app.clock.now_ms();
    let rating = ratings::resolve(&app.db, coop.id, admin, id, keep, &b.reason, now).await?;
    Ok(Json(json!({"rating": rating})))
}
