//! My work and pay, for workers: the wallet's balance, a month's statement
//! (hours, gross, commission, fees, top-ups, net) with its CSV, effective
//! hourly pay against the floor over the last months (a chart and the same
//! figures as a table), and payouts.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;

use super::layout::{CoopCtx, Shell, api_error_page, coop_ctx, notices};
use super::{Lang, Page, Visitor, Web, urlencode};

/// Months the chart covers, ending with the month shown.
pub const CHART_MONTHS: usize = 6;

pub fn routes() -> Router<Web> {
    Router::new()
        .route("/c/{coop}/work", get(page))
        .route("/c/{coop}/work/statement.csv", get(csv))
}

#[derive(Deserialize)]
struct PeriodQuery {
    period: Option<String>,
}

/// A month as `(year, month)`, from `YYYY-MM`.
pub fn parse_month(s: &str) -> Option<(i64, u32)> {
    let (y, m) = s.split_once('-')?;
    if y.len() != 4 || m.len() != 2 {
        return None;
    }
    let y: i64 = y.parse().ok()?;
    let m: u32 = m.parse().ok()?;
    ((1..=12).contains(&m) && (1970..=9999).contains(&y)).then_some((y, m))
}

fn month_text((y, m): (i64, u32)) -> String {
    format!("{y:04}-{m:02}")
}

/// The month before.
fn previous((y, m): (i64, u32)) -> (i64, u32) {
    if m == 1 { (y - 1, 12) } else { (y, m - 1) }
}

/// On-shift time as hours and minutes, `12 h 05`.
fn hours(ms: i64) -> String {
    let minutes = ms.max(0) / 60_000;
    format!("{} h {:02}", minutes / 60, minutes % 60)
}

/// The chart: a bar per month of effective hourly pay and a line for the
/// floor, as inline SVG with a text alternative.
pub fn chart(
    lang: Lang,
    label: &str,
    currency: &str,
    months: &[(String, Option<i64>, Option<i64>)],
) -> String {
    const W: i64 = 600;
    const H: i64 = 240;
    const LEFT: i64 = 10;
    const BOTTOM: i64 = 30;
    const TOP: i64 = 24;
    let top_value = months
        .iter()
        .flat_map(|(_, e, f)| [e.unwrap_or(0), f.unwrap_or(0)])
        .max()
        .unwrap_or(0)
        .max(1);
    let scale = |v: i64| (H - BOTTOM) - (v * (H - BOTTOM - TOP)) / top_value;
    let slot = (W - LEFT) / months.len().max(1) as i64;
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{}\">",
        esc(label)
    );
    svg.push_str(&format!(
        "<line x1=\"{LEFT}\" y1=\"{y}\" x2=\"{W}\" y2=\"{y}\" stroke=\"#767680\"/>",
        y = H - BOTTOM
    ));
    let mut floor_points = vec![];
    for (i, (month, effective, floor)) in months.iter().enumerate() {
        let x = LEFT + i as i64 * slot;
        if let Some(e) = effective {
            let y = scale(*e);
            svg.push_str(&format!(
                "<rect x=\"{}\" y=\"{y}\" width=\"{}\" height=\"{}\" fill=\"#0b5cad\"/>",
                x + slot / 5,
                slot * 3 / 5,
                (H - BOTTOM - y).max(0)
            ));
            svg.push_str(&format!(
                "<text x=\"{}\" y=\"{}\" font-size=\"20\" text-anchor=\"middle\" fill=\"#1b1b1f\">{}</text>",
                x + slot / 2,
                (y - 5).max(12),
                esc(&lang.money(*e, currency))
            ));
        }
        if let Some(f) = floor {
            floor_points.push((x, scale(*f)));
            floor_points.push((x + slot, scale(*f)));
        }
        svg.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" font-size=\"20\" text-anchor=\"middle\" fill=\"#4a4a55\">{}</text>",
            x + slot / 2,
            H - 10,
            esc(month)
        ));
    }
    if !floor_points.is_empty() {
        let pts: Vec<String> = floor_points
            .iter()
            .map(|(x, y)| format!("{x},{y}"))
            .collect();
        svg.push_str(&format!(
            "<polyline points=\"{}\" fill=\"none\" stroke=\"#a4161a\" stroke-width=\"3\" stroke-dasharray=\"8 5\"/>",
            pts.join(" ")
        ));
    }
    svg.push_str("</svg>");
    svg
}

fn statement_card(v: &Visitor, c: &CoopCtx, s: &Value, period: &str) -> Markup {
    let cur = s["currency"].as_str().unwrap_or("EUR");
    let m = |k: &str| v.lang.money(s[k].as_i64().unwrap_or(0), cur);
    let lines = s["lines"].as_array().cloned().unwrap_or_default();
    let effective = s["effective_hourly"].as_i64();
    let floor = s["floor_per_hour"].as_i64();
    html! {
        section aria-labelledby="h-statement" class="card" {
            h2 id="h-statement" { (v.f("pay.statement-of", &[("month", period)])) }
            dl class="facts" {
                dt { (v.t("pay.hours")) } dd { (hours(s["on_shift_ms"].as_i64().unwrap_or(0))) }
                dt { (v.t("pay.gross")) } dd { (m("gross")) }
                dt { (v.t("pay.commission")) } dd { "− " (m("commission")) }
                dt { (v.t("pay.fees")) } dd { "− " (m("fees")) }
                dt { (v.t("pay.top-ups")) } dd { "+ " (m("top_ups")) }
                @if s["subscription_fee"].as_i64().unwrap_or(0) != 0 {
                    dt { (v.t("pay.subscription")) } dd { "− " (m("subscription_fee")) }
                }
                dt { strong { (v.t("pay.net")) } } dd { strong { (m("net")) } }
                dt { (v.t("pay.effective")) }
                dd {
                    @match effective {
                        Some(e) => {
                            (v.lang.money(e, cur)) " "
                            @if let Some(f) = floor {
                                @if e >= f { span class="badge ok" { (v.f("pay.above-floor", &[("floor", &v.lang.money(f, cur))])) } }
                                @else { span class="badge bad" { (v.f("pay.below-floor", &[("floor", &v.lang.money(f, cur))])) } }
                            }
                        }
                        None => (v.t("pay.no-hours")),
                    }
                }
            }
            @if !s["floor_computed"].as_bool().unwrap_or(false) && floor.is_some() {
                p class="muted" { (v.t("pay.floor-pending")) }
            }
            @if s["flagged"].as_bool().unwrap_or(false) {
                p class="error" { (v.t("pay.flagged")) }
            }
            p { a class="button secondary" href=(c.url(&format!("/work/statement.csv?period={}", urlencode(period)))) download {
                (v.t("pay.download-csv"))
            } }
            @if !lines.is_empty() {
                div class="table-wrap" tabindex="0" {
                    table {
                        caption { (v.t("pay.lines")) }
                        thead { tr {
                            th scope="col" { (v.t("pay.order")) }
                            th scope="col" { (v.t("pay.settled")) }
                            th scope="col" class="num" { (v.t("pay.gross")) }
                            th scope="col" class="num" { (v.t("pay.commission")) }
                            th scope="col" class="num" { (v.t("pay.fees")) }
                        } }
                        tbody {
                            @for l in &lines {
                                tr {
                                    th scope="row" { (l["order_ref"].as_str().unwrap_or("")) }
                                    td { (v.lang.datetime(l["settled_at"].as_i64().unwrap_or(0))) }
                                    td class="num" { (v.lang.money(l["gross"].as_i64().unwrap_or(0), cur)) }
                                    td class="num" { (v.lang.money(l["commission"].as_i64().unwrap_or(0), cur)) }
                                    td class="num" { (v.lang.money(l["fees"].as_i64().unwrap_or(0), cur)) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

async fn page(
    State(web): State<Web>,
    v: Visitor,
    Path(slug): Path<String>,
    Query(q): Query<PeriodQuery>,
) -> Response {
    let c = match coop_ctx(&web, &v, &slug).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let title = v.t("common.nav-work");
    if !c.has_role("worker") {
        let body = Shell {
            v: &v,
            coop: Some(&c),
            title,
            nav: "work",
        }
        .render(html! { p { (v.t("pay.not-worker")) } });
        return Page::ok(&v, body).into_response();
    }
    let (y, mo, _, _, _) = super::i18n::civil(web.app.clock.now_ms());
    let this_month = (y, mo);
    let mut errors = vec![];
    let mut status = StatusCode::OK;
    let shown = match q.period.as_deref().filter(|p| !p.trim().is_empty()) {
        None => this_month,
        Some(p) => match parse_month(p.trim()) {
            Some(m) => m,
            None => {
                errors.push(v.f("pay.bad-month", &[("value", p)]));
                status = StatusCode::UNPROCESSABLE_ENTITY;
                this_month
            }
        },
    };
    let period = month_text(shown);
    let wallet = match web.get(&v, &c.api("/me/wallet")).await {
        Ok(w) => w,
        Err(e) => return api_error_page(&v, &e),
    };
    let current = web
        .get(&v, &c.api("/shifts/current"))
        .await
        .unwrap_or(Value::Null);
    // The chart's months, oldest first, ending with the month shown.
    // Months before 1970 have no statements (the API refuses them): a
    // chart for early 1970 is just shorter.
    let mut months = vec![shown];
    while months.len() < CHART_MONTHS && months[0] > (1970, 1) {
        let first = months[0];
        months.insert(0, previous(first));
    }
    let mut statements = vec![];
    for m in &months {
        match web
            .get(&v, &c.api(&format!("/me/statements/{}", month_text(*m))))
            .await
        {
            Ok(s) => statements.push((month_text(*m), s["statement"].clone())),
            Err(e) => return api_error_page(&v, &e),
        }
    }
    let shown_statement = statements
        .last()
        .map(|(_, s)| s.clone())
        .unwrap_or(Value::Null);
    let series: Vec<(String, Option<i64>, Option<i64>)> = statements
        .iter()
        .map(|(m, s)| {
            (
                m.clone(),
                s["effective_hourly"].as_i64(),
                s["floor_per_hour"].as_i64(),
            )
        })
        .collect();
    let currency = shown_statement["currency"].as_str().unwrap_or("EUR");
    let balances = wallet["balances"].as_array().cloned().unwrap_or_default();
    let payouts = wallet["payouts"].as_array().cloned().unwrap_or_default();
    let svg = chart(v.lang, v.t("pay.chart-label"), currency, &series);
    let body = Shell {
        v: &v,
        coop: Some(&c),
        title,
        nav: "work",
    }
    .render(html! {
        (notices(&errors, None))
        div class="grid" {
            section class="card" aria-labelledby="h-balance" {
                h2 id="h-balance" { (v.t("pay.balance")) }
                @if balances.is_empty() { p class="figure" { (v.lang.money(0, currency)) } }
                @for b in &balances {
                    p class="figure" { (v.lang.money(b["balance"].as_i64().unwrap_or(0), b["currency"].as_str().unwrap_or("EUR"))) }
                }
                p class="muted" { (v.t("pay.balance-help")) }
            }
            section class="card" aria-labelledby="h-shift" {
                h2 id="h-shift" { (v.t("pay.shift")) }
                @if let Some(since) = current["shift"]["started_at"].as_i64() {
                    p { span class="badge ok" { (v.t("pay.on-shift")) } " " (v.f("pay.since", &[("when", &v.lang.datetime(since))])) }
                } @else {
                    p { span class="badge" { (v.t("pay.off-shift")) } }
                }
                p class="muted" { (v.f("pay.hours-this-month", &[("hours", &hours(shown_statement["on_shift_ms"].as_i64().unwrap_or(0))), ("month", &period)])) }
            }
        }
        form method="get" action=(c.url("/work")) class="card" {
            div class="field" {
                label for="f-period" { (v.t("pay.choose-month")) }
                input id="f-period" name="period" type="month" value=(period)
                    aria-invalid=[(!errors.is_empty()).then_some("true")];
            }
            button type="submit" { (v.t("pay.show")) }
        }
        (statement_card(&v, &c, &shown_statement, &period))
        section aria-labelledby="h-chart" {
            h2 id="h-chart" { (v.t("pay.chart-title")) }
            p class="muted" { (v.t("pay.chart-help")) }
            div class="chart" { (super::layout::trusted(svg)) }
            div class="table-wrap" tabindex="0" {
                table {
                    caption { (v.t("pay.chart-table")) }
                    thead { tr {
                        th scope="col" { (v.t("pay.month")) }
                        th scope="col" class="num" { (v.t("pay.hours")) }
                        th scope="col" class="num" { (v.t("pay.net")) }
                        th scope="col" class="num" { (v.t("pay.effective")) }
                        th scope="col" class="num" { (v.t("pay.floor")) }
                    } }
                    tbody {
                        @for (m, s) in &statements {
                            @let cur = s["currency"].as_str().unwrap_or("EUR");
                            tr {
                                th scope="row" { a href=(c.url(&format!("/work?period={m}"))) { (m) } }
                                td class="num" { (hours(s["on_shift_ms"].as_i64().unwrap_or(0))) }
                                td class="num" { (v.lang.money(s["net"].as_i64().unwrap_or(0), cur)) }
                                td class="num" { @match s["effective_hourly"].as_i64() { Some(e) => (v.lang.money(e, cur)), None => "—" } }
                                td class="num" { @match s["floor_per_hour"].as_i64() { Some(f) => (v.lang.money(f, cur)), None => "—" } }
                            }
                        }
                    }
                }
            }
        }
        section aria-labelledby="h-payouts" {
            h2 id="h-payouts" { (v.t("pay.payouts")) }
            @if payouts.is_empty() { p { (v.t("pay.no-payouts")) } }
            @else {
                div class="table-wrap" tabindex="0" {
                    table {
                        caption class="sr" { (v.t("pay.payouts")) }
                        thead { tr {
                            th scope="col" { (v.t("pay.paid-on")) }
                            th scope="col" class="num" { (v.t("pay.amount")) }
                            th scope="col" { (v.t("pay.reference")) }
                        } }
                        tbody {
                            @for p in &payouts {
                                tr {
                                    th scope="row" { (v.lang.date(p["executed_at"].as_i64().unwrap_or(0))) }
                                    td class="num" { (v.lang.money(p["amount"].as_i64().unwrap_or(0), p["currency"].as_str().unwrap_or("EUR"))) }
                                    td { code { (p["msg_id"].as_str().unwrap_or("")) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    });
    Page::with_status(&v, status, body).into_response()
}

/// The month's statement as CSV, downloaded as a file.
async fn csv(
    State(web): State<Web>,
    v: Visitor,
    Path(slug): Path<String>,
    Query(q): Query<PeriodQuery>,
) -> Response {
    let c = match coop_ctx(&web, &v, &slug).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let Some(period) = q.period.as_deref().and_then(parse_month).map(month_text) else {
        let given = q.period.unwrap_or_default();
        return super::layout::error_page(
            &v,
            StatusCode::UNPROCESSABLE_ENTITY,
            &v.f("pay.bad-month", &[("value", &given)]),
        );
    };
    match web
        .api_raw(
            &v,
            Method::GET,
            &c.api(&format!("/me/statements/{period}?format=csv")),
            None,
        )
        .await
    {
        Ok((_, bytes)) => {
            let mut r = bytes.into_response();
            let h = r.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            );
            if let Ok(d) = HeaderValue::from_str(&format!(
                "attachment; filename=\"statement-{}-{period}.csv\"",
                c.slug
            )) {
                h.insert(header::CONTENT_DISPOSITION, d);
            }
            r
        }
        Err(e) => api_error_page(&v, &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_are_read_strictly() {
        assert_eq!(parse_month("2026-11"), Some((2026, 11)));
        assert_eq!(parse_month("2026-13"), None);
        assert_eq!(parse_month("2026-1"), None);
        assert_eq!(parse_month("november"), None);
        assert_eq!(previous((2026, 1)), (2025, 12));
        assert_eq!(hours(3_900_000), "1 h 05");
    }

    #[test]
    fn the_chart_draws_a_bar_per_month_and_the_floor() {
        let svg = chart(
            Lang::En,
            "pay <chart>",
            "EUR",
            &[
                ("2026-10".into(), Some(1500), Some(1202)),
                ("2026-11".into(), None, Some(1202)),
            ],
        );
        assert_eq!(svg.matches("<rect").count(), 1);
        assert!(svg.contains("€15.00"));
        assert!(svg.contains("<polyline"));
        assert!(svg.contains("aria-label=\"pay &lt;chart&gt;\""));
    }
}
