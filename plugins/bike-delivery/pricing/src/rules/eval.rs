//! Pricing one delivery: which rules apply, what each adds, and why, in
//! words a courier or a merchant can check with a pencil.

use std::collections::BTreeMap;

use super::check::{Bounds, MINIMUM_BOUNDS};
use super::explain::{
    div_round, fmt_hhmm, fmt_list, fmt_minor, fmt_percent, fmt_thousandths, parse_hhmm,
    weekday_name,
};
use super::{Amount, Job, Line, Mode, Num, ON_DEMAND, Priced, Range, Rule, RuleSet, Trace, When};

/// The rule id of the line that lifts a total to the minimum (reserved:
/// no rule may use it).
pub const MINIMUM_RULE_ID: &str = "minimum";

const MINIMUM_LABEL: &str = "Minimum price";

/// Price `job` with `set`, resolving `"$name"` numbers from `params`.
///
/// The total is the sum of the lines and never below the set's minimum (nor
/// below 0); the trace has one entry per rule. Errors: an invalid set or
/// job, a missing or out-of-range parameter, a total too large to compute,
/// or no rule applying when there is no minimum.
pub fn evaluate(
    set: &RuleSet,
    job: &Job,
    params: &BTreeMap<String, i64>,
) -> Result<Priced, String> {
    set.check()?;
    check_job(job)?;
    let minimum =
        resolve(&set.minimum, params, &MINIMUM_BOUNDS).map_err(|e| format!("minimum: {e}"))?;
    let mut lines: Vec<Line> = Vec::new();
    let mut trace = Vec::with_capacity(set.rules.len());
    let mut sum: i64 = 0;
    for rule in &set.rules {
        if set.mode == Mode::FirstMatch && !lines.is_empty() {
            trace.push(Trace {
                rule: rule.id.clone(),
                matched: false,
                why: "not evaluated: an earlier rule matched".into(),
            });
            continue;
        }
        let (matched, why) = conditions(&rule.when, job);
        trace.push(Trace {
            rule: rule.id.clone(),
            matched,
            why,
        });
        if !matched {
            continue;
        }
        let (amount, detail) =
            price(rule, job, sum, params).map_err(|e| format!("rule {:?}: {e}", rule.id))?;
        sum = sum
            .checked_add(amount)
            .ok_or_else(|| format!("rule {:?}: the total is too large to compute", rule.id))?;
        lines.push(Line {
            rule: rule.id.clone(),
            label: rule.label.clone(),
            amount,
            detail,
        });
    }
    if lines.is_empty() && minimum == 0 {
        return Err("no pricing rule applies to this delivery".into());
    }
    if sum < minimum {
        // Discounts can drive the sum far enough below 0 to overflow here.
        let add = minimum
            .checked_sub(sum)
            .ok_or_else(|| "the total is too large to compute".to_string())?;
        let detail = if lines.is_empty() {
            format!(
                "no rule applies; the minimum price is {}",
                fmt_minor(minimum)
            )
        } else if minimum == 0 {
            format!(
                "the lines add up to {}; a price cannot be negative: {} added",
                fmt_minor(sum),
                fmt_minor(add)
            )
        } else {
            format!(
                "the lines add up to {}, below the minimum price {}: {} added",
                fmt_minor(sum),
                fmt_minor(minimum),
                fmt_minor(add)
            )
        };
        lines.push(Line {
            rule: MINIMUM_RULE_ID.into(),
            label: MINIMUM_LABEL.into(),
            amount: add,
            detail,
        });
        sum = minimum;
    }
    Ok(Priced {
        total: sum,
        lines,
        trace,
    })
}

fn check_job(job: &Job) -> Result<(), String> {
    if job.minute_of_day >= 24 * 60 {
        return Err(format!(
            "job: minute-of-day {} is not a minute of the day (0 to 1439)",
            job.minute_of_day
        ));
    }
    if !(1..=7).contains(&job.weekday) {
        return Err(format!(
            "job: weekday {} is not 1 (Monday) to 7 (Sunday)",
            job.weekday
        ));
    }
    Ok(())
}

/// The number, with a parameter's value held to the same bounds as a
/// literal in the rule set.
fn resolve(n: &Num, params: &BTreeMap<String, i64>, bounds: &Bounds) -> Result<i64, String> {
    let value = n.resolve(params)?;
    match n.param() {
        Some(p) => bounds
            .check(value)
            .map_err(|e| format!("parameter \"{p}\": {e}"))
            .map(|()| value),
        None => Ok(value),
    }
}

/// Whether every condition holds, and the words for it: all conditions
/// when they hold, the first that fails when one does not.
fn conditions(w: &When, job: &Job) -> (bool, String) {
    let mut held = Vec::new();
    let mut test = |(ok, why): (bool, String)| {
        held.push(why);
        ok
    };
    let all = w
        .distance_m
        .is_none_or(|r| test(range("route", job.route_m, &r, km)))
        && w.weight_g
            .is_none_or(|r| test(range("weight", job.weight_g, &r, kg)))
        && w.packages
            .is_none_or(|r| test(range("packages", job.packages, &r, count)))
        && w.vehicle
            .as_ref()
            .is_none_or(|l| test(one_of("vehicle", &job.vehicle, l)))
        && w.slot
            .as_ref()
            .is_none_or(|l| test(one_of("slot", job_slot(job), l)))
        && w.zone.as_ref().is_none_or(|l| test(zone(job, l)))
        && w.time
            .as_ref()
            .is_none_or(|t| test(time(job.minute_of_day, &t.from, &t.to)))
        && w.weekdays
            .as_ref()
            .is_none_or(|d| test(weekday(job.weekday, d)));
    if all {
        if held.is_empty() {
            return (true, "applies to every delivery".into());
        }
        (true, held.join("; "))
    } else {
        // The failing condition was pushed last and stopped the chain.
        (false, held.pop().unwrap_or_default())
    }
}

fn km(m: u32) -> String {
    format!("{} km", fmt_thousandths(m.into()))
}

fn kg(g: u32) -> String {
    format!("{} kg", fmt_thousandths(g.into()))
}

fn count(n: u32) -> String {
    n.to_string()
}

fn range(what: &str, value: u32, r: &Range, unit: fn(u32) -> String) -> (bool, String) {
    let v = unit(value);
    if let Some(min) = r.min
        && value < min
    {
        return (false, format!("{what} {v} is below {}", unit(min)));
    }
    if let Some(max) = r.max
        && value >= max
    {
        return (false, format!("{what} {v} is not below {}", unit(max)));
    }
    let why = match (r.min, r.max) {
        (Some(min), Some(max)) => format!(
            "{what} {v} is at least {} and below {}",
            unit(min),
            unit(max)
        ),
        (Some(min), None) => format!("{what} {v} is at least {}", unit(min)),
        (None, Some(max)) => format!("{what} {v} is below {}", unit(max)),
        (None, None) => format!("{what} {v} is any"),
    };
    (true, why)
}

fn job_slot(job: &Job) -> &str {
    job.slot.as_deref().unwrap_or(ON_DEMAND)
}

fn one_of(what: &str, value: &str, list: &[String]) -> (bool, String) {
    if list.iter().any(|x| x == value) {
        (true, format!("{what} {value} is one of {}", fmt_list(list)))
    } else {
        (
            false,
            format!("{what} {value} is not one of {}", fmt_list(list)),
        )
    }
}

fn zone(job: &Job, list: &[String]) -> (bool, String) {
    if let Some(z) = job.dropoff_zones.iter().find(|z| list.contains(z)) {
        return (
            true,
            format!("drop-off zone {z} is one of {}", fmt_list(list)),
        );
    }
    let in_zones = if job.dropoff_zones.is_empty() {
        "it is in no zone".to_string()
    } else {
        format!("it is in {}", job.dropoff_zones.join(", "))
    };
    (
        false,
        format!("drop-off is in none of {} ({in_zones})", fmt_list(list)),
    )
}

fn time(minute: u16, from: &str, to: &str) -> (bool, String) {
    // The set was checked: both parse. Should one not, nothing matches.
    let (Some(f), Some(t)) = (parse_hhmm(from), parse_hhmm(to)) else {
        return (false, format!("time range {from}-{to} is not valid"));
    };
    let inside = if f < t {
        f <= minute && minute < t
    } else {
        minute >= f || minute < t
    };
    let word = if inside { "within" } else { "outside" };
    (
        inside,
        format!("time {} is {word} {from}-{to}", fmt_hhmm(minute)),
    )
}

fn weekday(day: u8, days: &[u8]) -> (bool, String) {
    let names: Vec<String> = days.iter().map(|d| weekday_name(*d)).collect();
    let inside = days.contains(&day);
    let word = if inside { "is one of" } else { "is not one of" };
    (
        inside,
        format!("day {} {word} {}", weekday_name(day), fmt_list(&names)),
    )
}

/// What `rule` adds to a price whose lines so far sum to `before`, and the
/// arithmetic in words.
fn price(
    rule: &Rule,
    job: &Job,
    before: i64,
    params: &BTreeMap<String, i64>,
) -> Result<(i64, String), String> {
    let field = format!("amount.{}", rule.amount.kind());
    let num = rule.amount.num();
    let n = resolve(num, params, Bounds::of(&rule.amount)).map_err(|e| format!("{field}: {e}"))?;
    let rate = match num.param() {
        Some(p) => format!("{} ({p})", fmt_minor(n)),
        None => fmt_minor(n),
    };
    let (amount, detail) = match &rule.amount {
        Amount::Fixed(_) => (i128::from(n), format!("fixed amount {rate}")),
        Amount::PerKm { from_km, .. } => per_thousandth(job.route_m, *from_km, n, &rate, "km"),
        Amount::PerKg { from_kg, .. } => per_thousandth(job.weight_g, *from_kg, n, &rate, "kg"),
        Amount::PerPackage { from, .. } => {
            let beyond = job.packages.saturating_sub(*from);
            let amount = i128::from(n) * i128::from(beyond);
            let s = |k: u32| if k == 1 { "package" } else { "packages" };
            let p = job.packages;
            let detail = if *from == 0 {
                format!("{p} {} × {rate} = {}", s(p), fmt_amount(amount))
            } else if beyond == 0 {
                format!("{p} {}, the first {from} included: 0.00", s(p))
            } else {
                format!(
                    "{beyond} {} beyond the first {from} × {rate} = {}",
                    s(beyond),
                    fmt_amount(amount)
                )
            };
            (amount, detail)
        }
        Amount::PercentBp(_) => {
            let (amount, exact) = div_round(i128::from(before) * i128::from(n), 10_000);
            let pct = match num.param() {
                Some(p) => format!("{} ({p})", fmt_percent(n)),
                None => fmt_percent(n),
            };
            let detail = format!(
                "{pct} of {} = {}{}",
                fmt_minor(before),
                fmt_amount(amount),
                rounded(exact)
            );
            (amount, detail)
        }
    };
    let amount = i64::try_from(amount)
        .map_err(|_| format!("{field}: the amount is too large to compute"))?;
    Ok((amount, detail))
}

/// A rate per unit on a measure in thousandths of it (metres, grams),
/// beyond the first `free` units.
fn per_thousandth(
    measure: u32,
    free: u32,
    rate: i64,
    rate_text: &str,
    unit: &str,
) -> (i128, String) {
    let beyond = u64::from(measure).saturating_sub(u64::from(free) * 1000);
    let (amount, exact) = div_round(i128::from(rate) * i128::from(beyond), 1000);
    let m = fmt_thousandths(measure.into());
    let detail = if free == 0 {
        format!(
            "{m} {unit} × {rate_text} = {}{}",
            fmt_amount(amount),
            rounded(exact)
        )
    } else if beyond == 0 {
        format!("{m} {unit} is within the first {free} {unit}: 0.00")
    } else {
        format!(
            "{} {unit} beyond the first {free} {unit} × {rate_text} = {}{}",
            fmt_thousandths(beyond),
            fmt_amount(amount),
            rounded(exact)
        )
    };
    (amount, detail)
}

fn fmt_amount(amount: i128) -> String {
    match i64::try_from(amount) {
        Ok(a) => fmt_minor(a),
        Err(_) => "(too large)".into(),
    }
}

fn rounded(exact: bool) -> &'static str {
    if exact { "" } else { " (rounded)" }
}

#[cfg(test)]
mod tests {
    use super::super::{default_params, default_rule_set_json, parse_rule_set};
    use super::*;

    fn job() -> Job {
        Job {
            route_m: 3200,
            weight_g: 2500,
            packages: 1,
            vehicle: "bike".into(),
            slot: None,
            dropoff_zones: vec![],
            minute_of_day: 10 * 60,
            weekday: 2,
        }
    }

    /// Price `job` with the rule set `json` and `params`; render the result
    /// as one line per price line (`rule amount | detail`), then `= total`,
    /// then one line per trace entry (`+ rule: why` / `- rule: why`).
    fn render(json: &str, job: &Job, params: &[(&str, i64)]) -> String {
        let set = parse_rule_set(json).unwrap_or_else(|e| panic!("bad test set: {e}"));
        let params = params.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        match evaluate(&set, job, &params) {
            Err(e) => format!("error: {e}"),
            Ok(p) => {
                let mut out = Vec::new();
                for l in &p.lines {
                    out.push(format!("{} {} | {}", l.rule, fmt_minor(l.amount), l.detail));
                }
                out.push(format!("= {}", fmt_minor(p.total)));
                for t in &p.trace {
                    out.push(format!(
                        "{} {}: {}",
                        if t.matched { "+" } else { "-" },
                        t.rule,
                        t.why
                    ));
                }
                out.join("\n")
            }
        }
    }

    fn check(json: &str, job: &Job, params: &[(&str, i64)], want: &str) {
        let got = render(json, job, params);
        assert_eq!(got, want.trim(), "\n--- got ---\n{got}\n");
    }

    /// Sum mode: base 3.50 + 3.2 km × 1.50 = 4.80 → 8.30; 10 % of 8.30 =
    /// 0.83 → 9.13; the weight rule (≥ 5 kg) does not apply.
    #[test]
    fn sum_mode_adds_every_matching_rule() {
        let json = r#"{"mode":"sum","rules":[
            {"id":"base","label":"Pickup and drop-off","amount":{"fixed":350}},
            {"id":"distance","label":"Distance","amount":{"per-km":150}},
            {"id":"heavy","label":"Heavy","when":{"weight-g":{"min":5000}},"amount":{"per-kg":20}},
            {"id":"cargo","label":"Cargo bike","when":{"vehicle":["cargo-bike"],"distance-m":{"min":3000}},"amount":{"percent-bp":1000}}
        ]}"#;
        let cargo = Job {
            vehicle: "cargo-bike".into(),
            ..job()
        };
        check(
            json,
            &cargo,
            &[],
            "
base 3.50 | fixed amount 3.50
distance 4.80 | 3.2 km × 1.50 = 4.80
cargo 0.83 | 10% of 8.30 = 0.83
= 9.13
+ base: applies to every delivery
+ distance: applies to every delivery
- heavy: weight 2.5 kg is below 5 kg
+ cargo: route 3.2 km is at least 3 km; vehicle cargo-bike is one of [cargo-bike]
",
        );
        // On a bike the cargo rule fails on its second condition.
        check(
            json,
            &job(),
            &[],
            "
base 3.50 | fixed amount 3.50
distance 4.80 | 3.2 km × 1.50 = 4.80
= 8.30
+ base: applies to every delivery
+ distance: applies to every delivery
- heavy: weight 2.5 kg is below 5 kg
- cargo: vehicle bike is not one of [cargo-bike]
",
        );
    }

    /// First match: a price list by distance. 3.2 km is not below 3 km, so
    /// the second band (3 to 6 km) gives 9.00, and the third is not looked at.
    #[test]
    fn first_match_takes_the_first_matching_rule_only() {
        let json = r#"{"mode":"first-match","rules":[
            {"id":"short","label":"Up to 3 km","when":{"distance-m":{"max":3000}},"amount":{"fixed":600}},
            {"id":"medium","label":"3 to 6 km","when":{"distance-m":{"min":3000,"max":6000}},"amount":{"fixed":900}},
            {"id":"any","label":"Any distance","amount":{"per-km":200}}
        ]}"#;
        check(
            json,
            &job(),
            &[],
            "
medium 9.00 | fixed amount 9.00
= 9.00
- short: route 3.2 km is not below 3 km
+ medium: route 3.2 km is at least 3 km and below 6 km
- any: not evaluated: an earlier rule matched
",
        );
        // 12.5 km × 2.00 = 25.00.
        check(
            json,
            &Job {
                route_m: 12_500,
                ..job()
            },
            &[],
            "
any 25.00 | 12.5 km × 2.00 = 25.00
= 25.00
- short: route 12.5 km is not below 3 km
- medium: route 12.5 km is not below 6 km
+ any: applies to every delivery
",
        );
    }

    /// Percentages round half away from zero. 10.05 × 5 % = 0.5025 → 0.50;
    /// 10.10 × 5 % = 0.505 → 0.51; 10.10 × -5 % = -0.505 → -0.51 (away
    /// from zero); 10.10 × -4.95 % = -0.49995 → -0.50.
    #[test]
    fn percent_rounds_half_away_from_zero() {
        let set = |base: i64, bp: i64| {
            format!(
                r#"{{"mode":"sum","rules":[
                {{"id":"base","label":"Base","amount":{{"fixed":{base}}}}},
                {{"id":"pct","label":"Pct","amount":{{"percent-bp":{bp}}}}}]}}"#
            )
        };
        let line = |base, bp| {
            render(&set(base, bp), &job(), &[])
                .lines()
                .nth(1)
                .unwrap()
                .to_string()
        };
        assert_eq!(line(1005, 500), "pct 0.50 | 5% of 10.05 = 0.50 (rounded)");
        assert_eq!(line(1010, 500), "pct 0.51 | 5% of 10.10 = 0.51 (rounded)");
        assert_eq!(
            line(1010, -500),
            "pct -0.51 | -5% of 10.10 = -0.51 (rounded)"
        );
        assert_eq!(
            line(1010, -495),
            "pct -0.50 | -4.95% of 10.10 = -0.50 (rounded)"
        );
        assert_eq!(line(1000, 1000), "pct 1.00 | 10% of 10.00 = 1.00");
        // A percentage of a negative sum: -10.05 × 5 % = -0.5025 → -0.50,
        // and the minimum line then lifts the total to 0.
        check(
            &set(-1005, 500),
            &job(),
            &[],
            "
base -10.05 | fixed amount -10.05
pct -0.50 | 5% of -10.05 = -0.50 (rounded)
minimum 10.55 | the lines add up to -10.55; a price cannot be negative: 10.55 added
= 0.00
+ base: applies to every delivery
+ pct: applies to every delivery
",
        );
    }

    /// Per km beyond a threshold: 7.25 km with the first 2 km free is
    /// 5.25 km × 0.90 = 4.725 → 4.73; 1.5 km is within the first 2 km → 0.
    /// Per kg beyond 5 kg: 7.5 kg → 2.5 kg × 0.20 = 0.50. Packages beyond
    /// the first: 3 → 2 × 1.00.
    #[test]
    fn per_unit_amounts_count_beyond_their_threshold() {
        let json = r#"{"mode":"sum","rules":[
            {"id":"km","label":"Distance","amount":{"per-km":90,"from-km":2}},
            {"id":"kg","label":"Weight","amount":{"per-kg":20,"from-kg":5}},
            {"id":"pkg","label":"Packages","amount":{"per-package":100,"from":1}}
        ]}"#;
        check(
            json,
            &Job {
                route_m: 7250,
                weight_g: 7500,
                packages: 3,
                ..job()
            },
            &[],
            "
km 4.73 | 5.25 km beyond the first 2 km × 0.90 = 4.73 (rounded)
kg 0.50 | 2.5 kg beyond the first 5 kg × 0.20 = 0.50
pkg 2.00 | 2 packages beyond the first 1 × 1.00 = 2.00
= 7.23
+ km: applies to every delivery
+ kg: applies to every delivery
+ pkg: applies to every delivery
",
        );
        // Below every threshold, each line is 0.00 and says so; 0 is a valid
        // price when there is no minimum.
        check(
            json,
            &Job {
                route_m: 1500,
                weight_g: 800,
                packages: 1,
                ..job()
            },
            &[],
            "
km 0.00 | 1.5 km is within the first 2 km: 0.00
kg 0.00 | 0.8 kg is within the first 5 kg: 0.00
pkg 0.00 | 1 package, the first 1 included: 0.00
= 0.00
+ km: applies to every delivery
+ kg: applies to every delivery
+ pkg: applies to every delivery
",
        );
        // Without thresholds: 0.001 km × 1.00 = 0.001 → 0.00 (rounded);
        // 0.005 km × 1.00 = 0.005 → 0.01 (half up); 1 package × 1.00.
        let plain = r#"{"mode":"sum","rules":[
            {"id":"km","label":"Distance","amount":{"per-km":100}},
            {"id":"pkg","label":"Packages","amount":{"per-package":100}}
        ]}"#;
        let first = |m| {
            render(
                plain,
                &Job {
                    route_m: m,
                    ..job()
                },
                &[],
            )
        };
        assert!(first(1).starts_with(
            "km 0.00 | 0.001 km × 1.00 = 0.00 (rounded)\npkg 1.00 | 1 package × 1.00 = 1.00\n"
        ));
        assert!(first(5).starts_with("km 0.01 | 0.005 km × 1.00 = 0.01 (rounded)\n"));
    }

    /// 22:00-06:00 wraps past midnight: 23:30 and 05:59 are inside, 06:00
    /// and 21:59 outside, 22:00 inside (from is included).
    #[test]
    fn time_ranges_wrap_past_midnight() {
        let json = r#"{"mode":"sum","minimum":100,"rules":[
            {"id":"night","label":"Night","when":{"time":{"from":"22:00","to":"06:00"}},"amount":{"fixed":500}}
        ]}"#;
        let at = |h: u16, m: u16| {
            let out = render(
                json,
                &Job {
                    minute_of_day: h * 60 + m,
                    ..job()
                },
                &[],
            );
            out.lines().last().unwrap().to_string()
        };
        assert_eq!(at(23, 30), "+ night: time 23:30 is within 22:00-06:00");
        assert_eq!(at(0, 0), "+ night: time 00:00 is within 22:00-06:00");
        assert_eq!(at(5, 59), "+ night: time 05:59 is within 22:00-06:00");
        assert_eq!(at(22, 0), "+ night: time 22:00 is within 22:00-06:00");
        assert_eq!(at(6, 0), "- night: time 06:00 is outside 22:00-06:00");
        assert_eq!(at(21, 59), "- night: time 21:59 is outside 22:00-06:00");
        // A plain range 19:00-23:00: 23:00 itself is outside (to excluded).
        let evening = json.replace("22:00", "19:00").replace("06:00", "23:00");
        let out = render(
            &evening,
            &Job {
                minute_of_day: 23 * 60,
                ..job()
            },
            &[],
        );
        assert!(
            out.ends_with("- night: time 23:00 is outside 19:00-23:00"),
            "{out}"
        );
    }

    /// 3.50 base + 0.7 km × 1.00 = 0.70 → 4.20, below the 5.00 minimum:
    /// a minimum line adds 0.80.
    #[test]
    fn the_minimum_adds_a_line() {
        let json = r#"{"mode":"sum","minimum":500,"rules":[
            {"id":"base","label":"Base","amount":{"fixed":350}},
            {"id":"km","label":"Distance","amount":{"per-km":100}},
            {"id":"far","label":"Far","when":{"distance-m":{"min":20000}},"amount":{"fixed":1}}
        ]}"#;
        check(
            json,
            &Job {
                route_m: 700,
                ..job()
            },
            &[],
            "
base 3.50 | fixed amount 3.50
km 0.70 | 0.7 km × 1.00 = 0.70
minimum 0.80 | the lines add up to 4.20, below the minimum price 5.00: 0.80 added
= 5.00
+ base: applies to every delivery
+ km: applies to every delivery
- far: route 0.7 km is below 20 km
",
        );
        // Exactly at the minimum: no line. 1.5 km → 3.50 + 1.50 = 5.00.
        let out = render(
            json,
            &Job {
                route_m: 1500,
                ..job()
            },
            &[],
        );
        assert!(!out.contains("minimum"), "{out}");
        assert!(out.contains("\n= 5.00\n"), "{out}");
        // No rule applies but there is a minimum: the minimum alone.
        let only_far = r#"{"mode":"sum","minimum":"$min","rules":[
            {"id":"far","label":"Far","when":{"distance-m":{"min":20000}},"amount":{"fixed":1}}
        ]}"#;
        check(
            only_far,
            &job(),
            &[("min", 450)],
            "
minimum 4.50 | no rule applies; the minimum price is 4.50
= 4.50
- far: route 3.2 km is below 20 km
",
        );
    }

    #[test]
    fn no_rule_and_no_minimum_is_an_error() {
        let json = r#"{"mode":"sum","rules":[
            {"id":"cargo","label":"Cargo","when":{"vehicle":["cargo-bike"]},"amount":{"fixed":900}}
        ]}"#;
        check(
            json,
            &job(),
            &[],
            "error: no pricing rule applies to this delivery",
        );
    }

    /// `$price-per-km` = 180: 3.2 km × 1.80 = 5.76, and the line names the
    /// parameter; a percentage parameter is named the same way.
    #[test]
    fn params_are_resolved_and_named() {
        let json = r#"{"mode":"sum","rules":[
            {"id":"distance","label":"Distance","amount":{"per-km":"$price-per-km"}},
            {"id":"night","label":"Night","amount":{"percent-bp":"$night-bp"}}
        ]}"#;
        check(
            json,
            &job(),
            &[("price-per-km", 180), ("night-bp", 2500)],
            "
distance 5.76 | 3.2 km × 1.80 (price-per-km) = 5.76
night 1.44 | 25% (night-bp) of 5.76 = 1.44
= 7.20
+ distance: applies to every delivery
+ night: applies to every delivery
",
        );
        check(
            json,
            &job(),
            &[("night-bp", 0)],
            "error: rule \"distance\": amount.per-km: parameter \"price-per-km\" is not set; set it or write a number instead of \"$price-per-km\"",
        );
        check(
            json,
            &job(),
            &[("price-per-km", 180), ("night-bp", 20_000)],
            "error: rule \"night\": amount.percent-bp: parameter \"night-bp\": 20000 is out of range: percent-bp is from -10000 (-100 %) to 10000 (+100 %)",
        );
        let min = r#"{"mode":"sum","minimum":"$min","rules":[{"id":"a","label":"A","amount":{"fixed":1}}]}"#;
        check(
            min,
            &job(),
            &[("min", -1)],
            "error: minimum: parameter \"min\": -1 is out of range: a minimum is from 0 to 10000000 minor units",
        );
        check(
            min,
            &job(),
            &[],
            "error: minimum: parameter \"min\" is not set; set it or write a number instead of \"$min\"",
        );
    }

    #[test]
    fn slots_zones_packages_and_weekdays_explain_themselves() {
        let json = r#"{"mode":"sum","minimum":1,"rules":[
            {"id":"od","label":"On demand","when":{"slot":["on-demand"]},"amount":{"fixed":200}},
            {"id":"zone","label":"Zone","when":{"zone":["presquile","vieux-lyon"]},"amount":{"fixed":-50}},
            {"id":"multi","label":"Many","when":{"packages":{"min":2,"max":10}},"amount":{"fixed":100}},
            {"id":"weekend","label":"Weekend","when":{"weekdays":[6,7]},"amount":{"fixed":100}}
        ]}"#;
        let sunday = Job {
            slot: Some("on-demand".into()),
            dropoff_zones: vec!["lyon".into(), "vieux-lyon".into()],
            packages: 3,
            weekday: 7,
            ..job()
        };
        let trace = |j: &Job| {
            render(json, j, &[])
                .lines()
                .filter(|l| l.starts_with(['+', '-']))
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(
            trace(&sunday),
            "\
+ od: slot on-demand is one of [on-demand]
+ zone: drop-off zone vieux-lyon is one of [presquile, vieux-lyon]
+ multi: packages 3 is at least 2 and below 10
+ weekend: day Sunday is one of [Saturday, Sunday]"
        );
        let monday = Job {
            slot: Some("morning".into()),
            dropoff_zones: vec!["lyon".into()],
            packages: 10,
            weekday: 1,
            ..job()
        };
        assert_eq!(
            trace(&monday),
            "\
- od: slot morning is not one of [on-demand]
- zone: drop-off is in none of [presquile, vieux-lyon] (it is in lyon)
- multi: packages 10 is not below 10
- weekend: day Monday is not one of [Saturday, Sunday]"
        );
        let nowhere = Job {
            dropoff_zones: vec![],
            ..job()
        };
        assert!(
            trace(&nowhere).contains(
                "- zone: drop-off is in none of [presquile, vieux-lyon] (it is in no zone)"
            )
        );
    }

    #[test]
    fn bad_jobs_and_overflows_are_errors() {
        let json = default_rule_set_json();
        let params: Vec<(&str, i64)> = vec![("price-per-km", 150)];
        check(
            json,
            &Job {
                minute_of_day: 1440,
                ..job()
            },
            &params,
            "error: job: minute-of-day 1440 is not a minute of the day (0 to 1439)",
        );
        check(
            json,
            &Job {
                weekday: 0,
                ..job()
            },
            &params,
            "error: job: weekday 0 is not 1 (Monday) to 7 (Sunday)",
        );
        // 100 rules of +100 % double 100 000.00 a hundred times.
        let rules: Vec<String> = (0..99)
            .map(|i| format!(r#"{{"id":"p{i}","label":"P","amount":{{"percent-bp":10000}}}}"#))
            .collect();
        let huge = format!(
            r#"{{"mode":"sum","rules":[{{"id":"base","label":"B","amount":{{"fixed":10000000}}}},{}]}}"#,
            rules.join(",")
        );
        let got = render(&huge, &job(), &[]);
        assert!(
            got.starts_with("error: rule \"p")
                && got.ends_with("the total is too large to compute"),
            "{got}"
        );
    }

    /// The default set, Sunday 20:00, cargo bike, 4.1 km, 7.2 kg, 2
    /// packages, dropped in the Presqu'île, with 1.50 per km:
    /// 3.50 + 6.15 (4.1 × 1.50) + 3.00 + 0.44 (2.2 kg × 0.20) + 1.00
    /// = 14.09; evening 10 % → 1.409 → 1.41, 15.50; Sunday 15 % → 2.325 →
    /// 2.33, 17.83; Presqu'île -0.50 → 17.33.
    #[test]
    fn the_default_prices_a_sunday_evening_cargo_run() {
        let j = Job {
            route_m: 4100,
            weight_g: 7200,
            packages: 2,
            vehicle: "cargo-bike".into(),
            slot: None,
            dropoff_zones: vec!["presquile".into()],
            minute_of_day: 20 * 60,
            weekday: 7,
        };
        let params: Vec<(String, i64)> = default_params().into_iter().collect();
        let params: Vec<(&str, i64)> = params.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        check(
            default_rule_set_json(),
            &j,
            &params,
            "
base 3.50 | fixed amount 3.50
distance 6.15 | 4.1 km × 1.50 (price-per-km) = 6.15
cargo-bike 3.00 | fixed amount 3.00
heavy 0.44 | 2.2 kg beyond the first 5 kg × 0.20 = 0.44
extra-packages 1.00 | 1 package beyond the first 1 × 1.00 = 1.00
evening 1.41 | 10% of 14.09 = 1.41 (rounded)
sunday 2.33 | 15% of 15.50 = 2.33 (rounded)
presquile -0.50 | fixed amount -0.50
= 17.33
+ base: applies to every delivery
+ distance: applies to every delivery
+ cargo-bike: vehicle cargo-bike is one of [cargo-bike]
+ heavy: weight 7.2 kg is at least 5.001 kg
+ extra-packages: packages 2 is at least 2
+ evening: time 20:00 is within 19:00-23:00
+ sunday: day Sunday is one of [Sunday]
+ presquile: drop-off zone presquile is one of [presquile]
",
        );
        // A short weekday bike run: 3.50 + 0.90 (0.6 km) = 4.40 → minimum 5.00.
        let short = Job {
            route_m: 600,
            ..job()
        };
        let out = render(default_rule_set_json(), &short, &params);
        assert!(out.contains("minimum 0.60 | the lines add up to 4.40, below the minimum price 5.00: 0.60 added\n= 5.00"), "{out}");
    }

    #[test]
    fn priced_serializes_in_kebab_case() {
        let set = parse_rule_set(default_rule_set_json()).unwrap();
        let p = evaluate(&set, &job(), &default_params()).unwrap();
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["total"], 830);
        assert_eq!(
            v["lines"][1]["detail"],
            "3.2 km × 1.50 (price-per-km) = 4.80"
        );
        assert_eq!(v["trace"][2]["matched"], false);
        let j: Job = serde_json::from_str(
            r#"{"route-m":1,"weight-g":2,"packages":1,"vehicle":"bike","dropoff-zones":[],"minute-of-day":0,"weekday":1}"#,
        )
        .unwrap();
        assert_eq!(j.slot, None);
    }
}
