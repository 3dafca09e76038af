//! The coop's settings for this plugin, read from its configuration (set by
//! the members, through governance where their rules say so).

use std::collections::BTreeMap;

use coophost_sdk::{Error, config};

use crate::pricing::{geo::Zone, rules::RuleSet};

/// Everything a call needs from the configuration, read in one host call.
pub struct Settings {
    /// ISO 4217 code of every price.
    pub currency: String,
    /// The coop's local time, minutes east of UTC (slots, time-of-day rules).
    pub utc_offset_min: i32,
    /// Route distance as a percentage of the great-circle distance.
    pub route_factor_percent: u32,
    /// How long a quote can be ordered, minutes.
    pub quote_ttl_min: u64,
    /// On-demand pickup window length, minutes.
    pub on_demand_window_min: u64,
    /// The pricing rules.
    pub rules: RuleSet,
    /// Every integer parameter, for `$name` references in the rules.
    pub params: BTreeMap<String, i64>,
    /// Named zones for zone rules.
    pub zones: Vec<Zone>,
    /// Cancellation fee once a courier is assigned, basis points of the price.
    pub cancel_fee_assigned_bp: i64,
    /// Cancellation fee once the packages are picked up, basis points.
    pub cancel_fee_picked_up_bp: i64,
    /// A courier position older than this is not used, minutes.
    pub location_max_age_min: u64,
}

impl Settings {
    /// Read and check the configuration. A value that does not parse is the
    /// coop's mistake in a vote or a direct change: say which and why.
    pub fn load() -> Result<Settings, Error> {
        let all: BTreeMap<String, serde_json::Value> = config::get_all()?
            .into_iter()
            .map(|(k, v)| {
                let json = serde_json::from_str(&v).unwrap_or(serde_json::Value::Null);
                (k, json)
            })
            .collect();
        let params: BTreeMap<String, i64> = all
            .iter()
            .filter_map(|(k, v)| v.as_i64().map(|n| (k.clone(), n)))
            .collect();
        let int = |name: &str, default: i64| params.get(name).copied().unwrap_or(default);
        let rules_json = all
            .get("pricing-rules")
            .map(|v| v.to_string())
            .unwrap_or_else(|| crate::pricing::rules::default_rule_set_json().to_string());
        let rules = crate::pricing::rules::parse_rule_set(&rules_json).map_err(|e| {
            Error::internal(format!(
                "the coop's pricing-rules configuration is not a valid rule set: {e}"
            ))
        })?;
        let zones: Vec<Zone> = match all.get("zones") {
            Some(v) => serde_json::from_value(v.clone()).map_err(|e| {
                Error::internal(format!(
                    "the coop's zones configuration is not a list of zones: {e}"
                ))
            })?,
            None => Vec::new(),
        };
        let currency = all
            .get("currency")
            .and_then(|v| v.as_str())
            .unwrap_or("EUR")
            .to_string();
        Ok(Settings {
            currency,
            utc_offset_min: int("utc-offset-minutes", 60).clamp(-14 * 60, 14 * 60) as i32,
            route_factor_percent: int("route-factor-percent", 130).clamp(100, 400) as u32,
            quote_ttl_min: int("quote-ttl-minutes", 15).clamp(1, 24 * 60) as u64,
            on_demand_window_min: int("on-demand-window-minutes", 60).clamp(5, 24 * 60) as u64,
            rules,
            zones,
            cancel_fee_assigned_bp: int("cancel-fee-assigned-bp", 2_500).clamp(0, 10_000),
            cancel_fee_picked_up_bp: int("cancel-fee-picked-up-bp", 10_000).clamp(0, 10_000),
            location_max_age_min: int("location-max-age-minutes", 15).clamp(1, 24 * 60) as u64,
            params,
        })
    }
}
