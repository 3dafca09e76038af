//! The hourly earnings floor: no worker earns less per on-shift hour than
//! the coop's floor (e.g. the French SMIC); a shortfall is topped up from
//! the solidarity fund.
//!
//! On-shift time counts waiting time: it is everything between the shift's
//! start and end as the host recorded them, clipped to the period.

use serde::{Deserialize, Serialize};

use super::account::AccountKind;
use super::error::LedgerError;
use super::money::Currency;
use super::transaction::{Posting, Transaction, kinds};

/// Milliseconds in an hour.
pub const MS_PER_HOUR: i64 = 3_600_000;

/// A floor rate and when it starts to apply; it applies until the next
/// rate's `effective_from`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FloorRate {
    /// From when, in ms since the epoch.
    pub effective_from: i64,
    /// Minor units per on-shift hour.
    pub per_hour: i64,
}

/// A worker's floor computation for one period. Amounts in minor units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FloorResult {
    /// Period start, ms since the epoch (inclusive).
    pub period_start: i64,
    /// Period end, ms since the epoch (exclusive).
    pub period_end: i64,
    /// On-shift time within the period, overlapping shifts counted once.
    pub on_shift_ms: i64,
    /// Net earned by the worker from settlements dated within the period.
    pub earned: i64,
    /// What the floor guarantees for the on-shift time: each millisecond
    /// at the rate in effect at that time, summed, then rounded *up* to a
    /// whole minor unit (rounding favours the worker).
    pub floor_owed: i64,
    /// `earned` per on-shift hour, rounded toward zero; `None` with no
    /// on-shift time. For statements; the shortfall does not use it.
    pub effective_hourly: Option<i64>,
    /// `max(0, floor_owed - earned)`.
    pub shortfall: i64,
}

/// Compute the floor for the half-open period `[period.0, period.1)`.
///
/// `shifts` are `(start, end)` in ms, clipped to the period and merged
/// where they overlap; `settlements` are `(time, net to worker)` and count
/// when their time is within the period; `rates` may be in any order and
/// the time before the first rate has no floor. A period straddling a rate
/// change is computed pro rata by time.
pub fn compute_floor(
    period: (i64, i64),
    shifts: &[(i64, i64)],
    settlements: &[(i64, i64)],
    rates: &[FloorRate],
) -> Result<FloorResult, LedgerError> {
    let (start, end) = period;
    check_interval(start, end)?;
    for &(s, e) in shifts {
        check_interval(s, e)?;
    }
    if let Some(rate) = rates.iter().find(|r| r.per_hour < 0) {
        return Err(LedgerError::NonPositiveAmount {
            what: "floor per hour",
            amount: rate.per_hour,
        });
    }

    let mut clipped: Vec<(i64, i64)> = shifts
        .iter()
        .map(|&(s, e)| (s.max(start), e.min(end)))
        .filter(|(s, e)| s < e)
        .collect();
    clipped.sort_unstable();
    let mut merged: Vec<(i64, i64)> = Vec::with_capacity(clipped.len());
    for (s, e) in clipped {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }

    let mut rates = rates.to_vec();
    rates.sort_by_key(|r| r.effective_from);
    let mut on_shift_ms: i128 = 0;
    // Sum of rate x milliseconds, divided by an hour once at the end so
    // pro rata pieces do not each lose a fraction.
    let mut owed_rate_ms: i128 = 0;
    for &(s, e) in &merged {
        on_shift_ms += i128::from(e - s);
        for (i, rate) in rates.iter().enumerate() {
            let window_end = rates
                .get(i + 1)
                .map_or(i64::MAX, |next| next.effective_from);
            let overlap_start = s.max(rate.effective_from);
            let overlap_end = e.min(window_end);
            if overlap_start < overlap_end {
                owed_rate_ms += i128::from(rate.per_hour) * i128::from(overlap_end - overlap_start);
            }
        }
    }
    let hour = i128::from(MS_PER_HOUR);
    let floor_owed = (owed_rate_ms + hour - 1) / hour;

    let earned: i128 = settlements
        .iter()
        .filter(|(at, _)| (start..end).contains(at))
        .map(|(_, net)| i128::from(*net))
        .sum();
    let effective_hourly = (on_shift_ms > 0).then(|| earned * hour / on_shift_ms);
    let shortfall = (floor_owed - earned).max(0);

    let fit = |v: i128| i64::try_from(v).map_err(|_| LedgerError::Overflow);
    Ok(FloorResult {
        period_start: start,
        period_end: end,
        on_shift_ms: fit(on_shift_ms)?,
        earned: fit(earned)?,
        floor_owed: fit(floor_owed)?,
        effective_hourly: effective_hourly.map(fit).transpose()?,
        shortfall: fit(shortfall)?,
    })
}

impl FloorResult {
    /// The top-up from the solidarity fund to the worker's wallet, or
    /// `None` when there is no shortfall. Keyed
    /// `floor:<member>:<start>-<end>` so a period is topped up once. If
    /// the fund is short, posting it fails and the coop flags the shortfall
    /// publicly instead.
    pub fn top_up(
        &self,
        worker_member_id: i64,
        currency: Currency,
        at: i64,
    ) -> Result<Option<Transaction>, LedgerError> {
        if self.shortfall == 0 {
            return Ok(None);
        }
        let tx = Transaction {
            idempotency_key: format!(
                "floor:{worker_member_id}:{}-{}",
                self.period_start, self.period_end
            ),
            kind: kinds::FLOOR_TOP_UP.to_string(),
            memo: format!(
                "earnings floor top-up: earned {} for a floor of {}",
                self.earned, self.floor_owed
            ),
            postings: vec![
                Posting::new(AccountKind::SolidarityFund, -self.shortfall, currency),
                Posting::new(
                    AccountKind::MemberWallet(worker_member_id),
                    self.shortfall,
                    currency,
                ),
            ],
            created_at: at,
        };
        tx.validate()?;
        Ok(Some(tx))
    }
}

/// The rate each moment is paid at: the higher of the coop's floor and
/// the legal minimum reference in force then (each list applies from each
/// rate's `effective_from` until its next; before a list's first rate it
/// adds nothing). The answer has a rate at every point where either list
/// changes, in order.
pub fn guaranteed_rates(coop: &[FloorRate], legal: &[FloorRate]) -> Vec<FloorRate> {
    let in_force = |rates: &[FloorRate], at: i64| {
        rates
            .iter()
            .filter(|r| r.effective_from <= at)
            .max_by_key(|r| r.effective_from)
            .map_or(0, |r| r.per_hour)
    };
    let mut points: Vec<i64> = coop.iter().chain(legal).map(|r| r.effective_from).collect();
    points.sort_unstable();
    points.dedup();
    points
        .into_iter()
        .map(|at| FloorRate {
            effective_from: at,
            per_hour: in_force(coop, at).max(in_force(legal, at)),
        })
        .collect()
}

fn check_interval(start: i64, end: i64) -> Result<(), LedgerError> {
    if end < start {
        Err(LedgerError::InvalidInterval { start, end })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::transaction::Balances;

    const H: i64 = MS_PER_HOUR;
    const EUR: Currency = Currency::EUR;

    fn smic_change() -> Vec<FloorRate> {
        // 10.00/h, then 12.00/h from hour 5: listed out of order on purpose.
        vec![
            FloorRate {
                effective_from: 5 * H,
                per_hour: 1200,
            },
            FloorRate {
                effective_from: 0,
                per_hour: 1000,
            },
        ]
    }

    #[test]
    fn the_legal_minimum_lifts_a_floor_below_it_from_its_date() {
        // The coop: 10.00/h from 0, 12.50/h from hour 8. The law: 11.00/h
        // from hour 2, 11.50/h from hour 6.
        let coop = [
            FloorRate {
                effective_from: 8 * H,
                per_hour: 1250,
            },
            FloorRate {
                effective_from: 0,
                per_hour: 1000,
            },
        ];
        let legal = [
            FloorRate {
                effective_from: 2 * H,
                per_hour: 1100,
            },
            FloorRate {
                effective_from: 6 * H,
                per_hour: 1150,
            },
        ];
        let merged = guaranteed_rates(&coop, &legal);
        let pairs: Vec<(i64, i64)> = merged
            .iter()
            .map(|r| (r.effective_from / H, r.per_hour))
            .collect();
        assert_eq!(pairs, [(0, 1000), (2, 1100), (6, 1150), (8, 1250)]);
        // Ten hours on shift with nothing earned: 2 h at 10.00 + 4 h at
        // 11.00 + 2 h at 11.50 + 2 h at 12.50 = 20 + 44 + 23 + 25 = 112.00.
        let r = compute_floor((0, 10 * H), &[(0, 10 * H)], &[], &merged).unwrap();
        assert_eq!(r.floor_owed, 11_200);
        // No coop floor at all: the law alone, from its first date.
        let law_only = guaranteed_rates(&[], &legal);
        let r = compute_floor((0, 10 * H), &[(0, 10 * H)], &[], &law_only).unwrap();
        assert_eq!(r.floor_owed, 4 * 1100 + 4 * 1150);
    }

    #[test]
    fn period_straddling_a_rate_change() {
        let shifts = [
            (-H, H),                        // clipped to [0, 1h): 1 h at 10.00
            (4 * H, 6 * H),                 // 1 h at 10.00 + 1 h at 12.00
            (7 * H, 8 * H),                 // merged with the next: [7h, 8.5h)
            (7 * H + H / 2, 8 * H + H / 2), // 1.5 h at 12.00 in all
            (11 * H, 12 * H),               // outside the period
        ];
        let settlements = [(2 * H, 1500), (9 * H, 1600), (11 * H, 5000), (-1, 999)];
        let r = compute_floor((0, 10 * H), &shifts, &settlements, &smic_change()).unwrap();
        // On shift: 1 + 2 + 1.5 = 4.5 h.
        assert_eq!(r.on_shift_ms, 4 * H + H / 2);
        // Floor: 1000 + (1000 + 1200) + 1.5 * 1200 = 5000.
        assert_eq!(r.floor_owed, 5000);
        // Earned within the period: 1500 + 1600 = 3100.
        assert_eq!(r.earned, 3100);
        // 3100 / 4.5 h = 688.88... -> 688.
        assert_eq!(r.effective_hourly, Some(688));
        assert_eq!(r.shortfall, 1900);

        let mut balances = Balances::new();
        let fund = Transaction {
            idempotency_key: "fund".into(),
            kind: "test".into(),
            memo: String::new(),
            postings: vec![
                Posting::new(AccountKind::ExternalClearing, -5000, EUR),
                Posting::new(AccountKind::SolidarityFund, 5000, EUR),
            ],
            created_at: 0,
        };
        balances.apply(&fund).unwrap();
        let tx = r.top_up(42, EUR, 10 * H).unwrap().unwrap();
        assert_eq!(tx.idempotency_key, format!("floor:42:0-{}", 10 * H));
        balances.apply(&tx).unwrap();
        assert_eq!(balances.get(&AccountKind::MemberWallet(42), EUR), 1900);
        assert_eq!(balances.get(&AccountKind::SolidarityFund, EUR), 3100);
    }

    #[test]
    fn earning_above_the_floor_needs_no_top_up() {
        let r = compute_floor((0, 10 * H), &[(0, 2 * H)], &[(H, 2500)], &smic_change()).unwrap();
        assert_eq!(r.floor_owed, 2000);
        assert_eq!(r.effective_hourly, Some(1250));
        assert_eq!(r.shortfall, 0);
        assert_eq!(r.top_up(1, EUR, 0), Ok(None));
    }

    #[test]
    fn rounding_favours_the_worker() {
        // One minute at 10.00/h is 16.67 -> 17.
        let r = compute_floor(
            (0, H),
            &[(0, 60_000)],
            &[],
            &[FloorRate {
                effective_from: 0,
                per_hour: 1000,
            }],
        )
        .unwrap();
        assert_eq!(r.floor_owed, 17);
        assert_eq!(r.shortfall, 17);
        assert_eq!(r.effective_hourly, Some(0));
    }

    #[test]
    fn no_shift_no_rate_and_bad_input() {
        let r = compute_floor((0, H), &[], &[(0, 10)], &smic_change()).unwrap();
        assert_eq!(
            (r.on_shift_ms, r.floor_owed, r.effective_hourly, r.shortfall),
            (0, 0, None, 0)
        );
        // Before the first rate there is no floor.
        let late = [FloorRate {
            effective_from: H,
            per_hour: 1000,
        }];
        let r = compute_floor((0, 2 * H), &[(0, 2 * H)], &[], &late).unwrap();
        assert_eq!(r.floor_owed, 1000);
        assert!(matches!(
            compute_floor((5, 4), &[], &[], &[]),
            Err(LedgerError::InvalidInterval { .. })
        ));
        assert!(compute_floor((0, H), &[(3, 2)], &[], &[]).is_err());
        assert!(
            compute_floor(
                (0, H),
                &[],
                &[],
                &[FloorRate {
                    effective_from: 0,
                    per_hour: -1
                }]
            )
            .is_err()
        );
    }
}
