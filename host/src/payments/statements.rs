//! Worker statements, per member per month, as JSON and CSV: on-shift
//! hours, gross, commission, fees, floor top-ups, subscription fee, net,
//! and effective hourly pay against the floor.
//!
//! A statement is computed from the records (settlements, shifts, the
//! month's floor result), so the current month's statement is live and a
//! past month's never changes once its floor has run.

use std::fmt::Write as _;

use serde::Serialize;
use sqlx::Row;

use super::floor_run;
use crate::db::Db;
use crate::error::Result;
use crate::ledger::floor::MS_PER_HOUR;
use crate::ledger::period::Month;
use crate::ledger::policies;
use crate::shifts;

/// One settled order on a statement.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Line {
    /// The order (plugin-qualified).
    pub order_ref: String,
    /// When it was settled.
    pub settled_at: i64,
    /// The split policy version applied.
    pub policy_version: i64,
    /// Currency.
    pub currency: String,
    /// Gross.
    pub gross: i64,
    /// The coop's commission.
    pub commission: i64,
    /// Fees the worker bore (processor fee share and CAE fee).
    pub fees: i64,
    /// To the worker's wallet.
    pub net: i64,
}

/// A worker's month.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Statement {
    /// The worker.
    pub member_id: i64,
    /// The month.
    pub period: Month,
    /// Currency of every amount.
    pub currency: String,
    /// On-shift time in the month (waiting included), up to now for the
    /// current month.
    pub on_shift_ms: i64,
    /// Sum of the gross of the month's settlements.
    pub gross: i64,
    /// Sum of the commission.
    pub commission: i64,
    /// Sum of the fees the worker bore.
    pub fees: i64,
    /// Of which CAE fees.
    pub cae_fees: i64,
    /// Floor top-ups for the month (once its floor has run).
    pub top_ups: i64,
    /// The month's subscription fee (once its floor has run).
    pub subscription_fee: i64,
    /// What reached the wallet: settlements' net plus top-ups less the
    /// subscription fee.
    pub net: i64,
    /// `net` per on-shift hour, rounded toward zero.
    pub effective_hourly: Option<i64>,
    /// The floor per hour in effect at the end of the month, if any.
    pub floor_per_hour: Option<i64>,
    /// Whether the month's floor run has computed this worker.
    pub floor_computed: bool,
    /// Whether an unpaid shortfall was flagged.
    pub flagged: bool,
    /// Of the month's shortfall, what the solidarity fund could not top up
    /// and the coop owes (once its floor has run).
    pub booked_as_debt: i64,
    /// What the coop owes the worker under the floor now, all months
    /// together: paid back first when the fund has money.
    pub floor_debt_owed: i64,
    /// The settled orders.
    pub lines: Vec<Line>,
}

/// The statement of `member_id` for `month`, at `now_ms`. Amounts are in
/// the floor's currency (EUR without a floor).
pub async fn statement(
    db: &Db,
    coop_id: i64,
    member_id: i64,
    month: Month,
    now_ms: i64,
) -> Result<Statement> {
    let (start, end) = month.bounds();
    let floors = policies::floor_history(db, coop_id).await?;
    let floor = floors
        .iter()
        .filter(|r| r.rate.effective_from < end)
        .max_by_key(|r| r.version);
    let currency = floor.map_or_else(|| "EUR".to_string(), |f| f.currency.clone());
    let rows = sqlx::query(
        "SELECT order_ref, settled_at, policy_version, currency, gross, commission, worker_fee + cae_fee, \
         worker_net, cae_fee FROM settlements WHERE coop_id = $1 AND member_id = $2 AND currency = $3 \
         AND settled_at >= $4 AND settled_at < $5 ORDER BY settled_at, transaction_id",
    )
    .bind(coop_id)
    .bind(member_id)
    .bind(&currency)
    .bind(start)
    .bind(end)
    .fetch_all(&db.pool)
    .await?;
    let mut cae_fees = 0;
    let lines: Vec<Line> = rows
        .iter()
        .map(|r| {
            cae_fees += r.get::<i64, _>(8);
            Line {
                order_ref: r.get(0),
                settled_at: r.get(1),
                policy_version: r.get(2),
                currency: r.get(3),
                gross: r.get(4),
                commission: r.get(5),
                fees: r.get(6),
                net: r.get(7),
            }
        })
        .collect();
    let upto = end.min(now_ms.max(start + 1));
    let on_shift_ms = if upto > start {
        shifts::list(db, coop_id, member_id, start, upto)
            .await?
            .iter()
            .map(|s| s.ended_at.unwrap_or(upto).min(upto) - s.started_at.max(start))
            .filter(|d| *d > 0)
            .sum()
    } else {
        0
    };
    let result = floor_run::recorded(db, coop_id, member_id, month).await?;
    let top_ups = result.as_ref().map_or(0, |r| r.topped_up);
    let subscription_fee = result.as_ref().map_or(0, |r| r.subscription_fee);
    let settled: i64 = lines.iter().map(|l| l.net).sum();
    let net = settled + top_ups - subscription_fee;
    let floor_debt_owed = floor_run::owed_to(db, coop_id, member_id, &currency).await?;
    Ok(Statement {
        member_id,
        period: month,
        currency,
        on_shift_ms,
        gross: lines.iter().map(|l| l.gross).sum(),
        commission: lines.iter().map(|l| l.commission).sum(),
        fees: lines.iter().map(|l| l.fees).sum(),
        cae_fees,
        top_ups,
        subscription_fee,
        net,
        effective_hourly: (on_shift_ms > 0)
            .then(|| (i128::from(net) * i128::from(MS_PER_HOUR) / i128::from(on_shift_ms)) as i64),
        floor_per_hour: floor.map(|f| f.rate.per_hour),
        floor_computed: result.is_some(),
        flagged: result.as_ref().is_some_and(|r| r.flagged),
        booked_as_debt: result.as_ref().map_or(0, |r| r.booked_as_debt),
        floor_debt_owed,
        lines,
    })
}

/// The members with a statement for `month`: anyone with a shift or a
/// settlement in it.
pub async fn members_with_activity(db: &Db, coop_id: i64, month: Month) -> Result<Vec<i64>> {
    let (start, end) = month.bounds();
    Ok(sqlx::query(
        "SELECT member_id FROM shifts WHERE coop_id = $1 AND started_at < $2 AND (ended_at IS NULL OR ended_at > $3) \
         UNION SELECT member_id FROM settlements WHERE coop_id = $1 AND settled_at >= $3 AND settled_at < $2 \
         ORDER BY 1",
    )
    .bind(coop_id)
    .bind(end)
    .bind(start)
    .fetch_all(&db.pool)
    .await?
    .iter()
    .map(|r| r.get(0))
    .collect())
}

/// The CSV header of [`to_csv`].
pub const CSV_HEADER: &str = "member_id,period,currency,on_shift_hours,gross,commission,fees,top_ups,subscription_fee,net,effective_hourly,floor_per_hour,below_floor,booked_as_debt,floor_debt_owed";

/// Statements as CSV (RFC 4180, comma separated, header first), one row per
/// statement. Amounts are integers in minor units; hours have two decimals.
pub fn to_csv(statements: &[Statement]) -> String {
    let mut out = String::with_capacity(CSV_HEADER.len() + 1 + statements.len() * 96);
    out.push_str(CSV_HEADER);
    out.push_str("\r\n");
    for s in statements {
        let hundredths = s.on_shift_ms / 36_000;
        let below = match (s.effective_hourly, s.floor_per_hour) {
            (Some(h), Some(f)) => (h < f).to_string(),
            _ => String::new(),
        };
        let opt = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
        let _ = write!(
            out,
            "{},{},{},{}.{:02},{},{},{},{},{},{},{},{},{},{},{}\r\n",
            s.member_id,
            s.period,
            s.currency,
            hundredths / 100,
            hundredths % 100,
            s.gross,
            s.commission,
            s.fees,
            s.top_ups,
            s.subscription_fee,
            s.net,
            opt(s.effective_hourly),
            opt(s.floor_per_hour),
            below,
            s.booked_as_debt,
            s.floor_debt_owed
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_has_one_row_per_statement_with_exact_figures() {
        let s = Statement {
            member_id: 7,
            period: "2026-11".parse().unwrap(),
            currency: "EUR".into(),
            on_shift_ms: 10 * 3_600_000 + 30 * 60_000,
            gross: 10_000,
            commission: 2_000,
            fees: 165,
            cae_fees: 0,
            top_ups: 4_215,
            subscription_fee: 0,
            net: 12_050,
            effective_hourly: Some(1_147),
            floor_per_hour: Some(1_188),
            floor_computed: true,
            flagged: false,
            booked_as_debt: 0,
            floor_debt_owed: 300,
            lines: vec![],
        };
        let csv = to_csv(&[s]);
        let mut rows = csv.split("\r\n");
        assert_eq!(rows.next(), Some(CSV_HEADER));
        assert_eq!(
            rows.next(),
            Some("7,2026-11,EUR,10.50,10000,2000,165,4215,0,12050,1147,1188,true,0,300")
        );
        assert_eq!(rows.next(), Some(""));
    }
}
