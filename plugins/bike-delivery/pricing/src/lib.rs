//! Delivery pricing for a bike courier cooperative, with the rules as data.
//!
//! The coop votes on a **rule set**, a JSON document; the plugin measures a
//! delivery (a [`rules::Job`]) and [`rules::evaluate`] turns both into a
//! price whose every line says what it is and how it was computed, plus a
//! trace saying, for every rule, whether it applied and why. Courier and
//! merchant can check any quote with a pencil.
//!
//! Pure Rust: no I/O, no clock, no threads. Money is `i64` minor units
//! (cents); the currency is the caller's concern. The only floats are
//! coordinates in [`geo`], which hands out whole metres.
//!
//! # The rule set
//!
//! ```json
//! {
//!   "mode": "sum",
//!   "minimum": 500,
//!   "rules": [
//!     { "id": "base", "label": "Pickup and drop-off", "amount": { "fixed": 350 } },
//!     { "id": "distance", "label": "Distance", "amount": { "per-km": "$price-per-km" } },
//!     { "id": "cargo-bike", "label": "Cargo bike",
//!       "when": { "vehicle": ["cargo-bike"] }, "amount": { "fixed": 300 } },
//!     { "id": "heavy", "label": "Weight over 5 kg",
//!       "when": { "weight-g": { "min": 5001 } }, "amount": { "per-kg": 20, "from-kg": 5 } },
//!     { "id": "night", "label": "Night",
//!       "when": { "time": { "from": "22:00", "to": "06:00" } }, "amount": { "percent-bp": 1500 } },
//!     { "id": "presquile", "label": "Presqu'île drop-off",
//!       "when": { "zone": ["presquile"] }, "amount": { "fixed": -50 } }
//!   ]
//! }
//! ```
//!
//! Field names are kebab-case; unknown fields are rejected (a typo must not
//! silently drop a condition).
//!
//! | field | meaning |
//! |---|---|
//! | `mode` | `"sum"`: every matching rule adds a line. `"first-match"`: the first matching rule gives the only line (a price list by cases). |
//! | `rules` | up to 100 rules, in order. Order decides first-match, and what a `percent-bp` rule is a percentage of. |
//! | `minimum` | lowest total in minor units, 0 to 10 000 000, or a `"$parameter"`; default 0. |
//!
//! A **rule** has an `id` (1 to 64 of `a-z`, `0-9`, `-`, unique; `minimum`
//! is reserved), a `label` shown on quotes (1 to 120 characters, one line),
//! optional conditions `when`, and an `amount`.
//!
//! **Conditions** (`when`): every condition present must hold; a rule
//! without conditions applies to every delivery.
//!
//! | condition | holds when |
//! |---|---|
//! | `"distance-m": {"min": A, "max": B}` | route distance in metres is at least A and below B |
//! | `"weight-g": {"min": A, "max": B}` | total weight in grams, likewise |
//! | `"packages": {"min": A, "max": B}` | number of packages, likewise |
//! | `"vehicle": ["bike", "cargo-bike"]` | the vehicle is one of these |
//! | `"slot": ["on-demand", "morning"]` | the time slot is one of these; `on-demand` is a delivery without a slot |
//! | `"zone": ["presquile"]` | the drop-off lies in one of these zones ([`geo::Zone`]) |
//! | `"time": {"from": "19:00", "to": "23:00"}` | local pickup time is from `from` (included) to `to` (excluded); `from` after `to` wraps past midnight |
//! | `"weekdays": [6, 7]` | pickup day, ISO: 1 = Monday to 7 = Sunday |
//!
//! A range needs `min`, `max` or both, with `min` below `max`; lists are not
//! empty (leave a condition out to match anything).
//!
//! **Amounts**: an object with exactly one of these keys. N is an integer
//! or a `"$name"` reference to a parameter given at evaluation (so a coop
//! can vote on `price-per-km` alone and keep the rule set); K is a whole
//! number, 0 when left out.
//!
//! | amount | adds |
//! |---|---|
//! | `{"fixed": N}` | N minor units; negative for a discount |
//! | `{"per-km": N, "from-km": K}` | N per km of route beyond the first K km: N × (metres − 1000 K) / 1000 |
//! | `{"per-kg": N, "from-kg": K}` | N per kg beyond the first K kg, on grams likewise |
//! | `{"per-package": N, "from": K}` | N per package beyond the first K |
//! | `{"percent-bp": N}` | N basis points (1/100 %) of the sum of the lines before this one; sum mode only |
//!
//! Money N is within ±10 000 000 minor units, percentages within ±10 000
//! basis points (±100 %); a parameter's value is held to the same bounds
//! when evaluated. Every division rounds to the nearest minor unit, halves
//! away from zero: a 0.505 surcharge is 0.51 and a 0.505 discount is -0.51.
//!
//! # The price
//!
//! [`rules::Priced`] has the `total`, the `lines` (`rule`, `label`,
//! `amount`, `detail` such as `3.2 km × 1.50 (price-per-km) = 4.80`) and a
//! `trace` entry per rule (`rule`, `matched`, `why` such as
//! `vehicle cargo-bike is one of [cargo-bike]; route 3.2 km is at least
//! 3 km`, or the first failing condition such as `weight 2.5 kg is below
//! 5 kg`). If the lines add up to less than the minimum (or less than 0), a
//! last line with rule id `minimum`, labelled `Minimum price`, makes up the
//! difference. If no rule applies and there is no minimum, pricing fails
//! with `no pricing rule applies to this delivery`.
//!
//! ```
//! use std::collections::BTreeMap;
//! use bike_delivery_pricing::rules::{self, Job};
//!
//! let set = rules::parse_rule_set(rules::default_rule_set_json()).unwrap();
//! let job = Job {
//!     route_m: 3200,
//!     weight_g: 2500,
//!     packages: 1,
//!     vehicle: "cargo-bike".into(),
//!     slot: None,
//!     dropoff_zones: vec![],
//!     minute_of_day: 10 * 60,
//!     weekday: 2,
//! };
//! let params = BTreeMap::from([("price-per-km".to_string(), 150)]);
//! let priced = rules::evaluate(&set, &job, &params).unwrap();
//! // 3.50 + 3.2 km × 1.50 + 3.00 cargo bike
//! assert_eq!(priced.total, 350 + 480 + 300);
//! assert_eq!(priced.lines[1].detail, "3.2 km × 1.50 (price-per-km) = 4.80");
//! assert_eq!(priced.trace[3].why, "weight 2.5 kg is below 5.001 kg");
//! ```

pub mod geo;
pub mod rules;
