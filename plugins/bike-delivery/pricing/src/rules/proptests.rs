//! Properties of every price of every valid rule set: the total is the sum
//! of the lines, never negative, never below the minimum; the trace covers
//! every rule; first-match gives at most one rule line.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::{
    Amount, Job, MINIMUM_RULE_ID, Mode, Num, Range, Rule, RuleSet, TimeRange, When, evaluate,
    parse_rule_set,
};

const VEHICLES: [&str; 3] = ["bike", "cargo-bike", "trike"];
const SLOTS: [&str; 3] = ["on-demand", "morning", "evening"];
const ZONES: [&str; 3] = ["presquile", "croix-rousse", "gerland"];
/// `p-missing` is never given, so some sets fail on it, as they should.
const PARAMS: [&str; 4] = ["p-small", "p-rate", "p-min", "p-missing"];

fn names(pool: &'static [&'static str]) -> impl Strategy<Value = Vec<String>> {
    proptest::sample::subsequence(pool, 1..=pool.len())
        .prop_map(|v| v.into_iter().map(String::from).collect())
}

fn range(top: u32) -> impl Strategy<Value = Range> {
    (0..top, 1..top, 0..3u8).prop_map(|(min, len, shape)| match shape {
        0 => Range {
            min: Some(min),
            max: None,
        },
        1 => Range {
            min: None,
            max: Some(len),
        },
        _ => Range {
            min: Some(min),
            max: Some(min + len),
        },
    })
}

fn time_range() -> impl Strategy<Value = TimeRange> {
    (0..1440u16, 1..1440u16).prop_map(|(from, len)| {
        let to = (from + len) % 1440;
        let hhmm = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
        TimeRange {
            from: hhmm(from),
            to: hhmm(to),
        }
    })
}

fn when() -> impl Strategy<Value = When> {
    (
        proptest::option::weighted(0.3, range(20_000)),
        proptest::option::weighted(0.3, range(20_000)),
        proptest::option::weighted(0.3, range(8)),
        proptest::option::weighted(0.3, names(&VEHICLES)),
        proptest::option::weighted(0.3, names(&SLOTS)),
        proptest::option::weighted(0.3, names(&ZONES)),
        proptest::option::weighted(0.3, time_range()),
        proptest::option::weighted(
            0.3,
            proptest::sample::subsequence(vec![1u8, 2, 3, 4, 5, 6, 7], 1..=7),
        ),
    )
        .prop_map(
            |(distance_m, weight_g, packages, vehicle, slot, zone, time, weekdays)| When {
                distance_m,
                weight_g,
                packages,
                vehicle,
                slot,
                zone,
                time,
                weekdays,
            },
        )
}

fn num(limit: i64) -> impl Strategy<Value = Num> {
    prop_oneof![
        4 => (-limit..=limit).prop_map(Num::Lit),
        1 => proptest::sample::select(&PARAMS[..]).prop_map(|p| Num::Param(p.to_string())),
    ]
}

fn amount(mode: Mode) -> impl Strategy<Value = Amount> {
    let percent_weight = if mode == Mode::Sum { 2 } else { 0 };
    prop_oneof![
        3 => num(2_000).prop_map(Amount::Fixed),
        2 => (num(500), 0..10u32).prop_map(|(rate, from_km)| Amount::PerKm { rate, from_km }),
        1 => (num(100), 0..10u32).prop_map(|(rate, from_kg)| Amount::PerKg { rate, from_kg }),
        1 => (num(300), 0..3u32).prop_map(|(rate, from)| Amount::PerPackage { rate, from }),
        percent_weight => num(10_000).prop_map(Amount::PercentBp),
    ]
}

fn rule_set() -> impl Strategy<Value = RuleSet> {
    prop_oneof![Just(Mode::Sum), Just(Mode::FirstMatch)].prop_flat_map(|mode| {
        let rule = (when(), amount(mode));
        let minimum = prop_oneof![
            2 => Just(Num::Lit(0)),
            2 => (0..2_000i64).prop_map(Num::Lit),
            1 => Just(Num::Param("p-min".into())),
        ];
        (proptest::collection::vec(rule, 1..8), minimum).prop_map(move |(rules, minimum)| RuleSet {
            mode,
            rules: rules
                .into_iter()
                .enumerate()
                .map(|(i, (when, amount))| Rule {
                    id: format!("r{i}"),
                    label: format!("Rule {i}"),
                    when,
                    amount,
                })
                .collect(),
            minimum,
        })
    })
}

fn job() -> impl Strategy<Value = Job> {
    (
        0..25_000u32,
        0..25_000u32,
        0..8u32,
        proptest::sample::select(&VEHICLES[..]),
        proptest::option::of(proptest::sample::select(&SLOTS[..])),
        proptest::sample::subsequence(&ZONES[..], 0..=2),
        0..1440u16,
        1..=7u8,
    )
        .prop_map(
            |(route_m, weight_g, packages, vehicle, slot, zones, minute_of_day, weekday)| Job {
                route_m,
                weight_g,
                packages,
                vehicle: vehicle.into(),
                slot: slot.map(String::from),
                dropoff_zones: zones.into_iter().map(String::from).collect(),
                minute_of_day,
                weekday,
            },
        )
}

fn params() -> impl Strategy<Value = BTreeMap<String, i64>> {
    (-5_000..5_000i64, 0..20_000i64, -100..3_000i64).prop_map(|(small, rate, min)| {
        BTreeMap::from([
            ("p-small".to_string(), small),
            ("p-rate".to_string(), rate),
            ("p-min".to_string(), min),
        ])
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn prices_add_up_and_respect_the_minimum(set in rule_set(), job in job(), params in params()) {
        prop_assert_eq!(set.check(), Ok(()));
        // What the coop votes on is what is evaluated.
        let json = serde_json::to_string(&set).unwrap();
        prop_assert_eq!(&parse_rule_set(&json).unwrap(), &set);

        let Ok(priced) = evaluate(&set, &job, &params) else { return Ok(()) };
        let sum: i64 = priced.lines.iter().map(|l| l.amount).sum();
        prop_assert_eq!(priced.total, sum);
        prop_assert!(priced.total >= 0);
        let minimum = match &set.minimum {
            Num::Lit(n) => *n,
            Num::Param(p) => params[p],
        };
        prop_assert!(priced.total >= minimum);
        prop_assert_eq!(priced.trace.len(), set.rules.len());
        for (t, r) in priced.trace.iter().zip(&set.rules) {
            prop_assert_eq!(&t.rule, &r.id);
            prop_assert!(!t.why.is_empty());
        }
        // The rule lines are exactly the matched rules, in order; the
        // minimum line, if any, comes last.
        let rule_lines: Vec<&str> = priced.lines.iter().map(|l| l.rule.as_str()).filter(|r| *r != MINIMUM_RULE_ID).collect();
        let matched: Vec<&str> = priced.trace.iter().filter(|t| t.matched).map(|t| t.rule.as_str()).collect();
        prop_assert_eq!(&rule_lines, &matched);
        if let Some(i) = priced.lines.iter().position(|l| l.rule == MINIMUM_RULE_ID) {
            prop_assert_eq!(i, priced.lines.len() - 1);
            prop_assert!(priced.lines[i].amount > 0);
        }
        if set.mode == Mode::FirstMatch {
            prop_assert!(rule_lines.len() <= 1);
        }
    }
}
