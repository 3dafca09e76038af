//! What a rule adds to the price, and the numbers in it: a literal or a
//! `"$parameter"` the coop votes on separately.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An integer in a rule set: written literally, or `"$name"`, resolved from
/// the parameters given to [`evaluate`](super::evaluate).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Num {
    /// The number itself (minor units, or basis points for `percent-bp`).
    Lit(i64),
    /// The parameter's name, without the `$`.
    Param(String),
}

impl Default for Num {
    fn default() -> Self {
        Num::Lit(0)
    }
}

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Num::Lit(n) => write!(f, "{n}"),
            Num::Param(p) => write!(f, "\"${p}\""),
        }
    }
}

impl Num {
    /// The value, looking parameters up in `params`; the error says which
    /// parameter is missing (the caller adds the rule).
    pub fn resolve(&self, params: &BTreeMap<String, i64>) -> Result<i64, String> {
        match self {
            Num::Lit(n) => Ok(*n),
            Num::Param(p) => params.get(p).copied().ok_or_else(|| {
                format!(
                    "parameter \"{p}\" is not set; set it or write a number instead of \"${p}\""
                )
            }),
        }
    }

    /// The parameter's name, for explanations.
    pub fn param(&self) -> Option<&str> {
        match self {
            Num::Lit(_) => None,
            Num::Param(p) => Some(p),
        }
    }
}

/// A parameter name: 1 to 64 of a-z, 0-9, '-', '_' and '.' (configuration
/// keys such as `price-per-km`).
pub fn is_param_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
}

impl Serialize for Num {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Num::Lit(n) => s.serialize_i64(*n),
            Num::Param(p) => s.serialize_str(&format!("${p}")),
        }
    }
}

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NumVisitor)
    }
}

const NUM_EXPECTED: &str = "an integer or a \"$parameter\" reference";

struct NumVisitor;

impl Visitor<'_> for NumVisitor {
    type Value = Num;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(NUM_EXPECTED)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Num, E> {
        Ok(Num::Lit(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Num, E> {
        i64::try_from(v)
            .map(Num::Lit)
            .map_err(|_| E::custom(format!("{v} is far too large")))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Num, E> {
        Err(E::custom(format!(
            "{v} is not a whole number; amounts are integers in minor units (cents), basis points or parameters"
        )))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Num, E> {
        match v.strip_prefix('$') {
            Some(name) if is_param_name(name) => Ok(Num::Param(name.to_string())),
            Some(_) => Err(E::custom(format!(
                "{v:?} is not a valid parameter reference: after '$' use 1 to 64 of a-z, 0-9, '-', '_' and '.'"
            ))),
            None if v.trim().parse::<i64>().is_ok() => Err(E::custom(format!(
                "{v:?} is a string: write the number without quotes"
            ))),
            None => Err(E::custom(format!(
                "{v:?} is not {NUM_EXPECTED}; write \"$name\" to use a parameter"
            ))),
        }
    }
}

/// What a matching rule adds, in minor units. JSON: an object with exactly
/// one of the keys `fixed`, `per-km`, `per-kg`, `per-package`, `percent-bp`
/// (the kind), plus for the `per-*` kinds an optional threshold key
/// (`from-km`, `from-kg`, `from`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Amount {
    /// `{"fixed": N}`: N, negative for a discount.
    Fixed(Num),
    /// `{"per-km": N, "from-km": K}`: N per km of route beyond the first K km.
    PerKm {
        /// Price per km.
        rate: Num,
        /// Free kilometres, 0 when left out.
        from_km: u32,
    },
    /// `{"per-kg": N, "from-kg": K}`: N per kg beyond the first K kg.
    PerKg {
        /// Price per kg.
        rate: Num,
        /// Free kilograms, 0 when left out.
        from_kg: u32,
    },
    /// `{"per-package": N, "from": K}`: N per package beyond the first K.
    PerPackage {
        /// Price per package.
        rate: Num,
        /// Free packages, 0 when left out.
        from: u32,
    },
    /// `{"percent-bp": N}`: N basis points (1/100 of a percent) of the sum
    /// of the lines before this one.
    PercentBp(Num),
}

impl Amount {
    /// The JSON name of the kind, for messages (`amount.per-km`).
    pub fn kind(&self) -> &'static str {
        match self {
            Amount::Fixed(_) => "fixed",
            Amount::PerKm { .. } => "per-km",
            Amount::PerKg { .. } => "per-kg",
            Amount::PerPackage { .. } => "per-package",
            Amount::PercentBp(_) => "percent-bp",
        }
    }

    /// The one number of the amount.
    pub fn num(&self) -> &Num {
        match self {
            Amount::Fixed(n) | Amount::PercentBp(n) => n,
            Amount::PerKm { rate, .. }
            | Amount::PerKg { rate, .. }
            | Amount::PerPackage { rate, .. } => rate,
        }
    }
}

const KINDS: [&str; 5] = ["fixed", "per-km", "per-kg", "per-package", "percent-bp"];

/// The threshold key each kind accepts.
fn threshold_key(kind: &str) -> Option<&'static str> {
    match kind {
        "per-km" => Some("from-km"),
        "per-kg" => Some("from-kg"),
        "per-package" => Some("from"),
        _ => None,
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let threshold = match self {
            Amount::PerKm { from_km: k, .. }
            | Amount::PerKg { from_kg: k, .. }
            | Amount::PerPackage { from: k, .. } => Some(*k).filter(|k| *k != 0),
            _ => None,
        };
        let mut m = s.serialize_map(Some(1 + usize::from(threshold.is_some())))?;
        m.serialize_entry(self.kind(), self.num())?;
        if let (Some(k), Some(key)) = (threshold, threshold_key(self.kind())) {
            m.serialize_entry(key, &k)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = serde_json::Map::<String, Value>::deserialize(d)?;
        amount_from_map(map).map_err(de::Error::custom)
    }
}

fn amount_from_map(mut map: serde_json::Map<String, Value>) -> Result<Amount, String> {
    let kinds: Vec<&str> = KINDS
        .iter()
        .copied()
        .filter(|k| map.contains_key(*k))
        .collect();
    let kind = match kinds.as_slice() {
        [k] => *k,
        [] => {
            return Err(format!(
                "give exactly one of {}, e.g. {{\"fixed\": 350}}",
                KINDS.join(", ")
            ));
        }
        _ => {
            return Err(format!(
                "give exactly one of {}, not {}: use one rule for each",
                KINDS.join(", "),
                kinds.join(" and ")
            ));
        }
    };
    let threshold = threshold_key(kind);
    if let Some(extra) = map
        .keys()
        .find(|k| *k != kind && Some(k.as_str()) != threshold)
    {
        return Err(match threshold {
            Some(t) => format!("unknown key {extra:?}: a {kind} amount has only {kind} and {t}"),
            None => format!("unknown key {extra:?}: a {kind} amount has only {kind}"),
        });
    }
    let num = map.remove(kind).unwrap_or(Value::Null);
    let rate: Num = serde_json::from_value(num).map_err(|e| format!("{kind}: {e}"))?;
    let from = match threshold.and_then(|t| map.remove(t).map(|v| (t, v))) {
        None => 0,
        Some((t, v)) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| format!("{t}: {v} is not a whole number from 0 to {}", u32::MAX))?,
    };
    Ok(match kind {
        "fixed" => Amount::Fixed(rate),
        "per-km" => Amount::PerKm {
            rate,
            from_km: from,
        },
        "per-kg" => Amount::PerKg {
            rate,
            from_kg: from,
        },
        "per-package" => Amount::PerPackage { rate, from },
        _ => Amount::PercentBp(rate),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Amount, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn every_kind_parses_and_round_trips() {
        let cases = [
            (r#"{"fixed":-50}"#, Amount::Fixed(Num::Lit(-50))),
            (
                r#"{"per-km":"$price-per-km"}"#,
                Amount::PerKm {
                    rate: Num::Param("price-per-km".into()),
                    from_km: 0,
                },
            ),
            (
                r#"{"per-km":150,"from-km":2}"#,
                Amount::PerKm {
                    rate: Num::Lit(150),
                    from_km: 2,
                },
            ),
            (
                r#"{"per-kg":20,"from-kg":5}"#,
                Amount::PerKg {
                    rate: Num::Lit(20),
                    from_kg: 5,
                },
            ),
            (
                r#"{"per-package":100,"from":1}"#,
                Amount::PerPackage {
                    rate: Num::Lit(100),
                    from: 1,
                },
            ),
            (r#"{"percent-bp":1000}"#, Amount::PercentBp(Num::Lit(1000))),
        ];
        for (json, want) in cases {
            let got = parse(json).unwrap();
            assert_eq!(got, want, "{json}");
            assert_eq!(serde_json::to_string(&got).unwrap(), json);
        }
    }

    #[test]
    fn bad_amounts_say_what_to_write() {
        let cases = [
            (
                r#"{}"#,
                "give exactly one of fixed, per-km, per-kg, per-package, percent-bp, e.g. {\"fixed\": 350}",
            ),
            (
                r#"{"fixed":1,"per-km":2}"#,
                "give exactly one of fixed, per-km, per-kg, per-package, percent-bp, not fixed and per-km: use one rule for each",
            ),
            (
                r#"{"fixed":1,"from":2}"#,
                "unknown key \"from\": a fixed amount has only fixed",
            ),
            (
                r#"{"per-km":1,"from":2}"#,
                "unknown key \"from\": a per-km amount has only per-km and from-km",
            ),
            (
                r#"{"per-km":1,"from-km":-2}"#,
                "from-km: -2 is not a whole number from 0 to 4294967295",
            ),
            (
                r#"{"per-km":1.5}"#,
                "per-km: 1.5 is not a whole number; amounts are integers in minor units (cents), basis points or parameters",
            ),
            (
                r#"{"fixed":"150"}"#,
                "fixed: \"150\" is a string: write the number without quotes",
            ),
            (
                r#"{"fixed":"cheap"}"#,
                "fixed: \"cheap\" is not an integer or a \"$parameter\" reference; write \"$name\" to use a parameter",
            ),
            (
                r#"{"fixed":"$Price"}"#,
                "fixed: \"$Price\" is not a valid parameter reference: after '$' use 1 to 64 of a-z, 0-9, '-', '_' and '.'",
            ),
            (
                r#"{"fixed":null}"#,
                "fixed: invalid type: null, expected an integer or a \"$parameter\" reference",
            ),
            (
                r#"[1]"#,
                "invalid type: sequence, expected a map at line 1 column 0",
            ),
        ];
        for (json, want) in cases {
            let got = parse(json).unwrap_err();
            assert!(got.starts_with(want), "{json}: got {got}");
        }
    }

    #[test]
    fn params_resolve_or_name_the_missing_one() {
        let params = BTreeMap::from([("price-per-km".to_string(), 150)]);
        assert_eq!(Num::Param("price-per-km".into()).resolve(&params), Ok(150));
        assert_eq!(Num::Lit(-3).resolve(&params), Ok(-3));
        assert_eq!(
            Num::Param("night".into()).resolve(&params),
            Err(
                "parameter \"night\" is not set; set it or write a number instead of \"$night\""
                    .into()
            )
        );
    }
}
