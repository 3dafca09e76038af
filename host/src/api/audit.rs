//! Routes for the audit log: admins list and verify it, members read the
//! entries about them.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiResult, OwnData, Tenant, own_member};
use crate::app::App;
use crate::audit::{self, AUDIT};
use crate::chain;

/// The audit routes, merged into the API router.
pub(super) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v1/coops/{coop}/audit", get(list))
        .route("/v1/coops/{coop}/audit/verify", get(verify))
        .route("/v1/coops/{coop}/me/audit", get(mine))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Page {
    after: Option<i64>,
    limit: Option<i64>,
}

fn page(q: Page) -> ApiResult<(i64, i64)> {
    Ok((q.after.unwrap_or(0), q.limit.unwrap_or(100)))
}

async fn list(
    State(app): State<Arc<App>>,
    t: Tenant,
    Query(q): Query<Page>,
) -> ApiResult<Json<Value>> {
    let (coop, _) = t.admin()?;
    let (after, limit) = page(q)?;
    let entries = chain::list(&app.audit_db, AUDIT, coop.id, after, limit).await?;
    Ok(Json(json!({"entries": entries})))
}

async fn verify(State(app): State<Arc<App>>, t: Tenant) -> ApiResult<Json<Value>> {
    let (coop, _) = t.admin()?;
    let v = chain::verify(&app.audit_db, AUDIT, coop.id).await?;
    Ok(Json(json!({"verification": v})))
}

async fn mine(
    State(app): State<Arc<App>>,
    t: OwnData,
    Query(q): Query<Page>,
) -> ApiResult<Json<Value>> {
    let (coop, actor) = t.own_data()?;
    let member = own_member(&actor)?;
    let (after, limit) = page(q)?;
    let entries = audit::about(&app.audit_db, coop.id, member, after, limit).await?;
    Ok(Json(json!({"entries": entries})))
}
