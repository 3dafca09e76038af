//! Open data for local authorities: what the coop's platform did, per
//! month, zone and metric, counted by plugins through
//! `coop:host/activity`, plus the hours worked per month from the floor
//! runs. A cell counted from fewer distinct workers than the coop's
//! threshold k (`open_data_k` in its governance rules) is suppressed: its
//! figures are not published, only that it exists.

use serde::Serialize;
use sqlx::Row;

use crate::db::Db;
use crate::error::{Error, Result};
use crate::governance::rules;
use crate::ledger::period::Month;

/// The smallest threshold a coop may set.
pub const MIN_K: u32 = 3;
/// The threshold of a coop that set none.
pub const DEFAULT_K: u32 = 5;
/// The zone of figures that are not per zone (hours worked).
pub const ALL_ZONES: &str = "all";

/// A count a plugin call asked for, written when the call commits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingCount {
    /// What is counted.
    pub metric: String,
    /// Where.
    pub zone: String,
    /// How much.
    pub amount: u32,
    /// The worker who did it, if any.
    pub worker_id: Option<i64>,
}

/// Check a metric or zone name: 1 to 64 characters of `a-z0-9-`.
pub fn check_name(what: &str, name: &str) -> Result<()> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "{what} {name:?} must be 1 to 64 characters of a-z, 0-9 and '-'"
        )))
    }
}

/// Write the counts of a committing call.
pub async fn insert_in(
    conn: &mut sqlx::AnyConnection,
    coop_id: i64,
    plugin: &str,
    counts: &[PendingCount],
    now_ms: i64,
) -> Result<()> {
    for c in counts {
        sqlx::query(
            "INSERT INTO activity_counts (coop_id, plugin, metric, zone, amount, worker_id, at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(coop_id)
        .bind(plugin)
        .bind(&c.metric)
        .bind(&c.zone)
        .bind(i64::from(c.amount))
        .bind(c.worker_id)
        .bind(now_ms)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// One published cell.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Cell {
    /// `YYYY-MM`.
    pub month: String,
    /// The zone, or `all`.
    pub zone: String,
    /// What is counted, e.g. `deliveries`, `hours-worked`.
    pub metric: String,
    /// The total, unless suppressed.
    pub value: Option<i64>,
    /// Distinct workers behind it, unless suppressed.
    pub workers: Option<i64>,
    /// True when fewer than k workers: no figure is published.
    pub suppressed: bool,
}

/// Group rows of (month start, zone, metric, amount, worker) into cells,
/// suppressing those with fewer than `k` distinct workers. Rows must be
/// sorted by month, zone and metric.
pub fn cells(rows: &[(i64, String, String, i64, Option<i64>)], k: u32) -> Vec<Cell> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < rows.len() {
        let (m, z, metric) = (rows[i].0, &rows[i].1, &rows[i].2);
        let group: Vec<_> = rows[i..]
            .iter()
            .take_while(|r| r.0 == m && &r.1 == z && &r.2 == metric)
            .collect();
        i += group.len();
        let mut workers: Vec<i64> = group.iter().filter_map(|r| r.4).collect();
        workers.sort_unstable();
        workers.dedup();
        let total: i64 = group.iter().map(|r| r.3).sum();
        let suppressed = workers.len() < k as usize;
        out.push(Cell {
            month: Month::containing(m).to_string(),
            zone: z.clone(),
            metric: metric.clone(),
            value: (!suppressed).then_some(total),
            workers: (!suppressed).then_some(workers.len() as i64),
            suppressed,
        });
    }
    out
}

/// The coop's open data: its threshold k and every cell, newest month
/// first.
pub async fn export(db: &Db, coop_id: i64) -> Result<(u32, Vec<Cell>)> {
    let (_, r) = rules::current(db, coop_id).await?;
    let k = r.open_data_k;
    let mut rows: Vec<(i64, String, String, i64, Option<i64>)> = sqlx::query(
        "SELECT at, zone, metric, amount, worker_id FROM activity_counts WHERE coop_id = $1",
    )
    .bind(coop_id)
    .fetch_all(&db.pool)
    .await?
    .iter()
    .map(|r| {
        (
            Month::containing(r.get(0)).start_ms(),
            r.get(1),
            r.get(2),
            r.get(3),
            r.get(4),
        )
    })
    .collect();
    // Hours worked per month, from the floor runs (one row per worker).
    for r in sqlx::query(
        "SELECT period_start, on_shift_ms, member_id FROM floor_results WHERE coop_id = $1 AND on_shift_ms > 0",
    )
    .bind(coop_id)
    .fetch_all(&db.pool)
    .await?
    {
        let ms: i64 = r.get(1);
        rows.push((r.get(0), ALL_ZONES.into(), "hours-worked".into(), ms, Some(r.get(2))));
    }
    rows.sort_by(|a, b| (b.0, &a.1, &a.2).cmp(&(a.0, &b.1, &b.2)));
    let mut out = cells(&rows, k);
    for c in out.iter_mut().filter(|c| c.metric == "hours-worked") {
        c.value = c.value.map(|ms| ms / 3_600_000);
    }
    Ok((k, out))
}

/// The cells as CSV (header `month,zone,metric,value,workers,suppressed`;
/// suppressed figures empty).
pub fn to_csv(cells: &[Cell]) -> String {
    let mut out = String::from("month,zone,metric,value,workers,suppressed\n");
    for c in cells {
        let opt = |v: Option<i64>| v.map_or(String::new(), |n| n.to_string());
        out.push_str(&format!(
            "{},{},{},{},{},{}\n",
            c.month,
            c.zone,
            c.metric,
            opt(c.value),
            opt(c.workers),
            c.suppressed
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_under_k_workers_are_suppressed() {
        let nov = Month::new(2026, 11).unwrap().start_ms();
        let row = |zone: &str, amount, worker| {
            (
                nov,
                zone.to_string(),
                "deliveries".to_string(),
                amount,
                Some(worker),
            )
        };
        // Centre: 4 deliveries by 3 workers; port: 2 by 1 worker.
        let rows = vec![
            row("centre", 1, 1),
            row("centre", 2, 2),
            row("centre", 1, 3),
            row("port", 2, 4),
        ];
        let c = cells(&rows, 3);
        assert_eq!(c.len(), 2);
        assert_eq!(
            (c[0].value, c[0].workers, c[0].suppressed),
            (Some(4), Some(3), false)
        );
        assert_eq!(
            (c[1].value, c[1].workers, c[1].suppressed),
            (None, None, true)
        );
        assert_eq!(
            to_csv(&c),
            "month,zone,metric,value,workers,suppressed\n2026-11,centre,deliveries,4,3,false\n2026-11,port,deliveries,,,true\n"
        );
        // With k = 4 the centre is suppressed too.
        assert!(cells(&rows, 4).iter().all(|c| c.suppressed));
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("zone", "presqu-ile-2").is_ok());
        for bad in ["", "Centre", "a b", &"x".repeat(65)] {
            assert!(
                check_name("zone", bad)
                    .unwrap_err()
                    .to_string()
                    .contains("a-z, 0-9")
            );
        }
    }
}
