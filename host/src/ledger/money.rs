//! Integer money: a [`Currency`], an amount in minor units, and exact
//! proportional splitting. There are no floats anywhere in the ledger.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::error::LedgerError;

/// An ISO 4217 currency code: three upper-case ASCII letters, checked once
/// in [`Currency::parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

impl Currency {
    /// The euro, the only currency SEPA transfers carry.
    pub const EUR: Currency = Currency(*b"EUR");

    /// Parse a code such as `EUR`. Lower case is refused rather than fixed,
    /// so a typo is caught where it is made.
    pub fn parse(code: &str) -> Result<Currency, LedgerError> {
        let bytes = code.as_bytes();
        match bytes {
            [a, b, c] if bytes.iter().all(u8::is_ascii_uppercase) => Ok(Currency([*a, *b, *c])),
            _ => Err(LedgerError::InvalidCurrency(code.to_string())),
        }
    }

    /// The code as text, e.g. `"EUR"`.
    pub fn as_str(&self) -> &str {
        // Only ASCII upper-case letters get in through `parse` or the constants.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }

    /// How many decimal digits a minor unit has (2 for EUR, 0 for JPY, 3 for
    /// KWD). Used only to display amounts; arithmetic stays in minor units.
    pub fn minor_digits(&self) -> u32 {
        match self.as_str() {
            "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF"
            | "UGX" | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
            "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
            _ => 2,
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Currency {
    type Err = LedgerError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::parse(s)
    }
}

impl TryFrom<String> for Currency {
    type Error = LedgerError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Currency::parse(&s)
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.as_str().to_string()
    }
}

/// An amount of money: integer minor units (cents for EUR) and a currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    /// Amount in minor units; negative amounts are allowed (postings use
    /// the sign for direction).
    pub amount: i64,
    /// The currency of the amount.
    pub currency: Currency,
}

impl Money {
    /// `amount` minor units of `currency`.
    pub fn new(amount: i64, currency: Currency) -> Money {
        Money { amount, currency }
    }

    /// Zero of `currency`.
    pub fn zero(currency: Currency) -> Money {
        Money::new(0, currency)
    }

    /// `self + other`, refusing mixed currencies and overflow.
    pub fn checked_add(self, other: Money) -> Result<Money, LedgerError> {
        self.same_currency(other)?;
        let amount = self
            .amount
            .checked_add(other.amount)
            .ok_or(LedgerError::Overflow)?;
        Ok(Money::new(amount, self.currency))
    }

    /// `self - other`, refusing mixed currencies and overflow.
    pub fn checked_sub(self, other: Money) -> Result<Money, LedgerError> {
        self.same_currency(other)?;
        let amount = self
            .amount
            .checked_sub(other.amount)
            .ok_or(LedgerError::Overflow)?;
        Ok(Money::new(amount, self.currency))
    }

    /// `-self`, refusing `i64::MIN` (which has no negation).
    pub fn checked_neg(self) -> Result<Money, LedgerError> {
        let amount = self.amount.checked_neg().ok_or(LedgerError::Overflow)?;
        Ok(Money::new(amount, self.currency))
    }

    fn same_currency(self, other: Money) -> Result<(), LedgerError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(LedgerError::CurrencyMismatch {
                left: self.currency.to_string(),
                right: other.currency.to_string(),
            })
        }
    }

    /// The amount as a decimal string in major units, e.g. `"12.05"` for
    /// 1205 EUR minor units or `"-0.50"`; no currency code.
    pub fn decimal(&self) -> String {
        let digits = self.currency.minor_digits();
        let sign = if self.amount < 0 { "-" } else { "" };
        let abs = self.amount.unsigned_abs();
        if digits == 0 {
            return format!("{sign}{abs}");
        }
        let scale = 10u64.pow(digits);
        format!(
            "{sign}{}.{:0width$}",
            abs / scale,
            abs % scale,
            width = digits as usize
        )
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.decimal(), self.currency)
    }
}

/// Basis points in a whole: 10,000 bp = 100 %.
pub const BP_WHOLE: u32 = 10_000;

/// Split `total` minor units in proportion to `weights` (basis points, or
/// any non-negative integer weights: they are normalised by their sum) so
/// the parts always sum to exactly `total`.
///
/// Largest remainder method: each part first gets the rounded-toward-zero
/// share, then the leftover units go one each to the parts with the largest
/// remainders; ties go to the earlier index, so the result is deterministic.
/// A negative total is split as its absolute value and negated, so
/// splitting `-x` mirrors splitting `x`.
pub fn split_proportional(total: i64, weights: &[u32]) -> Result<Vec<i64>, LedgerError> {
    let sum: u128 = weights.iter().map(|w| u128::from(*w)).sum();
    if sum == 0 {
        return Err(LedgerError::NoWeights);
    }
    let magnitude = u128::from(total.unsigned_abs());
    let mut parts: Vec<u128> = Vec::with_capacity(weights.len());
    let mut remainders: Vec<(u128, usize)> = Vec::with_capacity(weights.len());
    for (index, weight) in weights.iter().enumerate() {
        let exact = magnitude * u128::from(*weight);
        parts.push(exact / sum);
        remainders.push((exact % sum, index));
    }
    let allocated: u128 = parts.iter().sum();
    let leftover = magnitude - allocated;
    // Leftover < number of weights with a remainder, since each remainder < 1 unit.
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, index) in remainders.iter().take(leftover as usize) {
        parts[*index] += 1;
    }
    parts
        .into_iter()
        .map(|p| {
            // Each part is at most |total|, so the signed part fits in i64.
            let p = p as i128;
            let signed = if total < 0 { -p } else { p };
            i64::try_from(signed).map_err(|_| LedgerError::Overflow)
        })
        .collect()
}

/// `bp` basis points of `amount`, rounded half away from zero. Used for
/// single rates (fees) where there is no other part to give the remainder.
pub fn bp_of(amount: i64, bp: u32) -> Result<i64, LedgerError> {
    let exact = i128::from(amount) * i128::from(bp);
    let whole = i128::from(BP_WHOLE);
    let half = whole / 2;
    let rounded = if exact >= 0 {
        (exact + half) / whole
    } else {
        (exact - half) / whole
    };
    i64::try_from(rounded).map_err(|_| LedgerError::Overflow)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur(amount: i64) -> Money {
        Money::new(amount, Currency::EUR)
    }

    #[test]
    fn currency_parse_accepts_iso_codes_only() {
        assert_eq!(Currency::parse("EUR").unwrap(), Currency::EUR);
        assert_eq!(Currency::parse("CHF").unwrap().as_str(), "CHF");
        for bad in ["eur", "EU", "EURO", "E1R", "", "ÉUR"] {
            let err = Currency::parse(bad).unwrap_err();
            assert!(matches!(err, LedgerError::InvalidCurrency(_)), "{bad}");
        }
        assert_eq!(
            Currency::parse("eur").unwrap_err().to_string(),
            "invalid currency code \"eur\": expected three upper-case letters such as EUR"
        );
    }

    #[test]
    fn currency_serde_round_trips_and_validates() {
        let json = serde_json::to_string(&eur(5)).unwrap();
        assert_eq!(json, r#"{"amount":5,"currency":"EUR"}"#);
        assert_eq!(serde_json::from_str::<Money>(&json).unwrap(), eur(5));
        assert!(serde_json::from_str::<Money>(r#"{"amount":5,"currency":"eur"}"#).is_err());
    }

    #[test]
    fn checked_arithmetic() {
        assert_eq!(eur(5).checked_add(eur(7)).unwrap(), eur(12));
        assert_eq!(eur(5).checked_sub(eur(7)).unwrap(), eur(-2));
        assert_eq!(eur(5).checked_neg().unwrap(), eur(-5));
        assert_eq!(
            eur(i64::MAX).checked_add(eur(1)),
            Err(LedgerError::Overflow)
        );
        assert_eq!(
            eur(i64::MIN).checked_sub(eur(1)),
            Err(LedgerError::Overflow)
        );
        assert_eq!(eur(i64::MIN).checked_neg(), Err(LedgerError::Overflow));
        let chf = Money::new(1, Currency::parse("CHF").unwrap());
        assert_eq!(
            eur(1).checked_add(chf).unwrap_err().to_string(),
            "currency mismatch: cannot combine EUR with CHF"
        );
    }

    #[test]
    fn display_uses_minor_digits() {
        assert_eq!(eur(1205).to_string(), "12.05 EUR");
        assert_eq!(eur(-50).to_string(), "-0.50 EUR");
        assert_eq!(eur(7).decimal(), "0.07");
        let jpy = Currency::parse("JPY").unwrap();
        assert_eq!(Money::new(500, jpy).to_string(), "500 JPY");
        let kwd = Currency::parse("KWD").unwrap();
        assert_eq!(Money::new(1005, kwd).to_string(), "1.005 KWD");
    }

    #[test]
    fn split_even_and_uneven() {
        assert_eq!(
            split_proportional(1000, &[8000, 2000]).unwrap(),
            vec![800, 200]
        );
        // 1001 * 0.8 = 800.8, * 0.2 = 200.2: the leftover unit goes to .8.
        assert_eq!(
            split_proportional(1001, &[8000, 2000]).unwrap(),
            vec![801, 200]
        );
        // Three equal thirds of 100: 33.33 each, tie broken by index.
        assert_eq!(
            split_proportional(100, &[1, 1, 1]).unwrap(),
            vec![34, 33, 33]
        );
        assert_eq!(split_proportional(2, &[1, 1, 1]).unwrap(), vec![1, 1, 0]);
        assert_eq!(
            split_proportional(-100, &[1, 1, 1]).unwrap(),
            vec![-34, -33, -33]
        );
        assert_eq!(split_proportional(0, &[1, 2]).unwrap(), vec![0, 0]);
        assert_eq!(split_proportional(7, &[0, 5]).unwrap(), vec![0, 7]);
        assert_eq!(split_proportional(7, &[]), Err(LedgerError::NoWeights));
        assert_eq!(split_proportional(7, &[0, 0]), Err(LedgerError::NoWeights));
    }

    #[test]
    fn split_always_sums_to_total() {
        let weights_sets: [&[u32]; 5] = [
            &[3333, 3333, 3334],
            &[1, 2, 3, 4, 5, 6, 7],
            &[10_000],
            &[9999, 1],
            &[u32::MAX, u32::MAX, 1],
        ];
        for weights in weights_sets {
            for total in [0, 1, 2, 3, 99, 1001, 123_457, -77, i64::MAX, i64::MIN] {
                let parts = split_proportional(total, weights).unwrap();
                let sum: i128 = parts.iter().map(|p| i128::from(*p)).sum();
                assert_eq!(sum, i128::from(total), "{total} over {weights:?}");
            }
        }
    }

    #[test]
    fn bp_of_rounds_half_away_from_zero() {
        assert_eq!(bp_of(1000, 140).unwrap(), 14);
        assert_eq!(bp_of(1001, 140).unwrap(), 14); // 14.014
        assert_eq!(bp_of(1250, 100).unwrap(), 13); // 12.5
        assert_eq!(bp_of(-1250, 100).unwrap(), -13);
        assert_eq!(bp_of(1249, 100).unwrap(), 12);
    }
}
