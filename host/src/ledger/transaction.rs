//! Balanced transactions and the rule that no account but external
//! clearing goes negative.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::account::{AccountKind, check_ref_len};
use super::error::LedgerError;
use super::money::{Currency, Money};

/// The longest idempotency key accepted: room for a plugin's own key plus
/// the host's prefixes.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 200;
/// The longest transaction kind, e.g. `settlement` or `hold.authorise`.
pub const MAX_KIND_LEN: usize = 64;
/// The longest memo; memos are for people reading statements.
pub const MAX_MEMO_LEN: usize = 500;

/// Transaction kinds the domain core produces, stored as text so the
/// repository and statements can group by them.
pub mod kinds {
    /// A customer's payment authorised into an order's escrow.
    pub const HOLD_AUTHORISE: &str = "hold.authorise";
    /// A hold given back to the customer on request.
    pub const HOLD_RELEASE: &str = "hold.release";
    /// A hold given back to the customer because it expired.
    pub const HOLD_EXPIRE: &str = "hold.expire";
    /// An order's escrow split between the worker and the coop.
    pub const SETTLEMENT: &str = "settlement";
    /// A flat subscription fee taken from a worker's wallet.
    pub const SUBSCRIPTION_FEE: &str = "subscription.fee";
    /// A top-up from the solidarity fund to the earnings floor.
    pub const FLOOR_TOP_UP: &str = "floor.top-up";
    /// What the solidarity fund could not top up, booked as the coop's
    /// debt to the worker.
    pub const FLOOR_DEBT: &str = "floor.debt";
    /// A floor debt paid back from the solidarity fund.
    pub const FLOOR_DEBT_REPAID: &str = "floor.debt-repaid";
    /// Wallet balances moved into payout clearing for a SEPA file.
    pub const PAYOUT_RUN: &str = "payout.run";
    /// The compensation of an earlier transaction.
    pub const REVERSAL: &str = "reversal";
}

/// One line of a transaction.
///
/// Sign convention: a positive `amount` moves money *into* `account` and a
/// negative one moves it *out*; an account's balance is the sum of its
/// postings. So a customer paying 10.00 EUR into escrow is
/// `external -1000, escrow:order +1000`. (In bookkeeping terms, postings are
/// signed from the account holder's side, not debit/credit columns.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Posting {
    /// The account touched.
    pub account: AccountKind,
    /// Signed amount: positive into the account, negative out of it.
    pub amount: Money,
}

impl Posting {
    /// A posting of `amount` minor units of `currency` to `account`.
    pub fn new(account: AccountKind, amount: i64, currency: Currency) -> Posting {
        Posting {
            account,
            amount: Money::new(amount, currency),
        }
    }
}

/// A set of postings that sum to zero in each currency, recorded once.
///
/// Nothing is ever edited or deleted: a mistake is undone by a
/// [`Transaction::reversal`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    /// Unique per coop; posting a transaction whose key is already recorded
    /// must return the first result and post nothing.
    pub idempotency_key: String,
    /// What kind of movement this is (see [`kinds`]).
    pub kind: String,
    /// Free text for people reading the history.
    pub memo: String,
    /// The lines; at least two, summing to zero per currency.
    pub postings: Vec<Posting>,
    /// When it was recorded, in ms since the epoch (from the host's clock).
    pub created_at: i64,
}

impl Transaction {
    /// Check the transaction on its own: key, kind and memo well formed,
    /// at least two postings, valid accounts, no zero amounts, and each
    /// currency summing to zero.
    pub fn validate(&self) -> Result<(), LedgerError> {
        check_ref_len(
            "idempotency key",
            &self.idempotency_key,
            MAX_IDEMPOTENCY_KEY_LEN,
        )?;
        check_ref_len("transaction kind", &self.kind, MAX_KIND_LEN)?;
        if self.memo.chars().count() > MAX_MEMO_LEN {
            return Err(LedgerError::InvalidReference {
                what: "memo",
                value: self.memo.chars().take(40).collect::<String>() + "...",
                max: MAX_MEMO_LEN,
            });
        }
        if self.postings.len() < 2 {
            return Err(LedgerError::EmptyTransaction);
        }
        let mut sums: BTreeMap<Currency, i64> = BTreeMap::new();
        for posting in &self.postings {
            posting.account.validate()?;
            if posting.amount.amount == 0 {
                return Err(LedgerError::ZeroPosting {
                    account: posting.account.code(),
                });
            }
            let sum = sums.entry(posting.amount.currency).or_insert(0);
            *sum = sum
                .checked_add(posting.amount.amount)
                .ok_or(LedgerError::Overflow)?;
        }
        match sums.into_iter().find(|(_, sum)| *sum != 0) {
            Some((currency, sum)) => Err(LedgerError::Unbalanced {
                currency: currency.to_string(),
                sum,
            }),
            None => Ok(()),
        }
    }

    /// The net change per (account, currency), in account order; what the
    /// repository locks, checks and applies. An account posted to twice
    /// appears once.
    pub fn net_changes(&self) -> Result<Vec<(AccountKind, Currency, i64)>, LedgerError> {
        let mut net: BTreeMap<(AccountKind, Currency), i64> = BTreeMap::new();
        for posting in &self.postings {
            let key = (posting.account.clone(), posting.amount.currency);
            let entry = net.entry(key).or_insert(0);
            *entry = entry
                .checked_add(posting.amount.amount)
                .ok_or(LedgerError::Overflow)?;
        }
        Ok(net
            .into_iter()
            .filter(|(_, delta)| *delta != 0)
            .map(|((account, currency), delta)| (account, currency, delta))
            .collect())
    }

    /// A hex SHA-256 of what the transaction does (key, kind, memo,
    /// postings; not `created_at`). The repository stores it so that a
    /// replay with the same key but different content is reported as a
    /// conflict instead of silently returning the first result.
    pub fn fingerprint(&self) -> String {
        let mut hasher = Sha256::new();
        // Length-prefix every field so no two different transactions hash
        // the same text.
        let mut field = |text: &str| {
            hasher.update((text.len() as u64).to_be_bytes());
            hasher.update(text.as_bytes());
        };
        field(&self.idempotency_key);
        field(&self.kind);
        field(&self.memo);
        for posting in &self.postings {
            field(&posting.account.code());
            field(posting.amount.currency.as_str());
            field(&posting.amount.amount.to_string());
        }
        hex::encode(hasher.finalize())
    }

    /// The compensating transaction that undoes this one: every posting
    /// negated, kind [`kinds::REVERSAL`]. Applying it can fail like any
    /// transaction (e.g. the worker already withdrew the money).
    pub fn reversal(
        &self,
        idempotency_key: &str,
        memo: &str,
        created_at: i64,
    ) -> Result<Transaction, LedgerError> {
        let postings = self
            .postings
            .iter()
            .map(|p| {
                Ok(Posting {
                    account: p.account.clone(),
                    amount: p.amount.checked_neg()?,
                })
            })
            .collect::<Result<Vec<_>, LedgerError>>()?;
        Ok(Transaction {
            idempotency_key: idempotency_key.to_string(),
            kind: kinds::REVERSAL.to_string(),
            memo: memo.to_string(),
            postings,
            created_at,
        })
    }
}

/// Check one account's change against its balance: the new balance, or
/// [`LedgerError::InsufficientFunds`] if an account that may not go
/// negative would. The repository calls this with the balance it read
/// under lock; [`Balances::apply`] calls it in memory.
pub fn check_change(
    account: &AccountKind,
    currency: Currency,
    balance: i64,
    delta: i64,
) -> Result<i64, LedgerError> {
    let new_balance = balance.checked_add(delta).ok_or(LedgerError::Overflow)?;
    if new_balance < 0 && !account.may_go_negative() {
        return Err(LedgerError::InsufficientFunds {
            account: account.code(),
            currency: currency.to_string(),
            balance,
            requested: -delta,
        });
    }
    Ok(new_balance)
}

/// In-memory balances per (account, currency): the reference model of
/// what the repository enforces with the database, used by tests and
/// previews.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Balances {
    balances: BTreeMap<(AccountKind, Currency), i64>,
}

impl Balances {
    /// No money anywhere.
    pub fn new() -> Balances {
        Balances::default()
    }

    /// The balance of `account` in `currency` (zero if never posted to).
    pub fn get(&self, account: &AccountKind, currency: Currency) -> i64 {
        self.balances
            .get(&(account.clone(), currency))
            .copied()
            .unwrap_or(0)
    }

    /// Apply `tx` entirely or not at all: it must validate, and no account
    /// that may not go negative may end below zero.
    pub fn apply(&mut self, tx: &Transaction) -> Result<(), LedgerError> {
        tx.validate()?;
        let mut updates = Vec::new();
        for (account, currency, delta) in tx.net_changes()? {
            let balance = self.get(&account, currency);
            let new_balance = check_change(&account, currency, balance, delta)?;
            updates.push(((account, currency), new_balance));
        }
        self.balances.extend(updates);
        Ok(())
    }

    /// Every non-zero balance, in account order.
    pub fn iter(&self) -> impl Iterator<Item = (&AccountKind, Currency, i64)> {
        self.balances
            .iter()
            .filter(|(_, balance)| **balance != 0)
            .map(|((account, currency), balance)| (account, *currency, *balance))
    }

    /// The sum of all balances in `currency`; zero whenever only balanced
    /// transactions were applied.
    pub fn total(&self, currency: Currency) -> i128 {
        self.balances
            .iter()
            .filter(|((_, c), _)| *c == currency)
            .map(|(_, balance)| i128::from(*balance))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EUR: Currency = Currency::EUR;

    fn tx(key: &str, postings: &[(AccountKind, i64)]) -> Transaction {
        Transaction {
            idempotency_key: key.to_string(),
            kind: "test".to_string(),
            memo: String::new(),
            postings: postings
                .iter()
                .map(|(a, amount)| Posting::new(a.clone(), *amount, EUR))
                .collect(),
            created_at: 0,
        }
    }

    fn escrow() -> AccountKind {
        AccountKind::Escrow("o1".into())
    }

    #[test]
    fn validate_checks_every_rule() {
        let ok = tx(
            "k1",
            &[(AccountKind::ExternalClearing, -100), (escrow(), 100)],
        );
        assert_eq!(ok.validate(), Ok(()));

        assert_eq!(tx("k", &[]).validate(), Err(LedgerError::EmptyTransaction));
        assert_eq!(
            tx("k", &[(escrow(), 0), (AccountKind::CoopRevenue, 0)]).validate(),
            Err(LedgerError::ZeroPosting {
                account: "escrow:o1".into()
            })
        );
        let unbalanced = tx(
            "k",
            &[(AccountKind::ExternalClearing, -100), (escrow(), 99)],
        );
        assert_eq!(
            unbalanced.validate().unwrap_err().to_string(),
            "transaction is unbalanced: postings in EUR sum to -1 minor units instead of 0"
        );
        assert!(matches!(
            tx("", &[(AccountKind::ExternalClearing, -1), (escrow(), 1)]).validate(),
            Err(LedgerError::InvalidReference {
                what: "idempotency key",
                ..
            })
        ));
        let bad_account = tx(
            "k",
            &[
                (AccountKind::ExternalClearing, -1),
                (AccountKind::Escrow("a b".into()), 1),
            ],
        );
        assert!(bad_account.validate().is_err());

        // Balanced in EUR but not in CHF.
        let chf = Currency::parse("CHF").unwrap();
        let mut mixed = ok.clone();
        mixed
            .postings
            .push(Posting::new(AccountKind::ExternalClearing, -5, chf));
        mixed.postings.push(Posting::new(escrow(), 4, chf));
        assert!(matches!(
            mixed.validate(),
            Err(LedgerError::Unbalanced { sum: -1, .. })
        ));
    }

    #[test]
    fn apply_moves_money_and_keeps_totals_at_zero() {
        let mut balances = Balances::new();
        balances
            .apply(&tx(
                "pay",
                &[(AccountKind::ExternalClearing, -1000), (escrow(), 1000)],
            ))
            .unwrap();
        balances
            .apply(&tx(
                "settle",
                &[
                    (escrow(), -1000),
                    (AccountKind::MemberWallet(7), 800),
                    (AccountKind::CoopRevenue, 200),
                ],
            ))
            .unwrap();
        assert_eq!(balances.get(&AccountKind::ExternalClearing, EUR), -1000);
        assert_eq!(balances.get(&escrow(), EUR), 0);
        assert_eq!(balances.get(&AccountKind::MemberWallet(7), EUR), 800);
        assert_eq!(balances.get(&AccountKind::CoopRevenue, EUR), 200);
        assert_eq!(balances.total(EUR), 0);
        assert_eq!(balances.iter().count(), 3);
    }

    #[test]
    fn apply_refuses_to_overdraw_and_changes_nothing() {
        let mut balances = Balances::new();
        balances
            .apply(&tx(
                "fund",
                &[
                    (AccountKind::ExternalClearing, -50),
                    (AccountKind::SolidarityFund, 50),
                ],
            ))
            .unwrap();
        let before = balances.clone();
        // The first posting alone is fine; the second overdraws: nothing applies.
        let overdraw = tx(
            "top-up",
            &[
                (AccountKind::ExternalClearing, -10),
                (AccountKind::SolidarityFund, 10),
                (AccountKind::SolidarityFund, -70),
                (AccountKind::MemberWallet(3), 70),
            ],
        );
        let err = balances.apply(&overdraw).unwrap_err();
        assert_eq!(
            err.to_string(),
            "insufficient funds: solidarity holds 50 EUR minor units and cannot give 60"
        );
        assert_eq!(balances, before);
    }

    #[test]
    fn net_changes_merge_repeated_accounts() {
        let t = tx(
            "k",
            &[
                (AccountKind::ExternalClearing, -10),
                (escrow(), 4),
                (escrow(), 6),
                (AccountKind::CoopRevenue, 3),
                (AccountKind::CoopRevenue, -3),
            ],
        );
        assert_eq!(
            t.net_changes().unwrap(),
            vec![
                (escrow(), EUR, 10),
                (AccountKind::ExternalClearing, EUR, -10)
            ]
        );
    }

    #[test]
    fn reversal_undoes_and_fingerprint_ignores_time() {
        let mut balances = Balances::new();
        let pay = tx(
            "pay",
            &[(AccountKind::ExternalClearing, -300), (escrow(), 300)],
        );
        balances.apply(&pay).unwrap();
        let undo = pay.reversal("pay:reversal", "refund", 5).unwrap();
        assert_eq!(undo.kind, kinds::REVERSAL);
        balances.apply(&undo).unwrap();
        assert_eq!(balances.iter().count(), 0);

        let mut later = pay.clone();
        later.created_at = 99;
        assert_eq!(pay.fingerprint(), later.fingerprint());
        let mut other = pay.clone();
        other.postings[1].amount.amount = 299;
        other.postings[0].amount.amount = -299;
        assert_ne!(pay.fingerprint(), other.fingerprint());
        assert_eq!(pay.fingerprint().len(), 64);
    }

    #[test]
    fn check_change_allows_only_external_below_zero() {
        assert_eq!(
            check_change(&AccountKind::ExternalClearing, EUR, 0, -5),
            Ok(-5)
        );
        assert_eq!(
            check_change(&AccountKind::MemberWallet(1), EUR, 5, -5),
            Ok(0)
        );
        assert!(check_change(&AccountKind::MemberWallet(1), EUR, 5, -6).is_err());
        assert_eq!(
            check_change(&AccountKind::CoopRevenue, EUR, i64::MAX, 1),
            Err(LedgerError::Overflow)
        );
    }

    #[test]
    fn random_transfers_never_overdraw() {
        // A fixed linear congruential sequence: deterministic, no rand crate.
        let mut seed: u64 = 0x5eed;
        let mut next = |bound: u64| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) % bound
        };
        let accounts = [
            AccountKind::ExternalClearing,
            AccountKind::MemberWallet(1),
            AccountKind::MemberWallet(2),
            AccountKind::SolidarityFund,
            AccountKind::Escrow("o".into()),
        ];
        let mut balances = Balances::new();
        let (mut applied, mut refused) = (0, 0);
        for i in 0..2_000 {
            let from = accounts[next(5) as usize].clone();
            let to = accounts[next(5) as usize].clone();
            let amount = next(500) as i64 + 1;
            let t = tx(&format!("k{i}"), &[(from, -amount), (to, amount)]);
            let before = balances.clone();
            match balances.apply(&t) {
                Ok(()) => applied += 1,
                Err(LedgerError::InsufficientFunds { .. }) => {
                    refused += 1;
                    assert_eq!(balances, before);
                }
                Err(e) => panic!("unexpected {e}"),
            }
            for (account, _, balance) in balances.iter() {
                assert!(
                    balance >= 0 || account.may_go_negative(),
                    "{account} at {balance}"
                );
            }
            assert_eq!(balances.total(EUR), 0);
        }
        assert!(
            applied > 100 && refused > 50,
            "{applied} applied, {refused} refused"
        );
    }
}
