//! The durable scheduler that later features build on (hold expiry, floor
//! runs, governance effective dates, plugin timers, appeal deadlines).
//!
//! Jobs live in the database, so they survive restarts. A worker claims
//! due jobs by taking a lease (owner and expiry) in one short transaction;
//! on PostgreSQL `FOR UPDATE SKIP LOCKED` lets several hosts claim side by
//! side without taking the same job, on SQLite the single writer does. A
//! job whose worker died is claimed again when its lease expires. A failed
//! job is retried with exponential back-off up to its attempt limit, then
//! marked `failed` and kept, for admins to see.

use serde::Serialize;
use sqlx::Row;

use crate::db::{Backend, Db};
use crate::error::{Error, Result};

/// How long a claimed job is reserved for its worker.
pub const DEFAULT_LEASE_MS: i64 = 60_000;
/// Attempts before a job is marked failed.
pub const DEFAULT_MAX_ATTEMPTS: i64 = 8;
/// First retry delay; doubles per attempt, capped at [`MAX_BACKOFF_MS`].
pub const BASE_BACKOFF_MS: i64 = 1_000;
/// Longest retry delay.
pub const MAX_BACKOFF_MS: i64 = 3_600_000;

/// A job as stored.
#[derive(Clone, Debug, Serialize)]
pub struct Job {
    /// Id.
    pub id: i64,
    /// The coop it belongs to, if any.
    pub coop_id: Option<i64>,
    /// What to do, e.g. `hold.expire`.
    pub kind: String,
    /// Makes scheduling idempotent: a second job with the same key is not created.
    pub unique_key: Option<String>,
    /// JSON payload for the handler.
    pub payload: serde_json::Value,
    /// When it is due.
    pub run_at: i64,
    /// `pending`, `running`, `done` or `failed`.
    pub status: String,
    /// Attempts so far.
    pub attempts: i64,
    /// The last error, if an attempt failed.
    pub last_error: Option<String>,
}

const COLUMNS: &str =
    "id, coop_id, kind, unique_key, payload, run_at, status, attempts, last_error";

fn job_from_row(r: &sqlx::any::AnyRow) -> Job {
    Job {
        id: r.get(0),
        coop_id: r.get(1),
        kind: r.get(2),
        unique_key: r.get(3),
        payload: serde_json::from_str(&r.get::<String, _>(4)).unwrap_or(serde_json::Value::Null),
        run_at: r.get(5),
        status: r.get(6),
        attempts: r.get(7),
        last_error: r.get(8),
    }
}

/// Schedule a job. With a `unique_key` already scheduled, returns the
/// existing job instead of adding one.
pub async fn schedule(
    db: &Db,
    coop_id: Option<i64>,
    kind: &str,
    unique_key: Option<&str>,
    payload: &serde_json::Value,
    run_at: i64,
    now_ms: i64,
) -> Result<Job> {
    let mut conn = db.pool.acquire().await?;
    schedule_in(
        &mut conn, coop_id, kind, unique_key, payload, run_at, now_ms,
    )
    .await
}

/// [`schedule`] inside the caller's transaction, so the job exists only if
/// what asked for it commits.
pub async fn schedule_in(
    conn: &mut sqlx::AnyConnection,
    coop_id: Option<i64>,
    kind: &str,
    unique_key: Option<&str>,
    payload: &serde_json::Value,
    run_at: i64,
    now_ms: i64,
) -> Result<Job> {
    if kind.is_empty() || kind.len() > 100 {
        return Err(Error::Invalid(
            "job kind must be 1 to 100 characters".into(),
        ));
    }
    let inserted = sqlx::query(&format!(
        "INSERT INTO jobs (coop_id, kind, unique_key, payload, run_at, max_attempts, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (unique_key) DO NOTHING RETURNING {COLUMNS}"
    ))
    .bind(coop_id)
    .bind(kind)
    .bind(unique_key)
    .bind(payload.to_string())
    .bind(run_at)
    .bind(DEFAULT_MAX_ATTEMPTS)
    .bind(now_ms)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(row) = inserted {
        return Ok(job_from_row(&row));
    }
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM jobs WHERE unique_key = $1"))
        .bind(unique_key)
        .fetch_one(&mut *conn)
        .await?;
    Ok(job_from_row(&row))
}

/// Claim up to `limit` due jobs for `owner` until `now + lease_ms`: pending
/// jobs whose time has come, and running jobs whose lease expired.
pub async fn claim(
    db: &Db,
    owner: &str,
    now_ms: i64,
    lease_ms: i64,
    limit: i64,
) -> Result<Vec<Job>> {
    let mut tx = db.begin_write().await?;
    let lock = match db.backend {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let ids: Vec<i64> = sqlx::query(&format!(
        "SELECT id FROM jobs WHERE (status = 'pending' AND run_at <= $1) \
         OR (status = 'running' AND lease_until <= $1) ORDER BY run_at, id LIMIT $2{lock}"
    ))
    .bind(now_ms)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?
    .iter()
    .map(|r| r.get(0))
    .collect();
    let mut jobs = Vec::new();
    for id in ids {
        let row = sqlx::query(&format!(
            "UPDATE jobs SET status = 'running', lease_owner = $1, lease_until = $2, attempts = attempts + 1 \
             WHERE id = $3 RETURNING {COLUMNS}"
        ))
        .bind(owner)
        .bind(now_ms + lease_ms)
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        jobs.push(job_from_row(&row));
    }
    tx.commit().await?;
    Ok(jobs)
}

/// Mark a claimed job done. Only its lease owner may; a job reclaimed by
/// another worker after the lease ran out is theirs now.
pub async fn complete(db: &Db, id: i64, owner: &str, now_ms: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE jobs SET status = 'done', finished_at = $1, lease_owner = NULL, lease_until = NULL \
         WHERE id = $2 AND lease_owner = $3 AND status = 'running'",
    )
    .bind(now_ms)
    .bind(id)
    .bind(owner)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The delay before retry number `attempts` (1-based).
pub fn backoff_ms(attempts: i64) -> i64 {
    let shift = attempts.clamp(1, 32) - 1;
    BASE_BACKOFF_MS
        .saturating_mul(1i64 << shift)
        .min(MAX_BACKOFF_MS)
}

/// Record a failed attempt: retry after back-off, or mark the job failed
/// after its last attempt.
pub async fn fail(db: &Db, id: i64, owner: &str, error: &str, now_ms: i64) -> Result<()> {
    let row =
        sqlx::query("SELECT attempts, max_attempts FROM jobs WHERE id = $1 AND lease_owner = $2")
            .bind(id)
            .bind(owner)
            .fetch_optional(&db.pool)
            .await?;
    let Some(row) = row else { return Ok(()) };
    let (attempts, max): (i64, i64) = (row.get(0), row.get(1));
    let message: String = error.chars().take(2000).collect();
    if attempts >= max {
        sqlx::query(
            "UPDATE jobs SET status = 'failed', last_error = $1, finished_at = $2, lease_owner = NULL, \
             lease_until = NULL WHERE id = $3",
        )
        .bind(&message)
        .bind(now_ms)
        .bind(id)
        .execute(&db.pool)
        .await?;
    } else {
        sqlx::query(
            "UPDATE jobs SET status = 'pending', last_error = $1, run_at = $2, lease_owner = NULL, \
             lease_until = NULL WHERE id = $3",
        )
        .bind(&message)
        .bind(now_ms + backoff_ms(attempts))
        .bind(id)
        .execute(&db.pool)
        .await?;
    }
    Ok(())
}

/// Jobs of a coop, newest first (admins).
pub async fn list(db: &Db, coop_id: i64, limit: i64) -> Result<Vec<Job>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM jobs WHERE coop_id = $1 ORDER BY id DESC LIMIT $2"
    ))
    .bind(coop_id)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.iter().map(job_from_row).collect())
}

/// Claim the due jobs and run each with `handler`, recording the outcome.
/// Returns how many ran. Each host calls this in a loop with its own
/// `owner` name.
pub async fn run_due<F, Fut>(
    db: &Db,
    owner: &str,
    now_ms: i64,
    limit: i64,
    mut handler: F,
) -> Result<usize>
where
    F: FnMut(Job) -> Fut,
    Fut: std::future::Future<Output = std::result::Result<(), String>>,
{
    let jobs = claim(db, owner, now_ms, DEFAULT_LEASE_MS, limit).await?;
    let n = jobs.len();
    for job in jobs {
        let id = job.id;
        match handler(job).await {
            Ok(()) => {
                complete(db, id, owner, now_ms).await?;
            }
            Err(e) => fail(db, id, owner, &e, now_ms).await?,
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff_ms(1), 1_000);
        assert_eq!(backoff_ms(2), 2_000);
        assert_eq!(backoff_ms(5), 16_000);
        assert_eq!(backoff_ms(40), MAX_BACKOFF_MS);
    }
}
