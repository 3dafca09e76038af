//! Ratings of workers, owned by the worker.
//!
//! Plugins record a rating of a worker for a job through
//! `coop:host/ratings` (written in the call's transaction, by the call's
//! caller). The worker sees every rating about them and may contest one;
//! an admin then keeps or removes it. Only ratings that are counted (never
//! contested, or kept after review) and younger than the coop's
//! `rating_retention_days` are used: in summaries, in plugins'
//! `ratings.summary` and in work credentials. Older ones stay visible to
//! the worker, marked as not counted.

use serde::Serialize;
use serde_json::json;
use sqlx::Row;

use crate::chain::{self, NewEntry};
use crate::db::Db;
use crate::error::{Error, Result};
use crate::events::{admins_in, notify_in};
use crate::governance::proposals::DECISIONS;
use crate::governance::rules;

/// Shortest retention a coop may set, days.
pub const MIN_RETENTION_DAYS: u32 = 30;
/// Longest retention a coop may set, days (ten years).
pub const MAX_RETENTION_DAYS: u32 = 3_650;
/// Retention of a coop that set none, days.
pub const DEFAULT_RETENTION_DAYS: u32 = 365;
/// Lowest and highest score.
pub const MIN_SCORE: u8 = 1;
/// Highest score.
pub const MAX_SCORE: u8 = 5;
/// Longest comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 500;
/// Longest job id, in bytes.
pub const MAX_JOB_LEN: usize = 128;

const DAY_MS: i64 = 24 * 3_600_000;

/// A rating a plugin call asked for, written when the call commits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingRating {
    /// The worker rated.
    pub worker_id: i64,
    /// The member who rated.
    pub rater_id: i64,
    /// The plugin's job id.
    pub job: String,
    /// 1 to 5.
    pub score: u8,
    /// Optional comment, trimmed.
    pub comment: Option<String>,
}

/// Check a rating's fields; the message says what is wrong.
pub fn check(score: u8, job: &str, comment: Option<&str>) -> Result<Option<String>> {
    if !(MIN_SCORE..=MAX_SCORE).contains(&score) {
        return Err(Error::Invalid(format!(
            "score must be {MIN_SCORE} to {MAX_SCORE}, got {score}"
        )));
    }
    if job.is_empty() || job.len() > MAX_JOB_LEN || job.chars().any(char::is_control) {
        return Err(Error::Invalid(format!(
            "job must be 1 to {MAX_JOB_LEN} bytes without control characters"
        )));
    }
    let comment = comment.map(str::trim).filter(|c| !c.is_empty());
    if let Some(c) = comment
        && c.chars().count() > MAX_COMMENT_CHARS
    {
        return Err(Error::Invalid(format!(
            "a comment is at most {MAX_COMMENT_CHARS} characters"
        )));
    }
    Ok(comment.map(str::to_string))
}

/// Whether `plugin` already rated `worker_id` for `job`.
pub async fn exists(
    db: &Db,
    coop_id: i64,
    plugin: &str,
    job: &str,
    worker_id: i64,
) -> Result<bool> {
    let row = sqlx::query(
        "SELECT COUNT(*) FROM ratings WHERE coop_id = $1 AND plugin = $2 AND job = $3 AND worker_id = $4",
    )
    .bind(coop_id)
    .bind(plugin)
    .bind(job)
    .bind(worker_id)
    .fetch_one(&db.pool)
    .await?;
    Ok(row.get::<i64, _>(0) > 0)
}

/// Write the ratings of a committing call, each with a notice to the
/// worker. A job already rated (a concurrent call won) is left as it is.
pub async fn insert_in(
    conn: &mut sqlx::AnyConnection,
    coop_id: i64,
    plugin: &str,
    ratings: &[PendingRating],
    now_ms: i64,
) -> Result<()> {
    for r in ratings {
        let inserted = sqlx::query(
            "INSERT INTO ratings (coop_id, worker_id, rater_id, plugin, job, score, comment, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (coop_id, plugin, job, worker_id) DO NOTHING",
        )
        .bind(coop_id)
        .bind(r.worker_id)
        .bind(r.rater_id)
        .bind(plugin)
        .bind(&r.job)
        .bind(i64::from(r.score))
        .bind(r.comment.as_deref())
        .bind(now_ms)
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if inserted == 1 {
            let payload = json!({"plugin": plugin, "job": r.job, "score": r.score,
                "message": "You received a rating. It is yours: see it, and contest it if it is unfair."});
            notify_in(
                conn,
                coop_id,
                &[r.worker_id],
                "rating.received",
                &payload,
                now_ms,
            )
            .await?;
        }
    }
    Ok(())
}

/// A rating as its worker and the coop's admins see it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Rating {
    /// Its id.
    pub id: i64,
    /// The worker rated.
    pub worker_id: i64,
    /// The plugin that recorded it.
    pub plugin: String,
    /// The plugin's job id.
    pub job: String,
    /// 1 to 5.
    pub score: i64,
    /// The rater's comment.
    pub comment: Option<String>,
    /// When it was recorded.
    pub created_at: i64,
    /// `counted`, `contested`, `kept` (contested, then kept by an admin)
    /// or `removed`.
    pub status: String,
    /// The worker's reason for contesting it.
    pub contest_reason: Option<String>,
    /// When it was contested.
    pub contested_at: Option<i64>,
    /// The admin's reason for keeping or removing it.
    pub resolution: Option<String>,
    /// When that was decided.
    pub resolved_at: Option<i64>,
    /// Whether it is used now: counted or kept, and within the retention.
    pub counted: bool,
    /// When it stops being used (the end of the retention).
    pub used_until: i64,
}

const COLUMNS: &str = "id, worker_id, plugin, job, score, comment, created_at, status, \
     contest_reason, contested_at, resolution, resolved_at";

fn from_row(r: &sqlx::any::AnyRow, retention_ms: i64, now_ms: i64) -> Rating {
    let created_at: i64 = r.get(6);
    let status: String = r.get(7);
    let used_until = created_at.saturating_add(retention_ms);
    Rating {
        id: r.get(0),
        worker_id: r.get(1),
        plugin: r.get(2),
        job: r.get(3),
        score: r.get(4),
        comment: r.get(5),
        created_at,
        counted: is_used(&status) && now_ms < used_until,
        status,
        contest_reason: r.get(8),
        contested_at: r.get(9),
        resolution: r.get(10),
        resolved_at: r.get(11),
        used_until,
    }
}

fn is_used(status: &str) -> bool {
    matches!(status, "counted" | "kept")
}

async fn retention_ms(db: &Db, coop_id: i64) -> Result<i64> {
    let (_, rules) = rules::current(db, coop_id).await?;
    Ok(i64::from(rules.rating_retention_days) * DAY_MS)
}

/// Every rating about `worker_id`, newest first.
pub async fn for_worker(db: &Db, coop_id: i64, worker_id: i64, now_ms: i64) -> Result<Vec<Rating>> {
    let retention = retention_ms(db, coop_id).await?;
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM ratings WHERE coop_id = $1 AND worker_id = $2 ORDER BY created_at DESC, id DESC"
    ))
    .bind(coop_id)
    .bind(worker_id)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| from_row(r, retention, now_ms))
        .collect())
}

/// Ratings waiting for an admin's review (contested), oldest first.
pub async fn contested(db: &Db, coop_id: i64, now_ms: i64) -> Result<Vec<Rating>> {
    let retention = retention_ms(db, coop_id).await?;
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM ratings WHERE coop_id = $1 AND status = 'contested' ORDER BY contested_at, id"
    ))
    .bind(coop_id)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| from_row(r, retention, now_ms))
        .collect())
}

async fn one(db: &Db, coop_id: i64, id: i64, now_ms: i64) -> Result<Rating> {
    let retention = retention_ms(db, coop_id).await?;
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM ratings WHERE coop_id = $1 AND id = $2"
    ))
    .bind(coop_id)
    .bind(id)
    .fetch_optional(&db.pool)
    .await?
    .ok_or_else(|| Error::NotFound(format!("no rating {id} in this coop")))?;
    Ok(from_row(&row, retention, now_ms))
}

fn reason_text(what: &str, reason: &str) -> Result<String> {
    let r = reason.trim();
    let n = r.chars().count();
    if !(10..=1000).contains(&n) {
        return Err(Error::Invalid(format!(
            "{what} must be 10 to 1000 characters, got {n}"
        )));
    }
    Ok(r.to_string())
}

/// The worker contests one of their ratings: it stops counting until an
/// admin keeps or removes it; admins are told, and the decision log
/// records it (the reason beside the chain, erasable).
pub async fn contest(
    db: &Db,
    coop_id: i64,
    worker_id: i64,
    id: i64,
    reason: &str,
    now_ms: i64,
) -> Result<Rating> {
    let reason = reason_text("the reason for contesting", reason)?;
    let rating = one(db, coop_id, id, now_ms).await?;
    if rating.worker_id != worker_id {
        return Err(Error::Forbidden(
            "a worker contests only the ratings about them".into(),
        ));
    }
    if rating.status != "counted" {
        return Err(Error::Conflict(format!(
            "rating {id} is {}: only a counted rating can be contested, once",
            rating.status
        )));
    }
    let mut tx = db.begin_write().await?;
    let changed = sqlx::query(
        "UPDATE ratings SET status = 'contested', contest_reason = $1, contested_at = $2 \
         WHERE coop_id = $3 AND id = $4 AND status = 'counted'",
    )
    .bind(&reason)
    .bind(now_ms)
    .bind(coop_id)
    .bind(id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if changed != 1 {
        return Err(Error::Conflict(format!(
            "rating {id} was contested already"
        )));
    }
    let admins = admins_in(&mut tx, coop_id).await?;
    notify_in(
        &mut tx,
        coop_id,
        &admins,
        "rating.contested",
        &json!({"rating": id, "message": "A worker contests a rating: review it."}),
        now_ms,
    )
    .await?;
    tx.commit().await?;
    chain::append(
        db,
        DECISIONS,
        coop_id,
        &NewEntry {
            kind: "rating.contested".into(),
            body: json!({"rating": id, "worker": worker_id}),
            personal: Some(json!({"reason": reason})),
        },
        now_ms,
    )
    .await?;
    one(db, coop_id, id, now_ms).await
}

/// An admin keeps or removes a contested rating, with a reason; the
/// worker is told and the decision log records it.
pub async fn resolve(
    db: &Db,
    coop_id: i64,
    admin_id: i64,
    id: i64,
    keep: bool,
    reason: &str,
    now_ms: i64,
) -> Result<Rating> {
    let reason = reason_text("the reason for the decision", reason)?;
    let rating = one(db, coop_id, id, now_ms).await?;
    if rating.status != "contested" {
        return Err(Error::Conflict(format!(
            "rating {id} is {}: only a contested rating is reviewed",
            rating.status
        )));
    }
    if rating.worker_id == admin_id {
        return Err(Error::Forbidden(
            "nobody reviews a rating about themselves".into(),
        ));
    }
    let status = if keep { "kept" } else { "removed" };
    let mut tx = db.begin_write().await?;
    let changed = sqlx::query(
        "UPDATE ratings SET status = $1, resolution = $2, resolved_by = $3, resolved_at = $4 \
         WHERE coop_id = $5 AND id = $6 AND status = 'contested'",
    )
    .bind(status)
    .bind(&reason)
    .bind(admin_id)
    .bind(now_ms)
    .bind(coop_id)
    .bind(id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if changed != 1 {
        return Err(Error::Conflict(format!("rating {id} was reviewed already")));
    }
    notify_in(
        &mut tx,
        coop_id,
        &[rating.worker_id],
        "rating.reviewed",
        &json!({"rating": id, "outcome": status}),
        now_ms,
    )
    .await?;
    tx.commit().await?;
    chain::append(
        db,
        DECISIONS,
        coop_id,
        &NewEntry {
            kind: "rating.reviewed".into(),
            body: json!({"rating": id, "worker": rating.worker_id, "by": admin_id, "outcome": status}),
            personal: Some(json!({"reason": reason})),
        },
        now_ms,
    )
    .await?;
    one(db, coop_id, id, now_ms).await
}

/// What the used ratings of a worker add up to.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct RatingSummary {
    /// Ratings used.
    pub count: i64,
    /// Their average score, in thousandths (4500 = 4.5), if any.
    pub average_milli: Option<i64>,
    /// Ratings under contest (not used).
    pub contested: i64,
}

/// The summary of `member_id`'s ratings recorded since `since_ms`, counting
/// only those used at `now_ms` (counted or kept, within the retention).
pub async fn summary(
    db: &Db,
    coop_id: i64,
    member_id: i64,
    since_ms: i64,
    now_ms: i64,
) -> Result<RatingSummary> {
    let retention = retention_ms(db, coop_id).await?;
    let from = since_ms.max(now_ms.saturating_sub(retention) + 1);
    let row = sqlx::query(
        "SELECT COUNT(*), CAST(COALESCE(SUM(score), 0) AS BIGINT) FROM ratings \
         WHERE coop_id = $1 AND worker_id = $2 AND status IN ('counted', 'kept') AND created_at >= $3",
    )
    .bind(coop_id)
    .bind(member_id)
    .bind(from)
    .fetch_one(&db.pool)
    .await?;
    let count: i64 = row.get(0);
    let sum: i64 = row.get(1);
    let contested: i64 = sqlx::query(
        "SELECT COUNT(*) FROM ratings WHERE coop_id = $1 AND worker_id = $2 AND status = 'contested'",
    )
    .bind(coop_id)
    .bind(member_id)
    .fetch_one(&db.pool)
    .await?
    .get(0);
    Ok(RatingSummary {
        count,
        average_milli: average_milli(sum, count),
        contested,
    })
}

/// `sum / count` in thousandths, rounded half up; `None` for no ratings.
pub fn average_milli(sum: i64, count: i64) -> Option<i64> {
    (count > 0).then(|| (sum * 1000 * 2 + count) / (count * 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_score_job_and_comment() {
        assert_eq!(
            check(5, "d-1", Some("  great  ")).unwrap().as_deref(),
            Some("great")
        );
        assert_eq!(check(1, "d-1", Some("   ")).unwrap(), None);
        for (score, job, comment, needle) in [
            (0, "d-1", None, "score must be 1 to 5, got 0"),
            (6, "d-1", None, "score must be 1 to 5, got 6"),
            (3, "", None, "job must be 1 to 128"),
            (3, "a\u{0}b", None, "job must be 1 to 128"),
        ] {
            let e = check(score, job, comment).unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
        }
        let long = "x".repeat(MAX_COMMENT_CHARS + 1);
        assert!(
            check(3, "j", Some(&long))
                .unwrap_err()
                .to_string()
                .contains("at most 500")
        );
    }

    #[test]
    fn averages_in_thousandths_rounded_half_up() {
        assert_eq!(average_milli(0, 0), None);
        assert_eq!(average_milli(9, 2), Some(4500));
        // 13 / 3 = 4.3333 -> 4333; 14 / 3 = 4.6666 -> 4667.
        assert_eq!(average_milli(13, 3), Some(4333));
        assert_eq!(average_milli(14, 3), Some(4667));
    }
}
