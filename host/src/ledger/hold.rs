//! Holds: a customer's payment authorised into an order's escrow, then
//! captured (settled), released (refunded) or expired. Each transition
//! returns the balanced transaction it implies; the repository posts it and
//! stores the new state in the same database transaction.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::account::AccountKind;
use super::error::LedgerError;
use super::money::Money;
use super::split::Settlement;
use super::transaction::{Posting, Transaction, kinds};

/// Where a hold is in its life. Only `Authorised` can move; the other three
/// are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldState {
    /// The money is in escrow, waiting for the order to finish.
    Authorised,
    /// The order was settled: the escrow was split.
    Captured,
    /// The customer got the money back on request.
    Released,
    /// The customer got the money back because nobody captured it in time.
    Expired,
}

impl fmt::Display for HoldState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HoldState::Authorised => "authorised",
            HoldState::Captured => "captured",
            HoldState::Released => "released",
            HoldState::Expired => "expired",
        })
    }
}

/// A customer's payment held in `escrow:<order_ref>`. One hold per order;
/// the idempotency keys are derived from the order (`hold:<order>:<step>`)
/// so a replayed transition posts nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    /// The order, which names the escrow account.
    pub order_ref: String,
    /// The amount held (positive).
    pub amount: Money,
    /// Where the hold is in its life.
    pub state: HoldState,
    /// When it was authorised, ms since the epoch.
    pub authorised_at: i64,
    /// When it expires if not captured, ms since the epoch.
    pub expires_at: i64,
}

impl Hold {
    /// Authorise `amount` for `order_ref` at `at`, expiring at `expires_at`:
    /// external clearing to the order's escrow.
    pub fn authorise(
        order_ref: &str,
        amount: Money,
        at: i64,
        expires_at: i64,
    ) -> Result<(Hold, Transaction), LedgerError> {
        let escrow = AccountKind::escrow(order_ref)?;
        if amount.amount <= 0 {
            return Err(LedgerError::NonPositiveAmount {
                what: "hold amount",
                amount: amount.amount,
            });
        }
        if expires_at <= at {
            return Err(LedgerError::InvalidInterval {
                start: at,
                end: expires_at,
            });
        }
        let hold = Hold {
            order_ref: order_ref.to_string(),
            amount,
            state: HoldState::Authorised,
            authorised_at: at,
            expires_at,
        };
        let tx = hold.transaction(
            "authorise",
            kinds::HOLD_AUTHORISE,
            AccountKind::ExternalClearing,
            escrow,
            at,
        );
        tx.validate()?;
        Ok((hold, tx))
    }

    /// The escrow account of this hold.
    pub fn escrow_account(&self) -> AccountKind {
        AccountKind::Escrow(self.order_ref.clone())
    }

    /// Capture the hold by settling it: `settlement` must take exactly the
    /// held amount out of this hold's escrow, and `at` must be before the
    /// expiry. Returns the settlement's transaction.
    pub fn capture(
        &mut self,
        settlement: &Settlement,
        at: i64,
    ) -> Result<Transaction, LedgerError> {
        self.check_authorised("capture")?;
        if at >= self.expires_at {
            return Err(LedgerError::HoldExpired {
                order_ref: self.order_ref.clone(),
                expires_at: self.expires_at,
            });
        }
        let escrow = self.escrow_account();
        let mut settled = 0i64;
        for posting in &settlement.transaction.postings {
            if posting.account == escrow {
                if posting.amount.currency != self.amount.currency {
                    return Err(LedgerError::CurrencyMismatch {
                        left: self.amount.currency.to_string(),
                        right: posting.amount.currency.to_string(),
                    });
                }
                settled = settled
                    .checked_sub(posting.amount.amount)
                    .ok_or(LedgerError::Overflow)?;
            }
        }
        if settled != self.amount.amount {
            return Err(LedgerError::SettlementMismatch {
                order_ref: self.order_ref.clone(),
                held: self.amount.amount,
                settled,
            });
        }
        settlement.transaction.validate()?;
        self.state = HoldState::Captured;
        Ok(settlement.transaction.clone())
    }

    /// Give the money back to the customer now: escrow to external clearing.
    pub fn release(&mut self, at: i64) -> Result<Transaction, LedgerError> {
        self.check_authorised("release")?;
        let tx = self.refund("release", kinds::HOLD_RELEASE, at);
        self.state = HoldState::Released;
        Ok(tx)
    }

    /// Give the money back because the hold expired; refused before
    /// `expires_at`, so the scheduler cannot expire a hold early.
    pub fn expire(&mut self, at: i64) -> Result<Transaction, LedgerError> {
        self.check_authorised("expire")?;
        if at < self.expires_at {
            return Err(LedgerError::HoldNotYetExpired {
                order_ref: self.order_ref.clone(),
                expires_at: self.expires_at,
            });
        }
        let tx = self.refund("expire", kinds::HOLD_EXPIRE, at);
        self.state = HoldState::Expired;
        Ok(tx)
    }

    fn check_authorised(&self, action: &'static str) -> Result<(), LedgerError> {
        if self.state == HoldState::Authorised {
            Ok(())
        } else {
            Err(LedgerError::InvalidHoldTransition {
                from: self.state,
                action,
            })
        }
    }

    fn refund(&self, step: &str, kind: &str, at: i64) -> Transaction {
        self.transaction(
            step,
            kind,
            self.escrow_account(),
            AccountKind::ExternalClearing,
            at,
        )
    }

    fn transaction(
        &self,
        step: &str,
        kind: &str,
        from: AccountKind,
        to: AccountKind,
        at: i64,
    ) -> Transaction {
        let currency = self.amount.currency;
        Transaction {
            idempotency_key: format!("hold:{}:{step}", self.order_ref),
            kind: kind.to_string(),
            memo: format!("{step} {} for order {}", self.amount, self.order_ref),
            postings: vec![
                Posting::new(from, -self.amount.amount, currency),
                Posting::new(to, self.amount.amount, currency),
            ],
            created_at: at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::money::Currency;
    use crate::ledger::split::{FeeBearer, SplitPolicy, SplitTerms, WorkerStatus, settle};
    use crate::ledger::transaction::Balances;

    const EUR: Currency = Currency::EUR;

    fn policy() -> SplitPolicy {
        SplitPolicy {
            version: 1,
            effective_from: 0,
            terms: SplitTerms::Commission {
                worker_share_bp: 8_000,
                reserve_share_of_commission_bp: 5_000,
                solidarity_share_of_commission_bp: 0,
                community_share_of_commission_bp: 0,
                processor_fee_bp: 0,
                processor_fee_fixed: 0,
                processor_fee_borne_by: FeeBearer::Coop,
                cae_fee_bp: 0,
            },
        }
    }

    #[test]
    fn authorise_then_capture() {
        let mut balances = Balances::new();
        let (mut hold, tx) = Hold::authorise("o1", Money::new(1000, EUR), 10, 100).unwrap();
        assert_eq!(tx.idempotency_key, "hold:o1:authorise");
        balances.apply(&tx).unwrap();
        assert_eq!(balances.get(&hold.escrow_account(), EUR), 1000);
        assert_eq!(balances.get(&AccountKind::ExternalClearing, EUR), -1000);

        let s = settle(
            Money::new(1000, EUR),
            &policy(),
            &WorkerStatus::Independent,
            9,
            "o1",
            50,
        )
        .unwrap();
        let tx = hold.capture(&s, 50).unwrap();
        balances.apply(&tx).unwrap();
        assert_eq!(hold.state, HoldState::Captured);
        assert_eq!(balances.get(&hold.escrow_account(), EUR), 0);
        assert_eq!(balances.get(&AccountKind::MemberWallet(9), EUR), 800);
        assert_eq!(balances.get(&AccountKind::IndivisibleReserve, EUR), 100);
        assert_eq!(balances.get(&AccountKind::CoopRevenue, EUR), 100);

        let err = hold.release(60).unwrap_err();
        assert_eq!(err.to_string(), "cannot release a hold that is captured");
    }

    #[test]
    fn capture_must_match_the_hold_and_come_in_time() {
        let (mut hold, _) = Hold::authorise("o1", Money::new(1000, EUR), 10, 100).unwrap();
        let wrong_amount = settle(
            Money::new(999, EUR),
            &policy(),
            &WorkerStatus::Independent,
            9,
            "o1",
            50,
        )
        .unwrap();
        assert!(matches!(
            hold.capture(&wrong_amount, 50),
            Err(LedgerError::SettlementMismatch {
                held: 1000,
                settled: 999,
                ..
            })
        ));
        let wrong_order = settle(
            Money::new(1000, EUR),
            &policy(),
            &WorkerStatus::Independent,
            9,
            "o2",
            50,
        )
        .unwrap();
        assert!(hold.capture(&wrong_order, 50).is_err());
        let right = settle(
            Money::new(1000, EUR),
            &policy(),
            &WorkerStatus::Independent,
            9,
            "o1",
            50,
        )
        .unwrap();
        assert!(matches!(
            hold.capture(&right, 100),
            Err(LedgerError::HoldExpired { .. })
        ));
        assert_eq!(hold.state, HoldState::Authorised);
    }

    #[test]
    fn release_and_expire_refund_the_customer() {
        let mut balances = Balances::new();
        let (mut released, tx) = Hold::authorise("a", Money::new(500, EUR), 0, 100).unwrap();
        balances.apply(&tx).unwrap();
        let tx = released.release(5).unwrap();
        assert_eq!(tx.kind, kinds::HOLD_RELEASE);
        balances.apply(&tx).unwrap();
        assert_eq!(released.state, HoldState::Released);

        let (mut expired, tx) = Hold::authorise("b", Money::new(300, EUR), 0, 100).unwrap();
        balances.apply(&tx).unwrap();
        assert_eq!(
            expired.expire(99).unwrap_err().to_string(),
            "hold for order b does not expire before 100 ms"
        );
        let tx = expired.expire(100).unwrap();
        balances.apply(&tx).unwrap();
        assert_eq!(expired.state, HoldState::Expired);
        assert!(expired.expire(200).is_err());
        assert!(expired.release(200).is_err());
        assert_eq!(balances.iter().count(), 0);
    }

    #[test]
    fn authorise_checks_inputs() {
        assert!(Hold::authorise("o", Money::new(0, EUR), 0, 10).is_err());
        assert!(Hold::authorise("o", Money::new(5, EUR), 10, 10).is_err());
        assert!(Hold::authorise("", Money::new(5, EUR), 0, 10).is_err());
    }
}
