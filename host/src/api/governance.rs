//! Routes for governance: the coop's rules, proposals and votes, and the
//! hash-chained decision log with its verification.

use std::sync::Arc;

use super::{Path, Query};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, ApiResult, Body, OwnData, Tenant, own_member};
use crate::app::App;
use crate::chain;
use crate::error::Error;
use crate::governance::proposals::{self, Change, DECISIONS, NewProposal};
use crate::governance::rules::{self, Rules};
use crate::governance::tally::Choice;
use crate::governance::terms;
use crate::governance::{grants, membership};
use crate::identity;
use crate::plugins::staging;

/// The JSON bodies this module's routes read, for the OpenAPI document.
pub(super) const BODIES: &[super::openapi::BodyDoc] = &[
    super::openapi::BodyDoc {
        method: "put",
        path: "/v1/coops/{coop}/governance/rules",
        schema: super::openapi::schema_of::<RulesBody>,
    },
    super::openapi::BodyDoc {
        method: "post",
        path: "/v1/coops/{coop}/applications",
        schema: super::openapi::schema_of::<membership::NewApplication>,
    },
    super::openapi::BodyDoc {
        method: "post",
        path: "/v1/coops/{coop}/invitations",
        schema: super::openapi::schema_of::<membership::NewInvitation>,
    },
    super::openapi::BodyDoc {
        method: "post",
        path: "/v1/coops/{coop}/invitations/accept",
        schema: super::openapi::schema_of::<AcceptBody>,
    },
    super::openapi::BodyDoc {
        method: "post",
        path: "/v1/coops/{coop}/me/shares",
        schema: super::openapi::schema_of::<BuyShares>,
    },
    super::openapi::BodyDoc {
        method: "put",
        path: "/v1/coops/{coop}/members/{member}/status",
        schema: super::openapi::schema_of::<StatusBody>,
    },
    super::openapi::BodyDoc {
        method: "post",
        path: "/v1/coops/{coop}/proposals",
        schema: super::openapi::schema_of::<crate::governance::proposals::NewProposal>,
    },
    super::openapi::BodyDoc {
        method: "post",
        path: "/v1/coops/{coop}/proposals/{id}/votes",
        schema: super::openapi::schema_of::<VoteBody>,
    },
    super::openapi::BodyDoc {
        method: "post",
        path: "/v1/coops/{coop}/terms",
        schema: super::openapi::schema_of::<TermsBody>,
    },
];

/// The governance routes, merged into the API router.
pub(super) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route(
            "/v1/coops/{coop}/governance/rules",
            get(get_rules).put(set_rules),
        )
        .route(
            "/v1/coops/{coop}/proposals",
            get(list_proposals).post(open_proposal),
        )
        .route("/v1/coops/{coop}/proposals/{id}", get(get_proposal))
        .route(
            "/v1/coops/{coop}/proposals/{id}/votes",
            get(list_votes).post(cast_vote),
        )
        .route("/v1/coops/{coop}/terms", get(get_terms).post(publish_terms))
        .route(
            "/v1/coops/{coop}/terms/{version}/accept",
            axum::routing::post(accept_terms),
        )
        .route("/v1/coops/{coop}/invitations", axum::routing::post(invite))
        .route(
            "/v1/coops/{coop}/invitations/accept",
            axum::routing::post(accept_invitation),
        )
        .route("/v1/coops/{coop}/applications", axum::routing::post(apply))
        .route(
            "/v1/coops/{coop}/applications/{id}/{decision}",
            axum::routing::post(decide_application),
        )
        .route("/v1/coops/{coop}/membership-requests", get(list_requests))
        .route(
            "/v1/coops/{coop}/members/{member}/status",
            get(status_history).put(set_status),
        )
        .route(
            "/v1/coops/{coop}/me/shares",
            get(my_shares).post(buy_shares),
        )
        .route(
            "/v1/coops/{coop}/components",
            axum::routing::post(stage_component),
        )
        .route("/v1/coops/{coop}/decisions", get(decisions))
        .route("/v1/coops/{coop}/decisions/verify", get(verify))
}

/// Largest component accepted for staging, bytes.
pub const MAX_COMPONENT_BYTES: usize = 64 * 1024 * 1024;

fn id(text: &str) -> ApiResult<i64> {
    text.parse()
        .map_err(|_| Error::BadRequest(format!("proposal id {text:?} is not a number")).into())
}

async fn get_rules(State(app): State<Arc<App>>, t: Tenant) -> ApiResult<Json<Value>> {
    let (coop, _) = t.active_member()?;
    let (version, rules) = rules::current(&app.db, coop.id).await?;
    Ok(Json(json!({"version": version, "rules": rules})))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RulesBody {
    rules: Rules,
    reason: String,
}

async fn set_rules(
    State(app): State<Arc<App>>,
    t: Tenant,
    Body(b): Body<RulesBody>,
) -> ApiResult<Json<Value>> {
    let (coop, actor) = t.active_member()?;
    let outcome = proposals::direct_change(
        &app,
        coop.id,
        &actor,
        &Change::SetRules { rules: b.rules },
        &b.reason,
        app.clock.now_ms(),
    )
    .await?;
    let (version, rules) = rules::current(&app.db, coop.id).await?;
    Ok(Json(
        json!({"version": version, "rules": rules, "outcome": outcome}),
    ))
}

async fn list_proposals(State(app): State<Arc<App>>, t: Tenant) -> ApiResult<Json<Value>> {
    let (coop, _) = t.active_member()?;
    Ok(Json(
        json!({"proposals": proposals::list(&app.db, coop.id, 200).await?}),
    ))
}

async fn open_proposal(
    State(app): State<Arc<App>>,
    t: Tenant,
    Body(b): Body<NewProposal>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (coop, actor) = t.active_member()?;
    let member = own_member(&actor)?;
    let p = proposals::open(&app.db, coop.id, member, &b, app.clock.now_ms()).await?;
    Ok((StatusCode::CREATED, Json(json!({"proposal": p}))))
}

async fn get_proposal(
    State(app): State<Arc<App>>,
    t: Tenant,
    Path((_, pid)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let (coop, actor) = t.active_member()?;
    let p = proposals::get(&app.db, coop.id, id(&pid)?).await?;
    let ballots = proposals::ballots(&app.db, p.id).await?;
    // The caller's own ballot: ballots stay secret while the vote is open,
    // but each member may see (and change) theirs.
    let your_vote = actor
        .member_id
        .and_then(|m| ballots.iter().find(|b| b.member_id == m));
    Ok(Json(
        json!({"proposal": p, "votes_cast": ballots.len(), "your_vote": your_vote}),
    ))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct VoteBody {
    choice: Choice,
    #[serde(default)]
    reason: String,
}

async fn cast_vote(
    State(app): State<Arc<App>>,
    t: Tenant,
    Path((_, pid)): Path<(String, String)>,
    Body(b): Body<VoteBody>,
) -> ApiResult<Json<Value>> {
    let (coop, actor) = t.active_member()?;
    own_member(&actor)?;
    let pid = id(&pid)?;
    proposals::vote(
        &app.db,
        coop.id,
        pid,
        &actor,
        b.choice.clone(),
        &b.reason,
        app.clock.now_ms(),
    )
    .await?;
    Ok(Json(json!({"proposal": pid, "choice": b.choice})))
}

/// The recorded votes, once the vote is closed (a ballot stays secret
/// while others can still vote), with a recount from them.
async fn list_votes(
    State(app): State<Arc<App>>,
    t: Tenant,
    Path((_, pid)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let (coop, _) = t.active_member()?;
    let p = proposals::get(&app.db, coop.id, id(&pid)?).await?;
    if p.status == "open" {
        return Err(Error::Conflict(format!(
            "votes on proposal {} are published when it closes at {}",
            p.id, p.closes_at
        ))
        .into());
    }
    let ballots = proposals::ballots(&app.db, p.id).await?;
    let (recount, matches) = proposals::recount(&app.db, coop.id, p.id).await?;
    Ok(Json(json!({
        "proposal": p.id,
        "votes": ballots,
        "recount": recount,
        "matches_published_tally": matches,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Page {
    after: Option<i64>,
    limit: Option<i64>,
}

async fn decisions(
    State(app): State<Arc<App>>,
    t: Tenant,
    Query(q): Query<Page>,
) -> ApiResult<Json<Value>> {
    let (coop, _) = t.active_member()?;
    let entries = chain::list(
        &app.db,
        DECISIONS,
        coop.id,
        q.after.unwrap_or(0),
        q.limit.unwrap_or(100).clamp(1, 1000),
    )
    .await?;
    Ok(Json(json!({"entries": entries})))
}

async fn verify(State(app): State<Arc<App>>, t: Tenant) -> ApiResult<Json<Value>> {
    let (coop, _) = t.active_member()?;
    let v = chain::verify(&app.db, DECISIONS, coop.id).await?;
    Ok(Json(json!({"verification": v})))
}

/// The terms: the version in effect, pending versions (published, notice
/// running) with their diffs, every version, and what the caller accepted.
async fn get_terms(State(app): State<Arc<App>>, t: OwnData) -> ApiResult<Json<Value>> {
    let (coop, actor) = t.own_data()?;
    let now = app.clock.now_ms();
    let versions = terms::versions(&app.db, coop.id).await?;
    let current = terms::in_effect(&versions, now).cloned();
    let pending: Vec<&terms::TermsVersion> =
        versions.iter().filter(|v| v.effective_at > now).collect();
    let accepted = match actor.member_id {
        Some(m) => terms::accepted(&app.db, coop.id, m).await?,
        None => vec![],
    };
    Ok(Json(json!({
        "in_effect": current,
        "pending": pending,
        "versions": versions,
        "accepted": accepted.iter().map(|(v, at)| json!({"version": v, "accepted_at": at})).collect::<Vec<_>>(),
    })))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct TermsBody {
    text: String,
    reason: String,
}

/// Publish new terms directly, where the coop's rules let admins.
async fn publish_terms(
    State(app): State<Arc<App>>,
    t: Tenant,
    Body(b): Body<TermsBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (coop, actor) = t.active_member()?;
    let outcome = proposals::direct_change(
        &app,
        coop.id,
        &actor,
        &Change::AdoptTerms { text: b.text },
        &b.reason,
        app.clock.now_ms(),
    )
    .await?;
    let versions = terms::versions(&app.db, coop.id).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"outcome": outcome, "version": versions.last()})),
    ))
}

async fn accept_terms(
    State(app): State<Arc<App>>,
    t: Tenant,
    Path((_, version)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let (coop, actor) = t.active_member()?;
    let member = own_member(&actor)?;
    let version: i64 = version
        .parse()
        .map_err(|_| Error::BadRequest(format!("terms version {version:?} is not a number")))?;
    terms::accept(&app.db, coop.id, member, version, app.clock.now_ms()).await?;
    Ok(Json(json!({"accepted": version})))
}

async fn invite(
    State(app): State<Arc<App>>,
    t: Tenant,
    Body(b): Body<membership::NewInvitation>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (coop, actor) = t.admin()?;
    let now = app.clock.now_ms();
    // `invite` checks the roles like grant-role and records the grant in
    // its transaction. The token is mailed to the invitee and not shown
    // here: accepting it is what proves they control the address, so the
    // admin must not hold it.
    let (req, _token) = membership::invite(&app.db, coop.id, &actor, &b, now).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"invitation": req, "mailed_to": req.email})),
    ))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct AcceptBody {
    token: String,
    password: Option<String>,
}

/// Anyone holding the token (no login: the token is the credential).
async fn accept_invitation(
    State(app): State<Arc<App>>,
    Path(slug): Path<String>,
    Body(b): Body<AcceptBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let coop = identity::find_coop(&app.db, &slug).await?;
    let m =
        membership::accept_invitation(&app.db, &*app.clock, &coop, &b.token, b.password).await?;
    Ok((StatusCode::CREATED, Json(json!({"member": m}))))
}

/// Anyone may apply where the coop's rules allow applications; the
/// application waits for its address to be confirmed. Throttled per client
/// address and per email address.
async fn apply(
    State(app): State<Arc<App>>,
    ip: super::ClientIp,
    Path(slug): Path<String>,
    Body(b): Body<membership::NewApplication>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let coop = identity::find_coop(&app.db, &slug).await?;
    super::accounts::throttle(
        &app,
        &membership::APPLY_PER_IP,
        &ip.key(),
        "applications-per-ip",
        "applications from your network",
    )
    .await?;
    if let Ok(address) = identity::normalise_email(&b.email) {
        super::accounts::throttle(
            &app,
            &membership::APPLY_PER_ADDRESS,
            &address,
            "applications-per-address",
            "applications with this email address",
        )
        .await?;
    }
    let req = membership::apply(&app.db, &*app.clock, &coop, &b).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "application": req,
            "next": format!("confirm your address: a link was mailed to {}; the application reaches {} once you follow it", req.email, coop.slug),
        })),
    ))
}

async fn decide_application(
    State(app): State<Arc<App>>,
    t: Tenant,
    Path((_, rid, decision)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let (coop, actor) = t.admin()?;
    let approve = match decision.as_str() {
        "approve" => true,
        "reject" => false,
        other => {
            return Err(Error::BadRequest(format!("{other:?} is not approve or reject")).into());
        }
    };
    let rid = id(&rid)?;
    if approve {
        let pending = membership::get(&app.db, coop.id, rid).await?;
        grants::check(&app.db, coop.id, &actor, &pending.roles).await?;
    }
    // An approval records its grant in the admission's transaction.
    let req = membership::decide(&app.db, &*app.clock, &coop, rid, approve, &actor).await?;
    Ok(Json(json!({"request": req})))
}

async fn list_requests(State(app): State<Arc<App>>, t: Tenant) -> ApiResult<Json<Value>> {
    let (coop, _) = t.admin()?;
    Ok(Json(
        json!({"requests": membership::list(&app.db, coop.id).await?}),
    ))
}

fn member_id(text: &str) -> ApiResult<i64> {
    text.parse()
        .map_err(|_| Error::BadRequest(format!("member id {text:?} is not a number")).into())
}

async fn status_history(
    State(app): State<Arc<App>>,
    t: OwnData,
    Path((_, member)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let (coop, actor) = t.own_data()?;
    let member = member_id(&member)?;
    if actor.member_id != Some(member) && !actor.has_role("admin") && !actor.operator {
        return Err(Error::Forbidden(
            "members see their own status history; admins see everyone's".into(),
        )
        .into());
    }
    let m = identity::get_member(&app.db, coop.id, member).await?;
    app.audit_access(&actor, member, "status history", app.clock.now_ms())
        .await?;
    Ok(Json(json!({
        "member": member,
        "status": m.status,
        "history": membership::status_history(&app.db, coop.id, member).await?,
    })))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct StatusBody {
    status: String,
    reason: String,
}

/// Admins (people, not automated systems) suspend, remove or reactivate;
/// a member may leave. Suspending and removing are deactivations: the
/// member is told why and may appeal.
async fn set_status(
    State(app): State<Arc<App>>,
    t: OwnData,
    Path((_, member)): Path<(String, String)>,
    Body(b): Body<StatusBody>,
) -> ApiResult<Json<Value>> {
    let (coop, actor) = t.own_data()?;
    let member = member_id(&member)?;
    if actor.service_key.is_some() {
        return Err(Error::Forbidden(crate::moderation::AUTOMATED_REFUSAL.into()).into());
    }
    if matches!(b.status.as_str(), "suspended" | "removed") {
        let decision = crate::moderation::deactivation::deactivate(
            &app.db,
            &coop,
            &actor,
            member,
            &b.status,
            &b.reason,
            None,
            app.clock.now_ms(),
        )
        .await?;
        return Ok(Json(
            json!({"member": member, "status": b.status, "decision": decision}),
        ));
    }
    let is_admin = actor.has_role("admin") || actor.operator;
    let leaving_self = actor.member_id == Some(member) && b.status == "left";
    if !is_admin && !leaving_self {
        return Err(Error::Forbidden(
            "only admins change a member's status; a member may leave (status \"left\")".into(),
        )
        .into());
    }
    let refunded = membership::set_status(
        &app.db,
        coop.id,
        member,
        &b.status,
        &b.reason,
        &actor,
        app.clock.now_ms(),
    )
    .await?;
    Ok(Json(
        json!({"member": member, "status": b.status, "shares_refunded": refunded}),
    ))
}

async fn my_shares(State(app): State<Arc<App>>, t: OwnData) -> ApiResult<Json<Value>> {
    let (coop, actor) = t.own_data()?;
    let member = own_member(&actor)?;
    Ok(Json(
        json!({"shares": membership::shares(&app.db, coop.id, member).await?}),
    ))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct BuyShares {
    count: i64,
    payment_ref: String,
}

async fn buy_shares(
    State(app): State<Arc<App>>,
    t: Tenant,
    Body(b): Body<BuyShares>,
) -> ApiResult<Json<Value>> {
    let (coop, actor) = t.active_member()?;
    let member = own_member(&actor)?;
    let payment_ref = b.payment_ref.trim();
    if payment_ref.is_empty() || payment_ref.len() > 100 {
        return Err(Error::Invalid(
            "payment_ref must be 1 to 100 characters: the payment's reference".into(),
        )
        .into());
    }
    let shares = membership::buy_shares(
        &app.db,
        coop.id,
        member,
        b.count,
        payment_ref,
        app.clock.now_ms(),
    )
    .await?;
    Ok(Json(json!({"shares": shares})))
}

/// Stage a component (the raw `.wasm` as the body) so a `plugin` proposal
/// can name it by SHA-256: it is inspected (a body that is not a component
/// is refused) and stored; nothing is installed.
///
/// For the coop's admins (people, the operator, or API keys with the admin
/// role, which a deployment pipeline uses; granting one is itself a
/// recorded grant-role decision). The caller is checked, and the coop's
/// staging quota, before a byte of the body is read: the body is taken
/// unread and read here only up to what the caller may stage.
async fn stage_component(
    State(app): State<Arc<App>>,
    t: Tenant,
    headers: axum::http::HeaderMap,
    body: axum::body::Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (coop, actor) = t.admin()?;
    let used = staging::usage(&app.db, coop.id).await?;
    let room = staging::room(used, MAX_COMPONENT_BYTES as i64).map_err(quota_error)?;
    let too_big = |declared: Option<u64>| {
        if room < MAX_COMPONENT_BYTES as i64 {
            quota_error(staging::QuotaHit::Bytes {
                used: used.bytes,
                max: staging::MAX_STAGED_BYTES_PER_COOP,
                days: staging::STAGED_RETENTION_MS / (24 * 3_600_000),
            })
        } else {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                format!(
                    "the component is larger than {MAX_COMPONENT_BYTES} bytes{}",
                    declared.map_or(String::new(), |d| format!(" ({d} declared)"))
                ),
            )
        }
    };
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|d| d > room as u64) {
        return Err(too_big(declared));
    }
    let body = axum::body::to_bytes(body, room as usize)
        .await
        .map_err(|e| {
            let length_limit = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            if length_limit {
                too_big(None)
            } else {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad-request",
                    format!("cannot read request body: {e}"),
                )
            }
        })?;
    if body.is_empty() {
        return Err(Error::BadRequest(
            "send the component's .wasm bytes as the request body".into(),
        )
        .into());
    }
    let engine = app.engine.clone();
    let bytes = body.to_vec();
    let (bytes, inspection) = tokio::task::spawn_blocking(move || {
        let i = engine.inspect(&bytes);
        (bytes, i)
    })
    .await
    .map_err(|e| Error::Internal(e.into()))?;
    let inspection =
        inspection.map_err(|e| Error::Invalid(format!("not a usable component: {e}")))?;
    let sha = crate::plugins::sha256_hex(&bytes);
    let size = bytes.len();
    staging::record(
        &app.db,
        coop.id,
        &sha,
        bytes,
        actor.member_id,
        app.clock.now_ms(),
    )
    .await
    .map_err(|r| match r {
        staging::Refusal::Quota(q) => quota_error(q),
        staging::Refusal::Failed(e) => e.into(),
    })?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "sha256": sha,
            "size": size,
            "requested_capabilities": crate::plugins::requested_capabilities(&inspection.imports),
            "exports": inspection.exports.iter().map(|e| &e.name).collect::<Vec<_>>(),
        })),
    ))
}

/// A staging quota hit: 409, each quota with its own code.
fn quota_error(q: staging::QuotaHit) -> ApiError {
    let code = match q {
        staging::QuotaHit::Count { .. } => "staged-count-quota",
        staging::QuotaHit::Bytes { .. } => "staged-bytes-quota",
    };
    ApiError::new(StatusCode::CONFLICT, code, q.to_string())
}
