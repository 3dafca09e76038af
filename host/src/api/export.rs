//! Routes for a member's own data: the export archive and erasure.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiResult, Body, OwnData, own_member};
use crate::app::App;
use crate::error::Error;
use crate::export;

/// The JSON bodies this module's routes read, for the OpenAPI document.
pub(super) const BODIES: &[super::openapi::BodyDoc] = &[super::openapi::BodyDoc {
    method: "post",
    path: "/v1/coops/{coop}/me/erasure",
    schema: super::openapi::schema_of::<EraseBody>,
}];

/// The data-rights routes, merged into the API router.
pub(super) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v1/coops/{coop}/me/export", get(my_export))
        .route("/v1/coops/{coop}/me/erasure", post(erase_me))
}

/// Everything the host and the plugins hold about the caller, one JSON
/// file.
async fn my_export(State(app): State<Arc<App>>, t: OwnData) -> ApiResult<Response> {
    let (coop, actor) = t.own_data()?;
    let member = own_member(&actor)?;
    let now = app.clock.now_ms();
    let archive = export::archive(&app.db, coop.id, member, now).await?;
    let body = serde_json::to_vec_pretty(&archive).map_err(|e| Error::Internal(e.into()))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/json".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"{}-member-{member}.json\"",
                    coop.slug
                ),
            ),
        ],
        body,
    )
        .into_response())
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct EraseBody {
    confirm: String,
}

/// Erase the caller's data in this coop (see `export::erase`); answers
/// what was deleted and what was kept, and why.
async fn erase_me(
    State(app): State<Arc<App>>,
    t: OwnData,
    Body(b): Body<EraseBody>,
) -> ApiResult<Json<Value>> {
    let (coop, actor) = t.own_data()?;
    let member = own_member(&actor)?;
    if b.confirm != export::CONFIRM {
        return Err(Error::Invalid(format!(
            "to erase your data send {{\"confirm\": \"{}\"}}: it cannot be undone",
            export::CONFIRM
        ))
        .into());
    }
    let now = app.clock.now_ms();
    let report = export::erase(&app.db, coop.id, member, now).await?;
    Ok(Json(json!({"erasure": report})))
}
