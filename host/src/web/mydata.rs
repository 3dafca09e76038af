//! My data: the member's consents per purpose (give, withdraw), the data
//! each plugin uses and why, their export, their work credential, and their
//! suspensions or removals with the appeal form. Suspended and removed
//! members keep this page: it is where they appeal and take their data.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};

use super::layout::{CoopCtx, Shell, api_error_page, api_message, coop_ctx, csrf, notices};
use super::{Page, Visitor, Web, coop_form, read_form, see_other, urlencode};

/// Longest appeal statement, in bytes (the host's limit).
const MAX_STATEMENT_BYTES: usize = crate::moderation::MAX_STATEMENT_BYTES;

pub fn routes() -> Router<Web> {
    Router::new()
        .route("/c/{coop}/data", get(page))
        .route("/c/{coop}/data/consent", post(set_consent))
        .route("/c/{coop}/data/export", get(export))
        .route("/c/{coop}/data/credential", post(credential))
        .route("/c/{coop}/data/appeal", post(appeal))
}

#[derive(Deserialize)]
struct Done {
    done: Option<String>,
}

/// What the page shows again after a refused appeal.
#[derive(Default)]
struct AppealInput {
    decision: i64,
    statement: String,
    error: Option<String>,
}

fn basis_text(v: &Visitor, basis: &str) -> &'static str {
    match basis {
        "consent" => v.t("mydata.basis-consent"),
        "contract" => v.t("mydata.basis-contract"),
        "legal-obligation" => v.t("mydata.basis-legal"),
        _ => v.t("mydata.basis-other"),
    }
}

fn consents(v: &Visitor, c: &CoopCtx, list: &Value) -> Markup {
    let cats = list["categories"].as_array().cloned().unwrap_or_default();
    html! {
        section aria-labelledby="h-consents" {
            h2 id="h-consents" { (v.t("mydata.consents")) }
            p { (v.t("mydata.consents-intro")) }
            @if cats.is_empty() { p { (v.t("mydata.no-categories")) } }
            @for cat in &cats {
                @let plugin = cat["plugin"].as_str().unwrap_or("");
                @let name = cat["category"].as_str().unwrap_or("");
                article class="card" {
                    h3 { (v.f("mydata.category-of", &[("category", name), ("plugin", plugin)])) }
                    dl class="facts" {
                        dt { (v.t("mydata.purpose")) } dd { (cat["purpose"].as_str().unwrap_or("")) }
                        dt { (v.t("mydata.basis")) } dd { (basis_text(v, cat["basis"].as_str().unwrap_or(""))) }
                        dt { (v.t("mydata.retention")) }
                        dd { @match cat["retention_days"].as_i64() {
                            Some(d) => (v.f("mydata.days", &[("n", &d.to_string())])),
                            None => (v.t("mydata.retention-none")),
                        } }
                        @if cat["needs_consent"].as_bool().unwrap_or(false) {
                            dt { (v.t("mydata.your-choice")) }
                            dd {
                                @if cat["given"].as_bool().unwrap_or(false) {
                                    span class="badge ok" { (v.t("mydata.given")) }
                                } @else {
                                    span class="badge" { (v.t("mydata.not-given")) }
                                }
                                @if let Some(at) = cat["decided_at"].as_i64() {
                                    " " span class="muted" { (v.f("mydata.since", &[("date", &v.lang.datetime(at))])) }
                                }
                            }
                        }
                    }
                    @if cat["needs_consent"].as_bool().unwrap_or(false) {
                        @let given = cat["given"].as_bool().unwrap_or(false);
                        form method="post" action=(c.url("/data/consent")) {
                            (csrf(v))
                            input type="hidden" name="plugin" value=(plugin);
                            input type="hidden" name="category" value=(name);
                            input type="hidden" name="given" value=(if given { "false" } else { "true" });
                            @if given {
                                button type="submit" class="secondary" { (v.f("mydata.withdraw", &[("category", name), ("plugin", plugin)])) }
                            } @else {
                                button type="submit" { (v.f("mydata.give", &[("category", name), ("plugin", plugin)])) }
                            }
                        }
                    } @else {
                        p class="muted" { (v.t("mydata.no-choice")) }
                    }
                }
            }
        }
    }
}

fn deactivations(v: &Visitor, c: &CoopCtx, d: &Value, input: &AppealInput) -> Markup {
    let decisions = d["decisions"].as_array().cloned().unwrap_or_default();
    html! {
        section aria-labelledby="h-deactivations" {
            h2 id="h-deactivations" { (v.t("mydata.deactivations")) }
            @if decisions.is_empty() { p { (v.t("mydata.no-deactivations")) } }
            @for dec in &decisions {
                @let id = dec["decision"].as_i64().unwrap_or(0);
                article class="card" {
                    h3 {
                        @if dec["status"] == "removed" { (v.t("mydata.removed")) } @else { (v.t("mydata.suspended")) }
                        " " span class="muted" { (v.lang.datetime(dec["decided_at"].as_i64().unwrap_or(0))) }
                    }
                    dl class="facts" {
                        dt { (v.t("mydata.reason")) } dd { (dec["reason"].as_str().unwrap_or("")) }
                        dt { (v.t("mydata.appeal-until")) } dd { (v.lang.datetime(dec["appeal_until"].as_i64().unwrap_or(0))) }
                    }
                    @if let Some(a) = dec["appeal"].as_object() {
                        h4 { (v.t("mydata.your-appeal")) }
                        dl class="facts" {
                            dt { (v.t("mydata.appeal-status")) } dd { (a.get("status").and_then(Value::as_str).unwrap_or("")) }
                            dt { (v.t("mydata.appeal-filed")) } dd { (v.lang.datetime(a.get("created_at").and_then(Value::as_i64).unwrap_or(0))) }
                            dt { (v.t("mydata.review-due")) } dd { (v.lang.datetime(a.get("review_due_at").and_then(Value::as_i64).unwrap_or(0))) }
                            @if let Some(r) = a.get("review_reason").and_then(Value::as_str) {
                                dt { (v.t("mydata.review-reason")) } dd { (r) }
                            }
                        }
                    } @else if dec["can_appeal"].as_bool().unwrap_or(false) {
                        @let err = (input.decision == id).then_some(input.error.as_deref()).flatten();
                        @let fid = format!("statement-{id}");
                        form method="post" action=(c.url("/data/appeal")) {
                            (csrf(v))
                            input type="hidden" name="decision" value=(id);
                            div class="field" {
                                label for=(fid) { (v.t("mydata.statement")) }
                                textarea id=(fid) name="statement" rows="6" required
                                    aria-invalid=[err.map(|_| "true")]
                                    aria-describedby=[err.map(|_| format!("{fid}-error"))] {
                                    @if input.decision == id { (input.statement) }
                                }
                                @if let Some(e) = err { p class="field-error" id=(format!("{fid}-error")) { (e) } }
                            }
                            button type="submit" { (v.t("mydata.appeal")) }
                        }
                    } @else {
                        p class="muted" { (v.t("mydata.appeal-closed")) }
                    }
                }
            }
        }
    }
}

/// Who else read the member's money data (statements, wallet history).
fn access_log(v: &Visitor, log: &Value) -> Markup {
    let entries = log["entries"].as_array().cloned().unwrap_or_default();
    html! {
        section aria-labelledby="h-access" {
            h2 id="h-access" { (v.t("mydata.access-log")) }
            p { (v.t("mydata.access-intro")) }
            @if entries.is_empty() { p { (v.t("mydata.no-access")) } }
            @else {
                div class="table-wrap" tabindex="0" {
                    table {
                        caption class="sr" { (v.t("mydata.access-log")) }
                        thead { tr {
                            th scope="col" { (v.t("mydata.access-when")) }
                            th scope="col" { (v.t("mydata.access-who")) }
                            th scope="col" { (v.t("mydata.access-what")) }
                        } }
                        tbody {
                            @for e in &entries {
                                tr {
                                    th scope="row" { (v.lang.datetime(e["at"].as_i64().unwrap_or(0))) }
                                    td { (e["reader"].as_str().unwrap_or("")) }
                                    td { (e["what"].as_str().unwrap_or("")) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

async fn render(
    web: &Web,
    v: &Visitor,
    c: &CoopCtx,
    status: StatusCode,
    errors: &[String],
    done: Option<&str>,
    input: &AppealInput,
) -> Response {
    let list = match web.get(v, &c.api("/me/consents")).await {
        Ok(l) => l,
        Err(e) => return api_error_page(v, &e),
    };
    let deact = web
        .get(v, &c.api("/me/deactivations"))
        .await
        .unwrap_or(Value::Null);
    let access = web
        .get(v, &c.api("/me/access-log"))
        .await
        .unwrap_or(Value::Null);
    let title = v.t("common.nav-data");
    let body = Shell {
        v,
        coop: Some(c),
        title,
        nav: "data",
    }
    .render(html! {
        (notices(errors, done))
        (consents(v, c, &list))
        section aria-labelledby="h-take" {
            h2 id="h-take" { (v.t("mydata.take")) }
            p { (v.t("mydata.export-intro")) }
            p { a class="button" href=(c.url("/data/export")) download { (v.t("mydata.export")) } }
            p { (v.t("mydata.credential-intro")) }
            form method="post" action=(c.url("/data/credential")) {
                (csrf(v))
                button type="submit" class="secondary" { (v.t("mydata.credential")) }
            }
        }
        (deactivations(v, c, &deact, input))
        (access_log(v, &access))
    });
    Page::with_status(v, status, body).into_response()
}

async fn page(
    State(web): State<Web>,
    v: Visitor,
    Path(slug): Path<String>,
    Query(q): Query<Done>,
) -> Response {
    let c = match coop_ctx(&web, &v, &slug).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let done = match q.done.as_deref() {
        Some("given") => Some(v.t("mydata.done-given")),
        Some("withdrawn") => Some(v.t("mydata.done-withdrawn")),
        Some("appealed") => Some(v.t("mydata.done-appealed")),
        _ => None,
    };
    render(
        &web,
        &v,
        &c,
        StatusCode::OK,
        &[],
        done,
        &AppealInput::default(),
    )
    .await
}

async fn set_consent(
    State(web): State<Web>,
    v: Visitor,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (form, c) = match coop_form(&v, &headers, body, coop_ctx(&web, &v, &slug)).await {
        Ok(fc) => fc,
        Err(r) => return r,
    };
    let given = match form.get("given") {
        "true" => true,
        "false" => false,
        _ => {
            let errors = [v.t("mydata.err-choice").to_string()];
            return render(
                &web,
                &v,
                &c,
                StatusCode::UNPROCESSABLE_ENTITY,
                &errors,
                None,
                &AppealInput::default(),
            )
            .await;
        }
    };
    let (plugin, category) = (form.get("plugin"), form.get("category"));
    if plugin.is_empty() || category.is_empty() {
        let errors = [v.t("mydata.err-category").to_string()];
        return render(
            &web,
            &v,
            &c,
            StatusCode::UNPROCESSABLE_ENTITY,
            &errors,
            None,
            &AppealInput::default(),
        )
        .await;
    }
    let path = c.api(&format!(
        "/me/consents/{}/{}",
        urlencode(plugin),
        urlencode(category)
    ));
    match web.put(&v, &path, &json!({"given": given})).await {
        Ok(_) => see_other(&c.url(if given {
            "/data?done=given"
        } else {
            "/data?done=withdrawn"
        })),
        Err(e) => {
            let status = if e.status.is_client_error() {
                e.status
            } else {
                StatusCode::BAD_GATEWAY
            };
            let errors = [api_message(&v, &e)];
            render(&web, &v, &c, status, &errors, None, &AppealInput::default()).await
        }
    }
}

fn attachment(body: Bytes, filename: &str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// The member's export, as the API makes it, downloaded as a file.
async fn export(State(web): State<Web>, v: Visitor, Path(slug): Path<String>) -> Response {
    let c = match coop_ctx(&web, &v, &slug).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    match web
        .api_raw(&v, Method::GET, &c.api("/me/export"), None)
        .await
    {
        Ok((_, bytes)) => attachment(bytes, &format!("{}-my-data.json", c.slug)),
        Err(e) => api_error_page(&v, &e),
    }
}

/// The member's work credential, signed by the coop, downloaded as a file.
async fn credential(
    State(web): State<Web>,
    v: Visitor,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = read_form(&v, &headers, body).await {
        return r;
    }
    let c = match coop_ctx(&web, &v, &slug).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    match web
        .api_raw(&v, Method::POST, &c.api("/me/credential"), None)
        .await
    {
        Ok((_, bytes)) => attachment(bytes, &format!("{}-work-credential.json", c.slug)),
        Err(e) => api_error_page(&v, &e),
    }
}

async fn appeal(
    State(web): State<Web>,
    v: Visitor,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (form, c) = match coop_form(&v, &headers, body, coop_ctx(&web, &v, &slug)).await {
        Ok(fc) => fc,
        Err(r) => return r,
    };
    let Ok(decision) = form.get("decision").parse::<i64>() else {
        let errors = [v.t("mydata.err-decision").to_string()];
        return render(
            &web,
            &v,
            &c,
            StatusCode::UNPROCESSABLE_ENTITY,
            &errors,
            None,
            &AppealInput::default(),
        )
        .await;
    };
    let statement = form.get("statement").to_string();
    let error = if statement.is_empty() {
        Some(v.t("mydata.err-statement-empty").to_string())
    } else if statement.len() > MAX_STATEMENT_BYTES {
        Some(v.f(
            "mydata.err-statement-long",
            &[("max", &MAX_STATEMENT_BYTES.to_string())],
        ))
    } else {
        None
    };
    if let Some(e) = error {
        let input = AppealInput {
            decision,
            statement,
            error: Some(e.clone()),
        };
        return render(
            &web,
            &v,
            &c,
            StatusCode::UNPROCESSABLE_ENTITY,
            &[e],
            None,
            &input,
        )
        .await;
    }
    match web
        .post(
            &v,
            &c.api("/me/appeals"),
            &json!({"decision": decision, "statement": statement}),
        )
        .await
    {
        Ok(_) => see_other(&c.url("/data?done=appealed")),
        Err(e) => {
            let msg = api_message(&v, &e);
            let input = AppealInput {
                decision,
                statement,
                error: Some(msg.clone()),
            };
            let status = if e.status.is_client_error() {
                e.status
            } else {
                StatusCode::BAD_GATEWAY
            };
            render(&web, &v, &c, status, &[msg], None, &input).await
        }
    }
}
