//! The per-period earnings floor run: for each worker active in a month,
//! compute effective hourly earnings over on-shift time
//! ([`crate::ledger::floor::compute_floor`]), then top up from the
//! solidarity fund or flag the shortfall publicly as the floor's policy
//! says, charge the subscription fee under a subscription split, and record
//! the result once.
//!
//! Before any worker, floor debts are paid back from the solidarity fund
//! (all of them, or each in proportion to what is owed when the fund is
//! short): a debt is paid before any new top-up.
//!
//! Rules, in the order applied to each worker:
//! 1. Earnings are the worker's net from settlements dated in the month in
//!    the floor's currency; on-shift time is every shift clipped to the
//!    month (a shift still open counts up to the month's end). The floor
//!    is, at every moment, the higher of the coop's floor and the legal
//!    minimum reference in force for its country
//!    ([`crate::ledger::legal_minimum`]), even with no coop floor at all.
//! 2. A shortfall under `top-up` is paid from the solidarity fund as far as
//!    the fund goes; whatever the fund cannot cover is booked as the coop's
//!    debt to the worker (`floor-debt:<member>`, shown on their statement
//!    and the public report). Under `flag` (a transitional choice only a
//!    vote can make) nothing is paid and the whole shortfall is flagged.
//! 3. Under a subscription split, the month's fee (the fee per period,
//!    pro rata for the month's days over the period's, rounded down) is
//!    then taken from the wallet, as far as the wallet goes (a worker is
//!    never put in debt).
//! 4. The row, the top-up and the fee are written in one transaction: a
//!    worker's month is computed once, whoever runs it and however often.

use serde::Serialize;
use sqlx::{AnyConnection, Row};

use crate::db::Db;
use crate::error::{Error, Result};
use crate::ledger::account::AccountKind;
use crate::ledger::floor::{FloorRate, compute_floor, guaranteed_rates};
use crate::ledger::legal_minimum;
use crate::ledger::money::Currency;
use crate::ledger::period::Month;
use crate::ledger::policies::{self, OnShortfall};
use crate::ledger::repo;
use crate::ledger::split::SplitTerms;
use crate::ledger::transaction::{Posting, Transaction, kinds};
use crate::shifts;

/// One worker's month, as recorded.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct WorkerMonth {
    /// The worker.
    pub member_id: i64,
    /// The month.
    pub period: Month,
    /// The floor's currency.
    pub currency: String,
    /// On-shift time in the month, waiting included.
    pub on_shift_ms: i64,
    /// Net earned from settlements in the month.
    pub earned: i64,
    /// What the floor guarantees for the on-shift time.
    pub floor_owed: i64,
    /// `max(0, floor_owed - earned)`.
    pub shortfall: i64,
    /// Paid from the solidarity fund.
    pub topped_up: i64,
    /// Whether a shortfall was left unpaid and is published (`flag` mode).
    pub flagged: bool,
    /// What the fund could not top up, booked as the coop's debt to the
    /// worker and paid back first when the fund has money.
    pub booked_as_debt: i64,
    /// Subscription fee taken for the month.
    pub subscription_fee: i64,
    /// When the month was computed.
    pub computed_at: i64,
}

impl WorkerMonth {
    /// Earnings (top-up included) per on-shift hour, rounded toward zero;
    /// `None` without on-shift time.
    pub fn effective_hourly(&self) -> Option<i64> {
        (self.on_shift_ms > 0).then(|| {
            let paid = i128::from(self.earned) + i128::from(self.topped_up);
            (paid * 3_600_000 / i128::from(self.on_shift_ms)) as i64
        })
    }
}

const COLUMNS: &str = "member_id, period_start, currency, on_shift_ms, earned, floor_owed, shortfall, \
                       topped_up, flagged, subscription_fee, computed_at, booked_as_debt";

fn from_row(r: &sqlx::any::AnyRow) -> WorkerMonth {
    WorkerMonth {
        member_id: r.get(0),
        period: Month::containing(r.get(1)),
        currency: r.get(2),
        on_shift_ms: r.get(3),
        earned: r.get(4),
        floor_owed: r.get(5),
        shortfall: r.get(6),
        topped_up: r.get(7),
        flagged: r.get::<i64, _>(8) != 0,
        subscription_fee: r.get(9),
        computed_at: r.get(10),
        booked_as_debt: r.get(11),
    }
}

/// Run the floor for `month` in coop `coop_id`. The month must be over.
/// Workers already computed keep their recorded result; the answer lists
/// every worker of the month.
pub async fn run(db: &Db, coop_id: i64, month: Month, now_ms: i64) -> Result<Vec<WorkerMonth>> {
    let (start, end) = month.bounds();
    if end > now_ms {
        return Err(Error::Invalid(format!(
            "{month} has not ended yet: a month's floor is computed once it is over"
        )));
    }
    let history = policies::floor_history(db, coop_id).await?;
    let in_effect_at_end = history
        .iter()
        .filter(|r| r.rate.effective_from < end)
        .max_by_key(|r| r.version);
    let currency = in_effect_at_end
        .map(|r| r.currency.clone())
        .unwrap_or_else(|| "EUR".to_string());
    let on_shortfall = in_effect_at_end.map_or(OnShortfall::TopUp, |r| r.on_shortfall);
    // Rates in the floor's currency; each applies until the next one,
    // lifted to the legal minimum wherever that is higher.
    let coop_rates: Vec<FloorRate> = history
        .iter()
        .filter(|r| r.currency == currency)
        .map(|r| r.rate)
        .collect();
    let legal = {
        let mut conn = db.pool.acquire().await?;
        legal_minimum::for_coop(&mut conn, coop_id, &currency).await?
    };
    let rates = guaranteed_rates(&coop_rates, &legal_minimum::rates(&legal));
    let cur = Currency::parse(&currency).map_err(|e| Error::Internal(e.into()))?;
    repay_debts(db, coop_id, cur, month, now_ms).await?;
    let split = policies::split_in_effect(db, coop_id, end - 1).await?;
    // The month's fee: the policy's fee per period of `period_days`, pro
    // rata for the month's days, rounded down (in the worker's favour).
    let fee_per_period = match split.as_ref().map(|p| &p.terms) {
        Some(SplitTerms::Subscription {
            fee_per_period,
            period_days,
            ..
        }) if *period_days > 0 => {
            let month_days = (end - start) / 86_400_000;
            let fee =
                i128::from(*fee_per_period) * i128::from(month_days) / i128::from(*period_days);
            i64::try_from(fee).unwrap_or(i64::MAX)
        }
        _ => 0,
    };

    let workers: Vec<i64> = sqlx::query(
        "SELECT member_id FROM shifts WHERE coop_id = $1 AND started_at < $2 AND (ended_at IS NULL OR ended_at > $3) \
         UNION SELECT member_id FROM settlements WHERE coop_id = $1 AND settled_at >= $3 AND settled_at < $2 \
         AND currency = $4 ORDER BY 1",
    )
    .bind(coop_id)
    .bind(end)
    .bind(start)
    .bind(&currency)
    .fetch_all(&db.pool)
    .await?
    .iter()
    .map(|r| r.get(0))
    .collect();

    let mut out = Vec::with_capacity(workers.len());
    for member in workers {
        if let Some(done) = recorded(db, coop_id, member, month).await? {
            out.push(done);
            continue;
        }
        let shifts: Vec<(i64, i64)> = shifts::list(db, coop_id, member, start, end)
            .await?
            .iter()
            .map(|s| (s.started_at, s.ended_at.unwrap_or(end)))
            .collect();
        let settlements: Vec<(i64, i64)> = sqlx::query(
            "SELECT settled_at, worker_net FROM settlements WHERE coop_id = $1 AND member_id = $2 \
             AND currency = $3 AND settled_at >= $4 AND settled_at < $5",
        )
        .bind(coop_id)
        .bind(member)
        .bind(&currency)
        .bind(start)
        .bind(end)
        .fetch_all(&db.pool)
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
        let floor = compute_floor((start, end), &shifts, &settlements, &rates)
            .map_err(|e| Error::Internal(e.into()))?;

        let mut tx = db.begin_write().await?;
        let mut topped_up = 0;
        let mut flagged = false;
        let mut booked_as_debt = 0;
        if floor.shortfall > 0 {
            match on_shortfall {
                OnShortfall::TopUp => {
                    let fund =
                        balance_in(&mut tx, coop_id, &AccountKind::SolidarityFund, cur).await?;
                    topped_up = floor.shortfall.min(fund.max(0));
                    booked_as_debt = floor.shortfall - topped_up;
                    if booked_as_debt > 0 {
                        let t = transfer(
                            format!("floor-debt:{member}:{start}-{end}"),
                            kinds::FLOOR_DEBT,
                            format!(
                                "earnings floor {month}: the solidarity fund could not top up \
                                 {booked_as_debt}; owed by the coop, paid back first"
                            ),
                            AccountKind::FloorCommitment,
                            AccountKind::FloorDebt(member),
                            booked_as_debt,
                            cur,
                            now_ms,
                        );
                        repo::post_in(&mut tx, coop_id, &t).await?;
                    }
                    if topped_up > 0 {
                        let t = transfer(
                            format!("floor:{member}:{start}-{end}"),
                            kinds::FLOOR_TOP_UP,
                            format!(
                                "earnings floor {month}: earned {} for a floor of {} over {} min on shift",
                                floor.earned,
                                floor.floor_owed,
                                floor.on_shift_ms / 60_000
                            ),
                            AccountKind::SolidarityFund,
                            AccountKind::MemberWallet(member),
                            topped_up,
                            cur,
                            now_ms,
                        );
                        repo::post_in(&mut tx, coop_id, &t).await?;
                    }
                }
                OnShortfall::Flag => flagged = true,
            }
        }
        let mut fee = 0;
        if fee_per_period > 0 {
            let wallet =
                balance_in(&mut tx, coop_id, &AccountKind::MemberWallet(member), cur).await?;
            fee = fee_per_period.min(wallet.max(0));
            if fee > 0 {
                let t = transfer(
                    format!("subscription:{member}:{month}"),
                    kinds::SUBSCRIPTION_FEE,
                    format!(
                        "subscription fee {month} under split policy v{}",
                        split.as_ref().map_or(0, |p| p.version)
                    ),
                    AccountKind::MemberWallet(member),
                    AccountKind::SubscriptionRevenue,
                    fee,
                    cur,
                    now_ms,
                );
                repo::post_in(&mut tx, coop_id, &t).await?;
            }
        }
        let row = WorkerMonth {
            member_id: member,
            period: month,
            currency: currency.clone(),
            on_shift_ms: floor.on_shift_ms,
            earned: floor.earned,
            floor_owed: floor.floor_owed,
            shortfall: floor.shortfall,
            topped_up,
            flagged,
            subscription_fee: fee,
            computed_at: now_ms,
            booked_as_debt,
        };
        sqlx::query(
            "INSERT INTO floor_results (coop_id, member_id, period_start, period_end, currency, on_shift_ms, \
             earned, floor_owed, shortfall, topped_up, flagged, subscription_fee, computed_at, booked_as_debt) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(coop_id)
        .bind(member)
        .bind(start)
        .bind(end)
        .bind(&currency)
        .bind(row.on_shift_ms)
        .bind(row.earned)
        .bind(row.floor_owed)
        .bind(row.shortfall)
        .bind(row.topped_up)
        .bind(i64::from(row.flagged))
        .bind(row.subscription_fee)
        .bind(now_ms)
        .bind(row.booked_as_debt)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        out.push(row);
    }
    Ok(out)
}

/// Pay floor debts in `cur` back from the solidarity fund, before the
/// month's top-ups: everything owed when the fund suffices, else the fund
/// shared in proportion to each worker's debt (rounded down, the leftover
/// minor units to the largest debts first). Keyed per worker and run
/// month, so a month's run pays back once however often it runs. Returns
/// what was paid back.
pub async fn repay_debts(
    db: &Db,
    coop_id: i64,
    cur: Currency,
    month: Month,
    now_ms: i64,
) -> Result<i64> {
    let mut tx = db.begin_write().await?;
    let owed: Vec<(i64, i64)> = sqlx::query(
        "SELECT code, balance FROM ledger_accounts WHERE coop_id = $1 AND currency = $2 \
         AND code LIKE 'floor-debt:%' AND balance > 0 ORDER BY balance DESC, code",
    )
    .bind(coop_id)
    .bind(cur.as_str())
    .fetch_all(&mut *tx)
    .await?
    .iter()
    .filter_map(|r| match AccountKind::parse(&r.get::<String, _>(0)) {
        Ok(AccountKind::FloorDebt(m)) => Some((m, r.get::<i64, _>(1))),
        _ => None,
    })
    .collect();
    let key = |m: i64| format!("floor-debt-repaid:{m}:{month}");
    let mut due = Vec::new();
    for (m, debt) in owed {
        let done = sqlx::query(
            "SELECT 1 FROM ledger_transactions WHERE coop_id = $1 AND idempotency_key = $2",
        )
        .bind(coop_id)
        .bind(key(m))
        .fetch_optional(&mut *tx)
        .await?;
        if done.is_none() {
            due.push((m, debt));
        }
    }
    let fund = balance_in(&mut tx, coop_id, &AccountKind::SolidarityFund, cur).await?;
    let pay = share_out(fund.max(0), &due);
    let mut total = 0;
    for ((m, _), amount) in due.iter().zip(pay) {
        if amount == 0 {
            continue;
        }
        let t = Transaction {
            idempotency_key: key(*m),
            kind: kinds::FLOOR_DEBT_REPAID.to_string(),
            memo: format!("floor debt paid back from the solidarity fund at the {month} run"),
            postings: vec![
                Posting::new(AccountKind::SolidarityFund, -amount, cur),
                Posting::new(AccountKind::MemberWallet(*m), amount, cur),
                Posting::new(AccountKind::FloorDebt(*m), -amount, cur),
                Posting::new(AccountKind::FloorCommitment, amount, cur),
            ],
            created_at: now_ms,
        };
        repo::post_in(&mut tx, coop_id, &t).await?;
        total += amount;
    }
    tx.commit().await?;
    Ok(total)
}

/// Share `fund` among `debts` (member, amount): each debt in full if the
/// fund covers them all, else in proportion, rounded down, with the
/// leftover minor units one each to the debts in order.
fn share_out(fund: i64, debts: &[(i64, i64)]) -> Vec<i64> {
    let total: i128 = debts.iter().map(|(_, d)| i128::from(*d)).sum();
    if i128::from(fund) >= total {
        return debts.iter().map(|(_, d)| *d).collect();
    }
    let mut pay: Vec<i64> = debts
        .iter()
        .map(|(_, d)| (i128::from(fund) * i128::from(*d) / total) as i64)
        .collect();
    let mut left = fund - pay.iter().sum::<i64>();
    for (p, (_, d)) in pay.iter_mut().zip(debts) {
        if left == 0 {
            break;
        }
        if *p < *d {
            *p += 1;
            left -= 1;
        }
    }
    pay
}

/// What the coop owes its workers under the floor and has not paid yet,
/// per currency (minus the commitment account's balance).
pub async fn debt_outstanding(db: &Db, coop_id: i64) -> Result<Vec<(String, i64)>> {
    Ok(sqlx::query(
        "SELECT currency, balance FROM ledger_accounts WHERE coop_id = $1 \
         AND code = 'floor-commitment' AND balance < 0 ORDER BY currency",
    )
    .bind(coop_id)
    .fetch_all(&db.pool)
    .await?
    .iter()
    .map(|r| (r.get(0), -r.get::<i64, _>(1)))
    .collect())
}

/// What the coop owes `member_id` under the floor now, in `currency`.
pub async fn owed_to(db: &Db, coop_id: i64, member_id: i64, currency: &str) -> Result<i64> {
    Ok(sqlx::query(
        "SELECT balance FROM ledger_accounts WHERE coop_id = $1 AND code = $2 AND currency = $3",
    )
    .bind(coop_id)
    .bind(AccountKind::FloorDebt(member_id).code())
    .bind(currency)
    .fetch_optional(&db.pool)
    .await?
    .map_or(0, |r| r.get(0)))
}

#[allow(clippy::too_many_arguments)]
fn transfer(
    key: String,
    kind: &str,
    memo: String,
    from: AccountKind,
    to: AccountKind,
    amount: i64,
    currency: Currency,
    at: i64,
) -> Transaction {
    Transaction {
        idempotency_key: key,
        kind: kind.to_string(),
        memo,
        postings: vec![
            Posting::new(from, -amount, currency),
            Posting::new(to, amount, currency),
        ],
        created_at: at,
    }
}

async fn balance_in(
    conn: &mut AnyConnection,
    coop_id: i64,
    account: &AccountKind,
    currency: Currency,
) -> Result<i64> {
    let row = sqlx::query(
        "SELECT balance FROM ledger_accounts WHERE coop_id = $1 AND code = $2 AND currency = $3",
    )
    .bind(coop_id)
    .bind(account.code())
    .bind(currency.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map_or(0, |r| r.get(0)))
}

/// The recorded month of one worker, if it was computed.
pub async fn recorded(
    db: &Db,
    coop_id: i64,
    member_id: i64,
    month: Month,
) -> Result<Option<WorkerMonth>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM floor_results WHERE coop_id = $1 AND member_id = $2 AND period_start = $3"
    ))
    .bind(coop_id)
    .bind(member_id)
    .bind(month.start_ms())
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.as_ref().map(from_row))
}

/// Every worker's recorded result for `month` (admins).
pub async fn results(db: &Db, coop_id: i64, month: Month) -> Result<Vec<WorkerMonth>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM floor_results WHERE coop_id = $1 AND period_start = $2 ORDER BY member_id"
    ))
    .bind(coop_id)
    .bind(month.start_ms())
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.iter().map(from_row).collect())
}

/// A month of the coop's floor, with no one named: what the public report
/// shows.
#[derive(Clone, Debug, Serialize)]
pub struct MonthSummary {
    /// The month.
    pub period: Month,
    /// Currency of the amounts.
    pub currency: String,
    /// Workers active in the month.
    pub workers: i64,
    /// On-shift hours, all workers, rounded down.
    pub on_shift_hours: i64,
    /// Net earned, all workers.
    pub earned: i64,
    /// What the floor guaranteed, all workers.
    pub floor_owed: i64,
    /// Workers below the floor before any top-up.
    pub workers_below_floor: i64,
    /// Paid from the solidarity fund.
    pub topped_up: i64,
    /// Workers whose shortfall was left unpaid.
    pub workers_flagged: i64,
    /// The unpaid shortfall, all flagged workers.
    pub unpaid_shortfall: i64,
    /// What the fund could not top up, booked as the coop's debt.
    pub booked_as_debt: i64,
}

/// The public floor report: one summary per computed month, newest first.
pub async fn public_report(db: &Db, coop_id: i64, months: i64) -> Result<Vec<MonthSummary>> {
    let rows = sqlx::query(
        "SELECT period_start, currency, COUNT(*), CAST(SUM(on_shift_ms) AS BIGINT), CAST(SUM(earned) AS BIGINT), \
         CAST(SUM(floor_owed) AS BIGINT), CAST(SUM(CASE WHEN shortfall > 0 THEN 1 ELSE 0 END) AS BIGINT), \
         CAST(SUM(topped_up) AS BIGINT), CAST(SUM(flagged) AS BIGINT), \
         CAST(SUM(CASE WHEN flagged = 1 THEN shortfall - topped_up ELSE 0 END) AS BIGINT), \
         CAST(SUM(booked_as_debt) AS BIGINT) \
         FROM floor_results WHERE coop_id = $1 GROUP BY period_start, currency \
         ORDER BY period_start DESC LIMIT $2",
    )
    .bind(coop_id)
    .bind(months)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| MonthSummary {
            period: Month::containing(r.get(0)),
            currency: r.get(1),
            workers: r.get(2),
            on_shift_hours: r.get::<i64, _>(3) / 3_600_000,
            earned: r.get(4),
            floor_owed: r.get(5),
            workers_below_floor: r.get(6),
            topped_up: r.get(7),
            workers_flagged: r.get(8),
            unpaid_shortfall: r.get(9),
            booked_as_debt: r.get(10),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::share_out;

    #[test]
    fn a_short_fund_is_shared_in_proportion_to_the_debts() {
        // Enough for all: each in full.
        assert_eq!(share_out(1_000, &[(1, 300), (2, 200)]), [300, 200]);
        // 100 for debts of 300 and 200: 60 and 40.
        assert_eq!(share_out(100, &[(1, 300), (2, 200)]), [60, 40]);
        // 101 for 300, 200, 100: 50.5, 33.6, 16.8 -> 50, 33, 16, and the
        // two left over go one each to the first debts.
        let paid = share_out(101, &[(1, 300), (2, 200), (3, 100)]);
        assert_eq!(paid, [51, 34, 16]);
        assert_eq!(paid.iter().sum::<i64>(), 101);
        assert_eq!(share_out(0, &[(1, 5)]), [0]);
    }
}
