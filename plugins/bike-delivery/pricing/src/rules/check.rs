//! Parsing and checking a rule set. A rule set is voted on by members who
//! are not programmers: every message names the rule and the field, says
//! what is wrong and, where it is not obvious, what to write instead.

use std::collections::BTreeSet;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::amount::is_param_name;
use super::eval::MINIMUM_RULE_ID;
use super::explain::parse_hhmm;
use super::{Amount, Mode, Num, Range, Rule, RuleSet, TimeRange, When};

/// Most rules in a set: a price list a member can read on one screen, and a
/// bound on the work of pricing one delivery.
pub const MAX_RULES: usize = 100;
/// Longest rule id, vehicle, slot, zone or parameter name, bytes.
pub const MAX_NAME_LEN: usize = 64;
/// Longest label, characters: one line on a quote.
pub const MAX_LABEL_CHARS: usize = 120;
/// Most names in one condition list.
pub const MAX_LIST_LEN: usize = 100;
/// Largest amount, rate or minimum either way, minor units: 100 000.00 in
/// a two-decimal currency, far above any delivery, and small enough that no
/// sum of 100 lines can overflow before the percentages.
pub const MAX_ABS_AMOUNT: i64 = 10_000_000;
/// Largest percentage either way, basis points: ±100 %.
pub const MAX_ABS_PERCENT_BP: i64 = 10_000;

/// Allowed values of a number in a rule set, and how to say so.
pub(super) struct Bounds {
    pub min: i64,
    pub max: i64,
    pub what: &'static str,
}

pub(super) const AMOUNT_BOUNDS: Bounds = Bounds {
    min: -MAX_ABS_AMOUNT,
    max: MAX_ABS_AMOUNT,
    what: "amounts and rates are from -10000000 to 10000000 minor units",
};
pub(super) const PERCENT_BOUNDS: Bounds = Bounds {
    min: -MAX_ABS_PERCENT_BP,
    max: MAX_ABS_PERCENT_BP,
    what: "percent-bp is from -10000 (-100 %) to 10000 (+100 %)",
};
pub(super) const MINIMUM_BOUNDS: Bounds = Bounds {
    min: 0,
    max: MAX_ABS_AMOUNT,
    what: "a minimum is from 0 to 10000000 minor units",
};

impl Bounds {
    pub(super) fn check(&self, n: i64) -> Result<(), String> {
        if (self.min..=self.max).contains(&n) {
            Ok(())
        } else {
            Err(format!("{n} is out of range: {}", self.what))
        }
    }

    pub(super) fn of(amount: &Amount) -> &'static Bounds {
        match amount {
            Amount::PercentBp(_) => &PERCENT_BOUNDS,
            _ => &AMOUNT_BOUNDS,
        }
    }
}

/// A name in a rule set (rule id, vehicle, slot, zone): 1 to 64 of a-z,
/// 0-9 and '-'.
pub fn is_name(s: &str) -> bool {
    (1..=MAX_NAME_LEN).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

const NAME_RULE: &str = "must be 1 to 64 characters of a-z, 0-9 and '-'";

/// How messages refer to rule `i`: by id when it has one.
pub(super) fn rule_ref(i: usize, id: &str) -> String {
    if id.is_empty() {
        format!("rules[{i}]")
    } else {
        format!("rule {id:?}")
    }
}

/// Parse and check a rule set from JSON. The message says where the first
/// problem is, e.g. `rule "cargo": when.distance-m: min 5000 is not below max 3000`.
pub fn parse_rule_set(json: &str) -> Result<RuleSet, String> {
    let value: Value =
        serde_json::from_str(json).map_err(|e| format!("the rule set is not valid JSON: {e}"))?;
    if !value.is_object() {
        // serde would also read a struct from a list of its fields in order.
        return Err("the rule set must be a JSON object with mode, rules and minimum".into());
    }
    let set = RuleSet::deserialize(&value).map_err(|e| locate(&value, &e.to_string()))?;
    set.check()?;
    Ok(set)
}

/// Find which part of a rule set `error` came from, by parsing the parts
/// one by one with the same types, and prefix the message with it.
fn locate(set: &Value, error: &str) -> String {
    let Some(obj) = set.as_object() else {
        return error.to_string();
    };
    if let Some(Err(e)) = obj.get("mode").map(try_as::<Mode>) {
        return format!("mode: {e}");
    }
    if let Some(Err(e)) = obj.get("minimum").map(try_as::<Num>) {
        return format!("minimum: {e}");
    }
    match obj.get("rules") {
        Some(Value::Array(rules)) => {
            for (i, rule) in rules.iter().enumerate() {
                if let Err(e) = try_as::<Rule>(rule) {
                    let id = rule.get("id").and_then(Value::as_str).unwrap_or("");
                    return format!("{}: {}", rule_ref(i, id), locate_in_rule(rule, &e));
                }
            }
        }
        Some(_) => return format!("rules: must be a list of rules: {error}"),
        None => {}
    }
    error.to_string()
}

fn locate_in_rule(rule: &Value, error: &str) -> String {
    let Some(obj) = rule.as_object() else {
        return error.to_string();
    };
    for key in ["id", "label"] {
        if let Some(Err(e)) = obj.get(key).map(try_as::<String>) {
            return format!("{key}: {e}");
        }
    }
    if let Some(when) = obj.get("when")
        && let Err(e) = try_as::<When>(when)
    {
        return locate_in_when(when, &e);
    }
    if let Some(Err(e)) = obj.get("amount").map(try_as::<Amount>) {
        return format!("amount: {e}");
    }
    error.to_string()
}

fn locate_in_when(when: &Value, error: &str) -> String {
    type Try = fn(&Value) -> Result<(), String>;
    let fields: [(&str, Try); 8] = [
        ("distance-m", try_as::<Range>),
        ("weight-g", try_as::<Range>),
        ("packages", try_as::<Range>),
        ("vehicle", try_as::<Vec<String>>),
        ("slot", try_as::<Vec<String>>),
        ("zone", try_as::<Vec<String>>),
        ("time", try_as::<TimeRange>),
        ("weekdays", try_as::<Vec<u8>>),
    ];
    for (key, parse) in fields {
        if let Some(Err(e)) = when.get(key).map(parse) {
            return format!("when.{key}: {e}");
        }
    }
    format!("when: {error}")
}

fn try_as<T: DeserializeOwned>(v: &Value) -> Result<(), String> {
    T::deserialize(v).map(drop).map_err(|e| e.to_string())
}

impl RuleSet {
    /// Check everything serde cannot: names, lengths, ranges, limits.
    /// [`evaluate`](super::evaluate) calls it too, so a set built in code
    /// gets the same guarantees as a parsed one.
    pub fn check(&self) -> Result<(), String> {
        if self.rules.len() > MAX_RULES {
            return Err(format!(
                "rules: {} rules, at most {MAX_RULES}; merge rules with the same amount",
                self.rules.len()
            ));
        }
        check_num(&self.minimum, &MINIMUM_BOUNDS).map_err(|e| format!("minimum: {e}"))?;
        if self.rules.is_empty() && self.minimum == Num::Lit(0) {
            return Err(
                "rules: there is no rule and no minimum, so no delivery could be priced; add a rule"
                    .to_string(),
            );
        }
        let mut seen = BTreeSet::new();
        for (i, rule) in self.rules.iter().enumerate() {
            let at = rule_ref(i, &rule.id);
            check_rule(self.mode, rule).map_err(|e| format!("{at}: {e}"))?;
            if !seen.insert(rule.id.as_str()) {
                return Err(format!(
                    "{at}: id: another rule has the same id; ids must be unique"
                ));
            }
        }
        Ok(())
    }
}

fn check_rule(mode: Mode, rule: &Rule) -> Result<(), String> {
    if !is_name(&rule.id) {
        return Err(format!("id: {NAME_RULE}"));
    }
    if rule.id == MINIMUM_RULE_ID {
        return Err(format!(
            "id: {MINIMUM_RULE_ID:?} is reserved for the minimum price line; pick another id"
        ));
    }
    let chars = rule.label.chars().count();
    if !(1..=MAX_LABEL_CHARS).contains(&chars) {
        return Err(format!(
            "label: must be 1 to {MAX_LABEL_CHARS} characters, got {chars}"
        ));
    }
    if rule.label.chars().any(char::is_control) {
        return Err("label: has a line break or control character; write it on one line".into());
    }
    check_when(&rule.when)?;
    let field = format!("amount.{}", rule.amount.kind());
    check_num(rule.amount.num(), Bounds::of(&rule.amount)).map_err(|e| format!("{field}: {e}"))?;
    if mode == Mode::FirstMatch && matches!(rule.amount, Amount::PercentBp(_)) {
        return Err(format!(
            "{field}: in first-match mode no line comes before this rule's, so a percentage would always be 0; use sum mode or another amount"
        ));
    }
    Ok(())
}

fn check_num(n: &Num, bounds: &Bounds) -> Result<(), String> {
    match n {
        Num::Lit(v) => bounds.check(*v),
        Num::Param(p) if is_param_name(p) => Ok(()),
        Num::Param(p) => Err(format!(
            "\"${p}\" is not a valid parameter reference: after '$' use 1 to 64 of a-z, 0-9, '-', '_' and '.'"
        )),
    }
}

fn check_when(w: &When) -> Result<(), String> {
    let ranges = [
        ("distance-m", &w.distance_m),
        ("weight-g", &w.weight_g),
        ("packages", &w.packages),
    ];
    for (key, range) in ranges {
        if let Some(r) = range {
            check_range(r).map_err(|e| format!("when.{key}: {e}"))?;
        }
    }
    let lists = [
        ("vehicle", &w.vehicle),
        ("slot", &w.slot),
        ("zone", &w.zone),
    ];
    for (key, list) in lists {
        if let Some(names) = list {
            check_list(key, names.len())?;
            if let Some(bad) = names.iter().find(|n| !is_name(n)) {
                return Err(format!("when.{key}: {bad:?} {NAME_RULE}"));
            }
        }
    }
    if let Some(t) = &w.time {
        let from = parse_hhmm(&t.from).ok_or_else(|| bad_time("from", &t.from))?;
        let to = parse_hhmm(&t.to).ok_or_else(|| bad_time("to", &t.to))?;
        if from == to {
            return Err(format!(
                "when.time: from and to are both {}, which matches no minute; leave time out to match the whole day",
                t.from
            ));
        }
    }
    if let Some(days) = &w.weekdays {
        check_list("weekdays", days.len())?;
        if let Some(bad) = days.iter().find(|d| !(1..=7).contains(*d)) {
            return Err(format!(
                "when.weekdays: {bad} is not a weekday: use 1 (Monday) to 7 (Sunday)"
            ));
        }
    }
    Ok(())
}

fn check_list(key: &str, len: usize) -> Result<(), String> {
    if len == 0 {
        return Err(format!(
            "when.{key}: the list is empty, so the rule could never apply; leave {key} out to match any"
        ));
    }
    if len > MAX_LIST_LEN {
        return Err(format!("when.{key}: {len} entries, at most {MAX_LIST_LEN}"));
    }
    Ok(())
}

fn check_range(r: &Range) -> Result<(), String> {
    match (r.min, r.max) {
        (None, None) => Err("give min, max or both; leave the condition out to match any".into()),
        (Some(min), Some(max)) if min >= max => Err(format!("min {min} is not below max {max}")),
        _ => Ok(()),
    }
}

fn bad_time(key: &str, value: &str) -> String {
    format!("when.time.{key}: {value:?} is not a time: write HH:MM from 00:00 to 23:59")
}

#[cfg(test)]
mod tests {
    use super::super::default_rule_set_json;
    use super::*;

    /// One rule set around `rule` (a JSON object), in `mode`.
    fn with_rule(mode: &str, rule: &str) -> String {
        format!(r#"{{"mode":"{mode}","rules":[{rule}]}}"#)
    }

    /// `json` must be rejected with exactly `want`.
    fn check_err(json: &str, want: &str) {
        match parse_rule_set(json) {
            Ok(set) => panic!("accepted {json}: {set:?}"),
            Err(got) => assert_eq!(got, want, "for {json}"),
        }
    }

    /// A rule `r` with `when`, in sum mode, must be rejected with `want`.
    fn check_when_err(when: &str, want: &str) {
        let rule = format!(r#"{{"id":"r","label":"R","when":{when},"amount":{{"fixed":1}}}}"#);
        check_err(&with_rule("sum", &rule), want);
    }

    #[test]
    fn the_default_parses_and_checks() {
        let set = parse_rule_set(default_rule_set_json()).unwrap();
        assert_eq!(set.mode, Mode::Sum);
        assert_eq!(set.minimum, Num::Lit(500));
        let ids: Vec<&str> = set.rules.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "base",
                "distance",
                "cargo-bike",
                "heavy",
                "extra-packages",
                "evening",
                "sunday",
                "presquile"
            ]
        );
        assert_eq!(
            set.rules[1].amount.num(),
            &Num::Param("price-per-km".into())
        );
    }

    #[test]
    fn a_set_survives_a_round_trip() {
        let set = parse_rule_set(default_rule_set_json()).unwrap();
        let json = serde_json::to_string(&set).unwrap();
        assert_eq!(parse_rule_set(&json).unwrap(), set);
    }

    #[test]
    fn json_and_shape_errors_name_the_place() {
        check_err(
            "{",
            "the rule set is not valid JSON: EOF while parsing an object at line 1 column 1",
        );
        check_err(
            "[]",
            "the rule set must be a JSON object with mode, rules and minimum",
        );
        check_err(
            r#"["sum",[],500]"#,
            "the rule set must be a JSON object with mode, rules and minimum",
        );
        check_err(r#"{"rules":[]}"#, "missing field `mode`");
        check_err(
            r#"{"mode":"flat","rules":[]}"#,
            "mode: unknown variant `flat`, expected `sum` or `first-match`",
        );
        check_err(
            r#"{"mode":"sum","rules":[],"minimun":5}"#,
            "unknown field `minimun`, expected one of `mode`, `rules`, `minimum`",
        );
        check_err(
            r#"{"mode":"sum","rules":{}}"#,
            "rules: must be a list of rules: invalid type: map, expected a sequence",
        );
        check_err(
            r#"{"mode":"sum","rules":[],"minimum":2.5}"#,
            "minimum: 2.5 is not a whole number; amounts are integers in minor units (cents), basis points or parameters",
        );
    }

    #[test]
    fn rule_shape_errors_name_the_rule_and_field() {
        check_err(
            &with_rule(
                "sum",
                r#"{"id":"base","label":"Base","amount":{"fixed":1},"note":"x"}"#,
            ),
            "rule \"base\": unknown field `note`, expected one of `id`, `label`, `when`, `amount`",
        );
        check_err(
            &with_rule("sum", r#"{"label":"Base","amount":{"fixed":1}}"#),
            "rules[0]: missing field `id`",
        );
        check_err(
            &with_rule("sum", r#"{"id":7,"label":"Base","amount":{"fixed":1}}"#),
            "rules[0]: id: invalid type: integer `7`, expected a string",
        );
        check_err(
            &with_rule(
                "sum",
                r#"{"id":"base","label":"Base","amount":{"per-km":"1"}}"#,
            ),
            "rule \"base\": amount: per-km: \"1\" is a string: write the number without quotes",
        );
        check_when_err(
            r#"{"distance":{"min":1}}"#,
            "rule \"r\": when: unknown field `distance`, expected one of `distance-m`, `weight-g`, `packages`, `vehicle`, `slot`, `zone`, `time`, `weekdays`",
        );
        check_when_err(
            r#"{"weight-g":{"min":-1}}"#,
            "rule \"r\": when.weight-g: invalid value: integer `-1`, expected u32",
        );
        check_when_err(
            r#"{"vehicle":"bike"}"#,
            "rule \"r\": when.vehicle: invalid type: string \"bike\", expected a sequence",
        );
        check_when_err(
            r#"{"time":{"from":"19:00"}}"#,
            "rule \"r\": when.time: missing field `to`",
        );
    }

    /// The example of the brief, word for word.
    #[test]
    fn a_range_must_not_be_empty() {
        let rule = r#"{"id":"cargo","label":"Cargo","when":{"distance-m":{"min":5000,"max":3000}},"amount":{"fixed":1}}"#;
        check_err(
            &with_rule("sum", rule),
            "rule \"cargo\": when.distance-m: min 5000 is not below max 3000",
        );
        check_when_err(
            r#"{"packages":{"min":2,"max":2}}"#,
            "rule \"r\": when.packages: min 2 is not below max 2",
        );
        check_when_err(
            r#"{"weight-g":{}}"#,
            "rule \"r\": when.weight-g: give min, max or both; leave the condition out to match any",
        );
    }

    #[test]
    fn ids_and_labels_are_checked() {
        let rule = |id: &str, label: &str| {
            format!(r#"{{"id":"{id}","label":"{label}","amount":{{"fixed":1}}}}"#)
        };
        check_err(
            &with_rule("sum", &rule("Base", "B")),
            "rule \"Base\": id: must be 1 to 64 characters of a-z, 0-9 and '-'",
        );
        check_err(
            &with_rule("sum", &rule("", "B")),
            "rules[0]: id: must be 1 to 64 characters of a-z, 0-9 and '-'",
        );
        let long = "a".repeat(65);
        check_err(
            &with_rule("sum", &rule(&long, "B")),
            &format!("rule \"{long}\": id: must be 1 to 64 characters of a-z, 0-9 and '-'"),
        );
        assert!(parse_rule_set(&with_rule("sum", &rule(&"a".repeat(64), "B"))).is_ok());
        check_err(
            &with_rule("sum", &rule("minimum", "B")),
            "rule \"minimum\": id: \"minimum\" is reserved for the minimum price line; pick another id",
        );
        let two = format!("{},{}", rule("base", "A"), rule("base", "B"));
        check_err(
            &with_rule("sum", &two),
            "rule \"base\": id: another rule has the same id; ids must be unique",
        );
        check_err(
            &with_rule("sum", &rule("base", "")),
            "rule \"base\": label: must be 1 to 120 characters, got 0",
        );
        // 120 characters, several bytes each, is fine; 121 is not.
        assert!(parse_rule_set(&with_rule("sum", &rule("base", &"é".repeat(120)))).is_ok());
        check_err(
            &with_rule("sum", &rule("base", &"é".repeat(121))),
            "rule \"base\": label: must be 1 to 120 characters, got 121",
        );
        check_err(
            &with_rule("sum", &rule("base", "two\\nlines")),
            "rule \"base\": label: has a line break or control character; write it on one line",
        );
    }

    #[test]
    fn at_most_100_rules_and_not_nothing() {
        let rules: Vec<String> = (0..=MAX_RULES)
            .map(|i| format!(r#"{{"id":"r{i}","label":"R","amount":{{"fixed":1}}}}"#))
            .collect();
        check_err(
            &with_rule("sum", &rules.join(",")),
            "rules: 101 rules, at most 100; merge rules with the same amount",
        );
        assert!(parse_rule_set(&with_rule("sum", &rules[..MAX_RULES].join(","))).is_ok());
        check_err(
            r#"{"mode":"sum","rules":[]}"#,
            "rules: there is no rule and no minimum, so no delivery could be priced; add a rule",
        );
        // A flat price is a minimum alone.
        assert!(parse_rule_set(r#"{"mode":"sum","rules":[],"minimum":900}"#).is_ok());
    }

    #[test]
    fn lists_weekdays_and_times_are_checked() {
        check_when_err(
            r#"{"vehicle":[]}"#,
            "rule \"r\": when.vehicle: the list is empty, so the rule could never apply; leave vehicle out to match any",
        );
        check_when_err(
            r#"{"zone":["Presqu'île"]}"#,
            "rule \"r\": when.zone: \"Presqu'île\" must be 1 to 64 characters of a-z, 0-9 and '-'",
        );
        let many: Vec<String> = (0..=MAX_LIST_LEN).map(|i| format!("\"s{i}\"")).collect();
        check_when_err(
            &format!(r#"{{"slot":[{}]}}"#, many.join(",")),
            "rule \"r\": when.slot: 101 entries, at most 100",
        );
        check_when_err(
            r#"{"weekdays":[0]}"#,
            "rule \"r\": when.weekdays: 0 is not a weekday: use 1 (Monday) to 7 (Sunday)",
        );
        check_when_err(
            r#"{"weekdays":[7,8]}"#,
            "rule \"r\": when.weekdays: 8 is not a weekday: use 1 (Monday) to 7 (Sunday)",
        );
        check_when_err(
            r#"{"time":{"from":"24:00","to":"06:00"}}"#,
            "rule \"r\": when.time.from: \"24:00\" is not a time: write HH:MM from 00:00 to 23:59",
        );
        check_when_err(
            r#"{"time":{"from":"22:00","to":"6:00"}}"#,
            "rule \"r\": when.time.to: \"6:00\" is not a time: write HH:MM from 00:00 to 23:59",
        );
        check_when_err(
            r#"{"time":{"from":"10:00","to":"10:00"}}"#,
            "rule \"r\": when.time: from and to are both 10:00, which matches no minute; leave time out to match the whole day",
        );
    }

    #[test]
    fn amounts_and_minimum_stay_within_limits() {
        let amount =
            |a: &str| with_rule("sum", &format!(r#"{{"id":"x","label":"X","amount":{a}}}"#));
        check_err(
            &amount(r#"{"fixed":10000001}"#),
            "rule \"x\": amount.fixed: 10000001 is out of range: amounts and rates are from -10000000 to 10000000 minor units",
        );
        check_err(
            &amount(r#"{"per-kg":-10000001}"#),
            "rule \"x\": amount.per-kg: -10000001 is out of range: amounts and rates are from -10000000 to 10000000 minor units",
        );
        assert!(parse_rule_set(&amount(r#"{"fixed":-10000000}"#)).is_ok());
        check_err(
            &amount(r#"{"percent-bp":10001}"#),
            "rule \"x\": amount.percent-bp: 10001 is out of range: percent-bp is from -10000 (-100 %) to 10000 (+100 %)",
        );
        assert!(parse_rule_set(&amount(r#"{"percent-bp":-10000}"#)).is_ok());
        check_err(
            r#"{"mode":"sum","rules":[],"minimum":-1}"#,
            "minimum: -1 is out of range: a minimum is from 0 to 10000000 minor units",
        );
        check_err(
            &with_rule(
                "first-match",
                r#"{"id":"x","label":"X","amount":{"percent-bp":500}}"#,
            ),
            "rule \"x\": amount.percent-bp: in first-match mode no line comes before this rule's, so a percentage would always be 0; use sum mode or another amount",
        );
    }

    #[test]
    fn sets_built_in_code_are_checked_too() {
        let mut set = parse_rule_set(default_rule_set_json()).unwrap();
        set.rules[0].amount = Amount::Fixed(Num::Param("Bad Name".into()));
        assert_eq!(
            set.check(),
            Err("rule \"base\": amount.fixed: \"$Bad Name\" is not a valid parameter reference: after '$' use 1 to 64 of a-z, 0-9, '-', '_' and '.'".into())
        );
    }
}
