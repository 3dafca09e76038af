//! A coop's public transparency report: what anyone may know about how the
//! coop's platform works, with no login. Installed plugins and their
//! algorithm cards with the parameters in force, the value split and its
//! history, earnings against the floor per month (cells of fewer than
//! [`MIN_CELL`] workers suppressed), the personal-data categories and where
//! data is stored, terms versions and pending changes, and the decision
//! log's entries (kinds and hashes, no bodies) with its verification.

use serde::Serialize;
use serde_json::{Value, json};
use sqlx::Row;

use crate::chain;
use crate::db::Db;
use crate::error::Result;
use crate::governance::proposals::DECISIONS;
use crate::governance::terms;
use crate::identity::Coop;
use crate::ledger::period::Month;
use crate::ledger::policies;
use crate::plugins;

/// Figures over fewer workers than this are suppressed, so no one's pay
/// can be read off the page.
pub const MIN_CELL: usize = 5;
/// How many months of earnings and decision-log entries are shown.
pub const MONTHS: i64 = 24;
/// How many of the latest decision-log entries are listed.
pub const DECISIONS_SHOWN: i64 = 200;

/// Where a host stores data: set by the operator
/// (`COOPHOST_DATA_COUNTRY`, `COOPHOST_DATA_PROVIDER`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DataLocation {
    /// ISO 3166 country code or name, e.g. `FR`.
    pub country: Option<String>,
    /// Hosting provider, e.g. `Scaleway, Paris (fr-par-2)`.
    pub provider: Option<String>,
}

impl DataLocation {
    /// Read `COOPHOST_DATA_COUNTRY` and `COOPHOST_DATA_PROVIDER`.
    pub fn from_env() -> DataLocation {
        let var = |n: &str| {
            std::env::var(n)
                .ok()
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        DataLocation {
            country: var("COOPHOST_DATA_COUNTRY"),
            provider: var("COOPHOST_DATA_PROVIDER"),
        }
    }
}

/// One month of earnings against the floor, before top-ups.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EarningsMonth {
    /// `YYYY-MM`.
    pub period: String,
    /// Currency of the figures.
    pub currency: String,
    /// Workers with on-shift time that month.
    pub workers: usize,
    /// True when fewer than [`MIN_CELL`] workers: no figure is shown.
    pub suppressed: bool,
    /// Median of the workers' effective hourly pay before top-up (earned
    /// divided by on-shift hours), minor units per hour.
    pub median_hourly: Option<i64>,
    /// Share of workers whose pay fell below the floor before top-up, in
    /// basis points.
    pub below_floor_bp: Option<i64>,
}

/// The median of `values` (the lower middle one for an even count).
pub fn median(mut values: Vec<i64>) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    Some(values[(values.len() - 1) / 2])
}

/// Per month, from the floor runs: workers, the median effective hourly
/// pay before top-up, and the share below the floor, with cells under
/// [`MIN_CELL`] workers suppressed.
pub fn earnings_months(rows: &[(i64, String, i64, i64, i64)]) -> Vec<EarningsMonth> {
    // rows: (period_start, currency, on_shift_ms, earned, shortfall)
    let mut out: Vec<EarningsMonth> = Vec::new();
    let mut i = 0;
    while i < rows.len() {
        let (start, currency) = (rows[i].0, rows[i].1.clone());
        let month: Vec<_> = rows[i..]
            .iter()
            .take_while(|r| r.0 == start && r.1 == currency)
            .collect();
        i += month.len();
        let worked: Vec<_> = month.iter().filter(|r| r.2 > 0).collect();
        let n = worked.len();
        let suppressed = n < MIN_CELL;
        let hourly: Vec<i64> = worked
            .iter()
            .map(|r| {
                i64::try_from(i128::from(r.3) * 3_600_000 / i128::from(r.2)).unwrap_or(i64::MAX)
            })
            .collect();
        let below = worked.iter().filter(|r| r.4 > 0).count();
        out.push(EarningsMonth {
            period: Month::containing(start).to_string(),
            currency,
            workers: n,
            suppressed,
            median_hourly: if suppressed { None } else { median(hourly) },
            below_floor_bp: (!suppressed && n > 0).then(|| (below * 10_000 / n) as i64),
        });
    }
    out
}

async fn earnings(db: &Db, coop_id: i64) -> Result<Vec<EarningsMonth>> {
    let rows = sqlx::query(
        "SELECT period_start, currency, on_shift_ms, earned, shortfall FROM floor_results \
         WHERE coop_id = $1 ORDER BY period_start DESC, currency, member_id",
    )
    .bind(coop_id)
    .fetch_all(&db.pool)
    .await?;
    let rows: Vec<(i64, String, i64, i64, i64)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect();
    let mut months = earnings_months(&rows);
    months.truncate(MONTHS as usize);
    Ok(months)
}

/// The coop's transparency report as JSON.
pub async fn report(db: &Db, coop: &Coop, location: &DataLocation, now_ms: i64) -> Result<Value> {
    let mut plugins_out = Vec::new();
    for p in plugins::list(db, coop.id).await? {
        let values = plugins::config_values(db, coop.id, &p.manifest).await?;
        let card = plugins::algorithm_card(&p.manifest, &values);
        plugins_out.push(json!({
            "name": p.name,
            "version": p.version,
            "sha256": p.sha256,
            "licence": p.licence,
            "source": p.source,
            "description": p.manifest.plugin.description,
            "algorithm": card,
            "data": p.manifest.data,
        }));
    }
    let split: Vec<Value> = policies::split_history(db, coop.id)
        .await?
        .into_iter()
        .map(|r| {
            json!({
                "version": r.policy.version,
                "effective_from": r.policy.effective_from,
                "terms": r.policy.terms,
                "reason": r.reason,
                "set_at": r.set_at,
            })
        })
        .collect();
    let in_effect = policies::split_in_effect(db, coop.id, now_ms)
        .await?
        .map(|p| p.version);
    let floor: Vec<Value> = policies::floor_history(db, coop.id)
        .await?
        .iter()
        .map(|f| {
            json!({"per_hour": f.rate.per_hour, "currency": f.currency,
                "effective_from": f.rate.effective_from, "on_shortfall": f.on_shortfall})
        })
        .collect();
    let versions = terms::versions(db, coop.id).await?;
    let current = terms::in_effect(&versions, now_ms).map(|v| v.version);
    let terms_out: Vec<Value> = versions
        .iter()
        .map(|v| {
            json!({"version": v.version, "published_at": v.published_at,
                "effective_at": v.effective_at, "pending": v.effective_at > now_ms,
                "text": v.text, "diff": v.diff})
        })
        .collect();
    let verification = chain::verify(db, DECISIONS, coop.id).await?;
    let after = (verification.entries - DECISIONS_SHOWN).max(0);
    let decisions: Vec<Value> = chain::list(db, DECISIONS, coop.id, after, DECISIONS_SHOWN)
        .await?
        .iter()
        .map(|e| json!({"seq": e.seq, "kind": e.kind, "at": e.at, "hash": e.hash}))
        .collect();
    // The rules every member lives under (colleges and weights, methods,
    // quorums, thresholds, windows, notice periods, what admins may change
    // alone, the commons) and the legal minimum of the coop's country.
    let (rules_version, rules) = crate::governance::rules::current(db, coop.id).await?;
    let legal_minimum = {
        let mut conn = db.pool.acquire().await?;
        crate::ledger::legal_minimum::for_coop_any_currency(&mut conn, coop.id).await?
    };
    let legal_in_force: Vec<_> = {
        let mut seen = std::collections::BTreeMap::new();
        for r in legal_minimum.iter().filter(|r| r.effective_from <= now_ms) {
            seen.insert(r.currency.clone(), r.clone());
        }
        seen.into_values().collect()
    };
    Ok(json!({
        "coop": {"slug": coop.slug, "name": coop.name},
        "generated_at": now_ms,
        "rules": {"version": rules_version, "rules": rules},
        "legal_minimum": {"in_force": legal_in_force, "all": legal_minimum},
        "plugins": plugins_out,
        "value_split": {"in_effect": in_effect, "history": split},
        "earnings_floor": floor,
        "earnings": {"min_cell": MIN_CELL, "months": earnings(db, coop.id).await?},
        "data_location": location,
        "terms": {"in_effect": current, "versions": terms_out},
        "decisions": {"verification": verification, "latest": decisions},
    }))
}

/// A data-protection impact summary of the coop's installed plugins, in
/// Markdown, for the coop to share with worker representatives: per plugin,
/// the personal data it handles (category, purpose, legal basis, where it
/// is kept, retention), the automated decisions it makes (its algorithm
/// card and the parameters in force), the host capabilities it was granted,
/// and the safeguards the host enforces whatever the plugin does.
pub async fn impact_summary(db: &Db, coop: &Coop, location: &DataLocation) -> Result<String> {
    use std::fmt::Write as _;
    let mut md = String::new();
    let _ = writeln!(md, "# Data-protection impact summary: {}\n", coop.name);
    let _ = writeln!(
        md,
        "Generated by coophost from the manifests of the installed plugins. Data is stored in {} ({}).\n",
        location
            .country
            .as_deref()
            .unwrap_or("an undeclared country"),
        location
            .provider
            .as_deref()
            .unwrap_or("undeclared provider"),
    );
    for p in plugins::list(db, coop.id).await? {
        let m = &p.manifest;
        let _ = writeln!(
            md,
            "## {} {}\n\n{}\n",
            p.name, p.version, m.plugin.description
        );
        let _ = writeln!(
            md,
            "Source: {} (licence {}), SHA-256 `{}`.\n",
            p.source, p.licence, p.sha256
        );
        let _ = writeln!(md, "### Personal data\n");
        if m.data.is_empty() {
            let _ = writeln!(md, "The manifest declares no personal-data category.\n");
        } else {
            let _ = writeln!(
                md,
                "| category | purpose | legal basis | store keys | retention |\n|---|---|---|---|---|"
            );
            for (name, c) in &m.data {
                let basis = match c.basis {
                    crate::consent::Basis::Consent => "consent (each member decides, withdrawable)",
                    crate::consent::Basis::Contract => "contract",
                    crate::consent::Basis::LegalObligation => "legal obligation",
                };
                let _ = writeln!(
                    md,
                    "| {name} | {} | {basis} | {} | {} |",
                    c.purpose.replace('|', "/"),
                    c.keys.join(", "),
                    c.retention_days
                        .map_or("not declared".to_string(), |d| format!("{d} days")),
                );
            }
            let _ = writeln!(md);
        }
        let _ = writeln!(md, "### Automated decisions\n");
        match &m.algorithm {
            Some(card) => {
                for (k, v) in card.iter().filter(|(k, _)| *k != "parameters") {
                    let _ = writeln!(
                        md,
                        "- **{k}**: {}",
                        v.as_str().map_or(v.to_string(), str::to_string)
                    );
                }
                let values = plugins::config_values(db, coop.id, m).await?;
                if let Some(names) = card.get("parameters").and_then(|v| v.as_array()) {
                    let _ = writeln!(md, "\nParameters in force:\n");
                    for n in names.iter().filter_map(|v| v.as_str()) {
                        let _ = writeln!(
                            md,
                            "- `{n}` = `{}`",
                            values.get(n).map_or("unset".to_string(), |v| v.to_string())
                        );
                    }
                }
                let _ = writeln!(md);
            }
            None => {
                let _ = writeln!(md, "The manifest publishes no algorithm card.\n");
            }
        }
    }
    let _ = writeln!(
        md,
        "## Safeguards the host enforces\n\n\
         - Categories forbidden by article 7 of Directive (EU) 2024/2831 cannot be declared.\n\
         - Records in a consent category about a member who has not consented cannot be written and are hidden once consent is withdrawn.\n\
         - Location data about a worker is refused outside their open shift.\n\
         - Plugins see members only under per-plugin pseudonyms, never names, emails or logins.\n\
         - No plugin can suspend or remove a member: it can only flag; a human decides, with a reason, and the worker can appeal to another human.\n\
         - Ratings belong to the worker: visible to them, contestable, unused after the coop's retention.\n\
         - Pay is settled by the host under the coop's voted split, and the earnings floor is topped up from the solidarity fund.\n"
    );
    Ok(md)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_take_the_lower_middle() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![7]), Some(7));
        assert_eq!(median(vec![3, 1, 2]), Some(2));
        assert_eq!(median(vec![4, 1, 3, 2]), Some(2));
    }

    #[test]
    fn small_months_are_suppressed_and_large_ones_computed() {
        let oct = Month::new(2026, 10).unwrap().start_ms();
        let nov = Month::new(2026, 11).unwrap().start_ms();
        let hour = 3_600_000;
        let mut rows = Vec::new();
        // November: 6 workers, one hour each, earning 8, 10, 12, 14, 16,
        // 18.00; two below the floor. Median (lower middle) is 12.00.
        for (i, earned) in [800, 1000, 1200, 1400, 1600, 1800].iter().enumerate() {
            rows.push((
                nov,
                "EUR".to_string(),
                hour,
                *earned,
                if i < 2 { 100 } else { 0 },
            ));
        }
        // A worker with no shift time does not count.
        rows.push((nov, "EUR".to_string(), 0, 0, 0));
        // October: 4 workers: suppressed.
        for earned in [900, 1000, 1100, 1200] {
            rows.push((oct, "EUR".to_string(), 2 * hour, earned, 0));
        }
        let months = earnings_months(&rows);
        assert_eq!(months.len(), 2);
        assert_eq!(
            months[0],
            EarningsMonth {
                period: "2026-11".into(),
                currency: "EUR".into(),
                workers: 6,
                suppressed: false,
                median_hourly: Some(1200),
                below_floor_bp: Some(3333),
            }
        );
        assert!(months[1].suppressed);
        assert_eq!(
            (months[1].median_hourly, months[1].below_floor_bp),
            (None, None)
        );
    }
}
