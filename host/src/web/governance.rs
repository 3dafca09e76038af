//! Governance pages: open proposals and what they would change, voting
//! (and changing one's vote until the close), results with the tally per
//! college, opening a proposal, the decision log with its verification,
//! and the terms of service with the diff of pending versions.
//!
//! Everything goes through the JSON API as the visitor, so the API's rules
//! (who may vote, which choices a method allows, windows) decide; the
//! forms check their fields first to answer in the visitor's language.

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};

use super::layout::{CoopCtx, Shell, api_error_page, api_message, coop_ctx, csrf, notices};
use super::{Page, Visitor, Web, coop_form, read_form, see_other, urlencode};

pub fn routes() -> Router<Web> {
    Router::new()
        .route("/c/{coop}/governance", get(overview))
        .route(
            "/c/{coop}/governance/new",
            get(new_form).post(open_proposal),
        )
        .route("/c/{coop}/governance/proposals/{id}", get(proposal_page))
        .route("/c/{coop}/governance/proposals/{id}/vote", post(vote))
        .route("/c/{coop}/governance/decisions", get(decisions))
        .route("/c/{coop}/governance/terms", get(terms))
        .route(
            "/c/{coop}/governance/terms/{version}/accept",
            post(accept_terms),
        )
}

/// Longest reason a ballot may carry, bytes (the API's limit).
const MAX_REASON_BYTES: usize = 2_000;
/// Longest proposal title, characters (the API's limit).
const MAX_TITLE_CHARS: usize = 200;
/// Longest proposal text, bytes (the API's limit).
const MAX_BODY_BYTES: usize = 20_000;
/// Decision-log entries shown per page.
const LOG_PAGE: i64 = 50;

#[derive(Deserialize)]
struct Done {
    done: Option<String>,
}

// ---------------------------------------------------------------- words

/// Basis points as a percentage the language's way: `66.66%`, `66,66 %`.
pub(super) fn pct(v: &Visitor, bp: i64) -> String {
    let whole = bp / 100;
    let frac = (bp % 100).abs();
    let number = if frac == 0 {
        whole.to_string()
    } else {
        let sep = if v.lang.code() == "fr" { ',' } else { '.' };
        format!("{whole}{sep}{frac:02}")
    };
    if v.lang.code() == "fr" {
        format!("{number}\u{a0}%")
    } else {
        format!("{number}%")
    }
}

/// A JSON value as people read it: text without quotes, the rest as JSON.
fn plain_value(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A value short enough for a select option.
fn short_value(value: &Value) -> String {
    let text = plain_value(value);
    if text.chars().count() <= 30 {
        text
    } else {
        format!("{}…", text.chars().take(29).collect::<String>())
    }
}

fn kind_name(v: &Visitor, kind: &str) -> String {
    known(v, &format!("governance.kind-{kind}"), kind)
}

fn status_name(v: &Visitor, status: &str) -> String {
    known(v, &format!("governance.status-{status}"), status)
}

fn method_name(v: &Visitor, method: &str) -> String {
    known(v, &format!("governance.method-{method}"), method)
}

/// The catalog text for a key built at run time, or `fallback` when the
/// catalog has none (a kind added to the API before the pages).
fn known(v: &Visitor, key: &str, fallback: &str) -> String {
    let text = v.lang.t(key);
    if text == v.t("common.missing-text") {
        fallback.to_string()
    } else {
        text.to_string()
    }
}

fn status_badge(v: &Visitor, status: &str) -> Markup {
    let class = match status {
        "passed" | "applied" => "badge ok",
        "rejected" | "failed" => "badge bad",
        _ => "badge",
    };
    html! { span class=(class) { (status_name(v, status)) } }
}

/// Member names by id, for proposers and role changes.
async fn member_names(web: &Web, v: &Visitor, c: &CoopCtx) -> HashMap<i64, String> {
    web.get(v, &c.api("/members"))
        .await
        .ok()
        .and_then(|m| m["members"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|m| Some((m["id"].as_i64()?, m["display_name"].as_str()?.to_string())))
        .collect()
}

fn member_label(v: &Visitor, names: &HashMap<i64, String>, id: i64) -> String {
    match names.get(&id) {
        Some(n) => v.f(
            "governance.member-named",
            &[("name", n), ("id", &id.to_string())],
        ),
        None => v.f("governance.member-number", &[("id", &id.to_string())]),
    }
}

/// What a proposal's `change` does, in words, per kind.
fn change_words(v: &Visitor, change: &Value, names: &HashMap<i64, String>) -> Markup {
    let kind = change["kind"].as_str().unwrap_or("");
    let s = |k: &str| change[k].as_str().unwrap_or("").to_string();
    match kind {
        "set-config" => html! {
            p { (v.f("governance.change-set-config", &[
                ("plugin", &s("plugin")), ("name", &s("name")),
                ("value", &plain_value(&change["value"])),
            ])) }
        },
        "set-split" => split_words(v, &change["terms"]),
        "set-floor" => {
            let amount = v.lang.money(
                change["per_hour"].as_i64().unwrap_or(0),
                change["currency"].as_str().unwrap_or("EUR"),
            );
            let shortfall = match change["on_shortfall"].as_str() {
                Some("flag") => v.t("governance.change-shortfall-flag"),
                _ => v.t("governance.change-shortfall-top-up"),
            };
            html! {
                p { (v.f("governance.change-set-floor", &[("amount", &amount)])) " " (shortfall) }
            }
        }
        "grant-role" | "revoke-role" => {
            let member = member_label(v, names, change["member"].as_i64().unwrap_or(0));
            let key = if kind == "grant-role" {
                "governance.change-grant-role"
            } else {
                "governance.change-revoke-role"
            };
            html! { p { (v.f(key, &[("member", &member), ("role", &s("role"))])) } }
        }
        "install-plugin" => {
            let manifest: toml::Table = change["manifest"]
                .as_str()
                .and_then(|m| toml::from_str(m).ok())
                .unwrap_or_default();
            let meta = manifest.get("plugin");
            let field = |k: &str| {
                meta.and_then(|p| p.get(k))
                    .and_then(|x| x.as_str())
                    .unwrap_or("?")
                    .to_string()
            };
            let grants = match change["grants"].as_array() {
                None => v.t("governance.change-grants-all").to_string(),
                Some(g) if g.is_empty() => v.t("governance.change-grants-none").to_string(),
                Some(g) => v.f(
                    "governance.change-grants-only",
                    &[(
                        "list",
                        &g.iter()
                            .filter_map(|x| x.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                    )],
                ),
            };
            html! {
                p { (v.f("governance.change-install-plugin", &[
                    ("name", &field("name")), ("version", &field("version")),
                ])) }
                p { (v.t("governance.sha256")) " " code { (s("sha256")) } }
                p { (grants) }
                details {
                    summary { (v.t("governance.manifest")) }
                    pre { (s("manifest")) }
                }
            }
        }
        "rollback-plugin" => {
            html! { p { (v.f("governance.change-rollback-plugin", &[("name", &s("name"))])) } }
        }
        "remove-plugin" => {
            html! { p { (v.f("governance.change-remove-plugin", &[("name", &s("name"))])) } }
        }
        "set-limits" => html! {
            p { (v.f("governance.change-set-limits", &[
                ("plugin", &s("plugin")), ("limits", &plain_value(&change["limits"])),
            ])) }
        },
        "adopt-terms" => html! {
            p { (v.t("governance.change-adopt-terms")) }
            details {
                summary { (v.t("governance.terms-text")) }
                pre { (s("text")) }
            }
        },
        "set-rules" => rules_words(v, &change["rules"]),
        "admit-member" => html! {
            p { (v.f("governance.change-admit-member", &[
                ("application", &change["application"].as_i64().unwrap_or(0).to_string()),
            ])) }
        },
        "resolution" => html! { p { (v.t("governance.change-resolution")) } },
        other => html! {
            p { (v.f("governance.change-unknown", &[("kind", other)])) }
            pre { (serde_json::to_string_pretty(change).unwrap_or_default()) }
        },
    }
}

fn split_words(v: &Visitor, terms: &Value) -> Markup {
    let bp = |k: &str| pct(v, terms[k].as_i64().unwrap_or(0));
    match terms["model"].as_str() {
        Some("subscription") => html! {
            p { (v.f("governance.change-split-subscription", &[
                ("fee", &terms["fee_per_period"].as_i64().unwrap_or(0).to_string()),
                ("days", &terms["period_days"].as_i64().unwrap_or(0).to_string()),
            ])) }
        },
        _ => html! {
            p { (v.f("governance.change-split-commission", &[
                ("worker", &bp("worker_share_bp")),
                ("reserve", &bp("reserve_share_of_commission_bp")),
                ("solidarity", &bp("solidarity_share_of_commission_bp")),
                ("community", &bp("community_share_of_commission_bp")),
            ])) }
        },
    }
}

fn rules_words(v: &Visitor, rules: &Value) -> Markup {
    let colleges: Vec<String> = rules["colleges"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            format!(
                "{} ({})",
                c["name"].as_str().unwrap_or("?"),
                pct(v, c["weight_bp"].as_i64().unwrap_or(0))
            )
        })
        .collect();
    let direct: Vec<String> = rules["admins_may"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|k| k.as_str())
        .map(|k| kind_name(v, k))
        .collect();
    let default_method = rules["default_vote"]["vote"]["method"]
        .as_str()
        .unwrap_or("");
    html! {
        p { (v.t("governance.change-set-rules")) }
        ul {
            li { (v.f("governance.rules-default-method", &[("method", &method_name(v, default_method))])) }
            @if colleges.is_empty() {
                li { (v.t("governance.rules-no-colleges")) }
            } @else {
                li { (v.f("governance.rules-colleges", &[("list", &colleges.join(", "))])) }
            }
            @if direct.is_empty() {
                li { (v.t("governance.rules-no-direct")) }
            } @else {
                li { (v.f("governance.rules-direct", &[("list", &direct.join(", "))])) }
            }
        }
        details {
            summary { (v.t("governance.rules-in-full")) }
            pre { (serde_json::to_string_pretty(rules).unwrap_or_default()) }
        }
    }
}

/// A text in paragraphs (blank lines separate them).
fn paragraphs(text: &str) -> Markup {
    html! {
        @for para in text.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
            p { (para) }
        }
    }
}

fn sub_nav(v: &Visitor, c: &CoopCtx, current: &str) -> Markup {
    let items = [
        (
            "proposals",
            c.url("/governance"),
            v.t("governance.proposals"),
        ),
        ("new", c.url("/governance/new"), v.t("governance.new-title")),
        (
            "decisions",
            c.url("/governance/decisions"),
            v.t("governance.log-title"),
        ),
        (
            "terms",
            c.url("/governance/terms"),
            v.t("governance.terms-title"),
        ),
    ];
    html! {
        nav aria-label=(v.t("governance.sub-nav")) class="actions" {
            @for (key, href, label) in items {
                @if key == current {
                    a href=(href) aria-current="page" { (label) }
                } @else {
                    a href=(href) { (label) }
                }
            }
        }
    }
}

// ------------------------------------------------------------- overview

async fn overview(
    State(web): State<Web>,
    v: Visitor,
    Path(slug): Path<String>,
    Query(q): Query<Done>,
) -> Response {
    let c = match coop_ctx(&web, &v, &slug).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let list = match web.get(&v, &c.api("/proposals")).await {
        Ok(l) => l,
        Err(e) => return api_error_page(&v, &e),
    };
    let names = member_names(&web, &v, &c).await;
    let now = web.app.clock.now_ms();
    let all: Vec<Value> = list["proposals"].as_array().cloned().unwrap_or_default();
    let open: Vec<&Value> = all.iter().filter(|p| p["status"] == "open").collect();
    let closed: Vec<&Value> = all.iter().filter(|p| p["status"] != "open").collect();
    let done = q.done.as_deref().map(|_| v.t("governance.done"));
    let body = Shell {
        v: &v,
        coop: Some(&c),
        title: v.t("common.nav-governance"),
        nav: "governance",
    }
    .render(html! {
        (sub_nav(&v, &c, "proposals"))
        (notices(&[], done))
        section {
            h2 { (v.t("governance.open-proposals")) }
            @if open.is_empty() {
                p { (v.t("governance.no-open")) }
            } @else {
                ul class="plain" {
                    @for p in &open { li { (proposal_card(&v, &c, p, &names, now)) } }
                }
            }
        }
        section {
            h2 { (v.t("governance.closed-proposals")) }
            @if closed.is_empty() {
                p { (v.t("governance.no-closed")) }
            } @else {
                div class="table-wrap" tabindex="0" {
                    table {
                        caption class="sr" { (v.t("governance.closed-proposals")) }
                        thead { tr {
                            th scope="col" { (v.t("governance.col-proposal")) }
                            th scope="col" { (v.t("governance.col-kind")) }
                            th scope="col" { (v.t("governance.col-result")) }
                            th scope="col" { (v.t("governance.col-closed")) }
                            th scope="col" { (v.t("governance.col-effective")) }
                        } }
                        tbody {
                            @for p in &closed {
                                tr {
                                    th scope="row" {
                                        a href=(c.url(&format!("/governance/proposals/{}", p["id"]))) {
                                            (p["title"].as_str().unwrap_or(""))
                                        }
                                    }
                                    td { (kind_name(&v, p["change"]["kind"].as_str().unwrap_or(""))) }
                                    td { (status_badge(&v, p["status"].as_str().unwrap_or(""))) }
                                    td { (v.lang.date(p["closes_at"].as_i64().unwrap_or(0))) }
                                    td { (v.lang.date(p["effective_at"].as_i64().unwrap_or(0))) }
                                }
                            }
                        }
                    }
                }
            }
        }
    });
    Page::ok(&v, body).into_response()
}

fn proposal_card(
    v: &Visitor,
    c: &CoopCtx,
    p: &Value,
    names: &HashMap<i64, String>,
    now: i64,
) -> Markup {
    let closes = p["closes_at"].as_i64().unwrap_or(0);
    let text = p["body"].as_str().unwrap_or("");
    let short: String = text.chars().take(400).collect();
    html! {
        article class="card" {
            h3 {
                a href=(c.url(&format!("/governance/proposals/{}", p["id"]))) {
                    (p["title"].as_str().unwrap_or(""))
                }
            }
            p class="muted" {
                span class="badge" { (kind_name(v, p["change"]["kind"].as_str().unwrap_or(""))) }
                " "
                (v.f("governance.proposed-by", &[("member", &member_label(v, names, p["proposer"].as_i64().unwrap_or(0)))]))
            }
            (paragraphs(&short))
            @if short.len() < text.len() { p { "…" } }
            h4 { (v.t("governance.what-it-changes")) }
            (change_words(v, &p["change"], names))
            dl class="facts" {
                dt { (if closes > now { v.t("governance.closes") } else { v.t("governance.closed-at") }) }
                dd { time { (v.lang.datetime(closes)) } }
                dt { (v.t("governance.effective")) }
                dd { time { (v.lang.datetime(p["effective_at"].as_i64().unwrap_or(0))) } }
            }
            p {
                a class="button" href=(c.url(&format!("/governance/proposals/{}", p["id"]))) {
                    (v.t("governance.read-and-vote"))
                }
            }
        }
    }
}

// ------------------------------------------------------------- proposal

/// What the vote form shows: the visitor's input and what was wrong.
#[derive(Default)]
struct VoteInput {
    choice: String,
    reason: String,
    errors: Vec<String>,
    choice_error: Option<String>,
    reason_error: Option<String>,
}

fn parse_id(text: &str) -> Option<i64> {
    text.parse::<i64>().ok().filter(|i| *i > 0)
}

async fn proposal_page(
    State(web): State<Web>,
    v: Visitor,
    Path((slug, id)): Path<(String, String)>,
    Query(q): Query<Done>,
) -> Response {
    let c = match coop_ctx(&web, &v, &slug).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let done = q.done.as_deref().map(|d| match d {
        "voted" => v.t("governance.voted"),
        "opened" => v.t("governance.opened"),
        _ => v.t("governance.done"),
    });
    render_proposal(
        &web,
        &v,
        &c,
        &id,
        StatusCode::OK,
        VoteInput::default(),
        done,
    )
    .await
}

async fn render_proposal(
    web: &Web,
    v: &Visitor,
    c: &CoopCtx,
    id: &str,
    status: StatusCode,
    input: VoteInput,
    done: Option<&str>,
) -> Response {
    let Some(id) = parse_id(id) else {
        return super::layout::error_page(v, StatusCode::NOT_FOUND, v.t("governance.no-such"));
    };
    let answer = match web.get(v, &c.api(&format!("/proposals/{id}"))).await {
        Ok(a) => a,
        Err(e) => return api_error_page(v, &e),
    };
    let p = &answer["proposal"];
    let names = member_names(web, v, c).await;
    let now = web.app.clock.now_ms();
    let pstatus = p["status"].as_str().unwrap_or("");
    let closes = p["closes_at"].as_i64().unwrap_or(0);
    let votable = pstatus == "open" && now < closes;
    let method = p["rules"]["method"].as_str().unwrap_or("");
    let recount = if p["tally"].is_object() {
        web.get(v, &c.api(&format!("/proposals/{id}/votes")))
            .await
            .ok()
    } else {
        None
    };
    // A set-config proposal shows what the parameter means and is now.
    let config = match p["change"]["kind"].as_str() {
        Some("set-config") => {
            let plugin = p["change"]["plugin"].as_str().unwrap_or("");
            web.get(v, &c.api(&format!("/plugins/{}/config", urlencode(plugin))))
                .await
                .ok()
        }
        _ => None,
    };
    let title = p["title"].as_str().unwrap_or("").to_string();
    let body = Shell {
        v,
        coop: Some(c),
        title: &title,
        nav: "governance",
    }
    .render(html! {
        (sub_nav(v, c, ""))
        (notices(&input.errors, done))
        p {
            (status_badge(v, pstatus)) " "
            span class="badge" { (kind_name(v, p["kind"].as_str().unwrap_or(""))) } " "
            span class="muted" { (v.f("governance.proposed-by", &[("member", &member_label(v, &names, p["proposer"].as_i64().unwrap_or(0)))])) }
        }
        section class="card" {
            h2 { (v.t("governance.the-proposal")) }
            @if p["body"].as_str().unwrap_or("").trim().is_empty() {
                p class="muted" { (v.t("governance.no-text")) }
            } @else {
                (paragraphs(p["body"].as_str().unwrap_or("")))
            }
        }
        section class="card" {
            h2 { (v.t("governance.what-it-changes")) }
            (change_words(v, &p["change"], &names))
            @if let Some(cfg) = &config {
                @let name = p["change"]["name"].as_str().unwrap_or("");
                @if let Some(now_value) = cfg["config"].get(name) {
                    p { (v.f("governance.config-now", &[("value", &plain_value(now_value))])) }
                }
                @if let Some(d) = cfg["parameters"][name]["description"].as_str().filter(|d| !d.is_empty()) {
                    p class="muted" { (d) }
                }
            }
        }
        section {
            h2 { (v.t("governance.dates-and-rules")) }
            dl class="facts" {
                dt { (v.t("governance.opened-at")) }
                dd { time { (v.lang.datetime(p["opens_at"].as_i64().unwrap_or(0))) } }
                dt { (if votable { v.t("governance.closes") } else { v.t("governance.closed-at") }) }
                dd { time { (v.lang.datetime(closes)) } }
                dt { (v.t("governance.effective")) }
                dd { time { (v.lang.datetime(p["effective_at"].as_i64().unwrap_or(0))) } }
                dt { (v.t("governance.method")) }
                dd { (method_name(v, method)) }
                dt { (v.t("governance.quorum")) }
                dd { (pct(v, p["rules"]["quorum_bp"].as_i64().unwrap_or(0))) }
                @if method != "consent" {
                    dt { (v.t("governance.threshold")) }
                    dd { (v.f("governance.threshold-more-than", &[("pct", &pct(v, p["rules"]["threshold_bp"].as_i64().unwrap_or(0)))])) }
                }
                @if pstatus == "open" {
                    dt { (v.t("governance.votes-cast")) }
                    dd { (answer["votes_cast"].as_i64().unwrap_or(0)) }
                }
            }
        }
        @if votable {
            (vote_form(v, c, id, method, &answer["your_vote"], closes, &input))
        } @else if pstatus == "open" {
            section class="card" {
                h2 { (v.t("governance.your-vote")) }
                p { (v.t("governance.counting")) }
            }
        }
        @if p["tally"].is_object() {
            (results(v, &p["tally"], recount.as_ref(), &names))
        }
        @if let Some(outcome) = p["outcome"].as_str() {
            section class="card" {
                h2 { (v.t("governance.outcome")) }
                p { (outcome) }
            }
        }
    });
    Page::with_status(v, status, body).into_response()
}

/// The choices a method offers, with their labels.
fn choices(v: &Visitor, method: &str) -> Vec<(&'static str, &'static str)> {
    if method == "consent" {
        vec![
            ("yes", v.t("governance.choice-consent")),
            ("abstain", v.t("governance.choice-abstain")),
            ("object", v.t("governance.choice-object")),
        ]
    } else {
        vec![
            ("yes", v.t("governance.choice-yes")),
            ("no", v.t("governance.choice-no")),
            ("abstain", v.t("governance.choice-abstain")),
        ]
    }
}

fn choice_label(v: &Visitor, method: &str, choice: &str) -> String {
    choices(v, method)
        .into_iter()
        .find(|(c, _)| *c == choice)
        .map(|(_, l)| l.to_string())
        .unwrap_or_else(|| choice.to_string())
}

fn vote_form(
    v: &Visitor,
    c: &CoopCtx,
    id: i64,
    method: &str,
    current: &Value,
    closes: i64,
    input: &VoteInput,
) -> Markup {
    let current_choice = current["choice"].as_str().unwrap_or("");
    let selected = if input.choice.is_empty() {
        current_choice
    } else {
        input.choice.as_str()
    };
    let reason = if input.choice.is_empty() && input.reason.is_empty() {
        current["reason"].as_str().unwrap_or("")
    } else {
        input.reason.as_str()
    };
    let reason_label = if method == "consent" {
        v.t("governance.reason-objection")
    } else {
        v.t("governance.reason-optional")
    };
    html! {
        section class="card" {
            h2 { (v.t("governance.your-vote")) }
            @if current.is_object() {
                p {
                    (v.f("governance.you-voted", &[("choice", &choice_label(v, method, current_choice))]))
                    " "
                    (v.f("governance.you-may-change", &[("date", &v.lang.datetime(closes))]))
                }
            } @else {
                p { (v.f("governance.not-voted", &[("date", &v.lang.datetime(closes))])) }
            }
            form method="post" action=(c.url(&format!("/governance/proposals/{id}/vote"))) novalidate {
                (csrf(v))
                fieldset aria-describedby=[input.choice_error.as_ref().map(|_| "choice-error")] {
                    legend { (v.t("governance.your-choice")) }
                    @for (value, label) in choices(v, method) {
                        div {
                            input type="radio" id=(format!("choice-{value}")) name="choice" value=(value)
                                checked[selected == value];
                            " "
                            label for=(format!("choice-{value}")) { (label) }
                        }
                    }
                    @if let Some(e) = &input.choice_error { p class="field-error" id="choice-error" { (e) } }
                }
                div class="field" {
                    label for="f-reason" { (reason_label) }
                    textarea id="f-reason" name="reason" rows="3"
                        aria-invalid=[input.reason_error.as_ref().map(|_| "true")]
                        aria-describedby=[input.reason_error.as_ref().map(|_| "f-reason-error")] { (reason) }
                    @if let Some(e) = &input.reason_error { p class="field-error" id="f-reason-error" { (e) } }
                }
                div class="actions" {
                    button type="submit" {
                        (if current.is_object() { v.t("governance.change-vote") } else { v.t("governance.cast-vote") })
                    }
                }
            }
        }
    }
}

fn results(
    v: &Visitor,
    t: &Value,
    recount: Option<&Value>,
    names: &HashMap<i64, String>,
) -> Markup {
    let n = |k: &str| t[k].as_i64().unwrap_or(0);
    let method = t["method"].as_str().unwrap_or("");
    let passed = t["passed"].as_bool().unwrap_or(false);
    let colleges: Vec<Value> = t["colleges"].as_array().cloned().unwrap_or_default();
    let objections: Vec<Value> = t["objections"].as_array().cloned().unwrap_or_default();
    let quorum_needed = (n("quorum_bp") * n("eligible") + 9_999) / 10_000;
    let ballots: Vec<Value> = recount
        .and_then(|r| r["votes"].as_array().cloned())
        .unwrap_or_default();
    html! {
        section class="card" {
            h2 { (v.t("governance.result")) }
            p {
                @if passed {
                    span class="badge ok" { (v.t("governance.result-passed")) }
                } @else {
                    span class="badge bad" { (v.t("governance.result-not-passed")) }
                }
            }
            div class="grid" {
                div class="figure" { strong { (n("yes")) } " " (if method == "consent" { v.t("governance.consents") } else { v.t("governance.yes-votes") }) }
                @if method != "consent" {
                    div class="figure" { strong { (n("no")) } " " (v.t("governance.no-votes")) }
                } @else {
                    div class="figure" { strong { (objections.len()) } " " (v.t("governance.objections")) }
                }
                div class="figure" { strong { (n("abstain")) } " " (v.t("governance.abstentions")) }
            }
            dl class="facts" {
                dt { (v.t("governance.turnout")) }
                dd { (v.f("governance.turnout-of", &[("cast", &n("cast").to_string()), ("eligible", &n("eligible").to_string())])) }
                dt { (v.t("governance.quorum")) }
                dd {
                    (v.f("governance.quorum-needed", &[("pct", &pct(v, n("quorum_bp"))), ("count", &quorum_needed.to_string())]))
                    " "
                    @if t["quorum_met"].as_bool().unwrap_or(false) {
                        span class="badge ok" { (v.t("governance.quorum-met")) }
                    } @else {
                        span class="badge bad" { (v.t("governance.quorum-missed")) }
                    }
                }
                @if method != "consent" {
                    dt { (if method == "college-weighted" { v.t("governance.weighted-score") } else { v.t("governance.yes-share") }) }
                    dd {
                        @match t["score_bp"].as_i64() {
                            Some(s) => (v.f("governance.score-vs-threshold", &[("score", &pct(v, s)), ("threshold", &pct(v, n("threshold_bp")))])),
                            None => (v.t("governance.no-score")),
                        }
                    }
                }
            }
            @if !colleges.is_empty() {
                h3 { (v.t("governance.per-college")) }
                div class="table-wrap" tabindex="0" {
                    table {
                        caption { (v.t("governance.per-college-caption")) }
                        thead { tr {
                            th scope="col" { (v.t("governance.col-college")) }
                            th scope="col" class="num" { (v.t("governance.col-weight")) }
                            th scope="col" class="num" { (v.t("governance.col-counted-weight")) }
                            th scope="col" class="num" { (v.t("governance.col-eligible")) }
                            th scope="col" class="num" { (v.t("governance.col-yes")) }
                            th scope="col" class="num" { (v.t("governance.col-no")) }
                            th scope="col" class="num" { (v.t("governance.col-abstain")) }
                            th scope="col" class="num" { (v.t("governance.col-yes-share")) }
                            th scope="col" class="num" { (v.t("governance.col-contribution")) }
                        } }
                        tbody {
                            @for col in &colleges {
                                tr {
                                    th scope="row" { (col["name"].as_str().unwrap_or("")) }
                                    td class="num" { (pct(v, col["weight_bp"].as_i64().unwrap_or(0))) }
                                    td class="num" { (pct(v, col["effective_weight_bp"].as_i64().unwrap_or(0))) }
                                    td class="num" { (col["eligible"].as_i64().unwrap_or(0)) }
                                    td class="num" { (col["yes"].as_i64().unwrap_or(0)) }
                                    td class="num" { (col["no"].as_i64().unwrap_or(0)) }
                                    td class="num" { (col["abstain"].as_i64().unwrap_or(0)) }
                                    td class="num" {
                                        @match col["yes_share_bp"].as_i64() {
                                            Some(s) => (pct(v, s)),
                                            None => (v.t("governance.not-counted")),
                                        }
                                    }
                                    td class="num" { (pct(v, col["contribution_bp"].as_i64().unwrap_or(0))) }
                                }
                            }
                        }
                    }
                }
            }
            @if !objections.is_empty() {
                h3 { (v.t("governance.objections")) }
                ul {
                    @for o in &objections {
                        li {
                            strong { (member_label(v, names, o["member_id"].as_i64().unwrap_or(0))) } ": "
                            (o["reason"].as_str().unwrap_or(""))
                        }
                    }
                }
            }
            @if let Some(r) = recount {
                @if r["matches_published_tally"].as_bool().unwrap_or(false) {
                    p { span class="badge ok" { (v.t("governance.recount-matches")) } }
                } @else {
                    p { span class="badge bad" { (v.t("governance.recount-differs")) } }
                }
            }
            details {
                summary { (v.t("governance.as-recorded")) }
                p lang="en" { (t["explanation"].as_str().unwrap_or("")) }
            }
            @if !ballots.is_empty() {
                details {
                    summary { (v.f("governance.ballots", &[("count", &ballots.len().to_string())])) }
                    div class="table-wrap" tabindex="0" {
                        table {
                            caption class="sr" { (v.t("governance.ballots-caption")) }
                            thead { tr {
                                th scope="col" { (v.t("governance.col-member")) }
                                th scope="col" { (v.t("governance.col-college")) }
                                th scope="col" { (v.t("governance.col-choice")) }
                                th scope="col" { (v.t("governance.col-reason")) }
                            } }
                            tbody {
                                @for b in &ballots {
                                    tr {
                                        th scope="row" { (member_label(v, names, b["member_id"].as_i64().unwrap_or(0))) }
                                        td { (b["college"].as_str().unwrap_or("—")) }
                                        td { (choice_label(v, method, b["choice"].as_str().unwrap_or(""))) }
                                        td { (b["reason"].as_str().unwrap_or("")) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

async fn vote(
    State(web): State<Web>,
    v: Visitor,
    Path((slug, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (form, c) = match coop_form(&v, &headers, body, coop_ctx(&web, &v, &slug)).await {
        Ok(fc) => fc,
        Err(r) => return r,
    };
    let Some(pid) = parse_id(&id) else {
        return super::layout::error_page(&v, StatusCode::NOT_FOUND, v.t("governance.no-such"));
    };
    let p = match web.get(&v, &c.api(&format!("/proposals/{pid}"))).await {
        Ok(a) => a["proposal"].clone(),
        Err(e) => return api_error_page(&v, &e),
    };
    let method = p["rules"]["method"].as_str().unwrap_or("");
    let mut input = VoteInput {
        choice: form.get("choice").to_string(),
        reason: form.get("reason").to_string(),
        ..Default::default()
    };
    if !choices(&v, method).iter().any(|(c, _)| *c == input.choice) {
        let msg = if method == "consent" {
            v.t("governance.choose-consent")
        } else {
            v.t("governance.choose-one")
        };
        input.choice_error = Some(msg.to_string());
    } else if input.choice == "object" && input.reason.is_empty() {
        input.reason_error = Some(v.t("governance.objection-needs-reason").to_string());
    }
    if input.reason.len() > MAX_REASON_BYTES {
        input.reason_error = Some(v.t("governance.reason-too-long").to_string());
    }
    if input.choice_error.is_some() || input.reason_error.is_some() {
        input.errors = [&input.choice_error, &input.reason_error]
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        return render_proposal(
            &web,
            &v,
            &c,
            &id,
            StatusCode::UNPROCESSABLE_ENTITY,
            input,
            None,
        )
        .await;
    }
    let ballot = json!({"choice": input.choice, "reason": input.reason});
    match web
        .post(&v, &c.api(&format!("/proposals/{pid}/votes")), &ballot)
        .await
    {
        Ok(_) => see_other(&c.url(&format!("/governance/proposals/{pid}?done=voted"))),
        Err(e) if e.status.is_client_error() => {
            input.errors = vec![api_message(&v, &e)];
            render_proposal(&web, &v, &c, &id, e.status, input, None).await
        }
        Err(e) => api_error_page(&v, &e),
    }
}

// ---------------------------------------------------- opening a proposal

/// The new-proposal form's input and errors.
#[derive(Default)]
struct NewInput {
    fields: HashMap<String, String>,
    errors: Vec<String>,
    field_errors: HashMap<&'static str, String>,
}

impl NewInput {
    fn get(&self, name: &str) -> &str {
        self.fields.get(name).map(String::as_str).unwrap_or("")
    }

    fn error(&mut self, field: &'static str, message: &str) {
        self.errors.push(message.to_string());
        self.field_errors.insert(field, message.to_string());
    }
}

/// A configuration parameter one may propose to change.
struct Param {
    plugin: String,
    name: String,
    kind: String,
    description: String,
    current: Value,
}

async fn config_params(web: &Web, v: &Visitor, c: &CoopCtx) -> Vec<Param> {
    let plugins = web
        .get(v, &c.api("/plugins"))
        .await
        .ok()
        .and_then(|p| p["plugins"].as_array().cloned())
        .unwrap_or_default();
    let mut out = vec![];
    for p in plugins {
        let plugin = p["name"].as_str().unwrap_or("").to_string();
        let values = web
            .get(
                v,
                &c.api(&format!("/plugins/{}/config", urlencode(&plugin))),
            )
            .await
            .unwrap_or(Value::Null);
        if let Some(decl) = p["manifest"]["config"].as_object() {
            for (name, d) in decl {
                out.push(Param {
                    plugin: plugin.clone(),
                    name: name.clone(),
                    kind: d["type"].as_str().unwrap_or("json").to_string(),
                    description: d["description"].as_str().unwrap_or("").to_string(),
                    current: values["config"][name].clone(),
                });
            }
        }
    }
    out
}

#[derive(Deserialize)]
struct Prefill {
    kind: Option<String>,
    param: Option<String>,
}

async fn new_form(
    State(web): State<Web>,
    v: Visitor,
    Path(slug): Path<String>,
    Query(q): Query<Prefill>,
) -> Response {
    let c = match coop_ctx(&web, &v, &slug).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let mut input = NewInput::default();
    input
        .fields
        .insert("kind".into(), q.kind.unwrap_or_else(|| "resolution".into()));
    input
        .fields
        .insert("param".into(), q.param.unwrap_or_default());
    input.fields.insert("currency".into(), "EUR".into());
    input.fields.insert("on_shortfall".into(), "top-up".into());
    new_page(&web, &v, &c, StatusCode::OK, &input).await
}

fn text_field(
    input: &NewInput,
    name: &'static str,
    label: &str,
    kind: &str,
    hint: Option<&str>,
) -> Markup {
    let id = format!("f-{name}");
    let err = input.field_errors.get(name);
    let described = match (err.is_some(), hint.is_some()) {
        (true, _) => Some(format!("{id}-error")),
        (false, true) => Some(format!("{id}-hint")),
        _ => None,
    };
    html! {
        div class="field" {
            label for=(id) { (label) }
            @if let Some(h) = hint { p class="muted" id=(format!("{id}-hint")) { (h) } }
            input id=(id) name=(name) type=(kind) value=(input.get(name))
                aria-invalid=[err.map(|_| "true")] aria-describedby=[described];
            @if let Some(e) = err { p class="field-error" id=(format!("{id}-error")) { (e) } }
        }
    }
}

fn area_field(
    input: &NewInput,
    name: &'static str,
    label: &str,
    rows: u32,
    hint: Option<&str>,
) -> Markup {
    let id = format!("f-{name}");
    let err = input.field_errors.get(name);
    let described = match (err.is_some(), hint.is_some()) {
        (true, _) => Some(format!("{id}-error")),
        (false, true) => Some(format!("{id}-hint")),
        _ => None,
    };
    html! {
        div class="field" {
            label for=(id) { (label) }
            @if let Some(h) = hint { p class="muted" id=(format!("{id}-hint")) { (h) } }
            textarea id=(id) name=(name) rows=(rows)
                aria-invalid=[err.map(|_| "true")] aria-describedby=[described] { (input.get(name)) }
            @if let Some(e) = err { p class="field-error" id=(format!("{id}-error")) { (e) } }
        }
    }
}

const NEW_KINDS: [&str; 4] = ["resolution", "set-config", "set-floor", "json"];

async fn new_page(
    web: &Web,
    v: &Visitor,
    c: &CoopCtx,
    status: StatusCode,
    input: &NewInput,
) -> Response {
    let params = config_params(web, v, c).await;
    let kind = input.get("kind");
    let title = v.t("governance.new-title");
    let body = Shell {
        v,
        coop: Some(c),
        title,
        nav: "governance",
    }
    .render(html! {
        (sub_nav(v, c, "new"))
        (notices(&input.errors, None))
        p { (v.t("governance.new-intro")) }
        form method="post" action=(c.url("/governance/new")) novalidate {
            (csrf(v))
            (text_field(input, "title", v.t("governance.field-title"), "text", None))
            (area_field(input, "body", v.t("governance.field-body"), 6, None))
            (text_field(input, "window_hours", v.t("governance.field-window"), "number", Some(v.t("governance.field-window-hint"))))
            fieldset aria-describedby=[input.field_errors.get("kind").map(|_| "f-kind-error")] {
                legend { (v.t("governance.field-kind")) }
                @for k in NEW_KINDS {
                    div {
                        input type="radio" id=(format!("kind-{k}")) name="kind" value=(k) checked[kind == k];
                        " "
                        label for=(format!("kind-{k}")) { (v.t(&format!("governance.new-kind-{k}"))) }
                    }
                }
                @if let Some(e) = input.field_errors.get("kind") { p class="field-error" id="f-kind-error" { (e) } }
            }
            fieldset {
                legend { (v.t("governance.new-kind-set-config")) }
                @if params.is_empty() {
                    p class="muted" { (v.t("governance.no-params")) }
                } @else {
                    div class="field" {
                        label for="f-param" { (v.t("governance.field-param")) }
                        select id="f-param" name="param"
                            aria-invalid=[input.field_errors.get("param").map(|_| "true")]
                            aria-describedby=[input.field_errors.get("param").map(|_| "f-param-error")] {
                            option value="" { (v.t("governance.choose-param")) }
                            @for p in &params {
                                @let key = format!("{}/{}", p.plugin, p.name);
                                option value=(key) selected[input.get("param") == key] {
                                    (v.f("governance.param-option", &[
                                        ("plugin", &p.plugin), ("name", &p.name),
                                        ("value", &short_value(&p.current)),
                                    ]))
                                }
                            }
                        }
                        @if let Some(e) = input.field_errors.get("param") { p class="field-error" id="f-param-error" { (e) } }
                    }
                    details {
                        summary { (v.t("governance.params-explained")) }
                        dl class="facts" {
                            @for p in &params {
                                dt { (p.plugin) " / " (p.name) " (" (p.kind) ")" }
                                dd { (p.description) }
                            }
                        }
                    }
                    (text_field(input, "value", v.t("governance.field-value"), "text", Some(v.t("governance.field-value-hint"))))
                }
            }
            fieldset {
                legend { (v.t("governance.new-kind-set-floor")) }
                (text_field(input, "per_hour", v.t("governance.field-per-hour"), "text", Some(v.t("governance.field-per-hour-hint"))))
                (text_field(input, "currency", v.t("governance.field-currency"), "text", None))
                fieldset {
                    legend { (v.t("governance.field-shortfall")) }
                    @for s in ["top-up", "flag"] {
                        div {
                            input type="radio" id=(format!("shortfall-{s}")) name="on_shortfall" value=(s)
                                checked[input.get("on_shortfall") == s];
                            " "
                            label for=(format!("shortfall-{s}")) { (v.t(&format!("governance.change-shortfall-{s}"))) }
                        }
                    }
                }
            }
            fieldset {
                legend { (v.t("governance.new-kind-json")) }
                (area_field(input, "change", v.t("governance.field-change"), 8, Some(v.t("governance.field-change-hint"))))
            }
            div class="actions" { button type="submit" { (v.t("governance.open-button")) } }
        }
    });
    Page::with_status(v, status, body).into_response()
}

/// A decimal amount such as `12.02` or `12,5` in minor units (two
/// decimals), or none when it is not one.
fn parse_minor(text: &str) -> Option<i64> {
    let t = text.trim().replace(',', ".");
    let (units, cents) = match t.split_once('.') {
        Some((u, c)) => (u, c),
        None => (t.as_str(), ""),
    };
    if units.is_empty() && cents.is_empty() {
        return None;
    }
    if !units.bytes().all(|b| b.is_ascii_digit()) || !cents.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if cents.len() > 2 || units.len() > 12 {
        return None;
    }
    let u: i64 = if units.is_empty() {
        0
    } else {
        units.parse().ok()?
    };
    let c: i64 = format!("{cents:0<2}").parse().ok()?;
    Some(u * 100 + c)
}

/// A configuration value typed as the parameter declares it.
pub(super) fn parse_config_value(kind: &str, text: &str) -> Option<Value> {
    match kind {
        "integer" => text.parse::<i64>().ok().map(Value::from),
        "number" => text
            .replace(',', ".")
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Value::from),
        "boolean" => match text.to_ascii_lowercase().as_str() {
            "true" | "yes" | "oui" | "vrai" => Some(Value::Bool(true)),
            "false" | "no" | "non" | "faux" => Some(Value::Bool(false)),
            _ => None,
        },
        "string" => Some(Value::String(text.to_string())),
        _ => serde_json::from_str(text).ok(),
    }
}

async fn open_proposal(
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
    let mut input = NewInput::default();
    for name in [
        "title",
        "body",
        "window_hours",
        "kind",
        "param",
        "value",
        "per_hour",
        "currency",
        "on_shortfall",
        "change",
    ] {
        input.fields.insert(name.into(), form.get(name).to_string());
    }
    // The body and the JSON change keep their line breaks as typed.
    for name in ["body", "change"] {
        if let Some(raw) = form.0.get(name) {
            input.fields.insert(name.into(), raw.trim_end().to_string());
        }
    }
    let title = input.get("title").to_string();
    if title.is_empty() || title.chars().count() > MAX_TITLE_CHARS {
        input.error("title", v.t("governance.title-required"));
    }
    if input.get("body").len() > MAX_BODY_BYTES {
        input.error("body", v.t("governance.body-too-long"));
    }
    let window = match input.get("window_hours") {
        "" => None,
        w => match w.parse::<u32>() {
            Ok(h) if (1..=24 * 366).contains(&h) => Some(h),
            _ => {
                input.error("window_hours", v.t("governance.window-invalid"));
                None
            }
        },
    };
    let change = match input.get("kind").to_string().as_str() {
        "resolution" => Some(json!({"kind": "resolution"})),
        "set-config" => {
            let params = config_params(&web, &v, &c).await;
            let chosen = input.get("param").to_string();
            match params
                .iter()
                .find(|p| format!("{}/{}", p.plugin, p.name) == chosen)
            {
                None => {
                    input.error("param", v.t("governance.param-required"));
                    None
                }
                Some(p) => match parse_config_value(&p.kind, input.get("value")) {
                    Some(value) => Some(
                        json!({"kind": "set-config", "plugin": p.plugin, "name": p.name, "value": value}),
                    ),
                    None => {
                        let msg = v.f(
                            "governance.value-invalid",
                            &[(
                                "type",
                                &known(&v, &format!("governance.type-{}", p.kind), &p.kind),
                            )],
                        );
                        input.error("value", &msg);
                        None
                    }
                },
            }
        }
        "set-floor" => {
            let per_hour = parse_minor(input.get("per_hour")).filter(|m| *m > 0);
            if per_hour.is_none() {
                input.error("per_hour", v.t("governance.per-hour-invalid"));
            }
            let currency = input.get("currency").to_ascii_uppercase();
            if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
                input.error("currency", v.t("governance.currency-invalid"));
            }
            let shortfall = match input.get("on_shortfall") {
                "flag" => "flag",
                _ => "top-up",
            };
            per_hour.map(|m| {
                json!({"kind": "set-floor", "per_hour": m, "currency": currency, "on_shortfall": shortfall})
            })
        }
        "json" => match serde_json::from_str::<Value>(input.get("change")) {
            Ok(value) => {
                match serde_json::from_value::<crate::governance::proposals::Change>(value.clone())
                {
                    Ok(_) => Some(value),
                    Err(e) => {
                        let msg = v.f("governance.change-invalid", &[("why", &e.to_string())]);
                        input.error("change", &msg);
                        None
                    }
                }
            }
            Err(e) => {
                let msg = v.f("governance.change-not-json", &[("why", &e.to_string())]);
                input.error("change", &msg);
                None
            }
        },
        _ => {
            input.error("kind", v.t("governance.kind-required"));
            None
        }
    };
    if !input.errors.is_empty() {
        return new_page(&web, &v, &c, StatusCode::UNPROCESSABLE_ENTITY, &input).await;
    }
    let mut new = json!({"title": title, "body": input.get("body"), "change": change});
    if let Some(w) = window {
        new["window_hours"] = json!(w);
    }
    match web.post(&v, &c.api("/proposals"), &new).await {
        Ok(a) => see_other(&c.url(&format!(
            "/governance/proposals/{}?done=opened",
            a["proposal"]["id"].as_i64().unwrap_or(0)
        ))),
        Err(e) if e.status.is_client_error() => {
            input.errors.push(api_message(&v, &e));
            new_page(&web, &v, &c, e.status, &input).await
        }
        Err(e) => api_error_page(&v, &e),
    }
}

// ---------------------------------------------------------- decision log

#[derive(Deserialize)]
struct LogQuery {
    after: Option<String>,
}

fn entry_words(v: &Visitor, c: &CoopCtx, e: &Value) -> Markup {
    let kind = e["kind"].as_str().unwrap_or("");
    let b = &e["body"];
    let proposal = b["proposal"].as_i64();
    let link = |text: String| -> Markup {
        match proposal {
            Some(id) => html! { a href=(c.url(&format!("/governance/proposals/{id}"))) { (text) } },
            None => html! { (text) },
        }
    };
    let id = proposal.unwrap_or(0).to_string();
    match kind {
        "proposal.opened" => link(v.f(
            "governance.log-opened",
            &[("id", &id), ("title", b["title"].as_str().unwrap_or(""))],
        )),
        "proposal.decided" => link(v.f(
            "governance.log-decided",
            &[
                ("id", &id),
                (
                    "status",
                    &status_name(v, b["status"].as_str().unwrap_or("")),
                ),
            ],
        )),
        "proposal.applied" => link(v.f(
            "governance.log-applied",
            &[
                ("id", &id),
                ("outcome", b["outcome"].as_str().unwrap_or("")),
            ],
        )),
        "proposal.failed" => link(v.f(
            "governance.log-failed",
            &[
                ("id", &id),
                ("outcome", b["outcome"].as_str().unwrap_or("")),
            ],
        )),
        "direct-change" => html! {
            (v.f("governance.log-direct", &[("kind", &kind_name(v, b["kind"].as_str().unwrap_or("")))]))
        },
        other => {
            html! { (known(v, &format!("governance.log-{}", other.replace('.', "-")), other)) }
        }
    }
}

async fn decisions(
    State(web): State<Web>,
    v: Visitor,
    Path(slug): Path<String>,
    Query(q): Query<LogQuery>,
) -> Response {
    let c = match coop_ctx(&web, &v, &slug).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let verification = match web.get(&v, &c.api("/decisions/verify")).await {
        Ok(a) => a["verification"].clone(),
        Err(e) => return api_error_page(&v, &e),
    };
    let total = verification["entries"].as_i64().unwrap_or(0);
    let after = q
        .after
        .as_deref()
        .and_then(|a| a.parse::<i64>().ok())
        .unwrap_or(total - LOG_PAGE)
        .clamp(0, total.max(0));
    let list = match web
        .get(
            &v,
            &c.api(&format!("/decisions?after={after}&limit={LOG_PAGE}")),
        )
        .await
    {
        Ok(l) => l,
        Err(e) => return api_error_page(&v, &e),
    };
    let mut entries: Vec<Value> = list["entries"].as_array().cloned().unwrap_or_default();
    entries.reverse();
    let ok = verification["ok"].as_bool().unwrap_or(false);
    let body = Shell {
        v: &v,
        coop: Some(&c),
        title: v.t("governance.log-title"),
        nav: "governance",
    }
    .render(html! {
        (sub_nav(&v, &c, "decisions"))
        section class="card" {
            h2 { (v.t("governance.verification")) }
            @if ok {
                p role="status" {
                    span class="badge ok" { (v.t("governance.chain-ok")) } " "
                    (v.f("governance.chain-ok-detail", &[("count", &total.to_string())]))
                }
            } @else {
                p class="error" role="alert" {
                    (v.f("governance.chain-broken", &[
                        ("seq", &verification["problem"]["seq"].as_i64().unwrap_or(0).to_string()),
                        ("reason", verification["problem"]["reason"].as_str().unwrap_or("")),
                    ]))
                }
            }
            p class="muted" { (v.t("governance.chain-explained")) }
            @if let Some(head) = verification["head"].as_str() {
                p { (v.t("governance.chain-head")) " " code { (head) } }
            }
        }
        section {
            h2 { (v.t("governance.entries")) }
            @if entries.is_empty() {
                p { (v.t("governance.no-entries")) }
            } @else {
                div class="table-wrap" tabindex="0" {
                    table {
                        caption class="sr" { (v.t("governance.entries")) }
                        thead { tr {
                            th scope="col" class="num" { (v.t("governance.col-seq")) }
                            th scope="col" { (v.t("governance.col-when")) }
                            th scope="col" { (v.t("governance.col-what")) }
                            th scope="col" { (v.t("governance.col-hash")) }
                        } }
                        tbody {
                            @for e in &entries {
                                tr {
                                    th scope="row" class="num" { (e["seq"].as_i64().unwrap_or(0)) }
                                    td { time { (v.lang.datetime(e["at"].as_i64().unwrap_or(0))) } }
                                    td { (entry_words(&v, &c, e)) }
                                    td { code title=(e["hash"].as_str().unwrap_or("")) {
                                        (e["hash"].as_str().unwrap_or("").chars().take(12).collect::<String>())
                                    } }
                                }
                            }
                        }
                    }
                }
            }
            div class="actions" {
                @if after > 0 {
                    a href=(c.url(&format!("/governance/decisions?after={}", (after - LOG_PAGE).max(0)))) { (v.t("governance.earlier")) }
                }
                @if after + LOG_PAGE < total {
                    a href=(c.url(&format!("/governance/decisions?after={}", after + LOG_PAGE))) { (v.t("governance.later")) }
                }
            }
        }
    });
    Page::ok(&v, body).into_response()
}

// ----------------------------------------------------------------- terms

/// A line diff (`+ `, `- `, two spaces) with `<ins>` and `<del>`.
fn diff_markup(diff: &str) -> Markup {
    html! {
        pre class="diff" {
            @for line in diff.lines() {
                @if let Some(added) = line.strip_prefix("+ ") {
                    ins { "+ " (added) } "\n"
                } @else if let Some(removed) = line.strip_prefix("- ") {
                    del { "- " (removed) } "\n"
                } @else {
                    (line) "\n"
                }
            }
        }
    }
}

async fn terms(
    State(web): State<Web>,
    v: Visitor,
    Path(slug): Path<String>,
    Query(q): Query<Done>,
) -> Response {
    let c = match coop_ctx(&web, &v, &slug).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let t = match web.get(&v, &c.api("/terms")).await {
        Ok(t) => t,
        Err(e) => return api_error_page(&v, &e),
    };
    let accepted: HashMap<i64, i64> = t["accepted"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| Some((a["version"].as_i64()?, a["accepted_at"].as_i64()?)))
        .collect();
    let pending: Vec<Value> = t["pending"].as_array().cloned().unwrap_or_default();
    let done = q.done.as_deref().map(|_| v.t("governance.terms-accepted"));
    let accept = |version: i64| -> Markup {
        match accepted.get(&version) {
            Some(at) => html! {
                p { span class="badge ok" { (v.f("governance.accepted-on", &[("date", &v.lang.date(*at))])) } }
            },
            None => html! {
                form method="post" action=(c.url(&format!("/governance/terms/{version}/accept"))) {
                    (csrf(&v))
                    div class="actions" {
                        button type="submit" { (v.f("governance.accept-version", &[("version", &version.to_string())])) }
                    }
                }
            },
        }
    };
    let body = Shell {
        v: &v,
        coop: Some(&c),
        title: v.t("governance.terms-title"),
        nav: "governance",
    }
    .render(html! {
        (sub_nav(&v, &c, "terms"))
        (notices(&[], done))
        section class="card" {
            h2 { (v.t("governance.terms-in-effect")) }
            @if t["in_effect"].is_object() {
                @let cur = &t["in_effect"];
                @let version = cur["version"].as_i64().unwrap_or(0);
                p class="muted" {
                    (v.f("governance.terms-version-since", &[
                        ("version", &version.to_string()),
                        ("date", &v.lang.date(cur["effective_at"].as_i64().unwrap_or(0))),
                    ]))
                }
                details {
                    summary { (v.t("governance.terms-text")) }
                    pre { (cur["text"].as_str().unwrap_or("")) }
                }
                (accept(version))
            } @else {
                p { (v.t("governance.no-terms")) }
            }
        }
        section {
            h2 { (v.t("governance.terms-pending")) }
            @if pending.is_empty() {
                p { (v.t("governance.no-pending-terms")) }
            }
            @for p in &pending {
                @let version = p["version"].as_i64().unwrap_or(0);
                article class="card" {
                    h3 { (v.f("governance.terms-version", &[("version", &version.to_string())])) }
                    dl class="facts" {
                        dt { (v.t("governance.published")) }
                        dd { time { (v.lang.date(p["published_at"].as_i64().unwrap_or(0))) } }
                        dt { (v.t("governance.takes-effect")) }
                        dd { time { (v.lang.date(p["effective_at"].as_i64().unwrap_or(0))) } }
                    }
                    h4 { (v.t("governance.terms-changes")) }
                    p class="muted" { (v.t("governance.diff-legend")) }
                    (diff_markup(p["diff"].as_str().unwrap_or("")))
                    details {
                        summary { (v.t("governance.terms-text")) }
                        pre { (p["text"].as_str().unwrap_or("")) }
                    }
                    (accept(version))
                }
            }
        }
    });
    Page::ok(&v, body).into_response()
}

async fn accept_terms(
    State(web): State<Web>,
    v: Visitor,
    Path((slug, version)): Path<(String, String)>,
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
    let Some(version) = parse_id(&version) else {
        return super::layout::error_page(
            &v,
            StatusCode::UNPROCESSABLE_ENTITY,
            v.t("governance.bad-version"),
        );
    };
    match web
        .post(&v, &c.api(&format!("/terms/{version}/accept")), &json!({}))
        .await
    {
        Ok(_) => see_other(&c.url("/governance/terms?done=accepted")),
        Err(e) => api_error_page(&v, &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_read_in_minor_units() {
        assert_eq!(parse_minor("12.02"), Some(1202));
        assert_eq!(parse_minor("12,5"), Some(1250));
        assert_eq!(parse_minor("7"), Some(700));
        assert_eq!(parse_minor(".5"), Some(50));
        assert_eq!(parse_minor("1.234"), None);
        assert_eq!(parse_minor("-3"), None);
        assert_eq!(parse_minor("abc"), None);
        assert_eq!(parse_minor(""), None);
    }

    #[test]
    fn config_values_are_typed_as_declared() {
        assert_eq!(parse_config_value("integer", "170"), Some(json!(170)));
        assert_eq!(parse_config_value("integer", "1.5"), None);
        assert_eq!(parse_config_value("number", "1,5"), Some(json!(1.5)));
        assert_eq!(parse_config_value("boolean", "oui"), Some(json!(true)));
        assert_eq!(parse_config_value("string", "EUR"), Some(json!("EUR")));
        assert_eq!(parse_config_value("json", "[1, 2]"), Some(json!([1, 2])));
        assert_eq!(parse_config_value("json", "[1,"), None);
    }
}
