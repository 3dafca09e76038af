//! Routes for the money the host holds: balances and history, bank
//! details, payout runs, floor runs and the public floor report,
//! statements, and who read a member's money.

use std::sync::Arc;

use super::{Path, Query};
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiResult, Body, OwnData, Tenant, own_member};
use crate::app::App;
use crate::error::Error;
use crate::identity::{self, Actor};
use crate::ledger::account::AccountKind;
use crate::ledger::period::Month;
use crate::ledger::repo;
use crate::payments::{access, floor_run, payouts, statements};

/// The JSON bodies this module's routes read, for the OpenAPI document.
pub(super) const BODIES: &[super::openapi::BodyDoc] = &[
    super::openapi::BodyDoc {
        method: "post",
        path: "/v1/coops/{coop}/floor-runs",
        schema: super::openapi::schema_of::<FloorRunRequest>,
    },
    super::openapi::BodyDoc {
        method: "post",
        path: "/v1/coops/{coop}/ledger/transactions/{key}/reverse",
        schema: super::openapi::schema_of::<ReverseBody>,
    },
    super::openapi::BodyDoc {
        method: "put",
        path: "/v1/coops/{coop}/me/bank-account",
        schema: super::openapi::schema_of::<payouts::BankDetails>,
    },
    super::openapi::BodyDoc {
        method: "put",
        path: "/v1/coops/{coop}/payout-account",
        schema: super::openapi::schema_of::<payouts::BankDetails>,
    },
    super::openapi::BodyDoc {
        method: "post",
        path: "/v1/coops/{coop}/payout-runs",
        schema: super::openapi::schema_of::<ExecuteRequest>,
    },
    super::openapi::BodyDoc {
        method: "post",
        path: "/v1/coops/{coop}/payout-runs/preview",
        schema: super::openapi::schema_of::<Option<PreviewRequest>>,
    },
];

/// The money routes, merged into the API router.
pub(super) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v1/coops/{coop}/ledger/balances", get(balances))
        .route("/v1/coops/{coop}/ledger/check", get(check))
        .route(
            "/v1/coops/{coop}/ledger/accounts/{account}",
            get(account_history),
        )
        .route(
            "/v1/coops/{coop}/ledger/transactions/{key}/reverse",
            post(reverse_transaction),
        )
        .route("/v1/coops/{coop}/me/wallet", get(my_wallet))
        .route(
            "/v1/coops/{coop}/me/bank-account",
            get(my_bank_account).put(set_my_bank_account),
        )
        .route(
            "/v1/coops/{coop}/payout-account",
            get(coop_bank_account).put(set_coop_bank_account),
        )
        .route(
            "/v1/coops/{coop}/payout-runs/preview",
            post(preview_payouts),
        )
        .route(
            "/v1/coops/{coop}/payout-runs",
            get(list_payout_runs).post(execute_payouts),
        )
        .route("/v1/coops/{coop}/payout-runs/{run}", get(get_payout_run))
        .route("/v1/coops/{coop}/payout-runs/{run}/file", get(payout_file))
        .route("/v1/coops/{coop}/floor-runs", post(run_floor))
        .route("/v1/coops/{coop}/floor-runs/{period}", get(floor_results))
        .route("/v1/coops/{coop}/floor-report", get(floor_report))
        .route("/v1/legal-minimums", get(legal_minimums))
        .route("/v1/coops/{coop}/statements/{period}", get(all_statements))
        .route(
            "/v1/coops/{coop}/members/{member}/statements/{period}",
            get(member_statement),
        )
        .route("/v1/coops/{coop}/me/statements/{period}", get(my_statement))
        .route("/v1/coops/{coop}/me/access-log", get(my_access_log))
}

fn month(text: &str) -> ApiResult<Month> {
    text.parse::<Month>()
        .map_err(|e| Error::BadRequest(e.to_string()).into())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Format {
    format: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Out {
    Json,
    Csv,
}

fn out_format(q: Format) -> ApiResult<Out> {
    match q.format.as_deref() {
        None | Some("json") => Ok(Out::Json),
        Some("csv") => Ok(Out::Csv),
        Some(other) => {
            Err(Error::BadRequest(format!("format {other:?} is not json or csv")).into())
        }
    }
}

fn attachment(content_type: &'static str, filename: &str, body: String) -> Response {
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}

async fn balances(State(app): State<Arc<App>>, t: Tenant) -> ApiResult<Json<Value>> {
    let (coop, _) = t.admin()?;
    let accounts: Vec<Value> = repo::balances(&app.db, coop.id)
        .await?
        .into_iter()
        .map(|(account, currency, balance)| {
            json!({"account": account, "currency": currency, "balance": balance})
        })
        .collect();
    Ok(Json(json!({"accounts": accounts})))
}

async fn check(State(app): State<Arc<App>>, t: Tenant) -> ApiResult<Json<Value>> {
    let (coop, _) = t.admin()?;
    Ok(Json(match repo::sum_check(&app.db, coop.id).await {
        Ok(()) => json!({"balanced": true, "problems": []}),
        Err(Error::Internal(e)) => json!({"balanced": false, "problems": [e.to_string()]}),
        Err(e) => return Err(e.into()),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Limit {
    limit: Option<u32>,
}

fn history_json(entries: Vec<repo::HistoryEntry>) -> Vec<Value> {
    entries
        .into_iter()
        .map(|e| {
            json!({
                "transaction_id": e.transaction_id,
                "idempotency_key": e.idempotency_key,
                "kind": e.kind,
                "memo": e.memo,
                "currency": e.currency,
                "amount": e.amount,
                "created_at": e.created_at,
            })
        })
        .collect()
}

async fn account_history(
    State(app): State<Arc<App>>,
    t: Tenant,
    Path((_, account)): Path<(String, String)>,
    Query(q): Query<Limit>,
) -> ApiResult<Json<Value>> {
    let (coop, actor) = t.admin()?;
    let kind = AccountKind::parse(&account).map_err(|e| Error::BadRequest(e.to_string()))?;
    let now = app.clock.now_ms();
    if let AccountKind::MemberWallet(member) = kind {
        access::record(&app.db, &actor, member, "wallet history", now).await?;
        app.audit_access(&actor, member, "wallet history", now)
            .await?;
    }
    let entries = repo::history(&app.db, coop.id, &kind, q.limit.unwrap_or(100)).await?;
    let balances: Vec<Value> = repo::balances(&app.db, coop.id)
        .await?
        .into_iter()
        .filter(|(code, _, _)| *code == account)
        .map(|(_, currency, balance)| json!({"currency": currency, "balance": balance}))
        .collect();
    Ok(Json(
        json!({"account": account, "balances": balances, "history": history_json(entries)}),
    ))
}

async fn my_wallet(
    State(app): State<Arc<App>>,
    t: OwnData,
    Query(q): Query<Limit>,
) -> ApiResult<Json<Value>> {
    let (coop, actor) = t.own_data()?;
    let member = own_member(&actor)?;
    let kind = AccountKind::MemberWallet(member);
    let code = kind.code();
    let entries = repo::history(&app.db, coop.id, &kind, q.limit.unwrap_or(100)).await?;
    let balances: Vec<Value> = repo::balances(&app.db, coop.id)
        .await?
        .into_iter()
        .filter(|(c, _, _)| *c == code)
        .map(|(_, currency, balance)| json!({"currency": currency, "balance": balance}))
        .collect();
    let paid: Vec<Value> = payouts::member_payouts(&app.db, coop.id, member)
        .await?
        .into_iter()
        .map(|(id, msg_id, amount, at)| {
            json!({"run": id, "msg_id": msg_id, "amount": amount, "currency": "EUR", "executed_at": at})
        })
        .collect();
    Ok(Json(json!({
        "account": code,
        "balances": balances,
        "history": history_json(entries),
        "payouts": paid,
    })))
}

async fn my_bank_account(State(app): State<Arc<App>>, t: OwnData) -> ApiResult<Json<Value>> {
    let (coop, actor) = t.own_data()?;
    let member = own_member(&actor)?;
    let account = payouts::bank_account(&app.db, coop.id, member).await?;
    Ok(Json(json!({"bank_account": account})))
}

async fn set_my_bank_account(
    State(app): State<Arc<App>>,
    t: OwnData,
    Body(details): Body<payouts::BankDetails>,
) -> ApiResult<Json<Value>> {
    let (coop, actor) = t.own_data()?;
    let member = own_member(&actor)?;
    let account =
        payouts::set_bank_account(&app.db, coop.id, member, &details, app.clock.now_ms()).await?;
    Ok(Json(json!({"bank_account": account})))
}

async fn coop_bank_account(State(app): State<Arc<App>>, t: Tenant) -> ApiResult<Json<Value>> {
    let (coop, _) = t.admin()?;
    let account = payouts::bank_account(&app.db, coop.id, payouts::COOP_ACCOUNT).await?;
    Ok(Json(json!({"bank_account": account})))
}

async fn set_coop_bank_account(
    State(app): State<Arc<App>>,
    t: Tenant,
    Body(details): Body<payouts::BankDetails>,
) -> ApiResult<Json<Value>> {
    let (coop, _) = t.admin()?;
    let account = payouts::set_bank_account(
        &app.db,
        coop.id,
        payouts::COOP_ACCOUNT,
        &details,
        app.clock.now_ms(),
    )
    .await?;
    Ok(Json(json!({"bank_account": account})))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct PreviewRequest {
    #[serde(default)]
    min_amount: i64,
}

async fn preview_payouts(
    State(app): State<Arc<App>>,
    t: Tenant,
    Body(b): Body<Option<PreviewRequest>>,
) -> ApiResult<Json<Value>> {
    let (coop, _) = t.admin()?;
    let min = b.map_or(0, |b| b.min_amount);
    let preview = payouts::preview(&app.db, coop.id, min, app.clock.now_ms()).await?;
    Ok(Json(json!({"preview": preview})))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ExecuteRequest {
    msg_id: String,
    execution_date: Option<i64>,
    #[serde(default)]
    min_amount: i64,
}

async fn execute_payouts(
    State(app): State<Arc<App>>,
    t: Tenant,
    Body(b): Body<ExecuteRequest>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (coop, actor) = t.admin()?;
    let (run, created) = payouts::execute(
        &app.db,
        coop.id,
        &b.msg_id,
        b.execution_date,
        b.min_amount,
        actor.member_id,
        app.clock.now_ms(),
    )
    .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(json!({"run": run, "created": created}))))
}

async fn list_payout_runs(State(app): State<Arc<App>>, t: Tenant) -> ApiResult<Json<Value>> {
    let (coop, _) = t.admin()?;
    Ok(Json(
        json!({"runs": payouts::runs(&app.db, coop.id, 200).await?}),
    ))
}

fn run_id(text: &str) -> ApiResult<i64> {
    text.parse()
        .map_err(|_| Error::BadRequest(format!("payout run id {text:?} is not a number")).into())
}

async fn get_payout_run(
    State(app): State<Arc<App>>,
    t: Tenant,
    Path((_, run)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let (coop, _) = t.admin()?;
    Ok(Json(
        json!({"run": payouts::run(&app.db, coop.id, run_id(&run)?).await?}),
    ))
}

async fn payout_file(
    State(app): State<Arc<App>>,
    t: Tenant,
    Path((_, run)): Path<(String, String)>,
) -> ApiResult<Response> {
    let (coop, _) = t.admin()?;
    let (msg_id, file) = payouts::file(&app.db, coop.id, run_id(&run)?).await?;
    Ok(attachment(
        "application/xml",
        &format!("{msg_id}.pain.001.001.09.xml"),
        file,
    ))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct FloorRunRequest {
    period: Month,
}

async fn run_floor(
    State(app): State<Arc<App>>,
    t: Tenant,
    Body(b): Body<FloorRunRequest>,
) -> ApiResult<Json<Value>> {
    let (coop, _) = t.admin()?;
    let results = floor_run::run(&app.db, coop.id, b.period, app.clock.now_ms()).await?;
    Ok(Json(json!({"period": b.period, "results": results})))
}

async fn floor_results(
    State(app): State<Arc<App>>,
    t: Tenant,
    Path((_, period)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let (coop, _) = t.admin()?;
    let period = month(&period)?;
    Ok(Json(
        json!({"period": period, "results": floor_run::results(&app.db, coop.id, period).await?}),
    ))
}

/// Public: no login, no one named.
async fn floor_report(
    State(app): State<Arc<App>>,
    Path(slug): Path<String>,
) -> ApiResult<Json<Value>> {
    let coop = identity::find_coop(&app.db, &slug).await?;
    let floor = crate::ledger::policies::floor_history(&app.db, coop.id).await?;
    Ok(Json(json!({
        "coop": coop.slug,
        "floor_history": floor.iter().map(|f| json!({
            "version": f.version,
            "per_hour": f.rate.per_hour,
            "currency": f.currency,
            "effective_from": f.rate.effective_from,
            "on_shortfall": f.on_shortfall,
            "reason": f.reason,
        })).collect::<Vec<_>>(),
        "months": floor_run::public_report(&app.db, coop.id, 24).await?,
        "debt_outstanding": floor_run::debt_outstanding(&app.db, coop.id)
            .await?
            .into_iter()
            .map(|(currency, amount)| json!({"currency": currency, "amount": amount}))
            .collect::<Vec<_>>(),
        "legal_minimum": legal_minimum_of(&app, coop.id).await?,
    })))
}

fn statements_response(
    out: Out,
    filename: String,
    list: Vec<statements::Statement>,
    single: bool,
) -> Response {
    match out {
        Out::Csv => attachment(
            "text/csv; charset=utf-8",
            &filename,
            statements::to_csv(&list),
        ),
        Out::Json if single => Json(json!({"statement": list.into_iter().next()})).into_response(),
        Out::Json => Json(json!({"statements": list})).into_response(),
    }
}

async fn statement_for(
    app: &App,
    actor: &Actor,
    coop_id: i64,
    member: i64,
    period: Month,
) -> ApiResult<statements::Statement> {
    let now = app.clock.now_ms();
    access::record(&app.db, actor, member, &format!("statement {period}"), now).await?;
    app.audit_access(actor, member, &format!("statement {period}"), now)
        .await?;
    Ok(statements::statement(&app.db, coop_id, member, period, now).await?)
}

async fn all_statements(
    State(app): State<Arc<App>>,
    t: Tenant,
    Path((_, period)): Path<(String, String)>,
    Query(q): Query<Format>,
) -> ApiResult<Response> {
    let (coop, actor) = t.admin()?;
    let out = out_format(q)?;
    let period = month(&period)?;
    let mut list = Vec::new();
    for member in statements::members_with_activity(&app.db, coop.id, period).await? {
        list.push(statement_for(&app, &actor, coop.id, member, period).await?);
    }
    Ok(statements_response(
        out,
        format!("statements-{}-{period}.csv", coop.slug),
        list,
        false,
    ))
}

async fn member_statement(
    State(app): State<Arc<App>>,
    t: OwnData,
    Path((_, member, period)): Path<(String, String, String)>,
    Query(q): Query<Format>,
) -> ApiResult<Response> {
    let (coop, actor) = t.own_data()?;
    let out = out_format(q)?;
    let period = month(&period)?;
    let member: i64 = member
        .parse()
        .map_err(|_| Error::BadRequest(format!("member id {member:?} is not a number")))?;
    if actor.member_id != Some(member) && !actor.has_role("admin") && !actor.operator {
        return Err(Error::Forbidden(
            "members read their own statements; only admins read others'".into(),
        )
        .into());
    }
    identity::get_member(&app.db, coop.id, member).await?;
    let s = statement_for(&app, &actor, coop.id, member, period).await?;
    Ok(statements_response(
        out,
        format!("statement-{}-{member}-{period}.csv", coop.slug),
        vec![s],
        true,
    ))
}

async fn my_statement(
    State(app): State<Arc<App>>,
    t: OwnData,
    Path((_, period)): Path<(String, String)>,
    Query(q): Query<Format>,
) -> ApiResult<Response> {
    let (coop, actor) = t.own_data()?;
    let out = out_format(q)?;
    let period = month(&period)?;
    let member = own_member(&actor)?;
    let s = statement_for(&app, &actor, coop.id, member, period).await?;
    Ok(statements_response(
        out,
        format!("statement-{}-{period}.csv", coop.slug),
        vec![s],
        true,
    ))
}

async fn my_access_log(State(app): State<Arc<App>>, t: OwnData) -> ApiResult<Json<Value>> {
    let (coop, actor) = t.own_data()?;
    let member = own_member(&actor)?;
    Ok(Json(
        json!({"entries": access::about(&app.db, coop.id, member, 500).await?}),
    ))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ReverseBody {
    reason: String,
}

/// Undo a transaction by posting its compensation (nothing is edited or
/// deleted). Refused if it was already reversed, or if an account would go
/// negative (e.g. the worker was already paid out). Repeating it is a
/// replay.
async fn reverse_transaction(
    State(app): State<Arc<App>>,
    t: Tenant,
    Path((_, key)): Path<(String, String)>,
    Body(b): Body<ReverseBody>,
) -> ApiResult<Json<Value>> {
    let (coop, actor) = t.admin()?;
    let reason = b.reason.trim();
    if reason.is_empty() || reason.len() > 400 {
        return Err(Error::Invalid("give a reason of 1 to 400 characters".into()).into());
    }
    let by = actor.member_id.map_or_else(
        || "the host operator".to_string(),
        |m| format!("member {m}"),
    );
    let posted = repo::reverse(
        &app.db,
        coop.id,
        &key,
        &format!("reversal:{key}"),
        &format!("reversal of {key} by {by}: {reason}"),
        app.clock.now_ms(),
    )
    .await?;
    Ok(Json(
        json!({"reversal_of": key, "transaction_id": posted.id, "replayed": posted.replayed}),
    ))
}

/// The legal minimum references that apply to a coop (its country's), for
/// the public floor report.
async fn legal_minimum_of(app: &App, coop_id: i64) -> ApiResult<Vec<Value>> {
    let mut conn = app.db.pool.acquire().await.map_err(Error::from)?;
    crate::ledger::legal_minimum::for_coop_any_currency(&mut conn, coop_id)
        .await?
        .into_iter()
        .map(|r| serde_json::to_value(r).map_err(|e| Error::Internal(e.into()).into()))
        .collect()
}

async fn legal_minimums(State(app): State<Arc<App>>) -> ApiResult<Json<Value>> {
    Ok(Json(
        json!({"legal_minimums": crate::ledger::legal_minimum::list(&app.db).await?}),
    ))
}
