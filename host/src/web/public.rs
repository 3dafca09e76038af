//! The public transparency page of a coop, `/t/{coop}`: no login. How its
//! plugins price and assign work (algorithm cards with the parameters in
//! force), how the value is shared and how that changed, earnings against
//! the floor, what personal data is kept and where, terms and decisions.
//! Everything comes from the public `GET /v1/coops/{coop}/transparency`.

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::{Markup, html};
use serde_json::Value;

use super::layout::{Shell, api_error_page};
use super::{Lang, Page, Visitor, Web, urlencode};

pub fn routes() -> Router<Web> {
    Router::new().route("/t/{coop}", get(page))
}

/// Basis points as a percentage: `8000` is `80 %` in French, `80%` in
/// English; fractions keep up to two decimals.
pub fn percent(lang: Lang, bp: i64) -> String {
    let whole = bp / 100;
    let frac = (bp % 100).abs();
    let num = if frac == 0 {
        whole.to_string()
    } else if frac % 10 == 0 {
        format!("{whole}.{}", frac / 10)
    } else {
        format!("{whole}.{frac:02}")
    };
    match lang {
        Lang::Fr => format!("{}\u{a0}%", num.replace('.', ",")),
        Lang::En => format!("{num}%"),
    }
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

/// A value for people: text as is, numbers and small things as JSON, big
/// structures folded away.
fn value_cell(v: &Visitor, value: &Value) -> Markup {
    match value {
        Value::String(s) => html! { (s) },
        Value::Object(_) | Value::Array(_) => html! {
            details {
                summary { (v.t("public.show-value")) }
                pre { (serde_json::to_string_pretty(value).unwrap_or_default()) }
            }
        },
        other => html! { code { (other.to_string()) } },
    }
}

fn algorithms(v: &Visitor, plugins: &[Value]) -> Markup {
    let card_parts = [
        ("summary", "public.card-summary"),
        ("dispatch", "public.card-dispatch"),
        ("pay", "public.card-pay"),
        ("open-data", "public.card-open-data"),
    ];
    html! {
        section aria-labelledby="h-algorithms" {
            h2 id="h-algorithms" { (v.t("public.algorithms")) }
            p class="muted" { (v.t("public.algorithms-intro")) }
            @if plugins.is_empty() { p { (v.t("public.no-plugins")) } }
            @for p in plugins {
                article class="card" {
                    h3 { (text(p, "name")) " " span class="muted" { (v.f("public.version", &[("version", text(p, "version"))])) } }
                    p { (text(p, "description")) }
                    dl class="facts" {
                        dt { (v.t("public.licence")) } dd { (text(p, "licence")) }
                        dt { (v.t("public.source")) } dd { (text(p, "source")) }
                        dt { (v.t("public.sha256")) } dd { code class="hash" { (text(p, "sha256")) } }
                    }
                    @let card = &p["algorithm"]["card"];
                    @for (key, label) in card_parts {
                        @if let Some(s) = card[key].as_str() {
                            h4 { (v.t(label)) }
                            p { (s) }
                        }
                    }
                    @let params = p["algorithm"]["parameters"].as_array().cloned().unwrap_or_default();
                    @if !params.is_empty() {
                        div class="table-wrap" tabindex="0" {
                            table {
                                caption { (v.t("public.parameters")) }
                                thead { tr {
                                    th scope="col" { (v.t("public.parameter")) }
                                    th scope="col" { (v.t("public.meaning")) }
                                    th scope="col" { (v.t("public.value-now")) }
                                } }
                                tbody {
                                    @for param in &params {
                                        tr {
                                            th scope="row" { code { (text(param, "name")) } }
                                            td { (text(param, "description")) }
                                            td { (value_cell(v, &param["value"])) }
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
}

fn split(v: &Visitor, report: &Value) -> Markup {
    let history = report["value_split"]["history"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let in_effect = report["value_split"]["in_effect"].as_i64();
    let shares = [
        ("worker_share_bp", "public.worker-share"),
        ("reserve_share_of_commission_bp", "public.reserve-share"),
        (
            "solidarity_share_of_commission_bp",
            "public.solidarity-share",
        ),
        ("community_share_of_commission_bp", "public.community-share"),
        ("processor_fee_bp", "public.processor-fee"),
        ("cae_fee_bp", "public.cae-fee"),
    ];
    html! {
        section aria-labelledby="h-split" {
            h2 id="h-split" { (v.t("public.split")) }
            p class="muted" { (v.t("public.split-intro")) }
            @if history.is_empty() { p { (v.t("public.no-split")) } }
            @else {
                div class="table-wrap" tabindex="0" {
                    table {
                        caption { (v.t("public.split-history")) }
                        thead { tr {
                            th scope="col" { (v.t("public.split-version")) }
                            th scope="col" { (v.t("public.from")) }
                            @for (_, label) in shares { th scope="col" class="num" { (v.t(label)) } }
                            th scope="col" { (v.t("public.reason")) }
                        } }
                        tbody {
                            @for h in history.iter().rev() {
                                tr {
                                    th scope="row" {
                                        (h["version"].as_i64().unwrap_or(0))
                                        @if h["version"].as_i64() == in_effect { " " span class="badge ok" { (v.t("public.in-effect")) } }
                                    }
                                    td { (v.lang.date(h["effective_from"].as_i64().unwrap_or(0))) }
                                    @for (key, _) in shares {
                                        td class="num" {
                                            @match h["terms"][key].as_i64() {
                                                Some(bp) => (percent(v.lang, bp)),
                                                None => "—",
                                            }
                                        }
                                    }
                                    td { (text(h, "reason")) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn earnings(v: &Visitor, report: &Value) -> Markup {
    let floors = report["earnings_floor"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let months = report["earnings"]["months"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let min_cell = report["earnings"]["min_cell"].as_i64().unwrap_or(0);
    html! {
        section aria-labelledby="h-earnings" {
            h2 id="h-earnings" { (v.t("public.earnings")) }
            @if floors.is_empty() { p { (v.t("public.no-floor")) } }
            @else {
                ul {
                    @for f in floors.iter().rev() {
                        li { (v.f("public.floor-line", &[
                            ("amount", &v.lang.money(f["per_hour"].as_i64().unwrap_or(0), text(f, "currency"))),
                            ("date", &v.lang.date(f["effective_from"].as_i64().unwrap_or(0))),
                            ("shortfall", if text(f, "on_shortfall") == "top-up" { v.t("public.top-up") } else { v.t("public.flag") }),
                        ])) }
                    }
                }
            }
            p class="muted" { (v.f("public.small-cells", &[("k", &min_cell.to_string())])) }
            @if months.is_empty() { p { (v.t("public.no-months")) } }
            @else {
                div class="table-wrap" tabindex="0" {
                    table {
                        caption { (v.t("public.earnings-caption")) }
                        thead { tr {
                            th scope="col" { (v.t("public.month")) }
                            th scope="col" class="num" { (v.t("public.workers")) }
                            th scope="col" class="num" { (v.t("public.median-hourly")) }
                            th scope="col" class="num" { (v.t("public.below-floor")) }
                        } }
                        tbody {
                            @for m in &months {
                                tr {
                                    th scope="row" { (text(m, "period")) }
                                    td class="num" { (m["workers"].as_i64().unwrap_or(0)) }
                                    @if m["suppressed"].as_bool().unwrap_or(false) {
                                        td class="num" colspan="2" { (v.t("public.suppressed")) }
                                    } @else {
                                        td class="num" { @match m["median_hourly"].as_i64() {
                                            Some(x) => (v.lang.money(x, text(m, "currency"))),
                                            None => "—",
                                        } }
                                        td class="num" { @match m["below_floor_bp"].as_i64() {
                                            Some(bp) => (percent(v.lang, bp)),
                                            None => "—",
                                        } }
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

/// The coop's rules and its country's legal minimum, from the report.
fn rules(v: &Visitor, report: &Value) -> Markup {
    let r = &report["rules"]["rules"];
    let version = report["rules"]["version"].as_i64().unwrap_or(0).to_string();
    let colleges = r["colleges"].as_array().cloned().unwrap_or_default();
    let vote_line = |kind: &str, k: &Value| {
        let vote = &k["vote"];
        v.f(
            "public.rules-vote-line",
            &[
                ("kind", kind),
                ("method", text(vote, "method")),
                (
                    "quorum",
                    &percent(v.lang, vote["quorum_bp"].as_i64().unwrap_or(0)),
                ),
                (
                    "threshold",
                    &percent(v.lang, vote["threshold_bp"].as_i64().unwrap_or(0)),
                ),
                (
                    "hours",
                    &k["min_window_hours"].as_i64().unwrap_or(0).to_string(),
                ),
            ],
        )
    };
    let kinds: Vec<(String, Value)> = r["kinds"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let admins: Vec<&str> = r["admins_may"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let legal = report["legal_minimum"]["in_force"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    html! {
        section aria-labelledby="h-rules" {
            h2 id="h-rules" { (v.t("public.rules")) }
            p { (v.f("public.rules-intro", &[("version", &version)])) }
            @if colleges.is_empty() { p { (v.t("public.rules-no-colleges")) } }
            @else {
                p { (v.t("public.rules-colleges")) }
                ul { @for c in &colleges {
                    li { (text(c, "name")) " — " (percent(v.lang, c["weight_bp"].as_i64().unwrap_or(0))) }
                } }
            }
            ul {
                @for (kind, k) in &kinds { li { (vote_line(kind, k)) } }
                li { (vote_line(v.t("public.rules-default-kind"), &r["default_vote"])) }
            }
            p { (v.f("public.rules-notice", &[
                ("days", &r["terms_notice_days"].as_i64().unwrap_or(0).to_string()),
                ("appeal", &r["appeal_days"].as_i64().unwrap_or(0).to_string()),
            ])) }
            @if admins.is_empty() { p { (v.t("public.rules-admins-none")) } }
            @else { p { (v.f("public.rules-admins", &[("kinds", &admins.join(", "))])) } }
            @if r["commons"]["free_plugins_only"].as_bool().unwrap_or(true) {
                p { (v.t("public.rules-commons-free")) }
            } @else { p { (v.t("public.rules-commons-any")) } }
            @if legal.is_empty() { p { (v.t("public.no-legal-minimum")) } }
            @for l in &legal {
                p { (v.f("public.legal-minimum-line", &[
                    ("country", text(l, "country")),
                    ("label", text(l, "label")),
                    ("amount", &v.lang.money(l["per_hour"].as_i64().unwrap_or(0), text(l, "currency"))),
                ])) }
            }
        }
    }
}

fn data(v: &Visitor, report: &Value) -> Markup {
    let loc = &report["data_location"];
    let plugins = report["plugins"].as_array().cloned().unwrap_or_default();
    let basis = |b: &str| match b {
        "consent" => v.t("public.basis-consent"),
        "contract" => v.t("public.basis-contract"),
        "legal-obligation" => v.t("public.basis-legal"),
        _ => v.t("public.basis-other"),
    };
    html! {
        section aria-labelledby="h-data" {
            h2 id="h-data" { (v.t("public.data")) }
            dl class="facts" {
                dt { (v.t("public.data-country")) }
                dd { (loc["country"].as_str().unwrap_or(v.t("public.not-stated"))) }
                dt { (v.t("public.data-provider")) }
                dd { (loc["provider"].as_str().unwrap_or(v.t("public.not-stated"))) }
            }
            @for p in &plugins {
                @if let Some(cats) = p["data"].as_object().filter(|c| !c.is_empty()) {
                    div class="table-wrap" tabindex="0" {
                        table {
                            caption { (v.f("public.data-of", &[("plugin", text(p, "name"))])) }
                            thead { tr {
                                th scope="col" { (v.t("public.category")) }
                                th scope="col" { (v.t("public.purpose")) }
                                th scope="col" { (v.t("public.basis")) }
                                th scope="col" { (v.t("public.retention")) }
                            } }
                            tbody {
                                @for (name, c) in cats {
                                    tr {
                                        th scope="row" { (name) }
                                        td { (text(c, "purpose")) }
                                        td { (basis(text(c, "basis"))) }
                                        td { @match c["retention_days"].as_i64() {
                                            Some(d) => (v.f("public.days", &[("n", &d.to_string())])),
                                            None => (v.t("public.retention-none")),
                                        } }
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

fn terms_and_decisions(v: &Visitor, report: &Value) -> Markup {
    let versions = report["terms"]["versions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let verification = &report["decisions"]["verification"];
    let latest = report["decisions"]["latest"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    html! {
        section aria-labelledby="h-terms" {
            h2 id="h-terms" { (v.t("public.terms")) }
            @if versions.is_empty() { p { (v.t("public.no-terms")) } }
            @for t in versions.iter().rev() {
                article class="card" {
                    h3 {
                        (v.f("public.terms-version", &[("version", &t["version"].as_i64().unwrap_or(0).to_string())]))
                        " "
                        @if t["pending"].as_bool().unwrap_or(false) {
                            span class="badge" { (v.f("public.takes-effect", &[("date", &v.lang.date(t["effective_at"].as_i64().unwrap_or(0)))])) }
                        } @else if t["version"] == report["terms"]["in_effect"] {
                            span class="badge ok" { (v.t("public.in-effect")) }
                        }
                    }
                    @if t["pending"].as_bool().unwrap_or(false) {
                        h4 { (v.t("public.changes")) }
                        pre {
                            @for line in text(t, "diff").lines() {
                                @if let Some(rest) = line.strip_prefix("- ") { del { (rest) } "\n" }
                                @else if let Some(rest) = line.strip_prefix("+ ") { ins { (rest) } "\n" }
                                @else { (line.trim_start()) "\n" }
                            }
                        }
                    } @else {
                        details {
                            summary { (v.t("public.read-text")) }
                            pre { (text(t, "text")) }
                        }
                    }
                }
            }
        }
        section aria-labelledby="h-decisions" {
            h2 id="h-decisions" { (v.t("public.decisions")) }
            @if verification["ok"].as_bool().unwrap_or(false) {
                p class="done" { (v.f("public.chain-ok", &[("n", &verification["entries"].as_i64().unwrap_or(0).to_string())])) }
            } @else {
                p class="error" { (v.f("public.chain-broken", &[("seq", &verification["problem"]["seq"].as_i64().unwrap_or(0).to_string())])) }
            }
            @if !latest.is_empty() {
                div class="table-wrap" tabindex="0" {
                    table {
                        caption { (v.t("public.decisions-caption")) }
                        thead { tr {
                            th scope="col" class="num" { "#" }
                            th scope="col" { (v.t("public.decision-kind")) }
                            th scope="col" { (v.t("public.date")) }
                            th scope="col" { (v.t("public.hash")) }
                        } }
                        tbody {
                            @for d in latest.iter().rev() {
                                tr {
                                    th scope="row" class="num" { (d["seq"].as_i64().unwrap_or(0)) }
                                    td { (decision_kind(v, text(d, "kind"))) }
                                    td { (v.lang.datetime(d["at"].as_i64().unwrap_or(0))) }
                                    td { code class="hash" { (text(d, "hash").get(..16).unwrap_or("")) "…" } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn decision_kind(v: &Visitor, kind: &str) -> String {
    let key = format!("public.kind-{}", kind.replace('.', "-"));
    let t = v.lang.t(&key);
    if t == v.t("common.missing-text") {
        kind.to_string()
    } else {
        t.to_string()
    }
}

async fn page(State(web): State<Web>, v: Visitor, Path(slug): Path<String>) -> Response {
    let report = match web
        .get(&v, &format!("/v1/coops/{}/transparency", urlencode(&slug)))
        .await
    {
        Ok(r) => r,
        Err(e) => return api_error_page(&v, &e),
    };
    let name = text(&report["coop"], "name").to_string();
    let title = v.f("public.title", &[("coop", &name)]);
    let plugins = report["plugins"].as_array().cloned().unwrap_or_default();
    let api = format!("/v1/coops/{}", urlencode(&slug));
    let body = Shell {
        v: &v,
        coop: None,
        title: &title,
        nav: "",
    }
    .render(html! {
        p { (v.t("public.intro")) }
        p class="muted" { (v.f("public.generated", &[("when", &v.lang.datetime(report["generated_at"].as_i64().unwrap_or(0)))])) }
        nav aria-label=(v.t("public.contents")) {
            ul {
                li { a href="#h-algorithms" { (v.t("public.algorithms")) } }
                li { a href="#h-split" { (v.t("public.split")) } }
                li { a href="#h-earnings" { (v.t("public.earnings")) } }
                li { a href="#h-rules" { (v.t("public.rules")) } }
                li { a href="#h-data" { (v.t("public.data")) } }
                li { a href="#h-terms" { (v.t("public.terms")) } }
                li { a href="#h-decisions" { (v.t("public.decisions")) } }
            }
        }
        (algorithms(&v, &plugins))
        (split(&v, &report))
        (earnings(&v, &report))
        (rules(&v, &report))
        (data(&v, &report))
        (terms_and_decisions(&v, &report))
        section aria-labelledby="h-open-data" {
            h2 id="h-open-data" { (v.t("public.open-data")) }
            p { (v.t("public.open-data-intro")) }
            ul {
                li { a href=(format!("{api}/open-data?format=csv")) { (v.t("public.open-data-csv")) } }
                li { a href=(format!("{api}/open-data")) { (v.t("public.open-data-json")) } }
                li { a href=(format!("{api}/transparency")) { (v.t("public.report-json")) } }
            }
        }
    });
    Page::ok(&v, body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basis_points_read_as_percentages() {
        assert_eq!(percent(Lang::En, 8000), "80%");
        assert_eq!(percent(Lang::Fr, 8000), "80\u{a0}%");
        assert_eq!(percent(Lang::En, 1250), "12.5%");
        assert_eq!(percent(Lang::Fr, 1), "0,01\u{a0}%");
        assert_eq!(percent(Lang::En, 0), "0%");
    }
}
