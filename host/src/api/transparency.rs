//! The public transparency report of a coop, as JSON and as an HTML page.

use std::fmt::Write as _;
use std::sync::Arc;

use super::{Path, Query};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

use super::{ApiResult, Tenant};
use crate::app::App;
use crate::transparency;

/// The transparency routes, merged into the API router.
pub(super) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v1/coops/{coop}/transparency", get(as_json))
        .route("/coops/{coop}/transparency", get(as_html))
        .route("/v1/coops/{coop}/impact-summary", get(impact_summary))
        .route("/v1/coops/{coop}/open-data", get(open_data))
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct OpenDataQuery {
    /// `json` (default) or `csv`.
    format: Option<String>,
}

/// Aggregate activity per month, zone and metric, small cells suppressed:
/// public, for local authorities.
async fn open_data(
    State(app): State<Arc<App>>,
    Path(slug): Path<String>,
    Query(q): Query<OpenDataQuery>,
) -> ApiResult<Response> {
    let coop = app.coop(&slug).await?;
    let (k, cells) = crate::opendata::export(&app.db, coop.id).await?;
    // The licence the coop chose for its open data (ODbL by default).
    let (_, rules) = crate::governance::rules::current(&app.db, coop.id).await?;
    let licence = rules.commons.open_data_licence;
    match q.format.as_deref().unwrap_or("json") {
        "json" => Ok(Json(
            serde_json::json!({"coop": coop.slug, "licence": licence, "k": k, "cells": cells}),
        )
        .into_response()),
        "csv" => Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{}-open-data.csv\"", coop.slug),
                ),
                (
                    header::LINK,
                    format!("<https://spdx.org/licenses/{licence}.html>; rel=\"license\""),
                ),
            ],
            crate::opendata::to_csv(&cells),
        )
            .into_response()),
        other => Err(crate::error::Error::BadRequest(format!(
            "format must be json or csv, got {other:?}"
        ))
        .into()),
    }
}

/// The data-protection impact summary, Markdown, for members (to share
/// with worker representatives).
async fn impact_summary(State(app): State<Arc<App>>, t: Tenant) -> ApiResult<Response> {
    let (coop, _) = t.active_member()?;
    let md = transparency::impact_summary(&app.db, &coop, &app.data_location()).await?;
    Ok(([(header::CONTENT_TYPE, "text/markdown; charset=utf-8")], md).into_response())
}

async fn build(app: &App, slug: &str) -> ApiResult<Value> {
    let coop = app.coop(slug).await?;
    let now = app.clock.now_ms();
    Ok(transparency::report(&app.db, &coop, &app.data_location(), now).await?)
}

async fn as_json(State(app): State<Arc<App>>, Path(slug): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(build(&app, &slug).await?))
}

async fn as_html(State(app): State<Arc<App>>, Path(slug): Path<String>) -> ApiResult<Response> {
    let report = build(&app, &slug).await?;
    Ok((
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        render(&report),
    )
        .into_response())
}

/// Escape text for HTML.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A JSON value as short text: strings bare, the rest as JSON.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "—".into(),
        other => other.to_string(),
    }
}

fn minor(v: &Value) -> String {
    match v.as_i64() {
        Some(n) => {
            let sign = if n < 0 { "-" } else { "" };
            format!(
                "{sign}{}.{:02}",
                n.unsigned_abs() / 100,
                n.unsigned_abs() % 100
            )
        }
        None => "—".into(),
    }
}

fn date(ms: &Value) -> String {
    let Some(ms) = ms.as_i64() else {
        return "—".into();
    };
    let days = ms.div_euclid(86_400_000);
    let (y, m, d) = crate::ledger::period::civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The report as a self-contained page (no external assets).
fn render(r: &Value) -> String {
    let name = text(&r["coop"]["name"]);
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{n}: transparency</title><style>body{{font-family:system-ui,sans-serif;max-width:60rem;\
         margin:auto;padding:1rem;line-height:1.45}}table{{border-collapse:collapse;width:100%}}\
         th,td{{border-bottom:1px solid #ccc;padding:.3rem;text-align:left;vertical-align:top}}\
         code{{word-break:break-all}}</style></head><body><main><h1>{n}: how this coop works</h1>\
         <p>Published by coophost for anyone, with no login. Figures over fewer than {k} workers are not shown.</p>",
        n = esc(&name),
        k = r["earnings"]["min_cell"]
    );
    h.push_str("<section><h2>Plugins and their algorithms</h2>");
    for p in r["plugins"].as_array().into_iter().flatten() {
        let _ = write!(
            h,
            "<article><h3>{} {}</h3><p>{}</p><p>Licence {}; source <a href=\"{src}\">{src}</a>; \
             SHA-256 <code>{}</code></p>",
            esc(&text(&p["name"])),
            esc(&text(&p["version"])),
            esc(&text(&p["description"])),
            esc(&text(&p["licence"])),
            esc(&text(&p["sha256"])),
            src = esc(&text(&p["source"])),
        );
        if let Some(card) = p["algorithm"]["card"].as_object() {
            h.push_str("<dl>");
            for (k, v) in card {
                let _ = write!(h, "<dt>{}</dt><dd>{}</dd>", esc(k), esc(&text(v)));
            }
            h.push_str("</dl><table><caption>Parameters in force</caption><tr><th>name</th><th>value</th><th>meaning</th></tr>");
            for param in p["algorithm"]["parameters"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
                    esc(&text(&param["name"])),
                    esc(&param["value"].to_string()),
                    esc(&text(&param["description"]))
                );
            }
            h.push_str("</table>");
        }
        if let Some(data) = p["data"].as_object().filter(|d| !d.is_empty()) {
            h.push_str("<table><caption>Personal data it handles</caption><tr><th>category</th><th>basis</th><th>purpose</th></tr>");
            for (cat, d) in data {
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(cat),
                    esc(&text(&d["basis"])),
                    esc(&text(&d["purpose"]))
                );
            }
            h.push_str("</table>");
        }
        h.push_str("</article>");
    }
    h.push_str("</section><section><h2>Value split</h2><table><tr><th>version</th><th>from</th><th>terms</th><th>reason</th></tr>");
    for s in r["value_split"]["history"].as_array().into_iter().flatten() {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
            esc(&text(&s["version"])),
            date(&s["effective_from"]),
            esc(&s["terms"].to_string()),
            esc(&text(&s["reason"]))
        );
    }
    h.push_str("</table></section><section><h2>Earnings against the floor</h2><table><tr><th>from</th><th>floor per hour</th><th>shortfall</th></tr>");
    for f in r["earnings_floor"].as_array().into_iter().flatten() {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{} {}</td><td>{}</td></tr>",
            date(&f["effective_from"]),
            minor(&f["per_hour"]),
            esc(&text(&f["currency"])),
            esc(&text(&f["on_shortfall"]))
        );
    }
    h.push_str("</table><table><caption>Per month, before top-ups</caption><tr><th>month</th><th>workers</th><th>median hourly pay</th><th>below the floor</th></tr>");
    for m in r["earnings"]["months"].as_array().into_iter().flatten() {
        if m["suppressed"] == Value::Bool(true) {
            let _ = write!(
                h,
                "<tr><td>{}</td><td colspan=\"3\">fewer workers than the minimum: not shown</td></tr>",
                esc(&text(&m["period"]))
            );
        } else {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{} {}</td><td>{} %</td></tr>",
                esc(&text(&m["period"])),
                esc(&text(&m["workers"])),
                minor(&m["median_hourly"]),
                esc(&text(&m["currency"])),
                minor(&m["below_floor_bp"])
            );
        }
    }
    let loc = &r["data_location"];
    let _ = write!(
        h,
        "</table></section><section><h2>Where data is stored</h2><p>Country: {}. Provider: {}.</p></section>",
        esc(&text(&loc["country"])),
        esc(&text(&loc["provider"]))
    );
    h.push_str("<section><h2>Terms of service</h2><table><tr><th>version</th><th>published</th><th>in effect from</th><th>status</th></tr>");
    for t in r["terms"]["versions"].as_array().into_iter().flatten() {
        let status = if t["pending"] == Value::Bool(true) {
            "pending: notice running"
        } else if t["version"] == r["terms"]["in_effect"] {
            "in effect"
        } else {
            "superseded"
        };
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{status}</td></tr>",
            esc(&text(&t["version"])),
            date(&t["published_at"]),
            date(&t["effective_at"])
        );
    }
    let v = &r["decisions"]["verification"];
    let _ = write!(
        h,
        "</table></section><section><h2>Decision log</h2><p>Hash chain {}: {} entries, head <code>{}</code>.</p>\
         <table><tr><th>#</th><th>date</th><th>what</th><th>hash</th></tr>",
        if v["ok"] == Value::Bool(true) {
            "verified"
        } else {
            "BROKEN"
        },
        esc(&text(&v["entries"])),
        esc(&text(&v["head"]))
    );
    for d in r["decisions"]["latest"].as_array().into_iter().flatten() {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            esc(&text(&d["seq"])),
            date(&d["at"]),
            esc(&text(&d["kind"])),
            esc(&text(&d["hash"]))
        );
    }
    h.push_str("</table></section></main></body></html>");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_money_has_two_decimals() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(minor(&serde_json::json!(1202)), "12.02");
        assert_eq!(minor(&serde_json::json!(-5)), "-0.05");
        assert_eq!(date(&serde_json::json!(0)), "1970-01-01");
    }
}
