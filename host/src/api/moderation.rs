//! Routes for deactivation and appeal: flags from automated systems,
//! acting on or dismissing them, a worker's decisions and appeals, and the
//! review of appeals by another admin. Suspending or removing directly is
//! `PUT .../members/{member}/status` (in `governance.rs`), which comes here.

use std::sync::Arc;

use super::{Path, Query};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiResult, Body, OwnData, Tenant, own_member};
use crate::app::App;
use crate::error::Error;
use crate::moderation::{Outcome, appeals, deactivation, flags};

/// The JSON bodies this module's routes read, for the OpenAPI document.
pub(super) const BODIES: &[super::openapi::BodyDoc] = &[
    super::openapi::BodyDoc {
        method: "post",
        path: "/v1/coops/{coop}/appeals/{id}/review",
        schema: super::openapi::schema_of::<ReviewBody>,
    },
    super::openapi::BodyDoc {
        method: "post",
        path: "/v1/coops/{coop}/flags/{id}/act",
        schema: super::openapi::schema_of::<ActBody>,
    },
    super::openapi::BodyDoc {
        method: "post",
        path: "/v1/coops/{coop}/flags/{id}/dismiss",
        schema: super::openapi::schema_of::<ReasonBody>,
    },
    super::openapi::BodyDoc {
        method: "post",
        path: "/v1/coops/{coop}/me/appeals",
        schema: super::openapi::schema_of::<AppealBody>,
    },
    super::openapi::BodyDoc {
        method: "post",
        path: "/v1/coops/{coop}/members/{member}/flags",
        schema: super::openapi::schema_of::<FlagBody>,
    },
];

/// The moderation routes, merged into the API router.
pub(super) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v1/coops/{coop}/members/{member}/flags", post(raise_flag))
        .route("/v1/coops/{coop}/flags", get(list_flags))
        .route("/v1/coops/{coop}/flags/{id}/dismiss", post(dismiss_flag))
        .route("/v1/coops/{coop}/flags/{id}/act", post(act_on_flag))
        .route("/v1/coops/{coop}/me/deactivations", get(my_deactivations))
        .route("/v1/coops/{coop}/me/appeals", post(appeal))
        .route("/v1/coops/{coop}/appeals", get(list_appeals))
        .route("/v1/coops/{coop}/appeals/{id}/review", post(review))
}

fn number(what: &str, text: &str) -> ApiResult<i64> {
    text.parse()
        .map_err(|_| Error::BadRequest(format!("{what} {text:?} is not a number")).into())
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct FlagBody {
    reason: String,
}

/// A service account (an automated system) or an admin flags a member.
async fn raise_flag(
    State(app): State<Arc<App>>,
    t: Tenant,
    Path((_, member)): Path<(String, String)>,
    Body(b): Body<FlagBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (coop, actor) = t.active_member()?;
    let member = number("member id", &member)?;
    let flag = flags::raise(
        &app.db,
        coop.id,
        &actor,
        member,
        &b.reason,
        app.clock.now_ms(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(json!({"flag": flag}))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusQuery {
    /// `all`, or the default: only those awaiting someone.
    status: Option<String>,
}

fn pending_only(q: StatusQuery, waiting: &str) -> ApiResult<bool> {
    match q.status.as_deref() {
        None => Ok(true),
        Some(s) if s == waiting => Ok(true),
        Some("all") => Ok(false),
        Some(other) => {
            Err(Error::BadRequest(format!("status {other:?} is not {waiting} or all")).into())
        }
    }
}

/// Open flags (`?status=all` for every one), for admins.
async fn list_flags(
    State(app): State<Arc<App>>,
    t: Tenant,
    Query(q): Query<StatusQuery>,
) -> ApiResult<Json<Value>> {
    let (coop, _) = t.admin()?;
    let open = pending_only(q, "open")?;
    Ok(Json(
        json!({"flags": flags::list(&app.db, coop.id, open).await?}),
    ))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ReasonBody {
    reason: String,
}

async fn dismiss_flag(
    State(app): State<Arc<App>>,
    t: Tenant,
    Path((_, id)): Path<(String, String)>,
    Body(b): Body<ReasonBody>,
) -> ApiResult<Json<Value>> {
    let (coop, actor) = t.active_member()?;
    let id = number("flag id", &id)?;
    let flag = flags::dismiss(&app.db, coop.id, &actor, id, &b.reason, app.clock.now_ms()).await?;
    Ok(Json(json!({"flag": flag})))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ActBody {
    /// `suspended` or `removed`.
    status: String,
    reason: String,
}

/// Act on a flag: the human deactivation, linked to the flag.
async fn act_on_flag(
    State(app): State<Arc<App>>,
    t: Tenant,
    Path((_, id)): Path<(String, String)>,
    Body(b): Body<ActBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (coop, actor) = t.active_member()?;
    let id = number("flag id", &id)?;
    let flag = flags::get(&app.db, coop.id, id).await?;
    let decision = deactivation::deactivate(
        &app.db,
        &coop,
        &actor,
        flag.member,
        &b.status,
        &b.reason,
        Some(id),
        app.clock.now_ms(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(json!({"decision": decision}))))
}

/// The caller's suspensions and removals with reasons, appeal windows,
/// appeals and outcomes, and the flags raised about them. Suspended and
/// removed members keep this (they log in with no role).
async fn my_deactivations(State(app): State<Arc<App>>, t: OwnData) -> ApiResult<Json<Value>> {
    let (coop, actor) = t.own_data()?;
    let me = own_member(&actor)?;
    let now = app.clock.now_ms();
    let member = crate::identity::get_member(&app.db, coop.id, me).await?;
    Ok(Json(json!({
        "member": me,
        "status": member.status,
        "decisions": deactivation::for_member(&app.db, coop.id, me, now).await?,
        "flags": flags::for_member(&app.db, coop.id, me).await?,
    })))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct AppealBody {
    /// The decision's id (its status change id).
    decision: i64,
    statement: String,
}

async fn appeal(
    State(app): State<Arc<App>>,
    t: OwnData,
    Body(b): Body<AppealBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (coop, actor) = t.own_data()?;
    let me = own_member(&actor)?;
    let appeal = appeals::open(
        &app.db,
        &coop,
        me,
        b.decision,
        &b.statement,
        app.clock.now_ms(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(json!({"appeal": appeal}))))
}

/// Appeals awaiting review, open or overdue (`?status=all` for every
/// one), each with its decision, for admins.
async fn list_appeals(
    State(app): State<Arc<App>>,
    t: Tenant,
    Query(q): Query<StatusQuery>,
) -> ApiResult<Json<Value>> {
    let (coop, _) = t.admin()?;
    let pending = pending_only(q, "pending")?;
    Ok(Json(json!({
        "appeals": appeals::list(&app.db, coop.id, pending, app.clock.now_ms()).await?,
    })))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ReviewBody {
    outcome: Outcome,
    reason: String,
}

async fn review(
    State(app): State<Arc<App>>,
    t: Tenant,
    Path((_, id)): Path<(String, String)>,
    Body(b): Body<ReviewBody>,
) -> ApiResult<Json<Value>> {
    let (coop, actor) = t.active_member()?;
    let id = number("appeal id", &id)?;
    let appeal = appeals::review(
        &app.db,
        &coop,
        &actor,
        id,
        b.outcome,
        &b.reason,
        app.clock.now_ms(),
    )
    .await?;
    Ok(Json(json!({"appeal": appeal})))
}
