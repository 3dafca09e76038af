//! The coop's voted value split, applied by the host when an order is
//! settled. Plugins never pick the split; they only name the order, the
//! worker and the gross amount.

use serde::{Deserialize, Serialize};

use super::account::AccountKind;
use super::error::LedgerError;
use super::money::{BP_WHOLE, Currency, Money, bp_of, split_proportional};
use super::transaction::{Posting, Transaction, kinds};

/// Who pays the payment processor's fee.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FeeBearer {
    /// Taken from the worker's part.
    Worker,
    /// Taken from the coop's commission before it is divided.
    Coop,
    /// Added on top of the gross: the customer is charged
    /// [`SplitPolicy::customer_charge`] and the escrow holds gross + fee.
    Customer,
}

impl FeeBearer {
    fn name(self) -> &'static str {
        match self {
            FeeBearer::Worker => "worker",
            FeeBearer::Coop => "coop",
            FeeBearer::Customer => "customer",
        }
    }
}

/// The parameters of a split policy. All `_bp` fields are basis points
/// (10,000 = 100 %).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "model", rename_all = "snake_case")]
pub enum SplitTerms {
    /// The coop keeps a commission on each order and divides it.
    Commission {
        /// The worker's share of the gross; the rest is the commission.
        worker_share_bp: u32,
        /// Share of the commission that goes to the indivisible reserve.
        reserve_share_of_commission_bp: u32,
        /// Share of the commission that goes to the solidarity fund.
        solidarity_share_of_commission_bp: u32,
        /// Share of the commission that goes to the community fund; what
        /// the three shares leave is coop revenue.
        community_share_of_commission_bp: u32,
        /// The processor's percentage fee on the gross.
        processor_fee_bp: u32,
        /// The processor's fixed fee per order, in minor units.
        processor_fee_fixed: i64,
        /// Who pays the processor fee.
        processor_fee_borne_by: FeeBearer,
        /// The CAE's fee on the worker's part, for workers employed through a CAE.
        cae_fee_bp: u32,
    },
    /// Workers pay a flat fee per period and keep every order's gross.
    Subscription {
        /// The fee per period, in minor units of the settlement currency.
        fee_per_period: i64,
        /// The length of a period in days.
        period_days: u32,
        /// The CAE's fee on the worker's part, for workers employed through
        /// a CAE (the CAE charges it whatever the coop's model).
        cae_fee_bp: u32,
    },
}

/// A dated, versioned split policy. Settlements record the version used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitPolicy {
    /// Increases by one with each change the coop makes.
    pub version: u32,
    /// From when it applies, in ms since the epoch.
    pub effective_from: i64,
    /// What it says.
    pub terms: SplitTerms,
}

/// How the worker is employed; the worker chooses, and it changes where
/// settlement routes the worker's part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum WorkerStatus {
    /// Self-employed: the worker's part goes to their wallet.
    Independent,
    /// Employed by the coop: the worker's part also goes to their wallet.
    /// The ledger records what the coop owes the worker; turning it into a
    /// payslip (contributions, withholding) is payroll's job, outside it.
    Salaried,
    /// Employed through a CAE: the CAE's fee goes to `cae:<name>`, the rest
    /// to the worker's wallet.
    Cae {
        /// The CAE's account name, e.g. `coopaname`.
        name: String,
    },
}

impl SplitPolicy {
    /// Check every share is within 0..=10,000 bp, the commission shares sum
    /// to at most 10,000 bp, and amounts and periods are sensible.
    pub fn validate(&self) -> Result<(), LedgerError> {
        let bp = |name: &str, value: u32| {
            if value > BP_WHOLE {
                Err(LedgerError::InvalidPolicy(format!(
                    "{name} is {value} bp, above 10000 bp (100 %)"
                )))
            } else {
                Ok(())
            }
        };
        match &self.terms {
            SplitTerms::Commission {
                worker_share_bp,
                reserve_share_of_commission_bp,
                solidarity_share_of_commission_bp,
                community_share_of_commission_bp,
                processor_fee_bp,
                processor_fee_fixed,
                processor_fee_borne_by: _,
                cae_fee_bp,
            } => {
                bp("worker_share_bp", *worker_share_bp)?;
                bp(
                    "reserve_share_of_commission_bp",
                    *reserve_share_of_commission_bp,
                )?;
                bp(
                    "solidarity_share_of_commission_bp",
                    *solidarity_share_of_commission_bp,
                )?;
                bp(
                    "community_share_of_commission_bp",
                    *community_share_of_commission_bp,
                )?;
                bp("processor_fee_bp", *processor_fee_bp)?;
                bp("cae_fee_bp", *cae_fee_bp)?;
                let shares = reserve_share_of_commission_bp
                    + solidarity_share_of_commission_bp
                    + community_share_of_commission_bp;
                if shares > BP_WHOLE {
                    return Err(LedgerError::InvalidPolicy(format!(
                        "reserve, solidarity and community shares of the commission sum to {shares} bp, above 10000 bp"
                    )));
                }
                if *processor_fee_fixed < 0 {
                    return Err(LedgerError::InvalidPolicy(format!(
                        "processor_fee_fixed is {processor_fee_fixed}, it cannot be negative"
                    )));
                }
            }
            SplitTerms::Subscription {
                fee_per_period,
                period_days,
                cae_fee_bp,
            } => {
                bp("cae_fee_bp", *cae_fee_bp)?;
                if *fee_per_period < 0 {
                    return Err(LedgerError::InvalidPolicy(format!(
                        "fee_per_period is {fee_per_period}, it cannot be negative"
                    )));
                }
                if *period_days == 0 {
                    return Err(LedgerError::InvalidPolicy(
                        "period_days is 0, a period lasts at least one day".to_string(),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The policy in effect at `at`: the latest `effective_from` not after
    /// `at`, the highest version on a tie. `None` before the first one.
    pub fn in_effect(policies: &[SplitPolicy], at: i64) -> Option<&SplitPolicy> {
        policies
            .iter()
            .filter(|p| p.effective_from <= at)
            .max_by_key(|p| (p.effective_from, p.version))
    }

    /// The processor fee on `gross` under this policy (zero for subscriptions).
    /// The percentage is rounded half away from zero, then the fixed fee added.
    pub fn processor_fee(&self, gross: i64) -> Result<i64, LedgerError> {
        match &self.terms {
            SplitTerms::Commission {
                processor_fee_bp,
                processor_fee_fixed,
                ..
            } => bp_of(gross, *processor_fee_bp)?
                .checked_add(*processor_fee_fixed)
                .ok_or(LedgerError::Overflow),
            SplitTerms::Subscription { .. } => Ok(0),
        }
    }

    /// What to charge the customer for an order of `gross`: the gross plus
    /// the processor fee when the customer bears it, else the gross. The
    /// hold must be for this amount so settlement finds it in escrow.
    pub fn customer_charge(&self, gross: Money) -> Result<Money, LedgerError> {
        match &self.terms {
            SplitTerms::Commission {
                processor_fee_borne_by: FeeBearer::Customer,
                ..
            } => gross.checked_add(Money::new(
                self.processor_fee(gross.amount)?,
                gross.currency,
            )),
            _ => Ok(gross),
        }
    }
}

/// Where each minor unit of a settlement went, for statements. All
/// amounts in minor units of `currency`, all non-negative.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlementBreakdown {
    /// The currency of every amount below.
    pub currency: Currency,
    /// The order's gross as given to [`settle`].
    pub gross: i64,
    /// What left the escrow: the gross, plus the fee when the customer bears it.
    pub escrow_debit: i64,
    /// The coop's commission before the processor fee, if the coop bears it.
    pub commission: i64,
    /// To the indivisible reserve.
    pub reserve: i64,
    /// To the solidarity fund.
    pub solidarity: i64,
    /// To the community fund.
    pub community: i64,
    /// To coop revenue.
    pub coop_revenue: i64,
    /// To the processor fees account.
    pub processor_fee: i64,
    /// To the CAE's account.
    pub cae_fee: i64,
    /// To the worker's wallet.
    pub worker_net: i64,
}

/// The result of settling an order: the breakdown, the policy version it
/// followed, and the balanced transaction to post.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settlement {
    /// The [`SplitPolicy::version`] applied.
    pub policy_version: u32,
    /// The order settled.
    pub order_ref: String,
    /// The worker paid.
    pub worker_member_id: i64,
    /// Where the money went.
    pub breakdown: SettlementBreakdown,
    /// The postings, idempotency key `settle:<order_ref>`.
    pub transaction: Transaction,
}

/// Settle an order: move the gross (plus the fee when the customer bears
/// it) out of `escrow:<order_ref>` and split it under `policy`.
///
/// Commission: the gross is split into the worker's part and the
/// commission; the processor fee comes out of the bearer's part; the
/// commission is split into reserve, solidarity, community and coop
/// revenue; for a CAE worker `cae_fee_bp` of the worker's part goes to the
/// CAE. Subscription: the whole gross goes to the worker (less the CAE fee).
/// Every split uses [`split_proportional`], so the lines sum exactly.
pub fn settle(
    gross: Money,
    policy: &SplitPolicy,
    status: &WorkerStatus,
    worker_member_id: i64,
    order_ref: &str,
    at: i64,
) -> Result<Settlement, LedgerError> {
    policy.validate()?;
    if gross.amount <= 0 {
        return Err(LedgerError::NonPositiveAmount {
            what: "gross",
            amount: gross.amount,
        });
    }
    if policy.effective_from > at {
        return Err(LedgerError::InvalidPolicy(format!(
            "version {} takes effect at {} ms, after this settlement at {at} ms",
            policy.version, policy.effective_from
        )));
    }
    let escrow = AccountKind::escrow(order_ref)?;
    let wallet = AccountKind::MemberWallet(worker_member_id);
    wallet.validate()?;
    let cae = match status {
        WorkerStatus::Cae { name } => Some(AccountKind::cae(name)?),
        _ => None,
    };

    let g = gross.amount;
    let mut b = SettlementBreakdown {
        currency: gross.currency,
        gross: g,
        escrow_debit: g,
        commission: 0,
        reserve: 0,
        solidarity: 0,
        community: 0,
        coop_revenue: 0,
        processor_fee: 0,
        cae_fee: 0,
        worker_net: 0,
    };
    let (worker_part, cae_fee_bp) = match &policy.terms {
        SplitTerms::Commission {
            worker_share_bp,
            reserve_share_of_commission_bp: r,
            solidarity_share_of_commission_bp: s,
            community_share_of_commission_bp: c,
            processor_fee_borne_by,
            cae_fee_bp,
            ..
        } => {
            let parts = split_proportional(g, &[*worker_share_bp, BP_WHOLE - worker_share_bp])?;
            let (mut worker_part, commission) = (parts[0], parts[1]);
            let fee = policy.processor_fee(g)?;
            b.commission = commission;
            b.processor_fee = fee;
            let mut to_divide = commission;
            let exceeds = |part: i64| LedgerError::FeeExceedsShare {
                fee,
                bearer: processor_fee_borne_by.name(),
                part,
            };
            match processor_fee_borne_by {
                FeeBearer::Worker if fee > worker_part => return Err(exceeds(worker_part)),
                FeeBearer::Worker => worker_part -= fee,
                FeeBearer::Coop if fee > commission => return Err(exceeds(commission)),
                FeeBearer::Coop => to_divide -= fee,
                FeeBearer::Customer => {
                    b.escrow_debit = g.checked_add(fee).ok_or(LedgerError::Overflow)?;
                }
            }
            let rest = BP_WHOLE - r - s - c;
            let shares = split_proportional(to_divide, &[*r, *s, *c, rest])?;
            b.reserve = shares[0];
            b.solidarity = shares[1];
            b.community = shares[2];
            b.coop_revenue = shares[3];
            (worker_part, *cae_fee_bp)
        }
        SplitTerms::Subscription { cae_fee_bp, .. } => (g, *cae_fee_bp),
    };
    if cae.is_some() {
        let parts = split_proportional(worker_part, &[cae_fee_bp, BP_WHOLE - cae_fee_bp])?;
        b.cae_fee = parts[0];
        b.worker_net = parts[1];
    } else {
        b.worker_net = worker_part;
    }

    let lines = [
        (escrow, -b.escrow_debit),
        (wallet, b.worker_net),
        (AccountKind::IndivisibleReserve, b.reserve),
        (AccountKind::SolidarityFund, b.solidarity),
        (AccountKind::CommunityFund, b.community),
        (AccountKind::CoopRevenue, b.coop_revenue),
        (AccountKind::ProcessorFees, b.processor_fee),
    ];
    let mut postings: Vec<Posting> = lines
        .into_iter()
        .filter(|(_, amount)| *amount != 0)
        .map(|(account, amount)| Posting::new(account, amount, gross.currency))
        .collect();
    if let Some(cae) = cae.filter(|_| b.cae_fee != 0) {
        postings.push(Posting::new(cae, b.cae_fee, gross.currency));
    }
    let transaction = Transaction {
        idempotency_key: format!("settle:{order_ref}"),
        kind: kinds::SETTLEMENT.to_string(),
        memo: format!(
            "order {order_ref} settled under split policy v{}",
            policy.version
        ),
        postings,
        created_at: at,
    };
    transaction.validate()?;
    Ok(Settlement {
        policy_version: policy.version,
        order_ref: order_ref.to_string(),
        worker_member_id,
        breakdown: b,
        transaction,
    })
}

/// The transaction charging a worker the subscription fee for one period:
/// wallet to subscription revenue, key `subscription:<member>:<period_key>`
/// (e.g. the period's start in ms) so a period is charged once. `None` when
/// the policy is a commission or the fee is zero.
pub fn subscription_fee(
    policy: &SplitPolicy,
    worker_member_id: i64,
    period_key: &str,
    currency: Currency,
    at: i64,
) -> Result<Option<Transaction>, LedgerError> {
    policy.validate()?;
    let SplitTerms::Subscription { fee_per_period, .. } = &policy.terms else {
        return Ok(None);
    };
    if *fee_per_period == 0 {
        return Ok(None);
    }
    let tx = Transaction {
        idempotency_key: format!("subscription:{worker_member_id}:{period_key}"),
        kind: kinds::SUBSCRIPTION_FEE.to_string(),
        memo: format!("subscription fee under split policy v{}", policy.version),
        postings: vec![
            Posting::new(
                AccountKind::MemberWallet(worker_member_id),
                -fee_per_period,
                currency,
            ),
            Posting::new(AccountKind::SubscriptionRevenue, *fee_per_period, currency),
        ],
        created_at: at,
    };
    tx.validate()?;
    Ok(Some(tx))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::transaction::Balances;

    const EUR: Currency = Currency::EUR;

    fn commission(bearer: FeeBearer) -> SplitPolicy {
        SplitPolicy {
            version: 3,
            effective_from: 1_000,
            terms: SplitTerms::Commission {
                worker_share_bp: 8_000,
                reserve_share_of_commission_bp: 5_000,
                solidarity_share_of_commission_bp: 2_000,
                community_share_of_commission_bp: 1_000,
                processor_fee_bp: 140,
                processor_fee_fixed: 25,
                processor_fee_borne_by: bearer,
                cae_fee_bp: 1_000,
            },
        }
    }

    /// The settlement's postings as (account code, amount), in order.
    fn lines(s: &Settlement) -> Vec<(String, i64)> {
        s.transaction
            .postings
            .iter()
            .map(|p| (p.account.code(), p.amount.amount))
            .collect()
    }

    fn check(s: &Settlement, expected: &[(&str, i64)]) {
        let expected: Vec<(String, i64)> =
            expected.iter().map(|(a, n)| (a.to_string(), *n)).collect();
        assert_eq!(lines(s), expected);
        assert_eq!(s.transaction.validate(), Ok(()));
    }

    #[test]
    fn commission_fee_borne_by_worker() {
        let s = settle(
            Money::new(1000, EUR),
            &commission(FeeBearer::Worker),
            &WorkerStatus::Independent,
            42,
            "order-17",
            2_000,
        )
        .unwrap();
        // Worker 80 % = 800, commission 200. Fee 1.4 % of 1000 = 14, + 25 = 39,
        // from the worker: 761. Commission: reserve 50 % = 100, solidarity
        // 20 % = 40, community 10 % = 20, revenue the remaining 20 % = 40.
        // 761 + 100 + 40 + 20 + 40 + 39 = 1000.
        check(
            &s,
            &[
                ("escrow:order-17", -1000),
                ("wallet:42", 761),
                ("reserve", 100),
                ("solidarity", 40),
                ("community", 20),
                ("revenue", 40),
                ("processor-fees", 39),
            ],
        );
        assert_eq!(s.policy_version, 3);
        assert_eq!(s.breakdown.commission, 200);
        assert_eq!(s.transaction.idempotency_key, "settle:order-17");
        assert_eq!(s.transaction.created_at, 2_000);
    }

    #[test]
    fn odd_cents_keep_the_sum_exact() {
        let s = settle(
            Money::new(1001, EUR),
            &commission(FeeBearer::Worker),
            &WorkerStatus::Independent,
            42,
            "o",
            2_000,
        )
        .unwrap();
        // 1001 * 80 % = 800.8 and * 20 % = 200.2: the leftover cent goes to
        // the larger remainder, the worker: 801 / 200. Fee 14.014 -> 14, + 25
        // = 39; worker 801 - 39 = 762. Commission 200 as above.
        // 762 + 100 + 40 + 20 + 40 + 39 = 1001.
        check(
            &s,
            &[
                ("escrow:o", -1001),
                ("wallet:42", 762),
                ("reserve", 100),
                ("solidarity", 40),
                ("community", 20),
                ("revenue", 40),
                ("processor-fees", 39),
            ],
        );
        // 1003: worker 802.4 -> 802, commission 200.6 -> 201 (larger remainder).
        // Commission 201: reserve 100.5, solidarity 40.2, community 20.1,
        // revenue 40.2 -> floors 100/40/20/40 = 200, leftover cent to the
        // reserve (remainder .5). Fee 14.042 -> 14 + 25 = 39; worker 763.
        let s = settle(
            Money::new(1003, EUR),
            &commission(FeeBearer::Worker),
            &WorkerStatus::Independent,
            42,
            "o",
            2_000,
        )
        .unwrap();
        check(
            &s,
            &[
                ("escrow:o", -1003),
                ("wallet:42", 763),
                ("reserve", 101),
                ("solidarity", 40),
                ("community", 20),
                ("revenue", 40),
                ("processor-fees", 39),
            ],
        );
    }

    #[test]
    fn cae_worker_with_fee_borne_by_coop() {
        let mut policy = commission(FeeBearer::Coop);
        if let SplitTerms::Commission {
            processor_fee_bp,
            processor_fee_fixed,
            ..
        } = &mut policy.terms
        {
            *processor_fee_bp = 0;
            *processor_fee_fixed = 30;
        }
        let status = WorkerStatus::Cae {
            name: "coopaname".into(),
        };
        let s = settle(Money::new(1000, EUR), &policy, &status, 7, "o", 2_000).unwrap();
        // Worker 800: CAE 10 % = 80, wallet 720. Commission 200 - fee 30 = 170:
        // reserve 85, solidarity 34, community 17, revenue 34.
        // 720 + 85 + 34 + 17 + 34 + 30 + 80 = 1000.
        check(
            &s,
            &[
                ("escrow:o", -1000),
                ("wallet:7", 720),
                ("reserve", 85),
                ("solidarity", 34),
                ("community", 17),
                ("revenue", 34),
                ("processor-fees", 30),
                ("cae:coopaname", 80),
            ],
        );
    }

    #[test]
    fn customer_borne_fee_is_added_to_the_charge() {
        let policy = commission(FeeBearer::Customer);
        assert_eq!(
            policy.customer_charge(Money::new(1000, EUR)).unwrap(),
            Money::new(1039, EUR)
        );
        let s = settle(
            Money::new(1000, EUR),
            &policy,
            &WorkerStatus::Salaried,
            42,
            "o",
            2_000,
        )
        .unwrap();
        // Escrow gives 1039: 800 worker, commission 200 divided in full, fee 39.
        check(
            &s,
            &[
                ("escrow:o", -1039),
                ("wallet:42", 800),
                ("reserve", 100),
                ("solidarity", 40),
                ("community", 20),
                ("revenue", 40),
                ("processor-fees", 39),
            ],
        );
    }

    #[test]
    fn subscription_keeps_the_gross_for_the_worker() {
        let policy = SplitPolicy {
            version: 1,
            effective_from: 0,
            terms: SplitTerms::Subscription {
                fee_per_period: 2500,
                period_days: 7,
                cae_fee_bp: 1000,
            },
        };
        let s = settle(
            Money::new(1001, EUR),
            &policy,
            &WorkerStatus::Independent,
            5,
            "o",
            0,
        )
        .unwrap();
        check(&s, &[("escrow:o", -1001), ("wallet:5", 1001)]);
        let cae = WorkerStatus::Cae {
            name: "oxalis".into(),
        };
        let s = settle(Money::new(1001, EUR), &policy, &cae, 5, "o", 0).unwrap();
        // 10 % of 1001 = 100.1 -> 100 to the CAE, 901 to the wallet.
        check(
            &s,
            &[("escrow:o", -1001), ("wallet:5", 901), ("cae:oxalis", 100)],
        );

        let fee = subscription_fee(&policy, 5, "week-1", EUR, 0)
            .unwrap()
            .unwrap();
        assert_eq!(fee.idempotency_key, "subscription:5:week-1");
        let mut balances = Balances::new();
        // A wallet with too little refuses the fee, like any overdraft.
        assert!(balances.apply(&fee).is_err());
        assert_eq!(
            subscription_fee(&commission(FeeBearer::Coop), 5, "w", EUR, 0),
            Ok(None)
        );
    }

    #[test]
    fn fee_larger_than_the_bearers_part_is_refused() {
        let err = settle(
            Money::new(20, EUR),
            &commission(FeeBearer::Coop),
            &WorkerStatus::Independent,
            1,
            "o",
            2_000,
        )
        .unwrap_err();
        // Commission 4, fee 0 + 25 = 25.
        assert_eq!(
            err.to_string(),
            "processor fee of 25 minor units exceeds the coop part of 4: lower the fee or change who bears it"
        );
    }

    #[test]
    fn policy_validation() {
        assert_eq!(commission(FeeBearer::Worker).validate(), Ok(()));
        let mut p = commission(FeeBearer::Worker);
        if let SplitTerms::Commission {
            worker_share_bp, ..
        } = &mut p.terms
        {
            *worker_share_bp = 10_001;
        }
        assert_eq!(
            p.validate().unwrap_err().to_string(),
            "invalid split policy: worker_share_bp is 10001 bp, above 10000 bp (100 %)"
        );
        let mut p = commission(FeeBearer::Worker);
        if let SplitTerms::Commission {
            reserve_share_of_commission_bp,
            ..
        } = &mut p.terms
        {
            *reserve_share_of_commission_bp = 8_000;
        }
        assert!(
            p.validate()
                .unwrap_err()
                .to_string()
                .contains("sum to 11000 bp")
        );
        let p = SplitPolicy {
            version: 1,
            effective_from: 0,
            terms: SplitTerms::Subscription {
                fee_per_period: 1,
                period_days: 0,
                cae_fee_bp: 0,
            },
        };
        assert!(p.validate().is_err());
    }

    #[test]
    fn settlement_checks_inputs() {
        let p = commission(FeeBearer::Worker);
        let ind = WorkerStatus::Independent;
        assert!(matches!(
            settle(Money::new(0, EUR), &p, &ind, 1, "o", 2_000),
            Err(LedgerError::NonPositiveAmount { .. })
        ));
        // Policy v3 takes effect at 1000 ms.
        assert!(settle(Money::new(10, EUR), &p, &ind, 1, "o", 999).is_err());
        assert!(settle(Money::new(100, EUR), &p, &ind, 1, "bad ref", 2_000).is_err());
        let bad_cae = WorkerStatus::Cae {
            name: String::new(),
        };
        assert!(settle(Money::new(100, EUR), &p, &bad_cae, 1, "o", 2_000).is_err());
    }

    #[test]
    fn policy_in_effect_is_the_latest_started() {
        let mut v1 = commission(FeeBearer::Worker);
        v1.version = 1;
        v1.effective_from = 0;
        let mut v2 = v1.clone();
        v2.version = 2;
        v2.effective_from = 100;
        let policies = [v2.clone(), v1.clone()];
        assert_eq!(SplitPolicy::in_effect(&policies, -1), None);
        assert_eq!(SplitPolicy::in_effect(&policies, 99).unwrap().version, 1);
        assert_eq!(SplitPolicy::in_effect(&policies, 100).unwrap().version, 2);
    }

    #[test]
    fn settlements_always_balance() {
        let statuses = [
            WorkerStatus::Independent,
            WorkerStatus::Cae { name: "c".into() },
        ];
        for bearer in [FeeBearer::Worker, FeeBearer::Coop, FeeBearer::Customer] {
            for status in &statuses {
                for gross in [200, 1001, 12_345, 1_000_003] {
                    let s = settle(
                        Money::new(gross, EUR),
                        &commission(bearer),
                        status,
                        1,
                        "o",
                        2_000,
                    )
                    .unwrap();
                    assert_eq!(s.transaction.validate(), Ok(()), "{bearer:?} {gross}");
                    let b = &s.breakdown;
                    let out = b.worker_net
                        + b.reserve
                        + b.solidarity
                        + b.community
                        + b.coop_revenue
                        + b.processor_fee
                        + b.cae_fee;
                    assert_eq!(out, b.escrow_debit);
                }
            }
        }
    }
}
