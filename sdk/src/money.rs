//! Money: integer minor units with an ISO 4217 currency, never a float.

pub use crate::wit::coop::host::types::Money;

use crate::Error;

impl Money {
    /// `amount` minor units (cents for EUR) of `currency`.
    ///
    /// Fails with `invalid` unless `currency` is three upper-case ASCII
    /// letters, as ISO 4217 alphabetic codes are.
    pub fn new(amount: i64, currency: &str) -> Result<Self, Error> {
        let is_code = currency.len() == 3 && currency.bytes().all(|b| b.is_ascii_uppercase());
        if !is_code {
            return Err(Error::invalid(format!(
                "currency {currency:?} is not an ISO 4217 code: use three upper-case letters, for example EUR"
            )));
        }
        Ok(Self {
            amount,
            currency: currency.to_string(),
        })
    }

    /// Zero in `currency`; fails like [`Money::new`].
    pub fn zero(currency: &str) -> Result<Self, Error> {
        Self::new(0, currency)
    }

    /// Whether the amount is zero.
    pub fn is_zero(&self) -> bool {
        self.amount == 0
    }

    /// Whether the amount is below zero.
    pub fn is_negative(&self) -> bool {
        self.amount < 0
    }

    /// Whether `self` and `other` are in the same currency.
    pub fn same_currency(&self, other: &Money) -> bool {
        self.currency == other.currency
    }

    /// Fails with `invalid` unless `self` and `other` are in the same
    /// currency.
    pub fn ensure_same_currency(&self, other: &Money) -> Result<(), Error> {
        if self.same_currency(other) {
            Ok(())
        } else {
            Err(Error::invalid(format!(
                "cannot mix currencies {} and {}: convert first",
                self.currency, other.currency
            )))
        }
    }

    /// `self + other`; fails with `invalid` on different currencies or when
    /// the sum does not fit in 64 bits.
    pub fn checked_add(&self, other: &Money) -> Result<Money, Error> {
        self.ensure_same_currency(other)?;
        let amount = self
            .amount
            .checked_add(other.amount)
            .ok_or_else(|| overflow("adding", &self.currency))?;
        Ok(self.with_amount(amount))
    }

    /// `self - other`; fails with `invalid` on different currencies or when
    /// the difference does not fit in 64 bits.
    pub fn checked_sub(&self, other: &Money) -> Result<Money, Error> {
        self.ensure_same_currency(other)?;
        let amount = self
            .amount
            .checked_sub(other.amount)
            .ok_or_else(|| overflow("subtracting", &self.currency))?;
        Ok(self.with_amount(amount))
    }

    /// `self * factor` (for example a price per km times whole km); fails
    /// with `invalid` when the product does not fit in 64 bits.
    pub fn checked_mul(&self, factor: i64) -> Result<Money, Error> {
        let amount = self
            .amount
            .checked_mul(factor)
            .ok_or_else(|| overflow("multiplying", &self.currency))?;
        Ok(self.with_amount(amount))
    }

    /// `-self`; fails with `invalid` for the one amount that has no
    /// negation in 64 bits.
    pub fn checked_neg(&self) -> Result<Money, Error> {
        let amount = self
            .amount
            .checked_neg()
            .ok_or_else(|| overflow("negating", &self.currency))?;
        Ok(self.with_amount(amount))
    }

    /// The sum of `items`, all in `currency`; zero when `items` is empty.
    pub fn checked_sum<'a>(
        currency: &str,
        items: impl IntoIterator<Item = &'a Money>,
    ) -> Result<Money, Error> {
        items
            .into_iter()
            .try_fold(Money::zero(currency)?, |total, item| {
                total.checked_add(item)
            })
    }

    fn with_amount(&self, amount: i64) -> Money {
        Money {
            amount,
            currency: self.currency.clone(),
        }
    }
}

fn overflow(action: &str, currency: &str) -> Error {
    Error::invalid(format!(
        "amount out of range while {action} {currency} amounts"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur(amount: i64) -> Money {
        Money::new(amount, "EUR").unwrap()
    }

    #[test]
    fn new_accepts_only_iso_codes() {
        assert_eq!(eur(150).amount, 150);
        assert_eq!(eur(150).currency, "EUR");
        for bad in ["eur", "EU", "EURO", "€UR", ""] {
            let error = Money::new(1, bad).unwrap_err();
            assert_eq!(error.kind(), "invalid", "{bad:?}");
        }
    }

    #[test]
    fn add_and_sub_in_one_currency() {
        assert_eq!(eur(150).checked_add(&eur(-50)).unwrap(), eur(100));
        assert_eq!(eur(150).checked_sub(&eur(200)).unwrap(), eur(-50));
        assert!(eur(-1).is_negative());
        assert!(eur(0).is_zero());
        assert_eq!(Money::zero("EUR").unwrap(), eur(0));
    }

    #[test]
    fn mixing_currencies_is_invalid() {
        let usd = Money::new(100, "USD").unwrap();
        assert!(!eur(100).same_currency(&usd));
        let error = eur(100).checked_add(&usd).unwrap_err();
        assert_eq!(
            error,
            Error::invalid("cannot mix currencies EUR and USD: convert first")
        );
        assert!(eur(100).checked_sub(&usd).is_err());
    }

    #[test]
    fn overflow_is_invalid_not_a_panic() {
        assert_eq!(
            eur(i64::MAX).checked_add(&eur(1)).unwrap_err().kind(),
            "invalid"
        );
        assert_eq!(
            eur(i64::MIN).checked_sub(&eur(1)).unwrap_err().kind(),
            "invalid"
        );
        assert_eq!(eur(i64::MAX).checked_mul(2).unwrap_err().kind(), "invalid");
        assert_eq!(eur(i64::MIN).checked_neg().unwrap_err().kind(), "invalid");
        assert_eq!(eur(250).checked_mul(3).unwrap(), eur(750));
        assert_eq!(eur(250).checked_neg().unwrap(), eur(-250));
    }

    #[test]
    fn sum_of_items() {
        let items = [eur(1), eur(2), eur(3)];
        assert_eq!(Money::checked_sum("EUR", &items).unwrap(), eur(6));
        assert_eq!(Money::checked_sum("EUR", &[]).unwrap(), eur(0));
        let mixed = [eur(1), Money::new(2, "USD").unwrap()];
        assert!(Money::checked_sum("EUR", &mixed).is_err());
    }
}
