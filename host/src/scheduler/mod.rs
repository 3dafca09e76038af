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
//!
//! Fairness: a pass claims due jobs round robin over coops (every coop's
//! first due job, then every coop's second, ...), and within each round
//! the host's own jobs before the ones plugins asked for (kinds under
//! [`PLUGIN_KIND_PREFIX`], i.e. timers), oldest first. So one coop's storm
//! of jobs, however early their due times, takes at most its turn in each
//! round and never holds back another coop's hold expiries, vote closes,
//! floor runs or appeal deadlines.
//!
//! Continuous work: a host's worker ([`run_continuously`]) claims due
//! jobs as its slots free instead of claiming a batch and waiting for all
//! of it, and runs at most [`MAX_JOBS_PER_COOP`] of one coop at once, so
//! a coop's slow jobs hold only their own slots: another coop's job that
//! comes due starts within [`POLL_EVERY`].
//!
//! Leases: each job's lease is sized by its kind ([`Handler::lease_ms`])
//! and renewed by a heartbeat every [`RENEW_EVERY`] while the job runs
//! (jobs of a pass run [`MAX_CONCURRENT_JOBS`] at a time, and the ones
//! waiting their turn are renewed too), so a live worker never loses a job
//! to another host. A worker that stalls past its lease can still find its
//! job taken: every job's effect is idempotent (see each handler), and the
//! completion checks the lease owner.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use serde::Serialize;
use sqlx::Row;

use crate::clock::Clock;
use crate::db::{Backend, Db};
use crate::error::{Error, Result};

/// How long a claimed job is reserved for its worker, unless its kind
/// says otherwise: three heartbeats, so a renewal lost to a busy database
/// does not lose the job.
pub const DEFAULT_LEASE_MS: i64 = 60_000;
/// How often a worker renews the leases of the jobs it holds. A third of
/// the shortest lease in use, so two missed heartbeats still keep the job.
pub const RENEW_EVERY: Duration = Duration::from_secs(10);
/// What a lease adds to a job's own deadline: time to load what it needs
/// and commit, beyond the deadline of the call it makes.
pub const LEASE_MARGIN_MS: i64 = 25_000;
/// Jobs of one pass run at most this many at a time: enough to overlap
/// plugin calls and database waits, few enough that the scheduler alone
/// cannot take the connection pool (8 on SQLite) or the instance pool.
pub const MAX_CONCURRENT_JOBS: usize = 4;
/// Jobs of one coop (or of no coop: the host's own) a continuous worker
/// runs at once at most: half its slots, so a coop whose jobs are slow
/// (plugin timers spinning to their deadline, say) leaves the other half
/// to every other coop, while a coop alone still runs two at a time.
pub const MAX_JOBS_PER_COOP: usize = MAX_CONCURRENT_JOBS / 2;
/// How often a continuous worker with a free slot looks for due jobs when
/// none finished meanwhile: what a newly due job waits at most.
pub const POLL_EVERY: Duration = Duration::from_secs(1);
/// Job kinds under this prefix are work a plugin asked for (its timers);
/// in each round of a pass they come after the host's own jobs.
pub const PLUGIN_KIND_PREFIX: &str = "plugin.";
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
    /// The worker holding it, while it runs (not shown to admins: it names
    /// a host process).
    #[serde(skip)]
    pub lease_owner: Option<String>,
}

const COLUMNS: &str =
    "id, coop_id, kind, unique_key, payload, run_at, status, attempts, last_error, lease_owner";

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
        lease_owner: r.get(9),
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
/// jobs whose time has come, and running jobs whose lease expired, in the
/// fair order described in the module documentation.
pub async fn claim(
    db: &Db,
    owner: &str,
    now_ms: i64,
    lease_ms: i64,
    limit: i64,
) -> Result<Vec<Job>> {
    claim_with(db, owner, now_ms, limit, &|_| lease_ms).await
}

/// [`claim`] with each job's lease chosen by its kind.
pub async fn claim_with(
    db: &Db,
    owner: &str,
    now_ms: i64,
    limit: i64,
    lease_of: &(dyn Fn(&str) -> i64 + Sync),
) -> Result<Vec<Job>> {
    claim_shared(db, owner, now_ms, limit, lease_of, None).await
}

/// What a worker already runs per coop (`None`: the host's own jobs), and
/// the most it runs of one coop at once: a claim takes nothing beyond.
pub struct Share<'a> {
    /// Jobs running now, per coop.
    pub running: &'a HashMap<Option<i64>, usize>,
    /// The most of one coop at once.
    pub per_coop: usize,
}

/// [`claim_with`], taking no coop past its [`Share`] when one is given.
pub async fn claim_shared(
    db: &Db,
    owner: &str,
    now_ms: i64,
    limit: i64,
    lease_of: &(dyn Fn(&str) -> i64 + Sync),
    share: Option<Share<'_>>,
) -> Result<Vec<Job>> {
    const DUE: &str =
        "((status = 'pending' AND run_at <= $1) OR (status = 'running' AND lease_until <= $1))";
    // A coop at its share can hold back at most `per_coop` candidates (no
    // coop has more turns than that here): read that many more.
    let (max_turn, read) = match &share {
        Some(s) => (
            s.per_coop as i64,
            limit.saturating_add((s.per_coop * s.running.len()) as i64),
        ),
        None => (i64::MAX, limit),
    };
    let mut tx = db.begin_write().await?;
    // Round robin over coops: `turn` numbers each coop's due jobs, host
    // jobs first, then oldest first; a pass takes every coop's first
    // turn before anyone's second.
    let rows: Vec<(i64, String, Option<i64>)> = sqlx::query(&format!(
        "SELECT id, kind, coop_id FROM (SELECT id, kind, coop_id, run_at, \
         CASE WHEN kind LIKE '{PLUGIN_KIND_PREFIX}%' THEN 1 ELSE 0 END AS class, \
         ROW_NUMBER() OVER (PARTITION BY coop_id ORDER BY \
         CASE WHEN kind LIKE '{PLUGIN_KIND_PREFIX}%' THEN 1 ELSE 0 END, run_at, id) AS turn \
         FROM jobs WHERE {DUE}) due WHERE turn <= $3 ORDER BY turn, class, run_at, id LIMIT $2"
    ))
    .bind(now_ms)
    .bind(read)
    .bind(max_turn)
    .fetch_all(&mut *tx)
    .await?
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2)))
    .collect();
    let mut taken: HashMap<Option<i64>, usize> = HashMap::new();
    let mut candidates: Vec<(i64, String)> = Vec::new();
    for (id, kind, coop) in rows {
        if candidates.len() as i64 >= limit {
            break;
        }
        if let Some(s) = &share {
            let now_running = s.running.get(&coop).copied().unwrap_or(0);
            let n = taken.entry(coop).or_default();
            if now_running + *n >= s.per_coop {
                continue;
            }
            *n += 1;
        }
        candidates.push((id, kind));
    }
    if candidates.is_empty() {
        return Ok(vec![]);
    }
    // Lock the candidates another host has not locked meanwhile, and
    // check again they are still due (PostgreSQL re-reads a row another
    // claim committed while we waited). The ids are integers read above.
    let ids = candidates
        .iter()
        .map(|(id, _)| id.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let lock = match db.backend {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let locked: std::collections::HashSet<i64> = sqlx::query(&format!(
        "SELECT id FROM jobs WHERE id IN ({ids}) AND {DUE}{lock}"
    ))
    .bind(now_ms)
    .fetch_all(&mut *tx)
    .await?
    .iter()
    .map(|r| r.get(0))
    .collect();
    let mut jobs = Vec::new();
    for (id, kind) in candidates {
        if !locked.contains(&id) {
            continue;
        }
        let row = sqlx::query(&format!(
            "UPDATE jobs SET status = 'running', lease_owner = $1, lease_until = $2, attempts = attempts + 1 \
             WHERE id = $3 RETURNING {COLUMNS}"
        ))
        .bind(owner)
        .bind(now_ms.saturating_add(lease_of(&kind)))
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
    let mut conn = db.pool.acquire().await?;
    complete_in(
        &mut conn,
        &JobClaim {
            id,
            owner: owner.to_string(),
        },
        now_ms,
    )
    .await
}

/// A job as held by a worker: what its effects check so that they commit
/// only while the worker still holds the job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobClaim {
    /// The job.
    pub id: i64,
    /// The worker holding its lease.
    pub owner: String,
}

impl JobClaim {
    /// The claim on `job`, if a worker holds it.
    pub fn of(job: &Job) -> Option<JobClaim> {
        Some(JobClaim {
            id: job.id,
            owner: job.lease_owner.clone()?,
        })
    }
}

/// [`complete`] inside the caller's transaction, so a job's effect and its
/// completion commit together: false (and the caller rolls back) when the
/// job is no longer this worker's, so an effect commits at most once even
/// when two workers ran the job.
pub async fn complete_in(
    conn: &mut sqlx::AnyConnection,
    claim: &JobClaim,
    now_ms: i64,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE jobs SET status = 'done', finished_at = $1, lease_owner = NULL, lease_until = NULL \
         WHERE id = $2 AND lease_owner = $3 AND status = 'running'",
    )
    .bind(now_ms)
    .bind(claim.id)
    .bind(&claim.owner)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Extend the leases `owner` holds on `ids` to `until`. Returns how many
/// it still held.
pub async fn renew(db: &Db, owner: &str, ids: &[i64], until: i64) -> Result<u64> {
    if ids.is_empty() {
        return Ok(0);
    }
    let list = ids
        .iter()
        .map(|id| id.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let r = sqlx::query(&format!(
        "UPDATE jobs SET lease_until = $1 WHERE lease_owner = $2 AND status = 'running' AND id IN ({list})"
    ))
    .bind(until)
    .bind(owner)
    .execute(&db.pool)
    .await?;
    Ok(r.rows_affected())
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
        sqlx::query("SELECT attempts, max_attempts FROM jobs WHERE id = $1 AND lease_owner = $2 AND status = 'running'")
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
             lease_until = NULL WHERE id = $3 AND lease_owner = $4 AND status = 'running'",
        )
        .bind(&message)
        .bind(now_ms)
        .bind(id)
        .bind(owner)
        .execute(&db.pool)
        .await?;
    } else {
        sqlx::query(
            "UPDATE jobs SET status = 'pending', last_error = $1, run_at = $2, lease_owner = NULL, \
             lease_until = NULL WHERE id = $3 AND lease_owner = $4 AND status = 'running'",
        )
        .bind(&message)
        .bind(now_ms + backoff_ms(attempts))
        .bind(id)
        .bind(owner)
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

/// One worker's settings: who it is, its clock, how much it takes per
/// pass and how it runs them.
pub struct Worker<'a> {
    /// The database.
    pub db: &'a Db,
    /// A name unique to this worker (host process).
    pub owner: &'a str,
    /// Time for due dates and leases.
    pub clock: &'a dyn Clock,
    /// Jobs claimed per pass at most.
    pub batch: i64,
    /// Jobs run at a time at most.
    pub concurrency: usize,
    /// How often leases are renewed while jobs run.
    pub renew_every: Duration,
    /// Jobs of one coop run at a time at most ([`run_continuously`]).
    pub per_coop: usize,
    /// How often [`run_continuously`] looks for due jobs when a slot is
    /// free and no job finished.
    pub poll_every: Duration,
}

impl<'a> Worker<'a> {
    /// A worker with the default concurrency and heartbeat.
    pub fn new(db: &'a Db, owner: &'a str, clock: &'a dyn Clock, batch: i64) -> Worker<'a> {
        Worker {
            db,
            owner,
            clock,
            batch,
            concurrency: MAX_CONCURRENT_JOBS,
            renew_every: RENEW_EVERY,
            per_coop: MAX_JOBS_PER_COOP,
            poll_every: POLL_EVERY,
        }
    }
}

/// What runs jobs of one kind: [`run_registered`] dispatches each claimed
/// job to the entry whose `kind` is the job's kind, or a prefix of it
/// ending before a `.` (so `governance` would take `governance.close`).
pub struct Handler<C: ?Sized> {
    /// The job kind, or a prefix of kinds.
    pub kind: &'static str,
    /// How long a claim on such a job lasts before the heartbeat renews it:
    /// at least the job's own deadline plus [`LEASE_MARGIN_MS`].
    pub lease_ms: i64,
    /// Run one job at `now`; an error retries it with back-off.
    pub run: for<'a> fn(&'a C, &'a Job, i64) -> BoxFuture<'a, Result<()>>,
}

impl<C: ?Sized> Handler<C> {
    fn takes(&self, kind: &str) -> bool {
        kind == self.kind
            || kind
                .strip_prefix(self.kind)
                .is_some_and(|rest| rest.starts_with('.'))
    }
}

/// Claim the due jobs and run each with the [`Handler`] registered for its
/// kind, with `ctx` (the host's services). Returns how many ran.
pub async fn run_registered<C: Sync + ?Sized>(
    w: &Worker<'_>,
    ctx: &C,
    handlers: &[Handler<C>],
) -> Result<usize> {
    let lease_of = |kind: &str| lease_for(handlers, kind);
    run_with_leases(w, &lease_of, |job| dispatch(w, ctx, handlers, job)).await
}

/// The lease of a job of `kind`: its handler's, or the default.
fn lease_for<C: ?Sized>(handlers: &[Handler<C>], kind: &str) -> i64 {
    handlers
        .iter()
        .find(|h| h.takes(kind))
        .map_or(DEFAULT_LEASE_MS, |h| h.lease_ms)
}

/// Run `job` with the handler registered for its kind.
async fn dispatch<C: Sync + ?Sized>(
    w: &Worker<'_>,
    ctx: &C,
    handlers: &[Handler<C>],
    job: Job,
) -> std::result::Result<(), String> {
    let now = w.clock.now_ms();
    match handlers.iter().find(|h| h.takes(&job.kind)) {
        Some(h) => (h.run)(ctx, &job, now).await.map_err(|e| e.to_string()),
        None => Err(format!("no handler for job kind {:?}", job.kind)),
    }
}

/// Run jobs for as long as the returned future is polled, each with the
/// [`Handler`] registered for its kind: the continuous form of
/// [`run_registered`] that a host runs in the background.
pub async fn run_registered_continuously<C: Sync + ?Sized>(
    w: &Worker<'_>,
    ctx: &C,
    handlers: &[Handler<C>],
) {
    let lease_of = |kind: &str| lease_for(handlers, kind);
    run_continuously(w, &lease_of, |job| dispatch(w, ctx, handlers, job)).await
}

/// Run jobs for as long as the returned future is polled: claim due jobs
/// as slots free (at most `w.concurrency` running, at most `w.per_coop`
/// of one coop), never waiting for a batch to finish, so a few slow jobs
/// of one coop hold only their own slots and another coop's job due
/// meanwhile starts within `w.poll_every`. Leases of the running jobs are
/// renewed every `w.renew_every`; the claim, the renewals and the jobs
/// are all polled side by side (a job may hold SQLite's write lock that a
/// claim or a renewal waits for). Dropping the future drops the jobs in
/// flight, whose leases then run out for another worker.
pub async fn run_continuously<F, Fut>(
    w: &Worker<'_>,
    lease_of: &(dyn Fn(&str) -> i64 + Sync),
    handler: F,
) where
    F: Fn(Job) -> Fut,
    Fut: std::future::Future<Output = std::result::Result<(), String>>,
{
    let concurrency = w.concurrency.max(1);
    let per_coop = w.per_coop.clamp(1, concurrency);
    // The jobs held, by lease length (what the heartbeat renews), and how
    // many run per coop.
    let held: Mutex<HashMap<i64, i64>> = Mutex::new(HashMap::new());
    let mut counts: HashMap<Option<i64>, usize> = HashMap::new();
    let run_one = |job: Job| {
        let (id, coop) = (job.id, job.coop_id);
        let work = handler(job);
        async move {
            let outcome = work.await;
            let now = w.clock.now_ms();
            let recorded = match outcome {
                Ok(()) => complete(w.db, id, w.owner, now).await.map(|_| ()),
                Err(e) => fail(w.db, id, w.owner, &e, now).await,
            };
            (id, coop, recorded)
        }
    };
    let start_claim = |running: HashMap<Option<i64>, usize>, free: usize| async move {
        let share = Share {
            running: &running,
            per_coop,
        };
        claim_shared(
            w.db,
            w.owner,
            w.clock.now_ms(),
            free as i64,
            lease_of,
            Some(share),
        )
        .await
    };
    // Empty, typed by what `run_one` makes.
    let mut running: futures_util::stream::FuturesUnordered<_> =
        std::iter::empty::<Job>().map(&run_one).collect();
    let mut claiming = Some(Box::pin(start_claim(HashMap::new(), concurrency)));
    let mut beating = Some(Box::pin(heartbeat(w, &held)));
    let mut poll = tokio::time::interval(w.poll_every);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut beat = tokio::time::interval(w.renew_every);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    beat.tick().await;
    let mut want_claim = false;
    loop {
        let free = concurrency.saturating_sub(running.len());
        if want_claim && free > 0 && claiming.is_none() {
            claiming = Some(Box::pin(start_claim(counts.clone(), free)));
            want_claim = false;
        }
        tokio::select! {
            Some((id, coop, recorded)) = running.next(), if !running.is_empty() => {
                held.lock().expect("held jobs poisoned").remove(&id);
                if let Some(n) = counts.get_mut(&coop) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        counts.remove(&coop);
                    }
                }
                if let Err(e) = recorded {
                    tracing::warn!(job = id, error = %e, "could not record a job's outcome");
                }
                want_claim = true;
            }
            claimed = async { claiming.as_mut().expect("a claim").await }, if claiming.is_some() => {
                claiming = None;
                match claimed {
                    Ok(jobs) => {
                        // Some were due: more may be, if slots are left
                        // (or a job finished while this claim ran).
                        want_claim |= !jobs.is_empty();
                        for job in jobs {
                            held.lock()
                                .expect("held jobs poisoned")
                                .insert(job.id, lease_of(&job.kind));
                            *counts.entry(job.coop_id).or_default() += 1;
                            running.push(run_one(job));
                        }
                    }
                    Err(e) => tracing::warn!(owner = w.owner, error = %e, "could not claim jobs"),
                }
            }
            _ = poll.tick() => want_claim = true,
            _ = beat.tick(), if beating.is_none() => {
                beating = Some(Box::pin(heartbeat(w, &held)));
            }
            () = async { beating.as_mut().expect("a heartbeat").await }, if beating.is_some() => {
                beating = None;
            }
        }
    }
}

/// Claim the due jobs and run each with `handler`, recording the outcome.
/// Returns how many ran. Each host calls this in a loop with its own
/// `owner` name.
pub async fn run_due<F, Fut>(w: &Worker<'_>, handler: F) -> Result<usize>
where
    F: FnMut(Job) -> Fut,
    Fut: std::future::Future<Output = std::result::Result<(), String>>,
{
    run_with_leases(w, &|_| DEFAULT_LEASE_MS, handler).await
}

async fn run_with_leases<F, Fut>(
    w: &Worker<'_>,
    lease_of: &(dyn Fn(&str) -> i64 + Sync),
    mut handler: F,
) -> Result<usize>
where
    F: FnMut(Job) -> Fut,
    Fut: std::future::Future<Output = std::result::Result<(), String>>,
{
    let jobs = claim_with(w.db, w.owner, w.clock.now_ms(), w.batch, lease_of).await?;
    let n = jobs.len();
    if n == 0 {
        return Ok(0);
    }
    // The jobs still held, by lease length: what the heartbeat renews.
    let held: Mutex<HashMap<i64, i64>> =
        Mutex::new(jobs.iter().map(|j| (j.id, lease_of(&j.kind))).collect());
    let run_one = |job: Job| {
        let id = job.id;
        let work = handler(job);
        let held = &held;
        async move {
            let outcome = work.await;
            let now = w.clock.now_ms();
            let recorded = match outcome {
                Ok(()) => complete(w.db, id, w.owner, now).await.map(|_| ()),
                Err(e) => fail(w.db, id, w.owner, &e, now).await,
            };
            held.lock().expect("held jobs poisoned").remove(&id);
            recorded
        }
    };
    let all = futures_util::stream::iter(jobs)
        .map(run_one)
        .buffer_unordered(w.concurrency.max(1))
        .collect::<Vec<Result<()>>>();
    // Polled side by side with the jobs, never instead of them: a job may
    // hold SQLite's write lock that a renewal waits for.
    let beats = async {
        let mut beat = tokio::time::interval(w.renew_every);
        beat.tick().await;
        loop {
            beat.tick().await;
            heartbeat(w, &held).await;
        }
    };
    let results = tokio::select! {
        results = all => results,
        _ = beats => unreachable!("the heartbeat never ends"),
    };
    results.into_iter().collect::<Result<Vec<()>>>()?;
    Ok(n)
}

/// Renew the leases of the jobs still held; a failure is logged, and the
/// lease's own slack covers the next try.
async fn heartbeat(w: &Worker<'_>, held: &Mutex<HashMap<i64, i64>>) {
    let mut by_lease: HashMap<i64, Vec<i64>> = HashMap::new();
    for (id, lease) in held.lock().expect("held jobs poisoned").iter() {
        by_lease.entry(*lease).or_default().push(*id);
    }
    let now = w.clock.now_ms();
    for (lease, ids) in by_lease {
        match renew(w.db, w.owner, &ids, now.saturating_add(lease)).await {
            Ok(kept) if kept < ids.len() as u64 => {
                tracing::warn!(
                    owner = w.owner,
                    ?ids,
                    kept,
                    "lost the lease of running jobs to another worker"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(owner = w.owner, error = %e, "could not renew job leases"),
        }
    }
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
