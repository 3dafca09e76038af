//! The per-period earnings floor run: for each worker active in a month,
//! compute effective hourly earnings over on-shift time
//! ([`crate::ledger::floor::compute_floor`]), then top up from the
//! solidarity fund or flag the shortfall publicly as the floor's policy
//! says, charge the subscription fee under a subscription split, and record
//! the result once.
//!
//! Rules, in the order applied to each worker:
//! 1. Earnings are the worker's net from settlements dated in the month in
//!    the floor's currency; on-shift time is every shift clipped to the
//!    month (a shift still open counts up to the month's end).
//! 2. A shortfall under `top-up` is paid from the solidarity fund as far as
//!    the fund goes; whatever the fund cannot cover is flagged. Under
//!    `flag` nothing is paid and the whole shortfall is flagged.
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
use crate::ledger::floor::{FloorRate, compute_floor};
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
    /// Whether a shortfall was left unpaid and is published.
    pub flagged: bool,
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
                       topped_up, flagged, subscription_fee, computed_at";

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
    // Rates in the floor's currency; each applies until the next one.
    let rates: Vec<FloorRate> = history
        .iter()
        .filter(|r| r.currency == currency)
        .map(|r| r.rate)
        .collect();
    let cur = Currency::parse(&currency).map_err(|e| Error::Internal(e.into()))?;
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
        if floor.shortfall > 0 {
            match on_shortfall {
                OnShortfall::TopUp => {
                    let fund =
                        balance_in(&mut tx, coop_id, &AccountKind::SolidarityFund, cur).await?;
                    topped_up = floor.shortfall.min(fund.max(0));
                    flagged = topped_up < floor.shortfall;
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
        };
        sqlx::query(
            "INSERT INTO floor_results (coop_id, member_id, period_start, period_end, currency, on_shift_ms, \
             earned, floor_owed, shortfall, topped_up, flagged, subscription_fee, computed_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
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
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        out.push(row);
    }
    Ok(out)
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
}

/// The public floor report: one summary per computed month, newest first.
pub async fn public_report(db: &Db, coop_id: i64, months: i64) -> Result<Vec<MonthSummary>> {
    let rows = sqlx::query(
        "SELECT period_start, currency, COUNT(*), CAST(SUM(on_shift_ms) AS BIGINT), CAST(SUM(earned) AS BIGINT), \
         CAST(SUM(floor_owed) AS BIGINT), CAST(SUM(CASE WHEN shortfall > 0 THEN 1 ELSE 0 END) AS BIGINT), \
         CAST(SUM(topped_up) AS BIGINT), CAST(SUM(flagged) AS BIGINT), \
         CAST(SUM(CASE WHEN flagged = 1 THEN shortfall - topped_up ELSE 0 END) AS BIGINT) \
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
        })
        .collect())
}
