//! What a work credential says about a worker: membership dates and, per
//! month over the last 12, time on shift, jobs settled and earnings, from
//! the same records as the monthly statements (`payments::statements`).

use serde::Serialize;
use sqlx::Row;

use super::datetime;
use crate::db::Db;
use crate::error::Result;
use crate::identity;
use crate::ledger::period::Month;
use crate::payments::statements;

/// Months a credential covers, the current one included.
pub const MONTHS: usize = 12;

/// One month of work, in the credential's JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MonthOfWork {
    /// JSON-LD type.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// `YYYY-MM`.
    pub month: String,
    /// Minutes on shift (rounded down).
    pub on_shift_minutes: i64,
    /// Settled jobs (settlements) in the month.
    pub jobs_settled: i64,
    /// The worker's share before fees plus floor top-ups, minor units.
    pub gross_earnings: i64,
    /// What reached the wallet, minor units.
    pub net_earnings: i64,
}

/// The work history block of a credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkHistory {
    /// JSON-LD type.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Start of the first month covered.
    pub period_start: String,
    /// The same, ms since the epoch.
    #[serde(skip)]
    pub period_start_ms: i64,
    /// When the history was computed (the issuance time).
    pub period_end: String,
    /// ISO 4217 code of every amount.
    pub currency: String,
    /// Oldest first; months before the worker joined are left out.
    pub months: Vec<MonthOfWork>,
    /// Sum of `onShiftMinutes`.
    pub total_on_shift_minutes: i64,
    /// Sum of `jobsSettled`.
    pub total_jobs_settled: i64,
    /// Sum of `grossEarnings`.
    pub total_gross_earnings: i64,
    /// Sum of `netEarnings`.
    pub total_net_earnings: i64,
}

/// The membership block of a credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Membership {
    /// JSON-LD type.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// When they joined.
    pub joined: String,
    /// When they left, if they did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub left: Option<String>,
    /// `active`, `suspended` or `left`.
    pub membership_status: String,
}

/// The member's membership dates.
pub async fn membership(db: &Db, coop_id: i64, member: &identity::Member) -> Result<Membership> {
    let left = if member.status == "left" {
        sqlx::query(
            "SELECT MAX(at) FROM member_status_history WHERE coop_id = $1 AND member_id = $2 AND status = 'left'",
        )
        .bind(coop_id)
        .bind(member.id)
        .fetch_one(&db.pool)
        .await?
        .get::<Option<i64>, _>(0)
    } else {
        None
    };
    Ok(Membership {
        kind: "CoopMembership",
        joined: datetime::format(member.joined_at),
        left: left.map(datetime::format),
        membership_status: member.status.clone(),
    })
}

/// The worker's last [`MONTHS`] months (from the month they joined, if
/// later), up to `now_ms`.
pub async fn work_history(
    db: &Db,
    coop_id: i64,
    member: &identity::Member,
    now_ms: i64,
) -> Result<WorkHistory> {
    let current = Month::containing(now_ms);
    let joined = Month::containing(member.joined_at);
    let mut months = vec![current];
    while months.len() < MONTHS {
        let before = months[months.len() - 1].previous();
        if before < joined {
            break;
        }
        months.push(before);
    }
    months.reverse();
    let mut out = Vec::with_capacity(months.len());
    let mut currency = None;
    for month in &months {
        let s = statements::statement(db, coop_id, member.id, *month, now_ms).await?;
        currency.get_or_insert_with(|| s.currency.clone());
        out.push(MonthOfWork {
            kind: "MonthOfWork",
            month: month.to_string(),
            on_shift_minutes: s.on_shift_ms / 60_000,
            jobs_settled: s.lines.len() as i64,
            gross_earnings: s.gross - s.commission + s.top_ups,
            net_earnings: s.net,
        });
    }
    Ok(WorkHistory {
        kind: "WorkHistory",
        period_start: datetime::format(months[0].start_ms()),
        period_start_ms: months[0].start_ms(),
        period_end: datetime::format(now_ms),
        currency: currency.unwrap_or_else(|| "EUR".into()),
        total_on_shift_minutes: out.iter().map(|m| m.on_shift_minutes).sum(),
        total_jobs_settled: out.iter().map(|m| m.jobs_settled).sum(),
        total_gross_earnings: out.iter().map(|m| m.gross_earnings).sum(),
        total_net_earnings: out.iter().map(|m| m.net_earnings).sum(),
        months: out,
    })
}
