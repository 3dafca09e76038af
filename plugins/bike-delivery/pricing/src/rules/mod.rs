//! Pricing rules as data: the types of a rule set, a delivery to price and
//! the explained price. The JSON format is described in the crate docs.
//!
//! Architecture invariant: a price is a sum of integer lines in minor units,
//! each with the words that explain it; nothing here reads a clock, a file
//! or a float.

mod amount;
mod check;
mod eval;
mod explain;
#[cfg(test)]
mod proptests;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use amount::{Amount, Num};
pub use check::{
    MAX_ABS_AMOUNT, MAX_ABS_PERCENT_BP, MAX_LABEL_CHARS, MAX_LIST_LEN, MAX_NAME_LEN, MAX_RULES,
    is_name, parse_rule_set,
};
pub use eval::{MINIMUM_RULE_ID, evaluate};
pub use explain::fmt_minor;

/// How the matching rules make the price.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// `"sum"`: every matching rule adds a line.
    Sum,
    /// `"first-match"`: the first matching rule gives the only line (a
    /// price list by cases).
    FirstMatch,
}

/// A complete, voted pricing policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RuleSet {
    /// How matching rules combine.
    pub mode: Mode,
    /// The rules, in order: order decides first-match and what a
    /// `percent-bp` line is a percentage of.
    pub rules: Vec<Rule>,
    /// Lowest total, minor units, 0 or more; 0 when left out.
    #[serde(default)]
    pub minimum: Num,
}

/// One line of the policy: when it applies and what it adds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Rule {
    /// Short name, 1 to 64 of a-z, 0-9 and '-', unique in the set.
    pub id: String,
    /// What the line is called on a quote, 1 to 120 characters.
    pub label: String,
    /// Conditions, all of which must hold; none means every delivery.
    #[serde(default, skip_serializing_if = "When::is_empty")]
    pub when: When,
    /// What the rule adds when it applies.
    pub amount: Amount,
}

/// Conditions on a delivery. Every condition present must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct When {
    /// Route distance, metres.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distance_m: Option<Range>,
    /// Total weight, grams.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_g: Option<Range>,
    /// Number of packages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packages: Option<Range>,
    /// Vehicle names, e.g. `["bike", "cargo-bike"]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vehicle: Option<Vec<String>>,
    /// Time-slot ids; `"on-demand"` matches a delivery without a slot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot: Option<Vec<String>>,
    /// Zone ids: matches when the drop-off is in any of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<Vec<String>>,
    /// Local time of day of the pickup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<TimeRange>,
    /// ISO weekdays, 1 = Monday to 7 = Sunday.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weekdays: Option<Vec<u8>>,
}

impl When {
    /// Whether there is no condition at all (the rule always applies).
    pub fn is_empty(&self) -> bool {
        *self == When::default()
    }
}

/// A half-open interval: `min` included, `max` excluded; either may be left
/// out, not both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Range {
    /// Lowest value that matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<u32>,
    /// First value above the range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u32>,
}

/// Local time of day, `"HH:MM"`, `from` included, `to` excluded; `from`
/// after `to` wraps past midnight (`22:00` to `06:00` is the night).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeRange {
    /// First minute that matches.
    pub from: String,
    /// First minute that no longer matches.
    pub to: String,
}

/// The delivery to price, as the plugin measured it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Job {
    /// Route distance estimate, metres.
    pub route_m: u32,
    /// Total weight, grams.
    pub weight_g: u32,
    /// Number of packages.
    pub packages: u32,
    /// Vehicle name, e.g. `cargo-bike`.
    pub vehicle: String,
    /// Time-slot id; `None` or `"on-demand"` for a delivery without a slot.
    pub slot: Option<String>,
    /// Ids of the zones the drop-off lies in.
    pub dropoff_zones: Vec<String>,
    /// Local minute of the day of the pickup, 0 to 1439.
    pub minute_of_day: u16,
    /// ISO weekday of the pickup, 1 = Monday to 7 = Sunday.
    pub weekday: u8,
}

/// The slot name that means "no slot".
pub const ON_DEMAND: &str = "on-demand";

/// A price with its reasons.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Priced {
    /// What the delivery costs, minor units: the sum of `lines`, 0 or more.
    pub total: i64,
    /// One line per applied rule, in rule order, then the minimum line if
    /// any.
    pub lines: Vec<Line>,
    /// One entry per rule of the set, in order: did it apply and why.
    pub trace: Vec<Trace>,
}

/// One line of a price.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Line {
    /// The rule's id, or [`MINIMUM_RULE_ID`].
    pub rule: String,
    /// The rule's label.
    pub label: String,
    /// Minor units, negative for a discount.
    pub amount: i64,
    /// The arithmetic in words, e.g. `3.2 km × 1.50 = 4.80`.
    pub detail: String,
}

/// Whether one rule applied, in words.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Trace {
    /// The rule's id.
    pub rule: String,
    /// Whether the rule gave a line.
    pub matched: bool,
    /// Each condition checked with the delivery's value, or the first that
    /// failed.
    pub why: String,
}

/// A realistic starting policy for a Lyon courier coop, in euro cents:
/// 3.50 base, `$price-per-km` per km, cargo bike +3.00, 0.20 per kg over
/// 5 kg, 1.00 per extra package, +10 % in the evening, +15 % on Sundays,
/// 0.50 off for drop-offs in the Presqu'île zone, at least 5.00.
pub fn default_rule_set_json() -> &'static str {
    include_str!("default.json")
}

/// The parameters [`default_rule_set_json`] refers to, with starting values:
/// `price-per-km` = 150 (1.50 per km).
pub fn default_params() -> BTreeMap<String, i64> {
    BTreeMap::from([("price-per-km".to_string(), 150)])
}
